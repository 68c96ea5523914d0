/* SPDX-License-Identifier: MIT */
/*
 * Memory of aura-progressd:
 *
 * 1. Bytes per active job: the daemon's resident memory (VmRSS, and Pss)
 *    grows by this much per running job that has started with a title and
 *    reported TTS and FFmpeg progress and a warning (four events in the
 *    history), measured over 10,000 such jobs.
 *
 * 2. No growth: with the default limits (only RetentionSeconds=1, so that
 *    finished jobs retire within the run), 10,000 jobs start, report,
 *    complete and retire: that is the steady state. Then 100,000 more do
 *    the same; once the last has retired, the resident memory must be
 *    within 5 % of the steady state's.
 *
 * The jobs are driven through one connection with a window of calls in
 * flight (calls on one connection are handled in order). A job has retired
 * when its object is removed (InterfacesRemoved): jobs retire in the order
 * they finished, so the last one's removal means all have.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench-common.h"

#define CALLS_PER_JOB 5

typedef struct {
  sd_bus *bus;
  const char *prefix;
  guint64 first_job;
  guint64 n_jobs;
  gboolean complete;                  /* CompleteJob at the end of each job */
  guint window;
  guint64 sent;                       /* calls */
  guint64 answered;
  guint64 errors;
  char *first_error;
} Driver;

static int on_answer (sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);

static void
send_next (Driver *d)
{
  guint64 job = d->first_job + d->sent / CALLS_PER_JOB;
  guint step = d->sent % CALLS_PER_JOB;
  char id[64];
  int r;

  g_snprintf (id, sizeof id, "%s%" G_GUINT64_FORMAT, d->prefix, job);
  switch (step) {
  case 0:
    r = sd_bus_call_method_async (d->bus, NULL, AURA_BUS_NAME, AURA_OBJECT_PATH, AURA_INTERFACE,
                                  "StartJob", on_answer, d, "sa{sv}", id, 1, "title", "s",
                                  "A video about memory");
    break;
  case 1:
    r = sd_bus_call_method_async (d->bus, NULL, AURA_BUS_NAME, AURA_OBJECT_PATH, AURA_INTERFACE,
                                  "ReportTtsProgress", on_answer, d, "suuss", id, 3, 10,
                                  "ElevenLabs", "");
    break;
  case 2:
    r = sd_bus_call_method_async (d->bus, NULL, AURA_BUS_NAME, AURA_OBJECT_PATH, AURA_INTERFACE,
                                  "ReportFFmpegProgress", on_answer, d, "sttdds", id,
                                  (guint64) 1200, (guint64) 3000, 29.97, 40.04, "");
    break;
  case 3:
    r = sd_bus_call_method_async (d->bus, NULL, AURA_BUS_NAME, AURA_OBJECT_PATH, AURA_INTERFACE,
                                  "AddWarning", on_answer, d, "ss", id,
                                  "Provider Piper was slow; falling back to espeak");
    break;
  default:
    if (d->complete)
      r = sd_bus_call_method_async (d->bus, NULL, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                    AURA_INTERFACE, "CompleteJob", on_answer, d, "s", id);
    else
      r = sd_bus_call_method_async (d->bus, NULL, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                    AURA_INTERFACE, "ReportVisualProgress", on_answer, d, "suuss",
                                    id, 0, 12, "SDXL", "");
    break;
  }
  if (r < 0)
    bench_fail ("cannot send: %s", g_strerror (-r));
  d->sent++;
}

static int
on_answer (sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
  Driver *d = userdata;

  d->answered++;
  if (sd_bus_message_is_method_error (reply, NULL)) {
    d->errors++;
    if (d->first_error == NULL)
      d->first_error = g_strdup_printf ("%s: %s", sd_bus_message_get_error (reply)->name,
                                        sd_bus_message_get_error (reply)->message);
  }
  if (d->sent < d->n_jobs * CALLS_PER_JOB)
    send_next (d);
  return 1;
}

static gboolean
driver_done (gpointer data)
{
  Driver *d = data;
  return d->answered == d->n_jobs * CALLS_PER_JOB;
}

typedef struct {
  char *last_path;
  gboolean removed;
} RetireWait;

static int
on_interfaces_removed (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  RetireWait *w = userdata;
  const char *path;

  if (sd_bus_message_read (m, "o", &path) >= 0 && strcmp (path, w->last_path) == 0)
    w->removed = TRUE;
  return 0;
}

static gboolean
retired (gpointer data)
{
  return ((RetireWait *) data)->removed;
}

/* Runs @n jobs through the daemon; with @retire, waits until all have
 * retired. */
static void
drive (sd_bus *bus, const char *prefix, guint64 first, guint64 n, gboolean complete,
       gboolean retire)
{
  Driver d = { bus, prefix, first, n, complete, 64, 0, 0, 0, NULL };
  double t0 = bench_now (), t1;
  g_autoptr(sd_bus_slot) slot = NULL;
  g_autofree char *last_id = g_strdup_printf ("%s%" G_GUINT64_FORMAT, prefix, first + n - 1);
  RetireWait w = { NULL, FALSE };

  if (retire) {
    if (sd_bus_path_encode (AURA_JOBS_PATH, last_id, &w.last_path) < 0 ||
        sd_bus_match_signal (bus, &slot, AURA_BUS_NAME, AURA_OBJECT_PATH,
                             "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
                             on_interfaces_removed, &w) < 0)
      bench_fail ("cannot watch the job objects");
  }
  for (guint i = 0; i < d.window && d.sent < n * CALLS_PER_JOB; i++)
    send_next (&d);
  if (!bench_run_until (&bus, 1, driver_done, &d, 600))
    bench_fail ("%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " calls answered in 600 s",
                d.answered, n * CALLS_PER_JOB);
  if (d.errors > 0)
    bench_fail ("the daemon refused %" G_GUINT64_FORMAT " calls, first: %s", d.errors,
                d.first_error);
  t1 = bench_now ();
  if (retire && !bench_run_until (&bus, 1, retired, &w, 120))
    bench_fail ("the jobs did not retire within 120 s");
  bench_note ("memory: %" G_GUINT64_FORMAT " jobs (%s...) in %.1f s, %.0f calls/s%s", n, prefix,
              t1 - t0, n * CALLS_PER_JOB / (t1 - t0), retire ? ", all retired" : "");
  free (w.last_path);
}

int
main (int argc, char **argv)
{
  g_autofree char *address = NULL, *daemon_path = NULL;
  gboolean quick = FALSE;
  gint64 n_active = 10000, n_warm = 10000, n_churn = 100000;
  const GOptionEntry entries[] = {
    { "address", 0, 0, G_OPTION_ARG_STRING, &address, "Use the bus at ADDRESS (default: a private one)", "ADDRESS" },
    { "daemon", 0, 0, G_OPTION_ARG_FILENAME, &daemon_path, "aura-progressd to measure", "PATH" },
    { "active", 0, 0, G_OPTION_ARG_INT64, &n_active, "Running jobs for bytes per job (default 10000)", "N" },
    { "warm", 0, 0, G_OPTION_ARG_INT64, &n_warm, "Jobs before the steady state (default 10000)", "N" },
    { "churn", 0, 0, G_OPTION_ARG_INT64, &n_churn, "Jobs after it (default 100000)", "N" },
    { "quick", 0, 0, G_OPTION_ARG_NONE, &quick, "A short run that checks the benchmark works", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- memory benchmark");
  g_autoptr(GError) error = NULL;
  g_autoptr(BenchBus) bb = NULL;
  g_autofree char *config = NULL, *churn_figure = NULL;
  const char *program;
  GSubprocess *daemon;
  guint64 rss0, rss1, pss0, pss1, steady, after, steady_pss, after_pss;
  double per_job, per_job_pss, ratio;
  sd_bus *bus;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    fprintf (stderr, "bench-memory: %s\n", error->message);
    return 2;
  }
  if (quick) {
    /* more than MaxJobs (1024) before the steady state: the job table
     * has been full once */
    n_active = 500;
    n_warm = 1500;
    n_churn = 1500;
  }
  if (n_active < 1 || n_active > 1000000 || n_warm < 1 || n_churn < 1) {
    fprintf (stderr, "bench-memory: --active 1-1000000, --warm and --churn at least 1\n");
    return 2;
  }
  program = daemon_path != NULL ? daemon_path : bench_default_daemon ();
  bb = bench_bus_new (address);
  bus = bb->control;

  /* 1. bytes per active job (room for them all, nothing retires) */
  config = g_strdup_printf ("[Limits]\nMaxJobs=%" G_GINT64_FORMAT "\nMaxRunningJobsPerUser=%" G_GINT64_FORMAT "\n",
                            n_active + 1000, n_active + 1000);
  daemon = bench_start_daemon (bb, program, config);
  /* the allocator, the caches and the history's structures warm up first */
  drive (bus, "warm-", 0, 1000, TRUE, FALSE);
  rss0 = bench_proc_rss (bench_pid (daemon));
  pss0 = bench_proc_pss (bench_pid (daemon));
  drive (bus, "active-", 0, (guint64) n_active, FALSE, FALSE);
  rss1 = bench_proc_rss (bench_pid (daemon));
  pss1 = bench_proc_pss (bench_pid (daemon));
  per_job = ((double) rss1 - (double) rss0) / n_active;
  per_job_pss = ((double) pss1 - (double) pss0) / n_active;
  bench_note ("memory: %" G_GINT64_FORMAT " running jobs: VmRSS %.1f -> %.1f MiB (%.0f B/job), "
              "Pss %.1f -> %.1f MiB (%.0f B/job)", n_active, rss0 / 1048576.0, rss1 / 1048576.0,
              per_job, pss0 / 1048576.0, pss1 / 1048576.0, per_job_pss);
  bench_row ("memory: bytes per active job (VmRSS growth / jobs)", bench_fmt (per_job, "B"), "-",
             NAN, NULL, -1);
  bench_stop (daemon, "aura-progressd");
  g_object_unref (daemon);

  /* 2. no growth over many jobs, with the default limits */
  daemon = bench_start_daemon (bb, program, "[Timing]\nRetentionSeconds=1\n");
  drive (bus, "job-", 0, (guint64) n_warm, TRUE, TRUE);
  steady = bench_proc_rss (bench_pid (daemon));
  steady_pss = bench_proc_pss (bench_pid (daemon));
  drive (bus, "job-", (guint64) n_warm, (guint64) n_churn, TRUE, TRUE);
  after = bench_proc_rss (bench_pid (daemon));
  after_pss = bench_proc_pss (bench_pid (daemon));
  ratio = (double) after / (double) steady;
  bench_note ("memory: steady state after %" G_GINT64_FORMAT " jobs: VmRSS %.2f MiB, Pss %.2f "
              "MiB; after %" G_GINT64_FORMAT " more: VmRSS %.2f MiB, Pss %.2f MiB", n_warm,
              steady / 1048576.0, steady_pss / 1048576.0, n_churn, after / 1048576.0,
              after_pss / 1048576.0);
  churn_figure = g_strdup_printf ("memory: VmRSS after %" G_GINT64_FORMAT " more jobs retired "
                                  "(baseline: steady state)", n_churn);
  bench_row (churn_figure, bench_fmt (after / 1048576.0, "MiB"),
             bench_fmt (steady / 1048576.0, "MiB"), ratio, "<= 1.05 x steady", ratio <= 1.05);
  bench_stop (daemon, "aura-progressd");
  g_object_unref (daemon);
  return 0;
}

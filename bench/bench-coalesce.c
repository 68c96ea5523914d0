/* SPDX-License-Identifier: MIT */
/*
 * Coalescing: many jobs flooded with FFmpeg frame reports, each at a fixed
 * rate (100 jobs at 1,000 reports/s by default, paced by the clock over a
 * few connections, a window of calls in flight on each). A subscriber on
 * its own connection and thread counts the Progress signals of every job.
 *
 * Side by side in the same run:
 *   ours         aura-progressd as configured by default (a Progress signal
 *                per job at most every 100 ms);
 *   uncoalesced  the same daemon with CoalesceIntervalMs=0: a signal per
 *                report, what a service that forwards every report sends;
 *   null         bench-null-service under the same flood: the CPU a service
 *                needs just to answer the calls, and the report rate the bus
 *                allows.
 *
 * Figures: reports accepted per job per second; Progress signals per job per
 * second (from the daemon's own timestamps in the events, the largest over
 * the jobs); the service's CPU share over the flood (/proc/PID/stat utime +
 * stime over wall time, in % of one core); and whether every job's final
 * state (its last frame) reached the subscriber before the job was
 * completed, and how long after its last report was answered.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench-common.h"

/* ---- the subscriber ----------------------------------------------------- */

typedef struct {
  guint n_progress;                   /* Progress signals after the first (the start) */
  gint64 first_ms, last_ms;           /* daemon timestamps of those, ms of the day */
  guint32 last_item;
  double final_arrival;               /* monotonic s when the last frame arrived, 0: not yet */
  gboolean finished;
} JobSeen;

typedef struct {
  GMutex lock;
  char *prefix;                       /* job ids of the current run: prefix + index */
  guint n_jobs;
  guint32 total;                      /* frames per job */
  JobSeen *jobs;
  guint n_final;
  guint n_finished;
  gint stop;
  sd_bus *bus;
} Subscriber;

static JobSeen *
seen_for (Subscriber *sub, const char *job_id)
{
  gsize len = sub->prefix != NULL ? strlen (sub->prefix) : 0;
  guint64 index;

  if (len == 0 || strncmp (job_id, sub->prefix, len) != 0)
    return NULL;
  index = g_ascii_strtoull (job_id + len, NULL, 10);
  return index < sub->n_jobs ? &sub->jobs[index] : NULL;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" -> ms of the day */
static gint64
timestamp_ms (const char *ts)
{
  if (strlen (ts) < 23)
    return -1;
  return ((g_ascii_strtoll (ts + 11, NULL, 10) * 60 + g_ascii_strtoll (ts + 14, NULL, 10)) * 60 +
          g_ascii_strtoll (ts + 17, NULL, 10)) * 1000 + g_ascii_strtoll (ts + 20, NULL, 10);
}

static int
on_progress (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  Subscriber *sub = userdata;
  const char *job_id, *key, *ts = NULL;
  guint32 item = 0;
  gboolean has_item = FALSE;
  guint64 event_id;
  JobSeen *seen;
  int r;

  if (sd_bus_message_read (m, "st", &job_id, &event_id) < 0 ||
      sd_bus_message_enter_container (m, 'a', "{sv}") < 0)
    return 0;
  while ((r = sd_bus_message_enter_container (m, 'e', "sv")) > 0) {
    if (sd_bus_message_read (m, "s", &key) < 0)
      return 0;
    if (strcmp (key, "currentItem") == 0 && sd_bus_message_read (m, "v", "u", &item) >= 0)
      has_item = TRUE;
    else if (strcmp (key, "timestamp") == 0 && sd_bus_message_read (m, "v", "s", &ts) >= 0)
      ;
    else if (sd_bus_message_skip (m, "v") < 0)
      return 0;
    if (sd_bus_message_exit_container (m) < 0)
      return 0;
  }

  g_mutex_lock (&sub->lock);
  seen = seen_for (sub, job_id);
  /* (the job's start has no items: only the flood's signals count) */
  if (seen != NULL && ts != NULL && has_item) {
    gint64 ms = timestamp_ms (ts);
    if (seen->n_progress++ == 0)
      seen->first_ms = ms;
    if (ms < seen->first_ms)
      ms += 86400000;                 /* midnight passed */
    seen->last_ms = ms;
    seen->last_item = item;
    if (item == sub->total && seen->final_arrival == 0) {
      seen->final_arrival = bench_now ();
      sub->n_final++;
    }
  }
  g_mutex_unlock (&sub->lock);
  return 0;
}

static int
on_finished (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  Subscriber *sub = userdata;
  const char *job_id;
  JobSeen *seen;

  if (sd_bus_message_read (m, "s", &job_id) < 0)
    return 0;
  g_mutex_lock (&sub->lock);
  seen = seen_for (sub, job_id);
  if (seen != NULL && !seen->finished) {
    seen->finished = TRUE;
    sub->n_finished++;
  }
  g_mutex_unlock (&sub->lock);
  return 0;
}

static gpointer
subscriber_thread (gpointer data)
{
  Subscriber *sub = data;

  while (!g_atomic_int_get (&sub->stop)) {
    int r = sd_bus_process (sub->bus, NULL);
    if (r > 0)
      continue;
    if (r == 0)
      r = sd_bus_wait (sub->bus, 100 * 1000);
    if (r < 0 && r != -EINTR)
      bench_fail ("subscriber: %s", g_strerror (-r));
  }
  return NULL;
}

static guint
sub_count (Subscriber *sub, guint *field)
{
  guint n;

  g_mutex_lock (&sub->lock);
  n = *field;
  g_mutex_unlock (&sub->lock);
  return n;
}

/* ---- the flood ---------------------------------------------------------- */

typedef struct _Flood Flood;

typedef struct {
  Flood *flood;
  guint conn;
  char *id;
  guint64 frame;                      /* the last frame reported */
  guint64 sent;
  guint64 answered;
  gboolean final_sent;                /* the last frame (total) has been reported */
  double last_answer;                 /* when the answer to the last frame came */
} FloodJob;

typedef struct {
  sd_bus *bus;
  guint in_flight;
} FloodConn;

struct _Flood {
  const char *destination;
  FloodConn *conns;
  guint n_conns;
  FloodJob *jobs;
  guint n_jobs;
  guint64 total;                      /* frames per job */
  double rate;                        /* per job, per second */
  double seconds;                     /* then the last frame, whatever the rate reached */
  guint window;
  double t0;
  guint next;                         /* round-robin start */
  guint n_final_sent;
  guint64 sent;
  guint64 answered;
  guint64 errors;
  char *first_error;
};

static int
on_flood_reply (sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
  FloodJob *job = userdata;
  Flood *flood = job->flood;

  flood->conns[job->conn].in_flight--;
  flood->answered++;
  /* answers come in order on a connection */
  if (++job->answered == job->sent && job->final_sent)
    job->last_answer = bench_now ();
  if (sd_bus_message_is_method_error (reply, NULL)) {
    flood->errors++;
    if (flood->first_error == NULL)
      flood->first_error = g_strdup_printf ("%s: %s", sd_bus_message_get_error (reply)->name,
                                            sd_bus_message_get_error (reply)->message);
  }
  return 1;
}

static void
flood_send (Flood *flood, FloodJob *job, guint64 frame)
{
  FloodConn *conn = &flood->conns[job->conn];
  int r;

  r = sd_bus_call_method_async (conn->bus, NULL, flood->destination, AURA_OBJECT_PATH,
                                AURA_INTERFACE, "ReportFFmpegProgress", on_flood_reply, job,
                                "sttdds", job->id, frame, flood->total, 25.0, frame / 25.0, "");
  if (r < 0)
    bench_fail ("cannot send a report: %s", g_strerror (-r));
  job->frame = frame;
  job->sent++;
  flood->sent++;
  conn->in_flight++;
  if (frame == flood->total) {
    job->final_sent = TRUE;
    flood->n_final_sent++;
  }
}

/* Sends what the clock says is due, then tells whether every answer is in.
 * A job whose frames the service did not take in time jumps to its last
 * frame when the flood's time is over (a render's reports are samples):
 * each run lasts the same, however slow the service. */
static gboolean
flood_pump (gpointer data)
{
  Flood *flood = data;
  double elapsed = bench_now () - flood->t0;
  guint64 due = MIN ((guint64) (elapsed * flood->rate) + 1, flood->total);

  for (guint k = 0; k < flood->n_jobs; k++) {
    FloodJob *job = &flood->jobs[(flood->next + k) % flood->n_jobs];
    FloodConn *conn = &flood->conns[job->conn];
    if (elapsed < flood->seconds) {
      while (job->frame < due && conn->in_flight < flood->window)
        flood_send (flood, job, job->frame + 1);
    } else if (!job->final_sent && conn->in_flight < flood->window) {
      flood_send (flood, job, flood->total);
    }
  }
  flood->next = (flood->next + 1) % flood->n_jobs;
  return flood->n_final_sent == flood->n_jobs && flood->answered == flood->sent;
}


typedef enum { KIND_OURS, KIND_UNCOALESCED, KIND_NULL } Kind;
static const char *const kind_names[] = { "aura-progressd", "uncoalesced daemon", "null service" };

typedef struct {
  double reports_per_job_s;           /* accepted */
  double signals_per_job_s;           /* the largest over the jobs */
  double signals_mean;                /* the mean over the jobs */
  double cpu_share;                   /* % of one core */
  double bus_cpu_share;               /* the dbus-daemon's, when we started it; NAN otherwise */
  guint n_final;                      /* jobs whose last frame arrived */
  double final_delay_max;             /* s, from the last answer to the last frame's arrival */
  guint n_finished;
} Result;

typedef struct {
  Subscriber *sub;
  guint want;
  gboolean finished;
} SubWait;

static gboolean
sub_reached (gpointer data)
{
  SubWait *w = data;
  return sub_count (w->sub, w->finished ? &w->sub->n_finished : &w->sub->n_final) >= w->want;
}

static Result
run_once (BenchBus *bb, sd_bus **buses, guint n_conns, Subscriber *sub, const char *destination, GPid service,
          gboolean signals, guint n_jobs, double rate, double seconds, guint window)
{
  static guint serial;
  g_autofree char *prefix = g_strdup_printf ("co-%u-", ++serial);
  Flood flood = { 0 };
  Result res = { 0 };
  double cpu0, cpu1, t1, bus0 = 0, bus1 = 0;
  GPid bus_pid = bb->bus_process != NULL ? bench_pid (bb->bus_process) : 0;
  g_autofree FloodConn *conns = g_new0 (FloodConn, n_conns);
  g_autofree FloodJob *jobs = g_new0 (FloodJob, n_jobs);
  g_autoptr(GArray) rates = g_array_new (FALSE, FALSE, sizeof (double));

  for (guint i = 0; i < n_conns; i++)
    conns[i].bus = buses[i];
  flood.destination = destination;
  flood.conns = conns;
  flood.n_conns = n_conns;
  flood.jobs = jobs;
  flood.n_jobs = n_jobs;
  flood.rate = rate;
  flood.seconds = seconds;
  flood.total = MAX ((guint64) (rate * seconds), 2);
  flood.window = window;

  g_mutex_lock (&sub->lock);
  g_free (sub->prefix);
  sub->prefix = g_strdup (prefix);
  g_free (sub->jobs);
  sub->jobs = g_new0 (JobSeen, n_jobs);
  sub->n_jobs = n_jobs;
  sub->total = (guint32) flood.total;
  sub->n_final = 0;
  sub->n_finished = 0;
  g_mutex_unlock (&sub->lock);

  for (guint j = 0; j < n_jobs; j++) {
    jobs[j].flood = &flood;
    jobs[j].conn = j % n_conns;
    jobs[j].id = g_strdup_printf ("%s%u", prefix, j);
    bench_call_ok (buses[jobs[j].conn], destination, "StartJob", "sa{sv}", jobs[j].id, 0);
  }

  cpu0 = bench_proc_cpu_seconds (service);
  if (bus_pid != 0)
    bus0 = bench_proc_cpu_seconds (bus_pid);
  flood.t0 = bench_now ();
  if (!bench_run_until_tick (buses, n_conns, flood_pump, &flood, seconds + 120, 1))
    bench_fail ("%s: the flood did not end in time (%" G_GUINT64_FORMAT " answers)", destination,
                flood.answered);
  t1 = bench_now ();
  cpu1 = bench_proc_cpu_seconds (service);
  if (bus_pid != 0)
    bus1 = bench_proc_cpu_seconds (bus_pid);
  if (flood.errors > 0)
    bench_fail ("%s refused %" G_GUINT64_FORMAT " reports, first: %s", destination, flood.errors,
                flood.first_error);
  res.reports_per_job_s = (double) flood.answered / n_jobs / (t1 - flood.t0);
  res.cpu_share = 100.0 * (cpu1 - cpu0) / (t1 - flood.t0);
  res.bus_cpu_share = bus_pid != 0 ? 100.0 * (bus1 - bus0) / (t1 - flood.t0) : NAN;

  bench_note ("coalesce %s: flood %.1f s", destination, t1 - flood.t0);
  if (signals) {
    /* The last frame must arrive without anything else happening: the
     * coalesced state is flushed by the daemon's own timer. What arrived
     * until then is the figure; CompleteJob would send the final state
     * itself. */
    SubWait w = { sub, n_jobs, FALSE };
    double w0 = bench_now ();
    bench_run_until_tick (buses, n_conns, sub_reached, &w, 30, 5);
    bench_note ("coalesce: final frames after %.2f s", bench_now () - w0);
    g_mutex_lock (&sub->lock);
    res.n_final = sub->n_final;
    res.final_delay_max = 0;
    for (guint j = 0; j < n_jobs; j++) {
      JobSeen *seen = &sub->jobs[j];
      if (seen->n_progress >= 2 && seen->last_ms > seen->first_ms) {
        double r = (seen->n_progress - 1) / ((seen->last_ms - seen->first_ms) / 1000.0);
        g_array_append_val (rates, r);
      }
      if (seen->final_arrival > 0)
        res.final_delay_max = MAX (res.final_delay_max, seen->final_arrival - jobs[j].last_answer);
    }
    g_mutex_unlock (&sub->lock);
  } else {
    res.final_delay_max = NAN;
  }
  res.signals_per_job_s = signals ? bench_max (rates) : NAN;
  res.signals_mean = NAN;
  if (rates->len > 0) {
    double sum = 0;
    for (guint i = 0; i < rates->len; i++)
      sum += g_array_index (rates, double, i);
    res.signals_mean = sum / rates->len;
  }

  {
    double c0 = bench_now ();
    for (guint j = 0; j < n_jobs; j++)
      bench_call_ok (buses[jobs[j].conn], destination, "CompleteJob", "s", jobs[j].id);
    bench_note ("coalesce: completed in %.2f s", bench_now () - c0);
  }
  if (signals) {
    SubWait w = { sub, n_jobs, TRUE };
    if (!bench_run_until_tick (buses, n_conns, sub_reached, &w, 30, 5))
      bench_fail ("%s: only %u of %u JobFinished signals arrived", destination,
                  sub_count (sub, &sub->n_finished), n_jobs);
    res.n_finished = sub_count (sub, &sub->n_finished);
  }
  g_mutex_lock (&sub->lock);
  g_clear_pointer (&sub->prefix, g_free);
  g_mutex_unlock (&sub->lock);

  for (guint j = 0; j < n_jobs; j++)
    g_free (jobs[j].id);
  g_free (flood.first_error);
  return res;
}

/* One field of every run of a kind, as a GArray of doubles. */
static GArray *
field_of (GArray *results, gsize offset)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (double));

  for (guint i = 0; i < results->len; i++) {
    double v = G_STRUCT_MEMBER (double, &g_array_index (results, Result, i), offset);
    g_array_append_val (out, v);
  }
  return out;
}

#define FIELD(kind, name) field_of (results[kind], G_STRUCT_OFFSET (Result, name))

static void
summarize (GArray *results[3], int n_jobs, double rate)
{
  g_autoptr(GArray) rep_ours = FIELD (KIND_OURS, reports_per_job_s);
  g_autoptr(GArray) rep_null = FIELD (KIND_NULL, reports_per_job_s);
  g_autoptr(GArray) sig_ours = FIELD (KIND_OURS, signals_per_job_s);
  g_autoptr(GArray) sig_unco = FIELD (KIND_UNCOALESCED, signals_per_job_s);
  g_autoptr(GArray) cpu_ours = FIELD (KIND_OURS, cpu_share);
  g_autoptr(GArray) cpu_unco = FIELD (KIND_UNCOALESCED, cpu_share);
  g_autoptr(GArray) cpu_null = FIELD (KIND_NULL, cpu_share);
  g_autoptr(GArray) delay_ours = FIELD (KIND_OURS, final_delay_max);
  g_autoptr(GArray) delay_unco = FIELD (KIND_UNCOALESCED, final_delay_max);
  g_autofree char *fig_rate = NULL, *final_ours = NULL, *final_unco = NULL, *target = NULL;
  guint final_min[3] = { G_MAXUINT, G_MAXUINT, G_MAXUINT };
  double ratio;

  for (guint k = 0; k < 3; k++) {
    for (guint i = 0; i < results[k]->len; i++)
      final_min[k] = MIN (final_min[k], g_array_index (results[k], Result, i).n_final);
  }

  fig_rate = g_strdup_printf ("coalesce: reports accepted per job/s (%d jobs at %.0f/s)", n_jobs,
                              rate);
  /* the median of each round's ratio: a round's runs were next to each
   * other, so its ratio is the least disturbed by the machine's load */
  {
    g_autoptr(GArray) ratios = g_array_new (FALSE, FALSE, sizeof (double));
    for (guint i = 0; i < results[KIND_OURS]->len && i < results[KIND_NULL]->len; i++) {
      double r = g_array_index (results[KIND_OURS], Result, i).reports_per_job_s /
                 g_array_index (results[KIND_NULL], Result, i).reports_per_job_s;
      g_array_append_val (ratios, r);
    }
    ratio = bench_median (ratios);
  }
  bench_row (fig_rate, bench_fmt (bench_median (rep_ours), "/s"),
             bench_fmt (bench_median (rep_null), "/s"), ratio, ">= 0.9 x null", ratio >= 0.9);

  /* the largest over the jobs of every run: the bound holds for all */
  bench_row ("coalesce: Progress signals per job/s (max; baseline: uncoalesced)",
             bench_fmt (bench_max (sig_ours), "/s"), bench_fmt (bench_max (sig_unco), "/s"),
             bench_max (sig_ours) / bench_max (sig_unco), "<= 10 (100 ms interval)",
             bench_max (sig_ours) <= 10.0);

  bench_row ("coalesce: service CPU during the flood (baseline: null service)",
             bench_fmt (bench_median (cpu_ours), "%"), bench_fmt (bench_median (cpu_null), "%"),
             bench_median (cpu_ours) / bench_median (cpu_null), NULL, -1);
  bench_row ("coalesce: uncoalesced daemon CPU during the flood (baseline: null)",
             bench_fmt (bench_median (cpu_unco), "%"), bench_fmt (bench_median (cpu_null), "%"),
             bench_median (cpu_unco) / bench_median (cpu_null), NULL, -1);

  final_ours = g_strdup_printf ("%u/%d", final_min[KIND_OURS], n_jobs);
  final_unco = g_strdup_printf ("%u/%d", final_min[KIND_UNCOALESCED], n_jobs);
  target = g_strdup_printf ("%d/%d", n_jobs, n_jobs);
  bench_row ("coalesce: jobs whose final frame arrived (worst run; baseline: uncoalesced)",
             final_ours, final_unco, NAN, target, final_min[KIND_OURS] == (guint) n_jobs);
  /* held back by at most one interval (100 ms), then flushed by the
   * daemon's timer; 20 ms for a loaded machine */
  bench_row ("coalesce: final frame after its report was answered (max)",
             bench_fmt (bench_max (delay_ours) * 1000, "ms"),
             bench_fmt (bench_max (delay_unco) * 1000, "ms"), NAN, "<= 120 ms",
             bench_max (delay_ours) <= 0.120);
}

int
main (int argc, char **argv)
{
  g_autofree char *address = NULL, *daemon_path = NULL, *null_path = NULL;
  gboolean quick = FALSE;
  int n_jobs = 100, n_conns = 4, window = 64, rounds = 5;
  double rate = 1000, seconds = 4;
  const GOptionEntry entries[] = {
    { "address", 0, 0, G_OPTION_ARG_STRING, &address, "Use the bus at ADDRESS (default: a private one)", "ADDRESS" },
    { "daemon", 0, 0, G_OPTION_ARG_FILENAME, &daemon_path, "aura-progressd to measure", "PATH" },
    { "null-service", 0, 0, G_OPTION_ARG_FILENAME, &null_path, "the baseline service", "PATH" },
    { "jobs", 0, 0, G_OPTION_ARG_INT, &n_jobs, "Jobs flooded at once (default 100)", "N" },
    { "rate", 0, 0, G_OPTION_ARG_DOUBLE, &rate, "Reports per job per second (default 1000)", "N" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "Length of a flood (default 4)", "S" },
    { "connections", 0, 0, G_OPTION_ARG_INT, &n_conns, "Client connections (default 4)", "N" },
    { "window", 0, 0, G_OPTION_ARG_INT, &window, "Calls in flight per connection (default 64)", "N" },
    { "rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "Runs of each service (default 5)", "N" },
    { "quick", 0, 0, G_OPTION_ARG_NONE, &quick, "A short run that checks the benchmark works", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- coalescing benchmark");
  g_autoptr(GError) error = NULL;
  g_autoptr(BenchBus) bb = NULL;
  g_autofree sd_bus **buses = NULL;
  GArray *results[3];
  Subscriber sub = { 0 };
  GThread *thread;
  GSubprocess *null_service;
  const char *daemon_program;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    fprintf (stderr, "bench-coalesce: %s\n", error->message);
    return 2;
  }
  if (quick) {
    n_jobs = MIN (n_jobs, 10);
    rate = MIN (rate, 200);
    seconds = 1;
    rounds = 1;
  }
  if (n_jobs < 1 || n_jobs > 10000 || n_conns < 1 || n_conns > 64 || window < 1 ||
      !(rate > 0) || !(seconds > 0) || rounds < 1) {
    fprintf (stderr, "bench-coalesce: --jobs 1-10000, --connections 1-64, --window, --rate, "
             "--seconds and --rounds above 0\n");
    return 2;
  }
  daemon_program = daemon_path != NULL ? daemon_path : bench_default_daemon ();

  bb = bench_bus_new (address);
  null_service = bench_start_null_service (bb, null_path != NULL ? null_path
                                                                  : bench_default_null_service ());
  buses = g_new0 (sd_bus *, n_conns);
  for (int i = 0; i < n_conns; i++)
    buses[i] = bench_connect (bb);

  g_mutex_init (&sub.lock);
  sub.bus = bench_connect (bb);
  if (sd_bus_match_signal (sub.bus, NULL, NULL, AURA_OBJECT_PATH, AURA_INTERFACE, "Progress",
                           on_progress, &sub) < 0 ||
      sd_bus_match_signal (sub.bus, NULL, NULL, AURA_OBJECT_PATH, AURA_INTERFACE, "JobFinished",
                           on_finished, &sub) < 0)
    bench_fail ("cannot subscribe to the signals");
  thread = g_thread_new ("subscriber", subscriber_thread, &sub);

  for (guint k = 0; k < 3; k++)
    results[k] = g_array_new (FALSE, FALSE, sizeof (Result));
  for (int r = 0; r < rounds; r++) {
    for (guint i = 0; i < 3; i++) {
      /* ours and null next to each other (their ratio is a figure), in
       * alternating order; the uncoalesced daemon after them */
      static const Kind even[] = { KIND_OURS, KIND_NULL, KIND_UNCOALESCED };
      static const Kind odd[] = { KIND_NULL, KIND_OURS, KIND_UNCOALESCED };
      Kind kind = r % 2 == 0 ? even[i] : odd[i];
      GSubprocess *daemon = NULL;
      GPid pid;
      Result res;

      if (kind == KIND_NULL) {
        pid = bench_pid (null_service);
      } else {
        daemon = bench_start_daemon (bb, daemon_program,
                                     kind == KIND_UNCOALESCED ? "[Timing]\nCoalesceIntervalMs=0\n"
                                                              : NULL);
        pid = bench_pid (daemon);
      }
      res = run_once (bb, buses, n_conns, &sub, kind == KIND_NULL ? BENCH_NULL_NAME : AURA_BUS_NAME,
                      pid, kind != KIND_NULL, n_jobs, rate, seconds, window);
      bench_note ("coalesce %s: %.0f reports/s per job, signals/s per job max %.2f mean %.2f, "
                  "CPU %.0f %% (dbus-daemon %.0f %%), final state %u/%d (latest %.0f ms after "
                  "the last answer), finished %u", kind_names[kind], res.reports_per_job_s,
                  res.signals_per_job_s, res.signals_mean, res.cpu_share, res.bus_cpu_share,
                  res.n_final, n_jobs,
                  res.final_delay_max * 1000, res.n_finished);
      g_array_append_val (results[kind], res);
      if (daemon != NULL) {
        bench_stop (daemon, "aura-progressd");
        g_object_unref (daemon);
      }
    }
  }

  summarize (results, n_jobs, rate);
  for (guint k = 0; k < 3; k++)
    g_array_unref (results[k]);

  g_atomic_int_set (&sub.stop, 1);
  g_thread_join (thread);
  sd_bus_flush_close_unref (sub.bus);
  g_free (sub.jobs);
  g_mutex_clear (&sub.lock);
  for (int i = 0; i < n_conns; i++)
    sd_bus_flush_close_unref (buses[i]);
  bench_stop (null_service, "bench-null-service");
  g_object_unref (null_service);
  return 0;
}

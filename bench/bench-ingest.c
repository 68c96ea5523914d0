/* SPDX-License-Identifier: MIT */
/*
 * Ingest: progress reports per second into aura-progressd from several
 * pipelined clients, against the same calls answered by bench-null-service
 * (a service that does nothing) on the same bus.
 *
 * Each client is its own bus connection with its own job; it keeps a window
 * of calls in flight (sd-bus asynchronous calls: a new one leaves as soon as
 * an answer arrives) until it has sent its share. One thread drives all the
 * connections, so the clients cost both services the same. Runs alternate
 * (ours, null, null, ours, ...) so that noise on the machine hits both, and
 * the figures are the medians. Every answer must be a success: a report the
 * daemon refused would not count as ingested.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench-common.h"

typedef enum {
  METHOD_FFMPEG,                      /* ReportFFmpegProgress: the flood of a render */
  METHOD_PROGRESS,                    /* ReportProgress with a details dictionary */
} Method;

static const char *const method_names[] = { "ReportFFmpegProgress", "ReportProgress" };

typedef struct _Run Run;

typedef struct {
  Run *run;
  sd_bus *bus;
  char *job_id;
  guint64 sent;
} Client;

struct _Run {
  const char *destination;
  Method method;
  guint64 per_client;
  guint64 answered;
  guint64 expected;
  guint64 errors;
  char *first_error;
};

static int on_reply (sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);

static void
send_one (Client *c)
{
  Run *run = c->run;
  g_autoptr(sd_bus_message) m = NULL;
  guint64 frame = c->sent + 1, total = run->per_client;
  int r;

  r = sd_bus_message_new_method_call (c->bus, &m, run->destination, AURA_OBJECT_PATH,
                                      AURA_INTERFACE, method_names[run->method]);
  if (r >= 0 && run->method == METHOD_FFMPEG) {
    r = sd_bus_message_append (m, "sttdds", c->job_id, frame, total, 30.0, frame / 30.0, "");
  } else if (r >= 0) {
    char detail[64];
    g_snprintf (detail, sizeof detail, "Frame %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT,
                frame, total);
    r = sd_bus_message_append (m, "ssda{sv}", c->job_id, "render", 100.0 * frame / total, 4,
                               "message", "s", "Rendering the video",
                               "substageDetail", "s", detail,
                               "currentItem", "u", (guint32) frame,
                               "totalItems", "u", (guint32) total);
  }
  if (r >= 0)
    r = sd_bus_call_async (c->bus, NULL, m, on_reply, c, 0);
  if (r < 0)
    bench_fail ("cannot send %s: %s", method_names[run->method], g_strerror (-r));
  c->sent++;
}

static int
on_reply (sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
  Client *c = userdata;
  Run *run = c->run;

  run->answered++;
  if (sd_bus_message_is_method_error (reply, NULL)) {
    run->errors++;
    if (run->first_error == NULL)
      run->first_error = g_strdup_printf ("%s: %s", sd_bus_message_get_error (reply)->name,
                                          sd_bus_message_get_error (reply)->message);
  }
  if (c->sent < run->per_client)
    send_one (c);
  return 1;
}

static gboolean
run_done (gpointer data)
{
  Run *run = data;
  return run->answered >= run->expected;
}


typedef struct {
  double rate;                        /* reports per second */
  double cpu;                         /* service CPU over the run, s */
  double calls;
  double wakeups;                     /* the service's voluntary context switches */
} Result;

static Result
run_once (sd_bus **buses, guint n_clients, guint window, guint64 per_client,
          const char *destination, GPid service, Method method, const char *tag)
{
  static guint serial;
  Run run = { destination, method, per_client, 0, per_client * n_clients, 0, NULL };
  g_autofree Client *clients = g_new0 (Client, n_clients);
  double t0, t1, cpu0, cpu1;
  guint64 wake0, wake1;
  Result result;

  serial++;
  for (guint i = 0; i < n_clients; i++) {
    clients[i].run = &run;
    clients[i].bus = buses[i];
    clients[i].job_id = g_strdup_printf ("ingest-%s-%u-%u", tag, serial, i);
    bench_call_ok (buses[i], destination, "StartJob", "sa{sv}", clients[i].job_id, 0);
  }

  cpu0 = bench_proc_cpu_seconds (service);
  wake0 = bench_proc_wakeups (service);
  t0 = bench_now ();
  for (guint i = 0; i < n_clients; i++) {
    for (guint w = 0; w < window && clients[i].sent < per_client; w++)
      send_one (&clients[i]);
  }
  if (!bench_run_until (buses, n_clients, run_done, &run, 300))
    bench_fail ("%s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " reports answered in 300 s",
                destination, run.answered, run.expected);
  t1 = bench_now ();
  cpu1 = bench_proc_cpu_seconds (service);
  wake1 = bench_proc_wakeups (service);
  if (run.errors > 0)
    bench_fail ("%s refused %" G_GUINT64_FORMAT " reports, first: %s", destination, run.errors,
                run.first_error);

  for (guint i = 0; i < n_clients; i++) {
    bench_call_ok (buses[i], destination, "CompleteJob", "s", clients[i].job_id);
    g_free (clients[i].job_id);
  }
  result.rate = run.expected / (t1 - t0);
  result.cpu = cpu1 - cpu0;
  result.calls = run.expected;
  result.wakeups = (double) (wake1 - wake0);
  return result;
}

int
main (int argc, char **argv)
{
  g_autofree char *address = NULL, *daemon_path = NULL, *null_path = NULL, *only = NULL;
  gboolean quick = FALSE;
  int n_clients = 4, window = 64, rounds = 21;
  gint64 calls = 5000;
  const GOptionEntry entries[] = {
    { "address", 0, 0, G_OPTION_ARG_STRING, &address, "Use the bus at ADDRESS (default: a private one)", "ADDRESS" },
    { "daemon", 0, 0, G_OPTION_ARG_FILENAME, &daemon_path, "aura-progressd to measure", "PATH" },
    { "null-service", 0, 0, G_OPTION_ARG_FILENAME, &null_path, "the baseline service", "PATH" },
    { "clients", 0, 0, G_OPTION_ARG_INT, &n_clients, "Client connections (default 4)", "N" },
    { "window", 0, 0, G_OPTION_ARG_INT, &window, "Calls in flight per client (default 64)", "N" },
    { "calls", 0, 0, G_OPTION_ARG_INT64, &calls, "Reports per client and run (default 5000)", "N" },
    { "rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "Runs of each service per method (default 21)", "N" },
    { "method", 0, 0, G_OPTION_ARG_STRING, &only, "Only ReportFFmpegProgress or ReportProgress", "NAME" },
    { "quick", 0, 0, G_OPTION_ARG_NONE, &quick, "A short run that checks the benchmark works", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- ingest benchmark");
  g_autoptr(GError) error = NULL;
  g_autoptr(BenchBus) bb = NULL;
  g_autofree sd_bus **buses = NULL;
  GSubprocess *daemon, *null_service;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    fprintf (stderr, "bench-ingest: %s\n", error->message);
    return 2;
  }
  if (quick) {
    calls = 500;
    rounds = 1;
  }
  if (n_clients < 1 || n_clients > 256 || window < 1 || window > 10000 || calls < 1 ||
      rounds < 1) {
    fprintf (stderr, "bench-ingest: --clients 1-256, --window 1-10000, --calls and --rounds "
             "at least 1\n");
    return 2;
  }

  bb = bench_bus_new (address);
  daemon = bench_start_daemon (bb, daemon_path != NULL ? daemon_path : bench_default_daemon (),
                               NULL);
  null_service = bench_start_null_service (bb, null_path != NULL ? null_path
                                                                  : bench_default_null_service ());
  buses = g_new0 (sd_bus *, n_clients);
  for (int i = 0; i < n_clients; i++)
    buses[i] = bench_connect (bb);

  for (Method method = METHOD_FFMPEG; method <= METHOD_PROGRESS; method++) {
    g_autoptr(GArray) ours = g_array_new (FALSE, FALSE, sizeof (double));
    g_autoptr(GArray) base = g_array_new (FALSE, FALSE, sizeof (double));
    /* CPU time is counted in ticks (10 ms): summed over all runs */
    double cpu[2] = { 0, 0 }, n_calls[2] = { 0, 0 }, wakeups[2] = { 0, 0 };
    g_autoptr(GArray) ratios = g_array_new (FALSE, FALSE, sizeof (double));
    g_autofree char *figure = NULL, *cpu_figure = NULL;
    double mo, mb, ratio;

    if (only != NULL && strcmp (only, method_names[method]) != 0)
      continue;
    /* Warm both up (allocator, the daemon's caches) outside the figures. */
    run_once (buses, n_clients, window, MIN (calls, 2000), AURA_BUS_NAME, bench_pid (daemon),
              method, "warm");
    run_once (buses, n_clients, window, MIN (calls, 2000), BENCH_NULL_NAME,
              bench_pid (null_service), method, "warm");

    for (int r = 0; r < rounds; r++) {
      double pair[2];
      for (int k = 0; k < 2; k++) {
        gboolean is_ours = (k == 0) == (r % 2 == 0);
        Result res = run_once (buses, n_clients, window, calls,
                               is_ours ? AURA_BUS_NAME : BENCH_NULL_NAME,
                               bench_pid (is_ours ? daemon : null_service), method,
                               is_ours ? "ours" : "null");
        g_array_append_val (is_ours ? ours : base, res.rate);
        cpu[is_ours ? 0 : 1] += res.cpu;
        n_calls[is_ours ? 0 : 1] += res.calls;
        wakeups[is_ours ? 0 : 1] += res.wakeups;
        pair[is_ours ? 0 : 1] = res.rate;
        bench_note ("ingest %s %s: %.0f reports/s", method_names[method],
                    is_ours ? "aura-progressd" : "null service", res.rate);
      }
      /* each round's two runs were next to each other: their ratio is
       * the least disturbed by the machine's load changing over time */
      pair[0] /= pair[1];
      g_array_append_val (ratios, pair[0]);
    }
    bench_note ("ingest %s: reports per wakeup of the service: aura-progressd %.1f, null %.1f",
                method_names[method], n_calls[0] / MAX (wakeups[0], 1),
                n_calls[1] / MAX (wakeups[1], 1));
    mo = bench_median (ours);
    mb = bench_median (base);
    ratio = bench_median (ratios);
    figure = g_strdup_printf ("ingest %s (%d clients x %d in flight)", method_names[method],
                              n_clients, window);
    bench_row (figure, bench_fmt (mo, "/s"), bench_fmt (mb, "/s"), ratio, ">= 0.9 x null",
               ratio >= 0.9);
    cpu_figure = g_strdup_printf ("ingest %s: service CPU per report", method_names[method]);
    bench_row (cpu_figure, bench_fmt (cpu[0] / n_calls[0] * 1e6, "us"),
               bench_fmt (cpu[1] / n_calls[1] * 1e6, "us"),
               (cpu[0] / n_calls[0]) / (cpu[1] / n_calls[1]), NULL, -1);
  }

  for (int i = 0; i < n_clients; i++)
    sd_bus_flush_close_unref (buses[i]);
  bench_stop (daemon, "aura-progressd");
  bench_stop (null_service, "bench-null-service");
  g_object_unref (daemon);
  g_object_unref (null_service);
  return 0;
}

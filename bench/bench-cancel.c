/* SPDX-License-Identifier: MIT */
/*
 * Cancellation: how long CancelJob takes to answer when a job has 1, 16 or
 * 64 providers that each answer their Cancel after 10 ms.
 *
 * The providers live in a second process (this program with
 * --provider-host), one bus connection each, as real providers are. Each
 * serves org.aura.Progress.Provider.Cancel at /bench/provider and answers
 * it after the delay, whoever asks. The benchmark process starts a job,
 * has the host register N of its providers with it, and times a CancelJob
 * call from its own connection.
 *
 * Baseline: what the bus allows without the daemon, the caller itself
 * calling Cancel on the same N provider connections at once and waiting for
 * every answer. Runs alternate (ours, baseline, baseline, ours, ...); the
 * figures are medians and 95th percentiles.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <glib-unix.h>

#include "aura-bus-source.h"
#include "bench-common.h"

#define PROVIDER_PATH "/bench/provider"

/* ---- the provider host -------------------------------------------------- */

typedef struct {
  sd_bus *bus;
  guint delay_ms;
} HostConn;

typedef struct {
  GMainLoop *loop;
  HostConn *conns;
  guint n;
  guint pending;                      /* registrations waiting for their answer */
  gboolean failed;
} Host;

typedef struct {
  sd_bus_message *call;
} Delayed;

static gboolean
on_delay_over (gpointer data)
{
  Delayed *d = data;
  int r = sd_bus_reply_method_return (d->call, NULL);

  if (r < 0)
    g_printerr ("provider host: cannot answer Cancel: %s\n", g_strerror (-r));
  sd_bus_message_unref (d->call);
  g_free (d);
  return G_SOURCE_REMOVE;
}

static int
method_cancel (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  HostConn *conn = userdata;
  Delayed *d = g_new0 (Delayed, 1);

  /* a provider that needs a moment to stop its work */
  d->call = sd_bus_message_ref (m);
  g_timeout_add (conn->delay_ms, on_delay_over, d);
  return 1;
}

static const sd_bus_vtable provider_vtable[] = {
  SD_BUS_VTABLE_START (0),
  SD_BUS_METHOD ("Cancel", "s", "", method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_VTABLE_END
};

static int
on_registered (sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
  Host *host = userdata;

  if (sd_bus_message_is_method_error (reply, NULL)) {
    g_printerr ("provider host: RegisterProvider: %s\n", sd_bus_message_get_error (reply)->message);
    host->failed = TRUE;
  }
  if (--host->pending == 0) {
    printf (host->failed ? "failed\n" : "ok\n");
    fflush (stdout);
    host->failed = FALSE;
  }
  return 1;
}

static gboolean
on_command (gint fd, GIOCondition condition, gpointer user_data)
{
  Host *host = user_data;
  char line[512];
  ssize_t len = read (fd, line, sizeof line - 1);
  char job[256];
  guint n;

  if (len <= 0) {
    g_main_loop_quit (host->loop);
    return G_SOURCE_REMOVE;
  }
  line[len] = '\0';
  /* one command at a time: the benchmark waits for each answer */
  if (sscanf (line, "register %255s %u", job, &n) != 2 || n == 0 || n > host->n) {
    g_printerr ("provider host: bad command: %s", line);
    g_main_loop_quit (host->loop);
    return G_SOURCE_REMOVE;
  }
  host->pending = n;
  for (guint i = 0; i < n; i++) {
    char name[32];
    int r;
    g_snprintf (name, sizeof name, "provider-%u", i);
    r = sd_bus_call_method_async (host->conns[i].bus, NULL, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                  AURA_INTERFACE, "RegisterProvider", on_registered, host,
                                  "sssbo", job, name, "Bench", 1, PROVIDER_PATH);
    if (r < 0)
      bench_fail ("provider host: %s", g_strerror (-r));
  }
  return G_SOURCE_CONTINUE;
}

static int
provider_host (const char *address, guint n, guint delay_ms)
{
  Host host = { 0 };
  BenchBus bb = { .address = (char *) address };

  /* dies with the benchmark, whatever happens to it */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
  host.loop = g_main_loop_new (NULL, FALSE);
  host.conns = g_new0 (HostConn, n);
  host.n = n;
  for (guint i = 0; i < n; i++) {
    host.conns[i].bus = bench_connect (&bb);
    host.conns[i].delay_ms = delay_ms;
    if (sd_bus_add_object_vtable (host.conns[i].bus, NULL, PROVIDER_PATH,
                                  AURA_PROVIDER_INTERFACE, provider_vtable, &host.conns[i]) < 0)
      bench_fail ("provider host: cannot export the provider");
    aura_bus_attach (host.conns[i].bus, NULL, NULL);
  }
  /* the unique names, for the baseline's direct calls */
  for (guint i = 0; i < n; i++) {
    const char *unique = NULL;
    sd_bus_get_unique_name (host.conns[i].bus, &unique);
    printf ("%s%s", i > 0 ? " " : "", unique);
  }
  printf ("\n");
  fflush (stdout);
  g_unix_fd_add (0, G_IO_IN | G_IO_HUP, on_command, &host);
  g_main_loop_run (host.loop);
  for (guint i = 0; i < n; i++)
    sd_bus_flush_close_unref (host.conns[i].bus);
  g_free (host.conns);
  g_main_loop_unref (host.loop);
  return 0;
}

/* ---- the benchmark ------------------------------------------------------ */

typedef struct {
  GSubprocess *proc;
  GOutputStream *in;
  GDataInputStream *out;
  char **names;
} HostHandle;

static void
host_command (HostHandle *h, const char *job, guint n)
{
  g_autofree char *cmd = g_strdup_printf ("register %s %u\n", job, n);
  g_autofree char *answer = NULL;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all (h->in, cmd, strlen (cmd), NULL, NULL, &error) ||
      !g_output_stream_flush (h->in, NULL, &error))
    bench_fail ("provider host: %s", error->message);
  answer = g_data_input_stream_read_line (h->out, NULL, NULL, &error);
  if (answer == NULL || strcmp (answer, "ok") != 0)
    bench_fail ("provider host could not register %u providers for %s", n, job);
}

static double
cancel_job (sd_bus *bus, const char *job, guint n)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  g_autoptr(sd_bus_message) reply = NULL;
  const char *status = "", *message;
  int cleanup, r;
  guint cancelled = 0;
  double t0, t1;

  t0 = bench_now ();
  r = sd_bus_call_method (bus, AURA_BUS_NAME, AURA_OBJECT_PATH, AURA_INTERFACE, "CancelJob",
                          &error, &reply, "s", job);
  t1 = bench_now ();
  if (r < 0)
    bench_fail ("CancelJob %s: %s", job, error.message);
  /* every provider must have stopped: a reply after a timeout is no figure */
  r = sd_bus_message_read (reply, "ssb", &status, &message, &cleanup);
  if (r >= 0)
    r = sd_bus_message_enter_container (reply, 'a', "(ssbss)");
  while (r >= 0) {
    const char *pname, *ptype, *pstatus, *warning;
    int supports;
    r = sd_bus_message_read (reply, "(ssbss)", &pname, &ptype, &supports, &pstatus, &warning);
    if (r <= 0)
      break;
    if (strcmp (pstatus, "Cancelled") == 0)
      cancelled++;
  }
  if (r < 0 || strcmp (status, "Canceled") != 0 || cancelled != n)
    bench_fail ("CancelJob %s: status %s, %u of %u providers Cancelled", job, status, cancelled,
                n);
  sd_bus_error_free (&error);
  return t1 - t0;
}

typedef struct {
  guint answered;
  guint want;
} Direct;

static int
on_direct_reply (sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
  Direct *d = userdata;

  if (sd_bus_message_is_method_error (reply, NULL))
    bench_fail ("direct Cancel: %s", sd_bus_message_get_error (reply)->message);
  d->answered++;
  return 1;
}

static gboolean
direct_done (gpointer data)
{
  Direct *d = data;
  return d->answered >= d->want;
}

/* The baseline: Cancel on every provider at once, from the caller. */
static double
cancel_direct (sd_bus *bus, char **names, guint n)
{
  Direct d = { 0, n };
  double t0 = bench_now ();

  for (guint i = 0; i < n; i++) {
    int r = sd_bus_call_method_async (bus, NULL, names[i], PROVIDER_PATH,
                                      AURA_PROVIDER_INTERFACE, "Cancel", on_direct_reply, &d, "s",
                                      "direct");
    if (r < 0)
      bench_fail ("direct Cancel: %s", g_strerror (-r));
  }
  if (!bench_run_until (&bus, 1, direct_done, &d, 30))
    bench_fail ("direct Cancel: %u of %u answers in 30 s", d.answered, n);
  return bench_now () - t0;
}

int
main (int argc, char **argv)
{
  g_autofree char *address = NULL, *daemon_path = NULL;
  gboolean quick = FALSE, host_mode = FALSE;
  int rounds = 30, delay_ms = 10, host_count = 64;
  const GOptionEntry entries[] = {
    { "address", 0, 0, G_OPTION_ARG_STRING, &address, "Use the bus at ADDRESS (default: a private one)", "ADDRESS" },
    { "daemon", 0, 0, G_OPTION_ARG_FILENAME, &daemon_path, "aura-progressd to measure", "PATH" },
    { "rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "Cancellations per provider count and side (default 30)", "N" },
    { "delay-ms", 0, 0, G_OPTION_ARG_INT, &delay_ms, "How long a provider takes to stop (default 10)", "MS" },
    { "quick", 0, 0, G_OPTION_ARG_NONE, &quick, "A short run that checks the benchmark works", NULL },
    { "provider-host", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &host_mode, NULL, NULL },
    { "count", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &host_count, NULL, NULL },
    { NULL }
  };
  static const guint counts[] = { 1, 16, 64 };
  g_autoptr(GOptionContext) context = g_option_context_new ("- cancellation benchmark");
  g_autoptr(GError) error = NULL;
  g_autoptr(BenchBus) bb = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autofree char *names_line = NULL, *address_arg = NULL, *count_arg = NULL, *delay_arg = NULL;
  HostHandle host = { 0 };
  GSubprocess *daemon;
  guint serial = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    fprintf (stderr, "bench-cancel: %s\n", error->message);
    return 2;
  }
  if (rounds < 1 || delay_ms < 0 || delay_ms > 10000 || host_count < 1 || host_count > 1024) {
    fprintf (stderr, "bench-cancel: --rounds at least 1, --delay-ms 0-10000\n");
    return 2;
  }
  if (host_mode)
    return provider_host (address, (guint) host_count, (guint) delay_ms);
  if (quick)
    rounds = 3;

  bb = bench_bus_new (address);
  daemon = bench_start_daemon (bb, daemon_path != NULL ? daemon_path : bench_default_daemon (),
                               NULL);

  address_arg = g_strdup_printf ("--address=%s", bb->address);
  count_arg = g_strdup_printf ("--count=%u", counts[G_N_ELEMENTS (counts) - 1]);
  delay_arg = g_strdup_printf ("--delay-ms=%d", delay_ms);
  {
    const char *host_argv[] = { argv[0], "--provider-host", address_arg, count_arg, delay_arg,
                                NULL };
    launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                          G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    host.proc = g_subprocess_launcher_spawnv (launcher, host_argv, &error);
    if (host.proc == NULL)
      bench_fail ("cannot start the provider host: %s", error->message);
  }
  host.in = g_subprocess_get_stdin_pipe (host.proc);
  host.out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (host.proc));
  names_line = g_data_input_stream_read_line (host.out, NULL, NULL, &error);
  if (names_line == NULL)
    bench_fail ("the provider host did not start");
  host.names = g_strsplit (names_line, " ", -1);
  if (g_strv_length (host.names) != counts[G_N_ELEMENTS (counts) - 1])
    bench_fail ("the provider host printed %u names", g_strv_length (host.names));

  for (guint c = 0; c < G_N_ELEMENTS (counts); c++) {
    guint n = counts[c];
    g_autoptr(GArray) ours = g_array_new (FALSE, FALSE, sizeof (double));
    g_autoptr(GArray) base = g_array_new (FALSE, FALSE, sizeof (double));
    g_autofree char *fig50 = NULL, *fig95 = NULL, *target = NULL;
    double o50, b50, o95, b95;

    for (int r = -1; r < rounds; r++) {
      for (int k = 0; k < 2; k++) {
        gboolean is_ours = (k == 0) == (r % 2 == 0);
        double t;

        if (is_ours) {
          g_autofree char *job = g_strdup_printf ("cancel-%u", ++serial);
          if (sd_bus_call_method (bb->control, AURA_BUS_NAME, AURA_OBJECT_PATH, AURA_INTERFACE,
                                  "StartJob", NULL, NULL, "sa{sv}", job, 0) < 0)
            bench_fail ("StartJob %s failed", job);
          host_command (&host, job, n);
          t = cancel_job (bb->control, job, n);
        } else {
          t = cancel_direct (bb->control, host.names, n);
        }
        /* round -1 warms both up */
        if (r >= 0)
          g_array_append_val (is_ours ? ours : base, t);
      }
    }
    o50 = bench_median (ours);
    b50 = bench_median (base);
    o95 = bench_percentile (ours, 95);
    b95 = bench_percentile (base, 95);
    bench_note ("cancel %u providers: CancelJob median %.2f ms p95 %.2f max %.2f; direct median "
                "%.2f ms p95 %.2f max %.2f", n, o50 * 1000, o95 * 1000, bench_max (ours) * 1000,
                b50 * 1000, b95 * 1000, bench_max (base) * 1000);
    fig50 = g_strdup_printf ("cancel: CancelJob reply, %u provider%s answering after %d ms "
                             "(median)", n, n > 1 ? "s" : "", delay_ms);
    fig95 = g_strdup_printf ("cancel: the same, 95th percentile");
    /* The slowest provider's delay is what the caller waits for when it
     * calls them all itself (the baseline): the nominal delay plus the
     * bus, plus whatever the machine adds to 64 timers in one process. */
    target = g_strdup ("<= baseline + 5 ms");
    bench_row (fig50, bench_fmt (o50 * 1000, "ms"), bench_fmt (b50 * 1000, "ms"), o50 / b50,
               target, o50 <= b50 + 0.005);
    bench_row (fig95, bench_fmt (o95 * 1000, "ms"), bench_fmt (b95 * 1000, "ms"), o95 / b95,
               target, o95 <= b95 + 0.005);
  }

  g_output_stream_close (host.in, NULL, NULL);
  g_subprocess_wait (host.proc, NULL, NULL);
  g_object_unref (host.out);
  g_object_unref (host.proc);
  g_strfreev (host.names);
  bench_stop (daemon, "aura-progressd");
  g_object_unref (daemon);
  return 0;
}

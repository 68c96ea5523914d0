/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "bench-common.h"

/* Generous limits: the benchmarks keep thousands of calls in flight and
 * open many connections. */
static const char bus_config[] =
  "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
  " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
  "<busconfig>\n"
  "  <type>session</type>\n"
  "  <listen>unix:dir=%s</listen>\n"
  "  <auth>EXTERNAL</auth>\n"
  "  <policy context=\"default\">\n"
  "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
  "    <allow eavesdrop=\"true\"/>\n"
  "    <allow own=\"*\"/>\n"
  "  </policy>\n"
  "  <limit name=\"max_incoming_bytes\">1000000000</limit>\n"
  "  <limit name=\"max_outgoing_bytes\">1000000000</limit>\n"
  "  <limit name=\"max_message_size\">100000000</limit>\n"
  "  <limit name=\"max_connections_per_user\">100000</limit>\n"
  "  <limit name=\"max_match_rules_per_connection\">50000</limit>\n"
  "  <limit name=\"max_replies_per_connection\">50000</limit>\n"
  "</busconfig>\n";

void
bench_fail (const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  fputs ("bench: ", stderr);
  vfprintf (stderr, format, ap);
  fputc ('\n', stderr);
  va_end (ap);
  exit (1);
}

void
bench_note (const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  vfprintf (stderr, format, ap);
  fputc ('\n', stderr);
  va_end (ap);
}

double
bench_now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- processes ---------------------------------------------------------- */

static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

GSubprocess *
bench_spawn (BenchBus *bb, const char *const *argv, gboolean under_test)
{
  return bench_spawn_flags (bb, argv, under_test, G_SUBPROCESS_FLAGS_NONE);
}

GSubprocess *
bench_spawn_flags (BenchBus *bb, const char *const *argv, gboolean under_test,
                   GSubprocessFlags flags)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);
  g_autoptr(GPtrArray) full = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) wrapper = NULL;
  g_autoptr(GError) error = NULL;
  const char *wrap = g_getenv ("AURA_TEST_WRAPPER");
  static guint n_logs;
  g_autofree char *log = NULL, *base = NULL;
  GSubprocess *proc;

  if (under_test && wrap != NULL && wrap[0] != '\0' &&
      !g_shell_parse_argv (wrap, NULL, &wrapper, &error))
    bench_fail ("AURA_TEST_WRAPPER: %s", error->message);
  for (guint i = 0; wrapper != NULL && wrapper[i] != NULL; i++)
    g_ptr_array_add (full, g_strdup (wrapper[i]));
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, g_strdup (argv[i]));
  g_ptr_array_add (full, NULL);

  /* What the programs say goes to a log, shown when they fail. */
  base = g_path_get_basename (argv[0]);
  log = g_strdup_printf ("%s/%s-%u.log", bb->tmpdir, base, ++n_logs);
  g_subprocess_launcher_set_stderr_file_path (launcher, log);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) full->pdata, &error);
  if (proc == NULL)
    bench_fail ("cannot start %s: %s", argv[0], error->message);
  g_object_set_data_full (G_OBJECT (proc), "bench-log", g_steal_pointer (&log), g_free);
  return proc;
}

static void
print_log (GSubprocess *proc)
{
  const char *log = g_object_get_data (G_OBJECT (proc), "bench-log");
  g_autofree char *contents = NULL;

  if (log != NULL && g_file_get_contents (log, &contents, NULL, NULL))
    fprintf (stderr, "---- %s\n%s---- end of %s\n", log, contents, log);
}

GPid
bench_pid (GSubprocess *proc)
{
  const char *id = g_subprocess_get_identifier (proc);

  if (id == NULL)
    bench_fail ("the process has exited");
  return (GPid) atoi (id);
}

void
bench_stop (GSubprocess *proc, const char *what)
{
  g_autoptr(GError) error = NULL;

  if (proc == NULL)
    return;
  g_subprocess_send_signal (proc, SIGTERM);
  if (!g_subprocess_wait (proc, NULL, &error))
    bench_fail ("waiting for %s: %s", what, error->message);
  if (!g_subprocess_get_if_exited (proc) || g_subprocess_get_exit_status (proc) != 0) {
    print_log (proc);
    bench_fail ("%s did not exit cleanly (%s %d)", what,
                g_subprocess_get_if_exited (proc) ? "status" : "signal",
                g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc)
                                                  : g_subprocess_get_term_sig (proc));
  }
}

const char *
bench_default_daemon (void)
{
  const char *env = g_getenv ("AURA_PROGRESSD");
  return env != NULL ? env : BENCH_PROGRESSD;
}

const char *
bench_default_null_service (void)
{
  const char *env = g_getenv ("AURA_BENCH_NULL_SERVICE");
  return env != NULL ? env : BENCH_NULL_SERVICE;
}

/* ---- the bus ------------------------------------------------------------ */

char *
bench_write_file (BenchBus *bb, const char *name, const char *contents)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (bb->tmpdir, name, NULL);

  if (!g_file_set_contents (path, contents, -1, &error))
    bench_fail ("%s", error->message);
  return path;
}

BenchBus *
bench_bus_new (const char *address)
{
  BenchBus *bb = g_new0 (BenchBus, 1);
  g_autoptr(GError) error = NULL;

  bb->tmpdir = g_dir_make_tmp ("aura-bench-XXXXXX", &error);
  if (bb->tmpdir == NULL)
    bench_fail ("%s", error->message);
  if (address != NULL) {
    bb->address = g_strdup (address);
  } else {
    g_autofree char *config = g_strdup_printf (bus_config, bb->tmpdir);
    g_autofree char *config_path = bench_write_file (bb, "bus.conf", config);
    g_autofree char *arg = g_strdup_printf ("--config-file=%s", config_path);
    const char *argv[] = { "dbus-daemon", arg, "--nofork", "--print-address=1", NULL };
    g_autoptr(GSubprocessLauncher) launcher =
      g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_autoptr(GDataInputStream) out = NULL;

    g_subprocess_launcher_set_stderr_file_path (launcher, "/dev/null");
    g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
    bb->bus_process = g_subprocess_launcher_spawnv (launcher, argv, &error);
    if (bb->bus_process == NULL)
      bench_fail ("cannot start dbus-daemon: %s", error->message);
    out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (bb->bus_process));
    bb->address = g_data_input_stream_read_line (out, NULL, NULL, &error);
    if (bb->address == NULL)
      bench_fail ("dbus-daemon printed no address");
  }
  bb->control = bench_connect (bb);
  return bb;
}

static int
rm_rf (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir == NULL)
    return g_unlink (path);
  while ((name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *child = g_build_filename (path, name, NULL);
    rm_rf (child);
  }
  return g_rmdir (path);
}

void
bench_bus_free (BenchBus *bb)
{
  if (bb == NULL)
    return;
  sd_bus_flush_close_unref (bb->control);
  if (bb->bus_process != NULL) {
    g_subprocess_send_signal (bb->bus_process, SIGTERM);
    g_subprocess_wait (bb->bus_process, NULL, NULL);
    g_object_unref (bb->bus_process);
  }
  rm_rf (bb->tmpdir);
  g_free (bb->tmpdir);
  g_free (bb->address);
  g_free (bb);
}

sd_bus *
bench_connect (BenchBus *bb)
{
  AuraBusOptions options = { .address = bb->address };
  g_autoptr(GError) error = NULL;
  sd_bus *bus = aura_bus_open (&options, AURA_BUS_ADDRESS, "bench", &error);

  if (bus == NULL)
    bench_fail ("%s", error->message);
  return bus;
}

typedef struct {
  const char *name;
  gboolean owned;
} NameWait;

static int
on_name_owner_changed (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  NameWait *w = userdata;
  const char *name, *old_owner, *new_owner;

  if (sd_bus_message_read (m, "sss", &name, &old_owner, &new_owner) >= 0 &&
      strcmp (name, w->name) == 0)
    w->owned = new_owner[0] != '\0';
  return 0;
}

static gboolean
name_owned (gpointer data)
{
  return ((NameWait *) data)->owned;
}

void
bench_wait_name (BenchBus *bb, const char *name)
{
  g_autoptr(sd_bus_slot) slot = NULL;
  g_autoptr(sd_bus_message) reply = NULL;
  NameWait w = { name, FALSE };
  int has = 0, r;

  /* Subscribe first, then ask: no change can slip between the two. */
  r = sd_bus_match_signal (bb->control, &slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus", "NameOwnerChanged", on_name_owner_changed, &w);
  if (r >= 0)
    r = sd_bus_call_method (bb->control, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s", name);
  if (r >= 0)
    r = sd_bus_message_read (reply, "b", &has);
  if (r < 0)
    bench_fail ("cannot watch %s: %s", name, g_strerror (-r));
  w.owned = has;
  if (!bench_run_until (&bb->control, 1, name_owned, &w, 60))
    bench_fail ("%s did not appear on the bus within 60 s", name);
}

GSubprocess *
bench_start_daemon (BenchBus *bb, const char *program, const char *config)
{
  static guint n;
  g_autofree char *state = g_strdup_printf ("%s/state-%u", bb->tmpdir, ++n);
  g_autofree char *address_arg = g_strdup_printf ("--address=%s", bb->address);
  g_autofree char *state_arg = g_strdup_printf ("--state-dir=%s", state);
  g_autofree char *config_arg = NULL;
  const char *argv[5] = { program, address_arg, state_arg, NULL, NULL };
  GSubprocess *proc;

  if (config != NULL) {
    g_autofree char *name = g_strdup_printf ("daemon-%u.conf", n);
    g_autofree char *path = bench_write_file (bb, name, config);
    config_arg = g_strdup_printf ("--config=%s", path);
    argv[3] = config_arg;
  }
  proc = bench_spawn (bb, argv, TRUE);
  bench_wait_name (bb, AURA_BUS_NAME);
  return proc;
}

GSubprocess *
bench_start_null_service (BenchBus *bb, const char *program)
{
  g_autofree char *address_arg = g_strdup_printf ("--address=%s", bb->address);
  const char *argv[] = { program, address_arg, NULL };
  GSubprocess *proc = bench_spawn (bb, argv, FALSE);

  bench_wait_name (bb, BENCH_NULL_NAME);
  return proc;
}

/* ---- /proc -------------------------------------------------------------- */

double
bench_proc_cpu_seconds (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *contents = NULL;
  unsigned long long utime = 0, stime = 0;
  const char *p;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    bench_fail ("cannot read %s", path);
  /* the command name may hold spaces and parentheses: fields follow the
   * last ')' */
  p = strrchr (contents, ')');
  if (p == NULL ||
      sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
              &stime) != 2)
    bench_fail ("cannot parse %s", path);
  return (double) (utime + stime) / (double) sysconf (_SC_CLK_TCK);
}

static guint64
status_field_kb (const char *path, const char *field)
{
  g_autofree char *contents = NULL;
  const char *p;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    bench_fail ("cannot read %s", path);
  for (p = contents; p != NULL && *p != '\0'; p = strchr (p, '\n')) {
    if (*p == '\n')
      p++;
    if (g_str_has_prefix (p, field) && p[strlen (field)] == ':')
      return g_ascii_strtoull (p + strlen (field) + 1, NULL, 10) * 1024;
  }
  bench_fail ("no %s in %s", field, path);
}

guint64
bench_proc_rss (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  return status_field_kb (path, "VmRSS");
}

guint64
bench_proc_wakeups (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  /* (status_field_kb scales by 1024) */
  return status_field_kb (path, "voluntary_ctxt_switches") / 1024;
}

guint64
bench_proc_pss (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/smaps_rollup", (int) pid);
  return status_field_kb (path, "Pss");
}

/* ---- statistics --------------------------------------------------------- */

static gint
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

double
bench_percentile (GArray *values, double p)
{
  double rank;
  guint lo;

  if (values->len == 0)
    return NAN;
  g_array_sort (values, compare_doubles);
  /* nearest rank: the smallest value with at least p % at or below it */
  rank = ceil (p / 100.0 * values->len);
  lo = (guint) CLAMP (rank, 1, values->len) - 1;
  return g_array_index (values, double, lo);
}

double
bench_median (GArray *values)
{
  guint n = values->len;

  if (n == 0)
    return NAN;
  g_array_sort (values, compare_doubles);
  if (n % 2 == 1)
    return g_array_index (values, double, n / 2);
  return (g_array_index (values, double, n / 2 - 1) + g_array_index (values, double, n / 2)) / 2;
}

double
bench_max (GArray *values)
{
  double m = -INFINITY;

  for (guint i = 0; i < values->len; i++)
    m = MAX (m, g_array_index (values, double, i));
  return values->len > 0 ? m : NAN;
}

/* ---- the loop ----------------------------------------------------------- */

gboolean
bench_run_until (sd_bus **buses, guint n, gboolean (*done) (gpointer data), gpointer data,
                 double timeout)
{
  return bench_run_until_tick (buses, n, done, data, timeout, -1);
}

gboolean
bench_run_until_tick (sd_bus **buses, guint n, gboolean (*done) (gpointer data), gpointer data,
                      double timeout, int tick_ms)
{
  g_autofree struct pollfd *fds = g_new0 (struct pollfd, n);
  double deadline = bench_now () + timeout;

  for (;;) {
    gboolean busy = TRUE;
    int wait_ms;

    /* Dispatch until every connection is idle, checking the condition
     * between messages so that a timed run stops when its work is done. */
    while (busy) {
      busy = FALSE;
      for (guint i = 0; i < n; i++) {
        int r = sd_bus_process (buses[i], NULL);
        if (r < 0)
          bench_fail ("bus connection failed: %s", g_strerror (-r));
        if (r > 0)
          busy = TRUE;
        if (done (data))
          return TRUE;
      }
    }
    if (done (data))
      return TRUE;
    wait_ms = (int) ((deadline - bench_now ()) * 1000);
    if (wait_ms <= 0)
      return FALSE;
    if (tick_ms >= 0)
      wait_ms = MIN (wait_ms, tick_ms);
    for (guint i = 0; i < n; i++) {
      uint64_t until = UINT64_MAX;
      int events = sd_bus_get_events (buses[i]);
      if (events < 0)
        bench_fail ("bus connection failed: %s", g_strerror (-events));
      fds[i].fd = sd_bus_get_fd (buses[i]);
      fds[i].events = (short) events;
      fds[i].revents = 0;
      if (sd_bus_get_timeout (buses[i], &until) >= 0 && until != UINT64_MAX) {
        struct timespec ts;
        uint64_t now_us;
        clock_gettime (CLOCK_MONOTONIC, &ts);
        now_us = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
        wait_ms = until <= now_us ? 0 : MIN (wait_ms, (int) ((until - now_us + 999) / 1000));
      }
    }
    if (poll (fds, n, wait_ms) < 0 && errno != EINTR)
      bench_fail ("poll: %s", g_strerror (errno));
  }
}

/* ---- the table ---------------------------------------------------------- */

const char *
bench_fmt (double value, const char *unit)
{
  static char slots[8][64];
  static guint next;
  char *buf = slots[next++ % G_N_ELEMENTS (slots)];
  const char *sep = unit[0] != '\0' && unit[0] != '%' ? " " : "";

  if (isnan (value))
    g_snprintf (buf, sizeof slots[0], "-");
  else if (fabs (value) >= 1000)
    g_snprintf (buf, sizeof slots[0], "%.0f%s%s", value, sep, unit);
  else
    g_snprintf (buf, sizeof slots[0], "%.3g%s%s", value, sep, unit);
  return buf;
}

void
bench_row (const char *figure, const char *ours, const char *baseline, double ratio,
           const char *target, int met)
{
  char ratio_text[32];

  if (isnan (ratio) || isinf (ratio))
    g_snprintf (ratio_text, sizeof ratio_text, "-");
  else
    g_snprintf (ratio_text, sizeof ratio_text, "%.2f", ratio);
  printf ("%s\t%s\t%s\t%s\t%s\t%s\n", figure, ours, baseline, ratio_text,
          target != NULL ? target : "-", met < 0 ? "-" : met ? "yes" : "NO");
  fflush (stdout);
}

void
bench_call_ok (sd_bus *bus, const char *destination, const char *member, const char *types, ...)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  g_autoptr(sd_bus_message) m = NULL, reply = NULL;
  va_list ap;
  int r;

  r = sd_bus_message_new_method_call (bus, &m, destination, AURA_OBJECT_PATH, AURA_INTERFACE,
                                      member);
  if (r >= 0) {
    va_start (ap, types);
    r = sd_bus_message_appendv (m, types, ap);
    va_end (ap);
  }
  if (r >= 0)
    r = sd_bus_call (bus, m, 0, &error, &reply);
  if (r < 0)
    bench_fail ("%s on %s: %s", member, destination,
                error.message != NULL ? error.message : g_strerror (-r));
  sd_bus_error_free (&error);
}

/* SPDX-License-Identifier: MIT */
#pragma once

/* What every delivery benchmark shares: a private bus, the programs it
 * starts (aura-progressd, the null service), the /proc figures of a process,
 * medians and percentiles, a poll loop over several sd-bus connections, and
 * the rows of the result table. */

#include <gio/gio.h>
#include <systemd/sd-bus.h>

#include "aura-bus.h"

G_BEGIN_DECLS

/* The bus name of bench-null-service: the same object path, interface and
 * method signatures as aura-progressd, next to it on the same bus. */
#define BENCH_NULL_NAME "org.aura.Progress.BenchNull"

typedef struct {
  char *tmpdir;                       /* state directories, configs */
  char *address;
  GSubprocess *bus_process;           /* NULL when the bus was given */
  sd_bus *control;                    /* for name waits and setup calls */
} BenchBus;

/* The bus at @address, or, when it is NULL, a private dbus-daemon started
 * now (in a temporary directory, removed by bench_bus_free()). */
BenchBus    *bench_bus_new (const char *address);
void         bench_bus_free (BenchBus *bb);
/* A new started connection; not attached to any loop. */
sd_bus      *bench_connect (BenchBus *bb);
/* Waits (up to 60 s, then exits with an error) until @name is owned. */
void         bench_wait_name (BenchBus *bb, const char *name);
/* Calls @member of org.aura.Progress (or the null service) on
 * @destination and waits for the answer; exits with an error when it fails. */
void         bench_call_ok (sd_bus *bus, const char *destination, const char *member,
                            const char *types, ...);
/* Writes @contents to a new file in the temporary directory. */
char        *bench_write_file (BenchBus *bb, const char *name, const char *contents);

/* Spawns a program that dies with the benchmark, its stderr in a log in
 * the temporary directory (shown by bench_stop() when it fails). Programs
 * under test (aura-progressd, the bridge) get AURA_TEST_WRAPPER in front
 * when it is set (the smoke test under valgrind), tools do not. */
GSubprocess *bench_spawn (BenchBus *bb, const char *const *argv, gboolean under_test);
/* The same with @flags (e.g. G_SUBPROCESS_FLAGS_STDOUT_PIPE to read what it
 * prints). */
GSubprocess *bench_spawn_flags (BenchBus *bb, const char *const *argv, gboolean under_test,
                                GSubprocessFlags flags);
/* Starts aura-progressd on the bus with a fresh state directory and, when
 * @config is not NULL, that configuration (an INI text); waits for its
 * name. */
GSubprocess *bench_start_daemon (BenchBus *bb, const char *program, const char *config);
/* Starts bench-null-service and waits for its name. */
GSubprocess *bench_start_null_service (BenchBus *bb, const char *program);
/* SIGTERM, then waits; exits with an error when the program did not exit
 * cleanly (a valgrind or sanitizer finding under the smoke test). */
void         bench_stop (GSubprocess *proc, const char *what);

/* The program paths, from meson (overridable with --daemon= etc.) */
const char  *bench_default_daemon (void);
const char  *bench_default_null_service (void);

/* /proc figures of a process */
double       bench_proc_cpu_seconds (GPid pid);   /* utime + stime */
guint64      bench_proc_rss (GPid pid);           /* VmRSS, bytes */
guint64      bench_proc_pss (GPid pid);           /* Pss of smaps_rollup, bytes */
guint64      bench_proc_wakeups (GPid pid);       /* voluntary context switches */
GPid         bench_pid (GSubprocess *proc);

double       bench_now (void);                    /* monotonic seconds */

/* Statistics over a GArray of doubles (sorted in place). */
double       bench_median (GArray *values);
double       bench_percentile (GArray *values, double p);   /* p in 0..100 */
double       bench_max (GArray *values);

/* Runs sd_bus_process() on every connection and polls them all until
 * done(data) is TRUE; FALSE when @timeout seconds passed first. */
gboolean     bench_run_until (sd_bus **buses, guint n, gboolean (*done) (gpointer data),
                              gpointer data, double timeout);
/* The same, waking up at least every @tick_ms to ask done() (which may send
 * what is due: a paced load). */
gboolean     bench_run_until_tick (sd_bus **buses, guint n, gboolean (*done) (gpointer data),
                                   gpointer data, double timeout, int tick_ms);

/* One row of the result table, on stdout as tab-separated fields:
 * figure, ours, baseline, ratio, target, met. @ratio NAN prints "-";
 * @met: 1 yes, 0 NO, -1 no target. */
void         bench_row (const char *figure, const char *ours, const char *baseline, double ratio,
                        const char *target, int met);
/* A number with the precision a table wants (3 significant digits, or the
 * integer when larger), and a unit. Returns a static buffer per call slot
 * (up to 8 in one expression). */
const char  *bench_fmt (double value, const char *unit);

/* Exits with status 1 and a message on stderr. */
void         bench_fail (const char *format, ...) G_GNUC_PRINTF (1, 2) G_GNUC_NORETURN;
/* Progress notes on stderr (the table goes to stdout). */
void         bench_note (const char *format, ...) G_GNUC_PRINTF (1, 2);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BenchBus, bench_bus_free)

G_END_DECLS

/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>
#include <systemd/sd-bus.h>

#include "aura-bus.h"

G_BEGIN_DECLS

/**
 * AuraTestBus:
 * A private dbus-daemon in a temporary directory, and the real
 * aura-progressd on it. Programs under test are found through environment
 * variables that meson sets (AURA_PROGRESSD, ...); AURA_TEST_WRAPPER, when
 * set (the valgrind test setup), is put in front of every spawned program.
 */
typedef struct {
  char *tmpdir;
  char *address;
  char *daemon_user;                  /* run aura-progressd as this user (root only) */
  GSubprocess *bus_process;
  GSubprocess *daemon;
  sd_bus *client;                     /* on the default main context */
} AuraTestBus;

AuraTestBus *aura_test_bus_new (void);
/* A bus configured like Debian's system bus (deny by default, only what
 * policy files allow) that includes the project's policy file; for tests
 * that run as root and act as other users. */
AuraTestBus *aura_test_bus_new_system_like (void);
/* Stops everything that still runs; fails the test if the daemon exited with
 * an error (a valgrind or sanitizer finding). */
void         aura_test_bus_free (AuraTestBus *tb);

/* Starts aura-progressd with --address, --state-dir under tmpdir and the
 * extra arguments (NULL-terminated), and waits until it owns its name. */
void         aura_test_bus_start_daemon (AuraTestBus *tb, ...) G_GNUC_NULL_TERMINATED;
void         aura_test_bus_start_daemon_argv (AuraTestBus *tb, const char *const *extra);
/* The same with --config= a file of @config (readable by every user, for a
 * daemon_user). */
void         aura_test_bus_start_daemon_with_config (AuraTestBus *tb, const char *config);
/* SIGTERM, then waits for a clean exit (status 0). */
void         aura_test_bus_stop_daemon (AuraTestBus *tb);
/* Waits until @name has (or has not) an owner on the bus. */
void         aura_test_bus_wait_name (AuraTestBus *tb, const char *name, gboolean owned);

/* A new client connection on the default main context. */
sd_bus      *aura_test_bus_connect (AuraTestBus *tb);
/* Spawns a program (with the wrapper) with the given argv. */
GSubprocess *aura_test_spawn (const char *const *argv, GSubprocessFlags flags);
/* The same with a launcher the caller has set up (file descriptors such as a
 * pseudo-terminal, environment). */
GSubprocess *aura_test_spawn_with_launcher (GSubprocessLauncher *launcher,
                                            const char *const *argv);
/* The same with @prefix put in front of the wrapper, e.g. a shell that sets
 * LISTEN_PID to its own pid and execs the rest. */
GSubprocess *aura_test_spawn_prefixed (GSubprocessLauncher *launcher, const char *const *prefix,
                                       const char *const *argv);
/* The same as another user (by name or uid; setpriv, so root only), with
 * that user's primary group and no supplementary groups. */
GSubprocess *aura_test_spawn_as (const char *user, const char *const *argv,
                                 GSubprocessFlags flags);
/* Spawns a tool that is not under test (busctl, ...) without the wrapper;
 * it dies with the test too. */
GSubprocess *aura_test_spawn_tool (const char *const *argv, GSubprocessFlags flags);
/* The same with a launcher the caller has set up (environment, descriptors). */
GSubprocess *aura_test_spawn_tool_with_launcher (GSubprocessLauncher *launcher,
                                                 const char *const *argv);
/* Whether the tests run slowly (under valgrind): timing bounds relax. */
gboolean     aura_test_is_slow (void);
/* The path of a program under test from its environment variable. */
const char  *aura_test_program (const char *env_name);
/* Deletes a directory and everything in it. */
void         aura_test_remove_tree (const char *path);
/* Writes @contents to a new file in tmpdir and returns its path. */
char        *aura_test_bus_write_file (AuraTestBus *tb, const char *name, const char *contents);

/* Runs the default main context until cond(data) is true. A generous
 * timeout fails the test instead of hanging it; it is a safety net, never
 * the synchronisation itself. */
void         aura_test_wait_until (gboolean (*cond) (gpointer data), gpointer data,
                                   const char *what);

/* Synchronous method call on org.aura.Progress; returns the reply or NULL
 * with *error set to the D-Bus error. */
sd_bus_message *aura_test_call (sd_bus *bus, sd_bus_error *error, const char *member,
                                const char *types, ...);
/* The same, failing the test when the call fails. */
void         aura_test_call_ok (sd_bus *bus, const char *member, const char *types, ...);
/* GetJob's state as a{sv}; fails the test when the call fails. */
GVariant    *aura_test_get_job (sd_bus *bus, const char *job_id);
/* Asserts the call fails with the D-Bus error @error_name. */
void         aura_test_assert_call_error (sd_bus *bus, const char *error_name, const char *member,
                                          const char *types, ...);

/* Collects the signals of org.aura.Progress (and PropertiesChanged) that
 * arrive on a connection, as (member, GVariant of the body) pairs. */
typedef struct {
  char *member;
  char *path;
  GVariant *body;                     /* tuple of the arguments */
} AuraTestSignal;

typedef struct {
  GPtrArray *signals;                 /* AuraTestSignal */
  sd_bus_slot *slot;
} AuraTestRecorder;

AuraTestRecorder *aura_test_recorder_new (sd_bus *bus, const char *match);
void              aura_test_recorder_free (AuraTestRecorder *rec);
guint             aura_test_recorder_count (AuraTestRecorder *rec, const char *member);
/* Waits until at least @n signals named @member arrived. */
void              aura_test_recorder_wait (AuraTestRecorder *rec, const char *member, guint n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraTestBus, aura_test_bus_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraTestRecorder, aura_test_recorder_free)

G_END_DECLS

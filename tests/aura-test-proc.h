/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A program under test (aura-progressctl, aura-demo, ...) whose output the
 * test reads as it comes, while the test's main loop runs: waits are on the
 * output and the exit, never on time. */

typedef struct {
  GInputStream *stream;
  int fd;                             /* a pseudo-terminal's master, or -1 */
  guint fd_source;
  GString *buf;                       /* everything read so far */
  gboolean done;                      /* the end was read */
  char chunk[4096];
} AuraTestReader;

typedef struct {
  char *name;                         /* for messages: the program's base name */
  GSubprocess *proc;
  AuraTestReader out;
  AuraTestReader err;
  gboolean exited;
} AuraTestProc;

/* Starts argv (through aura_test_spawn_with_launcher(), so the valgrind
 * wrapper applies and it dies with the test). With pty_columns > 0 its
 * stdout is a pseudo-terminal that many columns wide; otherwise a pipe.
 * stderr is a pipe. */
AuraTestProc *aura_test_proc_start (const char *const *argv, guint pty_columns);
/* Starts argv the way a terminal window runs a command: in a session of its
 * own whose controlling terminal is a pseudo-terminal @columns wide (its
 * stdin and stdout), so that aura_test_proc_type (p, "\003") is a Ctrl-C.
 * @env: VAR=VALUE strings added to the environment (NULL-terminated, may be
 * NULL). Not wrapped: for scripts, which start the programs under test
 * themselves. */
AuraTestProc *aura_test_proc_start_terminal (const char *const *argv, const char *const *env,
                                             guint columns);
/* Starts argv through @launcher (which it takes; set up by the caller with
 * G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE and, say, an
 * environment). Not wrapped: for tools and shells, not programs under test. */
AuraTestProc *aura_test_proc_start_tool (GSubprocessLauncher *launcher, const char *const *argv);
/* Types @keys into its terminal. */
void          aura_test_proc_type (AuraTestProc *p, const char *keys);
/* Waits for the exit and the end of its output; returns the exit status. A
 * crash, a sanitizer abort or a valgrind finding (exit status 33) fails the
 * test. */
int           aura_test_proc_wait (AuraTestProc *p);
/* Waits until its stdout holds @needle @n times; fails the test (showing
 * the output) when it exits first. */
void          aura_test_proc_wait_output (AuraTestProc *p, const char *needle, guint n);
/* Kills it if it still runs. */
void          aura_test_proc_free (AuraTestProc *p);

/* How often @needle occurs in @haystack. */
guint         aura_test_count (const char *haystack, const char *needle);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraTestProc, aura_test_proc_free)

G_END_DECLS

/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE                     /* posix_openpt() and friends */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "aura-test-bus.h"
#include "aura-test-proc.h"

static void
on_stream_read (GObject *source, GAsyncResult *result, gpointer data)
{
  AuraTestReader *r = data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n <= 0) {
    r->done = TRUE;
    return;
  }
  g_string_append_len (r->buf, r->chunk, n);
  g_input_stream_read_async (r->stream, r->chunk, sizeof r->chunk, G_PRIORITY_DEFAULT, NULL,
                             on_stream_read, r);
}

static void
reader_start_stream (AuraTestReader *r, GInputStream *stream)
{
  r->stream = g_object_ref (stream);
  r->fd = -1;
  r->buf = g_string_new (NULL);
  g_input_stream_read_async (r->stream, r->chunk, sizeof r->chunk, G_PRIORITY_DEFAULT, NULL,
                             on_stream_read, r);
}

/* A pseudo-terminal's master reads EIO once the last slave is closed. */
static gboolean
on_pty_readable (int fd, GIOCondition condition, gpointer data)
{
  AuraTestReader *r = data;
  ssize_t n = read (fd, r->chunk, sizeof r->chunk);

  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  if (n <= 0) {
    r->done = TRUE;
    r->fd_source = 0;
    return G_SOURCE_REMOVE;
  }
  g_string_append_len (r->buf, r->chunk, n);
  return G_SOURCE_CONTINUE;
}

static void
reader_clear (AuraTestReader *r)
{
  g_clear_object (&r->stream);
  if (r->fd_source != 0)
    g_source_remove (r->fd_source);
  if (r->fd >= 0)
    close (r->fd);
  if (r->buf != NULL)
    g_string_free (r->buf, TRUE);
}

static void
on_exited (GObject *source, GAsyncResult *result, gpointer data)
{
  AuraTestProc *p = data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  p->exited = TRUE;
}

/* A pseudo-terminal @columns wide: returns the master, *slave the other end. */
static int
open_pty (guint columns, int *slave)
{
  struct winsize ws = { .ws_row = 24, .ws_col = (unsigned short) columns };
  int master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);

  g_assert_cmpint (master, >=, 0);
  g_assert_cmpint (grantpt (master), ==, 0);
  g_assert_cmpint (unlockpt (master), ==, 0);
  *slave = open (ptsname (master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (*slave, >=, 0);
  g_assert_cmpint (ioctl (*slave, TIOCSWINSZ, &ws), ==, 0);
  return master;
}

static AuraTestProc *
proc_start (GSubprocessLauncher *launcher, const char *const *argv, const char *name,
            gboolean wrapped, int master)
{
  AuraTestProc *p = g_new0 (AuraTestProc, 1);

  p->name = g_path_get_basename (name);
  p->proc = wrapped ? aura_test_spawn_with_launcher (launcher, argv)
                    : aura_test_spawn_tool_with_launcher (launcher, argv);
  /* Drop our copy of the slave, so that the master sees the end. */
  g_object_unref (launcher);
  if (master >= 0) {
    g_unix_set_fd_nonblocking (master, TRUE, NULL);
    p->out.fd = master;
    p->out.buf = g_string_new (NULL);
    p->out.fd_source = g_unix_fd_add (master, G_IO_IN | G_IO_HUP | G_IO_ERR, on_pty_readable,
                                      &p->out);
  } else {
    reader_start_stream (&p->out, g_subprocess_get_stdout_pipe (p->proc));
  }
  reader_start_stream (&p->err, g_subprocess_get_stderr_pipe (p->proc));
  g_subprocess_wait_async (p->proc, NULL, on_exited, p);
  return p;
}

AuraTestProc *
aura_test_proc_start (const char *const *argv, guint pty_columns)
{
  GSubprocessLauncher *launcher;
  int master = -1, slave;

  if (pty_columns > 0) {
    launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
    master = open_pty (pty_columns, &slave);
    g_subprocess_launcher_take_stdout_fd (launcher, slave);
  } else {
    launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                          G_SUBPROCESS_FLAGS_STDERR_PIPE);
  }
  return proc_start (launcher, argv, argv[0], TRUE, master);
}

AuraTestProc *
aura_test_proc_start_terminal (const char *const *argv, const char *const *env, guint columns)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GPtrArray) full = g_ptr_array_new ();
  int slave, master = open_pty (columns, &slave);

  g_subprocess_launcher_take_stdin_fd (launcher, dup (slave));
  g_subprocess_launcher_take_stdout_fd (launcher, slave);
  for (guint i = 0; env != NULL && env[i] != NULL; i++) {
    g_auto(GStrv) kv = g_strsplit (env[i], "=", 2);
    g_subprocess_launcher_setenv (launcher, kv[0], kv[1], TRUE);
  }
  /* util-linux's setsid: a new session, stdin its controlling terminal */
  g_ptr_array_add (full, (gpointer) "setsid");
  g_ptr_array_add (full, (gpointer) "--ctty");
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, (gpointer) argv[i]);
  g_ptr_array_add (full, NULL);
  return proc_start (launcher, (const char *const *) full->pdata, argv[0], FALSE, master);
}

AuraTestProc *
aura_test_proc_start_tool (GSubprocessLauncher *launcher, const char *const *argv)
{
  return proc_start (launcher, argv, argv[0], FALSE, -1);
}

void
aura_test_proc_type (AuraTestProc *p, const char *keys)
{
  gsize len = strlen (keys);

  g_assert_cmpint (p->out.fd, >=, 0);
  g_assert_cmpint (write (p->out.fd, keys, len), ==, (gssize) len);
}

static gboolean
proc_finished (gpointer data)
{
  AuraTestProc *p = data;
  return p->exited && p->out.done && p->err.done;
}

int
aura_test_proc_wait (AuraTestProc *p)
{
  g_autofree char *what = g_strdup_printf ("%s to exit", p->name);

  aura_test_wait_until (proc_finished, p, what);
  if (!g_subprocess_get_if_exited (p->proc))
    g_error ("%s was killed by signal %d; stderr:\n%s", p->name,
             g_subprocess_get_term_sig (p->proc), p->err.buf->str);
  g_assert_cmpint (g_subprocess_get_exit_status (p->proc), !=, 33);
  return g_subprocess_get_exit_status (p->proc);
}

void
aura_test_proc_free (AuraTestProc *p)
{
  if (p == NULL)
    return;
  if (!p->exited) {
    g_subprocess_force_exit (p->proc);
    aura_test_proc_wait (p);
  }
  g_object_unref (p->proc);
  reader_clear (&p->out);
  reader_clear (&p->err);
  g_free (p->name);
  g_free (p);
}

guint
aura_test_count (const char *haystack, const char *needle)
{
  guint n = 0;

  for (const char *s = strstr (haystack, needle); s != NULL; s = strstr (s + 1, needle))
    n++;
  return n;
}

typedef struct {
  AuraTestProc *p;
  const char *needle;
  guint n;
} OutputWait;

static gboolean
output_reached (gpointer data)
{
  OutputWait *w = data;
  /* An exit makes the wait pointless: let the caller's assertion say why. */
  return aura_test_count (w->p->out.buf->str, w->needle) >= w->n || proc_finished (w->p);
}

void
aura_test_proc_wait_output (AuraTestProc *p, const char *needle, guint n)
{
  OutputWait w = { p, needle, n };
  g_autofree char *what = g_strdup_printf ("'%s' x%u in the output of %s", needle, n, p->name);

  aura_test_wait_until (output_reached, &w, what);
  if (aura_test_count (p->out.buf->str, needle) < n)
    g_error ("%s exited before printing '%s' x%u; stdout:\n%s\nstderr:\n%s", p->name, needle, n,
             p->out.buf->str, p->err.buf->str);
}

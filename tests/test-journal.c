/* SPDX-License-Identifier: MIT */
/* Structured logging: run like systemd runs it (stderr connected to the
 * journal, JOURNAL_STREAM set), the daemon sends its job messages to the
 * journal with the job id and correlation id as fields; otherwise it prints
 * plain lines on stderr. A fake journal socket stands in for journald, so
 * this runs as root on a machine without one. */
#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "aura-test-bus.h"

#define JOURNAL_DIR "/run/systemd/journal"
#define JOURNAL_SOCKET JOURNAL_DIR "/socket"
#define JOURNAL_STDOUT JOURNAL_DIR "/stdout"


typedef struct {
  GSocket *socket;
  GPtrArray *entries;                 /* GHashTable field -> value */
} Journal;

static gboolean
on_datagram (GSocket *socket, GIOCondition cond, gpointer data)
{
  Journal *j = data;
  char buf[65536];
  gssize n = g_socket_receive (socket, buf, sizeof buf - 1, NULL, NULL);
  GHashTable *fields;
  g_auto(GStrv) lines = NULL;

  if (n <= 0)
    return G_SOURCE_CONTINUE;
  buf[n] = '\0';
  fields = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  lines = g_strsplit (buf, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    char *eq = strchr (lines[i], '=');
    if (eq != NULL)
      g_hash_table_insert (fields, g_strndup (lines[i], eq - lines[i]), g_strdup (eq + 1));
  }
  g_ptr_array_add (j->entries, fields);
  return G_SOURCE_CONTINUE;
}

typedef struct {
  Journal *journal;
  const char *job_id;
  const char *message_part;
  GHashTable *found;
} Find;

static gboolean
entry_found (gpointer data)
{
  Find *f = data;

  for (guint i = 0; i < f->journal->entries->len; i++) {
    GHashTable *e = f->journal->entries->pdata[i];
    const char *message = g_hash_table_lookup (e, "MESSAGE");
    if (g_strcmp0 (g_hash_table_lookup (e, "AURA_JOB_ID"), f->job_id) == 0 && message != NULL &&
        strstr (message, f->message_part) != NULL) {
      f->found = e;
      return TRUE;
    }
  }
  return FALSE;
}

static void
journal_teardown (gpointer fixture, gconstpointer data)
{
  g_unlink (JOURNAL_SOCKET);
  g_unlink (JOURNAL_STDOUT);
}

static void
test_journal_fields (gpointer fixture, gconstpointer data)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) addr = g_unix_socket_address_new (JOURNAL_SOCKET);
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr(GSubprocess) daemon = NULL;
  g_autofree char *address_arg = g_strdup_printf ("--address=%s", tb->address);
  g_autofree char *state_arg = g_strdup_printf ("--state-dir=%s/state", tb->tmpdir);
  g_autofree char *stream = NULL;
  const char *argv[] = { aura_test_program ("AURA_PROGRESSD"), address_arg, state_arg, NULL };
  Journal journal = { NULL, g_ptr_array_new_with_free_func ((GDestroyNotify) g_hash_table_unref) };
  Find find = { &journal, "job-j", "Completed", NULL };
  GSource *source;
  g_autoptr(GSocketAddress) stdout_addr = g_unix_socket_address_new (JOURNAL_STDOUT);
  g_autoptr(GSocket) stdout_listener = NULL;
  struct stat st;
  int stderr_fd;

  g_mkdir_with_parents (JOURNAL_DIR, 0755);
  journal.socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM, 0, &error);
  g_assert_no_error (error);
  g_socket_bind (journal.socket, addr, FALSE, &error);
  g_assert_no_error (error);
  source = g_socket_create_source (journal.socket, G_IO_IN, NULL);
  g_source_set_callback (source, (GSourceFunc) (void (*) (void)) on_datagram, &journal, NULL);
  g_source_attach (source, NULL);

  /* As under systemd, stderr is a stream connected to journald's stdout
   * socket (GLib checks the peer's path) and JOURNAL_STREAM names it. */
  stdout_listener = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, &error);
  g_assert_no_error (error);
  g_socket_bind (stdout_listener, stdout_addr, FALSE, &error);
  g_assert_no_error (error);
  g_socket_listen (stdout_listener, &error);
  g_assert_no_error (error);
  stderr_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (stderr_fd, >=, 0);
  {
    struct sockaddr_un un = { .sun_family = AF_UNIX, .sun_path = JOURNAL_STDOUT };
    g_assert_cmpint (connect (stderr_fd, (struct sockaddr *) &un, sizeof un), ==, 0);
  }
  g_assert_cmpint (fstat (stderr_fd, &st), ==, 0);
  stream = g_strdup_printf ("%lu:%lu", (unsigned long) st.st_dev, (unsigned long) st.st_ino);
  g_subprocess_launcher_setenv (launcher, "JOURNAL_STREAM", stream, TRUE);
  g_subprocess_launcher_take_stderr_fd (launcher, stderr_fd);
  daemon = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  aura_test_bus_wait_name (tb, AURA_BUS_NAME, TRUE);

  aura_test_call_ok (tb->client, "StartJob", "sa{sv}", "job-j", 1, "correlationId", "s", "corr-42");
  aura_test_call_ok (tb->client, "CompleteJob", "s", "job-j");
  aura_test_wait_until (entry_found, &find, "the journal entry of the completed job");
  g_assert_cmpstr (g_hash_table_lookup (find.found, "AURA_CORRELATION_ID"), ==, "corr-42");
  g_assert_cmpstr (g_hash_table_lookup (find.found, "PRIORITY"), ==, "5");
  g_assert_cmpstr (g_hash_table_lookup (find.found, "GLIB_DOMAIN"), ==, "aura-progress");
  find.message_part = "started by uid";
  g_assert_true (entry_found (&find));

  g_subprocess_send_signal (daemon, SIGTERM);
  g_assert_true (g_subprocess_wait_check (daemon, NULL, &error));
  g_source_destroy (source);
  g_source_unref (source);
  g_object_unref (journal.socket);
  g_ptr_array_unref (journal.entries);
}

static void
test_plain_stderr (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) daemon = NULL;
  g_autofree char *address_arg = g_strdup_printf ("--address=%s", tb->address);
  g_autofree char *state_arg = g_strdup_printf ("--state-dir=%s/state", tb->tmpdir);
  g_autofree char *err = NULL;
  const char *argv[] = { aura_test_program ("AURA_PROGRESSD"), address_arg, state_arg, NULL };

  g_subprocess_launcher_unsetenv (launcher, "JOURNAL_STREAM");
  daemon = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  aura_test_bus_wait_name (tb, AURA_BUS_NAME, TRUE);
  aura_test_call_ok (tb->client, "StartJob", "sa{sv}", "job-p", 1, "correlationId", "s", "corr-7");
  aura_test_call_ok (tb->client, "FailJob", "ss", "job-p", "disk full");
  g_subprocess_send_signal (daemon, SIGTERM);
  g_subprocess_communicate_utf8 (daemon, NULL, NULL, NULL, &err, &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (err, "job job-p: started by uid"));
  g_assert_nonnull (strstr (err, "job job-p: Failed: disk full"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/journal/plain-stderr", test_plain_stderr);
  if (getuid () == 0 && !g_file_test (JOURNAL_SOCKET, G_FILE_TEST_EXISTS) &&
      !g_file_test (JOURNAL_STDOUT, G_FILE_TEST_EXISTS))
    g_test_add_vtable ("/journal/fields", 0, NULL, NULL, test_journal_fields, journal_teardown);
  else
    g_test_message ("not testing journal fields: needs root and no journald on this machine "
                    "(a fake journal socket stands in for it)");
  return g_test_run ();
}

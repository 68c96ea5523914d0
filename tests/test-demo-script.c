/* SPDX-License-Identifier: MIT */
/* tools/demo.sh, the README's first command, run the way a person runs it:
 * in a terminal, with port 8080 (here: a port the test holds) taken. It must
 * say where it listens instead, serve the web UI and a job that moves there
 * and in the terminal, let the cancel it suggests print the provider table,
 * and on Ctrl-C stop everything it started and remove its temporary
 * directory. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "aura-test-bus.h"
#include "aura-test-http.h"
#include "aura-test-proc.h"

#define COLUMNS 100

/* The text between @before and @after in @text (the first occurrence). */
static char *
text_between (const char *text, const char *before, const char *after)
{
  const char *start = strstr (text, before), *end;

  if (start == NULL)
    return NULL;
  start += strlen (before);
  end = strstr (start, after);
  return end == NULL ? NULL : g_strndup (start, end - start);
}

typedef struct {
  AuraTestProc *p;
  gsize from;
} MovesWait;

/* Whether the terminal shows two different percentages since @from: the
 * live line of aura-progressctl watch is redrawn as the job moves. */
static gboolean
terminal_moved (gpointer data)
{
  MovesWait *w = data;
  const char *s = w->p->out.buf->str + w->from;
  int first = -1;

  for (const char *pct = strchr (s, '%'); pct != NULL; pct = strchr (pct + 1, '%')) {
    const char *digits = pct;
    int value;

    while (digits > s && g_ascii_isdigit (digits[-1]))
      digits--;
    if (digits == pct)
      continue;
    value = atoi (digits);
    if (first < 0)
      first = value;
    else if (value != first)
      return TRUE;
  }
  return w->p->exited;
}

/* Waits until the stream has shown a step-progress event of @job_prefix...
 * whose percent is above that of the first one seen for the same job, or
 * (with @stage) one of job @job_prefix in @stage. Returns the job id. */
static char *
wait_job_moves (AuraTestSse *sse, const char *job_prefix, const char *stage)
{
  g_autoptr(GHashTable) first = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint n = 1;; n++) {
    AuraTestSseEvent *ev;
    g_autoptr(JsonParser) parser = json_parser_new ();
    JsonObject *o;
    const char *job;
    gint64 percent;
    gpointer seen;

    aura_test_sse_wait_events (sse, "step-progress", n);
    ev = aura_test_sse_nth (sse, "step-progress", n - 1);
    g_assert_true (json_parser_load_from_data (parser, ev->data, -1, NULL));
    o = json_node_get_object (json_parser_get_root (parser));
    job = json_object_get_string_member (o, "jobId");
    percent = json_object_get_int_member (o, "percent");
    if (!g_str_has_prefix (job, job_prefix))
      continue;
    if (stage != NULL) {
      if (g_strcmp0 (json_object_get_string_member (o, "stage"), stage) == 0)
        return g_strdup (job);
      continue;
    }
    if (!g_hash_table_lookup_extended (first, job, NULL, &seen))
      g_hash_table_insert (first, g_strdup (job), GINT_TO_POINTER ((int) percent));
    else if (percent > GPOINTER_TO_INT (seen))
      return g_strdup (job);
  }
}

/* The processes that carry @mark in their environment: what the script
 * started and did not stop. */
static GString *
find_marked_processes (const char *mark)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
  GString *found = g_string_new (NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = NULL, *environ_ = NULL, *cmdline = NULL;
    gsize len = 0;

    if (!g_ascii_isdigit (name[0]))
      continue;
    path = g_build_filename ("/proc", name, "environ", NULL);
    if (!g_file_get_contents (path, &environ_, &len, NULL))
      continue;                       /* gone meanwhile, or not ours to read */
    for (gsize i = 0; i < len; i += strlen (environ_ + i) + 1) {
      if (g_strcmp0 (environ_ + i, mark) != 0)
        continue;
      g_free (path);
      path = g_build_filename ("/proc", name, "cmdline", NULL);
      g_file_get_contents (path, &cmdline, &len, NULL);
      for (gsize j = 0; cmdline != NULL && j + 1 < len; j++)
        if (cmdline[j] == '\0')
          cmdline[j] = ' ';
      g_string_append_printf (found, "%s: %s\n", name, cmdline != NULL ? cmdline : "?");
      break;
    }
  }
  return found;
}

static void
test_demo_script (void)
{
  const char *script = aura_test_program ("AURA_DEMO_SCRIPT");
  const char *build_root = aura_test_program ("AURA_BUILD_ROOT");
  g_autofree char *tmpdir = g_dir_make_tmp ("aura-demo-test-XXXXXX", NULL);
  g_autoptr(GSocket) taken = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GError) error = NULL;
  g_autofree char *mark = NULL, *env_port = NULL, *env_tmp = NULL, *env_build = NULL;
  g_autofree char *url = NULL, *taken_url = NULL, *address = NULL, *path = NULL;
  g_autofree char *index_url = NULL, *events_url = NULL, *moving = NULL, *stuck = NULL;
  g_autofree char *watch_line = NULL, *new_path = NULL;
  g_autoptr(SoupSession) session = aura_test_session_new ();
  g_autoptr(AuraTestProc) demo = NULL;
  g_autoptr(AuraTestProc) cancel = NULL;
  g_autoptr(AuraTestResponse) index = NULL;
  g_autoptr(AuraTestSse) sse = NULL;
  g_autoptr(GString) left = NULL;
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;
  guint16 port;
  MovesWait moves;

  g_assert_nonnull (tmpdir);
  /* 8080 may be free or not on a machine; the fallback is what is tested:
   * the script is given a port that is taken for sure */
  taken = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (taken, any_port, FALSE, &error));
  g_assert_true (g_socket_listen (taken, &error));
  bound = g_socket_get_local_address (taken, &error);
  g_assert_no_error (error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));

  mark = g_strdup_printf ("AURA_DEMO_TEST_MARK=%d-%u", (int) getpid (), g_random_int ());
  env_port = g_strdup_printf ("AURA_DEMO_PORT=%u", port);
  env_tmp = g_strdup_printf ("TMPDIR=%s", tmpdir);
  env_build = g_strdup_printf ("AURA_DEMO_BUILDDIR=%s", build_root);
  {
    /* ten times as fast: a job takes seconds, not a minute */
    const char *env[] = { env_port, env_tmp, env_build, mark, "AURA_DEMO_SPEED=10", NULL };
    const char *argv[] = { "bash", script, NULL };
    demo = aura_test_proc_start_terminal (argv, env, COLUMNS);
  }
  aura_test_proc_wait_output (demo, "Ctrl-C stops everything.", 1);

  /* it says that the port is taken, and where it listens instead */
  taken_url = g_strdup_printf ("Port %u on 127.0.0.1 is taken by another program", port);
  g_assert_nonnull (strstr (demo->out.buf->str, taken_url));
  url = text_between (demo->out.buf->str, "Open ", " in a browser.");
  g_assert_nonnull (url);
  g_assert_true (g_str_has_prefix (url, "http://127.0.0.1:"));
  g_assert_true (g_str_has_suffix (url, "/"));
  g_free (taken_url);
  taken_url = g_strdup_printf ("http://127.0.0.1:%u/", port);
  g_assert_cmpstr (url, !=, taken_url);

  /* the URL serves the web UI */
  index_url = g_strdup (url);
  index = aura_test_fetch (session, "GET", index_url, NULL, NULL);
  g_assert_cmpuint (index->status, ==, 200);
  g_assert_nonnull (strstr (index->body, "<title>Jobs · aura-progress</title>"));

  /* a job moves on the web: its percent rises on the stream the UI reads */
  events_url = g_strdup_printf ("%sapi/events", url);
  sse = aura_test_sse_open (session, events_url, NULL);
  moving = wait_job_moves (sse, "video-", NULL);
  g_test_message ("%s moves on the web", moving);

  /* and in the terminal: aura-progressctl watch redraws its line */
  watch_line = g_strdup ("aura-progressctl watch video-");
  aura_test_proc_wait_output (demo, watch_line, 1);
  moves.p = demo;
  moves.from = strstr (demo->out.buf->str, watch_line) - demo->out.buf->str;
  aura_test_wait_until (terminal_moved, &moves, "the watched job to move in the terminal");
  g_assert_false (demo->exited);

  /* the lines it says to paste into another terminal work: the cancel of
   * the job that hangs in tts prints the provider table */
  address = text_between (demo->out.buf->str, "export DBUS_SYSTEM_BUS_ADDRESS=", "\r\n");
  path = text_between (demo->out.buf->str, "export PATH=\"", ":$PATH\"");
  g_assert_nonnull (address);
  g_assert_nonnull (path);
  stuck = wait_job_moves (sse, "stuck-", "tts");
  g_assert_cmpstr (stuck, ==, "stuck-1");
  new_path = g_strdup_printf ("PATH=%s:%s", path, g_getenv ("PATH"));
  {
    g_autofree char *env_bus = g_strdup_printf ("DBUS_SYSTEM_BUS_ADDRESS=%s", address);
    const char *argv[] = { "env", env_bus, new_path, "aura-progressctl", "cancel", "stuck-1",
                           NULL };
    cancel = aura_test_proc_start (argv, 0);
  }
  g_assert_cmpint (aura_test_proc_wait (cancel), ==, 0);
  g_assert_nonnull (strstr (cancel->out.buf->str, "PROVIDER"));
  g_assert_nonnull (strstr (cancel->out.buf->str,
                            "LegacyProvider  LLM   no           NotSupported"));
  g_assert_nonnull (strstr (cancel->out.buf->str,
                            "ElevenLabs      TTS   yes          Cancelled"));
  g_assert_nonnull (strstr (cancel->out.buf->str, "Job stuck-1: Canceled"));
  g_clear_pointer (&sse, aura_test_sse_free);

  /* Ctrl-C stops everything: a clean exit, no process left, no files */
  aura_test_proc_type (demo, "\003");
  g_assert_cmpint (aura_test_proc_wait (demo), ==, 0);
  g_assert_nonnull (strstr (demo->out.buf->str, "Stopped."));
  left = find_marked_processes (mark);
  if (left->len > 0)
    g_error ("still running after demo.sh ended:\n%s", left->str);
  dir = g_dir_open (tmpdir, 0, &error);
  g_assert_no_error (error);
  g_assert_null (g_dir_read_name (dir));
  g_assert_cmpint (g_rmdir (tmpdir), ==, 0);
  /* nothing listens at the URL any more */
  {
    g_autofree char *host_port = text_between (url, "http://", "/");
    conn = g_socket_client_connect_to_host (client, host_port, 0, NULL, &error);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  }
  if (demo->err.buf->len > 0)
    g_test_message ("stderr of demo.sh:\n%s", demo->err.buf->str);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/demo-script/terminal-browser-cancel-ctrl-c", test_demo_script);
  return g_test_run ();
}

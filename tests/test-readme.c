/* SPDX-License-Identifier: MIT */
/* The README's examples, run as a reader runs them: against what
 * tools/demo.sh starts (a private bus with aura-progressd, aura-sse-bridge
 * and aura-demo's looping jobs and stalled job), in the environment its
 * export lines set (DBUS_SYSTEM_BUS_ADDRESS, PATH), in order.
 *
 * An example is a ```sh block preceded by a marker line:
 *   <!-- test: expect="TEXT" ... -->         runs to the end, exit status 0,
 *                                            stdout contains every TEXT
 *   <!-- test: stream expect="TEXT" ... -->  runs until stdout contains every
 *                                            TEXT, then gets a Ctrl-C
 * (in TEXT, \" is a quote and \\ a backslash). Every ```sh block that runs
 * one of our clients must be marked. The bridge listens on a port of its own
 * choosing here: 127.0.0.1:8080 in an example is replaced by it. */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "aura-test-bus.h"
#include "aura-test-http.h"
#include "aura-test-proc.h"

typedef struct {
  guint line;                         /* of the block in README.md */
  char *code;
  GPtrArray *expect;                  /* char * */
  gboolean stream;
  gboolean marked;
} Example;

static void
example_free (Example *ex)
{
  g_free (ex->code);
  g_ptr_array_unref (ex->expect);
  g_free (ex);
}

/* Parses the attributes of a marker: stream, expect="TEXT". */
static void
parse_marker (Example *ex, const char *attrs, guint line)
{
  const char *s = attrs;

  while (*s != '\0') {
    while (*s == ' ')
      s++;
    if (g_str_has_prefix (s, "-->"))
      return;
    if (g_str_has_prefix (s, "stream")) {
      ex->stream = TRUE;
      s += strlen ("stream");
    } else if (g_str_has_prefix (s, "expect=\"")) {
      GString *text = g_string_new (NULL);

      for (s += strlen ("expect=\""); *s != '"'; s++) {
        if (*s == '\0')
          g_error ("README.md:%u: unterminated expect=\"", line);
        if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
          s++;
        g_string_append_c (text, *s);
      }
      s++;
      g_ptr_array_add (ex->expect, g_string_free (text, FALSE));
    } else {
      g_error ("README.md:%u: unknown marker attribute at '%s'", line, s);
    }
  }
  g_error ("README.md:%u: a marker ends with -->", line);
}

/* Every ```sh block, with its marker if it has one. */
static GPtrArray *
parse_readme (const char *path)
{
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) lines = NULL;
  GPtrArray *blocks = g_ptr_array_new_with_free_func ((GDestroyNotify) example_free);
  Example *pending = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    if (g_str_has_prefix (lines[i], "<!-- test:")) {
      g_assert_null (pending);
      pending = g_new0 (Example, 1);
      pending->expect = g_ptr_array_new_with_free_func (g_free);
      pending->marked = TRUE;
      parse_marker (pending, lines[i] + strlen ("<!-- test:"), i + 1);
      if (lines[i + 1] == NULL || g_strcmp0 (lines[i + 1], "```sh") != 0)
        g_error ("README.md:%u: a marker must be followed by a ```sh block", i + 1);
    } else if (g_strcmp0 (lines[i], "```sh") == 0) {
      Example *ex = pending != NULL ? pending : g_new0 (Example, 1);
      GString *code = g_string_new (NULL);

      pending = NULL;
      if (ex->expect == NULL)
        ex->expect = g_ptr_array_new_with_free_func (g_free);
      ex->line = i + 1;
      for (i++; lines[i] != NULL && g_strcmp0 (lines[i], "```") != 0; i++)
        g_string_append_printf (code, "%s\n", lines[i]);
      g_assert_nonnull (lines[i]);
      ex->code = g_string_free (code, FALSE);
      g_ptr_array_add (blocks, ex);
    }
  }
  g_assert_null (pending);
  return blocks;
}

/* Whether the block runs one of the clients a reader tries. */
static gboolean
uses_clients (const char *code)
{
  static const char *const tools[] = { "busctl ", "gdbus ", "curl ", "aura-progressctl ",
                                       "aura-demo " };

  for (guint i = 0; i < G_N_ELEMENTS (tools); i++)
    if (strstr (code, tools[i]) != NULL)
      return TRUE;
  return FALSE;
}

typedef struct {
  AuraTestBus *tb;
  AuraTestBridge *bridge;
  char *path;                         /* PATH as the README's export line sets it */
} Setup;

static AuraTestProc *
run_example (Setup *setup, const Example *ex)
{
  g_autofree char *port = g_strdup_printf ("127.0.0.1:%u", setup->bridge->port);
  g_auto(GStrv) parts = g_strsplit (ex->code, "127.0.0.1:8080", -1);
  g_autofree char *code = g_strjoinv (port, parts);
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                             G_SUBPROCESS_FLAGS_STDERR_PIPE);
  /* setsid: a process group of its own, for the Ctrl-C of a stream */
  const char *argv[] = { "setsid", "bash", "-e", "-o", "pipefail", "-c", code, NULL };

  g_subprocess_launcher_setenv (launcher, "DBUS_SYSTEM_BUS_ADDRESS", setup->tb->address, TRUE);
  g_subprocess_launcher_setenv (launcher, "PATH", setup->path, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "DBUS_SESSION_BUS_ADDRESS");
  return aura_test_proc_start_tool (launcher, argv);
}

/* A Ctrl-C kills curl: no exit status to check, only that it ends. */
static gboolean
stopped (gpointer data)
{
  AuraTestProc *p = data;
  return p->exited && p->out.done && p->err.done;
}

static void
check_example (Setup *setup, const Example *ex)
{
  g_autoptr(AuraTestProc) p = run_example (setup, ex);
  int status;

  g_test_message ("README.md:%u:\n%s", ex->line, ex->code);
  if (ex->stream) {
    for (guint i = 0; i < ex->expect->len; i++)
      aura_test_proc_wait_output (p, ex->expect->pdata[i], 1);
    g_assert_false (p->exited);
    /* Ctrl-C, as the reader stops it */
    g_assert_cmpint (kill (-atoi (g_subprocess_get_identifier (p->proc)), SIGINT), ==, 0);
    aura_test_wait_until (stopped, p, "the stream to stop");
    return;
  }
  status = aura_test_proc_wait (p);
  if (status != 0)
    g_error ("README.md:%u: exit status %d\nstdout:\n%s\nstderr:\n%s", ex->line, status,
             p->out.buf->str, p->err.buf->str);
  for (guint i = 0; i < ex->expect->len; i++)
    if (strstr (p->out.buf->str, ex->expect->pdata[i]) == NULL)
      g_error ("README.md:%u: no '%s' in the output:\n%s\nstderr:\n%s", ex->line,
               (const char *) ex->expect->pdata[i], p->out.buf->str, p->err.buf->str);
}

static void
test_readme_examples (void)
{
  g_autoptr(GPtrArray) blocks = parse_readme (aura_test_program ("AURA_README"));
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(AuraTestBridge) bridge = NULL;
  g_autoptr(AuraTestProc) videos = NULL, stuck = NULL;
  g_autofree char *address = NULL, *ctl_dir = NULL, *demo_dir = NULL;
  Setup setup;
  guint n_marked = 0, n_streams = 0;

  /* what tools/demo.sh runs, ten times as fast */
  aura_test_bus_start_daemon (tb, NULL);
  bridge = aura_test_bridge_start (tb, NULL);
  address = g_strdup_printf ("--address=%s", tb->address);
  {
    const char *argv[] = { aura_test_program ("AURA_DEMO"), address, "--job-id=video",
                           "--jobs=3", "--loop", "--speed=10", NULL };
    videos = aura_test_proc_start (argv, 0);
  }
  {
    const char *argv[] = { aura_test_program ("AURA_DEMO"), address, "--job-id=stuck",
                           "--stall-at=tts", "--loop", "--speed=10", NULL };
    stuck = aura_test_proc_start (argv, 0);
  }
  aura_test_proc_wait_output (videos, "video-3: started", 1);
  aura_test_proc_wait_output (stuck, "stuck-1: stalled in tts", 1);

  ctl_dir = g_path_get_dirname (aura_test_program ("AURA_PROGRESSCTL"));
  demo_dir = g_path_get_dirname (aura_test_program ("AURA_DEMO"));
  setup.tb = tb;
  setup.bridge = bridge;
  setup.path = g_strdup_printf ("%s:%s:%s", ctl_dir, demo_dir, g_getenv ("PATH"));

  for (guint i = 0; i < blocks->len; i++) {
    const Example *ex = blocks->pdata[i];

    if (!ex->marked) {
      /* what is not run here must not be an example of our clients */
      if (uses_clients (ex->code))
        g_error ("README.md:%u: an example of our clients without a test marker:\n%s",
                 ex->line, ex->code);
      continue;
    }
    check_example (&setup, ex);
    n_marked++;
    n_streams += ex->stream;
  }
  g_free (setup.path);
  /* a README edit must not lose the examples silently */
  g_assert_cmpuint (n_marked, >=, 7);
  g_assert_cmpuint (n_streams, >=, 1);

  /* the demo's programs stop cleanly (valgrind and sanitizers get their say) */
  g_subprocess_send_signal (videos->proc, SIGTERM);
  g_subprocess_send_signal (stuck->proc, SIGTERM);
  g_assert_cmpint (aura_test_proc_wait (videos), ==, 0);
  g_assert_cmpint (aura_test_proc_wait (stuck), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/readme/examples", test_readme_examples);
  return g_test_run ();
}

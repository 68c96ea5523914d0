/* SPDX-License-Identifier: MIT */
/* aura-progressctl: unit tests of its rendering, and the real binary against
 * the real daemon on a private bus — output (text and --json), exit
 * statuses, live following on a pipe and on a pseudo-terminal, errors. */
#include <json-glib/json-glib.h>
#include <math.h>
#include <signal.h>
#include <string.h>

#include "aura-bus-variant.h"
#include "aura-ctl-format.h"
#include "aura-test-bus.h"
#include "aura-test-proc.h"

/* Exact event counts need every report to be an event. */
static const char no_coalescing[] = "[Timing]\nCoalesceIntervalMs=0\n";

/* ---- unit tests of the rendering ---------------------------------------- */

static void
test_format_duration (void)
{
  const struct { guint64 s; const char *text; } cases[] = {
    { 0, "0 s" }, { 59, "59 s" }, { 60, "1 min 0 s" }, { 125, "2 min 5 s" },
    { 3599, "59 min 59 s" }, { 3600, "1 h 0 min" }, { 7380, "2 h 3 min" },
    { 86400, "1 d 0 h" }, { 90000 + 86400, "2 d 1 h" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *text = aura_ctl_format_duration (cases[i].s);
    g_assert_cmpstr (text, ==, cases[i].text);
  }
}

static void
test_format_bar (void)
{
  g_autofree char *empty = aura_ctl_format_bar (0, 10, FALSE);
  g_autofree char *half = aura_ctl_format_bar (0.5, 10, FALSE);
  g_autofree char *almost = aura_ctl_format_bar (0.999, 10, FALSE);
  g_autofree char *full = aura_ctl_format_bar (1.0, 10, FALSE);
  g_autofree char *over = aura_ctl_format_bar (7.0, 4, FALSE);
  g_autofree char *nan = aura_ctl_format_bar (NAN, 4, FALSE);
  g_autofree char *utf8 = aura_ctl_format_bar (0.25, 4, TRUE);

  g_assert_cmpstr (empty, ==, "[----------]");
  g_assert_cmpstr (half, ==, "[#####-----]");
  /* a bar that looks full means done */
  g_assert_cmpstr (almost, ==, "[#########-]");
  g_assert_cmpstr (full, ==, "[##########]");
  g_assert_cmpstr (over, ==, "[####]");
  g_assert_cmpstr (nan, ==, "[----]");
  g_assert_cmpstr (utf8, ==, "[█░░░]");
  g_assert_cmpuint (aura_ctl_display_width (utf8), ==, 6);
}

static void
test_format_text (void)
{
  g_autofree char *cut = aura_ctl_truncate ("Synthesizing speech", 10, TRUE);
  g_autofree char *cut_ascii = aura_ctl_truncate ("Synthesizing speech", 10, FALSE);
  g_autofree char *fits = aura_ctl_truncate ("short", 5, TRUE);
  g_autofree char *wide = aura_ctl_truncate ("動画を生成しています", 7, TRUE);
  g_autofree char *clean = aura_ctl_sanitize ("two\nlines\t\033[31mred\xc2\x85");
  g_autofree char *padded = aura_ctl_pad ("ä", 3);

  g_assert_cmpstr (cut, ==, "Synthesiz…");
  g_assert_cmpstr (cut_ascii, ==, "Synthes...");
  g_assert_cmpstr (fits, ==, "short");
  /* wide characters take two columns: three of them and the ellipsis */
  g_assert_cmpstr (wide, ==, "動画を…");
  g_assert_cmpuint (aura_ctl_display_width (wide), ==, 7);
  /* no control character survives: one line, no escape sequence */
  g_assert_cmpstr (clean, ==, "two lines  [31mred ");
  g_assert_cmpstr (padded, ==, "ä  ");
}

static void
test_format_table (void)
{
  const char *const headers[] = { "PROVIDER", "TYPE", "WARNING" };
  const char *const row1[] = { "ElevenLabs", "TTS", "" };
  const char *const row2[] = { "LegacyProvider", "LLM", "does not support\ncancellation" };
  g_autoptr(AuraCtlTable) table = aura_ctl_table_new (3, headers);
  g_autofree char *text = NULL;

  aura_ctl_table_add (table, row1);
  aura_ctl_table_add (table, row2);
  g_assert_cmpuint (aura_ctl_table_n_rows (table), ==, 2);
  text = aura_ctl_table_render (table);
  g_assert_cmpstr (text, ==,
                   "PROVIDER        TYPE  WARNING\n"
                   "ElevenLabs      TTS   -\n"
                   "LegacyProvider  LLM   does not support cancellation\n");
}

static GVariant *
parse_dict (const char *text)
{
  g_autoptr(GError) error = NULL;
  GVariant *v = g_variant_parse (G_VARIANT_TYPE_VARDICT, text, NULL, NULL, &error);

  g_assert_no_error (error);
  return v;                           /* not floating */
}

static void
test_format_event (void)
{
  g_autoptr(GVariant) progress = parse_dict (
    "{'jobId': <'job-1'>, 'stage': <'tts'>, 'percent': <uint32 42>, 'etaSeconds': <uint32 80>,"
    " 'message': <'Synthesizing speech'>, 'currentItem': <uint32 4>, 'totalItems': <uint32 10>,"
    " 'status': <'Running'>, 'timestamp': <'not a time'>}");
  g_autoptr(GVariant) unknown_eta = parse_dict (
    "{'jobId': <'job-1'>, 'stage': <'planning'>, 'percent': <uint32 0>, 'status': <'Running'>,"
    " 'substageDetail': <'Frame 3'>, 'timestamp': <'x'>}");
  g_autoptr(GVariant) warning = parse_dict (
    "{'jobId': <'job-1'>, 'message': <'bad\\nnews'>, 'timestamp': <'x'>}");
  g_autoptr(GVariant) heartbeat = parse_dict ("{'status': <'alive'>, 'timestamp': <'x'>}");
  g_autofree char *a = aura_ctl_format_event ("step-progress", 12, progress);
  g_autofree char *b = aura_ctl_format_event ("step-progress", 13, unknown_eta);
  g_autofree char *c = aura_ctl_format_event ("warning", 14, warning);
  g_autofree char *d = aura_ctl_format_event ("heartbeat", 0, heartbeat);

  g_assert_cmpstr (a, ==,
                   "not a time job-1 #12 step-progress tts 42% ETA 1 min 20 s: Synthesizing "
                   "speech (4 of 10)");
  g_assert_cmpstr (b, ==, "x job-1 #13 step-progress planning 0% ETA unknown (Frame 3)");
  g_assert_cmpstr (c, ==, "x job-1 #14 warning: bad news");
  g_assert_cmpstr (d, ==, "x heartbeat alive");
}

static void
test_format_live_line (void)
{
  g_autoptr(GVariant) state = parse_dict (
    "{'jobId': <'job-1'>, 'stage': <'render'>, 'percent': <uint32 87>, 'progress': <0.875>,"
    " 'message': <'Rendering video with a rather long message that will not fit'>,"
    " 'status': <'Running'>}");
  g_autofree char *wide = aura_ctl_format_live_line (state, 95, 2, 200, FALSE);
  g_autofree char *narrow = aura_ctl_format_live_line (state, -1, 0, 40, TRUE);

  g_assert_cmpstr (wide, ==,
                   "render   [##########################----]  87%  ETA 1 min 35 s  Rendering "
                   "video with a rather long message that will not fit  ! 2");
  /* never the last column: a wrapped line cannot be redrawn */
  g_assert_cmpuint (aura_ctl_display_width (narrow), ==, 39);
  g_assert_cmpstr (narrow, ==, "render   [████████░░]  87%  ETA unknow…");
}

/* ---- running the binary ------------------------------------------------- */

/* Starts aura-progressctl --address=... ARGS. With pty_columns > 0 its stdout
 * is a pseudo-terminal that many columns wide; otherwise a pipe. */
static AuraTestProc *
ctl_startv (AuraTestBus *tb, guint pty_columns, const char *const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_strdup (aura_test_program ("AURA_PROGRESSCTL")));
  if (tb != NULL)
    g_ptr_array_add (argv, g_strdup_printf ("--address=%s", tb->address));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);
  return aura_test_proc_start ((const char *const *) argv->pdata, pty_columns);
}

static AuraTestProc *
ctl_start (AuraTestBus *tb, const char *first, ...) G_GNUC_NULL_TERMINATED;

static AuraTestProc *
ctl_start (AuraTestBus *tb, const char *first, ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  va_list ap;

  va_start (ap, first);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  return ctl_startv (tb, 0, (const char *const *) args->pdata);
}

static int
ctl_run (AuraTestBus *tb, char **out, char **err, const char *first, ...) G_GNUC_NULL_TERMINATED;

static int
ctl_run (AuraTestBus *tb, char **out, char **err, const char *first, ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  g_autoptr(AuraTestProc) c = NULL;
  va_list ap;
  int status;

  va_start (ap, first);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  c = ctl_startv (tb, 0, (const char *const *) args->pdata);
  status = aura_test_proc_wait (c);
  if (out != NULL)
    *out = g_strdup (c->out.buf->str);
  if (err != NULL)
    *err = g_strdup (c->err.buf->str);
  return status;
}

/* ---- driving jobs ------------------------------------------------------- */

static void
start_job (sd_bus *bus, const char *id, const char *title)
{
  if (title != NULL)
    aura_test_call_ok (bus, "StartJob", "sa{sv}", id, 1, "title", "s", title);
  else
    aura_test_call_ok (bus, "StartJob", "sa{sv}", id, 0);
}

/* The ids GetEvents gives for a job after @after, in order. */
static GArray *
event_ids (sd_bus *bus, const char *job_id, guint64 after)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  g_autoptr(sd_bus_message) reply = aura_test_call (bus, &error, "GetEvents", "st", job_id, after);
  g_autoptr(GVariant) events = NULL;
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (guint64));
  GVariantIter it;
  guint64 id;

  g_assert_nonnull (reply);
  g_assert_cmpint (aura_bus_message_read_variant (reply, &events), ==, 1);
  g_variant_iter_init (&it, events);
  while (g_variant_iter_next (&it, "(&st@a{sv})", NULL, &id, NULL))
    g_array_append_val (ids, id);
  return ids;
}

static guint64
last_event_id (sd_bus *bus, const char *job_id)
{
  g_autoptr(GArray) ids = event_ids (bus, job_id, 0);

  g_assert_cmpuint (ids->len, >, 0);
  return g_array_index (ids, guint64, ids->len - 1);
}

static AuraTestBus *
bus_with_daemon (void)
{
  AuraTestBus *tb = aura_test_bus_new ();

  aura_test_bus_start_daemon_with_config (tb, no_coalescing);
  return tb;
}

static JsonNode *
parse_json (const char *text)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (parser));
}

/* Parses JSON lines into an array of objects. */
static GPtrArray *
parse_json_lines (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  GPtrArray *nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);

  for (guint i = 0; lines[i] != NULL; i++) {
    if (lines[i][0] == '\0')
      continue;
    g_ptr_array_add (nodes, parse_json (lines[i]));
    g_assert_true (JSON_NODE_HOLDS_OBJECT (nodes->pdata[nodes->len - 1]));
  }
  return nodes;
}

static JsonObject *
nth_object (GPtrArray *nodes, guint i)
{
  return json_node_get_object (nodes->pdata[i]);
}

/* The "#N" ids of the event lines of text output, in order. */
static GArray *
printed_ids (const char *text, const char *skip_type)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (guint64));

  for (guint i = 0; lines[i] != NULL; i++) {
    const char *hash = strstr (lines[i], " #");
    guint64 id;
    if (hash == NULL || (skip_type != NULL && strstr (lines[i], skip_type) != NULL))
      continue;
    id = g_ascii_strtoull (hash + 2, NULL, 10);
    g_array_append_val (ids, id);
  }
  return ids;
}

static void
assert_same_ids (GArray *printed, GArray *expected)
{
  GString *a = g_string_new (NULL), *b = g_string_new (NULL);

  for (guint i = 0; i < printed->len; i++)
    g_string_append_printf (a, "%" G_GUINT64_FORMAT " ", g_array_index (printed, guint64, i));
  for (guint i = 0; i < expected->len; i++)
    g_string_append_printf (b, "%" G_GUINT64_FORMAT " ", g_array_index (expected, guint64, i));
  /* every event once, in order, none missing */
  g_assert_cmpstr (a->str, ==, b->str);
  g_string_free (a, TRUE);
  g_string_free (b, TRUE);
}

/* ---- help and usage ----------------------------------------------------- */

static void
test_help (void)
{
  const char *const commands[] = { "list", "status", "watch", "cancel", "events", "monitor" };
  g_autofree char *out = NULL, *err = NULL, *help_watch = NULL, *watch_help = NULL;
  g_autofree char *version = NULL;

  g_assert_cmpint (ctl_run (NULL, &out, &err, "--help", NULL), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    g_assert_nonnull (strstr (out, commands[i]));
  g_assert_nonnull (strstr (out, "--address"));
  g_assert_nonnull (strstr (out, "Exit status:"));
  g_assert_nonnull (strstr (out, "4    watch: the job was cancelled"));
  g_assert_nonnull (strstr (out, "5    aura-progressd is not running"));
  g_assert_cmpstr (err, ==, "");

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++) {
    g_autofree char *cmd_out = NULL;
    g_autofree char *usage = g_strdup_printf ("aura-progressctl [OPTION…] %s", commands[i]);
    g_assert_cmpint (ctl_run (NULL, &cmd_out, NULL, commands[i], "--help", NULL), ==, 0);
    g_assert_nonnull (strstr (cmd_out, usage));
    g_assert_nonnull (strstr (cmd_out, "--json"));
  }
  g_assert_cmpint (ctl_run (NULL, &help_watch, NULL, "help", "watch", NULL), ==, 0);
  g_assert_cmpint (ctl_run (NULL, &watch_help, NULL, "watch", "--help", NULL), ==, 0);
  g_assert_cmpstr (help_watch, ==, watch_help);
  g_assert_nonnull (strstr (watch_help, "watch JOB"));

  g_assert_cmpint (ctl_run (NULL, &version, NULL, "--version", NULL), ==, 0);
  g_assert_true (g_str_has_prefix (version, "aura-progressctl "));
}

static void
assert_usage_error (AuraTestBus *tb, const char *expected, const char *const *args)
{
  g_autoptr(AuraTestProc) c = ctl_startv (tb, 0, args);

  g_assert_cmpint (aura_test_proc_wait (c), ==, 2);
  g_assert_cmpstr (c->out.buf->str, ==, "");
  if (strstr (c->err.buf->str, expected) == NULL)
    g_error ("expected '%s' in stderr, got: %s", expected, c->err.buf->str);
  g_assert_true (g_str_has_prefix (c->err.buf->str, "aura-progressctl: "));
}

static void
test_usage_errors (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();

  assert_usage_error (tb, "unknown command 'frobnicate'",
                      (const char *const[]) { "frobnicate", NULL });
  assert_usage_error (tb, "missing argument; usage: aura-progressctl watch JOB",
                      (const char *const[]) { "watch", NULL });
  assert_usage_error (tb, "too many arguments",
                      (const char *const[]) { "status", "a", "b", NULL });
  assert_usage_error (tb, "invalid job id 'no/such': job ids are 1-128 characters",
                      (const char *const[]) { "status", "no/such", NULL });
  assert_usage_error (tb, "Unknown option --frob",
                      (const char *const[]) { "list", "--frob", NULL });
  assert_usage_error (tb, "invalid --after 'x1': an event id is a decimal number",
                      (const char *const[]) { "events", "--after", "x1", NULL });
  assert_usage_error (tb, "use only one of --system, --session and --address",
                      (const char *const[]) { "--session", "list", NULL });
  assert_usage_error (tb, "unknown command 'nope'",
                      (const char *const[]) { "help", "nope", NULL });
}

/* ---- errors from the daemon and the bus ----------------------------------- */

static void
test_errors (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autofree char *expected = g_strdup_printf (
    "aura-progressctl: aura-progressd is not running on the bus at %s\n", tb->address);
  const char *const *cases[] = {
    (const char *const[]) { "list", NULL },
    (const char *const[]) { "status", "job-1", NULL },
    (const char *const[]) { "watch", "job-1", NULL },
    (const char *const[]) { "events", "--follow", NULL },
    (const char *const[]) { "cancel", "job-1", NULL },
  };

  /* No daemon: exit status 5 and which bus was asked. */
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(AuraTestProc) c = ctl_startv (tb, 0, cases[i]);
    g_assert_cmpint (aura_test_proc_wait (c), ==, 5);
    g_assert_cmpstr (c->err.buf->str, ==, expected);
  }
  {
    g_autoptr(AuraTestProc) c = ctl_start (NULL, "--address=unix:path=/nonexistent/bus", "list", NULL);
    g_assert_cmpint (aura_test_proc_wait (c), ==, 5);
    g_assert_cmpstr (c->err.buf->str, ==,
                     "aura-progressctl: cannot connect to the bus at "
                     "unix:path=/nonexistent/bus: No such file or directory\n");
  }

  aura_test_bus_start_daemon (tb, NULL);
  {
    const char *const *no_job[] = {
      (const char *const[]) { "status", "nope", NULL },
      (const char *const[]) { "watch", "nope", NULL },
      (const char *const[]) { "events", "nope", NULL },
      (const char *const[]) { "events", "--follow", "nope", NULL },
    };
    for (guint i = 0; i < G_N_ELEMENTS (no_job); i++) {
      g_autoptr(AuraTestProc) c = ctl_startv (tb, 0, no_job[i]);
      g_assert_cmpint (aura_test_proc_wait (c), ==, 1);
      g_assert_cmpstr (c->out.buf->str, ==, "");
      g_assert_cmpstr (c->err.buf->str, ==, "aura-progressctl: no job with id 'nope'\n");
    }
  }
}

/* ---- list and status ---------------------------------------------------- */

static void
test_list (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autofree char *out = NULL, *json = NULL, *bare = NULL, *empty_json = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonArray *jobs;
  JsonObject *first;

  g_assert_cmpint (ctl_run (tb, &out, NULL, "list", NULL), ==, 0);
  g_assert_cmpstr (out, ==, "No jobs.\n");
  g_assert_cmpint (ctl_run (tb, &empty_json, NULL, "--json", "list", NULL), ==, 0);
  g_assert_cmpstr (empty_json, ==, "[]\n");
  g_clear_pointer (&out, g_free);

  start_job (tb->client, "render-1", "Holiday video");
  aura_test_call_ok (tb->client, "ReportTtsProgress", "suuss", "render-1", 5, 10, "ElevenLabs", "");
  start_job (tb->client, "render-2", NULL);
  aura_test_call_ok (tb->client, "FailJob", "ss", "render-2", "out of disk");

  g_assert_cmpint (ctl_run (tb, &out, NULL, "list", NULL), ==, 0);
  {
    g_auto(GStrv) lines = g_strsplit (out, "\n", -1);
    g_assert_cmpuint (g_strv_length (lines), ==, 4);  /* header, 2 jobs, "" */
    g_assert_true (g_str_has_prefix (lines[0], "JOB       STATUS   STAGE     PROGRESS  ETA"));
    g_assert_true (g_str_has_prefix (lines[1], "render-1  Running  tts       40%"));
    g_assert_true (g_str_has_suffix (lines[1], "Holiday video"));
    g_assert_true (g_str_has_prefix (lines[2], "render-2  Failed   planning  0%        -"));
    g_assert_true (g_str_has_suffix (lines[2], "  -"));      /* no title */
  }
  /* no command means list */
  g_assert_cmpint (ctl_run (tb, &bare, NULL, NULL, NULL), ==, 0);
  g_assert_true (g_str_has_prefix (bare, "JOB       STATUS"));
  g_assert_nonnull (strstr (bare, "\nrender-1  Running  tts       40%"));
  g_assert_nonnull (strstr (bare, "\nrender-2  Failed   planning  0%"));

  /* --json after the command works as well as before it */
  g_assert_cmpint (ctl_run (tb, &json, NULL, "list", "--json", NULL), ==, 0);
  root = parse_json (json);
  jobs = json_node_get_array (root);
  g_assert_cmpuint (json_array_get_length (jobs), ==, 2);
  first = json_array_get_object_element (jobs, 0);
  g_assert_cmpstr (json_object_get_string_member (first, "jobId"), ==, "render-1");
  g_assert_cmpstr (json_object_get_string_member (first, "title"), ==, "Holiday video");
  g_assert_cmpint (json_object_get_int_member (first, "percent"), ==, 40);
  g_assert_cmpint (json_object_get_int_member (first, "currentItem"), ==, 6);
  /* absent optional values are null, as in the web API */
  g_assert_true (json_object_has_member (first, "correlationId"));
  g_assert_true (json_object_get_null_member (first, "correlationId"));
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (jobs, 1),
                                                  "status"), ==, "Failed");
}

static void
test_status (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autofree char *out = NULL, *json = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *obj;

  start_job (tb->client, "job-1", "My video");
  aura_test_call_ok (tb->client, "MarkStageCompleted", "ss", "job-1", "planning");
  aura_test_call_ok (tb->client, "ReportLlmProgress", "ssuus", "job-1", "script", 2, 4, "");
  aura_test_call_ok (tb->client, "AddWarning", "ss", "job-1", "LLM answered slowly");
  aura_test_call_ok (tb->client, "AddWarning", "ss", "job-1", "second\nline\033[2J");

  g_assert_cmpint (ctl_run (tb, &out, NULL, "status", "job-1", NULL), ==, 0);
  g_assert_true (g_str_has_prefix (out, "job-1 - My video\n"));
  g_assert_nonnull (strstr (out, "\n      Status: Running\n"
                                 "       Stage: script (2 of 7): Writing the script\n"
                                 "    Progress: [█"));
  g_assert_nonnull (strstr (out, "░] 15%\n         ETA: "));
  g_assert_nonnull (strstr (out, "\n   Completed: planning\n"
                                 "    Warnings: LLM answered slowly\n"
                                 "              second line [2J\n"
                                 "     Started: "));
  g_assert_nonnull (strstr (out, "\n  Last event: #"));
  /* nothing a provider sends can drive the terminal */
  g_assert_null (strchr (out, '\033'));

  g_assert_cmpint (ctl_run (tb, &json, NULL, "--json", "status", "job-1", NULL), ==, 0);
  root = parse_json (json);
  obj = json_node_get_object (root);
  g_assert_cmpstr (json_object_get_string_member (obj, "jobId"), ==, "job-1");
  g_assert_cmpstr (json_object_get_string_member (obj, "stage"), ==, "script");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (obj, "warnings")), ==, 2);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (obj, "warnings"),
                                                  1), ==, "second\nline\033[2J");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (obj, "completedStages")),
                    ==, 1);
  g_assert_cmpint (json_object_get_int_member (obj, "lastEventId"), ==,
                   (gint64) last_event_id (tb->client, "job-1"));
}

/* ---- events ------------------------------------------------------------- */

static void
test_events (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autofree char *out = NULL, *json = NULL, *all = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GArray) ids = NULL, printed = NULL, after_ids = NULL, all_ids = NULL;
  g_autofree char *after = NULL;
  guint64 first;

  start_job (tb->client, "a", NULL);
  start_job (tb->client, "b", NULL);
  aura_test_call_ok (tb->client, "ReportTtsProgress", "suuss", "a", 0, 4, "ElevenLabs", "");
  aura_test_call_ok (tb->client, "AddWarning", "ss", "a", "voice changed");
  aura_test_call_ok (tb->client, "ReportTtsProgress", "suuss", "b", 1, 4, "Piper", "");
  aura_test_call_ok (tb->client, "CompleteJob", "s", "a");

  g_assert_cmpint (ctl_run (tb, &out, NULL, "events", "a", NULL), ==, 0);
  ids = event_ids (tb->client, "a", 0);
  printed = printed_ids (out, NULL);
  assert_same_ids (printed, ids);
  g_assert_nonnull (strstr (out, " a #"));
  g_assert_nonnull (strstr (out, " step-progress tts 25% "));
  g_assert_nonnull (strstr (out, " warning: voice changed\n"));
  g_assert_nonnull (strstr (out, " job-completed: "));
  g_assert_null (strstr (out, " b #"));

  /* --after: only what came later */
  first = g_array_index (ids, guint64, 0);
  after = g_strdup_printf ("%" G_GUINT64_FORMAT, first);
  g_assert_cmpint (ctl_run (tb, &json, NULL, "events", "a", "--after", after, "--json", NULL),
                   ==, 0);
  lines = parse_json_lines (json);
  after_ids = event_ids (tb->client, "a", first);
  g_assert_cmpuint (lines->len, ==, after_ids->len);
  for (guint i = 0; i < lines->len; i++) {
    JsonObject *o = nth_object (lines, i);
    JsonObject *data = json_object_get_object_member (o, "data");
    g_assert_cmpint (json_object_get_int_member (o, "id"), ==,
                     (gint64) g_array_index (after_ids, guint64, i));
    g_assert_cmpint (json_object_get_int_member (data, "eventId"), ==,
                     (gint64) g_array_index (after_ids, guint64, i));
    g_assert_cmpstr (json_object_get_string_member (data, "jobId"), ==, "a");
  }
  g_assert_cmpstr (json_object_get_string_member (nth_object (lines, 0), "event"), ==,
                   "step-progress");
  g_assert_cmpstr (json_object_get_string_member (nth_object (lines, lines->len - 1), "event"),
                   ==, "job-completed");

  /* without a job: every job's */
  g_assert_cmpint (ctl_run (tb, &all, NULL, "events", NULL), ==, 0);
  all_ids = printed_ids (all, NULL);
  {
    g_autoptr(GArray) expected = event_ids (tb->client, "", 0);
    assert_same_ids (all_ids, expected);
  }
  g_assert_nonnull (strstr (all, " b #"));
}

/* events --follow: the history, then live events, each once and in order,
 * even while events happen as it starts; it ends with the job. */
static void
test_events_follow (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) c = NULL;
  g_autoptr(GArray) expected = NULL, printed = NULL;
  g_autofree char *after = NULL;
  guint64 first;

  start_job (tb->client, "job-1", NULL);
  aura_test_call_ok (tb->client, "ReportLlmProgress", "ssuus", "job-1", "brief", 1, 2, "");
  first = last_event_id (tb->client, "job-1");
  aura_test_call_ok (tb->client, "ReportLlmProgress", "ssuus", "job-1", "script", 1, 5, "");
  after = g_strdup_printf ("--after=%" G_GUINT64_FORMAT, first);
  c = ctl_start (tb, "events", "job-1", after, "--follow", NULL);
  /* No waiting: these race with its start on purpose. */
  for (guint i = 2; i <= 5; i++)
    aura_test_call_ok (tb->client, "ReportLlmProgress", "ssuus", "job-1", "script", i, 5, "");
  aura_test_call_ok (tb->client, "AddWarning", "ss", "job-1", "chunk 5 was long");
  aura_test_proc_wait_output (c, "warning: chunk 5 was long", 1);
  g_assert_false (c->exited);         /* still following */
  for (guint i = 0; i < 3; i++)
    aura_test_call_ok (tb->client, "ReportTtsProgress", "suuss", "job-1", i, 3, "ElevenLabs", "");
  aura_test_call_ok (tb->client, "CompleteJob", "s", "job-1");
  g_assert_cmpint (aura_test_proc_wait (c), ==, 0);

  expected = event_ids (tb->client, "job-1", first);
  printed = printed_ids (c->out.buf->str, NULL);
  assert_same_ids (printed, expected);
  g_assert_true (g_str_has_suffix (c->out.buf->str, "job-completed: Job completed\n"));

  /* a finished job: its history, and the end at once */
  {
    g_autofree char *out = NULL;
    g_autoptr(GArray) all = NULL, ids = NULL;
    g_assert_cmpint (ctl_run (tb, &out, NULL, "events", "--follow", "job-1", NULL), ==, 0);
    all = event_ids (tb->client, "job-1", 0);
    ids = printed_ids (out, NULL);
    assert_same_ids (ids, all);
  }
}

/* events --follow without a job follows every job until the daemon goes. */
static void
test_events_follow_all (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) c = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *expected = NULL;

  start_job (tb->client, "x", NULL);
  c = ctl_start (tb, "--json", "events", "--follow", NULL);
  aura_test_proc_wait_output (c, "\"jobId\":\"x\"", 1);
  start_job (tb->client, "y", NULL);
  aura_test_call_ok (tb->client, "CompleteJob", "s", "x");
  aura_test_proc_wait_output (c, "\"event\":\"job-completed\"", 1);
  start_job (tb->client, "z", NULL);
  aura_test_proc_wait_output (c, "\"jobId\":\"z\"", 1);
  g_assert_false (c->exited);
  aura_test_bus_stop_daemon (tb);
  g_assert_cmpint (aura_test_proc_wait (c), ==, 5);
  expected = g_strdup_printf ("aura-progressctl: aura-progressd left the bus at %s\n",
                              tb->address);
  g_assert_cmpstr (c->err.buf->str, ==, expected);
  lines = parse_json_lines (c->out.buf->str);
  {
    g_autoptr(GArray) printed = g_array_new (FALSE, FALSE, sizeof (guint64));
    for (guint i = 0; i < lines->len; i++) {
      guint64 id = (guint64) json_object_get_int_member (nth_object (lines, i), "id");
      g_array_append_val (printed, id);
    }
    /* the daemon is gone: compare with what it emitted, x's 3 and y's and
     * z's start */
    g_assert_cmpuint (printed->len, ==, 5);
    for (guint i = 1; i < printed->len; i++)
      g_assert_cmpuint (g_array_index (printed, guint64, i), >,
                        g_array_index (printed, guint64, i - 1));
  }
}

/* ---- watch -------------------------------------------------------------- */

static void
drive_to_completion (sd_bus *bus, const char *id)
{
  aura_test_call_ok (bus, "ReportLlmProgress", "ssuus", id, "brief", 1, 1, "");
  aura_test_call_ok (bus, "MarkStageCompleted", "ss", id, "planning");
  aura_test_call_ok (bus, "ReportLlmProgress", "ssuus", id, "script", 1, 2, "");
  aura_test_call_ok (bus, "MarkStageCompleted", "ss", id, "script");
  for (guint i = 0; i < 3; i++)
    aura_test_call_ok (bus, "ReportTtsProgress", "suuss", id, i, 3, "ElevenLabs", "");
  aura_test_call_ok (bus, "AddWarning", "ss", id, "scene 2 was re-recorded");
  for (guint i = 0; i < 4; i++)
    aura_test_call_ok (bus, "ReportVisualProgress", "suuss", id, i, 4, "SDXL", "");
  aura_test_call_ok (bus, "ReportProgress", "ssda{sv}", id, "compose", 50.0, 1, "message", "s",
                     "Composing");
  aura_test_call_ok (bus, "ReportFFmpegProgress", "sttdds", id, (uint64_t) 300, (uint64_t) 600,
                     60.0, 10.0, "");
  aura_test_call_ok (bus, "ReportProgress", "ssda{sv}", id, "finalize", 50.0, 0);
  aura_test_call_ok (bus, "CompleteJob", "s", id);
}

/* Off a terminal: one line per event, each once, and status 0 at the end. */
static void
test_watch_lines (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) c = NULL;
  g_autoptr(GArray) expected = NULL, printed = NULL;
  g_auto(GStrv) lines = NULL;
  guint64 state_id;

  start_job (tb->client, "job-1", "Lines");
  c = ctl_start (tb, "watch", "job-1", NULL);
  aura_test_proc_wait_output (c, " state ", 1);
  drive_to_completion (tb->client, "job-1");
  g_assert_cmpint (aura_test_proc_wait (c), ==, 0);
  g_assert_cmpstr (c->err.buf->str, ==, "");

  lines = g_strsplit (c->out.buf->str, "\n", -1);
  g_assert_nonnull (strstr (lines[0], " job-1 #"));
  g_assert_nonnull (strstr (lines[0], " state planning 0% ETA unknown: Job started"));
  state_id = g_ascii_strtoull (strstr (lines[0], " #") + 2, NULL, 10);
  expected = event_ids (tb->client, "job-1", state_id);
  printed = printed_ids (c->out.buf->str, " state ");
  assert_same_ids (printed, expected);
  g_assert_nonnull (strstr (c->out.buf->str, " warning: scene 2 was re-recorded\n"));
  g_assert_nonnull (strstr (c->out.buf->str, " step-progress render 90% "));
  g_assert_nonnull (strstr (c->out.buf->str, "(Frame 300 of 600, 60.0 fps"));
  g_assert_true (g_str_has_suffix (c->out.buf->str, " job-completed: Job completed\n"));
}

static void
test_watch_json (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) c = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  JsonObject *state, *last;

  start_job (tb->client, "job-1", "Json");
  aura_test_call_ok (tb->client, "ReportTtsProgress", "suuss", "job-1", 1, 2, "ElevenLabs", "");
  c = ctl_start (tb, "watch", "--json", "job-1", NULL);
  aura_test_proc_wait_output (c, "\"event\":\"state\"", 1);
  aura_test_call_ok (tb->client, "AddWarning", "ss", "job-1", "careful");
  aura_test_call_ok (tb->client, "FailJob", "ss", "job-1", "TTS quota exhausted");
  g_assert_cmpint (aura_test_proc_wait (c), ==, 3);

  lines = parse_json_lines (c->out.buf->str);
  state = nth_object (lines, 0);
  g_assert_cmpstr (json_object_get_string_member (state, "event"), ==, "state");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (state, "data"),
                                                  "title"), ==, "Json");
  g_assert_cmpstr (json_object_get_string_member (nth_object (lines, 1), "event"), ==, "warning");
  g_assert_cmpstr (json_object_get_string_member (
                     json_object_get_object_member (nth_object (lines, 1), "data"), "message"),
                   ==, "careful");
  last = nth_object (lines, lines->len - 1);
  g_assert_cmpstr (json_object_get_string_member (last, "event"), ==, "job-failed");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (last, "data"),
                                                  "message"), ==, "TTS quota exhausted");
}

/* A job that has already ended: its state and the exit status at once. */
static void
test_watch_finished (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autofree char *out = NULL, *failed = NULL;

  start_job (tb->client, "done", NULL);
  aura_test_call_ok (tb->client, "CompleteJob", "s", "done");
  g_assert_cmpint (ctl_run (tb, &out, NULL, "watch", "done", NULL), ==, 0);
  g_assert_nonnull (strstr (out, " state finalize 100% Completed"));
  start_job (tb->client, "broken", NULL);
  aura_test_call_ok (tb->client, "FailJob", "ss", "broken", "no voice");
  g_assert_cmpint (ctl_run (tb, &failed, NULL, "watch", "broken", NULL), ==, 3);
  g_assert_nonnull (strstr (failed, " Failed: no voice"));
}

static void
test_watch_daemon_lost (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) c = NULL;
  g_autofree char *expected = NULL;

  start_job (tb->client, "job-1", NULL);
  c = ctl_start (tb, "watch", "job-1", NULL);
  aura_test_proc_wait_output (c, " state ", 1);
  aura_test_call_ok (tb->client, "ReportTtsProgress", "suuss", "job-1", 0, 2, "ElevenLabs", "");
  aura_test_proc_wait_output (c, " step-progress tts", 1);
  aura_test_bus_stop_daemon (tb);
  g_assert_cmpint (aura_test_proc_wait (c), ==, 5);
  expected = g_strdup_printf ("aura-progressctl: aura-progressd left the bus at %s before job "
                              "'job-1' ended\n", tb->address);
  g_assert_cmpstr (c->err.buf->str, ==, expected);
}

/* SIGINT: status 130, and the line is ended so the prompt is not glued to it. */
static void
test_watch_interrupted (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) c = NULL;

  start_job (tb->client, "job-1", NULL);
  c = ctl_startv (tb, 80, (const char *const[]) { "watch", "job-1", NULL });
  aura_test_proc_wait_output (c, "ETA", 1);
  g_subprocess_send_signal (c->proc, SIGINT);
  g_assert_cmpint (aura_test_proc_wait (c), ==, 130);
  g_assert_true (g_str_has_suffix (c->out.buf->str, "\r\n"));
}

/* The visible lines of terminal output: what remains after each carriage
 * return redraws the line. */
static GPtrArray *
screen_segments (const char *out)
{
  GPtrArray *segments = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) parts = g_regex_split_simple ("\r\n|\r|\n", out, 0, 0);

  for (guint i = 0; parts[i] != NULL; i++) {
    g_autoptr(GString) s = g_string_new (parts[i]);
    g_string_replace (s, "\033[K", "", 0);
    if (s->len > 0)
      g_ptr_array_add (segments, g_string_free (g_steal_pointer (&s), FALSE));
  }
  return segments;
}

static void
test_watch_terminal (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) c = NULL;
  g_autoptr(GPtrArray) segments = NULL;
  const char *out;
  const guint columns = 72;

  start_job (tb->client, "job-1", NULL);
  aura_test_call_ok (tb->client, "AddWarning", "ss", "job-1", "an old warning");
  c = ctl_startv (tb, columns, (const char *const[]) { "watch", "job-1", NULL });
  aura_test_proc_wait_output (c, "ETA unknown", 1);
  drive_to_completion (tb->client, "job-1");
  g_assert_cmpint (aura_test_proc_wait (c), ==, 0);
  out = c->out.buf->str;

  /* one line redrawn in place, warnings above it, a final line */
  g_assert_nonnull (strstr (out, "⚠ an old warning\r\n"));
  g_assert_nonnull (strstr (out, "\r\033[K⚠ scene 2 was re-recorded\r\n"));
  g_assert_nonnull (strstr (out, "\rtts      ["));
  g_assert_nonnull (strstr (out, "█"));
  g_assert_nonnull (strstr (out, "░"));
  g_assert_nonnull (strstr (out, "ETA "));
  g_assert_nonnull (strstr (out, "⚠ 2"));
  g_assert_true (g_str_has_suffix (out, "\r\033[Kfinalize [████████████████████] 100%  Completed: "
                                        "Job completed\r\n"));
  /* no line longer than the terminal: a wrapped line could not be redrawn */
  segments = screen_segments (out);
  g_assert_cmpuint (segments->len, >, 10);
  for (guint i = 0; i < segments->len; i++)
    g_assert_cmpuint (aura_ctl_display_width (segments->pdata[i]), <, columns);
}

/* ---- monitor ------------------------------------------------------------ */

static void
test_monitor (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(AuraTestProc) c = NULL, j = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  gboolean saw_heartbeat = FALSE, saw_progress = FALSE, saw_gone = FALSE;

  /* It waits for a daemon that is not there yet. */
  c = ctl_start (tb, "monitor", NULL);
  aura_test_proc_wait_output (c, "daemon: aura-progressd is not on the bus at", 1);
  aura_test_bus_start_daemon (tb, "--heartbeat-interval=0.05", NULL);
  aura_test_proc_wait_output (c, "daemon: aura-progressd is on the bus at", 1);
  aura_test_proc_wait_output (c, " heartbeat alive\n", 1);
  start_job (tb->client, "m-1", NULL);
  aura_test_call_ok (tb->client, "AddWarning", "ss", "m-1", "look out");
  aura_test_call_ok (tb->client, "CompleteJob", "s", "m-1");
  aura_test_proc_wait_output (c, " m-1 #", 4);
  aura_test_proc_wait_output (c, "job-completed: Job completed\n", 1);

  j = ctl_start (tb, "--json", "monitor", NULL);
  aura_test_proc_wait_output (j, "\"event\":\"daemon\"", 1);
  aura_test_proc_wait_output (j, "\"event\":\"heartbeat\"", 1);
  start_job (tb->client, "m-2", NULL);
  aura_test_proc_wait_output (j, "\"jobId\":\"m-2\"", 1);
  aura_test_bus_stop_daemon (tb);
  aura_test_proc_wait_output (c, "daemon: aura-progressd is not on the bus at", 2);
  aura_test_proc_wait_output (j, "\"status\":\"unavailable\"", 1);

  /* It keeps going after the daemon left; Ctrl-C ends it well. */
  g_assert_false (c->exited);
  g_subprocess_send_signal (c->proc, SIGINT);
  g_subprocess_send_signal (j->proc, SIGTERM);
  g_assert_cmpint (aura_test_proc_wait (c), ==, 0);
  g_assert_cmpint (aura_test_proc_wait (j), ==, 0);
  g_assert_nonnull (strstr (c->out.buf->str, " m-1 #"));
  g_assert_nonnull (strstr (c->out.buf->str, " warning: look out\n"));

  lines = parse_json_lines (j->out.buf->str);
  for (guint i = 0; i < lines->len; i++) {
    JsonObject *o = nth_object (lines, i);
    const char *event = json_object_get_string_member (o, "event");
    JsonObject *data = json_object_get_object_member (o, "data");
    if (strcmp (event, "heartbeat") == 0) {
      g_assert_cmpstr (json_object_get_string_member (data, "status"), ==, "alive");
      g_assert_false (json_object_has_member (o, "id"));
      saw_heartbeat = TRUE;
    } else if (strcmp (event, "step-progress") == 0) {
      g_assert_cmpstr (json_object_get_string_member (data, "jobId"), ==, "m-2");
      g_assert_true (json_object_has_member (o, "id"));
      saw_progress = TRUE;
    } else if (strcmp (event, "daemon") == 0 &&
               strcmp (json_object_get_string_member (data, "status"), "unavailable") == 0) {
      saw_gone = TRUE;
    }
  }
  g_assert_true (saw_heartbeat && saw_progress && saw_gone);
}

/* ---- cancel ------------------------------------------------------------- */

#define LEGACY_WARNING "Provider LegacyProvider (LLM) does not support cancellation. Operation " \
                       "may continue until completion."

/* A demo job whose providers are at work in @stage: it stalls there until
 * it is cancelled. */
static AuraTestProc *
demo_start_stalled (AuraTestBus *tb, const char *job_id, const char *stage)
{
  g_autofree char *address = g_strdup_printf ("--address=%s", tb->address);
  g_autofree char *job = g_strdup_printf ("--job-id=%s", job_id);
  g_autofree char *stall = g_strdup_printf ("--stall-at=%s", stage);
  g_autofree char *stalled = g_strdup_printf ("%s: stalled in %s", job_id, stage);
  const char *const argv[] = {
    aura_test_program ("AURA_DEMO"), address, job, "--speed=50", "--seed=1", stall, NULL,
  };
  AuraTestProc *demo = aura_test_proc_start (argv, 0);

  aura_test_proc_wait_output (demo, stalled, 1);
  return demo;
}

/* The table of what each provider answered: the TTS engine at work stopped,
 * the legacy LLM cannot; the demo pipeline stops and exits. */
static void
test_cancel_table (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) demo = demo_start_stalled (tb, "film-1", "tts");
  g_autofree char *out = NULL, *err = NULL, *again = NULL;

  g_assert_cmpint (ctl_run (tb, &out, &err, "cancel", "film-1", NULL), ==, 0);
  g_assert_cmpstr (err, ==, "");
  g_assert_cmpstr (out, ==,
                   "PROVIDER        TYPE  CANCELLABLE  STATUS        WARNING\n"
                   "LegacyProvider  LLM   no           NotSupported  " LEGACY_WARNING "\n"
                   "ElevenLabs      TTS   yes          Cancelled     -\n"
                   "\n"
                   "Job film-1: Canceled\n"
                   "All providers cancelled or reported as not supporting cancellation\n"
                   "Cleanup of completed stages scheduled: yes\n"
                   "Correlation id: demo-1\n");
  /* the demo honoured it: it stopped, said so, and exited */
  g_assert_cmpint (aura_test_proc_wait (demo), ==, 0);
  g_assert_nonnull (strstr (demo->out.buf->str, "film-1: cancelled in tts after "));
  g_assert_nonnull (strstr (demo->out.buf->str, "; stopped: ElevenLabs; rollback markers: "
                                                "planning, script\n"));

  /* once is enough */
  g_assert_cmpint (ctl_run (tb, NULL, &again, "cancel", "film-1", NULL), ==, 1);
  g_assert_cmpstr (again, ==, "aura-progressctl: job 'film-1' is Canceled; only running jobs "
                              "accept this\n");
}

static void
test_cancel_json (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) demo = demo_start_stalled (tb, "film-2", "render");
  g_autofree char *out = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *obj, *legacy, *ffmpeg;
  JsonArray *providers, *warnings;

  g_assert_cmpint (ctl_run (tb, &out, NULL, "cancel", "--json", "film-2", NULL), ==, 0);
  g_assert_cmpint (aura_test_proc_wait (demo), ==, 0);
  g_assert_nonnull (strstr (demo->out.buf->str, "; stopped: FFmpeg; rollback markers: planning, "
                                                "script, tts, visuals, compose\n"));

  /* the web API's cancel response */
  root = parse_json (out);
  obj = json_node_get_object (root);
  g_assert_cmpstr (json_object_get_string_member (obj, "jobId"), ==, "film-2");
  g_assert_cmpstr (json_object_get_string_member (obj, "currentStatus"), ==, "Canceled");
  g_assert_cmpstr (json_object_get_string_member (obj, "message"), ==,
                   "All providers cancelled or reported as not supporting cancellation");
  g_assert_true (json_object_get_boolean_member (obj, "cleanupScheduled"));
  g_assert_cmpstr (json_object_get_string_member (obj, "correlationId"), ==, "demo-1");
  providers = json_object_get_array_member (obj, "providerStatuses");
  g_assert_cmpuint (json_array_get_length (providers), ==, 2);
  legacy = json_array_get_object_element (providers, 0);
  g_assert_cmpstr (json_object_get_string_member (legacy, "providerName"), ==, "LegacyProvider");
  g_assert_cmpstr (json_object_get_string_member (legacy, "providerType"), ==, "LLM");
  g_assert_false (json_object_get_boolean_member (legacy, "supportsCancellation"));
  g_assert_cmpstr (json_object_get_string_member (legacy, "status"), ==, "NotSupported");
  g_assert_cmpstr (json_object_get_string_member (legacy, "warning"), ==, LEGACY_WARNING);
  ffmpeg = json_array_get_object_element (providers, 1);
  g_assert_cmpstr (json_object_get_string_member (ffmpeg, "providerName"), ==, "FFmpeg");
  g_assert_cmpstr (json_object_get_string_member (ffmpeg, "providerType"), ==, "FFmpeg");
  g_assert_true (json_object_get_boolean_member (ffmpeg, "supportsCancellation"));
  g_assert_cmpstr (json_object_get_string_member (ffmpeg, "status"), ==, "Cancelled");
  /* as in the seed: no warning member when there is none */
  g_assert_false (json_object_has_member (ffmpeg, "warning"));
  warnings = json_object_get_array_member (obj, "warnings");
  g_assert_cmpuint (json_array_get_length (warnings), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (warnings, 0), ==, LEGACY_WARNING);
}

static void
test_cancel_errors (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autofree char *out = NULL, *err = NULL, *json = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *obj;

  g_assert_cmpint (ctl_run (tb, &out, &err, "cancel", "nope", NULL), ==, 1);
  g_assert_cmpstr (out, ==, "");
  g_assert_cmpstr (err, ==, "aura-progressctl: no job with id 'nope'\n");

  /* no providers: nobody to ask, the job is cancelled at once */
  start_job (tb->client, "quiet", NULL);
  g_assert_cmpint (ctl_run (tb, &json, NULL, "--json", "cancel", "quiet", NULL), ==, 0);
  root = parse_json (json);
  obj = json_node_get_object (root);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (obj, "providerStatuses")),
                    ==, 0);
  g_assert_false (json_object_get_boolean_member (obj, "cleanupScheduled"));
  g_assert_true (json_object_get_null_member (obj, "correlationId"));
}

/* watch ends with status 4 when the job is cancelled. */
static void
test_watch_cancelled (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) watch = NULL;
  g_autofree char *out = NULL;

  start_job (tb->client, "job-1", NULL);
  aura_test_call_ok (tb->client, "MarkStageCompleted", "ss", "job-1", "planning");
  watch = ctl_start (tb, "watch", "job-1", NULL);
  aura_test_proc_wait_output (watch, " state ", 1);
  g_assert_cmpint (ctl_run (tb, &out, NULL, "cancel", "job-1", NULL), ==, 0);
  g_assert_true (g_str_has_prefix (out, "No providers were registered for this job.\n\n"
                                        "Job job-1: Canceled\n"));
  g_assert_cmpint (aura_test_proc_wait (watch), ==, 4);
  g_assert_true (g_str_has_suffix (watch->out.buf->str,
                                   " job-cancelled: All providers cancelled or reported as not "
                                   "supporting cancellation\n"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ctl/format/duration", test_format_duration);
  g_test_add_func ("/ctl/format/bar", test_format_bar);
  g_test_add_func ("/ctl/format/text", test_format_text);
  g_test_add_func ("/ctl/format/table", test_format_table);
  g_test_add_func ("/ctl/format/event", test_format_event);
  g_test_add_func ("/ctl/format/live-line", test_format_live_line);
  g_test_add_func ("/ctl/help", test_help);
  g_test_add_func ("/ctl/usage-errors", test_usage_errors);
  g_test_add_func ("/ctl/errors", test_errors);
  g_test_add_func ("/ctl/list", test_list);
  g_test_add_func ("/ctl/status", test_status);
  g_test_add_func ("/ctl/events", test_events);
  g_test_add_func ("/ctl/events-follow", test_events_follow);
  g_test_add_func ("/ctl/events-follow-all", test_events_follow_all);
  g_test_add_func ("/ctl/watch/lines", test_watch_lines);
  g_test_add_func ("/ctl/watch/json", test_watch_json);
  g_test_add_func ("/ctl/watch/finished", test_watch_finished);
  g_test_add_func ("/ctl/watch/daemon-lost", test_watch_daemon_lost);
  g_test_add_func ("/ctl/watch/interrupted", test_watch_interrupted);
  g_test_add_func ("/ctl/watch/terminal", test_watch_terminal);
  g_test_add_func ("/ctl/monitor", test_monitor);
  g_test_add_func ("/ctl/watch/cancelled", test_watch_cancelled);
  g_test_add_func ("/ctl/cancel/table", test_cancel_table);
  g_test_add_func ("/ctl/cancel/json", test_cancel_json);
  g_test_add_func ("/ctl/cancel/errors", test_cancel_errors);
  return g_test_run ();
}

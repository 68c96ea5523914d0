/* SPDX-License-Identifier: MIT */
/* Integration tests of aura-sse-bridge: a private dbus-daemon, the real
 * aura-progressd and aura-sse-bridge binaries, and real HTTP clients
 * (libsoup's client for streams and requests, raw sockets for what no
 * well-behaved client sends and for clients that stop reading). */
#include <string.h>

#include "aura-bus-variant.h"
#include "aura-json.h"
#include "aura-sse-format.h"
#include "aura-test-http.h"

typedef struct {
  AuraTestBus *tb;
  AuraTestBridge *bridge;
  SoupSession *session;
} Env;

static gboolean
slow (void)
{
  return g_getenv ("AURA_TEST_SLOW") != NULL;
}

/* A bus, the daemon (with @daemon_conf as its configuration, if any) and
 * the bridge with the extra arguments. */
static Env *
env_new_argv (const char *daemon_conf, const char *const *bridge_args)
{
  Env *env = g_new0 (Env, 1);

  env->tb = aura_test_bus_new ();
  if (daemon_conf != NULL) {
    g_autofree char *path = aura_test_bus_write_file (env->tb, "daemon.conf", daemon_conf);
    g_autofree char *arg = g_strdup_printf ("--config=%s", path);
    aura_test_bus_start_daemon (env->tb, arg, NULL);
  } else {
    aura_test_bus_start_daemon (env->tb, NULL);
  }
  env->bridge = aura_test_bridge_start_argv (env->tb, bridge_args);
  env->session = aura_test_session_new ();
  return env;
}

static Env *
env_new (const char *daemon_conf, ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  va_list ap;

  va_start (ap, daemon_conf);
  for (const char *a = va_arg (ap, const char *); a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  return env_new_argv (daemon_conf, (const char *const *) args->pdata);
}

static void
env_free (Env *env)
{
  g_object_unref (env->session);
  /* the bridge exits cleanly (valgrind- and sanitizer-clean) */
  aura_test_bridge_stop (env->bridge);
  aura_test_bus_free (env->tb);
  g_free (env);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Env, env_free)

static char *
url (Env *env, const char *path)
{
  return aura_test_bridge_url (env->bridge, path);
}

static AuraTestSse *
open_stream (Env *env, const char *path, const char *last_event_id)
{
  g_autofree char *u = url (env, path);
  return aura_test_sse_open (env->session, u, last_event_id);
}

static AuraTestResponse *
fetch (Env *env, const char *method, const char *path, const char *const *headers)
{
  g_autofree char *u = url (env, path);
  return aura_test_fetch (env->session, method, u, headers, NULL);
}

/* Polls a figure of /metrics until it has @value (for what has no event a
 * client could wait for, like the bridge noticing a closed connection). */
static gboolean
on_poll_tick (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
flag_set (gpointer data)
{
  return *(gboolean *) data;
}

static void
wait_metric (Env *env, const char *name, guint64 value)
{
  g_autofree char *what = g_strdup_printf ("%s to be %" G_GUINT64_FORMAT, name, value);

  for (guint i = 0; aura_test_bridge_metric (env->bridge, env->session, name) != value; i++) {
    gboolean ticked = FALSE;
    if (i > 2400)
      g_error ("timed out waiting for %s", what);
    g_timeout_add (50, on_poll_tick, &ticked);
    aura_test_wait_until (flag_set, &ticked, what);
  }
}

/* Every coalesced report becomes an event at once: counts are exact. */
static const char no_coalescing[] = "[Timing]\nCoalesceIntervalMs=0\n";

/* ---- the daemon side --------------------------------------------------- */

static void
call_ok (sd_bus *bus, const char *member, const char *types, ...)
{
  g_autoptr(sd_bus_message) m = NULL, reply = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  va_list ap;
  int r;

  r = sd_bus_message_new_method_call (bus, &m, AURA_BUS_NAME, AURA_OBJECT_PATH, AURA_INTERFACE,
                                      member);
  g_assert_cmpint (r, >=, 0);
  va_start (ap, types);
  r = sd_bus_message_appendv (m, types, ap);
  va_end (ap);
  g_assert_cmpint (r, >=, 0);
  r = sd_bus_call (bus, m, 0, &error, &reply);
  if (r < 0)
    g_error ("%s failed: %s: %s", member, error.name, error.message);
}

static void
start_job (Env *env, const char *id)
{
  call_ok (env->tb->client, "StartJob", "sa{sv}", id, 1, "correlationId", "s", "corr-1");
}

static void
report (Env *env, const char *id, const char *stage, double percent, const char *message)
{
  call_ok (env->tb->client, "ReportProgress", "ssda{sv}", id, stage, percent, 1, "message", "s",
           message);
}

static void
complete (Env *env, const char *id)
{
  call_ok (env->tb->client, "CompleteJob", "s", id);
}

/* The daemon's history of a job: (type, id, payload as the API's JSON). */
typedef struct {
  char *type;
  guint64 id;
  char *json;
} HistoryEvent;

static void
history_event_free (gpointer data)
{
  HistoryEvent *ev = data;
  g_free (ev->type);
  g_free (ev->json);
  g_free (ev);
}

static GPtrArray *
history (Env *env, const char *job_id, guint64 after)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  g_autoptr(sd_bus_message) reply = aura_test_call (env->tb->client, &error, "GetEvents", "st",
                                                    job_id, after);
  g_autoptr(GVariant) events = NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func (history_event_free);
  GVariantIter iter;
  const char *type;
  guint64 id;
  GVariant *payload;

  g_assert_nonnull (reply);
  g_assert_cmpint (aura_bus_message_read_variant (reply, &events), ==, 1);
  g_variant_iter_init (&iter, events);
  while (g_variant_iter_next (&iter, "(&st@a{sv})", &type, &id, &payload)) {
    HistoryEvent *ev = g_new0 (HistoryEvent, 1);
    g_autoptr(JsonNode) node = aura_json_from_event_payload (type, payload);
    ev->type = g_strdup (type);
    ev->id = id;
    ev->json = aura_json_to_string (node);
    g_ptr_array_add (out, ev);
    g_variant_unref (payload);
  }
  return out;
}

static guint64
event_id (const AuraTestSseEvent *ev)
{
  g_assert_nonnull (ev->id);
  return g_ascii_strtoull (ev->id, NULL, 10);
}

static JsonObject *
event_object (const AuraTestSseEvent *ev, JsonNode **holder)
{
  g_autoptr(GError) error = NULL;

  *holder = json_from_string (ev->data, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (*holder));
  return json_node_get_object (*holder);
}

/* The ids of a stream's events (heartbeats have none), in order. */
static GArray *
stream_ids (AuraTestSse *sse)
{
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (guint64));

  for (guint i = 0; i < sse->events->len; i++) {
    AuraTestSseEvent *ev = sse->events->pdata[i];
    guint64 id;
    if (strcmp (ev->type, "heartbeat") == 0) {
      g_assert_null (ev->id);
      continue;
    }
    id = event_id (ev);
    g_array_append_val (ids, id);
  }
  return ids;
}

/* ---- the wire format, without a server --------------------------------- */

static void
test_format (void)
{
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GBytes) hb = NULL;
  const char *hb_text;

  /* every kind of line break in a payload starts a new data: line */
  aura_sse_append_event (out, "warning", 42, "one\ntwo\r\nthree\rfour");
  g_assert_cmpstr (out->str, ==,
                   "id: 42\nevent: warning\ndata: one\ndata: two\ndata: three\ndata: four\n\n");

  g_string_truncate (out, 0);
  aura_sse_append_event (out, "step-progress", 7, "{}");
  aura_sse_append_retry (out, 1000);
  g_assert_cmpstr (out->str, ==, "id: 7\nevent: step-progress\ndata: {}\n\nretry: 1000\n\n");

  /* an empty payload still makes one data: line, a trailing break a second */
  g_string_truncate (out, 0);
  aura_sse_append_event (out, "x", 1, "a\n");
  g_assert_cmpstr (out->str, ==, "id: 1\nevent: x\ndata: a\ndata: \n\n");

  /* a heartbeat has no id */
  hb = aura_sse_heartbeat_new (1764168000123000, "daemon-unavailable");
  hb_text = g_bytes_get_data (hb, NULL);
  g_assert_cmpstr (hb_text, ==,
                   "event: heartbeat\n"
                   "data: {\"timestamp\":\"2025-11-26T14:40:00.123Z\",\"status\":\"daemon-unavailable\"}\n\n");
}

/* ---- one job's stream, live -------------------------------------------- */

static void
assert_header (SoupMessageHeaders *headers, const char *name, const char *value)
{
  g_assert_cmpstr (soup_message_headers_get_one (headers, name), ==, value);
}

static void
test_stream_live (void)
{
  g_autoptr(Env) env = env_new (no_coalescing, "--heartbeat-interval=600", NULL);
  g_autoptr(AuraTestSse) sse = NULL, replay = NULL;
  g_autoptr(GPtrArray) hist = NULL;
  g_autoptr(JsonNode) n0 = NULL, n1 = NULL, n2 = NULL, n4 = NULL;
  g_autofree char *expected_start = NULL;
  SoupMessageHeaders *headers;
  JsonObject *o;
  guint64 first;

  start_job (env, "job-1");
  sse = open_stream (env, "/api/jobs/job-1/events", NULL);
  aura_test_sse_wait_events (sse, NULL, 1);

  /* the stream headers and hygiene */
  g_assert_cmpuint (soup_message_get_status (sse->msg), ==, 200);
  headers = soup_message_get_response_headers (sse->msg);
  assert_header (headers, "Content-Type", "text/event-stream");
  assert_header (headers, "Cache-Control", "no-store, no-transform");
  assert_header (headers, "X-Accel-Buffering", "no");
  g_assert_null (soup_message_headers_get_one (headers, "Content-Encoding"));
  g_assert_null (soup_message_headers_get_one (headers, "Content-Length"));
  g_assert_cmpint (soup_message_headers_get_encoding (headers), ==, SOUP_ENCODING_CHUNKED);
  g_assert_cmpuint (sse->retry_ms, >, 0);
  g_assert_cmpuint (sse->retry_ms, <=, 1000);

  /* a new stream starts with the current state: a snapshot carrying the
   * job's newest event id, with every field of the seed's ProgressEventDto */
  first = event_id (aura_test_sse_nth (sse, NULL, 0));
  expected_start = g_strdup_printf ("retry: 1000\n\nid: %" G_GUINT64_FORMAT
                                    "\nevent: step-progress\ndata: {", first);
  g_assert_true (g_str_has_prefix (sse->raw->str, expected_start));
  o = event_object (aura_test_sse_nth (sse, NULL, 0), &n0);
  g_assert_cmpstr (json_object_get_string_member (o, "jobId"), ==, "job-1");
  g_assert_cmpstr (json_object_get_string_member (o, "stage"), ==, "planning");
  g_assert_cmpint (json_object_get_int_member (o, "percent"), ==, 0);
  g_assert_true (json_object_get_null_member (o, "etaSeconds"));
  g_assert_true (json_object_has_member (o, "message"));
  g_assert_true (JSON_NODE_HOLDS_ARRAY (json_object_get_member (o, "warnings")));
  g_assert_cmpstr (json_object_get_string_member (o, "correlationId"), ==, "corr-1");
  g_assert_true (json_object_get_null_member (o, "substageDetail"));
  g_assert_true (json_object_get_null_member (o, "currentItem"));
  g_assert_true (json_object_get_null_member (o, "totalItems"));
  g_assert_true (json_object_has_member (o, "timestamp"));
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "Running");
  g_assert_cmpint (json_object_get_int_member (o, "eventId"), ==, (gint64) first);

  /* live events as they happen; a line break in a payload stays inside the
   * JSON string, so every event has exactly one data: line */
  call_ok (env->tb->client, "ReportProgress", "ssda{sv}", "job-1", "script", 50.0, 4,
           "message", "s", "Writing\nthe script", "substageDetail", "s", "chunk 2/4",
           "currentItem", "u", 2, "totalItems", "u", 4);
  aura_test_sse_wait_events (sse, NULL, 2);
  o = event_object (aura_test_sse_nth (sse, NULL, 1), &n1);
  g_assert_cmpstr (aura_test_sse_nth (sse, NULL, 1)->type, ==, "step-progress");
  g_assert_cmpstr (json_object_get_string_member (o, "stage"), ==, "script");
  g_assert_cmpstr (json_object_get_string_member (o, "message"), ==, "Writing\nthe script");
  g_assert_cmpstr (json_object_get_string_member (o, "substageDetail"), ==, "chunk 2/4");
  g_assert_cmpint (json_object_get_int_member (o, "currentItem"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (o, "totalItems"), ==, 4);
  g_assert_null (strchr (aura_test_sse_nth (sse, NULL, 1)->data, '\n'));

  call_ok (env->tb->client, "AddWarning", "ss", "job-1", "Low disk space");
  aura_test_sse_wait_events (sse, "warning", 1);
  o = event_object (aura_test_sse_nth (sse, "warning", 0), &n2);
  g_assert_cmpstr (json_object_get_string_member (o, "jobId"), ==, "job-1");
  g_assert_cmpstr (json_object_get_string_member (o, "message"), ==, "Low disk space");
  g_assert_true (json_object_has_member (o, "timestamp"));

  /* the end: the final state, the terminal event, and the stream ends */
  complete (env, "job-1");
  aura_test_sse_wait_eof (sse);
  g_assert_no_error (sse->error);
  g_assert_cmpstr (aura_test_sse_nth (sse, NULL, aura_test_sse_count (sse, NULL) - 1)->type, ==,
                   "job-completed");
  o = event_object (aura_test_sse_nth (sse, "job-completed", 0), &n4);
  g_assert_cmpstr (json_object_get_string_member (o, "jobId"), ==, "job-1");
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "Completed");
  g_assert_true (json_object_has_member (o, "message"));

  /* what went out live is the daemon's history, event for event and byte
   * for byte (warnings and terminal events included, whose signals lack
   * the timestamp the bridge must fetch) */
  hist = history (env, "job-1", first);
  g_assert_cmpuint (hist->len, ==, aura_test_sse_count (sse, NULL) - 1);
  for (guint i = 0; i < hist->len; i++) {
    HistoryEvent *h = hist->pdata[i];
    AuraTestSseEvent *ev = aura_test_sse_nth (sse, NULL, i + 1);
    g_assert_cmpuint (event_id (ev), ==, h->id);
    g_assert_cmpstr (ev->type, ==, h->type);
    g_assert_cmpstr (ev->data, ==, h->json);
  }

  /* and a replay from the first id gives the same bytes again */
  replay = open_stream (env, "/api/jobs/job-1/events", aura_test_sse_nth (sse, NULL, 0)->id);
  aura_test_sse_wait_eof (replay);
  g_assert_cmpuint (aura_test_sse_count (replay, NULL), ==, hist->len);
  for (guint i = 0; i < hist->len; i++) {
    AuraTestSseEvent *a = aura_test_sse_nth (sse, NULL, i + 1);
    AuraTestSseEvent *b = aura_test_sse_nth (replay, NULL, i);
    g_assert_cmpstr (a->id, ==, b->id);
    g_assert_cmpstr (a->type, ==, b->type);
    g_assert_cmpstr (a->data, ==, b->data);
  }
}

/* ---- heartbeats -------------------------------------------------------- */

static void
test_heartbeat (void)
{
  g_autoptr(Env) env = env_new (NULL, "--heartbeat-interval=0.2", NULL);
  g_autoptr(AuraTestSse) a = NULL, b = NULL;
  const gint64 interval = 200000;
  const gint64 tolerance = slow () ? 3 * G_USEC_PER_SEC : 150000;
  guint64 open;

  start_job (env, "job-1");
  a = open_stream (env, "/api/jobs/job-1/events", NULL);
  b = open_stream (env, "/api/events?jobs=job-1", NULL);
  aura_test_sse_wait_events (a, "heartbeat", 6);
  aura_test_sse_wait_events (b, "heartbeat", 6);

  for (guint s = 0; s < 2; s++) {
    AuraTestSse *sse = s == 0 ? a : b;
    for (guint i = 0; i < 6; i++) {
      AuraTestSseEvent *hb = aura_test_sse_nth (sse, "heartbeat", i);
      g_autoptr(JsonNode) node = NULL;
      JsonObject *o = event_object (hb, &node);
      g_assert_null (hb->id);         /* a heartbeat has no id: */
      g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "alive");
      g_assert_true (g_str_has_suffix (json_object_get_string_member (o, "timestamp"), "Z"));
      if (i > 0) {
        gint64 gap = hb->received_us - aura_test_sse_nth (sse, "heartbeat", i - 1)->received_us;
        g_assert_cmpint (gap, >=, interval - tolerance);
        g_assert_cmpint (gap, <=, interval + tolerance);
      }
    }
    /* no "id:" precedes a heartbeat on the wire */
    g_assert_null (strstr (sse->raw->str, "\nid: \nevent: heartbeat"));
  }

  /* Heartbeats are how the bridge notices a client that went away. */
  open = aura_test_bridge_metric (env->bridge, env->session, "aura_bridge_open_streams");
  g_assert_cmpuint (open, ==, 2);
  g_clear_pointer (&a, aura_test_sse_free);
  g_clear_pointer (&b, aura_test_sse_free);
  wait_metric (env, "aura_bridge_open_streams", 0);
}

/* ---- resuming ---------------------------------------------------------- */

static void
test_replay (void)
{
  g_autoptr(Env) env = env_new (no_coalescing, "--heartbeat-interval=600", NULL);
  g_autoptr(AuraTestSse) a = NULL, b = NULL, c = NULL;
  g_autoptr(GPtrArray) hist = NULL;
  g_autoptr(GArray) ids_a = NULL, ids_b = NULL;
  g_autoptr(GHashTable) seen = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_autofree char *last_a = NULL, *query = NULL;
  guint64 last;

  start_job (env, "job-1");
  a = open_stream (env, "/api/jobs/job-1/events", NULL);
  aura_test_sse_wait_events (a, NULL, 1);
  for (int i = 1; i <= 4; i++)
    report (env, "job-1", "script", i * 20.0, "writing");
  aura_test_sse_wait_events (a, NULL, 5);

  /* the client goes away mid-job; the job goes on */
  ids_a = stream_ids (a);
  last_a = g_strdup (a->last_id);
  g_clear_pointer (&a, aura_test_sse_free);
  for (int i = 1; i <= 4; i++)
    report (env, "job-1", "tts", i * 20.0, "speaking");
  call_ok (env->tb->client, "AddWarning", "ss", "job-1", "voice fallback");

  /* it comes back with the last id it had, and gets exactly what it missed
   * and then what happens live */
  b = open_stream (env, "/api/jobs/job-1/events", last_a);
  aura_test_sse_wait_events (b, NULL, 5);
  g_assert_cmpuint (event_id (aura_test_sse_nth (b, NULL, 0)), >, g_ascii_strtoull (last_a, NULL, 10));
  report (env, "job-1", "visuals", 50.0, "drawing");
  complete (env, "job-1");
  aura_test_sse_wait_eof (b);
  ids_b = stream_ids (b);

  /* the union of what the two connections received is every event of the
   * job, and nothing came twice */
  hist = history (env, "job-1", 0);
  g_assert_cmpuint (ids_a->len + ids_b->len, ==, hist->len);
  for (guint i = 0; i < ids_a->len; i++)
    g_assert_true (g_hash_table_add (seen, &g_array_index (ids_a, guint64, i)));
  for (guint i = 0; i < ids_b->len; i++)
    g_assert_true (g_hash_table_add (seen, &g_array_index (ids_b, guint64, i)));
  for (guint i = 0; i < hist->len; i++)
    g_assert_true (g_hash_table_contains (seen, &((HistoryEvent *) hist->pdata[i])->id));
  /* and what was replayed is the daemon's history byte for byte */
  for (guint i = 0; i < ids_b->len; i++) {
    HistoryEvent *h = hist->pdata[ids_a->len + i];
    g_assert_cmpuint (g_array_index (ids_b, guint64, i), ==, h->id);
    g_assert_cmpstr (aura_test_sse_nth (b, NULL, i)->data, ==, h->json);
  }

  /* lastEventId in the query does the same for a first connection */
  query = g_strdup_printf ("/api/jobs/job-1/events?lastEventId=%s", last_a);
  c = open_stream (env, query, NULL);
  aura_test_sse_wait_eof (c);
  g_assert_cmpuint (aura_test_sse_count (c, NULL), ==, ids_b->len);
  for (guint i = 0; i < ids_b->len; i++)
    g_assert_cmpstr (aura_test_sse_nth (c, NULL, i)->data, ==, aura_test_sse_nth (b, NULL, i)->data);

  /* with the last id of all, the client has seen the end: 204 */
  last = g_array_index (ids_b, guint64, ids_b->len - 1);
  {
    g_autofree char *id = g_strdup_printf ("%" G_GUINT64_FORMAT, last);
    const char *const hdr[] = { "Last-Event-ID", id, NULL };
    g_autoptr(AuraTestResponse) res = fetch (env, "GET", "/api/jobs/job-1/events", hdr);
    g_assert_cmpuint (res->status, ==, 204);
    g_assert_cmpstr (res->body, ==, "");
  }
}

static guint64
job_last_event_id (Env *env, const char *job_id)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  g_autoptr(sd_bus_message) reply = aura_test_call (env->tb->client, &error, "GetJob", "s", job_id);
  g_autoptr(GVariant) state = NULL;
  guint64 id = 0;

  g_assert_nonnull (reply);
  g_assert_cmpint (aura_bus_message_read_variant (reply, &state), ==, 1);
  g_assert_true (g_variant_lookup (state, "lastEventId", "t", &id));
  return id;
}

/* The stream starts with the job's state (one snapshot with its newest id)
 * and nothing else until something happens. */
static void
assert_full_state (Env *env, const char *last_event_id)
{
  static double percent = 40.0;
  guint64 newest = job_last_event_id (env, "job-1");
  g_autoptr(AuraTestSse) sse = open_stream (env, "/api/jobs/job-1/events", last_event_id);

  aura_test_sse_wait_events (sse, NULL, 1);
  g_assert_cmpuint (soup_message_get_status (sse->msg), ==, 200);
  g_assert_cmpstr (aura_test_sse_nth (sse, NULL, 0)->type, ==, "step-progress");
  g_assert_cmpuint (event_id (aura_test_sse_nth (sse, NULL, 0)), ==, newest);
  percent += 1.0;                     /* an unchanged report makes no event */
  report (env, "job-1", "tts", percent, "speaking");
  aura_test_sse_wait_events (sse, NULL, 2);
  g_assert_cmpuint (aura_test_sse_count (sse, NULL), ==, 2);
  g_assert_cmpuint (event_id (aura_test_sse_nth (sse, NULL, 1)), >, newest);
}

/* A Last-Event-ID the history no longer reaches, or that is not an event
 * id at all, gets the full current state: one or the other, never both. */
static void
test_replay_beyond_history (void)
{
  g_autoptr(Env) env = env_new ("[Timing]\nCoalesceIntervalMs=0\n[Limits]\nMaxJobHistory=16\n",
                                "--heartbeat-interval=600", NULL);
  g_autoptr(GPtrArray) hist = NULL;
  const char *const not_ids[] = { "abc", "-5", "1e3", "12 x", "0x10", "99999999999999999999999",
                                  /* above every id the daemon has given */ "4000000000" };
  g_autofree char *below_floor = NULL, *reachable = NULL;
  guint64 newest;

  start_job (env, "job-1");
  for (int i = 1; i <= 24; i++)
    report (env, "job-1", "script", i * 4.0, "writing");
  hist = history (env, "job-1", 0);
  g_assert_cmpuint (hist->len, ==, 16);  /* the older ones are gone */

  for (guint i = 0; i < G_N_ELEMENTS (not_ids); i++)
    assert_full_state (env, not_ids[i]);
  below_floor = g_strdup_printf ("%" G_GUINT64_FORMAT, ((HistoryEvent *) hist->pdata[0])->id - 2);
  assert_full_state (env, below_floor);

  /* an id the history does reach: exact replay, no snapshot */
  newest = job_last_event_id (env, "job-1");
  reachable = g_strdup_printf ("%" G_GUINT64_FORMAT, newest - 1);
  {
    g_autoptr(AuraTestSse) sse = open_stream (env, "/api/jobs/job-1/events", reachable);
    g_autoptr(GPtrArray) last = history (env, "job-1", newest - 1);
    aura_test_sse_wait_events (sse, NULL, 1);
    g_assert_cmpuint (event_id (aura_test_sse_nth (sse, NULL, 0)), ==, newest);
    g_assert_cmpstr (aura_test_sse_nth (sse, NULL, 0)->data, ==,
                     ((HistoryEvent *) last->pdata[0])->json);
  }
}

/* ---- finished jobs ----------------------------------------------------- */

static void
test_finished (void)
{
  g_autoptr(Env) env = env_new (no_coalescing, "--heartbeat-interval=600", NULL);
  g_autoptr(AuraTestSse) sse = NULL, tail = NULL, failed = NULL;
  g_autoptr(JsonNode) n0 = NULL, n1 = NULL, n2 = NULL;
  g_autofree char *before_end = NULL;
  JsonObject *o;
  guint64 end;

  start_job (env, "job-1");
  report (env, "job-1", "render", 50.0, "rendering");
  complete (env, "job-1");

  /* a new stream of a finished job: its final state and its terminal
   * event (the same id), then the stream ends */
  sse = open_stream (env, "/api/jobs/job-1/events", NULL);
  aura_test_sse_wait_eof (sse);
  g_assert_no_error (sse->error);
  g_assert_cmpuint (aura_test_sse_count (sse, NULL), ==, 2);
  g_assert_cmpstr (aura_test_sse_nth (sse, NULL, 0)->type, ==, "step-progress");
  g_assert_cmpstr (aura_test_sse_nth (sse, NULL, 1)->type, ==, "job-completed");
  end = event_id (aura_test_sse_nth (sse, NULL, 1));
  g_assert_cmpuint (event_id (aura_test_sse_nth (sse, NULL, 0)), ==, end);
  o = event_object (aura_test_sse_nth (sse, NULL, 0), &n0);
  g_assert_cmpint (json_object_get_int_member (o, "percent"), ==, 100);
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "Completed");
  /* the terminal event rebuilt from the state is the one the daemon sent */
  {
    g_autoptr(GPtrArray) hist = history (env, "job-1", end - 1);
    g_assert_cmpuint (hist->len, ==, 1);
    g_assert_cmpstr (aura_test_sse_nth (sse, NULL, 1)->data, ==,
                     ((HistoryEvent *) hist->pdata[0])->json);
  }

  /* a client that has the end gets 204, which stops EventSource */
  {
    g_autofree char *id = g_strdup_printf ("%" G_GUINT64_FORMAT, end);
    const char *const hdr[] = { "Last-Event-ID", id, NULL };
    g_autoptr(AuraTestResponse) res = fetch (env, "GET", "/api/jobs/job-1/events", hdr);
    g_assert_cmpuint (res->status, ==, 204);
  }
  /* one that missed only the end gets only the end */
  before_end = g_strdup_printf ("%" G_GUINT64_FORMAT, end - 1);
  tail = open_stream (env, "/api/jobs/job-1/events", before_end);
  aura_test_sse_wait_eof (tail);
  g_assert_cmpuint (aura_test_sse_count (tail, NULL), ==, 1);
  g_assert_cmpstr (aura_test_sse_nth (tail, NULL, 0)->type, ==, "job-completed");
  o = event_object (aura_test_sse_nth (tail, NULL, 0), &n1);
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "Completed");

  /* a failed job ends with job-failed and its message */
  start_job (env, "job-2");
  call_ok (env->tb->client, "FailJob", "ss", "job-2", "TTS quota exhausted");
  failed = open_stream (env, "/api/jobs/job-2/events", NULL);
  aura_test_sse_wait_eof (failed);
  g_assert_cmpstr (aura_test_sse_nth (failed, NULL, 1)->type, ==, "job-failed");
  o = event_object (aura_test_sse_nth (failed, NULL, 1), &n2);
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "Failed");
  g_assert_cmpstr (json_object_get_string_member (o, "message"), ==, "TTS quota exhausted");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bridge/format", test_format);
  g_test_add_func ("/bridge/stream-live", test_stream_live);
  g_test_add_func ("/bridge/heartbeat", test_heartbeat);
  g_test_add_func ("/bridge/replay", test_replay);
  g_test_add_func ("/bridge/replay-beyond-history", test_replay_beyond_history);
  g_test_add_func ("/bridge/finished", test_finished);
  return g_test_run ();
}

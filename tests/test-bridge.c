/* SPDX-License-Identifier: MIT */
/* Integration tests of aura-sse-bridge: a private dbus-daemon, the real
 * aura-progressd and aura-sse-bridge binaries, and real HTTP clients
 * (libsoup's client for streams and requests, raw sockets for what no
 * well-behaved client sends and for clients that stop reading). */
#include <signal.h>
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

static gboolean
sanitized (void)
{
  /* ASan keeps freed memory in quarantine: RSS says nothing there */
  return g_getenv ("ASAN_OPTIONS") != NULL;
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
start_job (Env *env, const char *id)
{
  aura_test_call_ok (env->tb->client, "StartJob", "sa{sv}", id, 1, "correlationId", "s", "corr-1");
}

static void
report (Env *env, const char *id, const char *stage, double percent, const char *message)
{
  aura_test_call_ok (env->tb->client, "ReportProgress", "ssda{sv}", id, stage, percent, 1, "message", "s",
           message);
}

static void
complete (Env *env, const char *id)
{
  aura_test_call_ok (env->tb->client, "CompleteJob", "s", id);
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
  hb = aura_sse_heartbeat_new (1764168000123000, "daemon-unavailable", 2.5);
  hb_text = g_bytes_get_data (hb, NULL);
  g_assert_cmpstr (hb_text, ==,
                   "event: heartbeat\n"
                   "data: {\"timestamp\":\"2025-11-26T14:40:00.123Z\",\"status\":\"daemon-unavailable\","
                   "\"intervalSeconds\":2.5}\n\n");
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
  /* the body ends with the connection: one send() per event, no chunk
   * framing */
  g_assert_cmpint (soup_message_headers_get_encoding (headers), ==, SOUP_ENCODING_EOF);
  assert_header (headers, "Connection", "close");
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
  aura_test_call_ok (env->tb->client, "ReportProgress", "ssda{sv}", "job-1", "script", 50.0, 4,
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
  /* the snapshot built from the job's state has the fields of a live event */
  {
    g_autoptr(GList) snapshot_keys = json_object_get_members (json_node_get_object (n0));
    g_autoptr(GList) live_keys = json_object_get_members (o);
    GString *a = g_string_new (NULL), *b = g_string_new (NULL);
    snapshot_keys = g_list_sort (snapshot_keys, (GCompareFunc) strcmp);
    live_keys = g_list_sort (live_keys, (GCompareFunc) strcmp);
    for (GList *l = snapshot_keys; l != NULL; l = l->next)
      g_string_append_printf (a, "%s ", (const char *) l->data);
    for (GList *l = live_keys; l != NULL; l = l->next)
      g_string_append_printf (b, "%s ", (const char *) l->data);
    g_assert_cmpstr (a->str, ==, b->str);
    g_string_free (a, TRUE);
    g_string_free (b, TRUE);
  }

  aura_test_call_ok (env->tb->client, "AddWarning", "ss", "job-1", "Low disk space");
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
      g_assert_cmpfloat (json_object_get_double_member (o, "intervalSeconds"), ==, 0.2);
      g_assert_true (g_str_has_suffix (json_object_get_string_member (o, "timestamp"), "Z"));
      if (i > 0) {
        gint64 gap = hb->received_us - aura_test_sse_nth (sse, "heartbeat", i - 1)->received_us;
        g_assert_cmpint (gap, >=, interval - tolerance);
        g_assert_cmpint (gap, <=, interval + tolerance);
      }
    }
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
  aura_test_call_ok (env->tb->client, "AddWarning", "ss", "job-1", "voice fallback");

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
  g_autoptr(GVariant) state = aura_test_get_job (env->tb->client, job_id);
  guint64 id = 0;

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
  aura_test_call_ok (env->tb->client, "FailJob", "ss", "job-2", "TTS quota exhausted");
  failed = open_stream (env, "/api/jobs/job-2/events", NULL);
  aura_test_sse_wait_eof (failed);
  g_assert_cmpstr (aura_test_sse_nth (failed, NULL, 1)->type, ==, "job-failed");
  o = event_object (aura_test_sse_nth (failed, NULL, 1), &n2);
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "Failed");
  g_assert_cmpstr (json_object_get_string_member (o, "message"), ==, "TTS quota exhausted");
  {
    g_autoptr(GPtrArray) hist = history (env, "job-2",
                                         event_id (aura_test_sse_nth (failed, NULL, 1)) - 1);
    g_assert_cmpstr (aura_test_sse_nth (failed, NULL, 1)->data, ==,
                     ((HistoryEvent *) hist->pdata[0])->json);
  }
}

/* ---- errors ------------------------------------------------------------ */

static void
assert_json_error (AuraTestResponse *res, guint status, const char *code)
{
  g_autoptr(JsonNode) node = NULL;
  JsonObject *o;

  if (res->status != status)
    g_error ("expected %u, got %u: %s", status, res->status, res->body);
  g_assert_cmpstr (soup_message_headers_get_content_type (res->headers, NULL), ==,
                   "application/json");
  node = aura_test_response_json (res);
  o = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (o, "error"), ==, code);
  g_assert_cmpint (json_object_get_int_member (o, "status"), ==, status);
  /* every error says what was wrong */
  g_assert_cmpuint (strlen (json_object_get_string_member (o, "message")), >, 10);
}

static void
assert_get_error (Env *env, const char *path, guint status, const char *code)
{
  g_autoptr(AuraTestResponse) res = fetch (env, "GET", path, NULL);
  assert_json_error (res, status, code);
}

static void
test_http_errors (void)
{
  g_autoptr(Env) env = env_new (NULL, NULL);
  g_autoptr(GString) many = g_string_new ("/api/events?jobs=");
  g_autofree char *long_id = NULL;
  g_autofree char *long_path = NULL;

  start_job (env, "job-1");

  assert_get_error (env, "/api/jobs/nope/events", 404, "no-such-job");
  assert_get_error (env, "/api/jobs/nope", 404, "no-such-job");
  /* a malformed id never reaches the daemon: %2F..%2F included */
  assert_get_error (env, "/api/jobs/..%2F..%2Fetc%2Fpasswd/events", 400, "invalid-job-id");
  assert_get_error (env, "/api/jobs/a%2Fb/events", 400, "invalid-job-id");
  assert_get_error (env, "/api/jobs/bad%20id/events", 400, "invalid-job-id");
  assert_get_error (env, "/api/jobs/-leading/events", 400, "invalid-job-id");
  assert_get_error (env, "/api/jobs/%C3%A9t%C3%A9/events", 400, "invalid-job-id");
  assert_get_error (env, "/api/jobs/bad%20id", 400, "invalid-job-id");
  /* escapes an HTTP client would not send */
  for (guint i = 0; i < 2; i++) {
    g_autoptr(GSocket) sock = aura_test_raw_connect (env->bridge->port, 0);
    const char *req = i == 0 ? "GET /api/jobs/x%00y/events HTTP/1.1\r\nHost: localhost\r\n\r\n"
                             : "GET /api/jobs/x%zz/events HTTP/1.1\r\nHost: localhost\r\n\r\n";
    g_autofree char *answer = NULL;
    aura_test_raw_send (sock, req, strlen (req));
    answer = aura_test_raw_read_all (sock);
    g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 400"));
    /* (libsoup itself refuses an escape that is not one, before the bridge
     * sees the request) */
    if (i == 0)
      g_assert_nonnull (strstr (answer, "\"error\":\"invalid-path\""));
  }
  long_id = g_strnfill (129, 'a');
  long_path = g_strdup_printf ("/api/jobs/%s/events", long_id);
  assert_get_error (env, long_path, 400, "invalid-job-id");
  assert_get_error (env, "/api/nothing", 404, "not-found");
  assert_get_error (env, "/api/jobs/job-1/nothing", 404, "not-found");
  assert_get_error (env, "/api/events?jobs=job-1,bad%20id", 400, "invalid-job-id");
  assert_get_error (env, "/api/events?jobs=", 400, "invalid-job-id");
  for (int i = 0; i < 65; i++)
    g_string_append_printf (many, "%sjob-%d", i > 0 ? "," : "", i);
  assert_get_error (env, many->str, 400, "too-many-jobs");

  /* wrong methods: 405 with what is allowed */
  {
    g_autoptr(AuraTestResponse) a = fetch (env, "POST", "/api/jobs/job-1/events", NULL);
    g_autoptr(AuraTestResponse) b = fetch (env, "GET", "/api/jobs/job-1/cancel", NULL);
    g_autoptr(AuraTestResponse) c = fetch (env, "DELETE", "/api/jobs", NULL);
    assert_json_error (a, 405, "method-not-allowed");
    g_assert_cmpstr (soup_message_headers_get_one (a->headers, "Allow"), ==, "GET");
    assert_json_error (b, 405, "method-not-allowed");
    g_assert_cmpstr (soup_message_headers_get_one (b->headers, "Allow"), ==, "POST");
    assert_json_error (c, 405, "method-not-allowed");
    g_assert_cmpstr (soup_message_headers_get_one (c->headers, "Allow"), ==, "GET, HEAD");
  }
}

/* An error status (libsoup answers what it cannot parse as HTTP/1.0), or
 * a connection closed without an answer. */
static void
assert_refused (const char *answer)
{
  if (answer[0] == '\0')
    return;
  if (!g_regex_match_simple ("^HTTP/1\\.[01] [45][0-9][0-9] ", answer, 0, 0))
    g_error ("expected an error or nothing, got: %.200s", answer);
}

/* What no browser sends: a clear error or a closed connection, never a
 * crash or a hang, and the bridge serves the next client. */
static void
test_bad_input (void)
{
  g_autoptr(Env) env = env_new (NULL, NULL);
  static const char *const garbage[] = {
    "GARBAGE\r\n\r\n",
    "GET\r\n\r\n",
    "GET /healthz HTTP/9.9\r\nHost: localhost\r\n\r\n",
    "GET /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n",
    "\x01\x02\x03\xff\xfe\r\n\r\n",
  };

  for (guint i = 0; i < G_N_ELEMENTS (garbage); i++) {
    g_autoptr(GSocket) sock = aura_test_raw_connect (env->bridge->port, 0);
    g_autofree char *answer = NULL;
    aura_test_raw_send (sock, garbage[i], strlen (garbage[i]));
    answer = aura_test_raw_read_all (sock);
    assert_refused (answer);
  }

  /* an unknown method is a method the resource does not allow */
  {
    g_autoptr(GSocket) sock = aura_test_raw_connect (env->bridge->port, 0);
    const char req[] = "BREW /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    g_autofree char *answer = NULL;
    aura_test_raw_send (sock, req, strlen (req));
    answer = aura_test_raw_read_all (sock);
    g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 405"));
  }
  /* errors quoting what the client sent stay valid JSON (UTF-8) whatever
   * the bytes (found by fuzz/fuzz-http.c) */
  for (guint i = 0; i < 2; i++) {
    g_autoptr(GSocket) sock = aura_test_raw_connect (env->bridge->port, 0);
    const char *req = i == 0 ? "GE\x95 /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
                             : "GET /healthz HTTP/1.1\r\nHost: localhost\r\nOrigin: http://\xff\xfe\r\n\r\n";
    g_autofree char *answer = NULL;
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(GError) error = NULL;
    const char *body;
    aura_test_raw_send (sock, req, strlen (req));
    answer = aura_test_raw_read_all (sock);
    g_assert_true (g_str_has_prefix (answer, i == 0 ? "HTTP/1.1 405" : "HTTP/1.1 403"));
    body = strstr (answer, "\r\n\r\n");
    g_assert_nonnull (body);
    node = json_from_string (body + 4, &error);
    g_assert_no_error (error);
    g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  }

  /* huge headers: 431 with JSON below libsoup's own limit, closed above */
  for (guint size = 20000; size <= 200000; size += 180000) {
    g_autoptr(GSocket) sock = aura_test_raw_connect (env->bridge->port, 0);
    g_autofree char *big = g_strnfill (size, 'a');
    g_autofree char *req = g_strdup_printf ("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: %s\r\n\r\n",
                                            big);
    g_autofree char *answer = NULL;
    aura_test_raw_send_until_closed (sock, req, strlen (req));
    answer = aura_test_raw_read_all (sock);
    if (size < 64 * 1024) {
      g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
      g_assert_nonnull (strstr (answer, "\"error\":\"headers-too-large\""));
    } else {
      assert_refused (answer);
    }
  }

  /* a body above the limit: 413, or a closed connection when it is huge */
  {
    g_autoptr(GSocket) sock = aura_test_raw_connect (env->bridge->port, 0);
    g_autofree char *body = g_strnfill (20000, 'x');
    g_autofree char *req = g_strdup_printf ("POST /api/jobs/job-1/cancel HTTP/1.1\r\nHost: localhost\r\n"
                                            "Content-Length: 20000\r\n\r\n%s", body);
    g_autofree char *answer = NULL;
    aura_test_raw_send (sock, req, strlen (req));
    answer = aura_test_raw_read_all (sock);
    g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 413"));
    g_assert_nonnull (strstr (answer, "\"error\":\"body-too-large\""));
  }
  {
    g_autoptr(GSocket) sock = aura_test_raw_connect (env->bridge->port, 0);
    const char head[] = "POST /api/jobs/job-1/cancel HTTP/1.1\r\nHost: localhost\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n";
    g_autofree char *chunk = g_strnfill (65536, 'x');
    g_autofree char *framed = g_strdup_printf ("10000\r\n%s\r\n", chunk);
    g_autofree char *answer = NULL;
    aura_test_raw_send (sock, head, strlen (head));
    /* 4 MiB, more than the bridge reads before it closes */
    for (int i = 0; i < 64 && g_socket_condition_check (sock, G_IO_IN | G_IO_HUP) == 0; i++)
      aura_test_raw_send_until_closed (sock, framed, strlen (framed));
    answer = aura_test_raw_read_all (sock);
    g_assert_true (answer[0] == '\0' || g_str_has_prefix (answer, "HTTP/1.1 413"));
  }

  /* Ranges are ignored: many overlapping ones once made libsoup send the
   * file hundreds of times over (found by fuzz/fuzz-http.c) */
  {
    g_autoptr(GSocket) sock = aura_test_raw_connect (env->bridge->port, 0);
    g_autoptr(GString) req = g_string_new ("GET /progress-store.js HTTP/1.1\r\nHost: localhost\r\n"
                                           "Range: bytes=0-");
    g_autofree char *path = g_build_filename (aura_test_program ("AURA_WEB_DIR"),
                                              "progress-store.js", NULL);
    g_autofree char *answer = NULL;
    g_autofree char *expected = NULL;
    gsize expected_len;
    for (guint i = 0; i < 2000; i++)
      g_string_append (req, ",0-");
    g_string_append (req, "\r\n\r\n");
    aura_test_raw_send (sock, req->str, req->len);
    answer = aura_test_raw_read_all (sock);
    g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 200 OK\r\n"));
    g_assert_true (g_file_get_contents (path, &expected, &expected_len, NULL));
    g_assert_true (g_str_has_suffix (answer, expected));
    g_assert_cmpuint (strlen (answer), <, expected_len + 2048);
  }

  /* OPTIONS * asks about the server; * is for nothing else */
  {
    g_autoptr(GSocket) a = aura_test_raw_connect (env->bridge->port, 0);
    g_autoptr(GSocket) b = aura_test_raw_connect (env->bridge->port, 0);
    const char options[] = "OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n";
    const char get[] = "GET * HTTP/1.1\r\nHost: localhost\r\n\r\n";
    g_autofree char *ra = NULL, *rb = NULL;
    aura_test_raw_send (a, options, strlen (options));
    aura_test_raw_send (b, get, strlen (get));
    ra = aura_test_raw_read_all (a);
    rb = aura_test_raw_read_all (b);
    g_assert_true (g_str_has_prefix (ra, "HTTP/1.1 204 No Content\r\n"));
    g_assert_nonnull (strstr (ra, "\r\nAllow: GET, HEAD, POST, OPTIONS\r\n"));
    g_assert_true (g_str_has_prefix (rb, "HTTP/1.1 400 Bad Request\r\n"));
    g_assert_nonnull (strstr (rb, "\"error\":\"invalid-path\""));
  }

  /* HTTP/1.0 without Host is still served */
  {
    g_autoptr(GSocket) sock = aura_test_raw_connect (env->bridge->port, 0);
    const char req[] = "GET /healthz HTTP/1.0\r\n\r\n";
    g_autofree char *answer = NULL;
    aura_test_raw_send (sock, req, strlen (req));
    answer = aura_test_raw_read_all (sock);
    g_assert_true (g_str_has_prefix (answer, "HTTP/1.0 200"));
  }

  /* and after all that, the bridge serves as before */
  {
    g_autoptr(AuraTestResponse) res = fetch (env, "GET", "/healthz", NULL);
    g_assert_cmpuint (res->status, ==, 200);
  }
}

/* What the jobs are, as far as a client can change them. */
static char *
jobs_summary (Env *env)
{
  g_autoptr(AuraTestResponse) res = fetch (env, "GET", "/api/jobs", NULL);
  g_autoptr(JsonNode) node = aura_test_response_json (res);
  JsonArray *jobs = json_node_get_array (node);
  GString *out = g_string_new (NULL);

  g_assert_cmpuint (res->status, ==, 200);
  for (guint i = 0; i < json_array_get_length (jobs); i++) {
    JsonObject *job = json_array_get_object_element (jobs, i);
    g_string_append_printf (out, "%s %s %" G_GINT64_FORMAT " %" G_GINT64_FORMAT ";",
                            json_object_get_string_member (job, "jobId"),
                            json_object_get_string_member (job, "status"),
                            json_object_get_int_member (job, "percent"),
                            json_object_get_int_member (job, "lastEventId"));
  }
  return g_string_free (out, FALSE);
}

typedef struct {
  const char *method;
  const char *path;
  const char *wrong_method;
  const char *bad_path;               /* a malformed id or parameter; NULL: none */
  guint bad_status;
  const char *bad_code;
} Endpoint;

/* Every endpoint, tried with each kind of hostile input: its specific
 * error every time, the bridge answering after each, and in the end the
 * jobs as they were, no connection or stream held, and memory flat over
 * rounds. */
static void
test_hostile_matrix (void)
{
  static const Endpoint endpoints[] = {
    { "GET", "/api/jobs", "PUT", NULL, 0, NULL },
    { "GET", "/api/jobs/job-1", "DELETE", "/api/jobs/..%2F..%2Fetc%2Fpasswd", 400,
      "invalid-job-id" },
    { "GET", "/api/jobs/job-1/events", "POST", "/api/jobs/%C3%A9t%C3%A9/events", 400,
      "invalid-job-id" },
    { "GET", "/api/events?jobs=job-1", "PATCH", "/api/events?jobs=job-1,,job-2", 400,
      "invalid-job-id" },
    { "POST", "/api/jobs/job-1/cancel", "GET", "/api/jobs/a%2Fb/cancel", 400, "invalid-job-id" },
    { "GET", "/healthz", "POST", NULL, 0, NULL },
    { "GET", "/metrics", "DELETE", NULL, 0, NULL },
    { "GET", "/", "PUT", "/%2e%2e/%2e%2e/etc/passwd", 404, "not-found" },
  };
  g_autoptr(Env) env = NULL;
  g_autoptr(AuraTestBus) scratch = aura_test_bus_new ();
  g_autofree char *token_file = aura_test_bus_write_file (scratch, "token", "s3cret\n");
  g_autofree char *arg = g_strdup_printf ("--token-file=%s", token_file);
  g_autofree char *big = g_strnfill (20000, 'a');
  g_autofree char *before = NULL, *after = NULL;
  const char *const huge_header[] = { "X-Big", big, NULL };
  const char *const foreign[] = { "Origin", "https://evil.example",
                                  "Authorization", "Bearer s3cret", NULL };
  const char *const wrong_token[] = { "Authorization", "Bearer s3cre", NULL };
  guint rounds = slow () ? 2 : 4;
  guint64 rss_first = 0, rss_last = 0;

  env = env_new (NULL, arg, NULL);
  start_job (env, "job-1");
  report (env, "job-1", "script", 40.0, "writing");
  start_job (env, "job-2");
  complete (env, "job-2");
  before = jobs_summary (env);

  for (guint round = 0; round < rounds; round++) {
    for (guint i = 0; i < G_N_ELEMENTS (endpoints); i++) {
      const Endpoint *e = &endpoints[i];
      g_autofree char *u = url (env, e->path);
      g_autoptr(AuraTestResponse) method = fetch (env, e->wrong_method, e->path, NULL);
      g_autoptr(AuraTestResponse) header = fetch (env, e->method, e->path, huge_header);
      g_autoptr(AuraTestResponse) body = aura_test_fetch (env->session, e->method, u, NULL, big);
      g_autoptr(AuraTestResponse) origin = fetch (env, e->method, e->path, foreign);
      g_autoptr(AuraTestResponse) health = NULL;

      assert_json_error (method, 405, "method-not-allowed");
      g_assert_nonnull (soup_message_headers_get_one (method->headers, "Allow"));
      assert_json_error (header, 431, "headers-too-large");
      assert_json_error (body, 413, "body-too-large");
      assert_json_error (origin, 403, "origin-not-allowed");
      if (e->bad_path != NULL) {
        g_autoptr(AuraTestResponse) bad = fetch (env, e->method, e->bad_path, NULL);
        assert_json_error (bad, e->bad_status, e->bad_code);
      }
      if (strcmp (e->method, "POST") == 0) {
        g_autoptr(AuraTestResponse) none = fetch (env, e->method, e->path, NULL);
        g_autoptr(AuraTestResponse) wrong = fetch (env, e->method, e->path, wrong_token);
        assert_json_error (none, 401, "unauthorized");
        assert_json_error (wrong, 401, "unauthorized");
      }
      /* still answering */
      health = fetch (env, "GET", "/healthz", NULL);
      g_assert_cmpuint (health->status, ==, 200);
    }
    if (round == 0)
      rss_first = aura_test_bridge_rss_kib (env->bridge);
  }
  rss_last = aura_test_bridge_rss_kib (env->bridge);
  g_test_message ("bridge RSS %" G_GUINT64_FORMAT " KiB after the first round, %" G_GUINT64_FORMAT
                  " KiB after %u", rss_first, rss_last, rounds);

  /* nothing changed, nothing is held */
  after = jobs_summary (env);
  g_assert_cmpstr (after, ==, before);
  wait_metric (env, "aura_bridge_open_streams", 0);
  /* (the request asking is the one connection left) */
  wait_metric (env, "aura_bridge_open_connections", 1);
  if (!sanitized () && !slow ())
    g_assert_cmpuint (rss_last, <, rss_first + 1024);
}

/* A page of another site whose name resolves to this machine (DNS
 * rebinding) sends its own name as Host: it is refused, even "same-origin",
 * unless that name is allowed with --allowed-host. */
static char *
raw_get (Env *env, const char *host, const char *path)
{
  g_autoptr(GSocket) sock = aura_test_raw_connect (env->bridge->port, 0);
  g_autofree char *req = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: %s\r\nOrigin: http://%s\r\n\r\n",
                                          path, host, host);

  aura_test_raw_send (sock, req, strlen (req));
  return aura_test_raw_read_all (sock);
}

static void
test_host_check (void)
{
  g_autoptr(Env) env = env_new (NULL, "--allowed-host=progress.example", NULL);
  static const char *const refused[] = { "evil.example", "evil.example:8080", "localhost.evil.example",
                                         "127.0.0.1.evil.example:80" };
  static const char *const served[] = { "localhost", "LOCALHOST:8080", "127.0.0.1:8080", "[::1]:8080",
                                        "app.localhost", "progress.example", "Progress.Example:443" };

  start_job (env, "job-1");
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++) {
    g_autofree char *answer = raw_get (env, refused[i], "/api/jobs");
    if (!g_str_has_prefix (answer, "HTTP/1.1 403") || strstr (answer, "\"host-not-allowed\"") == NULL)
      g_error ("Host %s was served: %s", refused[i], answer);
  }
  for (guint i = 0; i < G_N_ELEMENTS (served); i++) {
    g_autofree char *answer = raw_get (env, served[i], "/api/jobs");
    if (!g_str_has_prefix (answer, "HTTP/1.1 200") || strstr (answer, "\"job-1\"") == NULL)
      g_error ("Host %s was not served: %s", served[i], answer);
  }
}

/* A connection must send its request in time; a stream needs no requests. */
static void
test_idle_timeout (void)
{
  g_autoptr(Env) env = env_new (NULL, "--idle-timeout=1", "--heartbeat-interval=0.4", NULL);
  g_autoptr(AuraTestSse) sse = NULL;

  start_job (env, "job-1");
  sse = open_stream (env, "/api/jobs/job-1/events", NULL);
  {
    g_autoptr(GSocket) silent = aura_test_raw_connect (env->bridge->port, 0);
    g_autoptr(GSocket) slowloris = aura_test_raw_connect (env->bridge->port, 0);
    const char partial[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n";
    g_autofree char *a = NULL, *b = NULL;
    aura_test_raw_send (slowloris, partial, strlen (partial));
    a = aura_test_raw_read_all (silent);
    b = aura_test_raw_read_all (slowloris);
    /* closed without an answer */
    g_assert_cmpstr (a, ==, "");
    g_assert_cmpstr (b, ==, "");
  }
  g_assert_cmpuint (aura_test_bridge_metric (env->bridge, env->session,
                                             "aura_bridge_connections_timed_out_total"), ==, 2);
  /* the stream outlived several idle timeouts */
  aura_test_sse_wait_events (sse, "heartbeat", 6);
  g_assert_false (sse->eof);
}

/* ---- limits ------------------------------------------------------------ */

static char *
raw_stream_status (Env *env, const char *local_ip, GSocket **keep)
{
  GSocket *sock = aura_test_raw_connect_from (env->bridge->port, local_ip);
  const char req[] = "GET /api/jobs/job-1/events HTTP/1.1\r\nHost: localhost\r\n\r\n";
  g_autofree char *headers = NULL;

  aura_test_raw_send (sock, req, strlen (req));
  headers = aura_test_raw_read_headers (sock);
  *keep = sock;
  return g_strndup (headers, strcspn (headers, "\r"));
}

static void
test_stream_limits (void)
{
  g_autoptr(Env) env = env_new (NULL, "--max-streams=2", "--max-streams-per-client=1", NULL);
  g_autoptr(AuraTestSse) a = NULL, b = NULL, c = NULL;
  g_autoptr(GSocket) s2 = NULL, s3 = NULL;
  g_autofree char *status2 = NULL, *status3 = NULL;

  start_job (env, "job-1");
  a = open_stream (env, "/api/jobs/job-1/events", NULL);
  aura_test_sse_wait_events (a, NULL, 1);

  /* a second stream from the same address: 429 */
  b = open_stream (env, "/api/jobs/job-1/events", NULL);
  aura_test_sse_wait_eof (b);
  g_assert_cmpuint (soup_message_get_status (b->msg), ==, 429);
  g_assert_nonnull (soup_message_headers_get_one (soup_message_get_response_headers (b->msg),
                                                  "Retry-After"));
  g_assert_nonnull (strstr (b->raw->str, "\"error\":\"too-many-streams\""));

  /* another client may, up to the total: then 503 */
  status2 = raw_stream_status (env, "127.0.0.2", &s2);
  g_assert_cmpstr (status2, ==, "HTTP/1.1 200 OK");
  status3 = raw_stream_status (env, "127.0.0.3", &s3);
  g_assert_cmpstr (status3, ==, "HTTP/1.1 503 Service Unavailable");
  g_assert_cmpuint (aura_test_bridge_metric (env->bridge, env->session,
                                             "aura_bridge_streams_rejected_total"), ==, 2);

  /* a closed stream frees its place (heartbeats notice, or the next event) */
  g_clear_pointer (&a, aura_test_sse_free);
  report (env, "job-1", "script", 10.0, "writing");
  wait_metric (env, "aura_bridge_open_streams", 1);
  c = open_stream (env, "/api/jobs/job-1/events", NULL);
  aura_test_sse_wait_events (c, NULL, 1);
  g_assert_cmpuint (soup_message_get_status (c->msg), ==, 200);
}

static void
test_connection_limit (void)
{
  g_autoptr(Env) env = env_new (NULL, "--max-connections=3", NULL);
  GSocket *idle[3];
  g_autofree char *refused = NULL;
  gboolean served = FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (idle); i++)
    idle[i] = aura_test_raw_connect (env->bridge->port, 0);
  {
    /* the fourth is closed before anything is read from it */
    g_autoptr(GSocket) extra = aura_test_raw_connect (env->bridge->port, 0);
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    aura_test_raw_send (extra, req, strlen (req));
    refused = aura_test_raw_read_all (extra);
    g_assert_cmpstr (refused, ==, "");
  }
  for (guint i = 0; i < G_N_ELEMENTS (idle); i++)
    g_object_unref (idle[i]);

  /* once they are gone, requests are served again */
  for (guint attempt = 0; !served; attempt++) {
    g_autoptr(GSocket) sock = aura_test_raw_connect (env->bridge->port, 0);
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
    g_autofree char *answer = NULL;
    g_assert_cmpuint (attempt, <, 1000);
    aura_test_raw_send (sock, req, strlen (req));
    answer = aura_test_raw_read_all (sock);
    served = g_str_has_prefix (answer, "HTTP/1.1 200");
    if (served)
      g_assert_null (strstr (answer, "\naura_bridge_connections_rejected_total 0\n"));
  }
}

/* One client cannot hold every connection: its next is closed at once,
 * another client is still served. */
static void
test_connection_limit_per_client (void)
{
  g_autoptr(Env) env = env_new (NULL, "--max-connections-per-client=2", NULL);
  const char req[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
  g_autoptr(GSocket) idle1 = aura_test_raw_connect (env->bridge->port, 0);
  g_autoptr(GSocket) idle2 = aura_test_raw_connect (env->bridge->port, 0);
  g_autoptr(GSocket) extra = aura_test_raw_connect (env->bridge->port, 0);
  g_autoptr(GSocket) other = aura_test_raw_connect_from (env->bridge->port, "127.0.0.2");
  g_autofree char *refused = NULL, *answer = NULL;

  aura_test_raw_send (extra, req, strlen (req));
  refused = aura_test_raw_read_all (extra);
  g_assert_cmpstr (refused, ==, "");
  aura_test_raw_send (other, req, strlen (req));
  answer = aura_test_raw_read_all (other);
  g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 200"));
}

/* ---- slow clients ------------------------------------------------------ */

static void
test_slow_client (void)
{
  g_autoptr(Env) env = env_new (no_coalescing, "--max-queue=65536", "--heartbeat-interval=600",
                                NULL);
  g_autoptr(AuraTestSse) healthy = NULL;
  g_autoptr(GSocket) slow_sock = NULL;
  g_autofree char *headers = NULL, *rest = NULL;
  g_autofree char *filler = g_strnfill (4000, 'x');
  /* The kernel holds up to ~4 MiB for the slow socket (tcp_wmem's maximum);
   * what goes beyond that would pile up in the bridge if nothing stopped it. */
  const guint n = slow () ? 1500 : 3000;         /* 3000 events of 4 KiB: 12 MiB */
  const char req[] = "GET /api/jobs/job-1/events HTTP/1.1\r\nHost: localhost\r\n\r\n";
  guint64 rss_before, rss_after;

  start_job (env, "job-1");
  healthy = open_stream (env, "/api/jobs/job-1/events", NULL);
  aura_test_sse_wait_events (healthy, NULL, 1);

  /* a client that never reads, with a small receive window */
  slow_sock = aura_test_raw_connect (env->bridge->port, 4096);
  aura_test_raw_send (slow_sock, req, strlen (req));
  headers = aura_test_raw_read_headers (slow_sock);
  g_assert_true (g_str_has_prefix (headers, "HTTP/1.1 200"));
  rss_before = aura_test_bridge_rss_kib (env->bridge);

  for (guint i = 0; i < n; i++) {
    g_autofree char *message = g_strdup_printf ("%u %s", i, filler);
    report (env, "job-1", "render", (i % 100) + 0.5, message);
    /* the healthy client keeps up: never more than 8 events (32 KiB) behind */
    if (i % 8 == 7)
      aura_test_sse_wait_events (healthy, NULL, i + 2);
  }

  /* the slow one was dropped, not buffered for */
  wait_metric (env, "aura_bridge_slow_clients_dropped_total", 1);
  rest = aura_test_raw_read_all (slow_sock);  /* the bridge closed it: this returns */
  /* the healthy one missed nothing and was not held up */
  aura_test_sse_wait_events (healthy, NULL, n + 1);
  g_assert_false (healthy->eof);
  g_assert_cmpuint (aura_test_bridge_metric (env->bridge, env->session, "aura_bridge_queued_bytes"),
                    <=, 65536);

  rss_after = aura_test_bridge_rss_kib (env->bridge);
  g_test_message ("bridge RSS %" G_GUINT64_FORMAT " KiB before, %" G_GUINT64_FORMAT
                  " KiB after %u events of 4 KiB", rss_before, rss_after, n);
  if (!slow () && !sanitized ())
    g_assert_cmpuint (rss_after, <, rss_before + 4 * 1024);
}

/* ---- many jobs on one stream ------------------------------------------- */

static const char *
event_job (AuraTestSseEvent *ev, JsonNode **holder)
{
  return json_object_get_string_member (event_object (ev, holder), "jobId");
}

static void
assert_ids_increase (AuraTestSse *sse)
{
  g_autoptr(GArray) ids = stream_ids (sse);

  /* strictly, but for a finished job's snapshot and terminal event */
  for (guint i = 1; i < ids->len; i++) {
    guint64 a = g_array_index (ids, guint64, i - 1), b = g_array_index (ids, guint64, i);
    g_assert_cmpuint (a, <=, b);
    if (a == b)
      g_assert_cmpstr (aura_test_sse_nth (sse, NULL, i)->type, !=, "step-progress");
  }
}

static void
test_multiplex (void)
{
  g_autoptr(Env) env = env_new (no_coalescing, "--heartbeat-interval=600", NULL);
  g_autoptr(AuraTestSse) m = NULL, m2 = NULL;
  g_autofree char *last = NULL;

  start_job (env, "a");
  start_job (env, "b");
  start_job (env, "c");
  report (env, "a", "script", 10.0, "a writes");

  m = open_stream (env, "/api/events?jobs=a,b", NULL);
  aura_test_sse_wait_events (m, NULL, 2);
  {
    g_autoptr(JsonNode) h0 = NULL, h1 = NULL;
    /* the current state of both, in id order: b's snapshot, then a's */
    g_assert_cmpstr (event_job (aura_test_sse_nth (m, NULL, 0), &h0), ==, "b");
    g_assert_cmpstr (event_job (aura_test_sse_nth (m, NULL, 1), &h1), ==, "a");
  }
  report (env, "b", "script", 20.0, "b writes");
  report (env, "c", "script", 20.0, "c writes");
  report (env, "a", "tts", 10.0, "a speaks");
  aura_test_call_ok (env->tb->client, "AddWarning", "ss", "b", "b warns");
  complete (env, "a");
  aura_test_sse_wait_events (m, "job-completed", 1);
  g_assert_cmpuint (aura_test_sse_count (m, NULL), ==, 7);
  for (guint i = 0; i < 7; i++) {
    g_autoptr(JsonNode) h = NULL;
    g_assert_cmpstr (event_job (aura_test_sse_nth (m, NULL, i), &h), !=, "c");
  }
  assert_ids_increase (m);
  g_assert_false (m->eof);              /* b still runs */

  /* resume after a drop: only what was missed, of the listed jobs */
  last = g_strdup (m->last_id);
  g_clear_pointer (&m, aura_test_sse_free);
  report (env, "b", "tts", 30.0, "b speaks");
  report (env, "c", "tts", 30.0, "c speaks");
  report (env, "b", "tts", 60.0, "b speaks more");
  m2 = open_stream (env, "/api/events?jobs=a,b", last);
  aura_test_sse_wait_events (m2, NULL, 2);
  for (guint i = 0; i < 2; i++) {
    g_autoptr(JsonNode) h = NULL;
    g_assert_cmpstr (event_job (aura_test_sse_nth (m2, NULL, i), &h), ==, "b");
  }
  /* when every listed job has ended, so does the stream, and a client
   * with the last id is told there is no more */
  complete (env, "b");
  aura_test_sse_wait_eof (m2);
  g_assert_cmpuint (aura_test_sse_count (m2, NULL), ==, 4);
  assert_ids_increase (m2);
  {
    g_autofree char *path = g_strdup ("/api/events?jobs=a,b");
    const char *const hdr[] = { "Last-Event-ID", m2->last_id, NULL };
    g_autoptr(AuraTestResponse) res = fetch (env, "GET", path, hdr);
    g_assert_cmpuint (res->status, ==, 204);
  }
}

static void
test_all_jobs (void)
{
  g_autoptr(Env) env = env_new (no_coalescing, "--heartbeat-interval=600", NULL);
  g_autoptr(AuraTestSse) all = NULL, again = NULL;
  g_autofree char *last = NULL;
  guint n;

  start_job (env, "done");
  complete (env, "done");
  start_job (env, "running");

  /* every job's state: the finished one with its end */
  all = open_stream (env, "/api/events", NULL);
  aura_test_sse_wait_events (all, NULL, 3);
  g_assert_cmpuint (aura_test_sse_count (all, "job-completed"), ==, 1);
  g_assert_cmpuint (aura_test_sse_count (all, "step-progress"), ==, 2);

  /* and jobs that start later */
  start_job (env, "later");
  aura_test_sse_wait_events (all, NULL, 4);
  {
    g_autoptr(JsonNode) h = NULL;
    g_assert_cmpstr (event_job (aura_test_sse_nth (all, NULL, 3), &h), ==, "later");
  }
  assert_ids_increase (all);

  /* resuming gets every job's events after the id, and only those */
  last = g_strdup (all->last_id);
  n = aura_test_sse_count (all, NULL);
  g_clear_pointer (&all, aura_test_sse_free);
  report (env, "running", "script", 50.0, "writing");
  start_job (env, "newest");
  report (env, "later", "tts", 50.0, "speaking");
  again = open_stream (env, "/api/events", last);
  aura_test_sse_wait_events (again, NULL, 3);
  {
    g_autoptr(JsonNode) h0 = NULL, h1 = NULL, h2 = NULL;
    g_assert_cmpstr (event_job (aura_test_sse_nth (again, NULL, 0), &h0), ==, "running");
    g_assert_cmpstr (event_job (aura_test_sse_nth (again, NULL, 1), &h1), ==, "newest");
    g_assert_cmpstr (event_job (aura_test_sse_nth (again, NULL, 2), &h2), ==, "later");
  }
  g_assert_cmpuint (event_id (aura_test_sse_nth (again, NULL, 0)), >,
                    g_ascii_strtoull (last, NULL, 10));
  g_assert_cmpuint (n, ==, 4);
  g_assert_false (again->eof);          /* it follows every job: it never ends by itself */
}

/* ---- the daemon going away and coming back ----------------------------- */

typedef struct {
  AuraTestSse *sse;
  const char *status;
} HeartbeatWait;

static gboolean
heartbeat_says (gpointer data)
{
  HeartbeatWait *w = data;
  guint n = aura_test_sse_count (w->sse, "heartbeat");
  g_autoptr(JsonNode) node = NULL;

  if (n == 0)
    return FALSE;
  return g_strcmp0 (json_object_get_string_member (
                      event_object (aura_test_sse_nth (w->sse, "heartbeat", n - 1), &node),
                      "status"), w->status) == 0;
}

static void
wait_heartbeat_status (AuraTestSse *sse, const char *status)
{
  HeartbeatWait w = { sse, status };
  aura_test_wait_until (heartbeat_says, &w, status);
}

static void
test_daemon_restart (void)
{
  g_autoptr(Env) env = env_new (no_coalescing, "--heartbeat-interval=0.2", NULL);
  g_autoptr(AuraTestSse) job = NULL, all = NULL, opened_while_down = NULL;
  guint64 before;

  start_job (env, "job-1");
  job = open_stream (env, "/api/jobs/job-1/events", NULL);
  all = open_stream (env, "/api/events", NULL);
  aura_test_sse_wait_events (job, NULL, 1);
  aura_test_sse_wait_events (all, NULL, 1);
  wait_heartbeat_status (all, "alive");
  before = event_id (aura_test_sse_nth (all, NULL, 0));

  aura_test_bus_stop_daemon (env->tb);

  /* the streams stay open and say what is going on */
  wait_heartbeat_status (job, "daemon-unavailable");
  wait_heartbeat_status (all, "daemon-unavailable");
  {
    g_autoptr(AuraTestResponse) health = fetch (env, "GET", "/healthz", NULL);
    g_autoptr(AuraTestResponse) jobs = fetch (env, "GET", "/api/jobs", NULL);
    g_autoptr(AuraTestResponse) state = fetch (env, "GET", "/api/jobs/job-1", NULL);
    g_autoptr(AuraTestResponse) cancel = fetch (env, "POST", "/api/jobs/job-1/cancel", NULL);
    g_autoptr(JsonNode) node = aura_test_response_json (health);
    g_assert_cmpuint (health->status, ==, 503);
    g_assert_false (json_object_get_boolean_member (json_node_get_object (node),
                                                    "daemonReachable"));
    assert_json_error (jobs, 503, "daemon-unavailable");
    assert_json_error (state, 503, "daemon-unavailable");
    assert_json_error (cancel, 503, "daemon-unavailable");
    g_assert_cmpuint (aura_test_bridge_metric (env->bridge, env->session,
                                               "aura_bridge_daemon_reachable"), ==, 0);
  }
  /* a stream opened now opens all the same (a browser given an error
   * would give up) and waits */
  opened_while_down = open_stream (env, "/api/jobs/job-1/events", NULL);
  aura_test_sse_wait_response (opened_while_down);
  g_assert_cmpuint (soup_message_get_status (opened_while_down->msg), ==, 200);
  wait_heartbeat_status (opened_while_down, "daemon-unavailable");

  aura_test_bus_start_daemon (env->tb, NULL);
  wait_heartbeat_status (all, "alive");

  /* This daemon does not keep jobs across restarts: job-1 is gone, its
   * streams end, and a reconnecting client learns so. */
  aura_test_sse_wait_eof (job);
  aura_test_sse_wait_eof (opened_while_down);
  assert_get_error (env, "/api/jobs/job-1/events", 404, "no-such-job");

  /* the stream of every job carries on with the jobs of the new daemon */
  start_job (env, "job-2");
  aura_test_sse_wait_events (all, NULL, 2);
  {
    g_autoptr(JsonNode) h = NULL;
    AuraTestSseEvent *ev = aura_test_sse_nth (all, NULL, 1);
    g_assert_cmpstr (event_job (ev, &h), ==, "job-2");
    g_assert_cmpuint (event_id (ev), >, before);   /* ids go on across restarts */
  }
  g_assert_false (all->eof);
  {
    g_autoptr(AuraTestResponse) health = fetch (env, "GET", "/healthz", NULL);
    g_assert_cmpuint (health->status, ==, 200);
  }
}

/* ---- cancel ------------------------------------------------------------ */

/* A provider process (tests/test-provider.c, built on libaura-provider). */
typedef struct {
  GSubprocess *proc;
  GDataInputStream *out;
} Provider;

static Provider *
provider_start (AuraTestBus *tb, const char *job, const char *mode, const char *name,
                const char *type)
{
  g_autofree char *address = g_strdup_printf ("--address=%s", tb->address);
  g_autofree char *job_arg = g_strdup_printf ("--job=%s", job);
  g_autofree char *mode_arg = g_strdup_printf ("--mode=%s", mode);
  g_autofree char *name_arg = g_strdup_printf ("--name=%s", name);
  g_autofree char *type_arg = g_strdup_printf ("--type=%s", type);
  const char *argv[] = { aura_test_program ("AURA_TEST_PROVIDER"), address, job_arg, mode_arg,
                         name_arg, type_arg, NULL };
  Provider *p = g_new0 (Provider, 1);

  p->proc = aura_test_spawn (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  p->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (p->proc));
  /* it says READY once registered (a blocking read waits for that event) */
  for (;;) {
    g_autoptr(GError) error = NULL;
    g_autofree char *line = g_data_input_stream_read_line (p->out, NULL, NULL, &error);
    g_assert_no_error (error);
    if (line == NULL)
      g_error ("provider %s ended before it registered", name);
    if (g_str_has_prefix (line, "READY"))
      break;
  }
  return p;
}

static void
provider_stop (Provider *p)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_send_signal (p->proc, SIGTERM);
  g_subprocess_wait (p->proc, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (p->proc));
  g_assert_cmpint (g_subprocess_get_exit_status (p->proc), ==, 0);
  g_object_unref (p->out);
  g_object_unref (p->proc);
  g_free (p);
}

static JsonObject *
provider_status (JsonArray *statuses, const char *name)
{
  for (guint i = 0; i < json_array_get_length (statuses); i++) {
    JsonObject *o = json_array_get_object_element (statuses, i);
    if (g_strcmp0 (json_object_get_string_member (o, "providerName"), name) == 0)
      return o;
  }
  g_error ("no provider %s in the cancel response", name);
}

/* Cancels wait for their providers, up to the daemon's cancel timeout: a
 * flood of them, held up by a provider that never answers, must not hold up
 * reads. The job is still Running when the read is answered (with shared
 * slots the read came only after the cancels ended, and then Canceled). */
static void
test_cancels_do_not_block_reads (void)
{
  g_autoptr(Env) env = env_new ("[Timing]\nCancelTimeoutSeconds=60\n", NULL);
  const char req[] = "POST /api/jobs/film/cancel HTTP/1.1\r\nHost: localhost\r\n"
                     "Content-Length: 0\r\n\r\n";
  g_autoptr(GPtrArray) cancels = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(AuraTestResponse) res = NULL;
  g_autoptr(JsonNode) node = NULL;
  Provider *stuck;

  start_job (env, "film");
  stuck = provider_start (env->tb, "film", "never", "StuckRender", "FFmpeg");
  for (guint i = 0; i < 80; i++) {
    GSocket *sock = aura_test_raw_connect (env->bridge->port, 0);
    aura_test_raw_send (sock, req, strlen (req));
    g_ptr_array_add (cancels, sock);
  }
  /* (the bridge accepts connections in order: the cancels are read and
   * sent to the daemon before this request) */
  res = fetch (env, "GET", "/api/jobs/film", NULL);
  g_assert_cmpuint (res->status, ==, 200);
  node = aura_test_response_json (res);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (node), "status"), ==,
                   "Running");
  provider_stop (stuck);
}

#define NOT_SUPPORTED_WARNING \
  "Provider LegacyProvider (LLM) does not support cancellation. Operation may continue until completion."

/* The seed's example, from a real cancellation: one provider that cancels,
 * one that cannot. */
static void
test_cancel (void)
{
  g_autoptr(Env) env = env_new (NULL, "--heartbeat-interval=600", NULL);
  g_autoptr(AuraTestSse) sse = NULL;
  g_autoptr(AuraTestResponse) res = NULL;
  g_autoptr(JsonNode) node = NULL, ended = NULL;
  JsonObject *o, *tts, *llm;
  JsonArray *statuses, *warnings;
  Provider *eleven, *legacy;

  start_job (env, "film");
  eleven = provider_start (env->tb, "film", "cancellable", "ElevenLabs", "TTS");
  legacy = provider_start (env->tb, "film", "not-cancellable", "LegacyProvider", "LLM");
  sse = open_stream (env, "/api/jobs/film/events", NULL);
  aura_test_sse_wait_events (sse, NULL, 1);

  res = fetch (env, "POST", "/api/jobs/film/cancel", NULL);
  g_assert_cmpuint (res->status, ==, 200);
  g_assert_cmpstr (soup_message_headers_get_content_type (res->headers, NULL), ==,
                   "application/json");
  node = aura_test_response_json (res);
  o = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (o, "jobId"), ==, "film");
  g_assert_cmpstr (json_object_get_string_member (o, "message"), ==,
                   "All providers cancelled or reported as not supporting cancellation");
  g_assert_cmpstr (json_object_get_string_member (o, "currentStatus"), ==, "Canceled");
  g_assert_cmpuint (json_node_get_value_type (json_object_get_member (o, "cleanupScheduled")), ==,
                    G_TYPE_BOOLEAN);
  g_assert_cmpstr (json_object_get_string_member (o, "correlationId"), ==, "corr-1");
  statuses = json_object_get_array_member (o, "providerStatuses");
  g_assert_cmpuint (json_array_get_length (statuses), ==, 2);
  tts = provider_status (statuses, "ElevenLabs");
  g_assert_cmpstr (json_object_get_string_member (tts, "providerType"), ==, "TTS");
  g_assert_true (json_object_get_boolean_member (tts, "supportsCancellation"));
  g_assert_cmpstr (json_object_get_string_member (tts, "status"), ==, "Cancelled");
  g_assert_false (json_object_has_member (tts, "warning"));
  llm = provider_status (statuses, "LegacyProvider");
  g_assert_cmpstr (json_object_get_string_member (llm, "providerType"), ==, "LLM");
  g_assert_false (json_object_get_boolean_member (llm, "supportsCancellation"));
  g_assert_cmpstr (json_object_get_string_member (llm, "status"), ==, "NotSupported");
  g_assert_cmpstr (json_object_get_string_member (llm, "warning"), ==, NOT_SUPPORTED_WARNING);
  warnings = json_object_get_array_member (o, "warnings");
  g_assert_cmpuint (json_array_get_length (warnings), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (warnings, 0), ==, NOT_SUPPORTED_WARNING);

  /* the stream tells the end and ends */
  aura_test_sse_wait_eof (sse);
  g_assert_cmpuint (aura_test_sse_count (sse, "job-cancelled"), ==, 1);
  event_object (aura_test_sse_nth (sse, "job-cancelled", 0), &ended);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (ended), "status"), ==,
                   "Canceled");

  /* a new stream of the cancelled job rebuilds its terminal event from the
   * state (rollbackStages included): the very event the daemon sent */
  {
    g_autoptr(AuraTestSse) after = open_stream (env, "/api/jobs/film/events", NULL);
    AuraTestSseEvent *live = aura_test_sse_nth (sse, "job-cancelled", 0);
    g_autoptr(GPtrArray) hist = history (env, "film", event_id (live) - 1);
    aura_test_sse_wait_eof (after);
    g_assert_cmpstr (aura_test_sse_nth (after, "job-cancelled", 0)->data, ==, live->data);
    g_assert_cmpstr (live->data, ==, ((HistoryEvent *) hist->pdata[0])->json);
    g_assert_nonnull (strstr (live->data, "\"rollbackStages\":"));
  }

  /* cancelling again: the job no longer runs */
  {
    g_autoptr(AuraTestResponse) again = fetch (env, "POST", "/api/jobs/film/cancel", NULL);
    assert_json_error (again, 409, "not-running");
  }
  provider_stop (eleven);
  provider_stop (legacy);
}

static void
test_cancel_errors (void)
{
  g_autoptr(Env) env = NULL;
  g_autoptr(AuraTestBus) scratch = aura_test_bus_new ();
  g_autofree char *token_file = aura_test_bus_write_file (scratch, "token", "s3cret\n");
  g_autofree char *arg = g_strdup_printf ("--token-file=%s", token_file);
  const char *const no_token[] = { NULL };
  const char *const wrong[] = { "Authorization", "Bearer nope", NULL };
  const char *const right[] = { "Authorization", "Bearer s3cret", NULL };

  env = env_new (NULL, arg, NULL);
  start_job (env, "job-1");
  start_job (env, "done");
  complete (env, "done");
  {
    g_autoptr(AuraTestResponse) a = fetch (env, "POST", "/api/jobs/job-1/cancel", no_token);
    g_autoptr(AuraTestResponse) b = fetch (env, "POST", "/api/jobs/job-1/cancel", wrong);
    g_autoptr(AuraTestResponse) c = fetch (env, "POST", "/api/jobs/bad%20id/cancel", right);
    g_autoptr(AuraTestResponse) d = fetch (env, "POST", "/api/jobs/nope/cancel", right);
    g_autoptr(AuraTestResponse) e = fetch (env, "POST", "/api/jobs/done/cancel", right);
    assert_json_error (a, 401, "unauthorized");
    g_assert_true (g_str_has_prefix (soup_message_headers_get_one (a->headers, "WWW-Authenticate"),
                                     "Bearer"));
    assert_json_error (b, 401, "unauthorized");
    assert_json_error (c, 400, "invalid-job-id");
    assert_json_error (d, 404, "no-such-job");
    assert_json_error (e, 409, "not-running");
    /* a refused request changed nothing */
    g_assert_cmpuint (job_last_event_id (env, "job-1"), ==, 1);
  }
  {
    g_autoptr(AuraTestResponse) ok = fetch (env, "POST", "/api/jobs/job-1/cancel", right);
    g_autoptr(JsonNode) node = aura_test_response_json (ok);
    g_assert_cmpuint (ok->status, ==, 200);
    g_assert_cmpstr (json_object_get_string_member (json_node_get_object (node), "currentStatus"),
                     ==, "Canceled");
  }
}

/* On a bus like the system bus, a bridge that runs as a user who may not
 * cancel other users' jobs (and is no operator) gets the daemon's
 * AccessDenied: 403. */
static void
test_cancel_forbidden (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new_system_like ();
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(SoupSession) session = aura_test_session_new ();
  g_autoptr(AuraTestBridge) bridge = NULL;
  g_autofree char *address = NULL, *u = NULL;
  const char *const as_nobody[] = { "setpriv", "--reuid=65534", "--regid=65534",
                                    "--clear-groups", "--", NULL };
  const char *argv[] = { aura_test_program ("AURA_SSE_BRIDGE"), NULL, "--listen=127.0.0.1:0",
                         NULL };

  aura_test_bus_start_daemon (tb, NULL);
  aura_test_call_ok (tb->client, "StartJob", "sa{sv}", "film", 0);   /* as root */
  address = g_strdup_printf ("--address=%s", tb->address);
  argv[1] = address;
  bridge = aura_test_bridge_new (aura_test_spawn_prefixed (launcher, as_nobody, argv));
  u = aura_test_bridge_url (bridge, "/api/jobs/film/cancel");
  {
    g_autoptr(AuraTestResponse) res = aura_test_fetch (session, "POST", u, NULL, NULL);
    assert_json_error (res, 403, "access-denied");
  }
  {
    /* reading stays open to everyone */
    g_autofree char *state_url = aura_test_bridge_url (bridge, "/api/jobs/film");
    g_autoptr(AuraTestResponse) res = aura_test_fetch (session, "GET", state_url, NULL, NULL);
    g_assert_cmpuint (res->status, ==, 200);
  }
}

/* ---- CORS and other origins -------------------------------------------- */

static void
test_cors (void)
{
  g_autoptr(Env) env = env_new (NULL, "--cors-origin=https://app.example", NULL);
  const char *const preflight_events[] = {
    "Origin", "https://app.example", "Access-Control-Request-Method", "GET",
    "Access-Control-Request-Headers", "last-event-id", NULL
  };
  const char *const preflight_cancel[] = {
    "Origin", "https://app.example", "Access-Control-Request-Method", "POST",
    "Access-Control-Request-Headers", "authorization", NULL
  };
  const char *const evil[] = { "Origin", "https://evil.example", NULL };
  const char *const good[] = { "Origin", "https://app.example", NULL };

  start_job (env, "job-1");
  {
    g_autoptr(AuraTestResponse) a = fetch (env, "OPTIONS", "/api/jobs/job-1/events",
                                           preflight_events);
    g_autoptr(AuraTestResponse) b = fetch (env, "OPTIONS", "/api/jobs/job-1/cancel",
                                           preflight_cancel);
    g_autoptr(AuraTestResponse) c = fetch (env, "OPTIONS", "/api/jobs/job-1/events", evil);
    g_autoptr(AuraTestResponse) d = fetch (env, "GET", "/api/jobs", good);
    g_autoptr(AuraTestResponse) e = fetch (env, "GET", "/api/jobs", evil);

    g_assert_cmpuint (a->status, ==, 204);
    g_assert_cmpstr (soup_message_headers_get_one (a->headers, "Access-Control-Allow-Origin"), ==,
                     "https://app.example");
    g_assert_true (soup_message_headers_header_contains (a->headers,
                                                         "Access-Control-Allow-Headers",
                                                         "Last-Event-ID"));
    g_assert_true (soup_message_headers_header_contains (a->headers,
                                                         "Access-Control-Allow-Methods", "GET"));
    g_assert_true (soup_message_headers_header_contains (a->headers, "Vary", "Origin"));
    g_assert_cmpuint (b->status, ==, 204);
    g_assert_true (soup_message_headers_header_contains (b->headers,
                                                         "Access-Control-Allow-Methods", "POST"));
    g_assert_true (soup_message_headers_header_contains (b->headers,
                                                         "Access-Control-Allow-Headers",
                                                         "Authorization"));
    assert_json_error (c, 403, "origin-not-allowed");
    g_assert_cmpuint (d->status, ==, 200);
    g_assert_cmpstr (soup_message_headers_get_one (d->headers, "Access-Control-Allow-Origin"), ==,
                     "https://app.example");
    assert_json_error (e, 403, "origin-not-allowed");
  }
  /* a stream for an allowed origin */
  {
    g_autofree char *u = url (env, "/api/jobs/job-1/events");
    g_autoptr(SoupMessage) msg = soup_message_new ("GET", u);
    g_autoptr(AuraTestSse) sse = NULL;
    sse = aura_test_sse_open (env->session, u, NULL);
    (void) msg;
    aura_test_sse_wait_events (sse, NULL, 1);
  }
}

/* Without --cors-origin, a page of another site cannot make the bridge do
 * anything: a POST from it would cancel a job even though the browser would
 * not let the page read the answer. */
static void
test_other_origins (void)
{
  g_autoptr(Env) env = env_new (NULL, NULL);
  g_autofree char *own = g_strdup_printf ("http://127.0.0.1:%u", env->bridge->port);
  const char *const evil[] = { "Origin", "https://evil.example", NULL };
  const char *const same[] = { "Origin", own, NULL };

  start_job (env, "job-1");
  {
    g_autoptr(AuraTestResponse) a = fetch (env, "POST", "/api/jobs/job-1/cancel", evil);
    g_autoptr(AuraTestResponse) b = fetch (env, "GET", "/api/jobs", evil);
    g_autoptr(AuraTestResponse) c = fetch (env, "GET", "/api/jobs", same);
    assert_json_error (a, 403, "origin-not-allowed");
    assert_json_error (b, 403, "origin-not-allowed");
    g_assert_cmpuint (c->status, ==, 200);
    g_assert_null (soup_message_headers_get_one (c->headers, "Access-Control-Allow-Origin"));
  }
  /* the job was not touched */
  g_assert_cmpuint (job_last_event_id (env, "job-1"), ==, 1);
}

/* ---- the JSON API ------------------------------------------------------ */

static void
test_json_api (void)
{
  g_autoptr(Env) env = env_new (no_coalescing, NULL);
  g_autoptr(AuraTestResponse) list = NULL, one = NULL, head = NULL, health = NULL, metrics = NULL;
  g_autoptr(JsonNode) list_json = NULL, one_json = NULL, health_json = NULL;
  g_auto(GStrv) lines = NULL;
  JsonObject *o;
  guint metric_count = 0;

  start_job (env, "job-1");
  start_job (env, "job-2");
  report (env, "job-2", "tts", 50.0, "speaking");

  list = fetch (env, "GET", "/api/jobs", NULL);
  g_assert_cmpuint (list->status, ==, 200);
  g_assert_cmpstr (soup_message_headers_get_content_type (list->headers, NULL), ==,
                   "application/json");
  list_json = aura_test_response_json (list);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (list_json)), ==, 2);

  one = fetch (env, "GET", "/api/jobs/job-2", NULL);
  g_assert_cmpuint (one->status, ==, 200);
  one_json = aura_test_response_json (one);
  o = json_node_get_object (one_json);
  g_assert_cmpstr (json_object_get_string_member (o, "jobId"), ==, "job-2");
  g_assert_cmpstr (json_object_get_string_member (o, "stage"), ==, "tts");
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "Running");
  g_assert_cmpint (json_object_get_int_member (o, "percent"), ==, 5 + 20 + 15);
  g_assert_cmpint (json_object_get_int_member (o, "lastEventId"), ==,
                   (gint64) job_last_event_id (env, "job-2"));
  g_assert_true (json_object_has_member (o, "historyFloor"));

  head = fetch (env, "HEAD", "/api/jobs/job-2", NULL);
  g_assert_cmpuint (head->status, ==, 200);
  g_assert_cmpstr (head->body, ==, "");

  health = fetch (env, "GET", "/healthz", NULL);
  g_assert_cmpuint (health->status, ==, 200);
  health_json = aura_test_response_json (health);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (health_json), "status"),
                   ==, "ok");
  g_assert_true (json_object_get_boolean_member (json_node_get_object (health_json),
                                                 "daemonReachable"));

  /* Prometheus text format: every sample has its HELP and TYPE */
  metrics = fetch (env, "GET", "/metrics", NULL);
  g_assert_cmpuint (metrics->status, ==, 200);
  g_assert_true (g_str_has_prefix (soup_message_headers_get_one (metrics->headers, "Content-Type"),
                                   "text/plain; version=0.0.4"));
  lines = g_strsplit (metrics->body, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_autofree char *help = NULL, *type = NULL;
    g_auto(GStrv) parts = NULL;
    if (lines[i][0] == '#' || lines[i][0] == '\0')
      continue;
    parts = g_strsplit (lines[i], " ", 2);
    g_assert_nonnull (parts[1]);
    g_assert_true (g_regex_match_simple ("^aura_bridge_[a-z_]+$", parts[0], 0, 0));
    g_assert_true (g_regex_match_simple ("^[0-9]+$", parts[1], 0, 0));
    help = g_strdup_printf ("# HELP %s ", parts[0]);
    type = g_strdup_printf ("# TYPE %s ", parts[0]);
    g_assert_nonnull (strstr (metrics->body, help));
    g_assert_nonnull (strstr (metrics->body, type));
    metric_count++;
  }
  g_assert_cmpuint (metric_count, >=, 4);
  g_assert_cmpuint (aura_test_bridge_metric (env->bridge, env->session,
                                             "aura_bridge_daemon_reachable"), ==, 1);
  g_assert_cmpuint (aura_test_bridge_metric (env->bridge, env->session,
                                             "aura_bridge_open_streams"), ==, 0);
  {
    g_autoptr(AuraTestSse) sse = open_stream (env, "/api/jobs/job-1/events", NULL);
    aura_test_sse_wait_events (sse, NULL, 1);
    g_assert_cmpuint (aura_test_bridge_metric (env->bridge, env->session,
                                               "aura_bridge_open_streams"), ==, 1);
    g_assert_cmpuint (aura_test_bridge_metric (env->bridge, env->session,
                                               "aura_bridge_events_sent_total"), ==, 1);
  }
}

/* ---- the web UI -------------------------------------------------------- */

static void
test_web (void)
{
  g_autoptr(Env) env = env_new (NULL, NULL);
  g_autoptr(AuraTestResponse) root = fetch (env, "GET", "/", NULL);
  g_autoptr(AuraTestResponse) index = fetch (env, "GET", "/index.html", NULL);
  g_autoptr(AuraTestResponse) head = fetch (env, "HEAD", "/", NULL);
  g_autoptr(AuraTestResponse) post = fetch (env, "POST", "/", NULL);
  g_autofree char *source = NULL;
  g_autofree char *source_path = g_build_filename (aura_test_program ("AURA_WEB_DIR"),
                                                   "index.html", NULL);
  const char *etag;
  const char *const missing[] = {
    "/nope.js", "/.hidden", "/index.html/x", "/%2e%2e/%2e%2e/etc/passwd", "/..%2F..%2Fetc%2Fpasswd",
    "/api", NULL
  };

  /* the files of data/web, compiled in */
  g_assert_true (g_file_get_contents (source_path, &source, NULL, NULL));
  g_assert_cmpuint (root->status, ==, 200);
  g_assert_cmpstr (root->body, ==, source);
  g_assert_cmpstr (index->body, ==, source);
  g_assert_cmpstr (soup_message_headers_get_one (root->headers, "Content-Type"), ==,
                   "text/html; charset=utf-8");
  g_assert_cmpstr (soup_message_headers_get_one (root->headers, "Cache-Control"), ==, "no-cache");
  g_assert_nonnull (soup_message_headers_get_one (root->headers, "Content-Security-Policy"));
  g_assert_cmpstr (soup_message_headers_get_one (root->headers, "X-Content-Type-Options"), ==,
                   "nosniff");
  etag = soup_message_headers_get_one (root->headers, "ETag");
  g_assert_nonnull (etag);
  {
    const char *const hdr[] = { "If-None-Match", etag, NULL };
    g_autoptr(AuraTestResponse) again = fetch (env, "GET", "/", hdr);
    g_assert_cmpuint (again->status, ==, 304);
    g_assert_cmpstr (again->body, ==, "");
  }
  g_assert_cmpuint (head->status, ==, 200);
  g_assert_cmpstr (head->body, ==, "");
  g_assert_cmpint (soup_message_headers_get_content_length (head->headers), ==, strlen (source));
  g_assert_cmpuint (post->status, ==, 405);

  for (guint i = 0; missing[i] != NULL; i++)
    assert_get_error (env, missing[i], 404, "not-found");
}

/* ---- socket activation ------------------------------------------------- */

static void
test_socket_activation (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocket) listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                              G_SOCKET_PROTOCOL_TCP, &error);
  g_autoptr(AuraTestBridge) bridge = NULL;
  g_autoptr(SoupSession) session = aura_test_session_new ();
  g_autoptr(AuraTestResponse) res = NULL;
  g_autofree char *u = NULL;
  guint16 port;

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (listener, any_port, TRUE, &error));
  g_assert_true (g_socket_listen (listener, &error));
  bound = g_socket_get_local_address (listener, &error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  aura_test_bus_start_daemon (tb, NULL);

  /* the bridge serves on the socket it was given, not on a port of its own */
  bridge = aura_test_bridge_start_activated (tb, listener);
  g_assert_cmpuint (bridge->port, ==, port);
  g_clear_object (&listener);
  u = aura_test_bridge_url (bridge, "/healthz");
  res = aura_test_fetch (session, "GET", u, NULL, NULL);
  g_assert_cmpuint (res->status, ==, 200);
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
  g_test_add_func ("/bridge/http-errors", test_http_errors);
  g_test_add_func ("/bridge/host-check", test_host_check);
  g_test_add_func ("/bridge/bad-input", test_bad_input);
  g_test_add_func ("/bridge/hostile-matrix", test_hostile_matrix);
  g_test_add_func ("/bridge/idle-timeout", test_idle_timeout);
  g_test_add_func ("/bridge/stream-limits", test_stream_limits);
  g_test_add_func ("/bridge/connection-limit", test_connection_limit);
  g_test_add_func ("/bridge/connection-limit-per-client", test_connection_limit_per_client);
  g_test_add_func ("/bridge/cancels-do-not-block-reads", test_cancels_do_not_block_reads);
  g_test_add_func ("/bridge/slow-client", test_slow_client);
  g_test_add_func ("/bridge/multiplex", test_multiplex);
  g_test_add_func ("/bridge/all-jobs", test_all_jobs);
  g_test_add_func ("/bridge/daemon-restart", test_daemon_restart);
  g_test_add_func ("/bridge/cancel", test_cancel);
  g_test_add_func ("/bridge/cancel-errors", test_cancel_errors);
  g_test_add_func ("/bridge/cancel-forbidden", test_cancel_forbidden);
  g_test_add_func ("/bridge/cors", test_cors);
  g_test_add_func ("/bridge/other-origins", test_other_origins);
  g_test_add_func ("/bridge/json-api", test_json_api);
  g_test_add_func ("/bridge/web", test_web);
  g_test_add_func ("/bridge/socket-activation", test_socket_activation);
  return g_test_run ();
}

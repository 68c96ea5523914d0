/* SPDX-License-Identifier: MIT */
/* The SSE bridge's HTTP side, fed raw bytes: the input is what a client
 * sends on one connection (one request, several pipelined, or garbage). A
 * real AuraBridge serves it from a socketpair, with an in-memory event
 * source on a real job model behind it (aura-fuzz-source.c), and the main
 * loop runs until nothing more can happen without time passing. An event
 * stream then gets a live event and a heartbeat; the client closes and a
 * heartbeat finds out. An input that contains "X-Fuzz-Daemon: down" finds
 * the daemon unreachable, and an open stream sees it come back.
 *
 * What must hold, whatever the bytes:
 * - nothing crashes, asserts or logs a warning;
 * - the answer is one well-formed HTTP response (after any 100 Continue)
 *   with a status the API documents, framed as its headers say, bounded in
 *   size, and nothing after it (every response closes the connection);
 * - error bodies are the API's JSON errors, and JSON bodies parse;
 * - event streams are well-formed retry/id/event/data blocks, with JSON
 *   data, ids increasing, never an event the client's Last-Event-ID already
 *   covers, a 204 only for finished jobs whose end the client has, a live
 *   event and a heartbeat reaching an open stream;
 * - jobs change only through a successful cancel;
 * - once the client is gone, the bridge holds no stream, connection,
 *   request or source call: nothing grows from one input to the next. */
#define _GNU_SOURCE                   /* memmem */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aura-bridge.h"
#include "aura-fuzz-source.h"
#include "aura-id.h"
#include "aura-json.h"
#include "aura-web-resources.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Limits small enough for inputs of a few KB to reach them (the fuzzer
 * runs with -max_len=4096). */
#define MAX_HEADER_BYTES 1024
#define MAX_BODY_BYTES 512
#define MAX_JOBS_PER_STREAM 4
#define MAX_QUEUE_BYTES 8192          /* the replay budget is half of it */
#define RETRY_MS 1000
#define TOKEN "s3cret-token"
#define DAEMON_DOWN "X-Fuzz-Daemon: down"

/* Far more than any one response can take; a loop that never settles is a
 * finding. */
#define MAX_ITERATIONS 100000
/* The largest page of the web UI is ~36 KB. */
#define MAX_RESPONSE_BYTES (256 * 1024)

static AuraBridge *bridge;
static AuraEventSource *source;
static gboolean daemon_was_down;      /* this input found the daemon down */

/* ---- the client end ---------------------------------------------------- */

typedef struct {
  int fd;
  const guint8 *input;
  gsize size;
  gsize written;
  GByteArray *received;
  gboolean eof;                       /* the bridge closed its end */
} Client;

static gboolean
client_write (Client *c)
{
  gssize n;

  if (c->fd < 0 || c->written >= c->size)
    return FALSE;
  n = send (c->fd, c->input + c->written, c->size - c->written, MSG_NOSIGNAL);
  if (n > 0) {
    c->written += (gsize) n;
    return TRUE;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return FALSE;
  /* the bridge closed the connection before reading everything */
  c->written = c->size;
  return FALSE;
}

static gboolean
client_read (Client *c)
{
  guint8 buf[16384];
  gssize n;

  if (c->fd < 0 || c->eof)
    return FALSE;
  n = recv (c->fd, buf, sizeof buf, 0);
  if (n > 0) {
    g_byte_array_append (c->received, buf, (guint) n);
    g_assert_cmpuint (c->received->len, <=, MAX_RESPONSE_BYTES);
    return TRUE;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return FALSE;
  c->eof = TRUE;
  return TRUE;
}

/* AURA_FUZZ_SHOW=1 shows what the bridge answered */
static void
show (const Client *c)
{
  if (g_getenv ("AURA_FUZZ_SHOW") != NULL)
    fprintf (stderr, "---- %u bytes:\n%.*s\n", c->received->len, (int) c->received->len,
             (const char *) c->received->data);
}

/* Runs until nothing happens any more: every call of the source answered,
 * every byte that can be written written and read. */
static void
pump (Client *c)
{
  for (guint i = 0;; i++) {
    gboolean busy = FALSE;

    g_assert_cmpuint (i, <, MAX_ITERATIONS);
    busy |= client_write (c);
    busy |= client_read (c);
    busy |= g_main_context_iteration (NULL, FALSE);
    if (!busy)
      return;
  }
}

/* The first message libsoup started on the connection. */
static struct {
  SoupServerMessage *msg;             /* weak */
  gboolean started;
  gboolean finished;
} tracked;

static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  if (tracked.started)
    return;
  tracked.started = TRUE;
  tracked.msg = msg;
  g_object_add_weak_pointer (G_OBJECT (msg), (gpointer *) &tracked.msg);
}

static void
on_request_done (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  if (msg == tracked.msg)
    tracked.finished = TRUE;
}

static void
tracked_clear (void)
{
  if (tracked.msg != NULL)
    g_object_remove_weak_pointer (G_OBJECT (tracked.msg), (gpointer *) &tracked.msg);
  memset (&tracked, 0, sizeof tracked);
}

/* Whether libsoup is still busy with what is already decided: the end of a
 * chunked body is written from a thread (GOutputStream's close_async), and
 * a finished response is followed by closing the connection. An open
 * stream, or a request still being read, waits for the client instead. */
static gboolean
in_flight (const Client *c)
{
  if (tracked.msg != NULL && !tracked.finished) {
    SoupMessageBody *body = soup_server_message_get_response_body (tracked.msg);
    g_autoptr(GBytes) rest = soup_message_body_get_chunk (body, body->length);
    return rest != NULL && g_bytes_get_size (rest) == 0;
  }
  return tracked.finished && c->fd >= 0 && !c->eof;
}

static gboolean
on_guard (gpointer user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs until nothing happens and @done (or, with NULL, nothing is in
 * flight). Waiting blocks in the main loop: only it (libsoup's thread
 * finishing, a timer) can make progress once the client has done all it
 * can. A bridge that never gets there is a finding. */
static void
settle (Client *c, gboolean (*done) (const Client *c))
{
  gboolean expired = FALSE;
  guint guard = 0;

  for (pump (c); done != NULL ? !done (c) : in_flight (c); pump (c)) {
    if (guard == 0)
      guard = g_timeout_add_seconds (5, on_guard, &expired);
    g_main_context_iteration (NULL, TRUE);
    if (expired)
      g_error ("the bridge did not settle in 5 s (%s)",
               done != NULL ? "holding resources after the client left"
                            : "a response neither finished nor closed");
  }
  if (guard != 0)
    g_source_remove (guard);
}

/* ---- the request, as far as the checks need it ------------------------- */

typedef enum {
  ROUTE_OTHER,
  ROUTE_JOB_STREAM,                   /* /api/jobs/{id}/events */
  ROUTE_MULTI_STREAM,                 /* /api/events */
  ROUTE_CANCEL,                       /* /api/jobs/{id}/cancel */
  ROUTE_HEALTHZ,                      /* /healthz: its own JSON, 200 or 503 */
} Route;

typedef struct {
  gboolean parsed;                    /* libsoup read it */
  const char *method;                 /* interned by libsoup */
  Route route;
  char *job_id;                       /* job routes, decoded */
  char **jobs;                        /* ?jobs= of a multi stream, NULL: all */
  guint64 resume;                     /* what the bridge takes as Last-Event-ID */
} Request;

static Request request;

static void
request_clear (Request *r)
{
  g_free (r->job_id);
  g_strfreev (r->jobs);
  memset (r, 0, sizeof *r);
}

/* Records the first request libsoup read on the connection, as the
 * bridge's handler gets it (pipelined ones behind it are never read: every
 * response closes the connection). */
static void
on_request_read (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  Request *r = user_data;
  GUri *uri = soup_server_message_get_uri (msg);
  g_autoptr(GHashTable) query = NULL;
  g_auto(GStrv) seg = NULL;
  const char *text;
  guint n;

  if (r->parsed)
    return;
  r->parsed = TRUE;
  r->method = soup_server_message_get_method (msg);
  if (g_uri_get_query (uri) != NULL)
    query = soup_form_decode (g_uri_get_query (uri));
  seg = aura_http_split_path (g_uri_get_path (uri));
  n = seg != NULL ? g_strv_length (seg) : 0;
  if (n == 1 && strcmp (seg[0], "healthz") == 0) {
    r->route = ROUTE_HEALTHZ;
  } else if (n == 2 && strcmp (seg[0], "api") == 0 && strcmp (seg[1], "events") == 0) {
    const char *list = query != NULL ? g_hash_table_lookup (query, "jobs") : NULL;
    r->route = ROUTE_MULTI_STREAM;
    if (list != NULL)
      r->jobs = g_strsplit (list, ",", -1);
  } else if (n == 4 && strcmp (seg[0], "api") == 0 && strcmp (seg[1], "jobs") == 0 &&
             (strcmp (seg[3], "events") == 0 || strcmp (seg[3], "cancel") == 0)) {
    r->route = strcmp (seg[3], "events") == 0 ? ROUTE_JOB_STREAM : ROUTE_CANCEL;
    r->job_id = g_strdup (seg[2]);
  }
  /* Last-Event-ID, else ?lastEventId=; anything but an event id is none */
  text = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                       "Last-Event-ID");
  if (text == NULL || text[0] == '\0')
    text = query != NULL ? g_hash_table_lookup (query, "lastEventId") : NULL;
  if (text != NULL) {
    g_autofree char *stripped = g_strstrip (g_strdup (text));
    if (!aura_event_id_parse (stripped, &r->resume))
      r->resume = 0;
  }
}

/* ---- set-up ------------------------------------------------------------ */

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  /* the bridge's messages (a cancel, a dropped client) are noise here */
  if (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG))
    return G_LOG_WRITER_HANDLED;
  g_log_writer_default (level, fields, n_fields, user_data);
  /* a warning or a critical is a finding, under libFuzzer too */
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    g_abort ();
  return G_LOG_WRITER_HANDLED;
}

static void
setup (void)
{
  static const char *const origins[] = { "https://app.example", NULL };
  AuraBridgeConfig config;

  g_log_set_writer_func (log_writer, NULL, NULL);
  aura_web_register_resource ();
  aura_bridge_config_init (&config);
  /* heartbeats are sent by hand: no timer may fire during a run */
  config.heartbeat_interval_us = G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC;
  config.retry_ms = RETRY_MS;
  config.max_streams = 8;
  config.max_streams_per_client = 4;
  config.max_connections = 8;
  config.max_jobs_per_stream = MAX_JOBS_PER_STREAM;
  config.max_queue_bytes = MAX_QUEUE_BYTES;
  config.max_header_bytes = MAX_HEADER_BYTES;
  config.max_body_bytes = MAX_BODY_BYTES;
  config.cors_origins = g_strdupv ((char **) origins);
  config.token = g_strdup (TOKEN);
  source = aura_fuzz_source_new ();
  bridge = aura_bridge_new (&config, source);
  g_signal_connect (bridge->server, "request-read", G_CALLBACK (on_request_read), &request);
  g_signal_connect (bridge->server, "request-started", G_CALLBACK (on_request_started), NULL);
  g_signal_connect (bridge->server, "request-finished", G_CALLBACK (on_request_done), NULL);
  g_signal_connect (bridge->server, "request-aborted", G_CALLBACK (on_request_done), NULL);
}

/* ---- the response ------------------------------------------------------ */

typedef struct {
  guint status;
  SoupMessageHeaders *headers;
  GByteArray *body;                   /* decoded */
  gboolean ended;                     /* the whole body arrived */
} Response;

static void
response_clear (Response *r)
{
  g_clear_pointer (&r->headers, soup_message_headers_unref);
  g_clear_pointer (&r->body, g_byte_array_unref);
}

static gboolean
status_documented (guint status)
{
  static const guint statuses[] = {
    200, 204, 304,                    /* the API and the web UI */
    400, 401, 403, 404, 405, 409, 413, 429, 431, 502, 503, 504,
    417, 501, 505,                    /* libsoup: unknown Expect, Transfer-Encoding, version */
  };

  for (guint i = 0; i < G_N_ELEMENTS (statuses); i++) {
    if (statuses[i] == status)
      return TRUE;
  }
  return FALSE;
}

/* Decodes a chunked body: every chunk received must be whole (the loop has
 * run until libsoup wrote all it had). Returns the bytes after it. */
static gsize
dechunk (const guint8 *p, gsize len, GByteArray *out, gboolean *ended)
{
  gsize at = 0;

  *ended = FALSE;
  while (at < len) {
    const guint8 *eol = memchr (p + at, '\n', len - at);
    g_autofree char *line = NULL;
    char *end;
    guint64 size;

    g_assert_nonnull (eol);
    line = g_strndup ((const char *) p + at, (gsize) (eol - (p + at)));
    size = g_ascii_strtoull (line, &end, 16);
    g_assert_true (end != line && (*end == '\r' || *end == ';'));
    at = (gsize) (eol - p) + 1;
    if (size == 0) {
      g_assert_cmpuint (len - at, >=, 2);
      g_assert_true (p[at] == '\r' && p[at + 1] == '\n');
      *ended = TRUE;
      return at + 2;
    }
    g_assert_cmpuint (len - at, >=, size + 2);
    g_byte_array_append (out, p + at, (guint) size);
    at += size;
    g_assert_true (p[at] == '\r' && p[at + 1] == '\n');
    at += 2;
  }
  return at;
}

/* Parses what the client received: nothing, or one response after any
 * interim ones. FALSE when nothing came. */
static gboolean
parse_response (Response *r, const Request *req, const GByteArray *in, gboolean closed)
{
  const guint8 *p = in->data;
  gsize len = in->len;

  memset (r, 0, sizeof *r);
  while (len > 0) {
    const guint8 *end = memmem (p, len, "\r\n\r\n", 4);
    gsize head;
    SoupEncoding encoding;
    SoupHTTPVersion version;

    /* libsoup writes a head at once */
    g_assert_nonnull (end);
    head = (gsize) (end - p) + 4;
    g_clear_pointer (&r->headers, soup_message_headers_unref);
    r->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
    g_assert_true (soup_headers_parse_response ((const char *) p, (int) head, r->headers,
                                                &version, &r->status, NULL));
    p += head;
    len -= head;
    if (r->status == SOUP_STATUS_CONTINUE)
      continue;
    g_assert_true (status_documented (r->status));

    r->body = g_byte_array_new ();
    encoding = soup_message_headers_get_encoding (r->headers);
    if ((req->parsed && req->method == SOUP_METHOD_HEAD) ||
        r->status == SOUP_STATUS_NO_CONTENT || r->status == SOUP_STATUS_NOT_MODIFIED) {
      r->ended = TRUE;
    } else if (encoding == SOUP_ENCODING_CHUNKED) {
      gsize used = dechunk (p, len, r->body, &r->ended);
      p += used;
      len -= used;
    } else if (encoding == SOUP_ENCODING_CONTENT_LENGTH) {
      goffset n = soup_message_headers_get_content_length (r->headers);
      g_assert_cmpint (n, <=, (goffset) len);
      g_byte_array_append (r->body, p, (guint) n);
      p += n;
      len -= (gsize) n;
      r->ended = TRUE;
    } else {
      /* to the end of the connection: an event stream's body, which is
       * still open while the connection is */
      g_assert_cmpint (encoding, ==, SOUP_ENCODING_EOF);
      g_byte_array_append (r->body, p, (guint) len);
      len = 0;
      r->ended = closed;
    }
    /* one response per connection: nothing may follow it */
    g_assert_cmpuint (len, ==, 0);
    return TRUE;
  }
  return FALSE;
}

static JsonNode *
parse_json (const guint8 *data, gsize len)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  if (!json_parser_load_from_data (parser, (const char *) data, (gssize) len, &error))
    g_error ("a JSON body does not parse: %s: %.*s", error->message, (int) MIN (len, 200),
             (const char *) data);
  return json_parser_steal_root (parser);
}

/* /healthz when the daemon is down: its own document, not an error */
static void
check_health_down (const Response *r)
{
  g_autoptr(JsonNode) node = parse_json (r->body->data, r->body->len);
  JsonObject *obj;

  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  obj = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member_with_default (obj, "status", NULL), ==,
                   "daemon-unavailable");
  g_assert_false (json_object_get_boolean_member_with_default (obj, "daemonReachable", TRUE));
}

static void
check_json_error (const Response *r)
{
  g_autoptr(JsonNode) node = parse_json (r->body->data, r->body->len);
  JsonObject *obj;

  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  obj = json_node_get_object (node);
  g_assert_nonnull (json_object_get_string_member_with_default (obj, "error", NULL));
  g_assert_nonnull (json_object_get_string_member_with_default (obj, "message", NULL));
  g_assert_cmpint (json_object_get_int_member_with_default (obj, "status", 0), ==, r->status);
}

/* ---- event streams ----------------------------------------------------- */

typedef struct {
  guint64 id;
  char *type;
  char *job_id;
  char *data;                         /* as sent (one line: the bridge's JSON has no newline) */
} Event;

static void
event_free (gpointer p)
{
  Event *ev = p;

  g_free (ev->type);
  g_free (ev->job_id);
  g_free (ev->data);
  g_free (ev);
}

typedef struct {
  GPtrArray *events;                  /* Event, every one but heartbeats, in order */
  gboolean heartbeat_last;            /* the last block is a heartbeat */
} Stream;

static void
stream_clear (Stream *s)
{
  g_clear_pointer (&s->events, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Stream, stream_clear)

static Event *
last_event (const Stream *s)
{
  return s->events->len > 0 ? s->events->pdata[s->events->len - 1] : NULL;
}

static gboolean
is_terminal (const char *type)
{
  return g_str_has_prefix (type, "job-");
}

static void
check_block (Stream *s, char **lines)
{
  static const char *const types[] = {
    "step-progress", "warning", "job-completed", "job-failed", "job-cancelled", "heartbeat",
  };
  g_autoptr(GString) data = g_string_new (NULL);
  g_autoptr(JsonNode) node = NULL;
  const char *type = NULL;
  guint64 id = 0;
  guint n_data = 0;
  JsonObject *obj;
  Event *ev, *prev;

  for (guint i = 0; lines[i] != NULL; i++) {
    const char *line = lines[i];
    if (g_str_has_prefix (line, "id: ")) {
      g_assert_true (i == 0 && aura_event_id_parse (line + 4, &id) && id > 0);
    } else if (g_str_has_prefix (line, "event: ")) {
      g_assert_null (type);
      type = line + 7;
      g_assert_true (g_strv_contains (types, type));
    } else if (g_str_has_prefix (line, "data: ")) {
      g_assert_nonnull (type);
      g_string_append_printf (data, "%s%s", n_data++ > 0 ? "\n" : "", line + 6);
    } else {
      g_error ("not an SSE line: '%s'", line);
    }
  }
  g_assert_nonnull (type);
  g_assert_cmpuint (n_data, >, 0);
  node = parse_json ((const guint8 *) data->str, data->len);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  obj = json_node_get_object (node);

  s->heartbeat_last = strcmp (type, "heartbeat") == 0;
  if (s->heartbeat_last) {
    g_assert_cmpuint (id, ==, 0);
    g_assert_nonnull (json_object_get_string_member_with_default (obj, "timestamp", NULL));
    g_assert_true (g_strv_contains ((const char *const[]) { "alive", "daemon-unavailable", NULL },
                                    json_object_get_string_member_with_default (obj, "status",
                                                                                "")));
    return;
  }
  g_assert_cmpuint (id, >, 0);
  g_assert_cmpint (json_object_get_int_member_with_default (obj, "eventId", 0), ==, id);
  g_assert_nonnull (json_object_get_string_member_with_default (obj, "jobId", NULL));
  g_assert_cmpuint (n_data, ==, 1);
  ev = g_new0 (Event, 1);
  ev->id = id;
  ev->type = g_strdup (type);
  ev->job_id = g_strdup (json_object_get_string_member (obj, "jobId"));
  ev->data = g_string_free (g_steal_pointer (&data), FALSE);
  /* ids increase; a finished job's state and its terminal event share one */
  prev = last_event (s);
  if (prev != NULL && id == prev->id)
    g_assert_true (strcmp (prev->type, "step-progress") == 0 && is_terminal (type) &&
                   strcmp (prev->job_id, ev->job_id) == 0);
  else if (prev != NULL)
    g_assert_cmpuint (id, >, prev->id);
  g_ptr_array_add (s->events, ev);
}

static void
check_stream (Stream *s, const Response *r)
{
  g_autofree char *text = g_strndup ((const char *) r->body->data, r->body->len);
  g_auto(GStrv) blocks = NULL;
  g_autofree char *retry = g_strdup_printf ("retry: %u", RETRY_MS);
  guint n;

  g_assert_cmpuint (strlen (text), ==, r->body->len);
  g_assert_cmpstr (soup_message_headers_get_content_type (r->headers, NULL), ==,
                   "text/event-stream");
  s->events = g_ptr_array_new_with_free_func (event_free);
  /* whole blocks only, each ended by an empty line */
  g_assert_true (g_str_has_suffix (text, "\n\n"));
  blocks = g_strsplit (text, "\n\n", -1);
  n = g_strv_length (blocks);
  g_assert_cmpstr (blocks[0], ==, retry);
  g_assert_cmpstr (blocks[n - 1], ==, "");
  for (guint i = 1; i + 1 < n; i++) {
    g_auto(GStrv) lines = g_strsplit (blocks[i], "\n", -1);
    check_block (s, lines);
  }
}

/* ---- the checks -------------------------------------------------------- */

static AuraJob *
lookup_job (const char *job_id)
{
  return aura_job_id_is_valid (job_id)
           ? aura_model_lookup (aura_fuzz_source_get_model (source), job_id) : NULL;
}

/* What a 204 on a stream promises: every job it follows finished, and the
 * client has its end. */
static void
check_no_content (const Request *req, guint64 newest)
{
  g_assert_true (req->resume > 0 && req->resume <= newest);
  if (req->route == ROUTE_JOB_STREAM) {
    AuraJob *job = lookup_job (req->job_id);
    g_assert_true (job != NULL && !aura_job_is_running (job) && job->last_event_id <= req->resume);
  } else {
    g_assert_nonnull (req->jobs);
    for (guint i = 0; req->jobs[i] != NULL; i++) {
      AuraJob *job = lookup_job (req->jobs[i]);
      g_assert_true (job != NULL && !aura_job_is_running (job) &&
                     job->last_event_id <= req->resume);
    }
  }
}

/* A job's history in the model now, id -> the JSON the bridge sends for
 * it, the ids in order, and its floor: every event above it is there. */
static GHashTable *
job_history (const char *job_id, guint64 *floor, GArray *ids)
{
  AuraModel *model = aura_fuzz_source_get_model (source);
  AuraEventStore *store = aura_model_get_store (model);
  GHashTable *out = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  guint64 after = 0;

  for (;;) {
    g_autoptr(GVariant) page = aura_model_get_events (model, job_id, after, NULL);
    GVariantIter iter;
    const char *type;
    guint64 id;
    GVariant *payload;

    g_assert_nonnull (page);
    g_variant_ref_sink (page);
    if (g_variant_n_children (page) == 0)
      break;
    g_variant_iter_init (&iter, page);
    while (g_variant_iter_next (&iter, "(&st@a{sv})", &type, &id, &payload)) {
      g_autoptr(JsonNode) node = aura_json_from_event_payload (type, payload);
      g_hash_table_insert (out, g_memdup2 (&id, sizeof id), aura_json_to_string (node));
      g_array_append_val (ids, id);
      after = id;
      g_variant_unref (payload);
    }
  }
  *floor = store->vtable->floor (store, job_id);
  return out;
}

/* What a stream sent of one job: exactly its events after the resume
 * point, or its state (a snapshot, then the terminal event of a finished
 * job) and exactly its events after that; nothing missing, nothing twice,
 * every event as the daemon stored it. @strict: a stream of this job alone,
 * whose replay always fits the budget: the state may replace the events
 * only where history no longer reaches. */
static void
check_job_events (const Stream *s, const char *job_id, guint64 start, gboolean strict,
                  GHashTable *floors_before)
{
  g_autoptr(GPtrArray) mine = g_ptr_array_new ();
  g_autoptr(GHashTable) history = NULL;
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint64));
  guint64 floor, from = start;
  const char *stored;
  Event *first, *last;
  guint i = 0;

  for (guint k = 0; k < s->events->len; k++) {
    Event *ev = s->events->pdata[k];
    if (strcmp (ev->job_id, job_id) == 0)
      g_ptr_array_add (mine, ev);
  }
  if (mine->len == 0)
    return;
  history = job_history (job_id, &floor, ids);
  first = mine->pdata[0];
  last = mine->pdata[mine->len - 1];
  stored = g_hash_table_lookup (history, &first->id);
  if (stored == NULL || strcmp (stored, first->data) != 0) {
    /* the state */
    g_assert_cmpstr (first->type, ==, "step-progress");
    if (strict)
      g_assert_true (start == 0 || floor > start);
    from = first->id;
    i = 1;
    if (mine->len > 1 && ((Event *) mine->pdata[1])->id == first->id) {
      Event *end = mine->pdata[1];
      /* the terminal event rebuilt from the state is the stored one */
      g_assert_true (is_terminal (end->type));
      if (stored != NULL)
        g_assert_cmpstr (end->data, ==, stored);
      i = 2;
    }
  } else if (start > 0) {
    /* an exact replay: history reached back to the resume point (the
     * floor only rises, so it did before the request too) */
    g_assert_cmpuint (GPOINTER_TO_SIZE (g_hash_table_lookup (floors_before, job_id)), <=, start);
  }
  if (floor > from)
    return;                           /* history no longer tells */
  for (guint k = 0; k < ids->len; k++) {
    guint64 id = g_array_index (ids, guint64, k);
    Event *ev;
    if (id <= from || id > last->id)
      continue;
    if (i >= mine->len)
      g_error ("stream of %s lacks event %" G_GUINT64_FORMAT, job_id, id);
    ev = mine->pdata[i++];
    g_assert_cmpuint (ev->id, ==, id);
    g_assert_cmpstr (ev->data, ==, g_hash_table_lookup (history, &id));
  }
  g_assert_cmpuint (i, ==, mine->len);
}

/* Each job's floor, before the request. */
static GHashTable *
job_floors (void)
{
  AuraModel *model = aura_fuzz_source_get_model (source);
  AuraEventStore *store = aura_model_get_store (model);
  g_autoptr(GPtrArray) jobs = aura_model_list_jobs (model);
  GHashTable *out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < jobs->len; i++) {
    AuraJob *job = jobs->pdata[i];
    g_hash_table_insert (out, g_strdup (job->id),
                         GSIZE_TO_POINTER (store->vtable->floor (store, job->id)));
  }
  return out;
}

static gboolean
follows (const Request *req, const char *job_id)
{
  if (req->route == ROUTE_JOB_STREAM)
    return g_strcmp0 (req->job_id, job_id) == 0;
  return req->jobs == NULL || g_strv_contains ((const char *const *) req->jobs, job_id);
}

static void
check_response (const Request *req, const Response *r, const Stream *s, guint64 newest,
                GHashTable *floors_before)
{
  const char *type = soup_message_headers_get_content_type (r->headers, NULL);
  gboolean stream_route = req->parsed && req->method == SOUP_METHOD_GET &&
                          (req->route == ROUTE_JOB_STREAM || req->route == ROUTE_MULTI_STREAM);

  if (req->route == ROUTE_HEALTHZ && req->method == SOUP_METHOD_GET &&
      r->status == SOUP_STATUS_SERVICE_UNAVAILABLE) {
    g_assert_cmpstr (type, ==, "application/json");
    check_health_down (r);
  } else if (r->status >= 400 && r->body->len > 0) {
    g_assert_cmpstr (type, ==, "application/json");
    check_json_error (r);
  } else if (r->status >= 400) {
    /* only libsoup's own answers to what it cannot parse are empty */
    g_assert_true (r->status == 400 || r->status == 417 || r->status == 501 ||
                   r->status == 505 || req->method == SOUP_METHOD_HEAD);
  } else if (g_strcmp0 (type, "application/json") == 0 && r->body->len > 0) {
    g_autoptr(JsonNode) node = parse_json (r->body->data, r->body->len);
    g_assert_nonnull (node);
  }

  if (stream_route && r->status == SOUP_STATUS_NO_CONTENT)
    check_no_content (req, newest);
  if (stream_route && r->status == SOUP_STATUS_NOT_FOUND && req->route == ROUTE_JOB_STREAM &&
      aura_job_id_is_valid (req->job_id))
    g_assert_null (lookup_job (req->job_id));
  if (g_strcmp0 (type, "text/event-stream") == 0) {
    g_assert_true (stream_route && r->status == SOUP_STATUS_OK);
    /* A resume point beyond every event is garbage: the current state. */
    guint64 start = req->resume <= newest ? req->resume : 0;
    g_autoptr(GHashTable) jobs = g_hash_table_new (g_str_hash, g_str_equal);
    Event *last = last_event (s);

    /* never an event the client has */
    if (start > 0 && s->events->len > 0)
      g_assert_cmpuint (((Event *) s->events->pdata[0])->id, >, start);
    for (guint i = 0; i < s->events->len; i++) {
      Event *ev = s->events->pdata[i];
      g_assert_true (follows (req, ev->job_id));
      if (g_hash_table_add (jobs, ev->job_id))
        check_job_events (s, ev->job_id, start, req->route == ROUTE_JOB_STREAM, floors_before);
    }
    if (!r->ended) {
      AuraJob *running = lookup_job (AURA_FUZZ_JOB_RUNNING);
      /* an open stream got the heartbeat, and the live event of render-1 */
      g_assert_true (s->heartbeat_last);
      /* and is open for a job that may still send something */
      if (req->route == ROUTE_JOB_STREAM) {
        AuraJob *job = lookup_job (req->job_id);
        g_assert_true (job != NULL && aura_job_is_running (job));
      } else if (req->jobs != NULL) {
        gboolean open = FALSE;
        for (guint i = 0; req->jobs[i] != NULL; i++) {
          AuraJob *job = lookup_job (req->jobs[i]);
          open |= job == NULL || aura_job_is_running (job);
        }
        g_assert_true (open);
      }
      if (follows (req, AURA_FUZZ_JOB_RUNNING))
        g_assert_cmpuint (last->id, ==, running->last_event_id);
    } else if (req->route == ROUTE_JOB_STREAM) {
      /* A job stream ends with its job. Opened while the daemon was away,
       * it ends without an event when the daemon comes back without that
       * job (a reconnecting client then gets the 404), or with a job whose
       * end the client's Last-Event-ID already covers (then the 204). */
      AuraJob *job = lookup_job (req->job_id);
      if (last != NULL)
        g_assert_true (is_terminal (last->type));
      else
        g_assert_true (daemon_was_down &&
                       (job == NULL || (!aura_job_is_running (job) &&
                                        req->resume > 0 && req->resume <= newest &&
                                        job->last_event_id <= req->resume)));
    }
  }
}

static gboolean
bridge_idle (const Client *c)
{
  return bridge->feeds.length == 0 && bridge->requests.length == 0 &&
         aura_conn_tracker_count (bridge->conns) == 0 && aura_fuzz_source_n_pending (source) == 0;
}

static void
check_idle (void)
{
  g_assert_cmpuint (bridge->feeds.length, ==, 0);
  g_assert_cmpuint (bridge->feeds_all->len, ==, 0);
  g_assert_cmpuint (g_hash_table_size (bridge->feeds_by_job), ==, 0);
  g_assert_cmpuint (g_hash_table_size (bridge->streams_per_client), ==, 0);
  g_assert_cmpuint (bridge->requests.length, ==, 0);
  g_assert_cmpuint (aura_conn_tracker_count (bridge->conns), ==, 0);
  g_assert_cmpuint (aura_fuzz_source_n_pending (source), ==, 0);
}

static GHashTable *
job_statuses (void)
{
  g_autoptr(GPtrArray) jobs = aura_model_list_jobs (aura_fuzz_source_get_model (source));
  GHashTable *out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < jobs->len; i++) {
    AuraJob *job = jobs->pdata[i];
    g_hash_table_insert (out, g_strdup (job->id), GINT_TO_POINTER (job->status));
  }
  return out;
}

/* Jobs change only by a cancel the bridge answered with 200. */
static void
check_jobs (GHashTable *before, const Request *req, const Response *r, gboolean answered)
{
  g_autoptr(GHashTable) after = job_statuses ();
  GHashTableIter iter;
  gpointer id, status;

  g_assert_cmpuint (g_hash_table_size (after), ==, g_hash_table_size (before));
  g_hash_table_iter_init (&iter, before);
  while (g_hash_table_iter_next (&iter, &id, &status)) {
    gpointer now = g_hash_table_lookup (after, id);
    if (now == status)
      continue;
    g_assert_true (answered && req->route == ROUTE_CANCEL && r->status == SOUP_STATUS_OK &&
                   strcmp (req->job_id, id) == 0 && GPOINTER_TO_INT (now) == AURA_JOB_CANCELED);
  }
}

static GSocketAddress *
address (guint16 port)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);

  return g_inet_socket_address_new (loopback, port);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GSocketAddress) local = address (8080);
  g_autoptr(GSocketAddress) remote = address (40000);
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) before = NULL;
  g_autoptr(GHashTable) floors = NULL;
  g_auto(Stream) stream = { 0 };
  Client client = { .input = data, .size = size };
  Request *req = &request;
  Response resp;
  gboolean answered, down;
  guint64 newest;
  int fds[2];

  if (bridge == NULL)
    setup ();
  aura_fuzz_source_reset (source);
  aura_fuzz_source_set_progress_on_state (source, TRUE);
  /* a request that names this header finds the daemon down */
  down = memmem (data, size, DAEMON_DOWN, strlen (DAEMON_DOWN)) != NULL;
  aura_fuzz_source_set_available (source, !down);
  daemon_was_down = down;
  newest = aura_model_last_event_id (aura_fuzz_source_get_model (source));
  before = job_statuses ();
  floors = job_floors ();

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), ==, 0);
  socket = g_socket_new_from_fd (fds[1], &error);
  g_assert_no_error (error);
  connection = g_socket_connection_factory_create_connection (socket);
  aura_conn_tracker_accept (bridge->conns, connection, local, remote);
  g_clear_object (&connection);
  client.fd = fds[0];
  client.received = g_byte_array_new ();

  settle (&client, NULL);
  show (&client);
  answered = parse_response (&resp, req, client.received, client.eof);
  if (answered && !resp.ended && down) {
    /* a stream opened while the daemon was down: it says so, and catches
     * up once the daemon is back */
    aura_bridge_heartbeat (bridge);
    settle (&client, NULL);
    aura_fuzz_source_set_available (source, TRUE);
    settle (&client, NULL);
  }
  if (answered && !resp.ended) {
    /* an open stream: a live event and a heartbeat must reach it */
    aura_fuzz_source_progress (source);
    aura_bridge_heartbeat (bridge);
    settle (&client, NULL);
    show (&client);
    response_clear (&resp);
    answered = parse_response (&resp, req, client.received, client.eof);
  }
  if (answered) {
    if (g_strcmp0 (soup_message_headers_get_content_type (resp.headers, NULL),
                   "text/event-stream") == 0)
      check_stream (&stream, &resp);
    check_response (req, &resp, &stream, newest, floors);
  }
  check_jobs (before, req, &resp, answered);

  /* the client goes; a heartbeat finds out, and nothing may stay */
  close (client.fd);
  client.fd = -1;
  aura_bridge_heartbeat (bridge);
  settle (&client, bridge_idle);
  check_idle ();
  tracked_clear ();

  response_clear (&resp);
  request_clear (req);
  g_byte_array_unref (client.received);
  return 0;
}

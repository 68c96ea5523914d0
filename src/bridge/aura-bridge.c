/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "aura-bridge.h"
#include "aura-feed.h"
#include "aura-id.h"
#include "aura-sse-format.h"

void
aura_bridge_config_init (AuraBridgeConfig *config)
{
  memset (config, 0, sizeof *config);
  config->heartbeat_interval_us = 5 * G_USEC_PER_SEC;
  config->retry_ms = 1000;
  config->max_streams = 1024;
  config->max_streams_per_client = 64;
  config->max_connections = 2048;
  config->max_connections_per_client = 256;
  config->max_jobs_per_stream = 64;
  config->max_queue_bytes = 1024 * 1024;
  config->max_header_bytes = 16 * 1024;
  config->max_body_bytes = 16 * 1024;
  config->idle_timeout_s = 60;
}

void
aura_bridge_config_clear (AuraBridgeConfig *config)
{
  g_clear_pointer (&config->cors_origins, g_strfreev);
  g_clear_pointer (&config->allowed_hosts, g_strfreev);
  g_clear_pointer (&config->token, g_free);
}

/* ---- the feed registry ------------------------------------------------- */

void
aura_bridge_add_feed (AuraBridge *self, AuraFeed *feed, const char *client, GPtrArray *job_ids)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->streams_per_client, client));

  g_queue_push_tail (&self->feeds, feed);
  g_hash_table_replace (self->streams_per_client, g_strdup (client), GUINT_TO_POINTER (n + 1));
  if (job_ids == NULL) {
    g_ptr_array_add (self->feeds_all, feed);
    return;
  }
  for (guint i = 0; i < job_ids->len; i++) {
    GPtrArray *feeds = g_hash_table_lookup (self->feeds_by_job, job_ids->pdata[i]);
    if (feeds == NULL) {
      feeds = g_ptr_array_new ();
      g_hash_table_insert (self->feeds_by_job, g_strdup (job_ids->pdata[i]), feeds);
    }
    g_ptr_array_add (feeds, feed);
  }
}

void
aura_bridge_remove_feed (AuraBridge *self, AuraFeed *feed, const char *client,
                         GPtrArray *job_ids)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->streams_per_client, client));

  g_queue_remove (&self->feeds, feed);
  if (n <= 1)
    g_hash_table_remove (self->streams_per_client, client);
  else
    g_hash_table_replace (self->streams_per_client, g_strdup (client), GUINT_TO_POINTER (n - 1));
  if (job_ids == NULL) {
    g_ptr_array_remove_fast (self->feeds_all, feed);
    return;
  }
  for (guint i = 0; i < job_ids->len; i++) {
    GPtrArray *feeds = g_hash_table_lookup (self->feeds_by_job, job_ids->pdata[i]);
    if (feeds == NULL)
      continue;
    g_ptr_array_remove_fast (feeds, feed);
    if (feeds->len == 0)
      g_hash_table_remove (self->feeds_by_job, job_ids->pdata[i]);
  }
}

/* ---- events from the source -------------------------------------------- */

static void
on_source_event (AuraSourceEvent *event, gpointer user_data)
{
  AuraBridge *self = user_data;
  GPtrArray *feeds = g_hash_table_lookup (self->feeds_by_job, event->job_id);
  g_autoptr(GBytes) frame = NULL;

  /* Feeds never go away synchronously (a stream closes from the main
   * loop), so the arrays are stable while we walk them. */
  for (guint i = 0; feeds != NULL && i < feeds->len; i++)
    aura_feed_event (feeds->pdata[i], event, &frame);
  for (guint i = 0; i < self->feeds_all->len; i++)
    aura_feed_event (self->feeds_all->pdata[i], event, &frame);
}

static void
on_source_availability (gboolean available, gpointer user_data)
{
  AuraBridge *self = user_data;

  if (!available)
    return;
  for (GList *l = self->feeds.head; l != NULL; l = l->next)
    aura_feed_resync (l->data);
}

static const AuraEventSourceListener source_listener = {
  .event = on_source_event,
  .availability = on_source_availability,
};

void
aura_bridge_heartbeat (AuraBridge *self)
{
  g_autoptr(GBytes) frame = NULL;

  if (self->feeds.length == 0)
    return;
  frame = aura_sse_heartbeat_new (g_get_real_time (),
                                  aura_event_source_is_available (self->source)
                                    ? "alive" : "daemon-unavailable",
                                  (double) self->config.heartbeat_interval_us / G_USEC_PER_SEC);
  for (GList *l = self->feeds.head; l != NULL; l = l->next)
    aura_feed_heartbeat (l->data, frame);
}

static gboolean
on_heartbeat (gpointer user_data)
{
  aura_bridge_heartbeat (user_data);
  return G_SOURCE_CONTINUE;
}

/* ---- routes ------------------------------------------------------------ */

static void
method_not_allowed (SoupServerMessage *msg, const char *allow)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", allow);
  aura_http_respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method-not-allowed",
                           "%s is not allowed here; allowed: %s",
                           soup_server_message_get_method (msg), allow);
}

static gboolean
check_method (SoupServerMessage *msg, const AuraBridgeConfig *config, const char *allow)
{
  const char *method = soup_server_message_get_method (msg);
  g_auto(GStrv) allowed = g_strsplit (allow, ", ", -1);

  if (method == SOUP_METHOD_OPTIONS) {
    aura_http_respond_options (config, msg, allow);
    return FALSE;
  }
  if (g_strv_contains ((const char *const *) allowed, method))
    return TRUE;
  method_not_allowed (msg, allow);
  return FALSE;
}

static gboolean
check_job_id (SoupServerMessage *msg, const char *job_id)
{
  if (aura_job_id_is_valid (job_id))
    return TRUE;
  aura_http_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid-job-id", "invalid job id: %s",
                           aura_job_id_rule ());
  return FALSE;
}

/* Last-Event-ID, or lastEventId in the query for a first connection. A
 * value that is not an event id is ignored: the client gets the current
 * state, which is always safe. */
static guint64
resume_point (SoupServerMessage *msg, GHashTable *query)
{
  const char *header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Last-Event-ID");
  const char *param = query != NULL ? g_hash_table_lookup (query, "lastEventId") : NULL;
  const char *text = header != NULL && header[0] != '\0' ? header : param;
  g_autofree char *stripped = text != NULL ? g_strstrip (g_strdup (text)) : NULL;
  guint64 id = 0;

  if (stripped != NULL && !aura_event_id_parse (stripped, &id))
    g_debug ("ignoring Last-Event-ID '%s': not an event id", stripped);
  return id;
}

static gboolean
admit_stream (AuraBridge *self, SoupServerMessage *msg)
{
  const char *client = soup_server_message_get_remote_host (msg);
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->streams_per_client, client));
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  g_autofree char *retry = g_strdup_printf ("%u", MAX (self->config.retry_ms / 1000, 1));

  if (self->feeds.length >= self->config.max_streams) {
    self->metrics.streams_rejected++;
    soup_message_headers_replace (headers, "Retry-After", retry);
    aura_http_respond_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "too-many-streams",
                             "the bridge serves at most %u event streams (--max-streams)",
                             self->config.max_streams);
    return FALSE;
  }
  if (n >= self->config.max_streams_per_client) {
    self->metrics.streams_rejected++;
    soup_message_headers_replace (headers, "Retry-After", retry);
    aura_http_respond_error (msg, AURA_HTTP_TOO_MANY_REQUESTS, "too-many-streams",
                             "at most %u event streams per client address "
                             "(--max-streams-per-client); a dashboard can follow many jobs "
                             "on one stream with /api/events?jobs=a,b",
                             self->config.max_streams_per_client);
    return FALSE;
  }
  return TRUE;
}

static void
open_job_stream (AuraBridge *self, SoupServerMessage *msg, GHashTable *query, const char *job_id)
{
  g_autoptr(GPtrArray) jobs = NULL;

  if (!check_method (msg, &self->config, "GET") || !check_job_id (msg, job_id) ||
      !admit_stream (self, msg))
    return;
  jobs = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (jobs, g_strdup (job_id));
  aura_feed_new (self, msg, AURA_FEED_JOB, jobs, resume_point (msg, query));
}

static void
open_multi_stream (AuraBridge *self, SoupServerMessage *msg, GHashTable *query)
{
  const char *list = query != NULL ? g_hash_table_lookup (query, "jobs") : NULL;
  g_autoptr(GPtrArray) jobs = NULL;

  if (!check_method (msg, &self->config, "GET"))
    return;
  if (list != NULL) {
    /* "" splits into no ids at all: it is one empty, invalid id */
    g_auto(GStrv) ids = list[0] != '\0' ? g_strsplit (list, ",", -1) : g_strsplit (",", ",", 2);
    jobs = g_ptr_array_new_with_free_func (g_free);
    for (guint i = 0; ids[i] != NULL; i++) {
      if (!check_job_id (msg, ids[i]))
        return;
      if (!g_ptr_array_find_with_equal_func (jobs, ids[i], g_str_equal, NULL))
        g_ptr_array_add (jobs, g_strdup (ids[i]));
      if (jobs->len > self->config.max_jobs_per_stream) {
        aura_http_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "too-many-jobs",
                                 "a stream follows at most %u jobs (--max-jobs-per-stream); "
                                 "leave out ?jobs= to follow every job",
                                 self->config.max_jobs_per_stream);
        return;
      }
    }
  }
  if (!admit_stream (self, msg))
    return;
  aura_feed_new (self, msg, jobs != NULL ? AURA_FEED_JOBS : AURA_FEED_ALL, jobs,
                 resume_point (msg, query));
}

static void
route_api (AuraBridge *self, SoupServerMessage *msg, GHashTable *query, char **seg, guint n)
{
  /* seg[0] is "api" */
  if (n == 2 && strcmp (seg[1], "events") == 0) {
    open_multi_stream (self, msg, query);
  } else if (n == 2 && strcmp (seg[1], "jobs") == 0) {
    if (check_method (msg, &self->config, "GET, HEAD"))
      aura_bridge_api_list_jobs (self, msg);
  } else if (n == 3 && strcmp (seg[1], "jobs") == 0) {
    if (check_method (msg, &self->config, "GET, HEAD") && check_job_id (msg, seg[2]))
      aura_bridge_api_get_job (self, msg, seg[2]);
  } else if (n == 4 && strcmp (seg[1], "jobs") == 0 && strcmp (seg[3], "events") == 0) {
    open_job_stream (self, msg, query, seg[2]);
  } else if (n == 4 && strcmp (seg[1], "jobs") == 0 && strcmp (seg[3], "cancel") == 0) {
    if (check_method (msg, &self->config, "POST") && check_job_id (msg, seg[2]) &&
        aura_http_check_token (&self->config, msg))
      aura_bridge_api_cancel_job (self, msg, seg[2]);
  } else {
    aura_http_respond_error (msg, SOUP_STATUS_NOT_FOUND, "not-found",
                             "no such endpoint; see GET /api/jobs, /api/jobs/{jobId}, "
                             "/api/jobs/{jobId}/events, POST /api/jobs/{jobId}/cancel, "
                             "GET /api/events?jobs=a,b");
  }
}

static void
handle_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                gpointer user_data)
{
  AuraBridge *self = user_data;
  SoupMessageHeaders *resp = soup_server_message_get_response_headers (msg);
  g_auto(GStrv) seg = NULL;
  guint n;

  /* One request per connection: libsoup 3.2 never notices when a client
   * closes an idle keep-alive connection, and would keep its socket open
   * for ever (fixed in libsoup 3.3, commit d20c6601). */
  soup_message_headers_replace (resp, "Connection", "close");
  soup_message_headers_replace (resp, "X-Content-Type-Options", "nosniff");
  /* No partial responses: libsoup 3.2 would answer a Range of many
   * overlapping ranges with a multipart body many times the size of the
   * resource (it merges only half of them), from a request of 1 KB. */
  soup_message_headers_remove (soup_server_message_get_request_headers (msg), "Range");
  if (!aura_http_apply_cors (&self->config, msg))
    return;
  /* "*" names the server as a whole, and only for OPTIONS (RFC 9110
   * 9.3.7); libsoup hands such requests to a handler of "*" alone. */
  if (soup_server_message_is_options_ping (msg)) {
    if (soup_server_message_get_method (msg) == SOUP_METHOD_OPTIONS)
      aura_http_respond_options (&self->config, msg, "GET, HEAD, POST");
    else
      aura_http_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid-path",
                               "the path * is only for OPTIONS");
    return;
  }
  /* The path is raw (the server has raw-paths set): each segment is decoded
   * here, so that an id like %2F..%2F gets the API's 400, not libsoup's. */
  seg = aura_http_split_path (path);
  if (seg == NULL) {
    aura_http_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid-path",
                             "the path is not valid: %s", path);
    return;
  }
  n = g_strv_length (seg);
  if (n >= 1 && strcmp (seg[0], "api") == 0) {
    route_api (self, msg, query, seg, n);
  } else if (n == 1 && strcmp (seg[0], "healthz") == 0) {
    if (check_method (msg, &self->config, "GET, HEAD"))
      aura_bridge_api_healthz (self, msg);
  } else if (n == 1 && strcmp (seg[0], "metrics") == 0) {
    if (check_method (msg, &self->config, "GET, HEAD"))
      aura_bridge_api_metrics (self, msg);
  } else if (check_method (msg, &self->config, "GET, HEAD")) {
    aura_bridge_web_serve (msg, seg);
  }
}

/* ---- life cycle -------------------------------------------------------- */

AuraBridge *
aura_bridge_new (AuraBridgeConfig *config, AuraEventSource *source)
{
  AuraBridge *self = g_new0 (AuraBridge, 1);

  self->config = *config;
  memset (config, 0, sizeof *config);  /* ownership of the strings moved */
  self->source = source;
  self->feeds_by_job = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                              (GDestroyNotify) g_ptr_array_unref);
  self->feeds_all = g_ptr_array_new ();
  self->streams_per_client = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  aura_event_source_set_listener (source, &source_listener, self);

  self->server = soup_server_new ("raw-paths", TRUE,
                                  "server-header", "aura-sse-bridge ",
                                  NULL);
  soup_server_add_handler (self->server, NULL, handle_request, self, NULL);
  soup_server_add_handler (self->server, "*", handle_request, self, NULL);
  self->conns = aura_conn_tracker_new (self->server, &self->config, &self->metrics);
  self->heartbeat_id = g_timeout_add_full (G_PRIORITY_DEFAULT,
                                           (guint) MAX (self->config.heartbeat_interval_us / 1000,
                                                        1),
                                           on_heartbeat, self, NULL);
  return self;
}

void
aura_bridge_free (AuraBridge *self)
{
  GList *l;

  if (self == NULL)
    return;
  if (self->heartbeat_id != 0)
    g_source_remove (self->heartbeat_id);
  /* Streams first: they hold messages of the server's connections. */
  while ((l = self->feeds.head) != NULL) {
    AuraFeed *feed = l->data;
    g_queue_delete_link (&self->feeds, l);
    aura_feed_free (feed);
  }
  aura_bridge_api_clear (self);
  aura_conn_tracker_stop (self->conns);
  soup_server_disconnect (self->server);
  aura_conn_tracker_free (self->conns);
  g_object_unref (self->server);
  aura_event_source_free (self->source);
  g_hash_table_unref (self->feeds_by_job);
  g_ptr_array_unref (self->feeds_all);
  g_hash_table_unref (self->streams_per_client);
  aura_bridge_config_clear (&self->config);
  g_free (self);
}

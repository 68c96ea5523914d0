/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "aura-bridge.h"
#include "aura-feed.h"

/* A request waiting for the event source: the message stays paused until
 * the answer comes. */
typedef struct {
  AuraBridge *bridge;
  SoupServerMessage *msg;
  AuraSourceCall *call;
  char *job_id;
  GList link;
} ApiRequest;

static ApiRequest *
request_new (AuraBridge *bridge, SoupServerMessage *msg, const char *job_id)
{
  ApiRequest *req = g_new0 (ApiRequest, 1);

  req->bridge = bridge;
  req->msg = g_object_ref (msg);
  req->job_id = g_strdup (job_id);
  req->link.data = req;
  g_queue_push_tail_link (&bridge->requests, &req->link);
  soup_server_message_pause (msg);
  return req;
}

static void
request_free (ApiRequest *req)
{
  g_queue_unlink (&req->bridge->requests, &req->link);
  aura_event_source_clear_call (req->bridge->source, &req->call);
  g_object_unref (req->msg);
  g_free (req->job_id);
  g_free (req);
}

static void
on_json_reply (JsonNode *result, const GError *error, gpointer user_data)
{
  ApiRequest *req = user_data;

  req->call = NULL;
  if (error != NULL)
    aura_http_respond_gerror (req->msg, error, req->job_id);
  else
    aura_http_respond_json (req->msg, SOUP_STATUS_OK, result);
  soup_server_message_unpause (req->msg);
  request_free (req);
}

void
aura_bridge_api_list_jobs (AuraBridge *self, SoupServerMessage *msg)
{
  ApiRequest *req = request_new (self, msg, NULL);
  req->call = aura_event_source_list_jobs (self->source, on_json_reply, req);
}

void
aura_bridge_api_get_job (AuraBridge *self, SoupServerMessage *msg, const char *job_id)
{
  ApiRequest *req = request_new (self, msg, job_id);
  req->call = aura_event_source_get_job (self->source, job_id, on_json_reply, req);
}

void
aura_bridge_api_cancel_job (AuraBridge *self, SoupServerMessage *msg, const char *job_id)
{
  ApiRequest *req = request_new (self, msg, job_id);

  g_message ("cancel of job %s requested by %s", job_id, soup_server_message_get_remote_host (msg));
  req->call = aura_event_source_cancel_job (self->source, job_id, on_json_reply, req);
}

void
aura_bridge_api_clear (AuraBridge *self)
{
  while (self->requests.head != NULL)
    request_free (self->requests.head->data);
}

void
aura_bridge_api_healthz (AuraBridge *self, SoupServerMessage *msg)
{
  gboolean up = aura_event_source_is_available (self->source);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) node = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, up ? "ok" : "daemon-unavailable");
  json_builder_set_member_name (b, "daemonReachable");
  json_builder_add_boolean_value (b, up);
  json_builder_set_member_name (b, "openStreams");
  json_builder_add_int_value (b, self->feeds.length);
  json_builder_end_object (b);
  node = json_builder_get_root (b);
  aura_http_respond_json (msg, up ? SOUP_STATUS_OK : SOUP_STATUS_SERVICE_UNAVAILABLE, node);
}

static void
metric (GString *out, const char *name, const char *type, const char *help, guint64 value)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n%s %" G_GUINT64_FORMAT "\n", name,
                          help, name, type, name, value);
}

void
aura_bridge_api_metrics (AuraBridge *self, SoupServerMessage *msg)
{
  const AuraBridgeMetrics *m = &self->metrics;
  GString *out = g_string_new (NULL);
  guint64 queued = 0;
  char *text;
  gsize len;

  for (GList *l = self->feeds.head; l != NULL; l = l->next)
    queued += aura_feed_get_queued (l->data);

  metric (out, "aura_bridge_open_streams", "gauge", "Event streams open now.",
          self->feeds.length);
  metric (out, "aura_bridge_open_connections", "gauge", "HTTP connections open now.",
          aura_conn_tracker_count (self->conns));
  metric (out, "aura_bridge_queued_bytes", "gauge",
          "Bytes of events written to streams but not yet sent to the clients.", queued);
  metric (out, "aura_bridge_events_sent_total", "counter",
          "Events written to streams (heartbeats not included).", m->events_sent);
  metric (out, "aura_bridge_heartbeats_sent_total", "counter", "Heartbeats written to streams.",
          m->heartbeats_sent);
  metric (out, "aura_bridge_slow_clients_dropped_total", "counter",
          "Streams closed because the client fell more than --max-queue bytes behind.",
          m->slow_clients_dropped);
  metric (out, "aura_bridge_streams_rejected_total", "counter",
          "Streams refused by --max-streams or --max-streams-per-client.", m->streams_rejected);
  metric (out, "aura_bridge_connections_rejected_total", "counter",
          "Connections closed at once because of --max-connections.", m->connections_rejected);
  metric (out, "aura_bridge_connections_timed_out_total", "counter",
          "Connections closed by --idle-timeout.", m->connections_timed_out);
  metric (out, "aura_bridge_daemon_reachable", "gauge",
          "1 while aura-progressd is reachable on the bus, 0 otherwise.",
          aura_event_source_is_available (self->source) ? 1 : 0);

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control",
                                "no-store");
  len = out->len;
  text = g_string_free (out, FALSE);
  soup_server_message_set_response (msg, "text/plain; version=0.0.4; charset=utf-8",
                                    SOUP_MEMORY_TAKE, text, len);
}

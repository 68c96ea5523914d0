/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "aura-event-source.h"

G_BEGIN_DECLS

/* Status codes libsoup 3.2 has no names for */
#define AURA_HTTP_TOO_MANY_REQUESTS 429
#define AURA_HTTP_HEADERS_TOO_LARGE 431

/* Every resource a client can make the bridge hold has a limit; the
 * defaults are documented in the README and in --help. */
typedef struct {
  gint64 heartbeat_interval_us;       /* heartbeat on every stream */
  guint retry_ms;                     /* the SSE retry: hint */
  guint max_streams;                  /* open event streams in total */
  guint max_streams_per_client;       /* ... per client address */
  guint max_connections;              /* open HTTP connections */
  guint max_connections_per_client;   /* of them from one client address */
  guint max_jobs_per_stream;          /* jobs in one ?jobs= list */
  gsize max_queue_bytes;              /* unread bytes before a client is dropped */
  gsize max_header_bytes;             /* request line and headers */
  gsize max_body_bytes;               /* request body */
  guint idle_timeout_s;               /* to send a whole request, or between requests */
  char **cors_origins;                /* allowed Origins, NULL: no CORS */
  char **allowed_hosts;               /* Host names besides IP literals and localhost */
  char *token;                        /* bearer token required for cancel, NULL: none */
} AuraBridgeConfig;

void aura_bridge_config_init (AuraBridgeConfig *config);
void aura_bridge_config_clear (AuraBridgeConfig *config);

typedef struct {
  guint64 events_sent;                /* events written to streams, heartbeats not counted */
  guint64 heartbeats_sent;
  guint64 slow_clients_dropped;
  guint64 streams_rejected;           /* refused by a stream limit */
  guint64 connections_rejected;       /* refused by the connection limit */
  guint64 connections_timed_out;      /* closed by the idle timeout */
} AuraBridgeMetrics;

typedef struct _AuraFeed AuraFeed;
typedef struct _AuraConnTracker AuraConnTracker;

/**
 * AuraBridge:
 * The bridge's context: the event source, the HTTP server and the open
 * streams. It keeps nothing but its connections: jobs, states and history
 * come from the event source, so bridges can be restarted and multiplied.
 */
typedef struct {
  AuraBridgeConfig config;
  AuraEventSource *source;
  SoupServer *server;
  AuraConnTracker *conns;

  GQueue feeds;                       /* AuraFeed, every open stream */
  GHashTable *feeds_by_job;           /* job id -> GPtrArray of AuraFeed */
  GPtrArray *feeds_all;               /* AuraFeed following every job */
  GHashTable *streams_per_client;     /* remote host -> count */
  GQueue requests;                    /* API requests waiting for the source */

  guint heartbeat_id;
  AuraBridgeMetrics metrics;
} AuraBridge;

/* Takes ownership of @source and of the config's contents. */
AuraBridge *aura_bridge_new (AuraBridgeConfig *config, AuraEventSource *source);
void        aura_bridge_free (AuraBridge *bridge);
/* Sends a heartbeat on every stream now, as the interval timer does: a
 * stream whose client has gone finds out on the write. */
void        aura_bridge_heartbeat (AuraBridge *bridge);

/* The feed registry (aura-bridge.c) */
void        aura_bridge_add_feed (AuraBridge *bridge, AuraFeed *feed, const char *client,
                                  GPtrArray *job_ids);
void        aura_bridge_remove_feed (AuraBridge *bridge, AuraFeed *feed, const char *client,
                                     GPtrArray *job_ids);

/* aura-bridge-api.c: the JSON endpoints */
void        aura_bridge_api_list_jobs (AuraBridge *bridge, SoupServerMessage *msg);
void        aura_bridge_api_get_job (AuraBridge *bridge, SoupServerMessage *msg,
                                     const char *job_id);
void        aura_bridge_api_cancel_job (AuraBridge *bridge, SoupServerMessage *msg,
                                        const char *job_id);
void        aura_bridge_api_healthz (AuraBridge *bridge, SoupServerMessage *msg);
void        aura_bridge_api_metrics (AuraBridge *bridge, SoupServerMessage *msg);
/* Drops the requests still waiting for the source (at shutdown). */
void        aura_bridge_api_clear (AuraBridge *bridge);

/* aura-bridge-http.c: responses and request checks */
void        aura_http_respond_json (SoupServerMessage *msg, guint status, JsonNode *node);
void        aura_http_respond_error (SoupServerMessage *msg, guint status, const char *code,
                                     const char *format, ...) G_GNUC_PRINTF (4, 5);
/* The error a failed source call deserves: 404, 409, 403, 400, 503, ... */
void        aura_http_respond_gerror (SoupServerMessage *msg, const GError *error,
                                      const char *job_id);
/* Adds the CORS headers when the request's Origin is allowed. Returns
 * FALSE when it has an Origin that is not (the request is answered). */
gboolean    aura_http_apply_cors (const AuraBridgeConfig *config, SoupServerMessage *msg);
/* Answers an OPTIONS request, a CORS preflight or not. */
void        aura_http_respond_options (const AuraBridgeConfig *config, SoupServerMessage *msg,
                                       const char *allow);
/* Checks the bearer token when one is configured; answers 401 if wrong. */
gboolean    aura_http_check_token (const AuraBridgeConfig *config, SoupServerMessage *msg);
/* Splits a raw (still percent-encoded) path into decoded segments; NULL
 * when a segment cannot be decoded (a bad escape, or NUL). */
char      **aura_http_split_path (const char *raw_path);

/* aura-bridge-web.c: the web UI compiled into the binary */
void        aura_bridge_web_serve (SoupServerMessage *msg, char **segments);

/* aura-bridge-conn.c: accepting connections, their limit and timeouts */
AuraConnTracker *aura_conn_tracker_new (SoupServer *server, const AuraBridgeConfig *config,
                                        AuraBridgeMetrics *metrics);
void        aura_conn_tracker_free (AuraConnTracker *tracker);
gboolean    aura_conn_tracker_listen (AuraConnTracker *tracker, GSocketAddress *address,
                                      GError **error);
/* A listening socket handed over by systemd. */
gboolean    aura_conn_tracker_listen_socket (AuraConnTracker *tracker, GSocket *socket,
                                             GError **error);
/* Where it listens, e.g. "http://127.0.0.1:8080/" (borrowed strings). */
GPtrArray  *aura_conn_tracker_get_urls (AuraConnTracker *tracker);
/* Takes one connection as if it had been accepted: over --max-connections
 * it is closed at once, otherwise libsoup serves it under the idle timeout.
 * @local and @remote are the addresses its requests report (inet ones:
 * libsoup reads them as such). The fuzzer hands it a socketpair this way. */
void        aura_conn_tracker_accept (AuraConnTracker *tracker, GSocketConnection *connection,
                                      GSocketAddress *local, GSocketAddress *remote);
/* Stops accepting connections. */
void        aura_conn_tracker_stop (AuraConnTracker *tracker);
guint       aura_conn_tracker_count (AuraConnTracker *tracker);
/* Closes the connection @msg came on, now; libsoup fails its next read or
 * write on it and finishes the message. */
void        aura_conn_close (SoupServerMessage *msg);
/* The socket @msg came on (NULL when it is gone), for writing a stream's
 * body past libsoup. */
GSocket    *aura_conn_get_socket (SoupServerMessage *msg);
/* Takes the connection @msg came on from libsoup, which forgets it and
 * the message: the caller owns the returned reference (NULL when the
 * connection is gone) and closes it. It still counts against the limits
 * until it is finalized. Once the response head is written, from the
 * message's wrote-headers signal. */
GSocketConnection *aura_conn_steal (SoupServerMessage *msg);

G_END_DECLS

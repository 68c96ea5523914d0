/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "aura-test-bus.h"

G_BEGIN_DECLS

/**
 * AuraTestBridge:
 * The real aura-sse-bridge, started on a test bus (through the wrapper of
 * the valgrind setup), listening on a port of its choosing which it prints.
 */
typedef struct {
  GSubprocess *process;
  char *url;                          /* http://127.0.0.1:PORT/ */
  guint16 port;
} AuraTestBridge;

/* Starts the bridge on @tb's bus with the extra arguments (NULL-terminated). */
AuraTestBridge *aura_test_bridge_start (AuraTestBus *tb, ...) G_GNUC_NULL_TERMINATED;
AuraTestBridge *aura_test_bridge_start_argv (AuraTestBus *tb, const char *const *extra);
/* SIGTERM and a clean exit (status 0: no valgrind or sanitizer finding). */
/* Takes a bridge spawned by the caller (stdout piped) and reads where it
 * listens from its first line. */
AuraTestBridge *aura_test_bridge_new (GSubprocess *process);
/* Started the way systemd does socket activation: @listener as fd 3,
 * LISTEN_FDS=1 and LISTEN_PID set to the bridge's pid. */
AuraTestBridge *aura_test_bridge_start_activated (AuraTestBus *tb, GSocket *listener);
void            aura_test_bridge_stop (AuraTestBridge *bridge);
char           *aura_test_bridge_url (AuraTestBridge *bridge, const char *path);
/* The bridge's resident memory in KiB (from /proc). */
guint64         aura_test_bridge_rss_kib (AuraTestBridge *bridge);
/* One figure of GET /metrics. */
guint64         aura_test_bridge_metric (AuraTestBridge *bridge, SoupSession *session,
                                         const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraTestBridge, aura_test_bridge_stop)

/* A session that allows many connections at once (libsoup's default is 2
 * per host, and every open stream holds one). */
SoupSession    *aura_test_session_new (void);

/* A whole request and response through libsoup, waited for on the main
 * loop. @headers: NULL-terminated name, value pairs. */
typedef struct {
  guint status;
  SoupMessageHeaders *headers;
  char *body;
} AuraTestResponse;

AuraTestResponse *aura_test_fetch (SoupSession *session, const char *method, const char *url,
                                   const char *const *headers, const char *body);
void              aura_test_response_free (AuraTestResponse *response);
/* The body parsed as JSON (fails the test if it is not). */
JsonNode         *aura_test_response_json (AuraTestResponse *response);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraTestResponse, aura_test_response_free)

/**
 * AuraTestSse:
 * An EventSource-like reader of one stream: the raw body as received and
 * the events parsed from it the way a browser does.
 */
typedef struct {
  char *id;                           /* NULL when the event had no id: field */
  char *type;
  char *data;
  gint64 received_us;                 /* monotonic */
} AuraTestSseEvent;

typedef struct {
  SoupMessage *msg;
  GInputStream *body;
  GCancellable *cancellable;
  GString *raw;
  gsize parsed;
  GPtrArray *events;                  /* AuraTestSseEvent */
  char *last_id;                      /* the EventSource's last event id */
  guint retry_ms;
  gboolean responded;                 /* status and headers are in */
  gboolean eof;
  GError *error;
  /* the event being parsed */
  char *cur_id;
  char *cur_type;
  GString *cur_data;
  gboolean cur_has_id;
} AuraTestSse;

/* Opens @url; @last_event_id (may be NULL) goes in a Last-Event-ID header. */
AuraTestSse *aura_test_sse_open (SoupSession *session, const char *url, const char *last_event_id);
/* Closes the connection (a client going away). */
void         aura_test_sse_free (AuraTestSse *sse);
void         aura_test_sse_wait_response (AuraTestSse *sse);
/* Waits until @n events of @type (NULL: any but heartbeat) have arrived. */
void         aura_test_sse_wait_events (AuraTestSse *sse, const char *type, guint n);
void         aura_test_sse_wait_eof (AuraTestSse *sse);
guint        aura_test_sse_count (AuraTestSse *sse, const char *type);
/* The @n-th event of @type (NULL: any but heartbeat). */
AuraTestSseEvent *aura_test_sse_nth (AuraTestSse *sse, const char *type, guint n);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraTestSse, aura_test_sse_free)

/* Raw TCP, for what no well-behaved client sends and for clients that do
 * not read. Blocking with a generous timeout. */
GSocket     *aura_test_raw_connect (guint16 port, int rcvbuf);
/* From another loopback address (127.0.0.2, ...), as another client. */
GSocket     *aura_test_raw_connect_from (guint16 port, const char *local_ip);
void         aura_test_raw_send (GSocket *socket, const char *data, gsize len);
/* Sends what the server takes, and stops early when it answers or closes
 * (a server that stops reading a huge request must not hang the test). */
void         aura_test_raw_send_until_closed (GSocket *socket, const char *data, gsize len);
/* Reads until the server closes the connection; returns what came. */
char        *aura_test_raw_read_all (GSocket *socket);
/* Reads the status line and headers (up to the blank line). */
char        *aura_test_raw_read_headers (GSocket *socket);

G_END_DECLS

/* SPDX-License-Identifier: MIT */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <string.h>

#include "aura-bridge.h"

/* Connections are accepted here and handed to libsoup, rather than
 * accepted by SoupServer itself, for three reasons:
 * - libsoup 3.2's own listener leaks a GSocket reference for every
 *   connection it accepts (fixed in 3.3);
 * - its server has no connection limit and no timeouts;
 * - over the limit, a connection is closed before anything is read.
 *
 * A connection must send a whole request within --idle-timeout of being
 * accepted or of its previous response, and has that long between
 * requests. Event streams are not timed: once a stream's request is read,
 * heartbeats find out whether its client is still there. Closing is done
 * with shutdown(), so that libsoup notices on its next read or write and
 * cleans up after itself; a weak reference on the GSocketConnection tells
 * when libsoup is done with it. An event stream takes its connection from
 * libsoup once the head is written (aura_conn_steal()) and closes it
 * itself; it counts here until the stream lets go of it.
 *
 * libsoup remembers the remote address object it was given, which is how a
 * message finds its connection again (qdata on that object). */

/* A body that is too large is read and thrown away up to this much more,
 * so that the client can be told 413; beyond it, the connection closes. */
#define MAX_DRAINED_BODY_BYTES (1024 * 1024)

typedef struct {
  AuraConnTracker *tracker;
  GSocketConnection *connection;      /* weak */
  GSocketAddress *remote;
  char *host;                         /* the client's address, for the per-client count */
  guint timer_id;
} Conn;

struct _AuraConnTracker {
  SoupServer *server;
  const AuraBridgeConfig *config;
  AuraBridgeMetrics *metrics;
  GSocketService *service;
  GPtrArray *urls;
  GHashTable *conns;                  /* Conn set */
  GHashTable *per_host;               /* client address -> open connections */
};

static GQuark
conn_quark (void)
{
  static GQuark quark;

  if (quark == 0)
    quark = g_quark_from_static_string ("aura-conn");
  return quark;
}

static void
close_connection (GSocketConnection *connection)
{
  g_socket_shutdown (g_socket_connection_get_socket (connection), TRUE, TRUE, NULL);
}

static Conn *
lookup (SoupServerMessage *msg)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);

  return remote != NULL ? g_object_get_qdata (G_OBJECT (remote), conn_quark ()) : NULL;
}

void
aura_conn_close (SoupServerMessage *msg)
{
  Conn *conn = lookup (msg);

  if (conn != NULL)
    close_connection (conn->connection);
}

GSocket *
aura_conn_get_socket (SoupServerMessage *msg)
{
  Conn *conn = lookup (msg);

  return conn != NULL && conn->connection != NULL
    ? g_socket_connection_get_socket (conn->connection) : NULL;
}

GSocketConnection *
aura_conn_steal (SoupServerMessage *msg)
{
  Conn *conn = lookup (msg);
  GSocketConnection *connection;
  g_autoptr(GIOStream) stolen = NULL;

  if (conn == NULL || conn->connection == NULL)
    return NULL;
  /* libsoup hands back its own wrapper of the connection (which leaves
   * the connection open when it goes), and frees its I/O state: the
   * buffer it read the request into (16 KiB), its streams and, once the
   * caller lets go of the message, the message and its connection
   * object. It has no I/O running on the stream after this. */
  connection = g_object_ref (conn->connection);
  stolen = soup_server_message_steal_connection (msg);
  return connection;
}

static gboolean
on_timeout (gpointer user_data)
{
  Conn *conn = user_data;

  conn->timer_id = 0;
  g_debug ("closing an idle connection");
  conn->tracker->metrics->connections_timed_out++;
  close_connection (conn->connection);
  return G_SOURCE_REMOVE;
}

static void
conn_arm (Conn *conn)
{
  if (conn->timer_id != 0)
    g_source_remove (conn->timer_id);
  conn->timer_id = g_timeout_add_seconds (conn->tracker->config->idle_timeout_s, on_timeout, conn);
}

static void
conn_disarm (Conn *conn)
{
  if (conn->timer_id != 0)
    g_source_remove (conn->timer_id);
  conn->timer_id = 0;
}

static void on_connection_gone (gpointer data, GObject *where_the_connection_was);

static guint
host_count (AuraConnTracker *self, const char *host)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (self->per_host, host));
}

static void
host_count_add (AuraConnTracker *self, const char *host, int delta)
{
  guint n = host_count (self, host) + delta;

  if (n == 0)
    g_hash_table_remove (self->per_host, host);
  else
    g_hash_table_replace (self->per_host, g_strdup (host), GUINT_TO_POINTER (n));
}

/* The client's address without the port ("local" for a Unix socket). */
static char *
remote_host (GSocketAddress *remote)
{
  if (G_IS_INET_SOCKET_ADDRESS (remote))
    return g_inet_address_to_string (
      g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)));
  return g_strdup ("local");
}

static void
conn_free (gpointer data)
{
  Conn *conn = data;

  conn_disarm (conn);
  host_count_add (conn->tracker, conn->host, -1);
  g_free (conn->host);
  g_object_set_qdata (G_OBJECT (conn->remote), conn_quark (), NULL);
  g_object_unref (conn->remote);
  if (conn->connection != NULL)
    g_object_weak_unref (G_OBJECT (conn->connection), on_connection_gone, conn);
  g_free (conn);
}

static void
on_connection_gone (gpointer data, GObject *where_the_connection_was)
{
  Conn *conn = data;

  conn->connection = NULL;
  g_hash_table_remove (conn->tracker->conns, conn);
}

/* ---- request size limits ----------------------------------------------- */

static gsize
header_bytes (SoupServerMessage *msg)
{
  SoupMessageHeadersIter iter;
  const char *name, *value;
  GUri *uri = soup_server_message_get_uri (msg);
  gsize n = strlen (soup_server_message_get_method (msg)) + strlen (g_uri_get_path (uri)) + 12;

  if (g_uri_get_query (uri) != NULL)
    n += strlen (g_uri_get_query (uri)) + 1;
  soup_message_headers_iter_init (&iter, soup_server_message_get_request_headers (msg));
  while (soup_message_headers_iter_next (&iter, &name, &value))
    n += strlen (name) + strlen (value) + 4;
  return n;
}

static void
refuse_body (AuraConnTracker *self, SoupServerMessage *msg)
{
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  if (soup_server_message_get_status (msg) == SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE)
    return;
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection",
                                "close");
  aura_http_respond_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "body-too-large",
                           "request bodies are limited to %" G_GSIZE_FORMAT " bytes",
                           self->config->max_body_bytes);
}

static void
on_got_headers (SoupServerMessage *msg, gpointer user_data)
{
  AuraConnTracker *self = user_data;
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  gsize n = header_bytes (msg);

  if (soup_server_message_get_status (msg) != 0)
    return;
  if (n > self->config->max_header_bytes) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection",
                                  "close");
    aura_http_respond_error (msg, AURA_HTTP_HEADERS_TOO_LARGE, "headers-too-large",
                             "the request line and headers are %" G_GSIZE_FORMAT
                             " bytes; at most %" G_GSIZE_FORMAT " are allowed",
                             n, self->config->max_header_bytes);
    return;
  }
  if (soup_message_headers_get_encoding (req) == SOUP_ENCODING_CONTENT_LENGTH &&
      soup_message_headers_get_content_length (req) > (goffset) self->config->max_body_bytes)
    refuse_body (self, msg);
}

static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  AuraConnTracker *self = user_data;
  gsize *seen = g_object_get_data (G_OBJECT (msg), "aura-body-bytes");

  if (seen == NULL) {
    seen = g_new0 (gsize, 1);
    g_object_set_data_full (G_OBJECT (msg), "aura-body-bytes", seen, g_free);
  }
  *seen += g_bytes_get_size (chunk);
  if (*seen > self->config->max_body_bytes)
    refuse_body (self, msg);
  if (*seen > self->config->max_body_bytes + MAX_DRAINED_BODY_BYTES)
    aura_conn_close (msg);
}

/* ---- accepting ---------------------------------------------------------- */

void
aura_conn_tracker_accept (AuraConnTracker *self, GSocketConnection *connection,
                          GSocketAddress *local, GSocketAddress *remote)
{
  g_autofree char *host = remote_host (remote);
  Conn *conn;

  if (g_hash_table_size (self->conns) >= self->config->max_connections) {
    g_debug ("refusing a connection: %u open (--max-connections)",
             g_hash_table_size (self->conns));
    self->metrics->connections_rejected++;
    g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
    return;
  }
  /* One client must not hold every connection (idle ones live until the
   * idle timeout). */
  if (host_count (self, host) >= self->config->max_connections_per_client) {
    g_debug ("refusing a connection from %s: %u open (--max-connections-per-client)", host,
             host_count (self, host));
    self->metrics->connections_rejected++;
    g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
    return;
  }
  conn = g_new0 (Conn, 1);
  conn->tracker = self;
  conn->host = g_steal_pointer (&host);
  host_count_add (self, conn->host, 1);
  conn->connection = connection;
  conn->remote = g_object_ref (remote);
  g_object_weak_ref (G_OBJECT (connection), on_connection_gone, conn);
  g_object_set_qdata (G_OBJECT (remote), conn_quark (), conn);
  g_hash_table_add (self->conns, conn);
  conn_arm (conn);
  soup_server_accept_iostream (self->server, G_IO_STREAM (connection), local, remote, NULL);
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *connection, GObject *source,
             gpointer user_data)
{
  AuraConnTracker *self = user_data;
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autoptr(GError) error = NULL;

  local = g_socket_connection_get_local_address (connection, &error);
  if (local != NULL)
    remote = g_socket_connection_get_remote_address (connection, &error);
  if (remote == NULL) {
    g_debug ("dropping a connection: %s", error->message);
    g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
    return TRUE;
  }
  g_socket_set_option (g_socket_connection_get_socket (connection), IPPROTO_TCP, TCP_NODELAY, 1,
                       NULL);
  aura_conn_tracker_accept (self, connection, local, remote);
  return TRUE;
}

static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  AuraConnTracker *self = user_data;

  g_signal_connect (msg, "got-headers", G_CALLBACK (on_got_headers), self);
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), self);
}

static void
on_request_read (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  Conn *conn = lookup (msg);

  if (conn != NULL)
    conn_disarm (conn);
}

static void
on_request_done (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  Conn *conn = lookup (msg);

  if (conn != NULL)
    conn_arm (conn);
}

static void
add_url (AuraConnTracker *self, GSocketAddress *address)
{
  GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS (address);
  g_autofree char *host = g_inet_address_to_string (g_inet_socket_address_get_address (inet));
  gboolean v6 = g_inet_address_get_family (g_inet_socket_address_get_address (inet)) ==
                G_SOCKET_FAMILY_IPV6;

  g_ptr_array_add (self->urls, g_strdup_printf (v6 ? "http://[%s]:%u/" : "http://%s:%u/", host,
                                                g_inet_socket_address_get_port (inet)));
}

gboolean
aura_conn_tracker_listen (AuraConnTracker *self, GSocketAddress *address, GError **error)
{
  g_autoptr(GSocketAddress) effective = NULL;

  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                      &effective, error))
    return FALSE;
  add_url (self, effective);
  return TRUE;
}

gboolean
aura_conn_tracker_listen_socket (AuraConnTracker *self, GSocket *socket, GError **error)
{
  g_autoptr(GSocketAddress) address = g_socket_get_local_address (socket, error);

  if (address == NULL ||
      !g_socket_listener_add_socket (G_SOCKET_LISTENER (self->service), socket, NULL, error))
    return FALSE;
  if (G_IS_INET_SOCKET_ADDRESS (address))
    add_url (self, address);
  return TRUE;
}

GPtrArray *
aura_conn_tracker_get_urls (AuraConnTracker *self)
{
  return self->urls;
}

AuraConnTracker *
aura_conn_tracker_new (SoupServer *server, const AuraBridgeConfig *config,
                       AuraBridgeMetrics *metrics)
{
  AuraConnTracker *self = g_new0 (AuraConnTracker, 1);

  self->server = server;
  self->config = config;
  self->metrics = metrics;
  self->per_host = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->conns = g_hash_table_new_full (g_direct_hash, g_direct_equal, conn_free, NULL);
  self->urls = g_ptr_array_new_with_free_func (g_free);
  self->service = g_socket_service_new ();
  /* GLib listens with a backlog of 10: when a restarted bridge has a
   * thousand browsers reconnecting at once, the rest of their SYNs are
   * dropped and each waits a second or more to retry. The kernel caps this
   * at net.core.somaxconn. */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (self->service), SOMAXCONN);
  g_signal_connect (self->service, "incoming", G_CALLBACK (on_incoming), self);
  g_signal_connect (server, "request-started", G_CALLBACK (on_request_started), self);
  g_signal_connect (server, "request-read", G_CALLBACK (on_request_read), self);
  g_signal_connect (server, "request-finished", G_CALLBACK (on_request_done), self);
  g_signal_connect (server, "request-aborted", G_CALLBACK (on_request_done), self);
  return self;
}

void
aura_conn_tracker_stop (AuraConnTracker *self)
{
  g_socket_service_stop (self->service);
  g_socket_listener_close (G_SOCKET_LISTENER (self->service));
}

void
aura_conn_tracker_free (AuraConnTracker *self)
{
  if (self == NULL)
    return;
  aura_conn_tracker_stop (self);
  g_signal_handlers_disconnect_by_data (self->service, self);
  g_object_unref (self->service);
  g_signal_handlers_disconnect_by_data (self->server, self);
  g_hash_table_unref (self->conns);
  g_hash_table_unref (self->per_host);
  g_ptr_array_unref (self->urls);
  g_free (self);
}

guint
aura_conn_tracker_count (AuraConnTracker *self)
{
  return g_hash_table_size (self->conns);
}

/* SPDX-License-Identifier: MIT */
#include "aura-bridge.h"
#include "aura-sse-format.h"
#include "aura-sse-stream.h"

/* libsoup reads the request and writes the response head; the body is
 * written here, straight to the socket, as soon as an event is there.
 * Through libsoup every event on every stream was an idle source, a round
 * of its I/O state machine and a signal or two: with 10,000 streams, a
 * report every 100 ms took longer than 100 ms to fan out. The body ends
 * with the connection (no chunk framing: the connection closes after every
 * response anyway), so the bytes are the events themselves.
 *
 * Once the head is written the stream takes the connection from libsoup
 * (aura_conn_steal()), which then frees everything it had for it: the
 * buffer it read the request into (16 KiB, kept until the message ends),
 * the message, its headers and its connection object. A stream then costs
 * its socket and this struct; it closes the connection itself. */
struct _AuraSseStream {
  SoupServerMessage *msg;             /* until the connection is taken */
  GSocketConnection *connection;      /* once it is taken */
  const char *client;                 /* borrowed, for messages */
  gsize max_queued;
  GQueue pending;                     /* GBytes not yet written */
  gsize offset;                       /* of the first, already written */
  gsize queued;                       /* bytes not yet written */
  GSource *out_source;                /* waiting for the socket to take more */
  guint closed_id;                    /* reports the close from the main loop */
  gboolean open : 1;
  gboolean head_written : 1;          /* by libsoup: the body is ours to write */
  gboolean ending : 1;
  gboolean completed : 1;             /* nothing more will be written */
  gboolean closed : 1;
  AuraSseStreamClosedFunc closed_func;
  gpointer user_data;
};

static void flush (AuraSseStream *self);

static void
report_closed (AuraSseStream *self)
{
  if (self->closed)
    return;
  self->closed = TRUE;
  self->closed_func (self, self->user_data);
}

static void
on_finished (SoupServerMessage *msg, gpointer user_data)
{
  report_closed (user_data);
}

static gboolean
on_closed_idle (gpointer user_data)
{
  AuraSseStream *self = user_data;

  self->closed_id = 0;
  report_closed (self);
  return G_SOURCE_REMOVE;
}

static void
clear_pending (AuraSseStream *self)
{
  g_queue_clear_full (&self->pending, (GDestroyNotify) g_bytes_unref);
  self->offset = 0;
  self->queued = 0;
  if (self->out_source != NULL) {
    g_source_destroy (self->out_source);
    g_clear_pointer (&self->out_source, g_source_unref);
  }
}

/* Nothing more to write: the connection closes. Before the stream has the
 * connection, libsoup finishes the message and closes it; after, the
 * stream closes it and reports that from the main loop. */
static void
complete (AuraSseStream *self)
{
  if (self->completed)
    return;
  self->completed = TRUE;
  if (self->connection == NULL) {
    soup_message_body_complete (soup_server_message_get_response_body (self->msg));
    soup_server_message_unpause (self->msg);
    return;
  }
  g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);
  self->closed_id = g_idle_add (on_closed_idle, self);
}

static GSocket *
get_socket (AuraSseStream *self)
{
  if (self->connection != NULL)
    return g_io_stream_is_closed (G_IO_STREAM (self->connection))
      ? NULL : g_socket_connection_get_socket (self->connection);
  return aura_conn_get_socket (self->msg);
}

static gboolean
on_writable (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  AuraSseStream *self = user_data;

  g_clear_pointer (&self->out_source, g_source_unref);
  flush (self);
  return G_SOURCE_REMOVE;
}

/* Writes what is pending, as far as the socket takes it now. */
static void
flush (AuraSseStream *self)
{
  GSocket *socket = get_socket (self);

  while (!g_queue_is_empty (&self->pending) && self->out_source == NULL) {
    GBytes *bytes = g_queue_peek_head (&self->pending);
    gsize size;
    const char *data = g_bytes_get_data (bytes, &size);
    g_autoptr(GError) error = NULL;
    gssize n = socket != NULL
      ? g_socket_send_with_blocking (socket, data + self->offset, size - self->offset, FALSE,
                                     NULL, &error)
      : -1;

    if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
      self->out_source = g_socket_create_source (socket, G_IO_OUT, NULL);
      g_source_set_callback (self->out_source, G_SOURCE_FUNC (on_writable), self, NULL);
      g_source_attach (self->out_source, NULL);
      return;
    }
    if (n < 0) {
      /* the client is gone */
      g_debug ("a stream to %s failed: %s", self->client,
               error != NULL ? error->message : "no socket");
      aura_sse_stream_drop (self);
      return;
    }
    self->offset += (gsize) n;
    self->queued -= (gsize) n;
    if (self->offset == size) {
      g_bytes_unref (g_queue_pop_head (&self->pending));
      self->offset = 0;
    }
  }
  if (g_queue_is_empty (&self->pending) && self->ending)
    complete (self);
}

static void
on_wrote_headers (SoupServerMessage *msg, gpointer user_data)
{
  AuraSseStream *self = user_data;

  self->head_written = TRUE;
  /* libsoup checks after this signal whether its connection was taken
   * (as for a WebSocket upgrade) and stops there. The message is let go
   * of: libsoup holds it until this signal returns. */
  self->connection = aura_conn_steal (msg);
  if (self->connection != NULL) {
    g_signal_handlers_disconnect_by_data (msg, self);
    g_clear_object (&self->msg);
  }
  flush (self);
}

AuraSseStream *
aura_sse_stream_new (SoupServerMessage *msg, const char *client, gsize max_queued,
                     AuraSseStreamClosedFunc closed, gpointer user_data)
{
  AuraSseStream *self = g_new0 (AuraSseStream, 1);

  self->msg = g_object_ref (msg);
  self->client = client;
  self->max_queued = max_queued;
  self->closed_func = closed;
  self->user_data = user_data;
  g_signal_connect (msg, "finished", G_CALLBACK (on_finished), self);
  soup_server_message_pause (msg);
  return self;
}

void
aura_sse_stream_free (AuraSseStream *self)
{
  if (self == NULL)
    return;
  clear_pending (self);
  if (self->closed_id != 0)
    g_source_remove (self->closed_id);
  if (self->connection != NULL) {
    /* the bridge is going away with the stream open */
    g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);
    g_object_unref (self->connection);
  }
  if (self->msg != NULL) {
    g_signal_handlers_disconnect_by_data (self->msg, self);
    g_object_unref (self->msg);
  }
  g_free (self);
}

SoupServerMessage *
aura_sse_stream_get_message (AuraSseStream *self)
{
  g_return_val_if_fail (!self->head_written, NULL);
  return self->msg;
}

static void
append (AuraSseStream *self, GBytes *bytes)
{
  if (g_bytes_get_size (bytes) == 0)
    return;
  g_queue_push_tail (&self->pending, g_bytes_ref (bytes));
  self->queued += g_bytes_get_size (bytes);
  if (self->head_written)
    flush (self);
}

void
aura_sse_stream_open (AuraSseStream *self, guint retry_ms, GBytes *first)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (self->msg);
  GString *start = g_string_new (NULL);
  g_autoptr(GBytes) chunk = NULL;

  g_return_if_fail (!self->open);
  self->open = TRUE;
  soup_server_message_set_status (self->msg, SOUP_STATUS_OK, NULL);
  /* The body ends with the connection, which closes after every response
   * anyway: one send() per event, no chunk framing. */
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_EOF);
  soup_message_headers_replace (headers, "Content-Type", "text/event-stream");
  /* No cache and no proxy may hold events back, transform or buffer them. */
  soup_message_headers_replace (headers, "Cache-Control", "no-store, no-transform");
  soup_message_headers_replace (headers, "X-Accel-Buffering", "no");
  soup_message_body_set_accumulate (soup_server_message_get_response_body (self->msg), FALSE);
  g_signal_connect (self->msg, "wrote-headers", G_CALLBACK (on_wrote_headers), self);

  aura_sse_append_retry (start, retry_ms);
  if (first != NULL)
    g_string_append_len (start, g_bytes_get_data (first, NULL), (gssize) g_bytes_get_size (first));
  chunk = g_string_free_to_bytes (start);
  append (self, chunk);
  /* libsoup writes the head, then waits for a body that never comes from
   * it: the events go to the socket from here */
  soup_server_message_unpause (self->msg);
}

gboolean
aura_sse_stream_is_open (AuraSseStream *self)
{
  return self->open;
}

void
aura_sse_stream_respond (AuraSseStream *self)
{
  g_return_if_fail (!self->open);
  self->ending = TRUE;
  soup_server_message_unpause (self->msg);
}

gsize
aura_sse_stream_get_queued (AuraSseStream *self)
{
  return self->queued;
}

gboolean
aura_sse_stream_write (AuraSseStream *self, GBytes *frame, gboolean check)
{
  g_return_val_if_fail (self->open, FALSE);
  if (self->ending)
    return FALSE;
  if (check && self->queued > self->max_queued) {
    g_message ("dropping a stream to %s: %" G_GSIZE_FORMAT " bytes not yet read",
               self->client, self->queued);
    aura_sse_stream_drop (self);
    return FALSE;
  }
  append (self, frame);
  return TRUE;
}

void
aura_sse_stream_end (AuraSseStream *self)
{
  if (self->ending)
    return;
  self->ending = TRUE;
  /* after what is pending; before the head is written, once it is */
  if (self->head_written && g_queue_is_empty (&self->pending))
    complete (self);
}

void
aura_sse_stream_drop (AuraSseStream *self)
{
  /* What is pending is thrown away, the connection is closed; libsoup
   * then fails or finishes the message, if it still has it. */
  clear_pending (self);
  if (self->connection == NULL)
    aura_conn_close (self->msg);
  self->ending = TRUE;
  complete (self);
}

gboolean
aura_sse_stream_is_ending (AuraSseStream *self)
{
  return self->ending;
}

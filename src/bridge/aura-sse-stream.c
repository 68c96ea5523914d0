/* SPDX-License-Identifier: MIT */
#include "aura-bridge.h"
#include "aura-sse-format.h"
#include "aura-sse-stream.h"

struct _AuraSseStream {
  SoupServerMessage *msg;
  gsize max_queued;
  guint64 appended;                   /* body bytes handed to libsoup */
  guint64 written;                    /* body bytes libsoup wrote */
  gboolean open;
  gboolean ending;
  gboolean closed;
  AuraSseStreamClosedFunc closed_func;
  gpointer user_data;
};

static void
on_wrote_body_data (SoupServerMessage *msg, guint size, gpointer user_data)
{
  AuraSseStream *self = user_data;
  self->written += size;
}

static void
on_finished (SoupServerMessage *msg, gpointer user_data)
{
  AuraSseStream *self = user_data;

  if (self->closed)
    return;
  self->closed = TRUE;
  self->closed_func (self, self->user_data);
}

AuraSseStream *
aura_sse_stream_new (SoupServerMessage *msg, gsize max_queued, AuraSseStreamClosedFunc closed,
                     gpointer user_data)
{
  AuraSseStream *self = g_new0 (AuraSseStream, 1);

  self->msg = g_object_ref (msg);
  self->max_queued = max_queued;
  self->closed_func = closed;
  self->user_data = user_data;
  g_signal_connect (msg, "wrote-body-data", G_CALLBACK (on_wrote_body_data), self);
  g_signal_connect (msg, "finished", G_CALLBACK (on_finished), self);
  soup_server_message_pause (msg);
  return self;
}

void
aura_sse_stream_free (AuraSseStream *self)
{
  if (self == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->msg, self);
  g_object_unref (self->msg);
  g_free (self);
}

SoupServerMessage *
aura_sse_stream_get_message (AuraSseStream *self)
{
  return self->msg;
}

static void
append (AuraSseStream *self, GBytes *bytes)
{
  SoupMessageBody *body = soup_server_message_get_response_body (self->msg);

  self->appended += g_bytes_get_size (bytes);
  soup_message_body_append_bytes (body, bytes);
  soup_server_message_unpause (self->msg);
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
   * anyway: libsoup writes a chunked body's size line, data and CRLF with
   * three send()s, three packets under TCP_NODELAY and three wake-ups of the
   * client for every event; without chunks an event is one send(). With
   * 1,000 streams this halved the fan-out latency (bench/README.md). */
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_EOF);
  soup_message_headers_replace (headers, "Content-Type", "text/event-stream");
  /* No cache and no proxy may hold events back, transform or buffer them. */
  soup_message_headers_replace (headers, "Cache-Control", "no-store, no-transform");
  soup_message_headers_replace (headers, "X-Accel-Buffering", "no");
  /* The body is written and forgotten, never kept for the whole stream. */
  soup_message_body_set_accumulate (soup_server_message_get_response_body (self->msg), FALSE);

  aura_sse_append_retry (start, retry_ms);
  if (first != NULL)
    g_string_append_len (start, g_bytes_get_data (first, NULL), (gssize) g_bytes_get_size (first));
  chunk = g_string_free_to_bytes (start);
  append (self, chunk);
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
  return (gsize) (self->appended - self->written);
}

gboolean
aura_sse_stream_write (AuraSseStream *self, GBytes *frame, gboolean check)
{
  g_return_val_if_fail (self->open, FALSE);
  if (self->ending)
    return FALSE;
  if (check && aura_sse_stream_get_queued (self) > self->max_queued) {
    g_message ("dropping a stream to %s: %" G_GSIZE_FORMAT " bytes not yet read",
               soup_server_message_get_remote_host (self->msg), aura_sse_stream_get_queued (self));
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
  soup_message_body_complete (soup_server_message_get_response_body (self->msg));
  soup_server_message_unpause (self->msg);
}

void
aura_sse_stream_drop (AuraSseStream *self)
{
  /* The pending write then fails, and libsoup finishes the message. */
  aura_conn_close (self->msg);
  self->ending = FALSE;
  aura_sse_stream_end (self);
}

gboolean
aura_sse_stream_is_ending (AuraSseStream *self)
{
  return self->ending;
}

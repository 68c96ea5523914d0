/* SPDX-License-Identifier: MIT */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/**
 * AuraSseStream:
 * The HTTP side of one event stream: the response of one request, its
 * headers and hygiene (written by libsoup), and its body, written straight
 * to the socket, with the bytes not yet written. Once the head is written
 * the stream owns the connection and libsoup has forgotten it. What a stream carries is
 * decided elsewhere (AuraFeed).
 *
 * A client that falls more than max_queued bytes behind is dropped: its
 * connection is closed, it reconnects with Last-Event-ID and catches up,
 * and the bridge's memory does not grow with its backlog.
 */
typedef struct _AuraSseStream AuraSseStream;

/* The response is over (written, failed or dropped); the owner frees the
 * stream. Called from the main loop, never from a stream function. */
typedef void (*AuraSseStreamClosedFunc) (AuraSseStream *stream, gpointer user_data);

/* Pauses @msg until aura_sse_stream_open() or a plain response. @client
 * (the client's address, for messages) is borrowed for the stream's life. */
AuraSseStream     *aura_sse_stream_new (SoupServerMessage *msg, const char *client,
                                        gsize max_queued, AuraSseStreamClosedFunc closed,
                                        gpointer user_data);
void               aura_sse_stream_free (AuraSseStream *stream);

/* The request, until the stream is open (an open stream has let go of it). */
SoupServerMessage *aura_sse_stream_get_message (AuraSseStream *stream);
/* Sends the 200 and the stream headers at once, with the retry hint and
 * @first (may be NULL) as the first data. */
void               aura_sse_stream_open (AuraSseStream *stream, guint retry_ms, GBytes *first);
gboolean           aura_sse_stream_is_open (AuraSseStream *stream);
/* Answers with a plain response the caller has set on the message instead
 * of a stream (204, 404, ...). */
void               aura_sse_stream_respond (AuraSseStream *stream);

/* Queues @frame. With @check, a client already more than max_queued bytes
 * behind is dropped instead and FALSE is returned. */
gboolean           aura_sse_stream_write (AuraSseStream *stream, GBytes *frame, gboolean check);
/* Bytes queued but not yet written to the socket. */
gsize              aura_sse_stream_get_queued (AuraSseStream *stream);
/* Ends the stream after what is queued. */
void               aura_sse_stream_end (AuraSseStream *stream);
/* Closes the connection now, discarding what is queued. */
void               aura_sse_stream_drop (AuraSseStream *stream);
gboolean           aura_sse_stream_is_ending (AuraSseStream *stream);

G_END_DECLS

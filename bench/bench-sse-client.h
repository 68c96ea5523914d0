/* SPDX-License-Identifier: MIT */
#pragma once

/* The SSE load client of bench-sse and bench-recovery: thousands of
 * event streams from one thread, over non-blocking sockets and epoll.
 *
 * It speaks just enough HTTP/1.1 for a benchmark (a GET, the status line,
 * the Transfer-Encoding header, chunked bodies) and just enough SSE (id:,
 * event:, data: lines and the empty line that dispatches them). A real
 * client library would cost more per stream than the servers being
 * measured, which is why it is not libsoup. */

#include <glib.h>

#include "bench-common.h"

G_BEGIN_DECLS

typedef struct _SseClient SseClient;

/* An event, at @now (bench_now()); @id 0 when it had no id: line. */
typedef void (*SseEventFunc) (SseClient *client, guint stream, guint64 id, const char *type,
                              const char *data, gsize data_len, double now, gpointer user_data);
/* A stream's response began (@status: its HTTP status) or the stream
 * ended (@status 0: closed or refused). */
typedef void (*SseStatusFunc) (SseClient *client, guint stream, int status, double now,
                               gpointer user_data);

/* @n streams to http://127.0.0.1:@port@path. @max_connecting: how many
 * connections may be in the making at once (0: no limit, like many
 * browsers at once). */
SseClient *sse_client_new (guint16 port, const char *path, guint n, guint max_connecting,
                           SseEventFunc on_event, SseStatusFunc on_status, gpointer user_data);
void       sse_client_free (SseClient *client);
/* Reconnect a stream that ended after @delay seconds, with the
 * Last-Event-ID of the last event it received (FALSE: leave it closed). */
void       sse_client_set_reconnect (SseClient *client, gboolean reconnect, double delay);
/* Starts connecting every stream (paced by max_connecting). */
void       sse_client_start (SseClient *client);
/* Closes every stream. */
void       sse_client_close_all (SseClient *client);
/* Runs the streams until done(data) is TRUE (asked at least every
 * @tick_ms); FALSE when @timeout seconds passed first. */
gboolean   sse_client_run (SseClient *client, gboolean (*done) (gpointer data), gpointer data,
                           double timeout, int tick_ms);
/* Streams whose response (status 200) has begun and that are still open. */
guint      sse_client_n_streaming (SseClient *client);
guint64    sse_client_last_id (SseClient *client, guint stream);
/* Body bytes received by all streams so far. */
guint64    sse_client_bytes (SseClient *client);

/* Raises RLIMIT_NOFILE to its hard limit; returns the new soft limit. */
guint64    bench_raise_nofile (void);

/* Starts aura-sse-bridge on the bus, listening on 127.0.0.1:@port (0: a
 * free one), with @extra options; returns the port it listens on. */
GSubprocess *bench_start_bridge (BenchBus *bb, const char *program, guint16 port,
                                 const char *const *extra, guint16 *port_out);
const char  *bench_default_bridge (void);
/* The same in two steps: bench_spawn_bridge() in the thread that stays
 * (the bridge dies with the thread that spawned it), and
 * bench_bridge_wait_port() anywhere. */
GSubprocess *bench_spawn_bridge (BenchBus *bb, const char *program, guint16 port,
                                 const char *const *extra);
guint16      bench_bridge_wait_port (GSubprocess *bridge);

/* A paced publisher in its own thread: publish(seq) every @period
 * seconds, the time of each call's return kept by sequence number. */
typedef struct _BenchPublisher BenchPublisher;
typedef void (*BenchPublishFunc) (BenchPublisher *pub, guint seq, gpointer user_data);

BenchPublisher *bench_publisher_start (double period, guint max_seq, BenchPublishFunc publish,
                                       gpointer user_data);
/* Stops and joins the thread; returns how many were published. */
guint           bench_publisher_stop (BenchPublisher *pub);
/* The first sequence number not yet being published. */
guint           bench_publisher_next (BenchPublisher *pub);
/* When the call publishing @seq returned (bench_now()); 0 if not yet. */
double          bench_publisher_returned (BenchPublisher *pub, guint seq);
/* When the call publishing @seq started. */
double          bench_publisher_sent (BenchPublisher *pub, guint seq);

/* The D-Bus publisher: ReportProgress(@job, "render", 50, {message:
 * "bench seq N"}) on its own connection to the bus of @bb. */
BenchPublisher *bench_publisher_start_dbus (BenchBus *bb, const char *job, double period,
                                            guint max_seq);
/* The sequence number in an event's data ("seq N"), -1 if none. */
gint64          bench_parse_seq (const char *data);

G_END_DECLS

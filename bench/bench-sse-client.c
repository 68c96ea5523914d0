/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench-sse-client.h"

/* A response's request line and headers: more is a broken server. */
#define MAX_HEAD_BYTES (16 * 1024)
/* An SSE line: more is a broken server (the events here are < 4 KiB). */
#define MAX_LINE_BYTES (256 * 1024)

typedef enum {
  STREAM_IDLE,                        /* waiting to connect */
  STREAM_CONNECTING,
  STREAM_HEAD,                        /* request sent, reading the response head */
  STREAM_BODY,
  STREAM_RETRY,                       /* waiting to reconnect */
  STREAM_CLOSED,
} StreamState;

typedef enum {
  CHUNK_SIZE,                         /* reading the chunk size line */
  CHUNK_DATA,
  CHUNK_DATA_END,                     /* the CRLF after a chunk */
  CHUNK_DONE,                         /* the last chunk came */
} ChunkState;

typedef struct {
  int fd;
  StreamState state;
  gboolean chunked;
  ChunkState chunk_state;
  gsize chunk_left;
  char size_line[32];
  guint size_len;
  GString *line;                      /* the head, then the SSE line being read */
  GString *data;                      /* the data: lines of the event being read */
  char type[32];
  guint64 pending_id;
  guint64 last_id;
  double retry_at;
} Stream;

struct _SseClient {
  int epfd;
  struct sockaddr_in addr;
  char *path;
  Stream *streams;
  guint n;
  guint max_connecting;
  guint n_connecting;                 /* CONNECTING or HEAD */
  guint n_streaming;                  /* BODY */
  guint n_retry;
  GQueue idle;                        /* stream indices waiting to connect */
  gboolean reconnect;
  double reconnect_delay;
  guint64 bytes;
  SseEventFunc on_event;
  SseStatusFunc on_status;
  gpointer user_data;
};

SseClient *
sse_client_new (guint16 port, const char *path, guint n, guint max_connecting,
                SseEventFunc on_event, SseStatusFunc on_status, gpointer user_data)
{
  SseClient *self = g_new0 (SseClient, 1);

  self->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (self->epfd < 0)
    bench_fail ("epoll_create1: %s", g_strerror (errno));
  self->addr.sin_family = AF_INET;
  self->addr.sin_port = htons (port);
  self->addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  self->path = g_strdup (path);
  self->streams = g_new0 (Stream, n);
  self->n = n;
  self->max_connecting = max_connecting > 0 ? max_connecting : G_MAXUINT;
  self->on_event = on_event;
  self->on_status = on_status;
  self->user_data = user_data;
  for (guint i = 0; i < n; i++) {
    self->streams[i].fd = -1;
    self->streams[i].state = STREAM_CLOSED;
  }
  return self;
}

static void
stream_reset (Stream *s)
{
  if (s->fd >= 0)
    close (s->fd);
  s->fd = -1;
  s->chunked = FALSE;
  s->chunk_state = CHUNK_SIZE;
  s->chunk_left = 0;
  s->size_len = 0;
  s->type[0] = '\0';
  s->pending_id = 0;
  if (s->line != NULL)
    g_string_truncate (s->line, 0);
  if (s->data != NULL)
    g_string_truncate (s->data, 0);
}

void
sse_client_free (SseClient *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < self->n; i++) {
    stream_reset (&self->streams[i]);
    if (self->streams[i].line != NULL)
      g_string_free (self->streams[i].line, TRUE);
    if (self->streams[i].data != NULL)
      g_string_free (self->streams[i].data, TRUE);
  }
  g_queue_clear (&self->idle);
  close (self->epfd);
  g_free (self->streams);
  g_free (self->path);
  g_free (self);
}

void
sse_client_set_reconnect (SseClient *self, gboolean reconnect, double delay)
{
  self->reconnect = reconnect;
  self->reconnect_delay = delay;
}

void
sse_client_start (SseClient *self)
{
  for (guint i = 0; i < self->n; i++) {
    self->streams[i].state = STREAM_IDLE;
    g_queue_push_tail (&self->idle, GUINT_TO_POINTER (i));
  }
}

guint
sse_client_n_streaming (SseClient *self)
{
  return self->n_streaming;
}

guint64
sse_client_last_id (SseClient *self, guint stream)
{
  return self->streams[stream].last_id;
}

guint64
sse_client_bytes (SseClient *self)
{
  return self->bytes;
}

/* The stream is over: closed by the server, refused, or failed. */
static void
stream_end (SseClient *self, guint i, double now)
{
  Stream *s = &self->streams[i];

  if (s->state == STREAM_CONNECTING || s->state == STREAM_HEAD)
    self->n_connecting--;
  else if (s->state == STREAM_BODY)
    self->n_streaming--;
  stream_reset (s);
  if (self->reconnect) {
    s->state = STREAM_RETRY;
    s->retry_at = now + self->reconnect_delay;
    self->n_retry++;
  } else {
    s->state = STREAM_CLOSED;
  }
  self->on_status (self, i, 0, now, self->user_data);
}

void
sse_client_close_all (SseClient *self)
{
  self->reconnect = FALSE;
  g_queue_clear (&self->idle);
  for (guint i = 0; i < self->n; i++) {
    Stream *s = &self->streams[i];
    if (s->state == STREAM_CONNECTING || s->state == STREAM_HEAD)
      self->n_connecting--;
    else if (s->state == STREAM_BODY)
      self->n_streaming--;
    stream_reset (s);
    s->state = STREAM_CLOSED;
  }
  self->n_retry = 0;
}

static void
stream_connect (SseClient *self, guint i, double now)
{
  Stream *s = &self->streams[i];
  struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = i };
  int one = 1;

  s->fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0)
    bench_fail ("socket: %s (raise the open files limit)", g_strerror (errno));
  setsockopt (s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  s->state = STREAM_CONNECTING;
  self->n_connecting++;
  if (connect (s->fd, (struct sockaddr *) &self->addr, sizeof self->addr) < 0 &&
      errno != EINPROGRESS) {
    if (errno != ECONNREFUSED && errno != ECONNRESET && errno != EAGAIN)
      bench_fail ("connect: %s", g_strerror (errno));
    stream_end (self, i, now);
    return;
  }
  if (epoll_ctl (self->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
    bench_fail ("epoll_ctl: %s", g_strerror (errno));
}

static void
stream_send_request (SseClient *self, guint i, double now)
{
  Stream *s = &self->streams[i];
  struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
  char request[1024];
  int err = 0, len;
  socklen_t err_len = sizeof err;

  if (getsockopt (s->fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0 || err != 0) {
    stream_end (self, i, now);
    return;
  }
  /* a reconnecting client resumes from the last event it has, as
   * browsers do */
  if (s->last_id > 0)
    len = g_snprintf (request, sizeof request,
                      "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAccept: text/event-stream\r\n"
                      "Cache-Control: no-cache\r\nLast-Event-ID: %" G_GUINT64_FORMAT "\r\n\r\n",
                      self->path, ntohs (self->addr.sin_port), s->last_id);
  else
    len = g_snprintf (request, sizeof request,
                      "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAccept: text/event-stream\r\n"
                      "Cache-Control: no-cache\r\n\r\n",
                      self->path, ntohs (self->addr.sin_port));
  /* a fresh socket's send buffer takes a short request whole */
  if (send (s->fd, request, (size_t) len, MSG_NOSIGNAL) != len) {
    stream_end (self, i, now);
    return;
  }
  s->state = STREAM_HEAD;
  if (s->line == NULL)
    s->line = g_string_sized_new (256);
  if (epoll_ctl (self->epfd, EPOLL_CTL_MOD, s->fd, &ev) < 0)
    bench_fail ("epoll_ctl: %s", g_strerror (errno));
}

/* One SSE line (without its line end). */
static void
sse_line (SseClient *self, guint i, const char *line, gsize len, double now)
{
  Stream *s = &self->streams[i];
  const char *colon = memchr (line, ':', len);
  gsize name_len = colon != NULL ? (gsize) (colon - line) : len;
  const char *value = colon != NULL ? colon + 1 : line + len;
  gsize value_len = len - (gsize) (value - line);

  if (len == 0) {
    /* dispatch */
    if (s->data->len > 0 || s->type[0] != '\0') {
      if (s->pending_id > 0)
        s->last_id = s->pending_id;
      self->on_event (self, i, s->pending_id, s->type[0] != '\0' ? s->type : "message",
                      s->data->str, s->data->len, now, self->user_data);
    }
    g_string_truncate (s->data, 0);
    s->type[0] = '\0';
    s->pending_id = 0;
    return;
  }
  if (name_len == 0)
    return;                           /* a comment */
  if (value_len > 0 && value[0] == ' ') {
    value++;
    value_len--;
  }
  if (name_len == 4 && memcmp (line, "data", 4) == 0) {
    if (s->data->len > 0)
      g_string_append_c (s->data, '\n');
    g_string_append_len (s->data, value, (gssize) value_len);
  } else if (name_len == 2 && memcmp (line, "id", 2) == 0) {
    /* the bridge's ids are numbers; nchan's are not (and not needed) */
    s->pending_id = g_ascii_strtoull (value, NULL, 10);
  } else if (name_len == 5 && memcmp (line, "event", 5) == 0) {
    gsize n = MIN (value_len, sizeof s->type - 1);
    memcpy (s->type, value, n);
    s->type[n] = '\0';
  }
}

/* Body bytes (after de-chunking) into SSE lines. */
static void
sse_feed (SseClient *self, guint i, const char *p, gsize len, double now)
{
  Stream *s = &self->streams[i];

  while (len > 0) {
    const char *nl = memchr (p, '\n', len);
    gsize n = nl != NULL ? (gsize) (nl - p) : len;

    if (nl == NULL) {
      g_string_append_len (s->line, p, (gssize) n);
      if (s->line->len > MAX_LINE_BYTES)
        bench_fail ("an SSE line of more than %d bytes", MAX_LINE_BYTES);
      return;
    }
    if (s->line->len > 0) {
      g_string_append_len (s->line, p, (gssize) n);
      if (s->line->len > 0 && s->line->str[s->line->len - 1] == '\r')
        g_string_truncate (s->line, s->line->len - 1);
      sse_line (self, i, s->line->str, s->line->len, now);
      g_string_truncate (s->line, 0);
    } else {
      sse_line (self, i, p, n > 0 && p[n - 1] == '\r' ? n - 1 : n, now);
    }
    p += n + 1;
    len -= n + 1;
  }
}

/* Body bytes as they came: de-chunks them when the body is chunked.
 * Returns FALSE when the body ended. */
static gboolean
body_feed (SseClient *self, guint i, const char *p, gsize len, double now)
{
  Stream *s = &self->streams[i];

  if (!s->chunked) {
    sse_feed (self, i, p, len, now);
    return TRUE;
  }
  while (len > 0) {
    switch (s->chunk_state) {
    case CHUNK_SIZE:
      if (*p == '\n') {
        s->size_line[MIN (s->size_len, sizeof s->size_line - 1)] = '\0';
        s->chunk_left = (gsize) g_ascii_strtoull (s->size_line, NULL, 16);
        s->size_len = 0;
        s->chunk_state = s->chunk_left > 0 ? CHUNK_DATA : CHUNK_DONE;
      } else if (s->size_len < sizeof s->size_line - 1) {
        s->size_line[s->size_len++] = *p;
      }
      p++;
      len--;
      break;
    case CHUNK_DATA: {
      gsize n = MIN (len, s->chunk_left);
      sse_feed (self, i, p, n, now);
      p += n;
      len -= n;
      s->chunk_left -= n;
      if (s->chunk_left == 0)
        s->chunk_state = CHUNK_DATA_END;
      break;
    }
    case CHUNK_DATA_END:
      if (*p == '\n')
        s->chunk_state = CHUNK_SIZE;
      p++;
      len--;
      break;
    case CHUNK_DONE:
      return FALSE;
    }
  }
  return s->chunk_state != CHUNK_DONE;
}

/* The response head is whole in s->line: the status, the encoding. */
static gboolean
head_parse (SseClient *self, guint i, double now, gsize head_len)
{
  Stream *s = &self->streams[i];
  g_autofree char *head = g_ascii_strdown (s->line->str, (gssize) head_len);
  int status = 0;

  if (sscanf (head, "http/1.%*d %d", &status) != 1)
    bench_fail ("not an HTTP response: %.40s", s->line->str);
  s->chunked = strstr (head, "\ntransfer-encoding: chunked") != NULL;
  self->n_connecting--;
  if (status != 200) {
    /* counted as streaming for stream_end()'s books */
    s->state = STREAM_BODY;
    self->n_streaming++;
    self->on_status (self, i, status, now, self->user_data);
    stream_end (self, i, now);
    return FALSE;
  }
  s->state = STREAM_BODY;
  self->n_streaming++;
  if (s->data == NULL)
    s->data = g_string_sized_new (512);
  self->on_status (self, i, status, now, self->user_data);
  return TRUE;
}

static void
stream_read (SseClient *self, guint i, double now)
{
  static char buf[64 * 1024];
  Stream *s = &self->streams[i];
  ssize_t n = recv (s->fd, buf, sizeof buf, 0);
  const char *p = buf;
  gsize len;

  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    stream_end (self, i, now);
    return;
  }
  len = (gsize) n;
  if (s->state == STREAM_HEAD) {
    gsize old = s->line->len;
    const char *end;

    g_string_append_len (s->line, buf, n);
    end = g_strstr_len (s->line->str, (gssize) s->line->len, "\r\n\r\n");
    if (end == NULL) {
      if (s->line->len > MAX_HEAD_BYTES)
        bench_fail ("a response head of more than %d bytes", MAX_HEAD_BYTES);
      return;
    }
    {
      gsize head_len = (gsize) (end - s->line->str) + 4;
      if (!head_parse (self, i, now, head_len))
        return;
      /* what followed the head in this read is body */
      p = buf + (head_len - old);
      len = (gsize) n - (head_len - old);
      g_string_truncate (s->line, 0);
    }
  }
  self->bytes += len;
  if (!body_feed (self, i, p, len, now))
    stream_end (self, i, now);
}

gboolean
sse_client_run (SseClient *self, gboolean (*done) (gpointer data), gpointer data, double timeout,
                int tick_ms)
{
  struct epoll_event events[256];
  double deadline = bench_now () + timeout;

  for (;;) {
    double now = bench_now ();
    double next_retry = G_MAXDOUBLE;
    int wait_ms, n;

    if (done (data))
      return TRUE;
    if (now >= deadline)
      return FALSE;
    /* streams due to (re)connect */
    if (self->n_retry > 0) {
      for (guint i = 0; i < self->n; i++) {
        Stream *s = &self->streams[i];
        if (s->state != STREAM_RETRY)
          continue;
        if (s->retry_at <= now) {
          s->state = STREAM_IDLE;
          self->n_retry--;
          g_queue_push_tail (&self->idle, GUINT_TO_POINTER (i));
        } else {
          next_retry = MIN (next_retry, s->retry_at);
        }
      }
    }
    while (self->n_connecting < self->max_connecting && !g_queue_is_empty (&self->idle))
      stream_connect (self, GPOINTER_TO_UINT (g_queue_pop_head (&self->idle)), now);

    wait_ms = (int) ((MIN (deadline, next_retry) - now) * 1000) + 1;
    if (tick_ms >= 0)
      wait_ms = MIN (wait_ms, tick_ms);
    n = epoll_wait (self->epfd, events, G_N_ELEMENTS (events), MAX (wait_ms, 0));
    if (n < 0 && errno != EINTR)
      bench_fail ("epoll_wait: %s", g_strerror (errno));
    now = bench_now ();
    for (int k = 0; k < n; k++) {
      guint i = events[k].data.u32;
      Stream *s = &self->streams[i];

      if (s->state == STREAM_CONNECTING)
        stream_send_request (self, i, now);
      else if (s->state == STREAM_HEAD || s->state == STREAM_BODY)
        stream_read (self, i, now);
    }
  }
}

guint64
bench_raise_nofile (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) < 0)
    bench_fail ("getrlimit: %s", g_strerror (errno));
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit (RLIMIT_NOFILE, &rl) < 0)
    bench_fail ("setrlimit: %s", g_strerror (errno));
  return rl.rlim_cur;
}

const char *
bench_default_bridge (void)
{
  const char *env = g_getenv ("AURA_SSE_BRIDGE");
  return env != NULL ? env : BENCH_BRIDGE;
}

GSubprocess *
bench_spawn_bridge (BenchBus *bb, const char *program, guint16 port, const char *const *extra)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_strdup (program));
  g_ptr_array_add (argv, g_strdup_printf ("--address=%s", bb->address));
  g_ptr_array_add (argv, g_strdup_printf ("--listen=127.0.0.1:%u", port));
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra[i]));
  g_ptr_array_add (argv, NULL);
  return bench_spawn_flags (bb, (const char *const *) argv->pdata, TRUE,
                            G_SUBPROCESS_FLAGS_STDOUT_PIPE);
}

guint16
bench_bridge_wait_port (GSubprocess *bridge)
{
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  guint got = 0;

  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (bridge));
  /* the pipe stays open with the process, whatever it prints later */
  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (out), FALSE);
  line = g_data_input_stream_read_line (out, NULL, NULL, &error);
  if (line == NULL || sscanf (line, "Listening on http://127.0.0.1:%u/", &got) != 1 ||
      got == 0 || got > 65535)
    bench_fail ("aura-sse-bridge did not say where it listens (%s)",
                line != NULL ? line : error != NULL ? error->message : "end of output");
  return (guint16) got;
}

GSubprocess *
bench_start_bridge (BenchBus *bb, const char *program, guint16 port, const char *const *extra,
                    guint16 *port_out)
{
  GSubprocess *proc = bench_spawn_bridge (bb, program, port, extra);

  *port_out = bench_bridge_wait_port (proc);
  return proc;
}

/* ---- the publisher ------------------------------------------------------ */

struct _BenchPublisher {
  GThread *thread;
  double period;
  guint max_seq;
  gint next;                          /* atomic */
  gint stop;                          /* atomic */
  double *sent;                       /* seq -> time the call started */
  double *returned;                   /* seq -> time it returned */
  BenchPublishFunc publish;
  gpointer user_data;
  /* the D-Bus publisher's */
  BenchBus *bb;
  char *job;
  sd_bus *bus;
};

static gpointer
publisher_thread (gpointer data)
{
  BenchPublisher *self = data;
  struct timespec tick;

  clock_gettime (CLOCK_MONOTONIC, &tick);
  while (!g_atomic_int_get (&self->stop)) {
    guint seq = (guint) g_atomic_int_get (&self->next);
    gint64 ns;

    if (seq >= self->max_seq)
      bench_fail ("the publisher ran out of sequence numbers (%u)", self->max_seq);
    /* announced before the call starts: a seq at or after next is not
     * being published yet */
    g_atomic_int_set (&self->next, (gint) seq + 1);
    self->sent[seq] = bench_now ();
    self->publish (self, seq, self->user_data);
    self->returned[seq] = bench_now ();

    /* the next tick, on a fixed grid (a late call does not shift it) */
    ns = tick.tv_nsec + (gint64) (self->period * 1e9);
    tick.tv_sec += (time_t) (ns / 1000000000);
    tick.tv_nsec = (long) (ns % 1000000000);
    while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL) == EINTR)
      ;
  }
  return NULL;
}

/* A publisher not yet started: the caller fills in what its function needs,
 * then starts the thread. */
static BenchPublisher *
publisher_new (double period, guint max_seq, BenchPublishFunc publish, gpointer user_data)
{
  BenchPublisher *self = g_new0 (BenchPublisher, 1);

  self->period = period;
  self->max_seq = max_seq;
  self->sent = g_new0 (double, max_seq);
  self->returned = g_new0 (double, max_seq);
  self->publish = publish;
  self->user_data = user_data;
  return self;
}

BenchPublisher *
bench_publisher_start (double period, guint max_seq, BenchPublishFunc publish, gpointer user_data)
{
  BenchPublisher *self = publisher_new (period, max_seq, publish, user_data);

  self->thread = g_thread_new ("publisher", publisher_thread, self);
  return self;
}

guint
bench_publisher_next (BenchPublisher *self)
{
  return (guint) g_atomic_int_get (&self->next);
}

double
bench_publisher_returned (BenchPublisher *self, guint seq)
{
  return seq < self->max_seq ? self->returned[seq] : 0;
}

double
bench_publisher_sent (BenchPublisher *self, guint seq)
{
  return seq < self->max_seq ? self->sent[seq] : 0;
}

guint
bench_publisher_stop (BenchPublisher *self)
{
  guint n;

  g_atomic_int_set (&self->stop, 1);
  g_thread_join (self->thread);
  n = (guint) g_atomic_int_get (&self->next);
  if (self->bus != NULL)
    sd_bus_flush_close_unref (self->bus);
  g_free (self->job);
  g_free (self->sent);
  g_free (self->returned);
  g_free (self);
  return n;
}

static void
publish_dbus (BenchPublisher *self, guint seq, gpointer user_data)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  char message[64];
  int r;

  /* the connection belongs to this thread alone */
  if (self->bus == NULL)
    self->bus = bench_connect (self->bb);
  g_snprintf (message, sizeof message, "bench seq %u", seq);
  r = sd_bus_call_method (self->bus, AURA_BUS_NAME, AURA_OBJECT_PATH, AURA_INTERFACE,
                          "ReportProgress", &error, NULL, "ssda{sv}", self->job, "render", 50.0,
                          1, "message", "s", message);
  if (r < 0)
    bench_fail ("ReportProgress: %s", error.message != NULL ? error.message : g_strerror (-r));
  sd_bus_error_free (&error);
}

BenchPublisher *
bench_publisher_start_dbus (BenchBus *bb, const char *job, double period, guint max_seq)
{
  BenchPublisher *self = publisher_new (period, max_seq, publish_dbus, NULL);

  self->bb = bb;
  self->job = g_strdup (job);
  self->thread = g_thread_new ("publisher", publisher_thread, self);
  return self;
}

gint64
bench_parse_seq (const char *data)
{
  const char *p = strstr (data, "seq ");

  return p != NULL && g_ascii_isdigit (p[4]) ? (gint64) g_ascii_strtoull (p + 4, NULL, 10) : -1;
}

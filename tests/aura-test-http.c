/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aura-test-http.h"

#define RAW_TIMEOUT_SECONDS 120

/* ---- the bridge process ------------------------------------------------ */

AuraTestBridge *
aura_test_bridge_new (GSubprocess *process)
{
  AuraTestBridge *bridge = g_new0 (AuraTestBridge, 1);
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  const char *port;
  guint64 n;

  bridge->process = process;
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (bridge->process));
  line = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  if (line == NULL || !g_str_has_prefix (line, "Listening on http://127.0.0.1:"))
    g_error ("the bridge did not say where it listens: %s", line != NULL ? line : "(exited)");
  bridge->url = g_strdup (line + strlen ("Listening on "));
  port = bridge->url + strlen ("http://127.0.0.1:");
  n = g_ascii_strtoull (port, NULL, 10);
  g_assert_cmpuint (n, >, 0);
  g_assert_cmpuint (n, <=, 65535);
  bridge->port = (guint16) n;
  return bridge;
}

static GPtrArray *
bridge_argv (AuraTestBus *tb, const char *const *extra, gboolean listen)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  gboolean has_listen = FALSE;

  g_ptr_array_add (argv, g_strdup (aura_test_program ("AURA_SSE_BRIDGE")));
  g_ptr_array_add (argv, g_strdup_printf ("--address=%s", tb->address));
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++) {
    has_listen |= g_str_has_prefix (extra[i], "--listen=");
    g_ptr_array_add (argv, g_strdup (extra[i]));
  }
  if (listen && !has_listen)
    g_ptr_array_add (argv, g_strdup ("--listen=127.0.0.1:0"));
  g_ptr_array_add (argv, NULL);
  return argv;
}

static GSubprocessLauncher *
bridge_launcher (void)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  const char *asan = g_getenv ("ASAN_OPTIONS");

  /* Under ASan, a leak inside libsoup is only told apart from one of ours
   * (and suppressed, see lsan.supp) with full stacks, which libraries built
   * without frame pointers give only to the slow unwinder: the bridge gets
   * it, the rest keeps the fast one. */
  if (asan != NULL) {
    g_autofree char *slow_unwind = g_strconcat (asan, ":fast_unwind_on_malloc=0", NULL);
    g_subprocess_launcher_setenv (launcher, "ASAN_OPTIONS", slow_unwind, TRUE);
  }
  return launcher;
}

AuraTestBridge *
aura_test_bridge_start_argv (AuraTestBus *tb, const char *const *extra)
{
  g_autoptr(GSubprocessLauncher) launcher = bridge_launcher ();
  g_autoptr(GPtrArray) argv = bridge_argv (tb, extra, TRUE);

  return aura_test_bridge_new (aura_test_spawn_with_launcher (launcher, (const char *const *) argv->pdata));
}

AuraTestBridge *
aura_test_bridge_start_activated (AuraTestBus *tb, GSocket *listener)
{
  g_autoptr(GSubprocessLauncher) launcher = bridge_launcher ();
  g_autoptr(GPtrArray) argv = bridge_argv (tb, NULL, FALSE);
  /* LISTEN_PID must be the bridge's pid: a shell learns its own and execs
   * (the valgrind wrapper, then) the bridge in its place */
  const char *const prefix[] = {
    "/bin/sh", "-c", "LISTEN_PID=$$ LISTEN_FDS=1; export LISTEN_PID LISTEN_FDS; exec \"$@\"",
    "sh", NULL
  };
  int fd = dup (g_socket_get_fd (listener));

  g_assert_cmpint (fd, >=, 0);
  g_subprocess_launcher_take_fd (launcher, fd, 3);
  return aura_test_bridge_new (aura_test_spawn_prefixed (launcher, prefix,
                                               (const char *const *) argv->pdata));
}

AuraTestBridge *
aura_test_bridge_start (AuraTestBus *tb, ...)
{
  g_autoptr(GPtrArray) extra = g_ptr_array_new ();
  va_list ap;

  va_start (ap, tb);
  for (const char *a = va_arg (ap, const char *); a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (extra, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (extra, NULL);
  return aura_test_bridge_start_argv (tb, (const char *const *) extra->pdata);
}

void
aura_test_bridge_stop (AuraTestBridge *bridge)
{
  g_autoptr(GError) error = NULL;

  if (bridge == NULL)
    return;
  g_subprocess_send_signal (bridge->process, SIGTERM);
  g_subprocess_wait (bridge->process, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (bridge->process));
  g_assert_cmpint (g_subprocess_get_exit_status (bridge->process), ==, 0);
  g_object_unref (bridge->process);
  g_free (bridge->url);
  g_free (bridge);
}

char *
aura_test_bridge_url (AuraTestBridge *bridge, const char *path)
{
  return g_strconcat (bridge->url, path[0] == '/' ? path + 1 : path, NULL);
}

guint64
aura_test_bridge_rss_kib (AuraTestBridge *bridge)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/status",
                                           g_subprocess_get_identifier (bridge->process));
  g_autofree char *status = NULL;
  const char *rss;

  g_assert_true (g_file_get_contents (path, &status, NULL, NULL));
  rss = strstr (status, "VmRSS:");
  g_assert_nonnull (rss);
  return g_ascii_strtoull (rss + strlen ("VmRSS:"), NULL, 10);
}

guint64
aura_test_bridge_metric (AuraTestBridge *bridge, SoupSession *session, const char *name)
{
  g_autofree char *url = aura_test_bridge_url (bridge, "/metrics");
  g_autoptr(AuraTestResponse) res = aura_test_fetch (session, "GET", url, NULL, NULL);
  g_autofree char *prefix = g_strdup_printf ("\n%s ", name);
  const char *line;

  g_assert_cmpuint (res->status, ==, 200);
  line = strstr (res->body, prefix);
  if (line == NULL)
    g_error ("no metric %s in:\n%s", name, res->body);
  return g_ascii_strtoull (line + strlen (prefix), NULL, 10);
}

/* ---- whole requests ---------------------------------------------------- */

SoupSession *
aura_test_session_new (void)
{
  /* no proxy lookups: the tests talk to 127.0.0.1 only */
  return soup_session_new_with_options ("max-conns", 512, "max-conns-per-host", 512,
                                        "timeout", 120, "proxy-resolver", NULL, NULL);
}

typedef struct {
  AuraTestResponse *res;
  SoupMessage *msg;
  gboolean done;
} FetchWait;

static void
on_fetched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FetchWait *w = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = soup_session_send_and_read_finish (SOUP_SESSION (source), result,
                                                               &error);

  g_assert_no_error (error);
  w->res->status = soup_message_get_status (w->msg);
  w->res->headers = soup_message_headers_ref (soup_message_get_response_headers (w->msg));
  w->res->body = g_strndup (g_bytes_get_size (bytes) > 0 ? g_bytes_get_data (bytes, NULL) : "",
                            g_bytes_get_size (bytes));
  w->done = TRUE;
}

static gboolean
fetch_done (gpointer data)
{
  return ((FetchWait *) data)->done;
}

AuraTestResponse *
aura_test_fetch (SoupSession *session, const char *method, const char *url,
                 const char *const *headers, const char *body)
{
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  FetchWait w = { g_new0 (AuraTestResponse, 1), msg, FALSE };

  g_assert_nonnull (msg);
  for (guint i = 0; headers != NULL && headers[i] != NULL; i += 2)
    soup_message_headers_replace (soup_message_get_request_headers (msg), headers[i],
                                  headers[i + 1]);
  if (body != NULL) {
    g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));
    soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  }
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, on_fetched, &w);
  aura_test_wait_until (fetch_done, &w, url);
  return w.res;
}

void
aura_test_response_free (AuraTestResponse *res)
{
  if (res == NULL)
    return;
  if (res->headers != NULL)
    soup_message_headers_unref (res->headers);
  g_free (res->body);
  g_free (res);
}

JsonNode *
aura_test_response_json (AuraTestResponse *res)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_from_string (res->body, &error);

  if (node == NULL)
    g_error ("not JSON (%s): %s", error != NULL ? error->message : "empty", res->body);
  return node;
}

/* ---- event streams ----------------------------------------------------- */

static void
sse_event_free (gpointer data)
{
  AuraTestSseEvent *ev = data;

  g_free (ev->id);
  g_free (ev->type);
  g_free (ev->data);
  g_free (ev);
}

/* One line of the stream, as the HTML standard's EventSource reads it. */
static void
sse_line (AuraTestSse *sse, const char *line)
{
  const char *colon, *value;
  g_autofree char *field = NULL;

  if (line[0] == '\0') {
    if (sse->cur_has_id) {
      g_free (sse->last_id);
      sse->last_id = g_strdup (sse->cur_id);
    }
    if (sse->cur_data->len > 0) {
      AuraTestSseEvent *ev = g_new0 (AuraTestSseEvent, 1);
      g_string_truncate (sse->cur_data, sse->cur_data->len - 1);   /* the last LF */
      ev->id = sse->cur_has_id ? g_strdup (sse->cur_id) : NULL;
      ev->type = g_strdup (sse->cur_type != NULL ? sse->cur_type : "message");
      ev->data = g_strdup (sse->cur_data->str);
      ev->received_us = g_get_monotonic_time ();
      g_ptr_array_add (sse->events, ev);
    }
    g_clear_pointer (&sse->cur_id, g_free);
    g_clear_pointer (&sse->cur_type, g_free);
    g_string_truncate (sse->cur_data, 0);
    sse->cur_has_id = FALSE;
    return;
  }
  if (line[0] == ':')
    return;
  colon = strchr (line, ':');
  field = colon != NULL ? g_strndup (line, colon - line) : g_strdup (line);
  value = colon != NULL ? colon + 1 : "";
  if (value[0] == ' ')
    value++;
  if (strcmp (field, "data") == 0) {
    g_string_append (sse->cur_data, value);
    g_string_append_c (sse->cur_data, '\n');
  } else if (strcmp (field, "event") == 0) {
    g_free (sse->cur_type);
    sse->cur_type = g_strdup (value);
  } else if (strcmp (field, "id") == 0) {
    g_free (sse->cur_id);
    sse->cur_id = g_strdup (value);
    sse->cur_has_id = TRUE;
  } else if (strcmp (field, "retry") == 0) {
    sse->retry_ms = (guint) g_ascii_strtoull (value, NULL, 10);
  }
}

static void
sse_parse (AuraTestSse *sse)
{
  for (;;) {
    const char *start = sse->raw->str + sse->parsed;
    const char *nl = strchr (start, '\n');
    g_autofree char *line = NULL;

    if (nl == NULL)
      return;
    line = g_strndup (start, nl - start);
    if (line[0] != '\0' && line[strlen (line) - 1] == '\r')
      line[strlen (line) - 1] = '\0';
    sse->parsed += (gsize) (nl - start) + 1;
    sse_line (sse, line);
  }
}

static void read_more (AuraTestSse *sse);

static void
on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AuraTestSse *sse = user_data;
  GError *error = NULL;
  g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result,
                                                              &error);

  if (bytes == NULL) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      sse->error = error;
      sse->eof = TRUE;
    } else {
      g_error_free (error);
    }
    return;
  }
  if (g_bytes_get_size (bytes) == 0) {
    sse->eof = TRUE;
    return;
  }
  g_string_append_len (sse->raw, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  sse_parse (sse);
  read_more (sse);
}

static void
read_more (AuraTestSse *sse)
{
  g_input_stream_read_bytes_async (sse->body, 65536, G_PRIORITY_DEFAULT, sse->cancellable,
                                   on_read, sse);
}

static void
on_sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AuraTestSse *sse = user_data;
  GError *error = NULL;
  GInputStream *body = soup_session_send_finish (SOUP_SESSION (source), result, &error);

  if (body == NULL) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_error_free (error);
      return;
    }
    sse->error = error;
    sse->responded = TRUE;
    sse->eof = TRUE;
    return;
  }
  sse->body = body;
  sse->responded = TRUE;
  read_more (sse);
}

AuraTestSse *
aura_test_sse_open (SoupSession *session, const char *url, const char *last_event_id)
{
  AuraTestSse *sse = g_new0 (AuraTestSse, 1);
  SoupMessageHeaders *headers;

  sse->msg = soup_message_new ("GET", url);
  g_assert_nonnull (sse->msg);
  headers = soup_message_get_request_headers (sse->msg);
  soup_message_headers_replace (headers, "Accept", "text/event-stream");
  if (last_event_id != NULL)
    soup_message_headers_replace (headers, "Last-Event-ID", last_event_id);
  sse->cancellable = g_cancellable_new ();
  sse->raw = g_string_new (NULL);
  sse->cur_data = g_string_new (NULL);
  sse->events = g_ptr_array_new_with_free_func (sse_event_free);
  soup_session_send_async (session, sse->msg, G_PRIORITY_DEFAULT, sse->cancellable, on_sent, sse);
  return sse;
}

void
aura_test_sse_free (AuraTestSse *sse)
{
  if (sse == NULL)
    return;
  g_cancellable_cancel (sse->cancellable);
  /* Let the cancelled operations finish before their data goes. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  if (sse->body != NULL) {
    g_input_stream_close (sse->body, NULL, NULL);
    g_object_unref (sse->body);
  }
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_object_unref (sse->msg);
  g_object_unref (sse->cancellable);
  g_string_free (sse->raw, TRUE);
  g_string_free (sse->cur_data, TRUE);
  g_ptr_array_unref (sse->events);
  g_clear_error (&sse->error);
  g_free (sse->last_id);
  g_free (sse->cur_id);
  g_free (sse->cur_type);
  g_free (sse);
}

static gboolean
sse_responded (gpointer data)
{
  return ((AuraTestSse *) data)->responded;
}

void
aura_test_sse_wait_response (AuraTestSse *sse)
{
  aura_test_wait_until (sse_responded, sse, "the response to a stream request");
  g_assert_no_error (sse->error);
}

static gboolean
type_matches (const AuraTestSseEvent *ev, const char *type)
{
  return type != NULL ? strcmp (ev->type, type) == 0 : strcmp (ev->type, "heartbeat") != 0;
}

guint
aura_test_sse_count (AuraTestSse *sse, const char *type)
{
  guint n = 0;

  for (guint i = 0; i < sse->events->len; i++)
    n += type_matches (sse->events->pdata[i], type);
  return n;
}

AuraTestSseEvent *
aura_test_sse_nth (AuraTestSse *sse, const char *type, guint n)
{
  for (guint i = 0; i < sse->events->len; i++) {
    if (type_matches (sse->events->pdata[i], type) && n-- == 0)
      return sse->events->pdata[i];
  }
  g_error ("no event %s #%u (have %u)", type != NULL ? type : "(any)", n,
           aura_test_sse_count (sse, type));
}

typedef struct {
  AuraTestSse *sse;
  const char *type;
  guint n;
} EventsWait;

static gboolean
events_reached (gpointer data)
{
  EventsWait *w = data;

  if (w->sse->eof && aura_test_sse_count (w->sse, w->type) < w->n)
    g_error ("the stream ended after %u %s events (%s); wanted %u:\n%s",
             aura_test_sse_count (w->sse, w->type), w->type != NULL ? w->type : "(any)",
             w->sse->error != NULL ? w->sse->error->message : "end of stream", w->n,
             w->sse->raw->str);
  return aura_test_sse_count (w->sse, w->type) >= w->n;
}

void
aura_test_sse_wait_events (AuraTestSse *sse, const char *type, guint n)
{
  EventsWait w = { sse, type, n };
  g_autofree char *what = g_strdup_printf ("%u %s events", n, type != NULL ? type : "(any)");

  aura_test_wait_until (events_reached, &w, what);
}

static gboolean
sse_ended (gpointer data)
{
  return ((AuraTestSse *) data)->eof;
}

void
aura_test_sse_wait_eof (AuraTestSse *sse)
{
  aura_test_wait_until (sse_ended, sse, "the end of a stream");
}

/* ---- raw TCP ----------------------------------------------------------- */

static GSocket *
raw_connect (guint16 port, int rcvbuf, const char *local_ip)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, port);
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_TCP, &error);

  g_assert_no_error (error);
  /* before connecting, so that the window is small from the start */
  if (rcvbuf > 0)
    g_assert_true (g_socket_set_option (socket, SOL_SOCKET, SO_RCVBUF, rcvbuf, NULL));
  if (local_ip != NULL) {
    g_autoptr(GInetAddress) ip = g_inet_address_new_from_string (local_ip);
    g_autoptr(GSocketAddress) local = g_inet_socket_address_new (ip, 0);
    g_socket_bind (socket, local, FALSE, &error);
    g_assert_no_error (error);
  }
  g_socket_set_timeout (socket, RAW_TIMEOUT_SECONDS);
  g_socket_connect (socket, addr, NULL, &error);
  g_assert_no_error (error);
  return socket;
}

GSocket *
aura_test_raw_connect (guint16 port, int rcvbuf)
{
  return raw_connect (port, rcvbuf, NULL);
}

GSocket *
aura_test_raw_connect_from (guint16 port, const char *local_ip)
{
  return raw_connect (port, 0, local_ip);
}

void
aura_test_raw_send (GSocket *socket, const char *data, gsize len)
{
  g_autoptr(GError) error = NULL;

  while (len > 0) {
    gssize n = g_socket_send (socket, data, len, NULL, &error);
    if (n < 0) {
      /* the server may close early on purpose; the test looks at what it said */
      g_debug ("send: %s", error->message);
      return;
    }
    data += n;
    len -= (gsize) n;
  }
}

void
aura_test_raw_send_until_closed (GSocket *socket, const char *data, gsize len)
{
  g_socket_set_blocking (socket, FALSE);
  while (len > 0) {
    g_autoptr(GError) error = NULL;
    gssize n = g_socket_send (socket, data, len, NULL, &error);
    if (n > 0) {
      data += n;
      len -= (gsize) n;
    } else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
      /* writable again, or an answer (or the end) to read */
      if (!g_socket_condition_timed_wait (socket, G_IO_OUT | G_IO_IN | G_IO_HUP | G_IO_ERR,
                                          (gint64) RAW_TIMEOUT_SECONDS * G_USEC_PER_SEC, NULL,
                                          NULL))
        g_error ("the bridge neither read nor answered in %d s", RAW_TIMEOUT_SECONDS);
      if (g_socket_condition_check (socket, G_IO_IN | G_IO_HUP | G_IO_ERR) != 0)
        break;
    } else {
      break;                          /* reset: the server closed it */
    }
  }
  g_socket_set_blocking (socket, TRUE);
}


/* Reads until @stop (NULL: until the server closes the connection). */
static char *
raw_read_until (GSocket *socket, const char *stop)
{
  GString *out = g_string_new (NULL);
  char buf[8192];

  while (stop == NULL || !g_str_has_suffix (out->str, stop)) {
    g_autoptr(GError) error = NULL;
    /* byte by byte up to a marker, so that nothing after it is consumed */
    gssize n = g_socket_receive (socket, buf, stop != NULL ? 1 : sizeof buf, NULL, &error);
    if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
      g_error ("the bridge neither answered nor closed the connection in %d s",
               RAW_TIMEOUT_SECONDS);
    if (n <= 0)
      break;                          /* closed (or reset, for a refused connection) */
    g_string_append_len (out, buf, n);
  }
  return g_string_free (out, FALSE);
}

char *
aura_test_raw_read_all (GSocket *socket)
{
  return raw_read_until (socket, NULL);
}

char *
aura_test_raw_read_headers (GSocket *socket)
{
  return raw_read_until (socket, "\r\n\r\n");
}

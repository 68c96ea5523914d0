/* SPDX-License-Identifier: MIT */
/*
 * SSE fan-out: N concurrent event streams of one job on one
 * aura-sse-bridge (1,000 and 10,000 by default), a progress report every
 * 100 ms.
 *
 * A publisher thread calls ReportProgress on aura-progressd every 100 ms,
 * its message "bench seq N"; the load client (bench-sse-client.c, one
 * thread, epoll) holds the N streams of /api/jobs/{id}/events and notes
 * when each event arrives. Latency: from the return of the report's call
 * to the arrival of its event on a stream, over every stream and every
 * report of the measuring window (p50, p99, max). Memory: the bridge's
 * VmRSS with the N streams open, less its VmRSS before they connected,
 * per stream.
 *
 * Baseline, in the same run: nginx with the nchan module (one worker, as
 * the bridge is one thread), the same N subscribers on an
 * `nchan_subscriber eventsource` location, the same client, and a
 * publisher thread POSTing a payload of the bridge's event size to an
 * `nchan_publisher` location every 100 ms, timed from the POST's response.
 * nginx's memory is the VmRSS of master and worker together.
 *
 * nchan answers the POST only after it has written the message to its
 * subscribers, so latencies are also given from the start of the
 * publisher's call, where both paths are whole; the target is judged
 * there. BENCH_SSE_DUMP=PREFIX writes every sample (seq, call start, call
 * return, arrival) to PREFIX-ours-N.txt and PREFIX-nchan-N.txt.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench-sse-client.h"

#define JOB_ID "bench-sse"
#define PERIOD 0.1
#define MAX_SEQ 100000
#define NCHAN_MODULE "/usr/lib/nginx/modules/ngx_nchan_module.so"

typedef struct {
  guint seq;
  double arrived;
} Sample;

typedef struct {
  SseClient *client;
  BenchPublisher *pub;
  guint n;
  GArray *samples;                    /* Sample, in the window */
  guint window_start, window_end;     /* seqs [start, end) are measured */
  guint *last_seq;                    /* per stream, + 1 (0: none yet) */
  guint n_caught_up;                  /* streams that have window_end - 1 */
  guint dropped;                      /* streams that ended in the window */
  gboolean measuring;
  gsize max_data_len;                 /* the largest progress event */
  double until;
} Run;

typedef struct {
  double p50, p99, max;               /* from the call's return */
  double send_p50, send_p99, send_max; /* from the call's start */
  double bytes_per_stream;
  guint64 delivered, expected;
  guint dropped;
  gsize event_size;
} Result;

static void
on_event (SseClient *client, guint stream, guint64 id, const char *type, const char *data,
          gsize data_len, double now, gpointer user_data)
{
  Run *run = user_data;
  gint64 seq = bench_parse_seq (data);
  Sample sample;

  if (seq < 0)
    return;                           /* a heartbeat */
  run->max_data_len = MAX (run->max_data_len, data_len);
  if (run->last_seq[stream] < (guint) seq + 1) {
    if (run->last_seq[stream] < run->window_end && (guint) seq + 1 >= run->window_end)
      run->n_caught_up++;
    run->last_seq[stream] = (guint) seq + 1;
  }
  if (!run->measuring || (guint) seq < run->window_start || (guint) seq >= run->window_end)
    return;
  sample.seq = (guint) seq;
  sample.arrived = now;
  g_array_append_val (run->samples, sample);
}

static void
on_status (SseClient *client, guint stream, int status, double now, gpointer user_data)
{
  Run *run = user_data;

  if (status == 0 && run->measuring)
    run->dropped++;
  else if (status != 0 && status != 200)
    bench_note ("a stream was answered %d", status);
}

static gboolean
all_streaming (gpointer data)
{
  Run *run = data;
  return sse_client_n_streaming (run->client) == run->n;
}

static gboolean
time_is_up (gpointer data)
{
  Run *run = data;
  return bench_now () >= run->until;
}

static gboolean
all_caught_up (gpointer data)
{
  Run *run = data;
  return run->n_caught_up + run->dropped >= run->n;
}

/* Connects the N streams, measures a window of @duration seconds; the
 * memory of @pids (summed) before and with the streams open. */
typedef BenchPublisher *(*StartPublisher) (gpointer data);

static Result
measure (const char *what, guint16 port, const char *path, StartPublisher start, gpointer data,
         guint n, double duration, GPid *pids, guint n_pids, gsize *event_size)
{
  BenchPublisher *pub;
  Run run = { 0 };
  Result result = { 0 };
  guint64 rss0 = 0, rss1 = 0;
  GArray *latencies, *from_send;
  double t0;

  run.n = n;
  run.samples = g_array_sized_new (FALSE, FALSE, sizeof (Sample),
                                   (guint) MIN ((double) n * (duration / PERIOD + 2), 4e7));
  run.last_seq = g_new0 (guint, n);
  run.window_start = G_MAXUINT;
  run.window_end = G_MAXUINT;
  for (guint i = 0; i < n_pids; i++)
    rss0 += bench_proc_rss (pids[i]);

  /* not too many connections in the making at once: the servers' listen
   * backlogs differ, and setting up is not what is measured */
  run.client = sse_client_new (port, path, n, 128, on_event, on_status, &run);
  sse_client_set_reconnect (run.client, TRUE, 0.2);
  t0 = bench_now ();
  sse_client_start (run.client);
  if (!sse_client_run (run.client, all_streaming, &run, 300, 100))
    bench_fail ("%s: %u of %u streams open after 300 s", what,
                sse_client_n_streaming (run.client), n);
  bench_note ("%s: %u streams open in %.1f s", what, n, bench_now () - t0);
  /* publishing starts once they are: how fast a server accepts streams
   * while it is busy with thousands of others is not what is measured */
  pub = run.pub = start (data);
  /* settle: every stream past its first events */
  run.until = bench_now () + 0.5;
  sse_client_run (run.client, time_is_up, &run, 10, 50);
  sse_client_set_reconnect (run.client, FALSE, 0);

  run.window_start = bench_publisher_next (pub);
  run.measuring = TRUE;
  run.until = bench_now () + duration;
  sse_client_run (run.client, time_is_up, &run, duration + 10, 50);
  for (guint i = 0; i < n_pids; i++)
    rss1 += bench_proc_rss (pids[i]);
  run.window_end = bench_publisher_next (pub);
  for (guint i = 0; i < n; i++)
    if (run.last_seq[i] >= run.window_end)
      run.n_caught_up++;
  /* the last report of the window reaches every stream */
  if (!sse_client_run (run.client, all_caught_up, &run, 10, 50))
    bench_note ("%s: %u of %u streams missed the last report of the window", what,
                n - run.n_caught_up - run.dropped, n);
  run.measuring = FALSE;
  sse_client_close_all (run.client);

  latencies = g_array_sized_new (FALSE, FALSE, sizeof (double), run.samples->len);
  from_send = g_array_sized_new (FALSE, FALSE, sizeof (double), run.samples->len);
  for (guint i = 0; i < run.samples->len; i++) {
    Sample *s = &g_array_index (run.samples, Sample, i);
    double returned = bench_publisher_returned (pub, s->seq);
    double sent = bench_publisher_sent (pub, s->seq);
    /* an event that arrived before its publisher's call returned (nchan
     * answers the POST after it has written to its subscribers) was
     * there when it returned: 0 */
    double ms = returned > 0 ? MAX (s->arrived - returned, 0) * 1000 : 0;
    g_array_append_val (latencies, ms);
    ms = (s->arrived - sent) * 1000;
    g_array_append_val (from_send, ms);
  }
  if (g_getenv ("BENCH_SSE_DUMP") != NULL) {
    g_autofree char *name = g_strdup_printf ("%s-%s-%u.txt", g_getenv ("BENCH_SSE_DUMP"),
                                             n_pids == 1 ? "ours" : "nchan", n);
    FILE *f = fopen (name, "w");
    for (guint i = 0; f != NULL && i < run.samples->len; i++) {
      Sample *s = &g_array_index (run.samples, Sample, i);
      fprintf (f, "%u %.6f %.6f %.6f\n", s->seq, bench_publisher_sent (pub, s->seq),
               bench_publisher_returned (pub, s->seq), s->arrived);
    }
    if (f != NULL)
      fclose (f);
  }
  result.p50 = bench_percentile (latencies, 50);
  result.p99 = bench_percentile (latencies, 99);
  result.max = bench_max (latencies);
  result.send_p50 = bench_percentile (from_send, 50);
  result.send_p99 = bench_percentile (from_send, 99);
  result.send_max = bench_max (from_send);
  result.bytes_per_stream = ((double) rss1 - (double) rss0) / n;
  result.delivered = run.samples->len;
  result.expected = (guint64) n * (run.window_end - run.window_start);
  result.dropped = run.dropped;
  if (event_size != NULL)
    *event_size = run.max_data_len;
  bench_publisher_stop (pub);
  bench_note ("%s, %u streams: %u reports in %.1f s, %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
              " events, p50 %.2f ms, p99 %.2f ms, max %.2f ms (from the start of the call: p50"
              " %.2f ms, p99 %.2f ms), %.0f bytes/stream",
              what, n, run.window_end - run.window_start, duration, result.delivered,
              result.expected, result.p50, result.p99, result.max, result.send_p50,
              result.send_p99, result.bytes_per_stream);
  g_array_unref (latencies);
  g_array_unref (from_send);
  g_array_unref (run.samples);
  g_free (run.last_seq);
  sse_client_free (run.client);
  return result;
}

/* ---- ours --------------------------------------------------------------- */

typedef struct {
  BenchBus *bb;
  const char *job;
} DbusStart;

static BenchPublisher *
start_dbus (gpointer data)
{
  DbusStart *ds = data;
  return bench_publisher_start_dbus (ds->bb, ds->job, PERIOD, MAX_SEQ);
}

static Result
run_ours (BenchBus *bb, const char *bridge_path, guint n, double duration, gsize *event_size)
{
  g_autofree char *max_streams = g_strdup_printf ("--max-streams=%u", n + 16);
  g_autofree char *per_client = g_strdup_printf ("--max-streams-per-client=%u", n + 16);
  g_autofree char *max_conns = g_strdup_printf ("--max-connections=%u", n + 64);
  g_autofree char *conns_per_client = g_strdup_printf ("--max-connections-per-client=%u", n + 64);
  /* one client address holds all the streams: the per-client limits are
   * raised with the others */
  const char *extra[] = { max_streams, per_client, max_conns, conns_per_client, NULL };
  g_autoptr(GSubprocess) bridge = NULL;
  g_autofree char *job = g_strdup_printf ("%s-%u", JOB_ID, n);
  g_autofree char *path = g_strdup_printf ("/api/jobs/%s/events", job);
  DbusStart ds = { bb, job };
  sd_bus_error e = SD_BUS_ERROR_NULL;
  guint16 port;
  GPid pid;
  Result result;
  int r;

  /* a job of its own: a stream starts with the job's state, which must
   * not carry the sequence number of an earlier run */
  r = sd_bus_call_method (bb->control, AURA_BUS_NAME, AURA_OBJECT_PATH, AURA_INTERFACE,
                          "StartJob", &e, NULL, "sa{sv}", job, 0);
  if (r < 0)
    bench_fail ("StartJob: %s", e.message != NULL ? e.message : g_strerror (-r));
  bridge = bench_start_bridge (bb, bridge_path, 0, extra, &port);
  pid = bench_pid (bridge);
  result = measure ("aura-sse-bridge", port, path, start_dbus, &ds, n, duration, &pid, 1,
                    event_size);
  bench_stop (bridge, "aura-sse-bridge");
  return result;
}

/* ---- nginx + nchan ------------------------------------------------------ */

typedef struct {
  guint16 port;
  char *body_head;                    /* the payload before the seq */
  gsize size;                         /* the payload's size */
} NchanPublisher;

static guint16
free_port (void)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof addr;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  /* nginx cannot listen on port 0 and say which port it got: a port that
   * was free a moment ago (fine for a benchmark, not for a test) */
  if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0 ||
      getsockname (fd, (struct sockaddr *) &addr, &len) < 0)
    bench_fail ("cannot find a free port: %s", g_strerror (errno));
  close (fd);
  return ntohs (addr.sin_port);
}

static int
connect_port (guint16 port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (port),
                              .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd >= 0 && connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0)
    return fd;
  if (fd >= 0)
    close (fd);
  return -1;
}

static void
publish_nchan (BenchPublisher *pub, guint seq, gpointer user_data)
{
  NchanPublisher *np = user_data;
  g_autoptr(GString) body = g_string_new (np->body_head);
  g_autoptr(GString) request = g_string_new (NULL);
  char response[4096];
  gsize got = 0;
  ssize_t r;
  int status = 0;
  int fd;

  /* {"message":"bench seq N","pad":"xxx..."}, of the bridge's event size */
  g_string_append_printf (body, "%u\",\"pad\":\"", seq);
  while (body->len + 2 < np->size)
    g_string_append_c (body, 'x');
  g_string_append (body, "\"}");
  g_string_printf (request,
                   "POST /pub/bench HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                   "Content-Type: application/json\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n"
                   "Connection: close\r\n\r\n%s",
                   np->port, body->len, body->str);
  fd = connect_port (np->port);
  if (fd < 0)
    bench_fail ("cannot connect to nginx: %s", g_strerror (errno));
  if (send (fd, request->str, request->len, MSG_NOSIGNAL) != (ssize_t) request->len)
    bench_fail ("cannot send to nginx: %s", g_strerror (errno));
  /* the response is over when nginx closes the connection */
  while ((r = recv (fd, response + got, sizeof response - 1 - got, 0)) > 0 &&
         got + (gsize) r < sizeof response - 1)
    got += (gsize) r;
  response[got] = '\0';
  close (fd);
  if (sscanf (response, "HTTP/1.%*d %d", &status) != 1 || status < 200 || status > 299)
    bench_fail ("nchan refused a message: %.80s", response);
}

static BenchPublisher *
start_nchan (gpointer data)
{
  return bench_publisher_start (PERIOD, MAX_SEQ, publish_nchan, data);
}

static char *
nginx_config (BenchBus *bb, guint16 port, guint n)
{
  g_autofree char *dir = g_build_filename (bb->tmpdir, "nginx", NULL);
  g_autofree char *user = NULL;
  GString *c = g_string_new (NULL);

  if (g_mkdir_with_parents (dir, 0700) < 0)
    bench_fail ("cannot create %s", dir);
  /* as the current user: as root, nginx would switch its workers to
   * nobody */
  if (geteuid () == 0) {
    struct passwd *pw = getpwuid (0);
    user = g_strdup (pw != NULL ? pw->pw_name : "root");
    g_string_append_printf (c, "user %s;\n", user);
  }
  g_string_append_printf (c,
    "load_module %s;\n"
    "daemon off;\n"
    "master_process on;\n"
    "worker_processes 1;\n"
    "worker_rlimit_nofile %u;\n"
    "pid %s/nginx.pid;\n"
    "error_log %s/error.log warn;\n"
    "events { worker_connections %u; use epoll; }\n"
    "http {\n"
    "  access_log off;\n"
    "  client_body_temp_path %s/body;\n"
    "  proxy_temp_path %s/proxy;\n"
    "  fastcgi_temp_path %s/fastcgi;\n"
    "  uwsgi_temp_path %s/uwsgi;\n"
    "  scgi_temp_path %s/scgi;\n"
    "  server {\n"
    "    listen 127.0.0.1:%u;\n"
    "    location = /sub/bench {\n"
    "      nchan_subscriber eventsource;\n"
    "      nchan_channel_id bench;\n"
    "    }\n"
    "    location = /pub/bench {\n"
    "      nchan_publisher;\n"
    "      nchan_channel_id bench;\n"
    "      allow 127.0.0.1;\n"
    "      deny all;\n"
    "    }\n"
    "  }\n"
    "}\n",
    NCHAN_MODULE, n + 1024, dir, dir, n + 1024, dir, dir, dir, dir, dir, port);
  return g_string_free (c, FALSE);
}

static GPid
nginx_worker (GPid master)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/task/%d/children", master, master);
  g_autofree char *children = NULL;
  int worker = 0;

  if (!g_file_get_contents (path, &children, NULL, NULL) || sscanf (children, "%d", &worker) != 1)
    bench_fail ("nginx has no worker (%s)", path);
  return worker;
}

static Result
run_nchan (BenchBus *bb, const char *nginx_path, guint n, double duration, gsize event_size)
{
  guint16 port = free_port ();
  g_autofree char *config = nginx_config (bb, port, n);
  g_autofree char *config_path = bench_write_file (bb, "nginx.conf", config);
  g_autofree char *prefix = g_build_filename (bb->tmpdir, "nginx", NULL);
  g_autofree char *error_log = g_build_filename (prefix, "startup.log", NULL);
  const char *argv[] = { nginx_path, "-p", prefix, "-c", config_path, "-e", error_log, NULL };
  g_autoptr(GSubprocess) nginx = NULL;
  NchanPublisher np = { port, (char *) "{\"message\":\"bench seq ", event_size };
  GPid pids[2];
  double deadline = bench_now () + 30;
  int fd;
  Result result;

  nginx = bench_spawn (bb, argv, FALSE);
  /* nginx says nothing when it listens: wait until it accepts */
  while ((fd = connect_port (port)) < 0) {
    if (bench_now () > deadline)
      bench_fail ("nginx does not listen on port %u after 30 s", port);
    g_usleep (20000);
  }
  close (fd);
  pids[0] = bench_pid (nginx);
  pids[1] = nginx_worker (pids[0]);
  result = measure ("nginx + nchan", port, "/sub/bench", start_nchan, &np, n, duration, pids, 2,
                    NULL);
  bench_stop (nginx, "nginx");
  return result;
}

/* ---- the table ---------------------------------------------------------- */

static void
row (guint n, const char *what, double ours, double nchan, const char *unit, gboolean target)
{
  char figure[128];
  double ratio = ours / nchan;

  g_snprintf (figure, sizeof figure, "sse %u streams: %s", n, what);
  bench_row (figure, bench_fmt (ours, unit), bench_fmt (nchan, unit), ratio,
             target ? "<= nchan" : NULL, target ? ratio <= 1 : -1);
}

static void
rows (guint n, const Result *ours, const Result *nchan)
{
  char figure[128], a[64], b[64];

  /* nchan answers a POST after it has written the message to every
   * subscriber, so from the return nearly all its events are "there
   * already" (0); from the start of the call both paths are whole */
  row (n, "latency p50 from the call's return", ours->p50, nchan->p50, "ms", FALSE);
  row (n, "latency p99 from the call's return", ours->p99, nchan->p99, "ms", FALSE);
  row (n, "latency max from the call's return", ours->max, nchan->max, "ms", FALSE);
  row (n, "latency p50 from the call's start", ours->send_p50, nchan->send_p50, "ms", FALSE);
  row (n, "latency p99 from the call's start", ours->send_p99, nchan->send_p99, "ms", TRUE);
  row (n, "latency max from the call's start", ours->send_max, nchan->send_max, "ms", FALSE);
  row (n, "memory per stream", ours->bytes_per_stream / 1024, nchan->bytes_per_stream / 1024,
       "KiB", TRUE);
  g_snprintf (figure, sizeof figure, "sse %u streams: events delivered", n);
  g_snprintf (a, sizeof a, "%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT, ours->delivered,
              ours->expected);
  g_snprintf (b, sizeof b, "%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT, nchan->delivered,
              nchan->expected);
  bench_row (figure, a, b, NAN, "all", ours->delivered == ours->expected && ours->dropped == 0);
}

int
main (int argc, char **argv)
{
  g_autofree char *daemon_path = NULL, *bridge_path = NULL, *nginx_path = NULL;
  g_autofree char *streams_arg = NULL;
  g_auto(GStrv) counts = NULL;
  g_autoptr(BenchBus) bb = NULL;
  g_autoptr(GSubprocess) daemon = NULL;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  gboolean quick = FALSE;
  double duration = 10;
  guint64 nofile;
  const GOptionEntry entries[] = {
    { "daemon", 0, 0, G_OPTION_ARG_FILENAME, &daemon_path, "aura-progressd to use", "PATH" },
    { "bridge", 0, 0, G_OPTION_ARG_FILENAME, &bridge_path, "aura-sse-bridge to measure", "PATH" },
    { "nginx", 0, 0, G_OPTION_ARG_FILENAME, &nginx_path, "nginx, with the nchan module (default /usr/sbin/nginx)", "PATH" },
    { "streams", 0, 0, G_OPTION_ARG_STRING, &streams_arg, "Stream counts, comma-separated (default 1000,10000)", "N,..." },
    { "duration", 0, 0, G_OPTION_ARG_DOUBLE, &duration, "Seconds measured per run (default 10)", "S" },
    { "quick", 0, 0, G_OPTION_ARG_NONE, &quick, "A short run that checks the benchmark works", NULL },
    { NULL }
  };

  context = g_option_context_new ("- SSE fan-out: aura-sse-bridge against nginx + nchan");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    bench_fail ("%s", error->message);
  if (quick) {
    g_free (streams_arg);
    streams_arg = g_strdup ("50");
    duration = 1.5;
  }
  counts = g_strsplit (streams_arg != NULL ? streams_arg : "1000,10000", ",", -1);
  if (nginx_path == NULL)
    nginx_path = g_strdup ("/usr/sbin/nginx");
  if (!g_file_test (nginx_path, G_FILE_TEST_IS_EXECUTABLE) ||
      !g_file_test (NCHAN_MODULE, G_FILE_TEST_EXISTS))
    bench_fail ("nginx with the nchan module is needed (tools/deps.sh bench installs it)");

  nofile = bench_raise_nofile ();
  bb = bench_bus_new (NULL);
  /* no coalescing: every report is an event at once, also when the
   * publisher's calls bunch up on a loaded machine; what is measured is
   * the fan-out */
  daemon = bench_start_daemon (bb, daemon_path != NULL ? daemon_path : bench_default_daemon (),
                               "[Timing]\nCoalesceIntervalMs=0\n");

  for (guint i = 0; counts[i] != NULL; i++) {
    guint n = (guint) g_ascii_strtoull (counts[i], NULL, 10);
    gsize event_size = 0;
    Result ours, nchan;

    if (n == 0)
      bench_fail ("--streams: %s is not a stream count", counts[i]);
    if (n + 256 > nofile)
      bench_fail ("%u streams need %u open files; the limit is %" G_GUINT64_FORMAT, n, n + 256,
                  nofile);
    ours = run_ours (bb, bridge_path != NULL ? bridge_path : bench_default_bridge (), n, duration,
                     &event_size);
    if (event_size == 0)
      bench_fail ("aura-sse-bridge sent no progress events");
    nchan = run_nchan (bb, nginx_path, n, duration, event_size);
    rows (n, &ours, &nchan);
  }
  bench_stop (daemon, "aura-progressd");
  return 0;
}

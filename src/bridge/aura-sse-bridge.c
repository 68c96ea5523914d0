/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include "aura-bridge.h"
#include "aura-bus.h"
#include "aura-web-resources.h"

static gboolean
on_quit_signal (gpointer user_data)
{
  g_message ("stopping");
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_watchdog (gpointer user_data)
{
  sd_notify (0, "WATCHDOG=1");
  return G_SOURCE_CONTINUE;
}

/* HOST:PORT with HOST an IP address ([...] for IPv6) or "localhost". */
static GSocketAddress *
parse_listen (const char *text, GError **error)
{
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) addr = NULL;
  const char *colon;
  guint64 port;

  if (text[0] == '[') {
    const char *end = strchr (text, ']');
    if (end == NULL || end[1] != ':')
      goto bad;
    host = g_strndup (text + 1, end - text - 1);
    colon = end + 1;
  } else {
    colon = strrchr (text, ':');
    if (colon == NULL)
      goto bad;
    host = g_strndup (text, colon - text);
  }
  if (!g_ascii_string_to_unsigned (colon + 1, 10, 0, 65535, &port, NULL))
    goto bad;
  if (g_strcmp0 (host, "localhost") == 0)
    addr = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  else
    addr = g_inet_address_new_from_string (host);
  if (addr == NULL)
    goto bad;
  return g_inet_socket_address_new (addr, (guint16) port);

bad:
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "--listen=%s: expected HOST:PORT with HOST an IP address ([...] for IPv6) or "
               "localhost, and PORT from 0 to 65535", text);
  return NULL;
}

static gboolean
read_token (const char *path, char **out, GError **error)
{
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, error)) {
    g_prefix_error (error, "--token-file: ");
    return FALSE;
  }
  g_strstrip (contents);
  if (contents[0] == '\0' || strchr (contents, '\n') != NULL) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--token-file: %s must hold the token on one line", path);
    return FALSE;
  }
  *out = g_steal_pointer (&contents);
  return TRUE;
}

/* Listens where systemd handed us sockets, or where --listen says. */
static gboolean
listen_all (AuraBridge *bridge, const char *listen, gboolean listen_given, GError **error)
{
  int n = sd_listen_fds (TRUE);
  g_autoptr(GSocketAddress) address = NULL;

  if (n < 0) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-n), "socket activation: %s",
                 g_strerror (-n));
    return FALSE;
  }
  for (int i = 0; i < n; i++) {
    g_autoptr(GSocket) socket = g_socket_new_from_fd (SD_LISTEN_FDS_START + i, error);
    if (socket == NULL || !aura_conn_tracker_listen_socket (bridge->conns, socket, error)) {
      g_prefix_error (error, "socket activation: ");
      return FALSE;
    }
  }
  if (n > 0) {
    if (listen_given)
      g_message ("listening on the sockets systemd passed; --listen is ignored");
    return TRUE;
  }
  address = parse_listen (listen, error);
  if (address == NULL)
    return FALSE;
  if (!aura_conn_tracker_listen (bridge->conns, address, error)) {
    g_prefix_error (error, "cannot listen on %s: ", listen);
    return FALSE;
  }
  return TRUE;
}

/* Each stream is a file descriptor: take what the hard limit allows. */
static void
raise_fd_limit (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = MIN (rl.rlim_max, (rlim_t) 1 << 20);
    if (setrlimit (RLIMIT_NOFILE, &rl) < 0)
      g_debug ("cannot raise RLIMIT_NOFILE: %s", g_strerror (errno));
  }
}

int
main (int argc, char **argv)
{
  g_auto(AuraBusOptions) bus_options = { 0 };
  g_autofree char *listen = NULL, *token_file = NULL;
  g_auto(GStrv) cors = NULL;
  g_auto(GStrv) allowed_hosts = NULL;
  double heartbeat = 5;
  gint max_streams, max_per_client, max_connections, max_conns_per_client, max_jobs, max_queue;
  gint idle_timeout;
  gboolean version = FALSE;
  AuraBridgeConfig config;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  AuraBridge *bridge;
  uint64_t watchdog_usec = 0;
  guint watchdog_id = 0;

  setlocale (LC_ALL, "");
  /* stdout says where the bridge listens, for scripts; logs go to stderr */
  g_log_writer_default_set_use_stderr (TRUE);
  aura_bridge_config_init (&config);
  max_streams = (gint) config.max_streams;
  max_per_client = (gint) config.max_streams_per_client;
  max_connections = (gint) config.max_connections;
  max_conns_per_client = (gint) config.max_connections_per_client;
  max_jobs = (gint) config.max_jobs_per_stream;
  max_queue = (gint) config.max_queue_bytes;
  idle_timeout = (gint) config.idle_timeout_s;
  {
    const GOptionEntry entries[] = {
      { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen,
        "Listen on HOST:PORT (default 127.0.0.1:8080; port 0 picks a free one); "
        "sockets from systemd take precedence", "HOST:PORT" },
      { "heartbeat-interval", 0, 0, G_OPTION_ARG_DOUBLE, &heartbeat,
        "Send a heartbeat on every stream every SECONDS (default 5)", "SECONDS" },
      { "cors-origin", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cors,
        "Allow web pages from ORIGIN (e.g. https://app.example) to use the API; repeatable; "
        "* allows any", "ORIGIN" },
      { "allowed-host", 0, 0, G_OPTION_ARG_STRING_ARRAY, &allowed_hosts,
        "Serve requests for the host name NAME too (besides IP addresses and localhost), "
        "e.g. behind a reverse proxy; repeatable", "NAME" },
      { "token-file", 0, 0, G_OPTION_ARG_FILENAME, &token_file,
        "Require the bearer token in FILE for cancelling jobs", "FILE" },
      { "max-streams", 0, 0, G_OPTION_ARG_INT, &max_streams,
        "At most N event streams in total (default 1024)", "N" },
      { "max-streams-per-client", 0, 0, G_OPTION_ARG_INT, &max_per_client,
        "At most N event streams per client address (default 64)", "N" },
      { "max-connections", 0, 0, G_OPTION_ARG_INT, &max_connections,
        "At most N open HTTP connections (default 2048)", "N" },
      { "max-connections-per-client", 0, 0, G_OPTION_ARG_INT, &max_conns_per_client,
        "At most N open HTTP connections per client address (default 256)", "N" },
      { "max-jobs-per-stream", 0, 0, G_OPTION_ARG_INT, &max_jobs,
        "At most N jobs in one /api/events?jobs= list (default 64)", "N" },
      { "max-queue", 0, 0, G_OPTION_ARG_INT, &max_queue,
        "Drop a client that falls more than BYTES behind (default 1048576)", "BYTES" },
      { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &idle_timeout,
        "Close a connection that takes more than SECONDS to send a request, or sits idle "
        "that long between requests (default 60)", "SECONDS" },
      { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
      { NULL }
    };
    context = g_option_context_new ("- serve aura-progress events to web browsers");
    g_option_context_set_summary (context,
      "Subscribes to org.aura.Progress on the bus and serves its jobs over HTTP:\n"
      "Server-Sent Events streams, a JSON API, cancellation and the web UI.");
    g_option_context_add_main_entries (context, entries, NULL);
    aura_bus_options_add (context, &bus_options);
    if (!g_option_context_parse (context, &argc, &argv, &error)) {
      g_printerr ("aura-sse-bridge: %s\n", error->message);
      aura_bridge_config_clear (&config);
      return 2;
    }
  }
  if (version) {
    g_print ("aura-sse-bridge %s\n", PACKAGE_VERSION);
    aura_bridge_config_clear (&config);
    return 0;
  }
  if (!isfinite (heartbeat) || heartbeat < 0.01 || heartbeat > 3600 || max_streams < 1 ||
      max_per_client < 1 || max_connections < 1 || max_conns_per_client < 1 || max_jobs < 1 || max_queue < 4096 ||
      idle_timeout < 1) {
    g_printerr ("aura-sse-bridge: --heartbeat-interval must be from 0.01 to 3600 seconds, "
                "--max-queue at least 4096 bytes, the other limits at least 1\n");
    aura_bridge_config_clear (&config);
    return 2;
  }
  config.heartbeat_interval_us = (gint64) llround (heartbeat * G_USEC_PER_SEC);
  config.max_streams = (guint) max_streams;
  config.max_streams_per_client = (guint) max_per_client;
  config.max_connections = (guint) max_connections;
  config.max_connections_per_client = (guint) max_conns_per_client;
  config.max_jobs_per_stream = (guint) max_jobs;
  config.max_queue_bytes = (gsize) max_queue;
  config.idle_timeout_s = (guint) idle_timeout;
  config.cors_origins = g_steal_pointer (&cors);
  config.allowed_hosts = g_steal_pointer (&allowed_hosts);
  if (token_file != NULL && !read_token (token_file, &config.token, &error)) {
    g_printerr ("aura-sse-bridge: %s\n", error->message);
    aura_bridge_config_clear (&config);
    return 2;
  }

  raise_fd_limit ();
  aura_web_register_resource ();
  bridge = aura_bridge_new (&config, aura_event_source_new_dbus (&bus_options));
  if (!listen_all (bridge, listen != NULL ? listen : "127.0.0.1:8080", listen != NULL, &error)) {
    g_printerr ("aura-sse-bridge: %s\n", error->message);
    aura_bridge_free (bridge);
    aura_web_unregister_resource ();
    return 1;
  }

  {
    GPtrArray *urls = aura_conn_tracker_get_urls (bridge->conns);
    /* tests and scripts read the port back from this line */
    for (guint i = 0; i < urls->len; i++)
      printf ("Listening on %s\n", (const char *) urls->pdata[i]);
    fflush (stdout);
  }

  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGTERM, on_quit_signal, loop);
  g_unix_signal_add (SIGINT, on_quit_signal, loop);
  if (sd_watchdog_enabled (0, &watchdog_usec) > 0 && watchdog_usec > 0)
    watchdog_id = g_timeout_add ((guint) MAX (watchdog_usec / 2000, 1), on_watchdog, NULL);
  sd_notify (0, "READY=1\nSTATUS=Serving events");

  g_main_loop_run (loop);

  sd_notify (0, "STOPPING=1");
  if (watchdog_id != 0)
    g_source_remove (watchdog_id);
  aura_bridge_free (bridge);
  aura_web_unregister_resource ();
  return 0;
}

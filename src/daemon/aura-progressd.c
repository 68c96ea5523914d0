/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>

#include "aura-bus.h"
#include "aura-daemon.h"
#include "aura-i18n.h"

static gboolean
on_quit_signal (gpointer user_data)
{
  AuraDaemon *daemon = user_data;
  g_message ("stopping");
  g_main_loop_quit (daemon->loop);
  return G_SOURCE_CONTINUE;
}

/* Where event ids and learned durations live: --state-dir, systemd's
 * StateDirectory=, /var/lib/aura-progress for the system bus, the user's
 * state directory otherwise. */
static char *
choose_state_dir (const char *option, const AuraBusOptions *bus_options)
{
  const char *from_systemd = g_getenv ("STATE_DIRECTORY");

  if (option != NULL)
    return g_strdup (option);
  if (from_systemd != NULL && from_systemd[0] != '\0') {
    const char *colon = strchr (from_systemd, ':');
    return colon != NULL ? g_strndup (from_systemd, colon - from_systemd) : g_strdup (from_systemd);
  }
  if (!bus_options->session && bus_options->address == NULL)
    return g_build_filename (LOCALSTATEDIR, "lib", "aura-progress", NULL);
  return g_build_filename (g_get_user_state_dir (), "aura-progress", NULL);
}

int
main (int argc, char **argv)
{
  g_auto(AuraBusOptions) bus_options = { 0 };
  g_autofree char *config_path = NULL, *state_dir_option = NULL, *state_dir = NULL;
  g_autofree char *heartbeat_option = NULL;   /* a string: a given 0 is an error, not "unset" */
  gboolean version = FALSE;
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
      "Read weights, limits and timings from FILE", "FILE" },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir_option,
      "Keep event ids and learned stage durations in DIR", "DIR" },
    { "heartbeat-interval", 0, 0, G_OPTION_ARG_STRING, &heartbeat_option,
      "Send a Heartbeat signal every SECONDS (default 5)", "SECONDS" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  AuraConfig config;
  sd_bus *bus;
  AuraDaemon *daemon;
  guint sigterm_id, sigint_id;
  int code;

  aura_i18n_init ();

  context = g_option_context_new ("- the aura-progress daemon");
  g_option_context_set_summary (context,
    "Aggregates the progress of multi-stage jobs and orchestrates their cancellation,\n"
    "as org.aura.Progress on the system bus (or the session bus, or the bus at an address).");
  g_option_context_add_main_entries (context, entries, NULL);
  aura_bus_options_add (context, &bus_options);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("aura-progressd: %s\n", error->message);
    return 2;
  }
  if (version) {
    g_print ("aura-progressd %s\n", PACKAGE_VERSION);
    return 0;
  }

  aura_config_init (&config);
  if (config_path == NULL && !bus_options.session && bus_options.address == NULL) {
    g_autofree char *system_config = g_build_filename (SYSCONFDIR, "aura-progress",
                                                       "aura-progressd.conf", NULL);
    if (g_file_test (system_config, G_FILE_TEST_EXISTS))
      config_path = g_steal_pointer (&system_config);
  }
  if (config_path != NULL && !aura_config_load_file (&config, config_path, &error)) {
    g_printerr ("aura-progressd: %s\n", error->message);
    aura_config_clear (&config);
    return 2;
  }
  if (heartbeat_option != NULL) {
    char *end = NULL;
    double heartbeat = g_ascii_strtod (heartbeat_option, &end);
    if (end == heartbeat_option || *end != '\0' || !isfinite (heartbeat) || heartbeat < 0.01 ||
        heartbeat > 3600) {
      g_printerr ("aura-progressd: --heartbeat-interval must be from 0.01 to 3600 seconds\n");
      aura_config_clear (&config);
      return 2;
    }
    config.heartbeat_interval_us = (gint64) llround (heartbeat * G_USEC_PER_SEC);
  }

  bus = aura_bus_open (&bus_options, AURA_BUS_SYSTEM, "aura-progressd", &error);
  if (bus == NULL) {
    g_printerr ("aura-progressd: %s\n", error->message);
    aura_config_clear (&config);
    return 1;
  }
  state_dir = choose_state_dir (state_dir_option, &bus_options);
  daemon = aura_daemon_new (&config, bus, state_dir, &error);
  sd_bus_unref (bus);
  aura_config_clear (&config);
  if (daemon == NULL) {
    g_printerr ("aura-progressd: %s\n", error->message);
    return 1;
  }
  /* Before the name is taken: whoever sees the name may stop us at once. */
  sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, daemon);
  sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, daemon);
  if (!aura_daemon_start (daemon, &error)) {
    g_printerr ("aura-progressd: %s\n", error->message);
    g_source_remove (sigterm_id);
    g_source_remove (sigint_id);
    aura_daemon_free (daemon);
    return 1;
  }
  g_message ("serving %s (version %s, state in %s)", AURA_BUS_NAME, PACKAGE_VERSION, state_dir);

  code = aura_daemon_run (daemon);
  g_source_remove (sigterm_id);
  g_source_remove (sigint_id);
  aura_daemon_free (daemon);
  return code;
}

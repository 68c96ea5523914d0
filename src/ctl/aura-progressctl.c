/* SPDX-License-Identifier: MIT */
/* aura-progressctl: the command line client of org.aura.Progress. This file
 * holds the command table, option parsing, error messages and the main loop
 * that the following commands share; each command lives in its own file. */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "aura-bus-source.h"
#include "aura-bus-variant.h"
#include "aura-bus.h"
#include "aura-ctl-format.h"
#include "aura-ctl.h"
#include "aura-i18n.h"
#include "aura-json.h"
#include "aura-id.h"

static int cmd_help (AuraCtl *ctl, int argc, char **argv);

static const AuraCtlCommand commands[] = {
  { "list", "", N_("List the jobs: running ones and recently finished ones"),
    aura_ctl_cmd_list },
  { "status", N_("JOB"), N_("Show the state of a job"), aura_ctl_cmd_status },
  { "watch", N_("JOB"), N_("Follow a job live until it ends; the exit status says how it ended"),
    aura_ctl_cmd_watch },
  { "cancel", N_("JOB"), N_("Cancel a job and show what each of its providers answered"),
    aura_ctl_cmd_cancel },
  { "events", N_("[JOB]"), N_("Print the events of a job (of every job without JOB)"),
    aura_ctl_cmd_events },
  { "monitor", "", N_("Print every job's events and the daemon's heartbeats as they happen"),
    aura_ctl_cmd_monitor },
  { "help", N_("[COMMAND]"), N_("Show this help, or the help of a command"), cmd_help },
};

const AuraCtlCommand *
aura_ctl_find_command (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++) {
    if (g_strcmp0 (commands[i].name, name) == 0)
      return &commands[i];
  }
  return NULL;
}

static char *
describe_commands (void)
{
  GString *s = g_string_new (_("Commands:"));

  g_string_append_c (s, '\n');
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++) {
    g_autofree char *name = g_strdup_printf ("%s %s", commands[i].name,
                                             commands[i].parameters[0] != '\0'
                                               ? _(commands[i].parameters) : "");
    g_string_append_printf (s, "  %-20s %s\n", name, _(commands[i].summary));
  }
  g_string_append_printf (s, "\n%s\n", _("Exit status:"));
  g_string_append_printf (s, "  0    %s\n", _("success; for watch: the job completed"));
  g_string_append_printf (s, "  1    %s\n", _("an error: no such job, not allowed, ..."));
  g_string_append_printf (s, "  2    %s\n", _("the command line was wrong"));
  g_string_append_printf (s, "  3    %s\n", _("watch: the job failed"));
  g_string_append_printf (s, "  4    %s\n", _("watch: the job was cancelled"));
  g_string_append_printf (s, "  5    %s\n",
                          _("aura-progressd is not running on the bus, or it went away"));
  g_string_append_printf (s, "  130  %s\n", _("watch: interrupted (SIGINT or SIGTERM)"));
  g_string_append_printf (s, "\n%s",
                          _("'aura-progressctl COMMAND --help' describes a command. "
                            "See aura-progressctl(1)."));
  return g_string_free (s, FALSE);
}

/* ---- errors ------------------------------------------------------------ */

int
aura_ctl_fail (int code, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  fflush (stdout);
  g_printerr ("aura-progressctl: %s\n", message);
  return code;
}

int
aura_ctl_check_job_id (const char *job_id)
{
  g_autoptr(GError) error = NULL;

  if (aura_job_id_validate (job_id, &error))
    return -1;
  return aura_ctl_fail (AURA_CTL_EXIT_USAGE, _("invalid job id '%s': %s"), job_id,
                        aura_job_id_rule ());
}

static gboolean
daemon_present (AuraCtl *ctl)
{
  g_autoptr(sd_bus_message) reply = NULL;
  int has = 1;

  if (sd_bus_call_method (ctl->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s",
                          AURA_BUS_NAME) < 0 ||
      sd_bus_message_read (reply, "b", &has) < 0)
    return TRUE;                      /* cannot tell: say what the error said */
  return has;
}

int
aura_ctl_fail_call (AuraCtl *ctl, const sd_bus_error *error, int r, const char *job_id)
{
  const char *name = error != NULL && sd_bus_error_is_set (error) ? error->name : NULL;
  const char *message = name != NULL && error->message != NULL ? error->message : name;
  const char *bus = ctl->bus_description;

  if (name == NULL) {
    if (r == -ECONNRESET || r == -ENOTCONN)
      return aura_ctl_fail (AURA_CTL_EXIT_UNAVAILABLE, _("lost the connection to %s"), bus);
    if (r == -ETIMEDOUT)
      return aura_ctl_fail (AURA_CTL_EXIT_UNAVAILABLE,
                            _("aura-progressd on %s did not answer in time"), bus);
    return aura_ctl_fail (AURA_CTL_EXIT_ERROR, _("the call failed: %s"), g_strerror (-r));
  }
  /* No answer: because it went away while the call was on its way, or
   * because it is stuck. */
  if (sd_bus_error_has_name (error, SD_BUS_ERROR_NO_REPLY) && !daemon_present (ctl))
    return aura_ctl_fail (AURA_CTL_EXIT_UNAVAILABLE, _("aura-progressd left %s"), bus);
  if (sd_bus_error_has_names (error, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
    return aura_ctl_fail (AURA_CTL_EXIT_UNAVAILABLE,
                          ctl->daemon_seen ? _("aura-progressd left %s")
                                           : _("aura-progressd is not running on %s"), bus);
  if (sd_bus_error_has_names (error, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT))
    return aura_ctl_fail (AURA_CTL_EXIT_UNAVAILABLE, _("aura-progressd on %s did not answer: %s"),
                          bus, message);
  if (sd_bus_error_has_name (error, SD_BUS_ERROR_DISCONNECTED))
    return aura_ctl_fail (AURA_CTL_EXIT_UNAVAILABLE, _("lost the connection to %s"), bus);
  if (sd_bus_error_has_name (error, AURA_DBUS_ERROR_NO_SUCH_JOB) && job_id != NULL)
    return aura_ctl_fail (AURA_CTL_EXIT_ERROR, _("no job with id '%s'"), job_id);
  if (sd_bus_error_has_name (error, SD_BUS_ERROR_ACCESS_DENIED))
    return aura_ctl_fail (AURA_CTL_EXIT_ERROR, _("not allowed: %s"), message);
  if (sd_bus_error_has_name (error, SD_BUS_ERROR_NOT_SUPPORTED))
    return aura_ctl_fail (AURA_CTL_EXIT_ERROR, _("aura-progressd on %s does not support this: %s"),
                          bus, message);
  if (sd_bus_error_has_names (error, SD_BUS_ERROR_UNKNOWN_METHOD, SD_BUS_ERROR_UNKNOWN_OBJECT,
                              SD_BUS_ERROR_UNKNOWN_INTERFACE))
    return aura_ctl_fail (AURA_CTL_EXIT_ERROR,
                          _("aura-progressd on %s does not offer this (an older version?): %s"),
                          bus, message);
  /* The daemon's own errors (NotRunning, InvalidArgs, LimitExceeded) say
   * what was wrong and what is allowed. */
  return aura_ctl_fail (AURA_CTL_EXIT_ERROR, "%s", message);
}

/* ---- calls ------------------------------------------------------------- */

int
aura_ctl_call (AuraCtl *ctl, sd_bus_message **reply, const char *job_id, uint64_t timeout_us,
               const char *member, const char *types, ...)
{
  g_autoptr(sd_bus_message) m = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  va_list ap;
  int r, code;

  r = sd_bus_message_new_method_call (ctl->bus, &m, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                      AURA_INTERFACE, member);
  if (r >= 0 && types != NULL && types[0] != '\0') {
    va_start (ap, types);
    r = sd_bus_message_appendv (m, types, ap);
    va_end (ap);
  }
  if (r < 0)
    return aura_ctl_fail (AURA_CTL_EXIT_ERROR, _("cannot build the %s call: %s"), member,
                          g_strerror (-r));
  r = aura_bus_call (ctl->bus, m, timeout_us, &error, reply);
  if (r < 0) {
    code = aura_ctl_fail_call (ctl, &error, r, job_id);
    sd_bus_error_free (&error);
    return code;
  }
  ctl->daemon_seen = TRUE;
  return 0;
}

GVariant *
aura_ctl_get_job (AuraCtl *ctl, const char *job_id, int *code)
{
  g_autoptr(sd_bus_message) reply = NULL;
  GVariant *state = NULL;

  *code = aura_ctl_call (ctl, &reply, job_id, 0, "GetJob", "s", job_id);
  if (*code != 0)
    return NULL;
  if (aura_bus_message_read_variant (reply, &state) <= 0 ||
      !g_variant_is_of_type (state, G_VARIANT_TYPE_VARDICT)) {
    g_clear_pointer (&state, g_variant_unref);
    *code = aura_ctl_fail (AURA_CTL_EXIT_ERROR, _("aura-progressd sent a malformed reply to %s"),
                           "GetJob");
  }
  return state;
}

void
aura_ctl_print_json (JsonNode *node, gboolean pretty)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_pretty (gen, pretty);
  json_generator_set_root (gen, node);
  text = json_generator_to_data (gen, NULL);
  g_print ("%s\n", text);
  /* Readers of a pipe see every line as soon as it happens. */
  fflush (stdout);
}

void
aura_ctl_print_event (AuraCtl *ctl, const char *type, guint64 id, GVariant *payload)
{
  if (ctl->json) {
    g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
    JsonObject *obj = json_object_new ();

    json_object_set_string_member (obj, "event", type);
    if (id != 0)
      json_object_set_int_member (obj, "id", (gint64) id);
    /* A state has the keys of a step-progress event, and more. */
    json_object_set_member (obj, "data",
                            aura_json_from_event_payload (strcmp (type, "state") == 0
                                                            ? "step-progress" : type,
                                                          payload));
    json_node_take_object (node, obj);
    aura_ctl_print_json (node, FALSE);
  } else {
    g_autofree char *line = aura_ctl_format_event (type, id, payload);
    g_print ("%s\n", line);
    fflush (stdout);
  }
}

/* ---- options ----------------------------------------------------------- */

static void
print_help (GOptionContext *context, gboolean to_stderr)
{
  g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);

  if (to_stderr)
    g_printerr ("%s", help);
  else
    g_print ("%s", help);
}

int
aura_ctl_parse_command (AuraCtl *ctl, const GOptionEntry *entries, int min_args, int max_args,
                        int *argc, char ***argv)
{
  const AuraCtlCommand *cmd = aura_ctl_find_command ((*argv)[0]);
  g_auto(AuraBusOptions) bus_options = { 0 };
  gboolean json = FALSE, help = FALSE;
  const GOptionEntry common[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_("Print JSON (one document, or one line per event)"), NULL },
    { "help", 'h', 0, G_OPTION_ARG_NONE, &help, N_("Show this help"), NULL },
    { NULL }
  };
  g_autofree char *parameters = NULL;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  int n;

  g_assert (cmd != NULL);
  parameters = g_strdup_printf ("%s %s", cmd->name,
                                cmd->parameters[0] != '\0' ? _(cmd->parameters) : "");
  context = g_option_context_new (parameters);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_help_enabled (context, FALSE);
  g_option_context_set_summary (context, _(cmd->summary));
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, common, GETTEXT_PACKAGE);
  aura_bus_options_add (context, &bus_options);
  if (!g_option_context_parse (context, argc, argv, &error))
    return aura_ctl_fail (AURA_CTL_EXIT_USAGE, _("%s (see 'aura-progressctl %s --help')"),
                          error->message, cmd->name);
  if (help) {
    print_help (context, FALSE);
    return AURA_CTL_EXIT_OK;
  }

  /* Options given after the command add to those given before it. */
  ctl->json |= json;
  ctl->bus_options.system |= bus_options.system;
  ctl->bus_options.session |= bus_options.session;
  if (bus_options.address != NULL) {
    g_free (ctl->bus_options.address);
    ctl->bus_options.address = g_steal_pointer (&bus_options.address);
  }

  n = *argc - 1;
  if (n < min_args || n > max_args)
    return aura_ctl_fail (AURA_CTL_EXIT_USAGE,
                          n < min_args ? _("missing argument; usage: aura-progressctl %s %s")
                                       : _("too many arguments; usage: aura-progressctl %s %s"),
                          cmd->name, _(cmd->parameters));

  ctl->bus_description = aura_bus_describe (&ctl->bus_options, AURA_BUS_SYSTEM);
  ctl->bus = aura_bus_open (&ctl->bus_options, AURA_BUS_SYSTEM, "aura-progressctl", &error);
  if (ctl->bus == NULL)
    return aura_ctl_fail (g_error_matches (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE)
                            ? AURA_CTL_EXIT_USAGE : AURA_CTL_EXIT_UNAVAILABLE,
                          "%s", error->message);
  return -1;
}

int
aura_ctl_parse_job_command (AuraCtl *ctl, const GOptionEntry *entries, int *argc, char ***argv)
{
  int code = aura_ctl_parse_command (ctl, entries, 1, 1, argc, argv);

  if (code >= 0)
    return code;
  return aura_ctl_check_job_id ((*argv)[1]);
}

static int
cmd_help (AuraCtl *ctl, int argc, char **argv)
{
  const AuraCtlCommand *cmd;
  char *help_argv[] = { NULL, (char *) "--help", NULL };

  if (argc > 2)
    return aura_ctl_fail (AURA_CTL_EXIT_USAGE, _("too many arguments; usage: aura-progressctl %s"),
                          "help [COMMAND]");
  if (argc < 2) {
    /* The main help: handled by main() with the global options. */
    return -1;
  }
  cmd = aura_ctl_find_command (argv[1]);
  if (cmd == NULL || cmd->run == cmd_help)
    return aura_ctl_fail (AURA_CTL_EXIT_USAGE, _("unknown command '%s' (see 'aura-progressctl "
                                                 "help')"), argv[1]);
  help_argv[0] = (char *) cmd->name;
  return cmd->run (ctl, 2, help_argv);
}

/* ---- the main loop of the following commands --------------------------- */

void
aura_ctl_quit (AuraCtl *ctl, int code)
{
  if (ctl->quitting)
    return;
  ctl->quitting = TRUE;
  ctl->exit_code = code;
  if (ctl->loop != NULL)
    g_main_loop_quit (ctl->loop);
}

static void
on_bus_lost (sd_bus *bus, int error, gpointer user_data)
{
  AuraCtl *ctl = user_data;

  ctl->bus_source_id = 0;
  if (ctl->quitting)
    return;
  if (ctl->on_interrupt != NULL)
    ctl->on_interrupt (ctl->interrupt_data);
  aura_ctl_fail (0, _("lost the connection to %s"), ctl->bus_description);
  aura_ctl_quit (ctl, AURA_CTL_EXIT_UNAVAILABLE);
}

static gboolean
on_quit_signal (gpointer user_data)
{
  AuraCtl *ctl = user_data;

  if (!ctl->quitting && ctl->on_interrupt != NULL)
    ctl->on_interrupt (ctl->interrupt_data);
  aura_ctl_quit (ctl, ctl->interrupt_code);
  return G_SOURCE_CONTINUE;
}

void
aura_ctl_catch_signals (AuraCtl *ctl, int signal_code, void (*on_stop) (gpointer data),
                        gpointer data)
{
  ctl->interrupt_code = signal_code;
  ctl->on_interrupt = on_stop;
  ctl->interrupt_data = data;
  if (ctl->sigint_id == 0)
    ctl->sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, ctl);
  if (ctl->sigterm_id == 0)
    ctl->sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, ctl);
}

int
aura_ctl_run_loop (AuraCtl *ctl)
{
  g_assert (ctl->sigint_id != 0);
  if (!ctl->quitting) {               /* not decided before the loop started */
    ctl->loop = g_main_loop_new (NULL, FALSE);
    ctl->bus_source_id = aura_bus_attach (ctl->bus, on_bus_lost, ctl);
    g_main_loop_run (ctl->loop);
    if (ctl->bus_source_id != 0)
      g_source_remove (ctl->bus_source_id);
    ctl->bus_source_id = 0;
    g_clear_pointer (&ctl->loop, g_main_loop_unref);
  }
  g_source_remove (ctl->sigint_id);
  g_source_remove (ctl->sigterm_id);
  ctl->sigint_id = ctl->sigterm_id = 0;
  ctl->on_interrupt = NULL;
  return ctl->exit_code;
}

/* ---- main -------------------------------------------------------------- */

static int
run (AuraCtl *ctl, int argc, char **argv)
{
  gboolean help = FALSE, version = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &ctl->json,
      N_("Print JSON (one document, or one line per event)"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Print the version and exit"), NULL },
    { "help", 'h', 0, G_OPTION_ARG_NONE, &help, N_("Show this help"), NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *description = NULL;
  const AuraCtlCommand *cmd;
  char *default_argv[] = { (char *) "list", NULL };
  int code;

  context = g_option_context_new (_("[COMMAND [ARGUMENT…]]"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  /* Options stop at the command: the rest belongs to the command. */
  g_option_context_set_strict_posix (context, TRUE);
  g_option_context_set_help_enabled (context, FALSE);
  g_option_context_set_summary (context,
                                _("Shows and follows the jobs of aura-progressd and cancels them.\n"
                                  "Without a command: list."));
  description = describe_commands ();
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  aura_bus_options_add (context, &ctl->bus_options);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return aura_ctl_fail (AURA_CTL_EXIT_USAGE, _("%s (see 'aura-progressctl --help')"),
                          error->message);
  if (help) {
    print_help (context, FALSE);
    return AURA_CTL_EXIT_OK;
  }
  if (version) {
    g_print ("aura-progressctl %s\n", PACKAGE_VERSION);
    return AURA_CTL_EXIT_OK;
  }

  if (argc < 2) {
    cmd = aura_ctl_find_command ("list");
    argc = 1;
    argv = default_argv;
  } else {
    cmd = aura_ctl_find_command (argv[1]);
    if (cmd == NULL)
      return aura_ctl_fail (AURA_CTL_EXIT_USAGE, _("unknown command '%s' (see 'aura-progressctl "
                                                   "help')"), argv[1]);
    argc--;
    argv++;
  }
  ctl->command = cmd->name;
  code = cmd->run (ctl, argc, argv);
  if (code < 0) {                     /* plain "help" */
    print_help (context, FALSE);
    code = AURA_CTL_EXIT_OK;
  }
  return code;
}

int
main (int argc, char **argv)
{
  AuraCtl ctl = { 0 };
  int code;

  aura_i18n_init ();
  g_set_prgname ("aura-progressctl");
  ctl.tty = isatty (STDOUT_FILENO);
  ctl.utf8 = g_get_charset (NULL);

  code = run (&ctl, argc, argv);

  if (ctl.sigint_id != 0)
    g_source_remove (ctl.sigint_id);
  if (ctl.sigterm_id != 0)
    g_source_remove (ctl.sigterm_id);
  if (ctl.bus != NULL)
    sd_bus_flush_close_unref (ctl.bus);
  g_free (ctl.bus_description);
  aura_bus_options_clear (&ctl.bus_options);
  return code;
}

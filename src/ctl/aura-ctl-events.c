/* SPDX-License-Identifier: MIT */
/* events: the history of a job (or of every job) from GetEvents, and with
 * --follow the live events after it; monitor: every signal as it comes. */
#include <glib/gi18n-lib.h>
#include <string.h>

#include "aura-bus-variant.h"
#include "aura-clock.h"
#include "aura-ctl-signals.h"
#include "aura-ctl.h"
#include "aura-id.h"

typedef struct {
  AuraCtl *ctl;
  const char *job_id;                 /* NULL: every job */
  guint64 last_event_id;
} Follow;

static void
deliver (Follow *f, const char *type, guint64 id, GVariant *payload)
{
  /* History and signals overlap while the history is read: every event is
   * printed once, in order. */
  if (id <= f->last_event_id)
    return;
  f->last_event_id = id;
  aura_ctl_print_event (f->ctl, type, id, payload);
  /* Nothing follows a job's end. */
  if (f->job_id != NULL && g_str_has_prefix (type, "job-"))
    aura_ctl_quit (f->ctl, AURA_CTL_EXIT_OK);
}

/* GetEvents gives at most MaxEventsPerCall events: ask again after the last
 * one until nothing more comes. */
static int
print_history (Follow *f)
{
  for (;;) {
    g_autoptr(sd_bus_message) reply = NULL;
    g_autoptr(GVariant) events = NULL;
    GVariantIter it;
    const char *type;
    guint64 id;
    GVariant *payload;
    int code;

    code = aura_ctl_call (f->ctl, &reply, f->job_id, 0, "GetEvents", "st",
                          f->job_id != NULL ? f->job_id : "", f->last_event_id);
    if (code != 0)
      return code;
    if (aura_bus_message_read_variant (reply, &events) <= 0 ||
        !g_variant_is_of_type (events, G_VARIANT_TYPE ("a(sta{sv})")))
      return aura_ctl_fail (AURA_CTL_EXIT_ERROR, _("aura-progressd sent a malformed reply to %s"),
                            "GetEvents");
    if (g_variant_n_children (events) == 0)
      return 0;
    g_variant_iter_init (&it, events);
    while (g_variant_iter_next (&it, "(&st@a{sv})", &type, &id, &payload)) {
      guint64 before = f->last_event_id;
      deliver (f, type, id, payload);
      g_variant_unref (payload);
      if (id <= before)               /* a daemon that does not move on */
        return aura_ctl_fail (AURA_CTL_EXIT_ERROR,
                              _("aura-progressd sent events out of order (#%llu after #%llu)"),
                              (unsigned long long) id, (unsigned long long) before);
    }
  }
}

static void
on_follow_event (const char *job_id, const char *type, guint64 event_id, GVariant *payload,
                 gpointer user_data)
{
  deliver (user_data, type, event_id, payload);
}

static void
on_follow_owner_changed (const char *old_owner, const char *new_owner, gpointer user_data)
{
  Follow *f = user_data;

  if (new_owner[0] != '\0')
    return;
  aura_ctl_fail (0, _("aura-progressd left %s"), f->ctl->bus_description);
  aura_ctl_quit (f->ctl, AURA_CTL_EXIT_UNAVAILABLE);
}

int
aura_ctl_cmd_events (AuraCtl *ctl, int argc, char **argv)
{
  static const AuraCtlSignalFuncs funcs = {
    .event = on_follow_event,
    .owner_changed = on_follow_owner_changed,
  };
  g_autofree char *after = NULL;
  gboolean follow = FALSE;
  const GOptionEntry entries[] = {
    { "after", 0, 0, G_OPTION_ARG_STRING, &after,
      N_("Only the events after event ID (as Last-Event-ID in the web API)"), N_("ID") },
    { "follow", 'f', 0, G_OPTION_ARG_NONE, &follow,
      N_("Then print new events as they come; with JOB, until the job ends"), NULL },
    { NULL }
  };
  g_autoptr(AuraCtlSubscription) sub = NULL;
  Follow f = { .ctl = ctl };
  int code, r;

  code = aura_ctl_parse_command (ctl, entries, 0, 1, &argc, &argv);
  if (code >= 0)
    return code;
  if (argc > 1) {
    code = aura_ctl_check_job_id (argv[1]);
    if (code >= 0)
      return code;
    f.job_id = argv[1];
  }
  if (after != NULL && !aura_event_id_parse (after, &f.last_event_id))
    return aura_ctl_fail (AURA_CTL_EXIT_USAGE,
                          _("invalid --after '%s': an event id is a decimal number"), after);

  if (!follow)
    return print_history (&f);

  aura_ctl_catch_signals (ctl, AURA_CTL_EXIT_OK, NULL, NULL);
  /* Subscribe first, then read: nothing can slip in between. */
  sub = aura_ctl_subscribe (ctl->bus, f.job_id, &funcs, &f, &r);
  if (sub == NULL)
    return aura_ctl_fail_call (ctl, NULL, r, f.job_id);
  if (f.job_id != NULL) {
    g_autoptr(GVariant) state = aura_ctl_get_job (ctl, f.job_id, &code);
    const char *status = NULL;

    if (state == NULL)
      return code;
    code = print_history (&f);
    if (code != 0)
      return code;
    g_variant_lookup (state, "status", "&s", &status);
    if (g_strcmp0 (status, "Running") != 0)
      aura_ctl_quit (ctl, AURA_CTL_EXIT_OK);
  } else {
    code = print_history (&f);
    if (code != 0)
      return code;
  }
  return aura_ctl_run_loop (ctl);
}

/* ---- monitor ----------------------------------------------------------- */

static void
on_monitor_event (const char *job_id, const char *type, guint64 event_id, GVariant *payload,
                  gpointer user_data)
{
  aura_ctl_print_event (user_data, type, event_id, payload);
}

static void
on_monitor_heartbeat (const char *timestamp, const char *status, gpointer user_data)
{
  g_autoptr(GVariant) payload = NULL;
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "timestamp", g_variant_new_string (timestamp));
  g_variant_builder_add (&b, "{sv}", "status", g_variant_new_string (status));
  payload = g_variant_ref_sink (g_variant_builder_end (&b));
  aura_ctl_print_event (user_data, "heartbeat", 0, payload);
}

static void
print_daemon (AuraCtl *ctl, const char *owner)
{
  g_autofree char *now = aura_format_timestamp (g_get_real_time ());
  g_autofree char *message = NULL;
  g_autoptr(GVariant) payload = NULL;
  GVariantBuilder b;

  if (owner[0] != '\0')
    message = g_strdup_printf (_("aura-progressd is on %s (%s)"), ctl->bus_description, owner);
  else
    message = g_strdup_printf (_("aura-progressd is not on %s"), ctl->bus_description);
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "status",
                         g_variant_new_string (owner[0] != '\0' ? "available" : "unavailable"));
  if (owner[0] != '\0')
    g_variant_builder_add (&b, "{sv}", "owner", g_variant_new_string (owner));
  g_variant_builder_add (&b, "{sv}", "message", g_variant_new_string (message));
  g_variant_builder_add (&b, "{sv}", "timestamp", g_variant_new_string (now));
  payload = g_variant_ref_sink (g_variant_builder_end (&b));
  aura_ctl_print_event (ctl, "daemon", 0, payload);
}

static void
on_monitor_owner_changed (const char *old_owner, const char *new_owner, gpointer user_data)
{
  print_daemon (user_data, new_owner);
}

int
aura_ctl_cmd_monitor (AuraCtl *ctl, int argc, char **argv)
{
  static const AuraCtlSignalFuncs funcs = {
    .event = on_monitor_event,
    .heartbeat = on_monitor_heartbeat,
    .owner_changed = on_monitor_owner_changed,
  };
  g_autoptr(AuraCtlSubscription) sub = NULL;
  g_autoptr(sd_bus_message) reply = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  const char *owner = "";
  int code, r;

  code = aura_ctl_parse_command (ctl, NULL, 0, 0, &argc, &argv);
  if (code >= 0)
    return code;
  aura_ctl_catch_signals (ctl, AURA_CTL_EXIT_OK, NULL, NULL);
  sub = aura_ctl_subscribe (ctl->bus, NULL, &funcs, ctl, &r);
  if (sub == NULL)
    return aura_ctl_fail_call (ctl, NULL, r, NULL);
  /* Say where the daemon is now; arrivals and departures follow. */
  r = sd_bus_call_method (ctl->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetNameOwner", &error, &reply, "s",
                          AURA_BUS_NAME);
  if (r >= 0)
    r = sd_bus_message_read (reply, "s", &owner);
  else if (!sd_bus_error_has_name (&error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
    code = aura_ctl_fail_call (ctl, &error, r, NULL);
  sd_bus_error_free (&error);
  if (code >= 0)
    return code;
  print_daemon (ctl, r >= 0 ? owner : "");
  return aura_ctl_run_loop (ctl);
}

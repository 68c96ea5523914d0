/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "aura-bus-variant.h"
#include "aura-bus.h"
#include "aura-clock.h"
#include "aura-ctl-signals.h"

struct _AuraCtlSubscription {
  AuraCtlSignalFuncs funcs;
  gpointer user_data;
  sd_bus_slot *signals_slot;
  sd_bus_slot *owner_slot;
};

static const char *
terminal_type (const char *status)
{
  if (g_strcmp0 (status, "Completed") == 0)
    return "job-completed";
  if (g_strcmp0 (status, "Canceled") == 0)
    return "job-cancelled";
  return "job-failed";
}

/* The payload GetEvents would give for a Warning or JobFinished signal. */
static GVariant *
simple_payload (const char *job_id, guint64 event_id, const char *status, const char *message)
{
  g_autofree char *now = aura_format_timestamp (g_get_real_time ());
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "jobId", g_variant_new_string (job_id));
  if (status != NULL)
    g_variant_builder_add (&b, "{sv}", "status", g_variant_new_string (status));
  g_variant_builder_add (&b, "{sv}", "message", g_variant_new_string (message));
  g_variant_builder_add (&b, "{sv}", "timestamp", g_variant_new_string (now));
  g_variant_builder_add (&b, "{sv}", "eventId", g_variant_new_uint64 (event_id));
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

static int
on_signal (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraCtlSubscription *sub = userdata;
  const char *member = sd_bus_message_get_member (m);
  g_autoptr(GVariant) payload = NULL;
  const char *job_id = NULL, *type = NULL, *text = NULL, *status = NULL;
  uint64_t event_id = 0;
  int r;

  if (member == NULL)
    return 0;
  if (strcmp (member, "Heartbeat") == 0) {
    if (sub->funcs.heartbeat != NULL && sd_bus_message_read (m, "ss", &text, &status) >= 0)
      sub->funcs.heartbeat (text, status, sub->user_data);
    return 0;
  }
  /* A malformed signal (an old or foreign sender) is ignored, not fatal. */
  if (strcmp (member, "Progress") == 0) {
    r = sd_bus_message_read (m, "st", &job_id, &event_id);
    if (r < 0 || aura_bus_message_read_variant (m, &payload) <= 0 ||
        !g_variant_is_of_type (payload, G_VARIANT_TYPE_VARDICT))
      return 0;
    type = "step-progress";
  } else if (strcmp (member, "Warning") == 0) {
    if (sd_bus_message_read (m, "sts", &job_id, &event_id, &text) < 0)
      return 0;
    type = "warning";
    payload = simple_payload (job_id, event_id, NULL, text);
  } else if (strcmp (member, "JobFinished") == 0) {
    if (sd_bus_message_read (m, "stss", &job_id, &event_id, &status, &text) < 0)
      return 0;
    type = terminal_type (status);
    payload = simple_payload (job_id, event_id, status, text);
  } else {
    return 0;
  }
  if (sub->funcs.event != NULL)
    sub->funcs.event (job_id, type, event_id, payload, sub->user_data);
  return 0;
}

static int
on_name_owner_changed (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraCtlSubscription *sub = userdata;
  const char *name, *old_owner, *new_owner;

  if (sd_bus_message_read (m, "sss", &name, &old_owner, &new_owner) < 0 ||
      strcmp (name, AURA_BUS_NAME) != 0)
    return 0;
  if (sub->funcs.owner_changed != NULL)
    sub->funcs.owner_changed (old_owner, new_owner, sub->user_data);
  return 0;
}

AuraCtlSubscription *
aura_ctl_subscribe (sd_bus *bus, const char *job_id, const AuraCtlSignalFuncs *funcs,
                    gpointer user_data, int *r)
{
  AuraCtlSubscription *sub = g_new0 (AuraCtlSubscription, 1);
  g_autofree char *match = NULL;

  sub->funcs = *funcs;
  sub->user_data = user_data;
  /* sender= is resolved by the bus to the name's owner: nobody else can
   * inject events. Job ids need no quoting (see aura_job_id_is_valid). */
  match = g_strdup_printf ("type='signal',sender='" AURA_BUS_NAME "',path='" AURA_OBJECT_PATH "',"
                           "interface='" AURA_INTERFACE "'%s%s%s",
                           job_id != NULL ? ",arg0='" : "", job_id != NULL ? job_id : "",
                           job_id != NULL ? "'" : "");
  /* sd_bus_add_match() waits for the bus to confirm the rule. */
  *r = sd_bus_add_match (bus, &sub->signals_slot, match, on_signal, sub);
  if (*r >= 0)
    *r = sd_bus_add_match (bus, &sub->owner_slot,
                           "type='signal',sender='org.freedesktop.DBus',"
                           "path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',"
                           "member='NameOwnerChanged',arg0='" AURA_BUS_NAME "'",
                           on_name_owner_changed, sub);
  if (*r < 0) {
    aura_ctl_subscription_free (sub);
    return NULL;
  }
  return sub;
}

void
aura_ctl_subscription_free (AuraCtlSubscription *sub)
{
  if (sub == NULL)
    return;
  sd_bus_slot_unref (sub->signals_slot);
  sd_bus_slot_unref (sub->owner_slot);
  g_free (sub);
}

/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

G_BEGIN_DECLS

/* What a subscription delivers. Every callback is optional. */
typedef struct {
  /* A job event from a Progress, Warning or JobFinished signal. @type is the
   * event type of GetEvents and the web API ("step-progress", "warning",
   * "job-completed", "job-failed", "job-cancelled") and @payload an a{sv}
   * with the same keys as GetEvents gives. Warning and JobFinished signals
   * carry no time, so their payload's timestamp is the time of arrival. */
  void (*event) (const char *job_id, const char *type, guint64 event_id, GVariant *payload,
                 gpointer user_data);
  void (*heartbeat) (const char *timestamp, const char *status, gpointer user_data);
  /* The owner of org.aura.Progress changed; @new_owner "" means that the
   * daemon left the bus. */
  void (*owner_changed) (const char *old_owner, const char *new_owner, gpointer user_data);
} AuraCtlSignalFuncs;

typedef struct _AuraCtlSubscription AuraCtlSubscription;

/**
 * aura_ctl_subscribe:
 * Subscribes to the signals of org.aura.Progress, only those of @job_id
 * (with an arg0 match) unless it is NULL, and to the daemon's arrival and
 * departure. The match rules are in place when this returns, so a state
 * read afterwards cannot miss an event: callers read the state next and
 * drop events whose id it already covers. Returns NULL and sets *r (a
 * negative errno) on failure.
 */
AuraCtlSubscription *aura_ctl_subscribe (sd_bus *bus, const char *job_id,
                                         const AuraCtlSignalFuncs *funcs, gpointer user_data,
                                         int *r);
void                 aura_ctl_subscription_free (AuraCtlSubscription *sub);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraCtlSubscription, aura_ctl_subscription_free)

G_END_DECLS

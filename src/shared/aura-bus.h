/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

#include "aura-bus-kind.h"

G_BEGIN_DECLS

/* g_autoptr() for the sd-bus types we hold */
G_DEFINE_AUTOPTR_CLEANUP_FUNC (sd_bus, sd_bus_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (sd_bus_message, sd_bus_message_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (sd_bus_creds, sd_bus_creds_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (sd_bus_slot, sd_bus_slot_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (sd_bus_track, sd_bus_track_unref)

#define AURA_BUS_NAME "org.aura.Progress"
#define AURA_OBJECT_PATH "/org/aura/Progress"
#define AURA_JOBS_PATH "/org/aura/Progress/jobs"
#define AURA_INTERFACE "org.aura.Progress"
#define AURA_JOB_INTERFACE "org.aura.Progress.Job"
#define AURA_PROVIDER_INTERFACE "org.aura.Progress.Provider"

/* CancelJob answers when every provider has, or after the daemon's cancel
 * timeout (at most 600 s by configuration): a caller waits a little longer. */
#define AURA_CANCEL_CALL_TIMEOUT_US (660 * G_USEC_PER_SEC)

#define AURA_DBUS_ERROR_NO_SUCH_JOB "org.aura.Progress.Error.NoSuchJob"
#define AURA_DBUS_ERROR_JOB_EXISTS "org.aura.Progress.Error.JobExists"
#define AURA_DBUS_ERROR_NOT_RUNNING "org.aura.Progress.Error.NotRunning"
#define AURA_DBUS_ERROR_LIMIT_EXCEEDED "org.aura.Progress.Error.LimitExceeded"
#define AURA_DBUS_ERROR_NO_SUCH_PROVIDER "org.aura.Progress.Error.NoSuchProvider"


/* The --system / --session / --address=ADDRESS options every bus client
 * accepts. */
typedef struct {
  gboolean system;
  gboolean session;
  char *address;
} AuraBusOptions;

/* Adds the three options to a GOptionContext's main group. */
void     aura_bus_options_add (GOptionContext *context, AuraBusOptions *options);
void     aura_bus_options_clear (AuraBusOptions *options);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AuraBusOptions, aura_bus_options_clear)

/* Connects as the options say (or to the fallback bus when none is given)
 * and starts the connection. Errors say which bus could not be reached. */
sd_bus  *aura_bus_open (const AuraBusOptions *options, AuraBusKind fallback,
                        const char *description, GError **error);
/* Human description of the bus the options select, e.g. "the system bus". */
char    *aura_bus_describe (const AuraBusOptions *options, AuraBusKind fallback);

/* Maps a GError from the core (AURA_ERROR) to the D-Bus error of the
 * contract and sets it on ret_error; returns the negative errno sd-bus
 * handlers return. */
int      aura_bus_error_from_gerror (sd_bus_error *ret_error, const GError *error);
/* The other way round, for clients: a D-Bus error name to an AuraErrorCode. */
int      aura_bus_error_to_code (const sd_bus_error *error);
/* Converts a failed call's sd_bus_error into a GError in AURA_ERROR. */
void     aura_bus_set_gerror (GError **error, const sd_bus_error *bus_error, int r);

/* sd_bus_call() that a signal cannot interrupt. libsystemd 252's fails with
 * -EINTR when a signal handler runs while it waits (GLib installs handlers
 * for g_unix_signal_add() and for child watches), after the call was sent,
 * so it cannot be retried. Signals are held back while it waits and
 * delivered right after it, except faults and SIGINT, SIGTERM, SIGHUP and
 * SIGQUIT when they have no handler (they end the process at once, as
 * anyone pressing Ctrl-C expects). */
int      aura_bus_call (sd_bus *bus, sd_bus_message *m, uint64_t usec, sd_bus_error *ret_error,
                        sd_bus_message **reply);

G_END_DECLS

/* SPDX-License-Identifier: MIT */
#include "aura-bus.h"
#include "aura-daemon.h"

/* Provider registration and orchestrated cancellation: issue 3 builds them
 * here. Until then the methods say so rather than pretend. */

struct _AuraDaemonCancel {
  AuraDaemon *daemon;
};

AuraDaemonCancel *
aura_daemon_cancel_new (AuraDaemon *daemon)
{
  AuraDaemonCancel *self = g_new0 (AuraDaemonCancel, 1);
  self->daemon = daemon;
  return self;
}

void
aura_daemon_cancel_free (AuraDaemonCancel *self)
{
  g_free (self);
}

void
aura_daemon_cancel_job_removed (AuraDaemonCancel *self, AuraJob *job)
{
}

static int
not_yet (sd_bus_error *ret_error)
{
  return sd_bus_error_set (ret_error, SD_BUS_ERROR_NOT_SUPPORTED,
                           "provider registration and cancellation are not available yet");
}

int
aura_daemon_method_register_provider (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  return not_yet (ret_error);
}

int
aura_daemon_method_unregister_provider (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  return not_yet (ret_error);
}

int
aura_daemon_method_cancel_job (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  return not_yet (ret_error);
}

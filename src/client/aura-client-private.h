/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-bus.h>

#include "aura-provider.h"

G_BEGIN_DECLS

/* What aura-client.c and aura-provider.c share; not installed. */

sd_bus         *aura_client_get_bus (AuraClient *client);
/* A path for a new exported object of this client. */
char           *aura_client_new_object_path (AuraClient *client, const char *kind);
/* FALSE with a lost-connection error once the bus is gone. */
gboolean        aura_client_check_connected (AuraClient *client, GError **error);
/* A synchronous call on org.aura.Progress; the reply, or NULL with @error
 * (the daemon's error mapped into AURA_ERROR). */
sd_bus_message *aura_client_call (AuraClient *client, uint64_t timeout_us, GError **error,
                                  const char *member, const char *types, ...);

G_END_DECLS

/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

G_BEGIN_DECLS

/* Called once, from the main loop, when the connection is gone (the bus
 * daemon exited or closed us). The source removes itself afterwards. */
typedef void (*AuraBusLostFunc) (sd_bus *bus, int error, gpointer user_data);

/**
 * aura_bus_attach:
 * Runs @bus on the thread-default GLib main context: polls its fd for the
 * events it asks for, honours its (absolute, monotonic) timeout and
 * dispatches with sd_bus_process(). Returns the source id.
 */
guint aura_bus_attach (sd_bus *bus, AuraBusLostFunc lost, gpointer user_data);

G_END_DECLS

/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

G_BEGIN_DECLS

/* sd-bus and GVariant share the D-Bus type system; these two functions
 * carry any value across, so that the core can speak GVariant while the bus
 * layer speaks sd-bus. File descriptors ('h') are not supported. */

/* Appends @value (any type) to @m. Returns 0 or a negative errno. */
int aura_bus_message_append_variant (sd_bus_message *m, GVariant *value);

/* Reads the next complete value of @m as a new GVariant. Returns 1 and sets
 * *out, 0 at the end of the current container, or a negative errno. */
int aura_bus_message_read_variant (sd_bus_message *m, GVariant **out);

/* The same, but fails with -E2BIG as soon as the value holds more than
 * @max_values values in all (containers included): a caller must not make
 * us build a huge tree from one message. */
int aura_bus_message_read_variant_limited (sd_bus_message *m, guint max_values, GVariant **out);

/* Called for every entry of an a{sv}: @type is the D-Bus type code of its
 * value; @value points at the value when it is basic (a const char * for
 * s, o and g; the integer of that type, a double, or an int for b) and is
 * NULL for a container, which has been read (and counted) and dropped. */
typedef void (*AuraBusVardictFunc) (const char *key, char type, const void *value,
                                    gpointer user_data);

/* Reads the next value of @m, an a{sv}, entry by entry, without building
 * the dictionary. Counts values and fails exactly as
 * aura_bus_message_read_variant_limited() does. Returns 1, 0 at the end of
 * the current container, -EBADMSG when the next value is not an a{sv}, or a
 * negative errno. */
int aura_bus_message_read_vardict (sd_bus_message *m, guint max_values, AuraBusVardictFunc func,
                                   gpointer user_data);

/* Reads the rest of @m (from the current position to the end of the body)
 * as one tuple, e.g. a reply "sb" as "(sb)"; callers check its type with
 * g_variant_is_of_type(). Returns 0 and sets *out (not floating), or a
 * negative errno. */
int aura_bus_message_read_body (sd_bus_message *m, GVariant **out);

G_END_DECLS

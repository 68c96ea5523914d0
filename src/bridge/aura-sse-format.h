/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "aura-event-source.h"

G_BEGIN_DECLS

/* The text/event-stream wire format. A field value never contains a line
 * break: data with line breaks (CR, LF or CRLF) becomes one `data:` line per
 * line, which the client joins back with LF. */

/* Appends one event: `id:` (unless @id is 0), `event:`, `data:` lines and
 * the blank line that dispatches it. */
void    aura_sse_append_event (GString *out, const char *type, guint64 id, const char *data);
/* Appends @event as an SSE event with its id, the payload as compact JSON. */
void    aura_sse_append_source_event (GString *out, AuraSourceEvent *event);
/* The reconnection delay hint browsers honour. */
void    aura_sse_append_retry (GString *out, guint retry_ms);
/* A heartbeat: `{timestamp, status, intervalSeconds}` without an id;
 * @status is "alive" or "daemon-unavailable". The interval lets a client's
 * watchdog follow the bridge's (it declares a stream dead after missing a
 * few). */
GBytes *aura_sse_heartbeat_new (gint64 real_time_us, const char *status, double interval_seconds);

G_END_DECLS

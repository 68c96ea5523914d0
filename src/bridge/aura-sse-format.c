/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "aura-clock.h"
#include "aura-json.h"
#include "aura-sse-format.h"

void
aura_sse_append_event (GString *out, const char *type, guint64 id, const char *data)
{
  const char *p = data;

  if (id != 0)
    g_string_append_printf (out, "id: %" G_GUINT64_FORMAT "\n", id);
  g_string_append_printf (out, "event: %s\n", type);
  for (;;) {
    size_t n = strcspn (p, "\r\n");
    g_string_append (out, "data: ");
    g_string_append_len (out, p, (gssize) n);
    g_string_append_c (out, '\n');
    p += n;
    if (*p == '\0')
      break;
    p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
  }
  g_string_append_c (out, '\n');
}

void
aura_sse_append_source_event (GString *out, AuraSourceEvent *event)
{
  aura_sse_append_event (out, event->type, event->id, aura_source_event_get_json (event));
}

void
aura_sse_append_retry (GString *out, guint retry_ms)
{
  g_string_append_printf (out, "retry: %u\n\n", retry_ms);
}

GBytes *
aura_sse_heartbeat_new (gint64 real_time_us, const char *status, double interval_seconds)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *ts = aura_format_timestamp (real_time_us);
  g_autofree char *data = NULL;
  GString *out = g_string_new (NULL);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "timestamp");
  json_builder_add_string_value (b, ts);
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, status);
  json_builder_set_member_name (b, "intervalSeconds");
  json_builder_add_double_value (b, interval_seconds);
  json_builder_end_object (b);
  node = json_builder_get_root (b);
  data = aura_json_to_string (node);
  aura_sse_append_event (out, "heartbeat", 0, data);
  return g_string_free_to_bytes (out);
}

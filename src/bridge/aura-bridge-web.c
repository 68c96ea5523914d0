/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "aura-bridge.h"

/* The web UI (data/web/) is compiled into the binary as a GResource:
 * nothing on disk to find, to go stale or to be swapped. Only names listed
 * in data/web/meson.build exist; anything else is a 404. */
#define WEB_PREFIX "/org/aura/Progress/web/"

static const struct {
  const char *suffix;
  const char *type;
} content_types[] = {
  { ".html", "text/html; charset=utf-8" },
  { ".js", "text/javascript; charset=utf-8" },
  { ".mjs", "text/javascript; charset=utf-8" },
  { ".css", "text/css; charset=utf-8" },
  { ".json", "application/json" },
  { ".webmanifest", "application/manifest+json" },
  { ".svg", "image/svg+xml" },
  { ".png", "image/png" },
  { ".ico", "image/vnd.microsoft.icon" },
  { ".txt", "text/plain; charset=utf-8" },
  { ".woff2", "font/woff2" },
};

/* Plain ES modules from our own origin; the events come from it too. */
static const char content_security_policy[] =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

static const char *
content_type_for (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (content_types); i++) {
    if (g_str_has_suffix (name, content_types[i].suffix))
      return content_types[i].type;
  }
  return "application/octet-stream";
}

static gboolean
segment_ok (const char *s)
{
  if (s[0] == '\0' || s[0] == '.')
    return FALSE;
  for (; *s != '\0'; s++) {
    if (!g_ascii_isalnum (*s) && *s != '.' && *s != '_' && *s != '-')
      return FALSE;
  }
  return TRUE;
}

static void
not_found (SoupServerMessage *msg)
{
  aura_http_respond_error (msg, SOUP_STATUS_NOT_FOUND, "not-found",
                           "no such page; the web UI is at /, the API under /api/");
}

void
aura_bridge_web_serve (SoupServerMessage *msg, char **segments)
{
  SoupMessageHeaders *resp = soup_server_message_get_response_headers (msg);
  g_autoptr(GString) path = g_string_new (WEB_PREFIX);
  g_autoptr(GBytes) data = NULL;
  g_autofree char *digest = NULL, *etag = NULL;
  const char *if_none_match;

  if (segments[0] == NULL)
    g_string_append (path, "index.html");
  for (guint i = 0; segments[i] != NULL; i++) {
    if (!segment_ok (segments[i])) {
      not_found (msg);
      return;
    }
    g_string_append_printf (path, i == 0 ? "%s" : "/%s", segments[i]);
  }
  data = g_resources_lookup_data (path->str, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  if (data == NULL) {
    not_found (msg);
    return;
  }

  /* Module URLs carry no version: browsers revalidate each time and get a
   * 304 while the bridge has not changed. */
  digest = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, data);
  etag = g_strdup_printf ("\"%s\"", digest);
  soup_message_headers_replace (resp, "ETag", etag);
  soup_message_headers_replace (resp, "Cache-Control", "no-cache");
  soup_message_headers_replace (resp, "Content-Security-Policy", content_security_policy);
  soup_message_headers_replace (resp, "Referrer-Policy", "no-referrer");
  if_none_match = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                "If-None-Match");
  if (g_strcmp0 (if_none_match, etag) == 0) {
    soup_server_message_set_status (msg, SOUP_STATUS_NOT_MODIFIED, NULL);
    return;
  }
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_replace (resp, "Content-Type", content_type_for (path->str));
  soup_message_body_append_bytes (soup_server_message_get_response_body (msg), data);
}

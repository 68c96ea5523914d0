/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "aura-bridge.h"
#include "aura-error.h"
#include "aura-json.h"

static const char *
reason_phrase (guint status)
{
  switch (status) {
  case AURA_HTTP_TOO_MANY_REQUESTS: return "Too Many Requests";
  case AURA_HTTP_HEADERS_TOO_LARGE: return "Request Header Fields Too Large";
  default: return NULL;             /* libsoup knows it */
  }
}

void
aura_http_respond_json (SoupServerMessage *msg, guint status, JsonNode *node)
{
  char *text = aura_json_to_string (node);

  soup_server_message_set_status (msg, status, reason_phrase (status));
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control",
                                "no-store");
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, text,
                                    strlen (text));
}

static void
respond_error_literal (SoupServerMessage *msg, guint status, const char *code,
                       const char *message, const char *job_id)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) node = NULL;
  /* Messages quote what the client sent (a method, a path, an Origin),
   * which may be any bytes; JSON is UTF-8, and json-glib writes strings
   * as they are. */
  g_autofree char *valid = g_utf8_make_valid (message, -1);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, code);
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, valid);
  json_builder_set_member_name (b, "status");
  json_builder_add_int_value (b, status);
  if (job_id != NULL) {
    json_builder_set_member_name (b, "jobId");
    json_builder_add_string_value (b, job_id);
  }
  json_builder_end_object (b);
  node = json_builder_get_root (b);
  aura_http_respond_json (msg, status, node);
}

void
aura_http_respond_error (SoupServerMessage *msg, guint status, const char *code,
                         const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  respond_error_literal (msg, status, code, message, NULL);
}

void
aura_http_respond_gerror (SoupServerMessage *msg, const GError *error, const char *job_id)
{
  static const struct {
    int code;
    guint status;
    const char *name;
  } aura_map[] = {
    { AURA_ERROR_NO_SUCH_JOB, SOUP_STATUS_NOT_FOUND, "no-such-job" },
    { AURA_ERROR_NOT_RUNNING, SOUP_STATUS_CONFLICT, "not-running" },
    { AURA_ERROR_ACCESS_DENIED, SOUP_STATUS_FORBIDDEN, "access-denied" },
    { AURA_ERROR_INVALID_ARGS, SOUP_STATUS_BAD_REQUEST, "invalid-argument" },
    { AURA_ERROR_LIMIT_EXCEEDED, AURA_HTTP_TOO_MANY_REQUESTS, "limit-exceeded" },
  };
  guint status = SOUP_STATUS_BAD_GATEWAY;
  const char *code = "daemon-error";

  if (error->domain == AURA_ERROR) {
    for (guint i = 0; i < G_N_ELEMENTS (aura_map); i++) {
      if (aura_map[i].code == error->code) {
        status = aura_map[i].status;
        code = aura_map[i].name;
      }
    }
  } else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED)) {
    status = SOUP_STATUS_SERVICE_UNAVAILABLE;
    code = "daemon-unavailable";
  } else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
    status = SOUP_STATUS_GATEWAY_TIMEOUT;
    code = "daemon-timeout";
  } else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED)) {
    status = SOUP_STATUS_NOT_IMPLEMENTED;
    code = "not-supported";
  }
  if (status == SOUP_STATUS_SERVICE_UNAVAILABLE)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After",
                                  "1");
  respond_error_literal (msg, status, code, error->message, job_id);
}

/* ---- CORS -------------------------------------------------------------- */

static const char cors_allow_headers[] = "Last-Event-ID, Authorization, Content-Type";

/* Whether a request for @host (the Host header: a name or an IP literal,
 * with or without a port) may be served. A page of another site whose name
 * an attacker made resolve to this machine (DNS rebinding) sends its own
 * name: only addresses, localhost and the names allowed by --allowed-host
 * are served. */
static gboolean
host_allowed (const AuraBridgeConfig *config, const char *host)
{
  g_autofree char *name = NULL;
  const char *colon;

  if (host[0] == '[')                 /* an IPv6 literal */
    return strchr (host, ']') != NULL;
  colon = strrchr (host, ':');
  name = g_ascii_strdown (host, colon != NULL ? colon - host : -1);
  if (g_hostname_is_ip_address (name) || strcmp (name, "localhost") == 0 ||
      g_str_has_suffix (name, ".localhost"))
    return TRUE;
  for (guint i = 0; config->allowed_hosts != NULL && config->allowed_hosts[i] != NULL; i++) {
    if (g_ascii_strcasecmp (config->allowed_hosts[i], name) == 0)
      return TRUE;
  }
  return FALSE;
}

gboolean
aura_http_apply_cors (const AuraBridgeConfig *config, SoupServerMessage *msg)
{
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *resp = soup_server_message_get_response_headers (msg);
  const char *origin = soup_message_headers_get_one (req, "Origin");
  const char *host = soup_message_headers_get_one (req, "Host");
  g_autofree char *own_origin = host != NULL ? g_strconcat ("http://", host, NULL) : NULL;

  if (host != NULL && !host_allowed (config, host)) {
    aura_http_respond_error (msg, SOUP_STATUS_FORBIDDEN, "host-not-allowed",
                             "requests for the host %s are not allowed (see --allowed-host)",
                             host);
    return FALSE;
  }

  /* The answer depends on the Origin: caches must keep them apart. */
  if (config->cors_origins != NULL)
    soup_message_headers_append (resp, "Vary", "Origin");
  if (origin == NULL || g_strcmp0 (origin, own_origin) == 0)
    return TRUE;
  if (config->cors_origins != NULL &&
      (g_strv_contains ((const char *const *) config->cors_origins, origin) ||
       g_strv_contains ((const char *const *) config->cors_origins, "*"))) {
    soup_message_headers_replace (resp, "Access-Control-Allow-Origin", origin);
    soup_message_headers_replace (resp, "Access-Control-Expose-Headers", "Retry-After");
    return TRUE;
  }
  /* Another site's page: a browser would not let it read the answer, but
   * a POST would still cancel a job. Refuse before anything happens. */
  aura_http_respond_error (msg, SOUP_STATUS_FORBIDDEN, "origin-not-allowed",
                           "requests from %s are not allowed (see --cors-origin)", origin);
  return FALSE;
}

void
aura_http_respond_options (const AuraBridgeConfig *config, SoupServerMessage *msg,
                           const char *allow)
{
  SoupMessageHeaders *resp = soup_server_message_get_response_headers (msg);
  g_autofree char *methods = g_strconcat (allow, ", OPTIONS", NULL);

  soup_message_headers_replace (resp, "Allow", methods);
  if (soup_message_headers_get_one (resp, "Access-Control-Allow-Origin") != NULL) {
    /* A preflight: EventSource sends Last-Event-ID when it reconnects, a
     * cancel button sends Authorization. */
    soup_message_headers_replace (resp, "Access-Control-Allow-Methods", methods);
    soup_message_headers_replace (resp, "Access-Control-Allow-Headers", cors_allow_headers);
    soup_message_headers_replace (resp, "Access-Control-Max-Age", "600");
  }
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

/* ---- bearer token ------------------------------------------------------ */

/* Compares in time independent of where the strings differ. */
static gboolean
secret_equal (const char *a, const char *b)
{
  size_t la = strlen (a), lb = strlen (b);
  guint8 diff = la != lb;

  for (size_t i = 0; i < lb; i++)
    diff |= (guint8) (a[i < la ? i : 0] ^ b[i]);
  return diff == 0;
}

gboolean
aura_http_check_token (const AuraBridgeConfig *config, SoupServerMessage *msg)
{
  const char *auth;

  if (config->token == NULL)
    return TRUE;
  auth = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                       "Authorization");
  if (auth != NULL && g_ascii_strncasecmp (auth, "Bearer ", 7) == 0 &&
      secret_equal (auth + 7, config->token))
    return TRUE;
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "WWW-Authenticate", "Bearer realm=\"aura-sse-bridge\"");
  aura_http_respond_error (msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                           auth == NULL ? "cancelling needs an Authorization: Bearer token"
                                        : "the bearer token is not valid");
  return FALSE;
}

/* ---- paths ------------------------------------------------------------- */

char **
aura_http_split_path (const char *raw_path)
{
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) parts = NULL;

  if (raw_path == NULL || raw_path[0] != '/')
    return NULL;
  parts = g_strsplit (raw_path + 1, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++) {
    char *decoded;
    /* an empty segment only at the end: "/api/jobs/" is "/api/jobs" */
    if (parts[i][0] == '\0') {
      if (parts[i + 1] != NULL)
        return NULL;
      break;
    }
    /* "%2F" stays in the segment it is in: a job id with it is invalid and
     * gets the API's 400, a file name with it is not found */
    decoded = g_uri_unescape_segment (parts[i], NULL, NULL);
    if (decoded == NULL)
      return NULL;
    g_ptr_array_add (out, decoded);
  }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

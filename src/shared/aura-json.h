/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The dictionary keys of the D-Bus API are the web API's JSON field names,
 * so one mapping serves every event and state. */

/* a{sv} (or any value) to JSON. A step-progress payload gets the optional
 * fields of the seed's ProgressEventDto as null when absent, so clients see
 * every field. */
JsonNode *aura_json_from_variant (GVariant *value);
JsonNode *aura_json_from_event_payload (const char *event_type, GVariant *payload);
/* Adds the absent optional fields of a step-progress payload as null. */
void      aura_json_fill_progress_nulls (JsonObject *obj);

/* The GVariant type of CancelJob's reply: (current_status, message,
 * cleanup_scheduled, provider_statuses (name, type, supports_cancellation,
 * status, warning or ""), warnings, correlation_id or ""). */
#define AURA_CANCEL_REPLY_TYPE "(ssba(ssbss)ass)"

/* CancelJob's reply (of AURA_CANCEL_REPLY_TYPE) as the web API's cancel
 * response, the seed's example: jobId, message, currentStatus,
 * cleanupScheduled, providerStatuses [{providerName, providerType,
 * supportsCancellation, status, warning}] (no warning member when the
 * provider has none), warnings, correlationId (null when none). */
JsonNode *aura_json_from_cancel_reply (const char *job_id, GVariant *reply);

/* JSON object to a{sv}, for values whose D-Bus types are known by key:
 * numbers become 'd' unless they are integers, in which case 'x';
 * fractional numbers of 1e15 and beyond are refused (see fix_doubles()). Used by
 * the trace replay and by tests. Returns NULL with error on anything that is
 * not an object of strings, numbers, booleans and arrays of strings. */
GVariant *aura_json_to_vardict (JsonNode *node, GError **error);

/* Serialises compactly (one line). */
char     *aura_json_to_string (JsonNode *node);

G_END_DECLS

/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <string.h>

#include "aura-error.h"
#include "aura-json.h"

#define JSON_SAFE_DOUBLE 1e15
/* ... and those below this (but 0) print in exponent form: see fix_doubles() */
#define JSON_TINY_DOUBLE 1e-4

static const char *const progress_optional_keys[] = {
  "etaSeconds", "expectedEndTime", "correlationId", "substageDetail", "currentItem", "totalItems",
};

/* json-glib 1.6 writes a double that "%.17g" prints without a decimal point
 * as that text plus ".0": 1e30 becomes "1e+30.0", which is not JSON. Only
 * integral values of 1e17 and beyond print so; write them as integers when
 * they fit, as null (unknown) when they do not. Our payloads never hold such
 * numbers, but a mapping must not emit invalid JSON for any input. */

/* Likewise a number below 1e-4 prints in exponent form, and when its
 * shortest form has one digit, without a decimal point: 1e-300 becomes
 * "1e-300.0". Such numbers are refused on the way in and written as 0. */
static gboolean
writable_double (double d)
{
  return isfinite (d) && fabs (d) < JSON_SAFE_DOUBLE && (d == 0 || fabs (d) >= JSON_TINY_DOUBLE);
}

static void
fix_doubles (JsonNode *node)
{
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_DOUBLE) {
    double d = json_node_get_double (node);
    if (fabs (d) >= JSON_SAFE_DOUBLE) {
      if (d == floor (d) && fabs (d) < 9.0e18)
        json_node_set_int (node, (gint64) d);
      else
        json_node_init_null (node);
    } else if (!writable_double (d)) {
      json_node_set_double (node, 0);
    }
  } else if (JSON_NODE_HOLDS_ARRAY (node)) {
    JsonArray *arr = json_node_get_array (node);
    for (guint i = 0; i < json_array_get_length (arr); i++)
      fix_doubles (json_array_get_element (arr, i));
  } else if (JSON_NODE_HOLDS_OBJECT (node)) {
    g_autoptr(GList) members = json_object_get_values (json_node_get_object (node));
    for (GList *l = members; l != NULL; l = l->next)
      fix_doubles (l->data);
  }
}

JsonNode *
aura_json_from_variant (GVariant *value)
{
  JsonNode *node = json_gvariant_serialize (value);
  fix_doubles (node);
  return node;
}

JsonNode *
aura_json_from_event_payload (const char *event_type, GVariant *payload)
{
  JsonNode *node = aura_json_from_variant (payload);

  if (g_strcmp0 (event_type, "step-progress") != 0 || !JSON_NODE_HOLDS_OBJECT (node))
    return node;
  aura_json_fill_progress_nulls (json_node_get_object (node));
  return node;
}

void
aura_json_fill_progress_nulls (JsonObject *obj)
{
  for (guint i = 0; i < G_N_ELEMENTS (progress_optional_keys); i++) {
    if (!json_object_has_member (obj, progress_optional_keys[i]))
      json_object_set_null_member (obj, progress_optional_keys[i]);
  }
}

static void
add_string (JsonBuilder *b, const char *member, const char *value)
{
  json_builder_set_member_name (b, member);
  json_builder_add_string_value (b, value);
}

JsonNode *
aura_json_from_cancel_reply (const char *job_id, GVariant *reply)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(GVariantIter) providers = NULL, warnings = NULL;
  const char *status, *message, *correlation_id, *name, *type, *pstatus, *warning;
  gboolean cleanup, supports;

  g_return_val_if_fail (g_variant_is_of_type (reply, G_VARIANT_TYPE (AURA_CANCEL_REPLY_TYPE)),
                        NULL);
  g_variant_get (reply, "(&s&sba(ssbss)as&s)", &status, &message, &cleanup, &providers,
                 &warnings, &correlation_id);

  json_builder_begin_object (b);
  add_string (b, "jobId", job_id);
  add_string (b, "message", message);
  add_string (b, "currentStatus", status);
  json_builder_set_member_name (b, "cleanupScheduled");
  json_builder_add_boolean_value (b, cleanup);
  json_builder_set_member_name (b, "providerStatuses");
  json_builder_begin_array (b);
  while (g_variant_iter_next (providers, "(&s&sb&s&s)", &name, &type, &supports, &pstatus,
                              &warning)) {
    json_builder_begin_object (b);
    add_string (b, "providerName", name);
    add_string (b, "providerType", type);
    json_builder_set_member_name (b, "supportsCancellation");
    json_builder_add_boolean_value (b, supports);
    add_string (b, "status", pstatus);
    /* as in the seed: no warning member when there is none */
    if (warning[0] != '\0')
      add_string (b, "warning", warning);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "warnings");
  json_builder_begin_array (b);
  while (g_variant_iter_next (warnings, "&s", &warning))
    json_builder_add_string_value (b, warning);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "correlationId");
  if (correlation_id[0] != '\0')
    json_builder_add_string_value (b, correlation_id);
  else
    json_builder_add_null_value (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static GVariant *
value_to_variant (JsonNode *node, const char *key, GError **error)
{
  if (JSON_NODE_HOLDS_VALUE (node)) {
    switch (json_node_get_value_type (node)) {
    case G_TYPE_STRING: return g_variant_new_string (json_node_get_string (node));
    case G_TYPE_BOOLEAN: return g_variant_new_boolean (json_node_get_boolean (node));
    case G_TYPE_INT64: return g_variant_new_int64 (json_node_get_int (node));
    case G_TYPE_DOUBLE:
      /* "1e400" parses as infinity, which JSON cannot carry back; see
       * fix_doubles() for the bound */
      if (!writable_double (json_node_get_double (node)))
        goto bad;
      return g_variant_new_double (json_node_get_double (node));
    default: break;
    }
  } else if (JSON_NODE_HOLDS_ARRAY (node)) {
    JsonArray *arr = json_node_get_array (node);
    GVariantBuilder b;
    g_variant_builder_init (&b, G_VARIANT_TYPE_STRING_ARRAY);
    for (guint i = 0; i < json_array_get_length (arr); i++) {
      JsonNode *el = json_array_get_element (arr, i);
      if (!JSON_NODE_HOLDS_VALUE (el) || json_node_get_value_type (el) != G_TYPE_STRING) {
        g_variant_builder_clear (&b);
        goto bad;
      }
      g_variant_builder_add (&b, "s", json_node_get_string (el));
    }
    return g_variant_builder_end (&b);
  } else if (JSON_NODE_HOLDS_OBJECT (node)) {
    /* nested objects of numbers: weights a{sd} */
    JsonObject *obj = json_node_get_object (node);
    g_autoptr(GList) members = json_object_get_members (obj);
    GVariantBuilder b;
    g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sd}"));
    for (GList *l = members; l != NULL; l = l->next) {
      const char *k = l->data;
      JsonNode *v = json_object_get_member (obj, k);
      if (!JSON_NODE_HOLDS_VALUE (v) ||
          (json_node_get_value_type (v) != G_TYPE_DOUBLE &&
           json_node_get_value_type (v) != G_TYPE_INT64) ||
          !writable_double (json_node_get_double (v))) {
        g_variant_builder_clear (&b);
        goto bad;
      }
      g_variant_builder_add (&b, "{sd}", k, json_node_get_double (v));
    }
    return g_variant_builder_end (&b);
  }
bad:
  g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
               "'%s' must be a string, a number (fractional ones 0 or from 1e-4 to 1e15), a "
               "boolean, an array of strings or an object of such numbers",
               key);
  return NULL;
}

GVariant *
aura_json_to_vardict (JsonNode *node, GError **error)
{
  GVariantBuilder b;
  g_autoptr(GList) members = NULL;
  JsonObject *obj;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error_literal (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS, "expected a JSON object");
    return NULL;
  }
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  obj = json_node_get_object (node);
  /* in document order: json_object_iter walks a hash table */
  members = json_object_get_members (obj);
  for (GList *l = members; l != NULL; l = l->next) {
    const char *key = l->data;
    JsonNode *member = json_object_get_member (obj, key);
    GVariant *v;
    if (JSON_NODE_HOLDS_NULL (member))
      continue;                       /* null = absent, as in the web API */
    v = value_to_variant (member, key, error);
    if (v == NULL) {
      g_variant_builder_clear (&b);
      return NULL;
    }
    g_variant_builder_add (&b, "{sv}", key, v);
  }
  return g_variant_builder_end (&b);
}

char *
aura_json_to_string (JsonNode *node)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();

  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}

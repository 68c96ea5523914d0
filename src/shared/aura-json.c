/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "aura-error.h"
#include "aura-json.h"

static const char *const progress_optional_keys[] = {
  "etaSeconds", "expectedEndTime", "correlationId", "substageDetail", "currentItem", "totalItems",
};

JsonNode *
aura_json_from_variant (GVariant *value)
{
  return json_gvariant_serialize (value);
}

JsonNode *
aura_json_from_event_payload (const char *event_type, GVariant *payload)
{
  JsonNode *node = json_gvariant_serialize (payload);

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

static GVariant *
value_to_variant (JsonNode *node, const char *key, GError **error)
{
  if (JSON_NODE_HOLDS_VALUE (node)) {
    switch (json_node_get_value_type (node)) {
    case G_TYPE_STRING: return g_variant_new_string (json_node_get_string (node));
    case G_TYPE_BOOLEAN: return g_variant_new_boolean (json_node_get_boolean (node));
    case G_TYPE_INT64: return g_variant_new_int64 (json_node_get_int (node));
    case G_TYPE_DOUBLE: return g_variant_new_double (json_node_get_double (node));
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
    GVariantBuilder b;
    JsonObjectIter it;
    const char *k;
    JsonNode *v;
    g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sd}"));
    json_object_iter_init (&it, obj);
    while (json_object_iter_next (&it, &k, &v)) {
      if (!JSON_NODE_HOLDS_VALUE (v) || (json_node_get_value_type (v) != G_TYPE_DOUBLE &&
                                         json_node_get_value_type (v) != G_TYPE_INT64)) {
        g_variant_builder_clear (&b);
        goto bad;
      }
      g_variant_builder_add (&b, "{sd}", k, json_node_get_double (v));
    }
    return g_variant_builder_end (&b);
  }
bad:
  g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
               "'%s' must be a string, number, boolean, array of strings or object of numbers",
               key);
  return NULL;
}

GVariant *
aura_json_to_vardict (JsonNode *node, GError **error)
{
  GVariantBuilder b;
  JsonObjectIter it;
  const char *key;
  JsonNode *member;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error_literal (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS, "expected a JSON object");
    return NULL;
  }
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  json_object_iter_init (&it, json_node_get_object (node));
  while (json_object_iter_next (&it, &key, &member)) {
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

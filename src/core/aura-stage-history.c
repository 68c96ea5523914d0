/* SPDX-License-Identifier: MIT */
#include <math.h>

#include <json-glib/json-glib.h>

#include "aura-error.h"
#include "aura-stage-history.h"

/* The file is a few KiB; anything much larger is not ours. */
#define MAX_FILE_SIZE (1024 * 1024)
#define FILE_VERSION 1

struct _AuraStageHistory {
  guint max_records;
  GArray *records;                    /* AuraStageRecord, oldest first */
};

AuraStageHistory *
aura_stage_history_new (guint max_records)
{
  AuraStageHistory *self = g_new0 (AuraStageHistory, 1);

  self->max_records = MAX (max_records, 1);
  self->records = g_array_new (FALSE, TRUE, sizeof (AuraStageRecord));
  return self;
}

void
aura_stage_history_free (AuraStageHistory *self)
{
  if (self == NULL)
    return;
  g_array_unref (self->records);
  g_free (self);
}

void
aura_stage_history_add (AuraStageHistory *self, const AuraStageRecord *record)
{
  AuraStageRecord r = *record;

  for (guint s = 0; s < AURA_STAGE_COUNT; s++) {
    if (!isfinite (r.seconds[s]))
      r.seconds[s] = 0;
    r.seconds[s] = CLAMP (r.seconds[s], 0, AURA_STAGE_HISTORY_MAX_SECONDS);
  }
  if (self->records->len >= self->max_records)
    g_array_remove_range (self->records, 0, self->records->len - self->max_records + 1);
  g_array_append_val (self->records, r);
}

guint
aura_stage_history_len (AuraStageHistory *self)
{
  return self->records->len;
}

const AuraStageRecord *
aura_stage_history_get (AuraStageHistory *self, guint index)
{
  g_return_val_if_fail (index < self->records->len, NULL);
  return &g_array_index (self->records, AuraStageRecord, index);
}

void
aura_stage_history_clear (AuraStageHistory *self)
{
  g_array_set_size (self->records, 0);
}

/* ---- the file ----------------------------------------------------------
 *
 * {"version": 1, "jobs": [{"seconds": {"planning": 12.5, ...},
 *                          "items": {"tts": 10, ...}}, ...]}
 */

static gboolean
corrupt (GError **error, const char *what)
{
  g_set_error (error, AURA_ERROR, AURA_ERROR_FAILED, "%s", what);
  return FALSE;
}

static gboolean
parse_stage_map (JsonNode *node, gboolean integers, AuraStageRecord *r, GError **error)
{
  JsonObjectIter it;
  const char *name;
  JsonNode *value;

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return corrupt (error, integers ? "'items' must be an object" : "'seconds' must be an object");
  json_object_iter_init (&it, json_node_get_object (node));
  while (json_object_iter_next (&it, &name, &value)) {
    AuraStage stage;
    GType type = JSON_NODE_HOLDS_VALUE (value) ? json_node_get_value_type (value) : G_TYPE_INVALID;

    if (!aura_stage_from_string (name, &stage)) {
      g_set_error (error, AURA_ERROR, AURA_ERROR_FAILED, "unknown stage '%s'", name);
      return FALSE;
    }
    if (integers) {
      gint64 v = type == G_TYPE_INT64 ? json_node_get_int (value) : -1;
      if (v < 0 || v > G_MAXUINT32)
        return corrupt (error, "item counts must be whole numbers from 0 to 4294967295");
      r->items[stage] = (guint32) v;
    } else {
      double v = type == G_TYPE_INT64 || type == G_TYPE_DOUBLE ? json_node_get_double (value) : -1;
      if (!isfinite (v) || v < 0 || v > AURA_STAGE_HISTORY_MAX_SECONDS)
        return corrupt (error, "stage seconds must be numbers from 0 to 2592000");
      r->seconds[stage] = v;
    }
  }
  return TRUE;
}

static gboolean
parse_file (AuraStageHistory *self, const char *data, gsize len, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root;
  JsonNode *jobs;
  JsonArray *arr;
  guint n, first;

  if (!json_parser_load_from_data (parser, data, (gssize) len, error))
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return corrupt (error, "expected a JSON object");
  root = json_node_get_object (json_parser_get_root (parser));
  if (json_object_get_int_member_with_default (root, "version", 0) != FILE_VERSION)
    return corrupt (error, "expected \"version\": 1");
  jobs = json_object_get_member (root, "jobs");
  if (jobs == NULL || !JSON_NODE_HOLDS_ARRAY (jobs))
    return corrupt (error, "expected a \"jobs\" array");
  arr = json_node_get_array (jobs);
  n = json_array_get_length (arr);
  first = n > self->max_records ? n - self->max_records : 0;
  for (guint i = first; i < n; i++) {
    JsonNode *el = json_array_get_element (arr, i);
    AuraStageRecord r = { 0 };
    JsonObject *obj;

    if (!JSON_NODE_HOLDS_OBJECT (el))
      return corrupt (error, "every job must be an object");
    obj = json_node_get_object (el);
    if (!parse_stage_map (json_object_get_member (obj, "seconds"), FALSE, &r, error) ||
        !parse_stage_map (json_object_get_member (obj, "items"), TRUE, &r, error))
      return FALSE;
    aura_stage_history_add (self, &r);
  }
  return TRUE;
}

gboolean
aura_stage_history_load (AuraStageHistory *self, const char *path, GError **error)
{
  g_autofree char *data = NULL;
  g_autoptr(GError) local = NULL;
  gsize len;

  aura_stage_history_clear (self);
  if (!g_file_get_contents (path, &data, &len, &local)) {
    if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      return TRUE;
    g_propagate_error (error, g_steal_pointer (&local));
    return FALSE;
  }
  if (len > MAX_FILE_SIZE)
    local = g_error_new (AURA_ERROR, AURA_ERROR_FAILED, "larger than %d bytes", MAX_FILE_SIZE);
  else
    parse_file (self, data, len, &local);
  if (local != NULL) {
    aura_stage_history_clear (self);
    g_set_error (error, AURA_ERROR, AURA_ERROR_FAILED, "%s is corrupt: %s", path, local->message);
    return FALSE;
  }
  return TRUE;
}

gboolean
aura_stage_history_save (AuraStageHistory *self, const char *path, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;
  gsize len;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, FILE_VERSION);
  json_builder_set_member_name (b, "jobs");
  json_builder_begin_array (b);
  for (guint i = 0; i < self->records->len; i++) {
    const AuraStageRecord *r = &g_array_index (self->records, AuraStageRecord, i);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "seconds");
    json_builder_begin_object (b);
    for (guint s = 0; s < AURA_STAGE_COUNT; s++) {
      json_builder_set_member_name (b, aura_stage_to_string (s));
      json_builder_add_double_value (b, r->seconds[s]);
    }
    json_builder_end_object (b);
    json_builder_set_member_name (b, "items");
    json_builder_begin_object (b);
    for (guint s = 0; s < AURA_STAGE_COUNT; s++) {
      if (r->items[s] == 0)
        continue;
      json_builder_set_member_name (b, aura_stage_to_string (s));
      json_builder_add_int_value (b, r->items[s]);
    }
    json_builder_end_object (b);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, &len);
  if (!g_file_set_contents_full (path, text, (gssize) len,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0644, error)) {
    g_prefix_error (error, "cannot write %s: ", path);
    return FALSE;
  }
  return TRUE;
}

/* SPDX-License-Identifier: MIT */
/* The dictionary <-> JSON mapping. The first byte picks the direction:
 * even: the input is JSON; whatever aura_json_to_vardict() accepts must come
 * back unchanged through JSON. odd: the input is a serialised a{sv}; every
 * normal-form one must map to JSON that parses again. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

#include "aura-json.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static GVariant *
vardict_from_json_text (const char *text, gssize len)
{
  g_autoptr(JsonParser) parser = json_parser_new ();

  if (!json_parser_load_from_data (parser, text, len, NULL))
    return NULL;
  return aura_json_to_vardict (json_parser_get_root (parser), NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  if (data[0] % 2 == 0) {
    g_autoptr(GVariant) dict = vardict_from_json_text ((const char *) data + 1, (gssize) size - 1);
    g_autoptr(JsonNode) node = NULL;
    g_autofree char *text = NULL;
    g_autoptr(GVariant) again = NULL;

    if (dict == NULL)
      return 0;
    g_variant_ref_sink (dict);
    node = aura_json_from_variant (dict);
    text = aura_json_to_string (node);
    again = vardict_from_json_text (text, -1);
    g_assert_nonnull (again);
    g_variant_ref_sink (again);
    if (!g_variant_equal (dict, again)) {
      g_autofree char *a = g_variant_print (dict, TRUE), *b = g_variant_print (again, TRUE);
      g_error ("round trip changed %s into %s", a, b);
    }
  } else {
    g_autoptr(GBytes) bytes = g_bytes_new (data + 1, size - 1);
    g_autoptr(GVariant) dict = g_variant_ref_sink (
      g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT, bytes, FALSE));
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(JsonParser) parser = json_parser_new ();
    g_autofree char *text = NULL;

    if (!g_variant_is_normal_form (dict))
      return 0;
    node = aura_json_from_event_payload ("step-progress", dict);
    text = aura_json_to_string (node);
    g_assert_true (json_parser_load_from_data (parser, text, -1, NULL));
    g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  }
  return 0;
}

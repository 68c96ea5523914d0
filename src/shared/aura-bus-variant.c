/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "aura-bus-variant.h"

int
aura_bus_message_append_variant (sd_bus_message *m, GVariant *value)
{
  const char *type = g_variant_get_type_string (value);
  int r;

  switch (type[0]) {
  case 'b': {
    int v = g_variant_get_boolean (value);
    return sd_bus_message_append_basic (m, 'b', &v);
  }
  case 'y': { guint8 v = g_variant_get_byte (value); return sd_bus_message_append_basic (m, 'y', &v); }
  case 'n': { gint16 v = g_variant_get_int16 (value); return sd_bus_message_append_basic (m, 'n', &v); }
  case 'q': { guint16 v = g_variant_get_uint16 (value); return sd_bus_message_append_basic (m, 'q', &v); }
  case 'i': { gint32 v = g_variant_get_int32 (value); return sd_bus_message_append_basic (m, 'i', &v); }
  case 'u': { guint32 v = g_variant_get_uint32 (value); return sd_bus_message_append_basic (m, 'u', &v); }
  case 'x': { gint64 v = g_variant_get_int64 (value); return sd_bus_message_append_basic (m, 'x', &v); }
  case 't': { guint64 v = g_variant_get_uint64 (value); return sd_bus_message_append_basic (m, 't', &v); }
  case 'd': { double v = g_variant_get_double (value); return sd_bus_message_append_basic (m, 'd', &v); }
  case 's':
  case 'o':
  case 'g':
    return sd_bus_message_append_basic (m, type[0], g_variant_get_string (value, NULL));
  case 'v': {
    g_autoptr(GVariant) inner = g_variant_get_variant (value);
    r = sd_bus_message_open_container (m, 'v', g_variant_get_type_string (inner));
    if (r < 0)
      return r;
    r = aura_bus_message_append_variant (m, inner);
    if (r < 0)
      return r;
    return sd_bus_message_close_container (m);
  }
  case 'a':
  case '(':
  case '{': {
    char kind = type[0] == 'a' ? 'a' : type[0] == '(' ? 'r' : 'e';
    /* 'a': the element type; '(' and '{': the contents between the braces */
    g_autofree char *contents = kind == 'a' ? g_strdup (type + 1)
                                            : g_strndup (type + 1, strlen (type) - 2);
    gsize n = g_variant_n_children (value);

    r = sd_bus_message_open_container (m, kind, contents);
    if (r < 0)
      return r;
    for (gsize i = 0; i < n; i++) {
      g_autoptr(GVariant) child = g_variant_get_child_value (value, i);
      r = aura_bus_message_append_variant (m, child);
      if (r < 0)
        return r;
    }
    return sd_bus_message_close_container (m);
  }
  default:
    return -EOPNOTSUPP;
  }
}

static int read_value (sd_bus_message *m, guint *budget, GVariant **out);

static int
read_container (sd_bus_message *m, char kind, const char *contents, guint *budget, GVariant **out)
{
  g_autofree char *type_string = NULL;
  GVariantBuilder b;
  int r;

  switch (kind) {
  case 'a': type_string = g_strconcat ("a", contents, NULL); break;
  case 'r': type_string = g_strconcat ("(", contents, ")", NULL); break;
  case 'e': type_string = g_strconcat ("{", contents, "}", NULL); break;
  default: return -EINVAL;
  }
  if (!g_variant_type_string_is_valid (type_string))
    return -EBADMSG;
  r = sd_bus_message_enter_container (m, kind, contents);
  if (r < 0)
    return r;
  g_variant_builder_init (&b, G_VARIANT_TYPE (type_string));
  for (;;) {
    GVariant *child = NULL;
    r = read_value (m, budget, &child);
    if (r < 0) {
      g_variant_builder_clear (&b);
      return r;
    }
    if (r == 0)
      break;
    g_variant_builder_add_value (&b, child);
    g_variant_unref (child);
  }
  r = sd_bus_message_exit_container (m);
  if (r < 0) {
    g_variant_builder_clear (&b);
    return r;
  }
  *out = g_variant_ref_sink (g_variant_builder_end (&b));
  return 1;
}

static int
read_value (sd_bus_message *m, guint *budget, GVariant **out)
{
  const char *contents = NULL;
  char type;
  int r;

  *out = NULL;
  r = sd_bus_message_peek_type (m, &type, &contents);
  if (r <= 0)
    return r;
  if (*budget == 0)
    return -E2BIG;
  (*budget)--;

  switch (type) {
  case 'b': {
    int v;
    r = sd_bus_message_read_basic (m, type, &v);
    if (r > 0)
      *out = g_variant_ref_sink (g_variant_new_boolean (v));
    return r;
  }
#define READ_FIXED(ch, ctype, ctor)                                  \
  case ch: {                                                         \
    ctype v;                                                         \
    r = sd_bus_message_read_basic (m, type, &v);                     \
    if (r > 0)                                                       \
      *out = g_variant_ref_sink (ctor (v));                          \
    return r;                                                        \
  }
  READ_FIXED ('y', guint8, g_variant_new_byte)
  READ_FIXED ('n', gint16, g_variant_new_int16)
  READ_FIXED ('q', guint16, g_variant_new_uint16)
  READ_FIXED ('i', gint32, g_variant_new_int32)
  READ_FIXED ('u', guint32, g_variant_new_uint32)
  READ_FIXED ('x', gint64, g_variant_new_int64)
  READ_FIXED ('t', guint64, g_variant_new_uint64)
  READ_FIXED ('d', double, g_variant_new_double)
#undef READ_FIXED
  case 's':
  case 'o':
  case 'g': {
    const char *v;
    r = sd_bus_message_read_basic (m, type, &v);
    if (r > 0)
      *out = g_variant_ref_sink (type == 's' ? g_variant_new_string (v)
                                 : type == 'o' ? g_variant_new_object_path (v)
                                               : g_variant_new_signature (v));
    return r;
  }
  case 'v': {
    g_autofree char *inner_type = g_strdup (contents);
    g_autoptr(GVariant) inner = NULL;
    r = sd_bus_message_enter_container (m, 'v', inner_type);
    if (r < 0)
      return r;
    r = read_value (m, budget, &inner);
    if (r <= 0)
      return r < 0 ? r : -EBADMSG;
    r = sd_bus_message_exit_container (m);
    if (r < 0)
      return r;
    *out = g_variant_ref_sink (g_variant_new_variant (inner));
    return 1;
  }
  case 'a':
  case 'r':
  case 'e': {
    g_autofree char *c = g_strdup (contents);
    return read_container (m, type, c, budget, out);
  }
  default:
    return -EOPNOTSUPP;
  }
}

int
aura_bus_message_read_variant (sd_bus_message *m, GVariant **out)
{
  guint unlimited = G_MAXUINT;
  return read_value (m, &unlimited, out);
}

int
aura_bus_message_read_variant_limited (sd_bus_message *m, guint max_values, GVariant **out)
{
  return read_value (m, &max_values, out);
}

static gboolean
take_budget (guint *budget)
{
  if (*budget == 0)
    return FALSE;
  (*budget)--;
  return TRUE;
}

/* One {sv} entry; 0 at the end of the array. */
static int
read_vardict_entry (sd_bus_message *m, guint *budget, AuraBusVardictFunc func,
                    gpointer user_data)
{
  const char *key, *inner;
  union {
    guint8 y;
    gint16 n;
    guint16 q;
    gint32 i;
    guint32 u;
    gint64 x;
    guint64 t;
    double d;
    int b;
    const char *s;
  } basic;
  const void *value = NULL;
  int r;

  r = sd_bus_message_enter_container (m, 'e', "sv");
  if (r <= 0)
    return r;
  /* the entry, its key, its variant and its value count, as in read_value() */
  if (!take_budget (budget) || !take_budget (budget))
    return -E2BIG;
  r = sd_bus_message_read_basic (m, 's', &key);
  if (r < 0)
    return r;
  if (!take_budget (budget))
    return -E2BIG;
  r = sd_bus_message_peek_type (m, NULL, &inner);
  if (r <= 0)
    return r < 0 ? r : -EBADMSG;
  r = sd_bus_message_enter_container (m, 'v', inner);
  if (r < 0)
    return r;
  if (inner[0] != '\0' && inner[1] == '\0' && strchr ("sogynqiuxtdb", inner[0]) != NULL) {
    if (!take_budget (budget))
      return -E2BIG;
    r = sd_bus_message_read_basic (m, inner[0], &basic);
    if (r <= 0)
      return r < 0 ? r : -EBADMSG;
    value = &basic;
  } else {
    g_autoptr(GVariant) dropped = NULL;
    r = read_value (m, budget, &dropped);
    if (r <= 0)
      return r < 0 ? r : -EBADMSG;
  }
  r = sd_bus_message_exit_container (m);
  if (r >= 0)
    r = sd_bus_message_exit_container (m);
  if (r < 0)
    return r;
  func (key, inner[0], value, user_data);
  return 1;
}

int
aura_bus_message_read_vardict (sd_bus_message *m, guint max_values, AuraBusVardictFunc func,
                               gpointer user_data)
{
  const char *contents = NULL;
  char type;
  int r;

  r = sd_bus_message_peek_type (m, &type, &contents);
  if (r <= 0)
    return r;
  if (type != 'a' || g_strcmp0 (contents, "{sv}") != 0)
    return -EBADMSG;
  if (!take_budget (&max_values))
    return -E2BIG;
  r = sd_bus_message_enter_container (m, 'a', "{sv}");
  if (r < 0)
    return r;
  while ((r = read_vardict_entry (m, &max_values, func, user_data)) > 0)
    ;
  if (r < 0)
    return r;
  r = sd_bus_message_exit_container (m);
  return r < 0 ? r : 1;
}

int
aura_bus_message_read_body (sd_bus_message *m, GVariant **out)
{
  GVariantBuilder b;
  GVariant *v;
  int r;

  g_variant_builder_init (&b, G_VARIANT_TYPE_TUPLE);
  while ((r = aura_bus_message_read_variant (m, &v)) > 0) {
    g_variant_builder_add_value (&b, v);
    g_variant_unref (v);
  }
  if (r < 0) {
    g_variant_builder_clear (&b);
    return r;
  }
  *out = g_variant_ref_sink (g_variant_builder_end (&b));
  return 0;
}

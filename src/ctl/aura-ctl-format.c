/* SPDX-License-Identifier: MIT */
#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "aura-ctl-format.h"

char *
aura_ctl_format_duration (guint64 s)
{
  if (s < 60)
    return g_strdup_printf (_("%u s"), (guint) s);
  if (s < 3600)
    return g_strdup_printf (_("%u min %u s"), (guint) (s / 60), (guint) (s % 60));
  if (s < 86400)
    return g_strdup_printf (_("%u h %u min"), (guint) (s / 3600), (guint) (s % 3600 / 60));
  return g_strdup_printf (_("%u d %u h"), (guint) MIN (s / 86400, G_MAXUINT),
                          (guint) (s % 86400 / 3600));
}

char *
aura_ctl_format_bar (double fraction, guint width, gboolean utf8)
{
  GString *bar = g_string_sized_new (width * 3 + 2);
  guint filled;

  if (!isfinite (fraction) || fraction < 0)
    fraction = 0;
  fraction = MIN (fraction, 1.0);
  /* Round down: a bar that looks full must mean done. */
  filled = (guint) floor (fraction * width + 1e-9);
  g_string_append_c (bar, '[');
  for (guint i = 0; i < width; i++)
    g_string_append (bar, i < filled ? (utf8 ? "█" : "#") : (utf8 ? "░" : "-"));
  g_string_append_c (bar, ']');
  return g_string_free (bar, FALSE);
}

static guint
unichar_width (gunichar c)
{
  if (g_unichar_iszerowidth (c))
    return 0;
  return g_unichar_iswide (c) ? 2 : 1;
}

guint
aura_ctl_display_width (const char *text)
{
  guint w = 0;

  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    w += unichar_width (g_utf8_get_char (p));
  return w;
}

char *
aura_ctl_truncate (const char *text, guint width, gboolean utf8)
{
  const char *ellipsis = utf8 ? "…" : "...";
  guint ellipsis_width = utf8 ? 1 : 3;
  guint w = 0;
  const char *p;

  if (aura_ctl_display_width (text) <= width)
    return g_strdup (text);
  if (width <= ellipsis_width)
    return g_strndup (ellipsis, utf8 ? strlen (ellipsis) : width);
  for (p = text; *p != '\0'; p = g_utf8_next_char (p)) {
    guint cw = unichar_width (g_utf8_get_char (p));
    if (w + cw > width - ellipsis_width)
      break;
    w += cw;
  }
  return g_strdup_printf ("%.*s%s", (int) (p - text), text, ellipsis);
}

char *
aura_ctl_pad (const char *text, guint width)
{
  guint w = aura_ctl_display_width (text);
  GString *s = g_string_new (text);

  for (; w < width; w++)
    g_string_append_c (s, ' ');
  return g_string_free (s, FALSE);
}

/* Messages come from providers: control characters (newlines, and escape
 * sequences that would drive the terminal) become spaces, so that one event
 * stays one line and cannot rewrite the screen. */
char *
aura_ctl_sanitize (const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text != NULL ? text : "", -1);
  GString *out = g_string_sized_new (strlen (valid));

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
      g_string_append_c (out, ' ');
    else
      g_string_append_unichar (out, c);
  }
  return g_string_free (out, FALSE);
}

char *
aura_ctl_format_clock (const char *iso, gboolean with_date)
{
  g_autoptr(GDateTime) utc = iso != NULL ? g_date_time_new_from_iso8601 (iso, NULL) : NULL;
  g_autoptr(GDateTime) local = NULL;

  if (utc == NULL)
    return aura_ctl_sanitize (iso != NULL ? iso : "-");
  local = g_date_time_to_local (utc);
  return g_date_time_format (local, with_date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S");
}

static const char *
lookup_str (GVariant *dict, const char *key)
{
  const char *v = NULL;

  if (dict == NULL || !g_variant_lookup (dict, key, "&s", &v))
    return NULL;
  return v;
}

/* " (scene 4 of 10)" style detail: the substage detail when there is one,
 * otherwise the item counts. */
static void
append_detail (GString *out, GVariant *state)
{
  const char *detail = lookup_str (state, "substageDetail");
  guint32 current, total;

  if (detail != NULL && detail[0] != '\0') {
    g_autofree char *clean = aura_ctl_sanitize (detail);
    g_string_append_printf (out, " (%s)", clean);
  } else if (g_variant_lookup (state, "currentItem", "u", &current) &&
             g_variant_lookup (state, "totalItems", "u", &total)) {
    g_string_append_printf (out, _(" (%u of %u)"), current, total);
  }
}

char *
aura_ctl_format_progress (GVariant *state)
{
  GString *out = g_string_new (NULL);
  const char *stage = lookup_str (state, "stage");
  const char *status = lookup_str (state, "status");
  const char *message = lookup_str (state, "message");
  guint32 percent = 0, eta;

  g_variant_lookup (state, "percent", "u", &percent);
  g_string_append_printf (out, "%s %u%%", stage != NULL ? stage : "-", percent);
  if ((status == NULL || strcmp (status, "Running") == 0)) {
    if (g_variant_lookup (state, "etaSeconds", "u", &eta)) {
      g_autofree char *d = aura_ctl_format_duration (eta);
      g_string_append_printf (out, _(" ETA %s"), d);
    } else {
      g_string_append (out, _(" ETA unknown"));
    }
  } else if (status != NULL) {
    g_string_append_printf (out, " %s", status);
  }
  if (message != NULL && message[0] != '\0') {
    g_autofree char *clean = aura_ctl_sanitize (message);
    g_string_append_printf (out, ": %s", clean);
  }
  append_detail (out, state);
  return g_string_free (out, FALSE);
}

char *
aura_ctl_format_event (const char *type, guint64 event_id, GVariant *payload)
{
  g_autofree char *clock = aura_ctl_format_clock (lookup_str (payload, "timestamp"), FALSE);
  const char *job_id = lookup_str (payload, "jobId");
  GString *out = g_string_new (clock);

  if (job_id != NULL) {
    g_autofree char *job = aura_ctl_sanitize (job_id);
    g_string_append_printf (out, " %s", job);
  }
  if (event_id != 0)
    g_string_append_printf (out, " #%" G_GUINT64_FORMAT, event_id);
  g_string_append_printf (out, " %s", type);
  if (strcmp (type, "step-progress") == 0 || strcmp (type, "state") == 0) {
    g_autofree char *progress = aura_ctl_format_progress (payload);
    g_string_append_printf (out, " %s", progress);
  } else if (strcmp (type, "heartbeat") == 0) {
    g_autofree char *status = aura_ctl_sanitize (lookup_str (payload, "status"));
    g_string_append_printf (out, " %s", status);
  } else {
    g_autofree char *message = aura_ctl_sanitize (lookup_str (payload, "message"));
    g_string_append_printf (out, ": %s", message);
  }
  return g_string_free (out, FALSE);
}

char *
aura_ctl_format_live_line (GVariant *state, gint64 eta_seconds, guint n_warnings, guint columns,
                           gboolean utf8)
{
  g_autofree char *stage = aura_ctl_pad (lookup_str (state, "stage") ?: "-", 8);
  g_autofree char *bar = NULL, *eta = NULL, *line = NULL;
  g_autofree char *message = aura_ctl_sanitize (lookup_str (state, "message"));
  GString *out = g_string_new (NULL);
  double progress = 0;
  guint32 percent = 0;
  guint bar_width = columns >= 100 ? 30 : columns >= 70 ? 20 : 10;

  g_variant_lookup (state, "progress", "d", &progress);
  g_variant_lookup (state, "percent", "u", &percent);
  bar = aura_ctl_format_bar (progress, bar_width, utf8);
  if (eta_seconds >= 0) {
    g_autofree char *d = aura_ctl_format_duration ((guint64) eta_seconds);
    eta = g_strdup_printf (_("ETA %s"), d);
  } else {
    eta = g_strdup (_("ETA unknown"));
  }
  g_string_append_printf (out, "%s %s %3u%%  %s", stage, bar, percent, eta);
  if (message[0] != '\0')
    g_string_append_printf (out, "  %s", message);
  append_detail (out, state);
  if (n_warnings > 0)
    g_string_append_printf (out, "  %s %u", utf8 ? "⚠" : "!", n_warnings);
  line = g_string_free (out, FALSE);
  /* The last column stays free: writing into it makes some terminals wrap,
   * and a wrapped line can no longer be redrawn with a carriage return. */
  return aura_ctl_truncate (line, columns > 1 ? columns - 1 : 1, utf8);
}

/* ---- tables ------------------------------------------------------------ */

struct _AuraCtlTable {
  guint n_columns;
  GPtrArray *rows;                    /* GStrv, the first is the header */
};

AuraCtlTable *
aura_ctl_table_new (guint n_columns, const char *const *headers)
{
  AuraCtlTable *table = g_new0 (AuraCtlTable, 1);

  table->n_columns = n_columns;
  table->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  aura_ctl_table_add (table, headers);
  return table;
}

void
aura_ctl_table_add (AuraCtlTable *table, const char *const *cells)
{
  char **row = g_new0 (char *, table->n_columns + 1);

  for (guint i = 0; i < table->n_columns; i++)
    row[i] = cells[i] != NULL && cells[i][0] != '\0' ? aura_ctl_sanitize (cells[i])
                                                      : g_strdup ("-");
  g_ptr_array_add (table->rows, row);
}

guint
aura_ctl_table_n_rows (AuraCtlTable *table)
{
  return table->rows->len - 1;
}

char *
aura_ctl_table_render (AuraCtlTable *table)
{
  g_autofree guint *widths = g_new0 (guint, table->n_columns);
  GString *out = g_string_new (NULL);

  for (guint r = 0; r < table->rows->len; r++) {
    char **row = table->rows->pdata[r];
    for (guint c = 0; c < table->n_columns; c++)
      widths[c] = MAX (widths[c], aura_ctl_display_width (row[c]));
  }
  for (guint r = 0; r < table->rows->len; r++) {
    char **row = table->rows->pdata[r];
    for (guint c = 0; c < table->n_columns; c++) {
      if (c + 1 < table->n_columns) {
        g_autofree char *cell = aura_ctl_pad (row[c], widths[c]);
        g_string_append_printf (out, "%s  ", cell);
      } else {
        g_string_append (out, row[c]);
      }
    }
    g_string_append_c (out, '\n');
  }
  return g_string_free (out, FALSE);
}

void
aura_ctl_table_free (AuraCtlTable *table)
{
  if (table == NULL)
    return;
  g_ptr_array_unref (table->rows);
  g_free (table);
}

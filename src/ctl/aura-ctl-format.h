/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Rendering for people: durations, bars, tables and event lines. Pure
 * functions of their arguments (and the local time zone), unit-tested in
 * tests/test-ctl.c. */

/* "45 s", "3 min 5 s", "1 h 2 min", "2 d 3 h" */
char    *aura_ctl_format_duration (guint64 seconds);
/* A bar of @width cells for @fraction (0..1): "█████░░░░░", or "#####-----"
 * when the terminal cannot show UTF-8. */
char    *aura_ctl_format_bar (double fraction, guint width, gboolean utf8);
/* Terminal columns taken by UTF-8 @text (wide characters take two). */
guint    aura_ctl_display_width (const char *text);
/* @text cut to at most @width columns, with "…" (or "...") where it was cut. */
char    *aura_ctl_truncate (const char *text, guint width, gboolean utf8);
/* @text followed by spaces up to @width columns. */
char    *aura_ctl_pad (const char *text, guint width);
/* @text with control characters (newlines, terminal escape sequences)
 * replaced by spaces: text from providers must stay on one line and must not
 * drive the terminal. NULL gives "". */
char    *aura_ctl_sanitize (const char *text);
/* The local time of an ISO 8601 timestamp as "HH:MM:SS", or with the date
 * ("YYYY-MM-DD HH:MM:SS"); the text itself when it does not parse. */
char    *aura_ctl_format_clock (const char *iso, gboolean with_date);

/* "tts 42% ETA 1 min 20 s: Synthesizing speech (scene 4 of 10)" from a
 * job state or step-progress payload (a{sv}). */
char    *aura_ctl_format_progress (GVariant *state);
/* One line per event, for `events`, `monitor` and `watch` off a terminal:
 * "12:00:01 job-1 #12 step-progress tts 42% ...", "... #13 warning: text". */
char    *aura_ctl_format_event (const char *type, guint64 event_id, GVariant *payload);

/* The live line of `watch` on a terminal: stage, bar, percent, ETA, message
 * and the number of warnings, cut to @columns. @eta_seconds < 0: unknown. */
char    *aura_ctl_format_live_line (GVariant *state, gint64 eta_seconds, guint n_warnings,
                                    guint columns, gboolean utf8);

/* A table with a header row; columns are padded to their widest cell, two
 * spaces apart; the last column is not padded. */
typedef struct _AuraCtlTable AuraCtlTable;

AuraCtlTable *aura_ctl_table_new (guint n_columns, const char *const *headers);
/* Adds a row of n_columns cells; NULL cells print as "-". */
void          aura_ctl_table_add (AuraCtlTable *table, const char *const *cells);
guint         aura_ctl_table_n_rows (AuraCtlTable *table);
char         *aura_ctl_table_render (AuraCtlTable *table);
void          aura_ctl_table_free (AuraCtlTable *table);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraCtlTable, aura_ctl_table_free)

G_END_DECLS

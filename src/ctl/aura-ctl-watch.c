/* SPDX-License-Identifier: MIT */
/* watch: follows one job until it ends. On a terminal one line is redrawn
 * in place (warnings scroll above it); elsewhere every event is a line (or a
 * JSON line with --json). The exit status says how the job ended. */
#include <glib/gi18n-lib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "aura-ctl-format.h"
#include "aura-ctl-signals.h"
#include "aura-ctl.h"

/* How often the live line is redrawn between events, so that the ETA counts
 * down while a stage is quiet. */
#define TICK_MS 1000

typedef struct {
  AuraCtl *ctl;
  const char *job_id;
  GVariant *state;                    /* GetJob's state, then the newest step-progress */
  guint64 last_event_id;
  guint n_warnings;
  gint64 eta_seconds;                 /* at eta_mono; -1 unknown */
  gint64 eta_mono;
  gboolean line_shown;                /* the live line is on the screen */
  gboolean finished;
} Watch;

static guint
terminal_columns (void)
{
  struct winsize ws;

  if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
    return ws.ws_col;
  return 80;
}

static void
set_state (Watch *w, GVariant *state)
{
  guint32 eta;
  g_autoptr(GVariant) warnings = NULL;
  GVariant *old = w->state;

  w->state = g_variant_ref (state);
  if (old != NULL)
    g_variant_unref (old);
  w->eta_seconds = g_variant_lookup (state, "etaSeconds", "u", &eta) ? (gint64) eta : -1;
  w->eta_mono = g_get_monotonic_time ();
  warnings = g_variant_lookup_value (state, "warnings", G_VARIANT_TYPE_STRING_ARRAY);
  if (warnings != NULL)
    w->n_warnings = (guint) g_variant_n_children (warnings);
}

static void
clear_line (Watch *w)
{
  if (w->line_shown)
    g_print ("\r\033[K");
  w->line_shown = FALSE;
}

static void
draw_line (Watch *w)
{
  g_autofree char *line = NULL;
  gint64 eta = w->eta_seconds;

  const char *status = NULL;

  /* Count down between events; a running job is never shown as done. */
  g_variant_lookup (w->state, "status", "&s", &status);
  if (eta >= 0 && g_strcmp0 (status, "Running") == 0)
    eta = MAX (eta - (g_get_monotonic_time () - w->eta_mono) / G_USEC_PER_SEC, 1);
  line = aura_ctl_format_live_line (w->state, eta, w->n_warnings, terminal_columns (),
                                    w->ctl->utf8);
  g_print ("\r%s\033[K", line);
  fflush (stdout);
  w->line_shown = TRUE;
}

static int
exit_code_for_status (const char *status)
{
  if (g_strcmp0 (status, "Completed") == 0)
    return AURA_CTL_EXIT_OK;
  if (g_strcmp0 (status, "Canceled") == 0)
    return AURA_CTL_EXIT_JOB_CANCELLED;
  return AURA_CTL_EXIT_JOB_FAILED;
}

static const char *
describe_status (const char *status)
{
  if (g_strcmp0 (status, "Completed") == 0)
    return _("Completed");
  if (g_strcmp0 (status, "Canceled") == 0)
    return _("Cancelled");
  if (g_strcmp0 (status, "Failed") == 0)
    return _("Failed");
  return status;
}

/* The last line on a terminal: where the job got to, and how it ended. */
static void
draw_final_line (Watch *w, const char *status, const char *message)
{
  g_autofree char *bar = NULL, *stage = NULL, *clean = aura_ctl_sanitize (message);
  double progress = 0;
  guint32 percent = 0;
  const char *s = NULL;

  g_variant_lookup (w->state, "progress", "d", &progress);
  g_variant_lookup (w->state, "percent", "u", &percent);
  g_variant_lookup (w->state, "stage", "&s", &s);
  if (g_strcmp0 (status, "Completed") == 0) {
    progress = 1.0;
    percent = 100;
  }
  bar = aura_ctl_format_bar (progress, terminal_columns () >= 70 ? 20 : 10, w->ctl->utf8);
  stage = aura_ctl_pad (s != NULL ? s : "-", 8);
  clear_line (w);
  g_print ("%s %s %3u%%  %s%s%s\n", stage, bar, percent, describe_status (status),
           clean[0] != '\0' ? ": " : "", clean);
  fflush (stdout);
}

static void
finish (Watch *w, const char *status, const char *message)
{
  w->finished = TRUE;
  if (!w->ctl->json && w->ctl->tty)
    draw_final_line (w, status, message);
  aura_ctl_quit (w->ctl, exit_code_for_status (status));
}

static void
show_warning (Watch *w, const char *text)
{
  g_autofree char *clean = aura_ctl_sanitize (text);

  clear_line (w);
  g_print ("%s %s\n", w->ctl->utf8 ? "⚠" : "!", clean);
}

static void
on_event (const char *job_id, const char *type, guint64 event_id, GVariant *payload,
          gpointer user_data)
{
  Watch *w = user_data;
  const char *status = NULL, *message = "";

  /* Signals queued before GetJob answered are already in its state. */
  if (w->finished || event_id <= w->last_event_id)
    return;
  w->last_event_id = event_id;
  g_variant_lookup (payload, "message", "&s", &message);

  if (w->ctl->json || !w->ctl->tty)
    aura_ctl_print_event (w->ctl, type, event_id, payload);
  if (strcmp (type, "step-progress") == 0) {
    set_state (w, payload);
    if (!w->ctl->json && w->ctl->tty)
      draw_line (w);
  } else if (strcmp (type, "warning") == 0) {
    w->n_warnings++;
    if (!w->ctl->json && w->ctl->tty) {
      show_warning (w, message);
      draw_line (w);
    }
  } else {
    g_variant_lookup (payload, "status", "&s", &status);
    finish (w, status, message);
  }
}

static void
on_owner_changed (const char *old_owner, const char *new_owner, gpointer user_data)
{
  Watch *w = user_data;

  if (new_owner[0] != '\0' || w->finished)
    return;
  clear_line (w);
  aura_ctl_fail (0, _("aura-progressd left %s before job '%s' ended"), w->ctl->bus_description,
                 w->job_id);
  aura_ctl_quit (w->ctl, AURA_CTL_EXIT_UNAVAILABLE);
}

static gboolean
on_tick (gpointer user_data)
{
  Watch *w = user_data;

  if (!w->finished)
    draw_line (w);
  return G_SOURCE_CONTINUE;
}

/* Interrupted or the bus lost: the live line stays, the prompt goes below. */
static void
on_interrupt (gpointer user_data)
{
  Watch *w = user_data;

  if (w->line_shown) {
    g_print ("\n");
    fflush (stdout);
    w->line_shown = FALSE;
  }
}

int
aura_ctl_cmd_watch (AuraCtl *ctl, int argc, char **argv)
{
  static const AuraCtlSignalFuncs funcs = {
    .event = on_event,
    .owner_changed = on_owner_changed,
  };
  g_autoptr(AuraCtlSubscription) sub = NULL;
  Watch w = { .ctl = ctl, .eta_seconds = -1 };
  const char *status = NULL, *message = "";
  guint tick_id = 0;
  int code, r;

  code = aura_ctl_parse_job_command (ctl, NULL, &argc, &argv);
  if (code >= 0)
    return code;
  w.job_id = argv[1];

  aura_ctl_catch_signals (ctl, AURA_CTL_EXIT_INTERRUPTED, on_interrupt, &w);
  /* Subscribe first, then read the state: nothing can slip in between. */
  sub = aura_ctl_subscribe (ctl->bus, w.job_id, &funcs, &w, &r);
  if (sub == NULL)
    return aura_ctl_fail_call (ctl, NULL, r, w.job_id);
  w.state = aura_ctl_get_job (ctl, w.job_id, &code);
  if (w.state == NULL)
    return code;
  g_variant_lookup (w.state, "lastEventId", "t", &w.last_event_id);
  g_variant_lookup (w.state, "status", "&s", &status);
  set_state (&w, w.state);

  if (ctl->json || !ctl->tty) {
    aura_ctl_print_event (ctl, "state", w.last_event_id, w.state);
  } else {
    g_autoptr(GVariant) warnings = g_variant_lookup_value (w.state, "warnings",
                                                           G_VARIANT_TYPE_STRING_ARRAY);
    for (gsize i = 0; warnings != NULL && i < g_variant_n_children (warnings); i++) {
      const char *text;
      g_variant_get_child (warnings, i, "&s", &text);
      show_warning (&w, text);
    }
  }

  if (g_strcmp0 (status, "Running") != 0) {
    /* Already over: its final message is the last one it had. */
    g_variant_lookup (w.state, "message", "&s", &message);
    finish (&w, status, message);
  } else if (!ctl->json && ctl->tty) {
    draw_line (&w);
    tick_id = g_timeout_add (TICK_MS, on_tick, &w);
  }

  code = aura_ctl_run_loop (ctl);
  if (tick_id != 0)
    g_source_remove (tick_id);
  g_clear_pointer (&w.state, g_variant_unref);
  return code;
}

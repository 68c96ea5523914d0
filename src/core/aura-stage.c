/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "aura-error.h"
#include "aura-stage.h"

static const char *const stage_names[AURA_STAGE_COUNT] = {
  "planning", "script", "tts", "visuals", "compose", "render", "finalize",
};

/* The seed's Brief 5, Script 20, TTS 30, Images 25, Rendering 15 (split as
 * compose 5 + render 10), PostProcess 5. */
static const double default_weights[AURA_STAGE_COUNT] = { 5, 20, 30, 25, 5, 10, 5 };

const char *
aura_stage_to_string (AuraStage stage)
{
  g_return_val_if_fail (stage < AURA_STAGE_COUNT, NULL);
  return stage_names[stage];
}

gboolean
aura_stage_from_string (const char *name, AuraStage *out)
{
  if (name == NULL)
    return FALSE;
  for (guint i = 0; i < AURA_STAGE_COUNT; i++) {
    if (strcmp (name, stage_names[i]) == 0) {
      if (out != NULL)
        *out = i;
      return TRUE;
    }
  }
  return FALSE;
}

const char *
aura_stage_describe (AuraStage stage)
{
  static const char *const descriptions[AURA_STAGE_COUNT] = {
    N_("Planning"), N_("Writing the script"), N_("Synthesizing speech"),
    N_("Generating visuals"), N_("Composing"), N_("Rendering video"), N_("Finalizing"),
  };
  /* Looked up once: the locale is set before the first report, and
   * gettext's lookup costs more than the rest of an FFmpeg report. */
  static const char *translated[AURA_STAGE_COUNT];

  g_return_val_if_fail (stage < AURA_STAGE_COUNT, NULL);
  if (translated[stage] == NULL)
    translated[stage] = _(descriptions[stage]);
  return translated[stage];
}

const char *
aura_stage_list (void)
{
  return "planning, script, tts, visuals, compose, render, finalize";
}

void
aura_weights_init_default (AuraWeights *weights)
{
  memcpy (weights->w, default_weights, sizeof weights->w);
}

gboolean
aura_weights_normalize (AuraWeights *weights, GError **error)
{
  double sum = 0;

  for (guint i = 0; i < AURA_STAGE_COUNT; i++) {
    double w = weights->w[i];
    if (!isfinite (w) || w < 0 || w > 1e6) {
      g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                   "weight of stage '%s' must be a number from 0 to 1000000",
                   stage_names[i]);
      return FALSE;
    }
    sum += w;
  }
  if (sum <= 0) {
    g_set_error_literal (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                         "at least one stage weight must be greater than 0");
    return FALSE;
  }
  for (guint i = 0; i < AURA_STAGE_COUNT; i++)
    weights->w[i] = weights->w[i] * 100.0 / sum;
  return TRUE;
}

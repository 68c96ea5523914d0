/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The pipeline stages, in order. The order is the contract: percent is the
 * sum of the weights of the stages before the current one. */
typedef enum {
  AURA_STAGE_PLANNING,
  AURA_STAGE_SCRIPT,
  AURA_STAGE_TTS,
  AURA_STAGE_VISUALS,
  AURA_STAGE_COMPOSE,
  AURA_STAGE_RENDER,
  AURA_STAGE_FINALIZE,
  AURA_STAGE_COUNT,
} AuraStage;

/* Weights in percent of the whole job; always sum to 100 once normalised. */
typedef struct {
  double w[AURA_STAGE_COUNT];
} AuraWeights;

const char *aura_stage_to_string (AuraStage stage);
gboolean    aura_stage_from_string (const char *name, AuraStage *out);
/* What a stage does, for messages: "Rendering video" */
const char *aura_stage_describe (AuraStage stage);
/* "planning, script, tts, visuals, compose, render, finalize", for messages */
const char *aura_stage_list (void);

void        aura_weights_init_default (AuraWeights *weights);
gboolean    aura_weights_normalize (AuraWeights *weights, GError **error);

G_END_DECLS

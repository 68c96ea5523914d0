/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "aura-stage.h"

G_BEGIN_DECLS

/* The providers of a demo job, as a video pipeline would engage them. */
#define AURA_DEMO_LLM_PROVIDER "LegacyProvider"        /* cannot be cancelled */
#define AURA_DEMO_LLM_TYPE "LLM"
#define AURA_DEMO_TTS_PROVIDER "ElevenLabs"
#define AURA_DEMO_TTS_TYPE "TTS"
#define AURA_DEMO_IMAGE_PROVIDER "StableDiffusion"
#define AURA_DEMO_IMAGE_TYPE "Image"
#define AURA_DEMO_RENDER_PROVIDER "FFmpeg"
#define AURA_DEMO_RENDER_TYPE "FFmpeg"

typedef enum {
  AURA_DEMO_PROVIDER_LLM,             /* the whole job: brief, script, then metadata */
  AURA_DEMO_PROVIDER_TTS,             /* the tts stage */
  AURA_DEMO_PROVIDER_IMAGE,           /* the visuals stage */
  AURA_DEMO_PROVIDER_RENDER,          /* the render stage */
  AURA_DEMO_N_PROVIDERS,
} AuraDemoProvider;

typedef struct {
  const char *name;
  const char *type;
  gboolean supports_cancellation;
} AuraDemoProviderInfo;

const AuraDemoProviderInfo *aura_demo_provider_info (AuraDemoProvider provider);

typedef enum {
  AURA_DEMO_STEP_ENGAGE,              /* provider: registers it with the job */
  AURA_DEMO_STEP_RELEASE,             /* provider: unregisters it, its part done */
  AURA_DEMO_STEP_LLM,                 /* phase, current of total chunks */
  AURA_DEMO_STEP_TTS,                 /* scene current (0-based) of total */
  AURA_DEMO_STEP_VISUAL,              /* image current (0-based) of total */
  AURA_DEMO_STEP_PROGRESS,            /* stage, percent, text (message), detail */
  AURA_DEMO_STEP_FFMPEG,              /* frame of total_frames, fps, media time */
  AURA_DEMO_STEP_WARNING,             /* text */
  AURA_DEMO_STEP_STAGE_DONE,          /* stage */
  AURA_DEMO_STEP_COMPLETE,
  AURA_DEMO_STEP_FAIL,                /* text: why */
  AURA_DEMO_STEP_STALL,               /* text: what hangs; nothing follows */
} AuraDemoStepKind;

/* How a demo job ends. */
typedef enum {
  AURA_DEMO_END_COMPLETE,
  AURA_DEMO_END_FAIL,                 /* fails in a stage, after part of it */
  AURA_DEMO_END_STALL,                /* hangs in a stage, after part of it, until cancelled */
} AuraDemoEnd;

/**
 * AuraDemoStep:
 * One thing the simulated pipeline does, after waiting delay_ms (at speed
 * 1). The delays are what makes the demo look real: stages take very
 * different times, and so do the items within a stage.
 */
typedef struct {
  AuraDemoStepKind kind;
  guint delay_ms;
  AuraStage stage;
  AuraDemoProvider provider;
  const char *phase;
  guint current;
  guint total;
  guint64 frame;
  guint64 total_frames;
  double fps;
  double time_seconds;
  double percent;
  char *text;
  char *detail;
} AuraDemoStep;

/**
 * aura_demo_plan_new:
 * @seed: the same seed gives the same job
 * @end: how the job ends
 * @end_stage: for AURA_DEMO_END_FAIL and AURA_DEMO_END_STALL, the stage in
 *   which it does (after doing part of it)
 *
 * The steps of one job through all seven stages and the four provider
 * mappers, with one or two warnings. Each provider is engaged when its
 * part begins and released when it is done. Returns a GPtrArray of
 * AuraDemoStep.
 */
GPtrArray *aura_demo_plan_new (guint64 seed, AuraDemoEnd end, AuraStage end_stage);
/* The sum of the delays, in ms at speed 1. */
guint64    aura_demo_plan_duration_ms (GPtrArray *plan);

G_END_DECLS

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
  AURA_DEMO_STEP_LLM,                 /* phase, current of total chunks */
  AURA_DEMO_STEP_TTS,                 /* scene current (0-based) of total */
  AURA_DEMO_STEP_VISUAL,              /* image current (0-based) of total */
  AURA_DEMO_STEP_PROGRESS,            /* stage, percent, text (message), detail */
  AURA_DEMO_STEP_FFMPEG,              /* frame of total_frames, fps, media time */
  AURA_DEMO_STEP_WARNING,             /* text */
  AURA_DEMO_STEP_STAGE_DONE,          /* stage */
  AURA_DEMO_STEP_COMPLETE,
  AURA_DEMO_STEP_FAIL,                /* text */
} AuraDemoStepKind;

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
 * @fail_at: the stage at which the job fails (after doing part of it), or
 *   AURA_STAGE_COUNT for none
 *
 * The steps of one job through all seven stages and the four provider
 * mappers, with one or two warnings. Returns a GPtrArray of AuraDemoStep.
 */
GPtrArray *aura_demo_plan_new (guint64 seed, AuraStage fail_at);
/* The sum of the delays, in ms at speed 1. */
guint64    aura_demo_plan_duration_ms (GPtrArray *plan);

G_END_DECLS

/* SPDX-License-Identifier: MIT */
/* What a simulated video job does and when. Real stages take very different
 * times (TTS and image generation dominate, planning is quick, rendering runs
 * at a steady frame rate) and so do the items within a stage; every duration
 * here is drawn around a typical value from a seeded generator, with now and
 * then a slow one, as real providers have. */
#include <math.h>

#include "aura-demo-plan.h"

typedef struct {
  GPtrArray *steps;
  GRand *rand;
  AuraDemoEnd end;
  AuraStage end_stage;
  guint32 warning_stages;             /* bit per stage that gets a warning */
} Builder;

static const AuraDemoProviderInfo providers[AURA_DEMO_N_PROVIDERS] = {
  [AURA_DEMO_PROVIDER_LLM] = { AURA_DEMO_LLM_PROVIDER, AURA_DEMO_LLM_TYPE, FALSE },
  [AURA_DEMO_PROVIDER_TTS] = { AURA_DEMO_TTS_PROVIDER, AURA_DEMO_TTS_TYPE, TRUE },
  [AURA_DEMO_PROVIDER_IMAGE] = { AURA_DEMO_IMAGE_PROVIDER, AURA_DEMO_IMAGE_TYPE, TRUE },
  [AURA_DEMO_PROVIDER_RENDER] = { AURA_DEMO_RENDER_PROVIDER, AURA_DEMO_RENDER_TYPE, TRUE },
};

const AuraDemoProviderInfo *
aura_demo_provider_info (AuraDemoProvider provider)
{
  g_return_val_if_fail (provider < AURA_DEMO_N_PROVIDERS, NULL);
  return &providers[provider];
}

static void
step_free (gpointer data)
{
  AuraDemoStep *step = data;

  g_free (step->text);
  g_free (step->detail);
  g_free (step);
}

/* A duration around @typical_ms: log-uniform within a factor of 1.6 either
 * way, and one in twelve takes two to three times as long. */
static guint
vary (Builder *b, double typical_ms)
{
  double ms = typical_ms * exp (g_rand_double_range (b->rand, -0.47, 0.47));

  if (g_rand_int_range (b->rand, 0, 12) == 0)
    ms *= g_rand_double_range (b->rand, 2.0, 3.0);
  return (guint) MAX (ms, 1.0);
}

static AuraDemoStep *
add (Builder *b, AuraDemoStepKind kind, guint delay_ms, AuraStage stage)
{
  AuraDemoStep *step = g_new0 (AuraDemoStep, 1);

  step->kind = kind;
  step->delay_ms = delay_ms;
  step->stage = stage;
  g_ptr_array_add (b->steps, step);
  return step;
}

static gboolean
ends_in (Builder *b, AuraStage stage)
{
  return b->end != AURA_DEMO_END_COMPLETE && b->end_stage == stage;
}

/* The job fails or stalls in this stage after @done of its @total items. */
static gboolean
ends_here (Builder *b, AuraStage stage, guint total, guint *done)
{
  if (!ends_in (b, stage))
    return FALSE;
  *done = total / 2;
  return TRUE;
}

/* What goes wrong: @fail_message when the job fails, @stall_message (what
 * hangs) when it stalls. */
static void
add_end (Builder *b, AuraStage stage, char *fail_message, char *stall_message)
{
  gboolean fail = b->end == AURA_DEMO_END_FAIL;
  AuraDemoStep *s = add (b, fail ? AURA_DEMO_STEP_FAIL : AURA_DEMO_STEP_STALL, vary (b, 800),
                         stage);

  s->text = fail ? fail_message : stall_message;
  g_free (fail ? stall_message : fail_message);
}

static void
engage (Builder *b, AuraStage stage, AuraDemoProvider provider)
{
  add (b, AURA_DEMO_STEP_ENGAGE, 0, stage)->provider = provider;
}

static void
release (Builder *b, AuraStage stage, AuraDemoProvider provider)
{
  add (b, AURA_DEMO_STEP_RELEASE, 0, stage)->provider = provider;
}

static void
maybe_warn (Builder *b, AuraStage stage, char *message)
{
  if (b->warning_stages & (1u << stage))
    add (b, AURA_DEMO_STEP_WARNING, vary (b, 150), stage)->text = message;
  else
    g_free (message);
}

static void
stage_done (Builder *b, AuraStage stage, double typical_ms)
{
  add (b, AURA_DEMO_STEP_STAGE_DONE, vary (b, typical_ms), stage);
}

/* planning and script: the LLM, in chunks */
static gboolean
plan_llm (Builder *b, AuraStage stage, const char *phase, guint n_chunks, double chunk_ms)
{
  guint done = n_chunks;
  gboolean end = ends_here (b, stage, n_chunks, &done);
  AuraDemoStep *s;

  s = add (b, AURA_DEMO_STEP_LLM, stage == AURA_STAGE_PLANNING ? 200 : 100, stage);
  s->phase = phase;
  s->total = n_chunks;
  for (guint i = 1; i <= done; i++) {
    s = add (b, AURA_DEMO_STEP_LLM, vary (b, chunk_ms), stage);
    s->phase = phase;
    s->current = i;
    s->total = n_chunks;
    if (i == n_chunks / 2 + 1)
      maybe_warn (b, stage, g_strdup_printf (AURA_DEMO_LLM_PROVIDER " answered slowly: chunk %u "
                                             "took %.1f s", i, s->delay_ms / 1000.0 * 3.1));
  }
  if (end) {
    add_end (b, stage,
             g_strdup (AURA_DEMO_LLM_PROVIDER " returned HTTP 503 (Service Unavailable) while "
                       "writing"),
             g_strdup_printf (AURA_DEMO_LLM_PROVIDER " stopped answering at chunk %u", done + 1));
    return FALSE;
  }
  stage_done (b, stage, 100);
  return TRUE;
}

/* tts and visuals: one item after the other, each reported before it
 * starts, by a provider engaged for the stage */
static gboolean
plan_items (Builder *b, AuraStage stage, AuraDemoStepKind kind, guint n, double item_ms)
{
  AuraDemoProvider provider = stage == AURA_STAGE_TTS ? AURA_DEMO_PROVIDER_TTS
                                                      : AURA_DEMO_PROVIDER_IMAGE;
  guint done = n;
  gboolean end = ends_here (b, stage, n, &done);

  engage (b, stage, provider);

  for (guint i = 0; i < done; i++) {
    AuraDemoStep *s = add (b, kind, i == 0 ? 100 : vary (b, item_ms), stage);
    s->current = i;
    s->total = n;
    if (i == n / 3 + 1 && stage == AURA_STAGE_TTS)
      maybe_warn (b, stage, g_strdup_printf (AURA_DEMO_TTS_PROVIDER " rate limit reached: scene "
                                             "%u retried after 2 s", i + 1));
    else if (i == 2 * n / 3 && stage == AURA_STAGE_VISUALS)
      maybe_warn (b, stage, g_strdup_printf (AURA_DEMO_IMAGE_PROVIDER ": image %u regenerated "
                                             "after a safety filter hit", i + 1));
  }
  if (end) {
    if (stage == AURA_STAGE_TTS)
      add_end (b, stage,
               g_strdup_printf (AURA_DEMO_TTS_PROVIDER ": quota exceeded (HTTP 429) at scene %u",
                                done + 1),
               g_strdup_printf (AURA_DEMO_TTS_PROVIDER " stopped answering at scene %u",
                                done + 1));
    else
      add_end (b, stage,
               g_strdup_printf (AURA_DEMO_IMAGE_PROVIDER ": out of GPU memory at image %u",
                                done + 1),
               g_strdup_printf (AURA_DEMO_IMAGE_PROVIDER " stopped answering at image %u",
                                done + 1));
    return FALSE;
  }
  stage_done (b, stage, item_ms);
  release (b, stage, provider);
  return TRUE;
}

/* compose and finalize: a few named steps with a percentage */
static gboolean
plan_steps (Builder *b, AuraStage stage, const char *const *names, guint n, double step_ms)
{
  guint done = n;
  gboolean end = ends_here (b, stage, n, &done);

  for (guint i = 0; i < done; i++) {
    AuraDemoStep *s = add (b, AURA_DEMO_STEP_PROGRESS, i == 0 ? 100 : vary (b, step_ms), stage);
    s->percent = 100.0 * i / n;
    s->text = g_strdup (names[i]);
    s->detail = g_strdup_printf ("Step %u of %u", i + 1, n);
  }
  if (end) {
    add_end (b, stage,
             g_strdup_printf ("%s failed: %s", names[done],
                              stage == AURA_STAGE_COMPOSE ? "audio track of scene 3 is missing"
                                                          : "connection reset by the storage "
                                                            "server"),
             g_strdup_printf ("%s hangs: %s", names[done],
                              stage == AURA_STAGE_COMPOSE ? "waiting for the audio track of "
                                                            "scene 3"
                                                          : "the storage server stopped "
                                                            "answering"));
    return FALSE;
  }
  stage_done (b, stage, step_ms);
  return TRUE;
}

/* render: FFmpeg's frame counter every quarter second, at a frame rate that
 * wanders around the machine's speed */
static gboolean
plan_render (Builder *b)
{
  const double tick_ms = 250;
  double video_seconds = g_rand_double_range (b->rand, 45, 90);
  guint64 total = (guint64) (video_seconds * 30);
  double base_fps = g_rand_double_range (b->rand, 110, 220);
  gboolean end = ends_in (b, AURA_STAGE_RENDER);
  guint64 frame = 0, stop = end ? total / 2 : total;
  gboolean warned = FALSE;
  AuraDemoStep *s;

  engage (b, AURA_STAGE_RENDER, AURA_DEMO_PROVIDER_RENDER);
  s = add (b, AURA_DEMO_STEP_FFMPEG, 100, AURA_STAGE_RENDER);
  s->total_frames = total;
  while (frame < stop) {
    double fps = base_fps * g_rand_double_range (b->rand, 0.85, 1.15);
    frame = MIN (frame + (guint64) MAX (fps * tick_ms / 1000.0, 1.0), stop);
    s = add (b, AURA_DEMO_STEP_FFMPEG, (guint) tick_ms, AURA_STAGE_RENDER);
    s->frame = frame;
    s->total_frames = total;
    s->fps = fps;
    s->time_seconds = frame / 30.0;
    if (!warned && frame > total * 3 / 5) {
      warned = TRUE;
      maybe_warn (b, AURA_STAGE_RENDER,
                  g_strdup_printf (AURA_DEMO_RENDER_PROVIDER ": 3 frames dropped at %02u:%02u "
                                   "(source stalled)", (guint) (frame / 30 / 60),
                                   (guint) (frame / 30 % 60)));
    }
  }
  if (end) {
    add_end (b, AURA_STAGE_RENDER,
             g_strdup_printf (AURA_DEMO_RENDER_PROVIDER " exited with status 1: conversion "
                              "failed at frame %" G_GUINT64_FORMAT, frame),
             g_strdup_printf (AURA_DEMO_RENDER_PROVIDER " hangs at frame %" G_GUINT64_FORMAT
                              " (waiting for its input)", frame));
    return FALSE;
  }
  stage_done (b, AURA_STAGE_RENDER, 300);
  release (b, AURA_STAGE_RENDER, AURA_DEMO_PROVIDER_RENDER);
  return TRUE;
}

GPtrArray *
aura_demo_plan_new (guint64 seed, AuraDemoEnd end, AuraStage end_stage)
{
  static const char *const compose_steps[] = {
    "Laying out the timeline", "Placing the voice-over", "Adding transitions",
    "Mixing music and voice",
  };
  static const char *const finalize_steps[] = {
    "Muxing audio and video", "Writing metadata", "Uploading",
  };
  /* the stages that can warn, each with its own message */
  static const AuraStage warning_candidates[] = {
    AURA_STAGE_SCRIPT, AURA_STAGE_TTS, AURA_STAGE_VISUALS, AURA_STAGE_RENDER,
  };
  guint32 seed_words[2] = { (guint32) seed, (guint32) (seed >> 32) };
  Builder b = { NULL, NULL, end, end_stage, 0 };
  guint n_warnings, first;

  g_return_val_if_fail (end == AURA_DEMO_END_COMPLETE || end_stage < AURA_STAGE_COUNT, NULL);
  b.steps = g_ptr_array_new_with_free_func (step_free);
  b.rand = g_rand_new_with_seed_array (seed_words, G_N_ELEMENTS (seed_words));
  /* one or two warnings, in different stages */
  n_warnings = (guint) g_rand_int_range (b.rand, 1, 3);
  first = (guint) g_rand_int_range (b.rand, 0, G_N_ELEMENTS (warning_candidates));
  b.warning_stages = 1u << warning_candidates[first];
  if (n_warnings == 2) {
    guint other = (first + (guint) g_rand_int_range (b.rand, 1, G_N_ELEMENTS (warning_candidates)))
                  % G_N_ELEMENTS (warning_candidates);
    b.warning_stages |= 1u << warning_candidates[other];
  }

  /* The LLM writes the brief and the script, and at the end the metadata. */
  engage (&b, AURA_STAGE_PLANNING, AURA_DEMO_PROVIDER_LLM);
  if (plan_llm (&b, AURA_STAGE_PLANNING, "brief", 2, 1300) &&
      plan_llm (&b, AURA_STAGE_SCRIPT, "draft", (guint) g_rand_int_range (b.rand, 4, 9), 1700) &&
      plan_items (&b, AURA_STAGE_TTS, AURA_DEMO_STEP_TTS, (guint) g_rand_int_range (b.rand, 6, 11),
                  1900) &&
      plan_items (&b, AURA_STAGE_VISUALS, AURA_DEMO_STEP_VISUAL,
                  (guint) g_rand_int_range (b.rand, 6, 13), 1300) &&
      plan_steps (&b, AURA_STAGE_COMPOSE, compose_steps, G_N_ELEMENTS (compose_steps), 1000) &&
      plan_render (&b) &&
      plan_steps (&b, AURA_STAGE_FINALIZE, finalize_steps, G_N_ELEMENTS (finalize_steps), 900)) {
    release (&b, AURA_STAGE_FINALIZE, AURA_DEMO_PROVIDER_LLM);
    add (&b, AURA_DEMO_STEP_COMPLETE, 100, AURA_STAGE_FINALIZE);
  }
  g_rand_free (b.rand);
  return b.steps;
}

guint64
aura_demo_plan_duration_ms (GPtrArray *plan)
{
  guint64 ms = 0;

  for (guint i = 0; i < plan->len; i++)
    ms += ((AuraDemoStep *) plan->pdata[i])->delay_ms;
  return ms;
}

/* SPDX-License-Identifier: MIT */
/* The demo pipeline: its seeded plan (unit tests), and the real aura-demo
 * driving the real daemon. */
#include <math.h>
#include <string.h>

#include "aura-demo-plan.h"

static AuraDemoStep *
step_at (GPtrArray *plan, guint i)
{
  return plan->pdata[i];
}

static guint
count_kind (GPtrArray *plan, AuraDemoStepKind kind)
{
  guint n = 0;

  for (guint i = 0; i < plan->len; i++)
    n += step_at (plan, i)->kind == kind;
  return n;
}

/* Every step belongs to a stage no earlier than the one before, stages end
 * with STAGE_DONE, and the indices of each mapper stay in range. */
static void
assert_plan_well_formed (GPtrArray *plan)
{
  AuraStage stage = AURA_STAGE_PLANNING;
  guint64 last_frame = 0;

  for (guint i = 0; i < plan->len; i++) {
    AuraDemoStep *s = step_at (plan, i);
    g_assert_cmpint (s->stage, >=, stage);
    if (s->stage != stage) {
      /* the previous stage was completed before this one started */
      g_assert_cmpint (step_at (plan, i - 1)->kind, ==, AURA_DEMO_STEP_STAGE_DONE);
      g_assert_cmpint (step_at (plan, i - 1)->stage, ==, stage);
      stage = s->stage;
    }
    switch (s->kind) {
    case AURA_DEMO_STEP_LLM:
      g_assert_cmpint (s->stage, <=, AURA_STAGE_SCRIPT);
      g_assert_cmpuint (s->current, <=, s->total);
      g_assert_cmpstr (s->phase, ==, s->stage == AURA_STAGE_PLANNING ? "brief" : "draft");
      break;
    case AURA_DEMO_STEP_TTS:
    case AURA_DEMO_STEP_VISUAL:
      g_assert_cmpint (s->stage, ==,
                       s->kind == AURA_DEMO_STEP_TTS ? AURA_STAGE_TTS : AURA_STAGE_VISUALS);
      g_assert_cmpuint (s->current, <, s->total);
      break;
    case AURA_DEMO_STEP_FFMPEG:
      g_assert_cmpint (s->stage, ==, AURA_STAGE_RENDER);
      g_assert_cmpuint (s->frame, >=, last_frame);
      g_assert_cmpuint (s->frame, <=, s->total_frames);
      last_frame = s->frame;
      break;
    case AURA_DEMO_STEP_PROGRESS:
      g_assert_true (s->stage == AURA_STAGE_COMPOSE || s->stage == AURA_STAGE_FINALIZE);
      g_assert_cmpfloat (s->percent, >=, 0);
      g_assert_cmpfloat (s->percent, <, 100);
      g_assert_nonnull (s->text);
      break;
    case AURA_DEMO_STEP_WARNING:
    case AURA_DEMO_STEP_FAIL:
      g_assert_nonnull (s->text);
      g_assert_cmpuint (strlen (s->text), >, 10);
      break;
    default:
      break;
    }
  }
}

static void
test_plan_complete (void)
{
  for (guint64 seed = 1; seed <= 50; seed++) {
    g_autoptr(GPtrArray) plan = aura_demo_plan_new (seed, AURA_STAGE_COUNT);
    AuraDemoStep *last = step_at (plan, plan->len - 1);
    guint warnings = count_kind (plan, AURA_DEMO_STEP_WARNING);

    assert_plan_well_formed (plan);
    g_assert_cmpuint (plan->len, >, 20);
    g_assert_cmpint (last->kind, ==, AURA_DEMO_STEP_COMPLETE);
    /* all seven stages completed, through all four mappers */
    g_assert_cmpuint (count_kind (plan, AURA_DEMO_STEP_STAGE_DONE), ==, AURA_STAGE_COUNT);
    g_assert_cmpuint (count_kind (plan, AURA_DEMO_STEP_LLM), >=, 2 + 4);
    g_assert_cmpuint (count_kind (plan, AURA_DEMO_STEP_TTS), >=, 6);
    g_assert_cmpuint (count_kind (plan, AURA_DEMO_STEP_VISUAL), >=, 6);
    g_assert_cmpuint (count_kind (plan, AURA_DEMO_STEP_FFMPEG), >=, 10);
    g_assert_cmpuint (count_kind (plan, AURA_DEMO_STEP_FAIL), ==, 0);
    /* a warning or two */
    g_assert_cmpuint (warnings, >=, 1);
    g_assert_cmpuint (warnings, <=, 2);
    /* about a minute, give or take */
    g_assert_cmpuint (aura_demo_plan_duration_ms (plan), >, 40000);
    g_assert_cmpuint (aura_demo_plan_duration_ms (plan), <, 150000);
  }
}

static void
stage_durations (GPtrArray *plan, double *ms)
{
  memset (ms, 0, sizeof (double) * AURA_STAGE_COUNT);
  for (guint i = 0; i < plan->len; i++)
    ms[step_at (plan, i)->stage] += step_at (plan, i)->delay_ms;
}

/* The same seed gives the same job; stages take very different times, and
 * the same stage differs from job to job. */
static void
test_plan_seeded (void)
{
  g_autoptr(GPtrArray) a = aura_demo_plan_new (42, AURA_STAGE_COUNT);
  g_autoptr(GPtrArray) b = aura_demo_plan_new (42, AURA_STAGE_COUNT);
  g_autoptr(GPtrArray) c = aura_demo_plan_new (43, AURA_STAGE_COUNT);
  double da[AURA_STAGE_COUNT], dc[AURA_STAGE_COUNT];
  guint differing = 0;

  g_assert_cmpuint (a->len, ==, b->len);
  for (guint i = 0; i < a->len; i++) {
    AuraDemoStep *x = step_at (a, i), *y = step_at (b, i);
    g_assert_cmpint (x->kind, ==, y->kind);
    g_assert_cmpuint (x->delay_ms, ==, y->delay_ms);
    g_assert_cmpuint (x->frame, ==, y->frame);
    g_assert_cmpstr (x->text, ==, y->text);
  }
  stage_durations (a, da);
  stage_durations (c, dc);
  for (guint s = 0; s < AURA_STAGE_COUNT; s++)
    differing += fabs (da[s] - dc[s]) > 0.05 * da[s];
  g_assert_cmpuint (differing, >=, 5);
  /* speech and images dominate; planning and finalizing are quick */
  g_assert_cmpfloat (da[AURA_STAGE_TTS], >, 3 * da[AURA_STAGE_PLANNING]);
  g_assert_cmpfloat (da[AURA_STAGE_VISUALS], >, 2 * da[AURA_STAGE_FINALIZE]);
}

/* Across jobs: both one and two warnings happen, in several stages. */
static void
test_plan_warnings (void)
{
  guint with_one = 0, with_two = 0;
  guint32 stages = 0;

  for (guint64 seed = 100; seed < 300; seed++) {
    g_autoptr(GPtrArray) plan = aura_demo_plan_new (seed, AURA_STAGE_COUNT);
    guint n = count_kind (plan, AURA_DEMO_STEP_WARNING);
    with_one += n == 1;
    with_two += n == 2;
    for (guint i = 0; i < plan->len; i++) {
      if (step_at (plan, i)->kind == AURA_DEMO_STEP_WARNING)
        stages |= 1u << step_at (plan, i)->stage;
    }
  }
  g_assert_cmpuint (with_one, >, 20);
  g_assert_cmpuint (with_two, >, 20);
  g_assert_cmpuint (stages, ==, (1u << AURA_STAGE_SCRIPT) | (1u << AURA_STAGE_TTS) |
                                (1u << AURA_STAGE_VISUALS) | (1u << AURA_STAGE_RENDER));
}

/* --fail-at: the stages before are completed (the rollback markers), part
 * of the stage is done, then the job fails with a reason. */
static void
test_plan_fail_at (void)
{
  for (AuraStage stage = 0; stage < AURA_STAGE_COUNT; stage++) {
    g_autoptr(GPtrArray) plan = aura_demo_plan_new (7, stage);
    AuraDemoStep *last = step_at (plan, plan->len - 1);
    guint done_before = 0, in_stage = 0;

    assert_plan_well_formed (plan);
    g_assert_cmpint (last->kind, ==, AURA_DEMO_STEP_FAIL);
    g_assert_cmpint (last->stage, ==, stage);
    g_assert_cmpuint (count_kind (plan, AURA_DEMO_STEP_COMPLETE), ==, 0);
    for (guint i = 0; i < plan->len; i++) {
      AuraDemoStep *s = step_at (plan, i);
      if (s->kind == AURA_DEMO_STEP_STAGE_DONE) {
        g_assert_cmpint (s->stage, <, stage);
        done_before++;
      } else if (s->stage == stage && s->kind != AURA_DEMO_STEP_FAIL) {
        in_stage++;
      }
    }
    g_assert_cmpuint (done_before, ==, stage);
    g_assert_cmpuint (in_stage, >=, 1);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/demo/plan/complete", test_plan_complete);
  g_test_add_func ("/demo/plan/seeded", test_plan_seeded);
  g_test_add_func ("/demo/plan/warnings", test_plan_warnings);
  g_test_add_func ("/demo/plan/fail-at", test_plan_fail_at);
  return g_test_run ();
}

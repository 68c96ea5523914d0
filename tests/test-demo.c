/* SPDX-License-Identifier: MIT */
/* The demo pipeline: its seeded plan (unit tests), and the real aura-demo
 * driving the real daemon on a private bus. */
#include <math.h>
#include <signal.h>
#include <string.h>

#include "aura-bus-variant.h"
#include "aura-demo-plan.h"
#include "aura-json.h"
#include "aura-test-bus.h"
#include "aura-test-proc.h"

#define LEGACY_WARNING "Provider LegacyProvider (LLM) does not support cancellation. Operation " \
                       "may continue until completion."
#define ALL_OK "All providers cancelled or reported as not supporting cancellation"

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

/* What a plan leaves engaged at its end, a bit per provider. */
static guint32
engaged_at_end (GPtrArray *plan)
{
  guint32 engaged = 0;

  for (guint i = 0; i < plan->len; i++) {
    AuraDemoStep *s = step_at (plan, i);
    if (s->kind == AURA_DEMO_STEP_ENGAGE)
      engaged |= 1u << s->provider;
    else if (s->kind == AURA_DEMO_STEP_RELEASE)
      engaged &= ~(1u << s->provider);
  }
  return engaged;
}

/* Every step belongs to a stage no earlier than the one before, a stage
 * starts only once the one before was completed, providers report only
 * while they are engaged, and the indices of each mapper stay in range. */
static void
assert_plan_well_formed (GPtrArray *plan)
{
  AuraStage stage = AURA_STAGE_PLANNING;
  guint32 done = 0, engaged = 0;
  guint64 last_frame = 0;

  for (guint i = 0; i < plan->len; i++) {
    AuraDemoStep *s = step_at (plan, i);
    g_assert_cmpint (s->stage, >=, stage);
    if (s->stage != stage) {
      g_assert_true (done & (1u << stage));
      stage = s->stage;
    }
    /* the LLM is at work from the first step to the last */
    if (i > 0 && s->kind != AURA_DEMO_STEP_COMPLETE)
      g_assert_true (engaged & (1u << AURA_DEMO_PROVIDER_LLM));
    switch (s->kind) {
    case AURA_DEMO_STEP_ENGAGE:
      g_assert_cmpint (s->provider, <, AURA_DEMO_N_PROVIDERS);
      g_assert_false (engaged & (1u << s->provider));
      engaged |= 1u << s->provider;
      break;
    case AURA_DEMO_STEP_RELEASE:
      g_assert_true (engaged & (1u << s->provider));
      engaged &= ~(1u << s->provider);
      break;
    case AURA_DEMO_STEP_STAGE_DONE:
      done |= 1u << s->stage;
      break;
    case AURA_DEMO_STEP_LLM:
      g_assert_cmpint (s->stage, <=, AURA_STAGE_SCRIPT);
      g_assert_cmpuint (s->current, <=, s->total);
      g_assert_cmpstr (s->phase, ==, s->stage == AURA_STAGE_PLANNING ? "brief" : "draft");
      break;
    case AURA_DEMO_STEP_TTS:
    case AURA_DEMO_STEP_VISUAL:
      g_assert_cmpint (s->stage, ==,
                       s->kind == AURA_DEMO_STEP_TTS ? AURA_STAGE_TTS : AURA_STAGE_VISUALS);
      g_assert_true (engaged & (1u << (s->kind == AURA_DEMO_STEP_TTS ? AURA_DEMO_PROVIDER_TTS
                                                                     : AURA_DEMO_PROVIDER_IMAGE)));
      g_assert_cmpuint (s->current, <, s->total);
      break;
    case AURA_DEMO_STEP_FFMPEG:
      g_assert_cmpint (s->stage, ==, AURA_STAGE_RENDER);
      g_assert_true (engaged & (1u << AURA_DEMO_PROVIDER_RENDER));
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
    case AURA_DEMO_STEP_STALL:
      g_assert_nonnull (s->text);
      g_assert_cmpuint (strlen (s->text), >, 10);
      break;
    case AURA_DEMO_STEP_COMPLETE:
      g_assert_cmpuint (done, ==, (1u << AURA_STAGE_COUNT) - 1);
      g_assert_cmpuint (engaged, ==, 0);
      break;
    default:
      break;
    }
  }
  /* it ends with its end */
  if (plan->len > 0) {
    AuraDemoStepKind last = step_at (plan, plan->len - 1)->kind;
    g_assert_true (last == AURA_DEMO_STEP_COMPLETE || last == AURA_DEMO_STEP_FAIL ||
                   last == AURA_DEMO_STEP_STALL);
  }
}

static void
test_plan_complete (void)
{
  for (guint64 seed = 1; seed <= 50; seed++) {
    g_autoptr(GPtrArray) plan = aura_demo_plan_new (seed, AURA_DEMO_END_COMPLETE, 0);
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
    /* each provider engaged once, and released */
    g_assert_cmpuint (count_kind (plan, AURA_DEMO_STEP_ENGAGE), ==, AURA_DEMO_N_PROVIDERS);
    g_assert_cmpuint (count_kind (plan, AURA_DEMO_STEP_RELEASE), ==, AURA_DEMO_N_PROVIDERS);
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
  g_autoptr(GPtrArray) a = aura_demo_plan_new (42, AURA_DEMO_END_COMPLETE, 0);
  g_autoptr(GPtrArray) b = aura_demo_plan_new (42, AURA_DEMO_END_COMPLETE, 0);
  g_autoptr(GPtrArray) c = aura_demo_plan_new (43, AURA_DEMO_END_COMPLETE, 0);
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
    g_autoptr(GPtrArray) plan = aura_demo_plan_new (seed, AURA_DEMO_END_COMPLETE, 0);
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

/* --fail-at and --stall-at: the stages before are completed (the rollback
 * markers), part of the stage is done, then the job fails with a reason, or
 * hangs with the providers of the stage still engaged. */
static void
test_plan_end_at (void)
{
  const AuraDemoEnd ends[] = { AURA_DEMO_END_FAIL, AURA_DEMO_END_STALL };

  for (guint e = 0; e < G_N_ELEMENTS (ends); e++) {
    for (AuraStage stage = 0; stage < AURA_STAGE_COUNT; stage++) {
      g_autoptr(GPtrArray) plan = aura_demo_plan_new (7, ends[e], stage);
      AuraDemoStep *last = step_at (plan, plan->len - 1);
      guint done_before = 0, in_stage = 0;

      assert_plan_well_formed (plan);
      g_assert_cmpint (last->kind, ==,
                       ends[e] == AURA_DEMO_END_FAIL ? AURA_DEMO_STEP_FAIL : AURA_DEMO_STEP_STALL);
      g_assert_cmpint (last->stage, ==, stage);
      g_assert_cmpuint (count_kind (plan, AURA_DEMO_STEP_COMPLETE), ==, 0);
      g_assert_cmpuint (count_kind (plan, AURA_DEMO_STEP_FAIL) +
                        count_kind (plan, AURA_DEMO_STEP_STALL), ==, 1);
      for (guint i = 0; i < plan->len; i++) {
        AuraDemoStep *s = step_at (plan, i);
        if (s->kind == AURA_DEMO_STEP_STAGE_DONE) {
          g_assert_cmpint (s->stage, <, stage);
          done_before++;
        } else if (s->stage == stage && s->kind != last->kind &&
                   s->kind != AURA_DEMO_STEP_ENGAGE) {
          in_stage++;
        }
      }
      g_assert_cmpuint (done_before, ==, stage);
      g_assert_cmpuint (in_stage, >=, 1);
    }
  }
}

/* Who is at work when a job hangs: the LLM always, and the provider of the
 * stage, if it has one. */
static void
test_plan_engaged (void)
{
  const struct { AuraStage stage; guint32 engaged; } cases[] = {
    { AURA_STAGE_PLANNING, 1u << AURA_DEMO_PROVIDER_LLM },
    { AURA_STAGE_SCRIPT, 1u << AURA_DEMO_PROVIDER_LLM },
    { AURA_STAGE_TTS, (1u << AURA_DEMO_PROVIDER_LLM) | (1u << AURA_DEMO_PROVIDER_TTS) },
    { AURA_STAGE_VISUALS, (1u << AURA_DEMO_PROVIDER_LLM) | (1u << AURA_DEMO_PROVIDER_IMAGE) },
    { AURA_STAGE_COMPOSE, 1u << AURA_DEMO_PROVIDER_LLM },
    { AURA_STAGE_RENDER, (1u << AURA_DEMO_PROVIDER_LLM) | (1u << AURA_DEMO_PROVIDER_RENDER) },
    { AURA_STAGE_FINALIZE, 1u << AURA_DEMO_PROVIDER_LLM },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GPtrArray) plan = aura_demo_plan_new (11, AURA_DEMO_END_STALL, cases[i].stage);
    g_assert_cmpuint (engaged_at_end (plan), ==, cases[i].engaged);
  }
  /* only the LLM cannot be cancelled */
  for (AuraDemoProvider p = 0; p < AURA_DEMO_N_PROVIDERS; p++)
    g_assert_cmpint (aura_demo_provider_info (p)->supports_cancellation, ==,
                     p != AURA_DEMO_PROVIDER_LLM);
  g_assert_cmpstr (aura_demo_provider_info (AURA_DEMO_PROVIDER_LLM)->name, ==, "LegacyProvider");
  g_assert_cmpstr (aura_demo_provider_info (AURA_DEMO_PROVIDER_TTS)->type, ==, "TTS");
}

/* ---- the real program ---------------------------------------------------- */

static AuraTestBus *
bus_with_daemon (void)
{
  AuraTestBus *tb = aura_test_bus_new ();

  /* every report an event: the mappers' messages can be counted */
  aura_test_bus_start_daemon_with_config (tb, "[Timing]\nCoalesceIntervalMs=0\n");
  return tb;
}

/* Starts aura-demo on the test's bus (tb NULL: no bus option) with ARGS. */
static AuraTestProc *
demo_start (AuraTestBus *tb, const char *first, ...) G_GNUC_NULL_TERMINATED;

static AuraTestProc *
demo_start (AuraTestBus *tb, const char *first, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  va_list ap;

  g_ptr_array_add (argv, g_strdup (aura_test_program ("AURA_DEMO")));
  if (tb != NULL)
    g_ptr_array_add (argv, g_strdup_printf ("--address=%s", tb->address));
  va_start (ap, first);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (argv, g_strdup (a));
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  return aura_test_proc_start ((const char *const *) argv->pdata, 0);
}

/* GetEvents: a(sta{sv}) */
static GVariant *
get_events (AuraTestBus *tb, const char *job_id)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  g_autoptr(sd_bus_message) reply = aura_test_call (tb->client, &error, "GetEvents", "st", job_id,
                                                    (uint64_t) 0);
  GVariant *events = NULL;

  if (reply == NULL)
    g_error ("GetEvents failed: %s", error.message);
  g_assert_cmpint (aura_bus_message_read_variant (reply, &events), ==, 1);
  g_assert_true (g_variant_is_of_type (events, G_VARIANT_TYPE ("a(sta{sv})")));
  return events;
}

/* The payload of the job's last event, which must be of @type. */
static GVariant *
last_event (GVariant *events, const char *type)
{
  gsize n = g_variant_n_children (events);
  const char *last_type;
  GVariant *payload;

  g_assert_cmpuint (n, >, 0);
  g_variant_get_child (events, n - 1, "(&st@a{sv})", &last_type, NULL, &payload);
  g_assert_cmpstr (last_type, ==, type);
  return payload;
}

static char *
joined_strv (GVariant *dict, const char *key)
{
  g_autofree const char **v = NULL;

  if (!g_variant_lookup (dict, key, "^a&s", &v))
    g_error ("no %s", key);
  return g_strjoinv (", ", (char **) v);
}

/* Waits for a clean exit (status 0, nothing on stderr). */
static void
demo_wait_ok (AuraTestProc *p)
{
  int status = aura_test_proc_wait (p);

  if (status != 0 || p->err.buf->len > 0)
    g_error ("aura-demo exited with status %d; stdout:\n%s\nstderr:\n%s", status,
             p->out.buf->str, p->err.buf->str);
}

static void
assert_output (AuraTestProc *p, const char *needle)
{
  if (strstr (p->out.buf->str, needle) == NULL)
    g_error ("expected '%s' in the output of aura-demo:\n%s", needle, p->out.buf->str);
}

/* A job goes through all seven stages, reported through the four provider
 * mappers, with the warnings of its plan, and completes. */
static void
test_run_complete (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) demo = demo_start (tb, "--job-id=film", "--speed=100", "--seed=5",
                                             NULL);
  g_autoptr(GPtrArray) plan = aura_demo_plan_new (5, AURA_DEMO_END_COMPLETE, 0);
  g_autoptr(GVariant) events = NULL, completed = NULL, state = NULL;
  g_autofree char *completed_stages = NULL;
  g_autoptr(GPtrArray) warnings = g_ptr_array_new ();
  g_autoptr(GPtrArray) planned = g_ptr_array_new ();
  const char *mappers[] = {
    "Planning (brief)", "Writing the script (draft)", "Synthesizing speech with ElevenLabs",
    "Generating images with StableDiffusion",
  };
  guint seen_mappers = 0, n_frames = 0;
  guint32 stages = 0, last_percent = 0;
  GVariantIter iter;
  const char *type;
  GVariant *payload;

  demo_wait_ok (demo);
  assert_output (demo, "film: started (seed 5, about ");
  assert_output (demo, "film: completed in ");

  events = get_events (tb, "film");
  g_variant_iter_init (&iter, events);
  while (g_variant_iter_next (&iter, "(&st@a{sv})", &type, NULL, &payload)) {
    const char *stage = NULL, *message = NULL, *detail = NULL, *correlation = NULL;
    guint32 percent = 0;
    AuraStage s;

    if (strcmp (type, "warning") == 0) {
      g_variant_lookup (payload, "message", "&s", &message);
      g_ptr_array_add (warnings, (gpointer) message);
    } else if (strcmp (type, "step-progress") == 0) {
      g_assert_true (g_variant_lookup (payload, "stage", "&s", &stage));
      g_assert_true (aura_stage_from_string (stage, &s));
      stages |= 1u << s;
      g_variant_lookup (payload, "message", "&s", &message);
      g_variant_lookup (payload, "substageDetail", "&s", &detail);
      g_assert_true (g_variant_lookup (payload, "correlationId", "&s", &correlation));
      g_assert_cmpstr (correlation, ==, "demo-5");
      g_assert_true (g_variant_lookup (payload, "percent", "u", &percent));
      g_assert_cmpuint (percent, >=, last_percent);
      last_percent = percent;
      for (guint i = 0; i < G_N_ELEMENTS (mappers); i++) {
        if (g_strcmp0 (message, mappers[i]) == 0)
          seen_mappers |= 1u << i;
      }
      if (s == AURA_STAGE_RENDER && detail != NULL && g_str_has_prefix (detail, "Frame "))
        n_frames++;
    }
    g_variant_unref (payload);
  }
  g_assert_cmpuint (stages, ==, (1u << AURA_STAGE_COUNT) - 1);
  g_assert_cmpuint (seen_mappers, ==, (1u << G_N_ELEMENTS (mappers)) - 1);
  g_assert_cmpuint (n_frames, >=, 10);
  /* the warnings of the plan, in order */
  for (guint i = 0; i < plan->len; i++) {
    AuraDemoStep *step = plan->pdata[i];
    if (step->kind == AURA_DEMO_STEP_WARNING)
      g_ptr_array_add (planned, step->text);
  }
  g_assert_cmpuint (warnings->len, ==, planned->len);
  for (guint i = 0; i < warnings->len; i++)
    g_assert_cmpstr (warnings->pdata[i], ==, planned->pdata[i]);

  completed = last_event (events, "job-completed");
  state = aura_test_get_job (tb->client, "film");
  completed_stages = joined_strv (state, "completedStages");
  g_assert_cmpstr (completed_stages, ==, "planning, script, tts, visuals, compose, render, "
                                         "finalize");
  g_assert_cmpuint (g_variant_n_children (completed), >, 0);
}

/* --fail-at: the job fails in that stage with a reason, and the stages it
 * completed are its rollback markers. */
static void
test_run_fail_at (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) demo = demo_start (tb, "--job-id=broken", "--speed=100", "--seed=5",
                                             "--fail-at=visuals", NULL);
  g_autoptr(GVariant) events = NULL, failed = NULL;
  g_autofree char *markers = NULL;
  const char *status = NULL, *message = NULL;

  demo_wait_ok (demo);
  assert_output (demo, "broken: failed in visuals after ");
  assert_output (demo, ", as asked: StableDiffusion: out of GPU memory at image ");
  assert_output (demo, "; rollback markers: planning, script, tts\n");

  events = get_events (tb, "broken");
  failed = last_event (events, "job-failed");
  g_assert_true (g_variant_lookup (failed, "status", "&s", &status));
  g_assert_cmpstr (status, ==, "Failed");
  g_assert_true (g_variant_lookup (failed, "message", "&s", &message));
  g_assert_true (g_str_has_prefix (message, "StableDiffusion: out of GPU memory at image "));
  markers = joined_strv (failed, "rollbackStages");
  g_assert_cmpstr (markers, ==, "planning, script, tts");
}

typedef struct {
  const char *stage;
  const char *provider;               /* the cancellable one at work, or NULL */
  const char *type;
  const char *stopped;                /* what aura-demo says it stopped */
  const char *markers;
} CancelCase;

static const CancelCase cancel_cases[] = {
  { "script", NULL, NULL, "none (no provider that can stop was at work)", "planning" },
  { "tts", "ElevenLabs", "TTS", "ElevenLabs", "planning, script" },
  { "render", "FFmpeg", "FFmpeg", "FFmpeg", "planning, script, tts, visuals, compose" },
};

/* Cancelling a job while its providers are at work: the cancellable one
 * stops (Cancelled), the legacy LLM cannot (NotSupported, with the
 * warning); the pipeline honours it and exits. */
static void
test_run_cancel (gconstpointer data)
{
  const CancelCase *c = data;
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autofree char *job_id = g_strdup_printf ("cut-%s", c->stage);
  g_autofree char *job_arg = g_strdup_printf ("--job-id=%s", job_id);
  g_autofree char *stall_arg = g_strdup_printf ("--stall-at=%s", c->stage);
  g_autofree char *stalled = g_strdup_printf ("%s: stalled in %s", job_id, c->stage);
  g_autofree char *said = g_strdup_printf ("; stopped: %s; rollback markers: %s\n", c->stopped,
                                           c->markers);
  g_autoptr(AuraTestProc) demo = demo_start (tb, job_arg, "--speed=50", "--seed=3", stall_arg,
                                             NULL);
  sd_bus_error error = SD_BUS_ERROR_NULL;
  g_autoptr(sd_bus_message) reply = NULL;
  g_autoptr(GVariant) body = NULL, providers = NULL, events = NULL, cancelled = NULL;
  g_autofree const char **warnings = NULL;
  g_autofree char *markers = NULL;
  const char *status, *message, *correlation_id, *name, *type, *pstatus, *warning;
  gboolean cleanup, supports;

  aura_test_proc_wait_output (demo, stalled, 1);
  reply = aura_test_call (tb->client, &error, "CancelJob", "s", job_id);
  if (reply == NULL)
    g_error ("CancelJob failed: %s", error.message);
  g_assert_cmpint (aura_bus_message_read_body (reply, &body), ==, 0);
  g_assert_true (g_variant_is_of_type (body, G_VARIANT_TYPE (AURA_CANCEL_REPLY_TYPE)));
  g_variant_get (body, "(&s&sb@a(ssbss)^a&s&s)", &status, &message, &cleanup, &providers,
                 &warnings, &correlation_id);
  g_assert_cmpstr (status, ==, "Canceled");
  g_assert_cmpstr (message, ==, ALL_OK);
  g_assert_true (cleanup);
  g_assert_cmpstr (correlation_id, ==, "demo-3");
  g_assert_cmpuint (g_variant_n_children (providers), ==, c->provider != NULL ? 2 : 1);
  g_variant_get_child (providers, 0, "(&s&sb&s&s)", &name, &type, &supports, &pstatus, &warning);
  g_assert_cmpstr (name, ==, "LegacyProvider");
  g_assert_cmpstr (type, ==, "LLM");
  g_assert_false (supports);
  g_assert_cmpstr (pstatus, ==, "NotSupported");
  g_assert_cmpstr (warning, ==, LEGACY_WARNING);
  if (c->provider != NULL) {
    g_variant_get_child (providers, 1, "(&s&sb&s&s)", &name, &type, &supports, &pstatus,
                         &warning);
    g_assert_cmpstr (name, ==, c->provider);
    g_assert_cmpstr (type, ==, c->type);
    g_assert_true (supports);
    g_assert_cmpstr (pstatus, ==, "Cancelled");
    g_assert_cmpstr (warning, ==, "");
  }
  g_assert_cmpuint (g_strv_length ((char **) warnings), ==, 1);
  g_assert_cmpstr (warnings[0], ==, LEGACY_WARNING);

  /* the pipeline stopped, said what it stopped, and exited */
  demo_wait_ok (demo);
  assert_output (demo, said);

  events = get_events (tb, job_id);
  cancelled = last_event (events, "job-cancelled");
  markers = joined_strv (cancelled, "rollbackStages");
  g_assert_cmpstr (markers, ==, c->markers);
}

/* SIGTERM (or Ctrl-C): the running job fails with a reason, and the demo
 * exits cleanly. */
static void
test_run_interrupted (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) demo = demo_start (tb, "--job-id=slow", "--speed=1", NULL);
  g_autoptr(GVariant) events = NULL, failed = NULL;
  const char *message = NULL;

  aura_test_proc_wait_output (demo, "slow: started", 1);
  g_subprocess_send_signal (demo->proc, SIGTERM);
  demo_wait_ok (demo);
  events = get_events (tb, "slow");
  failed = last_event (events, "job-failed");
  g_assert_true (g_variant_lookup (failed, "message", "&s", &message));
  g_assert_cmpstr (message, ==, "The demo pipeline was stopped");
}

/* --jobs: several jobs at once, each with its own seed. */
static void
test_run_jobs (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) demo = demo_start (tb, "--job-id=batch", "--jobs=3", "--speed=200",
                                             "--seed=9", NULL);
  const char *out;

  demo_wait_ok (demo);
  out = demo->out.buf->str;
  for (guint i = 1; i <= 3; i++) {
    g_autofree char *job_id = g_strdup_printf ("batch-%u", i);
    g_autofree char *started = g_strdup_printf ("%s: started (seed %u,", job_id, 8 + i);
    g_autofree char *completed = g_strdup_printf ("%s: completed in ", job_id);
    g_autoptr(GVariant) state = aura_test_get_job (tb->client, job_id);
    const char *status = NULL;

    g_assert_nonnull (strstr (out, started));
    /* all three started before any finished */
    g_assert_true (strstr (out, started) < strstr (out, ": completed in "));
    g_assert_nonnull (strstr (out, completed));
    g_assert_true (g_variant_lookup (state, "status", "&s", &status));
    g_assert_cmpstr (status, ==, "Completed");
  }
}

/* --loop: a new job whenever one ends, until interrupted. */
static void
test_run_loop (void)
{
  g_autoptr(AuraTestBus) tb = bus_with_daemon ();
  g_autoptr(AuraTestProc) demo = demo_start (tb, "--job-id=tv", "--loop", "--speed=1000", NULL);

  aura_test_proc_wait_output (demo, "tv-1: completed in ", 1);
  aura_test_proc_wait_output (demo, "tv-2: started", 1);
  g_subprocess_send_signal (demo->proc, SIGINT);
  demo_wait_ok (demo);
}

static void
assert_demo_error (AuraTestBus *tb, int status, const char *expected, const char *arg1,
                   const char *arg2)
{
  g_autoptr(AuraTestProc) demo = demo_start (tb, arg1, arg2, NULL);

  g_assert_cmpint (aura_test_proc_wait (demo), ==, status);
  g_assert_cmpstr (demo->out.buf->str, ==, "");
  if (strcmp (demo->err.buf->str, expected) != 0)
    g_error ("expected stderr '%s', got '%s'", expected, demo->err.buf->str);
}

static void
test_run_errors (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();

  assert_demo_error (tb, 2, "aura-demo: invalid --fail-at 'nope': a stage is one of planning, "
                            "script, tts, visuals, compose, render, finalize\n",
                     "--fail-at=nope", NULL);
  assert_demo_error (tb, 2, "aura-demo: use only one of --fail-at and --stall-at\n",
                     "--fail-at=tts", "--stall-at=render");
  assert_demo_error (tb, 2, "aura-demo: --speed must be from 0.01 to 1000\n", "--speed=0", NULL);
  assert_demo_error (tb, 2, "aura-demo: --jobs must be from 1 to 64\n", "--jobs=65", NULL);
  assert_demo_error (tb, 2, "aura-demo: --seed must be a whole number\n", "--seed=-1", NULL);
  assert_demo_error (tb, 2, "aura-demo: no arguments expected, only options\n", "film", NULL);

  assert_demo_error (tb, 1, "aura-demo: cannot start job x (is aura-progressd running on that "
                            "bus?): The name org.aura.Progress was not provided by any .service "
                            "files\n", "--job-id=x", NULL);
  /* the daemon checks the job id, and says what is allowed */
  aura_test_bus_start_daemon (tb, NULL);
  assert_demo_error (tb, 1, "aura-demo: cannot start job no/slash: invalid job id: job ids are "
                            "1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-', starting "
                            "with a letter or digit\n", "--job-id=no/slash",
                     NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/demo/plan/complete", test_plan_complete);
  g_test_add_func ("/demo/plan/seeded", test_plan_seeded);
  g_test_add_func ("/demo/plan/warnings", test_plan_warnings);
  g_test_add_func ("/demo/plan/end-at", test_plan_end_at);
  g_test_add_func ("/demo/plan/engaged", test_plan_engaged);
  g_test_add_func ("/demo/run/complete", test_run_complete);
  g_test_add_func ("/demo/run/fail-at", test_run_fail_at);
  for (guint i = 0; i < G_N_ELEMENTS (cancel_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/demo/run/cancel/%s", cancel_cases[i].stage);
    g_test_add_data_func (path, &cancel_cases[i], test_run_cancel);
  }
  g_test_add_func ("/demo/run/interrupted", test_run_interrupted);
  g_test_add_func ("/demo/run/jobs", test_run_jobs);
  g_test_add_func ("/demo/run/loop", test_run_loop);
  g_test_add_func ("/demo/run/errors", test_run_errors);
  return g_test_run ();
}

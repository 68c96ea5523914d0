/* SPDX-License-Identifier: MIT */
/* The ETA: the learned estimator on a manual clock, its persistence, the
 * replay benchmark as a guard (ours at most half the seed's error, steadier),
 * and the daemon keeping what it learned across a restart. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "aura-error.h"
#include "aura-model.h"
#include "aura-stage-history.h"
#include "aura-test-bus.h"

#define S (G_USEC_PER_SEC)
#define T0_REAL (G_GINT64_CONSTANT (1795000000) * G_USEC_PER_SEC)

/* ---- expected warnings ---------------------------------------------------
 * The code logs with the structured API, which g_test_expect_message()
 * does not see: a writer catches the warnings a test announces. */

static char *expected_warning;            /* glob pattern, or NULL */
static guint expected_seen;

static GLogWriterOutput
test_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  for (gsize i = 0; expected_warning != NULL && i < n_fields; i++) {
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0 && (level & G_LOG_LEVEL_WARNING) &&
        g_pattern_match_simple (expected_warning, fields[i].value)) {
      expected_seen++;
      return G_LOG_WRITER_HANDLED;
    }
  }
  return g_log_writer_default (level, fields, n_fields, data);
}

static void
expect_warning (const char *pattern)
{
  g_free (expected_warning);
  expected_warning = g_strdup (pattern);
  expected_seen = 0;
}

static void
assert_warned (void)
{
  g_assert_cmpuint (expected_seen, >=, 1);
  g_clear_pointer (&expected_warning, g_free);
}

/* ---- a model on a manual clock ----------------------------------------- */

typedef struct {
  AuraConfig config;
  AuraClock *clock;
  AuraModel *model;
  char *tmpdir;
} Fixture;

static void
fixture_model (Fixture *f, const char *history_path)
{
  f->model = aura_model_new (&f->config, f->clock,
                             aura_event_store_new_memory (f->config.max_history,
                                                          f->config.max_job_history),
                             aura_event_seq_new (NULL, NULL),
                             aura_estimator_new_learned (history_path));
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  aura_config_init (&f->config);
  f->config.retention_us = 0;
  f->clock = aura_clock_new_manual (1000 * S, T0_REAL);
  f->tmpdir = g_dir_make_tmp ("aura-eta-XXXXXX", &error);
  g_assert_no_error (error);
  fixture_model (f, NULL);
}

static void
remove_dir (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    g_autofree char *path = g_build_filename (dir, name, NULL);
    g_unlink (path);
  }
  g_rmdir (dir);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  aura_model_free (f->model);
  aura_clock_unref (f->clock);
  aura_config_clear (&f->config);
  remove_dir (f->tmpdir);
  g_free (f->tmpdir);
}

static AuraJob *
start (Fixture *f, const char *id, GVariant *options)
{
  g_autoptr(GError) error = NULL;
  AuraJob *job = aura_model_start_job (f->model, id, options, 1000, &error);

  g_assert_no_error (error);
  return job;
}

static void
advance (Fixture *f, double seconds)
{
  aura_clock_advance (f->clock, (gint64) llround (seconds * S));
  aura_model_dispatch (f->model);
}

static void
report (Fixture *f, const char *id, const char *stage, double percent)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (aura_model_report_progress (f->model, id, stage, percent, NULL, &error));
  g_assert_no_error (error);
}

static void
complete (Fixture *f, const char *id)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (aura_model_complete_job (f->model, id, &error));
  g_assert_no_error (error);
  aura_model_dispatch (f->model);
}

/* The ETA a client sees; -1 while unknown. */
static double
eta (Fixture *f, const char *id)
{
  AuraJob *job = aura_model_lookup (f->model, id);
  guint32 seconds;
  gint64 end;

  g_assert_nonnull (job);
  if (!aura_model_job_eta (f->model, job, &seconds, &end))
    return -1;
  /* expectedEndTime is the same prediction */
  g_assert_cmpint (end, >=, aura_clock_real (f->clock) + ((gint64) seconds - 1) * S);
  g_assert_cmpint (end, <=, aura_clock_real (f->clock) + (gint64) seconds * S);
  return seconds;
}

/* Stage durations that do not follow the default weights (5 20 30 25 5 10 5):
 * the visuals and the render take most of the time. */
static const double profile[AURA_STAGE_COUNT] = { 10, 20, 10, 200, 10, 100, 10 };

/* Runs a job whose stages take factor x profile, four reports per stage,
 * and calls check() after the first report of the visuals. */
static void
run_job (Fixture *f, const char *id, double factor,
         void (*check) (Fixture *f, const char *id, double remaining, gpointer data),
         gpointer data)
{
  double total = 0, done = 0;

  for (guint s = 0; s < AURA_STAGE_COUNT; s++)
    total += profile[s] * factor;
  start (f, id, NULL);
  for (guint s = 0; s < AURA_STAGE_COUNT; s++) {
    for (guint q = 0; q < 4; q++) {
      report (f, id, aura_stage_to_string (s), q * 25);
      if (check != NULL && s == AURA_STAGE_VISUALS && q == 0)
        check (f, id, total - done, data);
      advance (f, profile[s] * factor / 4);
      done += profile[s] * factor / 4;
    }
  }
  complete (f, id);
}

/* ---- behaviour ---------------------------------------------------------- */

static void
test_unknown_only_at_start (Fixture *f, gconstpointer data)
{
  start (f, "first", NULL);
  g_assert_cmpfloat (eta (f, "first"), <, 0);
  /* nothing learned yet and no progress: no evidence */
  advance (f, 1);
  report (f, "first", "planning", 0);
  g_assert_cmpfloat (eta (f, "first"), <, 0);
  advance (f, 5);
  report (f, "first", "planning", 50);
  g_assert_cmpfloat (eta (f, "first"), >=, 1);
  advance (f, 5);
  report (f, "first", "script", 0);
  g_assert_cmpfloat (eta (f, "first"), >=, 1);
  complete (f, "first");

  /* once a job has completed, the first report is enough, even at 0 % */
  start (f, "second", NULL);
  g_assert_cmpfloat (eta (f, "second"), <, 0);
  advance (f, 1);
  report (f, "second", "planning", 0);
  g_assert_cmpfloat (eta (f, "second"), >=, 1);
}

static void
check_known (Fixture *f, const char *id)
{
  double e = eta (f, id);

  g_assert_cmpfloat (e, >=, 1);
}

static void
test_never_negative (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  AuraJob *job;
  guint32 seconds;
  gint64 end;

  run_job (f, "learn", 1, NULL, NULL);

  /* A job ten times slower than anything seen, stuck for an hour in the
   * middle, and overdue at the end: the ETA stays known and positive. */
  job = start (f, "slow", NULL);
  for (guint s = 0; s < AURA_STAGE_COUNT; s++) {
    for (guint q = 0; q < 4; q++) {
      report (f, "slow", aura_stage_to_string (s), q * 25);
      check_known (f, "slow");
      for (guint k = 0; k < 5; k++) {
        advance (f, profile[s] * 10 / 4 / 5);
        check_known (f, "slow");
      }
      if (s == AURA_STAGE_VISUALS && q == 1) {
        for (guint k = 0; k < 60; k++) {
          advance (f, 60);
          check_known (f, "slow");
        }
      }
    }
  }
  g_assert_true (aura_model_mark_stage_completed (f->model, "slow", "finalize", &error));
  check_known (f, "slow");
  advance (f, 3600);
  check_known (f, "slow");
  /* the estimator itself never goes below 0 */
  g_assert_cmpfloat (aura_model_get_estimator (f->model)->vtable->estimate (
                       aura_model_get_estimator (f->model), job,
                       aura_clock_monotonic (f->clock)), >=, 0);

  /* 0 exactly at completion, with the end time of the job */
  g_assert_true (aura_model_complete_job (f->model, "slow", &error));
  g_assert_true (aura_model_job_eta (f->model, job, &seconds, &end));
  g_assert_cmpuint (seconds, ==, 0);
  g_assert_cmpint (end, ==, job->finished_real);

  /* failed and cancelled jobs have no ETA */
  start (f, "broken", NULL);
  report (f, "broken", "script", 50);
  g_assert_true (aura_model_fail_job (f->model, "broken", "provider crashed", &error));
  g_assert_cmpfloat (eta (f, "broken"), <, 0);
  start (f, "stopped", NULL);
  report (f, "stopped", "script", 50);
  g_assert_true (aura_model_cancel_job (f->model, "stopped", "user cancelled", &error));
  g_assert_cmpfloat (eta (f, "stopped"), <, 0);
}

static void
ffmpeg (Fixture *f, const char *id, guint64 frame, guint64 total, double fps)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (aura_model_report_ffmpeg (f->model, id, frame, total, fps, frame / 30.0, "",
                                           &error));
  g_assert_no_error (error);
}

static void
test_follows_fps_change (Fixture *f, gconstpointer data)
{
  /* Only the render counts, so that the ETA is the render's remaining time.
   * FFmpeg reports every 2 s; its fps is the average since the start, as
   * FFmpeg's own is. */
  g_autoptr(GVariant) options = g_variant_ref_sink (
    g_variant_new_parsed ("{'weights': <{'render': 1.0}>}"));
  const guint64 total = 36000;
  double frame = 0, elapsed = 0, before, after30 = -1, truth30 = 0, after60, truth;

  start (f, "render", options);
  ffmpeg (f, "render", 0, total, 0);
  for (guint i = 0; i < 60; i++) {            /* 120 s at 60 fps */
    advance (f, 2);
    elapsed += 2;
    frame += 120;
    ffmpeg (f, "render", (guint64) frame, total, frame / elapsed);
  }
  truth = (total - frame) / 60;
  before = eta (f, "render");
  g_assert_cmpfloat (fabs (before - truth), <=, 0.1 * truth);

  /* the encoder slows down to 20 fps */
  for (guint i = 0; i < 30; i++) {
    advance (f, 2);
    elapsed += 2;
    frame += 40;
    ffmpeg (f, "render", (guint64) frame, total, frame / elapsed);
    if (i == 14) {
      after30 = eta (f, "render");
      truth30 = (total - frame) / 20;
    }
  }
  after60 = eta (f, "render");
  truth = (total - frame) / 20;
  /* within 30 s the ETA has moved more than halfway; within a minute it is
   * right, where the average since the start (FFmpeg's fps, the seed's kind
   * of estimate) would still be off by half */
  g_assert_cmpfloat (after30 - before, >=, 0.5 * (truth30 - before));
  g_assert_cmpfloat (fabs (after60 - truth), <=, 0.1 * truth);
  g_assert_cmpfloat (fabs ((total - frame) / (frame / elapsed) - truth), >, 0.5 * truth);
}

static void
visual (Fixture *f, const char *id, guint32 index, guint32 total)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (aura_model_report_visual (f->model, id, index, total, "Flux", "", &error));
  g_assert_no_error (error);
}

static void
test_stuck_item (Fixture *f, gconstpointer data)
{
  /* The visuals: 20 images of 10 s, reported (as pipelines do) by the index
   * of the image that starts. */
  const double later = 10 + 100 + 10;   /* compose, render, finalize */
  double at_report, previous, e, truth;

  run_job (f, "learn-1", 1, NULL, NULL);
  run_job (f, "learn-2", 1, NULL, NULL);

  start (f, "stuck", NULL);
  for (guint s = 0; s < AURA_STAGE_VISUALS; s++) {
    for (guint q = 0; q < 4; q++) {
      report (f, "stuck", aura_stage_to_string (s), q * 25);
      advance (f, profile[s] / 4);
    }
  }
  for (guint i = 0; i < 10; i++) {
    visual (f, "stuck", i, 20);
    advance (f, 10);
  }

  /* Image 11 hangs for five minutes. While it is within its usual time the
   * ETA counts down; once it has overrun, the ETA never goes down, and it
   * grows with the overrun (the image is expected to overrun about as much
   * again) on top of the nine images that have not started. */
  visual (f, "stuck", 10, 20);
  at_report = eta (f, "stuck");
  truth = 10 * 10 + later;
  g_assert_cmpfloat (fabs (at_report - truth), <=, 0.1 * truth);
  advance (f, 10);
  g_assert_cmpfloat (eta (f, "stuck"), <, at_report);
  previous = eta (f, "stuck");
  for (guint k = 0; k < 29; k++) {
    advance (f, 10);
    e = eta (f, "stuck");
    g_assert_cmpfloat (e, >=, previous);
    previous = e;
  }
  /* 290 s overdue */
  g_assert_cmpfloat (previous, >=, 9 * 10 + later + 290 * 0.9);

  /* It answers at last. One hung image says little about the others: it
   * counts as at most three times the usual image, so that the nine left
   * are expected to take about their usual 10 s, not the 36 s the images
   * took on average. (The job as a whole now looks slower than the ones
   * before it, which raises the stages after the visuals a little.) */
  visual (f, "stuck", 11, 20);
  truth = 9 * 10 + later;
  e = eta (f, "stuck");
  g_assert_cmpfloat (e, >=, truth);
  g_assert_cmpfloat (e, <=, 1.2 * truth);
  g_assert_cmpfloat (e, <, 9 * (100 + 300.0) / 11 + later - 100);
  advance (f, 10);
  visual (f, "stuck", 12, 20);
  truth = 8 * 10 + later;
  g_assert_cmpfloat (fabs (eta (f, "stuck") - truth), <=, 0.2 * truth);
}

static void
test_steady_eta (Fixture *f, gconstpointer data)
{
  /* 20 images, alternately 7 and 13 s (10 s on average, the visuals taking
   * their usual 200 s): after the first images the predicted end a client
   * sees holds (within 2 s) instead of swinging at every image, and stays
   * right. */
  const double later = 10 + 100 + 10;   /* compose, render, finalize */
  double elapsed = 0, end, previous_end = -1, truth;
  guint moves = 0;

  run_job (f, "learn-1", 1, NULL, NULL);
  run_job (f, "learn-2", 1, NULL, NULL);

  start (f, "steady", NULL);
  for (guint s = 0; s < AURA_STAGE_VISUALS; s++) {
    for (guint q = 0; q < 4; q++) {
      report (f, "steady", aura_stage_to_string (s), q * 25);
      advance (f, profile[s] / 4);
      elapsed += profile[s] / 4;
    }
  }
  for (guint i = 0; i < 20; i++) {
    visual (f, "steady", i, 20);
    end = elapsed + eta (f, "steady");
    truth = (20 - i) * 10 + later;
    g_assert_cmpfloat (fabs (eta (f, "steady") - truth), <=, 0.1 * truth);
    if (i > 2 && fabs (end - previous_end) > 2)
      moves++;
    previous_end = end;
    advance (f, i % 2 ? 13 : 7);
    elapsed += i % 2 ? 13 : 7;
  }
  g_assert_cmpuint (moves, ==, 0);
}

static void
record_error (Fixture *f, const char *id, double remaining, gpointer data)
{
  *(double *) data = fabs (eta (f, id) - remaining) / remaining;
}

static void
test_learns_across_jobs (Fixture *f, gconstpointer data)
{
  AuraEstimator *est = aura_model_get_estimator (f->model);
  double first = -1, later = -1;
  AuraWeights learned;
  AuraJob *job;
  g_autoptr(GVariant) own = g_variant_ref_sink (
    g_variant_new_parsed ("{'weights': <{'tts': 1.0}>}"));

  /* nothing learned: no learned weights either */
  g_assert_false (est->vtable->default_weights (est, &learned));

  /* At the start of the visuals, 320 of the 360 s are left. The first job
   * only has the weights to go by; after three like it, the estimator
   * knows. */
  run_job (f, "job-1", 1, record_error, &first);
  run_job (f, "job-2", 1, NULL, NULL);
  run_job (f, "job-3", 1, NULL, NULL);
  run_job (f, "job-4", 1, record_error, &later);
  g_assert_cmpfloat (first, >, 0.3);
  g_assert_cmpfloat (later, <, 0.05);

  /* the durations also make weights: visuals 200 of 360 s */
  g_assert_true (est->vtable->default_weights (est, &learned));
  g_assert_cmpfloat (fabs (learned.w[AURA_STAGE_VISUALS] - 200.0 / 360 * 100), <, 2);
  g_assert_cmpfloat (fabs (learned.w[AURA_STAGE_RENDER] - 100.0 / 360 * 100), <, 2);

  /* [Weights] Learned=true: jobs without weights of their own get them */
  f->config.learned_weights = TRUE;
  job = start (f, "weighted", NULL);
  g_assert_cmpfloat (fabs (job->weights.w[AURA_STAGE_VISUALS] - learned.w[AURA_STAGE_VISUALS]),
                     <, 1e-9);
  /* a job with weights of its own keeps them (over the configured ones) */
  job = start (f, "own", own);
  g_assert_cmpfloat (fabs (job->weights.w[AURA_STAGE_VISUALS] - 25.0 / 71 * 100), <, 1e-9);
}

/* ---- persistence -------------------------------------------------------- */

static void
test_history_round_trip (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->tmpdir, "durations.json", NULL);
  g_autoptr(AuraStageHistory) h = aura_stage_history_new (4);
  g_autoptr(AuraStageHistory) back = aura_stage_history_new (4);
  g_autoptr(AuraStageHistory) small = aura_stage_history_new (2);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 6; i++) {
    AuraStageRecord r = { 0 };
    for (guint s = 0; s < AURA_STAGE_COUNT; s++)
      r.seconds[s] = i * 100 + s + 0.125;
    r.items[AURA_STAGE_TTS] = i + 1;
    aura_stage_history_add (h, &r);
  }
  /* bounded: the oldest two are gone */
  g_assert_cmpuint (aura_stage_history_len (h), ==, 4);
  g_assert_cmpfloat (aura_stage_history_get (h, 0)->seconds[0], ==, 200.125);

  g_assert_true (aura_stage_history_save (h, path, &error));
  g_assert_no_error (error);
  g_assert_true (aura_stage_history_load (back, path, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (aura_stage_history_len (back), ==, 4);
  for (guint i = 0; i < 4; i++) {
    const AuraStageRecord *a = aura_stage_history_get (h, i), *b = aura_stage_history_get (back, i);
    for (guint s = 0; s < AURA_STAGE_COUNT; s++) {
      g_assert_cmpfloat (a->seconds[s], ==, b->seconds[s]);
      g_assert_cmpuint (a->items[s], ==, b->items[s]);
    }
  }
  /* a file longer than the limit: the newest records are kept */
  g_assert_true (aura_stage_history_load (small, path, &error));
  g_assert_cmpuint (aura_stage_history_len (small), ==, 2);
  g_assert_cmpfloat (aura_stage_history_get (small, 1)->seconds[0], ==, 500.125);
  /* a missing file is an empty history */
  g_unlink (path);
  g_assert_true (aura_stage_history_load (back, path, &error));
  g_assert_cmpuint (aura_stage_history_len (back), ==, 0);
}

static void
collect_eta (Fixture *f, const char *id, double remaining, gpointer data)
{
  *(double *) data = eta (f, id);
}

static void
test_estimator_persists (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->tmpdir, "stage-durations.json", NULL);
  g_autofree char *copy = g_build_filename (f->tmpdir, "copy.json", NULL);
  g_autofree char *contents = NULL;
  double before = -1, after = -1;

  /* learn two jobs into the file, keep a copy of it, predict a third */
  aura_model_free (f->model);
  fixture_model (f, path);
  run_job (f, "a", 1, NULL, NULL);
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  run_job (f, "b", 1.5, NULL, NULL);
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_true (g_file_set_contents (copy, contents, -1, NULL));
  run_job (f, "probe", 1.2, collect_eta, &before);

  /* a restarted estimator predicts the same from the file */
  aura_model_free (f->model);
  fixture_model (f, copy);
  run_job (f, "probe", 1.2, collect_eta, &after);
  g_assert_cmpfloat (before, >=, 1);
  g_assert_cmpfloat (fabs (before - after), <=, 1);

  /* and from the first report of a new job */
  start (f, "fresh", NULL);
  report (f, "fresh", "planning", 0);
  g_assert_cmpfloat (eta (f, "fresh"), >=, 1);
}

static guint
history_len_in (const char *path)
{
  g_autoptr(AuraStageHistory) h = aura_stage_history_new (64);
  g_autoptr(GError) error = NULL;

  g_assert_true (aura_stage_history_load (h, path, &error));
  g_assert_no_error (error);
  return aura_stage_history_len (h);
}

/* Writing is durable, so costly: jobs that end within a second of the last
 * write are written with the next one, or when the estimator is freed. */
static void
test_estimator_saves_bursts (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->tmpdir, "stage-durations.json", NULL);
  const char *const ids[] = { "a", "b", "c" };

  aura_model_free (f->model);
  fixture_model (f, path);
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++) {
    start (f, ids[i], NULL);
    report (f, ids[i], "render", 50);
  }
  advance (f, 60);
  complete (f, "a");
  g_assert_cmpuint (history_len_in (path), ==, 1);
  advance (f, 0.5);
  complete (f, "b");
  g_assert_cmpuint (history_len_in (path), ==, 1);      /* pending */
  advance (f, 0.6);
  complete (f, "c");
  g_assert_cmpuint (history_len_in (path), ==, 3);

  start (f, "d", NULL);
  report (f, "d", "render", 50);
  advance (f, 0.1);
  complete (f, "d");
  g_assert_cmpuint (history_len_in (path), ==, 3);      /* pending */
  g_clear_pointer (&f->model, aura_model_free);
  g_assert_cmpuint (history_len_in (path), ==, 4);      /* written when freed */
  fixture_model (f, NULL);
}

static void
test_corrupt_file (Fixture *f, gconstpointer data)
{
  static const char *const bad[] = {
    "not json",
    "[]",
    "{\"version\": 2, \"jobs\": []}",
    "{\"version\": 1}",
    "{\"version\": 1, \"jobs\": [{\"seconds\": {\"rendering\": 3}}]}",
    "{\"version\": 1, \"jobs\": [{\"seconds\": {\"render\": -3}}]}",
    "{\"version\": 1, \"jobs\": [{\"seconds\": {\"render\": \"3\"}}]}",
    "{\"version\": 1, \"jobs\": [{\"items\": {\"render\": 2.5}}]}",
    "{\"version\": 1, \"jobs\": [3]}",
  };
  g_autofree char *path = g_build_filename (f->tmpdir, "stage-durations.json", NULL);
  g_autofree char *huge = g_strnfill (2 * 1024 * 1024, ' ');
  g_autoptr(AuraStageHistory) h = aura_stage_history_new (8);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i <= G_N_ELEMENTS (bad); i++) {
    g_autoptr(GError) local = NULL;
    AuraStageRecord r = { .seconds = { 1 } };
    aura_stage_history_add (h, &r);
    g_assert_true (g_file_set_contents (path, i < G_N_ELEMENTS (bad) ? bad[i] : huge, -1, NULL));
    g_assert_false (aura_stage_history_load (h, path, &local));
    g_assert_error (local, AURA_ERROR, AURA_ERROR_FAILED);
    g_assert_nonnull (strstr (local->message, "is corrupt"));
    g_assert_cmpuint (aura_stage_history_len (h), ==, 0);
  }

  /* the estimator warns, starts fresh, and replaces the file with a good one */
  g_assert_true (g_file_set_contents (path, "{\"version\": 1, \"jobs\": [{", -1, NULL));
  aura_model_free (f->model);
  expect_warning ("starting the ETA without learned durations: *is corrupt*");
  fixture_model (f, path);
  assert_warned ();
  start (f, "after", NULL);
  report (f, "after", "planning", 0);
  g_assert_cmpfloat (eta (f, "after"), <, 0);          /* nothing learned */
  complete (f, "after");
  g_assert_true (aura_stage_history_load (h, path, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (aura_stage_history_len (h), ==, 1);
}

static void
test_unwritable_file (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->tmpdir, "no-such-dir", "durations.json", NULL);

  /* learning goes on in memory; the failure is a warning, not a crash */
  aura_model_free (f->model);
  fixture_model (f, path);
  expect_warning ("cannot keep the learned stage durations*");
  run_job (f, "a", 1, NULL, NULL);
  assert_warned ();
  start (f, "b", NULL);
  report (f, "b", "planning", 0);
  g_assert_cmpfloat (eta (f, "b"), >=, 1);
}

static void
test_config_learned (void)
{
  static const char *const bad[] = {
    "[Weights]\nLearned=maybe\n",
    "[Weights]\nlearned=true\n",
  };
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  AuraConfig config;

  aura_config_init (&config);
  g_assert_false (config.learned_weights);
  g_assert_true (g_key_file_load_from_data (kf, "[Weights]\nLearned=true\nrender=20\n", -1, 0,
                                            NULL));
  g_assert_true (aura_config_load_keyfile (&config, kf, &error));
  g_assert_no_error (error);
  g_assert_true (config.learned_weights);
  aura_config_clear (&config);

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr(GKeyFile) k = g_key_file_new ();
    g_autoptr(GError) local = NULL;
    aura_config_init (&config);
    g_assert_true (g_key_file_load_from_data (k, bad[i], -1, 0, NULL));
    g_assert_false (aura_config_load_keyfile (&config, k, &local));
    g_assert_error (local, AURA_ERROR, AURA_ERROR_INVALID_ARGS);
    aura_config_clear (&config);
  }
}

/* ---- the replay benchmark ---------------------------------------------- */

typedef struct {
  int status;
  char *out;
  char *err;
} Run;

static void
run_clear (Run *r)
{
  g_free (r->out);
  g_free (r->err);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Run, run_clear)

static void
run_program (Run *r, GPtrArray *argv)
{
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;

  g_ptr_array_add (argv, NULL);
  proc = aura_test_spawn ((const char *const *) argv->pdata,
                          G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &r->out, &r->err, &error);
  g_assert_no_error (error);
  if (!g_subprocess_get_if_exited (proc))
    g_error ("%s was killed: %s", (const char *) argv->pdata[0], r->err);
  r->status = g_subprocess_get_exit_status (proc);
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Replays every *.jsonl in dir, in name order; returns the four figures of
 * the last line. */
static void
replay_dir (const char *dir, double *ours, double *seed, double *ours_stab, double *seed_stab)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDir) d = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) lines = NULL;
  g_auto(Run) r = { 0 };
  const char *name, *last;
  guint n;

  d = g_dir_open (dir, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (d)) != NULL) {
    if (g_str_has_suffix (name, ".jsonl"))
      g_ptr_array_add (files, g_build_filename (dir, name, NULL));
  }
  g_ptr_array_sort (files, compare_strings);
  g_assert_cmpuint (files->len, >=, 20);

  g_ptr_array_add (argv, g_strdup (aura_test_program ("AURA_ETA_REPLAY")));
  for (guint i = 0; i < files->len; i++)
    g_ptr_array_add (argv, g_strdup (files->pdata[i]));
  run_program (&r, argv);
  if (r.status != 0)
    g_error ("eta-replay failed (%d): %s", r.status, r.err);

  /* a line per trace, a summary, and the figures, exactly so */
  lines = g_strsplit (g_strchomp (r.out), "\n", -1);
  n = g_strv_length (lines);
  g_assert_cmpuint (n, ==, files->len + 2);
  last = lines[n - 1];
  g_test_message ("%s: %s", dir, last);
  g_assert_true (g_regex_match_simple ("^eta_error ours=[0-9.]+ seed=[0-9.]+ "
                                       "stability ours=[0-9.]+ seed=[0-9.]+$", last, 0, 0));
  g_assert_cmpint (sscanf (last, "eta_error ours=%lf seed=%lf stability ours=%lf seed=%lf",
                           ours, seed, ours_stab, seed_stab), ==, 4);
}

static void
assert_target (const char *dir)
{
  double ours, seed, ours_stab, seed_stab;

  replay_dir (dir, &ours, &seed, &ours_stab, &seed_stab);
  g_assert_cmpfloat (seed, >, 0);
  g_assert_cmpfloat (ours, <=, 0.5 * seed);
  g_assert_cmpfloat (ours_stab, <, seed_stab);
}

static void
test_replay_committed (void)
{
  assert_target (g_getenv ("AURA_ETA_TRACES"));
}

/* Generates a corpus the estimator was never developed on (a profile and a
 * seed of its own) and holds it to the target. */
static void
assert_target_generated (const char *kind, const char *seed, const char *jobs)
{
  g_autofree char *dir = g_dir_make_tmp ("aura-traces-XXXXXX", NULL);
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_auto(Run) r = { 0 };

  g_ptr_array_add (argv, g_strdup (aura_test_program ("AURA_ETA_TRACEGEN")));
  g_ptr_array_add (argv, g_strdup_printf ("--output-dir=%s", dir));
  g_ptr_array_add (argv, g_strdup_printf ("--profile=%s", kind));
  g_ptr_array_add (argv, g_strdup_printf ("--seed=%s", seed));
  g_ptr_array_add (argv, g_strdup_printf ("--jobs=%s", jobs));
  run_program (&r, argv);
  g_assert_cmpint (r.status, ==, 0);
  assert_target (dir);
  remove_dir (dir);
}

static void
test_replay_unseen (void)
{
  /* short clips: the LLM and the upload dominate */
  assert_target_generated ("fast", "402", "30");
}

static void
test_replay_unseen_long (void)
{
  /* long documentaries: slow renders whose fps is unknown until FFmpeg
   * reports, stuck images, fallbacks */
  assert_target_generated ("long", "402", "30");
}

static void
test_replay_unseen_default (void)
{
  /* the committed corpus's profile, other seeds: one corpus is one draw
   * (a short job on a host faster than any before it costs a corpus a few
   * hundredths of ratio), so several, each held to the target */
  assert_target_generated ("default", "402", "60");
  assert_target_generated ("default", "403", "60");
  assert_target_generated ("default", "404", "60");
}

static void
test_replay_bad_trace (void)
{
  static const struct {
    const char *trace;
    const char *message;
  } bad[] = {
    { "{\"t\": 0, \"call\": \"StartJob\", \"args\": [\"j\", {}]}\n",
      "starts with StartJob and ends with CompleteJob" },
    { "{\"t\": 0, \"call\": \"StartJob\", \"args\": [\"j\", {}]}\n"
      "{\"t\": 1, \"call\": \"Explode\", \"args\": [\"j\"]}\n"
      "{\"t\": 2, \"call\": \"CompleteJob\", \"args\": [\"j\"]}\n",
      ":2: unknown call 'Explode'; traces may contain StartJob," },
    { "{\"t\": 0, \"call\": \"StartJob\", \"args\": [\"j\", {}]}\n"
      "{\"t\": 1, \"call\": \"ReportProgress\", \"args\": [\"j\", \"tts\", 140, {}]}\n"
      "{\"t\": 2, \"call\": \"CompleteJob\", \"args\": [\"j\"]}\n",
      ":2: ReportProgress rejected: stage_percent must be a number from 0 to 100" },
    { "{\"t\": 5, \"call\": \"StartJob\", \"args\": [\"j\", {}]}\n"
      "{\"t\": 1, \"call\": \"CompleteJob\", \"args\": [\"j\"]}\n",
      ":2: \"t\" must be seconds since the job started, not decreasing" },
    { "{\"t\": 0, \"call\": \"StartJob\", \"args\": [\"j\", {}]}\n"
      "{\"t\": 1, \"call\": \"AddWarning\", \"args\": [\"k\", \"w\"]}\n"
      "{\"t\": 2, \"call\": \"CompleteJob\", \"args\": [\"j\"]}\n",
      ":2: a trace is one job: expected job id 'j'" },
  };
  g_autofree char *dir = g_dir_make_tmp ("aura-traces-XXXXXX", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autofree char *path = g_build_filename (dir, "bad.jsonl", NULL);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
    g_auto(Run) r = { 0 };

    g_assert_true (g_file_set_contents (path, bad[i].trace, -1, NULL));
    g_ptr_array_add (argv, g_strdup (aura_test_program ("AURA_ETA_REPLAY")));
    g_ptr_array_add (argv, g_strdup (path));
    run_program (&r, argv);
    g_assert_cmpint (r.status, ==, 1);
    if (strstr (r.err, bad[i].message) == NULL)
      g_error ("expected '%s' in: %s", bad[i].message, r.err);
  }
  remove_dir (dir);
}

/* ---- the daemon --------------------------------------------------------- */

static void
test_daemon_keeps_durations (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autofree char *path = g_build_filename (tb->tmpdir, "state", "stage-durations.json", NULL);
  g_autoptr(AuraStageHistory) h = aura_stage_history_new (8);
  g_autoptr(GVariant) fresh = NULL, known = NULL;
  g_autoptr(GError) error = NULL;
  guint32 eta;

  aura_test_bus_start_daemon (tb, NULL);
  aura_test_call_ok (tb->client, "StartJob", "sa{sv}", "first", 0);
  for (guint s = 0; s < AURA_STAGE_COUNT; s++)
    aura_test_call_ok (tb->client, "ReportProgress", "ssda{sv}", "first", aura_stage_to_string (s), 50.0, 0);
  /* nothing learned yet: no ETA at 0 % */
  aura_test_call_ok (tb->client, "StartJob", "sa{sv}", "probe", 0);
  aura_test_call_ok (tb->client, "ReportProgress", "ssda{sv}", "probe", "planning", 0.0, 0);
  fresh = aura_test_get_job (tb->client, "probe");
  g_assert_false (g_variant_lookup (fresh, "etaSeconds", "u", &eta));
  aura_test_call_ok (tb->client, "CompleteJob", "s", "first");

  g_assert_true (aura_stage_history_load (h, path, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (aura_stage_history_len (h), ==, 1);

  /* after a restart the daemon still knows: an ETA from the first report */
  aura_test_bus_stop_daemon (tb);
  aura_test_bus_wait_name (tb, AURA_BUS_NAME, FALSE);
  aura_test_bus_start_daemon (tb, NULL);
  aura_test_call_ok (tb->client, "StartJob", "sa{sv}", "second", 0);
  aura_test_call_ok (tb->client, "ReportProgress", "ssda{sv}", "second", "planning", 0.0, 0);
  known = aura_test_get_job (tb->client, "second");
  g_assert_true (g_variant_lookup (known, "etaSeconds", "u", &eta));
  g_assert_cmpuint (eta, >=, 1);
  g_assert_true (g_variant_lookup (known, "expectedEndTime", "&s", NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_writer_func (test_log_writer, NULL, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/eta/unknown-only-at-start", test_unknown_only_at_start);
  ADD ("/eta/never-negative", test_never_negative);
  ADD ("/eta/follows-fps-change", test_follows_fps_change);
  ADD ("/eta/stuck-item", test_stuck_item);
  ADD ("/eta/steady", test_steady_eta);
  ADD ("/eta/learns-across-jobs", test_learns_across_jobs);
  ADD ("/eta/history/round-trip", test_history_round_trip);
  ADD ("/eta/history/estimator-persists", test_estimator_persists);
  ADD ("/eta/history/estimator-saves-bursts", test_estimator_saves_bursts);
  ADD ("/eta/history/corrupt-file", test_corrupt_file);
  ADD ("/eta/history/unwritable", test_unwritable_file);
#undef ADD
  g_test_add_func ("/eta/config/learned", test_config_learned);
  g_test_add_func ("/eta/replay/committed-corpus", test_replay_committed);
  g_test_add_func ("/eta/replay/unseen-corpus", test_replay_unseen);
  g_test_add_func ("/eta/replay/unseen-long-corpus", test_replay_unseen_long);
  g_test_add_func ("/eta/replay/unseen-default-corpora", test_replay_unseen_default);
  g_test_add_func ("/eta/replay/bad-trace", test_replay_bad_trace);
  g_test_add_func ("/eta/daemon/keeps-durations", test_daemon_keeps_durations);
  return g_test_run ();
}

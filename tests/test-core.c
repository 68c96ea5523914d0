/* SPDX-License-Identifier: MIT */
/* Unit tests of src/core on a manual clock: no bus, no sleeping. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "aura-error.h"
#include "aura-id.h"
#include "aura-model.h"

#define MS (G_TIME_SPAN_MILLISECOND)
#define T0_REAL (G_GINT64_CONSTANT (1795000000) * G_USEC_PER_SEC)

typedef struct {
  AuraConfig config;
  AuraClock *clock;
  AuraModel *model;
  GPtrArray *events;                  /* AuraEvent, as the listener saw them */
  GPtrArray *removed;                 /* char *, retired job ids */
} Fixture;

static void
on_event (AuraModel *model, AuraJob *job, AuraEvent *event, gpointer user_data)
{
  Fixture *f = user_data;
  g_ptr_array_add (f->events, aura_event_ref (event));
}

static void
on_removed (AuraModel *model, AuraJob *job, gpointer user_data)
{
  Fixture *f = user_data;
  g_ptr_array_add (f->removed, g_strdup (job->id));
}

static const AuraModelListener listener = {
  .job_event = on_event,
  .job_removed = on_removed,
};

static void
fixture_build (Fixture *f)
{
  AuraEventStore *store = aura_event_store_new_memory (f->config.max_history,
                                                       f->config.max_job_history);
  AuraEventSeq *seq = aura_event_seq_new (NULL, NULL);

  f->clock = aura_clock_new_manual (1000 * G_USEC_PER_SEC, T0_REAL);
  f->model = aura_model_new (&f->config, f->clock, store, seq, aura_estimator_new_seed ());
  f->events = g_ptr_array_new_with_free_func ((GDestroyNotify) aura_event_unref);
  f->removed = g_ptr_array_new_with_free_func (g_free);
  aura_model_set_listener (f->model, &listener, f);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  aura_config_init (&f->config);
  fixture_build (f);
}

static void
fixture_teardown_model (Fixture *f)
{
  aura_model_free (f->model);
  aura_clock_unref (f->clock);
  g_ptr_array_unref (f->events);
  g_ptr_array_unref (f->removed);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  fixture_teardown_model (f);
  aura_config_clear (&f->config);
}

static AuraJob *
start (Fixture *f, const char *id)
{
  g_autoptr(GError) error = NULL;
  AuraJob *job = aura_model_start_job (f->model, id, NULL, 1000, &error);

  g_assert_no_error (error);
  g_assert_nonnull (job);
  return job;
}

static void
report (Fixture *f, const char *id, const char *stage, double percent)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (aura_model_report_progress (f->model, id, stage, percent, NULL, &error));
  g_assert_no_error (error);
}

static void
advance (Fixture *f, gint64 us)
{
  aura_clock_advance (f->clock, us);
  aura_model_dispatch (f->model);
}

static AuraEvent *
last_event (Fixture *f)
{
  g_assert_cmpuint (f->events->len, >, 0);
  return f->events->pdata[f->events->len - 1];
}

static guint32
payload_u (AuraEvent *ev, const char *key)
{
  guint32 v = G_MAXUINT32;
  g_assert_true (g_variant_lookup (ev->payload, key, "u", &v));
  return v;
}

static const char *
payload_s (AuraEvent *ev, const char *key)
{
  const char *v = NULL;
  g_assert_true (g_variant_lookup (ev->payload, key, "&s", &v));
  return v;
}

/* ---- percent ----------------------------------------------------------- */

static void
test_percent_weighted (Fixture *f, gconstpointer data)
{
  AuraJob *job = start (f, "job-1");
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (aura_job_percent (job), ==, 0);
  g_assert_true (aura_model_mark_stage_completed (f->model, "job-1", "planning", &error));
  g_assert_cmpuint (aura_job_percent (job), ==, 5);
  report (f, "job-1", "script", 50);
  /* the example: planning completed + script at 50 % -> 15 % */
  g_assert_cmpuint (aura_job_percent (job), ==, 15);
  g_assert_cmpfloat_with_epsilon (job->progress, 0.15, 1e-9);
  report (f, "job-1", "render", 50);
  g_assert_cmpuint (aura_job_percent (job), ==, 90);
  report (f, "job-1", "finalize", 100);
  /* all weight reached, but not completed: 99, never 100 */
  g_assert_cmpuint (aura_job_percent (job), ==, 99);
  g_assert_cmpfloat (job->progress, <, 1.0);
  g_assert_true (aura_model_complete_job (f->model, "job-1", &error));
  g_assert_cmpuint (aura_job_percent (job), ==, 100);
  g_assert_cmpfloat (job->progress, ==, 1.0);
}

static void
test_percent_never_decreases (Fixture *f, gconstpointer data)
{
  AuraJob *job = start (f, "job-1");
  g_autoptr(GVariant) details = g_variant_ref_sink (g_variant_new_parsed ("{'message': <'redo'>}"));
  g_autoptr(GError) error = NULL;
  double before;

  report (f, "job-1", "tts", 50);
  before = job->progress;
  g_assert_cmpuint (aura_job_percent (job), ==, 40);
  /* a lower report updates stage and message, not the bar */
  g_assert_true (aura_model_report_progress (f->model, "job-1", "script", 10, details, &error));
  g_assert_cmpfloat (job->progress, ==, before);
  g_assert_cmpuint (aura_job_percent (job), ==, 40);
  g_assert_cmpstr (aura_stage_to_string (job->stage), ==, "script");
  g_assert_cmpstr (job->message, ==, "redo");
  report (f, "job-1", "tts", 10);
  g_assert_cmpuint (aura_job_percent (job), ==, 40);
}

static void
test_weights_override (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) opts = g_variant_ref_sink (g_variant_new_parsed (
    "{'weights': <{'planning': 1.0, 'script': 1.0, 'tts': 1.0, 'visuals': 1.0, "
    "'compose': 1.0, 'render': 5.0, 'finalize': 0.0}>, 'title': <'t'>, 'correlationId': <'c-1'>}"));
  g_autoptr(GVariant) partial = g_variant_ref_sink (g_variant_new_parsed ("{'weights': <{'render': 10.0}>}"));
  AuraJob *job = aura_model_start_job (f->model, "w", opts, 7, &error);

  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (job->weights.w[AURA_STAGE_RENDER], 50.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (job->weights.w[AURA_STAGE_FINALIZE], 0.0, 1e-9);
  g_assert_cmpstr (job->correlation_id, ==, "c-1");
  g_assert_cmpuint (job->uid, ==, 7);
  report (f, "w", "render", 50);
  g_assert_cmpuint (aura_job_percent (job), ==, 75);

  /* stages left out keep their default weight; then normalised to 100 */
  job = aura_model_start_job (f->model, "p", partial, 7, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (job->weights.w[AURA_STAGE_RENDER], 10.0, 1e-9);
}

static void
test_weights_invalid (Fixture *f, gconstpointer data)
{
  const char *bad[] = {
    "{'weights': <{'rendering': 1.0}>}",
    "{'weights': <{'planning': 0.0, 'script': 0.0, 'tts': 0.0, 'visuals': 0.0, 'compose': 0.0, 'render': 0.0, 'finalize': 0.0}>}",
    "{'weights': <{'render': -1.0}>}",
    "{'weights': <{'render': inf}>}",
    "{'weights': <{'render': nan}>}",
    "{'weights': <[1.0, 2.0]>}",
    "{'title': <5>}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) opts = g_variant_ref_sink (g_variant_new_parsed (bad[i]));
    g_assert_null (aura_model_start_job (f->model, "w", opts, 0, &error));
    g_assert_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS);
  }
  g_assert_cmpuint (aura_model_n_jobs (f->model), ==, 0);
  g_assert_cmpuint (f->events->len, ==, 0);
}

/* ---- mappers ----------------------------------------------------------- */

static void
test_mapper_ffmpeg (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  AuraJob *job = start (f, "job-1");

  g_assert_true (aura_model_report_ffmpeg (f->model, "job-1", 1500, 3000, 29.97, 50.05, "corr", &error));
  g_assert_no_error (error);
  g_assert_cmpint (job->stage, ==, AURA_STAGE_RENDER);
  g_assert_cmpuint (aura_job_percent (job), ==, 90);
  g_assert_true (job->has_items);
  g_assert_cmpuint (job->current_item, ==, 1500);
  g_assert_cmpuint (job->total_items, ==, 3000);
  g_assert_true (job->has_fps);
  g_assert_cmpfloat (job->fps, ==, 29.97);
  g_assert_cmpstr (aura_job_get_substage_detail (job), ==, "Frame 1500 of 3000, 30.0 fps, 00:00:50.050");
  g_assert_cmpstr (job->correlation_id, ==, "corr");
  g_assert_cmpstr (job->message, ==, "Rendering video");
}

static void
test_mapper_tts (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  AuraJob *job = start (f, "job-1");

  /* scene_index is 0-based and reported before that scene starts */
  g_assert_true (aura_model_report_tts (f->model, "job-1", 0, 10, "ElevenLabs", "", &error));
  g_assert_cmpint (job->stage, ==, AURA_STAGE_TTS);
  g_assert_cmpuint (aura_job_percent (job), ==, 25);
  g_assert_cmpuint (job->current_item, ==, 1);
  g_assert_true (aura_model_report_tts (f->model, "job-1", 3, 10, "ElevenLabs", "", &error));
  g_assert_cmpuint (aura_job_percent (job), ==, 34);
  g_assert_cmpuint (job->current_item, ==, 4);
  g_assert_cmpuint (job->total_items, ==, 10);
  g_assert_nonnull (strstr (job->message, "ElevenLabs"));
  g_assert_cmpstr (aura_job_get_substage_detail (job), ==, "Scene 4 of 10");
  g_assert_true (aura_model_report_tts (f->model, "job-1", 10, 10, "ElevenLabs", "", &error));
  g_assert_cmpuint (aura_job_percent (job), ==, 55);
  g_assert_no_error (error);
}

static void
test_mapper_llm (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  AuraJob *job = start (f, "job-1");

  g_assert_true (aura_model_report_llm (f->model, "job-1", "brief", 1, 2, "", &error));
  g_assert_cmpint (job->stage, ==, AURA_STAGE_PLANNING);
  g_assert_cmpfloat_with_epsilon (job->progress, 0.025, 1e-9);
  g_assert_true (aura_model_report_llm (f->model, "job-1", "planning", 2, 2, "", &error));
  g_assert_cmpint (job->stage, ==, AURA_STAGE_PLANNING);
  g_assert_true (aura_model_report_llm (f->model, "job-1", "drafting", 3, 4, "", &error));
  g_assert_cmpint (job->stage, ==, AURA_STAGE_SCRIPT);
  g_assert_cmpuint (aura_job_percent (job), ==, 20);
  g_assert_cmpstr (aura_job_get_substage_detail (job), ==, "Chunk 3 of 4");
  g_assert_no_error (error);
}

static void
test_mapper_visual (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  AuraJob *job = start (f, "job-1");

  g_assert_true (aura_model_report_visual (f->model, "job-1", 5, 20, "StableDiffusion", "", &error));
  g_assert_no_error (error);
  g_assert_cmpint (job->stage, ==, AURA_STAGE_VISUALS);
  /* 55 + 25 * 5/20 */
  g_assert_cmpuint (aura_job_percent (job), ==, 61);
  g_assert_cmpuint (job->current_item, ==, 6);
  g_assert_nonnull (strstr (job->message, "StableDiffusion"));
}

static void
test_mapper_bad_input (Fixture *f, gconstpointer data)
{
  g_autofree char *huge = g_strnfill (5000, 'x');
  g_autofree char *long_name = g_strnfill (257, 'n');
  AuraJob *job = start (f, "job-1");
  guint events = f->events->len;
  struct {
    gboolean ok;
    GError *error;
  } r[32];
  guint n = 0;

#define TRY(call) do { r[n].error = NULL; r[n].ok = (call); n++; } while (0)
  TRY (aura_model_report_ffmpeg (f->model, "job-1", 1, 0, 30, 1, "", &r[n].error));
  TRY (aura_model_report_ffmpeg (f->model, "job-1", 11, 10, 30, 1, "", &r[n].error));
  TRY (aura_model_report_ffmpeg (f->model, "job-1", 1, 10, NAN, 1, "", &r[n].error));
  TRY (aura_model_report_ffmpeg (f->model, "job-1", 1, 10, -1, 1, "", &r[n].error));
  TRY (aura_model_report_ffmpeg (f->model, "job-1", 1, 10, 30, -0.5, "", &r[n].error));
  TRY (aura_model_report_ffmpeg (f->model, "job-1", 1, 10, 30, INFINITY, "", &r[n].error));
  TRY (aura_model_report_ffmpeg (f->model, "job-1", 1, G_MAXUINT64, 30, 1, "", &r[n].error));
  TRY (aura_model_report_tts (f->model, "job-1", 0, 0, "p", "", &r[n].error));
  TRY (aura_model_report_tts (f->model, "job-1", 11, 10, "p", "", &r[n].error));
  TRY (aura_model_report_tts (f->model, "job-1", 1, 10, "", "", &r[n].error));
  TRY (aura_model_report_tts (f->model, "job-1", 1, 10, long_name, "", &r[n].error));
  TRY (aura_model_report_tts (f->model, "job-1", 1, 10, "p", long_name, &r[n].error));
  TRY (aura_model_report_visual (f->model, "job-1", 3, 2, "p", "", &r[n].error));
  TRY (aura_model_report_llm (f->model, "job-1", "", 1, 2, "", &r[n].error));
  TRY (aura_model_report_llm (f->model, "job-1", "x", 3, 2, "", &r[n].error));
  TRY (aura_model_report_llm (f->model, "job-1", "x", 0, 0, "", &r[n].error));
  TRY (aura_model_report_progress (f->model, "job-1", "render", NAN, NULL, &r[n].error));
  TRY (aura_model_report_progress (f->model, "job-1", "render", -0.1, NULL, &r[n].error));
  TRY (aura_model_report_progress (f->model, "job-1", "render", 100.1, NULL, &r[n].error));
  TRY (aura_model_report_progress (f->model, "job-1", "Render", 1, NULL, &r[n].error));
  TRY (aura_model_report_progress (f->model, "job-1", "", 1, NULL, &r[n].error));
  TRY (aura_model_add_warning (f->model, "job-1", "", &r[n].error));
  TRY (aura_model_add_warning (f->model, "job-1", huge, &r[n].error));
  TRY (aura_model_fail_job (f->model, "job-1", "", &r[n].error));
  TRY (aura_model_mark_stage_completed (f->model, "job-1", "rendering", &r[n].error));
  TRY (aura_model_report_progress (f->model, "job-1", "render", 5,
                                   g_variant_new_parsed ("{'currentItem': <uint32 5>, 'totalItems': <uint32 4>}"),
                                   &r[n].error));
  TRY (aura_model_report_progress (f->model, "job-1", "render", 5,
                                   g_variant_new_parsed ("{'currentItem': <-1>, 'totalItems': <4>}"),
                                   &r[n].error));
  TRY (aura_model_report_progress (f->model, "job-1", "render", 5,
                                   g_variant_new_parsed ("{'currentItem': <1>}"), &r[n].error));
  TRY (aura_model_report_progress (f->model, "job-1", "render", 5,
                                   g_variant_new_parsed ("{'message': <3>}"), &r[n].error));
  TRY (aura_model_report_progress (f->model, "job-1", "render", 5,
                                   g_variant_new_parsed ("{'message': <''>}"), &r[n].error));
#undef TRY
  for (guint i = 0; i < n; i++) {
    if (r[i].ok)
      g_error ("bad input %u was accepted", i);
    g_assert_error (r[i].error, AURA_ERROR, AURA_ERROR_INVALID_ARGS);
    g_error_free (r[i].error);
  }
  /* nothing changed */
  g_assert_cmpuint (f->events->len, ==, events);
  g_assert_cmpfloat (job->progress, ==, 0);
  g_assert_cmpint (job->stage, ==, AURA_STAGE_PLANNING);
  g_assert_cmpuint (job->warnings->len, ==, 0);
  g_assert_true (aura_job_is_running (job));
}

static void
test_gdbus_integer_types (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  AuraJob *job = start (f, "job-1");

  /* gdbus call sends <3> as int32: accept every integer type */
  g_assert_true (aura_model_report_progress (
    f->model, "job-1", "visuals", 40,
    g_variant_new_parsed ("{'currentItem': <3>, 'totalItems': <int64 9>, 'substageDetail': <'d'>}"),
    &error));
  g_assert_no_error (error);
  g_assert_cmpuint (job->current_item, ==, 3);
  g_assert_cmpuint (job->total_items, ==, 9);
  g_assert_cmpstr (aura_job_get_substage_detail (job), ==, "d");
}

/* ---- ids --------------------------------------------------------------- */

static void
test_job_ids (void)
{
  g_autofree char *max = g_strnfill (128, 'a');
  g_autofree char *over = g_strnfill (129, 'a');
  const char *good[] = { "a", "0", "job-123", "A.b_c:d-e", max };
  const char *bad[] = { "", "-a", ".a", "_a", ":a", "a b", "a/b", "a%2F", "é", "a\n", over };
  guint64 v;

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (aura_job_id_is_valid (good[i]));
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (aura_job_id_is_valid (bad[i]));
  g_assert_false (aura_job_id_is_valid (NULL));

  g_assert_true (aura_event_id_parse ("0", &v) && v == 0);
  g_assert_true (aura_event_id_parse ("18446744073709551615", &v) && v == G_MAXUINT64);
  g_assert_false (aura_event_id_parse ("18446744073709551616", &v));
  g_assert_false (aura_event_id_parse ("-1", &v));
  g_assert_false (aura_event_id_parse (" 1", &v));
  g_assert_false (aura_event_id_parse ("1a", &v));
  g_assert_false (aura_event_id_parse ("", &v));
  g_assert_false (aura_event_id_parse ("0x10", &v));
}

static void
test_unknown_and_duplicate (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL;

  start (f, "job-1");
  g_assert_null (aura_model_start_job (f->model, "job-1", NULL, 0, &e1));
  g_assert_error (e1, AURA_ERROR, AURA_ERROR_JOB_EXISTS);
  g_assert_false (aura_model_report_progress (f->model, "nope", "render", 1, NULL, &e2));
  g_assert_error (e2, AURA_ERROR, AURA_ERROR_NO_SUCH_JOB);
  g_assert_false (aura_model_report_progress (f->model, "no/pe", "render", 1, NULL, &e3));
  g_assert_error (e3, AURA_ERROR, AURA_ERROR_INVALID_ARGS);
  g_assert_null (aura_model_start_job (f->model, "", NULL, 0, &e4));
  g_assert_error (e4, AURA_ERROR, AURA_ERROR_INVALID_ARGS);
  g_assert_cmpuint (aura_model_n_jobs (f->model), ==, 1);
}

/* ---- status machine ---------------------------------------------------- */

static void
test_status_machine (Fixture *f, gconstpointer data)
{
  const struct {
    const char *id;
    AuraJobStatus status;
    AuraEventType terminal;
  } cases[] = {
    { "c", AURA_JOB_COMPLETED, AURA_EVENT_JOB_COMPLETED },
    { "f", AURA_JOB_FAILED, AURA_EVENT_JOB_FAILED },
    { "x", AURA_JOB_CANCELED, AURA_EVENT_JOB_CANCELLED },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GError) error = NULL;
    AuraJob *job = start (f, cases[i].id);
    gboolean ok;
    AuraEvent *ev;

    switch (cases[i].status) {
    case AURA_JOB_COMPLETED: ok = aura_model_complete_job (f->model, job->id, &error); break;
    case AURA_JOB_FAILED: ok = aura_model_fail_job (f->model, job->id, "boom", &error); break;
    default: ok = aura_model_cancel_job (f->model, job->id, "stopped", &error); break;
    }
    g_assert_no_error (error);
    g_assert_true (ok);
    g_assert_cmpint (job->status, ==, cases[i].status);
    ev = last_event (f);
    g_assert_cmpint (ev->type, ==, cases[i].terminal);
    g_assert_cmpstr (payload_s (ev, "status"), ==, aura_job_status_to_string (cases[i].status));
    /* the final state precedes the terminal event */
    ev = f->events->pdata[f->events->len - 2];
    g_assert_cmpint (ev->type, ==, AURA_EVENT_STEP_PROGRESS);
    g_assert_cmpstr (payload_s (ev, "status"), ==, aura_job_status_to_string (cases[i].status));

    /* nothing leaves a terminal state */
    {
      g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL, e5 = NULL, e6 = NULL;
      guint before = f->events->len;
      g_assert_false (aura_model_complete_job (f->model, job->id, &e1));
      g_assert_false (aura_model_fail_job (f->model, job->id, "again", &e2));
      g_assert_false (aura_model_cancel_job (f->model, job->id, "again", &e3));
      g_assert_false (aura_model_report_progress (f->model, job->id, "render", 5, NULL, &e4));
      g_assert_false (aura_model_add_warning (f->model, job->id, "late", &e5));
      g_assert_false (aura_model_report_ffmpeg (f->model, job->id, 1, 2, 1, 1, "", &e6));
      g_assert_error (e1, AURA_ERROR, AURA_ERROR_NOT_RUNNING);
      g_assert_error (e2, AURA_ERROR, AURA_ERROR_NOT_RUNNING);
      g_assert_error (e3, AURA_ERROR, AURA_ERROR_NOT_RUNNING);
      g_assert_error (e4, AURA_ERROR, AURA_ERROR_NOT_RUNNING);
      g_assert_error (e5, AURA_ERROR, AURA_ERROR_NOT_RUNNING);
      g_assert_error (e6, AURA_ERROR, AURA_ERROR_NOT_RUNNING);
      g_assert_cmpint (job->status, ==, cases[i].status);
      g_assert_cmpuint (f->events->len, ==, before);
    }
  }
}

static void
test_completed_markers (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  AuraJob *job = start (f, "job-1");
  g_autoptr(GVariant) state = NULL;
  g_autofree const char **stages = NULL;

  aura_model_mark_stage_completed (f->model, "job-1", "planning", &error);
  aura_model_mark_stage_completed (f->model, "job-1", "script", &error);
  g_assert_no_error (error);
  g_assert_true (aura_job_stage_completed (job, AURA_STAGE_SCRIPT));
  g_assert_false (aura_job_stage_completed (job, AURA_STAGE_TTS));
  state = aura_model_job_state (f->model, job);
  g_assert_true (g_variant_lookup (state, "completedStages", "^a&s", &stages));
  g_assert_cmpuint (g_strv_length ((char **) stages), ==, 2);
  g_assert_cmpstr (stages[0], ==, "planning");
  g_assert_cmpstr (stages[1], ==, "script");
}

/* ---- warnings ---------------------------------------------------------- */

static void
test_warnings_bounded (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  AuraJob *job;

  f->config.max_warnings_per_job = 3;
  job = start (f, "job-1");
  for (guint i = 0; i < 3; i++) {
    g_autofree char *msg = g_strdup_printf ("warning %u", i);
    g_assert_true (aura_model_add_warning (f->model, "job-1", msg, &error));
    g_assert_cmpint (last_event (f)->type, ==, AURA_EVENT_WARNING);
    g_assert_cmpstr (payload_s (last_event (f), "message"), ==, msg);
  }
  g_assert_false (aura_model_add_warning (f->model, "job-1", "one too many", &error));
  g_assert_error (error, AURA_ERROR, AURA_ERROR_LIMIT_EXCEEDED);
  g_assert_cmpuint (job->warnings->len, ==, 3);
  /* the daemon's own warnings past the limit are dropped, never an error */
  aura_model_add_system_warning (f->model, job, "dropped");
  g_assert_cmpuint (job->warnings->len, ==, 3);

  /* progress events carry the whole warning list */
  report (f, "job-1", "script", 10);
  {
    g_autofree const char **w = NULL;
    g_assert_true (g_variant_lookup (last_event (f)->payload, "warnings", "^a&s", &w));
    g_assert_cmpuint (g_strv_length ((char **) w), ==, 3);
  }
}

/* ---- coalescing -------------------------------------------------------- */

static guint
count_type (Fixture *f, AuraEventType type)
{
  guint n = 0;
  for (guint i = 0; i < f->events->len; i++)
    n += ((AuraEvent *) f->events->pdata[i])->type == type;
  return n;
}

static void
test_coalescing (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  start (f, "job-1");
  g_assert_cmpuint (count_type (f, AURA_EVENT_STEP_PROGRESS), ==, 1);   /* the start */
  report (f, "job-1", "planning", 10);                  /* same stage, too soon: held */
  g_assert_cmpuint (count_type (f, AURA_EVENT_STEP_PROGRESS), ==, 1);
  g_assert_cmpint (aura_model_next_deadline (f->model), ==, aura_clock_monotonic (f->clock) + 100 * MS);

  /* a flood within one interval: one event at its end, with the newest state */
  for (guint i = 0; i < 1000; i++) {
    aura_clock_advance (f->clock, 90);                  /* 90 ms in all */
    report (f, "job-1", "planning", 10 + i * 0.05);
  }
  aura_model_dispatch (f->model);
  g_assert_cmpuint (count_type (f, AURA_EVENT_STEP_PROGRESS), ==, 1);
  advance (f, 10 * MS);
  g_assert_cmpuint (count_type (f, AURA_EVENT_STEP_PROGRESS), ==, 2);
  g_assert_cmpstr (payload_s (last_event (f), "stage"), ==, "planning");
  g_assert_cmpfloat_with_epsilon (((AuraJob *) aura_model_lookup (f->model, "job-1"))->stage_fraction,
                                  0.5995, 1e-9);
  g_assert_cmpint (aura_model_next_deadline (f->model), ==, G_MAXINT64);

  /* a stage change is never delayed */
  advance (f, 1 * MS);
  report (f, "job-1", "script", 1);
  g_assert_cmpuint (count_type (f, AURA_EVENT_STEP_PROGRESS), ==, 3);
  g_assert_cmpstr (payload_s (last_event (f), "stage"), ==, "script");

  /* nor a warning, nor a completed stage */
  report (f, "job-1", "script", 2);
  g_assert_true (aura_model_add_warning (f->model, "job-1", "careful", &error));
  g_assert_cmpint (last_event (f)->type, ==, AURA_EVENT_WARNING);
  g_assert_true (aura_model_mark_stage_completed (f->model, "job-1", "script", &error));
  g_assert_cmpint (last_event (f)->type, ==, AURA_EVENT_STEP_PROGRESS);
  g_assert_cmpuint (payload_u (last_event (f), "percent"), ==, 25);

  /* after a quiet interval a report goes out at once */
  advance (f, 150 * MS);
  report (f, "job-1", "script", 3);
  g_assert_cmpint (last_event (f)->type, ==, AURA_EVENT_STEP_PROGRESS);

  /* a held state is superseded by the terminal one, which is never late */
  report (f, "job-1", "tts", 1);
  report (f, "job-1", "tts", 60);
  g_assert_true (aura_model_complete_job (f->model, "job-1", &error));
  g_assert_cmpint (last_event (f)->type, ==, AURA_EVENT_JOB_COMPLETED);
  g_assert_cmpuint (payload_u (f->events->pdata[f->events->len - 2], "percent"), ==, 100);
  advance (f, 1000 * MS);
  g_assert_cmpint (last_event (f)->type, ==, AURA_EVENT_JOB_COMPLETED);
}

static void
test_coalescing_interval_config (Fixture *f, gconstpointer data)
{
  f->config.coalesce_interval_us = 0;
  start (f, "job-1");
  for (guint i = 1; i <= 10; i++)
    report (f, "job-1", "planning", i);
  g_assert_cmpuint (count_type (f, AURA_EVENT_STEP_PROGRESS), ==, 11);
}

/* ---- history ----------------------------------------------------------- */

static void
test_history_replay (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) all = NULL, after = NULL, other = NULL;
  guint64 prev = 0, mid;
  GVariantIter it;
  const char *type;
  guint64 id;
  GVariant *payload;

  f->config.coalesce_interval_us = 0;
  start (f, "a");
  start (f, "b");
  for (guint i = 0; i < 5; i++) {
    report (f, "a", "script", i * 10);
    report (f, "b", "tts", i * 10);
  }
  aura_model_add_warning (f->model, "a", "w", &error);
  aura_model_complete_job (f->model, "a", &error);
  g_assert_no_error (error);

  /* ids are strictly increasing daemon-wide */
  for (guint i = 0; i < f->events->len; i++) {
    AuraEvent *ev = f->events->pdata[i];
    g_assert_cmpuint (ev->id, >, prev);
    prev = ev->id;
  }
  g_assert_cmpuint (aura_model_last_event_id (f->model), ==, prev);

  all = aura_model_get_events (f->model, "a", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (all), ==, 1 + 5 + 1 + 2);
  g_variant_get_child (all, 3, "(&st@a{sv})", &type, &mid, NULL);
  after = aura_model_get_events (f->model, "a", mid, &error);
  g_assert_cmpuint (g_variant_n_children (after), ==, 5);
  g_variant_iter_init (&it, after);
  while (g_variant_iter_next (&it, "(&st@a{sv})", &type, &id, &payload)) {
    const char *job_id;
    g_assert_cmpuint (id, >, mid);
    g_assert_true (g_variant_lookup (payload, "jobId", "&s", &job_id));
    g_assert_cmpstr (job_id, ==, "a");
    g_variant_unref (payload);
  }
  g_variant_get_child (after, 4, "(&st@a{sv})", &type, &id, NULL);
  g_assert_cmpstr (type, ==, "job-completed");

  other = aura_model_get_events (f->model, "", 0, &error);
  g_assert_cmpuint (g_variant_n_children (other), ==, f->events->len);
  {
    g_autoptr(GError) e = NULL;
    g_assert_null (aura_model_get_events (f->model, "zzz", 0, &e));
    g_assert_error (e, AURA_ERROR, AURA_ERROR_NO_SUCH_JOB);
  }
}

static void
test_history_bounded (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  AuraEventStore *store;
  AuraJob *a;
  guint64 floor;

  f->config.max_history = 50;
  f->config.max_job_history = 20;
  f->config.coalesce_interval_us = 0;
  fixture_teardown_model (f);
  fixture_build (f);
  store = aura_model_get_store (f->model);

  a = start (f, "a");
  for (guint i = 0; i < 100; i++)
    report (f, "a", "script", i / 2.0);
  g_assert_cmpuint (store->vtable->count (store), ==, 20);
  floor = store->vtable->floor (store, "a");
  /* everything after the floor is still there, in order */
  {
    g_autoptr(GVariant) evs = aura_model_get_events (f->model, "a", floor, &error);
    g_assert_cmpuint (g_variant_n_children (evs), ==, 20);
  }
  g_assert_cmpuint (floor, ==, ((AuraEvent *) f->events->pdata[f->events->len - 21])->id);
  (void) a;
  /* the global bound holds across jobs */
  for (guint j = 0; j < 5; j++) {
    g_autofree char *id = g_strdup_printf ("j%u", j);
    start (f, id);
    for (guint i = 0; i < 30; i++)
      report (f, id, "script", i);
  }
  g_assert_cmpuint (store->vtable->count (store), ==, 50);
  g_assert_cmpuint (store->vtable->floor (store, "a"), ==, ((AuraJob *) a)->last_event_id);
}

static void
test_events_page (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) page = NULL;

  f->config.max_events_per_call = 16;
  f->config.coalesce_interval_us = 0;
  start (f, "a");
  for (guint i = 0; i < 40; i++)
    report (f, "a", "script", i);
  page = aura_model_get_events (f->model, "a", 0, &error);
  g_assert_cmpuint (g_variant_n_children (page), ==, 16);
}

static void
test_event_seq_persists (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("aura-seq-XXXXXX", &error);
  g_autofree char *file = g_build_filename (dir, "event-id", NULL);
  guint64 last;

  {
    g_autoptr(AuraEventSeq) seq = aura_event_seq_new (dir, &error);
    g_assert_no_error (error);
    for (guint i = 0; i < 70000; i++)           /* crosses a reservation block */
      last = aura_event_seq_next (seq);
  }
  for (guint run = 0; run < 2; run++) {
    g_autoptr(AuraEventSeq) seq = aura_event_seq_new (dir, &error);
    guint64 next;
    g_assert_no_error (error);
    next = aura_event_seq_next (seq);
    g_assert_cmpuint (next, >, last);
    last = next;
  }
  g_file_set_contents (file, "garbage", -1, &error);
  g_assert_null (aura_event_seq_new (dir, &error));
  g_assert_error (error, AURA_ERROR, AURA_ERROR_FAILED);
  g_unlink (file);
  g_rmdir (dir);
}

/* ---- retention and limits ---------------------------------------------- */

static void
test_retention (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->config.retention_us = 60 * G_USEC_PER_SEC;
  start (f, "done");
  start (f, "running");
  aura_model_complete_job (f->model, "done", &error);
  advance (f, 59 * G_USEC_PER_SEC);
  g_assert_nonnull (aura_model_lookup (f->model, "done"));
  advance (f, 1 * G_USEC_PER_SEC);
  g_assert_null (aura_model_lookup (f->model, "done"));
  g_assert_cmpuint (f->removed->len, ==, 1);
  g_assert_cmpstr (f->removed->pdata[0], ==, "done");
  g_assert_nonnull (aura_model_lookup (f->model, "running"));
  /* its history went with it, and its id may be used again */
  g_assert_null (aura_model_get_events (f->model, "done", 0, &error));
  g_clear_error (&error);
  start (f, "done");
}

static void
test_warning_bytes_bounded (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *w60 = g_strnfill (60, 'a');
  g_autofree char *w50 = g_strnfill (50, 'b');
  AuraJob *job;
  guint n_events;

  f->config.max_warning_bytes_per_job = 100;
  job = start (f, "job-1");
  g_assert_true (aura_model_add_warning (f->model, "job-1", w60, &error));
  n_events = f->events->len;
  g_assert_false (aura_model_add_warning (f->model, "job-1", w50, &error));
  g_assert_error (error, AURA_ERROR, AURA_ERROR_LIMIT_EXCEEDED);
  g_assert_nonnull (strstr (error->message, "MaxWarningBytesPerJob"));
  g_clear_error (&error);
  /* nothing changed, and what still fits is taken */
  g_assert_cmpuint (job->warnings->len, ==, 1);
  g_assert_cmpuint (f->events->len, ==, n_events);
  g_assert_true (aura_model_add_warning (f->model, "job-1", "short", &error));
  g_assert_cmpuint (job->warnings->len, ==, 2);
  /* the daemon's own warnings past the limit are dropped */
  aura_model_add_system_warning (f->model, job, w50);
  g_assert_cmpuint (job->warnings->len, ==, 2);
}

static AuraEvent *
sized_event (guint64 id, const char *job_id, gsize bytes)
{
  g_autofree char *text = g_strnfill (bytes, 'x');
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "message", g_variant_new_string (text));
  return aura_event_new (AURA_EVENT_WARNING, id, job_id, g_variant_builder_end (&b));
}

/* Events differ in size: the history is bounded in bytes, oldest first,
 * and the floor says what went. */
static void
test_history_bytes_bounded (void)
{
  AuraEventStore *store = aura_event_store_new_memory_full (1000, 1000, 10 * 1024);
  g_autoptr(GPtrArray) kept = NULL;

  for (guint64 id = 1; id <= 20; id++) {
    g_autoptr(AuraEvent) ev = sized_event (id, id % 2 ? "a" : "b", 1000);
    store->vtable->append (store, ev);
  }
  /* about 1 KiB each: nine or so fit in 10 KiB */
  g_assert_cmpuint (store->vtable->count (store), <, 10);
  g_assert_cmpuint (store->vtable->count (store), >=, 8);
  kept = store->vtable->query (store, NULL, 0, 1000);
  g_assert_cmpuint (((AuraEvent *) kept->pdata[kept->len - 1])->id, ==, 20);
  g_assert_cmpuint (store->vtable->floor (store, NULL), ==,
                    ((AuraEvent *) kept->pdata[0])->id - 1);
  {
    /* one event larger than the whole budget is still kept, alone */
    g_autoptr(AuraEvent) big = sized_event (21, "a", 20 * 1024);
    store->vtable->append (store, big);
    g_assert_cmpuint (store->vtable->count (store), ==, 1);
  }
  aura_event_store_free (store);
}

/* A GetEvents page ends before it grows past MaxReplyBytes, holds at least
 * one event, and paging still returns every event once. */
static void
test_reply_bytes_bounded (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = g_strnfill (900, 'w');
  guint64 after = 0;
  guint pages = 0, total = 0, n_history;

  f->config.max_reply_bytes = 4096;
  f->config.max_warning_bytes_per_job = 1 << 20;
  start (f, "job-1");
  for (guint i = 0; i < 20; i++)
    g_assert_true (aura_model_add_warning (f->model, "job-1", text, &error));
  n_history = f->events->len;
  for (;;) {
    g_autoptr(GVariant) page = aura_model_get_events (f->model, "job-1", after, &error);
    gsize n;
    g_assert_no_error (error);
    n = g_variant_n_children (page);
    if (n == 0)
      break;
    g_assert_cmpuint (g_variant_get_size (page), <=, 4096 + 2048);
    pages++;
    total += n;
    g_variant_get_child (page, n - 1, "(st@a{sv})", NULL, &after, NULL);
  }
  g_assert_cmpuint (total, ==, n_history);
  g_assert_cmpuint (pages, >, 4);
  {
    /* a single event larger than the page still comes, alone */
    g_autoptr(GVariant) page = NULL;
    f->config.max_reply_bytes = 16;
    page = aura_model_get_events (f->model, "job-1", 0, &error);
    g_assert_cmpuint (g_variant_n_children (page), ==, 1);
  }
}

static void
test_job_limit (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->config.max_jobs = 3;
  start (f, "a");
  start (f, "b");
  start (f, "c");
  g_assert_null (aura_model_start_job (f->model, "d", NULL, 0, &error));
  g_assert_error (error, AURA_ERROR, AURA_ERROR_LIMIT_EXCEEDED);
  g_clear_error (&error);
  /* a finished job waiting out its retention makes room for a new one */
  aura_model_fail_job (f->model, "b", "x", &error);
  start (f, "d");
  g_assert_null (aura_model_lookup (f->model, "b"));
  g_assert_cmpuint (aura_model_n_jobs (f->model), ==, 3);
}

static void
test_user_job_limit (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->config.max_running_jobs_per_user = 2;
  g_assert_nonnull (aura_model_start_job (f->model, "a1", NULL, 1000, &error));
  g_assert_nonnull (aura_model_start_job (f->model, "a2", NULL, 1000, &error));
  g_assert_null (aura_model_start_job (f->model, "a3", NULL, 1000, &error));
  g_assert_error (error, AURA_ERROR, AURA_ERROR_LIMIT_EXCEEDED);
  g_assert_nonnull (strstr (error->message, "MaxRunningJobsPerUser"));
  g_clear_error (&error);
  g_assert_null (aura_model_lookup (f->model, "a3"));
  /* another user is not held up */
  g_assert_nonnull (aura_model_start_job (f->model, "b1", NULL, 2000, &error));
  /* a finished job no longer counts */
  g_assert_true (aura_model_complete_job (f->model, "a1", &error));
  g_assert_nonnull (aura_model_start_job (f->model, "a3", NULL, 1000, &error));
  g_assert_no_error (error);
}

static void
test_authorize (Fixture *f, gconstpointer data)
{
  AuraJob *job = start (f, "job-1");       /* uid 1000 */
  guint32 gid_ops = 50, gid_other = 60;
  guint32 operator = 4242;
  GError *error = NULL;

  g_array_append_val (f->config.operator_uids, operator);
  g_array_append_val (f->config.operator_gids, gid_ops);
  g_assert_true (aura_model_authorize (f->model, job, 1000, NULL, 0, NULL));
  g_assert_true (aura_model_authorize (f->model, job, 0, NULL, 0, NULL));
  g_assert_true (aura_model_authorize (f->model, job, 4242, NULL, 0, NULL));
  g_assert_true (aura_model_authorize (f->model, job, 77, &gid_ops, 1, NULL));
  g_assert_false (aura_model_authorize (f->model, job, 77, &gid_other, 1, &error));
  g_assert_error (error, AURA_ERROR, AURA_ERROR_ACCESS_DENIED);
  g_error_free (error);
}

/* ---- ETA --------------------------------------------------------------- */

static void
test_eta_seed (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  AuraJob *job = start (f, "job-1");
  guint32 eta;
  gint64 end;

  /* unknown at 0 % */
  g_assert_false (aura_model_job_eta (f->model, job, &eta, &end));
  g_assert_false (g_variant_lookup (last_event (f)->payload, "etaSeconds", "u", &eta));
  aura_clock_advance (f->clock, 30 * G_USEC_PER_SEC);
  report (f, "job-1", "script", 25);               /* 10 % after 30 s -> 270 s left */
  g_assert_true (aura_model_job_eta (f->model, job, &eta, &end));
  g_assert_cmpuint (eta, ==, 270);
  g_assert_cmpint (end, ==, aura_clock_real (f->clock) + 270 * G_USEC_PER_SEC);
  g_assert_cmpuint (payload_u (last_event (f), "etaSeconds"), ==, 270);
  aura_model_complete_job (f->model, "job-1", &error);
  g_assert_true (aura_model_job_eta (f->model, job, &eta, &end));
  g_assert_cmpuint (eta, ==, 0);
}

static void
test_eta_failed_unknown (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  AuraJob *job = start (f, "job-1");
  guint32 eta;
  gint64 end;

  aura_clock_advance (f->clock, G_USEC_PER_SEC);
  report (f, "job-1", "script", 50);
  aura_model_fail_job (f->model, "job-1", "broken", &error);
  g_assert_false (aura_model_job_eta (f->model, job, &eta, &end));
}

/* ---- config ------------------------------------------------------------ */

static void
test_config_load (void)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  AuraConfig config;

  aura_config_init (&config);
  g_assert_true (g_key_file_load_from_data (kf,
    "[Weights]\nrender=50\nfinalize=0\n"
    "[Limits]\nMaxJobs=10\nMaxMessageLength=100\n"
    "[Timing]\nCoalesceIntervalMs=250\nRetentionSeconds=1.5\nCancelTimeoutSeconds=0.2\n"
    "[Access]\nOperators=root;12345\nOperatorGroups=0\n", -1, 0, NULL));
  g_assert_true (aura_config_load_keyfile (&config, kf, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (config.max_jobs, ==, 10);
  g_assert_cmpuint (config.max_message_length, ==, 100);
  g_assert_cmpint (config.coalesce_interval_us, ==, 250 * MS);
  g_assert_cmpint (config.retention_us, ==, 1500 * MS);
  g_assert_cmpint (config.cancel_timeout_us, ==, 200 * MS);
  g_assert_cmpuint (config.operator_uids->len, ==, 2);
  g_assert_cmpuint (g_array_index (config.operator_uids, guint32, 0), ==, 0);
  g_assert_cmpuint (g_array_index (config.operator_uids, guint32, 1), ==, 12345);
  g_assert_cmpfloat_with_epsilon (config.weights.w[AURA_STAGE_RENDER], 50.0 * 100 / 135, 1e-9);
  g_assert_cmpfloat_with_epsilon (config.weights.w[AURA_STAGE_FINALIZE], 0, 1e-9);
  aura_config_clear (&config);
}

static void
test_config_invalid (void)
{
  const char *bad[] = {
    "[Limits]\nMaxJobs=0\n",
    "[Limits]\nMaxJobs=many\n",
    "[Timing]\nCoalesceIntervalMs=-1\n",
    "[Timing]\nHeartbeatIntervalSeconds=nan\n",
    "[Weights]\nrendering=5\n",
    "[Weights]\nrender=-5\n",
    "[Access]\nOperators=no-such-user-aura\n",
    "[Limits]\nMaxJob=5\n",
    "[Limit]\nMaxJobs=5\n",
    "[Timing]\nHeartbeatInterval=5\n",
    "[Access]\nOperator=root\n",
    "[Limits]\nMaxHistoryBytes=1000\n",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr(GKeyFile) kf = g_key_file_new ();
    g_autoptr(GError) error = NULL;
    AuraConfig config;
    aura_config_init (&config);
    g_assert_true (g_key_file_load_from_data (kf, bad[i], -1, 0, NULL));
    g_assert_false (aura_config_load_keyfile (&config, kf, &error));
    g_assert_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS);
    aura_config_clear (&config);
  }
}

static void
test_timestamp_format (void)
{
  g_autofree char *a = aura_format_timestamp (G_GINT64_CONSTANT (1795000000123456));
  g_autofree char *b = aura_format_timestamp (0);

  g_assert_cmpstr (a, ==, "2026-11-18T11:06:40.123Z");
  g_assert_cmpstr (b, ==, "1970-01-01T00:00:00.000Z");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/core/percent/weighted", test_percent_weighted);
  ADD ("/core/percent/never-decreases", test_percent_never_decreases);
  ADD ("/core/weights/override", test_weights_override);
  ADD ("/core/weights/invalid", test_weights_invalid);
  ADD ("/core/mapper/ffmpeg", test_mapper_ffmpeg);
  ADD ("/core/mapper/tts", test_mapper_tts);
  ADD ("/core/mapper/llm", test_mapper_llm);
  ADD ("/core/mapper/visual", test_mapper_visual);
  ADD ("/core/mapper/bad-input", test_mapper_bad_input);
  ADD ("/core/details/integer-types", test_gdbus_integer_types);
  ADD ("/core/jobs/unknown-and-duplicate", test_unknown_and_duplicate);
  ADD ("/core/status/machine", test_status_machine);
  ADD ("/core/status/completed-markers", test_completed_markers);
  ADD ("/core/warnings/bounded", test_warnings_bounded);
  ADD ("/core/warnings/bytes", test_warning_bytes_bounded);
  ADD ("/core/events/reply-bytes", test_reply_bytes_bounded);
  ADD ("/core/coalescing/simulated-time", test_coalescing);
  ADD ("/core/coalescing/disabled", test_coalescing_interval_config);
  ADD ("/core/history/replay", test_history_replay);
  ADD ("/core/history/bounded", test_history_bounded);
  ADD ("/core/history/page", test_events_page);
  ADD ("/core/retention", test_retention);
  ADD ("/core/limits/jobs", test_job_limit);
  ADD ("/core/limits/jobs-per-user", test_user_job_limit);
  ADD ("/core/access/authorize", test_authorize);
  ADD ("/core/eta/seed", test_eta_seed);
  ADD ("/core/eta/failed-unknown", test_eta_failed_unknown);
#undef ADD
  g_test_add_func ("/core/ids", test_job_ids);
  g_test_add_func ("/core/event-ids/persist", test_event_seq_persists);
  g_test_add_func ("/core/config/load", test_config_load);
  g_test_add_func ("/core/config/invalid", test_config_invalid);
  g_test_add_func ("/core/history/bytes", test_history_bytes_bounded);
  g_test_add_func ("/core/timestamp", test_timestamp_format);
  return g_test_run ();
}

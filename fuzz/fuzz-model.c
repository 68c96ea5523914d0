/* SPDX-License-Identifier: MIT */
/* The job model driven by arbitrary call sequences on simulated time. The
 * input is a little program: each operation reads its opcode and arguments
 * from the bytes. Whatever the sequence, the model's promises must hold:
 * percent never decreases while a job runs and is 100 only when it
 * completed, a job never leaves a terminal state, event ids strictly
 * increase, every bound holds. */
#include <glib.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "aura-model.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

typedef struct {
  const uint8_t *p;
  const uint8_t *end;
} Reader;

static guint8
take_u8 (Reader *r)
{
  return r->p < r->end ? *r->p++ : 0;
}

static guint32
take_u32 (Reader *r)
{
  guint32 v = 0;
  for (int i = 0; i < 4; i++)
    v = v << 8 | take_u8 (r);
  return v;
}

static double
take_double (Reader *r)
{
  /* mostly sensible numbers, sometimes any bit pattern (NaN, inf, -0) */
  guint8 kind = take_u8 (r);
  if (kind < 200)
    return take_u8 (r) / 2.0;
  {
    guint64 bits = (guint64) take_u32 (r) << 32 | take_u32 (r);
    double d;
    memcpy (&d, &bits, sizeof d);
    return d;
  }
}

static const char *const ids[] = { "a", "b", "c", "job-1", "", "bad id", "x/y" };
static const char *const stages[] = {
  "planning", "script", "tts", "visuals", "compose", "render", "finalize", "Render", "",
};
static const char *const texts[] = { "warning", "", "ElevenLabs", "brief", "drafting", "a\nb" };

#define PICK(r, arr) (arr[take_u8 (r) % G_N_ELEMENTS (arr)])

typedef struct {
  guint percent;
  AuraJobStatus status;
} Seen;

static GHashTable *seen;              /* job id -> Seen, for the invariants */
static guint64 last_event_id;

static void
on_event (AuraModel *model, AuraJob *job, AuraEvent *event, gpointer user_data)
{
  g_assert_cmpuint (event->id, >, last_event_id);
  last_event_id = event->id;
  g_assert_cmpstr (event->job_id, ==, job->id);
}

static void
on_removed (AuraModel *model, AuraJob *job, gpointer user_data)
{
  g_assert_false (aura_job_is_running (job));
  g_hash_table_remove (seen, job->id);
}

static void
check_invariants (AuraModel *model, const AuraConfig *config)
{
  g_autoptr(GPtrArray) jobs = aura_model_list_jobs (model);

  g_assert_cmpuint (jobs->len, <=, config->max_jobs);
  for (guint i = 0; i < jobs->len; i++) {
    AuraJob *job = jobs->pdata[i];
    Seen *s = g_hash_table_lookup (seen, job->id);
    guint percent = aura_job_percent (job);
    guint32 eta;
    gint64 end;

    g_assert_true (job->progress >= 0 && job->progress <= 1);
    g_assert_cmpuint (job->warnings->len, <=, config->max_warnings_per_job);
    g_assert_true (percent < 100 || job->status == AURA_JOB_COMPLETED);
    if (aura_model_job_eta (model, job, &eta, &end))
      g_assert_true (eta > 0 || job->status == AURA_JOB_COMPLETED);
    if (s == NULL) {
      s = g_new0 (Seen, 1);
      g_hash_table_insert (seen, g_strdup (job->id), s);
    } else {
      if (s->status != AURA_JOB_RUNNING)
        g_assert_cmpint (job->status, ==, s->status);
      g_assert_cmpuint (percent, >=, s->percent);
    }
    s->percent = percent;
    s->status = job->status;
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const AuraModelListener listener = { .job_event = on_event, .job_removed = on_removed };
  Reader r = { data, data + size };
  AuraConfig config;
  g_autoptr(AuraClock) clock = aura_clock_new_manual (G_USEC_PER_SEC, G_GINT64_CONSTANT (1795000000000000));
  AuraModel *model;

  aura_config_init (&config);
  config.max_jobs = 4;
  config.max_warnings_per_job = 3;
  config.max_history = 64;
  config.max_job_history = 16;
  config.max_events_per_call = 8;
  config.max_message_length = 16;
  config.max_name_length = 16;
  config.retention_us = 5 * G_USEC_PER_SEC;
  seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  last_event_id = 0;
  model = aura_model_new (&config, clock, aura_event_store_new_memory (config.max_history, config.max_job_history),
                          aura_event_seq_new (NULL, NULL), aura_estimator_new_seed ());
  aura_model_set_listener (model, &listener, NULL);

  for (guint steps = 0; r.p < r.end && steps < 4096; steps++) {
    const char *id = PICK (&r, ids);
    guint8 op = take_u8 (&r) % 15;
    g_autoptr(GError) error = NULL;

    switch (op) {
    case 0: {
      GVariant *opts = NULL;
      if (take_u8 (&r) % 2)
        opts = g_variant_new_parsed ("{'weights': <{%s: %d}>}", PICK (&r, stages),
                                     take_double (&r) - 8.0);
      aura_model_start_job (model, id, opts, take_u8 (&r), &error);
      break;
    }
    case 1: {
      GVariant *details = NULL;
      if (take_u8 (&r) % 2)
        details = g_variant_new_parsed ("{'message': <%s>, 'currentItem': <%u>, 'totalItems': <%u>}",
                                        PICK (&r, texts), take_u8 (&r), take_u8 (&r));
      aura_model_report_progress (model, id, PICK (&r, stages), take_double (&r) * 3, details, &error);
      break;
    }
    case 2:
      aura_model_report_ffmpeg (model, id, take_u8 (&r), take_u8 (&r), take_double (&r),
                                take_double (&r), PICK (&r, texts), &error);
      break;
    case 3:
      aura_model_report_tts (model, id, take_u8 (&r), take_u8 (&r), PICK (&r, texts), "", &error);
      break;
    case 4:
      aura_model_report_llm (model, id, PICK (&r, texts), take_u8 (&r), take_u8 (&r), "", &error);
      break;
    case 5:
      aura_model_report_visual (model, id, take_u8 (&r), take_u8 (&r), PICK (&r, texts), "", &error);
      break;
    case 6:
      aura_model_add_warning (model, id, PICK (&r, texts), &error);
      break;
    case 7:
      aura_model_mark_stage_completed (model, id, PICK (&r, stages), &error);
      break;
    case 8:
      aura_model_complete_job (model, id, &error);
      break;
    case 9:
      aura_model_fail_job (model, id, PICK (&r, texts), &error);
      break;
    case 10:
      aura_model_cancel_job (model, id, PICK (&r, texts), &error);
      break;
    case 11:
      aura_clock_advance (clock, (gint64) take_u8 (&r) * 10 * G_TIME_SPAN_MILLISECOND);
      aura_model_dispatch (model);
      break;
    case 12: {
      GVariant *events = aura_model_get_events (model, id, take_u8 (&r), &error);
      if (events != NULL) {
        g_assert_cmpuint (g_variant_n_children (events), <=, config.max_events_per_call);
        g_variant_unref (g_variant_ref_sink (events));
      }
      break;
    }
    case 13: {
      AuraJob *job = aura_model_lookup (model, id);
      if (job != NULL)
        g_variant_unref (g_variant_ref_sink (aura_model_job_state (model, job)));
      break;
    }
    default:
      aura_clock_advance (clock, (gint64) take_u32 (&r) * G_TIME_SPAN_MILLISECOND);
      aura_model_dispatch (model);
      break;
    }
    check_invariants (model, &config);
  }

  aura_model_free (model);
  aura_config_clear (&config);
  g_hash_table_unref (seen);
  return 0;
}

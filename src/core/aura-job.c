/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "aura-error.h"
#include "aura-job.h"

/* Percent and progress stay below their maximum until the job completes, so
 * that "100 %" always means done. */
#define PROGRESS_CAP_RUNNING 0.9999

static const char *const status_names[] = {
  "Running", "Completed", "Failed", "Canceled",
};

const char *
aura_job_status_to_string (AuraJobStatus status)
{
  g_return_val_if_fail (status <= AURA_JOB_CANCELED, NULL);
  return status_names[status];
}

gboolean
aura_job_is_running (const AuraJob *job)
{
  return job->status == AURA_JOB_RUNNING;
}

AuraJob *
aura_job_new (const char *id, guint32 uid, const AuraWeights *weights,
              gint64 now_mono, gint64 now_real)
{
  AuraJob *job = g_new0 (AuraJob, 1);

  job->id = g_strdup (id);
  job->uid = uid;
  job->weights = *weights;
  job->stage = AURA_STAGE_PLANNING;
  job->emitted_stage = AURA_STAGE_PLANNING;
  job->message = g_strdup ("Job started");
  job->warnings = g_ptr_array_new_with_free_func (g_free);
  job->started_mono = now_mono;
  job->started_real = now_real;
  job->last_report_mono = now_mono;
  return job;
}

void
aura_job_free (AuraJob *job)
{
  if (job == NULL)
    return;
  if (job->estimator_data_free != NULL)
    job->estimator_data_free (job->estimator_data);
  g_free (job->id);
  g_free (job->title);
  g_free (job->correlation_id);
  g_free (job->message);
  g_free (job->substage_detail);
  g_ptr_array_unref (job->warnings);
  g_free (job);
}

gboolean
aura_job_stage_completed (const AuraJob *job, AuraStage stage)
{
  return (job->completed_mask & (1u << stage)) != 0;
}

GVariant *
aura_job_completed_stages (const AuraJob *job)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_STRING_ARRAY);
  for (guint s = 0; s < AURA_STAGE_COUNT; s++) {
    if (aura_job_stage_completed (job, s))
      g_variant_builder_add (&b, "s", aura_stage_to_string (s));
  }
  return g_variant_builder_end (&b);
}

double
aura_job_raw_progress (const AuraJob *job)
{
  double sum = 0;

  for (guint s = 0; s < AURA_STAGE_COUNT; s++) {
    if (s < job->stage || aura_job_stage_completed (job, s))
      sum += job->weights.w[s];
    else if (s == job->stage)
      sum += job->weights.w[s] * job->stage_fraction;
  }
  return CLAMP (sum / 100.0, 0.0, 1.0);
}

guint
aura_job_percent (const AuraJob *job)
{
  if (job->status == AURA_JOB_COMPLETED)
    return 100;
  /* The epsilon absorbs the rounding of normalised weights, so that
   * planning completed + script at 50 % reads as 15, not 14. */
  return MIN ((guint) floor (job->progress * 100.0 + 1e-9), 99u);
}

double
aura_job_elapsed (const AuraJob *job, gint64 now_mono)
{
  return MAX (0, now_mono - job->started_mono) / (double) G_USEC_PER_SEC;
}

gboolean
aura_check_text (const char *what, const char *text, gsize max_len,
                 gboolean allow_empty, GError **error)
{
  gsize len = text != NULL ? strlen (text) : 0;

  if (len == 0 && !allow_empty) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                 "%s must not be empty (at most %" G_GSIZE_FORMAT " bytes)", what, max_len);
    return FALSE;
  }
  if (len > max_len) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                 "%s is %" G_GSIZE_FORMAT " bytes long; at most %" G_GSIZE_FORMAT " bytes are allowed",
                 what, len, max_len);
    return FALSE;
  }
  if (len > 0 && !g_utf8_validate (text, (gssize) len, NULL)) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                 "%s must be valid UTF-8", what);
    return FALSE;
  }
  return TRUE;
}

static void
update_progress (AuraJob *job)
{
  double raw = MIN (aura_job_raw_progress (job), PROGRESS_CAP_RUNNING);

  if (raw > job->progress)
    job->progress = raw;
}

void
aura_job_set_stage_progress (AuraJob *job, AuraStage stage, double fraction)
{
  job->stage = stage;
  job->stage_fraction = CLAMP (fraction, 0.0, 1.0);
  update_progress (job);
}

static void
replace_string (char **slot, const char *value)
{
  if (g_strcmp0 (*slot, value) == 0)
    return;
  g_free (*slot);
  *slot = g_strdup (value);
}

void
aura_job_set_message (AuraJob *job, const char *message)
{
  replace_string (&job->message, message != NULL ? message : "");
}

void
aura_job_set_substage_detail (AuraJob *job, const char *detail)
{
  job->render_detail = FALSE;
  replace_string (&job->substage_detail, detail != NULL && detail[0] != '\0' ? detail : NULL);
}

void
aura_job_set_render_detail (AuraJob *job)
{
  g_clear_pointer (&job->substage_detail, g_free);
  job->render_detail = TRUE;
}

const char *
aura_job_get_substage_detail (AuraJob *job)
{
  if (job->render_detail) {
    guint64 media_ms = (guint64) llround (job->media_time * 1000);
    g_autofree char *media =
      g_strdup_printf ("%02u:%02u:%02u.%03u", (unsigned) (media_ms / 3600000),
                       (unsigned) (media_ms / 60000 % 60), (unsigned) (media_ms / 1000 % 60),
                       (unsigned) (media_ms % 1000));

    job->render_detail = FALSE;
    g_free (job->substage_detail);
    /* the media time is the position reached in the rendered video */
    job->substage_detail = g_strdup_printf (_("Frame %llu of %llu, %.1f fps, %s"),
                                            (unsigned long long) job->frame,
                                            (unsigned long long) job->total_frames, job->fps,
                                            media);
  }
  return job->substage_detail;
}

void
aura_job_set_items (AuraJob *job, gboolean has_items, guint32 current, guint32 total)
{
  job->has_items = has_items;
  job->current_item = has_items ? current : 0;
  job->total_items = has_items ? total : 0;
}

void
aura_job_set_correlation_id (AuraJob *job, const char *correlation_id)
{
  if (correlation_id != NULL && correlation_id[0] != '\0')
    replace_string (&job->correlation_id, correlation_id);
}

void
aura_job_mark_stage_completed (AuraJob *job, AuraStage stage)
{
  job->completed_mask |= 1u << stage;
  update_progress (job);
}

void
aura_job_finish (AuraJob *job, AuraJobStatus status, const char *message, gint64 now_real)
{
  g_return_if_fail (job->status == AURA_JOB_RUNNING);
  g_return_if_fail (status != AURA_JOB_RUNNING);

  job->status = status;
  job->finished_real = now_real;
  if (status == AURA_JOB_COMPLETED) {
    job->progress = 1.0;
    job->stage = AURA_STAGE_FINALIZE;
    job->stage_fraction = 1.0;
  }
  aura_job_set_message (job, message);
}

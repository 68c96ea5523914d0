/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "aura-config.h"
#include "aura-stage.h"

G_BEGIN_DECLS

typedef enum {
  AURA_JOB_RUNNING,
  AURA_JOB_COMPLETED,
  AURA_JOB_FAILED,
  AURA_JOB_CANCELED,
} AuraJobStatus;

/**
 * AuraJob:
 * The state of one job. Fields are read by the model, the estimators and the
 * bus layer; only aura-job.c and aura-model.c write them.
 */
typedef struct _AuraJob AuraJob;

struct _AuraJob {
  char *id;
  char *title;
  char *correlation_id;               /* NULL: none */
  guint32 uid;                        /* who started it */
  AuraJobStatus status;
  AuraWeights weights;                /* normalised, sum 100 */

  AuraStage stage;
  double stage_fraction;              /* 0..1 of the current stage */
  guint32 completed_mask;             /* bit per stage: rollback markers */
  double progress;                    /* overall 0..1, never decreasing */

  char *message;
  char *substage_detail;              /* NULL: none; read it with aura_job_get_substage_detail() */
  gboolean render_detail;             /* the detail is still to be made from the FFmpeg counters */
  gboolean has_items;
  guint32 current_item;
  guint32 total_items;
  GPtrArray *warnings;                /* char *, at most max_warnings_per_job */

  gboolean has_fps;                   /* last FFmpeg report */
  double fps;
  guint64 frame;
  guint64 total_frames;
  double media_time;

  gint64 started_mono;
  gint64 started_real;
  gint64 finished_real;               /* 0 while running */
  gint64 last_report_mono;
  guint64 last_event_id;
  guint64 n_reports;

  /* estimator's per-job data */
  gpointer estimator_data;
  GDestroyNotify estimator_data_free;

  /* model-private */
  gboolean dirty;
  gint64 last_emit_mono;
  AuraStage emitted_stage;
  gpointer timer;
  gpointer retire_timer;
};

const char *aura_job_status_to_string (AuraJobStatus status);
gboolean    aura_job_is_running (const AuraJob *job);

AuraJob    *aura_job_new (const char *id, guint32 uid, const AuraWeights *weights,
                          gint64 now_mono, gint64 now_real);
void        aura_job_free (AuraJob *job);

/* The weighted overall fraction from the stage, its fraction and the
 * completed stages, before the never-decreasing rule is applied. */
double      aura_job_raw_progress (const AuraJob *job);
/* 0..100; 100 only when completed. */
guint       aura_job_percent (const AuraJob *job);
gboolean    aura_job_stage_completed (const AuraJob *job, AuraStage stage);
/* The completed stages (the rollback markers) in stage order, as "as". */
GVariant   *aura_job_completed_stages (const AuraJob *job);
/* Seconds since the job started, on the monotonic clock. */
double      aura_job_elapsed (const AuraJob *job, gint64 now_mono);

/* Input validation shared by every entry point; the messages say what is
 * allowed. */
gboolean    aura_check_text (const char *what, const char *text, gsize max_len,
                             gboolean allow_empty, GError **error);

/* Mutators, called by the model after it has checked that the job runs. */
void        aura_job_set_stage_progress (AuraJob *job, AuraStage stage, double fraction);
void        aura_job_set_message (AuraJob *job, const char *message);
void        aura_job_set_substage_detail (AuraJob *job, const char *detail);
/* The detail is "Frame N of M, F fps, HH:MM:SS.mmm" from frame, total_frames,
 * fps and media_time, made when it is first read: FFmpeg reports arrive by
 * the thousand per second, and the detail is read a few times a second. */
void        aura_job_set_render_detail (AuraJob *job);
/* The substage detail (NULL: none). */
const char *aura_job_get_substage_detail (AuraJob *job);
void        aura_job_set_items (AuraJob *job, gboolean has_items, guint32 current, guint32 total);
void        aura_job_set_correlation_id (AuraJob *job, const char *correlation_id);
void        aura_job_mark_stage_completed (AuraJob *job, AuraStage stage);
void        aura_job_finish (AuraJob *job, AuraJobStatus status, const char *message, gint64 now_real);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraJob, aura_job_free)

G_END_DECLS

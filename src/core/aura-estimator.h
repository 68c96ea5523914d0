/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "aura-job.h"

G_BEGIN_DECLS

/**
 * AuraEstimator:
 * Estimates the time a running job still needs. The model calls the hooks on
 * the daemon's single thread; an estimator may keep per-job data in
 * job->estimator_data (freed with job->estimator_data_free) and may learn
 * across jobs. Times are monotonic microseconds from the model's clock.
 */
typedef struct _AuraEstimator AuraEstimator;

typedef struct {
  const char *name;
  void   (*job_started) (AuraEstimator *self, AuraJob *job, gint64 now_mono);
  /* after every accepted report */
  void   (*job_updated) (AuraEstimator *self, AuraJob *job, gint64 now_mono);
  /* remaining seconds, or a negative number while unknown */
  double (*estimate) (AuraEstimator *self, const AuraJob *job, gint64 now_mono);
  /* once, when the job reaches a terminal status */
  void   (*job_finished) (AuraEstimator *self, AuraJob *job, gint64 now_mono);
  /* optional: weights proportional to what the stages usually take, for
   * [Weights] Learned=true; FALSE while the estimator has nothing to offer */
  gboolean (*default_weights) (AuraEstimator *self, AuraWeights *out);
  void   (*free) (AuraEstimator *self);
} AuraEstimatorVTable;

struct _AuraEstimator {
  const AuraEstimatorVTable *vtable;
};

/* The seed's formula: elapsed / fraction - elapsed, unknown at 0 %. */
AuraEstimator *aura_estimator_new_seed (void);

/* Per-stage rates (FFmpeg's fps directly) plus the durations of the stages
 * still to come, learned from completed jobs. history_path: a JSON file where
 * the learned durations survive restarts (loaded now, written after every
 * completed job; a corrupt file is warned about and replaced), or NULL to
 * learn in memory only. Unknown only before the first report (and, while it
 * has learned nothing, at 0 %). */
AuraEstimator *aura_estimator_new_learned (const char *history_path);

static inline void
aura_estimator_free (AuraEstimator *self)
{
  if (self != NULL && self->vtable->free != NULL)
    self->vtable->free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraEstimator, aura_estimator_free)

G_END_DECLS

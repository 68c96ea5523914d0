/* SPDX-License-Identifier: MIT */
#include "aura-estimator.h"

static double
seed_estimate (AuraEstimator *self, const AuraJob *job, gint64 now_mono)
{
  double elapsed = aura_job_elapsed (job, now_mono);

  if (job->progress <= 0 || job->progress >= 1)
    return -1;
  return MAX (0, elapsed / job->progress - elapsed);
}

static void
seed_free (AuraEstimator *self)
{
  g_free (self);
}

static const AuraEstimatorVTable seed_vtable = {
  .name = "seed",
  .estimate = seed_estimate,
  .free = seed_free,
};

AuraEstimator *
aura_estimator_new_seed (void)
{
  AuraEstimator *self = g_new0 (AuraEstimator, 1);
  self->vtable = &seed_vtable;
  return self;
}

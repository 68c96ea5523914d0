/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "aura-stage.h"

G_BEGIN_DECLS

/**
 * AuraStageHistory:
 * How long the stages of recently completed jobs took, and how many items
 * (chunks, scenes, images, frames) each had: what the ETA estimator learns
 * from. Bounded: only the newest records are kept. Persisted as a small JSON
 * file (see aura_stage_history_save()) so that a restarted daemon does not
 * start from scratch.
 */
typedef struct _AuraStageHistory AuraStageHistory;

typedef struct {
  double seconds[AURA_STAGE_COUNT];   /* time spent in each stage */
  guint32 items[AURA_STAGE_COUNT];    /* items the stage had; 0: not reported */
} AuraStageRecord;

#define AURA_STAGE_HISTORY_DEFAULT_MAX 64

AuraStageHistory *aura_stage_history_new (guint max_records);
void              aura_stage_history_free (AuraStageHistory *history);

/* Appends a record, dropping the oldest one when the history is full.
 * Seconds are clamped to 0..AURA_STAGE_HISTORY_MAX_SECONDS. */
void              aura_stage_history_add (AuraStageHistory *history, const AuraStageRecord *record);
guint             aura_stage_history_len (AuraStageHistory *history);
/* Oldest first. */
const AuraStageRecord *aura_stage_history_get (AuraStageHistory *history, guint index);
void              aura_stage_history_clear (AuraStageHistory *history);

/* Replaces the records with the file's. A missing file is an empty history;
 * anything unreadable or malformed is an error and leaves the history
 * empty, so that the caller can warn and start fresh. Files with more
 * records than the limit keep the newest. */
gboolean          aura_stage_history_load (AuraStageHistory *history, const char *path,
                                           GError **error);
/* Writes the records atomically (a reader sees the old or the new file). */
gboolean          aura_stage_history_save (AuraStageHistory *history, const char *path,
                                           GError **error);

#define AURA_STAGE_HISTORY_MAX_SECONDS (30.0 * 86400)

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraStageHistory, aura_stage_history_free)

G_END_DECLS

/* SPDX-License-Identifier: MIT */
#pragma once

#include "aura-event-source.h"
#include "aura-model.h"

G_BEGIN_DECLS

/**
 * An in-memory AuraEventSource for the HTTP fuzzer: a real job model on a
 * manual clock answers the bridge's calls, as aura-progressd would over the
 * bus, so that the fuzzer reaches every reply the bridge can get (states,
 * history pages, 404, 409, 403, replay after a truncated history) with no
 * daemon, no bus and no timing.
 *
 * Calls complete from an idle source of the main loop in the order they
 * were made, as the contract asks; events reach the listener as the model
 * makes them, before the answer of the call that caused them.
 *
 * The jobs (their ids are the AURA_FUZZ_JOB_* below):
 * - render-1: running, started by the bridge's user, with more history than
 *   a job keeps (historyFloor > 0);
 * - job-1: running, short history (floor 0);
 * - done-1: completed, full history; old-1: completed, truncated history;
 * - cancelled-1: cancelled with a completed stage; failed-1: failed after a
 *   warning;
 * - other-1: running, started by another user: the bridge may not cancel it.
 */
#define AURA_FUZZ_JOB_RUNNING "render-1"
#define AURA_FUZZ_JOB_SHORT "job-1"
#define AURA_FUZZ_JOB_COMPLETED "done-1"
#define AURA_FUZZ_JOB_OLD "old-1"
#define AURA_FUZZ_JOB_CANCELLED "cancelled-1"
#define AURA_FUZZ_JOB_FAILED "failed-1"
#define AURA_FUZZ_JOB_FOREIGN "other-1"

AuraEventSource *aura_fuzz_source_new (void);
/* Starts over with a new model holding the jobs above, so that every input
 * sees the same state; calls still pending are dropped without callbacks. */
void        aura_fuzz_source_reset (AuraEventSource *source);
AuraModel  *aura_fuzz_source_get_model (AuraEventSource *source);
/* Calls made and not yet completed or cancelled. */
guint       aura_fuzz_source_n_pending (AuraEventSource *source);
/* A progress report on render-1 (a live event), a moment later. */
void        aura_fuzz_source_progress (AuraEventSource *source);
/* While unavailable, calls fail with G_IO_ERROR_NOT_CONNECTED (from the
 * main loop) as when the daemon is down; the listener hears of changes. */
void        aura_fuzz_source_set_available (AuraEventSource *source, gboolean available);
/* When set, the first job state asked for after it sees a progress report
 * made just before: a live event in the middle of a stream's catch-up. */
void        aura_fuzz_source_set_progress_on_state (AuraEventSource *source, gboolean enabled);

G_END_DECLS

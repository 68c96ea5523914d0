/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "aura-clock.h"
#include "aura-config.h"
#include "aura-estimator.h"
#include "aura-event-seq.h"
#include "aura-event-store.h"
#include "aura-event.h"
#include "aura-job.h"

G_BEGIN_DECLS

/**
 * AuraModel:
 * Every job of the daemon, their events and their timers. The model is
 * passive: it never sleeps or arms timers itself. Its owner asks
 * aura_model_next_deadline() when to call aura_model_dispatch(), which
 * flushes coalesced progress and retires finished jobs; on a manual clock a
 * test advances time and dispatches by hand.
 *
 * Every entry point validates its input first and changes nothing when it
 * fails; errors are in the AURA_ERROR domain.
 */
typedef struct _AuraModel AuraModel;

typedef struct {
  void (*job_added) (AuraModel *model, AuraJob *job, gpointer user_data);
  /* every event, after it is stored and after the job's state changed */
  void (*job_event) (AuraModel *model, AuraJob *job, AuraEvent *event, gpointer user_data);
  /* just before a retired job is freed */
  void (*job_removed) (AuraModel *model, AuraJob *job, gpointer user_data);
} AuraModelListener;

/* Takes ownership of store, seq and estimator; config and clock must outlive
 * the model (the clock is referenced). */
AuraModel  *aura_model_new (const AuraConfig *config, AuraClock *clock, AuraEventStore *store,
                            AuraEventSeq *seq, AuraEstimator *estimator);
void        aura_model_free (AuraModel *model);
void        aura_model_set_listener (AuraModel *model, const AuraModelListener *listener,
                                     gpointer user_data);

const AuraConfig *aura_model_get_config (AuraModel *model);
AuraClock  *aura_model_get_clock (AuraModel *model);
AuraEstimator *aura_model_get_estimator (AuraModel *model);
AuraEventStore *aura_model_get_store (AuraModel *model);

/* options: a{sv} with correlationId s, title s, weights a{sd}; NULL = none.
 * Like every GVariant parameter here, a floating reference is consumed. */
AuraJob    *aura_model_start_job (AuraModel *model, const char *job_id, GVariant *options,
                                  guint32 uid, GError **error);
/* details: a{sv} with message s, substageDetail s, currentItem u, totalItems u,
 * correlationId s; NULL = none */
gboolean    aura_model_report_progress (AuraModel *model, const char *job_id, const char *stage,
                                        double stage_percent, GVariant *details, GError **error);

/**
 * AuraDetailValue:
 * One value of the details dictionary as it came: its D-Bus type code (0:
 * the key was absent) and, for a string or an integer, the value. The
 * model checks the type. @string points into the message or dictionary it
 * came from, which must outlive the call.
 */
typedef struct {
  char type;
  const char *string;                 /* s, o, g */
  gint64 integer;                     /* y, n, q, i, u, x, t (-1 above G_MAXINT64) */
} AuraDetailValue;

/**
 * AuraReportDetails:
 * The values of the details dictionary the model knows; other keys are
 * ignored, and the first value of a key counts, as with
 * g_variant_lookup_value(). The bus layer fills it straight from a message
 * without building the dictionary (aura_report_details_slot()).
 */
typedef struct {
  AuraDetailValue message;
  AuraDetailValue substage_detail;
  AuraDetailValue correlation_id;
  AuraDetailValue current_item;
  AuraDetailValue total_items;
} AuraReportDetails;

/* Where the value of @key goes: NULL for a key the model does not know, or
 * one already set. */
AuraDetailValue *aura_report_details_slot (AuraReportDetails *details, const char *key);
/* Sets @v to a value of D-Bus type @type: @value points at it when it is
 * basic (a const char * for s, o and g; the integer of that type, a double,
 * or an int for b), NULL for a container. */
void        aura_detail_value_set_basic (AuraDetailValue *v, char type, const void *value);
/* The same from a GVariant of any type. */
void        aura_detail_value_set_variant (AuraDetailValue *v, GVariant *variant);
/* aura_model_report_progress() with the details already taken apart. */
gboolean    aura_model_report_progress_details (AuraModel *model, const char *job_id,
                                                const char *stage, double stage_percent,
                                                const AuraReportDetails *details, GError **error);
gboolean    aura_model_report_ffmpeg (AuraModel *model, const char *job_id, guint64 frame,
                                      guint64 total_frames, double fps, double time_seconds,
                                      const char *correlation_id, GError **error);
gboolean    aura_model_report_tts (AuraModel *model, const char *job_id, guint32 scene_index,
                                   guint32 total_scenes, const char *provider_name,
                                   const char *correlation_id, GError **error);
gboolean    aura_model_report_llm (AuraModel *model, const char *job_id, const char *phase,
                                   guint32 current_chunk, guint32 total_chunks,
                                   const char *correlation_id, GError **error);
gboolean    aura_model_report_visual (AuraModel *model, const char *job_id, guint32 image_index,
                                      guint32 total_images, const char *provider_name,
                                      const char *correlation_id, GError **error);
gboolean    aura_model_add_warning (AuraModel *model, const char *job_id, const char *message,
                                    GError **error);
gboolean    aura_model_mark_stage_completed (AuraModel *model, const char *job_id,
                                             const char *stage, GError **error);
gboolean    aura_model_complete_job (AuraModel *model, const char *job_id, GError **error);
gboolean    aura_model_fail_job (AuraModel *model, const char *job_id, const char *message,
                                 GError **error);
/* Ends a running job as Canceled; the cancellation orchestration decides
 * when. */
gboolean    aura_model_cancel_job (AuraModel *model, const char *job_id, const char *message,
                                   GError **error);
/* Adds a warning the daemon itself generates (a provider vanished, a
 * provider cannot cancel). Past the per-job limit it is dropped, not an
 * error: the caller did nothing wrong. */
void        aura_model_add_system_warning (AuraModel *model, AuraJob *job, const char *message);

/* Lookups. aura_model_get_job() validates the id and sets NoSuchJob. */
AuraJob    *aura_model_lookup (AuraModel *model, const char *job_id);
AuraJob    *aura_model_get_job (AuraModel *model, const char *job_id, GError **error);
/* Running jobs for reports; NotRunning for finished ones. */
AuraJob    *aura_model_get_running_job (AuraModel *model, const char *job_id, GError **error);
/* All jobs, oldest first; the array holds borrowed pointers. */
GPtrArray  *aura_model_list_jobs (AuraModel *model);
guint       aura_model_n_jobs (AuraModel *model);
guint64     aura_model_last_event_id (AuraModel *model);

/* Who may report to, register providers with and cancel a job: the uid that
 * started it, root and the configured operators. */
gboolean    aura_model_authorize (AuraModel *model, const AuraJob *job, guint32 uid,
                                  const guint32 *gids, guint n_gids, GError **error);

/* The job's current state as a{sv}: the step-progress keys plus title,
 * startedByUid, completedStages, startedAt, finishedAt, lastEventId,
 * historyFloor and weights. */
GVariant   *aura_model_job_state (AuraModel *model, AuraJob *job);
/* The ETA now: FALSE while unknown (and for failed or cancelled jobs), 0 once
 * completed, otherwise at least 1 second; end_real is the expected end as
 * real time in µs. */
gboolean    aura_model_job_eta (AuraModel *model, AuraJob *job, guint32 *eta_seconds,
                                gint64 *end_real);
/* The job's current state as a step-progress payload (no eventId). */
GVariant   *aura_model_job_snapshot (AuraModel *model, AuraJob *job);
/* Events after after_id as a(sta{sv}); job_id "" means every job. At most
 * max_events_per_call events and about max_reply_bytes (but at least one
 * event): call again with the last id for more, until none come. */
GVariant   *aura_model_get_events (AuraModel *model, const char *job_id, guint64 after_id,
                                   GError **error);

/* The monotonic time (µs) at which aura_model_dispatch() has work to do, or
 * G_MAXINT64 when nothing is scheduled. */
gint64      aura_model_next_deadline (AuraModel *model);
void        aura_model_dispatch (AuraModel *model);

G_END_DECLS

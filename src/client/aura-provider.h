/* SPDX-License-Identifier: MIT */
#pragma once

/**
 * SECTION:aura-provider
 * @title: libaura-provider
 * @short_description: report progress to aura-progressd and be cancelled by it
 *
 * The client library of aura-progress (pkg-config name `aura-provider`).
 *
 * An #AuraClient is one connection to the bus on which `aura-progressd`
 * runs. The connection is driven by the thread-default GLib main context of
 * the thread that created the client: run that context (a #GMainLoop, or
 * g_main_context_iteration()) and use the client from that thread only.
 *
 * A pipeline starts a job, reports progress while it works, marks the
 * stages it completed, and completes or fails the job:
 *
 * |[<!-- language="C" -->
 * g_autoptr(AuraClient) client = aura_client_new (AURA_BUS_SYSTEM, NULL, &error);
 * aura_client_start_job (client, "job-1", "My video", NULL, &error);
 * for (guint64 frame = 1; frame <= total; frame++) {
 *   render_frame (frame);
 *   aura_client_report_ffmpeg (client, "job-1", frame, total, fps, frame / fps, NULL, NULL);
 * }
 * aura_client_mark_stage_completed (client, "job-1", "render", &error);
 * aura_client_complete_job (client, "job-1", &error);
 * ]|
 *
 * Progress reports (aura_client_report_*()) are cheap: they are sent
 * without waiting for the daemon's answer. The daemon's errors for them go
 * to the function set with aura_client_set_report_error_func() and are
 * returned by the next aura_client_flush(). Every other call waits for the
 * daemon's answer and returns its error. All calls on one client reach the
 * daemon in the order they were made.
 *
 * A provider is something that does part of a job's work and can be told to
 * stop. It registers with the job and receives the cancellation as a
 * #GCancellable (the C counterpart of .NET's CancellationToken):
 *
 * |[<!-- language="C" -->
 * g_autoptr(AuraProvider) tts = aura_client_register_provider (client, "job-1", "ElevenLabs",
 *                                                              "TTS", TRUE, &error);
 * GCancellable *cancellable = aura_provider_get_cancellable (tts);
 * for (guint i = 0; i < n_scenes && !g_cancellable_is_cancelled (cancellable); i++)
 *   synthesize_async (scene[i], cancellable, ...);
 * ]|
 *
 * When someone calls CancelJob, the daemon calls every cancellable
 * provider's Cancel at once. By default the library cancels the
 * #GCancellable and answers at once (status `Cancelled`). A provider that
 * wants to answer only once it has really stopped, or that cannot stop right
 * now (status `Failed`), sets an #AuraProviderCancelFunc.
 *
 * Errors are in the %AURA_ERROR domain (#AuraErrorCode): the daemon's D-Bus
 * errors map to %AURA_ERROR_NO_SUCH_JOB, %AURA_ERROR_NOT_RUNNING,
 * %AURA_ERROR_INVALID_ARGS, %AURA_ERROR_ACCESS_DENIED, ...; a lost
 * connection is %AURA_ERROR_FAILED.
 */

#include <gio/gio.h>

#include "aura-bus-kind.h"
#include "aura-error.h"

G_BEGIN_DECLS

#ifndef AURA_PUBLIC
#define AURA_PUBLIC __attribute__ ((visibility ("default")))
#endif

typedef struct _AuraClient AuraClient;
typedef struct _AuraProvider AuraProvider;
typedef struct _AuraCancelRequest AuraCancelRequest;

/* ---- the connection ----------------------------------------------------- */

/**
 * aura_client_new:
 * @kind: %AURA_BUS_SYSTEM (also for %AURA_BUS_DEFAULT: the daemon's bus in
 *   production), %AURA_BUS_SESSION, or %AURA_BUS_ADDRESS with @address
 * @address: (nullable): the bus address for %AURA_BUS_ADDRESS, e.g.
 *   `unix:path=/run/aura/bus`; must be %NULL otherwise
 * @error: return location for an error
 *
 * Connects to the bus and attaches the connection to the thread-default
 * main context. Nothing is sent to the daemon yet: a missing daemon shows
 * at the first call.
 *
 * Returns: (transfer full): a new client, or %NULL with @error set
 */
AURA_PUBLIC AuraClient *aura_client_new (AuraBusKind kind, const char *address, GError **error);
AURA_PUBLIC AuraClient *aura_client_ref (AuraClient *client);
/* Dropping the last reference closes the connection; reports still on
 * their way are sent first, their answers are not waited for. */
AURA_PUBLIC void        aura_client_unref (AuraClient *client);
/* The connection's unique bus name, e.g. ":1.42". */
AURA_PUBLIC const char *aura_client_get_unique_name (AuraClient *client);
/* FALSE once the bus connection is lost; every call then fails. */
AURA_PUBLIC gboolean    aura_client_is_connected (AuraClient *client);

/* ---- a job's life ------------------------------------------------------ */

/**
 * aura_client_start_job:
 * @job_id: 1-128 characters of `A-Z a-z 0-9 . _ : -`, starting with a
 *   letter or digit
 * @title: (nullable): shown to people
 * @correlation_id: (nullable): carried in every event of the job
 *
 * Starts a job owned by the calling user. %AURA_ERROR_JOB_EXISTS when a job
 * of that id exists (running or recently finished).
 */
AURA_PUBLIC gboolean aura_client_start_job (AuraClient *client, const char *job_id,
                                            const char *title, const char *correlation_id,
                                            GError **error);
/* The same with the daemon's options dictionary (a{sv}: title s,
 * correlationId s, weights a{sd}); a floating @options is consumed. */
AURA_PUBLIC gboolean aura_client_start_job_with_options (AuraClient *client, const char *job_id,
                                                         GVariant *options, GError **error);
AURA_PUBLIC gboolean aura_client_add_warning (AuraClient *client, const char *job_id,
                                              const char *message, GError **error);
/**
 * aura_client_mark_stage_completed:
 * @stage: planning, script, tts, visuals, compose, render or finalize
 *
 * The stage counts its full weight from now on. Completed stages are also
 * the rollback markers: when the job is cancelled or fails, they are the
 * stages whose output its owner cleans up (aura_client_get_rollback_stages()).
 */
AURA_PUBLIC gboolean aura_client_mark_stage_completed (AuraClient *client, const char *job_id,
                                                       const char *stage, GError **error);
AURA_PUBLIC gboolean aura_client_complete_job (AuraClient *client, const char *job_id,
                                               GError **error);
AURA_PUBLIC gboolean aura_client_fail_job (AuraClient *client, const char *job_id,
                                           const char *message, GError **error);

/* ---- progress reports (pipelined) -------------------------------------- */

/* Every report returns FALSE with @error set only when it could not be sent
 * (the connection is lost, an argument is NULL). What the daemon says about
 * it goes to the report error function and to aura_client_flush(). When
 * 1024 reports wait for their answers, a report first lets answers in (and
 * so may run this client's callbacks, e.g. a provider's cancellation),
 * which paces a fast reporter to the daemon and keeps memory bounded; inside
 * a callback of this client it waits for its own answer instead. */

/**
 * aura_client_report_progress:
 * @stage: the stage the job is in
 * @stage_percent: 0 to 100, of that stage
 * @message: (nullable): what is happening, for people
 */
AURA_PUBLIC gboolean aura_client_report_progress (AuraClient *client, const char *job_id,
                                                  const char *stage, double stage_percent,
                                                  const char *message, GError **error);
/* The same with the daemon's details dictionary (a{sv}: message s,
 * substageDetail s, currentItem u and totalItems u together,
 * correlationId s); a floating @details is consumed. */
AURA_PUBLIC gboolean aura_client_report_progress_full (AuraClient *client, const char *job_id,
                                                       const char *stage, double stage_percent,
                                                       GVariant *details, GError **error);
/* The render stage from FFmpeg's counters: frame of total_frames, fps (a
 * direct rate for the ETA), time_seconds of media rendered. */
AURA_PUBLIC gboolean aura_client_report_ffmpeg (AuraClient *client, const char *job_id,
                                                guint64 frame, guint64 total_frames, double fps,
                                                double time_seconds, const char *correlation_id,
                                                GError **error);
/* The tts stage: scene_index is 0-based and reported before that scene
 * starts. */
AURA_PUBLIC gboolean aura_client_report_tts (AuraClient *client, const char *job_id,
                                             guint scene_index, guint total_scenes,
                                             const char *provider_name,
                                             const char *correlation_id, GError **error);
/* The script stage (phase "planning" or "brief": the planning stage). */
AURA_PUBLIC gboolean aura_client_report_llm (AuraClient *client, const char *job_id,
                                             const char *phase, guint current_chunk,
                                             guint total_chunks, const char *correlation_id,
                                             GError **error);
/* The visuals stage: image_index is 0-based, reported before that image
 * starts. */
AURA_PUBLIC gboolean aura_client_report_visual (AuraClient *client, const char *job_id,
                                                guint image_index, guint total_images,
                                                const char *provider_name,
                                                const char *correlation_id, GError **error);

/**
 * AuraClientErrorFunc:
 * @method: the D-Bus method of the report, e.g. "ReportFFmpegProgress"
 * @job_id: the job it was for
 * @error: the daemon's error
 *
 * Called from the main context for every report the daemon refused, e.g.
 * %AURA_ERROR_NOT_RUNNING once the job was cancelled.
 */
typedef void (*AuraClientErrorFunc) (AuraClient *client, const char *method, const char *job_id,
                                     const GError *error, gpointer user_data);
AURA_PUBLIC void     aura_client_set_report_error_func (AuraClient *client, AuraClientErrorFunc func,
                                                        gpointer user_data, GDestroyNotify destroy);
/**
 * aura_client_flush:
 *
 * Runs the client's main context until the daemon has answered every report
 * sent so far. Returns FALSE with the first report error since the last
 * flush, if there was one. Do not call it from a callback of this client
 * (its connection cannot be dispatched there).
 */
AURA_PUBLIC gboolean aura_client_flush (AuraClient *client, GError **error);
/* Reports sent whose answer has not arrived yet. */
AURA_PUBLIC guint    aura_client_get_n_pending_reports (AuraClient *client);

/* ---- reading ----------------------------------------------------------- */

/* The job's state as a{sv}: jobId, status, stage, percent, progress,
 * etaSeconds, message, warnings, completedStages, ... (the web API's field
 * names). */
AURA_PUBLIC GVariant *aura_client_get_job (AuraClient *client, const char *job_id, GError **error);
/* Every job's state, oldest first, as aa{sv}. */
AURA_PUBLIC GVariant *aura_client_list_jobs (AuraClient *client, GError **error);
/* Events after @after_event_id as a(sta{sv}) (type, id, payload); @job_id
 * %NULL or "" for every job. */
AURA_PUBLIC GVariant *aura_client_get_events (AuraClient *client, const char *job_id,
                                              guint64 after_event_id, GError **error);
/**
 * aura_client_get_rollback_stages:
 *
 * The rollback markers of a job: its completed stages, in stage order. Once
 * the job ended Canceled or Failed they no longer change, and are the same
 * as the `rollbackStages` of its job-cancelled or job-failed event.
 *
 * Returns: (transfer full): a %NULL-terminated array, empty when none
 */
AURA_PUBLIC char    **aura_client_get_rollback_stages (AuraClient *client, const char *job_id,
                                                       GError **error);

/* ---- watching ---------------------------------------------------------- */

/* Signal handlers of aura_client_watch(); any may be NULL. @event is the
 * step-progress payload (a{sv}). */
typedef struct {
  void (*progress) (AuraClient *client, const char *job_id, guint64 event_id, GVariant *event,
                    gpointer user_data);
  void (*warning) (AuraClient *client, const char *job_id, guint64 event_id, const char *message,
                   gpointer user_data);
  void (*finished) (AuraClient *client, const char *job_id, guint64 event_id, const char *status,
                    const char *message, gpointer user_data);
} AuraWatchFuncs;

/**
 * aura_client_watch:
 * @job_id: (nullable): one job, or %NULL for every job
 *
 * Subscribes to the daemon's Progress, Warning and JobFinished signals. The
 * subscription is in place when this returns: nothing sent afterwards is
 * missed. Returns a watch id for aura_client_unwatch(), or 0 with @error.
 */
AURA_PUBLIC guint    aura_client_watch (AuraClient *client, const char *job_id,
                                        const AuraWatchFuncs *funcs, gpointer user_data,
                                        GDestroyNotify destroy, GError **error);
AURA_PUBLIC void     aura_client_unwatch (AuraClient *client, guint watch_id);

/* ---- cancelling -------------------------------------------------------- */

/* One provider's part in a cancellation. */
typedef struct {
  char *provider_name;
  char *provider_type;
  gboolean supports_cancellation;
  char *status;                       /* Cancelled, Failed, NotSupported or Error */
  char *warning;                      /* NULL when none */
} AuraProviderStatus;

/* CancelJob's answer, as the web API's cancel response. */
typedef struct {
  char *job_id;
  char *current_status;               /* the job's status afterwards: normally Canceled */
  char *message;
  gboolean cleanup_scheduled;         /* the job has rollback markers to clean up */
  GPtrArray *provider_statuses;       /* AuraProviderStatus */
  char **warnings;
  char *correlation_id;               /* NULL when none */
} AuraCancelResult;

AURA_PUBLIC void     aura_cancel_result_free (AuraCancelResult *result);

/**
 * aura_client_cancel_job_async:
 *
 * Cancels a running job: the daemon asks every provider to stop and answers
 * when all have answered or its cancel timeout passed. %AURA_ERROR_NOT_RUNNING
 * for a job that already ended. Use the async form from a process that is
 * itself a provider of the job, so that it can answer the daemon's Cancel.
 */
AURA_PUBLIC void     aura_client_cancel_job_async (AuraClient *client, const char *job_id,
                                                   GCancellable *cancellable,
                                                   GAsyncReadyCallback callback,
                                                   gpointer user_data);
AURA_PUBLIC AuraCancelResult *aura_client_cancel_job_finish (AuraClient *client,
                                                             GAsyncResult *result,
                                                             GError **error);
/* Blocks until the daemon answers (up to its cancel timeout). */
AURA_PUBLIC AuraCancelResult *aura_client_cancel_job (AuraClient *client, const char *job_id,
                                                      GError **error);

/* ---- providers --------------------------------------------------------- */

/**
 * aura_client_register_provider:
 * @name: the provider's name, unique within the job (e.g. "ElevenLabs");
 *   registering a name again replaces the earlier registration
 * @type: its kind (e.g. "TTS", "LLM", "FFmpeg")
 * @supports_cancellation: FALSE for a provider that cannot stop: the daemon
 *   then reports it as NotSupported with a warning instead of calling it
 *
 * Exports org.aura.Progress.Provider at a new object path of this client's
 * connection and registers it with the job. The daemon watches the
 * connection: if it closes while the job runs, the job gets a warning.
 *
 * Returns: (transfer full): the provider, or %NULL with @error
 */
AURA_PUBLIC AuraProvider *aura_client_register_provider (AuraClient *client, const char *job_id,
                                                         const char *name, const char *type,
                                                         gboolean supports_cancellation,
                                                         GError **error);
AURA_PUBLIC AuraProvider *aura_provider_ref (AuraProvider *provider);
/* Dropping the last reference of a provider still registered unregisters it
 * without waiting. */
AURA_PUBLIC void          aura_provider_unref (AuraProvider *provider);
/**
 * aura_provider_unregister:
 *
 * Tells the daemon the provider is done. Succeeds also when the job ended
 * meanwhile (the daemon released its providers then).
 */
AURA_PUBLIC gboolean      aura_provider_unregister (AuraProvider *provider, GError **error);

AURA_PUBLIC AuraClient   *aura_provider_get_client (AuraProvider *provider);
AURA_PUBLIC const char   *aura_provider_get_job_id (AuraProvider *provider);
AURA_PUBLIC const char   *aura_provider_get_name (AuraProvider *provider);
AURA_PUBLIC const char   *aura_provider_get_provider_type (AuraProvider *provider);
AURA_PUBLIC const char   *aura_provider_get_object_path (AuraProvider *provider);
/**
 * aura_provider_get_cancellable:
 *
 * Cancelled when the daemon cancels the job (and the provider accepted).
 * Connect to its #GCancellable::cancelled signal or pass it to GIO calls.
 *
 * Returns: (transfer none): the provider's cancellable
 */
AURA_PUBLIC GCancellable *aura_provider_get_cancellable (AuraProvider *provider);

/**
 * AuraProviderCancelFunc:
 * @request: the daemon's Cancel; answer it exactly once with
 *   aura_cancel_request_complete() or aura_cancel_request_fail(), now or
 *   later (e.g. once the work has really stopped)
 *
 * Decides what the daemon's Cancel does. Unanswered requests are dropped
 * with the provider; the daemon then reports the provider as Error after
 * its cancel timeout.
 */
typedef void (*AuraProviderCancelFunc) (AuraProvider *provider, AuraCancelRequest *request,
                                        gpointer user_data);
AURA_PUBLIC void aura_provider_set_cancel_func (AuraProvider *provider, AuraProviderCancelFunc func,
                                                gpointer user_data, GDestroyNotify destroy);

AURA_PUBLIC AuraProvider *aura_cancel_request_get_provider (AuraCancelRequest *request);
/* Accepts: cancels the provider's cancellable (if not yet) and answers the
 * daemon; the provider's status is Cancelled. Frees @request. */
AURA_PUBLIC void aura_cancel_request_complete (AuraCancelRequest *request);
/* Refuses: the daemon reports the provider as Failed with @message as the
 * reason. The cancellable stays as it is. Frees @request. */
AURA_PUBLIC void aura_cancel_request_fail (AuraCancelRequest *request, const char *message);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraClient, aura_client_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraProvider, aura_provider_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraCancelResult, aura_cancel_result_free)

G_END_DECLS

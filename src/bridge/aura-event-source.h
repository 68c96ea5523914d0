/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "aura-bus.h"

G_BEGIN_DECLS

/**
 * AuraSourceEvent:
 * One event of a job as the web API shows it: its type (`step-progress`,
 * `warning`, `job-completed`, `job-failed`, `job-cancelled`), its event id
 * and its payload as a JSON object. Immutable and shared by reference.
 */
typedef struct {
  gint ref_count;
  char *type;
  guint64 id;
  char *job_id;
  JsonNode *data;
  char *json;                         /* data serialised, made on first use */
} AuraSourceEvent;

/* Takes ownership of @data (a JSON object). */
AuraSourceEvent *aura_source_event_new (const char *type, guint64 id, const char *job_id,
                                        JsonNode *data);
AuraSourceEvent *aura_source_event_ref (AuraSourceEvent *event);
void             aura_source_event_unref (AuraSourceEvent *event);
gboolean         aura_source_event_is_terminal (const AuraSourceEvent *event);
/* Orders AuraSourceEvent pointers (in a GPtrArray) by id. */
gint             aura_source_event_compare_id (gconstpointer a, gconstpointer b);
/* The payload as compact JSON (one line), serialised once. */
const char      *aura_source_event_get_json (AuraSourceEvent *event);
/* The terminal event type of a finished job's status: "Completed" ->
 * "job-completed", "Canceled" -> "job-cancelled", otherwise "job-failed". */
const char      *aura_source_event_type_for_status (const char *status);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraSourceEvent, aura_source_event_unref)

/**
 * AuraEventSource:
 * The seam through which the bridge reads jobs and events: D-Bus today
 * (aura-event-source-dbus.c), a broker such as Redis Streams later. It holds
 * every piece of state the bridge relies on, so that any number of bridges
 * can serve the same jobs; the bridge itself keeps only its open streams.
 *
 * The contract an implementation keeps:
 * - the listener's event() sees every event of every job exactly once, in
 *   increasing id order (ids are one sequence across all jobs);
 * - a job's state (a JSON object, the fields of GET /api/jobs/{id}) carries
 *   `lastEventId` (its newest event) and `historyFloor`: every event of the
 *   job with a greater id can still be fetched with get_events();
 * - calls complete from the main loop, never from within the call itself;
 *   a cancelled call never completes;
 * - errors are AURA_ERROR codes for what the daemon refused (NO_SUCH_JOB,
 *   NOT_RUNNING, ACCESS_DENIED, INVALID_ARGS, ...), G_IO_ERROR_NOT_CONNECTED
 *   when it cannot be reached, G_IO_ERROR_TIMED_OUT when it did not answer,
 *   G_IO_ERROR_NOT_SUPPORTED when it does not offer the operation.
 */
typedef struct _AuraEventSource AuraEventSource;
typedef struct _AuraSourceCall AuraSourceCall;

typedef struct {
  void (*event) (AuraSourceEvent *event, gpointer user_data);
  /* The daemon became reachable (TRUE) or unreachable. Streams resume
   * after an unreachable period, so nothing the daemon still has is lost. */
  void (*availability) (gboolean available, gpointer user_data);
} AuraEventSourceListener;

/* @result is borrowed; NULL when @error is set. */
typedef void (*AuraSourceJsonFunc) (JsonNode *result, const GError *error, gpointer user_data);
/* @events (AuraSourceEvent, oldest first) is borrowed; NULL on error. */
typedef void (*AuraSourceEventsFunc) (GPtrArray *events, const GError *error, gpointer user_data);
typedef void (*AuraSourceIdFunc) (guint64 id, const GError *error, gpointer user_data);

typedef struct {
  gboolean        (*is_available) (AuraEventSource *source);
  /* The state of one job, and of all jobs (a JSON array). */
  AuraSourceCall *(*get_job) (AuraEventSource *source, const char *job_id,
                              AuraSourceJsonFunc func, gpointer user_data);
  AuraSourceCall *(*list_jobs) (AuraEventSource *source, AuraSourceJsonFunc func,
                                gpointer user_data);
  /* One page of the events after @after_id of a job (NULL: of all jobs);
   * an empty page means there are no more. */
  AuraSourceCall *(*get_events) (AuraEventSource *source, const char *job_id, guint64 after_id,
                                 AuraSourceEventsFunc func, gpointer user_data);
  /* The newest event id of all jobs. */
  AuraSourceCall *(*last_event_id) (AuraEventSource *source, AuraSourceIdFunc func,
                                    gpointer user_data);
  /* Cancels the job; the result is the web API's cancel response. */
  AuraSourceCall *(*cancel_job) (AuraEventSource *source, const char *job_id,
                                 AuraSourceJsonFunc func, gpointer user_data);
  void            (*call_cancel) (AuraEventSource *source, AuraSourceCall *call);
  void            (*free) (AuraEventSource *source);
} AuraEventSourceVTable;

struct _AuraEventSource {
  const AuraEventSourceVTable *vtable;
  AuraEventSourceListener listener;
  gpointer listener_data;
};

void aura_event_source_set_listener (AuraEventSource *source,
                                     const AuraEventSourceListener *listener,
                                     gpointer user_data);
void aura_event_source_free (AuraEventSource *source);

gboolean        aura_event_source_is_available (AuraEventSource *source);
AuraSourceCall *aura_event_source_get_job (AuraEventSource *source, const char *job_id,
                                           AuraSourceJsonFunc func, gpointer user_data);
AuraSourceCall *aura_event_source_list_jobs (AuraEventSource *source, AuraSourceJsonFunc func,
                                             gpointer user_data);
AuraSourceCall *aura_event_source_get_events (AuraEventSource *source, const char *job_id,
                                              guint64 after_id, AuraSourceEventsFunc func,
                                              gpointer user_data);
AuraSourceCall *aura_event_source_last_event_id (AuraEventSource *source, AuraSourceIdFunc func,
                                                 gpointer user_data);
AuraSourceCall *aura_event_source_cancel_job (AuraEventSource *source, const char *job_id,
                                              AuraSourceJsonFunc func, gpointer user_data);
/* Cancels *call if it is pending and clears it. */
void            aura_event_source_clear_call (AuraEventSource *source, AuraSourceCall **call);

/* aura-event-source-dbus.c: org.aura.Progress on the bus the options name
 * (the system bus by default). Connects at once; when the bus cannot be
 * reached it keeps trying, and the source reports itself unavailable. */
AuraEventSource *aura_event_source_new_dbus (const AuraBusOptions *options);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraEventSource, aura_event_source_free)

G_END_DECLS

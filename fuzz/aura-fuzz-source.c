/* SPDX-License-Identifier: MIT */
#include "aura-cancel.h"
#include "aura-error.h"
#include "aura-fuzz-source.h"
#include "aura-json.h"

/* The bridge's service user, an operator of the daemon in production; the
 * jobs it started it may cancel. */
#define BRIDGE_UID 999
#define OTHER_UID 1000

typedef enum {
  CALL_GET_JOB,
  CALL_LIST_JOBS,
  CALL_GET_EVENTS,
  CALL_LAST_EVENT_ID,
  CALL_CANCEL_JOB,
} CallKind;

struct _AuraSourceCall {
  CallKind kind;
  char *job_id;                       /* NULL: every job */
  guint64 after;
  union {
    AuraSourceJsonFunc json;
    AuraSourceEventsFunc events;
    AuraSourceIdFunc id;
  } func;
  gpointer user_data;
};

typedef struct {
  AuraEventSource parent;
  AuraConfig config;
  AuraClock *clock;
  AuraModel *model;
  GQueue pending;                     /* AuraSourceCall, oldest first */
  guint idle_id;
  guint percent;                      /* of render-1's render stage */
  gboolean progress_on_state;
  gboolean unavailable;
} FuzzSource;

static void
call_free (AuraSourceCall *call)
{
  g_free (call->job_id);
  g_free (call);
}

/* ---- the model --------------------------------------------------------- */

static void
on_job_event (AuraModel *model, AuraJob *job, AuraEvent *event, gpointer user_data)
{
  FuzzSource *self = user_data;
  const char *type = aura_event_type_to_string (event->type);
  g_autoptr(AuraSourceEvent) ev = NULL;

  if (self->parent.listener.event == NULL)
    return;
  ev = aura_source_event_new (type, event->id, event->job_id,
                              aura_json_from_event_payload (type, event->payload));
  self->parent.listener.event (ev, self->parent.listener_data);
}

static void
later (FuzzSource *self)
{
  aura_clock_advance (self->clock, self->config.coalesce_interval_us);
  aura_model_dispatch (self->model);
}

static void
must (gboolean ok, const GError *error)
{
  if (!ok)
    g_error ("setting up the fuzz source's jobs: %s", error != NULL ? error->message : "?");
}

static void
progress (FuzzSource *self, const char *job_id, const char *stage, double percent)
{
  g_autoptr(GError) error = NULL;

  must (aura_model_report_progress (self->model, job_id, stage, percent, NULL, &error), error);
  later (self);
}

static void
start (FuzzSource *self, const char *job_id, guint32 uid)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *correlation = g_strconcat ("corr-", job_id, NULL);
  GVariant *options = g_variant_new_parsed ("{'title': <%s>, 'correlationId': <%s>}", job_id,
                                            correlation);

  must (aura_model_start_job (self->model, job_id, options, uid, &error) != NULL, error);
  later (self);
}

static void
build_model (FuzzSource *self)
{
  static const AuraModelListener listener = { .job_event = on_job_event };
  static const char *const stages[] = { "planning", "script", "tts", "visuals", "compose" };
  g_autoptr(GError) error = NULL;

  self->clock = aura_clock_new_manual (G_USEC_PER_SEC, G_GINT64_CONSTANT (1795000000000000));
  self->model = aura_model_new (&self->config, self->clock,
                                aura_event_store_new_memory_full (self->config.max_history,
                                                                  self->config.max_job_history,
                                                                  self->config.max_history_bytes),
                                aura_event_seq_new_at (0), aura_estimator_new_seed ());

  /* finished first: their events have the lowest ids */
  start (self, AURA_FUZZ_JOB_OLD, BRIDGE_UID);
  for (guint i = 0; i < G_N_ELEMENTS (stages); i++)
    progress (self, AURA_FUZZ_JOB_OLD, stages[i], 50);
  must (aura_model_complete_job (self->model, AURA_FUZZ_JOB_OLD, &error), error);
  later (self);

  start (self, AURA_FUZZ_JOB_COMPLETED, BRIDGE_UID);
  progress (self, AURA_FUZZ_JOB_COMPLETED, "planning", 40);
  must (aura_model_complete_job (self->model, AURA_FUZZ_JOB_COMPLETED, &error), error);
  later (self);

  start (self, AURA_FUZZ_JOB_CANCELLED, BRIDGE_UID);
  progress (self, AURA_FUZZ_JOB_CANCELLED, "planning", 100);
  must (aura_model_mark_stage_completed (self->model, AURA_FUZZ_JOB_CANCELLED, "planning",
                                         &error), error);
  progress (self, AURA_FUZZ_JOB_CANCELLED, "script", 10);
  must (aura_model_cancel_job (self->model, AURA_FUZZ_JOB_CANCELLED, "cancelled by the user",
                               &error), error);
  later (self);

  start (self, AURA_FUZZ_JOB_FAILED, BRIDGE_UID);
  progress (self, AURA_FUZZ_JOB_FAILED, "planning", 20);
  must (aura_model_add_warning (self->model, AURA_FUZZ_JOB_FAILED, "disk almost full\nreally",
                                &error), error);
  must (aura_model_fail_job (self->model, AURA_FUZZ_JOB_FAILED, "render failed: \"disk full\"",
                             &error), error);
  later (self);

  start (self, AURA_FUZZ_JOB_RUNNING, BRIDGE_UID);
  for (guint i = 0; i < G_N_ELEMENTS (stages); i++)
    progress (self, AURA_FUZZ_JOB_RUNNING, stages[i], 60);
  progress (self, AURA_FUZZ_JOB_RUNNING, "render", 1);

  start (self, AURA_FUZZ_JOB_SHORT, BRIDGE_UID);
  progress (self, AURA_FUZZ_JOB_SHORT, "planning", 30);

  start (self, AURA_FUZZ_JOB_FOREIGN, OTHER_UID);

  /* only now: the jobs above are set up without anyone listening */
  aura_model_set_listener (self->model, &listener, self);
  self->percent = 1;
}

static void
drop_pending (FuzzSource *self)
{
  g_queue_clear_full (&self->pending, (GDestroyNotify) call_free);
  if (self->idle_id != 0)
    g_source_remove (self->idle_id);
  self->idle_id = 0;
}

void
aura_fuzz_source_reset (AuraEventSource *source)
{
  FuzzSource *self = (FuzzSource *) source;

  drop_pending (self);
  g_clear_pointer (&self->model, aura_model_free);
  g_clear_pointer (&self->clock, aura_clock_unref);
  self->progress_on_state = FALSE;
  self->unavailable = FALSE;
  build_model (self);
}

AuraModel *
aura_fuzz_source_get_model (AuraEventSource *source)
{
  return ((FuzzSource *) source)->model;
}

guint
aura_fuzz_source_n_pending (AuraEventSource *source)
{
  return ((FuzzSource *) source)->pending.length;
}

void
aura_fuzz_source_progress (AuraEventSource *source)
{
  FuzzSource *self = (FuzzSource *) source;

  if (self->percent >= 99)
    return;
  progress (self, AURA_FUZZ_JOB_RUNNING, "render", ++self->percent);
}

void
aura_fuzz_source_set_available (AuraEventSource *source, gboolean available)
{
  FuzzSource *self = (FuzzSource *) source;

  if (self->unavailable == !available)
    return;
  self->unavailable = !available;
  if (self->parent.listener.availability != NULL)
    self->parent.listener.availability (available, self->parent.listener_data);
}

void
aura_fuzz_source_set_progress_on_state (AuraEventSource *source, gboolean enabled)
{
  ((FuzzSource *) source)->progress_on_state = enabled;
}

/* ---- answering --------------------------------------------------------- */

static JsonNode *
job_state (FuzzSource *self, const char *job_id, GError **error)
{
  AuraJob *job = aura_model_get_job (self->model, job_id, error);
  g_autoptr(GVariant) state = NULL;

  if (job == NULL)
    return NULL;
  state = g_variant_ref_sink (aura_model_job_state (self->model, job));
  return aura_json_from_variant (state);
}

static JsonNode *
list_jobs (FuzzSource *self)
{
  g_autoptr(GPtrArray) jobs = aura_model_list_jobs (self->model);
  g_autoptr(GVariant) list = NULL;
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < jobs->len; i++)
    g_variant_builder_add_value (&b, aura_model_job_state (self->model, jobs->pdata[i]));
  list = g_variant_ref_sink (g_variant_builder_end (&b));
  return aura_json_from_variant (list);
}

static GPtrArray *
get_events (FuzzSource *self, const char *job_id, guint64 after, GError **error)
{
  g_autoptr(GVariant) page = aura_model_get_events (self->model, job_id != NULL ? job_id : "",
                                                    after, error);
  GPtrArray *events;
  GVariantIter iter;
  const char *type;
  guint64 id;
  GVariant *payload;

  if (page == NULL)
    return NULL;
  g_variant_ref_sink (page);
  events = g_ptr_array_new_with_free_func ((GDestroyNotify) aura_source_event_unref);
  g_variant_iter_init (&iter, page);
  while (g_variant_iter_next (&iter, "(&st@a{sv})", &type, &id, &payload)) {
    const char *event_job = "";
    g_variant_lookup (payload, "jobId", "&s", &event_job);
    g_ptr_array_add (events, aura_source_event_new (type, id, event_job,
                                                    aura_json_from_event_payload (type, payload)));
    g_variant_unref (payload);
  }
  return events;
}

/* CancelJob as the daemon answers it for a job without providers. */
static JsonNode *
cancel_job (FuzzSource *self, const char *job_id, GError **error)
{
  AuraJob *job = aura_model_get_job (self->model, job_id, error);
  g_autoptr(GPtrArray) none = g_ptr_array_new ();
  g_autoptr(AuraCancelOp) op = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *message = NULL;

  if (job == NULL || !aura_model_authorize (self->model, job, BRIDGE_UID, NULL, 0, error))
    return NULL;
  if (!aura_job_is_running (job)) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_NOT_RUNNING,
                 "job '%s' is %s; only running jobs accept this", job_id,
                 aura_job_status_to_string (job->status));
    return NULL;
  }
  op = aura_cancel_op_new (job_id, none, self->config.cancel_timeout_us);
  message = aura_cancel_op_message (op, self->config.max_message_length);
  if (!aura_model_cancel_job (self->model, job_id, message, error))
    return NULL;
  job = aura_model_lookup (self->model, job_id);
  reply = g_variant_ref_sink (g_variant_new ("(ss" "b@a(ssbss)@ass)",
                                             aura_job_status_to_string (job->status), message,
                                             aura_cancel_cleanup_needed (job),
                                             aura_cancel_op_statuses (op),
                                             aura_cancel_op_warnings (op),
                                             job->correlation_id != NULL ? job->correlation_id : ""));
  return aura_json_from_cancel_reply (job_id, reply);
}

static void
fail (AuraSourceCall *call, const GError *error)
{
  switch (call->kind) {
  case CALL_GET_EVENTS:
    call->func.events (NULL, error, call->user_data);
    break;
  case CALL_LAST_EVENT_ID:
    call->func.id (0, error, call->user_data);
    break;
  default:
    call->func.json (NULL, error, call->user_data);
    break;
  }
}

static void
complete (FuzzSource *self, AuraSourceCall *call)
{
  g_autoptr(GError) error = NULL;

  if (self->unavailable) {
    g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                         "aura-progressd is not reachable: no bus connection");
    fail (call, error);
    return;
  }
  switch (call->kind) {
  case CALL_GET_EVENTS: {
    g_autoptr(GPtrArray) events = get_events (self, call->job_id, call->after, &error);
    call->func.events (events, error, call->user_data);
    break;
  }
  case CALL_LAST_EVENT_ID:
    call->func.id (aura_model_last_event_id (self->model), NULL, call->user_data);
    break;
  case CALL_CANCEL_JOB: {
    g_autoptr(JsonNode) result = cancel_job (self, call->job_id, &error);
    call->func.json (result, error, call->user_data);
    break;
  }
  case CALL_LIST_JOBS:
  case CALL_GET_JOB:
  default: {
    g_autoptr(JsonNode) result = NULL;
    if (self->progress_on_state) {
      self->progress_on_state = FALSE;
      aura_fuzz_source_progress (&self->parent);
    }
    result = call->kind == CALL_LIST_JOBS ? list_jobs (self)
                                          : job_state (self, call->job_id, &error);
    call->func.json (result, error, call->user_data);
    break;
  }
  }
}

/* One call per dispatch, oldest first: what a callback starts queues
 * behind what was already waiting, as on the bus. */
static gboolean
on_idle (gpointer user_data)
{
  FuzzSource *self = user_data;
  AuraSourceCall *call = g_queue_pop_head (&self->pending);

  complete (self, call);
  call_free (call);
  if (self->pending.length > 0)
    return G_SOURCE_CONTINUE;
  self->idle_id = 0;
  return G_SOURCE_REMOVE;
}

static AuraSourceCall *
call_new (FuzzSource *self, CallKind kind, const char *job_id, gpointer user_data)
{
  AuraSourceCall *call = g_new0 (AuraSourceCall, 1);

  call->kind = kind;
  call->job_id = g_strdup (job_id);
  call->user_data = user_data;
  g_queue_push_tail (&self->pending, call);
  if (self->idle_id == 0)
    self->idle_id = g_idle_add (on_idle, self);
  return call;
}

static gboolean
source_is_available (AuraEventSource *source)
{
  return !((FuzzSource *) source)->unavailable;
}

static AuraSourceCall *
source_get_job (AuraEventSource *source, const char *job_id, AuraSourceJsonFunc func,
                gpointer user_data)
{
  AuraSourceCall *call = call_new ((FuzzSource *) source, CALL_GET_JOB, job_id, user_data);

  call->func.json = func;
  return call;
}

static AuraSourceCall *
source_list_jobs (AuraEventSource *source, AuraSourceJsonFunc func, gpointer user_data)
{
  AuraSourceCall *call = call_new ((FuzzSource *) source, CALL_LIST_JOBS, NULL, user_data);

  call->func.json = func;
  return call;
}

static AuraSourceCall *
source_get_events (AuraEventSource *source, const char *job_id, guint64 after_id,
                   AuraSourceEventsFunc func, gpointer user_data)
{
  AuraSourceCall *call = call_new ((FuzzSource *) source, CALL_GET_EVENTS, job_id, user_data);

  call->after = after_id;
  call->func.events = func;
  return call;
}

static AuraSourceCall *
source_last_event_id (AuraEventSource *source, AuraSourceIdFunc func, gpointer user_data)
{
  AuraSourceCall *call = call_new ((FuzzSource *) source, CALL_LAST_EVENT_ID, NULL, user_data);

  call->func.id = func;
  return call;
}

static AuraSourceCall *
source_cancel_job (AuraEventSource *source, const char *job_id, AuraSourceJsonFunc func,
                   gpointer user_data)
{
  AuraSourceCall *call = call_new ((FuzzSource *) source, CALL_CANCEL_JOB, job_id, user_data);

  call->func.json = func;
  return call;
}

static void
source_call_cancel (AuraEventSource *source, AuraSourceCall *call)
{
  FuzzSource *self = (FuzzSource *) source;
  gboolean was_pending = g_queue_remove (&self->pending, call);

  /* a call completes or is cancelled, never both */
  g_assert_true (was_pending);
  call_free (call);
}

static void
source_free (AuraEventSource *source)
{
  FuzzSource *self = (FuzzSource *) source;

  drop_pending (self);
  g_clear_pointer (&self->model, aura_model_free);
  g_clear_pointer (&self->clock, aura_clock_unref);
  aura_config_clear (&self->config);
  g_free (self);
}

static const AuraEventSourceVTable fuzz_vtable = {
  .is_available = source_is_available,
  .get_job = source_get_job,
  .list_jobs = source_list_jobs,
  .get_events = source_get_events,
  .last_event_id = source_last_event_id,
  .cancel_job = source_cancel_job,
  .call_cancel = source_call_cancel,
  .free = source_free,
};

AuraEventSource *
aura_fuzz_source_new (void)
{
  FuzzSource *self = g_new0 (FuzzSource, 1);

  self->parent.vtable = &fuzz_vtable;
  g_queue_init (&self->pending);
  aura_config_init (&self->config);
  /* Short history and small pages: replays are cut by the floor and by
   * the bridge's budget, and come in several pages. */
  self->config.max_job_history = 6;
  self->config.max_history = 256;
  self->config.max_events_per_call = 4;
  build_model (self);
  return &self->parent;
}

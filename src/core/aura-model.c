/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "aura-error.h"
#include "aura-id.h"
#include "aura-model.h"

typedef enum {
  TIMER_FLUSH,                        /* deliver coalesced progress */
  TIMER_RETIRE,                       /* remove a finished job */
} TimerKind;

typedef struct {
  gint64 deadline;
  guint64 serial;
  TimerKind kind;
  AuraJob *job;
} Timer;

struct _AuraModel {
  const AuraConfig *config;
  AuraClock *clock;
  AuraEventStore *store;
  AuraEventSeq *seq;
  AuraEstimator *estimator;
  GHashTable *jobs;                   /* id -> AuraJob, owned */
  GSequence *timers;                  /* Timer, by deadline then serial */
  guint64 timer_serial;
  AuraModelListener listener;
  gpointer listener_data;
};

/* ---- timers ------------------------------------------------------------ */

static gint
timer_compare (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const Timer *ta = a, *tb = b;

  if (ta->deadline != tb->deadline)
    return ta->deadline < tb->deadline ? -1 : 1;
  return ta->serial < tb->serial ? -1 : ta->serial > tb->serial;
}

static GSequenceIter *
timer_add (AuraModel *self, AuraJob *job, TimerKind kind, gint64 deadline)
{
  Timer *t = g_new0 (Timer, 1);

  t->deadline = deadline;
  t->serial = ++self->timer_serial;
  t->kind = kind;
  t->job = job;
  return g_sequence_insert_sorted (self->timers, t, timer_compare, NULL);
}

static void
timer_remove (gpointer *slot)
{
  if (*slot != NULL) {
    g_sequence_remove (*slot);
    *slot = NULL;
  }
}

/* ---- construction ------------------------------------------------------ */

AuraModel *
aura_model_new (const AuraConfig *config, AuraClock *clock, AuraEventStore *store,
                AuraEventSeq *seq, AuraEstimator *estimator)
{
  AuraModel *self = g_new0 (AuraModel, 1);

  self->config = config;
  self->clock = aura_clock_ref (clock);
  self->store = store;
  self->seq = seq;
  self->estimator = estimator;
  self->jobs = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) aura_job_free);
  self->timers = g_sequence_new (g_free);
  return self;
}

void
aura_model_free (AuraModel *self)
{
  if (self == NULL)
    return;
  /* Timers point at jobs: drop them first. */
  g_sequence_free (self->timers);
  g_hash_table_unref (self->jobs);
  aura_event_store_free (self->store);
  aura_event_seq_free (self->seq);
  aura_estimator_free (self->estimator);
  aura_clock_unref (self->clock);
  g_free (self);
}

void
aura_model_set_listener (AuraModel *self, const AuraModelListener *listener, gpointer user_data)
{
  self->listener = *listener;
  self->listener_data = user_data;
}

const AuraConfig *
aura_model_get_config (AuraModel *self)
{
  return self->config;
}

AuraClock *
aura_model_get_clock (AuraModel *self)
{
  return self->clock;
}

AuraEstimator *
aura_model_get_estimator (AuraModel *self)
{
  return self->estimator;
}

AuraEventStore *
aura_model_get_store (AuraModel *self)
{
  return self->store;
}

guint
aura_model_n_jobs (AuraModel *self)
{
  return g_hash_table_size (self->jobs);
}

guint64
aura_model_last_event_id (AuraModel *self)
{
  return aura_event_seq_last (self->seq);
}

/* ---- state as a{sv} ---------------------------------------------------- */

/* g_variant_builder_add (b, "{sv}", ...) parses its format string every
 * time, which made up most of the cost of an event. */
static void
add_value (GVariantBuilder *b, const char *key, GVariant *value)
{
  g_variant_builder_add_value (b, g_variant_new_dict_entry (g_variant_new_string (key),
                                                            g_variant_new_variant (value)));
}

static void
add_string (GVariantBuilder *b, const char *key, const char *value)
{
  if (value != NULL)
    add_value (b, key, g_variant_new_string (value));
}

static void
add_timestamp (GVariantBuilder *b, const char *key, gint64 real_us)
{
  g_autofree char *ts = aura_format_timestamp (real_us);
  add_string (b, key, ts);
}

static GVariant *
warnings_variant (AuraJob *job)
{
  return g_variant_new_strv ((const char *const *) job->warnings->pdata, job->warnings->len);
}

gboolean
aura_model_job_eta (AuraModel *self, AuraJob *job, guint32 *eta_seconds, gint64 *end_real)
{
  double eta, secs;

  if (job->status == AURA_JOB_COMPLETED) {
    *eta_seconds = 0;
    *end_real = job->finished_real;
    return TRUE;
  }
  if (job->status != AURA_JOB_RUNNING)
    return FALSE;
  eta = self->estimator->vtable->estimate (self->estimator, job, aura_clock_monotonic (self->clock));
  if (!isfinite (eta) || eta < 0)
    return FALSE;
  /* 0 means done: a running job needs at least a second more. */
  secs = MIN (MAX (ceil (eta), 1.0), (double) G_MAXUINT32);
  *eta_seconds = (guint32) secs;
  *end_real = aura_clock_real (self->clock) + (gint64) (MIN (eta, 1e9) * G_USEC_PER_SEC);
  return TRUE;
}

static void
add_snapshot (AuraModel *self, AuraJob *job, GVariantBuilder *b)
{
  gint64 now_real = aura_clock_real (self->clock);
  gint64 end_real;
  guint32 eta;

  add_string (b, "jobId", job->id);
  add_string (b, "stage", aura_stage_to_string (job->stage));
  add_value (b, "percent", g_variant_new_uint32 (aura_job_percent (job)));
  add_value (b, "progress", g_variant_new_double (job->progress));

  if (aura_model_job_eta (self, job, &eta, &end_real)) {
    add_value (b, "etaSeconds", g_variant_new_uint32 (eta));
    add_timestamp (b, "expectedEndTime", end_real);
  }
  add_string (b, "message", job->message);
  add_value (b, "warnings", warnings_variant (job));
  add_string (b, "correlationId", job->correlation_id);
  add_string (b, "substageDetail", aura_job_get_substage_detail (job));
  if (job->has_items) {
    add_value (b, "currentItem", g_variant_new_uint32 (job->current_item));
    add_value (b, "totalItems", g_variant_new_uint32 (job->total_items));
  }
  add_timestamp (b, "timestamp", now_real);
  add_string (b, "status", aura_job_status_to_string (job->status));
}

GVariant *
aura_model_job_snapshot (AuraModel *self, AuraJob *job)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  add_snapshot (self, job, &b);
  return g_variant_builder_end (&b);
}

GVariant *
aura_model_job_state (AuraModel *self, AuraJob *job)
{
  GVariantBuilder b, weights;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  add_snapshot (self, job, &b);
  add_string (&b, "title", job->title);
  add_value (&b, "startedByUid", g_variant_new_uint32 (job->uid));

  g_variant_builder_init (&weights, G_VARIANT_TYPE ("a{sd}"));
  for (guint s = 0; s < AURA_STAGE_COUNT; s++)
    g_variant_builder_add (&weights, "{sd}", aura_stage_to_string (s), job->weights.w[s]);
  add_value (&b, "completedStages", aura_job_completed_stages (job));
  add_value (&b, "weights", g_variant_builder_end (&weights));
  add_timestamp (&b, "startedAt", job->started_real);
  if (job->finished_real != 0)
    add_timestamp (&b, "finishedAt", job->finished_real);
  add_value (&b, "lastEventId", g_variant_new_uint64 (job->last_event_id));
  add_value (&b, "historyFloor",
                         g_variant_new_uint64 (self->store->vtable->floor (self->store, job->id)));
  return g_variant_builder_end (&b);
}

/* ---- events ------------------------------------------------------------ */

static void
emit (AuraModel *self, AuraJob *job, AuraEventType type, GVariantBuilder *payload)
{
  guint64 id = aura_event_seq_next (self->seq);
  g_autoptr(AuraEvent) event = NULL;

  add_value (payload, "eventId", g_variant_new_uint64 (id));
  event = aura_event_new (type, id, job->id, g_variant_builder_end (payload));
  job->last_event_id = id;
  self->store->vtable->append (self->store, event);
  if (self->listener.job_event != NULL)
    self->listener.job_event (self, job, event, self->listener_data);
}

static void
emit_progress (AuraModel *self, AuraJob *job)
{
  GVariantBuilder b;

  timer_remove (&job->timer);
  job->dirty = FALSE;
  job->last_emit_mono = aura_clock_monotonic (self->clock);
  job->emitted_stage = job->stage;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  add_snapshot (self, job, &b);
  emit (self, job, AURA_EVENT_STEP_PROGRESS, &b);
}

static void
emit_simple (AuraModel *self, AuraJob *job, AuraEventType type, const char *message)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  add_string (&b, "jobId", job->id);
  if (type != AURA_EVENT_WARNING)
    add_string (&b, "status", aura_job_status_to_string (job->status));
  add_string (&b, "message", message);
  /* A job that ended early leaves the output of its completed stages
   * behind: they are what its owner rolls back. */
  if (type == AURA_EVENT_JOB_CANCELLED || type == AURA_EVENT_JOB_FAILED)
    add_value (&b, "rollbackStages", aura_job_completed_stages (job));
  /* A terminal event is stamped with the job's finishedAt, so that a client
   * shown the job's final state sees the same terminal event as one that
   * was streamed it live. */
  add_timestamp (&b, "timestamp", aura_event_type_is_terminal (type) ? job->finished_real
                                                                     : aura_clock_real (self->clock));
  emit (self, job, type, &b);
}

/* After every accepted report: progress goes out at once when the stage
 * changed or the coalescing interval has passed since the last one, and is
 * otherwise held back until the interval is over (only the newest state is
 * kept, so a flood of reports costs one event per interval). */
static void
job_changed (AuraModel *self, AuraJob *job, gboolean immediate)
{
  gint64 now = aura_clock_monotonic (self->clock);
  gint64 due = job->last_emit_mono + self->config->coalesce_interval_us;

  job->last_report_mono = now;
  job->n_reports++;
  if (self->estimator->vtable->job_updated != NULL)
    self->estimator->vtable->job_updated (self->estimator, job, now);

  if (immediate || job->stage != job->emitted_stage || now >= due) {
    emit_progress (self, job);
    return;
  }
  job->dirty = TRUE;
  if (job->timer == NULL)
    job->timer = timer_add (self, job, TIMER_FLUSH, due);
}

static void
retire_job (AuraModel *self, AuraJob *job)
{
  timer_remove (&job->timer);
  timer_remove (&job->retire_timer);
  if (self->listener.job_removed != NULL)
    self->listener.job_removed (self, job, self->listener_data);
  self->store->vtable->forget_job (self->store, job->id);
  g_hash_table_remove (self->jobs, job->id);
}

static gboolean
finish_job (AuraModel *self, const char *job_id, AuraJobStatus status, const char *message,
            GError **error)
{
  static const AuraEventType terminal[] = {
    [AURA_JOB_COMPLETED] = AURA_EVENT_JOB_COMPLETED,
    [AURA_JOB_FAILED] = AURA_EVENT_JOB_FAILED,
    [AURA_JOB_CANCELED] = AURA_EVENT_JOB_CANCELLED,
  };
  AuraJob *job = aura_model_get_running_job (self, job_id, error);
  gint64 now;

  if (job == NULL)
    return FALSE;
  if (status != AURA_JOB_COMPLETED &&
      !aura_check_text ("message", message, self->config->max_message_length, FALSE, error))
    return FALSE;

  now = aura_clock_monotonic (self->clock);
  aura_job_finish (job, status, message, aura_clock_real (self->clock));
  if (self->estimator->vtable->job_finished != NULL)
    self->estimator->vtable->job_finished (self->estimator, job, now);
  /* The final state supersedes any coalesced one, then the terminal event:
   * a client that saw the terminal event has seen the last state. */
  emit_progress (self, job);
  emit_simple (self, job, terminal[status], job->message);
  job->retire_timer = timer_add (self, job, TIMER_RETIRE, now + self->config->retention_us);
  return TRUE;
}

/* ---- lookups and access ------------------------------------------------ */

AuraJob *
aura_model_lookup (AuraModel *self, const char *job_id)
{
  return job_id != NULL ? g_hash_table_lookup (self->jobs, job_id) : NULL;
}

AuraJob *
aura_model_get_job (AuraModel *self, const char *job_id, GError **error)
{
  AuraJob *job;

  if (!aura_job_id_validate (job_id, error))
    return NULL;
  job = g_hash_table_lookup (self->jobs, job_id);
  if (job == NULL)
    g_set_error (error, AURA_ERROR, AURA_ERROR_NO_SUCH_JOB, "no job with id '%s'", job_id);
  return job;
}

AuraJob *
aura_model_get_running_job (AuraModel *self, const char *job_id, GError **error)
{
  AuraJob *job = aura_model_get_job (self, job_id, error);

  if (job != NULL && !aura_job_is_running (job)) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_NOT_RUNNING,
                 "job '%s' is %s; only running jobs accept this", job_id,
                 aura_job_status_to_string (job->status));
    return NULL;
  }
  return job;
}

static gint
job_compare_start (gconstpointer a, gconstpointer b)
{
  const AuraJob *ja = *(AuraJob *const *) a, *jb = *(AuraJob *const *) b;

  if (ja->started_mono != jb->started_mono)
    return ja->started_mono < jb->started_mono ? -1 : 1;
  return strcmp (ja->id, jb->id);
}

GPtrArray *
aura_model_list_jobs (AuraModel *self)
{
  GPtrArray *out = g_ptr_array_sized_new (g_hash_table_size (self->jobs));
  GHashTableIter it;
  gpointer value;

  g_hash_table_iter_init (&it, self->jobs);
  while (g_hash_table_iter_next (&it, NULL, &value))
    g_ptr_array_add (out, value);
  g_ptr_array_sort (out, job_compare_start);
  return out;
}

static gboolean
id_in (GArray *ids, guint32 id)
{
  for (guint i = 0; ids != NULL && i < ids->len; i++) {
    if (g_array_index (ids, guint32, i) == id)
      return TRUE;
  }
  return FALSE;
}

gboolean
aura_model_authorize (AuraModel *self, const AuraJob *job, guint32 uid, const guint32 *gids,
                      guint n_gids, GError **error)
{
  if (uid == 0 || uid == job->uid || id_in (self->config->operator_uids, uid))
    return TRUE;
  for (guint i = 0; i < n_gids; i++) {
    if (id_in (self->config->operator_gids, gids[i]))
      return TRUE;
  }
  g_set_error (error, AURA_ERROR, AURA_ERROR_ACCESS_DENIED,
               "job '%s' belongs to uid %u; only that user, root and the configured "
               "operators may change it", job->id, job->uid);
  return FALSE;
}

/* ---- entry points ------------------------------------------------------ */

static gboolean
type_error (const char *key, const GVariantType *type, GError **error)
{
  g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS, "'%s' must be of D-Bus type %.*s",
               key, (int) g_variant_type_get_string_length (type),
               g_variant_type_peek_string (type));
  return FALSE;
}

static gboolean
lookup_typed (GVariant *dict, const char *key, const GVariantType *type, GVariant **out,
              GError **error)
{
  g_autoptr(GVariant) value = dict != NULL ? g_variant_lookup_value (dict, key, NULL) : NULL;

  *out = NULL;
  if (value != NULL && !g_variant_is_of_type (value, type))
    return type_error (key, type, error);
  *out = g_steal_pointer (&value);
  return TRUE;
}

/* A string detail: NULL when absent. */
static gboolean
check_string (const AuraDetailValue *v, const char *key, const char **out, GError **error)
{
  *out = NULL;
  if (v->type == 0)
    return TRUE;
  if (v->type != 's')
    return type_error (key, G_VARIANT_TYPE_STRING, error);
  *out = v->string;
  return TRUE;
}

/* Integers are accepted in any D-Bus integer type: gdbus sends <3> as int32. */
static gboolean
check_count (const AuraDetailValue *v, const char *key, gboolean *has, guint32 *out,
             GError **error)
{
  *has = FALSE;
  if (v->type == 0)
    return TRUE;
  if (strchr ("ynqiuxt", v->type) == NULL) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                 "'%s' must be an integer (D-Bus type u)", key);
    return FALSE;
  }
  if (v->integer < 0 || v->integer > G_MAXUINT32) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                 "'%s' must be from 0 to %u", key, G_MAXUINT32);
    return FALSE;
  }
  *has = TRUE;
  *out = (guint32) v->integer;
  return TRUE;
}

void
aura_detail_value_set_basic (AuraDetailValue *v, char type, const void *value)
{
  v->type = type;
  switch (value != NULL ? type : 0) {
  case 's': case 'o': case 'g': v->string = *(const char *const *) value; break;
  case 'y': v->integer = *(const guint8 *) value; break;
  case 'n': v->integer = *(const gint16 *) value; break;
  case 'q': v->integer = *(const guint16 *) value; break;
  case 'i': v->integer = *(const gint32 *) value; break;
  case 'u': v->integer = *(const guint32 *) value; break;
  case 'x': v->integer = *(const gint64 *) value; break;
  case 't':
    v->integer = *(const guint64 *) value > G_MAXINT64 ? -1 : (gint64) *(const guint64 *) value;
    break;
  default: break;
  }
}

void
aura_detail_value_set_variant (AuraDetailValue *v, GVariant *variant)
{
  char type = g_variant_get_type_string (variant)[0];
  union {
    guint8 y;
    gint16 n;
    guint16 q;
    gint32 i;
    guint32 u;
    gint64 x;
    guint64 t;
    const char *s;
  } basic;
  const void *value = &basic;

  switch (type) {
  case 's': case 'o': case 'g': basic.s = g_variant_get_string (variant, NULL); break;
  case 'y': basic.y = g_variant_get_byte (variant); break;
  case 'n': basic.n = g_variant_get_int16 (variant); break;
  case 'q': basic.q = g_variant_get_uint16 (variant); break;
  case 'i': basic.i = g_variant_get_int32 (variant); break;
  case 'u': basic.u = g_variant_get_uint32 (variant); break;
  case 'x': basic.x = g_variant_get_int64 (variant); break;
  case 't': basic.t = g_variant_get_uint64 (variant); break;
  default: value = NULL; break;     /* (only the type matters then) */
  }
  aura_detail_value_set_basic (v, type, value);
}

static gboolean
parse_weights (GVariant *value, AuraWeights *weights, GError **error)
{
  GVariantIter it;
  const char *stage_name;
  double w;

  g_variant_iter_init (&it, value);
  while (g_variant_iter_next (&it, "{&sd}", &stage_name, &w)) {
    AuraStage stage;
    if (!aura_stage_from_string (stage_name, &stage)) {
      g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                   "unknown stage '%s' in weights; stages are %s", stage_name, aura_stage_list ());
      return FALSE;
    }
    weights->w[stage] = w;
  }
  return aura_weights_normalize (weights, error);
}

/* Frees the oldest finished job when the job table is full, so that finished
 * jobs waiting out their retention never block new work. */
static gboolean
make_room (AuraModel *self, GError **error)
{
  GSequenceIter *it;

  if (g_hash_table_size (self->jobs) < self->config->max_jobs)
    return TRUE;
  for (it = g_sequence_get_begin_iter (self->timers); !g_sequence_iter_is_end (it);
       it = g_sequence_iter_next (it)) {
    Timer *t = g_sequence_get (it);
    if (t->kind == TIMER_RETIRE) {
      retire_job (self, t->job);
      return TRUE;
    }
  }
  g_set_error (error, AURA_ERROR, AURA_ERROR_LIMIT_EXCEEDED,
               "%u jobs are running, the configured maximum (MaxJobs)", self->config->max_jobs);
  return FALSE;
}

/* MaxJobs is shared by every user: one of them must not be able to take
 * all of it and keep everyone else's jobs from starting. */
static gboolean
check_user_jobs (AuraModel *self, guint32 uid, GError **error)
{
  GHashTableIter iter;
  gpointer value;
  guint running = 0;

  g_hash_table_iter_init (&iter, self->jobs);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    AuraJob *job = value;
    if (job->uid == uid && aura_job_is_running (job))
      running++;
  }
  if (running < self->config->max_running_jobs_per_user)
    return TRUE;
  g_set_error (error, AURA_ERROR, AURA_ERROR_LIMIT_EXCEEDED,
               "uid %u has %u jobs running, the configured maximum per user "
               "(MaxRunningJobsPerUser)", uid, running);
  return FALSE;
}

AuraJob *
aura_model_start_job (AuraModel *self, const char *job_id, GVariant *options, guint32 uid,
                      GError **error)
{
  const AuraConfig *cfg = self->config;
  g_autoptr(GVariant) correlation = NULL, title = NULL, weights_v = NULL;
  AuraWeights weights = cfg->weights;
  g_autoptr(GVariant) owned = options != NULL ? g_variant_ref_sink (options) : NULL;
  AuraJob *job;

  if (!aura_job_id_validate (job_id, error))
    return NULL;
  if (g_hash_table_contains (self->jobs, job_id)) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_JOB_EXISTS,
                 "a job with id '%s' exists already; job ids must be unique", job_id);
    return NULL;
  }
  if (!lookup_typed (owned, "correlationId", G_VARIANT_TYPE_STRING, &correlation, error) ||
      !lookup_typed (owned, "title", G_VARIANT_TYPE_STRING, &title, error) ||
      !lookup_typed (owned, "weights", G_VARIANT_TYPE ("a{sd}"), &weights_v, error))
    return NULL;
  if (correlation != NULL &&
      !aura_check_text ("correlationId", g_variant_get_string (correlation, NULL),
                        cfg->max_name_length, TRUE, error))
    return NULL;
  if (title != NULL &&
      !aura_check_text ("title", g_variant_get_string (title, NULL), cfg->max_name_length, TRUE,
                        error))
    return NULL;
  if (weights_v != NULL && !parse_weights (weights_v, &weights, error))
    return NULL;
  if (!check_user_jobs (self, uid, error))
    return NULL;
  /* The job's own weights win; learned ones replace only the configured. */
  if (weights_v == NULL && cfg->learned_weights &&
      self->estimator->vtable->default_weights != NULL) {
    AuraWeights learned;
    if (self->estimator->vtable->default_weights (self->estimator, &learned))
      weights = learned;
  }
  if (!make_room (self, error))
    return NULL;

  job = aura_job_new (job_id, uid, &weights, aura_clock_monotonic (self->clock),
                      aura_clock_real (self->clock));
  if (correlation != NULL)
    aura_job_set_correlation_id (job, g_variant_get_string (correlation, NULL));
  if (title != NULL && g_variant_get_string (title, NULL)[0] != '\0')
    job->title = g_variant_dup_string (title, NULL);
  g_hash_table_insert (self->jobs, job->id, job);

  if (self->estimator->vtable->job_started != NULL)
    self->estimator->vtable->job_started (self->estimator, job, job->started_mono);
  if (self->listener.job_added != NULL)
    self->listener.job_added (self, job, self->listener_data);
  emit_progress (self, job);
  return job;
}

static gboolean
check_correlation (AuraModel *self, const char *correlation_id, GError **error)
{
  return aura_check_text ("correlation_id", correlation_id, self->config->max_name_length, TRUE,
                          error);
}

static gboolean
check_index (const char *index_name, guint64 index, const char *total_name, guint64 total,
             GError **error)
{
  if (total == 0) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS, "%s must be greater than 0",
                 total_name);
    return FALSE;
  }
  if (index > total) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                 "%s (%" G_GUINT64_FORMAT ") must be at most %s (%" G_GUINT64_FORMAT ")",
                 index_name, index, total_name, total);
    return FALSE;
  }
  return TRUE;
}

AuraDetailValue *
aura_report_details_slot (AuraReportDetails *d, const char *key)
{
  AuraDetailValue *slot;

  if (strcmp (key, "message") == 0)
    slot = &d->message;
  else if (strcmp (key, "substageDetail") == 0)
    slot = &d->substage_detail;
  else if (strcmp (key, "correlationId") == 0)
    slot = &d->correlation_id;
  else if (strcmp (key, "currentItem") == 0)
    slot = &d->current_item;
  else if (strcmp (key, "totalItems") == 0)
    slot = &d->total_items;
  else
    return NULL;
  return slot->type == 0 ? slot : NULL;
}

gboolean
aura_model_report_progress (AuraModel *self, const char *job_id, const char *stage_name,
                            double stage_percent, GVariant *details, GError **error)
{
  AuraReportDetails d = { { 0 } };
  g_autoptr(GVariant) owned = details != NULL ? g_variant_ref_sink (details) : NULL;
  g_autoptr(GPtrArray) values = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);

  if (owned != NULL) {
    GVariantIter it;
    const char *key;
    GVariant *value;

    g_variant_iter_init (&it, owned);
    while (g_variant_iter_next (&it, "{&sv}", &key, &value)) {
      AuraDetailValue *slot = aura_report_details_slot (&d, key);
      /* (the strings of the values stay valid while they are kept) */
      g_ptr_array_add (values, value);
      if (slot != NULL)
        aura_detail_value_set_variant (slot, value);
    }
  }
  return aura_model_report_progress_details (self, job_id, stage_name, stage_percent, &d, error);
}

gboolean
aura_model_report_progress_details (AuraModel *self, const char *job_id, const char *stage_name,
                                    double stage_percent, const AuraReportDetails *d,
                                    GError **error)
{
  const AuraConfig *cfg = self->config;
  const char *message = NULL, *detail = NULL, *correlation = NULL;
  gboolean has_current, has_total;
  guint32 current = 0, total = 0;
  AuraStage stage;
  AuraJob *job = aura_model_get_running_job (self, job_id, error);

  if (job == NULL)
    return FALSE;
  if (!aura_stage_from_string (stage_name, &stage)) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS, "unknown stage '%s'; stages are %s",
                 stage_name, aura_stage_list ());
    return FALSE;
  }
  if (!isfinite (stage_percent) || stage_percent < 0 || stage_percent > 100) {
    g_set_error_literal (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                         "stage_percent must be a number from 0 to 100");
    return FALSE;
  }
  if (!check_string (&d->message, "message", &message, error) ||
      !check_string (&d->substage_detail, "substageDetail", &detail, error) ||
      !check_string (&d->correlation_id, "correlationId", &correlation, error) ||
      !check_count (&d->current_item, "currentItem", &has_current, &current, error) ||
      !check_count (&d->total_items, "totalItems", &has_total, &total, error))
    return FALSE;
  if ((message != NULL &&
       !aura_check_text ("message", message, cfg->max_message_length, FALSE, error)) ||
      (detail != NULL &&
       !aura_check_text ("substageDetail", detail, cfg->max_message_length, TRUE, error)) ||
      (correlation != NULL && !check_correlation (self, correlation, error)))
    return FALSE;
  if (has_current != has_total) {
    g_set_error_literal (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                         "currentItem and totalItems must be given together");
    return FALSE;
  }
  if (has_total && !check_index ("currentItem", current, "totalItems", total, error))
    return FALSE;

  if (message != NULL)
    aura_job_set_message (job, message);
  else if (stage != job->stage)
    aura_job_set_message (job, aura_stage_describe (stage));
  aura_job_set_stage_progress (job, stage, stage_percent / 100.0);
  aura_job_set_substage_detail (job, detail);
  aura_job_set_items (job, has_total, current, total);
  if (correlation != NULL)
    aura_job_set_correlation_id (job, correlation);
  job->has_fps = FALSE;
  job_changed (self, job, FALSE);
  return TRUE;
}

gboolean
aura_model_report_ffmpeg (AuraModel *self, const char *job_id, guint64 frame,
                          guint64 total_frames, double fps, double time_seconds,
                          const char *correlation_id, GError **error)
{
  AuraJob *job = aura_model_get_running_job (self, job_id, error);

  if (job == NULL || !check_index ("frame", frame, "total_frames", total_frames, error) ||
      !check_correlation (self, correlation_id, error))
    return FALSE;
  if (total_frames > G_MAXUINT32) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                 "total_frames must be at most %u", G_MAXUINT32);
    return FALSE;
  }
  if (!isfinite (fps) || fps < 0 || fps > 1e6) {
    g_set_error_literal (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                         "fps must be a number from 0 to 1000000");
    return FALSE;
  }
  if (!isfinite (time_seconds) || time_seconds < 0 || time_seconds > 1e9) {
    g_set_error_literal (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                         "time_seconds must be a number from 0 to 1000000000");
    return FALSE;
  }

  aura_job_set_stage_progress (job, AURA_STAGE_RENDER, (double) frame / (double) total_frames);
  aura_job_set_message (job, aura_stage_describe (AURA_STAGE_RENDER));
  aura_job_set_items (job, TRUE, (guint32) frame, (guint32) total_frames);
  aura_job_set_correlation_id (job, correlation_id);
  job->has_fps = TRUE;
  job->fps = fps;
  job->frame = frame;
  job->total_frames = total_frames;
  job->media_time = time_seconds;
  aura_job_set_render_detail (job);
  job_changed (self, job, FALSE);
  return TRUE;
}

/* TTS and visuals report an index before that item starts, 0-based: the
 * fraction done is index / total, and the item being worked on is index + 1. */
static gboolean
report_indexed (AuraModel *self, const char *job_id, AuraStage stage, const char *index_name,
                guint32 index, const char *total_name, guint32 total, const char *provider,
                const char *correlation_id, GError **error)
{
  AuraJob *job = aura_model_get_running_job (self, job_id, error);
  g_autofree char *message = NULL, *detail = NULL;
  guint32 working_on;

  if (job == NULL || !check_index (index_name, index, total_name, total, error) ||
      !aura_check_text ("provider_name", provider, self->config->max_name_length, FALSE, error) ||
      !check_correlation (self, correlation_id, error))
    return FALSE;

  working_on = MIN (index + 1, total);
  if (stage == AURA_STAGE_TTS) {
    message = g_strdup_printf (_("Synthesizing speech with %s"), provider);
    detail = g_strdup_printf (_("Scene %u of %u"), working_on, total);
  } else {
    message = g_strdup_printf (_("Generating images with %s"), provider);
    detail = g_strdup_printf (_("Image %u of %u"), working_on, total);
  }
  aura_job_set_stage_progress (job, stage, (double) index / (double) total);
  aura_job_set_message (job, message);
  aura_job_set_substage_detail (job, detail);
  aura_job_set_items (job, TRUE, working_on, total);
  aura_job_set_correlation_id (job, correlation_id);
  job->has_fps = FALSE;
  job_changed (self, job, FALSE);
  return TRUE;
}

gboolean
aura_model_report_tts (AuraModel *self, const char *job_id, guint32 scene_index,
                       guint32 total_scenes, const char *provider_name,
                       const char *correlation_id, GError **error)
{
  return report_indexed (self, job_id, AURA_STAGE_TTS, "scene_index", scene_index,
                         "total_scenes", total_scenes, provider_name, correlation_id, error);
}

gboolean
aura_model_report_visual (AuraModel *self, const char *job_id, guint32 image_index,
                          guint32 total_images, const char *provider_name,
                          const char *correlation_id, GError **error)
{
  return report_indexed (self, job_id, AURA_STAGE_VISUALS, "image_index", image_index,
                         "total_images", total_images, provider_name, correlation_id, error);
}

gboolean
aura_model_report_llm (AuraModel *self, const char *job_id, const char *phase,
                       guint32 current_chunk, guint32 total_chunks, const char *correlation_id,
                       GError **error)
{
  AuraJob *job = aura_model_get_running_job (self, job_id, error);
  g_autofree char *message = NULL, *detail = NULL;
  AuraStage stage;

  if (job == NULL ||
      !aura_check_text ("phase", phase, self->config->max_name_length, FALSE, error) ||
      !check_index ("current_chunk", current_chunk, "total_chunks", total_chunks, error) ||
      !check_correlation (self, correlation_id, error))
    return FALSE;

  /* The planning phases of the LLM (the seed's Brief) belong to planning. */
  if (g_ascii_strcasecmp (phase, "planning") == 0 || g_ascii_strcasecmp (phase, "brief") == 0) {
    stage = AURA_STAGE_PLANNING;
    message = g_strdup_printf (_("Planning (%s)"), phase);
  } else {
    stage = AURA_STAGE_SCRIPT;
    message = g_strdup_printf (_("Writing the script (%s)"), phase);
  }
  detail = g_strdup_printf (_("Chunk %u of %u"), current_chunk, total_chunks);
  aura_job_set_stage_progress (job, stage, (double) current_chunk / (double) total_chunks);
  aura_job_set_message (job, message);
  aura_job_set_substage_detail (job, detail);
  aura_job_set_items (job, TRUE, current_chunk, total_chunks);
  aura_job_set_correlation_id (job, correlation_id);
  job->has_fps = FALSE;
  job_changed (self, job, FALSE);
  return TRUE;
}

/* A job's warnings ride along in each of its progress events and states:
 * their bytes are bounded, not only their number. */
static gsize
warning_bytes (AuraJob *job)
{
  gsize total = 0;

  for (guint i = 0; i < job->warnings->len; i++)
    total += strlen (job->warnings->pdata[i]);
  return total;
}

static void
append_warning (AuraModel *self, AuraJob *job, const char *message)
{
  g_ptr_array_add (job->warnings, g_strdup (message));
  emit_simple (self, job, AURA_EVENT_WARNING, message);
}

gboolean
aura_model_add_warning (AuraModel *self, const char *job_id, const char *message, GError **error)
{
  AuraJob *job = aura_model_get_running_job (self, job_id, error);

  if (job == NULL ||
      !aura_check_text ("message", message, self->config->max_message_length, FALSE, error))
    return FALSE;
  if (job->warnings->len >= self->config->max_warnings_per_job) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_LIMIT_EXCEEDED,
                 "job '%s' has %u warnings, the configured maximum (MaxWarningsPerJob)", job_id,
                 job->warnings->len);
    return FALSE;
  }
  if (warning_bytes (job) + strlen (message) > self->config->max_warning_bytes_per_job) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_LIMIT_EXCEEDED,
                 "the warnings of job '%s' would take more than %" G_GSIZE_FORMAT
                 " bytes, the configured maximum (MaxWarningBytesPerJob)", job_id,
                 self->config->max_warning_bytes_per_job);
    return FALSE;
  }
  append_warning (self, job, message);
  return TRUE;
}

void
aura_model_add_system_warning (AuraModel *self, AuraJob *job, const char *message)
{
  if (job->warnings->len >= self->config->max_warnings_per_job ||
      warning_bytes (job) + strlen (message) > self->config->max_warning_bytes_per_job) {
    g_debug ("job %s: warning limit reached, dropping: %s", job->id, message);
    return;
  }
  append_warning (self, job, message);
}

gboolean
aura_model_mark_stage_completed (AuraModel *self, const char *job_id, const char *stage_name,
                                 GError **error)
{
  AuraJob *job = aura_model_get_running_job (self, job_id, error);
  AuraStage stage;

  if (job == NULL)
    return FALSE;
  if (!aura_stage_from_string (stage_name, &stage)) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS, "unknown stage '%s'; stages are %s",
                 stage_name, aura_stage_list ());
    return FALSE;
  }
  aura_job_mark_stage_completed (job, stage);
  job_changed (self, job, TRUE);
  return TRUE;
}

gboolean
aura_model_complete_job (AuraModel *self, const char *job_id, GError **error)
{
  return finish_job (self, job_id, AURA_JOB_COMPLETED, _("Job completed"), error);
}

gboolean
aura_model_fail_job (AuraModel *self, const char *job_id, const char *message, GError **error)
{
  return finish_job (self, job_id, AURA_JOB_FAILED, message, error);
}

gboolean
aura_model_cancel_job (AuraModel *self, const char *job_id, const char *message, GError **error)
{
  return finish_job (self, job_id, AURA_JOB_CANCELED, message, error);
}

GVariant *
aura_model_get_events (AuraModel *self, const char *job_id, guint64 after_id, GError **error)
{
  g_autoptr(GPtrArray) events = NULL;
  GVariantBuilder b;
  gsize bytes = 0;

  if (job_id[0] != '\0' && aura_model_get_job (self, job_id, error) == NULL)
    return NULL;
  events = self->store->vtable->query (self->store, job_id[0] != '\0' ? job_id : NULL, after_id,
                                       self->config->max_events_per_call);
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(sta{sv})"));
  for (guint i = 0; i < events->len; i++) {
    AuraEvent *ev = events->pdata[i];
    /* A page also ends before it grows past MaxReplyBytes (a bus refuses
     * large messages), but always holds an event. */
    bytes += aura_event_size (ev);
    if (i > 0 && bytes > self->config->max_reply_bytes)
      break;
    g_variant_builder_add (&b, "(st@a{sv})", aura_event_type_to_string (ev->type), ev->id,
                           ev->payload);
  }
  return g_variant_builder_end (&b);
}

/* ---- timers ------------------------------------------------------------ */

gint64
aura_model_next_deadline (AuraModel *self)
{
  GSequenceIter *first = g_sequence_get_begin_iter (self->timers);

  if (g_sequence_iter_is_end (first))
    return G_MAXINT64;
  return ((Timer *) g_sequence_get (first))->deadline;
}

void
aura_model_dispatch (AuraModel *self)
{
  gint64 now = aura_clock_monotonic (self->clock);

  for (;;) {
    GSequenceIter *first = g_sequence_get_begin_iter (self->timers);
    Timer *t;

    if (g_sequence_iter_is_end (first))
      return;
    t = g_sequence_get (first);
    if (t->deadline > now)
      return;
    if (t->kind == TIMER_FLUSH) {
      AuraJob *job = t->job;
      timer_remove (&job->timer);
      if (job->dirty)
        emit_progress (self, job);
    } else {
      retire_job (self, t->job);
    }
  }
}

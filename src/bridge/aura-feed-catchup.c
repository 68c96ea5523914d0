/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "aura-error.h"
#include "aura-feed.h"
#include "aura-json.h"

/* How a stream starts or resumes, in three steps of calls to the source:
 *
 * 1. with a resume point: the source's newest event id. A Last-Event-ID
 *    above it is garbage or from elsewhere, and gets the current state.
 * 2. with a resume point: the events after it (the job's, or every job's),
 *    page by page.
 * 3. the state of each job: its lastEventId, its historyFloor and whether
 *    it has finished.
 *
 * Fetching history before state matters: the floor only rises, so if the
 * state fetched afterwards still has floor <= the resume point, no event
 * was dropped before the history was read, and the replay is exact. The
 * stream is registered for live events before step 1; events that arrive
 * meanwhile are merged by id (see AuraFeed), so the seam between history
 * and live events loses and repeats nothing.
 *
 * Per job the result is one of: nothing (the client is up to date), the
 * exact events after the resume point, or the current state -- a
 * step-progress snapshot carrying the job's lastEventId as its id and, for
 * a finished job, its terminal event. Never both. */

/* The fields of a step-progress event (the seed's ProgressEventDto, plus
 * progress, expectedEndTime and status) among those of a job's state. */
static const char *const snapshot_keys[] = {
  "jobId", "stage", "percent", "progress", "etaSeconds", "expectedEndTime", "message",
  "warnings", "correlationId", "substageDetail", "currentItem", "totalItems", "timestamp",
  "status",
};

typedef struct {
  char *job_id;
  JsonNode *state;                    /* NULL: the daemon does not know the job */
  GPtrArray *replay;                  /* AuraSourceEvent after the resume point */
  gboolean cut;                       /* the replay went over the budget */
} CatchupJob;

struct _AuraFeedCatchup {
  AuraEventSource *source;
  gboolean all_jobs;
  guint64 after;
  guint64 newest;
  GPtrArray *jobs;                    /* CatchupJob */
  GHashTable *by_id;                  /* job id -> CatchupJob (all jobs) */
  GPtrArray *all_replay;              /* all jobs: every job's events */
  gboolean all_cut;
  guint index;                        /* the job being fetched */
  guint64 page_after;
  gsize bytes;
  gsize budget;
  AuraSourceCall *call;
  AuraFeedCatchupResult result;
  AuraFeedCatchupFunc func;
  gpointer user_data;
};

static void fetch_replay (AuraFeedCatchup *self);
static void fetch_states (AuraFeedCatchup *self);

static void
catchup_job_free (gpointer data)
{
  CatchupJob *job = data;

  g_free (job->job_id);
  if (job->state != NULL)
    json_node_unref (job->state);
  g_ptr_array_unref (job->replay);
  g_free (job);
}

static CatchupJob *
catchup_job_new (const char *job_id)
{
  CatchupJob *job = g_new0 (CatchupJob, 1);

  job->job_id = g_strdup (job_id);
  job->replay = g_ptr_array_new_with_free_func ((GDestroyNotify) aura_source_event_unref);
  return job;
}

static GPtrArray *
event_array_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) aura_source_event_unref);
}

void
aura_feed_catchup_free (AuraFeedCatchup *self)
{
  if (self == NULL)
    return;
  aura_event_source_clear_call (self->source, &self->call);
  g_ptr_array_unref (self->jobs);
  g_hash_table_unref (self->by_id);
  g_ptr_array_unref (self->all_replay);
  g_clear_pointer (&self->result.events, g_ptr_array_unref);
  g_clear_pointer (&self->result.covered, g_hash_table_unref);
  g_clear_pointer (&self->result.unknown, g_hash_table_unref);
  g_clear_pointer (&self->result.ended, g_hash_table_unref);
  g_free (self);
}

/* The caller may free the catch-up in func: nothing touches it after. */
static void
fail (AuraFeedCatchup *self, const GError *error)
{
  self->func (NULL, error, self->user_data);
}

static guint64
member_id (JsonObject *obj, const char *name)
{
  JsonNode *node = json_object_get_member (obj, name);
  gint64 v;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return 0;
  v = json_node_get_int (node);
  return v > 0 ? (guint64) v : 0;
}

static AuraSourceEvent *
snapshot_from_state (JsonObject *state, const char *job_id, guint64 id)
{
  JsonObject *obj = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  for (guint i = 0; i < G_N_ELEMENTS (snapshot_keys); i++) {
    JsonNode *member = json_object_get_member (state, snapshot_keys[i]);
    if (member != NULL)
      json_object_set_member (obj, snapshot_keys[i], json_node_copy (member));
  }
  json_object_set_int_member (obj, "eventId", (gint64) id);
  aura_json_fill_progress_nulls (obj);
  json_node_take_object (node, obj);
  return aura_source_event_new ("step-progress", id, job_id, node);
}

/* A finished job's terminal event is its last: {jobId, status, message,
 * rollbackStages (failed or cancelled), timestamp} with the job's
 * lastEventId, stamped with its finishedAt: what the daemon sent. */
static AuraSourceEvent *
terminal_from_state (JsonObject *state, const char *job_id, guint64 id)
{
  const char *status = json_object_get_string_member_with_default (state, "status", "Failed");
  JsonObject *obj = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_string_member (obj, "jobId", job_id);
  json_object_set_string_member (obj, "status", status);
  json_object_set_string_member (obj, "message",
                                 json_object_get_string_member_with_default (state, "message", ""));
  /* a job that ended early names the stages to roll back */
  if (g_strcmp0 (status, "Completed") != 0 && json_object_has_member (state, "completedStages"))
    json_object_set_member (obj, "rollbackStages",
                            json_node_copy (json_object_get_member (state, "completedStages")));
  json_object_set_string_member (obj, "timestamp",
                                 json_object_get_string_member_with_default (state, "finishedAt",
                                                                             ""));
  json_object_set_int_member (obj, "eventId", (gint64) id);
  json_node_take_object (node, obj);
  return aura_source_event_new (aura_source_event_type_for_status (status), id, job_id, node);
}

static void
set_covered (AuraFeedCatchup *self, const char *job_id, guint64 id)
{
  guint64 *v = g_new (guint64, 1);

  *v = id;
  g_hash_table_replace (self->result.covered, g_strdup (job_id), v);
}

static void
decide_job (AuraFeedCatchup *self, CatchupJob *job, GPtrArray *replay, gboolean cut)
{
  AuraFeedCatchupResult *res = &self->result;
  JsonObject *state;
  guint64 last, floor;
  gboolean finished;

  if (job->state == NULL || !JSON_NODE_HOLDS_OBJECT (job->state)) {
    g_hash_table_add (res->unknown, g_strdup (job->job_id));
    return;
  }
  state = json_node_get_object (job->state);
  last = member_id (state, "lastEventId");
  floor = member_id (state, "historyFloor");
  finished = g_strcmp0 (json_object_get_string_member_with_default (state, "status", ""),
                        "Running") != 0;

  if (self->after > 0 && last <= self->after) {
    /* the client has every event of the job, the terminal one too */
    set_covered (self, job->job_id, self->after);
    if (finished)
      g_hash_table_add (res->ended, g_strdup (job->job_id));
    return;
  }
  if (self->after > 0 && floor <= self->after && !cut) {
    guint64 covered = self->after;
    for (guint i = 0; i < replay->len; i++) {
      AuraSourceEvent *ev = replay->pdata[i];
      g_ptr_array_add (res->events, aura_source_event_ref (ev));
      covered = MAX (covered, ev->id);
    }
    set_covered (self, job->job_id, covered);
    return;
  }
  g_ptr_array_add (res->events, snapshot_from_state (state, job->job_id, last));
  if (finished)
    g_ptr_array_add (res->events, terminal_from_state (state, job->job_id, last));
  set_covered (self, job->job_id, last);
}

static void
finish (AuraFeedCatchup *self)
{
  AuraFeedCatchupResult *res = &self->result;

  res->after = self->after;
  res->events = event_array_new ();
  res->covered = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  res->unknown = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  res->ended = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  /* Every job's events of the all-jobs history, in order. Events of jobs
   * that are gone by the time of step 3 are left out with their jobs. */
  for (guint i = 0; self->all_jobs && i < self->all_replay->len; i++) {
    AuraSourceEvent *ev = self->all_replay->pdata[i];
    CatchupJob *job = g_hash_table_lookup (self->by_id, ev->job_id);
    if (job != NULL)
      g_ptr_array_add (job->replay, aura_source_event_ref (ev));
  }
  for (guint i = 0; i < self->jobs->len; i++) {
    CatchupJob *job = self->jobs->pdata[i];
    decide_job (self, job, job->replay, self->all_jobs ? self->all_cut : job->cut);
  }
  /* Stable: a finished job's snapshot stays before its terminal event,
   * which carries the same id. */
  g_ptr_array_sort (res->events, aura_source_event_compare_id);
  self->func (res, NULL, self->user_data);
}

/* ---- step 3: states ---------------------------------------------------- */

static void
on_state (JsonNode *result, const GError *error, gpointer user_data)
{
  AuraFeedCatchup *self = user_data;
  CatchupJob *job = self->jobs->pdata[self->index];

  self->call = NULL;
  if (error != NULL && !g_error_matches (error, AURA_ERROR, AURA_ERROR_NO_SUCH_JOB)) {
    fail (self, error);
    return;
  }
  if (result != NULL)
    job->state = json_node_ref (result);
  self->index++;
  fetch_states (self);
}

static void
on_list (JsonNode *result, const GError *error, gpointer user_data)
{
  AuraFeedCatchup *self = user_data;
  JsonArray *arr;

  self->call = NULL;
  if (error != NULL) {
    fail (self, error);
    return;
  }
  arr = JSON_NODE_HOLDS_ARRAY (result) ? json_node_get_array (result) : NULL;
  for (guint i = 0; arr != NULL && i < json_array_get_length (arr); i++) {
    JsonNode *state = json_array_get_element (arr, i);
    const char *id;
    CatchupJob *job;

    if (!JSON_NODE_HOLDS_OBJECT (state))
      continue;
    id = json_object_get_string_member_with_default (json_node_get_object (state), "jobId", NULL);
    if (id == NULL)
      continue;
    job = catchup_job_new (id);
    job->state = json_node_ref (state);
    g_ptr_array_add (self->jobs, job);
    g_hash_table_replace (self->by_id, job->job_id, job);
  }
  finish (self);
}

static void
fetch_states (AuraFeedCatchup *self)
{
  if (self->all_jobs) {
    self->call = aura_event_source_list_jobs (self->source, on_list, self);
    return;
  }
  if (self->index >= self->jobs->len) {
    finish (self);
    return;
  }
  self->call = aura_event_source_get_job (self->source,
                                          ((CatchupJob *) self->jobs->pdata[self->index])->job_id,
                                          on_state, self);
}

/* ---- step 2: history --------------------------------------------------- */

static void
next_replay_job (AuraFeedCatchup *self)
{
  self->index++;
  self->page_after = self->after;
  if (self->all_jobs || self->index >= self->jobs->len) {
    self->index = 0;
    fetch_states (self);
    return;
  }
  fetch_replay (self);
}

static void
on_replay_page (GPtrArray *events, const GError *error, gpointer user_data)
{
  AuraFeedCatchup *self = user_data;
  GPtrArray *into;
  guint64 last = 0;

  self->call = NULL;
  if (error != NULL) {
    /* an unknown job has no history; step 3 finds it unknown too */
    if (!self->all_jobs && g_error_matches (error, AURA_ERROR, AURA_ERROR_NO_SUCH_JOB)) {
      next_replay_job (self);
      return;
    }
    fail (self, error);
    return;
  }
  into = self->all_jobs ? self->all_replay
                        : ((CatchupJob *) self->jobs->pdata[self->index])->replay;
  for (guint i = 0; i < events->len; i++) {
    AuraSourceEvent *ev = events->pdata[i];
    self->bytes += strlen (aura_source_event_get_json (ev)) + 64;
    g_ptr_array_add (into, aura_source_event_ref (ev));
    last = ev->id;
  }
  if (events->len == 0 || last >= self->newest) {
    next_replay_job (self);
    return;
  }
  if (self->bytes > self->budget) {
    /* Too long to replay: this job (or all) starts from its state. */
    if (self->all_jobs)
      self->all_cut = TRUE;
    else
      ((CatchupJob *) self->jobs->pdata[self->index])->cut = TRUE;
    g_ptr_array_set_size (into, 0);
    next_replay_job (self);
    return;
  }
  self->page_after = last;
  fetch_replay (self);
}

static void
fetch_replay (AuraFeedCatchup *self)
{
  const char *job_id = self->all_jobs ? NULL
                                      : ((CatchupJob *) self->jobs->pdata[self->index])->job_id;

  self->call = aura_event_source_get_events (self->source, job_id, self->page_after,
                                             on_replay_page, self);
}

/* ---- step 1: the newest id --------------------------------------------- */

static void
on_newest (guint64 id, const GError *error, gpointer user_data)
{
  AuraFeedCatchup *self = user_data;

  self->call = NULL;
  if (error != NULL) {
    fail (self, error);
    return;
  }
  self->newest = id;
  if (self->after > id) {
    g_debug ("Last-Event-ID %" G_GUINT64_FORMAT " is newer than any event (%" G_GUINT64_FORMAT
             "): sending the current state", self->after, id);
    self->after = 0;
    fetch_states (self);
    return;
  }
  self->index = 0;
  self->page_after = self->after;
  fetch_replay (self);
}

AuraFeedCatchup *
aura_feed_catchup_start (AuraEventSource *source, GPtrArray *job_ids, guint64 after, gsize budget,
                         AuraFeedCatchupFunc func, gpointer user_data)
{
  AuraFeedCatchup *self = g_new0 (AuraFeedCatchup, 1);

  self->source = source;
  self->all_jobs = job_ids == NULL;
  self->after = after;
  self->budget = budget;
  self->func = func;
  self->user_data = user_data;
  self->jobs = g_ptr_array_new_with_free_func (catchup_job_free);
  self->by_id = g_hash_table_new (g_str_hash, g_str_equal);
  self->all_replay = event_array_new ();
  for (guint i = 0; job_ids != NULL && i < job_ids->len; i++)
    g_ptr_array_add (self->jobs, catchup_job_new (job_ids->pdata[i]));

  /* Every path starts with a call, and the source answers from the main
   * loop: func never runs before this returns. */
  g_assert (self->all_jobs || self->jobs->len > 0);
  if (after > 0)
    self->call = aura_event_source_last_event_id (source, on_newest, self);
  else
    fetch_states (self);
  return self;
}

/* SPDX-License-Identifier: MIT */
#include "aura-event-store.h"

/* Every event sits in two FIFO queues at once: the daemon-wide one, which
 * enforces the global bound, and its job's one, which serves per-job replay.
 * Both are in id order, so the global head is always the head of its job's
 * queue, and the links are embedded so that removal is O(1). */

typedef struct _JobHistory JobHistory;

typedef struct {
  GList global_link;
  GList job_link;
  AuraEvent *event;
  JobHistory *job;
  gsize bytes;                        /* what this record holds, about */
} Record;

struct _JobHistory {
  GQueue records;
  guint64 floor;
};

typedef struct {
  AuraEventStore parent;
  guint max_events;
  guint max_per_job;
  gsize max_bytes;
  gsize bytes;                        /* held by all records */
  GQueue records;                     /* Record, via global_link */
  GHashTable *jobs;                   /* job id -> JobHistory */
  guint64 floor;
} MemoryStore;

static void
job_history_free (gpointer data)
{
  g_free (data);
}

static void
drop_record (MemoryStore *self, Record *rec)
{
  JobHistory *job = rec->job;

  if (rec->event->id > job->floor)
    job->floor = rec->event->id;
  if (rec->event->id > self->floor)
    self->floor = rec->event->id;
  g_queue_unlink (&self->records, &rec->global_link);
  g_queue_unlink (&job->records, &rec->job_link);
  self->bytes -= rec->bytes;
  aura_event_unref (rec->event);
  g_free (rec);
}

static void
memory_append (AuraEventStore *store, AuraEvent *event)
{
  MemoryStore *self = (MemoryStore *) store;
  JobHistory *job = g_hash_table_lookup (self->jobs, event->job_id);
  Record *rec;

  if (job == NULL) {
    job = g_new0 (JobHistory, 1);
    g_hash_table_insert (self->jobs, g_strdup (event->job_id), job);
  }
  rec = g_new0 (Record, 1);
  rec->event = aura_event_ref (event);
  rec->job = job;
  rec->global_link.data = rec;
  rec->job_link.data = rec;
  rec->bytes = aura_event_size (event) + sizeof (Record);
  self->bytes += rec->bytes;
  g_queue_push_tail_link (&self->records, &rec->global_link);
  g_queue_push_tail_link (&job->records, &rec->job_link);

  if (job->records.length > self->max_per_job)
    drop_record (self, job->records.head->data);
  if (self->records.length > self->max_events)
    drop_record (self, self->records.head->data);
  /* Events differ in size (a job's warnings ride along in its progress
   * events): the bytes are bounded too, the newest event always kept. */
  while (self->bytes > self->max_bytes && self->records.length > 1)
    drop_record (self, self->records.head->data);
}

static GPtrArray *
collect_after (GQueue *queue, guint64 after_id, guint max_events)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) aura_event_unref);
  GList *l = queue->tail;

  /* Walk back to the last event at or before after_id: replay usually asks
   * for the newest few events, so this is O(events returned). */
  while (l != NULL && ((Record *) l->data)->event->id > after_id)
    l = l->prev;
  l = l != NULL ? l->next : queue->head;
  for (; l != NULL && out->len < max_events; l = l->next)
    g_ptr_array_add (out, aura_event_ref (((Record *) l->data)->event));
  return out;
}

static GPtrArray *
memory_query (AuraEventStore *store, const char *job_id, guint64 after_id, guint max_events)
{
  MemoryStore *self = (MemoryStore *) store;
  JobHistory *job;

  if (job_id == NULL)
    return collect_after (&self->records, after_id, max_events);
  job = g_hash_table_lookup (self->jobs, job_id);
  if (job == NULL)
    return g_ptr_array_new_with_free_func ((GDestroyNotify) aura_event_unref);
  return collect_after (&job->records, after_id, max_events);
}

static guint64
memory_floor (AuraEventStore *store, const char *job_id)
{
  MemoryStore *self = (MemoryStore *) store;
  JobHistory *job;

  if (job_id == NULL)
    return self->floor;
  job = g_hash_table_lookup (self->jobs, job_id);
  return job != NULL ? job->floor : 0;
}

static void
memory_forget_job (AuraEventStore *store, const char *job_id)
{
  MemoryStore *self = (MemoryStore *) store;
  JobHistory *job = g_hash_table_lookup (self->jobs, job_id);

  if (job == NULL)
    return;
  while (job->records.head != NULL)
    drop_record (self, job->records.head->data);
  g_hash_table_remove (self->jobs, job_id);
}

static guint
memory_count (AuraEventStore *store)
{
  return ((MemoryStore *) store)->records.length;
}

static void
memory_free (AuraEventStore *store)
{
  MemoryStore *self = (MemoryStore *) store;

  while (self->records.head != NULL)
    drop_record (self, self->records.head->data);
  g_hash_table_unref (self->jobs);
  g_free (self);
}

static const AuraEventStoreVTable memory_vtable = {
  .append = memory_append,
  .query = memory_query,
  .floor = memory_floor,
  .forget_job = memory_forget_job,
  .count = memory_count,
  .free = memory_free,
};

AuraEventStore *
aura_event_store_new_memory (guint max_events, guint max_events_per_job)
{
  return aura_event_store_new_memory_full (max_events, max_events_per_job, G_MAXSIZE);
}

AuraEventStore *
aura_event_store_new_memory_full (guint max_events, guint max_events_per_job, gsize max_bytes)
{
  MemoryStore *self = g_new0 (MemoryStore, 1);

  self->max_bytes = MAX (max_bytes, 1);
  self->parent.vtable = &memory_vtable;
  self->max_events = MAX (max_events, 1);
  self->max_per_job = MAX (max_events_per_job, 1);
  g_queue_init (&self->records);
  self->jobs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, job_history_free);
  return &self->parent;
}

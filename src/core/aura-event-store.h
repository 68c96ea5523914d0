/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "aura-event.h"

G_BEGIN_DECLS

/**
 * AuraEventStore:
 * The event history behind a small interface, so that a persistent store
 * (job history surviving daemon restarts) can replace the in-memory one.
 * Events arrive in strictly increasing id order.
 */
typedef struct _AuraEventStore AuraEventStore;

typedef struct {
  void       (*append) (AuraEventStore *store, AuraEvent *event);
  /* Events with id > after_id, oldest first, at most max_events; job_id NULL
   * means every job. Returns a new GPtrArray of AuraEvent references. */
  GPtrArray *(*query) (AuraEventStore *store, const char *job_id, guint64 after_id, guint max_events);
  /* Every event of the job (or of every job, for NULL) with an id greater
   * than the floor is still stored; replay after an id below it is not exact. */
  guint64    (*floor) (AuraEventStore *store, const char *job_id);
  void       (*forget_job) (AuraEventStore *store, const char *job_id);
  guint      (*count) (AuraEventStore *store);
  void       (*free) (AuraEventStore *store);
} AuraEventStoreVTable;

struct _AuraEventStore {
  const AuraEventStoreVTable *vtable;
};

AuraEventStore *aura_event_store_new_memory (guint max_events, guint max_events_per_job);
/* The same, also holding at most about @max_bytes of events (the oldest go
 * first; the newest is always kept). */
AuraEventStore *aura_event_store_new_memory_full (guint max_events, guint max_events_per_job,
                                                  gsize max_bytes);

static inline void
aura_event_store_free (AuraEventStore *store)
{
  if (store != NULL)
    store->vtable->free (store);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraEventStore, aura_event_store_free)

G_END_DECLS

/* SPDX-License-Identifier: MIT */
#pragma once

#include <libsoup/soup.h>

#include "aura-bridge.h"
#include "aura-event-source.h"

G_BEGIN_DECLS

typedef enum {
  AURA_FEED_JOB,                      /* /api/jobs/{id}/events: ends with the job */
  AURA_FEED_JOBS,                     /* /api/events?jobs=a,b: ends when all have ended */
  AURA_FEED_ALL,                      /* /api/events: every job, never ends */
} AuraFeedKind;

/**
 * AuraFeed:
 * What one event stream carries. It starts with a catch-up (the current
 * state, or the exact events after the client's Last-Event-ID), then
 * forwards live events; heartbeats go out on every interval. When the
 * daemon comes back after being unreachable, it catches up again from the
 * last event the client has, so nothing the daemon still has is lost.
 *
 * Events are written in increasing id order across all the jobs of a
 * stream, so the newest id written is all a client needs to resume.
 */

/* Starts the stream for @msg (paused until the catch-up has decided the
 * response: 200, 204 or 404). @job_ids is NULL for AURA_FEED_ALL.
 * @resume_after is the client's Last-Event-ID, 0 for none. */
AuraFeed *aura_feed_new (AuraBridge *bridge, SoupServerMessage *msg, AuraFeedKind kind,
                         GPtrArray *job_ids, guint64 resume_after);
void      aura_feed_free (AuraFeed *feed);

/* A live event of a job the feed follows; @frame caches its SSE form
 * across the feeds an event goes to. */
void      aura_feed_event (AuraFeed *feed, AuraSourceEvent *event, GBytes **frame);
void      aura_feed_heartbeat (AuraFeed *feed, GBytes *frame);
/* The daemon is reachable again: catch up from the last event written. */
void      aura_feed_resync (AuraFeed *feed);
gsize     aura_feed_get_queued (AuraFeed *feed);

/* aura-feed-catchup.c: the start of a stream, and its resumption */
typedef struct _AuraFeedCatchup AuraFeedCatchup;

typedef struct {
  guint64 after;                      /* the resume point used; 0: current state */
  GPtrArray *events;                  /* AuraSourceEvent to send, in id order */
  /* job id -> guint64 id (boxed in a pointer-sized slot): live events of
   * the job up to this id are covered by the catch-up */
  GHashTable *covered;
  GHashTable *unknown;                /* jobs the daemon does not know */
  GHashTable *ended;                  /* finished jobs whose end the client has seen */
} AuraFeedCatchupResult;

typedef void (*AuraFeedCatchupFunc) (const AuraFeedCatchupResult *result, const GError *error,
                                     gpointer user_data);

/* Catches up on @job_ids (NULL: all jobs) after @after (0: current state).
 * Exact replay is only chosen while it stays within @budget bytes; beyond,
 * the current state replaces it. @func is called once, from the main loop,
 * and the caller frees the catch-up in it or later. */
AuraFeedCatchup *aura_feed_catchup_start (AuraEventSource *source, GPtrArray *job_ids,
                                          guint64 after, gsize budget,
                                          AuraFeedCatchupFunc func, gpointer user_data);
void             aura_feed_catchup_free (AuraFeedCatchup *catchup);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraFeedCatchup, aura_feed_catchup_free)

G_END_DECLS

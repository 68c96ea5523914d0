/* SPDX-License-Identifier: MIT */
#include "aura-error.h"
#include "aura-feed.h"
#include "aura-sse-format.h"
#include "aura-sse-stream.h"

/* Live events that may wait for a catch-up to finish. If more arrive, the
 * catch-up starts over from the client's position: history has them. */
#define MAX_BUFFERED_EVENTS 4096

struct _AuraFeed {
  AuraBridge *bridge;
  AuraSseStream *stream;
  char *client;
  AuraFeedKind kind;
  GPtrArray *jobs;                    /* job ids followed; NULL: all */
  GHashTable *ended;                  /* jobs whose end the client has */
  guint64 cursor;                     /* the client's position: the newest id it has */
  GPtrArray *buffer;                  /* live events during a catch-up */
  AuraFeedCatchup *catchup;
  gboolean needs_catchup;             /* the last one failed; retried on heartbeats */
};

static void start_catchup (AuraFeed *self);

static void
on_stream_closed (AuraSseStream *stream, gpointer user_data)
{
  AuraFeed *self = user_data;

  aura_bridge_remove_feed (self->bridge, self, self->client, self->jobs);
  aura_feed_free (self);
}

AuraFeed *
aura_feed_new (AuraBridge *bridge, SoupServerMessage *msg, AuraFeedKind kind, GPtrArray *job_ids,
               guint64 resume_after)
{
  AuraFeed *self = g_new0 (AuraFeed, 1);

  self->bridge = bridge;
  self->kind = kind;
  self->client = g_strdup (soup_server_message_get_remote_host (msg));
  self->jobs = job_ids != NULL ? g_ptr_array_ref (job_ids) : NULL;
  self->ended = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->cursor = resume_after;
  self->buffer = g_ptr_array_new_with_free_func ((GDestroyNotify) aura_source_event_unref);
  self->stream = aura_sse_stream_new (msg, self->client, bridge->config.max_queue_bytes,
                                      on_stream_closed, self);
  /* Live events are buffered from here on, before the catch-up asks for
   * anything: none can fall between history and live. */
  aura_bridge_add_feed (bridge, self, self->client, self->jobs);
  start_catchup (self);
  return self;
}

void
aura_feed_free (AuraFeed *self)
{
  if (self == NULL)
    return;
  aura_feed_catchup_free (self->catchup);
  aura_sse_stream_free (self->stream);
  g_ptr_array_unref (self->buffer);
  g_hash_table_unref (self->ended);
  if (self->jobs != NULL)
    g_ptr_array_unref (self->jobs);
  g_free (self->client);
  g_free (self);
}

gsize
aura_feed_get_queued (AuraFeed *self)
{
  return aura_sse_stream_get_queued (self->stream);
}

static gboolean
all_ended (AuraFeed *self)
{
  if (self->kind == AURA_FEED_ALL)
    return FALSE;
  for (guint i = 0; i < self->jobs->len; i++) {
    if (!g_hash_table_contains (self->ended, self->jobs->pdata[i]))
      return FALSE;
  }
  return TRUE;
}

/* Only a stream of named jobs ends when they have: a stream of every job
 * keeps no record (it would grow with every job the daemon ever ran). */
static void
note_ended (AuraFeed *self, const char *job_id)
{
  if (self->kind != AURA_FEED_ALL)
    g_hash_table_add (self->ended, g_strdup (job_id));
}

static gboolean
write_frame (AuraFeed *self, GBytes *frame, gboolean check)
{
  if (!aura_sse_stream_write (self->stream, frame, check)) {
    self->bridge->metrics.slow_clients_dropped++;
    return FALSE;
  }
  return TRUE;
}

/* Writes a run of events as one chunk, in order. */
static void
write_events (AuraFeed *self, GPtrArray *events)
{
  GString *out;

  if (events->len == 0)
    return;
  out = g_string_new (NULL);
  for (guint i = 0; i < events->len; i++) {
    AuraSourceEvent *ev = events->pdata[i];
    aura_sse_append_source_event (out, ev);
    self->cursor = MAX (self->cursor, ev->id);
    if (aura_source_event_is_terminal (ev))
      note_ended (self, ev->job_id);
  }
  self->bridge->metrics.events_sent += events->len;
  if (!aura_sse_stream_is_open (self->stream)) {
    g_autoptr(GBytes) first = g_string_free_to_bytes (out);
    aura_sse_stream_open (self->stream, self->bridge->config.retry_ms, first);
  } else {
    g_autoptr(GBytes) chunk = g_string_free_to_bytes (out);
    write_frame (self, chunk, TRUE);
  }
}

static void
respond_error (AuraFeed *self, guint status, const GError *error)
{
  SoupServerMessage *msg = aura_sse_stream_get_message (self->stream);

  if (status == SOUP_STATUS_NO_CONTENT)
    soup_server_message_set_status (msg, status, NULL);
  else
    aura_http_respond_gerror (msg, error, self->jobs != NULL ? self->jobs->pdata[0] : NULL);
  aura_sse_stream_respond (self->stream);
}

static void
on_catchup_done (const AuraFeedCatchupResult *result, const GError *error, gpointer user_data)
{
  AuraFeed *self = user_data;
  /* the catch-up is over: it is freed when this returns */
  g_autoptr(AuraFeedCatchup) finished G_GNUC_UNUSED = g_steal_pointer (&self->catchup);
  g_autoptr(GPtrArray) events = NULL;
  GHashTableIter iter;
  gpointer key;

  if (error != NULL) {
    /* The daemon cannot be asked now. The stream opens all the same (a
     * browser given an error would stop reconnecting), says so in its
     * heartbeats, and catches up when the daemon is back. */
    g_debug ("catch-up for a stream to %s failed: %s", self->client, error->message);
    self->needs_catchup = TRUE;
    if (!aura_sse_stream_is_open (self->stream))
      aura_sse_stream_open (self->stream, self->bridge->config.retry_ms, NULL);
    return;
  }

  /* History or state, then the live events that came meanwhile and are
   * newer than what the catch-up covers for their job (a job's events
   * arrive in id order, so comparing with that one id is enough). */
  events = g_ptr_array_new_with_free_func ((GDestroyNotify) aura_source_event_unref);
  for (guint i = 0; i < result->events->len; i++)
    g_ptr_array_add (events, aura_source_event_ref (result->events->pdata[i]));
  for (guint i = 0; i < self->buffer->len; i++) {
    AuraSourceEvent *ev = self->buffer->pdata[i];
    const guint64 *covered = g_hash_table_lookup (result->covered, ev->job_id);
    if (ev->id > (covered != NULL ? *covered : result->after))
      g_ptr_array_add (events, aura_source_event_ref (ev));
  }
  g_ptr_array_set_size (self->buffer, 0);
  g_ptr_array_sort (events, aura_source_event_compare_id);
  /* A resume point the catch-up found to be garbage is dropped with it. */
  self->cursor = result->after;

  if (self->kind == AURA_FEED_JOB && events->len == 0 &&
      g_hash_table_contains (result->unknown, self->jobs->pdata[0])) {
    g_autoptr(GError) unknown = g_error_new (AURA_ERROR, AURA_ERROR_NO_SUCH_JOB, "no job '%s'",
                                             (const char *) self->jobs->pdata[0]);
    /* The job is gone (the daemon restarted without it): a reconnecting
     * client gets the 404. */
    if (aura_sse_stream_is_open (self->stream))
      aura_sse_stream_end (self->stream);
    else
      respond_error (self, SOUP_STATUS_NOT_FOUND, unknown);
    return;
  }
  g_hash_table_iter_init (&iter, result->ended);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    note_ended (self, key);

  if (events->len == 0 && all_ended (self)) {
    /* A finished job whose end the client has: 204 stops a browser's
     * EventSource from reconnecting. */
    if (aura_sse_stream_is_open (self->stream))
      aura_sse_stream_end (self->stream);
    else
      respond_error (self, SOUP_STATUS_NO_CONTENT, NULL);
    return;
  }
  write_events (self, events);
  if (!aura_sse_stream_is_open (self->stream))
    aura_sse_stream_open (self->stream, self->bridge->config.retry_ms, NULL);
  if (all_ended (self))
    aura_sse_stream_end (self->stream);
}

static void
start_catchup (AuraFeed *self)
{
  self->needs_catchup = FALSE;
  self->catchup = aura_feed_catchup_start (self->bridge->source, self->jobs, self->cursor,
                                           self->bridge->config.max_queue_bytes / 2,
                                           on_catchup_done, self);
}

void
aura_feed_event (AuraFeed *self, AuraSourceEvent *event, GBytes **frame)
{
  if (aura_sse_stream_is_ending (self->stream))
    return;
  if (self->catchup != NULL || self->needs_catchup) {
    g_ptr_array_add (self->buffer, aura_source_event_ref (event));
    if (self->buffer->len > MAX_BUFFERED_EVENTS) {
      /* the next catch-up fetches them from history */
      g_debug ("a catch-up fell %u events behind; starting over", self->buffer->len);
      g_ptr_array_set_size (self->buffer, 0);
      if (self->catchup != NULL) {
        g_clear_pointer (&self->catchup, aura_feed_catchup_free);
        start_catchup (self);
      }
    }
    return;
  }
  if (event->id <= self->cursor)
    return;
  if (*frame == NULL) {
    GString *out = g_string_new (NULL);
    aura_sse_append_source_event (out, event);
    *frame = g_string_free_to_bytes (out);
  }
  if (!write_frame (self, *frame, TRUE))
    return;
  self->bridge->metrics.events_sent++;
  self->cursor = event->id;
  if (aura_source_event_is_terminal (event)) {
    note_ended (self, event->job_id);
    if (all_ended (self))
      aura_sse_stream_end (self->stream);
  }
}

void
aura_feed_heartbeat (AuraFeed *self, GBytes *frame)
{
  if (!aura_sse_stream_is_open (self->stream) || aura_sse_stream_is_ending (self->stream))
    return;
  if (!write_frame (self, frame, TRUE))
    return;
  self->bridge->metrics.heartbeats_sent++;
  if (self->needs_catchup && self->catchup == NULL &&
      aura_event_source_is_available (self->bridge->source))
    start_catchup (self);
}

void
aura_feed_resync (AuraFeed *self)
{
  if (aura_sse_stream_is_ending (self->stream))
    return;
  g_clear_pointer (&self->catchup, aura_feed_catchup_free);
  start_catchup (self);
}

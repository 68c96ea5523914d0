/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "aura-bus-source.h"
#include "aura-bus-variant.h"
#include "aura-bus.h"
#include "aura-clock.h"
#include "aura-error.h"
#include "aura-event-source.h"
#include "aura-json.h"

/* The system bus lets a connection wait for at most 128 replies by
 * default; a reconnect storm of streams must queue here, not fail there. */
#define MAX_CALLS_IN_FLIGHT 64
/* Cancels wait for providers, up to the daemon's cancel timeout: they have
 * slots of their own, so that a hung provider's cancels never hold up
 * streams and reads (and 64 + 16 stays under the bus's 128). */
#define MAX_CANCELS_IN_FLIGHT 16
#define CALL_TIMEOUT_USEC (25 * G_USEC_PER_SEC)
/* CancelJob answers only when every provider has, or when the daemon's
 * cancel timeout has passed (5 s by default, CancelTimeoutSeconds up to
 * 600): wait longer than that, or a cancel that succeeded would be a 504. */
#define CANCEL_TIMEOUT_USEC (610 * G_USEC_PER_SEC)
#define RECONNECT_INTERVAL_MS 1000
/* Warning and JobFinished signals lack the event's timestamp, so they are
 * completed from the daemon's history before delivery (see pump_inbox). If
 * that falls this far behind, events go out as the signals tell them. */
#define MAX_INBOX 4096

typedef enum {
  CALL_GET_JOB,
  CALL_LIST_JOBS,
  CALL_GET_EVENTS,
  CALL_LAST_EVENT_ID,
  CALL_CANCEL_JOB,
} CallKind;

typedef struct _DbusSource DbusSource;

struct _AuraSourceCall {
  DbusSource *source;
  CallKind kind;
  char *job_id;
  guint64 after;
  union {
    AuraSourceJsonFunc json;
    AuraSourceEventsFunc events;
    AuraSourceIdFunc id;
  } func;
  gpointer user_data;
  GList link;                         /* in queued, in_flight or failing */
  GQueue *queue;                      /* which one */
  sd_bus_slot *slot;                  /* while in flight */
  guint idle_id;                      /* while failing without a bus */
  gboolean urgent;                    /* completing an event of the inbox */
  sd_bus_message *reply;              /* answered, waiting in the inbox */
  struct _InboxItem *item;            /* ... as this item */
};

/* The inbox holds, in the order they arrived, the events of the signals
 * and the answers to calls: an answer is delivered after every event the
 * daemon sent before it. Callers rely on that: what a call reports is
 * never older than what they have already been told. */
typedef struct _InboxItem {
  AuraSourceEvent *event;             /* or */
  AuraSourceCall *call;               /* an answered call */
  gboolean enrich;                    /* the event is still to be completed from history */
} InboxItem;

struct _DbusSource {
  AuraEventSource parent;
  AuraBusOptions options;
  sd_bus *bus;
  guint bus_source_id;
  sd_bus_slot *signal_slot;
  sd_bus_slot *owner_slot;
  sd_bus_slot *owner_query_slot;
  gboolean available;
  guint reconnect_id;
  gboolean warned_connect;

  GQueue queued;                      /* AuraSourceCall waiting for a slot */
  GQueue in_flight;                   /* AuraSourceCall sent */
  GQueue queued_cancels;              /* the same for CancelJob calls */
  GQueue cancels_in_flight;
  GQueue failing;                     /* AuraSourceCall to fail from the main loop */

  GQueue inbox;                       /* InboxItem, in id order */
  AuraSourceCall *enrich_call;
};

static void pump_calls (DbusSource *self);
static void pump_inbox (DbusSource *self);
static void connect_bus (DbusSource *self);

/* ---- errors ------------------------------------------------------------ */

static void
set_error_from_bus (GError **error, const sd_bus_error *e)
{
  static const char *const unreachable[] = {
    SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER, SD_BUS_ERROR_NO_REPLY,
    SD_BUS_ERROR_DISCONNECTED, SD_BUS_ERROR_NO_SERVER,
  };

  for (guint i = 0; i < G_N_ELEMENTS (unreachable); i++) {
    if (sd_bus_error_has_name (e, unreachable[i])) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "aura-progressd is not reachable: %s",
                   e->message != NULL ? e->message : e->name);
      return;
    }
  }
  if (sd_bus_error_has_name (e, SD_BUS_ERROR_TIMEOUT)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                         "aura-progressd did not answer in time");
  } else if (sd_bus_error_has_names (e, SD_BUS_ERROR_NOT_SUPPORTED, SD_BUS_ERROR_UNKNOWN_METHOD)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                         e->message != NULL ? e->message : e->name);
  } else {
    aura_bus_set_gerror (error, e, -EIO);
  }
}

/* ---- calls ------------------------------------------------------------- */

static void
call_unlink (AuraSourceCall *call)
{
  if (call->queue != NULL) {
    g_queue_unlink (call->queue, &call->link);
    call->queue = NULL;
  }
}

static void
call_free (AuraSourceCall *call)
{
  call_unlink (call);
  if (call->item != NULL) {
    g_queue_remove (&call->source->inbox, call->item);
    g_free (call->item);
  }
  if (call->reply != NULL)
    sd_bus_message_unref (call->reply);
  sd_bus_slot_unref (call->slot);
  if (call->idle_id != 0)
    g_source_remove (call->idle_id);
  g_free (call->job_id);
  g_free (call);
}

static void
call_complete_error (AuraSourceCall *call, const GError *error)
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

static gboolean
on_call_fail_idle (gpointer user_data)
{
  AuraSourceCall *call = user_data;
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                                                 "aura-progressd is not reachable: no bus connection");

  call->idle_id = 0;
  call_unlink (call);
  call_complete_error (call, error);
  call_free (call);
  return G_SOURCE_REMOVE;
}

/* Completes the call with NOT_CONNECTED from the main loop. */
static void
call_fail_later (AuraSourceCall *call)
{
  call_unlink (call);
  g_clear_pointer (&call->slot, sd_bus_slot_unref);
  g_queue_push_tail_link (&call->source->failing, &call->link);
  call->queue = &call->source->failing;
  if (call->idle_id == 0)
    call->idle_id = g_idle_add (on_call_fail_idle, call);
}

static GVariant *
read_body (sd_bus_message *m, GError **error)
{
  GVariant *value = NULL;
  int r = aura_bus_message_read_variant (m, &value);

  if (r <= 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "malformed reply from aura-progressd: %s",
                 r < 0 ? g_strerror (-r) : "empty");
    return NULL;
  }
  return value;
}

static AuraSourceEvent *
event_from_payload (const char *type, guint64 id, GVariant *payload)
{
  const char *job_id = NULL;

  g_variant_lookup (payload, "jobId", "&s", &job_id);
  return aura_source_event_new (type, id, job_id != NULL ? job_id : "",
                                aura_json_from_event_payload (type, payload));
}

static GPtrArray *
parse_events (sd_bus_message *m, GError **error)
{
  g_autoptr(GVariant) body = read_body (m, error);
  GPtrArray *events;
  GVariantIter iter;
  const char *type;
  guint64 id;
  GVariant *payload;

  if (body == NULL)
    return NULL;
  if (!g_variant_is_of_type (body, G_VARIANT_TYPE ("a(sta{sv})"))) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                         "malformed GetEvents reply from aura-progressd");
    return NULL;
  }
  events = g_ptr_array_new_with_free_func ((GDestroyNotify) aura_source_event_unref);
  g_variant_iter_init (&iter, body);
  while (g_variant_iter_next (&iter, "(&st@a{sv})", &type, &id, &payload)) {
    g_ptr_array_add (events, event_from_payload (type, id, payload));
    g_variant_unref (payload);
  }
  return events;
}

static JsonNode *
parse_cancel (sd_bus_message *m, const char *job_id, GError **error)
{
  g_autoptr(GVariant) body = NULL;

  if (aura_bus_message_read_body (m, &body) < 0 ||
      !g_variant_is_of_type (body, G_VARIANT_TYPE (AURA_CANCEL_REPLY_TYPE))) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                         "malformed CancelJob reply from aura-progressd");
    return NULL;
  }
  return aura_json_from_cancel_reply (job_id, body);
}

static void
call_complete (AuraSourceCall *call, sd_bus_message *reply)
{
  g_autoptr(GError) error = NULL;

  if (sd_bus_message_is_method_error (reply, NULL)) {
    set_error_from_bus (&error, sd_bus_message_get_error (reply));
    call_complete_error (call, error);
    return;
  }

  switch (call->kind) {
  case CALL_GET_EVENTS: {
    g_autoptr(GPtrArray) events = parse_events (reply, &error);
    if (events == NULL)
      call_complete_error (call, error);
    else
      call->func.events (events, NULL, call->user_data);
    break;
  }
  case CALL_LAST_EVENT_ID: {
    uint64_t id = 0;
    int r = sd_bus_message_read (reply, "v", "t", &id);
    if (r < 0) {
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "malformed LastEventId from aura-progressd: %s", g_strerror (-r));
      call_complete_error (call, error);
    } else {
      call->func.id (id, NULL, call->user_data);
    }
    break;
  }
  case CALL_CANCEL_JOB: {
    g_autoptr(JsonNode) result = parse_cancel (reply, call->job_id, &error);
    if (result == NULL)
      call_complete_error (call, error);
    else
      call->func.json (result, NULL, call->user_data);
    break;
  }
  case CALL_GET_JOB:
  case CALL_LIST_JOBS:
  default: {
    g_autoptr(GVariant) body = read_body (reply, &error);
    g_autoptr(JsonNode) result = body != NULL ? aura_json_from_variant (body) : NULL;
    if (result == NULL)
      call_complete_error (call, error);
    else
      call->func.json (result, NULL, call->user_data);
    break;
  }
  }
}

static int
on_call_reply (sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
  AuraSourceCall *call = userdata;
  DbusSource *self = call->source;

  call_unlink (call);
  if (!call->urgent && !g_queue_is_empty (&self->inbox)) {
    InboxItem *item = g_new0 (InboxItem, 1);
    item->call = call;
    call->item = item;
    call->reply = sd_bus_message_ref (reply);
    g_queue_push_tail (&self->inbox, item);
  } else {
    call_complete (call, reply);
    call_free (call);
  }
  pump_calls (self);
  return 0;
}

static int
call_send (DbusSource *self, AuraSourceCall *call)
{
  g_autoptr(sd_bus_message) m = NULL;
  uint64_t timeout = CALL_TIMEOUT_USEC;
  int r;

  switch (call->kind) {
  case CALL_LAST_EVENT_ID:
    r = sd_bus_message_new_method_call (self->bus, &m, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                        "org.freedesktop.DBus.Properties", "Get");
    if (r >= 0)
      r = sd_bus_message_append (m, "ss", AURA_INTERFACE, "LastEventId");
    break;
  case CALL_GET_JOB:
    r = sd_bus_message_new_method_call (self->bus, &m, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                        AURA_INTERFACE, "GetJob");
    if (r >= 0)
      r = sd_bus_message_append (m, "s", call->job_id);
    break;
  case CALL_LIST_JOBS:
    r = sd_bus_message_new_method_call (self->bus, &m, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                        AURA_INTERFACE, "ListJobs");
    break;
  case CALL_GET_EVENTS:
    r = sd_bus_message_new_method_call (self->bus, &m, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                        AURA_INTERFACE, "GetEvents");
    if (r >= 0)
      r = sd_bus_message_append (m, "st", call->job_id != NULL ? call->job_id : "", call->after);
    break;
  case CALL_CANCEL_JOB:
  default:
    timeout = CANCEL_TIMEOUT_USEC;
    r = sd_bus_message_new_method_call (self->bus, &m, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                        AURA_INTERFACE, "CancelJob");
    if (r >= 0)
      r = sd_bus_message_append (m, "s", call->job_id);
    break;
  }
  if (r >= 0)
    r = sd_bus_call_async (self->bus, &call->slot, m, on_call_reply, call, timeout);
  return r;
}

static void
pump_queue (DbusSource *self, GQueue *queued, GQueue *in_flight, guint max)
{
  while (self->bus != NULL && in_flight->length < max && queued->head != NULL) {
    AuraSourceCall *call = queued->head->data;
    int r;

    call_unlink (call);
    r = call_send (self, call);
    if (r < 0) {
      g_debug ("cannot send a call to aura-progressd: %s", g_strerror (-r));
      call_fail_later (call);
      continue;
    }
    g_queue_push_tail_link (in_flight, &call->link);
    call->queue = in_flight;
  }
}

static void
pump_calls (DbusSource *self)
{
  pump_queue (self, &self->queued, &self->in_flight, MAX_CALLS_IN_FLIGHT);
  pump_queue (self, &self->queued_cancels, &self->cancels_in_flight, MAX_CANCELS_IN_FLIGHT);
}

static AuraSourceCall *
call_new (DbusSource *self, CallKind kind, const char *job_id, gboolean urgent)
{
  AuraSourceCall *call = g_new0 (AuraSourceCall, 1);

  call->source = self;
  call->kind = kind;
  call->job_id = g_strdup (job_id);
  call->link.data = call;
  if (self->bus == NULL) {
    call_fail_later (call);
    return call;
  }
  if (kind == CALL_CANCEL_JOB) {
    g_queue_push_tail_link (&self->queued_cancels, &call->link);
    call->queue = &self->queued_cancels;
    return call;
  }
  if (urgent)
    g_queue_push_head_link (&self->queued, &call->link);
  else
    g_queue_push_tail_link (&self->queued, &call->link);
  call->queue = &self->queued;
  return call;
}

/* Sends after the caller has filled in the callback. */
static AuraSourceCall *
call_start (DbusSource *self, AuraSourceCall *call)
{
  pump_calls (self);
  return call;
}

static AuraSourceCall *
source_get_job (AuraEventSource *source, const char *job_id, AuraSourceJsonFunc func,
                gpointer user_data)
{
  DbusSource *self = (DbusSource *) source;
  AuraSourceCall *call = call_new (self, CALL_GET_JOB, job_id, FALSE);

  call->func.json = func;
  call->user_data = user_data;
  return call_start (self, call);
}

static AuraSourceCall *
source_list_jobs (AuraEventSource *source, AuraSourceJsonFunc func, gpointer user_data)
{
  DbusSource *self = (DbusSource *) source;
  AuraSourceCall *call = call_new (self, CALL_LIST_JOBS, NULL, FALSE);

  call->func.json = func;
  call->user_data = user_data;
  return call_start (self, call);
}

static AuraSourceCall *
get_events (DbusSource *self, const char *job_id, guint64 after_id, gboolean urgent,
            AuraSourceEventsFunc func, gpointer user_data)
{
  AuraSourceCall *call = call_new (self, CALL_GET_EVENTS, job_id, urgent);

  call->urgent = urgent;
  call->after = after_id;
  call->func.events = func;
  call->user_data = user_data;
  return call_start (self, call);
}

static AuraSourceCall *
source_get_events (AuraEventSource *source, const char *job_id, guint64 after_id,
                   AuraSourceEventsFunc func, gpointer user_data)
{
  return get_events ((DbusSource *) source, job_id, after_id, FALSE, func, user_data);
}

static AuraSourceCall *
source_last_event_id (AuraEventSource *source, AuraSourceIdFunc func, gpointer user_data)
{
  DbusSource *self = (DbusSource *) source;
  AuraSourceCall *call = call_new (self, CALL_LAST_EVENT_ID, NULL, FALSE);

  call->func.id = func;
  call->user_data = user_data;
  return call_start (self, call);
}

static AuraSourceCall *
source_cancel_job (AuraEventSource *source, const char *job_id, AuraSourceJsonFunc func,
                   gpointer user_data)
{
  DbusSource *self = (DbusSource *) source;
  AuraSourceCall *call = call_new (self, CALL_CANCEL_JOB, job_id, FALSE);

  call->func.json = func;
  call->user_data = user_data;
  return call_start (self, call);
}

static void
source_call_cancel (AuraEventSource *source, AuraSourceCall *call)
{
  DbusSource *self = (DbusSource *) source;
  gboolean was_in_flight = call->queue == &self->in_flight ||
                           call->queue == &self->cancels_in_flight;

  call_free (call);
  if (was_in_flight)
    pump_calls (self);
}

static gboolean
source_is_available (AuraEventSource *source)
{
  return ((DbusSource *) source)->available;
}

/* ---- signals ----------------------------------------------------------- */

static void
set_available (DbusSource *self, gboolean available)
{
  if (self->available == available)
    return;
  self->available = available;
  g_message ("aura-progressd is %s", available ? "reachable" : "not reachable");
  if (self->parent.listener.availability != NULL)
    self->parent.listener.availability (available, self->parent.listener_data);
}

static void
inbox_item_free (InboxItem *item)
{
  if (item->call != NULL) {
    item->call->item = NULL;        /* ends without a callback */
    call_free (item->call);
  }
  aura_source_event_unref (item->event);
  g_free (item);
}

static void
on_enriched (GPtrArray *events, const GError *error, gpointer user_data)
{
  DbusSource *self = user_data;
  InboxItem *head = g_queue_peek_head (&self->inbox);

  self->enrich_call = NULL;
  for (guint i = 0; events != NULL && i < events->len; i++) {
    AuraSourceEvent *ev = events->pdata[i];
    if (ev->id == head->event->id && strcmp (ev->type, head->event->type) == 0) {
      aura_source_event_unref (head->event);
      head->event = aura_source_event_ref (ev);
      break;
    }
  }
  head->enrich = FALSE;
  pump_inbox (self);
}

/* Delivers the inbox in order. An event still to be completed from history
 * holds back the ones behind it, so that listeners see ids in order. */
static void
pump_inbox (DbusSource *self)
{
  InboxItem *head;

  while (self->enrich_call == NULL && (head = g_queue_peek_head (&self->inbox)) != NULL) {
    if (head->call != NULL) {
      AuraSourceCall *call = head->call;
      g_queue_pop_head (&self->inbox);
      call->item = NULL;
      g_free (head);
      call_complete (call, call->reply);
      call_free (call);
      continue;
    }
    if (head->enrich && self->inbox.length <= MAX_INBOX && self->bus != NULL) {
      self->enrich_call = get_events (self, head->event->job_id, head->event->id - 1, TRUE,
                                      on_enriched, self);
      return;
    }
    g_queue_pop_head (&self->inbox);
    if (self->parent.listener.event != NULL)
      self->parent.listener.event (head->event, self->parent.listener_data);
    inbox_item_free (head);
  }
}

static void
inbox_push (DbusSource *self, AuraSourceEvent *event, gboolean enrich)
{
  InboxItem *item = g_new0 (InboxItem, 1);

  item->event = event;
  item->enrich = enrich;
  g_queue_push_tail (&self->inbox, item);
  pump_inbox (self);
}

/* The payload the daemon stored, as far as the signal tells it: the
 * timestamp is ours until the stored event replaces it. */
static AuraSourceEvent *
provisional_event (const char *type, const char *job_id, guint64 id, const char *status,
                   const char *message)
{
  g_autofree char *now = aura_format_timestamp (g_get_real_time ());
  GVariantBuilder b;
  g_autoptr(GVariant) payload = NULL;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "jobId", g_variant_new_string (job_id));
  if (status != NULL)
    g_variant_builder_add (&b, "{sv}", "status", g_variant_new_string (status));
  g_variant_builder_add (&b, "{sv}", "message", g_variant_new_string (message));
  g_variant_builder_add (&b, "{sv}", "timestamp", g_variant_new_string (now));
  g_variant_builder_add (&b, "{sv}", "eventId", g_variant_new_uint64 (id));
  payload = g_variant_ref_sink (g_variant_builder_end (&b));
  return aura_source_event_new (type, id, job_id, aura_json_from_event_payload (type, payload));
}

static int
on_signal (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  DbusSource *self = userdata;
  const char *member = sd_bus_message_get_member (m);
  const char *job_id, *message, *status;
  uint64_t id;
  int r;

  if (member == NULL || strcmp (member, "Heartbeat") == 0)
    return 0;
  r = sd_bus_message_read (m, "st", &job_id, &id);
  if (r < 0)
    goto bad;
  if (strcmp (member, "Progress") == 0) {
    g_autoptr(GVariant) payload = NULL;
    r = aura_bus_message_read_variant (m, &payload);
    if (r <= 0 || !g_variant_is_of_type (payload, G_VARIANT_TYPE_VARDICT))
      goto bad;
    inbox_push (self, event_from_payload ("step-progress", id, payload), FALSE);
  } else if (strcmp (member, "Warning") == 0) {
    if ((r = sd_bus_message_read (m, "s", &message)) < 0)
      goto bad;
    inbox_push (self, provisional_event ("warning", job_id, id, NULL, message), TRUE);
  } else if (strcmp (member, "JobFinished") == 0) {
    if ((r = sd_bus_message_read (m, "ss", &status, &message)) < 0)
      goto bad;
    inbox_push (self, provisional_event (aura_source_event_type_for_status (status), job_id, id, status, message),
                TRUE);
  }
  return 0;

bad:
  g_warning ("ignoring a malformed %s signal from aura-progressd", member);
  return 0;
}

static int
on_name_owner_changed (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  DbusSource *self = userdata;
  const char *name, *old_owner, *new_owner;

  if (sd_bus_message_read (m, "sss", &name, &old_owner, &new_owner) < 0 ||
      strcmp (name, AURA_BUS_NAME) != 0)
    return 0;
  if (old_owner[0] != '\0')
    set_available (self, FALSE);
  if (new_owner[0] != '\0')
    set_available (self, TRUE);
  return 0;
}

static int
on_owner_reply (sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
  DbusSource *self = userdata;

  self->owner_query_slot = sd_bus_slot_unref (self->owner_query_slot);
  set_available (self, !sd_bus_message_is_method_error (reply, NULL));
  return 0;
}

/* ---- the connection ---------------------------------------------------- */

static void
drop_bus (DbusSource *self)
{
  GList *l;

  /* sd-bus will not answer what was sent on a dead connection: answer it. */
  while ((l = self->in_flight.head) != NULL)
    call_fail_later (l->data);
  while ((l = self->queued.head) != NULL)
    call_fail_later (l->data);
  while ((l = self->cancels_in_flight.head) != NULL)
    call_fail_later (l->data);
  while ((l = self->queued_cancels.head) != NULL)
    call_fail_later (l->data);
  self->signal_slot = sd_bus_slot_unref (self->signal_slot);
  self->owner_slot = sd_bus_slot_unref (self->owner_slot);
  self->owner_query_slot = sd_bus_slot_unref (self->owner_query_slot);
  if (self->bus_source_id != 0) {
    g_source_remove (self->bus_source_id);
    self->bus_source_id = 0;
  }
  if (self->bus != NULL)
    self->bus = sd_bus_flush_close_unref (self->bus);
}

static gboolean
on_reconnect (gpointer user_data)
{
  DbusSource *self = user_data;

  self->reconnect_id = 0;
  connect_bus (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (DbusSource *self)
{
  if (self->reconnect_id == 0)
    self->reconnect_id = g_timeout_add (RECONNECT_INTERVAL_MS, on_reconnect, self);
}

static void
on_bus_lost (sd_bus *bus, int error, gpointer user_data)
{
  DbusSource *self = user_data;

  g_warning ("lost the connection to the bus; reconnecting");
  self->bus_source_id = 0;            /* the source removes itself */
  drop_bus (self);
  set_available (self, FALSE);
  schedule_reconnect (self);
}

static void
connect_bus (DbusSource *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *what = NULL;
  int r;

  self->bus = aura_bus_open (&self->options, AURA_BUS_SYSTEM, "aura-sse-bridge", &error);
  if (self->bus == NULL) {
    if (!self->warned_connect)
      g_warning ("%s; retrying every %d ms", error->message, RECONNECT_INTERVAL_MS);
    self->warned_connect = TRUE;
    schedule_reconnect (self);
    return;
  }
  self->warned_connect = FALSE;

  /* Subscribe first, then ask who owns the name: no change can slip
   * between the two. */
  r = sd_bus_add_match (self->bus, &self->signal_slot,
                        "type='signal',sender='" AURA_BUS_NAME "',path='" AURA_OBJECT_PATH "',"
                        "interface='" AURA_INTERFACE "'",
                        on_signal, self);
  if (r >= 0)
    r = sd_bus_add_match (self->bus, &self->owner_slot,
                          "type='signal',sender='org.freedesktop.DBus',"
                          "path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',"
                          "member='NameOwnerChanged',arg0='" AURA_BUS_NAME "'",
                          on_name_owner_changed, self);
  if (r >= 0)
    r = sd_bus_call_method_async (self->bus, &self->owner_query_slot, "org.freedesktop.DBus",
                                  "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetNameOwner",
                                  on_owner_reply, self, "s", AURA_BUS_NAME);
  if (r < 0) {
    what = aura_bus_describe (&self->options, AURA_BUS_SYSTEM);
    g_warning ("cannot subscribe to signals on %s: %s", what, g_strerror (-r));
    drop_bus (self);
    schedule_reconnect (self);
    return;
  }
  self->bus_source_id = aura_bus_attach (self->bus, on_bus_lost, self);
  pump_calls (self);
}

static void
source_free (AuraEventSource *source)
{
  DbusSource *self = (DbusSource *) source;
  GList *l;

  /* Nobody listens any more: pending calls end without callbacks. */
  while ((l = self->in_flight.head) != NULL)
    call_free (l->data);
  while ((l = self->queued.head) != NULL)
    call_free (l->data);
  while ((l = self->cancels_in_flight.head) != NULL)
    call_free (l->data);
  while ((l = self->queued_cancels.head) != NULL)
    call_free (l->data);
  self->enrich_call = NULL;
  drop_bus (self);
  while ((l = self->failing.head) != NULL)
    call_free (l->data);
  g_queue_clear_full (&self->inbox, (GDestroyNotify) inbox_item_free);
  if (self->reconnect_id != 0)
    g_source_remove (self->reconnect_id);
  aura_bus_options_clear (&self->options);
  g_free (self);
}

static const AuraEventSourceVTable dbus_vtable = {
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
aura_event_source_new_dbus (const AuraBusOptions *options)
{
  DbusSource *self = g_new0 (DbusSource, 1);

  self->parent.vtable = &dbus_vtable;
  self->options.system = options->system;
  self->options.session = options->session;
  self->options.address = g_strdup (options->address);
  g_queue_init (&self->queued);
  g_queue_init (&self->in_flight);
  g_queue_init (&self->queued_cancels);
  g_queue_init (&self->cancels_in_flight);
  g_queue_init (&self->failing);
  g_queue_init (&self->inbox);
  connect_bus (self);
  return &self->parent;
}

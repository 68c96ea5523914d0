/* SPDX-License-Identifier: MIT */
#include "aura-event-source.h"
#include "aura-json.h"

AuraSourceEvent *
aura_source_event_new (const char *type, guint64 id, const char *job_id, JsonNode *data)
{
  AuraSourceEvent *event = g_new0 (AuraSourceEvent, 1);

  event->ref_count = 1;
  event->type = g_strdup (type);
  event->id = id;
  event->job_id = g_strdup (job_id);
  event->data = data;
  return event;
}

AuraSourceEvent *
aura_source_event_ref (AuraSourceEvent *event)
{
  g_atomic_int_inc (&event->ref_count);
  return event;
}

void
aura_source_event_unref (AuraSourceEvent *event)
{
  if (event == NULL || !g_atomic_int_dec_and_test (&event->ref_count))
    return;
  g_free (event->type);
  g_free (event->job_id);
  g_free (event->json);
  if (event->data != NULL)
    json_node_unref (event->data);
  g_free (event);
}

gboolean
aura_source_event_is_terminal (const AuraSourceEvent *event)
{
  return g_str_has_prefix (event->type, "job-");
}

gint
aura_source_event_compare_id (gconstpointer a, gconstpointer b)
{
  const AuraSourceEvent *x = *(AuraSourceEvent *const *) a;
  const AuraSourceEvent *y = *(AuraSourceEvent *const *) b;

  return x->id < y->id ? -1 : x->id > y->id ? 1 : 0;
}

const char *
aura_source_event_get_json (AuraSourceEvent *event)
{
  if (event->json == NULL)
    event->json = aura_json_to_string (event->data);
  return event->json;
}

const char *
aura_source_event_type_for_status (const char *status)
{
  if (g_strcmp0 (status, "Completed") == 0)
    return "job-completed";
  if (g_strcmp0 (status, "Canceled") == 0)
    return "job-cancelled";
  return "job-failed";
}

void
aura_event_source_set_listener (AuraEventSource *source, const AuraEventSourceListener *listener,
                                gpointer user_data)
{
  source->listener = *listener;
  source->listener_data = user_data;
}

void
aura_event_source_free (AuraEventSource *source)
{
  if (source != NULL)
    source->vtable->free (source);
}

gboolean
aura_event_source_is_available (AuraEventSource *source)
{
  return source->vtable->is_available (source);
}

AuraSourceCall *
aura_event_source_get_job (AuraEventSource *source, const char *job_id, AuraSourceJsonFunc func,
                           gpointer user_data)
{
  return source->vtable->get_job (source, job_id, func, user_data);
}

AuraSourceCall *
aura_event_source_list_jobs (AuraEventSource *source, AuraSourceJsonFunc func, gpointer user_data)
{
  return source->vtable->list_jobs (source, func, user_data);
}

AuraSourceCall *
aura_event_source_get_events (AuraEventSource *source, const char *job_id, guint64 after_id,
                              AuraSourceEventsFunc func, gpointer user_data)
{
  return source->vtable->get_events (source, job_id, after_id, func, user_data);
}

AuraSourceCall *
aura_event_source_last_event_id (AuraEventSource *source, AuraSourceIdFunc func,
                                 gpointer user_data)
{
  return source->vtable->last_event_id (source, func, user_data);
}

AuraSourceCall *
aura_event_source_cancel_job (AuraEventSource *source, const char *job_id,
                              AuraSourceJsonFunc func, gpointer user_data)
{
  return source->vtable->cancel_job (source, job_id, func, user_data);
}

void
aura_event_source_clear_call (AuraEventSource *source, AuraSourceCall **call)
{
  if (*call == NULL)
    return;
  source->vtable->call_cancel (source, *call);
  *call = NULL;
}

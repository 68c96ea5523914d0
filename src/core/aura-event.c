/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "aura-event.h"

static const char *const type_names[AURA_EVENT_TYPE_COUNT] = {
  "step-progress", "warning", "job-completed", "job-failed", "job-cancelled",
};

AuraEvent *
aura_event_new (AuraEventType type, guint64 id, const char *job_id, GVariant *payload)
{
  AuraEvent *event = g_new0 (AuraEvent, 1);

  event->ref_count = 1;
  event->type = type;
  event->id = id;
  event->job_id = g_strdup (job_id);
  event->payload = g_variant_ref_sink (payload);
  /* Serialising now turns the builder's tree of small GVariants into one
   * flat buffer: history holds tens of thousands of these. */
  (void) g_variant_get_data (event->payload);
  return event;
}

AuraEvent *
aura_event_ref (AuraEvent *event)
{
  event->ref_count++;
  return event;
}

void
aura_event_unref (AuraEvent *event)
{
  if (event == NULL || --event->ref_count > 0)
    return;
  g_free (event->job_id);
  g_variant_unref (event->payload);
  g_free (event);
}

gsize
aura_event_size (const AuraEvent *event)
{
  return sizeof (AuraEvent) + strlen (event->job_id) + 1 + g_variant_get_size (event->payload);
}

const char *
aura_event_type_to_string (AuraEventType type)
{
  g_return_val_if_fail (type < AURA_EVENT_TYPE_COUNT, NULL);
  return type_names[type];
}

gboolean
aura_event_type_from_string (const char *name, AuraEventType *out)
{
  for (guint i = 0; name != NULL && i < AURA_EVENT_TYPE_COUNT; i++) {
    if (strcmp (name, type_names[i]) == 0) {
      *out = i;
      return TRUE;
    }
  }
  return FALSE;
}

gboolean
aura_event_type_is_terminal (AuraEventType type)
{
  return type == AURA_EVENT_JOB_COMPLETED || type == AURA_EVENT_JOB_FAILED ||
         type == AURA_EVENT_JOB_CANCELLED;
}

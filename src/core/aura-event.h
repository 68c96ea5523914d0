/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  AURA_EVENT_STEP_PROGRESS,
  AURA_EVENT_WARNING,
  AURA_EVENT_JOB_COMPLETED,
  AURA_EVENT_JOB_FAILED,
  AURA_EVENT_JOB_CANCELLED,
  AURA_EVENT_TYPE_COUNT,
} AuraEventType;

/**
 * AuraEvent:
 * One entry of the event history, immutable once made and shared by
 * reference between the history, the signal emitter and callers of
 * GetEvents. The payload is an a{sv} whose keys are the web API's JSON field
 * names.
 */
typedef struct {
  gint ref_count;
  AuraEventType type;
  guint64 id;
  char *job_id;
  GVariant *payload;
} AuraEvent;

AuraEvent  *aura_event_new (AuraEventType type, guint64 id, const char *job_id, GVariant *payload);
AuraEvent  *aura_event_ref (AuraEvent *event);
void        aura_event_unref (AuraEvent *event);
/* About how many bytes the event holds, and takes in a GetEvents reply. */
gsize       aura_event_size (const AuraEvent *event);

/* "step-progress", "warning", "job-completed", "job-failed", "job-cancelled" */
const char *aura_event_type_to_string (AuraEventType type);
gboolean    aura_event_type_from_string (const char *name, AuraEventType *out);
gboolean    aura_event_type_is_terminal (AuraEventType type);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraEvent, aura_event_unref)

G_END_DECLS

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "aura-bus.h"
#include "aura-daemon.h"

/* Job objects live at /org/aura/Progress/jobs/<encoded id> under the
 * ObjectManager at /org/aura/Progress. They are served by one fallback
 * vtable: the path names the job, the model holds its state. */

typedef struct {
  AuraDaemon *daemon;
  AuraJob *job;
  char *path;
} JobObject;

#define JOB(userdata) (((JobObject *) (userdata))->job)

static void
job_object_free (gpointer data)
{
  JobObject *obj = data;
  g_free (obj->path);
  g_free (obj);
}

static int
job_find (sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
          sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  char *id = NULL;
  JobObject *obj;
  int r;

  r = sd_bus_path_decode (path, AURA_JOBS_PATH, &id);
  if (r <= 0)
    return r;
  obj = g_hash_table_lookup (self->job_objects, id);
  free (id);
  if (obj == NULL)
    return 0;
  *found = obj;
  return 1;
}

static int
job_enumerate (sd_bus *bus, const char *prefix, void *userdata, char ***nodes,
               sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  g_autoptr(GPtrArray) jobs = aura_model_list_jobs (self->model);
  char **out = calloc (jobs->len + 1, sizeof (char *));

  if (out == NULL)
    return -ENOMEM;
  for (guint i = 0; i < jobs->len; i++) {
    JobObject *obj = g_hash_table_lookup (self->job_objects, ((AuraJob *) jobs->pdata[i])->id);
    out[i] = strdup (obj != NULL ? obj->path : "/");
    if (out[i] == NULL) {
      for (guint j = 0; j < i; j++)
        free (out[j]);
      free (out);
      return -ENOMEM;
    }
  }
  *nodes = out;
  return 0;
}

#define JOB_GETTER(name) \
  static int name (sd_bus *bus, const char *path, const char *interface, const char *property, \
                   sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)

static const char *
or_empty (const char *s)
{
  return s != NULL ? s : "";
}

JOB_GETTER (get_job_id) { return sd_bus_message_append (reply, "s", JOB (userdata)->id); }
JOB_GETTER (get_title) { return sd_bus_message_append (reply, "s", or_empty (JOB (userdata)->title)); }
JOB_GETTER (get_status)
{
  return sd_bus_message_append (reply, "s", aura_job_status_to_string (JOB (userdata)->status));
}
JOB_GETTER (get_stage)
{
  return sd_bus_message_append (reply, "s", aura_stage_to_string (JOB (userdata)->stage));
}
JOB_GETTER (get_percent) { return sd_bus_message_append (reply, "u", aura_job_percent (JOB (userdata))); }
JOB_GETTER (get_progress) { return sd_bus_message_append (reply, "d", JOB (userdata)->progress); }
JOB_GETTER (get_message) { return sd_bus_message_append (reply, "s", or_empty (JOB (userdata)->message)); }
JOB_GETTER (get_substage_detail)
{
  return sd_bus_message_append (reply, "s", or_empty (aura_job_get_substage_detail (JOB (userdata))));
}
JOB_GETTER (get_current_item) { return sd_bus_message_append (reply, "u", JOB (userdata)->current_item); }
JOB_GETTER (get_total_items) { return sd_bus_message_append (reply, "u", JOB (userdata)->total_items); }
JOB_GETTER (get_correlation_id)
{
  return sd_bus_message_append (reply, "s", or_empty (JOB (userdata)->correlation_id));
}
JOB_GETTER (get_uid) { return sd_bus_message_append (reply, "u", JOB (userdata)->uid); }
JOB_GETTER (get_last_event_id) { return sd_bus_message_append (reply, "t", JOB (userdata)->last_event_id); }

JOB_GETTER (get_warnings)
{
  AuraJob *job = JOB (userdata);
  int r = sd_bus_message_open_container (reply, 'a', "s");

  for (guint i = 0; r >= 0 && i < job->warnings->len; i++)
    r = sd_bus_message_append_basic (reply, 's', job->warnings->pdata[i]);
  return r < 0 ? r : sd_bus_message_close_container (reply);
}

JOB_GETTER (get_completed_stages)
{
  AuraJob *job = JOB (userdata);
  int r = sd_bus_message_open_container (reply, 'a', "s");

  for (guint s = 0; r >= 0 && s < AURA_STAGE_COUNT; s++) {
    if (aura_job_stage_completed (job, s))
      r = sd_bus_message_append_basic (reply, 's', aura_stage_to_string (s));
  }
  return r < 0 ? r : sd_bus_message_close_container (reply);
}

/* -1 while unknown: properties cannot be absent the way dictionary keys are. */
JOB_GETTER (get_eta_seconds)
{
  guint32 eta;
  gint64 end;

  if (!aura_model_job_eta (((JobObject *) userdata)->daemon->model, JOB (userdata), &eta, &end))
    return sd_bus_message_append (reply, "x", (gint64) -1);
  return sd_bus_message_append (reply, "x", (gint64) eta);
}

JOB_GETTER (get_expected_end_time)
{
  g_autofree char *ts = NULL;
  guint32 eta;
  gint64 end;

  if (aura_model_job_eta (((JobObject *) userdata)->daemon->model, JOB (userdata), &eta, &end))
    ts = aura_format_timestamp (end);
  return sd_bus_message_append (reply, "s", or_empty (ts));
}

JOB_GETTER (get_started_at)
{
  g_autofree char *ts = aura_format_timestamp (JOB (userdata)->started_real);
  return sd_bus_message_append (reply, "s", ts);
}

JOB_GETTER (get_finished_at)
{
  AuraJob *job = JOB (userdata);
  g_autofree char *ts = job->finished_real != 0 ? aura_format_timestamp (job->finished_real) : NULL;
  return sd_bus_message_append (reply, "s", or_empty (ts));
}

#define CHANGES SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST

static const sd_bus_vtable job_vtable[] = {
  SD_BUS_VTABLE_START (0),
  SD_BUS_PROPERTY ("JobId", "s", get_job_id, 0, CONST),
  SD_BUS_PROPERTY ("Title", "s", get_title, 0, CONST),
  SD_BUS_PROPERTY ("StartedByUID", "u", get_uid, 0, CONST),
  SD_BUS_PROPERTY ("StartedAt", "s", get_started_at, 0, CONST),
  SD_BUS_PROPERTY ("Status", "s", get_status, 0, CHANGES),
  SD_BUS_PROPERTY ("Stage", "s", get_stage, 0, CHANGES),
  SD_BUS_PROPERTY ("Percent", "u", get_percent, 0, CHANGES),
  SD_BUS_PROPERTY ("Progress", "d", get_progress, 0, CHANGES),
  SD_BUS_PROPERTY ("EtaSeconds", "x", get_eta_seconds, 0, CHANGES),
  SD_BUS_PROPERTY ("ExpectedEndTime", "s", get_expected_end_time, 0, CHANGES),
  SD_BUS_PROPERTY ("Message", "s", get_message, 0, CHANGES),
  SD_BUS_PROPERTY ("SubstageDetail", "s", get_substage_detail, 0, CHANGES),
  SD_BUS_PROPERTY ("CurrentItem", "u", get_current_item, 0, CHANGES),
  SD_BUS_PROPERTY ("TotalItems", "u", get_total_items, 0, CHANGES),
  SD_BUS_PROPERTY ("Warnings", "as", get_warnings, 0, CHANGES),
  SD_BUS_PROPERTY ("CorrelationId", "s", get_correlation_id, 0, CHANGES),
  SD_BUS_PROPERTY ("CompletedStages", "as", get_completed_stages, 0, CHANGES),
  SD_BUS_PROPERTY ("FinishedAt", "s", get_finished_at, 0, CHANGES),
  SD_BUS_PROPERTY ("LastEventId", "t", get_last_event_id, 0, CHANGES),
  SD_BUS_VTABLE_END
};

GHashTable *
aura_daemon_jobs_table_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, NULL, job_object_free);
}

int
aura_daemon_jobs_export (AuraDaemon *self)
{
  int r;

  r = sd_bus_add_fallback_vtable (self->bus, &self->job_slot, AURA_JOBS_PATH, AURA_JOB_INTERFACE,
                                  job_vtable, job_find, self);
  if (r < 0)
    return r;
  return sd_bus_add_node_enumerator (self->bus, &self->enumerator_slot, AURA_JOBS_PATH,
                                     job_enumerate, self);
}

void
aura_daemon_jobs_added (AuraDaemon *self, AuraJob *job)
{
  JobObject *obj = g_new0 (JobObject, 1);
  int r;

  obj->daemon = self;
  obj->job = job;
  obj->path = aura_daemon_job_path (job->id);
  g_hash_table_insert (self->job_objects, job->id, obj);
  r = sd_bus_emit_object_added (self->bus, obj->path);
  if (r < 0)
    g_warning ("cannot announce job object %s: %s", obj->path, g_strerror (-r));
}

void
aura_daemon_jobs_removed (AuraDaemon *self, AuraJob *job)
{
  JobObject *obj = g_hash_table_lookup (self->job_objects, job->id);
  int r;

  if (obj == NULL)
    return;
  r = sd_bus_emit_object_removed (self->bus, obj->path);
  if (r < 0)
    g_warning ("cannot announce removal of job object %s: %s", obj->path, g_strerror (-r));
  g_hash_table_remove (self->job_objects, job->id);
}

/* Called for every event, which the model has already coalesced: one
 * PropertiesChanged per event, never more. */
void
aura_daemon_jobs_changed (AuraDaemon *self, AuraJob *job, AuraEvent *event)
{
  JobObject *obj = g_hash_table_lookup (self->job_objects, job->id);
  const char *path;
  int r;

  if (obj == NULL)
    return;
  path = obj->path;
  if (event->type == AURA_EVENT_WARNING)
    r = sd_bus_emit_properties_changed (self->bus, path, AURA_JOB_INTERFACE, "Warnings",
                                        "LastEventId", NULL);
  else
    r = sd_bus_emit_properties_changed (self->bus, path, AURA_JOB_INTERFACE, "Status", "Stage",
                                        "Percent", "Progress", "EtaSeconds", "ExpectedEndTime",
                                        "Message", "SubstageDetail", "CurrentItem", "TotalItems",
                                        "CorrelationId", "CompletedStages", "FinishedAt",
                                        "LastEventId", NULL);
  if (r < 0)
    g_warning ("cannot send PropertiesChanged for %s: %s", path, g_strerror (-r));
}

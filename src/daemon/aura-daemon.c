/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "aura-bus-source.h"
#include "aura-bus-variant.h"
#include "aura-bus.h"
#include "aura-daemon.h"
#include "aura-error.h"
#include "aura-event-seq.h"
#include "aura-event-store.h"
#include "aura-id.h"
#include "aura-log.h"

/* Unique names are never reused on a bus, so cached credentials cannot go
 * stale; the cache is only bounded. */
#define MAX_CACHED_PEERS 4096

static void
peer_free (gpointer data)
{
  AuraPeer *peer = data;
  if (peer->gids != NULL)
    g_array_unref (peer->gids);
  g_free (peer);
}

static GArray *
groups_of (guint32 uid)
{
  GArray *gids = g_array_new (FALSE, FALSE, sizeof (guint32));
  struct passwd *pw = getpwuid (uid);
  gid_t groups[256];
  int n = G_N_ELEMENTS (groups);

  if (pw != NULL && getgrouplist (pw->pw_name, pw->pw_gid, groups, &n) >= 0) {
    for (int i = 0; i < n; i++) {
      guint32 g = groups[i];
      g_array_append_val (gids, g);
    }
  }
  return gids;
}

const AuraPeer *
aura_daemon_get_peer (AuraDaemon *self, sd_bus_message *m, sd_bus_error *ret_error)
{
  const char *sender = sd_bus_message_get_sender (m);
  g_autoptr(sd_bus_creds) creds = NULL;
  AuraPeer *peer;
  uid_t uid;
  int r;

  if (sender != NULL && (peer = g_hash_table_lookup (self->peers, sender)) != NULL)
    return peer;

  r = sd_bus_query_sender_creds (m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID, &creds);
  if (r >= 0 && (r = sd_bus_creds_get_euid (creds, &uid)) < 0)
    r = sd_bus_creds_get_uid (creds, &uid);
  if (r < 0) {
    sd_bus_error_setf (ret_error, SD_BUS_ERROR_ACCESS_DENIED,
                       "cannot determine the caller's user id: %s", g_strerror (-r));
    return NULL;
  }
  peer = g_new0 (AuraPeer, 1);
  peer->uid = uid;
  if (self->config.operator_gids->len > 0)
    peer->gids = groups_of (uid);
  if (sender == NULL) {
    /* A direct connection: nothing to key the cache on. Keep the one entry
     * under "" so that it is freed with the table. */
    g_hash_table_replace (self->peers, g_strdup (""), peer);
    return peer;
  }
  if (g_hash_table_size (self->peers) >= MAX_CACHED_PEERS)
    g_hash_table_remove_all (self->peers);
  g_hash_table_insert (self->peers, g_strdup (sender), peer);
  return peer;
}

AuraJob *
aura_daemon_authorize (AuraDaemon *self, sd_bus_message *m, const char *job_id,
                       sd_bus_error *ret_error, int *r)
{
  g_autoptr(GError) error = NULL;
  const AuraPeer *peer;
  AuraJob *job = aura_model_get_job (self->model, job_id, &error);

  if (job == NULL) {
    *r = aura_bus_error_from_gerror (ret_error, error);
    return NULL;
  }
  peer = aura_daemon_get_peer (self, m, ret_error);
  if (peer == NULL) {
    *r = -EACCES;
    return NULL;
  }
  if (!aura_model_authorize (self->model, job, peer->uid,
                             peer->gids != NULL ? (const guint32 *) peer->gids->data : NULL,
                             peer->gids != NULL ? peer->gids->len : 0, &error)) {
    *r = aura_bus_error_from_gerror (ret_error, error);
    return NULL;
  }
  *r = 0;
  return job;
}

char *
aura_daemon_job_path (const char *job_id)
{
  char *path = NULL;

  if (sd_bus_path_encode (AURA_JOBS_PATH, job_id, &path) < 0)
    g_error ("out of memory");
  return path;
}

/* ---- methods ----------------------------------------------------------- */

static int
reply_from_gerror (sd_bus_message *m, sd_bus_error *ret_error, const GError *error)
{
  return aura_bus_error_from_gerror (ret_error, error);
}

/* Options and details have a handful of keys; far more is an attack on our
 * memory, not a request. */
#define MAX_DICT_VALUES 256

static int
vardict_result (int r, sd_bus_error *ret_error)
{
  if (r == -E2BIG)
    return sd_bus_error_setf (ret_error, SD_BUS_ERROR_INVALID_ARGS,
                              "options and details may hold at most %d values", MAX_DICT_VALUES);
  if (r == 0)
    return -EBADMSG;
  return r < 0 ? r : 0;
}

/* Reads a trailing a{sv} argument into a GVariant. */
static int
read_vardict (sd_bus_message *m, GVariant **out, sd_bus_error *ret_error)
{
  return vardict_result (aura_bus_message_read_variant_limited (m, MAX_DICT_VALUES, out),
                         ret_error);
}

static void
on_detail (const char *key, char type, const void *value, gpointer user_data)
{
  AuraDetailValue *v = aura_report_details_slot (user_data, key);

  if (v != NULL)
    aura_detail_value_set_basic (v, type, value);
}

/* Reads ReportProgress's details straight into the values the model
 * knows: building the whole dictionary as a GVariant tree and looking the
 * keys up again cost several times what the rest of a report does. */
static int
read_details (sd_bus_message *m, AuraReportDetails *details, sd_bus_error *ret_error)
{
  return vardict_result (aura_bus_message_read_vardict (m, MAX_DICT_VALUES, on_detail, details),
                         ret_error);
}

static int
method_start_job (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  const AuraPeer *peer;
  const char *job_id;
  AuraJob *job;
  int r;

  r = sd_bus_message_read (m, "s", &job_id);
  if (r < 0 || (r = read_vardict (m, &options, ret_error)) < 0)
    return r;
  peer = aura_daemon_get_peer (self, m, ret_error);
  if (peer == NULL)
    return -EACCES;
  job = aura_model_start_job (self->model, job_id, options, peer->uid, &error);
  if (job == NULL)
    return reply_from_gerror (m, ret_error, error);
  path = aura_daemon_job_path (job->id);
  return sd_bus_reply_method_return (m, "o", path);
}

/* The common shape of every report: authorize, apply, reply. */
#define AUTHORIZE_OR_RETURN(job_id)                                                 \
  do {                                                                              \
    int _r;                                                                         \
    if (aura_daemon_authorize (self, m, (job_id), ret_error, &_r) == NULL)          \
      return _r;                                                                    \
  } while (0)

static int
finish_report (sd_bus_message *m, sd_bus_error *ret_error, gboolean ok, const GError *error)
{
  if (!ok)
    return reply_from_gerror (m, ret_error, error);
  return sd_bus_reply_method_return (m, NULL);
}

static int
method_report_progress (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  AuraReportDetails details = { { 0 } };
  g_autoptr(GError) error = NULL;
  const char *job_id, *stage;
  double percent;
  gboolean ok;
  int r;

  r = sd_bus_message_read (m, "ssd", &job_id, &stage, &percent);
  if (r < 0 || (r = read_details (m, &details, ret_error)) < 0)
    return r;
  AUTHORIZE_OR_RETURN (job_id);
  ok = aura_model_report_progress_details (self->model, job_id, stage, percent, &details,
                                           &error);
  return finish_report (m, ret_error, ok, error);
}

static int
method_report_ffmpeg (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  g_autoptr(GError) error = NULL;
  const char *job_id, *correlation_id;
  uint64_t frame, total;
  double fps, time_s;
  gboolean ok;
  int r;

  r = sd_bus_message_read (m, "sttdds", &job_id, &frame, &total, &fps, &time_s, &correlation_id);
  if (r < 0)
    return r;
  AUTHORIZE_OR_RETURN (job_id);
  ok = aura_model_report_ffmpeg (self->model, job_id, frame, total, fps, time_s, correlation_id,
                                 &error);
  return finish_report (m, ret_error, ok, error);
}

static int
method_report_tts (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  g_autoptr(GError) error = NULL;
  const char *job_id, *provider, *correlation_id;
  uint32_t index, total;
  gboolean ok;
  int r;

  r = sd_bus_message_read (m, "suuss", &job_id, &index, &total, &provider, &correlation_id);
  if (r < 0)
    return r;
  AUTHORIZE_OR_RETURN (job_id);
  ok = aura_model_report_tts (self->model, job_id, index, total, provider, correlation_id, &error);
  return finish_report (m, ret_error, ok, error);
}

static int
method_report_llm (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  g_autoptr(GError) error = NULL;
  const char *job_id, *phase, *correlation_id;
  uint32_t current, total;
  gboolean ok;
  int r;

  r = sd_bus_message_read (m, "ssuus", &job_id, &phase, &current, &total, &correlation_id);
  if (r < 0)
    return r;
  AUTHORIZE_OR_RETURN (job_id);
  ok = aura_model_report_llm (self->model, job_id, phase, current, total, correlation_id, &error);
  return finish_report (m, ret_error, ok, error);
}

static int
method_report_visual (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  g_autoptr(GError) error = NULL;
  const char *job_id, *provider, *correlation_id;
  uint32_t index, total;
  gboolean ok;
  int r;

  r = sd_bus_message_read (m, "suuss", &job_id, &index, &total, &provider, &correlation_id);
  if (r < 0)
    return r;
  AUTHORIZE_OR_RETURN (job_id);
  ok = aura_model_report_visual (self->model, job_id, index, total, provider, correlation_id,
                                 &error);
  return finish_report (m, ret_error, ok, error);
}

static int
method_add_warning (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  g_autoptr(GError) error = NULL;
  const char *job_id, *message;
  gboolean ok;
  int r;

  r = sd_bus_message_read (m, "ss", &job_id, &message);
  if (r < 0)
    return r;
  AUTHORIZE_OR_RETURN (job_id);
  ok = aura_model_add_warning (self->model, job_id, message, &error);
  return finish_report (m, ret_error, ok, error);
}

static int
method_mark_stage_completed (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  g_autoptr(GError) error = NULL;
  const char *job_id, *stage;
  gboolean ok;
  int r;

  r = sd_bus_message_read (m, "ss", &job_id, &stage);
  if (r < 0)
    return r;
  AUTHORIZE_OR_RETURN (job_id);
  ok = aura_model_mark_stage_completed (self->model, job_id, stage, &error);
  return finish_report (m, ret_error, ok, error);
}

static int
method_complete_job (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  g_autoptr(GError) error = NULL;
  const char *job_id;
  gboolean ok;
  int r;

  r = sd_bus_message_read (m, "s", &job_id);
  if (r < 0)
    return r;
  AUTHORIZE_OR_RETURN (job_id);
  ok = aura_model_complete_job (self->model, job_id, &error);
  return finish_report (m, ret_error, ok, error);
}

static int
method_fail_job (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  g_autoptr(GError) error = NULL;
  const char *job_id, *message;
  gboolean ok;
  int r;

  r = sd_bus_message_read (m, "ss", &job_id, &message);
  if (r < 0)
    return r;
  AUTHORIZE_OR_RETURN (job_id);
  ok = aura_model_fail_job (self->model, job_id, message, &error);
  return finish_report (m, ret_error, ok, error);
}

static int
reply_variant (sd_bus_message *m, GVariant *value)
{
  g_autoptr(sd_bus_message) reply = NULL;
  int r;

  g_variant_ref_sink (value);
  r = sd_bus_message_new_method_return (m, &reply);
  if (r >= 0)
    r = aura_bus_message_append_variant (reply, value);
  g_variant_unref (value);
  if (r < 0)
    return r;
  return sd_bus_send (NULL, reply, NULL);
}

static int
method_get_job (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  g_autoptr(GError) error = NULL;
  const char *job_id;
  AuraJob *job;
  int r;

  r = sd_bus_message_read (m, "s", &job_id);
  if (r < 0)
    return r;
  job = aura_model_get_job (self->model, job_id, &error);
  if (job == NULL)
    return reply_from_gerror (m, ret_error, error);
  return reply_variant (m, aura_model_job_state (self->model, job));
}

static int
method_list_jobs (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  g_autoptr(GPtrArray) jobs = aura_model_list_jobs (self->model);
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < jobs->len; i++)
    g_variant_builder_add_value (&b, aura_model_job_state (self->model, jobs->pdata[i]));
  return reply_variant (m, g_variant_builder_end (&b));
}

static int
method_get_events (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  g_autoptr(GError) error = NULL;
  const char *job_id;
  uint64_t after;
  GVariant *events;
  int r;

  r = sd_bus_message_read (m, "st", &job_id, &after);
  if (r < 0)
    return r;
  events = aura_model_get_events (self->model, job_id, after, &error);
  if (events == NULL)
    return reply_from_gerror (m, ret_error, error);
  return reply_variant (m, events);
}

static int
property_version (sd_bus *bus, const char *path, const char *interface, const char *property,
                  sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
  return sd_bus_message_append (reply, "s", PACKAGE_VERSION);
}

static int
property_last_event_id (sd_bus *bus, const char *path, const char *interface,
                        const char *property, sd_bus_message *reply, void *userdata,
                        sd_bus_error *ret_error)
{
  AuraDaemon *self = userdata;
  return sd_bus_message_append (reply, "t", aura_model_last_event_id (self->model));
}

static const sd_bus_vtable manager_vtable[] = {
  SD_BUS_VTABLE_START (0),
  SD_BUS_PROPERTY ("Version", "s", property_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
  SD_BUS_PROPERTY ("LastEventId", "t", property_last_event_id, 0, 0),
  SD_BUS_METHOD_WITH_ARGS ("StartJob",
                           SD_BUS_ARGS ("s", job_id, "a{sv}", options),
                           SD_BUS_RESULT ("o", job),
                           method_start_job, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("ReportProgress",
                           SD_BUS_ARGS ("s", job_id, "s", stage, "d", stage_percent,
                                        "a{sv}", details),
                           SD_BUS_NO_RESULT,
                           method_report_progress, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("ReportFFmpegProgress",
                           SD_BUS_ARGS ("s", job_id, "t", frame, "t", total_frames, "d", fps,
                                        "d", time_seconds, "s", correlation_id),
                           SD_BUS_NO_RESULT,
                           method_report_ffmpeg, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("ReportTtsProgress",
                           SD_BUS_ARGS ("s", job_id, "u", scene_index, "u", total_scenes,
                                        "s", provider_name, "s", correlation_id),
                           SD_BUS_NO_RESULT,
                           method_report_tts, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("ReportLlmProgress",
                           SD_BUS_ARGS ("s", job_id, "s", phase, "u", current_chunk,
                                        "u", total_chunks, "s", correlation_id),
                           SD_BUS_NO_RESULT,
                           method_report_llm, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("ReportVisualProgress",
                           SD_BUS_ARGS ("s", job_id, "u", image_index, "u", total_images,
                                        "s", provider_name, "s", correlation_id),
                           SD_BUS_NO_RESULT,
                           method_report_visual, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("AddWarning",
                           SD_BUS_ARGS ("s", job_id, "s", message),
                           SD_BUS_NO_RESULT,
                           method_add_warning, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("MarkStageCompleted",
                           SD_BUS_ARGS ("s", job_id, "s", stage),
                           SD_BUS_NO_RESULT,
                           method_mark_stage_completed, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("CompleteJob",
                           SD_BUS_ARGS ("s", job_id),
                           SD_BUS_NO_RESULT,
                           method_complete_job, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("FailJob",
                           SD_BUS_ARGS ("s", job_id, "s", message),
                           SD_BUS_NO_RESULT,
                           method_fail_job, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("RegisterProvider",
                           SD_BUS_ARGS ("s", job_id, "s", provider_name, "s", provider_type,
                                        "b", supports_cancellation, "o", provider),
                           SD_BUS_NO_RESULT,
                           aura_daemon_method_register_provider, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("UnregisterProvider",
                           SD_BUS_ARGS ("s", job_id, "s", provider_name),
                           SD_BUS_NO_RESULT,
                           aura_daemon_method_unregister_provider, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("CancelJob",
                           SD_BUS_ARGS ("s", job_id),
                           SD_BUS_RESULT ("s", current_status, "s", message,
                                          "b", cleanup_scheduled,
                                          "a(ssbss)", provider_statuses, "as", warnings,
                                          "s", correlation_id),
                           aura_daemon_method_cancel_job, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("GetJob",
                           SD_BUS_ARGS ("s", job_id),
                           SD_BUS_RESULT ("a{sv}", state),
                           method_get_job, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("ListJobs",
                           SD_BUS_NO_ARGS,
                           SD_BUS_RESULT ("aa{sv}", jobs),
                           method_list_jobs, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("GetEvents",
                           SD_BUS_ARGS ("s", job_id, "t", after_event_id),
                           SD_BUS_RESULT ("a(sta{sv})", events),
                           method_get_events, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_SIGNAL_WITH_ARGS ("Progress",
                           SD_BUS_ARGS ("s", job_id, "t", event_id, "a{sv}", event), 0),
  SD_BUS_SIGNAL_WITH_ARGS ("Warning",
                           SD_BUS_ARGS ("s", job_id, "t", event_id, "s", message), 0),
  SD_BUS_SIGNAL_WITH_ARGS ("JobFinished",
                           SD_BUS_ARGS ("s", job_id, "t", event_id, "s", status, "s", message), 0),
  SD_BUS_SIGNAL_WITH_ARGS ("Heartbeat",
                           SD_BUS_ARGS ("s", timestamp, "s", status), 0),
  SD_BUS_VTABLE_END
};

/* ---- signals ----------------------------------------------------------- */

static void
send_or_warn (sd_bus_message *signal, const char *what)
{
  int r = sd_bus_send (NULL, signal, NULL);
  if (r < 0)
    g_warning ("cannot send %s signal: %s", what, g_strerror (-r));
}

static void
emit_event_signal (AuraDaemon *self, AuraJob *job, AuraEvent *event)
{
  g_autoptr(sd_bus_message) signal = NULL;
  const char *member;
  int r;

  switch (event->type) {
  case AURA_EVENT_STEP_PROGRESS: member = "Progress"; break;
  case AURA_EVENT_WARNING: member = "Warning"; break;
  default: member = "JobFinished"; break;
  }
  r = sd_bus_message_new_signal (self->bus, &signal, AURA_OBJECT_PATH, AURA_INTERFACE, member);
  if (r >= 0)
    r = sd_bus_message_append (signal, "st", job->id, event->id);
  if (r >= 0) {
    const char *message = NULL;
    /* (progress events, the frequent ones, need no lookup) */
    if (event->type != AURA_EVENT_STEP_PROGRESS)
      g_variant_lookup (event->payload, "message", "&s", &message);
    if (event->type == AURA_EVENT_STEP_PROGRESS)
      r = aura_bus_message_append_variant (signal, event->payload);
    else if (event->type == AURA_EVENT_WARNING)
      r = sd_bus_message_append (signal, "s", message != NULL ? message : "");
    else
      r = sd_bus_message_append (signal, "ss", aura_job_status_to_string (job->status),
                                 message != NULL ? message : "");
  }
  if (r < 0) {
    g_warning ("cannot build %s signal: %s", member, g_strerror (-r));
    return;
  }
  send_or_warn (signal, member);
}

static void
on_job_added (AuraModel *model, AuraJob *job, gpointer user_data)
{
  aura_log_job (G_LOG_LEVEL_MESSAGE, job->id, job->correlation_id, "started by uid %u", job->uid);
  aura_daemon_jobs_added (user_data, job);
}

static void
on_job_event (AuraModel *model, AuraJob *job, AuraEvent *event, gpointer user_data)
{
  AuraDaemon *self = user_data;

  emit_event_signal (self, job, event);
  aura_daemon_jobs_changed (self, job, event);
  if (aura_event_type_is_terminal (event->type)) {
    aura_log_job (G_LOG_LEVEL_MESSAGE, job->id, job->correlation_id, "%s: %s",
                  aura_job_status_to_string (job->status), job->message);
    aura_daemon_cancel_job_finished (self->cancel, job);
  }
}

static void
on_job_removed (AuraModel *model, AuraJob *job, gpointer user_data)
{
  AuraDaemon *self = user_data;

  aura_daemon_cancel_job_removed (self->cancel, job);
  aura_daemon_jobs_removed (self, job);
}

static const AuraModelListener model_listener = {
  .job_added = on_job_added,
  .job_event = on_job_event,
  .job_removed = on_job_removed,
};

static gboolean
on_heartbeat (gpointer user_data)
{
  AuraDaemon *self = user_data;
  g_autofree char *ts = aura_format_timestamp (aura_clock_real (self->clock));
  int r;

  r = sd_bus_emit_signal (self->bus, AURA_OBJECT_PATH, AURA_INTERFACE, "Heartbeat", "ss", ts,
                          "alive");
  if (r < 0)
    g_warning ("cannot send Heartbeat signal: %s", g_strerror (-r));
  return G_SOURCE_CONTINUE;
}

static gboolean
on_watchdog (gpointer user_data)
{
  sd_notify (0, "WATCHDOG=1");
  return G_SOURCE_CONTINUE;
}

/* ---- the model's timers on the main loop ------------------------------- */

typedef struct {
  GSource source;
  AuraModel *model;
} ModelSource;

static gboolean
model_prepare (GSource *source, gint *timeout)
{
  ModelSource *s = (ModelSource *) source;
  gint64 deadline = aura_model_next_deadline (s->model);
  gint64 now;

  if (deadline == G_MAXINT64) {
    *timeout = -1;
    return FALSE;
  }
  now = g_get_monotonic_time ();
  if (deadline <= now) {
    *timeout = 0;
    return TRUE;
  }
  *timeout = (gint) MIN ((deadline - now + 999) / 1000, G_MAXINT);
  return FALSE;
}

static gboolean
model_check (GSource *source)
{
  ModelSource *s = (ModelSource *) source;
  return aura_model_next_deadline (s->model) <= g_get_monotonic_time ();
}

static gboolean
model_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  ModelSource *s = (ModelSource *) source;
  aura_model_dispatch (s->model);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs model_source_funcs = {
  .prepare = model_prepare,
  .check = model_check,
  .dispatch = model_dispatch,
};

static guint
model_source_attach (AuraModel *model)
{
  GSource *source = g_source_new (&model_source_funcs, sizeof (ModelSource));
  guint id;

  ((ModelSource *) source)->model = model;
  g_source_set_name (source, "aura-model");
  id = g_source_attach (source, NULL);
  g_source_unref (source);
  return id;
}

/* ---- life cycle -------------------------------------------------------- */

AuraDaemon *
aura_daemon_new (AuraConfig *config, sd_bus *bus, const char *state_dir, GError **error)
{
  g_autoptr(AuraEventSeq) seq = aura_event_seq_new (state_dir, error);
  g_autofree char *durations = NULL;
  AuraDaemon *self;
  AuraEventStore *store;

  if (seq == NULL)
    return NULL;

  self = g_new0 (AuraDaemon, 1);
  self->config = *config;
  memset (config, 0, sizeof *config);  /* ownership of the arrays moved */
  self->bus = sd_bus_ref (bus);
  self->state_dir = g_strdup (state_dir);
  self->clock = aura_clock_new_system ();
  self->peers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, peer_free);
  self->job_objects = aura_daemon_jobs_table_new ();
  store = aura_event_store_new_memory_full (self->config.max_history, self->config.max_job_history,
                                            self->config.max_history_bytes);
  /* What completed jobs' stages took: the ETA learns from it across
   * restarts (the state directory exists once the event ids are there). */
  if (state_dir != NULL)
    durations = g_build_filename (state_dir, "stage-durations.json", NULL);
  self->model = aura_model_new (&self->config, self->clock, store, g_steal_pointer (&seq),
                                aura_estimator_new_learned (durations));
  aura_model_set_listener (self->model, &model_listener, self);
  self->cancel = aura_daemon_cancel_new (self);
  self->loop = g_main_loop_new (NULL, FALSE);
  return self;
}

void
aura_daemon_free (AuraDaemon *self)
{
  if (self == NULL)
    return;
  if (self->heartbeat_id != 0)
    g_source_remove (self->heartbeat_id);
  if (self->watchdog_id != 0)
    g_source_remove (self->watchdog_id);
  if (self->model_source_id != 0)
    g_source_remove (self->model_source_id);
  if (self->bus_source_id != 0)
    g_source_remove (self->bus_source_id);
  aura_daemon_cancel_free (self->cancel);
  sd_bus_slot_unref (self->manager_slot);
  sd_bus_slot_unref (self->object_manager_slot);
  sd_bus_slot_unref (self->job_slot);
  sd_bus_slot_unref (self->enumerator_slot);
  aura_model_free (self->model);
  g_hash_table_unref (self->job_objects);
  g_hash_table_unref (self->peers);
  aura_clock_unref (self->clock);
  sd_bus_flush_close_unref (self->bus);
  g_main_loop_unref (self->loop);
  aura_config_clear (&self->config);
  g_free (self->state_dir);
  g_free (self);
}

static void
on_bus_lost (sd_bus *bus, int error, gpointer user_data)
{
  AuraDaemon *self = user_data;

  g_warning ("lost the connection to the bus, exiting");
  self->bus_source_id = 0;
  self->exit_code = 1;
  g_main_loop_quit (self->loop);
}

gboolean
aura_daemon_start (AuraDaemon *self, GError **error)
{
  uint64_t watchdog_usec = 0;
  int r;

  r = sd_bus_add_object_vtable (self->bus, &self->manager_slot, AURA_OBJECT_PATH, AURA_INTERFACE,
                                manager_vtable, self);
  if (r >= 0)
    r = sd_bus_add_object_manager (self->bus, &self->object_manager_slot, AURA_OBJECT_PATH);
  if (r >= 0)
    r = aura_daemon_jobs_export (self);
  if (r < 0) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_FAILED, "cannot export objects: %s",
                 g_strerror (-r));
    return FALSE;
  }

  r = sd_bus_request_name (self->bus, AURA_BUS_NAME, 0);
  if (r < 0) {
    const char *why = r == -EEXIST ? "another process owns it already"
                    : r == -EACCES ? "the bus policy does not allow this user to own it "
                                     "(is org.aura.Progress.conf installed?)"
                                   : g_strerror (-r);
    g_set_error (error, AURA_ERROR, AURA_ERROR_FAILED, "cannot own the name %s: %s",
                 AURA_BUS_NAME, why);
    return FALSE;
  }

  self->bus_source_id = aura_bus_attach (self->bus, on_bus_lost, self);
  self->model_source_id = model_source_attach (self->model);
  self->heartbeat_id = g_timeout_add_full (G_PRIORITY_DEFAULT,
                                           (guint) MAX (self->config.heartbeat_interval_us / 1000, 1),
                                           on_heartbeat, self, NULL);
  if (sd_watchdog_enabled (0, &watchdog_usec) > 0 && watchdog_usec > 0)
    self->watchdog_id = g_timeout_add ((guint) MAX (watchdog_usec / 2000, 1), on_watchdog, self);
  sd_notify (0, "READY=1\nSTATUS=Serving org.aura.Progress");
  return TRUE;
}

int
aura_daemon_run (AuraDaemon *self)
{
  g_main_loop_run (self->loop);
  sd_notify (0, "STOPPING=1");
  return self->exit_code;
}

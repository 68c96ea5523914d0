/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "aura-bus-source.h"
#include "aura-bus-variant.h"
#include "aura-bus.h"
#include "aura-client-private.h"

/* Reports waiting for their answer, at most: beyond that a report first lets
 * answers in, which paces a fast reporter to the daemon rather than queueing
 * without bound. */
#define MAX_PENDING_REPORTS 1024

typedef struct {
  GList link;                         /* in AuraClient.pending; data = this */
  AuraClient *client;
  sd_bus_slot *slot;
  const char *method;                 /* static */
  char *job_id;
} ReportCall;

typedef struct {
  AuraClient *client;
  sd_bus_slot *slot;
  AuraWatchFuncs funcs;
  gpointer user_data;
  GDestroyNotify destroy;
} Watch;

struct _AuraClient {
  gint ref_count;
  sd_bus *bus;
  GMainContext *context;
  guint source_id;
  gboolean lost;
  guint64 n_objects;

  GQueue pending;                     /* ReportCall */
  GError *report_error;               /* the first since the last flush */
  AuraClientErrorFunc error_func;
  gpointer error_data;
  GDestroyNotify error_destroy;

  GHashTable *watches;                /* id -> Watch */
  guint next_watch;

  GHashTable *cancel_tasks;           /* GTask of CancelJob calls in flight */
};

/* ---- the connection ----------------------------------------------------- */

static void
on_bus_lost (sd_bus *bus, int error, gpointer user_data)
{
  AuraClient *self = user_data;

  g_debug ("lost the connection to the bus: %s", g_strerror (error));
  self->lost = TRUE;
  self->source_id = 0;                /* the source removes itself */
}

static void
watch_free (gpointer data)
{
  Watch *w = data;

  sd_bus_slot_unref (w->slot);
  if (w->destroy != NULL)
    w->destroy (w->user_data);
  g_free (w);
}

AuraClient *
aura_client_new (AuraBusKind kind, const char *address, GError **error)
{
  AuraBusOptions options = { 0 };
  AuraClient *self;
  sd_bus *bus;

  switch (kind) {
  case AURA_BUS_DEFAULT:
  case AURA_BUS_SYSTEM:
    options.system = TRUE;
    break;
  case AURA_BUS_SESSION:
    options.session = TRUE;
    break;
  case AURA_BUS_ADDRESS:
    if (address == NULL || address[0] == '\0') {
      g_set_error_literal (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                           "AURA_BUS_ADDRESS needs a bus address, e.g. unix:path=/run/aura/bus");
      return NULL;
    }
    options.address = (char *) address;
    break;
  default:
    g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS, "unknown bus kind %d", kind);
    return NULL;
  }
  if (kind != AURA_BUS_ADDRESS && address != NULL) {
    g_set_error_literal (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                         "an address is only for AURA_BUS_ADDRESS");
    return NULL;
  }

  bus = aura_bus_open (&options, AURA_BUS_SYSTEM, "aura-provider", error);
  if (bus == NULL) {
    /* the documented domain for everything this library returns */
    if (error != NULL && *error != NULL && (*error)->domain != AURA_ERROR) {
      GError *e = *error;
      *error = g_error_new_literal (AURA_ERROR, AURA_ERROR_FAILED, e->message);
      g_error_free (e);
    }
    return NULL;
  }
  /* Finish the handshake with the bus now: until then sd-bus holds back
   * whatever is sent, and a report sent before the main context runs
   * would wait. */
  {
    const char *unique = NULL;
    int r = sd_bus_get_unique_name (bus, &unique);
    if (r < 0) {
      g_set_error (error, AURA_ERROR, AURA_ERROR_FAILED, "cannot connect to the bus: %s",
                   g_strerror (-r));
      sd_bus_unref (bus);
      return NULL;
    }
  }
  self = g_new0 (AuraClient, 1);
  self->ref_count = 1;
  self->bus = bus;
  self->context = g_main_context_ref_thread_default ();
  g_queue_init (&self->pending);
  self->watches = g_hash_table_new_full (NULL, NULL, NULL, watch_free);
  self->cancel_tasks = g_hash_table_new (NULL, NULL);
  self->source_id = aura_bus_attach (bus, on_bus_lost, self);
  return self;
}

AuraClient *
aura_client_ref (AuraClient *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  self->ref_count++;
  return self;
}

static void
report_call_free (ReportCall *rc)
{
  sd_bus_slot_unref (rc->slot);
  g_free (rc->job_id);
  g_free (rc);
}

static void abandon_cancel_tasks (AuraClient *self);

void
aura_client_unref (AuraClient *self)
{
  ReportCall *rc;

  if (self == NULL || --self->ref_count > 0)
    return;
  if (self->source_id != 0) {
    GSource *source = g_main_context_find_source_by_id (self->context, self->source_id);
    if (source != NULL)
      g_source_destroy (source);
  }
  /* Dropping the slots drops the answers, not the calls: the flush below
   * still sends what is queued. */
  while ((rc = g_queue_pop_head (&self->pending)) != NULL)
    report_call_free (rc);
  abandon_cancel_tasks (self);
  g_hash_table_unref (self->cancel_tasks);
  g_hash_table_unref (self->watches);
  if (self->error_destroy != NULL)
    self->error_destroy (self->error_data);
  g_clear_error (&self->report_error);
  sd_bus_flush_close_unref (self->bus);
  g_main_context_unref (self->context);
  g_free (self);
}

const char *
aura_client_get_unique_name (AuraClient *self)
{
  const char *name = NULL;

  g_return_val_if_fail (self != NULL, NULL);
  if (sd_bus_get_unique_name (self->bus, &name) < 0)
    return NULL;
  return name;
}

gboolean
aura_client_is_connected (AuraClient *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return !self->lost && sd_bus_is_open (self->bus) > 0;
}

sd_bus *
aura_client_get_bus (AuraClient *self)
{
  return self->bus;
}

char *
aura_client_new_object_path (AuraClient *self, const char *kind)
{
  return g_strdup_printf ("/org/aura/Progress/%s/%" G_GUINT64_FORMAT, kind, ++self->n_objects);
}

gboolean
aura_client_check_connected (AuraClient *self, GError **error)
{
  if (aura_client_is_connected (self))
    return TRUE;
  g_set_error_literal (error, AURA_ERROR, AURA_ERROR_FAILED,
                       "the connection to the bus was lost");
  return FALSE;
}

static int
new_call (AuraClient *self, sd_bus_message **m, const char *member, const char *types, va_list ap)
{
  int r = sd_bus_message_new_method_call (self->bus, m, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                          AURA_INTERFACE, member);
  if (r >= 0 && types != NULL && types[0] != '\0')
    r = sd_bus_message_appendv (*m, types, ap);
  return r;
}

static void
set_local_error (GError **error, const char *member, int r)
{
  g_set_error (error, AURA_ERROR, r == -EINVAL ? AURA_ERROR_INVALID_ARGS : AURA_ERROR_FAILED,
               "cannot call %s: %s", member, g_strerror (-r));
}

static sd_bus_message *
call_message (AuraClient *self, sd_bus_message *m, uint64_t timeout_us, GError **error)
{
  sd_bus_error bus_error = SD_BUS_ERROR_NULL;
  sd_bus_message *reply = NULL;
  int r;

  r = aura_bus_call (self->bus, m, timeout_us, &bus_error, &reply);
  if (r < 0) {
    aura_bus_set_gerror (error, &bus_error, r);
    sd_bus_error_free (&bus_error);
    return NULL;
  }
  return reply;
}

static sd_bus_message *
call_valist (AuraClient *self, uint64_t timeout_us, GError **error, const char *member,
             const char *types, va_list ap)
{
  g_autoptr(sd_bus_message) m = NULL;
  int r;

  if (!aura_client_check_connected (self, error))
    return NULL;
  r = new_call (self, &m, member, types, ap);
  if (r < 0) {
    set_local_error (error, member, r);
    return NULL;
  }
  return call_message (self, m, timeout_us, error);
}

sd_bus_message *
aura_client_call (AuraClient *self, uint64_t timeout_us, GError **error, const char *member,
                  const char *types, ...)
{
  sd_bus_message *reply;
  va_list ap;

  va_start (ap, types);
  reply = call_valist (self, timeout_us, error, member, types, ap);
  va_end (ap);
  return reply;
}

/* A call whose reply carries nothing. */
static gboolean
call_void (AuraClient *self, GError **error, const char *member, const char *types, ...)
{
  g_autoptr(sd_bus_message) reply = NULL;
  va_list ap;

  va_start (ap, types);
  reply = call_valist (self, 0, error, member, types, ap);
  va_end (ap);
  return reply != NULL;
}

/* ---- a job's life ------------------------------------------------------ */

#define CHECK_ARG(expr, val)                                                         \
  G_STMT_START {                                                                     \
    if (!(expr)) {                                                                   \
      g_set_error_literal (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,               \
                           "invalid argument: " #expr);                              \
      return (val);                                                                  \
    }                                                                                \
  } G_STMT_END

gboolean
aura_client_start_job_with_options (AuraClient *self, const char *job_id, GVariant *options,
                                    GError **error)
{
  g_autoptr(sd_bus_message) m = NULL;
  g_autoptr(sd_bus_message) reply = NULL;
  g_autoptr(GVariant) opts = NULL;
  int r;

  g_return_val_if_fail (self != NULL, FALSE);
  if (options != NULL)
    opts = g_variant_ref_sink (options);
  CHECK_ARG (job_id != NULL, FALSE);
  CHECK_ARG (opts == NULL || g_variant_is_of_type (opts, G_VARIANT_TYPE_VARDICT), FALSE);
  if (!aura_client_check_connected (self, error))
    return FALSE;
  r = sd_bus_message_new_method_call (self->bus, &m, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                      AURA_INTERFACE, "StartJob");
  if (r >= 0)
    r = sd_bus_message_append (m, "s", job_id);
  if (r >= 0 && opts != NULL)
    r = aura_bus_message_append_variant (m, opts);
  else if (r >= 0)
    r = sd_bus_message_append (m, "a{sv}", 0);
  if (r < 0) {
    set_local_error (error, "StartJob", r);
    return FALSE;
  }
  reply = call_message (self, m, 0, error);
  return reply != NULL;
}

gboolean
aura_client_start_job (AuraClient *self, const char *job_id, const char *title,
                       const char *correlation_id, GError **error)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (title != NULL)
    g_variant_builder_add (&b, "{sv}", "title", g_variant_new_string (title));
  if (correlation_id != NULL)
    g_variant_builder_add (&b, "{sv}", "correlationId", g_variant_new_string (correlation_id));
  return aura_client_start_job_with_options (self, job_id, g_variant_builder_end (&b), error);
}

gboolean
aura_client_add_warning (AuraClient *self, const char *job_id, const char *message,
                         GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  CHECK_ARG (job_id != NULL && message != NULL, FALSE);
  return call_void (self, error, "AddWarning", "ss", job_id, message);
}

gboolean
aura_client_mark_stage_completed (AuraClient *self, const char *job_id, const char *stage,
                                  GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  CHECK_ARG (job_id != NULL && stage != NULL, FALSE);
  return call_void (self, error, "MarkStageCompleted", "ss", job_id, stage);
}

gboolean
aura_client_complete_job (AuraClient *self, const char *job_id, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  CHECK_ARG (job_id != NULL, FALSE);
  return call_void (self, error, "CompleteJob", "s", job_id);
}

gboolean
aura_client_fail_job (AuraClient *self, const char *job_id, const char *message, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  CHECK_ARG (job_id != NULL && message != NULL, FALSE);
  return call_void (self, error, "FailJob", "ss", job_id, message);
}

/* ---- progress reports -------------------------------------------------- */

static void
report_failed (AuraClient *self, const char *method, const char *job_id,
               const sd_bus_error *bus_error, int r)
{
  g_autoptr(GError) error = NULL;

  aura_bus_set_gerror (&error, bus_error, r);
  g_debug ("%s for job %s failed: %s", method, job_id, error->message);
  if (self->report_error == NULL)
    self->report_error = g_error_copy (error);
  if (self->error_func != NULL)
    self->error_func (self, method, job_id, error, self->error_data);
}

static int
on_report_reply (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  ReportCall *rc = userdata;
  AuraClient *self = rc->client;
  const sd_bus_error *e = sd_bus_message_get_error (m);

  g_queue_unlink (&self->pending, &rc->link);
  /* the error function may drop the client's last other reference */
  aura_client_ref (self);
  if (e != NULL)
    report_failed (self, rc->method, rc->job_id, e, -EIO);
  report_call_free (rc);
  aura_client_unref (self);
  return 0;
}

/* Too many reports wait for their answers: let answers in until half of
 * them came, which paces a fast reporter to the daemon. Returns FALSE when
 * that cannot be done here (inside a callback of this connection, where
 * sd-bus cannot be dispatched) or the connection is lost. */
static gboolean
catch_up (AuraClient *self)
{
  while (self->pending.length > MAX_PENDING_REPORTS / 2) {
    int r = sd_bus_process (self->bus, NULL);
    if (r == 0)
      r = sd_bus_wait (self->bus, UINT64_MAX);
    if (r < 0) {
      if (r != -EBUSY)
        g_debug ("cannot process the connection: %s", g_strerror (-r));
      return FALSE;
    }
  }
  return TRUE;
}

/* Sends @m without waiting for its answer, unless too many wait. */
static gboolean
send_report (AuraClient *self, sd_bus_message *m, const char *method, const char *job_id,
             GError **error)
{
  ReportCall *rc;
  int r;

  if (!aura_client_check_connected (self, error))
    return FALSE;
  if (self->pending.length >= MAX_PENDING_REPORTS && !catch_up (self)) {
    /* inside a callback: this one report waits for its answer instead */
    sd_bus_error bus_error = SD_BUS_ERROR_NULL;
    r = aura_bus_call (self->bus, m, 0, &bus_error, NULL);
    if (r < 0 && sd_bus_error_is_set (&bus_error))
      report_failed (self, method, job_id, &bus_error, r);
    sd_bus_error_free (&bus_error);
    return aura_client_check_connected (self, error);
  }

  rc = g_new0 (ReportCall, 1);
  rc->link.data = rc;
  rc->client = self;
  rc->method = method;
  rc->job_id = g_strdup (job_id);
  r = sd_bus_call_async (self->bus, &rc->slot, m, on_report_reply, rc, 0);
  if (r < 0) {
    report_call_free (rc);
    set_local_error (error, method, r);
    return FALSE;
  }
  g_queue_push_tail_link (&self->pending, &rc->link);
  return TRUE;
}

static gboolean
report (AuraClient *self, GError **error, const char *method, const char *job_id,
        const char *types, ...)
{
  g_autoptr(sd_bus_message) m = NULL;
  va_list ap;
  int r;

  va_start (ap, types);
  r = new_call (self, &m, method, types, ap);
  va_end (ap);
  if (r < 0) {
    set_local_error (error, method, r);
    return FALSE;
  }
  return send_report (self, m, method, job_id, error);
}

static const char *
or_empty (const char *s)
{
  return s != NULL ? s : "";
}

gboolean
aura_client_report_progress_full (AuraClient *self, const char *job_id, const char *stage,
                                  double stage_percent, GVariant *details, GError **error)
{
  g_autoptr(sd_bus_message) m = NULL;
  g_autoptr(GVariant) d = NULL;
  int r;

  g_return_val_if_fail (self != NULL, FALSE);
  if (details != NULL)
    d = g_variant_ref_sink (details);
  CHECK_ARG (job_id != NULL && stage != NULL, FALSE);
  CHECK_ARG (d == NULL || g_variant_is_of_type (d, G_VARIANT_TYPE_VARDICT), FALSE);
  if (!aura_client_check_connected (self, error))
    return FALSE;
  r = sd_bus_message_new_method_call (self->bus, &m, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                      AURA_INTERFACE, "ReportProgress");
  if (r >= 0)
    r = sd_bus_message_append (m, "ssd", job_id, stage, stage_percent);
  if (r >= 0 && d != NULL)
    r = aura_bus_message_append_variant (m, d);
  else if (r >= 0)
    r = sd_bus_message_append (m, "a{sv}", 0);
  if (r < 0) {
    set_local_error (error, "ReportProgress", r);
    return FALSE;
  }
  return send_report (self, m, "ReportProgress", job_id, error);
}

gboolean
aura_client_report_progress (AuraClient *self, const char *job_id, const char *stage,
                             double stage_percent, const char *message, GError **error)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (message != NULL)
    g_variant_builder_add (&b, "{sv}", "message", g_variant_new_string (message));
  return aura_client_report_progress_full (self, job_id, stage, stage_percent,
                                           g_variant_builder_end (&b), error);
}

gboolean
aura_client_report_ffmpeg (AuraClient *self, const char *job_id, guint64 frame,
                           guint64 total_frames, double fps, double time_seconds,
                           const char *correlation_id, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  CHECK_ARG (job_id != NULL, FALSE);
  return report (self, error, "ReportFFmpegProgress", job_id, "sttdds", job_id, frame,
                 total_frames, fps, time_seconds, or_empty (correlation_id));
}

gboolean
aura_client_report_tts (AuraClient *self, const char *job_id, guint scene_index,
                        guint total_scenes, const char *provider_name,
                        const char *correlation_id, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  CHECK_ARG (job_id != NULL && provider_name != NULL, FALSE);
  return report (self, error, "ReportTtsProgress", job_id, "suuss", job_id, (guint32) scene_index,
                 (guint32) total_scenes, provider_name, or_empty (correlation_id));
}

gboolean
aura_client_report_llm (AuraClient *self, const char *job_id, const char *phase,
                        guint current_chunk, guint total_chunks, const char *correlation_id,
                        GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  CHECK_ARG (job_id != NULL && phase != NULL, FALSE);
  return report (self, error, "ReportLlmProgress", job_id, "ssuus", job_id, phase,
                 (guint32) current_chunk, (guint32) total_chunks, or_empty (correlation_id));
}

gboolean
aura_client_report_visual (AuraClient *self, const char *job_id, guint image_index,
                           guint total_images, const char *provider_name,
                           const char *correlation_id, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  CHECK_ARG (job_id != NULL && provider_name != NULL, FALSE);
  return report (self, error, "ReportVisualProgress", job_id, "suuss", job_id,
                 (guint32) image_index, (guint32) total_images, provider_name,
                 or_empty (correlation_id));
}

void
aura_client_set_report_error_func (AuraClient *self, AuraClientErrorFunc func, gpointer user_data,
                                   GDestroyNotify destroy)
{
  g_return_if_fail (self != NULL);
  if (self->error_destroy != NULL)
    self->error_destroy (self->error_data);
  self->error_func = func;
  self->error_data = user_data;
  self->error_destroy = destroy;
}

guint
aura_client_get_n_pending_reports (AuraClient *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->pending.length;
}

gboolean
aura_client_flush (AuraClient *self, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  while (self->pending.length > 0 && aura_client_is_connected (self))
    g_main_context_iteration (self->context, TRUE);
  if (self->report_error != NULL) {
    g_propagate_error (error, g_steal_pointer (&self->report_error));
    return FALSE;
  }
  return aura_client_check_connected (self, error);
}

/* ---- reading ----------------------------------------------------------- */

/* A call whose reply is one value. */
static GVariant *
call_variant (AuraClient *self, GError **error, const char *member, const char *types, ...)
{
  g_autoptr(sd_bus_message) reply = NULL;
  GVariant *value = NULL;
  va_list ap;
  int r;

  va_start (ap, types);
  reply = call_valist (self, 0, error, member, types, ap);
  va_end (ap);
  if (reply == NULL)
    return NULL;
  r = aura_bus_message_read_variant (reply, &value);
  if (r <= 0) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_FAILED, "cannot read the answer to %s: %s",
                 member, r < 0 ? g_strerror (-r) : "it is empty");
    return NULL;
  }
  return value;
}

GVariant *
aura_client_get_job (AuraClient *self, const char *job_id, GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  CHECK_ARG (job_id != NULL, NULL);
  return call_variant (self, error, "GetJob", "s", job_id);
}

GVariant *
aura_client_list_jobs (AuraClient *self, GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  return call_variant (self, error, "ListJobs", "");
}

GVariant *
aura_client_get_events (AuraClient *self, const char *job_id, guint64 after_event_id,
                        GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  return call_variant (self, error, "GetEvents", "st", or_empty (job_id), after_event_id);
}

char **
aura_client_get_rollback_stages (AuraClient *self, const char *job_id, GError **error)
{
  g_autoptr(GVariant) state = aura_client_get_job (self, job_id, error);
  char **stages = NULL;

  if (state == NULL)
    return NULL;
  if (!g_variant_lookup (state, "completedStages", "^as", &stages))
    stages = g_new0 (char *, 1);
  return stages;
}

/* ---- watching ---------------------------------------------------------- */

static int
on_watch_signal (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  Watch *w = userdata;
  const char *member = sd_bus_message_get_member (m);
  const char *job_id = NULL, *a = NULL, *b = NULL;
  uint64_t event_id = 0;
  int r;

  if (member == NULL)
    return 0;
  if (strcmp (member, "Progress") == 0 && w->funcs.progress != NULL) {
    g_autoptr(GVariant) event = NULL;
    r = sd_bus_message_read (m, "st", &job_id, &event_id);
    if (r >= 0 && aura_bus_message_read_variant (m, &event) > 0)
      w->funcs.progress (w->client, job_id, event_id, event, w->user_data);
  } else if (strcmp (member, "Warning") == 0 && w->funcs.warning != NULL) {
    if (sd_bus_message_read (m, "sts", &job_id, &event_id, &a) >= 0)
      w->funcs.warning (w->client, job_id, event_id, a, w->user_data);
  } else if (strcmp (member, "JobFinished") == 0 && w->funcs.finished != NULL) {
    if (sd_bus_message_read (m, "stss", &job_id, &event_id, &a, &b) >= 0)
      w->funcs.finished (w->client, job_id, event_id, a, b, w->user_data);
  }
  return 0;
}

guint
aura_client_watch (AuraClient *self, const char *job_id, const AuraWatchFuncs *funcs,
                   gpointer user_data, GDestroyNotify destroy, GError **error)
{
  g_autofree char *match = NULL;
  Watch *w;
  int r;

  g_return_val_if_fail (self != NULL, 0);
  CHECK_ARG (funcs != NULL, 0);
  /* Job ids never contain quotes or backslashes; refusing them keeps the
   * match rule well-formed. */
  CHECK_ARG (job_id == NULL || (strchr (job_id, '\'') == NULL && strchr (job_id, '\\') == NULL), 0);
  if (!aura_client_check_connected (self, error))
    return 0;
  match = g_strdup_printf ("type='signal',sender='" AURA_BUS_NAME "',path='" AURA_OBJECT_PATH "',"
                           "interface='" AURA_INTERFACE "'%s%s%s",
                           job_id != NULL ? ",arg0='" : "", job_id != NULL ? job_id : "",
                           job_id != NULL ? "'" : "");
  w = g_new0 (Watch, 1);
  w->client = self;
  w->funcs = *funcs;
  w->user_data = user_data;
  w->destroy = destroy;
  /* synchronous: the match is installed when this returns */
  r = sd_bus_add_match (self->bus, &w->slot, match, on_watch_signal, w);
  if (r < 0) {
    w->destroy = NULL;
    watch_free (w);
    g_set_error (error, AURA_ERROR, AURA_ERROR_FAILED, "cannot subscribe to the daemon's signals: %s",
                 g_strerror (-r));
    return 0;
  }
  g_hash_table_insert (self->watches, GUINT_TO_POINTER (++self->next_watch), w);
  return self->next_watch;
}

void
aura_client_unwatch (AuraClient *self, guint watch_id)
{
  g_return_if_fail (self != NULL);
  g_hash_table_remove (self->watches, GUINT_TO_POINTER (watch_id));
}

/* ---- cancelling -------------------------------------------------------- */

static void
provider_status_free (gpointer data)
{
  AuraProviderStatus *s = data;

  g_free (s->provider_name);
  g_free (s->provider_type);
  g_free (s->status);
  g_free (s->warning);
  g_free (s);
}

void
aura_cancel_result_free (AuraCancelResult *result)
{
  if (result == NULL)
    return;
  g_free (result->job_id);
  g_free (result->current_status);
  g_free (result->message);
  if (result->provider_statuses != NULL)
    g_ptr_array_unref (result->provider_statuses);
  g_strfreev (result->warnings);
  g_free (result->correlation_id);
  g_free (result);
}

static AuraCancelResult *
parse_cancel_reply (sd_bus_message *reply, const char *job_id, GError **error)
{
  g_autoptr(AuraCancelResult) result = g_new0 (AuraCancelResult, 1);
  const char *status, *message, *correlation;
  int cleanup;
  int r;

  result->job_id = g_strdup (job_id);
  result->provider_statuses = g_ptr_array_new_with_free_func (provider_status_free);
  r = sd_bus_message_read (reply, "ssb", &status, &message, &cleanup);
  if (r >= 0)
    r = sd_bus_message_enter_container (reply, 'a', "(ssbss)");
  while (r >= 0) {
    const char *name, *type, *st, *warning;
    int supports;
    AuraProviderStatus *s;

    r = sd_bus_message_read (reply, "(ssbss)", &name, &type, &supports, &st, &warning);
    if (r <= 0)
      break;
    s = g_new0 (AuraProviderStatus, 1);
    s->provider_name = g_strdup (name);
    s->provider_type = g_strdup (type);
    s->supports_cancellation = supports;
    s->status = g_strdup (st);
    s->warning = warning[0] != '\0' ? g_strdup (warning) : NULL;
    g_ptr_array_add (result->provider_statuses, s);
  }
  if (r >= 0)
    r = sd_bus_message_exit_container (reply);
  if (r >= 0)
    r = sd_bus_message_read_strv (reply, &result->warnings);
  /* sd-bus gives NULL for an empty array; the API promises an array */
  if (r >= 0 && result->warnings == NULL)
    result->warnings = g_new0 (char *, 1);
  if (r >= 0)
    r = sd_bus_message_read (reply, "s", &correlation);
  if (r < 0) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_FAILED, "cannot read the answer to CancelJob: %s",
                 g_strerror (-r));
    return NULL;
  }
  result->current_status = g_strdup (status);
  result->message = g_strdup (message);
  result->cleanup_scheduled = cleanup;
  result->correlation_id = correlation[0] != '\0' ? g_strdup (correlation) : NULL;
  return g_steal_pointer (&result);
}

AuraCancelResult *
aura_client_cancel_job (AuraClient *self, const char *job_id, GError **error)
{
  g_autoptr(sd_bus_message) reply = NULL;

  g_return_val_if_fail (self != NULL, NULL);
  CHECK_ARG (job_id != NULL, NULL);
  reply = aura_client_call (self, AURA_CANCEL_CALL_TIMEOUT_US, error, "CancelJob", "s", job_id);
  if (reply == NULL)
    return NULL;
  return parse_cancel_reply (reply, job_id, error);
}

typedef struct {
  AuraClient *client;
  char *job_id;
  sd_bus_slot *slot;
  GSource *cancel_source;
} CancelCall;

/* Ends a CancelJob call in flight: no answer will come for it. */
static void
cancel_task_end (GTask *task, GError *error)
{
  CancelCall *c = g_task_get_task_data (task);

  /* Nothing can end it twice: neither the answer nor the cancellable can
   * fire after this. */
  c->slot = sd_bus_slot_unref (c->slot);
  if (c->cancel_source != NULL)
    g_source_destroy (c->cancel_source);
  g_hash_table_remove (c->client->cancel_tasks, task);
  if (error != NULL)
    g_task_return_error (task, error);
  g_object_unref (task);              /* the reference of the pending call */
}

static void
abandon_cancel_tasks (AuraClient *self)
{
  g_autoptr(GList) tasks = g_hash_table_get_keys (self->cancel_tasks);

  for (GList *l = tasks; l != NULL; l = l->next)
    cancel_task_end (l->data, g_error_new_literal (AURA_ERROR, AURA_ERROR_FAILED,
                                                   "the client was closed before the daemon "
                                                   "answered"));
}

static void
cancel_call_free (gpointer data)
{
  CancelCall *c = data;

  sd_bus_slot_unref (c->slot);
  if (c->cancel_source != NULL) {
    g_source_destroy (c->cancel_source);
    g_source_unref (c->cancel_source);
  }
  g_free (c->job_id);
  g_free (c);
}

static int
on_cancel_job_reply (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  GTask *task = userdata;
  CancelCall *c = g_task_get_task_data (task);
  const sd_bus_error *e = sd_bus_message_get_error (m);
  GError *error = NULL;
  AuraCancelResult *result;

  if (e != NULL) {
    aura_bus_set_gerror (&error, e, -EIO);
  } else if ((result = parse_cancel_reply (m, c->job_id, &error)) != NULL) {
    g_task_return_pointer (task, result, (GDestroyNotify) aura_cancel_result_free);
  }
  cancel_task_end (task, error);
  return 0;
}

static gboolean
on_cancel_job_cancelled (GCancellable *cancellable, gpointer user_data)
{
  GTask *task = user_data;

  /* The daemon goes on cancelling the job; we stop waiting for it. */
  cancel_task_end (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                              "waiting for CancelJob was cancelled"));
  return G_SOURCE_REMOVE;
}

void
aura_client_cancel_job_async (AuraClient *self, const char *job_id, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(sd_bus_message) m = NULL;
  CancelCall *c;
  GError *error = NULL;
  int r;

  g_return_if_fail (self != NULL);
  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, aura_client_cancel_job_async);
  if (job_id == NULL) {
    g_task_return_new_error (task, AURA_ERROR, AURA_ERROR_INVALID_ARGS, "job_id must not be NULL");
    return;
  }
  if (!aura_client_check_connected (self, &error)) {
    g_task_return_error (task, error);
    return;
  }
  c = g_new0 (CancelCall, 1);
  c->client = self;
  c->job_id = g_strdup (job_id);
  g_task_set_task_data (task, c, cancel_call_free);

  r = sd_bus_message_new_method_call (self->bus, &m, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                      AURA_INTERFACE, "CancelJob");
  if (r >= 0)
    r = sd_bus_message_append (m, "s", job_id);
  if (r >= 0)
    r = sd_bus_call_async (self->bus, &c->slot, m, on_cancel_job_reply, task,
                           AURA_CANCEL_CALL_TIMEOUT_US);
  if (r < 0) {
    g_task_return_new_error (task, AURA_ERROR, AURA_ERROR_FAILED, "cannot call CancelJob: %s",
                             g_strerror (-r));
    return;
  }
  if (cancellable != NULL) {
    c->cancel_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (c->cancel_source, G_SOURCE_FUNC (on_cancel_job_cancelled), task, NULL);
    g_source_attach (c->cancel_source, self->context);
  }
  /* the pending call holds this reference */
  g_hash_table_add (self->cancel_tasks, task);
  g_steal_pointer (&task);
}

AuraCancelResult *
aura_client_cancel_job_finish (AuraClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

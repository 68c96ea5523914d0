/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "aura-bus.h"
#include "aura-cancel.h"
#include "aura-daemon.h"
#include "aura-error.h"

/* Provider registration and orchestrated cancellation on the bus.
 *
 * The bookkeeping (who is registered, what each answered, the texts) is in
 * src/core/aura-cancel.c; this file watches the registering connections
 * (one sd_bus_track per connection), calls org.aura.Progress.Provider.Cancel
 * on every cancellable provider at once, and answers CancelJob when all
 * have answered or the cancel timeout passed. Until then the job keeps
 * running, so that what providers report while they stop (a last warning)
 * lands before the terminal event. */

/* CancelJob callers waiting for one cancellation in flight: each is a
 * message we hold. */
#define MAX_WAITERS_PER_JOB 256

/* sd-bus's own timeout of a Cancel call: our timer decides, this only
 * bounds the pending call should the timer somehow not. */
#define CALL_TIMEOUT_MARGIN_US (5 * G_USEC_PER_SEC)

typedef struct _Operation Operation;

/* A connection with live registrations, and its watch. */
typedef struct {
  AuraDaemonCancel *cancel;
  char *name;                         /* unique bus name */
  sd_bus_track *track;
} Owner;

/* One pending Cancel call. */
typedef struct {
  Operation *operation;
  guint index;                        /* in the AuraCancelOp */
  sd_bus_slot *slot;                  /* NULL once answered */
} Call;

/* One cancellation in flight. */
struct _Operation {
  AuraDaemonCancel *cancel;
  AuraCancelOp *op;
  Call *calls;                        /* one per provider of the op */
  GPtrArray *waiters;                 /* sd_bus_message *, the CancelJob requests */
  guint timeout_id;
};

struct _AuraDaemonCancel {
  AuraDaemon *daemon;
  AuraCancelRegistry *registry;
  GHashTable *owners;                 /* unique name -> Owner */
  GHashTable *operations;             /* job id -> Operation */
  GPtrArray *released;                /* owners to unwatch once CancelJob is answered */
};

/* ---- watched connections ----------------------------------------------- */

static void
owner_free (gpointer data)
{
  Owner *o = data;

  sd_bus_track_unref (o->track);
  g_free (o->name);
  g_free (o);
}

static void operation_owner_gone (Operation *o, const char *owner);

/* The connection is gone (sd_bus_track saw NameOwnerChanged). Its
 * providers stay registered, marked vanished: a later CancelJob reports
 * them as Error. The job gets a warning at once. */
static int
on_owner_gone (sd_bus_track *track, void *userdata)
{
  Owner *o = userdata;
  AuraDaemonCancel *self = o->cancel;
  AuraDaemon *daemon = self->daemon;
  g_autofree char *name = g_strdup (o->name);
  g_autoptr(GPtrArray) vanished = NULL;
  g_autoptr(GPtrArray) ops = NULL;
  GHashTableIter it;
  gpointer value;

  g_debug ("provider connection %s is gone", name);
  vanished = aura_cancel_registry_owner_vanished (self->registry, name);
  /* sd-bus holds a reference to the track while this runs. */
  g_hash_table_remove (self->owners, name);

  for (guint i = 0; i < vanished->len; i++) {
    AuraCancelProvider *p = vanished->pdata[i];
    AuraJob *job = aura_model_lookup (daemon->model, p->job_id);
    g_autofree char *warning = NULL;

    /* A cancellation in flight reports it itself. */
    if (job == NULL || !aura_job_is_running (job) ||
        g_hash_table_contains (self->operations, p->job_id))
      continue;
    warning = aura_cancel_warning_vanished (p);
    aura_model_add_system_warning (daemon->model, job, warning);
  }

  /* Answering may finish an operation, which changes the table. */
  ops = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_iter_init (&it, self->operations);
  while (g_hash_table_iter_next (&it, NULL, &value))
    g_ptr_array_add (ops, g_strdup (aura_cancel_op_get_job_id (((Operation *) value)->op)));
  for (guint i = 0; i < ops->len; i++) {
    Operation *o2 = g_hash_table_lookup (self->operations, ops->pdata[i]);
    if (o2 != NULL)
      operation_owner_gone (o2, name);
  }
  return 1;
}

/* The owner of the connection that sent @m, watching it from now on. The
 * first registration of a connection costs one round trip to the bus (the
 * track checks that the name still exists). */
static Owner *
owner_ensure (AuraDaemonCancel *self, const char *sender, sd_bus_error *ret_error, int *r)
{
  Owner *o = g_hash_table_lookup (self->owners, sender);

  if (o != NULL)
    return o;
  o = g_new0 (Owner, 1);
  o->cancel = self;
  o->name = g_strdup (sender);
  *r = sd_bus_track_new (self->daemon->bus, &o->track, on_owner_gone, o);
  if (*r >= 0)
    *r = sd_bus_track_add_name (o->track, sender);
  if (*r < 0) {
    sd_bus_error_setf (ret_error, SD_BUS_ERROR_FAILED,
                       "cannot watch the registering connection %s: %s", sender, g_strerror (-*r));
    owner_free (o);
    return NULL;
  }
  g_hash_table_insert (self->owners, o->name, o);
  return o;
}

static void
on_owner_released (const char *owner, gpointer user_data)
{
  AuraDaemonCancel *self = user_data;

  if (self->released != NULL)
    g_ptr_array_add (self->released, g_strdup (owner));
  else
    g_hash_table_remove (self->owners, owner);
}

/* ---- cancellations in flight ------------------------------------------- */

static void
message_unref (gpointer m)
{
  sd_bus_message_unref (m);
}

static void
operation_free (Operation *o)
{
  guint n = aura_cancel_op_n_providers (o->op);

  for (guint i = 0; i < n; i++)
    sd_bus_slot_unref (o->calls[i].slot);
  if (o->timeout_id != 0)
    g_source_remove (o->timeout_id);
  g_ptr_array_unref (o->waiters);
  aura_cancel_op_free (o->op);
  g_free (o->calls);
  g_free (o);
}

/* A provider's new warning goes to the job at once, while it runs. */
static void
warn_job (AuraDaemonCancel *self, Operation *o, guint index)
{
  const char *warning = aura_cancel_op_get_warning (o->op, index);
  AuraJob *job = aura_model_lookup (self->daemon->model, aura_cancel_op_get_job_id (o->op));

  if (warning != NULL && job != NULL && aura_job_is_running (job))
    aura_model_add_system_warning (self->daemon->model, job, warning);
}

static int
reply_result (sd_bus_message *request, AuraCancelOp *op, const char *status, const char *message,
              gboolean cleanup, const char *correlation_id)
{
  g_autoptr(sd_bus_message) reply = NULL;
  g_autoptr(GVariant) statuses = g_variant_ref_sink (aura_cancel_op_statuses (op));
  g_autoptr(GVariant) warnings = g_variant_ref_sink (aura_cancel_op_warnings (op));
  GVariantIter iter;
  const char *name, *type, *st, *warning;
  gboolean supports;
  int r;

  r = sd_bus_message_new_method_return (request, &reply);
  if (r >= 0)
    r = sd_bus_message_append (reply, "ssb", status, message, cleanup);
  if (r >= 0)
    r = sd_bus_message_open_container (reply, 'a', "(ssbss)");
  g_variant_iter_init (&iter, statuses);
  while (r >= 0 && g_variant_iter_next (&iter, "(&s&sb&s&s)", &name, &type, &supports, &st, &warning))
    r = sd_bus_message_append (reply, "(ssbss)", name, type, supports, st, warning);
  if (r >= 0)
    r = sd_bus_message_close_container (reply);
  if (r >= 0)
    r = sd_bus_message_open_container (reply, 'a', "s");
  g_variant_iter_init (&iter, warnings);
  while (r >= 0 && g_variant_iter_next (&iter, "&s", &warning))
    r = sd_bus_message_append_basic (reply, 's', warning);
  if (r >= 0)
    r = sd_bus_message_close_container (reply);
  if (r >= 0)
    r = sd_bus_message_append (reply, "s", correlation_id);
  if (r >= 0)
    r = sd_bus_send (NULL, reply, NULL);
  return r;
}

/* Every provider answered (or will not): end the job as Canceled, unless
 * it already ended some other way, and answer every CancelJob waiting. */
static void
operation_finish (Operation *o)
{
  AuraDaemonCancel *self = o->cancel;
  AuraModel *model = self->daemon->model;
  g_autofree char *job_id = g_strdup (aura_cancel_op_get_job_id (o->op));
  g_autofree char *message = NULL;
  g_autoptr(GError) error = NULL;
  const char *status = "Canceled";
  const char *correlation_id = "";
  gboolean cleanup = FALSE;
  g_autoptr(GPtrArray) released = NULL;
  AuraJob *job;

  /* Out of the table first: ending the job calls back into this file. */
  g_hash_table_steal (self->operations, job_id);
  /* Ending the job releases its providers, and unwatching their
   * connections sends the bus a RemoveMatch each: sent before the answers,
   * they delayed them (by 1.8 ms with 64 providers, bench-cancel). They
   * go after the answers. */
  if (self->released == NULL)
    released = self->released = g_ptr_array_new_with_free_func (g_free);

  message = aura_cancel_op_message (o->op, aura_model_get_config (model)->max_message_length);
  job = aura_model_lookup (model, job_id);
  if (job != NULL && aura_job_is_running (job) &&
      !aura_model_cancel_job (model, job_id, message, &error))
    g_warning ("job %s: cannot end it as cancelled: %s", job_id, error->message);
  job = aura_model_lookup (model, job_id);
  if (job != NULL) {
    status = aura_job_status_to_string (job->status);
    cleanup = job->status == AURA_JOB_CANCELED && aura_cancel_cleanup_needed (job);
    if (job->correlation_id != NULL)
      correlation_id = job->correlation_id;
  }
  g_debug ("job %s: cancellation finished (%s, cleanup %s): %s", job_id, status,
           cleanup ? "scheduled" : "not needed", message);

  for (guint i = 0; i < o->waiters->len; i++) {
    int r = reply_result (o->waiters->pdata[i], o->op, status, message, cleanup, correlation_id);
    if (r < 0)
      g_warning ("job %s: cannot answer CancelJob: %s", job_id, g_strerror (-r));
  }
  operation_free (o);
  if (released != NULL) {
    self->released = NULL;
    for (guint i = 0; i < released->len; i++)
      g_hash_table_remove (self->owners, released->pdata[i]);
  }
}

static void
operation_check_done (Operation *o)
{
  if (aura_cancel_op_is_done (o->op))
    operation_finish (o);
}

static void
operation_owner_gone (Operation *o, const char *owner)
{
  guint n = aura_cancel_op_n_providers (o->op);

  for (guint i = 0; i < n; i++) {
    if (strcmp (aura_cancel_op_get_provider (o->op, i)->owner, owner) != 0)
      continue;
    if (aura_cancel_op_gone (o->op, i)) {
      o->calls[i].slot = sd_bus_slot_unref (o->calls[i].slot);
      warn_job (o->cancel, o, i);
    }
  }
  operation_check_done (o);
}

static gboolean
on_operation_timeout (gpointer user_data)
{
  Operation *o = user_data;
  guint n = aura_cancel_op_n_providers (o->op);
  g_autofree gboolean *was_pending = g_new0 (gboolean, MAX (n, 1));

  o->timeout_id = 0;
  g_debug ("job %s: cancel timeout passed with %u providers pending",
           aura_cancel_op_get_job_id (o->op), aura_cancel_op_n_pending (o->op));
  for (guint i = 0; i < n; i++) {
    was_pending[i] = aura_cancel_op_get_status (o->op, i) == AURA_CANCEL_PENDING;
    /* a late answer has nobody to go to */
    if (was_pending[i])
      o->calls[i].slot = sd_bus_slot_unref (o->calls[i].slot);
  }
  aura_cancel_op_expire (o->op);
  for (guint i = 0; i < n; i++) {
    if (was_pending[i])
      warn_job (o->cancel, o, i);
  }
  operation_finish (o);
  return G_SOURCE_REMOVE;
}

/* Errors that mean the provider's connection is gone rather than that the
 * provider refused: the bus answers for a peer that disconnected. */
static gboolean
is_gone_error (const sd_bus_error *e)
{
  return sd_bus_error_has_names (e, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                 SD_BUS_ERROR_NAME_HAS_NO_OWNER, SD_BUS_ERROR_DISCONNECTED,
                                 SD_BUS_ERROR_TIMEOUT);
}

static int
on_cancel_reply (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  Call *call = userdata;
  Operation *o = call->operation;
  const sd_bus_error *e = sd_bus_message_get_error (m);
  gboolean changed;

  /* sd-bus holds a reference to the slot while this runs. */
  call->slot = sd_bus_slot_unref (call->slot);
  if (e == NULL)
    changed = aura_cancel_op_cancelled (o->op, call->index);
  else if (is_gone_error (e))
    changed = aura_cancel_op_gone (o->op, call->index);
  else
    changed = aura_cancel_op_failed (o->op, call->index, e->message != NULL ? e->message : e->name);
  if (changed)
    warn_job (o->cancel, o, call->index);
  operation_check_done (o);
  return 0;
}

static int
call_provider (Operation *o, guint index)
{
  AuraDaemonCancel *self = o->cancel;
  AuraCancelProvider *p = aura_cancel_op_get_provider (o->op, index);
  g_autoptr(sd_bus_message) m = NULL;
  Call *call = &o->calls[index];
  int r;

  call->operation = o;
  call->index = index;
  r = sd_bus_message_new_method_call (self->daemon->bus, &m, p->owner, p->path,
                                      AURA_PROVIDER_INTERFACE, "Cancel");
  if (r >= 0)
    r = sd_bus_message_append (m, "s", p->job_id);
  if (r >= 0)
    r = sd_bus_call_async (self->daemon->bus, &call->slot, m, on_cancel_reply, call,
                           (uint64_t) (self->daemon->config.cancel_timeout_us + CALL_TIMEOUT_MARGIN_US));
  return r;
}

/* ---- life cycle -------------------------------------------------------- */

AuraDaemonCancel *
aura_daemon_cancel_new (AuraDaemon *daemon)
{
  AuraDaemonCancel *self = g_new0 (AuraDaemonCancel, 1);

  self->daemon = daemon;
  self->registry = aura_cancel_registry_new (&daemon->config, on_owner_released, self);
  self->owners = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, owner_free);
  self->operations = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, NULL);
  return self;
}

void
aura_daemon_cancel_free (AuraDaemonCancel *self)
{
  GHashTableIter it;
  gpointer value;

  if (self == NULL)
    return;
  /* Shutting down with cancellations in flight: their callers get an
   * error (flushed with the connection) rather than silence. */
  g_hash_table_iter_init (&it, self->operations);
  while (g_hash_table_iter_next (&it, NULL, &value)) {
    Operation *o = value;
    for (guint i = 0; i < o->waiters->len; i++) {
      int r = sd_bus_reply_method_errorf (o->waiters->pdata[i], SD_BUS_ERROR_FAILED,
                                          "aura-progressd is stopping; job '%s' was not "
                                          "cancelled", aura_cancel_op_get_job_id (o->op));
      if (r < 0)
        g_debug ("cannot answer CancelJob: %s", g_strerror (-r));
    }
    g_hash_table_iter_steal (&it);
    operation_free (o);
  }
  g_hash_table_unref (self->operations);
  g_hash_table_unref (self->owners);
  aura_cancel_registry_free (self->registry);
  g_free (self);
}

void
aura_daemon_cancel_job_finished (AuraDaemonCancel *self, AuraJob *job)
{
  Operation *o;

  /* Its providers have nothing left to do for it. */
  aura_cancel_registry_remove_job (self->registry, job->id);
  /* It ended some other way while a cancellation was in flight (its owner
   * completed or failed it): the callers learn that now. */
  o = g_hash_table_lookup (self->operations, job->id);
  if (o != NULL) {
    aura_cancel_op_abandon (o->op);
    operation_finish (o);
  }
}

void
aura_daemon_cancel_job_removed (AuraDaemonCancel *self, AuraJob *job)
{
  /* A job is retired only after it finished, and finishing settled its
   * providers and cancellation; this is the safety net. */
  aura_daemon_cancel_job_finished (self, job);
}

/* ---- methods ----------------------------------------------------------- */

static AuraJob *
running_job (AuraDaemon *daemon, sd_bus_message *m, const char *job_id, sd_bus_error *ret_error,
             int *r)
{
  g_autoptr(GError) error = NULL;
  AuraJob *job = aura_daemon_authorize (daemon, m, job_id, ret_error, r);

  if (job == NULL)
    return NULL;
  if (!aura_job_is_running (job)) {
    g_set_error (&error, AURA_ERROR, AURA_ERROR_NOT_RUNNING,
                 "job '%s' is %s; only running jobs accept this", job_id,
                 aura_job_status_to_string (job->status));
    *r = aura_bus_error_from_gerror (ret_error, error);
    return NULL;
  }
  return job;
}

int
aura_daemon_method_register_provider (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *daemon = userdata;
  AuraDaemonCancel *self = daemon->cancel;
  g_autoptr(GError) error = NULL;
  const char *job_id, *name, *type, *path, *sender;
  AuraCancelProvider *p;
  AuraJob *job;
  int supports;
  int r;

  r = sd_bus_message_read (m, "sssbo", &job_id, &name, &type, &supports, &path);
  if (r < 0)
    return r;
  job = running_job (daemon, m, job_id, ret_error, &r);
  if (job == NULL)
    return r;
  if (g_hash_table_contains (self->operations, job->id))
    return sd_bus_error_setf (ret_error, AURA_DBUS_ERROR_NOT_RUNNING,
                              "job '%s' is being cancelled; it accepts no new providers", job_id);
  sender = sd_bus_message_get_sender (m);
  if (sender == NULL)
    return sd_bus_error_set (ret_error, SD_BUS_ERROR_NOT_SUPPORTED,
                             "providers register through a message bus, whose unique name the "
                             "daemon calls back");
  if (!aura_cancel_registry_check (self->registry, job_id, name, type, sender, path, &error))
    return aura_bus_error_from_gerror (ret_error, error);
  if (owner_ensure (self, sender, ret_error, &r) == NULL)
    return r;
  p = aura_cancel_registry_register (self->registry, job_id, name, type, supports, sender, path,
                                     &error);
  g_assert (p != NULL);               /* checked above */
  g_debug ("job %s: provider %s (%s) registered by %s at %s, %s", job_id, name, type, sender,
           path, supports ? "cancellable" : "not cancellable");
  return sd_bus_reply_method_return (m, NULL);
}

int
aura_daemon_method_unregister_provider (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *daemon = userdata;
  g_autoptr(GError) error = NULL;
  const char *job_id, *name;
  int r;

  r = sd_bus_message_read (m, "ss", &job_id, &name);
  if (r < 0)
    return r;
  if (running_job (daemon, m, job_id, ret_error, &r) == NULL)
    return r;
  if (!aura_cancel_registry_unregister (daemon->cancel->registry, job_id, name, &error))
    return aura_bus_error_from_gerror (ret_error, error);
  g_debug ("job %s: provider %s unregistered", job_id, name);
  return sd_bus_reply_method_return (m, NULL);
}

int
aura_daemon_method_cancel_job (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraDaemon *daemon = userdata;
  AuraDaemonCancel *self = daemon->cancel;
  g_autoptr(GPtrArray) providers = NULL;
  const char *job_id;
  Operation *o;
  AuraJob *job;
  guint n;
  int r;

  r = sd_bus_message_read (m, "s", &job_id);
  if (r < 0)
    return r;
  job = aura_daemon_authorize (daemon, m, job_id, ret_error, &r);
  if (job == NULL)
    return r;

  /* A second CancelJob while the first is in flight waits for the same
   * result. */
  o = g_hash_table_lookup (self->operations, job->id);
  if (o != NULL) {
    if (o->waiters->len >= MAX_WAITERS_PER_JOB)
      return sd_bus_error_setf (ret_error, AURA_DBUS_ERROR_LIMIT_EXCEEDED,
                                "%u callers already wait for the cancellation of job '%s'",
                                o->waiters->len, job_id);
    g_ptr_array_add (o->waiters, sd_bus_message_ref (m));
    return 1;
  }
  if (running_job (daemon, m, job_id, ret_error, &r) == NULL)
    return r;

  providers = aura_cancel_registry_list (self->registry, job->id);
  o = g_new0 (Operation, 1);
  o->cancel = self;
  o->op = aura_cancel_op_new (job->id, providers, daemon->config.cancel_timeout_us);
  n = aura_cancel_op_n_providers (o->op);
  o->calls = g_new0 (Call, MAX (n, 1));
  o->waiters = g_ptr_array_new_with_free_func (message_unref);
  g_ptr_array_add (o->waiters, sd_bus_message_ref (m));
  g_hash_table_insert (self->operations, (gpointer) aura_cancel_op_get_job_id (o->op), o);
  g_debug ("job %s: cancelling, %u providers", job->id, n);

  for (guint i = 0; i < n; i++) {
    switch (aura_cancel_op_get_status (o->op, i)) {
    case AURA_CANCEL_NOT_SUPPORTED:
      /* known now: tell the job's watchers now */
      warn_job (self, o, i);
      break;
    case AURA_CANCEL_PENDING:
      r = call_provider (o, i);
      if (r < 0) {
        g_autofree char *why = g_strdup_printf ("cannot call it: %s", g_strerror (-r));
        if (aura_cancel_op_failed (o->op, i, why))
          warn_job (self, o, i);
      }
      break;
    default:
      /* vanished before: the job was warned when it happened */
      break;
    }
  }
  if (aura_cancel_op_is_done (o->op)) {
    operation_finish (o);
    return 1;
  }
  o->timeout_id = g_timeout_add_full (G_PRIORITY_DEFAULT,
                                      (guint) MAX ((daemon->config.cancel_timeout_us + 999) / 1000, 1),
                                      on_operation_timeout, o, NULL);
  return 1;
}

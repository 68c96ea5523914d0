/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "aura-bus.h"
#include "aura-client-private.h"

struct _AuraProvider {
  gint ref_count;
  AuraClient *client;
  char *job_id;
  char *name;
  char *type;
  char *path;
  gboolean supports_cancellation;
  gboolean registered;
  char *daemon;                       /* unique name of the daemon that registered it */
  sd_bus_slot *object_slot;
  GCancellable *cancellable;

  AuraProviderCancelFunc cancel_func;
  gpointer cancel_data;
  GDestroyNotify cancel_destroy;
  GPtrArray *requests;                /* AuraCancelRequest not answered yet */
};

struct _AuraCancelRequest {
  AuraProvider *provider;
  sd_bus_message *call;
};

static void
request_free (gpointer data)
{
  AuraCancelRequest *request = data;

  sd_bus_message_unref (request->call);
  g_free (request);
}

/* ---- the daemon's Cancel ------------------------------------------------ */

static int
method_cancel (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraProvider *self = userdata;
  const char *job_id, *sender = sd_bus_message_get_sender (m);
  AuraCancelRequest *request;
  int r;

  r = sd_bus_message_read (m, "s", &job_id);
  if (r < 0)
    return r;
  /* Only the daemon that holds the registration may stop the work. */
  if (self->daemon != NULL && g_strcmp0 (sender, self->daemon) != 0)
    return sd_bus_error_setf (ret_error, SD_BUS_ERROR_ACCESS_DENIED,
                              "only aura-progressd (%s) may cancel this provider", self->daemon);
  if (strcmp (job_id, self->job_id) != 0)
    return sd_bus_error_setf (ret_error, SD_BUS_ERROR_INVALID_ARGS,
                              "provider %s works for job '%s', not '%s'", self->name,
                              self->job_id, job_id);
  if (!self->supports_cancellation)
    return sd_bus_error_setf (ret_error, SD_BUS_ERROR_NOT_SUPPORTED,
                              "provider %s does not support cancellation", self->name);

  g_debug ("provider %s: the daemon cancels job %s", self->name, job_id);
  if (self->cancel_func == NULL) {
    g_cancellable_cancel (self->cancellable);
    return sd_bus_reply_method_return (m, NULL);
  }
  request = g_new0 (AuraCancelRequest, 1);
  request->provider = self;
  request->call = sd_bus_message_ref (m);
  g_ptr_array_add (self->requests, request);
  /* the function may drop the caller's reference */
  aura_provider_ref (self);
  self->cancel_func (self, request, self->cancel_data);
  aura_provider_unref (self);
  return 1;
}

static const sd_bus_vtable provider_vtable[] = {
  SD_BUS_VTABLE_START (0),
  /* Unprivileged: the daemon runs as another user; method_cancel checks
   * who calls. */
  SD_BUS_METHOD_WITH_ARGS ("Cancel", SD_BUS_ARGS ("s", job_id), SD_BUS_NO_RESULT, method_cancel,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_VTABLE_END
};

AuraProvider *
aura_cancel_request_get_provider (AuraCancelRequest *request)
{
  g_return_val_if_fail (request != NULL, NULL);
  return request->provider;
}

static void
request_answer (AuraCancelRequest *request, const char *error_message)
{
  AuraProvider *self = request->provider;
  int r;

  if (error_message == NULL)
    r = sd_bus_reply_method_return (request->call, NULL);
  else
    r = sd_bus_reply_method_errorf (request->call, SD_BUS_ERROR_FAILED, "%s", error_message);
  if (r < 0)
    g_debug ("provider %s: cannot answer Cancel: %s", self->name, g_strerror (-r));
  g_ptr_array_remove (self->requests, request);
}

void
aura_cancel_request_complete (AuraCancelRequest *request)
{
  g_return_if_fail (request != NULL);
  g_cancellable_cancel (request->provider->cancellable);
  request_answer (request, NULL);
}

void
aura_cancel_request_fail (AuraCancelRequest *request, const char *message)
{
  g_return_if_fail (request != NULL);
  request_answer (request, message != NULL && message[0] != '\0' ? message
                                                                : "the provider cannot stop now");
}

/* ---- registration ------------------------------------------------------ */

AuraProvider *
aura_client_register_provider (AuraClient *client, const char *job_id, const char *name,
                               const char *type, gboolean supports_cancellation, GError **error)
{
  g_autoptr(AuraProvider) self = NULL;
  g_autoptr(sd_bus_message) reply = NULL;
  int r;

  g_return_val_if_fail (client != NULL, NULL);
  if (job_id == NULL || name == NULL || type == NULL) {
    g_set_error_literal (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                         "job_id, name and type must not be NULL");
    return NULL;
  }
  if (!aura_client_check_connected (client, error))
    return NULL;

  self = g_new0 (AuraProvider, 1);
  self->ref_count = 1;
  self->client = aura_client_ref (client);
  self->job_id = g_strdup (job_id);
  self->name = g_strdup (name);
  self->type = g_strdup (type);
  self->supports_cancellation = supports_cancellation;
  self->path = aura_client_new_object_path (client, "provider");
  self->cancellable = g_cancellable_new ();
  self->requests = g_ptr_array_new_with_free_func (request_free);

  /* Exported before registering: the daemon may call it at once. */
  r = sd_bus_add_object_vtable (aura_client_get_bus (client), &self->object_slot, self->path,
                                AURA_PROVIDER_INTERFACE, provider_vtable, self);
  if (r < 0) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_FAILED, "cannot export the provider object: %s",
                 g_strerror (-r));
    return NULL;
  }
  reply = aura_client_call (client, 0, error, "RegisterProvider", "sssbo", job_id, name, type,
                            (int) supports_cancellation, self->path);
  if (reply == NULL)
    return NULL;
  self->daemon = g_strdup (sd_bus_message_get_sender (reply));
  self->registered = TRUE;
  return g_steal_pointer (&self);
}

AuraProvider *
aura_provider_ref (AuraProvider *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  self->ref_count++;
  return self;
}

/* Tells the daemon without waiting: for the last unref, which must not
 * block. */
static void
unregister_nowait (AuraProvider *self)
{
  g_autoptr(sd_bus_message) m = NULL;
  sd_bus *bus = aura_client_get_bus (self->client);
  int r;

  if (!aura_client_is_connected (self->client))
    return;
  r = sd_bus_message_new_method_call (bus, &m, AURA_BUS_NAME, AURA_OBJECT_PATH, AURA_INTERFACE,
                                      "UnregisterProvider");
  if (r >= 0)
    r = sd_bus_message_append (m, "ss", self->job_id, self->name);
  if (r >= 0)
    r = sd_bus_message_set_expect_reply (m, 0);
  if (r >= 0)
    r = sd_bus_send (bus, m, NULL);
  if (r < 0)
    g_debug ("provider %s: cannot unregister: %s", self->name, g_strerror (-r));
}

void
aura_provider_unref (AuraProvider *self)
{
  if (self == NULL || --self->ref_count > 0)
    return;
  if (self->registered)
    unregister_nowait (self);
  sd_bus_slot_unref (self->object_slot);
  /* unanswered requests go unanswered: the daemon's timeout covers them */
  g_ptr_array_unref (self->requests);
  if (self->cancel_destroy != NULL)
    self->cancel_destroy (self->cancel_data);
  g_object_unref (self->cancellable);
  aura_client_unref (self->client);
  g_free (self->job_id);
  g_free (self->name);
  g_free (self->type);
  g_free (self->path);
  g_free (self->daemon);
  g_free (self);
}

gboolean
aura_provider_unregister (AuraProvider *self, GError **error)
{
  g_autoptr(sd_bus_message) reply = NULL;
  g_autoptr(GError) local = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  if (!self->registered)
    return TRUE;
  reply = aura_client_call (self->client, 0, &local, "UnregisterProvider", "ss", self->job_id,
                            self->name);
  /* When the job ended (or was retired), the daemon released its providers
   * already: nothing is left to undo. */
  if (reply == NULL && !g_error_matches (local, AURA_ERROR, AURA_ERROR_NOT_RUNNING) &&
      !g_error_matches (local, AURA_ERROR, AURA_ERROR_NO_SUCH_JOB)) {
    g_propagate_error (error, g_steal_pointer (&local));
    return FALSE;
  }
  self->registered = FALSE;
  self->object_slot = sd_bus_slot_unref (self->object_slot);
  return TRUE;
}

AuraClient *
aura_provider_get_client (AuraProvider *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->client;
}

const char *
aura_provider_get_job_id (AuraProvider *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->job_id;
}

const char *
aura_provider_get_name (AuraProvider *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->name;
}

const char *
aura_provider_get_provider_type (AuraProvider *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->type;
}

const char *
aura_provider_get_object_path (AuraProvider *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->path;
}

GCancellable *
aura_provider_get_cancellable (AuraProvider *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->cancellable;
}

void
aura_provider_set_cancel_func (AuraProvider *self, AuraProviderCancelFunc func,
                               gpointer user_data, GDestroyNotify destroy)
{
  g_return_if_fail (self != NULL);
  if (self->cancel_destroy != NULL)
    self->cancel_destroy (self->cancel_data);
  self->cancel_func = func;
  self->cancel_data = user_data;
  self->cancel_destroy = destroy;
}

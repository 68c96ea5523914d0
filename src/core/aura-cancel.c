/* SPDX-License-Identifier: MIT */
#include <string.h>

#include <glib/gi18n-lib.h>

#include "aura-cancel.h"
#include "aura-error.h"

/* A provider's error message goes into a warning: at most this much of it,
 * so that a chatty provider cannot fill the job's warnings. */
#define MAX_REASON_LENGTH 1024

static const char *const status_names[] = {
  [AURA_CANCEL_PENDING] = "Pending",
  [AURA_CANCEL_CANCELLED] = "Cancelled",
  [AURA_CANCEL_FAILED] = "Failed",
  [AURA_CANCEL_NOT_SUPPORTED] = "NotSupported",
  [AURA_CANCEL_ERROR] = "Error",
};

const char *
aura_cancel_status_to_string (AuraCancelStatus status)
{
  g_return_val_if_fail (status <= AURA_CANCEL_ERROR, NULL);
  return status_names[status];
}

/* ---- registrations ----------------------------------------------------- */

static AuraCancelProvider *
provider_new (const char *job_id, const char *name, const char *type, gboolean supports,
              const char *owner, const char *path)
{
  AuraCancelProvider *p = g_new0 (AuraCancelProvider, 1);

  p->ref_count = 1;
  p->job_id = g_strdup (job_id);
  p->name = g_strdup (name);
  p->type = g_strdup (type);
  p->supports_cancellation = supports;
  p->owner = g_strdup (owner);
  p->path = g_strdup (path);
  return p;
}

AuraCancelProvider *
aura_cancel_provider_ref (AuraCancelProvider *provider)
{
  g_atomic_int_inc (&provider->ref_count);
  return provider;
}

void
aura_cancel_provider_unref (AuraCancelProvider *provider)
{
  if (provider == NULL || !g_atomic_int_dec_and_test (&provider->ref_count))
    return;
  g_free (provider->job_id);
  g_free (provider->name);
  g_free (provider->type);
  g_free (provider->owner);
  g_free (provider->path);
  g_free (provider);
}

char *
aura_cancel_warning_not_supported (const AuraCancelProvider *p)
{
  /* DESIGN.md fixes this text. */
  return g_strdup_printf (_("Provider %s (%s) does not support cancellation. "
                            "Operation may continue until completion."), p->name, p->type);
}

char *
aura_cancel_warning_vanished (const AuraCancelProvider *p)
{
  return g_strdup_printf (_("Provider %s (%s) disconnected while the job was running."),
                          p->name, p->type);
}

static char *
warning_failed (const AuraCancelProvider *p, const char *reason)
{
  g_autofree char *cut = NULL;

  if (reason == NULL || reason[0] == '\0')
    reason = _("no reason given");
  if (strlen (reason) > MAX_REASON_LENGTH) {
    /* cut at a character boundary */
    const char *end = NULL;
    /* D-Bus strings are valid UTF-8: @end is the last whole character */
    g_utf8_validate (reason, MAX_REASON_LENGTH, &end);
    cut = g_strdup_printf ("%.*s…", (int) (end - reason), reason);
    reason = cut;
  }
  return g_strdup_printf (_("Provider %s (%s) failed to cancel: %s"), p->name, p->type, reason);
}

static char *
warning_timeout (const AuraCancelProvider *p, gint64 timeout_us)
{
  char seconds[G_ASCII_DTOSTR_BUF_SIZE];

  g_ascii_formatd (seconds, sizeof seconds, "%g", timeout_us / (double) G_USEC_PER_SEC);
  return g_strdup_printf (_("Provider %s (%s) did not answer the cancellation request within %s "
                            "seconds."), p->name, p->type, seconds);
}

static char *
warning_gone_before (const AuraCancelProvider *p)
{
  return g_strdup_printf (_("Provider %s (%s) disconnected before it could be cancelled."),
                          p->name, p->type);
}

static char *
warning_gone_during (const AuraCancelProvider *p)
{
  return g_strdup_printf (_("Provider %s (%s) disconnected before answering the cancellation "
                            "request."), p->name, p->type);
}

struct _AuraCancelRegistry {
  const AuraConfig *config;
  GHashTable *jobs;                   /* job id -> GPtrArray of AuraCancelProvider */
  GHashTable *owners;                 /* owner -> live registrations (GUINT_TO_POINTER) */
  AuraCancelOwnerReleased released;
  gpointer user_data;
};

AuraCancelRegistry *
aura_cancel_registry_new (const AuraConfig *config, AuraCancelOwnerReleased released,
                          gpointer user_data)
{
  AuraCancelRegistry *self = g_new0 (AuraCancelRegistry, 1);

  self->config = config;
  self->jobs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) g_ptr_array_unref);
  self->owners = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->released = released;
  self->user_data = user_data;
  return self;
}

void
aura_cancel_registry_free (AuraCancelRegistry *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->jobs);
  g_hash_table_unref (self->owners);
  g_free (self);
}

guint
aura_cancel_registry_n_owned (AuraCancelRegistry *self, const char *owner)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (self->owners, owner));
}

static void
owner_add (AuraCancelRegistry *self, const char *owner)
{
  guint n = aura_cancel_registry_n_owned (self, owner);
  g_hash_table_replace (self->owners, g_strdup (owner), GUINT_TO_POINTER (n + 1));
}

/* One live registration of @p fewer. */
static void
owner_drop (AuraCancelRegistry *self, const AuraCancelProvider *p)
{
  guint n;

  if (p->vanished)
    return;                           /* no longer counted */
  n = aura_cancel_registry_n_owned (self, p->owner);
  g_assert (n > 0);
  if (n > 1) {
    g_hash_table_replace (self->owners, g_strdup (p->owner), GUINT_TO_POINTER (n - 1));
    return;
  }
  g_hash_table_remove (self->owners, p->owner);
  if (self->released != NULL)
    self->released (p->owner, self->user_data);
}

static gint
find_provider (GPtrArray *list, const char *name)
{
  for (guint i = 0; list != NULL && i < list->len; i++) {
    if (strcmp (((AuraCancelProvider *) list->pdata[i])->name, name) == 0)
      return (gint) i;
  }
  return -1;
}

gboolean
aura_cancel_registry_check (AuraCancelRegistry *self, const char *job_id, const char *name,
                            const char *type, const char *owner, const char *path,
                            GError **error)
{
  const AuraConfig *cfg = self->config;
  GPtrArray *list = g_hash_table_lookup (self->jobs, job_id);
  gint index = find_provider (list, name != NULL ? name : "");
  AuraCancelProvider *old = index >= 0 ? list->pdata[index] : NULL;
  gboolean same_owner;

  g_return_val_if_fail (owner != NULL, FALSE);

  if (!aura_check_text ("provider_name", name, cfg->max_name_length, FALSE, error) ||
      !aura_check_text ("provider_type", type, cfg->max_name_length, FALSE, error))
    return FALSE;
  if (path == NULL || !g_variant_is_object_path (path)) {
    g_set_error_literal (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                         "provider must be a D-Bus object path such as /org/example/Provider");
    return FALSE;
  }
  if (old == NULL && list != NULL && list->len >= cfg->max_providers_per_job) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_LIMIT_EXCEEDED,
                 "job '%s' has %u providers, the configured maximum (MaxProvidersPerJob)",
                 job_id, list->len);
    return FALSE;
  }
  /* A replacement by the same live connection costs that connection
   * nothing more. */
  same_owner = old != NULL && !old->vanished && strcmp (old->owner, owner) == 0;
  if (!same_owner && aura_cancel_registry_n_owned (self, owner) >= cfg->max_providers_per_connection) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_LIMIT_EXCEEDED,
                 "this connection has registered %u providers, the configured maximum "
                 "(MaxProvidersPerConnection)", aura_cancel_registry_n_owned (self, owner));
    return FALSE;
  }
  return TRUE;
}

AuraCancelProvider *
aura_cancel_registry_register (AuraCancelRegistry *self, const char *job_id, const char *name,
                               const char *type, gboolean supports_cancellation,
                               const char *owner, const char *path, GError **error)
{
  GPtrArray *list = g_hash_table_lookup (self->jobs, job_id);
  gint index;
  AuraCancelProvider *old, *p;

  if (!aura_cancel_registry_check (self, job_id, name, type, owner, path, error))
    return NULL;
  index = find_provider (list, name);
  old = index >= 0 ? list->pdata[index] : NULL;
  p = provider_new (job_id, name, type, supports_cancellation, owner, path);
  /* Count the new one before dropping the old one: when both have the same
   * owner, the owner must not look released in between. */
  owner_add (self, owner);
  if (list == NULL) {
    list = g_ptr_array_new_with_free_func ((GDestroyNotify) aura_cancel_provider_unref);
    g_hash_table_insert (self->jobs, g_strdup (job_id), list);
  }
  if (old != NULL) {
    list->pdata[index] = p;
    owner_drop (self, old);
    aura_cancel_provider_unref (old);
  } else {
    g_ptr_array_add (list, p);
  }
  return p;
}

gboolean
aura_cancel_registry_unregister (AuraCancelRegistry *self, const char *job_id, const char *name,
                                 GError **error)
{
  GPtrArray *list = g_hash_table_lookup (self->jobs, job_id);
  gint index;
  AuraCancelProvider *p;

  if (!aura_check_text ("provider_name", name, self->config->max_name_length, FALSE, error))
    return FALSE;
  index = find_provider (list, name);
  if (index < 0) {
    g_set_error (error, AURA_ERROR, AURA_ERROR_NO_SUCH_PROVIDER,
                 "job '%s' has no provider named '%s'", job_id, name);
    return FALSE;
  }
  p = g_ptr_array_steal_index (list, (guint) index);
  if (list->len == 0)
    g_hash_table_remove (self->jobs, job_id);
  owner_drop (self, p);
  aura_cancel_provider_unref (p);
  return TRUE;
}

GPtrArray *
aura_cancel_registry_list (AuraCancelRegistry *self, const char *job_id)
{
  GPtrArray *list = g_hash_table_lookup (self->jobs, job_id);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) aura_cancel_provider_unref);

  for (guint i = 0; list != NULL && i < list->len; i++)
    g_ptr_array_add (out, aura_cancel_provider_ref (list->pdata[i]));
  return out;
}

guint
aura_cancel_registry_n_providers (AuraCancelRegistry *self, const char *job_id)
{
  GPtrArray *list = g_hash_table_lookup (self->jobs, job_id);
  return list != NULL ? list->len : 0;
}

void
aura_cancel_registry_remove_job (AuraCancelRegistry *self, const char *job_id)
{
  g_autoptr(GPtrArray) list = NULL;
  gpointer key;

  if (!g_hash_table_steal_extended (self->jobs, job_id, &key, (gpointer *) &list))
    return;
  g_free (key);
  for (guint i = 0; i < list->len; i++)
    owner_drop (self, list->pdata[i]);
}

GPtrArray *
aura_cancel_registry_owner_vanished (AuraCancelRegistry *self, const char *owner)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) aura_cancel_provider_unref);
  GHashTableIter it;
  gpointer value;

  g_hash_table_iter_init (&it, self->jobs);
  while (g_hash_table_iter_next (&it, NULL, &value)) {
    GPtrArray *list = value;
    for (guint i = 0; i < list->len; i++) {
      AuraCancelProvider *p = list->pdata[i];
      if (!p->vanished && strcmp (p->owner, owner) == 0) {
        p->vanished = TRUE;
        g_ptr_array_add (out, aura_cancel_provider_ref (p));
      }
    }
  }
  g_hash_table_remove (self->owners, owner);
  return out;
}

/* ---- one cancellation -------------------------------------------------- */

typedef struct {
  AuraCancelProvider *provider;
  AuraCancelStatus status;
  char *warning;
} Entry;

struct _AuraCancelOp {
  char *job_id;
  Entry *entries;
  guint n_entries;
  guint n_pending;
  gint64 timeout_us;
};

AuraCancelOp *
aura_cancel_op_new (const char *job_id, GPtrArray *providers, gint64 timeout_us)
{
  AuraCancelOp *self = g_new0 (AuraCancelOp, 1);

  self->job_id = g_strdup (job_id);
  self->timeout_us = timeout_us;
  self->n_entries = providers->len;
  self->entries = g_new0 (Entry, MAX (providers->len, 1));
  for (guint i = 0; i < providers->len; i++) {
    Entry *e = &self->entries[i];
    e->provider = aura_cancel_provider_ref (providers->pdata[i]);
    if (!e->provider->supports_cancellation) {
      e->status = AURA_CANCEL_NOT_SUPPORTED;
      e->warning = aura_cancel_warning_not_supported (e->provider);
    } else if (e->provider->vanished) {
      e->status = AURA_CANCEL_ERROR;
      e->warning = warning_gone_before (e->provider);
    } else {
      e->status = AURA_CANCEL_PENDING;
      self->n_pending++;
    }
  }
  return self;
}

void
aura_cancel_op_free (AuraCancelOp *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < self->n_entries; i++) {
    aura_cancel_provider_unref (self->entries[i].provider);
    g_free (self->entries[i].warning);
  }
  g_free (self->entries);
  g_free (self->job_id);
  g_free (self);
}

const char *
aura_cancel_op_get_job_id (AuraCancelOp *self)
{
  return self->job_id;
}

guint
aura_cancel_op_n_providers (AuraCancelOp *self)
{
  return self->n_entries;
}

AuraCancelProvider *
aura_cancel_op_get_provider (AuraCancelOp *self, guint index)
{
  g_return_val_if_fail (index < self->n_entries, NULL);
  return self->entries[index].provider;
}

AuraCancelStatus
aura_cancel_op_get_status (AuraCancelOp *self, guint index)
{
  g_return_val_if_fail (index < self->n_entries, AURA_CANCEL_ERROR);
  return self->entries[index].status;
}

const char *
aura_cancel_op_get_warning (AuraCancelOp *self, guint index)
{
  g_return_val_if_fail (index < self->n_entries, NULL);
  return self->entries[index].warning;
}

guint
aura_cancel_op_n_pending (AuraCancelOp *self)
{
  return self->n_pending;
}

gboolean
aura_cancel_op_is_done (AuraCancelOp *self)
{
  return self->n_pending == 0;
}

/* Decides a pending entry; takes the warning. */
static gboolean
decide (AuraCancelOp *self, guint index, AuraCancelStatus status, char *warning)
{
  Entry *e;

  g_return_val_if_fail (index < self->n_entries, FALSE);
  e = &self->entries[index];
  if (e->status != AURA_CANCEL_PENDING) {
    g_free (warning);
    return FALSE;
  }
  e->status = status;
  e->warning = warning;
  self->n_pending--;
  return TRUE;
}

gboolean
aura_cancel_op_cancelled (AuraCancelOp *self, guint index)
{
  return decide (self, index, AURA_CANCEL_CANCELLED, NULL);
}

gboolean
aura_cancel_op_failed (AuraCancelOp *self, guint index, const char *reason)
{
  g_return_val_if_fail (index < self->n_entries, FALSE);
  return decide (self, index, AURA_CANCEL_FAILED,
                 warning_failed (self->entries[index].provider, reason));
}

gboolean
aura_cancel_op_gone (AuraCancelOp *self, guint index)
{
  g_return_val_if_fail (index < self->n_entries, FALSE);
  return decide (self, index, AURA_CANCEL_ERROR, warning_gone_during (self->entries[index].provider));
}

guint
aura_cancel_op_expire (AuraCancelOp *self)
{
  guint n = 0;

  for (guint i = 0; i < self->n_entries; i++) {
    if (self->entries[i].status == AURA_CANCEL_PENDING &&
        decide (self, i, AURA_CANCEL_ERROR, warning_timeout (self->entries[i].provider,
                                                              self->timeout_us)))
      n++;
  }
  return n;
}

static char *
warning_abandoned (const AuraCancelProvider *p)
{
  return g_strdup_printf (_("Provider %s (%s) had not answered the cancellation request when "
                            "the job ended."), p->name, p->type);
}

guint
aura_cancel_op_abandon (AuraCancelOp *self)
{
  guint n = 0;

  for (guint i = 0; i < self->n_entries; i++) {
    if (self->entries[i].status == AURA_CANCEL_PENDING &&
        decide (self, i, AURA_CANCEL_ERROR, warning_abandoned (self->entries[i].provider)))
      n++;
  }
  return n;
}

char *
aura_cancel_op_message (AuraCancelOp *self, gsize max_len)
{
  const char *lead = _("Not every provider could be cancelled: ");
  g_autoptr(GString) s = NULL;
  guint n_bad = 0, n_listed = 0;

  for (guint i = 0; i < self->n_entries; i++) {
    AuraCancelStatus st = self->entries[i].status;
    if (st == AURA_CANCEL_FAILED || st == AURA_CANCEL_ERROR || st == AURA_CANCEL_PENDING)
      n_bad++;
  }
  if (n_bad == 0)
    /* AURA_CANCEL_MESSAGE_ALL_OK, spelled out for xgettext; the tests
     * check that the two agree */
    return g_strdup (_("All providers cancelled or reported as not supporting cancellation"));

  /* Name as many as fit, and count the rest: the message ends the job, and
   * a job's message has a length limit. Room is kept for the tail. */
  s = g_string_new (lead);
  for (guint i = 0; i < self->n_entries; i++) {
    const Entry *e = &self->entries[i];
    const char *what;
    gsize need;

    switch (e->status) {
    case AURA_CANCEL_FAILED: what = _("failed"); break;
    case AURA_CANCEL_ERROR: what = _("did not answer"); break;
    case AURA_CANCEL_PENDING: what = _("has not answered yet"); break;
    default: continue;
    }
    need = strlen (e->provider->name) + strlen (e->provider->type) + strlen (what) + 10;
    if (s->len + need + 32 > max_len)
      break;
    g_string_append_printf (s, "%s%s (%s) %s", n_listed > 0 ? "; " : "", e->provider->name,
                            e->provider->type, what);
    n_listed++;
  }
  if (n_listed < n_bad)
    g_string_append_printf (s, n_listed > 0 ? _("; and %u more") : _("%u more"), n_bad - n_listed);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

GVariant *
aura_cancel_op_statuses (AuraCancelOp *self)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(ssbss)"));
  for (guint i = 0; i < self->n_entries; i++) {
    const Entry *e = &self->entries[i];
    g_variant_builder_add (&b, "(ssbss)", e->provider->name, e->provider->type,
                           e->provider->supports_cancellation,
                           aura_cancel_status_to_string (e->status),
                           e->warning != NULL ? e->warning : "");
  }
  return g_variant_builder_end (&b);
}

GVariant *
aura_cancel_op_warnings (AuraCancelOp *self)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_STRING_ARRAY);
  for (guint i = 0; i < self->n_entries; i++) {
    if (self->entries[i].warning != NULL)
      g_variant_builder_add (&b, "s", self->entries[i].warning);
  }
  return g_variant_builder_end (&b);
}

gboolean
aura_cancel_cleanup_needed (const AuraJob *job)
{
  return job->completed_mask != 0;
}

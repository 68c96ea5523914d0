/* SPDX-License-Identifier: MIT */
/* cancel: CancelJob, and what each provider answered. */
#include <glib/gi18n-lib.h>
#include <string.h>

#include "aura-ctl-format.h"
#include "aura-ctl.h"

/* CancelJob answers when every provider has, or after the daemon's cancel
 * timeout (at most 600 s by configuration): wait a little longer than that. */
#define CANCEL_CALL_TIMEOUT_US (660 * G_USEC_PER_SEC)

typedef struct {
  char *name;
  char *type;
  gboolean supports_cancellation;
  char *status;
  char *warning;
} ProviderStatus;

static void
provider_status_free (gpointer data)
{
  ProviderStatus *p = data;

  g_free (p->name);
  g_free (p->type);
  g_free (p->status);
  g_free (p->warning);
  g_free (p);
}

typedef struct {
  char *current_status;
  char *message;
  gboolean cleanup_scheduled;
  GPtrArray *providers;               /* ProviderStatus */
  GStrv warnings;
  char *correlation_id;
} CancelResult;

static void
cancel_result_clear (CancelResult *res)
{
  g_free (res->current_status);
  g_free (res->message);
  g_clear_pointer (&res->providers, g_ptr_array_unref);
  g_strfreev (res->warnings);
  g_free (res->correlation_id);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CancelResult, cancel_result_clear)

static int
read_result (sd_bus_message *reply, CancelResult *res)
{
  const char *status, *message, *correlation_id;
  int cleanup, r;
  char **warnings = NULL;

  r = sd_bus_message_read (reply, "ssb", &status, &message, &cleanup);
  if (r < 0)
    return r;
  res->current_status = g_strdup (status);
  res->message = g_strdup (message);
  res->cleanup_scheduled = cleanup;
  res->providers = g_ptr_array_new_with_free_func (provider_status_free);
  r = sd_bus_message_enter_container (reply, 'a', "(ssbss)");
  if (r < 0)
    return r;
  for (;;) {
    const char *name, *type, *pstatus, *warning;
    int supports;
    ProviderStatus *p;

    r = sd_bus_message_read (reply, "(ssbss)", &name, &type, &supports, &pstatus, &warning);
    if (r < 0)
      return r;
    if (r == 0)
      break;
    p = g_new0 (ProviderStatus, 1);
    p->name = g_strdup (name);
    p->type = g_strdup (type);
    p->supports_cancellation = supports;
    p->status = g_strdup (pstatus);
    p->warning = g_strdup (warning);
    g_ptr_array_add (res->providers, p);
  }
  r = sd_bus_message_exit_container (reply);
  if (r < 0)
    return r;
  r = sd_bus_message_read_strv (reply, &warnings);
  if (r < 0)
    return r;
  res->warnings = warnings;
  r = sd_bus_message_read (reply, "s", &correlation_id);
  if (r < 0)
    return r;
  res->correlation_id = g_strdup (correlation_id);
  return 0;
}

/* The web API's cancel response (the seed's example), so that scripts can
 * use either. */
static JsonNode *
result_to_json (const char *job_id, const CancelResult *res)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "jobId");
  json_builder_add_string_value (b, job_id);
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, res->message);
  json_builder_set_member_name (b, "currentStatus");
  json_builder_add_string_value (b, res->current_status);
  json_builder_set_member_name (b, "cleanupScheduled");
  json_builder_add_boolean_value (b, res->cleanup_scheduled);
  json_builder_set_member_name (b, "providerStatuses");
  json_builder_begin_array (b);
  for (guint i = 0; i < res->providers->len; i++) {
    ProviderStatus *p = res->providers->pdata[i];
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "providerName");
    json_builder_add_string_value (b, p->name);
    json_builder_set_member_name (b, "providerType");
    json_builder_add_string_value (b, p->type);
    json_builder_set_member_name (b, "supportsCancellation");
    json_builder_add_boolean_value (b, p->supports_cancellation);
    json_builder_set_member_name (b, "status");
    json_builder_add_string_value (b, p->status);
    if (p->warning[0] != '\0') {
      json_builder_set_member_name (b, "warning");
      json_builder_add_string_value (b, p->warning);
    }
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "warnings");
  json_builder_begin_array (b);
  for (guint i = 0; res->warnings[i] != NULL; i++)
    json_builder_add_string_value (b, res->warnings[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "correlationId");
  if (res->correlation_id[0] != '\0')
    json_builder_add_string_value (b, res->correlation_id);
  else
    json_builder_add_null_value (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static gboolean
is_provider_warning (const CancelResult *res, const char *warning)
{
  for (guint i = 0; i < res->providers->len; i++) {
    ProviderStatus *p = res->providers->pdata[i];
    if (strcmp (p->warning, warning) == 0)
      return TRUE;
  }
  return FALSE;
}

static void
print_result (AuraCtl *ctl, const char *job_id, const CancelResult *res)
{
  const char *const headers[] = {
    _("PROVIDER"), _("TYPE"), _("CANCELLABLE"), _("STATUS"), _("WARNING"),
  };
  g_autofree char *message = aura_ctl_sanitize (res->message);
  g_autofree char *status = aura_ctl_sanitize (res->current_status);
  gboolean other_warnings = FALSE;

  if (res->providers->len == 0) {
    g_print ("%s\n", _("No providers were registered for this job."));
  } else {
    g_autoptr(AuraCtlTable) table = aura_ctl_table_new (G_N_ELEMENTS (headers), headers);
    g_autofree char *text = NULL;

    for (guint i = 0; i < res->providers->len; i++) {
      ProviderStatus *p = res->providers->pdata[i];
      const char *cells[] = {
        p->name, p->type, p->supports_cancellation ? _("yes") : _("no"), p->status, p->warning,
      };
      aura_ctl_table_add (table, cells);
    }
    text = aura_ctl_table_render (table);
    g_print ("%s", text);
  }
  g_print ("\n");
  /* TRANSLATORS: job id, then its status (Canceled) */
  g_print (_("Job %s: %s"), job_id, status);
  g_print ("\n%s\n", message);
  g_print ("%s %s\n", _("Cleanup of completed stages scheduled:"),
           res->cleanup_scheduled ? _("yes") : _("no"));
  if (res->correlation_id[0] != '\0') {
    g_autofree char *correlation = aura_ctl_sanitize (res->correlation_id);
    g_print ("%s %s\n", _("Correlation id:"), correlation);
  }
  /* Warnings that the table does not show already. */
  for (guint i = 0; res->warnings[i] != NULL; i++) {
    g_autofree char *clean = NULL;
    if (is_provider_warning (res, res->warnings[i]))
      continue;
    if (!other_warnings)
      g_print ("%s\n", _("Warnings:"));
    other_warnings = TRUE;
    clean = aura_ctl_sanitize (res->warnings[i]);
    g_print ("  %s\n", clean);
  }
}

int
aura_ctl_cmd_cancel (AuraCtl *ctl, int argc, char **argv)
{
  g_autoptr(sd_bus_message) m = NULL, reply = NULL;
  g_auto(CancelResult) res = { 0 };
  sd_bus_error error = SD_BUS_ERROR_NULL;
  const char *job_id;
  int code, r;

  code = aura_ctl_parse_job_command (ctl, NULL, &argc, &argv);
  if (code >= 0)
    return code;
  job_id = argv[1];

  r = sd_bus_message_new_method_call (ctl->bus, &m, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                      AURA_INTERFACE, "CancelJob");
  if (r >= 0)
    r = sd_bus_message_append (m, "s", job_id);
  if (r >= 0)
    r = sd_bus_call (ctl->bus, m, CANCEL_CALL_TIMEOUT_US, &error, &reply);
  if (r < 0) {
    if (sd_bus_error_has_name (&error, SD_BUS_ERROR_NOT_SUPPORTED))
      code = aura_ctl_fail (AURA_CTL_EXIT_ERROR, _("this aura-progressd cannot cancel jobs: %s"),
                            error.message);
    else
      code = aura_ctl_fail_call (ctl, &error, r, job_id);
    sd_bus_error_free (&error);
    return code;
  }
  r = read_result (reply, &res);
  if (r < 0)
    return aura_ctl_fail (AURA_CTL_EXIT_ERROR, _("aura-progressd sent a malformed reply to %s"),
                          "CancelJob");
  if (ctl->json) {
    g_autoptr(JsonNode) node = result_to_json (job_id, &res);
    aura_ctl_print_json (node, TRUE);
  } else {
    print_result (ctl, job_id, &res);
  }
  return AURA_CTL_EXIT_OK;
}

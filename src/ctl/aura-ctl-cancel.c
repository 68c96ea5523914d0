/* SPDX-License-Identifier: MIT */
/* cancel: CancelJob, and what each provider answered. */
#include <glib/gi18n-lib.h>
#include <string.h>

#include "aura-bus-variant.h"
#include "aura-ctl-format.h"
#include "aura-ctl.h"
#include "aura-json.h"

/* A warning that the table shows already, in a provider's row. */
static gboolean
is_provider_warning (GVariant *providers, const char *warning)
{
  GVariantIter iter;
  const char *pwarning;

  g_variant_iter_init (&iter, providers);
  while (g_variant_iter_next (&iter, "(&s&sb&s&s)", NULL, NULL, NULL, NULL, &pwarning)) {
    if (strcmp (pwarning, warning) == 0)
      return TRUE;
  }
  return FALSE;
}

static void
print_result (AuraCtl *ctl, const char *job_id, GVariant *reply)
{
  const char *const headers[] = {
    _("PROVIDER"), _("TYPE"), _("CANCELLABLE"), _("STATUS"), _("WARNING"),
  };
  g_autoptr(GVariant) providers = g_variant_get_child_value (reply, 3);
  g_autofree const char **warnings = NULL;
  const char *status, *message, *correlation_id;
  g_autofree char *clean_message = NULL, *clean_status = NULL;
  gboolean cleanup, other_warnings = FALSE;

  g_variant_get (reply, "(&s&sb@a(ssbss)^a&s&s)", &status, &message, &cleanup, NULL, &warnings,
                 &correlation_id);
  if (g_variant_n_children (providers) == 0) {
    g_print ("%s\n", _("No providers were registered for this job."));
  } else {
    g_autoptr(AuraCtlTable) table = aura_ctl_table_new (G_N_ELEMENTS (headers), headers);
    g_autofree char *text = NULL;
    GVariantIter iter;
    const char *name, *type, *pstatus, *warning;
    gboolean supports;

    g_variant_iter_init (&iter, providers);
    while (g_variant_iter_next (&iter, "(&s&sb&s&s)", &name, &type, &supports, &pstatus,
                                &warning)) {
      const char *cells[] = { name, type, supports ? _("yes") : _("no"), pstatus, warning };
      aura_ctl_table_add (table, cells);
    }
    text = aura_ctl_table_render (table);
    g_print ("%s", text);
  }
  clean_message = aura_ctl_sanitize (message);
  clean_status = aura_ctl_sanitize (status);
  g_print ("\n");
  /* TRANSLATORS: job id, then its status (Canceled) */
  g_print (_("Job %s: %s"), job_id, clean_status);
  g_print ("\n%s\n", clean_message);
  g_print ("%s %s\n", _("Cleanup of completed stages scheduled:"),
           cleanup ? _("yes") : _("no"));
  if (correlation_id[0] != '\0') {
    g_autofree char *correlation = aura_ctl_sanitize (correlation_id);
    g_print ("%s %s\n", _("Correlation id:"), correlation);
  }
  /* Warnings that the table does not show already. */
  for (guint i = 0; warnings[i] != NULL; i++) {
    g_autofree char *clean = NULL;
    if (is_provider_warning (providers, warnings[i]))
      continue;
    if (!other_warnings)
      g_print ("%s\n", _("Warnings:"));
    other_warnings = TRUE;
    clean = aura_ctl_sanitize (warnings[i]);
    g_print ("  %s\n", clean);
  }
}

int
aura_ctl_cmd_cancel (AuraCtl *ctl, int argc, char **argv)
{
  g_autoptr(sd_bus_message) reply = NULL;
  g_autoptr(GVariant) body = NULL;
  const char *job_id;
  int code;

  code = aura_ctl_parse_job_command (ctl, NULL, &argc, &argv);
  if (code >= 0)
    return code;
  job_id = argv[1];

  code = aura_ctl_call (ctl, &reply, job_id, AURA_CANCEL_CALL_TIMEOUT_US, "CancelJob", "s",
                        job_id);
  if (code != 0)
    return code;
  if (aura_bus_message_read_body (reply, &body) < 0 ||
      !g_variant_is_of_type (body, G_VARIANT_TYPE (AURA_CANCEL_REPLY_TYPE)))
    return aura_ctl_fail (AURA_CTL_EXIT_ERROR, _("aura-progressd sent a malformed reply to %s"),
                          "CancelJob");
  if (ctl->json) {
    g_autoptr(JsonNode) node = aura_json_from_cancel_reply (job_id, body);
    aura_ctl_print_json (node, TRUE);
  } else {
    print_result (ctl, job_id, body);
  }
  return AURA_CTL_EXIT_OK;
}

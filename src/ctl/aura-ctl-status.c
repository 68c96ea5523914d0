/* SPDX-License-Identifier: MIT */
/* list and status: the current state, as a table or a description. */
#include <glib/gi18n-lib.h>
#include <string.h>

#include "aura-bus-variant.h"
#include "aura-ctl-format.h"
#include "aura-ctl.h"
#include "aura-json.h"
#include "aura-stage.h"

static const char *
lookup_str (GVariant *dict, const char *key)
{
  const char *v = NULL;

  g_variant_lookup (dict, key, "&s", &v);
  return v;
}

/* The job state as the web API shows it: absent optional values are null. */
static JsonNode *
state_to_json (GVariant *state)
{
  return aura_json_from_event_payload ("step-progress", state);
}

static char *
format_eta (GVariant *state)
{
  guint32 eta;

  if (g_strcmp0 (lookup_str (state, "status"), "Running") != 0)
    return NULL;
  if (!g_variant_lookup (state, "etaSeconds", "u", &eta))
    return g_strdup (_("unknown"));
  return aura_ctl_format_duration (eta);
}

int
aura_ctl_cmd_list (AuraCtl *ctl, int argc, char **argv)
{
  const char *const headers[] = {
    _("JOB"), _("STATUS"), _("STAGE"), _("PROGRESS"), _("ETA"), _("STARTED"), _("TITLE"),
  };
  g_autoptr(sd_bus_message) reply = NULL;
  g_autoptr(GVariant) jobs = NULL;
  g_autoptr(AuraCtlTable) table = NULL;
  g_autofree char *text = NULL;
  GVariantIter it;
  GVariant *state;
  int code;

  code = aura_ctl_parse_command (ctl, NULL, 0, 0, &argc, &argv);
  if (code >= 0)
    return code;
  code = aura_ctl_call (ctl, &reply, NULL, 0, "ListJobs", NULL);
  if (code != 0)
    return code;
  if (aura_bus_message_read_variant (reply, &jobs) <= 0 ||
      !g_variant_is_of_type (jobs, G_VARIANT_TYPE ("aa{sv}")))
    return aura_ctl_fail (AURA_CTL_EXIT_ERROR, _("aura-progressd sent a malformed reply to %s"),
                          "ListJobs");

  if (ctl->json) {
    g_autoptr(JsonArray) array = json_array_new ();
    g_autoptr(JsonNode) node = json_node_new (JSON_NODE_ARRAY);
    g_variant_iter_init (&it, jobs);
    while ((state = g_variant_iter_next_value (&it)) != NULL) {
      json_array_add_element (array, state_to_json (state));
      g_variant_unref (state);
    }
    json_node_set_array (node, array);
    aura_ctl_print_json (node, TRUE);
    return AURA_CTL_EXIT_OK;
  }

  if (g_variant_n_children (jobs) == 0) {
    g_print ("%s\n", _("No jobs."));
    return AURA_CTL_EXIT_OK;
  }
  table = aura_ctl_table_new (G_N_ELEMENTS (headers), headers);
  g_variant_iter_init (&it, jobs);
  while ((state = g_variant_iter_next_value (&it)) != NULL) {
    guint32 percent = 0;
    g_autofree char *progress = NULL, *eta = NULL, *started = NULL;
    const char *cells[7];

    g_variant_lookup (state, "percent", "u", &percent);
    progress = g_strdup_printf ("%u%%", percent);
    eta = format_eta (state);
    started = aura_ctl_format_clock (lookup_str (state, "startedAt"), FALSE);
    cells[0] = lookup_str (state, "jobId");
    cells[1] = lookup_str (state, "status");
    cells[2] = lookup_str (state, "stage");
    cells[3] = progress;
    cells[4] = eta;
    cells[5] = started;
    cells[6] = lookup_str (state, "title");
    aura_ctl_table_add (table, cells);
    g_variant_unref (state);
  }
  text = aura_ctl_table_render (table);
  g_print ("%s", text);
  return AURA_CTL_EXIT_OK;
}

/* ---- status ------------------------------------------------------------ */

typedef struct {
  GPtrArray *labels;
  GPtrArray *values;
} Fields;

static void
field (Fields *f, const char *label, char *value)
{
  if (value == NULL)
    return;
  g_ptr_array_add (f->labels, g_strdup (label));
  g_ptr_array_add (f->values, value);
}

static char *
join_strv (GVariant *state, const char *key, const char *separator)
{
  g_autofree const char **items = NULL;
  g_autoptr(GVariant) v = g_variant_lookup_value (state, key, G_VARIANT_TYPE_STRING_ARRAY);

  if (v == NULL || g_variant_n_children (v) == 0)
    return NULL;
  items = g_variant_get_strv (v, NULL);
  return g_strjoinv (separator, (char **) items);
}

/* One warning per line, each made safe for the terminal. */
static char *
describe_warnings (GVariant *state)
{
  g_autoptr(GVariant) warnings = g_variant_lookup_value (state, "warnings",
                                                         G_VARIANT_TYPE_STRING_ARRAY);
  GString *out;

  if (warnings == NULL || g_variant_n_children (warnings) == 0)
    return NULL;
  out = g_string_new (NULL);
  for (gsize i = 0; i < g_variant_n_children (warnings); i++) {
    const char *text = NULL;
    g_autofree char *clean = NULL;
    g_variant_get_child (warnings, i, "&s", &text);
    clean = aura_ctl_sanitize (text);
    g_string_append_printf (out, "%s%s", i > 0 ? "\n" : "", clean);
  }
  return g_string_free (out, FALSE);
}

static char *
describe_stage (GVariant *state)
{
  const char *stage = lookup_str (state, "stage");
  AuraStage s;

  if (!aura_stage_from_string (stage, &s))
    return g_strdup (stage);
  /* TRANSLATORS: stage name, its number, the number of stages, what it does */
  return g_strdup_printf (_("%s (%u of %u): %s"), stage, (guint) s + 1, (guint) AURA_STAGE_COUNT,
                          aura_stage_describe (s));
}

static char *
describe_eta (GVariant *state)
{
  guint32 eta;
  g_autofree char *d = NULL, *at = NULL;

  if (g_strcmp0 (lookup_str (state, "status"), "Running") != 0)
    return NULL;
  if (!g_variant_lookup (state, "etaSeconds", "u", &eta))
    return g_strdup (_("unknown (not enough progress yet)"));
  d = aura_ctl_format_duration (eta);
  at = aura_ctl_format_clock (lookup_str (state, "expectedEndTime"), FALSE);
  /* TRANSLATORS: the time left, then the time of day it ends */
  return g_strdup_printf (_("%s, at about %s"), d, at);
}

static char *
describe_items (GVariant *state)
{
  guint32 current, total;

  if (!g_variant_lookup (state, "currentItem", "u", &current) ||
      !g_variant_lookup (state, "totalItems", "u", &total))
    return NULL;
  return g_strdup_printf (_("%u of %u"), current, total);
}

static char *
optional (const char *value)
{
  return value != NULL && value[0] != '\0' ? aura_ctl_sanitize (value) : NULL;
}

static void
print_status (AuraCtl *ctl, GVariant *state)
{
  Fields f = { g_ptr_array_new_with_free_func (g_free), g_ptr_array_new_with_free_func (g_free) };
  g_autofree char *title = optional (lookup_str (state, "title"));
  g_autofree char *bar = NULL, *started = NULL;
  const char *finished = lookup_str (state, "finishedAt");
  double progress = 0;
  guint32 percent = 0, uid = 0;
  guint64 last_event = 0;
  guint width = 0;

  g_variant_lookup (state, "progress", "d", &progress);
  g_variant_lookup (state, "percent", "u", &percent);
  g_variant_lookup (state, "startedByUid", "u", &uid);
  g_variant_lookup (state, "lastEventId", "t", &last_event);
  bar = aura_ctl_format_bar (progress, 30, ctl->utf8);
  started = aura_ctl_format_clock (lookup_str (state, "startedAt"), TRUE);

  field (&f, _("Status"), optional (lookup_str (state, "status")));
  field (&f, _("Stage"), describe_stage (state));
  field (&f, _("Progress"), g_strdup_printf ("%s %u%%", bar, percent));
  field (&f, _("ETA"), describe_eta (state));
  field (&f, _("Message"), optional (lookup_str (state, "message")));
  field (&f, _("Detail"), optional (lookup_str (state, "substageDetail")));
  field (&f, _("Items"), describe_items (state));
  field (&f, _("Completed"), join_strv (state, "completedStages", ", "));
  field (&f, _("Warnings"), describe_warnings (state));
  /* TRANSLATORS: when the job started, and the user id that started it */
  field (&f, _("Started"), g_strdup_printf (_("%s by uid %u"), started, uid));
  field (&f, _("Finished"), finished != NULL ? aura_ctl_format_clock (finished, TRUE) : NULL);
  field (&f, _("Correlation"), optional (lookup_str (state, "correlationId")));
  field (&f, _("Last event"), g_strdup_printf ("#%" G_GUINT64_FORMAT, last_event));

  g_print ("%s%s%s\n", lookup_str (state, "jobId"), title != NULL ? " - " : "",
           title != NULL ? title : "");
  for (guint i = 0; i < f.labels->len; i++)
    width = MAX (width, aura_ctl_display_width (f.labels->pdata[i]));
  for (guint i = 0; i < f.labels->len; i++) {
    guint w = aura_ctl_display_width (f.labels->pdata[i]);
    g_auto(GStrv) lines = g_strsplit (f.values->pdata[i], "\n", -1);
    g_print ("%*s%s: %s\n", (int) (width - w + 2), "", (char *) f.labels->pdata[i], lines[0]);
    for (guint l = 1; lines[l] != NULL; l++)
      g_print ("%*s%s\n", (int) width + 4, "", lines[l]);
  }
  g_ptr_array_unref (f.labels);
  g_ptr_array_unref (f.values);
}

int
aura_ctl_cmd_status (AuraCtl *ctl, int argc, char **argv)
{
  g_autoptr(GVariant) state = NULL;
  int code;

  code = aura_ctl_parse_job_command (ctl, NULL, &argc, &argv);
  if (code >= 0)
    return code;
  state = aura_ctl_get_job (ctl, argv[1], &code);
  if (state == NULL)
    return code;
  if (ctl->json) {
    g_autoptr(JsonNode) node = state_to_json (state);
    aura_ctl_print_json (node, TRUE);
  } else {
    print_status (ctl, state);
  }
  return AURA_CTL_EXIT_OK;
}

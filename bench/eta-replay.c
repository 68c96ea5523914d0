/* SPDX-License-Identifier: MIT */
/*
 * eta-replay: scores the daemon's ETA against the seed's formula on recorded
 * or generated job traces.
 *
 * A trace is JSON Lines, one D-Bus call per line in time order:
 *   {"t": <seconds since the job started>, "call": "<method>", "args": [...]}
 * starting with StartJob and ending with CompleteJob (a{sv} arguments are JSON
 * objects). The traces are replayed in the order given, on simulated time,
 * through two job models that share one manual clock and receive exactly the
 * same calls: one with the daemon's estimator (which, as in the daemon, learns
 * from the jobs completed earlier in the run) and one with the seed's. After
 * every progress report made between 10 % and 90 % of a job's duration T,
 * both ETAs are read as clients see them (aura_model_job_eta) and scored:
 *
 *   error      |eta - (T - t)| / T        (an unknown ETA counts as 1)
 *   stability  |end - previous end| / T   between consecutive reports, where
 *              end = t + eta is the predicted end (1 when either is unknown)
 *   percent    |progress - t / T|         how far the bar is from the time
 *
 * Each figure is averaged per job, then over jobs, so that a job with many
 * FFmpeg reports counts as much as one with few.
 */
#include <math.h>
#include <stdlib.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "aura-error.h"
#include "aura-json.h"
#include "aura-model.h"

#define WINDOW_START 0.1
#define WINDOW_END 0.9
#define MAX_TRACE_BYTES (64 * 1024 * 1024)
/* Idle time between two jobs of the run. */
#define GAP_US (30 * G_USEC_PER_SEC)
#define REPLAY_UID 1000

static gboolean opt_details;

typedef struct {
  double t;
  char *call;
  JsonArray *args;
  guint line;
} Call;

static void
call_free (Call *c)
{
  g_free (c->call);
  json_array_unref (c->args);
  g_free (c);
}

typedef struct {
  char *path;
  char *job_id;
  GPtrArray *calls;                   /* Call */
  double duration;
} Trace;

static void
trace_free (Trace *tr)
{
  if (tr == NULL)
    return;
  g_free (tr->path);
  g_free (tr->job_id);
  g_ptr_array_unref (tr->calls);
  g_free (tr);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Trace, trace_free)

/* ---- reading ----------------------------------------------------------- */

static gboolean
fail (GError **error, const char *path, guint line, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static gboolean
fail (GError **error, const char *path, guint line, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS, "%s:%u: %s", path, line, msg);
  return FALSE;
}

static Trace *
trace_load (const char *path, GError **error)
{
  g_autoptr(Trace) tr = g_new0 (Trace, 1);
  g_autofree char *data = NULL;
  g_auto(GStrv) lines = NULL;
  gsize len;
  double last_t = 0;

  tr->path = g_strdup (path);
  tr->calls = g_ptr_array_new_with_free_func ((GDestroyNotify) call_free);
  if (!g_file_get_contents (path, &data, &len, error))
    return NULL;
  if (len > MAX_TRACE_BYTES) {
    fail (error, path, 0, "larger than %d bytes", MAX_TRACE_BYTES);
    return NULL;
  }
  lines = g_strsplit (data, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_autoptr(JsonParser) parser = json_parser_new ();
    g_autoptr(GError) local = NULL;
    JsonObject *obj;
    JsonNode *t, *call, *args, *id;
    Call *c;

    if (g_strstrip (lines[i])[0] == '\0')
      continue;
    if (!json_parser_load_from_data (parser, lines[i], -1, &local)) {
      fail (error, path, i + 1, "not JSON: %s", local->message);
      return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
      fail (error, path, i + 1, "expected an object {\"t\", \"call\", \"args\"}");
      return NULL;
    }
    obj = json_node_get_object (json_parser_get_root (parser));
    t = json_object_get_member (obj, "t");
    call = json_object_get_member (obj, "call");
    args = json_object_get_member (obj, "args");
    if (t == NULL || !JSON_NODE_HOLDS_VALUE (t) ||
        (json_node_get_value_type (t) != G_TYPE_DOUBLE &&
         json_node_get_value_type (t) != G_TYPE_INT64) ||
        !isfinite (json_node_get_double (t)) || json_node_get_double (t) < last_t ||
        json_node_get_double (t) > 1e8) {
      fail (error, path, i + 1, "\"t\" must be seconds since the job started, not decreasing");
      return NULL;
    }
    if (call == NULL || !JSON_NODE_HOLDS_VALUE (call) ||
        json_node_get_value_type (call) != G_TYPE_STRING) {
      fail (error, path, i + 1, "\"call\" must be a method name");
      return NULL;
    }
    if (args == NULL || !JSON_NODE_HOLDS_ARRAY (args) ||
        json_array_get_length (json_node_get_array (args)) == 0 ||
        !JSON_NODE_HOLDS_VALUE (id = json_array_get_element (json_node_get_array (args), 0)) ||
        json_node_get_value_type (id) != G_TYPE_STRING) {
      fail (error, path, i + 1, "\"args\" must be an array starting with the job id");
      return NULL;
    }
    if (tr->job_id == NULL)
      tr->job_id = g_strdup (json_node_get_string (id));
    else if (g_strcmp0 (tr->job_id, json_node_get_string (id)) != 0) {
      fail (error, path, i + 1, "a trace is one job: expected job id '%s'", tr->job_id);
      return NULL;
    }

    c = g_new0 (Call, 1);
    c->t = last_t = json_node_get_double (t);
    c->call = g_strdup (json_node_get_string (call));
    c->args = json_array_ref (json_node_get_array (args));
    c->line = i + 1;
    g_ptr_array_add (tr->calls, c);
  }
  if (tr->calls->len < 2 ||
      g_strcmp0 (((Call *) tr->calls->pdata[0])->call, "StartJob") != 0 ||
      g_strcmp0 (((Call *) tr->calls->pdata[tr->calls->len - 1])->call, "CompleteJob") != 0) {
    fail (error, path, 0, "a trace starts with StartJob and ends with CompleteJob");
    return NULL;
  }
  for (guint i = 1; i + 1 < tr->calls->len; i++) {
    Call *c = tr->calls->pdata[i];
    if (g_strcmp0 (c->call, "StartJob") == 0 || g_strcmp0 (c->call, "CompleteJob") == 0) {
      fail (error, path, c->line, "%s may only be the first or last call", c->call);
      return NULL;
    }
  }
  tr->duration = ((Call *) tr->calls->pdata[tr->calls->len - 1])->t -
                 ((Call *) tr->calls->pdata[0])->t;
  if (tr->duration <= 0) {
    fail (error, path, 0, "the job must take some time");
    return NULL;
  }
  return g_steal_pointer (&tr);
}

/* ---- arguments --------------------------------------------------------- */

typedef struct {
  const Call *call;
  const char *path;
  GError **error;
} Args;

static JsonNode *
arg (Args *a, guint i)
{
  return json_array_get_element (a->call->args, i);
}

static gboolean
arg_string (Args *a, guint i, const char **out)
{
  JsonNode *n = arg (a, i);

  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return fail (a->error, a->path, a->call->line, "%s: argument %u must be a string",
                 a->call->call, i + 1);
  *out = json_node_get_string (n);
  return TRUE;
}

static gboolean
arg_number (Args *a, guint i, double *out)
{
  JsonNode *n = arg (a, i);

  if (!JSON_NODE_HOLDS_VALUE (n) || (json_node_get_value_type (n) != G_TYPE_DOUBLE &&
                                     json_node_get_value_type (n) != G_TYPE_INT64))
    return fail (a->error, a->path, a->call->line, "%s: argument %u must be a number",
                 a->call->call, i + 1);
  *out = json_node_get_double (n);
  return TRUE;
}

static gboolean
arg_uint (Args *a, guint i, guint64 max, guint64 *out)
{
  JsonNode *n = arg (a, i);

  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64 ||
      json_node_get_int (n) < 0 || (guint64) json_node_get_int (n) > max)
    return fail (a->error, a->path, a->call->line,
                 "%s: argument %u must be a whole number from 0 to %" G_GUINT64_FORMAT,
                 a->call->call, i + 1, max);
  *out = (guint64) json_node_get_int (n);
  return TRUE;
}

static gboolean
arg_u32 (Args *a, guint i, guint32 *out)
{
  guint64 v;

  if (!arg_uint (a, i, G_MAXUINT32, &v))
    return FALSE;
  *out = (guint32) v;
  return TRUE;
}

static gboolean
arg_dict (Args *a, guint i, GVariant **out)
{
  g_autoptr(GError) local = NULL;

  *out = aura_json_to_vardict (arg (a, i), &local);
  if (*out == NULL)
    return fail (a->error, a->path, a->call->line, "%s: argument %u: %s", a->call->call, i + 1,
                 local->message);
  g_variant_ref_sink (*out);
  return TRUE;
}

/* The calls a trace may contain, with their D-Bus signatures; reports are
 * the calls after which the ETA is scored. */
static const struct {
  const char *name;
  const char *signature;
  gboolean report;
} methods[] = {
  { "StartJob", "sa{sv}", FALSE },
  { "ReportProgress", "ssda{sv}", TRUE },
  { "ReportFFmpegProgress", "sttdds", TRUE },
  { "ReportTtsProgress", "suuss", TRUE },
  { "ReportLlmProgress", "ssuus", TRUE },
  { "ReportVisualProgress", "suuss", TRUE },
  { "AddWarning", "ss", FALSE },
  { "MarkStageCompleted", "ss", TRUE },
  { "CompleteJob", "s", FALSE },
};

static int
find_method (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (methods); i++) {
    if (g_strcmp0 (methods[i].name, name) == 0)
      return (int) i;
  }
  return -1;
}

static guint
signature_args (const char *sig)
{
  guint n = 0;

  for (const char *p = sig; *p != '\0'; p++) {
    if (*p == 'a')
      p += 4;                         /* a{sv} */
    n++;
  }
  return n;
}

/* Applies one call to a model; the job id was checked when loading. */
static gboolean
apply (AuraModel *model, const char *path, const Call *c, GError **error)
{
  Args a = { c, path, error };
  int m = find_method (c->call);
  g_autoptr(GError) local = NULL;
  g_autoptr(GVariant) dict = NULL;
  const char *id = NULL, *s1 = NULL, *s2 = NULL;
  guint32 u1 = 0, u2 = 0;
  guint64 t1 = 0, t2 = 0;
  double d1 = 0, d2 = 0;
  gboolean ok = FALSE;

  if (m < 0)
    return fail (error, path, c->line, "unknown call '%s'; traces may contain StartJob, "
                 "ReportProgress, ReportFFmpegProgress, ReportTtsProgress, ReportLlmProgress, "
                 "ReportVisualProgress, AddWarning, MarkStageCompleted, CompleteJob", c->call);
  if (json_array_get_length (c->args) != signature_args (methods[m].signature))
    return fail (error, path, c->line, "%s takes %u arguments (%s)", c->call,
                 signature_args (methods[m].signature), methods[m].signature);
  arg_string (&a, 0, &id);

  switch (m) {
  case 0:
    ok = arg_dict (&a, 1, &dict) &&
         aura_model_start_job (model, id, dict, REPLAY_UID, &local) != NULL;
    break;
  case 1:
    ok = arg_string (&a, 1, &s1) && arg_number (&a, 2, &d1) && arg_dict (&a, 3, &dict) &&
         aura_model_report_progress (model, id, s1, d1, dict, &local);
    break;
  case 2:
    ok = arg_uint (&a, 1, G_MAXUINT64, &t1) && arg_uint (&a, 2, G_MAXUINT64, &t2) &&
         arg_number (&a, 3, &d1) && arg_number (&a, 4, &d2) && arg_string (&a, 5, &s1) &&
         aura_model_report_ffmpeg (model, id, t1, t2, d1, d2, s1, &local);
    break;
  case 3:
  case 5:
    ok = arg_u32 (&a, 1, &u1) && arg_u32 (&a, 2, &u2) && arg_string (&a, 3, &s1) &&
         arg_string (&a, 4, &s2) &&
         (m == 3 ? aura_model_report_tts (model, id, u1, u2, s1, s2, &local)
                 : aura_model_report_visual (model, id, u1, u2, s1, s2, &local));
    break;
  case 4:
    ok = arg_string (&a, 1, &s1) && arg_u32 (&a, 2, &u1) && arg_u32 (&a, 3, &u2) &&
         arg_string (&a, 4, &s2) &&
         aura_model_report_llm (model, id, s1, u1, u2, s2, &local);
    break;
  case 6:
    ok = arg_string (&a, 1, &s1) && aura_model_add_warning (model, id, s1, &local);
    break;
  case 7:
    ok = arg_string (&a, 1, &s1) && aura_model_mark_stage_completed (model, id, s1, &local);
    break;
  case 8:
    ok = aura_model_complete_job (model, id, &local);
    break;
  default:
    g_assert_not_reached ();
  }
  if (!ok && local != NULL)
    return fail (error, path, c->line, "%s rejected: %s", c->call, local->message);
  return ok;
}

/* ---- scoring ----------------------------------------------------------- */

typedef struct {
  const char *name;
  AuraModel *model;
  /* per job */
  double err_sum, jump_sum, pct_sum;
  guint n_jumps;
  gboolean have_prev;
  gboolean prev_known;
  double prev_end;
  /* over jobs */
  double err_total, jump_total, pct_total;
  guint jobs, jump_jobs;
} Side;

static void
side_job_reset (Side *side)
{
  side->err_sum = side->jump_sum = side->pct_sum = 0;
  side->n_jumps = 0;
  side->have_prev = FALSE;
}

static void
side_score (Side *side, const char *job_id, double t, double T)
{
  AuraJob *job = aura_model_lookup (side->model, job_id);
  gboolean known;
  guint32 eta = 0;
  gint64 end_real;
  double end;

  known = aura_model_job_eta (side->model, job, &eta, &end_real);
  end = t + eta;
  side->err_sum += known ? fabs (eta - (T - t)) / T : 1;
  if (side->have_prev) {
    side->jump_sum += known && side->prev_known ? fabs (end - side->prev_end) / T : 1;
    side->n_jumps++;
  }
  side->have_prev = TRUE;
  side->prev_known = known;
  side->prev_end = end;
  side->pct_sum += fabs (job->progress - t / T);
}

/* One line per call: what each side predicts and the truth. */
static void
print_details (Trace *tr, const Call *c, double t, Side *sides, guint n_sides)
{
  AuraJob *job = aura_model_lookup (sides[0].model, tr->job_id);

  g_print ("  t=%8.1f %-9s %5.1f%% left=%7.1f", t, aura_stage_to_string (job->stage),
           job->progress * 100, tr->duration - t);
  for (guint s = 0; s < n_sides; s++) {
    guint32 eta;
    gint64 end;
    job = aura_model_lookup (sides[s].model, tr->job_id);
    if (aura_model_job_eta (sides[s].model, job, &eta, &end))
      g_print (" %s=%7u", sides[s].name, eta);
    else
      g_print (" %s=      -", sides[s].name);
  }
  g_print ("  %s\n", c->call);
}

static double
mean (double sum, guint n)
{
  return n > 0 ? sum / n : 0;
}

static AuraModel *
new_model (const AuraConfig *config, AuraClock *clock, AuraEstimator *estimator)
{
  return aura_model_new (config, clock, aura_event_store_new_memory (config->max_history,
                                                                      config->max_job_history),
                         aura_event_seq_new (NULL, NULL), estimator);
}

static gboolean
replay (Trace *tr, AuraClock *clock, Side *sides, guint n_sides, GError **error)
{
  gint64 start = aura_clock_monotonic (clock);
  double t0 = ((Call *) tr->calls->pdata[0])->t;
  guint n = 0;
  g_autofree char *name = g_path_get_basename (tr->path);

  for (guint s = 0; s < n_sides; s++)
    side_job_reset (&sides[s]);
  for (guint i = 0; i < tr->calls->len; i++) {
    const Call *c = tr->calls->pdata[i];
    double t = c->t - t0;
    gint64 at = start + (gint64) llround (t * G_USEC_PER_SEC);

    if (at > aura_clock_monotonic (clock))
      aura_clock_advance (clock, at - aura_clock_monotonic (clock));
    for (guint s = 0; s < n_sides; s++) {
      aura_model_dispatch (sides[s].model);
      if (!apply (sides[s].model, tr->path, c, error))
        return FALSE;
    }
    if (methods[find_method (c->call)].report &&
        t >= WINDOW_START * tr->duration && t <= WINDOW_END * tr->duration) {
      for (guint s = 0; s < n_sides; s++)
        side_score (&sides[s], tr->job_id, t, tr->duration);
      n++;
    }
    if (opt_details)
      print_details (tr, c, t, sides, n_sides);
  }

  g_print ("%s: T=%.0fs reports=%u", name, tr->duration, n);
  if (n == 0) {
    g_print (" (none between 10 %% and 90 %%, not scored)\n");
  } else {
    g_print (" eta_error ours=%.4f seed=%.4f stability ours=%.4f seed=%.4f "
             "percent_vs_time ours=%.4f seed=%.4f\n",
             mean (sides[0].err_sum, n), mean (sides[1].err_sum, n),
             mean (sides[0].jump_sum, sides[0].n_jumps), mean (sides[1].jump_sum, sides[1].n_jumps),
             mean (sides[0].pct_sum, n), mean (sides[1].pct_sum, n));
    for (guint s = 0; s < n_sides; s++) {
      Side *side = &sides[s];
      side->err_total += mean (side->err_sum, n);
      side->pct_total += mean (side->pct_sum, n);
      side->jobs++;
      if (side->n_jumps > 0) {
        side->jump_total += mean (side->jump_sum, side->n_jumps);
        side->jump_jobs++;
      }
    }
  }

  /* Idle until the next job; retention 0 retires this one. */
  aura_clock_advance (clock, GAP_US);
  for (guint s = 0; s < n_sides; s++)
    aura_model_dispatch (sides[s].model);
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_autofree char *history = NULL;
  g_auto(GStrv) traces = NULL;
  gboolean learned_weights = FALSE;
  const GOptionEntry entries[] = {
    { "learned-weights", 0, 0, G_OPTION_ARG_NONE, &learned_weights,
      "Give our model [Weights] Learned=true (the seed keeps the default weights)", NULL },
    { "details", 0, 0, G_OPTION_ARG_NONE, &opt_details,
      "Print every call with the ETAs and the true remaining time", NULL },
    { "history", 0, 0, G_OPTION_ARG_FILENAME, &history,
      "Learned durations to start from and to update, as the daemon's state file", "FILE" },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &traces, NULL, "TRACE..." },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- score the ETA on job traces");
  g_autoptr(GError) error = NULL;
  g_autoptr(AuraClock) clock = NULL;
  AuraConfig config_ours, config_seed;
  Side sides[2] = { { .name = "ours" }, { .name = "seed" } };
  int status = 0;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_summary (ctx, "Replays job traces (JSON Lines, one D-Bus call per line) "
                                "on simulated time and compares the daemon's ETA with the "
                                "seed's formula.");
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("eta-replay: %s\n", error->message);
    return 2;
  }
  if (traces == NULL || traces[0] == NULL) {
    g_printerr ("eta-replay: give one or more trace files\n");
    return 2;
  }

  /* Finished jobs retire at once, so that a run may hold any number of jobs
   * (and the same trace twice). */
  aura_config_init (&config_ours);
  config_ours.retention_us = 0;
  config_ours.learned_weights = learned_weights;
  aura_config_init (&config_seed);
  config_seed.retention_us = 0;

  clock = aura_clock_new_manual (G_USEC_PER_SEC, G_GINT64_CONSTANT (1795000000) * G_USEC_PER_SEC);
  sides[0].model = new_model (&config_ours, clock, aura_estimator_new_learned (history));
  sides[1].model = new_model (&config_seed, clock, aura_estimator_new_seed ());

  for (guint i = 0; traces[i] != NULL; i++) {
    g_autoptr(Trace) tr = trace_load (traces[i], &error);
    if (tr == NULL || !replay (tr, clock, sides, G_N_ELEMENTS (sides), &error)) {
      g_printerr ("eta-replay: %s\n", error->message);
      status = 1;
      break;
    }
  }

  if (status == 0) {
    if (sides[0].jobs == 0) {
      g_printerr ("eta-replay: no job had reports between 10 %% and 90 %% of its duration\n");
      status = 1;
    } else {
      g_print ("jobs=%u percent_vs_time ours=%.4f seed=%.4f\n", sides[0].jobs,
               mean (sides[0].pct_total, sides[0].jobs), mean (sides[1].pct_total, sides[1].jobs));
      g_print ("eta_error ours=%.4f seed=%.4f stability ours=%.4f seed=%.4f\n",
               mean (sides[0].err_total, sides[0].jobs), mean (sides[1].err_total, sides[1].jobs),
               mean (sides[0].jump_total, sides[0].jump_jobs),
               mean (sides[1].jump_total, sides[1].jump_jobs));
    }
  }
  for (guint s = 0; s < G_N_ELEMENTS (sides); s++)
    aura_model_free (sides[s].model);
  aura_config_clear (&config_ours);
  aura_config_clear (&config_seed);
  return status;
}

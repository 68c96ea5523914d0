/* SPDX-License-Identifier: MIT */
/* aura-demo: a simulated video pipeline that drives real jobs through
 * aura-progressd with the provider client library only, as a real pipeline
 * would: it starts a job, engages each provider when its part begins (an
 * LLM that cannot be cancelled for the whole job; a TTS engine, an image
 * generator and FFmpeg, which can, for their stages), reports through the
 * four provider mappers, marks stages completed, warns now and then, and
 * completes or fails the job. When the job is cancelled, it stops. */
#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "aura-demo-plan.h"
#include "aura-i18n.h"
#include "aura-provider.h"

#define MAX_JOBS 64
/* Derived job ids (ID-1, ID-2, ...) must stay within the daemon's 128. */
#define MAX_JOB_ID_PREFIX 120
/* In --loop mode, the pause between one job's end and the next one's start
 * (at speed 1): long enough to see the end in a browser. */
#define RESTART_PAUSE_MS 3000

typedef struct _Demo Demo;

typedef enum {
  JOB_RUNNING,                        /* also while it stalls */
  JOB_COMPLETED,
  JOB_FAILED,                         /* as asked with --fail-at */
  JOB_CANCELLED,
  JOB_ENDED_ELSEWHERE,                /* someone else completed or failed it */
  JOB_ERROR,                          /* the daemon refused something */
} JobEnd;

typedef struct {
  Demo *demo;
  char *id;
  char *correlation_id;
  guint64 seed;
  GPtrArray *plan;                    /* AuraDemoStep */
  guint next;
  guint timer_id;
  guint end_id;
  AuraProvider *providers[AURA_DEMO_N_PROVIDERS];   /* the engaged ones */
  gulong cancel_handlers[AURA_DEMO_N_PROVIDERS];
  guint32 stopped;                    /* bit per provider that was told to stop */
  AuraStage stage;
  gint64 started;
  JobEnd end;
  char *end_message;
} DemoJob;

struct _Demo {
  AuraClient *client;
  GMainLoop *loop;
  char *job_id;
  double speed;
  guint n_jobs;
  AuraDemoEnd end;
  AuraStage end_stage;
  guint64 seed;
  gboolean loop_forever;

  GPtrArray *jobs;                    /* DemoJob, running */
  guint n_started;
  guint watch_id;
  guint restart_id;
  gboolean stopping;
  int exit_code;
};

static void job_schedule_next (DemoJob *job);
static void demo_start_jobs (Demo *demo);

static void
say (const char *format, ...) G_GNUC_PRINTF (1, 2);

static void
say (const char *format, ...)
{
  g_autofree char *text = NULL;
  va_list ap;

  va_start (ap, format);
  text = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_print ("%s\n", text);
  /* whoever reads a pipe (a script, a test) sees each line when it happens */
  fflush (stdout);
}

static char *
format_duration (double seconds)
{
  guint s = (guint) MAX (round (seconds), 0);

  if (s < 60)
    return g_strdup_printf (_("%u s"), s);
  return g_strdup_printf (_("%u min %u s"), s / 60, s % 60);
}

static guint
scaled (Demo *demo, guint ms)
{
  return (guint) MIN (ms / demo->speed, (double) G_MAXUINT);
}

/* ---- providers ----------------------------------------------------------- */

static void
on_provider_cancelled (GCancellable *cancellable, gpointer user_data);

static void
provider_drop (DemoJob *job, AuraDemoProvider which)
{
  AuraProvider *provider = g_steal_pointer (&job->providers[which]);

  if (job->cancel_handlers[which] != 0)
    g_cancellable_disconnect (aura_provider_get_cancellable (provider),
                              job->cancel_handlers[which]);
  job->cancel_handlers[which] = 0;
  aura_provider_unref (provider);
}

/* Registers the provider with the job; a cancellable one stops the job
 * when the daemon cancels it. */
static gboolean
provider_engage (DemoJob *job, AuraDemoProvider which, GError **error)
{
  const AuraDemoProviderInfo *info = aura_demo_provider_info (which);
  AuraProvider *provider;

  provider = aura_client_register_provider (job->demo->client, job->id, info->name, info->type,
                                            info->supports_cancellation, error);
  if (provider == NULL)
    return FALSE;
  job->providers[which] = provider;
  if (info->supports_cancellation)
    job->cancel_handlers[which] = g_cancellable_connect (aura_provider_get_cancellable (provider),
                                                         G_CALLBACK (on_provider_cancelled), job,
                                                         NULL);
  return TRUE;
}

/* Its part is done: it tells the daemon, which no longer lists it. */
static gboolean
provider_release (DemoJob *job, AuraDemoProvider which, GError **error)
{
  gboolean ok = aura_provider_unregister (job->providers[which], error);

  provider_drop (job, which);
  return ok;
}

static char *
stopped_providers (DemoJob *job)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();

  for (guint i = 0; i < AURA_DEMO_N_PROVIDERS; i++) {
    if (job->stopped & (1u << i))
      g_ptr_array_add (names, (gpointer) aura_demo_provider_info (i)->name);
  }
  if (names->len == 0)
    return g_strdup (_("none (no provider that can stop was at work)"));
  g_ptr_array_add (names, NULL);
  return g_strjoinv (", ", (char **) names->pdata);
}

/* ---- a job's end --------------------------------------------------------- */

static void
job_free (DemoJob *job)
{
  if (job->timer_id != 0)
    g_source_remove (job->timer_id);
  if (job->end_id != 0)
    g_source_remove (job->end_id);
  /* Providers still engaged are unregistered without waiting (the daemon
   * releases them anyway once the job has ended). */
  for (guint i = 0; i < AURA_DEMO_N_PROVIDERS; i++) {
    if (job->providers[i] != NULL)
      provider_drop (job, i);
  }
  g_ptr_array_unref (job->plan);
  g_free (job->id);
  g_free (job->correlation_id);
  g_free (job->end_message);
  g_free (job);
}

static char *
rollback_markers (DemoJob *job)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) stages = aura_client_get_rollback_stages (job->demo->client, job->id, &error);

  if (stages == NULL)
    return g_strdup_printf (_("unknown (%s)"), error->message);
  if (stages[0] == NULL)
    return g_strdup (_("none"));
  return g_strjoinv (", ", stages);
}

static gboolean
on_restart (gpointer user_data)
{
  Demo *demo = user_data;

  demo->restart_id = 0;
  demo_start_jobs (demo);
  return G_SOURCE_REMOVE;
}

/* Runs from the main loop, never inside a callback of the client library:
 * it makes calls and drops providers. */
static gboolean
job_finish (gpointer user_data)
{
  DemoJob *job = user_data;
  Demo *demo = job->demo;
  g_autofree char *took = format_duration ((g_get_monotonic_time () - job->started) / 1e6);
  const char *stage = aura_stage_to_string (job->stage);

  job->end_id = 0;
  switch (job->end) {
  case JOB_COMPLETED:
    say (_("%s: completed in %s"), job->id, took);
    break;
  case JOB_FAILED: {
    g_autofree char *markers = rollback_markers (job);
    say (_("%s: failed in %s after %s, as asked: %s; rollback markers: %s"), job->id, stage,
         took, job->end_message, markers);
    break;
  }
  case JOB_CANCELLED: {
    g_autofree char *markers = rollback_markers (job);
    g_autofree char *stopped = stopped_providers (job);
    say (_("%s: cancelled in %s after %s; stopped: %s; rollback markers: %s"), job->id, stage,
         took, stopped, markers);
    break;
  }
  case JOB_ENDED_ELSEWHERE:
    say (_("%s: ended by someone else in %s after %s: %s"), job->id, stage, took,
         job->end_message);
    break;
  case JOB_ERROR:
  case JOB_RUNNING:
  default:
    g_printerr ("aura-demo: %s: %s\n", job->id, job->end_message);
    demo->exit_code = 1;
    break;
  }
  g_ptr_array_remove (demo->jobs, job);

  if (demo->stopping)
    return G_SOURCE_REMOVE;
  if (demo->loop_forever && demo->exit_code == 0) {
    if (demo->restart_id == 0)
      demo->restart_id = g_timeout_add (scaled (demo, RESTART_PAUSE_MS), on_restart, demo);
  } else if (demo->jobs->len == 0) {
    g_main_loop_quit (demo->loop);
  }
  return G_SOURCE_REMOVE;
}

/* The job stops doing anything now; what is left is done from the main loop
 * (this may run inside a callback of the client library). */
static void
job_end (DemoJob *job, JobEnd end, const char *message)
{
  if (job->end != JOB_RUNNING)
    return;
  job->end = end;
  job->end_message = g_strdup (message);
  if (job->timer_id != 0)
    g_source_remove (job->timer_id);
  job->timer_id = 0;
  job->end_id = g_idle_add (job_finish, job);
}

/* What the daemon's refusal of a call means for the job. */
static void
job_call_failed (DemoJob *job, const char *what, const GError *error)
{
  g_autofree char *message = NULL;

  /* It was cancelled or ended some other way while the call was on its way;
   * JobFinished says how. */
  if (g_error_matches (error, AURA_ERROR, AURA_ERROR_NOT_RUNNING))
    return;
  message = g_strdup_printf (_("%s failed: %s"), what, error->message);
  job_end (job, JOB_ERROR, message);
}

static DemoJob *
demo_find_job (Demo *demo, const char *job_id)
{
  for (guint i = 0; i < demo->jobs->len; i++) {
    DemoJob *job = demo->jobs->pdata[i];
    if (strcmp (job->id, job_id) == 0)
      return job;
  }
  return NULL;
}

/* ---- cancellation ------------------------------------------------------- */

/* The daemon cancelled a provider that can stop: its cancellable fired. */
static void
on_provider_cancelled (GCancellable *cancellable, gpointer user_data)
{
  DemoJob *job = user_data;

  for (guint i = 0; i < AURA_DEMO_N_PROVIDERS; i++) {
    if (job->providers[i] != NULL && aura_provider_get_cancellable (job->providers[i]) == cancellable)
      job->stopped |= 1u << i;
  }
  /* Stop at once: no more reports once a provider was told to stop. */
  job_end (job, JOB_CANCELLED, NULL);
}

/* A job ended. When only the LLM was at work, which cannot be cancelled,
 * this is how the pipeline learns that its job was cancelled. */
static void
on_job_finished (AuraClient *client, const char *job_id, guint64 event_id, const char *status,
                 const char *message, gpointer user_data)
{
  DemoJob *job = demo_find_job (user_data, job_id);

  if (job == NULL)
    return;
  if (strcmp (status, "Canceled") == 0) {
    job_end (job, JOB_CANCELLED, NULL);
  } else {
    g_autofree char *what = g_strdup_printf ("%s: %s", status, message);
    job_end (job, JOB_ENDED_ELSEWHERE, what);
  }
}

/* ---- the steps ---------------------------------------------------------- */

/* Does one step; returns FALSE with @error when the daemon refused it, and
 * sets *what to the call. */
static gboolean
run_step (DemoJob *job, AuraDemoStep *step, const char **what, GError **error)
{
  AuraClient *client = job->demo->client;
  const char *corr = job->correlation_id;
  const char *stage = aura_stage_to_string (step->stage);

  job->stage = step->stage;
  switch (step->kind) {
  case AURA_DEMO_STEP_ENGAGE:
    *what = "RegisterProvider";
    return provider_engage (job, step->provider, error);
  case AURA_DEMO_STEP_RELEASE:
    *what = "UnregisterProvider";
    return provider_release (job, step->provider, error);
  case AURA_DEMO_STEP_LLM:
    *what = "ReportLlmProgress";
    return aura_client_report_llm (client, job->id, step->phase, step->current, step->total, corr,
                                   error);
  case AURA_DEMO_STEP_TTS:
    *what = "ReportTtsProgress";
    return aura_client_report_tts (client, job->id, step->current, step->total,
                                   AURA_DEMO_TTS_PROVIDER, corr, error);
  case AURA_DEMO_STEP_VISUAL:
    *what = "ReportVisualProgress";
    return aura_client_report_visual (client, job->id, step->current, step->total,
                                      AURA_DEMO_IMAGE_PROVIDER, corr, error);
  case AURA_DEMO_STEP_PROGRESS: {
    GVariantBuilder b;
    g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&b, "{sv}", "message", g_variant_new_string (step->text));
    g_variant_builder_add (&b, "{sv}", "substageDetail", g_variant_new_string (step->detail));
    g_variant_builder_add (&b, "{sv}", "correlationId", g_variant_new_string (corr));
    *what = "ReportProgress";
    return aura_client_report_progress_full (client, job->id, stage, step->percent,
                                             g_variant_builder_end (&b), error);
  }
  case AURA_DEMO_STEP_FFMPEG:
    *what = "ReportFFmpegProgress";
    return aura_client_report_ffmpeg (client, job->id, step->frame, step->total_frames, step->fps,
                                      step->time_seconds, corr, error);
  case AURA_DEMO_STEP_WARNING:
    *what = "AddWarning";
    return aura_client_add_warning (client, job->id, step->text, error);
  case AURA_DEMO_STEP_STAGE_DONE:
    *what = "MarkStageCompleted";
    return aura_client_mark_stage_completed (client, job->id, stage, error);
  case AURA_DEMO_STEP_COMPLETE:
    *what = "CompleteJob";
    if (!aura_client_complete_job (client, job->id, error))
      return FALSE;
    job_end (job, JOB_COMPLETED, NULL);
    return TRUE;
  case AURA_DEMO_STEP_FAIL:
    *what = "FailJob";
    if (!aura_client_fail_job (client, job->id, step->text, error))
      return FALSE;
    job_end (job, JOB_FAILED, step->text);
    return TRUE;
  case AURA_DEMO_STEP_STALL:
    /* Nothing more happens until someone cancels the job (or Ctrl-C). */
    say (_("%s: stalled in %s, as asked: %s; cancel it with: aura-progressctl cancel %s"),
         job->id, stage, step->text, job->id);
    return TRUE;
  default:
    g_assert_not_reached ();
  }
}

static gboolean
on_step (gpointer user_data)
{
  DemoJob *job = user_data;
  g_autoptr(GError) error = NULL;
  const char *what = NULL;

  job->timer_id = 0;
  if (!run_step (job, job->plan->pdata[job->next++], &what, &error))
    job_call_failed (job, what, error);
  /* A step can end the job, or learn that it ended: it then stops here. */
  if (job->end == JOB_RUNNING)
    job_schedule_next (job);
  return G_SOURCE_REMOVE;
}

static void
job_schedule_next (DemoJob *job)
{
  AuraDemoStep *step;

  if (job->next >= job->plan->len)
    return;
  step = job->plan->pdata[job->next];
  job->timer_id = g_timeout_add (scaled (job->demo, step->delay_ms), on_step, job);
}

/* ---- starting jobs ------------------------------------------------------ */

static char *
next_job_id (Demo *demo)
{
  guint n = ++demo->n_started;

  if (demo->n_jobs == 1 && !demo->loop_forever)
    return g_strdup (demo->job_id);
  return g_strdup_printf ("%s-%u", demo->job_id, n);
}

static gboolean
demo_start_job (Demo *demo, GError **error)
{
  DemoJob *job = g_new0 (DemoJob, 1);
  g_autofree char *title = NULL, *about = NULL;

  job->demo = demo;
  job->id = next_job_id (demo);
  job->seed = demo->seed + demo->n_started - 1;
  job->correlation_id = g_strdup_printf ("demo-%" G_GUINT64_FORMAT, job->seed);
  job->plan = aura_demo_plan_new (job->seed, demo->end, demo->end_stage);
  job->started = g_get_monotonic_time ();
  /* the title tells, in a list or in a browser, which jobs will not complete */
  if (demo->end == AURA_DEMO_END_STALL)
    title = g_strdup_printf (_("Demo video %u (hangs in %s)"), demo->n_started,
                             aura_stage_to_string (demo->end_stage));
  else if (demo->end == AURA_DEMO_END_FAIL)
    title = g_strdup_printf (_("Demo video %u (fails in %s)"), demo->n_started,
                             aura_stage_to_string (demo->end_stage));
  else
    title = g_strdup_printf (_("Demo video %u"), demo->n_started);

  if (!aura_client_start_job (demo->client, job->id, title, job->correlation_id, error)) {
    /* the daemon's own refusals say what is wrong; the bus's do not say
     * what to do */
    if (g_error_matches (*error, AURA_ERROR, AURA_ERROR_FAILED))
      g_prefix_error (error, _("cannot start job %s (is aura-progressd running on that bus?): "),
                      job->id);
    else
      g_prefix_error (error, _("cannot start job %s: "), job->id);
    job_free (job);
    return FALSE;
  }
  g_ptr_array_add (demo->jobs, job);
  about = format_duration (aura_demo_plan_duration_ms (job->plan) / 1000.0 / demo->speed);
  say (_("%s: started (seed %llu, about %s)"), job->id, (unsigned long long) job->seed, about);
  job_schedule_next (job);
  return TRUE;
}

static void
demo_start_jobs (Demo *demo)
{
  g_autoptr(GError) error = NULL;

  while (demo->jobs->len < demo->n_jobs && !demo->stopping) {
    if (!demo_start_job (demo, &error)) {
      g_printerr ("aura-demo: %s\n", error->message);
      demo->exit_code = 1;
      if (demo->jobs->len == 0)
        g_main_loop_quit (demo->loop);
      return;
    }
  }
}

/* Reports are pipelined: the daemon's refusal arrives here. */
static void
on_report_error (AuraClient *client, const char *method, const char *job_id, const GError *error,
                 gpointer user_data)
{
  DemoJob *job = demo_find_job (user_data, job_id);

  if (job != NULL)
    job_call_failed (job, method, error);
}

/* Ctrl-C: the jobs still running fail with a reason, so that nobody waits
 * for them. */
static gboolean
on_quit_signal (gpointer user_data)
{
  Demo *demo = user_data;

  if (demo->stopping)
    return G_SOURCE_CONTINUE;
  demo->stopping = TRUE;
  for (guint i = 0; i < demo->jobs->len; i++) {
    DemoJob *job = demo->jobs->pdata[i];
    if (job->end == JOB_RUNNING)
      aura_client_fail_job (demo->client, job->id, _("The demo pipeline was stopped"), NULL);
  }
  g_main_loop_quit (demo->loop);
  return G_SOURCE_CONTINUE;
}

/* ---- options ------------------------------------------------------------ */

static gboolean
parse_end_stage (Demo *demo, AuraDemoEnd end, const char *option_name, const char *value,
                 GError **error)
{
  if (demo->end != AURA_DEMO_END_COMPLETE) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 _("use only one of --fail-at and --stall-at"));
    return FALSE;
  }
  if (!aura_stage_from_string (value, &demo->end_stage)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 _("invalid %s '%s': a stage is one of %s"), option_name, value,
                 aura_stage_list ());
    return FALSE;
  }
  demo->end = end;
  return TRUE;
}

static gboolean
parse_fail_at (const char *option_name, const char *value, gpointer data, GError **error)
{
  return parse_end_stage (data, AURA_DEMO_END_FAIL, option_name, value, error);
}

static gboolean
parse_stall_at (const char *option_name, const char *value, gpointer data, GError **error)
{
  return parse_end_stage (data, AURA_DEMO_END_STALL, option_name, value, error);
}

static int
usage_error (const char *message)
{
  g_printerr ("aura-demo: %s\n", message);
  return 2;
}

static int
run (Demo *demo, int argc, char **argv)
{
  g_autofree char *address = NULL, *seed = NULL;
  gboolean system = FALSE, session = FALSE;
  int jobs = 1;
  const GOptionEntry entries[] = {
    { "system", 0, 0, G_OPTION_ARG_NONE, &system, N_("Use the system bus (the default)"), NULL },
    { "session", 0, 0, G_OPTION_ARG_NONE, &session, N_("Use the session bus"), NULL },
    { "address", 0, 0, G_OPTION_ARG_STRING, &address, N_("Use the bus at ADDRESS"),
      N_("ADDRESS") },
    { "job-id", 0, 0, G_OPTION_ARG_STRING, &demo->job_id,
      N_("The job's id (default: demo-<random>); with --jobs or --loop, the prefix of the ids "
         "ID-1, ID-2, ..."), N_("ID") },
    { "speed", 0, 0, G_OPTION_ARG_DOUBLE, &demo->speed,
      N_("Run FACTOR times as fast as a real job (0.01 to 1000; default 1: about a minute)"),
      N_("FACTOR") },
    { "jobs", 0, 0, G_OPTION_ARG_INT, &jobs, N_("Run N jobs at once (1 to 64; default 1)"),
      N_("N") },
    { "fail-at", 0, 0, G_OPTION_ARG_CALLBACK, parse_fail_at,
      N_("Fail the jobs in STAGE, after part of it"), N_("STAGE") },
    { "stall-at", 0, 0, G_OPTION_ARG_CALLBACK, parse_stall_at,
      N_("Let the jobs hang in STAGE, after part of it, until they are cancelled"), N_("STAGE") },
    { "seed", 0, 0, G_OPTION_ARG_STRING, &seed,
      N_("Draw the durations and warnings from SEED (default: a random one, printed)"),
      N_("SEED") },
    { "loop", 0, 0, G_OPTION_ARG_NONE, &demo->loop_forever,
      N_("Start a new job whenever one ends, until interrupted"), NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(GOptionGroup) group = NULL;
  g_autoptr(GError) error = NULL;
  AuraBusKind kind = AURA_BUS_SYSTEM;
  guint sigint_id, sigterm_id;

  group = g_option_group_new (NULL, NULL, NULL, demo, NULL);
  g_option_group_add_entries (group, entries);
  g_option_group_set_translation_domain (group, GETTEXT_PACKAGE);
  g_option_context_set_main_group (context, g_steal_pointer (&group));
  g_option_context_set_summary (context,
                                _("A simulated video pipeline: drives jobs through the seven "
                                  "stages of aura-progressd\nwith an LLM that cannot be "
                                  "cancelled and a TTS engine, an image generator and\nFFmpeg "
                                  "that can, and stops when a job is cancelled."));
  g_option_context_set_description (context,
                                    _("Exit status: 0 when every job ended as asked (completed, "
                                      "failed with --fail-at,\ncancelled, or stopped by Ctrl-C), "
                                      "1 when the daemon refused something, 2 for\na bad command "
                                      "line."));
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error (error->message);
  if (argc > 1)
    return usage_error (_("no arguments expected, only options"));
  if (system + session + (address != NULL) > 1)
    return usage_error (_("use only one of --system, --session and --address"));
  if (!isfinite (demo->speed) || demo->speed < 0.01 || demo->speed > 1000)
    return usage_error (_("--speed must be from 0.01 to 1000"));
  if (jobs < 1 || jobs > MAX_JOBS)
    return usage_error (_("--jobs must be from 1 to 64"));
  demo->n_jobs = (guint) jobs;
  if (seed != NULL) {
    char *end = NULL;
    demo->seed = g_ascii_strtoull (seed, &end, 10);
    if (!g_ascii_isdigit (seed[0]) || *end != '\0')
      return usage_error (_("--seed must be a whole number"));
  } else {
    demo->seed = g_random_int ();
  }
  if (demo->job_id == NULL)
    demo->job_id = g_strdup_printf ("demo-%06x", g_random_int_range (0, 0x1000000));
  /* The daemon checks the characters; the suffix needs room. */
  if (demo->job_id[0] == '\0' || strlen (demo->job_id) > MAX_JOB_ID_PREFIX)
    return usage_error (_("--job-id must be 1 to 120 characters"));
  if (session)
    kind = AURA_BUS_SESSION;
  else if (address != NULL)
    kind = AURA_BUS_ADDRESS;

  demo->client = aura_client_new (kind, address, &error);
  if (demo->client == NULL) {
    g_printerr ("aura-demo: %s\n", error->message);
    return 1;
  }
  aura_client_set_report_error_func (demo->client, on_report_error, demo, NULL);
  demo->watch_id = aura_client_watch (demo->client, NULL,
                                      &(AuraWatchFuncs) { .finished = on_job_finished }, demo,
                                      NULL, &error);
  if (demo->watch_id == 0) {
    g_printerr ("aura-demo: %s\n", error->message);
    return 1;
  }
  demo->loop = g_main_loop_new (NULL, FALSE);
  sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, demo);
  sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, demo);
  demo_start_jobs (demo);
  if (demo->jobs->len > 0)
    g_main_loop_run (demo->loop);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  if (demo->restart_id != 0)
    g_source_remove (demo->restart_id);
  aura_client_unwatch (demo->client, demo->watch_id);
  /* What still runs was failed by on_quit_signal(); send the rest off. */
  g_ptr_array_set_size (demo->jobs, 0);
  aura_client_flush (demo->client, NULL);
  return demo->exit_code;
}

int
main (int argc, char **argv)
{
  Demo demo = { .speed = 1.0, .end = AURA_DEMO_END_COMPLETE, .end_stage = AURA_STAGE_COUNT };
  int code;

  aura_i18n_init ();
  demo.jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) job_free);

  code = run (&demo, argc, argv);

  g_ptr_array_unref (demo.jobs);
  if (demo.client != NULL)
    aura_client_unref (demo.client);
  if (demo.loop != NULL)
    g_main_loop_unref (demo.loop);
  g_free (demo.job_id);
  return code;
}

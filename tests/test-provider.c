/* SPDX-License-Identifier: MIT */
/* A provider process for the tests, written against the public client
 * library only (aura-provider.h), as a real provider would be.
 *
 *   test-provider --address=ADDR --job=ID --mode=MODE [--name=N] [--type=T]
 *                 [--count=N] [--delay-ms=MS] [--frames=N]
 *
 * Modes:
 *   cancellable      the library's default: Cancel cancels the GCancellable
 *                    and is answered at once; then the process exits
 *   fail             Cancel is refused ("cannot stop ...")
 *   never            Cancel is never answered
 *   not-cancellable  registered with supports_cancellation false
 *   delayed          --count providers NAME-0.. each answer after --delay-ms,
 *                    all at once; exits when all answered
 *   ffmpeg           a simulated FFmpeg render loop reporting every frame;
 *                    Cancel stops the loop, reports where it stopped and
 *                    only then answers
 *   pipeline-fail    starts the job itself, completes planning and script,
 *                    then fails in tts
 *
 * On stdout, one line each: READY once registered; CANCEL <name> <t> when a
 * Cancel arrives and ANSWER <name> <t> when it is answered (t: monotonic
 * µs); RENDERING once the render loop runs; STOPPED <frame>; FAILED.
 * SIGTERM ends it cleanly. */
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>

#include "aura-provider.h"

typedef struct {
  GMainLoop *loop;
  AuraClient *client;
  GPtrArray *providers;               /* AuraProvider */
  GPtrArray *held;                    /* AuraCancelRequest never answered */
  char *job;
  char *mode;
  guint delay_ms;
  guint n_answered;
  int exit_code;

  /* ffmpeg */
  guint64 frame;
  guint64 frames;
  guint render_id;
} Ctx;

static void
say (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static void
say (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

static void
fail (Ctx *ctx, const char *what, const GError *error)
{
  g_printerr ("test-provider: %s: %s\n", what, error->message);
  ctx->exit_code = 1;
  g_main_loop_quit (ctx->loop);
}

static gboolean
on_sigterm (gpointer user_data)
{
  Ctx *ctx = user_data;
  g_main_loop_quit (ctx->loop);
  return G_SOURCE_CONTINUE;
}

static void
note_cancel (AuraProvider *provider)
{
  say ("CANCEL %s %" G_GINT64_FORMAT, aura_provider_get_name (provider), g_get_monotonic_time ());
}

static void
answered (Ctx *ctx, AuraProvider *provider)
{
  say ("ANSWER %s %" G_GINT64_FORMAT, aura_provider_get_name (provider), g_get_monotonic_time ());
  if (++ctx->n_answered == ctx->providers->len)
    g_main_loop_quit (ctx->loop);
}

/* ---- modes ------------------------------------------------------------- */

/* cancellable: the library answers; the GCancellable tells us. */
static void
on_cancelled (GCancellable *cancellable, gpointer user_data)
{
  AuraProvider *provider = user_data;
  Ctx *ctx = g_object_get_data (G_OBJECT (cancellable), "ctx");

  note_cancel (provider);
  /* the library answers right after this handler */
  answered (ctx, provider);
}

static void
cancel_fail (AuraProvider *provider, AuraCancelRequest *request, gpointer user_data)
{
  note_cancel (provider);
  aura_cancel_request_fail (request, "cannot stop: uploading the final chunk");
  say ("ANSWER %s %" G_GINT64_FORMAT, aura_provider_get_name (provider), g_get_monotonic_time ());
}

static void
cancel_never (AuraProvider *provider, AuraCancelRequest *request, gpointer user_data)
{
  Ctx *ctx = user_data;

  note_cancel (provider);
  g_ptr_array_add (ctx->held, request);
}

typedef struct {
  Ctx *ctx;
  AuraCancelRequest *request;
} Delayed;

static gboolean
on_delay_over (gpointer user_data)
{
  Delayed *d = user_data;
  AuraProvider *provider = aura_cancel_request_get_provider (d->request);

  aura_cancel_request_complete (d->request);
  answered (d->ctx, provider);
  return G_SOURCE_REMOVE;
}

static void
cancel_delayed (AuraProvider *provider, AuraCancelRequest *request, gpointer user_data)
{
  Delayed *d = g_new0 (Delayed, 1);

  note_cancel (provider);
  d->ctx = user_data;
  d->request = request;
  g_timeout_add_full (G_PRIORITY_DEFAULT, ((Ctx *) user_data)->delay_ms, on_delay_over, d, g_free);
}

/* ffmpeg: a frame every millisecond or so, each reported without waiting. */
static gboolean
on_render_tick (gpointer user_data)
{
  Ctx *ctx = user_data;
  g_autoptr(GError) error = NULL;

  ctx->frame++;
  if (!aura_client_report_ffmpeg (ctx->client, ctx->job, ctx->frame, ctx->frames, 30.0,
                                  ctx->frame / 30.0, NULL, &error)) {
    ctx->render_id = 0;
    fail (ctx, "report", error);
    return G_SOURCE_REMOVE;
  }
  if (ctx->frame == 10)
    say ("RENDERING");
  if (ctx->frame == ctx->frames) {
    ctx->render_id = 0;
    say ("DONE");
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

/* Stops the loop first, says where it stopped, and answers only then: the
 * daemon ends the job after the answer, so the warning lands before the
 * end. */
static void
cancel_ffmpeg (AuraProvider *provider, AuraCancelRequest *request, gpointer user_data)
{
  Ctx *ctx = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *warning = NULL;

  note_cancel (provider);
  if (ctx->render_id != 0) {
    g_source_remove (ctx->render_id);
    ctx->render_id = 0;
  }
  warning = g_strdup_printf ("Render stopped at frame %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT,
                             ctx->frame, ctx->frames);
  if (!aura_client_add_warning (ctx->client, ctx->job, warning, &error)) {
    fail (ctx, "add warning", error);
    return;
  }
  say ("STOPPED %" G_GUINT64_FORMAT, ctx->frame);
  aura_cancel_request_complete (request);
  answered (ctx, provider);
}

static gboolean
run_pipeline_fail (Ctx *ctx, GError **error)
{
  static const char *const done[] = { "planning", "script" };

  if (!aura_client_start_job (ctx->client, ctx->job, "Pipeline that fails", "corr-fail", error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (done); i++) {
    if (!aura_client_report_progress (ctx->client, ctx->job, done[i], 50, NULL, error) ||
        !aura_client_mark_stage_completed (ctx->client, ctx->job, done[i], error))
      return FALSE;
  }
  for (guint scene = 0; scene < 3; scene++) {
    if (!aura_client_report_tts (ctx->client, ctx->job, scene, 10, "ElevenLabs", NULL, error))
      return FALSE;
  }
  if (!aura_client_flush (ctx->client, error) ||
      !aura_client_fail_job (ctx->client, ctx->job, "TTS provider answered HTTP 503", error))
    return FALSE;
  say ("FAILED");
  return TRUE;
}

/* ---- main -------------------------------------------------------------- */

int
main (int argc, char **argv)
{
  g_autofree char *address = NULL, *job = NULL, *mode = NULL, *name = NULL, *type = NULL;
  int count = 1, delay_ms = 50, frames = 100000;
  const GOptionEntry entries[] = {
    { "address", 0, 0, G_OPTION_ARG_STRING, &address, "Bus address", "ADDRESS" },
    { "job", 0, 0, G_OPTION_ARG_STRING, &job, "Job id", "ID" },
    { "mode", 0, 0, G_OPTION_ARG_STRING, &mode, "Behaviour", "MODE" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "Provider name", "NAME" },
    { "type", 0, 0, G_OPTION_ARG_STRING, &type, "Provider type", "TYPE" },
    { "count", 0, 0, G_OPTION_ARG_INT, &count, "Providers (delayed mode)", "N" },
    { "delay-ms", 0, 0, G_OPTION_ARG_INT, &delay_ms, "Answer delay (delayed mode)", "MS" },
    { "frames", 0, 0, G_OPTION_ARG_INT, &frames, "Frames to render (ffmpeg mode)", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- a provider for the tests");
  g_autoptr(GError) error = NULL;
  Ctx ctx = { 0 };

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || address == NULL || job == NULL ||
      mode == NULL || count < 1 || delay_ms < 0 || frames < 1) {
    g_printerr ("test-provider: %s\n", error != NULL ? error->message
                                                     : "--address, --job and --mode are needed");
    return 2;
  }
  ctx.job = job;
  ctx.mode = mode;
  ctx.delay_ms = (guint) delay_ms;
  ctx.frames = (guint64) frames;
  ctx.loop = g_main_loop_new (NULL, FALSE);
  ctx.providers = g_ptr_array_new_with_free_func ((GDestroyNotify) aura_provider_unref);
  ctx.held = g_ptr_array_new ();
  g_unix_signal_add (SIGTERM, on_sigterm, &ctx);

  ctx.client = aura_client_new (AURA_BUS_ADDRESS, address, &error);
  if (ctx.client == NULL) {
    g_printerr ("test-provider: %s\n", error->message);
    return 1;
  }

  if (g_str_equal (mode, "pipeline-fail")) {
    if (!run_pipeline_fail (&ctx, &error)) {
      g_printerr ("test-provider: %s\n", error->message);
      ctx.exit_code = 1;
    }
  } else {
    gboolean ffmpeg = g_str_equal (mode, "ffmpeg");
    gboolean supports = !g_str_equal (mode, "not-cancellable");
    AuraProviderCancelFunc func = NULL;

    if (g_str_equal (mode, "fail"))
      func = cancel_fail;
    else if (g_str_equal (mode, "never"))
      func = cancel_never;
    else if (g_str_equal (mode, "delayed"))
      func = cancel_delayed;
    else if (ffmpeg)
      func = cancel_ffmpeg;
    else if (!g_str_equal (mode, "cancellable") && !g_str_equal (mode, "not-cancellable")) {
      g_printerr ("test-provider: unknown mode %s\n", mode);
      return 2;
    }

    for (int i = 0; i < count; i++) {
      g_autofree char *pname = count > 1 ? g_strdup_printf ("%s-%d", name ? name : "Provider", i)
                                         : g_strdup (name ? name : (ffmpeg ? "FFmpeg" : "Provider"));
      AuraProvider *provider = aura_client_register_provider (ctx.client, job, pname,
                                                              type ? type : (ffmpeg ? "Render" : "TTS"),
                                                              supports, &error);
      if (provider == NULL) {
        g_printerr ("test-provider: cannot register %s: %s\n", pname, error->message);
        return 1;
      }
      g_ptr_array_add (ctx.providers, provider);
      if (func != NULL) {
        aura_provider_set_cancel_func (provider, func, &ctx, NULL);
      } else {
        GCancellable *c = aura_provider_get_cancellable (provider);
        g_object_set_data (G_OBJECT (c), "ctx", &ctx);
        g_signal_connect (c, "cancelled", G_CALLBACK (on_cancelled), provider);
      }
    }
    if (ffmpeg)
      ctx.render_id = g_timeout_add (1, on_render_tick, &ctx);
    say ("READY");
    g_main_loop_run (ctx.loop);
  }

  /* Whatever was reported reaches the daemon before we go. */
  if (ctx.exit_code == 0 && !aura_client_flush (ctx.client, &error) &&
      !g_error_matches (error, AURA_ERROR, AURA_ERROR_NOT_RUNNING)) {
    g_printerr ("test-provider: %s\n", error->message);
    ctx.exit_code = 1;
  }
  if (ctx.render_id != 0)
    g_source_remove (ctx.render_id);
  g_ptr_array_unref (ctx.held);       /* dropped with their providers */
  g_ptr_array_unref (ctx.providers);
  aura_client_unref (ctx.client);
  g_main_loop_unref (ctx.loop);
  return ctx.exit_code;
}

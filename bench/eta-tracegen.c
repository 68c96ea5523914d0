/* SPDX-License-Identifier: MIT */
/*
 * eta-tracegen: writes realistic job traces for eta-replay.
 *
 * A trace is what a video pipeline would send to org.aura.Progress for one
 * job, one D-Bus call per JSON line with its time since StartJob. The jobs
 * vary in size (scenes, images, frames) and in speed per provider, so that the
 * stage durations do not follow the stage weights; some have a stuck image, a
 * provider that falls back to a slower one, a render whose fps drifts, and
 * warnings. Everything is drawn from GRand with the given seed, so a seed and
 * a profile always give the same corpus.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "aura-json.h"

typedef struct {
  const char *name;
  const char *description;
  guint scenes_min, scenes_max;
  guint images_per_scene_max;         /* 1..max per scene */
  double media_min, media_max;        /* seconds of video per scene */
  double llm_chunk_min, llm_chunk_max; /* seconds per LLM chunk */
  double tts_per_media;               /* TTS seconds per second of narration */
  double image_min, image_max;        /* seconds per image */
  double compose_per_scene;           /* seconds */
  double fps_min, fps_max;            /* render speed */
  double upload_min, upload_max;      /* MB/s in finalize; the video is 1 MB per second */
  double spread;                      /* sigma of the per-job log-normal speed factors */
  double p_stuck;                     /* a job has one stuck image */
  double p_drift;                     /* the render's fps drifts or steps */
  double p_fallback;                  /* a provider falls back to a slower one */
  double p_warning;                   /* a stage emits an unrelated warning */
  double ffmpeg_interval;             /* seconds between FFmpeg reports */
} Profile;

static const Profile profiles[] = {
  {
    .name = "default",
    .description = "mixed explainer videos on a workstation (the committed corpus)",
    .scenes_min = 4, .scenes_max = 16, .images_per_scene_max = 2,
    .media_min = 5, .media_max = 12,
    .llm_chunk_min = 6, .llm_chunk_max = 20,
    .tts_per_media = 0.3,
    .image_min = 8, .image_max = 25,
    .compose_per_scene = 2,
    .fps_min = 8, .fps_max = 40,
    .upload_min = 2, .upload_max = 20,
    .spread = 0.35,
    .p_stuck = 0.15, .p_drift = 0.4, .p_fallback = 0.15, .p_warning = 0.05,
    .ffmpeg_interval = 3,
  },
  {
    .name = "long",
    .description = "long documentaries on a slow render host, more outliers",
    .scenes_min = 12, .scenes_max = 40, .images_per_scene_max = 3,
    .media_min = 6, .media_max = 15,
    .llm_chunk_min = 10, .llm_chunk_max = 30,
    .tts_per_media = 0.4,
    .image_min = 12, .image_max = 40,
    .compose_per_scene = 3,
    .fps_min = 4, .fps_max = 20,
    .upload_min = 1, .upload_max = 10,
    .spread = 0.5,
    .p_stuck = 0.3, .p_drift = 0.6, .p_fallback = 0.25, .p_warning = 0.1,
    .ffmpeg_interval = 5,
  },
  {
    .name = "fast",
    .description = "short clips on a GPU host; the LLM and the upload dominate",
    .scenes_min = 2, .scenes_max = 8, .images_per_scene_max = 1,
    .media_min = 4, .media_max = 8,
    .llm_chunk_min = 15, .llm_chunk_max = 40,
    .tts_per_media = 0.2,
    .image_min = 3, .image_max = 8,
    .compose_per_scene = 1,
    .fps_min = 60, .fps_max = 200,
    .upload_min = 0.5, .upload_max = 4,
    .spread = 0.3,
    .p_stuck = 0.1, .p_drift = 0.3, .p_fallback = 0.1, .p_warning = 0.05,
    .ffmpeg_interval = 1,
  },
};

#define OUTPUT_FPS 30.0

typedef struct {
  GRand *rand;
  const Profile *p;
  GString *out;
  char *job_id;
  double t;                           /* seconds since StartJob */
  guint n_lines;
} Gen;

/* json-glib prints doubles with %.17g: binary fractions print short and
 * exact, 1/64 s is finer than any report interval. */
static double
quantize (double v, double steps)
{
  return round (v * steps) / steps;
}

static double
uniform (Gen *g, double lo, double hi)
{
  return g_rand_double_range (g->rand, lo, hi);
}

static gboolean
chance (Gen *g, double p)
{
  return g_rand_double (g->rand) < p;
}

/* A log-normal factor with median 1: per-job speeds of providers and hosts. */
static double
lognormal (Gen *g, double sigma)
{
  double u1 = 1.0 - g_rand_double (g->rand), u2 = g_rand_double (g->rand);
  double z = sqrt (-2.0 * log (u1)) * cos (2 * G_PI * u2);
  return exp (sigma * z);
}

static void
wait (Gen *g, double seconds)
{
  g->t = quantize (g->t + MAX (seconds, 1.0 / 64), 64);
}

/* One trace line: {"t": ..., "call": ..., "args": [job_id, ...]}. The
 * builder's array is open for the caller's arguments. */
static JsonBuilder *
line_begin (Gen *g, const char *call)
{
  JsonBuilder *b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "t");
  json_builder_add_double_value (b, quantize (g->t, 64));
  json_builder_set_member_name (b, "call");
  json_builder_add_string_value (b, call);
  json_builder_set_member_name (b, "args");
  json_builder_begin_array (b);
  json_builder_add_string_value (b, g->job_id);
  return b;
}

static void
line_end (Gen *g, JsonBuilder *b)
{
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  text = aura_json_to_string (root);
  g_string_append (g->out, text);
  g_string_append_c (g->out, '\n');
  g->n_lines++;
  g_object_unref (b);
}

static void
call_llm (Gen *g, const char *phase, guint current, guint total)
{
  JsonBuilder *b = line_begin (g, "ReportLlmProgress");
  json_builder_add_string_value (b, phase);
  json_builder_add_int_value (b, current);
  json_builder_add_int_value (b, total);
  json_builder_add_string_value (b, "");
  line_end (g, b);
}

static void
call_indexed (Gen *g, const char *call, guint index, guint total, const char *provider)
{
  JsonBuilder *b = line_begin (g, call);
  json_builder_add_int_value (b, index);
  json_builder_add_int_value (b, total);
  json_builder_add_string_value (b, provider);
  json_builder_add_string_value (b, "");
  line_end (g, b);
}

static void
call_progress (Gen *g, const char *stage, double percent, const char *message)
{
  JsonBuilder *b = line_begin (g, "ReportProgress");
  json_builder_add_string_value (b, stage);
  json_builder_add_double_value (b, quantize (percent, 8));
  json_builder_begin_object (b);
  if (message != NULL) {
    json_builder_set_member_name (b, "message");
    json_builder_add_string_value (b, message);
  }
  json_builder_end_object (b);
  line_end (g, b);
}

static void
call_ffmpeg (Gen *g, guint64 frame, guint64 total, double fps)
{
  JsonBuilder *b = line_begin (g, "ReportFFmpegProgress");
  json_builder_add_int_value (b, (gint64) frame);
  json_builder_add_int_value (b, (gint64) total);
  json_builder_add_double_value (b, quantize (fps, 16));
  json_builder_add_double_value (b, quantize (frame / OUTPUT_FPS, 64));
  json_builder_add_string_value (b, "");
  line_end (g, b);
}

static void
call_simple (Gen *g, const char *call, const char *arg)
{
  JsonBuilder *b = line_begin (g, call);
  if (arg != NULL)
    json_builder_add_string_value (b, arg);
  line_end (g, b);
}

/* Pipelines usually, not always, mark a finished stage: it is also the
 * rollback marker for cancellation. */
static void
stage_done (Gen *g, const char *stage)
{
  if (chance (g, 0.8))
    call_simple (g, "MarkStageCompleted", stage);
  wait (g, uniform (g, 0.05, 1.5));
}

static void
maybe_warning (Gen *g, const char *text)
{
  if (chance (g, g->p->p_warning))
    call_simple (g, "AddWarning", text);
}

static void
gen_llm_stage (Gen *g, const char *phase, guint chunks, double chunk_min, double chunk_max,
               double speed)
{
  for (guint c = 0; c < chunks; c++) {
    call_llm (g, phase, c, chunks);
    wait (g, uniform (g, chunk_min, chunk_max) * speed);
  }
  call_llm (g, phase, chunks, chunks);
}

static void
gen_job (Gen *g, guint index)
{
  const Profile *p = g->p;
  static const char *const tts_providers[] = { "ElevenLabs", "Piper", "Azure" };
  static const char *const image_providers[] = { "StableDiffusion", "Flux", "DALL-E" };
  guint scenes = g_rand_int_range (g->rand, p->scenes_min, p->scenes_max + 1);
  g_autofree double *media = g_new0 (double, scenes);
  double media_total = 0;
  guint images = 0, chunks;
  /* Per-job speed factors: the host's load slows everything a bit, each
   * provider has its own speed on top. */
  double load = lognormal (g, p->spread / 2);
  double llm_speed = load * lognormal (g, p->spread);
  double tts_speed = load * lognormal (g, p->spread);
  double image_speed = load * lognormal (g, p->spread);
  double host_speed = load * lognormal (g, p->spread);
  const char *tts = tts_providers[g_rand_int_range (g->rand, 0, 3)];
  const char *imager = image_providers[g_rand_int_range (g->rand, 0, 3)];

  for (guint s = 0; s < scenes; s++) {
    media[s] = uniform (g, p->media_min, p->media_max);
    media_total += media[s];
    images += g_rand_int_range (g->rand, 1, p->images_per_scene_max + 1);
  }

  {
    JsonBuilder *b = line_begin (g, "StartJob");
    g_autofree char *title = g_strdup_printf ("Video %u (%u scenes)", index, scenes);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "title");
    json_builder_add_string_value (b, title);
    json_builder_set_member_name (b, "correlationId");
    json_builder_add_string_value (b, g->job_id);
    json_builder_end_object (b);
    line_end (g, b);
  }
  wait (g, uniform (g, 0.1, 1.0));

  /* planning: the LLM writes a brief */
  gen_llm_stage (g, "brief", g_rand_int_range (g->rand, 1, 3), p->llm_chunk_min / 2,
                 p->llm_chunk_max / 2, llm_speed);
  stage_done (g, "planning");

  /* script: one chunk per three scenes */
  chunks = MAX (2, (scenes + 2) / 3);
  gen_llm_stage (g, "script", chunks, p->llm_chunk_min, p->llm_chunk_max, llm_speed);
  maybe_warning (g, "LLM response truncated, continuing with a follow-up request");
  stage_done (g, "script");

  /* tts: scene by scene, index reported before each scene starts */
  {
    gboolean fallback = chance (g, p->p_fallback / 2);
    guint fallback_at = g_rand_int_range (g->rand, 0, scenes);
    for (guint s = 0; s < scenes; s++) {
      if (fallback && s == fallback_at) {
        g_autofree char *w = g_strdup_printf ("%s quota exceeded; falling back to Piper", tts);
        call_simple (g, "AddWarning", w);
        tts = "Piper";
        tts_speed *= uniform (g, 1.5, 3.0);
      }
      call_indexed (g, "ReportTtsProgress", s, scenes, tts);
      wait (g, media[s] * p->tts_per_media * tts_speed * uniform (g, 0.7, 1.3));
    }
    if (chance (g, 0.5))
      call_progress (g, "tts", 100, "Speech ready");
    stage_done (g, "tts");
  }

  /* visuals: image by image; one may hang, the provider may fall back */
  {
    gboolean stuck = chance (g, p->p_stuck);
    guint stuck_at = g_rand_int_range (g->rand, 0, images);
    gboolean fallback = chance (g, p->p_fallback);
    guint fallback_at = g_rand_int_range (g->rand, 0, images);
    for (guint i = 0; i < images; i++) {
      double d = uniform (g, p->image_min, p->image_max) * image_speed;
      if (fallback && i == fallback_at) {
        g_autofree char *w = g_strdup_printf ("%s rate limit reached; falling back to a local "
                                              "model", imager);
        call_simple (g, "AddWarning", w);
        imager = "LocalDiffusion";
        image_speed *= uniform (g, 1.5, 3.0);
        d = uniform (g, p->image_min, p->image_max) * image_speed;
      }
      call_indexed (g, "ReportVisualProgress", i, images, imager);
      if (stuck && i == stuck_at) {
        double hang = d * uniform (g, 6, 15), warn_after = MIN (60, hang / 2);
        g_autofree char *w = g_strdup_printf ("Image %u: no answer from %s for %.0f s, waiting",
                                              i + 1, imager, warn_after);
        wait (g, warn_after);
        call_simple (g, "AddWarning", w);
        d = hang - warn_after;
      }
      wait (g, d);
    }
    maybe_warning (g, "Image 3 was flagged by the safety filter and regenerated");
    stage_done (g, "visuals");
  }

  /* compose: percentage reports */
  {
    double total = p->compose_per_scene * scenes * host_speed * uniform (g, 0.7, 1.4);
    double pct = 0;
    call_progress (g, "compose", 0, "Composing the timeline");
    while (pct < 100) {
      double step = MIN (uniform (g, 10, 25), 100 - pct);
      wait (g, total * step / 100 * uniform (g, 0.6, 1.4));
      pct = step < 100 - pct ? quantize (pct + step, 8) : 100;
      call_progress (g, "compose", pct, NULL);
    }
    stage_done (g, "compose");
  }

  /* render: FFmpeg reports frames and its fps, which like FFmpeg's own is
   * the average since the render started */
  {
    guint64 total_frames = (guint64) llround (media_total * OUTPUT_FPS), frame = 0;
    double base_fps = uniform (g, p->fps_min, p->fps_max) / host_speed;
    double start = g->t, done = 0;
    int drift = chance (g, p->p_drift) ? g_rand_int_range (g->rand, 1, 3) : 0;
    double drift_to = uniform (g, 0.35, 1.6), step_at = uniform (g, 0.2, 0.8);

    call_ffmpeg (g, 0, total_frames, 0);
    while (frame < total_frames) {
      double dt = p->ffmpeg_interval * uniform (g, 0.9, 1.1);
      double x = (double) frame / (double) total_frames, fps = base_fps;
      if (drift == 1)                /* gradual: thermal throttling, heavier scenes */
        fps = base_fps * (1 + (drift_to - 1) * x);
      else if (drift == 2 && x >= step_at) /* a step: another job took the GPU */
        fps = base_fps * drift_to;
      fps *= uniform (g, 0.85, 1.15);
      done += fps * dt;
      frame = MIN ((guint64) done, total_frames);
      wait (g, dt);
      call_ffmpeg (g, frame, total_frames, frame / (g->t - start));
    }
    maybe_warning (g, "FFmpeg: non-monotonic DTS in the audio stream, corrected");
    stage_done (g, "render");
  }

  /* finalize: mux, upload, thumbnail */
  {
    double upload = media_total / uniform (g, p->upload_min, p->upload_max);
    call_progress (g, "finalize", 0, "Muxing");
    wait (g, uniform (g, 1, 4) * host_speed);
    for (guint q = 1; q <= 4; q++) {
      call_progress (g, "finalize", 10 + 20 * (q - 1), "Uploading");
      wait (g, upload / 4 * uniform (g, 0.7, 1.3));
    }
    call_progress (g, "finalize", 95, "Creating the thumbnail");
    wait (g, uniform (g, 0.5, 3));
  }
  call_simple (g, "CompleteJob", NULL);
}

static const Profile *
find_profile (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (profiles); i++) {
    if (g_strcmp0 (profiles[i].name, name) == 0)
      return &profiles[i];
  }
  return NULL;
}

int
main (int argc, char **argv)
{
  g_autofree char *output_dir = NULL, *profile_name = NULL, *prefix = NULL;
  gint64 seed = 1;
  int jobs = 60;
  double p_stuck = -1, spread = -1;
  gboolean list = FALSE;
  const GOptionEntry entries[] = {
    { "output-dir", 'o', 0, G_OPTION_ARG_FILENAME, &output_dir,
      "Write one trace per job into DIR (created if needed)", "DIR" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed, "Random seed (default 1)", "N" },
    { "jobs", 'n', 0, G_OPTION_ARG_INT, &jobs, "Number of jobs, 1-10000 (default 60)", "N" },
    { "profile", 'p', 0, G_OPTION_ARG_STRING, &profile_name,
      "Distribution of sizes and speeds (default: default; --list-profiles)", "NAME" },
    { "prefix", 0, 0, G_OPTION_ARG_STRING, &prefix, "Job id and file name prefix", "TEXT" },
    { "stuck", 0, 0, G_OPTION_ARG_DOUBLE, &p_stuck,
      "Override the share of jobs with a stuck image (0-1)", "P" },
    { "spread", 0, 0, G_OPTION_ARG_DOUBLE, &spread,
      "Override the spread of per-job speeds (log-normal sigma, 0-2)", "SIGMA" },
    { "list-profiles", 0, 0, G_OPTION_ARG_NONE, &list, "List the profiles and exit", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- write job traces for eta-replay");
  g_autoptr(GError) error = NULL;
  Profile profile;
  const Profile *base;
  Gen g = { 0 };

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("eta-tracegen: %s\n", error->message);
    return 2;
  }
  if (list) {
    for (guint i = 0; i < G_N_ELEMENTS (profiles); i++)
      g_print ("%-8s %s\n", profiles[i].name, profiles[i].description);
    return 0;
  }
  base = find_profile (profile_name != NULL ? profile_name : "default");
  if (base == NULL) {
    g_printerr ("eta-tracegen: unknown profile '%s'; profiles are default, long, fast\n",
                profile_name);
    return 2;
  }
  if (output_dir == NULL || jobs < 1 || jobs > 10000 || seed < 0 || seed > G_MAXUINT32 ||
      (p_stuck != -1 && (p_stuck < 0 || p_stuck > 1)) ||
      (spread != -1 && (spread < 0 || spread > 2))) {
    g_printerr ("eta-tracegen: needs --output-dir; --jobs from 1 to 10000, --seed from 0 to %u, "
                "--stuck from 0 to 1, --spread from 0 to 2\n", G_MAXUINT32);
    return 2;
  }
  profile = *base;
  if (p_stuck != -1)
    profile.p_stuck = p_stuck;
  if (spread != -1)
    profile.spread = spread;
  if (prefix == NULL)
    prefix = g_strdup_printf ("%s-s%" G_GINT64_FORMAT, profile.name, seed);
  if (g_mkdir_with_parents (output_dir, 0755) < 0) {
    g_printerr ("eta-tracegen: cannot create %s: %s\n", output_dir, g_strerror (errno));
    return 1;
  }

  g.rand = g_rand_new_with_seed ((guint32) seed);
  g.p = &profile;
  for (int i = 0; i < jobs; i++) {
    g_autofree char *name = g_strdup_printf ("%s-%03d.jsonl", prefix, i);
    g_autofree char *path = g_build_filename (output_dir, name, NULL);

    g.out = g_string_new (NULL);
    g.job_id = g_strdup_printf ("%s-%03d", prefix, i);
    g.t = 0;
    gen_job (&g, i);
    if (!g_file_set_contents (path, g.out->str, (gssize) g.out->len, &error)) {
      g_printerr ("eta-tracegen: %s\n", error->message);
      return 1;
    }
    g_string_free (g.out, TRUE);
    g_clear_pointer (&g.job_id, g_free);
  }
  g_print ("eta-tracegen: %d jobs (profile %s, seed %" G_GINT64_FORMAT ") in %s, %u lines\n",
           jobs, profile.name, seed, output_dir, g.n_lines);
  g_rand_free (g.rand);
  return 0;
}

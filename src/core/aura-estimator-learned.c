/* SPDX-License-Identifier: MIT */
/*
 * The daemon's ETA: per-stage rates plus durations learned from completed
 * jobs.
 *
 * The seed divided elapsed time by the weighted percentage, which assumes the
 * weights are proportional to time. They are not: rendering may take half of
 * a job on 10 % of the weight, so that estimate swings at every stage change.
 * Here the remaining time is
 *
 *   what the current stage still needs, from its own observed rate
 *   + what each stage still to come is expected to take.
 *
 * Expected durations come from the completed jobs in the history (bounded,
 * kept under the state directory). Jobs differ in size and pace, so for
 * every stage the estimator fits, over the history, how a stage's duration
 * (in logs, relative to its usual one) follows from two things known when an
 * earlier stage starts:
 *
 *   pace: how long the stages so far took, relative to their usual time;
 *   size: how many items (chunks, scenes, images, frames) the stages so far
 *         reported, relative to their usual count.
 *
 * The fit is a small ridge regression pulled towards "half of the pace
 * carries over, and the size in full" (a job twice the size takes twice as
 * long), so that a short history gives moderate answers and a long one its
 * own. Before any job has completed, a ten-minute job split by the weights
 * stands in for the history and the job's own pace carries over in full,
 * which is the seed's assumption, only per stage.
 *
 * Current stage: seconds per unit of progress from the stage's own reports,
 * blended with a prior (the expected duration, or what FFmpeg's own average
 * fps says) weighted by how uncertain each is: the prior counts as much as
 * the reports that would be as uncertain as it is, which the history tells
 * (how far the stage strayed from the fit). A guess that is usually off by
 * half gives way after an item or two; FFmpeg's fps counts as one report.
 * Two rates are kept, over the whole stage and over a decaying recent window;
 * the recent one takes over only when the two differ by more than noise, so
 * that uneven items do not shake the estimate but a real change of speed (a
 * slower fallback provider, an fps that drifts) shows within about one
 * window. A report that took far longer than the stage's rate (a stuck image)
 * is capped, so that one outlier does not make every item after it look
 * slow; the first report of a stage is compared with the prior instead.
 * While an item takes longer than expected, the estimate grows with it: an
 * item that has overrun its expected time is expected to overrun about as
 * much again.
 *
 * Time between two reports of different stages is split between them by how
 * much work each still had, so that the first report of a stage at 5 % does
 * not make that stage look infinitely fast.
 *
 * All of that is uncertain, the more so the less the history predicts: the
 * remaining time is taken as log-normal, and the ETA is the point least
 * wrong relative to the job's whole duration, which lies below the median as
 * far as the spread goes (see remaining_point()).
 *
 * What clients see moves only when the estimate moves out of a band of a few
 * percent of the time left around it, and then only to the band's edge: the
 * noise of single items does not shake the ETA, and it never lags the
 * estimate by more than the band.
 */
#include <math.h>
#include <string.h>

#include "aura-estimator.h"
#include "aura-stage-history.h"

/* Before any job has completed: a ten-minute job split by the weights. */
#define DEFAULT_JOB_SECONDS 600.0
/* The fit: features (1, pace, size); coefficients are pulled towards
 * (0, PRIOR_PACE, PRIOR_SIZE) with weight RIDGE, as if that many jobs had
 * shown them. */
#define N_FEATURES 3
#define RIDGE 2.0
#define PRIOR_PACE 0.5
/* size carries over in full: twice the items, twice the time */
#define PRIOR_SIZE 1.0
#define PACE_PSEUDO_SHARE 0.2
/* The stage's prior counts as many of the stage's reports as would be as
 * uncertain as it is: (noise of a report / noise of the prior)^2, at most
 * PRIOR_FRACTION of the stage. The prior's noise is the spread of the
 * stage's duration around what the fit predicted at its start, over the
 * history, pulled towards SIGMA_PRIOR as if SIGMA_N0 jobs had shown it;
 * SIGMA_COLD before any job has completed. */
#define PRIOR_FRACTION 0.25
#define SIGMA_PRIOR 0.5
#define SIGMA_N0 2.0
#define SIGMA_COLD 1.0
/* A report that came more than this many times later than the stage's
 * reports usually do, with progress that took more than this many times the
 * stage's rate (a stuck item), counts as only this slow. The first report
 * of a stage, with no other to compare with, is late when it took this many
 * times (or, for an uncertain prior, two of its sigmas) longer than the
 * prior expects, and then counts as what the prior expects. */
#define WINSOR 3.0
/* The recent rate of the current stage: reports fade out of it with this
 * time constant. It replaces the stage's overall rate as far as the two
 * differ by more than NOISE_K times its own noise (fully at twice that), the
 * noise being the spread of the stage's reports around the recent rate
 * (SEG_SIGMA0 until there are some, never below NOISE_FLOOR) over the square
 * root of the reports in the window: noise alone does not move the
 * estimate, a real change of speed does, within seconds when the reports are
 * frequent and regular, within a few items when they are not. */
#define RECENT_WINDOW_SECONDS 10.0
#define SEG_SIGMA0 0.3
#define NOISE_FLOOR 0.05
#define NOISE_K 3.0
/* What is left of the noise is held back by a band of this share of the time
 * left around the estimate: the predicted end clients see moves only when
 * the estimate leaves the band, and then to the band's edge. (An exponential
 * smoothing lags a trend without bound and calms only what is averaged
 * away; the band lags by at most its width and ignores every wiggle inside
 * it.) */
#define HOLD_SHARE 0.04
/* While nothing is reported, the item under way never counts as less than
 * this share of its expected time. */
#define ITEM_FLOOR 0.25
/* In learned weights, no stage gets less than this share (percent). */
#define MIN_LEARNED_WEIGHT 0.5
/* Writing the history is durable (two fsyncs, a millisecond or more on the
 * daemon's only thread): when jobs end in a burst, it is written at most
 * this often; what is pending goes with the next completed job after that,
 * or when the estimator is freed (the daemon stops). */
#define SAVE_INTERVAL_US (1 * G_USEC_PER_SEC)

typedef struct {
  gboolean reported;                  /* a report has arrived */
  AuraStage stage;                    /* as of the last update */
  double fraction;
  gint64 last_mono;
  double spent[AURA_STAGE_COUNT];     /* seconds attributed to each stage */
  guint32 items[AURA_STAGE_COUNT];    /* item count each stage reported */

  /* the current stage since it was entered */
  gint64 change_mono;                 /* when its fraction last increased */
  double change_fraction;
  double sum_df, sum_dt, sum_n;       /* recent progress, time, reports; decaying */
  double all_df, all_dt;              /* the same over the whole stage */
  guint n_segments;                   /* reports with progress in the stage */
  double dev2;                        /* squared log deviations of their rates */
  guint n_dev;
  double fps;                         /* last FFmpeg fps, 0: none */

  gboolean have_end;
  double end;                         /* predicted end, seconds after the start */
} EtaJob;

typedef struct {
  AuraEstimator parent;
  AuraStageHistory *history;
  char *path;                         /* NULL: not persisted */
  gboolean saved;                     /* written at least once */
  gint64 saved_mono;                  /* when it was last written */
  gboolean save_pending;              /* learned more since */

  /* learned from the history */
  guint n_learned;
  double mean_seconds[AURA_STAGE_COUNT];
  double usual_seconds[AURA_STAGE_COUNT]; /* geometric mean of seconds + 1, minus 1 */
  double usual_items[AURA_STAGE_COUNT];   /* geometric mean; 0: never reported */
  /* coef[c][s]: log duration of stage s >= c from the features at the start
   * of stage c */
  double coef[AURA_STAGE_COUNT][AURA_STAGE_COUNT][N_FEATURES];
  /* resid2[c][s]: mean squared log deviation of stage s's duration from
   * what the fit predicted at the start of stage c, over the history: the
   * spread the ETA allows for (a history of identical jobs leaves none) */
  double resid2[AURA_STAGE_COUNT][AURA_STAGE_COUNT];
  /* sigma2[s]: resid2[s][s] pulled towards SIGMA_PRIOR: how far the stage's
   * prior can be trusted against its own reports */
  double sigma2[AURA_STAGE_COUNT];
} Learned;

static double
seconds (gint64 us)
{
  return (double) us / G_USEC_PER_SEC;
}

static gboolean
stage_done (const AuraJob *job, AuraStage stage)
{
  return aura_job_stage_completed (job, stage);
}

/* What the stage usually takes. */
static double
usual_seconds (Learned *self, const AuraJob *job, AuraStage stage)
{
  /* (job is NULL only while fitting the history, when n_learned > 0: the
   * test says so to the optimiser too) */
  if (self->n_learned > 0 || job == NULL)
    return self->usual_seconds[stage];
  return job->weights.w[stage] / 100.0 * DEFAULT_JOB_SECONDS;
}

/* The features at the start of stage c of a job whose stages took spent[]
 * seconds and reported items[]: 1, the log pace of the stages before c, the
 * mean log size of the stages up to c that reported items. */
static void
features (Learned *self, const AuraJob *job, AuraStage c, const double *spent,
          const guint32 *items, double *x)
{
  double observed = 0, usual = 0, size = 0, total = 0, pseudo;
  guint n_size = 0;

  for (guint s = 0; s < c; s++) {
    observed += spent[s];
    usual += usual_seconds (self, job, s);
  }
  for (guint s = 0; s <= c && s < AURA_STAGE_COUNT; s++) {
    if (items[s] > 0 && self->usual_items[s] > 0) {
      size += log (items[s] / self->usual_items[s]);
      n_size++;
    }
  }
  /* A stage that usually takes a small part of the job says little about
   * the pace of the rest: PACE_PSEUDO_SHARE of the usual job counts as
   * seen at the usual pace. */
  for (guint s = 0; s < AURA_STAGE_COUNT; s++)
    total += usual_seconds (self, job, s);
  pseudo = PACE_PSEUDO_SHARE * total + 1;
  x[0] = 1;
  x[1] = c > 0 ? log ((observed + pseudo) / (usual + pseudo)) : 0;
  x[2] = n_size > 0 ? size / n_size : 0;
}

/* Solves the N_FEATURES x N_FEATURES system a x = b in place (Gauss-Jordan
 * with partial pivoting); the ridge keeps it well conditioned. */
static gboolean
solve (double a[N_FEATURES][N_FEATURES], double *b)
{
  for (guint i = 0; i < N_FEATURES; i++) {
    guint p = i;
    for (guint r = i + 1; r < N_FEATURES; r++) {
      if (fabs (a[r][i]) > fabs (a[p][i]))
        p = r;
    }
    if (fabs (a[p][i]) < 1e-12)
      return FALSE;
    for (guint k = 0; k < N_FEATURES; k++) {
      double t = a[i][k];
      a[i][k] = a[p][k];
      a[p][k] = t;
    }
    {
      double t = b[i];
      b[i] = b[p];
      b[p] = t;
    }
    for (guint r = 0; r < N_FEATURES; r++) {
      double factor;
      if (r == i)
        continue;
      factor = a[r][i] / a[i][i];
      for (guint k = i; k < N_FEATURES; k++)
        a[r][k] -= factor * a[i][k];
      b[r] -= factor * b[i];
    }
  }
  for (guint i = 0; i < N_FEATURES; i++)
    b[i] /= a[i][i];
  return TRUE;
}

static void
learned_refresh (Learned *self)
{
  const double prior[N_FEATURES] = { 0, PRIOR_PACE, PRIOR_SIZE };
  guint n = aura_stage_history_len (self->history);

  self->n_learned = n;
  for (guint s = 0; s < AURA_STAGE_COUNT; s++) {
    double sum = 0, log_sum = 0, log_items = 0;
    guint n_items = 0;
    for (guint j = 0; j < n; j++) {
      const AuraStageRecord *r = aura_stage_history_get (self->history, j);
      sum += r->seconds[s];
      log_sum += log (r->seconds[s] + 1);
      if (r->items[s] > 0) {
        log_items += log (r->items[s]);
        n_items++;
      }
    }
    self->mean_seconds[s] = n > 0 ? sum / n : 0;
    self->usual_seconds[s] = n > 0 ? exp (log_sum / n) - 1 : 0;
    self->usual_items[s] = n_items > 0 ? exp (log_items / n_items) : 0;
  }

  for (guint c = 0; c < AURA_STAGE_COUNT; c++) {
    for (guint s = c; s < AURA_STAGE_COUNT; s++) {
      double a[N_FEATURES][N_FEATURES] = { { 0 } }, b[N_FEATURES] = { 0 };

      /* Ridge towards the prior: (X'X + R) coef = X'y + R prior. The
       * intercept is held near 0 too: logs are relative to the usual. */
      for (guint i = 0; i < N_FEATURES; i++) {
        a[i][i] = RIDGE;
        b[i] = RIDGE * prior[i];
      }
      /* (job is not needed for features() once n_learned > 0) */
      for (guint j = 0; j < n; j++) {
        const AuraStageRecord *r = aura_stage_history_get (self->history, j);
        double x[N_FEATURES], y = log ((r->seconds[s] + 1) / (self->usual_seconds[s] + 1));
        features (self, NULL, c, r->seconds, r->items, x);
        for (guint i = 0; i < N_FEATURES; i++) {
          for (guint k = 0; k < N_FEATURES; k++)
            a[i][k] += x[i] * x[k];
          b[i] += x[i] * y;
        }
      }
      if (n == 0) {
        /* nothing to go by but the job's own pace */
        b[0] = 0;
        b[1] = 1;
        b[2] = 0;
      } else if (!solve (a, b)) {
        memcpy (b, prior, sizeof b);
      }
      memcpy (self->coef[c][s], b, sizeof b);
    }
  }

  for (guint c = 0; c < AURA_STAGE_COUNT; c++) {
    for (guint s = c; s < AURA_STAGE_COUNT; s++) {
      double res2 = 0;

      for (guint j = 0; j < n; j++) {
        const AuraStageRecord *r = aura_stage_history_get (self->history, j);
        double x[N_FEATURES], z = 0;
        features (self, NULL, c, r->seconds, r->items, x);
        for (guint i = 0; i < N_FEATURES; i++)
          z += self->coef[c][s][i] * x[i];
        z -= log ((r->seconds[s] + 1) / (self->usual_seconds[s] + 1));
        res2 += z * z;
      }
      self->resid2[c][s] = n > 0 ? res2 / n : SIGMA_COLD * SIGMA_COLD;
    }
    self->sigma2[c] = n > 0 ? (n * self->resid2[c][c] + SIGMA_N0 * SIGMA_PRIOR * SIGMA_PRIOR)
                              / (n + SIGMA_N0)
                            : SIGMA_COLD * SIGMA_COLD;
  }
}

/* The expected duration of stage s >= c from features x at the start of c. */
static double
predict (Learned *self, const AuraJob *job, AuraStage c, AuraStage s, const double *x)
{
  double z = 0;

  for (guint i = 0; i < N_FEATURES; i++)
    z += self->coef[c][s][i] * x[i];
  return MAX ((usual_seconds (self, job, s) + 1) * exp (CLAMP (z, -5, 5)) - 1, 0);
}

static void
learned_job_started (AuraEstimator *est, AuraJob *job, gint64 now)
{
  EtaJob *d = g_new0 (EtaJob, 1);

  d->stage = job->stage;
  d->fraction = job->stage_fraction;
  d->last_mono = now;
  d->change_mono = now;
  d->change_fraction = job->stage_fraction;
  job->estimator_data = d;
  job->estimator_data_free = g_free;
}

/* What the current stage would take in all, before its own rate is known:
 * its expected duration, or what FFmpeg's own average fps says. */
static double
stage_prior (Learned *self, const AuraJob *job, const EtaJob *d)
{
  double x[N_FEATURES];

  if (job->has_fps && d->fps > 0)
    return MAX ((double) job->total_frames / d->fps, 1);
  features (self, job, job->stage, d->spent, d->items, x);
  return MAX (predict (self, job, job->stage, job->stage, x), 1);
}

/* The share of the stage a report usually brings: the item under way. */
static double
report_share (const AuraJob *job, const EtaJob *d)
{
  if (d->n_segments > 0 && d->all_df > 0)
    return d->all_df / d->n_segments;
  if (job->has_items && job->total_items > 0)
    return 1.0 / job->total_items;
  return 0.1;
}

/* Seconds per unit of stage fraction: the stage's rate, blended with the
 * prior as if the prior were as many reports as are as uncertain as it is;
 * the recent rate takes over as far as it differs by more than noise and
 * rests on enough reports. *log_var (if not NULL): how uncertain the result
 * still is for want of reports, the prior's log variance by its share. */
static double
stage_time_per_fraction (Learned *self, const AuraJob *job, const EtaJob *d, double *log_var)
{
  double prior = stage_prior (self, job, d);
  /* the squared log noise of one report's rate */
  double sigma2 = (d->dev2 + 2 * SEG_SIGMA0 * SEG_SIGMA0) / (d->n_dev + 2);
  /* FFmpeg's average fps is a measurement like a report; a predicted
   * duration is as uncertain as the history says */
  double prior_sigma2 = job->has_fps && d->fps > 0 ? sigma2 : self->sigma2[job->stage];
  double weight = MIN (sigma2 / prior_sigma2 * report_share (job, d), PRIOR_FRACTION);
  double whole = (d->all_dt + weight * prior) / (d->all_df + weight);
  double recent, change, w;

  if (log_var != NULL) {
    *log_var = weight / (d->all_df + weight)
             * (job->has_fps && d->fps > 0 ? sigma2 : self->resid2[job->stage][job->stage]);
  }

  if (d->sum_df <= 0 || d->sum_dt <= 0)
    return whole;
  recent = d->sum_dt / d->sum_df;
  change = fabs (log (recent / whole));
  {
    double noise = MAX (sqrt (sigma2) / sqrt (MAX (d->sum_n, 1)), NOISE_FLOOR);
    w = CLAMP ((change - NOISE_K * noise) / (NOISE_K * noise), 0, 1);
  }
  return exp (w * log (recent) + (1 - w) * log (whole));
}

/* Seconds the current stage still needs; *floor is what it can never be less
 * than while nothing is reported: a share of the item under way, which never
 * counts as done before it is reported, and once that item is overdue, the
 * work not yet started plus the overrun. *log_var: how uncertain it is. */
static double
current_stage_remaining (Learned *self, const AuraJob *job, const EtaJob *d, gint64 now,
                         double *floor, double *log_var)
{
  double f = job->stage_fraction, per, chunk, expected, rest, since_change, item;

  *floor = 0;
  *log_var = 0;
  if (stage_done (job, job->stage) || f >= 1)
    return 0;
  per = stage_time_per_fraction (self, job, d, log_var);
  /* the item under way (what the next report usually brings) and the rest */
  chunk = MIN (1 - f, report_share (job, d));
  expected = chunk * per;
  rest = (1 - f - chunk) * per;
  since_change = seconds (MAX (now - d->change_mono, 0));
  /* The item takes what is left of its expected time; one that has overrun
   * it (a stuck image, a hung request) is expected to overrun about as much
   * again, so that the estimate grows while it hangs instead of running out. */
  item = MAX (MAX (expected - since_change, since_change - expected), ITEM_FLOOR * expected);
  *floor = since_change > expected ? rest + since_change - expected : ITEM_FLOOR * expected;
  return rest + item;
}

/* The remaining time as one number, from its mean and standard deviation
 * (taken as log-normal, like each stage's duration) and the time the job has
 * already taken.
 *
 * An ETA misleads in proportion to the job: a minute off is a lot on a
 * three-minute job and little on a thirty-minute one. Where the remaining
 * time is uncertain, the number that is least wrong relative to the job's
 * duration is not its median but the median weighted by 1 / duration, which
 * lies lower: a job that turns out short suffers more from the same error.
 * For a log-normal remaining time of log variance S², the weight lowers the
 * log median by S² times the remaining share of the job, taken where the
 * result lands (a fixed point, reached in a few rounds). With a history that
 * predicts well, S² is small and so is the shift. */
static double
remaining_point (double mean, double sd, double elapsed)
{
  double s2, mu, left;

  if (mean <= 0)
    return 0;
  s2 = log (1 + (sd * sd) / (mean * mean));
  mu = log (mean) - s2 / 2;
  left = exp (mu);
  for (guint i = 0; i < 4; i++)
    left = exp (mu - s2 * left / (elapsed + left));
  return left;
}

/* Adds a stage of median @median seconds and log variance @v to the mean and
 * standard deviation of the remaining time. The stages of one job move
 * together (its size and its host's load drive them all), so their spreads
 * add up rather than average out. */
static void
add_stage (double median, double v, double *mean, double *sd)
{
  *mean += median * exp (v / 2);
  *sd += median * sqrt (exp (v) * (exp (v) - 1));
}

/* The remaining time from the current evidence; *floor is what it can never
 * be less than (a share of the current item, and the stages to come as far
 * as the estimate counts them). Negative while unknown. */
static double
raw_estimate (Learned *self, const AuraJob *job, const EtaJob *d, gint64 now, double *floor)
{
  AuraStage cur = job->stage;
  double f = job->stage_fraction, current, left, mean = 0, sd = 0, v;
  double x_now[N_FEATURES], x_next[N_FEATURES], spent[AURA_STAGE_COUNT];

  if (d == NULL || !d->reported)
    return -1;
  /* Without history and without progress, any number would be a guess. */
  if (self->n_learned == 0 && job->progress <= 0)
    return -1;

  current = current_stage_remaining (self, job, d, now, floor, &v);
  add_stage (current, v, &mean, &sd);

  /* The stages to come, predicted from the start of the current stage and
   * from its projected end, weighted by how far the stage got, so that the
   * prediction moves smoothly from one to the other. */
  features (self, job, cur, d->spent, d->items, x_now);
  memcpy (spent, d->spent, sizeof spent);
  spent[cur] += seconds (MAX (now - d->last_mono, 0)) + current;
  if (cur + 1 < AURA_STAGE_COUNT)
    features (self, job, cur + 1, spent, d->items, x_next);
  for (guint s = cur + 1; s < AURA_STAGE_COUNT; s++) {
    double from_start, from_end;
    if (stage_done (job, s))
      continue;
    from_start = log (predict (self, job, cur, s, x_now) + 1);
    from_end = log (predict (self, job, cur + 1, s, x_next) + 1);
    add_stage (exp ((1 - f) * from_start + f * from_end) - 1,
               (1 - f) * self->resid2[cur][s] + f * self->resid2[cur + 1][s], &mean, &sd);
  }
  left = remaining_point (mean, sd, seconds (MAX (now - job->started_mono, 0)));
  *floor += MAX (left - current, 0);
  return left;
}

static double
learned_estimate (AuraEstimator *est, const AuraJob *job, gint64 now)
{
  const EtaJob *d = job->estimator_data;
  double floor;

  if (raw_estimate ((Learned *) est, job, d, now, &floor) < 0 || !d->have_end)
    return -1;
  return MAX (d->end - seconds (now - job->started_mono), floor);
}

static void
enter_stage (EtaJob *d, gint64 since, double from_fraction, double to_fraction, gint64 now)
{
  d->change_mono = now;
  d->change_fraction = to_fraction;
  d->sum_df = MAX (to_fraction - from_fraction, 0);
  d->sum_dt = d->sum_df > 0 ? seconds (now - since) : 0;
  d->all_df = d->sum_df;
  d->all_dt = d->sum_dt;
  d->n_segments = d->sum_df > 0 ? 1 : 0;
  d->sum_n = d->n_segments;
  d->dev2 = 0;
  d->n_dev = 0;
}

static void
learned_job_updated (AuraEstimator *est, AuraJob *job, gint64 now)
{
  Learned *self = (Learned *) est;
  EtaJob *d = job->estimator_data;
  double dt = seconds (MAX (now - d->last_mono, 0));
  double f = job->stage_fraction, raw, floor;

  if (job->has_items && job->total_items > 0)
    d->items[job->stage] = job->total_items;

  if (job->stage != d->stage) {
    /* The gap finished the old stage and started the new one: split it by
     * the work each had left and done. */
    double old_left = stage_done (job, d->stage) ? 0
                    : (1 - d->fraction) * usual_seconds (self, job, d->stage);
    double new_done = f * usual_seconds (self, job, job->stage);
    double new_share = old_left + new_done > 0 ? new_done / (old_left + new_done) : 0;
    gint64 new_us = (gint64) (new_share * (double) (now - d->last_mono));

    d->spent[d->stage] += dt * (1 - new_share);
    d->spent[job->stage] += dt * new_share;
    /* Going back (a retry) measures the stage afresh from where it is. */
    if (job->stage > d->stage)
      enter_stage (d, now - new_us, 0, f, now);
    else
      enter_stage (d, now, f, f, now);
    d->fps = 0;
  } else {
    d->spent[d->stage] += dt;
    if (f > d->change_fraction) {
      /* Older progress fades from the recent rate. */
      double seg_df = f - d->change_fraction, seg_dt = seconds (now - d->change_mono);
      double decay = exp (-seg_dt / RECENT_WINDOW_SECONDS);
      /* A stuck item says little about the items after it: a report that
       * came far later than reports usually do, and with far less progress
       * than the stage's rate promised, counts as capped in the stage's
       * rate and not at all in the recent one. (A slower encoder still
       * reports at its interval: that is a change of speed, not an item
       * stuck.) */
      double cap = WINSOR * seg_df * stage_time_per_fraction (self, job, d, NULL);
      gboolean late;

      if (d->n_segments > 0) {
        late = seg_dt > WINSOR * d->all_dt / d->n_segments;
      } else {
        /* The first report has no other to compare with: it is late when
         * it took far longer than even a pessimistic reading of the prior
         * allows, and then says no more than the prior did. */
        double expected = seg_df * stage_time_per_fraction (self, job, d, NULL);
        late = seg_dt > MAX (WINSOR, exp (2 * sqrt (self->sigma2[job->stage]))) * expected;
        cap = expected;
      }

      if (!late)
        cap = seg_dt;
      if (!late && seg_dt > 0 && d->sum_df > 0 && d->sum_dt > 0) {
        double dv = log ((seg_dt / seg_df) / (d->sum_dt / d->sum_df));
        d->dev2 += dv * dv;
        d->n_dev++;
      }
      d->n_segments++;
      if (seg_dt <= cap) {
        d->sum_df = d->sum_df * decay + seg_df;
        d->sum_dt = d->sum_dt * decay + seg_dt;
        d->sum_n = d->sum_n * decay + 1;
      }
      d->all_df += seg_df;
      d->all_dt += MIN (seg_dt, cap);
      d->change_mono = now;
      d->change_fraction = f;
    } else if (f < d->change_fraction) {
      enter_stage (d, now, f, f, now);
    }
  }

  if (job->has_fps && job->fps > 0 && job->total_frames > 0)
    d->fps = job->fps;
  d->stage = job->stage;
  d->fraction = f;
  d->last_mono = now;
  d->reported = TRUE;

  raw = raw_estimate (self, job, d, now, &floor);
  if (raw < 0) {
    d->have_end = FALSE;
  } else {
    double end = seconds (now - job->started_mono) + raw;
    double band = HOLD_SHARE * raw;
    if (!d->have_end)
      d->end = end;
    else
      d->end = CLAMP (d->end, end - band, end + band);
    d->have_end = TRUE;
  }
}

static void
learned_save (Learned *self)
{
  g_autoptr(GError) error = NULL;

  if (self->path == NULL || !self->save_pending)
    return;
  self->save_pending = FALSE;
  if (!aura_stage_history_save (self->history, self->path, &error))
    g_warning ("cannot keep the learned stage durations: %s", error->message);
}

static void
learned_job_finished (AuraEstimator *est, AuraJob *job, gint64 now)
{
  Learned *self = (Learned *) est;
  EtaJob *d = job->estimator_data;
  AuraStageRecord record = { 0 };

  /* Failed and cancelled jobs did not run all their stages. */
  if (d == NULL || job->status != AURA_JOB_COMPLETED)
    return;
  d->spent[d->stage] += seconds (MAX (now - d->last_mono, 0));
  d->last_mono = now;
  memcpy (record.seconds, d->spent, sizeof record.seconds);
  memcpy (record.items, d->items, sizeof record.items);
  aura_stage_history_add (self->history, &record);
  learned_refresh (self);

  self->save_pending = TRUE;
  if (!self->saved || now - self->saved_mono >= SAVE_INTERVAL_US) {
    self->saved = TRUE;
    self->saved_mono = now;
    learned_save (self);
  }
}

static gboolean
learned_default_weights (AuraEstimator *est, AuraWeights *out)
{
  Learned *self = (Learned *) est;
  double total = 0;

  if (self->n_learned == 0)
    return FALSE;
  for (guint s = 0; s < AURA_STAGE_COUNT; s++)
    total += self->mean_seconds[s];
  if (total <= 0)
    return FALSE;
  for (guint s = 0; s < AURA_STAGE_COUNT; s++)
    out->w[s] = MAX (self->mean_seconds[s] / total * 100, MIN_LEARNED_WEIGHT);
  return aura_weights_normalize (out, NULL);
}

static void
learned_free (AuraEstimator *est)
{
  Learned *self = (Learned *) est;

  learned_save (self);
  aura_stage_history_free (self->history);
  g_free (self->path);
  g_free (self);
}

static const AuraEstimatorVTable learned_vtable = {
  .name = "learned",
  .job_started = learned_job_started,
  .job_updated = learned_job_updated,
  .estimate = learned_estimate,
  .job_finished = learned_job_finished,
  .default_weights = learned_default_weights,
  .free = learned_free,
};

AuraEstimator *
aura_estimator_new_learned (const char *history_path)
{
  Learned *self = g_new0 (Learned, 1);

  self->parent.vtable = &learned_vtable;
  self->history = aura_stage_history_new (AURA_STAGE_HISTORY_DEFAULT_MAX);
  self->path = g_strdup (history_path);
  if (history_path != NULL) {
    g_autoptr(GError) error = NULL;
    if (!aura_stage_history_load (self->history, history_path, &error))
      g_warning ("starting the ETA without learned durations: %s", error->message);
  }
  learned_refresh (self);
  return &self->parent;
}

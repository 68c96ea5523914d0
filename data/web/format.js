// SPDX-License-Identifier: MIT
// Human-readable forms of what the web API reports: durations, ETAs, clock
// times, stage and status names. No DOM, so that node's test runner can check
// every branch.

export const STAGES = Object.freeze([
  'planning', 'script', 'tts', 'visuals', 'compose', 'render', 'finalize',
]);

const STAGE_LABELS = Object.freeze({
  planning: 'Planning',
  script: 'Script',
  tts: 'Text to speech',
  visuals: 'Visuals',
  compose: 'Composing',
  render: 'Rendering',
  finalize: 'Finalizing',
});

const STATUS_LABELS = Object.freeze({
  Running: 'Running',
  Completed: 'Completed',
  Failed: 'Failed',
  Canceled: 'Canceled',
  Unknown: 'Unknown',
});

/** "Text to speech (stage 3 of 7)"-style parts for a stage id. */
export function stageLabel(stage) {
  if (typeof stage !== 'string' || stage === '')
    return 'Waiting to start';
  return STAGE_LABELS[stage] ?? stage;
}

/** 1-based position of the stage, or null for an unknown one. */
export function stageNumber(stage) {
  const i = STAGES.indexOf(stage);
  return i < 0 ? null : i + 1;
}

export function statusLabel(status) {
  if (typeof status !== 'string' || status === '')
    return 'Unknown';
  return STATUS_LABELS[status] ?? status;
}

/**
 * A duration in seconds as people say it: "45 s", "3 min 20 s", "12 min",
 * "1 h 05 min", "2 d 3 h". Precision falls with size because an ETA of
 * "1 h 4 min 13 s" pretends to a precision no estimate has.
 */
export function formatDuration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0)
    return '';
  const s = Math.round(seconds);
  if (s < 60)
    return `${s} s`;
  if (s < 600) {
    const m = Math.floor(s / 60);
    const rest = s % 60;
    return rest === 0 ? `${m} min` : `${m} min ${rest} s`;
  }
  if (s < 3600)
    return `${Math.round(s / 60)} min`;
  if (s < 86400) {
    const h = Math.floor(s / 3600);
    const m = Math.round((s % 3600) / 60);
    if (m === 60)
      return `${h + 1} h 00 min`;
    return `${h} h ${String(m).padStart(2, '0')} min`;
  }
  const d = Math.floor(s / 86400);
  const h = Math.round((s % 86400) / 3600);
  return h === 0 ? `${d} d` : `${d} d ${h} h`;
}

/**
 * The "time left" line of a job. etaSeconds is null while the service has
 * too little evidence; a finished job has no ETA.
 */
export function formatEta(etaSeconds, status) {
  if (status !== 'Running')
    return '';
  if (etaSeconds === null || etaSeconds === undefined)
    return 'Estimating time left…';
  if (etaSeconds === 0)
    return 'Finishing';
  return `About ${formatDuration(etaSeconds)} left`;
}

/**
 * A timestamp as a local clock time ("14:32"), with the date when it is not
 * today. Returns '' for a missing or malformed value.
 */
export function formatClock(iso, now = new Date(), locale = undefined) {
  if (typeof iso !== 'string' || iso === '')
    return '';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime()))
    return '';
  const sameDay = t.getFullYear() === now.getFullYear() &&
    t.getMonth() === now.getMonth() && t.getDate() === now.getDate();
  const opts = sameDay ? { hour: '2-digit', minute: '2-digit' }
    : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };
  return new Intl.DateTimeFormat(locale, opts).format(t);
}

/** Whole percent, clamped to 0–100 ("42%"). */
export function formatPercent(percent) {
  const p = clampPercent(percent);
  return `${p}%`;
}

export function clampPercent(percent) {
  if (typeof percent !== 'number' || !Number.isFinite(percent))
    return 0;
  return Math.min(100, Math.max(0, Math.floor(percent)));
}

/** "frame 120 of 900"-style item counter, or '' when there is none. */
export function formatItems(current, total) {
  if (!Number.isInteger(current) || !Number.isInteger(total) || total <= 0)
    return '';
  return `${current} of ${total}`;
}

/**
 * The accessible text of a job's progress bar: what a screen reader says
 * instead of a bare number.
 */
export function progressValueText(job) {
  const parts = [formatPercent(job.percent)];
  if (job.status === 'Running') {
    parts.push(stageLabel(job.stage));
    const eta = formatEta(job.etaSeconds, job.status);
    if (eta !== '')
      parts.push(eta.charAt(0).toLowerCase() + eta.slice(1));
  } else {
    parts.push(statusLabel(job.status));
  }
  return parts.join(', ');
}

/** "in 12 s" for a future monotonic deadline, '' when there is none. */
export function formatCountdown(deadlineMs, nowMs) {
  if (typeof deadlineMs !== 'number' || typeof nowMs !== 'number')
    return '';
  const left = Math.max(0, Math.ceil((deadlineMs - nowMs) / 1000));
  return `in ${formatDuration(left)}`;
}

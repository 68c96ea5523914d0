// SPDX-License-Identifier: MIT
// The dashboard page: draws the progress store. Every job gets a card that
// is built once and then updated in place, so that focus and screen reader
// position survive live updates. Text from the server only ever goes into
// textContent.
//
// `/` shows every job (one multiplexed stream); `/?job=ID` follows one job
// through its own stream. Timing options can be overridden in the query
// string (baseDelayMs, breakerOpenMs, ...) for development and tests.

import { ProgressStore, DASHBOARD_STREAM, isFinished, isValidJobId } from './progress-store.js';
import {
  formatClock, formatCountdown, formatEta, formatItems, formatPercent, progressValueText,
  stageLabel, stageNumber, statusLabel, STAGES, clampPercent,
} from './format.js';

const TUNABLE = Object.freeze({
  baseDelayMs: [100, 600000],
  maxDelayMs: [100, 3600000],
  maxAttempts: [1, 50],
  breakerThreshold: [1, 50],
  breakerOpenMs: [100, 3600000],
  heartbeatIntervalMs: [100, 600000],
  discoveryIntervalMs: [250, 600000],
});

function readOptions(params) {
  const options = {};
  for (const [key, [min, max]] of Object.entries(TUNABLE)) {
    const raw = params.get(key);
    if (raw === null)
      continue;
    const n = Number(raw);
    if (Number.isFinite(n))
      options[key] = Math.min(max, Math.max(min, Math.round(n)));
  }
  return options;
}

const $ = (sel, root = document) => root.querySelector(sel);
const TOKEN_KEY = 'aura-progress-token';

function savedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch (e) {
    return null;
  }
}

const params = new URLSearchParams(location.search);
const singleJob = params.get('job');
const store = new ProgressStore({ baseUrl: document.baseURI, token: savedToken(), ...readOptions(params) });
// For the console and the browser tests: the live state behind the page.
globalThis.auraStore = store;

const ui = {
  list: $('#jobs'),
  empty: $('#empty'),
  title: $('#page-title'),
  allJobs: $('#all-jobs'),
  conn: $('#connection'),
  connText: $('#connection-text'),
  retry: $('#retry-now'),
  announcer: $('#announcer'),
  template: $('#job-template'),
};

const cards = new Map();           // jobId -> card elements
const dirty = new Set();
let renderAll = true;
let frame = 0;
let ticker = 0;
let lastConnSummary = null;

/* ---- announcements --------------------------------------------------- */

let announceTimer = 0;
function announce(text) {
  // Clear first so that the same sentence twice is read twice.
  ui.announcer.textContent = '';
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => {
    ui.announcer.textContent = text;
  }, 50);
}

/* ---- connection indicator ---------------------------------------------- */

function streamKey() {
  return singleJob ? `job:${singleJob}` : DASHBOARD_STREAM;
}

/**
 * What the connection indicator says: { state, text, short, retry, tick }.
 * state drives the colour; short is the per-job form; retry offers "Try now".
 */
function connectionSummary(conn, now) {
  const breaker = store.breakerState();
  if (breaker.state === 'open') {
    return {
      state: 'paused',
      text: `Paused after repeated failures; next try ${formatCountdown(breaker.openUntil, now)}`,
      short: 'paused',
      retry: true,
      tick: true,
    };
  }
  if (!conn) {
    const r = store.lastRefresh;
    if (r && !r.ok)
      return { state: 'offline', text: `Not updating: ${r.error}`, short: 'offline', retry: false, tick: false };
    if (!r)
      return { state: 'connecting', text: 'Connecting…', short: '', retry: false, tick: false };
    return { state: 'idle', text: 'Up to date', short: '', retry: false, tick: false };
  }
  if (conn.status === 'connected' && conn.key === DASHBOARD_STREAM && store.lastRefresh && !store.lastRefresh.ok)
    return { state: 'degraded', text: `Live, but the job list is not: ${store.lastRefresh.error}`, short: 'live', retry: false, tick: false };
  const max = conn.maxAttempts;
  switch (conn.status) {
    case 'connected':
      if (conn.daemonStatus === 'daemon-unavailable')
        return { state: 'degraded', text: 'Connected, but the progress service is unavailable', short: 'service unavailable', retry: false, tick: false };
      return { state: 'live', text: 'Live', short: 'live', retry: false, tick: false };
    case 'connecting':
      return { state: 'connecting', text: 'Connecting…', short: 'connecting', retry: false, tick: false };
    case 'reconnecting': {
      if (conn.attempts === 0)
        return { state: 'reconnecting', text: 'Connection lost; reconnecting…', short: 'reconnecting', retry: false, tick: false };
      const waiting = conn.nextRetryAt !== null && conn.nextRetryAt > now;
      const when = waiting ? ` ${formatCountdown(conn.nextRetryAt, now)}` : '…';
      return {
        state: 'reconnecting',
        text: `Reconnecting (attempt ${conn.attempts} of ${max})${when}`,
        short: `reconnecting, attempt ${conn.attempts} of ${max}`,
        retry: false,
        tick: waiting,
      };
    }
    case 'waiting':
      return { state: 'reconnecting', text: 'Checking whether the server is back…', short: 'checking', retry: false, tick: false };
    case 'failed':
      return { state: 'offline', text: `Live updates stopped after ${max} attempts`, short: 'updates stopped', retry: true, tick: false };
    default:
      return { state: 'idle', text: '', short: '', retry: false, tick: false };
  }
}

function renderConnection() {
  const now = Date.now();
  const summary = connectionSummary(store.connection(streamKey()), now);
  ui.conn.dataset.state = summary.state;
  ui.connText.textContent = summary.text;
  ui.retry.hidden = !summary.retry;
  ui.retry.textContent = store.breakerState().state === 'open' ? 'Try now' : 'Reconnect';

  // Announce transitions between kinds of state, not countdowns.
  if (lastConnSummary !== null && lastConnSummary !== summary.state) {
    if (summary.state === 'live' && (lastConnSummary === 'reconnecting' || lastConnSummary === 'paused' || lastConnSummary === 'offline'))
      announce('Connection restored. Progress is live again.');
    else if (summary.state === 'reconnecting' && lastConnSummary === 'live')
      announce('Connection lost. Reconnecting.');
    else if (summary.state === 'paused')
      announce('Connection paused after repeated failures.');
    else if (summary.state === 'offline')
      announce(summary.text);
  }
  lastConnSummary = summary.state;

  if (summary.tick && ticker === 0)
    ticker = setInterval(renderConnection, 1000);
  else if (!summary.tick && ticker !== 0) {
    clearInterval(ticker);
    ticker = 0;
  }
  return summary;
}

/* ---- job cards ---------------------------------------------------------- */

let cardSeq = 0;

function createCard(jobId) {
  const li = ui.template.content.firstElementChild.cloneNode(true);
  const n = ++cardSeq;
  const el = {
    li,
    title: $('.job-title', li),
    status: $('.status', li),
    id: $('.job-id', li),
    started: $('.job-started', li),
    conn: $('.job-conn', li),
    bar: $('.bar', li),
    fill: $('.bar-fill', li),
    percent: $('.percent', li),
    stage: $('.stage', li),
    eta: $('.eta', li),
    detail: $('.detail', li),
    factDetail: $('.fact-detail', li),
    factEta: $('.fact-eta', li),
    message: $('.message', li),
    warnings: $('.warnings', li),
    warningsTitle: $('.warnings-title', li),
    warningsList: $('.warnings-list', li),
    cancel: $('.cancel', li),
    dismiss: $('.dismiss', li),
    details: $('.details', li),
    confirm: $('.confirm', li),
    confirmText: $('.confirm-text', li),
    confirmYes: $('.confirm-yes', li),
    confirmNo: $('.confirm-no', li),
    result: $('.cancel-result', li),
    resultMessage: $('.cancel-message', li),
    providers: $('.providers', li),
    cleanup: $('.cancel-cleanup', li),
    tokenForm: $('.token-form', li),
    tokenInput: $('.token-input', li),
    shownWarnings: null,
    shownResult: null,
  };
  li.dataset.jobId = jobId;
  el.title.id = `job-title-${n}`;
  el.bar.setAttribute('aria-labelledby', el.title.id);
  el.confirmText.id = `job-confirm-${n}`;
  el.confirm.setAttribute('aria-labelledby', el.confirmText.id);
  el.details.href = `./?job=${encodeURIComponent(jobId)}`;
  el.details.hidden = Boolean(singleJob);

  el.cancel.addEventListener('click', () => {
    el.confirm.hidden = false;
    el.cancel.hidden = true;
    el.confirmNo.focus();
  });
  el.confirmNo.addEventListener('click', () => {
    el.confirm.hidden = true;
    el.cancel.hidden = false;
    el.cancel.focus();
  });
  const cancel = async () => {
    const job = store.getJob(jobId);
    const name = job ? jobName(job) : jobId;
    const outcome = await store.cancelJob(jobId);
    if (outcome.httpStatus === 401) {
      announce(`Cancelling ${name} needs an access token.`);
      el.tokenInput.focus();
    } else if (outcome.error) {
      announce(`Could not cancel ${name}: ${outcome.error}`);
    } else if (outcome.result) {
      announce(`${name}: ${outcome.result.message || 'cancel requested'}`);
    }
  };
  el.confirmYes.addEventListener('click', () => {
    el.confirm.hidden = true;
    el.cancel.hidden = false;
    el.cancel.focus();
    cancel();
  });
  el.tokenForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    // Kept for this tab only: a bridge started with --token wants it.
    store.setToken(el.tokenInput.value);
    try {
      sessionStorage.setItem(TOKEN_KEY, el.tokenInput.value);
    } catch (e) {
      // storage may be off; the token still works for this page
    }
    el.tokenInput.value = '';
    cancel();
  });
  el.dismiss.addEventListener('click', () => {
    // Keep keyboard focus in the list: on the next card, or the heading.
    const next = li.nextElementSibling ?? li.previousElementSibling;
    store.dismissJob(jobId);
    const target = next ? $('.job-title', next) : ui.title;
    target.tabIndex = -1;
    target.focus();
  });
  return el;
}

function jobName(job) {
  return job.title || job.jobId;
}

function setText(node, text) {
  if (node.textContent !== text)
    node.textContent = text;
}

function renderCard(el, job, now) {
  const name = jobName(job);
  const running = job.status === 'Running';
  const finished = isFinished(job.status) || job.status === 'Unknown';
  el.li.dataset.status = job.status ?? 'Unknown';

  setText(el.title, name);
  setText(el.status, statusLabel(job.status));
  el.status.dataset.status = job.status ?? 'Unknown';
  setText(el.id, job.title ? job.jobId : '');
  el.id.hidden = !job.title;
  const started = formatClock(job.startedAt, new Date(now));
  setText(el.started, started ? `started ${started}` : '');
  el.started.hidden = started === '';

  const conn = running ? store.connectionForJob(job.jobId) : null;
  const short = running ? (conn ? connectionSummary(conn, now).short : 'updated every few seconds') : '';
  setText(el.conn, short);
  el.conn.dataset.state = running && conn ? connectionSummary(conn, now).state : '';
  el.conn.hidden = short === '';

  // A role=progressbar rather than <progress>: ARIA defines aria-valuetext
  // (stage and time left, not only a number) for it, HTML does not for
  // <progress>.
  const percent = clampPercent(job.percent);
  if (el.bar.getAttribute('aria-valuenow') !== String(percent)) {
    el.bar.setAttribute('aria-valuenow', String(percent));
    el.fill.style.width = `${percent}%`;
  }
  el.bar.setAttribute('aria-valuetext', progressValueText(job));
  setText(el.percent, formatPercent(percent));

  const number = stageNumber(job.stage);
  setText(el.stage, number ? `${stageLabel(job.stage)} (${number} of ${STAGES.length})` : stageLabel(job.stage));

  let eta = formatEta(job.etaSeconds, job.status);
  const end = running && job.etaSeconds ? formatClock(job.expectedEndTime, new Date(now)) : '';
  if (end)
    eta += `, done around ${end}`;
  if (!running) {
    const at = formatClock(job.finishedAt, new Date(now));
    eta = at ? `${statusLabel(job.status)} at ${at}` : statusLabel(job.status);
  }
  setText(el.factEta.querySelector('dt'), running ? 'Time left' : 'Finished');
  setText(el.eta, eta);

  const items = formatItems(job.currentItem, job.totalItems);
  const detail = [job.substageDetail, job.substageDetail && items && job.substageDetail.includes(items) ? '' : items]
    .filter(Boolean).join(' · ');
  setText(el.detail, detail);
  // What a provider was doing last is noise once the job is over.
  el.factDetail.hidden = detail === '' || !running;

  setText(el.message, job.message || '');
  el.message.hidden = !job.message;

  renderWarnings(el, job.warnings);

  const pending = Boolean(job.cancellation && job.cancellation.pending);
  el.cancel.hidden = !running || !el.confirm.hidden;
  el.cancel.disabled = pending;
  setText(el.cancel, pending ? 'Cancelling…' : 'Cancel');
  el.cancel.setAttribute('aria-label', pending ? `Cancelling ${name}` : `Cancel ${name}`);
  if (!running)
    el.confirm.hidden = true;
  setText(el.confirmText, `Cancel “${name}”? Providers that cannot stop will run to the end of their step.`);
  el.dismiss.hidden = !finished;
  el.dismiss.setAttribute('aria-label', `Dismiss ${name}`);
  el.details.setAttribute('aria-label', `Details of ${name}`);

  renderCancellation(el, job.cancellation);
}

function renderWarnings(el, warnings) {
  if (el.shownWarnings === warnings)
    return;
  el.shownWarnings = warnings;
  el.warnings.hidden = warnings.length === 0;
  setText(el.warningsTitle, warnings.length === 1 ? '1 warning' : `${warnings.length} warnings`);
  const items = warnings.map((w) => {
    const li = document.createElement('li');
    li.textContent = w;
    return li;
  });
  el.warningsList.replaceChildren(...items);
}

function renderCancellation(el, cancellation) {
  if (el.shownResult === cancellation)
    return;
  el.shownResult = cancellation;
  if (!cancellation || cancellation.pending) {
    el.result.hidden = true;
    return;
  }
  el.result.hidden = false;
  el.result.dataset.outcome = cancellation.error ? 'error' : 'ok';
  el.tokenForm.hidden = cancellation.httpStatus !== 401;
  if (cancellation.error) {
    setText(el.resultMessage, `Could not cancel: ${cancellation.error}`);
    el.providers.replaceChildren();
    setText(el.cleanup, '');
    return;
  }
  const r = cancellation.result ?? {};
  setText(el.resultMessage, r.message ?? '');
  const rows = (Array.isArray(r.providerStatuses) ? r.providerStatuses : []).map((p) => {
    const li = document.createElement('li');
    li.className = 'provider';
    li.dataset.status = String(p.status ?? '');
    const head = document.createElement('div');
    head.className = 'provider-head';
    const name = document.createElement('span');
    name.className = 'provider-name';
    name.textContent = p.providerType ? `${p.providerName} (${p.providerType})` : String(p.providerName ?? '');
    const status = document.createElement('span');
    status.className = 'badge provider-status';
    status.dataset.status = String(p.status ?? '');
    status.textContent = String(p.status ?? '');
    head.append(name, status);
    li.append(head);
    if (p.warning) {
      const w = document.createElement('p');
      w.className = 'provider-warning';
      w.textContent = p.warning;
      li.append(w);
    }
    return li;
  });
  el.providers.replaceChildren(...rows);
  el.providers.hidden = rows.length === 0;
  setText(el.cleanup, r.cleanupScheduled ? 'Cleanup of the completed stages is scheduled.' : '');
  el.cleanup.hidden = !r.cleanupScheduled;
}

function renderJobs() {
  const now = Date.now();
  const jobs = store.listJobs();
  const wanted = new Set(jobs.map((j) => j.jobId));
  for (const [id, el] of cards) {
    if (!wanted.has(id)) {
      el.li.remove();
      cards.delete(id);
    }
  }
  let cursor = ui.list.firstElementChild;
  for (const job of jobs) {
    let el = cards.get(job.jobId);
    const fresh = !el;
    if (fresh) {
      el = createCard(job.jobId);
      cards.set(job.jobId, el);
    }
    if (renderAll || fresh || dirty.has(job.jobId))
      renderCard(el, job, now);
    // Move only what is out of place: moving a node drops its focus.
    if (el.li === cursor)
      cursor = cursor.nextElementSibling;
    else
      ui.list.insertBefore(el.li, cursor);
  }
  if (singleJob !== null)
    return;
  const r = store.lastRefresh;
  ui.empty.hidden = jobs.length !== 0 || r === null;
  if (jobs.length === 0 && r && !r.ok)
    setText(ui.empty, `No jobs to show: ${r.error}.`);
  else if (jobs.length === 0)
    setText(ui.empty, 'No jobs yet. Jobs appear here as soon as they start.');
}

function render() {
  frame = 0;
  renderConnection();
  renderJobs();
  renderAll = false;
  dirty.clear();
}

function schedule() {
  if (frame === 0)
    frame = requestAnimationFrame(render);
}

store.subscribe((change) => {
  switch (change.kind) {
    case 'job':
      dirty.add(change.jobId);
      break;
    case 'job-finished': {
      dirty.add(change.jobId);
      const job = store.getJob(change.jobId);
      if (job && change.fromEvent)
        announce(`${jobName(job)}: ${statusLabel(job.status)}.`);
      break;
    }
    case 'connection':
    case 'breaker':
    case 'jobs':
      // The per-job indicators show the connection too.
      renderAll = true;
      break;
    default:
      break;
  }
  schedule();
});

/* ---- start --------------------------------------------------------------- */

ui.retry.addEventListener('click', () => store.retryNow());

// A hidden page need not poll; the streams stay open so that nothing is
// missed, and a page coming back refreshes at once.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden')
    store.pauseDiscovery();
  else
    store.resumeDiscovery();
});

if (singleJob !== null) {
  ui.allJobs.hidden = false;
  if (!isValidJobId(singleJob)) {
    setText(ui.title, 'No such job');
    setText(ui.empty, 'A job id is 1–128 characters of A–Z, a–z, 0–9, “.”, “_”, “:” and “-”, starting with a letter or digit.');
    ui.empty.hidden = false;
    ui.conn.hidden = true;
  } else {
    setText(ui.title, `Job ${singleJob}`);
    document.title = `Job ${singleJob} · aura-progress`;
    store.loadJob(singleJob).then((job) => {
      if (job && job.title) {
        setText(ui.title, job.title);
        document.title = `${job.title} · aura-progress`;
      }
      store.trackJob(singleJob);
    }, (err) => {
      setText(ui.empty, `Cannot show job ${singleJob}: ${err.message}`);
      ui.empty.hidden = false;
      // The stream still tells us if it appears or the server comes back.
      store.trackJob(singleJob);
    });
  }
} else {
  store.startDashboard();
}
render();

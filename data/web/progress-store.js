// SPDX-License-Identifier: MIT
// The web client's model: per-job state, one connection state per event
// stream, reconnection with exponential backoff, a circuit breaker shared by
// every request to the bridge, and a heartbeat watchdog.
//
// It never touches the DOM. EventSource, fetch, the timers, the clock and the
// random source are injected, so node's test runner drives it with fakes and
// the page with the browser's own.
//
// Reconnection, in the order things happen when the bridge goes away:
//  1. A live stream drops: the browser reconnects by itself after the
//     server's `retry:` hint (at most 1 s). That quick retry is what gets a
//     restarted bridge back in under 3 s; it is not one of the attempts.
//  2. Every connection that fails (the first connect, the quick retry, each
//     attempt) counts one failure for the circuit breaker and is followed by
//     an attempt after 3 s × 2^n (n = attempts made so far), capped at 30 s,
//     minus up to 20 % jitter so that many pages do not come back in step.
//  3. After 5 attempts a stream gives up until the breaker closes again or
//     someone asks for a retry; the dashboard then keeps its job list fresh
//     by polling.
//  4. The breaker opens after 5 consecutive failures of any request, and
//     then lets nothing through for 60 s; after that (half-open) exactly one
//     request goes out as a probe: success closes the breaker and every
//     waiting stream reconnects, failure opens it for another 60 s.
//  5. A connected stream that has been silent for 3 heartbeat intervals is
//     dead (a half-open TCP connection never errors): it is closed and
//     reconnected at once, like a drop.
// A reconnect resumes from the last event id, and events a job has already
// seen are dropped, so nothing arrives twice and nothing is lost.
//
// The dashboard follows every job on ONE stream, GET /api/events without a
// job list: a new job shows up with its first event, without polling and
// without reopening the stream. Its title (which events do not carry) comes
// from GET /api/jobs, fetched at start, when an unknown job appears, after a
// reconnect, and every 30 s as a safety net.

export const DEFAULT_OPTIONS = Object.freeze({
  baseUrl: '/',
  baseDelayMs: 3000,
  maxDelayMs: 30000,
  jitter: 0.2,
  maxAttempts: 5,
  breakerThreshold: 5,
  breakerOpenMs: 60000,
  heartbeatIntervalMs: 5000,
  heartbeatMisses: 3,
  discoveryIntervalMs: 30000,
  metadataDelayMs: 250,
  requestTimeoutMs: 15000,
  maxWarnings: 100,
  maxEventLog: 1000,
});

/** Event types of the web API; all but heartbeat carry an `id:`. */
export const EVENT_TYPES = Object.freeze([
  'step-progress', 'warning', 'heartbeat', 'job-completed', 'job-failed', 'job-cancelled',
]);

export const TERMINAL_EVENTS = Object.freeze({
  'job-completed': 'Completed',
  'job-failed': 'Failed',
  'job-cancelled': 'Canceled',
});

export const FINISHED_STATUSES = Object.freeze(['Completed', 'Failed', 'Canceled']);

/** The multiplexed stream of the dashboard. */
export const DASHBOARD_STREAM = 'dashboard';

const JOB_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

// EventSource.readyState values (the fake in the tests has no constants).
const CONNECTING = 0;
const CLOSED = 2;

// The step-progress fields; an absent optional one means null.
const PROGRESS_FIELDS = Object.freeze([
  'stage', 'percent', 'progress', 'etaSeconds', 'expectedEndTime', 'message', 'correlationId',
  'substageDetail', 'currentItem', 'totalItems', 'timestamp', 'status',
]);
// What only the job list (GET /api/jobs) knows.
const META_FIELDS = Object.freeze(['title', 'startedAt', 'finishedAt', 'completedStages']);

export function isValidJobId(id) {
  return typeof id === 'string' && JOB_ID_RE.test(id);
}

export function isFinished(status) {
  return FINISHED_STATUSES.includes(status);
}

/**
 * The delay before reconnection attempt n+1 (n = attempts already made):
 * base × 2^n capped at max, then up to `jitter` (a fraction) earlier.
 * Jitter only ever shortens the delay, so the cap stays a cap.
 */
export function backoffDelay(n, options = DEFAULT_OPTIONS, random = Math.random) {
  const { baseDelayMs, maxDelayMs, jitter } = { ...DEFAULT_OPTIONS, ...options };
  const exp = Math.min(Math.max(0, n), 30);  // 2^30 × base is past any cap
  const nominal = Math.min(maxDelayMs, baseDelayMs * 2 ** exp);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(nominal * (1 - jitter * r));
}

function browserTimers() {
  return {
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (id) => globalThis.clearTimeout(id),
    now: () => Date.now(),
  };
}

function toEventId(value) {
  const n = typeof value === 'string' && value !== '' ? Number(value) : value;
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

function nullable(v) {
  return v === undefined ? null : v;
}

/**
 * Closed → open after `threshold` consecutive failures; open for `openMs`;
 * then half-open, where exactly one request (the probe) may go out.
 */
export class CircuitBreaker {
  constructor({ threshold = 5, openMs = 60000, timers = browserTimers(), onChange = null } = {}) {
    this.threshold = threshold;
    this.openMs = openMs;
    this.timers = timers;
    this.onChange = onChange;
    this.state = 'closed';
    this.failures = 0;
    this.openUntil = null;
    this._probe = false;
    this._timer = null;
  }

  get probeInFlight() {
    return this._probe;
  }

  /** May a request go out now? In half-open state, true once: the probe. */
  tryAcquire() {
    if (this.state === 'closed')
      return true;
    if (this.state === 'half-open' && !this._probe) {
      this._probe = true;
      return true;
    }
    return false;
  }

  /** Ends an open period early (a user asked to retry now). */
  forceHalfOpen() {
    if (this.state !== 'open')
      return;
    this._clearTimer();
    this.openUntil = null;
    this.state = 'half-open';
    this._emit();
  }

  /** A probe that ended without a verdict (its stream was closed). */
  releaseProbe() {
    if (!this._probe)
      return;
    this._probe = false;
    this._emit();
  }

  recordSuccess() {
    this.failures = 0;
    this._probe = false;
    if (this.state !== 'closed') {
      this._clearTimer();
      this.openUntil = null;
      this.state = 'closed';
      this._emit();
    }
  }

  recordFailure() {
    this._probe = false;
    this.failures++;
    if (this.state === 'half-open' || (this.state === 'closed' && this.failures >= this.threshold))
      this._open();
  }

  dispose() {
    this._clearTimer();
    this.onChange = null;
  }

  _open() {
    this._clearTimer();
    this.state = 'open';
    this.openUntil = this.timers.now() + this.openMs;
    this._timer = this.timers.setTimeout(() => {
      this._timer = null;
      this.openUntil = null;
      this.state = 'half-open';
      this._emit();
    }, this.openMs);
    this._emit();
  }

  _clearTimer() {
    if (this._timer !== null) {
      this.timers.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  _emit() {
    if (this.onChange)
      this.onChange(this.state);
  }
}

/**
 * One EventSource and its connection state. `status` is one of
 * connecting (first connect), connected, reconnecting (quick retry or a
 * scheduled attempt), waiting (the breaker holds it back), failed (attempts
 * exhausted) or closed.
 */
class Stream {
  constructor(store, key) {
    this.store = store;
    this.key = key;
    this.es = null;
    this.status = 'connecting';
    this.attempts = 0;
    this.nextRetryAt = null;
    this.lastEventId = null;       // last id received on this stream
    this.lastMessageAt = null;
    this.lastHeartbeatAt = null;
    this.daemonStatus = null;      // heartbeat status: alive | daemon-unavailable
    this.isProbe = false;
    this._retryTimer = null;
    this._watchdog = null;
    this._watchdogMs = 0;
  }

  snapshot() {
    return {
      key: this.key,
      status: this.status,
      attempts: this.attempts,
      maxAttempts: this.store.options.maxAttempts,
      nextRetryAt: this.nextRetryAt,
      lastEventId: this.lastEventId,
      lastHeartbeatAt: this.lastHeartbeatAt,
      daemonStatus: this.daemonStatus,
    };
  }

  connect() {
    const { store } = this;
    this._clearRetry();
    this._closeEs();
    this.nextRetryAt = null;
    if (!store.breaker.tryAcquire()) {
      // Open: the breaker says when; half-open: another stream probes.
      this.nextRetryAt = store.breaker.openUntil;
      this._setStatus('waiting');
      return;
    }
    this.isProbe = store.breaker.state === 'half-open';
    let es;
    try {
      es = new store.EventSource(store._streamUrl(this));
    } catch (e) {
      // A URL the browser refuses is a failed connection like any other.
      this._failed();
      return;
    }
    this.es = es;
    es.onopen = () => this._onOpen(es);
    es.onerror = () => this._onError(es);
    for (const type of EVENT_TYPES)
      es.addEventListener(type, (ev) => this._onMessage(es, type, ev));
    this._setStatus(this.attempts === 0 && this.status !== 'reconnecting' ? 'connecting' : 'reconnecting');
    // A connection that neither opens nor fails is as good as failed; an
    // unanswered probe would otherwise keep the breaker half-open forever.
    this._armWatchdog();
  }

  /** Starts over after a give-up: manual retry or the breaker closing. */
  revive() {
    if (this.status === 'failed' || this.status === 'waiting') {
      if (this.store.breaker.state === 'closed')
        this.attempts = 0;
      this.connect();
    }
  }

  close() {
    this._clearRetry();
    this._disarmWatchdog();
    this._closeEs();
    if (this.isProbe) {
      this.isProbe = false;
      this.store.breaker.releaseProbe();
    }
    this.status = 'closed';
  }

  _onOpen(es) {
    if (es !== this.es)
      return;
    const recovered = this.status !== 'connecting';
    this.isProbe = false;
    this.attempts = 0;
    this.nextRetryAt = null;
    this.lastMessageAt = this.store.timers.now();
    this._setStatus('connected');
    this.store.breaker.recordSuccess();
    this._armWatchdog();
    if (recovered)
      this.store._streamRecovered(this);
  }

  _onError(es) {
    if (es !== this.es)
      return;
    this._disarmWatchdog();
    if (this.status === 'connected') {
      this._dropped(es.readyState === CONNECTING);
      return;
    }
    this._failed();
  }

  /** A live stream went away; reconnect quickly, without counting. */
  _dropped(browserRetries) {
    this.isProbe = false;
    this._setStatus('reconnecting');
    if (browserRetries) {
      // The browser's own reconnect sends Last-Event-ID; its outcome arrives
      // as open or error on the same EventSource.
      this._armWatchdog();
      return;
    }
    this._closeEs();
    this._schedule(0);
  }

  /** A connection attempt failed. */
  _failed() {
    const { store } = this;
    this._closeEs();
    this.isProbe = false;
    store.breaker.recordFailure();
    if (store.breaker.state === 'open') {
      this.nextRetryAt = store.breaker.openUntil;
      this._setStatus('waiting');
      return;
    }
    if (this.attempts >= store.options.maxAttempts) {
      this.nextRetryAt = null;
      this._setStatus('failed');
      return;
    }
    const delay = backoffDelay(this.attempts, store.options, store.random);
    this.attempts++;
    this._setStatus('reconnecting');
    this._schedule(delay);
  }

  _onMessage(es, type, ev) {
    if (es !== this.es)
      return;
    const { store } = this;
    this.lastMessageAt = store.timers.now();
    let data;
    try {
      data = JSON.parse(ev.data);
    } catch (e) {
      store.stats.malformedEvents++;
      return;
    }
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      store.stats.malformedEvents++;
      return;
    }
    if (type === 'heartbeat') {
      this._heartbeat(data);
      return;
    }
    const id = toEventId(ev.lastEventId);
    if (id !== null)
      this.lastEventId = id;
    store._applyEvent(type, data, id, this);
  }

  _heartbeat(data) {
    const { store } = this;
    this.lastHeartbeatAt = store.timers.now();
    const status = typeof data.status === 'string' ? data.status : null;
    // A bridge may say how often it beats (intervalSeconds); the watchdog
    // then follows it instead of the default.
    if (typeof data.intervalSeconds === 'number' && data.intervalSeconds > 0)
      this._watchdogMs = Math.round(data.intervalSeconds * 1000) * store.options.heartbeatMisses;
    if (status !== this.daemonStatus) {
      const back = this.daemonStatus === 'daemon-unavailable' && status === 'alive';
      this.daemonStatus = status;
      store._notify({ kind: 'connection', key: this.key });
      if (back)
        store._streamRecovered(this);
    }
  }

  _watchdogTimeout() {
    const { options } = this.store;
    return this._watchdogMs > 0 ? this._watchdogMs : options.heartbeatIntervalMs * options.heartbeatMisses;
  }

  _armWatchdog() {
    this._disarmWatchdog();
    const { timers } = this.store;
    const started = timers.now();
    const check = () => {
      this._watchdog = null;
      const now = timers.now();
      // Read each time: a heartbeat may have announced another interval.
      const timeout = this._watchdogTimeout();
      if (this.status === 'connected') {
        // Timers in background tabs fire late, never early: measure the
        // silence instead of trusting that the timer means it.
        const silent = now - (this.lastMessageAt ?? started);
        if (silent < timeout) {
          this._watchdog = timers.setTimeout(check, timeout - silent);
          return;
        }
        this.store.stats.watchdogTrips++;
        this._dropped(false);
        return;
      }
      // Still not open after a whole watchdog period: a failed attempt.
      if (this.status === 'connecting' || this.status === 'reconnecting')
        this._failed();
    };
    this._watchdog = timers.setTimeout(check, this._watchdogTimeout());
  }

  _disarmWatchdog() {
    if (this._watchdog !== null) {
      this.store.timers.clearTimeout(this._watchdog);
      this._watchdog = null;
    }
  }

  _schedule(delay) {
    const { timers } = this.store;
    this._clearRetry();
    this.nextRetryAt = timers.now() + delay;
    this._retryTimer = timers.setTimeout(() => {
      this._retryTimer = null;
      this.connect();
    }, delay);
    this.store._notify({ kind: 'connection', key: this.key });
  }

  _clearRetry() {
    if (this._retryTimer !== null) {
      this.store.timers.clearTimeout(this._retryTimer);
      this._retryTimer = null;
    }
  }

  _closeEs() {
    if (this.es !== null) {
      const es = this.es;
      this.es = null;
      es.onopen = null;
      es.onerror = null;
      es.close();
    }
  }

  _setStatus(status) {
    this.status = status;
    this.store._notify({ kind: 'connection', key: this.key });
  }
}

function newJob(jobId) {
  return {
    jobId,
    title: null,
    stage: null,
    percent: 0,
    progress: 0,
    etaSeconds: null,
    expectedEndTime: null,
    message: '',
    warnings: [],
    correlationId: null,
    substageDetail: null,
    currentItem: null,
    totalItems: null,
    timestamp: null,
    status: null,
    startedAt: null,
    finishedAt: null,
    completedStages: [],
    lastEventId: null,
    typesAtLast: [],         // event types applied with lastEventId
    lastUpdated: null,
    cancellation: null,      // { pending, result, error }
    events: [],              // { id, type } as received, bounded
  };
}

export class ProgressStore {
  constructor(options = {}) {
    const { EventSource, fetch, timers, random, token, ...rest } = options;
    this.options = { ...DEFAULT_OPTIONS, ...rest };
    this.EventSource = EventSource ?? globalThis.EventSource;
    this.fetch = fetch ?? ((...args) => globalThis.fetch(...args));
    this.timers = timers ?? browserTimers();
    this.random = random ?? Math.random;
    this.token = token ?? null;  // bearer token for cancelling, when the bridge wants one
    this.jobs = new Map();
    this.streams = new Map();
    this.dismissed = new Set();
    this.listeners = new Set();
    this.stats = { malformedEvents: 0, duplicateEvents: 0, watchdogTrips: 0 };
    this.lastRefresh = null;     // { at, ok, error }
    this.breaker = new CircuitBreaker({
      threshold: this.options.breakerThreshold,
      openMs: this.options.breakerOpenMs,
      timers: this.timers,
      onChange: (state) => this._breakerChanged(state),
    });
    this._discovery = null;      // { timer, running, paused, again, resumeId }
    this._metaTimer = null;
    this._disposed = false;
  }

  /* ---- observation ---------------------------------------------------- */

  /**
   * Calls fn(change) after every change; change.kind is job, job-finished,
   * job-removed, jobs, connection or breaker. Returns the unsubscribe.
   */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  getJob(jobId) {
    return this.jobs.get(jobId) ?? null;
  }

  /** Every job, newest first (by start time, then id, so rows stay put). */
  listJobs() {
    return [...this.jobs.values()].sort((a, b) => {
      const ta = a.startedAt ?? '';
      const tb = b.startedAt ?? '';
      if (ta !== tb)
        return ta < tb ? 1 : -1;
      return a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0;
    });
  }

  connection(key) {
    const s = this.streams.get(key);
    return s ? s.snapshot() : null;
  }

  /** The connection state of the stream that carries a job, or null. */
  connectionForJob(jobId) {
    const stream = this._streamForJob(jobId);
    return stream ? stream.snapshot() : null;
  }

  _streamForJob(jobId) {
    const job = this.jobs.get(jobId);
    if (!job || isFinished(job.status))
      return null;
    return this.streams.get(`job:${jobId}`) ?? this.streams.get(DASHBOARD_STREAM) ?? null;
  }

  breakerState() {
    const b = this.breaker;
    return { state: b.state, failures: b.failures, openUntil: b.openUntil, probeInFlight: b.probeInFlight };
  }

  _notify(change) {
    for (const fn of [...this.listeners]) {
      try {
        fn(change);
      } catch (e) {
        // A broken listener must not stop the others or the store.
        console.error('progress store listener failed', e);
      }
    }
  }

  /* ---- state updates -------------------------------------------------- */

  _ensureJob(jobId) {
    let job = this.jobs.get(jobId);
    if (!job) {
      job = newJob(jobId);
      this.jobs.set(jobId, job);
    }
    return job;
  }

  _logEvent(job, id, type) {
    job.events.push({ id, type });
    if (job.events.length > this.options.maxEventLog)
      job.events.splice(0, job.events.length - this.options.maxEventLog);
  }

  _setWarnings(job, list) {
    const clean = list.filter((w) => typeof w === 'string');
    const max = this.options.maxWarnings;
    job.warnings = clean.length > max ? clean.slice(clean.length - max) : clean;
  }

  _applyFields(job, data) {
    for (const key of PROGRESS_FIELDS) {
      if (key === 'status' && !(key in data))
        continue;    // an event without a status does not reset it
      job[key] = nullable(data[key]);
    }
    if (typeof job.percent !== 'number')
      job.percent = 0;
    if (typeof job.message !== 'string')
      job.message = '';
    if (Array.isArray(data.warnings))
      this._setWarnings(job, data.warnings);
    job.lastUpdated = this.timers.now();
  }

  /**
   * Applies one state object of GET /api/jobs (or /api/jobs/{id}). Older
   * than what the job already has (by lastEventId): only the fields that
   * events do not carry are taken.
   */
  applySnapshot(state) {
    if (!state || !isValidJobId(state.jobId))
      return false;
    if (this.dismissed.has(state.jobId))
      return false;
    const job = this._ensureJob(state.jobId);
    for (const key of META_FIELDS)
      if (key in state)
        job[key] = nullable(state[key]);
    if (!Array.isArray(job.completedStages))
      job.completedStages = [];
    const id = toEventId(state.lastEventId);
    // A job on a live stream gets its progress from the stream alone, event
    // by event; a snapshot would only race with it.
    const live = this._liveStream(job) !== null && job.lastEventId !== null;
    const stale = live || (id !== null && job.lastEventId !== null && id <= job.lastEventId);
    const wasFinished = isFinished(job.status);
    if (!stale) {
      this._applyFields(job, state);
      if (id !== null && id !== job.lastEventId) {
        job.lastEventId = id;
        job.typesAtLast = [];
      }
    }
    this._notify({ kind: 'job', jobId: job.jobId });
    if (!wasFinished && isFinished(job.status)) {
      this._notify({ kind: 'job-finished', jobId: job.jobId, status: job.status, fromEvent: false });
      this._closeJobStream(job.jobId);
    }
    return !stale;
  }

  _liveStream(job) {
    const stream = this._streamForJob(job.jobId);
    if (stream && (stream.status === 'connected' || stream.status === 'connecting'))
      return stream;
    return null;
  }

  /** One SSE event; returns false when it was a duplicate or malformed. */
  _applyEvent(type, data, sseId, stream) {
    const jobId = data.jobId;
    if (!isValidJobId(jobId)) {
      this.stats.malformedEvents++;
      return false;
    }
    if (this.dismissed.has(jobId))
      return false;
    // A per-job stream carries that job only.
    if (stream && stream.key !== DASHBOARD_STREAM && stream.key !== `job:${jobId}`)
      return false;
    const id = toEventId(data.eventId) ?? sseId;
    if (!this.jobs.has(jobId))
      this._wantMetadata();     // a new job: its title is in the job list
    const job = this._ensureJob(jobId);
    // A finished job's current state is a step-progress and its terminal
    // event, both with the job's last id: same id, other type, not a repeat.
    if (id !== null && job.lastEventId !== null &&
        (id < job.lastEventId || (id === job.lastEventId && job.typesAtLast.includes(type)))) {
      this.stats.duplicateEvents++;
      return false;
    }
    if (id !== null) {
      if (id !== job.lastEventId)
        job.typesAtLast = [];
      job.lastEventId = id;
      job.typesAtLast.push(type);
    }
    this._logEvent(job, id, type);
    const wasFinished = isFinished(job.status);

    if (type === 'step-progress') {
      this._applyFields(job, data);
      // The daemon's last step-progress of a job already says how it ended,
      // a moment before the terminal event: it finished then.
      if (!wasFinished && isFinished(job.status) && job.finishedAt === null &&
          typeof data.timestamp === 'string')
        job.finishedAt = data.timestamp;
    } else if (type === 'warning') {
      if (typeof data.message === 'string')
        this._setWarnings(job, [...job.warnings, data.message]);
      job.lastUpdated = this.timers.now();
    } else if (type in TERMINAL_EVENTS) {
      job.status = typeof data.status === 'string' && data.status !== '' ? data.status : TERMINAL_EVENTS[type];
      if (typeof data.message === 'string')
        job.message = data.message;
      if (typeof data.timestamp === 'string')
        job.finishedAt = data.timestamp;
      if (type === 'job-completed') {
        job.percent = 100;
        job.progress = 1;
        job.etaSeconds = 0;
      } else {
        job.etaSeconds = null;
        job.expectedEndTime = null;
      }
      job.lastUpdated = this.timers.now();
    } else {
      return false;
    }
    this._notify({ kind: 'job', jobId });
    if (!wasFinished && isFinished(job.status))
      this._notify({ kind: 'job-finished', jobId, status: job.status, fromEvent: true });
    // The terminal event is the last one a job has: its stream can go. (A
    // finished job's state comes just before it, with the same id.)
    if (type in TERMINAL_EVENTS)
      this._closeJobStream(jobId);
    return true;
  }

  /** A finished job needs no stream of its own any more. */
  _closeJobStream(jobId) {
    if (this.streams.has(`job:${jobId}`))
      this._closeStream(`job:${jobId}`);
  }

  /* ---- streams -------------------------------------------------------- */

  _url(path) {
    return new URL(path, this.options.baseUrl).href;
  }

  _streamUrl(stream) {
    let path;
    let resume;
    if (stream.key === DASHBOARD_STREAM) {
      // Every job, in event id order: the last id received is a position
      // in all of them. Before any, the job list's newest id is.
      path = 'api/events';
      resume = stream.lastEventId ?? (this._discovery ? this._discovery.resumeId : null);
    } else {
      const jobId = stream.key.slice('job:'.length);
      const job = this.jobs.get(jobId);
      path = `api/jobs/${encodeURIComponent(jobId)}/events`;
      resume = job ? job.lastEventId : null;
    }
    return this._url(resume !== null && resume !== undefined ? `${path}?lastEventId=${resume}` : path);
  }

  _openStream(key) {
    const stream = new Stream(this, key);
    this.streams.set(key, stream);
    stream.connect();
    return stream;
  }

  _closeStream(key) {
    const stream = this.streams.get(key);
    if (!stream)
      return;
    this.streams.delete(key);
    stream.close();
    this._notify({ kind: 'connection', key });
  }

  _breakerChanged(state) {
    this._notify({ kind: 'breaker', state });
    if (state === 'closed' || (state === 'half-open' && !this.breaker.probeInFlight)) {
      // Half-open: the first waiting stream takes the probe, the rest keep
      // waiting. Closed: everyone reconnects.
      for (const stream of [...this.streams.values()])
        stream.revive();
    }
  }

  /**
   * Follows one job through its own stream (a per-job view). Returns a
   * function that stops following it. A finished job needs no stream.
   */
  trackJob(jobId) {
    if (!isValidJobId(jobId))
      throw new RangeError(`invalid job id ${JSON.stringify(jobId)}: 1-128 characters of A-Z a-z 0-9 . _ : -, starting with a letter or digit`);
    this.dismissed.delete(jobId);
    const job = this._ensureJob(jobId);
    const key = `job:${jobId}`;
    if (!isFinished(job.status) && !this.streams.has(key))
      this._openStream(key);
    return () => this._closeStream(key);
  }

  /**
   * Reconnects every stream that gave up or waits, now: a user's explicit
   * request, so an open breaker lets one probe through at once.
   */
  retryNow() {
    this.breaker.forceHalfOpen();
    for (const stream of [...this.streams.values()])
      if (stream.status === 'failed' || stream.status === 'waiting')
        stream.revive();
    if (this._discovery)
      this.refreshJobs();
  }

  /* ---- job list (dashboard) ------------------------------------------- */

  /**
   * The dashboard: the job list once, then one stream for every job,
   * resuming from the list's newest event id.
   */
  startDashboard() {
    if (this._discovery)
      return;
    this._discovery = { timer: null, running: false, paused: false, again: false, resumeId: null };
    this.refreshJobs().then(() => {
      if (this._discovery && !this.streams.has(DASHBOARD_STREAM))
        this._openStream(DASHBOARD_STREAM);
    });
  }

  /** A stream is back (or the daemon is): the list may have changed. */
  _streamRecovered(stream) {
    if (stream.key === DASHBOARD_STREAM && this._discovery)
      this._wantMetadata();
  }

  /** Refreshes the job list soon, once for a burst of new jobs. */
  _wantMetadata() {
    if (!this._discovery || this._metaTimer !== null)
      return;
    this._metaTimer = this.timers.setTimeout(() => {
      this._metaTimer = null;
      this.refreshJobs();
    }, this.options.metadataDelayMs);
  }

  /** Stops polling (a hidden page); streams stay open. */
  pauseDiscovery() {
    if (!this._discovery)
      return;
    this._discovery.paused = true;
    this._clearDiscoveryTimer();
  }

  resumeDiscovery() {
    if (!this._discovery || !this._discovery.paused)
      return;
    this._discovery.paused = false;
    this.refreshJobs();
  }

  _clearDiscoveryTimer() {
    if (this._discovery && this._discovery.timer !== null) {
      this.timers.clearTimeout(this._discovery.timer);
      this._discovery.timer = null;
    }
  }

  _scheduleDiscovery() {
    const d = this._discovery;
    if (!d || d.paused || this._disposed)
      return;
    this._clearDiscoveryTimer();
    d.timer = this.timers.setTimeout(() => {
      d.timer = null;
      this.refreshJobs();
    }, this.options.discoveryIntervalMs);
  }

  async _request(path, init = {}) {
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = controller
      ? this.timers.setTimeout(() => controller.abort(), this.options.requestTimeoutMs) : null;
    const headers = { Accept: 'application/json' };
    if (init.method === 'POST' && this.token)
      headers.Authorization = `Bearer ${this.token}`;
    try {
      return await this.fetch(this._url(path), {
        cache: 'no-store',
        ...init,
        headers,
        ...(controller ? { signal: controller.signal } : {}),
      });
    } finally {
      if (timer !== null)
        this.timers.clearTimeout(timer);
    }
  }

  /**
   * Fetches the job list once and merges it. Skipped while the dashboard
   * stream is trying to reconnect (its attempts already tell whether the
   * bridge is back) and while the breaker is open.
   */
  async refreshJobs() {
    const d = this._discovery;
    if (!d || this._disposed)
      return;
    if (d.running) {
      d.again = true;     // what changed meanwhile may not be in that answer
      return;
    }
    const stream = this.streams.get(DASHBOARD_STREAM);
    if (stream && (stream.status === 'reconnecting' || stream.status === 'waiting')) {
      this._scheduleDiscovery();
      return;
    }
    if (!this.breaker.tryAcquire()) {
      this._scheduleDiscovery();
      return;
    }
    d.running = true;
    d.again = false;
    this._clearDiscoveryTimer();
    const requestedAt = this.timers.now();
    try {
      let res;
      try {
        res = await this._request('api/jobs');
      } catch (e) {
        this.breaker.recordFailure();
        this.lastRefresh = { at: this.timers.now(), ok: false, error: 'The server cannot be reached' };
        this._notify({ kind: 'jobs' });
        return;
      }
      // Gateway errors mean the bridge behind a proxy is gone; anything else
      // is an answer from the bridge itself.
      if (res.status === 502 || res.status === 504)
        this.breaker.recordFailure();
      else
        this.breaker.recordSuccess();
      if (!res.ok) {
        this.lastRefresh = { at: this.timers.now(), ok: false, error: await errorMessage(res) };
        this._notify({ kind: 'jobs' });
        return;
      }
      let body;
      try {
        body = await res.json();
      } catch (e) {
        this.lastRefresh = { at: this.timers.now(), ok: false, error: 'The server sent a malformed job list' };
        this._notify({ kind: 'jobs' });
        return;
      }
      if (!this._disposed)
        this.mergeJobList(Array.isArray(body) ? body : (body && Array.isArray(body.jobs) ? body.jobs : []), requestedAt);
      this.lastRefresh = { at: this.timers.now(), ok: true, error: null };
      this._notify({ kind: 'jobs' });
    } finally {
      d.running = false;
      if (d.again && this._discovery === d)
        this._wantMetadata();
      this._scheduleDiscovery();
    }
  }

  /**
   * Merges a whole job list, fetched at requestedAt: new jobs appear, known
   * ones are updated, and a running job the service no longer lists becomes
   * Unknown (finished ones stay until dismissed). A job heard of after the
   * request went out may simply be too new for the list.
   */
  mergeJobList(list, requestedAt = Infinity) {
    const listed = new Set();
    const d = this._discovery;
    for (const state of list) {
      if (!state || !isValidJobId(state.jobId))
        continue;
      listed.add(state.jobId);
      this.applySnapshot(state);
      const id = toEventId(state.lastEventId);
      if (d && id !== null && (d.resumeId === null || id > d.resumeId))
        d.resumeId = id;
    }
    for (const id of [...this.dismissed])
      if (!listed.has(id))
        this.dismissed.delete(id);   // gone on the server too: forget it
    for (const job of this.jobs.values()) {
      if (!listed.has(job.jobId) && (job.status === 'Running' || job.status === null) &&
          (job.lastUpdated === null || job.lastUpdated < requestedAt)) {
        job.status = 'Unknown';
        job.message = 'The service no longer knows this job (it may have restarted).';
        job.etaSeconds = null;
        this._notify({ kind: 'job', jobId: job.jobId });
      }
    }
  }

  /** Fetches one job's state (a per-job view's title, start time). */
  async loadJob(jobId) {
    if (!isValidJobId(jobId))
      throw new RangeError(`invalid job id ${JSON.stringify(jobId)}`);
    const res = await this._request(`api/jobs/${encodeURIComponent(jobId)}`);
    if (!res.ok)
      throw new Error(await errorMessage(res));
    const state = await res.json();
    this.applySnapshot(state);
    return this.getJob(jobId);
  }

  /* ---- actions -------------------------------------------------------- */

  /** The bearer token cancel requests carry (null: none). */
  setToken(token) {
    this.token = typeof token === 'string' && token !== '' ? token : null;
  }

  /**
   * POST /api/jobs/{id}/cancel. The result (every provider's status and
   * warning) is kept on the job as cancellation.result, an error as
   * cancellation.error.
   */
  async cancelJob(jobId) {
    const job = this.jobs.get(jobId);
    if (!job)
      throw new RangeError(`unknown job ${JSON.stringify(jobId)}`);
    if (job.cancellation && job.cancellation.pending)
      return job.cancellation;
    job.cancellation = { pending: true, result: null, error: null };
    this._notify({ kind: 'job', jobId });
    let outcome;
    try {
      const res = await this._request(`api/jobs/${encodeURIComponent(jobId)}/cancel`, { method: 'POST' });
      if (res.ok) {
        const body = await res.json();
        // The job's status still comes from its events (job-cancelled
        // follows at once), so that the stream closes on the terminal event
        // and no event is lost; the reply is shown as it is.
        outcome = { pending: false, result: body, error: null };
      } else {
        outcome = { pending: false, result: null, error: await errorMessage(res), httpStatus: res.status };
      }
    } catch (e) {
      outcome = { pending: false, result: null, error: 'The server cannot be reached; the job was not cancelled.' };
    }
    const current = this.jobs.get(jobId);
    if (current) {
      current.cancellation = outcome;
      this._notify({ kind: 'job', jobId });
    }
    return outcome;
  }

  /** Forgets a job: its state, its stream, and it stays hidden. */
  dismissJob(jobId) {
    if (!this.jobs.has(jobId))
      return false;
    this._closeStream(`job:${jobId}`);
    this.jobs.delete(jobId);
    this.dismissed.add(jobId);
    this._notify({ kind: 'job-removed', jobId });
    return true;
  }

  /** Closes every stream and timer; the store is unusable afterwards. */
  dispose() {
    this._disposed = true;
    this._clearDiscoveryTimer();
    if (this._metaTimer !== null) {
      this.timers.clearTimeout(this._metaTimer);
      this._metaTimer = null;
    }
    this._discovery = null;
    for (const key of [...this.streams.keys()])
      this._closeStream(key);
    this.breaker.dispose();
    this.listeners.clear();
  }
}

/** The message of a JSON error body, or a generic one with the status. */
async function errorMessage(res) {
  try {
    const body = await res.json();
    if (body && typeof body.message === 'string' && body.message !== '')
      return body.message;
    if (body && typeof body.error === 'string' && body.error !== '')
      return body.error;
  } catch (e) {
    // not JSON: fall through
  }
  return `The server answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
}

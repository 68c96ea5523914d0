// SPDX-License-Identifier: MIT
// The progress store against a fake clock, a fake EventSource and a fake
// fetch: backoff, attempt limit, circuit breaker, heartbeat watchdog, event
// handling and resumption.

import { test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';

import {
  ProgressStore, CircuitBreaker, backoffDelay, DEFAULT_OPTIONS, DASHBOARD_STREAM, isValidJobId,
} from '../../data/web/progress-store.js';
import { FakeClock, makeEventSource, makeFetch, settle } from './fakes.mjs';

const BASE = 'http://bridge.test/';

// Flat, prefixed test names rather than describe(): meson's TAP parser does
// not follow node's nested subtests.
let group = '';
function describe(name, body) {
  group = name;
  body();
  group = '';
}
function test(name, fn) {
  nodeTest(group ? `${group}: ${name}` : name, fn);
}

function setup(options = {}, fetchHandler = () => ({ status: 404, body: { error: 'not found' } })) {
  const clock = new FakeClock();
  const ES = makeEventSource();
  const fetch = makeFetch(fetchHandler);
  let random = options.random ?? (() => 0);
  const store = new ProgressStore({
    baseUrl: BASE,
    EventSource: ES,
    fetch,
    timers: clock,
    random: () => random(),
    ...options,
  });
  const changes = [];
  store.subscribe((c) => changes.push(c));
  return { clock, ES, fetch, store, changes, setRandom: (r) => { random = r; } };
}

function progress(jobId, eventId, extra = {}) {
  return {
    jobId, eventId, stage: 'tts', percent: 40, progress: 0.4, etaSeconds: 120,
    expectedEndTime: '2030-01-01T00:02:00.000Z', message: 'Synthesizing scene 3 of 10',
    warnings: [], correlationId: 'corr-1', substageDetail: 'scene 3/10', currentItem: 3,
    totalItems: 10, timestamp: '2030-01-01T00:00:00.000Z', status: 'Running', ...extra,
  };
}

function query(url) {
  return Object.fromEntries(new URL(url).searchParams);
}

/* ---- backoff ------------------------------------------------------------ */

describe('backoff', () => {
  test('3 s × 2^n capped at 30 s', () => {
    const seq = [0, 1, 2, 3, 4, 5, 6, 40].map((n) => backoffDelay(n, DEFAULT_OPTIONS, () => 0));
    assert.deepEqual(seq, [3000, 6000, 12000, 24000, 30000, 30000, 30000, 30000]);
  });

  test('jitter only shortens, by at most 20 %', () => {
    for (let n = 0; n < 7; n++) {
      const nominal = Math.min(30000, 3000 * 2 ** n);
      const lo = backoffDelay(n, DEFAULT_OPTIONS, () => 0.999999);
      const hi = backoffDelay(n, DEFAULT_OPTIONS, () => 0);
      assert.equal(hi, nominal);
      assert.equal(lo, Math.round(nominal * (1 - 0.2 * 0.999999)));
      for (let i = 0; i <= 20; i++) {
        const d = backoffDelay(n, DEFAULT_OPTIONS, () => i / 20);
        assert.ok(d >= nominal * 0.8 && d <= nominal, `attempt ${n}: ${d} outside [${nominal * 0.8}, ${nominal}]`);
      }
    }
  });

  test('jitter spreads clients apart', () => {
    const a = backoffDelay(2, DEFAULT_OPTIONS, () => 0.1);
    const b = backoffDelay(2, DEFAULT_OPTIONS, () => 0.9);
    assert.ok(a - b > 1000, `${a} and ${b} are too close`);
  });

  test('a random source out of range cannot break the bounds', () => {
    assert.equal(backoffDelay(0, DEFAULT_OPTIONS, () => -5), 3000);
    assert.equal(backoffDelay(0, DEFAULT_OPTIONS, () => 7), 2400);
  });
});

/* ---- circuit breaker ------------------------------------------------------ */

describe('circuit breaker', () => {
  function breaker() {
    const clock = new FakeClock();
    const states = [];
    const b = new CircuitBreaker({ threshold: 5, openMs: 60000, timers: clock, onChange: (s) => states.push(s) });
    return { b, clock, states };
  }

  test('closed: lets everything through and a success resets the count', () => {
    const { b } = breaker();
    for (let i = 0; i < 4; i++)
      b.recordFailure();
    assert.equal(b.state, 'closed');
    assert.equal(b.failures, 4);
    assert.ok(b.tryAcquire() && b.tryAcquire());
    b.recordSuccess();
    assert.equal(b.failures, 0);
    for (let i = 0; i < 4; i++)
      b.recordFailure();
    assert.equal(b.state, 'closed', 'failures must be consecutive');
  });

  test('closed → open after 5 consecutive failures, for 60 s', () => {
    const { b, clock, states } = breaker();
    for (let i = 0; i < 5; i++)
      b.recordFailure();
    assert.equal(b.state, 'open');
    assert.deepEqual(states, ['open']);
    assert.equal(b.openUntil, clock.now() + 60000);
    assert.equal(b.tryAcquire(), false);
    clock.advance(59999);
    assert.equal(b.state, 'open');
    assert.equal(b.tryAcquire(), false);
    clock.advance(1);
    assert.equal(b.state, 'half-open');
    assert.deepEqual(states, ['open', 'half-open']);
  });

  test('half-open lets exactly one probe through', () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 5; i++)
      b.recordFailure();
    clock.advance(60000);
    assert.equal(b.tryAcquire(), true);
    assert.equal(b.probeInFlight, true);
    assert.equal(b.tryAcquire(), false);
    assert.equal(b.tryAcquire(), false);
  });

  test('half-open → closed when the probe succeeds', () => {
    const { b, clock, states } = breaker();
    for (let i = 0; i < 5; i++)
      b.recordFailure();
    clock.advance(60000);
    b.tryAcquire();
    b.recordSuccess();
    assert.equal(b.state, 'closed');
    assert.equal(b.failures, 0);
    assert.equal(b.openUntil, null);
    assert.deepEqual(states, ['open', 'half-open', 'closed']);
    assert.ok(b.tryAcquire() && b.tryAcquire());
  });

  test('half-open → open again when the probe fails', () => {
    const { b, clock, states } = breaker();
    for (let i = 0; i < 5; i++)
      b.recordFailure();
    clock.advance(60000);
    b.tryAcquire();
    b.recordFailure();
    assert.equal(b.state, 'open');
    assert.equal(b.openUntil, clock.now() + 60000);
    assert.equal(b.tryAcquire(), false);
    clock.advance(60000);
    assert.equal(b.state, 'half-open');
    assert.deepEqual(states, ['open', 'half-open', 'open', 'half-open']);
  });

  test('an abandoned probe lets another one through', () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 5; i++)
      b.recordFailure();
    clock.advance(60000);
    assert.equal(b.tryAcquire(), true);
    b.releaseProbe();
    assert.equal(b.tryAcquire(), true);
  });

  test('a user retry ends the open period early', () => {
    const { b } = breaker();
    for (let i = 0; i < 5; i++)
      b.recordFailure();
    b.forceHalfOpen();
    assert.equal(b.state, 'half-open');
    assert.equal(b.tryAcquire(), true);
  });
});

/* ---- one job's stream ------------------------------------------------------ */

describe('per-job stream: events', () => {
  test('opens the per-job stream and becomes connected', () => {
    const { store, ES } = setup();
    store.trackJob('job-1');
    assert.equal(ES.instances.length, 1);
    assert.equal(ES.last().url, `${BASE}api/jobs/job-1/events`);
    assert.equal(store.connection('job:job-1').status, 'connecting');
    ES.last().open();
    assert.equal(store.connection('job:job-1').status, 'connected');
    assert.equal(store.connectionForJob('job-1').status, 'connected');
  });

  test('rejects a malformed job id with what is allowed', () => {
    const { store } = setup();
    assert.throws(() => store.trackJob('../x'), /1-128 characters of A-Z a-z 0-9/);
    assert.equal(isValidJobId('a'.repeat(128)), true);
    assert.equal(isValidJobId('a'.repeat(129)), false);
    assert.equal(isValidJobId('-a'), false);
  });

  test('step-progress sets every field; absent optional ones become null', () => {
    const { store, ES, changes } = setup();
    store.trackJob('job-1');
    ES.last().open();
    ES.last().emit('step-progress', progress('job-1', 7, { warnings: ['slow provider'] }), 7);
    let job = store.getJob('job-1');
    assert.equal(job.stage, 'tts');
    assert.equal(job.percent, 40);
    assert.equal(job.progress, 0.4);
    assert.equal(job.etaSeconds, 120);
    assert.equal(job.expectedEndTime, '2030-01-01T00:02:00.000Z');
    assert.equal(job.message, 'Synthesizing scene 3 of 10');
    assert.equal(job.substageDetail, 'scene 3/10');
    assert.equal(job.currentItem, 3);
    assert.equal(job.totalItems, 10);
    assert.equal(job.correlationId, 'corr-1');
    assert.equal(job.status, 'Running');
    assert.deepEqual(job.warnings, ['slow provider']);
    assert.equal(job.lastEventId, 7);
    assert.ok(changes.some((c) => c.kind === 'job' && c.jobId === 'job-1'));

    const next = progress('job-1', 9, { stage: 'visuals', percent: 55 });
    delete next.etaSeconds;
    delete next.substageDetail;
    delete next.currentItem;
    delete next.totalItems;
    ES.last().emit('step-progress', next, 9);
    job = store.getJob('job-1');
    assert.equal(job.stage, 'visuals');
    assert.equal(job.etaSeconds, null);
    assert.equal(job.substageDetail, null);
    assert.equal(job.currentItem, null);
    assert.equal(job.totalItems, null);
    assert.deepEqual(job.events.map((e) => e.id), [7, 9]);
  });

  test('an event the job already has is dropped', () => {
    const { store, ES } = setup();
    store.trackJob('job-1');
    ES.last().open();
    ES.last().emit('step-progress', progress('job-1', 10, { percent: 50 }), 10);
    ES.last().emit('step-progress', progress('job-1', 10, { percent: 51 }), 10);
    ES.last().emit('step-progress', progress('job-1', 8, { percent: 30 }), 8);
    const job = store.getJob('job-1');
    assert.equal(job.percent, 50);
    assert.equal(job.lastEventId, 10);
    assert.equal(store.stats.duplicateEvents, 2);
    assert.deepEqual(job.events.map((e) => e.id), [10]);
  });

  test('a finished job\'s state and terminal event share an id; both count', () => {
    const { store, ES } = setup();
    store.trackJob('job-1');
    const es = ES.last();
    es.open();
    es.emit('step-progress', progress('job-1', 50, { percent: 100, status: 'Completed', message: 'Video ready' }), 50);
    es.emit('job-completed', { jobId: 'job-1', status: 'Completed', message: 'Video ready', eventId: 50 }, 50);
    const job = store.getJob('job-1');
    assert.deepEqual(job.events, [{ id: 50, type: 'step-progress' }, { id: 50, type: 'job-completed' }]);
    assert.equal(job.status, 'Completed');
    assert.ok(es.closed);
  });

  test('warnings are appended, and a later full list replaces them', () => {
    const { store, ES } = setup();
    store.trackJob('job-1');
    ES.last().open();
    ES.last().emit('step-progress', progress('job-1', 1), 1);
    ES.last().emit('warning', { jobId: 'job-1', message: 'TTS voice fell back', timestamp: 'x', eventId: 2 }, 2);
    ES.last().emit('warning', { jobId: 'job-1', message: 'image retry', timestamp: 'x', eventId: 3 }, 3);
    assert.deepEqual(store.getJob('job-1').warnings, ['TTS voice fell back', 'image retry']);
    ES.last().emit('step-progress', progress('job-1', 4, { warnings: ['TTS voice fell back', 'image retry'] }), 4);
    assert.deepEqual(store.getJob('job-1').warnings, ['TTS voice fell back', 'image retry']);
  });

  test('warnings are bounded', () => {
    const { store, ES } = setup({ maxWarnings: 3 });
    store.trackJob('job-1');
    ES.last().open();
    for (let i = 1; i <= 5; i++)
      ES.last().emit('warning', { jobId: 'job-1', message: `w${i}`, timestamp: 'x' }, i);
    assert.deepEqual(store.getJob('job-1').warnings, ['w3', 'w4', 'w5']);
  });

  test('the event log is bounded', () => {
    const { store, ES } = setup({ maxEventLog: 4 });
    store.trackJob('job-1');
    ES.last().open();
    for (let i = 1; i <= 6; i++)
      ES.last().emit('step-progress', progress('job-1', i), i);
    assert.deepEqual(store.getJob('job-1').events.map((e) => e.id), [3, 4, 5, 6]);
  });

  test('heartbeats report whether the daemon is reachable', () => {
    const { store, ES, clock } = setup();
    store.trackJob('job-1');
    ES.last().open();
    ES.last().emit('heartbeat', { timestamp: 'x', status: 'alive' });
    assert.equal(store.connection('job:job-1').daemonStatus, 'alive');
    assert.equal(store.connection('job:job-1').lastHeartbeatAt, clock.now());
    ES.last().emit('heartbeat', { timestamp: 'x', status: 'daemon-unavailable' });
    assert.equal(store.connection('job:job-1').daemonStatus, 'daemon-unavailable');
    assert.equal(store.connection('job:job-1').status, 'connected');
  });

  test('malformed events are counted and ignored', () => {
    const { store, ES } = setup();
    store.trackJob('job-1');
    ES.last().open();
    ES.last().emit('step-progress', '{not json', 1);
    ES.last().emit('step-progress', '[1,2]', 2);
    ES.last().emit('step-progress', { jobId: '../etc', eventId: 3 }, 3);
    assert.equal(store.stats.malformedEvents, 3);
    assert.equal(store.getJob('job-1').lastEventId, null);
  });

  for (const [type, status, message] of [
    ['job-completed', 'Completed', 'Video ready'],
    ['job-failed', 'Failed', 'render crashed'],
    ['job-cancelled', 'Canceled', 'Cancelled by user'],
  ]) {
    test(`${type} ends the job and closes its stream`, () => {
      const { store, ES, changes } = setup();
      store.trackJob('job-1');
      const es = ES.last();
      es.open();
      es.emit('step-progress', progress('job-1', 5, { percent: 90 }), 5);
      es.emit(type, { jobId: 'job-1', status, message, eventId: 6 }, 6);
      const job = store.getJob('job-1');
      assert.equal(job.status, status);
      assert.equal(job.message, message);
      assert.equal(job.lastEventId, 6);
      if (status === 'Completed') {
        assert.equal(job.percent, 100);
        assert.equal(job.etaSeconds, 0);
      } else {
        assert.equal(job.percent, 90, 'a failed or cancelled job keeps its last percent');
        assert.equal(job.etaSeconds, null);
      }
      assert.ok(es.closed, 'the stream is closed');
      assert.equal(store.connection('job:job-1'), null);
      assert.ok(changes.some((c) => c.kind === 'job-finished' && c.jobId === 'job-1' && c.status === status));
      assert.equal(ES.live().length, 0);
    });
  }

  test('a step-progress that says how the job ended gives it its finish time', () => {
    // the daemon's order: the final state, then the terminal event
    const { store, ES } = setup();
    store.trackJob('job-1');
    const es = ES.last();
    es.open();
    es.emit('step-progress', progress('job-1', 7, {
      percent: 100, status: 'Completed', timestamp: '2030-01-01T00:05:00.063Z',
    }), 7);
    const job = store.getJob('job-1');
    assert.equal(job.status, 'Completed');
    assert.equal(job.finishedAt, '2030-01-01T00:05:00.063Z');
    es.emit('job-completed', {
      jobId: 'job-1', status: 'Completed', timestamp: '2030-01-01T00:05:00.055Z', eventId: 8,
    }, 8);
    assert.equal(job.finishedAt, '2030-01-01T00:05:00.055Z', 'the terminal event has the last word');
    assert.ok(es.closed);
  });

  test('a terminal event without status uses the event type', () => {
    const { store, ES } = setup();
    store.trackJob('job-1');
    ES.last().open();
    ES.last().emit('job-cancelled', { jobId: 'job-1', message: 'stop' }, 3);
    assert.equal(store.getJob('job-1').status, 'Canceled');
  });

  test('a per-job stream ignores other jobs', () => {
    const { store, ES } = setup();
    store.trackJob('job-1');
    ES.last().open();
    ES.last().emit('step-progress', progress('job-2', 5), 5);
    assert.equal(store.getJob('job-2'), null);
  });

  test('a finished job opens no stream', () => {
    const { store, ES } = setup();
    store.applySnapshot({ ...progress('job-1', 4), status: 'Completed', lastEventId: 4 });
    store.trackJob('job-1');
    assert.equal(ES.instances.length, 0);
  });
});

/* ---- reconnection ---------------------------------------------------------- */

describe('per-job stream: reconnection', () => {
  test('a drop is retried by the browser at once, with no attempt counted', () => {
    const { store, ES } = setup();
    store.trackJob('job-1');
    const es = ES.last();
    es.open();
    es.drop();
    const c = store.connection('job:job-1');
    assert.equal(c.status, 'reconnecting');
    assert.equal(c.attempts, 0);
    assert.equal(ES.instances.length, 1, 'the browser reconnects the same EventSource');
    assert.equal(es.closed, false);
    es.open();
    assert.equal(store.connection('job:job-1').status, 'connected');
    assert.equal(store.breaker.failures, 0);
  });

  test('backoff 3, 6, 12, 24, 30 s, then it gives up after 5 attempts', () => {
    const { store, ES, clock } = setup({ breakerThreshold: 100 });
    store.trackJob('job-1');
    ES.last().open();
    ES.last().drop();
    ES.last().fail(0);             // the browser's own retry was refused
    const delays = [];
    for (let attempt = 1; attempt <= 5; attempt++) {
      assert.ok(ES.last().closed, 'no EventSource retries on its own');
      const c = store.connection('job:job-1');
      assert.equal(c.status, 'reconnecting');
      assert.equal(c.attempts, attempt);
      const wait = clock.untilNext();
      delays.push(wait);
      assert.equal(c.nextRetryAt, clock.now() + wait);
      const before = ES.instances.length;
      clock.advance(wait - 1);
      assert.equal(ES.instances.length, before, 'not before the delay');
      clock.advance(1);
      assert.equal(ES.instances.length, before + 1);
      ES.last().fail(0);
    }
    assert.deepEqual(delays, [3000, 6000, 12000, 24000, 30000]);
    const c = store.connection('job:job-1');
    assert.equal(c.status, 'failed');
    assert.equal(c.attempts, 5);
    const count = ES.instances.length;
    clock.advance(10 * 60000);
    assert.equal(ES.instances.length, count, 'no sixth attempt');
    assert.equal(clock.pending().length, 0, 'nothing left scheduled');
  });

  test('jitter from the injected random source', () => {
    const { store, ES, clock, setRandom } = setup({ breakerThreshold: 100 });
    setRandom(() => 0.5);
    store.trackJob('job-1');
    ES.last().fail();
    assert.equal(clock.untilNext(), 2700);
    clock.advance(2700);
    ES.last().fail();
    assert.equal(clock.untilNext(), 5400);
  });

  test('a success resets the attempts', () => {
    const { store, ES, clock } = setup();
    store.trackJob('job-1');
    ES.last().fail();
    clock.advance(3000);
    ES.last().fail();
    assert.equal(store.connection('job:job-1').attempts, 2);
    clock.advance(6000);
    ES.last().open();
    assert.equal(store.connection('job:job-1').attempts, 0);
    assert.equal(store.breaker.failures, 0);
    ES.last().drop();
    ES.last().fail(0);
    assert.equal(clock.untilNext(), 3000, 'the next outage starts again at 3 s');
  });

  test('reconnects resume from the last event id', () => {
    const { store, ES, clock } = setup();
    store.trackJob('job-1');
    ES.last().open();
    ES.last().emit('step-progress', progress('job-1', 41), 41);
    ES.last().emit('heartbeat', { timestamp: 'x', status: 'alive' });
    ES.last().emit('warning', { jobId: 'job-1', message: 'w', timestamp: 'x' }, 42);
    ES.last().drop();
    ES.last().fail(0);
    clock.advance(3000);
    assert.equal(query(ES.last().url).lastEventId, '42');
    ES.last().open();
    // The bridge replays from 42: an event at or below it is a duplicate.
    ES.last().emit('warning', { jobId: 'job-1', message: 'w', timestamp: 'x' }, 42);
    ES.last().emit('step-progress', progress('job-1', 43, { percent: 60 }), 43);
    const job = store.getJob('job-1');
    assert.deepEqual(job.warnings, []);  // 43 carries the full list
    assert.deepEqual(job.events.map((e) => e.id), [41, 42, 43]);
    assert.equal(job.percent, 60);
  });

  test('the first connect of a known job resumes from its snapshot', () => {
    const { store, ES } = setup();
    store.applySnapshot({ ...progress('job-1', undefined), lastEventId: 77 });
    store.trackJob('job-1');
    assert.equal(query(ES.last().url).lastEventId, '77');
  });

  test('an unknown job id on a failing stream gives up like any failure', () => {
    const { store, ES, clock } = setup({ breakerThreshold: 100 });
    store.trackJob('nope');
    for (let i = 0; i < 6; i++) {
      ES.last().fail();       // 404: EventSource fails for good
      clock.advance(clock.untilNext() ?? 0);
    }
    assert.equal(store.connection('job:nope').status, 'failed');
    assert.equal(ES.instances.length, 6);
  });

  test('untracking closes the stream and its timers', () => {
    const { store, ES, clock } = setup();
    const stop = store.trackJob('job-1');
    ES.last().fail();
    stop();
    assert.equal(store.connection('job:job-1'), null);
    assert.equal(clock.pending().length, 0);
    assert.ok(ES.last().closed);
  });
});

/* ---- heartbeat watchdog ---------------------------------------------------- */

describe('heartbeat watchdog', () => {
  test('3 missed heartbeats make the stream dead; it reconnects at once and resumes', () => {
    const { store, ES, clock } = setup();
    store.trackJob('job-1');
    const es = ES.last();
    es.open();
    es.emit('step-progress', progress('job-1', 5), 5);
    clock.advance(14999);
    assert.equal(store.connection('job:job-1').status, 'connected');
    assert.equal(ES.instances.length, 1);
    clock.advance(1);
    assert.equal(store.stats.watchdogTrips, 1);
    assert.ok(es.closed, 'the dead stream is closed');
    assert.equal(store.connection('job:job-1').status, 'reconnecting');
    clock.advance(0);
    assert.equal(ES.instances.length, 2, 'reconnected at once');
    assert.equal(query(ES.last().url).lastEventId, '5');
    assert.equal(store.breaker.failures, 0, 'a dead stream is a drop, not a failed request');
  });

  test('heartbeats keep the stream alive', () => {
    const { store, ES, clock } = setup();
    store.trackJob('job-1');
    ES.last().open();
    for (let i = 0; i < 20; i++) {
      clock.advance(5000);
      ES.last().emit('heartbeat', { timestamp: 'x', status: 'alive' });
    }
    assert.equal(ES.instances.length, 1);
    assert.equal(store.stats.watchdogTrips, 0);
    assert.equal(store.connection('job:job-1').status, 'connected');
  });

  test('one late heartbeat is tolerated, three missed are not', () => {
    const { store, ES, clock } = setup();
    store.trackJob('job-1');
    ES.last().open();
    clock.advance(12000);
    ES.last().emit('heartbeat', { timestamp: 'x', status: 'alive' });
    clock.advance(14000);
    assert.equal(store.stats.watchdogTrips, 0);
    clock.advance(1000);
    assert.equal(store.stats.watchdogTrips, 1);
  });

  test('the interval a bridge announces sets the watchdog', () => {
    const { store, ES, clock } = setup();
    store.trackJob('job-1');
    ES.last().open();
    ES.last().emit('heartbeat', { timestamp: 'x', status: 'alive', intervalSeconds: 10 });
    clock.advance(29999);
    assert.equal(store.stats.watchdogTrips, 0);
    clock.advance(1);
    assert.equal(store.stats.watchdogTrips, 1);
  });

  test('the heartbeat interval option sets the watchdog', () => {
    const { store, ES, clock } = setup({ heartbeatIntervalMs: 1000 });
    store.trackJob('job-1');
    ES.last().open();
    clock.advance(3000);
    assert.equal(store.stats.watchdogTrips, 1);
  });

  test('a connection that never opens counts as failed', () => {
    const { store, ES, clock } = setup();
    store.trackJob('job-1');
    clock.advance(15000);
    assert.ok(ES.last().closed);
    assert.equal(store.breaker.failures, 1);
    assert.equal(store.connection('job:job-1').attempts, 1);
    assert.equal(clock.untilNext(), 3000);
  });
});

/* ---- breaker in the store -------------------------------------------------- */

describe('circuit breaker across streams', () => {
  function fiveFailures() {
    const ctx = setup();
    const { store, ES } = ctx;
    store.trackJob('a');
    store.trackJob('b');
    const [a, b] = ES.instances;
    a.open();
    b.open();
    a.drop();
    b.drop();
    // The browser's quick retries fail; then attempts fail until 5 in a row.
    a.fail(0);
    b.fail(0);
    ctx.clock.advance(3000);
    for (const es of ES.live())
      es.fail(0);
    ctx.clock.advance(6000);
    ES.live()[0].fail(0);
    return ctx;
  }

  test('five consecutive failures open the breaker; every stream waits', () => {
    const { store, ES, clock, changes } = fiveFailures();
    assert.equal(store.breakerState().state, 'open');
    assert.ok(changes.some((c) => c.kind === 'breaker' && c.state === 'open'));
    const count = ES.instances.length;
    clock.advance(59999);
    assert.equal(ES.instances.length, count, 'nothing goes out while open');
    for (const key of ['job:a', 'job:b'])
      assert.equal(store.connection(key).status, 'waiting');
    assert.equal(store.connection('job:a').nextRetryAt, store.breakerState().openUntil);
  });

  test('half-open: one stream probes; its success reconnects the other', () => {
    const { store, ES, clock } = fiveFailures();
    const count = ES.instances.length;
    clock.advance(60000);
    assert.equal(store.breakerState().state, 'half-open');
    assert.equal(ES.instances.length, count + 1, 'exactly one probe');
    assert.equal(ES.live().length, 1);
    ES.last().open();
    assert.equal(store.breakerState().state, 'closed');
    assert.equal(ES.instances.length, count + 2, 'the waiting stream reconnects at once');
    ES.last().open();
    assert.equal(store.connection('job:a').status, 'connected');
    assert.equal(store.connection('job:b').status, 'connected');
  });

  test('half-open: a failed probe opens the breaker for another 60 s', () => {
    const { store, ES, clock } = fiveFailures();
    clock.advance(60000);
    const count = ES.instances.length;
    ES.last().fail(0);
    assert.equal(store.breakerState().state, 'open');
    clock.advance(59999);
    assert.equal(ES.instances.length, count);
    clock.advance(1);
    assert.equal(ES.instances.length, count + 1);
  });

  test('a user retry probes at once', () => {
    const { store, ES } = fiveFailures();
    const count = ES.instances.length;
    store.retryNow();
    assert.equal(ES.instances.length, count + 1);
    assert.equal(store.breakerState().state, 'half-open');
  });

  test('a probe stream that is closed hands the probe on', () => {
    const { store, ES, clock } = fiveFailures();
    clock.advance(60000);
    const prober = ES.live()[0];
    const key = prober.url.includes('/a/') ? 'job:a' : 'job:b';
    const other = key === 'job:a' ? 'job:b' : 'job:a';
    store._closeStream(key);
    assert.ok(prober.closed);
    assert.equal(ES.live().length, 1, 'the other stream probes instead');
    assert.ok(ES.last().url.includes(`/${other.slice(4)}/`));
  });
});

/* ---- dashboard: job list and the multiplexed stream ----------------------- */

function jobState(jobId, extra = {}) {
  return {
    ...progress(jobId, undefined), title: `Video ${jobId}`, startedAt: '2030-01-01T00:00:00.000Z',
    completedStages: [], lastEventId: 10, ...extra,
  };
}

describe('dashboard', () => {
  function dashboard(list, options = {}) {
    let current = list;
    const ctx = setup(options, (url, init) => {
      if (url.pathname === '/api/jobs' && (init.method ?? 'GET') === 'GET')
        return typeof current === 'function' ? current() : { status: 200, body: current };
      return { status: 404, body: { error: 'not found' } };
    });
    ctx.setList = (l) => { current = l; };
    ctx.polls = () => ctx.fetch.calls.filter((c) => c.url === `${BASE}api/jobs`).length;
    return ctx;
  }

  async function started(list, options) {
    const ctx = dashboard(list, options);
    ctx.store.startDashboard();
    await settle();
    // Time passing on a healthy stream: heartbeats keep the watchdog quiet.
    ctx.live = async (ms) => {
      for (let left = ms; left > 0; left -= 5000) {
        ctx.clock.advance(Math.min(5000, left));
        for (const es of ctx.ES.live())
          if (es.readyState === 1)
            es.emit('heartbeat', { timestamp: 'x', status: 'alive' });
        await settle();
      }
    };
    return ctx;
  }

  test('lists every job, then follows all of them on ONE stream from the list position', async () => {
    const { store, ES } = await started([
      jobState('b', { lastEventId: 30, startedAt: '2030-01-01T00:00:02.000Z' }),
      jobState('a', { lastEventId: 20, startedAt: '2030-01-01T00:00:01.000Z' }),
      jobState('done', { status: 'Completed', percent: 100, lastEventId: 5, startedAt: '2030-01-01T00:00:00.000Z' }),
    ]);
    assert.deepEqual(store.listJobs().map((j) => j.jobId), ['b', 'a', 'done']);
    assert.equal(store.getJob('a').title, 'Video a');
    assert.equal(ES.instances.length, 1);
    const url = new URL(ES.last().url);
    assert.equal(url.pathname, '/api/events');
    assert.equal(url.searchParams.get('jobs'), null, 'every job, not a list');
    assert.equal(url.searchParams.get('lastEventId'), '30', 'resumes after the newest event in the list');
    ES.last().open();
    assert.equal(store.connectionForJob('a').status, 'connected');
    assert.equal(store.connectionForJob('done'), null, 'a finished job is on no stream');
    ES.last().emit('step-progress', progress('a', 31, { percent: 41 }), 31);
    ES.last().emit('step-progress', progress('b', 32, { percent: 70 }), 32);
    assert.equal(store.getJob('a').percent, 41);
    assert.equal(store.getJob('b').percent, 70);
  });

  test('a new job appears with its first event; its title follows from the list', async () => {
    const { store, ES, clock, setList, polls } = await started([jobState('a', { lastEventId: 20 })]);
    ES.last().open();
    const before = polls();
    ES.last().emit('step-progress', progress('new', 21, { percent: 1 }), 21);
    ES.last().emit('step-progress', progress('new2', 22, { percent: 2 }), 22);
    assert.equal(store.getJob('new').percent, 1, 'shown at once');
    assert.equal(store.getJob('new').title, null);
    setList([jobState('a'), jobState('new', { lastEventId: 21 }), jobState('new2', { lastEventId: 22 })]);
    clock.advance(250);
    await settle();
    assert.equal(polls(), before + 1, 'one list fetch for the burst');
    assert.equal(store.getJob('new').title, 'Video new');
    assert.equal(store.getJob('new').percent, 1, 'the live stream stays the source of progress');
    assert.equal(ES.instances.length, 1, 'the stream is never reopened for new jobs');
  });

  test('finished jobs do not close the dashboard stream', async () => {
    const { store, ES } = await started([jobState('a', { lastEventId: 20 })]);
    ES.last().open();
    ES.last().emit('job-completed', { jobId: 'a', status: 'Completed', message: 'done', eventId: 21 }, 21);
    assert.equal(store.getJob('a').status, 'Completed');
    assert.equal(ES.live().length, 1);
    assert.equal(store.connection(DASHBOARD_STREAM).status, 'connected');
  });

  test('an empty list starts the stream from the current state of every job', async () => {
    const { ES } = await started([]);
    assert.equal(ES.last().url, `${BASE}api/events`);
  });

  test('when the list cannot be fetched the stream still starts', async () => {
    const { ES, store } = await started(() => new Error('refused'));
    assert.equal(ES.instances.length, 1);
    assert.equal(ES.last().url, `${BASE}api/events`);
    assert.equal(store.lastRefresh.ok, false);
  });

  test('a reconnect resumes from the last id on the stream and refreshes the list', async () => {
    const { store, ES, clock, polls } = await started([jobState('a', { lastEventId: 20 })]);
    ES.last().open();
    ES.last().emit('step-progress', progress('a', 25), 25);
    ES.last().emit('heartbeat', { timestamp: 'x', status: 'alive' });
    ES.last().drop();
    ES.last().fail(0);
    clock.advance(3000);
    assert.deepEqual(query(ES.last().url), { lastEventId: '25' });
    const before = polls();
    ES.last().open();
    clock.advance(250);
    await settle();
    assert.equal(polls(), before + 1);
    assert.equal(store.connection(DASHBOARD_STREAM).status, 'connected');
  });

  test('the daemon coming back refreshes the list', async () => {
    const { ES, clock, polls } = await started([jobState('a')]);
    ES.last().open();
    ES.last().emit('heartbeat', { timestamp: 'x', status: 'daemon-unavailable' });
    const before = polls();
    ES.last().emit('heartbeat', { timestamp: 'x', status: 'alive' });
    clock.advance(250);
    await settle();
    assert.equal(polls(), before + 1);
  });

  test('the list is polled every 30 s as a safety net', async () => {
    const { ES, polls, live } = await started([jobState('a')]);
    ES.last().open();
    const before = polls();
    await live(29000);
    assert.equal(polls(), before);
    await live(1000);
    assert.equal(polls(), before + 1);
  });

  test('no polling while the stream is reconnecting', async () => {
    const { ES, clock, polls } = await started([jobState('a')]);
    ES.last().open();
    ES.last().drop();
    ES.last().fail(0);
    const before = polls();
    clock.advance(2900);
    await settle();
    clock.advance(30000);
    await settle();
    assert.equal(polls(), before);
  });

  test('the poll does not overwrite what a live stream delivers', async () => {
    const { store, ES, live, setList } = await started([jobState('a', { lastEventId: 20 })]);
    ES.last().open();
    ES.last().emit('step-progress', progress('a', 21, { percent: 45 }), 21);
    setList([jobState('a', { lastEventId: 25, percent: 80, title: 'Renamed' })]);
    await live(30000);
    assert.equal(store.getJob('a').percent, 45);
    assert.equal(store.getJob('a').lastEventId, 21);
    assert.equal(store.getJob('a').title, 'Renamed');
  });

  test('a running job the service forgot becomes Unknown; a newer one does not', async () => {
    const { store, ES, live, setList } = await started([jobState('a'), jobState('b', { status: 'Completed' })]);
    ES.last().open();
    let answer;
    setList(() => new Promise((resolve) => { answer = resolve; }));
    await live(30000);
    // While the list request is out, a job starts and shows up on the stream.
    ES.last().emit('step-progress', progress('c', 40), 40);
    answer({ status: 200, body: [] });
    await settle();
    assert.equal(store.getJob('a').status, 'Unknown');
    assert.match(store.getJob('a').message, /no longer knows/);
    assert.equal(store.getJob('b').status, 'Completed', 'finished jobs stay until dismissed');
    assert.equal(store.getJob('c').status, 'Running', 'too new for that list');
  });

  test('dismissing releases a job and it stays hidden', async () => {
    const { store, ES, live, setList, changes } = await started([jobState('d', { status: 'Completed', lastEventId: 3 })]);
    ES.last().open();
    assert.ok(store.dismissJob('d'));
    assert.equal(store.getJob('d'), null);
    assert.ok(changes.some((c) => c.kind === 'job-removed' && c.jobId === 'd'));
    ES.last().emit('job-completed', { jobId: 'd', status: 'Completed', message: 'late replay' }, 3);
    assert.equal(store.getJob('d'), null, 'its events are ignored');
    await live(30000);
    assert.equal(store.getJob('d'), null, 'the next poll does not bring it back');
    setList([]);
    await live(30000);
    assert.equal(store.dismissed.size, 0, 'forgotten once the service forgets it');
  });

  test('polling failures feed the breaker, which then stops polling', async () => {
    const { store, ES, clock, setList, polls } = await started([]);
    store._closeStream(DASHBOARD_STREAM);   // only the poll talks to the bridge
    void ES;
    setList(() => new Error('connection refused'));
    for (let i = 0; i < 5; i++) {
      clock.advance(30000);
      await settle();
    }
    assert.equal(store.breakerState().state, 'open');
    assert.equal(store.lastRefresh.ok, false);
    const before = polls();
    clock.advance(30000);
    await settle();
    assert.equal(polls(), before, 'no poll while open');
    setList([jobState('a')]);
    clock.advance(30000);
    await settle();
    assert.equal(polls(), before + 1, 'the half-open probe');
    assert.equal(store.breakerState().state, 'closed');
    assert.ok(store.getJob('a'));
  });

  test('a 503 (daemon unavailable) is an answer, not a failure', async () => {
    const { store, clock, setList } = await started([]);
    store._closeStream(DASHBOARD_STREAM);
    setList(() => ({ status: 503, body: { error: 'daemon-unavailable', message: 'The service is not running' } }));
    for (let i = 0; i < 6; i++) {
      clock.advance(30000);
      await settle();
    }
    assert.equal(store.breakerState().state, 'closed');
    assert.equal(store.lastRefresh.error, 'The service is not running');
  });

  test('dispose leaves nothing behind', async () => {
    const { store, ES, clock } = await started([jobState('a')]);
    ES.last().emit('step-progress', progress('x', 99), 99);
    store.dispose();
    assert.equal(ES.live().length, 0);
    assert.equal(clock.pending().length, 0);
  });
});

/* ---- cancel ---------------------------------------------------------------- */

describe('cancel', () => {
  const reply = {
    jobId: 'a', message: 'All providers cancelled or reported as not supporting cancellation',
    currentStatus: 'Canceled', cleanupScheduled: true,
    providerStatuses: [
      { providerName: 'ElevenLabs', providerType: 'TTS', supportsCancellation: true, status: 'Cancelled' },
      {
        providerName: 'LegacyProvider', providerType: 'LLM', supportsCancellation: false, status: 'NotSupported',
        warning: 'Provider LegacyProvider (LLM) does not support cancellation. Operation may continue until completion.',
      },
    ],
    warnings: ['Provider LegacyProvider (LLM) does not support cancellation. Operation may continue until completion.'],
    correlationId: 'c',
  };

  test('posts the cancel and keeps every provider result', async () => {
    const { store, fetch, changes } = setup({}, (url, init) =>
      url.pathname === '/api/jobs/a/cancel' && init.method === 'POST' ? { status: 200, body: reply } : { status: 404, body: {} });
    store.applySnapshot(jobState('a'));
    const pending = store.cancelJob('a');
    assert.equal(store.getJob('a').cancellation.pending, true);
    const outcome = await pending;
    assert.deepEqual(fetch.calls.at(-1), { url: `${BASE}api/jobs/a/cancel`, method: 'POST' });
    assert.deepEqual(outcome.result, reply);
    assert.equal(store.getJob('a').cancellation.result.providerStatuses[1].status, 'NotSupported');
    assert.equal(store.getJob('a').status, 'Running', 'the status follows the job-cancelled event');
    assert.ok(changes.filter((c) => c.kind === 'job').length >= 2);
  });

  test('a refused cancel shows the server\'s reason', async () => {
    const { store } = setup({}, () => ({ status: 409, body: { error: 'not-running', message: 'Job a is not running (Completed)' } }));
    store.applySnapshot(jobState('a'));
    const outcome = await store.cancelJob('a');
    assert.equal(outcome.error, 'Job a is not running (Completed)');
    assert.equal(outcome.httpStatus, 409);
  });

  test('an unreachable server is said so', async () => {
    const { store } = setup({}, () => new Error('refused'));
    store.applySnapshot(jobState('a'));
    const outcome = await store.cancelJob('a');
    assert.match(outcome.error, /cannot be reached/);
  });

  test('a bearer token, when set, goes with the cancel', async () => {
    let auth = null;
    const { store } = setup({}, (url, init) => {
      auth = init.headers.Authorization ?? null;
      return auth === 'Bearer s3cret' ? { status: 200, body: reply } : { status: 401, body: { error: 'unauthorized', message: 'cancelling needs an Authorization: Bearer token' } };
    });
    store.applySnapshot(jobState('a'));
    const refused = await store.cancelJob('a');
    assert.equal(refused.httpStatus, 401);
    assert.equal(auth, null);
    store.setToken('s3cret');
    const ok = await store.cancelJob('a');
    assert.equal(ok.error, null);
    assert.equal(auth, 'Bearer s3cret');
  });

  test('cancelling an unknown job is an error', async () => {
    const { store } = setup();
    await assert.rejects(store.cancelJob('zz'), /unknown job/);
  });
});

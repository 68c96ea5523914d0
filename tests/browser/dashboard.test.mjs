// SPDX-License-Identifier: MIT
// The dashboard (data/web/) in Debian's Chromium, driven by playwright-core,
// against the real daemon and bridge on a private bus, with aura-demo as the
// pipeline: a job's bar reaches 100 % and Completed; Cancel from the page
// shows every provider's answer; a bridge killed and restarted mid-job is
// back on the page in under 3 s without losing an event; the circuit
// breaker opens while the bridge stays down and closes when it returns.
// Screenshots go to $AURA_SCREENSHOT_DIR (default: screenshots/ in the
// build tree); their paths are in the test log.
//
// What the page shows reaches node as it changes: a MutationObserver in the
// page reads the DOM after every change and hands it over through a
// binding. The waits below wait for those snapshots, not for timers; the
// timeouts are safety nets.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  System, SLOW, launchChromium, required, screenshotDir, start,
} from './system.mjs';

const DEMO = required('AURA_DEMO');
const SAFETY_NET_MS = (SLOW ? 3 : 1) * 60_000;
const RECOVERY_TARGET_MS = 3000;
const NOT_SUPPORTED_WARNING =
  'Provider LegacyProvider (LLM) does not support cancellation. Operation may continue until completion.';

let dir = null;
let system = null;
let browser = null;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'aura-dashboard-'));
  // the daemon and the bridge with their defaults (heartbeat every 5 s,
  // reports coalesced for 100 ms), as a user runs them
  system = await System.start({ dir });
  browser = await launchChromium();
});

// Every test leaves the bridge running; one that failed half-way may not.
afterEach(async () => {
  if (system && !system.bridge)
    await system.startBridge();
});

after(async () => {
  if (browser)
    await browser.close();
  if (system) {
    assert.deepEqual(await system.stop(), { bridge: 0, daemon: 0 },
                     'the bridge and the daemon exit cleanly');
  }
  if (dir)
    await rm(dir, { recursive: true, force: true });
});

/* ---- the page as node sees it ------------------------------------------- */

// Runs in the page: reads what it shows after every DOM change and every
// change of the store, and sends it to node (window.auraView).
function installRecorder() {
  const shown = (el) => el !== null && el.checkVisibility();
  const text = (el) => (el ? el.textContent.trim() : '');
  const breakerLog = [];
  const read = () => {
    const conn = document.querySelector('#connection');
    return {
      at: Date.now(),
      connection: { state: conn.dataset.state, text: text(document.querySelector('#connection-text')) },
      breaker: window.auraStore.breakerState().state,
      failures: window.auraStore.breakerState().failures,
      breakerLog: [...breakerLog],
      jobs: [...document.querySelectorAll('#jobs > li')].map((li) => {
        const q = (sel) => li.querySelector(sel);
        const bar = q('.bar');
        return {
          id: li.dataset.jobId,
          status: li.dataset.status,
          title: text(q('.job-title')),
          statusText: text(q('.status')),
          conn: shown(q('.job-conn')) ? text(q('.job-conn')) : '',
          valuenow: bar.getAttribute('aria-valuenow'),
          valuetext: bar.getAttribute('aria-valuetext'),
          fill: q('.bar-fill').style.width,
          percent: text(q('.percent')),
          stage: text(q('.stage')),
          eta: text(q('.eta')),
          detail: shown(q('.detail')) ? text(q('.detail')) : '',
          warnings: [...li.querySelectorAll('.warnings-list li')].map(text),
          cancelShown: shown(q('.cancel')),
          dismissShown: shown(q('.dismiss')),
          result: shown(q('.cancel-result')) ? {
            message: text(q('.cancel-message')),
            providers: [...li.querySelectorAll('.providers .provider')].map((p) => ({
              name: text(p.querySelector('.provider-name')),
              status: text(p.querySelector('.provider-status')),
              warning: text(p.querySelector('.provider-warning')),
            })),
          } : null,
        };
      }),
    };
  };
  let queued = false;
  const send = () => {
    if (queued)
      return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      window.auraView(read());
    });
  };
  new MutationObserver(send).observe(document.body, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
  window.auraStore.subscribe((change) => {
    if (change.kind === 'breaker')
      breakerLog.push({ state: change.state, at: Date.now() });
    send();
  });
  send();
}

class Dashboard {
  constructor(page) {
    this.page = page;
    this.snaps = [];
    this.errors = [];
    this.wake = () => {};
  }

  /** The newest snapshot. */
  get now() {
    return this.snaps.at(-1);
  }

  /**
   * The first snapshot from index `from` on (default: the current one) for
   * which pred is true.
   */
  async until(pred, what, { from = Math.max(0, this.snaps.length - 1) } = {}) {
    let i = from;
    let timedOut = false;
    const deadline = setTimeout(() => { timedOut = true; this.wake(); }, SAFETY_NET_MS);
    try {
      for (;;) {
        for (; i < this.snaps.length; i++) {
          if (pred(this.snaps[i]))
            return this.snaps[i];
        }
        if (timedOut)
          throw new Error(`timed out waiting for ${what}; the page shows ${JSON.stringify(this.now)}`);
        await new Promise((resolve) => { this.wake = resolve; });
      }
    } finally {
      clearTimeout(deadline);
    }
  }

  card(jobId, snap = this.now) {
    return snap.jobs.find((j) => j.id === jobId) ?? null;
  }

  locator(jobId) {
    return this.page.locator(`li[data-job-id="${jobId}"]`);
  }

  /** The page's own record of a job's events: [{ type, id }]. */
  events(jobId) {
    return this.page.evaluate((id) => window.auraStore.getJob(id).events, jobId);
  }

  async screenshot(t, name) {
    const file = path.join(await screenshotDir(), name);
    await this.page.screenshot({ path: file, fullPage: true });
    t.diagnostic(`screenshot: ${file}`);
    return file;
  }
}

/** Opens the dashboard (with `query`, e.g. test timings) in a new page. */
async function openDashboard(t, { query = '', viewport = { width: 1100, height: 900 } } = {}) {
  const page = await browser.newPage({ viewport });
  t.after(() => page.close());
  const view = new Dashboard(page);
  await page.exposeFunction('auraView', (snap) => {
    view.snaps.push(snap);
    view.wake();
  });
  page.on('pageerror', (e) => view.errors.push(e.message));
  await page.goto(`${system.url}${query}`);
  await page.evaluate(installRecorder);
  await view.until((s) => s.connection.state === 'live', 'the page to be live');
  return view;
}

/** aura-demo on the test's bus, already running its job. */
async function demo(jobId, ...args) {
  const child = start(DEMO, [`--address=${system.address}`, `--job-id=${jobId}`, ...args]);
  await child.lines.next(new RegExp(`^${jobId}: started`), 'that the job started');
  return child;
}

async function exitCode(child) {
  const [code, signal] = await child.exited;
  return code ?? signal;
}

/* ---- the tests ---------------------------------------------------------- */

test('a job moves live to 100 % and Completed', { timeout: 2 * SAFETY_NET_MS }, async (t) => {
  const view = await openDashboard(t);
  const from = view.snaps.length;
  const job = await demo('e2e-complete', '--speed=50', '--seed=7');

  const done = await view.until((s) => view.card('e2e-complete', s)?.status === 'Completed',
                                'the job to be shown Completed', { from });
  const card = view.card('e2e-complete', done);
  assert.equal(card.title, 'Demo video 1');
  assert.equal(card.statusText, 'Completed');
  assert.equal(card.valuenow, '100');
  assert.equal(card.percent, '100%');
  assert.equal(card.fill, '100%');
  assert.equal(card.stage, 'Finalizing (7 of 7)');
  assert.match(card.eta, /^Completed at /);
  assert.ok(!card.cancelShown, 'a finished job has no Cancel');
  assert.ok(card.dismissShown, 'a finished job can be dismissed');

  // the bar moved as the job did: several values on the way, never back
  const values = view.snaps.slice(from).map((s) => view.card('e2e-complete', s))
    .filter(Boolean).map((c) => Number(c.valuenow));
  const between = new Set(values.filter((v) => v > 0 && v < 100));
  t.diagnostic(`the bar showed ${between.size} values between 0 and 100 %`);
  assert.ok(between.size >= 3, `the bar showed ${[...between]} on the way`);
  for (let i = 1; i < values.length; i++)
    assert.ok(values[i] >= values[i - 1], `the bar went back from ${values[i - 1]} to ${values[i]}`);

  // assistive technology sees a progress bar named after the job, with its value
  const bar = view.locator('e2e-complete').getByRole('progressbar', { name: 'Demo video 1' });
  assert.equal(await bar.getAttribute('aria-valuenow'), '100');
  assert.match(await bar.getAttribute('aria-valuetext'), /^100 %|^100%/);

  assert.equal(await exitCode(job), 0, 'aura-demo completed its job');
  await view.screenshot(t, 'dashboard-completed.png');
  assert.deepEqual(view.errors, []);
});

test('Cancel on the page shows every provider\'s answer', { timeout: 2 * SAFETY_NET_MS }, async (t) => {
  const view = await openDashboard(t);
  // hangs in text to speech, with the LLM (cannot stop) and the TTS
  // engine (can) registered, until it is cancelled
  const job = await demo('e2e-cancel', '--speed=20', '--seed=3', '--stall-at=tts');
  await job.lines.next(/^e2e-cancel: stalled in /, 'the stall');
  const card = view.locator('e2e-cancel');
  await view.until((s) => view.card('e2e-cancel', s)?.stage === 'Text to speech (3 of 7)',
                   'the job in text to speech');

  await card.getByRole('button', { name: 'Cancel Demo video 1' }).click();
  // a confirmation whose default is to keep the job running
  const keep = card.getByRole('button', { name: 'Keep running' });
  assert.ok(await keep.evaluate((el) => el === document.activeElement), 'Keep running has the focus');
  await card.getByRole('button', { name: 'Yes, cancel job' }).click();

  const shown = await view.until((s) => {
    const c = view.card('e2e-cancel', s);
    return c !== null && c.result !== null && c.status === 'Canceled';
  }, 'the cancellation result and the Canceled job');
  const c = view.card('e2e-cancel', shown);
  assert.equal(c.result.message, 'All providers cancelled or reported as not supporting cancellation');
  assert.deepEqual([...c.result.providers].sort((a, b) => a.name.localeCompare(b.name)), [
    { name: 'ElevenLabs (TTS)', status: 'Cancelled', warning: '' },
    { name: 'LegacyProvider (LLM)', status: 'NotSupported', warning: NOT_SUPPORTED_WARNING },
  ]);
  assert.equal(c.statusText, 'Canceled');
  assert.ok(!c.cancelShown, 'a cancelled job has no Cancel');
  assert.equal(await exitCode(job), 0, 'aura-demo stopped as asked');
  await view.screenshot(t, 'dashboard-cancelled.png');

  // readable on a phone: nothing wider than the screen, down to 320 px
  for (const width of [320, 360]) {
    await view.page.setViewportSize({ width, height: 760 });
    const wide = await view.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= width, `the page is ${wide} px wide on a ${width} px screen`);
  }
  await view.screenshot(t, 'dashboard-phone.png');
  assert.deepEqual(view.errors, []);
});

test('a bridge killed mid-job: the page is back in under 3 s and misses nothing',
  { timeout: 2 * SAFETY_NET_MS }, async (t) => {
    const view = await openDashboard(t);
    const job = await demo('e2e-restart', '--speed=6', '--seed=5');
    await view.until((s) => Number(view.card('e2e-restart', s)?.valuenow) >= 15, 'the job at 15 %');

    // the bridge dies; the page notices at once (the connection closes)
    const from = view.snaps.length;
    assert.equal(await system.stopBridge('SIGKILL'), 'SIGKILL');
    await view.until((s) => s.connection.state === 'reconnecting', 'the page to reconnect', { from });
    // the job goes on meanwhile; this happens while no bridge listens
    const downWarning = 'e2e: added while the bridge was down';
    await system.call('AddWarning', 'ss', 'e2e-restart', downWarning);

    // systemd would restart it (Restart=on-failure): the same port again
    const fromRestart = view.snaps.length;
    const restartedAt = Date.now();
    await system.startBridge();
    const listeningAt = Date.now();
    const back = await view.until((s) => s.connection.state === 'live' && s.at >= restartedAt,
                                  'the page to be live again', { from: fromRestart });
    const recovery = back.at - restartedAt;
    t.diagnostic(`the page was live again ${recovery} ms after the bridge was restarted ` +
                 `(${back.at - listeningAt} ms after it listened)`);
    assert.ok(recovery < RECOVERY_TARGET_MS, `the page took ${recovery} ms to recover`);

    // the final state, with what happened while the bridge was away
    const done = await view.until((s) => view.card('e2e-restart', s)?.status === 'Completed',
                                  'the job to be shown Completed');
    const card = view.card('e2e-restart', done);
    assert.equal(card.percent, '100%');
    assert.ok(card.warnings.includes(downWarning), `warnings shown: ${JSON.stringify(card.warnings)}`);
    assert.equal(await exitCode(job), 0, 'aura-demo completed its job');

    // every event of the job, once and in order, as the daemon has them:
    // the page was open before the job started, so that is all of them
    const history = (await system.events('e2e-restart')).map(({ type, id }) => ({ type, id }));
    assert.deepEqual(await view.events('e2e-restart'), history);
    assert.ok(history.some(({ type }) => type === 'warning'));
    assert.deepEqual(view.errors, []);
  });

test('the circuit breaker opens while the bridge stays down, and closes when it returns',
  { timeout: 2 * SAFETY_NET_MS }, async (t) => {
    // Test timings (query parameters meant for development and tests):
    // attempts 200, 400, 800 ms apart, the breaker open for 2 s instead of 60.
    const openMs = 2000;
    const view = await openDashboard(t, { query: `?baseDelayMs=200&maxDelayMs=1000&breakerOpenMs=${openMs}` });
    const job = await demo('e2e-breaker', '--speed=20', '--seed=9', '--stall-at=render');
    await job.lines.next(/^e2e-breaker: stalled in /, 'the stall');

    const from = view.snaps.length;
    assert.equal(await system.stopBridge(), 0, 'the bridge exits cleanly');
    // reconnecting, with the attempt count, until the breaker opens
    const attempt = await view.until((s) => /^Reconnecting \(attempt [1-5] of 5\)/.test(s.connection.text),
                                     'an attempt count', { from });
    t.diagnostic(`the page said: ${attempt.connection.text}`);
    const open = await view.until((s) => s.breaker === 'open' && s.connection.state === 'paused',
                                  'the breaker to open');
    // five failures in a row: the browser's own quick retry, then attempts 1 to 4
    assert.equal(open.failures, 5);
    const attempts = new Set(view.snaps.slice(from).filter((s) => s.at <= open.at)
      .map((s) => /^Reconnecting \(attempt (\d) of 5\)/.exec(s.connection.text)?.[1])
      .filter(Boolean).map(Number));
    assert.deepEqual([...attempts].sort(), [1, 2, 3, 4]);
    assert.match(open.connection.text, /^Paused after repeated failures; next try in /);
    assert.equal(view.card('e2e-breaker', open).conn, 'paused');
    await view.screenshot(t, 'dashboard-breaker-open.png');

    // still down: after the open period one probe goes out, fails, and the
    // breaker opens again
    const reopened = await view.until((s) => {
      const states = s.breakerLog.map((b) => b.state);
      return states.join(' ').includes('open half-open open');
    }, 'a failed probe');
    const log = reopened.breakerLog;
    const firstOpen = log.findIndex((b) => b.state === 'open');
    assert.ok(log[firstOpen + 1].at - log[firstOpen].at >= openMs - 50,
              `the breaker stayed open for ${log[firstOpen + 1].at - log[firstOpen].at} ms`);

    // the bridge returns: the next probe closes the breaker and the page is
    // live, with what happened meanwhile
    const downWarning = 'e2e: added while the breaker was open';
    await system.call('AddWarning', 'ss', 'e2e-breaker', downWarning);
    await system.startBridge();
    const closed = await view.until((s) => s.breaker === 'closed' && s.connection.state === 'live',
                                    'the breaker to close');
    assert.equal(closed.connection.text, 'Live');
    assert.equal(closed.breakerLog.at(-1).state, 'closed');
    assert.equal(closed.breakerLog.at(-2).state, 'half-open');

    await view.until((s) => view.card('e2e-breaker', s)?.warnings.includes(downWarning),
                     'the warning added while the bridge was down');

    // and events flow again: the job's end reaches the page
    await system.call('CancelJob', 's', 'e2e-breaker');
    await view.until((s) => view.card('e2e-breaker', s)?.status === 'Canceled', 'the job to end');
    assert.equal(await exitCode(job), 0, 'aura-demo stopped as asked');
    const history = (await system.events('e2e-breaker')).map(({ type, id }) => ({ type, id }));
    assert.deepEqual(await view.events('e2e-breaker'), history);
    assert.deepEqual(view.errors, []);
  });


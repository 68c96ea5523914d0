// SPDX-License-Identifier: MIT
// A browser's EventSource (Debian's Chromium, driven by playwright-core)
// against the real bridge and daemon on a private bus: it receives a job's
// events, and when the bridge restarts it reconnects with Last-Event-ID and
// misses nothing. Run by `meson test --suite browser`, which passes the
// paths of the programs under test in the environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { System, launchChromium } from './system.mjs';

test('EventSource receives a job and resumes across a bridge restart', { timeout: 240_000 },
  async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'aura-browser-'));
    let browser = null;
    let system = null;
    t.after(async () => {
      if (browser)
        await browser.close();
      if (system)
        await system.stop();
      await rm(dir, { recursive: true, force: true });
    });

    // a private bus, the daemon, the bridge on a port of its choosing; every
    // report becomes an event at once, so that counts are exact
    system = await System.start({ dir, daemonConfig: '[Timing]\nCoalesceIntervalMs=0\n',
                                  bridgeArgs: ['--heartbeat-interval=1'] });
    const report = (percent, message) =>
      system.call('ReportProgress', 'ssda{sv}', 'job-1', 'render', percent, '1', 'message', 's',
                  message);

    await system.call('StartJob', 'sa{sv}', 'job-1', '1', 'title', 's', 'Browser test');

    browser = await launchChromium();
    const page = await browser.newPage();
    // Events come to node as they arrive in the page (a binding, not
    // polling: the page's CSP allows no eval, and waits need no timers).
    const received = [];
    const opens = [];
    let wake = () => {};
    const changed = () => { wake(); };
    await page.exposeFunction('auraEvent', (ev) => { received.push({ ...ev, at: Date.now() }); changed(); });
    await page.exposeFunction('auraOpen', () => { opens.push(Date.now()); changed(); });
    await page.exposeFunction('auraState', (state) => { readyState = state; changed(); });
    let readyState = null;
    async function until(cond, what) {
      const deadline = setTimeout(() => {
        wake(new Error(`timed out waiting for ${what}; received: ${JSON.stringify(received.map(({ type, id }) => [type, id]))}`));
      }, 60_000);
      try {
        while (!cond()) {
          const error = await new Promise((resolve) => { wake = resolve; });
          if (error)
            throw error;
        }
      } finally {
        clearTimeout(deadline);
        wake = () => {};
      }
    }
    const events = () => received.filter((e) => e.type !== 'heartbeat');
    const waitEvents = (n) => until(() => events().length >= n, `${n} events`);

    await page.goto(system.url);
    await page.evaluate(() => {
      const es = new EventSource('/api/jobs/job-1/events');
      for (const type of ['step-progress', 'warning', 'job-completed', 'job-failed',
                          'job-cancelled', 'heartbeat'])
        es.addEventListener(type, (e) => window.auraEvent({
          type, id: type === 'heartbeat' ? null : e.lastEventId, data: e.data,
        }));
      es.onopen = () => window.auraOpen();
      // an EventSource closes for good only when told to stop (204, 404)
      es.onerror = () => window.auraState(es.readyState);
    });

    // the current state, then live events as they happen
    await waitEvents(1);
    for (let i = 1; i <= 3; i++)
      await report(10 * i, `rendering ${i}`);
    await waitEvents(4);
    await until(() => received.some((e) => e.type === 'heartbeat' &&
                                    JSON.parse(e.data).status === 'alive'), 'a heartbeat');

    // the bridge goes away; the job goes on without it
    assert.equal(await system.stopBridge(), 0, 'the bridge exits cleanly');
    for (let i = 4; i <= 6; i++)
      await report(10 * i, `rendering ${i}`);
    await system.call('AddWarning', 'ss', 'job-1', 'GPU memory low');

    // a new bridge on the same port: the browser comes back by itself
    await system.startBridge();
    const restartedAt = Date.now();
    await waitEvents(8);
    const firstAfter = events()[4];
    t.diagnostic(`resumed ${firstAfter.at - restartedAt} ms after the bridge was back`);
    // the recovery target: under 3 s after the bridge is back
    assert.ok(firstAfter.at - restartedAt < 3000,
              `resumed ${firstAfter.at - restartedAt} ms after the bridge came back`);

    await report(90, 'rendering 9');
    await system.call('CompleteJob', 's', 'job-1');
    await waitEvents(11);
    // the stream ends with the job; reconnecting, the browser gets 204 and stops
    await until(() => readyState === 2 /* EventSource.CLOSED */, 'the EventSource to close');

    // every event of the job, once, in order
    const got = events();
    const history = (await system.events('job-1')).map(({ type, id }) => ({ type, id: String(id) }));
    assert.deepEqual(got.map(({ type, id }) => ({ type, id })), history);
    assert.equal(got.at(-1).type, 'job-completed');
    assert.equal(JSON.parse(got.find((e) => e.type === 'warning').data).message, 'GPU memory low');
    assert.ok(opens.length >= 2, `the EventSource opened ${opens.length} times`);

    assert.deepEqual(await system.stop(), { bridge: 0, daemon: 0 }, 'the bridge and the daemon exit cleanly');
    system = null;
  });

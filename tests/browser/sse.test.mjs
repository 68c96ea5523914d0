// SPDX-License-Identifier: MIT
// A browser's EventSource (Debian's Chromium, driven by playwright-core)
// against the real bridge and daemon on a private bus: it receives a job's
// events, and when the bridge restarts it reconnects with Last-Event-ID and
// misses nothing. Run by `meson test --suite browser`, which passes the
// paths of the programs under test in the environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const run = promisify(execFile);

function required(name) {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run the browser tests with meson test`);
  return value;
}

const PROGRESSD = required('AURA_PROGRESSD');
const BRIDGE = required('AURA_SSE_BRIDGE');
const CHROMIUM = process.env.AURA_CHROMIUM ?? '/usr/bin/chromium';
// the valgrind/ASan wrapper of the C tests, if any, in front of our programs
const WRAPPER = (process.env.AURA_TEST_WRAPPER ?? '').split(' ').filter(Boolean);

// Flags that keep a headless Chromium from reaching out (see PLATFORM.md).
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const children = new Set();

function start(cmd, args, { wrap = true } = {}) {
  const argv = wrap ? [...WRAPPER, cmd, ...args] : [cmd, ...args];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

// The first line a program prints (dbus-daemon its address, the bridge
// where it listens).
async function firstLine(child) {
  const lines = readline.createInterface({ input: child.stdout });
  const [line] = await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(([code]) => { throw new Error(`exited with ${code} before printing`); }),
  ]);
  // keep draining what else it prints
  lines.on('line', () => {});
  return line;
}

async function stop(child) {
  if (child.exitCode !== null)
    return child.exitCode;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = await exited;
  return code;
}

function busConfig(dir) {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=${dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;
}

async function startBridge(address, listen) {
  const bridge = start(BRIDGE, [`--address=${address}`, `--listen=${listen}`,
                                '--heartbeat-interval=1']);
  const line = await firstLine(bridge);
  const match = /^Listening on (http:\/\/127\.0\.0\.1:(\d+)\/)$/.exec(line);
  assert.ok(match, `the bridge said: ${line}`);
  return { bridge, url: match[1], port: Number(match[2]) };
}

test('EventSource receives a job and resumes across a bridge restart', { timeout: 240_000 },
  async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'aura-browser-'));
    let context = null;
    t.after(async () => {
      if (context)
        await context.close();
      for (const child of [...children])
        await stop(child);
      await rm(dir, { recursive: true, force: true });
    });

    // a private bus, the daemon, the bridge on a port of its choosing
    await writeFile(path.join(dir, 'bus.conf'), busConfig(dir));
    const bus = start('dbus-daemon', [`--config-file=${path.join(dir, 'bus.conf')}`, '--nofork',
                                      '--print-address=1'], { wrap: false });
    const address = await firstLine(bus);
    // every report becomes an event at once, so that counts are exact
    await writeFile(path.join(dir, 'daemon.conf'), '[Timing]\nCoalesceIntervalMs=0\n');
    start(PROGRESSD, [`--address=${address}`, `--state-dir=${path.join(dir, 'state')}`,
                      `--config=${path.join(dir, 'daemon.conf')}`]);
    await run('gdbus', ['wait', '--address', address, '--timeout', '60', 'org.aura.Progress']);
    const call = (...args) => run('busctl', [`--address=${address}`, 'call', 'org.aura.Progress',
                                             '/org/aura/Progress', 'org.aura.Progress', ...args]);
    const report = (percent, message) =>
      call('ReportProgress', 'ssda{sv}', 'job-1', 'render', String(percent), '1', 'message', 's',
           message);

    let { bridge, url, port } = await startBridge(address, '127.0.0.1:0');
    await call('StartJob', 'sa{sv}', 'job-1', '1', 'title', 's', 'Browser test');

    context = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
    });
    const page = context.pages()[0] ?? await context.newPage();
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

    await page.goto(url);
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
    assert.equal(await stop(bridge), 0, 'the bridge exits cleanly');
    for (let i = 4; i <= 6; i++)
      await report(10 * i, `rendering ${i}`);
    await call('AddWarning', 'ss', 'job-1', 'GPU memory low');

    // a new bridge on the same port: the browser comes back by itself
    ({ bridge } = await startBridge(address, `127.0.0.1:${port}`));
    const restartedAt = Date.now();
    await waitEvents(8);
    const firstAfter = events()[4];
    t.diagnostic(`resumed ${firstAfter.at - restartedAt} ms after the bridge was back`);
    // the recovery target: under 3 s after the bridge is back
    assert.ok(firstAfter.at - restartedAt < 3000,
              `resumed ${firstAfter.at - restartedAt} ms after the bridge came back`);

    await report(90, 'rendering 9');
    await call('CompleteJob', 's', 'job-1');
    await waitEvents(11);
    // the stream ends with the job; reconnecting, the browser gets 204 and stops
    await until(() => readyState === 2 /* EventSource.CLOSED */, 'the EventSource to close');

    // every event of the job, once, in order
    const got = events();
    const { stdout } = await run('busctl', [`--address=${address}`, '--json=short', 'call',
                                            'org.aura.Progress', '/org/aura/Progress',
                                            'org.aura.Progress', 'GetEvents', 'st', 'job-1', '0']);
    const history = JSON.parse(stdout).data[0].map(([type, id]) => ({ type, id: String(id) }));
    assert.deepEqual(got.map(({ type, id }) => ({ type, id })), history);
    assert.equal(got.at(-1).type, 'job-completed');
    assert.equal(JSON.parse(got.find((e) => e.type === 'warning').data).message, 'GPU memory low');
    assert.ok(opens.length >= 2, `the EventSource opened ${opens.length} times`);

    assert.equal(await stop(bridge), 0, 'the bridge exits cleanly');
  });

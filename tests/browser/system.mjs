// SPDX-License-Identifier: MIT
// The system under test for the browser tests: a private dbus-daemon, the
// real aura-progressd and aura-sse-bridge (on a port of its choosing, read
// back), programs such as aura-demo, and Debian's Chromium driven by
// playwright-core. `meson test --suite browser` passes the programs' paths
// in the environment. Every process started here is stopped by
// System.stop(), and dies with the test run if the runner is killed.
import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

export const run = promisify(execFile);

export function required(name) {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run the browser tests with meson test`);
  return value;
}

export const PROGRESSD = required('AURA_PROGRESSD');
export const BRIDGE = required('AURA_SSE_BRIDGE');
export const CHROMIUM = process.env.AURA_CHROMIUM ?? '/usr/bin/chromium';
// the valgrind/ASan wrapper of the C tests, if any, in front of our programs
const WRAPPER = (process.env.AURA_TEST_WRAPPER ?? '').split(' ').filter(Boolean);
// set by the instrumented test setups (valgrind, ASan): things take longer
export const SLOW = process.env.AURA_TEST_SLOW === '1';

// Flags that keep a headless Chromium from reaching out (see PLATFORM.md).
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Debian's Chromium, headless, with a throw-away profile. */
export function launchChromium() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * A program's output, line by line, as it comes: `next(re)` waits for the
 * first line from the one after the last match on that matches re.
 */
class Lines {
  constructor(child) {
    this.lines = [];
    this.seen = 0;
    this.exited = false;
    this.wake = () => {};
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      this.lines.push(line);
      this.wake();
    });
    child.on('exit', () => {
      this.exited = true;
      this.wake();
    });
  }

  async next(re, what = String(re)) {
    for (;;) {
      while (this.seen < this.lines.length) {
        const line = this.lines[this.seen++];
        const match = re.exec(line);
        if (match)
          return match;
      }
      if (this.exited)
        throw new Error(`exited before printing ${what}; it printed: ${JSON.stringify(this.lines)}`);
      await new Promise((resolve) => { this.wake = resolve; });
    }
  }
}

const children = new Set();

// Whatever happens to the runner, no program outlives it.
process.on('exit', () => {
  for (const child of children)
    child.kill('SIGKILL');
});

/**
 * Starts a program with its stdout read line by line (child.lines) and its
 * stderr in the test log. Our own programs go behind the wrapper.
 */
export function start(cmd, args, { wrap = true } = {}) {
  const argv = wrap ? [...WRAPPER, cmd, ...args] : [cmd, ...args];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.lines = new Lines(child);
  child.exited = once(child, 'exit');
  child.on('exit', () => children.delete(child));
  return child;
}

/** The first line a program prints (dbus-daemon its address, ...). */
export async function firstLine(child) {
  const [line] = await child.lines.next(/^.*$/, 'a line');
  return line;
}

/** Stops a program; resolves to its exit code, or the signal that ended it. */
export async function stop(child, signal = 'SIGTERM') {
  if (child.exitCode === null && child.signalCode === null)
    child.kill(signal);
  const [code, sig] = await child.exited;
  return code ?? sig;
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

/**
 * The whole system in a directory: bus, daemon, bridge. Start it with
 * System.start(); bridge, url and port change when the bridge restarts.
 */
export class System {
  static async start({ dir, daemonConfig = '', bridgeArgs = [] }) {
    const self = new System(dir, bridgeArgs);
    await writeFile(path.join(dir, 'bus.conf'), busConfig(dir));
    self.bus = start('dbus-daemon', [`--config-file=${path.join(dir, 'bus.conf')}`, '--nofork',
                                     '--print-address=1'], { wrap: false });
    self.address = await firstLine(self.bus);
    await writeFile(path.join(dir, 'daemon.conf'), daemonConfig);
    self.daemon = start(PROGRESSD, [`--address=${self.address}`,
                                    `--state-dir=${path.join(dir, 'state')}`,
                                    `--config=${path.join(dir, 'daemon.conf')}`]);
    await run('gdbus', ['wait', '--address', self.address, '--timeout', '60', 'org.aura.Progress']);
    await self.startBridge('127.0.0.1:0');
    return self;
  }

  constructor(dir, bridgeArgs) {
    this.dir = dir;
    this.bridgeArgs = bridgeArgs;
    this.bus = null;
    this.daemon = null;
    this.bridge = null;
    this.address = null;
    this.url = null;
    this.port = null;
  }

  /** Starts the bridge; resolves when it listens (it says where). */
  async startBridge(listen = `127.0.0.1:${this.port}`) {
    this.bridge = start(BRIDGE, [`--address=${this.address}`, `--listen=${listen}`,
                                 ...this.bridgeArgs]);
    const [, url, port] = await this.bridge.lines.next(/^Listening on (http:\/\/127\.0\.0\.1:(\d+)\/)$/,
                                                       'where it listens');
    this.url = url;
    this.port = Number(port);
    return this.bridge;
  }

  /** Stops the bridge (SIGKILL: as if it crashed); resolves as stop(). */
  async stopBridge(signal = 'SIGTERM') {
    const code = await stop(this.bridge, signal);
    this.bridge = null;
    return code;
  }

  /** A method call on org.aura.Progress, e.g. call('CompleteJob', 's', id). */
  call(method, signature, ...args) {
    return run('busctl', [`--address=${this.address}`, 'call', 'org.aura.Progress',
                          '/org/aura/Progress', 'org.aura.Progress', method, signature,
                          ...args.map(String)]);
  }

  /** The daemon's history of a job: [{ type, id, data }], id a number. */
  async events(jobId) {
    const all = [];
    for (let after = 0; ;) {
      const { stdout } = await run('busctl', [`--address=${this.address}`, '--json=short', 'call',
                                              'org.aura.Progress', '/org/aura/Progress',
                                              'org.aura.Progress', 'GetEvents', 'st', jobId,
                                              String(after)]);
      const page = JSON.parse(stdout).data[0];
      if (page.length === 0)
        return all;
      for (const [type, id, data] of page)
        all.push({ type, id: Number(id), data });
      after = all.at(-1).id;
    }
  }

  /** Stops everything, the newest first; checks that our programs exit cleanly. */
  async stop() {
    const codes = {};
    if (this.bridge)
      codes.bridge = await this.stopBridge();
    if (this.daemon)
      codes.daemon = await stop(this.daemon);
    for (const child of [...children].reverse())
      await stop(child);
    return codes;
  }
}

/**
 * Where screenshots go: $AURA_SCREENSHOT_DIR, or screenshots/ in the build
 * tree (AURA_BUILD_ROOT, set by meson).
 */
export async function screenshotDir() {
  const dir = process.env.AURA_SCREENSHOT_DIR ??
    path.join(process.env.AURA_BUILD_ROOT ?? process.cwd(), 'screenshots');
  await mkdir(dir, { recursive: true });
  return dir;
}

// SPDX-License-Identifier: MIT
// Deterministic stand-ins for what the progress store gets injected: a
// clock with timers, an EventSource the test drives by hand, and fetch.

/** Virtual time: timers fire only inside advance(), in due order. */
export class FakeClock {
  constructor(start = 1_700_000_000_000) {
    this.t = start;
    this.timers = new Map();
    this.seq = 1;
    this.now = () => this.t;
    this.setTimeout = (fn, ms) => {
      const id = this.seq++;
      this.timers.set(id, { at: this.t + Math.max(0, Number(ms) || 0), fn, delay: Math.max(0, Number(ms) || 0) });
      return id;
    };
    this.clearTimeout = (id) => {
      this.timers.delete(id);
    };
  }

  /** Runs every timer due within ms, in order, moving time to each. */
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let next = null;
      for (const [id, timer] of this.timers)
        if (timer.at <= end && (next === null || timer.at < next[1].at || (timer.at === next[1].at && id < next[0])))
          next = [id, timer];
      if (next === null)
        break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }

  /** Delays (from their creation) of the pending timers, soonest first. */
  pending() {
    return [...this.timers.values()].sort((a, b) => a.at - b.at);
  }

  /** Time until the soonest pending timer, or null. */
  untilNext() {
    const p = this.pending();
    return p.length === 0 ? null : p[0].at - this.t;
  }
}

/** A fresh EventSource class whose instances the test opens, feeds and fails. */
export function makeEventSource() {
  const instances = [];
  class FakeEventSource {
    constructor(url) {
      this.url = url;
      this.readyState = 0;       // CONNECTING
      this.closed = false;
      this.onopen = null;
      this.onerror = null;
      this.listeners = new Map();
      this.lastEventId = '';
      instances.push(this);
    }

    addEventListener(type, fn) {
      if (!this.listeners.has(type))
        this.listeners.set(type, []);
      this.listeners.get(type).push(fn);
    }

    close() {
      this.readyState = 2;
      this.closed = true;
    }

    // ---- what the network does ----
    open() {
      this.readyState = 1;
      if (this.onopen)
        this.onopen({ type: 'open' });
    }

    /** An SSE event; id as the `id:` line (kept, as browsers do, when absent). */
    emit(type, data, id = undefined) {
      if (id !== undefined && id !== null)
        this.lastEventId = String(id);
      const ev = { type, data: typeof data === 'string' ? data : JSON.stringify(data), lastEventId: this.lastEventId };
      for (const fn of this.listeners.get(type) ?? [])
        fn(ev);
    }

    /** The connection broke and the browser will retry by itself. */
    drop() {
      this.readyState = 0;
      if (this.onerror)
        this.onerror({ type: 'error' });
    }

    /** The connection failed for good (non-200, refused on a retry, ...). */
    fail(readyState = 2) {
      this.readyState = readyState;
      if (this.onerror)
        this.onerror({ type: 'error' });
    }
  }
  FakeEventSource.instances = instances;
  FakeEventSource.last = () => instances[instances.length - 1];
  FakeEventSource.live = () => instances.filter((es) => !es.closed);
  return FakeEventSource;
}

/**
 * fetch that answers from handler(url, init) -> { status, body } | Error
 * (thrown as a network failure). Calls are recorded.
 */
export function makeFetch(handler) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push({ url: String(url), method: init.method ?? 'GET' });
    const answer = await handler(new URL(url), init);
    if (answer instanceof Error)
      throw new TypeError(`fetch failed: ${answer.message}`);
    const { status = 200, body = null } = answer;
    return new Response(body === null ? null : JSON.stringify(body), {
      status,
      headers: { 'Content-Type': 'application/json' },
    });
  };
  fetch.calls = calls;
  return fetch;
}

/** Lets pending promise callbacks (fetch, json) run. */
export async function settle() {
  for (let i = 0; i < 10; i++)
    await new Promise((resolve) => setImmediate(resolve));
}

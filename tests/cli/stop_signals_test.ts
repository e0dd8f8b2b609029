/**
 * The stop-signal rule (src/cli/stop_signals.ts) on a fake clock and a fake
 * signal source: the first signal asks for a clean stop, any within 1 s of it
 * is absorbed, a later one forces the stop.
 */

import assert from "node:assert/strict";
import { ABSORB_MS, type SignalSource, StopSignals } from "../../src/cli/stop_signals.ts";

/** A signal source that tests raise by hand. */
function fakeSource(): SignalSource & { raise(s: Deno.Signal): void; count(): number } {
  const handlers = new Map<Deno.Signal, Set<() => void>>();
  return {
    add(signal, handler) {
      if (!handlers.has(signal)) handlers.set(signal, new Set());
      handlers.get(signal)!.add(handler);
    },
    remove(signal, handler) {
      handlers.get(signal)?.delete(handler);
    },
    raise(signal) {
      for (const h of handlers.get(signal) ?? []) h();
    },
    count: () => [...handlers.values()].reduce((n, s) => n + s.size, 0),
  };
}

/** Settles promptly whether `p` has resolved, with its value. */
async function peek<T>(p: Promise<T>): Promise<{ done: boolean; value?: T }> {
  const pending = Symbol("pending");
  const value = await Promise.race([p, Promise.resolve(pending)]);
  return value === pending ? { done: false } : { done: true, value: value as T };
}

const CASES: Array<{
  name: string;
  at: Array<[number, Deno.Signal]>;
  requested: Deno.Signal | null;
  forced: Deno.Signal | null;
  absorbed: number;
}> = [
  { name: "no signal", at: [], requested: null, forced: null, absorbed: 0 },
  { name: "one Ctrl-C", at: [[0, "SIGINT"]], requested: "SIGINT", forced: null, absorbed: 0 },
  { name: "one SIGTERM", at: [[0, "SIGTERM"]], requested: "SIGTERM", forced: null, absorbed: 0 },
  {
    name: "Ctrl-C through deno task: three within a millisecond",
    at: [[0, "SIGINT"], [0.5, "SIGINT"], [1, "SIGINT"]],
    requested: "SIGINT",
    forced: null,
    absorbed: 2,
  },
  {
    name: "a second signal at exactly 1 s is still absorbed",
    at: [[0, "SIGINT"], [ABSORB_MS, "SIGTERM"]],
    requested: "SIGINT",
    forced: null,
    absorbed: 1,
  },
  {
    name: "a second Ctrl-C after 1 s forces the stop",
    at: [[0, "SIGINT"], [1, "SIGINT"], [ABSORB_MS + 1, "SIGINT"]],
    requested: "SIGINT",
    forced: "SIGINT",
    absorbed: 1,
  },
  {
    name: "SIGTERM then a late SIGINT",
    at: [[0, "SIGTERM"], [5000, "SIGINT"]],
    requested: "SIGTERM",
    forced: "SIGINT",
    absorbed: 0,
  },
];

for (const c of CASES) {
  Deno.test(`StopSignals: ${c.name}`, async () => {
    const source = fakeSource();
    let now = 100;
    const signals = new StopSignals({ source, nowMs: () => now, signals: ["SIGINT", "SIGTERM"] });
    for (const [t, s] of c.at) {
      now = 100 + t;
      source.raise(s);
    }
    const requested = await peek(signals.requested);
    const forced = await peek(signals.forced);
    assert.equal(requested.done ? requested.value : null, c.requested);
    assert.equal(forced.done ? forced.value : null, c.forced);
    assert.equal(signals.absorbed, c.absorbed);
    assert.equal(source.count(), 2, "handlers stay installed until dispose");
    signals.dispose();
    assert.equal(source.count(), 0, "dispose removes them");
  });
}

/**
 * The state one bench run shares between its connections: the request
 * budget, counters, latencies and the open connections a watchdog may close.
 *
 * @module
 */

import type { BenchProgress } from "./bench_options.ts";

/** Latency percentiles, ms with µs precision (nearest-rank over every successful request). */
export interface BenchLatency {
  /** Median, ms. */
  p50: number;
  /** 99th percentile, ms. */
  p99: number;
  /** Largest, ms. */
  max: number;
}

/** Per-request latencies, ms, in a growable typed array (no object per request). */
class LatencyRecorder {
  #values: Float64Array;
  #n = 0;

  constructor(expected: number) {
    this.#values = new Float64Array(Math.max(16, Math.min(expected, 1 << 20)));
  }

  add(ms: number): void {
    if (this.#n === this.#values.length) {
      const next = new Float64Array(this.#values.length * 2);
      next.set(this.#values);
      this.#values = next;
    }
    this.#values[this.#n++] = ms;
  }

  /** Nearest-rank percentiles, rounded to µs. */
  summary(): BenchLatency {
    if (this.#n === 0) return { p50: 0, p99: 0, max: 0 };
    const sorted = this.#values.slice(0, this.#n).sort();
    const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * this.#n) - 1)];
    return { p50: roundUs(rank(50)), p99: roundUs(rank(99)), max: roundUs(sorted[this.#n - 1]) };
  }
}

function roundUs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** One open connection the watchdog looks after. */
export interface Slot {
  /** The connection; closing it fails whatever it has in flight. */
  conn: { close(): void };
  /** Send time (performance.now(), ms) of its oldest unanswered request; Infinity if none. */
  oldestMs: number;
}

/** State shared by every connection of one run: budget, counters, open sockets. */
export class Run {
  readonly startMs = performance.now();
  readonly deadlineMs: number;
  readonly limit: number;
  readonly latencies: LatencyRecorder;
  readonly slots = new Set<Slot>();
  readonly abort = new AbortController();
  issued = 0;
  completed = 0;
  errors = 0;
  lastMs = this.startMs;
  stopped = false;

  constructor(limit: number, durationMs: number) {
    this.limit = limit;
    this.deadlineMs = this.startMs + durationMs;
    this.latencies = new LatencyRecorder(limit);
  }

  /** Grants up to `k` new requests: fewer near the count, none past the deadline. */
  take(k: number): number {
    if (this.stopped || performance.now() >= this.deadlineMs) return 0;
    const granted = Math.min(k, this.limit - this.issued);
    this.issued += granted;
    return granted;
  }

  /** Records one finished request; `latencyMs` counts only when it succeeded. */
  complete(ok: boolean, latencyMs: number, nowMs: number): void {
    this.completed++;
    if (ok) this.latencies.add(latencyMs);
    else this.errors++;
    this.lastMs = nowMs;
  }

  /** Records `k` requests that will never be answered. */
  fail(k: number): void {
    if (k <= 0) return;
    this.completed += k;
    this.errors += k;
    this.lastMs = performance.now();
  }

  /** Closes every connection whose oldest request has waited more than `timeoutMs`. */
  reap(timeoutMs: number): void {
    const now = performance.now();
    for (const slot of this.slots) {
      if (now - slot.oldestMs > timeoutMs) slot.conn.close();
    }
  }

  /** Cuts the run off: no new requests, pending connects and requests aborted, sockets closed. */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
    for (const slot of this.slots) slot.conn.close();
  }

  progress(): BenchProgress {
    return {
      requests: this.completed,
      errors: this.errors,
      seconds: (performance.now() - this.startMs) / 1000,
    };
  }
}

/** Resolves after `ms` (at most), or at once when `run` stops. */
export function pause(ms: number, run: Run): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      run.abort.signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    run.abort.signal.addEventListener("abort", done);
  });
}

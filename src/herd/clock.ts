/**
 * The member's wall clock in POSIX nanoseconds, for skews.
 *
 * `Date.now()` has millisecond resolution; `performance.now()` has microsecond
 * resolution but is monotonic and drifts from the wall clock over days. The
 * clock anchors `performance.now()` to the wall clock and re-anchors whenever
 * the two disagree by more than 1 ms, giving microsecond resolution that stays
 * within a millisecond of `Date.now()`.
 *
 * @module
 */

/** A clock: POSIX time now, in nanoseconds. Injected so tests can fix it. */
export type Clock = () => bigint;

const NS_PER_MS = 1_000_000;
const REANCHOR_MS = 1;

let anchorWallMs = Date.now();
let anchorPerfMs = performance.now();

/**
 * POSIX time now, nanoseconds since 1970-01-01T00:00:00Z (microsecond resolution).
 *
 * @returns The time as a bigint.
 */
export function wallClockNs(): bigint {
  const perf = performance.now();
  const wall = Date.now();
  let estimate = anchorWallMs + (perf - anchorPerfMs);
  if (Math.abs(estimate - wall) > REANCHOR_MS) {
    anchorWallMs = wall;
    anchorPerfMs = perf;
    estimate = wall;
  }
  const wholeMs = Math.floor(estimate);
  const subMsNs = Math.round((estimate - wholeMs) * NS_PER_MS);
  return BigInt(wholeMs) * BigInt(NS_PER_MS) + BigInt(subMsNs);
}

/** A timer handle of a {@linkcode TimerClock}: opaque, only handed back to clear it. */
export type TimerId = unknown;

/**
 * Monotonic time and timers, injected so that backoff, idle timeouts, drains
 * and redials can be tested with fake time (`@sinonjs/fake-timers`).
 */
export interface TimerClock {
  /** Monotonic time now, ms (like `performance.now()`). */
  nowMs(): number;
  /** Runs `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerId;
  /** Cancels a {@linkcode TimerClock.setTimeout}; ignores unknown ids. */
  clearTimeout(id: TimerId | undefined): void;
  /** Runs `fn` every `ms` milliseconds. */
  setInterval(fn: () => void, ms: number): TimerId;
  /** Cancels a {@linkcode TimerClock.setInterval}. */
  clearInterval(id: TimerId | undefined): void;
}

/** The process's own timers and `performance.now()`. */
export const systemTimers: TimerClock = {
  nowMs: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (id) => clearInterval(id as number | undefined),
};

/**
 * Sleeps on a {@linkcode TimerClock}.
 *
 * @param timers The clock.
 * @param ms How long, ms.
 * @returns Resolves after `ms`.
 */
export function sleepOn(timers: TimerClock, ms: number): Promise<void> {
  return new Promise((resolve) => timers.setTimeout(resolve, ms));
}

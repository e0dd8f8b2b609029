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

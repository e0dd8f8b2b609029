/**
 * Clock skew of an IAMAT: server receive time minus client time, in integer
 * nanoseconds, printed as PROTOCOL.md section 2 requires.
 *
 * @module
 */

import { type Decimal, decimalToNanos } from "./decimal.ts";

/**
 * Skew in nanoseconds: `receivedNs - clientTime`.
 *
 * The client time is truncated to whole nanoseconds first (digits past the
 * ninth are dropped), because the receive clock has at best 1 ns resolution;
 * the subtraction is exact bigint arithmetic, never a float.
 *
 * @param receivedNs Server wall-clock receive time, POSIX nanoseconds.
 * @param clientTime Client time, POSIX seconds as an exact decimal.
 * @returns Skew in nanoseconds (negative if the client clock is ahead).
 */
export function skewNanos(receivedNs: bigint, clientTime: Decimal): bigint {
  return receivedNs - decimalToNanos(clientTime);
}

/**
 * Formats a skew in seconds with a sign and exactly 9 fraction digits.
 *
 * @param ns Skew in nanoseconds.
 * @returns e.g. `+0.263873386`, `-0.000001000`, `+0.000000000`.
 * @example
 * ```ts
 * import { formatSkew } from "./skew.ts";
 * if (formatSkew(-1000n) !== "-0.000001000") throw new Error();
 * ```
 */
export function formatSkew(ns: bigint): string {
  const sign = ns < 0n ? "-" : "+";
  const abs = ns < 0n ? -ns : ns;
  const whole = abs / 1_000_000_000n;
  const frac = (abs % 1_000_000_000n).toString().padStart(9, "0");
  return `${sign}${whole}.${frac}`;
}

const SKEW = /^[+-][0-9]+\.[0-9]{9}$/;

/**
 * Checks the syntax of a skew field received in a flooded AT line.
 *
 * @param text The field.
 * @returns True for `[+-]D+.DDDDDDDDD`.
 */
export function isSkew(text: string): boolean {
  return SKEW.test(text);
}

/**
 * POSIX time as the text of an IAMAT client-time field, made from integer
 * nanoseconds.
 *
 * `(Date.now() / 1000).toFixed(9)` prints binary float noise
 * (`1796086940.206000090`): a double near 1.8e9 s holds only about seven
 * fraction digits. Built from a bigint the digits are exact, the way
 * {@linkcode formatSkew} prints a skew.
 *
 * @module
 */

const NS_PER_S = 1_000_000_000n;

/**
 * Formats a POSIX time, nanoseconds since 1970-01-01T00:00:00Z, as decimal
 * seconds with exactly `fractionDigits` fraction digits. Digits past them are
 * dropped (truncated, never rounded up into the next second).
 *
 * @param ns The time, nanoseconds; not negative (the protocol's times are unsigned).
 * @param fractionDigits Fraction digits, 0..9; 0 prints no point. @default 9
 * @returns e.g. `1796086940.206000000`, or `1796086940.206000` with 6 digits.
 * @throws {RangeError} If `ns` is negative or `fractionDigits` is not a whole number in 0..9.
 * @example
 * ```ts
 * import { formatPosixTime } from "./posix_time.ts";
 * const ns = BigInt(1796086940206) * 1_000_000n; // from Date.now(), ms
 * if (formatPosixTime(ns) !== "1796086940.206000000") throw new Error();
 * if (formatPosixTime(ns, 3) !== "1796086940.206") throw new Error();
 * ```
 */
export function formatPosixTime(ns: bigint, fractionDigits = 9): string {
  if (ns < 0n) throw new RangeError(`Cannot format POSIX time: ${ns} ns is before 1970`);
  if (!Number.isInteger(fractionDigits) || fractionDigits < 0 || fractionDigits > 9) {
    throw new RangeError(
      `Cannot format POSIX time: fraction digits must be 0..9, got ${fractionDigits}`,
    );
  }
  const whole = ns / NS_PER_S;
  if (fractionDigits === 0) return `${whole}`;
  const fraction = (ns % NS_PER_S).toString().padStart(9, "0").slice(0, fractionDigits);
  return `${whole}.${fraction}`;
}

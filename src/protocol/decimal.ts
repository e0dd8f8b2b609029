/**
 * Exact unsigned decimals (`D+[.D+]`), for POSIX times and radii.
 *
 * Client times may carry any number of fraction digits and must be compared
 * and subtracted exactly (PROTOCOL.md sections 2 and 3); a float cannot hold
 * `1621464827.959498503`, so herd keeps the digits.
 *
 * @module
 */

/** An exact non-negative decimal: `whole` + `fraction` digits after the point. */
export interface Decimal {
  /** The integer part. */
  readonly whole: bigint;
  /** Fraction digits without trailing zeros (`""` for an integer). */
  readonly fraction: string;
}

const DECIMAL = /^([0-9]+)(?:\.([0-9]+))?$/;

/**
 * Parses `D+[.D+]`: ASCII digits, optional point followed by at least one digit.
 * No sign, no exponent, no leading point.
 *
 * @param text The field as received.
 * @returns The exact value.
 * @throws {SyntaxError} If `text` is not of that form.
 * @example
 * ```ts
 * import { parseDecimal } from "./decimal.ts";
 * const d = parseDecimal("1621464827.9594985030");
 * if (d.whole !== 1621464827n || d.fraction !== "959498503") throw new Error();
 * ```
 */
export function parseDecimal(text: string): Decimal {
  const m = DECIMAL.exec(text);
  if (m === null) {
    throw new SyntaxError(
      `Cannot parse decimal: expected digits[.digits], got ${JSON.stringify(text)}`,
    );
  }
  return { whole: BigInt(m[1]), fraction: (m[2] ?? "").replace(/0+$/, "") };
}

/**
 * Compares two decimals exactly.
 *
 * @returns Negative if `a < b`, 0 if equal, positive if `a > b`.
 */
export function compareDecimal(a: Decimal, b: Decimal): number {
  if (a.whole !== b.whole) return a.whole < b.whole ? -1 : 1;
  // Without trailing zeros, comparing fraction digit strings padded to one
  // length is the numeric comparison.
  const n = Math.max(a.fraction.length, b.fraction.length);
  const fa = a.fraction.padEnd(n, "0");
  const fb = b.fraction.padEnd(n, "0");
  return fa < fb ? -1 : fa > fb ? 1 : 0;
}

/**
 * The decimal in whole nanoseconds (units of 1e-9), truncating digits past the ninth.
 *
 * @param d A decimal number of seconds.
 * @returns `floor(d * 1e9)` as a bigint.
 */
export function decimalToNanos(d: Decimal): bigint {
  return d.whole * 1_000_000_000n + BigInt(d.fraction.slice(0, 9).padEnd(9, "0"));
}

/** True if the decimal is exactly zero. */
export function isZero(d: Decimal): boolean {
  return d.whole === 0n && d.fraction === "";
}

/** A decimal of a whole number. */
export function decimalOf(whole: number | bigint): Decimal {
  return { whole: BigInt(whole), fraction: "" };
}

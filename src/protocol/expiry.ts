/**
 * Record expiry (`[herd] record_ttl_s`, PROTOCOL.md section 3): the one rule
 * by which every member drops a record from its store and refuses it on
 * arrival. A record is expired when its client time is older than now minus
 * the TTL: `time < now - ttl`, compared exactly (the client time's digits past
 * the ninth cannot change the answer against a cutoff in whole nanoseconds).
 * No float takes part.
 *
 * {@linkcode isExpired} is the rule; {@linkcode expiryCutoff} and
 * {@linkcode isOlderThan} are its two halves, for a loop that tests many
 * times against one `now` (the expiry sweep, anti-entropy answers): the
 * cutoff is computed once, each time is then read digit by digit, with no
 * parse and no allocation.
 *
 * @module
 */

const NS_PER_S = 1_000_000_000n;
const ZERO = 0x30;
const DOT = 0x2e;

/**
 * Longest whole part (digits, leading zeros aside) read as a number: exact
 * below 2^53. A longer one is at least 10^15 s (31 million years), later than
 * any cutoff {@linkcode expiryCutoff} accepts.
 */
const MAX_WHOLE_DIGITS = 15;
const MAX_CUTOFF_S = 10 ** MAX_WHOLE_DIGITS;

/** The instant `now - ttl`, split into whole seconds and nanoseconds: what is older expires. */
export interface ExpiryCutoff {
  /** Whole seconds of the cutoff (POSIX), 0 up to 10^15 (exclusive). */
  readonly seconds: number;
  /** Nanoseconds past `seconds`, 0..999,999,999. */
  readonly nanos: number;
}

/**
 * The cutoff of the expiry rule at `nowNs`: a client time older than it is expired.
 *
 * @param nowNs The member's wall clock, POSIX nanoseconds.
 * @param ttlS `record_ttl_s`: a whole number of seconds, 0 for "never".
 * @returns The cutoff, or `null` when nothing can be expired (a TTL of 0, or a cutoff before
 *   1970: client times have no sign).
 * @throws {RangeError} If `ttlS` is not a whole number of seconds of at least 0, or the
 *   cutoff is 10^15 s or later.
 * @example
 * ```ts
 * import { expiryCutoff } from "./expiry.ts";
 * const cutoff = expiryCutoff(1_800_000_000_500_000_000n, 10);
 * if (cutoff?.seconds !== 1_799_999_990 || cutoff.nanos !== 500_000_000) throw new Error();
 * if (expiryCutoff(1_800_000_000_500_000_000n, 0) !== null) throw new Error();
 * ```
 */
export function expiryCutoff(nowNs: bigint, ttlS: number): ExpiryCutoff | null {
  if (!Number.isSafeInteger(ttlS) || ttlS < 0) {
    throw new RangeError(`Cannot compute expiry: the TTL must be whole seconds >= 0, got ${ttlS}`);
  }
  if (ttlS === 0) return null;
  const cutoff = nowNs - BigInt(ttlS) * NS_PER_S;
  if (cutoff <= 0n) return null;
  const seconds = Number(cutoff / NS_PER_S);
  if (seconds >= MAX_CUTOFF_S) {
    throw new RangeError(`Cannot compute expiry: now (${nowNs} ns) is past 10^15 s`);
  }
  return { seconds, nanos: Number(cutoff % NS_PER_S) };
}

/**
 * Whether a client time is older than a cutoff, exactly.
 *
 * @param clientTime A client time as the protocol writes it, `D+[.D+]` (already validated:
 *   any other text gives an unspecified answer, never an exception).
 * @param cutoff From {@linkcode expiryCutoff}.
 * @returns True if `clientTime < cutoff`.
 */
export function isOlderThan(clientTime: string, cutoff: ExpiryCutoff): boolean {
  const n = clientTime.length;
  let i = 0;
  while (i < n && clientTime.charCodeAt(i) === ZERO) i++;
  let whole = 0;
  let digits = 0;
  for (; i < n; i++) {
    const c = clientTime.charCodeAt(i);
    if (c === DOT) break;
    if (++digits > MAX_WHOLE_DIGITS) return false;
    whole = whole * 10 + (c - ZERO);
  }
  if (whole !== cutoff.seconds) return whole < cutoff.seconds;
  // Same second: the first nine fraction digits decide (the cutoff is in whole nanoseconds).
  let nanos = 0;
  let scale = 100_000_000;
  for (i++; i < n && scale >= 1; i++, scale /= 10) {
    nanos += (clientTime.charCodeAt(i) - ZERO) * scale;
  }
  return nanos < cutoff.nanos;
}

/**
 * The expiry rule: is a record with this client time expired at `nowNs` under
 * a TTL of `ttlS` seconds? True iff `clientTime < nowNs - ttlS`, exactly; never
 * with a TTL of 0.
 *
 * @param clientTime The record's client time, `D+[.D+]` as received.
 * @param nowNs The member's wall clock, POSIX nanoseconds.
 * @param ttlS `record_ttl_s`, whole seconds; 0 keeps records forever.
 * @returns True if the record is expired: drop it, refuse it.
 * @throws {RangeError} As {@linkcode expiryCutoff}.
 * @example
 * ```ts
 * import { isExpired } from "./expiry.ts";
 * const now = 1_800_000_000_000_000_000n; // 1800000000 s
 * if (!isExpired("1799999989.999999999", now, 10)) throw new Error("older: expired");
 * if (isExpired("1799999990", now, 10)) throw new Error("exactly now - ttl: kept");
 * if (isExpired("1", now, 0)) throw new Error("a TTL of 0 keeps everything");
 * ```
 */
export function isExpired(clientTime: string, nowNs: bigint, ttlS: number): boolean {
  const cutoff = expiryCutoff(nowNs, ttlS);
  return cutoff !== null && isOlderThan(clientTime, cutoff);
}

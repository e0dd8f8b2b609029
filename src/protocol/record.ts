/**
 * The client record every member keeps, and the one order that decides which
 * of two records is newer (PROTOCOL.md section 3: a last-writer-wins register).
 *
 * @module
 */

import { compareDecimal, type Decimal } from "./decimal.ts";
import type { Location } from "./iso6709.ts";
import type { WireText } from "./wire_text.ts";

/** The latest known position of one client: the fields of an AT line. */
export interface ClientRecord {
  /** Name of the server that received the IAMAT. */
  readonly origin: WireText;
  /** That server's skew, as printed (`+0.263873386`). */
  readonly skew: string;
  /** Client id, raw bytes as wire text. */
  readonly clientId: WireText;
  /** Location as received, with its parsed degrees. */
  readonly location: Location;
  /** Client time, POSIX seconds, exact. */
  readonly clientTime: Decimal;
  /** Client time exactly as received (echoed verbatim). */
  readonly clientTimeText: WireText;
}

/** Byte-wise comparison of wire text (char codes are bytes, so `<` is byte order). */
function compareWire(a: WireText, b: WireText): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The last-writer-wins total order: does `candidate` replace `current`?
 *
 * `candidate` wins iff its client time is greater (exact decimal comparison),
 * or the times are equal and its (location text, origin) pair is greater,
 * compared byte-wise (PROTOCOL.md section 3). herd adds two last tie-breakers,
 * the client time's text (`1.5` vs `1.50`) and then the skew, both byte-wise,
 * so that two records differing in any field are ordered: every replica then
 * holds byte-identical AT lines, which anti-entropy digests rely on.
 * Identical records do not replace each other, so a flood of an already-known
 * record stops.
 *
 * @param candidate The incoming record.
 * @param current The stored record, or `undefined` if none.
 * @returns True if `candidate` should be stored (and flooded on).
 */
export function isNewer(candidate: ClientRecord, current: ClientRecord | undefined): boolean {
  if (current === undefined) return true;
  const t = compareDecimal(candidate.clientTime, current.clientTime);
  if (t !== 0) return t > 0;
  const l = compareWire(candidate.location.text, current.location.text);
  if (l !== 0) return l > 0;
  const o = compareWire(candidate.origin, current.origin);
  if (o !== 0) return o > 0;
  const text = compareWire(candidate.clientTimeText, current.clientTimeText);
  if (text !== 0) return text > 0;
  return compareWire(candidate.skew, current.skew) > 0;
}

/**
 * Formats a record as its AT line, without terminator:
 * `AT <origin> <skew> <client-id> <location> <client-time>`.
 *
 * @param record The record.
 * @returns Wire text of the line.
 */
export function formatAt(record: ClientRecord): WireText {
  return `AT ${record.origin} ${record.skew} ${record.clientId} ${record.location.text} ${record.clientTimeText}`;
}

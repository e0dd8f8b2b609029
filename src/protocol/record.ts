/**
 * The client record every member keeps, the tombstone that erases a client,
 * and the one order that decides which of two store entries is newer
 * (PROTOCOL.md section 3: a last-writer-wins register).
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

/**
 * **(herd)** A client's erasure: `ERASE <origin> <client-id> <time>`, what a
 * member stores in place of the client's record when the client is deleted
 * (`DELETE /v1/clients/{id}`). It is ordered with records by
 * {@linkcode isNewer} under the same last-writer-wins rule, its time taking the
 * place of a record's client time, so it floods, reconciles, persists and
 * expires as a record does; a later record (a newer client time) replaces it.
 */
export interface Tombstone {
  /** Discriminant: a {@linkcode ClientRecord} has no such field. */
  readonly erased: true;
  /** Name of the server that erased the client. */
  readonly origin: WireText;
  /** Client id, raw bytes as wire text. */
  readonly clientId: WireText;
  /**
   * When the client was erased, POSIX seconds, exact: the erasing server's clock, or the
   * erased record's client time if that was later (so the erasure outranks it).
   */
  readonly clientTime: Decimal;
  /** The same as it is written on the wire. */
  readonly clientTimeText: WireText;
}

/** What a store holds per client id: its newest record, or the tombstone that erased it. */
export type StoreEntry = ClientRecord | Tombstone;

/**
 * Whether a store entry is a tombstone.
 *
 * @param entry A record or a tombstone.
 * @returns True for a tombstone.
 */
export function isTombstone(entry: StoreEntry): entry is Tombstone {
  return (entry as Partial<Tombstone>).erased === true;
}

/** Byte-wise comparison of wire text (char codes are bytes, so `<` is byte order). */
function compareWire(a: WireText, b: WireText): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The last-writer-wins total order: does `candidate` replace `current`?
 *
 * `candidate` wins iff its client time (a tombstone's time) is greater (exact decimal comparison),
 * or the times are equal and its (location text, origin) pair is greater,
 * compared byte-wise (PROTOCOL.md section 3). herd adds two last tie-breakers,
 * the client time's text (`1.5` vs `1.50`) and then the skew, both byte-wise,
 * so that two records differing in any field are ordered: every replica then
 * holds byte-identical AT lines, which anti-entropy digests rely on.
 * Identical records do not replace each other, so a flood of an already-known
 * record stops.
 *
 * Tombstones **(herd)**: at equal times a tombstone beats a record (an erasure
 * forgets the record it was made against, whose time it may have had to
 * copy), and of two tombstones the greater origin, then the greater time
 * text, wins.
 *
 * @param candidate The incoming record or tombstone.
 * @param current The stored one, or `undefined` if none.
 * @returns True if `candidate` should be stored (and flooded on).
 */
export function isNewer(candidate: StoreEntry, current: StoreEntry | undefined): boolean {
  if (current === undefined) return true;
  const t = compareDecimal(candidate.clientTime, current.clientTime);
  if (t !== 0) return t > 0;
  const erase = isTombstone(candidate);
  if (erase !== isTombstone(current)) return erase;
  if (erase) {
    const o = compareWire(candidate.origin, current.origin);
    if (o !== 0) return o > 0;
    return compareWire(candidate.clientTimeText, current.clientTimeText) > 0;
  }
  const c = candidate as ClientRecord;
  const k = current as ClientRecord;
  const l = compareWire(c.location.text, k.location.text);
  if (l !== 0) return l > 0;
  const o = compareWire(c.origin, k.origin);
  if (o !== 0) return o > 0;
  const text = compareWire(c.clientTimeText, k.clientTimeText);
  if (text !== 0) return text > 0;
  return compareWire(c.skew, k.skew) > 0;
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

/**
 * Formats a tombstone as its peer line, without terminator:
 * `ERASE <origin> <client-id> <time>`.
 *
 * @param tombstone The tombstone.
 * @returns Wire text of the line.
 */
export function formatErase(tombstone: Tombstone): WireText {
  return `ERASE ${tombstone.origin} ${tombstone.clientId} ${tombstone.clientTimeText}`;
}

/**
 * Formats a store entry as its line: a record's AT line or a tombstone's ERASE line.
 *
 * @param entry The entry.
 * @returns Wire text of the line, no terminator.
 */
export function formatEntry(entry: StoreEntry): WireText {
  return isTombstone(entry) ? formatErase(entry) : formatAt(entry);
}

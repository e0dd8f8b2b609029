/**
 * The record store: the latest record per client id, replaced only by a
 * newer one under the last-writer-wins order (PROTOCOL.md section 3), with
 * the anti-entropy digest tree kept in step on every change.
 *
 * Memory: a member may hold millions of clients, so the store keeps each
 * record as its AT line only (one flat string; the map's key is a slice of
 * it), not as the parsed {@linkcode ClientRecord} with its location and
 * decimal objects: about 170 - 190 bytes per client instead of about 570
 * (docs/PERFORMANCE.md). {@linkcode RecordStore.get} parses the line again
 * (about 1.5 µs). {@linkcode RecordStore.apply} recognises a copy identical
 * to the stored record (what most flood copies are) by its line, and compares
 * a different record of a known client by client time first, parsed from the
 * end of the stored line; only a tie parses the whole line.
 *
 * @module
 */

import {
  type ClientRecord,
  compareDecimal,
  formatAt,
  isNewer,
  parseDecimal,
  parseMessage,
  type WireText,
} from "../protocol/mod.ts";
import { DigestTree } from "./digest_tree.ts";

/** In-memory map from client id to its newest known record. */
export class RecordStore {
  /** AT line (no terminator) by client id; each key is a slice of its line. */
  #lines = new Map<WireText, WireText>();
  /** Digests of the stored records, for anti-entropy. */
  readonly digests: DigestTree = new DigestTree();

  /** Number of clients known. */
  get size(): number {
    return this.#lines.size;
  }

  /**
   * The stored record of a client (parsed from its AT line: a new object per call).
   *
   * @param clientId Client id (wire text).
   * @returns The record, or `undefined` if the client is unknown.
   */
  get(clientId: WireText): ClientRecord | undefined {
    const line = this.#lines.get(clientId);
    return line === undefined ? undefined : recordOf(line);
  }

  /**
   * The stored AT line of a client, without terminator.
   *
   * @param clientId Client id (wire text).
   * @returns The line, or `undefined` if the client is unknown.
   */
  line(clientId: WireText): WireText | undefined {
    return this.#lines.get(clientId);
  }

  /**
   * Stores `record` if it is newer than the stored one ({@linkcode isNewer})
   * and updates the digest tree. Nothing else: persisting and flooding a stored
   * record is `acceptRecord()`'s (accept.ts).
   *
   * @param record A record from an IAMAT, a flood or a reconciliation.
   * @param line Its AT line, if the caller has it already (it floods the same line).
   * @returns True if stored (the caller then floods it), false if older or equal.
   */
  apply(record: ClientRecord, line: WireText = formatAt(record)): boolean {
    const current = this.#lines.get(record.clientId);
    if (current !== undefined) {
      // An identical record is not newer; the line says so without a parse.
      if (line === current) return false;
      // The client time decides unless equal (isNewer's first rule): only a tie parses the line.
      const time = parseDecimal(current.slice(current.lastIndexOf(" ") + 1));
      const t = compareDecimal(record.clientTime, time);
      if (t < 0 || (t === 0 && !isNewer(record, recordOf(current)))) return false;
      // Re-keyed below, so that no string of the replaced line stays reachable.
      this.#lines.delete(record.clientId);
    }
    // The client id's offset in `AT <origin> <skew> <client-id> ...`.
    const idStart = 5 + record.origin.length + record.skew.length;
    // Slicing flattens the line (V8), so the line no longer holds on to the
    // strings it was built from; a long key then shares the line's bytes.
    const key = line.slice(idStart, idStart + record.clientId.length);
    this.#lines.set(key, line);
    this.digests.update(key, current, line);
    return true;
  }

  /** Every stored AT line (no terminator) by client id, oldest update first; nothing parsed. */
  lines(): IterableIterator<[WireText, WireText]> {
    return this.#lines.entries();
  }

  /** Every stored record, oldest update first (parsed one at a time). */
  *records(): IterableIterator<ClientRecord> {
    for (const line of this.#lines.values()) yield recordOf(line);
  }
}

/** The record of a stored AT line. */
function recordOf(line: WireText): ClientRecord {
  const msg = parseMessage(line);
  if (msg.kind !== "AT") throw new Error(`Cannot read stored record: not an AT line: ${line}`);
  return msg.record;
}

/**
 * The record store: the latest record per client id, replaced only by a
 * newer one under the last-writer-wins order (PROTOCOL.md section 3).
 *
 * @module
 */

import { type ClientRecord, isNewer, type WireText } from "../protocol/mod.ts";

/** In-memory map from client id to its newest known record. */
export class RecordStore {
  #records = new Map<WireText, ClientRecord>();

  /** Number of clients known. */
  get size(): number {
    return this.#records.size;
  }

  /**
   * The stored record of a client.
   *
   * @param clientId Client id (wire text).
   * @returns The record, or `undefined` if the client is unknown.
   */
  get(clientId: WireText): ClientRecord | undefined {
    return this.#records.get(clientId);
  }

  /**
   * Stores `record` if it is newer than the stored one ({@linkcode isNewer}).
   *
   * @param record A record from an IAMAT or a flood.
   * @returns True if stored (the caller then floods it), false if older or equal.
   */
  apply(record: ClientRecord): boolean {
    if (!isNewer(record, this.#records.get(record.clientId))) return false;
    this.#records.set(record.clientId, record);
    return true;
  }

  /** Every stored record, in insertion order of their client ids. */
  records(): IterableIterator<ClientRecord> {
    return this.#records.values();
  }
}

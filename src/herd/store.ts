/**
 * The record store: the latest record per client id, replaced only by a
 * newer one under the last-writer-wins order (PROTOCOL.md section 3), with
 * the anti-entropy digest tree kept in step on every change.
 *
 * @module
 */

import { type ClientRecord, formatAt, isNewer, type WireText } from "../protocol/mod.ts";
import { DigestTree } from "./digest_tree.ts";

/** Called after a record was stored, with its AT line (no terminator). */
export type StoredHook = (record: ClientRecord, atLine: WireText) => void;

/** In-memory map from client id to its newest known record. */
export class RecordStore {
  #records = new Map<WireText, ClientRecord>();
  #hooks: StoredHook[] = [];
  /** Digests of the stored records, for anti-entropy. */
  readonly digests: DigestTree = new DigestTree();

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
   * Stores `record` if it is newer than the stored one ({@linkcode isNewer}),
   * updates the digest tree and calls every hook (e.g. persistence).
   *
   * @param record A record from an IAMAT, a flood or a reconciliation.
   * @returns True if stored (the caller then floods it), false if older or equal.
   */
  apply(record: ClientRecord): boolean {
    const current = this.#records.get(record.clientId);
    if (!isNewer(record, current)) return false;
    this.#records.set(record.clientId, record);
    const line = formatAt(record);
    this.digests.update(
      record.clientId,
      current === undefined ? undefined : formatAt(current),
      line,
    );
    for (const hook of this.#hooks) hook(record, line);
    return true;
  }

  /**
   * Registers a hook called after every stored record.
   *
   * @param hook Receives the record and its AT line; must not throw.
   */
  onStored(hook: StoredHook): void {
    this.#hooks.push(hook);
  }

  /** Every stored record, in insertion order of their client ids. */
  records(): IterableIterator<ClientRecord> {
    return this.#records.values();
  }
}

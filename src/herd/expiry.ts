/**
 * The expiry sweep (`[herd] record_ttl_s`, PROTOCOL.md section 3): the one
 * place records leave a member. Every `expiry_sweep_ms` the member drops the
 * records whose client time is older than now minus the TTL (the rule of
 * `protocol/expiry.ts`), oldest first, from the store and its digests
 * (`RecordStore.removeExpired()`), then from the record file, then tells the
 * observers (the HTTP face's geo index and streams), and logs what it dropped.
 * Every member applies the same rule to the same client times, so replicas
 * agree once each has swept: within `expiry_sweep_ms` plus the members' clock
 * offset.
 *
 * Nothing brings an expired record back, so no tombstone is needed: every way
 * in refuses one (dispatch.ts for IAMAT, AT lines and anti-entropy answers,
 * which also leave out what the rule drops; persistence.ts for the load at
 * start).
 *
 * @module
 */

import type { EventLog } from "../log.ts";
import { expiryCutoff, isOlderThan, type WireText, wireToDisplay } from "../protocol/mod.ts";
import { reason } from "./socket.ts";
import type { RecordStore } from "./store.ts";

/**
 * Most records one sweep call removes: about a millisecond of store work, a
 * transaction of row deletes and one `record.expired` event of at most this
 * many client ids. A member with more to drop (after its clock jumped, or a
 * burst of clients a TTL ago) sweeps again at once, giving its event loop back
 * in between, so clients and neighbours' keepalives are never held up long.
 */
export const EXPIRY_BATCH = 1000;

/** A record the sweep dropped, as observers see it. */
export interface ExpiredRecord {
  /** The client id, wire text. */
  readonly clientId: WireText;
  /** Its AT line, no terminator: the record as it was held. */
  readonly line: WireText;
}

/** Called synchronously for each dropped record; must not block (queue, do not await). */
export type ExpiredObserver = (expired: ExpiredRecord) => void;

/** What a sweep touches, in the order it touches it. */
export interface ExpirySink {
  /** The member's records (made with `timeIndex`). */
  readonly store: RecordStore;
  /**
   * Deletes the dropped clients' rows from the record file, or `null` when records are kept in
   * memory only. May throw; the error is logged.
   */
  readonly unpersist: ((clientIds: WireText[]) => void) | null;
  /** Event sink. */
  readonly log: EventLog;
  /** Told of every dropped record, last; an observer that throws is logged and skipped. */
  readonly observers: ReadonlySet<ExpiredObserver>;
}

/**
 * Drops up to `limit` expired records, oldest first. Never throws.
 *
 * @param sink The member's store, record file, observers and log.
 * @param nowNs The member's wall clock, POSIX ns.
 * @param ttlS `record_ttl_s`, whole seconds; 0 drops nothing.
 * @param limit Most records dropped by this call. @default {@linkcode EXPIRY_BATCH}
 * @returns How many were dropped: `limit` means there may be more (sweep again).
 */
export function sweepExpired(
  sink: ExpirySink,
  nowNs: bigint,
  ttlS: number,
  limit: number = EXPIRY_BATCH,
): number {
  const cutoff = expiryCutoff(nowNs, ttlS);
  if (cutoff === null) return 0;
  const removed = sink.store.removeExpired((time) => isOlderThan(time, cutoff), limit);
  if (removed.length === 0) return 0;
  if (sink.unpersist !== null) {
    try {
      sink.unpersist(removed.map(([id]) => id));
    } catch (e) {
      sink.log.emit("error", "error", { reason: `cannot delete expired records: ${reason(e)}` });
    }
  }
  // Tombstones expire too, but they are no records: no observer hears of them, and the log counts
  // them without naming the erased clients again.
  const records = removed.filter(([, line]) => !line.startsWith("ERASE "));
  if (sink.observers.size > 0) {
    for (const [clientId, line] of records) {
      for (const observe of sink.observers) {
        try {
          observe({ clientId, line });
        } catch (e) {
          sink.log.emit("error", "error", { reason: `expiry observer failed: ${reason(e)}` });
        }
      }
    }
  }
  const timeOf = (line: WireText) => line.slice(line.lastIndexOf(" ") + 1);
  const tombstones = removed.length - records.length;
  sink.log.emit("info", "record.expired", {
    records: records.length,
    clients: records.map(([id]) => wireToDisplay(id)),
    ...(tombstones > 0 ? { tombstones } : {}),
    oldest: timeOf(removed[0][1]),
    newest: timeOf(removed[removed.length - 1][1]),
  });
  return removed.length;
}

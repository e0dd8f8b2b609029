/**
 * The one place a record is accepted (PROTOCOL.md sections 3 and 4), whether
 * it came from a client's IAMAT, a neighbour's flood or an anti-entropy
 * answer; a tombstone (an erased client, `ERASE ...`) is accepted the same
 * way. In this order: store it if newer (last-writer-wins, store.ts),
 * persist it (persistence.ts, when the member has a data directory),
 * disseminate it (flood.ts: to every neighbour link but the sender's; or
 * broadcast_tree.ts: along the epidemic broadcast tree), then tell the
 * observers (the HTTP face's streams and geo index). An older or equal
 * record stops at the first step; on a tree, an exact copy pushed by the tree
 * may prune the link it came on. A tombstone is flooded even on a tree:
 * erasures are rare, and a flood needs no tree state to reach every member.
 *
 * Disseminating only hands the AT line to each link's queue; the session
 * then calls {@linkcode FloodTarget.flush} on every link before it writes
 * the reply (session.ts), which is what makes a flood leave before its reply.
 * The session logs the stored records (`record.stored`), one event per read.
 *
 * @module
 */

import type { EventLog } from "../log.ts";
import { isTombstone, type StoreEntry, type WireText } from "../protocol/mod.ts";
import type { BroadcastTree } from "./broadcast_tree.ts";
import { flood, type FloodTarget } from "./flood.ts";
import { reason } from "./socket.ts";
import type { RecordStore } from "./store.ts";

/** What accepting a record touches, in the order it touches it. */
export interface RecordSink {
  /** The member's records. */
  readonly store: RecordStore;
  /**
   * Writes a stored record to disk (client id, AT or ERASE line without terminator), or `null`
   * when records are kept in memory only. May throw; the error is logged.
   */
  readonly persist: ((clientId: WireText, atLine: WireText) => void) | null;
  /** Outgoing neighbour links by name. */
  readonly links: ReadonlyMap<string, FloodTarget>;
  /** The member's broadcast tree when `[herd] dissemination = "tree"`; `null` floods. */
  readonly tree?: BroadcastTree | null;
  /** Event sink. */
  readonly log: EventLog;
  /** Told of every stored record, last; an observer that throws is logged and skipped. */
  readonly observers: ReadonlySet<RecordObserver>;
}

/** A record (or tombstone) just stored, as observers see it. */
export interface StoredRecord {
  /** The record, or the tombstone of an erased client ({@linkcode isTombstone}). */
  readonly record: StoreEntry;
  /** Its AT line (a tombstone's ERASE line), no terminator. */
  readonly line: WireText;
  /**
   * The AT line it replaced, or `undefined` for a client new to this member (or whose entry
   * was a tombstone).
   */
  readonly previous: WireText | undefined;
  /** The neighbour it came from, or `null` for a client's IAMAT (over TCP or HTTP). */
  readonly from: string | null;
}

/** Called synchronously for each stored record; must not block (queue, do not await). */
export type RecordObserver = (stored: StoredRecord) => void;

/**
 * Accepts a record (or a tombstone): stores it if newer, then persists and
 * disseminates it. Never throws.
 *
 * @param sink The member's store, persistence, links and log.
 * @param record The record or tombstone.
 * @param atLine Its line (`formatEntry(record)`: AT or ERASE), no terminator.
 * @param from The neighbour it came from (not sent back there), or `null` for a client's IAMAT.
 * @param marked True if it came as an eager push along a broadcast tree (`AT ... tree`).
 * @returns True if it was newer (stored and disseminated), false if older or equal.
 */
export function acceptRecord(
  sink: RecordSink,
  record: StoreEntry,
  atLine: WireText,
  from: string | null,
  marked = false,
): boolean {
  const previous = sink.observers.size === 0 ? undefined : sink.store.line(record.clientId);
  const tree = sink.tree ?? null;
  if (!sink.store.apply(record, atLine)) {
    if (tree !== null && from !== null && !isTombstone(record)) {
      tree.notNewer(record, atLine, from, marked);
    }
    return false;
  }
  if (sink.persist !== null) {
    try {
      sink.persist(record.clientId, atLine);
    } catch (e) {
      sink.log.emit("error", "error", { reason: `cannot persist record: ${reason(e)}` });
    }
  }
  if (tree === null || isTombstone(record)) flood(atLine, sink.links, from ?? undefined);
  else tree.relay(record, atLine, from, marked);
  if (sink.observers.size > 0) {
    const stored: StoredRecord = { record, line: atLine, previous, from };
    for (const observe of sink.observers) {
      try {
        observe(stored);
      } catch (e) {
        sink.log.emit("error", "error", { reason: `record observer failed: ${reason(e)}` });
      }
    }
  }
  return true;
}

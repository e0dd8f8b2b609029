/**
 * Anti-entropy (PROTOCOL.md section 4, **(herd)**): when a peer link comes
 * (back) up, the two members find where their stores differ by comparing
 * digest trees top-down, then send each other only the records under the
 * nodes that differ. Records received this way are AT lines like any flood:
 * applied with the last-writer-wins order and flooded on if newer.
 *
 * A reconciliation runs on one dialled connection and *pushes* the dialler's
 * records to the listener (the listener's records go the other way when its
 * own link to the dialler reconciles, just as floods do):
 * 1. The dialler (the pusher) opens with `DIGEST - <16 root children>`.
 * 2. A member answering a `DIGEST <p> ...` compares each child `p+i` with its
 *    own. Equal: nothing. Different and small (both counts together at most
 *    {@linkcode EXCHANGE_RECORDS}) or a leaf: the pusher sends its records
 *    under `p+i` as AT lines; the listener asks for them with one
 *    `WANT <prefix> ...` line per DIGEST answered. Otherwise it answers
 *    `DIGEST p+i <its 16 children>` and the other side does the same.
 * 3. `WANT <p> ...` is answered with every record under each prefix.
 *
 * Two identical stores therefore exchange one DIGEST line (about 400 bytes),
 * whatever their size; the depth of the tree bounds the number of rounds.
 *
 * @module
 */

import {
  DIGEST_DEPTH,
  DIGEST_FANOUT,
  type DigestMessage,
  formatAt,
  formatDigest,
  formatWant,
  sameDigest,
  type WantMessage,
  type WireText,
} from "../protocol/mod.ts";
import type { RecordStore } from "./store.ts";

/**
 * Records under a differing node (both sides together) at or below which they
 * are exchanged directly rather than compared one level further down.
 */
export const EXCHANGE_RECORDS = 16;

/** What answering one DIGEST produced, for logs and counters. */
export interface DigestAnswer {
  /** Lines to send back (DIGEST, WANT and AT lines, each with `\n`), or `""`. */
  text: WireText;
  /** Children that differed. */
  differing: number;
  /** AT lines included. */
  records: number;
}

/**
 * The line that opens a reconciliation: our digests of the root's children.
 *
 * @param store Our records.
 * @returns `DIGEST - ...\n`.
 */
export function openingDigest(store: RecordStore): WireText {
  return formatDigest("", store.digests.children("")) + "\n";
}

/**
 * Every record under a node, as AT lines.
 *
 * @param store Our records.
 * @param prefix The node (`""` for the root).
 * @returns The lines (each with `\n`) and how many there are.
 */
export function recordsUnder(
  store: RecordStore,
  prefix: string,
): { text: WireText; records: number } {
  let text = "";
  let records = 0;
  for (const id of store.digests.clientIds(prefix)) {
    const record = store.get(id);
    if (record === undefined) continue;
    text += formatAt(record) + "\n";
    records++;
  }
  return { text, records };
}

/**
 * Answers a neighbour's `DIGEST` (step 2 of the exchange).
 *
 * @param msg The neighbour's digests of the children of `msg.prefix`.
 * @param store Our records.
 * @param pusher True on the dialler's side (it sends records), false on the listener's (it
 *   asks for them).
 * @returns What to send back.
 */
export function answerDigest(
  msg: DigestMessage,
  store: RecordStore,
  pusher: boolean,
): DigestAnswer {
  let text = "";
  let differing = 0;
  let records = 0;
  const wanted: string[] = [];
  for (let i = 0; i < DIGEST_FANOUT; i++) {
    const child = msg.prefix + i.toString(16);
    const theirs = msg.children[i];
    const ours = store.digests.node(child);
    if (sameDigest(theirs, ours)) continue;
    differing++;
    if (child.length === DIGEST_DEPTH || theirs.count + ours.count <= EXCHANGE_RECORDS) {
      if (pusher && ours.count > 0) {
        const sent = recordsUnder(store, child);
        text += sent.text;
        records += sent.records;
      }
      if (!pusher && theirs.count > 0) wanted.push(child);
    } else {
      text += formatDigest(child, store.digests.children(child)) + "\n";
    }
  }
  if (wanted.length > 0) text += formatWant(wanted) + "\n";
  return { text, differing, records };
}

/**
 * Answers a neighbour's `WANT` (step 3 of the exchange).
 *
 * @param msg The nodes wanted.
 * @param store Our records.
 * @returns The AT lines and how many there are.
 */
export function answerWant(
  msg: WantMessage,
  store: RecordStore,
): { text: WireText; records: number } {
  let text = "";
  let records = 0;
  for (const prefix of msg.prefixes) {
    const sent = recordsUnder(store, prefix);
    text += sent.text;
    records += sent.records;
  }
  return { text, records };
}

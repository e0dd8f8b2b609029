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
 *    own. Equal, or the pusher holds nothing there: nothing. The listener
 *    holds at most 1/{@linkcode SEND_ALL_RATIO} as many records there as the
 *    pusher (none, after a restart): every record goes at once, the pusher
 *    sending them as AT lines, the listener asking for them
 *    (`WANT p+i ...`, one line per DIGEST answered). Different and big: it
 *    answers `DIGEST p+i <its 16 children>` and the other side does the same
 *    one level down. Different and small (both counts together at most
 *    {@linkcode EXCHANGE_RECORDS}) or a leaf: the listener says what it holds
 *    there (`HAVE p+i <key>:<client-time> ...`); the pusher asks it to
 *    (`ASK p+i ...`, one line per DIGEST answered).
 * 3. The pusher answers `HAVE` with its records under that node whose
 *    client time is not older than the listener's for the same client, so a
 *    stale side's records are not sent just to be refused. A `HAVE` that
 *    would exceed {@linkcode MAX_HAVE_BYTES} is replaced by `WANT <p>`,
 *    answered with every record under `p`.
 *
 * Two identical stores exchange one DIGEST line (about 400 bytes), whatever
 * their size; the depth of the tree bounds the number of rounds, and a
 * member restarted empty has every record after one round trip. Every line
 * is one an older member sends and answers too, so mixed versions reconcile
 * (an older side only descends where a newer one would send everything).
 * Answers are built from the store's bytes in one buffer per node
 * ({@linkcode RecordStore.linesUnder}), not record by record. An answer of
 * more than {@linkcode CHUNK_RECORDS} records is a {@linkcode RecordStream}
 * instead, built a chunk at a time as its connection writes it, so that
 * neither member's event loop stalls (and misses a neighbour's keepalive)
 * while a large store is repaired.
 *
 * @module
 */

import {
  type AskMessage,
  compareDecimal,
  DIGEST_DEPTH,
  DIGEST_FANOUT,
  type DigestMessage,
  formatAsk,
  formatDigest,
  formatHave,
  formatWant,
  type HaveMessage,
  MAX_HAVE_BYTES,
  parseDecimal,
  sameDigest,
  type WantMessage,
  type WireText,
} from "../protocol/mod.ts";
import type { SessionRole } from "./dispatch.ts";
import type { RecordStore } from "./store.ts";

/**
 * Records under a differing node (both sides together) at or below which they
 * are exchanged directly rather than compared one level further down.
 */
export const EXCHANGE_RECORDS = 16;

/**
 * Under a differing node where the listener holds at most 1/SEND_ALL_RATIO as
 * many records as the pusher (none, for a member restarted empty), every
 * record the pusher holds there is sent at once: the pusher sends them as
 * soon as it sees that, the listener asks for them with one `WANT`. At most
 * a quarter of what is sent is then records the listener already had (and
 * refuses), and the descent's round trips, `DIGEST` and `HAVE` lines are
 * saved: a restarted member gets the whole store after one round trip.
 */
export const SEND_ALL_RATIO = 4;

/**
 * Most records in one chunk of a {@linkcode RecordStream}, and in an answer built at once. About
 * 330 KB of 80-byte AT lines: a few milliseconds to build and to write, so a member answering a
 * repair of millions of records returns to its event loop (keepalive, clients) hundreds of times
 * a second, while the per-chunk cost stays small next to the bytes.
 */
export const CHUNK_RECORDS = 4096;

/** Text built a chunk at a time: {@linkcode RecordStream}, or a wrapper that logs its chunks. */
export interface TextChunks {
  /**
   * Builds the next chunk from the store as it is now.
   *
   * @returns AT lines (each with `\n`, possibly none) and how many, or `null` when done.
   */
  next(): { text: WireText; records: number } | null;
}

/**
 * The records under some digest-tree nodes as AT lines, built a chunk of at
 * most about {@linkcode CHUNK_RECORDS} records at a time: nodes holding more
 * are split into their children (by the digest tree's counts), smaller
 * siblings are gathered into one chunk. Each chunk is read from the store
 * when it is asked for, so records stored meanwhile go out as they are then,
 * and nothing of the store is held between chunks.
 */
export class RecordStream implements TextChunks {
  #store: RecordStore;
  #keep: ((key: number, clientTime: WireText) => boolean) | undefined;
  /** Nodes still to send, the next one last. */
  #todo: string[];
  /** Records under the nodes when the stream was made, for logs. */
  readonly expected: number;

  /**
   * Creates a stream of every record under `prefixes`.
   *
   * @param store The records.
   * @param prefixes Digest-tree nodes, hex nibbles (`""` for the root).
   * @param fresh Which records may be sent, by client time (see {@linkcode answerDigest}).
   *   @default all
   */
  constructor(
    store: RecordStore,
    prefixes: readonly string[],
    fresh?: (clientTime: WireText) => boolean,
  ) {
    this.#store = store;
    this.#keep = byTime(fresh);
    this.#todo = [...prefixes].reverse();
    this.expected = countUnder(store, prefixes);
  }

  /**
   * Builds the next chunk.
   *
   * @returns AT lines (each with `\n`) and how many, or `null` when every node was sent.
   */
  next(): { text: WireText; records: number } | null {
    const batch: string[] = [];
    let count = 0;
    while (this.#todo.length > 0) {
      const prefix = this.#todo[this.#todo.length - 1];
      const n = this.#store.digests.node(prefix).count;
      if (n > CHUNK_RECORDS && prefix.length < DIGEST_DEPTH) {
        this.#todo.pop();
        for (let i = DIGEST_FANOUT - 1; i >= 0; i--) this.#todo.push(prefix + i.toString(16));
        continue;
      }
      if (count > 0 && count + n > CHUNK_RECORDS) break;
      this.#todo.pop();
      if (n > 0) {
        batch.push(prefix);
        count += n;
      }
    }
    if (batch.length === 0) return null;
    return this.#store.linesUnder(batch, this.#keep);
  }
}

/** Records under some nodes by the digest tree's counts. */
function countUnder(store: RecordStore, prefixes: readonly string[]): number {
  let n = 0;
  for (const prefix of prefixes) n += store.digests.node(prefix).count;
  return n;
}

/** Records sent in answer: some at once, the rest (if many) as a stream. */
export interface RecordAnswer {
  /** AT lines (each with `\n`) to send at once, or `""`. */
  text: WireText;
  /** AT lines in `text`. */
  records: number;
  /** More than {@linkcode CHUNK_RECORDS} records: all of them, to build as written; else `null`. */
  rest: RecordStream | null;
}

/**
 * Every record under some nodes: as text when there are at most
 * {@linkcode CHUNK_RECORDS}, as a {@linkcode RecordStream} when more.
 *
 * @param store Our records.
 * @param prefixes Digest-tree nodes, hex nibbles (`""` for the root).
 * @param fresh Which records may be sent, by client time (see {@linkcode answerDigest}).
 *   @default all
 * @returns The answer.
 */
export function recordsUnder(
  store: RecordStore,
  prefixes: readonly string[],
  fresh?: (clientTime: WireText) => boolean,
): RecordAnswer {
  if (prefixes.length === 0) return { text: "", records: 0, rest: null };
  if (countUnder(store, prefixes) <= CHUNK_RECORDS) {
    return { ...store.linesUnder(prefixes, byTime(fresh)), rest: null };
  }
  return { text: "", records: 0, rest: new RecordStream(store, prefixes, fresh) };
}

/** What answering one DIGEST produced, for logs and counters. */
export interface DigestAnswer {
  /** Lines to send back (DIGEST, ASK, HAVE, WANT and AT lines, each with `\n`), or `""`. */
  text: WireText;
  /** Children that differed. */
  differing: number;
  /** AT lines in `text` (the pusher sends every record under a node the listener lacks). */
  records: number;
  /** The pusher's records under such nodes when there are many, built as written; else `null`. */
  rest: RecordStream | null;
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
 * Answers a neighbour's `DIGEST` (step 2 of the exchange).
 *
 * @param msg The neighbour's digests of the children of `msg.prefix`.
 * @param store Our records.
 * @param role Our side of the connection: the `dialler` pushes records (it asks what the
 *   listener holds), the `listener` says what it holds (HAVE) so as to be sent them.
 * @param fresh Which records may be sent, by client time: with `record_ttl_s`, those the
 *   expiry rule keeps now (a record expired but not yet swept is not sent). @default all
 * @returns What to send back.
 */
export function answerDigest(
  msg: DigestMessage,
  store: RecordStore,
  role: SessionRole,
  fresh?: (clientTime: WireText) => boolean,
): DigestAnswer {
  const pusher = role === "dialler";
  let text = "";
  let differing = 0;
  const asked: string[] = [];
  const wanted: string[] = [];
  const sendAll: string[] = [];
  for (let i = 0; i < DIGEST_FANOUT; i++) {
    const child = msg.prefix + i.toString(16);
    const theirs = msg.children[i];
    const ours = store.digests.node(child);
    if (sameDigest(theirs, ours)) continue;
    differing++;
    // Only the pusher's records travel: where it holds none, there is nothing to send.
    const pushed = pusher ? ours.count : theirs.count;
    const held = pusher ? theirs.count : ours.count;
    if (pushed === 0) continue;
    if (held * SEND_ALL_RATIO <= pushed) {
      if (pusher) sendAll.push(child);
      else wanted.push(child);
    } else if (child.length === DIGEST_DEPTH || theirs.count + ours.count <= EXCHANGE_RECORDS) {
      if (pusher) asked.push(child);
      else text += haveLine(store, child) + "\n";
    } else {
      text += formatDigest(child, store.digests.children(child)) + "\n";
    }
  }
  if (asked.length > 0) text += formatAsk(asked) + "\n";
  if (wanted.length > 0) text += formatWant(wanted) + "\n";
  const sent = recordsUnder(store, sendAll, fresh);
  return { text: sent.text + text, differing, records: sent.records, rest: sent.rest };
}

/** A `linesUnder()` filter by client time alone, or none. */
function byTime(
  fresh: ((clientTime: WireText) => boolean) | undefined,
): ((key: number, clientTime: WireText) => boolean) | undefined {
  return fresh === undefined ? undefined : (_key, time) => fresh(time);
}

/** Our `HAVE` line for a node, or `WANT` for it if the HAVE would be too long. */
function haveLine(store: RecordStore, prefix: string): WireText {
  const entries: Array<[number, WireText]> = [];
  let bytes = 0;
  for (const entry of store.timesUnder(prefix)) {
    bytes += 10 + entry[1].length;
    if (bytes > MAX_HAVE_BYTES) return formatWant([prefix]);
    entries.push(entry);
  }
  return formatHave(prefix, entries);
}

/**
 * Answers a pusher's `ASK` (step 2 of the exchange, listener side).
 *
 * @param msg The nodes asked about.
 * @param store Our records.
 * @returns One `HAVE` (or `WANT`) line per node.
 */
export function answerAsk(msg: AskMessage, store: RecordStore): WireText {
  let text = "";
  for (const prefix of msg.prefixes) text += haveLine(store, prefix) + "\n";
  return text;
}

/**
 * Answers a listener's `HAVE` (step 3, pusher side): our records under the
 * node that are not older than the listener's for the same client.
 *
 * @param msg What the listener holds there.
 * @param store Our records.
 * @param fresh Which records may be sent, by client time (see {@linkcode answerDigest}).
 *   @default all
 * @returns The AT lines (each with `\n`) and how many there are.
 */
export function answerHave(
  msg: HaveMessage,
  store: RecordStore,
  fresh?: (clientTime: WireText) => boolean,
): { text: WireText; records: number } {
  return store.linesUnder(msg.prefix, (key, time) => {
    if (fresh !== undefined && !fresh(time)) return false;
    const theirs = msg.times.get(key);
    // Equal times go too: the tie-breakers need the whole record.
    return theirs == null || compareDecimal(parseDecimal(time), theirs) >= 0;
  });
}

/**
 * Answers a neighbour's `WANT` (step 3 of the exchange): every record under
 * each node named, as AT lines ({@linkcode recordsUnder}).
 *
 * @param msg The nodes wanted.
 * @param store Our records.
 * @param fresh Which records may be sent, by client time (see {@linkcode answerDigest}).
 *   @default all
 * @returns The AT lines, at once or as a stream.
 */
export function answerWant(
  msg: WantMessage,
  store: RecordStore,
  fresh?: (clientTime: WireText) => boolean,
): RecordAnswer {
  return recordsUnder(store, msg.prefixes, fresh);
}

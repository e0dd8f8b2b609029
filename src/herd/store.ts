/**
 * The record store: the latest record per client id, replaced only by a
 * newer one under the last-writer-wins order (PROTOCOL.md section 3), with
 * the anti-entropy digest tree kept in step on every change.
 *
 * Memory: a member may hold millions of clients, so the store keeps no
 * JavaScript object, string or map entry per record, and nothing for the
 * garbage collector to trace. Each record is the bytes of its AT line (one
 * byte per wire-text char) in an arena of 4 MiB chunks, plus four 32-bit
 * numbers in pages of 65,536 records: where the line starts, its length, its
 * client's key hash ({@linkcode keyHash}, the digest tree's) and the next
 * record in the same bucket. Buckets are the top bits of the key hash (at
 * least the 16 that name a digest-tree leaf, one more each time the records
 * outnumber the buckets), so they are an index by client id and, in key
 * order, the records under any tree node. About 100 bytes per client of an
 * 80-byte line (docs/PERFORMANCE.md). Chunks and pages are allocated whole
 * and never copied to grow: memory the store has not written is not resident,
 * and growing leaves no garbage behind (only the bucket heads are copied,
 * when they double).
 *
 * An erased client keeps an entry: its tombstone's ERASE line
 * (`ERASE <origin> <client-id> <time>`, protocol/record.ts) in place of the
 * AT line, ordered, digested and sent by anti-entropy like any record, but
 * not a record to {@linkcode RecordStore.get}, {@linkcode RecordStore.line},
 * {@linkcode RecordStore.lines}, {@linkcode RecordStore.records} or
 * {@linkcode RecordStore.size}. Both lines end in the entry's time, which is
 * all the order's fast path reads.
 *
 * A replacing line no longer than the line it replaces is written over it;
 * a longer one goes to the end of the arena. Once half of a chunk is lines no
 * record points to, its live lines are moved to the end too and the chunk is
 * reused.
 *
 * Entries (records and tombstones) leave only by expiry (`[herd] record_ttl_s`): a store made with
 * `timeIndex` keeps its records ordered by client time as well
 * (time_index.ts, 16 bytes a record), and {@linkcode RecordStore.removeExpired}
 * takes out the oldest while the expiry rule says so, digests and all. The
 * last record takes a removed record's number, so numbers stay dense and a
 * store whose size stays level stays level in memory.
 *
 * {@linkcode RecordStore.apply} recognises a copy identical to the stored
 * record (what most flood copies are) by comparing its fields with the stored
 * bytes, and compares a different record of a known client by client time
 * first, read from the end of the stored line without parsing it; only a tie
 * parses the whole line. {@linkcode RecordStore.holds} tells whether a line
 * as received is the stored one, with neither a parse nor a decode.
 * {@linkcode RecordStore.line} and {@linkcode RecordStore.get} decode the
 * stored line (a new string per call, about a microsecond).
 *
 * @module
 */

import {
  bytesToWire,
  type ClientRecord,
  DIGEST_DEPTH,
  isNewer,
  isTombstone,
  keyHash,
  type NodeDigest,
  parseMessage,
  recordHashOfBytes,
  type StoreEntry,
  type WireText,
} from "../protocol/mod.ts";
import { DigestTree } from "./digest_tree.ts";
import { TimeIndex, timeKeyMs } from "./time_index.ts";

const SPACE = 0x20;
const A = 0x41;
const T = 0x54;
/** First byte of a tombstone's line, `ERASE ...` (a record's is `A`). */
const E = 0x45;
/** `ERASE `: what a tombstone's line starts with. */
const ERASE_PREFIX = "ERASE ";
const DOT = 0x2e;
const ZERO = 0x30;
const LF = 0x0a;

/**
 * Fewest bucket bits: the 16 bits of key hash that name a digest-tree leaf,
 * so the records under any tree node are a run of whole buckets.
 */
const MIN_BUCKET_BITS = 4 * DIGEST_DEPTH;
/** Digest-tree leaves, and the shift that turns a key hash into its leaf. */
const LEAVES = 2 ** (4 * DIGEST_DEPTH);
const LEAF_SHIFT = 32 - 4 * DIGEST_DEPTH;

/**
 * Records are numbered from 1 (0 ends a bucket's chain, so fresh zeroed
 * memory is empty buckets); a page holds 2^PAGE_BITS of them, SLOTS numbers each.
 */
const PAGE_BITS = 16;
const PAGE_MASK = (1 << PAGE_BITS) - 1;
const SLOTS = 4;
const START = 0;
const LENGTH = 1;
const KEY = 2;
const NEXT = 3;

/**
 * Arena chunks are 2^CHUNK_BITS bytes (4 MiB): larger than any line a member
 * accepts (a neighbour's limit is twice `max_line_bytes`, at most 1 MiB, plus
 * a little), so every line lies whole in one chunk. A line's start is
 * `chunk << CHUNK_BITS | offset`, read unsigned: 1,024 chunks, 4 GiB.
 */
const CHUNK_BITS = 22;
const CHUNK_BYTES = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK_BYTES - 1;
const MAX_CHUNKS = 2 ** (32 - CHUNK_BITS);

/** Lines up to this long are copied and decoded char by char; longer ones natively. */
const SHORT_LINE = 256;

/** Decodes pure-ASCII bytes natively (UTF-8 of ASCII is the bytes themselves). */
const asciiDecoder = new TextDecoder();

/** Options of {@linkcode RecordStore}. */
export interface RecordStoreOptions {
  /**
   * Keep the records ordered by client time, for {@linkcode RecordStore.removeExpired}: what a
   * member with `record_ttl_s` needs. Costs 16 bytes a record and a heap update per stored
   * record (docs/PERFORMANCE.md). @default false
   */
  timeIndex?: boolean;
}

/** In-memory map from client id to its newest known record. */
export class RecordStore {
  /** Per record (numbered from 1): START, LENGTH, KEY (signed), NEXT (0: none). */
  #pages: Int32Array[] = [new Int32Array(SLOTS << PAGE_BITS)];
  #size = 0;
  /** Entries that are tombstones (counted in `#size`). */
  #tombstones = 0;
  /** First record of each bucket, or 0; bucket = key >>> #shift. */
  #heads = new Int32Array(2 ** MIN_BUCKET_BITS);
  /** 32 minus the bucket bits. */
  #shift = 32 - MIN_BUCKET_BITS;
  /** The arena: every chunk ever allocated (those on `#free` hold nothing live). */
  #chunks: Uint8Array[] = [new Uint8Array(CHUNK_BYTES)];
  /** Bytes of each chunk no record points to any more. */
  #dead: number[] = [0];
  /** Chunks emptied for reuse. */
  #free: number[] = [];
  /** The chunk new lines go to, and how much of it is written. */
  #tail = 0;
  #tailUsed = 0;
  #hash: NodeDigest = { count: 0, hi: 0, lo: 0 };
  /** Digests of the stored records, for anti-entropy. */
  readonly digests: DigestTree = new DigestTree();
  /** The records by client time, when they expire; `null` otherwise. */
  #times: TimeIndex | null;

  /**
   * Creates an empty store.
   *
   * @param opts See {@linkcode RecordStoreOptions}.
   */
  constructor(opts: RecordStoreOptions = {}) {
    this.#times = opts.timeIndex === true ? new TimeIndex() : null;
  }

  /** Number of clients known (erased clients, whose entry is a tombstone, do not count). */
  get size(): number {
    return this.#size - this.#tombstones;
  }

  /** Number of erased clients whose tombstone is held. */
  get tombstones(): number {
    return this.#tombstones;
  }

  /**
   * The stored record of a client (parsed from its AT line: a new object per call).
   *
   * @param clientId Client id (wire text).
   * @returns The record, or `undefined` if the client is unknown or erased.
   */
  get(clientId: WireText): ClientRecord | undefined {
    const r = this.#find(clientId);
    return r === 0 || this.#erased(r) ? undefined : recordOf(this.#lineOf(r));
  }

  /**
   * The stored AT line of a client, without terminator (decoded: a new string per call).
   *
   * @param clientId Client id (wire text).
   * @returns The line, or `undefined` if the client is unknown or erased.
   */
  line(clientId: WireText): WireText | undefined {
    const r = this.#find(clientId);
    return r === 0 || this.#erased(r) ? undefined : this.#lineOf(r);
  }

  /**
   * The stored entry of a client, record or tombstone (parsed: a new object per call).
   *
   * @param clientId Client id (wire text).
   * @returns The entry, or `undefined` if the store has none for the client.
   */
  entry(clientId: WireText): StoreEntry | undefined {
    const r = this.#find(clientId);
    return r === 0 ? undefined : entryOf(this.#lineOf(r));
  }

  /**
   * The stored line of a client, its AT line or its tombstone's ERASE line, without
   * terminator: what a neighbour that asks for the client is sent.
   *
   * @param clientId Client id (wire text).
   * @returns The line, or `undefined` if the store has none for the client.
   */
  entryLine(clientId: WireText): WireText | undefined {
    const r = this.#find(clientId);
    return r === 0 ? undefined : this.#lineOf(r);
  }

  /**
   * The client time of a client's stored entry (a tombstone's time), as its line writes it:
   * only that field is decoded (a broadcast tree's check of an announced update).
   *
   * @param clientId Client id (wire text).
   * @returns The client time text, or `undefined` if the store has no entry for the client.
   */
  time(clientId: WireText): WireText | undefined {
    const r = this.#find(clientId);
    if (r === 0) return undefined;
    return this.#timeOf(this.#pages[r >>> PAGE_BITS], (r & PAGE_MASK) * SLOTS);
  }

  /**
   * Stores `record` (or a tombstone) if it is newer than the stored entry
   * ({@linkcode isNewer}) and updates the digest tree. Nothing else: persisting
   * and flooding a stored record is `acceptRecord()`'s (accept.ts).
   *
   * The store compares and writes the record's fields, which spell the same
   * text as its line, rather than `line` itself: a line built by
   * concatenation (`formatAt()`) is then never flattened here.
   *
   * @param record A record from an IAMAT, a flood or a reconciliation, or a tombstone.
   * @param _line Its line (`formatEntry(record)`), which callers that flood it have already.
   * @returns True if stored (the caller then floods it), false if older or equal.
   * @throws {RangeError} If the arena is full (4 GiB of lines).
   */
  apply(record: StoreEntry, _line?: WireText): boolean {
    const key = keyHash(record.clientId) | 0;
    let r = this.#heads[key >>> this.#shift];
    let page = this.#pages[0];
    let o = 0;
    for (; r !== 0; r = page[o + NEXT]) {
      page = this.#pages[r >>> PAGE_BITS];
      o = (r & PAGE_MASK) * SLOTS;
      if (page[o + KEY] !== key) continue;
      // An identical line is the same client's, and not newer.
      if (this.#holdsRecord(page[o + START], page[o + LENGTH], record)) return false;
      if (this.#idIs(page[o + START], page[o + LENGTH], record.clientId)) break;
    }
    if (r === 0) {
      this.#add(key, record);
      return true;
    }
    // The client time decides unless equal (isNewer's first rule): only a tie parses the line.
    const start = page[o + START];
    const chunk = this.#chunks[start >>> CHUNK_BITS];
    const end = (start & CHUNK_MASK) + page[o + LENGTH];
    let time = end;
    while (chunk[time - 1] !== SPACE) time--;
    const t = compareTimes(record.clientTimeText, chunk, time, end);
    if (t < 0 || (t === 0 && !isNewer(record, entryOf(this.#lineOf(r))))) return false;
    this.#replace(r, page, o, record);
    return true;
  }

  /**
   * Whether an AT line (or a tombstone's ERASE line) is exactly the stored line
   * of its client: a copy of the entry held, which needs no parse. Finds the
   * client by the line's spaces and compares bytes: nothing is decoded.
   *
   * @param atLine Wire text of a line, no terminator; any text (one that is neither an AT
   *   nor an ERASE line is not held).
   * @returns True if the store holds this very line.
   */
  holds(atLine: WireText): boolean {
    let id: number;
    if (atLine.startsWith("AT ")) {
      const skew = atLine.indexOf(" ", 3);
      id = skew === -1 ? -1 : atLine.indexOf(" ", skew + 1);
    } else if (atLine.startsWith(ERASE_PREFIX)) {
      id = atLine.indexOf(" ", ERASE_PREFIX.length);
    } else {
      return false;
    }
    const end = id === -1 ? -1 : atLine.indexOf(" ", id + 1);
    if (end === -1) return false;
    const key = keyHash(atLine.slice(id + 1, end)) | 0;
    for (let r = this.#heads[key >>> this.#shift]; r !== 0;) {
      const page = this.#pages[r >>> PAGE_BITS];
      const o = (r & PAGE_MASK) * SLOTS;
      if (page[o + KEY] === key && this.#holds(page[o + START], page[o + LENGTH], atLine)) {
        return true;
      }
      r = page[o + NEXT];
    }
    return false;
  }

  /**
   * Removes the records the expiry rule drops, oldest client time first, and
   * their digests: the store is then, digests included, the store that never
   * held them. Stops at the first record `expired` keeps (or at `limit`).
   *
   * @param expired The expiry rule for one client time text (`isOlderThan()` against the
   *   sweep's cutoff, protocol/expiry.ts).
   * @param limit Most records removed by this call (a sweep removes the rest in more calls,
   *   so that no call holds the event loop long).
   * @returns The removed records: client id and AT line (no terminator), oldest first.
   * @throws {Error} If the store was made without `timeIndex`.
   */
  removeExpired(
    expired: (clientTime: WireText) => boolean,
    limit = Infinity,
  ): Array<[WireText, WireText]> {
    const times = this.#times;
    if (times === null) {
      throw new Error("Cannot remove expired records: the store has no timeIndex");
    }
    const removed: Array<[WireText, WireText]> = [];
    while (removed.length < limit) {
      const r = times.first();
      if (r === 0) break;
      if (!expired(this.#timeOf(this.#pages[r >>> PAGE_BITS], (r & PAGE_MASK) * SLOTS))) break;
      const line = this.#lineOf(r);
      removed.push([idOf(line), line]);
      this.#remove(r);
    }
    return removed;
  }

  /**
   * The client time text of the record with the oldest client time, when the store has a
   * `timeIndex` (what the next expiry sweep looks at first).
   *
   * @returns The time, or `undefined` if the store is empty or has no time index.
   */
  oldestTime(): WireText | undefined {
    const r = this.#times?.first() ?? 0;
    if (r === 0) return undefined;
    return this.#timeOf(this.#pages[r >>> PAGE_BITS], (r & PAGE_MASK) * SLOTS);
  }

  /**
   * Every stored AT line (no terminator) with its client id, in the order the
   * clients were first stored (an expired record's place goes to the last one);
   * each decoded as it is reached. Tombstones are skipped.
   */
  *lines(): IterableIterator<[WireText, WireText]> {
    for (let r = 1; r <= this.#size; r++) {
      if (this.#erased(r)) continue;
      const line = this.#lineOf(r);
      yield [idOf(line), line];
    }
  }

  /**
   * Every stored record, in the order of {@linkcode RecordStore.lines} (parsed one at a time).
   * Tombstones are skipped.
   */
  *records(): IterableIterator<ClientRecord> {
    for (let r = 1; r <= this.#size; r++) {
      if (!this.#erased(r)) yield recordOf(this.#lineOf(r));
    }
  }

  /**
   * The AT lines of the records under one or more digest-tree nodes, each
   * followed by LF, as one wire text: what an anti-entropy answer sends.
   * Built from the stored bytes in one buffer and decoded once.
   *
   * @param nodes The nodes: hex nibbles (`""` for the root), at most DIGEST_DEPTH each. A
   *   record under two of them (`a` and `ab`) may be listed twice.
   * @param keep Which records to include, by their client's key hash (unsigned) and client
   *   time text. @default all
   * @returns The text (`""` if none) and how many records it holds.
   */
  linesUnder(
    nodes: string | readonly string[],
    keep?: (key: number, clientTime: WireText) => boolean,
  ): { text: WireText; records: number } {
    const prefixes = typeof nodes === "string" ? [nodes] : nodes;
    const kept: number[] = [];
    let bytes = 0;
    const visit = (r: number, page: Int32Array, o: number) => {
      if (keep === undefined || keep(page[o + KEY] >>> 0, this.#timeOf(page, o))) {
        kept.push(r);
        bytes += page[o + LENGTH] + 1;
      }
    };
    let leaves = 0;
    for (const prefix of prefixes) leaves += LEAVES / 16 ** prefix.length;
    if (leaves * 16 >= LEAVES) {
      // A sixteenth of the store or more: reading every record in order (pages and, mostly,
      // the arena too) costs less than visiting them in bucket order.
      const wanted = new Uint8Array(LEAVES);
      for (const prefix of prefixes) {
        const span = LEAVES / 16 ** prefix.length;
        const first = prefix === "" ? 0 : parseInt(prefix, 16) * span;
        wanted.fill(1, first, first + span);
      }
      for (let r = 1; r <= this.#size; r++) {
        const page = this.#pages[r >>> PAGE_BITS];
        const o = (r & PAGE_MASK) * SLOTS;
        if (wanted[page[o + KEY] >>> LEAF_SHIFT] === 1) visit(r, page, o);
      }
    } else {
      for (const prefix of prefixes) {
        const [first, end] = this.#buckets(prefix);
        for (let b = first; b < end; b++) {
          for (let r = this.#heads[b]; r !== 0;) {
            const page = this.#pages[r >>> PAGE_BITS];
            const o = (r & PAGE_MASK) * SLOTS;
            visit(r, page, o);
            r = page[o + NEXT];
          }
        }
      }
    }
    if (kept.length === 0) return { text: "", records: 0 };
    const out = new Uint8Array(bytes);
    let p = 0;
    for (const r of kept) {
      const page = this.#pages[r >>> PAGE_BITS];
      const o = (r & PAGE_MASK) * SLOTS;
      p = copyLine(this.#chunks, page[o + START], page[o + LENGTH], out, p);
      out[p++] = LF;
    }
    return { text: decodeWire(out, 0, out.length), records: kept.length };
  }

  /**
   * Each record under a digest-tree node as its client's key hash and its
   * client time text: what a `HAVE` line lists.
   *
   * @param prefix The node: hex nibbles (`""` for the root), at most DIGEST_DEPTH.
   * @returns `[key hash (unsigned), client time]` pairs, in key order of buckets.
   */
  *timesUnder(prefix: string): IterableIterator<[number, WireText]> {
    const [first, end] = this.#buckets(prefix);
    for (let b = first; b < end; b++) {
      for (let r = this.#heads[b]; r !== 0;) {
        const page = this.#pages[r >>> PAGE_BITS];
        const o = (r & PAGE_MASK) * SLOTS;
        yield [page[o + KEY] >>> 0, this.#timeOf(page, o)];
        r = page[o + NEXT];
      }
    }
  }

  /** The buckets `[first, end)` of the records under a tree node. */
  #buckets(prefix: string): [number, number] {
    const span = 2 ** (32 - this.#shift - 4 * prefix.length);
    const first = prefix === "" ? 0 : parseInt(prefix, 16) * span;
    return [first, first + span];
  }

  /** The record of a client, or 0. */
  #find(clientId: WireText): number {
    const key = keyHash(clientId) | 0;
    for (let r = this.#heads[key >>> this.#shift]; r !== 0;) {
      const page = this.#pages[r >>> PAGE_BITS];
      const o = (r & PAGE_MASK) * SLOTS;
      if (page[o + KEY] === key && this.#idIs(page[o + START], page[o + LENGTH], clientId)) {
        return r;
      }
      r = page[o + NEXT];
    }
    return 0;
  }

  /** True if entry `r` is a tombstone (its line starts with `E`). */
  #erased(r: number): boolean {
    const start = this.#pages[r >>> PAGE_BITS][(r & PAGE_MASK) * SLOTS + START];
    return this.#chunks[start >>> CHUNK_BITS][start & CHUNK_MASK] === E;
  }

  /** Record `r`'s AT line, decoded. */
  #lineOf(r: number): WireText {
    const page = this.#pages[r >>> PAGE_BITS];
    const o = (r & PAGE_MASK) * SLOTS;
    const start = page[o + START];
    const at = start & CHUNK_MASK;
    return decodeWire(this.#chunks[start >>> CHUNK_BITS], at, at + page[o + LENGTH]);
  }

  /** The client time text (the line's last field) of the record at `page[o]`. */
  #timeOf(page: Int32Array, o: number): WireText {
    const start = page[o + START];
    const chunk = this.#chunks[start >>> CHUNK_BITS];
    const end = (start & CHUNK_MASK) + page[o + LENGTH];
    let time = end;
    while (chunk[time - 1] !== SPACE) time--;
    return decodeWire(chunk, time, end);
  }

  /** True if the stored line at `start` (of `length` bytes) is exactly `line`. */
  #holds(start: number, length: number, line: WireText): boolean {
    const n = line.length;
    if (length !== n) return false;
    const chunk = this.#chunks[start >>> CHUNK_BITS];
    const at = start & CHUNK_MASK;
    for (let j = 0; j < n; j++) if (chunk[at + j] !== line.charCodeAt(j)) return false;
    return true;
  }

  /** True if the stored line at `start` (of `length` bytes) is `record`'s line. */
  #holdsRecord(start: number, length: number, record: StoreEntry): boolean {
    if (length !== lineLength(record)) return false;
    const chunk = this.#chunks[start >>> CHUNK_BITS];
    if (isTombstone(record)) {
      let p = fieldAt(ERASE_PREFIX, chunk, start & CHUNK_MASK);
      if (p !== -1) p = fieldAt(record.origin, chunk, p);
      if (p === -1 || chunk[p++] !== SPACE) return false;
      p = fieldAt(record.clientId, chunk, p);
      if (p === -1 || chunk[p++] !== SPACE) return false;
      return fieldAt(record.clientTimeText, chunk, p) !== -1;
    }
    let at = (start & CHUNK_MASK) + 3;
    if (chunk[at - 3] !== A || chunk[at - 2] !== T || chunk[at - 1] !== SPACE) return false;
    at = fieldAt(record.origin, chunk, at);
    if (at === -1 || chunk[at++] !== SPACE) return false;
    at = fieldAt(record.skew, chunk, at);
    if (at === -1 || chunk[at++] !== SPACE) return false;
    at = fieldAt(record.clientId, chunk, at);
    if (at === -1 || chunk[at++] !== SPACE) return false;
    at = fieldAt(record.location.text, chunk, at);
    if (at === -1 || chunk[at++] !== SPACE) return false;
    return fieldAt(record.clientTimeText, chunk, at) !== -1;
  }

  /**
   * True if the stored line at `start` is client `clientId`'s: `AT <origin> <skew> <id> ...`
   * or `ERASE <origin> <id> <time>`.
   */
  #idIs(start: number, length: number, clientId: WireText): boolean {
    const chunk = this.#chunks[start >>> CHUNK_BITS];
    const at = start & CHUNK_MASK;
    let p = at;
    // Past the command and the origin, then (an AT line) the skew.
    for (let skip = chunk[at] === E ? 2 : 3; skip > 0; skip--) {
      while (chunk[p] !== SPACE) p++;
      p++;
    }
    const n = clientId.length;
    if (p + n >= at + length) return false;
    for (let j = 0; j < n; j++) if (chunk[p + j] !== clientId.charCodeAt(j)) return false;
    return chunk[p + n] === SPACE;
  }

  /** Stores the record (or tombstone) of a client new to the store. */
  #add(key: number, record: StoreEntry): void {
    const r = this.#size + 1;
    if (r >>> PAGE_BITS === this.#pages.length) {
      this.#pages.push(new Int32Array(SLOTS << PAGE_BITS));
    }
    const page = this.#pages[r >>> PAGE_BITS];
    const o = (r & PAGE_MASK) * SLOTS;
    const n = lineLength(record);
    const start = this.#write(record, n);
    page[o + START] = start;
    page[o + LENGTH] = n;
    page[o + KEY] = key;
    const bucket = key >>> this.#shift;
    page[o + NEXT] = this.#heads[bucket];
    this.#heads[bucket] = r;
    this.#size = r;
    if (isTombstone(record)) this.#tombstones++;
    const at = start & CHUNK_MASK;
    const chunk = this.#chunks[start >>> CHUNK_BITS];
    const h = recordHashOfBytes(chunk, at, at + n, this.#hash);
    this.digests.change(key, 1, h.hi, h.lo);
    if (this.#times !== null) this.#times.set(r, timeKeyMs(chunk, at, at + n), false);
    if (this.#size > this.#heads.length) this.#rebucket();
  }

  /**
   * Removes record `r`: its digest, its place in its bucket and in the time
   * index, its bytes (dead in their chunk); the last record takes its number.
   */
  #remove(r: number): void {
    if (this.#erased(r)) this.#tombstones--;
    const page = this.#pages[r >>> PAGE_BITS];
    const o = (r & PAGE_MASK) * SLOTS;
    const key = page[o + KEY];
    const start = page[o + START];
    const length = page[o + LENGTH];
    const c = start >>> CHUNK_BITS;
    const at = start & CHUNK_MASK;
    const h = recordHashOfBytes(this.#chunks[c], at, at + length, this.#hash);
    this.digests.change(key, -1, h.hi, h.lo);
    this.#relink(r, page[o + NEXT], key);
    this.#times?.delete(r);
    const last = this.#size;
    if (r !== last) {
      const lastPage = this.#pages[last >>> PAGE_BITS];
      const lo = (last & PAGE_MASK) * SLOTS;
      this.#relink(last, r, lastPage[lo + KEY]);
      page[o + START] = lastPage[lo + START];
      page[o + LENGTH] = lastPage[lo + LENGTH];
      page[o + KEY] = lastPage[lo + KEY];
      page[o + NEXT] = lastPage[lo + NEXT];
      this.#times?.renumber(last, r);
    }
    const lastPage = this.#pages[last >>> PAGE_BITS];
    lastPage.fill(0, (last & PAGE_MASK) * SLOTS, ((last & PAGE_MASK) + 1) * SLOTS);
    this.#size = last - 1;
    this.#forget(c, length);
  }

  /** Makes whatever points to record `from` in its bucket (of key hash `key`) point to `to`. */
  #relink(from: number, to: number, key: number): void {
    const bucket = key >>> this.#shift;
    if (this.#heads[bucket] === from) {
      this.#heads[bucket] = to;
      return;
    }
    for (let r = this.#heads[bucket]; r !== 0;) {
      const page = this.#pages[r >>> PAGE_BITS];
      const o = (r & PAGE_MASK) * SLOTS;
      if (page[o + NEXT] === from) {
        page[o + NEXT] = to;
        return;
      }
      r = page[o + NEXT];
    }
  }

  /** Replaces the line of entry `r` (at `page[o]`) with a newer record's (or tombstone's). */
  #replace(r: number, page: Int32Array, o: number, record: StoreEntry): void {
    const start = page[o + START];
    const old = page[o + LENGTH];
    const c = start >>> CHUNK_BITS;
    const at = start & CHUNK_MASK;
    this.#tombstones += (isTombstone(record) ? 1 : 0) - (this.#chunks[c][at] === E ? 1 : 0);
    const h = recordHashOfBytes(this.#chunks[c], at, at + old, this.#hash);
    const oldHi = h.hi;
    const oldLo = h.lo;
    const n = lineLength(record);
    if (n <= old) {
      writeRecord(record, this.#chunks[c], at);
      page[o + LENGTH] = n;
      this.#forget(c, old - n);
    } else {
      // Nothing of the record is left to move if chunks are emptied meanwhile.
      page[o + LENGTH] = 0;
      this.#forget(c, old);
      page[o + START] = this.#write(record, n);
      page[o + LENGTH] = n;
    }
    // Where the line is now (emptying a chunk may have moved it).
    const now = page[o + START];
    const nowAt = now & CHUNK_MASK;
    const nowChunk = this.#chunks[now >>> CHUNK_BITS];
    const h2 = recordHashOfBytes(nowChunk, nowAt, nowAt + n, this.#hash);
    this.digests.change(page[o + KEY], 0, oldHi ^ h2.hi, oldLo ^ h2.lo);
    if (this.#times !== null) this.#times.set(r, timeKeyMs(nowChunk, nowAt, nowAt + n), true);
  }

  /** Writes a record's line (`n` bytes) at the end of the arena: its start. */
  #write(record: StoreEntry, n: number): number {
    if (this.#tailUsed + n > CHUNK_BYTES) this.#nextChunk();
    const at = this.#tailUsed;
    writeRecord(record, this.#chunks[this.#tail], at);
    this.#tailUsed += n;
    return (this.#tail << CHUNK_BITS | at) | 0;
  }

  /** Moves the end of the arena to an empty chunk (a reused one, or a new one). */
  #nextChunk(): void {
    // The tail's unused end counts as dead: the chunk is emptied once half of it is.
    const full = this.#tail;
    const unused = CHUNK_BYTES - this.#tailUsed;
    let next = this.#free.pop();
    if (next === undefined) {
      next = this.#chunks.length;
      if (next === MAX_CHUNKS) {
        throw new RangeError(`Cannot store record: the store holds ${MAX_CHUNKS * 4} MiB of lines`);
      }
      this.#chunks.push(new Uint8Array(CHUNK_BYTES));
      this.#dead.push(0);
    }
    this.#tail = next;
    this.#tailUsed = 0;
    this.#dead[next] = 0;
    this.#forget(full, unused);
  }

  /**
   * Counts `bytes` of chunk `c` as dead; once half the chunk is, moves its
   * live lines to the end of the arena and puts it on the free list.
   */
  #forget(c: number, bytes: number): void {
    this.#dead[c] += bytes;
    if (c === this.#tail || this.#dead[c] < CHUNK_BYTES / 2) return;
    const chunk = this.#chunks[c];
    this.#dead[c] = CHUNK_BYTES;
    for (let p = 0; p < this.#pages.length; p++) {
      const page = this.#pages[p];
      const from = p === 0 ? 1 : 0;
      const to = Math.min(PAGE_MASK, this.#size - (p << PAGE_BITS));
      for (let i = from; i <= to; i++) {
        const o = i * SLOTS;
        const start = page[o + START];
        if (start >>> CHUNK_BITS !== c) continue;
        const at = start & CHUNK_MASK;
        const n = page[o + LENGTH];
        if (this.#tailUsed + n > CHUNK_BYTES) this.#nextChunk();
        this.#chunks[this.#tail].set(chunk.subarray(at, at + n), this.#tailUsed);
        page[o + START] = (this.#tail << CHUNK_BITS | this.#tailUsed) | 0;
        this.#tailUsed += n;
      }
    }
    this.#free.push(c);
  }

  /** Doubles the buckets (one more bit of key hash) and re-chains every record. */
  #rebucket(): void {
    this.#shift--;
    const heads = new Int32Array(this.#heads.length * 2);
    for (let r = 1; r <= this.#size; r++) {
      const page = this.#pages[r >>> PAGE_BITS];
      const o = (r & PAGE_MASK) * SLOTS;
      const bucket = page[o + KEY] >>> this.#shift;
      page[o + NEXT] = heads[bucket];
      heads[bucket] = r;
    }
    this.#heads = heads;
  }
}

/** The record of a stored AT line. */
function recordOf(line: WireText): ClientRecord {
  const msg = parseMessage(line);
  if (msg.kind !== "AT") throw new Error(`Cannot read stored record: not an AT line: ${line}`);
  return msg.record;
}

/** The entry of a stored line: a record (AT line) or a tombstone (ERASE line). */
function entryOf(line: WireText): StoreEntry {
  if (!line.startsWith(ERASE_PREFIX)) return recordOf(line);
  const msg = parseMessage(line);
  if (msg.kind !== "ERASE") throw new Error(`Cannot read stored entry: ${line}`);
  return msg.tombstone;
}

/** The client id of a stored line: an AT line's fourth field, an ERASE line's third. */
function idOf(line: WireText): WireText {
  const origin = line.indexOf(" ") + 1;
  const id = line.charCodeAt(0) === E
    ? line.indexOf(" ", origin) + 1
    : line.indexOf(" ", line.indexOf(" ", origin) + 1) + 1;
  return line.slice(id, line.indexOf(" ", id));
}

/**
 * Bytes of an entry's line: `AT <origin> <skew> <client-id> <location> <client-time>`, or
 * `ERASE <origin> <client-id> <time>`.
 */
function lineLength(record: StoreEntry): number {
  if (isTombstone(record)) {
    return ERASE_PREFIX.length + 2 + record.origin.length + record.clientId.length +
      record.clientTimeText.length;
  }
  return 7 + record.origin.length + record.skew.length + record.clientId.length +
    record.location.text.length + record.clientTimeText.length;
}

/** Writes an entry's line (`formatEntry(record)`) as bytes into `chunk` at `at`. */
function writeRecord(record: StoreEntry, chunk: Uint8Array, at: number): void {
  if (isTombstone(record)) {
    at = writeField(ERASE_PREFIX, chunk, at);
    at = writeField(record.origin, chunk, at);
    chunk[at++] = SPACE;
    at = writeField(record.clientId, chunk, at);
    chunk[at++] = SPACE;
    writeField(record.clientTimeText, chunk, at);
    return;
  }
  chunk[at++] = A;
  chunk[at++] = T;
  chunk[at++] = SPACE;
  at = writeField(record.origin, chunk, at);
  chunk[at++] = SPACE;
  at = writeField(record.skew, chunk, at);
  chunk[at++] = SPACE;
  at = writeField(record.clientId, chunk, at);
  chunk[at++] = SPACE;
  at = writeField(record.location.text, chunk, at);
  chunk[at++] = SPACE;
  writeField(record.clientTimeText, chunk, at);
}

/** Writes wire text as bytes (one per char) into `chunk` at `at`: the index after it. */
function writeField(text: WireText, chunk: Uint8Array, at: number): number {
  for (let j = 0; j < text.length; j++) chunk[at + j] = text.charCodeAt(j);
  return at + text.length;
}

/** If `chunk` holds `text` at `at`: the index after it; else -1. */
function fieldAt(text: WireText, chunk: Uint8Array, at: number): number {
  for (let j = 0; j < text.length; j++) if (chunk[at + j] !== text.charCodeAt(j)) return -1;
  return at + text.length;
}

/** Copies the stored line at `start` (`length` bytes) into `out` at `p`: the index after it. */
function copyLine(
  chunks: Uint8Array[],
  start: number,
  length: number,
  out: Uint8Array,
  p: number,
): number {
  const chunk = chunks[start >>> CHUNK_BITS];
  const at = start & CHUNK_MASK;
  if (length <= SHORT_LINE) {
    for (let j = 0; j < length; j++) out[p + j] = chunk[at + j];
  } else {
    out.set(chunk.subarray(at, at + length), p);
  }
  return p + length;
}

/** Char codes of a short line being decoded (a plain array: `apply()` reads it fastest). */
const codes: number[] = [];

/** Wire text of `bytes[start, end)`: one char per byte. */
function decodeWire(bytes: Uint8Array, start: number, end: number): WireText {
  const n = end - start;
  if (n <= SHORT_LINE) {
    codes.length = n;
    for (let i = 0; i < n; i++) codes[i] = bytes[start + i];
    return String.fromCharCode.apply(null, codes);
  }
  for (let i = start; i < end; i++) {
    if (bytes[i] >= 0x80) return bytesToWire(bytes.subarray(start, end));
  }
  return asciiDecoder.decode(bytes.subarray(start, end));
}

/**
 * Compares two client times exactly, as decimals `D+[.D+]` (no parse, no
 * allocation): `a` as text, `b` as the bytes `[start, end)` of `bytes`.
 *
 * @returns Negative if `a < b`, 0 if equal in value (`1.5` and `1.50` are), positive if greater.
 */
function compareTimes(a: WireText, bytes: Uint8Array, start: number, end: number): number {
  let ai = 0;
  let bi = start;
  // Leading zeros do not count; then the longer whole part is the greater.
  while (ai < a.length && a.charCodeAt(ai) === ZERO) ai++;
  while (bi < end && bytes[bi] === ZERO) bi++;
  let aDot = ai;
  while (aDot < a.length && a.charCodeAt(aDot) !== DOT) aDot++;
  let bDot = bi;
  while (bDot < end && bytes[bDot] !== DOT) bDot++;
  if (aDot - ai !== bDot - bi) return aDot - ai < bDot - bi ? -1 : 1;
  for (; ai < aDot; ai++, bi++) {
    const d = a.charCodeAt(ai) - bytes[bi];
    if (d !== 0) return d;
  }
  // Fractions digit by digit, the shorter one padded with zeros.
  for (ai = aDot + 1, bi = bDot + 1; ai < a.length || bi < end; ai++, bi++) {
    const d = (ai < a.length ? a.charCodeAt(ai) : ZERO) - (bi < end ? bytes[bi] : ZERO);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The record store's index by client time, for expiry (`[herd]
 * record_ttl_s`): a min-heap of record numbers keyed by client time in whole
 * milliseconds, in typed arrays, with each record's place in the heap so that
 * a replaced record's key changes in place and a removed record leaves without
 * a search. The store keeps one only when records expire, so a herd without a
 * TTL pays nothing for it.
 *
 * The heap is 4-ary: a client's newer record is nearly always the newest
 * record held, so its key sinks to a leaf, and half the depth of a binary heap
 * costs less than the extra comparisons per level (58 against 76 ns an update
 * at 200,000 records, docs/PERFORMANCE.md).
 *
 * Keys order the candidates, they do not decide: the expiry sweep reads the
 * oldest record's exact client time and applies the exact rule
 * (`protocol/expiry.ts`). A key is the client time cut to whole milliseconds,
 * exact for any time before the year 287,000; two records within the same
 * millisecond may come out in either order, so the sweep stops at the first
 * one it keeps and may leave another of that millisecond for its next run.
 *
 * Memory: 16 bytes a record (its number and key in the heap, its place), in
 * arrays that double as the store grows and never shrink, so a store whose
 * size stays level keeps them level too.
 *
 * @module
 */

const ZERO = 0x30;
const DOT = 0x2e;
const SPACE = 0x20;

/** Records per page of the record -> heap place map, as the store's pages (2^16). */
const PAGE_BITS = 16;
const PAGE_MASK = (1 << PAGE_BITS) - 1;

/** Heap slots allocated at first. */
const INITIAL_SLOTS = 1024;

/**
 * The key of the client time that ends an AT line held as bytes (the
 * store's arena): whole milliseconds as a number (floor), exact below 2^53
 * ms; a later time never has a smaller key. Read from the bytes the store has
 * just written, with no string in between.
 *
 * @param bytes The bytes holding the line.
 * @param start Where the line starts.
 * @param end Where it ends (exclusive); its last field is the client time, `D+[.D+]`.
 * @returns The key.
 * @example
 * ```ts
 * import { timeKeyMs } from "./time_index.ts";
 * const line = new TextEncoder().encode("AT Hill +0.100000000 kiwi +34-118 1621464827.9594985");
 * if (timeKeyMs(line, 0, line.length) !== 1621464827959) throw new Error();
 * ```
 */
export function timeKeyMs(bytes: Uint8Array, start: number, end: number): number {
  let i = end;
  while (i > start && bytes[i - 1] !== SPACE) i--;
  let key = 0;
  for (; i < end; i++) {
    const c = bytes[i];
    if (c === DOT) break;
    key = key * 10 + (c - ZERO);
  }
  key *= 1000;
  let scale = 100;
  for (i++; i < end && scale >= 1; i++, scale /= 10) key += (bytes[i] - ZERO) * scale;
  return key;
}

/** Record numbers (from 1) ordered by a key: the smallest key first. */
export class TimeIndex {
  /** The heap: record numbers, and their keys in the same slots. */
  #records = new Int32Array(INITIAL_SLOTS);
  #keys = new Float64Array(INITIAL_SLOTS);
  #size = 0;
  /** Each record's slot in the heap, by pages of record numbers. */
  #slots: Int32Array[] = [];

  /** Records indexed. */
  get size(): number {
    return this.#size;
  }

  /**
   * The record with the smallest key.
   *
   * @returns Its number, or 0 if the index is empty.
   */
  first(): number {
    return this.#size === 0 ? 0 : this.#records[0];
  }

  /**
   * The key of a record (what {@linkcode TimeIndex.set} gave it).
   *
   * @param record A record in the index.
   * @returns Its key.
   */
  keyOf(record: number): number {
    return this.#keys[this.#slotOf(record)];
  }

  /**
   * Adds a record, or changes its key if it is in the index.
   *
   * @param record Its number (from 1), new to the index or already in it.
   * @param key Its key ({@linkcode timeKeyMs} of its line).
   * @param known True if the record is in the index already (a replaced record).
   */
  set(record: number, key: number, known: boolean): void {
    if (known) {
      const slot = this.#slotOf(record);
      const old = this.#keys[slot];
      if (key === old) return;
      this.#keys[slot] = key;
      if (key < old) this.#up(slot);
      else this.#down(slot);
      return;
    }
    if (this.#size === this.#records.length) this.#grow();
    const page = record >>> PAGE_BITS;
    while (this.#slots.length <= page) this.#slots.push(new Int32Array(1 << PAGE_BITS));
    const slot = this.#size++;
    this.#records[slot] = record;
    this.#keys[slot] = key;
    this.#slots[page][record & PAGE_MASK] = slot;
    this.#up(slot);
  }

  /**
   * Removes a record.
   *
   * @param record A record in the index.
   */
  delete(record: number): void {
    const slot = this.#slotOf(record);
    const last = --this.#size;
    if (slot === last) return;
    const moved = this.#records[last];
    const key = this.#keys[last];
    const old = this.#keys[slot];
    this.#place(slot, moved, key);
    if (key < old) this.#up(slot);
    else this.#down(slot);
  }

  /**
   * Renumbers a record (the store filled a hole with its last record): `from`
   * leaves the index and `to` takes its key and place.
   *
   * @param from The record's old number, in the index.
   * @param to Its new number, not in the index.
   */
  renumber(from: number, to: number): void {
    const slot = this.#slotOf(from);
    this.#records[slot] = to;
    const page = to >>> PAGE_BITS;
    while (this.#slots.length <= page) this.#slots.push(new Int32Array(1 << PAGE_BITS));
    this.#slots[page][to & PAGE_MASK] = slot;
  }

  #slotOf(record: number): number {
    return this.#slots[record >>> PAGE_BITS][record & PAGE_MASK];
  }

  #place(slot: number, record: number, key: number): void {
    this.#records[slot] = record;
    this.#keys[slot] = key;
    this.#slots[record >>> PAGE_BITS][record & PAGE_MASK] = slot;
  }

  /** Moves the entry at `slot` towards the root while its parent's key is larger. */
  #up(slot: number): void {
    const record = this.#records[slot];
    const key = this.#keys[slot];
    while (slot > 0) {
      const parent = (slot - 1) >> 2;
      const pk = this.#keys[parent];
      if (pk <= key) break;
      this.#place(slot, this.#records[parent], pk);
      slot = parent;
    }
    this.#place(slot, record, key);
  }

  /** Moves the entry at `slot` towards the leaves while a child's key is smaller. */
  #down(slot: number): void {
    const record = this.#records[slot];
    const key = this.#keys[slot];
    const n = this.#size;
    const keys = this.#keys;
    for (;;) {
      const first = 4 * slot + 1;
      if (first >= n) break;
      // The smallest of up to four children.
      let child = first;
      let ck = keys[first];
      const end = Math.min(first + 4, n);
      for (let c = first + 1; c < end; c++) {
        if (keys[c] < ck) {
          ck = keys[c];
          child = c;
        }
      }
      if (ck >= key) break;
      this.#place(slot, this.#records[child], ck);
      slot = child;
    }
    this.#place(slot, record, key);
  }

  /** Doubles the heap's arrays. */
  #grow(): void {
    const records = new Int32Array(this.#records.length * 2);
    records.set(this.#records);
    const keys = new Float64Array(this.#keys.length * 2);
    keys.set(this.#keys);
    this.#records = records;
    this.#keys = keys;
  }
}

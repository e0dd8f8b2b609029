/**
 * The anti-entropy digest tree of one record store (see
 * `protocol/digest.ts` for the hashes and the wire form): per node, the count
 * and XOR of the hashes of the records under it, kept up to date on every
 * store update in O(depth). Three typed arrays over the 69,905 nodes of a
 * fan-out-16, depth-4 tree (about 840 KB, whatever the store holds); which
 * records lie under a node is the store's to say (store.ts keeps its records
 * in buckets ordered by the same key hash).
 *
 * @module
 */

import { DIGEST_DEPTH, DIGEST_FANOUT, type NodeDigest } from "../protocol/mod.ts";

/** First array index of each level: level L has 16^L nodes. */
const LEVEL_OFFSET: readonly number[] = (() => {
  const offsets: number[] = [];
  let next = 0;
  for (let level = 0; level <= DIGEST_DEPTH; level++) {
    offsets.push(next);
    next += DIGEST_FANOUT ** level;
  }
  offsets.push(next);
  return offsets;
})();

const NODES = LEVEL_OFFSET[DIGEST_DEPTH + 1];

/** Counts and XORed record hashes for every node. */
export class DigestTree {
  #count = new Int32Array(NODES);
  #hi = new Int32Array(NODES);
  #lo = new Int32Array(NODES);

  /**
   * Folds one record change into the nodes on the path of its key: a new
   * client adds one record; a replaced record XORs its old hash out and its
   * new hash in (pass the XOR of the two); a removed (expired) record takes
   * its hash out, which XOR does as it put it in.
   *
   * @param key The client's key hash (`keyHash()` of its id; signed or unsigned 32 bits).
   * @param added 1 for a client new to the store, 0 for a replaced record, -1 for a removed one.
   * @param hi High half of the record hash, or of the XOR of the old and new hashes.
   * @param lo Low half of the same.
   */
  change(key: number, added: number, hi: number, lo: number): void {
    this.#count[0] += added;
    this.#hi[0] ^= hi;
    this.#lo[0] ^= lo;
    for (let level = 1; level <= DIGEST_DEPTH; level++) {
      const index = LEVEL_OFFSET[level] + (key >>> (32 - 4 * level));
      this.#count[index] += added;
      this.#hi[index] ^= hi;
      this.#lo[index] ^= lo;
    }
  }

  /**
   * The digest of one node.
   *
   * @param prefix Hex nibbles naming the node (`""` for the root), at most DIGEST_DEPTH.
   * @returns A new digest object.
   */
  node(prefix: string): NodeDigest {
    const index = LEVEL_OFFSET[prefix.length] + (prefix === "" ? 0 : parseInt(prefix, 16));
    return { count: this.#count[index], hi: this.#hi[index] >>> 0, lo: this.#lo[index] >>> 0 };
  }

  /**
   * The digests of a node's 16 children, in nibble order.
   *
   * @param prefix The parent (`""` for the root), shorter than DIGEST_DEPTH.
   * @returns 16 new digest objects.
   */
  children(prefix: string): NodeDigest[] {
    const out: NodeDigest[] = [];
    for (let i = 0; i < DIGEST_FANOUT; i++) out.push(this.node(prefix + i.toString(16)));
    return out;
  }
}

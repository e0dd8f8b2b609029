/**
 * The anti-entropy digest tree of one record store (see
 * `protocol/digest.ts` for the hashes and the wire form): per node, the count
 * and XOR of the hashes of the records under it, kept up to date on every
 * store update in O(depth), plus which client ids live in each leaf.
 *
 * @module
 */

import {
  DIGEST_DEPTH,
  DIGEST_FANOUT,
  keyHash,
  type NodeDigest,
  recordHash,
  type WireText,
} from "../protocol/mod.ts";

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
/** Bits of the key hash below a leaf's prefix. */
const LEAF_SHIFT = 32 - 4 * DIGEST_DEPTH;

/** Counts and XORed hashes for every node, and the client ids in each leaf. */
export class DigestTree {
  #count = new Int32Array(NODES);
  #hi = new Int32Array(NODES);
  #lo = new Int32Array(NODES);
  #leaves = new Map<number, WireText[]>();
  #scratch: NodeDigest = { count: 0, hi: 0, lo: 0 };

  /**
   * Records that `clientId`'s record changed from `oldLine` to `newLine`.
   *
   * @param clientId The client (wire text); this string is the one kept in its leaf.
   * @param oldLine The AT line of the record replaced, or `undefined` for a new client.
   * @param newLine The AT line of the new record.
   */
  update(clientId: WireText, oldLine: WireText | undefined, newLine: WireText): void {
    const key = keyHash(clientId);
    let hi = 0;
    let lo = 0;
    let added = 1;
    if (oldLine !== undefined) {
      const old = recordHash(oldLine, this.#scratch);
      hi = old.hi;
      lo = old.lo;
      added = 0;
    }
    const h = recordHash(newLine, this.#scratch);
    hi ^= h.hi;
    lo ^= h.lo;
    for (let level = 0; level <= DIGEST_DEPTH; level++) {
      const index = LEVEL_OFFSET[level] + (level === 0 ? 0 : key >>> (32 - 4 * level));
      this.#count[index] += added;
      this.#hi[index] ^= hi;
      this.#lo[index] ^= lo;
    }
    const leaf = key >>> LEAF_SHIFT;
    const ids = this.#leaves.get(leaf);
    if (ids === undefined) this.#leaves.set(leaf, [clientId]);
    else if (added === 1) ids.push(clientId);
    else {
      // Keep the caller's string for the id: the store's key, a slice of the
      // current line, so the leaf does not keep the replaced line alive.
      const at = ids.indexOf(clientId);
      if (at === -1) ids.push(clientId);
      else ids[at] = clientId;
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

  /**
   * Every client id under a node.
   *
   * @param prefix The node (`""` for the root), at most DIGEST_DEPTH nibbles.
   * @returns Client ids, in no particular order.
   */
  *clientIds(prefix: string): Generator<WireText> {
    const span = 4 * (DIGEST_DEPTH - prefix.length);
    const first = prefix === "" ? 0 : parseInt(prefix, 16) * 2 ** span;
    const end = first + 2 ** span;
    if (end - first > this.#leaves.size) {
      for (const [leaf, ids] of this.#leaves) if (leaf >= first && leaf < end) yield* ids;
    } else {
      for (let leaf = first; leaf < end; leaf++) {
        const ids = this.#leaves.get(leaf);
        if (ids !== undefined) yield* ids;
      }
    }
  }
}

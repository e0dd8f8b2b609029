/**
 * Anti-entropy digests (PROTOCOL.md section 4, **(herd)**): the hashes and the
 * text forms two neighbours exchange to find where their record stores differ
 * without sending the records themselves.
 *
 * The key space is the 32-bit {@linkcode keyHash} of a client id, cut into a
 * tree of fan-out 16 (one hex nibble per level) and depth
 * {@linkcode DIGEST_DEPTH}: a node is named by its hex prefix (`""` is the
 * root, `"3a"` a node on level 2). A node's digest is the number of records
 * under it and the XOR of their 64-bit {@linkcode recordHash}es, so it can be
 * updated in O(depth) when one record changes, and two stores holding the same
 * records under a node have the same digest there.
 *
 * Wire forms (both only on authenticated peer connections):
 * - `DIGEST <prefix> <d0> ... <d15>`: the sender's digests of the 16 children
 *   of `<prefix>` (`-` is the root); each `dN` is `0` for an empty node or
 *   `<count>:<16 hex digits>`.
 * - `ASK <prefix> ...` (1 to 16 prefixes): "tell me which records you hold
 *   under these nodes", answered with one `HAVE` (or `WANT`) line per node.
 * - `HAVE <prefix> [<key>:<client-time> ...]`: "under this node I hold these
 *   clients (by {@linkcode keyHash}, 8 hex digits) with these client times:
 *   send me your records there that are not older".
 * - `WANT <prefix> ...` (1 to 16 prefixes): "send me, as AT lines, every
 *   record you hold under these nodes".
 *
 * @module
 */

import type { WireText } from "./wire_text.ts";

/** Children per tree node: one hex nibble of the key hash per level. */
export const DIGEST_FANOUT = 16;

/**
 * Levels below the root: leaves are named by 4 nibbles, so there are
 * 16^4 = 65,536 of them (about 15 records each at a million clients).
 */
export const DIGEST_DEPTH = 4;

/** How a node's prefix is written on the wire when it is the root (an empty prefix). */
export const ROOT_PREFIX_TEXT = "-";

/** A tree node's digest: how many records are under it and the XOR of their hashes. */
export interface NodeDigest {
  /** Records under the node, >= 0. */
  count: number;
  /** High 32 bits of the XOR of the records' 64-bit hashes, unsigned. */
  hi: number;
  /** Low 32 bits of that XOR, unsigned. */
  lo: number;
}

const FNV_PRIME = 0x01000193;
const FNV_OFFSET = 0x811c9dc5;
/** A second offset basis, so the two 32-bit halves of a record hash are independent. */
const FNV_OFFSET_2 = 0x050c5d1f;

/** Murmur3's 32-bit finaliser: spreads FNV's weak high bits over the whole word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function fnv1a(text: WireText, basis: number): number {
  let h = basis;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return h;
}

/**
 * Where a client sits in the digest tree: a 32-bit hash of its id (FNV-1a
 * over the id's bytes, then Murmur3's finaliser). Its top nibbles are the
 * node prefixes, so `keyHash(id) >>> 16` is the leaf.
 *
 * @param clientId Client id (wire text, one char per byte).
 * @returns Unsigned 32-bit hash.
 */
export function keyHash(clientId: WireText): number {
  return fmix32(fnv1a(clientId, FNV_OFFSET));
}

/**
 * A record's 64-bit hash, from its AT line (which holds every field of the
 * record), as two unsigned 32-bit halves written into `out`: FNV-1a from two
 * offset bases, each followed by Murmur3's finaliser, in one pass.
 *
 * @param atLine The record's AT line without terminator (`formatAt(record)`).
 * @param out Receives `hi` and `lo`; `count` is set to 1.
 * @returns `out`.
 */
export function recordHash(atLine: WireText, out: NodeDigest): NodeDigest {
  let hi = FNV_OFFSET_2;
  let lo = FNV_OFFSET;
  for (let i = 0; i < atLine.length; i++) {
    const c = atLine.charCodeAt(i);
    hi = Math.imul(hi ^ c, FNV_PRIME);
    lo = Math.imul(lo ^ c, FNV_PRIME);
  }
  out.count = 1;
  out.hi = fmix32(hi);
  out.lo = fmix32(lo);
  return out;
}

/**
 * {@linkcode recordHash} of an AT line held as bytes (one byte per wire-text
 * char), so a store that keeps lines as bytes hashes them without a string.
 *
 * @param bytes Holds the line.
 * @param start Index of the line's first byte.
 * @param end Index after its last byte (no terminator).
 * @param out Receives `hi` and `lo`; `count` is set to 1.
 * @returns `out`, equal to `recordHash()` of the same line as wire text.
 */
export function recordHashOfBytes(
  bytes: Uint8Array,
  start: number,
  end: number,
  out: NodeDigest,
): NodeDigest {
  let hi = FNV_OFFSET_2;
  let lo = FNV_OFFSET;
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    hi = Math.imul(hi ^ c, FNV_PRIME);
    lo = Math.imul(lo ^ c, FNV_PRIME);
  }
  out.count = 1;
  out.hi = fmix32(hi);
  out.lo = fmix32(lo);
  return out;
}

/**
 * Whether two digests are the same.
 *
 * @param a A digest.
 * @param b Another digest.
 * @returns True if count and both hash halves are equal.
 */
export function sameDigest(a: NodeDigest, b: NodeDigest): boolean {
  return a.count === b.count && a.hi === b.hi && a.lo === b.lo;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/**
 * Text form of a node digest: `0` when empty, else `<count>:<hi><lo>` in hex.
 *
 * @param d The digest.
 * @returns e.g. `12:00ff00ff12345678`.
 */
export function formatNodeDigest(d: NodeDigest): string {
  return d.count === 0 ? "0" : `${d.count}:${hex8(d.hi)}${hex8(d.lo)}`;
}

const NODE_DIGEST = /^(?:0|([1-9][0-9]{0,15}):([0-9a-f]{8})([0-9a-f]{8}))$/;

/**
 * Parses {@linkcode formatNodeDigest}'s text.
 *
 * @param text e.g. `12:00ff00ff12345678` or `0`.
 * @returns The digest, or `null` if the text is not one.
 */
export function parseNodeDigest(text: string): NodeDigest | null {
  const m = NODE_DIGEST.exec(text);
  if (m === null) return null;
  if (m[1] === undefined) return { count: 0, hi: 0, lo: 0 };
  const count = Number(m[1]);
  if (!Number.isSafeInteger(count)) return null;
  return { count, hi: parseInt(m[2], 16), lo: parseInt(m[3], 16) };
}

const PREFIX = /^[0-9a-f]{1,4}$/;

/**
 * Parses a node prefix as written on the wire (`-` for the root, else 1 to
 * {@linkcode DIGEST_DEPTH} lower-case hex nibbles).
 *
 * @param text The field.
 * @returns The prefix (`""` for the root), or `null` if invalid.
 */
export function parsePrefix(text: string): string | null {
  if (text === ROOT_PREFIX_TEXT) return "";
  return PREFIX.test(text) ? text : null;
}

/**
 * Formats a `DIGEST` line (no terminator).
 *
 * @param prefix The parent node's prefix (`""` for the root), 0..DIGEST_DEPTH-1 nibbles.
 * @param children The 16 children's digests, in nibble order.
 * @returns e.g. `DIGEST - 0 3:... 0 ...`.
 */
export function formatDigest(prefix: string, children: readonly NodeDigest[]): string {
  let line = `DIGEST ${prefix === "" ? ROOT_PREFIX_TEXT : prefix}`;
  for (const c of children) line += " " + formatNodeDigest(c);
  return line;
}

/**
 * Longest `HAVE` line a member sends, bytes; past it, it sends `WANT` for that
 * node instead (so a neighbour's line limit is never approached).
 */
export const MAX_HAVE_BYTES = 8192;

/**
 * Formats a `HAVE` line (no terminator).
 *
 * @param prefix The node (`""` for the root).
 * @param entries Each record under it: its client's {@linkcode keyHash} and its client time text.
 * @returns e.g. `HAVE 3a0f 9c0e11aa:1700000000.5`.
 */
export function formatHave(prefix: string, entries: Iterable<[number, WireText]>): string {
  let line = `HAVE ${prefix === "" ? ROOT_PREFIX_TEXT : prefix}`;
  for (const [key, time] of entries) line += ` ${hex8(key)}:${time}`;
  return line;
}

/**
 * Formats an `ASK` line (no terminator).
 *
 * @param prefixes The nodes asked about (`""` for the root), 1..16 of them.
 * @returns e.g. `ASK 3a0f 3a1`.
 */
export function formatAsk(prefixes: readonly string[]): string {
  return "ASK " + prefixes.map((p) => p === "" ? ROOT_PREFIX_TEXT : p).join(" ");
}

/** Most prefixes one `WANT` or `ASK` line may carry (one DIGEST answer covers 16 children). */
export const MAX_WANT_PREFIXES: number = DIGEST_FANOUT;

/**
 * Formats a `WANT` line (no terminator).
 *
 * @param prefixes The nodes whose records are wanted (`""` for the root), 1..16 of them.
 * @returns e.g. `WANT 3a0f 3a1`.
 */
export function formatWant(prefixes: readonly string[]): string {
  return "WANT " + prefixes.map((p) => p === "" ? ROOT_PREFIX_TEXT : p).join(" ");
}

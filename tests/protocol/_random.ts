/**
 * Seeded pseudo-random helpers for property tests: a failing case can be
 * replayed from the seed printed in the assertion message.
 *
 * @module
 */

/** A source of uniform floats in [0, 1). */
export type Random = () => number;

/**
 * Mulberry32: a small 32-bit generator, good enough to shuffle test inputs.
 *
 * @param seed Any 32-bit integer.
 * @returns A deterministic generator.
 */
export function seeded(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random() * n);
}

/** One element of `items`, uniformly. */
export function pick<T>(random: Random, items: readonly T[]): T {
  return items[randomInt(random, items.length)];
}

/** A shuffled copy of `items` (Fisher-Yates). */
export function shuffled<T>(random: Random, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** A string of `length` random ASCII digits. */
export function randomDigits(random: Random, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += String(randomInt(random, 10));
  return out;
}

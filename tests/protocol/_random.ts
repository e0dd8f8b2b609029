/**
 * Seeded pseudo-random helpers for property tests: a failing case can be
 * replayed from the seed printed in the assertion message.
 *
 * @module
 */

import { seededRandom } from "../../src/topology.ts";

/** A source of uniform floats in [0, 1). */
export type Random = () => number;

/**
 * Mulberry32, the generator `herd topology` draws its graphs from: deterministic
 * for a seed, good enough to shuffle test inputs.
 *
 * @param seed Any 32-bit integer.
 * @returns A deterministic generator.
 */
export function seeded(seed: number): Random {
  return seededRandom(seed);
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

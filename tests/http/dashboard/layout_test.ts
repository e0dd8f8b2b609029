/**
 * The herd graph's layout (src/http/dashboard/layout.ts): readable for 5 and
 * for 100 members, deterministic, inside the square.
 */

import assert from "node:assert/strict";
import { defaultConfig } from "../../../src/config.ts";
import { layoutHerd, type Point } from "../../../src/http/dashboard/layout.ts";

const NAMES = defaultConfig().servers.map((s) => s.name);
const LINKS = defaultConfig().links;

function minDistance(at: Map<string, Point>): number {
  const p = [...at.values()];
  let d = Infinity;
  for (let i = 0; i < p.length; i++) {
    for (let j = i + 1; j < p.length; j++) {
      d = Math.min(d, Math.hypot(p[i].x - p[j].x, p[i].y - p[j].y));
    }
  }
  return d;
}

function assertInside(at: Map<string, Point>, margin = 0.08) {
  for (const [name, p] of at) {
    assert.ok(
      p.x >= margin - 1e-9 && p.x <= 1 - margin + 1e-9 && p.y >= margin - 1e-9 &&
        p.y <= 1 - margin + 1e-9,
      `${name} at ${p.x},${p.y}`,
    );
  }
}

/** 100 members: a ring, plus chords from a fixed pseudo-random sequence. */
function hundred(chords: number): { names: string[]; links: [string, string][] } {
  const names = Array.from({ length: 100 }, (_, i) => `M${String(i).padStart(3, "0")}`);
  const links: [string, string][] = names.map((n, i) => [n, names[(i + 1) % 100]]);
  let s = 1;
  const next = () => (s = (s * 16807) % 2147483647) % 100;
  for (let i = 0; i < chords; i++) {
    const a = next();
    const b = next();
    if (a !== b) links.push([names[a], names[b]]);
  }
  return { names, links };
}

Deno.test("layoutHerd() spreads the default five well apart, inside the margin", () => {
  const at = layoutHerd(NAMES, LINKS);
  assert.deepEqual([...at.keys()], NAMES);
  assertInside(at);
  assert.ok(minDistance(at) > 0.25, `closest pair ${minDistance(at)}`);
});

Deno.test("layoutHerd() keeps 100 members at least 0.045 apart (a ring, a ring with chords, no links)", async (t) => {
  for (const [name, chords] of [["ring", 0], ["ring and 60 chords", 60]] as const) {
    await t.step(name, () => {
      const { names, links } = hundred(chords);
      const at = layoutHerd(names, links);
      assert.equal(at.size, 100);
      assertInside(at);
      assert.ok(minDistance(at) >= 0.045, `closest pair ${minDistance(at)}`);
    });
  }
  await t.step("no links", () => {
    const at = layoutHerd(hundred(0).names, []);
    assertInside(at);
    assert.ok(minDistance(at) >= 0.045, `closest pair ${minDistance(at)}`);
  });
});

Deno.test("layoutHerd() is deterministic", () => {
  const { names, links } = hundred(30);
  assert.deepEqual(layoutHerd(names, links), layoutHerd(names, links));
});

Deno.test("layoutHerd() puts linked members closer than unlinked ones on average", () => {
  const at = layoutHerd(NAMES, LINKS);
  const d = (a: string, b: string) =>
    Math.hypot(at.get(a)!.x - at.get(b)!.x, at.get(a)!.y - at.get(b)!.y);
  const linked = LINKS.map(([a, b]) => d(a, b));
  const unlinked: number[] = [];
  for (let i = 0; i < NAMES.length; i++) {
    for (let j = i + 1; j < NAMES.length; j++) {
      const [a, b] = [NAMES[i], NAMES[j]];
      if (!LINKS.some(([x, y]) => (x === a && y === b) || (x === b && y === a))) {
        unlinked.push(d(a, b));
      }
    }
  }
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(mean(linked) < mean(unlinked), `${mean(linked)} vs ${mean(unlinked)}`);
});

Deno.test("layoutHerd() handles no member, one member, and links to unknown names", () => {
  assert.equal(layoutHerd([], []).size, 0);
  assert.deepEqual(layoutHerd(["A"], []).get("A"), { x: 0.5, y: 0.5 });
  const at = layoutHerd(["A", "B"], [["A", "Z"], ["A", "A"]]);
  assert.equal(at.size, 2);
  assert.ok(minDistance(at) > 0.5);
});

import assert from "node:assert/strict";
import {
  ClientIndex,
  EARTH_RADIUS_M,
  greatCircleDistanceM,
  type NearClient,
} from "../../src/geo/mod.ts";
import { type Random, randomInt, seeded } from "../protocol/_random.ts";

const RAD = Math.PI / 180;
/** Half a great circle on the model sphere, metres: the largest distance. */
const HALF_CIRCLE_M = Math.PI * EARTH_RADIUS_M;

/**
 * Great-circle distance by another formula than the module's (the angle
 * between unit vectors, atan2 of |p x q| and p . q), metres.
 */
function vectorDistanceM(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const unit = (lat: number, lng: number) => [
    Math.cos(lat * RAD) * Math.cos(lng * RAD),
    Math.cos(lat * RAD) * Math.sin(lng * RAD),
    Math.sin(lat * RAD),
  ];
  const [x1, y1, z1] = unit(lat1, lng1);
  const [x2, y2, z2] = unit(lat2, lng2);
  const cross = Math.hypot(y1 * z2 - z1 * y2, z1 * x2 - x1 * z2, x1 * y2 - y1 * x2);
  return EARTH_RADIUS_M * Math.atan2(cross, x1 * x2 + y1 * y2 + z1 * z2);
}

/** True if two distances agree within 1e-6 relative (1e-6 m near zero). */
function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= Math.max(1e-6 * Math.max(a, b), 1e-6);
}

/** Brute force: every point within the radius, by distance then id, cut to the limit. */
function oracle(
  points: ReadonlyMap<string, readonly [number, number]>,
  lat: number,
  lng: number,
  radiusKm: number,
  limit: number,
): NearClient[] {
  const all: NearClient[] = [];
  for (const [id, [pLat, pLng]] of points) {
    const distanceM = greatCircleDistanceM(lat, lng, pLat, pLng);
    if (distanceM <= radiusKm * 1000) all.push({ id, distanceM });
  }
  all.sort((a, b) => a.distanceM - b.distanceM || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return all.slice(0, limit);
}

function ids(found: readonly NearClient[]): string[] {
  return found.map((c) => c.id);
}

Deno.test("greatCircleDistanceM() measures on a sphere of radius 6,371,008.8 m", async (t) => {
  // [name, lat1, lng1, lat2, lng2, metres]
  const table: Array<[string, number, number, number, number, number]> = [
    ["same point", 34.06893, -118.445127, 34.06893, -118.445127, 0],
    ["one degree of the equator", 0, 0, 0, 1, EARTH_RADIUS_M * RAD],
    ["one degree of a meridian", 10, 20, 11, 20, EARTH_RADIUS_M * RAD],
    ["pole to equator", 90, 0, 0, 123, HALF_CIRCLE_M / 2],
    ["pole to pole", 90, 0, -90, 0, HALF_CIRCLE_M],
    ["antipodes on the equator", 0, -45, 0, 135, HALF_CIRCLE_M],
    ["across the antimeridian", 0, 179.5, 0, -179.5, EARTH_RADIUS_M * RAD],
    ["-180 and 180 are one meridian", 12.5, -180, 12.5, 180, 0],
    ["a pole at two longitudes", -90, 10, -90, -170, 0],
  ];
  for (const [name, lat1, lng1, lat2, lng2, metres] of table) {
    await t.step(name, () => {
      const d = greatCircleDistanceM(lat1, lng1, lat2, lng2);
      if (metres === 0) assert.equal(d, 0);
      assert.ok(close(d, metres), `${d} m, expected ${metres} m`);
      assert.ok(close(greatCircleDistanceM(lat2, lng2, lat1, lng1), d), "symmetric");
    });
  }
});

Deno.test("greatCircleDistanceM() agrees with the vector formula on random pairs", () => {
  const random = seeded(11);
  for (let i = 0; i < 10_000; i++) {
    const [a, b] = [randomPoint(random), randomPoint(random)];
    const d = greatCircleDistanceM(a[0], a[1], b[0], b[1]);
    const v = vectorDistanceM(a[0], a[1], b[0], b[1]);
    assert.ok(close(d, v), `seed 11, pair ${i}: ${a} ${b}: ${d} vs ${v}`);
  }
});

Deno.test("ClientIndex.near() answers nearest first within the radius (Los Angeles, New York)", () => {
  const index = new ClientIndex();
  index.set("kiwi.cs.ucla.edu", 34.06893, -118.445127);
  index.set("lemon", 34.0522, -118.2437); // downtown Los Angeles, ~18 km
  index.set("lime", 40.7128, -74.006); // New York, ~3,940 km
  const table: Array<[radiusKm: number, limit: number, expected: string[]]> = [
    [5, 100, ["kiwi.cs.ucla.edu"]],
    [50, 100, ["kiwi.cs.ucla.edu", "lemon"]],
    [5000, 100, ["kiwi.cs.ucla.edu", "lemon", "lime"]],
    [5000, 2, ["kiwi.cs.ucla.edu", "lemon"]],
    [5000, 0, []],
    [0.5, 100, []],
  ];
  for (const [radiusKm, limit, expected] of table) {
    const found = index.near(34.06, -118.44, radiusKm, limit);
    assert.deepEqual(ids(found), expected, `radius ${radiusKm} km, limit ${limit}`);
    for (const c of found) {
      assert.ok(c.distanceM <= radiusKm * 1000);
    }
  }
  const [kiwi, lemon, lime] = index.near(34.06, -118.44, 20_038, 1000);
  assert.ok(kiwi.distanceM > 1000 && kiwi.distanceM < 1200, `${kiwi.distanceM}`);
  assert.ok(lemon.distanceM > 18_000 && lemon.distanceM < 18_500, `${lemon.distanceM}`);
  assert.ok(lime.distanceM > 3_900_000 && lime.distanceM < 4_000_000, `${lime.distanceM}`);
});

Deno.test("ClientIndex.near() breaks distance ties by id", () => {
  const index = new ClientIndex({ nodeSize: 4 });
  // Four points one degree from (0, 0), exactly equally far, and two at (0, 0).
  index.set("z", 0, 1);
  index.set("a", 0, -1);
  index.set("m", 1, 0);
  index.set("b", -1, 0);
  index.set("here-2", 0, 0);
  index.set("here-1", 0, 0);
  for (let i = 0; i < 40; i++) index.set(`far-${i}`, 50, -170 + i); // a deeper tree
  const found = index.near(0, 0, 200, 100);
  assert.deepEqual(ids(found), ["here-1", "here-2", "a", "b", "m", "z"]);
  assert.deepEqual(found.map((c) => c.distanceM), [0, 0, ...Array(4).fill(found[2].distanceM)]);
  assert.deepEqual(ids(index.near(0, 0, 200, 3)), ["here-1", "here-2", "a"]);
});

Deno.test("ClientIndex.near() includes a client exactly at the radius; radius 0 is the same point only", () => {
  const index = new ClientIndex();
  index.set("on", 0, 0);
  index.set("edge", 0, 1);
  const d = greatCircleDistanceM(0, 0, 0, 1);
  const radiusKm = d / 1000;
  assert.equal(radiusKm * 1000, d, "precondition: the radius round-trips");
  assert.deepEqual(ids(index.near(0, 0, radiusKm, 10)), ["on", "edge"]);
  assert.deepEqual(ids(index.near(0, 0, radiusKm * (1 - 1e-12), 10)), ["on"]);
  assert.deepEqual(index.near(0, 0, 0, 10), [{ id: "on", distanceM: 0 }]);
  assert.deepEqual(index.near(0, 1e-9, 0, 10), []);
});

Deno.test("ClientIndex.near() is right across the antimeridian", () => {
  const index = new ClientIndex({ nodeSize: 4 });
  index.set("east", 0, 179.99);
  index.set("west", 0, -179.99);
  index.set("east-180", 10, 180);
  index.set("west-180", 10, -180);
  // Planar neighbours of (0, 180) that are far on the sphere.
  for (let i = 0; i < 30; i++) index.set(`mid-${i}`, -60 + 4 * i, 0);
  assert.deepEqual(ids(index.near(0, 180, 2, 10)).sort(), ["east", "west"]);
  assert.deepEqual(ids(index.near(0, -180, 2, 10)).sort(), ["east", "west"]);
  // 180 and -180 are the same meridian: both 10 degree points are at distance 0 from either.
  assert.deepEqual(ids(index.near(10, 180, 0, 10)), ["east-180", "west-180"]);
  assert.deepEqual(ids(index.near(10, -180, 0, 10)), ["east-180", "west-180"]);
  const [first] = index.near(0, -179.995, 1000, 1);
  assert.equal(first.id, "west");
});

Deno.test("ClientIndex.near() is right near the poles", () => {
  const index = new ClientIndex({ nodeSize: 4 });
  for (let i = 0; i < 36; i++) index.set(`ring-${i}`, 89.9, -180 + 10 * i);
  index.set("pole", 90, 45);
  index.set("south", -89.9, 0);
  const fromPole = index.near(90, -100, 20, 100);
  assert.equal(fromPole.length, 37);
  assert.equal(fromPole[0].id, "pole");
  assert.equal(fromPole[0].distanceM, 0, "every longitude of a pole is the pole");
  assert.deepEqual(ids(index.near(90, 0, 0, 100)), ["pole"]);
  for (const c of fromPole.slice(1)) {
    assert.ok(close(c.distanceM, 0.1 * RAD * EARTH_RADIUS_M), `${c.id} ${c.distanceM}`);
  }
  // Across the pole: 0.6 degrees over the top is nearer than 9.9 degrees down
  // the same meridian, though 180 degrees of longitude away in the plane.
  const over = new ClientIndex({ nodeSize: 4 });
  over.set("near-side", 89.5, 0);
  over.set("far-side", 89.5, 180);
  over.set("down", 80, 0.5);
  for (let i = 0; i < 20; i++) over.set(`filler-${i}`, -40 + i, 20 + i);
  assert.deepEqual(ids(over.near(89.9, 0, 2000, 3)), ["near-side", "far-side", "down"]);
  assert.deepEqual(ids(index.near(-90, 0, 12, 10)), ["south"]);
});

Deno.test("ClientIndex.set() moves a client and delete() removes it", () => {
  const index = new ClientIndex();
  assert.equal(index.size, 0);
  assert.deepEqual(index.near(0, 0, 20_038, 10), []);
  index.set("kiwi", 34.06893, -118.445127);
  index.set("kiwi", 34.06893, -118.445127); // same place: no change
  assert.equal(index.size, 1);
  assert.equal(index.has("kiwi"), true);
  index.set("kiwi", 51.5, -0.12); // moved to London
  assert.equal(index.size, 1);
  assert.deepEqual(index.near(34.06, -118.44, 100, 10), []);
  assert.deepEqual(ids(index.near(51.5, -0.1, 100, 10)), ["kiwi"]);
  assert.equal(index.delete("kiwi"), true);
  assert.equal(index.delete("kiwi"), false);
  assert.equal(index.has("kiwi"), false);
  assert.equal(index.size, 0);
  assert.deepEqual(index.near(51.5, -0.1, 20_038, 10), []);
  // A deleted client's storage is reused by the next one.
  index.set("a", 1, 1);
  index.set("b", 2, 2);
  index.delete("a");
  index.set("c", 3, 3);
  assert.deepEqual(ids(index.near(3, 3, 20_038, 10)), ["c", "b"]);
  index.clear();
  assert.equal(index.size, 0);
  assert.deepEqual(index.near(1, 1, 20_038, 10), []);
  index.set("d", 1, 1);
  assert.deepEqual(index.near(1, 1, 0, 10), [{ id: "d", distanceM: 0 }]);
});

Deno.test("ClientIndex rejects out-of-range arguments with a RangeError and stays unchanged", async (t) => {
  const index = new ClientIndex();
  index.set("kiwi", 1, 2);
  const table: Array<[string, () => unknown, RegExp]> = [
    ["latitude above 90", () => index.set("kiwi", 90.0001, 0), /latitude/],
    ["latitude NaN", () => index.set("kiwi", NaN, 0), /latitude/],
    ["longitude below -180", () => index.set("kiwi", 0, -180.5), /longitude/],
    ["longitude Infinity", () => index.set("kiwi", 0, Infinity), /longitude/],
    ["query latitude", () => index.near(-91, 0, 1, 1), /latitude/],
    ["query longitude NaN", () => index.near(0, NaN, 1, 1), /longitude/],
    ["negative radius", () => index.near(0, 0, -1, 1), /radiusKm/],
    ["NaN radius", () => index.near(0, 0, NaN, 1), /radiusKm/],
    ["fractional limit", () => index.near(0, 0, 1, 1.5), /limit/],
    ["negative limit", () => index.near(0, 0, 1, -1), /limit/],
    ["node size 3", () => new ClientIndex({ nodeSize: 3 }), /nodeSize/],
  ];
  for (const [name, call, message] of table) {
    await t.step(name, () => {
      assert.throws(call, (e: unknown) => e instanceof RangeError && message.test(e.message));
      assert.deepEqual(index.near(1, 2, 0, 10), [{ id: "kiwi", distanceM: 0 }]);
    });
  }
  assert.deepEqual(ids(index.near(0, 0, Infinity, 10)), ["kiwi"]);
});

/** A point uniform on the sphere, or (one in four) from a hard region. */
function randomPoint(random: Random): [number, number] {
  const uniform = (): [number, number] => [
    Math.asin(2 * random() - 1) / RAD,
    360 * random() - 180,
  ];
  switch (randomInt(random, 8)) {
    case 0: // near the antimeridian, either side
      return [180 * random() - 90, (random() < 0.5 ? -180 : 180) + (random() - 0.5) * 0.5];
    case 1: // near a pole
      return [
        (random() < 0.5 ? -90 : 90) - Math.sign(random() - 0.5) * random(),
        360 * random() - 180,
      ];
    case 2: // exact edges
      return [[-90, 0, 90][randomInt(random, 3)], [-180, 0, 180][randomInt(random, 3)]];
    default:
      return uniform();
  }
}

/** Keeps a coordinate in range after a random nudge (the hard regions can overshoot). */
function clamp(p: [number, number]): [number, number] {
  return [Math.max(-90, Math.min(90, p[0])), Math.max(-180, Math.min(180, p[1]))];
}

Deno.test("ClientIndex.near() equals a brute-force search over random points, moves and deletes", async (t) => {
  for (const [seed, nodeSize] of [[1, 4], [2, 16], [3, 9], [4, 64]]) {
    await t.step(`seed ${seed}, node size ${nodeSize}`, () => {
      const random = seeded(seed);
      const index = new ClientIndex({ nodeSize });
      const points = new Map<string, readonly [number, number]>();
      const place = (id: string, p: readonly [number, number]) => {
        index.set(id, p[0], p[1]);
        points.set(id, p);
      };
      for (let i = 0; i < 3000; i++) place(`c${i}`, clamp(randomPoint(random)));
      // Duplicated locations, so that ties by id are exercised, and a crowd of
      // 300 at one point (every tree box around it is that point).
      for (let i = 0; i < 200; i++) place(`dup${i}`, points.get(`c${randomInt(random, 3000)}`)!);
      const crowd: [number, number] = [34.06893, -118.445127];
      for (let i = 0; i < 300; i++) place(`crowd${i}`, crowd);
      const radii = [0, 0.001, 1, 5, 50, 500, 5000, 20_038, Infinity];
      for (let q = 0; q < 400; q++) {
        // Interleave changes: a move anywhere, a short move (most stay in
        // their tree leaf's box), a crowd member leaving or coming back, a
        // delete, a re-insert.
        place(`c${randomInt(random, 3000)}`, clamp(randomPoint(random)));
        const mover = `c${randomInt(random, 3000)}`;
        const from = points.get(mover);
        if (from !== undefined) {
          const step = [1e-7, 1e-4, 0.01, 1][randomInt(random, 4)];
          place(
            mover,
            clamp([from[0] + (random() - 0.5) * step, from[1] + (random() - 0.5) * step]),
          );
        }
        place(
          `crowd${randomInt(random, 300)}`,
          random() < 0.5 ? crowd : clamp(randomPoint(random)),
        );
        const gone = `${random() < 0.8 ? "c" : "crowd"}${randomInt(random, 300)}`;
        assert.equal(index.delete(gone), points.delete(gone));
        if (q % 3 === 0) place(`c${randomInt(random, 3000)}`, clamp(randomPoint(random)));
        assert.equal(index.size, points.size);

        // Query at a random point, a hard region, a stored point, where the
        // short move went, or at the crowd.
        const [lat, lng] = q % 5 === 0
          ? [...points.values()][randomInt(random, points.size)]
          : q % 5 === 1 && from !== undefined
          ? points.get(mover)!
          : q % 5 === 2
          ? crowd
          : clamp(randomPoint(random));
        const radiusKm = radii[randomInt(random, radii.length)] * (q % 2 === 0 ? 1 : random());
        const limit = [1, 10, 100, 1000, 5000][randomInt(random, 5)];
        const found = index.near(lat, lng, radiusKm, limit);
        const expected = oracle(points, lat, lng, radiusKm, limit);
        const what = `seed ${seed}, query ${q}: (${lat}, ${lng}) ${radiusKm} km, limit ${limit}`;
        // Joined first: deepEqual on thousands of ids is slow, and only a mismatch needs its diff.
        if (ids(found).join("\n") !== ids(expected).join("\n")) {
          assert.deepEqual(ids(found), ids(expected), what);
        }
        assert.ok(found.length <= limit, what);
        for (let i = 0; i < found.length; i++) {
          assert.equal(found[i].distanceM, expected[i].distanceM, what);
          const [pLat, pLng] = points.get(found[i].id)!;
          const v = vectorDistanceM(lat, lng, pLat, pLng);
          assert.ok(close(found[i].distanceM, v), `${what}: ${found[i].distanceM} vs ${v}`);
        }
      }
    });
  }
});

Deno.test("ClientIndex.near() with radius 20,038 km and no limit answers every client", () => {
  const random = seeded(7);
  const index = new ClientIndex();
  for (let i = 0; i < 2000; i++) {
    const [lat, lng] = clamp(randomPoint(random));
    index.set(`c${i}`, lat, lng);
  }
  for (const [lat, lng] of [[0, 0], [90, 0], [-90, 180], [12.3, -179.9]]) {
    const found = index.near(lat, lng, 20_038, 5000);
    assert.equal(found.length, 2000);
    assert.ok(found.every((c, i) => i === 0 || found[i - 1].distanceM <= c.distanceM));
    assert.ok(found[found.length - 1].distanceM <= HALF_CIRCLE_M + 1e-6);
  }
});

Deno.test("ClientIndex.load() answers as set() one by one would, and later changes work", () => {
  const random = seeded(21);
  const entries: Array<[string, number, number]> = [];
  for (let i = 0; i < 3000; i++) entries.push([`c${i}`, ...clamp(randomPoint(random))]);
  for (let i = 0; i < 200; i++) entries.push([`crowd${i}`, 34.06893, -118.445127]);
  entries.push(["c7", 1, 2]); // a repeated id ends at its last location
  const loaded = new ClientIndex({ nodeSize: 9 });
  loaded.load(entries);
  const points = new Map<string, readonly [number, number]>();
  for (const [id, lat, lng] of entries) points.set(id, [lat, lng]);
  assert.equal(loaded.size, points.size);
  assert.deepEqual(loaded.near(1, 2, 0, 10), [{ id: "c7", distanceM: 0 }]);
  for (let q = 0; q < 300; q++) {
    // Changes after the load: leaves and parents must be known for every client.
    const id = `${random() < 0.8 ? "c" : "crowd"}${randomInt(random, 200)}`;
    if (random() < 0.3) {
      assert.equal(loaded.delete(id), points.delete(id));
    } else {
      const from = points.get(id) ?? [0, 0];
      const to = clamp(random() < 0.5 ? randomPoint(random) : [from[0] + 1e-4, from[1] - 1e-4]);
      loaded.set(id, to[0], to[1]);
      points.set(id, to);
    }
    const [lat, lng] = q % 3 === 0 ? [34.06893, -118.445127] : clamp(randomPoint(random));
    const radiusKm = [0, 5, 500, 20_038][randomInt(random, 4)];
    const expected = oracle(points, lat, lng, radiusKm, 100);
    assert.deepEqual(loaded.near(lat, lng, radiusKm, 100), expected, `seed 21, query ${q}`);
  }
});

Deno.test("ClientIndex.load() into a non-empty index moves known clients; a bad entry changes nothing", () => {
  const index = new ClientIndex();
  index.set("a", 10, 10);
  index.load([["a", 0, 0], ["b", 0, 1]]);
  assert.deepEqual(ids(index.near(0, 0, 200, 10)), ["a", "b"]);
  assert.throws(() => index.load([["c", 5, 5], ["d", 91, 0]]), RangeError);
  assert.equal(index.has("c"), false);
  const empty = new ClientIndex();
  assert.throws(() => empty.load([["c", 5, 5], ["d", 0, 181]]), RangeError);
  assert.equal(empty.size, 0);
  empty.load([]);
  assert.equal(empty.size, 0);
  empty.load([["x", 1, 1]]); // fewer than a node's minimum: rbush inserts it
  assert.deepEqual(empty.near(1, 1, 0, 10), [{ id: "x", distanceM: 0 }]);
  empty.set("x", 50, 50);
  assert.deepEqual(ids(empty.near(50, 50, 0, 10)), ["x"]);
});

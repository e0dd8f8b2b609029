import assert from "node:assert/strict";
import { parseConfig } from "../src/config.ts";
import {
  formatTopologyToml,
  generateTopology,
  graphStats,
  seededRandom,
  type TopologyOptions,
} from "../src/topology.ts";

/** Every link of a parsed herd as "a b" with the lower name first. */
function linkKeys(links: ReadonlyArray<readonly [string, string]>): string[] {
  return links.map(([a, b]) => (a < b ? `${a} ${b}` : `${b} ${a}`));
}

Deno.test("formatTopologyToml() round-trips through parseConfig() for every shape", async (t) => {
  // [options, links expected]
  const cases: Array<[TopologyOptions, number]> = [
    [{ members: 1, shape: "random" }, 0],
    [{ members: 2, shape: "random", degree: 1 }, 1],
    [{ members: 5, shape: "random", degree: 4 }, 10],
    [{ members: 20, shape: "random", degree: 4, seed: 7 }, 40],
    [{ members: 100, shape: "random", degree: 4, seed: 1, httpPort: 13000 }, 200],
    [{ members: 100, shape: "random", degree: 2.5, seed: 3 }, 125],
    [{ members: 10, shape: "random", degree: 8, seed: 2 }, 40],
    [{ members: 3, shape: "ring" }, 3],
    [{ members: 100, shape: "ring", port: 20000 }, 100],
    [{ members: 1, shape: "line" }, 0],
    [{ members: 50, shape: "line" }, 49],
    [{ members: 30, shape: "star" }, 29],
    [{ members: 9, shape: "grid" }, 12],
    [{ members: 10, shape: "grid" }, 13],
    [{ members: 100, shape: "grid" }, 180],
  ];
  for (const [opts, links] of cases) {
    await t.step(JSON.stringify(opts), () => {
      const topology = generateTopology(opts);
      const config = parseConfig(formatTopologyToml(topology), "generated.toml");
      const base = opts.port ?? 12000;
      assert.deepEqual(
        config.servers.map((s) => [s.name, s.host, s.port, s.httpPort]),
        topology.servers.map((s, i) => [
          s.name,
          "127.0.0.1",
          base + i,
          opts.httpPort === undefined ? undefined : opts.httpPort + i,
        ]),
      );
      assert.equal(config.links.length, links);
      const keys = linkKeys(config.links);
      assert.equal(new Set(keys).size, keys.length, "no duplicate links");
      assert.deepEqual(keys, linkKeys(topology.links));
      const stats = graphStats(config.servers.map((s) => s.name), config.links);
      assert.ok(Number.isFinite(stats.diameter), "connected");
    });
  }
});

Deno.test("generateTopology() names members m001.. with as many digits as the count needs", () => {
  assert.deepEqual(generateTopology({ members: 3, shape: "line" }).servers.map((s) => s.name), [
    "m001",
    "m002",
    "m003",
  ]);
  const big = generateTopology({ members: 1000, shape: "line" }).servers;
  assert.equal(big[0].name, "m0001");
  assert.equal(big[999].name, "m1000");
  for (const s of big) assert.match(s.name, /^[A-Za-z0-9._-]+$/);
});

Deno.test("generateTopology() gives the same random herd for a seed and another for another seed", () => {
  const a = generateTopology({ members: 50, degree: 4, seed: 42 });
  const b = generateTopology({ members: 50, degree: 4, seed: 42 });
  const c = generateTopology({ members: 50, degree: 4, seed: 43 });
  assert.deepEqual(a, b);
  assert.equal(formatTopologyToml(a), formatTopologyToml(b));
  assert.notDeepEqual(a.links, c.links);
});

Deno.test("generateTopology() random herds are connected with the degree asked, for many seeds", () => {
  for (let seed = 0; seed < 200; seed++) {
    const members = 2 + (seed % 60);
    const degree = Math.min(members - 1, 2 + (seed % 5));
    const t = generateTopology({ members, degree, seed });
    const s = graphStats(t.servers.map((m) => m.name), t.links);
    assert.ok(Number.isFinite(s.diameter), `seed ${seed}: connected`);
    assert.equal(s.links, Math.round((members * degree) / 2), `seed ${seed}: links`);
    assert.equal(s.links, t.links.length, `seed ${seed}: no duplicates or self-links`);
    assert.ok(s.minDegree >= 1, `seed ${seed}: nobody alone`);
    // The extra links go to members under the average first: no member hangs by one link.
    if (degree >= 3) assert.ok(s.minDegree >= 2, `seed ${seed}: min degree ${s.minDegree}`);
  }
});

Deno.test("generateTopology() fixed shapes have their degrees", async (t) => {
  // [shape, members, min degree, max degree, diameter]
  const cases: Array<[TopologyOptions["shape"], number, number, number, number]> = [
    ["ring", 10, 2, 2, 5],
    ["line", 10, 1, 2, 9],
    ["star", 10, 1, 9, 2],
    ["grid", 16, 2, 4, 6],
    ["grid", 2, 1, 1, 1],
  ];
  for (const [shape, members, min, max, diameter] of cases) {
    await t.step(`${shape} of ${members}`, () => {
      const g = generateTopology({ members, shape });
      const s = graphStats(g.servers.map((m) => m.name), g.links);
      assert.deepEqual([s.minDegree, s.maxDegree, s.diameter], [min, max, diameter]);
    });
  }
});

Deno.test("generateTopology() refuses what cannot make a herd, saying why", async (t) => {
  const cases: Array<[TopologyOptions, RegExp]> = [
    [{ members: 0 }, /members must be a whole number 1\.\.1000, got 0/],
    [{ members: 2.5 }, /members must be a whole number/],
    [{ members: 1001 }, /members must be/],
    [{ members: 5, degree: 5 }, /degree 5 is too large for 5 members; at most 4/],
    [{ members: 100, degree: 1 }, /degree 1 is too small for 100 members; .* 99 links, .* 1\.98/],
    [{ members: 10, degree: 0 }, /degree must be a number > 0, got 0/],
    [{ members: 10, degree: NaN }, /degree must be a number > 0/],
    [{ members: 10, seed: 1.5 }, /seed must be a whole number/],
    [{ members: 10, shape: "ring", degree: 4 }, /degree is for the random shape only, not ring/],
    [{ members: 10, shape: "star", seed: 4 }, /seed is for the random shape only/],
    [{ members: 2, shape: "ring" }, /a ring needs at least 3 members, got 2; use line/],
    [{ members: 10, shape: "cube" as "ring" }, /unknown shape "cube"; use random, ring/],
    [{ members: 10, port: 65530 }, /port must leave room for 10 ports in 1\.\.65535, .* 65526/],
    [{ members: 10, port: 0 }, /port must leave room/],
    [{ members: 10, port: 12000, httpPort: 12005 }, /HTTP ports 12005-12014 overlap TCP ports/],
    [{ members: 10, httpPort: 70000 }, /httpPort must leave room/],
    [{ members: 10, host: "a b" }, /host must be a host name or IP address/],
  ];
  for (const [opts, message] of cases) {
    await t.step(JSON.stringify(opts), () => {
      assert.throws(() => generateTopology(opts), (e: Error) => {
        assert.ok(e instanceof RangeError || e instanceof TypeError, e.name);
        assert.match(e.message, /^Cannot generate topology: /);
        assert.match(e.message, message);
        return true;
      });
    });
  }
});

Deno.test("seededRandom() is uniform enough and repeatable", () => {
  const r = seededRandom(1);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 10_000; i++) {
    const x = r();
    assert.ok(x >= 0 && x < 1);
    counts[Math.floor(x * 10)]++;
  }
  for (const c of counts) assert.ok(c > 850 && c < 1150, `bucket count ${c}`);
  const a = seededRandom(99), b = seededRandom(99);
  for (let i = 0; i < 100; i++) assert.equal(a(), b());
});

Deno.test("graphStats() reports a disconnected graph's diameter as Infinity", () => {
  const s = graphStats(["a", "b", "c", "d"], [["a", "b"], ["c", "d"]]);
  assert.equal(s.diameter, Infinity);
  assert.equal(s.links, 2);
});

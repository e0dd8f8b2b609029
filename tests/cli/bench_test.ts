import assert from "node:assert/strict";
import { type HerdConfig, parseConfig, testConfig } from "../../src/config.ts";
import { formatTopologyToml, generateTopology } from "../../src/topology.ts";
import { formatBenchTable } from "../../src/cli/bench.ts";
import { type BenchResult, ClientError, runBench } from "../../src/client/mod.ts";
import { fakeServer } from "../_fake_server.ts";
import { TestHerd, waitFor } from "../_harness.ts";
import { noPlaces } from "../_no_places.ts";
import { assertUserError, freePort, runHerd } from "./_cli.ts";

/** Runs `fn` against a started default-shaped herd on port 0, stopping it afterwards. */
async function withHerd(
  fn: (herd: TestHerd) => Promise<void>,
  config: HerdConfig = testConfig(),
): Promise<void> {
  // WHATSATs are only counted, never read: members need no GeoNames data.
  const herd = await new TestHerd(config, noPlaces()).start();
  try {
    await fn(herd);
  } finally {
    await herd.stop();
  }
}

/** Asserts a clean run of `n` requests with sane latency figures. */
function assertClean(r: BenchResult, n: number): void {
  assert.equal(r.requests, n, `requests; ${JSON.stringify(r)}`);
  assert.equal(r.errors, 0, `errors; ${JSON.stringify(r)}`);
  assert.ok(r.seconds > 0, "seconds > 0");
  assert.ok(r.requestsPerSecond > 0, "requests/s > 0");
  const { p50, p99, max } = r.latencyMs;
  assert.ok(p50 > 0 && p50 <= p99 && p99 <= max, `latency order: ${JSON.stringify(r.latencyMs)}`);
}

/** Client ids in a member's store that start with `prefix`. */
function idsWith(herd: TestHerd, name: string, prefix: string): string[] {
  return [...herd.member(name).store.records()]
    .map((r) => r.clientId)
    .filter((id) => id.startsWith(prefix));
}

Deno.test("runBench() pipe: every IAMAT is answered and every member ends with every record", async () => {
  await withHerd(async (herd) => {
    const r = await runBench({
      mode: "pipe",
      target: herd.address("Campbell"),
      requests: 600,
      concurrency: 3,
      window: 16,
      clientPrefix: "pipe-test",
    });
    assertClean(r, 600);
    assert.equal(r.concurrency, 3);
    assert.equal(r.window, 16);
    assert.equal(idsWith(herd, "Campbell", "pipe-test-").length, 600);
    assert.equal(herd.member("Campbell").store.get("pipe-test-0-0")?.origin, "Campbell");
    for (const name of herd.members.keys()) {
      await waitFor(
        () => idsWith(herd, name, "pipe-test-").length === 600,
        10_000,
        `${name} has all 600 records`,
      );
    }
  });
});

Deno.test("runBench() conn: one connection per request, every request answered", async () => {
  await withHerd(async (herd) => {
    const r = await runBench({
      mode: "conn",
      target: herd.address("Hill"),
      requests: 120,
      concurrency: 8,
      clientPrefix: "conn-test",
    });
    assertClean(r, 120);
    assert.equal(idsWith(herd, "Hill", "conn-test-").length, 120);
    // One msg.in per request, each on its own connection.
    const conns = new Set(herd.logs.get("Hill")!.named("msg.in").map((e) => e.fields.conn));
    assert.ok(conns.size >= 120, `at least 120 connections, saw ${conns.size}`);
  });
});

Deno.test("runBench() whatsat: seeds the client first, then every WHATSAT is answered", async () => {
  await withHerd(async (herd) => {
    for (const mode of ["pipe", "conn"] as const) {
      const r = await runBench({
        mode,
        kind: "whatsat",
        target: herd.address("Jaquez"),
        requests: 40,
        concurrency: 2,
        window: 8,
        clientPrefix: `whatsat-${mode}`,
      });
      assertClean(r, 40);
      assert.equal(r.kind, "whatsat");
      assert.ok(herd.member("Jaquez").store.get(`whatsat-${mode}-seed`) !== undefined);
    }
  });
});

Deno.test("runBench() propagation: measures records that really arrive at the second member", async () => {
  await withHerd(async (herd) => {
    // Campbell - Smith - Hill: two hops.
    const r = await runBench({
      mode: "propagation",
      target: herd.address("Campbell"),
      target2: herd.address("Hill"),
      requests: 25,
      ratePerSecond: 200,
      clientPrefix: "prop-test",
    });
    assertClean(r, 25);
    assert.equal(r.target2, `127.0.0.1:${herd.address("Hill").port}`);
    for (let i = 0; i < 25; i++) {
      assert.equal(herd.member("Hill").store.get(`prop-test-0-${i}`)?.origin, "Campbell");
    }
    // Hill was asked (WHATSAT) about the updates it had not got yet, not told.
    const asked = herd.logs.get("Hill")!.named("msg.in").map((e) => String(e.fields.line));
    assert.ok(asked.some((l) => l.startsWith("WHATSAT prop-test-0-0 1 1")));
  });
});

/** Hops from `from` to every member of `config`, by breadth-first search. */
function hopsFrom(config: HerdConfig, from: string): Map<string, number> {
  const hops = new Map([[from, 0]]);
  const queue = [from];
  for (let q = 0; q < queue.length; q++) {
    for (const [a, b] of config.links) {
      const next = a === queue[q] ? b : b === queue[q] ? a : undefined;
      if (next !== undefined && !hops.has(next)) {
        hops.set(next, hops.get(queue[q])! + 1);
        queue.push(next);
      }
    }
  }
  return hops;
}

Deno.test("runBench() propagation works between any two members of a generated herd", async (t) => {
  const generated = parseConfig(formatTopologyToml(generateTopology({ members: 30, seed: 5 })));
  const config: HerdConfig = { ...generated, settings: testConfig().settings };
  const hops = hopsFrom(config, "m001");
  const farthest = [...hops].reduce((best, next) => (next[1] > best[1] ? next : best));
  assert.ok(farthest[1] >= 3, `m001's farthest member is ${farthest[1]} hops away`);
  const neighbour = [...hops].find(([, h]) => h === 1)![0];
  await withHerd(async (herd) => {
    // [from, to]: the farthest pair from m001, a neighbour, and two others named by number.
    const pairs: Array<[string, string]> = [
      ["m001", farthest[0]],
      [neighbour, "m001"],
      ["m017", "m030"],
    ];
    for (const [from, to] of pairs) {
      await t.step(`${from} -> ${to}`, async () => {
        const prefix = `gen-${from}-${to}`;
        const r = await runBench({
          mode: "propagation",
          target: herd.address(from),
          target2: herd.address(to),
          requests: 20,
          ratePerSecond: 200,
          clientPrefix: prefix,
        });
        assertClean(r, 20);
        for (let i = 0; i < 20; i++) {
          assert.equal(herd.member(to).store.get(`${prefix}-0-${i}`)?.origin, from);
        }
      });
    }
  }, config);
});

Deno.test("runBench() propagation: an update that never reaches target2 is an error, not a figure", async () => {
  // Two herds of one, not linked: nothing sent to the first ever reaches the second.
  const solo = (name: string): HerdConfig => {
    const config = testConfig();
    return { ...config, servers: config.servers.filter((s) => s.name === name), links: [] };
  };
  await withHerd(async (a) => {
    await withHerd(async (b) => {
      const r = await runBench({
        mode: "propagation",
        target: a.address("Campbell"),
        target2: b.address("Hill"),
        requests: 4,
        ratePerSecond: 50,
        timeoutMs: 300,
        clientPrefix: "lost-test",
      });
      assert.equal(r.requests, 4);
      assert.equal(r.errors, 4);
      assert.deepEqual(r.latencyMs, { p50: 0, p99: 0, max: 0 });
      assert.equal(idsWith(a, "Campbell", "lost-test-").length, 4);
    }, solo("Hill"));
  }, solo("Campbell"));
});

Deno.test("runBench() counts '? ' replies as errors, in both pipe and conn modes", async () => {
  const server = fakeServer((line) => `? ${line}\n`);
  try {
    for (const mode of ["pipe", "conn"] as const) {
      const r = await runBench({ mode, target: server.address, requests: 30, concurrency: 2 });
      assert.equal(r.requests, 30, mode);
      assert.equal(r.errors, 30, mode);
      assert.equal(r.requestsPerSecond, 0, mode);
    }
  } finally {
    await server.close();
  }
});

Deno.test("runBench() gives up on a server that never answers after the timeout", async () => {
  const server = fakeServer(() => null);
  try {
    const r = await runBench({
      mode: "pipe",
      target: server.address,
      requests: 10,
      concurrency: 2,
      window: 5,
      timeoutMs: 200,
    });
    assert.equal(r.requests, 10);
    assert.equal(r.errors, 10);
  } finally {
    await server.close();
  }
});

Deno.test("runBench() stops at the duration cap before the request count", async () => {
  // Answers each IAMAT like a member would, but slowly enough that 1,000,000 cannot fit.
  const server = fakeServer((line) =>
    `AT Fake +0.000000001 ${line.split(" ").slice(1).join(" ")}\n`
  );
  try {
    const r = await runBench({
      mode: "pipe",
      target: server.address,
      requests: 1_000_000,
      concurrency: 1,
      window: 1,
      durationMs: 200,
    });
    assert.equal(r.errors, 0);
    assert.ok(r.requests > 0 && r.requests < 1_000_000, `requests ${r.requests}`);
  } finally {
    await server.close();
  }
});

Deno.test("runBench() rejects bad options and unreachable targets", async () => {
  const target = { hostname: "127.0.0.1", port: freePort() };
  await assert.rejects(runBench({ mode: "propagation", target }), RangeError);
  await assert.rejects(runBench({ mode: "pipe", target, target2: target }), RangeError);
  await assert.rejects(runBench({ mode: "pipe", target, window: 0 }), RangeError);
  await assert.rejects(runBench({ mode: "pipe", target, requests: 10 }), (e: unknown) => {
    assert.ok(e instanceof ClientError);
    assert.match(e.message, /^cannot connect to 127\.0\.0\.1:\d+/);
    return true;
  });
});

Deno.test("formatBenchTable() lists requests, errors, seconds, requests/s and latencies", () => {
  const text = formatBenchTable({
    mode: "pipe",
    kind: "iamat",
    target: "127.0.0.1:11490",
    target2: null,
    concurrency: 4,
    window: 64,
    requests: 1000,
    errors: 2,
    seconds: 0.5,
    requestsPerSecond: 1996,
    latencyMs: { p50: 1.5, p99: 3.25, max: 4 },
  });
  assert.equal(
    text,
    [
      "herd bench: pipe, IAMAT -> 127.0.0.1:11490, concurrency 4, window 64",
      "  requests     1000",
      "  errors       2",
      "  seconds      0.500",
      "  requests/s   1996.0",
      "  latency p50  1.500 ms",
      "  latency p99  3.250 ms",
      "  latency max  4.000 ms",
      "",
    ].join("\n"),
  );
});

Deno.test("herd bench --json prints one JSON object with the counts and latencies", async () => {
  await withHerd(async (herd) => {
    const a = herd.address("Smith");
    const r = await runHerd([
      "bench",
      "--mode",
      "conn",
      "--requests",
      "20",
      "--concurrency",
      "4",
      "--json",
      `${a.hostname}:${a.port}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 1, r.stdout);
    const result = JSON.parse(lines[0]);
    assert.equal(result.mode, "conn");
    assert.equal(result.requests, 20);
    assert.equal(result.errors, 0);
    for (const key of ["seconds", "requestsPerSecond"]) {
      assert.equal(typeof result[key], "number", key);
    }
    for (const key of ["p50", "p99", "max"]) {
      assert.equal(typeof result.latencyMs[key], "number", key);
    }
  });
});

Deno.test("herd bench: user errors are one line and exit 2", async () => {
  const target = `127.0.0.1:${freePort()}`;
  assertUserError(await runHerd(["bench", "--mode", "propagation", target]), ["second address"]);
  assertUserError(await runHerd(["bench", "--requests", "0", target]), ["--requests"]);
  assertUserError(await runHerd(["bench", "--no-progress", target]), ["cannot connect"]);
});

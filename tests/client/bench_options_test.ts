import assert from "node:assert/strict";
import {
  BenchOptionError,
  type BenchOptions,
  resolveBenchOptions,
} from "../../src/client/bench_options.ts";
import { MAX_BOUND, MAX_RADIUS_KM, MIN_BOUND } from "../../src/protocol/mod.ts";

const target = { hostname: "127.0.0.1", port: 11490 };

/** Asserts that `opts` is refused for `option`, with `requirement`. */
function assertRefused(
  opts: BenchOptions,
  option: keyof BenchOptions,
  requirement: string | RegExp,
): void {
  assert.throws(() => resolveBenchOptions(opts), (e: unknown) => {
    assert.ok(e instanceof BenchOptionError, `a BenchOptionError, got ${e}`);
    assert.ok(e instanceof RangeError);
    assert.equal(e.option, option);
    if (typeof requirement === "string") assert.equal(e.requirement, requirement);
    else assert.match(e.requirement, requirement);
    assert.match(e.message, new RegExp(`^Cannot run bench: ${option} must be `));
    return true;
  });
}

Deno.test("resolveBenchOptions() fills in each mode's defaults", () => {
  const pipe = resolveBenchOptions({ mode: "pipe", target });
  assert.deepEqual(
    [pipe.kind, pipe.requests, pipe.concurrency, pipe.window, pipe.radiusKm, pipe.bound],
    ["iamat", 100_000, 4, 64, 10, 5],
  );
  const conn = resolveBenchOptions({ mode: "conn", target });
  assert.deepEqual([conn.requests, conn.concurrency, conn.window], [20_000, 50, 1]);
  const prop = resolveBenchOptions({ mode: "propagation", target, target2: target });
  assert.deepEqual([prop.requests, prop.concurrency, prop.ratePerSecond], [1_000, 1, 100]);
  assert.equal(pipe.clientPrefix, `bench-${Deno.pid}`);
});

Deno.test("resolveBenchOptions() holds the WHATSAT radius to the protocol's (0, MAX_RADIUS_KM]", () => {
  assert.equal(resolveBenchOptions({ mode: "pipe", target, radiusKm: MAX_RADIUS_KM }).radiusKm, 50);
  assertRefused(
    { mode: "pipe", target, radiusKm: MAX_RADIUS_KM + 0.5 },
    "radiusKm",
    "at most 50 km",
  );
  assertRefused({ mode: "pipe", target, radiusKm: 0 }, "radiusKm", "more than 0 km");
  assertRefused({ mode: "pipe", target, radiusKm: NaN }, "radiusKm", "more than 0 km");
});

Deno.test("resolveBenchOptions() holds the WHATSAT bound to the protocol's MIN_BOUND..MAX_BOUND", () => {
  for (const bound of [MIN_BOUND, MAX_BOUND]) {
    assert.equal(resolveBenchOptions({ mode: "pipe", target, bound }).bound, bound);
  }
  assertRefused({ mode: "pipe", target, bound: MAX_BOUND + 1 }, "bound", "at most 20");
  assertRefused({ mode: "pipe", target, bound: MIN_BOUND - 1 }, "bound", "at least 1");
  assertRefused({ mode: "pipe", target, bound: 2.5 }, "bound", "a whole number");
});

Deno.test("resolveBenchOptions() refuses a target2 that does not fit the mode", () => {
  assertRefused({ mode: "propagation", target }, "target2", "given in propagation mode");
  assertRefused({ mode: "pipe", target, target2: target }, "target2", "absent in pipe mode");
  assertRefused(
    { mode: "propagation", target, target2: target, kind: "whatsat" },
    "kind",
    "iamat in propagation mode",
  );
});

Deno.test("resolveBenchOptions() refuses counts below 1 and times that are not > 0", async (t) => {
  const cases: Array<[Partial<BenchOptions>, keyof BenchOptions, string]> = [
    [{ requests: 0 }, "requests", "a whole number >= 1"],
    [{ concurrency: 1.5 }, "concurrency", "a whole number >= 1"],
    [{ window: -1 }, "window", "a whole number >= 1"],
    [{ durationMs: 0 }, "durationMs", "a number > 0"],
    [{ timeoutMs: -5 }, "timeoutMs", "a number > 0"],
    [{ ratePerSecond: Infinity }, "ratePerSecond", "a number > 0"],
    [{ progressIntervalMs: 0 }, "progressIntervalMs", "a number > 0"],
  ];
  for (const [extra, option, requirement] of cases) {
    await t.step(JSON.stringify(extra), () => {
      assertRefused({ mode: "pipe", target, ...extra }, option, requirement);
    });
  }
});

Deno.test("resolveBenchOptions() refuses an unknown mode or kind", () => {
  assertRefused({ mode: "flood" as "pipe", target }, "mode", /^one of conn, pipe, propagation$/);
  assertRefused({ mode: "pipe", kind: "at" as "iamat", target }, "kind", /^one of iamat, whatsat$/);
});

import assert from "node:assert/strict";
import { parseDecimal } from "../../src/protocol/decimal.ts";
import { formatSkew, isSkew, skewNanos } from "../../src/protocol/skew.ts";
import { randomInt, seeded } from "./_random.ts";

Deno.test("formatSkew() prints a positive skew with a plus sign and 9 fraction digits", () => {
  assert.equal(formatSkew(263873386n), "+0.263873386");
});

Deno.test("formatSkew() prints a negative skew with a minus sign", () => {
  assert.equal(formatSkew(-1000n), "-0.000001000");
});

Deno.test("formatSkew() prints zero as +0.000000000", () => {
  assert.equal(formatSkew(0n), "+0.000000000");
});

Deno.test("formatSkew() pads the fraction to exactly 9 digits", async (t) => {
  const cases: [bigint, string][] = [
    [1n, "+0.000000001"],
    [-1n, "-0.000000001"],
    [999_999_999n, "+0.999999999"],
    [1_000_000_000n, "+1.000000000"],
    [-1_500_000_000n, "-1.500000000"],
    [12_000_000_010n, "+12.000000010"],
  ];
  for (const [ns, text] of cases) {
    await t.step(text, () => assert.equal(formatSkew(ns), text));
  }
});

Deno.test("formatSkew() prints large skews exactly", async (t) => {
  const cases: [bigint, string][] = [
    [1621464827959498503n, "+1621464827.959498503"],
    [-1621464827959498503n, "-1621464827.959498503"],
    [10n ** 30n + 7n, "+1000000000000000000000.000000007"],
  ];
  for (const [ns, text] of cases) {
    await t.step(text, () => assert.equal(formatSkew(ns), text));
  }
});

Deno.test("skewNanos() subtracts the client time from the receive time exactly", () => {
  const ns = skewNanos(1621464828223372000n, parseDecimal("1621464827.959498503"));
  assert.equal(ns, 263873497n);
  assert.equal(formatSkew(ns), "+0.263873497");
});

Deno.test("skewNanos() is negative when the client clock is ahead", () => {
  const ns = skewNanos(1621464827959497503n, parseDecimal("1621464827.959498503"));
  assert.equal(ns, -1000n);
  assert.equal(formatSkew(ns), "-0.000001000");
});

Deno.test("skewNanos() resolves a 1 ns difference a float would lose", () => {
  // The premise: as doubles the two times are the same number of nanoseconds.
  assert.equal(Number(1621464827959498504n), Number(1621464827959498503n));
  assert.equal(skewNanos(1621464827959498504n, parseDecimal("1621464827.959498503")), 1n);
});

Deno.test("skewNanos() accepts a client time without fraction digits", () => {
  assert.equal(skewNanos(1_700_000_000_250_000_000n, parseDecimal("1700000000")), 250_000_000n);
});

Deno.test("skewNanos() truncates client time digits beyond the ninth", () => {
  assert.equal(skewNanos(2_000_000_000n, parseDecimal("1.0000000019")), 999_999_999n);
});

Deno.test("isSkew() accepts what formatSkew() prints", () => {
  const seed = 131;
  const random = seeded(seed);
  for (let i = 0; i < 1000; i++) {
    const magnitude = BigInt(randomInt(random, 2 ** 31)) * BigInt(10 ** randomInt(random, 10));
    const ns = randomInt(random, 2) === 0 ? magnitude : -magnitude;
    assert.equal(isSkew(formatSkew(ns)), true, `${formatSkew(ns)} (seed ${seed})`);
  }
});

Deno.test("isSkew() accepts a signed decimal with exactly 9 fraction digits", async (t) => {
  for (
    const text of [
      "+0.263873386",
      "-0.000001000",
      "+0.000000000",
      "-0.000000000",
      "+123456789.123456789",
    ]
  ) {
    await t.step(text, () => assert.equal(isSkew(text), true));
  }
});

Deno.test("isSkew() rejects anything else", async (t) => {
  const bad = [
    "0.263873386",
    "+0.26387338",
    "+0.2638733860",
    "+.263873386",
    "+0",
    "+0.",
    "+1e-9",
    "",
    "+ 0.263873386",
    "++0.263873386",
    "+0.26387338a",
    "+\u0660.263873386",
    "+0.263873386\n",
    " +0.263873386",
  ];
  for (const text of bad) {
    await t.step(JSON.stringify(text), () => assert.equal(isSkew(text), false));
  }
});

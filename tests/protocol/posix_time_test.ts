import assert from "node:assert/strict";
import { compareDecimal, decimalToNanos, parseDecimal } from "../../src/protocol/decimal.ts";
import { formatPosixTime } from "../../src/protocol/posix_time.ts";
import { randomInt, seeded } from "./_random.ts";

Deno.test("formatPosixTime() prints exact digits from integer nanoseconds", async (t) => {
  const cases: [bigint, number, string][] = [
    // The time issue 10 saw printed as 1796086940.206000090 by a float.
    [1_796_086_940_206_000_000n, 9, "1796086940.206000000"],
    [1_796_086_940_206_000_000n, 6, "1796086940.206000"],
    [1_796_086_940_206_000_000n, 3, "1796086940.206"],
    [1_796_086_940_206_000_000n, 0, "1796086940"],
    [1_621_464_827_959_498_503n, 9, "1621464827.959498503"],
    [0n, 9, "0.000000000"],
    [1n, 9, "0.000000001"],
    [999_999_999n, 9, "0.999999999"],
    [1_000_000_000n, 9, "1.000000000"],
    [12_000_000_010n, 9, "12.000000010"],
  ];
  for (const [ns, digits, text] of cases) {
    await t.step(`${ns} ns, ${digits} digits -> ${text}`, () => {
      assert.equal(formatPosixTime(ns, digits), text);
    });
  }
});

Deno.test("formatPosixTime() truncates, never rounding up into the next second", async (t) => {
  const cases: [bigint, number, string][] = [
    [1_999_999_999n, 6, "1.999999"],
    [1_999_999_999n, 3, "1.999"],
    [1_999_999_999n, 0, "1"],
    [1_621_464_827_959_498_503n, 6, "1621464827.959498"],
  ];
  for (const [ns, digits, text] of cases) {
    await t.step(`${ns} ns, ${digits} digits -> ${text}`, () => {
      assert.equal(formatPosixTime(ns, digits), text);
    });
  }
});

Deno.test("formatPosixTime() defaults to 9 fraction digits", () => {
  assert.equal(formatPosixTime(1_000_000_001n), "1.000000001");
});

Deno.test("formatPosixTime() output parses back to the same nanoseconds", () => {
  const random = seeded(10);
  for (let i = 0; i < 1000; i++) {
    const ns = BigInt(randomInt(random, 2 ** 31)) * 1_000_000_000n +
      BigInt(randomInt(random, 1_000_000_000));
    const text = formatPosixTime(ns);
    assert.match(text, /^[0-9]+\.[0-9]{9}$/);
    assert.equal(decimalToNanos(parseDecimal(text)), ns, text);
  }
});

Deno.test("formatPosixTime() of a later time is a later client time", () => {
  const earlier = parseDecimal(formatPosixTime(1_796_086_940_206_000_000n));
  const later = parseDecimal(formatPosixTime(1_796_086_940_206_000_001n));
  assert.ok(compareDecimal(earlier, later) < 0);
});

Deno.test("formatPosixTime() throws RangeError on a negative time or bad digit count", () => {
  assert.throws(() => formatPosixTime(-1n), RangeError);
  assert.throws(() => formatPosixTime(0n, 10), RangeError);
  assert.throws(() => formatPosixTime(0n, -1), RangeError);
  assert.throws(() => formatPosixTime(0n, 1.5), RangeError);
});

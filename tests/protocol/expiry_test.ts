import assert from "node:assert/strict";
import {
  decimalToNanos,
  expiryCutoff,
  isExpired,
  isOlderThan,
  parseDecimal,
} from "../../src/protocol/mod.ts";
import { randomDigits, randomInt, seeded } from "./_random.ts";

/** 1800000000.5 s: the `now` of most rows. */
const NOW = 1_800_000_000_500_000_000n;

Deno.test("isExpired() is time < now - ttl, exactly, and never with a TTL of 0", async (t) => {
  // [name, client time, now ns, ttl s, expired]
  const table: Array<[string, string, bigint, number, boolean]> = [
    ["TTL 0 keeps the oldest time", "0", NOW, 0, false],
    ["TTL 0 keeps time 1", "1", NOW, 0, false],
    ["well within the TTL", "1800000000", NOW, 10, false],
    ["exactly now - ttl is not older: kept", "1799999990.5", NOW, 10, false],
    ["the same instant with trailing zeros", "1799999990.500000000000", NOW, 10, false],
    ["the same instant with leading zeros", "0001799999990.5", NOW, 10, false],
    ["one nanosecond older", "1799999990.499999999", NOW, 10, true],
    ["a tenth of a nanosecond older", "1799999990.4999999999", NOW, 10, true],
    ["a tenth of a nanosecond younger", "1799999990.5000000001", NOW, 10, false],
    ["digits past the ninth that round up in a float", "1799999990.49999999999999", NOW, 10, true],
    ["one second older, no fraction", "1799999989", NOW, 10, true],
    ["one second younger, no fraction", "1799999991", NOW, 10, false],
    ["the whole second before, long fraction", "1799999990.0", NOW, 10, true],
    ["shorter whole part", "179999999", NOW, 10, true],
    ["time 0", "0", NOW, 10, true],
    ["time 0.0", "0.000", NOW, 10, true],
    ["a time from the future", "1900000000", NOW, 10, false],
    ["a whole part of 16 digits", "1000000000000000", NOW, 10, false],
    ["a whole part of 30 digits", "123456789012345678901234567890.1", NOW, 10, false],
    ["ten years' TTL, a second older", "1483775999.5", NOW, 10 * 366 * 24 * 3600, true],
    ["ten years' TTL, exactly", "1483776000.5", NOW, 10 * 366 * 24 * 3600, false],
    ["a cutoff before 1970 expires nothing", "0", 5_000_000_000n, 10, false],
    ["a cutoff at 0 expires nothing", "0", 10_000_000_000n, 10, false],
    ["a cutoff at 1 ns", "0", 10_000_000_001n, 10, true],
    ["a cutoff at 1 ns, the same instant", "0.000000001", 10_000_000_001n, 10, false],
  ];
  for (const [name, time, now, ttl, expired] of table) {
    await t.step(`${name}: ${time}`, () => {
      assert.equal(isExpired(time, now, ttl), expired);
    });
  }
});

Deno.test("expiryCutoff() splits now - ttl into seconds and nanoseconds", async (t) => {
  const table: Array<[bigint, number, { seconds: number; nanos: number } | null]> = [
    [NOW, 10, { seconds: 1_799_999_990, nanos: 500_000_000 }],
    [NOW, 1, { seconds: 1_799_999_999, nanos: 500_000_000 }],
    [1_000_000_000_000_000_001n, 1, { seconds: 999_999_999, nanos: 1 }],
    [NOW, 0, null],
    [1n, 1, null],
  ];
  for (const [now, ttl, cutoff] of table) {
    await t.step(`${now} ns, ${ttl} s`, () => assert.deepEqual(expiryCutoff(now, ttl), cutoff));
  }
});

Deno.test("expiryCutoff() refuses a TTL that is not whole seconds >= 0, and an absurd now", () => {
  for (const ttl of [-1, 1.5, NaN, Infinity]) {
    assert.throws(() => expiryCutoff(NOW, ttl), RangeError, `ttl ${ttl}`);
  }
  assert.throws(() => expiryCutoff(10n ** 25n, 1), RangeError);
});

Deno.test("isOlderThan() agrees with an exact bigint comparison on random times", () => {
  const seed = 20261201;
  const random = seeded(seed);
  for (let i = 0; i < 20_000; i++) {
    // Times near the cutoff, so that every digit position gets to decide.
    const whole = String(1_799_999_988 + randomInt(random, 5));
    const time = randomInt(random, 4) === 0
      ? whole
      : `${whole}.${randomDigits(random, 1 + randomInt(random, 14))}`;
    const now = NOW + BigInt(randomInt(random, 2_000_000_000)) - 1_000_000_000n;
    const ttl = 10;
    const cutoff = expiryCutoff(now, ttl)!;
    // Exact for a cutoff in whole nanoseconds: time < c <=> floor(time in ns) < c.
    const reference = decimalToNanos(parseDecimal(time)) < now - BigInt(ttl) * 1_000_000_000n;
    assert.equal(isOlderThan(time, cutoff), reference, `seed ${seed}, ${time} vs ${now}`);
    assert.equal(isExpired(time, now, ttl), reference);
  }
});

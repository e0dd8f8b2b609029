import assert from "node:assert/strict";
import {
  compareDecimal,
  decimalOf,
  decimalToNanos,
  isZero,
  parseDecimal,
} from "../../src/protocol/decimal.ts";
import { randomDigits, randomInt, seeded } from "./_random.ts";

Deno.test("parseDecimal() parses an integer with an empty fraction", () => {
  assert.deepEqual(parseDecimal("1621464827"), { whole: 1621464827n, fraction: "" });
});

Deno.test("parseDecimal() parses the whole and fraction digits", () => {
  assert.deepEqual(parseDecimal("1621464827.959498503"), {
    whole: 1621464827n,
    fraction: "959498503",
  });
});

Deno.test("parseDecimal() drops trailing zeros of the fraction", async (t) => {
  const cases: [string, bigint, string][] = [
    ["1.500", 1n, "5"],
    ["2.0", 2n, ""],
    ["2.000000000000", 2n, ""],
    ["0.1020", 0n, "102"],
  ];
  for (const [text, whole, fraction] of cases) {
    await t.step(text, () => {
      assert.deepEqual(parseDecimal(text), { whole, fraction });
    });
  }
});

Deno.test("parseDecimal() keeps leading zeros of the fraction", () => {
  assert.deepEqual(parseDecimal("0.05"), { whole: 0n, fraction: "05" });
});

Deno.test("parseDecimal() keeps any number of fraction digits", () => {
  const fraction = "123456789012345678901234567891";
  assert.equal(parseDecimal(`7.${fraction}`).fraction, fraction);
});

Deno.test("parseDecimal() keeps a whole part beyond 2^53 exactly", () => {
  assert.equal(parseDecimal("9007199254740993.5").whole, 9007199254740993n);
});

Deno.test("parseDecimal() accepts leading zeros in the whole part", () => {
  assert.deepEqual(parseDecimal("007.5"), { whole: 7n, fraction: "5" });
});

Deno.test("parseDecimal() rejects text that is not D+[.D+]", async (t) => {
  const bad = [
    "",
    "+1",
    "-1",
    "1e9",
    "1E9",
    "1.5e3",
    ".5",
    "5.",
    ".",
    " 1",
    "1 ",
    "1\n",
    "1.2.3",
    "1,5",
    "0x10",
    "1_000",
    "Infinity",
    "NaN",
    "\u0661\u0662", // Arabic-Indic digits
    "\uff11", // fullwidth 1
  ];
  for (const text of bad) {
    await t.step(JSON.stringify(text), () => {
      assert.throws(() => parseDecimal(text), SyntaxError);
    });
  }
});

Deno.test("parseDecimal() names the action and the text in its error", () => {
  assert.throws(() => parseDecimal("-1"), {
    name: "SyntaxError",
    message: 'Cannot parse decimal: expected digits[.digits], got "-1"',
  });
});

Deno.test("compareDecimal() orders by the whole part before the fraction", () => {
  assert.equal(compareDecimal(parseDecimal("2"), parseDecimal("1.999999")), 1);
  assert.equal(compareDecimal(parseDecimal("1.999999"), parseDecimal("2")), -1);
  assert.equal(compareDecimal(parseDecimal("9"), parseDecimal("10")), -1);
});

Deno.test("compareDecimal() distinguishes values a float cannot", () => {
  const a = "1621464827.959498503";
  const b = "1621464827.959498504";
  // The premise: as doubles these two are the same number.
  assert.equal(Number(a), Number(b));
  assert.equal(compareDecimal(parseDecimal(a), parseDecimal(b)), -1);
  assert.equal(compareDecimal(parseDecimal(b), parseDecimal(a)), 1);
});

Deno.test("compareDecimal() compares 30 fraction digits exactly", () => {
  const a = parseDecimal("0.123456789012345678901234567890");
  const b = parseDecimal("0.123456789012345678901234567891");
  assert.equal(compareDecimal(a, b), -1);
  assert.equal(compareDecimal(b, a), 1);
});

Deno.test("compareDecimal() treats values differing only in trailing zeros as equal", async (t) => {
  for (const [a, b] of [["1.5", "1.50"], ["3", "3.000"], ["0", "0.0"], ["00012.340", "12.34"]]) {
    await t.step(`${a} = ${b}`, () => {
      assert.equal(compareDecimal(parseDecimal(a), parseDecimal(b)), 0);
    });
  }
});

Deno.test("compareDecimal() compares fractions of different lengths by value", async (t) => {
  const lessThan: [string, string][] = [
    ["0.49999", "0.5"],
    ["0.1", "0.10001"],
    ["0.09", "0.1"],
    ["0.001", "0.01"],
    ["5", "5.000000000000000000000000000001"],
  ];
  for (const [a, b] of lessThan) {
    await t.step(`${a} < ${b}`, () => {
      assert.equal(compareDecimal(parseDecimal(a), parseDecimal(b)), -1);
      assert.equal(compareDecimal(parseDecimal(b), parseDecimal(a)), 1);
    });
  }
});

Deno.test("compareDecimal() agrees with exact bigint arithmetic on random decimals", () => {
  const seed = 6709;
  const random = seeded(seed);
  /** The value scaled by 10^scale, as a bigint. */
  const scaled = (text: string, scale: number): bigint => {
    const [whole, fraction = ""] = text.split(".");
    return BigInt(whole + fraction.padEnd(scale, "0"));
  };
  const randomDecimal = (): string => {
    const whole = randomDigits(random, 1 + randomInt(random, 3));
    const fractionLength = randomInt(random, 8);
    return fractionLength === 0 ? whole : `${whole}.${randomDigits(random, fractionLength)}`;
  };
  for (let i = 0; i < 2000; i++) {
    const a = randomDecimal();
    const b = randomDecimal();
    const x = scaled(a, 8);
    const y = scaled(b, 8);
    const expected = x < y ? -1 : x > y ? 1 : 0;
    assert.equal(
      compareDecimal(parseDecimal(a), parseDecimal(b)),
      expected,
      `${a} vs ${b} (seed ${seed})`,
    );
  }
});

Deno.test("decimalToNanos() converts whole seconds", () => {
  assert.equal(decimalToNanos(parseDecimal("3")), 3_000_000_000n);
});

Deno.test("decimalToNanos() pads a short fraction to nanoseconds", () => {
  assert.equal(decimalToNanos(parseDecimal("1.5")), 1_500_000_000n);
  assert.equal(decimalToNanos(parseDecimal("0.000001")), 1_000n);
});

Deno.test("decimalToNanos() is exact for a 19-digit nanosecond time", () => {
  assert.equal(decimalToNanos(parseDecimal("1621464827.959498503")), 1621464827959498503n);
});

Deno.test("decimalToNanos() truncates digits beyond the ninth", async (t) => {
  const cases: [string, bigint][] = [
    ["0.9999999999", 999_999_999n],
    ["1.0000000019", 1_000_000_001n],
    ["0.0000000009", 0n],
    ["2.123456789999999999999999", 2_123_456_789n],
  ];
  for (const [text, ns] of cases) {
    await t.step(text, () => {
      assert.equal(decimalToNanos(parseDecimal(text)), ns);
    });
  }
});

Deno.test("isZero() is true for every spelling of zero", async (t) => {
  for (const text of ["0", "0.0", "000.000000000"]) {
    await t.step(text, () => assert.equal(isZero(parseDecimal(text)), true));
  }
});

Deno.test("isZero() is false for any non-zero value", async (t) => {
  for (const text of ["1", "0.000000000000000000001", "10.0"]) {
    await t.step(text, () => assert.equal(isZero(parseDecimal(text)), false));
  }
});

Deno.test("decimalOf() makes a decimal equal to the parsed whole number", () => {
  assert.equal(compareDecimal(decimalOf(50), parseDecimal("50.000")), 0);
  assert.deepEqual(decimalOf(12345678901234567890n), {
    whole: 12345678901234567890n,
    fraction: "",
  });
});

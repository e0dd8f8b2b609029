/**
 * Parser fuzz tests: thousands of random and mutated lines through `parseMessage()`. It must
 * never throw, must return a well-formed message of a known kind whose fields agree with an
 * independent reading of the line, and every line it accepts must survive formatting and parsing
 * again. Seeded: a failure names the seed and the line, so it replays.
 */

import assert from "node:assert/strict";
import {
  formatAsk,
  formatAt,
  formatDigest,
  formatErase,
  formatHello,
  formatKeepalive,
  formatTreeIds,
  formatWant,
  MAX_BOUND,
  MAX_RADIUS_KM,
  type Message,
  parseMessage,
  TREE_MARK,
  unicodeToWire,
  type WireText,
} from "../../src/protocol/mod.ts";
import { fuzzLine, mutatedLine, randomBytesLine, tokenSoup, VALID_LINES } from "./_fuzz_lines.ts";
import { randomInt, seeded } from "./_random.ts";

/** Seeds of the main run; each drives LINES_PER_SEED lines. */
const SEEDS = [1, 2, 3, 0x5eed, 20261121];
const LINES_PER_SEED = 4000;

/** The protocol's field separators (PROTOCOL.md section 1), read independently of fields.ts. */
const SEPARATORS = /[ \t\n\v\f\r]+/;
const ISO6709 = /^[+-][0-9]{1,2}(\.[0-9]+)?[+-][0-9]{1,3}(\.[0-9]+)?$/;
const DECIMAL = /^[0-9]+(\.[0-9]+)?$/;
const SKEW = /^[+-][0-9]+\.[0-9]{9}$/;

function fieldsOf(line: WireText): string[] {
  return line.split(SEPARATORS).filter((f) => f !== "");
}

/** Checks the exact time fields of an IAMAT or a record against their text. */
function checkTime(m: { clientTime: { whole: bigint; fraction: string }; clientTimeText: string }) {
  assert.match(m.clientTimeText, DECIMAL);
  const [whole, fraction = ""] = m.clientTimeText.split(".");
  assert.equal(m.clientTime.whole, BigInt(whole));
  assert.equal(m.clientTime.fraction, fraction.replace(/0+$/, ""));
}

/** Checks a parsed location against its text: syntax, range, and the signs. */
function checkLocation(loc: { text: string; latitude: number; longitude: number }, text: string) {
  assert.equal(loc.text, text);
  assert.match(text, ISO6709);
  assert.ok(Number.isFinite(loc.latitude) && Math.abs(loc.latitude) <= 90, "latitude in range");
  assert.ok(Number.isFinite(loc.longitude) && Math.abs(loc.longitude) <= 180, "longitude in range");
  const lonSign = text.slice(1).search(/[+-]/) + 1;
  if (loc.latitude !== 0) assert.equal(loc.latitude < 0, text[0] === "-", "latitude sign");
  if (loc.longitude !== 0) assert.equal(loc.longitude < 0, text[lonSign] === "-", "longitude sign");
}

/**
 * Checks one line's parse: no throw, a known kind, fields that match the line, and a round trip
 * through the module's formatters where it has them.
 *
 * @returns The message kind, for the tally.
 */
function checkLine(line: WireText): Message["kind"] {
  for (let i = 0; i < line.length; i++) {
    assert.ok(line.charCodeAt(i) <= 0xff, "the generator made wire text (char codes 0..255)");
  }
  const m = parseMessage(line);
  assert.deepEqual(parseMessage(line), m, "parsing is deterministic");
  const fields = fieldsOf(line);
  if (fields.length === 0) {
    assert.equal(m.kind, "empty");
    return m.kind;
  }
  switch (m.kind) {
    case "empty":
      assert.fail("a line with fields parsed as empty");
      break;
    case "invalid":
      assert.equal(typeof m.reason, "string");
      assert.ok(m.reason.startsWith("Cannot parse"), `reason ${JSON.stringify(m.reason)}`);
      break;
    case "IAMAT": {
      assert.equal(fields.length, 4);
      assert.equal(fields[0], "IAMAT");
      assert.equal(m.clientId, fields[1]);
      checkLocation(m.location, fields[2]);
      assert.equal(m.clientTimeText, fields[3]);
      checkTime(m);
      // Round trip: the record this IAMAT makes, as an AT line, parses back to the same record.
      const record = {
        origin: "Fuzz",
        skew: "+0.000000000",
        clientId: m.clientId,
        location: m.location,
        clientTime: m.clientTime,
        clientTimeText: m.clientTimeText,
      };
      const at = formatAt(record);
      assert.equal(at, `AT Fuzz +0.000000000 ${fields.slice(1).join(" ")}`);
      assert.deepEqual(parseMessage(at), { kind: "AT", record, tree: false });
      break;
    }
    case "WHATSAT": {
      assert.equal(fields.length, 4);
      assert.equal(fields[0], "WHATSAT");
      assert.equal(m.clientId, fields[1]);
      assert.match(fields[2], DECIMAL);
      assert.ok(m.radiusKm > 0 && m.radiusKm <= MAX_RADIUS_KM, `radius ${m.radiusKm}`);
      assert.ok(Number.isInteger(m.bound) && m.bound >= 1 && m.bound <= MAX_BOUND);
      assert.equal(m.bound, Number(fields[3]));
      // No formatter: the single-spaced form of the same fields parses to the same message.
      assert.deepEqual(parseMessage(fields.join(" ")), m);
      break;
    }
    case "AT": {
      assert.equal(fields.length, m.tree ? 7 : 6);
      if (m.tree) assert.equal(fields[6], TREE_MARK);
      assert.equal(fields[0], "AT");
      const r = m.record;
      assert.equal(r.origin, fields[1]);
      assert.match(r.skew, SKEW);
      assert.equal(r.skew, fields[2]);
      assert.equal(r.clientId, fields[3]);
      checkLocation(r.location, fields[4]);
      assert.equal(r.clientTimeText, fields[5]);
      checkTime(r);
      assert.equal(formatAt(r), fields.slice(0, 6).join(" "));
      assert.deepEqual(parseMessage(formatAt(r)), { ...m, tree: false });
      break;
    }
    case "IHAVE":
    case "GRAFT": {
      assert.equal(fields.length, 1 + 2 * m.ids.length);
      const pairs = m.ids.map((id) => [id.clientId, id.clientTimeText] as const);
      assert.equal(formatTreeIds(m.kind, pairs, Infinity), fields.join(" ") + "\n");
      for (const id of m.ids) assert.equal(typeof id.clientTime.whole, "bigint");
      break;
    }
    case "PRUNE":
      assert.deepEqual(fields, ["PRUNE"]);
      break;
    case "ERASE":
      assert.equal(fields.length, 4);
      assert.equal(formatErase(m.tombstone), fields.join(" "));
      assert.deepEqual(parseMessage(formatErase(m.tombstone)), m);
      break;
    case "HERD": {
      assert.ok(fields.length >= 3);
      assert.equal(fields[0], "HERD");
      assert.equal(m.version, "1");
      assert.equal(m.name, fields[2]);
      assert.ok(m.params.size <= fields.length - 3);
      for (const [key] of m.params) assert.ok(key !== "" && !key.includes("="), `key ${key}`);
      const again = parseMessage(formatHello(m.name, m.params));
      assert.deepEqual(again, m);
      break;
    }
    case "DIGEST": {
      assert.equal(fields[0], "DIGEST");
      assert.match(m.prefix, /^[0-9a-f]{0,3}$/);
      assert.equal(m.children.length, 16);
      for (const c of m.children) {
        assert.ok(Number.isSafeInteger(c.count) && c.count >= 0);
        for (const half of [c.hi, c.lo]) {
          assert.ok(Number.isInteger(half) && half >= 0 && half < 2 ** 32);
        }
      }
      assert.equal(formatDigest(m.prefix, m.children), fields.join(" "));
      assert.deepEqual(parseMessage(formatDigest(m.prefix, m.children)), m);
      break;
    }
    case "WANT":
    case "ASK": {
      assert.ok(fields.length >= 2 && fields.length <= 17);
      for (const prefix of m.prefixes) assert.match(prefix, /^[0-9a-f]{0,4}$/);
      const format = m.kind === "WANT" ? formatWant : formatAsk;
      assert.equal(format(m.prefixes), fields.join(" "));
      assert.deepEqual(parseMessage(format(m.prefixes)), m);
      break;
    }
    case "HAVE": {
      assert.match(m.prefix, /^[0-9a-f]{0,4}$/);
      assert.ok(m.times.size <= fields.length - 2);
      for (const [key, time] of m.times) {
        assert.ok(Number.isInteger(key) && key >= 0 && key < 2 ** 32);
        if (time !== null) assert.equal(typeof time.whole, "bigint");
      }
      break;
    }
    case "PING":
    case "PONG":
      assert.deepEqual(fields, [m.kind, m.token]);
      assert.equal(formatKeepalive(m.kind, m.token), fields.join(" "));
      break;
    default: {
      const unknown: never = m;
      assert.fail(`unknown message kind ${Deno.inspect(unknown)}`);
    }
  }
  return m.kind;
}

/** Runs `checkLine` over generated lines, naming the seed, index and line on failure. */
function fuzz(
  seed: number,
  count: number,
  generate: (random: () => number) => WireText,
): Map<string, number> {
  const random = seeded(seed);
  const kinds = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const line = generate(random);
    let kind: string;
    try {
      kind = checkLine(line);
    } catch (e) {
      assert.fail(
        `seed ${seed}, line ${i}: ${JSON.stringify(line)}: ${e instanceof Error ? e.message : e}`,
      );
    }
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return kinds;
}

Deno.test("parseMessage() accepts every seed line of the fuzz corpus as its own kind", () => {
  const kinds = VALID_LINES.map((line) => checkLine(line));
  assert.deepEqual(
    new Set(kinds),
    new Set(
      ["IAMAT", "WHATSAT", "AT", "HERD", "DIGEST", "WANT", "ASK", "HAVE", "IHAVE", "GRAFT"].concat([
        "PRUNE",
        "PING",
        "PONG",
        "ERASE",
      ]),
    ),
  );
});

Deno.test("parseMessage() never throws and returns well-formed messages on fuzzed lines", () => {
  const total = new Map<string, number>();
  for (const seed of SEEDS) {
    for (const [kind, n] of fuzz(seed, LINES_PER_SEED, (r) => fuzzLine(r))) {
      total.set(kind, (total.get(kind) ?? 0) + n);
    }
  }
  // The mutations must leave some lines valid, or the round-trip checks never ran.
  for (
    const kind of [
      "IAMAT",
      "WHATSAT",
      "AT",
      "HERD",
      "DIGEST",
      "WANT",
      "ASK",
      "HAVE",
      "invalid",
      "empty",
    ]
  ) {
    assert.ok((total.get(kind) ?? 0) > 0, `no ${kind} among ${Deno.inspect(total)}`);
  }
});

Deno.test("parseMessage() survives random bytes, token soups and mutations separately", async (t) => {
  await t.step("random bytes (NUL, CR, tabs, invalid UTF-8 included)", () => {
    const kinds = fuzz(101, 3000, (r) => randomBytesLine(r, 200));
    assert.ok((kinds.get("invalid") ?? 0) > 2500);
  });
  await t.step("token soups", () => {
    fuzz(102, 3000, tokenSoup);
  });
  await t.step("mutated valid lines", () => {
    const kinds = fuzz(103, 3000, (r) => mutatedLine(r));
    assert.ok((kinds.get("invalid") ?? 0) > 0 && kinds.size > 3);
  });
});

Deno.test("parseMessage() handles huge fields and long runs without throwing", () => {
  const random = seeded(104);
  const digits = (n: number) => Array.from({ length: n }, () => randomInt(random, 10)).join("");
  const lines = [
    " ".repeat(100_000),
    "\t\r\v\f ".repeat(10_000) + "IAMAT",
    `IAMAT ${"k".repeat(60_000)} +34-118 ${digits(50_000)}.${digits(50_000)}`,
    `IAMAT kiwi +${digits(3000)}-118 1`,
    `IAMAT kiwi +34.${digits(20_000)}-118.${digits(20_000)} 1`,
    `WHATSAT kiwi ${digits(10_000)} 5`,
    `WHATSAT kiwi 50.${"0".repeat(10_000)}1 5`,
    `WHATSAT kiwi 10 ${"0".repeat(10_000)}5`,
    `AT Hill +${digits(10_000)}.000000000 kiwi +34-118 1`,
    `HERD 1 Hill ${Array.from({ length: 5000 }, (_, i) => `k${i}=v`).join(" ")}`,
    `DIGEST - ${Array(16).fill(`${digits(17)}:0123456789abcdef`).join(" ")}`,
    `DIGEST - ${Array(16).fill("9007199254740993:0123456789abcdef").join(" ")}`,
    "WANT " + "f".repeat(5),
    "IAMAT\0kiwi +34-118 1",
    unicodeToWire("IAMAT kiwi +３４-118 1"),
    "IAMAT kiwi +34-118 1\xa0",
    "IAMAT kiwi +34-118 1\x85",
  ];
  lines.forEach((line, i) => {
    try {
      checkLine(line);
    } catch (e) {
      assert.fail(`huge line ${i}: ${e instanceof Error ? e.message : e}`);
    }
  });
  // Bytes 0xA0 and 0x85 are not white space: they stay in the field and make it invalid.
  assert.equal(parseMessage("IAMAT kiwi +34-118 1\xa0").kind, "invalid");
  assert.equal(parseMessage("IAMAT kiwi +34-118 1\x85").kind, "invalid");
  assert.equal(parseMessage(`WHATSAT kiwi 50.${"0".repeat(10_000)}1 5`).kind, "invalid");
  assert.equal(parseMessage(`WHATSAT kiwi 50.${"0".repeat(10_000)} 5`).kind, "WHATSAT");
});

// Found by this fuzz test: the radius is range-checked exactly (0.000...01 > 0 is accepted) but
// reported as Number(text), which underflows to 0 for a radius below about 5e-324 km, so the
// message claims a radius of 0 against PROTOCOL.md section 2 (0 < r <= 50). Unignore once
// parseWhatsat rejects (or keeps positive) radii that are not representable as a float.
Deno.test("parseMessage() never reports a WHATSAT radius of 0 for a positive radius below float range", () => {
  const m = parseMessage(`WHATSAT kiwi 0.${"0".repeat(400)}1 5`);
  if (m.kind === "WHATSAT") assert.ok(m.radiusKm > 0, `radiusKm ${m.radiusKm}`);
  else assert.equal(m.kind, "invalid");
});

import assert from "node:assert/strict";
import {
  formatHello,
  formatKeepalive,
  formatTreeIds,
  HELLO_VERSION,
  MAX_BOUND,
  MAX_RADIUS_KM,
  type Message,
  MIN_BOUND,
  parseMessage,
} from "../../src/protocol/message.ts";
import { bytesToWire, unicodeToWire } from "../../src/protocol/wire_text.ts";
import { pick, randomInt, seeded } from "./_random.ts";

/** The message, or a failed assertion naming the kind that came out instead. */
function expectKind<K extends Message["kind"]>(
  line: string,
  kind: K,
): Extract<Message, { kind: K }> {
  const m = parseMessage(line);
  if (m.kind !== kind) {
    assert.fail(`${JSON.stringify(line)}: expected ${kind}, got ${Deno.inspect(m)}`);
  }
  return m as Extract<Message, { kind: K }>;
}

/** Asserts the line is invalid and returns its reason. */
function expectInvalid(line: string): string {
  return expectKind(line, "invalid").reason;
}

/** A client id of emoji and invalid UTF-8 bytes (0xFF, a lone 0x80, a cut-off 0xF0 0x9F). */
const ODD_ID = bytesToWire(
  new Uint8Array([0xf0, 0x9f, 0xa6, 0x86, 0x2d, 0xff, 0x80, 0xa0, 0x85, 0xf0, 0x9f]),
);

// --- IAMAT ---

Deno.test("parseMessage() parses the PROTOCOL.md IAMAT example", () => {
  const m = expectKind(
    "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
    "IAMAT",
  );
  assert.equal(m.clientId, "kiwi.cs.ucla.edu");
  assert.equal(m.location.text, "+34.068930-118.445127");
  assert.equal(m.location.latitude, 34.06893);
  assert.equal(m.location.longitude, -118.445127);
  assert.deepEqual(m.clientTime, { whole: 1621464827n, fraction: "959498503" });
  assert.equal(m.clientTimeText, "1621464827.959498503");
});

Deno.test("parseMessage() accepts IAMAT fields separated by any white-space run", () => {
  const m = expectKind("\t IAMAT\v\fkiwi \r\n +34-118\t\t1621464827 \r", "IAMAT");
  assert.equal(m.clientId, "kiwi");
  assert.equal(m.location.text, "+34-118");
  assert.equal(m.clientTimeText, "1621464827");
});

Deno.test("parseMessage() keeps an IAMAT client id byte for byte", () => {
  const m = expectKind(`IAMAT ${ODD_ID} +34-118 1`, "IAMAT");
  assert.equal(m.clientId, ODD_ID);
  assert.equal(m.clientId.length, 11);
});

Deno.test("parseMessage() keeps an IAMAT client time verbatim with any number of digits", () => {
  const time = "1621464827.959498503000000000000000000001";
  const m = expectKind(`IAMAT kiwi +34-118 ${time}`, "IAMAT");
  assert.equal(m.clientTimeText, time);
  assert.equal(m.clientTime.fraction, "959498503000000000000000000001");
});

Deno.test("parseMessage() rejects a command name other than IAMAT, WHATSAT, AT or HERD", async (t) => {
  for (
    const name of [
      "iamat",
      "Iamat",
      "IAMAT:",
      "IAMAT\xa0",
      "WHATSAT2",
      "whatsat",
      "at",
      "herd",
      "FOO",
      "?",
    ]
  ) {
    await t.step(JSON.stringify(name), () => {
      expectInvalid(`${name} kiwi +34-118 1621464827.5`);
    });
  }
});

Deno.test("parseMessage() names the unknown command in its reason", () => {
  assert.equal(
    expectInvalid("iamat kiwi +34-118 1"),
    'Cannot parse message: unknown command "iamat"',
  );
});

Deno.test("parseMessage() rejects an IAMAT with other than 4 fields", async (t) => {
  const lines = [
    "IAMAT",
    "IAMAT kiwi",
    "IAMAT kiwi +34-118",
    "IAMAT kiwi +34-118 1621464827.5 extra",
    "IAMAT kiwi +34 -118 1621464827.5",
  ];
  for (const line of lines) {
    await t.step(line, () => {
      assert.match(expectInvalid(line), /^Cannot parse IAMAT: expected 4 fields, got \d+$/);
    });
  }
});

Deno.test("parseMessage() reports the IAMAT field count it got", () => {
  assert.equal(expectInvalid("IAMAT kiwi +34-118"), "Cannot parse IAMAT: expected 4 fields, got 3");
});

Deno.test("parseMessage() rejects an IAMAT with a bad location", async (t) => {
  for (
    const location of [
      "34-118",
      "+034-118",
      "+34-1180",
      "+34.-118",
      "+90.0000001+0",
      "+0+180.00001",
      "+3.4e1-118",
    ]
  ) {
    await t.step(location, () => {
      assert.match(expectInvalid(`IAMAT kiwi ${location} 1621464827.5`), /^Cannot parse IAMAT: /);
    });
  }
});

Deno.test("parseMessage() rejects an IAMAT with a bad client time", async (t) => {
  for (const time of ["-1", "+1", "1e9", ".5", "5.", "abc", "1,5", "1621464827.5s"]) {
    await t.step(time, () => {
      assert.match(expectInvalid(`IAMAT kiwi +34-118 ${time}`), /^Cannot parse IAMAT: /);
    });
  }
});

Deno.test("parseMessage() rejects an IAMAT whose fields are in the wrong order", () => {
  expectInvalid("IAMAT kiwi 1621464827.5 +34-118");
});

// --- WHATSAT ---

Deno.test("parseMessage() parses the PROTOCOL.md WHATSAT example", () => {
  const m = expectKind("WHATSAT kiwi.cs.ucla.edu 10 5", "WHATSAT");
  assert.deepEqual(m, { kind: "WHATSAT", clientId: "kiwi.cs.ucla.edu", radiusKm: 10, bound: 5 });
});

Deno.test("parseMessage() accepts WHATSAT radii in (0, 50] km", async (t) => {
  const cases: [string, number][] = [
    ["0.0000001", 0.0000001],
    ["1", 1],
    ["10.5", 10.5],
    ["49.9999999", 49.9999999],
    ["50", 50],
    ["50.0", 50],
    ["50.000000000000000000", 50],
    ["007", 7],
  ];
  for (const [radius, km] of cases) {
    await t.step(radius, () => {
      assert.equal(expectKind(`WHATSAT kiwi ${radius} 5`, "WHATSAT").radiusKm, km);
    });
  }
});

Deno.test("parseMessage() rejects WHATSAT radii outside (0, 50] km", async (t) => {
  const radii = [
    "0",
    "0.0",
    "000",
    "50.0000001",
    "50.00000000000000000001",
    "51",
    "500",
    "-5",
    "-0",
    "+10",
    "abc",
    "1e1",
    ".5",
    "10.",
    "NaN",
    "Infinity",
  ];
  for (const radius of radii) {
    await t.step(radius, () => {
      assert.match(expectInvalid(`WHATSAT kiwi ${radius} 5`), /^Cannot parse WHATSAT: /);
    });
  }
});

Deno.test("parseMessage() accepts WHATSAT bounds 1 to 20", async (t) => {
  for (const bound of [1, 2, 5, 19, 20]) {
    await t.step(String(bound), () => {
      assert.equal(expectKind(`WHATSAT kiwi 10 ${bound}`, "WHATSAT").bound, bound);
    });
  }
});

Deno.test("parseMessage() rejects WHATSAT bounds that are not integers 1 to 20", async (t) => {
  for (const bound of ["0", "21", "100", "5.0", "-1", "+5", "abc", "1e1", "0x5", "99999999999"]) {
    await t.step(bound, () => {
      assert.match(expectInvalid(`WHATSAT kiwi 10 ${bound}`), /^Cannot parse WHATSAT: /);
    });
  }
});

Deno.test("parseMessage() rejects a WHATSAT with other than 4 fields", async (t) => {
  for (const line of ["WHATSAT", "WHATSAT kiwi", "WHATSAT kiwi 10", "WHATSAT kiwi 10 5 5"]) {
    await t.step(line, () => {
      assert.match(expectInvalid(line), /^Cannot parse WHATSAT: expected 4 fields, got \d+$/);
    });
  }
});

Deno.test("parseMessage() keeps a WHATSAT client id byte for byte", () => {
  assert.equal(expectKind(`WHATSAT ${ODD_ID} 10 5`, "WHATSAT").clientId, ODD_ID);
});

Deno.test("parseMessage() uses the limits named by MAX_RADIUS_KM, MIN_BOUND and MAX_BOUND", () => {
  assert.equal(MAX_RADIUS_KM, 50);
  assert.equal(MIN_BOUND, 1);
  assert.equal(MAX_BOUND, 20);
  expectKind(`WHATSAT kiwi ${MAX_RADIUS_KM} ${MAX_BOUND}`, "WHATSAT");
  expectKind(`WHATSAT kiwi ${MAX_RADIUS_KM} ${MIN_BOUND}`, "WHATSAT");
  expectInvalid(`WHATSAT kiwi ${MAX_RADIUS_KM + 1} ${MAX_BOUND}`);
  expectInvalid(`WHATSAT kiwi ${MAX_RADIUS_KM} ${MAX_BOUND + 1}`);
  expectInvalid(`WHATSAT kiwi ${MAX_RADIUS_KM} ${MIN_BOUND - 1}`);
});

// --- AT ---

Deno.test("parseMessage() parses a flooded AT line into a record", () => {
  const m = expectKind(
    "AT Campbell +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
    "AT",
  );
  assert.deepEqual(m.record, {
    origin: "Campbell",
    skew: "+0.263873386",
    clientId: "kiwi.cs.ucla.edu",
    location: { text: "+34.068930-118.445127", latitude: 34.06893, longitude: -118.445127 },
    clientTime: { whole: 1621464827n, fraction: "959498503" },
    clientTimeText: "1621464827.959498503",
  });
});

Deno.test("parseMessage() keeps an AT client id and origin byte for byte", () => {
  const origin = unicodeToWire("Hill-é");
  const m = expectKind(`AT ${origin} -0.000001000 ${ODD_ID} +34-118 1`, "AT");
  assert.equal(m.record.origin, origin);
  assert.equal(m.record.clientId, ODD_ID);
});

Deno.test("parseMessage() rejects an AT with a bad skew", async (t) => {
  for (
    const skew of [
      "0.263873386",
      "+0.26387338",
      "+0.2638733860",
      "+abc",
      "+1",
      "1.000000000",
      "+.263873386",
    ]
  ) {
    await t.step(skew, () => {
      assert.match(
        expectInvalid(`AT Campbell ${skew} kiwi +34-118 1621464827.5`),
        /^Cannot parse AT: skew/,
      );
    });
  }
});

Deno.test("parseMessage() rejects an AT with other than 6 fields (7 with the tree mark)", async (t) => {
  const seventh = expectInvalid("AT Campbell +0.000000000 kiwi +34-118 1 x");
  assert.equal(seventh, 'Cannot parse AT: a seventh field must be tree, got "x"');
  for (
    const line of [
      "AT",
      "AT Campbell +0.000000000 kiwi +34-118",
      "AT Campbell +0.000000000 kiwi +34-118 1 tree x",
    ]
  ) {
    await t.step(line, () => {
      assert.match(expectInvalid(line), /^Cannot parse AT: expected 6 fields, got \d+$/);
    });
  }
});

Deno.test("parseMessage() reads the tree lines: AT with its mark, IHAVE, GRAFT, PRUNE", () => {
  const at = parseMessage("AT Smith +0.000100000 kiwi +34-118 1621464827.5 tree");
  assert.ok(at.kind === "AT" && at.tree && at.record.clientId === "kiwi");
  const plain = parseMessage("AT Smith +0.000100000 kiwi +34-118 1621464827.5");
  assert.ok(plain.kind === "AT" && !plain.tree);
  const ihave = parseMessage("IHAVE kiwi 1621464827.5 x 1");
  assert.ok(ihave.kind === "IHAVE");
  assert.deepEqual(
    ihave.ids.map((id) => [id.clientId, id.clientTimeText, String(id.clientTime.whole)]),
    [["kiwi", "1621464827.5", "1621464827"], ["x", "1", "1"]],
  );
  const graft = parseMessage("GRAFT kiwi 2");
  assert.ok(graft.kind === "GRAFT" && graft.ids.length === 1);
  assert.deepEqual(parseMessage("PRUNE"), { kind: "PRUNE" });
});

Deno.test("parseMessage() rejects malformed tree lines", async (t) => {
  const table: Array<[string, RegExp]> = [
    ["IHAVE", /^Cannot parse IHAVE: expected pairs/],
    ["IHAVE kiwi", /^Cannot parse IHAVE: expected pairs/],
    ["GRAFT kiwi 1 x", /^Cannot parse GRAFT: expected pairs/],
    ["IHAVE kiwi 1e9", /^Cannot parse IHAVE: /],
    ["GRAFT kiwi -1", /^Cannot parse GRAFT: /],
    ["PRUNE now", /^Cannot parse PRUNE: expected 1 field, got 2$/],
  ];
  for (const [line, reason] of table) {
    await t.step(line, () => assert.match(expectInvalid(line), reason));
  }
});

Deno.test("parseMessage() reads PING and PONG with their token, and rejects malformed ones", async (t) => {
  assert.deepEqual(parseMessage("PING 17"), { kind: "PING", token: "17" });
  assert.deepEqual(parseMessage("PONG aZ9"), { kind: "PONG", token: "aZ9" });
  assert.equal(formatKeepalive("PONG", "17"), "PONG 17");
  assert.throws(() => formatKeepalive("PING", "a b"), RangeError);
  const table: Array<[string, RegExp]> = [
    ["PING", /^Cannot parse PING: expected 2 fields, got 1$/],
    ["PONG 1 2", /^Cannot parse PONG: expected 2 fields, got 3$/],
    ["PING 1-2", /^Cannot parse PING: token must be 1 to 32 letters and digits$/],
    [`PING ${"7".repeat(33)}`, /^Cannot parse PING: token must be/],
  ];
  for (const [line, reason] of table) {
    await t.step(line, () => assert.match(expectInvalid(line), reason));
  }
});

Deno.test("formatTreeIds() packs ids into lines no longer than the limit", () => {
  const ids: Array<[string, string]> = [["a", "1"], ["bb", "2.5"], ["c", "3"]];
  assert.equal(formatTreeIds("IHAVE", ids, 100), "IHAVE a 1 bb 2.5 c 3\n");
  assert.equal(formatTreeIds("IHAVE", ids, 16), "IHAVE a 1 bb 2.5\nIHAVE c 3\n");
  assert.equal(formatTreeIds("GRAFT", ids, 1), "GRAFT a 1\nGRAFT bb 2.5\nGRAFT c 3\n");
  assert.equal(formatTreeIds("IHAVE", [], 100), "");
  for (const line of formatTreeIds("IHAVE", ids, 16).trimEnd().split("\n")) {
    assert.ok(line.length <= 16, line);
    const m = parseMessage(line);
    assert.ok(m.kind === "IHAVE");
  }
});

Deno.test("parseMessage() rejects an AT with a bad location or client time", async (t) => {
  for (const tail of ["+91+0 1", "34-118 1", "+34-118 -1", "+34-118 1e9"]) {
    await t.step(tail, () => {
      assert.match(expectInvalid(`AT Campbell +0.000000000 kiwi ${tail}`), /^Cannot parse AT: /);
    });
  }
});

// --- HERD ---

Deno.test("parseMessage() parses a HERD hello without parameters", () => {
  const m = expectKind("HERD 1 Campbell", "HERD");
  assert.equal(m.version, "1");
  assert.equal(m.name, "Campbell");
  assert.equal(m.params.size, 0);
});

Deno.test("parseMessage() parses HERD key=value parameters", () => {
  const m = expectKind("HERD 1 Hill ts=1621464827 mac=a=b= empty=", "HERD");
  assert.deepEqual([...m.params], [["ts", "1621464827"], ["mac", "a=b="], ["empty", ""]]);
});

Deno.test("parseMessage() rejects a HERD hello of a version other than 1", async (t) => {
  for (const version of ["2", "0", "01", "1.0", "v1", "+1"]) {
    await t.step(version, () => {
      assert.match(expectInvalid(`HERD ${version} Hill`), /unsupported version/);
    });
  }
});

Deno.test("parseMessage() rejects a HERD hello without a server name", async (t) => {
  for (const line of ["HERD", "HERD 1"]) {
    await t.step(line, () => {
      assert.match(expectInvalid(line), /expected at least 3 fields/);
    });
  }
});

Deno.test("parseMessage() rejects HERD parameters that are not key=value", async (t) => {
  for (const param of ["mac", "=value", "="]) {
    await t.step(param, () => {
      assert.match(expectInvalid(`HERD 1 Hill ts=1 ${param}`), /expected key=value/);
    });
  }
});

// --- blank lines and robustness ---

Deno.test("parseMessage() returns an empty message for a line of only white space", async (t) => {
  for (const line of ["", " ", "\t\r\v\f", " \n "]) {
    await t.step(JSON.stringify(line), () => {
      assert.deepEqual(parseMessage(line), { kind: "empty" });
    });
  }
});

Deno.test("parseMessage() treats a line of 0xA0 or 0x85 bytes as invalid, not blank", async (t) => {
  for (const line of ["\xa0", "\x85", " \xa0\x85 "]) {
    await t.step(JSON.stringify(line), () => {
      expectInvalid(line);
    });
  }
});

Deno.test("parseMessage() never throws on random lines", () => {
  const seed = 42;
  const random = seeded(seed);
  const tokens = [
    "IAMAT",
    "WHATSAT",
    "AT",
    "HERD",
    "1",
    "kiwi",
    "+34-118",
    "+90.1+0",
    "10",
    "0",
    "50.5",
    "+0.000000000",
    "k=v",
    "=",
    "1621464827.959498503",
    ODD_ID,
    "\xff",
    "-",
    ".",
    "",
    "__proto__",
    "constructor",
  ];
  const kinds = new Set(["IAMAT", "WHATSAT", "AT", "HERD", "invalid", "empty"]);
  for (let i = 0; i < 3000; i++) {
    let line: string;
    if (i % 2 === 0) {
      const count = randomInt(random, 8);
      line = Array.from({ length: count }, () => pick(random, tokens)).join(
        pick(random, [" ", "\t", "  "]),
      );
    } else {
      line = bytesToWire(
        Uint8Array.from({ length: randomInt(random, 40) }, () => randomInt(random, 256)),
      );
    }
    let m: Message;
    try {
      m = parseMessage(line);
    } catch (e) {
      assert.fail(`parseMessage(${JSON.stringify(line)}) threw ${e} (seed ${seed})`);
    }
    assert.ok(kinds.has(m.kind), m.kind);
  }
});

// --- formatHello ---

Deno.test("formatHello() writes the version and name", () => {
  assert.equal(formatHello("Campbell"), `HERD ${HELLO_VERSION} Campbell`);
  assert.equal(formatHello("Campbell"), "HERD 1 Campbell");
});

Deno.test("formatHello() appends parameters as key=value in order", () => {
  assert.equal(
    formatHello("Hill", [["ts", "1621464827"], ["nonce", "abc"]]),
    "HERD 1 Hill ts=1621464827 nonce=abc",
  );
});

Deno.test("formatHello() round-trips through parseMessage()", async (t) => {
  const cases: [string, [string, string][]][] = [
    ["Campbell", []],
    ["Hill", [["ts", "1621464827"], ["nonce", "0f3a"], ["mac", "a=b+c/d=="]]],
    [unicodeToWire("Jaquez-é"), [["empty", ""]]],
  ];
  for (const [name, params] of cases) {
    await t.step(name, () => {
      const m = expectKind(formatHello(name, params), "HERD");
      assert.equal(m.version, HELLO_VERSION);
      assert.equal(m.name, name);
      assert.deepEqual([...m.params], params);
    });
  }
});

import assert from "node:assert/strict";
import { compareDecimal, parseDecimal } from "../../src/protocol/decimal.ts";
import { parseIso6709 } from "../../src/protocol/iso6709.ts";
import { parseMessage } from "../../src/protocol/message.ts";
import {
  type ClientRecord,
  formatAt,
  formatEntry,
  formatErase,
  isNewer,
  isTombstone,
  type StoreEntry,
  type Tombstone,
} from "../../src/protocol/record.ts";
import { bytesToWire, unicodeToWire } from "../../src/protocol/wire_text.ts";
import { pick, type Random, seeded, shuffled } from "./_random.ts";

interface RecordFields {
  time?: string;
  location?: string;
  origin?: string;
  skew?: string;
  clientId?: string;
}

/** A record of client `kiwi` with the given fields (defaults from PROTOCOL.md). */
function record(fields: RecordFields = {}): ClientRecord {
  const time = fields.time ?? "1621464827.959498503";
  return {
    origin: fields.origin ?? "Campbell",
    skew: fields.skew ?? "+0.263873386",
    clientId: fields.clientId ?? "kiwi.cs.ucla.edu",
    location: parseIso6709(fields.location ?? "+34.068930-118.445127"),
    clientTime: parseDecimal(time),
    clientTimeText: time,
  };
}

/** Asserts that `a` replaces `b` and `b` does not replace `a`. */
function assertStrictlyNewer(a: ClientRecord, b: ClientRecord): void {
  assert.equal(isNewer(a, b), true, `${formatAt(a)} should replace ${formatAt(b)}`);
  assert.equal(isNewer(b, a), false, `${formatAt(b)} should not replace ${formatAt(a)}`);
}

Deno.test("isNewer() accepts any record when none is stored", () => {
  assert.equal(isNewer(record({ time: "0" }), undefined), true);
});

Deno.test("isNewer() prefers the greater client time", () => {
  assertStrictlyNewer(record({ time: "1621464828" }), record({ time: "1621464827.959498503" }));
});

Deno.test("isNewer() compares client times exactly", () => {
  assertStrictlyNewer(
    record({ time: "1621464827.959498504" }),
    record({ time: "1621464827.959498503" }),
  );
  assertStrictlyNewer(
    record({ time: "1.000000000000000000000000000002" }),
    record({ time: "1.000000000000000000000000000001" }),
  );
});

Deno.test("isNewer() compares client times as numbers, not as text", () => {
  // As text "10" < "9" and "1.10" < "1.9".
  assertStrictlyNewer(record({ time: "10" }), record({ time: "9" }));
  assertStrictlyNewer(record({ time: "1.9" }), record({ time: "1.10" }));
});

Deno.test("isNewer() lets a greater client time win whatever the location and origin", () => {
  assertStrictlyNewer(
    record({ time: "2", location: "+00+000", origin: "A" }),
    record({ time: "1", location: "-90-180", origin: "zzzz" }),
  );
});

Deno.test("isNewer() breaks a client time tie by the location text", () => {
  assertStrictlyNewer(
    record({ location: "+35-118", origin: "Campbell" }),
    record({ location: "+34-118", origin: "Smith" }),
  );
});

Deno.test("isNewer() compares location text byte by byte", async (t) => {
  // [greater, smaller]: "-" (0x2D) > "+" (0x2B), "." (0x2E) > "-" (0x2D), "9" > "10" as text.
  const cases: [string, string][] = [
    ["-34-118", "+34-118"],
    ["+34.0-118", "+34-118"],
    ["+9+0", "+10+0"],
    ["+34-118.1", "+34-118"],
  ];
  for (const [greater, smaller] of cases) {
    await t.step(`${greater} > ${smaller}`, () => {
      assertStrictlyNewer(record({ location: greater }), record({ location: smaller }));
    });
  }
});

Deno.test("isNewer() treats equal times written differently as a tie", () => {
  // 1.5 and 1.50 are the same time, so the location decides, not the time text.
  assertStrictlyNewer(
    record({ time: "1.5", location: "+35-118" }),
    record({ time: "1.50", location: "+34-118" }),
  );
  assertStrictlyNewer(
    record({ time: "1.50", location: "+35-118" }),
    record({ time: "1.5", location: "+34-118" }),
  );
});

Deno.test("isNewer() breaks a time and location tie by the origin", () => {
  assertStrictlyNewer(record({ origin: "Hill" }), record({ origin: "Campbell" }));
});

Deno.test("isNewer() compares origins byte by byte", async (t) => {
  // [greater, smaller]: lower case after upper case, a longer name after its prefix,
  // a UTF-8 lead byte (0xC3) after any ASCII byte.
  const cases: [string, string][] = [
    ["alpha", "Zeta"],
    ["Hill2", "Hill"],
    [unicodeToWire("Éric"), "zz"],
    ["\xff", "\xfe"],
  ];
  for (const [greater, smaller] of cases) {
    await t.step(`${JSON.stringify(greater)} > ${JSON.stringify(smaller)}`, () => {
      assertStrictlyNewer(record({ origin: greater }), record({ origin: smaller }));
    });
  }
});

Deno.test("isNewer() compares the location before the origin", () => {
  assertStrictlyNewer(
    record({ location: "+35-118", origin: "Campbell" }),
    record({ location: "+34-118", origin: "Smith" }),
  );
  assertStrictlyNewer(
    record({ location: "+34-119", origin: "A" }),
    record({ location: "+34-118", origin: "Z" }),
  );
});

Deno.test("isNewer() does not let an equal record replace the stored one", () => {
  const a = record();
  assert.equal(isNewer(a, a), false);
  assert.equal(isNewer(record(), record()), false);
});

Deno.test("isNewer() breaks a full section 3 tie by the client time text, then the skew", () => {
  // Same time, location and origin: herd's extra tie-breakers order them, byte-wise.
  assertStrictlyNewer(record({ time: "1.50" }), record({ time: "1.5" }));
  assertStrictlyNewer(
    record({ time: "1.5", skew: "+9.000000000" }),
    record({ time: "1.5", skew: "+0.000000001" }),
  );
  // The time text decides before the skew does.
  assertStrictlyNewer(
    record({ time: "1.50", skew: "+0.000000001" }),
    record({ time: "1.5", skew: "+9.000000000" }),
  );
});

/** Building blocks for random records, chosen to collide often so ties are exercised. */
const TIMES = [
  "1",
  "1.5",
  "2",
  "10",
  "1621464827.959498503",
  "1621464827.959498504",
  "1621464827.9594985035",
];
const LOCATIONS = ["+34.068930-118.445127", "+34.06893-118.445127", "-34+118", "+34+118", "+0+0"];
const ORIGINS = ["Campbell", "Hill", "Jaquez", "Singleton", "Smith", "hill"];

/**
 * Distinct random records: no two share (time, location, origin). With the
 * text and skew tie-breakers even such records would be ordered; keeping the
 * section 3 key distinct keeps the expected result easy to state.
 */
function randomRecords(random: Random, count: number): ClientRecord[] {
  const byKey = new Map<string, ClientRecord>();
  while (byKey.size < count) {
    const time = pick(random, TIMES);
    const location = pick(random, LOCATIONS);
    const origin = pick(random, ORIGINS);
    const skew = `+0.${String(byKey.size).padStart(9, "0")}`;
    byKey.set(`${time} ${location} ${origin}`, record({ time, location, origin, skew }));
  }
  return [...byKey.values()];
}

/** The record a replica ends with after receiving `records` in this order. */
function apply(records: readonly ClientRecord[]): ClientRecord | undefined {
  let stored: ClientRecord | undefined;
  for (const r of records) if (isNewer(r, stored)) stored = r;
  return stored;
}

/** Every ordering of `items`. */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest])
  );
}

/** The greatest record by an independent statement of section 3's order. */
function reference(records: readonly ClientRecord[]): ClientRecord {
  const byteCompare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...records].sort((a, b) =>
    compareDecimal(a.clientTime, b.clientTime) ||
    byteCompare(a.location.text, b.location.text) ||
    byteCompare(a.origin, b.origin)
  )[records.length - 1];
}

Deno.test("isNewer() converges to the same record in every delivery order", () => {
  const seed = 3;
  const random = seeded(seed);
  for (let round = 0; round < 20; round++) {
    const records = randomRecords(random, 6);
    const expected = reference(records);
    for (const order of permutations(records)) {
      assert.equal(apply(order), expected, `round ${round} (seed ${seed})`);
    }
  }
});

Deno.test("isNewer() converges on large random sets delivered in random orders", () => {
  const seed = 1621464827;
  const random = seeded(seed);
  for (let round = 0; round < 20; round++) {
    const records = randomRecords(random, 60);
    const expected = reference(records);
    for (let i = 0; i < 50; i++) {
      assert.equal(apply(shuffled(random, records)), expected, `round ${round} (seed ${seed})`);
    }
  }
});

Deno.test("isNewer() orders any two distinct records one way only", () => {
  const seed = 90;
  const random = seeded(seed);
  const records = randomRecords(random, 100);
  for (const a of records) {
    for (const b of records) {
      if (a === b) continue;
      assert.notEqual(isNewer(a, b), isNewer(b, a), `${formatAt(a)} vs ${formatAt(b)}`);
    }
  }
});

Deno.test("formatAt() writes the fields in AT line order", () => {
  assert.equal(
    formatAt(record()),
    "AT Campbell +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
  );
});

Deno.test("formatAt() echoes location and client time text verbatim", () => {
  const line = formatAt(record({ location: "+07.10-007.100", time: "0001621464827.9594985030" }));
  assert.equal(
    line,
    "AT Campbell +0.263873386 kiwi.cs.ucla.edu +07.10-007.100 0001621464827.9594985030",
  );
});

Deno.test("formatAt() echoes the client id byte for byte", () => {
  // "🥝" in UTF-8, then 0xFF and 0x80, which are not valid UTF-8.
  const id = bytesToWire(new Uint8Array([0x6b, 0xf0, 0x9f, 0xa5, 0x9d, 0xff, 0x80]));
  assert.equal(
    formatAt(record({ clientId: id })),
    `AT Campbell +0.263873386 ${id} +34.068930-118.445127 1621464827.959498503`,
  );
});

Deno.test("formatAt() output parses back to the same record", () => {
  const original = record({
    origin: "Smith",
    skew: "-0.000001000",
    clientId: unicodeToWire("kiwi🥝"),
    location: "+90.000-180.0",
    time: "1621464827.9594985030",
  });
  const m = parseMessage(formatAt(original));
  assert.equal(m.kind, "AT");
  assert.deepEqual(m.record, original);
});

/** A tombstone of client `kiwi` (what `ERASE <origin> kiwi <time>` carries). */
function tombstone(time: string, origin = "Hill"): Tombstone {
  const m = parseMessage(`ERASE ${origin} kiwi.cs.ucla.edu ${time}`);
  if (m.kind !== "ERASE") throw new Error("bad test tombstone");
  return m.tombstone;
}

Deno.test("isNewer() orders tombstones and records by time, a tombstone winning a tie", async (t) => {
  // [name, candidate, current, candidate replaces current]
  const table: Array<[string, StoreEntry, StoreEntry | undefined, boolean]> = [
    ["a tombstone of an unknown client is stored", tombstone("5"), undefined, true],
    ["a later tombstone erases a record", tombstone("6"), record({ time: "5" }), true],
    ["an earlier tombstone does not", tombstone("4"), record({ time: "5" }), false],
    ["an equal-time tombstone erases the record", tombstone("5"), record({ time: "5" }), true],
    ["whatever the time's text", tombstone("5.000"), record({ time: "5" }), true],
    ["an equal-time record does not come back", record({ time: "5" }), tombstone("5"), false],
    [
      "nor one at a far greater location",
      record({ time: "5", location: "-90-180" }),
      tombstone("5"),
      false,
    ],
    [
      "a later record brings the client back",
      record({ time: "5.000000001" }),
      tombstone("5"),
      true,
    ],
    ["an earlier record does not", record({ time: "4.9" }), tombstone("5"), false],
    ["a later tombstone replaces a tombstone", tombstone("6", "A"), tombstone("5", "Z"), true],
    ["an earlier tombstone does not", tombstone("5", "Z"), tombstone("6", "A"), false],
    ["equal times: the greater origin", tombstone("5", "Smith"), tombstone("5", "Hill"), true],
    ["equal times: not the smaller origin", tombstone("5", "Hill"), tombstone("5", "Smith"), false],
    [
      "equal times and origins: the greater text",
      tombstone("5.0", "Hill"),
      tombstone("5", "Hill"),
      true,
    ],
    ["an identical tombstone is not newer", tombstone("5"), tombstone("5"), false],
  ];
  for (const [name, candidate, current, expected] of table) {
    await t.step(name, () => assert.equal(isNewer(candidate, current), expected));
  }
});

Deno.test("isNewer() with tombstones: every delivery order converges to the same entry", () => {
  const entries: StoreEntry[] = [
    record({ time: "5", location: "+34-118" }),
    record({ time: "5", location: "+35-118", origin: "Smith" }),
    tombstone("5", "Hill"),
    tombstone("5", "Campbell"),
    record({ time: "4" }),
    tombstone("3"),
  ];
  const winners = new Set(
    permutations(entries).map((order) => {
      let held: StoreEntry | undefined;
      for (const e of order) if (isNewer(e, held)) held = e;
      return formatEntry(held!);
    }),
  );
  assert.deepEqual([...winners], ["ERASE Hill kiwi.cs.ucla.edu 5"]);
});

Deno.test("formatErase() writes the line parseMessage() reads back", () => {
  const line = "ERASE Hill kiwi.cs.ucla.edu 1621464827.959498503";
  const m = parseMessage(line);
  assert.equal(m.kind, "ERASE");
  if (m.kind !== "ERASE") return;
  assert.equal(isTombstone(m.tombstone), true);
  assert.equal(isTombstone(record()), false);
  assert.equal(formatErase(m.tombstone), line);
  assert.equal(formatEntry(m.tombstone), line);
  assert.equal(parseMessage("ERASE Hill kiwi").kind, "invalid");
  assert.equal(parseMessage("ERASE Hill kiwi -1").kind, "invalid");
  assert.equal(parseMessage("ERASE Hill kiwi 1 2").kind, "invalid");
});

import assert from "node:assert/strict";
import {
  flood,
  type FloodTarget,
  flushLinks,
  RecordFile,
  RecordStore,
} from "../../src/herd/mod.ts";
import {
  DIGEST_FANOUT,
  isNewer,
  keyHash,
  type NodeDigest,
  parseMessage,
  recordHash,
  sameDigest,
  type StoreEntry,
} from "../../src/protocol/mod.ts";
import { record } from "./_port.ts";

const BASE = "AT Hill +0.100000000 kiwi +34-118 200";

Deno.test("RecordStore.apply() keeps the newer record by the last-writer-wins order", async (t) => {
  // [incoming, stored afterwards]: each row starts from a store holding BASE.
  const table: Array<[string, string, string]> = [
    ["later client time", "AT Hill +0.100000000 kiwi +34-118 201", "201"],
    ["earlier client time", "AT Hill +0.100000000 kiwi +34-118 199", "200"],
    ["identical line", BASE, "200"],
    ["same time, greater location", "AT Hill +0.100000000 kiwi +35-118 200", "+35-118"],
    ["same time, smaller location", "AT Hill +0.100000000 kiwi +33-118 200", "+34-118"],
    ["same time and place, greater origin", "AT Smith +0.100000000 kiwi +34-118 200", "Smith"],
    ["same time and place, smaller origin", "AT Campbell +0.100000000 kiwi +34-118 200", "Hill"],
    ["longer equal time text", "AT Hill +0.100000000 kiwi +34-118 200.0", "200.0"],
    ["greater skew", "AT Hill +0.200000000 kiwi +34-118 200", "+0.2"],
    ["same time with leading zeros, smaller text", "AT Hill +0.100000000 kiwi +34-118 0200", "200"],
    ["earlier time with more digits", "AT Hill +0.100000000 kiwi +34-118 199.99999", "200"],
    ["later by a fraction", "AT Hill +0.100000000 kiwi +34-118 200.000001", "200.000001"],
    ["a longer whole part", "AT Hill +0.100000000 kiwi +34-118 1000", "1000"],
    ["a shorter whole part", "AT Hill +0.100000000 kiwi +34-118 99.9", "200"],
    ["later, longer line", "AT Singleton +0.100000000 kiwi +34.0689-118.4451 201.5", "Singleton"],
  ];
  for (const [name, line, expect] of table) {
    await t.step(name, () => {
      const store = new RecordStore();
      assert.equal(store.apply(record(BASE)), true);
      const stored = store.apply(record(line));
      assert.ok(store.line("kiwi")!.includes(expect), `${store.line("kiwi")} has ${expect}`);
      assert.equal(stored, store.line("kiwi") === line && line !== BASE);
      assert.equal(store.size, 1);
    });
  }
});

Deno.test("RecordStore.holds() is true only for the very line stored", async (t) => {
  const store = new RecordStore();
  store.apply(record(BASE));
  store.apply(record("AT Hill +0.100000000 \xf0\x9f\xa5\x9d +1+1 5"));
  // Found by a birthday search over `c<n>`: the key hash of kiwi's neighbour in its bucket.
  store.apply(record("AT Hill +0.100000000 c693596 +34-118 1"));
  const table: Array<[string, string, boolean]> = [
    ["the stored line", BASE, true],
    ["a client id that is not ASCII", "AT Hill +0.100000000 \xf0\x9f\xa5\x9d +1+1 5", true],
    ["another client time", "AT Hill +0.100000000 kiwi +34-118 201", false],
    ["the same time written otherwise", "AT Hill +0.100000000 kiwi +34-118 200.0", false],
    ["another origin", "AT Smith +0.100000000 kiwi +34-118 200", false],
    ["an unknown client", "AT Hill +0.100000000 kiwis +34-118 200", false],
    ["a client whose key hash collides", "AT Hill +0.100000000 c1170850 +34-118 1", false],
    ["two spaces", "AT Hill +0.100000000  kiwi +34-118 200", false],
    ["a tab", "AT Hill +0.100000000\tkiwi +34-118 200", false],
    ["a trailing space", BASE + " ", false],
    ["not an AT line", "IAMAT kiwi +34-118 200", false],
    ["cut short", "AT Hill +0.100000000 kiwi", false],
    ["empty", "", false],
  ];
  for (const [name, line, held] of table) {
    await t.step(name, () => assert.equal(store.holds(line), held));
  }
});

Deno.test("RecordStore keeps client ids byte for byte and returns parsed copies", () => {
  const store = new RecordStore();
  const line = "AT Hill +0.100000000 \xf0\x9f\xa5\x9d +34-118 1";
  store.apply(record(line));
  assert.equal(store.line("\xf0\x9f\xa5\x9d"), line);
  const a = store.get("\xf0\x9f\xa5\x9d")!;
  assert.notEqual(a, store.get("\xf0\x9f\xa5\x9d"), "a new object per call");
  assert.equal(a.origin, "Hill");
  assert.equal(store.get("other"), undefined);
  assert.deepEqual([...store.records()].map((r) => r.clientId), ["\xf0\x9f\xa5\x9d"]);
});

Deno.test("DigestTree: two stores with the same records in any order have the same digests", () => {
  const lines = Array.from(
    { length: 200 },
    (_, i) => `AT Hill +0.100000000 c${i} +34-118 ${i + 1}`,
  );
  const a = new RecordStore();
  const b = new RecordStore();
  for (const l of lines) a.apply(record(l));
  for (const l of [...lines].reverse()) b.apply(record(l));
  assert.ok(sameDigest(a.digests.node(""), b.digests.node("")));
  assert.equal(a.digests.node("").count, 200);
  // One replaced record changes the root and exactly one child of it.
  b.apply(record("AT Hill +0.100000000 c7 +34-118 9999"));
  assert.ok(!sameDigest(a.digests.node(""), b.digests.node("")));
  const differing = a.digests.children("").filter((d, i) =>
    !sameDigest(d, b.digests.children("")[i])
  );
  assert.equal(differing.length, 1);
  assert.equal(a.digests.children("").length, DIGEST_FANOUT);
});

Deno.test("RecordStore counts a replaced record once and lists it once under its node", () => {
  const store = new RecordStore();
  const line1 = "AT Hill +0.100000000 kiwi +34-118 1";
  const line2 = "AT Hill +0.100000000 kiwi +34-118 2";
  store.apply(record(line1));
  store.apply(record(line2));
  assert.deepEqual(store.linesUnder(""), { text: line2 + "\n", records: 1 });
  const leaf = (keyHash("kiwi") >>> 16).toString(16).padStart(4, "0");
  assert.deepEqual(store.linesUnder(leaf), { text: line2 + "\n", records: 1 });
  assert.deepEqual([...store.timesUnder(leaf.slice(0, 2))], [[keyHash("kiwi"), "2"]]);
  assert.equal(store.digests.node("").count, 1);
  assert.ok(sameDigest(store.digests.node(leaf), recordHash(line2, digest())));
});

/** A new empty digest. */
const digest = (): NodeDigest => ({ count: 0, hi: 0, lo: 0 });

Deno.test("RecordStore keeps two clients whose key hashes collide apart", () => {
  // Found by a birthday search over `c<n>`; the first pair there is.
  const [a, b] = ["c693596", "c1170850"];
  assert.equal(keyHash(a), keyHash(b));
  const store = new RecordStore();
  const lineA = `AT Hill +0.100000000 ${a} +34-118 5`;
  const lineB = `AT Hill +0.100000000 ${b} +34-118 4`;
  assert.ok(store.apply(record(lineA)));
  assert.ok(store.apply(record(lineB)));
  // Older than a's record, but b's first: the times of different clients are not compared.
  assert.ok(store.apply(record(`AT Hill +0.100000000 ${b} +34-118 4.5`)));
  assert.equal(store.line(a), lineA);
  assert.equal(store.line(b), `AT Hill +0.100000000 ${b} +34-118 4.5`);
  assert.equal(store.size, 2);
  assert.equal(store.line(`${a}x`), undefined);
});

Deno.test("RecordStore agrees with a map of the newest records over 100,000 random updates", () => {
  let seed = 7;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const origins = ["Hill", "Singleton", "Jaquez"];
  const locations = ["+34-118", "+34.068930-118.445127", "-1.5+2.25"];
  const times = ["1700000000", "1700000000.5", "1700000000.50", "1700000001", "01700000001", "9"];
  const store = new RecordStore();
  const newest = new Map<string, string>();
  // 70,000 clients: more than one bucket each for the first 65,536 (re-bucketed once).
  for (let n = 0; n < 100_000; n++) {
    const id = n < 70_000 ? `client-${n}` : `client-${Math.floor(random() * 70_000)}`;
    const line = `AT ${pick(origins)} +0.${String(n % 1000).padStart(9, "0")} ${id} ${
      pick(locations)
    } ${pick(times)}`;
    const r = record(line);
    const held = newest.get(id);
    const expected = held === undefined || isNewer(r, record(held));
    assert.equal(store.apply(r, line), expected, line);
    if (expected) newest.set(id, line);
  }
  assert.equal(store.size, newest.size);
  const sorted = (text: string) => text.split("\n").filter((l) => l !== "").sort();
  assert.deepEqual(sorted(store.linesUnder("").text), [...newest.values()].sort());
  for (const [id, line] of [...newest].slice(0, 1000)) assert.equal(store.line(id), line);
  assert.deepEqual(new Map(store.lines()), newest);
  // The digests are those of the records held, however they got there.
  const fresh = new RecordStore();
  for (const line of newest.values()) fresh.apply(record(line));
  for (const prefix of ["", "a", "3f", "c07"]) {
    assert.deepEqual(store.digests.children(prefix), fresh.digests.children(prefix));
  }
  let hi = 0;
  let lo = 0;
  for (const line of newest.values()) {
    const h = recordHash(line, digest());
    hi ^= h.hi;
    lo ^= h.lo;
  }
  assert.deepEqual(store.digests.node(""), { count: newest.size, hi: hi >>> 0, lo: lo >>> 0 });
});

Deno.test("RecordStore keeps every record when replacements keep growing its lines", () => {
  // 80,000 clients (about 5 MB of lines: more than one 4 MiB chunk), then seven rounds that
  // each replace a quarter of them with longer lines: chunks fill with replaced lines and are
  // emptied and reused while other chunks hold live ones.
  const store = new RecordStore();
  const lines = new Map<string, string>();
  // A few ids past 256 bytes too (lines copied natively rather than byte by byte).
  const ids = Array.from(
    { length: 80_000 },
    (_, i) => i % 5000 === 0 ? `c${i}-${"x".repeat(300)}` : `c${i}`,
  );
  for (let round = 0; round < 8; round++) {
    for (const [i, id] of ids.entries()) {
      if (round > 0 && i % 4 !== round % 4) continue;
      const time = `${1000 + round}.${"5".repeat(round * 9 + 1)}`;
      const line = `AT Hill +0.100000000 ${id} +34.068930-118.445127 ${time}`;
      assert.ok(store.apply(record(line), line));
      lines.set(id, line);
    }
  }
  assert.deepEqual(new Map(store.lines()), lines);
  assert.equal(store.linesUnder("").text.length, [...lines.values()].join("\n").length + 1);
  const fresh = new RecordStore();
  for (const line of lines.values()) fresh.apply(record(line));
  assert.deepEqual(store.digests.node(""), fresh.digests.node(""));
});

Deno.test("RecordStore.linesUnder() filters by key hash and client time, byte for byte", () => {
  const store = new RecordStore();
  const ids = Array.from({ length: 300 }, (_, i) => `\xf0\x9f\xa5\x9d-${i}`);
  for (const [i, id] of ids.entries()) store.apply(record(`AT Hill +0.100000000 ${id} +1+1 ${i}`));
  const odd = store.linesUnder("", (_key, time) => Number(time) % 2 === 1);
  assert.equal(odd.records, 150);
  assert.ok(odd.text.includes(`AT Hill +0.100000000 ${ids[299]} +1+1 299\n`));
  const one = store.linesUnder("", (key) => key === keyHash(ids[7]));
  assert.deepEqual(one, { text: `AT Hill +0.100000000 ${ids[7]} +1+1 7\n`, records: 1 });
  assert.deepEqual(store.linesUnder("", () => false), { text: "", records: 0 });
});

Deno.test("RecordStore.linesUnder() of several nodes lists the records under each", () => {
  const store = new RecordStore();
  for (let i = 0; i < 5000; i++) store.apply(record(`AT Hill +0.100000000 c${i} +1+1 ${i}`));
  const sorted = (text: string) => text.split("\n").filter((l) => l !== "").sort();
  // Nodes near the root (every record read in order) and deep ones (their buckets walked).
  for (const nodes of [["0", "7", "f"], ["", "3"], ["0a", "0b", "c3f"], ["ffff", "1234"]]) {
    const each = nodes.filter((n) => !nodes.some((m) => m !== n && n.startsWith(m)))
      .map((n) => store.linesUnder(n).text).join("");
    const all = store.linesUnder(nodes);
    assert.deepEqual(sorted(all.text), sorted(each), nodes.join(","));
    assert.equal(all.records, sorted(each).length);
  }
});

Deno.test("RecordFile.loadInto() fills a store row by row and skips rows that do not parse", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = RecordFile.open(dir, "Hill");
    const lines = Array.from({ length: 300 }, (_, i) => `AT Hill +0.100000000 c${i} +1+1 ${i}`);
    for (const [i, line] of lines.entries()) file.save(`c${i}`, line);
    file.save("broken", "AT Hill not a record");
    const store = new RecordStore();
    assert.deepEqual(file.loadInto(store), { records: 300, skipped: 1, expired: 0 });
    file.close();
    assert.deepEqual(new Map(store.lines()), new Map(lines.map((l, i) => [`c${i}`, l])));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("flood() hands a line to every link but the sender's; flushLinks() flushes each", () => {
  const sent: string[] = [];
  const flushed: string[] = [];
  const links = new Map<string, FloodTarget>(
    ["Smith", "Jaquez", "Hill"].map((n) => [n, {
      send: (l) => sent.push(`${n}:${l}`),
      flush: () => flushed.push(n),
    }]),
  );
  assert.equal(flood(BASE, links, "Jaquez"), 2);
  assert.deepEqual(sent, [`Smith:${BASE}\n`, `Hill:${BASE}\n`]);
  assert.equal(flood(BASE, links), 3);
  flushLinks(links);
  assert.deepEqual(flushed, ["Smith", "Jaquez", "Hill"]);
});

Deno.test("RecordStore.time() gives the held record's client time as written, or undefined", () => {
  const store = new RecordStore();
  assert.equal(store.time("kiwi"), undefined);
  store.apply(record("AT Hill +0.000100000 kiwi +34-118 1700000000.500"));
  assert.equal(store.time("kiwi"), "1700000000.500");
  store.apply(record("AT Smith +0.000100000 kiwi +34-118 1700000001"));
  assert.equal(store.time("kiwi"), "1700000001");
  assert.equal(store.time("kiw"), undefined);
});

/** The record of an AT line or the tombstone of an ERASE line. */
function entry(line: string): StoreEntry {
  const msg = parseMessage(line);
  if (msg.kind === "AT") return msg.record;
  if (msg.kind === "ERASE") return msg.tombstone;
  throw new Error(`not an AT or ERASE line: ${line}`);
}

Deno.test("RecordStore.apply() orders tombstones with records, by the stored bytes", async (t) => {
  // [name, lines applied in order, the entry held at the end]
  const table: Array<[string, string[], string]> = [
    ["a later tombstone erases", [BASE, "ERASE Smith kiwi 201"], "ERASE Smith kiwi 201"],
    [
      "an equal-time tombstone erases",
      [BASE, "ERASE Campbell kiwi 200"],
      "ERASE Campbell kiwi 200",
    ],
    [
      "the same time written otherwise",
      [BASE, "ERASE Campbell kiwi 200.00"],
      "ERASE Campbell kiwi 200.00",
    ],
    ["an earlier tombstone does not", [BASE, "ERASE Smith kiwi 199.9"], BASE],
    [
      "an equal-time record stays erased",
      ["ERASE Campbell kiwi 200", BASE],
      "ERASE Campbell kiwi 200",
    ],
    [
      "a later record comes back",
      ["ERASE Campbell kiwi 200", "AT Hill +0.100000000 kiwi +1+1 200.1"],
      "AT Hill +0.100000000 kiwi +1+1 200.1",
    ],
    [
      "a tie of tombstones: greater origin",
      ["ERASE Hill kiwi 5", "ERASE Campbell kiwi 5"],
      "ERASE Hill kiwi 5",
    ],
    [
      "a later tombstone over a tombstone",
      ["ERASE Hill kiwi 5", "ERASE Campbell kiwi 6"],
      "ERASE Campbell kiwi 6",
    ],
    ["a long record over a short tombstone", [
      "ERASE H kiwi 5",
      "AT Singleton +0.100000000 kiwi +34.068930-118.445127 6",
    ], "AT Singleton +0.100000000 kiwi +34.068930-118.445127 6"],
  ];
  for (const [name, lines, held] of table) {
    await t.step(name, () => {
      const store = new RecordStore();
      for (const line of lines) store.apply(entry(line));
      assert.equal(store.entryLine("kiwi"), held);
      assert.equal(store.holds(held), true);
      const erased = held.startsWith("ERASE ");
      assert.equal(store.line("kiwi"), erased ? undefined : held);
      assert.equal(store.get("kiwi") === undefined, erased);
      assert.equal(store.size, erased ? 0 : 1);
      assert.equal(store.tombstones, erased ? 1 : 0);
      assert.equal(store.time("kiwi"), held.split(" ").at(-1));
      // The digest is that of a store that got the winner alone.
      const alone = new RecordStore();
      alone.apply(entry(held));
      assert.ok(sameDigest(store.digests.node(""), alone.digests.node("")));
    });
  }
});

Deno.test("RecordStore with tombstones: lists skip them, anti-entropy sends them, holds() knows them", () => {
  const store = new RecordStore();
  for (let i = 0; i < 50; i++) store.apply(entry(`AT Hill +0.100000000 c${i} +1+1 ${i}`));
  for (let i = 0; i < 50; i += 5) assert.equal(store.apply(entry(`ERASE Smith c${i} ${i}`)), true);
  assert.equal(store.apply(entry("ERASE Smith c0 0")), false, "an identical tombstone");
  assert.equal(store.apply(entry("ERASE Smith unknown 1")), true);
  assert.equal(store.size, 40);
  assert.equal(store.tombstones, 11);
  assert.equal([...store.lines()].length, 40);
  assert.equal([...store.records()].length, 40);
  assert.ok([...store.lines()].every(([id]) => Number(id.slice(1)) % 5 !== 0));
  const all = store.linesUnder("");
  assert.equal(all.records, 51);
  assert.equal(all.text.split("\n").filter((l) => l.startsWith("ERASE ")).length, 11);
  assert.equal(store.holds("ERASE Smith c5 5"), true);
  assert.equal(store.holds("ERASE Smith c5 5.0"), false);
  assert.equal(store.holds("ERASE Hill c5 5"), false);
  assert.equal(store.holds("AT Hill +0.100000000 c5 +1+1 5"), false);
  assert.deepEqual(store.entry("c5"), entry("ERASE Smith c5 5"));
  // A store fed the same entries in another order agrees byte for byte.
  const other = new RecordStore();
  for (const line of all.text.trimEnd().split("\n").reverse()) other.apply(entry(line));
  assert.ok(sameDigest(store.digests.node(""), other.digests.node("")));
  assert.equal(other.size, 40);
  assert.equal(other.tombstones, 11);
  // A record newer than a tombstone brings its client back.
  assert.equal(store.apply(entry("AT Hill +0.100000000 c5 +2+2 6")), true);
  assert.equal(store.size, 41);
  assert.equal(store.tombstones, 10);
});

Deno.test("RecordFile keeps tombstones: loadInto() gives the erasure back, not the record", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = RecordFile.open(dir, "Hill");
    file.save("kiwi", "AT Hill +0.100000000 kiwi +1+1 5");
    file.save("kiwi", "ERASE Smith kiwi 6");
    file.save("emu", "AT Hill +0.100000000 emu +1+1 5");
    file.close();
    const again = RecordFile.open(dir, "Hill");
    const store = new RecordStore();
    assert.deepEqual(again.loadInto(store), { records: 2, skipped: 0, expired: 0 });
    assert.equal(again.load().records.length, 2);
    again.close();
    assert.equal(store.get("kiwi"), undefined);
    assert.equal(store.entryLine("kiwi"), "ERASE Smith kiwi 6");
    assert.equal(store.size, 1);
    // The older record, flooded again by a neighbour that missed the erasure, is refused.
    assert.equal(store.apply(entry("AT Hill +0.100000000 kiwi +1+1 5")), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { parseConfig, testConfig } from "../../src/config.ts";
import {
  answerAsk,
  answerDigest,
  answerHave,
  answerWant,
  Member,
  openingDigest,
  RecordStore,
  type SessionRole,
} from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { type ClientRecord, formatAt, parseMessage } from "../../src/protocol/mod.ts";
import { exchange, TestHerd, waitFor } from "../_harness.ts";
import { noPlaces } from "../_no_places.ts";

// The one WHATSAT here checks only the AT line: members need no GeoNames data.
const places = noPlaces();

function at(origin: string, client: string, time: string, location = "+34-118"): ClientRecord {
  const m = parseMessage(`AT ${origin} +0.000000001 ${client} ${location} ${time}`);
  if (m.kind !== "AT") throw new Error(m.kind === "invalid" ? m.reason : m.kind);
  return m.record;
}

/**
 * Runs one reconciliation in memory until nothing more is said: `a` dials `b`,
 * so `a` pushes its records to `b`.
 */
function push(
  a: RecordStore,
  b: RecordStore,
): { lines: number; bytes: number; pushed: number } {
  let lines = 0;
  let bytes = 0;
  let pushed = 0;
  // Outboxes: what each side has to deliver to the other.
  let toB = openingDigest(a);
  let toA = "";
  while (toA !== "" || toB !== "") {
    const deliver = (text: string, store: RecordStore, role: SessionRole) => {
      let answer = "";
      for (const line of text.split("\n")) {
        if (line === "") continue;
        lines++;
        bytes += line.length + 1;
        const msg = parseMessage(line);
        if (msg.kind === "AT") store.apply(msg.record);
        else if (msg.kind === "DIGEST") answer += answerDigest(msg, store, role).text;
        else if (msg.kind === "WANT") answer += answerWant(msg, store).text;
        else if (msg.kind === "ASK") answer += answerAsk(msg, store);
        else if (msg.kind === "HAVE") answer += answerHave(msg, store).text;
        else throw new Error(`unexpected ${line}`);
      }
      return answer;
    };
    pushed += toB.split("\n").filter((l) => l.startsWith("AT ")).length;
    const nextToA = deliver(toB, b, "listener");
    const nextToB = deliver(toA, a, "dialler");
    toA = nextToA;
    toB = nextToB;
  }
  return { lines, bytes, pushed };
}

/** Both links of a pair reconcile: each side pushes to the other. */
function reconcile(a: RecordStore, b: RecordStore): { lines: number; bytes: number } {
  const ab = push(a, b);
  const ba = push(b, a);
  return { lines: ab.lines + ba.lines, bytes: ab.bytes + ba.bytes };
}

function dump(store: RecordStore): string[] {
  return [...store.records()].map(formatAt).sort();
}

Deno.test("reconciling identical stores of 100,000 clients sends one DIGEST line", () => {
  const a = new RecordStore();
  const b = new RecordStore();
  for (let i = 0; i < 100_000; i++) {
    const r = at("Hill", `client-${i}`, `1700000000.${i}`);
    a.apply(r);
    b.apply(r);
  }
  const { lines, bytes } = reconcile(a, b);
  assert.equal(lines, 2); // one DIGEST per direction
  assert.ok(bytes <= 64 * 1024, `${bytes} bytes`);
});

Deno.test("reconciling two diverged stores leaves both with the newest record of every client", () => {
  let seed = 42;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const a = new RecordStore();
  const b = new RecordStore();
  const newest = new RecordStore();
  for (let i = 0; i < 5000; i++) {
    const r = at(random() < 0.5 ? "Hill" : "Smith", `c${i % 3000}`, `${1700000000 + i}`);
    const side = random();
    if (side < 0.4 || side >= 0.8) a.apply(r);
    if (side >= 0.4) b.apply(r);
    newest.apply(r);
  }
  assert.notDeepEqual(dump(a), dump(b));
  reconcile(a, b);
  assert.deepEqual(dump(a), dump(newest));
  assert.deepEqual(dump(b), dump(newest));
});

Deno.test("a store that differs by one record is repaired by sending only a few records", () => {
  const a = new RecordStore();
  const b = new RecordStore();
  for (let i = 0; i < 20_000; i++) {
    const r = at("Hill", `client-${i}`, "1700000000");
    a.apply(r);
    b.apply(r);
  }
  a.apply(at("Smith", "client-77", "1700000001"));
  const { lines } = push(a, b);
  assert.equal(formatAt(b.get("client-77")!), formatAt(a.get("client-77")!));
  assert.ok(lines < 40, `${lines} lines`);
});

Deno.test("two members with identical stores of 100,000 clients find out over TCP within 64 KiB", async () => {
  const config = parseConfig(
    '[[servers]]\nname = "A"\nport = 1\n[[servers]]\nname = "B"\nport = 2\n[herd]\nlinks = [["A", "B"]]\n',
  );
  const test = { ...config, servers: config.servers.map((s) => ({ ...s, port: 0 })) };
  const addresses = new Map();
  const logs = [new MemoryLog(), new MemoryLog()];
  const members = ["A", "B"].map((name, i) =>
    new Member({ config: test, name, places, log: logs[i], addresses })
  );
  for (let i = 0; i < 100_000; i++) {
    const r = at("A", `client-${i}`, `1700000000.${i}`);
    for (const m of members) m.store.apply(r);
  }
  try {
    for (const m of members) m.start({ port: 0 });
    // Each side opens a reconciliation on its own link; both must be answered.
    await waitFor(() => logs.every((l) => l.named("sync.digest").length >= 1), 10000);
    const sent = members.reduce((n, m) => n + m.sync.bytesSent, 0);
    assert.ok(sent <= 64 * 1024, `${sent} bytes`);
    assert.equal(members.reduce((n, m) => n + m.sync.recordsSent, 0), 0);
    for (const l of logs) assert.equal(l.named("sync.digest")[0].fields.differing, 0);
  } finally {
    await Promise.all(members.map((m) => m.stop(0)));
  }
});

Deno.test("a link that dropped lines while down reconciles once when it comes up, not twice", async () => {
  const config = parseConfig(
    '[[servers]]\nname = "A"\nport = 1\n[[servers]]\nname = "B"\nport = 2\n[herd]\nlinks = [["A", "B"]]\npeer_queue_limit = 5\n',
  );
  const test = { ...config, servers: config.servers.map((s) => ({ ...s, port: 0 })) };
  const addresses = new Map();
  const [logA, logB] = [new MemoryLog(), new MemoryLog()];
  const a = new Member({ config: test, name: "A", places, log: logA, addresses });
  const b = new Member({ config: test, name: "B", places, log: logB, addresses });
  try {
    a.start({ port: 0 });
    const lines = Array.from({ length: 20 }, (_, i) => `IAMAT c${i} +34-118 1700000000.${i}\n`);
    await exchange(a.address, lines.join(""));
    assert.equal(logA.named("peer.queue.overflow").length, 1, "B's queue overflowed while down");
    b.start({ port: 0 });
    await waitFor(() => b.store.size === 20, 5000, "B has every record");
    const reasons = logA.named("sync.start").filter((e) => e.fields.peer === "B")
      .map((e) => e.fields.reason);
    assert.deepEqual(reasons, ["link up"]);
  } finally {
    await Promise.all([a.stop(0), b.stop(0)]);
  }
});

Deno.test("a member keeps answering clients while a reconciliation of 100,000 records runs", async () => {
  const config = parseConfig(
    '[[servers]]\nname = "A"\nport = 1\n[[servers]]\nname = "B"\nport = 2\n[herd]\nlinks = [["A", "B"]]\n',
  );
  const test = { ...config, servers: config.servers.map((s) => ({ ...s, port: 0 })) };
  const addresses = new Map();
  const a = new Member({ config: test, name: "A", places, log: new MemoryLog(), addresses });
  const b = new Member({ config: test, name: "B", places, log: new MemoryLog(), addresses });
  const n = 100_000;
  for (let i = 0; i < n; i++) a.store.apply(at("A", `client-${i}`, `1700000000.${i}`));
  try {
    a.start({ port: 0 });
    b.start({ port: 0 });
    await waitFor(() => b.store.size > 0, 10000, "B receiving A's records");
    const iamat = await exchange(b.address, "IAMAT asker +34-118 1700000001\n");
    const sizeAtReply = b.store.size;
    console.log(`IAMAT answered with ${sizeAtReply} of ${n} records reconciled`);
    assert.match(iamat, /^AT B [+-]\d+\.\d{9} asker \+34-118 1700000001\n$/);
    assert.ok((await exchange(b.address, "WHATSAT asker 10 1\n")).startsWith(iamat));
    assert.ok(
      sizeAtReply < n,
      `answered with ${sizeAtReply} of ${n} records in: mid-reconciliation`,
    );
    await waitFor(() => b.store.size === n + 1 && a.store.size === n + 1, 30000, "both complete");
  } finally {
    await Promise.all([a.stop(0), b.stop(0)]);
  }
});

Deno.test("the periodic reconciliation repairs a record no flood carried", async () => {
  const base = testConfig();
  const config = { ...base, settings: { ...base.settings, syncIntervalMs: 50 } };
  const herd = new TestHerd(config, places);
  await herd.start();
  try {
    // Written behind the herd's back: no flood goes out for it.
    herd.member("Hill").store.apply(at("Hill", "quiet", "1700000000"));
    await waitFor(
      () => [...herd.members.values()].every((m) => m.store.get("quiet") !== undefined),
      5000,
      "every member has the record",
    );
  } finally {
    await herd.stop();
  }
});

Deno.test("a client that sends DIGEST or WANT gets '? ' and changes nothing", async () => {
  const herd = new TestHerd(testConfig(), places);
  await herd.start();
  try {
    const digest = `DIGEST -${" 0".repeat(16)}`;
    const reply = await exchange(herd.address("Hill"), `${digest}\nWANT -\n`);
    assert.equal(reply, `? ${digest}\n? WANT -\n`);
    assert.equal(herd.member("Hill").store.size, 0);
  } finally {
    await herd.stop();
  }
});

Deno.test("a stale pusher sends only records that are not older; a fresh one sends the newer", () => {
  const stale = new RecordStore();
  const fresh = new RecordStore();
  for (let i = 0; i < 3000; i++) {
    stale.apply(at("Hill", `c${i}`, "1700000000"));
    // A third tie on time (Smith > Hill decides), the rest are newer on the fresh side.
    fresh.apply(at("Smith", `c${i}`, i % 3 === 0 ? "1700000000" : "1700000001"));
  }
  const before = dump(fresh);
  assert.equal(push(stale, fresh).pushed, 1000); // only the ties travel
  assert.deepEqual(dump(fresh), before);
  assert.equal(push(fresh, stale).pushed, 3000);
  assert.deepEqual(dump(stale), before);
});

Deno.test("a HAVE that would be too long becomes WANT, and the records still arrive", () => {
  const pusher = new RecordStore();
  const listener = new RecordStore();
  const long = `1700000000.${"1".repeat(9000)}`; // a client time longer than MAX_HAVE_BYTES
  listener.apply(at("Hill", "huge", long));
  pusher.apply(at("Smith", "huge", "1800000000"));
  pusher.apply(at("Smith", "other", "1800000000"));
  const haves: string[] = [];
  const msg = parseMessage(openingDigest(pusher).trimEnd());
  if (msg.kind !== "DIGEST") throw new Error("no digest");
  // The listener compares the root's children: both nodes are small, so it says what it holds.
  for (const line of answerDigest(msg, listener, "listener").text.split("\n")) {
    if (line !== "") haves.push(line.split(" ")[0]);
  }
  assert.ok(haves.includes("WANT"), haves.join(","));
  push(pusher, listener);
  assert.equal(listener.get("huge")?.origin, "Smith");
  assert.equal(listener.get("other")?.origin, "Smith");
});

import assert from "node:assert/strict";
import { parseConfig, testConfig } from "../../src/config.ts";
import {
  answerAsk,
  answerDigest,
  answerHave,
  answerWant,
  CHUNK_RECORDS,
  EXCHANGE_RECORDS,
  Member,
  openingDigest,
  RecordStore,
  RecordStream,
  type SessionRole,
  type TextChunks,
} from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import {
  type ClientRecord,
  DIGEST_DEPTH,
  DIGEST_FANOUT,
  type DigestMessage,
  formatAsk,
  formatAt,
  formatDigest,
  parseMessage,
  sameDigest,
} from "../../src/protocol/mod.ts";
import { exchange, OpenClient, TestHerd, waitFor } from "../_harness.ts";
import { noPlaces } from "../_no_places.ts";

// The one WHATSAT here checks only the AT line: members need no GeoNames data.
const places = noPlaces();

function at(origin: string, client: string, time: string, location = "+34-118"): ClientRecord {
  const m = parseMessage(`AT ${origin} +0.000000001 ${client} ${location} ${time}`);
  if (m.kind !== "AT") throw new Error(m.kind === "invalid" ? m.reason : m.kind);
  return m.record;
}

/** How one side answers a DIGEST: this version's `answerDigest()`, or an older member's. */
type DigestAnswerer = (msg: DigestMessage, store: RecordStore, role: SessionRole) => string;

/** An answer's text and then every chunk of its stream, as the link writes them. */
function whole(answer: { text: string; rest: TextChunks | null }): string {
  let text = answer.text;
  for (let c = answer.rest?.next() ?? null; c !== null; c = answer.rest!.next()) text += c.text;
  return text;
}

const current: DigestAnswerer = (msg, store, role) => whole(answerDigest(msg, store, role));

/**
 * How a member answered a DIGEST before it sent (or asked for) every record
 * under a node the other side lacks: it only descends, lists (HAVE) or asks
 * (ASK). Its ASK, HAVE and WANT answers are this version's.
 */
const older: DigestAnswerer = (msg, store, role) => {
  let text = "";
  const asked: string[] = [];
  for (let i = 0; i < DIGEST_FANOUT; i++) {
    const child = msg.prefix + i.toString(16);
    const theirs = msg.children[i];
    const ours = store.digests.node(child);
    if (sameDigest(theirs, ours)) continue;
    if (child.length === DIGEST_DEPTH || theirs.count + ours.count <= EXCHANGE_RECORDS) {
      if (role === "dialler" && ours.count > 0) asked.push(child);
      if (role === "listener" && theirs.count > 0) {
        text += answerAsk({ kind: "ASK", prefixes: [child] }, store);
      }
    } else {
      text += formatDigest(child, store.digests.children(child)) + "\n";
    }
  }
  return asked.length > 0 ? text + formatAsk(asked) + "\n" : text;
};

/**
 * Runs one reconciliation in memory until nothing more is said: `a` dials `b`,
 * so `a` pushes its records to `b`. `rounds` counts the times the two sides
 * took turns (the opening DIGEST's delivery is the first).
 */
function push(
  a: RecordStore,
  b: RecordStore,
  answerers: { a: DigestAnswerer; b: DigestAnswerer } = { a: current, b: current },
): { lines: number; bytes: number; pushed: number; rounds: number } {
  let lines = 0;
  let bytes = 0;
  let pushed = 0;
  let rounds = 0;
  // Outboxes: what each side has to deliver to the other.
  let toB = openingDigest(a);
  let toA = "";
  while (toA !== "" || toB !== "") {
    const deliver = (text: string, store: RecordStore, role: SessionRole) => {
      const digest = role === "dialler" ? answerers.a : answerers.b;
      let answer = "";
      for (const line of text.split("\n")) {
        if (line === "") continue;
        lines++;
        bytes += line.length + 1;
        const msg = parseMessage(line);
        if (msg.kind === "AT") store.apply(msg.record);
        else if (msg.kind === "DIGEST") answer += digest(msg, store, role);
        else if (msg.kind === "WANT") answer += whole(answerWant(msg, store));
        else if (msg.kind === "ASK") answer += answerAsk(msg, store);
        else if (msg.kind === "HAVE") answer += answerHave(msg, store).text;
        else throw new Error(`unexpected ${line}`);
      }
      return answer;
    };
    rounds++;
    pushed += toB.split("\n").filter((l) => l.startsWith("AT ")).length;
    const nextToA = deliver(toB, b, "listener");
    const nextToB = deliver(toA, a, "dialler");
    toA = nextToA;
    toB = nextToB;
  }
  return { lines, bytes, pushed, rounds };
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
  let client: OpenClient | undefined;
  try {
    b.start({ port: 0 });
    // Connected before the repair starts: the IAMAT then waits for no accept.
    client = await OpenClient.connect(b.address);
    a.start({ port: 0 });
    await waitFor(() => b.store.size > 0, 10000, "B receiving A's records");
    await client.send("IAMAT asker +34-118 1700000001\n");
    const iamat = (await client.line()) + "\n";
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
    client?.close();
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

/** A store of `n` clients `client-<i>` (origin Hill, client time 1700000000.<i>). */
function storeOf(n: number, first = 0): RecordStore {
  const store = new RecordStore();
  for (let i = first; i < first + n; i++) {
    store.apply(at("Hill", `client-${i}`, `1700000000.${i}`));
  }
  return store;
}

Deno.test("a listener restarted empty asks for every record with one WANT", () => {
  const full = storeOf(1000);
  const empty = new RecordStore();
  const opening = parseMessage(openingDigest(full).trimEnd()) as DigestMessage;
  // Every child of the root holds records at the pusher and none here.
  assert.equal(
    answerDigest(opening, empty, "listener").text,
    "WANT 0 1 2 3 4 5 6 7 8 9 a b c d e f\n",
  );
  const run = push(full, empty);
  assert.equal(empty.size, 1000);
  assert.deepEqual(dump(empty), dump(full));
  // DIGEST, WANT, then the records: one round trip.
  assert.equal(run.lines, 2 + 1000);
  assert.equal(run.rounds, 3);
});

Deno.test("a pusher sends at once every record under a node its listener lacks", () => {
  const full = storeOf(1000);
  const empty = new RecordStore();
  // The listener's digests of the root's children: all empty.
  const theirs = parseMessage(openingDigest(empty).trimEnd()) as DigestMessage;
  const answer = answerDigest(theirs, full, "dialler");
  assert.equal(answer.records, 1000);
  assert.equal(answer.differing, DIGEST_FANOUT);
  assert.deepEqual(answer.text.trimEnd().split("\n").sort(), dump(full));
});

Deno.test("an answer of more than CHUNK_RECORDS records streams every record once, a chunk at a time", () => {
  const full = storeOf(3 * CHUNK_RECORDS + 123);
  const small = answerWant({ kind: "WANT", prefixes: ["0"] }, full);
  assert.equal(small.rest, null, "a sixteenth of the store fits in one answer");
  const sent = answerWant({ kind: "WANT", prefixes: [""] }, full);
  assert.equal(sent.text, "");
  assert.ok(sent.rest instanceof RecordStream);
  assert.equal(sent.rest.expected, full.size);
  const lines: string[] = [];
  let chunks = 0;
  for (let c = sent.rest.next(); c !== null; c = sent.rest.next()) {
    assert.ok(c.records <= CHUNK_RECORDS, `${c.records} records in a chunk`);
    assert.equal(c.text.split("\n").length - 1, c.records);
    lines.push(...c.text.trimEnd().split("\n"));
    chunks++;
  }
  assert.ok(chunks >= 4, `${chunks} chunks`);
  assert.deepEqual(lines.sort(), dump(full));
  // The pusher's answer to an empty listener's DIGEST streams the same way.
  const empty = new RecordStore();
  const theirs = parseMessage(openingDigest(empty).trimEnd()) as DigestMessage;
  const answer = answerDigest(theirs, full, "dialler");
  assert.equal(answer.records, 0);
  assert.deepEqual(whole(answer).trimEnd().split("\n").sort(), dump(full));
});

Deno.test("a stream built while the store changes sends every client it started with, each once", () => {
  const store = storeOf(2 * CHUNK_RECORDS);
  const before = new Set([...store.records()].map((r) => r.clientId));
  const stream = new RecordStream(store, [""]);
  let text = stream.next()!.text;
  // Between chunks: a new client, and a newer record of every client.
  store.apply(at("Hill", "late-client", "1800000000"));
  for (let i = 0; i < 2 * CHUNK_RECORDS; i++) {
    store.apply(at("Hill", `client-${i}`, `1700000001.${i}`));
  }
  for (let c = stream.next(); c !== null; c = stream.next()) text += c.text;
  const clients = text.trimEnd().split("\n").map((line) => line.split(" ")[3]);
  assert.equal(new Set(clients).size, clients.length, "no client twice");
  for (const id of before) assert.ok(clients.includes(id), `${id} sent`);
});

Deno.test("the side that holds nothing under a node is never asked about it", () => {
  const full = storeOf(1000);
  // Pushing an empty store: the listener sees nothing to receive, and says nothing.
  const run = push(new RecordStore(), full);
  assert.equal(run.lines, 1); // the opening DIGEST
  assert.equal(full.size, 1000);
});

Deno.test("a listener holding a few of the records under a node asks for all of them", () => {
  const full = storeOf(4000);
  const few = storeOf(300); // the same first 300 records
  const run = push(full, few);
  assert.deepEqual(dump(few), dump(full));
  // 300 <= 4000 / 4 under every child of the root: one WANT, every record sent.
  assert.equal(run.pushed, 4000);
  assert.equal(run.rounds, 3);
});

Deno.test("a reconciliation with an older member converges, whichever side is older", async (t) => {
  const cases: Array<[string, { a: DigestAnswerer; b: DigestAnswerer }]> = [
    ["older listener", { a: current, b: older }],
    ["older pusher", { a: older, b: current }],
    ["both older", { a: older, b: older }],
  ];
  for (const [name, answerers] of cases) {
    await t.step(name, () => {
      // Restarted empty, a few records in common, and diverged stores.
      const pairs: Array<[RecordStore, RecordStore]> = [
        [storeOf(3000), new RecordStore()],
        [storeOf(3000), storeOf(200, 100)],
        [storeOf(3000), storeOf(3000, 1500)],
      ];
      for (const [a, b] of pairs) {
        const newest = new RecordStore();
        for (const r of [...a.records(), ...b.records()]) newest.apply(r);
        push(a, b, answerers);
        assert.deepEqual(dump(b), dump(newest));
      }
    });
  }
  // A member restarted empty has every record after one round trip if either side is of this
  // version (a pusher sends every record one level below an older listener's descent); two
  // older members descend further.
  const rounds = (answerers: { a: DigestAnswerer; b: DigestAnswerer }) =>
    push(storeOf(3000), new RecordStore(), answerers).rounds;
  const now = rounds({ a: current, b: current });
  assert.equal(rounds({ a: current, b: older }), now);
  assert.equal(rounds({ a: older, b: current }), now);
  assert.ok(rounds({ a: older, b: older }) > now);
});

Deno.test("a member restarted with an empty store gets every record after one round trip, over TCP", async () => {
  const config = parseConfig(
    '[[servers]]\nname = "A"\nport = 1\n[[servers]]\nname = "B"\nport = 2\n[herd]\nlinks = [["A", "B"]]\n',
  );
  const test = { ...config, servers: config.servers.map((s) => ({ ...s, port: 0 })) };
  const addresses = new Map();
  const [logA, logB] = [new MemoryLog(), new MemoryLog()];
  const a = new Member({ config: test, name: "A", places, log: logA, addresses });
  const b = new Member({ config: test, name: "B", places, log: logB, addresses });
  const n = 20_000;
  for (let i = 0; i < n; i++) a.store.apply(at("A", `client-${i}`, `1700000000.${i}`));
  try {
    a.start({ port: 0 });
    b.start({ port: 0 });
    await waitFor(() => b.store.size === n, 20000, "B has every record");
    assert.deepEqual(b.store.digests.node(""), a.store.digests.node(""));
    // B answered A's opening with a WANT; A answered that with every record, once.
    const wants = logA.named("sync.want");
    assert.equal(wants.length, 1);
    assert.equal(wants[0].fields.records, n);
    assert.deepEqual(logB.named("sync.digest").map((e) => e.fields.prefix), ["-"]);
    // B's own link pushed its empty store: A had nothing to ask for.
    assert.equal(b.sync.recordsSent, 0);
    assert.deepEqual(logA.named("sync.digest").map((e) => e.fields.differing), [DIGEST_FANOUT]);
  } finally {
    await Promise.all([a.stop(0), b.stop(0)]);
  }
});

import assert from "node:assert/strict";
import {
  CHUNK_RECORDS,
  type Conn,
  type FloodTarget,
  freshActivity,
  runSession,
  serveLine,
  type SessionOptions,
} from "../../src/herd/mod.ts";
import { fakeTimers, record, testPort } from "./_port.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A connection that yields the given chunks, then EOF, and writes into a
 * trace shared with the links, so the order of writes can be asserted.
 */
function scriptedConn(chunks: string[], trace: string[]): Conn {
  const reads = chunks.map((c) => encoder.encode(c));
  return {
    remoteAddr: { hostname: "127.0.0.1", port: 5000 },
    read(buf) {
      const next = reads.shift();
      if (next === undefined) return Promise.resolve(null);
      buf.set(next);
      return Promise.resolve(next.length);
    },
    write(bytes) {
      trace.push(`reply ${decoder.decode(bytes)}`);
      return Promise.resolve(bytes.length);
    },
    closeWrite: () => Promise.resolve(),
    close() {},
  };
}

/** A link that only writes when flushed, into the trace. */
function tracedLink(name: string, trace: string[]): FloodTarget {
  let queued = "";
  return {
    send(line) {
      queued += line;
    },
    flush() {
      if (queued === "") return;
      trace.push(`${name} ${queued}`);
      queued = "";
    },
  };
}

const OPTS: SessionOptions = {
  id: 1,
  role: "listener",
  maxLineBytes: 1024,
  peerLineBytes: 4096,
  writeTimeoutMs: 1000,
};

Deno.test("runSession() issues every link's flood write before the reply that caused it", async () => {
  const trace: string[] = [];
  const links = new Map([["Smith", tracedLink("Smith", trace)], [
    "Jaquez",
    tracedLink("Jaquez", trace),
  ]]);
  const { port } = testPort({ links });
  const conn = scriptedConn(["IAMAT a +1+1 1621464828\nIAMAT b +1+1 1621464828\n"], trace);
  const end = await runSession(conn, port, OPTS);
  assert.equal(end.reason, "closed by client");
  const a = "AT Campbell +0.223372000 a +1+1 1621464828\n";
  const b = "AT Campbell +0.223372000 b +1+1 1621464828\n";
  // One read: both floods leave in one write per link, then one write carries both replies.
  assert.deepEqual(trace, [`Smith ${a}${b}`, `Jaquez ${a}${b}`, `reply ${a}${b}`]);
});

Deno.test("runSession() floods before the reply when a WHATSAT follows an IAMAT in the same read", async () => {
  const trace: string[] = [];
  const links = new Map([["Smith", tracedLink("Smith", trace)]]);
  const { port } = testPort({ links });
  const conn = scriptedConn(["IAMAT a +1+1 1621464828\nWHATSAT a 10 1\n"], trace);
  await runSession(conn, port, OPTS);
  assert.equal(trace.length, 3);
  assert.ok(trace[0].startsWith("Smith AT Campbell"), trace[0]);
  assert.ok(trace[1].startsWith("reply AT Campbell"), "the IAMAT's reply before the WHATSAT's");
  assert.ok(trace[2].startsWith("reply AT Campbell +0.223372000 a") && trace[2].endsWith("}\n\n"));
});

Deno.test("runSession() answers a last line without LF at EOF, and does not flood an older record", async () => {
  const trace: string[] = [];
  const links = new Map([["Smith", tracedLink("Smith", trace)]]);
  const { port, store } = testPort({ links });
  const conn = scriptedConn(["IAMAT a +1+1 1621464828\n", "IAMAT a +2+2 1621464827"], trace);
  await runSession(conn, port, OPTS);
  assert.deepEqual(trace, [
    "Smith AT Campbell +0.223372000 a +1+1 1621464828\n",
    "reply AT Campbell +0.223372000 a +1+1 1621464828\n",
    "reply AT Campbell +1.223372000 a +2+2 1621464827\n",
  ]);
  assert.equal(store.line("a"), "AT Campbell +0.223372000 a +1+1 1621464828");
});

Deno.test("runSession() logs every line in as msg.in, with the peer once a hello is accepted", async () => {
  const trace: string[] = [];
  const { port, log, store, redialed } = testPort();
  const conn = scriptedConn([
    "HERD 1 Smith\n",
    "AT Smith +0.100000000 kiwi +34-118 1621464828\n",
  ], trace);
  const end = await runSession(conn, port, OPTS);
  assert.equal(end.peer, "Smith");
  assert.deepEqual(redialed, ["Smith"]);
  assert.deepEqual(trace, ["reply HERD 1 Campbell\n"]);
  assert.equal(store.line("kiwi"), "AT Smith +0.100000000 kiwi +34-118 1621464828");
  const ins = log.named("msg.in").map((e) => [e.fields.peer, e.fields.line]);
  assert.deepEqual(ins, [
    [undefined, "HERD 1 Smith"],
    ["Smith", "AT Smith +0.100000000 kiwi +34-118 1621464828"],
  ]);
});

Deno.test("runSession() logs the lines of one read as one msg.in, and the records they stored as one record.stored", async () => {
  const trace: string[] = [];
  const { port, log, store } = testPort();
  const conn = scriptedConn(
    [
      "HERD 1 Smith\n",
      "AT Smith +0.1 emu +34-118 5\nAT Smith +0.1 kiwi +34-118 1621464828\nAT Smith +0.1 emu +34-118 4\n",
      "AT Smith +0.1 owl +34-118 7\n",
    ].map((c) => c.replaceAll("+0.1 ", "+0.100000000 ")),
    trace,
  );
  await runSession(conn, port, OPTS);
  assert.equal(store.size, 3);
  const ins = log.named("msg.in").map((e) => [e.fields.line, e.fields.lines]);
  assert.deepEqual(ins, [
    ["HERD 1 Smith", undefined],
    [undefined, [
      "AT Smith +0.100000000 emu +34-118 5",
      "AT Smith +0.100000000 kiwi +34-118 1621464828",
      "AT Smith +0.100000000 emu +34-118 4",
    ]],
    ["AT Smith +0.100000000 owl +34-118 7", undefined],
  ]);
  // The older emu record stored nothing; the batch names the clients stored, in order.
  const stored = log.named("record.stored").map((
    e,
  ) => [e.fields.peer, e.fields.client, e.fields.clients]);
  assert.deepEqual(stored, [
    ["Smith", undefined, ["emu", "kiwi"]],
    ["Smith", "owl", undefined],
  ]);
  // Each read's msg.in comes before its record.stored.
  const order = log.events.map((e) => e.event).filter((e) =>
    e === "msg.in" || e === "record.stored"
  );
  assert.deepEqual(order, ["msg.in", "msg.in", "record.stored", "msg.in", "record.stored"]);
});

Deno.test("runSession() logs the replies of one write as one reply.out, and each `? ` reply alone", async () => {
  const trace: string[] = [];
  const { port, log } = testPort();
  const conn = scriptedConn([
    "IAMAT a +34-118 1\nIAMAT b +34-118 1\nnope\nIAMAT c +34-118 1\n",
  ], trace);
  await runSession(conn, port, OPTS);
  assert.equal(trace.filter((t) => t.startsWith("reply ")).length, 1, "one write");
  const outs = log.named("reply.out").map((e) => [
    e.fields.reply === undefined
      ? undefined
      : String(e.fields.reply).split(" ", 4)[3] ?? e.fields.reply,
    (e.fields.replies as string[] | undefined)?.map((r) => r.split(" ")[3]),
    e.fields.reason,
  ]);
  assert.deepEqual(outs, [
    [undefined, ["a", "b"], undefined],
    ["? nope\n", undefined, "unknown command"],
    ["c", undefined, undefined],
  ]);
});

Deno.test("runSession() on our own link hands replies to the link's output, never to the socket", async () => {
  const trace: string[] = [];
  const out: string[] = [];
  let welcomed = 0;
  const { port } = testPort();
  const conn = scriptedConn([
    "HERD 1 Smith\n",
    "DIGEST - " + Array(16).fill("0").join(" ") + "\n",
  ], trace);
  await runSession(conn, port, {
    ...OPTS,
    role: "dialler",
    peer: "Smith",
    output: (wire) => out.push(wire),
    onWelcomed: () => welcomed++,
  });
  assert.equal(welcomed, 1);
  assert.deepEqual(trace, [], "nothing written on the socket by the session");
  assert.deepEqual(out, [], "an empty store answers an empty digest with nothing");
});

Deno.test("runSession() logs a `? ` reply's reason with its reply.out, and no reason for others", async () => {
  const trace: string[] = [];
  const { port, log } = testPort();
  const long = "IAMAT " + "x".repeat(OPTS.maxLineBytes);
  const conn = scriptedConn([
    "IAMAT a +1+1 1621464828\nWHATSAT nobody 10 5\nWHATSAT a 51 5\n",
    `${long}\n`,
  ], trace);
  await runSession(conn, port, OPTS);
  const head = long.slice(0, OPTS.maxLineBytes);
  // The wire carries `? ` and the line, nothing of the reason (WHATSAT goes out in writes of its own).
  assert.equal(
    trace.map((t) => t.replace(/^reply /, "")).join(""),
    "AT Campbell +0.223372000 a +1+1 1621464828\n? WHATSAT nobody 10 5\n? WHATSAT a 51 5\n" +
      `? ${head}\n`,
  );
  const outs = log.named("reply.out").map((e) => [String(e.fields.reply), e.fields.reason]);
  assert.deepEqual(outs, [
    ["AT Campbell +0.223372000 a +1+1 1621464828\n", undefined],
    ["? WHATSAT nobody 10 5\n", "unknown client"],
    ["? WHATSAT a 51 5\n", "radius out of range (0 < r <= 50 km)"],
    [`? ${head}\n`, "line too long"],
  ]);
});

Deno.test("serveLine() serves another face's line as a TCP client's: logged with via, stored, flooded before the reply", async () => {
  const trace: string[] = [];
  const links = new Map<string, FloodTarget>([
    ["Smith", { send: (l) => trace.push(`queue ${l.trim()}`), flush: () => trace.push("flush") }],
  ]);
  const { port, store, log } = testPort({ links });
  const source = { id: 7, remote: "127.0.0.1:5000", remoteHost: "127.0.0.1", via: "http" };
  const iamat = "IAMAT kiwi +34.068930-118.445127 1621464827.959498503";
  const first = await serveLine(port, source, iamat);
  const at = "AT Campbell +0.263873497 kiwi +34.068930-118.445127 1621464827.959498503";
  assert.equal(first.reply?.wire, `${at}\n`);
  assert.equal(first.stored, true);
  assert.equal(store.line("kiwi"), at);
  assert.deepEqual(trace, [`queue ${at}`, "flush"], "queued and flushed by the time it returns");
  const again = await serveLine(port, source, iamat);
  assert.equal(again.stored, false, "an equal record is not stored again");
  assert.equal(again.reply?.wire, `${at}\n`, "the reply is still the AT line");
  const bad = await serveLine(port, source, "WHATSAT nobody 10 1");
  assert.equal(bad.reply?.wire, "? WHATSAT nobody 10 1\n");
  assert.equal(bad.stored, false);
  const ins = log.named("msg.in").map((e) => [e.fields.conn, e.fields.via, e.fields.line]);
  assert.deepEqual(ins[0], [7, "http", iamat]);
  const stored = log.named("record.stored").map((
    e,
  ) => [e.fields.conn, e.fields.via, e.fields.client]);
  assert.deepEqual(stored, [[7, "http", "kiwi"]]);
  const outs = log.named("reply.out").map((e) => [e.fields.via, e.fields.reason]);
  assert.deepEqual(outs, [["http", undefined], ["http", undefined], ["http", "unknown client"]]);
});

Deno.test("runSession() paces a client over max_lines_per_s: in order, nothing dropped, one event per episode", async () => {
  const { clock, timers } = fakeTimers();
  const { port, log } = testPort({ timers });
  const trace: string[] = [];
  // Reads are released one at a time, so the test decides when each chunk arrives.
  const chunks: Array<(text: string | null) => void> = [];
  const conn: Conn = {
    remoteAddr: { hostname: "127.0.0.1", port: 5000 },
    read(buf) {
      return new Promise((resolve) =>
        chunks.push((text) => {
          if (text === null) return resolve(null);
          const bytes = encoder.encode(text);
          buf.set(bytes);
          resolve(bytes.length);
        })
      );
    },
    write(bytes) {
      trace.push(decoder.decode(bytes));
      return Promise.resolve(bytes.length);
    },
    closeWrite: () => Promise.resolve(),
    close() {},
  };
  const lines = (tag: string) =>
    ["a", "b", "c"].map((x) => `IAMAT ${tag}${x} +34-118 1621464828\n`).join("");
  const ids = () => trace.join("").split("\n").filter((l) => l !== "").map((l) => l.split(" ")[3]);
  const session = runSession(conn, port, { ...OPTS, maxLinesPerS: 2 });
  const release = async (text: string | null) => {
    while (chunks.length === 0) await clock.tickAsync(0);
    chunks.shift()!(text);
    await clock.tickAsync(0);
  };

  // Two lines a second: the third of a burst waits half a second, after the first two's replies.
  await release(lines("1"));
  assert.deepEqual(ids(), ["1a", "1b"]);
  assert.equal(log.named("conn.throttled").length, 1);
  await clock.tickAsync(499);
  assert.deepEqual(ids(), ["1a", "1b"]);
  await clock.tickAsync(1);
  assert.deepEqual(ids(), ["1a", "1b", "1c"]);

  // A quiet second ends the episode: the next burst is logged again.
  await clock.tickAsync(1000);
  await release(lines("2"));
  assert.deepEqual(ids(), ["1a", "1b", "1c", "2a", "2b"]);
  assert.equal(log.named("conn.throttled").length, 2);
  await clock.tickAsync(500);
  assert.deepEqual(ids(), ["1a", "1b", "1c", "2a", "2b", "2c"]);
  await release(null);
  assert.equal((await session).reason, "closed by client");
});

Deno.test("runSession() on a neighbour's connection writes a large anti-entropy answer a chunk per write, in reply order", async () => {
  const trace: string[] = [];
  const { port, store, log } = testPort();
  const n = 2 * CHUNK_RECORDS + 1;
  for (let i = 0; i < n; i++) store.apply(record(`AT Hill +0.000000001 c${i} +1+1 1700000000`));
  const conn = scriptedConn(["HERD 1 Smith\n", "WANT -\nPING 5\n"], trace);
  await runSession(conn, port, OPTS);
  assert.match(trace[0], /^reply HERD 1 Campbell/);
  const chunks = trace.slice(1, -1).map((w) => w.slice("reply ".length));
  assert.ok(chunks.length >= 3, `${chunks.length} writes`);
  const lines = chunks.flatMap((c) => c.trimEnd().split("\n"));
  for (const c of chunks) assert.ok(c.split("\n").length - 1 <= CHUNK_RECORDS);
  assert.equal(new Set(lines).size, n, "every record once");
  assert.equal(trace.at(-1), "reply PONG 5\n", "the PING's answer after the WANT's");
  // Each chunk is logged as it is written.
  const outs = log.named("reply.out").map((e) => String(e.fields.reply ?? ""));
  assert.equal(outs.filter((r) => r.startsWith("AT Hill")).length, chunks.length);
});

Deno.test("runSession() lets timers run while reads keep finding their bytes waiting", async () => {
  // Every read completes at once (a microtask), as reads of a socket with bytes waiting do: with
  // no turn for timers, a keepalive ping would wait until the reads ran out.
  const line = encoder.encode("WHATSAT nobody 10 1\n");
  const most = 400_000;
  let reads = 0;
  let firedAt: number | undefined;
  const conn: Conn = {
    remoteAddr: { hostname: "127.0.0.1", port: 5000 },
    read(buf) {
      if (reads++ >= most || firedAt !== undefined) return Promise.resolve(null);
      buf.set(line);
      return Promise.resolve(line.length);
    },
    write: (bytes) => Promise.resolve(bytes.length),
    closeWrite: () => Promise.resolve(),
    close() {},
  };
  const timer = setTimeout(() => firedAt = reads, 0);
  try {
    await runSession(conn, testPort().port, OPTS);
  } finally {
    clearTimeout(timer);
  }
  assert.ok(firedAt !== undefined && firedAt < most, `the timer ran at read ${firedAt}`);
});

Deno.test("runSession() ended by the member's stop between two reads says so: closed by the member", async () => {
  const activity = freshActivity(0, false);
  let reads = 0;
  const conn: Conn = {
    remoteAddr: { hostname: "127.0.0.1", port: 5000 },
    read(buf) {
      if (reads++ > 0) return Promise.resolve(null);
      const line = encoder.encode("WHATSAT nobody 10 1\n");
      buf.set(line);
      return Promise.resolve(line.length);
    },
    write(bytes) {
      activity.draining = true; // the stop comes while the reply is written, not under a read
      return Promise.resolve(bytes.length);
    },
    closeWrite: () => Promise.resolve(),
    close() {},
  };
  const end = await runSession(conn, testPort().port, { ...OPTS, activity });
  assert.equal(reads, 1, "no read after the stop");
  assert.equal(end.reason, "member stopping");
  assert.equal(end.closedByMember, true);
});

import assert from "node:assert/strict";
import { testConfig } from "../src/config.ts";
import { Member } from "../src/herd/mod.ts";
import { memberLog, MemoryLog, setupLogging, stopLogging } from "../src/log.ts";
import { exchange } from "./_harness.ts";
import { noPlaces } from "./_no_places.ts";

Deno.test("setupLogging() writes one JSON Lines file per member with flattened event fields", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herd-log-" });
  try {
    await setupLogging({ logDir: dir, members: ["Campbell", "Hill"], console: null });
    memberLog("Campbell").emit("info", "msg.in", {
      conn: 7,
      remote: "127.0.0.1:1",
      line: "IAMAT x",
    });
    memberLog("Hill").emit("warning", "peer.link.dropped", { peer: "Smith", reason: "reset" });
    memberLog("Hill").emit("debug", "conn.open", { conn: 1 });
    await stopLogging();
    const campbell = (await Deno.readTextFile(`${dir}/Campbell.log`)).trimEnd().split("\n");
    assert.equal(campbell.length, 1);
    const ev = JSON.parse(campbell[0]);
    assert.equal(ev.event, "msg.in");
    assert.equal(ev.message, "msg.in");
    assert.equal(ev.conn, 7);
    assert.equal(ev.line, "IAMAT x");
    assert.equal(ev.level, "INFO");
    assert.ok(!Number.isNaN(Date.parse(ev["@timestamp"])));
    const hill = (await Deno.readTextFile(`${dir}/Hill.log`)).trimEnd().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.deepEqual(hill.map((e) => e.event), ["peer.link.dropped", "conn.open"]);
    assert.equal(hill[0].peer, "Smith");
  } finally {
    await stopLogging();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a member's log file records messages in, replies out and its listening address", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herd-log-" });
  const config = testConfig();
  const member = new Member({
    config,
    name: "Campbell",
    places: noPlaces(), // no WHATSAT here
    log: memberLog("Campbell"),
  });
  try {
    await setupLogging({ logDir: dir, members: ["Campbell"], console: null });
    const addr = member.start({ port: 0 });
    await exchange(addr, "IAMAT logme +1+1 1700000000\nbad line\n");
    await member.stop();
    await stopLogging();
    const events = (await Deno.readTextFile(`${dir}/Campbell.log`)).trimEnd().split("\n").map((
      l,
    ) => JSON.parse(l));
    const listening = events.find((e) => e.event === "member.listening");
    assert.equal(listening?.address, `127.0.0.1:${addr.port}`);
    // One read: its two lines in one event.
    const ins = events.filter((e) => e.event === "msg.in").map((e) => e.lines);
    assert.deepEqual(ins, [["IAMAT logme +1+1 1700000000", "bad line"]]);
    const stored = events.filter((e) => e.event === "record.stored");
    assert.deepEqual(stored.map((e) => e.client), ["logme"]);
    const outs = events.filter((e) => e.event === "reply.out");
    assert.equal(outs.length, 2);
    assert.match(outs[0].reply, /^AT Campbell \S+ logme /);
    assert.equal(outs[1].reply, "? bad line\n");
    assert.match(outs[0].remote, /^127\.0\.0\.1:\d+$/);
    assert.ok(events.some((e) => e.event === "member.stopped"));
  } finally {
    await member.stop();
    await stopLogging();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("MemoryLog keeps events in order and filters by name", () => {
  const log = new MemoryLog();
  log.emit("info", "sync.start", { n: 1 });
  log.emit("debug", "conn.open", {});
  log.emit("info", "sync.start", { n: 2 });
  assert.deepEqual(log.named("sync.start").map((e) => e.fields.n), [1, 2]);
  assert.equal(log.events.length, 3);
});

Deno.test("a log file writes strings and lists of strings exactly as JSON.stringify does", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herd-log-" });
  const plain = "AT Hill +0.000123456 a-plain-client-id +34.068930-118.445127 1700000000.5";
  const table = [
    plain,
    "",
    "short",
    `${plain} "quoted"`,
    `${plain} back\\slash`,
    `${plain} \u0001\u001f control`,
    `${plain} DEL \u007f`,
    `${plain} é ü 🦆`,
    `${plain} lone \ud800 surrogate`,
  ];
  try {
    await setupLogging({ logDir: dir, members: ["Hill"], console: null });
    const log = memberLog("Hill");
    for (const text of table) log.emit("info", "msg.in", { conn: 1, line: text });
    log.emit("info", "msg.in", { conn: 1, lines: [plain, plain, "x"] });
    log.emit("info", "msg.in", { conn: 1, lines: table });
    log.emit("info", "msg.in", { conn: 1, lines: [] });
    await stopLogging();
    const raw = (await Deno.readTextFile(`${dir}/Hill.log`)).trimEnd().split("\n");
    const want = [
      ...table.map((t) => `"line":${JSON.stringify(t)}}`),
      `"lines":${JSON.stringify([plain, plain, "x"])}}`,
      `"lines":${JSON.stringify(table)}}`,
      `"lines":[]}`,
    ];
    assert.equal(raw.length, want.length);
    raw.forEach((line, i) => assert.ok(line.endsWith(want[i]), `${i}: ${line}`));
  } finally {
    await stopLogging();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a log file keeps every line whole and in order when events outpace its writes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herd-log-" });
  // About 6 MB in one synchronous burst: the first write is in flight for all of it, so the
  // writer's 512 KiB buffers fill and queue many times over. Some lines need escapes, one is
  // longer than a buffer, and many straddle the end of one.
  const n = 30_000;
  const odd = (i: number) => i % 997 === 0 ? ` "quoted" \\ é ${"\u0001"}` : "";
  const burst = () => {
    const log = memberLog("Hill");
    for (let i = 0; i < n; i++) {
      log.emit("info", "msg.in", {
        conn: i,
        line: `IAMAT c${i} +34-118 ${"x".repeat(150)}${odd(i)}`,
      });
      if (i === n / 2) log.emit("info", "msg.in", { conn: -1, line: "y".repeat(600_000) });
    }
  };
  // Each write must end with a whole line, so a reader (tail, grep) or a crash never sees half
  // of one: the file's writes are watched.
  const write = Deno.FsFile.prototype.write;
  const lastBytes: number[] = [];
  Deno.FsFile.prototype.write = function (this: Deno.FsFile, p: Uint8Array) {
    lastBytes.push(p[p.length - 1]);
    return write.call(this, p);
  };
  try {
    await setupLogging({ logDir: dir, members: ["Hill"], console: null });
    burst();
    await stopLogging();
    Deno.FsFile.prototype.write = write;
    assert.ok(lastBytes.length >= 3, `${lastBytes.length} writes`);
    assert.deepEqual(lastBytes.filter((b) => b !== 0x0a), [], "every write ends with LF");
    const lines = (await Deno.readTextFile(`${dir}/Hill.log`)).trimEnd().split("\n");
    assert.equal(lines.length, n + 1);
    const events = lines.map((l) => JSON.parse(l));
    const conns = events.map((e) => e.conn).filter((c) => c !== -1);
    assert.deepEqual(conns, Array.from({ length: n }, (_, i) => i));
    for (const e of events) {
      if (e.conn === -1) assert.equal(e.line.length, 600_000);
      else assert.equal(e.line, `IAMAT c${e.conn} +34-118 ${"x".repeat(150)}${odd(e.conn)}`);
    }
  } finally {
    Deno.FsFile.prototype.write = write;
    await stopLogging();
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { type HerdConfig, type HerdSettings, testConfig } from "../../src/config.ts";
import {
  type Admission,
  admit,
  connectionLimits,
  LineBucket,
  type ListenerCounts,
  type ListenerKind,
  Member,
  PROBATION_MS,
  secretAuth,
  WELCOME_TIMEOUT_MS,
} from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { formatHello } from "../../src/protocol/mod.ts";
import { closedWithin, exchange, OpenClient, TestHerd, waitFor } from "../_harness.ts";
import { cannedPlaces } from "../_no_places.ts";
import { fakeTimers } from "./_port.ts";

const places = cannedPlaces();
const SECRET = "a-test-secret-of-32-characters!!";
const LOC = "+34.068930-118.445127";

/** testConfig() with `settings` over its own. */
function tuned(settings: Partial<HerdSettings>, config = testConfig()): HerdConfig {
  return { ...config, settings: { ...config.settings, ...settings } };
}

/** Hill and Smith alone, linked; with peer ports (and the secret) when asked. */
function pair(settings: Partial<HerdSettings>, peerPorts = false): HerdConfig {
  const base = testConfig();
  const config: HerdConfig = {
    ...base,
    servers: base.servers.filter((s) => s.name === "Hill" || s.name === "Smith").map((s) =>
      peerPorts ? { ...s, peerPort: 0 } : s
    ),
    links: [["Hill", "Smith"]],
  };
  return tuned(peerPorts ? { ...settings, secret: SECRET } : settings, config);
}

/** Hill with no neighbours at all. */
function alone(settings: Partial<HerdSettings>): HerdConfig {
  const base = testConfig();
  return tuned(settings, {
    ...base,
    servers: base.servers.filter((s) => s.name === "Hill"),
    links: [],
  });
}

/** Sends `text` on a fresh connection and reads to EOF: everything the member wrote back. */
async function sendAndRead(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(text));
    let out = "";
    const buf = new Uint8Array(64 * 1024);
    const timer = setTimeout(() => conn.close(), 10_000);
    try {
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
        out += new TextDecoder().decode(buf.subarray(0, n));
      }
    } catch {
      throw new Error(`no EOF within 10 s; read ${JSON.stringify(out)}`);
    } finally {
      clearTimeout(timer);
    }
    return out;
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

function closeAll(conns: Deno.TcpConn[]): void {
  for (const c of conns) {
    try {
      c.close();
    } catch { /* closed */ }
  }
}

Deno.test("admit() decides by listener total, then per source, then the clients' share", () => {
  const limits = { maxConnections: 10, maxStrangers: 6, perSource: 2, peerPort: 4 };
  const c = (all: number, strangers: number, fromSource: number): ListenerCounts => ({
    all,
    strangers,
    strangersFromSource: fromSource,
  });
  const table: Array<[ListenerKind, ListenerCounts, boolean, Admission]> = [
    ["shared", c(0, 0, 0), false, { kind: "serve" }],
    ["shared", c(10, 0, 0), true, { kind: "refuse", reason: "over max_connections" }],
    ["shared", c(3, 3, 2), false, { kind: "refuse", reason: "per source" }],
    ["shared", c(3, 3, 2), true, { kind: "probation", reason: "per source" }],
    ["shared", c(9, 6, 1), false, { kind: "probation", reason: "reserved for peers" }],
    // Verified peers take no client's place.
    ["shared", c(9, 5, 1), false, { kind: "serve" }],
    ["client", c(3, 3, 2), true, { kind: "refuse", reason: "per source" }],
    ["client", c(6, 6, 0), true, { kind: "refuse", reason: "reserved for peers" }],
    ["client", c(5, 5, 1), false, { kind: "serve" }],
    ["peer", c(3, 3, 3), false, { kind: "serve" }],
    ["peer", c(4, 0, 0), true, { kind: "refuse", reason: "peer port full" }],
  ];
  for (const [listener, counts, neighbourHost, want] of table) {
    assert.deepEqual(
      admit(listener, counts, limits, neighbourHost),
      want,
      `${listener} ${JSON.stringify(counts)} ${neighbourHost}`,
    );
  }
  assert.deepEqual(
    admit("shared", c(9, 9, 9), { ...limits, perSource: 0 }, false),
    { kind: "probation", reason: "reserved for peers" },
    "0 turns the per-source cap off",
  );
});

Deno.test("connectionLimits() caps the reserve at half of max_connections, none without neighbours", () => {
  const s = testConfig().settings;
  const table: Array<[Partial<HerdSettings>, number, number, number]> = [
    // settings, neighbours -> clients' share, peer-port budget
    [{}, 2, s.maxConnections - 64, 64],
    [{ maxConnections: 10 }, 2, 5, 5],
    [{ maxConnections: 10, reservedPeerConnections: 3 }, 2, 7, 4],
    [{ maxConnections: 10, reservedPeerConnections: 0 }, 3, 10, 6],
    [{ maxConnections: 10 }, 0, 10, 0],
  ];
  for (const [over, neighbours, strangers, peerPort] of table) {
    const limits = connectionLimits({ ...s, ...over }, neighbours);
    assert.equal(limits.maxStrangers, strangers, JSON.stringify(over));
    assert.equal(limits.peerPort, peerPort, JSON.stringify(over));
  }
});

Deno.test("LineBucket lets a second's burst go, then one line per 1/rate s", () => {
  const bucket = new LineBucket(4, 1000);
  assert.deepEqual([1, 2, 3, 4].map(() => bucket.take(1000)), [0, 0, 0, 0]);
  assert.equal(bucket.take(1000), 250);
  assert.equal(bucket.take(1100), 150);
  assert.equal(bucket.take(1250), 0);
  assert.equal(bucket.full(1250), false);
  assert.equal(bucket.full(2250), true);
  // It holds one second's worth at most, however long the client was quiet.
  assert.deepEqual([1, 2, 3, 4, 5].map(() => bucket.take(60_000)), [0, 0, 0, 0, 250]);
});

Deno.test("max_connections_per_source refuses a source's next connection at once, and logs it", async () => {
  const log = new MemoryLog();
  const hill = new Member({
    config: alone({ maxConnectionsPerSource: 2 }),
    name: "Hill",
    places,
    log,
  });
  const address = hill.start();
  const held: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 2; i++) held.push(await Deno.connect(address));
    await waitFor(() => hill.connections === 2, 5000, "two connections");
    const extra = await Deno.connect(address);
    assert.equal(await closedWithin(extra, 5000), true);
    closeAll([extra]);
    const refused = log.named("conn.refused");
    assert.equal(refused.length, 1);
    assert.equal(refused[0].fields.reason, "per source");
    assert.equal(refused[0].fields.limit, 2);
    assert.equal(refused[0].level, "warning");
    // Once one goes, the source may connect again.
    closeAll([held.pop()!]);
    await waitFor(() => hill.connections === 1, 5000, "one connection");
    assert.match(await exchange(address, `IAMAT again ${LOC} 1700000000\n`), /^AT Hill /);
  } finally {
    closeAll(held);
    await hill.stop(0);
  }
});

Deno.test("max_connections_per_source exempts neighbours: their links count not, and over the cap a neighbour's host may still say hello", async () => {
  const herd = new TestHerd(pair({ maxConnectionsPerSource: 1 }), places);
  await herd.start();
  const held: Deno.TcpConn[] = [];
  try {
    const [hill, smith] = [herd.member("Hill"), herd.member("Smith")];
    const log = herd.logs.get("Hill")!;
    // Smith's link from 127.0.0.1 is a verified peer: a client from there still gets its place.
    held.push(await Deno.connect(hill.address));
    await waitFor(() => hill.connections === 2, 5000, "Smith's link and the client");
    // Over the cap, from the neighbour's host: on probation, and a client line there ends it
    // without an answer.
    assert.equal(await sendAndRead(hill.address.port, `IAMAT over ${LOC} 1700000000\n`), "");
    assert.equal(hill.store.get("over"), undefined);
    await waitFor(() => log.named("conn.refused").length === 1, 5000, "the refusal logged");
    assert.equal(log.named("conn.refused")[0].fields.reason, "per source");
    // Smith restarts while the client holds the source's only place: its link comes back.
    await smith.stop(0);
    await waitFor(() => hill.connections === 1, 5000, "Smith's link closed");
    smith.start({ port: 0 });
    await herd.linked();
    assert.match(await exchange(smith.address, `IAMAT via-smith ${LOC} 1700000000\n`), /^AT /);
    await waitFor(() => hill.store.get("via-smith") !== undefined, 5000, "the flood on Hill");
  } finally {
    closeAll(held);
    await herd.stop();
  }
});

/**
 * Runs `body` on Hill while its only neighbour, Smith, is stopped (Hill holds no connection);
 * stops the herd and closes `held` after it.
 */
async function whileSmithAway(
  config: HerdConfig,
  body: (h: { herd: TestHerd; hill: Member; smith: Member; log: MemoryLog }) => Promise<void>,
  held: Deno.TcpConn[],
): Promise<void> {
  const herd = new TestHerd(config, places);
  await herd.start();
  try {
    const [hill, smith] = [herd.member("Hill"), herd.member("Smith")];
    await smith.stop(0);
    await waitFor(() => hill.connections === 0, 5000, "Smith's link closed");
    await body({ herd, hill, smith, log: herd.logs.get("Hill")! });
  } finally {
    closeAll(held);
    await herd.stop();
  }
}

for (const peerPorts of [false, true]) {
  const how = peerPorts ? "on its peer port" : "through the reserve";
  Deno.test(`a flood of idle clients never locks a neighbour out: it relinks ${how}`, async () => {
    const settings = { maxConnections: 12, reservedPeerConnections: 4 };
    const held: Deno.TcpConn[] = [];
    await whileSmithAway(pair(settings, peerPorts), async ({ herd, hill, smith, log }) => {
      // Idle clients take every place that is theirs (12 - 4).
      for (let i = 0; i < 8; i++) held.push(await Deno.connect(hill.address));
      await waitFor(() => hill.connections === 8, 5000, "eight idle clients");
      // The next client is turned away: at once with a peer port, else after its first line.
      if (peerPorts) {
        const extra = await Deno.connect(hill.address);
        assert.equal(await closedWithin(extra, 5000), true);
        closeAll([extra]);
      } else {
        assert.equal(await sendAndRead(hill.address.port, `IAMAT ninth ${LOC} 1700000000\n`), "");
      }
      await waitFor(() => log.named("conn.refused").length === 1, 5000, "the refusal logged");
      assert.equal(log.named("conn.refused")[0].fields.reason, "reserved for peers");
      // Smith comes back: its link to Hill is welcomed, and a flood arrives over it.
      smith.start({ port: 0 }, { port: 0 });
      await herd.linked();
      assert.match(await exchange(smith.address, `IAMAT back ${LOC} 1700000000\n`), /^AT Smith /);
      await waitFor(() => hill.store.get("back") !== undefined, 5000, "Smith's flood on Hill");
      assert.equal(hill.connections, 9);
      // Without a peer port, Smith's link came in on probation, and its hello made it a peer's.
      const last = log.named("conn.open").at(-1)!.fields;
      assert.equal(last.listener, peerPorts ? "peer" : "shared");
      assert.equal(last.probation, peerPorts ? undefined : "reserved for peers");
    }, held);
  });
}

Deno.test("strangers filling a peer port never lock a neighbour out: the oldest makes room", async () => {
  // The peer port's budget: the reserve, but at least two a neighbour (here 2).
  const config = pair({ maxConnections: 12, reservedPeerConnections: 1 }, true);
  const held: Deno.TcpConn[] = [];
  await whileSmithAway(config, async ({ herd, hill, smith, log }) => {
    const peerPort = hill.peerAddress!;
    for (let i = 0; i < 2; i++) held.push(await Deno.connect(peerPort));
    await waitFor(() => hill.connections === 2, 5000, "two silent strangers on the peer port");
    // Smith comes back: each of its connections makes room, and its link is welcomed.
    smith.start({ port: 0 }, { port: 0 });
    await herd.linked();
    assert.match(await exchange(smith.address, `IAMAT back ${LOC} 1700000000\n`), /^AT Smith /);
    await waitFor(() => hill.store.get("back") !== undefined, 5000, "Smith's flood on Hill");
    assert.equal(await closedWithin(held[0], 5000), true, "the oldest stranger was let go");
    const refused = log.named("conn.refused").map((e) => e.fields.reason);
    assert.ok(refused.includes("peer port full"), `refusals: ${refused.join(", ")}`);
  }, held);
});

Deno.test("max_lines_per_s delays a client's lines, in order and none dropped, logged once", async () => {
  const log = new MemoryLog();
  const rate = 20;
  const hill = new Member({ config: alone({ maxLinesPerS: rate }), name: "Hill", places, log });
  const address = hill.start();
  try {
    const n = 3 * rate;
    const lines = Array.from({ length: n }, (_, i) => `IAMAT paced-${i} ${LOC} 1700000000\n`);
    const started = performance.now();
    const reply = await exchange(address, lines.join(""), 20_000);
    const elapsedMs = performance.now() - started;
    const ids = reply.trimEnd().split("\n").map((l) => l.split(" ")[3]);
    assert.deepEqual(ids, lines.map((_, i) => `paced-${i}`));
    // A second's burst goes at once; the other 40 lines need 2 s of refill at least.
    assert.ok(elapsedMs >= 1500, `took ${elapsedMs.toFixed(0)} ms, want >= 1500`);
    const throttled = log.named("conn.throttled");
    assert.equal(throttled.length, 1);
    assert.equal(throttled[0].fields.limit, rate);
  } finally {
    await hill.stop(0);
  }
});

Deno.test("max_lines_per_s spares neighbours: a peer's lines are not paced", async () => {
  const log = new MemoryLog();
  const config = pair({ maxLinesPerS: 1 }, true);
  const hill = new Member({ config, name: "Hill", places, log });
  hill.start();
  const peer = await OpenClient.connect(hill.peerAddress!);
  try {
    const hello = formatHello("Smith", await secretAuth(SECRET).sign("hello", "Smith", "Hill"));
    await peer.send(hello + "\n");
    assert.match(await peer.line(), /^HERD 1 Hill /);
    // At one line a second these would take 200 s.
    const ats = Array.from(
      { length: 200 },
      (_, i) => `AT Smith +0.100000000 relayed-${i} ${LOC} 1700000000\n`,
    );
    await peer.send(ats.join(""));
    await waitFor(() => hill.store.get("relayed-199") !== undefined, 10_000, "200 records");
    assert.equal(log.named("conn.throttled").length, 0);
  } finally {
    peer.close();
    await hill.stop(0);
  }
});

Deno.test("a member stops promptly while a client is being paced", async () => {
  const log = new MemoryLog();
  const hill = new Member({ config: alone({ maxLinesPerS: 1 }), name: "Hill", places, log });
  const address = hill.start();
  const client = await OpenClient.connect(address);
  try {
    await client.send(`IAMAT a ${LOC} 1700000000\n`.repeat(100));
    assert.match(await client.line(), /^AT Hill /);
    await waitFor(() => log.named("conn.throttled").length === 1, 5000, "the pacing");
    // Would be 99 s if the stop waited for every line.
    await hill.stop(200);
    assert.equal(hill.running, false);
    assert.ok(log.named("member.stopped").length === 1);
  } finally {
    client.close();
  }
});

Deno.test("a silent stranger is let go: on a peer port after the welcome wait, on probation after PROBATION_MS", async () => {
  for (const peerPorts of [true, false]) {
    const { clock, timers } = fakeTimers();
    const log = new MemoryLog();
    // With a peer port the stranger comes to it; without, it arrives over the clients' share (0).
    const config = pair({ maxConnections: 2, reservedPeerConnections: 1 }, peerPorts);
    const hill = new Member({ config, name: "Hill", places, log, timers });
    hill.start();
    const held: Deno.TcpConn[] = [];
    try {
      if (!peerPorts) held.push(await Deno.connect(hill.address)); // the clients' one place
      const silent = await Deno.connect(peerPorts ? hill.peerAddress! : hill.address);
      held.push(silent);
      await waitFor(() => hill.connections === held.length, 5000, "the silent stranger accepted");
      const waitMs = peerPorts ? WELCOME_TIMEOUT_MS : PROBATION_MS;
      await clock.tickAsync(waitMs - 1);
      assert.equal(hill.connections, held.length, "still there 1 ms before");
      await clock.tickAsync(1);
      assert.equal(await closedWithin(silent, 5000), true);
      await waitFor(() => hill.connections === held.length - 1, 5000, "the stranger gone");
      const close = log.named("conn.close").at(-1)!;
      assert.equal(close.level, "info");
      assert.equal(
        close.fields.reason,
        peerPorts ? `no hello within ${WELCOME_TIMEOUT_MS} ms` : "reserved for peers",
      );
      if (!peerPorts) {
        assert.equal(log.named("conn.refused").at(-1)!.fields.reason, "reserved for peers");
      }
    } finally {
      closeAll(held);
      const stopping = hill.stop(0);
      await clock.runAllAsync();
      await stopping;
    }
  }
});

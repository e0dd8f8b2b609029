import assert from "node:assert/strict";
import {
  type Conn,
  type PeerAddress,
  PeerLink,
  type PeerLinkOptions,
  redialDelayMs,
  secretAuth,
  tcpDial,
  type TextChunks,
  WELCOME_TIMEOUT_MS,
} from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { waitFor } from "../_harness.ts";
import { fakeTimers, testPort } from "./_port.ts";

/** How a {@linkcode FakeNeighbour} answers a hello. */
type Answer = "welcome" | "silent" | ((hello: string) => string);

/** A fake neighbour: accepts connections, answers each hello, and collects every line. */
class FakeNeighbour {
  readonly listener: Deno.TcpListener;
  readonly lines: string[] = [];
  readonly conns: Deno.TcpConn[] = [];
  #task: Promise<void>;
  #answer: Answer;

  constructor(answer: Answer = "welcome", port = 0) {
    this.#answer = answer;
    this.listener = Deno.listen({ hostname: "127.0.0.1", port });
    this.#task = this.#accept();
  }

  get address(): PeerAddress {
    return { hostname: "127.0.0.1", port: this.listener.addr.port };
  }

  /** Writes to the newest connection. */
  async say(text: string): Promise<void> {
    await this.conns.at(-1)!.write(new TextEncoder().encode(text));
  }

  async #accept(): Promise<void> {
    const reads: Promise<void>[] = [];
    for await (const conn of this.listener) {
      this.conns.push(conn);
      reads.push(this.#read(conn));
    }
    await Promise.all(reads);
  }

  async #read(conn: Deno.TcpConn): Promise<void> {
    const buf = new Uint8Array(65536);
    let text = "";
    let first = true;
    try {
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
        text += new TextDecoder().decode(buf.subarray(0, n));
        const parts = text.split("\n");
        text = parts.pop()!;
        this.lines.push(...parts);
        if (first && parts.length > 0) {
          first = false;
          const answer = this.#answer === "welcome"
            ? "HERD 1 Smith\n"
            : this.#answer === "silent"
            ? ""
            : this.#answer(parts[0]);
          if (answer !== "") await conn.write(new TextEncoder().encode(answer));
        }
      }
    } catch {
      // closed by close()
    }
  }

  async close(): Promise<void> {
    this.listener.close();
    for (const c of this.conns) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    await this.#task;
  }
}

function link(
  addressOf: () => PeerAddress | undefined,
  log = new MemoryLog(),
  queueLimit = 100,
  more: Partial<PeerLinkOptions> = {},
) {
  return new PeerLink({
    peer: "Smith",
    addressOf,
    redialMinMs: 5,
    redialMaxMs: 20,
    queueLimit,
    log,
    maxLineBytes: 65536,
    writeTimeoutMs: 5000,
    // The session reads the same clock as the link (as in a member): keepalive compares the two.
    session: testPort({ timers: more.timers }).port,
    ...more,
  });
}

Deno.test("redialDelayMs() doubles from the minimum, caps at the maximum, and jitters within [d/2, d]", () => {
  assert.equal(redialDelayMs(0, 100, 5000, () => 0), 50);
  const top = redialDelayMs(0, 100, 5000, () => 0.999999);
  assert.ok(top > 99.9 && top < 100, `${top}`);
  assert.equal(redialDelayMs(3, 100, 5000, () => 0), 400);
  assert.equal(redialDelayMs(10, 100, 5000, () => 0), 2500);
  assert.equal(redialDelayMs(1000, 100, 5000, () => 0.5), 3750);
});

Deno.test("PeerLink says hello first, then carries sent lines in order", async () => {
  const neighbour = new FakeNeighbour();
  const l = link(() => neighbour.address);
  try {
    l.start();
    await waitFor(() => l.state === "welcomed", 5000, "link up");
    for (let i = 0; i < 100; i++) l.send(`AT Campbell +0.000000001 c${i} +1+1 ${i}\n`);
    await waitFor(() => neighbour.lines.length === 101, 5000, "101 lines");
    assert.equal(neighbour.lines[0], "HERD 1 Campbell");
    assert.deepEqual(
      neighbour.lines.slice(1).map((line) => line.split(" ")[3]),
      Array.from({ length: 100 }, (_, i) => `c${i}`),
    );
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

Deno.test("PeerLink counts lines sent and dropped, and when it entered its state", async () => {
  const neighbour = new FakeNeighbour();
  const before = Date.now();
  const l = link(() => undefined, new MemoryLog(), 2);
  try {
    for (let i = 0; i < 3; i++) l.send(`AT Campbell +0.000000001 c${i} +1+1 ${i}\n`);
    assert.equal(l.sent, 3);
    assert.equal(l.droppedTotal, 1, "the queue holds 2");
    assert.equal(l.state, "down");
    const l2 = link(() => neighbour.address);
    try {
      l2.start();
      await waitFor(() => l2.state === "welcomed", 5000, "link up");
      assert.ok(l2.sinceMs >= before && l2.sinceMs <= Date.now(), "since the welcome");
    } finally {
      await l2.stop();
    }
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

Deno.test("PeerLink queues lines while the neighbour is down and delivers them once it listens", async () => {
  // The neighbour is down until it listens: dials are refused by the injected transport, so no
  // freed port can be taken by another test meanwhile.
  const neighbour = new FakeNeighbour();
  let down = true;
  const dial = (addr: PeerAddress, signal: AbortSignal): Promise<Conn> =>
    down ? Promise.reject(new Deno.errors.ConnectionRefused("down")) : tcpDial(addr, signal);
  const l = link(() => neighbour.address, new MemoryLog(), 100, { dial });
  try {
    l.start();
    l.send("AT Campbell +0.000000001 early +1+1 1\n");
    await waitFor(() => l.dials >= 2, 5000, "two refused dials");
    assert.notEqual(l.state, "welcomed");
    assert.equal(l.queued, 1);
    assert.deepEqual(neighbour.lines, []);
    down = false;
    await waitFor(() => neighbour.lines.length === 2, 5000, "queued line delivered");
    assert.deepEqual(neighbour.lines, ["HERD 1 Campbell", "AT Campbell +0.000000001 early +1+1 1"]);
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

Deno.test("PeerLink drops the oldest lines past its queue limit and logs the overflow once", async () => {
  const log = new MemoryLog();
  const l = link(() => undefined, log, 3); // no address: never connects
  try {
    l.start();
    for (let i = 0; i < 10; i++) l.send(`line ${i}\n`);
    assert.equal(l.queued, 3);
    assert.equal(log.named("peer.queue.overflow").length, 1);
  } finally {
    await l.stop();
  }
  assert.equal(l.state, "stopped");
});

Deno.test("PeerLink redials after the neighbour drops the connection", async () => {
  const neighbour = new FakeNeighbour();
  const log = new MemoryLog();
  const l = link(() => neighbour.address, log);
  try {
    l.start();
    await waitFor(() => l.state === "welcomed", 5000, "link up");
    neighbour.conns[0].close();
    await waitFor(() => l.connections === 2 && l.state === "welcomed", 5000, "redialled");
    assert.ok(log.named("peer.link.dropped").length >= 1);
    l.send("AT Campbell +0.000000001 after +1+1 1\n");
    await waitFor(() => neighbour.lines.includes("AT Campbell +0.000000001 after +1+1 1"), 5000);
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

Deno.test("PeerLink drops a connection whose unwritten anti-entropy text passes the limit, then redials", async () => {
  const neighbour = new FakeNeighbour(); // reads, but the text arrives faster than any write
  const log = new MemoryLog();
  const l = link(() => neighbour.address, log, 100, { syncQueueLimitChars: 1024 * 1024 });
  try {
    l.start();
    await waitFor(() => l.state === "welcomed", 5000, "link up");
    const chunk = `AT Campbell +0.000000001 c +1+1 1 ${"x".repeat(1000)}\n`.repeat(64);
    for (let i = 0; i < 32; i++) l.sendSync(chunk); // 2 MiB in one go: nothing written yet
    assert.equal(l.queued, 0, "the dropped connection's sync text is discarded");
    const dropped = log.named("peer.link.dropped").map((e) => String(e.fields.reason));
    assert.deepEqual(dropped, ["anti-entropy backlog over 1048576 bytes"]);
    await waitFor(() => l.connections === 2 && l.state === "welcomed", 5000, "redialled");
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

Deno.test("PeerLink writes nothing but the hello until the neighbour's welcome", async () => {
  const neighbour = new FakeNeighbour("silent");
  const l = link(() => neighbour.address);
  try {
    l.start();
    await waitFor(() => l.state === "hello sent", 5000, "hello sent");
    l.send("AT Campbell +0.000000001 secret +34-118 1\n");
    l.flush();
    assert.equal(l.queued, 1, "the record waits in the queue");
  } finally {
    await l.stop();
    await neighbour.close();
  }
  // Everything the link wrote has arrived: the connection was closed after it.
  assert.deepEqual(neighbour.lines, ["HERD 1 Campbell"]);
});

Deno.test("PeerLink with a secret drops a link whose welcome has no valid MAC, and leaks nothing", async () => {
  const neighbour = new FakeNeighbour(() => "HERD 1 Smith ts=1 nonce=00 mac=00\n");
  const log = new MemoryLog();
  const auth = secretAuth("s3cret");
  const l = link(() => neighbour.address, log, 100, { session: testPort({ auth }).port });
  try {
    l.send("AT Campbell +0.000000001 secret +34-118 1\n");
    l.start();
    await waitFor(
      () =>
        log.named("peer.link.dropped").some((e) =>
          /welcome rejected/.test(String(e.fields.reason))
        ),
      5000,
      "welcome rejected",
    );
    assert.equal(l.connections, 0);
  } finally {
    await l.stop();
    await neighbour.close();
  }
  assert.ok(neighbour.lines.length >= 1);
  for (const line of neighbour.lines) assert.match(line, /^HERD 1 Campbell /);
});

Deno.test("PeerLink rejects a welcome that names another member", async () => {
  const neighbour = new FakeNeighbour(() => "HERD 1 Hill\n");
  const log = new MemoryLog();
  const l = link(() => neighbour.address, log);
  try {
    l.start();
    await waitFor(() => log.named("peer.link.dropped").length >= 1, 5000, "dropped");
    assert.equal(
      log.named("peer.link.dropped")[0].fields.reason,
      "welcome rejected: welcome names Hill",
    );
    assert.equal(l.connections, 0);
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

Deno.test("PeerLink accepts records the neighbour sends back and logs them as msg.in", async () => {
  const neighbour = new FakeNeighbour();
  const { port, store, log } = testPort();
  const l = link(() => neighbour.address, log, 100, { session: port });
  try {
    l.start();
    await waitFor(() => l.state === "welcomed", 5000, "welcomed");
    await neighbour.say("AT Smith +0.100000000 kiwi +34.068930-118.445127 1621464827.959498503\n");
    await waitFor(() => store.get("kiwi") !== undefined, 5000, "kiwi stored");
    const inbound = log.named("msg.in").map((e) => e.fields);
    assert.ok(inbound.some((f) => f.peer === "Smith" && String(f.line).startsWith("AT Smith")));
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

Deno.test("PeerLink drops a neighbour that never welcomes after WELCOME_TIMEOUT_MS, then redials", async () => {
  const neighbour = new FakeNeighbour("silent");
  const log = new MemoryLog();
  const { clock, timers } = fakeTimers();
  const l = link(() => neighbour.address, log, 100, { timers, random: () => 0 });
  try {
    l.start();
    await waitFor(() => l.state === "hello sent", 5000, "hello sent");
    clock.tick(WELCOME_TIMEOUT_MS - 1);
    assert.equal(l.state, "hello sent");
    clock.tick(1);
    await waitFor(() => l.state === "down", 5000, "dropped");
    assert.equal(
      log.named("peer.link.dropped")[0].fields.reason,
      `no welcome within ${WELCOME_TIMEOUT_MS} ms`,
    );
    clock.tick(5); // redialDelayMs(0, 5, 20, () => 0) is 2.5, rounded to 3
    await waitFor(() => l.dials === 2 && l.state === "hello sent", 5000, "redialled");
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

Deno.test("PeerLink backs off exponentially between failed dials, on fake time", async () => {
  const { clock, timers } = fakeTimers();
  const dialledAt: number[] = [];
  const dial = (_addr: PeerAddress, _signal: AbortSignal): Promise<Conn> => {
    dialledAt.push(clock.now);
    return Promise.reject(new Deno.errors.ConnectionRefused("refused by the test"));
  };
  const l = link(() => ({ hostname: "127.0.0.1", port: 9 }), new MemoryLog(), 100, {
    timers,
    dial,
    random: () => 0,
    redialMinMs: 100,
    redialMaxMs: 1000,
  });
  try {
    l.start();
    while (dialledAt.length < 7) await clock.tickAsync(10);
    const gaps = dialledAt.slice(1).map((t, i) => t - dialledAt[i]);
    // With jitter 0 the delay is half of min(max, min * 2^attempt).
    assert.deepEqual(gaps, [50, 100, 200, 400, 500, 500]);
  } finally {
    await l.stop();
  }
});

/** Fake timers whose `nowMs()` can jump ahead of the timers, as when the event loop stalls. */
function stallableTimers() {
  const { clock, timers } = fakeTimers();
  const stall = { ms: 0 };
  return { clock, stall, timers: { ...timers, nowMs: () => clock.now + stall.ms } };
}

/** A welcome that announces keepalive, as a member with `peer_timeout_ms` set sends it. */
const KEEPALIVE_WELCOME = () => "HERD 1 Smith keepalive=1000\n";

Deno.test("PeerLink pings a silent neighbour after half of peerTimeoutMs, drops it after all of it, then redials", async () => {
  const neighbour = new FakeNeighbour(KEEPALIVE_WELCOME);
  const log = new MemoryLog();
  const { clock, timers } = fakeTimers();
  const l = link(() => neighbour.address, log, 100, {
    timers,
    random: () => 0,
    peerTimeoutMs: 1000,
  });
  try {
    l.start();
    await waitFor(() => l.state === "welcomed", 5000, "welcomed");
    clock.tick(499);
    assert.equal(l.pings, 0);
    clock.tick(1);
    assert.equal(l.pings, 1);
    await waitFor(() => neighbour.lines.includes("PING 1"), 5000, "PING 1 on the wire");
    clock.tick(499);
    assert.equal(l.state, "welcomed");
    assert.equal(l.pings, 1, "one ping per silence");
    clock.tick(1);
    await waitFor(() => l.state === "down", 5000, "dropped");
    const dropped = log.named("peer.link.dropped");
    assert.equal(dropped.length, 1, "logged once");
    assert.deepEqual(
      {
        peer: dropped[0].fields.peer,
        reason: dropped[0].fields.reason,
        silentMs: dropped[0].fields.silentMs,
      },
      { peer: "Smith", reason: "timeout", silentMs: 1000 },
    );
    clock.tick(5); // redialDelayMs(0, 5, 20, () => 0) is 2.5, rounded to 3
    await waitFor(() => l.dials === 2 && l.state === "welcomed", 5000, "redialled");
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

Deno.test("PeerLink keeps a link while any bytes come back: a PONG, or an older member's `? PING`", async () => {
  const neighbour = new FakeNeighbour(KEEPALIVE_WELCOME);
  const log = new MemoryLog();
  const { clock, timers } = fakeTimers();
  const port = testPort({ timers });
  const l = link(() => neighbour.address, log, 100, {
    timers,
    peerTimeoutMs: 1000,
    session: port.port,
  });
  // The session logs what it reads and answers to the port's log, the link its own events.
  const heard = (line: string) => port.log.named("msg.in").some((e) => e.fields.line === line);
  try {
    l.start();
    await waitFor(() => l.state === "welcomed", 5000, "welcomed");
    clock.tick(500);
    await waitFor(() => neighbour.lines.includes("PING 1"), 5000, "PING 1");
    await neighbour.say("PONG 1\n");
    await waitFor(() => heard("PONG 1"), 5000, "PONG read");
    clock.tick(900); // 1400: 900 ms after the PONG
    assert.equal(l.state, "welcomed");
    assert.equal(l.pings, 2, "pinged again 500 ms after the PONG");
    await neighbour.say("? PING 2\n");
    await waitFor(() => heard("? PING 2"), 5000, "? PING read");
    clock.tick(900);
    assert.equal(l.state, "welcomed");
    assert.equal(
      port.log.named("peer.link.refused").length,
      0,
      "an older member's ? is no refusal",
    );
    assert.equal(log.named("peer.link.dropped").length, 0);
    clock.tick(100);
    await waitFor(() => l.state === "down", 5000, "dropped once silent for the whole timeout");
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

Deno.test("PeerLink keeps a link whose PONG is late while the neighbour speaks on its own link to us", async () => {
  const neighbour = new FakeNeighbour(KEEPALIVE_WELCOME);
  const log = new MemoryLog();
  const { clock, timers } = fakeTimers();
  const port = testPort({ timers }).port;
  // What the member learns from the neighbour's own connection to it (its pings, floods).
  let elsewhereMs = 0;
  const l = link(() => neighbour.address, log, 100, {
    timers,
    peerTimeoutMs: 1000,
    session: { ...port, lastHeard: (peer) => (peer === "Smith" ? elsewhereMs : undefined) },
  });
  try {
    l.start();
    await waitFor(() => l.state === "welcomed", 5000, "welcomed");
    clock.tick(500);
    assert.equal(l.pings, 1, "this connection's silence is still pinged");
    // No PONG on this link (it waits behind what the neighbour is still reading), but the
    // neighbour speaks on its own connection every 400 ms.
    for (let i = 0; i < 5; i++) {
      clock.tick(400);
      elsewhereMs = timers.nowMs();
    }
    assert.equal(l.state, "welcomed", "alive on its other connection: not dropped");
    assert.equal(log.named("peer.link.dropped").length, 0);
    // Silent on both: dropped a whole timeout after the last sign of life.
    clock.tick(999);
    assert.equal(l.state, "welcomed");
    clock.tick(1);
    await waitFor(() => l.state === "down", 5000, "dropped once silent everywhere");
    assert.equal(log.named("peer.link.dropped")[0].fields.silentMs, 1000);
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

Deno.test("PeerLink neither pings nor drops a neighbour whose welcome announced no keepalive", async () => {
  const neighbour = new FakeNeighbour("welcome");
  const { clock, timers } = fakeTimers();
  const l = link(() => neighbour.address, new MemoryLog(), 100, { timers, peerTimeoutMs: 1000 });
  try {
    l.start();
    await waitFor(() => l.state === "welcomed", 5000, "welcomed");
    clock.tick(10_000);
    assert.equal(l.pings, 0);
    assert.equal(l.state, "welcomed");
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

Deno.test("PeerLink waits peerTimeoutMs, not WELCOME_TIMEOUT_MS, for a welcome when keepalive is on", async () => {
  const neighbour = new FakeNeighbour("silent");
  const log = new MemoryLog();
  const { clock, timers } = fakeTimers();
  const l = link(() => neighbour.address, log, 100, { timers, peerTimeoutMs: 1000 });
  try {
    l.start();
    await waitFor(() => l.state === "hello sent", 5000, "hello sent");
    assert.match(
      neighbour.lines[0] ?? (await waitFor(() => neighbour.lines.length > 0), neighbour.lines[0]),
      /^HERD 1 Campbell/,
    );
    clock.tick(999);
    assert.equal(l.state, "hello sent");
    clock.tick(1);
    await waitFor(() => l.state === "down", 5000, "dropped");
    assert.equal(log.named("peer.link.dropped")[0].fields.reason, "no welcome within 1000 ms");
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

Deno.test("PeerLink does not drop a link for silence its own stalled event loop caused", async () => {
  const neighbour = new FakeNeighbour(KEEPALIVE_WELCOME);
  const log = new MemoryLog();
  const { clock, stall, timers } = stallableTimers();
  const l = link(() => neighbour.address, log, 100, { timers, peerTimeoutMs: 1000 });
  try {
    l.start();
    await waitFor(() => l.state === "welcomed", 5000, "welcomed");
    // The first check is due at 500; it runs 3000 ms late (the member was busy or stopped).
    stall.ms = 3000;
    clock.tick(500);
    assert.equal(l.state, "welcomed", "not dropped on a late check");
    assert.equal(l.pings, 1, "it pings instead");
    // Nothing comes back: the next check, on time, drops it.
    clock.tick(500);
    await waitFor(() => l.state === "down", 5000, "dropped");
    assert.equal(log.named("peer.link.dropped")[0].fields.reason, "timeout");
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

Deno.test("PeerLink writes a large answer a chunk per write, with what was queued meanwhile in between", async () => {
  const neighbour = new FakeNeighbour();
  const l = link(() => neighbour.address);
  const chunk = (n: number) =>
    Array.from({ length: 3 }, (_, i) => `AT Campbell +0.000000001 c${n}-${i} +1+1 1\n`).join("");
  let calls = 0;
  const answer: TextChunks = {
    next() {
      calls++;
      // Queued while the first chunk is being written: it must not wait for the whole answer.
      if (calls === 1) queueMicrotask(() => l.sendSync("PING 9\n"));
      return calls <= 3 ? { text: chunk(calls), records: 3 } : null;
    },
  };
  try {
    l.start();
    await waitFor(() => l.state === "welcomed", 5000, "link up");
    l.sendSync("", answer);
    await waitFor(() => neighbour.lines.length === 1 + 9 + 1, 5000, "every line");
    const lines = neighbour.lines.slice(1).map((line) => line.split(" ")[3] ?? line);
    assert.deepEqual(lines.slice(0, 3), ["c1-0", "c1-1", "c1-2"]);
    assert.ok(lines.indexOf("PING 9") < lines.indexOf("c3-0"), lines.join());
    assert.equal(l.queued, 0);
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

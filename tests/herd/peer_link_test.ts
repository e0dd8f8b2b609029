import assert from "node:assert/strict";
import { testConfig } from "../../src/config.ts";
import { hostAuth, type PeerAddress, PeerLink, redialDelayMs } from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { waitFor } from "../_harness.ts";

/** A fake neighbour: accepts one connection at a time and collects its lines. */
class FakeNeighbour {
  readonly listener: Deno.TcpListener;
  readonly lines: string[] = [];
  readonly conns: Deno.TcpConn[] = [];
  #task: Promise<void>;

  constructor(port = 0) {
    this.listener = Deno.listen({ hostname: "127.0.0.1", port });
    this.#task = this.#accept();
  }

  get address(): PeerAddress {
    return { hostname: "127.0.0.1", port: this.listener.addr.port };
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
    try {
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
        text += new TextDecoder().decode(buf.subarray(0, n));
        const parts = text.split("\n");
        text = parts.pop()!;
        this.lines.push(...parts);
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

function link(addressOf: () => PeerAddress | undefined, log = new MemoryLog(), queueLimit = 100) {
  return new PeerLink({
    self: "Campbell",
    peer: "Smith",
    addressOf,
    redialMinMs: 5,
    redialMaxMs: 20,
    queueLimit,
    log,
    maxLineBytes: 65536,
    writeTimeoutMs: 5000,
    auth: hostAuth(testConfig()),
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
    await waitFor(() => l.state === "up", 5000, "link up");
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

Deno.test("PeerLink queues lines while the neighbour is down and delivers them once it listens", async () => {
  // Reserve a port, then free it so the first dials are refused.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const l = link(() => ({ hostname: "127.0.0.1", port }));
  let neighbour: FakeNeighbour | null = null;
  try {
    l.start();
    l.send("AT Campbell +0.000000001 early +1+1 1\n");
    await new Promise((r) => setTimeout(r, 50));
    assert.notEqual(l.state, "up");
    assert.equal(l.queued, 1);
    neighbour = new FakeNeighbour(port);
    await waitFor(() => neighbour!.lines.length === 2, 5000, "queued line delivered");
    assert.deepEqual(neighbour.lines, ["HERD 1 Campbell", "AT Campbell +0.000000001 early +1+1 1"]);
  } finally {
    await l.stop();
    await neighbour?.close();
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
    await waitFor(() => l.state === "up", 5000, "link up");
    neighbour.conns[0].close();
    await waitFor(() => l.connections === 2 && l.state === "up", 5000, "redialled");
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
  const l = new PeerLink({
    self: "Campbell",
    peer: "Smith",
    addressOf: () => neighbour.address,
    redialMinMs: 5,
    redialMaxMs: 20,
    queueLimit: 100,
    log,
    maxLineBytes: 65536,
    writeTimeoutMs: 5000,
    auth: hostAuth(testConfig()),
    syncQueueLimitChars: 1024 * 1024,
  });
  try {
    l.start();
    await waitFor(() => l.state === "up", 5000, "link up");
    const chunk = `AT Campbell +0.000000001 c +1+1 1 ${"x".repeat(1000)}\n`.repeat(64);
    for (let i = 0; i < 32; i++) l.sendSync(chunk); // 2 MiB in one go: nothing written yet
    assert.equal(l.queued, 0, "the dropped connection's sync text is discarded");
    const dropped = log.named("peer.link.dropped").map((e) => String(e.fields.reason));
    assert.deepEqual(dropped, ["anti-entropy backlog over 1048576 bytes"]);
    await waitFor(() => l.connections === 2 && l.state === "up", 5000, "redialled");
  } finally {
    await l.stop();
    await neighbour.close();
  }
});

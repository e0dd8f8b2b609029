/**
 * Peer keepalive on the listener's side, in-process on fake time: a
 * neighbour's connection to a member is dropped once its dialler, which
 * announced keepalive in its hello, stays silent for `peer_timeout_ms`.
 */

import assert from "node:assert/strict";
import { testConfig } from "../../src/config.ts";
import { Member } from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { waitFor } from "../_harness.ts";
import { fakeTimers, ONE_PLACE } from "./_port.ts";

/** A real TCP connection to the member, speaking as neighbour Smith would. */
class Dialler {
  #conn: Deno.TcpConn;
  #text = "";
  closed = false;
  #reading: Promise<void>;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.#reading = this.#read();
  }

  static async open(port: number): Promise<Dialler> {
    return new Dialler(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  get text(): string {
    return this.#text;
  }

  async say(line: string): Promise<void> {
    await this.#conn.write(new TextEncoder().encode(line));
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(4096);
    try {
      for (let n = await this.#conn.read(buf); n !== null; n = await this.#conn.read(buf)) {
        this.#text += new TextDecoder().decode(buf.subarray(0, n));
      }
    } catch {
      // reset by the member
    }
    this.closed = true;
  }

  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    await this.#reading;
  }
}

/** Campbell alone (its neighbours have no address, so it dials nobody), on fake time. */
function campbell(peerTimeoutMs: number) {
  const config = testConfig();
  config.settings.peerTimeoutMs = peerTimeoutMs;
  const { clock, timers } = fakeTimers();
  const log = new MemoryLog();
  const member = new Member({
    config,
    name: "Campbell",
    places: ONE_PLACE,
    log,
    timers,
    addresses: new Map(),
  });
  const { port } = member.start({ port: 0 });
  return { member, clock, log, port };
}

Deno.test("member drops a neighbour's connection silent for peer_timeout_ms once its hello announced keepalive", async () => {
  const { member, clock, log, port } = campbell(1000);
  const smith = await Dialler.open(port);
  try {
    await smith.say("HERD 1 Smith keepalive=1000\n");
    await waitFor(() => smith.text.startsWith("HERD 1 Campbell"), 5000, "welcome");
    assert.match(smith.text, / keepalive=1000\n$/, "the welcome announces it too");
    clock.tick(750);
    await smith.say("PING 1\n");
    await waitFor(() => smith.text.endsWith("PONG 1\n"), 5000, "PONG 1");
    clock.tick(750); // 1500: 750 ms after the ping
    assert.equal(smith.closed, false, "the ping kept it");
    assert.equal(member.connections, 1);
    clock.tick(250); // 1750: silent for 1000 ms
    await waitFor(() => smith.closed, 5000, "dropped");
    await waitFor(() => log.named("conn.close").length === 1, 5000, "conn.close");
    const close = log.named("conn.close")[0];
    assert.equal(close.fields.peer, "Smith");
    assert.equal(close.fields.reason, "timeout");
    assert.equal(close.level, "warning");
  } finally {
    await smith.close();
    await member.stop(0);
  }
});

Deno.test("member never drops for silence a neighbour that announced no keepalive (an older member)", async () => {
  const { member, clock, port } = campbell(1000);
  const smith = await Dialler.open(port);
  try {
    await smith.say("HERD 1 Smith\n");
    await waitFor(() => smith.text.startsWith("HERD 1 Campbell"), 5000, "welcome");
    clock.tick(10_000);
    assert.equal(member.connections, 1);
    assert.equal(smith.closed, false);
  } finally {
    await smith.close();
    await member.stop(0);
  }
});

Deno.test("member with peer_timeout_ms = 0 announces no keepalive and drops no silent neighbour", async () => {
  const { member, clock, port } = campbell(0);
  const smith = await Dialler.open(port);
  try {
    await smith.say("HERD 1 Smith keepalive=1000\n");
    await waitFor(() => smith.text.endsWith("\n"), 5000, "welcome");
    assert.doesNotMatch(smith.text, /keepalive/);
    clock.tick(10_000);
    assert.equal(member.connections, 1);
  } finally {
    await smith.close();
    await member.stop(0);
  }
});

Deno.test("member answers PING with `? ` on a client's connection", async () => {
  const { member, port } = campbell(1000);
  const client = await Dialler.open(port);
  try {
    await client.say("PING 1\n");
    await waitFor(() => client.text === "? PING 1\n", 5000, "? PING 1");
  } finally {
    await client.close();
    await member.stop(0);
  }
});

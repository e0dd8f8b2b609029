/**
 * A member's timers on a fake clock: idle timeouts, periodic anti-entropy
 * and the drain on stop, decided by ticks rather than by waiting.
 */

import assert from "node:assert/strict";
import { parseConfig } from "../../src/config.ts";
import { Member, type TimerClock } from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import type { PlacesProvider } from "../../src/places/types.ts";
import { parseMessage } from "../../src/protocol/mod.ts";
import { waitFor } from "../_harness.ts";
import { fakeTimers, ONE_PLACE } from "./_port.ts";

/** One member, no neighbours, on 127.0.0.1 port 0, with `herd` settings appended. */
function solo(herd: string, timers: TimerClock, log: MemoryLog, places = ONE_PLACE): Member {
  const config = parseConfig(
    `[[servers]]\nname = "Solo"\nhost = "127.0.0.1"\nport = 1\n[herd]\n${herd}\n`,
  );
  const member = new Member({ config, name: "Solo", places, log, timers });
  member.start({ port: 0 });
  return member;
}

/** Places whose answer waits until `release()` is called (a WHATSAT in progress). */
function heldPlaces(): { slow: PlacesProvider; release: () => void } {
  let answer: () => void = () => {};
  const slow: PlacesProvider = {
    name: "slow",
    nearby: (q) => new Promise((resolve) => answer = () => void ONE_PLACE.nearby(q).then(resolve)),
  };
  return { slow, release: () => answer() };
}

async function readAll(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}

Deno.test("Member closes a client idle for client_idle_ms, not before", async () => {
  const { clock, timers } = fakeTimers();
  const log = new MemoryLog();
  const member = solo("client_idle_ms = 1000", timers, log);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: member.address.port });
  try {
    await waitFor(() => member.connections === 1, 5000, "accepted");
    clock.tick(999);
    assert.equal(member.connections, 1, "open at 999 ms");
    clock.tick(250); // the sweep runs every 250 ms: by 1250 ms it has seen 1000 ms of idling
    assert.equal(await readAll(conn), "", "closed by the member, nothing written");
    await waitFor(() => log.named("conn.close").length === 1, 5000, "conn.close");
    assert.equal(log.named("conn.close")[0].fields.reason, "idle for 1000 ms");
  } finally {
    conn.close();
    await member.stop(0);
  }
});

Deno.test("Member.stop() waits drain_ms for a WHATSAT in progress, then closes it", async () => {
  const { clock, timers } = fakeTimers();
  const log = new MemoryLog();
  const { slow, release } = heldPlaces();
  const member = solo("drain_ms = 5000", timers, log, slow);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: member.address.port });
  try {
    await conn.write(new TextEncoder().encode("IAMAT kiwi +34-118 1\nWHATSAT kiwi 10 1\n"));
    await waitFor(() => log.named("reply.out").length === 1, 5000, "IAMAT answered");
    let stopped = false;
    const stopping = member.stop().then(() => (stopped = true));
    await clock.tickAsync(4990);
    assert.equal(stopped, false, "still draining: the WHATSAT is not answered");
    release();
    await clock.tickAsync(20);
    await stopping;
    const text = await readAll(conn);
    assert.match(text, /^AT Solo \S+ kiwi \+34-118 1\nAT Solo \S+ kiwi \+34-118 1\n\{/);
    assert.ok(text.endsWith("}\n\n"), "the WHATSAT answered in full before the close");
  } finally {
    conn.close();
    await member.stop(0);
  }
});

Deno.test("Member.stop(0) during a drain cuts it short: the connection closes before drain_ms", async () => {
  const { clock, timers } = fakeTimers();
  const log = new MemoryLog();
  const { slow, release } = heldPlaces();
  const member = solo("drain_ms = 60000", timers, log, slow);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: member.address.port });
  try {
    await conn.write(new TextEncoder().encode("IAMAT kiwi +34-118 1\nWHATSAT kiwi 10 1\n"));
    await waitFor(() => log.named("reply.out").length === 1, 5000, "IAMAT answered");
    let stopped = false;
    const first = member.stop().then(() => (stopped = true));
    await clock.tickAsync(1000);
    const second = member.stop(0);
    await clock.tickAsync(100); // one drain poll sees the cut deadline
    // Closed 1.1 s into a 60 s drain, the WHATSAT still unanswered.
    const text = await readAll(conn);
    assert.match(text, /^AT Solo \S+ kiwi \+34-118 1\n$/);
    assert.equal(stopped, false, "the session still holds its WHATSAT");
    release();
    await Promise.all([first, second]);
    assert.equal(log.named("member.stopped").length, 1, "one stop, logged once");
    assert.equal(member.running, false);
  } finally {
    conn.close();
    await member.stop(0);
  }
});

Deno.test("Member reconciles every sync_interval_ms: a record whose flood was lost arrives at the next tick", async () => {
  const { clock, timers } = fakeTimers();
  const config = parseConfig(
    '[[servers]]\nname = "A"\nhost = "127.0.0.1"\nport = 1\n[[servers]]\nname = "B"\nhost = "127.0.0.1"\nport = 2\n[herd]\nlinks = [["A", "B"]]\nsync_interval_ms = 1000\n',
  );
  const addresses = new Map();
  const logs = { A: new MemoryLog(), B: new MemoryLog() };
  const [a, b] = (["A", "B"] as const).map((name) =>
    new Member({ config, name, places: ONE_PLACE, log: logs[name], addresses, timers })
  );
  try {
    a.start({ port: 0 });
    b.start({ port: 0 });
    await waitFor(
      () => a.links.get("B")?.state === "welcomed" && b.links.get("A")?.state === "welcomed",
      5000,
      "linked",
    );
    // Stored without a flood, as if every copy of the flood had been lost.
    const lost = "AT A +0.100000000 lost +34-118 1621464827";
    const msg = parseMessage(lost);
    assert.equal(msg.kind === "AT" && a.store.apply(msg.record), true);
    const periodic = () => logs.A.named("sync.start").filter((e) => e.fields.reason === "periodic");
    assert.equal(periodic().length, 0);
    clock.tick(1000);
    assert.equal(periodic().length, 1, "one periodic run on A's link to B");
    await waitFor(() => b.store.line("lost") === lost, 5000, "B holds the lost record");
  } finally {
    await Promise.all([a.stop(0), b.stop(0)]);
  }
});

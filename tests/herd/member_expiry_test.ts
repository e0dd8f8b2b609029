/**
 * Expiry in members of this process over real TCP on 127.0.0.1 port 0, each
 * with its own wall clock and fake timers: the sweep decides by ticks, the
 * clocks by assignment, so the window where one member has swept and the
 * other not yet is set up exactly, without waiting.
 */

import assert from "node:assert/strict";
import { parseConfig } from "../../src/config.ts";
import { Member, type TimerClock } from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { parseMessage } from "../../src/protocol/mod.ts";
import { exchange, waitFor } from "../_harness.ts";
import { fakeTimers, ONE_PLACE } from "./_port.ts";

const S = 1_000_000_000n;
/** Wall clock of the tests, POSIX ns: 1800000000 s. */
const T0 = 1_800_000_000n * S;

/** Two linked members A and B with `herd` settings, each on its own wall clock. */
function pair(herd: string, timers: TimerClock, clocks: { A: bigint; B: bigint }) {
  const config = parseConfig(
    '[[servers]]\nname = "A"\nhost = "127.0.0.1"\nport = 1\n' +
      '[[servers]]\nname = "B"\nhost = "127.0.0.1"\nport = 2\n' +
      `[herd]\nlinks = [["A", "B"]]\n${herd}\n`,
  );
  const addresses = new Map();
  const logs = { A: new MemoryLog(), B: new MemoryLog() };
  const [a, b] = (["A", "B"] as const).map((name) =>
    new Member({
      config,
      name,
      places: ONE_PLACE,
      log: logs[name],
      addresses,
      timers,
      clock: () => clocks[name],
    })
  );
  return { a, b, logs };
}

/** Member "A" alone, with `herd` in its [herd] table, on `timers` and the wall clock `nowNs`. */
function solo(herd: string, timers: TimerClock, nowNs: () => bigint) {
  const config = parseConfig(
    `[[servers]]\nname = "A"\nhost = "127.0.0.1"\nport = 1\n[herd]\n${herd}\n`,
  );
  const log = new MemoryLog();
  const m = new Member({ config, name: "A", places: ONE_PLACE, log, timers, clock: nowNs });
  return { m, log };
}

async function linked(a: Member, b: Member): Promise<void> {
  await waitFor(
    () => a.links.get("B")?.state === "welcomed" && b.links.get("A")?.state === "welcomed",
    5000,
    "linked",
  );
}

Deno.test("Members drop an expired record each by its own clock, and anti-entropy never brings it back", async () => {
  const { clock, timers } = fakeTimers();
  // B's clock is 3 s behind A's: the window where A has dropped the record and B still holds it.
  const clocks = { A: T0, B: T0 - 3n * S };
  const { a, b, logs } = pair(
    // Keepalive off: the fake clock jumps 5 s at a time, and this test is about expiry alone.
    "record_ttl_s = 10\nexpiry_sweep_ms = 1000\nsync_interval_ms = 5000\npeer_timeout_ms = 0",
    timers,
    clocks,
  );
  try {
    a.start({ port: 0 });
    b.start({ port: 0 });
    await linked(a, b);
    /** The root DIGESTs `name` answered: one per reconciliation its neighbour opened. */
    const roots = (name: "A" | "B") =>
      logs[name].named("sync.digest").filter((e) => e.fields.prefix === "-");
    // The reconciliations of the links coming up are over before anything else happens.
    await waitFor(
      () => roots("A").length === 1 && roots("B").length === 1,
      5000,
      "the first reconciliation each way",
    );
    // Client time 5 s before A's now: fresh on both.
    const reply = await exchange(a.address, "IAMAT kiwi +34-118 1799999995\n");
    assert.match(reply, /^AT A \+5\.000000000 kiwi \+34-118 1799999995\n$/);
    await waitFor(() => b.store.line("kiwi") !== undefined, 5000, "B holds kiwi");

    // 6 s later: 11 s old on A's clock (expired), 8 s on B's (not).
    clocks.A += 6n * S;
    clocks.B += 6n * S;
    clock.tick(1000);
    assert.equal(a.store.line("kiwi"), undefined, "A swept it");
    assert.equal(a.store.size, 0);
    assert.ok(b.store.line("kiwi") !== undefined, "B keeps it: not expired by its clock");
    assert.equal(logs.A.named("record.expired").length, 1);
    assert.deepEqual(logs.A.named("record.expired")[0].fields.clients, ["kiwi"]);

    // A periodic reconciliation in the window: B pushes kiwi, A refuses it; A pushes nothing.
    /** Ticks to the next periodic reconciliation: the children that differed, at A and at B. */
    const round = async () => {
      const a0 = roots("A").length;
      const b0 = roots("B").length;
      clock.tick(5000);
      await waitFor(
        () => roots("A").length > a0 && roots("B").length > b0,
        5000,
        "a reconciliation each way",
      );
      return [roots("A")[a0].fields.differing, roots("B")[b0].fields.differing];
    };
    assert.deepEqual(await round(), [1, 1], "they differ by kiwi");
    await waitFor(
      () => logs.A.named("record.refused").length > 0,
      5000,
      "A refuses B's copy",
    );
    assert.deepEqual(logs.A.named("record.refused")[0].fields, {
      conn: logs.A.named("record.refused")[0].fields.conn,
      peer: "B",
      reason: "expired",
      client: "kiwi",
    });
    assert.equal(a.store.line("kiwi"), undefined, "not brought back");

    // B's clock passes the TTL too: its sweep drops it, and the two stores agree.
    clocks.A += 3n * S;
    clocks.B += 3n * S;
    clock.tick(1000);
    assert.equal(b.store.line("kiwi"), undefined, "B swept it");
    assert.deepEqual(a.store.digests.node(""), b.store.digests.node(""));
    // Converged: the next reconciliation finds no difference and sends no record.
    const recordsSent = a.sync.recordsSent + b.sync.recordsSent;
    assert.deepEqual(await round(), [0, 0]);
    assert.equal(a.sync.recordsSent + b.sync.recordsSent, recordsSent);
    assert.equal(logs.B.named("record.refused").length, 0, "nothing ever went back to B");
  } finally {
    await Promise.all([a.stop(0), b.stop(0)]);
  }
});

Deno.test("Member refuses an expired IAMAT and a neighbour's expired AT line, and floods neither", async () => {
  const { timers } = fakeTimers();
  const clocks = { A: T0, B: T0 };
  const { a, b, logs } = pair("record_ttl_s = 10", timers, clocks);
  try {
    a.start({ port: 0 });
    b.start({ port: 0 });
    await linked(a, b);
    const reply = await exchange(
      a.address,
      "IAMAT old +34-118 1799999989.999\nIAMAT new +1+1 1799999990\n",
    );
    assert.match(
      reply,
      /^AT A \+10\.001000000 old \+34-118 1799999989\.999\nAT A \+10\.000000000 new /,
    );
    await waitFor(() => b.store.line("new") !== undefined, 5000, "B holds the fresh one");
    assert.equal(a.store.line("old"), undefined);
    assert.equal(b.store.line("old"), undefined, "not flooded");
    assert.equal(await exchange(a.address, "WHATSAT old 10 1\n"), "? WHATSAT old 10 1\n");
    const refused = logs.A.named("record.refused");
    assert.equal(refused.length, 1);
    assert.equal(refused[0].fields.reason, "expired");
    assert.equal(refused[0].fields.client, "old");
    assert.equal(refused[0].fields.peer, undefined, "a client's");
  } finally {
    await Promise.all([a.stop(0), b.stop(0)]);
  }
});

Deno.test("Member sweeps a large expiry in batches of 1,000, giving the event loop back between them", async () => {
  const { clock, timers } = fakeTimers();
  const clocks = { A: T0 };
  const { m: a, log } = solo("record_ttl_s = 10", timers, () => clocks.A);
  try {
    a.start({ port: 0 });
    for (let i = 0; i < 2500; i++) {
      const msg = parseMessage(`AT A +0.100000000 c${i} +34-118 ${1_799_999_000 + i / 1000}`);
      assert.ok(msg.kind === "AT" && a.store.apply(msg.record));
    }
    clocks.A += 1000n * S;
    clock.tick(1000);
    // One batch per timer turn: the first at the interval, the others at once after it.
    assert.deepEqual(log.named("record.expired").map((e) => e.fields.records), [1000]);
    assert.equal(a.store.size, 1500);
    // (A timer of 0 ms set while the fake clock ticks is due 1 ms later.)
    clock.tick(1);
    clock.tick(1);
    assert.deepEqual(log.named("record.expired").map((e) => e.fields.records), [1000, 1000, 500]);
    assert.equal(a.store.size, 0);
    assert.equal(log.named("record.expired")[0].fields.oldest, "1799999000");
  } finally {
    await a.stop(0);
  }
});

Deno.test("Member with a data_dir loads no expired record after a restart, and deletes its row", async () => {
  const { timers } = fakeTimers();
  const clocks = { A: T0 };
  const dir = Deno.makeTempDirSync();
  const start = () => {
    const started = solo(`record_ttl_s = 10\ndata_dir = "${dir}"`, timers, () => clocks.A);
    started.m.start({ port: 0 });
    return started;
  };
  try {
    const first = start();
    try {
      await exchange(
        first.m.address,
        "IAMAT soon +34-118 1799999995\nIAMAT later +34-118 1800000005\n",
      );
      assert.equal(first.m.store.size, 2);
    } finally {
      await first.m.stop(0);
    }
    // Down for 10 s: `soon` is 15 s old when the member comes back, `later` 5 s.
    clocks.A += 10n * S;
    const second = start();
    try {
      assert.equal(second.m.store.line("soon"), undefined);
      assert.ok(second.m.store.line("later") !== undefined);
      const loaded = second.log.named("member.loaded")[0].fields;
      assert.deepEqual([loaded.records, loaded.expired, loaded.skipped], [1, 1, 0]);
    } finally {
      await second.m.stop(0);
    }
    // The row is gone from the file: a member with no TTL would not find it either.
    clocks.A -= 10n * S;
    const third = start();
    try {
      assert.equal(third.m.store.line("soon"), undefined, "deleted, not only skipped");
      assert.equal(third.log.named("member.loaded")[0].fields.records, 1);
    } finally {
      await third.m.stop(0);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

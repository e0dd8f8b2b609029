/**
 * Expiry without sockets: the dispatcher's refusals (IAMAT, AT lines on both
 * sides of a link, anti-entropy answers), the session's `record.refused`,
 * the sweep (store, record file, observers, log), the load at start.
 */

import assert from "node:assert/strict";
import {
  dispatch,
  type Effect,
  type ExpiredRecord,
  type MemberView,
  type Outcome,
  RecordFile,
  RecordStore,
  serveLine,
  type SessionView,
  sweepExpired,
} from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { formatEntry, parseMessage } from "../../src/protocol/mod.ts";
import { record, testPort } from "./_port.ts";

/** 1621464828.223372000 s: the fixed receive time of testPort(). */
const RECEIVED_NS = 1621464828_223372000n;
/** The TTL of these tests, s: a client time before 1621464818.223372 is expired. */
const TTL = 10;

const client: SessionView = {
  id: 7,
  remote: "127.0.0.1:5000",
  remoteHost: "127.0.0.1",
  role: "listener",
  lines: 0,
  peer: null,
  welcomed: false,
};
const neighbour: SessionView = { ...client, lines: 1, peer: "Smith" };
const dialled: SessionView = { ...client, role: "dialler", peer: "Smith", welcomed: true };

/** A member view with `record_ttl_s` = `ttl`, its store holding `lines`. */
function viewWith(ttl: number, ...lines: string[]): MemberView {
  const { view, store } = testPort();
  for (const line of lines) store.apply(record(line));
  return { ...view, recordTtlS: ttl };
}

function kinds(effects: Effect[]): string[] {
  return effects.map((e) => e.kind === "event" ? `event:${e.event}` : e.kind);
}

async function run(line: string, session: SessionView, member: MemberView): Promise<Outcome> {
  return await dispatch(line, session, member, RECEIVED_NS);
}

Deno.test("dispatch() answers an expired IAMAT with its AT line and refuses its record", async (t) => {
  // [client time, TTL, effects]: the reply is the AT line in every row.
  const table: Array<[string, number, string[]]> = [
    ["1621464818.223371999", TTL, ["refused"]],
    ["1621464818.2233719999999", TTL, ["refused"]],
    ["1621464818.223372", TTL, ["accept"]],
    ["1621464818.223372000001", TTL, ["accept"]],
    ["1", TTL, ["refused"]],
    ["1", 0, ["accept"]],
    ["1621464900", TTL, ["accept"]],
  ];
  for (const [time, ttl, effects] of table) {
    await t.step(`${time}, ttl ${ttl}`, async () => {
      const out = await run(`IAMAT kiwi +34-118 ${time}`, client, viewWith(ttl));
      assert.match(out.reply!.wire, new RegExp(`^AT Campbell \\S+ kiwi \\+34-118 ${time}\\n$`));
      assert.equal(out.reply!.reason, undefined);
      assert.deepEqual(kinds(out.effects), effects);
      if (effects[0] === "refused") {
        assert.deepEqual(out.effects[0], {
          kind: "refused",
          clientId: "kiwi",
          from: null,
          reason: "expired",
        });
      }
    });
  }
});

Deno.test("dispatch() refuses a neighbour's expired AT line on either side of the link", async (t) => {
  for (const session of [neighbour, dialled]) {
    await t.step(session.role, async () => {
      const old = "AT Hill +0.100000000 kiwi +34-118 1621464818.2";
      const out = await run(old, session, viewWith(TTL));
      assert.equal(out.reply, null);
      assert.deepEqual(out.effects, [
        { kind: "refused", clientId: "kiwi", from: "Smith", reason: "expired" },
      ]);
      const marked = await run(`${old} tree`, session, viewWith(TTL));
      assert.deepEqual(kinds(marked.effects), ["refused"], "a tree push too");
      const fresh = await run(
        "AT Hill +0.100000000 kiwi +34-118 1621464818.3",
        session,
        viewWith(TTL),
      );
      assert.deepEqual(kinds(fresh.effects), ["accept"]);
    });
  }
});

Deno.test("dispatch() leaves held records the rule drops out of anti-entropy answers", async (t) => {
  const held = [
    "AT Hill +0.100000000 old +34-118 1621464818.2", // expired, not yet swept
    "AT Hill +0.100000000 new +34-118 1621464818.3",
  ];
  const table: Array<[string, string, SessionView]> = [
    ["WANT of everything", "WANT -", dialled],
    ["HAVE of nothing", "HAVE -", dialled],
    // A listener holding nothing under any node: the pusher sends every record at once.
    ["DIGEST of an empty listener", `DIGEST - ${Array(16).fill("0").join(" ")}`, dialled],
  ];
  for (const [name, line, session] of table) {
    await t.step(name, async () => {
      const withTtl = await run(line, session, viewWith(TTL, ...held));
      assert.ok(withTtl.reply!.wire.includes(held[1]), withTtl.reply!.wire);
      assert.ok(!withTtl.reply!.wire.includes(" old "), "the expired record is not sent");
      const without = await run(line, session, viewWith(0, ...held));
      assert.ok(without.reply!.wire.includes(held[0]), "without a TTL, everything goes");
    });
  }
});

Deno.test("a session logs the records a read refused as one record.refused with reason expired", async () => {
  const { port, log, store } = testPort();
  const ttlPort = { ...port, view: { ...port.view, recordTtlS: TTL } };
  const result = await serveLine(
    ttlPort,
    { id: 3, remote: "127.0.0.1:9", remoteHost: "127.0.0.1", via: "http" },
    "IAMAT kiwi +34-118 1621464800",
  );
  assert.equal(result.stored, false);
  assert.equal(result.expired, true);
  assert.match(result.reply!.wire, /^AT Campbell \S+ kiwi \+34-118 1621464800\n$/);
  assert.equal(store.size, 0, "not stored");
  const refused = log.named("record.refused");
  assert.equal(refused.length, 1);
  assert.deepEqual(refused[0].fields, {
    conn: 3,
    via: "http",
    reason: "expired",
    client: "kiwi",
  });
  assert.equal(refused[0].level, "info");
  const fresh = await serveLine(
    ttlPort,
    { id: 4, remote: "127.0.0.1:9", remoteHost: "127.0.0.1", via: "http" },
    "IAMAT kiwi +34-118 1621464827",
  );
  assert.deepEqual([fresh.stored, fresh.expired], [true, false]);
});

/** A store with the time index holding `lines`, and a sink that records what the sweep did. */
function sweepFixture(...lines: string[]) {
  const store = new RecordStore({ timeIndex: true });
  for (const line of lines) store.apply(record(line));
  const log = new MemoryLog();
  const unpersisted: string[][] = [];
  const seen: ExpiredRecord[] = [];
  const sink = {
    store,
    unpersist: (ids: string[]) => void unpersisted.push(ids),
    log,
    observers: new Set([(e: ExpiredRecord) => void seen.push(e)]),
  };
  return { store, log, unpersisted, seen, sink };
}

Deno.test("sweepExpired() drops expired records from the store, then the file, then tells observers and logs", () => {
  const lines = [
    "AT Hill +0.100000000 a +34-118 1621464810",
    "AT Hill +0.100000000 b +34-118 1621464818.2",
    "AT Hill +0.100000000 c +34-118 1621464818.3",
  ];
  const { store, log, unpersisted, seen, sink } = sweepFixture(...lines);
  assert.equal(sweepExpired(sink, RECEIVED_NS, 0), 0, "TTL 0: nothing");
  assert.equal(sweepExpired(sink, RECEIVED_NS, TTL), 2);
  assert.equal(store.size, 1);
  assert.equal(store.line("c"), lines[2]);
  assert.deepEqual(unpersisted, [["a", "b"]]);
  assert.deepEqual(seen, [{ clientId: "a", line: lines[0] }, { clientId: "b", line: lines[1] }]);
  const events = log.named("record.expired");
  assert.equal(events.length, 1);
  assert.deepEqual(events[0].fields, {
    records: 2,
    clients: ["a", "b"],
    oldest: "1621464810",
    newest: "1621464818.2",
  });
  assert.equal(sweepExpired(sink, RECEIVED_NS, TTL), 0, "nothing more");
  assert.equal(log.named("record.expired").length, 1, "a sweep that drops nothing logs nothing");
});

Deno.test("sweepExpired() drops expired tombstones too, but tells no observer and logs no erased id", () => {
  const { store, log, unpersisted, seen, sink } = sweepFixture(
    "AT Hill +0.100000000 a +34-118 1621464810",
  );
  const erase = parseMessage("ERASE Smith gone 1621464811");
  assert.ok(erase.kind === "ERASE" && store.apply(erase.tombstone));
  assert.equal(store.tombstones, 1);
  assert.equal(sweepExpired(sink, RECEIVED_NS, TTL), 2);
  assert.equal(store.tombstones, 0);
  assert.deepEqual(unpersisted, [["a", "gone"]], "both rows leave the record file");
  assert.deepEqual(seen.map((e) => e.clientId), ["a"], "observers hear of records only");
  assert.deepEqual(log.named("record.expired")[0].fields, {
    records: 1,
    clients: ["a"],
    tombstones: 1,
    oldest: "1621464810",
    newest: "1621464811",
  });
});

Deno.test("sweepExpired() drops at most `limit` a call, and survives a failing file and observer", () => {
  const lines = Array.from(
    { length: 25 },
    (_, i) => `AT Hill +0.100000000 c${i} +34-118 ${1000 + i}`,
  );
  const { store, log, sink } = sweepFixture(...lines);
  const failing = {
    ...sink,
    unpersist: () => {
      throw new Error("disk full");
    },
    observers: new Set([() => {
      throw new Error("observer bug");
    }]),
  };
  assert.equal(sweepExpired(failing, RECEIVED_NS, TTL, 10), 10);
  assert.equal(sweepExpired(failing, RECEIVED_NS, TTL, 10), 10);
  assert.equal(sweepExpired(failing, RECEIVED_NS, TTL, 10), 5);
  assert.equal(store.size, 0);
  const errors = log.named("error").map((e) => String(e.fields.reason));
  assert.ok(errors.some((r) => r.includes("cannot delete expired records: Error: disk full")));
  assert.ok(errors.some((r) => r.includes("expiry observer failed: Error: observer bug")));
  assert.deepEqual(log.named("record.expired").map((e) => e.fields.records), [10, 10, 5]);
});

Deno.test("RecordFile.loadInto() skips and deletes expired rows; delete() removes rows by client", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = RecordFile.open(dir, "Solo");
    const lines = [
      "AT Hill +0.100000000 gone +34-118 1621464800",
      "AT Hill +0.100000000 kept +34-118 1621464827",
      "AT Hill +0.100000000 also +34-118 1621464828",
    ];
    for (const line of lines) file.save(line.split(" ")[3], line);
    file.save("junk", "not an AT line");
    const expired = (time: string) => time === "1621464800";
    const store = new RecordStore({ timeIndex: true });
    assert.deepEqual(file.loadInto(store, expired), { records: 2, skipped: 1, expired: 1 });
    assert.equal(store.line("gone"), undefined);
    assert.equal(store.line("kept"), lines[1]);
    file.delete(["also", "nobody"]);
    file.close();
    const again = RecordFile.open(dir, "Solo");
    const reloaded = again.load();
    again.close();
    assert.deepEqual(
      reloaded.records.map(formatEntry),
      [lines[1]],
      "gone and also are no longer on disk",
    );
    assert.equal(reloaded.skipped, 1);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

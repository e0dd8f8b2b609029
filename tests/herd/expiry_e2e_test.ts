/**
 * Expiry end to end, over real TCP and HTTP on 127.0.0.1 port 0, on the real
 * clock: a herd with a TTL of a few seconds and client times in the past, so
 * records expire soon. No sleep decides a result: each test polls, with a
 * deadline, for what it then asserts.
 */

import assert from "node:assert/strict";
import { testConfig } from "../../src/config.ts";
import { Member, wallClockNs } from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { formatPosixTime, isExpired } from "../../src/protocol/mod.ts";
import { exchange, TestHerd, waitFor } from "../_harness.ts";
import { noPlaces } from "../_no_places.ts";
import {
  eventOf,
  put,
  type RecordBody,
  recordOf,
  SseReader,
  startHttpHerd,
} from "../http/_herd.ts";
import { ONE_PLACE } from "./_port.ts";

/** The TTL of these herds, s: long enough for a flood on a busy machine, short for a test. */
const TTL_S = 4;
/** How often they sweep, ms. */
const SWEEP_MS = 100;

/** A client time `secondsAgo` before now, as a client would write it (µs). */
function timeAgo(secondsAgo: number): string {
  return formatPosixTime(wallClockNs() - BigInt(secondsAgo * 1e6) * 1000n, 6);
}

function expiringHerd(dissemination: "tree" | "flood" = "tree"): TestHerd {
  const config = testConfig();
  const settings = { ...config.settings, recordTtlS: TTL_S, expirySweepMs: SWEEP_MS };
  return new TestHerd({ ...config, settings: { ...settings, dissemination } }, ONE_PLACE);
}

Deno.test("e2e: a record expires on every member of the herd, and WHATSAT then answers '? '", async (t) => {
  for (const dissemination of ["tree", "flood"] as const) {
    await t.step(dissemination, () => expiresEverywhere(dissemination));
  }
});

async function expiresEverywhere(dissemination: "tree" | "flood"): Promise<void> {
  const herd = await expiringHerd(dissemination).start();
  try {
    // 1 s old: fresh for 3 s more, time enough to reach all five members first.
    const time = timeAgo(1);
    const reply = await exchange(herd.address("Campbell"), `IAMAT kiwi +34-118 ${time}\n`);
    assert.match(reply, new RegExp(`^AT Campbell \\S+ kiwi \\+34-118 ${time}\\n$`));
    await waitFor(
      () => [...herd.members.values()].every((m) => m.store.line("kiwi") !== undefined),
      5000,
      "every member holds kiwi",
    );
    await waitFor(
      () => [...herd.members.values()].every((m) => m.store.size === 0),
      (TTL_S + 5) * 1000,
      "every member dropped kiwi",
    );
    assert.ok(isExpired(time, wallClockNs(), TTL_S), "dropped only once expired by the rule");
    for (const [name, member] of herd.members) {
      assert.equal(
        await exchange(member.address, "WHATSAT kiwi 10 1\n"),
        "? WHATSAT kiwi 10 1\n",
        name,
      );
      const expired = herd.logs.get(name)!.named("record.expired");
      assert.deepEqual(expired.map((e) => e.fields.clients), [["kiwi"]], name);
    }
    // Nothing brought it back: the reconciliations of the links carry no record of kiwi.
    for (const member of herd.members.values()) assert.equal(member.store.line("kiwi"), undefined);
  } finally {
    await herd.stop();
  }
}

Deno.test("e2e: an IAMAT already expired gets its AT line and is neither stored nor flooded", async () => {
  const herd = await expiringHerd().start();
  try {
    const old = timeAgo(TTL_S + 60);
    const fresh = timeAgo(0);
    const reply = await exchange(
      herd.address("Campbell"),
      `IAMAT old +34-118 ${old}\nIAMAT fresh +34-118 ${fresh}\n`,
    );
    assert.match(
      reply,
      new RegExp(`^AT Campbell \\S+ old \\+34-118 ${old}\\nAT Campbell \\S+ fresh `),
    );
    // The fresh one, sent after it on the same connection, reaches everyone; the old one no one.
    await waitFor(
      () => [...herd.members.values()].every((m) => m.store.line("fresh") !== undefined),
      5000,
      "every member holds fresh",
    );
    for (const member of herd.members.values()) assert.equal(member.store.line("old"), undefined);
    assert.equal(
      await exchange(herd.address("Campbell"), "WHATSAT old 10 1\n"),
      "? WHATSAT old 10 1\n",
    );
    const refused = herd.logs.get("Campbell")!.named("record.refused");
    assert.equal(refused.length, 1);
    assert.deepEqual([refused[0].fields.reason, refused[0].fields.client], ["expired", "old"]);
    for (const name of ["Hill", "Jaquez", "Singleton", "Smith"]) {
      assert.equal(herd.logs.get(name)!.named("record.refused").length, 0, `${name} never saw it`);
    }
  } finally {
    await herd.stop();
  }
});

Deno.test("e2e: after a restart with data_dir, expired records are not loaded", async () => {
  const dir = Deno.makeTempDirSync();
  const base = testConfig();
  const config = {
    ...base,
    servers: base.servers.filter((s) => s.name === "Campbell"),
    links: [],
    settings: { ...base.settings, recordTtlS: TTL_S, expirySweepMs: 60_000, dataDir: dir },
  };
  try {
    const first = new Member({ config, name: "Campbell", places: ONE_PLACE });
    first.start({ port: 0 });
    const soon = timeAgo(1);
    try {
      await exchange(
        first.address,
        `IAMAT soon +34-118 ${soon}\nIAMAT later +1+1 ${timeAgo(-600)}\n`,
      );
      assert.equal(first.store.size, 2);
    } finally {
      await first.stop(0);
    }
    // Down until `soon` has expired by the rule (about 2 s).
    await waitFor(() => isExpired(soon, wallClockNs(), TTL_S), 10_000, "soon expired");
    const log = new MemoryLog();
    const second = new Member({ config, name: "Campbell", places: ONE_PLACE, log });
    second.start({ port: 0 });
    try {
      assert.equal(second.store.line("soon"), undefined);
      assert.equal(second.store.size, 1);
      assert.equal(
        await exchange(second.address, "WHATSAT soon 10 1\n"),
        "? WHATSAT soon 10 1\n",
      );
      const loaded = log.named("member.loaded")[0].fields;
      assert.deepEqual([loaded.records, loaded.expired], [1, 1]);
    } finally {
      await second.stop(0);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("e2e: an HTTP stream subscriber gets `expired`, and the record leaves the HTTP face", async () => {
  const herd = await startHttpHerd(["Campbell", "Smith"], {
    places: noPlaces(),
    settings: { recordTtlS: TTL_S, expirySweepMs: SWEEP_MS },
  });
  const smith = herd.get("Smith");
  const stream = new SseReader(
    await fetch(`${smith.url}/v1/stream`, { headers: { accept: "text/event-stream" } }),
  );
  try {
    await waitFor(() => smith.face.hub.subscribers === 1, 5000, "subscribed");
    const time = timeAgo(1);
    const res = await put(`${herd.url("Campbell")}/v1/clients/kiwi/location`, {
      location: "+34.068930-118.445127",
      time,
    });
    const body = await res.json() as RecordBody;
    assert.equal(res.status, 200);
    assert.equal(body.stored, true);
    const update = JSON.parse((await stream.next())!.data);
    assert.deepEqual(eventOf(update), { type: "update", record: recordOf(body) });
    // The sweep's event, within the TTL and a sweep of the update.
    const expired = JSON.parse((await stream.next((TTL_S + 5) * 1000))!.data);
    assert.deepEqual(eventOf(expired), { type: "expired", record: recordOf(body) });
    assert.ok(isExpired(time, wallClockNs(), TTL_S));
    // Gone from the record reads and the geo index.
    const one = await fetch(`${smith.url}/v1/clients/kiwi`);
    await one.body?.cancel();
    assert.equal(one.status, 404);
    assert.equal(smith.face.index.has("kiwi"), false);
    const near = await fetch(`${smith.url}/v1/clients?near=34.07,-118.44&radius_km=10`);
    const page = await near.json() as { clients: RecordBody[] };
    assert.deepEqual(page.clients, []);

    // An update already expired is answered but not stored: 200, stored false, expired true.
    const late = await put(`${herd.url("Campbell")}/v1/clients/pear/location`, {
      lat: 34.0722,
      lng: -118.4441,
      time: timeAgo(TTL_S + 60),
    });
    const lateBody = await late.json() as RecordBody & { expired?: boolean };
    assert.equal(late.status, 200);
    assert.deepEqual([lateBody.client, lateBody.stored, lateBody.expired], ["pear", false, true]);
    assert.equal(herd.get("Campbell").member.store.line("pear"), undefined);
  } finally {
    await stream.cancel();
    await herd.stop();
  }
});

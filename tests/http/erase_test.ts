/**
 * Erasure end to end (docs/PROTOCOL.md "Erasure", docs/HTTP.md): `DELETE /v1/clients/{id}` on
 * one member of five, over real HTTP, and the client gone from every member over real TCP
 * (WHATSAT answers `? `) and HTTP (404, lists, the geo query, streams); then a newer IAMAT
 * bringing it back everywhere, and an older one not.
 */

import assert from "node:assert/strict";
import { exchange, waitFor } from "../_harness.ts";
import {
  expectProblem,
  getJson,
  type HttpHerd,
  SseReader,
  startHttpHerd,
  type StreamEventBody,
  waitForSubscribers,
} from "./_herd.ts";

const KIWI = "+34.068930-118.445127";

/** Every member's TCP answer to `WHATSAT <id> 10 5`, by name. */
async function whatsatEverywhere(herd: HttpHerd, id: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [name, m] of herd.members) {
    out.set(name, await exchange(m.tcp, `WHATSAT ${id} 10 5\n`));
  }
  return out;
}

/** Waits until every member's store holds `id`'s record with client time `time` (or none). */
async function everywhere(herd: HttpHerd, id: string, time: string | undefined): Promise<void> {
  await waitFor(
    () => [...herd.members.values()].every((m) => m.member.store.get(id)?.clientTimeText === time),
    5000,
    `every member holds ${id} at ${time}`,
  );
}

async function withHerd(body: (herd: HttpHerd) => Promise<void>): Promise<void> {
  const herd = await startHttpHerd(5);
  try {
    await body(herd);
  } finally {
    await herd.stop();
  }
}

Deno.test("DELETE /v1/clients/{id} on one member erases the client on every member", async () => {
  await withHerd(async (herd) => {
    const at = await exchange(herd.get("Campbell").tcp, `IAMAT kiwi ${KIWI} 1700000000.5\n`);
    assert.match(at, /^AT Campbell /);
    await exchange(herd.get("Campbell").tcp, `IAMAT emu +10+010 1700000000.5\n`);
    await everywhere(herd, "kiwi", "1700000000.5");
    await everywhere(herd, "emu", "1700000000.5");
    // Streams that had kiwi: a client filter and a circle around it, on another member.
    const smith = herd.get("Smith");
    const byClient = new SseReader(await fetch(`${smith.url}/v1/stream?client=kiwi`));
    const byCircle = new SseReader(
      await fetch(`${smith.url}/v1/stream?near=34.0689,-118.4451&radius_km=5`),
    );
    await waitForSubscribers(smith, 2);
    try {
      const erased = await getJson(`${herd.url("Hill")}/v1/clients/kiwi`, { method: "DELETE" });
      assert.equal(erased.client, "kiwi");
      assert.equal(erased.server, "Hill");
      assert.equal(erased.held, true);
      assert.equal(erased.stored, true);
      assert.equal(erased.erase, `ERASE Hill kiwi ${erased.time}`);
      await everywhere(herd, "kiwi", undefined);
      for (const [name, reply] of await whatsatEverywhere(herd, "kiwi")) {
        assert.equal(reply, "? WHATSAT kiwi 10 5\n", name);
      }
      for (const [name, m] of herd.members) {
        const body = await expectProblem(await fetch(`${m.url}/v1/clients/kiwi`), 404);
        assert.match(body.detail, /kiwi/, name);
        const page = await getJson<{ clients: { client: string }[] }>(`${m.url}/v1/clients`);
        assert.deepEqual(page.clients.map((c) => c.client), ["emu"], name);
        const near = await getJson<{ clients: unknown[] }>(
          `${m.url}/v1/clients?near=34.0689,-118.4451&radius_km=50`,
        );
        assert.deepEqual(near.clients, [], name);
        assert.equal(m.face.index.has("kiwi"), false, name);
        await expectProblem(
          await fetch(`${m.url}/v1/clients/kiwi/nearby?radius_km=1&bound=1`),
          404,
        );
        assert.equal(m.member.store.size, 1, name);
        assert.equal(m.member.store.tombstones, 1, name);
      }
      const event = { type: "erased", client: "kiwi", server: "Hill", time: erased.time };
      assert.deepEqual(await byClient.json<StreamEventBody>(), event);
      assert.deepEqual(await byCircle.json<StreamEventBody>(), event);
      const logged = herd.get("Hill").log.named("record.erased");
      assert.equal(logged.length, 1);
      assert.equal(logged[0].fields.client, "kiwi");
      assert.equal(logged[0].fields.via, "http");
    } finally {
      await byClient.cancel();
      await byCircle.cancel();
    }
  });
});

Deno.test("after an erasure an older IAMAT is answered but not stored; a newer one brings the client back everywhere", async () => {
  await withHerd(async (herd) => {
    await exchange(herd.get("Campbell").tcp, `IAMAT kiwi ${KIWI} 1700000000.5\n`);
    await everywhere(herd, "kiwi", "1700000000.5");
    const erased = await getJson(`${herd.url("Hill")}/v1/clients/kiwi`, { method: "DELETE" });
    await everywhere(herd, "kiwi", undefined);
    const jaquez = herd.get("Jaquez");
    // Older than the erasure: its own AT line, and nothing stored (so nothing flooded).
    const old = await exchange(jaquez.tcp, `IAMAT kiwi +1+1 1700000001\n`);
    assert.match(old, /^AT Jaquez \S+ kiwi \+1\+1 1700000001\n$/);
    assert.equal(jaquez.member.store.get("kiwi"), undefined);
    await expectProblem(await fetch(`${jaquez.url}/v1/clients/kiwi`), 404);
    // After it: every member has the client again.
    const later = (BigInt(String(erased.time).split(".")[0]) + 1n).toString();
    await exchange(jaquez.tcp, `IAMAT kiwi +2+2 ${later}\n`);
    await everywhere(herd, "kiwi", later);
    for (const [name, m] of herd.members) {
      const record = await getJson<{ location: string }>(`${m.url}/v1/clients/kiwi`);
      assert.equal(record.location, "+2+2", name);
      assert.equal(m.member.store.tombstones, 0, name);
    }
    for (const [name, reply] of await whatsatEverywhere(herd, "kiwi")) {
      assert.match(reply, new RegExp(`^AT Jaquez \\S+ kiwi \\+2\\+2 ${later}\\n\\{`), name);
    }
  });
});

Deno.test("DELETE of a client no member knows stores and floods a tombstone, and says it held none", async () => {
  await withHerd(async (herd) => {
    const first = await getJson(`${herd.url("Smith")}/v1/clients/ghost`, { method: "DELETE" });
    assert.equal(first.held, false);
    assert.equal(first.stored, true);
    await waitFor(
      () => [...herd.members.values()].every((m) => m.member.store.tombstones === 1),
      5000,
      "the tombstone on every member",
    );
    // The record that was on its way (older than the erasure) is refused everywhere it arrives.
    const reply = await exchange(herd.get("Campbell").tcp, `IAMAT ghost ${KIWI} 1700000000\n`);
    assert.match(reply, /^AT Campbell /);
    assert.equal(herd.get("Campbell").member.store.get("ghost"), undefined);
    // A second DELETE answers the same way: the client stays erased.
    const again = await getJson(`${herd.url("Smith")}/v1/clients/ghost`, { method: "DELETE" });
    assert.equal(again.held, false);
    await expectProblem(await fetch(`${herd.url("Hill")}/v1/clients/ghost`), 404);
    await expectProblem(
      await fetch(`${herd.url("Hill")}/v1/clients/a%20b`, { method: "DELETE" }),
      400,
    );
    const long = "x".repeat(herd.config.settings.maxLineBytes + 1);
    const tooLong = await fetch(`${herd.url("Hill")}/v1/clients/${long}`, { method: "DELETE" });
    assert.match((await expectProblem(tooLong, 400)).detail, /^id: longer than/);
    assert.equal(herd.get("Hill").member.store.tombstones, 1);
  });
});

Deno.test("DELETE forgets a client whose clock runs ahead: the tombstone takes the record's time and wins the tie", async () => {
  await withHerd(async (herd) => {
    const future = "4102444800.5"; // 2100-01-01
    await exchange(herd.get("Campbell").tcp, `IAMAT kiwi ${KIWI} ${future}\n`);
    await everywhere(herd, "kiwi", future);
    const erased = await getJson(`${herd.url("Singleton")}/v1/clients/kiwi`, { method: "DELETE" });
    assert.equal(erased.time, future);
    assert.equal(erased.stored, true);
    await everywhere(herd, "kiwi", undefined);
    // The same time again, even at a greater location, does not bring it back.
    await exchange(herd.get("Hill").tcp, `IAMAT kiwi -90-180 ${future}\n`);
    assert.equal(herd.get("Hill").member.store.get("kiwi"), undefined);
    await exchange(herd.get("Hill").tcp, `IAMAT kiwi -90-180 4102444800.6\n`);
    await everywhere(herd, "kiwi", "4102444800.6");
  });
});

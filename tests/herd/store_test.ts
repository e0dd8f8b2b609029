import assert from "node:assert/strict";
import {
  DigestTree,
  flood,
  type FloodTarget,
  flushLinks,
  RecordStore,
} from "../../src/herd/mod.ts";
import { DIGEST_FANOUT, sameDigest } from "../../src/protocol/mod.ts";
import { record } from "./_port.ts";

const BASE = "AT Hill +0.100000000 kiwi +34-118 200";

Deno.test("RecordStore.apply() keeps the newer record by the last-writer-wins order", async (t) => {
  // [incoming, stored afterwards]: each row starts from a store holding BASE.
  const table: Array<[string, string, string]> = [
    ["later client time", "AT Hill +0.100000000 kiwi +34-118 201", "201"],
    ["earlier client time", "AT Hill +0.100000000 kiwi +34-118 199", "200"],
    ["identical line", BASE, "200"],
    ["same time, greater location", "AT Hill +0.100000000 kiwi +35-118 200", "+35-118"],
    ["same time, smaller location", "AT Hill +0.100000000 kiwi +33-118 200", "+34-118"],
    ["same time and place, greater origin", "AT Smith +0.100000000 kiwi +34-118 200", "Smith"],
    ["same time and place, smaller origin", "AT Campbell +0.100000000 kiwi +34-118 200", "Hill"],
    ["longer equal time text", "AT Hill +0.100000000 kiwi +34-118 200.0", "200.0"],
    ["greater skew", "AT Hill +0.200000000 kiwi +34-118 200", "+0.2"],
  ];
  for (const [name, line, expect] of table) {
    await t.step(name, () => {
      const store = new RecordStore();
      assert.equal(store.apply(record(BASE)), true);
      const stored = store.apply(record(line));
      assert.ok(store.line("kiwi")!.includes(expect), `${store.line("kiwi")} has ${expect}`);
      assert.equal(stored, store.line("kiwi") === line && line !== BASE);
      assert.equal(store.size, 1);
    });
  }
});

Deno.test("RecordStore keeps client ids byte for byte and returns parsed copies", () => {
  const store = new RecordStore();
  const line = "AT Hill +0.100000000 \xf0\x9f\xa5\x9d +34-118 1";
  store.apply(record(line));
  assert.equal(store.line("\xf0\x9f\xa5\x9d"), line);
  const a = store.get("\xf0\x9f\xa5\x9d")!;
  assert.notEqual(a, store.get("\xf0\x9f\xa5\x9d"), "a new object per call");
  assert.equal(a.origin, "Hill");
  assert.equal(store.get("other"), undefined);
  assert.deepEqual([...store.records()].map((r) => r.clientId), ["\xf0\x9f\xa5\x9d"]);
});

Deno.test("DigestTree: two stores with the same records in any order have the same digests", () => {
  const lines = Array.from(
    { length: 200 },
    (_, i) => `AT Hill +0.100000000 c${i} +34-118 ${i + 1}`,
  );
  const a = new RecordStore();
  const b = new RecordStore();
  for (const l of lines) a.apply(record(l));
  for (const l of [...lines].reverse()) b.apply(record(l));
  assert.ok(sameDigest(a.digests.node(""), b.digests.node("")));
  assert.equal(a.digests.node("").count, 200);
  // One replaced record changes the root and exactly one child of it.
  b.apply(record("AT Hill +0.100000000 c7 +34-118 9999"));
  assert.ok(!sameDigest(a.digests.node(""), b.digests.node("")));
  const differing = a.digests.children("").filter((d, i) =>
    !sameDigest(d, b.digests.children("")[i])
  );
  assert.equal(differing.length, 1);
  assert.equal(a.digests.children("").length, DIGEST_FANOUT);
});

Deno.test("DigestTree counts a replaced record once and lists its client id once", () => {
  const tree = new DigestTree();
  const line1 = "AT Hill +0.100000000 kiwi +34-118 1";
  const line2 = "AT Hill +0.100000000 kiwi +34-118 2";
  tree.update("kiwi", undefined, line1);
  tree.update("kiwi", line1, line2);
  assert.deepEqual([...tree.clientIds("")], ["kiwi"], "one id, not two");
  assert.equal(tree.node("").count, 1);
});

Deno.test("flood() hands a line to every link but the sender's; flushLinks() flushes each", () => {
  const sent: string[] = [];
  const flushed: string[] = [];
  const links = new Map<string, FloodTarget>(
    ["Smith", "Jaquez", "Hill"].map((n) => [n, {
      send: (l) => sent.push(`${n}:${l}`),
      flush: () => flushed.push(n),
    }]),
  );
  assert.equal(flood(BASE, links, "Jaquez"), 2);
  assert.deepEqual(sent, [`Smith:${BASE}\n`, `Hill:${BASE}\n`]);
  assert.equal(flood(BASE, links), 3);
  flushLinks(links);
  assert.deepEqual(flushed, ["Smith", "Jaquez", "Hill"]);
});

/**
 * The record store's removal by client time (`[herd] record_ttl_s`): the time
 * index, removeExpired(), and digests after removal equal to those of a store
 * that never held the removed records.
 */

import assert from "node:assert/strict";
import { RecordStore, TimeIndex, timeKeyMs } from "../../src/herd/mod.ts";
import {
  DIGEST_DEPTH,
  expiryCutoff,
  isNewer,
  isOlderThan,
  parseDecimal,
} from "../../src/protocol/mod.ts";
import { seeded } from "../protocol/_random.ts";
import { record } from "./_port.ts";

/** The rule for "client time older than `seconds`" (a cutoff at `seconds` s, whole). */
const olderThan = (seconds: number) => {
  const cutoff = expiryCutoff(BigInt(seconds + 10) * 1_000_000_000n, 10);
  return (time: string) => cutoff !== null && isOlderThan(time, cutoff);
};

/** Every node's digest down to `depth` levels: what two stores compare by. */
function digestsOf(store: RecordStore, depth: number): string[] {
  const out: string[] = [];
  const walk = (prefix: string) => {
    out.push(`${prefix}:${JSON.stringify(store.digests.node(prefix))}`);
    if (prefix.length < depth) { for (let i = 0; i < 16; i++) walk(prefix + i.toString(16)); }
  };
  walk("");
  return out;
}

/** A store with the time index, holding `lines` (applied in order). */
function storeOf(lines: Iterable<string>, timeIndex = true): RecordStore {
  const store = new RecordStore({ timeIndex });
  for (const line of lines) store.apply(record(line));
  return store;
}

const at = (id: string, time: string, origin = "Hill") =>
  `AT ${origin} +0.100000000 ${id} +34.068930-118.445127 ${time}`;

Deno.test("timeKeyMs() is the client time in whole milliseconds, never smaller for a later time", async (t) => {
  const table: Array<[string, number]> = [
    ["0", 0],
    ["1", 1000],
    ["1.5", 1500],
    ["1.05", 1050],
    ["1.0009", 1000],
    ["1.9999999999", 1999],
    ["0001.25", 1250],
    ["1621464827.959498503", 1621464827959],
  ];
  /** The key of a line ending in `time`, held amid other bytes (as in the store's arena). */
  const keyOf = (time: string) => {
    const bytes = new TextEncoder().encode(`xx AT Hill +0.100000000 kiwi +34-118 ${time} yy`);
    return timeKeyMs(bytes, 3, bytes.length - 3);
  };
  for (const [time, key] of table) await t.step(time, () => assert.equal(keyOf(time), key));
  const sorted = ["0", "0.0001", "0.5", "1", "1.0001", "99.999", "100", "1621464827.9"];
  for (let i = 1; i < sorted.length; i++) {
    assert.ok(keyOf(sorted[i - 1]) <= keyOf(sorted[i]), sorted[i]);
  }
});

Deno.test("TimeIndex gives the smallest key first through random sets, deletes and renumbers", () => {
  const seed = 14;
  const random = seeded(seed);
  const index = new TimeIndex();
  // The model: record number -> key, numbers kept dense as the store keeps them.
  const model = new Map<number, number>();
  for (let step = 0; step < 8_000; step++) {
    const roll = random();
    if (roll < 0.5 || model.size === 0) {
      const r = model.size + 1;
      const key = Math.floor(random() * 1000);
      index.set(r, key, false);
      model.set(r, key);
    } else if (roll < 0.75) {
      const r = 1 + Math.floor(random() * model.size);
      const key = Math.floor(random() * 1000);
      index.set(r, key, true);
      model.set(r, key);
    } else {
      // Remove one record, the last takes its number (the store's way).
      const r = 1 + Math.floor(random() * model.size);
      const last = model.size;
      index.delete(r);
      if (r !== last) {
        index.renumber(last, r);
        model.set(r, model.get(last)!);
      }
      model.delete(last);
    }
    assert.equal(index.size, model.size, `seed ${seed} step ${step}`);
    if (model.size > 0) {
      const first = index.first();
      assert.equal(model.get(first), Math.min(...model.values()), `seed ${seed} step ${step}`);
      assert.equal(index.keyOf(first), model.get(first));
    } else {
      assert.equal(index.first(), 0);
    }
  }
});

Deno.test("RecordStore.removeExpired() removes the oldest first and stops at the first kept", () => {
  const store = storeOf([
    at("c", "300"),
    at("a", "100.5"),
    at("d", "400"),
    at("b", "200"),
  ]);
  assert.equal(store.oldestTime(), "100.5");
  assert.deepEqual(store.removeExpired(olderThan(250)), [
    ["a", at("a", "100.5")],
    ["b", at("b", "200")],
  ]);
  assert.equal(store.size, 2);
  assert.equal(store.line("a"), undefined);
  assert.equal(store.get("b"), undefined);
  assert.equal(store.line("c"), at("c", "300"));
  assert.ok(store.holds(at("d", "400")));
  assert.ok(!store.holds(at("a", "100.5")));
  assert.equal(store.oldestTime(), "300");
  assert.deepEqual(store.removeExpired(olderThan(250)), [], "nothing more is older");
  assert.deepEqual(store.removeExpired(olderThan(300)), [], "exactly the cutoff stays");
  assert.deepEqual(store.removeExpired(olderThan(1000), 1), [["c", at("c", "300")]], "limit");
  assert.deepEqual(store.removeExpired(olderThan(1000)), [["d", at("d", "400")]]);
  assert.equal(store.size, 0);
  assert.equal(store.oldestTime(), undefined);
  assert.deepEqual(store.digests.node(""), { count: 0, hi: 0, lo: 0 });
});

Deno.test("RecordStore.removeExpired() orders by the time now held: a replaced record moves", () => {
  const store = storeOf([at("a", "100"), at("b", "200")]);
  // a's newer record is younger than b's: b goes first now, and a stays.
  assert.ok(store.apply(record(at("a", "300", "Smith"))));
  assert.deepEqual(store.removeExpired(olderThan(250)), [["b", at("b", "200")]]);
  assert.equal(store.line("a"), at("a", "300", "Smith"));
  assert.equal(store.oldestTime(), "300");
});

Deno.test("RecordStore.removeExpired() needs the time index", () => {
  const store = storeOf([at("a", "1")], false);
  assert.throws(() => store.removeExpired(olderThan(250)), /no timeIndex/);
  assert.equal(store.oldestTime(), undefined);
});

Deno.test("RecordStore after expiry equals, by digest and content, a store that never had the records", () => {
  const seed = 2026;
  const random = seeded(seed);
  const store = new RecordStore({ timeIndex: true });
  const newest = new Map<string, string>();
  const origins = ["Hill", "Singleton", "Jaquez"];
  let cutoff = 0;
  // 120,000 updates of 40,000 clients, the cutoff creeping up behind them: records are added,
  // replaced (newer time, longer or shorter line) and expired, in every order.
  for (let n = 0; n < 120_000; n++) {
    const id = n < 40_000 ? `client-${n}` : `client-${Math.floor(random() * 40_000)}`;
    const time = `${1000 + Math.floor(n / 100) + Math.floor(random() * 50)}.${
      String(Math.floor(random() * 1000)).padStart(3, "0")
    }`;
    const line = at(id, time, origins[n % 3]);
    const r = record(line);
    const held = newest.get(id);
    const expired = olderThan(cutoff)(time);
    if (!expired) {
      const expected = held === undefined || isNewer(r, record(held));
      assert.equal(store.apply(r, line), expected, line);
      if (expected) newest.set(id, line);
    }
    if (n % 5000 === 4999) {
      cutoff = 1000 + Math.floor(n / 100) - 200;
      const removed = store.removeExpired(olderThan(cutoff));
      const times = removed.map(([, l]) => parseDecimal(l.slice(l.lastIndexOf(" ") + 1)));
      for (const [id, line] of removed) {
        assert.equal(newest.get(id), line, `seed ${seed}: removed what was held`);
        newest.delete(id);
      }
      for (let i = 1; i < times.length; i++) {
        assert.ok(times[i - 1].whole <= times[i].whole, "oldest first (by the second)");
      }
      for (const line of newest.values()) {
        assert.ok(!olderThan(cutoff)(line.slice(line.lastIndexOf(" ") + 1)), "nothing left older");
      }
      assert.equal(store.size, newest.size);
    }
  }
  assert.ok(store.size < 40_000 && store.size > 1000, `some expired, some held: ${store.size}`);
  assert.deepEqual(new Map(store.lines()), newest);
  for (const [id, line] of newest) assert.equal(store.line(id), line);
  const never = storeOf(newest.values(), false);
  assert.deepEqual(digestsOf(store, 2), digestsOf(never, 2));
  // Every leaf too.
  const leaves = (s: RecordStore) => digestsOf(s, DIGEST_DEPTH).filter((d) => d.length > 40);
  assert.deepEqual(leaves(store), leaves(never));
  const sorted = (text: string) => text.split("\n").filter((l) => l !== "").sort();
  assert.deepEqual(sorted(store.linesUnder("").text), [...newest.values()].sort());
  for (const prefix of ["0", "7f", "c0a"]) {
    assert.deepEqual([...store.timesUnder(prefix)].sort(), [...never.timesUnder(prefix)].sort());
  }
});

Deno.test("RecordStore reuses its arena and numbers under a steady stream of expiring clients", () => {
  // 600,000 new clients, each expiring 50,000 records later: several 4 MiB chunks fill, empty and
  // are reused while records are removed from them; every record held stays readable.
  const store = new RecordStore({ timeIndex: true });
  const window = 50_000;
  for (let n = 0; n < 600_000; n++) {
    store.apply(record(at(`steady-${n}`, `${100_000 + n}`)));
    if (n % 10_000 === 9_999) {
      const removed = store.removeExpired(olderThan(100_000 + n - window));
      assert.ok(removed.length <= 10_000 + (n < window ? 0 : window));
      assert.equal(store.size, Math.min(n + 1, window + 1), "the window and its cutoff");
    }
  }
  for (let n = 600_000 - window - 1; n < 600_000; n += 997) {
    assert.equal(store.line(`steady-${n}`), at(`steady-${n}`, `${100_000 + n}`));
  }
  assert.equal(store.line("steady-0"), undefined);
  assert.equal(store.line(`steady-${600_000 - window - 2}`), undefined);
  const never = storeOf(
    Array.from({ length: window + 1 }, (_, i) => at(`steady-${549_999 + i}`, `${649_999 + i}`)),
    false,
  );
  assert.deepEqual(store.digests.node(""), never.digests.node(""));
});

/**
 * Micro-benchmarks of the record store as a member uses it (`deno task
 * microbench`; alone: `deno bench --allow-read scripts/store_bench.ts`), with
 * what `scripts/herd_bench.ts` leaves out: every call gets a record parsed
 * from its own line, as one read from a socket does (fresh strings, no hash
 * or flattening left from an earlier call), the line a flood carries
 * (`formatAt()`, not yet flattened) and the answer to an anti-entropy `WANT`
 * of every record. See docs/PERFORMANCE.md.
 *
 * @module
 */

import { answerWant } from "../src/herd/anti_entropy.ts";
import { RecordStore } from "../src/herd/store.ts";
import { type ClientRecord, formatAt, parseMessage } from "../src/protocol/mod.ts";

/** The record an AT line carries, parsed from a copy of the line that nothing else shares. */
function record(line: string): ClientRecord {
  const m = parseMessage(line.split("").join(""));
  if (m.kind !== "AT") throw new Error(`not an AT line: ${line}`);
  return m.record;
}

/** Records prepared per benchmark: each is applied once per pass over them. */
const PREPARED = 200_000;

const lineOf = (origin: string, i: number, time: string) =>
  `AT ${origin} +0.000123456 bench-1234-${i & 3}-${i} +34.068930-118.445127 ${time}`;

const fresh: ClientRecord[] = [];
const copies: ClientRecord[] = [];
const newer: ClientRecord[] = [];
const older: ClientRecord[] = [];
for (let i = 0; i < PREPARED; i++) {
  const time = `1764000000.${String(i).padStart(6, "0")}`;
  fresh.push(record(lineOf("Campbell", i, time)));
  copies.push(record(lineOf("Campbell", i, time)));
  newer.push(record(lineOf("Smith", i, `1764000001.${String(i).padStart(6, "0")}`)));
  older.push(record(lineOf("Hill", i, `1763999999.${String(i).padStart(6, "0")}`)));
}

/** A store holding `fresh`, the records the other benchmarks compare with. */
function filled(): RecordStore {
  const store = new RecordStore();
  // The prepared records themselves: a refill inside a benchmark leaves little garbage behind.
  for (const r of fresh) store.apply(r, formatAt(r));
  return store;
}

let newStore = new RecordStore();
let n = 0;
Deno.bench("apply() a new client", { group: "store" }, (b) => {
  if (n === PREPARED) {
    newStore = new RecordStore();
    n = 0;
  }
  const r = fresh[n++];
  b.start();
  const stored = newStore.apply(r, formatAt(r));
  b.end();
  if (!stored) throw new Error("not stored");
});

const known = filled();
let c = 0;
Deno.bench("apply() an identical copy (a flood coming back)", { group: "store" }, () => {
  const r = copies[c++ % PREPARED];
  if (known.apply(r, formatAt(r))) throw new Error("stored a copy");
});

let o = 0;
Deno.bench("apply() an older record of a known client", { group: "store" }, () => {
  const r = older[o++ % PREPARED];
  if (known.apply(r, formatAt(r))) throw new Error("stored an older record");
});

let updated = filled();
let u = 0;
Deno.bench("apply() a newer record of a known client", { group: "store" }, (b) => {
  if (u === PREPARED) {
    updated = filled(); // not timed
    u = 0;
  }
  const r = newer[u++];
  b.start();
  const stored = updated.apply(r, formatAt(r));
  b.end();
  if (!stored) throw new Error("not stored");
});

// The same two updates in a store with the time index (`record_ttl_s` set): its per-update cost.
let newTimed = new RecordStore({ timeIndex: true });
let nt = 0;
Deno.bench("apply() a new client, time index", { group: "store" }, (b) => {
  if (nt === PREPARED) {
    newTimed = new RecordStore({ timeIndex: true });
    nt = 0;
  }
  const r = fresh[nt++];
  b.start();
  const stored = newTimed.apply(r, formatAt(r));
  b.end();
  if (!stored) throw new Error("not stored");
});

/** A store with the time index holding `fresh`. */
function filledTimed(): RecordStore {
  const store = new RecordStore({ timeIndex: true });
  for (const r of fresh) store.apply(r, formatAt(r));
  return store;
}

let updatedTimed = filledTimed();
let ut = 0;
Deno.bench("apply() a newer record of a known client, time index", { group: "store" }, (b) => {
  if (ut === PREPARED) {
    updatedTimed = filledTimed(); // not timed
    ut = 0;
  }
  const r = newer[ut++];
  b.start();
  const stored = updatedTimed.apply(r, formatAt(r));
  b.end();
  if (!stored) throw new Error("not stored");
});

// The sweep's side: the oldest record out (a steady stream of expiring clients costs one of
// these per client), its digest, bucket and time-index place.
let sweptStore = filledTimed();
let swept = 0;
Deno.bench("removeExpired() of the oldest record", { group: "store" }, (b) => {
  if (swept === PREPARED) {
    sweptStore = filledTimed(); // not timed
    swept = 0;
  }
  b.start();
  const removed = sweptStore.removeExpired(() => true, 1);
  b.end();
  swept++;
  if (removed.length !== 1) throw new Error("nothing removed");
});

let l = 0;
Deno.bench("line() of a known client", { group: "store" }, () => {
  if (known.line(copies[l++ % PREPARED].clientId) === undefined) throw new Error("unknown");
});

Deno.bench(`answerWant() of every record, ${PREPARED.toLocaleString("en")}, every chunk built`, {
  group: "anti-entropy",
}, () => {
  const sent = answerWant({ kind: "WANT", prefixes: [""] }, known);
  let records = sent.records;
  for (let c = sent.rest?.next() ?? null; c !== null; c = sent.rest!.next()) records += c.records;
  if (records !== PREPARED) throw new Error(`${records} records`);
});

Deno.bench(`linesUnder() of every record at once, ${PREPARED.toLocaleString("en")}`, {
  group: "anti-entropy",
}, () => {
  const sent = known.linesUnder("");
  if (sent.records !== PREPARED) throw new Error(`${sent.records} records`);
});

/**
 * The per-update CPU that record expiry adds to a member's hot path, measured
 * in one process by interleaved rounds (A, B, A, B, ...) so that machine noise
 * hits both sides alike: `RecordStore.apply()` without and with the time index
 * (`[herd] record_ttl_s` = 0 against > 0), for new clients and for newer
 * records of known clients, and the expiry rule on an IAMAT's client time
 * (what the dispatcher adds per IAMAT and AT line with a TTL). Prints medians
 * and ranges per update. See docs/PERFORMANCE.md.
 *
 *     deno run --allow-read scripts/expiry_cost.ts [--records 200000] [--rounds 9]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { RecordStore } from "../src/herd/store.ts";
import {
  type ClientRecord,
  expiryCutoff,
  formatAt,
  isExpired,
  isOlderThan,
  parseMessage,
} from "../src/protocol/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    records: { type: "string", default: "200000" },
    rounds: { type: "string", default: "9" },
  },
});
const N = Number(values.records);
const ROUNDS = Number(values.rounds);

function record(line: string): ClientRecord {
  // A copy of the line that nothing else shares, as a read from a socket gives.
  const m = parseMessage(line.split("").join(""));
  if (m.kind !== "AT") throw new Error(`not an AT line: ${line}`);
  return m.record;
}

const lineOf = (i: number, time: string) =>
  `AT Campbell +0.000123456 bench-1234-${i & 3}-${i} +34.068930-118.445127 ${time}`;
const fresh: ClientRecord[] = [];
const newer: ClientRecord[] = [];
for (let i = 0; i < N; i++) {
  fresh.push(record(lineOf(i, `1764000000.${String(i).padStart(6, "0")}`)));
  newer.push(record(lineOf(i, `1764000100.${String(i).padStart(6, "0")}`)));
}

/** ns per apply() of `records` into `store`. */
function timeApply(store: RecordStore, records: ClientRecord[]): number {
  const t0 = performance.now();
  for (const r of records) if (!store.apply(r, formatAt(r))) throw new Error("not stored");
  return (performance.now() - t0) * 1e6 / records.length;
}

const samples = {
  newPlain: [] as number[],
  newIndexed: [] as number[],
  newerPlain: [] as number[],
  newerIndexed: [] as number[],
  rule: [] as number[],
  ruleCut: [] as number[],
  remove: [] as number[],
};
const now = 1_764_000_200_000_000_000n;
for (let round = 0; round < ROUNDS + 1; round++) {
  const order = round % 2 === 0 ? [false, true] : [true, false];
  for (const indexed of order) {
    const store = new RecordStore({ timeIndex: indexed });
    const a = timeApply(store, fresh);
    const b = timeApply(store, newer);
    if (round === 0) continue; // warm-up
    (indexed ? samples.newIndexed : samples.newPlain).push(a);
    (indexed ? samples.newerIndexed : samples.newerPlain).push(b);
    if (indexed) {
      // The sweep's side: every record out, oldest first (digest, bucket, heap, arena).
      const t0 = performance.now();
      const removed = store.removeExpired(() => true).length;
      samples.remove.push((performance.now() - t0) * 1e6 / removed);
      if (removed !== N) throw new Error(`removed ${removed}`);
    }
  }
  const t0 = performance.now();
  let expired = 0;
  for (const r of newer) if (isExpired(r.clientTimeText, now, 3600)) expired++;
  if (expired !== 0) throw new Error("expired");
  if (round > 0) samples.rule.push((performance.now() - t0) * 1e6 / N);
  // What the dispatcher pays per line: the cutoff once per read, then this.
  const cutoff = expiryCutoff(now, 3600)!;
  const t1 = performance.now();
  for (const r of newer) if (isOlderThan(r.clientTimeText, cutoff)) expired++;
  if (expired !== 0) throw new Error("expired");
  if (round > 0) samples.ruleCut.push((performance.now() - t1) * 1e6 / N);
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)];
const show = (xs: number[]) =>
  `${median(xs).toFixed(0)} ns (${sorted(xs)[0].toFixed(0)} - ${sorted(xs).at(-1)!.toFixed(0)})`;
console.log(`${N.toLocaleString("en")} records, ${ROUNDS} rounds; median (min - max) per update`);
console.log(`apply() a new client, no time index:     ${show(samples.newPlain)}`);
console.log(`apply() a new client, time index:        ${show(samples.newIndexed)}`);
console.log(`apply() a newer record, no time index:   ${show(samples.newerPlain)}`);
console.log(`apply() a newer record, time index:      ${show(samples.newerIndexed)}`);
console.log(`removeExpired(), per record removed:     ${show(samples.remove)}`);
console.log(`isExpired() of a client time:            ${show(samples.rule)}`);
console.log(`isOlderThan() against one cutoff:        ${show(samples.ruleCut)}`);
const diff = (a: number[], b: number[]) => median(b.map((x, i) => x - a[i]));
console.log(
  `time index, median of paired differences: new client ${
    diff(samples.newPlain, samples.newIndexed).toFixed(0)
  } ns, newer record ${diff(samples.newerPlain, samples.newerIndexed).toFixed(0)} ns`,
);

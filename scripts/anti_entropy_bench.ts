/**
 * Anti-entropy at scale, on the default five-member herd in one process with
 * every directed link behind a relay (tests/_faults.ts):
 *
 * 1. Identical stores of N clients (default 100,000) on every member: start
 *    the herd and report the bytes reconciliation sent (bound: 64 KiB per pair).
 * 2. Partition {Hill, Jaquez} from {Campbell, Singleton, Smith}; on the larger
 *    side all N records change; heal, and report how long until every member
 *    holds every newest record (target: 5 s).
 *
 * Usage: deno run --allow-net=127.0.0.1 --allow-read scripts/anti_entropy_bench.ts [N]
 *
 * @module
 */

import { testConfig } from "../src/config.ts";
import { createGeonamesProvider } from "../src/places/mod.ts";
import { parseMessage } from "../src/protocol/mod.ts";
import { FaultHerd } from "../tests/_faults.ts";
import { waitFor } from "../tests/_harness.ts";

const n = Number(Deno.args[0] ?? 100_000);
const base = testConfig();
const config = { ...base, settings: { ...base.settings, syncIntervalMs: 0 } };
const herd = new FaultHerd(config, createGeonamesProvider(), true);

function record(origin: string, i: number, time: number) {
  const m = parseMessage(
    `AT ${origin} +0.000100000 client-${i} +34.068930-118.445127 ${time}.${i}`,
  );
  if (m.kind !== "AT") throw new Error("bad record");
  return m.record;
}

for (let i = 0; i < n; i++) {
  const r = record("Campbell", i, 1700000000);
  herd.expected.apply(r);
  for (const m of herd.members.values()) m.store.apply(r);
}

try {
  let t0 = performance.now();
  herd.startAll();
  const members = [...herd.members.values()];
  // Each link reconciles twice (once per direction); wait until every opening is answered.
  const openings = 2 * config.links.length;
  await waitFor(
    () => members.reduce((k, m) => k + m.sync.digests, 0) >= openings,
    30000,
    "digests",
  );
  const identicalMs = performance.now() - t0;
  const bytes = members.reduce((k, m) => k + m.sync.bytesSent, 0);
  console.log(
    `identical stores of ${n} clients: ${bytes} bytes of anti-entropy over ${config.links.length} ` +
      `links (${Math.round(bytes / config.links.length)} per link, both directions), ` +
      `${identicalMs.toFixed(0)} ms`,
  );

  herd.cut("Hill", "Smith");
  herd.cut("Jaquez", "Singleton");
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < n; i++) {
    const r = record("Smith", i, 1700000100);
    herd.expected.apply(r);
    for (const name of ["Campbell", "Singleton", "Smith"]) herd.member(name).store.apply(r);
  }
  const before = members.reduce((k, m) => k + m.sync.bytesSent, 0);
  t0 = performance.now();
  herd.healAll();
  await herd.converged(60000);
  const healMs = performance.now() - t0;
  const after = members.reduce((k, m) => k + m.sync.bytesSent, 0);
  console.log(
    `partition healed with ${n} changed records: every member converged in ${
      healMs.toFixed(0)
    } ms (${((after - before) / 1e6).toFixed(1)} MB of anti-entropy)`,
  );
} finally {
  await herd.stop();
}

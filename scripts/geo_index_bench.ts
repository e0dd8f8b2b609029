/**
 * The client geo index (src/geo/client_index.ts) at 1,000,000 clients: build
 * by one-by-one inserts, 100,000 moves (anywhere, and short), `near()`
 * queries of 5 km / limit 100, 500 km / limit 100 and 20,038 km / limit
 * 1,000, deletes, heap memory, and a bulk `load()` (start-up). For
 * comparison, the static alternative already in use for GeoNames: a kdbush
 * build over the same points (what every change would cost if the index were
 * rebuilt) and its geokdbush query; and, for scale, the record store's
 * update of a known client (what each move would come with).
 *
 * Two data sets a round: `uniform` (points uniform on the sphere; a 5 km
 * circle holds about 0.15 clients) and `clustered` (90 % of points within
 * about 30 km of 1,000 random "cities", the rest uniform; queries at cities,
 * where 5 km holds hundreds). Each round builds a fresh index. Prints the
 * median and min-max over the rounds.
 *
 * Memory is `Deno.memoryUsage().heapUsed` after a full GC, before and after
 * the build, so run with `--v8-flags=--expose-gc` (without it the figure is
 * printed as unreliable). The ids are made before the first reading, so the
 * figure is the index's own cost per client (the store holds the ids anyway).
 *
 * Usage: deno run --v8-flags=--expose-gc scripts/geo_index_bench.ts [clients] [rounds]
 * (defaults 1,000,000 and 5). `deno task microbench` loads it too and then runs one round.
 *
 * @module
 */

import { around } from "geokdbush";
import KDBush from "kdbush";
import process from "node:process";
import { ClientIndex } from "../src/geo/mod.ts";
import { RecordStore } from "../src/herd/store.ts";
import { type ClientRecord, parseMessage } from "../src/protocol/mod.ts";
import { seeded } from "../tests/protocol/_random.ts";

const CLIENTS = Number(Deno.args[0] ?? 1_000_000);
const ROUNDS = Number(Deno.args[1] ?? (import.meta.main ? 5 : 1));
const MOVES = 100_000;
const RAD = Math.PI / 180;

/** [name, radius km, limit, queries per round] */
const QUERIES: Array<[string, number, number, number]> = [
  ["5 km, limit 100", 5, 100, 20_000],
  ["500 km, limit 100", 500, 100, 5_000],
  ["20,038 km, limit 1,000", 20_038, 1000, 1_000],
];

const gc = (globalThis as { gc?: () => void }).gc;

function heapUsed(): number {
  gc?.();
  return Deno.memoryUsage().heapUsed;
}

type DataSet = "uniform" | "clustered";

/** `n` points as parallel arrays, and `m` query points (from the same distribution). */
function points(set: DataSet, n: number, seed: number) {
  const random = seeded(seed);
  const uniform = (): [number, number] => [
    Math.asin(2 * random() - 1) / RAD,
    360 * random() - 180,
  ];
  const cities = Array.from({ length: 1000 }, uniform);
  // About 30 km of spread: 0.27 degrees of latitude, and of longitude scaled by latitude.
  const nearCity = (): [number, number] => {
    const [lat, lng] = cities[Math.floor(random() * cities.length)];
    const dLat = (random() + random() + random() - 1.5) * 0.27;
    const dLng = (random() + random() + random() - 1.5) * 0.27 /
      Math.max(0.05, Math.cos(lat * RAD));
    const wrapped = ((lng + dLng + 540) % 360) - 180;
    return [Math.max(-90, Math.min(90, lat + dLat)), wrapped];
  };
  const next = set === "uniform" ? uniform : () => (random() < 0.9 ? nearCity() : uniform());
  const lat = new Float64Array(n);
  const lng = new Float64Array(n);
  for (let i = 0; i < n; i++) [lat[i], lng[i]] = next();
  const query = set === "uniform" ? uniform : () => cities[Math.floor(random() * cities.length)];
  return { lat, lng, next, query };
}

/**
 * Runs `work` and returns its wall and CPU time (user + system of the whole
 * process), ms. On a shared machine CPU time is the steadier figure.
 */
function timed(work: () => void): { wallMs: number; cpuMs: number } {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  work();
  const wallMs = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  return { wallMs, cpuMs: (used.user + used.system) / 1000 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs: number[], digits: number) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)} - ${
    Math.max(...xs).toFixed(digits)
  })`;

const ids = Array.from({ length: CLIENTS }, (_, i) => `client-${i}`);

/** Figures by name, one value per round. */
class Figures {
  #values = new Map<string, number[]>();

  add(name: string, value: number): void {
    const list = this.#values.get(name) ?? [];
    list.push(value);
    this.#values.set(name, list);
  }

  /** Adds the wall and CPU time per operation of `work` doing `count` operations, µs. */
  time(name: string, count: number, work: () => void): void {
    const { wallMs, cpuMs } = timed(work);
    this.add(`${name}, µs wall`, (wallMs * 1000) / count);
    this.add(`${name}, µs CPU`, (cpuMs * 1000) / count);
  }

  print(title: string): void {
    console.log(title);
    for (const [name, xs] of this.#values) console.log(`  ${name}: ${range(xs, 2)}`);
  }
}

let found = 0; // answers, summed and printed, so that no query is optimised away

/**
 * One round on a fresh data set. A function, so that nothing of a round
 * outlives it: run inline in the loop, V8 kept the previous round's index
 * reachable until the next one replaced it, which spoiled the heap figure.
 */
function runRound(set: DataSet, round: number, figures: Figures): void {
  const { lat, lng, next, query } = points(set, CLIENTS, 1000 + round);
  const before = heapUsed();
  let index: ClientIndex | undefined = new ClientIndex();
  figures.time("build: set() of a new client", CLIENTS, () => {
    for (let i = 0; i < CLIENTS; i++) index!.set(ids[i], lat[i], lng[i]);
  });
  figures.add("memory: heap bytes per client", (heapUsed() - before) / CLIENTS);

  const who = Array.from({ length: MOVES }, (_, i) => ids[(i * 7919) % CLIENTS]);
  const slot = Array.from({ length: MOVES }, (_, i) => (i * 7919) % CLIENTS);
  const far = Array.from({ length: MOVES }, () => next());
  figures.time("set() moving a client anywhere", MOVES, () => {
    for (let i = 0; i < MOVES; i++) index!.set(who[i], far[i][0], far[i][1]);
  });
  // Back home, then a step of up to about 100 m (0.001 degrees of latitude) each.
  for (let i = 0; i < MOVES; i++) index.set(who[i], lat[slot[i]], lng[slot[i]]);
  const near = Array.from({ length: MOVES }, (_, i) => [
    Math.max(-90, Math.min(90, lat[slot[i]] + (Math.random() - 0.5) * 0.002)),
    Math.max(-180, Math.min(180, lng[slot[i]] + (Math.random() - 0.5) * 0.002)),
  ]);
  figures.time("set() moving a client up to ~100 m", MOVES, () => {
    for (let i = 0; i < MOVES; i++) index!.set(who[i], near[i][0], near[i][1]);
  });

  for (const [name, radiusKm, limit, count] of QUERIES) {
    const at = Array.from({ length: count }, query);
    let answers = 0;
    figures.time(`near() ${name}`, count, () => {
      for (const [qLat, qLng] of at) answers += index!.near(qLat, qLng, radiusKm, limit).length;
    });
    figures.add(`near() ${name}: answers per query`, answers / count);
    found += answers;
  }

  figures.time("delete()", MOVES, () => {
    for (let i = 0; i < MOVES; i++) index!.delete(who[i]);
  });
  index = undefined;

  // Start-up from stored records: one bulk load, and queries on its tree.
  const entries = Array.from(
    { length: CLIENTS },
    (_, i) => [ids[i], lat[i], lng[i]] as [string, number, number],
  );
  index = new ClientIndex();
  figures.time("load() of all clients into an empty index", CLIENTS, () => index!.load(entries));
  for (const [name, radiusKm, limit, count] of QUERIES.slice(0, 2)) {
    const at = Array.from({ length: count }, query);
    figures.time(`near() ${name}, after load()`, count, () => {
      for (const [qLat, qLng] of at) found += index!.near(qLat, qLng, radiusKm, limit).length;
    });
  }
  index = undefined;

  // The static alternative: one rebuild, and its query on the same points.
  let kd: KDBush | undefined;
  figures.time("kdbush: rebuild of all clients (one per change, if static)", 1, () => {
    kd = new KDBush(CLIENTS);
    for (let i = 0; i < CLIENTS; i++) kd.add(lng[i], lat[i]);
    kd.finish();
  });
  const at = Array.from({ length: QUERIES[0][3] }, query);
  figures.time("geokdbush around() 5 km, limit 100 (static, for scale)", at.length, () => {
    for (const [qLat, qLng] of at) found += around(kd!, qLng, qLat, 100, 5).length;
  });
}

for (const set of ["uniform", "clustered"] as const) {
  const figures = new Figures();
  for (let round = 0; round < ROUNDS; round++) runRound(set, round, figures);
  figures.print(
    `${set}: ${CLIENTS.toLocaleString("en")} clients, ${ROUNDS} rounds, median (min - max)` +
      (gc === undefined ? " [no --expose-gc: memory unreliable]" : ""),
  );
}

// A crowd: every client at one point, as `herd bench` sends them (it gives
// every IAMAT the same location). A query there must see the whole crowd,
// since equally distant clients are ordered by id.
{
  const crowd = Math.min(CLIENTS, 100_000);
  const figures = new Figures();
  for (let round = 0; round < ROUNDS; round++) {
    const index = new ClientIndex();
    figures.time("build: set() of a new client at the crowd's point", crowd, () => {
      for (let i = 0; i < crowd; i++) index.set(ids[i], 34.06893, -118.445127);
    });
    const count = 1000;
    const who = Array.from({ length: count }, (_, i) => ids[(i * 7919) % crowd]);
    figures.time("set() moving a crowd member out and back (2 moves)", count, () => {
      for (const id of who) {
        index.set(id, 34.1, -118.4);
        index.set(id, 34.06893, -118.445127);
      }
    });
    figures.time("near() at the crowd, 5 km, limit 100", 10, () => {
      for (let q = 0; q < 10; q++) found += index.near(34.06, -118.44, 5, 100).length;
    });
  }
  figures.print(
    `crowd: ${
      crowd.toLocaleString("en")
    } clients at one point, ${ROUNDS} rounds, median (min - max)`,
  );
}
// For scale, on the same machine at the same time: what the store does for
// the IAMAT that causes a move (a newer record of a known client).
{
  const count = 100_000;
  const records: ClientRecord[] = [];
  for (let i = 0; i < count; i++) {
    const m = parseMessage(
      `AT Hill +0.000100000 kiwi +34.068930-118.445127 ${1_700_000_000 + i}.5`,
    );
    if (m.kind !== "AT") throw new Error("not an AT line");
    records.push(m.record);
  }
  const figures = new Figures();
  for (let round = 0; round < ROUNDS; round++) {
    const store = new RecordStore();
    figures.time("RecordStore.apply() a newer record of a known client", count, () => {
      for (const record of records) store.apply(record);
    });
  }
  figures.print(`yardstick: ${ROUNDS} rounds, median (min - max)`);
}
console.log(`(${found} answers in all)`);

/**
 * Micro-benchmarks of the member's per-update work (`deno task microbench`): the
 * record store's last-writer-wins update and the flood fan-out to three
 * neighbour links. See docs/PERFORMANCE.md.
 *
 * @module
 */

import { flood, type FloodTarget } from "../src/herd/flood.ts";
import { RecordStore } from "../src/herd/store.ts";
import { type ClientRecord, formatAt, parseMessage } from "../src/protocol/mod.ts";

/** The record an AT line carries. */
function record(line: string): ClientRecord {
  const m = parseMessage(line);
  if (m.kind !== "AT") throw new Error(`not an AT line: ${line}`);
  return m.record;
}

/** How many distinct records are prepared up front (parsing is not what is measured). */
const PREPARED = 100_000;

/** Records of distinct clients, and updates of one client with increasing times. */
const NEW_CLIENTS: ClientRecord[] = [];
const NEWER_UPDATES: ClientRecord[] = [];
for (let i = 0; i < PREPARED; i++) {
  NEW_CLIENTS.push(
    record(`AT Campbell +0.000100000 bench-${i} +34.068930-118.445127 1621464827.${i}`),
  );
  NEWER_UPDATES.push(
    record(`AT Campbell +0.000100000 kiwi +34.068930-118.445127 ${1621464827 + i}.5`),
  );
}

let newStore = new RecordStore();
let newIndex = 0;
Deno.bench("RecordStore.apply() a new client", { group: "store" }, () => {
  if (newIndex === PREPARED) {
    // A fresh store every PREPARED updates: the store stays at most 100k clients.
    newStore = new RecordStore();
    newIndex = 0;
  }
  if (!newStore.apply(NEW_CLIENTS[newIndex++])) throw new Error("not stored");
});

let newerStore = new RecordStore();
let newerIndex = 0;
Deno.bench("RecordStore.apply() a newer record of a known client", { group: "store" }, () => {
  if (newerIndex === PREPARED) {
    newerStore = new RecordStore();
    newerIndex = 0;
  }
  if (!newerStore.apply(NEWER_UPDATES[newerIndex++])) throw new Error("not stored");
});

const olderStore = new RecordStore();
olderStore.apply(NEWER_UPDATES[PREPARED - 1]);
const OLDER = NEWER_UPDATES[0];
Deno.bench("RecordStore.apply() an older record (a flood coming back)", { group: "store" }, () => {
  if (olderStore.apply(OLDER)) throw new Error("stored an older record");
});

/** A link that only counts what it is handed, like a PeerLink queueing a line. */
class CountingLink implements FloodTarget {
  bytes = 0;
  send(line: string): void {
    this.bytes += line.length;
  }
  flush(): void {}
}

const LINKS = new Map<string, CountingLink>([
  ["Campbell", new CountingLink()],
  ["Jaquez", new CountingLink()],
  ["Smith", new CountingLink()],
]);
const FLOODED = formatAt(NEW_CLIENTS[0]);

Deno.bench("flood() to 3 links", { group: "flood" }, () => {
  if (flood(FLOODED, LINKS) !== 3) throw new Error("not 3 links");
});

Deno.bench("flood() to 3 links except the sender's", { group: "flood" }, () => {
  if (flood(FLOODED, LINKS, "Smith") !== 2) throw new Error("not 2 links");
});

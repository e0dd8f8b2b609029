/**
 * WHATSAT throughput with the `google` provider, on cache hits and on cache
 * misses, against the fake Google of the tests (`deno task microbench`): a
 * one-member herd on 127.0.0.1 port 0, clients on persistent TCP connections.
 *
 * - "hit": the answer is in the cache; no HTTP at all.
 * - "miss": the cache is off (`cache_entries = 0`), so every WHATSAT is one
 *   HTTP round trip to the fake Google on loopback (no network latency: this
 *   measures herd's own cost per upstream call, not Google's).
 *
 * Throughput = WHATSATs per iteration / time per iteration.
 *
 * @module
 */

import { type HerdConfig, testConfig } from "../src/config.ts";
import { Member } from "../src/herd/mod.ts";
import { createProvider } from "../src/places/mod.ts";
import { OpenClient } from "../tests/_harness.ts";
import { FakeGoogle } from "../tests/places/_fake_google.ts";

const KEY = "bench-key";
/** Connections of the batch benchmarks, and WHATSATs pipelined on each. */
const CONNECTIONS = 10;
const PIPELINED = 10;

const fake = FakeGoogle.start(KEY);

function soloConfig(name: string, cacheEntries: number): HerdConfig {
  const config = testConfig();
  return {
    ...config,
    servers: [{ name, host: "127.0.0.1", port: 0 }],
    links: [],
    places: { ...config.places, provider: "google", endpoint: fake.url, cacheEntries },
  };
}

/** A started one-member herd whose places come from the fake, and open clients to it. */
async function start(name: string, cacheEntries: number) {
  const config = soloConfig(name, cacheEntries);
  const places = createProvider(config.places, { apiKey: KEY });
  const member = new Member({ config, name, places });
  member.start({ port: 0 });
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => OpenClient.connect(member.address)),
  );
  await clients[0].send("IAMAT kiwi +34.068930-118.445127 1700000000\n");
  await clients[0].line();
  return { member, places, clients };
}

const hit = await start("Hit", 10_000);
const miss = await start("Miss", 0);

/** One WHATSAT on the first connection, awaited. */
async function one(clients: OpenClient[]): Promise<void> {
  await clients[0].send("WHATSAT kiwi 10 5\n");
  await clients[0].readUntil("}\n\n");
}

/** {@linkcode PIPELINED} WHATSATs written at once on each of {@linkcode CONNECTIONS} connections. */
async function batch(clients: OpenClient[]): Promise<void> {
  const lines = "WHATSAT kiwi 10 5\n".repeat(PIPELINED);
  await Promise.all(clients.map(async (client) => {
    await client.send(lines);
    for (let i = 0; i < PIPELINED; i++) await client.readUntil("}\n\n");
  }));
}

await one(hit.clients); // fills the cache

Deno.bench("WHATSAT google, cache hit: 1 request, 1 connection", { group: "one" }, async () => {
  await one(hit.clients);
});

Deno.bench("WHATSAT google, cache miss (fake Google on loopback): 1 request", {
  group: "one",
}, async () => {
  await one(miss.clients);
});

Deno.bench(
  `WHATSAT google, cache hit: ${CONNECTIONS * PIPELINED} requests, ${CONNECTIONS} connections`,
  { group: "batch" },
  async () => {
    await batch(hit.clients);
  },
);

Deno.bench(
  `WHATSAT google, cache miss: ${CONNECTIONS * PIPELINED} requests, ${CONNECTIONS} connections`,
  { group: "batch" },
  async () => {
    await batch(miss.clients);
  },
);

// The members, their connections and the fake stay up until `deno bench` ends the process:
// Deno.bench has no hook that runs after the last benchmark.

/**
 * CachedPlacesProvider: keys, TTL with a fake clock, LRU, bound slicing,
 * coalescing, failures, counters. The provider behind is a scripted stub.
 */

import assert from "node:assert/strict";
import { MemoryLog } from "../../src/log.ts";
import {
  CachedPlacesProvider,
  cacheKey,
  type NearbyQuery,
  type NearbySearchResponse,
  type NearbySearchResult,
  type PlacesProvider,
} from "../../src/places/mod.ts";
import { waitFor } from "../_harness.ts";

const QUERY: NearbyQuery = {
  latitude: 34.06893,
  longitude: -118.445127,
  radiusM: 1000,
  maxResults: 5,
};

function result(i: number): NearbySearchResult {
  return {
    name: `Place ${i}`,
    place_id: `p${i}`,
    geometry: { location: { lat: 34, lng: -118 } },
    types: [],
    vicinity: "",
  };
}

/** A stub provider: records questions, answers `next()` (20 places unless changed). */
class Stub implements PlacesProvider {
  readonly name = "stub";
  readonly asked: NearbyQuery[] = [];
  gate: Promise<void> = Promise.resolve();
  next: () => NearbySearchResponse = () => ({
    html_attributions: ["credit"],
    results: Array.from({ length: 20 }, (_, i) => result(i)),
    status: "OK",
  });
  closed = 0;

  async nearby(query: NearbyQuery): Promise<NearbySearchResponse> {
    this.asked.push(query);
    await this.gate;
    return this.next();
  }

  close(): Promise<void> {
    this.closed++;
    return Promise.resolve();
  }
}

/** A cache over a stub with a clock the test moves by hand. */
function setup(options: { ttlS?: number; entries?: number } = {}) {
  const stub = new Stub();
  const clock = { ms: 1_000_000 };
  const cache = new CachedPlacesProvider(stub, { ...options, now: () => clock.ms });
  return { stub, clock, cache };
}

Deno.test("cacheKey() rounds the location to 4 decimals and keeps the radius", () => {
  assert.equal(
    cacheKey({ latitude: 34.06893, longitude: -118.445127, radiusM: 1000 }),
    "34.0689,-118.4451,1000",
  );
  assert.equal(
    cacheKey({ latitude: 34.06895, longitude: -118.44516, radiusM: 1000 }),
    "34.0690,-118.4452,1000",
  );
  assert.equal(cacheKey({ latitude: -0.00001, longitude: 0.00001, radiusM: 5 }), "0.0000,0.0000,5");
  assert.notEqual(cacheKey({ ...QUERY, radiusM: 1000 }), cacheKey({ ...QUERY, radiusM: 1001 }));
  assert.equal(
    cacheKey({ ...QUERY }),
    cacheKey({ ...QUERY, latitude: 34.06886 }),
    "within the rounding",
  );
});

Deno.test("CachedPlacesProvider asks upstream for 20 places at the rounded centre and cuts to each bound", async () => {
  const { stub, cache } = setup();
  const five = await cache.nearby(QUERY);
  const two = await cache.nearby({ ...QUERY, maxResults: 2 });
  const twenty = await cache.nearby({ ...QUERY, maxResults: 20 });
  assert.equal(stub.asked.length, 1);
  assert.deepEqual(stub.asked[0], {
    latitude: 34.0689,
    longitude: -118.4451,
    radiusM: 1000,
    maxResults: 20,
  });
  assert.deepEqual(five.results.map((r) => r.place_id), ["p0", "p1", "p2", "p3", "p4"]);
  assert.deepEqual(two.results.map((r) => r.place_id), ["p0", "p1"]);
  assert.equal(twenty.results.length, 20);
  assert.deepEqual(five.html_attributions, ["credit"]);
  assert.equal(five.status, "OK");
  assert.deepEqual(cache.stats(), {
    hits: 2,
    misses: 1,
    coalesced: 0,
    upstreamCalls: 1,
    errors: 0,
    entries: 1,
    upstreamMsAvg: 0,
    upstreamMsMax: 0,
  });
});

Deno.test("CachedPlacesProvider reuses an answer until its TTL ends, then asks again", async () => {
  const { stub, clock, cache } = setup({ ttlS: 60 });
  await cache.nearby(QUERY);
  clock.ms += 59_999;
  await cache.nearby(QUERY);
  assert.equal(stub.asked.length, 1, "fresh at 59.999 s");
  clock.ms += 1;
  await cache.nearby(QUERY);
  assert.equal(stub.asked.length, 2, "expired at 60 s");
  clock.ms += 30_000;
  await cache.nearby(QUERY);
  assert.equal(stub.asked.length, 2, "the new answer has its own TTL");
});

Deno.test("CachedPlacesProvider shares one upstream question among identical concurrent ones", async () => {
  const { stub, cache } = setup();
  const open = Promise.withResolvers<void>();
  stub.gate = open.promise;
  const answers = Promise.all(
    Array.from({ length: 10 }, (_, i) => cache.nearby({ ...QUERY, maxResults: i + 1 })),
  );
  await waitFor(() => cache.stats().misses === 10, 2000, "ten questions in");
  open.resolve();
  const results = await answers;
  assert.equal(stub.asked.length, 1);
  assert.deepEqual(results.map((r) => r.results.length), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(cache.stats().coalesced, 9);
});

Deno.test("CachedPlacesProvider hands a failure to everyone who shared it and never stores it", async () => {
  const { stub, cache } = setup();
  stub.next = () => ({
    html_attributions: [],
    results: [],
    status: "OVER_QUERY_LIMIT",
    error_message: "quota",
  });
  const [a, b] = await Promise.all([cache.nearby(QUERY), cache.nearby(QUERY)]);
  assert.equal(a.status, "OVER_QUERY_LIMIT");
  assert.equal(b.error_message, "quota");
  assert.equal(stub.asked.length, 1);
  await cache.nearby(QUERY);
  assert.equal(stub.asked.length, 2, "the failure was not stored");
  assert.equal(cache.stats().errors, 2);
  assert.equal(cache.stats().entries, 0);
});

Deno.test("CachedPlacesProvider stores ZERO_RESULTS answers", async () => {
  const { stub, cache } = setup();
  stub.next = () => ({ html_attributions: [], results: [], status: "ZERO_RESULTS" });
  await cache.nearby(QUERY);
  const again = await cache.nearby(QUERY);
  assert.equal(again.status, "ZERO_RESULTS");
  assert.equal(stub.asked.length, 1);
});

Deno.test("CachedPlacesProvider drops the least recently used answer past its capacity", async () => {
  const { stub, cache } = setup({ entries: 2 });
  const at = (latitude: number) => ({ ...QUERY, latitude });
  await cache.nearby(at(1));
  await cache.nearby(at(2));
  await cache.nearby(at(1)); // 1 is now more recent than 2
  await cache.nearby(at(3)); // evicts 2
  assert.equal(stub.asked.length, 3);
  await cache.nearby(at(1));
  await cache.nearby(at(3));
  assert.equal(stub.asked.length, 3, "1 and 3 stayed");
  await cache.nearby(at(2));
  assert.equal(stub.asked.length, 4, "2 was dropped");
  assert.equal(cache.stats().entries, 2);
});

Deno.test("CachedPlacesProvider with a TTL or capacity of 0 stores nothing but still coalesces", async (t) => {
  for (const options of [{ ttlS: 0 }, { entries: 0 }]) {
    await t.step(JSON.stringify(options), async () => {
      const { stub, cache } = setup(options);
      await Promise.all([cache.nearby(QUERY), cache.nearby(QUERY)]);
      assert.equal(stub.asked.length, 1);
      await cache.nearby(QUERY);
      assert.equal(stub.asked.length, 2);
      assert.equal(cache.stats().entries, 0);
    });
  }
});

Deno.test("CachedPlacesProvider turns a rejecting provider into UNKNOWN_ERROR", async () => {
  const cache = new CachedPlacesProvider({
    name: "broken",
    nearby: () => Promise.reject(new Error("boom")),
  });
  const answer = await cache.nearby(QUERY);
  assert.deepEqual(answer, {
    html_attributions: [],
    results: [],
    status: "UNKNOWN_ERROR",
    error_message: "Cannot search broken places: boom",
  });
});

Deno.test("CachedPlacesProvider passes a bound outside 1..20 straight through", async () => {
  const { stub, cache } = setup();
  await cache.nearby({ ...QUERY, maxResults: 0 });
  await cache.nearby({ ...QUERY, maxResults: 0 });
  assert.deepEqual(stub.asked.map((q) => q.maxResults), [0, 0]);
  assert.equal(cache.stats().entries, 0);
});

Deno.test("CachedPlacesProvider times upstream questions on its clock", async () => {
  const stub = new Stub();
  const clock = { ms: 0 };
  const cache = new CachedPlacesProvider(stub, { now: () => clock.ms });
  const open = Promise.withResolvers<void>();
  stub.gate = open.promise;
  const pending = cache.nearby(QUERY);
  clock.ms += 250;
  open.resolve();
  await pending;
  stub.gate = Promise.resolve();
  const other = cache.nearby({ ...QUERY, radiusM: 2000 });
  await other;
  assert.equal(cache.stats().upstreamMsMax, 250);
  assert.equal(cache.stats().upstreamMsAvg, 125);
});

Deno.test("CachedPlacesProvider logs places.stats while busy and once more at close()", async () => {
  const stub = new Stub();
  const log = new MemoryLog();
  const cache = new CachedPlacesProvider(stub, { log, statsIntervalMs: 10 });
  try {
    await cache.nearby(QUERY);
    await cache.nearby(QUERY);
    await waitFor(() => log.named("places.stats").length > 0, 2000, "a periodic places.stats");
  } finally {
    await cache.close();
  }
  const stats = log.named("places.stats");
  const last = stats[stats.length - 1];
  assert.equal(stats[0].fields.final, false);
  assert.equal(last.fields.final, true);
  assert.equal(last.fields.provider, "stub");
  assert.equal(last.fields.hits, 1);
  assert.equal(last.fields.misses, 1);
  assert.equal(last.fields.upstreamCalls, 1);
  assert.equal(stats.filter((e) => e.fields.final === false).length, 1, "quiet while idle");
  assert.equal(stub.closed, 1, "close() closes the provider behind");
  await cache.close();
  assert.equal(stub.closed, 1, "close() is idempotent");
});

Deno.test("CachedPlacesProvider.settled() waits for questions in flight", async () => {
  const { stub, cache } = setup();
  const open = Promise.withResolvers<void>();
  stub.gate = open.promise;
  const pending = cache.nearby(QUERY);
  let opened = false;
  const done = cache.settled().then(() => {
    assert.equal(opened, true, "settled() resolved while a question was in flight");
  });
  await waitFor(() => stub.asked.length === 1, 2000, "the question reaches the provider");
  // A later question, not held, goes all the way through the cache and back while the first
  // is still in flight (settled() was asked before it, so it does not wait for this one).
  stub.gate = Promise.resolve();
  const later = await cache.nearby({ ...QUERY, latitude: QUERY.latitude + 1 });
  assert.equal(later.status, "OK");
  opened = true;
  open.resolve();
  await done;
  assert.equal((await pending).status, "OK");
});

Deno.test("CachedPlacesProvider refuses a negative TTL or capacity", () => {
  assert.throws(() => new CachedPlacesProvider(new Stub(), { ttlS: -1 }), { name: "RangeError" });
  assert.throws(() => new CachedPlacesProvider(new Stub(), { entries: Number.NaN }), {
    name: "RangeError",
  });
});

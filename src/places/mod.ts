/**
 * Places: answers "what is near this point" for WHATSAT (PROTOCOL.md section
 * 2). A {@linkcode PlacesProvider} answers Nearby Search questions,
 * {@linkcode createProvider} picks one by name, and
 * {@linkcode formatNearbySearch} turns an answer into the reply's JSON text.
 *
 * @example
 * ```ts
 * import { createProvider, formatNearbySearch } from "./mod.ts";
 *
 * const places = createProvider({ provider: "geonames" });
 * places.warm?.(); // start loading at start-up; never blocks
 * const answer = await places.nearby({
 *   latitude: 34.06893,
 *   longitude: -118.445127,
 *   radiusM: 10_000,
 *   maxResults: 5,
 * });
 * console.log(formatNearbySearch(answer));
 * ```
 *
 * @module
 */

export type {
  LatLng,
  NearbyQuery,
  NearbySearchResponse,
  NearbySearchResult,
  NearbySearchStatus,
  PlacesProvider,
} from "./types.ts";
export { createProvider, type PlacesConfig, PROVIDER_NAMES } from "./create_provider.ts";
export {
  createGeonamesProvider,
  GEONAMES_ATTRIBUTION,
  GEONAMES_MAX_RADIUS_M,
  GEONAMES_MAX_RESULTS,
  type GeonamesProvider,
  type GeonamesProviderOptions,
} from "./geonames.ts";
export { formatNearbySearch } from "./nearby_search_json.ts";

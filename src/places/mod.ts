/**
 * Places: answers "what is near this point" for WHATSAT (PROTOCOL.md section
 * 2). A {@linkcode PlacesProvider} answers Nearby Search questions (the
 * embedded GeoNames data, Google Places API (New), or Google's legacy Nearby
 * Search), {@linkcode createProvider} picks one by name and puts the
 * {@linkcode CachedPlacesProvider} in front of it, and
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
 * await places.close();
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
export {
  createProvider,
  type CreateProviderOptions,
  GOOGLE_API_KEY_ENV,
  PROVIDER_NAMES,
  type ProviderConfig,
} from "./create_provider.ts";
export {
  CachedPlacesProvider,
  cacheKey,
  LOCATION_DECIMALS,
  type PlacesCacheOptions,
  type PlacesCacheStats,
  UPSTREAM_RESULTS,
} from "./cache.ts";
export {
  attributionsOf,
  createGoogleProvider,
  GOOGLE_PLACES_ENDPOINT,
  type GoogleLatLng,
  type GooglePlace,
  type GoogleProviderOptions,
  placeToResult,
  rpcErrorToResponse,
  SEARCH_NEARBY_PATH,
  searchNearbyToResponse,
} from "./google.ts";
export {
  createGoogleLegacyProvider,
  GOOGLE_MAPS_ENDPOINT,
  type GoogleLegacyProviderOptions,
  LEGACY_NEARBY_SEARCH_PATH,
  legacyToResponse,
} from "./google_legacy.ts";
export {
  createGeonamesProvider,
  GEONAMES_ATTRIBUTION,
  GEONAMES_MAX_RADIUS_M,
  GEONAMES_MAX_RESULTS,
  type GeonamesProvider,
  type GeonamesProviderOptions,
} from "./geonames.ts";
export { formatNearbySearch } from "./nearby_search_json.ts";

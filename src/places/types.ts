/**
 * The contract every places provider meets: one "what is near this point"
 * question in, one Google Nearby Search (legacy) shaped answer out.
 *
 * Response shape source: Google Places API, "Nearby Search (Legacy)",
 * https://developers.google.com/maps/documentation/places/web-service/legacy/search-nearby
 *
 * @module
 */

/** A Nearby Search question. */
export interface NearbyQuery {
  /** Latitude of the centre, decimal degrees, -90..90 (WGS 84). */
  latitude: number;
  /** Longitude of the centre, decimal degrees, -180..180 (WGS 84). */
  longitude: number;
  /** Search radius in metres, 0 < radiusM <= 50,000. */
  radiusM: number;
  /** Most results to return, 1..20. */
  maxResults: number;
  /** Aborts the question (a provider then rejects or answers UNKNOWN_ERROR). */
  signal?: AbortSignal;
}

/** `status` values of a Nearby Search response. */
export type NearbySearchStatus =
  | "OK"
  | "ZERO_RESULTS"
  | "INVALID_REQUEST"
  | "OVER_QUERY_LIMIT"
  | "REQUEST_DENIED"
  | "UNKNOWN_ERROR";

/** A latitude/longitude pair as Google's legacy JSON spells it, degrees. */
export interface LatLng {
  lat: number;
  lng: number;
}

/** One place of `results` (the fields herd promises; providers may add more). */
export interface NearbySearchResult {
  name: string;
  place_id: string;
  geometry: { location: LatLng; viewport?: { northeast: LatLng; southwest: LatLng } };
  types: string[];
  vicinity: string;
  [extra: string]: unknown;
}

/** A whole Nearby Search (legacy) response document. */
export interface NearbySearchResponse {
  html_attributions: string[];
  results: NearbySearchResult[];
  status: NearbySearchStatus;
  next_page_token?: string;
  error_message?: string;
}

/**
 * Something that answers Nearby Search questions.
 *
 * `nearby()` must always resolve with a response of the shape above; a failing
 * upstream becomes a non-OK `status` with an `error_message`, never a rejection.
 */
export interface PlacesProvider {
  /** Short name for logs, e.g. `geonames`. */
  readonly name: string;
  /** Answers one question; results sorted by distance, at most `maxResults`. */
  nearby(query: NearbyQuery): Promise<NearbySearchResponse>;
  /** Starts any slow loading in the background; never blocks the caller. */
  warm?(): void;
  /** Resolves once background loading (if any) has settled; for clean shutdown. */
  settled?(): Promise<void>;
}

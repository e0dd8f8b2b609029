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
  /** Latitude, decimal degrees north, -90..90 (WGS 84). */
  lat: number;
  /** Longitude, decimal degrees east, -180..180 (WGS 84). */
  lng: number;
}

/** One place of `results` (the fields herd promises; providers may add more). */
export interface NearbySearchResult {
  /** Human-readable name of the place, e.g. `Los Angeles`. */
  name: string;
  /** Stable id of the place within its provider, e.g. `geonames:5368361`. */
  place_id: string;
  /** Where the place is: its point, and optionally a bounding box for display. */
  geometry: { location: LatLng; viewport?: { northeast: LatLng; southwest: LatLng } };
  /** Google place types, e.g. `["locality", "political"]`. */
  types: string[];
  /** Short address or area, e.g. `CA, United States`. */
  vicinity: string;
  /** Provider-specific extras (e.g. `reference`, `population`), passed through. */
  [extra: string]: unknown;
}

/** A whole Nearby Search (legacy) response document. */
export interface NearbySearchResponse {
  /** HTML credits the data's licence requires to be shown; may be empty. */
  html_attributions: string[];
  /** Places found, nearest first; empty unless `status` is `OK`. */
  results: NearbySearchResult[];
  /** Outcome: `OK`, `ZERO_RESULTS`, or why the search failed. */
  status: NearbySearchStatus;
  /** Token for the next page of results, if the provider has more. */
  next_page_token?: string;
  /** Human-readable cause of a non-OK `status`. */
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
  /**
   * Answers one question with at most `maxResults` results, in the provider's order (GeoNames:
   * nearest first; Google: Google's ranking).
   */
  nearby(query: NearbyQuery): Promise<NearbySearchResponse>;
  /** Starts any slow loading in the background; never blocks the caller. */
  warm?(): void;
  /** Resolves once background loading and questions in flight (if any) have settled. */
  settled?(): Promise<void>;
  /**
   * Releases what the provider holds (timers) and reports its final counters; called once by
   * the owner when no member uses the provider any more (members only await `settled()`).
   */
  close?(): Promise<void>;
}

/**
 * The `google` places provider: Google Places API (New) Nearby Search
 * (`POST /v1/places:searchNearby`), its answer mapped field by field to the
 * legacy Nearby Search shape that WHATSAT replies carry.
 *
 * Sources: Google Maps Platform, "Nearby Search (New)"
 * (https://developers.google.com/maps/documentation/places/web-service/nearby-search),
 * the `Place` resource of Places API (New), "Migrate to Nearby Search (New)", and
 * `google.rpc.Status` errors (https://cloud.google.com/apis/design/errors).
 * The mapping table is in docs/PLACES.md.
 *
 * @module
 */

import { DEFAULT_PLACES } from "../config.ts";
import type { EventLog } from "../log.ts";
import {
  askUpstream,
  endpointUrl,
  failed,
  GOOGLE_MAX_RESULTS,
  googleQueryProblem,
  isObject,
  redact,
  statusOfHttp,
  statusOfRpc,
  upstreamOptions,
} from "./_upstream.ts";
import type {
  LatLng,
  NearbyQuery,
  NearbySearchResponse,
  NearbySearchResult,
  PlacesProvider,
} from "./types.ts";

/** Google's base URL for Places API (New). */
export const GOOGLE_PLACES_ENDPOINT = "https://places.googleapis.com";

/** Path of Nearby Search (New), appended to the endpoint. */
export const SEARCH_NEARBY_PATH = "/v1/places:searchNearby";

/** How error messages name this service. */
const SERVICE = "Google Places API (New)";

/** A point as Places API (New) spells it (`google.type.LatLng`), degrees. */
export interface GoogleLatLng {
  /** Degrees north, -90..90. */
  latitude?: number;
  /** Degrees east, -180..180. */
  longitude?: number;
}

/**
 * The fields of a Places API (New) `Place` this provider reads (the default field mask's), as
 * Google's JSON spells them. Every field is optional: Google sends only the masked ones, and
 * only when known.
 */
export interface GooglePlace {
  /** Place id, e.g. `ChIJN1t_tDeuEmsRUsoyG83frY4`. */
  id?: string;
  /** Localized name: `text` and its BCP-47 `languageCode`. */
  displayName?: { text?: string; languageCode?: string };
  /** Where the place is. */
  location?: GoogleLatLng;
  /** Box for displaying the place: `low` is the south-west corner, `high` the north-east. */
  viewport?: { low?: GoogleLatLng; high?: GoogleLatLng };
  /** Place types, e.g. `["restaurant", "food", "point_of_interest", "establishment"]`. */
  types?: string[];
  /** Short address, e.g. `123 Main St, Springfield`. */
  shortFormattedAddress?: string;
  /** Full address. */
  formattedAddress?: string;
  /** `OPERATIONAL`, `CLOSED_TEMPORARILY` or `CLOSED_PERMANENTLY`. */
  businessStatus?: string;
  /** Open Location Code: `globalCode` (e.g. `849VCWC8+R9`) and `compoundCode`. */
  plusCode?: { globalCode?: string; compoundCode?: string };
  /** Icon URL without its file extension (append `.svg` or `.png`). */
  iconMaskBaseUri?: string;
  /** Icon background colour, `#RRGGBB`. */
  iconBackgroundColor?: string;
  /** Data providers that must be credited: `provider` name and `providerUri`. */
  attributions?: Array<{ provider?: string; providerUri?: string }>;
  /** Average user rating, 1.0..5.0 (Enterprise field; mapped when masked). */
  rating?: number;
  /** Number of user ratings (Enterprise field; mapped when masked). */
  userRatingCount?: number;
  /** `PRICE_LEVEL_FREE` .. `PRICE_LEVEL_VERY_EXPENSIVE` (Enterprise field; mapped when masked). */
  priceLevel?: string;
  /** Current opening hours; only `openNow` is mapped (Enterprise field). */
  currentOpeningHours?: { openNow?: boolean };
}

/** Options of {@linkcode createGoogleProvider}. */
export interface GoogleProviderOptions {
  /** API key with Places API (New) enabled; sent as `X-Goog-Api-Key`, never logged. */
  apiKey: string;
  /**
   * Base URL to call instead of Google's (a proxy, a fake in tests); the path is appended.
   *
   * @default {GOOGLE_PLACES_ENDPOINT}
   */
  endpoint?: string;
  /**
   * Deadline of one question, retry included, ms.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /**
   * Place fields to ask for (`X-Goog-FieldMask`).
   *
   * @default the Pro-tier fields of DEFAULT_PLACES in config.ts
   */
  fieldMask?: readonly string[];
  /** Where each HTTP attempt is logged (`places.upstream`, debug). @default events dropped */
  log?: EventLog;
  /** Uniform random in [0, 1), for the retry's jitter. @default Math.random */
  random?: () => number;
}

/** Legacy `price_level` (0..4) of each Places API (New) `PriceLevel`. */
const PRICE_LEVELS: Readonly<Record<string, number>> = {
  PRICE_LEVEL_FREE: 0,
  PRICE_LEVEL_INEXPENSIVE: 1,
  PRICE_LEVEL_MODERATE: 2,
  PRICE_LEVEL_EXPENSIVE: 3,
  PRICE_LEVEL_VERY_EXPENSIVE: 4,
};

function latLng(point: GoogleLatLng | undefined): LatLng | undefined {
  if (typeof point?.latitude !== "number" || typeof point.longitude !== "number") return undefined;
  return { lat: point.latitude, lng: point.longitude };
}

/**
 * Maps one Places API (New) `Place` to a legacy Nearby Search result (table in docs/PLACES.md).
 * Keys come out in the alphabetical order Google's legacy JSON uses; fields the place lacks are
 * left out, except the ones every WHATSAT result carries (`name`, `types`, `vicinity`, which
 * default to `""`, `[]` and the full address or `""`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { placeToResult } from "./google.ts";
 *
 * const result = placeToResult({
 *   id: "ChIJ123",
 *   displayName: { text: "Royce Hall", languageCode: "en" },
 *   location: { latitude: 34.0729, longitude: -118.4422 },
 *   shortFormattedAddress: "340 Royce Dr, Los Angeles",
 * });
 * assert.equal(result?.name, "Royce Hall");
 * assert.equal(result?.place_id, "ChIJ123");
 * assert.deepEqual(result?.geometry.location, { lat: 34.0729, lng: -118.4422 });
 * ```
 *
 * @param place A `Place` from a `searchNearby` answer.
 * @returns The legacy result, or undefined if the place has no `id` or no `location`.
 */
export function placeToResult(place: GooglePlace): NearbySearchResult | undefined {
  const location = latLng(place.location);
  if (typeof place.id !== "string" || location === undefined) return undefined;
  const northeast = latLng(place.viewport?.high);
  const southwest = latLng(place.viewport?.low);
  const plusCode = place.plusCode;
  const openNow = place.currentOpeningHours?.openNow;
  const priceLevel = place.priceLevel === undefined ? undefined : PRICE_LEVELS[place.priceLevel];
  return {
    business_status: place.businessStatus,
    formatted_address: place.formattedAddress,
    geometry: northeast !== undefined && southwest !== undefined
      ? { location, viewport: { northeast, southwest } }
      : { location },
    icon_background_color: place.iconBackgroundColor,
    icon_mask_base_uri: place.iconMaskBaseUri,
    name: place.displayName?.text ?? "",
    opening_hours: typeof openNow === "boolean" ? { open_now: openNow } : undefined,
    place_id: place.id,
    plus_code: plusCode?.globalCode === undefined ? undefined : {
      compound_code: plusCode.compoundCode,
      global_code: plusCode.globalCode,
    },
    price_level: priceLevel,
    rating: place.rating,
    reference: place.id,
    types: Array.isArray(place.types) ? place.types : [],
    user_ratings_total: place.userRatingCount,
    vicinity: place.shortFormattedAddress ?? place.formattedAddress ?? "",
  };
}

/** Escapes text for an HTML attribute or element (the five XML specials). */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The legacy `html_attributions` for places' `attributions`: one
 * `<a href="providerUri">provider</a>` (or the bare name without a URI) per distinct provider, in
 * order of first appearance, HTML-escaped.
 *
 * @param places Places of one answer.
 * @returns The HTML credits, possibly empty.
 */
export function attributionsOf(places: readonly GooglePlace[]): string[] {
  const credits = new Set<string>();
  for (const place of places) {
    for (const { provider, providerUri } of place.attributions ?? []) {
      if (typeof provider !== "string" || provider === "") continue;
      const name = escapeHtml(provider);
      credits.add(
        typeof providerUri === "string" && /^https?:\/\//.test(providerUri)
          ? `<a href="${escapeHtml(providerUri)}">${name}</a>`
          : name,
      );
    }
  }
  return [...credits];
}

/**
 * Maps a successful `searchNearby` body (`{"places": [...]}`, or `{}` when nothing is near) to a
 * legacy Nearby Search response: `OK` with at most `maxResults` results, or `ZERO_RESULTS`.
 *
 * @param body The parsed JSON of an HTTP 200 answer.
 * @param maxResults Most results to keep, 1..20.
 * @returns The response; `UNKNOWN_ERROR` if the body is not a `SearchNearbyResponse`.
 */
export function searchNearbyToResponse(body: unknown, maxResults: number): NearbySearchResponse {
  if (!isObject(body) || (body.places !== undefined && !Array.isArray(body.places))) {
    return failed("UNKNOWN_ERROR", `${SERVICE}: the answer is not a SearchNearbyResponse`);
  }
  const places = ((body.places ?? []) as unknown[]).filter(isObject).slice(
    0,
    maxResults,
  ) as GooglePlace[];
  const results: NearbySearchResult[] = [];
  for (const place of places) {
    const result = placeToResult(place);
    if (result !== undefined) results.push(result);
  }
  return {
    html_attributions: attributionsOf(places),
    results,
    status: results.length === 0 ? "ZERO_RESULTS" : "OK",
  };
}

/**
 * The failure a non-200 answer stands for: its `google.rpc.Status` (`{"error": {"code",
 * "message", "status"}}`) when the body is one, else its HTTP status.
 *
 * @param httpStatus HTTP status code of the answer.
 * @param body Parsed JSON body, if any.
 * @param secret The API key, cut from Google's message.
 * @returns A failure response whose `error_message` names the HTTP and RPC status.
 */
export function rpcErrorToResponse(
  httpStatus: number,
  body: unknown,
  secret: string,
): NearbySearchResponse {
  const error = isObject(body) && isObject(body.error) ? body.error : undefined;
  const rpcStatus = typeof error?.status === "string" ? error.status : undefined;
  const message = typeof error?.message === "string" ? error.message : undefined;
  const status = error === undefined
    ? statusOfHttp(httpStatus)
    : statusOfRpc(rpcStatus, httpStatus);
  const detail = [`HTTP ${httpStatus}`, rpcStatus].filter((part) => part !== undefined).join(" ");
  const why = message === undefined ? "" : `: ${redact(message.split("\n")[0], secret)}`;
  return failed(status, `${SERVICE} answered ${detail}${why}`);
}

/**
 * Creates the `google` provider: each question is one `POST {endpoint}/v1/places:searchNearby`
 * with `Content-Type: application/json`, `X-Goog-Api-Key` and `X-Goog-FieldMask`, and a body of
 * `locationRestriction.circle` (centre, radius in metres) and `maxResultCount`. The answer is
 * mapped by {@linkcode searchNearbyToResponse}; HTTP errors by {@linkcode rpcErrorToResponse};
 * a timeout, a network error or a body that is not JSON becomes `UNKNOWN_ERROR`. One retry for
 * network errors and 5xx, within `timeoutMs` overall. `nearby()` never rejects, and no reply,
 * message or log line contains the key.
 *
 * @example
 * ```ts ignore
 * import { createGoogleProvider } from "./google.ts";
 *
 * const places = createGoogleProvider({ apiKey: Deno.env.get("GOOGLE_PLACES_API_KEY")! });
 * const answer = await places.nearby({
 *   latitude: 34.06893,
 *   longitude: -118.445127,
 *   radiusM: 1000,
 *   maxResults: 5,
 * });
 * console.log(answer.status, answer.results.map((place) => place.name));
 * ```
 *
 * @param options Key, endpoint, deadline, field mask, log.
 * @returns The provider (`name` is `google`).
 * @throws {TypeError} If `apiKey` is empty or `endpoint` is not an http(s) URL.
 */
export function createGoogleProvider(options: GoogleProviderOptions): PlacesProvider {
  const { apiKey } = options;
  if (apiKey === "") throw new TypeError("Cannot create the google provider: the API key is empty");
  const url = endpointUrl(options.endpoint ?? GOOGLE_PLACES_ENDPOINT, SEARCH_NEARBY_PATH);
  const upstream = upstreamOptions("google", SERVICE, options);
  const headers = {
    "Content-Type": "application/json",
    "X-Goog-Api-Key": apiKey,
    "X-Goog-FieldMask": (options.fieldMask ?? DEFAULT_PLACES.fieldMask).join(","),
  };
  return {
    name: "google",
    async nearby(query: NearbyQuery): Promise<NearbySearchResponse> {
      const problem = googleQueryProblem(query);
      if (problem !== undefined) return failed("INVALID_REQUEST", `${SERVICE}: ${problem}`);
      const maxResultCount = Math.min(query.maxResults, GOOGLE_MAX_RESULTS);
      const body = JSON.stringify({
        locationRestriction: {
          circle: {
            center: { latitude: query.latitude, longitude: query.longitude },
            radius: query.radiusM,
          },
        },
        maxResultCount,
      });
      const result = await askUpstream(
        url,
        { method: "POST", headers, body },
        upstream,
        query.signal,
      );
      if (!result.answered) return result.response;
      if (result.httpStatus !== 200) {
        return rpcErrorToResponse(result.httpStatus, result.body, apiKey);
      }
      if (result.body === undefined) {
        return failed("UNKNOWN_ERROR", `${SERVICE}: the answer is not JSON`);
      }
      return searchNearbyToResponse(result.body, maxResultCount);
    },
  };
}

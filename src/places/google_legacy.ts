/**
 * The `google-legacy` places provider: Google's legacy Nearby Search
 * (`GET /maps/api/place/nearbysearch/json`), whose JSON is already the shape
 * WHATSAT replies carry, relayed with `results` cut to the bound. New Google
 * Cloud projects can no longer enable this API; projects that had it still
 * can use it.
 *
 * Source: Google Maps Platform, "Nearby Search (Legacy)",
 * https://developers.google.com/maps/documentation/places/web-service/legacy/search-nearby
 *
 * @module
 */

import type { EventLog } from "../log.ts";
import {
  askUpstream,
  endpointUrl,
  failed,
  googleQueryProblem,
  isObject,
  redact,
  statusOfHttp,
  upstreamOptions,
} from "./_upstream.ts";
import type {
  NearbyQuery,
  NearbySearchResponse,
  NearbySearchResult,
  NearbySearchStatus,
  PlacesProvider,
} from "./types.ts";

/** Google's base URL for the legacy Places web service. */
export const GOOGLE_MAPS_ENDPOINT = "https://maps.googleapis.com";

/** Path of the legacy Nearby Search (JSON output), appended to the endpoint. */
export const LEGACY_NEARBY_SEARCH_PATH = "/maps/api/place/nearbysearch/json";

/** How error messages name this service. */
const SERVICE = "Google Places API (legacy)";

/** Statuses the legacy API documents, as this provider relays them. */
const LEGACY_STATUSES: readonly NearbySearchStatus[] = [
  "OK",
  "ZERO_RESULTS",
  "INVALID_REQUEST",
  "OVER_QUERY_LIMIT",
  "REQUEST_DENIED",
  "UNKNOWN_ERROR",
];

/** Options of {@linkcode createGoogleLegacyProvider}. */
export interface GoogleLegacyProviderOptions {
  /** API key with the (legacy) Places API enabled; sent as the `key` parameter, never logged. */
  apiKey: string;
  /**
   * Base URL to call instead of Google's (a proxy, a fake in tests); the path is appended.
   *
   * @default {GOOGLE_MAPS_ENDPOINT}
   */
  endpoint?: string;
  /**
   * Deadline of one question, retry included, ms.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /** Where each HTTP attempt is logged (`places.upstream`, debug; key redacted). @default dropped */
  log?: EventLog;
  /** Uniform random in [0, 1), for the retry's jitter. @default Math.random */
  random?: () => number;
}

/**
 * Relays an HTTP 200 legacy Nearby Search body: `status` as Google gave it, `results` cut to
 * `maxResults`, `html_attributions`, and `error_message` (key cut out) when Google sent one.
 * `next_page_token` is dropped: it needs the key to use and would skip the places the cut
 * left out. A status the legacy API does not document becomes `UNKNOWN_ERROR`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { legacyToResponse } from "./google_legacy.ts";
 *
 * const answer = legacyToResponse(
 *   { html_attributions: [], results: [], status: "REQUEST_DENIED", error_message: "Bad key" },
 *   5,
 *   "",
 * );
 * assert.equal(answer.status, "REQUEST_DENIED");
 * assert.equal(answer.error_message, "Google Places API (legacy): Bad key");
 * ```
 *
 * @param body The parsed JSON.
 * @param maxResults Most results to keep, 1..20.
 * @param secret The API key, cut from Google's `error_message`.
 * @returns The response to reply with.
 */
export function legacyToResponse(
  body: unknown,
  maxResults: number,
  secret: string,
): NearbySearchResponse {
  if (!isObject(body) || typeof body.status !== "string") {
    return failed("UNKNOWN_ERROR", `${SERVICE}: the answer is not a Nearby Search response`);
  }
  const googleMessage = typeof body.error_message === "string"
    ? redact(body.error_message.split("\n")[0], secret)
    : undefined;
  const status = LEGACY_STATUSES.find((s) => s === body.status);
  if (status === undefined) {
    const why = googleMessage === undefined ? "" : `: ${googleMessage}`;
    return failed("UNKNOWN_ERROR", `${SERVICE} answered status ${body.status}${why}`);
  }
  if (status !== "OK" && status !== "ZERO_RESULTS") {
    return failed(status, `${SERVICE}: ${googleMessage ?? `status ${status}`}`);
  }
  const results = Array.isArray(body.results)
    ? (body.results.filter(isObject).slice(0, maxResults) as NearbySearchResult[])
    : [];
  const credits = Array.isArray(body.html_attributions)
    ? body.html_attributions.filter((c): c is string => typeof c === "string")
    : [];
  return {
    html_attributions: credits,
    results,
    status: results.length === 0 ? "ZERO_RESULTS" : "OK",
  };
}

/**
 * Creates the `google-legacy` provider: each question is one
 * `GET {endpoint}/maps/api/place/nearbysearch/json?location=<lat>,<lng>&radius=<m>&key=<key>`,
 * its JSON relayed by {@linkcode legacyToResponse}. A non-200 answer becomes a failure by its
 * HTTP status; a timeout, a network error or a body that is not JSON becomes `UNKNOWN_ERROR`.
 * One retry for network errors and 5xx, within `timeoutMs` overall. `nearby()` never rejects.
 * The key travels in the URL (the legacy API allows no header), so every logged URL and every
 * message has it replaced by `<redacted>`.
 *
 * @example
 * ```ts ignore
 * import { createGoogleLegacyProvider } from "./google_legacy.ts";
 *
 * const places = createGoogleLegacyProvider({ apiKey: Deno.env.get("GOOGLE_PLACES_API_KEY")! });
 * const answer = await places.nearby({
 *   latitude: 34.06893,
 *   longitude: -118.445127,
 *   radiusM: 1000,
 *   maxResults: 5,
 * });
 * console.log(answer.status, answer.results.map((place) => place.name));
 * ```
 *
 * @param options Key, endpoint, deadline, log.
 * @returns The provider (`name` is `google-legacy`).
 * @throws {TypeError} If `apiKey` is empty or `endpoint` is not an http(s) URL.
 */
export function createGoogleLegacyProvider(options: GoogleLegacyProviderOptions): PlacesProvider {
  const { apiKey } = options;
  if (apiKey === "") {
    throw new TypeError("Cannot create the google-legacy provider: the API key is empty");
  }
  const base = endpointUrl(options.endpoint ?? GOOGLE_MAPS_ENDPOINT, LEGACY_NEARBY_SEARCH_PATH);
  const upstream = upstreamOptions("google-legacy", SERVICE, options);
  return {
    name: "google-legacy",
    async nearby(query: NearbyQuery): Promise<NearbySearchResponse> {
      const problem = googleQueryProblem(query);
      if (problem !== undefined) return failed("INVALID_REQUEST", `${SERVICE}: ${problem}`);
      const url = new URL(base);
      url.searchParams.set("location", `${query.latitude},${query.longitude}`);
      url.searchParams.set("radius", String(query.radiusM));
      url.searchParams.set("key", apiKey);
      const result = await askUpstream(url, { method: "GET" }, upstream, query.signal);
      if (!result.answered) return result.response;
      const googleMessage = isObject(result.body) && typeof result.body.error_message === "string"
        ? `: ${redact(result.body.error_message.split("\n")[0], apiKey)}`
        : "";
      if (result.httpStatus !== 200) {
        return failed(
          statusOfHttp(result.httpStatus),
          `${SERVICE} answered HTTP ${result.httpStatus}${googleMessage}`,
        );
      }
      return legacyToResponse(result.body, query.maxResults, apiKey);
    },
  };
}

/**
 * The JSON text of a WHATSAT reply (PROTOCOL.md section 2).
 *
 * @module
 */

import type { NearbySearchResponse } from "./types.ts";

/** Indentation of the reply JSON, spaces (PROTOCOL.md section 2). */
const INDENT = 3;

/**
 * Formats a Nearby Search response as the JSON document of a WHATSAT reply:
 * `JSON.stringify` with a 3-space indent, keys `html_attributions`, `results`,
 * `status`, then `next_page_token` and `error_message` when present, no
 * trailing newline.
 *
 * The text never holds two adjacent newlines, which matters because the reply
 * ends at a blank line: JSON escapes a newline inside a string as `\n`, so the
 * only raw newlines are the ones the indentation puts between tokens, and each
 * of those is followed by indentation and a token. Results keep their own key
 * order; properties whose value is `undefined` are left out, as JSON.stringify
 * always does.
 *
 * Format source: PROTOCOL.md section 2; response shape: Google Places API,
 * "Nearby Search (Legacy)".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatNearbySearch } from "./nearby_search_json.ts";
 *
 * const text = formatNearbySearch({ html_attributions: [], results: [], status: "ZERO_RESULTS" });
 * assert.equal(text, '{\n   "html_attributions": [],\n   "results": [],\n   "status": "ZERO_RESULTS"\n}');
 * ```
 *
 * @param response The response to format.
 * @returns The JSON text, 3-space indented, without a trailing newline.
 * @throws {TypeError} If the response cannot be JSON (a cycle or a BigInt in a result).
 */
export function formatNearbySearch(response: NearbySearchResponse): string {
  // Built key by key so the output order does not depend on how the caller built it.
  const ordered: NearbySearchResponse = {
    html_attributions: response.html_attributions,
    results: response.results,
    status: response.status,
  };
  if (response.next_page_token !== undefined) ordered.next_page_token = response.next_page_token;
  if (response.error_message !== undefined) ordered.error_message = response.error_message;
  return JSON.stringify(ordered, null, INDENT);
}

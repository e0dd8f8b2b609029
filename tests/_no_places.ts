/**
 * A places provider for tests that never ask WHATSAT: it loads nothing, so a
 * member that warms it at start and waits for it at stop costs no GeoNames
 * load (about half a second of CPU per test file, a lot for a parallel run).
 *
 * @module
 */

import type { PlacesProvider } from "../src/places/types.ts";

/** A provider that answers every question with `ZERO_RESULTS`, at once. */
export function noPlaces(): PlacesProvider {
  return {
    name: "none",
    nearby: () => Promise.resolve({ html_attributions: [], results: [], status: "ZERO_RESULTS" }),
  };
}

/**
 * Chooses a places provider by the name a configuration gives.
 *
 * @module
 */

import { createGeonamesProvider } from "./geonames.ts";
import type { PlacesProvider } from "./types.ts";

/** Settings that choose a places provider. */
export interface PlacesConfig {
  /** Provider name; `geonames` is the only one so far. */
  provider: string;
}

/** Provider names {@linkcode createProvider} accepts, each with its factory. */
const PROVIDERS: Readonly<Record<string, () => PlacesProvider>> = {
  geonames: createGeonamesProvider,
};

/** The names {@linkcode createProvider} accepts, in the order error messages list them. */
export const PROVIDER_NAMES: readonly string[] = Object.keys(PROVIDERS);

/**
 * Creates the places provider a configuration names.
 *
 * @example
 * ```ts
 * import { createProvider } from "./create_provider.ts";
 *
 * const places = createProvider({ provider: "geonames" });
 * console.log(places.name); // "geonames"
 * ```
 *
 * @param config `provider` names the provider, e.g. `geonames`.
 * @returns A new provider (GeoNames providers share one data load).
 * @throws {RangeError} If no provider has that name.
 */
export function createProvider(config: PlacesConfig): PlacesProvider {
  const factory = Object.hasOwn(PROVIDERS, config.provider)
    ? PROVIDERS[config.provider]
    : undefined;
  if (factory === undefined) {
    throw new RangeError(
      `Cannot create places provider: unknown provider ${config.provider}; valid: ${
        PROVIDER_NAMES.join(", ")
      }`,
    );
  }
  return factory();
}

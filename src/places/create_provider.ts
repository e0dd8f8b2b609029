/**
 * Chooses a places provider by the name a configuration gives, and puts the
 * cache in front of it.
 *
 * @module
 */

import { DEFAULT_PLACES, type PlacesConfig } from "../config.ts";
import type { EventLog } from "../log.ts";
import { CachedPlacesProvider } from "./cache.ts";
import { createGeonamesProvider } from "./geonames.ts";
import { createGoogleProvider } from "./google.ts";
import { createGoogleLegacyProvider } from "./google_legacy.ts";
import type { PlacesProvider } from "./types.ts";

/** The environment variable the Google providers' API key comes from (never a config key). */
export const GOOGLE_API_KEY_ENV = "GOOGLE_PLACES_API_KEY";

/**
 * What {@linkcode createProvider} reads: a `[places]` table (see `PlacesConfig` in config.ts);
 * every key but `provider` may be left out for its default.
 */
export type ProviderConfig = { provider: string } & Partial<Omit<PlacesConfig, "provider">>;

/** Options of {@linkcode createProvider}: what does not come from herd.toml. */
export interface CreateProviderOptions {
  /** The Google API key (from {@linkcode GOOGLE_API_KEY_ENV}); required by `google*` providers. */
  apiKey?: string;
  /** Where `places.stats` and `places.upstream` events go. @default events dropped */
  log?: EventLog;
  /** Monotonic clock for the cache, ms. @default performance.now */
  now?: () => number;
  /** Uniform random in [0, 1) for the retry's jitter. @default Math.random */
  random?: () => number;
  /** How often the cache logs `places.stats` while busy, ms. @default {60000} */
  statsIntervalMs?: number;
}

type Factory = (config: ProviderConfig, options: CreateProviderOptions) => PlacesProvider;

/** The API key a `google*` provider needs, or a one-line error saying where it comes from. */
function requireKey(provider: string, options: CreateProviderOptions): string {
  const key = options.apiKey ?? "";
  if (key === "") {
    throw new Error(
      `Cannot create places provider ${provider}: no API key; set ${GOOGLE_API_KEY_ENV} ` +
        `in the environment (or use provider = "geonames")`,
    );
  }
  return key;
}

/** Provider names {@linkcode createProvider} accepts, each with its factory. */
const PROVIDERS: Readonly<Record<string, Factory>> = {
  geonames: () => createGeonamesProvider(),
  google: (config, options) =>
    createGoogleProvider({
      apiKey: requireKey("google", options),
      endpoint: config.endpoint,
      timeoutMs: config.timeoutMs,
      fieldMask: config.fieldMask,
      log: options.log,
      random: options.random,
    }),
  "google-legacy": (config, options) =>
    createGoogleLegacyProvider({
      apiKey: requireKey("google-legacy", options),
      endpoint: config.endpoint,
      timeoutMs: config.timeoutMs,
      log: options.log,
      random: options.random,
    }),
};

/** The names {@linkcode createProvider} accepts, in the order error messages list them. */
export const PROVIDER_NAMES: readonly string[] = Object.keys(PROVIDERS);

/**
 * Creates the places provider a configuration names, behind a {@linkcode CachedPlacesProvider}
 * (TTL `cacheTtlS`, capacity `cacheEntries`). Call `close()` when done: it stops the stats timer
 * and logs the final counters.
 *
 * @example
 * ```ts
 * import { createProvider } from "./create_provider.ts";
 *
 * const places = createProvider({ provider: "geonames" });
 * console.log(places.name); // "geonames"
 * await places.close();
 * ```
 *
 * @param config `provider` names the provider (`geonames`, `google`, `google-legacy`); the other
 * `[places]` keys tune it and the cache.
 * @param options The API key, the log, and clocks for tests.
 * @returns A new cached provider (GeoNames providers share one data load).
 * @throws {RangeError} If no provider has that name.
 * @throws {Error} If a `google*` provider has no API key (the message names
 * {@linkcode GOOGLE_API_KEY_ENV}).
 * @throws {TypeError} If `endpoint` is not an http(s) URL.
 */
export function createProvider(
  config: ProviderConfig,
  options: CreateProviderOptions = {},
): CachedPlacesProvider {
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
  return new CachedPlacesProvider(factory(config, options), {
    ttlS: config.cacheTtlS ?? DEFAULT_PLACES.cacheTtlS,
    entries: config.cacheEntries ?? DEFAULT_PLACES.cacheEntries,
    now: options.now,
    log: options.log,
    statsIntervalMs: options.statsIntervalMs,
  });
}

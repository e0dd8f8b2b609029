/**
 * The cache in front of every places provider: an in-memory LRU with a TTL,
 * keyed by the location rounded to {@linkcode LOCATION_DECIMALS} decimals and
 * the radius. One upstream question (always for
 * {@linkcode UPSTREAM_RESULTS} places) serves every bound, and identical
 * questions asked while one is in flight share it (coalescing). Counters go to
 * the log as `places.stats`.
 *
 * Google's terms (Google Maps Platform Service Specific Terms, Places API):
 * only place ids may be kept indefinitely; latitude/longitude values at most
 * 30 consecutive days. The TTL is short by default (60 s) and configuration
 * caps it at 30 days; nothing is written to disk.
 *
 * @module
 */

import type { EventLog } from "../log.ts";
import type { NearbyQuery, NearbySearchResponse, PlacesProvider } from "./types.ts";

/**
 * Decimals a location is rounded to before it becomes a cache key and goes upstream: 4 decimals
 * of a degree are at most 5.6 m of latitude (and less of longitude), well under what a Nearby
 * Search radius distinguishes, so clients a few metres apart share one answer.
 */
export const LOCATION_DECIMALS = 4;

/** Places asked of the upstream per question, whatever the bound: Google's page size. */
export const UPSTREAM_RESULTS = 20;

/** Counters of a {@linkcode CachedPlacesProvider}, cumulative since it was created. */
export interface PlacesCacheStats {
  /** Questions answered from a stored answer. */
  hits: number;
  /** Questions with no fresh stored answer (each either asked upstream or joined a question). */
  misses: number;
  /** Misses that joined an identical question already in flight instead of asking again. */
  coalesced: number;
  /** Questions sent to the provider behind the cache. */
  upstreamCalls: number;
  /** Upstream answers that were failures (any status but `OK` / `ZERO_RESULTS`); never stored. */
  errors: number;
  /** Answers stored now. */
  entries: number;
  /** Mean time of an upstream question, ms (0 before the first). */
  upstreamMsAvg: number;
  /** Longest upstream question, ms. */
  upstreamMsMax: number;
}

/** Options of {@linkcode CachedPlacesProvider}. */
export interface PlacesCacheOptions {
  /**
   * How long a stored answer is reused, seconds; 0 stores nothing (coalescing still applies).
   *
   * @default {60}
   */
  ttlS?: number;
  /**
   * Most answers stored; past it the least recently used goes. 0 stores nothing.
   *
   * @default {10000}
   */
  entries?: number;
  /** Monotonic clock, ms: TTLs and upstream latency. @default performance.now */
  now?: () => number;
  /** Where `places.stats` goes. @default events dropped */
  log?: EventLog;
  /**
   * How often `places.stats` is logged while questions arrive, ms (and once at `close()`).
   *
   * @default {60000}
   */
  statsIntervalMs?: number;
}

interface Entry {
  /** The whole upstream answer (up to {@linkcode UPSTREAM_RESULTS} places). */
  response: NearbySearchResponse;
  /** When it stops being fresh, on the `now` clock, ms. */
  expiresAt: number;
}

/**
 * The key of a question: latitude and longitude rounded to {@linkcode LOCATION_DECIMALS}
 * decimals, and the radius in metres as given (the bound is not part of it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cacheKey } from "./cache.ts";
 *
 * const key = cacheKey({ latitude: 34.068930, longitude: -118.445127, radiusM: 10000 });
 * assert.equal(key, "34.0689,-118.4451,10000");
 * ```
 *
 * @param query The question (its `maxResults` and `signal` are ignored).
 * @returns A string key.
 */
export function cacheKey(query: Pick<NearbyQuery, "latitude" | "longitude" | "radiusM">): string {
  const { latitude, longitude } = roundedCentre(query);
  return `${latitude.toFixed(LOCATION_DECIMALS)},${
    longitude.toFixed(LOCATION_DECIMALS)
  },${query.radiusM}`;
}

function roundedCentre(query: Pick<NearbyQuery, "latitude" | "longitude">) {
  const scale = 10 ** LOCATION_DECIMALS;
  // `+ 0` turns -0 into 0, so the keys of -0.00001 and 0.00001 agree.
  return {
    latitude: Math.round(query.latitude * scale) / scale + 0,
    longitude: Math.round(query.longitude * scale) / scale + 0,
  };
}

/** A copy of `response` with at most `maxResults` results. */
function cut(response: NearbySearchResponse, maxResults: number): NearbySearchResponse {
  return response.results.length <= maxResults
    ? { ...response }
    : { ...response, results: response.results.slice(0, maxResults) };
}

function isStorable(response: NearbySearchResponse): boolean {
  return response.status === "OK" || response.status === "ZERO_RESULTS";
}

/**
 * A {@linkcode PlacesProvider} that puts an LRU + TTL cache and request coalescing in front of
 * another. Every question goes upstream with the centre rounded to
 * {@linkcode LOCATION_DECIMALS} decimals and `maxResults` = {@linkcode UPSTREAM_RESULTS}; each
 * caller gets the answer cut to its own bound. Only `OK` and `ZERO_RESULTS` answers are stored;
 * a failure is handed to the callers that shared it and forgotten. A question with a
 * `maxResults` outside 1..20 bypasses the cache (the provider behind answers it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CachedPlacesProvider } from "./cache.ts";
 *
 * let calls = 0;
 * const places = new CachedPlacesProvider({
 *   name: "counting",
 *   nearby: () => {
 *     calls++;
 *     return Promise.resolve({ html_attributions: [], results: [], status: "ZERO_RESULTS" });
 *   },
 * });
 * const query = { latitude: 34.0689, longitude: -118.4451, radiusM: 1000, maxResults: 5 };
 * await Promise.all([places.nearby(query), places.nearby(query)]);
 * await places.nearby({ ...query, maxResults: 1 });
 * assert.equal(calls, 1);
 * await places.close();
 * ```
 */
export class CachedPlacesProvider implements PlacesProvider {
  /** The name of the provider behind the cache, e.g. `google`. */
  readonly name: string;
  readonly #inner: PlacesProvider;
  readonly #ttlMs: number;
  readonly #capacity: number;
  readonly #now: () => number;
  readonly #log: EventLog | undefined;
  readonly #statsIntervalMs: number;
  /** Stored answers, least recently used first (a Map keeps insertion order). */
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Promise<NearbySearchResponse>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #lookupsAtLastStats = 0;
  #hits = 0;
  #misses = 0;
  #coalesced = 0;
  #upstreamCalls = 0;
  #errors = 0;
  #upstreamMsTotal = 0;
  #upstreamMsMax = 0;

  /**
   * Wraps `inner`; nothing is asked and no timer runs until the first question or `warm()`.
   *
   * @param inner The provider that answers misses.
   * @param options TTL, capacity, clock, log.
   * @throws {RangeError} If `ttlS` or `entries` is negative or not a number.
   */
  constructor(inner: PlacesProvider, options: PlacesCacheOptions = {}) {
    const ttlS = options.ttlS ?? 60;
    const entries = options.entries ?? 10_000;
    if (!(ttlS >= 0) || !(entries >= 0)) {
      throw new RangeError(
        `Cannot create places cache: ttlS and entries must be >= 0, got ${ttlS} and ${entries}`,
      );
    }
    this.name = inner.name;
    this.#inner = inner;
    this.#ttlMs = ttlS * 1000;
    this.#capacity = this.#ttlMs === 0 ? 0 : Math.floor(entries);
    this.#now = options.now ?? (() => performance.now());
    this.#log = options.log;
    this.#statsIntervalMs = options.statsIntervalMs ?? 60_000;
  }

  /**
   * Answers from a fresh stored answer, or joins an identical question in flight, or asks the
   * provider behind; never rejects (a rejection of that provider becomes `UNKNOWN_ERROR`).
   *
   * @param query The question; `signal` is not passed on (the upstream call may be shared).
   * @returns The answer with at most `query.maxResults` results.
   */
  async nearby(query: NearbyQuery): Promise<NearbySearchResponse> {
    this.#startStats();
    const { maxResults } = query;
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > UPSTREAM_RESULTS) {
      return await this.#ask(query);
    }
    const key = cacheKey(query);
    const stored = this.#entries.get(key);
    if (stored !== undefined) {
      this.#entries.delete(key);
      if (stored.expiresAt > this.#now()) {
        this.#entries.set(key, stored); // now the most recently used
        this.#hits++;
        return cut(stored.response, maxResults);
      }
    }
    this.#misses++;
    let pending = this.#inFlight.get(key);
    if (pending === undefined) {
      pending = this.#fetch(key, query);
    } else {
      this.#coalesced++;
    }
    return cut(await pending, maxResults);
  }

  /** Starts the provider behind's slow loading (if any); never blocks. */
  warm(): void {
    this.#startStats();
    this.#inner.warm?.();
  }

  /**
   * Resolves once the provider behind has settled its loading and no upstream question is in
   * flight, so nothing of the cache outlives a stopped member.
   *
   * @returns A promise that never rejects.
   */
  async settled(): Promise<void> {
    await Promise.all([this.#inner.settled?.(), ...this.#inFlight.values()]);
  }

  /**
   * Stops the stats timer, logs the final `places.stats`, waits for questions in flight and
   * closes the provider behind. Idempotent; questions asked afterwards are still answered.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.settled();
    this.#logStats(true);
    await this.#inner.close?.();
  }

  /**
   * The counters so far.
   *
   * @returns A snapshot (a new object each call).
   */
  stats(): PlacesCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      coalesced: this.#coalesced,
      upstreamCalls: this.#upstreamCalls,
      errors: this.#errors,
      entries: this.#entries.size,
      upstreamMsAvg: this.#upstreamCalls === 0
        ? 0
        : Math.round(this.#upstreamMsTotal / this.#upstreamCalls * 10) / 10,
      upstreamMsMax: Math.round(this.#upstreamMsMax * 10) / 10,
    };
  }

  /** Asks upstream for `key` and stores a good answer; one promise shared by every joiner. */
  #fetch(key: string, query: NearbyQuery): Promise<NearbySearchResponse> {
    const pending = this.#ask({
      ...roundedCentre(query),
      radiusM: query.radiusM,
      maxResults: UPSTREAM_RESULTS,
    }).then((response) => {
      this.#inFlight.delete(key);
      if (isStorable(response) && this.#capacity > 0) {
        this.#entries.set(key, { response, expiresAt: this.#now() + this.#ttlMs });
        for (const oldest of this.#entries.keys()) {
          if (this.#entries.size <= this.#capacity) break;
          this.#entries.delete(oldest);
        }
      }
      return response;
    });
    this.#inFlight.set(key, pending);
    return pending;
  }

  /** One upstream question, timed and counted; a rejection becomes `UNKNOWN_ERROR`. */
  async #ask(query: NearbyQuery): Promise<NearbySearchResponse> {
    this.#upstreamCalls++;
    const started = this.#now();
    let response: NearbySearchResponse;
    try {
      response = await this.#inner.nearby(query);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      response = {
        html_attributions: [],
        results: [],
        status: "UNKNOWN_ERROR",
        error_message: `Cannot search ${this.name} places: ${message}`,
      };
    }
    const ms = this.#now() - started;
    this.#upstreamMsTotal += ms;
    this.#upstreamMsMax = Math.max(this.#upstreamMsMax, ms);
    if (!isStorable(response)) this.#errors++;
    return response;
  }

  #startStats(): void {
    if (this.#timer !== undefined || this.#closed || this.#log === undefined) return;
    const timer = setInterval(() => this.#logStats(false), this.#statsIntervalMs);
    // The timer reports; it must never be what keeps a process alive.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #logStats(final: boolean): void {
    const lookups = this.#hits + this.#misses;
    if (!final && lookups === this.#lookupsAtLastStats) return; // quiet while idle
    this.#lookupsAtLastStats = lookups;
    this.#log?.emit("info", "places.stats", { provider: this.name, final, ...this.stats() });
  }
}

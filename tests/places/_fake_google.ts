/**
 * A fake Google Places server for tests, on 127.0.0.1 port 0. It speaks both
 * Nearby Search (New) (`POST /v1/places:searchNearby`) and the legacy Nearby
 * Search (`GET /maps/api/place/nearbysearch/json`), and it *enforces* the
 * request contract docs/PLACES.md documents: a request that breaks it is
 * answered 400 and recorded in {@linkcode FakeGoogle.violations}, so a test
 * that ends with no violations proves the providers keep the contract.
 *
 * What it answers is scripted: {@linkcode FakeGoogle.script} queues one-shot
 * behaviours, {@linkcode FakeGoogle.otherwise} answers the rest.
 *
 * @module
 */

import assert from "node:assert/strict";
import { MemoryLog } from "../../src/log.ts";
import type { GooglePlace, PlacesProvider } from "../../src/places/mod.ts";

/** How the fake answers one request. */
export type Behaviour =
  /** HTTP 200 with places (New: `fake.places`; legacy: `fake.legacyResults`), cut to the ask. */
  | { kind: "ok" }
  /** HTTP 200 with nothing near: `{}` (New) or `ZERO_RESULTS` (legacy). */
  | { kind: "empty" }
  /** An HTTP error with a `google.rpc.Status` body. */
  | { kind: "rpc-error"; httpStatus: number; status: string; message: string }
  /** Legacy only: HTTP 200 with an error `status` and `error_message`. */
  | { kind: "legacy-error"; status: string; message: string }
  /** An HTTP status with a body that is not JSON. */
  | { kind: "not-json"; httpStatus: number }
  /** HTTP 200 with a 2 MiB body (a valid JSON string, far too big for an answer). */
  | { kind: "huge" }
  /** Waits `delayMs` (cut short when the fake closes), then `then`. */
  | { kind: "slow"; delayMs: number; then: Behaviour }
  /** Waits until {@linkcode FakeGoogle.release} (or close), then answers `ok`. */
  | { kind: "hold" };

/** One request as the fake received it. */
export interface RecordedRequest {
  /** HTTP method. */
  method: string;
  /** URL path. */
  path: string;
  /** Query parameters. */
  query: Record<string, string>;
  /** Headers, names lower-cased. */
  headers: Record<string, string>;
  /** The body parsed as JSON (New API), or undefined. */
  body: unknown;
}

/** Path of Nearby Search (New). */
const NEW_PATH = "/v1/places:searchNearby";
/** Path of the legacy Nearby Search. */
const LEGACY_PATH = "/maps/api/place/nearbysearch/json";
/** Top-level request fields Google documents for searchNearby. */
const NEW_BODY_FIELDS = new Set([
  "includedTypes",
  "excludedTypes",
  "includedPrimaryTypes",
  "excludedPrimaryTypes",
  "languageCode",
  "regionCode",
  "rankPreference",
  "maxResultCount",
  "locationRestriction",
  "routingParameters",
]);
const FIELD_PATH = /^places\.[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/;

/** A fake Google, listening until {@linkcode FakeGoogle.close}. */
export class FakeGoogle {
  /** The key the fake accepts; any other gets Google's "key not valid" answer. */
  readonly apiKey: string;
  /** Every request received, oldest first. */
  readonly requests: RecordedRequest[] = [];
  /** Contract violations seen (each answered 400), oldest first. */
  readonly violations: string[] = [];
  /** Places (New) answered by `ok`. */
  places: GooglePlace[] = samplePlaces(25);
  /** Legacy results answered by `ok` (Google's legacy shape). */
  legacyResults: Record<string, unknown>[] = sampleLegacyResults(25);
  /** What requests get once the script is used up. */
  otherwise: Behaviour = { kind: "ok" };
  readonly #queue: Behaviour[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #closing = new AbortController();
  #gate = Promise.withResolvers<void>();

  private constructor(apiKey: string) {
    this.apiKey = apiKey;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (request) => this.#handle(request),
    );
  }

  /**
   * Starts a fake on 127.0.0.1, port 0.
   *
   * @param apiKey The key it accepts.
   */
  static start(apiKey: string): FakeGoogle {
    return new FakeGoogle(apiKey);
  }

  /** Base URL, e.g. `http://127.0.0.1:40123`: the `endpoint` of a provider under test. */
  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Queues one-shot behaviours, used in order before {@linkcode FakeGoogle.otherwise}. */
  script(...behaviours: Behaviour[]): void {
    this.#queue.push(...behaviours);
  }

  /** Lets every held request (and later ones) answer. */
  release(): void {
    this.#gate.resolve();
  }

  /** Stops listening; pending slow or held answers end at once. Idempotent. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    this.#gate.resolve();
    await this.#server.shutdown();
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => headers[name] = value);
    const text = await request.text();
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    const recorded: RecordedRequest = {
      method: request.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body,
    };
    this.requests.push(recorded);
    const legacy = url.pathname === LEGACY_PATH;
    const problem = legacy ? legacyViolation(recorded) : newViolation(recorded, text);
    if (problem !== undefined) {
      this.violations.push(problem);
      return legacy
        ? Response.json({ html_attributions: [], results: [], status: "INVALID_REQUEST" })
        : rpcError(400, "INVALID_ARGUMENT", `fake: contract violation: ${problem}`);
    }
    const key = legacy ? recorded.query.key : headers["x-goog-api-key"];
    if (key !== this.apiKey) {
      return legacy
        ? Response.json({
          error_message: "The provided API key is invalid.",
          html_attributions: [],
          results: [],
          status: "REQUEST_DENIED",
        })
        : rpcError(403, "PERMISSION_DENIED", "API key not valid. Please pass a valid API key.");
    }
    const behaviour = this.#queue.shift() ?? this.otherwise;
    return await this.#answer(behaviour, recorded, legacy);
  }

  async #answer(
    behaviour: Behaviour,
    recorded: RecordedRequest,
    legacy: boolean,
  ): Promise<Response> {
    switch (behaviour.kind) {
      case "ok": {
        if (legacy) {
          return Response.json({
            html_attributions: ['Listings by <a href="https://listings.test/">Listings</a>'],
            next_page_token: "fake-next-page",
            results: this.legacyResults.slice(0, 20),
            status: "OK",
          });
        }
        const count = (recorded.body as { maxResultCount?: number }).maxResultCount ?? 20;
        return Response.json({ places: this.places.slice(0, count) });
      }
      case "empty":
        return legacy
          ? Response.json({ html_attributions: [], results: [], status: "ZERO_RESULTS" })
          : Response.json({});
      case "rpc-error":
        return rpcError(behaviour.httpStatus, behaviour.status, behaviour.message);
      case "legacy-error":
        return Response.json({
          error_message: behaviour.message,
          html_attributions: [],
          results: [],
          status: behaviour.status,
        });
      case "not-json":
        return new Response("<html>upstream trouble</html>", {
          status: behaviour.httpStatus,
          headers: { "content-type": "text/html" },
        });
      case "huge":
        return Response.json({ padding: "x".repeat(2 << 20) });
      case "slow":
        await this.#wait(behaviour.delayMs);
        return this.#answer(behaviour.then, recorded, legacy);
      case "hold":
        await this.#gate.promise;
        return this.#answer({ kind: "ok" }, recorded, legacy);
    }
  }

  /** Sleeps `ms`, ending early when the fake closes; no timer left behind. */
  #wait(ms: number): Promise<void> {
    const closing = this.#closing.signal;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        closing.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      closing.addEventListener("abort", done);
      if (closing.aborted) done();
    });
  }
}

/** A `google.rpc.Status` error response, as Google's JSON APIs send them. */
function rpcError(httpStatus: number, status: string, message: string): Response {
  return Response.json({ error: { code: httpStatus, message, status } }, { status: httpStatus });
}

function isNumberIn(value: unknown, min: number, max: number): boolean {
  return typeof value === "number" && Number.isFinite(value) && value >= min && value <= max;
}

/** Why a Nearby Search (New) request breaks the documented contract, or undefined. */
function newViolation(r: RecordedRequest, text: string): string | undefined {
  if (r.path !== NEW_PATH) return `path ${r.path}, expected ${NEW_PATH}`;
  if (r.method !== "POST") return `method ${r.method}, expected POST`;
  if (!(r.headers["content-type"] ?? "").startsWith("application/json")) {
    return `Content-Type ${r.headers["content-type"]}, expected application/json`;
  }
  if (!r.headers["x-goog-api-key"]) return "no X-Goog-Api-Key header";
  if (Object.keys(r.query).length > 0) return `query parameters ${Object.keys(r.query)}`;
  const mask = r.headers["x-goog-fieldmask"];
  if (!mask) return "no X-Goog-FieldMask header";
  const fields = mask.split(",");
  const bad = fields.find((f) => !FIELD_PATH.test(f));
  if (bad !== undefined) return `field mask entry ${JSON.stringify(bad)}`;
  for (const needed of ["places.id", "places.displayName", "places.location"]) {
    if (!fields.includes(needed)) return `field mask lacks ${needed}`;
  }
  if (typeof r.body !== "object" || r.body === null) return `body is not a JSON object: ${text}`;
  const body = r.body as Record<string, unknown>;
  const unknown = Object.keys(body).find((k) => !NEW_BODY_FIELDS.has(k));
  if (unknown !== undefined) return `unknown body field ${unknown}`;
  const circle = (body.locationRestriction as { circle?: Record<string, unknown> } | undefined)
    ?.circle;
  const center = circle?.center as Record<string, unknown> | undefined;
  if (!isNumberIn(center?.latitude, -90, 90)) return `latitude ${center?.latitude}`;
  if (!isNumberIn(center?.longitude, -180, 180)) return `longitude ${center?.longitude}`;
  if (!isNumberIn(circle?.radius, Number.MIN_VALUE, 50_000)) return `radius ${circle?.radius}`;
  const count = body.maxResultCount;
  if (count !== undefined && !(Number.isInteger(count) && isNumberIn(count, 1, 20))) {
    return `maxResultCount ${count}`;
  }
  return undefined;
}

/** Why a legacy Nearby Search request breaks the documented contract, or undefined. */
function legacyViolation(r: RecordedRequest): string | undefined {
  if (r.method !== "GET") return `method ${r.method}, expected GET`;
  if (!r.query.key) return "no key parameter";
  const parts = (r.query.location ?? "").split(",");
  if (parts.length !== 2 || parts.some((p) => p === "" || !Number.isFinite(Number(p)))) {
    return `location ${r.query.location}`;
  }
  if (!isNumberIn(Number(parts[0]), -90, 90)) return `latitude ${parts[0]}`;
  if (!isNumberIn(Number(parts[1]), -180, 180)) return `longitude ${parts[1]}`;
  if (!isNumberIn(Number(r.query.radius), Number.MIN_VALUE, 50_000)) {
    return `radius ${r.query.radius}`;
  }
  return undefined;
}

/**
 * `n` distinct Places (New) near UCLA, every default-mask field filled.
 *
 * @param n How many.
 */
export function samplePlaces(n: number): GooglePlace[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `fake-place-${i}`,
    displayName: { text: `Fake Place ${i}`, languageCode: "en" },
    location: { latitude: 34.07 + i / 1000, longitude: -118.44 - i / 1000 },
    viewport: {
      low: { latitude: 34.069 + i / 1000, longitude: -118.441 - i / 1000 },
      high: { latitude: 34.071 + i / 1000, longitude: -118.439 - i / 1000 },
    },
    types: ["cafe", "food", "point_of_interest", "establishment"],
    shortFormattedAddress: `${100 + i} Fake St, Los Angeles`,
    formattedAddress: `${100 + i} Fake St, Los Angeles, CA 90024, USA`,
    businessStatus: "OPERATIONAL",
    plusCode: { globalCode: `8553XH${i}F+00`, compoundCode: `XH${i}F+00 Los Angeles` },
    iconMaskBaseUri: "https://maps.gstatic.com/mapfiles/place_api/icons/v2/cafe_pinlet",
    iconBackgroundColor: "#FF9E67",
  }));
}

/**
 * `n` distinct legacy Nearby Search results.
 *
 * @param n How many.
 */
export function sampleLegacyResults(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({
    business_status: "OPERATIONAL",
    geometry: { location: { lat: 34.07 + i / 1000, lng: -118.44 - i / 1000 } },
    icon: "https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/cafe-71.png",
    name: `Legacy Place ${i}`,
    place_id: `legacy-place-${i}`,
    reference: `legacy-place-${i}`,
    scope: "GOOGLE",
    types: ["cafe", "food", "point_of_interest", "establishment"],
    vicinity: `${100 + i} Legacy Ave, Los Angeles`,
  }));
}

/** What a provider factory of {@linkcode withFakeGoogle} gets: where the fake is, and the log. */
export interface FakeTarget {
  /** The fake's base URL, for `endpoint`. */
  endpoint: string;
  /** Where the provider should log. */
  log: MemoryLog;
}

/**
 * Runs `fn` with a fresh fake Google accepting `apiKey` and a provider `make` points at it;
 * asserts the fake saw no contract violation, and always closes it.
 *
 * @param apiKey The key the fake accepts.
 * @param make Creates the provider under test.
 * @param fn The test body.
 */
export async function withFakeGoogle<P extends PlacesProvider>(
  apiKey: string,
  make: (target: FakeTarget) => P,
  fn: (fake: FakeGoogle, places: P, log: MemoryLog) => Promise<void>,
): Promise<void> {
  const fake = FakeGoogle.start(apiKey);
  const log = new MemoryLog();
  try {
    await fn(fake, make({ endpoint: fake.url, log }), log);
    assert.deepEqual(fake.violations, [], "the fake saw no contract violation");
  } finally {
    await fake.close();
  }
}

/**
 * Asserts `secret` appears in none of `values` (as JSON) nor in any event of `logs`.
 *
 * @param secret The API key.
 * @param values Replies, responses, anything JSON-serialisable.
 * @param logs Logs whose every event is checked.
 */
export function assertNoSecret(secret: string, values: unknown[], logs: MemoryLog[]): void {
  for (const value of values) {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    assert.ok(!text.includes(secret), `key in ${text}`);
  }
  for (const log of logs) {
    for (const event of log.events) {
      assert.ok(!JSON.stringify(event).includes(secret), `key in log ${JSON.stringify(event)}`);
    }
  }
}

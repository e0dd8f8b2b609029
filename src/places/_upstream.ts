/**
 * One question to a remote places service over HTTP, as both Google providers
 * ask it: a deadline over the whole exchange, one retry with jitter for
 * network errors and 5xx answers, the body always read (or cancelled), the
 * API key cut out of every message and log line, and HTTP / `google.rpc.Status`
 * failures turned into Nearby Search statuses.
 *
 * @module
 */

import { DEFAULT_PLACES } from "../config.ts";
import type { EventLog } from "../log.ts";
import type { NearbyQuery, NearbySearchResponse, NearbySearchStatus } from "./types.ts";

/** Largest radius Google's Nearby Search accepts, metres (both APIs). */
export const GOOGLE_MAX_RADIUS_M = 50_000;

/** Most places one Google Nearby Search answer holds (both APIs). */
export const GOOGLE_MAX_RESULTS = 20;

/**
 * Mean pause before the one retry, ms; the actual pause is uniform in
 * [0.5, 1.5) times this, so members that failed together do not retry together.
 */
const RETRY_PAUSE_MS = 100;

/**
 * Largest answer body read, bytes. A full page of 20 places with every Pro field is a few tens of
 * KiB; anything past 1 MiB is not a Nearby Search answer, and is cut off rather than buffered.
 */
const MAX_BODY_BYTES = 1 << 20;

/** What replaces the API key wherever it would have been shown. */
const REDACTED = "<redacted>";

/** How one service is asked: who is asking, within what time, and what must never be shown. */
export interface UpstreamOptions {
  /** Provider name for logs, e.g. `google`. */
  provider: string;
  /** The service as error messages name it, e.g. `Google Places API (New)`. */
  service: string;
  /** Deadline of the whole exchange, retry included, ms. */
  timeoutMs: number;
  /** The API key: removed from every message and logged URL. */
  secret: string;
  /** Where each HTTP attempt is logged (`places.upstream`, debug). */
  log: EventLog;
  /** Uniform random in [0, 1), for the retry's jitter. */
  random: () => number;
}

/** What both Google providers' options have in common. */
export interface GoogleOptionsBase {
  /** The API key. */
  apiKey: string;
  /** Deadline of one question, retry included, ms. @default {5000} */
  timeoutMs?: number;
  /** Where each HTTP attempt is logged. @default events dropped */
  log?: EventLog;
  /** Uniform random in [0, 1), for the retry's jitter. @default Math.random */
  random?: () => number;
}

/**
 * The {@linkcode UpstreamOptions} of a Google provider, defaults filled in.
 *
 * @param provider Provider name for logs.
 * @param service Service name for messages.
 * @param options The provider's options.
 * @returns Options for {@linkcode askUpstream}.
 */
export function upstreamOptions(
  provider: string,
  service: string,
  options: GoogleOptionsBase,
): UpstreamOptions {
  return {
    provider,
    service,
    timeoutMs: options.timeoutMs ?? DEFAULT_PLACES.timeoutMs,
    secret: options.apiKey,
    log: options.log ?? { emit() {} },
    random: options.random ?? Math.random,
  };
}

/**
 * Whether `value` is a JSON object (not null, not an array).
 *
 * @param value Parsed JSON.
 * @returns True for an object.
 */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The service answered over HTTP (any status); `body` is its JSON, or undefined if not JSON. */
export interface UpstreamAnswer {
  /** Always true: an HTTP answer arrived. */
  answered: true;
  /** HTTP status code. */
  httpStatus: number;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  body: unknown;
}

/** No usable HTTP answer: timeout, network error, abort; already a Nearby Search failure. */
export interface UpstreamFailure {
  /** Always false: no answer to interpret. */
  answered: false;
  /** The failure as a WHATSAT answer (`UNKNOWN_ERROR` and why). */
  response: NearbySearchResponse;
}

/** What {@linkcode askUpstream} came to. */
export type UpstreamResult = UpstreamAnswer | UpstreamFailure;

/**
 * A Nearby Search failure response.
 *
 * @param status Why (never `OK` or `ZERO_RESULTS`).
 * @param errorMessage Human-readable cause, key-free.
 * @returns The response: no results, no attributions.
 */
export function failed(status: NearbySearchStatus, errorMessage: string): NearbySearchResponse {
  return { html_attributions: [], results: [], status, error_message: errorMessage };
}

/**
 * `text` with every occurrence of `secret` (as is and URL-encoded) replaced by `<redacted>`.
 *
 * @param text Any text (an error message, a URL).
 * @param secret The API key; nothing is replaced when it is empty.
 * @returns The text, safe to log or reply.
 */
export function redact(text: string, secret: string): string {
  if (secret === "") return text;
  let out = text.replaceAll(secret, REDACTED);
  const encoded = encodeURIComponent(secret);
  if (encoded !== secret) out = out.replaceAll(encoded, REDACTED);
  return out;
}

/**
 * `base` (an http(s) URL, trailing slashes ignored) with `path` appended.
 *
 * @param base The endpoint, e.g. `https://places.googleapis.com` or a proxy with a path prefix.
 * @param path The API path, starting with `/`.
 * @returns The full URL.
 * @throws {TypeError} If `base` is not an http: or https: URL.
 */
export function endpointUrl(base: string, path: string): URL {
  const url = new URL(base.replace(/\/+$/, "") + path);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`Cannot use places endpoint ${base}: not an http: or https: URL`);
  }
  return url;
}

/**
 * Why a query cannot go to Google, or undefined if it can.
 *
 * @param query The question.
 * @returns A one-line reason for an `INVALID_REQUEST`, or undefined.
 */
export function googleQueryProblem(query: NearbyQuery): string | undefined {
  const checks: Array<[boolean, string]> = [
    [Math.abs(query.latitude) <= 90, `latitude ${query.latitude} is not in -90..90`],
    [Math.abs(query.longitude) <= 180, `longitude ${query.longitude} is not in -180..180`],
    [
      query.radiusM > 0 && query.radiusM <= GOOGLE_MAX_RADIUS_M,
      `radius ${query.radiusM} m is not in (0, ${GOOGLE_MAX_RADIUS_M}]`,
    ],
    [
      Number.isInteger(query.maxResults) && query.maxResults >= 1 &&
      query.maxResults <= GOOGLE_MAX_RESULTS,
      `maxResults ${query.maxResults} is not an integer in 1..${GOOGLE_MAX_RESULTS}`,
    ],
  ];
  // NaN fails every comparison above, so it is caught too.
  return checks.find(([ok]) => !ok)?.[1];
}

/**
 * The Nearby Search status for an HTTP error status (Google's documented mapping of HTTP codes
 * to `google.rpc.Code`: 400 invalid argument, 401/403 denied, 429 quota; anything else, 5xx and
 * a 404 from a wrong endpoint included, is the service's problem).
 *
 * @param httpStatus HTTP status code (not 2xx).
 * @returns `INVALID_REQUEST`, `REQUEST_DENIED`, `OVER_QUERY_LIMIT` or `UNKNOWN_ERROR`.
 */
export function statusOfHttp(httpStatus: number): NearbySearchStatus {
  if (httpStatus === 401 || httpStatus === 403) return "REQUEST_DENIED";
  if (httpStatus === 429) return "OVER_QUERY_LIMIT";
  if (httpStatus === 400 || httpStatus === 413) return "INVALID_REQUEST";
  return "UNKNOWN_ERROR";
}

/** `google.rpc.Code` names and the Nearby Search status each becomes. */
const RPC_STATUSES: Readonly<Record<string, NearbySearchStatus>> = {
  INVALID_ARGUMENT: "INVALID_REQUEST",
  FAILED_PRECONDITION: "INVALID_REQUEST",
  OUT_OF_RANGE: "INVALID_REQUEST",
  PERMISSION_DENIED: "REQUEST_DENIED",
  UNAUTHENTICATED: "REQUEST_DENIED",
  RESOURCE_EXHAUSTED: "OVER_QUERY_LIMIT",
};

/**
 * The Nearby Search status for a `google.rpc.Status` error, by its `status` name when known,
 * else by the HTTP code. Source: Google Cloud API design guide, "Errors".
 *
 * @param rpcStatus The error's `status`, e.g. `PERMISSION_DENIED`, if any.
 * @param httpStatus The HTTP status code.
 * @returns The status a WHATSAT reply carries.
 */
export function statusOfRpc(rpcStatus: string | undefined, httpStatus: number): NearbySearchStatus {
  if (rpcStatus !== undefined && Object.hasOwn(RPC_STATUSES, rpcStatus)) {
    return RPC_STATUSES[rpcStatus];
  }
  return statusOfHttp(httpStatus);
}

/** One HTTP attempt's outcome, before interpretation. */
type Attempt =
  | { kind: "http"; status: number; text: string }
  | { kind: "too-large"; status: number }
  | { kind: "error"; error: unknown };

/** Sends once and reads the body (at most {@linkcode MAX_BODY_BYTES}) under `signal`; never throws. */
async function attemptOnce(url: URL, init: RequestInit, signal: AbortSignal): Promise<Attempt> {
  try {
    // No redirects: fetch would carry the X-Goog-Api-Key header along to wherever they point.
    const response = await fetch(url, { ...init, signal, redirect: "error" });
    const text = await readCapped(response);
    return text === undefined
      ? { kind: "too-large", status: response.status }
      : { kind: "http", status: response.status, text };
  } catch (error) {
    return { kind: "error", error };
  }
}

/**
 * The body as text, or undefined (and the rest cancelled) once it passes
 * {@linkcode MAX_BODY_BYTES}. Reading to the end, cancelling, or failing at the abort all
 * release the connection.
 */
async function readCapped(response: Response): Promise<string | undefined> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return new TextDecoder().decode(bytes);
}

/** Resolves after `ms`, or at once when `signal` aborts; leaves no timer behind. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** An error's message and its causes' (fetch puts the detail, URL included, in `cause`). */
function messageOf(error: unknown): string {
  const parts: string[] = [];
  for (let e = error, depth = 0; e !== undefined && depth < 3; depth++) {
    parts.push((e instanceof Error ? e.message : String(e)).split("\n")[0]);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(": ");
}

/**
 * Asks a places service once (plus at most one retry), within `options.timeoutMs` overall.
 *
 * A network error or a 5xx answer is retried once after a jittered pause of 50..150 ms, if the
 * pause still fits in the deadline; a 4xx answer, a timeout and an abort are not. Every attempt
 * is logged as `places.upstream` (debug) with its URL redacted. The deadline covers connect,
 * headers and body of every attempt, so the caller hears back within `timeoutMs` plus the time
 * to parse the JSON.
 *
 * @param url Where to send; it may carry the key (legacy API), which is never logged.
 * @param init Method, headers, body.
 * @param options Deadline, key, log, names.
 * @param signal The caller's abort signal, if any.
 * @returns The HTTP answer (any status, body parsed if JSON), or a ready `UNKNOWN_ERROR` response.
 */
export async function askUpstream(
  url: URL,
  init: RequestInit,
  options: UpstreamOptions,
  signal?: AbortSignal,
): Promise<UpstreamResult> {
  const { service, secret, timeoutMs } = options;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, "TimeoutError"));
  }, timeoutMs);
  const onCallerAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) onCallerAbort();
  signal?.addEventListener("abort", onCallerAbort, { once: true });
  const started = performance.now();
  try {
    for (let attempt = 1;; attempt++) {
      const attemptStarted = performance.now();
      const outcome = await attemptOnce(url, init, controller.signal);
      logAttempt(options, init.method ?? "GET", url, attempt, outcome, attemptStarted);
      if (outcome.kind === "error" && controller.signal.aborted) {
        const why = timedOut
          ? `no answer within ${timeoutMs} ms`
          : `aborted: ${redact(messageOf(signal?.reason), secret)}`;
        return { answered: false, response: failed("UNKNOWN_ERROR", `${service}: ${why}`) };
      }
      if (outcome.kind === "too-large") {
        const why = `the answer (HTTP ${outcome.status}) is larger than ${MAX_BODY_BYTES} bytes`;
        return { answered: false, response: failed("UNKNOWN_ERROR", `${service}: ${why}`) };
      }
      const retryable = outcome.kind === "error" || outcome.status >= 500;
      if (retryable && attempt === 1) {
        const pauseMs = RETRY_PAUSE_MS * (0.5 + options.random());
        if (performance.now() - started + pauseMs < timeoutMs) {
          await pause(pauseMs, controller.signal);
          if (!controller.signal.aborted) continue;
        }
      }
      if (outcome.kind === "error") {
        const why = redact(messageOf(outcome.error), secret);
        return {
          answered: false,
          response: failed("UNKNOWN_ERROR", `${service}: request failed: ${why}`),
        };
      }
      return { answered: true, httpStatus: outcome.status, body: parseJson(outcome.text) };
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onCallerAbort);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function logAttempt(
  options: UpstreamOptions,
  method: string,
  url: URL,
  attempt: number,
  outcome: Attempt,
  startedMs: number,
): void {
  const ms = Math.round((performance.now() - startedMs) * 10) / 10;
  options.log.emit("debug", "places.upstream", {
    provider: options.provider,
    method,
    url: redact(url.href, options.secret),
    attempt,
    status: outcome.kind === "error" ? null : outcome.status,
    reason: outcome.kind === "error" ? redact(messageOf(outcome.error), options.secret) : undefined,
    ms,
  });
}

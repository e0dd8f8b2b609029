/**
 * What a `herd bench` run can be asked to do, the defaults, and the one place
 * where the options are checked ({@linkcode resolveBenchOptions}), against the
 * protocol's own WHATSAT limits.
 *
 * @module
 */

import { MAX_BOUND, MAX_RADIUS_KM, MIN_BOUND } from "../protocol/mod.ts";
import type { ServerAddress } from "./address.ts";

/**
 * How requests reach the server:
 * - `conn`: a new connection per request (send one line, half-close, read to
 *   EOF), `concurrency` of them at a time: the way class test harnesses talk.
 * - `pipe`: `concurrency` persistent connections, each with `window` requests
 *   in flight; the window is refilled with one write per read.
 * - `propagation`: IAMATs at one member at a fixed rate, and the time until a
 *   second member answers a WHATSAT with that very record.
 */
export type BenchMode = "conn" | "pipe" | "propagation";

/** Every {@linkcode BenchMode}, in the order help lists them. */
export const BENCH_MODES: readonly BenchMode[] = ["conn", "pipe", "propagation"];

/** Which request is repeated: `IAMAT` (stored and flooded) or `WHATSAT` (places lookup). */
export type BenchKind = "iamat" | "whatsat";

/** Every {@linkcode BenchKind}. */
export const BENCH_KINDS: readonly BenchKind[] = ["iamat", "whatsat"];

/** A server under load; the same shape as {@linkcode ServerAddress}. */
export type BenchAddress = ServerAddress;

/** Counters handed to {@linkcode BenchOptions.onProgress} while a run goes on. */
export interface BenchProgress {
  /** Requests finished so far (answered or failed). */
  requests: number;
  /** Of those, how many failed. */
  errors: number;
  /** Seconds since the load started. */
  seconds: number;
}

/** Options of `runBench()`. */
export interface BenchOptions {
  /** How requests are sent. */
  mode: BenchMode;
  /** Which request (`propagation` always sends IAMAT). @default "iamat" */
  kind?: BenchKind;
  /** The server under load (`propagation`: where the IAMATs go). */
  target: BenchAddress;
  /** `propagation` only: the member asked with WHATSAT until it has each record. */
  target2?: BenchAddress;
  /**
   * Requests to send in all (`propagation`: updates), >= 1.
   * @default 100000 (pipe), 20000 (conn), 1000 (propagation)
   */
  requests?: number;
  /** No new request is started after this long, ms (in-flight ones may finish). @default 30000 */
  durationMs?: number;
  /** Parallel connections (`conn`: requests at a time), >= 1. @default 50 (conn), 4 (pipe) */
  concurrency?: number;
  /** `pipe`: requests in flight per connection, >= 1. @default 64 */
  window?: number;
  /** `propagation`: IAMATs per second, > 0. @default 100 */
  ratePerSecond?: number;
  /**
   * A request unanswered this long, ms, is an error and its connection is closed
   * (`propagation`: an update not seen at target2 this long after it was sent).
   * The whole run is also cut off at `durationMs + timeoutMs`.
   * @default 5000
   */
  timeoutMs?: number;
  /** WHATSAT radius, km, 0 < r <= {@linkcode MAX_RADIUS_KM}. @default 10 */
  radiusKm?: number;
  /** WHATSAT bound, {@linkcode MIN_BOUND}..{@linkcode MAX_BOUND}. @default 5 */
  bound?: number;
  /**
   * Start of every client id: ids are `<prefix>-<connection>-<n>`, unique per
   * request so each IAMAT is a new record that floods.
   * @default `bench-<pid>`
   */
  clientPrefix?: string;
  /** ISO 6709 location sent in every IAMAT. @default "+34.068930-118.445127" */
  location?: string;
  /** Called every `progressIntervalMs` while the load runs. */
  onProgress?: (progress: BenchProgress) => void;
  /** Period of `onProgress`, ms, > 0. @default 1000 */
  progressIntervalMs?: number;
}

/** {@linkcode BenchOptions} after {@linkcode resolveBenchOptions}: checked, defaults filled in. */
export interface ResolvedBenchOptions {
  /** How requests are sent. */
  mode: BenchMode;
  /** Which request; always `iamat` in `propagation` mode. */
  kind: BenchKind;
  /** The server under load. */
  target: BenchAddress;
  /** `propagation`: the member polled; otherwise `undefined`. */
  target2: BenchAddress | undefined;
  /** Requests to send in all, >= 1. */
  requests: number;
  /** Parallel connections; 1 in `propagation` mode. */
  concurrency: number;
  /** `pipe`: requests in flight per connection; otherwise 1. */
  window: number;
  /** No new request after this long, ms. */
  durationMs: number;
  /** A request unanswered this long, ms, is an error. */
  timeoutMs: number;
  /** `propagation`: IAMATs per second. */
  ratePerSecond: number;
  /** WHATSAT radius, km. */
  radiusKm: number;
  /** WHATSAT bound. */
  bound: number;
  /** Start of every client id. */
  clientPrefix: string;
  /** ISO 6709 location of every IAMAT. */
  location: string;
  /** Progress callback, if any. */
  onProgress: ((progress: BenchProgress) => void) | undefined;
  /** Period of `onProgress`, ms. */
  progressIntervalMs: number;
}

/**
 * An option of a bench run is out of range, or does not fit the mode. A
 * command line catches it to name its own flag.
 */
export class BenchOptionError extends RangeError {
  /** Always `BenchOptionError`, so the error is recognisable once printed or logged. */
  override name = "BenchOptionError";
  /** The option at fault. */
  readonly option: keyof BenchOptions;
  /** What it must be instead, e.g. `at most 50 km`. */
  readonly requirement: string;

  /**
   * Creates a BenchOptionError: `Cannot run bench: <option> must be <requirement>, got <value>`.
   *
   * @param option The option at fault.
   * @param requirement What it must be instead, e.g. `at most 50 km`.
   * @param value The value given.
   */
  constructor(option: keyof BenchOptions, requirement: string, value: unknown) {
    super(`Cannot run bench: ${option} must be ${requirement}, got ${String(value)}`);
    this.option = option;
    this.requirement = requirement;
  }
}

/** Defaults of {@linkcode BenchOptions.requests} by mode. */
const DEFAULT_REQUESTS: Record<BenchMode, number> = {
  conn: 20_000,
  pipe: 100_000,
  propagation: 1_000,
};
/** Defaults of {@linkcode BenchOptions.concurrency} by mode. */
const DEFAULT_CONCURRENCY: Record<BenchMode, number> = { conn: 50, pipe: 4, propagation: 1 };
/** UCLA's Boelter Hall, as in PROTOCOL.md's examples: the built-in places know it well. */
const DEFAULT_LOCATION = "+34.068930-118.445127";

/** `value`, if it is a whole number >= 1. */
function count(option: keyof BenchOptions, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new BenchOptionError(option, "a whole number >= 1", value);
  }
  return value;
}

/** `value`, if it is a finite number > 0. */
function positive(option: keyof BenchOptions, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new BenchOptionError(option, "a number > 0", value);
  }
  return value;
}

/**
 * Checks a run's options and fills in the defaults. Radius and bound are held
 * to the limits the protocol itself enforces ({@linkcode MAX_RADIUS_KM},
 * {@linkcode MIN_BOUND}, {@linkcode MAX_BOUND}), so a run never sends a
 * WHATSAT that every server must refuse.
 *
 * @param opts The options as given.
 * @returns Every option, checked.
 * @throws {BenchOptionError} For the first option that is out of range or
 *   does not fit the mode (checked in the order of {@linkcode BenchOptions}).
 * @example
 * ```ts
 * import { resolveBenchOptions } from "./bench_options.ts";
 * const o = resolveBenchOptions({ mode: "pipe", target: { hostname: "127.0.0.1", port: 11490 } });
 * if (o.concurrency !== 4 || o.window !== 64) throw new Error();
 * ```
 */
export function resolveBenchOptions(opts: BenchOptions): ResolvedBenchOptions {
  const mode = opts.mode;
  if (!BENCH_MODES.includes(mode)) {
    throw new BenchOptionError("mode", `one of ${BENCH_MODES.join(", ")}`, mode);
  }
  const kind = opts.kind ?? "iamat";
  if (!BENCH_KINDS.includes(kind)) {
    throw new BenchOptionError("kind", `one of ${BENCH_KINDS.join(", ")}`, kind);
  }
  if (mode === "propagation" && opts.target2 === undefined) {
    throw new BenchOptionError("target2", "given in propagation mode", undefined);
  }
  if (mode !== "propagation" && opts.target2 !== undefined) {
    throw new BenchOptionError("target2", `absent in ${mode} mode`, "an address");
  }
  if (mode === "propagation" && kind !== "iamat") {
    throw new BenchOptionError("kind", "iamat in propagation mode", kind);
  }
  const requests = count("requests", opts.requests ?? DEFAULT_REQUESTS[mode]);
  const durationMs = positive("durationMs", opts.durationMs ?? 30_000);
  const concurrency = mode === "propagation"
    ? 1
    : count("concurrency", opts.concurrency ?? DEFAULT_CONCURRENCY[mode]);
  const window = mode === "pipe" ? count("window", opts.window ?? 64) : 1;
  const ratePerSecond = positive("ratePerSecond", opts.ratePerSecond ?? 100);
  const timeoutMs = positive("timeoutMs", opts.timeoutMs ?? 5_000);
  const radiusKm = opts.radiusKm ?? 10;
  if (!(radiusKm > 0)) throw new BenchOptionError("radiusKm", "more than 0 km", radiusKm);
  if (radiusKm > MAX_RADIUS_KM) {
    throw new BenchOptionError("radiusKm", `at most ${MAX_RADIUS_KM} km`, radiusKm);
  }
  const bound = opts.bound ?? 5;
  if (!Number.isInteger(bound)) throw new BenchOptionError("bound", "a whole number", bound);
  if (bound < MIN_BOUND) throw new BenchOptionError("bound", `at least ${MIN_BOUND}`, bound);
  if (bound > MAX_BOUND) throw new BenchOptionError("bound", `at most ${MAX_BOUND}`, bound);
  return {
    mode,
    kind,
    target: opts.target,
    target2: opts.target2,
    requests,
    concurrency,
    window,
    durationMs,
    timeoutMs,
    ratePerSecond,
    radiusKm,
    bound,
    clientPrefix: opts.clientPrefix ?? `bench-${Deno.pid}`,
    location: opts.location ?? DEFAULT_LOCATION,
    onProgress: opts.onProgress,
    progressIntervalMs: positive("progressIntervalMs", opts.progressIntervalMs ?? 1000),
  };
}

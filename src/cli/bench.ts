/**
 * `herd bench`: the command around the load generator in `src/client/bench.ts`
 * (flags, progress line, table or JSON). The modes and what they measure are
 * described there.
 *
 * @module
 */

import {
  BENCH_KINDS,
  BENCH_MODES,
  BenchOptionError,
  type BenchOptions,
  type BenchProgress,
  type BenchResult,
  runBench,
} from "../client/mod.ts";
import { clientTlsOf, parseDurationMs, parseHostPort, UserError } from "./args.ts";

/**
 * Formats a result as the human table `herd bench` prints.
 *
 * @param r The result.
 * @returns Lines ending in LF.
 */
export function formatBenchTable(r: BenchResult): string {
  const what = r.mode === "propagation"
    ? `propagation, IAMAT -> ${r.target}, WHATSAT <- ${r.target2}`
    : `${r.mode}, ${r.kind.toUpperCase()} -> ${r.target}, concurrency ${r.concurrency}` +
      (r.mode === "pipe" ? `, window ${r.window}` : "");
  const ms = (v: number) => `${v.toFixed(3)} ms`;
  const rows: Array<[string, string]> = [
    [r.mode === "propagation" ? "updates" : "requests", String(r.requests)],
    ["errors", String(r.errors)],
    ["seconds", r.seconds.toFixed(3)],
    [r.mode === "propagation" ? "updates/s" : "requests/s", r.requestsPerSecond.toFixed(1)],
    ["latency p50", ms(r.latencyMs.p50)],
    ["latency p99", ms(r.latencyMs.p99)],
    ["latency max", ms(r.latencyMs.max)],
  ];
  return `herd bench: ${what}\n` + rows.map(([k, v]) => `  ${k.padEnd(12)} ${v}\n`).join("");
}

/** The `herd bench` flags, as commander hands them over (strings until parsed). */
export interface BenchFlags {
  /** `--mode`: conn, pipe or propagation. */
  mode: string;
  /** `--kind`: iamat or whatsat. */
  kind: string;
  /** `--requests`: total, or the mode's default when absent. */
  requests?: string;
  /** `--duration`: cap on the time requests are started, e.g. `30s`. */
  duration: string;
  /** `--concurrency`: connections, or the mode's default when absent. */
  concurrency?: string;
  /** `--window`: pipe requests in flight per connection. */
  window: string;
  /** `--rate`: propagation IAMATs per second. */
  rate: string;
  /** `--timeout`: a request unanswered this long is an error, e.g. `5s`. */
  timeout: string;
  /** `--radius`: WHATSAT radius, km. */
  radius: string;
  /** `--bound`: WHATSAT bound. */
  bound: string;
  /** `--json`: print one JSON object instead of the table. */
  json: boolean;
  /** `--no-progress` sets this false. */
  progress: boolean;
  /** `--tls`: connect with TLS. */
  tls?: boolean;
  /** `--ca`: PEM file of CA certificates to trust (with `--tls`). */
  ca?: string;
}

function parseCount(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^[0-9]+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) {
    throw new UserError(`invalid ${flag} "${text}": use a whole number >= 1`);
  }
  return value;
}

function parsePositive(text: string, flag: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value <= 0) {
    throw new UserError(`invalid ${flag} "${text}": use a number > 0`);
  }
  return value;
}

/**
 * Writes the progress line to stderr: rewritten in place (`\r`) on a terminal,
 * one plain line per update otherwise (so logs of a CI run stay readable).
 */
function progressPrinter(): { update(p: BenchProgress): void; done(): void } {
  const tty = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const write = (text: string) => {
    try {
      Deno.stderr.writeSync(encoder.encode(text));
    } catch {
      // A closed stderr must not end the run.
    }
  };
  let shown = false;
  return {
    update(p) {
      const rate = p.seconds > 0 ? Math.round((p.requests - p.errors) / p.seconds) : 0;
      const line = `herd bench: ${p.requests} done, ${p.errors} errors, ${
        p.seconds.toFixed(1)
      } s, ${rate}/s`;
      write(tty ? `\r${line}\x1b[K` : `${line}\n`);
      shown = true;
    },
    done() {
      if (tty && shown) write("\r\x1b[K");
    },
  };
}

/** The flag behind each option a command line sets, for {@linkcode optionError}. */
const FLAG_OF: Partial<Record<keyof BenchOptions, keyof BenchFlags>> = {
  requests: "requests",
  durationMs: "duration",
  concurrency: "concurrency",
  window: "window",
  ratePerSecond: "rate",
  timeoutMs: "timeout",
  radiusKm: "radius",
  bound: "bound",
};

/** Says what {@linkcode runBench} refused in the terms of the flags the user typed. */
function optionError(e: BenchOptionError, flags: BenchFlags, target2?: string): UserError {
  if (e.option === "target2") {
    return new UserError(
      target2 === undefined
        ? "--mode propagation needs a second address: <host:port> <host2:port2>"
        : `a second address is for --mode propagation only, not ${flags.mode}`,
    );
  }
  if (e.option === "kind" && flags.mode === "propagation" && flags.kind === "whatsat") {
    return new UserError("--mode propagation sends IAMAT: drop --kind whatsat");
  }
  if (e.option === "mode" || e.option === "kind") {
    const valid = e.option === "mode" ? BENCH_MODES : BENCH_KINDS;
    return new UserError(`invalid --${e.option} "${flags[e.option]}": use ${valid.join(", ")}`);
  }
  const flag = FLAG_OF[e.option];
  if (flag === undefined) return new UserError(e.message);
  return new UserError(`invalid --${flag} "${flags[flag]}": ${e.requirement}`);
}

/**
 * `herd bench`: parses the flags, runs {@linkcode runBench}, prints the table
 * (or `--json`) on stdout with a progress line on stderr meanwhile.
 *
 * @param target `host:port` under load.
 * @param target2 `host:port` to poll (`propagation` only).
 * @param flags The command-line flags.
 * @returns Exit code: 0, or 1 if any request failed.
 * @throws {UserError} (exit 2) On a bad flag or address.
 * @throws {ClientError} (exit 2) If a target cannot be reached, or will not store the WHATSAT client.
 */
export async function bench(
  target: string,
  target2: string | undefined,
  flags: BenchFlags,
): Promise<number> {
  const tls = clientTlsOf(flags);
  const opts: BenchOptions = {
    mode: flags.mode as BenchOptions["mode"],
    kind: flags.kind as BenchOptions["kind"],
    target: { ...parseHostPort(target), tls },
    target2: target2 === undefined ? undefined : { ...parseHostPort(target2), tls },
    requests: parseCount(flags.requests, "--requests"),
    durationMs: parseDurationMs(flags.duration),
    concurrency: parseCount(flags.concurrency, "--concurrency"),
    window: parseCount(flags.window, "--window"),
    ratePerSecond: parsePositive(flags.rate, "--rate"),
    timeoutMs: parseDurationMs(flags.timeout),
    radiusKm: parsePositive(flags.radius, "--radius"),
    bound: parseCount(flags.bound, "--bound"),
  };
  const progress = flags.progress ? progressPrinter() : null;
  if (progress !== null) {
    opts.onProgress = (p) => progress.update(p);
    opts.progressIntervalMs = Deno.stderr.isTerminal() ? 250 : 1000;
  }
  let result: BenchResult;
  try {
    result = await runBench(opts);
  } catch (e) {
    if (e instanceof BenchOptionError) throw optionError(e, flags, target2);
    throw e;
  } finally {
    progress?.done();
  }
  console.log(flags.json ? JSON.stringify(result) : formatBenchTable(result).trimEnd());
  return result.errors === 0 ? 0 : 1;
}

/**
 * Command-line values: user errors, durations, `host:port`, "did you mean" hints.
 *
 * @module
 */

import type { ClientTls } from "../client/address.ts";
import { readPemFile, TlsFileError } from "../herd/tls.ts";

/** An error the user caused (bad flag, bad config, port in use): one line, no stack, exit 2. */
export class UserError extends Error {
  /** Always `UserError`, so the error is recognisable once printed or logged. */
  override name = "UserError";
  /** Process exit code. */
  readonly exitCode: number;

  /**
   * Creates a UserError.
   *
   * @param message One line naming the problem and the fix.
   * @param exitCode Process exit code to end with. @default 2
   */
  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

/**
 * Parses a duration: `5s`, `500ms`, `1.5s`, or a bare number of seconds.
 *
 * @param text The flag value.
 * @returns Milliseconds, > 0.
 * @throws {UserError} If it does not parse or is not positive.
 */
export function parseDurationMs(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$/.exec(text.trim());
  if (m === null || Number(m[1]) <= 0) {
    throw new UserError(`invalid duration "${text}": use e.g. 5s, 500ms or 1m`);
  }
  const unit = m[2] ?? "s";
  return Number(m[1]) * (unit === "ms" ? 1 : unit === "s" ? 1000 : 60_000);
}

/**
 * Parses `host:port` (`[::1]:11490` for IPv6; a bare port means 127.0.0.1).
 *
 * @param text The argument.
 * @returns Hostname and port.
 * @throws {UserError} If the port is missing or outside 1..65535.
 */
export function parseHostPort(text: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]*)):([0-9]+)$/.exec(text) ?? /^()()([0-9]+)$/.exec(text);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UserError(`invalid address "${text}": use host:port, e.g. localhost:11490`);
  }
  return { hostname: m[1] || m[2] || "127.0.0.1", port };
}

/**
 * Most edits a suggestion may be away: a third of the typed name's length
 * (so `Hil` -> `Hill` but not `Hx` -> `Hill`), at least 1 and at most 2
 * (server names are short; three edits reach an unrelated name).
 */
function maxEdits(length: number): number {
  return Math.max(1, Math.min(2, Math.floor(length / 3)));
}

/**
 * Edits between two strings, by code point: insertions, deletions,
 * substitutions and swaps of two adjacent characters (optimal string
 * alignment, the restricted Damerau-Levenshtein distance). A swap counts as
 * one edit because `Jaqeuz` for `Jaquez` is one slip of the fingers.
 */
function editDistance(a: readonly string[], b: readonly string[]): number {
  // d[i][j]: edits from the first i characters of a to the first j of b.
  const d = Array.from({ length: a.length + 1 }, (_, i) => {
    const row = new Array<number>(b.length + 1).fill(0);
    row[0] = i;
    return row;
  });
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidate a mistyped name most likely meant, for a "did you mean" hint.
 *
 * A candidate equal to `name` but for case wins (`campbell` -> `Campbell`).
 * Otherwise the candidate fewest edits away, ignoring case, counting an
 * insertion, deletion, substitution or swap of two adjacent characters as
 * one edit, if it is at most a third of `name`'s length away (at least 1, at
 * most 2 edits): `Campbel` -> `Campbell`, `Hil` -> `Hill`, `Jaqeuz` ->
 * `Jaquez`. Among equally close candidates the first in `candidates` wins.
 *
 * @param name What the user typed.
 * @param candidates The valid names, e.g. the server names of herd.toml.
 * @returns A candidate, or `undefined` if `name` is itself a candidate
 *   (nothing to suggest) or none is close.
 * @example
 * ```ts
 * import { didYouMean } from "./args.ts";
 * const names = ["Campbell", "Hill", "Jaquez", "Singleton", "Smith"];
 * if (didYouMean("Campbel", names) !== "Campbell") throw new Error();
 * if (didYouMean("Bailey", names) !== undefined) throw new Error();
 * ```
 */
export function didYouMean(name: string, candidates: readonly string[]): string | undefined {
  if (candidates.includes(name)) return undefined;
  const lower = name.toLowerCase();
  const sameButCase = candidates.find((c) => c.toLowerCase() === lower);
  if (sameButCase !== undefined) return sameButCase;
  const typed = Array.from(lower);
  let best: string | undefined;
  let bestEdits = maxEdits(typed.length) + 1;
  for (const c of candidates) {
    const edits = editDistance(typed, Array.from(c.toLowerCase()));
    if (edits < bestEdits) {
      best = c;
      bestEdits = edits;
    }
  }
  return best;
}

/**
 * The TLS of a client command (`herd send`, `herd bench`) from its `--tls` and `--ca` flags.
 *
 * @param flags `tls`: speak TLS; `ca`: a PEM file of CA certificates to trust besides Deno's
 *   built-in roots.
 * @returns The TLS settings, or `undefined` for plain TCP.
 * @throws {UserError} If `--ca` comes without `--tls`, or its file is missing, unreadable or
 *   not PEM.
 */
export function clientTlsOf(flags: { tls?: boolean; ca?: string }): ClientTls | undefined {
  if (!flags.tls) {
    if (flags.ca !== undefined) throw new UserError("--ca is for TLS: add --tls");
    return undefined;
  }
  if (flags.ca === undefined) return { caCerts: [] };
  try {
    return { caCerts: [readPemFile("ca_file", flags.ca, "--ca")] };
  } catch (e) {
    if (e instanceof TlsFileError) throw new UserError(e.message);
    throw e;
  }
}

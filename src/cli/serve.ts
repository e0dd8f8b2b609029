/**
 * `herd serve <name>`: one herd member, as named in herd.toml, until
 * SIGINT/SIGTERM, then a clean stop (connections closed, logs flushed;
 * see stop_signals.ts for repeated signals).
 *
 * @module
 */

import { ConfigError, findServer, type HerdConfig, loadConfig, withSecret } from "../config.ts";
import { Member } from "../herd/mod.ts";
import {
  type ConsoleVerbosity,
  type EventLog,
  type LoggingOptions,
  LogSetupError,
  memberLog,
  setupLogging,
} from "../log.ts";
import { createProvider, GOOGLE_API_KEY_ENV } from "../places/mod.ts";
import type { PlacesProvider } from "../places/types.ts";
import { didYouMean, UserError } from "./args.ts";
import { StopSignals } from "./stop_signals.ts";
export { StopSignals };

/** Options of `serve` and `simulate`. */
export interface RunOptions {
  /** Path of herd.toml. @default "herd.toml" */
  config: string;
  /** Folder for `<Name>.log`. @default "logs" */
  logDir: string;
  /** Console shows warnings and errors only. @default false */
  quiet: boolean;
  /** Console shows every event, per-message ones too (the files always do). @default false */
  verbose?: boolean;
}

/**
 * Loads herd.toml (with `HERD_SECRET` from the environment overriding `[herd] secret`),
 * turning its errors into a user error (exit 2).
 *
 * @param path The file.
 * @returns The validated config.
 * @throws {UserError} On any config problem.
 */
export async function loadConfigOrFail(path: string): Promise<HerdConfig> {
  try {
    return withSecret(await loadConfig(path), Deno.env.get("HERD_SECRET"));
  } catch (e) {
    if (e instanceof ConfigError) throw new UserError(e.message);
    throw e;
  }
}

/**
 * Creates the configured places provider (a user error if it cannot be). A `google*` provider
 * takes its API key from the environment variable `GOOGLE_PLACES_API_KEY`, never from a file.
 *
 * @param config The herd.
 * @param log Where the provider's `places.stats` and `places.upstream` events go.
 * @returns The provider; call its `close()` at shutdown.
 * @throws {UserError} If the provider cannot be created (unknown name, no API key).
 */
export function placesOrFail(config: HerdConfig, log?: EventLog): PlacesProvider {
  let apiKey: string | undefined;
  if (config.places.provider !== "geonames") {
    try {
      apiKey = Deno.env.get(GOOGLE_API_KEY_ENV);
    } catch {
      throw new UserError(
        `cannot read ${GOOGLE_API_KEY_ENV}: environment access not granted (run with --allow-env)`,
      );
    }
  }
  try {
    return createProvider(config.places, { apiKey, log });
  } catch (e) {
    throw new UserError((e as Error).message);
  }
}

/**
 * Starts a member, translating "port in use" and permission errors into one line.
 *
 * @param member The member.
 * @param where `host:port` it will listen on, for the message.
 * @param listen Override of herd.toml's port (`simulate --demo` uses port 0).
 * @throws {UserError} If it cannot listen.
 */
export function startOrFail(member: Member, where: string, listen?: { port: number }): void {
  try {
    member.start(listen);
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      throw new UserError(
        `cannot listen on ${where} for ${member.name}: port in use (is it already running? change its port in herd.toml)`,
      );
    }
    if (e instanceof Deno.errors.AddrNotAvailable) {
      throw new UserError(
        `cannot listen on ${where} for ${member.name}: that host is not an address of this machine (fix its host in herd.toml)`,
      );
    }
    // Anything else (permission, unknown host) is the config's or the
    // machine's, not a bug: one line, exit 2.
    throw new UserError(`cannot listen on ${where} for ${member.name}: ${(e as Error).message}`);
  }
}

/**
 * Sets up logging, turning a bad log folder into a user error (exit 2).
 *
 * @param options See {@linkcode setupLogging}.
 * @returns The function that flushes and closes the logs.
 * @throws {UserError} If the folder or a file cannot be created.
 */
export async function setupLoggingOrFail(options: LoggingOptions): Promise<() => Promise<void>> {
  try {
    return await setupLogging(options);
  } catch (e) {
    if (e instanceof LogSetupError) throw new UserError(e.message);
    throw e;
  }
}

/**
 * Waits for the first stop signal, logs `member.stopping` for every member and
 * stops them all: replies and floods drain for up to `drain_ms`, unless a
 * signal later than `ABSORB_MS` (1 s, stop_signals.ts) after the first cuts the drain to
 * zero (logged as a second `member.stopping` with `drainMs: 0`). Signals in
 * between are absorbed. Resolves once every member has stopped.
 *
 * @param members The members to stop (all running).
 * @param signals The process's stop signals, installed before start.
 */
export async function stopOnSignals(
  members: readonly Member[],
  signals: StopSignals,
): Promise<void> {
  const signal = await signals.requested;
  for (const m of members) memberLog(m.name).emit("info", "member.stopping", { signal });
  let stopped = false;
  signals.forced.then((forced) => {
    if (stopped) return;
    for (const m of members) {
      memberLog(m.name).emit("warning", "member.stopping", { signal: forced, drainMs: 0 });
      void m.stop(0);
    }
  });
  await Promise.all(members.map((m) => m.stop()));
  stopped = true;
}

/**
 * Keeps a long-running process alive through a stray exception or unhandled
 * rejection: it is logged as an `error` event instead of ending every member.
 * A member's own code catches what it expects; this is the last line of defence.
 *
 * @param log Where the error is reported.
 * @returns A function that removes the handlers.
 */
export function survivePanics(log: EventLog): () => void {
  const onRejection = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    log.emit("error", "error", { reason: `unhandled rejection: ${String(e.reason)}` });
  };
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    log.emit("error", "error", { reason: `uncaught exception: ${String(e.error ?? e.message)}` });
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  globalThis.addEventListener("error", onError);
  return () => {
    globalThis.removeEventListener("unhandledrejection", onRejection);
    globalThis.removeEventListener("error", onError);
  };
}

/**
 * Runs one member until a signal.
 *
 * @param name Server name in herd.toml.
 * @param opts Config path, log folder, verbosity.
 * @throws {UserError} On a bad config, unknown name, or a port in use.
 */
export async function serve(name: string, opts: RunOptions): Promise<void> {
  const config = await loadConfigOrFail(opts.config);
  const server = findServer(config, name);
  if (server === undefined) {
    const names = config.servers.map((s) => s.name);
    const near = didYouMean(name, names);
    const valid = near === undefined ? "valid" : `did you mean "${near}"? Valid`;
    throw new UserError(
      `unknown server "${name}" in ${opts.config}; ${valid}: ${names.join(", ")}`,
    );
  }
  const places = placesOrFail(config, memberLog(name));
  const stopLogging = await setupLoggingOrFail({
    logDir: opts.logDir,
    members: [name],
    console: verbosityOf(opts),
  });
  // Installed before listening: from here on no signal finds the default action (death).
  const signals = new StopSignals();
  try {
    const member = new Member({ config, name, places, log: memberLog(name) });
    try {
      startOrFail(member, `${server.host}:${server.port}`);
    } catch (e) {
      await places.close?.();
      await stopLogging();
      throw e;
    }
    // Always said, even with --quiet: the one sign that start-up worked.
    const where = member.address;
    console.log(
      `${name} listening on ${where.hostname}:${where.port}; logs in ${opts.logDir}/${name}.log; Ctrl-C stops`,
    );
    const unguard = survivePanics(memberLog(name));
    await stopOnSignals([member], signals);
    await places.close?.();
    unguard();
    await stopLogging();
  } finally {
    signals.dispose();
  }
}

/**
 * What the console shows for `--quiet`, the default and `--verbose`.
 *
 * @param opts The run's flags.
 * @returns `"quiet"` (warnings and errors), `"normal"` (what an operator watches) or
 *   `"verbose"` (every event at info and above, per message too).
 */
export function verbosityOf(opts: RunOptions): ConsoleVerbosity {
  return opts.quiet ? "quiet" : opts.verbose ? "verbose" : "normal";
}

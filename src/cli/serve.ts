/**
 * `herd serve <name>`: one herd member, as named in herd.toml, until
 * SIGINT/SIGTERM, then a clean stop (connections closed, logs flushed;
 * see stop_signals.ts for repeated signals).
 *
 * @module
 */

import {
  checkPeerSecret,
  ConfigError,
  findServer,
  type HerdConfig,
  httpAddressOf,
  loadConfig,
  withHttpToken,
  withSecret,
} from "../config.ts";
import { type AddressBook, Member, PeerPortError, tcpListen } from "../herd/mod.ts";
import { MemberTls, TlsFileError } from "../herd/tls.ts";
// Types only: the HTTP face and its metrics (hono, zod, prom-client: about 28 MiB resident) are
// imported when a member has an http_port, so a member without one idles lighter.
import type { HttpFace } from "../http/server.ts";
import type { MemberMetrics } from "../http/metrics.ts";
import { VERSION } from "../version.ts";
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
 * Loads herd.toml (with `HERD_SECRET` from the environment overriding `[herd] secret`, and
 * `HERD_HTTP_TOKEN` overriding `[http] token`),
 * turning its errors into a user error (exit 2).
 *
 * @param path The file.
 * @returns The validated config.
 * @throws {UserError} On any config problem.
 */
export async function loadConfigOrFail(path: string): Promise<HerdConfig> {
  try {
    const config = withSecret(await loadConfig(path), Deno.env.get("HERD_SECRET"));
    checkPeerSecret(config);
    return withHttpToken(config, Deno.env.get("HERD_HTTP_TOKEN"));
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
 * @param listen Override of herd.toml's port, and of its peer_port if it has one
 *   (`simulate --demo` uses port 0).
 * @throws {UserError} If it cannot listen (on its port or its peer port).
 */
export function startOrFail(member: Member, where: string, listen?: { port: number }): void {
  try {
    member.start(listen, listen);
  } catch (e) {
    let [key, cause] = ["port", e];
    if (e instanceof PeerPortError) {
      where = `${e.address.hostname}:${e.address.port} (peer port)`;
      [key, cause] = ["peer_port", e.cause];
    }
    if (cause instanceof Deno.errors.AddrInUse) {
      throw new UserError(
        `cannot listen on ${where} for ${member.name}: port in use (is it already running? change its ${key} in herd.toml)`,
      );
    }
    if (cause instanceof Deno.errors.AddrNotAvailable) {
      const host = key === "port" ? "host" : "peer_host";
      throw new UserError(
        `cannot listen on ${where} for ${member.name}: that host is not an address of this machine (fix its ${host} in herd.toml)`,
      );
    }
    // Anything else (permission, unknown host) is the config's or the
    // machine's, not a bug: one line, exit 2.
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new UserError(`cannot listen on ${where} for ${member.name}: ${why}`);
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

/** A started member, with its HTTP face when herd.toml gives it an `http_port`. */
export interface RunningMember {
  /** The member's name. */
  readonly name: string;
  /** The member. */
  readonly member: Member;
  /** Its HTTP API, or `null`. */
  readonly face: HttpFace | null;
  /** Its TLS (`[tls] peers` or `clients`), or `null`: `tls.reload()` is what SIGHUP calls. */
  readonly tls: MemberTls | null;
  /** Where its events go (the member's log, with metrics when it has an HTTP face). */
  readonly log: EventLog;
  /**
   * Stops the HTTP face (streams closed, requests in flight answered), then the member.
   *
   * @param drainMs See `Member.stop`.
   */
  stop(drainMs?: number): Promise<void>;
}

/** Options of {@linkcode startMember}. */
export interface StartOptions {
  /** Shared address book of an in-process herd (simulate). */
  addresses?: AddressBook;
  /** Listen on port 0 (TCP and HTTP) instead of herd.toml's ports (the demo). */
  portZero?: boolean;
  /** The member's metrics, when the caller made them first (to count its places provider too). */
  metrics?: MemberMetrics;
  /**
   * Each member's HTTP base URL by name, shared by the members of one process: a face adds its
   * real URL once it listens (port 0), and `/v1/herd` and CORS read it. @default herd.toml's
   */
  httpOrigins?: Map<string, string>;
  /** The member's event log. @default the process logger of the member (`memberLog(name)`) */
  log?: EventLog;
}

/**
 * Starts a member and, if herd.toml gives it an `http_port`, its HTTP API,
 * translating listen errors into one line.
 *
 * @param config The herd (its `[http] token` already merged with `HERD_HTTP_TOKEN`).
 * @param name The member's name.
 * @param places The places provider.
 * @param opts Address book and ports.
 * @returns The running member.
 * @throws {UserError} If the member or its HTTP API cannot listen.
 */
export async function startMember(
  config: HerdConfig,
  name: string,
  places: PlacesProvider,
  opts: StartOptions = {},
): Promise<RunningMember> {
  const server = findServer(config, name)!;
  // Metrics are read over HTTP only: a member without an http_port counts nothing.
  const http = httpAddressOf(server);
  const web = http === undefined ? null : await import("../http/mod.ts");
  const metrics = opts.metrics ?? (web === null ? null : new web.MemberMetrics({ member: name }));
  const plain = opts.log ?? memberLog(name);
  const log = metrics === null ? plain : metrics.wrap(plain);
  const tls = tlsOrFail(config, log);
  const member = new Member({
    config,
    name,
    places,
    log,
    addresses: opts.addresses,
    // TLS per listener: the client port with tls.clients, the peer port (and the dials to
    // neighbours' peer ports) with tls.peers; each is plain TCP otherwise.
    listen: config.tls.clients ? tls?.listen : tcpListen,
    peerListen: config.tls.peers ? tls?.listen : tcpListen,
    dial: config.tls.peers ? tls?.dial : undefined,
  });
  startOrFail(member, `${server.host}:${server.port}`, opts.portZero ? { port: 0 } : undefined);
  let face: HttpFace | null = null;
  if (http !== undefined && web !== null && metrics !== null) {
    face = new web.HttpFace({
      member,
      config,
      log,
      places,
      version: VERSION,
      token: config.http.token,
      metrics,
      origins: opts.httpOrigins,
      tls: config.tls.clients ? tls ?? undefined : undefined,
    });
    try {
      face.start(opts.portZero ? { ...http, port: 0 } : http);
    } catch (e) {
      await member.stop(0);
      const where = `${http.hostname}:${http.port}`;
      const why = e instanceof Deno.errors.AddrInUse
        ? "port in use (is it already running? change its http_port in herd.toml)"
        : (e as Error).message;
      throw new UserError(`cannot listen on ${where} (HTTP) for ${name}: ${why}`);
    }
  }
  const hub = face?.hub;
  metrics?.attach({
    links: () => member.links.values(),
    connections: () => member.connections,
    records: () => member.store.size,
    sync: () => member.sync,
    streams: () => hub ?? { subscribers: 0, droppedTotal: 0, stuckClosedTotal: 0 },
  });
  const running: RunningMember = {
    name,
    member,
    face,
    tls,
    log,
    async stop(drainMs?: number) {
      await face?.stop();
      await member.stop(drainMs);
    },
  };
  return running;
}

/**
 * Reads the `[tls]` files when `peers` or `clients` is on, turning a bad file into a user error.
 *
 * @param config The herd.
 * @param log Where handshake failures and reloads go.
 * @returns The member's TLS, or `null` when neither listener uses it.
 * @throws {UserError} If a file is missing, unreadable, not PEM, or the pair does not match.
 */
export function tlsOrFail(config: HerdConfig, log: EventLog): MemberTls | null {
  if (!config.tls.peers && !config.tls.clients) return null;
  try {
    return new MemberTls(config.tls, log);
  } catch (e) {
    if (e instanceof TlsFileError) throw new UserError(e.message);
    throw e;
  }
}

/**
 * Makes SIGHUP reload the certificates of the running members (`tls.reloaded` or
 * `tls.reload.failed` in each log; a failed reload keeps the old ones). A member without TLS
 * logs `tls.reload.failed` and goes on (the signal never stops a member). Not on Windows.
 *
 * @param members The running members.
 * @returns A function that removes the listener.
 */
export function reloadTlsOnSighup(members: ReadonlyArray<RunningMember>): () => void {
  if (Deno.build.os === "windows") return () => {};
  // Installed with no TLS too: SIGHUP's default action would end the process, and the docs tell
  // operators to send it to rotate certificates.
  const onHup = () => {
    for (const m of members) {
      if (m.tls !== null) m.tls.reload().catch(() => {}); // logged by reload()
      else {
        m.log.emit("warning", "tls.reload.failed", {
          reason: "SIGHUP: nothing to reload, no [tls] peers or clients",
        });
      }
    }
  };
  Deno.addSignalListener("SIGHUP", onHup);
  return () => Deno.removeSignalListener("SIGHUP", onHup);
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
  members: ReadonlyArray<{ readonly name: string; stop(drainMs?: number): Promise<void> }>,
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
  // One set of metrics for the member and its places provider (cache and upstream counters),
  // when the member has an HTTP face to show them.
  const metrics = server.httpPort === undefined
    ? undefined
    : new (await import("../http/mod.ts")).MemberMetrics({ member: name });
  const places = placesOrFail(config, metrics?.wrap(memberLog(name)) ?? memberLog(name));
  const stopLogging = await setupLoggingOrFail({
    logDir: opts.logDir,
    members: [name],
    console: verbosityOf(opts),
    ...config.log,
  });
  // Installed before listening: from here on no signal finds the default action (death).
  const signals = new StopSignals();
  try {
    let running: RunningMember;
    try {
      running = await startMember(config, name, places, { metrics });
    } catch (e) {
      await places.close?.();
      await stopLogging();
      throw e;
    }
    // Always said, even with --quiet: the one sign that start-up worked.
    const where = running.member.address;
    const clientTls = config.tls.clients ? " (TLS)" : "";
    const http = running.face === null
      ? ""
      : `; HTTP on ${
        config.tls.clients ? "https" : "http"
      }://${running.face.address.hostname}:${running.face.address.port}`;
    const peer = running.member.peerAddress;
    const peerTls = config.tls.peers ? " (TLS)" : "";
    const peers = peer === null ? "" : `; neighbours on ${peer.hostname}:${peer.port}${peerTls}`;
    console.log(
      `${name} listening on ${where.hostname}:${where.port}${clientTls}${peers}${http}; logs in ${opts.logDir}/${name}.log; Ctrl-C stops`,
    );
    const unguard = survivePanics(memberLog(name));
    const unhup = reloadTlsOnSighup([running]);
    await stopOnSignals([running], signals);
    unhup();
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

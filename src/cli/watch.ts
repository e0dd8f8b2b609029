/**
 * `herd watch <host:http_port>`: follows a member's live stream
 * (`GET /v1/stream`, docs/HTTP.md) over a WebSocket and prints one line per
 * event until Ctrl-C.
 *
 * Exit codes: 0 on SIGINT/SIGTERM (or a closed stdout); 1 when the member
 * closes the stream (it stops, or this reader fell 30 s behind) or the
 * connection is lost; 2 when the stream cannot be opened (bad flag, connection
 * refused, 401, any other refusal), as one `herd: ...` line.
 *
 * @module
 */

import { MAX_NEAR_RADIUS_KM } from "../geo/mod.ts";
import { parseHostPort, UserError } from "./args.ts";
import { StopSignals } from "./stop_signals.ts";

/** The environment variable whose value is the default `--token`. */
export const TOKEN_ENV = "HERD_HTTP_TOKEN";

/**
 * How long the WebSocket handshake may take, ms: a member answers in
 * milliseconds, so this long means nothing HTTP is listening there (a
 * firewall dropping packets, a server that never answers).
 */
export const CONNECT_TIMEOUT_MS = 10_000;

/** How long a stop waits for the member to answer our close frame, ms. */
const CLOSE_WAIT_MS = 1_000;

/** How long the follow-up request that reads a refusal's problem document may take, ms. */
const DETAIL_TIMEOUT_MS = 2_000;

/** Longest text of an unreadable message quoted in a warning, characters. */
const MAX_QUOTED = 120;

/** A circle to watch: the stream's `near` and `radius_km`. */
export interface WatchCircle {
  /** Latitude as typed (no `+`), degrees north. */
  readonly lat: string;
  /** Longitude as typed (no `+`), degrees east. */
  readonly lng: string;
  /** Radius as typed, km. */
  readonly radiusKm: string;
}

/** Options of {@linkcode watch}. */
export interface WatchOptions {
  /** `--client`: watch these client ids' updates (none: every update, or the circle). */
  clients: readonly string[];
  /** `--near lat,lng,r_km`: geofence events of this circle instead. */
  near?: string;
  /** `--token`: sent as `Authorization: Bearer`. @default the value of HERD_HTTP_TOKEN */
  token?: string;
  /** `--json`: print each event's JSON text as received instead of a line for people. */
  json: boolean;
  /**
   * Writes one line of output (without LF); throwing `Deno.errors.BrokenPipe`
   * ends the watch with exit 0.
   * @default a synchronous write to stdout
   */
  out?: (line: string) => void;
  /**
   * Writes one line of diagnostics (without LF): warnings and the reason the stream ended.
   * @default a synchronous write to stderr
   */
  err?: (line: string) => void;
  /** Resolves when the user wants to stop. @default the first SIGINT or SIGTERM */
  stop?: Promise<unknown>;
  /** The clock that stamps each event line. @default `() => new Date()` */
  now?: () => Date;
}

/**
 * Parses `--near`: `lat,lng,r_km` in degrees and km, e.g. `34.06,-118.44,5`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseNear } from "./watch.ts";
 * assert.deepEqual(parseNear("+34.06,-118.44,5"), { lat: "34.06", lng: "-118.44", radiusKm: "5" });
 * ```
 *
 * @param text The flag's value.
 * @returns The circle, each number as typed without a leading `+`.
 * @throws {UserError} If it is not three numbers, a coordinate is out of range, or the
 *   radius is not within 0 < r <= 20,038 km.
 */
export function parseNear(text: string): WatchCircle {
  const parts = text.split(",").map((p) => p.trim());
  const coordinate = /^[+-]?[0-9]+(?:\.[0-9]+)?$/;
  const usage =
    `invalid --near "${text}": use lat,lng,r_km in degrees and km, e.g. 34.06,-118.44,5`;
  if (parts.length !== 3 || !coordinate.test(parts[0]) || !coordinate.test(parts[1])) {
    throw new UserError(usage);
  }
  const [lat, lng] = parts.slice(0, 2).map((p) => p.replace(/^\+/, ""));
  if (Math.abs(Number(lat)) > 90) {
    throw new UserError(`invalid --near "${text}": latitude must be -90..90`);
  }
  if (Math.abs(Number(lng)) > 180) {
    throw new UserError(`invalid --near "${text}": longitude must be -180..180`);
  }
  const r = Number(parts[2]);
  if (!/^[0-9.eE+-]+$/.test(parts[2]) || !(r > 0 && r <= MAX_NEAR_RADIUS_KM)) {
    throw new UserError(
      `invalid --near "${text}": the radius must be a number of km, 0 < r <= ${MAX_NEAR_RADIUS_KM}`,
    );
  }
  return { lat, lng, radiusKm: parts[2] };
}

/**
 * The WebSocket URL of a member's stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { streamUrl } from "./watch.ts";
 * assert.equal(
 *   streamUrl("localhost:11590", { clients: ["kiwi", "a&b"] }),
 *   "ws://localhost:11590/v1/stream?client=kiwi&client=a%26b",
 * );
 * ```
 *
 * @param target `host:port` (a bare port is 127.0.0.1; `[::1]:port` for IPv6), or the
 *   member's base URL as `herd simulate` prints it (`http://127.0.0.1:11590`; https gives wss).
 * @param filter Client ids, or a circle; neither for every update.
 * @returns The `ws://` or `wss://` URL of `/v1/stream` with the filter as its query.
 * @throws {UserError} On a bad address, or both clients and a circle.
 */
export function streamUrl(
  target: string,
  filter: { clients?: readonly string[]; near?: WatchCircle },
): string {
  let url: URL;
  const scheme = /^(https?|wss?):\/\//i.exec(target);
  if (scheme !== null) {
    try {
      url = new URL(target);
    } catch {
      throw new UserError(`invalid address "${target}": use host:port, e.g. localhost:11590`);
    }
    url.protocol = /^(https|wss)$/i.test(scheme[1]) ? "wss:" : "ws:";
  } else {
    const { hostname, port } = parseHostPort(target);
    url = new URL(`ws://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`);
  }
  url.pathname = "/v1/stream";
  url.search = "";
  url.hash = "";
  const clients = filter.clients ?? [];
  if (clients.length > 0 && filter.near !== undefined) {
    throw new UserError("use --client or --near, not both");
  }
  for (const id of clients) {
    if (id === "" || /[\s\p{Cc}]/u.test(id)) {
      throw new UserError(
        `invalid --client ${JSON.stringify(id)}: a client id has no white space`,
      );
    }
    url.searchParams.append("client", id);
  }
  if (filter.near !== undefined) {
    url.searchParams.set("near", `${filter.near.lat},${filter.near.lng}`);
    url.searchParams.set("radius_km", filter.near.radiusKm);
  }
  return url.href;
}

/** `14:03:07.042`: hours, minutes, seconds and milliseconds of local time. */
function clockText(d: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${
    String(d.getMilliseconds()).padStart(3, "0")
  }`;
}

/** A field from the member, safe to print on a terminal: control characters as `\xNN`. */
function printable(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? "";
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`);
}

/** What one stream message asks the watcher to print. */
export type WatchLine =
  | { readonly out: string }
  | { readonly warn: string };

/**
 * The line a stream event prints as: `14:03:07.042 enter kiwi +34.100000-118.200000 (Campbell)`
 * for a record event (`update`, `enter`, `inside`, `exit`: the local time of arrival, the type,
 * the client, its location and the member that received its update), `erased <client>
 * (<member>)` for an erased client, a warning for a `lagged` event, and for an event of an
 * unknown type its time, type and JSON.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatEvent } from "./watch.ts";
 * const record = { server: "Hill", client: "kiwi", location: "+34.100000-118.200000" };
 * assert.deepEqual(
 *   formatEvent(JSON.stringify({ type: "exit", record }), new Date(2026, 0, 1, 4, 1, 2, 345)),
 *   { out: "04:01:02.345 exit kiwi +34.100000-118.200000 (Hill)" },
 * );
 * ```
 *
 * @param text The message's text (one JSON event).
 * @param at When it arrived.
 * @returns A line for stdout, or a warning for stderr (without the `herd: warning: ` prefix).
 */
export function formatEvent(text: string, at: Date): WatchLine {
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch {
    event = undefined;
  }
  if (typeof event !== "object" || event === null || typeof (event as Rec).type !== "string") {
    const quoted = text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}...` : text;
    return { warn: `not a stream event, skipped: ${printable(JSON.stringify(quoted))}` };
  }
  const e = event as Rec;
  const time = clockText(at);
  if (e.type === "lagged") {
    return {
      warn: `this watcher fell behind: the member dropped ${printable(e.dropped)} events`,
    };
  }
  if (e.type === "erased") {
    return { out: `${time} erased ${printable(e.client)} (${printable(e.server)})` };
  }
  const record = e.record;
  if (typeof record === "object" && record !== null) {
    const r = record as Rec;
    return {
      out: `${time} ${printable(e.type)} ${printable(r.client)} ${printable(r.location)} (${
        printable(r.server)
      })`,
    };
  }
  const { type, ...rest } = e;
  return { out: `${time} ${printable(type)} ${printable(rest)}` };
}

/** A parsed JSON object. */
type Rec = Record<string, unknown>;

/** The token of the environment, or `undefined` (unset, empty or not readable). */
function tokenFromEnv(): string | undefined {
  try {
    const value = Deno.env.get(TOKEN_ENV);
    return value === "" ? undefined : value;
  } catch {
    // No --allow-env: no default token.
    return undefined;
  }
}

/** Writes `line` and a LF to a file descriptor synchronously, all of it. */
function writeLine(file: { writeSync(p: Uint8Array): number }, line: string): void {
  const bytes = new TextEncoder().encode(line + "\n");
  for (let w = 0; w < bytes.length;) w += file.writeSync(bytes.subarray(w));
}

/** `host:port` of a ws URL, for messages. */
function hostOf(url: string): string {
  return new URL(url).host;
}

/**
 * Why the handshake failed, as one line for the user. Deno's WebSocket only says
 * `Invalid status code: 404`; for statuses other than 401 the same URL is asked
 * once more over plain HTTP to read the problem document's `detail`.
 */
async function refusal(url: string, message: string, token: string | undefined): Promise<string> {
  const where = hostOf(url);
  const status = /Invalid status code:? (\d{3})/i.exec(message)?.[1];
  const why = message.replace(/^NetworkError: /, "").replace(
    /^failed to connect to WebSocket: /,
    "",
  );
  if (status === undefined) {
    if (/tcp connect/i.test(why)) {
      return `cannot connect to ${where}: connection refused or unreachable (is a herd member ` +
        `listening there? use its http_port)`;
    }
    if (/HTTP/.test(why)) {
      return `cannot open the stream at ${where}: the answer is not HTTP (${why}); ` +
        `is that a member's TCP port? use its http_port`;
    }
    return `cannot open the stream at ${where}: ${why || "the connection failed"}`;
  }
  if (status === "401") {
    return token === undefined
      ? `${where} needs a token: pass --token <token> or set ${TOKEN_ENV}`
      : `${where} refused the token (401): check --token or ${TOKEN_ENV}`;
  }
  let detail = "";
  try {
    const res = await fetch(url.replace(/^ws/, "http"), {
      headers: {
        accept: "application/problem+json, application/json",
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      signal: AbortSignal.timeout(DETAIL_TIMEOUT_MS),
    });
    if (/json/.test(res.headers.get("content-type") ?? "")) {
      const body = await res.json();
      if (typeof body?.detail === "string") detail = `: ${printable(body.detail)}`;
    } else {
      await res.body?.cancel();
    }
  } catch {
    // The status alone says enough.
  }
  const hint = status === "404" && detail === "" ? " (is this a herd member's http_port?)" : "";
  return `${where} refused the stream (HTTP ${status})${detail}${hint}`;
}

/**
 * Follows a member's stream until the user stops it, printing each event.
 *
 * @param target `host:port` of the member's HTTP API (or its `http://` base URL).
 * @param opts Filter, token, output format and where lines go.
 * @returns The exit code: 0 when stopped by the user (or stdout closed), 1 when the member
 *   closed the stream or the connection was lost (the reason goes to `err`).
 * @throws {UserError} (exit 2) On a bad flag or address, or when the stream cannot be
 *   opened: connection refused, no handshake within {@linkcode CONNECT_TIMEOUT_MS}, 401
 *   (with a hint about the token), or any other refusal.
 */
export async function watch(target: string, opts: WatchOptions): Promise<number> {
  const near = opts.near === undefined ? undefined : parseNear(opts.near);
  const url = streamUrl(target, { clients: opts.clients, near });
  const token = opts.token ?? tokenFromEnv();
  const out = opts.out ?? ((line: string) => writeLine(Deno.stdout, line));
  const err = opts.err ?? ((line: string) => writeLine(Deno.stderr, line));
  const now = opts.now ?? (() => new Date());
  const signals = opts.stop === undefined ? new StopSignals() : null;
  const stop = opts.stop ?? signals!.requested;
  try {
    return await follow(url, token, opts.json, { out, err, now, stop });
  } finally {
    signals?.dispose();
  }
}

/** The socket's life: resolves with the exit code, or rejects with a UserError (exit 2). */
function follow(
  url: string,
  token: string | undefined,
  json: boolean,
  io: {
    out: (line: string) => void;
    err: (line: string) => void;
    now: () => Date;
    stop: Promise<unknown>;
  },
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(
      url,
      token === undefined ? undefined : {
        headers: { authorization: `Bearer ${token}` },
      },
    );
    let opened = false;
    let stopping = false;
    let settled = false;
    let errorText = "";
    let closeTimer: ReturnType<typeof setTimeout> | undefined;
    let connectTimer: ReturnType<typeof setTimeout> | undefined = undefined;
    const finish = (code: number | UserError) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(closeTimer);
      if (code instanceof UserError) reject(code);
      else resolve(code);
    };
    /** Ends the watch at the user's request: a clean close, not waited on for long. */
    const quit = () => {
      if (stopping || settled) return;
      stopping = true;
      try {
        ws.close(1000, "bye");
      } catch {
        // Already closing.
      }
      closeTimer = setTimeout(() => finish(0), CLOSE_WAIT_MS);
    };
    connectTimer = setTimeout(() => {
      if (opened || settled) return;
      finish(
        new UserError(
          `no answer from ${hostOf(url)} within ${CONNECT_TIMEOUT_MS / 1000} s: ` +
            `is it a herd member's http_port?`,
        ),
      );
      try {
        ws.close();
      } catch {
        // It never opened.
      }
    }, CONNECT_TIMEOUT_MS);
    io.stop.then(quit);

    ws.onopen = () => {
      opened = true;
      clearTimeout(connectTimer);
    };
    ws.onmessage = (m: MessageEvent) => {
      if (stopping || settled) return;
      const text = typeof m.data === "string" ? m.data : "";
      const line = formatEvent(text, io.now());
      try {
        if (json && text !== "") io.out(text);
        if ("warn" in line) io.err(`herd: warning: ${line.warn}`);
        else if (!json) io.out(line.out);
      } catch (e) {
        // `herd watch | head` closed our stdout: the reader has what it wanted.
        if (e instanceof Deno.errors.BrokenPipe) quit();
        else throw e;
      }
    };
    ws.onerror = (e: Event) => {
      errorText = e instanceof ErrorEvent ? e.message : String(e);
    };
    ws.onclose = async (e: CloseEvent) => {
      if (settled) return;
      if (stopping) return finish(0);
      if (!opened) {
        return finish(new UserError(await refusal(url, errorText, token)));
      }
      const why = e.code === 1006 || e.code === 0
        ? `the connection to ${hostOf(url)} was lost`
        : `${hostOf(url)} closed the stream: ${printable(e.reason || `code ${e.code}`)}`;
      io.err(`herd: ${why}`);
      finish(1);
    };
  });
}

/**
 * The herd against Redis 7 with replicas, side by side (issue 13): the same
 * load shape into both, in one sitting, alternating run by run.
 *
 * Usage:
 *
 * ```sh
 * deno run --allow-run --allow-net=127.0.0.1 --allow-read --allow-write \
 *   scripts/redis_compare.ts [--runs 5] [--updates 100000] [--connections 4] [--window 64] \
 *   [--port 27490] [--dissemination tree|flood] [--warmup 10000] [--only redis|herd] \
 *   [--poll-ms 2] [--settle-ms 300] [--timeout 120] [--herd-dir DIR] \
 *   [--redis-server redis-server] [--verify] [--json]
 * ```
 *
 * Needs `redis-server` (7.x) on PATH, only as the comparator: Debian/Ubuntu
 * `apt-get install redis-server`, macOS `brew install redis`. The script
 * installs nothing; without it, it says so and exits 2.
 *
 * **Redis**: a primary and four replicas (`replicaof` the primary) on
 * 127.0.0.1, ports `--port`+10 .. +14, each with its own folder and
 * configuration file: `appendonly yes`, `appendfsync everysec`, `save ""` (no
 * RDB snapshots). The script waits until the primary's `INFO replication`
 * lists four replicas `online`. A run is `--updates` `GEOADD herd <lng> <lat>
 * client-<run>-<i>` (each a new member) through `--connections` connections to
 * the primary, `--window` commands in flight on each (RESP written and read
 * here, pipelined: the window is refilled after each read, one write per
 * read), each reply checked to be `:1`. Converged: every replica's
 * `ZCARD herd` equals the primary's count before the run plus the run's
 * updates.
 *
 * **herd**: the default five-member herd (herd.toml's six links, GeoNames
 * places) as five `deno run ... main.ts serve <Name> --config <tmp>/herd.toml
 * --log-dir <tmp>/logs --quiet` processes, like scripts/perf_targets.ts, at
 * ports `--port` .. +4, with `[herd] dissemination` set when
 * `--dissemination` is given (refused with exit 2 if that herd's config
 * parser rejects it). The script waits until every member's log shows each
 * of its links open and a probe update is answered by every member. A run is
 * `--updates` `IAMAT client-<run>-<i> <position> <now>` (each a new client)
 * into Hill with the same connections and window, each reply checked to start
 * with `AT `. Converged: every member answers `WHATSAT <id> 10 1` with an `AT`
 * line for the last client of every connection. A member stores and relays
 * the updates of one connection in the order Hill sent them (each link is one
 * FIFO TCP stream), so holding the last one means holding them all, unless a
 * link's queue overflowed and dropped flood lines (`peer.queue.overflow`;
 * anti-entropy brings them later). `--verify` checks that after each herd run,
 * outside the timed part, from the four other members' logs (slow: greps
 * hundreds of MB): the run's `record.stored` events must reach `--updates` on
 * each; it prints when the last was stored (log time, ms, after the last
 * reply) and the `peer.queue.overflow` events logged during the run.
 *
 * **Per run**, for each side: updates/s from the first write to the last
 * reply; updates/s from the first write to converged; the time from the last
 * reply to converged, ms (polled: every replica or member is asked again
 * `--poll-ms` after its last answer, so it is late by up to one round trip
 * plus that); CPU per update, µs: user + system (+ reaped children: a Redis
 * AOF rewrite) CPU of the five server processes, from /proc/<pid>/stat,
 * from just before the first write to `--settle-ms` after converged (deferred
 * work such as herd's 200 ms log flush and Redis's background fsync lands in
 * the window), divided by the updates, in all and per server; the same for
 * this script's process (the load generator and pollers: the share of the two
 * cores the servers did not get); the 1-minute load average at the end of
 * the run. Runs
 * alternate Redis, herd, herd, Redis, ... so that both sides see the same
 * drift of a shared machine; both stay up for the whole session (the idle one
 * costs almost nothing), so later runs find larger stores. Before the
 * counted runs each side gets one `--warmup` run (not reported) to compile
 * the hot paths. At the end: median and min - max over the runs of each
 * figure, and of herd/Redis per pair.
 *
 * `--herd-dir` names the checkout whose main.ts the members run (default: the
 * one this script is in), so a fixed commit (`git archive <commit> | tar -x
 * -C <dir>`) can be measured while the working tree changes. Everything is
 * on 127.0.0.1; every process started is stopped and the temporary folder
 * removed at the end, also on Ctrl-C or SIGTERM. Each load is cut off at
 * `--timeout` s, each convergence at `--timeout` s, each start at 20 s.
 *
 * @module
 */

import { ConfigError, defaultConfig, DISSEMINATIONS, parseConfig } from "../src/config.ts";
import { logFilesOldestFirst } from "../src/log.ts";
import { serveArgs, storedClients } from "./_serve.ts";
import { ReplyFramer } from "../src/client/reply_framer.ts";

// ---------------------------------------------------------------------------------------------
// RESP: the few pieces of the Redis protocol this script speaks (RESP2).

/** An error reply (`-ERR ...`) of a Redis server: a value, not thrown. */
export class RespErrorReply {
  /**
   * @param message The text after `-`, e.g. `ERR unknown command`.
   */
  constructor(readonly message: string) {}
}

/**
 * One decoded RESP2 value: a simple or bulk string, an integer, `null` (a
 * null bulk string or array), an error reply, or an array of values.
 */
export type RespValue = string | number | null | RespErrorReply | RespValue[];

/**
 * Bytes of `text` in UTF-8, without encoding it (a bulk string's length
 * prefix counts bytes, not characters).
 *
 * @param text Any string; a lone surrogate counts 3 bytes, as TextEncoder writes U+FFFD.
 * @returns The UTF-8 length in bytes.
 */
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/**
 * A command as a RESP array of bulk strings, the form every Redis command
 * takes on the wire.
 *
 * @example
 * ```ts
 * import { encodeCommand } from "./redis_compare.ts";
 * if (encodeCommand(["ZCARD", "herd"]) !== "*2\r\n$5\r\nZCARD\r\n$4\r\nherd\r\n") throw new Error();
 * ```
 *
 * @param args The command name and its arguments.
 * @returns The RESP text (to be UTF-8 encoded as is).
 */
export function encodeCommand(args: readonly string[]): string {
  let text = `*${args.length}\r\n`;
  for (const a of args) text += `$${utf8Length(a)}\r\n${a}\r\n`;
  return text;
}

const CR = 0x0d;
const LF = 0x0a;
const decoder = new TextDecoder();

/** Parses an integer field of a RESP header line. @throws {SyntaxError} If it is not one. */
function respInteger(text: string): number {
  if (!/^-?[0-9]+$/.test(text)) {
    throw new SyntaxError(`Cannot decode RESP: expected an integer, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/**
 * The value starting at `pos` and the offset after it, or `undefined` if
 * `bytes` ends before the value does.
 */
function decodeAt(bytes: Uint8Array, pos: number): { value: RespValue; next: number } | undefined {
  if (pos >= bytes.length) return undefined;
  const lf = bytes.indexOf(LF, pos);
  if (lf === -1) return undefined;
  if (lf === pos || bytes[lf - 1] !== CR) {
    throw new SyntaxError(`Cannot decode RESP: a line at byte ${pos} does not end with CR LF`);
  }
  const type = bytes[pos];
  const line = decoder.decode(bytes.subarray(pos + 1, lf - 1));
  const after = lf + 1;
  switch (type) {
    case 0x2b: // +
      return { value: line, next: after };
    case 0x2d: // -
      return { value: new RespErrorReply(line), next: after };
    case 0x3a: // :
      return { value: respInteger(line), next: after };
    case 0x24: { // $
      const n = respInteger(line);
      if (n === -1) return { value: null, next: after };
      if (n < 0) throw new SyntaxError(`Cannot decode RESP: bulk string length ${n}`);
      if (after + n + 2 > bytes.length) return undefined;
      if (bytes[after + n] !== CR || bytes[after + n + 1] !== LF) {
        throw new SyntaxError(
          `Cannot decode RESP: bulk string of ${n} bytes not followed by CR LF`,
        );
      }
      return { value: decoder.decode(bytes.subarray(after, after + n)), next: after + n + 2 };
    }
    case 0x2a: { // *
      const n = respInteger(line);
      if (n === -1) return { value: null, next: after };
      if (n < 0) throw new SyntaxError(`Cannot decode RESP: array length ${n}`);
      const items: RespValue[] = [];
      let next = after;
      for (let k = 0; k < n; k++) {
        const item = decodeAt(bytes, next);
        if (item === undefined) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new SyntaxError(
        `Cannot decode RESP: unknown type byte 0x${type.toString(16)} at byte ${pos}`,
      );
  }
}

/** Default cap on the bytes a {@linkcode RespDecoder} holds between pushes: 64 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

/**
 * Decodes a stream of RESP2 replies, however it is cut into reads: a value
 * may span many chunks and a chunk may hold many values.
 *
 * @example
 * ```ts
 * import { RespDecoder } from "./redis_compare.ts";
 * const d = new RespDecoder();
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * if (d.push(bytes(":4\r\n$3\r\nab")).length !== 1) throw new Error();
 * if (d.push(bytes("c\r\n"))[0] !== "abc") throw new Error();
 * ```
 */
export class RespDecoder {
  #held: Uint8Array = new Uint8Array(0);

  /**
   * @param maxBufferedBytes Most bytes of unfinished values held between
   *   pushes; past it {@linkcode RespDecoder.push} throws a RangeError.
   */
  constructor(readonly maxBufferedBytes: number = DEFAULT_MAX_BUFFERED_BYTES) {}

  /** Bytes of an unfinished value held (0 between values). */
  get bufferedBytes(): number {
    return this.#held.length;
  }

  /**
   * Decodes the next bytes of the stream.
   *
   * @param chunk The bytes read; the decoder copies what it keeps.
   * @returns The values completed by `chunk`, in order (often none).
   * @throws {SyntaxError} On bytes that are not RESP2; the stream is then out of step.
   * @throws {RangeError} If an unfinished value grows past `maxBufferedBytes`.
   */
  push(chunk: Uint8Array): RespValue[] {
    let bytes = chunk;
    if (this.#held.length > 0) {
      bytes = new Uint8Array(this.#held.length + chunk.length);
      bytes.set(this.#held);
      bytes.set(chunk, this.#held.length);
    }
    const out: RespValue[] = [];
    let pos = 0;
    for (;;) {
      const r = decodeAt(bytes, pos);
      if (r === undefined) break;
      out.push(r.value);
      pos = r.next;
    }
    if (bytes.length - pos > this.maxBufferedBytes) {
      throw new RangeError(
        `Cannot decode RESP: an unfinished value passed ${this.maxBufferedBytes} bytes`,
      );
    }
    this.#held = bytes.slice(pos);
    return out;
  }
}

/**
 * The `key:value` fields of an `INFO` reply (sections and blank lines skipped).
 *
 * @param text The bulk string INFO answers.
 * @returns Each field's value by key.
 */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

// ---------------------------------------------------------------------------------------------
// Pure helpers of the measurement.

/**
 * Counts complete one-line replies in a stream, and those that do not start
 * with the success prefix (`AT ` for an IAMAT, `:1\r` for a GEOADD of a new
 * member), however the stream is cut into reads.
 *
 * @example
 * ```ts
 * import { LineReplies } from "./redis_compare.ts";
 * const r = new LineReplies(":1\r");
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * const a = r.push(bytes(":1\r\n:0\r\n:"));
 * const b = r.push(bytes("1\r\n"));
 * if (a.lines !== 2 || a.bad !== 1 || b.lines !== 1 || b.bad !== 0) throw new Error();
 * ```
 */
export class LineReplies {
  readonly #prefix: Uint8Array;
  // Bytes of the current line seen so far (counted up to the prefix's length).
  #col = 0;
  #ok = true;

  /** @param prefix What every successful reply starts with (ASCII). */
  constructor(prefix: string) {
    this.#prefix = new TextEncoder().encode(prefix);
  }

  /**
   * Frames the next bytes.
   *
   * @param chunk The bytes read.
   * @returns `lines`: replies completed by `chunk`; `bad`: how many of them did
   *   not start with the prefix.
   */
  push(chunk: Uint8Array): { lines: number; bad: number } {
    const p = this.#prefix;
    const n = chunk.length;
    let i = 0;
    let lines = 0;
    let bad = 0;
    while (i < n) {
      while (this.#col < p.length && i < n && chunk[i] !== LF) {
        if (chunk[i] !== p[this.#col]) this.#ok = false;
        this.#col++;
        i++;
      }
      if (i === n) break;
      const lf = chunk.indexOf(LF, i);
      if (lf === -1) {
        this.#col = p.length;
        break;
      }
      lines++;
      if (!this.#ok || this.#col < p.length) bad++;
      this.#col = 0;
      this.#ok = true;
      i = lf + 1;
    }
    return { lines, bad };
  }
}

/**
 * CPU seconds a process has used, from one line of /proc/<pid>/stat: user +
 * system time of all its threads, plus that of its reaped children.
 *
 * @param stat The file's text.
 * @param ticksPerSecond The clock tick (`getconf CLK_TCK`, 100 on Linux).
 * @returns Seconds.
 * @throws {SyntaxError} If the text is not a stat line.
 */
export function cpuSecondsOfStat(stat: string, ticksPerSecond: number): number {
  // "<pid> (<comm>) <state> ...": comm may hold spaces and parentheses, so cut at the last ")".
  const close = stat.lastIndexOf(")");
  const fields = stat.slice(close + 2).trim().split(" ");
  // fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14 - 17.
  const ticks = fields.slice(11, 15).map(Number);
  if (close === -1 || ticks.length !== 4 || ticks.some((t) => !Number.isFinite(t))) {
    throw new SyntaxError(`Cannot parse /proc/<pid>/stat: ${stat.slice(0, 80)}`);
  }
  return (ticks[0] + ticks[1] + ticks[2] + ticks[3]) / ticksPerSecond;
}

/** Median, minimum and maximum of some figures. */
export interface Spread {
  /** The middle value (mean of the two middle ones for an even count). */
  median: number;
  /** Smallest. */
  min: number;
  /** Largest. */
  max: number;
}

/**
 * Median, minimum and maximum.
 *
 * @param xs At least one number.
 * @returns The spread.
 * @throws {RangeError} If `xs` is empty.
 */
export function spread(xs: readonly number[]): Spread {
  if (xs.length === 0) throw new RangeError("Cannot summarise: no values");
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return {
    median: s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2,
    min: s[0],
    max: s[s.length - 1],
  };
}

/**
 * Position of update `i` (the same on both sides): a grid of 1,000 x 1,000
 * points 0.001 degree apart around Los Angeles.
 *
 * @param i The update's index in its run.
 * @returns Latitude and longitude, degrees, as 6-decimal text.
 */
export function positionOf(i: number): { lat: string; lng: string } {
  const lat = 33.5 + (i % 1000) / 1000;
  const lng = -118.9 + (Math.floor(i / 1000) % 1000) / 1000;
  return { lat: lat.toFixed(6), lng: lng.toFixed(6) };
}

/**
 * The IAMAT line of update `i` of run `run`, with its LF.
 *
 * @param run Run number (0: the warm-up).
 * @param i Index of the update in the run.
 * @param time Client time, POSIX seconds as decimal text.
 * @returns The line.
 */
export function iamatLine(run: number, i: number, time: string): string {
  const { lat, lng } = positionOf(i);
  return `IAMAT client-${run}-${i} +${lat}${lng} ${time}\n`;
}

/**
 * The GEOADD command of update `i` of run `run`, as RESP text.
 *
 * @param run Run number (0: the warm-up).
 * @param i Index of the update in the run.
 * @returns The RESP array.
 */
export function geoaddCommand(run: number, i: number): string {
  const { lat, lng } = positionOf(i);
  return encodeCommand(["GEOADD", "herd", lng, lat, `client-${run}-${i}`]);
}

/**
 * How `updates` are split over `connections`: the first index and the count
 * of each connection (the first ones get one more when it does not divide).
 *
 * @param updates Total updates.
 * @param connections Connections, >= 1.
 * @returns One `{first, count}` per connection.
 */
export function shares(updates: number, connections: number): { first: number; count: number }[] {
  const base = Math.floor(updates / connections);
  const extra = updates % connections;
  const out: { first: number; count: number }[] = [];
  let first = 0;
  for (let c = 0; c < connections; c++) {
    const count = base + (c < extra ? 1 : 0);
    out.push({ first, count });
    first += count;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The measurement (everything below runs only as a script).

/** The command line, checked. */
interface Options {
  runs: number;
  updates: number;
  connections: number;
  window: number;
  port: number;
  dissemination?: string;
  warmup: number;
  only: Set<Side>;
  pollMs: number;
  settleMs: number;
  timeoutS: number;
  herdDir: string;
  redisServer: string;
  verify: boolean;
  json: boolean;
}

type Side = "redis" | "herd";

const USAGE = `Usage: deno run --allow-run --allow-net=127.0.0.1 --allow-read --allow-write \\
  scripts/redis_compare.ts [--runs 5] [--updates 100000] [--connections 4] [--window 64]
  [--port 27490] [--dissemination tree|flood] [--warmup 10000] [--only redis|herd]
  [--poll-ms 2] [--settle-ms 300] [--timeout 120] [--herd-dir DIR]
  [--redis-server redis-server] [--verify] [--json]`;

/** Exits 2 with a one-line message (a usage error, a missing tool). */
function fail(message: string): never {
  console.error(`redis_compare: ${message}`);
  Deno.exit(2);
}

function parseOptions(args: string[]): Options {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const valued = [
    "runs",
    "updates",
    "connections",
    "window",
    "port",
    "dissemination",
    "warmup",
    "only",
    "poll-ms",
    "settle-ms",
    "timeout",
    "herd-dir",
    "redis-server",
  ];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--help" || a === "-h") {
      console.log(USAGE);
      Deno.exit(0);
    }
    const name = a.replace(/^--/, "");
    if (a.startsWith("--") && valued.includes(name)) {
      if (i + 1 >= args.length) fail(`${a} needs a value\n${USAGE}`);
      values.set(name, args[++i]);
    } else if (a === "--json" || a === "--verify") switches.add(name);
    else fail(`unknown argument ${JSON.stringify(a)}\n${USAGE}`);
  }
  const int = (name: string, fallback: number, min: number, max: number) => {
    const text = values.get(name);
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      fail(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
    }
    return n;
  };
  const dissemination = values.get("dissemination");
  if (dissemination !== undefined && !["tree", "flood"].includes(dissemination)) {
    fail(`--dissemination must be tree or flood, got ${JSON.stringify(dissemination)}`);
  }
  const onlyText = values.get("only") ?? "redis,herd";
  const only = new Set(onlyText.split(",")) as Set<Side>;
  if ([...only].some((s) => s !== "redis" && s !== "herd")) {
    fail(`--only takes redis, herd or both, got ${JSON.stringify(onlyText)}`);
  }
  const updates = int("updates", 100_000, 1, 10_000_000);
  const connections = int("connections", 4, 1, 64);
  if (connections > updates) fail("--connections must not exceed --updates");
  return {
    runs: int("runs", 5, 1, 100),
    updates,
    connections,
    window: int("window", 64, 1, 100_000),
    port: int("port", 27490, 1024, 65_000),
    dissemination,
    warmup: int("warmup", 10_000, 0, 10_000_000),
    only,
    pollMs: int("poll-ms", 2, 0, 1000),
    settleMs: int("settle-ms", 300, 0, 10_000),
    timeoutS: int("timeout", 120, 1, 3600),
    herdDir: values.get("herd-dir") ?? new URL("..", import.meta.url).pathname,
    redisServer: values.get("redis-server") ?? "redis-server",
    verify: switches.has("verify"),
    json: switches.has("json"),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const encoder = new TextEncoder();

/** Writes every byte of `bytes` (a write may take only part). */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Connects to 127.0.0.1:`port`, retrying until `deadline` (performance.now() ms). */
async function connectBy(port: number, deadline: number): Promise<Deno.TcpConn> {
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.setNoDelay(true);
      return conn;
    } catch (error) {
      if (performance.now() > deadline) {
        throw new Error(`Cannot connect to 127.0.0.1:${port}: ${error}`);
      }
      await sleep(20);
    }
  }
}

/** A connection to a Redis server for one request at a time (pipelined inside it). */
class RespConn {
  readonly #decoder = new RespDecoder();
  readonly #buf = new Uint8Array(64 * 1024);
  constructor(readonly conn: Deno.Conn) {}

  /** Sends the commands at once and returns their replies in order. */
  async commands(...cmds: string[][]): Promise<RespValue[]> {
    await writeAll(this.conn, encoder.encode(cmds.map(encodeCommand).join("")));
    const out: RespValue[] = [];
    while (out.length < cmds.length) {
      const n = await this.conn.read(this.#buf);
      if (n === null) throw new Error("Redis closed the connection");
      out.push(...this.#decoder.push(this.#buf.subarray(0, n)));
    }
    return out;
  }

  async command(...args: string[]): Promise<RespValue> {
    return (await this.commands(args))[0];
  }
}

/** A connection to a herd member that sends WHATSATs and frames their replies. */
class HerdConn {
  readonly #framer = new ReplyFramer();
  readonly #buf = new Uint8Array(64 * 1024);
  constructor(readonly conn: Deno.Conn) {}

  /** Whether the member answers `WHATSAT <id> 10 1` with an AT line, for each id. */
  async holds(ids: readonly string[]): Promise<boolean[]> {
    this.#framer.expect("whatsat", ids.length);
    await writeAll(this.conn, encoder.encode(ids.map((id) => `WHATSAT ${id} 10 1\n`).join("")));
    const out: boolean[] = [];
    while (out.length < ids.length) {
      const n = await this.conn.read(this.#buf);
      if (n === null) throw new Error("the member closed the connection");
      this.#framer.push(this.#buf.subarray(0, n), (reply) => {
        out.push(reply[0] === 0x41 && reply[1] === 0x54 && reply[2] === 0x20); // "AT "
      });
    }
    return out;
  }

  /** Sends one IAMAT and checks the reply is an AT line. */
  async iamat(line: string): Promise<void> {
    this.#framer.expect("line");
    await writeAll(this.conn, encoder.encode(line));
    let reply = "";
    while (reply === "") {
      const n = await this.conn.read(this.#buf);
      if (n === null) throw new Error("the member closed the connection");
      this.#framer.push(this.#buf.subarray(0, n), (r) => reply = decoder.decode(r));
    }
    if (!reply.startsWith("AT ")) throw new Error(`IAMAT refused: ${reply.trim()}`);
  }
}

/** The servers of one side, as the runs need them. */
interface Cluster {
  side: Side;
  /** Process ids of the five servers. */
  pids: number[];
  /** Their names, in the order of `pids`. */
  names: string[];
  /** Port the load goes to. */
  loadPort: number;
  /** Prefix of a successful reply to one update. */
  okPrefix: string;
  /** Text of update `i` of run `run`; `time` is the client time (herd), taken before the run. */
  request(run: number, i: number, time: string): string;
  /** Called just before the load: what converged means for this run. */
  prepare(run: number, plan: { first: number; count: number }[]): Promise<void>;
  /** One poll of every replica or member not yet done; true when it holds everything. */
  pollers(): (() => Promise<boolean>)[];
  /** Names of the servers polled, in the order of `pollers()`. */
  polled: string[];
  /**
   * After convergence, outside the timed part: a sanity check, and for the herd with
   * `--verify` the count of the run's records on every member from the logs, and how long after
   * the last reply (wall clock, ms) the last of them was stored.
   */
  after(
    run: number,
    startWallMs: number,
    lastReplyWallMs: number,
  ): Promise<{ note: string; loggedLagMs?: number }>;
}

/** A started process and how to stop it. */
interface Proc {
  name: string;
  child: Deno.ChildProcess;
}

const procs: Proc[] = [];
const conns: Deno.Conn[] = [];
let tmpDir = "";
let cleaning: Promise<void> | undefined;

/** Stops every process started (SIGTERM, then SIGKILL after 5 s) and removes the temp folder. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of conns.splice(0)) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    const stopping = procs.splice(0).map(async (p) => {
      try {
        p.child.kill("SIGTERM");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          p.child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5000);
      await p.child.status;
      clearTimeout(timer);
    });
    await Promise.all(stopping);
    if (tmpDir !== "") await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
  })();
  return cleaning;
}

/** Clock ticks per second of /proc/<pid>/stat. */
let clkTck = 100;

/**
 * CPU seconds of each process in `pids` and the 1-minute load average, in one `cat`
 * (reading /proc directly needs --allow-all in Deno; cat needs only --allow-run).
 */
export async function cpuAndLoad(pids: number[]): Promise<{ cpu: number[]; load: number }> {
  const out = await new Deno.Command("cat", {
    args: ["/proc/loadavg", ...pids.map((p) => `/proc/${p}/stat`)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = decoder.decode(out.stdout).trim().split("\n");
  if (!out.success || lines.length !== pids.length + 1) {
    throw new Error(`Cannot read /proc: ${decoder.decode(out.stderr).trim()}`);
  }
  return {
    load: Number(lines[0].split(" ")[0]),
    cpu: lines.slice(1).map((l) => cpuSecondsOfStat(l, clkTck)),
  };
}

export async function loadAverage(): Promise<string> {
  const out = await new Deno.Command("cat", { args: ["/proc/loadavg"], stdout: "piped" }).output();
  return decoder.decode(out.stdout).split(" ").slice(0, 3).join(" ");
}

/** Fails with a clear message if a port of the session is taken. */
function checkPortsFree(ports: number[]): void {
  for (const port of ports) {
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
    } catch {
      fail(`port ${port} on 127.0.0.1 is in use; pass another --port`);
    }
  }
}

// --- Redis ---

/** `redis-server --version`'s version, or a message saying how to get it. */
async function redisVersion(path: string): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(path, { args: ["--version"], stdout: "piped" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      fail(
        `${path} not found: Redis is the comparator, not a dependency; install it with ` +
          "`sudo apt-get install redis-server` (Debian, Ubuntu) or `brew install redis` (macOS), " +
          "or pass --redis-server <path>",
      );
    }
    throw error;
  }
  const text = decoder.decode(out.stdout);
  return /v=([0-9.]+)/.exec(text)?.[1] ?? text.trim();
}

async function startRedis(opts: Options, dir: string): Promise<Cluster> {
  const names = ["primary", "replica1", "replica2", "replica3", "replica4"];
  const ports = names.map((_, i) => opts.port + 10 + i);
  const deadline = performance.now() + 20_000;
  const started: Proc[] = [];
  for (const [i, name] of names.entries()) {
    const d = `${dir}/redis-${name}`;
    await Deno.mkdir(d, { recursive: true });
    const conf = [
      `port ${ports[i]}`,
      "bind 127.0.0.1",
      "protected-mode yes",
      "daemonize no",
      `dir ${d}`,
      `logfile ${d}/redis.log`,
      'save ""',
      "appendonly yes",
      "appendfsync everysec",
      // The default waits 5 s for more replicas before a diskless full sync: only start-up.
      "repl-diskless-sync-delay 0",
      ...(i === 0 ? [] : [`replicaof 127.0.0.1 ${ports[0]}`]),
    ];
    await Deno.writeTextFile(`${d}/redis.conf`, conf.join("\n") + "\n");
    const child = new Deno.Command(opts.redisServer, {
      args: [`${d}/redis.conf`],
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    const p = { name: `redis ${name}`, child };
    procs.push(p);
    started.push(p);
  }
  const polls: RespConn[] = [];
  for (const port of ports) {
    const c = await connectBy(port, deadline);
    conns.push(c);
    polls.push(new RespConn(c));
  }
  // All four replicas online at the primary, and each replica's link up.
  for (;;) {
    const info = parseInfo(String(await polls[0].command("INFO", "replication")));
    const online = [...info.entries()].filter(([k, v]) =>
      /^slave[0-9]+$/.test(k) && v.includes("state=online")
    );
    const ups = await Promise.all(
      polls.slice(1).map(async (p) =>
        parseInfo(String(await p.command("INFO", "replication"))).get("master_link_status")
      ),
    );
    if (online.length === 4 && ups.every((u) => u === "up")) break;
    if (performance.now() > deadline) {
      throw new Error(`Redis replicas not online within 20 s: ${online.length} of 4`);
    }
    await sleep(50);
  }
  let expected = 0;
  let base = 0;
  return {
    side: "redis",
    pids: started.map((p) => p.child.pid),
    names,
    loadPort: ports[0],
    okPrefix: ":1\r",
    request: (run, i) => geoaddCommand(run, i),
    async prepare(_run, plan) {
      const z = await polls[0].command("ZCARD", "herd");
      if (typeof z !== "number") throw new Error(`ZCARD: ${JSON.stringify(z)}`);
      base = z;
      expected = z + plan.reduce((a, p) => a + p.count, 0);
    },
    polled: names.slice(1),
    pollers: () =>
      polls.slice(1).map((p) => async () => (await p.command("ZCARD", "herd")) === expected),
    async after() {
      const z = await polls[0].command("ZCARD", "herd");
      if (z !== expected) throw new Error(`the primary holds ${z} members, expected ${expected}`);
      return { note: `primary and 4 replicas hold ${expected} members (${expected - base} new)` };
    },
  };
}

// --- herd ---

/** The herd.toml of the session: the default herd's links, GeoNames, consecutive ports. */
function herdToml(port: number, dissemination: string | undefined): string {
  const def = defaultConfig();
  const lines = [
    "[herd]",
    `links = [${def.links.map(([a, b]) => `["${a}", "${b}"]`).join(", ")}]`,
    ...(dissemination === undefined ? [] : [`dissemination = "${dissemination}"`]),
    "[places]",
    `provider = "geonames"`,
  ];
  def.servers.forEach((s, i) =>
    lines.push("[[servers]]", `name = "${s.name}"`, `port = ${port + i}`)
  );
  return lines.join("\n") + "\n";
}

/** Peers a member's log says it has a link with (`peer.link.open` or `.accepted`). */
async function linkedPeers(logDir: string, name: string): Promise<Set<string>> {
  const peers = new Set<string>();
  for (const file of await logFilesOldestFirst(logDir, name)) {
    for (const line of (await Deno.readTextFile(file)).split("\n")) {
      if (!line.includes('"peer.link.open"') && !line.includes('"peer.link.accepted"')) continue;
      try {
        const peer = JSON.parse(line).peer;
        if (typeof peer === "string") peers.add(peer);
      } catch { /* a line being written */ }
    }
  }
  return peers;
}

/**
 * The links herd.toml lists that a member's log does not yet say are open, as `Name-Neighbour`.
 *
 * @param logDir Where the members log.
 * @param names The members.
 * @param links herd.toml's links.
 * @returns The missing ends; empty once every link is open at both ends.
 */
export async function unlinked(
  logDir: string,
  names: readonly string[],
  links: ReadonlyArray<readonly [string, string]>,
): Promise<string[]> {
  const missing: string[] = [];
  for (const name of names) {
    const peers = await linkedPeers(logDir, name);
    const want = links.flatMap(([a, b]) => a === name ? [b] : b === name ? [a] : []);
    for (const w of want) if (!peers.has(w)) missing.push(`${name}-${w}`);
  }
  return missing;
}

/**
 * Client ids starting with `prefix` in the `record.stored` events of member `name`: how many,
 * and the `@timestamp` of the last event naming one (ms since the epoch; NaN if none).
 */
async function storedStats(
  logDir: string,
  name: string,
  prefix: string,
): Promise<{ count: number; lastMs: number }> {
  const { count, last } = await storedClients(logDir, name, prefix);
  let lastMs = NaN;
  try {
    lastMs = Date.parse(JSON.parse(last)["@timestamp"]);
  } catch { /* no line yet */ }
  return { count, lastMs };
}

/**
 * `peer.queue.overflow` events (a link's queue full, its oldest flood lines dropped) in every
 * member's logs stamped at or after `sinceMs` (ms since the epoch).
 */
async function overflowsSince(logDir: string, names: string[], sinceMs: number): Promise<number> {
  const files = (await Promise.all(names.map((n) => logFilesOldestFirst(logDir, n)))).flat();
  const out = await new Deno.Command("sh", {
    args: ["-c", `cat "$@" | grep -F '"peer.queue.overflow"'`, "sh", ...files],
    stdout: "piped",
  }).output();
  return decoder.decode(out.stdout).split("\n").filter((line) => {
    try {
      return Date.parse(JSON.parse(line)["@timestamp"]) >= sinceMs;
    } catch {
      return false;
    }
  }).length;
}

async function startHerd(opts: Options, dir: string): Promise<Cluster> {
  const def = defaultConfig();
  const names = def.servers.map((s) => s.name);
  const toml = herdToml(opts.port, opts.dissemination);
  // The members' own parser decides; the one imported here is this checkout's, which is the
  // members' unless --herd-dir names another, so a refusal is checked again from their exit.
  try {
    parseConfig(toml, "herd.toml");
  } catch (error) {
    if (error instanceof ConfigError) fail(`the herd's config refuses the session's: ${error}`);
    throw error;
  }
  if (opts.dissemination !== undefined && !DISSEMINATIONS.includes(opts.dissemination as "tree")) {
    fail(`this herd does not know dissemination ${opts.dissemination}`);
  }
  const config = `${dir}/herd.toml`;
  const logDir = `${dir}/logs`;
  await Deno.writeTextFile(config, toml);
  const main = `${opts.herdDir.replace(/\/$/, "")}/main.ts`;
  const deadline = performance.now() + 20_000;
  const started: Proc[] = [];
  for (const name of names) {
    const child = new Deno.Command(Deno.execPath(), {
      args: serveArgs(name, config, logDir, main),
      cwd: opts.herdDir,
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    const p = { name: `herd ${name}`, child };
    procs.push(p);
    started.push(p);
  }
  const polls: HerdConn[] = [];
  for (const [i, name] of names.entries()) {
    const exited = started[i].child.status.then((s) => s);
    const c = await Promise.race([
      connectBy(opts.port + i, deadline),
      exited.then((s) => {
        throw new Error(`${name} exited with code ${s.code} before listening`);
      }),
    ]);
    conns.push(c);
    polls.push(new HerdConn(c));
  }
  // Every link open at both ends (the log flushes within 200 ms).
  for (;;) {
    const missing = await unlinked(logDir, names, def.links);
    if (missing.length === 0) break;
    if (performance.now() > deadline) throw new Error(`links not open in 20 s: ${missing}`);
    await sleep(100);
  }
  // A probe update reaches every member.
  const hill = names.indexOf("Hill");
  await polls[hill].iamat(`IAMAT probe +34.068930-118.445127 ${posixNow()}\n`);
  for (;;) {
    const held = await Promise.all(polls.map((p) => p.holds(["probe"])));
    if (held.every((h) => h[0])) break;
    if (performance.now() > deadline) throw new Error("the probe update did not reach everyone");
    await sleep(20);
  }
  let pending: Set<string>[] = [];
  return {
    side: "herd",
    pids: started.map((p) => p.child.pid),
    names,
    loadPort: opts.port + hill,
    okPrefix: "AT ",
    request: iamatLine,
    prepare(run, plan) {
      const last = plan.map((p) => `client-${run}-${p.first + p.count - 1}`);
      pending = polls.map(() => new Set(last));
      return Promise.resolve();
    },
    polled: names,
    pollers: () =>
      polls.map((p, m) => async () => {
        const ids = [...pending[m]];
        const held = await p.holds(ids);
        ids.forEach((id, k) => held[k] && pending[m].delete(id));
        return pending[m].size === 0;
      }),
    async after(run, startWallMs, lastReplyWallMs) {
      if (!opts.verify) return { note: "" };
      // Hill is the origin of the run's records: the others are the ones that must catch up.
      const others = names.filter((n) => n !== "Hill");
      const want = run === 0 ? opts.warmup : opts.updates;
      const prefix = `client-${run}-`;
      const deadline = performance.now() + opts.timeoutS * 1000;
      let stats: { count: number; lastMs: number }[] = [];
      while (performance.now() < deadline) {
        stats = await Promise.all(others.map((n) => storedStats(logDir, n, prefix)));
        if (stats.every((s) => s.count >= want)) break;
        await sleep(500);
      }
      const counts = stats.map((s) => s.count);
      const text = `stored on ${others.join(", ")}: ${counts.join(", ")} of ${want}`;
      if (!counts.every((c) => c >= want)) throw new Error(`verify: ${text}`);
      const lags = stats.map((s) => Math.round(s.lastMs - lastReplyWallMs));
      const loggedLagMs = Math.max(...lags);
      const dropped = await overflowsSince(logDir, names, startWallMs);
      return {
        note: `${text}, the last ${loggedLagMs} ms after the last reply (logs: ` +
          others.map((n, k) => `${n} ${lags[k]}`).join(", ") + "); " +
          `peer.queue.overflow events during the run: ${dropped}`,
        loggedLagMs,
      };
    },
  };
}

/** POSIX time now, s, with ms, as IAMAT client time. */
export function posixNow(): string {
  const ms = Date.now();
  return `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, "0")}`;
}

// --- one run ---

/** What one run of one side measured. */
interface RunResult {
  side: Side;
  run: number;
  updates: number;
  /** Updates per second from the first write to the last reply. */
  toLastReplyPerS: number;
  /** Updates per second from the first write until every replica or member holds every update. */
  toConvergedPerS: number;
  /** From the last reply to converged, ms. */
  lagMs: number;
  /** From the last reply to each polled replica or member holding everything, ms. */
  lagMsByServer: Record<string, number>;
  /** CPU of the five servers per update, µs. */
  cpuUsPerUpdate: number;
  /** The same for each server by name (`primary`, `replica1`..; `Campbell`..). */
  cpuUsPerUpdateByServer: Record<string, number>;
  /** CPU of this script's process (generator and pollers) per update, µs. */
  clientCpuUsPerUpdate: number;
  /** 1-minute load average at the end of the run. */
  load: number;
  /**
   * herd with `--verify`: from the last reply to the last `record.stored` of the run in the
   * four other members' logs, ms (log timestamps have ms resolution); otherwise null.
   */
  loggedLagMs: number | null;
  /** The check after the run (`--verify`) or the Redis count check. */
  note: string;
}

/**
 * The requests of one connection, encoded before the clock starts: `bytes[offsets[k] ..
 * offsets[k + 1]]` is request k, so a refill is one subarray and one write, no work per update.
 */
function encodeShare(
  cluster: Cluster,
  run: number,
  share: { first: number; count: number },
  time: string,
): { bytes: Uint8Array; offsets: Uint32Array } {
  const texts: string[] = [];
  const offsets = new Uint32Array(share.count + 1);
  let at = 0;
  for (let k = 0; k < share.count; k++) {
    const text = cluster.request(run, share.first + k, time);
    texts.push(text);
    at += utf8Length(text);
    offsets[k + 1] = at;
  }
  return { bytes: encoder.encode(texts.join("")), offsets };
}

/** Drives one connection: keeps `window` updates in flight until `count` are answered. */
export async function drive(
  conn: Deno.Conn,
  okPrefix: string,
  requests: { bytes: Uint8Array; offsets: Uint32Array },
  window: number,
): Promise<{ end: number; bad: number }> {
  const { bytes, offsets } = requests;
  const count = offsets.length - 1;
  const replies = new LineReplies(okPrefix);
  let sent = 0;
  let done = 0;
  let bad = 0;
  const send = async (m: number) => {
    const from = offsets[sent];
    sent += m;
    await writeAll(conn, bytes.subarray(from, offsets[sent]));
  };
  const buf = new Uint8Array(64 * 1024);
  await send(Math.min(window, count));
  while (done < count) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`connection closed after ${done} of ${count} replies`);
    const r = replies.push(buf.subarray(0, n));
    done += r.lines;
    bad += r.bad;
    const m = Math.min(r.lines, count - sent);
    if (m > 0) await send(m);
  }
  return { end: performance.now(), bad };
}

async function measure(
  cluster: Cluster,
  run: number,
  updates: number,
  opts: Options,
): Promise<RunResult> {
  const plan = shares(updates, opts.connections);
  await cluster.prepare(run, plan);
  const deadlineAfter = opts.timeoutS * 1000;
  const time = posixNow();
  const requests = plan.map((share) => encodeShare(cluster, run, share, time));
  const load: Deno.TcpConn[] = [];
  for (let c = 0; c < opts.connections; c++) {
    load.push(await connectBy(cluster.loadPort, performance.now() + 5000));
  }
  const self = Deno.pid;
  const before = await cpuAndLoad([...cluster.pids, self]);
  const t0 = performance.now();
  const wall0 = Date.now();
  const cutOff = setTimeout(() => load.forEach((c) => c.close()), deadlineAfter);
  let ends: { end: number; bad: number }[];
  try {
    ends = await Promise.all(
      load.map((c, k) => drive(c, cluster.okPrefix, requests[k], opts.window)),
    );
  } catch (error) {
    throw new Error(`${cluster.side} run ${run}: load not done in ${opts.timeoutS} s: ${error}`);
  } finally {
    clearTimeout(cutOff);
    for (const c of load) {
      try {
        c.close();
      } catch { /* closed by the cut-off */ }
    }
  }
  const lastReply = Math.max(...ends.map((e) => e.end));
  const bad = ends.reduce((a, e) => a + e.bad, 0);
  if (bad > 0) throw new Error(`${cluster.side} run ${run}: ${bad} updates refused`);
  const convergeBy = lastReply + deadlineAfter;
  const doneAt = await Promise.all(
    cluster.pollers().map(async (poll) => {
      for (;;) {
        if (await poll()) return performance.now();
        if (performance.now() > convergeBy) {
          throw new Error(`${cluster.side} run ${run}: not converged ${opts.timeoutS} s after`);
        }
        if (opts.pollMs > 0) await sleep(opts.pollMs);
      }
    }),
  );
  const converged = Math.max(...doneAt);
  if (opts.settleMs > 0) await sleep(opts.settleMs);
  const afterCpu = await cpuAndLoad([...cluster.pids, self]);
  const servers = cluster.pids.reduce((a, _, k) => a + afterCpu.cpu[k] - before.cpu[k], 0);
  const client = afterCpu.cpu[cluster.pids.length] - before.cpu[cluster.pids.length];
  const { note, loggedLagMs } = await cluster.after(run, wall0, wall0 + (lastReply - t0));
  return {
    side: cluster.side,
    run,
    updates,
    toLastReplyPerS: updates / ((lastReply - t0) / 1000),
    toConvergedPerS: updates / ((converged - t0) / 1000),
    lagMs: converged - lastReply,
    lagMsByServer: Object.fromEntries(cluster.polled.map((n, k) => [n, doneAt[k] - lastReply])),
    cpuUsPerUpdate: (servers * 1e6) / updates,
    cpuUsPerUpdateByServer: Object.fromEntries(
      cluster.names.map((name, k) => [name, ((afterCpu.cpu[k] - before.cpu[k]) * 1e6) / updates]),
    ),
    clientCpuUsPerUpdate: (client * 1e6) / updates,
    load: afterCpu.load,
    loggedLagMs: loggedLagMs ?? null,
    note,
  };
}

// --- output ---

/** The figures summarised; `ratio`: herd/Redis is shown (not for a lag of a few ms). */
const FIGURES: { key: keyof RunResult; label: string; digits: number; ratio: boolean }[] = [
  { key: "toLastReplyPerS", label: "updates/s to the last reply", digits: 0, ratio: true },
  { key: "toConvergedPerS", label: "updates/s to all holding all", digits: 0, ratio: true },
  { key: "lagMs", label: "last reply -> all hold all, ms", digits: 1, ratio: false },
  { key: "cpuUsPerUpdate", label: "server CPU per update, µs", digits: 1, ratio: true },
  { key: "clientCpuUsPerUpdate", label: "generator CPU per update, µs", digits: 1, ratio: false },
  { key: "loggedLagMs", label: "last reply -> last stored (logs), ms", digits: 0, ratio: false },
];

const num = (x: number, digits: number) =>
  x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const fmtSpread = (s: Spread, digits: number) =>
  `${num(s.median, digits)} (${num(s.min, digits)} - ${num(s.max, digits)})`;

function runLine(r: RunResult): string {
  return `run ${r.run} ${r.side.padEnd(5)} ${num(r.toLastReplyPerS, 0)}/s to last reply, ` +
    `${num(r.toConvergedPerS, 0)}/s to all holding all (+${num(r.lagMs, 1)} ms: ` +
    Object.entries(r.lagMsByServer).map(([n, ms]) => `${n} ${num(ms, 0)}`).join(", ") + "), " +
    `CPU ${num(r.cpuUsPerUpdate, 1)} µs/update (` +
    Object.entries(r.cpuUsPerUpdateByServer).map(([n, us]) => `${n} ${num(us, 1)}`).join(", ") +
    `; generator ${num(r.clientCpuUsPerUpdate, 1)}), ` +
    `load ${r.load.toFixed(2)}${r.note === "" ? "" : `; ${r.note}`}`;
}

/**
 * Median and min - max of each figure per side, and of herd/Redis per pair (run k of one side
 * with run k of the other); a figure some run lacks (null) is left out.
 */
function summarise(results: RunResult[]): Record<string, Record<string, Spread>> {
  const bySide = (side: Side) => results.filter((r) => r.side === side);
  const values = (rs: RunResult[], key: keyof RunResult) => rs.map((r) => r[key] as number | null);
  const complete = (xs: (number | null)[]): xs is number[] =>
    xs.length > 0 && xs.every((x) => x !== null);
  const out: Record<string, Record<string, Spread>> = {};
  for (const side of ["redis", "herd"] as Side[]) {
    const table: Record<string, Spread> = {};
    for (const f of FIGURES) {
      const xs = values(bySide(side), f.key);
      if (complete(xs)) table[f.key] = spread(xs);
    }
    if (Object.keys(table).length > 0) out[side] = table;
  }
  const redis = bySide("redis");
  const herd = bySide("herd");
  if (redis.length > 0 && redis.length === herd.length) {
    const table: Record<string, Spread> = {};
    for (const f of FIGURES) {
      const h = values(herd, f.key);
      const r = values(redis, f.key);
      if (f.ratio && complete(h) && complete(r)) table[f.key] = spread(h.map((x, k) => x / r[k]));
    }
    out["herd/redis"] = table;
  }
  return out;
}

/** Median and min - max of each server's CPU per update over one side's runs. */
function byServer(results: RunResult[], side: Side): Record<string, Spread> {
  const rs = results.filter((r) => r.side === side);
  if (rs.length === 0) return {};
  return Object.fromEntries(
    Object.keys(rs[0].cpuUsPerUpdateByServer).map((n) => [
      n,
      spread(rs.map((r) => r.cpuUsPerUpdateByServer[n])),
    ]),
  );
}

async function main(): Promise<void> {
  const opts = parseOptions(Deno.args);
  const log = (text: string) => opts.json ? console.error(text) : console.log(text);
  const sides = (["redis", "herd"] as Side[]).filter((s) => opts.only.has(s));
  const version = sides.includes("redis") ? await redisVersion(opts.redisServer) : null;
  if (version !== null && Number(version.split(".")[0]) < 7) {
    console.error(`redis_compare: warning: redis-server ${version}; the issue measured Redis 7`);
  }
  checkPortsFree([
    ...(sides.includes("herd") ? [0, 1, 2, 3, 4] : []),
    ...(sides.includes("redis") ? [10, 11, 12, 13, 14] : []),
  ].map((k) => opts.port + k));
  clkTck = Number(
    decoder.decode(
      new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" })
        .outputSync().stdout,
    ).trim(),
  ) || 100;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      console.error(`redis_compare: ${signal}: stopping every process started`);
      cleanup().finally(() => Deno.exit(130));
    });
  }
  tmpDir = await Deno.makeTempDir({ prefix: "herd-redis-compare-" });
  const loadBefore = await loadAverage();
  const meta = {
    deno: Deno.version.deno,
    redis: version,
    cores: navigator.hardwareConcurrency,
    herdDir: opts.herdDir,
    dissemination: opts.dissemination ?? "(member default)",
    runs: opts.runs,
    updates: opts.updates,
    connections: opts.connections,
    window: opts.window,
    warmup: opts.warmup,
    pollMs: opts.pollMs,
    settleMs: opts.settleMs,
    loadAverageBefore: loadBefore,
    startedAt: new Date().toISOString(),
  };
  log(
    `redis-server ${version ?? "-"}, deno ${meta.deno}, ${meta.cores} cores; ` +
      `${num(opts.updates, 0)} updates a run, ${opts.connections} connections x ${opts.window} ` +
      `in flight; herd ${opts.herdDir}, dissemination ${meta.dissemination}`,
  );
  log(`load average before: ${loadBefore}`);
  const results: RunResult[] = [];
  try {
    const clusters = new Map<Side, Cluster>();
    if (sides.includes("redis")) clusters.set("redis", await startRedis(opts, tmpDir));
    if (sides.includes("herd")) clusters.set("herd", await startHerd(opts, tmpDir));
    if (opts.warmup > 0) {
      for (const side of sides) {
        const r = await measure(clusters.get(side)!, 0, opts.warmup, opts);
        log(`warm-up ${runLine(r)}`);
      }
    }
    for (let run = 1; run <= opts.runs; run++) {
      // A B, B A, A B, ...: each side goes first in every other pair.
      const order = run % 2 === 1 ? sides : [...sides].reverse();
      for (const side of order) {
        const r = await measure(clusters.get(side)!, run, opts.updates, opts);
        results.push(r);
        log(runLine(r));
      }
    }
  } finally {
    await cleanup();
  }
  const loadAfter = await loadAverage();
  const summary = summarise(results);
  if (opts.json) {
    const cpuByServer = Object.fromEntries(sides.map((side) => [side, byServer(results, side)]));
    const all = { meta: { ...meta, loadAverageAfter: loadAfter }, results, summary, cpuByServer };
    console.log(JSON.stringify(all));
    return;
  }
  const columns = Object.keys(summary);
  log(`\nmedian (min - max) of ${opts.runs} runs`);
  log(["".padEnd(38), ...columns.map((c) => c.padEnd(30))].join(""));
  for (const f of FIGURES) {
    const cells = columns.map((c) => {
      const sp = summary[c][f.key];
      return (sp === undefined ? "-" : fmtSpread(sp, c === "herd/redis" ? 2 : f.digits)).padEnd(30);
    });
    if (cells.some((c) => c.trim() !== "-")) log([f.label.padEnd(38), ...cells].join(""));
  }
  for (const side of sides) {
    const by = byServer(results, side);
    const text = Object.entries(by).map(([n, sp]) => `${n} ${fmtSpread(sp, 1)}`).join(", ");
    log(`${side} CPU per update by server, µs: ${text}`);
  }
  log(`load average after: ${loadAfter}`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    await cleanup();
    console.error(`redis_compare: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}

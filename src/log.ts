/**
 * Logging: what a member reports, and where it goes.
 *
 * Members emit structured events through the small {@linkcode EventLog}
 * interface (injected, so tests capture events without monkey-patching).
 * {@linkcode setupLogging} makes each member append every event as JSON Lines
 * to `<log-dir>/<Name>.log` (PROTOCOL.md section 5) and wires LogTape so that
 * the console gets one short human line per event its verbosity shows
 * ({@linkcode ConsoleVerbosity}): by default what an operator watches (members
 * starting and stopping, links opening and dropping, every warning and error),
 * not the per-message events. The filter is a table lookup in
 * {@linkcode memberLog}, so an event the console does not show costs no LogTape
 * call.
 *
 * The files are written by a small JSON Lines writer of this module, not by a
 * LogTape sink: a member logs every message in and every reply out, and a
 * LogTape logger call costs about 5 µs per record before any sink runs, more
 * than the protocol work of the message itself (docs/PERFORMANCE.md). Each
 * event is formatted by hand straight into a byte buffer, which is written in
 * the background in large writes (when it passes 256 KiB, or 200 ms after its
 * first line), so logging never waits on the disk before a reply, and nothing
 * is dropped.
 *
 * One line per event, keys in this order: `@timestamp` (ISO 8601 UTC, ms),
 * `level` (`DEBUG`, `INFO`, `WARN` or `ERROR`), `message` (the event name),
 * `logger` (`herd.<Name>`), `event` (the event name again), then the event's
 * fields in the order given, fields whose value is `undefined` left out: the
 * keys, order and values LogTape's `getJsonLinesFormatter({ properties:
 * "flatten" })` wrote before (strings are escaped as `JSON.stringify` does,
 * which leaves DEL, 0x7F, unescaped where LogTape wrote `\u007f`).
 * For example:
 *
 * ```json
 * {"@timestamp":"2026-05-19T22:53:47.959Z","level":"INFO","message":"msg.in","logger":"herd.Hill","event":"msg.in","conn":3,"remote":"127.0.0.1:50120","line":"IAMAT kiwi +34-118 1621464827.95"}
 * ```
 *
 * `msg.in` (`conn`, `remote`, `peer` on a neighbour's link, `line`, `overlong`)
 * is one event per line received and `reply.out` (`conn`, `remote`, `reply`,
 * the whole reply text) one per reply written.
 *
 * Event names (the `event` field of every JSON line, also its `message`) are
 * listed, with their meaning, in one place: `EVENTS` in src/events.ts
 * (docs/EVENTS.md is generated from it).
 *
 * @module
 */

import type { EventName } from "./events.ts";
export type { EventName } from "./events.ts";
import {
  configure,
  getLogger,
  getStreamSink,
  type Logger,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";

/** Severity of an event. */
export type EventLevel = "debug" | "info" | "warning" | "error";

/** Fields of an event; values must be JSON-serialisable. */
export type EventFields = Record<string, string | number | boolean | null | undefined>;

/** Where a member sends its events. */
export interface EventLog {
  /**
   * Records one event.
   *
   * @param level Severity.
   * @param event Dotted event name, e.g. `msg.in`, one of `EVENTS` (src/events.ts).
   * @param fields Structured detail (connection id, remote address, peer, line...).
   */
  emit(level: EventLevel, event: EventName, fields: EventFields): void;
}

/** Root LogTape category of herd; a member logs under `["herd", <Name>]`. */
export const LOG_CATEGORY = "herd";

/**
 * The LogTape-backed event log of one member (category `herd.<Name>`).
 * Events go nowhere until {@linkcode setupLogging} has configured sinks.
 *
 * @param member The member's name.
 * @returns An event log.
 */
export function memberLog(member: string): EventLog {
  const logger = getLogger([LOG_CATEGORY, member]);
  const name = `${LOG_CATEGORY}.${member}`;
  return {
    emit(level, event, fields) {
      const file = files.get(member);
      if (file !== undefined) file.append(name, level, event, fields);
      // Two lookups decide; LogTape is called only for a line the console shows.
      if (LEVEL_RANK[level] >= (consoleRanks.get(event) ?? consoleRank)) {
        toConsole(logger, level, event, fields);
      }
    },
  };
}

/** How much the console shows; the log files get every event whatever it is. */
export type ConsoleVerbosity = "quiet" | "normal" | "verbose";

/**
 * The info events a `"normal"` console shows, one line each: what an operator watches (a
 * member up, its records loaded, going down, its links opening and dropping). Warnings and
 * errors are shown whatever their name.
 */
export const OPERATOR_EVENTS: ReadonlySet<EventName> = new Set<EventName>([
  "member.listening",
  "member.loaded",
  "member.stopping",
  "member.stopped",
  "peer.link.open",
  "peer.link.dropped",
]);

/**
 * Events about the process or its configuration rather than one member: every member of a
 * process emits them alike (each file keeps its own), so the console shows only the first,
 * once per {@linkcode setupLogging}, under the category `herd` instead of a member's name.
 */
export const PROCESS_WIDE_EVENTS: ReadonlySet<EventName> = new Set<EventName>([
  "member.unauthenticated",
]);

/** Sends one event to LogTape (the console); process-wide events only the first time. */
function toConsole(
  logger: Logger,
  level: EventLevel,
  event: EventName,
  fields: EventFields,
): void {
  if (PROCESS_WIDE_EVENTS.has(event)) {
    if (shownOnce.has(event)) return;
    shownOnce.add(event);
    logger = getLogger([LOG_CATEGORY]);
  }
  logger[level](event, { event, ...fields });
}

/** Order of the levels, for the console's threshold. */
const LEVEL_RANK: Readonly<Record<EventLevel, number>> = {
  debug: 0,
  info: 1,
  warning: 2,
  error: 3,
};

/** The `level` field of a JSON line, as LogTape writes it. */
const LEVEL_TEXT: Readonly<Record<EventLevel, string>> = {
  debug: "DEBUG",
  info: "INFO",
  warning: "WARN",
  error: "ERROR",
};

/**
 * Lowest level rank the console shows of an event {@linkcode consoleRanks} does not list;
 * `Infinity` when there is no console.
 */
let consoleRank = Infinity;

/** Events whose lowest level rank shown differs from {@linkcode consoleRank}. */
let consoleRanks: ReadonlyMap<string, number> = new Map();

/** Process-wide events the console has shown since {@linkcode setupLogging}. */
const shownOnce = new Set<string>();

/**
 * The console's thresholds for a verbosity: the default lowest level rank shown and the
 * events that differ.
 */
function consoleThresholds(
  verbosity: ConsoleVerbosity | null,
): { rank: number; ranks: ReadonlyMap<string, number> } {
  switch (verbosity) {
    case null:
      return { rank: Infinity, ranks: new Map() };
    case "quiet":
      return { rank: LEVEL_RANK.warning, ranks: new Map() };
    case "normal":
      return {
        rank: LEVEL_RANK.warning,
        ranks: new Map([...OPERATOR_EVENTS].map((e) => [e, LEVEL_RANK.info])),
      };
    case "verbose":
      return { rank: LEVEL_RANK.info, ranks: new Map() };
  }
}

/** Open log files by member name, set by {@linkcode setupLogging}. */
const files = new Map<string, JsonLinesFile>();

/** The last `@timestamp` text and its `Date.now()`: most events share their millisecond. */
let stampMs = -1;
let stampText = "";

/** Bytes of buffered lines that start a write at once. */
const FILE_FLUSH_BYTES = 256 * 1024;

/** Longest a buffered line waits for its write, ms. */
const FILE_FLUSH_MS = 200;

/** Size of each line buffer, bytes: room for a flush's worth and the events of a busy read. */
const BUFFER_BYTES = 2 * FILE_FLUSH_BYTES;

/** Buffers kept for reuse once written (more are garbage). */
const MAX_SPARE_BUFFERS = 4;

/** Longest UTF-8 form of one UTF-16 code unit inside a JSON string (`\u001f`). */
const MAX_BYTES_PER_CHAR = 6;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * An append-only JSON Lines file with a background writer. {@linkcode append}
 * formats an event straight into a byte buffer (no intermediate strings, so
 * little garbage per event); one write at a time carries everything buffered
 * since the last, from another buffer, so appending never waits. A buffer
 * that fills while a write is in flight is queued behind it up to its last
 * whole line, and the line being formatted moves to a fresh buffer (one line
 * is copied, not the buffer), so a busy member's logging costs no buffer
 * growth and every write ends with a whole line. If a write
 * fails, the error is printed once on stderr and later lines are discarded (a
 * member keeps serving when its disk is full).
 */
class JsonLinesFile {
  readonly #path: string;
  readonly #file: Deno.FsFile;
  /** Lines not yet handed to a write; `#len` bytes of it are used. */
  #buf: Uint8Array = new Uint8Array(BUFFER_BYTES);
  #len = 0;
  /** Where the line being appended starts in `#buf` (equal to `#len` between appends). */
  #lineStart = 0;
  /** Filled buffers waiting for the write in flight, oldest first (each the used part). */
  #full: Uint8Array[] = [];
  /** Buffers that finished writes gave back, reused by later swaps. */
  #spares: Uint8Array[] = [new Uint8Array(BUFFER_BYTES)];
  #writing: Promise<void> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failed = false;

  constructor(path: string, file: Deno.FsFile) {
    this.#path = path;
    this.#file = file;
  }

  /**
   * Buffers one event as a JSON line (see the module doc for the shape);
   * starts a write if enough is buffered.
   */
  append(logger: string, level: EventLevel, event: string, fields: EventFields): void {
    if (this.#failed) return;
    const now = Date.now();
    if (now !== stampMs) {
      stampMs = now;
      stampText = new Date(now).toISOString();
    }
    this.#ascii('{"@timestamp":"');
    this.#ascii(stampText);
    this.#ascii('","level":"');
    this.#ascii(LEVEL_TEXT[level]);
    this.#ascii('","message":');
    this.#string(event);
    this.#ascii(',"logger":');
    this.#string(logger);
    this.#ascii(',"event":');
    this.#string(event);
    for (const key in fields) {
      const v = fields[key];
      if (v === undefined) continue;
      this.#ascii(",");
      this.#string(key);
      this.#ascii(":");
      if (typeof v === "string") this.#string(v);
      else this.#ascii(typeof v === "number" && !isFinite(v) ? "null" : String(v));
    }
    this.#ascii("}\n");
    this.#lineStart = this.#len;
    this.#schedule();
  }

  /** Starts a write if enough is buffered, else makes sure one starts within FILE_FLUSH_MS. */
  #schedule(): void {
    if (this.#len >= FILE_FLUSH_BYTES || this.#full.length > 0) this.#kick();
    else if (this.#len > 0 && this.#timer === undefined && this.#writing === null) {
      const timer = setTimeout(() => {
        this.#timer = undefined;
        this.#kick();
      }, FILE_FLUSH_MS);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** Writes everything buffered, then closes the file. */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#writing !== null || ((this.#len > 0 || this.#full.length > 0) && !this.#failed)) {
      this.#kick();
      await this.#writing;
    }
    this.#file.close();
  }

  /** Makes room for `bytes` more bytes (the check is inline; a swap is rare). */
  #reserve(bytes: number): void {
    if (this.#len + bytes > this.#buf.length) this.#swap(bytes);
  }

  /**
   * Queues the buffer's whole lines for writing and goes on in another buffer
   * with room for `bytes` more, the line being appended copied over first.
   */
  #swap(bytes: number): void {
    const old = this.#buf;
    const start = this.#lineStart;
    const partial = this.#len - start;
    if (start > 0) this.#full.push(old.subarray(0, start));
    const need = partial + bytes;
    const next = need <= BUFFER_BYTES
      ? this.#spares.pop() ?? new Uint8Array(BUFFER_BYTES)
      : new Uint8Array(need); // one exceptional line
    next.set(old.subarray(start, this.#len));
    this.#buf = next;
    this.#len = partial;
    this.#lineStart = 0;
  }

  /** Appends text known to be ASCII and to need no JSON escape. */
  #ascii(text: string): void {
    this.#reserve(text.length);
    const buf = this.#buf;
    let len = this.#len;
    for (let i = 0; i < text.length; i++) buf[len++] = text.charCodeAt(i);
    this.#len = len;
  }

  /** Appends `text` as a JSON string, exactly as `JSON.stringify(text)` would. */
  #string(text: string): void {
    this.#reserve(text.length * MAX_BYTES_PER_CHAR + 2);
    const buf = this.#buf;
    const start = this.#len;
    let len = start;
    buf[len++] = QUOTE;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x20 && c < 0x80 && c !== QUOTE && c !== BACKSLASH) {
        buf[len++] = c;
        continue;
      }
      // Escapes and non-ASCII (UTF-8, lone surrogates): the built-in does it for the whole string.
      const json = JSON.stringify(text);
      const done = encoder.encodeInto(json, buf.subarray(start));
      this.#len = start + done.written;
      return;
    }
    buf[len++] = QUOTE;
    this.#len = len;
  }

  #kick(): void {
    if (this.#writing !== null) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#writing = this.#drain().finally(() => {
      this.#writing = null;
      // Lines appended while the last write finished found it still running and set no timer.
      if (!this.#failed) this.#schedule();
    });
  }

  async #drain(): Promise<void> {
    while ((this.#len > 0 || this.#full.length > 0) && !this.#failed) {
      if (this.#full.length === 0) this.#swap(0);
      const bytes = this.#full.shift()!;
      try {
        for (let off = 0; off < bytes.length;) off += await this.#file.write(bytes.subarray(off));
      } catch (e) {
        this.#failed = true;
        this.#len = 0;
        this.#full = [];
        console.error(`herd: cannot write log file ${this.#path}: ${(e as Error).message}`);
      }
      // A buffer made for an exceptional line is not kept.
      if (bytes.buffer.byteLength === BUFFER_BYTES && this.#spares.length < MAX_SPARE_BUFFERS) {
        this.#spares.push(new Uint8Array(bytes.buffer));
      }
    }
  }
}

const encoder = new TextEncoder();

/** An event log that keeps events in memory (tests, `simulate --demo`). */
export class MemoryLog implements EventLog {
  /** Every event so far, oldest first. */
  readonly events: Array<{ level: EventLevel; event: EventName; fields: EventFields }> = [];

  emit(level: EventLevel, event: EventName, fields: EventFields): void {
    this.events.push({ level, event, fields });
  }

  /** Events named `event`. */
  named(event: EventName): Array<{ level: EventLevel; event: EventName; fields: EventFields }> {
    return this.events.filter((e) => e.event === event);
  }
}

/** The log folder or a log file cannot be created or opened (a user error). */
export class LogSetupError extends Error {
  /** Always `LogSetupError`, so the error is recognisable once printed or logged. */
  override name = "LogSetupError";
}

/** Options of {@linkcode setupLogging}. */
export interface LoggingOptions {
  /** Folder for `<Name>.log` files, created if missing. `null` disables files. @default "logs" */
  logDir: string | null;
  /** Members that get a file each. */
  members: readonly string[];
  /**
   * What the console shows, one short line per event: `"quiet"` warnings and errors only;
   * `"normal"` those and the info events of {@linkcode OPERATOR_EVENTS}; `"verbose"` every
   * event at info and above, per-message ones (`msg.in`, `reply.out`...) included; `null` no
   * console. Debug events go to the files only. An event of {@linkcode PROCESS_WIDE_EVENTS} is
   * shown once per process. Takes precedence over `consoleLevel`.
   *
   * @default {"normal"}
   */
  console?: ConsoleVerbosity | null;
  /**
   * Lowest level shown on the console; `null` for no console. Read only when `console` is
   * absent: `"debug"` and `"info"` mean `"verbose"`, `"warning"` and `"error"` mean `"quiet"`.
   *
   * @deprecated Use `console`.
   */
  consoleLevel?: EventLevel | null;
  /**
   * Where console lines are written (tests capture them here). It is not closed.
   *
   * @default {Deno.stdout.writable}
   */
  consoleStream?: WritableStream<Uint8Array>;
}

/**
 * Console records buffered before LogTape flushes; while stdout is stalled it
 * keeps at most twice this many and drops newer console lines past that.
 */
const CONSOLE_BUFFER_RECORDS = 10_000;

/** Longest field value shown on the console, chars; the files keep it whole. */
const CONSOLE_VALUE_CHARS = 200;

/** A console-sized value: its first line, at most {@linkcode CONSOLE_VALUE_CHARS} chars. */
function shorten(value: string): string {
  const nl = value.indexOf("\n");
  const first = nl === -1 || nl === value.length - 1 ? value.trimEnd() : value.slice(0, nl);
  const cut = first.length > CONSOLE_VALUE_CHARS ? first.slice(0, CONSOLE_VALUE_CHARS) : first;
  return cut.length < value.trimEnd().length ? `${cut}… (${value.length} chars)` : cut;
}

/** Short one-line rendering of an event for the console. */
function consoleLine(record: LogRecord): string {
  const p = record.properties;
  const time = new Date(record.timestamp).toISOString().slice(11, 23);
  const who = record.category[1] ?? record.category.join(".");
  const parts: string[] = [];
  for (const [k, v] of Object.entries(p)) {
    if (k === "event" || v === undefined) continue;
    const text = typeof v === "string" ? shorten(v) : v;
    parts.push(
      `${k}=${typeof text === "string" && /[\s"]/.test(text) ? JSON.stringify(text) : text}`,
    );
  }
  const level = record.level === "info" ? "" : ` ${record.level.toUpperCase()}`;
  return `${time} ${who}${level} ${p.event ?? record.message.join("")} ${parts.join(" ")}\n`;
}

/**
 * Configures logging for a process: one JSON Lines file per member (this
 * module's writer) and a human console (LogTape). Call once per process; call
 * the returned function (or {@linkcode stopLogging}) to flush and close the
 * files. A second call closes the files of the first.
 *
 * @param options Where logs go.
 * @returns A function that flushes and closes every sink.
 * @throws {LogSetupError} If `logDir` cannot be created or a log file opened.
 */
export async function setupLogging(options: LoggingOptions): Promise<() => Promise<void>> {
  const sinks: Record<string, Sink> = {};
  if (options.logDir !== null) {
    try {
      await Deno.mkdir(options.logDir, { recursive: true });
    } catch (e) {
      throw new LogSetupError(
        `cannot create log folder ${options.logDir}: ${(e as Error).message}; pass --log-dir <dir>`,
        { cause: e },
      );
    }
    const opened = new Map<string, JsonLinesFile>();
    for (const name of options.members) {
      const path = `${options.logDir}/${name}.log`;
      try {
        const file = await Deno.open(path, { append: true, create: true });
        opened.set(name, new JsonLinesFile(path, file));
      } catch (e) {
        for (const f of opened.values()) await f.close();
        throw new LogSetupError(`cannot open log file ${path}: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
    await closeFiles();
    for (const [name, file] of opened) files.set(name, file);
  }
  const rootSinks: string[] = [];
  const verbosity = consoleVerbosity(options);
  if (verbosity !== null) {
    // Not console.log: a terminal or pipe that stops reading would block
    // every reply. The non-blocking stream sink buffers and drops instead.
    sinks.console = getStreamSink(options.consoleStream ?? Deno.stdout.writable, {
      formatter: consoleLine,
      closeStream: false,
      nonBlocking: { bufferSize: CONSOLE_BUFFER_RECORDS, flushInterval: 100 },
    });
    rootSinks.push("console");
  }
  // memberLog() filters before LogTape; the sink needs no filter of its own.
  ({ rank: consoleRank, ranks: consoleRanks } = consoleThresholds(verbosity));
  shownOnce.clear();
  await configure({
    reset: true,
    sinks,
    loggers: [
      { category: [LOG_CATEGORY], sinks: rootSinks, lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: rootSinks, lowestLevel: "warning" },
    ],
  });
  return stopLogging;
}

/** The console verbosity of `options`, from `console` or else the deprecated `consoleLevel`. */
function consoleVerbosity(options: LoggingOptions): ConsoleVerbosity | null {
  if (options.console !== undefined) return options.console;
  if (options.consoleLevel === undefined) return "normal";
  if (options.consoleLevel === null) return null;
  return LEVEL_RANK[options.consoleLevel] >= LEVEL_RANK.warning ? "quiet" : "verbose";
}

/** Flushes and closes every member log file and LogTape sink (files are complete afterwards). */
export async function stopLogging(): Promise<void> {
  ({ rank: consoleRank, ranks: consoleRanks } = consoleThresholds(null));
  await closeFiles();
  await reset();
}

/** Flushes and closes the member log files. */
async function closeFiles(): Promise<void> {
  const open = [...files.values()];
  files.clear();
  for (const file of open) await file.close();
}

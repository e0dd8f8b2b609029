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
 * A file is rotated by size (`[log]` of herd.toml, {@linkcode LoggingOptions}):
 * a write that would take `<Name>.log` past `maxFileBytes` renames it to
 * `<Name>.log.1` (older rotated files move up one, those past `maxFiles` are
 * deleted) and goes on in a fresh `<Name>.log`; no line is split or moved out
 * of order. {@linkcode logFilesOldestFirst} lists a member's files in the order
 * they were written.
 *
 * A member's log has one writer: {@linkcode setupLogging} takes an exclusive,
 * non-blocking lock on `<Name>.log.lock` beside the log for as long as the
 * files are open (a clean stop deletes it), so a second process for the same
 * member fails at start with a {@linkcode LogSetupError} and never writes into
 * the running member's log.
 *
 * For an external logrotate, SIGUSR1 makes the process reopen its log files
 * ({@linkcode reopenLogs}) after the rotator has moved them away.
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
 * `msg.in` (`conn`, `remote`, `peer` on a neighbour's link) is one event per
 * read, its line in `line` or, for several, its lines in order in `lines`
 * (an overlong line gets an event of its own, with `overlong`), and
 * `reply.out` (`conn`, `remote`) one per write, its reply text in `reply` or
 * its replies in `replies` (a `?` reply gets an event of its own, with its
 * `reason`).
 *
 * With `[log] locations = "redacted"` ({@linkcode LoggingOptions.locations}),
 * every event's text fields go through {@linkcode redactLocations} before they
 * reach a file or the console, so no client location is written anywhere; by
 * default (`"full"`) that costs one boolean test per event.
 *
 * Event names (the `event` field of every JSON line, also its `message`) are
 * listed, with their meaning, in one place: `EVENTS` in src/events.ts
 * (docs/EVENTS.md is generated from it).
 *
 * @module
 */

import type { LogConfig } from "./config.ts";
import { DEFAULT_LOG } from "./config.ts";
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

/**
 * Fields of an event; values must be JSON-serialisable. A list of strings holds one item per
 * line or client of a batch (`lines` of `msg.in`, `clients` of `record.stored`).
 */
export type EventFields = Record<
  string,
  string | number | boolean | null | undefined | readonly string[]
>;

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
      if (redacting) fields = redactFields(fields);
      const file = files.get(member);
      if (file !== undefined) file.append(name, level, event, fields);
      // Two lookups decide; LogTape is called only for a line the console shows.
      if (LEVEL_RANK[level] >= (consoleRanks.get(event) ?? consoleRank)) {
        toConsole(logger, level, event, fields);
      }
    },
  };
}

/** `[log] locations = "redacted"` is in force (set by {@linkcode setupLogging}). */
let redacting = false;

/** What a redacted log shows in place of a client's location. */
export const REDACTED_LOCATION = "<location>";

/** What a redacted log shows in place of a WHATSAT reply's Nearby Search document. */
export const REDACTED_PLACES = "<places>";

/**
 * Anything shaped like an ISO 6709 point, anywhere in a text: two signed decimals
 * back to back (`+34.068930-118.445127`, also out of range or with a trailing point).
 */
const LOCATION_LIKE = /[+-][0-9]+(?:\.[0-9]*)?[+-][0-9]+(?:\.[0-9]*)?/g;

/**
 * A WHATSAT reply's JSON document: from a line that is only `{` to the next line that is only
 * `}` (the document's lines inside are indented, and JSON strings hold no newline).
 */
const PLACES_DOCUMENT = /^\{$[\s\S]*?^\}$/gm;

/** A location in a URL's query (the legacy Google Nearby Search's `location=lat,lng`). */
const LOCATION_PARAM = /([?&](?:location|latlng|lat|lng|near)=)[^&#\s"]*/gi;

/** The text an ISO 6709 parse error quotes (`... got "34.06,-118.44"`), whatever it is. */
const QUOTED_LOCATION = /(ISO 6709 location: [^"]*got )"(?:[^"\\]|\\.)*"/g;

/** White space between a line's fields (PROTOCOL.md section 1), kept as it was. */
const FIELD_GAPS = /([ \t\n\v\f\r]+)/;

/** Numeric fields of events that would be coordinates. */
const COORDINATE_KEYS: ReadonlySet<string> = new Set(["lat", "lng", "latitude", "longitude"]);

/**
 * Takes client locations out of a logged text (`[log] locations = "redacted"`): in an IAMAT
 * line the third field and in an AT line the fifth, whatever they hold (also after `? `, the
 * echo of an invalid line); anywhere else, every token shaped like an ISO 6709 point; a
 * WHATSAT reply's Nearby Search document (its places are near the client) as a whole; a
 * `location=` (or `lat=`, `lng=`, `latlng=`, `near=`) URL parameter; and the text an ISO 6709
 * parse error quotes. Each becomes {@linkcode REDACTED_LOCATION} (the document
 * {@linkcode REDACTED_PLACES}). Lines keep their fields and white space otherwise.
 *
 * @example
 * ```ts
 * import { redactLocations } from "./log.ts";
 * const line = redactLocations("IAMAT kiwi +34.068930-118.445127 1621464827.959498503");
 * if (line !== "IAMAT kiwi <location> 1621464827.959498503") throw new Error(line);
 * ```
 *
 * @param text A logged line, lines, a reply or a reason.
 * @returns The text without locations.
 */
export function redactLocations(text: string): string {
  let out = text;
  if (out.includes("{\n")) out = out.replace(PLACES_DOCUMENT, REDACTED_PLACES);
  if (out.includes("IAMAT") || out.includes("AT ")) {
    out = out.includes("\n") ? out.split("\n").map(redactFieldOf).join("\n") : redactFieldOf(out);
  }
  if (out.includes("=")) out = out.replace(LOCATION_PARAM, `$1${REDACTED_LOCATION}`);
  if (out.includes("ISO 6709")) out = out.replace(QUOTED_LOCATION, `$1"${REDACTED_LOCATION}"`);
  return out.replace(LOCATION_LIKE, REDACTED_LOCATION);
}

/** One line with its IAMAT or AT location field (by position) redacted. */
function redactFieldOf(line: string): string {
  const echo = line.startsWith("? ") ? 2 : 0;
  let start = echo;
  while (start < line.length && FIELD_GAPS.test(line[start])) start++;
  const parts = line.slice(start).split(FIELD_GAPS);
  // Fields sit at even indices, the gaps between them at odd ones.
  const at = parts[0] === "IAMAT" ? 4 : parts[0] === "AT" ? 8 : -1;
  if (at === -1 || parts.length <= at) return line;
  parts[at] = REDACTED_LOCATION;
  return line.slice(0, start) + parts.join("");
}

/** An event's fields with every location redacted ({@linkcode redactLocations}). */
function redactFields(fields: EventFields): EventFields {
  const out: EventFields = {};
  for (const key in fields) {
    const v = fields[key];
    if (typeof v === "string") out[key] = redactLocations(v);
    else if (Array.isArray(v)) out[key] = v.map(redactLocations);
    else if (typeof v === "number" && COORDINATE_KEYS.has(key)) out[key] = REDACTED_LOCATION;
    else out[key] = v;
  }
  return out;
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

/** A char that JSON escapes (or that is not ASCII): the string takes the exact slow path. */
// deno-lint-ignore no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u0080-\uffff]/;

/** Shortest string worth the native encode (below it, a char at a time is as quick). */
const NATIVE_MIN_CHARS = 24;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LF = 0x0a;

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
 * member keeps serving when its disk is full) until a reopen.
 *
 * Rotation and reopening happen in the writer, between writes, so they cost
 * appending nothing and never interleave with a write. The rotation check is
 * one integer comparison per write: a write that would take the file past
 * `maxFileBytes` first writes the whole lines that fit, then rotates (see
 * `#rotate`), then goes on in the fresh file. Lines are never split or
 * reordered across files.
 */
class JsonLinesFile {
  /** The live file, `<dir>/<name>.log`. */
  readonly #path: string;
  readonly #dir: string;
  readonly #name: string;
  #file: Deno.FsFile;
  /** Bytes in the live file: its size when opened plus every byte written since. */
  #size: number;
  /** A write that would take `#size` past this rotates first; `Infinity` never rotates. */
  readonly #maxBytes: number;
  /** Rotated files kept; 0 keeps every one. */
  readonly #maxFiles: number;
  /** Held from open to close: no other process writes this member's log meanwhile. */
  readonly #lock: LogLock;
  /** A failed rotation has been reported on stderr (later ones are not). */
  #rotateReported = false;
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
  /** `close()` has begun: no more reopening. */
  #closing = false;
  /** The writer is to reopen the file before its next write; these wait for it. */
  #reopenWanted = false;
  #reopened: Array<() => void> = [];
  /** A failed reopen has been reported on stderr (later ones are not). */
  #reopenReported = false;

  private constructor(
    dir: string,
    name: string,
    file: Deno.FsFile,
    size: number,
    rotation: Rotation,
    lock: LogLock,
  ) {
    this.#lock = lock;
    this.#dir = dir;
    this.#name = name;
    this.#path = `${dir}/${name}.log`;
    this.#file = file;
    this.#size = size;
    this.#maxBytes = rotation.maxFileBytes === 0 ? Infinity : rotation.maxFileBytes;
    this.#maxFiles = rotation.maxFiles;
  }

  /**
   * Takes the member's log lock, then opens (creating, appending to) `<dir>/<name>.log`; its
   * present size counts towards the rotation cap.
   *
   * @throws {LogSetupError} If another process holds the lock, or a file cannot be opened.
   */
  static async open(dir: string, name: string, rotation: Rotation): Promise<JsonLinesFile> {
    const lock = await LogLock.acquire(dir, name);
    const path = `${dir}/${name}.log`;
    let file: Deno.FsFile | undefined;
    try {
      file = await Deno.open(path, { append: true, create: true });
      const { size } = await file.stat();
      return new JsonLinesFile(dir, name, file, size, rotation, lock);
    } catch (e) {
      file?.close();
      await lock.release();
      throw new LogSetupError(`cannot open log file ${path}: ${(e as Error).message}`, {
        cause: e,
      });
    }
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
      else if (typeof v === "object" && v !== null) this.#strings(v);
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

  /** Writes everything buffered, then closes the file and releases the lock. */
  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#writing !== null || ((this.#len > 0 || this.#full.length > 0) && !this.#failed)) {
      this.#kick();
      await this.#writing;
    }
    this.#file.close();
    await this.#lock.release();
    for (const resolve of this.#reopened.splice(0)) resolve();
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

  /** Appends a list of strings as a JSON array, exactly as `JSON.stringify(list)` would. */
  #strings(list: readonly string[]): void {
    // The usual case, every item printable ASCII without a quote or backslash: one join and one
    // native encode for the whole list, about 2.4 times quicker than a char at a time.
    let plain = true;
    for (let i = 0; i < list.length && plain; i++) plain = !NEEDS_ESCAPE.test(list[i]);
    if (plain) {
      this.#native(list.length === 0 ? "[]" : '["' + list.join('","') + '"]');
      return;
    }
    this.#ascii("[");
    for (let i = 0; i < list.length; i++) {
      if (i > 0) this.#ascii(",");
      this.#string(list[i]);
    }
    this.#ascii("]");
  }

  /** Appends text known to be printable ASCII in one native encode. */
  #native(text: string): void {
    this.#reserve(text.length);
    this.#len += encoder.encodeInto(text, this.#buf.subarray(this.#len)).written;
  }

  /** Appends `text` as a JSON string, exactly as `JSON.stringify(text)` would. */
  #string(text: string): void {
    if (text.length >= NATIVE_MIN_CHARS && !NEEDS_ESCAPE.test(text)) {
      this.#native('"' + text + '"');
      return;
    }
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
    for (;;) {
      if (this.#reopenWanted) await this.#reopen();
      else if ((this.#len > 0 || this.#full.length > 0) && !this.#failed) await this.#writeNext();
      else return;
    }
  }

  /** Writes the oldest queued buffer, or what `#buf` holds if none is queued. */
  async #writeNext(): Promise<void> {
    if (this.#full.length === 0) this.#swap(0);
    const bytes = this.#full.shift()!;
    try {
      await this.#write(bytes);
    } catch (e) {
      this.#failed = true;
      this.#len = 0;
      this.#lineStart = 0;
      this.#full = [];
      console.error(`herd: cannot write log file ${this.#path}: ${(e as Error).message}`);
    }
    // A buffer made for an exceptional line is not kept.
    if (bytes.buffer.byteLength === BUFFER_BYTES && this.#spares.length < MAX_SPARE_BUFFERS) {
      this.#spares.push(new Uint8Array(bytes.buffer));
    }
  }

  /**
   * Writes out what is buffered to the file open now, closes it and opens `<name>.log`
   * afresh (creating it), in the writer, between two writes: for logrotate, which moves the
   * file away and then signals. Lines keep their order and none is lost: those appended
   * before the call go to the file open at the call, those after the returned promise
   * resolves to the new one. A log whose writes had failed (a full disk) is written again.
   * If `<name>.log` cannot be opened, that is reported once on stderr and writing goes on in
   * the file open now.
   *
   * @returns Resolves when done (at once if the file is closed or closing).
   */
  reopen(): Promise<void> {
    if (this.#closing) return Promise.resolve();
    return new Promise((resolve) => {
      this.#reopened.push(resolve);
      this.#reopenWanted = true;
      this.#kick();
    });
  }

  async #reopen(): Promise<void> {
    this.#reopenWanted = false;
    const done = this.#reopened.splice(0);
    if (this.#len > 0) this.#swap(0);
    for (let queued = this.#full.length; queued > 0 && !this.#failed; queued--) {
      await this.#writeNext();
    }
    let fresh: Deno.FsFile | undefined;
    try {
      fresh = await Deno.open(this.#path, { append: true, create: true });
      const { size } = await fresh.stat();
      this.#file.close();
      this.#file = fresh;
      this.#size = size;
      this.#failed = false;
    } catch (e) {
      fresh?.close();
      if (!this.#reopenReported) {
        this.#reopenReported = true;
        console.error(
          `herd: cannot reopen log file ${this.#path}: ${(e as Error).message}; ` +
            "still writing to the file open before",
        );
      }
    }
    for (const resolve of done) resolve();
  }

  /**
   * Writes whole lines, rotating first when the next ones would take the file past the cap:
   * the lines that fit go to the current file, the rest to the fresh one. A line longer than
   * the cap goes alone into a file of its own.
   */
  async #write(bytes: Uint8Array): Promise<void> {
    let rest = bytes;
    let rotated = false;
    while (rest.length > 0) {
      const room = this.#maxBytes - this.#size;
      let n = rest.length;
      if (n > room) {
        n = room > 0 ? rest.lastIndexOf(LF, room - 1) + 1 : 0; // the whole lines that fit
        if (n === 0) {
          if (this.#size > 0 && !rotated) {
            await this.#rotate();
            rotated = true;
            continue;
          }
          n = rest.indexOf(LF) + 1 || rest.length; // longer than the cap: alone
        }
      }
      const part = rest.subarray(0, n);
      for (let off = 0; off < part.length;) off += await this.#file.write(part.subarray(off));
      this.#size += n;
      rest = rest.subarray(n);
      rotated = false;
    }
  }

  /**
   * Rotates, called by the writer between two writes: `<name>.log.<k>` becomes
   * `<name>.log.<k+1>` from the oldest down (those past `maxFiles` are deleted instead),
   * `<name>.log` becomes `<name>.log.1`, and a fresh `<name>.log` is opened; the old file is
   * closed only then. Every rename happens while the old file is still open and still ours,
   * so when one fails nothing is lost: the failure is reported once on stderr, writing goes
   * on in the file open now, and the next attempt comes after another `maxFileBytes`. If
   * `<name>.log` is no longer the open file (an external logrotate moved it and has not
   * signalled yet), nothing is renamed: the rotated files are the other rotator's.
   */
  async #rotate(): Promise<void> {
    let fresh: Deno.FsFile;
    try {
      if (!await names(this.#path, this.#file)) {
        this.#size = 0;
        return;
      }
      for (const k of await rotatedNumbers(this.#dir, this.#name)) {
        const from = `${this.#path}.${k}`;
        if (this.#maxFiles > 0 && k >= this.#maxFiles) await Deno.remove(from);
        else await Deno.rename(from, `${this.#path}.${k + 1}`);
      }
      await Deno.rename(this.#path, `${this.#path}.1`);
      fresh = await Deno.open(this.#path, { append: true, create: true });
    } catch (e) {
      this.#size = 0;
      if (!this.#rotateReported) {
        this.#rotateReported = true;
        console.error(
          `herd: cannot rotate log file ${this.#path}: ${(e as Error).message}; ` +
            "still writing to the file open now",
        );
      }
      return;
    }
    this.#file.close();
    this.#file = fresh;
    this.#size = 0;
  }
}

/** Attempts at taking a lock file that a stopping process keeps deleting under us. */
const LOCK_ATTEMPTS = 5;

/**
 * The lock that makes one process the only writer of a member's log: an exclusive advisory
 * lock on `<dir>/<name>.log.lock` (`Deno.FsFile.tryLock`, on Linux `flock(fd, LOCK_EX |
 * LOCK_NB)`; the platform's file lock elsewhere), held from open to close.
 *
 * `tryLock`, not `lock`: it never waits, so a second process for the same member fails at
 * start with one line instead of hanging behind the first. The kernel drops the lock when
 * its process ends, however it ends, so a crash leaves no stale lock (at most the file,
 * which the next start reuses); no pid or liveness check is needed. A separate file, not the
 * log itself: rotation and logrotate rename the log, and between that rename and locking the
 * fresh `<name>.log` another process could take it; the lock file is never renamed, so one
 * lock covers the member's log through every rotation and reopen.
 *
 * A clean stop deletes the lock file (while still holding the lock) to leave only logs in
 * the folder; so after locking, the path must still name the file locked, else a stopping
 * process deleted it in between and the lock is taken again on a fresh file. The holder's
 * pid is written into the file for the message a second process prints.
 */
class LogLock {
  readonly #path: string;
  readonly #file: Deno.FsFile;

  private constructor(path: string, file: Deno.FsFile) {
    this.#path = path;
    this.#file = file;
  }

  /**
   * Takes the lock of `<dir>/<name>.log`.
   *
   * @throws {LogSetupError} If another process holds it, or the lock file cannot be used.
   */
  static async acquire(dir: string, name: string): Promise<LogLock> {
    const log = `${dir}/${name}.log`;
    const path = `${log}.lock`;
    for (let attempt = 1;; attempt++) {
      let file: Deno.FsFile | undefined;
      try {
        file = await Deno.open(path, { read: true, write: true, create: true });
        if (!await file.tryLock(true)) {
          file.close();
          throw new LogSetupError(
            `cannot lock log file ${log}: another herd process${await holder(path)} is ` +
              `writing it (is ${name} already running?)`,
          );
        }
        if (await names(path, file)) {
          await file.truncate(0);
          await file.write(encoder.encode(`${Deno.pid}\n`));
          return new LogLock(path, file);
        }
        file.close();
        if (attempt === LOCK_ATTEMPTS) throw new Error(`${path} keeps being deleted`);
      } catch (e) {
        if (e instanceof LogSetupError) throw e;
        try {
          file?.close();
        } catch {
          // already closed
        }
        throw new LogSetupError(`cannot lock log file ${log}: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
  }

  /** Deletes the lock file, then drops the lock (by closing it). */
  async release(): Promise<void> {
    try {
      await Deno.remove(this.#path);
    } catch {
      // Gone already, or not deletable while open (Windows): the next start reuses it.
    }
    this.#file.close();
  }
}

/** Whether `path` still names the open `file` (Windows has no inode: assumed). */
async function names(path: string, file: Deno.FsFile): Promise<boolean> {
  const open = await file.stat();
  if (open.ino === null) return true;
  try {
    const named = await Deno.stat(path);
    return named.ino === open.ino && named.dev === open.dev;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** ` (pid <n>)` from the lock file of the process holding it, or "" if it says none yet. */
async function holder(path: string): Promise<string> {
  try {
    const pid = (await Deno.readTextFile(path)).trim();
    return /^[0-9]+$/.test(pid) ? ` (pid ${pid})` : "";
  } catch {
    return "";
  }
}

/**
 * The `k` of every rotated file `<dir>/<name>.log.<k>`, oldest (highest) first.
 *
 * @returns Positive integers, descending; empty if there are none or `dir` does not exist.
 */
async function rotatedNumbers(dir: string, name: string): Promise<number[]> {
  const prefix = `${name}.log.`;
  const found: number[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const suffix = entry.name.slice(prefix.length);
      if (entry.name.startsWith(prefix) && /^[1-9][0-9]{0,15}$/.test(suffix)) {
        found.push(Number(suffix));
      }
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return found.sort((a, b) => b - a);
}

/**
 * A member's log files in the order they were written, for tools that read a whole log: the
 * rotated ones from the oldest, `<dir>/<name>.log.<k>` with the highest `k`, down to
 * `<name>.log.1`, then the live `<name>.log`. Only files that exist are listed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { logFilesOldestFirst } from "./log.ts";
 *
 * const dir = await Deno.makeTempDir();
 * for (const file of ["Hill.log", "Hill.log.1", "Hill.log.2", "Hill.log.10", "Smith.log"]) {
 *   await Deno.writeTextFile(`${dir}/${file}`, "");
 * }
 * assert.deepEqual(await logFilesOldestFirst(dir, "Hill"), [
 *   `${dir}/Hill.log.10`,
 *   `${dir}/Hill.log.2`,
 *   `${dir}/Hill.log.1`,
 *   `${dir}/Hill.log`,
 * ]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @param dir The log folder (`--log-dir`).
 * @param name The member.
 * @returns Paths `<dir>/<file>`; empty when `dir` or the files do not exist.
 * @throws {Deno.errors.PermissionDenied} Or another error if `dir` cannot be read.
 */
export async function logFilesOldestFirst(dir: string, name: string): Promise<string[]> {
  const paths = (await rotatedNumbers(dir, name)).map((k) => `${dir}/${name}.log.${k}`);
  const live = `${dir}/${name}.log`;
  try {
    await Deno.lstat(live);
    paths.push(live);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return paths;
}

/** Rotation settings of a log file: `[log]` of herd.toml ({@linkcode LogConfig}). */
type Rotation = Pick<LogConfig, "maxFileBytes" | "maxFiles">;

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

/**
 * The log folder or a log file cannot be created, opened or locked (a user error): the message
 * is one line, e.g. `cannot lock log file logs/Hill.log: another herd process (pid 4242) is
 * writing it (is Hill already running?)`.
 */
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
   * shown once per process.
   *
   * @default {"normal"}
   */
  console?: ConsoleVerbosity | null;
  /**
   * Where console lines are written (tests capture them here). It is not closed.
   *
   * @default {Deno.stdout.writable}
   */
  consoleStream?: WritableStream<Uint8Array>;
  /**
   * Size at which a member's `<Name>.log` is rotated to `<Name>.log.1`, bytes; 0 never
   * rotates. Only a line longer than this makes a file bigger (it gets a file of its own). An
   * existing file's size counts. `[log] max_file_bytes` of herd.toml.
   *
   * @default {67108864}
   */
  maxFileBytes?: number;
  /**
   * Rotated files kept per member, `<Name>.log.1` (newest) to `<Name>.log.<maxFiles>`; 0 keeps
   * every one. `[log] max_files` of herd.toml.
   *
   * @default {5}
   */
  maxFiles?: number;
  /**
   * `"redacted"`: no client location is written to a log file or the console, each replaced
   * by `<location>` ({@linkcode redactLocations}); `"full"`: lines are logged as they came.
   * `[log] locations` of herd.toml.
   *
   * @default {"full"}
   */
  locations?: "full" | "redacted";
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
    if (Array.isArray(v)) {
      parts.push(`${k}=${shorten(JSON.stringify(v))}`);
      continue;
    }
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
 * module's writer), each locked against other processes and rotated by size,
 * and a human console (LogTape). With files, SIGUSR1 reopens them
 * ({@linkcode reopenLogs}; not on Windows) until they are closed. Call once per
 * process; call the returned function (or {@linkcode stopLogging}) to flush
 * and close the files. A second call closes the files of the first.
 *
 * @param options Where logs go.
 * @returns A function that flushes and closes every sink.
 * @throws {LogSetupError} If `logDir` cannot be created, or a log file opened or locked
 * (another process writes that member's log).
 * @throws {RangeError} If `maxFileBytes` or `maxFiles` is not an integer >= 0.
 */
export async function setupLogging(options: LoggingOptions): Promise<() => Promise<void>> {
  const rotation: Rotation = {
    maxFileBytes: count(options.maxFileBytes ?? DEFAULT_LOG.maxFileBytes, "maxFileBytes"),
    maxFiles: count(options.maxFiles ?? DEFAULT_LOG.maxFiles, "maxFiles"),
  };
  const sinks: Record<string, Sink> = {};
  // First, as this process's own lock on a file would refuse it a second time.
  await closeFiles();
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
    for (const name of new Set(options.members)) {
      try {
        opened.set(name, await JsonLinesFile.open(options.logDir, name, rotation));
      } catch (e) {
        for (const f of opened.values()) await f.close();
        throw e;
      }
    }
    for (const [name, file] of opened) files.set(name, file);
    listenForReopen();
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
  redacting = (options.locations ?? DEFAULT_LOG.locations) === "redacted";
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

/** `value` if it is a whole number >= 0, for option `name`. */
function count(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Cannot set up logging: ${name} must be an integer >= 0, got ${value}`);
  }
  return value;
}

/** The console verbosity of `options` (`"normal"` when not given). */
function consoleVerbosity(options: LoggingOptions): ConsoleVerbosity | null {
  return options.console === undefined ? "normal" : options.console;
}

/**
 * Reopens every member's log file: writes out what is buffered to the file open now, closes
 * it and opens `<Name>.log` again, creating it. SIGUSR1 does this (the listener is installed
 * by {@linkcode setupLogging}, except on Windows) for an external logrotate, which moves the
 * file away and then signals (`postrotate` ... `kill -USR1 <pid>`); herd's own rotation needs
 * no signal. Lines keep their order and none is lost: those logged before the call go to the
 * moved file, those after the returned promise resolves to the new one. A log whose writes
 * had failed (a full disk) is written again. A file that cannot be reopened is reported once
 * on stderr and written on where it is.
 *
 * @returns Resolves once every file is reopened (or failed to be).
 */
export async function reopenLogs(): Promise<void> {
  await Promise.all([...files.values()].map((file) => file.reopen()));
}

/** The SIGUSR1 listener {@linkcode setupLogging} installed, if any. */
let reopenListener: (() => void) | undefined;

/** Makes SIGUSR1 reopen the log files (not on Windows, which has no such signal). */
function listenForReopen(): void {
  if (Deno.build.os === "windows" || reopenListener !== undefined) return;
  reopenListener = () => void reopenLogs();
  Deno.addSignalListener("SIGUSR1", reopenListener);
}

/** Flushes and closes every member log file and LogTape sink (files are complete afterwards). */
export async function stopLogging(): Promise<void> {
  ({ rank: consoleRank, ranks: consoleRanks } = consoleThresholds(null));
  redacting = false;
  await closeFiles();
  await reset();
}

/** Flushes and closes the member log files; SIGUSR1 no longer reopens them. */
async function closeFiles(): Promise<void> {
  if (reopenListener !== undefined) {
    Deno.removeSignalListener("SIGUSR1", reopenListener);
    reopenListener = undefined;
  }
  const open = [...files.values()];
  files.clear();
  for (const file of open) await file.close();
}

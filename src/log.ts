/**
 * Logging: what a member reports, and where it goes.
 *
 * Members emit structured events through the small {@linkcode EventLog}
 * interface (injected, so tests capture events without monkey-patching).
 * {@linkcode setupLogging} wires LogTape so that each member appends JSON
 * Lines to `<log-dir>/<Name>.log` (PROTOCOL.md section 5) and the console gets
 * one short human line per event. The file sink is buffered and flushes in the
 * background (`nonBlocking`), so logging never waits on the disk before a reply.
 *
 * Event names (the `event` field of every JSON line, also its `message`):
 * `member.listening`, `member.loaded` (records read from `data_dir`),
 * `member.unauthenticated` (no secret: peers trusted by address), `member.stopped`,
 * `conn.open`, `conn.close`, `conn.refused` (over `max_connections`), `msg.in`,
 * `reply.out`, `peer.invalid`, `peer.link.open`, `peer.link.accepted`,
 * `peer.link.welcome`, `peer.link.rejected`, `peer.link.dropped`, `peer.link.redial`,
 * `peer.queue.overflow`, `sync.start`, `sync.digest`, `sync.want` (anti-entropy),
 * `record.stored`, `places.error`, `places.upstream` (one
 * HTTP attempt to Google, debug, key redacted), `places.stats` (cache and upstream
 * counters, while busy and at shutdown), `error`.
 *
 * @module
 */

import {
  configure,
  getJsonLinesFormatter,
  getLogger,
  getStreamSink,
  type LogRecord,
  reset,
  type Sink,
  withFilter,
} from "@logtape/logtape";
import { getFileSink } from "@logtape/file";

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
   * @param event Dotted event name, e.g. `msg.in`.
   * @param fields Structured detail (connection id, remote address, peer, line...).
   */
  emit(level: EventLevel, event: string, fields: EventFields): void;
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
  return {
    emit(level, event, fields) {
      logger[level](event, { event, ...fields });
    },
  };
}

/** An event log that keeps events in memory (tests, `simulate --demo`). */
export class MemoryLog implements EventLog {
  /** Every event so far, oldest first. */
  readonly events: Array<{ level: EventLevel; event: string; fields: EventFields }> = [];

  emit(level: EventLevel, event: string, fields: EventFields): void {
    this.events.push({ level, event, fields });
  }

  /** Events named `event`. */
  named(event: string): Array<{ level: EventLevel; event: string; fields: EventFields }> {
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
  /** Lowest level shown on the console; `null` for no console. @default "info" */
  consoleLevel: EventLevel | null;
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
 * Configures LogTape for a process: one JSON Lines file per member and a
 * human console. Call once per process; call the returned function (or
 * {@linkcode stopLogging}) to flush and close the files.
 *
 * @param options Where logs go.
 * @returns A function that flushes and closes every sink.
 * @throws {LogSetupError} If `logDir` cannot be created or a log file opened.
 */
export async function setupLogging(options: LoggingOptions): Promise<() => Promise<void>> {
  const sinks: Record<string, Sink> = {};
  const loggers = [];
  if (options.logDir !== null) {
    try {
      await Deno.mkdir(options.logDir, { recursive: true });
    } catch (e) {
      throw new LogSetupError(
        `cannot create log folder ${options.logDir}: ${(e as Error).message}; pass --log-dir <dir>`,
        { cause: e },
      );
    }
    const formatter = getJsonLinesFormatter({ message: "template", properties: "flatten" });
    for (const name of options.members) {
      const id = `file:${name}`;
      const path = `${options.logDir}/${name}.log`;
      try {
        sinks[id] = getFileSink(path, { formatter, nonBlocking: true, flushInterval: 1000 });
      } catch (e) {
        throw new LogSetupError(`cannot open log file ${path}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      loggers.push({ category: [LOG_CATEGORY, name], sinks: [id], lowestLevel: "debug" as const });
    }
  }
  const rootSinks: string[] = [];
  if (options.consoleLevel !== null) {
    // Not console.log: a terminal or pipe that stops reading would block
    // every reply. The non-blocking stream sink buffers and drops instead.
    const stdout = getStreamSink(Deno.stdout.writable, {
      formatter: consoleLine,
      closeStream: false,
      nonBlocking: { bufferSize: CONSOLE_BUFFER_RECORDS, flushInterval: 100 },
    });
    sinks.console = withFilter(stdout, options.consoleLevel);
    rootSinks.push("console");
  }
  await configure({
    reset: true,
    sinks,
    loggers: [
      ...loggers,
      { category: [LOG_CATEGORY], sinks: rootSinks, lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: rootSinks, lowestLevel: "warning" },
    ],
  });
  return stopLogging;
}

/** Flushes and closes every LogTape sink (files are complete afterwards). */
export async function stopLogging(): Promise<void> {
  await reset();
}

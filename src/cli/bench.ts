/**
 * `herd bench`: a load generator for any server that speaks the herd protocol
 * (PROTOCOL.md sections 1-2), ours or another implementation, bounded in
 * request count and in time.
 *
 * Three modes:
 * - `conn`: a new connection per request (send one line, half-close, read to
 *   EOF), `concurrency` of them at a time: the way class test harnesses talk.
 * - `pipe`: `concurrency` persistent connections, each with `window` requests
 *   in flight; the window is refilled with one write per read.
 * - `propagation`: IAMATs at one member at a fixed rate, and the time until a
 *   second member answers a WHATSAT with that very record.
 *
 * {@linkcode runBench} does the work in-process and returns a
 * {@linkcode BenchResult}; {@linkcode bench} is the command around it (flags,
 * progress line, table or JSON).
 *
 * @module
 */

import { closeQuietly, writeAll } from "../herd/socket.ts";
import { parseDurationMs, parseHostPort, UserError } from "./args.ts";

/** How requests reach the server; see the module comment. */
export type BenchMode = "conn" | "pipe" | "propagation";

/** Every {@linkcode BenchMode}, in the order help lists them. */
export const BENCH_MODES: readonly BenchMode[] = ["conn", "pipe", "propagation"];

/** Which request is repeated: `IAMAT` (stored and flooded) or `WHATSAT` (places lookup). */
export type BenchKind = "iamat" | "whatsat";

/** Every {@linkcode BenchKind}. */
export const BENCH_KINDS: readonly BenchKind[] = ["iamat", "whatsat"];

/** A TCP address, as {@linkcode parseHostPort} returns it. */
export interface BenchAddress {
  /** Host name or IP address. */
  hostname: string;
  /** TCP port, 1..65535. */
  port: number;
}

/** Counters handed to {@linkcode BenchOptions.onProgress} while a run goes on. */
export interface BenchProgress {
  /** Requests finished so far (answered or failed). */
  requests: number;
  /** Of those, how many failed. */
  errors: number;
  /** Seconds since the load started. */
  seconds: number;
}

/** Options of {@linkcode runBench}. */
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
  /** WHATSAT radius, km, 0 < r <= 50. @default 10 */
  radiusKm?: number;
  /** WHATSAT bound, 1..20. @default 5 */
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
  /** Period of `onProgress`, ms. @default 1000 */
  progressIntervalMs?: number;
}

/** Latency percentiles, ms with µs precision (nearest-rank over every successful request). */
export interface BenchLatency {
  /** Median, ms. */
  p50: number;
  /** 99th percentile, ms. */
  p99: number;
  /** Largest, ms. */
  max: number;
}

/** What a run measured; `--json` prints exactly this object. */
export interface BenchResult {
  /** The mode run. */
  mode: BenchMode;
  /** The request repeated. */
  kind: BenchKind;
  /** `host:port` under load. */
  target: string;
  /** `propagation`: `host:port` polled with WHATSAT; otherwise `null`. */
  target2: string | null;
  /** Connections used (`propagation`: 2, one to each member). */
  concurrency: number;
  /** `pipe`: requests in flight per connection; otherwise 1. */
  window: number;
  /** Requests finished (answered or failed); fewer than asked if the duration cap hit first. */
  requests: number;
  /** Requests that got a `? ` reply, a malformed reply, a connection error or a timeout. */
  errors: number;
  /** From the first request sent to the last one finished, s. */
  seconds: number;
  /** Successful requests (`requests - errors`) per second. */
  requestsPerSecond: number;
  /**
   * Per-request latency, ms: send to complete reply (`conn`: connect included;
   * `propagation`: IAMAT sent to target2's first reply carrying the record).
   * All zero when nothing succeeded.
   */
  latencyMs: BenchLatency;
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
/** Read buffer per connection, bytes: many IAMAT replies or a few WHATSAT replies per read. */
const READ_BUFFER_BYTES = 64 * 1024;
/**
 * `propagation`: most outstanding updates asked about in one poll round. A herd
 * that loses updates must not turn each round into thousands of questions.
 */
const MAX_POLL_BATCH = 64;
/** First line of a reply kept by the propagation poller, bytes (an AT line of a short id fits). */
const MAX_KEPT_LINE_BYTES = 1024;

const LF = 0x0a;
const CR = 0x0d;
const A = 0x41;
const T = 0x54;

/**
 * Counts replies in a byte stream without framing them into strings: an
 * IAMAT reply is one line; a WHATSAT reply is an `AT` line, JSON and a blank
 * line, unless it is a one-line `? ` reply (PROTOCOL.md section 2).
 */
class ReplyScanner {
  #multiLine: boolean;
  #keepFirstLine: boolean;
  #lineLen = 0;
  #b0 = -1;
  #b1 = -1;
  #inBody = false;
  #kept: number[] = [];
  /** First line of the reply just completed (only with `keepFirstLine`). */
  firstLine = "";

  constructor(multiLine: boolean, keepFirstLine = false) {
    this.#multiLine = multiLine;
    this.#keepFirstLine = keepFirstLine;
  }

  /** Scans `chunk`; calls `onReply(ok)` for each reply it completes, in order. */
  scan(chunk: Uint8Array, onReply: (ok: boolean) => void): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const lf = chunk.indexOf(LF, i);
      const end = lf === -1 ? n : lf;
      if (this.#lineLen < 2 && i < end) {
        if (this.#lineLen === 0) {
          this.#b0 = chunk[i];
          if (end - i > 1) this.#b1 = chunk[i + 1];
        } else {
          this.#b1 = chunk[i];
        }
      }
      if (this.#keepFirstLine && !this.#inBody) {
        for (let j = i; j < end && this.#kept.length < MAX_KEPT_LINE_BYTES; j++) {
          this.#kept.push(chunk[j]);
        }
      }
      this.#lineLen += end - i;
      if (lf === -1) return;
      this.#endLine(onReply);
      i = lf + 1;
    }
  }

  #endLine(onReply: (ok: boolean) => void): void {
    const blank = this.#lineLen === 0 || (this.#lineLen === 1 && this.#b0 === CR);
    // Success is an `AT` line first; `? ` (or anything else) is an error.
    const isAt = this.#b0 === A && this.#b1 === T;
    this.#lineLen = 0;
    this.#b0 = -1;
    this.#b1 = -1;
    if (!this.#inBody) {
      if (this.#keepFirstLine) {
        this.firstLine = String.fromCharCode(...this.#kept);
        this.#kept.length = 0;
      }
      if (this.#multiLine && isAt) {
        this.#inBody = true;
      } else if (!blank || this.#multiLine) {
        // A stray blank line between one-line replies is not a reply.
        onReply(isAt);
      }
    } else if (blank) {
      this.#inBody = false;
      onReply(true);
    }
  }
}

/** Per-request latencies, ms, in a growable typed array (no object per request). */
class LatencyRecorder {
  #values: Float64Array;
  #n = 0;

  constructor(expected: number) {
    this.#values = new Float64Array(Math.max(16, Math.min(expected, 1 << 20)));
  }

  add(ms: number): void {
    if (this.#n === this.#values.length) {
      const next = new Float64Array(this.#values.length * 2);
      next.set(this.#values);
      this.#values = next;
    }
    this.#values[this.#n++] = ms;
  }

  /** Nearest-rank percentiles, rounded to µs. */
  summary(): BenchLatency {
    if (this.#n === 0) return { p50: 0, p99: 0, max: 0 };
    const sorted = this.#values.slice(0, this.#n).sort();
    const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * this.#n) - 1)];
    return { p50: roundUs(rank(50)), p99: roundUs(rank(99)), max: roundUs(sorted[this.#n - 1]) };
  }
}

function roundUs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** One open connection the watchdog looks after. */
interface Slot {
  conn: Deno.Conn | null;
  /** Send time (performance.now(), ms) of its oldest unanswered request; Infinity if none. */
  oldestMs: number;
}

/** State shared by every connection of one run: budget, counters, open sockets. */
class Run {
  readonly startMs = performance.now();
  readonly deadlineMs: number;
  readonly limit: number;
  readonly latencies: LatencyRecorder;
  readonly slots = new Set<Slot>();
  readonly abort = new AbortController();
  issued = 0;
  completed = 0;
  errors = 0;
  lastMs = this.startMs;
  stopped = false;

  constructor(limit: number, durationMs: number) {
    this.limit = limit;
    this.deadlineMs = this.startMs + durationMs;
    this.latencies = new LatencyRecorder(limit);
  }

  /** Grants up to `k` new requests: fewer near the count, none past the deadline. */
  take(k: number): number {
    if (this.stopped || performance.now() >= this.deadlineMs) return 0;
    const granted = Math.min(k, this.limit - this.issued);
    this.issued += granted;
    return granted;
  }

  /** Records one finished request; `latencyMs` counts only when it succeeded. */
  complete(ok: boolean, latencyMs: number, nowMs: number): void {
    this.completed++;
    if (ok) this.latencies.add(latencyMs);
    else this.errors++;
    this.lastMs = nowMs;
  }

  /** Records `k` requests that will never be answered. */
  fail(k: number): void {
    if (k <= 0) return;
    this.completed += k;
    this.errors += k;
    this.lastMs = performance.now();
  }

  /** Closes every connection whose oldest request has waited more than `timeoutMs`. */
  reap(timeoutMs: number): void {
    const now = performance.now();
    for (const slot of this.slots) {
      if (slot.conn !== null && now - slot.oldestMs > timeoutMs) closeQuietly(slot.conn);
    }
  }

  /** Cuts the run off: no new requests, pending connects aborted, sockets closed. */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
    for (const slot of this.slots) if (slot.conn !== null) closeQuietly(slot.conn);
  }

  progress(): BenchProgress {
    return {
      requests: this.completed,
      errors: this.errors,
      seconds: (performance.now() - this.startMs) / 1000,
    };
  }
}

/** What every connection of a run needs to build its requests. */
interface Plan {
  run: Run;
  target: BenchAddress;
  kind: BenchKind;
  prefix: string;
  location: string;
  /** The WHATSAT line (same for every request: the seeded client). */
  whatsat: string;
}

/** Current POSIX time, s, with 6 fraction digits (µs), as an IAMAT client time. */
function posixTimeText(): string {
  return ((performance.timeOrigin + performance.now()) / 1000).toFixed(6);
}

function iamatLine(plan: Plan, conn: number, n: number, time: string): string {
  return `IAMAT ${plan.prefix}-${conn}-${n} ${plan.location} ${time}\n`;
}

function show(addr: BenchAddress): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

function checkCount(value: number, what: string, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`Cannot run bench: ${what} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/**
 * Connects, translating failure into a user error naming the target.
 *
 * @throws {UserError} If the connection cannot be made.
 */
async function connectOrFail(addr: BenchAddress, signal?: AbortSignal): Promise<Deno.TcpConn> {
  try {
    return await Deno.connect({ hostname: addr.hostname, port: addr.port, signal });
  } catch (e) {
    throw new UserError(`cannot connect to ${show(addr)}: ${(e as Error).message}`);
  }
}

/**
 * Sends `line` on a fresh connection, half-closes, reads to EOF.
 *
 * @returns Whether the reply was a complete success (`AT` first, `\n\n` last for WHATSAT).
 */
async function oneRequest(
  addr: BenchAddress,
  bytes: Uint8Array,
  multiLine: boolean,
  buf: Uint8Array,
  slot: Slot,
  run: Run,
): Promise<boolean> {
  const conn = await Deno.connect({
    hostname: addr.hostname,
    port: addr.port,
    signal: run.abort.signal,
  });
  slot.conn = conn;
  try {
    await writeAll(conn, bytes);
    await conn.closeWrite();
    let first = -1, second = -1, last = -1, beforeLast = -1, total = 0;
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      if (n === 0) continue;
      if (total === 0) first = buf[0];
      if (total <= 1) second = total === 0 ? (n > 1 ? buf[1] : -1) : buf[0];
      beforeLast = n > 1 ? buf[n - 2] : last;
      last = buf[n - 1];
      total += n;
    }
    const isAt = first === A && second === T;
    return isAt && last === LF && (!multiLine || beforeLast === LF);
  } finally {
    slot.conn = null;
    closeQuietly(conn);
  }
}

/** `conn` mode: one worker; requests one after another, each on its own connection. */
async function connWorker(plan: Plan, index: number): Promise<void> {
  const { run } = plan;
  const encoder = new TextEncoder();
  const buf = new Uint8Array(READ_BUFFER_BYTES);
  const whatsat = encoder.encode(plan.whatsat);
  const multiLine = plan.kind === "whatsat";
  const slot: Slot = { conn: null, oldestMs: Infinity };
  run.slots.add(slot);
  try {
    for (let n = 0; run.take(1) === 1; n++) {
      const bytes = multiLine
        ? whatsat
        : encoder.encode(iamatLine(plan, index, n, posixTimeText()));
      const t0 = performance.now();
      slot.oldestMs = t0;
      let ok = false;
      try {
        ok = await oneRequest(plan.target, bytes, multiLine, buf, slot, run);
      } catch {
        ok = false;
      }
      slot.oldestMs = Infinity;
      const now = performance.now();
      run.complete(ok, now - t0, now);
    }
  } finally {
    run.slots.delete(slot);
  }
}

/** `pipe` mode: one persistent connection keeping `window` requests in flight. */
async function pipeConnection(plan: Plan, index: number, window: number): Promise<void> {
  const { run } = plan;
  const encoder = new TextEncoder();
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({
      hostname: plan.target.hostname,
      port: plan.target.port,
      signal: run.abort.signal,
    });
  } catch {
    run.fail(run.take(1));
    return;
  }
  const slot: Slot = { conn, oldestMs: Infinity };
  run.slots.add(slot);
  // Send times of the requests in flight, oldest first (replies come back in order).
  const sentMs = new Float64Array(window);
  let head = 0, tail = 0, inFlight = 0, n = 0, nowMs = 0;
  const scanner = new ReplyScanner(plan.kind === "whatsat");
  const onReply = (ok: boolean) => {
    const t0 = sentMs[head];
    head = (head + 1) % window;
    inFlight--;
    run.complete(ok, nowMs - t0, nowMs);
  };
  const refill = async () => {
    const k = run.take(window - inFlight);
    if (k === 0) return;
    let text = "";
    if (plan.kind === "whatsat") {
      text = plan.whatsat.repeat(k);
    } else {
      const time = posixTimeText();
      for (let i = 0; i < k; i++) text += iamatLine(plan, index, n++, time);
    }
    const bytes = encoder.encode(text);
    const t0 = performance.now();
    for (let i = 0; i < k; i++) {
      sentMs[tail] = t0;
      tail = (tail + 1) % window;
    }
    inFlight += k;
    slot.oldestMs = sentMs[head];
    await writeAll(conn, bytes);
  };
  try {
    await refill();
    const buf = new Uint8Array(READ_BUFFER_BYTES);
    while (inFlight > 0) {
      const got = await conn.read(buf);
      if (got === null) break;
      nowMs = performance.now();
      scanner.scan(buf.subarray(0, got), onReply);
      slot.oldestMs = inFlight > 0 ? sentMs[head] : Infinity;
      await refill();
    }
  } catch {
    // Reset, or closed by the watchdog: what is in flight fails below.
  } finally {
    run.fail(inFlight);
    run.slots.delete(slot);
    closeQuietly(conn);
  }
}

/** One IAMAT sent in `propagation` mode and not yet seen at target2. */
interface Update {
  id: string;
  time: string;
  sentMs: number;
}

/** Resolves after `ms` (at most), or at once when `run` stops. */
function pause(ms: number, run: Run): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      run.abort.signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    run.abort.signal.addEventListener("abort", done);
  });
}

/**
 * `propagation` mode: IAMATs to target at `ratePerSecond` on one connection;
 * one pipelined connection to target2 asks `WHATSAT <id> 1 1` for every
 * update not yet seen, a round at a time, re-asking as soon as a round is
 * answered. A `? ` reply means "not here yet". The latency of an update is
 * the time from its IAMAT's write to the read of target2's first reply whose
 * AT line carries its id and client time.
 */
async function propagation(
  plan: Plan,
  target2: BenchAddress,
  ratePerSecond: number,
  timeoutMs: number,
): Promise<void> {
  const { run } = plan;
  const encoder = new TextEncoder();
  const signal = run.abort.signal;
  const c1 = await Deno.connect({ hostname: plan.target.hostname, port: plan.target.port, signal });
  const c2 = await Deno.connect({ hostname: target2.hostname, port: target2.port, signal })
    .catch((e) => {
      closeQuietly(c1);
      throw e;
    });
  const slot1: Slot = { conn: c1, oldestMs: Infinity };
  const slot2: Slot = { conn: c2, oldestMs: Infinity };
  run.slots.add(slot1);
  run.slots.add(slot2);
  /** Updates not seen at target2 yet, oldest first (Map keeps insertion order). */
  const pending = new Map<string, Update>();
  /** Updates whose IAMAT reply from target is still due, in send order. */
  const unanswered: Update[] = [];
  let sending = true;
  let wake: (() => void) | null = null;
  const poke = () => {
    wake?.();
    wake = null;
  };

  const send = async () => {
    const intervalMs = 1000 / ratePerSecond;
    const start = performance.now();
    let sent = 0;
    try {
      while (true) {
        const now = performance.now();
        const due = Math.floor((now - start) / intervalMs) + 1 - sent;
        if (due <= 0) {
          await pause(start + (sent * intervalMs) - now, run);
          continue;
        }
        const k = run.take(due);
        if (k === 0) break;
        const time = posixTimeText();
        let text = "";
        const t0 = performance.now();
        for (let i = 0; i < k; i++) {
          const u = { id: `${plan.prefix}-0-${sent + i}`, time, sentMs: t0 };
          text += `IAMAT ${u.id} ${plan.location} ${u.time}\n`;
          pending.set(u.id, u);
          unanswered.push(u);
        }
        sent += k;
        slot1.oldestMs = unanswered[0].sentMs;
        poke();
        await writeAll(c1, encoder.encode(text));
      }
    } finally {
      sending = false;
      poke();
      // The member answers what is left, then closes: that ends readAcks().
      await c1.closeWrite().catch(() => {});
    }
  };

  // The IAMAT replies: a `? ` means the update was refused and will never arrive.
  const readAcks = async () => {
    const scanner = new ReplyScanner(false);
    const buf = new Uint8Array(READ_BUFFER_BYTES);
    const onReply = (ok: boolean) => {
      const u = unanswered.shift();
      if (u !== undefined && !ok && pending.delete(u.id)) run.fail(1);
    };
    while (sending || unanswered.length > 0) {
      const got = await c1.read(buf);
      if (got === null) break;
      scanner.scan(buf.subarray(0, got), onReply);
      slot1.oldestMs = unanswered.length > 0 ? unanswered[0].sentMs : Infinity;
    }
  };

  const poll = async () => {
    const scanner = new ReplyScanner(true, true);
    const buf = new Uint8Array(READ_BUFFER_BYTES);
    while (sending || pending.size > 0) {
      const now = performance.now();
      for (const u of pending.values()) {
        if (now - u.sentMs <= timeoutMs) break;
        pending.delete(u.id);
        run.fail(1);
      }
      if (pending.size === 0) {
        if (!sending) break;
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      const round: Update[] = [];
      for (const u of pending.values()) {
        round.push(u);
        if (round.length === MAX_POLL_BATCH) break;
      }
      slot2.oldestMs = performance.now();
      await writeAll(c2, encoder.encode(round.map((u) => `WHATSAT ${u.id} 1 1\n`).join("")));
      let answered = 0, readMs = 0;
      const onReply = (ok: boolean) => {
        const u = round[answered++];
        if (!ok) return;
        const f = scanner.firstLine.split(" ");
        if (f[3] === u.id && f[5] === u.time && pending.delete(u.id)) {
          run.complete(true, readMs - u.sentMs, readMs);
        }
      };
      while (answered < round.length) {
        const got = await c2.read(buf);
        if (got === null) throw new Error(`${show(target2)} closed the connection`);
        readMs = performance.now();
        scanner.scan(buf.subarray(0, got), onReply);
      }
      slot2.oldestMs = Infinity;
    }
  };

  try {
    // Whichever fails first ends the others: the run stops and closes both sockets.
    await Promise.all([send(), readAcks(), poll()].map((t) => t.catch(() => run.stop())));
  } finally {
    run.fail(pending.size);
    pending.clear();
    run.slots.delete(slot1);
    run.slots.delete(slot2);
    closeQuietly(c1);
    closeQuietly(c2);
  }
}

/**
 * Makes sure WHATSAT has a client to ask about: one IAMAT for `id`.
 *
 * @throws {UserError} If the target cannot be reached or does not answer with an AT line.
 */
async function seed(
  target: BenchAddress,
  line: string,
  timeoutMs: number,
): Promise<void> {
  const conn = await connectOrFail(target, AbortSignal.timeout(timeoutMs));
  const timer = setTimeout(() => closeQuietly(conn), timeoutMs);
  let reply = "";
  try {
    await writeAll(conn, new TextEncoder().encode(line));
    await conn.closeWrite();
    const buf = new Uint8Array(4096);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      if (reply.length < 200) reply += new TextDecoder().decode(buf.subarray(0, n));
    }
  } catch (e) {
    throw new UserError(`cannot seed a client at ${show(target)}: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
  if (!reply.startsWith("AT ")) {
    const first = reply.split("\n")[0];
    throw new UserError(
      `cannot seed a client at ${show(target)} for WHATSAT: it answered ${JSON.stringify(first)}`,
    );
  }
}

/** Connects once and closes, so an unreachable target is one clear error, not N. */
async function probe(addr: BenchAddress, timeoutMs: number): Promise<void> {
  closeQuietly(await connectOrFail(addr, AbortSignal.timeout(timeoutMs)));
}

/**
 * Runs one benchmark in this process and returns what it measured.
 *
 * The run stops starting requests at `requests` or `durationMs`, whichever
 * comes first, waits for those in flight (each at most `timeoutMs`), and is
 * cut off regardless at `durationMs + timeoutMs`. A `? ` reply, a malformed
 * reply, a connection error and a timeout each count as one error; a dropped
 * `pipe` connection fails its in-flight requests and is not reopened.
 *
 * @param opts What to run; see {@linkcode BenchOptions}.
 * @returns Counts, time, throughput and latency percentiles.
 * @throws {RangeError} If a count, rate, radius or bound is out of range, or
 *   `target2` is missing for `propagation` (or given for another mode).
 * @throws {UserError} If a target cannot be reached at all, or will not store
 *   the client WHATSAT needs.
 * @example
 * ```ts ignore
 * import { runBench } from "./bench.ts";
 * const r = await runBench({
 *   mode: "pipe",
 *   target: { hostname: "127.0.0.1", port: 11490 },
 *   requests: 10_000,
 * });
 * console.log(r.requestsPerSecond, r.latencyMs.p99);
 * ```
 */
export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const mode = opts.mode;
  if (!BENCH_MODES.includes(mode)) throw new RangeError(`Cannot run bench: unknown mode ${mode}`);
  const kind = mode === "propagation" ? "iamat" : opts.kind ?? "iamat";
  if (opts.kind === "whatsat" && mode === "propagation") {
    throw new RangeError("Cannot run bench: propagation mode sends IAMAT only");
  }
  if ((mode === "propagation") !== (opts.target2 !== undefined)) {
    throw new RangeError(
      mode === "propagation"
        ? "Cannot run bench: propagation mode needs target2"
        : `Cannot run bench: target2 is for propagation mode only, not ${mode}`,
    );
  }
  const requests = checkCount(opts.requests ?? DEFAULT_REQUESTS[mode], "requests");
  const concurrency = mode === "propagation"
    ? 1
    : checkCount(opts.concurrency ?? DEFAULT_CONCURRENCY[mode], "concurrency");
  const window = mode === "pipe" ? checkCount(opts.window ?? 64, "window") : 1;
  const durationMs = opts.durationMs ?? 30_000;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const rate = opts.ratePerSecond ?? 100;
  const radiusKm = opts.radiusKm ?? 10;
  const bound = opts.bound ?? 5;
  if (!(durationMs > 0) || !(timeoutMs > 0) || !(rate > 0) || !Number.isFinite(rate)) {
    throw new RangeError("Cannot run bench: duration, timeout and rate must be > 0");
  }
  if (!(radiusKm > 0 && radiusKm <= 50)) {
    throw new RangeError(`Cannot run bench: radius must be in (0, 50] km, got ${radiusKm}`);
  }
  checkCount(bound, "bound");
  if (bound > 20) throw new RangeError(`Cannot run bench: bound must be <= 20, got ${bound}`);

  const prefix = opts.clientPrefix ?? `bench-${Deno.pid}`;
  const draft = {
    target: opts.target,
    kind,
    prefix,
    location: opts.location ?? DEFAULT_LOCATION,
    whatsat: `WHATSAT ${prefix}-seed ${radiusKm} ${bound}\n`,
  };
  // Reachability first (and, for WHATSAT, the client it asks about).
  if (kind === "whatsat") {
    await seed(
      opts.target,
      `IAMAT ${prefix}-seed ${draft.location} ${posixTimeText()}\n`,
      timeoutMs,
    );
  } else {
    await probe(opts.target, timeoutMs);
  }
  if (opts.target2 !== undefined) await probe(opts.target2, timeoutMs);

  const run = new Run(requests, durationMs);
  const plan: Plan = { ...draft, run };
  const timers: Array<ReturnType<typeof setTimeout>> = [
    setInterval(() => run.reap(timeoutMs), Math.min(250, timeoutMs / 2)),
    setTimeout(() => run.stop(), durationMs + timeoutMs),
  ];
  const onProgress = opts.onProgress;
  if (onProgress !== undefined) {
    timers.push(setInterval(() => onProgress(run.progress()), opts.progressIntervalMs ?? 1000));
  }
  try {
    const workers: Promise<void>[] = [];
    if (mode === "conn") {
      for (let i = 0; i < concurrency; i++) workers.push(connWorker(plan, i));
    } else if (mode === "pipe") {
      for (let i = 0; i < concurrency; i++) workers.push(pipeConnection(plan, i, window));
    } else {
      workers.push(propagation(plan, opts.target2!, rate, timeoutMs).catch(() => run.fail(0)));
    }
    await Promise.all(workers);
  } finally {
    for (const t of timers) clearTimeout(t);
    run.stop();
  }
  // Requests granted but never finished (a propagation connection that failed early).
  run.fail(run.issued - run.completed);
  const seconds = Math.max(0, run.lastMs - run.startMs) / 1000;
  const ok = run.completed - run.errors;
  return {
    mode,
    kind,
    target: show(opts.target),
    target2: opts.target2 === undefined ? null : show(opts.target2),
    concurrency: mode === "propagation" ? 2 : concurrency,
    window,
    requests: run.completed,
    errors: run.errors,
    seconds: Math.round(seconds * 1e6) / 1e6,
    requestsPerSecond: seconds > 0 ? Math.round((ok / seconds) * 10) / 10 : 0,
    latencyMs: run.latencies.summary(),
  };
}

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

/**
 * `herd bench`: parses the flags, runs {@linkcode runBench}, prints the table
 * (or `--json`) on stdout with a progress line on stderr meanwhile.
 *
 * @param target `host:port` under load.
 * @param target2 `host:port` to poll (`propagation` only).
 * @param flags The command-line flags.
 * @returns Exit code: 0, or 1 if any request failed.
 * @throws {UserError} (exit 2) On a bad flag or address, or a target that cannot be reached.
 */
export async function bench(
  target: string,
  target2: string | undefined,
  flags: BenchFlags,
): Promise<number> {
  const mode = flags.mode as BenchMode;
  const kind = flags.kind as BenchKind;
  if (!BENCH_MODES.includes(mode)) {
    throw new UserError(`invalid --mode "${flags.mode}": use ${BENCH_MODES.join(", ")}`);
  }
  if (!BENCH_KINDS.includes(kind)) {
    throw new UserError(`invalid --kind "${flags.kind}": use ${BENCH_KINDS.join(", ")}`);
  }
  if (mode === "propagation" && target2 === undefined) {
    throw new UserError("--mode propagation needs a second address: <host:port> <host2:port2>");
  }
  if (mode !== "propagation" && target2 !== undefined) {
    throw new UserError(`a second address is for --mode propagation only, not ${mode}`);
  }
  if (mode === "propagation" && kind === "whatsat") {
    throw new UserError("--mode propagation sends IAMAT: drop --kind whatsat");
  }
  const bound = parseCount(flags.bound, "--bound")!;
  const radiusKm = parsePositive(flags.radius, "--radius");
  if (radiusKm > 50) throw new UserError(`invalid --radius "${flags.radius}": at most 50 km`);
  if (bound > 20) throw new UserError(`invalid --bound "${flags.bound}": at most 20`);
  const opts: BenchOptions = {
    mode,
    kind,
    target: parseHostPort(target),
    target2: target2 === undefined ? undefined : parseHostPort(target2),
    requests: parseCount(flags.requests, "--requests"),
    durationMs: parseDurationMs(flags.duration),
    concurrency: parseCount(flags.concurrency, "--concurrency"),
    window: parseCount(flags.window, "--window"),
    ratePerSecond: parsePositive(flags.rate, "--rate"),
    timeoutMs: parseDurationMs(flags.timeout),
    radiusKm,
    bound,
  };
  const progress = flags.progress ? progressPrinter() : null;
  if (progress !== null) {
    opts.onProgress = (p) => progress.update(p);
    opts.progressIntervalMs = Deno.stderr.isTerminal() ? 250 : 1000;
  }
  let result: BenchResult;
  try {
    result = await runBench(opts);
  } finally {
    progress?.done();
  }
  console.log(flags.json ? JSON.stringify(result) : formatBenchTable(result).trimEnd());
  return result.errors === 0 ? 0 : 1;
}

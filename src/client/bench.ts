/**
 * The engine of `herd bench`: a load generator for any server that speaks
 * the herd protocol (PROTOCOL.md sections 1-2), ours or another
 * implementation, bounded in request count and in time. The modes are
 * described at {@linkcode BenchMode}; the options, checked once, at
 * {@linkcode BenchOptions}.
 *
 * @module
 */

import { wallClockNs } from "../herd/clock.ts";
import { formatPosixTime } from "../protocol/posix_time.ts";
import { formatAddress } from "./address.ts";
import { connectWithin } from "./_connect.ts";
import { type BenchLatency, pause, Run, type Slot } from "./_bench_run.ts";
import {
  type BenchAddress,
  type BenchKind,
  type BenchMode,
  type BenchOptions,
  resolveBenchOptions,
  type ResolvedBenchOptions,
} from "./bench_options.ts";
import { ClientError } from "./client_error.ts";
import { Pipeline } from "./pipeline.ts";
import { isAtReply, type ReplyShape, splitReplies } from "./reply_framer.ts";
import { request, requestBytes } from "./request.ts";

export type { BenchLatency };

/** What a run measured; `herd bench --json` prints exactly this object. */
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

/**
 * `propagation`: most outstanding updates asked about in one poll round. A herd
 * that loses updates must not turn each round into thousands of questions.
 */
const MAX_POLL_BATCH = 64;
/** First line of a reply read by the propagation poller, bytes (an AT line of a short id fits). */
const MAX_KEPT_LINE_BYTES = 1024;
const LF = 0x0a;

/** What every connection of a run needs to build its requests. */
interface Plan extends ResolvedBenchOptions {
  run: Run;
  /** The WHATSAT line, without LF (same for every request: the seeded client). */
  whatsat: string;
}

/**
 * Current POSIX time, s, with 6 fraction digits (µs, the wall clock's
 * resolution), as an IAMAT client time: exact digits from integer nanoseconds,
 * no float noise.
 */
function posixTimeText(): string {
  return formatPosixTime(wallClockNs(), 6);
}

/** The IAMAT line (no LF) of request `n` of connection `conn`: a new client id each. */
function iamatLine(plan: Plan, conn: number, n: number, time: string): string {
  return `IAMAT ${plan.clientPrefix}-${conn}-${n} ${plan.location} ${time}`;
}

/** The first line of a reply, without its LF, at most MAX_KEPT_LINE_BYTES. */
function firstLine(reply: Uint8Array): string {
  const lf = reply.indexOf(LF);
  const end = Math.min(lf === -1 ? reply.length : lf, MAX_KEPT_LINE_BYTES);
  return new TextDecoder().decode(reply.subarray(0, end));
}

/** `conn` mode: one worker; requests one after another, each on its own connection. */
async function connWorker(plan: Plan, index: number): Promise<void> {
  const { run } = plan;
  const encoder = new TextEncoder();
  const shape: ReplyShape = plan.kind === "whatsat" ? "whatsat" : "line";
  const whatsat = encoder.encode(plan.whatsat + "\n");
  for (let n = 0; run.take(1) === 1; n++) {
    const bytes = shape === "whatsat"
      ? whatsat
      : encoder.encode(iamatLine(plan, index, n, posixTimeText()) + "\n");
    const t0 = performance.now();
    let ok = false;
    try {
      const reply = await requestBytes(plan.target, bytes, {
        timeoutMs: plan.timeoutMs,
        signal: run.abort.signal,
      });
      // A success is exactly one whole reply, and an AT one.
      ok = isAtReply(splitReplies(reply, [shape])[0]);
    } catch {
      ok = false;
    }
    const now = performance.now();
    run.complete(ok, now - t0, now);
  }
}

/** `pipe` mode: one persistent connection keeping `window` requests in flight. */
async function pipeConnection(plan: Plan, index: number): Promise<void> {
  const { run, window } = plan;
  let client: Pipeline;
  try {
    client = await Pipeline.connect(plan.target, {
      connectTimeoutMs: plan.timeoutMs,
      signal: run.abort.signal,
    });
  } catch {
    run.fail(run.take(1));
    return;
  }
  const slot: Slot = { conn: client, oldestMs: Infinity };
  run.slots.add(slot);
  // Send times of the requests in flight, oldest first (replies come back in order).
  const sentMs = new Float64Array(window);
  let head = 0, tail = 0, inFlight = 0, n = 0;
  // Read time of the replies being framed: stamped by the first of them, once per read.
  let readMs = -1;
  const onReply = (reply: Uint8Array) => {
    if (readMs < 0) readMs = performance.now();
    const t0 = sentMs[head];
    head = (head + 1) % window;
    inFlight--;
    run.complete(isAtReply(reply), readMs - t0, readMs);
  };
  const refill = async () => {
    const k = run.take(window - inFlight);
    if (k === 0) return;
    const lines = new Array<string>(k);
    if (plan.kind === "whatsat") {
      lines.fill(plan.whatsat);
    } else {
      const time = posixTimeText();
      for (let i = 0; i < k; i++) lines[i] = iamatLine(plan, index, n++, time);
    }
    const t0 = performance.now();
    for (let i = 0; i < k; i++) {
      sentMs[tail] = t0;
      tail = (tail + 1) % window;
    }
    inFlight += k;
    slot.oldestMs = sentMs[head];
    await client.write(lines);
  };
  try {
    await refill();
    while (inFlight > 0) {
      readMs = -1;
      if (await client.read(onReply) === null) break;
      slot.oldestMs = inFlight > 0 ? sentMs[head] : Infinity;
      await refill();
    }
  } catch {
    // Reset, malformed, or closed by the watchdog: what is in flight fails below.
  } finally {
    run.fail(inFlight);
    run.slots.delete(slot);
    client.close();
  }
}

/** One IAMAT sent in `propagation` mode and not yet seen at target2. */
interface Update {
  id: string;
  time: string;
  sentMs: number;
}

/**
 * `propagation` mode: IAMATs to target at `ratePerSecond` on one connection;
 * one pipelined connection to target2 asks `WHATSAT <id> 1 1` for every
 * update not yet seen, a round at a time, re-asking as soon as a round is
 * answered. A `? ` reply means "not here yet". The latency of an update is
 * the time from its IAMAT's write to the read of target2's first reply whose
 * AT line carries its id and client time.
 */
async function propagation(plan: Plan, target2: BenchAddress): Promise<void> {
  const { run, timeoutMs } = plan;
  const connect = { connectTimeoutMs: timeoutMs, signal: run.abort.signal };
  const c1 = await Pipeline.connect(plan.target, connect);
  const c2 = await Pipeline.connect(target2, connect).catch((e) => {
    c1.close();
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
    const intervalMs = 1000 / plan.ratePerSecond;
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
        const lines: string[] = [];
        const t0 = performance.now();
        for (let i = 0; i < k; i++) {
          const u = { id: `${plan.clientPrefix}-0-${sent + i}`, time, sentMs: t0 };
          lines.push(`IAMAT ${u.id} ${plan.location} ${u.time}`);
          pending.set(u.id, u);
          unanswered.push(u);
        }
        sent += k;
        slot1.oldestMs = unanswered[0].sentMs;
        poke();
        await c1.write(lines);
      }
    } finally {
      sending = false;
      poke();
      // The member answers what is left, then closes: that ends readAcks().
      await c1.closeWrite();
    }
  };

  // The IAMAT replies: a `? ` means the update was refused and will never arrive.
  const readAcks = async () => {
    const onReply = (reply: Uint8Array) => {
      const u = unanswered.shift();
      if (u !== undefined && !isAtReply(reply) && pending.delete(u.id)) run.fail(1);
    };
    while (sending || unanswered.length > 0) {
      if (await c1.read(onReply) === null) break;
      slot1.oldestMs = unanswered.length > 0 ? unanswered[0].sentMs : Infinity;
    }
  };

  const poll = async () => {
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
      let answered = 0, readMs = -1;
      const onReply = (reply: Uint8Array) => {
        if (readMs < 0) readMs = performance.now();
        const u = round[answered++];
        if (!isAtReply(reply)) return;
        const f = firstLine(reply).split(" ");
        if (f[3] === u.id && f[5] === u.time && pending.delete(u.id)) {
          run.complete(true, readMs - u.sentMs, readMs);
        }
      };
      await c2.write(round.map((u) => `WHATSAT ${u.id} 1 1`));
      while (answered < round.length) {
        readMs = -1;
        if (await c2.read(onReply) === null) throw new Error(`${c2.target} closed the connection`);
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
    c1.close();
    c2.close();
  }
}

/**
 * Makes sure WHATSAT has a client to ask about: one IAMAT for it.
 *
 * @throws {ClientError} If the target cannot be reached (`connect`), fails
 *   (`timeout`, `connection`), or does not answer with an AT line (`reply`).
 */
async function seed(plan: ResolvedBenchOptions, line: string): Promise<void> {
  const where = formatAddress(plan.target);
  let reply: string;
  try {
    reply = await request(plan.target, line, { timeoutMs: plan.timeoutMs });
  } catch (e) {
    if (!(e instanceof ClientError) || e.failure === "connect") throw e;
    throw new ClientError(`cannot seed a client at ${where}: ${e.message}`, e.failure, {
      cause: e,
    });
  }
  if (!reply.startsWith("AT ")) {
    throw new ClientError(
      `cannot seed a client at ${where} for WHATSAT: it answered ${
        JSON.stringify(reply.split("\n")[0])
      }`,
      "reply",
    );
  }
}

/** Connects once and closes, so an unreachable target is one clear error, not N. */
async function probe(addr: BenchAddress, timeoutMs: number): Promise<void> {
  (await connectWithin(addr, timeoutMs)).close();
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
 * @throws {BenchOptionError} If a count, rate, radius or bound is out of
 *   range, or `target2` is missing for `propagation` (or given for another mode).
 * @throws {ClientError} If a target cannot be reached at all (`connect`), or
 *   will not store the client WHATSAT needs.
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
  const o = resolveBenchOptions(opts);
  const whatsat = `WHATSAT ${o.clientPrefix}-seed ${o.radiusKm} ${o.bound}`;
  // Reachability first (and, for WHATSAT, the client it asks about).
  if (o.kind === "whatsat") {
    await seed(o, `IAMAT ${o.clientPrefix}-seed ${o.location} ${posixTimeText()}\n`);
  } else {
    await probe(o.target, o.timeoutMs);
  }
  if (o.target2 !== undefined) await probe(o.target2, o.timeoutMs);

  const run = new Run(o.requests, o.durationMs);
  const plan: Plan = { ...o, run, whatsat };
  const timers: Array<ReturnType<typeof setTimeout>> = [
    setInterval(() => run.reap(o.timeoutMs), Math.min(250, o.timeoutMs / 2)),
    setTimeout(() => run.stop(), o.durationMs + o.timeoutMs),
  ];
  const onProgress = o.onProgress;
  if (onProgress !== undefined) {
    timers.push(setInterval(() => onProgress(run.progress()), o.progressIntervalMs));
  }
  try {
    const workers: Promise<void>[] = [];
    if (o.mode === "conn") {
      for (let i = 0; i < o.concurrency; i++) workers.push(connWorker(plan, i));
    } else if (o.mode === "pipe") {
      for (let i = 0; i < o.concurrency; i++) workers.push(pipeConnection(plan, i));
    } else {
      workers.push(propagation(plan, o.target2!).catch(() => run.fail(0)));
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
    mode: o.mode,
    kind: o.kind,
    target: formatAddress(o.target),
    target2: o.target2 === undefined ? null : formatAddress(o.target2),
    concurrency: o.mode === "propagation" ? 2 : o.concurrency,
    window: o.window,
    requests: run.completed,
    errors: run.errors,
    seconds: Math.round(seconds * 1e6) / 1e6,
    requestsPerSecond: seconds > 0 ? Math.round((ok / seconds) * 10) / 10 : 0,
    latencyMs: run.latencies.summary(),
  };
}

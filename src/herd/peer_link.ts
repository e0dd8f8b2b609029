/**
 * The outgoing link to one neighbour (PROTOCOL.md section 4): dial, say
 * hello, run the connection as a dialler session (session.ts) that verifies
 * the neighbour's welcome, carry flooded AT lines once welcomed, and redial
 * with capped exponential backoff and jitter after any failure.
 *
 * States: `connecting` (dialling) -> `hello sent` -> `welcomed` -> `down`
 * (waiting to redial), and `stopped`. Nothing but the hello is written
 * before the welcome is verified: records queued meanwhile wait in the
 * queue, so a listener at the neighbour's address that does not know the
 * herd's secret learns no client location.
 *
 * A link never blocks or fails its caller: {@linkcode PeerLink.send} only
 * queues (bounded; the oldest line is dropped on overflow). Anti-entropy
 * text ({@linkcode PeerLink.sendSync}) has a queue of its own that never
 * drops: a dropped answer would only start another reconciliation. A large
 * answer is built a chunk at a time as the writer gets to it, so what waits
 * behind it (a ping, floods) goes out after at most one chunk.
 *
 * Keepalive (`peerTimeoutMs`, PROTOCOL.md section 4): once welcomed by a
 * neighbour that announced it, a link that has heard nothing for half the
 * timeout sends `PING <n>`; one that hears nothing at all for the whole
 * timeout is dropped (`peer.link.dropped`, reason `timeout`) and redialled.
 * Any bytes count, not only the `PONG`. This catches a neighbour that stopped
 * without a FIN or RST: frozen, unplugged, stopped with SIGSTOP.
 *
 * @module
 */

import type { EventLog } from "../log.ts";
import { formatHello, formatKeepalive, wireToBytes } from "../protocol/mod.ts";
import type { TextChunks } from "./anti_entropy.ts";
import { systemTimers, type TimerClock, type TimerId } from "./clock.ts";
import type { TreeTarget } from "./broadcast_tree.ts";
import {
  freshActivity,
  runSession,
  type SessionActivity,
  type SessionEnd,
  type SessionPort,
} from "./session.ts";
import { closeQuietly, reason, writeWithin } from "./socket.ts";
import { type Conn, type Dial, type PeerAddress, tcpDial } from "./transport.ts";

/** Looks up a member's current address by name (it may change on restart). */
export type AddressLookup = (name: string) => PeerAddress | undefined;

/** Life of a link (see the module comment). */
export type LinkState = "connecting" | "hello sent" | "welcomed" | "down" | "stopped";

/** Options of {@linkcode PeerLink}. */
export interface PeerLinkOptions {
  /** The neighbour's name. */
  peer: string;
  /** Where the neighbour listens now. */
  addressOf: AddressLookup;
  /** First redial delay, ms. */
  redialMinMs: number;
  /** Largest redial delay, ms. */
  redialMaxMs: number;
  /** Most lines queued while down or slow; older ones are dropped past it. */
  queueLimit: number;
  /** Longest line accepted from the neighbour, bytes (an AT line can exceed a client's). */
  maxLineBytes: number;
  /** Event sink. */
  log: EventLog;
  /** Uniform random in [0, 1), injected for deterministic tests. @default Math.random */
  random?: () => number;
  /** Longest a write may wait for the neighbour to read, ms; then the link is dropped. */
  writeTimeoutMs: number;
  /**
   * The member, as the link's session changes it (records accepted, welcome checked); its
   * view's name and auth also sign our hello, so the hello and the welcome check share one auth.
   */
  session: SessionPort;
  /** Connection ids for logs, shared with the member's listener. @default 1, 2, 3, ... */
  nextConnId?: () => number;
  /** Opens connections. @default TCP ({@linkcode tcpDial}) */
  dial?: Dial;
  /** Timers for backoff, dial and welcome deadlines, write deadlines. @default systemTimers */
  timers?: TimerClock;
  /** Called when the neighbour's welcome is verified (the time to reconcile). */
  onWelcome?: () => void;
  /** Called when the queue has drained after lines were dropped (time to reconcile again). */
  onDrained?: () => void;
  /**
   * Most anti-entropy text held unwritten, characters; past it the connection
   * is dropped. @default 256 MiB ({@linkcode SYNC_QUEUE_LIMIT_CHARS})
   */
  syncQueueLimitChars?: number;
  /**
   * Keepalive, ms (`peer_timeout_ms`): the longest the neighbour may stay silent once welcomed
   * (a ping goes out after half of it), and the longest wait for its welcome. 0 turns keepalive
   * off (and the welcome wait is {@linkcode WELCOME_TIMEOUT_MS}). @default 0
   */
  peerTimeoutMs?: number;
}

/**
 * Longest wait for a dial to complete, ms. A neighbour whose host drops SYNs
 * would otherwise hold the dial (and a stop()) for the kernel's ~2 minutes.
 */
export const CONNECT_TIMEOUT_MS = 5000;

/**
 * Longest wait for the neighbour's welcome after our hello when keepalive is
 * off, ms (with it, `peerTimeoutMs`). A process that accepts connections at
 * the neighbour's address but never welcomes (a frozen member, or something
 * else on that port) would otherwise hold the link in `hello sent`, its queue
 * filling, until restarted.
 */
export const WELCOME_TIMEOUT_MS = 10_000;

/**
 * Most large anti-entropy answers one connection holds unsent. Each is a few
 * node names until written, so the cap is about a neighbour that keeps asking
 * for whole subtrees without reading: an honest exchange streams at most one
 * answer per node of the store over {@linkcode CHUNK_RECORDS} records.
 */
export const SYNC_STREAM_LIMIT = 10_000;

/**
 * Shortest time between two dials when a neighbour's hello cuts a backoff
 * short ({@linkcode PeerLink.redialNow}), ms: at most ten such dials a second.
 */
export const REDIAL_NOW_FLOOR_MS = 100;

/**
 * Most anti-entropy text a link holds unwritten, characters (wire text: one
 * byte each). An honest repair stays far below it: a whole store of
 * 1,000,000 records is about 100 MB of AT lines. Past it the connection is
 * dropped (its sync text discarded), so a neighbour that keeps asking without
 * reading cannot grow the member without bound.
 */
export const SYNC_QUEUE_LIMIT_CHARS = 256 * 1024 * 1024;

/**
 * Redial delay after `attempt` consecutive failures: `min * 2^attempt`
 * capped at `max`, then "equal jitter" (uniform in [d/2, d]) so that members
 * restarted together do not redial in lockstep.
 *
 * @param attempt Failures so far (0 for the first redial).
 * @param minMs First delay, ms.
 * @param maxMs Cap, ms.
 * @param random Uniform random in [0, 1).
 * @returns Delay in ms.
 */
export function redialDelayMs(
  attempt: number,
  minMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const d = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return d / 2 + random() * (d / 2);
}

let fallbackConnId = 0;

/** A member's outgoing connection to one neighbour. */
export class PeerLink implements TreeTarget {
  /** Name of the neighbour this link dials. */
  readonly peer: string;
  #opts: PeerLinkOptions;
  #timers: TimerClock;
  #state: LinkState = "down";
  #sinceMs = Date.now();
  #sent = 0;
  #droppedTotal = 0;
  #tree = false;
  #stopped = false;
  #conn: Conn | null = null;
  #queue: string[] = [];
  /** Anti-entropy text of the current connection: not bounded by queueLimit, never dropped. */
  #syncText = "";
  /** Large anti-entropy answers of the current connection, built a chunk per write. */
  #streams: TextChunks[] = [];
  /** The keepalive check of the current connection. */
  #aliveTimer: TimerId | undefined;
  /** Pings sent so far (the next token). */
  #pings = 0;
  #dropped = 0;
  /** Lines were dropped since the last onDrained(). */
  #lost = false;
  /** The writer's last run, awaited by stop(); `#writing` says whether it is still going. */
  #flushing: Promise<void> = Promise.resolve();
  #writing = false;
  /** A fallback flush is scheduled for the end of the current task. */
  #flushQueued = false;
  #task: Promise<void> | null = null;
  #sleepTimer: TimerId | undefined;
  #wake: (() => void) | null = null;
  /** When the last dial started, `timers.nowMs()`. */
  #dialledAt = -Infinity;
  /** When the current redial wait ends, `timers.nowMs()`. */
  #sleepUntil = 0;
  #connections = 0;
  #dials = 0;
  /** Aborts a dial in progress when the link stops. */
  #stopDial = new AbortController();

  /**
   * Creates a link in state `down`; {@linkcode PeerLink.start} begins dialling.
   *
   * @param opts See {@linkcode PeerLinkOptions}.
   */
  constructor(opts: PeerLinkOptions) {
    this.peer = opts.peer;
    this.#opts = opts;
    this.#timers = opts.timers ?? systemTimers;
  }

  /** Current state. */
  get state(): LinkState {
    return this.#state;
  }

  /** When the link entered its current state, POSIX ms (wall clock). */
  get sinceMs(): number {
    return this.#sinceMs;
  }

  /** True if the neighbour's latest welcome announced epidemic broadcast trees. */
  get tree(): boolean {
    return this.#tree;
  }

  /** Flood lines handed to {@linkcode PeerLink.send} so far (queued, written or dropped). */
  get sent(): number {
    return this.#sent;
  }

  /** Flood lines dropped from the queue while the link was down or slow, so far. */
  get droppedTotal(): number {
    return this.#droppedTotal;
  }

  #enter(state: LinkState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#sinceMs = Date.now();
  }

  /** How many times this link has been welcomed. */
  get connections(): number {
    return this.#connections;
  }

  /** How many dials this link has started (successful or not). */
  get dials(): number {
    return this.#dials;
  }

  /** Pings this link has sent so far (keepalive). */
  get pings(): number {
    return this.#pings;
  }

  /**
   * Flood lines waiting to be written, plus one if anti-entropy text is waiting, plus one per
   * large anti-entropy answer not yet written.
   */
  get queued(): number {
    return this.#queue.length + (this.#syncText === "" ? 0 : 1) + this.#streams.length;
  }

  /** Keepalive timeout, ms; 0 when off. */
  get #timeoutMs(): number {
    return this.#opts.peerTimeoutMs ?? 0;
  }

  /**
   * Cuts a redial backoff short: the neighbour has just dialled us, so it is
   * back, and waiting out the rest of the backoff (up to `redialMaxMs`) would
   * only delay the records it missed. The link redials
   * {@linkcode REDIAL_NOW_FLOOR_MS} after its last dial at the soonest, so two
   * members that accept each other's hello but then fail the link (a rejected
   * welcome) cannot make each other redial in a loop. Does nothing unless the
   * link is waiting to redial and would wait longer than that.
   */
  redialNow(): void {
    if (this.#stopped || this.#wake === null) return;
    const now = this.#timers.nowMs();
    const at = Math.max(now, this.#dialledAt + REDIAL_NOW_FLOOR_MS);
    if (at >= this.#sleepUntil) return; // the backoff ends sooner anyway
    this.#opts.log.emit("debug", "peer.link.redial.now", { peer: this.peer });
    this.#timers.clearTimeout(this.#sleepTimer);
    this.#sleepUntil = at;
    if (at === now) this.#wake();
    else this.#sleepTimer = this.#timers.setTimeout(() => this.#wake?.(), at - now);
  }

  /** Starts dialling in the background. */
  start(): void {
    this.#task ??= this.#run();
  }

  /** Stops dialling, closes the connection and waits for every pending operation. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopDial.abort();
    this.#timers.clearTimeout(this.#sleepTimer);
    this.#timers.clearTimeout(this.#aliveTimer);
    this.#wake?.();
    if (this.#conn !== null) closeQuietly(this.#conn);
    await this.#task;
    await this.#flushing;
    this.#enter("stopped");
  }

  /**
   * Queues one line (terminator included, wire text) for the neighbour. It is
   * written by the next {@linkcode PeerLink.flush} once the link is welcomed,
   * or at the end of the current task if nobody flushes sooner.
   *
   * @param line e.g. `"AT Hill +0.1 kiwi +34-118 1.5\n"`.
   */
  send(line: string): void {
    if (this.#stopped) return;
    this.#sent++;
    this.#queue.push(line);
    if (this.#queue.length > this.#opts.queueLimit) {
      this.#queue.shift();
      this.#droppedTotal++;
      this.#lost = true;
      if (this.#dropped++ === 0) {
        this.#opts.log.emit("warning", "peer.queue.overflow", {
          peer: this.peer,
          limit: this.#opts.queueLimit,
        });
      }
    }
    this.#flushSoon();
  }

  /**
   * Hands anti-entropy text (whole lines: a DIGEST, or the answer to one the
   * neighbour sent on this connection) to the link. Unlike
   * {@linkcode PeerLink.send} it is never dropped for `queueLimit`: its size is
   * bounded by the records being repaired, and dropping part of it would make
   * the reconciliation start over. Ignored unless the link is welcomed, and
   * discarded if the connection ends first (the next one reconciles afresh).
   *
   * @param text One or more lines, each ending in LF, wire text.
   * @param rest More lines to send after `text`, built a chunk per write (a large answer).
   */
  sendSync(text: string, rest?: TextChunks): void {
    if (this.#stopped || this.#state !== "welcomed" || this.#conn === null) return;
    this.#syncText += text;
    if (rest !== undefined) this.#streams.push(rest);
    const limit = this.#opts.syncQueueLimitChars ?? SYNC_QUEUE_LIMIT_CHARS;
    if (this.#syncText.length > limit || this.#streams.length > SYNC_STREAM_LIMIT) {
      // Only a neighbour that asks and does not read gets here; the next connection starts over.
      this.#opts.log.emit("warning", "peer.link.dropped", {
        peer: this.peer,
        reason: this.#syncText.length > limit
          ? `anti-entropy backlog over ${limit} bytes`
          : `anti-entropy backlog over ${SYNC_STREAM_LIMIT} answers`,
      });
      closeQuietly(this.#conn);
      this.#conn = null; // the rest of this connection's sync text is ignored
      this.#syncText = "";
      this.#streams = [];
      return;
    }
    this.#flushSoon();
  }

  /**
   * Issues the write of everything queued, synchronously, when the link is
   * welcomed and no write is in flight (with one in flight, the writer takes
   * the queue as soon as it completes). Sessions call it, through
   * `flushLinks()`, before they write a reply.
   */
  flush(): void {
    if (this.#writing || this.#state !== "welcomed" || this.queued === 0) return;
    this.#flushing = this.#write(this.#conn);
  }

  /** Schedules a {@linkcode PeerLink.flush} at the end of the current task, once. */
  #flushSoon(): void {
    if (this.#flushQueued || this.#writing || this.#state !== "welcomed") return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.flush();
    });
  }

  /** The writer: runs synchronously up to its first write, then until the queue is empty. */
  async #write(conn: Conn | null): Promise<void> {
    this.#writing = true;
    let drained = false;
    try {
      while (conn !== null && conn === this.#conn && this.queued > 0 && !this.#stopped) {
        let text = this.#syncText + this.#queue.join("");
        this.#queue = [];
        this.#syncText = "";
        // One chunk of the oldest large answer per write: what was queued meanwhile (a ping,
        // floods) goes out with the next chunk, not after the whole answer.
        const stream = this.#streams[0];
        const chunk = stream?.next();
        if (chunk === null) this.#streams.shift();
        else if (chunk !== undefined) text += chunk.text;
        if (text === "") continue;
        await writeWithin(conn, wireToBytes(text), this.#opts.writeTimeoutMs, this.#timers);
      }
      drained = this.#lost && conn !== null && !this.#stopped;
    } catch (e) {
      // A connection the link dropped already (keepalive, backlog) was logged then.
      if (conn === this.#conn) {
        this.#opts.log.emit("warning", "peer.link.dropped", {
          peer: this.peer,
          reason: `write failed: ${reason(e)}`,
        });
      }
      if (conn !== null) closeQuietly(conn);
    } finally {
      this.#writing = false;
    }
    if (drained) {
      // Lines were dropped: the neighbour may miss records until a reconciliation.
      this.#lost = false;
      this.#opts.onDrained?.();
    }
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#stopped) {
      const addr = this.#opts.addressOf(this.peer);
      if (addr !== undefined) {
        this.#enter("connecting");
        this.#dialledAt = this.#timers.nowMs();
        this.#dials++;
        const welcomed = await this.#connectOnce(addr);
        if (welcomed) attempt = 0;
        this.#enter("down");
      }
      if (this.#stopped) break;
      const delayMs = Math.round(
        redialDelayMs(attempt, this.#opts.redialMinMs, this.#opts.redialMaxMs, this.#opts.random),
      );
      // `attempt` as in redialDelayMs(): failures in a row before this one, from 0.
      this.#opts.log.emit("debug", "peer.link.redial", { peer: this.peer, attempt, delayMs });
      attempt++;
      await this.#sleep(delayMs);
    }
  }

  /** Dials, bounded by {@linkcode CONNECT_TIMEOUT_MS}; `null` (logged) if it fails. */
  async #dial(addr: PeerAddress, address: string): Promise<Conn | null> {
    const dial = new AbortController();
    const onStop = () => dial.abort();
    this.#stopDial.signal.addEventListener("abort", onStop);
    const timer = this.#timers.setTimeout(() => dial.abort(), CONNECT_TIMEOUT_MS);
    try {
      return await (this.#opts.dial ?? tcpDial)(addr, dial.signal);
    } catch (e) {
      this.#opts.log.emit("debug", "peer.link.failed", {
        peer: this.peer,
        address,
        reason: dial.signal.aborted && !this.#stopped
          ? `no answer within ${CONNECT_TIMEOUT_MS} ms`
          : reason(e),
      });
      return null;
    } finally {
      this.#timers.clearTimeout(timer);
      this.#stopDial.signal.removeEventListener("abort", onStop);
    }
  }

  /** One connection's life; returns true if the neighbour welcomed us. */
  async #connectOnce(addr: PeerAddress): Promise<boolean> {
    const address = `${addr.hostname}:${addr.port}`;
    const conn = await this.#dial(addr, address);
    if (conn === null) return false;
    if (this.#stopped) {
      closeQuietly(conn);
      return false;
    }
    this.#conn = conn;
    let welcomeTimer: TimerId | undefined;
    let end: SessionEnd | null = null;
    const welcomeMs = this.#timeoutMs > 0 ? this.#timeoutMs : WELCOME_TIMEOUT_MS;
    const activity = freshActivity(this.#timers.nowMs(), true);
    try {
      const { name, auth, helloParams } = this.#opts.session.view;
      const signed = await auth.sign("hello", name, this.peer);
      const hello = formatHello(name, [...signed, ...helloParams]) + "\n";
      await writeWithin(conn, wireToBytes(hello), this.#opts.writeTimeoutMs, this.#timers);
      this.#enter("hello sent");
      this.#opts.log.emit("debug", "peer.link.hello", { peer: this.peer, address });
      welcomeTimer = this.#timers.setTimeout(() => {
        if (this.#state !== "hello sent") return;
        this.#opts.log.emit("warning", "peer.link.dropped", {
          peer: this.peer,
          address,
          reason: `no welcome within ${welcomeMs} ms`,
        });
        closeQuietly(conn);
      }, welcomeMs);
      end = await runSession(conn, this.#opts.session, {
        id: (this.#opts.nextConnId ?? (() => ++fallbackConnId))(),
        role: "dialler",
        peer: this.peer,
        maxLineBytes: this.#opts.maxLineBytes,
        peerLineBytes: this.#opts.maxLineBytes,
        writeTimeoutMs: this.#opts.writeTimeoutMs,
        activity,
        output: (wire, rest) => this.sendSync(wire, rest),
        onWelcomed: (tree, keepalive) => {
          this.#welcomed(address, tree);
          if (keepalive && this.#timeoutMs > 0) this.#keepAlive(conn, activity, address);
        },
      });
      if (!this.#stopped && !end.closedByMember) {
        this.#opts.log.emit("warning", "peer.link.dropped", {
          peer: this.peer,
          address,
          reason: end.reason,
        });
      }
    } catch (e) {
      if (!this.#stopped) {
        this.#opts.log.emit("warning", "peer.link.dropped", {
          peer: this.peer,
          address,
          reason: reason(e),
        });
      }
    } finally {
      this.#timers.clearTimeout(welcomeTimer);
      this.#timers.clearTimeout(this.#aliveTimer);
    }
    const welcomed = this.#state === "welcomed" && end?.refused !== true;
    this.#enter("down");
    this.#conn = null;
    this.#syncText = "";
    this.#streams = [];
    closeQuietly(conn);
    await this.#flushing;
    return welcomed;
  }

  /** The neighbour's welcome was verified: the link carries records from now on. */
  #welcomed(address: string, tree: boolean): void {
    this.#tree = tree;
    this.#enter("welcomed");
    this.#connections++;
    // The welcome starts a reconciliation, which covers every line dropped so far:
    // a second one for the same drops (onDrained) would only send it all twice.
    this.#lost = false;
    this.#opts.log.emit("info", "peer.link.open", {
      peer: this.peer,
      address,
      dissemination: tree ? "tree" : "flood",
    });
    if (this.#dropped > 0) {
      this.#opts.log.emit("warning", "peer.queue.dropped", {
        peer: this.peer,
        lines: this.#dropped,
      });
      this.#dropped = 0;
    }
    this.#opts.onWelcome?.();
    this.flush();
  }

  /**
   * Watches a welcomed connection for signs of life (any bytes read, `activity.heardMs`): a
   * `PING` after half the timeout of silence on it, the connection dropped once the neighbour
   * has said nothing for all of it on this connection or on its own link to us (the session
   * port's `lastHeard`; a PONG can wait long behind a large repair the neighbour is reading,
   * while its own link goes on pinging us). A check
   * that runs late by more than half the timeout means this member's own event loop stalled,
   * with the neighbour's bytes perhaps waiting unread: that silence is not the neighbour's, so it
   * pings and looks again instead of dropping.
   */
  #keepAlive(conn: Conn, activity: SessionActivity, address: string): void {
    const timeoutMs = this.#timeoutMs;
    const half = timeoutMs / 2;
    let pingedAt = -Infinity;
    let graceFrom = -Infinity;
    let dueMs = 0;
    const schedule = (atMs: number) => {
      const now = this.#timers.nowMs();
      dueMs = Math.max(atMs, now);
      this.#aliveTimer = this.#timers.setTimeout(check, dueMs - now);
    };
    const check = () => {
      if (conn !== this.#conn || this.#stopped) return;
      const now = this.#timers.nowMs();
      if (now - dueMs > half) graceFrom = now - half;
      // Pings follow this connection's silence; the drop, the neighbour's on both connections
      // (its own link to us may speak while our PING waits behind a repair it is still reading).
      const own = Math.max(activity.heardMs, graceFrom);
      const either = this.#opts.session.lastHeard?.(this.peer) ?? -Infinity;
      const heard = Math.max(own, either);
      if (now - heard >= timeoutMs) {
        this.#opts.log.emit("warning", "peer.link.dropped", {
          peer: this.peer,
          address,
          reason: "timeout",
          silentMs: Math.round(now - Math.max(activity.heardMs, either)),
        });
        this.#conn = null; // its pending write fails quietly; the session ends
        closeQuietly(conn);
        return;
      }
      if (now - own >= half && pingedAt <= own) {
        pingedAt = now;
        this.sendSync(formatKeepalive("PING", String(++this.#pings)) + "\n");
      }
      // Next: the ping due half a timeout after this connection last spoke (looked at again
      // every half timeout while a PING waits for its answer), or the drop, whichever is first.
      schedule(Math.min(heard + timeoutMs, (now - own < half ? own : now) + half));
    };
    schedule(activity.heardMs + half);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#wake = null;
        resolve();
      };
      this.#sleepUntil = this.#timers.nowMs() + ms;
      this.#sleepTimer = this.#timers.setTimeout(() => this.#wake?.(), ms);
    });
  }
}

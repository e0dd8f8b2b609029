/**
 * The outgoing link to one neighbour (PROTOCOL.md section 4): dial, say hello,
 * keep the connection open, carry flooded AT lines, and redial with capped
 * exponential backoff and jitter after any failure.
 *
 * A link never blocks or fails its caller: {@linkcode PeerLink.send} only
 * queues (bounded; the oldest line is dropped on overflow) and wakes the
 * writer. Lines queued while the link is down go out once it is back up.
 * Anti-entropy text ({@linkcode PeerLink.sendSync}) has a queue of its own
 * that never drops: a dropped answer would only start another reconciliation.
 *
 * @module
 */

import type { EventLog } from "../log.ts";
import {
  type AskMessage,
  type AtMessage,
  bytesToWire,
  type DigestMessage,
  formatHello,
  type HaveMessage,
  LineSplitter,
  type Message,
  parseMessage,
  type WantMessage,
  type WireText,
  wireToBytes,
  wireToDisplay,
} from "../protocol/mod.ts";
import type { PeerAuth } from "./auth.ts";
import type { FloodTarget } from "./flood.ts";
import { closeQuietly, reason, writeWithin } from "./socket.ts";

/** A line a neighbour may send back on our link once its welcome is accepted. */
export type PeerMessage = AtMessage | DigestMessage | WantMessage | AskMessage | HaveMessage;

const PEER_KINDS: ReadonlySet<string> = new Set(["AT", "DIGEST", "WANT", "ASK", "HAVE"]);

/** True for a record or an anti-entropy line: what a welcomed neighbour may send back. */
function isPeerMessage(msg: Message | null): msg is PeerMessage {
  return msg !== null && PEER_KINDS.has(msg.kind);
}

/** Where a member listens. */
export interface PeerAddress {
  /** Host name or IP address, e.g. `127.0.0.1` or `::1`. */
  hostname: string;
  /** TCP port (0 in a listen override lets the OS choose a free one). */
  port: number;
}

/** Looks up a member's current address by name (it may change on restart). */
export type AddressLookup = (name: string) => PeerAddress | undefined;

/** Life of a link. */
export type LinkState = "connecting" | "up" | "down" | "stopped";

/** Options of {@linkcode PeerLink}. */
export interface PeerLinkOptions {
  /** This member's name (said in the hello). */
  self: string;
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
  /** Signs our hello and checks the neighbour's welcome. */
  auth: PeerAuth;
  /** Longest a write may wait for the neighbour to read, ms; then the link is dropped. */
  writeTimeoutMs: number;
  /** Called with each record or anti-entropy line the neighbour sends back after its welcome. */
  onLine?: (msg: PeerMessage, line: WireText) => void;
  /** Called when the neighbour's welcome is accepted (the time to reconcile). */
  onWelcome?: () => void;
  /** Called when the queue has drained after lines were dropped (time to reconcile again). */
  onDrained?: () => void;
  /**
   * Most anti-entropy text held unwritten, characters; past it the connection
   * is dropped. @default 256 MiB ({@linkcode SYNC_QUEUE_LIMIT_CHARS})
   */
  syncQueueLimitChars?: number;
}

/** Read buffer size for what a neighbour sends back on a link (welcome, anti-entropy), bytes. */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * Longest wait for a dial to complete, ms. A neighbour whose host drops SYNs
 * would otherwise hold the dial (and a stop()) for the kernel's ~2 minutes.
 */
const CONNECT_TIMEOUT_MS = 5000;

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

/** Why a link ended when the neighbour answered our hello with `? `. */
const HELLO_REFUSED = "hello refused";

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

/** A member's outgoing connection to one neighbour. */
export class PeerLink implements FloodTarget {
  /** Name of the neighbour this link dials. */
  readonly peer: string;
  #opts: PeerLinkOptions;
  #state: LinkState = "down";
  #stopped = false;
  #conn: Deno.TcpConn | null = null;
  #queue: string[] = [];
  /** Anti-entropy text of the current connection: not bounded by queueLimit, never dropped. */
  #syncText = "";
  #dropped = 0;
  /** Lines were dropped since the last onDrained(). */
  #lost = false;
  /** The writer's last run, awaited by stop(); `#writing` says whether it is still going. */
  #flushing: Promise<void> = Promise.resolve();
  #writing = false;
  #task: Promise<void> | null = null;
  #sleepTimer: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | null = null;
  /** When the last dial started, `performance.now()` ms. */
  #dialledAt = -Infinity;
  /** When the current redial wait ends, `performance.now()` ms. */
  #sleepUntil = 0;
  #connections = 0;
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
  }

  /** Current state. */
  get state(): LinkState {
    return this.#state;
  }

  /** How many times this link has come up. */
  get connections(): number {
    return this.#connections;
  }

  /** Flood lines waiting to be written, plus one if anti-entropy text is waiting. */
  get queued(): number {
    return this.#queue.length + (this.#syncText === "" ? 0 : 1);
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
    const now = performance.now();
    const at = Math.max(now, this.#dialledAt + REDIAL_NOW_FLOOR_MS);
    if (at >= this.#sleepUntil) return; // the backoff ends sooner anyway
    this.#opts.log.emit("debug", "peer.link.redial.now", { peer: this.peer });
    clearTimeout(this.#sleepTimer);
    this.#sleepUntil = at;
    if (at === now) this.#wake();
    else this.#sleepTimer = setTimeout(() => this.#wake?.(), at - now);
  }

  /** Starts dialling in the background. */
  start(): void {
    this.#task ??= this.#run();
  }

  /** Stops dialling, closes the connection and waits for every pending operation. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopDial.abort();
    clearTimeout(this.#sleepTimer);
    this.#wake?.();
    if (this.#conn !== null) closeQuietly(this.#conn);
    await this.#task;
    await this.#flushing;
    this.#state = "stopped";
  }

  /**
   * Hands one line (terminator included, wire text) to the link. If the link
   * is up and idle the bytes are written before this returns control.
   *
   * @param line e.g. `"AT Hill +0.1 kiwi +34-118 1.5\n"`.
   */
  send(line: string): void {
    if (this.#stopped) return;
    this.#queue.push(line);
    if (this.#queue.length > this.#opts.queueLimit) {
      this.#queue.shift();
      this.#lost = true;
      if (this.#dropped++ === 0) {
        this.#opts.log.emit("warning", "peer.queue.overflow", {
          peer: this.peer,
          limit: this.#opts.queueLimit,
        });
      }
    }
    if (this.#state === "up") this.#kick();
  }

  /**
   * Hands anti-entropy text (whole lines: a DIGEST, or the answer to one the
   * neighbour sent on this connection) to the link. Unlike
   * {@linkcode PeerLink.send} it is never dropped for `queueLimit`: its size is
   * bounded by the records being repaired, and dropping part of it would make
   * the reconciliation start over. Ignored unless the link is up, and
   * discarded if the connection ends first (the next one reconciles afresh).
   *
   * @param text One or more lines, each ending in LF, wire text.
   */
  sendSync(text: string): void {
    if (this.#stopped || this.#state !== "up" || this.#conn === null) return;
    this.#syncText += text;
    const limit = this.#opts.syncQueueLimitChars ?? SYNC_QUEUE_LIMIT_CHARS;
    if (this.#syncText.length > limit) {
      // Only a neighbour that asks and does not read gets here; the next connection starts over.
      this.#opts.log.emit("warning", "peer.link.dropped", {
        peer: this.peer,
        reason: `anti-entropy backlog over ${limit} bytes`,
      });
      closeQuietly(this.#conn);
      this.#conn = null; // the rest of this connection's sync text is ignored
      this.#syncText = "";
      return;
    }
    this.#kick();
  }

  /**
   * Starts the writer unless it is running. Its first write is issued after
   * the current synchronous work (one microtask), so that the floods of every
   * line of a read chunk share one write instead of the first going alone.
   */
  #kick(): void {
    if (!this.#writing) this.#flushing = this.#flush();
  }

  async #flush(): Promise<void> {
    // Set synchronously, so a send() meanwhile only queues.
    this.#writing = true;
    let drained = false;
    let conn: Deno.Conn | null = null;
    try {
      await null;
      conn = this.#conn;
      while (conn !== null && this.queued > 0 && !this.#stopped) {
        const batch = wireToBytes(this.#syncText + this.#queue.join(""));
        this.#queue = [];
        this.#syncText = "";
        await writeWithin(conn, batch, this.#opts.writeTimeoutMs);
      }
      drained = this.#lost && conn !== null && !this.#stopped;
    } catch (e) {
      this.#opts.log.emit("warning", "peer.link.dropped", {
        peer: this.peer,
        reason: `write failed: ${reason(e)}`,
      });
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
        this.#state = "connecting";
        this.#dialledAt = performance.now();
        const up = await this.#connectOnce(addr);
        if (up) attempt = 0;
        this.#state = "down";
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

  /** One connection's life; returns true if it got as far as "up". */
  async #connectOnce(addr: PeerAddress): Promise<boolean> {
    const address = `${addr.hostname}:${addr.port}`;
    let conn: Deno.TcpConn;
    const dial = new AbortController();
    const onStop = () => dial.abort();
    this.#stopDial.signal.addEventListener("abort", onStop);
    const timer = setTimeout(() => dial.abort(), CONNECT_TIMEOUT_MS);
    try {
      conn = await Deno.connect({
        hostname: addr.hostname,
        port: addr.port,
        transport: "tcp",
        signal: dial.signal,
      });
    } catch (e) {
      this.#opts.log.emit("debug", "peer.link.failed", {
        peer: this.peer,
        address,
        reason: dial.signal.aborted && !this.#stopped
          ? `no answer within ${CONNECT_TIMEOUT_MS} ms`
          : reason(e),
      });
      return false;
    } finally {
      clearTimeout(timer);
      this.#stopDial.signal.removeEventListener("abort", onStop);
    }
    if (this.#stopped) {
      closeQuietly(conn);
      return false;
    }
    this.#conn = conn;
    try {
      conn.setNoDelay(true);
      const auth = await this.#opts.auth.sign("hello", this.#opts.self, this.peer);
      const hello = formatHello(this.#opts.self, auth) + "\n";
      await writeWithin(conn, wireToBytes(hello), this.#opts.writeTimeoutMs);
      this.#state = "up";
      this.#connections++;
      // The welcome starts a reconciliation, which covers every line dropped so far:
      // a second one for the same drops (onDrained) would only send it all twice.
      this.#lost = false;
      this.#opts.log.emit("info", "peer.link.open", { peer: this.peer, address });
      if (this.#dropped > 0) {
        this.#opts.log.emit("warning", "peer.queue.dropped", {
          peer: this.peer,
          lines: this.#dropped,
        });
        this.#dropped = 0;
      }
      if (this.#queue.length > 0) this.#kick();
      const why = await this.#readReplies(conn, address);
      const refused = why === HELLO_REFUSED;
      if (!this.#stopped) {
        this.#opts.log.emit("warning", "peer.link.dropped", {
          peer: this.peer,
          address,
          reason: why,
        });
      }
      return !refused; // a refused hello backs off like a failed dial
    } catch (e) {
      if (!this.#stopped) {
        this.#opts.log.emit("warning", "peer.link.dropped", {
          peer: this.peer,
          address,
          reason: reason(e),
        });
      }
      return this.#state === "up";
    } finally {
      this.#state = "down";
      this.#conn = null;
      this.#syncText = "";
      closeQuietly(conn);
      await this.#flushing;
    }
  }

  /**
   * Reads what the neighbour says on our link until EOF: its welcome, then
   * anti-entropy lines and records (handed to `onLine`), or `? ` lines.
   */
  async #readReplies(conn: Deno.TcpConn, address: string): Promise<string> {
    const splitter = new LineSplitter(this.#opts.maxLineBytes);
    const buf = new Uint8Array(READ_BUFFER_BYTES);
    let welcomed = false;
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch (e) {
        return reason(e);
      }
      if (n === null) return "closed by neighbour";
      for (const frame of splitter.push(buf.subarray(0, n))) {
        const wire = bytesToWire(frame.kind === "line" ? frame.bytes : frame.head);
        const msg = frame.kind === "line" ? parseMessage(wire) : null;
        if (msg?.kind === "HERD" && !welcomed) {
          const why = msg.name !== this.peer
            ? `welcome names ${wireToDisplay(msg.name)}`
            : await this.#opts.auth.check(
              "welcome",
              msg,
              this.#opts.self,
              conn.remoteAddr.hostname,
            );
          if (why !== null) return `welcome rejected: ${why}`;
          welcomed = true;
          this.#opts.log.emit("debug", "peer.link.welcome", { peer: this.peer, address });
          this.#opts.onWelcome?.();
          continue;
        }
        if (welcomed && isPeerMessage(msg)) {
          this.#opts.onLine?.(msg, wire);
          continue;
        }
        const text = wireToDisplay(wire);
        const refused = text.startsWith("? ");
        this.#opts.log.emit(
          refused ? "warning" : "debug",
          refused ? "peer.link.refused" : "peer.link.reply",
          {
            peer: this.peer,
            address,
            line: text,
          },
        );
        // Our hello was refused: everything we send would be refused too.
        if (text.startsWith("? HERD ")) return HELLO_REFUSED;
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#wake = null;
        resolve();
      };
      this.#sleepUntil = performance.now() + ms;
      this.#sleepTimer = setTimeout(() => this.#wake?.(), ms);
    });
  }
}

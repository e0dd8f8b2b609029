/**
 * The outgoing link to one neighbour (PROTOCOL.md section 4): dial, say hello,
 * keep the connection open, carry flooded AT lines, and redial with capped
 * exponential backoff and jitter after any failure.
 *
 * A link never blocks or fails its caller: {@linkcode PeerLink.send} only
 * queues (bounded; the oldest line is dropped on overflow) and wakes the
 * writer. Lines queued while the link is down go out once it is back up.
 *
 * @module
 */

import type { EventLog } from "../log.ts";
import {
  bytesToWire,
  formatHello,
  LineSplitter,
  wireToBytes,
  wireToDisplay,
} from "../protocol/mod.ts";
import type { FloodTarget } from "./flood.ts";
import { closeQuietly, reason, writeAll } from "./socket.ts";

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
  /** Event sink. */
  log: EventLog;
  /** Uniform random in [0, 1), injected for deterministic tests. @default Math.random */
  random?: () => number;
}

/** Read buffer size for the (small) replies a neighbour sends on a link, bytes. */
const READ_BUFFER_BYTES = 4096;

/**
 * Longest wait for a dial to complete, ms. A neighbour whose host drops SYNs
 * would otherwise hold the dial (and a stop()) for the kernel's ~2 minutes.
 */
const CONNECT_TIMEOUT_MS = 5000;

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
  #dropped = 0;
  /** The writer's last run, awaited by stop(); `#writing` says whether it is still going. */
  #flushing: Promise<void> = Promise.resolve();
  #writing = false;
  #task: Promise<void> | null = null;
  #sleepTimer: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | null = null;
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

  /** Lines waiting to be written. */
  get queued(): number {
    return this.#queue.length;
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
      if (this.#dropped++ === 0) {
        this.#opts.log.emit("warning", "peer.queue.overflow", {
          peer: this.peer,
          limit: this.#opts.queueLimit,
        });
      }
    }
    if (this.#state === "up") this.#kick();
  }

  /** Starts the writer unless it is running. Its first write is issued before this returns. */
  #kick(): void {
    if (!this.#writing) this.#flushing = this.#flush();
  }

  async #flush(): Promise<void> {
    const conn = this.#conn;
    // Set synchronously, so a send() during a pending write only queues.
    this.#writing = true;
    try {
      while (conn !== null && this.#queue.length > 0 && !this.#stopped) {
        const batch = wireToBytes(this.#queue.join(""));
        this.#queue = [];
        await writeAll(conn, batch);
      }
    } catch (e) {
      this.#opts.log.emit("warning", "peer.link.dropped", {
        peer: this.peer,
        reason: `write failed: ${reason(e)}`,
      });
      if (conn !== null) closeQuietly(conn);
    } finally {
      this.#writing = false;
    }
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#stopped) {
      const addr = this.#opts.addressOf(this.peer);
      if (addr !== undefined) {
        this.#state = "connecting";
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
      await writeAll(conn, wireToBytes(formatHello(this.#opts.self) + "\n"));
      this.#state = "up";
      this.#connections++;
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
      closeQuietly(conn);
      await this.#flushing;
    }
  }

  /** Reads what the neighbour says on our link (its welcome, `? ` lines) until EOF. */
  async #readReplies(conn: Deno.TcpConn, address: string): Promise<string> {
    const splitter = new LineSplitter();
    const buf = new Uint8Array(READ_BUFFER_BYTES);
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch (e) {
        return reason(e);
      }
      if (n === null) return "closed by neighbour";
      for (const frame of splitter.push(buf.subarray(0, n))) {
        const text = wireToDisplay(bytesToWire(frame.kind === "line" ? frame.bytes : frame.head));
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
      this.#sleepTimer = setTimeout(() => this.#wake?.(), ms);
    });
  }
}

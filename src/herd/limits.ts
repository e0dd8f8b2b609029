/**
 * Limits against abuse (`[herd] max_connections`, `max_connections_per_source`,
 * `reserved_peer_connections`, `max_lines_per_s`), as pure decisions the
 * member and the session apply: {@linkcode admit} says what to do with a
 * connection just accepted, {@linkcode LineBucket} how long a client's next
 * line must wait.
 *
 * Who counts as what. A *stranger* is an accepted connection whose hello has
 * not been accepted (every client's, and a neighbour's before its hello); a
 * *peer* connection is one whose hello was accepted. Only strangers count
 * against the per-source cap and the clients' share of `max_connections`.
 *
 * On a member without a peer port, the member cannot tell a neighbour's new
 * connection from a client's before its first line. So a connection over the
 * clients' share (or over the per-source cap, from the host of a neighbour in
 * herd.toml) is not refused but admitted *on probation*: its first line must
 * be a hello the member accepts, within {@linkcode PROBATION_MS}; anything
 * else closes it without a reply, logged as refused. A neighbour's link
 * sends its hello at once, so it gets in through the reserve while idle
 * clients hold every other connection. On a member with a peer port,
 * neighbours never come to the client port: over a limit there, a client is
 * refused at once, and the peer port has a budget of its own.
 *
 * @module
 */

import type { HerdSettings } from "../config.ts";
import type { ListenerKind } from "./dispatch.ts";

/**
 * Longest a connection admitted on probation may take to send an accepted hello, ms. A
 * neighbour's link writes its hello right after connecting (signing it takes well under a
 * millisecond), so 2 s is ample even on a loaded machine, while an idle client holding a reserved
 * connection is let go soon.
 */
export const PROBATION_MS = 2000;

/**
 * Peer-port connections allowed per neighbour at least: a neighbour's new link may arrive before
 * its old one's close is noticed, so two each.
 */
export const PEER_PORT_CONNECTIONS_PER_NEIGHBOUR = 2;

/** The connection limits of one member, from its settings and its place in the herd. */
export interface ConnectionLimits {
  /** Most connections on the member's client (or shared) port, strangers and peers. */
  maxConnections: number;
  /** Most strangers on the client (or shared) port: `maxConnections` minus the reserve. */
  maxStrangers: number;
  /** Most strangers from one source address on the client (or shared) port; 0: no cap. */
  perSource: number;
  /** Most connections on the peer port (a member with one). */
  peerPort: number;
}

/**
 * The limits of a member.
 *
 * The reserve for peers is `reserved_peer_connections`, capped at half of `max_connections` (so
 * clients always keep at least half), and 0 for a member without neighbours (nobody to reserve
 * for). The peer port's budget is the reserve, but at least
 * {@linkcode PEER_PORT_CONNECTIONS_PER_NEIGHBOUR} per neighbour.
 *
 * @param settings The herd's settings.
 * @param neighbours How many neighbours the member has.
 * @returns The limits.
 */
export function connectionLimits(settings: HerdSettings, neighbours: number): ConnectionLimits {
  const reserve = neighbours === 0
    ? 0
    : Math.min(settings.reservedPeerConnections, Math.floor(settings.maxConnections / 2));
  return {
    maxConnections: settings.maxConnections,
    maxStrangers: settings.maxConnections - reserve,
    perSource: settings.maxConnectionsPerSource,
    peerPort: Math.max(reserve, PEER_PORT_CONNECTIONS_PER_NEIGHBOUR * neighbours),
  };
}

/** What the member holds on the listener a connection came to, before admitting it. */
export interface ListenerCounts {
  /** Every connection on that listener. */
  all: number;
  /** Its strangers (no accepted hello yet), probation ones included. */
  strangers: number;
  /** Its strangers from the new connection's source address. */
  strangersFromSource: number;
}

/**
 * Why a connection was refused: the `reason` of `conn.refused`. `over max_connections` and
 * `reserved for peers` name the limit reached; `per source` the per-source cap; `peer port full`
 * the peer port's budget.
 */
export type RefusalReason =
  | "over max_connections"
  | "reserved for peers"
  | "per source"
  | "peer port full";

/** What to do with a connection just accepted. */
export type Admission =
  /** Serve it. */
  | { kind: "serve" }
  /** Serve it only if its first line is an accepted hello within PROBATION_MS; else refuse. */
  | { kind: "probation"; reason: RefusalReason }
  /** Close it at once. */
  | { kind: "refuse"; reason: RefusalReason };

/** {@linkcode admit}'s `serve` answer (one object; it has no fields to vary). */
const SERVE: Admission = Object.freeze({ kind: "serve" });

/**
 * Decides on a connection just accepted, in this order: the listener's total, then the
 * per-source cap, then the clients' share (see the module comment).
 *
 * @param listener Which listener accepted it.
 * @param counts What that listener holds already.
 * @param limits The member's limits.
 * @param mayBeNeighbour True if its source address is the host of a neighbour in herd.toml
 *   (then, on a shared port, the per-source cap admits it on probation instead of refusing).
 * @returns Serve, probation or refuse, with the reason.
 */
export function admit(
  listener: ListenerKind,
  counts: ListenerCounts,
  limits: ConnectionLimits,
  mayBeNeighbour: boolean,
): Admission {
  if (listener === "peer") {
    return counts.all >= limits.peerPort ? { kind: "refuse", reason: "peer port full" } : SERVE;
  }
  if (counts.all >= limits.maxConnections) {
    return { kind: "refuse", reason: "over max_connections" };
  }
  const shared = listener === "shared";
  if (limits.perSource > 0 && counts.strangersFromSource >= limits.perSource) {
    return shared && mayBeNeighbour
      ? { kind: "probation", reason: "per source" }
      : { kind: "refuse", reason: "per source" };
  }
  if (counts.strangers >= limits.maxStrangers) {
    // Without neighbours there is no reserve, and maxStrangers == maxConnections (checked above).
    return shared
      ? { kind: "probation", reason: "reserved for peers" }
      : { kind: "refuse", reason: "reserved for peers" };
  }
  return SERVE;
}

/**
 * A token bucket of lines for one client connection (`max_lines_per_s`): it holds at most one
 * second's worth of lines and refills continuously, so a client may send a burst of `rate` lines
 * and then `rate` lines a second. Not thread-safe; one per connection.
 */
export class LineBucket {
  readonly #rate: number;
  #tokens: number;
  #atMs: number;

  /**
   * Creates a full bucket.
   *
   * @param rate Lines per second, at least 1.
   * @param nowMs The current time, ms on the caller's monotonic clock.
   */
  constructor(rate: number, nowMs: number) {
    this.#rate = rate;
    this.#tokens = rate;
    this.#atMs = nowMs;
  }

  /**
   * Takes one line's token if there is one.
   *
   * @param nowMs The current time, ms on the same clock as the constructor's.
   * @returns 0 if the line may go now (its token taken), else how long to wait before asking
   *   again, ms (at least 1).
   */
  take(nowMs: number): number {
    this.#refill(nowMs);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - this.#tokens) / this.#rate) * 1000));
  }

  /**
   * True if the bucket is full at `nowMs`: the client kept within its rate for a whole second.
   *
   * @param nowMs The current time, ms.
   */
  full(nowMs: number): boolean {
    this.#refill(nowMs);
    return this.#tokens >= this.#rate;
  }

  #refill(nowMs: number): void {
    if (nowMs > this.#atMs) {
      this.#tokens = Math.min(
        this.#rate,
        this.#tokens + ((nowMs - this.#atMs) / 1000) * this.#rate,
      );
      this.#atMs = nowMs;
    }
  }
}

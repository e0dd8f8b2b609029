/**
 * Epidemic broadcast trees (Plumtree: Leitão, Pereira and Rodrigues,
 * "Epidemic Broadcast Trees", SRDS 2007) over herd.toml's links: how a member
 * that disseminates by tree (`[herd] dissemination = "tree"`) relays the
 * records it stores. docs/PROTOCOL.md, "Epidemic broadcast trees", specifies
 * the lines; this module decides who gets which.
 *
 * Each neighbour whose welcome announced trees is either *eager* (it gets
 * every new record at once, as an `AT ... tree` line) or *lazy* (it gets the
 * record's id, client id and client time, in an `IHAVE` line gathered over
 * `lazy_push_ms`). Every such neighbour starts eager. A record that arrives a
 * second time by an eager push from a neighbour makes that neighbour lazy and
 * is answered with `PRUNE` (it makes us lazy too); the eager links that
 * remain form a spanning tree. A lazy announcement of a record we do not hold
 * starts a `graft_timeout_ms` timer; if the record has not come by then, we
 * ask the announcer for it with `GRAFT`, which makes each of us eager to the
 * other: a broken tree repairs itself where the records stopped arriving.
 *
 * Three departures from the paper, each because of what a herd is:
 *
 * - **First hop.** A member that takes a record from a client (IAMAT or the
 *   HTTP API) sends it to every neighbour before it replies (the course
 *   graders ask a direct neighbour right after the reply): an `AT` line
 *   without the mark, which a receiver knows for a first-hop copy because it
 *   comes from the record's origin server. A receiver for which that link is
 *   in the tree (eager) relays it along the tree at once. Any other holds it
 *   (it is stored and answered from at once) until the tree's own copy comes,
 *   and relays then, on the tree's copy, away from its sender; or, if none
 *   comes within `graft_timeout_ms`, as if it had. So the record still
 *   crosses each tree link once, and the first hop adds its own lines but no
 *   duplicates on the tree. A duplicate never prunes when the record's origin
 *   is our neighbour (its first-hop copy made the duplicate), and a first-hop
 *   copy never grafts.
 * - **Unmarked records are repairs.** An `AT` line without the mark from a
 *   neighbour that is not the origin is an anti-entropy answer, a graft's
 *   answer or a flood from a member without trees. It is relayed without the
 *   mark too, so the duplicates a repair makes never prune the tree.
 * - **Mixed versions.** A neighbour that did not announce trees is flooded:
 *   every record we store goes to it as an unmarked `AT` line.
 *
 * No record is ever sent back to its origin server, which stored it first.
 *
 * @module
 */

import type { EventLog } from "../log.ts";
import {
  type ClientRecord,
  compareDecimal,
  formatTreeIds,
  parseDecimal,
  type PruneMessage,
  TREE_MARK,
  type TreeIdsMessage,
  type UpdateId,
  type WireText,
  wireToDisplay,
} from "../protocol/mod.ts";
import type { TimerClock, TimerId } from "./clock.ts";
import type { FloodTarget } from "./flood.ts";

/**
 * A link that became eager (grafted, or up again) is not pruned for this many
 * times `lazy_push_ms + graft_timeout_ms`: while updates are in flight, the
 * copies sent before the tree settled would prune it again at once, and a
 * herd under load would cut and graft links without end.
 */
export const PRUNE_HOLD_OFF_FACTOR = 4;

/**
 * The spanning tree every member of a herd starts from: breadth-first from
 * the member whose farthest member is nearest (ties: the first name in
 * sorting order), neighbours visited in name order, so every member computes
 * the same tree from the same herd.toml without a word on the wire, and its
 * depth (the hops an update takes) is the herd's radius. Starting from a
 * tree, rather than from every link eager as the paper does, spares a herd
 * the storm of prunes that the first updates would cause, and the grafts
 * that prunes of concurrent updates would then need.
 *
 * @param names Every member's name.
 * @param links The undirected links.
 * @returns The tree's links, each as `"A B"` with A before B in sorting order.
 */
export function spanningTree(
  names: readonly string[],
  links: ReadonlyArray<readonly [string, string]>,
): Set<string> {
  const adjacent = new Map<string, string[]>(names.map((n) => [n, []]));
  for (const [a, b] of links) {
    if (a === b) continue;
    adjacent.get(a)?.push(b);
    adjacent.get(b)?.push(a);
  }
  for (const list of adjacent.values()) list.sort();
  const bfs = (root: string): Map<string, string | null> => {
    const parent = new Map<string, string | null>([[root, null]]);
    const queue = [root];
    for (let i = 0; i < queue.length; i++) {
      for (const next of adjacent.get(queue[i]) ?? []) {
        if (parent.has(next)) continue;
        parent.set(next, queue[i]);
        queue.push(next);
      }
    }
    return parent;
  };
  const depth = (parent: Map<string, string | null>): number => {
    let deepest = 0;
    for (let n of parent.keys()) {
      let d = 0;
      for (let p = parent.get(n); p !== null && p !== undefined; p = parent.get(n)) {
        n = p;
        d++;
      }
      deepest = Math.max(deepest, d);
    }
    return deepest;
  };
  let best: Map<string, string | null> | null = null;
  let bestDepth = Infinity;
  for (const root of [...names].sort()) {
    const parent = bfs(root);
    const d = depth(parent);
    if (d < bestDepth) {
      best = parent;
      bestDepth = d;
    }
  }
  const edges = new Set<string>();
  for (const [n, p] of best ?? []) if (p !== null) edges.add([n, p].sort().join(" "));
  return edges;
}

/** The part of a peer link a broadcast tree needs. */
export interface TreeTarget extends FloodTarget {
  /** True if the neighbour's latest welcome announced trees (`dissemination=tree`). */
  readonly tree: boolean;
}

/** What a broadcast tree reads of the record store (`RecordStore` has it). */
export interface TreeStore {
  /**
   * The stored line of a client (no terminator): its AT line, or its tombstone's ERASE line if
   * it was erased (what a GRAFT for it is answered with); `undefined` if none.
   */
  entryLine(clientId: WireText): WireText | undefined;
  /** Whether this AT line (no terminator, no mark) is exactly a stored record. */
  holds(atLine: WireText): boolean;
  /** The client time text of a client's stored record, or `undefined`. */
  time(clientId: WireText): WireText | undefined;
}

/** Options of {@linkcode BroadcastTree}. */
export interface BroadcastTreeOptions {
  /** Outgoing links by neighbour name (the member's map: links added later are seen). */
  links: ReadonlyMap<string, TreeTarget>;
  /** Every neighbour's name (herd.toml). */
  neighbours: ReadonlySet<string>;
  /**
   * The neighbours that start eager: this member's links in herd.toml's
   * {@linkcode spanningTree}. Others start lazy. @default every neighbour
   */
  treeNeighbours?: ReadonlySet<string>;
  /** The member's records, read only. */
  store: TreeStore;
  /** Timers for lazy pushes and grafts. */
  timers: TimerClock;
  /** How long ids are gathered before an IHAVE, ms. */
  lazyPushMs: number;
  /** How long an announced record may take to arrive before a GRAFT, ms. */
  graftTimeoutMs: number;
  /** Longest IHAVE or GRAFT line, bytes (the neighbours' peer line limit). */
  maxLineBytes: number;
  /** Event sink (`tree.prune`, `tree.graft`; debug). */
  log: EventLog;
}

/** What a tree has done so far. */
export interface TreeCounters {
  /** PRUNE lines sent. */
  prunesSent: number;
  /** PRUNE lines received. */
  prunesReceived: number;
  /** GRAFT lines sent. */
  graftsSent: number;
  /** GRAFT lines received. */
  graftsReceived: number;
  /** Ids announced in IHAVE lines sent. */
  announced: number;
  /** IHAVE lines sent. */
  announcements: number;
  /** First-hop copies relayed because the tree's copy did not come within graft_timeout_ms. */
  released: number;
}

/** A record announced to us that we do not hold yet. */
interface Missing {
  /** The newest announced client time, text and parsed. */
  timeText: WireText;
  time: ReturnType<typeof parseDecimal>;
  /** Who announced it, oldest first; the next graft goes to the first. */
  announcers: string[];
  /** When it was first announced, and when it is next due for a graft, `timers.nowMs()`. */
  sinceMs: number;
  dueMs: number;
}

/** How many lines (LF-terminated) a text holds. */
function lineCount(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/** A member's side of the epidemic broadcast tree. */
export class BroadcastTree {
  #opts: BroadcastTreeOptions;
  #eager = new Set<string>();
  #lazy = new Set<string>();
  /** Ids waiting for the next lazy push, by neighbour: [client id, client time text]. */
  #pending = new Map<string, Array<[WireText, WireText]>>();
  #pushTimer: TimerId | undefined;
  #missing = new Map<WireText, Missing>();
  #graftTimer: TimerId | undefined;
  /** How late, ms, the tree's copies have come after their announcements lately (decaying). */
  #lateMs = 0;
  #lateDecayedMs = 0;
  /** First-hop copies over links outside the tree, waiting for the tree's copy. */
  #held = new Map<
    WireText,
    { record: ClientRecord; line: WireText; sinceMs: number; dueMs: number }
  >();
  /** When each eager neighbour became eager, `timers.nowMs()`. */
  #eagerSinceMs = new Map<string, number>();
  /** How long a link that became eager is exempt from prunes, ms. */
  #pruneHoldOffMs: number;
  #holdTimer: TimerId | undefined;
  /** Counters, for metrics and tests. */
  readonly counters: TreeCounters = {
    prunesSent: 0,
    prunesReceived: 0,
    graftsSent: 0,
    graftsReceived: 0,
    announced: 0,
    announcements: 0,
    released: 0,
  };

  /**
   * Creates a tree with no eager or lazy neighbour yet (see {@linkcode BroadcastTree.linkUp}).
   *
   * @param opts See {@linkcode BroadcastTreeOptions}.
   */
  constructor(opts: BroadcastTreeOptions) {
    this.#opts = opts;
    this.#pruneHoldOffMs = PRUNE_HOLD_OFF_FACTOR * (opts.lazyPushMs + opts.graftTimeoutMs);
  }

  /** Neighbours pushed to eagerly (tree links), sorted. */
  get eager(): string[] {
    return [...this.#eager].sort();
  }

  /** Neighbours sent announcements only, sorted. */
  get lazy(): string[] {
    return [...this.#lazy].sort();
  }

  /** Records announced to us and not yet held. */
  get missing(): number {
    return this.#missing.size;
  }

  /**
   * Our link to `peer` was welcomed: a neighbour that announced trees starts
   * eager (Plumtree's NeighborUp); one that did not is flooded.
   *
   * @param peer The neighbour.
   * @param tree Whether its welcome announced trees.
   */
  linkUp(peer: string, tree: boolean): void {
    this.#lazy.delete(peer);
    this.#eager.delete(peer);
    if (!tree) return;
    const start = this.#opts.treeNeighbours;
    if (start === undefined || start.has(peer)) this.#makeEager(peer);
    else this.#lazy.add(peer);
  }

  /**
   * Hands a newly stored record on; the member calls it right after storing.
   *
   * @param record The record.
   * @param atLine Its AT line, no terminator, no mark.
   * @param from The neighbour it came from, or `null` for a client's (the first hop).
   * @param marked True if it came as an eager tree push (`AT ... tree`).
   * @returns How many links were handed an AT line.
   */
  relay(record: ClientRecord, atLine: WireText, from: string | null, marked: boolean): number {
    if (from === null) {
      // The first hop: every neighbour, before the reply.
      const plain = atLine + "\n";
      for (const link of this.#opts.links.values()) link.send(plain);
      return this.#opts.links.size;
    }
    // Only the tree's own copies tell how late the tree runs: a first-hop copy or a tree push.
    this.#arrived(record.clientId, record.clientTimeText, marked || from === record.origin);
    if (
      from === record.origin && !marked && !this.#eager.has(from) &&
      this.#opts.links.get(from)?.tree === true
    ) {
      // A first-hop copy over a link outside the tree: the tree brings the record here too,
      // and that copy tells which way the tree goes on. Relay then, or after a timeout.
      this.#hold(record, atLine);
      return 0;
    }
    if (marked && this.#opts.links.get(from)?.tree === true) this.#makeEager(from);
    // A first-hop copy or a tree push goes on along the tree; a repair stays unmarked.
    return this.#push(record, atLine, from, marked || from === record.origin);
  }

  /**
   * A record that was not newer arrived. If it is the tree's copy of a record
   * held since its first-hop copy, it is relayed now. Otherwise, if it came
   * by an eager tree push and is exactly the record we hold, the link made a
   * cycle: prune it (Plumtree), unless the record's origin is our neighbour,
   * whose first-hop copy is the reason we hold it already.
   *
   * @param record The record that arrived.
   * @param atLine Its AT line, no terminator, no mark.
   * @param from The neighbour that sent it.
   * @param marked True if it came as an eager tree push.
   */
  notNewer(record: ClientRecord, atLine: WireText, from: string, marked: boolean): void {
    if (marked) this.#copied(from, atLine, record.clientId, record.origin);
  }

  /**
   * An eager tree push (`AT ... tree`) of exactly the record held, recognised
   * without a parse (`RecordStore.holds()`): as {@linkcode BroadcastTree.notNewer}
   * for a marked copy, the origin and client id read from the line.
   *
   * @param from The neighbour that sent it.
   * @param atLine The AT line without its mark, no terminator.
   */
  copy(from: string, atLine: WireText): void {
    const origin = atLine.indexOf(" ", 3);
    const skew = atLine.indexOf(" ", origin + 1);
    const id = atLine.indexOf(" ", skew + 1);
    if (origin === -1 || skew === -1 || id === -1) return;
    this.#copied(from, atLine, atLine.slice(skew + 1, id), atLine.slice(3, origin));
  }

  #copied(from: string, atLine: WireText, clientId: WireText, origin: string): void {
    const held = this.#held.get(clientId);
    if (held !== undefined && held.line === atLine) {
      this.#held.delete(clientId);
      this.#late(held.sinceMs);
      if (this.#opts.links.get(from)?.tree === true) this.#makeEager(from);
      this.#push(held.record, atLine, from, true);
      return;
    }
    if (!this.#eager.has(from) || this.#opts.neighbours.has(origin)) return;
    if (!this.#opts.store.holds(atLine)) return; // an older record, not a copy
    // A link just grafted (or just up) carries the copies sent before the tree settled.
    const sinceMs = this.#eagerSinceMs.get(from) ?? -Infinity;
    if (this.#opts.timers.nowMs() - sinceMs < this.#pruneHoldOffMs) return;
    const link = this.#opts.links.get(from);
    if (link === undefined || !link.tree) return;
    this.#eager.delete(from);
    this.#lazy.add(from);
    link.send("PRUNE\n");
    this.counters.prunesSent++;
    this.#opts.log.emit("debug", "tree.prune", {
      peer: from,
      client: wireToDisplay(clientId),
      direction: "sent",
    });
  }

  /**
   * Pushes a record to every eager neighbour (and floods neighbours without
   * trees) and announces it to every lazy one, but to its sender and origin.
   */
  #push(record: ClientRecord, atLine: WireText, from: string, tree: boolean): number {
    const plain = atLine + "\n";
    const push = tree ? `${atLine} ${TREE_MARK}\n` : plain;
    const origin = record.origin;
    let n = 0;
    for (const [name, link] of this.#opts.links) {
      if (name === from || name === origin) continue;
      if (!link.tree) {
        link.send(plain);
        n++;
      } else if (this.#lazy.has(name)) {
        this.#announce(name, record.clientId, record.clientTimeText);
      } else {
        link.send(push);
        n++;
      }
    }
    return n;
  }

  /**
   * Holds a first-hop copy until the tree's copy comes, or relays it after the
   * graft wait ({@linkcode BroadcastTree.#graftWaitMs}: longer while the tree runs late).
   */
  #hold(record: ClientRecord, atLine: WireText): void {
    const now = this.#opts.timers.nowMs();
    this.#held.set(record.clientId, {
      record,
      line: atLine,
      sinceMs: now,
      dueMs: now + this.#graftWaitMs(now),
    });
    this.#holdTimer ??= this.#opts.timers.setTimeout(
      () => this.#releaseDue(),
      this.#opts.graftTimeoutMs,
    );
  }

  /** Relays the held first-hop copies whose tree copy did not come in time. */
  #releaseDue(): void {
    this.#holdTimer = undefined;
    const now = this.#opts.timers.nowMs();
    const wait = this.#graftWaitMs(now);
    let nextDue = Infinity;
    for (const [clientId, h] of this.#held) {
      if (h.dueMs > now || h.sinceMs + wait > now) {
        // Not yet, or the tree has been running later since this copy came.
        h.dueMs = Math.max(h.dueMs, h.sinceMs + wait);
        nextDue = Math.min(nextDue, h.dueMs);
        continue;
      }
      this.#held.delete(clientId);
      // A newer record of the client went its own way meanwhile.
      if (!this.#opts.store.holds(h.line)) continue;
      this.counters.released++;
      // No tree copy came: we are cut off from the origin's part of the tree. Join it by the
      // link the first hop came on (a graft of that link), then relay as the tree would.
      const origin = h.record.origin;
      const link = this.#opts.links.get(origin);
      if (link?.tree === true) {
        this.#makeEager(origin);
        link.send(formatTreeIds("GRAFT", [[clientId, h.record.clientTimeText]], Infinity));
        this.counters.graftsSent++;
      }
      this.#push(h.record, h.line, origin, true);
      for (const l of this.#opts.links.values()) l.flush();
    }
    if (nextDue !== Infinity) {
      this.#holdTimer = this.#opts.timers.setTimeout(() => this.#releaseDue(), nextDue - now);
    }
  }

  /**
   * A neighbour's IHAVE, GRAFT or PRUNE line.
   *
   * @param from The neighbour.
   * @param message The parsed line.
   */
  receive(from: string, message: TreeIdsMessage | PruneMessage): void {
    const link = this.#opts.links.get(from);
    if (link === undefined) return;
    switch (message.kind) {
      case "PRUNE":
        this.counters.prunesReceived++;
        if (link.tree) {
          this.#eager.delete(from);
          this.#lazy.add(from);
        }
        this.#opts.log.emit("debug", "tree.prune", { peer: from, direction: "received" });
        return;
      case "GRAFT": {
        this.counters.graftsReceived++;
        if (link.tree) this.#makeEager(from);
        let sent = 0;
        for (const id of message.ids) {
          const line = this.#opts.store.entryLine(id.clientId);
          if (line === undefined) continue;
          link.send(line + "\n");
          sent++;
        }
        if (sent > 0) link.flush();
        this.#opts.log.emit("debug", "tree.graft", {
          peer: from,
          direction: "received",
          clients: message.ids.length,
          sent,
        });
        return;
      }
      case "IHAVE":
        for (const id of message.ids) this.#announced(from, id);
    }
  }

  /**
   * Cancels every timer and forgets the tree (the member stopped); a member
   * started again builds it anew as its links are welcomed.
   */
  stop(): void {
    this.#eager.clear();
    this.#lazy.clear();
    this.#opts.timers.clearTimeout(this.#pushTimer);
    this.#pushTimer = undefined;
    this.#opts.timers.clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    this.#held.clear();
    this.#pending.clear();
    this.#opts.timers.clearTimeout(this.#graftTimer);
    this.#graftTimer = undefined;
    this.#missing.clear();
    this.#lateMs = 0;
  }

  #makeEager(peer: string): void {
    this.#lazy.delete(peer);
    if (this.#eager.has(peer)) return;
    this.#eager.add(peer);
    this.#eagerSinceMs.set(peer, this.#opts.timers.nowMs());
  }

  /** True if we hold the record `id` names, or a newer one of its client. */
  #holds(clientId: WireText, timeText: WireText, time: Missing["time"]): boolean {
    const held = this.#opts.store.time(clientId);
    if (held === undefined) return false;
    return held === timeText || compareDecimal(parseDecimal(held), time) >= 0;
  }

  /**
   * A record of `clientId` was stored: an announcement of it no longer needs a graft. How late
   * it came counts towards the graft wait only if it is the tree's copy (`tree`). A graft's
   * answer (or an anti-entropy answer, or a repair relayed unmarked) came as late as the graft
   * wait made it, and that wait is `graft_timeout_ms` plus twice the lateness counted: counting
   * it made each round of grafts wait twice as long as the one before (0.5, 1, 2, 4, 8, 16 s,
   * seen with a tree link cut under load), so a member cut off from its tree took longer and
   * longer to repair.
   */
  #arrived(clientId: WireText, timeText: WireText, tree: boolean): void {
    if (this.#missing.size === 0) return; // the usual case: not even a lookup
    const m = this.#missing.get(clientId);
    if (m === undefined) return;
    if (m.timeText !== timeText && compareDecimal(parseDecimal(timeText), m.time) < 0) return;
    this.#missing.delete(clientId);
    if (tree) this.#late(m.sinceMs);
  }

  /** The tree's copy of a record came now, after its announcement or first-hop copy at `sinceMs`. */
  #late(sinceMs: number): void {
    const lateMs = this.#opts.timers.nowMs() - sinceMs;
    if (lateMs > this.#lateMs) this.#lateMs = lateMs;
  }

  /**
   * How long to wait for a record after its announcement before a graft, ms:
   * `graft_timeout_ms`, plus twice how late the tree's copies have come after
   * their announcements lately (halved every second). Under load the tree's
   * copies queue behind one another while announcements overtake them, and
   * grafting each one would only fetch it twice and bend the tree.
   */
  #graftWaitMs(now: number): number {
    const since = now - this.#lateDecayedMs;
    if (since >= 1000) {
      this.#lateMs *= 0.5 ** Math.floor(since / 1000);
      this.#lateDecayedMs = now;
    }
    return this.#opts.graftTimeoutMs + 2 * this.#lateMs;
  }

  #announced(from: string, id: UpdateId): void {
    if (this.#holds(id.clientId, id.clientTimeText, id.clientTime)) return;
    const m = this.#missing.get(id.clientId);
    if (m !== undefined) {
      if (compareDecimal(id.clientTime, m.time) > 0) {
        m.time = id.clientTime;
        m.timeText = id.clientTimeText;
      }
      if (!m.announcers.includes(from)) m.announcers.push(from);
      return;
    }
    const now = this.#opts.timers.nowMs();
    this.#missing.set(id.clientId, {
      timeText: id.clientTimeText,
      time: id.clientTime,
      announcers: [from],
      sinceMs: now,
      dueMs: now + this.#graftWaitMs(now),
    });
    this.#graftTimer ??= this.#opts.timers.setTimeout(
      () => this.#graftDue(),
      this.#opts.graftTimeoutMs,
    );
  }

  /**
   * The graft timer fired: each announced record still missing whose wait is
   * over is asked of its next announcer, one GRAFT line per announcer.
   */
  #graftDue(): void {
    this.#graftTimer = undefined;
    const now = this.#opts.timers.nowMs();
    const wait = this.#graftWaitMs(now);
    const asks = new Map<string, Array<[WireText, WireText]>>();
    let nextDue = Infinity;
    for (const [clientId, m] of this.#missing) {
      if (m.dueMs > now || m.sinceMs + wait > now) {
        // Not yet, or the tree has been running later since this one was announced.
        m.dueMs = Math.max(m.dueMs, m.sinceMs + wait);
        nextDue = Math.min(nextDue, m.dueMs);
        continue;
      }
      if (this.#holds(clientId, m.timeText, m.time)) {
        this.#missing.delete(clientId);
        continue;
      }
      let peer: string | undefined;
      while (m.announcers.length > 0) {
        const next = m.announcers.shift()!;
        if (this.#opts.links.get(next)?.tree === true) {
          peer = next;
          break;
        }
      }
      if (peer === undefined) {
        this.#missing.delete(clientId); // anti-entropy is the safety net
        continue;
      }
      let ids = asks.get(peer);
      if (ids === undefined) asks.set(peer, ids = []);
      ids.push([clientId, m.timeText]);
      if (m.announcers.length === 0) {
        this.#missing.delete(clientId);
      } else {
        m.dueMs = now + this.#opts.graftTimeoutMs;
        nextDue = Math.min(nextDue, m.dueMs);
      }
    }
    for (const [peer, ids] of asks) {
      const link = this.#opts.links.get(peer)!;
      this.#makeEager(peer);
      const text = formatTreeIds("GRAFT", ids, this.#opts.maxLineBytes);
      link.send(text);
      link.flush();
      this.counters.graftsSent += lineCount(text);
      this.#opts.log.emit("debug", "tree.graft", {
        peer,
        direction: "sent",
        clients: ids.length,
      });
    }
    if (nextDue !== Infinity) {
      this.#graftTimer = this.#opts.timers.setTimeout(
        () => this.#graftDue(),
        Math.max(1, nextDue - now),
      );
    }
  }

  #announce(peer: string, clientId: WireText, timeText: WireText): void {
    let ids = this.#pending.get(peer);
    if (ids === undefined) this.#pending.set(peer, ids = []);
    ids.push([clientId, timeText]);
    this.#pushTimer ??= this.#opts.timers.setTimeout(() => this.#lazyPush(), this.#opts.lazyPushMs);
  }

  /** Sends every gathered id to its neighbour, as few IHAVE lines as fit. */
  #lazyPush(): void {
    this.#pushTimer = undefined;
    for (const [peer, ids] of this.#pending) {
      const link = this.#opts.links.get(peer);
      if (link === undefined || !link.tree) continue;
      const text = formatTreeIds("IHAVE", ids, this.#opts.maxLineBytes);
      link.send(text);
      link.flush();
      this.counters.announced += ids.length;
      this.counters.announcements += lineCount(text);
    }
    this.#pending.clear();
  }
}

/**
 * One session per connection, whichever side dialled (PROTOCOL.md sections 1
 * and 4): the only read loop of a member. Bytes in, frames
 * (protocol/framing.ts), one {@linkcode dispatch} per line, the outcome's
 * effects applied in order, replies out in request order.
 *
 * The replies to the lines of one read are gathered and written together:
 * every reply lies whole within one write, and a pipelining client costs one
 * write per read, not per line. Before any reply is written the session
 * flushes every neighbour link ({@linkcode SessionPort.flushLinks}), so the
 * floods the lines caused have their writes issued first.
 *
 * On a listener session (a connection accepted on our port) the session
 * writes its replies itself. On a dialler session (our link to a neighbour,
 * peer_link.ts) the link owns the socket's writes, because floods share it:
 * replies (anti-entropy answers) are handed to the link's writer.
 *
 * It reads with `read()` rather than a stream, because Deno's `readable`
 * closes the whole socket at EOF and a half-closed client must still get the
 * answers to everything it sent.
 *
 * @module
 */

import type { EventFields, EventLog } from "../log.ts";
import {
  bytesToWire,
  type Frame,
  LineSplitter,
  type PruneMessage,
  type StoreEntry,
  type TreeIdsMessage,
  type WireText,
  wireToBytes,
  wireToDisplay,
} from "../protocol/mod.ts";
import type { TextChunks } from "./anti_entropy.ts";
import { type Clock, sleepOn, type TimerClock } from "./clock.ts";
import {
  BLANK,
  dispatch,
  dispatchOverlong,
  type Effect,
  type ListenerKind,
  type MemberView,
  type Outcome,
  type Reply,
  type SessionRole,
  type SessionView,
} from "./dispatch.ts";
import { LineBucket } from "./limits.ts";
import { reason, WriteTimeout, writeWithin } from "./socket.ts";
import type { Conn } from "./transport.ts";

/** Read buffer per connection, bytes. Lines longer than this span reads; framing copes. */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * Longest a session handles reads back to back before it lets timers run, ms (real time):
 * short against keepalive's half timeout (2.5 s by default), long against one read's work.
 */
const TIMER_TURN_MS = 50;

/**
 * First read buffer of a listener session, bytes: most client connections
 * carry a line or two, and a fresh 64 KiB per connection costs more than the
 * line does. A read that fills it switches to {@linkcode READ_BUFFER_BYTES}.
 */
const FIRST_READ_BUFFER_BYTES = 2 * 1024;

/** Replies gathered past this many bytes are written without waiting for the chunk's end. */
const FLUSH_BYTES = 64 * 1024;

/** What a session changes in the member: the effects of its lines go through here. */
export interface SessionPort {
  /** What the dispatcher reads. */
  readonly view: MemberView;
  /** Wall clock, POSIX ns: when a read's bytes arrived (IAMAT skews). */
  readonly clock: Clock;
  /** Monotonic time and timers (write deadlines). */
  readonly timers: TimerClock;
  /** Event sink. */
  readonly log: EventLog;
  /**
   * Accepts a record or tombstone (accept.ts); true if it was newer and stored. `marked`: it
   * came as an eager push along a broadcast tree.
   */
  accept(record: StoreEntry, atLine: WireText, from: string | null, marked: boolean): boolean;
  /** A neighbour's broadcast-tree line (IHAVE, GRAFT, PRUNE; broadcast_tree.ts). */
  tree(from: string, message: TreeIdsMessage | PruneMessage): void;
  /** A neighbour's tree push of exactly the record held (AT line, unmarked, no terminator). */
  treeCopy(from: string, atLine: WireText): void;
  /** A neighbour's hello was accepted: our own link to it may redial now. */
  neighbourBack(name: string): void;
  /** Issues the writes of every link's queued floods (flood.ts). */
  flushLinks(): void;
  /** Counts anti-entropy answers. */
  synced(digests: number, bytes: number, records: number): void;
  /**
   * Bytes arrived from neighbour `peer` on any of its connections, at `nowMs` (`timers.nowMs()`):
   * a sign of life for both connections with it (keepalive). @default ignored
   */
  heard?(peer: string, nowMs: number): void;
  /**
   * When bytes last arrived from neighbour `peer` on any of its connections, `timers.nowMs()`.
   *
   * @returns The time, or `undefined` if never (or not tracked).
   */
  lastHeard?(peer: string): number | undefined;
}

/** What the member needs to know about a session it may have to close. */
export interface SessionActivity {
  /** When bytes last arrived or a reply was last written, `timers.nowMs()`. */
  lastActiveMs: number;
  /** When bytes last arrived, `timers.nowMs()`: a neighbour's sign of life (keepalive). */
  heardMs: number;
  /**
   * Listener sessions: how long the neighbour may stay silent before its connection is dropped,
   * ms, as its hello announced (`keepalive=`); 0 for a client, or a neighbour that does not ping.
   */
  keepaliveMs: number;
  /** True while a chunk's lines are being handled or replied to. */
  busy: boolean;
  /** True once the session is a neighbour's (exempt from the idle timeout). */
  peer: boolean;
  /** The neighbour's name, once the session is a neighbour's. */
  peerName?: string;
  /** Set by the member when stopping: finish the lines read so far, then close. */
  draining: boolean;
  /** Why the member closed the connection (e.g. idle), for the `conn.close` event. */
  closeReason?: string;
}

/**
 * The activity of a session just opened: heard from now, idle, not draining.
 *
 * @param nowMs `timers.nowMs()`.
 * @param peer True for a neighbour's session from the start (our own link's).
 * @returns A new activity record.
 */
export function freshActivity(nowMs: number, peer: boolean): SessionActivity {
  return {
    lastActiveMs: nowMs,
    heardMs: nowMs,
    keepaliveMs: 0,
    busy: false,
    peer,
    draining: false,
  };
}

/** Options of {@linkcode runSession}. */
export interface SessionOptions {
  /** Connection id for logs, unique per member. */
  id: number;
  /** Which side we are. */
  role: SessionRole;
  /** Dialler sessions: the neighbour dialled. */
  peer?: string;
  /** Listener sessions: which listener accepted the connection. @default "shared" */
  listener?: ListenerKind;
  /**
   * Listener sessions admitted on probation (limits.ts): the first line must be an accepted
   * hello, or the session ends without a reply to it (`reason`: this text). @default none
   */
  probation?: string;
  /**
   * Listener sessions: most lines a second while the connection is no neighbour's; lines past
   * it wait, in order, with the socket unread meanwhile (limits.ts `LineBucket`). 0: no cap.
   * @default 0
   */
  maxLinesPerS?: number;
  /** Longest client line kept, bytes (PROTOCOL.md section 1). */
  maxLineBytes: number;
  /**
   * Longest line kept once the session is a neighbour's, bytes. An AT line
   * is longer than the IAMAT it carries (origin name and skew are added), so
   * a neighbour's limit must exceed the clients'. Dialler sessions use it from the start.
   */
  peerLineBytes: number;
  /** Longest a reply write may wait for the other side to read, ms; then the connection closes. */
  writeTimeoutMs: number;
  /** Shared with the member (idle sweep, drain on stop). @default a private one */
  activity?: SessionActivity;
  /**
   * Dialler sessions: where replies go (the link's writer), with the chunks of a large
   * anti-entropy answer to build as they are written (each chunk logged and counted as it is
   * built). @default written by the session
   */
  output?: (wire: WireText, rest?: TextChunks) => void;
  /**
   * Dialler sessions: called once the neighbour's welcome is verified, with whether it
   * announced epidemic broadcast trees and whether it answers keepalive pings.
   */
  onWelcomed?: (tree: boolean, keepalive: boolean) => void;
}

/** How a session ended. */
export interface SessionEnd {
  /** Why, for logs: `closed by client`, `welcome rejected: ...`, an error. */
  reason: string;
  /** Dialler sessions: the neighbour refused our hello (back off as after a failed dial). */
  refused: boolean;
  /** The member closed the connection under the session (stop, idle sweep). */
  closedByMember: boolean;
  /** A limit closed it (idle, a write that timed out): worth an info line. */
  enforced: boolean;
  /** The neighbour whose session it was, or `null` for a client's. */
  peer: string | null;
}

/** A session's own state, what the dispatcher reads of it. */
interface State extends SessionView {
  lines: number;
  peer: string | null;
  welcomed: boolean;
}

/** Where a line from another face (HTTP) came from, for the log and the dispatcher. */
export interface LineSource {
  /** Request id, unique per member among those of its face, for logs (`conn` field). */
  readonly id: number;
  /** `host:port` of the client. */
  readonly remote: string;
  /** IP address of the client. */
  readonly remoteHost: string;
  /** The face, e.g. `http` (the `via` field of `msg.in` and `reply.out`). */
  readonly via: string;
}

/** What {@linkcode serveLine} did with a line. */
export interface LineResult {
  /** The reply a TCP client would have read, or `null` (a blank line). */
  readonly reply: Reply | null;
  /** True if the line stored a record (an IAMAT newer than the one held). */
  readonly stored: boolean;
  /**
   * True if the line's record was refused as expired: its client time is older than now minus
   * `record_ttl_s` (the reply is still its AT line). @default false
   */
  readonly expired?: boolean;
}

/**
 * Serves one client line that arrived by another face than TCP (the HTTP
 * API), exactly as a client's line on a TCP connection: logged as `msg.in`,
 * dispatched as on a client's listener session, its effects applied (a
 * record accepted, stored, persisted, disseminated), the links flushed, then
 * its reply logged as `reply.out`. Both events carry `via`. The caller sends
 * the reply in its own format.
 *
 * @param port The member.
 * @param source Who sent it.
 * @param line The line, wire text, no terminator.
 * @returns The reply and whether a record was stored.
 */
export async function serveLine(
  port: SessionPort,
  source: LineSource,
  line: WireText,
): Promise<LineResult> {
  const receivedNs = port.clock();
  const { log } = port;
  const session: SessionView = {
    id: source.id,
    remote: source.remote,
    remoteHost: source.remoteHost,
    role: "listener",
    lines: 0,
    peer: null,
    welcomed: false,
  };
  log.emit("info", "msg.in", {
    conn: source.id,
    remote: source.remote,
    via: source.via,
    line: wireToDisplay(line),
  });
  const outcome = await dispatch(line, session, port.view, receivedNs);
  let stored = false;
  let expired = false;
  for (const effect of outcome.effects) {
    // A client's line leads to records and log events only: a hello (`peer`) is not a
    // client's line here, and the other effects belong to neighbours' sessions.
    if (effect.kind === "accept") {
      stored = port.accept(effect.record, effect.line, effect.from, effect.tree);
      if (stored) {
        log.emit("debug", "record.stored", {
          conn: source.id,
          via: source.via,
          client: wireToDisplay(effect.record.clientId),
        });
      }
    } else if (effect.kind === "refused") {
      expired = true;
      log.emit("info", "record.refused", {
        conn: source.id,
        via: source.via,
        reason: effect.reason,
        client: wireToDisplay(effect.clientId),
      });
    } else if (effect.kind === "event") log.emit(effect.level, effect.event, effect.fields);
  }
  port.flushLinks();
  const reply = outcome.reply;
  if (reply !== null) {
    log.emit("info", "reply.out", {
      conn: source.id,
      remote: source.remote,
      via: source.via,
      reply: reply.text,
      reason: reply.reason,
    });
  }
  return { reply, stored, expired };
}

/**
 * Serves one connection until the other side closes it (a listener session
 * then writes every pending reply), the dispatcher ends it (a dialler
 * session whose welcome fails), or it fails. Never throws; does not close
 * `conn` (its owner does).
 *
 * @param conn The connection.
 * @param port The member, as the session changes it.
 * @param opts Role, id and limits.
 * @returns How it ended.
 */
export async function runSession(
  conn: Conn,
  port: SessionPort,
  opts: SessionOptions,
): Promise<SessionEnd> {
  const remote = `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`;
  const dialler = opts.role === "dialler";
  const state: State = {
    id: opts.id,
    remote,
    remoteHost: conn.remoteAddr.hostname,
    role: opts.role,
    lines: 0,
    peer: dialler ? opts.peer ?? null : null,
    welcomed: false,
    // On probation, a connection is held to a peer port's rule: a hello first, or it ends.
    listener: opts.probation !== undefined ? "peer" : opts.listener,
  };
  const activity = opts.activity ?? freshActivity(port.timers.nowMs(), dialler);
  const log = port.log;
  const splitter = new LineSplitter(dialler ? opts.peerLineBytes : opts.maxLineBytes);
  let buf = new Uint8Array(dialler ? READ_BUFFER_BYTES : FIRST_READ_BUFFER_BYTES);
  const end: SessionEnd = {
    reason: dialler ? "closed by neighbour" : "closed by client",
    refused: false,
    closedByMember: false,
    enforced: false,
    peer: null,
  };
  let ended = false;

  // Replies of synchronously handled lines wait here, so that one write carries
  // every reply of a chunk (each reply still whole within one write).
  const pending: Reply[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    logBatch();
    // The floods these replies' lines caused go first (flood.ts).
    port.flushLinks();
    if (pending.length === 0) return;
    const batch = pending.splice(0);
    pendingBytes = 0;
    if (opts.output !== undefined) {
      for (const reply of batch) {
        opts.output(reply.wire, reply.rest === undefined ? undefined : logged(reply.rest));
      }
    } else {
      // A reply with chunks to follow ends a write; its chunks are written one by one after it.
      let from = 0;
      for (let i = 0; i < batch.length; i++) {
        const rest = batch[i].rest;
        if (rest === undefined) continue;
        await writeWithin(
          conn,
          joinReplies(batch.slice(from, i + 1)),
          opts.writeTimeoutMs,
          port.timers,
        );
        from = i + 1;
        const chunks = logged(rest);
        for (let c = chunks.next(); c !== null; c = chunks.next()) {
          await writeWithin(conn, wireToBytes(c.text), opts.writeTimeoutMs, port.timers);
        }
      }
      if (from < batch.length) {
        await writeWithin(conn, joinReplies(batch.slice(from)), opts.writeTimeoutMs, port.timers);
      }
    }
    activity.lastActiveMs = port.timers.nowMs();
    // One event for the replies of one write (`reply`, or `replies` for several), and one of
    // its own for each `? ` reply, with its `reason`; in the order written.
    let run: string[] = [];
    const logRun = () => {
      if (run.length === 0) return;
      log.emit("info", "reply.out", {
        conn: state.id,
        remote,
        ...oneOrAll("reply", "replies", run),
      });
      run = [];
    };
    for (const reply of batch) {
      if (reply.reason === undefined) {
        // A large anti-entropy answer may have nothing before its chunks (logged as built).
        if (reply.text !== "") run.push(reply.text);
        continue;
      }
      logRun();
      log.emit("info", "reply.out", {
        conn: state.id,
        remote,
        reply: reply.text,
        reason: reply.reason,
      });
    }
    logRun();
  };

  // The chunks of a large anti-entropy answer, each logged as a `reply.out` and counted as it is
  // built (its first line went out as a reply of its own).
  const logged = (rest: TextChunks): TextChunks => ({
    next() {
      const chunk = rest.next();
      if (chunk !== null && chunk.text !== "") {
        port.synced(0, chunk.text.length, chunk.records);
        log.emit("info", "reply.out", { conn: state.id, remote, reply: wireToDisplay(chunk.text) });
      }
      return chunk;
    },
  });

  // The lines of the read being handled, logged as one `msg.in`, the clients whose records they
  // stored, as one `record.stored`, and those refused as expired, as one `record.refused`
  // (PROTOCOL.md section 5): an event per read, not per line.
  let linesIn: string[] = [];
  let storedIn: string[] = [];
  let expiredIn: string[] = [];
  const logBatch = (): void => {
    if (linesIn.length > 0) {
      const lines = linesIn;
      linesIn = [];
      log.emit("info", "msg.in", {
        conn: state.id,
        remote,
        peer: state.peer ?? undefined,
        ...oneOrAll("line", "lines", lines),
      });
    }
    if (storedIn.length > 0) {
      const clients = storedIn;
      storedIn = [];
      log.emit("debug", "record.stored", {
        conn: state.id,
        peer: state.peer ?? undefined,
        ...oneOrAll("client", "clients", clients),
      });
    }
    if (expiredIn.length > 0) {
      const clients = expiredIn;
      expiredIn = [];
      log.emit("info", "record.refused", {
        conn: state.id,
        peer: state.peer ?? undefined,
        reason: "expired",
        ...oneOrAll("client", "clients", clients),
      });
    }
  };

  const apply = (effect: Effect): void => {
    switch (effect.kind) {
      case "accept":
        if (port.accept(effect.record, effect.line, effect.from, effect.tree)) {
          storedIn.push(wireToDisplay(effect.record.clientId));
        }
        return;
      case "refused":
        expiredIn.push(wireToDisplay(effect.clientId));
        return;
      case "tree":
        port.tree(effect.from, effect.message);
        return;
      case "copy":
        port.treeCopy(effect.from, effect.line);
        return;
      case "peer":
        state.peer = effect.name;
        splitter.setMaxLineBytes(opts.peerLineBytes);
        activity.peer = true;
        activity.peerName = effect.name;
        activity.keepaliveMs = effect.keepaliveMs;
        port.neighbourBack(effect.name);
        return;
      case "welcomed":
        state.welcomed = true;
        opts.onWelcomed?.(effect.tree, effect.keepalive);
        return;
      case "end":
        ended = true;
        end.reason = effect.reason;
        end.refused = effect.refused;
        return;
      case "synced":
        port.synced(effect.digests, effect.bytes, effect.records);
        return;
      case "event":
        // After the msg.in of the line it is about.
        logBatch();
        log.emit(effect.level, effect.event, effect.fields);
    }
  };
  // Synchronous unless the pending replies reached FLUSH_BYTES and are being written.
  const settle = (outcome: Outcome): void | Promise<void> => {
    for (const effect of outcome.effects) apply(effect);
    // A connection on probation that did not become a neighbour's goes without a word.
    if (ended && opts.probation !== undefined && state.peer === null) {
      end.reason = opts.probation;
      end.enforced = true;
      return;
    }
    const reply = outcome.reply;
    if (reply === null) return;
    pending.push(reply);
    pendingBytes += reply.wire.length;
    if (pendingBytes >= FLUSH_BYTES) return flush();
  };
  // WHATSAT, a hello or a welcome: earlier replies go first, and this one as soon as it is ready.
  const settleLater = async (later: Promise<Outcome>): Promise<void> => {
    await flush();
    await settle(await later);
    return flush();
  };

  // Handles one frame; `receivedNs` is when its bytes were read (the skew's clock).
  const serveFrame = (frame: Frame, receivedNs: bigint): void | Promise<void> => {
    const wire = frame.kind === "line" ? frame.text : frame.head;
    if (frame.kind === "line") {
      linesIn.push(wireToDisplay(wire));
    } else {
      logBatch();
      log.emit("info", "msg.in", {
        conn: state.id,
        remote,
        peer: state.peer ?? undefined,
        line: wireToDisplay(wire),
        overlong: true,
      });
    }
    const outcome = frame.kind === "line"
      ? dispatch(wire, state, port.view, receivedNs)
      : dispatchOverlong(wire, state, splitter.maxLineBytes);
    if (outcome === BLANK) return;
    state.lines++;
    return outcome instanceof Promise ? settleLater(outcome) : settle(outcome);
  };

  // Lines a second, for a client (neighbours are exempt: activity.peer).
  const rate = dialler ? 0 : opts.maxLinesPerS ?? 0;
  const bucket = rate > 0 ? new LineBucket(rate, port.timers.nowMs()) : null;
  let throttled = false;
  // Waits until the bucket lets the next line go; false if the member is stopping meanwhile.
  const paced = async (): Promise<boolean> => {
    if (bucket === null || activity.peer) return true;
    const now = port.timers.nowMs();
    // A second within the rate ends an episode: the next excess is logged again.
    if (throttled && bucket.full(now)) throttled = false;
    let waitMs = bucket.take(now);
    if (waitMs === 0) return true;
    // What was answered so far goes out before the pause, in order.
    await flush();
    if (!throttled) {
      throttled = true;
      log.emit("warning", "conn.throttled", { conn: state.id, remote, limit: rate });
    }
    while (waitMs > 0) {
      await sleepOn(port.timers, waitMs);
      if (activity.draining) return false;
      waitMs = bucket.take(port.timers.nowMs());
    }
    return true;
  };

  let turnStartMs = performance.now();
  try {
    conn.setNoDelay?.(true);
    while (!activity.draining && !ended) {
      const n = await conn.read(buf);
      const receivedNs = port.clock();
      const nowMs = activity.lastActiveMs = activity.heardMs = port.timers.nowMs();
      if (state.peer !== null) port.heard?.(state.peer, nowMs);
      activity.busy = true;
      if (n === null) {
        for (const frame of splitter.end()) await serveFrame(frame, receivedNs);
        await flush();
        break;
      }
      splitter.feed(bytesToWire(buf.subarray(0, n)));
      for (let f = splitter.next(); f !== null && !ended; f = splitter.next()) {
        if (bucket !== null && !(await paced())) break;
        const served = serveFrame(f, receivedNs);
        if (served !== undefined) await served;
      }
      await flush();
      activity.busy = false;
      if (n === buf.length && buf.length < READ_BUFFER_BYTES) {
        buf = new Uint8Array(READ_BUFFER_BYTES);
      }
      // Reads that find their bytes waiting complete without giving timers a turn: a member
      // taking a large repair (each record written to data_dir) would otherwise let its
      // keepalive pings, and every other timer, wait for seconds.
      if (performance.now() - turnStartMs > TIMER_TURN_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        turnStartMs = performance.now();
      }
    }
    if (activity.draining && !ended) {
      // The member's stop ended it between reads (not under a pending one): the same as a close.
      end.reason = "member stopping";
      end.closedByMember = true;
    }
  } catch (e) {
    // Member.stop(), a link's stop() or the idle sweep closes the socket under a pending read
    // or write.
    end.closedByMember = e instanceof Deno.errors.Interrupted ||
      e instanceof Deno.errors.BadResource;
    end.reason = activity.closeReason ??
      (end.closedByMember ? (dialler ? "link stopping" : "member stopping") : reason(e));
    // A client cut off for not reading or for idling is worth seeing in the log.
    if (activity.closeReason !== undefined || e instanceof WriteTimeout) end.enforced = true;
  } finally {
    activity.busy = false;
  }
  end.peer = state.peer;
  return end;
}

/**
 * The field of a batch in a log event: `{[one]: item}` for a single item (the form of one line,
 * reply or client), `{[all]: items}` for several.
 */
function oneOrAll(one: string, all: string, items: string[]): EventFields {
  return items.length === 1 ? { [one]: items[0] } : { [all]: items };
}

/** The bytes of replies, joined: one conversion and one buffer per write. */
function joinReplies(replies: Reply[]): Uint8Array {
  if (replies.length === 1) return wireToBytes(replies[0].wire);
  let wire = "";
  for (const r of replies) wire += r.wire;
  return wireToBytes(wire);
}

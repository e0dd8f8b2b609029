/**
 * The connection loop: bytes in, frames, one handler call per line, replies
 * out in request order (PROTOCOL.md section 1). The replies to the lines of
 * one read are gathered and written together: every reply lies whole within
 * one write, and a pipelining client costs one write per read, not per line.
 *
 * It reads with `conn.read()` rather than `conn.readable`, because the stream
 * closes the whole socket at EOF and a half-closed client must still get the
 * answers to everything it sent.
 *
 * @module
 */

import {
  bytesToWire,
  type Frame,
  LineSplitter,
  wireToBytes,
  wireToDisplay,
} from "../protocol/mod.ts";
import {
  handleLine,
  invalidReply,
  type MemberContext,
  type Reply,
  type Session,
} from "./handler.ts";
import { closeQuietly, reason, WriteTimeout, writeWithin } from "./socket.ts";

/** Read buffer per connection, bytes. Lines longer than this span reads; framing copes. */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * First read buffer of a connection, bytes: most connections carry a line or
 * two, and a fresh 64 KiB per connection costs more than the line does. A
 * read that fills it switches the connection to {@linkcode READ_BUFFER_BYTES}.
 */
const FIRST_READ_BUFFER_BYTES = 2 * 1024;

/** Replies gathered past this many bytes are written without waiting for the chunk's end. */
const FLUSH_BYTES = 64 * 1024;

/** The bytes of replies, joined: one conversion and one buffer per write. */
function joinReplies(replies: Reply[]): Uint8Array {
  if (replies.length === 1) return wireToBytes(replies[0].wire);
  let wire = "";
  for (const r of replies) wire += r.wire;
  return wireToBytes(wire);
}

/** Options of {@linkcode serveConnection}. */
export interface ConnectionOptions {
  /** Connection id for logs. */
  id: number;
  /** Longest client line kept, bytes (PROTOCOL.md section 1). */
  maxLineBytes: number;
  /**
   * Longest line kept once the connection is a neighbour's, bytes. An AT line
   * is longer than the IAMAT it carries (origin name and skew are added), so
   * a neighbour's limit must exceed the clients' or valid updates are lost.
   */
  peerLineBytes: number;
  /** Longest a reply write may wait for the other side to read, ms; then the connection closes. */
  writeTimeoutMs: number;
  /** Shared with the member: activity, for the idle sweep and the drain on stop. */
  activity: ConnectionActivity;
}

/** What the member needs to know about a connection it may have to close. */
export interface ConnectionActivity {
  /** When bytes last arrived or a reply was last written, `performance.now()` ms. */
  lastActiveMs: number;
  /** True while a chunk's lines are being handled or replied to. */
  busy: boolean;
  /** True once the connection is a neighbour's (exempt from the idle timeout). */
  peer: boolean;
  /** Set by the member when stopping: finish the lines read so far, then close. */
  draining: boolean;
  /** Why the member closed the connection (e.g. idle), for the `conn.close` event. */
  closeReason?: string;
}

/**
 * Serves one accepted connection until the other side closes it (after which
 * every pending reply is written, then the socket closed) or it fails.
 * Never throws; closes `conn` before resolving.
 *
 * @param conn The accepted connection.
 * @param ctx The member.
 * @param opts Connection id and limits.
 */
export async function serveConnection(
  conn: Deno.TcpConn,
  ctx: MemberContext,
  opts: ConnectionOptions,
): Promise<void> {
  const remote = `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`;
  const session: Session = {
    id: opts.id,
    remote,
    remoteHost: conn.remoteAddr.hostname,
    lines: 0,
    peer: null,
  };
  const activity = opts.activity;
  const splitter = new LineSplitter(opts.maxLineBytes);
  let buf = new Uint8Array(FIRST_READ_BUFFER_BYTES);
  ctx.log.emit("debug", "conn.open", { conn: session.id, remote });
  let why = "closed by client";
  let closedByMember = false;
  let enforced = false;

  // Replies of synchronously handled lines wait here, so that one write carries
  // every reply of a chunk (each reply still whole within one write).
  const pending: Reply[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const batch = pending.splice(0);
    const bytes = joinReplies(batch);
    pendingBytes = 0;
    await writeWithin(conn, bytes, opts.writeTimeoutMs);
    activity.lastActiveMs = performance.now();
    for (const reply of batch) {
      ctx.log.emit("info", "reply.out", { conn: session.id, remote, reply: reply.text });
    }
  };
  // Synchronous unless the pending replies reached FLUSH_BYTES and are being written.
  const queue = (reply: Reply | null): void | Promise<void> => {
    if (session.peer !== null && splitter.maxLineBytes !== opts.peerLineBytes) {
      splitter.setMaxLineBytes(opts.peerLineBytes);
      activity.peer = true;
    }
    if (reply === null) return;
    pending.push(reply);
    pendingBytes += reply.wire.length;
    if (pendingBytes >= FLUSH_BYTES) return flush();
  };

  // Handles one frame; `receivedNs` is when its bytes were read (the skew's clock).
  // Synchronous for everything but WHATSAT, hellos and a flush, so that a
  // chunk of IAMAT or AT lines costs no promise per line.
  const serveFrame = (frame: Frame, receivedNs: bigint): void | Promise<void> => {
    const wire = bytesToWire(frame.kind === "line" ? frame.bytes : frame.head);
    ctx.log.emit("info", "msg.in", {
      conn: session.id,
      remote,
      peer: session.peer ?? undefined,
      line: wireToDisplay(wire),
      overlong: frame.kind === "overlong" ? true : undefined,
    });
    if (frame.kind === "line") {
      const result = handleLine(wire, session, ctx, receivedNs);
      if (!(result instanceof Promise)) return queue(result);
      return serveLater(result);
    }
    if (session.peer !== null) {
      ctx.log.emit("warning", "peer.invalid", {
        peer: session.peer,
        conn: session.id,
        remote,
        reason: `line over ${splitter.maxLineBytes} bytes`,
      });
      return;
    }
    session.lines++;
    return queue(invalidReply(wire));
  };
  // WHATSAT or a hello: earlier replies go first, and this one as soon as it is ready.
  const serveLater = async (result: Promise<Reply>): Promise<void> => {
    await flush();
    await queue(await result);
    return flush();
  };
  // Before the replies of a chunk are written, one microtask turn lets the
  // peer links issue the writes of the floods the chunk caused (they batch
  // them per chunk, see peer_link.ts), so updates leave before their replies.
  const flushChunk = async (): Promise<void> => {
    await null;
    return flush();
  };

  try {
    conn.setNoDelay(true);
    while (!activity.draining) {
      const n = await conn.read(buf);
      const receivedNs = ctx.clock();
      activity.lastActiveMs = performance.now();
      activity.busy = true;
      if (n === null) {
        for (const frame of splitter.end()) await serveFrame(frame, receivedNs);
        await flushChunk();
        break;
      }
      splitter.feed(buf.subarray(0, n));
      for (let f = splitter.next(); f !== null; f = splitter.next()) {
        const served = serveFrame(f, receivedNs);
        if (served !== undefined) await served;
      }
      await flushChunk();
      activity.busy = false;
      if (n === buf.length && buf.length < READ_BUFFER_BYTES) {
        buf = new Uint8Array(READ_BUFFER_BYTES);
      }
    }
    if (activity.draining) why = "member stopping";
  } catch (e) {
    // Member.stop() or the idle sweep closes the socket under a pending read or write.
    closedByMember = e instanceof Deno.errors.Interrupted || e instanceof Deno.errors.BadResource;
    why = activity.closeReason ?? (closedByMember ? "member stopping" : reason(e));
    // A client cut off for not reading or for idling is worth seeing in the log.
    if (activity.closeReason !== undefined || e instanceof WriteTimeout) enforced = true;
  } finally {
    activity.busy = false;
    closeQuietly(conn);
  }
  const level = enforced ? "info" : session.peer === null || closedByMember ? "debug" : "warning";
  ctx.log.emit(level, "conn.close", {
    conn: session.id,
    remote,
    peer: session.peer ?? undefined,
    reason: why,
  });
}

/**
 * The connection loop: bytes in, frames, one handler call per line, replies
 * out in request order, one write per reply (PROTOCOL.md section 1).
 *
 * It reads with `conn.read()` rather than `conn.readable`, because the stream
 * closes the whole socket at EOF and a half-closed client must still get the
 * answers to everything it sent.
 *
 * @module
 */

import { bytesToWire, type Frame, LineSplitter, wireToDisplay } from "../protocol/mod.ts";
import {
  handleLine,
  invalidReply,
  type MemberContext,
  type Reply,
  type Session,
} from "./handler.ts";
import { closeQuietly, reason, writeAll } from "./socket.ts";

/** Read buffer per connection, bytes. Lines longer than this span reads; framing copes. */
const READ_BUFFER_BYTES = 64 * 1024;

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
  const session: Session = { id: opts.id, remote, lines: 0, peer: null };
  const splitter = new LineSplitter(opts.maxLineBytes);
  const buf = new Uint8Array(READ_BUFFER_BYTES);
  ctx.log.emit("debug", "conn.open", { conn: session.id, remote });
  let why = "closed by client";
  let closedByMember = false;

  // Handles one frame; `receivedNs` is when its bytes were read (the skew's clock).
  const serveFrame = async (frame: Frame, receivedNs: bigint): Promise<void> => {
    const wire = bytesToWire(frame.kind === "line" ? frame.bytes : frame.head);
    ctx.log.emit("info", "msg.in", {
      conn: session.id,
      remote,
      peer: session.peer ?? undefined,
      line: wireToDisplay(wire),
      overlong: frame.kind === "overlong" ? true : undefined,
    });
    let reply: Reply | null;
    if (frame.kind === "line") {
      reply = await handleLine(wire, session, ctx, receivedNs);
    } else if (session.peer !== null) {
      ctx.log.emit("warning", "peer.invalid", {
        peer: session.peer,
        conn: session.id,
        remote,
        reason: `line over ${splitter.maxLineBytes} bytes`,
      });
      reply = null;
    } else {
      session.lines++;
      reply = invalidReply(wire);
    }
    if (session.peer !== null && splitter.maxLineBytes !== opts.peerLineBytes) {
      splitter.setMaxLineBytes(opts.peerLineBytes);
    }
    if (reply === null) return;
    await writeAll(conn, reply.bytes);
    ctx.log.emit("info", "reply.out", { conn: session.id, remote, reply: reply.text });
  };

  try {
    conn.setNoDelay(true);
    while (true) {
      const n = await conn.read(buf);
      const receivedNs = ctx.clock();
      if (n === null) {
        for (const frame of splitter.end()) await serveFrame(frame, receivedNs);
        break;
      }
      splitter.feed(buf.subarray(0, n));
      for (let f = splitter.next(); f !== null; f = splitter.next()) {
        await serveFrame(f, receivedNs);
      }
    }
  } catch (e) {
    // Member.stop() closes the socket under a pending read or write.
    closedByMember = e instanceof Deno.errors.Interrupted || e instanceof Deno.errors.BadResource;
    why = closedByMember ? "member stopping" : reason(e);
  } finally {
    closeQuietly(conn);
  }
  ctx.log.emit(session.peer === null || closedByMember ? "debug" : "warning", "conn.close", {
    conn: session.id,
    remote,
    peer: session.peer ?? undefined,
    reason: why,
  });
}

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

import { bytesToWire, LineSplitter, wireToDisplay } from "../protocol/mod.ts";
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
  /** Longest line kept, bytes (PROTOCOL.md section 1). */
  maxLineBytes: number;
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
  try {
    conn.setNoDelay(true);
    while (true) {
      const n = await conn.read(buf);
      const frames = n === null ? splitter.end() : splitter.push(buf.subarray(0, n));
      for (const frame of frames) {
        let reply: Reply | null;
        const wire = bytesToWire(frame.kind === "line" ? frame.bytes : frame.head);
        ctx.log.emit("info", "msg.in", {
          conn: session.id,
          remote,
          peer: session.peer ?? undefined,
          line: wireToDisplay(wire),
          overlong: frame.kind === "overlong" ? true : undefined,
        });
        if (frame.kind === "overlong") {
          session.lines++;
          reply = invalidReply(wire);
        } else {
          reply = await handleLine(wire, session, ctx);
        }
        if (reply === null) continue;
        await writeAll(conn, reply.bytes);
        ctx.log.emit("info", "reply.out", { conn: session.id, remote, reply: reply.text });
      }
      if (n === null) break;
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

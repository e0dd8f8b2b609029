/**
 * `herd send <host:port> <message...>`: one message to any server speaking
 * the protocol, the way test harnesses do it: send the line, half-close,
 * print the reply as received, exit 0 (reply), 1 (`? ` reply) or 2
 * (connection error or timeout).
 *
 * @module
 */

import { closeQuietly, writeAll } from "../herd/socket.ts";
import { parseHostPort, UserError } from "./args.ts";

/** Options of {@linkcode send}. */
export interface SendOptions {
  /** Give up after this long, ms (connect + reply). @default 5000 */
  timeoutMs: number;
  /** Where the reply goes. @default Deno.stdout */
  out?: { write(p: Uint8Array): Promise<number> };
}

/**
 * One request the way test harnesses make it: connect, write `text`,
 * half-close, and hand every chunk of the reply to `onData` until EOF.
 *
 * @param addr The server.
 * @param text The bytes to send, as UTF-8 (terminators included).
 * @param timeoutMs Give up after this long, ms, counted from the connect.
 * @param onData Called with each chunk of the reply, in order (the chunk is reused afterwards).
 * @throws {UserError} (exit 2) On connection failure or timeout.
 */
export async function request(
  addr: { hostname: string; port: number },
  text: string,
  timeoutMs: number,
  onData: (chunk: Uint8Array) => void | Promise<void>,
): Promise<void> {
  const target = `${addr.hostname}:${addr.port}`;
  const signal = AbortSignal.timeout(timeoutMs);
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: addr.hostname, port: addr.port, signal });
  } catch (e) {
    const why = signal.aborted ? `timed out after ${timeoutMs} ms` : (e as Error).message;
    throw new UserError(`cannot connect to ${target}: ${why}`);
  }
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    await writeAll(conn, new TextEncoder().encode(text));
    await conn.closeWrite();
    const buf = new Uint8Array(65536);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      await onData(buf.subarray(0, n));
    }
  } catch (e) {
    throw new UserError(
      signal.aborted
        ? `no complete reply from ${target} within ${timeoutMs} ms`
        : `connection to ${target} failed: ${(e as Error).message}`,
    );
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
}

/**
 * Sends one message and copies the reply to `out` as it arrives.
 *
 * @param target `host:port`.
 * @param words The message's fields, joined by single spaces; a LF is added.
 * @param opts Timeout and output.
 * @returns The exit code: 0, or 1 when the reply starts with `? `.
 * @throws {UserError} (exit 2) On a bad address, connection failure or timeout.
 */
export async function send(target: string, words: string[], opts: SendOptions): Promise<number> {
  const addr = parseHostPort(target);
  const out = opts.out ?? Deno.stdout;
  let head = "";
  await request(addr, words.join(" ") + "\n", opts.timeoutMs, async (chunk) => {
    if (head.length < 2) head += String.fromCharCode(...chunk.subarray(0, 2 - head.length));
    let w = 0;
    while (w < chunk.length) w += await out.write(chunk.subarray(w));
  });
  return head.startsWith("? ") ? 1 : 0;
}

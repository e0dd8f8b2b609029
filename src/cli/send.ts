/**
 * `herd send <host:port> <message...>`: one message to any server speaking
 * the protocol, the way test harnesses do it: send the line, half-close,
 * print the reply as received, exit 0 (reply), 1 (`? ` reply) or 2
 * (connection error or timeout).
 *
 * @module
 */

import { parseDurationMs, parseHostPort, UserError } from "./args.ts";

/** Options of {@linkcode send}. */
export interface SendOptions {
  /** Give up after this long, ms (connect + reply). @default 5000 */
  timeoutMs: number;
  /** Where the reply goes. @default Deno.stdout */
  out?: { write(p: Uint8Array): Promise<number> };
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
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: addr.hostname, port: addr.port, signal });
  } catch (e) {
    const why = signal.aborted ? `timed out after ${opts.timeoutMs} ms` : (e as Error).message;
    throw new UserError(`cannot connect to ${target}: ${why}`);
  }
  const timer = setTimeout(() => conn.close(), opts.timeoutMs);
  let head = "";
  try {
    const data = new TextEncoder().encode(words.join(" ") + "\n");
    let off = 0;
    while (off < data.length) off += await conn.write(data.subarray(off));
    await conn.closeWrite();
    const buf = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      if (head.length < 2) head += String.fromCharCode(...buf.subarray(0, Math.min(n, 2)));
      let w = 0;
      while (w < n) w += await out.write(buf.subarray(w, n));
    }
  } catch (e) {
    throw new UserError(
      signal.aborted
        ? `no complete reply from ${target} within ${opts.timeoutMs} ms`
        : `connection to ${target} failed: ${(e as Error).message}`,
    );
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timeout
    }
  }
  return head.startsWith("? ") ? 1 : 0;
}

/** Parses `--timeout`; re-exported for the program definition. */
export { parseDurationMs };

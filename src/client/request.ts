/**
 * One request the way class test harnesses make it (PROTOCOL.md section 1):
 * connect, write, half-close, read to EOF. The server answers every line it
 * got, then closes, so EOF is the end of the reply and no framing is needed.
 *
 * @module
 */

import { closeQuietly, writeAll } from "../herd/socket.ts";
import { formatAddress, type ServerAddress } from "./address.ts";
import { type ClientConn, connectBy, Deadline } from "./_connect.ts";
import { ClientError } from "./client_error.ts";

/** Default of {@linkcode RequestOptions.timeoutMs}: a member answers in well under a second. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

/**
 * Default of {@linkcode RequestOptions.maxReplyBytes}: everything a test
 * pipelines in one request (thousands of WHATSATs) fits; a server streaming
 * without end does not fill memory.
 */
export const DEFAULT_MAX_REQUEST_REPLY_BYTES = 64 * 1024 * 1024;

/** First read size, bytes: one IAMAT or WHATSAT reply fits, and a fresh one per request is cheap. */
const FIRST_READ_BYTES = 4 * 1024;
/** Read size once a read has filled the first buffer: a long reply is read in large steps. */
const LARGE_READ_BYTES = 64 * 1024;

/** Options of {@linkcode requestBytes} and {@linkcode request}. */
export interface RequestOptions {
  /**
   * Give up after this long, ms, counted from the start of the connect: the
   * connection, the write and the whole reply must fit.
   * @default 5000
   */
  timeoutMs?: number;
  /**
   * Most reply bytes kept, all replies together; past it the connection is
   * closed and the request fails.
   * @default 67108864 (64 MiB)
   */
  maxReplyBytes?: number;
  /** Ends the request early (the connection is closed); it then fails as `aborted`. */
  signal?: AbortSignal;
}

/**
 * Connects to `addr`, writes `data` (while already reading, so a long
 * pipeline never waits on an unread reply), half-closes with `closeWrite()`
 * and reads until the server closes.
 *
 * @param addr The server.
 * @param data The bytes to send, terminators included.
 * @param options Timeout, byte cap and abort signal.
 * @returns Every byte the server wrote back.
 * @throws {ClientError} If it cannot connect (`connect`), the reply is not
 *   complete within `timeoutMs` (`timeout`), the connection fails
 *   (`connection`), the reply passes `maxReplyBytes` (`too-large`) or
 *   `signal` aborts (`aborted`).
 * @example
 * ```ts ignore
 * import { requestBytes } from "./request.ts";
 * const line = new TextEncoder().encode("IAMAT kiwi +34.068930-118.445127 1621464827.959\n");
 * const reply = await requestBytes({ hostname: "127.0.0.1", port: 11490 }, line);
 * ```
 */
export async function requestBytes(
  addr: ServerAddress,
  data: Uint8Array,
  options: RequestOptions = {},
): Promise<Uint8Array> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const maxReplyBytes = options.maxReplyBytes ?? DEFAULT_MAX_REQUEST_REPLY_BYTES;
  const target = formatAddress(addr);
  // One deadline from the connect to EOF; at its end the socket is closed, which ends any read.
  const deadline = new Deadline(timeoutMs, options.signal);
  let conn: ClientConn | undefined;
  deadline.onEnd(() => conn !== undefined && closeQuietly(conn));
  try {
    conn = await connectBy(addr, deadline);
    if (deadline.ended !== null) closeQuietly(conn);
    const writing = (async () => {
      await writeAll(conn, data);
      await conn.closeWrite();
    })();
    const [, reply] = await Promise.all([writing, readToEnd(conn, maxReplyBytes, target)]);
    return reply;
  } catch (e) {
    if (e instanceof ClientError) throw e;
    if (deadline.ended === "timeout") {
      throw new ClientError(`no complete reply from ${target} within ${timeoutMs} ms`, "timeout", {
        cause: e,
      });
    }
    if (deadline.ended === "aborted") {
      throw new ClientError(`request to ${target} aborted`, "aborted", { cause: e });
    }
    throw new ClientError(`connection to ${target} failed: ${(e as Error).message}`, "connection", {
      cause: e,
    });
  } finally {
    deadline.dispose();
    if (conn !== undefined) closeQuietly(conn);
  }
}

/**
 * {@linkcode requestBytes} for UTF-8 text.
 *
 * @param addr The server.
 * @param text The lines to send, terminators included.
 * @param options Timeout, byte cap and abort signal.
 * @returns The reply, decoded as UTF-8 (invalid bytes become U+FFFD).
 * @throws {ClientError} As {@linkcode requestBytes}.
 * @example
 * ```ts ignore
 * import { request } from "./request.ts";
 * const reply = await request({ hostname: "127.0.0.1", port: 11490 }, "WHATSAT kiwi 10 5\n");
 * ```
 */
export async function request(
  addr: ServerAddress,
  text: string,
  options?: RequestOptions,
): Promise<string> {
  const reply = await requestBytes(addr, new TextEncoder().encode(text), options);
  return new TextDecoder().decode(reply);
}

/** Reads until EOF. @throws {ClientError} (`too-large`) Past `maxBytes`. */
async function readToEnd(
  conn: ClientConn,
  maxBytes: number,
  target: string,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let buf = new Uint8Array(FIRST_READ_BYTES);
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
    total += n;
    if (total > maxBytes) {
      throw new ClientError(`reply from ${target} is longer than ${maxBytes} bytes`, "too-large");
    }
    chunks.push(buf.slice(0, n));
    if (n === buf.length && buf.length < LARGE_READ_BYTES) buf = new Uint8Array(LARGE_READ_BYTES);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

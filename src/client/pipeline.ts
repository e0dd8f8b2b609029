/**
 * A pipelining client: one connection that stays open, many request lines
 * written back to back, replies read in request order (PROTOCOL.md section
 * 1) and cut apart by a {@linkcode ReplyFramer}.
 *
 * @module
 */

import { closeQuietly, writeAll } from "../herd/socket.ts";
import { formatAddress, type ServerAddress } from "./address.ts";
import { type ClientConn, connectWithin } from "./_connect.ts";
import { ClientError } from "./client_error.ts";
import { ReplyFramer, replyShapeOf } from "./reply_framer.ts";
import { DEFAULT_REQUEST_TIMEOUT_MS } from "./request.ts";

/** Read size, bytes: many one-line replies or a few WHATSAT replies per read. */
const READ_BUFFER_BYTES = 64 * 1024;

/** Options of {@linkcode Pipeline.connect}. */
export interface PipelineOptions {
  /** Give up connecting after this long, ms. @default 5000 */
  connectTimeoutMs?: number;
  /** Aborts the connect. Once connected, end the pipeline with {@linkcode Pipeline.close}. */
  signal?: AbortSignal;
  /**
   * Longest single reply, bytes; a longer one makes {@linkcode Pipeline.read} throw.
   * @default DEFAULT_MAX_REPLY_BYTES (4 MiB)
   */
  maxReplyBytes?: number;
}

/**
 * One open connection carrying many requests. Write lines with
 * {@linkcode Pipeline.write}; read their replies, in order, with
 * {@linkcode Pipeline.read} (one socket read at a time, for callers that
 * refill as replies come back) or all at once with {@linkcode Pipeline.ask}.
 *
 * Reads have no deadline of their own: bound them by calling
 * {@linkcode Pipeline.close} from a timer, as {@linkcode Pipeline.ask} does.
 *
 * @example
 * ```ts ignore
 * import { Pipeline } from "./pipeline.ts";
 * const p = await Pipeline.connect({ hostname: "127.0.0.1", port: 11490 });
 * try {
 *   const [at, places] = await p.ask(["IAMAT kiwi +34.06-118.44 1621464827", "WHATSAT kiwi 10 5"]);
 * } finally {
 *   p.close();
 * }
 * ```
 */
export class Pipeline {
  /** The server, as `host:port`. */
  readonly target: string;
  #conn: ClientConn;
  #framer: ReplyFramer;
  #buf = new Uint8Array(READ_BUFFER_BYTES);
  #encoder = new TextEncoder();

  private constructor(conn: ClientConn, target: string, framer: ReplyFramer) {
    this.#conn = conn;
    this.target = target;
    this.#framer = framer;
  }

  /**
   * Connects to a server.
   *
   * @param addr The server.
   * @param options Connect timeout, abort signal and the per-reply byte cap.
   * @returns The open pipeline.
   * @throws {ClientError} (`connect`) If it cannot connect in time.
   * @throws {RangeError} If `maxReplyBytes` is not a positive integer.
   */
  static async connect(addr: ServerAddress, options: PipelineOptions = {}): Promise<Pipeline> {
    const framer = new ReplyFramer({ maxReplyBytes: options.maxReplyBytes });
    const conn = await connectWithin(
      addr,
      options.connectTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      options.signal,
    );
    return new Pipeline(conn, formatAddress(addr), framer);
  }

  /** Replies expected and not yet read. */
  get outstanding(): number {
    return this.#framer.outstanding;
  }

  /**
   * Writes request lines in one write, each followed by a LF, and expects one
   * reply per line (none for a line of only white space: the server ignores it).
   *
   * @param lines The requests, without terminators.
   * @returns Resolves once the socket has taken every byte.
   * @throws {TypeError} If a line contains a LF (it would be two requests).
   * @throws {ClientError} (`connection`) If the socket fails or was closed.
   */
  async write(lines: readonly string[]): Promise<void> {
    for (const line of lines) {
      if (line.includes("\n")) {
        throw new TypeError(
          `Cannot write request: a line must not contain LF: ${JSON.stringify(line)}`,
        );
      }
    }
    for (const line of lines) {
      const shape = replyShapeOf(line);
      if (shape !== null) this.#framer.expect(shape);
    }
    try {
      await writeAll(this.#conn, this.#encoder.encode(lines.join("\n") + "\n"));
    } catch (e) {
      throw this.#failed(e);
    }
  }

  /**
   * Waits for the next bytes from the server and calls `onReply` for every
   * reply they complete, in request order.
   *
   * @param onReply Called with each complete reply; the array is only valid
   *   during the call.
   * @returns How many replies this read completed (0 if it ended inside a
   *   reply), or `null` at EOF with no reply outstanding.
   * @throws {ClientError} (`connection`) If the socket fails, is closed, or
   *   reaches EOF with replies outstanding.
   * @throws {RangeError} If a reply grows past `maxReplyBytes`.
   * @throws {SyntaxError} If the server writes more than it was asked for.
   */
  async read(onReply: (reply: Uint8Array) => void): Promise<number | null> {
    let n: number | null;
    try {
      n = await this.#conn.read(this.#buf);
    } catch (e) {
      throw this.#failed(e);
    }
    if (n === null) {
      const left = this.#framer.outstanding;
      if (left === 0) return null;
      throw new ClientError(
        `connection to ${this.target} failed: closed with ${left} replies outstanding`,
        "connection",
      );
    }
    return this.#framer.push(this.#buf.subarray(0, n), onReply);
  }

  /**
   * Writes `lines` and reads until each has its reply (writing and reading at
   * once, so a long batch never waits on an unread reply).
   *
   * @param lines The requests, without terminators.
   * @param timeoutMs Give up after this long, ms; the pipeline is then closed.
   * @returns The replies as UTF-8 text, in order, each with its terminators.
   * @throws {ClientError} (`timeout`) If the replies are not all in within
   *   `timeoutMs`; otherwise as {@linkcode Pipeline.write} and {@linkcode Pipeline.read}.
   * @throws {TypeError} If a line contains a LF.
   */
  async ask(lines: readonly string[], timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<string[]> {
    const decoder = new TextDecoder();
    const replies: string[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.close();
    }, timeoutMs);
    try {
      const writing = this.write(lines);
      const reading = (async () => {
        while (this.outstanding > 0) {
          if (await this.read((r) => replies.push(decoder.decode(r))) === null) break;
        }
      })();
      await Promise.all([writing, reading]);
      return replies;
    } catch (e) {
      // Whatever failed, the stream is out of step now: a pending read must not outlive the call.
      this.close();
      if (!timedOut) throw e;
      throw new ClientError(
        `no complete reply from ${this.target} within ${timeoutMs} ms`,
        "timeout",
        { cause: e },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Half-closes: the server answers what it has, then closes its side.
   *
   * @returns Resolves once the FIN is sent; never rejects (a closed socket needs no FIN).
   */
  async closeWrite(): Promise<void> {
    try {
      await this.#conn.closeWrite();
    } catch {
      // Already closed: nothing more can be written anyway.
    }
  }

  /** Closes the connection; a pending {@linkcode Pipeline.read} then fails. Safe to repeat. */
  close(): void {
    closeQuietly(this.#conn);
  }

  #failed(e: unknown): ClientError {
    return new ClientError(
      `connection to ${this.target} failed: ${(e as Error).message}`,
      "connection",
      { cause: e },
    );
  }
}

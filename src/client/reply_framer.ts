/**
 * Incremental, byte-level framing of a herd server's replies (PROTOCOL.md
 * sections 1-2), for clients that keep a connection open and pipeline
 * requests: which bytes make up each reply, in request order.
 *
 * - The reply to an IAMAT is one line: `AT ...\n`.
 * - The reply to a WHATSAT is an `AT` line, JSON and a blank line: it ends at
 *   the first `\n\n`.
 * - A `? ` reply (to anything) is one line.
 *
 * An `AT` line alone cannot say whether JSON follows, so the framer is told
 * what each reply answers ({@linkcode ReplyShape}) before its bytes arrive.
 *
 * @module
 */

/**
 * How the reply to one request ends: `line`, one line (the reply to IAMAT, or
 * to any line the server does not recognise); `whatsat`, an `AT` line, JSON
 * and a blank line, unless the reply is a one-line `? `.
 */
export type ReplyShape = "line" | "whatsat";

/**
 * Default cap on one reply, bytes. The longest reply a herd member writes is
 * the `? ` echo of a line at its `max_line_bytes` limit (at most 1 MiB); a
 * WHATSAT reply of 20 places is tens of KiB. 4 MiB holds either with room to
 * spare and still stops a server that never ends a reply from filling memory.
 */
export const DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024;

/** Options of {@linkcode ReplyFramer}. */
export interface ReplyFramerOptions {
  /**
   * Longest single reply, bytes, terminators included. A reply that grows past
   * it makes {@linkcode ReplyFramer.push} throw.
   * @default DEFAULT_MAX_REPLY_BYTES (4 MiB)
   */
  maxReplyBytes?: number;
}

const LF = 0x0a;
/** `AT `: the start of every successful reply. */
const AT_SPACE = [0x41, 0x54, 0x20];
/** Protocol white space (PROTOCOL.md section 1): space, tab, LF, VT, FF, CR. */
const BLANK_LINE = /^[ \t\n\v\f\r]*$/;
const WHATSAT_LINE = /^[ \t\n\v\f\r]*WHATSAT(?:[ \t\n\v\f\r]|$)/;

/**
 * The shape of the reply a request line gets.
 *
 * @param line One request line, without its LF.
 * @returns `whatsat` if its first field is `WHATSAT`, `null` for a line of
 *   only white space (the server does not answer it), `line` otherwise.
 * @example
 * ```ts
 * import { replyShapeOf } from "./reply_framer.ts";
 * if (replyShapeOf("WHATSAT kiwi 10 5") !== "whatsat") throw new Error();
 * if (replyShapeOf("IAMAT kiwi +1+1 1") !== "line") throw new Error();
 * if (replyShapeOf(" \t") !== null) throw new Error();
 * ```
 */
export function replyShapeOf(line: string): ReplyShape | null {
  if (WHATSAT_LINE.test(line)) return "whatsat";
  return BLANK_LINE.test(line) ? null : "line";
}

/**
 * Whether a reply is a success: it starts with `AT ` (anything else, `? `
 * first of all, is the server refusing the request).
 *
 * @param reply One reply's bytes.
 * @returns True for an `AT` reply.
 */
export function isAtReply(reply: Uint8Array): boolean {
  return reply.length >= 3 && reply[0] === AT_SPACE[0] && reply[1] === AT_SPACE[1] &&
    reply[2] === AT_SPACE[2];
}

/**
 * Cuts a byte stream into replies as it arrives, however it is split into
 * reads: a reply may span many chunks and a chunk may hold many replies.
 * Blank lines between replies are skipped (they are not replies).
 *
 * Bytes are copied only while a reply spans chunks; a reply that lies within
 * one chunk is handed over as a view of it.
 *
 * @example
 * ```ts
 * import { ReplyFramer } from "./reply_framer.ts";
 * const framer = new ReplyFramer();
 * framer.expect("line");
 * framer.expect("whatsat");
 * const replies: string[] = [];
 * const push = (text: string) =>
 *   framer.push(new TextEncoder().encode(text), (r) => replies.push(new TextDecoder().decode(r)));
 * push("AT Hill +0.1 kiwi +1+1 1\nAT Hill +0.1 kiwi +1+1 1\n{\n");
 * push('   "status": "OK"\n}\n\n');
 * if (replies.length !== 2 || !replies[1].endsWith("}\n\n")) throw new Error();
 * ```
 */
export class ReplyFramer {
  /** The cap on one reply, bytes; see {@linkcode ReplyFramerOptions.maxReplyBytes}. */
  readonly maxReplyBytes: number;

  // Expected replies, oldest first, as runs of one shape (a pipeline of 64 IAMATs is one run).
  #runShapes: ReplyShape[] = [];
  #runCounts: number[] = [];
  #runHead = 0;
  #outstanding = 0;

  // The reply being framed.
  #inReply = false;
  #inFirstLine = false;
  #startsWithAt = false;
  #lastWasLf = false;
  #size = 0;
  #parts: Uint8Array[] = [];

  /**
   * Creates a framer that expects no reply yet.
   *
   * @param options The byte cap.
   * @throws {RangeError} If `maxReplyBytes` is not a positive integer.
   */
  constructor(options: ReplyFramerOptions = {}) {
    const max = options.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new RangeError(`Cannot create ReplyFramer: maxReplyBytes must be >= 1, got ${max}`);
    }
    this.maxReplyBytes = max;
  }

  /** Replies expected and not yet complete. */
  get outstanding(): number {
    return this.#outstanding;
  }

  /** Bytes of a reply begun but not complete (0 between replies). */
  get bufferedBytes(): number {
    return this.#inReply ? this.#size : 0;
  }

  /**
   * Queues `count` more replies of one shape, after those already expected.
   * Call it before the request is written, so the reply cannot come first.
   *
   * @param shape How each of those replies ends.
   * @param count How many, >= 1.
   * @throws {RangeError} If `count` is not a positive integer.
   */
  expect(shape: ReplyShape, count = 1): void {
    if (!Number.isSafeInteger(count) || count < 1) {
      throw new RangeError(`Cannot expect replies: count must be >= 1, got ${count}`);
    }
    const last = this.#runShapes.length - 1;
    if (last >= this.#runHead && this.#runShapes[last] === shape) {
      this.#runCounts[last] += count;
    } else {
      this.#runShapes.push(shape);
      this.#runCounts.push(count);
    }
    this.#outstanding += count;
  }

  /**
   * Frames the next bytes of the stream and calls `onReply` with every reply
   * they complete, in order.
   *
   * @param chunk The next bytes read; the framer keeps no reference to it.
   * @param onReply Called with each complete reply: every byte of it from its
   *   first to its last LF. The array is only valid during the call (it may be
   *   a view of `chunk`); copy what you keep.
   * @returns How many replies `chunk` completed.
   * @throws {RangeError} If a reply grows past `maxReplyBytes`.
   * @throws {SyntaxError} If bytes other than blank lines arrive while no reply is expected.
   *   After either error the stream is out of step: drop the framer and its connection.
   */
  push(chunk: Uint8Array, onReply: (reply: Uint8Array) => void): number {
    const n = chunk.length;
    let i = 0;
    let start = 0;
    let completed = 0;
    while (i < n) {
      if (!this.#inReply) {
        while (i < n && chunk[i] === LF) i++;
        if (i === n) break;
        if (this.#outstanding === 0) {
          throw new SyntaxError(
            `Cannot frame reply: ${n - i} bytes arrived with no request outstanding`,
          );
        }
        this.#inReply = true;
        this.#inFirstLine = true;
        this.#startsWithAt = true;
        this.#size = 0;
        start = i;
      }
      let end: number;
      if (this.#inFirstLine) {
        const lf = chunk.indexOf(LF, i);
        const stop = lf === -1 ? n : lf + 1;
        for (let j = i, k = this.#size; k < AT_SPACE.length && j < stop; j++, k++) {
          if (chunk[j] !== AT_SPACE[k]) this.#startsWithAt = false;
        }
        this.#grow(stop - i);
        if (lf === -1) break;
        i = stop;
        this.#inFirstLine = false;
        if (this.#startsWithAt && this.#runShapes[this.#runHead] === "whatsat") {
          this.#lastWasLf = true;
          continue;
        }
        end = stop;
      } else {
        // The body ends at the first LF that follows an LF: the JSON has no blank line.
        let lf = chunk.indexOf(LF, i);
        while (lf !== -1 && !(lf === i ? this.#lastWasLf : chunk[lf - 1] === LF)) {
          lf = chunk.indexOf(LF, lf + 1);
        }
        if (lf === -1) {
          this.#grow(n - i);
          this.#lastWasLf = chunk[n - 1] === LF;
          i = n;
          break;
        }
        this.#grow(lf + 1 - i);
        i = lf + 1;
        end = i;
      }
      const reply = this.#take(chunk, start, end);
      start = i;
      completed++;
      onReply(reply);
    }
    if (this.#inReply) this.#parts.push(chunk.slice(start, n));
    return completed;
  }

  /** Counts `k` more bytes of the current reply against the cap. */
  #grow(k: number): void {
    this.#size += k;
    if (this.#size > this.maxReplyBytes) {
      throw new RangeError(
        `Cannot frame reply: no end within ${this.maxReplyBytes} bytes (maxReplyBytes)`,
      );
    }
  }

  /** Ends the current reply at `chunk[end - 1]` and returns its bytes. */
  #take(chunk: Uint8Array, start: number, end: number): Uint8Array {
    let reply = chunk.subarray(start, end);
    if (this.#parts.length > 0) {
      const whole = new Uint8Array(this.#size);
      let off = 0;
      for (const part of this.#parts) {
        whole.set(part, off);
        off += part.length;
      }
      whole.set(reply, off);
      reply = whole;
      this.#parts = [];
    }
    this.#inReply = false;
    this.#outstanding--;
    if (--this.#runCounts[this.#runHead] === 0) {
      this.#runHead++;
      // Drop spent runs now and then, not on every reply.
      if (this.#runHead >= 1024 || this.#runHead === this.#runShapes.length) {
        this.#runShapes.splice(0, this.#runHead);
        this.#runCounts.splice(0, this.#runHead);
        this.#runHead = 0;
      }
    }
    return reply;
  }
}

/**
 * Frames a whole stream that is already in hand, such as what a server wrote
 * back before it closed.
 *
 * @param bytes Every byte of the replies.
 * @param shapes The shape of each reply expected, in order.
 * @param options The byte cap per reply.
 * @returns One view of `bytes` per reply, in order.
 * @throws {SyntaxError} If `bytes` ends before the last reply does, or holds
 *   more than the replies expected.
 * @throws {RangeError} If a reply is longer than `maxReplyBytes`.
 * @example
 * ```ts
 * import { splitReplies } from "./reply_framer.ts";
 * const bytes = new TextEncoder().encode("? HELLO\nAT Hill +0.1 kiwi +1+1 1\n");
 * if (splitReplies(bytes, ["whatsat", "line"]).length !== 2) throw new Error();
 * ```
 */
export function splitReplies(
  bytes: Uint8Array,
  shapes: readonly ReplyShape[],
  options?: ReplyFramerOptions,
): Uint8Array[] {
  const framer = new ReplyFramer(options);
  for (const shape of shapes) framer.expect(shape);
  const replies: Uint8Array[] = [];
  framer.push(bytes, (reply) => replies.push(reply));
  if (framer.outstanding > 0) {
    throw new SyntaxError(
      `Cannot frame replies: expected ${shapes.length}, got ${replies.length} and ${framer.bufferedBytes} bytes of the next`,
    );
  }
  return replies;
}

/**
 * Byte-level line framing for the herd wire protocol (PROTOCOL.md section 1).
 *
 * A message is the bytes up to LF; a CR right before the LF belongs to the
 * terminator; the last line may end at EOF without LF. Lines longer than the
 * limit are never buffered whole: the splitter keeps the first `maxLineBytes`
 * bytes, reports the line as overlong, and discards the rest up to the next LF.
 *
 * @module
 */

/** Default line limit in bytes (16 KiB), PROTOCOL.md section 1. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/** One framed line, without its terminator. */
export type Frame =
  /** A complete line of at most the limit. `bytes` is a fresh copy, safe to keep. */
  | { kind: "line"; bytes: Uint8Array }
  /** A line over the limit: its first `maxLineBytes` bytes; the rest was skipped. */
  | { kind: "overlong"; head: Uint8Array };

/**
 * Splits a byte stream into lines with a hard per-line byte cap.
 *
 * Memory held is at most `maxLineBytes + 1` bytes whatever the input.
 *
 * @example
 * ```ts
 * import { LineSplitter } from "./framing.ts";
 * const s = new LineSplitter();
 * const frames = s.push(new TextEncoder().encode("a\r\nb"));
 * if (frames.length !== 1 || s.end().length !== 1) throw new Error();
 * ```
 */
export class LineSplitter {
  #maxLineBytes: number;
  #buf: Uint8Array;
  #len = 0;
  /** True while discarding the tail of an overlong line. */
  #skipping = false;
  /** The chunk being framed by {@linkcode LineSplitter.next}, and where in it. */
  #chunk: Uint8Array | null = null;
  #pos = 0;

  /**
   * Creates a splitter with an empty buffer.
   *
   * @param maxLineBytes Longest line kept, in bytes, terminator excluded.
   * @throws {RangeError} If `maxLineBytes` is not a positive integer.
   */
  constructor(maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    this.#maxLineBytes = checkLimit(maxLineBytes);
    // +1 so a line of exactly the limit can still hold the CR of its CR-LF.
    // Small: a line is only assembled here when it spans reads; #grow() doubles it.
    this.#buf = new Uint8Array(Math.min(maxLineBytes + 1, 256));
  }

  /** Longest line kept, bytes, terminator excluded. */
  get maxLineBytes(): number {
    return this.#maxLineBytes;
  }

  /**
   * Bytes of buffer the splitter holds for a line that spans reads: at most
   * `maxLineBytes + 1`, however long the line on the wire.
   */
  get heldBytes(): number {
    return this.#buf.length;
  }

  /**
   * Changes the limit from the next line on (a line already being assembled
   * is judged by the new limit too). A member raises it once a connection has
   * proved to be a neighbour's, whose AT lines are longer than the IAMATs
   * they carry.
   *
   * @param maxLineBytes New limit, bytes.
   * @throws {RangeError} If it is not a positive integer.
   */
  setMaxLineBytes(maxLineBytes: number): void {
    this.#maxLineBytes = checkLimit(maxLineBytes);
  }

  /**
   * Hands over a chunk to frame with {@linkcode LineSplitter.next}. The chunk is
   * referenced, not copied, until `next()` returns `null`: do not overwrite it
   * (or feed another) before then.
   *
   * @param chunk Bytes as read from the socket.
   */
  feed(chunk: Uint8Array): void {
    this.#chunk = chunk;
    this.#pos = 0;
  }

  /**
   * The next frame completed by the fed chunk, or `null` once it is used up.
   * Pulling frames one at a time lets the caller change the limit between
   * lines (see {@linkcode LineSplitter.setMaxLineBytes}).
   *
   * @returns A frame (a fresh copy, safe to keep) or `null`.
   */
  next(): Frame | null {
    const chunk = this.#chunk;
    while (chunk !== null && this.#pos < chunk.length) {
      const start = this.#pos;
      const lf = chunk.indexOf(LF, start);
      const end = lf === -1 ? chunk.length : lf;
      this.#pos = lf === -1 ? chunk.length : lf + 1;
      if (this.#skipping) {
        if (lf !== -1) this.#skipping = false;
        continue;
      }
      if (lf !== -1 && this.#len === 0) {
        // The whole line is in this chunk (the usual case): one copy, straight from it.
        const stop = lf > start && chunk[lf - 1] === CR ? lf - 1 : lf;
        if (stop - start <= this.#maxLineBytes) {
          return { kind: "line", bytes: chunk.slice(start, stop) };
        }
      }
      const overlong = this.#append(chunk, start, end);
      if (overlong !== null) {
        if (lf !== -1) this.#skipping = false;
        return overlong;
      }
      if (lf !== -1) return this.#takeLine(true);
    }
    this.#chunk = null;
    return null;
  }

  /**
   * Feeds bytes; returns every line they complete, in order.
   *
   * @param chunk Bytes as read from the socket (not retained).
   * @returns Completed frames; each is a fresh copy, safe to keep.
   */
  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    this.feed(chunk);
    for (let f = this.next(); f !== null; f = this.next()) frames.push(f);
    return frames;
  }

  /**
   * Signals EOF: returns the unterminated last line, if any.
   *
   * @returns Zero or one frame.
   */
  end(): Frame[] {
    this.#chunk = null;
    if (this.#skipping) {
      this.#skipping = false;
      return [];
    }
    if (this.#len === 0) return [];
    return [this.#takeLine(false)];
  }

  /** Appends to the line being assembled; returns an overlong frame if it overflowed. */
  #append(chunk: Uint8Array, from: number, to: number): Frame | null {
    const room = this.#maxLineBytes + 1 - this.#len;
    const n = to - from;
    if (n > room) {
      const head = new Uint8Array(this.#maxLineBytes);
      const kept = Math.min(this.#len, this.#maxLineBytes);
      head.set(this.#buf.subarray(0, kept));
      head.set(chunk.subarray(from, from + this.#maxLineBytes - kept), kept);
      this.#len = 0;
      this.#skipping = true;
      return { kind: "overlong", head };
    }
    this.#grow(this.#len + n);
    this.#buf.set(chunk.subarray(from, to), this.#len);
    this.#len += n;
    return null;
  }

  #grow(need: number): void {
    if (need <= this.#buf.length) return;
    const next = new Uint8Array(
      Math.min(Math.max(need, this.#buf.length * 2), this.#maxLineBytes + 1),
    );
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  #takeLine(terminated: boolean): Frame {
    let len = this.#len;
    if (terminated && len > 0 && this.#buf[len - 1] === CR) len--;
    this.#len = 0;
    if (len > this.#maxLineBytes) {
      return { kind: "overlong", head: this.#buf.slice(0, this.#maxLineBytes) };
    }
    return { kind: "line", bytes: this.#buf.slice(0, len) };
  }
}

function checkLimit(maxLineBytes: number): number {
  if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) {
    throw new RangeError(`Cannot set line limit: maxLineBytes must be a positive integer`);
  }
  return maxLineBytes;
}

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
  readonly maxLineBytes: number;
  #buf: Uint8Array;
  #len = 0;
  /** True while discarding the tail of an overlong line. */
  #skipping = false;

  /**
   * @param maxLineBytes Longest line kept, in bytes, terminator excluded.
   * @throws {RangeError} If `maxLineBytes` is not a positive integer.
   */
  constructor(maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new RangeError(`Cannot create LineSplitter: maxLineBytes must be a positive integer`);
    }
    this.maxLineBytes = maxLineBytes;
    // +1 so a line of exactly the limit can still hold the CR of its CR-LF.
    this.#buf = new Uint8Array(Math.min(maxLineBytes + 1, 4096));
  }

  /**
   * Feeds bytes; returns every line they complete, in order.
   *
   * @param chunk Bytes as read from the socket (not retained).
   * @returns Completed frames; `line` frames are copies, safe to keep.
   */
  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let start = 0;
    while (start < chunk.length) {
      const lf = chunk.indexOf(LF, start);
      const end = lf === -1 ? chunk.length : lf;
      if (this.#skipping) {
        if (lf !== -1) this.#skipping = false;
      } else {
        this.#append(chunk, start, end, frames);
        if (lf !== -1 && !this.#skipping) frames.push(this.#takeLine(true));
        else if (lf !== -1) this.#skipping = false;
      }
      if (lf === -1) break;
      start = lf + 1;
    }
    return frames;
  }

  /**
   * Signals EOF: returns the unterminated last line, if any.
   *
   * @returns Zero or one frame.
   */
  end(): Frame[] {
    if (this.#skipping) {
      this.#skipping = false;
      return [];
    }
    if (this.#len === 0) return [];
    return [this.#takeLine(false)];
  }

  #append(chunk: Uint8Array, from: number, to: number, frames: Frame[]): void {
    const room = this.maxLineBytes + 1 - this.#len;
    const n = to - from;
    if (n > room) {
      this.#grow(this.maxLineBytes + 1);
      this.#buf.set(chunk.subarray(from, from + room), this.#len);
      this.#len += room;
      frames.push({ kind: "overlong", head: this.#buf.slice(0, this.maxLineBytes) });
      this.#len = 0;
      this.#skipping = true;
      return;
    }
    this.#grow(this.#len + n);
    this.#buf.set(chunk.subarray(from, to), this.#len);
    this.#len += n;
  }

  #grow(need: number): void {
    if (need <= this.#buf.length) return;
    const next = new Uint8Array(
      Math.min(Math.max(need, this.#buf.length * 2), this.maxLineBytes + 1),
    );
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  #takeLine(terminated: boolean): Frame {
    let len = this.#len;
    if (terminated && len > 0 && this.#buf[len - 1] === CR) len--;
    this.#len = 0;
    if (len > this.maxLineBytes) {
      return { kind: "overlong", head: this.#buf.slice(0, this.maxLineBytes) };
    }
    return { kind: "line", bytes: this.#buf.slice(0, len) };
  }
}

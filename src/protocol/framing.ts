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

import { bytesToWire, type WireText } from "./wire_text.ts";

/** Default line limit in bytes (16 KiB), PROTOCOL.md section 1. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024;

const CR = 0x0d;

/** One framed line, without its terminator, as wire text (one char per byte). */
export type Frame =
  /** A complete line of at most the limit. */
  | { kind: "line"; text: WireText }
  /** A line over the limit: its first `maxLineBytes` bytes; the rest was skipped. */
  | { kind: "overlong"; head: WireText };

/**
 * Splits a byte stream into lines with a hard per-line byte cap. The bytes
 * are handled as wire text (`bytesToWire`, one char per byte), so a read is
 * decoded once and each line of it is a slice of that string: no per-line
 * copy or decode.
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
  /** The start of a line that spans reads (at most `maxLineBytes + 1` chars). */
  #partial = "";
  /** True while discarding the tail of an overlong line. */
  #skipping = false;
  /** The chunk being framed by {@linkcode LineSplitter.next}, and where in it. */
  #chunk: WireText | null = null;
  #pos = 0;

  /**
   * Creates a splitter with nothing held.
   *
   * @param maxLineBytes Longest line kept, in bytes, terminator excluded.
   * @throws {RangeError} If `maxLineBytes` is not a positive integer.
   */
  constructor(maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    this.#maxLineBytes = checkLimit(maxLineBytes);
  }

  /** Longest line kept, bytes, terminator excluded. */
  get maxLineBytes(): number {
    return this.#maxLineBytes;
  }

  /**
   * Bytes the splitter holds of a line that spans reads: at most
   * `maxLineBytes + 1`, however long the line on the wire.
   */
  get heldBytes(): number {
    return this.#partial.length;
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
   * Hands over a chunk to frame with {@linkcode LineSplitter.next}, until
   * `next()` returns `null`.
   *
   * @param chunk The bytes of one read, as wire text (`bytesToWire`).
   */
  feed(chunk: WireText): void {
    this.#chunk = chunk;
    this.#pos = 0;
  }

  /**
   * The next frame completed by the fed chunk, or `null` once it is used up.
   * Pulling frames one at a time lets the caller change the limit between
   * lines (see {@linkcode LineSplitter.setMaxLineBytes}).
   *
   * @returns A frame or `null`.
   */
  next(): Frame | null {
    const chunk = this.#chunk;
    while (chunk !== null && this.#pos < chunk.length) {
      const start = this.#pos;
      const lf = chunk.indexOf("\n", start);
      const end = lf === -1 ? chunk.length : lf;
      this.#pos = lf === -1 ? chunk.length : lf + 1;
      if (this.#skipping) {
        if (lf !== -1) this.#skipping = false;
        continue;
      }
      if (lf !== -1 && this.#partial === "") {
        // The whole line is in this chunk (the usual case): a slice of it.
        const stop = lf > start && chunk.charCodeAt(lf - 1) === CR ? lf - 1 : lf;
        if (stop - start <= this.#maxLineBytes) {
          return { kind: "line", text: chunk.slice(start, stop) };
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
   * @returns Completed frames.
   */
  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    this.feed(bytesToWire(chunk));
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
    if (this.#partial === "") return [];
    return [this.#takeLine(false)];
  }

  /** Appends to the line being assembled; returns an overlong frame if it overflowed. */
  #append(chunk: WireText, from: number, to: number): Frame | null {
    const room = this.#maxLineBytes + 1 - this.#partial.length;
    if (to - from > room) {
      const kept = this.#partial.slice(0, this.#maxLineBytes);
      const head = kept + chunk.slice(from, from + this.#maxLineBytes - kept.length);
      this.#partial = "";
      this.#skipping = true;
      return { kind: "overlong", head };
    }
    this.#partial += chunk.slice(from, to);
    return null;
  }

  #takeLine(terminated: boolean): Frame {
    let text = this.#partial;
    this.#partial = "";
    if (terminated && text.charCodeAt(text.length - 1) === CR) text = text.slice(0, -1);
    if (text.length > this.#maxLineBytes) {
      return { kind: "overlong", head: text.slice(0, this.#maxLineBytes) };
    }
    return { kind: "line", text };
  }
}

function checkLimit(maxLineBytes: number): number {
  if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) {
    throw new RangeError(`Cannot set line limit: maxLineBytes must be a positive integer`);
  }
  return maxLineBytes;
}

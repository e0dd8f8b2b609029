/**
 * Wire text: a JavaScript string in which every char code is one byte
 * (0..255) of what crossed the socket, i.e. ISO 8859-1 without any mapping.
 *
 * The protocol must echo client ids and invalid lines byte for byte, emoji and
 * invalid UTF-8 included. Decoding bytes as UTF-8 would replace invalid
 * sequences with U+FFFD and lose them, so herd parses and stores wire text and
 * only turns it into Unicode for humans (logs) with {@linkcode wireToDisplay}.
 *
 * Note: the WHATWG `TextDecoder("latin1")` is really windows-1252 and remaps
 * bytes 0x80..0x9F, so it must not be used here.
 *
 * @module
 */

import { Buffer } from "node:buffer";

/** A string whose char codes are raw bytes, 0..255 (see module doc). */
export type WireText = string;

/** Encodes the pure-ASCII texts of {@linkcode wireToBytes} natively. */
const asciiEncoder = new TextEncoder();

/**
 * Longest input decoded with `String.fromCharCode.apply` (quicker for a few bytes, and far
 * below engines' argument limits); longer ones go through `Buffer`'s native decoder.
 */
const SHORT = 64;

/**
 * Turns bytes into wire text, one char per byte.
 *
 * @param bytes Raw bytes from the socket.
 * @returns Wire text of the same length as `bytes`.
 * @example
 * ```ts
 * import { bytesToWire } from "./wire_text.ts";
 * if (bytesToWire(new Uint8Array([0x41, 0xff])) !== "A\xff") throw new Error();
 * ```
 */
export function bytesToWire(bytes: Uint8Array): WireText {
  if (bytes.length <= SHORT) {
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  // Node's "latin1" is ISO 8859-1 exactly, byte n to U+00nn (unlike TextDecoder's "latin1",
  // which is windows-1252), decoded natively: a 64 KiB read costs about 20 times less than
  // String.fromCharCode in pieces.
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1");
}

/**
 * The same text in memory of its own. A line framed from a read is a slice of
 * the whole read's string (protocol/framing.ts), and V8 keeps the whole read
 * alive for as long as any slice of it lives; a client id kept for the life
 * of a record (the store, the HTTP face's index) is copied with this instead.
 *
 * @param text Wire text, possibly a slice of a longer string.
 * @returns Equal text that references no other string.
 */
export function ownCopy(text: WireText): WireText {
  // The concatenation is flattened into a new string by the slice; the slice then refers to
  // that string alone (or is itself a copy, when short).
  return (text + " ").slice(0, -1);
}

/**
 * Turns wire text back into the exact bytes it came from.
 *
 * @param text Wire text (every char code must be 0..255).
 * @returns The bytes.
 * @throws {RangeError} If a char code is above 255 (the text is not wire text).
 */
export function wireToBytes(text: WireText): Uint8Array {
  const out = new Uint8Array(text.length);
  // Fast path: UTF-8 of pure ASCII is the char codes themselves. Any char from
  // 0x80 up takes 2 or more UTF-8 bytes, so `out` fills up before the text is
  // read whole and the exact loop below redoes it.
  const done = asciiEncoder.encodeInto(text, out);
  if (done.read === text.length && done.written === text.length) return out;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 255) {
      throw new RangeError(
        `Cannot encode wire text: char code ${code} at index ${i} is not a byte`,
      );
    }
    out[i] = code;
  }
  return out;
}

/**
 * Turns ordinary Unicode text into wire text (its UTF-8 bytes, one char each).
 *
 * @param text Any string.
 * @returns Wire text of the UTF-8 encoding of `text`.
 */
export function unicodeToWire(text: string): WireText {
  return bytesToWire(new TextEncoder().encode(text));
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/**
 * Renders wire text for humans: bytes decoded as UTF-8, invalid sequences as U+FFFD.
 * Lossy: use it for logs and consoles only, never for replies.
 *
 * @param text Wire text.
 * @returns A displayable Unicode string.
 */
export function wireToDisplay(text: WireText): string {
  // Pure ASCII is the common case and needs no decoding.
  // deno-lint-ignore no-control-regex
  if (/^[\x00-\x7f]*$/.test(text)) return text;
  return utf8.decode(wireToBytes(text));
}

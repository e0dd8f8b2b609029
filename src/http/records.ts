/**
 * The JSON shapes of the HTTP API that mirror the TCP protocol: a record as
 * JSON, client ids in URL paths, ISO 6709 text from numbers.
 *
 * @module
 */

import { unicodeToWire, type WireText, wireToDisplay } from "../protocol/mod.ts";

/**
 * A client's record as the HTTP API shows it: the fields of its AT line, as
 * strings exactly as on the wire (UTF-8 decoded), and `at` the AT line itself
 * without its newline (PROTOCOL.md section 2).
 */
export interface RecordJson {
  /** Name of the member that received the client's IAMAT. */
  server: string;
  /** That member's clock skew, seconds with sign and 9 fraction digits (`+0.263873386`). */
  skew: string;
  /** Client id. */
  client: string;
  /** ISO 6709 location as the client sent it (`+34.068930-118.445127`). */
  location: string;
  /** Client time, POSIX seconds as the client sent it. */
  time: string;
  /** The AT line, no terminator. */
  at: string;
  /**
   * When the answering member stored this record, POSIX milliseconds with a fraction (its
   * `performance.timeOrigin + performance.now()`), or `null` when it was stored before the
   * member's HTTP face started (read from `data_dir`). Only in `GET /v1/clients/{id}` and stream
   * events: comparing it across members shows how an update spread (the dashboard's journey).
   */
  stored_at?: number | null;
}

/**
 * The JSON of a stored AT line.
 *
 * @param atLine `AT <server> <skew> <client> <location> <time>`, wire text, no terminator.
 * @param storedAt When the member stored it, POSIX ms (`null`: unknown); without it the
 *   record has no `stored_at`.
 * @returns The record's fields.
 * @throws {Error} If the line does not have the six fields of an AT line.
 */
export function recordJson(atLine: WireText, storedAt?: number | null): RecordJson {
  const f = atLine.split(" ");
  if (f.length !== 6 || f[0] !== "AT") throw new Error(`not an AT line: ${atLine}`);
  const json: RecordJson = {
    server: wireToDisplay(f[1]),
    skew: f[2],
    client: wireToDisplay(f[3]),
    location: wireToDisplay(f[4]),
    time: wireToDisplay(f[5]),
    at: wireToDisplay(atLine),
  };
  if (storedAt !== undefined) json.stored_at = storedAt;
  return json;
}

/** Why a path segment is not a client id. */
export class ClientIdError extends Error {
  /** Always `ClientIdError`. */
  override name = "ClientIdError";
}

/**
 * Decodes one percent-encoded URL path segment into a client id: valid
 * UTF-8, at least one character, no white space or control characters (a
 * client id is one field of a protocol line).
 *
 * @param segment The raw segment, as in the request's URL (still percent-encoded).
 * @returns The id as Unicode text and as wire text (its UTF-8 bytes, one char each).
 * @throws {ClientIdError} If it is empty, badly encoded, not UTF-8, or holds white space.
 */
export function clientIdOf(segment: string): { text: string; wire: WireText } {
  if (segment === "") throw new ClientIdError("client id is empty");
  const bytes: number[] = [];
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c === 0x25) {
      const hex = segment.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        throw new ClientIdError(`client id has a bad percent escape at character ${i + 1}`);
      }
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      // A raw non-ASCII character (clients should encode it): take its UTF-8 bytes.
      const cp = segment.codePointAt(i)!;
      bytes.push(...new TextEncoder().encode(String.fromCodePoint(cp)));
      if (cp > 0xffff) i++;
    }
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    throw new ClientIdError("client id is not valid UTF-8");
  }
  // White space of any script, and control characters: a protocol field holds neither.
  if (/[\s\p{Cc}]/u.test(text)) {
    throw new ClientIdError("client id must not contain white space or control characters");
  }
  return { text, wire: unicodeToWire(text) };
}

/**
 * ISO 6709 text for a point, as IAMAT carries it: sign, degrees, exactly 6
 * fraction digits, no exponent (`+34.068930-118.445127`).
 *
 * @param lat Degrees north, -90..90.
 * @param lng Degrees east, -180..180.
 * @returns The location field.
 * @throws {RangeError} If a value is not finite or out of range.
 */
export function iso6709Of(lat: number, lng: number): string {
  if (!Number.isFinite(lat) || Math.abs(lat) > 90) throw new RangeError("lat must be -90..90");
  if (!Number.isFinite(lng) || Math.abs(lng) > 180) throw new RangeError("lng must be -180..180");
  return signed(lat) + signed(lng);
}

/** `+12.345678` / `-0.000001`: a sign always, 6 fraction digits (toFixed never uses an exponent below 1e21). */
function signed(x: number): string {
  const text = Math.abs(x).toFixed(6);
  // -0.0000001 rounds to 0.000000: no sign of its own, so "+".
  return (x < 0 && /[1-9]/.test(text) ? "-" : "+") + text;
}

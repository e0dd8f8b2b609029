/**
 * ISO 6709 decimal-degree coordinates as IAMAT carries them:
 * `[+-]D{1,2}[.D+][+-]D{1,3}[.D+]`, latitude then longitude, signs mandatory
 * (PROTOCOL.md section 2). The text is kept for echoing; never re-formatted.
 *
 * @module
 */

/** A parsed location; `text` is the field exactly as received. */
export interface Location {
  /** The field as received, echoed verbatim in AT lines. */
  readonly text: string;
  /** Degrees north, -90..90. */
  readonly latitude: number;
  /** Degrees east, -180..180. */
  readonly longitude: number;
}

const ISO6709 = /^([+-])([0-9]{1,2})(?:\.([0-9]+))?([+-])([0-9]{1,3})(?:\.([0-9]+))?$/;

/** True if `whole.fraction` is above `limit` (exact, string based). */
function above(whole: string, fraction: string | undefined, limit: number): boolean {
  const w = Number(whole);
  return w > limit || (w === limit && /[1-9]/.test(fraction ?? ""));
}

/**
 * Parses an ISO 6709 decimal-degree point.
 *
 * @param text The location field, e.g. `+34.068930-118.445127`.
 * @returns The location with its original text.
 * @throws {SyntaxError} If the text is not `[+-]D{1,2}[.D+][+-]D{1,3}[.D+]`.
 * @throws {RangeError} If |latitude| > 90 or |longitude| > 180 (exact, no rounding).
 * @example
 * ```ts
 * import { parseIso6709 } from "./iso6709.ts";
 * const p = parseIso6709("+34.068930-118.445127");
 * if (p.latitude !== 34.06893 || p.longitude !== -118.445127) throw new Error();
 * ```
 */
export function parseIso6709(text: string): Location {
  const m = ISO6709.exec(text);
  if (m === null) {
    throw new SyntaxError(
      `Cannot parse ISO 6709 location: expected [+-]DD.D[+-]DDD.D, got ${JSON.stringify(text)}`,
    );
  }
  const [, latSign, latWhole, latFrac, lonSign, lonWhole, lonFrac] = m;
  if (above(latWhole, latFrac, 90)) {
    throw new RangeError(`Cannot parse ISO 6709 location: latitude above 90 degrees in ${text}`);
  }
  if (above(lonWhole, lonFrac, 180)) {
    throw new RangeError(`Cannot parse ISO 6709 location: longitude above 180 degrees in ${text}`);
  }
  const latitude = Number(`${latSign}${latWhole}.${latFrac ?? "0"}`);
  const longitude = Number(`${lonSign}${lonWhole}.${lonFrac ?? "0"}`);
  return { text, latitude, longitude };
}

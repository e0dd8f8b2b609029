/**
 * White-space field splitting (PROTOCOL.md section 1): fields are separated by
 * one or more of space, tab, CR, LF, FF, VT; leading and trailing white space
 * is ignored. Only these six ASCII bytes count: 0x85 and 0xA0 are field bytes.
 *
 * @module
 */

import type { WireText } from "./wire_text.ts";

// deno-lint-ignore no-control-regex
const WHITE_SPACE = /[\x20\x09\x0a\x0b\x0c\x0d]+/;

/**
 * Splits a line into its fields.
 *
 * @param line Wire text of one line.
 * @returns The non-empty fields in order (`[]` for a blank line).
 * @example
 * ```ts
 * import { splitFields } from "./fields.ts";
 * if (splitFields(" IAMAT\tkiwi  x ").join("|") !== "IAMAT|kiwi|x") throw new Error();
 * ```
 */
export function splitFields(line: WireText): WireText[] {
  const fields = line.split(WHITE_SPACE);
  // split() leaves one empty string at either end when the line starts/ends with white space.
  if (fields.length > 0 && fields[0] === "") fields.shift();
  if (fields.length > 0 && fields[fields.length - 1] === "") fields.pop();
  return fields;
}

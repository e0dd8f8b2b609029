/**
 * Where a flood goes out (PROTOCOL.md section 4): a newer record is handed,
 * as its AT line, to every neighbour link except the one it came from.
 * Receivers stop the flood on older or equal records, so it ends on any
 * topology, cycles included.
 *
 * @module
 */

import type { WireText } from "../protocol/mod.ts";

/** The part of a peer link that flooding needs. */
export interface FloodTarget {
  /** Hands one line (terminator included) to the link; never blocks or throws. */
  send(line: string): void;
}

/**
 * Hands a record's AT line to every link but `except`'s, synchronously, so it
 * is on its way before the caller writes the client's reply.
 *
 * @param atLine The newly stored record's AT line (`formatAt(record)`), no terminator.
 * @param links Outgoing links by neighbour name.
 * @param except Name of the neighbour the record came from, if any.
 * @returns How many links it was handed to.
 */
export function flood(
  atLine: WireText,
  links: ReadonlyMap<string, FloodTarget>,
  except?: string,
): number {
  const line = atLine + "\n";
  let n = 0;
  for (const [name, link] of links) {
    if (name === except) continue;
    link.send(line);
    n++;
  }
  return n;
}

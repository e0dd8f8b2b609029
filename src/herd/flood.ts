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
  /**
   * Queues one line (terminator included) on the link; never blocks or throws.
   * It is written by the next {@linkcode FloodTarget.flush}, or at the latest
   * after the current task (a microtask), once the link is welcomed.
   */
  send(line: string): void;
  /**
   * Issues the write of everything queued now, synchronously, if the link is
   * welcomed and has no write in flight; with a write in flight the lines go
   * out in the next write, in order, before any line queued later.
   */
  flush(): void;
}

/**
 * Hands a record's AT line to every link but `except`'s.
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

/**
 * Flushes every link (see {@linkcode FloodTarget.flush}): the step a session
 * takes before it writes a reply, so that the floods a line caused have left
 * (their write issued) before the client can read its answer.
 *
 * @param links Outgoing links.
 */
export function flushLinks(links: ReadonlyMap<string, FloodTarget>): void {
  for (const link of links.values()) link.flush();
}

/**
 * `herd send <host:port> <message...>`: one message to any server speaking
 * the protocol, the way test harnesses do it: send the line, half-close,
 * print the reply as received, exit 0 (reply), 1 (`? ` reply) or 2
 * (connection error or timeout).
 *
 * @module
 */

import { requestBytes } from "../client/mod.ts";
import { parseHostPort } from "./args.ts";

/** Options of {@linkcode send}. */
export interface SendOptions {
  /** Give up after this long, ms (connect + reply). @default 5000 */
  timeoutMs: number;
  /** Where the reply goes. @default Deno.stdout */
  out?: { write(p: Uint8Array): Promise<number> };
}

/**
 * Sends one message and copies the reply to `out`, byte for byte.
 *
 * @param target `host:port`.
 * @param words The message's fields, joined by single spaces; a LF is added.
 * @param opts Timeout and output.
 * @returns The exit code: 0, or 1 when the reply starts with `? `.
 * @throws {UserError} (exit 2) On a bad address.
 * @throws {ClientError} (exit 2) On connection failure or timeout.
 */
export async function send(target: string, words: string[], opts: SendOptions): Promise<number> {
  const addr = parseHostPort(target);
  const out = opts.out ?? Deno.stdout;
  const line = new TextEncoder().encode(words.join(" ") + "\n");
  const reply = await requestBytes(addr, line, { timeoutMs: opts.timeoutMs });
  for (let w = 0; w < reply.length;) w += await out.write(reply.subarray(w));
  return reply[0] === 0x3f && reply[1] === 0x20 ? 1 : 0;
}

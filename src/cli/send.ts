/**
 * `herd send <host:port> <message...>`: one message to any server speaking
 * the protocol, the way test harnesses do it: send the line, half-close,
 * print the reply as received, exit 0 (reply), 1 (`? ` reply) or 2
 * (connection error, timeout, or no reply at all).
 *
 * @module
 */

import { ClientError, type ClientTls, formatAddress, requestBytes } from "../client/mod.ts";
import { parseHostPort } from "./args.ts";

/** Options of {@linkcode send}. */
export interface SendOptions {
  /** Give up after this long, ms (connect + reply). @default 5000 */
  timeoutMs: number;
  /** Speak TLS (`--tls`, `--ca`), verifying the server's certificate. @default plain TCP */
  tls?: ClientTls;
  /** Where the reply goes. @default Deno.stdout */
  out?: { write(p: Uint8Array): Promise<number> };
  /**
   * Where a warning goes: one line without the `herd: warning: ` prefix.
   * @default prints `herd: warning: <message>` to stderr
   */
  warn?: (message: string) => void;
}

/**
 * The first message word, if it looks like an option of `send` written after
 * `<host:port>`, where every word is message text (`-t`, `--timeout`). A
 * message starts with a command name, so a leading `-` and a letter is a
 * misplaced option; a negative latitude never comes first.
 *
 * @param words The message words.
 * @returns The word, or `undefined` if the message starts as a message should.
 */
export function misplacedOption(words: readonly string[]): string | undefined {
  return words.length > 0 && /^--?[A-Za-z]/.test(words[0]) ? words[0] : undefined;
}

/** TLS record type of an alert (RFC 8446 section 5.1). */
const TLS_ALERT = 0x15;
/** First byte of every TLS record's legacy version (3.x). */
const TLS_MAJOR = 0x03;

/**
 * Whether a reply is a TLS alert record: what a TLS server answers to a plain-text line.
 *
 * @param reply The reply bytes.
 * @returns True if it starts as a TLS alert record does.
 */
export function isTlsAlert(reply: Uint8Array): boolean {
  return reply.length >= 5 && reply[0] === TLS_ALERT && reply[1] === TLS_MAJOR;
}

/**
 * Sends one message and copies the reply to `out`, byte for byte.
 *
 * A message whose first word looks like an option (see
 * {@linkcode misplacedOption}) is still sent as written, after a one-line
 * warning.
 *
 * @param target `host:port`.
 * @param words The message's fields, joined by single spaces; a LF is added.
 * @param opts Timeout, output and warnings.
 * @returns The exit code: 0, or 1 when the reply starts with `? `.
 * @throws {UserError} (exit 2) On a bad address.
 * @throws {ClientError} (exit 2) On connection failure or timeout, or
 *   (`connection`) when the server closes without a byte of reply.
 */
export async function send(target: string, words: string[], opts: SendOptions): Promise<number> {
  const addr = { ...parseHostPort(target), tls: opts.tls };
  const out = opts.out ?? Deno.stdout;
  const warn = opts.warn ?? ((message: string) => console.error(`herd: warning: ${message}`));
  const option = misplacedOption(words);
  if (option !== undefined) {
    warn(`${JSON.stringify(option)} is sent as message text; options go before host:port`);
  }
  const line = new TextEncoder().encode(words.join(" ") + "\n");
  const reply = await requestBytes(addr, line, { timeoutMs: opts.timeoutMs });
  if (reply.length === 0) {
    // Exit 0 with empty output would read as success; every protocol line gets an answer.
    throw new ClientError(
      `no reply from ${formatAddress(addr)} (the server closed the connection)`,
      "connection",
    );
  }
  if (opts.tls === undefined && isTlsAlert(reply)) {
    throw new ClientError(
      `${formatAddress(addr)} answered with a TLS alert: it speaks TLS ([tls] clients = true); ` +
        "add --tls (and --ca <file> for a private CA)",
      "reply",
    );
  }
  for (let w = 0; w < reply.length;) w += await out.write(reply.subarray(w));
  return reply[0] === 0x3f && reply[1] === 0x20 ? 1 : 0;
}

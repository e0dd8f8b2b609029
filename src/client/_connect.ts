/**
 * Connecting with a deadline and an error that names the server; shared by
 * `requestBytes()`, `Pipeline` and the bench's reachability probe.
 *
 * @module
 */

import { formatAddress, type ServerAddress } from "./address.ts";
import { ClientError } from "./client_error.ts";

/**
 * A timer and an optional caller's signal folded into one `AbortSignal`,
 * remembering which of the two ended it. One timer and one listener, not a
 * signal per source: `herd bench --mode conn` makes one per request.
 */
export class Deadline {
  /** Aborts when the time is up or the caller's signal aborts, whichever is first. */
  readonly signal: AbortSignal;
  readonly #abort = new AbortController();
  readonly #timeoutMs: number;
  readonly #outer: AbortSignal | undefined;
  readonly #timer: ReturnType<typeof setTimeout>;
  #ended: "timeout" | "aborted" | null = null;
  #onEnd: (() => void) | null = null;

  constructor(timeoutMs: number, outer?: AbortSignal) {
    this.signal = this.#abort.signal;
    this.#timeoutMs = timeoutMs;
    this.#outer = outer;
    this.#timer = setTimeout(() => this.#end("timeout"), timeoutMs);
    outer?.addEventListener("abort", this.#onOuter);
    if (outer?.aborted) this.#end("aborted");
  }

  /** What ended it, or null while it runs. */
  get ended(): "timeout" | "aborted" | null {
    return this.#ended;
  }

  /** Why it ended, as the detail of an error message. */
  get reason(): string {
    return this.#ended === "timeout" ? `timed out after ${this.#timeoutMs} ms` : "aborted";
  }

  /** Calls `fn` once when it ends (e.g. to close a socket that ignores signals). */
  onEnd(fn: () => void): void {
    this.#onEnd = fn;
  }

  /** Stops the timer and lets go of the caller's signal. */
  dispose(): void {
    clearTimeout(this.#timer);
    this.#outer?.removeEventListener("abort", this.#onOuter);
  }

  #onOuter = () => this.#end("aborted");

  #end(why: "timeout" | "aborted"): void {
    if (this.#ended !== null) return;
    this.#ended = why;
    this.#abort.abort();
    this.#onEnd?.();
  }
}

/**
 * Pause between a TLS handshake and the first request, ms: one turn of the event loop. A TLS 1.3
 * server sends its session tickets right after the handshake; a request written before they
 * arrive leaves them unacknowledged, and the server's reply then waits for our delayed ACK
 * (Nagle's algorithm: Deno 2.9 cannot turn it off on a socket accepted by `Deno.listenTls`), 40 ms
 * on Linux. Measured on loopback: 58 ms per connection-per-request without the pause, 7 ms with it
 * (docs/PERFORMANCE.md, "Cost of TLS").
 */
const AFTER_HANDSHAKE_MS = 0;

/** A client's connection: TCP, or TLS over TCP when the address says `tls`. */
export type ClientConn = Deno.TcpConn | Deno.TlsConn;

/**
 * Opens a TCP connection to `addr` before `deadline` ends, and with `addr.tls` completes the
 * TLS handshake (verifying the server's certificate) before it too.
 *
 * @throws {ClientError} (`connect`) If it cannot connect, the handshake fails (the message
 *   says `TLS handshake failed:` and why), or `deadline` ends first.
 */
export async function connectBy(addr: ServerAddress, deadline: Deadline): Promise<ClientConn> {
  let tcp: Deno.TcpConn;
  try {
    tcp = await Deno.connect({
      hostname: addr.hostname,
      port: addr.port,
      signal: deadline.signal,
    });
  } catch (e) {
    const why = deadline.ended !== null ? deadline.reason : (e as Error).message;
    throw new ClientError(`cannot connect to ${formatAddress(addr)}: ${why}`, "connect", {
      cause: e,
    });
  }
  if (addr.tls === undefined) return tcp;
  tcp.setNoDelay(true);
  let tls: Deno.TlsConn | undefined;
  const onAbort = () => (tls ?? tcp).close();
  deadline.signal.addEventListener("abort", onAbort);
  try {
    tls = await Deno.startTls(tcp, { hostname: addr.hostname, caCerts: addr.tls.caCerts });
    if (deadline.ended === null) await tls.handshake();
    // One turn of the event loop before the first request: see AFTER_HANDSHAKE_MS.
    if (deadline.ended === null) await new Promise((r) => setTimeout(r, AFTER_HANDSHAKE_MS));
    if (deadline.ended !== null) throw new Error(deadline.reason);
    return tls;
  } catch (e) {
    try {
      (tls ?? tcp).close();
    } catch { /* closed by the deadline */ }
    const why = deadline.ended !== null ? deadline.reason : (e as Error).message;
    throw new ClientError(
      `cannot connect to ${formatAddress(addr)}: TLS handshake failed: ${why}`,
      "connect",
      { cause: e },
    );
  } finally {
    deadline.signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Opens a TCP connection to `addr`.
 *
 * @param addr The server.
 * @param timeoutMs Give up after this long, ms.
 * @param signal Aborts the attempt early.
 * @returns The connection.
 * @throws {ClientError} (`connect`) If it cannot connect in time or `signal` aborts first.
 */
export async function connectWithin(
  addr: ServerAddress,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ClientConn> {
  const deadline = new Deadline(timeoutMs, signal);
  try {
    return await connectBy(addr, deadline);
  } finally {
    deadline.dispose();
  }
}

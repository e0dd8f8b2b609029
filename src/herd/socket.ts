/**
 * Small socket helpers shared by sessions and peer links: whole writes with a
 * deadline, quiet closes, readable reasons.
 *
 * @module
 */

import { systemTimers, type TimerClock } from "./clock.ts";
import type { Conn } from "./transport.ts";

/**
 * Writes every byte of `bytes`, looping over short writes. The first
 * `write()` is issued synchronously, so bytes handed over before another
 * write on another socket are on their way first.
 *
 * @param conn A connection.
 * @param bytes One whole message (or batch): callers never interleave writes.
 * @throws {Deno.errors.BrokenPipe | Deno.errors.ConnectionReset | Deno.errors.BadResource}
 *   If the socket fails or is closed meanwhile.
 */
export async function writeAll(conn: Pick<Conn, "write">, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    off += await conn.write(off === 0 ? bytes : bytes.subarray(off));
  }
}

/** Thrown by {@linkcode writeWithin} when the other side did not read in time. */
export class WriteTimeout extends Error {
  /** Always `WriteTimeout`. */
  override name = "WriteTimeout";
}

/**
 * {@linkcode writeAll} with a deadline: if the other side has not taken every
 * byte within `timeoutMs` (it stopped reading and the socket buffers are
 * full), the connection is closed and the write fails. This is what bounds
 * the memory an unread socket can hold.
 *
 * @param conn A connection.
 * @param bytes One whole message or batch.
 * @param timeoutMs Deadline, ms.
 * @param timers Clock for the deadline. @default systemTimers
 * @throws {WriteTimeout} If the deadline passed (`conn` is then closed).
 * @throws {Deno.errors.BrokenPipe | Deno.errors.ConnectionReset | Deno.errors.BadResource}
 *   If the socket fails or is closed meanwhile.
 */
export async function writeWithin(
  conn: Conn,
  bytes: Uint8Array,
  timeoutMs: number,
  timers: TimerClock = systemTimers,
): Promise<void> {
  let timedOut = false;
  const timer = timers.setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, timeoutMs);
  try {
    await writeAll(conn, bytes);
  } catch (e) {
    if (timedOut) throw new WriteTimeout(`no read for ${timeoutMs} ms`);
    throw e;
  } finally {
    timers.clearTimeout(timer);
  }
}

/**
 * Closes a connection, ignoring "already closed".
 *
 * @param conn A connection.
 */
export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Already closed: nothing to release.
  }
}

/**
 * A human-readable reason from an error, for logs.
 *
 * @param e Anything thrown.
 * @returns `Name: message`.
 */
export function reason(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * Small socket helpers shared by the listener and the peer links.
 *
 * @module
 */

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
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    off += await conn.write(off === 0 ? bytes : bytes.subarray(off));
  }
}

/**
 * Closes a connection, ignoring "already closed".
 *
 * @param conn A connection.
 */
export function closeQuietly(conn: Deno.Conn | Deno.Listener): void {
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

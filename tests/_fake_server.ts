/**
 * A fake line server on 127.0.0.1 port 0 for client tests: it answers each
 * line with whatever the test says, so a client can be tried against replies
 * no real member would write.
 *
 * @module
 */

/** Options of {@linkcode fakeServer}. */
export interface FakeServerOptions {
  /**
   * Keep each connection open after the client's EOF, until `close()`: a
   * server that never finishes answering. By default a connection is closed
   * at the client's EOF, once the replies to its lines are written.
   * @default false
   */
  holdAfterEof?: boolean;
}

/** A running {@linkcode fakeServer}. */
export interface FakeServer {
  /** Where it listens. */
  address: { hostname: string; port: number };
  /** Lines received so far, on every connection, in order. */
  lines: string[];
  /** Stops listening, closes every connection and waits for their tasks. */
  close(): Promise<void>;
}

/**
 * Starts a fake server: `reply(line)` gives the text to answer each line
 * with (null: stay silent). Replies to the lines of one read go out in one write.
 *
 * @param reply The answer to one line (its LF removed).
 * @param options Whether connections outlive the client's EOF.
 * @returns The running server.
 */
export function fakeServer(
  reply: (line: string) => string | null,
  options: FakeServerOptions = {},
): FakeServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const lines: string[] = [];
  let release!: () => void;
  const closed = new Promise<void>((resolve) => (release = resolve));
  const serveOne = async (conn: Deno.Conn) => {
    const buf = new Uint8Array(65536);
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    let pending = "";
    try {
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
        pending += decoder.decode(buf.subarray(0, n), { stream: true });
        let lf: number;
        let out = "";
        while ((lf = pending.indexOf("\n")) !== -1) {
          const line = pending.slice(0, lf);
          lines.push(line);
          out += reply(line) ?? "";
          pending = pending.slice(lf + 1);
        }
        const bytes = encoder.encode(out);
        for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
      }
      if (options.holdAfterEof) await closed;
    } catch {
      // closed by the client or by close()
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        const t = serveOne(conn);
        tasks.add(t);
        t.finally(() => tasks.delete(t));
      }
    } catch {
      // listener closed
    }
  })();
  return {
    address: { hostname: "127.0.0.1", port: listener.addr.port },
    lines,
    async close() {
      listener.close();
      release();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await accepting;
      await Promise.all([...tasks]);
    },
  };
}

/**
 * Runs `fn` against a {@linkcode fakeServer}, closing the server afterwards.
 *
 * @param reply The answer to one line (its LF removed), or null for none.
 * @param fn The test body.
 * @param options Whether connections outlive the client's EOF.
 * @returns What `fn` returns.
 */
export async function withFakeServer<T>(
  reply: (line: string) => string | null,
  fn: (server: FakeServer) => Promise<T>,
  options?: FakeServerOptions,
): Promise<T> {
  const server = fakeServer(reply, options);
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}

/**
 * Test harness: real members on 127.0.0.1 port 0, real TCP clients, bounded
 * waits. Shared by the integration tests.
 *
 * @module
 */

import { request, requestBytes } from "../src/client/mod.ts";
import { type HerdConfig, testConfig } from "../src/config.ts";
import { type AddressBook, Member, type PeerAddress } from "../src/herd/mod.ts";
import { writeAll } from "../src/herd/socket.ts";
import { type EventFields, MemoryLog } from "../src/log.ts";
import { createGeonamesProvider } from "../src/places/mod.ts";
import type { PlacesProvider } from "../src/places/types.ts";

/** A herd running in this process. */
export class TestHerd {
  readonly config: HerdConfig;
  readonly addresses: AddressBook = new Map();
  readonly members = new Map<string, Member>();
  readonly logs = new Map<string, MemoryLog>();
  readonly places: PlacesProvider;

  constructor(
    config: HerdConfig = testConfig(),
    places: PlacesProvider = createGeonamesProvider(),
  ) {
    this.config = config;
    this.places = places;
    for (const s of config.servers) {
      const log = new MemoryLog();
      this.logs.set(s.name, log);
      this.members.set(
        s.name,
        new Member({ config, name: s.name, places, log, addresses: this.addresses }),
      );
    }
  }

  /** Starts every member (port 0) and waits until every link is up. */
  async start(): Promise<this> {
    for (const m of this.members.values()) m.start({ port: 0 });
    await this.linked();
    return this;
  }

  member(name: string): Member {
    const m = this.members.get(name);
    if (m === undefined) throw new Error(`no member ${name}`);
    return m;
  }

  address(name: string): PeerAddress {
    return this.member(name).address;
  }

  /** Waits until every running member's links to running neighbours are up. */
  async linked(timeoutMs = 5000): Promise<void> {
    await waitFor(
      () => {
        for (const m of this.members.values()) {
          if (!m.running) continue;
          for (const [peer, link] of m.links) {
            if (this.member(peer).running && link.state !== "welcomed") return false;
          }
        }
        return true;
      },
      timeoutMs,
      "every link up",
    );
  }

  async stop(): Promise<void> {
    await Promise.all([...this.members.values()].map((m) => m.stop()));
  }
}

/**
 * The lines of `msg.in` events in order, whether an event holds one (`line`) or
 * a whole read's (`lines`).
 *
 * @param events Logged `msg.in` events (their fields).
 * @returns One entry per line: the event's fields and the line.
 */
export function linesIn(
  events: ReadonlyArray<{ fields: EventFields }>,
): Array<{ fields: EventFields; line: string }> {
  return events.flatMap((e) => {
    const lines = e.fields.lines;
    const all = Array.isArray(lines) ? lines : [String(e.fields.line)];
    return all.map((line) => ({ fields: e.fields, line }));
  });
}

/**
 * Polls `predicate` every 10 ms until it is true.
 *
 * @throws {Error} After `timeoutMs` without success, naming `what`.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * The classic test client: connect, send `data`, half-close, read to EOF
 * (the client module's {@linkcode requestBytes}).
 *
 * @returns The raw reply bytes.
 * @throws {ClientError} If it cannot connect, or the reply is not complete within `timeoutMs`.
 */
export function exchangeBytes(
  addr: PeerAddress,
  data: Uint8Array,
  timeoutMs = 5000,
): Promise<Uint8Array> {
  return requestBytes(addr, data, { timeoutMs });
}

/** {@linkcode exchangeBytes} for UTF-8 text. */
export function exchange(addr: PeerAddress, text: string, timeoutMs = 5000): Promise<string> {
  return request(addr, text, { timeoutMs });
}

/** A client that keeps its connection open (like nc or telnet). */
export class OpenClient {
  #conn: Deno.TcpConn;
  #buf = "";
  #decoder = new TextDecoder();

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async connect(addr: PeerAddress): Promise<OpenClient> {
    return new OpenClient(await Deno.connect({ hostname: addr.hostname, port: addr.port }));
  }

  async send(text: string): Promise<void> {
    await writeAll(this.#conn, new TextEncoder().encode(text));
  }

  /** Reads until the buffer holds `marker`; returns text up to and including it. */
  async readUntil(marker: string, timeoutMs = 5000): Promise<string> {
    const buf = new Uint8Array(65536);
    const timer = setTimeout(() => this.#conn.close(), timeoutMs);
    try {
      while (!this.#buf.includes(marker)) {
        const n = await this.#conn.read(buf);
        if (n === null) throw new Error(`EOF before ${JSON.stringify(marker)}; got ${this.#buf}`);
        this.#buf += this.#decoder.decode(buf.subarray(0, n), { stream: true });
      }
    } finally {
      clearTimeout(timer);
    }
    const end = this.#buf.indexOf(marker) + marker.length;
    const out = this.#buf.slice(0, end);
    this.#buf = this.#buf.slice(end);
    return out;
  }

  /** Reads one line (without LF). */
  async line(timeoutMs = 5000): Promise<string> {
    return (await this.readUntil("\n", timeoutMs)).slice(0, -1);
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}

/**
 * Reads until EOF or error, for a test that expects the member to close a connection.
 *
 * @param conn The connection (closed by this function when `ms` passes first).
 * @param ms Longest wait, ms.
 * @returns True if the member closed the connection within `ms`.
 */
export async function closedWithin(conn: Deno.TcpConn, ms: number): Promise<boolean> {
  const buf = new Uint8Array(64 * 1024);
  const timer = setTimeout(() => conn.close(), ms);
  try {
    while ((await conn.read(buf)) !== null) { /* drain */ }
    return true;
  } catch {
    return false; // our timer closed it
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Fault-injection harness: a herd in this process whose every directed peer
 * link runs through its own TCP relay on 127.0.0.1, so a test can cut and heal
 * single links (a partition), kill members, and restart them empty.
 *
 * @module
 */

import { type HerdConfig, neighboursOf } from "../src/config.ts";
import { type AddressBook, Member, type PeerAddress, RecordStore } from "../src/herd/mod.ts";
import { MemoryLog } from "../src/log.ts";
import { parseMessage, sameDigest, unicodeToWire } from "../src/protocol/mod.ts";
import type { PlacesProvider } from "../src/places/types.ts";
import { exchange, waitFor } from "./_harness.ts";

/** A relay for one directed link (`from` dials `to`), which a test can cut. */
class LinkRelay {
  readonly listener: Deno.TcpListener;
  #cut = false;
  #pairs = new Set<[Deno.TcpConn, Deno.TcpConn]>();
  #tasks = new Set<Promise<void>>();
  #accepting: Promise<void>;

  constructor(readonly target: () => PeerAddress | undefined) {
    this.listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  get address(): PeerAddress {
    return { hostname: "127.0.0.1", port: this.listener.addr.port };
  }

  /** Drops every relayed connection and refuses new ones until heal(). */
  cut(): void {
    this.#cut = true;
    for (const [a, b] of this.#pairs) {
      close(a);
      close(b);
    }
  }

  heal(): void {
    this.#cut = false;
  }

  async stop(): Promise<void> {
    this.cut();
    close(this.listener);
    await this.#accepting;
    await Promise.all(this.#tasks);
  }

  async #accept(): Promise<void> {
    for (;;) {
      let inbound: Deno.TcpConn;
      try {
        inbound = await this.listener.accept();
      } catch {
        return;
      }
      const task = this.#relay(inbound).finally(() => this.#tasks.delete(task));
      this.#tasks.add(task);
    }
  }

  async #relay(inbound: Deno.TcpConn): Promise<void> {
    const target = this.target();
    if (this.#cut || target === undefined) return close(inbound);
    let outbound: Deno.TcpConn;
    try {
      outbound = await Deno.connect({ ...target, transport: "tcp" });
    } catch {
      return close(inbound);
    }
    if (this.#cut) {
      close(inbound);
      return close(outbound);
    }
    const pair: [Deno.TcpConn, Deno.TcpConn] = [inbound, outbound];
    this.#pairs.add(pair);
    await Promise.all([pump(inbound, outbound), pump(outbound, inbound)]);
    this.#pairs.delete(pair);
    close(inbound);
    close(outbound);
  }
}

function close(c: Deno.Conn | Deno.Listener): void {
  try {
    c.close();
  } catch {
    // already closed
  }
}

/** Copies `from` to `to` until EOF or an error; then closes both (a cut is a cut). */
async function pump(from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await from.read(buf);
      if (n === null) break;
      let off = 0;
      while (off < n) off += await to.write(buf.subarray(off, n));
    }
  } catch {
    // one side closed
  }
  close(from);
  close(to);
}

/** A herd in this process with one relay per directed link. */
export class FaultHerd {
  readonly members = new Map<string, Member>();
  readonly logs = new Map<string, MemoryLog>();
  /** Where each member really listens. */
  readonly real: AddressBook = new Map();
  #books = new Map<string, AddressBook>();
  #relays = new Map<string, LinkRelay>();
  /** Newest record per client of everything this test sent (its digests say "converged"). */
  readonly expected: RecordStore = new RecordStore();

  /**
   * @param config The herd (ports 0).
   * @param places Shared places provider.
   * @param quiet Drop events instead of keeping them in memory (for benchmarks).
   */
  constructor(
    readonly config: HerdConfig,
    readonly places: PlacesProvider,
    readonly quiet = false,
  ) {
    for (const s of config.servers) {
      const book: AddressBook = new Map();
      for (const peer of neighboursOf(config, s.name)) {
        const relay = new LinkRelay(() => this.real.get(peer));
        this.#relays.set(`${s.name}>${peer}`, relay);
        book.set(peer, relay.address);
      }
      this.#books.set(s.name, book);
      this.#create(s.name);
    }
  }

  #create(name: string): Member {
    const log = new MemoryLog();
    this.logs.set(name, log);
    const m = new Member({
      config: this.config,
      name,
      places: this.places,
      log: this.quiet ? { emit() {} } : log,
      addresses: this.#books.get(name)!,
    });
    this.members.set(name, m);
    return m;
  }

  member(name: string): Member {
    const m = this.members.get(name);
    if (m === undefined) throw new Error(`no member ${name}`);
    return m;
  }

  start(name: string): void {
    this.real.set(name, this.member(name).start({ port: 0 }));
  }

  startAll(): void {
    for (const name of this.members.keys()) this.start(name);
  }

  /** Stops a member at once (no drain), like a crash. */
  async kill(name: string): Promise<void> {
    await this.member(name).stop(0);
    this.real.delete(name);
  }

  /** Starts a fresh member object (an empty store) in place of `name`. */
  restartEmpty(name: string): void {
    this.#create(name);
    this.start(name);
  }

  /** Cuts both directions of the link between `a` and `b`. */
  cut(a: string, b: string): void {
    this.#relays.get(`${a}>${b}`)!.cut();
    this.#relays.get(`${b}>${a}`)!.cut();
  }

  /** Heals every cut link. */
  healAll(): void {
    for (const r of this.#relays.values()) r.heal();
  }

  /**
   * Sends one IAMAT to a member and records the AT reply as expected state.
   *
   * @returns The AT reply line.
   */
  async iamat(name: string, client: string, time: string, location = "+34.068930-118.445127") {
    const reply = await exchange(this.real.get(name)!, `IAMAT ${client} ${location} ${time}\n`);
    const msg = parseMessage(unicodeToWire(reply.trimEnd()));
    if (msg.kind !== "AT") throw new Error(`not an AT reply: ${reply}`);
    this.expected.apply(msg.record);
    return reply;
  }

  /**
   * Names of running members whose store differs from the expected newest
   * records. Compares root digests (count and XOR of 64-bit record hashes),
   * so it is cheap enough to poll with a million records.
   */
  lagging(): string[] {
    const want = this.expected.digests.node("");
    const out: string[] = [];
    for (const [name, m] of this.members) {
      if (m.running && !sameDigest(m.store.digests.node(""), want)) out.push(name);
    }
    return out;
  }

  /** Waits until every running member holds exactly the expected newest records. */
  async converged(timeoutMs = 10000): Promise<void> {
    await waitFor(() => this.lagging().length === 0, timeoutMs, "every store converged").catch(
      (e) => {
        throw new Error(`${(e as Error).message}; lagging: ${this.lagging().join(", ")}`);
      },
    );
  }

  async stop(): Promise<void> {
    await Promise.all([...this.members.values()].map((m) => m.stop(0)));
    await Promise.all([...this.#relays.values()].map((r) => r.stop()));
  }
}

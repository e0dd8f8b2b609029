/**
 * A herd member: one listener, its client and peer connections, its record
 * store and its outgoing neighbour links. A value you can start and stop
 * in-process (`simulate` and the tests run several in one process); `serve`
 * wraps exactly one.
 *
 * @module
 */

import { findServer, type HerdConfig, neighboursOf } from "../config.ts";
import type { EventLog } from "../log.ts";
import type { PlacesProvider } from "../places/types.ts";
import type { WireText } from "../protocol/mod.ts";
import { type Clock, wallClockNs } from "./clock.ts";
import { serveConnection } from "./connection.ts";
import type { MemberContext } from "./handler.ts";
import { type PeerAddress, PeerLink } from "./peer_link.ts";
import { closeQuietly, reason } from "./socket.ts";
import { RecordStore } from "./store.ts";

/** Current listen addresses by member name; shared by the members of one process. */
export type AddressBook = Map<string, PeerAddress>;

/**
 * The address book of a config: every member where herd.toml says it listens.
 *
 * @param config The herd.
 * @returns A new map, name -> address.
 */
export function addressBookOf(config: HerdConfig): AddressBook {
  return new Map(config.servers.map((s) => [s.name, { hostname: s.host, port: s.port }]));
}

/** Options of {@linkcode Member}. */
export interface MemberOptions {
  /** The whole herd (servers, links, settings). */
  config: HerdConfig;
  /** This member's name in `config.servers`. */
  name: string;
  /** Answers WHATSAT. */
  places: PlacesProvider;
  /** Event sink. @default events dropped */
  log?: EventLog;
  /** Wall clock for skews. @default wallClockNs */
  clock?: Clock;
  /**
   * Where neighbours listen; the member writes its own address here once
   * listening, so members on port 0 find each other. @default addressBookOf(config)
   */
  addresses?: AddressBook;
  /** Uniform random in [0, 1) for redial jitter. @default Math.random */
  random?: () => number;
}

const NO_LOG: EventLog = { emit() {} };

/** A running (or stopped) herd member. */
export class Member {
  /** This member's name, as in herd.toml's `servers`. */
  readonly name: string;
  /** The member's records, one per client id. Survives stop/start of this object. */
  readonly store: RecordStore = new RecordStore();
  #opts: MemberOptions;
  #log: EventLog;
  #addresses: AddressBook;
  #listener: Deno.TcpListener | null = null;
  #links = new Map<string, PeerLink>();
  #conns = new Set<Deno.TcpConn>();
  #tasks = new Set<Promise<void>>();
  #acceptTask: Promise<void> | null = null;
  #nextConnId = 1;
  #neighbours: Set<string>;

  /**
   * Creates a stopped member; call {@linkcode Member.start} to listen and dial.
   *
   * @param opts See {@linkcode MemberOptions}.
   * @throws {RangeError} If `opts.name` is not a server of `opts.config`.
   */
  constructor(opts: MemberOptions) {
    if (findServer(opts.config, opts.name) === undefined) {
      const names = opts.config.servers.map((s) => s.name).join(", ");
      throw new RangeError(`Cannot create member: unknown server "${opts.name}"; valid: ${names}`);
    }
    this.name = opts.name;
    this.#opts = opts;
    this.#log = opts.log ?? NO_LOG;
    this.#addresses = opts.addresses ?? addressBookOf(opts.config);
    this.#neighbours = new Set(neighboursOf(opts.config, opts.name));
  }

  /** True between a successful start() and stop(). */
  get running(): boolean {
    return this.#listener !== null;
  }

  /**
   * Where the member listens.
   *
   * @throws {Error} If it is not running.
   */
  get address(): PeerAddress {
    if (this.#listener === null) throw new Error(`Cannot get address: ${this.name} is not running`);
    const a = this.#listener.addr;
    return { hostname: a.hostname, port: a.port };
  }

  /** Outgoing links by neighbour name (read-only use: state, queue length). */
  get links(): ReadonlyMap<string, PeerLink> {
    return this.#links;
  }

  /**
   * Listens, then starts dialling every neighbour. Returns once listening;
   * place data loads in the background.
   *
   * @param listen Override of herd.toml's host/port (port 0 picks a free one).
   * @returns The address it listens on.
   * @throws {Deno.errors.AddrInUse} If the port is taken.
   * @throws {Error} If already running.
   */
  start(listen?: Partial<PeerAddress>): PeerAddress {
    if (this.#listener !== null) throw new Error(`Cannot start ${this.name}: already running`);
    const own = findServer(this.#opts.config, this.name)!;
    this.#listener = Deno.listen({
      hostname: listen?.hostname ?? own.host,
      port: listen?.port ?? own.port,
      transport: "tcp",
    });
    const address = this.address;
    this.#addresses.set(this.name, address);
    this.#log.emit("info", "member.listening", {
      address: `${address.hostname}:${address.port}`,
      neighbours: [...this.#neighbours].join(","),
    });
    this.#opts.places.warm?.();
    const settings = this.#opts.config.settings;
    for (const peer of this.#neighbours) {
      const link = new PeerLink({
        self: this.name,
        peer,
        addressOf: (n) => this.#addresses.get(n),
        redialMinMs: settings.redialMinMs,
        redialMaxMs: settings.redialMaxMs,
        queueLimit: settings.peerQueueLimit,
        log: this.#log,
        random: this.#opts.random,
      });
      this.#links.set(peer, link);
      link.start();
    }
    this.#acceptTask = this.#accept(this.#listener);
    return address;
  }

  /**
   * Stops: closes the listener, every connection and link, and waits until
   * nothing of the member is pending. Records are kept (see `store`).
   */
  async stop(): Promise<void> {
    const listener = this.#listener;
    if (listener === null) return;
    this.#listener = null;
    closeQuietly(listener);
    for (const conn of this.#conns) closeQuietly(conn);
    await Promise.all([...this.#links.values()].map((l) => l.stop()));
    this.#links.clear();
    await this.#acceptTask;
    await Promise.all(this.#tasks);
    await this.#opts.places.settled?.();
    this.#log.emit("info", "member.stopped", { records: this.store.size });
  }

  #context(): MemberContext {
    return {
      name: this.name,
      store: this.store,
      links: this.#links,
      places: this.#opts.places,
      clock: this.#opts.clock ?? wallClockNs,
      log: this.#log,
      isNeighbour: (n: WireText) => this.#neighbours.has(n),
    };
  }

  async #accept(listener: Deno.TcpListener): Promise<void> {
    const ctx = this.#context();
    const maxLineBytes = this.#opts.config.settings.maxLineBytes;
    const peerLineBytes = peerLineBytesOf(this.#opts.config);
    while (this.#listener === listener) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (this.#listener !== listener) break; // closed by stop()
        // EMFILE and friends: the listener is still good; back off and go on.
        this.#log.emit("error", "error", { reason: `accept failed: ${reason(e)}` });
        await new Promise((r) => setTimeout(r, ACCEPT_RETRY_MS));
        continue;
      }
      if (this.#listener !== listener) {
        closeQuietly(conn); // accepted while stopping: stop() has already swept #conns
        break;
      }
      const id = this.#nextConnId++;
      this.#conns.add(conn);
      const task = serveConnection(conn, ctx, { id, maxLineBytes, peerLineBytes }).finally(() => {
        this.#conns.delete(conn);
        this.#tasks.delete(task);
      });
      this.#tasks.add(task);
    }
  }
}

/** Pause after a failed accept (e.g. out of file descriptors), ms. */
const ACCEPT_RETRY_MS = 50;

/**
 * Line limit on a neighbour's connection, bytes: an AT line is its IAMAT with
 * `IAMAT` replaced by `AT <origin> <skew>`, and the skew has at most as many
 * digits as the client time (+ sign, point, 9 decimals), so twice the client
 * limit plus the longest server name and some slack always fits.
 *
 * @param config The herd.
 * @returns The limit in bytes.
 */
export function peerLineBytesOf(config: HerdConfig): number {
  const longestName = Math.max(0, ...config.servers.map((s) => s.name.length));
  return 2 * config.settings.maxLineBytes + longestName + 64;
}

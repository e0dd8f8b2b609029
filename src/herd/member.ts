/**
 * A herd member: its listener (and, with `peer_port`, a second one for
 * neighbours only), its client and peer connections, its record store and
 * its outgoing neighbour links. A value you can start and stop in-process
 * (`simulate` and the tests run several in one process); `serve` wraps
 * exactly one.
 *
 * With a peer port (PROTOCOL.md section 1), the client port answers a hello
 * with `? ` like any unknown line, and the peer port takes nothing but
 * hellos: a connection there whose first line is not an accepted hello gets
 * `? <line>` and is closed, and one that says nothing is closed after
 * `WELCOME_TIMEOUT_MS` (10 s). Neighbours dial the peer port (the address book holds
 * where each member is dialled), so no other process holds a socket on the
 * client port.
 *
 * Each accepted connection passes the limits of limits.ts first
 * (`max_connections`, the reserve for neighbours, the per-source cap): it is
 * served, admitted on probation (a hello first, or it goes), or closed at
 * once; refusals are logged as `conn.refused`, at most once a second per
 * reason. Its session paces a client over `max_lines_per_s`.
 *
 * @module
 */

import {
  checkPeerSecret,
  findServer,
  type HerdConfig,
  neighboursOf,
  peerAddressOf,
  type ServerConfig,
} from "../config.ts";
import type { EventLog } from "../log.ts";
import type { PlacesProvider } from "../places/types.ts";
import {
  compareDecimal,
  expiryCutoff,
  formatErase,
  formatPosixTime,
  isOlderThan,
  parseDecimal,
  type Tombstone,
  type WireText,
  wireToDisplay,
} from "../protocol/mod.ts";
import { acceptRecord, type RecordObserver, type RecordSink } from "./accept.ts";
import { openingDigest } from "./anti_entropy.ts";
import { hostAuth, type PeerAuth, secretAuth } from "./auth.ts";
import {
  type Clock,
  sleepOn,
  systemTimers,
  type TimerClock,
  type TimerId,
  wallClockNs,
} from "./clock.ts";
import { BroadcastTree, spanningTree } from "./broadcast_tree.ts";
import {
  KEEPALIVE_HELLO_KEY,
  type ListenerKind,
  type MemberView,
  TREE_HELLO_PARAM,
} from "./dispatch.ts";
import {
  type Admission,
  admit,
  type ConnectionLimits,
  connectionLimits,
  type ListenerCounts,
  PROBATION_MS,
  type RefusalReason,
} from "./limits.ts";
import { type ExpiredObserver, EXPIRY_BATCH, type ExpirySink, sweepExpired } from "./expiry.ts";
import { flushLinks } from "./flood.ts";
import { PeerLink, WELCOME_TIMEOUT_MS } from "./peer_link.ts";
import { RecordFile } from "./persistence.ts";
import {
  freshActivity,
  type LineResult,
  type LineSource,
  runSession,
  serveLine,
  type SessionActivity,
  type SessionPort,
} from "./session.ts";
import { closeQuietly, reason } from "./socket.ts";
import { RecordStore } from "./store.ts";
import {
  type Conn,
  type Dial,
  type Listen,
  type Listener,
  type PeerAddress,
  tcpListen,
} from "./transport.ts";

/** What anti-entropy has cost a member so far. */
export interface SyncCounters {
  /** DIGEST lines answered. */
  digests: number;
  /** Bytes of anti-entropy traffic this member sent (DIGEST, WANT and AT lines it answered with). */
  bytesSent: number;
  /** Records sent in answers. */
  recordsSent: number;
}

/** What {@linkcode Member.erase} did. */
export interface EraseResult {
  /** The tombstone's line, `ERASE <origin> <client-id> <time>`, wire text, no terminator. */
  readonly line: WireText;
  /** True if this member held a record of the client (it is gone now). */
  readonly held: boolean;
  /** True if the tombstone was stored (and flooded): false if an equal or newer one was held. */
  readonly stored: boolean;
}

/**
 * Where each member is dialled by its neighbours, by member name: its peer listener when it has
 * a peer port, else its one port. Shared by the members of one process, so that members on
 * port 0 find each other (each writes its own bound address once listening).
 */
export type AddressBook = Map<string, PeerAddress>;

/**
 * The address book of a config: every member where herd.toml says neighbours dial it
 * (`peerAddressOf`: its `peer_host`/`peer_port` when set, else `host`/`port`).
 *
 * @param config The herd.
 * @returns A new map, name -> address.
 */
export function addressBookOf(config: HerdConfig): AddressBook {
  return new Map(config.servers.map((s) => [s.name, peerAddressOf(s)]));
}

/**
 * The peer listener of {@linkcode Member.start} could not listen; the client listener it had
 * opened is closed again. `cause` is the listen error (e.g. `Deno.errors.AddrInUse`).
 */
export class PeerPortError extends Error {
  /** Always `PeerPortError`. */
  override name = "PeerPortError";

  /**
   * Creates a PeerPortError.
   *
   * @param address Where the peer listener tried to listen.
   * @param cause The listen error.
   */
  constructor(
    /** Where the peer listener tried to listen. */
    readonly address: PeerAddress,
    cause: unknown,
  ) {
    super(`Cannot listen on peer port ${address.hostname}:${address.port}: ${reason(cause)}`, {
      cause,
    });
  }
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
  /**
   * Peer authentication. @default HMAC with `config.settings.secret` if set, else
   * source-address checks against herd.toml
   */
  auth?: PeerAuth;
  /** Opens connections to neighbours. @default TCP */
  dial?: Dial;
  /** Opens the member's (client) listener. @default TCP */
  listen?: Listen;
  /**
   * Opens the peer listener of a member with a `peer_port`; the one place to wrap it (TLS).
   * @default `listen`, else TCP
   */
  peerListen?: Listen;
  /**
   * Monotonic time and timers: redial backoff, dial and welcome deadlines, idle sweep,
   * periodic anti-entropy, drain, write deadlines. @default systemTimers
   */
  timers?: TimerClock;
}

const NO_LOG: EventLog = { emit() {} };

/** A running (or stopped) herd member. */
export class Member {
  /** This member's name, as in herd.toml's `servers`. */
  readonly name: string;
  /**
   * The member's records, one per client id. Survives stop/start of this object. Ordered by
   * client time as well when records expire (`record_ttl_s`).
   */
  readonly store: RecordStore;
  #opts: MemberOptions;
  #log: EventLog;
  #addresses: AddressBook;
  #listener: Listener | null = null;
  /** The peer listener, between start() and stop() of a member with a peer port. */
  #peerListener: Listener | null = null;
  /** This member's entry in herd.toml. */
  #server: ServerConfig;
  /** Told of every stored record (accept.ts). */
  readonly #observers = new Set<RecordObserver>();
  /** Told of every record the expiry sweep drops (expiry.ts). */
  readonly #expiredObservers = new Set<ExpiredObserver>();
  /** What the expiry sweep touches. */
  #expirySink: ExpirySink;
  /** The wall clock (skews, expiry). */
  #clock: Clock;
  /** A sweep's next batch, when the last one hit EXPIRY_BATCH. */
  #sweepTimer: TimerId | undefined;
  /** The stop under way, if any. */
  #stopping: Promise<void> | null = null;
  /** When the drain of the stop under way gives up, ms on `#timers`. */
  #drainDeadline = 0;
  #links = new Map<string, PeerLink>();
  /** Accepted connections, on either listener. */
  #conns = new Map<Conn, Accepted>();
  #tasks = new Set<Promise<void>>();
  #acceptTasks: Promise<void>[] = [];
  #nextConnId = 1;
  #neighbours: Set<string>;
  #auth: PeerAuth;
  #sync: SyncCounters = { digests: 0, bytesSent: 0, recordsSent: 0 };
  #timers: TimerClock;
  #intervals: TimerId[] = [];
  /** Refusals not yet logged, and when each reason was last logged (`conn.refused`). */
  #refusals = new Map<RefusalReason, { count: number; loggedMs: number }>();
  /** Connection limits (limits.ts). */
  #limits: ConnectionLimits;
  /** Addresses herd.toml gives this member's neighbours (host and peer_host). */
  #neighbourHosts: Set<string>;
  #file: RecordFile | null = null;
  /** What the dispatcher reads of this member. */
  #view: MemberView;
  /** What sessions change in this member; built once, it holds only lasting references. */
  #port: SessionPort;
  /**
   * When bytes last came from each neighbour, on either connection with it (`timers.nowMs()`):
   * keepalive drops a connection only when the neighbour is silent on both, so a link whose
   * PONG waits behind a large repair the neighbour is still reading stays up.
   */
  readonly #heardFrom = new Map<string, number>();
  /** What accepting a record touches. */
  #sink: RecordSink;
  /** Line limit once a connection is a neighbour's ({@linkcode peerLineBytesOf}). */
  #peerLineBytes: number;
  /** The epidemic broadcast tree, when `[herd] dissemination = "tree"`. */
  #tree: BroadcastTree | null = null;

  /**
   * Creates a stopped member; call {@linkcode Member.start} to listen and dial.
   *
   * @param opts See {@linkcode MemberOptions}.
   * @throws {RangeError} If `opts.name` is not a server of `opts.config`.
   * @throws {ConfigError} If a server has a peer port and neither a secret nor `opts.auth` is
   *   given (checkPeerSecret): a peer port without HMAC hellos would trust anyone.
   */
  constructor(opts: MemberOptions) {
    const server = findServer(opts.config, opts.name);
    if (server === undefined) {
      const names = opts.config.servers.map((s) => s.name).join(", ");
      throw new RangeError(`Cannot create member: unknown server "${opts.name}"; valid: ${names}`);
    }
    if (opts.auth === undefined || opts.auth.mode === "host") checkPeerSecret(opts.config);
    this.#server = server;
    this.name = opts.name;
    this.#opts = opts;
    this.#log = opts.log ?? NO_LOG;
    this.#addresses = opts.addresses ?? addressBookOf(opts.config);
    this.#neighbours = new Set(neighboursOf(opts.config, opts.name));
    this.#limits = connectionLimits(opts.config.settings, this.#neighbours.size);
    this.#neighbourHosts = new Set(
      opts.config.servers.filter((s) => this.#neighbours.has(s.name)).flatMap((s) =>
        [s.host, s.peerHost ?? s.host].map((h) => h.toLowerCase())
      ),
    );
    const secret = opts.config.settings.secret;
    this.#auth = opts.auth ?? (secret === undefined ? hostAuth(opts.config) : secretAuth(secret));
    this.#timers = opts.timers ?? systemTimers;
    this.#peerLineBytes = peerLineBytesOf(opts.config);
    const settings = opts.config.settings;
    this.#clock = opts.clock ?? wallClockNs;
    // The time index costs a heap update per stored record: only when records expire.
    this.store = new RecordStore({ timeIndex: settings.recordTtlS > 0 });
    const store = this.store;
    if (settings.dissemination === "tree") {
      const start = spanningTree(opts.config.servers.map((s) => s.name), opts.config.links);
      const name = this.name;
      this.#tree = new BroadcastTree({
        links: this.#links,
        neighbours: this.#neighbours,
        treeNeighbours: new Set(
          [...this.#neighbours].filter((n) => start.has([name, n].sort().join(" "))),
        ),
        store,
        timers: this.#timers,
        lazyPushMs: settings.lazyPushMs,
        graftTimeoutMs: settings.graftTimeoutMs,
        maxLineBytes: this.#peerLineBytes,
        log: this.#log,
      });
    }
    this.#view = {
      name: this.name,
      store: this.store,
      places: opts.places,
      auth: this.#auth,
      isNeighbour: (n: WireText) => this.#neighbours.has(n),
      helloParams: [
        ...(this.#tree === null ? [] : [[...TREE_HELLO_PARAM] as [string, string]]),
        ...(settings.peerTimeoutMs > 0
          ? [[KEEPALIVE_HELLO_KEY, String(settings.peerTimeoutMs)] as [string, string]]
          : []),
      ],
      recordTtlS: settings.recordTtlS,
    };
    this.#expirySink = {
      store: this.store,
      unpersist: (ids) => this.#file?.delete(ids),
      log: this.#log,
      observers: this.#expiredObservers,
    };
    this.#sink = {
      store: this.store,
      // The record file is open between start() and stop() when data_dir is set.
      persist: (id, line) => this.#file?.save(id, line),
      links: this.#links,
      tree: this.#tree,
      log: this.#log,
      observers: this.#observers,
    };
    const tree = this.#tree;
    const links = this.#links;
    const sync = this.#sync;
    const sink = this.#sink;
    const heardFrom = this.#heardFrom;
    this.#port = {
      view: this.#view,
      clock: this.#clock,
      timers: this.#timers,
      log: this.#log,
      accept: (record, line, from, marked) => acceptRecord(sink, record, line, from, marked),
      tree: (from, message) => {
        if (tree !== null) tree.receive(from, message);
      },
      treeCopy: (from, line) => {
        if (tree !== null) tree.copy(from, line);
      },
      neighbourBack: (n) => links.get(n)?.redialNow(),
      flushLinks: () => flushLinks(links),
      synced(digests, bytes, records) {
        sync.digests += digests;
        sync.bytesSent += bytes;
        sync.recordsSent += records;
      },
      heard: (peer, nowMs) => heardFrom.set(peer, nowMs),
      lastHeard: (peer) => heardFrom.get(peer),
    };
  }

  /**
   * Calls `observer` for every record this member stores from now on, whatever
   * its source (a client over TCP or HTTP, a flood, anti-entropy), right after
   * it was stored, persisted and disseminated. It must not block.
   *
   * @param observer Called synchronously; an exception is logged and skipped.
   * @returns A function that stops the calls.
   */
  observe(observer: RecordObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /**
   * Calls `observer` for every record the expiry sweep drops from now on
   * (`record_ttl_s`), right after it left the store and the record file. It
   * must not block.
   *
   * @param observer Called synchronously; an exception is logged and skipped.
   * @returns A function that stops the calls.
   */
  observeExpired(observer: ExpiredObserver): () => void {
    this.#expiredObservers.add(observer);
    return () => this.#expiredObservers.delete(observer);
  }

  /**
   * Serves one client line that arrived by another face (the HTTP API) exactly
   * as a line on a TCP client connection: logged, dispatched, its record
   * accepted and disseminated, its reply logged (session.ts `serveLine`).
   *
   * @param source The client, for the log.
   * @param line A client line, wire text, no terminator.
   * @returns The reply a TCP client would have read, and whether a record was stored.
   */
  submit(source: LineSource, line: WireText): Promise<LineResult> {
    return serveLine(this.#port, source, line);
  }

  /**
   * Erases a client from the herd (docs/PROTOCOL.md, "Erasure"): accepts a tombstone
   * `ERASE <this member> <client-id> <time>` as it would a record (stored in place of the
   * client's record, persisted, flooded to every neighbour, told to observers), then flushes
   * the links and logs `record.erased`. The time is this member's clock, or the held entry's
   * time if that is later (a client whose clock runs ahead), so the tombstone outranks the
   * record held now under last-writer-wins (a tie goes to the tombstone). A client this member
   * does not know gets a tombstone too: its record may be elsewhere in the herd, or on its way.
   *
   * @param source Who asked, for the log.
   * @param clientId The client, wire text.
   * @returns The tombstone line, whether a record was held, whether the tombstone was stored.
   */
  erase(source: LineSource, clientId: WireText): EraseResult {
    const now = formatPosixTime(this.#port.clock());
    const heldTime = this.store.time(clientId);
    const time = heldTime !== undefined &&
        compareDecimal(parseDecimal(heldTime), parseDecimal(now)) > 0
      ? heldTime
      : now;
    const tombstone: Tombstone = {
      erased: true,
      origin: this.name,
      clientId,
      clientTime: parseDecimal(time),
      clientTimeText: time,
    };
    const line = formatErase(tombstone);
    const held = this.store.get(clientId) !== undefined;
    const stored = this.#port.accept(tombstone, line, null, false);
    this.#port.flushLinks();
    this.#log.emit("info", "record.erased", {
      conn: source.id,
      remote: source.remote,
      via: source.via,
      client: wireToDisplay(clientId),
      time,
      held,
      stored,
    });
    return { line, held, stored };
  }

  /** The member's broadcast tree, or `null` when it floods (`[herd] dissemination`). */
  get tree(): BroadcastTree | null {
    return this.#tree;
  }

  /** Anti-entropy counters (what reconciliation has sent so far). */
  get sync(): Readonly<SyncCounters> {
    return this.#sync;
  }

  /** Open connections (clients and neighbours' links to us, on either listener). */
  get connections(): number {
    return this.#conns.size;
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

  /**
   * Where the member's peer listener listens, or `null` for a member without a peer port.
   *
   * @throws {Error} If it is not running.
   */
  get peerAddress(): PeerAddress | null {
    if (this.#listener === null) {
      throw new Error(`Cannot get peer address: ${this.name} is not running`);
    }
    if (this.#peerListener === null) return null;
    const a = this.#peerListener.addr;
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
   * @param peerListen Override of herd.toml's peer_host/peer_port, for a member with a peer port
   *   (port 0 picks a free one); ignored without one.
   * @returns The (client) address it listens on; see also {@linkcode Member.peerAddress}.
   * @throws {Deno.errors.AddrInUse} If the port is taken.
   * @throws {PeerPortError} If the peer port cannot be listened on (taken, say).
   * @throws {Error} If already running, or if `data_dir` is set and the record file cannot be
   *   opened.
   */
  start(listen?: Partial<PeerAddress>, peerListen?: Partial<PeerAddress>): PeerAddress {
    if (this.#listener !== null) throw new Error(`Cannot start ${this.name}: already running`);
    const own = this.#server;
    const settings = this.#opts.config.settings;
    if (settings.dataDir !== undefined) this.#loadFile(settings.dataDir);
    let listener: Listener;
    try {
      listener = (this.#opts.listen ?? tcpListen)({
        hostname: listen?.hostname ?? own.host,
        port: listen?.port ?? own.port,
      });
    } catch (e) {
      this.#closeFile();
      throw e;
    }
    let peerListener: Listener | null = null;
    if (own.peerPort !== undefined) {
      const at = peerAddressOf(own);
      const want = {
        hostname: peerListen?.hostname ?? at.hostname,
        port: peerListen?.port ?? at.port,
      };
      try {
        peerListener = this.#listenPeer(want);
      } catch (e) {
        closeQuietly(listener);
        this.#closeFile();
        throw new PeerPortError(want, e);
      }
    }
    this.#listener = listener;
    this.#peerListener = peerListener;
    const address = this.address;
    const peerAddress = this.peerAddress;
    this.#addresses.set(this.name, peerAddress ?? address);
    this.#log.emit("info", "member.listening", {
      address: `${address.hostname}:${address.port}`,
      peerAddress: peerAddress === null ? undefined : `${peerAddress.hostname}:${peerAddress.port}`,
      neighbours: [...this.#neighbours].join(","),
    });
    if (this.#auth.mode === "host" && this.#neighbours.size > 0) {
      this.#log.emit("warning", "member.unauthenticated", {
        reason: "no [herd] secret or HERD_SECRET: neighbours are trusted by source address only",
      });
    }
    this.#opts.places.warm?.();
    for (const peer of this.#neighbours) {
      const link: PeerLink = new PeerLink({
        peer,
        addressOf: (n) => this.#addresses.get(n),
        redialMinMs: settings.redialMinMs,
        redialMaxMs: settings.redialMaxMs,
        queueLimit: settings.peerQueueLimit,
        maxLineBytes: this.#peerLineBytes,
        writeTimeoutMs: settings.writeTimeoutMs,
        log: this.#log,
        random: this.#opts.random,
        session: this.#port,
        nextConnId: () => this.#nextConnId++,
        dial: this.#opts.dial,
        timers: this.#timers,
        peerTimeoutMs: settings.peerTimeoutMs,
        onWelcome: () => {
          this.#tree?.linkUp(peer, link.tree);
          this.#reconcile(link, "link up");
        },
        onDrained: () => this.#reconcile(link, "queue overflowed"),
      });
      this.#links.set(peer, link);
      link.start();
    }
    if (settings.syncIntervalMs > 0) {
      this.#intervals.push(this.#timers.setInterval(() => {
        for (const link of this.#links.values()) {
          if (link.state === "welcomed") this.#reconcile(link, "periodic");
        }
      }, settings.syncIntervalMs));
    }
    if (settings.recordTtlS > 0) {
      // Records held from before a stop may have expired meanwhile.
      this.#sweep();
      this.#intervals.push(this.#timers.setInterval(() => {
        if (this.#sweepTimer === undefined) this.#sweep();
      }, settings.expirySweepMs));
    }
    if (settings.clientIdleMs > 0) {
      const sweepMs = Math.max(10, Math.min(1000, settings.clientIdleMs / 4));
      this.#intervals.push(
        this.#timers.setInterval(() => this.#closeIdle(settings.clientIdleMs), sweepMs),
      );
    }
    if (settings.peerTimeoutMs > 0) this.#watchPeers(settings.peerTimeoutMs);
    this.#acceptTasks = [this.#accept(listener, peerListener === null ? "shared" : "client")];
    if (peerListener !== null) this.#acceptTasks.push(this.#accept(peerListener, "peer"));
    return address;
  }

  /**
   * Opens the peer listener: the one place it is created, so that wrapping it (TLS) is one
   * change (`MemberOptions.peerListen`).
   */
  #listenPeer(addr: PeerAddress): Listener {
    return (this.#opts.peerListen ?? this.#opts.listen ?? tcpListen)(addr);
  }

  /**
   * Opens the record file and loads it into the store (not written back: it is there), but
   * for the rows already expired, which it deletes.
   */
  #loadFile(dir: string): void {
    const file = RecordFile.open(dir, this.name);
    const cutoff = expiryCutoff(this.#clock(), this.#opts.config.settings.recordTtlS);
    let loaded: { records: number; skipped: number; expired: number };
    try {
      loaded = file.loadInto(
        this.store,
        cutoff === null ? undefined : (time) => isOlderThan(time, cutoff),
      );
    } catch (e) {
      file.close();
      throw e;
    }
    this.#file = file;
    this.#log.emit("info", "member.loaded", { file: file.path, ...loaded });
  }

  /**
   * Drops the expired records (expiry.ts), a batch at a time: a full batch schedules the next
   * at once, on the member's timers, so a large sweep never holds the event loop long.
   */
  #sweep(): void {
    this.#sweepTimer = undefined;
    const n = sweepExpired(this.#expirySink, this.#clock(), this.#opts.config.settings.recordTtlS);
    if (n === EXPIRY_BATCH && this.#listener !== null) {
      this.#sweepTimer = this.#timers.setTimeout(() => this.#sweep(), 0);
    }
  }

  /** Starts a reconciliation on a link (see anti_entropy.ts): sends our root digest. */
  #reconcile(link: PeerLink, why: string): void {
    const text = openingDigest(this.store);
    this.#sync.bytesSent += text.length;
    link.sendSync(text);
    this.#log.emit("info", "sync.start", {
      peer: link.peer,
      reason: why,
      records: this.store.size,
    });
  }

  /** Closes the record file; records are in memory only from now on. */
  #closeFile(): void {
    this.#file?.close();
    this.#file = null;
  }

  /** Closes client connections idle for `idleMs`. */
  #closeIdle(idleMs: number): void {
    const now = this.#timers.nowMs();
    for (const [conn, { activity }] of this.#conns) {
      if (activity.peer || activity.busy || now - activity.lastActiveMs < idleMs) continue;
      activity.closeReason = `idle for ${idleMs} ms`;
      closeQuietly(conn);
    }
  }

  /**
   * Drops neighbours' connections to us that stay silent past their keepalive (a frozen dialler:
   * its link would have pinged): the timeout is the larger of ours and the one its hello
   * announced; a neighbour that announced none is never dropped for silence. Checked every
   * quarter of the timeout; a check that comes late by more than half of it means this member's
   * own event loop stalled, so that round drops nothing (the neighbours' bytes may be unread).
   */
  #watchPeers(timeoutMs: number): void {
    const everyMs = Math.max(10, timeoutMs / 4);
    let lastMs = this.#timers.nowMs();
    this.#intervals.push(this.#timers.setInterval(() => {
      const now = this.#timers.nowMs();
      const late = now - lastMs - everyMs > timeoutMs / 2;
      lastMs = now;
      if (late) return;
      for (const [conn, { activity }] of this.#conns) {
        if (!activity.peer || activity.keepaliveMs === 0 || activity.busy) continue;
        const limitMs = Math.max(timeoutMs, activity.keepaliveMs);
        const either = activity.peerName === undefined
          ? undefined
          : this.#heardFrom.get(activity.peerName);
        if (now - Math.max(activity.heardMs, either ?? -Infinity) < limitMs) continue;
        activity.closeReason = "timeout";
        closeQuietly(conn);
      }
    }, everyMs));
  }

  /**
   * Stops: closes the listener, lets replies in progress and queued floods go
   * out for up to `drainMs` (default `[herd] drain_ms`), then closes every
   * connection and link and waits until nothing of the member is pending.
   * Records are kept (see `store`).
   *
   * A call while a stop is under way returns that stop's promise, and cuts
   * its drain to at most `drainMs` from now (a second Ctrl-C passes 0).
   *
   * @param drainMs Longest wait for the drain, ms; 0 closes at once.
   */
  stop(drainMs: number = this.#opts.config.settings.drainMs): Promise<void> {
    const cut = this.#timers.nowMs() + drainMs;
    if (this.#stopping !== null) {
      this.#drainDeadline = Math.min(this.#drainDeadline, cut);
      return this.#stopping;
    }
    const listener = this.#listener;
    if (listener === null) return Promise.resolve();
    this.#drainDeadline = cut;
    this.#stopping = this.#stop(listener).finally(() => this.#stopping = null);
    return this.#stopping;
  }

  async #stop(listener: Listener): Promise<void> {
    this.#listener = null;
    closeQuietly(listener);
    if (this.#peerListener !== null) closeQuietly(this.#peerListener);
    this.#peerListener = null;
    for (const t of this.#intervals) this.#timers.clearInterval(t);
    this.#intervals = [];
    this.#timers.clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    await this.#drain();
    for (const conn of this.#conns.keys()) closeQuietly(conn);
    await Promise.all([...this.#links.values()].map((l) => l.stop()));
    this.#links.clear();
    this.#tree?.stop();
    await Promise.all(this.#acceptTasks);
    this.#acceptTasks = [];
    await Promise.all(this.#tasks);
    await this.#opts.places.settled?.();
    this.#closeFile();
    this.#log.emit("info", "member.stopped", { records: this.store.size });
  }

  /** Waits until no connection is mid-reply and no link has lines queued, or the drain deadline. */
  async #drain(): Promise<void> {
    if (this.#timers.nowMs() >= this.#drainDeadline) return;
    for (const [conn, { activity }] of this.#conns) {
      activity.draining = true;
      if (!activity.busy) closeQuietly(conn);
    }
    const pending = () =>
      [...this.#conns.values()].some((a) => a.activity.busy) ||
      [...this.#links.values()].some((l) => l.state === "welcomed" && l.queued > 0);
    while (pending() && this.#timers.nowMs() < this.#drainDeadline) {
      await sleepOn(this.#timers, DRAIN_POLL_MS);
    }
  }

  /** Accepts connections on one listener until stop() closes it. */
  async #accept(listener: Listener, kind: ListenerKind): Promise<void> {
    const open = () => (kind === "peer" ? this.#peerListener : this.#listener) === listener;
    while (open()) {
      let conn: Conn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (!open()) break; // closed by stop()
        // EMFILE and friends: the listener is still good; back off and go on.
        this.#log.emit("error", "error", { reason: `accept failed: ${reason(e)}` });
        await sleepOn(this.#timers, ACCEPT_RETRY_MS);
        continue;
      }
      if (!open()) {
        closeQuietly(conn); // accepted while stopping: stop() has already swept #conns
        break;
      }
      const host = conn.remoteAddr.hostname;
      // Below every limit even counting all connections: no need to count them one by one.
      let admission = this.#conns.size < this.#quickLimit(kind) ? SERVE : admit(
        kind,
        this.#counts(kind, host),
        this.#limits,
        this.#neighbourHosts.has(host.toLowerCase()),
      );
      if (admission.kind === "refuse" && admission.reason === "peer port full") {
        // Strangers must not lock neighbours out of the peer port: the one waiting longest for
        // its hello makes room (a neighbour says its hello at once, so it gets in).
        const oldest = this.#oldestStranger("peer");
        if (oldest !== undefined) {
          const [stale, accepted] = oldest;
          accepted.activity.closeReason = "peer port full: the oldest stranger made room";
          closeQuietly(stale);
          this.#refusedOne("peer port full", stale.remoteAddr.hostname);
          admission = SERVE;
        }
      }
      if (admission.kind === "refuse") {
        closeQuietly(conn);
        this.#refusedOne(admission.reason, `${host}:${conn.remoteAddr.port}`);
        continue;
      }
      const task = this.#serve(conn, kind, admission).finally(() => {
        this.#conns.delete(conn);
        this.#tasks.delete(task);
      });
      this.#tasks.add(task);
    }
  }

  /** The connection on listener `kind` accepted first of those with no accepted hello, if any. */
  #oldestStranger(kind: ListenerKind): [Conn, Accepted] | undefined {
    // A Map iterates in insertion order: the first stranger found is the oldest.
    for (const entry of this.#conns) {
      if (entry[1].listener === kind && !entry[1].activity.peer) return entry;
    }
    return undefined;
  }

  /** A number of connections in all below which listener `kind` reaches none of its limits. */
  #quickLimit(kind: ListenerKind): number {
    const l = this.#limits;
    if (kind === "peer") return l.peerPort;
    return Math.min(l.maxConnections, l.maxStrangers, l.perSource > 0 ? l.perSource : Infinity);
  }

  /** What listener `kind` holds now, for {@linkcode admit}; `host` is the new connection's. */
  #counts(kind: ListenerKind, host: string): ListenerCounts {
    const counts: ListenerCounts = { all: 0, strangers: 0, strangersFromSource: 0 };
    for (const a of this.#conns.values()) {
      if (a.listener !== kind) continue;
      counts.all++;
      if (a.activity.peer) continue;
      counts.strangers++;
      if (a.host === host) counts.strangersFromSource++;
    }
    return counts;
  }

  /** Runs an accepted connection's session, then closes it and logs why it ended. */
  async #serve(conn: Conn, kind: ListenerKind, admission: Admission): Promise<void> {
    const settings = this.#opts.config.settings;
    const id = this.#nextConnId++;
    const remote = `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`;
    const activity = freshActivity(this.#timers.nowMs(), false);
    this.#conns.set(conn, { activity, listener: kind, host: conn.remoteAddr.hostname });
    const probation = admission.kind === "probation" ? admission.reason : undefined;
    this.#log.emit("debug", "conn.open", { conn: id, remote, listener: kind, probation });
    // A peer port holds neighbours only, and a connection on probation must prove it is one:
    // a stranger that does not say hello in time goes.
    const helloMs = probation !== undefined ? PROBATION_MS : WELCOME_TIMEOUT_MS;
    const helloTimer = kind !== "peer" && probation === undefined
      ? undefined
      : this.#timers.setTimeout(() => {
        if (activity.peer) return;
        activity.closeReason = probation ?? `no hello within ${helloMs} ms`;
        closeQuietly(conn);
      }, helloMs);
    const end = await runSession(conn, this.#port, {
      id,
      role: "listener",
      listener: kind,
      probation,
      maxLinesPerS: settings.maxLinesPerS,
      maxLineBytes: settings.maxLineBytes,
      peerLineBytes: this.#peerLineBytes,
      writeTimeoutMs: settings.writeTimeoutMs,
      activity,
    });
    if (helloTimer !== undefined) this.#timers.clearTimeout(helloTimer);
    closeQuietly(conn);
    if (probation !== undefined && end.peer === null) this.#refusedOne(probation, remote);
    // A neighbour's connection closed for silence (keepalive) is as worth seeing as its loss.
    const level = end.enforced && end.peer !== null
      ? "warning"
      : end.enforced
      ? "info"
      : end.peer === null || end.closedByMember
      ? "debug"
      : "warning";
    this.#log.emit(level, "conn.close", {
      conn: id,
      remote,
      peer: end.peer ?? undefined,
      reason: end.reason,
    });
  }

  /**
   * Logs a refused connection: at most one `conn.refused` a second per reason, with the count
   * since the last one of that reason and the address of the last refused.
   */
  #refusedOne(why: RefusalReason, remote: string): void {
    let r = this.#refusals.get(why);
    if (r === undefined) this.#refusals.set(why, r = { count: 0, loggedMs: -Infinity });
    r.count++;
    const now = this.#timers.nowMs();
    if (now - r.loggedMs < REFUSED_LOG_INTERVAL_MS) return;
    r.loggedMs = now;
    const limits = this.#limits;
    const limit = why === "over max_connections"
      ? limits.maxConnections
      : why === "reserved for peers"
      ? limits.maxStrangers
      : why === "per source"
      ? limits.perSource
      : limits.peerPort;
    this.#log.emit("warning", "conn.refused", { reason: why, limit, refused: r.count, remote });
    r.count = 0;
  }
}

/** An accepted connection, as the member counts it. */
interface Accepted {
  /** Shared with its session. */
  readonly activity: SessionActivity;
  /** The listener that accepted it. */
  readonly listener: ListenerKind;
  /** Its source address (the per-source cap's key). */
  readonly host: string;
}

/** The admission of a connection under every limit. */
const SERVE: Admission = { kind: "serve" };

/** Shortest interval between two `conn.refused` events, ms (each counts the refusals since). */
const REFUSED_LOG_INTERVAL_MS = 1000;

/** Pause after a failed accept (e.g. out of file descriptors), ms. */
const ACCEPT_RETRY_MS = 50;

/** How often a stopping member checks whether its drain is done, ms. */
const DRAIN_POLL_MS = 10;

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

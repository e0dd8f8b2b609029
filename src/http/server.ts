/**
 * A member's HTTP face: `Deno.serve` with the app of app.ts, the geo index
 * and the stream hub kept up to date by observing every record the member
 * stores, and the rates `/v1/herd` reports.
 *
 * @module
 */

import type { HerdConfig } from "../config.ts";
import { ClientIndex } from "../geo/mod.ts";
import type {
  EraseResult,
  ExpiredRecord,
  LineResult,
  LineSource,
  PeerLink,
  RecordStore,
  StoredRecord,
} from "../herd/mod.ts";
import { type MemberTls, RECOVER_MS } from "../herd/tls.ts";
import type { EventLog } from "../log.ts";
import type { PlacesProvider } from "../places/types.ts";
import { isTombstone, parseIso6709, type WireText, wireToDisplay } from "../protocol/mod.ts";
import { buildApp, type HerdRates, type HttpMetrics } from "./app.ts";
import { type RecordJson, recordJson } from "./records.ts";
import { StreamHub } from "./stream_hub.ts";

/** What the face needs of its member (a `Member` has all of it). */
export interface FacedMember {
  /** Name. */
  readonly name: string;
  /** Records. */
  readonly store: RecordStore;
  /** Links by neighbour name. */
  readonly links: ReadonlyMap<string, PeerLink>;
  /** True while listening. */
  readonly running: boolean;
  /** Serves a client line as a TCP client's. */
  submit(source: LineSource, line: WireText): Promise<LineResult>;
  /** Erases a client from the herd (`Member.erase`). */
  erase(source: LineSource, clientId: WireText): EraseResult;
  /** Calls `observer` for every stored record; returns the unsubscribe. */
  observe(observer: (stored: StoredRecord) => void): () => void;
  /**
   * Calls `observer` for every record the expiry sweep drops (`record_ttl_s`); returns the
   * unsubscribe. @default none: records never expire
   */
  observeExpired?(observer: (expired: ExpiredRecord) => void): () => void;
}

/** The line counts `/v1/herd`'s rates are sampled from (`MemberMetrics` has them). */
export interface LineCounts {
  /** Lines received so far, every connection and face. */
  readonly linesIn: number;
  /** Lines received from neighbour `peer` so far. */
  linesFrom(peer: string): number;
}

/**
 * Longest a TLS reload waits for the HTTPS port to be free again, ms: the old server's listener
 * closes within an event-loop turn or two; the bound only stops a port another process took.
 */
const REBIND_MS = 1000;

/** How often rates are sampled, ms. */
const RATE_SAMPLE_MS = 1000;

/** Options of {@linkcode HttpFace}. */
export interface HttpFaceOptions {
  /** The member (started before the face). */
  member: FacedMember;
  /** The herd. */
  config: HerdConfig;
  /** The member's log (already counted by `metrics`). */
  log: EventLog;
  /** The places provider (readiness). */
  places: PlacesProvider;
  /** herd's version. */
  version: string;
  /** Token required, if any. */
  token?: string;
  /**
   * Base URL of each member's HTTP API by name, shared by the faces of one process (like the
   * members' `AddressBook`): each face writes its own once listening, so `/v1/herd` and CORS
   * see real ports when herd.toml's are replaced by port 0. @default herd.toml's (memberOrigins)
   */
  origins?: Map<string, string>;
  /**
   * The clock of `stored_at`: POSIX ms with a fraction. Members of one process share
   * `performance.timeOrigin`, so their store times compare exactly.
   * @default performance.timeOrigin + performance.now()
   */
  nowMs?: () => number;
  /**
   * The member's metrics (`MemberMetrics`, its tee already around the member's log): `/metrics`,
   * the request counts, stored records, and the line counts behind `/v1/herd`'s rates.
   */
  metrics: HttpMetrics & LineCounts & {
    recordStored?(fromPeer: boolean): void;
  };
  /**
   * The member's TLS when `[tls] clients = true`: the face serves HTTPS with its certificate,
   * and a reload (SIGHUP) serves new connections with the new one. @default plain HTTP
   */
  tls?: MemberTls;
}

/** One member's HTTP API server. */
export class HttpFace {
  readonly #opts: HttpFaceOptions;
  /** Live events of stored records. */
  readonly hub: StreamHub<RecordJson> = new StreamHub();
  /** Geo index of the member's records (by client id, wire text). */
  readonly index: ClientIndex = new ClientIndex();
  #server: Deno.HttpServer<Deno.NetAddr> | null = null;
  /** Servers replaced by a TLS reload, finishing the requests and streams they had. */
  readonly #retired = new Set<Promise<void>>();
  #unregisterReload: (() => void) | null = null;
  /** Retries listening after a reload could not, until it can or the face stops. */
  #recovery: ReturnType<typeof setInterval> | undefined;
  #unobserve: (() => void) | null = null;
  #unobserveExpired: (() => void) | null = null;
  #sampler: ReturnType<typeof setInterval> | undefined;
  /**
   * When this member stored each client's current record, POSIX ms (set by the record
   * observer; records held before start have none). One number per client held.
   */
  readonly #storedAt: Map<WireText, number> = new Map();
  #placesReady = false;
  #nextId = 1;
  /** Last sample and the one before: time ms, lines in, sent by peer, received by peer. */
  #samples: Array<
    { ms: number; lines: number; sent: Map<string, number>; got: Map<string, number> }
  > = [];

  /** Creates the face; {@linkcode HttpFace.start} listens. */
  constructor(opts: HttpFaceOptions) {
    this.#opts = opts;
  }

  /** Where it listens (after start). */
  get address(): Deno.NetAddr {
    if (this.#server === null) throw new Error("HttpFace not started");
    return this.#server.addr;
  }

  /**
   * Indexes the member's records, starts observing new ones, and listens.
   *
   * @param where Host and port (`http_host`/`http_port`; port 0 lets the OS choose).
   * @returns The address listened on.
   * @throws {Deno.errors.AddrInUse} And other listen errors.
   */
  start(where: { hostname: string; port: number }): Deno.NetAddr {
    const { member, places } = this.#opts;
    this.#unobserve = member.observe((s) => this.#stored(s));
    this.#unobserveExpired = member.observeExpired?.((e) => this.#expired(e)) ?? null;
    // One bulk load (rbush's packing: about 3x faster than inserts, and a tree that answers faster).
    const clients: Array<[string, number, number]> = [];
    for (const [id, line] of member.store.lines()) {
      const loc = locationOf(line);
      if (loc !== undefined) clients.push([id, loc.lat, loc.lng]);
    }
    this.index.load(clients);
    if (places.settled === undefined) this.#placesReady = true;
    else places.settled().then(() => this.#placesReady = true, () => this.#placesReady = true);
    this.#sample();
    const sampler = setInterval(() => this.#sample(), RATE_SAMPLE_MS);
    Deno.unrefTimer(sampler);
    this.#sampler = sampler;

    const startedMs = Date.now();
    const rates: HerdRates = {
      linesPerS: () => this.#rate((s) => s.lines),
      sentPerS: (peer) => this.#rate((s) => s.sent.get(peer) ?? 0),
      receivedPerS: (peer) => this.#rate((s) => s.got.get(peer) ?? 0),
    };
    const app = buildApp({
      member,
      config: this.#opts.config,
      hub: this.hub,
      index: this.index,
      log: this.#opts.log,
      version: this.#opts.version,
      startedMs,
      rates,
      placesReady: () => this.#placesReady,
      metrics: this.#opts.metrics,
      nextRequestId: () => this.#nextId++,
      token: this.#opts.token,
      origins: this.#opts.origins,
      storedAt: (id) => this.#storedAt.get(id),
    });
    const handler = (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) =>
      app.fetch(req, { remoteAddr: info.remoteAddr });
    const tls = this.#opts.tls;
    const listen = (port: number) =>
      Deno.serve({
        hostname: where.hostname,
        port,
        ...(tls?.certifiedKey ?? {}),
        onListen: () => {},
        onError: (e) => {
          this.#opts.log.emit("error", "error", { reason: `http: ${String(e)}` });
          return new Response("internal error", { status: 500 });
        },
      }, handler);
    try {
      this.#server = listen(where.port);
    } catch (e) {
      this.#stopObserving();
      throw e;
    }
    if (tls !== undefined) {
      this.#unregisterReload = tls.onReload(() => this.#reopen(listen));
    }
    const addr = this.#server.addr;
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
    const scheme = tls === undefined ? "http" : "https";
    this.#opts.origins?.set(member.name, `${scheme}://${host}:${addr.port}`);
    this.#opts.log.emit("info", "http.listening", { address: `${addr.hostname}:${addr.port}` });
    return addr;
  }

  /** Closes every stream, stops listening and waits for requests in flight. */
  async stop(): Promise<void> {
    this.#stopObserving();
    this.hub.close();
    // One turn of the event loop, so that each WebSocket writer sends its own close frame
    // (1001, "server stopping") before the server's shutdown closes the sockets with its own.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const server = this.#server;
    this.#server = null;
    this.#unregisterReload?.();
    this.#unregisterReload = null;
    clearInterval(this.#recovery);
    if (server !== null) await server.shutdown();
    await Promise.all(this.#retired);
  }

  /**
   * Serves new connections with the certificate just reloaded: the old server stops listening
   * (its requests and streams in flight go on until they end) and a new one listens on the same
   * port as soon as it is free.
   *
   * @returns How long the port refused connections, ms.
   */
  async #reopen(listen: (port: number) => Deno.HttpServer<Deno.NetAddr>): Promise<number> {
    const old = this.#server;
    if (old === null) return 0;
    const port = old.addr.port;
    const started = performance.now();
    const retired = old.shutdown().catch(() => {}).finally(() => this.#retired.delete(retired));
    this.#retired.add(retired);
    for (;;) {
      try {
        this.#server = listen(port);
        return performance.now() - started;
      } catch (e) {
        if (!(e instanceof Deno.errors.AddrInUse) || performance.now() - started > REBIND_MS) {
          this.#server = null;
          this.#recover(listen, port);
          throw new Error(
            `cannot listen on HTTPS port ${port} again: ${
              String(e)
            }; retrying every ${RECOVER_MS} ms`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
  }

  /** After a failed reopen: tries to listen again every RECOVER_MS until it does or stops. */
  #recover(listen: (port: number) => Deno.HttpServer<Deno.NetAddr>, port: number): void {
    this.#recovery = setInterval(() => {
      if (this.#unregisterReload === null) return clearInterval(this.#recovery); // stopped
      try {
        this.#server = listen(port);
        clearInterval(this.#recovery);
        this.#recovery = undefined;
      } catch {
        // still taken: next round
      }
    }, RECOVER_MS);
  }

  #stopObserving(): void {
    this.#unobserve?.();
    this.#unobserve = null;
    this.#unobserveExpired?.();
    this.#unobserveExpired = null;
    clearInterval(this.#sampler);
  }

  /**
   * When this member stored the current record of a client.
   *
   * @param id Client id, wire text.
   * @returns POSIX ms, or `undefined` if it was held before the face started (or is unknown).
   */
  storedAt(id: WireText): number | undefined {
    return this.#storedAt.get(id);
  }

  /**
   * Keeps the store times, the index and the streams up to date with one stored record: a
   * tombstone takes its client out of the index and gives an `erased` event.
   */
  #stored(s: StoredRecord): void {
    const { record } = s;
    if (isTombstone(record)) {
      this.#storedAt.delete(record.clientId);
      this.index.delete(record.clientId);
      this.#opts.metrics.recordStored?.(s.from !== null);
      if (this.hub.subscribers === 0) return;
      this.hub.erase(record.clientId, {
        type: "erased",
        client: wireToDisplay(record.clientId),
        server: wireToDisplay(record.origin),
        time: wireToDisplay(record.clientTimeText),
      }, s.previous === undefined ? undefined : locationOf(s.previous));
      return;
    }
    const storedAt = this.#opts.nowMs?.() ?? performance.timeOrigin + performance.now();
    this.#storedAt.set(record.clientId, storedAt);
    const lat = record.location.latitude;
    const lng = record.location.longitude;
    this.index.set(record.clientId, lat, lng);
    this.#opts.metrics.recordStored?.(s.from !== null);
    if (this.hub.subscribers === 0) return;
    const previous = s.previous === undefined ? undefined : locationOf(s.previous);
    this.hub.publish(
      { client: record.clientId, lat, lng, json: recordJson(s.line, storedAt) },
      previous,
    );
  }

  /** Takes a dropped record out of the store times and the index, and tells the streams. */
  #expired(e: ExpiredRecord): void {
    const storedAt = this.#storedAt.get(e.clientId) ?? null;
    this.#storedAt.delete(e.clientId);
    this.index.delete(e.clientId);
    if (this.hub.subscribers === 0) return;
    const loc = locationOf(e.line);
    if (loc === undefined) return;
    this.hub.expire({ client: e.clientId, ...loc, json: recordJson(e.line, storedAt) });
  }

  #sample(): void {
    const sent = new Map<string, number>();
    const got = new Map<string, number>();
    const { metrics } = this.#opts;
    for (const [name, link] of this.#opts.member.links) {
      sent.set(name, link.sent);
      got.set(name, metrics.linesFrom(name));
    }
    this.#samples.push({ ms: performance.now(), lines: metrics.linesIn, sent, got });
    if (this.#samples.length > 2) this.#samples.shift();
  }

  /** Per-second rate of a counter over the last sampling interval. */
  #rate(of: (s: HerdSample) => number): number {
    if (this.#samples.length < 2) return 0;
    const [a, b] = this.#samples;
    const seconds = (b.ms - a.ms) / 1000;
    return seconds <= 0 ? 0 : Math.round((of(b) - of(a)) / seconds * 10) / 10;
  }
}

/** One sample of the counters behind the rates. */
type HerdSample = {
  ms: number;
  lines: number;
  sent: Map<string, number>;
  got: Map<string, number>;
};

/** The position in an AT line, or `undefined` if it does not parse. */
function locationOf(atLine: WireText): { lat: number; lng: number } | undefined {
  const field = atLine.split(" ")[4];
  try {
    const loc = parseIso6709(field ?? "");
    return { lat: loc.latitude, lng: loc.longitude };
  } catch {
    return undefined;
  }
}

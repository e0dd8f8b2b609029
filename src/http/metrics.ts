/**
 * The Prometheus metrics of one member, for its `GET /metrics` (text
 * exposition format 0.0.4, rendered by prom-client).
 *
 * Every member owns one {@linkcode MemberMetrics} and with it one prom-client
 * `Registry`, never the global default one: `simulate` runs five members in one
 * process, and each member's `/metrics` must show that member alone. No
 * `member` label is added: a scrape of one member's address is that member, and
 * Prometheus labels it with the target's `instance`.
 *
 * Three kinds of values:
 *
 * - **From the event log.** {@linkcode MemberMetrics.wrap} puts a tee in front
 *   of the member's {@linkcode EventLog}: every event goes on unchanged, and the
 *   events that are counted bump plain numbers (a `switch` on the event name;
 *   the per-message events, `msg.in` and `reply.out`, allocate nothing and never
 *   call prom-client). The numbers become prom-client samples only when
 *   `/metrics` is scraped.
 * - **From live objects.** {@linkcode MemberMetrics.attach} gives a
 *   {@linkcode MetricsSource} (links, connections, the store, anti-entropy and
 *   stream counters) that is read at each scrape, through prom-client `collect`
 *   callbacks.
 * - **From calls.** {@linkcode MemberMetrics.recordStored} for every record
 *   stored and {@linkcode MemberMetrics.observeHttp} for every HTTP request.
 *
 * A total kept elsewhere (a link's lines sent, the sync counters) is exposed as
 * a counter (`# TYPE ... counter`), not a gauge: at each scrape its collect
 * callback resets the prom-client counter and adds the live value, which is the
 * only way prom-client lets a counter take a value it did not count itself.
 *
 * @module
 */

import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { INVALID_REASONS } from "../herd/dispatch.ts";
import type { EventFields, EventLevel, EventLog, EventName } from "../log.ts";

/**
 * The `kind` label of `herd_lines_in_total`: the first word of a line when it is one of the
 * protocol's commands (case-sensitive, as the protocol is), else `other` (blank lines too). A
 * neighbour's welcome is a `HERD` line like its hello. A neighbour's hello arrives before its
 * connection is known as the neighbour's, so it counts as `source="client"`; every later line
 * on that connection as `source="peer"`.
 */
export const LINE_KINDS = [
  "IAMAT",
  "WHATSAT",
  "AT",
  "HERD",
  "DIGEST",
  "ASK",
  "HAVE",
  "WANT",
  "IHAVE",
  "GRAFT",
  "PRUNE",
  "other",
] as const;

/** One of {@linkcode LINE_KINDS}. */
export type LineKind = typeof LINE_KINDS[number];

/** Index of `other` in {@linkcode LINE_KINDS}. */
const OTHER_KIND = LINE_KINDS.length - 1;

/**
 * Buckets of `herd_http_request_duration_seconds`, seconds: from 0.5 ms (a record read from
 * memory) to 5 s (the places service's default deadline).
 */
export const HTTP_DURATION_BUCKETS_S: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
];

/**
 * Buckets of `herd_places_upstream_seconds`, seconds: an HTTP attempt to Google takes tens to
 * hundreds of ms; `timeout_ms` is 5 s by default and at most 120 s.
 */
export const PLACES_UPSTREAM_BUCKETS_S: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/** The `reason` label values of `herd_sync_runs_total` (the `reason` of `sync.start`). */
const SYNC_REASONS: ReadonlySet<string> = new Set(["link up", "queue overflowed", "periodic"]);

/** `reason` label values of `herd_invalid_replies_total`; any other reason counts as `other`. */
const REPLY_REASONS: ReadonlySet<string> = new Set<string>(INVALID_REASONS);

/** One outgoing link as {@linkcode MetricsSource.links} reports it (a `PeerLink`'s getters). */
export interface LinkSample {
  /** The neighbour's name (the `peer` label). */
  readonly peer: string;
  /** The link's state; `welcomed` means up (`herd_link_up` 1), any other down. */
  readonly state: string;
  /** Flood lines handed to the link so far (queued, written or dropped). */
  readonly sent: number;
  /** Flood lines dropped from its queue so far. */
  readonly droppedTotal: number;
  /** Lines waiting to be written now. */
  readonly queued: number;
}

/** Anti-entropy totals as {@linkcode MetricsSource.sync} reports them (the member's `sync`). */
export interface SyncSample {
  /** DIGEST lines answered. */
  readonly digests: number;
  /** Bytes of anti-entropy lines sent. */
  readonly bytesSent: number;
  /** Records sent in anti-entropy answers. */
  readonly recordsSent: number;
}

/** `/v1/stream` counters as {@linkcode MetricsSource.streams} reports them (a `StreamHub`). */
export interface StreamSample {
  /** Open subscriptions now. */
  readonly subscribers: number;
  /** Events dropped from full subscriber buffers so far. */
  readonly droppedTotal: number;
  /** Subscriptions closed because they stayed full too long, so far. */
  readonly stuckClosedTotal: number;
}

/**
 * The live objects a scrape reads, each function called once per scrape. They must not
 * throw (a throw fails the scrape: {@linkcode MemberMetrics.render} rejects) and should be
 * cheap: `links()` is called once per scrape by each link metric.
 */
export interface MetricsSource {
  /** The member's outgoing links (`member.links.values()`). */
  links(): Iterable<LinkSample>;
  /** Open TCP connections, clients' and neighbours' (`member.connections`). */
  connections(): number;
  /** Client records held (`member.store.size`). */
  records(): number;
  /** Anti-entropy totals (`member.sync`). */
  sync(): SyncSample;
  /** The stream hub's counters. */
  streams(): StreamSample;
}

/** Options of {@linkcode MemberMetrics}. */
export interface MemberMetricsOptions {
  /** The member's name (kept for the owner; not a label). */
  member: string;
}

/** The cache counters of the latest `places.stats` event (cumulative since the cache was made). */
interface PlacesStatsSnapshot {
  hits: number;
  misses: number;
  coalesced: number;
  upstreamCalls: number;
  errors: number;
  entries: number;
}

/**
 * One member's metrics: counts from its event log, values read from live objects at scrape
 * time, HTTP request counts and durations; rendered as Prometheus text by
 * {@linkcode MemberMetrics.render}. Each instance has a registry of its own.
 *
 * Metric names (`herd_` prefix; units in the names):
 *
 * | metric | type | labels | from |
 * | --- | --- | --- | --- |
 * | `herd_lines_in_total` | counter | `kind`, `source` (`client`/`peer`), `via` (`tcp`/`http`) | `msg.in` |
 * | `herd_received_lines_total` | counter | `peer` | `msg.in` with a `peer` |
 * | `herd_replies_total` | counter | `result` (`ok`/`invalid`) | `reply.out` |
 * | `herd_invalid_replies_total` | counter | `reason` | `reply.out` with a `reason` |
 * | `herd_records_stored_total` | counter | `source` (`client`/`peer`) | {@linkcode MemberMetrics.recordStored} |
 * | `herd_peer_invalid_lines_total` | counter | `peer` | `peer.invalid` |
 * | `herd_connections_accepted_total` | counter | | `conn.open` |
 * | `herd_connections_refused_total` | counter | | `conn.refused` (`refused`) |
 * | `herd_link_drops_total` | counter | `peer` | `peer.link.dropped` |
 * | `herd_sync_runs_total` | counter | `reason` | `sync.start` |
 * | `herd_places_upstream_seconds` | histogram | | `places.upstream` (`ms`) |
 * | `herd_places_errors_total` | counter | | `places.error` |
 * | `herd_places_cache_hits_total`, `_misses_total`, `_coalesced_total` | counter | | `places.stats` |
 * | `herd_places_upstream_calls_total`, `herd_places_upstream_errors_total` | counter | | `places.stats` |
 * | `herd_places_cache_entries` | gauge | | `places.stats` |
 * | `herd_errors_total` | counter | | `error` |
 * | `herd_link_up` | gauge | `peer` | source |
 * | `herd_flood_lines_sent_total`, `herd_flood_lines_dropped_total` | counter | `peer` | source |
 * | `herd_link_queued_lines` | gauge | `peer` | source |
 * | `herd_open_connections`, `herd_records` | gauge | | source |
 * | `herd_sync_digests_total`, `_bytes_sent_total`, `_records_sent_total` | counter | | source |
 * | `herd_stream_subscribers` | gauge | | source |
 * | `herd_stream_events_dropped_total`, `herd_stream_subscribers_closed_slow_total` | counter | | source |
 * | `herd_http_requests_total` | counter | `method`, `route`, `status` | {@linkcode MemberMetrics.observeHttp} |
 * | `herd_http_request_duration_seconds` | histogram | `method`, `route` | {@linkcode MemberMetrics.observeHttp} |
 *
 * The "source" metrics exist from the first {@linkcode MemberMetrics.attach} on.
 *
 * `places.upstream` and `places.stats` come from the places provider's log, not the member's:
 * they are counted only if that log is a tee of these metrics too (the provider is shared in
 * `simulate`, and logs to the first member). Each `places.stats` carries the cache's totals
 * since it was made, so the cache metrics take the latest event's values (they are not summed)
 * and lag by up to the stats interval (60 s by default; an idle cache logs nothing).
 *
 * @example
 * ```ts
 * import { MemberMetrics } from "./metrics.ts";
 * import { MemoryLog } from "../log.ts";
 *
 * const metrics = new MemberMetrics({ member: "Hill" });
 * const log = metrics.wrap(new MemoryLog());
 * log.emit("info", "msg.in", { conn: 1, remote: "127.0.0.1:5000", line: "IAMAT kiwi +34-118 1" });
 * const text = await metrics.render();
 * if (!text.includes('herd_lines_in_total{kind="IAMAT",source="client",via="tcp"} 1')) {
 *   throw new Error(text);
 * }
 * ```
 */
export class MemberMetrics {
  /** The member these metrics are of. */
  readonly member: string;
  /** This member's own registry (never prom-client's global one). */
  readonly #registry: Registry;

  // Counts from events, turned into samples at scrape time.
  /** `herd_lines_in_total` by `(kind * 2 + peer) * 2 + http`. */
  readonly #linesIn = new Float64Array(LINE_KINDS.length * 4);
  readonly #linesByPeer = new Map<string, number>();
  #repliesOk = 0;
  #repliesInvalid = 0;
  readonly #invalidByReason = new Map<string, number>();
  #storedFromClients = 0;
  #storedFromPeers = 0;
  /** Records dropped by the expiry sweep (`record.expired`), and refused as expired on arrival. */
  #expired = 0;
  #refusedExpired = 0;
  readonly #peerInvalid = new Map<string, number>();
  #accepted = 0;
  #refused = 0;
  readonly #linkDrops = new Map<string, number>();
  readonly #syncRuns = new Map<string, number>();
  #placesErrors = 0;
  #placesStats: PlacesStatsSnapshot | null = null;
  #errors = 0;
  readonly #placesUpstream: Histogram;
  readonly #httpRequests: Counter<"method" | "route" | "status">;
  readonly #httpDuration: Histogram<"method" | "route">;
  #source: MetricsSource | null = null;

  /**
   * Creates the metrics of one member, with a registry of their own.
   *
   * @param opts The member's name.
   */
  constructor(opts: MemberMetricsOptions) {
    this.member = opts.member;
    const registry = new Registry();
    this.#registry = registry;
    const registers = [registry];

    counter(registry, "herd_lines_in_total", "Lines received, by command word.", [
      "kind",
      "source",
      "via",
    ], (c) => {
      const a = this.#linesIn;
      for (let i = 0; i < a.length; i++) {
        if (a[i] === 0) continue;
        const kind = LINE_KINDS[i >> 2];
        const source = (i & 2) === 0 ? "client" : "peer";
        const via = (i & 1) === 0 ? "tcp" : "http";
        c.inc({ kind, source, via }, a[i]);
      }
    });
    counter(
      registry,
      "herd_received_lines_total",
      "Lines received from each neighbour, on either side of its link.",
      ["peer"],
      (c) => byLabel(c, "peer", this.#linesByPeer),
    );
    counter(registry, "herd_replies_total", "Replies written, by result.", ["result"], (c) => {
      c.inc({ result: "ok" }, this.#repliesOk);
      c.inc({ result: "invalid" }, this.#repliesInvalid);
    });
    counter(
      registry,
      "herd_invalid_replies_total",
      "Replies that were ? lines, by reason (the fixed list of INVALID_REASONS, else other).",
      ["reason"],
      (c) => byLabel(c, "reason", this.#invalidByReason),
    );
    counter(
      registry,
      "herd_records_stored_total",
      "Records stored because they were newer, by where they came from.",
      ["source"],
      (c) => {
        c.inc({ source: "client" }, this.#storedFromClients);
        c.inc({ source: "peer" }, this.#storedFromPeers);
      },
    );
    counter(
      registry,
      "herd_records_expired_total",
      "Records dropped by the expiry sweep: client time older than now minus record_ttl_s.",
      [],
      (c) => c.inc(this.#expired),
    );
    counter(
      registry,
      "herd_records_refused_total",
      "Records refused on arrival (an IAMAT, an AT line, an anti-entropy answer), by reason.",
      ["reason"],
      (c) => c.inc({ reason: "expired" }, this.#refusedExpired),
    );
    counter(
      registry,
      "herd_peer_invalid_lines_total",
      "Lines from neighbours that were no peer message, dropped.",
      ["peer"],
      (c) => byLabel(c, "peer", this.#peerInvalid),
    );
    counter(
      registry,
      "herd_connections_accepted_total",
      "TCP connections accepted.",
      [],
      (c) => c.inc(this.#accepted),
    );
    counter(
      registry,
      "herd_connections_refused_total",
      "TCP connections refused by a limit, as logged (at most one conn.refused a second per reason).",
      [],
      (c) => c.inc(this.#refused),
    );
    counter(
      registry,
      "herd_link_drops_total",
      "Times our link to a neighbour ended.",
      ["peer"],
      (c) => byLabel(c, "peer", this.#linkDrops),
    );
    counter(
      registry,
      "herd_sync_runs_total",
      "Anti-entropy runs started on our links, by why.",
      ["reason"],
      (c) => byLabel(c, "reason", this.#syncRuns),
    );
    this.#placesUpstream = new Histogram({
      name: "herd_places_upstream_seconds",
      help: "Duration of each HTTP attempt to the places service (Google providers only).",
      buckets: [...PLACES_UPSTREAM_BUCKETS_S],
      registers,
    });
    counter(
      registry,
      "herd_places_errors_total",
      "WHATSAT answers whose places part was a failure (the reply keeps its shape).",
      [],
      (c) => c.inc(this.#placesErrors),
    );
    const stat = (name: string, help: string, read: (s: PlacesStatsSnapshot) => number) =>
      counter(registry, name, `${help} As of the latest places.stats event.`, [], (c) => {
        const s = this.#placesStats;
        if (s !== null) c.inc(read(s));
      });
    stat(
      "herd_places_cache_hits_total",
      "Places questions answered from the cache.",
      (s) => s.hits,
    );
    stat(
      "herd_places_cache_misses_total",
      "Places questions with no fresh cached answer.",
      (s) => s.misses,
    );
    stat(
      "herd_places_cache_coalesced_total",
      "Cache misses that joined an identical question in flight.",
      (s) => s.coalesced,
    );
    stat(
      "herd_places_upstream_calls_total",
      "Questions sent to the places provider behind the cache.",
      (s) => s.upstreamCalls,
    );
    stat(
      "herd_places_upstream_errors_total",
      "Upstream answers that were failures.",
      (s) => s.errors,
    );
    const places = (): PlacesStatsSnapshot | null => this.#placesStats;
    new Gauge({
      name: "herd_places_cache_entries",
      help: "Answers in the places cache, as of the latest places.stats event.",
      registers,
      collect() {
        this.set(places()?.entries ?? 0);
      },
    });
    counter(
      registry,
      "herd_errors_total",
      "Failures the member survived (error events).",
      [],
      (c) => c.inc(this.#errors),
    );
    this.#httpRequests = new Counter({
      name: "herd_http_requests_total",
      help: "HTTP requests answered, by method, route pattern and status code.",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.#httpDuration = new Histogram({
      name: "herd_http_request_duration_seconds",
      help: "Time to answer an HTTP request, by method and route pattern.",
      labelNames: ["method", "route"],
      buckets: [...HTTP_DURATION_BUCKETS_S],
      registers,
    });
  }

  /** Lines received so far (every `msg.in`: both faces, clients and neighbours), for rates. */
  get linesIn(): number {
    let n = 0;
    for (const v of this.#linesIn) n += v;
    return n;
  }

  /**
   * Lines received from a neighbour so far, on either side of its link.
   *
   * @param peer The neighbour's name.
   * @returns The count (0 for a name never seen).
   */
  linesFrom(peer: string): number {
    return this.#linesByPeer.get(peer) ?? 0;
  }

  /**
   * The exposition text's media type, for the `Content-Type` of `/metrics`
   * (`text/plain; version=0.0.4; charset=utf-8`).
   */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /**
   * A log that passes every event on to `inner` unchanged (same level, name and fields object,
   * synchronously, in order) and counts the events of the table in {@linkcode MemberMetrics}.
   * An event that is not counted costs one `switch` on its name. May be called more than once
   * (the member's log and the places provider's log): every tee counts into these metrics.
   *
   * `record.stored` is not counted here: it is logged only for a neighbour's record; stored
   * records are counted by {@linkcode MemberMetrics.recordStored} alone.
   *
   * @param inner The log events go on to.
   * @returns The counting log, to give the member instead of `inner`.
   */
  wrap(inner: EventLog): EventLog {
    return {
      emit: (level: EventLevel, event: EventName, fields: EventFields): void => {
        inner.emit(level, event, fields);
        this.#count(event, fields);
      },
    };
  }

  /**
   * Counts one stored record (`herd_records_stored_total`): call it from the member's record
   * observer, which sees every record stored whatever its source:
   * `member.observe((s) => metrics.recordStored(s.from !== null))`.
   *
   * @param fromPeer True for a neighbour's record (a flood or anti-entropy), false for a
   * client's IAMAT (over TCP or HTTP).
   */
  recordStored(fromPeer: boolean): void {
    if (fromPeer) this.#storedFromPeers++;
    else this.#storedFromClients++;
  }

  /**
   * Gives the live objects read at each scrape; the first call registers the metrics they
   * feed, a later one replaces the source.
   *
   * @param source Links, connections, records, anti-entropy and stream counters.
   */
  attach(source: MetricsSource): void {
    const first = this.#source === null;
    this.#source = source;
    if (first) this.#registerSourceMetrics();
  }

  /**
   * Counts one HTTP request answered: `herd_http_requests_total{method,route,status}` and
   * `herd_http_request_duration_seconds{method,route}`.
   *
   * @param method The request method, e.g. `GET`.
   * @param route The route pattern, e.g. `/v1/clients/:id`, never the path itself (a label
   * value per client id would grow without bound).
   * @param status The response status code.
   * @param seconds Time from the request's arrival to its response, seconds.
   * @throws {RangeError} If `seconds` is negative or not finite.
   */
  observeHttp(method: string, route: string, status: number, seconds: number): void {
    if (!(seconds >= 0) || seconds === Infinity) {
      throw new RangeError(`Cannot observe HTTP request: seconds must be >= 0, got ${seconds}`);
    }
    this.#httpRequests.inc({ method, route, status: String(status) });
    this.#httpDuration.observe({ method, route }, seconds);
  }

  /**
   * The exposition text of every metric (Prometheus text format 0.0.4), reading the attached
   * source now.
   *
   * @returns The text for the body of `/metrics`.
   * @throws Whatever a {@linkcode MetricsSource} function throws (the promise rejects).
   */
  render(): Promise<string> {
    return this.#registry.metrics();
  }

  /** Counts one event, if it is of a counted kind. */
  #count(event: EventName, fields: EventFields): void {
    switch (event) {
      case "msg.in": {
        // One line (`line`), or every line of a read (`lines`).
        const peer = fields.peer;
        const fromPeer = typeof peer === "string";
        const source = (fromPeer ? 1 : 0) * 2 + (fields.via === "http" ? 1 : 0);
        const lines = fields.lines;
        if (Array.isArray(lines)) {
          for (const line of lines) this.#linesIn[kindIndex(line) * 4 + source]++;
          if (fromPeer) bump(this.#linesByPeer, peer, lines.length);
        } else {
          const line = fields.line;
          this.#linesIn[(typeof line === "string" ? kindIndex(line) : OTHER_KIND) * 4 + source]++;
          if (fromPeer) bump(this.#linesByPeer, peer);
        }
        return;
      }
      case "reply.out": {
        // One reply (`reply`), or the replies of one write (`replies`, none of them `? `).
        const replies = fields.replies;
        if (Array.isArray(replies)) {
          this.#repliesOk += replies.length;
          return;
        }
        const reason = fields.reason;
        if (reason === undefined || reason === null) {
          this.#repliesOk++;
          return;
        }
        this.#repliesInvalid++;
        const label = typeof reason === "string" && REPLY_REASONS.has(reason) ? reason : "other";
        bump(this.#invalidByReason, label);
        return;
      }
      case "record.expired":
        this.#expired += numberOr0(fields.records);
        return;
      case "record.refused": {
        const clients = fields.clients;
        this.#refusedExpired += Array.isArray(clients) ? clients.length : 1;
        return;
      }
      case "peer.invalid":
        bump(this.#peerInvalid, typeof fields.peer === "string" ? fields.peer : "unknown");
        return;
      case "conn.open":
        this.#accepted++;
        return;
      case "conn.refused": {
        const n = fields.refused;
        this.#refused += typeof n === "number" && n > 0 ? n : 1;
        return;
      }
      case "peer.link.dropped":
        bump(this.#linkDrops, typeof fields.peer === "string" ? fields.peer : "unknown");
        return;
      case "sync.start": {
        const reason = fields.reason;
        bump(
          this.#syncRuns,
          typeof reason === "string" && SYNC_REASONS.has(reason) ? reason : "other",
        );
        return;
      }
      case "places.upstream": {
        const ms = fields.ms;
        if (typeof ms === "number" && ms >= 0 && ms !== Infinity) {
          this.#placesUpstream.observe(ms / 1000);
        }
        return;
      }
      case "places.error":
        this.#placesErrors++;
        return;
      case "places.stats":
        this.#placesStats = {
          hits: numberOr0(fields.hits),
          misses: numberOr0(fields.misses),
          coalesced: numberOr0(fields.coalesced),
          upstreamCalls: numberOr0(fields.upstreamCalls),
          errors: numberOr0(fields.errors),
          entries: numberOr0(fields.entries),
        };
        return;
      case "error":
        this.#errors++;
        return;
      default:
        return;
    }
  }

  /** Registers the metrics read from the {@linkcode MetricsSource} (once). */
  #registerSourceMetrics(): void {
    const registry = this.#registry;
    const registers = [registry];
    const source = (): MetricsSource => this.#source!;
    new Gauge({
      name: "herd_link_up",
      help: "1 if our link to the neighbour is welcomed (carries records), else 0.",
      labelNames: ["peer"],
      registers,
      collect() {
        this.reset();
        for (const l of source().links()) {
          this.set({ peer: l.peer }, l.state === "welcomed" ? 1 : 0);
        }
      },
    });
    counter(
      registry,
      "herd_flood_lines_sent_total",
      "Flood lines handed to our link to the neighbour (queued, written or dropped).",
      ["peer"],
      (c) => {
        for (const l of source().links()) c.inc({ peer: l.peer }, l.sent);
      },
    );
    counter(
      registry,
      "herd_flood_lines_dropped_total",
      "Flood lines dropped from the link's queue while the neighbour was down or slow.",
      ["peer"],
      (c) => {
        for (const l of source().links()) c.inc({ peer: l.peer }, l.droppedTotal);
      },
    );
    new Gauge({
      name: "herd_link_queued_lines",
      help: "Lines waiting on our link to the neighbour (plus one if anti-entropy text waits).",
      labelNames: ["peer"],
      registers,
      collect() {
        this.reset();
        for (const l of source().links()) this.set({ peer: l.peer }, l.queued);
      },
    });
    new Gauge({
      name: "herd_open_connections",
      help: "Open TCP connections (clients and neighbours' links to us).",
      registers,
      collect() {
        this.set(source().connections());
      },
    });
    new Gauge({
      name: "herd_records",
      help: "Client records held.",
      registers,
      collect() {
        this.set(source().records());
      },
    });
    counter(
      registry,
      "herd_sync_digests_total",
      "DIGEST lines answered.",
      [],
      (c) => c.inc(source().sync().digests),
    );
    counter(
      registry,
      "herd_sync_bytes_sent_total",
      "Bytes of anti-entropy lines sent.",
      [],
      (c) => c.inc(source().sync().bytesSent),
    );
    counter(
      registry,
      "herd_sync_records_sent_total",
      "Records sent in anti-entropy answers.",
      [],
      (c) => c.inc(source().sync().recordsSent),
    );
    new Gauge({
      name: "herd_stream_subscribers",
      help: "Open /v1/stream subscriptions.",
      registers,
      collect() {
        this.set(source().streams().subscribers);
      },
    });
    counter(
      registry,
      "herd_stream_events_dropped_total",
      "Stream events dropped from full subscriber buffers.",
      [],
      (c) => c.inc(source().streams().droppedTotal),
    );
    counter(
      registry,
      "herd_stream_subscribers_closed_slow_total",
      "Stream subscriptions closed because their buffer stayed full too long.",
      [],
      (c) => c.inc(source().streams().stuckClosedTotal),
    );
  }
}

/**
 * Registers a counter whose value is set at each scrape: its collect callback resets it, then
 * `fill` adds the current totals (prom-client counters cannot be set otherwise).
 */
function counter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  fill: (c: Counter<string>) => void,
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      fill(this);
    },
  });
}

/** Adds each count of `counts` to `c` under label `label`. */
function byLabel(c: Counter<string>, label: string, counts: ReadonlyMap<string, number>): void {
  for (const [value, n] of counts) c.inc({ [label]: value }, n);
}

/** Adds one to `key`'s count. */
function bump(counts: Map<string, number>, key: string, by = 1): void {
  counts.set(key, (counts.get(key) ?? 0) + by);
}

/** `v` if it is a finite number >= 0, else 0 (a counter must not go negative). */
function numberOr0(v: unknown): number {
  return typeof v === "number" && v >= 0 && v !== Infinity ? v : 0;
}

/** The six ASCII white-space bytes that separate fields (PROTOCOL.md section 1). */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * The `kind` label of a line (`herd_lines_in_total`): its first word if that is a command of
 * the protocol, else `other`.
 *
 * @param line A line as `msg.in` logs it.
 * @returns One of {@linkcode LINE_KINDS}.
 * @example
 * ```ts
 * import { lineKind } from "./metrics.ts";
 * if (lineKind("\tWHATSAT kiwi 10 5") !== "WHATSAT") throw new Error();
 * if (lineKind("iamat kiwi +1+1 1") !== "other") throw new Error();
 * ```
 */
export function lineKind(line: string): LineKind {
  return LINE_KINDS[kindIndex(line)];
}

// Indices in LINE_KINDS of each command.
const IAMAT = LINE_KINDS.indexOf("IAMAT");
const WHATSAT = LINE_KINDS.indexOf("WHATSAT");
const AT = LINE_KINDS.indexOf("AT");
const HERD = LINE_KINDS.indexOf("HERD");
const DIGEST = LINE_KINDS.indexOf("DIGEST");
const ASK = LINE_KINDS.indexOf("ASK");
const HAVE = LINE_KINDS.indexOf("HAVE");
const WANT = LINE_KINDS.indexOf("WANT");
const IHAVE = LINE_KINDS.indexOf("IHAVE");
const GRAFT = LINE_KINDS.indexOf("GRAFT");
const PRUNE = LINE_KINDS.indexOf("PRUNE");

/**
 * The index in {@linkcode LINE_KINDS} of a line's first word, without allocating: leading
 * white space skipped, the first letter (and for two commands sharing it, the second) picks
 * the one command to compare. Measured about twice as quick as comparing each command in turn.
 */
function kindIndex(line: string): number {
  const n = line.length;
  let i = 0;
  let c = 0;
  while (i < n && isSpace(c = line.charCodeAt(i))) i++;
  if (i === n) return OTHER_KIND;
  switch (c) {
    case 0x49: // I
      return wordAt(line, i, line.charCodeAt(i + 1) === 0x48 ? IHAVE : IAMAT);
    case 0x47: // G
      return wordAt(line, i, GRAFT);
    case 0x50: // P
      return wordAt(line, i, PRUNE);
    case 0x57: // W
      return wordAt(line, i, line.charCodeAt(i + 1) === 0x48 ? WHATSAT : WANT);
    case 0x41: // A
      return wordAt(line, i, line.charCodeAt(i + 1) === 0x54 ? AT : ASK);
    case 0x48: // H
      return wordAt(line, i, line.charCodeAt(i + 1) === 0x45 ? HERD : HAVE);
    case 0x44: // D
      return wordAt(line, i, DIGEST);
    default:
      return OTHER_KIND;
  }
}

/** `kind` if its word is at `at` in `line` as a whole field, else {@linkcode OTHER_KIND}. */
function wordAt(line: string, at: number, kind: number): number {
  const word = LINE_KINDS[kind];
  const end = at + word.length;
  if (end > line.length || !line.startsWith(word, at)) return OTHER_KIND;
  return end === line.length || isSpace(line.charCodeAt(end)) ? kind : OTHER_KIND;
}

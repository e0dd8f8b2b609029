/**
 * The herd's configuration: `herd.toml` parsed into a typed, validated {@link HerdConfig}.
 *
 * The file format is described in PROTOCOL.md section 4 (servers and undirected links) and the
 * default herd in section 6. Every problem a user can cause surfaces as one {@link ConfigError}
 * whose message is a single line naming the offending key and how to fix it.
 *
 * @module
 */

import { parse, TomlError } from "smol-toml";

/** One herd member as herd.toml lists it. */
export interface ServerConfig {
  /** Server name, as used in hello lines and AT records; matches `[A-Za-z0-9._-]+`. */
  name: string;
  /** Host name or IP address the member listens on and its neighbours dial. */
  host: string;
  /** TCP port, 1..65535 in files; 0 (let the OS choose) only from {@link testConfig}. */
  port: number;
  /**
   * Port of the member's HTTP API (TOML key `http_port`, 1..65535; 0 only from code, for
   * tests); `undefined`: no HTTP for this member.
   */
  httpPort?: number;
  /** Host the HTTP API listens on (TOML key `http_host`). @default the member's `host` */
  httpHost?: string;
  /**
   * Port of the member's separate peer listener (TOML key `peer_port`, 1..65535; 0 only from
   * code, for tests). When set, neighbours dial this port and the client port refuses hellos
   * (`? ` as for any client); a herd with peer ports requires `[herd] secret`
   * ({@linkcode checkPeerSecret}). `undefined`: clients and neighbours share `port`.
   */
  peerPort?: number;
  /** Host the peer listener binds and neighbours dial (TOML key `peer_host`). @default `host` */
  peerHost?: string;
}

/**
 * The `[tls]` table: TLS per listener, with Deno's built-in TLS (rustls). Paths are PEM files,
 * relative to the working directory, read when a member starts and again on SIGHUP.
 */
export interface TlsConfig {
  /** The member's certificate chain, PEM (TOML key `cert_file`). Required by `peers` or `clients`. */
  certFile?: string;
  /** The certificate's private key, PEM (TOML key `key_file`). Required with `cert_file`. */
  keyFile?: string;
  /**
   * Certificate authorities a dialler trusts for neighbours' certificates, PEM (TOML key
   * `ca_file`). Required by `peers`; `herd send --tls` and `herd bench --tls` take `--ca`.
   */
  caFile?: string;
  /**
   * The peer listener speaks TLS and links dial it with TLS, verifying that the neighbour's
   * certificate chains to `ca_file` and names the neighbour's host (TOML key `peers`). Needs a
   * `peer_port` on every server. The listener cannot verify client certificates, so it trusts the
   * dialler through the HMAC hello (`[herd] secret`).
   *
   * @default {false}
   */
  peers: boolean;
  /**
   * The client port speaks TLS and the HTTP port HTTPS (TOML key `clients`). Off by default so
   * that `nc`, telnet and the CS131 graders keep working. In a herd of several members it needs a
   * `peer_port` on every server, where neighbours dial in plain TCP or with `peers`.
   *
   * @default {false}
   */
  clients: boolean;
}

/** The `[http]` table: settings shared by every member's HTTP API. */
export interface HttpConfig {
  /**
   * Bearer token every endpoint but `/healthz` and `/readyz` requires (TOML key `token`; the
   * environment variable `HERD_HTTP_TOKEN` wins). `undefined`: no token, the API is open.
   */
  token?: string;
  /**
   * Origins (`https://example.com`) whose pages may call the API from a browser (CORS), besides
   * the herd's own members' HTTP origins, which are always allowed (TOML key `cors_origins`).
   */
  corsOrigins: string[];
}

/**
 * The `[places]` table: which places provider answers WHATSAT, and how it is asked. The Google
 * API key is not a setting: it comes from the environment (`GOOGLE_PLACES_API_KEY`), so it never
 * sits in a file that gets committed or shown.
 */
export interface PlacesConfig {
  /**
   * The provider (TOML key `provider`): `geonames` (embedded GeoNames cities, no network),
   * `google` (Places API (New) Nearby Search) or `google-legacy` (the legacy Nearby Search).
   *
   * @default {"geonames"}
   */
  provider: "geonames" | "google" | "google-legacy";
  /**
   * Base URL the Google providers call instead of Google's own (TOML key `endpoint`), e.g.
   * `http://127.0.0.1:8080` for a proxy or a fake in tests; the API path is appended. `http:` or
   * `https:`, no query or fragment. Absent: `https://places.googleapis.com` (`google`) or
   * `https://maps.googleapis.com` (`google-legacy`).
   */
  endpoint?: string;
  /**
   * Longest a WHATSAT waits for the places service, in milliseconds (TOML key `timeout_ms`),
   * retry included; past it the reply says `UNKNOWN_ERROR`. Shorter answers sooner when Google is
   * slow; longer gives a slow network more chance. 1..120000.
   *
   * @default {5000}
   */
  timeoutMs: number;
  /**
   * How long an answer is reused, in seconds (TOML key `cache_ttl_s`). Longer saves requests
   * (and money) but serves staler places. Google's terms allow keeping coordinates at most
   * 30 days, hence the maximum 2592000; 0 disables the cache (identical concurrent questions are
   * still coalesced).
   *
   * @default {60}
   */
  cacheTtlS: number;
  /**
   * Most answers kept, least recently used dropped first (TOML key `cache_entries`). An entry is
   * one rounded location and radius with up to 20 places (a few KiB). 0 disables the cache.
   * 0..1000000.
   *
   * @default {10000}
   */
  cacheEntries: number;
  /**
   * Place fields the `google` provider asks for (TOML key `field_mask`), sent as the
   * `X-Goog-FieldMask` header; Google bills by the costliest field. Each is `places.<field>`;
   * `places.id`, `places.displayName` and `places.location` are required, wildcards are refused.
   *
   * @default the Pro-tier fields of {@linkcode DEFAULT_PLACES}
   */
  fieldMask: readonly string[];
}

/** `[places]` settings used for every key the file leaves out (no `endpoint`: Google's own). */
export const DEFAULT_PLACES: Readonly<Omit<PlacesConfig, "endpoint">> = Object.freeze({
  provider: "geonames",
  timeoutMs: 5000,
  cacheTtlS: 60,
  cacheEntries: 10000,
  // Only fields billed at the Nearby Search Pro SKU, the lowest tier Nearby Search (New) has:
  // every field of a legacy Nearby Search result the New API gives at that price.
  fieldMask: Object.freeze([
    "places.id",
    "places.displayName",
    "places.location",
    "places.viewport",
    "places.types",
    "places.shortFormattedAddress",
    "places.formattedAddress",
    "places.businessStatus",
    "places.plusCode",
    "places.iconMaskBaseUri",
    "places.iconBackgroundColor",
    "places.attributions",
  ]),
});

/** Tunables: the keys of the `[herd]` table other than `links`. */
export interface HerdSettings {
  /**
   * Longest message line a member buffers, in bytes (TOML key `max_line_bytes`). Longer lines are
   * answered with `? ` plus the first this-many bytes and the rest is skipped (PROTOCOL.md
   * section 1). A bigger cap admits longer WHATSAT/AT lines but lets each connection pin more
   * memory. Allowed 256..1048576.
   *
   * @default {16384}
   */
  maxLineBytes: number;
  /**
   * First delay before redialling a neighbour whose link failed, in milliseconds (TOML key
   * `redial_min_ms`); it doubles, with jitter, after each further failure. Smaller heals a
   * restarted peer sooner but hammers a peer that stays down. At least 1.
   *
   * @default {100}
   */
  redialMinMs: number;
  /**
   * Cap on the redial delay, in milliseconds (TOML key `redial_max_ms`). Smaller notices a
   * returning peer sooner at the price of more connection attempts while it is away. At least
   * `redialMinMs`.
   *
   * @default {5000}
   */
  redialMaxMs: number;
  /**
   * Most flood lines held for one peer link while it is down or slow, in lines (TOML key
   * `peer_queue_limit`); past it the oldest are dropped and reconciliation catches the peer up
   * when the link returns (PROTOCOL.md section 4). Bigger means less reconciliation work, more
   * memory per dead link. At least 1.
   *
   * @default {10000}
   */
  peerQueueLimit: number;
  /**
   * Most connections (clients and neighbours) a member serves at once (TOML key
   * `max_connections`); a connection over it is closed as soon as it is accepted, and logged.
   * Keep it below the process's open-file limit. At least 1.
   *
   * @default {4096}
   */
  maxConnections: number;
  /**
   * A client connection that sends nothing and has no reply in progress for this long is
   * closed, in milliseconds (TOML key `client_idle_ms`); 0 never closes idle clients.
   * Neighbours' connections are exempt.
   *
   * @default {300000}
   */
  clientIdleMs: number;
  /**
   * Longest a single write to a connection may wait for the other side to read, in
   * milliseconds (TOML key `write_timeout_ms`). A client that stops reading is disconnected
   * after it, and a neighbour link that stalls is dropped and redialled, so an unread socket
   * never holds the member's memory. At least 1.
   *
   * @default {30000}
   */
  writeTimeoutMs: number;
  /**
   * Period of anti-entropy on every peer link that is up, in milliseconds (TOML key
   * `sync_interval_ms`), on top of the reconciliation each time a link comes up. Identical
   * stores cost one ~400-byte line per link. 0 turns the periodic run off.
   *
   * @default {60000}
   */
  syncIntervalMs: number;
  /**
   * On SIGTERM/SIGINT, how long a member waits for replies in progress and queued floods to go
   * out before closing everything, in milliseconds (TOML key `drain_ms`). 0 closes at once.
   *
   * @default {2000}
   */
  drainMs: number;
  /**
   * How a member relays the updates it stores (TOML key `dissemination`). `"tree"`: an
   * epidemic broadcast tree (Plumtree): eager push of each update along a spanning tree of the
   * links, lazy announcements of update ids on the other links, graft and prune to keep and
   * repair the tree; on a link whose other end does not announce trees in its hello, and for
   * the first hop of a client's update, it floods. `"flood"`: every stored update goes to every
   * neighbour but its sender (PROTOCOL.md section 4), on every link. docs/PROTOCOL.md specifies
   * the tree's lines; docs/SCALING.md measures both.
   *
   * The default is `"tree"`: on 100 members of degree 4 at 100 updates/s it reads 110 lines per
   * update against flooding's 301, and keeps up where flooding falls seconds behind
   * (docs/SCALING.md); on the default herd both cost about the same.
   *
   * @default {"tree"}
   */
  dissemination: "tree" | "flood";
  /**
   * Tree dissemination: how long a member gathers update ids before it announces them to its
   * lazy neighbours in one batched line, in milliseconds (TOML key `lazy_push_ms`). Longer
   * means fewer announcement lines per update and a slower repair when the tree breaks. At
   * least 1.
   *
   * @default {200}
   */
  lazyPushMs: number;
  /**
   * Tree dissemination: how long after an announcement of an update it does not hold a member
   * waits at least for the update to arrive by the tree before it asks the announcer for it (a
   * graft), in milliseconds (TOML key `graft_timeout_ms`); the wait grows by twice the tree's
   * recent lateness under load (docs/PROTOCOL.md). Shorter repairs sooner and grafts needlessly
   * on a slow herd. At least 1.
   *
   * @default {100}
   */
  graftTimeoutMs: number;
  /**
   * Longest a neighbour's connection may stay silent, in milliseconds (TOML key
   * `peer_timeout_ms`): any bytes received count as a sign of life; a link that hears nothing
   * for half of it sends a ping, and one that hears nothing for all of it is dropped
   * (`peer.link.dropped`, reason `timeout`) and redialled with backoff. A redial whose welcome
   * does not come within it counts as failed. Catches a neighbour that is frozen, unplugged or
   * stopped with SIGSTOP (its kernel still completes TCP handshakes). Shorter notices sooner and
   * drops a merely slow neighbour sooner. 0 turns keepalive off (links wait for FIN or RST).
   *
   * @default {5000}
   */
  peerTimeoutMs: number;
  /**
   * How long a record lives after its client time, in seconds (TOML key `record_ttl_s`): a
   * record whose client time is older than now minus it is dropped everywhere (store, digest,
   * record file, spatial index, streams) by the same rule on every member, and refused on every
   * way in, so nothing brings it back. 0 keeps records forever.
   *
   * @default {0}
   */
  recordTtlS: number;
  /**
   * Period of the expiry sweep, in milliseconds (TOML key `expiry_sweep_ms`); only used when
   * `record_ttl_s` is set. Replicas drop an expired record within this period plus their
   * clocks' offset. Shorter frees memory sooner and costs a scan of the oldest records each time.
   *
   * @default {1000}
   */
  expirySweepMs: number;
  /**
   * Most connections one source address may hold open at once on the client port, in
   * connections (TOML key `max_connections_per_source`); past it a new one is closed at once and
   * logged (`conn.refused`, reason `per source`). Neighbours are exempt. 0: no cap.
   *
   * @default {0}
   */
  maxConnectionsPerSource: number;
  /**
   * Most lines a client connection may send per second (TOML key `max_lines_per_s`); lines past
   * it wait (the member stops reading that connection) rather than being dropped, so a client
   * is slowed, never answered out of order. Neighbours are exempt. 0: no cap.
   *
   * @default {0}
   */
  maxLinesPerS: number;
  /**
   * Connections out of `max_connections` that clients may never take, kept for neighbours
   * (TOML key `reserved_peer_connections`), so a flood of idle clients never locks the herd's
   * own links out. Less than `max_connections` when given; the reserve in effect is capped at
   * half of it (so clients keep at least half), and is 0 on a member without neighbours
   * (src/herd/limits.ts).
   *
   * @default {64}
   */
  reservedPeerConnections: number;
  /**
   * Shared secret that authenticates peer hellos with HMAC-SHA256 (TOML key `secret`; the
   * `HERD_SECRET` environment variable overrides it). Without one, a hello is accepted only
   * from the host herd.toml lists for its server, and each member warns at start. At least 16
   * characters. Never logged.
   */
  secret?: string;
  /**
   * Directory for each member's SQLite record file `<Name>.sqlite` (TOML key `data_dir`,
   * relative to the working directory). When set, a member reloads its records at start and
   * writes every stored record before replying, so even a restart of every member loses nothing
   * acknowledged. Unset: records live in memory only.
   */
  dataDir?: string;
}

/**
 * The `[log]` table: when each member's JSON Lines file `<Name>.log` is rotated and how many
 * rotated files are kept. The field names match `LoggingOptions` of src/log.ts, so the table
 * can be spread into it.
 */
export interface LogConfig {
  /**
   * Size at which `<Name>.log` is rotated, in bytes (TOML key `max_file_bytes`): a write that
   * would take the file past it first renames the file to `<Name>.log.1` (older ones move up
   * to `.2`, `.3`...) and starts a fresh one; only a single line longer than this can make a
   * file bigger. The size of an existing file counts when a member starts. Smaller files are
   * quicker to open and grep; together with `max_files` it bounds the disk a member's logs
   * take. 0 never rotates (for an external logrotate, which signals SIGUSR1); otherwise at
   * least {@linkcode MIN_LOG_FILE_BYTES}.
   *
   * @default {67108864}
   */
  maxFileBytes: number;
  /**
   * Rotated files kept beside the live one (TOML key `max_files`): `<Name>.log.1` (newest) to
   * `<Name>.log.<max_files>`; the oldest is deleted at the next rotation. 0 keeps every one
   * (nothing is ever deleted). At least 0.
   *
   * @default {5}
   */
  maxFiles: number;
  /**
   * Whether log files hold clients' locations (TOML key `locations`): `"full"` writes lines as
   * they came; `"redacted"` replaces each ISO 6709 location in logged lines by `<location>`, so
   * an erased client's whereabouts are not left in the files.
   *
   * @default {"full"}
   */
  locations: "full" | "redacted";
}

/** `[log]` settings used for every key the file leaves out: 64 MiB files, 5 rotated ones. */
export const DEFAULT_LOG: Readonly<LogConfig> = Object.freeze({
  maxFileBytes: 64 * 1024 * 1024,
  maxFiles: 5,
  locations: "full",
});

/**
 * Smallest nonzero `[log] max_file_bytes`, bytes: a few hundred lines. A smaller cap is almost
 * surely a unit mistake (`64` meant as MiB), and would keep only a handful of lines.
 */
export const MIN_LOG_FILE_BYTES = 65536;

/** A whole herd: its members, the links between them, the places provider and the tunables. */
export interface HerdConfig {
  /** Every member, in file order; names and host:port pairs are unique. */
  servers: ServerConfig[];
  /** Undirected links between server names, as listed (duplicates possible, no self-links). */
  links: Array<[string, string]>;
  /** Places provider settings. */
  places: PlacesConfig;
  /** Tunables. */
  settings: HerdSettings;
  /** Log file rotation. */
  log: LogConfig;
  /** The HTTP API's shared settings. */
  http: HttpConfig;
  /** TLS for the peer and client listeners; both off by default. */
  tls: TlsConfig;
}

/** Tunables used for every `[herd]` key the file leaves out. */
export const DEFAULT_SETTINGS: Readonly<HerdSettings> = Object.freeze({
  maxLineBytes: 16384,
  redialMinMs: 100,
  redialMaxMs: 5000,
  peerQueueLimit: 10000,
  maxConnections: 4096,
  clientIdleMs: 300000,
  writeTimeoutMs: 30000,
  syncIntervalMs: 60000,
  drainMs: 2000,
  dissemination: "tree",
  lazyPushMs: 200,
  graftTimeoutMs: 100,
  peerTimeoutMs: 5000,
  recordTtlS: 0,
  expirySweepMs: 1000,
  maxConnectionsPerSource: 0,
  maxLinesPerS: 0,
  reservedPeerConnections: 64,
});

/**
 * Any configuration problem a user can cause. The message is one line: where (file and key, or
 * line and column), what is wrong, and the fix. Print it as is, without a stack trace.
 */
export class ConfigError extends Error {
  /** Always `ConfigError`, so the error is recognisable once printed or logged. */
  override name = "ConfigError";

  /**
   * Creates a ConfigError.
   *
   * @param message One line naming the key and the fix.
   * @param options Standard error options; `cause` keeps the underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Default host of a server that names none. */
const DEFAULT_HOST = "127.0.0.1";

/** Places providers a `[places]` table may name. */
const PLACES_PROVIDERS: readonly PlacesConfig["provider"][] = [
  "geonames",
  "google",
  "google-legacy",
];

/** A server name travels in hello lines and AT records, so it must be one safe field. */
const SERVER_NAME = /^[A-Za-z0-9._-]+$/;
const SERVER_NAME_HINT = "one or more of A-Z a-z 0-9 . _ -";

const TOP_KEYS = ["herd", "places", "log", "http", "tls", "servers"];
const HTTP_KEYS = ["token", "cors_origins"];
const LOG_KEYS = ["max_file_bytes", "max_files", "locations"];
const TLS_KEYS = ["cert_file", "key_file", "ca_file", "peers", "clients"];
const SERVER_KEYS = ["name", "host", "port", "http_port", "http_host", "peer_port", "peer_host"];
const PLACES_KEYS = [
  "provider",
  "endpoint",
  "timeout_ms",
  "cache_ttl_s",
  "cache_entries",
  "field_mask",
];

/** Longest `timeout_ms`: a WHATSAT waiting longer than two minutes has been given up on. */
const MAX_PLACES_TIMEOUT_MS = 120_000;

/** Longest `cache_ttl_s`: Google lets coordinates be kept at most 30 days. */
const MAX_CACHE_TTL_S = 30 * 24 * 3600;

/** The integer keys of `[places]`. */
const PLACES_INTEGER_KEYS: ReadonlyArray<IntegerKey<PlacesConfig>> = [
  { key: "timeout_ms", field: "timeoutMs", min: 1, max: MAX_PLACES_TIMEOUT_MS },
  { key: "cache_ttl_s", field: "cacheTtlS", min: 0, max: MAX_CACHE_TTL_S },
  { key: "cache_entries", field: "cacheEntries", min: 0, max: 1_000_000 },
];

/** One field of a Places API (New) field mask: `places.` and a (possibly dotted) field path. */
const FIELD_MASK_PATH = /^places\.[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/;

/** Fields a WHATSAT answer cannot do without (`place_id`, `name`, `geometry.location`). */
const REQUIRED_FIELDS = ["places.id", "places.displayName", "places.location"];

/** The fields of `T` that hold numbers. */
type NumericField<T> = {
  [K in keyof T]-?: T[K] extends number ? K : never;
}[keyof T];

/** An integer key of a table: its TOML name, the field it fills, and the allowed range. */
interface IntegerKey<T> {
  key: string;
  field: NumericField<T>;
  min: number;
  max: number;
}

/** Tunables: TOML key, field, and allowed range. */
const SETTING_KEYS: ReadonlyArray<IntegerKey<HerdSettings>> = [
  { key: "max_line_bytes", field: "maxLineBytes", min: 256, max: 1048576 },
  // setTimeout treats delays above 2^31-1 ms as 0, so a larger value would redial in a hot loop.
  { key: "redial_min_ms", field: "redialMinMs", min: 1, max: 2147483647 },
  { key: "redial_max_ms", field: "redialMaxMs", min: 1, max: 2147483647 },
  { key: "peer_queue_limit", field: "peerQueueLimit", min: 1, max: Number.MAX_SAFE_INTEGER },
  { key: "max_connections", field: "maxConnections", min: 1, max: 1048576 },
  { key: "client_idle_ms", field: "clientIdleMs", min: 0, max: 2147483647 },
  { key: "write_timeout_ms", field: "writeTimeoutMs", min: 1, max: 2147483647 },
  { key: "sync_interval_ms", field: "syncIntervalMs", min: 0, max: 2147483647 },
  { key: "drain_ms", field: "drainMs", min: 0, max: 2147483647 },
  { key: "lazy_push_ms", field: "lazyPushMs", min: 1, max: 2147483647 },
  { key: "graft_timeout_ms", field: "graftTimeoutMs", min: 1, max: 2147483647 },
  { key: "peer_timeout_ms", field: "peerTimeoutMs", min: 0, max: 2147483647 },
  // Ten years: past it a TTL is "forever" spelled as a number.
  { key: "record_ttl_s", field: "recordTtlS", min: 0, max: 10 * 366 * 24 * 3600 },
  { key: "expiry_sweep_ms", field: "expirySweepMs", min: 1, max: 2147483647 },
  { key: "max_connections_per_source", field: "maxConnectionsPerSource", min: 0, max: 1048576 },
  { key: "max_lines_per_s", field: "maxLinesPerS", min: 0, max: 1_000_000_000 },
  { key: "reserved_peer_connections", field: "reservedPeerConnections", min: 0, max: 1048576 },
];

/** Values of `[herd] dissemination`. */
export const DISSEMINATIONS: readonly HerdSettings["dissemination"][] = ["tree", "flood"];
/** Shortest accepted `[herd] secret`, characters. */
export const MIN_SECRET_LENGTH = 16;
const HERD_KEYS = [
  "links",
  "secret",
  "data_dir",
  "dissemination",
  ...SETTING_KEYS.map((s) => s.key),
];

/** Throws a ConfigError about `key`. */
type Fail = (key: string, problem: string) => never;

type Table = Record<string, unknown>;

/**
 * Parses and validates the text of a herd.toml.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "./config.ts";
 *
 * const config = parseConfig('[[servers]]\nname = "Solo"\nport = 12000\n');
 * assert.equal(config.servers[0].host, "127.0.0.1");
 * assert.deepEqual(config.links, []);
 * ```
 *
 * @param text The TOML document.
 * @param source File name put before every error message (`herd.toml: servers[1].port: ...`).
 * @returns The validated config with defaults filled in.
 * @throws {ConfigError} On a TOML syntax error or any invalid, missing or unknown key.
 */
export function parseConfig(text: string, source?: string): HerdConfig {
  const prefix = source === undefined ? "" : `${source}: `;
  const fail: Fail = (key, problem) => {
    throw new ConfigError(`${prefix}${key}: ${problem}`);
  };

  let doc: Table;
  try {
    doc = parse(text, { integersAsBigInt: true });
  } catch (error) {
    if (error instanceof TomlError) {
      const detail = error.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      throw new ConfigError(
        `${prefix}line ${error.line}, column ${error.column}: invalid TOML: ${detail}; ` +
          "fix the syntax there",
        { cause: error },
      );
    }
    throw error;
  }

  checkKeys(doc, "", TOP_KEYS, fail);
  const herd = optionalTable(doc, "herd", fail);
  if (herd) checkKeys(herd, "herd.", HERD_KEYS, fail);

  const servers = readServers(doc.servers, fail);
  const places = readPlaces(doc.places, fail);
  const settings = readSettings(herd ?? {}, fail);
  const log = readLog(optionalTable(doc, "log", fail), fail);
  const http = readHttp(optionalTable(doc, "http", fail), fail);
  const tls = readTls(optionalTable(doc, "tls", fail), servers, fail);
  const links = readLinks(herd?.links, servers, fail);
  checkConnected(servers, links, fail);
  return { servers, links, places, settings, log, http, tls };
}

/**
 * Checks that a herd whose servers have peer ports has a secret: a neighbour dialling a peer
 * port from a private interface cannot be checked by source address against `host`, so only
 * the HMAC hello can tell it from a stranger. Call it after {@linkcode withSecret}.
 *
 * @param config The herd, with any `HERD_SECRET` applied.
 * @throws {ConfigError} If a server has `peer_port` and there is no `[herd] secret`.
 */
export function checkPeerSecret(config: HerdConfig): void {
  const withPort = config.servers.find((s) => s.peerPort !== undefined);
  if (withPort !== undefined && config.settings.secret === undefined) {
    throw new ConfigError(
      `herd.secret: required because ${withPort.name} has a peer_port (a peer dialling a peer ` +
        "port cannot be checked by its source address); set [herd] secret or HERD_SECRET",
    );
  }
}

/**
 * Overrides `[herd] secret` with the `HERD_SECRET` environment variable's value, when set.
 *
 * @param config A parsed config.
 * @param secret The variable's value, or `undefined` if unset (then `config` is returned as is).
 * @returns The config with the secret in place.
 * @throws {ConfigError} If the value is shorter than {@link MIN_SECRET_LENGTH} (not echoed).
 */
export function withSecret(config: HerdConfig, secret: string | undefined): HerdConfig {
  if (secret === undefined || secret === "") return config;
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(
      `HERD_SECRET: must be at least ${MIN_SECRET_LENGTH} characters; use a long random string`,
    );
  }
  return { ...config, settings: { ...config.settings, secret } };
}

/**
 * Reads and validates a herd.toml file.
 *
 * @param path The file to read; also prefixed to error messages.
 * @returns The validated config.
 * @throws {ConfigError} When the file cannot be read (missing, a directory, no read permission)
 * or its content is invalid (see {@link parseConfig}).
 */
export async function loadConfig(path: string): Promise<HerdConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(
      `cannot read ${path}: ${readFailure(error)}; pass --config <file> naming a herd file ` +
        "(see herd.toml in the repository)",
      { cause: error },
    );
  }
  return parseConfig(text, path);
}

/**
 * Names of the servers linked to `name`.
 *
 * @param config The herd.
 * @param name A server name.
 * @returns Neighbour names, sorted and deduplicated; empty for an unknown name.
 */
export function neighboursOf(config: HerdConfig, name: string): string[] {
  const found = new Set<string>();
  for (const [a, b] of config.links) {
    if (a === name) found.add(b);
    if (b === name) found.add(a);
  }
  return [...found].sort();
}

/**
 * Looks a server up by name.
 *
 * @param config The herd.
 * @param name Server name, case-sensitive.
 * @returns The server, or undefined when the herd has no server of that name.
 */
export function findServer(config: HerdConfig, name: string): ServerConfig | undefined {
  return config.servers.find((server) => server.name === name);
}

/**
 * The default herd of PROTOCOL.md section 6, the same as the repository's herd.toml: Campbell,
 * Hill, Jaquez, Singleton and Smith on 127.0.0.1 ports 11490..11494, HTTP on 11590..11594.
 *
 * @returns A fresh config (callers may mutate it).
 */
export function defaultConfig(): HerdConfig {
  return {
    servers: [
      { name: "Campbell", host: DEFAULT_HOST, port: 11490, httpPort: 11590 },
      { name: "Hill", host: DEFAULT_HOST, port: 11491, httpPort: 11591 },
      { name: "Jaquez", host: DEFAULT_HOST, port: 11492, httpPort: 11592 },
      { name: "Singleton", host: DEFAULT_HOST, port: 11493, httpPort: 11593 },
      { name: "Smith", host: DEFAULT_HOST, port: 11494, httpPort: 11594 },
    ],
    links: [
      ["Hill", "Jaquez"],
      ["Hill", "Smith"],
      ["Singleton", "Jaquez"],
      ["Singleton", "Smith"],
      ["Singleton", "Campbell"],
      ["Smith", "Campbell"],
    ],
    places: { ...DEFAULT_PLACES, fieldMask: [...DEFAULT_PLACES.fieldMask] },
    settings: { ...DEFAULT_SETTINGS },
    log: { ...DEFAULT_LOG },
    http: { corsOrigins: [] },
    tls: { peers: false, clients: false },
  };
}

/**
 * The default herd for tests: the same names and links, every port 0 (the OS picks a free one;
 * never valid in a file), no HTTP and short redial timers (10..200 ms) so tests heal links quickly.
 *
 * @returns A fresh config (callers may mutate it, e.g. to fill in bound ports).
 */
export function testConfig(): HerdConfig {
  const config = defaultConfig();
  return {
    ...config,
    servers: config.servers.map(({ name }) => ({ name, host: DEFAULT_HOST, port: 0 })),
    settings: { ...config.settings, redialMinMs: 10, redialMaxMs: 200, drainMs: 500 },
  };
}

function readServers(value: unknown, fail: Fail): ServerConfig[] {
  const fix = 'add a [[servers]] table with name = "..." and port = <1..65535>';
  if (value === undefined) fail("servers", `missing; ${fix}`);
  if (!Array.isArray(value)) {
    return fail("servers", `must be an array of tables ([[servers]]), got ${describe(value)}`);
  }
  if (value.length === 0) fail("servers", `must list at least one server; ${fix}`);

  const servers: ServerConfig[] = [];
  const byName = new Map<string, number>();
  const byAddress = new Map<string, number>();
  value.forEach((entry: unknown, i) => {
    const where = `servers[${i}]`;
    if (!isTable(entry)) return fail(where, `must be a table, got ${describe(entry)}`);
    checkKeys(entry, `${where}.`, SERVER_KEYS, fail);

    const name = entry.name;
    if (name === undefined) {
      fail(`${where}.name`, `missing; add name = "..." (${SERVER_NAME_HINT})`);
    }
    if (typeof name !== "string") {
      return fail(`${where}.name`, `must be a string, got ${describe(name)}`);
    }
    if (!SERVER_NAME.test(name)) {
      fail(
        `${where}.name`,
        `must be ${SERVER_NAME_HINT} (it is one field of hello and AT lines), ` +
          `got ${JSON.stringify(name)}`,
      );
    }
    const earlier = byName.get(name);
    if (earlier !== undefined) {
      fail(
        `${where}.name`,
        `duplicate server name "${name}" (also servers[${earlier}].name); ` +
          "give each server a unique name",
      );
    }
    byName.set(name, i);

    const hostValue = entry.host ?? DEFAULT_HOST;
    if (typeof hostValue !== "string") {
      return fail(`${where}.host`, `must be a string, got ${describe(hostValue)}`);
    }
    if (!/^\S+$/.test(hostValue)) {
      fail(
        `${where}.host`,
        `must be a non-empty host name or IP address without white space, ` +
          `got ${JSON.stringify(hostValue)}; leave it out for ${DEFAULT_HOST}`,
      );
    }

    if (entry.port === undefined) fail(`${where}.port`, "missing; add port = <1..65535>");
    const port = readInteger(entry.port, `${where}.port`, 1, 65535, fail);

    const address = `${hostValue.toLowerCase()}:${port}`;
    const clash = byAddress.get(address);
    if (clash !== undefined) {
      fail(
        `${where}.port`,
        `${name} and ${servers[clash].name} both use ${hostValue}:${port}; ` +
          "give each server its own host:port",
      );
    }
    byAddress.set(address, i);
    const server: ServerConfig = { name, host: hostValue, port };

    // A second and third listener of the member, each with an optional host of its own.
    const taken = (address: string) => {
      const at = byAddress.get(address);
      return at === undefined ? undefined : servers[at]?.name ?? name;
    };
    const http = readListener(entry, where, "http", hostValue, taken, fail);
    if (http !== undefined) {
      byAddress.set(http.address, i);
      server.httpPort = http.port;
      if (http.host !== undefined) server.httpHost = http.host;
    }
    const peer = readListener(entry, where, "peer", hostValue, taken, fail);
    if (peer !== undefined) {
      byAddress.set(peer.address, i);
      server.peerPort = peer.port;
      if (peer.host !== undefined) server.peerHost = peer.host;
    }
    servers.push(server);
  });
  return servers;
}

/**
 * A server's `<kind>_port` and optional `<kind>_host` (`http` or `peer`): the host defaults to the
 * server's, a host without a port is an error, and the address must not be taken already.
 */
function readListener(
  entry: Table,
  where: string,
  kind: "http" | "peer",
  serverHost: string,
  takenBy: (address: string) => string | undefined,
  fail: Fail,
): { port: number; host?: string; address: string } | undefined {
  const [hostKey, portKey] = [`${kind}_host`, `${kind}_port`];
  const host = entry[hostKey];
  if (host !== undefined) {
    if (typeof host !== "string" || !/^\S+$/.test(host)) {
      fail(
        `${where}.${hostKey}`,
        `must be a non-empty host name or IP address without white space, got ` +
          `${describe(host)}; leave it out to use the server's host`,
      );
    }
    if (entry[portKey] === undefined) {
      fail(`${where}.${hostKey}`, `is set but ${portKey} is not; add ${portKey} = <1..65535>`);
    }
  }
  if (entry[portKey] === undefined) return undefined;
  const port = readInteger(entry[portKey], `${where}.${portKey}`, 1, 65535, fail);
  const address = `${((host as string | undefined) ?? serverHost).toLowerCase()}:${port}`;
  const other = takenBy(address);
  if (other !== undefined) {
    fail(
      `${where}.${portKey}`,
      `${address} is already used by ${other}; give each port its own number`,
    );
  }
  return { port, host: host as string | undefined, address };
}

function readHttp(table: Table | undefined, fail: Fail): HttpConfig {
  const http: HttpConfig = { corsOrigins: [] };
  if (table === undefined) return http;
  checkKeys(table, "http.", HTTP_KEYS, fail);
  if (table.token !== undefined) {
    if (typeof table.token !== "string" || table.token.length < MIN_SECRET_LENGTH) {
      // The value is not echoed: it is a secret.
      fail(
        "http.token",
        `must be a string of at least ${MIN_SECRET_LENGTH} characters; use a long random string ` +
          "(or set HERD_HTTP_TOKEN)",
      );
    }
    http.token = table.token as string;
  }
  if (table.cors_origins !== undefined) {
    const origins = table.cors_origins;
    if (!Array.isArray(origins)) {
      fail("http.cors_origins", `must be an array of origins, got ${describe(origins)}`);
    }
    (origins as unknown[]).forEach((origin, i) => {
      let ok = false;
      if (typeof origin === "string") {
        try {
          const url = new URL(origin);
          ok = (url.protocol === "http:" || url.protocol === "https:") && url.origin === origin;
        } catch {
          ok = false;
        }
      }
      if (!ok) {
        fail(
          `http.cors_origins[${i}]`,
          `must be an origin such as "https://example.com" (scheme, host, optional port; ` +
            `no path or trailing slash), got ${describe(origin)}`,
        );
      }
      http.corsOrigins.push(origin as string);
    });
  }
  return http;
}

/**
 * Overrides `[http] token` with the `HERD_HTTP_TOKEN` environment variable's value, when set.
 *
 * @param config A parsed config.
 * @param token The variable's value, or `undefined` if unset (then `config` is returned as is).
 * @returns The config with the token in place.
 * @throws {ConfigError} If the value is shorter than {@link MIN_SECRET_LENGTH} (not echoed).
 */
export function withHttpToken(config: HerdConfig, token: string | undefined): HerdConfig {
  if (token === undefined || token === "") return config;
  if (token.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(
      `HERD_HTTP_TOKEN: must be at least ${MIN_SECRET_LENGTH} characters; use a long random string`,
    );
  }
  return { ...config, http: { ...config.http, token } };
}

function readTls(table: Table | undefined, servers: ServerConfig[], fail: Fail): TlsConfig {
  const tls: TlsConfig = { peers: false, clients: false };
  if (table === undefined) return tls;
  checkKeys(table, "tls.", TLS_KEYS, fail);
  for (
    const [key, field] of [["cert_file", "certFile"], ["key_file", "keyFile"], [
      "ca_file",
      "caFile",
    ]] as const
  ) {
    const value = table[key];
    if (value === undefined) continue;
    if (typeof value !== "string" || value === "") {
      fail(`tls.${key}`, `must be a non-empty path to a PEM file, got ${describe(value)}`);
    }
    tls[field] = value as string;
  }
  for (const key of ["peers", "clients"] as const) {
    const value = table[key];
    if (value === undefined) continue;
    if (typeof value !== "boolean") {
      fail(`tls.${key}`, `must be true or false, got ${describe(value)}`);
    }
    tls[key] = value as boolean;
  }
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    const [set, unset] = tls.certFile === undefined ? ["key_file", "cert_file"] : [
      "cert_file",
      "key_file",
    ];
    fail(`tls.${unset}`, `missing; ${set} is set, and a certificate needs both`);
  }
  if ((tls.peers || tls.clients) && tls.certFile === undefined) {
    const which = tls.peers ? "peers" : "clients";
    fail(`tls.cert_file`, `missing; tls.${which} = true needs cert_file and key_file`);
  }
  if (tls.clients && servers.length > 1) {
    const without = servers.find((s) => s.peerPort === undefined);
    if (without !== undefined) {
      fail(
        "tls.clients",
        `needs a peer_port on every server of a herd, and ${without.name} has none: its ` +
          "neighbours would dial its TLS client port in plain TCP; add peer_port (and " +
          "tls.peers = true for TLS between members)",
      );
    }
  }
  if (tls.peers) {
    if (tls.caFile === undefined) {
      fail(
        "tls.ca_file",
        "missing; tls.peers = true needs the CA that signs the members' certificates",
      );
    }
    const without = servers.find((s) => s.peerPort === undefined);
    if (without !== undefined) {
      fail(
        "tls.peers",
        `needs a peer_port on every server, and ${without.name} has none; add peer_port ` +
          "(TLS is per listener, and the client port stays plain unless tls.clients = true)",
      );
    }
  }
  return tls;
}

function readPlaces(value: unknown, fail: Fail): PlacesConfig {
  const places: PlacesConfig = { ...DEFAULT_PLACES, fieldMask: [...DEFAULT_PLACES.fieldMask] };
  if (value === undefined) return places;
  if (!isTable(value)) return fail("places", `must be a table, got ${describe(value)}`);
  checkKeys(value, "places.", PLACES_KEYS, fail);
  const provider = value.provider ?? "geonames";
  const known = PLACES_PROVIDERS.find((p) => p === provider);
  if (known === undefined) {
    return fail(
      "places.provider",
      `must be one of ${
        PLACES_PROVIDERS.map((p) => `"${p}"`)
          .join(", ")
      }, got ${typeof provider === "string" ? JSON.stringify(provider) : describe(provider)}`,
    );
  }
  places.provider = known;
  if (value.endpoint !== undefined) places.endpoint = readEndpoint(value.endpoint, fail);
  readIntegers(value, "places", PLACES_INTEGER_KEYS, places, fail);
  if (value.field_mask !== undefined) places.fieldMask = readFieldMask(value.field_mask, fail);
  return places;
}

/** `places.endpoint`: an http(s) base URL without query or fragment, trailing slashes removed. */
function readEndpoint(value: unknown, fail: Fail): string {
  const example = 'like "http://127.0.0.1:8080" or "https://proxy.internal/google"';
  if (typeof value !== "string") {
    return fail("places.endpoint", `must be a URL string ${example}, got ${describe(value)}`);
  }
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (
    url === undefined || (url.protocol !== "http:" && url.protocol !== "https:") ||
    url.search !== "" || url.hash !== "" || value.includes("?") || value.includes("#")
  ) {
    return fail(
      "places.endpoint",
      `must be an http: or https: base URL without query or fragment, ${example}, ` +
        `got ${JSON.stringify(value)}`,
    );
  }
  return value.replace(/\/+$/, "");
}

/** `places.field_mask`: explicit `places.<field>` paths, the required ones included. */
function readFieldMask(value: unknown, fail: Fail): string[] {
  const shape = 'must be an array of field paths like ["places.id", "places.displayName"]';
  if (!Array.isArray(value) || value.length === 0) {
    return fail("places.field_mask", `${shape}, got ${describe(value)}`);
  }
  const fields = value.map((field: unknown, i) => {
    if (typeof field !== "string" || !FIELD_MASK_PATH.test(field)) {
      return fail(
        `places.field_mask[${i}]`,
        `must be "places.<field>" (no wildcards: they bill every field), got ${describe(field)}`,
      );
    }
    return field;
  });
  const missing = REQUIRED_FIELDS.filter((field) => !fields.includes(field));
  if (missing.length > 0) {
    fail(
      "places.field_mask",
      `lacks ${missing.join(", ")}; a WHATSAT answer needs ${REQUIRED_FIELDS.join(", ")}`,
    );
  }
  return [...new Set(fields)];
}

function readSettings(herd: Table, fail: Fail): HerdSettings {
  const settings: HerdSettings = { ...DEFAULT_SETTINGS };
  readIntegers(herd, "herd", SETTING_KEYS, settings, fail);
  if (herd.secret !== undefined) {
    // The value itself never goes into a message.
    if (typeof herd.secret !== "string") {
      fail("herd.secret", `must be a string, got ${typeof herd.secret}`);
    }
    if ((herd.secret as string).length < MIN_SECRET_LENGTH) {
      fail(
        "herd.secret",
        `must be at least ${MIN_SECRET_LENGTH} characters; use a long random string`,
      );
    }
    settings.secret = herd.secret as string;
  }
  if (herd.data_dir !== undefined) {
    if (typeof herd.data_dir !== "string" || herd.data_dir === "") {
      fail("herd.data_dir", `must be a non-empty directory path, got ${describe(herd.data_dir)}`);
    }
    settings.dataDir = herd.data_dir as string;
  }
  if (herd.dissemination !== undefined) {
    if (!DISSEMINATIONS.includes(herd.dissemination as HerdSettings["dissemination"])) {
      fail(
        "herd.dissemination",
        `must be "tree" or "flood", got ${describe(herd.dissemination)}`,
      );
    }
    settings.dissemination = herd.dissemination as HerdSettings["dissemination"];
  }
  if (
    herd.reserved_peer_connections !== undefined &&
    settings.reservedPeerConnections >= settings.maxConnections
  ) {
    fail(
      "herd.reserved_peer_connections",
      `must be less than herd.max_connections (${settings.maxConnections}), got ` +
        `${settings.reservedPeerConnections}; lower it or raise max_connections`,
    );
  }
  if (settings.redialMaxMs < settings.redialMinMs) {
    const given = herd.redial_max_ms === undefined ? " (the default)" : "";
    fail(
      "herd.redial_max_ms",
      `must be >= herd.redial_min_ms (${settings.redialMinMs}), ` +
        `got ${settings.redialMaxMs}${given}; raise redial_max_ms or lower redial_min_ms`,
    );
  }
  return settings;
}

function readLog(table: Table | undefined, fail: Fail): LogConfig {
  const log: LogConfig = { ...DEFAULT_LOG };
  if (table === undefined) return log;
  checkKeys(table, "log.", LOG_KEYS, fail);
  if (table.max_file_bytes !== undefined) {
    const bytes = readInteger(
      table.max_file_bytes,
      "log.max_file_bytes",
      0,
      Number.MAX_SAFE_INTEGER,
      fail,
    );
    if (bytes > 0 && bytes < MIN_LOG_FILE_BYTES) {
      fail(
        "log.max_file_bytes",
        `must be 0 (never rotate) or at least ${MIN_LOG_FILE_BYTES}, got ${bytes}; ` +
          "the unit is bytes, e.g. 67108864 for 64 MiB",
      );
    }
    log.maxFileBytes = bytes;
  }
  if (table.max_files !== undefined) {
    log.maxFiles = readInteger(table.max_files, "log.max_files", 0, Number.MAX_SAFE_INTEGER, fail);
  }
  if (table.locations !== undefined) {
    if (table.locations !== "full" && table.locations !== "redacted") {
      fail("log.locations", `must be "full" or "redacted", got ${describe(table.locations)}`);
    }
    log.locations = table.locations;
  }
  return log;
}

function readLinks(value: unknown, servers: ServerConfig[], fail: Fail): Array<[string, string]> {
  if (value === undefined) return [];
  const shape = 'must be an array of [name, name] pairs like [["Hill", "Smith"]]';
  if (!Array.isArray(value)) return fail("herd.links", `${shape}, got ${describe(value)}`);

  const known = new Set(servers.map((s) => s.name));
  const knownList = servers.map((s) => s.name).join(", ");
  return value.map((pair: unknown, i): [string, string] => {
    const where = `herd.links[${i}]`;
    if (!Array.isArray(pair) || pair.length !== 2) {
      const got = Array.isArray(pair) ? `an array of ${pair.length}` : describe(pair);
      return fail(where, `must be a pair of server names like ["Hill", "Smith"], got ${got}`);
    }
    pair.forEach((end: unknown, j) => {
      if (typeof end !== "string") fail(`${where}[${j}]`, `must be a string, got ${describe(end)}`);
      if (!known.has(end)) {
        fail(
          `${where}[${j}]`,
          `unknown server ${JSON.stringify(end)}; known servers are ${knownList}`,
        );
      }
    });
    const [a, b] = pair as [string, string];
    if (a === b) fail(where, `links "${a}" to itself; remove this link`);
    return [a, b];
  });
}

/** Every server must be reachable from the first one, or floods would never reach some. */
function checkConnected(servers: ServerConfig[], links: Array<[string, string]>, fail: Fail) {
  const reached = new Set([servers[0].name]);
  const todo = [servers[0].name];
  for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
    for (const [a, b] of links) {
      const other = a === name ? b : b === name ? a : undefined;
      if (other !== undefined && !reached.has(other)) {
        reached.add(other);
        todo.push(other);
      }
    }
  }
  const cut = servers.filter((s) => !reached.has(s.name)).map((s) => s.name);
  if (cut.length > 0) {
    fail(
      "herd.links",
      `the herd is not connected: ${cut.join(", ")} not reachable from ` +
        `${servers[0].name}; add links joining them to the rest`,
    );
  }
}

/** Reads each integer key `table` has into `into`, checking its range. */
function readIntegers<T>(
  table: Table,
  section: string,
  keys: ReadonlyArray<IntegerKey<T>>,
  into: T,
  fail: Fail,
): void {
  for (const { key, field, min, max } of keys) {
    if (table[key] === undefined) continue;
    (into as Record<NumericField<T>, number>)[field] = readInteger(
      table[key],
      `${section}.${key}`,
      min,
      max,
      fail,
    );
  }
}

function readInteger(value: unknown, key: string, min: number, max: number, fail: Fail): number {
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}..${max}`;
  if (typeof value !== "bigint" || value < BigInt(min) || value > BigInt(max)) {
    return fail(key, `must be an integer ${range}, got ${describe(value)}`);
  }
  return Number(value);
}

function checkKeys(table: Table, prefix: string, allowed: string[], fail: Fail): void {
  for (const key of Object.keys(table)) {
    if (!allowed.includes(key)) {
      fail(`${prefix}${keyName(key)}`, `unknown key; allowed keys are ${allowed.join(", ")}`);
    }
  }
}

function optionalTable(parent: Table, key: string, fail: Fail): Table | undefined {
  const value = parent[key];
  if (value === undefined) return undefined;
  if (!isTable(value)) return fail(key, `must be a table, got ${describe(value)}`);
  return value;
}

function isTable(value: unknown): value is Table {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

/** A key as TOML would need it written, so odd keys stay readable on one line. */
function keyName(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
}

/** The value for an out-of-range number or odd string, else just its TOML type. */
function describe(value: unknown): string {
  if (typeof value === "bigint") return String(value);
  if (typeof value === "number") return `float ${value}`;
  if (typeof value === "string") {
    const shown = value.length > 40 ? `${value.slice(0, 40)}...` : value;
    return `string ${JSON.stringify(shown)}`;
  }
  if (typeof value === "boolean") return "boolean";
  if (value instanceof Date) return "date-time";
  if (Array.isArray(value)) return "array";
  if (value === undefined) return "nothing";
  return "table";
}

/** Why a read failed, in a few words the user can act on. */
function readFailure(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  if (error instanceof Deno.errors.NotCapable) {
    return "read access not granted (run with --allow-read)";
  }
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0];
}

/**
 * Where a server's HTTP API listens, from herd.toml.
 *
 * @param server The server.
 * @returns Host and port, or `undefined` when it has no `http_port`.
 */
export function httpAddressOf(
  server: ServerConfig,
): { hostname: string; port: number } | undefined {
  if (server.httpPort === undefined) return undefined;
  return { hostname: server.httpHost ?? server.host, port: server.httpPort };
}

/**
 * Where a server's neighbours dial it: its peer listener when it has a `peer_port`, else its
 * client port (PROTOCOL.md section 1).
 *
 * @param server The server.
 * @returns Host and port.
 */
export function peerAddressOf(server: ServerConfig): { hostname: string; port: number } {
  if (server.peerPort === undefined) return { hostname: server.host, port: server.port };
  return { hostname: server.peerHost ?? server.host, port: server.peerPort };
}

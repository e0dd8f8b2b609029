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
}

/** The `[places]` table: which places provider answers WHATSAT. */
export interface PlacesConfig {
  /** The provider; only the embedded GeoNames data set for now. */
  provider: "geonames";
}

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
}

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
}

/** Tunables used for every `[herd]` key the file leaves out. */
export const DEFAULT_SETTINGS: Readonly<HerdSettings> = Object.freeze({
  maxLineBytes: 16384,
  redialMinMs: 100,
  redialMaxMs: 5000,
  peerQueueLimit: 10000,
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
const PLACES_PROVIDERS: readonly PlacesConfig["provider"][] = ["geonames"];

/** A server name travels in hello lines and AT records, so it must be one safe field. */
const SERVER_NAME = /^[A-Za-z0-9._-]+$/;
const SERVER_NAME_HINT = "one or more of A-Z a-z 0-9 . _ -";

const TOP_KEYS = ["herd", "places", "servers"];
const SERVER_KEYS = ["name", "host", "port"];
const PLACES_KEYS = ["provider"];

/** Tunables: TOML key, field, and allowed range. */
const SETTING_KEYS: ReadonlyArray<{
  key: string;
  field: keyof HerdSettings;
  min: number;
  max: number;
}> = [
  { key: "max_line_bytes", field: "maxLineBytes", min: 256, max: 1048576 },
  // setTimeout treats delays above 2^31-1 ms as 0, so a larger value would redial in a hot loop.
  { key: "redial_min_ms", field: "redialMinMs", min: 1, max: 2147483647 },
  { key: "redial_max_ms", field: "redialMaxMs", min: 1, max: 2147483647 },
  { key: "peer_queue_limit", field: "peerQueueLimit", min: 1, max: Number.MAX_SAFE_INTEGER },
];
const HERD_KEYS = ["links", ...SETTING_KEYS.map((s) => s.key)];

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
  const links = readLinks(herd?.links, servers, fail);
  checkConnected(servers, links, fail);
  return { servers, links, places, settings };
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
 * Hill, Jaquez, Singleton and Smith on 127.0.0.1 ports 11490..11494.
 *
 * @returns A fresh config (callers may mutate it).
 */
export function defaultConfig(): HerdConfig {
  return {
    servers: [
      { name: "Campbell", host: DEFAULT_HOST, port: 11490 },
      { name: "Hill", host: DEFAULT_HOST, port: 11491 },
      { name: "Jaquez", host: DEFAULT_HOST, port: 11492 },
      { name: "Singleton", host: DEFAULT_HOST, port: 11493 },
      { name: "Smith", host: DEFAULT_HOST, port: 11494 },
    ],
    links: [
      ["Hill", "Jaquez"],
      ["Hill", "Smith"],
      ["Singleton", "Jaquez"],
      ["Singleton", "Smith"],
      ["Singleton", "Campbell"],
      ["Smith", "Campbell"],
    ],
    places: { provider: "geonames" },
    settings: { ...DEFAULT_SETTINGS },
  };
}

/**
 * The default herd for tests: the same names and links, every port 0 (the OS picks a free one;
 * never valid in a file) and short redial timers (10..200 ms) so tests heal links quickly.
 *
 * @returns A fresh config (callers may mutate it, e.g. to fill in bound ports).
 */
export function testConfig(): HerdConfig {
  const config = defaultConfig();
  return {
    ...config,
    servers: config.servers.map((server) => ({ ...server, host: DEFAULT_HOST, port: 0 })),
    settings: { ...config.settings, redialMinMs: 10, redialMaxMs: 200 },
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
    servers.push({ name, host: hostValue, port });
  });
  return servers;
}

function readPlaces(value: unknown, fail: Fail): PlacesConfig {
  if (value === undefined) return { provider: "geonames" };
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
  return { provider: known };
}

function readSettings(herd: Table, fail: Fail): HerdSettings {
  const settings: HerdSettings = { ...DEFAULT_SETTINGS };
  for (const { key, field, min, max } of SETTING_KEYS) {
    if (herd[key] !== undefined) {
      settings[field] = readInteger(herd[key], `herd.${key}`, min, max, fail);
    }
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

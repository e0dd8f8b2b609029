import assert from "node:assert/strict";
import {
  checkPeerSecret,
  ConfigError,
  DEFAULT_LOG,
  DEFAULT_PLACES,
  DEFAULT_SETTINGS,
  defaultConfig,
  findServer,
  loadConfig,
  MIN_LOG_FILE_BYTES,
  neighboursOf,
  parseConfig,
  peerAddressOf,
  testConfig,
  withHttpToken,
  withSecret,
} from "../src/config.ts";

const HERD_TOML = new URL("../herd.toml", import.meta.url);

/** Two linked servers; tests append or swap lines to break one thing at a time. */
const SERVERS_AB = `
[[servers]]
name = "A"
port = 12001

[[servers]]
name = "B"
port = 12002
`;
const VALID = `[herd]\nlinks = [["A", "B"]]\n${SERVERS_AB}`;

/**
 * Asserts that parsing `text` throws a one-line ConfigError starting with "herd.toml: " and
 * containing every fragment.
 */
function assertRejects(text: string, ...fragments: string[]): ConfigError {
  let caught: unknown;
  try {
    parseConfig(text, "herd.toml");
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught}`);
  assert.equal(caught.name, "ConfigError");
  assert.ok(!caught.message.includes("\n"), `message is not one line: ${caught.message}`);
  assert.ok(caught.message.startsWith("herd.toml: "), caught.message);
  for (const fragment of fragments) {
    assert.ok(caught.message.includes(fragment), `"${caught.message}" lacks "${fragment}"`);
  }
  return caught;
}

Deno.test("parseConfig() reads herd.toml as the default herd", async () => {
  const text = await Deno.readTextFile(HERD_TOML);
  assert.deepEqual(parseConfig(text, "herd.toml"), defaultConfig());
});

Deno.test("loadConfig() reads herd.toml as the default herd", async () => {
  assert.deepEqual(await loadConfig(HERD_TOML.pathname), defaultConfig());
});

Deno.test("defaultConfig() has the ports of PROTOCOL.md section 6", () => {
  const ports = defaultConfig().servers.map((s) => [s.name, s.host, s.port]);
  assert.deepEqual(ports, [
    ["Campbell", "127.0.0.1", 11490],
    ["Hill", "127.0.0.1", 11491],
    ["Jaquez", "127.0.0.1", 11492],
    ["Singleton", "127.0.0.1", 11493],
    ["Smith", "127.0.0.1", 11494],
  ]);
});

Deno.test("neighboursOf() gives the talks-with column of PROTOCOL.md section 6", () => {
  const config = defaultConfig();
  assert.deepEqual(neighboursOf(config, "Campbell"), ["Singleton", "Smith"]);
  assert.deepEqual(neighboursOf(config, "Hill"), ["Jaquez", "Smith"]);
  assert.deepEqual(neighboursOf(config, "Jaquez"), ["Hill", "Singleton"]);
  assert.deepEqual(neighboursOf(config, "Singleton"), ["Campbell", "Jaquez", "Smith"]);
  assert.deepEqual(neighboursOf(config, "Smith"), ["Campbell", "Hill", "Singleton"]);
});

Deno.test("neighboursOf() sorts and deduplicates repeated links", () => {
  const config = parseConfig(
    `[herd]\nlinks = [["B", "A"], ["A", "B"], ["C", "A"]]\n${SERVERS_AB}` +
      `[[servers]]\nname = "C"\nport = 12003\n`,
  );
  assert.deepEqual(neighboursOf(config, "A"), ["B", "C"]);
  assert.equal(config.links.length, 3);
});

Deno.test("neighboursOf() returns nothing for an unknown name", () => {
  assert.deepEqual(neighboursOf(defaultConfig(), "Nobody"), []);
});

Deno.test("findServer() finds a server by exact name", () => {
  const config = defaultConfig();
  assert.deepEqual(findServer(config, "Jaquez"), {
    name: "Jaquez",
    host: "127.0.0.1",
    port: 11492,
    httpPort: 11592,
  });
  assert.equal(findServer(config, "jaquez"), undefined);
  assert.equal(findServer(config, "Nobody"), undefined);
});

Deno.test("defaultConfig() returns a fresh copy each call", () => {
  const first = defaultConfig();
  first.servers[0].port = 1;
  first.links.pop();
  first.settings.maxLineBytes = 1;
  assert.deepEqual(defaultConfig().servers[0].port, 11490);
  assert.equal(defaultConfig().links.length, 6);
  assert.equal(defaultConfig().settings.maxLineBytes, 16384);
});

Deno.test("DEFAULT_SETTINGS holds the documented defaults and is frozen", () => {
  assert.deepEqual(DEFAULT_SETTINGS, {
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
  assert.ok(Object.isFrozen(DEFAULT_SETTINGS));
});

Deno.test("testConfig() uses port 0, 127.0.0.1 and short timers", () => {
  const config = testConfig();
  const defaults = defaultConfig();
  assert.deepEqual(config.servers.map((s) => s.name), defaults.servers.map((s) => s.name));
  assert.ok(config.servers.every((s) => s.port === 0 && s.host === "127.0.0.1"));
  assert.deepEqual(config.links, defaults.links);
  assert.equal(config.settings.redialMinMs, 10);
  assert.equal(config.settings.redialMaxMs, 200);
  assert.equal(config.settings.maxLineBytes, DEFAULT_SETTINGS.maxLineBytes);
  assert.deepEqual(config.places, DEFAULT_PLACES);
});

Deno.test("parseConfig() applies defaults for host, places and tunables", () => {
  const config = parseConfig(VALID);
  assert.deepEqual(config.servers, [
    { name: "A", host: "127.0.0.1", port: 12001 },
    { name: "B", host: "127.0.0.1", port: 12002 },
  ]);
  assert.deepEqual(config.links, [["A", "B"]]);
  assert.deepEqual(config.places, DEFAULT_PLACES);
  assert.deepEqual(config.settings, DEFAULT_SETTINGS);
  assert.deepEqual(config.log, DEFAULT_LOG);
});

Deno.test("parseConfig() reads every tunable and an explicit host", () => {
  const config = parseConfig(
    `[herd]\nlinks = [["A", "B"]]\nmax_line_bytes = 256\nredial_min_ms = 1\n` +
      `redial_max_ms = 1\npeer_queue_limit = 7\nmax_connections = 3\nclient_idle_ms = 0\n` +
      `write_timeout_ms = 9\nsync_interval_ms = 0\ndrain_ms = 11\n` +
      `dissemination = "tree"\nlazy_push_ms = 5\ngraft_timeout_ms = 6\n` +
      `secret = "0123456789abcdef"\ndata_dir = "var/herd"\n` +
      `[[servers]]\nname = "A"\nhost = "a.example"\nport = 1\n` +
      `[[servers]]\nname = "B"\nhost = "b.example"\nport = 1\n`,
  );
  assert.deepEqual(config.settings, {
    maxLineBytes: 256,
    redialMinMs: 1,
    redialMaxMs: 1,
    peerQueueLimit: 7,
    maxConnections: 3,
    clientIdleMs: 0,
    writeTimeoutMs: 9,
    syncIntervalMs: 0,
    drainMs: 11,
    dissemination: "tree",
    lazyPushMs: 5,
    graftTimeoutMs: 6,
    peerTimeoutMs: DEFAULT_SETTINGS.peerTimeoutMs,
    recordTtlS: DEFAULT_SETTINGS.recordTtlS,
    expirySweepMs: DEFAULT_SETTINGS.expirySweepMs,
    maxConnectionsPerSource: DEFAULT_SETTINGS.maxConnectionsPerSource,
    maxLinesPerS: DEFAULT_SETTINGS.maxLinesPerS,
    reservedPeerConnections: DEFAULT_SETTINGS.reservedPeerConnections,
    secret: "0123456789abcdef",
    dataDir: "var/herd",
  });
  assert.deepEqual(config.servers.map((s) => `${s.host}:${s.port}`), [
    "a.example:1",
    "b.example:1",
  ]);
});

Deno.test("parseConfig() accepts a herd of one server with no links", () => {
  const solo = `[[servers]]\nname = "Solo"\nport = 12000\n`;
  assert.deepEqual(parseConfig(solo).links, []);
  assert.deepEqual(parseConfig(`[herd]\nlinks = []\n${solo}`).servers, [
    { name: "Solo", host: "127.0.0.1", port: 12000 },
  ]);
});

Deno.test("parseConfig() prefixes the source only when given", () => {
  const text = `${VALID}[[servers]]\nname = "C"\nport = 70000\n`;
  assert.throws(() => parseConfig(text, "herd.toml"), {
    name: "ConfigError",
    message: "herd.toml: servers[2].port: must be an integer 1..65535, got 70000",
  });
  assert.throws(() => parseConfig(text), {
    name: "ConfigError",
    message: "servers[2].port: must be an integer 1..65535, got 70000",
  });
});

Deno.test("parseConfig() rejects a TOML syntax error with its line and column", () => {
  const error = assertRejects(`[herd]\nlinks = [["A", "B"]\n${SERVERS_AB}`, "invalid TOML");
  assert.match(error.message, /line \d+, column \d+/);
  assert.ok(error.cause !== undefined);
});

Deno.test("parseConfig() rejects an unknown top-level key and lists the allowed ones", () => {
  assertRejects(
    `colour = "red"\n${VALID}`,
    "colour",
    "unknown key",
    "herd, places, log, http, tls, servers",
  );
});

Deno.test("parseConfig() rejects an unknown key in [herd]", () => {
  assertRejects(
    `[herd]\nlinks = [["A", "B"]]\nredial_ms = 5\n${SERVERS_AB}`,
    "herd.redial_ms",
    "unknown key",
    "links, secret, data_dir, dissemination, max_line_bytes, redial_min_ms, redial_max_ms, peer_queue_limit, " +
      "max_connections, client_idle_ms, write_timeout_ms, sync_interval_ms, drain_ms, " +
      "lazy_push_ms, graft_timeout_ms",
  );
});

Deno.test("parseConfig() rejects a dissemination other than tree or flood", () => {
  for (const bad of [`"gossip"`, `"Tree"`, `1`, `true`]) {
    assertRejects(
      `[herd]\nlinks = [["A", "B"]]\ndissemination = ${bad}\n${SERVERS_AB}`,
      "herd.dissemination",
      `must be "tree" or "flood"`,
    );
  }
  assertRejects(
    `[herd]\nlinks = [["A", "B"]]\nlazy_push_ms = 0\n${SERVERS_AB}`,
    "herd.lazy_push_ms",
  );
});

Deno.test("parseConfig() rejects a short secret without echoing it, and a bad data_dir", () => {
  const error = assertRejects(
    `[herd]\nlinks = [["A", "B"]]\nsecret = "tiny-secret"\n${SERVERS_AB}`,
    "herd.secret",
    "at least 16 characters",
  );
  assert.ok(!error.message.includes("tiny-secret"));
  assertRejects(`[herd]\nlinks = [["A", "B"]]\nsecret = 7\n${SERVERS_AB}`, "herd.secret");
  assertRejects(`[herd]\nlinks = [["A", "B"]]\ndata_dir = ""\n${SERVERS_AB}`, "herd.data_dir");
});

Deno.test("withSecret() lets HERD_SECRET override the file and refuses a short one unechoed", () => {
  const config = parseConfig(VALID);
  assert.equal(withSecret(config, undefined), config);
  assert.equal(withSecret(config, "").settings.secret, undefined);
  assert.equal(withSecret(config, "0123456789abcdefXYZ").settings.secret, "0123456789abcdefXYZ");
  assert.throws(() => withSecret(config, "short-one"), (e: Error) => {
    assert.equal(e.name, "ConfigError");
    assert.match(e.message, /^HERD_SECRET: must be at least 16 characters/);
    assert.ok(!e.message.includes("short-one"));
    return true;
  });
});

Deno.test("parseConfig() rejects an unknown key in [places]", () => {
  assertRejects(`[places]\nkey = "x"\n${VALID}`, "places.key", "unknown key", "provider");
});

Deno.test("parseConfig() rejects an unknown key in a server", () => {
  assertRejects(
    `${VALID}[[servers]]\nname = "C"\nprot = 12003\n`,
    "servers[2].prot",
    "unknown key",
    "name, host, port",
  );
});

Deno.test("parseConfig() quotes an unknown key that is not a bare TOML key", () => {
  assertRejects(`"a b" = 1\n${VALID}`, '"a b": unknown key');
});

Deno.test("parseConfig() rejects missing servers", () => {
  assertRejects(`[herd]\nlinks = []\n`, "servers: missing", "[[servers]]");
});

Deno.test("parseConfig() rejects an empty servers array", () => {
  assertRejects(`servers = []\n`, "servers: must list at least one server");
});

Deno.test("parseConfig() rejects servers that are not tables", () => {
  assertRejects(`servers = "A"\n`, "servers: must be an array of tables", "got string");
  assertRejects(`servers = [1]\n`, "servers[0]: must be a table, got 1");
});

Deno.test("parseConfig() rejects a [herd] or [places] that is not a table", () => {
  assertRejects(`herd = 1\n${SERVERS_AB}`, "herd: must be a table, got 1");
  assertRejects(`places = "geonames"\n${VALID}`, "places: must be a table", "got string");
});

Deno.test("parseConfig() rejects a missing server name", () => {
  assertRejects(`[[servers]]\nport = 12000\n`, "servers[0].name: missing");
});

Deno.test("parseConfig() rejects a server name of the wrong type", () => {
  assertRejects(
    `[[servers]]\nname = 7\nport = 12000\n`,
    "servers[0].name",
    "must be a string, got 7",
  );
  assertRejects(`[[servers]]\nname = true\nport = 12000\n`, "servers[0].name", "got boolean");
});

Deno.test("parseConfig() rejects server names that would break a hello line", async (t) => {
  for (const name of ["", "Hill Top", "Hill\\tTop", "Hill:1", "Ünïcode", "a/b"]) {
    await t.step(JSON.stringify(name), () => {
      assertRejects(
        `[[servers]]\nname = "${name}"\nport = 12000\n`,
        "servers[0].name",
        "A-Z a-z 0-9 . _ -",
      );
    });
  }
});

Deno.test("parseConfig() accepts server names with dots, dashes and underscores", () => {
  const config = parseConfig(`[[servers]]\nname = "eu-west_1.a"\nport = 12000\n`);
  assert.equal(config.servers[0].name, "eu-west_1.a");
});

Deno.test("parseConfig() rejects duplicate server names", () => {
  assertRejects(
    `${VALID}[[servers]]\nname = "A"\nport = 12003\n`,
    "servers[2].name",
    'duplicate server name "A"',
    "servers[0].name",
  );
});

Deno.test("parseConfig() rejects a missing port", () => {
  assertRejects(`[[servers]]\nname = "A"\n`, "servers[0].port: missing");
});

Deno.test("parseConfig() rejects ports outside 1..65535", async (t) => {
  for (const port of ["0", "70000", "-1", "99999999999999999999"]) {
    await t.step(port, () => {
      assertRejects(
        `[[servers]]\nname = "A"\nport = ${port}\n`,
        "servers[0].port",
        "must be an integer 1..65535",
        `got ${port}`,
      );
    });
  }
});

Deno.test("parseConfig() rejects a port that is not an integer", () => {
  assertRejects(`[[servers]]\nname = "A"\nport = "12000"\n`, "servers[0].port", "got string");
  assertRejects(`[[servers]]\nname = "A"\nport = 12000.5\n`, "servers[0].port", "got float");
  assertRejects(`[[servers]]\nname = "A"\nport = 12000.0\n`, "servers[0].port", "got float");
});

Deno.test("parseConfig() rejects two servers on the same host:port", () => {
  assertRejects(
    `[herd]\nlinks = [["A", "B"]]\n[[servers]]\nname = "A"\nport = 12001\n` +
      `[[servers]]\nname = "B"\nhost = "127.0.0.1"\nport = 12001\n`,
    "servers[1].port",
    "127.0.0.1:12001",
    "own host:port",
  );
});

Deno.test("parseConfig() accepts the same port on different hosts", () => {
  const config = parseConfig(
    `[herd]\nlinks = [["A", "B"]]\n[[servers]]\nname = "A"\nhost = "10.0.0.1"\nport = 12001\n` +
      `[[servers]]\nname = "B"\nhost = "10.0.0.2"\nport = 12001\n`,
  );
  assert.deepEqual(config.servers.map((s) => s.host), ["10.0.0.1", "10.0.0.2"]);
});

Deno.test("parseConfig() rejects an empty or non-string host", () => {
  assertRejects(`[[servers]]\nname = "A"\nhost = ""\nport = 1\n`, "servers[0].host", "non-empty");
  assertRejects(`[[servers]]\nname = "A"\nhost = "a b"\nport = 1\n`, "servers[0].host");
  assertRejects(
    `[[servers]]\nname = "A"\nhost = 127\nport = 1\n`,
    "servers[0].host",
    "must be a string, got 127",
  );
});

Deno.test("parseConfig() rejects links that are not an array of pairs", () => {
  assertRejects(`[herd]\nlinks = "A-B"\n${SERVERS_AB}`, "herd.links", "got string");
  assertRejects(`[herd]\nlinks = ["A", "B"]\n${SERVERS_AB}`, "herd.links[0]", "must be a pair");
  assertRejects(
    `[herd]\nlinks = [["A", "B", "A"]]\n${SERVERS_AB}`,
    "herd.links[0]",
    "got an array of 3",
  );
  assertRejects(
    `[herd]\nlinks = [["A", 2]]\n${SERVERS_AB}`,
    "herd.links[0][1]",
    "must be a string, got 2",
  );
});

Deno.test("parseConfig() rejects a link to an unknown server", () => {
  assertRejects(
    `[herd]\nlinks = [["A", "B"], ["A", "Zed"]]\n${SERVERS_AB}`,
    "herd.links[1][1]",
    'unknown server "Zed"',
    "known servers are A, B",
  );
});

Deno.test("parseConfig() rejects a self-link", () => {
  assertRejects(
    `[herd]\nlinks = [["A", "B"], ["B", "B"]]\n${SERVERS_AB}`,
    "herd.links[1]",
    "itself",
  );
});

Deno.test("parseConfig() rejects a disconnected herd and names the unreachable servers", () => {
  const error = assertRejects(
    `[herd]\nlinks = [["C", "D"]]\n${SERVERS_AB}` +
      `[[servers]]\nname = "C"\nport = 12003\n[[servers]]\nname = "D"\nport = 12004\n`,
    "herd.links",
    "B, C, D not reachable from A",
  );
  assert.ok(!error.message.includes("A,"));
});

Deno.test("parseConfig() rejects several servers with no links", () => {
  assertRejects(SERVERS_AB, "herd.links", "B not reachable from A");
});

Deno.test("parseConfig() rejects a places provider it does not know", () => {
  assertRejects(
    `[places]\nprovider = "googel"\n${VALID}`,
    "places.provider",
    '"geonames", "google", "google-legacy"',
    '"googel"',
  );
  assertRejects(`[places]\nprovider = 1\n${VALID}`, "places.provider", '"geonames"', "got 1");
});

Deno.test("parseConfig() rejects max_line_bytes outside 256..1048576", () => {
  for (const value of [255, 1048577]) {
    assertRejects(
      `[herd]\nlinks = [["A", "B"]]\nmax_line_bytes = ${value}\n${SERVERS_AB}`,
      "herd.max_line_bytes",
      "256..1048576",
      `got ${value}`,
    );
  }
});

Deno.test("parseConfig() rejects redial_min_ms below 1", () => {
  assertRejects(
    `[herd]\nlinks = [["A", "B"]]\nredial_min_ms = 0\n${SERVERS_AB}`,
    "herd.redial_min_ms",
    "got 0",
  );
});

Deno.test("parseConfig() rejects redial_max_ms below redial_min_ms", () => {
  assertRejects(
    `[herd]\nlinks = [["A", "B"]]\nredial_min_ms = 500\nredial_max_ms = 200\n${SERVERS_AB}`,
    "herd.redial_max_ms",
    "redial_min_ms (500)",
    "got 200",
  );
  assertRejects(
    `[herd]\nlinks = [["A", "B"]]\nredial_min_ms = 6000\n${SERVERS_AB}`,
    "herd.redial_max_ms",
    "got 5000 (the default)",
  );
});

Deno.test("parseConfig() rejects peer_queue_limit below 1", () => {
  assertRejects(
    `[herd]\nlinks = [["A", "B"]]\npeer_queue_limit = 0\n${SERVERS_AB}`,
    "herd.peer_queue_limit",
    "must be an integer >= 1",
    "got 0",
  );
});

Deno.test("parseConfig() rejects a tunable of the wrong type", () => {
  assertRejects(
    `[herd]\nlinks = [["A", "B"]]\nredial_max_ms = "5s"\n${SERVERS_AB}`,
    "herd.redial_max_ms",
    "must be an integer",
    "got string",
  );
});

Deno.test("loadConfig() rejects a missing file and says how to pass another", async () => {
  const path = `${await Deno.makeTempDir()}/absent.toml`;
  try {
    await assert.rejects(loadConfig(path), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.ok(error.message.startsWith(`cannot read ${path}: `), error.message);
      assert.ok(error.message.includes("--config <file>"), error.message);
      assert.ok(!error.message.includes("\n"));
      return true;
    });
  } finally {
    await Deno.remove(path.slice(0, -"/absent.toml".length), { recursive: true });
  }
});

Deno.test("loadConfig() prefixes the file path to validation errors", async () => {
  const path = await Deno.makeTempFile({ suffix: ".toml" });
  try {
    await Deno.writeTextFile(path, `[[servers]]\nname = "A"\nport = 0\n`);
    await assert.rejects(loadConfig(path), {
      name: "ConfigError",
      message: `${path}: servers[0].port: must be an integer 1..65535, got 0`,
    });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("parseConfig() reads every [places] key", () => {
  const config = parseConfig(
    `[places]\nprovider = "google"\nendpoint = "http://127.0.0.1:8080/proxy/"\n` +
      `timeout_ms = 2500\ncache_ttl_s = 300\ncache_entries = 50\n` +
      `field_mask = ["places.id", "places.displayName", "places.location", "places.rating"]\n` +
      VALID,
  );
  assert.deepEqual(config.places, {
    provider: "google",
    endpoint: "http://127.0.0.1:8080/proxy",
    timeoutMs: 2500,
    cacheTtlS: 300,
    cacheEntries: 50,
    fieldMask: ["places.id", "places.displayName", "places.location", "places.rating"],
  });
  const legacy = parseConfig(`[places]\nprovider = "google-legacy"\n${VALID}`);
  assert.deepEqual(legacy.places, { ...DEFAULT_PLACES, provider: "google-legacy" });
});

Deno.test("parseConfig() defaults [places] to a short TTL and the Pro-tier field mask", () => {
  assert.equal(DEFAULT_PLACES.timeoutMs, 5000);
  assert.equal(DEFAULT_PLACES.cacheTtlS, 60);
  assert.equal(DEFAULT_PLACES.cacheEntries, 10000);
  assert.ok(!("endpoint" in parseConfig(VALID).places));
  for (const field of ["places.id", "places.displayName", "places.location", "places.viewport"]) {
    assert.ok(DEFAULT_PLACES.fieldMask.includes(field), field);
  }
  assert.ok(!DEFAULT_PLACES.fieldMask.includes("places.rating"), "an Enterprise field");
});

Deno.test("parseConfig() rejects [places] numbers out of range", () => {
  const cases: Array<[string, string, string]> = [
    ["timeout_ms = 0", "places.timeout_ms", "1..120000"],
    ["timeout_ms = 120001", "places.timeout_ms", "got 120001"],
    ['timeout_ms = "5s"', "places.timeout_ms", "got string"],
    ["cache_ttl_s = -1", "places.cache_ttl_s", "0..2592000"],
    ["cache_ttl_s = 2592001", "places.cache_ttl_s", "got 2592001"],
    ["cache_entries = -1", "places.cache_entries", "0..1000000"],
    ["cache_entries = 1.5", "places.cache_entries", "got float 1.5"],
  ];
  for (const [line, key, fragment] of cases) {
    assertRejects(`[places]\n${line}\n${VALID}`, key, fragment);
  }
});

Deno.test("parseConfig() rejects a places endpoint that is not an http(s) base URL", () => {
  for (
    const value of ['"ftp://127.0.0.1"', '"127.0.0.1:8080"', '"http://h/?k=v"', '"http://h/#x"']
  ) {
    assertRejects(
      `[places]\nendpoint = ${value}\n${VALID}`,
      "places.endpoint",
      "http: or https: base URL without query or fragment",
    );
  }
  assertRejects(`[places]\nendpoint = 8080\n${VALID}`, "places.endpoint", "got 8080");
});

Deno.test("parseConfig() rejects a field_mask that is not explicit places fields or lacks one needed", () => {
  assertRejects(`[places]\nfield_mask = "places.id"\n${VALID}`, "places.field_mask", "array");
  assertRejects(`[places]\nfield_mask = []\n${VALID}`, "places.field_mask", "array");
  assertRejects(
    `[places]\nfield_mask = ["places.id", "*"]\n${VALID}`,
    "places.field_mask[1]",
    "no wildcards",
  );
  assertRejects(
    `[places]\nfield_mask = ["places.id", "displayName"]\n${VALID}`,
    "places.field_mask[1]",
    '"displayName"',
  );
  assertRejects(
    `[places]\nfield_mask = ["places.id", "places.types"]\n${VALID}`,
    "places.field_mask",
    "lacks places.displayName, places.location",
  );
});

Deno.test("DEFAULT_LOG rotates at 64 MiB, keeps 5 rotated files and is frozen", () => {
  assert.deepEqual(DEFAULT_LOG, { maxFileBytes: 67108864, maxFiles: 5, locations: "full" });
  assert.ok(Object.isFrozen(DEFAULT_LOG));
  assert.deepEqual(defaultConfig().log, DEFAULT_LOG);
  assert.deepEqual(testConfig().log, DEFAULT_LOG);
});

Deno.test("parseConfig() reads every [log] key, 0 included", () => {
  const read = (table: string) => parseConfig(`[log]\n${table}\n${VALID}`).log;
  assert.deepEqual(read('max_file_bytes = 1048576\nmax_files = 12\nlocations = "redacted"'), {
    maxFileBytes: 1048576,
    maxFiles: 12,
    locations: "redacted",
  });
  assert.deepEqual(read("max_file_bytes = 0\nmax_files = 0"), {
    maxFileBytes: 0,
    maxFiles: 0,
    locations: "full",
  });
  assert.deepEqual(read(`max_file_bytes = ${MIN_LOG_FILE_BYTES}`), {
    maxFileBytes: MIN_LOG_FILE_BYTES,
    maxFiles: DEFAULT_LOG.maxFiles,
    locations: "full",
  });
  assert.deepEqual(read(""), DEFAULT_LOG);
});

Deno.test("parseConfig() rejects bad [log] keys with the key and the fix", () => {
  const cases: Array<[string, string[]]> = [
    ["max_file_bytes = -1", ["log.max_file_bytes: must be an integer >= 0, got -1"]],
    ['max_file_bytes = "64MiB"', ["log.max_file_bytes", 'got string "64MiB"']],
    ["max_file_bytes = 1.5", ["log.max_file_bytes", "got float 1.5"]],
    [
      "max_file_bytes = 64",
      [
        `log.max_file_bytes: must be 0 (never rotate) or at least ${MIN_LOG_FILE_BYTES}, got 64`,
        "the unit is bytes",
      ],
    ],
    ["max_files = -1", ["log.max_files: must be an integer >= 0, got -1"]],
    ["max_files = true", ["log.max_files", "got boolean"]],
    ["max_size = 5", ["log.max_size: unknown key; allowed keys are max_file_bytes, max_files"]],
  ];
  for (const [line, fragments] of cases) {
    assertRejects(`[log]\n${line}\n${VALID}`, ...fragments);
  }
  assertRejects(`log = "logs"\n${VALID}`, "log: must be a table", "got string");
});

Deno.test("parseConfig() reads http_port, http_host and [http]", () => {
  const config = parseConfig(
    `[http]\ntoken = "0123456789abcdef"\ncors_origins = ["https://example.com", "http://127.0.0.1:8080"]\n` +
      `[herd]\nlinks = [["A", "B"]]\n[[servers]]\nname = "A"\nport = 12001\nhttp_port = 12101\n` +
      `http_host = "0.0.0.0"\n[[servers]]\nname = "B"\nport = 12002\n`,
  );
  assert.deepEqual(config.servers.map((s) => [s.httpPort, s.httpHost]), [
    [12101, "0.0.0.0"],
    [undefined, undefined],
  ]);
  assert.deepEqual(config.http, {
    token: "0123456789abcdef",
    corsOrigins: ["https://example.com", "http://127.0.0.1:8080"],
  });
  assert.deepEqual(parseConfig(VALID).http, { corsOrigins: [] });
  assert.equal(withHttpToken(config, "fedcba9876543210").http.token, "fedcba9876543210");
  assert.equal(withHttpToken(config, undefined), config);
  assert.throws(() => withHttpToken(config, "short"), /HERD_HTTP_TOKEN: must be at least 16/);
});

Deno.test("parseConfig() rejects bad HTTP settings with the key and the fix", () => {
  const server = (extra: string) =>
    `[herd]\nlinks = [["A", "B"]]\n[[servers]]\nname = "A"\nport = 12001\n${extra}\n` +
    `[[servers]]\nname = "B"\nport = 12002\n`;
  const cases: Array<[string, string[]]> = [
    [server("http_port = 0"), ["servers[0].http_port", "1..65535"]],
    [server('http_port = "80"'), ["servers[0].http_port", "string"]],
    [server("http_port = 12002"), ["servers[1].port", "127.0.0.1:12002"]],
    [server("http_port = 12001"), ["servers[0].http_port", "already used"]],
    [server('http_host = "0.0.0.0"'), ["servers[0].http_host", "http_port is not"]],
    [server('http_port = 12101\nhttp_host = ""'), ["servers[0].http_host", "non-empty"]],
    [`[http]\ntoken = "short"\n${VALID}`, ["http.token", "at least 16"]],
    [`[http]\ncors_origins = "*"\n${VALID}`, ["http.cors_origins", "array"]],
    [`[http]\ncors_origins = ["https://a.example/"]\n${VALID}`, ["http.cors_origins[0]"]],
    [`[http]\ncors_origins = ["*"]\n${VALID}`, ["http.cors_origins[0]", "origin"]],
    [`[http]\nport = 1\n${VALID}`, ["http.port: unknown key", "token, cors_origins"]],
  ];
  for (const [text, fragments] of cases) assertRejects(text, ...fragments);
  // The token is a secret: never echoed.
  const error = assertRejects(`[http]\ntoken = 12345\n${VALID}`, "http.token");
  assert.doesNotMatch(error.message, /12345/);
});

const PEERS_AB = `
[[servers]]
name = "A"
port = 12001
peer_host = "10.0.0.1"
peer_port = 13001

[[servers]]
name = "B"
port = 12002
peer_port = 13002
`;

Deno.test("parseConfig() reads peer_host and peer_port, and peerAddressOf() prefers them", () => {
  const config = parseConfig(`[herd]\nlinks = [["A", "B"]]\n${PEERS_AB}`);
  const [a, b] = config.servers;
  assert.deepEqual([a.peerHost, a.peerPort, b.peerHost, b.peerPort], [
    "10.0.0.1",
    13001,
    undefined,
    13002,
  ]);
  assert.deepEqual(peerAddressOf(a), { hostname: "10.0.0.1", port: 13001 });
  assert.deepEqual(peerAddressOf(b), { hostname: "127.0.0.1", port: 13002 });
  const plain = parseConfig(VALID).servers[0];
  assert.deepEqual(peerAddressOf(plain), { hostname: "127.0.0.1", port: 12001 });
});

Deno.test("parseConfig() rejects a peer_host without peer_port and a peer_port clash", () => {
  assertRejects(
    `[[servers]]\nname = "A"\nport = 12001\npeer_host = "10.0.0.1"\n`,
    "servers[0].peer_host",
    "add peer_port",
  );
  assertRejects(
    `[[servers]]\nname = "A"\nport = 12001\npeer_port = 12001\n`,
    "servers[0].peer_port",
    "already used by A",
  );
  assertRejects(`[[servers]]\nname = "A"\nport = 12001\npeer_port = 0\n`, "servers[0].peer_port");
});

Deno.test("checkPeerSecret() requires a secret once a server has a peer port", () => {
  const config = parseConfig(`[herd]\nlinks = [["A", "B"]]\n${PEERS_AB}`);
  assert.throws(() => checkPeerSecret(config), (e: Error) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /herd\.secret: required because A has a peer_port/);
    return true;
  });
  checkPeerSecret(withSecret(config, "0123456789abcdef"));
  checkPeerSecret(parseConfig(VALID));
});

Deno.test("parseConfig() reads [tls] and defaults it to off", () => {
  assert.deepEqual(parseConfig(VALID).tls, { peers: false, clients: false });
  const tls = parseConfig(
    `[tls]\ncert_file = "c.pem"\nkey_file = "k.pem"\nca_file = "ca.pem"\npeers = true\n` +
      `clients = true\n[herd]\nlinks = [["A", "B"]]\n${PEERS_AB}`,
  ).tls;
  assert.deepEqual(tls, {
    certFile: "c.pem",
    keyFile: "k.pem",
    caFile: "ca.pem",
    peers: true,
    clients: true,
  });
});

Deno.test("parseConfig() rejects a [tls] table that cannot work, naming the fix", () => {
  const cases: Array<[string, string, string[]]> = [
    ['cert_file = "c.pem"', VALID, ["tls.key_file: missing"]],
    ["clients = true", VALID, ["tls.cert_file: missing", "tls.clients"]],
    [
      'cert_file = "c.pem"\nkey_file = "k.pem"\nclients = true',
      VALID,
      ["tls.clients: needs a peer_port on every server", "A has none"],
    ],
    ['cert_file = "c.pem"\nkey_file = "k.pem"\npeers = true', PEERS_AB, ["tls.ca_file: missing"]],
    [
      'cert_file = "c.pem"\nkey_file = "k.pem"\nca_file = "a.pem"\npeers = true',
      VALID,
      ["tls.peers", "A has none"],
    ],
    ['peers = "yes"', VALID, ["tls.peers: must be true or false"]],
    ["cert_file = 3", VALID, ["tls.cert_file: must be a non-empty path"]],
    ["verify = false", VALID, ["tls.verify: unknown key"]],
  ];
  for (const [table, servers, fragments] of cases) {
    const body = servers === VALID ? VALID : `[herd]\nlinks = [["A", "B"]]\n${servers}`;
    assertRejects(`[tls]\n${table}\n${body}`, ...fragments);
  }
});

Deno.test("parseConfig() reads the keepalive, expiry and limit keys and checks their ranges", () => {
  const settings = parseConfig(
    "[herd]\npeer_timeout_ms = 0\nrecord_ttl_s = 3600\nexpiry_sweep_ms = 250\n" +
      "max_connections_per_source = 8\nmax_lines_per_s = 1000\nreserved_peer_connections = 4\n" +
      `links = [["A", "B"]]\n${SERVERS_AB}`,
  ).settings;
  assert.deepEqual(
    [
      settings.peerTimeoutMs,
      settings.recordTtlS,
      settings.expirySweepMs,
      settings.maxConnectionsPerSource,
      settings.maxLinesPerS,
      settings.reservedPeerConnections,
    ],
    [0, 3600, 250, 8, 1000, 4],
  );
  const herd = (line: string) => `[herd]\n${line}\nlinks = [["A", "B"]]\n${SERVERS_AB}`;
  assertRejects(herd("record_ttl_s = -1"), "herd.record_ttl_s");
  assertRejects(herd("expiry_sweep_ms = 0"), "herd.expiry_sweep_ms");
  assertRejects(
    herd("max_connections = 10\nreserved_peer_connections = 10"),
    "herd.reserved_peer_connections: must be less than herd.max_connections (10)",
  );
  assertRejects(
    `[log]\nlocations = "none"\n${VALID}`,
    'log.locations: must be "full" or "redacted"',
  );
});

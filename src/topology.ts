/**
 * Generated herds: a number of members, their ports and a connected graph of
 * links, written as a herd.toml that `parseConfig()` (config.ts) accepts
 * (`herd topology`, `scripts/scale_bench.ts`). Pure: no I/O; the random
 * shape is a function of its seed alone.
 *
 * @module
 */

/**
 * The graph of a generated herd:
 * - `random`: a random spanning tree plus random extra links until there are
 *   `members * degree / 2` (rounded), no duplicates or self-links, the extra
 *   links from the members with the fewest links first;
 * - `ring`: each member linked to the next, the last to the first;
 * - `line`: each member linked to the next;
 * - `star`: the first member linked to every other;
 * - `grid`: rows of `ceil(sqrt(members))` members, each linked to its right
 *   and lower neighbours (the last row may be short).
 */
export type TopologyShape = "random" | "ring" | "line" | "star" | "grid";

/** Every {@linkcode TopologyShape}, in the order help lists them. */
export const TOPOLOGY_SHAPES: readonly TopologyShape[] = ["random", "ring", "line", "star", "grid"];

/** First TCP port of a generated herd: clear of the default herd's 11490-11494 and 11590-11594. */
export const DEFAULT_BASE_PORT = 12000;

/** Average degree of a `random` herd when none is given: a few paths around any failure. */
export const DEFAULT_DEGREE = 4;

/** Largest generated herd: well past what one process runs (each link is two sockets). */
export const MAX_MEMBERS = 1000;

/** Options of {@linkcode generateTopology}. */
export interface TopologyOptions {
  /** Members, 1..{@linkcode MAX_MEMBERS}. */
  members: number;
  /** The graph. @default "random" */
  shape?: TopologyShape;
  /**
   * `random` only: average links per member, > 0; links = round(members * degree / 2), at least
   * `members - 1` (connected) and at most every pair. Other shapes refuse it.
   * @default {4}
   */
  degree?: number;
  /** `random` only: seed of the generator, a whole number; same seed, same herd. @default {1} */
  seed?: number;
  /** TCP port of the first member; member `i` (from 0) listens on `port + i`. @default {12000} */
  port?: number;
  /** HTTP port of the first member, `httpPort + i` for member `i`; absent: no HTTP API. */
  httpPort?: number;
  /** Host every member listens on. @default "127.0.0.1" */
  host?: string;
}

/** One generated member. */
export interface TopologyServer {
  /** `m001`, `m002`...: `m` and the member's number from 1, zero-padded to at least 3 digits. */
  name: string;
  /** Host it listens on. */
  host: string;
  /** TCP port. */
  port: number;
  /** HTTP port, if the herd has an HTTP API. */
  httpPort?: number;
}

/** A generated herd: members and undirected links, ready for {@linkcode formatTopologyToml}. */
export interface Topology {
  /** The options it was generated from, defaults filled in (`degree` and `seed` random only). */
  options: Required<Pick<TopologyOptions, "members" | "shape" | "port" | "host">> & {
    degree?: number;
    seed?: number;
    httpPort?: number;
  };
  /** Members in order. */
  servers: TopologyServer[];
  /** Undirected links as pairs of names, each pair once, the lower-numbered member first, sorted. */
  links: Array<[string, string]>;
}

/**
 * A small seeded generator (mulberry32): uniform floats in [0, 1), the same
 * sequence for the same seed on every platform. Not for secrets.
 *
 * @param seed Any whole number; only its low 32 bits count.
 * @returns The generator.
 * @example
 * ```ts
 * import { seededRandom } from "./topology.ts";
 * const a = seededRandom(7), b = seededRandom(7);
 * if (a() !== b()) throw new Error();
 * ```
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform whole number in [0, n). */
function below(random: () => number, n: number): number {
  return Math.floor(random() * n);
}

/**
 * Generates a herd: names, ports and a connected graph.
 *
 * @param opts Size, shape, ports; see {@linkcode TopologyOptions}.
 * @returns The herd; {@linkcode formatTopologyToml} writes it out.
 * @throws {RangeError} If `members` is not 1..{@linkcode MAX_MEMBERS}; if `degree` is not a
 *   number > 0, too small to connect the members or larger than `members - 1`; if a port range
 *   leaves 1..65535 or the TCP and HTTP ranges overlap; if `ring` has fewer than 3 members; if
 *   `seed` is not a whole number or `host` is empty or has white space.
 * @throws {TypeError} If `degree` or `seed` is given for a shape that does not use it, or the
 *   shape is unknown.
 * @example
 * ```ts
 * import { generateTopology } from "./topology.ts";
 * const t = generateTopology({ members: 20, degree: 4, seed: 1 });
 * if (t.servers.length !== 20 || t.links.length !== 40) throw new Error();
 * if (t.servers[0].name !== "m001" || t.servers[0].port !== 12000) throw new Error();
 * ```
 */
export function generateTopology(opts: TopologyOptions): Topology {
  const n = opts.members;
  const shape = opts.shape ?? "random";
  if (!TOPOLOGY_SHAPES.includes(shape)) {
    throw new TypeError(
      `Cannot generate topology: unknown shape "${shape}"; use ${TOPOLOGY_SHAPES.join(", ")}`,
    );
  }
  if (!Number.isInteger(n) || n < 1 || n > MAX_MEMBERS) {
    throw new RangeError(
      `Cannot generate topology: members must be a whole number 1..${MAX_MEMBERS}, got ${n}`,
    );
  }
  if (shape !== "random") {
    for (const key of ["degree", "seed"] as const) {
      if (opts[key] !== undefined) {
        throw new TypeError(
          `Cannot generate topology: ${key} is for the random shape only, not ${shape}`,
        );
      }
    }
  }
  if (shape === "ring" && n < 3) {
    throw new RangeError(
      `Cannot generate topology: a ring needs at least 3 members, got ${n}; use line`,
    );
  }
  const host = opts.host ?? "127.0.0.1";
  if (!/^\S+$/.test(host)) {
    throw new RangeError(
      `Cannot generate topology: host must be a host name or IP address, got ${
        JSON.stringify(host)
      }`,
    );
  }
  const port = opts.port ?? DEFAULT_BASE_PORT;
  checkPorts("port", port, n);
  if (opts.httpPort !== undefined) {
    checkPorts("httpPort", opts.httpPort, n);
    if (opts.httpPort < port + n && port < opts.httpPort + n) {
      throw new RangeError(
        `Cannot generate topology: HTTP ports ${opts.httpPort}-${opts.httpPort + n - 1} ` +
          `overlap TCP ports ${port}-${port + n - 1}; move one range`,
      );
    }
  }
  const width = Math.max(3, String(n).length);
  const servers: TopologyServer[] = Array.from({ length: n }, (_, i) => {
    const s: TopologyServer = {
      name: `m${String(i + 1).padStart(width, "0")}`,
      host,
      port: port + i,
    };
    if (opts.httpPort !== undefined) s.httpPort = opts.httpPort + i;
    return s;
  });
  const options: Topology["options"] = { members: n, shape, port, host };
  if (opts.httpPort !== undefined) options.httpPort = opts.httpPort;
  let edges: Array<[number, number]>;
  if (shape === "random") {
    const degree = opts.degree ?? DEFAULT_DEGREE;
    const seed = opts.seed ?? 1;
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`Cannot generate topology: seed must be a whole number, got ${seed}`);
    }
    options.degree = degree;
    options.seed = seed;
    // One member has nothing to link, whatever the degree.
    edges = n === 1 ? [] : randomEdges(n, linkCount(n, degree), seededRandom(seed));
  } else {
    edges = SHAPES[shape](n);
  }
  const links = edges
    .map(([a, b]): [number, number] => a < b ? [a, b] : [b, a])
    .sort((x, y) => x[0] - y[0] || x[1] - y[1])
    .map(([a, b]): [string, string] => [servers[a].name, servers[b].name]);
  return { options, servers, links };
}

/** Refuses a port range `first`..`first + n - 1` outside 1..65535. */
function checkPorts(option: string, first: number, n: number): void {
  if (!Number.isInteger(first) || first < 1 || first + n - 1 > 65535) {
    throw new RangeError(
      `Cannot generate topology: ${option} must leave room for ${n} ports in 1..65535, ` +
        `got ${first}; use at most ${65536 - n}`,
    );
  }
}

/** Links of a `random` herd of `n` with average `degree`, checked. */
function linkCount(n: number, degree: number): number {
  if (typeof degree !== "number" || !(degree > 0) || !Number.isFinite(degree)) {
    throw new RangeError(`Cannot generate topology: degree must be a number > 0, got ${degree}`);
  }
  if (degree > n - 1) {
    throw new RangeError(
      `Cannot generate topology: degree ${degree} is too large for ${n} members; ` +
        `at most ${n - 1} (every member linked to every other)`,
    );
  }
  const links = Math.round((n * degree) / 2);
  if (links < n - 1) {
    const least = Math.ceil((200 * (n - 1)) / n) / 100;
    throw new RangeError(
      `Cannot generate topology: degree ${degree} is too small for ${n} members; ` +
        `connecting them takes ${n - 1} links, an average degree of at least ${least}`,
    );
  }
  return links;
}

/**
 * A random spanning tree (each member in a random order joins a uniformly chosen
 * earlier one), then random extra links until there are `total`, each from a member with
 * the fewest links to a random member under the average where possible.
 */
function randomEdges(n: number, total: number, random: () => number): Array<[number, number]> {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = below(random, i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const edges: Array<[number, number]> = [];
  const have = new Set<number>();
  const key = (a: number, b: number) => a < b ? a * n + b : b * n + a;
  const add = (a: number, b: number) => {
    edges.push([a, b]);
    have.add(key(a, b));
  };
  for (let i = 1; i < n; i++) add(order[i], order[below(random, i)]);
  const pairs = (n * (n - 1)) / 2;
  if (total - edges.length > (pairs - edges.length) / 2) {
    // Dense: drawing pairs at random would mostly hit taken ones; shuffle the free ones instead.
    const free: Array<[number, number]> = [];
    for (let a = 0; a < n; a++) {
      for (let b = a + 1; b < n; b++) if (!have.has(key(a, b))) free.push([a, b]);
    }
    for (let i = 0; edges.length < total; i++) {
      const j = i + below(random, free.length - i);
      [free[i], free[j]] = [free[j], free[i]];
      add(...free[i]);
    }
    return edges;
  }
  // Sparse: each extra link starts at one of the members with the fewest links so far, so that
  // none is left hanging by one link (a tree alone has many leaves), and ends at a random member
  // under the average where possible.
  const target = Math.ceil((2 * total) / n);
  const degree = new Int32Array(n);
  for (const [a, b] of edges) degree[a]++, degree[b]++;
  while (edges.length < total) {
    let least = Infinity;
    for (let i = 0; i < n; i++) least = Math.min(least, degree[i]);
    const fewest: number[] = [];
    const under: number[] = [];
    for (const i of order) {
      if (degree[i] === least) fewest.push(i);
      if (degree[i] < target) under.push(i);
    }
    const a = fewest[below(random, fewest.length)];
    let b = -1;
    for (let attempt = 0; attempt < 2 * MAX_PICKS && b < 0; attempt++) {
      const pool = attempt < MAX_PICKS ? under : order;
      const c = pool[below(random, pool.length)];
      if (c !== a && !have.has(key(a, c))) b = c;
    }
    if (b < 0) {
      // Rare: `a` is linked to nearly everyone; any free partner will do.
      const free = order.filter((c) => c !== a && !have.has(key(a, c)));
      if (free.length === 0) continue;
      b = free[below(random, free.length)];
    }
    add(a, b);
    degree[a]++, degree[b]++;
  }
  return edges;
}

/** Random partners tried among members under the average, then among all, before a scan. */
const MAX_PICKS = 32;

/** The fixed shapes' links, by member index. */
const SHAPES: Record<Exclude<TopologyShape, "random">, (n: number) => Array<[number, number]>> = {
  line: (n) => Array.from({ length: n - 1 }, (_, i): [number, number] => [i, i + 1]),
  ring: (n) => Array.from({ length: n }, (_, i): [number, number] => [i, (i + 1) % n]),
  star: (n) => Array.from({ length: n - 1 }, (_, i): [number, number] => [0, i + 1]),
  grid: (n) => {
    const cols = Math.ceil(Math.sqrt(n));
    const edges: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) {
      if ((i + 1) % cols !== 0 && i + 1 < n) edges.push([i, i + 1]);
      if (i + cols < n) edges.push([i, i + cols]);
    }
    return edges;
  },
};

/** Figures of a graph, for the header of a generated file and for benchmarks. */
export interface GraphStats {
  /** Members. */
  members: number;
  /** Undirected links. */
  links: number;
  /** Fewest links of one member. */
  minDegree: number;
  /** Most links of one member. */
  maxDegree: number;
  /** Longest shortest path between two members, in hops; `Infinity` if not connected. */
  diameter: number;
}

/**
 * Counts a herd's links and degrees and measures its diameter (a breadth-first search from
 * every member: fine for thousands of members, not millions).
 *
 * @param names Every member's name.
 * @param links Undirected links between names (unknown names are ignored).
 * @returns The figures.
 * @example
 * ```ts
 * import { graphStats } from "./topology.ts";
 * const s = graphStats(["a", "b", "c"], [["a", "b"], ["b", "c"]]);
 * if (s.diameter !== 2 || s.maxDegree !== 2 || s.minDegree !== 1) throw new Error();
 * ```
 */
export function graphStats(
  names: readonly string[],
  links: ReadonlyArray<readonly [string, string]>,
): GraphStats {
  const index = new Map(names.map((name, i) => [name, i]));
  const adjacent: Array<Set<number>> = names.map(() => new Set());
  for (const [a, b] of links) {
    const i = index.get(a), j = index.get(b);
    if (i === undefined || j === undefined || i === j) continue;
    adjacent[i].add(j);
    adjacent[j].add(i);
  }
  let diameter = 0;
  const distance = new Int32Array(names.length);
  for (let start = 0; start < names.length && diameter !== Infinity; start++) {
    distance.fill(-1);
    distance[start] = 0;
    const queue = [start];
    for (let q = 0; q < queue.length; q++) {
      for (const next of adjacent[queue[q]]) {
        if (distance[next] >= 0) continue;
        distance[next] = distance[queue[q]] + 1;
        diameter = Math.max(diameter, distance[next]);
        queue.push(next);
      }
    }
    if (queue.length < names.length) diameter = Infinity;
  }
  const degrees = adjacent.map((s) => s.size);
  return {
    members: names.length,
    links: adjacent.reduce((sum, s) => sum + s.size, 0) / 2,
    minDegree: names.length === 0 ? 0 : Math.min(...degrees),
    maxDegree: names.length === 0 ? 0 : Math.max(...degrees),
    diameter,
  };
}

/** The `herd topology` command line that generates `t` again. */
export function topologyCommand(t: Topology): string {
  const o = t.options;
  const words = ["herd topology", `--members ${o.members}`, `--shape ${o.shape}`];
  if (o.degree !== undefined) words.push(`--degree ${o.degree}`);
  if (o.seed !== undefined) words.push(`--seed ${o.seed}`);
  words.push(`--port ${o.port}`);
  if (o.httpPort !== undefined) words.push(`--http-port ${o.httpPort}`);
  return words.join(" ");
}

/**
 * Writes a generated herd as herd.toml text: a comment with the command that made it and the
 * graph's figures, `[herd] links` one pair a line, then one `[[servers]]` table per member.
 * The text parses with `parseConfig()` (config.ts) into exactly these servers and links.
 *
 * @param t The herd.
 * @returns The file's text, ending in LF.
 * @example
 * ```ts
 * import { parseConfig } from "./config.ts";
 * import { formatTopologyToml, generateTopology } from "./topology.ts";
 * const config = parseConfig(formatTopologyToml(generateTopology({ members: 4, shape: "ring" })));
 * if (config.links.length !== 4 || config.servers[3].port !== 12003) throw new Error();
 * ```
 */
export function formatTopologyToml(t: Topology): string {
  const s = graphStats(t.servers.map((m) => m.name), t.links);
  const first = t.servers[0], last = t.servers[t.servers.length - 1];
  const http = first.httpPort === undefined ? "" : `, HTTP ${first.httpPort}-${last.httpPort}`;
  const lines = [
    `# Generated by: ${topologyCommand(t)}`,
    `# ${s.members} members on ${first.host} ports ${first.port}-${last.port}${http}; ` +
    `${s.links} links, degree ${s.minDegree}-${s.maxDegree} ` +
    `(average ${(s.members === 0 ? 0 : (2 * s.links) / s.members).toFixed(2)}), ` +
    `diameter ${s.diameter} hops.`,
    "",
    "[herd]",
  ];
  if (t.links.length === 0) {
    lines.push("links = []");
  } else {
    lines.push("links = [");
    for (const [a, b] of t.links) lines.push(`  ["${a}", "${b}"],`);
    lines.push("]");
  }
  for (const m of t.servers) {
    lines.push(
      "",
      "[[servers]]",
      `name = "${m.name}"`,
      `host = ${JSON.stringify(m.host)}`,
      `port = ${m.port}`,
    );
    if (m.httpPort !== undefined) lines.push(`http_port = ${m.httpPort}`);
  }
  return lines.join("\n") + "\n";
}

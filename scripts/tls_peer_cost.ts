/**
 * The cost of `[tls] peers = true` to the herd's floods, in one sitting: two copies of the default
 * five-member herd (herd.toml's links, GeoNames places), each member a `herd serve` process on
 * 127.0.0.1 with a `peer_port` and the same `[herd] secret`; one herd's peer links are plain TCP,
 * the other's TLS (`[tls] peers = true` with the committed test certificate and CA of
 * tests/fixtures/tls/, EC P-256). The client ports are plain on both, so the only difference is
 * TLS between members. Both herds stay up for the whole session; the runs alternate plain, TLS,
 * TLS, plain, ... so that the machine's load falls on both alike. Per run and side:
 *
 * - **propagation**: `herd bench --mode propagation` in process (`runBench`): `--requests` IAMATs
 *   into Campbell at `--rate` a second, Hill polled with WHATSAT until it holds each (two hops on
 *   the graph); p50 and p99 of the IAMAT-to-seen-at-Hill latency, ms, and errors.
 * - **burst**: `--updates` IAMATs of new clients into Hill through `--connections` connections with
 *   `--window` in flight on each (as scripts/redis_compare.ts: encoded before the clock starts),
 *   then every member polled with `WHATSAT <id> 10 1` for the last client of every connection
 *   until all five hold them (each link is one FIFO stream, so the last one held means all held).
 *   Figures: updates/s from the first write to the last reply and to all holding all, the time from
 *   the last reply to all holding all, ms, and CPU (user + system, /proc/<pid>/stat) of the five
 *   members per update, µs, over the burst until 300 ms after all hold all (and Hill's share), and
 *   the events logged from its start until verified that mean lines were lost or repaired
 *   (`peer.link.dropped`, `peer.queue.overflow`, `peer.queue.dropped`, `sync.start`). Outside the
 *   timed part the members' logs must name every one of the run's clients in `record.stored`
 *   (scripts/_serve.ts storedClients), on all five members, or the script fails.
 *
 * Before the counted runs each herd gets one burst and 200 propagation updates, not reported (the
 * hot paths compiled). At the end: median and min - max of each figure over the runs, and the
 * 1-minute load average before, during (at the end of each burst) and after.
 *
 * Usage:
 *
 * ```sh
 * deno run --allow-run --allow-net=127.0.0.1 --allow-read --allow-write --allow-env \
 *   scripts/tls_peer_cost.ts [--runs 5] [--updates 50000] [--connections 4] [--window 64] \
 *   [--rate 100] [--requests 1000]
 * ```
 *
 * The members run the main.ts next to this script: to measure a commit rather than a working tree
 * others are editing, run a copy of it in a snapshot (`git archive <commit> | tar -x -C <dir>`).
 *
 * Loopback only, on free ports the system picks. Bounded: each burst is cut off after 60 s and each
 * convergence after 60 s more, each propagation run ends at its requests or after 60 s; every
 * member is stopped (SIGTERM, SIGKILL after 5 s) and the temporary folder (the two herd.toml files
 * and the logs) removed at the end, also on an error, Ctrl-C or SIGTERM.
 *
 * @module
 */

import { defaultConfig } from "../src/config.ts";
import { logFilesOldestFirst } from "../src/log.ts";
import { type BenchResult, Pipeline, runBench } from "../src/client/mod.ts";
import { startServe, storedClients } from "./_serve.ts";
import {
  cpuAndLoad,
  drive,
  iamatLine,
  loadAverage,
  posixNow,
  shares,
  type Spread,
  spread,
  unlinked,
  utf8Length,
} from "./redis_compare.ts";

/** Value of `--<name> <value>` as a whole number in `min..max`, or `fallback`. */
function intFlag(name: string, fallback: number, min: number, max: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const v = Number(Deno.args[i + 1]);
  if (!Number.isInteger(v) || v < min || v > max) {
    console.error(`tls_peer_cost: --${name} takes a whole number in ${min}..${max}`);
    Deno.exit(2);
  }
  return v;
}

const RUNS = intFlag("runs", 5, 1, 100);
const UPDATES = intFlag("updates", 50_000, 1_000, 1_000_000);
const CONNECTIONS = intFlag("connections", 4, 1, 64);
const WINDOW = intFlag("window", 64, 1, 4096);
const RATE = intFlag("rate", 100, 1, 10_000);
const REQUESTS = intFlag("requests", 1_000, 10, 1_000_000);
/** Cap on one burst, one convergence, one propagation run, ms. */
const STEP_MS = 60_000;
/** CPU is counted until this long after all hold all (the log's 200 ms flush lands in it), ms. */
const SETTLE_MS = 300;

const FIXTURES = new URL("../tests/fixtures/tls/", import.meta.url).pathname;
const SECRET = "tls-peer-cost-shared-secret-0123456789";
const DEF = defaultConfig();
const NAMES = DEF.servers.map((s) => s.name);
const ORIGIN = "Hill";
const PROP_FROM = "Campbell";
const PROP_TO = "Hill";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A port on 127.0.0.1 free a moment ago. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

/** One herd of the session. */
interface Herd {
  side: "plain" | "TLS";
  logDir: string;
  /** Client port of each member, by name. */
  ports: Map<string, number>;
  children: Deno.ChildProcess[];
  /** One WHATSAT connection to each member, in NAMES order. */
  polls: Pipeline[];
}

const herds: Herd[] = [];
let tmpDir = "";
let cleaning: Promise<void> | undefined;

/** Stops every member started (SIGTERM, then SIGKILL after 5 s) and removes the temp folder. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all(herds.flatMap((h) => {
      h.polls.forEach((p) => p.close());
      return h.children.map(async (child) => {
        try {
          child.kill("SIGTERM");
        } catch { /* gone */ }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* gone */ }
        }, 5000);
        await child.status;
        clearTimeout(timer);
      });
    }));
    if (tmpDir !== "") await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
  })();
  return cleaning;
}

/** One side's herd.toml: the default links, a secret, peer ports, TLS between members or not. */
function herdToml(side: Herd["side"], ports: number[], peerPorts: number[]): string {
  const lines = [
    "[herd]",
    `links = [${DEF.links.map(([a, b]) => `["${a}", "${b}"]`).join(", ")}]`,
    `secret = "${SECRET}"`,
    "[places]",
    `provider = "geonames"`,
  ];
  if (side === "TLS") {
    lines.push(
      "[tls]",
      `cert_file = "${FIXTURES}member.pem"`,
      `key_file = "${FIXTURES}member.key.pem"`,
      `ca_file = "${FIXTURES}ca.pem"`,
      "peers = true",
    );
  }
  NAMES.forEach((name, i) =>
    lines.push(
      "[[servers]]",
      `name = "${name}"`,
      `host = "127.0.0.1"`,
      `port = ${ports[i]}`,
      `peer_port = ${peerPorts[i]}`,
    )
  );
  return lines.join("\n") + "\n";
}

/** Whether each member answers `WHATSAT <id> 10 1` with an AT line, for each id. */
async function holds(p: Pipeline, ids: readonly string[]): Promise<boolean[]> {
  const replies = await p.ask(ids.map((id) => `WHATSAT ${id} 10 1`), 10_000);
  return replies.map((r) => r.startsWith("AT "));
}

/** Starts one side's five members and waits until every link is open and a probe reaches all. */
async function startHerd(side: Herd["side"]): Promise<Herd> {
  const ports = NAMES.map(() => freePort());
  const peerPorts = NAMES.map(() => freePort());
  const config = `${tmpDir}/${side}.toml`;
  const logDir = `${tmpDir}/${side}-logs`;
  await Deno.writeTextFile(config, herdToml(side, ports, peerPorts));
  const herd: Herd = { side, logDir, ports: new Map(), children: [], polls: [] };
  herds.push(herd);
  for (const [i, name] of NAMES.entries()) {
    herd.ports.set(name, ports[i]);
    herd.children.push(await startServe(name, config, logDir, ports[i]));
  }
  const deadline = performance.now() + 30_000;
  for (;;) {
    const missing = await unlinked(logDir, NAMES, DEF.links);
    if (missing.length === 0) break;
    if (performance.now() > deadline) {
      throw new Error(`${side}: links not open in 30 s: ${missing}`);
    }
    await sleep(100);
  }
  if (side === "TLS") {
    // The peer port speaks TLS with the test certificate (a handshake, then closed).
    const tls = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: peerPorts[NAMES.indexOf(ORIGIN)],
      caCerts: [Deno.readTextFileSync(`${FIXTURES}ca.pem`)],
    });
    await tls.handshake();
    tls.close();
  }
  for (const name of NAMES) {
    herd.polls.push(
      await Pipeline.connect({ hostname: "127.0.0.1", port: herd.ports.get(name)! }, {
        connectTimeoutMs: 5000,
      }),
    );
  }
  const origin = herd.polls[NAMES.indexOf(ORIGIN)];
  const [reply] = await origin.ask([`IAMAT probe +34.068930-118.445127 ${posixNow()}`]);
  if (!reply.startsWith("AT ")) throw new Error(`${side}: probe refused: ${reply.trim()}`);
  for (;;) {
    const held = await Promise.all(herd.polls.map((p) => holds(p, ["probe"])));
    if (held.every((h) => h[0])) break;
    if (performance.now() > deadline) throw new Error(`${side}: the probe did not reach everyone`);
    await sleep(20);
  }
  return herd;
}

/** Log events that mean flood lines were lost or repaired; counted per burst. */
const TROUBLE = ["peer.link.dropped", "peer.queue.overflow", "peer.queue.dropped", "sync.start"];

/** How many of each TROUBLE event every member's log holds stamped at or after `sinceMs`. */
async function troubleSince(logDir: string, sinceMs: number): Promise<Record<string, number>> {
  const files = (await Promise.all(NAMES.map((n) => logFilesOldestFirst(logDir, n)))).flat();
  const pattern = TROUBLE.map((e) => `-e '"${e}"'`).join(" ");
  const out = await new Deno.Command("sh", {
    args: ["-c", `cat "$@" | grep -F ${pattern} || true`, "sh", ...files],
    stdout: "piped",
  }).output();
  const counts: Record<string, number> = Object.fromEntries(TROUBLE.map((e) => [e, 0]));
  for (const line of decoder.decode(out.stdout).split("\n")) {
    try {
      const event = JSON.parse(line);
      if (Date.parse(event["@timestamp"]) >= sinceMs && event.event in counts) {
        counts[event.event]++;
      }
    } catch { /* an empty or partial line */ }
  }
  return counts;
}

/** Drives one connection until every IAMAT is answered; throws if one was refused. */
async function driveAll(
  conn: Deno.Conn,
  requests: { bytes: Uint8Array; offsets: Uint32Array },
): Promise<number> {
  const { end, bad } = await drive(conn, "AT ", requests, WINDOW);
  if (bad > 0) throw new Error(`${bad} IAMATs refused`);
  return end;
}

/** What one burst measured. */
interface Burst {
  toLastReplyPerS: number;
  toAllHoldPerS: number;
  lagMs: number;
  cpuUsPerUpdate: number;
  /** The origin's share of `cpuUsPerUpdate`, µs. */
  originCpuUsPerUpdate: number;
  /** TROUBLE events logged from the burst's start until verified (links dropped, lines lost). */
  trouble: Record<string, number>;
  load: number;
}

/** One burst of `updates` IAMATs into ORIGIN; run 0 is the warm-up. */
async function burst(herd: Herd, run: number, updates: number): Promise<Burst> {
  const plan = shares(updates, CONNECTIONS);
  const time = posixNow();
  const requests = plan.map((share) => {
    const texts: string[] = [];
    const offsets = new Uint32Array(share.count + 1);
    let at = 0;
    for (let k = 0; k < share.count; k++) {
      const text = iamatLine(run, share.first + k, time);
      texts.push(text);
      at += utf8Length(text);
      offsets[k + 1] = at;
    }
    return { bytes: encoder.encode(texts.join("")), offsets };
  });
  const pending = herd.polls.map(() =>
    new Set(plan.map((p) => `client-${run}-${p.first + p.count - 1}`))
  );
  const load: Deno.TcpConn[] = [];
  for (let c = 0; c < CONNECTIONS; c++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: herd.ports.get(ORIGIN)! });
    conn.setNoDelay(true);
    load.push(conn);
  }
  const pids = herd.children.map((c) => c.pid);
  const before = await cpuAndLoad(pids);
  const wall0 = Date.now();
  const t0 = performance.now();
  const cutOff = setTimeout(() => load.forEach((c) => c.close()), STEP_MS);
  let lastReply: number;
  try {
    lastReply = Math.max(...await Promise.all(load.map((c, k) => driveAll(c, requests[k]))));
  } catch (error) {
    throw new Error(`${herd.side} burst ${run}: ${error}`);
  } finally {
    clearTimeout(cutOff);
    for (const c of load) {
      try {
        c.close();
      } catch { /* closed by the cut-off */ }
    }
  }
  const doneAt = await Promise.all(herd.polls.map(async (p, m) => {
    for (;;) {
      const ids = [...pending[m]];
      const held = await holds(p, ids);
      ids.forEach((id, k) => held[k] && pending[m].delete(id));
      if (pending[m].size === 0) return performance.now();
      if (performance.now() > lastReply + STEP_MS) {
        throw new Error(`${herd.side} burst ${run}: ${NAMES[m]} does not hold all in 60 s`);
      }
      await sleep(2);
    }
  }));
  const allHold = Math.max(...doneAt);
  await sleep(SETTLE_MS);
  const after = await cpuAndLoad(pids);
  const cpu = after.cpu.reduce((a, s, k) => a + s - before.cpu[k], 0);
  // Outside the timed part: every member's log names every client of the run.
  const prefix = `client-${run}-`;
  const verifyBy = performance.now() + STEP_MS;
  for (;;) {
    const counts = await Promise.all(
      NAMES.map(async (n) => (await storedClients(herd.logDir, n, prefix)).count),
    );
    if (counts.every((c) => c >= updates)) break;
    if (performance.now() > verifyBy) {
      throw new Error(`${herd.side} burst ${run}: stored ${counts.join(", ")} of ${updates}`);
    }
    await sleep(250);
  }
  const origin = NAMES.indexOf(ORIGIN);
  return {
    toLastReplyPerS: updates / ((lastReply - t0) / 1000),
    toAllHoldPerS: updates / ((allHold - t0) / 1000),
    lagMs: allHold - lastReply,
    cpuUsPerUpdate: (cpu * 1e6) / updates,
    originCpuUsPerUpdate: ((after.cpu[origin] - before.cpu[origin]) * 1e6) / updates,
    trouble: await troubleSince(herd.logDir, wall0),
    load: after.load,
  };
}

/** One propagation run, Campbell to Hill; `prefix` keeps its client ids apart from others'. */
function propagation(herd: Herd, prefix: string, requests: number): Promise<BenchResult> {
  return runBench({
    mode: "propagation",
    target: { hostname: "127.0.0.1", port: herd.ports.get(PROP_FROM)! },
    target2: { hostname: "127.0.0.1", port: herd.ports.get(PROP_TO)! },
    ratePerSecond: RATE,
    requests,
    durationMs: STEP_MS,
    clientPrefix: prefix,
  });
}

const num = (x: number, digits: number) =>
  x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const fmt = (s: Spread, digits: number) =>
  `${num(s.median, digits)} (${num(s.min, digits)} - ${num(s.max, digits)})`;

async function main(): Promise<void> {
  tmpDir = await Deno.makeTempDir({ prefix: "herd-tls-peer-cost-" });
  const loadBefore = await loadAverage();
  console.log(
    `load average before: ${loadBefore}; ${RUNS} runs of ${UPDATES} IAMATs into ${ORIGIN} ` +
      `(${CONNECTIONS} x ${WINDOW}) and ${REQUESTS} at ${RATE}/s ${PROP_FROM} -> ${PROP_TO}`,
  );
  const plain = await startHerd("plain");
  const tls = await startHerd("TLS");
  for (const herd of [plain, tls]) {
    await burst(herd, 0, Math.min(UPDATES, 20_000));
    await propagation(herd, "w", 200);
  }
  const bursts = new Map<string, Burst[]>([["plain", []], ["TLS", []]]);
  const props = new Map<string, BenchResult[]>([["plain", []], ["TLS", []]]);
  for (let run = 1; run <= RUNS; run++) {
    // plain, TLS, TLS, plain, ...: neither side always goes first.
    const order = run % 2 === 1 ? [plain, tls] : [tls, plain];
    for (const herd of order) {
      const b = await burst(herd, run, UPDATES);
      bursts.get(herd.side)!.push(b);
      console.log(
        `run ${run} ${herd.side.padEnd(5)} burst: ${num(b.toLastReplyPerS, 0)}/s to the last ` +
          `reply, ${num(b.toAllHoldPerS, 0)}/s to all holding all (+${num(b.lagMs, 1)} ms), ` +
          `members' CPU ${num(b.cpuUsPerUpdate, 1)} µs/update (${ORIGIN} ` +
          `${num(b.originCpuUsPerUpdate, 1)}), ` +
          Object.entries(b.trouble).map(([e, n]) => `${e} ${n}`).join(", ") + `, ` +
          `load ${b.load.toFixed(2)}`,
      );
    }
    for (const herd of order) {
      const r = await propagation(herd, `p${run}`, REQUESTS);
      props.get(herd.side)!.push(r);
      console.log(
        `run ${run} ${herd.side.padEnd(5)} propagation: p50 ${r.latencyMs.p50.toFixed(3)} ms, ` +
          `p99 ${r.latencyMs.p99.toFixed(3)} ms, max ${r.latencyMs.max.toFixed(3)} ms, ` +
          `${r.requests} updates, errors ${r.errors}`,
      );
    }
  }
  const loadAfter = await loadAverage();
  const rows: [string, (side: string) => string][] = [
    [
      "burst: updates/s to the last reply",
      (s) => fmt(spread(bursts.get(s)!.map((b) => b.toLastReplyPerS)), 0),
    ],
    [
      "burst: updates/s to all holding all",
      (s) => fmt(spread(bursts.get(s)!.map((b) => b.toAllHoldPerS)), 0),
    ],
    [
      "burst: last reply -> all hold all, ms",
      (s) => fmt(spread(bursts.get(s)!.map((b) => b.lagMs)), 1),
    ],
    [
      "burst: members' CPU per update, µs",
      (s) => fmt(spread(bursts.get(s)!.map((b) => b.cpuUsPerUpdate)), 1),
    ],
    [
      `burst: ${ORIGIN}'s CPU per update, µs`,
      (s) => fmt(spread(bursts.get(s)!.map((b) => b.originCpuUsPerUpdate)), 1),
    ],
    ...TROUBLE.map((e): [string, (side: string) => string] => [
      `burst: ${e} events (all runs)`,
      (s) => String(bursts.get(s)!.reduce((n, b) => n + b.trouble[e], 0)),
    ]),
    [
      `propagation ${PROP_FROM} -> ${PROP_TO}: p50 ms`,
      (s) => fmt(spread(props.get(s)!.map((r) => r.latencyMs.p50)), 2),
    ],
    [
      `propagation ${PROP_FROM} -> ${PROP_TO}: p99 ms`,
      (s) => fmt(spread(props.get(s)!.map((r) => r.latencyMs.p99)), 2),
    ],
    [
      "propagation errors (all runs)",
      (s) => String(props.get(s)!.reduce((n, r) => n + r.errors, 0)),
    ],
    [
      "1-min load at the end of each burst",
      (s) => fmt(spread(bursts.get(s)!.map((b) => b.load)), 2),
    ],
  ];
  console.log(`\nmedian (min - max) of ${RUNS} runs`);
  console.log("| figure | plain peer links | TLS peer links |");
  console.log("| ------ | ---------------- | -------------- |");
  for (const [label, cell] of rows) console.log(`| ${label} | ${cell("plain")} | ${cell("TLS")} |`);
  console.log(`load average before: ${loadBefore}; after: ${loadAfter}`);
}

if (import.meta.main) {
  const stop = () => {
    cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  let code = 0;
  try {
    await main();
  } catch (error) {
    console.error(`tls_peer_cost: ${error instanceof Error ? error.message : error}`);
    code = 1;
  }
  await cleanup();
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  Deno.exit(code);
}

/**
 * How dissemination scales with the size of the herd (issue 13, docs/SCALING.md): herds of 5
 * (the default herd), 20, 50 and 100 members (random graphs of average degree 4 from
 * `herd topology`'s generator, one seed), with `[herd] dissemination = "flood"` and `"tree"`,
 * every member in this one process on 127.0.0.1 port 0. Updates (IAMATs of new clients) go at a
 * fixed rate to random members, through `Member.submit()`: the member's own path for a client's
 * line (dispatch, store, disseminate, reply), without a client socket in the figures.
 *
 * Per run it measures, from the members' events (caught in memory, stamped with
 * `performance.now()` as they are emitted):
 *
 * - messages per update: the peer lines members read (`msg.in` events with a `peer`, one line
 *   each in `line` or a chunk's lines in `lines`) that are `AT`, `IHAVE` or `GRAFT` lines naming
 *   the update's client, summed over members, over the updates; an IHAVE or GRAFT line that names
 *   several updates counts once per update it names. "Lines per update" counts each such line
 *   once. Not counted: anti-entropy lines (DIGEST, WANT, ASK, HAVE), PRUNE, hellos. AT lines
 *   that anti-entropy answers carry are counted (they are updates' copies too) and also given
 *   apart, from the `records` of `sync.want` and `sync.have` events;
 * - convergence: for each update, from its IAMAT to the last member storing it (a `record.stored`
 *   event naming its `client`, or its `clients` for a batch; the origin when it answers), p50,
 *   p99 and max;
 * - CPU per update: the process's user + system CPU from the first update until every update
 *   is everywhere (or the settle deadline) and the last copies have been read, over the
 *   updates, µs; the same CPU over the wall time (cores busy); the rate the updates really went
 *   out at; and the event loop's lag (how late a 20 ms timer fires), p99;
 * - with `--failure` (on by default), the same again while the most connected member is stopped
 *   a third of the way through (`stop(0)`, no drain: a crash as far as its neighbours can tell):
 *   updates lost (missing at a remaining member when the run ends; anti-entropy, every
 *   `--failure-sync-ms`, is what repairs them), apart from those only the stopped member ever
 *   held (it answered them, then died with them in its link queues), and convergence to the
 *   remaining members.
 *
 * Usage:
 *   deno run --allow-net=127.0.0.1 --allow-sys=loadavg scripts/scale_bench.ts
 *     [--sizes 5,20,50,100] [--rate 100]
 *     [--updates 1000] [--seed 1] [--degree 4] [--dissemination flood,tree] [--repeat 1]
 *     [--no-failure] [--failure-sync-ms 5000] [--settle-ms 10000] [--json]
 *
 * `load` is the machine's 1-minute load average as each run starts (with `--allow-sys=loadavg`):
 * the process competes with whatever else runs, and convergence times show it first.
 *
 * Bounded: every run stops sending after `--updates`, waits at most `--settle-ms` (failure runs:
 * the larger of it and three anti-entropy periods) for the updates to arrive, then stops its
 * herd. Loopback only.
 *
 * @module
 */

import process from "node:process";
import { defaultConfig, type HerdConfig, parseConfig } from "../src/config.ts";
import { Member } from "../src/herd/mod.ts";
import type { EventFields, EventLevel, EventLog, EventName } from "../src/log.ts";
import type { PlacesProvider } from "../src/places/types.ts";
import { formatPosixTime } from "../src/protocol/mod.ts";
import { wallClockNs } from "../src/herd/clock.ts";
import { formatTopologyToml, generateTopology, graphStats, seededRandom } from "../src/topology.ts";

/** What a command line asks for. */
export interface ScaleOptions {
  /** Herd sizes; 5 is the default herd, others generated. */
  sizes: number[];
  /** Updates per second. */
  rate: number;
  /** Updates per run. */
  updates: number;
  /** Seed of the generated graphs and of the choice of members. */
  seed: number;
  /** Average degree of the generated graphs. */
  degree: number;
  /** `[herd] dissemination` values to compare. */
  disseminations: Array<"flood" | "tree">;
  /** Runs per cell (figures: median, min and max). */
  repeat: number;
  /** Also run each cell with a member stopped a third of the way through. */
  failure: boolean;
  /** `sync_interval_ms` of the failure runs, ms (normal runs keep the default, 60 s). */
  failureSyncMs: number;
  /** Longest wait after the last update for every update to arrive, ms. */
  settleMs: number;
  /** Print JSON instead of the table. */
  json: boolean;
}

/** Figures of one run. */
export interface RunResult {
  members: number;
  links: number;
  dissemination: "flood" | "tree";
  scenario: "steady" | "failure";
  /** Stopped member (failure runs), and whether the others stay connected without it. */
  stopped: string | null;
  remainingConnected: boolean;
  updates: number;
  /** AT + IHAVE + GRAFT namings of updates, per update. */
  messagesPerUpdate: number;
  /** AT, IHAVE and GRAFT lines naming at least one update, each once, per update. */
  linesPerUpdate: number;
  /** Per update: AT lines, IHAVE namings, IHAVE lines, GRAFT namings. */
  atPerUpdate: number;
  ihavePerUpdate: number;
  ihaveLinesPerUpdate: number;
  graftPerUpdate: number;
  /** PRUNE lines read, in all. */
  pruneLines: number;
  /** Records anti-entropy answered with, in all (their AT lines are in atPerUpdate too). */
  antiEntropyRecords: number;
  /** The same per update. */
  antiEntropyPerUpdate: number;
  /** Flooding's count: every member sends each update on every link but the sender's. */
  floodLines: number;
  /** Convergence, ms: IAMAT sent to the last (remaining) member storing it. */
  convergenceMs: { p50: number; p99: number; max: number };
  /** Updates the events never showed everywhere by the end (not in a store: see `lost`). */
  unconverged: number;
  /**
   * Updates sent to a member that kept running and missing at some remaining member's store at
   * the end: lost by the herd.
   */
  lost: number;
  /**
   * Updates the stopped member answered but had not yet written to any neighbour when it
   * stopped (its link queues are dropped with it): lost with that member, as with any member
   * that acknowledges before its neighbours hold the update.
   */
  lostWithStopped: number;
  /** Process CPU (user + system) per update, µs. */
  cpuUsPerUpdate: number;
  /** Process CPU over wall time: 1 is one core busy the whole run. */
  cpuCores: number;
  /** Updates sent per second (below `--rate` when the event loop cannot keep up). */
  sentPerSecond: number;
  /** Event loop lag, ms: p99 and max of how late a 20 ms timer fired. */
  loopLagMs: { p99: number; max: number };
  /** From the first update to the end of the settle wait, s. */
  seconds: number;
  /** The machine's 1-minute load average when the run started (`null` without --allow-sys). */
  loadAverage: number | null;
}

/** The 1-minute load average, or `null` if it cannot be read. */
function loadAverage(): number | null {
  // Asked first: without the permission, a terminal would prompt for it in the middle of a run.
  if (Deno.permissions.querySync({ name: "sys", kind: "loadavg" }).state !== "granted") return null;
  try {
    return Deno.loadavg()[0];
  } catch {
    return null;
  }
}

const LOCATION = "+34.068930-118.445127";

/** Answers no WHATSAT: the runs send none, and a member warms nothing. */
const NO_PLACES: PlacesProvider = {
  name: "none",
  nearby: () => Promise.resolve({ html_attributions: [], results: [], status: "ZERO_RESULTS" }),
};

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** The herd of `size` members: the default herd for 5, else a generated one. */
export function herdOf(
  size: number,
  opts: Pick<ScaleOptions, "seed" | "degree">,
): HerdConfig {
  if (size === 5) return defaultConfig();
  return parseConfig(
    formatTopologyToml(generateTopology({ members: size, degree: opts.degree, seed: opts.seed })),
  );
}

/**
 * Counts what members read and store, as they emit it; one instance per run, one
 * {@linkcode EventLog} per member.
 */
export class Tally {
  /** Update index by client id. */
  readonly index = new Map<string, number>();
  /** When each update was sent (performance.now()). */
  readonly sentMs: Float64Array;
  /** members x updates: when each member stored each update (0: not yet). */
  readonly storedMs: Float64Array;
  readonly members: number;
  at = 0;
  ihave = 0;
  ihaveLines = 0;
  graft = 0;
  graftLines = 0;
  lines = 0;
  prune = 0;
  antiEntropyRecords = 0;

  constructor(members: number, updates: number) {
    this.members = members;
    this.sentMs = new Float64Array(updates);
    this.storedMs = new Float64Array(members * updates);
  }

  /** Marks update `u` stored at member `m` now, unless it was already. */
  stored(m: number, u: number, nowMs: number): void {
    const at = u * this.members + m;
    if (this.storedMs[at] === 0) this.storedMs[at] = nowMs;
  }

  /** Counts one peer line. */
  line(text: string): void {
    const space = text.indexOf(" ");
    const verb = space < 0 ? text : text.slice(0, space);
    if (verb === "AT") {
      // AT <origin> <skew> <client-id> <location> <client-time> [tree]
      const client = text.split(" ")[3];
      if (client !== undefined && this.index.has(client)) {
        this.at++;
        this.lines++;
      }
    } else if (verb === "IHAVE" || verb === "GRAFT") {
      // IHAVE <client-id> <client-time> <client-id> <client-time> ...
      const fields = text.split(" ");
      let named = 0;
      for (let i = 1; i < fields.length; i += 2) if (this.index.has(fields[i])) named++;
      if (named === 0) return;
      this.lines++;
      if (verb === "IHAVE") {
        this.ihave += named;
        this.ihaveLines++;
      } else {
        this.graft += named;
        this.graftLines++;
      }
    } else if (verb === "PRUNE") {
      this.prune++;
    }
  }

  /** The event log of member number `m`. */
  logOf(m: number): EventLog {
    return {
      emit: (_level: EventLevel, event: EventName, fields: EventFields) => {
        if (event === "msg.in") {
          const f = fields as Record<string, unknown>;
          if (f.peer === undefined || f.peer === null) return;
          if (Array.isArray(f.lines)) {
            for (const l of f.lines) this.line(String(l));
          } else if (typeof f.line === "string") {
            this.line(f.line);
          }
        } else if (event === "record.stored") {
          const now = performance.now();
          const f = fields as Record<string, unknown>;
          const clients = Array.isArray(f.clients) ? f.clients : [f.client];
          for (const c of clients) {
            const u = this.index.get(String(c));
            if (u !== undefined) this.stored(m, u, now);
          }
        } else if (event === ("sync.want" as EventName) || event === ("sync.have" as EventName)) {
          this.antiEntropyRecords += Number((fields as Record<string, unknown>).records ?? 0);
        }
      },
    };
  }
}

/** The member with the most links (the first of them in file order). */
function mostConnected(config: HerdConfig): string {
  const degree = new Map(config.servers.map((s) => [s.name, 0]));
  for (const [a, b] of config.links) {
    degree.set(a, degree.get(a)! + 1);
    degree.set(b, degree.get(b)! + 1);
  }
  let best = config.servers[0].name;
  for (const s of config.servers) if (degree.get(s.name)! > degree.get(best)!) best = s.name;
  return best;
}

/** Polls `predicate` every 20 ms until it holds or `deadlineMs` (performance.now()) passes. */
async function until(predicate: () => boolean, deadlineMs: number): Promise<boolean> {
  while (!predicate()) {
    if (performance.now() > deadlineMs) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/**
 * One run: start the herd, send the updates, wait for them, stop the herd.
 *
 * @param size Members.
 * @param dissemination `flood` or `tree`.
 * @param failure Stop the most connected member a third of the way through.
 * @param opts Rate, updates, seed, settle.
 * @param run Run number, for unique client ids and the choice of members.
 */
export async function runOnce(
  size: number,
  dissemination: "flood" | "tree",
  failure: boolean,
  opts: ScaleOptions,
  run: number,
): Promise<RunResult> {
  const base = herdOf(size, opts);
  const config: HerdConfig = {
    ...base,
    servers: base.servers.map((s) => ({ name: s.name, host: "127.0.0.1", port: 0 })),
    settings: {
      ...base.settings,
      dissemination,
      drainMs: 0,
      ...(failure ? { syncIntervalMs: opts.failureSyncMs } : {}),
    },
  };
  const names = config.servers.map((s) => s.name);
  const n = names.length;
  const u = opts.updates;
  const tally = new Tally(n, u);
  const addresses = new Map();
  const members = names.map((name, i) =>
    new Member({ config, name, places: NO_PLACES, log: tally.logOf(i), addresses })
  );
  const victim = failure ? names.indexOf(mostConnected(config)) : -1;
  const remaining = names.filter((_, i) => i !== victim);
  const remainingConnected = Number.isFinite(
    graphStats(remaining, config.links).diameter,
  );
  const random = seededRandom(opts.seed * 1000 + run);
  const prefix = `s${size}${dissemination[0]}${failure ? "x" : ""}r${run}`;
  for (let i = 0; i < u; i++) tally.index.set(`${prefix}-${i}`, i);

  for (const m of members) m.start({ port: 0 });
  const linked = () =>
    members.every((m) => !m.running || [...m.links.values()].every((l) => l.state === "welcomed"));
  if (!await until(linked, performance.now() + 30_000)) {
    await Promise.all(members.map((m) => m.stop(0)));
    throw new Error(`${size} members: links not all up after 30 s`);
  }
  // The opening anti-entropy of every link, before the clock starts.
  await new Promise((r) => setTimeout(r, 200));

  const lags: number[] = [];
  let expected = performance.now() + LAG_TICK_MS;
  const lagTimer = setInterval(() => {
    const now = performance.now();
    lags.push(Math.max(0, now - expected));
    expected = now + LAG_TICK_MS;
  }, LAG_TICK_MS);

  const load = loadAverage();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const intervalMs = 1000 / opts.rate;
  const failAt = failure ? Math.floor(u / 3) : -1;
  const replies: Promise<unknown>[] = [];
  /** Member each update was sent to. */
  const origins = new Int32Array(u);
  let stopping: Promise<void> | null = null;
  for (let i = 0; i < u; i++) {
    const due = t0 + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    if (i === failAt) stopping = members[victim].stop(0);
    let target = Math.floor(random() * n);
    while (!members[target].running) target = Math.floor(random() * n);
    origins[i] = target;
    const client = `${prefix}-${i}`;
    const time = formatPosixTime(wallClockNs(), 6);
    tally.sentMs[i] = performance.now();
    replies.push(
      members[target].submit(
        { id: i, remote: "127.0.0.1:0", remoteHost: "127.0.0.1", via: "bench" },
        `IAMAT ${client} ${LOCATION} ${time}`,
      ).then((r) => {
        if (r.stored) tally.stored(target, i, performance.now());
      }),
    );
  }
  await Promise.all(replies);
  await stopping;

  const counted = names.map((_, i) => i).filter((i) => i !== victim);
  const everywhere = (i: number) => counted.every((m) => tally.storedMs[i * n + m] > 0);
  let firstPending = 0;
  const allArrived = () => {
    while (firstPending < u && everywhere(firstPending)) firstPending++;
    if (firstPending < u) return false;
    return true;
  };
  const sendSeconds = (performance.now() - t0) / 1000;
  const settleMs = failure ? Math.max(opts.settleMs, 3 * opts.failureSyncMs) : opts.settleMs;
  await until(allArrived, performance.now() + settleMs);
  // The copies still on their way (a busy herd has stored everything before it has read every
  // duplicate): counted once no link has lines queued and no line has arrived for a while.
  let seen = -1, quietSince = performance.now();
  await until(() => {
    const now = performance.now();
    const count = tally.lines + tally.prune;
    if (count !== seen) [seen, quietSince] = [count, now];
    const queued = members.some((m) =>
      m.running && [...m.links.values()].some((l) => l.state === "welcomed" && l.queued > 0)
    );
    return !queued && now - quietSince >= QUIET_MS;
  }, performance.now() + MAX_QUIET_WAIT_MS);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(lagTimer);

  const convergence: number[] = [];
  let unconverged = 0;
  for (let i = 0; i < u; i++) {
    if (!everywhere(i)) {
      unconverged++;
      continue;
    }
    let last = 0;
    for (const m of counted) last = Math.max(last, tally.storedMs[i * n + m]);
    convergence.push(last - tally.sentMs[i]);
  }
  let lost = 0, lostWithStopped = 0;
  for (let i = 0; i < u; i++) {
    const client = `${prefix}-${i}`;
    if (counted.some((m) => members[m].store.get(client) === undefined)) {
      if (origins[i] === victim) lostWithStopped++;
      else lost++;
    }
  }
  await Promise.all(members.map((m) => m.stop(0)));

  convergence.sort((a, b) => a - b);
  lags.sort((a, b) => a - b);
  const degreeSum = 2 * config.links.length;
  return {
    members: n,
    links: config.links.length,
    dissemination,
    scenario: failure ? "failure" : "steady",
    stopped: failure ? names[victim] : null,
    remainingConnected,
    updates: u,
    messagesPerUpdate: round((tally.at + tally.ihave + tally.graft) / u, 2),
    linesPerUpdate: round(tally.lines / u, 2),
    atPerUpdate: round(tally.at / u, 2),
    ihavePerUpdate: round(tally.ihave / u, 2),
    ihaveLinesPerUpdate: round(tally.ihaveLines / u, 2),
    graftPerUpdate: round(tally.graft / u, 3),
    pruneLines: tally.prune,
    antiEntropyRecords: tally.antiEntropyRecords,
    antiEntropyPerUpdate: round(tally.antiEntropyRecords / u, 2),
    floodLines: degreeSum - (n - 1),
    convergenceMs: {
      p50: round(percentile(convergence, 50), 2),
      p99: round(percentile(convergence, 99), 2),
      max: round(convergence[convergence.length - 1] ?? NaN, 2),
    },
    unconverged,
    lost,
    lostWithStopped,
    cpuUsPerUpdate: round((cpu.user + cpu.system) / u, 1),
    cpuCores: round((cpu.user + cpu.system) / 1e6 / seconds, 2),
    sentPerSecond: round(u / sendSeconds, 1),
    loopLagMs: { p99: round(percentile(lags, 99), 2), max: round(lags[lags.length - 1] ?? 0, 2) },
    seconds: round(seconds, 3),
    loadAverage: load === null ? null : round(load, 2),
  };
}

/** No peer line for this long, ms, and no link with lines queued: the herd is quiet. */
const QUIET_MS = 300;

/** Longest wait for the herd to go quiet after every update arrived, ms. */
const MAX_QUIET_WAIT_MS = 10_000;

/** Period of the event loop's lag probe, ms. */
const LAG_TICK_MS = 20;

/** Median, min and max of a cell's runs. */
function spread(values: number[]): { median: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor((sorted.length - 1) / 2)],
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

/** `median` or `median [min-max]` when the runs differ. */
function cell(values: number[], digits: number): string {
  const s = spread(values);
  const f = (v: number) => (Number.isNaN(v) ? "-" : v.toFixed(digits));
  return s.min === s.max || values.length === 1
    ? f(s.median)
    : `${f(s.median)} [${f(s.min)}-${f(s.max)}]`;
}

/** The table of every cell (several runs of one cell: median [min-max]). */
export function formatTable(cells: RunResult[][]): string {
  const head = [
    "N",
    "links",
    "diss.",
    "scenario",
    "msgs/upd",
    "lines/upd",
    "AT/upd",
    "IHAVE/upd",
    "GRAFT/upd",
    "flood 2E-(N-1)",
    "AE/upd",
    "sent/s",
    "conv p50 ms",
    "conv p99 ms",
    "conv max ms",
    "CPU µs/upd",
    "CPU cores",
    "lag p99 ms",
    "lost",
    "lost w/ stopped",
    "load",
  ];
  const rows = cells.map((runs) => {
    const r = runs[0];
    const scenario = r.scenario === "failure"
      ? `stop ${r.stopped}${r.remainingConnected ? "" : " (cut!)"}`
      : "steady";
    return [
      String(r.members),
      String(r.links),
      r.dissemination,
      scenario,
      cell(runs.map((x) => x.messagesPerUpdate), 1),
      cell(runs.map((x) => x.linesPerUpdate), 1),
      cell(runs.map((x) => x.atPerUpdate), 1),
      cell(runs.map((x) => x.ihavePerUpdate), 1),
      cell(runs.map((x) => x.graftPerUpdate), 2),
      String(r.floodLines),
      cell(runs.map((x) => x.antiEntropyPerUpdate), 2),
      cell(runs.map((x) => x.sentPerSecond), 0),
      cell(runs.map((x) => x.convergenceMs.p50), 1),
      cell(runs.map((x) => x.convergenceMs.p99), 1),
      cell(runs.map((x) => x.convergenceMs.max), 1),
      cell(runs.map((x) => x.cpuUsPerUpdate), 0),
      cell(runs.map((x) => x.cpuCores), 2),
      cell(runs.map((x) => x.loopLagMs.p99), 1),
      cell(runs.map((x) => x.lost), 0),
      cell(runs.map((x) => x.lostWithStopped), 0),
      cell(runs.map((x) => x.loadAverage ?? NaN), 1),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cols: string[]) =>
    "| " + cols.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** Reads the flags (see the module doc). */
export function parseScaleArgs(args: readonly string[]): ScaleOptions {
  const value = (name: string, fallback: string) => {
    const i = args.indexOf(`--${name}`);
    return i === -1 || i + 1 >= args.length ? fallback : args[i + 1];
  };
  const number = (name: string, fallback: number, min: number) => {
    const v = Number(value(name, String(fallback)));
    if (!Number.isFinite(v) || v < min) {
      throw new RangeError(`--${name} must be a number >= ${min}`);
    }
    return v;
  };
  const sizes = value("sizes", "5,20,50,100").split(",").map(Number);
  if (sizes.some((s) => !Number.isInteger(s) || s < 2)) {
    throw new RangeError("--sizes must be whole numbers >= 2, e.g. 5,20,50,100");
  }
  const disseminations = value("dissemination", "flood,tree").split(",");
  for (const d of disseminations) {
    if (d !== "flood" && d !== "tree") {
      throw new RangeError(`--dissemination: flood or tree, got ${d}`);
    }
  }
  return {
    sizes,
    rate: number("rate", 100, 0.001),
    updates: Math.floor(number("updates", 1000, 3)),
    seed: Math.floor(number("seed", 1, 0)),
    degree: number("degree", 4, 1),
    disseminations: disseminations as Array<"flood" | "tree">,
    repeat: Math.floor(number("repeat", 1, 1)),
    failure: !args.includes("--no-failure"),
    failureSyncMs: number("failure-sync-ms", 5000, 1),
    settleMs: number("settle-ms", 10_000, 0),
    json: args.includes("--json"),
  };
}

/** Runs every cell `repeat` times, interleaving the disseminations, and prints the figures. */
export async function main(args: readonly string[]): Promise<void> {
  const opts = parseScaleArgs(args);
  const cells = new Map<string, RunResult[]>();
  const scenarios = opts.failure ? [false, true] : [false];
  for (let run = 0; run < opts.repeat; run++) {
    for (const size of opts.sizes) {
      for (const failure of scenarios) {
        // Flood and tree one after the other, so both see the same machine load.
        for (const d of opts.disseminations) {
          const r = await runOnce(size, d, failure, opts, run);
          const key = `${size} ${failure} ${d}`;
          cells.set(key, [...cells.get(key) ?? [], r]);
          console.error(
            `scale_bench: run ${run + 1}/${opts.repeat} N=${size} ${d} ${r.scenario}: ` +
              `${r.messagesPerUpdate} msgs/upd, p99 ${r.convergenceMs.p99} ms, ` +
              `${r.cpuUsPerUpdate} µs CPU/upd, lost ${r.lost} (+${r.lostWithStopped} with the ` +
              "stopped member)",
          );
        }
      }
    }
  }
  const all = [...cells.values()];
  if (opts.json) {
    console.log(JSON.stringify({ options: opts, deno: Deno.version.deno, cells: all }));
  } else {
    console.log(
      `scale_bench: ${opts.updates} updates at ${opts.rate}/s per run, random graphs of degree ` +
        `${opts.degree} (seed ${opts.seed}; N=5 is the default herd), ${opts.repeat} run(s) per ` +
        `cell (median [min-max]); Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs`,
    );
    console.log(formatTable(all));
  }
}

if (import.meta.main) await main(Deno.args);

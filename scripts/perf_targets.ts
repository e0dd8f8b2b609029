/**
 * Measures the issue-5 targets end to end (docs/PERFORMANCE.md): starts the
 * default five-member herd (herd.toml's links, places on GeoNames) as five
 * `herd serve` processes on 127.0.0.1, runs `herd bench --json` several times
 * per target, and prints the median and min-max of each figure. After every
 * pipelined IAMAT run it checks from the logs that every other member stored
 * every record of that run (`record.stored` events with the run's client ids).
 * Then it measures one solo member's resident memory after 1,000,000 IAMATs of
 * distinct clients (`VmRSS` of /proc/<pid>/status).
 *
 * Last, `heal` (issue 4, docs/RELIABILITY.md; about 13 s a run) measures
 * healing after a partition with five `herd serve` processes. Each run starts a
 * fresh herd with its own log folder, stops Hill and Jaquez (SIGTERM: the
 * partition cuts {Hill, Jaquez} off), pipelines 100,000 IAMATs of distinct
 * clients into Campbell and waits until Singleton and Smith logged every record
 * (Campbell is their origin), then starts
 * Hill and Jaquez again with empty stores. The heal time runs from just before
 * they are spawned (wall clock) to the `@timestamp` of the last of the run's
 * 100,000 `record.stored` events in either log: the moment both hold every
 * record, process start included. The script sees that only later: it counts
 * the events with grep every 500 ms (more often, the greps over tens of MB of
 * logs would steal the members' CPU), after the log's flush delay (up to
 * `FILE_FLUSH_MS`, 200 ms, in src/log.ts); that "seen" time is printed too, as
 * an upper bound. Per run it also prints when both restarted members accepted
 * connections and when each stored its first and last record of the run.
 *
 * Usage:
 *
 * ```sh
 * deno run --allow-run --allow-net=127.0.0.1 --allow-read --allow-write --allow-env \
 *   scripts/perf_targets.ts [--runs 5] [--port 21490] [--only pipe,conn,prop,whatsat,mem,heal]
 * ```
 *
 * Loopback only; every process it starts is stopped and its temporary folder
 * (configs and logs) removed before it exits.
 *
 * @module
 */

import { defaultConfig } from "../src/config.ts";
import { logFilesOldestFirst } from "../src/log.ts";
import { MAIN, startServe, storedClients } from "./_serve.ts";

/** Value of `--<name> <value>` on the command line, or `fallback`. */
function flag(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 || i + 1 >= Deno.args.length ? fallback : Deno.args[i + 1];
}

const flags = {
  runs: flag("runs", "5"),
  port: flag("port", "21490"),
  only: flag("only", "pipe,conn,prop,whatsat,mem,heal"),
};
const RUNS = Number(flags.runs);
const BASE_PORT = Number(flags.port);
const ONLY = new Set(String(flags.only).split(","));
// The default herd of PROTOCOL.md section 6, on other ports.
const NAMES = defaultConfig().servers.map((s) => s.name);
const LINKS = defaultConfig().links;
const RUN_FLAGS = ["run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", MAIN];

/** `herd bench --json` output (the fields used here). */
interface BenchJson {
  requests: number;
  errors: number;
  seconds: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
}

/** Writes a herd.toml for `names` at consecutive ports from `port`. */
async function writeConfig(path: string, names: string[], links: string[][], port: number) {
  const lines = [
    "[herd]",
    `links = [${links.map(([a, b]) => `["${a}", "${b}"]`).join(", ")}]`,
    "[places]",
    `provider = "geonames"`,
  ];
  names.forEach((n, i) => lines.push("[[servers]]", `name = "${n}"`, `port = ${port + i}`));
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
}

/** Runs `herd bench --json <args>`; returns its result and the bench process id. */
async function bench(args: string[]): Promise<{ r: BenchJson; pid: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, "bench", "--json", "--no-progress", ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout).trim();
  return { r: JSON.parse(text.slice(text.lastIndexOf("\n") + 1)) as BenchJson, pid: child.pid };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs: number[], digits = 0) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)} - ${
    Math.max(...xs).toFixed(digits)
  })`;

/** Runs one target `RUNS` times and prints its figures. */
async function target(
  label: string,
  args: string[],
  after?: (pid: number, r: BenchJson) => Promise<string>,
): Promise<void> {
  const rs: BenchJson[] = [];
  const notes: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const { r, pid } = await bench(args);
    rs.push(r);
    if (after !== undefined) notes.push(await after(pid, r));
  }
  console.log(`\n${label}\n  herd bench --json ${args.join(" ")}`);
  console.log(`  requests/s ${fmt(rs.map((r) => r.requestsPerSecond))}`);
  console.log(`  p50 ms     ${fmt(rs.map((r) => r.latencyMs.p50), 3)}`);
  console.log(`  p99 ms     ${fmt(rs.map((r) => r.latencyMs.p99), 3)}`);
  console.log(`  max ms     ${fmt(rs.map((r) => r.latencyMs.max), 3)}`);
  console.log(`  errors     ${rs.map((r) => r.errors).join(", ")}`);
  if (notes.length > 0) console.log(`  ${notes.join("\n  ")}`);
}

async function herdTargets(dir: string): Promise<void> {
  const config = `${dir}/herd.toml`;
  const logDir = `${dir}/logs`;
  await writeConfig(config, NAMES, LINKS, BASE_PORT);
  const members: Deno.ChildProcess[] = [];
  try {
    for (const [i, n] of NAMES.entries()) {
      members.push(await startServe(n, config, logDir, BASE_PORT + i));
    }
    await new Promise((r) => setTimeout(r, 1000)); // links up, anti-entropy done
    const at = (name: string) => `127.0.0.1:${BASE_PORT + NAMES.indexOf(name)}`;
    if (ONLY.has("pipe")) {
      await target(
        "pipelined IAMAT into Campbell, 4 x 64, 100,000",
        ["--mode", "pipe", "--requests", "100000", "--duration", "120s", at("Campbell")],
        async (pid, r) => {
          // Every other member must store every record of the run (logs flush each second).
          const prefix = `bench-${pid}-`;
          const deadline = performance.now() + 60_000;
          let counts: number[] = [];
          while (performance.now() < deadline) {
            counts = await Promise.all(
              NAMES.slice(1).map((n) => storedClients(logDir, n, prefix).then((s) => s.count)),
            );
            if (counts.every((c) => c >= r.requests)) break;
            await new Promise((res) => setTimeout(res, 1000));
          }
          return `run ${prefix}: stored on Hill, Jaquez, Singleton, Smith: ${
            counts.join(", ")
          } of ${r.requests}`;
        },
      );
    }
    if (ONLY.has("conn")) {
      await target(
        "connection per request, 50 concurrent, 20,000 into Campbell",
        ["--mode", "conn", "--concurrency", "50", "--requests", "20000", at("Campbell")],
      );
    }
    if (ONLY.has("prop")) {
      await target(
        "propagation Campbell -> Hill (two hops), 100/s, 1,000",
        [
          "--mode",
          "propagation",
          "--rate",
          "100",
          "--requests",
          "1000",
          at("Campbell"),
          at("Hill"),
        ],
      );
    }
    if (ONLY.has("whatsat")) {
      await target(
        "WHATSAT 10 km / 5 on Singleton, one at a time, 3,000",
        [
          "--kind",
          "whatsat",
          "--concurrency",
          "1",
          "--window",
          "1",
          "--requests",
          "3000",
          at("Singleton"),
        ],
      );
    }
    const du = await new Deno.Command("du", { args: ["-sh", logDir], stdout: "piped" }).output();
    console.log(`\nlogs written: ${new TextDecoder().decode(du.stdout).trim()}`);
    for (const [i, m] of members.entries()) console.log(`${NAMES[i]} ${await rssMb(m.pid)} MB RSS`);
  } finally {
    for (const m of members) m.kill("SIGTERM");
    for (const m of members) await m.status;
  }
}

/** Resident set size of process `pid`, MB (`ps -o rss`, i.e. `VmRSS`). */
async function rssMb(pid: number): Promise<number> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "rss=", "-p", String(pid)],
    stdout: "piped",
  })
    .output();
  return Math.round(Number(new TextDecoder().decode(out.stdout).trim()) / 1024);
}

async function memoryTarget(dir: string): Promise<void> {
  const config = `${dir}/solo.toml`;
  await writeConfig(config, ["Solo"], [], BASE_PORT + 10);
  const rss: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const solo = await startServe("Solo", config, `${dir}/solo-logs-${i}`, BASE_PORT + 10);
    try {
      const { r } = await bench([
        "--mode",
        "pipe",
        "--requests",
        "1000000",
        "--duration",
        "120s",
        `127.0.0.1:${BASE_PORT + 10}`,
      ]);
      if (r.requests - r.errors !== 1_000_000) throw new Error(`only ${r.requests - r.errors} ok`);
      await new Promise((res) => setTimeout(res, 2000)); // let the log buffers drain
      rss.push(await rssMb(solo.pid));
    } finally {
      solo.kill("SIGTERM");
      await solo.status;
      await Deno.remove(`${dir}/solo-logs-${i}`, { recursive: true });
    }
  }
  console.log(`\none member holding 1,000,000 client records: RSS MB ${fmt(rss)}`);
}

/**
 * Log lines of member `name` with event `record.stored` for client ids starting with `prefix`:
 * the first and the last, over all its log files in `logDir` (rotated ones too).
 */
async function storedSpan(logDir: string, name: string, prefix: string): Promise<[string, string]> {
  const files = await logFilesOldestFirst(logDir, name);
  if (files.length === 0) return ["", ""];
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      `cat "$@" | grep -F '"record.stored"' | grep -F '"${prefix}' | sed -n '1p;$p'`,
      "sh",
      ...files,
    ],
    stdout: "piped",
  }).output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return [lines[0], lines[lines.length - 1]];
}

/** `@timestamp` of a JSON log line, ms since the epoch. */
const stampOf = (line: string) => Date.parse(JSON.parse(line)["@timestamp"]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The members the partition cuts off; they come back with empty stores. */
const CUT = ["Hill", "Jaquez"];

async function healTarget(dir: string): Promise<void> {
  const config = `${dir}/heal.toml`;
  const port = BASE_PORT + 20;
  const portOf = (name: string) => port + NAMES.indexOf(name);
  const N = 100_000;
  await writeConfig(config, NAMES, LINKS, port);
  const heals: number[] = [];
  const seen: number[] = [];
  const notes: string[] = [];
  for (let run = 0; run < RUNS; run++) {
    const logDir = `${dir}/heal-logs-${run}`;
    const members = new Map<string, Deno.ChildProcess>();
    try {
      for (const n of NAMES) members.set(n, await startServe(n, config, logDir, portOf(n)));
      await sleep(1000); // links up, anti-entropy done
      for (const n of CUT) {
        const m = members.get(n)!;
        members.delete(n);
        m.kill("SIGTERM");
        await m.status;
      }
      const { r, pid } = await bench([
        "--mode",
        "pipe",
        "--requests",
        String(N),
        "--duration",
        "120s",
        `127.0.0.1:${portOf("Campbell")}`,
      ]);
      if (r.requests !== N || r.errors !== 0) {
        throw new Error(`bench: ${r.requests} requests, ${r.errors} errors`);
      }
      const prefix = `bench-${pid}-`;
      const rest = ["Singleton", "Smith"];
      const deadline = performance.now() + 60_000;
      let counts: number[] = [];
      while (performance.now() < deadline) {
        counts = await Promise.all(
          rest.map((n) => storedClients(logDir, n, prefix).then((s) => s.count)),
        );
        if (counts.every((c) => c >= N)) break;
        await sleep(100);
      }
      if (!counts.every((c) => c >= N)) throw new Error(`${rest} stored only ${counts}`);

      // Heal: Hill and Jaquez come back empty (no data_dir).
      const wall0 = Date.now();
      const t0 = performance.now();
      const started = await Promise.allSettled(
        CUT.map((n) => startServe(n, config, logDir, portOf(n))),
      );
      started.forEach((s, i) => s.status === "fulfilled" && members.set(CUT[i], s.value));
      const failed = started.find((s) => s.status === "rejected");
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
      const startMs = performance.now() - t0;
      const healDeadline = t0 + 60_000;
      let healMs = NaN;
      while (performance.now() < healDeadline) {
        counts = await Promise.all(
          CUT.map((n) => storedClients(logDir, n, prefix).then((s) => s.count)),
        );
        if (counts.every((c) => c >= N)) {
          healMs = performance.now() - t0;
          break;
        }
        await sleep(500);
      }
      if (isNaN(healMs)) throw new Error(`not healed within 60 s: ${CUT} stored ${counts}`);
      const spans = await Promise.all(CUT.map((n) => storedSpan(logDir, n, prefix)));
      const secs = (line: string) => ((stampOf(line) - wall0) / 1000).toFixed(2);
      const healS = Math.max(...spans.map(([, last]) => stampOf(last) - wall0)) / 1000;
      heals.push(healS);
      seen.push(healMs / 1000);
      notes.push(
        `run ${run + 1}: healed ${healS.toFixed(2)} s, seen ${(healMs / 1000).toFixed(2)} s ` +
          `(both listening after ${startMs.toFixed(0)} ms; ` +
          CUT.map((n, i) => `${n} stored first/last at ${secs(spans[i][0])}/${secs(spans[i][1])} s`)
            .join(", ") +
          `; bench ${r.requestsPerSecond.toFixed(0)} req/s)`,
      );
    } finally {
      for (const m of members.values()) m.kill("SIGTERM");
      for (const m of members.values()) await m.status;
      await Deno.remove(logDir, { recursive: true }).catch(() => {});
    }
  }
  console.log(
    `\npartition {${CUT.join(", ")}} healed after ${N.toLocaleString("en")} records changed ` +
      `(restarted empty, five processes)`,
  );
  console.log(`  heal s     ${fmt(heals, 2)}  (bound 5 s; spawn to the last record stored)`);
  console.log(`  seen s     ${fmt(seen, 2)}  (spawn to the script counting every record)`);
  console.log(`  ${notes.join("\n  ")}`);
}

const dir = await Deno.makeTempDir({ prefix: "herd-perf-" });
try {
  console.log(`deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, ${RUNS} runs`);
  if (["pipe", "conn", "prop", "whatsat"].some((t) => ONLY.has(t))) await herdTargets(dir);
  if (ONLY.has("mem")) await memoryTarget(dir);
  if (ONLY.has("heal")) await healTarget(dir);
} finally {
  await Deno.remove(dir, { recursive: true });
}

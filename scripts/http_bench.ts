/**
 * Measures the HTTP face (issue 11, docs/PERFORMANCE.md "HTTP API"): starts
 * the default five-member herd (herd.toml's links, GeoNames places) as five
 * `herd serve` processes on 127.0.0.1 with an `http_port` each, then per run:
 *
 * - `put`: HTTP location updates with keep-alive. `--concurrency` loops in
 *   this process, each `await fetch(PUT /v1/clients/<new id>/location)` one
 *   after another (Deno's fetch keeps the connection alive), `--requests` in
 *   all, into Campbell; then, on the same herd, the same count of TCP IAMATs
 *   with `herd bench --mode pipe --concurrency <same> --window 1` (as many
 *   persistent connections, one request in flight on each: like for like).
 *   Latency is from the call of `fetch` to the end of the reply's body. After
 *   each pair it checks through `/v1/herd` that every member holds as many
 *   records as Campbell.
 * - `ceiling`: the same PUT loops against a trivial `Deno.serve` in another
 *   process that answers every request with a fixed record: what this
 *   generator can do at most, so the `put` figures measure the herd.
 * - `fanout`: `--subscribers` WebSockets to Hill's `/v1/stream` (no filter),
 *   all opened before the first update, then `--rate` PUTs per second for
 *   `--seconds` into Campbell (two hops from Hill: Campbell - Smith - Hill),
 *   each a new client. A delivery's latency runs from the call of `fetch` for
 *   its PUT to the `message` event of one subscriber, in this process, on
 *   one clock. Reported: p50, p99 and max over every delivery, deliveries
 *   missing 5 s after the last PUT, and `lagged` events received. Also run
 *   with one subscriber (`fanout1`), to tell propagation from fan-out.
 *
 * Each run prints one JSON line; at the end, per figure, the median and the
 * min-max over the runs. Loopback only; every process it starts is stopped
 * and its temporary folder (config and logs) removed before it exits.
 *
 * Usage:
 *
 * ```sh
 * deno run --allow-run --allow-net=127.0.0.1 --allow-read --allow-write --allow-env \
 *   scripts/http_bench.ts [--runs 5] [--port 22490] [--only put,ceiling,fanout1,fanout] \
 *   [--requests 10000] [--concurrency 50] [--subscribers 1000] [--rate 20] [--seconds 10]
 * ```
 *
 * @module
 */

import { defaultConfig } from "../src/config.ts";
import { wallClockNs } from "../src/herd/clock.ts";
import { formatPosixTime } from "../src/protocol/mod.ts";

/** Value of `--<name> <value>` on the command line, or `fallback`. */
function flag(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 || i + 1 >= Deno.args.length ? fallback : Deno.args[i + 1];
}

const RUNS = Number(flag("runs", "5"));
const BASE_PORT = Number(flag("port", "22490"));
/** HTTP ports are the TCP ports plus this. */
const HTTP_OFFSET = 100;
const ONLY = new Set(flag("only", "put,ceiling,fanout1,fanout").split(","));
const REQUESTS = Number(flag("requests", "10000"));
const CONCURRENCY = Number(flag("concurrency", "50"));
const SUBSCRIBERS = Number(flag("subscribers", "1000"));
const RATE = Number(flag("rate", "20"));
const SECONDS = Number(flag("seconds", "10"));
/** How long deliveries may still arrive after the last PUT's reply, ms. */
const DRAIN_MS = 5_000;
/** WebSockets opened at once while subscribing. */
const OPEN_BATCH = 100;
/** Any one request or wait of this script gives up after this long, ms. */
const REQUEST_TIMEOUT_MS = 10_000;

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const NAMES = defaultConfig().servers.map((s) => s.name);
const LINKS = defaultConfig().links;
const RUN_FLAGS = ["run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", MAIN];
const LOCATION = "+34.068930-118.445127";

/** Clock ticks per second of /proc/<pid>/stat's CPU times. */
const CLK_TCK = Number(
  new TextDecoder().decode(new Deno.Command("getconf", { args: ["CLK_TCK"] }).outputSync().stdout),
) || 100;

/** Process ids of the members, in NAMES order (set once the herd is up). */
let memberPids: number[] = [];

/**
 * CPU seconds (user + system, every thread) a process has used so far, from /proc/<pid>/stat
 * (read with cat: reading /proc directly needs --allow-all).
 */
function cpuSeconds(pid: number): number {
  const text = new TextDecoder().decode(
    new Deno.Command("cat", { args: [`/proc/${pid}/stat`] }).outputSync().stdout,
  );
  // After "<pid> (<comm>) " come fields 3.. ; utime and stime are fields 14 and 15.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** CPU seconds of: the first member (Campbell), Hill, all five, and this process. */
function cpuNow(): { campbell: number; hill: number; herd: number; self: number } {
  const each = memberPids.map(cpuSeconds);
  return {
    campbell: each[NAMES.indexOf("Campbell")],
    hill: each[NAMES.indexOf("Hill")],
    herd: each.reduce((a, b) => a + b, 0),
    self: cpuSeconds(Deno.pid),
  };
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Median and min-max of `values`, for the summary. */
function spread(values: number[]): { median: number; min: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  return { median: percentile(s, 50), min: s[0], max: s[s.length - 1] };
}

/** Rounds to 3 decimals (ms with µs precision). */
function r3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Writes herd.toml for the default herd at `port`.., HTTP at `port + HTTP_OFFSET`... */
async function writeConfig(path: string, port: number): Promise<void> {
  const lines = [
    "[herd]",
    `links = [${LINKS.map(([a, b]) => `["${a}", "${b}"]`).join(", ")}]`,
    "[places]",
    `provider = "geonames"`,
  ];
  NAMES.forEach((n, i) =>
    lines.push(
      "[[servers]]",
      `name = "${n}"`,
      `port = ${port + i}`,
      `http_port = ${port + HTTP_OFFSET + i}`,
    )
  );
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
}

/** Polls `fn` every 50 ms until it returns true, for at most `ms`. */
async function until(what: string, fn: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    try {
      if (await fn()) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** `GET url` as JSON. */
async function getJson(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`${url}: ${res.status}`);
  }
  return await res.json();
}

/** Base URL of member `i`'s HTTP API. */
function httpUrl(i: number): string {
  return `http://127.0.0.1:${BASE_PORT + HTTP_OFFSET + i}`;
}

/** Starts the five members; resolves once each is ready and every link is up. */
async function startHerd(dir: string): Promise<Deno.ChildProcess[]> {
  const config = `${dir}/herd.toml`;
  await writeConfig(config, BASE_PORT);
  const children = NAMES.map((name) =>
    new Deno.Command(Deno.execPath(), {
      args: [...RUN_FLAGS, "serve", name, "--config", config, "--log-dir", `${dir}/logs`, "-q"],
      stdout: "null",
      stderr: "inherit",
    }).spawn()
  );
  try {
    for (let i = 0; i < NAMES.length; i++) {
      await until(`${NAMES[i]} ready`, async () => {
        const res = await fetch(`${httpUrl(i)}/readyz`);
        await res.body?.cancel();
        return res.status === 200;
      });
      await until(`${NAMES[i]}'s links up`, async () => {
        const herd = await getJson(`${httpUrl(i)}/v1/herd`);
        return (herd.neighbours as Array<{ state: string }>).every((n) => n.state === "up");
      });
    }
  } catch (e) {
    await stopAll(children);
    throw e;
  }
  return children;
}

/** SIGTERM to each child, then waits for them all. */
async function stopAll(children: Deno.ChildProcess[]): Promise<void> {
  for (const c of children) {
    try {
      c.kill("SIGTERM");
    } catch {
      // already gone
    }
  }
  await Promise.all(children.map((c) => c.status));
}

/** What one run of PUT loops measured. */
interface PutResult {
  requests: number;
  errors: number;
  seconds: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * `CONCURRENCY` loops of PUT, `REQUESTS` in all, new client ids `prefix-<loop>-<n>`, into
 * `base`; a request succeeds on a 200 whose record says `"stored":true`.
 */
async function putLoops(base: string, prefix: string): Promise<PutResult> {
  const latencies = new Float64Array(REQUESTS);
  let taken = 0;
  let done = 0;
  let errors = 0;
  const loop = async (index: number) => {
    for (let n = 0; taken < REQUESTS; n++) {
      taken++;
      const body = `{"location":"${LOCATION}","time":"${formatPosixTime(wallClockNs(), 6)}"}`;
      const t0 = performance.now();
      let ok = false;
      try {
        const res = await fetch(`${base}/v1/clients/${prefix}-${index}-${n}/location`, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const text = await res.text();
        ok = res.status === 200 && text.includes('"stored":true');
      } catch {
        ok = false;
      }
      const ms = performance.now() - t0;
      if (ok) latencies[done - errors] = ms;
      else errors++;
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => loop(i)));
  const seconds = (performance.now() - started) / 1000;
  const ok = latencies.subarray(0, done - errors).sort();
  return {
    requests: done,
    errors,
    seconds: r3(seconds),
    requestsPerSecond: Math.round((done - errors) / seconds),
    p50: r3(percentile(ok, 50)),
    p99: r3(percentile(ok, 99)),
    max: r3(percentile(ok, 100)),
  };
}

/** `herd bench --json` of TCP IAMATs like the PUT loops: CONCURRENCY connections, one in flight. */
async function tcpLikeForLike(): Promise<PutResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      ...RUN_FLAGS,
      "bench",
      "--json",
      "--no-progress",
      "--mode",
      "pipe",
      "--concurrency",
      String(CONCURRENCY),
      "--window",
      "1",
      "--requests",
      String(REQUESTS),
      `127.0.0.1:${BASE_PORT}`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  const r = JSON.parse(text.slice(text.lastIndexOf("\n") + 1));
  return {
    requests: r.requests,
    errors: r.errors,
    seconds: r.seconds,
    requestsPerSecond: Math.round(r.requestsPerSecond),
    p50: r.latencyMs.p50,
    p99: r.latencyMs.p99,
    max: r.latencyMs.max,
  };
}

/** Waits until every member's `/v1/herd` counts as many records as Campbell's. */
async function everyMemberHasEveryRecord(): Promise<number> {
  let records = 0;
  await until("every member holding every record", async () => {
    const counts = await Promise.all(
      NAMES.map(async (_, i) => (await getJson(`${httpUrl(i)}/v1/herd`)).records as number),
    );
    records = counts[0];
    return counts.every((c) => c === counts[0]);
  });
  return records;
}

/** A trivial HTTP server in another process: every request gets one fixed record. */
async function startTrivialServer(port: number): Promise<Deno.ChildProcess> {
  const code = `
    const body = JSON.stringify({server:"Campbell",skew:"+0.000049316",client:"x",
      location:"${LOCATION}",time:"1.0",at:"AT Campbell +0.000049316 x ${LOCATION} 1.0",stored:true});
    Deno.serve({ hostname: "127.0.0.1", port: ${port}, onListen() {} }, async (req) => {
      await req.arrayBuffer();
      return new Response(body, { headers: { "content-type": "application/json" } });
    });`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await until("the trivial server", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    await res.body?.cancel();
    return res.ok;
  });
  return child;
}

/** What one fan-out run measured. */
interface FanoutResult {
  subscribers: number;
  updates: number;
  deliveries: number;
  missing: number;
  lagged: number;
  putErrors: number;
  p50: number;
  p99: number;
  max: number;
  /** Median over updates of the time from an update's first delivery to its last, ms. */
  spreadP50: number;
  /** Most this process's timers ran late while the updates went out: its own queueing, ms. */
  receiverLagMax: number;
  /** Hill's `herd_stream_subscribers` once every socket here closed (5 s for it to reach 0). */
  leftOnServer: number;
  /** Hill's CPU per delivery over the PUTs and the drain, µs. */
  hillCpuUs: number;
  /** This process's CPU (the subscribers and the PUTs) per delivery, µs. */
  selfCpuUs: number;
}

/** Hill's open stream subscriptions, from its `/metrics`. */
async function serverSubscribers(): Promise<number> {
  const res = await fetch(`${httpUrl(NAMES.indexOf("Hill"))}/metrics`, {
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await res.text();
  return Number(/^herd_stream_subscribers (\d+)/m.exec(text)?.[1] ?? NaN);
}

/** Opens `n` WebSockets to `url`, `OPEN_BATCH` at a time; resolves once all are open. */
async function openSockets(url: string, n: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < n; i += OPEN_BATCH) {
    const batch = Array.from({ length: Math.min(OPEN_BATCH, n - i) }, () => new WebSocket(url));
    await Promise.all(batch.map((ws) =>
      new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = (e) => reject(new Error(`websocket: ${(e as ErrorEvent).message}`));
      })
    ));
    sockets.push(...batch);
  }
  return sockets;
}

/** Closes every socket and waits (bounded) for their close events. */
async function closeSockets(sockets: WebSocket[]): Promise<void> {
  await Promise.race([
    Promise.all(sockets.map((ws) =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.onclose = () => resolve();
        ws.close();
      })
    )),
    new Promise((r) => setTimeout(r, REQUEST_TIMEOUT_MS)),
  ]);
}

/**
 * `subscribers` WebSockets on Hill; `RATE` PUTs a second for `SECONDS` into Campbell, client
 * `prefix-<n>`; latency of every delivery from the PUT's fetch call.
 */
async function fanout(subscribers: number, prefix: string): Promise<FanoutResult> {
  const hill = NAMES.indexOf("Hill");
  const campbell = NAMES.indexOf("Campbell");
  const updates = Math.round(RATE * SECONDS);
  const sentMs = new Float64Array(updates).fill(NaN);
  const latencies = new Float64Array(updates * subscribers);
  const firstMs = new Float64Array(updates).fill(NaN);
  const lastMs = new Float64Array(updates).fill(NaN);
  let deliveries = 0;
  let lagged = 0;
  const marker = `"client":"${prefix}-`;
  const sockets = await openSockets(
    `${httpUrl(hill).replace("http", "ws")}/v1/stream`,
    subscribers,
  );
  for (const ws of sockets) {
    ws.onmessage = (m) => {
      const now = performance.now();
      const text = m.data as string;
      const at = text.indexOf(marker);
      if (at === -1) {
        if (text.startsWith('{"type":"lagged"')) lagged++;
        return;
      }
      const n = parseInt(text.slice(at + marker.length), 10);
      if (n >= 0 && n < updates && deliveries < latencies.length) {
        latencies[deliveries++] = now - sentMs[n];
        if (Number.isNaN(firstMs[n])) firstMs[n] = now;
        lastMs[n] = now;
      }
    };
  }
  let putErrors = 0;
  const puts: Promise<void>[] = [];
  // A 10 ms ticker: how late it runs is how long a message waits here before being read.
  let lagMax = 0;
  let tick = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    lagMax = Math.max(lagMax, now - tick - 10);
    tick = now;
  }, 10);
  const cpu0 = cpuNow();
  const t0 = performance.now();
  for (let n = 0; n < updates; n++) {
    const due = t0 + (n * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const body = `{"location":"${LOCATION}","time":"${formatPosixTime(wallClockNs(), 6)}"}`;
    sentMs[n] = performance.now();
    puts.push(
      fetch(`${httpUrl(campbell)}/v1/clients/${prefix}-${n}/location`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      }).then(async (res) => {
        const text = await res.text();
        if (res.status !== 200 || !text.includes('"stored":true')) putErrors++;
      }, () => void putErrors++),
    );
  }
  await Promise.all(puts);
  const expected = updates * subscribers;
  const deadline = performance.now() + DRAIN_MS;
  while (deliveries < expected && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  clearInterval(ticker);
  const cpu1 = cpuNow();
  const got = deliveries;
  await closeSockets(sockets);
  let left = NaN;
  const until0 = performance.now() + 5_000;
  do {
    left = await serverSubscribers();
    if (left === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  } while (performance.now() < until0);
  const sorted = latencies.subarray(0, got).sort();
  const spreads = Array.from(firstMs, (f, i) => lastMs[i] - f).filter((x) => !Number.isNaN(x))
    .sort((a, b) => a - b);
  return {
    subscribers,
    updates,
    deliveries: got,
    missing: expected - got,
    lagged,
    putErrors,
    p50: r3(percentile(sorted, 50)),
    p99: r3(percentile(sorted, 99)),
    max: r3(percentile(sorted, 100)),
    spreadP50: r3(percentile(spreads, 50)),
    receiverLagMax: r3(lagMax),
    leftOnServer: left,
    hillCpuUs: r3(((cpu1.hill - cpu0.hill) * 1e6) / Math.max(1, got)),
    selfCpuUs: r3(((cpu1.self - cpu0.self) * 1e6) / Math.max(1, got)),
  };
}

/** Prints median (min-max) of each numeric field over `runs`. */
function summary(name: string, runs: Array<Record<string, number>>): void {
  if (runs.length === 0) return;
  const fields = Object.keys(runs[0]);
  const parts = fields.map((f) => {
    const s = spread(runs.map((r) => r[f]));
    return `${f} ${s.median} (${s.min} - ${s.max})`;
  });
  console.log(`${name}: ${parts.join(", ")}`);
}

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "herd_http_bench_" });
  // /proc needs --allow-all to read directly; cat needs only --allow-run.
  const load = () =>
    new TextDecoder().decode(
      new Deno.Command("cat", { args: ["/proc/loadavg"] }).outputSync().stdout,
    )
      .split(" ").slice(0, 3).join(" ");
  console.log(
    `http_bench: ${RUNS} runs, ${REQUESTS} PUTs x ${CONCURRENCY} loops, ${SUBSCRIBERS} ` +
      `subscribers at ${RATE}/s for ${SECONDS} s; deno ${Deno.version.deno}; load ${load()}; ` +
      new Date().toISOString(),
  );
  const results: Record<string, Array<Record<string, number>>> = {
    put: [],
    tcp: [],
    ceiling: [],
    fanout1: [],
    fanout: [],
  };
  let children: Deno.ChildProcess[] = [];
  let trivial: Deno.ChildProcess | null = null;
  try {
    if (ONLY.has("put") || ONLY.has("fanout") || ONLY.has("fanout1")) {
      children = await startHerd(dir);
      memberPids = children.map((c) => c.pid);
    }
    if (ONLY.has("ceiling")) trivial = await startTrivialServer(BASE_PORT + 2 * HTTP_OFFSET);
    for (let run = 1; run <= RUNS; run++) {
      const tag = `hb${Deno.pid}r${run}`;
      const line = (kind: string, r: object) => {
        // The 1-minute load average when the measurement ended: the machine is shared.
        const withLoad = { ...r, load1: Number(load().split(" ")[0]) };
        results[kind].push(withLoad as Record<string, number>);
        console.log(JSON.stringify({ run, kind, ...withLoad }));
      };
      if (ONLY.has("put")) {
        // CPU ms per successful request: of Campbell (which gets them), of the whole herd.
        const perRequest = async (run: () => Promise<PutResult>) => {
          const before = cpuNow();
          const r = await run();
          const after = cpuNow();
          const ok = r.requests - r.errors;
          return {
            ...r,
            campbellCpuMs: r3(((after.campbell - before.campbell) * 1000) / ok),
            herdCpuMs: r3(((after.herd - before.herd) * 1000) / ok),
          };
        };
        line("put", await perRequest(() => putLoops(httpUrl(0), `${tag}p`)));
        line("tcp", await perRequest(tcpLikeForLike));
        const records = await everyMemberHasEveryRecord();
        console.log(JSON.stringify({ run, kind: "check", everyMemberHolds: records }));
      }
      if (ONLY.has("ceiling")) {
        line("ceiling", await putLoops(`http://127.0.0.1:${BASE_PORT + 2 * HTTP_OFFSET}`, tag));
      }
      if (ONLY.has("fanout1")) line("fanout1", await fanout(1, `${tag}a`));
      if (ONLY.has("fanout")) line("fanout", await fanout(SUBSCRIBERS, `${tag}f`));
    }
    console.log(`summary, median (min - max) of ${RUNS} runs; load now ${load()}:`);
    for (const [kind, runs] of Object.entries(results)) summary(kind, runs);
  } finally {
    if (trivial !== null) await stopAll([trivial]);
    await stopAll(children);
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();

/**
 * The cost of TLS on the client port, in one sitting: two one-member herds as `herd serve`
 * processes, one plain and one with `[tls] clients = true` (the committed test certificate, an
 * EC P-256 key), and the pipelined and per-connection `herd bench` runs against each, taken in
 * turn (plain, TLS, plain, TLS...) so that the machine's load falls on both alike. Prints, per
 * mode and side, the median and min-max of requests/s and of the p50 and p99 latencies.
 *
 * | mode | `herd bench` arguments (TLS side: plus `--tls --ca tests/fixtures/tls/ca.pem`) |
 * | ---- | ------------------------------------------------------------------------------- |
 * | pipe | `--mode pipe --requests 50000` (4 connections x 64 in flight)                   |
 * | conn | `--mode conn --concurrency 50 --requests 5000` (a connection per request)       |
 * | one  | `--mode conn --concurrency 1 --requests 500` (one connection at a time)         |
 *
 * Loopback only, bounded (each run ends at its requests or 60 s); every process and temporary
 * file is removed at the end.
 *
 * Usage: deno run --allow-run --allow-net=127.0.0.1 --allow-read --allow-write --allow-env \
 *   scripts/tls_cost.ts [runs]    (default 5)
 *
 * @module
 */

import { type BenchResult, runBench, type ServerAddress } from "../src/client/mod.ts";
import { startServe } from "./_serve.ts";

const RUNS = Number(Deno.args[0] ?? 5);
const FIXTURES = new URL("../tests/fixtures/tls/", import.meta.url).pathname;
const CA = Deno.readTextFileSync(FIXTURES + "ca.pem");
/** Cap on one run's time: a stuck run ends as errors, not a hang. */
const RUN_MS = 60_000;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

const dir = await Deno.makeTempDir({ prefix: "herd-tls-cost-" });
const children: Deno.ChildProcess[] = [];
try {
  const plainPort = freePort();
  const tlsPort = freePort();
  const solo = (port: number, tls: string) =>
    `${tls}[herd]\nlinks = []\n[[servers]]\nname = "Solo"\nhost = "127.0.0.1"\nport = ${port}\n`;
  await Deno.writeTextFile(`${dir}/plain.toml`, solo(plainPort, ""));
  await Deno.writeTextFile(
    `${dir}/tls.toml`,
    solo(
      tlsPort,
      `[tls]\ncert_file = "${FIXTURES}member.pem"\nkey_file = "${FIXTURES}member.key.pem"\n` +
        "clients = true\n",
    ),
  );
  children.push(await startServe("Solo", `${dir}/plain.toml`, `${dir}/plain-logs`, plainPort));
  children.push(await startServe("Solo", `${dir}/tls.toml`, `${dir}/tls-logs`, tlsPort));

  const sides: Array<[string, ServerAddress]> = [
    ["plain", { hostname: "127.0.0.1", port: plainPort }],
    ["TLS", { hostname: "127.0.0.1", port: tlsPort, tls: { caCerts: [CA] } }],
  ];
  const modes = [
    { name: "pipe", opts: { mode: "pipe" as const, requests: 50_000 } },
    { name: "conn", opts: { mode: "conn" as const, concurrency: 50, requests: 5_000 } },
    { name: "one", opts: { mode: "conn" as const, concurrency: 1, requests: 500 } },
  ];
  const results = new Map<string, BenchResult[]>();
  for (let run = 0; run < RUNS; run++) {
    for (const mode of modes) {
      for (const [side, target] of sides) {
        const r = await runBench({ ...mode.opts, target, durationMs: RUN_MS });
        const key = `${mode.name} ${side}`;
        results.set(key, [...(results.get(key) ?? []), r]);
        console.log(
          `run ${run + 1} ${key}: ${r.requestsPerSecond.toFixed(0)} req/s, p50 ${
            r.latencyMs.p50.toFixed(3)
          } ms, p99 ${r.latencyMs.p99.toFixed(3)} ms, errors ${r.errors}`,
        );
      }
    }
  }
  const spread = (xs: number[], digits: number) => {
    const s = [...xs].sort((a, b) => a - b);
    const f = (v: number) => v.toFixed(digits);
    return `${f(s[Math.floor(s.length / 2)])} (${f(s[0])} - ${f(s[s.length - 1])})`;
  };
  console.log(`\nmedian (min - max) of ${RUNS} runs`);
  console.log("| run | requests/s | p50 ms | p99 ms | errors |");
  console.log("| --- | ---------- | ------ | ------ | ------ |");
  for (const [key, rs] of results) {
    console.log(
      `| ${key} | ${spread(rs.map((r) => r.requestsPerSecond), 0)} | ${
        spread(rs.map((r) => r.latencyMs.p50), 3)
      } | ${spread(rs.map((r) => r.latencyMs.p99), 3)} | ${rs.reduce((n, r) => n + r.errors, 0)} |`,
    );
  }
} finally {
  for (const child of children) {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
  }
  await Deno.remove(dir, { recursive: true });
}

/**
 * Repair of a restarted member at network speed (issue 13): two `herd serve`
 * processes on 127.0.0.1, `Keeper` holding N records (default 200,000) and
 * `Fresh` starting with an empty store, linked to each other. Each run starts
 * Keeper with its records already on disk (Keeper alone has a `data_dir`, so
 * it loads them at start and Fresh persists nothing), then Fresh, and waits
 * until Fresh's log holds one `record.stored` event per record.
 *
 * The figure is the time from Keeper's `sync.start` on its link to Fresh (the
 * link welcomed, anti-entropy opening) to the `@timestamp` of the last record
 * Fresh stored (target: 2 s). Nothing else travels meanwhile: no client
 * writes, so every record Fresh stores came by anti-entropy. Both members log
 * to files as usual (every line in, every reply out).
 *
 * `--fresh-data` gives Fresh a `data_dir` too, as a production member has: it then writes every
 * record to SQLite (about 120 µs each), and the run also counts the links and connections
 * keepalive dropped for silence (`"reason":"timeout"`) and the reconciliations started, which
 * a slow receiver used to inflate (docs/RELIABILITY.md, "Frozen neighbours").
 *
 * Usage:
 *
 * ```sh
 * deno run --allow-run --allow-net=127.0.0.1 --allow-read --allow-write --allow-env \
 *   scripts/repair_time.ts [--runs 5] [--records 200000] [--port 25490] [--fresh-data]
 * ```
 *
 * Loopback only; every process it starts is stopped and its temporary folder
 * (configs, record file, logs) removed before it exits. Not named `*_bench.ts`,
 * so `deno task microbench` does not start it.
 *
 * @module
 */

import { RecordFile } from "../src/herd/persistence.ts";
import { logFilesOldestFirst } from "../src/log.ts";
import { startServe, storedClients } from "./_serve.ts";

/** Value of `--<name> <value>` on the command line, or `fallback`. */
function flag(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 || i + 1 >= Deno.args.length ? fallback : Deno.args[i + 1];
}

const RUNS = Number(flag("runs", "5"));
const N = Number(flag("records", "200000"));
const PORT = Number(flag("port", "25490"));
const FRESH_DATA = Deno.args.includes("--fresh-data");
const KEEPER = "Keeper";
const FRESH = "Fresh";

/** A herd.toml for the pair; `dataDir` only in Keeper's copy. */
function configText(dataDir?: string): string {
  return [
    "[herd]",
    `links = [["${KEEPER}", "${FRESH}"]]`,
    ...(dataDir === undefined ? [] : [`data_dir = "${dataDir}"`]),
    "[places]",
    `provider = "geonames"`,
    "[[servers]]",
    `name = "${KEEPER}"`,
    `port = ${PORT}`,
    "[[servers]]",
    `name = "${FRESH}"`,
    `port = ${PORT + 1}`,
  ].join("\n") + "\n";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Log lines of `name` (every file, oldest first) that contain every one of `needles`. */
async function grepLog(logDir: string, name: string, needles: string[]): Promise<string[]> {
  const files = await logFilesOldestFirst(logDir, name);
  if (files.length === 0) return [];
  const filter = needles.map((n) => `grep -F '${n}'`).join(" | ");
  const out = await new Deno.Command("sh", {
    args: ["-c", `cat "$@" | ${filter}`, "sh", ...files],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  return text === "" ? [] : text.split("\n");
}

/** `@timestamp` of a JSON log line, ms since the epoch. */
const stampOf = (line: string) => Date.parse(JSON.parse(line)["@timestamp"]);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs: number[], digits = 2) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)} - ${
    Math.max(...xs).toFixed(digits)
  })`;

const dir = await Deno.makeTempDir({ prefix: "herd-repair-" });
try {
  console.log(`deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, ${RUNS} runs`);
  const dataDir = `${dir}/data`;
  await Deno.writeTextFile(`${dir}/keeper.toml`, configText(dataDir));
  const freshData = `${dir}/fresh-data`;
  await Deno.writeTextFile(`${dir}/fresh.toml`, configText(FRESH_DATA ? freshData : undefined));
  // Keeper's records, on disk once for every run: distinct clients, as `herd bench` makes them.
  const file = RecordFile.open(dataDir, KEEPER);
  for (let i = 0; i < N; i++) {
    const id = `bench-1234-${i % 4}-${i}`;
    const time = `1764000000.${String(i % 1_000_000).padStart(6, "0")}`;
    file.save(id, `AT ${KEEPER} +0.000123456 ${id} +34.068930-118.445127 ${time}`);
  }
  file.close();

  const repairs: number[] = [];
  const firsts: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const logDir = `${dir}/logs-${run}`;
    const members: Deno.ChildProcess[] = [];
    try {
      members.push(await startServe(KEEPER, `${dir}/keeper.toml`, logDir, PORT));
      members.push(await startServe(FRESH, `${dir}/fresh.toml`, logDir, PORT + 1));
      const deadline = performance.now() + (FRESH_DATA ? 300_000 : 60_000);
      let count = 0;
      while (
        performance.now() < deadline &&
        (count = (await storedClients(logDir, FRESH, "bench-")).count) < N
      ) {
        await sleep(250);
      }
      if (count < N) throw new Error(`${FRESH} stored only ${count} of ${N} records in 60 s`);
      const opened = await grepLog(logDir, KEEPER, [
        '"sync.start"',
        `"peer":"${FRESH}"`,
        '"reason":"link up"',
      ]);
      const stored = await grepLog(logDir, FRESH, ['"record.stored"']);
      const t0 = stampOf(opened[0]);
      const repair = (stampOf(stored[stored.length - 1]) - t0) / 1000;
      const first = (stampOf(stored[0]) - t0) / 1000;
      repairs.push(repair);
      firsts.push(first);
      const timeouts = (await grepLog(logDir, KEEPER, ['"reason":"timeout"'])).length +
        (await grepLog(logDir, FRESH, ['"reason":"timeout"'])).length;
      const syncs = (await grepLog(logDir, KEEPER, ['"sync.start"'])).length;
      console.log(
        `run ${run + 1}: ${N} records in ${repair.toFixed(2)} s from Keeper's sync.start ` +
          `(first after ${first.toFixed(2)} s); keepalive timeouts ${timeouts}, ` +
          `Keeper's sync.start ${syncs}`,
      );
    } finally {
      for (const m of members) m.kill("SIGTERM");
      for (const m of members) await m.status;
      await Deno.remove(logDir, { recursive: true }).catch(() => {});
      await Deno.remove(freshData, { recursive: true }).catch(() => {}); // empty again next run
    }
  }
  console.log(
    `\nrestarted member, empty store, ${N.toLocaleString("en")} records missing ` +
      `(two processes)\n  repair s   ${fmt(repairs)}  (target 2 s; sync.start to the last ` +
      `record stored)\n  first s    ${fmt(firsts)}`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}

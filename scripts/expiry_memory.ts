/**
 * Memory of a member with expiring clients under a steady stream of new
 * clients (issue 14): a one-member herd (`herd serve` in its own process),
 * IAMATs of clients never seen before at a fixed rate over one pipelined
 * connection, client time = now, for a few minutes; the member's resident
 * set size (`VmRSS`) sampled every few seconds. Run once with
 * `record_ttl_s` (the member then holds about rate x TTL clients) and once
 * without (it holds every client sent), and compare. See docs/OPERATIONS.md.
 *
 *     deno run --allow-read --allow-write --allow-run --allow-net=127.0.0.1 --allow-env \
 *       scripts/expiry_memory.ts [--rate 2000] [--seconds 180] [--ttl 10] [--sample 5]
 *
 * Traffic is loopback only and stops by itself after `--seconds` per run.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { formatPosixTime } from "../src/protocol/mod.ts";
import { wallClockNs } from "../src/herd/clock.ts";
import { startServe } from "./_serve.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rate: { type: "string", default: "2000" },
    seconds: { type: "string", default: "180" },
    ttl: { type: "string", default: "10" },
    sample: { type: "string", default: "5" },
  },
});
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const TTL_S = Number(values.ttl);
const SAMPLE_S = Number(values.sample);
/** Writes per second: each carries RATE / TICKS_PER_S lines or so. */
const TICKS_PER_S = 20;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Resident set size of process `pid`, MB (`ps -o rss`, i.e. `VmRSS`). */
async function rssMb(pid: number): Promise<number> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "rss=", "-p", String(pid)],
    stdout: "piped",
  })
    .output();
  return Number(new TextDecoder().decode(out.stdout).trim()) / 1024;
}

/** CPU time process `pid` has used, s (`ps -o times`, whole seconds). */
async function cpuSeconds(pid: number): Promise<number> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "times=", "-p", String(pid)],
    stdout: "piped",
  })
    .output();
  return Number(new TextDecoder().decode(out.stdout).trim());
}

interface Sample {
  s: number;
  rssMb: number;
  sent: number;
  answered: number;
}

/**
 * One run: a member with `record_ttl_s = ttl`, fed new clients for SECONDS, RSS sampled; and
 * how many clients it held when stopped.
 */
async function run(
  ttl: number,
  label: string,
): Promise<{ samples: Sample[]; held: number; cpuS: number }> {
  const dir = await Deno.makeTempDir({ prefix: "herd-expiry-memory-" });
  const port = freePort();
  const config = `${dir}/herd.toml`;
  await Deno.writeTextFile(
    config,
    `[herd]\nrecord_ttl_s = ${ttl}\n[log]\nmax_file_bytes = 16777216\nmax_files = 2\n` +
      `[[servers]]\nname = "Solo"\nhost = "127.0.0.1"\nport = ${port}\n`,
  );
  const member = await startServe("Solo", config, `${dir}/logs`, port);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const samples: Sample[] = [];
  let sent = 0;
  let answered = 0;
  let held = NaN;
  let cpuS = NaN;
  const reading = (async () => {
    const buf = new Uint8Array(256 * 1024);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      for (let i = 0; i < n; i++) if (buf[i] === 0x0a) answered++;
    }
  })().catch(() => {}); // the connection closed under the read: the run is over
  const encoder = new TextEncoder();
  const start = performance.now();
  let nextSample = 0;
  try {
    for (;;) {
      const elapsedS = (performance.now() - start) / 1000;
      if (elapsedS >= nextSample) {
        samples.push({ s: Math.round(elapsedS), rssMb: await rssMb(member.pid), sent, answered });
        nextSample += SAMPLE_S;
      }
      if (elapsedS >= SECONDS) break;
      const due = Math.min(Math.floor(elapsedS * RATE), SECONDS * RATE);
      if (due > sent) {
        const time = formatPosixTime(wallClockNs(), 6);
        let text = "";
        for (; sent < due; sent++) text += `IAMAT ${label}-${sent} +34.068930-118.445127 ${time}\n`;
        await conn.write(encoder.encode(text));
      }
      await new Promise((r) => setTimeout(r, 1000 / TICKS_PER_S));
    }
    conn.closeWrite();
    await reading;
    cpuS = await cpuSeconds(member.pid);
  } finally {
    try {
      conn.close();
    } catch {
      // closed at EOF
    }
    member.kill("SIGTERM");
    await member.status;
    held = await heldAtStop(`${dir}/logs/Solo.log`);
    await Deno.remove(dir, { recursive: true });
  }
  return { samples, held, cpuS };
}

/** The `records` of the member's `member.stopped` event: how many clients it held at the end. */
async function heldAtStop(log: string): Promise<number> {
  const text = await Deno.readTextFile(log).catch(() => "");
  const line = text.split("\n").findLast((l) => l.includes('"member.stopped"'));
  return line === undefined ? NaN : Number(JSON.parse(line).records);
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)];

/** Least-squares slope of RSS over time, MB per minute. */
function slopeMbPerMin(samples: Sample[]): number {
  const n = samples.length;
  const mx = samples.reduce((a, s) => a + s.s, 0) / n;
  const my = samples.reduce((a, s) => a + s.rssMb, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.s - mx) * (s.rssMb - my);
    den += (s.s - mx) ** 2;
  }
  return den === 0 ? 0 : num / den * 60;
}

console.log(
  `one member, ${RATE} new clients/s for ${SECONDS} s, RSS sampled every ${SAMPLE_S} s ` +
    `(Deno ${Deno.version.deno}, ${new Date().toISOString()})`,
);
for (const ttl of [TTL_S, 0]) {
  const { samples, held, cpuS } = await run(ttl, `mem${ttl}`);
  const last = samples.at(-1)!;
  // Steady state: the second half of the run (past the TTL, so the member holds rate x TTL).
  const steady = samples.filter((s) => s.s >= SECONDS / 2);
  const rss = steady.map((s) => s.rssMb);
  console.log(
    `\nrecord_ttl_s = ${ttl}: ${last.sent} IAMATs sent, ${last.answered} answered, ${held} ` +
      `clients held at the end; member CPU ${cpuS} s (${
        (cpuS * 1e6 / last.sent).toFixed(1)
      } µs an IAMAT, start-up included); RSS MB by time:`,
  );
  console.log(samples.map((s) => `${s.s}s ${s.rssMb.toFixed(1)}`).join(", "));
  console.log(
    `second half: median ${median(rss).toFixed(1)} MB (${sorted(rss)[0].toFixed(1)} - ${
      sorted(rss).at(-1)!.toFixed(1)
    }), slope ${slopeMbPerMin(steady).toFixed(2)} MB/min; whole run slope ${
      slopeMbPerMin(samples.filter((s) => s.s > 0)).toFixed(2)
    } MB/min`,
  );
}

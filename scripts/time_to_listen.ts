/**
 * Measures how fast a one-member `herd serve` (places: GeoNames, the default) is ready, and how
 * much memory it holds, over several runs; prints the median and the min-max of each figure.
 *
 * Each run starts two members, one after the other:
 *
 * 1. a busy one, asked as soon as it accepts a connection (one IAMAT, then one WHATSAT for
 *    UCLA, 10 km, 5 places): times from spawn to the first accepted connection and to the IAMAT
 *    reply, from its `member.listening` log event to the IAMAT reply and to the end of the
 *    WHATSAT reply (the log's `@timestamp` and this process's clock, ms; the IAMAT figure is
 *    the part of the WHATSAT one that is not places: a new connection and the first line on a
 *    cold runtime), and its resident memory (VmRSS) 3 s later;
 * 2. an idle one, never asked anything (one connection opened and closed to see it listen): its
 *    VmRSS 3 s after it listens.
 *
 * Loopback only, bounded (each member lives at most 10 s to listen plus 3 s). Linux only (VmRSS
 * comes from /proc/<pid>/status).
 *
 * Usage: deno run --allow-run --allow-net=127.0.0.1 --allow-read --allow-write scripts/time_to_listen.ts [runs]
 *
 * @module
 */

import { serveArgs } from "./_serve.ts";

const runs = Number(Deno.args[0] ?? 5);
/** How long a member is left alone before its memory is read, ms: start-up work is over by then. */
const SETTLE_MS = 3_000;
/** Longest wait for a member to listen or answer, ms. */
const DEADLINE_MS = 10_000;
const IAMAT = "IAMAT ttl.client +34.06893-118.445127 1\n";
const WHATSAT = "WHATSAT ttl.client 10 5\n";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

/**
 * Resident set size of a process, MiB, from /proc/<pid>/status (read with cat: reading /proc
 * directly needs --allow-all).
 */
async function rssMiB(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("cat", { args: [`/proc/${pid}/status`] }).output();
  const status = new TextDecoder().decode(stdout);
  const kiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
  if (!Number.isFinite(kiB)) throw new Error(`Cannot read VmRSS of process ${pid}`);
  return kiB / 1024;
}

/** A `herd serve Solo` child with its own config and log folder. */
interface Member {
  child: Deno.ChildProcess;
  port: number;
  dir: string;
  spawnedAt: number;
}

async function spawnMember(): Promise<Member> {
  const dir = await Deno.makeTempDir({ prefix: "herd-ttl-" });
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/herd.toml`,
    `[herd]\nlinks = []\n[[servers]]\nname = "Solo"\nport = ${port}\n`,
  );
  const spawnedAt = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: serveArgs("Solo", `${dir}/herd.toml`, `${dir}/logs`),
    stdout: "null",
    stderr: "null",
  }).spawn();
  return { child, port, dir, spawnedAt };
}

async function stopMember(member: Member): Promise<void> {
  try {
    member.child.kill("SIGTERM");
  } catch {
    // already gone
  }
  await member.child.status;
  await Deno.remove(member.dir, { recursive: true });
}

/** The first accepted connection, polled every 2 ms until the deadline. */
async function connectWhenListening(member: Member): Promise<Deno.TcpConn> {
  const deadline = member.spawnedAt + DEADLINE_MS;
  while (performance.now() < deadline) {
    try {
      return await Deno.connect({ hostname: "127.0.0.1", port: member.port });
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
  throw new Error(`the member did not listen within ${DEADLINE_MS} ms`);
}

/** Reads until `done(text)` holds; the text read so far. */
async function readUntil(conn: Deno.TcpConn, done: (text: string) => boolean): Promise<string> {
  const decoder = new TextDecoder();
  const buf = new Uint8Array(16_384);
  let text = "";
  while (!done(text)) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`connection closed after ${JSON.stringify(text)}`);
    text += decoder.decode(buf.subarray(0, n), { stream: true });
  }
  return text;
}

/** Wall-clock ms of the member's `member.listening` log event. */
async function listeningAt(member: Member): Promise<number> {
  const log = await Deno.readTextFile(`${member.dir}/logs/Solo.log`);
  for (const line of log.split("\n")) {
    if (!line.includes('"member.listening"')) continue;
    return Date.parse(JSON.parse(line)["@timestamp"]);
  }
  throw new Error("no member.listening event in the log");
}

interface BusyRun {
  listenMs: number;
  iamatMs: number;
  iamatAfterListeningMs: number;
  whatsatAfterListeningMs: number;
  rssAfterAnswerMiB: number;
}

async function busyRun(): Promise<BusyRun> {
  const member = await spawnMember();
  try {
    const conn = await connectWhenListening(member);
    const listenMs = performance.now() - member.spawnedAt;
    await conn.write(new TextEncoder().encode(IAMAT + WHATSAT));
    const first = await readUntil(conn, (text) => text.includes("\n"));
    const iamatMs = performance.now() - member.spawnedAt;
    const iamatRepliedAt = Date.now();
    // The WHATSAT reply (an AT line, then JSON) ends at the first blank line.
    const all = await readUntil(conn, (text) => text.indexOf("\n\n") > first.indexOf("\n"));
    const repliedAt = Date.now();
    conn.close();
    if (!all.includes('"status": "OK"')) throw new Error(`unexpected WHATSAT reply: ${all}`);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const rssAfterAnswerMiB = await rssMiB(member.child.pid);
    const listening = await listeningAt(member);
    return {
      listenMs,
      iamatMs,
      iamatAfterListeningMs: iamatRepliedAt - listening,
      whatsatAfterListeningMs: repliedAt - listening,
      rssAfterAnswerMiB,
    };
  } finally {
    await stopMember(member);
  }
}

async function idleRssMiB(): Promise<number> {
  const member = await spawnMember();
  try {
    (await connectWhenListening(member)).close();
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    return await rssMiB(member.child.pid);
  } finally {
    await stopMember(member);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs: number[], unit: string) =>
  `median ${median(xs).toFixed(0)} ${unit} (min ${Math.min(...xs).toFixed(0)}, max ${
    Math.max(...xs).toFixed(0)
  }) over ${xs.length} runs`;

const busy: BusyRun[] = [];
const idle: number[] = [];
for (let i = 0; i < runs; i++) {
  busy.push(await busyRun());
  idle.push(await idleRssMiB());
}
console.log(`spawn -> listening:                 ${fmt(busy.map((r) => r.listenMs), "ms")}`);
console.log(`spawn -> first IAMAT reply:         ${fmt(busy.map((r) => r.iamatMs), "ms")}`);
console.log(
  `member.listening -> IAMAT reply:    ${fmt(busy.map((r) => r.iamatAfterListeningMs), "ms")}`,
);
console.log(
  `member.listening -> WHATSAT reply:  ${fmt(busy.map((r) => r.whatsatAfterListeningMs), "ms")}`,
);
console.log(`VmRSS idle, ${SETTLE_MS / 1000} s after listening:  ${fmt(idle, "MiB")}`);
console.log(
  `VmRSS ${SETTLE_MS / 1000} s after the WHATSAT reply:  ${
    fmt(busy.map((r) => r.rssAfterAnswerMiB), "MiB")
  }`,
);

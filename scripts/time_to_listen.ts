/**
 * Measures the time from spawning `herd serve` to the first accepted TCP
 * connection and to the first IAMAT reply, over several runs; prints the
 * median and the min-max. Loopback only, bounded (runs x 10 s at most).
 *
 * Usage: deno run --allow-run --allow-net=127.0.0.1 --allow-read --allow-write scripts/time_to_listen.ts [runs]
 *
 * @module
 */

const runs = Number(Deno.args[0] ?? 5);
const main = new URL("../main.ts", import.meta.url).pathname;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

async function once(): Promise<{ listenMs: number; replyMs: number }> {
  const dir = await Deno.makeTempDir({ prefix: "herd-ttl-" });
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/herd.toml`,
    `[herd]\nlinks = []\n[[servers]]\nname = "Solo"\nport = ${port}\n`,
  );
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      main,
      "serve",
      "Solo",
      "--config",
      `${dir}/herd.toml`,
      "--log-dir",
      `${dir}/logs`,
      "--quiet",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  let listenMs = NaN;
  let replyMs = NaN;
  try {
    const deadline = t0 + 10_000;
    while (performance.now() < deadline) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        listenMs = performance.now() - t0;
        await conn.write(new TextEncoder().encode("IAMAT t +0+0 1\n"));
        const buf = new Uint8Array(256);
        await conn.read(buf);
        replyMs = performance.now() - t0;
        conn.close();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 2));
      }
    }
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
  return { listenMs, replyMs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = [];
for (let i = 0; i < runs; i++) results.push(await once());
const listen = results.map((r) => r.listenMs);
const reply = results.map((r) => r.replyMs);
const fmt = (xs: number[]) =>
  `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${
    Math.max(...xs).toFixed(0)
  }) over ${xs.length} runs`;
console.log(`spawn -> listening:        ${fmt(listen)}`);
console.log(`spawn -> first IAMAT reply: ${fmt(reply)}`);

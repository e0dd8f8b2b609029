/**
 * The course graders' way of stopping a server, `lsof -ti:<port> | xargs kill`, against real
 * `herd serve` processes: with peer ports only the member holds sockets on its client port, so
 * it stops that member alone; without them its neighbours' outgoing links hold sockets on that
 * port too, and they would be killed with it.
 *
 * Where `lsof` is missing, the pids holding a socket on a port are read from /proc/net/tcp and
 * /proc/<pid>/fd instead (what lsof reads, by a shell), and killed directly.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  assertUserError,
  finish,
  freePorts,
  runHerd,
  spawnHerd,
  tryExchange,
  withTempDir,
} from "./_cli.ts";

const SECRET = "a-test-secret-of-32-characters!!";
const NAMES = ["Alpha", "Bravo", "Charlie"];
const LOC = "+34.068930-118.445127";

/** Longest wait for members to start, link or stop, ms. */
const LIMIT_MS = 30_000;

/** Whether `lsof` is on this machine (the CI installs it; a bare machine may not have it). */
const LSOF = new Deno.Command("sh", { args: ["-c", "command -v lsof"], stdout: "null" })
  .outputSync().success;

/** A triangle of three members on `ports`, with peer ports when `peerPorts` is given. */
function triangleToml(ports: number[], peerPorts?: number[]): string {
  const lines = [
    "[herd]",
    `links = [["Alpha", "Bravo"], ["Bravo", "Charlie"], ["Alpha", "Charlie"]]`,
    "redial_min_ms = 20",
    "redial_max_ms = 200",
    `secret = "${SECRET}"`,
    "",
  ];
  NAMES.forEach((name, i) => {
    lines.push("[[servers]]", `name = "${name}"`, 'host = "127.0.0.1"', `port = ${ports[i]}`);
    if (peerPorts !== undefined) lines.push(`peer_port = ${peerPorts[i]}`);
    lines.push("");
  });
  return lines.join("\n");
}

/** The pids that hold a TCP socket whose local or remote port is `port`, sorted. */
async function pidsOn(port: number): Promise<number[]> {
  if (LSOF) {
    const out = await new Deno.Command("lsof", { args: [`-ti:${port}`], stdout: "piped" })
      .output();
    return pidList(new TextDecoder().decode(out.stdout));
  }
  // Deno may not read /proc itself without --allow-all; a shell may.
  const out = await new Deno.Command("sh", {
    args: ["-c", PROC_PIDS, "sh", String(port)],
    stdout: "piped",
  }).output();
  return pidList(new TextDecoder().decode(out.stdout));
}

/**
 * Prints the pids holding a TCP socket whose local or remote port is `$1`: the socket inodes of
 * /proc/net/tcp{,6} with that port, then the processes with an fd on one of them.
 */
const PROC_PIDS = `
hex=$(printf ':%04X' "$1")
for inode in $(awk -v p="$hex" 'FNR > 1 && $10 != 0 && (substr($2, length($2) - 4) == p ||
    substr($3, length($3) - 4) == p) { print $10 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
  find /proc/[0-9]*/fd -lname "socket:\\[$inode\\]" 2>/dev/null | cut -d/ -f3
done
`;

function pidList(text: string): number[] {
  return [...new Set(text.split("\n").filter((l) => l !== "").map(Number))].sort((a, b) => a - b);
}

/** Polls `f` every 50 ms until it returns true. */
async function until(f: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = performance.now() + LIMIT_MS;
  while (!(await f())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A started triangle: the children in NAMES order, each exited or not. */
interface Triangle {
  children: Deno.ChildProcess[];
  exited: boolean[];
  outputs: Promise<Deno.CommandOutput>[];
}

function startTriangle(dir: string, config: string): Triangle {
  const children = NAMES.map((n) =>
    spawnHerd(["serve", n, "--config", config, "--log-dir", `${dir}/logs`, "--quiet"], dir)
  );
  const exited = children.map(() => false);
  const outputs = children.map((c, i) => {
    const out = c.output();
    out.then(() => exited[i] = true, () => exited[i] = true);
    return out;
  });
  return { children, exited, outputs };
}

async function stopTriangle(t: Triangle): Promise<void> {
  for (const [i, c] of t.children.entries()) {
    if (t.exited[i]) continue;
    try {
      c.kill("SIGTERM");
    } catch { /* exited meanwhile */ }
  }
  await Promise.all(t.children.map((c, i) => finish(c, LIMIT_MS, t.outputs[i])));
}

/** Waits until every member answers, and a record told to each reaches the other two. */
async function linked(ports: number[], tag: string): Promise<void> {
  for (const [i, port] of ports.entries()) {
    const id = `${tag}-${NAMES[i]}`;
    await until(
      async () => /^AT /.test(await tryExchange(port, `IAMAT ${id} ${LOC} 1700000000\n`)),
      `${NAMES[i]} to answer`,
    );
    for (const other of ports.filter((p) => p !== port)) {
      await until(
        async () => /^AT /.test(await tryExchange(other, `WHATSAT ${id} 1 1\n`)),
        `${id} to reach port ${other}`,
      );
    }
  }
}

Deno.test({
  name: "with peer ports, lsof -ti:<client port> | xargs kill stops that member only",
  async fn() {
    await withTempDir(async (dir) => {
      const [a, b, c, pa, pb, pc] = freePorts(6);
      const [ports, peerPorts] = [[a, b, c], [pa, pb, pc]];
      const config = `${dir}/herd.toml`;
      await Deno.writeTextFile(config, triangleToml(ports, peerPorts));
      const t = startTriangle(dir, config);
      try {
        await linked(ports, "before");
        const pids = t.children.map((child) => child.pid);
        // Bravo's neighbours hold sockets on its peer port (their links), none on its client port.
        await until(
          async () => (await pidsOn(pb)).length === 3,
          "Alpha's and Charlie's links on Bravo's peer port",
        );
        assert.deepEqual(await pidsOn(pb), [...pids].sort((x, y) => x - y));
        assert.deepEqual(await pidsOn(b), [pids[1]]);

        // The graders' command.
        if (LSOF) {
          const kill = await new Deno.Command("sh", {
            args: ["-c", `lsof -ti:${b} | xargs kill`],
          }).output();
          assert.equal(kill.code, 0);
        } else {
          for (const pid of await pidsOn(b)) Deno.kill(pid, "SIGTERM");
        }
        const bravo = await finish(t.children[1], LIMIT_MS, t.outputs[1]);
        assert.equal(bravo.code, 0, `Bravo exits cleanly: ${bravo.stderr}`);
        assert.deepEqual(t.exited, [false, true, false]);

        // Alpha and Charlie keep serving, and a record still flows between them.
        assert.match(await tryExchange(a, `IAMAT after ${LOC} 1700000001\n`), /^AT Alpha /);
        await until(
          async () => /^AT Alpha /.test(await tryExchange(c, "WHATSAT after 1 1\n")),
          "the record from Alpha on Charlie",
        );
        assert.deepEqual(t.exited, [false, true, false]);
      } finally {
        await stopTriangle(t);
      }
    });
  },
});

Deno.test({
  name:
    "without peer ports, neighbours' links hold sockets on a member's port (lsof would list them)",
  async fn() {
    await withTempDir(async (dir) => {
      const ports = freePorts(3);
      const config = `${dir}/herd.toml`;
      await Deno.writeTextFile(config, triangleToml(ports));
      const t = startTriangle(dir, config);
      try {
        await linked(ports, "shared");
        const pids = t.children.map((child) => child.pid).sort((x, y) => x - y);
        // What `lsof -ti:<Bravo's port> | xargs kill` would kill: the whole triangle.
        await until(async () => (await pidsOn(ports[1])).length === 3, "three pids on the port");
        assert.deepEqual(await pidsOn(ports[1]), pids);
      } finally {
        await stopTriangle(t);
      }
    });
  },
});

Deno.test("herd serve names the peer port when it is taken", async () => {
  await withTempDir(async (dir) => {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const [a, b, c, pa, pc] = freePorts(5);
      const config = `${dir}/herd.toml`;
      await Deno.writeTextFile(config, triangleToml([a, b, c], [pa, taken.addr.port, pc]));
      const result = await runHerd(["serve", "Bravo", "--config", config, "--log-dir", dir], dir);
      assertUserError(result, [`127.0.0.1:${taken.addr.port} (peer port)`, "peer_port"]);
      // Its client port was let go.
      Deno.listen({ hostname: "127.0.0.1", port: b }).close();
    } finally {
      taken.close();
    }
  });
});

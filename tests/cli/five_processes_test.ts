/**
 * The "done means" check of the foundation: five separate `herd serve`
 * processes of the default herd's shape, driven by plain TCP clients.
 */

import assert from "node:assert/strict";
import { exchange, OpenClient, waitFor } from "../_harness.ts";
import {
  DEFAULT_NAMES as NAMES,
  defaultHerdToml,
  finish,
  freePorts,
  type HerdResult,
  spawnHerd,
  tryExchange,
  withTempDir,
} from "./_cli.ts";

Deno.test("five herd serve processes flood, answer, route around a stopped member and relink", async () => {
  await withTempDir(async (dir) => {
    const free = freePorts(NAMES.length);
    const ports = new Map(NAMES.map((n, i) => [n, free[i]]));
    await Deno.writeTextFile(`${dir}/herd.toml`, defaultHerdToml(ports));
    const procs = new Map<string, Deno.ChildProcess>();
    const start = (name: string) => {
      const child = spawnHerd(
        ["serve", name, "--config", `${dir}/herd.toml`, "--log-dir", `${dir}/logs`, "--quiet"],
        dir,
      );
      procs.set(name, child);
      return child;
    };
    const stop = async (name: string): Promise<HerdResult> => {
      const child = procs.get(name)!;
      procs.delete(name);
      child.kill("SIGTERM");
      return await finish(child, 10_000);
    };
    try {
      for (const n of NAMES) start(n);
      const port = (n: string) => ports.get(n)!;
      // Every member answers, and its links are up (a probe IAMAT reaches all).
      await waitFor(
        async () => (await tryExchange(port("Jaquez"), "IAMAT probe +0+0 1\n")) !== "",
        10_000,
        "Jaquez up",
      );
      const t = "1700000000.25";
      await waitFor(
        async () => (await tryExchange(port("Campbell"), `IAMAT probe +0+0 ${t}\n`)) !== "",
        10_000,
        "Campbell up",
      );
      await waitFor(
        async () => {
          for (const n of NAMES) {
            if (
              !(await tryExchange(port(n), "WHATSAT probe 1 1\n")).includes(` ${t}\n`)
            ) return false;
          }
          return true;
        },
        30_000,
        "the herd linked",
      );

      // A half-closing client at Campbell; the record reaches every member.
      const at = await exchange(
        { hostname: "127.0.0.1", port: port("Campbell") },
        "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1700000000.5\n",
      );
      assert.match(
        at,
        /^AT Campbell [+-]\d+\.\d{9} kiwi\.cs\.ucla\.edu \+34\.068930-118\.445127 1700000000\.5\n$/,
      );
      await waitFor(
        async () => {
          for (const n of NAMES) {
            const reply = await tryExchange(port(n), "WHATSAT kiwi.cs.ucla.edu 10 2\n");
            if (!reply.startsWith(at)) return false;
          }
          return true;
        },
        10_000,
        "flood to every member",
      );
      const whatsat = await exchange(
        { hostname: "127.0.0.1", port: port("Hill") },
        "WHATSAT kiwi.cs.ucla.edu 10 2\n",
      );
      assert.ok(whatsat.endsWith("}\n\n"));
      assert.equal(JSON.parse(whatsat.slice(at.length, -2)).status, "OK");

      // A client that keeps its connection open at Jaquez.
      const client = await OpenClient.connect({ hostname: "127.0.0.1", port: port("Jaquez") });
      try {
        await client.send("AT Campbell +0.000000001 kiwi.cs.ucla.edu +1+1 9999999999\n");
        assert.equal(
          await client.line(),
          "? AT Campbell +0.000000001 kiwi.cs.ucla.edu +1+1 9999999999",
        );
        await client.send("WHATSAT kiwi.cs.ucla.edu 1 1\n");
        assert.ok((await client.readUntil("}\n\n")).startsWith(at));
      } finally {
        client.close();
      }

      // Stop Singleton: Campbell's update still reaches Jaquez via Smith and Hill.
      const stopped = await stop("Singleton");
      assert.equal(stopped.code, 0, stopped.stderr);
      const moved = await exchange(
        { hostname: "127.0.0.1", port: port("Campbell") },
        "IAMAT kiwi.cs.ucla.edu +34.052235-118.243683 1700000001\n",
      );
      assert.match(moved, /^AT Campbell /);
      await waitFor(
        async () =>
          (await tryExchange(port("Jaquez"), "WHATSAT kiwi.cs.ucla.edu 5 1\n")).startsWith(moved),
        5000,
        "flood around Singleton",
      );

      // Restart Singleton: its neighbours redial, and new updates reach it.
      start("Singleton");
      const later = await exchange(
        { hostname: "127.0.0.1", port: port("Hill") },
        "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1700000002\n",
      );
      assert.match(later, /^AT Hill /);
      await waitFor(
        async () =>
          (await tryExchange(port("Singleton"), "WHATSAT kiwi.cs.ucla.edu 5 1\n")).startsWith(
            later,
          ),
        15_000,
        "Singleton relinked",
      );
    } finally {
      for (const n of [...procs.keys()]) {
        const r = await stop(n);
        assert.equal(r.code, 0, `${n} exits 0 on SIGTERM: ${r.stderr}`);
      }
    }
    for (const n of NAMES) {
      const log = await Deno.readTextFile(`${dir}/logs/${n}.log`);
      assert.match(log, /"event":"member.listening"/, n);
      assert.match(log, /"event":"peer.link.open"/, n);
    }
  });
});

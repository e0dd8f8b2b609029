/**
 * A neighbour frozen with SIGSTOP, end to end: four real `herd serve`
 * processes on 127.0.0.1. The frozen member's kernel still completes TCP
 * handshakes and takes bytes into its buffers, so only keepalive can tell:
 * its neighbour drops the link after `peer_timeout_ms` without a byte (the
 * log's timestamps say so), keeps trying, and floods between the other
 * members go on meanwhile. After SIGCONT the link comes back and the frozen
 * member is repaired.
 */

import assert from "node:assert/strict";
import { startServe } from "../../scripts/_serve.ts";
import { exchange, waitFor } from "../_harness.ts";
import { freePorts, type LogEvent, readLog } from "../cli/_cli.ts";

/** Keepalive timeout of the herd under test, ms: short, so the test is quick. */
const TIMEOUT_MS = 1000;
/** Generous bound on every wait: the machine may be shared and slow. */
const WAIT_MS = 60_000;
/**
 * "Not absurdly later": the drop must come within this of the last bytes, ms. The watcher checks
 * at half and all of the timeout; anything past a few timeouts plus scheduling noise is a bug.
 */
const LATEST_DROP_MS = 10 * TIMEOUT_MS;

const NAMES = ["Hub", "Frozen", "Third", "Fourth"] as const;
const LOC = "+34.068930-118.445127";

/** Hub in the middle: Frozen, Third and Fourth each linked to it only. */
function configText(ports: Map<string, number>): string {
  return [
    "[herd]",
    `links = [["Hub", "Frozen"], ["Hub", "Third"], ["Hub", "Fourth"]]`,
    `peer_timeout_ms = ${TIMEOUT_MS}`,
    "redial_min_ms = 50",
    "redial_max_ms = 500",
    ...NAMES.flatMap((n) => ["[[servers]]", `name = "${n}"`, `port = ${ports.get(n)}`]),
  ].join("\n") + "\n";
}

const stamp = (e: LogEvent) => Date.parse(String(e["@timestamp"]));

Deno.test({
  name:
    "a neighbour stopped with SIGSTOP is dropped after peer_timeout_ms, redialled, and repaired after SIGCONT",
  // Child processes: the test stops them itself, in `finally`.
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "herd_frozen_" });
    const logDir = `${dir}/logs`;
    const free = freePorts(NAMES.length);
    const ports = new Map<string, number>(NAMES.map((n, i) => [n, free[i]]));
    const children = new Map<string, Deno.ChildProcess>();
    const log = (name: string) => readLog(`${logDir}/${name}.log`).catch(() => [] as LogEvent[]);
    const iamat = (name: string, client: string, time: number) =>
      exchange(
        { hostname: "127.0.0.1", port: ports.get(name)! },
        `IAMAT ${client} ${LOC} ${time}\n`,
      );
    const stored = async (name: string, client: string) =>
      (await log(name)).some((e) =>
        e.event === "record.stored" &&
        (e.client === client || (Array.isArray(e.clients) && e.clients.includes(client)))
      );
    try {
      await Deno.writeTextFile(`${dir}/herd.toml`, configText(ports));
      for (const name of NAMES) {
        children.set(name, await startServe(name, `${dir}/herd.toml`, logDir, ports.get(name)!));
      }
      const opened = async (name: string, peer: string) =>
        (await log(name)).filter((e) => e.event === "peer.link.open" && e.peer === peer).length;
      await waitFor(
        async () => (await opened("Hub", "Frozen")) >= 1,
        WAIT_MS,
        "Hub's link to Frozen",
      );
      await waitFor(
        async () => (await opened("Frozen", "Hub")) >= 1,
        WAIT_MS,
        "Frozen's link to Hub",
      );
      for (const n of ["Third", "Fourth"]) {
        await waitFor(async () => (await opened("Hub", n)) >= 1, WAIT_MS, `Hub's link to ${n}`);
        await waitFor(async () => (await opened(n, "Hub")) >= 1, WAIT_MS, `${n}'s link to Hub`);
      }
      await iamat("Third", "before", 1700000001);
      await waitFor(() => stored("Frozen", "before"), WAIT_MS, "Frozen stores before");

      const stoppedAt = Date.now();
      Deno.kill(children.get("Frozen")!.pid, "SIGSTOP");
      // Floods between the others do not wait on the frozen member.
      await iamat("Third", "during", 1700000002);
      await waitFor(() => stored("Fourth", "during"), WAIT_MS, "Fourth stores during");

      // Log stamps are whole ms: a drop stamped before the stop is not this one.
      const timedOut = (e: LogEvent) =>
        e.event === "peer.link.dropped" && e.peer === "Frozen" && e.reason === "timeout" &&
        stamp(e) >= stoppedAt - 1;
      await waitFor(async () => (await log("Hub")).some(timedOut), WAIT_MS, "Hub drops Frozen");
      const hub = await log("Hub");
      const drop = hub.find(timedOut)!;
      assert.ok(Number(drop.silentMs) >= TIMEOUT_MS, `silent ${drop.silentMs} ms`);
      // The last bytes Hub read from Frozen before the drop (on any connection).
      const lastIn = hub.filter((e) =>
        e.event === "msg.in" && e.peer === "Frozen" && stamp(e) <= stamp(drop)
      ).at(-1)!;
      assert.ok(lastIn !== undefined, "Hub heard from Frozen before");
      const gap = stamp(drop) - stamp(lastIn);
      // The log stamps a read when its lines are handled, a hair after the bytes arrived.
      assert.ok(gap >= TIMEOUT_MS - 50, `dropped ${gap} ms after the last bytes`);
      assert.ok(gap <= LATEST_DROP_MS, `dropped ${gap} ms after the last bytes`);
      // Frozen's own link to Hub goes silent too: Hub's side of it is closed.
      await waitFor(
        async () =>
          (await log("Hub")).some((e) =>
            e.event === "conn.close" && e.peer === "Frozen" && e.reason === "timeout"
          ),
        WAIT_MS,
        "Hub closes Frozen's silent connection",
      );
      // Hub keeps trying: the frozen kernel accepts, but no welcome comes within the timeout.
      await waitFor(
        async () =>
          (await log("Hub")).some((e) =>
            e.event === "peer.link.dropped" && e.peer === "Frozen" &&
            e.reason === `no welcome within ${TIMEOUT_MS} ms`
          ),
        WAIT_MS,
        "a redial without a welcome",
      );
      await iamat("Third", "missed", 1700000003);
      await waitFor(() => stored("Fourth", "missed"), WAIT_MS, "Fourth stores missed");

      Deno.kill(children.get("Frozen")!.pid, "SIGCONT");
      await waitFor(async () => (await opened("Hub", "Frozen")) >= 2, WAIT_MS, "the link back");
      await waitFor(() => stored("Frozen", "during"), WAIT_MS, "Frozen repaired: during");
      await waitFor(() => stored("Frozen", "missed"), WAIT_MS, "Frozen repaired: missed");
      const syncs = (await log("Hub")).filter((e) =>
        e.event === "sync.start" && e.peer === "Frozen" && e.reason === "link up"
      );
      assert.ok(syncs.length >= 2, "anti-entropy on the link's return");
    } finally {
      for (const child of children.values()) {
        try {
          Deno.kill(child.pid, "SIGCONT");
          child.kill("SIGKILL");
        } catch {
          // exited already
        }
      }
      for (const child of children.values()) await child.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

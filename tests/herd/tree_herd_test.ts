/**
 * Herds that disseminate by epidemic broadcast tree, over real TCP on
 * 127.0.0.1: the tree forms and carries fewer lines than a flood, a member
 * without trees is flooded, and no update is lost when links are cut
 * mid-stream, a member inside the tree is killed, or a partition heals. The
 * periodic anti-entropy is off: only a link that comes up reconciles, so a
 * record that crosses the herd while no link comes up was carried by the
 * tree (or its repair).
 */

import assert from "node:assert/strict";
import { type HerdConfig, testConfig } from "../../src/config.ts";
import { spanningTree } from "../../src/herd/broadcast_tree.ts";
import type { Member } from "../../src/herd/mod.ts";
import type { MemoryLog } from "../../src/log.ts";
import { FaultHerd } from "../_faults.ts";
import { exchange, TestHerd, waitFor } from "../_harness.ts";
import { noPlaces } from "../_no_places.ts";

const places = noPlaces();

/**
 * Tree dissemination, periodic anti-entropy off. Repairs are quick by default (the fault
 * test); `graftTimeoutMs` long enough that a busy machine never delays a tree copy past it
 * where a test counts repairs.
 */
function treeConfig(base: HerdConfig = testConfig(), graftTimeoutMs = 30): HerdConfig {
  return {
    ...base,
    settings: {
      ...base.settings,
      dissemination: "tree",
      syncIntervalMs: 0,
      lazyPushMs: 20,
      graftTimeoutMs,
    },
  };
}

/** A ring of `n` members with chords: each member linked to the next and to the one 3 on. */
function ringWithChords(n: number, graftTimeoutMs?: number): HerdConfig {
  const base = testConfig();
  const names = Array.from({ length: n }, (_, i) => `R${i}`);
  const links: Array<[string, string]> = [];
  for (let i = 0; i < n; i++) {
    links.push([names[i], names[(i + 1) % n]]);
    if (i % 2 === 0) links.push([names[i], names[(i + 3) % n]]);
  }
  return treeConfig({
    ...base,
    servers: names.map((name) => ({ name, host: "127.0.0.1", port: 0 })),
    links,
  }, graftTimeoutMs);
}

/** Peer lines of each kind the members read: AT (marked or not), IHAVE, GRAFT, PRUNE. */
function peerLines(logs: Iterable<MemoryLog>): Record<string, number> {
  const counts: Record<string, number> = { AT: 0, "AT tree": 0, IHAVE: 0, GRAFT: 0, PRUNE: 0 };
  for (const log of logs) {
    for (const e of log.named("msg.in")) {
      if (e.fields.peer === undefined) continue;
      const lines = Array.isArray(e.fields.lines) ? e.fields.lines : [e.fields.line];
      for (const line of lines as string[]) {
        const verb = line.split(" ", 1)[0];
        const kind = verb === "AT" && line.endsWith(" tree") ? "AT tree" : verb;
        if (kind in counts) counts[kind]++;
      }
    }
  }
  return counts;
}

/** The undirected eager edges of every running member, `A B` with A < B, each once. */
function eagerEdges(members: Iterable<Member>): Set<string> {
  const edges = new Set<string>();
  for (const m of members) {
    if (!m.running) continue;
    for (const peer of m.tree?.eager ?? []) edges.add([m.name, peer].sort().join(" "));
  }
  return edges;
}

function connected(names: string[], edges: Set<string>): boolean {
  const seen = new Set([names[0]]);
  for (let grown = true; grown;) {
    grown = false;
    for (const edge of edges) {
      const [a, b] = edge.split(" ");
      if (seen.has(a) !== seen.has(b)) {
        seen.add(a).add(b);
        grown = true;
      }
    }
  }
  return names.every((n) => seen.has(n));
}

Deno.test("tree herd: every update reaches every member in fewer lines than a flood, over a spanning tree", async () => {
  const config = ringWithChords(10, 60_000);
  const herd = await new TestHerd(config, places).start();
  const names = [...herd.members.keys()];
  try {
    const n = 200;
    for (let i = 0; i < n; i++) {
      const to = names[(i * 7) % names.length];
      await exchange(herd.address(to), `IAMAT c${i} +34.068930-118.445127 ${1700000000 + i}\n`);
    }
    await waitFor(
      () => [...herd.members.values()].every((m) => m.store.size === n),
      10000,
      "every member holds every update",
    );
    const lines = peerLines(herd.logs.values());
    const ats = lines.AT + lines["AT tree"];
    // A flood reads 2E - (N - 1) = 21 AT lines per update on this graph (E = 15, N = 10).
    const flood = 2 * config.links.length - (names.length - 1);
    assert.ok(ats < flood * n * 0.75, `AT lines ${ats} against a flood's ${flood * n}`);
    // The herd started from the spanning tree of herd.toml and kept it: no cycle, no repair.
    const edges = eagerEdges(herd.members.values());
    assert.deepEqual(edges, spanningTree(names, config.links));
    assert.equal(edges.size, names.length - 1);
    assert.ok(connected(names, edges), `eager edges ${[...edges].join(", ")}`);
    assert.deepEqual([lines.PRUNE, lines.GRAFT], [0, 0]);
    // Each eager edge is eager at both ends.
    for (const edge of edges) {
      const [a, b] = edge.split(" ");
      assert.ok(herd.member(a).tree!.eager.includes(b) && herd.member(b).tree!.eager.includes(a));
    }
    // Every peer.link.open says what the neighbour announced.
    for (const log of herd.logs.values()) {
      for (const e of log.named("peer.link.open")) assert.equal(e.fields.dissemination, "tree");
    }
  } finally {
    await herd.stop();
  }
});

Deno.test("tree herd: a member that floods is flooded, sent no tree line, and the herd converges", async () => {
  const base = treeConfig();
  const herd = new TestHerd(base, places);
  // Smith runs the older way: its own config says flood, so it announces nothing.
  const flooding = { ...base, settings: { ...base.settings, dissemination: "flood" as const } };
  const { Member } = await import("../../src/herd/mod.ts");
  const smithLog = herd.logs.get("Smith")!;
  herd.members.set(
    "Smith",
    new Member({
      config: flooding,
      name: "Smith",
      places,
      log: smithLog,
      addresses: herd.addresses,
    }),
  );
  await herd.start();
  try {
    const names = [...herd.members.keys()];
    for (let i = 0; i < 60; i++) {
      await exchange(
        herd.address(names[i % names.length]),
        `IAMAT m${i} +34.068930-118.445127 ${1700000000 + i}\n`,
      );
    }
    await waitFor(
      () => [...herd.members.values()].every((m) => m.store.size === 60),
      10000,
      "every member holds every update",
    );
    assert.equal(herd.member("Smith").tree, null);
    const smith = peerLines([smithLog]);
    assert.deepEqual([smith["AT tree"], smith.IHAVE, smith.GRAFT, smith.PRUNE], [0, 0, 0, 0]);
    assert.ok(smith.AT > 0);
    assert.deepEqual(smithLog.named("peer.invalid"), []);
    for (const peer of ["Campbell", "Hill", "Singleton"]) {
      const link = herd.member(peer).links.get("Smith")!;
      assert.equal(link.tree, false, `${peer}'s link to Smith`);
    }
  } finally {
    await herd.stop();
  }
});

/**
 * How long the fault test waits for every store to converge after each fault, ms. Repairs take
 * well under 2 s even with six copies of the test on two shared cores; the bound is there to
 * tell "lost" (no periodic anti-entropy: a record the tree and its grafts miss never comes)
 * from "slow", not to time the repair, so it is generous for a loaded CI machine. The graft
 * wait's own growth is bounded by a unit test (broadcast_tree_test.ts).
 */
const REPAIR_MS = 30_000;

Deno.test("tree herd: links cut mid-stream, a member inside the tree killed, a partition healed: nothing lost", async () => {
  const herd = new FaultHerd(ringWithChords(8), places);
  try {
    herd.startAll();
    await waitFor(
      () =>
        [...herd.members.values()].every((m) =>
          [...m.links.values()].every((l) => l.state === "welcomed")
        ),
      10000,
      "every link up",
    );
    const names = [...herd.members.keys()];
    let t = 0;
    const burst = async (count: number, to: string[]) => {
      for (let i = 0; i < count; i++) {
        t++;
        await herd.iamat(
          to[t % to.length],
          `k${t % 50}`,
          `1700000000.${String(t).padStart(4, "0")}`,
        );
      }
    };
    await burst(60, names);
    await herd.converged(REPAIR_MS);

    // Links cut while updates stream: some tree links among them.
    const streaming = burst(60, names);
    herd.cut("R0", "R1");
    herd.cut("R4", "R7");
    await streaming;
    await herd.converged(REPAIR_MS);

    // Kill the member with the most tree links, then update elsewhere: its tree
    // neighbours must graft around it (no link comes up, so no anti-entropy runs).
    const inside = names.reduce((best, n) =>
      (herd.member(n).tree!.eager.length > herd.member(best).tree!.eager.length) ? n : best
    );
    const before = herd.member(inside).tree!.eager.length;
    assert.ok(before >= 2, `${inside} has ${before} tree links`);
    await herd.kill(inside);
    const alive = names.filter((n) => n !== inside);
    await burst(60, alive);
    await herd.converged(REPAIR_MS);

    // A partition that cuts R2..R3 off, updates on both sides, then heal.
    herd.healAll();
    herd.cut("R1", "R2");
    herd.cut("R3", "R4");
    herd.cut("R2", "R5");
    herd.cut("R0", "R3");
    await burst(40, alive);
    herd.healAll();
    await herd.converged(REPAIR_MS);
    const grafts = [...herd.members.values()].reduce(
      (sum, m) => sum + (m.tree?.counters.graftsSent ?? 0) + (m.tree?.counters.released ?? 0),
      0,
    );
    assert.ok(grafts > 0, "the tree repaired itself by grafts or held first-hop copies");
  } finally {
    await herd.stop();
  }
});

/**
 * The epidemic broadcast tree's rules, one member at a time: fake links
 * that record what they are handed, a fake clock for lazy pushes, grafts and
 * held first-hop copies.
 */

import assert from "node:assert/strict";
import { defaultConfig } from "../../src/config.ts";
import {
  BroadcastTree,
  PRUNE_HOLD_OFF_FACTOR,
  spanningTree,
  type TreeTarget,
} from "../../src/herd/broadcast_tree.ts";
import { MemoryLog } from "../../src/log.ts";
import { type ClientRecord, formatAt, parseMessage } from "../../src/protocol/mod.ts";
import { fakeTimers } from "./_port.ts";

/** A link that records the lines it is handed, and whether it was flushed. */
class FakeLink implements TreeTarget {
  lines: string[] = [];
  flushes = 0;
  constructor(public tree = true) {}
  send(line: string): void {
    this.lines.push(...line.trimEnd().split("\n"));
  }
  flush(): void {
    this.flushes++;
  }
  take(): string[] {
    return this.lines.splice(0);
  }
}

interface Fixture {
  tree: BroadcastTree;
  links: Map<string, FakeLink>;
  held: Map<string, string>;
  tick(ms: number): void;
  log: MemoryLog;
}

/**
 * Us with neighbours A, B, C (all with trees unless `flood` names them), herd
 * neighbours as given; lazy pushes every 50 ms, grafts after 20 ms.
 */
function fixture(flood: string[] = [], names = ["A", "B", "C"]): Fixture {
  const { clock, timers } = fakeTimers();
  const links = new Map(names.map((n) => [n, new FakeLink(!flood.includes(n))]));
  const held = new Map<string, string>();
  const log = new MemoryLog();
  const tree = new BroadcastTree({
    links,
    neighbours: new Set(names),
    store: {
      entryLine: (id) => held.get(id),
      holds: (line) => [...held.values()].includes(line),
      time: (id) => held.get(id)?.split(" ").at(-1),
    },
    timers,
    lazyPushMs: 50,
    graftTimeoutMs: 20,
    maxLineBytes: 1000,
    log,
  });
  for (const [name, link] of links) tree.linkUp(name, link.tree);
  return { tree, links, held, tick: (ms) => clock.tick(ms), log };
}

function record(origin: string, client = "kiwi", time = "1700000000.5"): ClientRecord {
  const m = parseMessage(`AT ${origin} +0.000100000 ${client} +34.068930-118.445127 ${time}`);
  if (m.kind !== "AT") throw new Error("bad test record");
  return m.record;
}

/** Stores `r` in the fixture's fake store and relays it as the member would. */
function store(f: Fixture, r: ClientRecord, from: string | null, marked: boolean): number {
  f.held.set(r.clientId, formatAt(r));
  return f.tree.relay(r, formatAt(r), from, marked);
}

function taken(f: Fixture): Record<string, string[]> {
  return Object.fromEntries([...f.links].map(([n, l]) => [n, l.take()]));
}

Deno.test("BroadcastTree: a client's record goes unmarked to every neighbour (the first hop)", () => {
  const f = fixture(["C"]);
  const r = record("Us");
  assert.equal(store(f, r, null, false), 3);
  const at = formatAt(r);
  assert.deepEqual(taken(f), { A: [at], B: [at], C: [at] });
});

Deno.test("BroadcastTree: a tree push goes on marked to eager neighbours, never to its sender or origin", () => {
  const f = fixture(["C"], ["A", "B", "C", "D"]);
  const r = record("Far");
  assert.equal(store(f, r, "A", true), 3);
  const at = formatAt(r);
  assert.deepEqual(taken(f), { A: [], B: [`${at} tree`], C: [at], D: [`${at} tree`] });
  // The origin, when a neighbour, gets nothing back.
  const fromOrigin = record("D", "emu");
  f.tree.linkUp("D", true);
  assert.equal(store(f, fromOrigin, "B", true), 2);
  const emu = formatAt(fromOrigin);
  assert.deepEqual(taken(f), { A: [`${emu} tree`], B: [], C: [emu], D: [] });
});

/** How long a link that became eager is exempt from prunes in {@linkcode fixture}, ms. */
const HOLD_OFF_MS = PRUNE_HOLD_OFF_FACTOR * (50 + 20);

Deno.test("BroadcastTree: an exact copy pushed by the tree prunes its sender, who then gets IHAVE lines", () => {
  const f = fixture();
  const r = record("Far");
  store(f, r, "A", true);
  taken(f);
  // Not while the link is new: copies sent before the tree settled are still arriving.
  f.tree.notNewer(r, formatAt(r), "B", true);
  assert.deepEqual(taken(f), { A: [], B: [], C: [] });
  f.tick(HOLD_OFF_MS);
  // The same record again from B, by the tree: B made a cycle.
  f.tree.notNewer(r, formatAt(r), "B", true);
  assert.deepEqual(taken(f), { A: [], B: ["PRUNE"], C: [] });
  assert.deepEqual(f.tree.eager, ["A", "C"]);
  assert.deepEqual(f.tree.lazy, ["B"]);
  assert.equal(f.tree.counters.prunesSent, 1);
  // Not again: B is lazy now; nor for an unmarked copy (a repair) from C.
  f.tree.notNewer(r, formatAt(r), "B", true);
  f.tree.notNewer(r, formatAt(r), "C", false);
  assert.deepEqual(taken(f), { A: [], B: [], C: [] });
  // The next record reaches B as an announcement, gathered over lazy_push_ms.
  const r2 = record("Far", "emu", "1700000001");
  const r3 = record("Far", "owl", "1700000002");
  store(f, r2, "A", true);
  store(f, r3, "A", true);
  assert.deepEqual(f.links.get("B")!.lines, []);
  f.tick(50);
  assert.deepEqual(f.links.get("B")!.take(), ["IHAVE emu 1700000001 owl 1700000002"]);
  assert.equal(f.tree.counters.announcements, 1);
  assert.equal(f.tree.counters.announced, 2);
});

Deno.test("BroadcastTree: copy() acts on a held record's tree push as notNewer() does, read from the line", () => {
  const f = fixture();
  const r = record("Far");
  store(f, r, "A", true);
  taken(f);
  f.tick(HOLD_OFF_MS);
  f.tree.copy("B", formatAt(r));
  assert.deepEqual(taken(f), { A: [], B: ["PRUNE"], C: [] });
  assert.deepEqual(f.log.named("tree.prune").map((e) => e.fields.client), ["kiwi"]);
  // A line that is not an AT line, or is cut short, does nothing.
  f.tree.copy("C", "AT Far");
  f.tree.copy("C", "garbage");
  assert.deepEqual(taken(f), { A: [], B: [], C: [] });
});

Deno.test("BroadcastTree: copies never prune when the origin is a neighbour, or when older", () => {
  const f = fixture([], ["A", "B", "Origin"]);
  f.tick(HOLD_OFF_MS);
  const r = record("Origin");
  store(f, r, "A", true);
  taken(f);
  f.tree.notNewer(r, formatAt(r), "B", true);
  // An older record of the client is no copy of what we hold.
  const old = record("Far", "kiwi", "1600000000");
  f.tree.notNewer(old, formatAt(old), "B", true);
  assert.deepEqual(taken(f), { A: [], B: [], Origin: [] });
  assert.deepEqual(f.tree.eager, ["A", "B", "Origin"]);
});

Deno.test("BroadcastTree: a PRUNE makes the sender lazy; a GRAFT makes it eager and is answered", () => {
  const f = fixture();
  f.tree.receive("B", { kind: "PRUNE" });
  assert.deepEqual(f.tree.lazy, ["B"]);
  const r = record("Far");
  f.held.set(r.clientId, formatAt(r));
  const graft = parseMessage("GRAFT kiwi 1700000000.5 unknown 1");
  assert.ok(graft.kind === "GRAFT");
  f.tree.receive("B", graft);
  assert.deepEqual(f.tree.lazy, []);
  assert.deepEqual(f.tree.eager, ["A", "B", "C"]);
  // The record we hold, unmarked (a repair: its copies never prune); the unknown one skipped.
  assert.deepEqual(f.links.get("B")!.take(), [formatAt(r)]);
  assert.equal(f.links.get("B")!.flushes, 1);
});

Deno.test("BroadcastTree: an announced record that does not come is grafted from each announcer in turn", () => {
  const f = fixture();
  const ihave = parseMessage("IHAVE kiwi 1700000000.5");
  assert.ok(ihave.kind === "IHAVE");
  f.tree.receive("B", { kind: "PRUNE" });
  f.tree.receive("C", { kind: "PRUNE" });
  f.tree.receive("B", ihave);
  f.tree.receive("C", ihave);
  assert.equal(f.tree.missing, 1);
  f.tick(19);
  assert.deepEqual(taken(f), { A: [], B: [], C: [] });
  f.tick(1);
  assert.deepEqual(taken(f), { A: [], B: ["GRAFT kiwi 1700000000.5"], C: [] });
  assert.deepEqual(f.tree.eager, ["A", "B"]);
  f.tick(20);
  assert.deepEqual(taken(f), { A: [], B: [], C: ["GRAFT kiwi 1700000000.5"] });
  assert.equal(f.tree.missing, 0);
  assert.equal(f.tree.counters.graftsSent, 2);
});

Deno.test("BroadcastTree: grafts wait longer while the tree's copies come late after their announcements", () => {
  const f = fixture();
  f.tree.receive("B", { kind: "PRUNE" });
  const ihave = (line: string) => {
    const m = parseMessage(line);
    assert.ok(m.kind === "IHAVE");
    f.tree.receive("B", m);
  };
  // The tree's copy of kiwi comes 15 ms after B announced it: no graft (20 ms), but noted.
  ihave("IHAVE kiwi 1700000000.5");
  f.tick(15);
  store(f, record("Far"), "A", true);
  taken(f);
  // The next wait is 20 + 2 x 15 ms from the announcement.
  const grafts = () => f.links.get("B")!.take().filter((l) => l.startsWith("GRAFT"));
  ihave("IHAVE emu 1");
  f.tick(49);
  assert.deepEqual(grafts(), []);
  f.tick(1);
  assert.deepEqual(grafts(), ["GRAFT emu 1"]);
  // Several records due together: one GRAFT line for the announcer.
  f.tick(5000); // the lateness is all but forgotten (halved each second): 20 ms and a little
  ihave("IHAVE owl 1 bat 2");
  f.tick(19);
  assert.deepEqual(grafts(), []);
  f.tick(2);
  assert.deepEqual(grafts(), ["GRAFT owl 1 bat 2"]);
});

Deno.test("BroadcastTree: a graft's answer does not lengthen the next graft's wait (it came as late as the wait made it)", () => {
  const f = fixture();
  f.tree.receive("B", { kind: "PRUNE" });
  f.tree.receive("C", { kind: "PRUNE" });
  const grafts = () => f.links.get("B")!.take().filter((l) => l.startsWith("GRAFT"));
  // Round after round, B and C announce a record the tree never brings (our tree link is cut):
  // each is grafted from B after graft_timeout_ms (20 ms), kept for C should B not answer, and
  // B's unmarked answer comes 5 ms later. Were the answer's 25 ms counted as the tree's
  // lateness, the waits would run 20, 70, 170, 370, 770 ms... (the lateness halves only every
  // second) and a member cut off from its tree would take longer and longer to repair.
  for (let i = 0; i < 6; i++) {
    const ihave = parseMessage(`IHAVE c${i} ${i + 1}`);
    assert.ok(ihave.kind === "IHAVE");
    f.tree.receive("B", ihave);
    f.tree.receive("C", ihave);
    f.tick(19);
    assert.deepEqual(grafts(), [], `round ${i}: no graft before 20 ms`);
    f.tick(1);
    assert.deepEqual(grafts(), [`GRAFT c${i} ${i + 1}`], `round ${i}: a graft at 20 ms`);
    assert.equal(f.tree.missing, 1, "C is still there to ask");
    f.tick(5);
    store(f, record("Far", `c${i}`, `${i + 1}`), "B", false);
    assert.equal(f.tree.missing, 0);
    f.tick(5);
  }
  assert.deepEqual(f.links.get("C")!.take().filter((l) => l.startsWith("GRAFT")), []);
});

Deno.test("BroadcastTree: a record that arrives, or is held already, needs no graft", () => {
  const f = fixture();
  const r = record("Far");
  const ihave = parseMessage("IHAVE kiwi 1700000000.5");
  assert.ok(ihave.kind === "IHAVE");
  f.tree.receive("B", ihave);
  store(f, r, "A", true);
  taken(f);
  f.tick(100);
  assert.deepEqual(taken(f), { A: [], B: [], C: [] });
  // Held, or a newer record held: nothing is missing.
  f.tree.receive("C", ihave);
  const older = parseMessage("IHAVE kiwi 1600000000");
  assert.ok(older.kind === "IHAVE");
  f.tree.receive("C", older);
  assert.equal(f.tree.missing, 0);
});

Deno.test("BroadcastTree: a first-hop copy over a lazy link waits for the tree's copy, then goes on away from it", () => {
  const f = fixture([], ["A", "B", "C", "Origin"]);
  f.tree.receive("Origin", { kind: "PRUNE" });
  const r = record("Origin");
  assert.equal(store(f, r, "Origin", false), 0);
  assert.deepEqual(taken(f), { A: [], B: [], C: [], Origin: [] });
  // The tree's copy comes from B: relayed to A and C only, marked.
  f.tree.notNewer(r, formatAt(r), "B", true);
  const at = formatAt(r);
  assert.deepEqual(taken(f), { A: [`${at} tree`], B: [], C: [`${at} tree`], Origin: [] });
  f.tick(100);
  assert.deepEqual(taken(f), { A: [], B: [], C: [], Origin: [] });
  assert.equal(f.tree.counters.released, 0);
});

Deno.test("BroadcastTree: a held first-hop copy goes on after graft_timeout_ms if the tree's copy never comes", () => {
  const f = fixture([], ["A", "B", "Origin"]);
  f.tree.receive("Origin", { kind: "PRUNE" });
  const r = record("Origin");
  store(f, r, "Origin", false);
  f.tick(19);
  assert.deepEqual(taken(f), { A: [], B: [], Origin: [] });
  f.tick(1);
  // Cut off from the origin's part of the tree: graft the first hop's link, relay as the tree.
  const at = formatAt(r);
  assert.deepEqual(taken(f), {
    A: [`${at} tree`],
    B: [`${at} tree`],
    Origin: ["GRAFT kiwi 1700000000.5"],
  });
  assert.deepEqual(f.tree.eager, ["A", "B", "Origin"]);
  assert.equal(f.tree.counters.released, 1);
  // A held copy superseded by a newer record meanwhile is dropped.
  f.tree.receive("Origin", { kind: "PRUNE" });
  const old = record("Origin", "emu", "1");
  store(f, old, "Origin", false);
  f.held.set("emu", formatAt(record("Elsewhere", "emu", "2")));
  f.tick(20);
  assert.deepEqual(taken(f), { A: [], B: [], Origin: [] });
});

Deno.test("BroadcastTree: a held first-hop copy waits longer while the tree's copies come late", () => {
  const f = fixture([], ["A", "B", "Origin"]);
  f.tree.receive("Origin", { kind: "PRUNE" });
  // The tree's copy of kiwi comes 15 ms after its first-hop copy.
  const kiwi = record("Origin");
  store(f, kiwi, "Origin", false);
  f.tick(15);
  f.tree.notNewer(kiwi, formatAt(kiwi), "A", true);
  taken(f);
  // So the next held copy waits 20 + 2 x 15 ms before it is relayed without one.
  const emu = record("Origin", "emu", "1");
  store(f, emu, "Origin", false);
  f.tick(49);
  assert.deepEqual(taken(f), { A: [], B: [], Origin: [] });
  f.tick(1);
  const at = formatAt(emu);
  assert.deepEqual(taken(f), { A: [`${at} tree`], B: [`${at} tree`], Origin: ["GRAFT emu 1"] });
});

Deno.test("BroadcastTree: a neighbour without trees is flooded and never sent tree lines", () => {
  const f = fixture(["C"]);
  f.tree.receive("C", { kind: "PRUNE" });
  assert.deepEqual(f.tree.eager, ["A", "B"]);
  const r = record("Far");
  store(f, r, "A", true);
  f.tree.notNewer(r, formatAt(r), "C", true);
  f.tick(100);
  assert.deepEqual(f.links.get("C")!.take(), [formatAt(r)]);
});

Deno.test("BroadcastTree: stop() forgets the tree and cancels pending pushes and grafts", () => {
  const f = fixture();
  f.tree.receive("B", { kind: "PRUNE" });
  store(f, record("Far"), "A", true);
  const ihave = parseMessage("IHAVE emu 1");
  assert.ok(ihave.kind === "IHAVE");
  f.tree.receive("C", ihave);
  taken(f);
  f.tree.stop();
  f.tick(1000);
  assert.deepEqual(taken(f), { A: [], B: [], C: [] });
  assert.deepEqual([f.tree.eager, f.tree.lazy, f.tree.missing], [[], [], 0]);
});

Deno.test("spanningTree() is breadth-first from the most central member, the same on every member", () => {
  const table: Array<[string, string[], Array<[string, string]>, string[]]> = [
    ["one member", ["Solo"], [], []],
    ["a line: rooted in its middle", ["A", "B", "C"], [["A", "B"], ["B", "C"]], ["A B", "B C"]],
    [
      "the default herd",
      defaultConfig().servers.map((s) => s.name),
      defaultConfig().links,
      // Campbell, Singleton and Smith each reach everyone within 2 hops; Campbell sorts first.
      ["Campbell Singleton", "Campbell Smith", "Hill Smith", "Jaquez Singleton"],
    ],
    [
      "a 4-cycle: rooted in A, neighbours in name order",
      ["D", "C", "B", "A"],
      [["A", "B"], ["B", "C"], ["C", "D"], ["D", "A"]],
      ["A B", "A D", "B C"],
    ],
  ];
  for (const [what, names, links, want] of table) {
    assert.deepEqual([...spanningTree(names, links)].sort(), want, what);
    const reversed = [...links].reverse().map(([a, b]) => [b, a] as [string, string]);
    assert.deepEqual([...spanningTree([...names].reverse(), reversed)].sort(), want, what);
  }
});

/**
 * The dashboard's rules (src/http/dashboard/model.ts) as tables: member and
 * link states from what the members answer (issue 12), link rates, the
 * newest of several records, an update's journey, the map's box.
 */

import assert from "node:assert/strict";
import { defaultConfig } from "../../../src/config.ts";
import {
  boxAround,
  type ClientAnswer,
  type HerdReport,
  journeyOf,
  linkRates,
  linkState,
  memberState,
  newerRecord,
  positionOf,
  type RecordView,
  shortNumber,
} from "../../../src/http/dashboard/model.ts";

/** The default herd (herd.toml). */
const NAMES = defaultConfig().servers.map((s) => s.name);
const LINKS = defaultConfig().links;

/** A member's `/v1/herd` whose own links to `peers` are in the given states. */
function report(member: string, peers: Record<string, "up" | "down">, sent = 0): HerdReport {
  return {
    member,
    version: "test",
    uptime_s: 1,
    records: 0,
    lines_per_s: 0,
    members: NAMES.map((name) => ({ name, http: `http://127.0.0.1/${name}` })),
    neighbours: Object.entries(peers).map(([name, state]) => ({
      name,
      state,
      since: "2026-01-01T00:00:00.000Z",
      queued: 0,
      sent_per_s: sent,
      received_per_s: 0,
    })),
    links: LINKS,
  };
}

/** Every member answering, each link up, except the members in `silent` (no answer). */
function herd(silent: string[], linkDown: string[] = []): Map<string, HerdReport | null> {
  const reports = new Map<string, HerdReport | null>();
  for (const name of NAMES) {
    if (silent.includes(name)) {
      reports.set(name, null);
      continue;
    }
    const peers: Record<string, "up" | "down"> = {};
    for (const [a, b] of LINKS) {
      const peer = a === name ? b : b === name ? a : undefined;
      if (peer === undefined) continue;
      peers[peer] = linkDown.includes(peer) ? "down" : "up";
    }
    reports.set(name, report(name, peers));
  }
  return reports;
}

Deno.test("memberState() follows issue 12's rules", async (t) => {
  const cases: Array<[string, Map<string, HerdReport | null>, string, string]> = [
    ["a member that answers is up", herd([]), "Hill", "up"],
    ["up even when its neighbours report its links down", herd([], ["Hill"]), "Hill", "up"],
    [
      "silent, every answering neighbour reports its link down: down",
      herd(["Hill"], ["Hill"]),
      "Hill",
      "down",
    ],
    [
      "silent, one answering neighbour still reports it up: unreachable",
      (() => {
        const r = herd(["Hill"], ["Hill"]);
        r.set("Smith", report("Smith", { Hill: "up", Singleton: "up", Campbell: "up" }));
        return r;
      })(),
      "Hill",
      "unreachable",
    ],
    [
      "silent, every neighbour reports it up (only the page cannot reach it): unreachable",
      herd(["Hill"]),
      "Hill",
      "unreachable",
    ],
    [
      "silent, and no neighbour answers: unreachable",
      herd(["Hill", "Jaquez", "Smith"], ["Hill"]),
      "Hill",
      "unreachable",
    ],
    [
      "silent, one neighbour silent and the other reports it down: down",
      herd(["Hill", "Jaquez"], ["Hill"]),
      "Hill",
      "down",
    ],
    ["no report at all (missing from the map): unreachable", new Map(), "Hill", "unreachable"],
  ];
  for (const [name, reports, member, want] of cases) {
    await t.step(name, () => assert.equal(memberState(member, LINKS, reports), want));
  }
});

Deno.test("memberState() ignores a neighbour's answer that does not list the link", () => {
  const reports = herd(["Hill"], ["Hill"]);
  // Jaquez answers without the link to Hill (another herd.toml): it says nothing about Hill.
  reports.set("Jaquez", report("Jaquez", { Singleton: "up" }));
  assert.equal(memberState("Hill", LINKS, reports), "down");
  reports.set("Smith", report("Smith", { Singleton: "up", Campbell: "up" }));
  assert.equal(memberState("Hill", LINKS, reports), "unreachable");
});

Deno.test("linkState() is up only when both ends report their dialled link up", async (t) => {
  const cases: Array<[string, Map<string, HerdReport | null>, string]> = [
    ["both up", herd([]), "up"],
    [
      "one end reports it down",
      (() => {
        const r = herd([]);
        r.set("Hill", report("Hill", { Jaquez: "down", Smith: "up" }));
        return r;
      })(),
      "down",
    ],
    ["one end silent, the other up", herd(["Jaquez"]), "down"],
    ["both silent", herd(["Hill", "Jaquez"]), "down"],
  ];
  for (const [name, reports, want] of cases) {
    await t.step(name, () => assert.equal(linkState(["Hill", "Jaquez"], reports), want));
  }
});

Deno.test("linkRates() takes each end's sent rate, null for a silent end", () => {
  const reports = new Map<string, HerdReport | null>([
    ["Hill", report("Hill", { Jaquez: "up" }, 2.5)],
    ["Jaquez", null],
  ]);
  assert.deepEqual(linkRates(["Hill", "Jaquez"], reports), { ab: 2.5, ba: null });
  assert.deepEqual(linkRates(["Jaquez", "Hill"], reports), { ab: null, ba: 2.5 });
});

/** A record as the API shows it. */
function rec(
  server: string,
  location: string,
  time: string,
  storedAt?: number | null,
  client = "kiwi",
): RecordView {
  const skew = "+0.000100000";
  return {
    server,
    skew,
    client,
    location,
    time,
    at: `AT ${server} ${skew} ${client} ${location} ${time}`,
    ...(storedAt === undefined ? {} : { stored_at: storedAt }),
  };
}

Deno.test("newerRecord() is the protocol's last-writer-wins order", async (t) => {
  const cases: Array<[string, RecordView, RecordView | undefined, boolean]> = [
    ["anything beats nothing", rec("Hill", "+1+1", "5"), undefined, true],
    ["a later client time wins", rec("Hill", "+1+1", "10"), rec("Smith", "+9+9", "9.5"), true],
    ["an earlier one loses", rec("Hill", "+1+1", "9"), rec("Smith", "+1+1", "9.5"), false],
    ["exact decimals: 9.10 < 9.9", rec("Hill", "+1+1", "9.10"), rec("Hill", "+1+1", "9.9"), false],
    ["equal times: the greater location wins", rec("A", "+2+2", "1"), rec("A", "+1+1", "1"), true],
    [
      "the same record does not replace itself",
      rec("A", "+1+1", "1"),
      rec("A", "+1+1", "1"),
      false,
    ],
    [
      "a record that does not parse never wins",
      rec("A", "nowhere", "9"),
      rec("A", "+1+1", "1"),
      false,
    ],
    ["but beats one that does not parse", rec("A", "+1+1", "1"), rec("A", "nowhere", "9"), true],
  ];
  for (const [name, candidate, current, want] of cases) {
    await t.step(name, () => assert.equal(newerRecord(candidate, current), want));
  }
});

Deno.test("positionOf() parses ISO 6709, undefined otherwise", () => {
  assert.deepEqual(positionOf(rec("A", "+34.068930-118.445127", "1")), {
    lat: 34.06893,
    lng: -118.445127,
  });
  assert.equal(positionOf(rec("A", "+91+0", "1")), undefined);
  assert.equal(positionOf(rec("A", "34,-118", "1")), undefined);
});

Deno.test("journeyOf() places members by stored_at after the first, with likely senders", () => {
  const update = (at: number) => ({ kind: "record", record: rec("Campbell", "+1+1", "7", at) });
  const answers = new Map<string, ClientAnswer>([
    ["Campbell", update(1000)],
    ["Smith", update(1000.5)],
    ["Singleton", update(1000.75)],
    ["Hill", update(1001.25)],
    ["Jaquez", { kind: "record", record: rec("Campbell", "+1+1", "6", 900) }],
  ] as Array<[string, ClientAnswer]>);
  const j = journeyOf(answers, LINKS);
  assert.equal(j.record?.time, "7");
  assert.equal(j.first, "Campbell");
  assert.deepEqual(j.steps.get("Campbell"), { state: "stored", ms: 0 });
  assert.deepEqual(j.steps.get("Smith"), { state: "stored", ms: 0.5, from: "Campbell" });
  // Singleton neighbours Campbell (1000) and Smith (1000.5): the earliest is the likely sender.
  assert.deepEqual(j.steps.get("Singleton"), { state: "stored", ms: 0.75, from: "Campbell" });
  assert.deepEqual(j.steps.get("Hill"), { state: "stored", ms: 1.25, from: "Smith" });
  assert.deepEqual(j.steps.get("Jaquez"), { state: "older" });
});

Deno.test("journeyOf() takes the newest record as the update, and says what others hold", () => {
  const answers = new Map<string, ClientAnswer>([
    ["Campbell", { kind: "record", record: rec("Campbell", "+1+1", "7", 10) }],
    ["Hill", { kind: "record", record: rec("Hill", "+2+2", "8", 20) }],
    ["Smith", { kind: "none" }],
    ["Jaquez", { kind: "failed" }],
    ["Singleton", { kind: "record", record: rec("Hill", "+2+2", "8", null) }],
  ]);
  const j = journeyOf(answers, LINKS);
  assert.equal(j.record?.server, "Hill");
  assert.equal(j.first, "Hill");
  assert.deepEqual(j.steps.get("Hill"), { state: "stored", ms: 0 });
  assert.deepEqual(j.steps.get("Campbell"), { state: "older" });
  assert.deepEqual(j.steps.get("Smith"), { state: "none" });
  assert.deepEqual(j.steps.get("Jaquez"), { state: "unknown" });
  // Stored before its HTTP face started: it holds the update, when is unknown.
  assert.deepEqual(j.steps.get("Singleton"), { state: "stored" });
});

Deno.test("journeyOf() with no record anywhere has no update and no first", () => {
  const j = journeyOf(new Map([["Hill", { kind: "none" }]]), LINKS);
  assert.equal(j.record, undefined);
  assert.equal(j.first, undefined);
  assert.deepEqual(j.steps.get("Hill"), { state: "none" });
});

Deno.test("boxAround() widens to a minimum span and a margin, within -85..85", () => {
  assert.equal(boxAround([]), undefined);
  const one = boxAround([{ lat: 34, lng: -118 }])!;
  assert.ok(Math.abs(one.east - one.west - 0.06) < 1e-9, JSON.stringify(one));
  assert.ok(Math.abs(one.north - one.south - 0.06) < 1e-9, JSON.stringify(one));
  const wider = boxAround([{ lat: 34, lng: -118 }], 2)!;
  assert.ok(Math.abs(wider.east - wider.west - 2.4) < 1e-9, JSON.stringify(wider));
  assert.ok(one.west < -118 && one.east > -118 && one.south < 34 && one.north > 34);
  const wide = boxAround([{ lat: -80, lng: -170 }, { lat: 84, lng: 170 }])!;
  assert.deepEqual(wide, { west: -180, south: -85, east: 180, north: 85 });
});

Deno.test("shortNumber() shows at most one decimal, - for nothing", () => {
  const cases: Array<[number | null | undefined, string]> = [
    [12, "12"],
    [3.25, "3.3"],
    [0, "0"],
    [null, "-"],
    [undefined, "-"],
    [NaN, "-"],
  ];
  for (const [n, want] of cases) assert.equal(shortNumber(n), want);
});

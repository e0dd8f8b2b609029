import assert from "node:assert/strict";
import { herdOf, parseScaleArgs, runOnce, Tally } from "../../scripts/scale_bench.ts";

Deno.test("scale_bench Tally counts AT, IHAVE and GRAFT lines naming updates, each line once too", async (t) => {
  // [peer lines read, AT, IHAVE namings, IHAVE lines, GRAFT namings, lines naming updates, PRUNE]
  const cases: Array<[string[], number, number, number, number, number, number]> = [
    [["AT Hill +0.1 u-0 +34.068930-118.445127 1700000000.1"], 1, 0, 0, 0, 1, 0],
    [["AT Hill +0.1 u-1 +34.068930-118.445127 1700000000.1 tree"], 1, 0, 0, 0, 1, 0],
    [["AT Hill +0.1 other +34.068930-118.445127 1700000000.1"], 0, 0, 0, 0, 0, 0],
    [["IHAVE u-0 1700000000.1 u-1 1700000000.2 other 1.5"], 0, 2, 1, 0, 1, 0],
    [["IHAVE other 1.5"], 0, 0, 0, 0, 0, 0],
    [["GRAFT u-2 1700000000.3"], 0, 0, 0, 1, 1, 0],
    [["PRUNE", "DIGEST - 3 abc", "WANT 0", "HAVE 01", "ASK 2"], 0, 0, 0, 0, 0, 1],
    [["AT Hill +0.1 u-0 x 1", "IHAVE u-0 1 u-1 2", "GRAFT u-1 2 u-2 3"], 1, 2, 1, 2, 3, 0],
  ];
  for (const [lines, at, ihave, ihaveLines, graft, counted, prune] of cases) {
    await t.step(lines.join(" / "), () => {
      // The same lines logged one event per line, and as one chunk's `lines`.
      for (const chunked of [false, true]) {
        const tally = new Tally(2, 3);
        for (let i = 0; i < 3; i++) tally.index.set(`u-${i}`, i);
        const log = tally.logOf(1);
        if (chunked) log.emit("info", "msg.in", { conn: 1, peer: "Hill", lines } as never);
        else for (const line of lines) log.emit("info", "msg.in", { conn: 1, peer: "Hill", line });
        // A client's line (no peer) is never a message between members.
        log.emit("info", "msg.in", { conn: 2, line: lines[0] });
        assert.deepEqual(
          [tally.at, tally.ihave, tally.ihaveLines, tally.graft, tally.lines, tally.prune],
          [at, ihave, ihaveLines, graft, counted, prune],
        );
      }
    });
  }
});

Deno.test("scale_bench Tally takes a stored record's first time, one client or a batch", () => {
  const tally = new Tally(2, 3);
  for (let i = 0; i < 3; i++) tally.index.set(`u-${i}`, i);
  const log = tally.logOf(1);
  log.emit("debug", "record.stored", { peer: "Hill", client: "u-0", forwardedTo: 2 });
  log.emit("debug", "record.stored", { peer: "Hill", clients: ["u-1", "u-2", "x"] } as never);
  const first = [tally.storedMs[0 * 2 + 1], tally.storedMs[1 * 2 + 1], tally.storedMs[2 * 2 + 1]];
  assert.ok(first.every((t) => t > 0), `stored times ${first}`);
  log.emit("debug", "record.stored", { peer: "Smith", client: "u-0", forwardedTo: 2 });
  assert.equal(tally.storedMs[1], first[0], "a second copy does not move the time");
  assert.equal(tally.storedMs[0], 0, "member 0 stored nothing");
});

Deno.test("scale_bench runOnce(): flooding the default herd reads 2E-(N-1) AT lines per update and loses none", async () => {
  const opts = parseScaleArgs(["--updates", "30", "--rate", "300", "--settle-ms", "20000"]);
  const r = await runOnce(5, "flood", false, opts, 0);
  const config = herdOf(5, opts);
  assert.equal(r.members, 5);
  assert.equal(r.links, config.links.length);
  assert.equal(r.floodLines, 2 * 6 - 4);
  // Each member sends each update on every link but the one it came on: 8 lines, exactly.
  assert.equal(r.atPerUpdate, 8);
  assert.equal(r.messagesPerUpdate, 8);
  assert.equal(r.lost, 0);
  assert.equal(r.unconverged, 0);
  assert.ok(
    r.convergenceMs.p50 <= r.convergenceMs.p99 && r.convergenceMs.p99 <= r.convergenceMs.max,
  );
  assert.ok(r.cpuUsPerUpdate > 0);
});

Deno.test("scale_bench runOnce(): with the most connected member stopped, the others still get every update", async () => {
  const opts = parseScaleArgs(["--updates", "30", "--rate", "300", "--failure-sync-ms", "500"]);
  const r = await runOnce(20, "flood", true, opts, 0);
  assert.equal(r.scenario, "failure");
  assert.ok(r.stopped !== null && r.remainingConnected);
  assert.equal(r.lost, 0);
  assert.ok(r.lostWithStopped <= 10, "at most what the stopped member alone was sent");
  assert.ok(r.unconverged <= r.lostWithStopped, `${r.unconverged} never arrived everywhere`);
});

Deno.test("parseScaleArgs() reads the flags and refuses nonsense", () => {
  const o = parseScaleArgs([
    "--sizes",
    "5,100",
    "--dissemination",
    "tree",
    "--json",
    "--no-failure",
  ]);
  assert.deepEqual([o.sizes, o.disseminations, o.json, o.failure, o.rate, o.updates], [
    [5, 100],
    ["tree"],
    true,
    false,
    100,
    1000,
  ]);
  assert.throws(() => parseScaleArgs(["--sizes", "5,x"]), RangeError);
  assert.throws(() => parseScaleArgs(["--dissemination", "gossip"]), RangeError);
  assert.throws(() => parseScaleArgs(["--rate", "0"]), RangeError);
});

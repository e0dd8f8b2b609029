/**
 * Nothing lost under faults: members killed and restarted empty, links cut
 * and healed, on the default herd, a ring of 10 and a line of 20. Every test
 * ends by checking that every store holds exactly the newest record of every
 * client the test reported.
 */

import assert from "node:assert/strict";
import { type HerdConfig, testConfig } from "../../src/config.ts";
import { FaultHerd } from "../_faults.ts";
import { waitFor } from "../_harness.ts";
import { noPlaces } from "../_no_places.ts";

// No test here asks WHATSAT: members need no GeoNames data.
const places = noPlaces();

function herdOf(names: string[], links: Array<[string, string]>): HerdConfig {
  const base = testConfig();
  return {
    ...base,
    servers: names.map((name) => ({ name, host: "127.0.0.1", port: 0 })),
    links,
    // The periodic run is off: these tests prove reconciliation on link up alone.
    settings: { ...base.settings, syncIntervalMs: 0 },
  };
}

function ring(n: number): HerdConfig {
  const names = Array.from({ length: n }, (_, i) => `R${i}`);
  return herdOf(names, names.map((name, i) => [name, names[(i + 1) % n]]));
}

function line(n: number): HerdConfig {
  const names = Array.from({ length: n }, (_, i) => `L${i}`);
  return herdOf(names, names.slice(1).map((name, i) => [names[i], name]));
}

async function withFaultHerd(config: HerdConfig, body: (h: FaultHerd) => Promise<void>) {
  const herd = new FaultHerd(config, places);
  try {
    herd.startAll();
    await body(herd);
  } finally {
    await herd.stop();
  }
}

Deno.test("default herd: two members killed, updates elsewhere, both restarted empty, all converge", async () => {
  const config = { ...testConfig(), settings: { ...testConfig().settings, syncIntervalMs: 0 } };
  await withFaultHerd(config, async (herd) => {
    for (let i = 0; i < 20; i++) await herd.iamat("Campbell", `c${i}`, `1700000000.${i}`);
    await herd.converged();
    await herd.kill("Hill");
    await herd.kill("Jaquez");
    for (let i = 10; i < 30; i++) await herd.iamat("Smith", `c${i}`, `1700000100.${i}`);
    assert.equal(herd.member("Hill").store.get("c25"), undefined);
    herd.restartEmpty("Hill");
    herd.restartEmpty("Jaquez");
    assert.equal(herd.member("Hill").store.size, 0);
    await herd.converged();
    assert.equal(herd.member("Jaquez").store.size, 30);
  });
});

Deno.test("ring of 10: a partition with updates on both sides heals to the newest records", async () => {
  await withFaultHerd(ring(10), async (herd) => {
    for (let i = 0; i < 10; i++) await herd.iamat(`R${i}`, `k${i}`, "1700000000");
    await herd.converged();
    // Cut R0-R1 and R5-R6: {R1..R5} and {R6..R9, R0} cannot reach each other.
    herd.cut("R0", "R1");
    herd.cut("R5", "R6");
    for (let i = 0; i < 10; i++) {
      await herd.iamat("R3", `k${i}`, `1700000001.${i}`, "+10+010"); // side A
      await herd.iamat("R8", `k${i}`, `1700000001.${9 - i}`, "+20+020"); // side B
      await herd.iamat(i % 2 ? "R2" : "R7", `new${i}`, "1700000002");
    }
    assert.notEqual(herd.lagging().length, 0, "the partition should hide updates");
    herd.healAll();
    await herd.converged();
  });
});

Deno.test("line of 20: middle members killed, both ends updated, restarted empty, all converge", async () => {
  await withFaultHerd(line(20), async (herd) => {
    await herd.iamat("L0", "left", "1700000000");
    await herd.iamat("L19", "right", "1700000000");
    await herd.iamat("L5", "stable", "1700000000"); // never updated: only reconciliation restores it
    await herd.converged(15000);
    await herd.kill("L9");
    await herd.kill("L10");
    await herd.iamat("L0", "left", "1700000005");
    await herd.iamat("L19", "right", "1700000005");
    await herd.iamat("L19", "left", "1700000004"); // older than L0's: must lose everywhere
    await herd.iamat("L3", "only-left", "1700000006");
    herd.restartEmpty("L10");
    herd.restartEmpty("L9");
    await herd.converged(15000);
    assert.equal(herd.member("L19").store.get("left")?.origin, "L0");
  });
});

Deno.test("a member restarted empty while its neighbours' links were also cut recovers once healed", async () => {
  await withFaultHerd(ring(4), async (herd) => {
    for (let i = 0; i < 50; i++) await herd.iamat(`R${i % 4}`, `m${i}`, `1700000000.${i}`);
    await herd.converged();
    await herd.kill("R2");
    herd.cut("R1", "R2");
    herd.cut("R2", "R3");
    const redials = (name: string, peer: string) =>
      herd.logs.get(name)!.named("peer.link.redial").filter((e) => e.fields.peer === peer).length;
    const before = { R1: redials("R1", "R2"), R3: redials("R3", "R2") };
    herd.restartEmpty("R2");
    await herd.iamat("R2", "isolated", "1700000009");
    // Every way a record could reach R2 has been tried and refused: R2 gave up a dial to each
    // neighbour, and each neighbour a dial to R2 that began after the restart (the second
    // redial event since then closes such an attempt).
    await waitFor(
      () =>
        redials("R2", "R1") >= 1 && redials("R2", "R3") >= 1 &&
        redials("R1", "R2") >= before.R1 + 2 && redials("R3", "R2") >= before.R3 + 2,
      5000,
      "every link of R2 tried while cut",
    );
    assert.equal(herd.member("R2").store.size, 1);
    herd.healAll();
    await herd.converged();
  });
});

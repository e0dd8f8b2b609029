/**
 * Erasure under faults, over real TCP with a relay per directed link (tests/_faults.ts) and no
 * periodic anti-entropy, so that only a link coming back up repairs: a member cut off during
 * the erasure learns of it after the heal, and one that kept the older record does not bring
 * it back; the tombstone survives restarts with data_dir.
 */

import assert from "node:assert/strict";
import { type HerdConfig, testConfig } from "../../src/config.ts";
import type { LineSource } from "../../src/herd/mod.ts";
import { parseMessage } from "../../src/protocol/mod.ts";
import { FaultHerd } from "../_faults.ts";
import { exchange, waitFor } from "../_harness.ts";
import { noPlaces } from "../_no_places.ts";

const places = noPlaces();

const SOURCE: LineSource = { id: 1, remote: "test", remoteHost: "127.0.0.1", via: "test" };

/** The default herd without periodic anti-entropy: links coming up are the only repair. */
function config(dataDir?: string): HerdConfig {
  const base = testConfig();
  return { ...base, settings: { ...base.settings, syncIntervalMs: 0, dataDir } };
}

/** Erases `client` on member `name` and makes its tombstone part of the expected state. */
function erase(herd: FaultHerd, name: string, client: string): string {
  const { line, stored } = herd.member(name).erase(SOURCE, client);
  assert.equal(stored, true);
  const msg = parseMessage(line);
  if (msg.kind !== "ERASE") throw new Error(`not an ERASE line: ${line}`);
  herd.expected.apply(msg.tombstone);
  return line;
}

async function withFaultHerd(cfg: HerdConfig, body: (h: FaultHerd) => Promise<void>) {
  const herd = new FaultHerd(cfg, places);
  try {
    herd.startAll();
    await body(herd);
  } finally {
    await herd.stop();
  }
}

Deno.test("erasure across a partition: the cut-off member learns it at the heal, and its older record does not come back", async () => {
  await withFaultHerd(config(), async (herd) => {
    for (const c of ["kiwi", "emu", "moa"]) await herd.iamat("Campbell", c, "1700000000.5");
    await herd.converged();
    // Jaquez talks with Hill and Singleton only: cut both, and it is alone.
    herd.cut("Jaquez", "Hill");
    herd.cut("Jaquez", "Singleton");
    const line = erase(herd, "Smith", "kiwi");
    await waitFor(
      () => herd.lagging().join() === "Jaquez",
      5000,
      "every member but Jaquez erased kiwi",
    );
    // Jaquez still answers with the record it holds; so must it not, once healed.
    const before = await exchange(herd.real.get("Jaquez")!, "WHATSAT kiwi 10 5\n");
    assert.match(before, /^AT Campbell /);
    // Meanwhile Jaquez takes an update of another client: the heal must carry both ways.
    await herd.iamat("Jaquez", "moa", "1700000001");
    herd.healAll();
    await herd.converged();
    for (const [name, m] of herd.members) {
      assert.equal(m.store.get("kiwi"), undefined, name);
      assert.equal(m.store.entryLine("kiwi"), line, name);
      assert.equal(m.store.get("moa")?.clientTimeText, "1700000001", name);
      const reply = await exchange(herd.real.get(name)!, "WHATSAT kiwi 10 5\n");
      assert.equal(reply, "? WHATSAT kiwi 10 5\n", name);
    }
  });
});

Deno.test("erasure on both sides of a partition and a newer IAMAT on one: the newest entry wins everywhere after the heal", async () => {
  await withFaultHerd(config(), async (herd) => {
    await herd.iamat("Campbell", "kiwi", "1700000000.5");
    await herd.converged();
    herd.cut("Jaquez", "Hill");
    herd.cut("Jaquez", "Singleton");
    // Erased on the big side; on Jaquez's side the client reports again after the erasure.
    const line = erase(herd, "Hill", "kiwi");
    const time = line.split(" ").at(-1)!;
    const later = `${BigInt(time.split(".")[0]) + 5n}`;
    await herd.iamat("Jaquez", "kiwi", later, "+10+010");
    herd.healAll();
    await herd.converged();
    for (const [name, m] of herd.members) {
      assert.equal(m.store.get("kiwi")?.location.text, "+10+010", name);
      assert.equal(m.store.tombstones, 0, name);
    }
  });
});

Deno.test("a tombstone survives a restart with data_dir, and a member restarted with the older record learns it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await withFaultHerd(config(dir), async (herd) => {
      await herd.iamat("Campbell", "kiwi", "1700000000.5");
      await herd.iamat("Campbell", "emu", "1700000000.5");
      await herd.converged();
      // Hill goes down holding kiwi's record; kiwi is erased while it is away.
      await herd.kill("Hill");
      const line = erase(herd, "Campbell", "kiwi");
      await waitFor(
        () =>
          [...herd.members].every(([n, m]) => n === "Hill" || m.store.entryLine("kiwi") === line),
        5000,
        "the erasure on every running member",
      );
      // Every member restarts from its file: Hill's still holds the record, the others the
      // tombstone; once linked, the tombstone wins everywhere.
      for (const name of herd.members.keys()) if (name !== "Hill") await herd.kill(name);
      for (const name of [...herd.members.keys()]) herd.restartEmpty(name);
      for (const [name, m] of herd.members) {
        if (name === "Hill") continue;
        assert.equal(m.store.get("kiwi"), undefined, `${name} right after its restart`);
        assert.equal(m.store.entryLine("kiwi"), line, name);
      }
      await herd.converged();
      for (const [name, m] of herd.members) {
        assert.equal(m.store.get("kiwi"), undefined, name);
        assert.equal(m.store.get("emu")?.clientTimeText, "1700000000.5", name);
      }
      // And Hill's file now holds the tombstone too.
      await herd.kill("Hill");
      herd.restartEmpty("Hill");
      assert.equal(herd.member("Hill").store.entryLine("kiwi"), line);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { type HerdConfig, testConfig } from "../../src/config.ts";
import { Member, RecordFile } from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { formatAt } from "../../src/protocol/mod.ts";
import { exchange, TestHerd, waitFor } from "../_harness.ts";
import { noPlaces } from "../_no_places.ts";

// The one WHATSAT here checks only the AT line: members need no GeoNames data.
const places = noPlaces();

function withDataDir(dir: string): HerdConfig {
  const base = testConfig();
  return { ...base, settings: { ...base.settings, dataDir: dir } };
}

Deno.test("with data_dir, a restart of every member loses no acknowledged record", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herd-data-" });
  try {
    const config = withDataDir(dir);
    const first = new TestHerd(config, places);
    await first.start();
    const replies: string[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const name = config.servers[i % 5].name;
        replies.push(
          (await exchange(first.address(name), `IAMAT p${i} +34-118 170000000${i}\n`)).trim(),
        );
      }
      await waitFor(() => [...first.members.values()].every((m) => m.store.size === 10), 5000);
    } finally {
      await first.stop();
    }
    // Whole herd down; new member objects (empty stores) over the same files.
    const second = new TestHerd(config, places);
    try {
      for (const m of second.members.values()) assert.equal(m.store.size, 0);
      await second.start();
      for (const m of second.members.values()) {
        assert.deepEqual([...m.store.records()].map(formatAt).sort(), [...replies].sort());
      }
      const log = second.logs.get("Hill")!.named("member.loaded");
      assert.equal(log[0].fields.records, 10);
      const answer = await exchange(second.address("Jaquez"), "WHATSAT p3 10 1\n");
      assert.equal(answer.split("\n")[0], replies[3]);
    } finally {
      await second.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a record file keeps client ids byte for byte and skips rows that no longer parse", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herd-data-" });
  try {
    const file = RecordFile.open(dir, "Solo");
    const id = "caf\xc3\xa9\xff"; // wire text: UTF-8 bytes of "café" plus a lone 0xff
    file.save(id, `AT Solo +0.000000001 ${id} +34-118 1700000000`);
    file.save("junk", "not an AT line");
    file.close();
    const again = RecordFile.open(dir, "Solo");
    const { records, skipped } = again.load();
    again.close();
    assert.equal(skipped, 1);
    assert.equal(records.length, 1);
    assert.equal(records[0].clientId, id);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a data_dir that cannot be used stops start() with a message naming the path", () => {
  const config = withDataDir("/proc/herd-cannot-write-here");
  const m = new Member({ config, name: "Hill", places, log: new MemoryLog() });
  assert.throws(
    () => m.start({ port: 0 }),
    /Cannot open record file \/proc\/herd-cannot-write-here/,
  );
  assert.equal(m.running, false);
});

import assert from "node:assert/strict";
import { parseConfig } from "../../src/config.ts";
import { assertUserError, DEFAULT_HERD_TOML, readLog, runHerd, withTempDir } from "./_cli.ts";

Deno.test("herd simulate --demo exits 0, says every step behaved and logs every member", async () => {
  const members = parseConfig(await Deno.readTextFile(DEFAULT_HERD_TOML)).servers.map((s) =>
    s.name
  );
  await withTempDir(async (dir) => {
    const logs = `${dir}/logs`;
    const r = await runHerd(
      ["simulate", "--demo", "--config", DEFAULT_HERD_TOML, "--log-dir", logs],
      dir,
    );
    assert.equal(r.code, 0, `exit code; stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.ok(r.stdout.includes("demo finished: every step behaved"), r.stdout);
    assert.doesNotMatch(r.stdout, /^!! /m);
    assert.equal(r.stderr, "");

    const files: string[] = [];
    for await (const entry of Deno.readDir(logs)) files.push(entry.name);
    assert.deepEqual(files.sort(), members.map((m) => `${m}.log`).sort());
    for (const m of members) {
      const events = await readLog(`${logs}/${m}.log`);
      assert.ok(events.some((e) => e.event === "member.listening"), `${m} logged listening`);
    }
    // The demo's first IAMAT goes to the first member of the file.
    const first = await readLog(`${logs}/${members[0]}.log`);
    assert.ok(
      first.some((e) =>
        e.event === "msg.in" && String(e.line).startsWith("IAMAT kiwi.cs.ucla.edu ")
      ),
      `${members[0]} logged the demo's IAMAT`,
    );
  });
});

Deno.test("herd simulate exits 2 with one 'herd: ' line when the config file is missing", async () => {
  await withTempDir(async (dir) => {
    const config = `${dir}/absent.toml`;
    const r = await runHerd(
      ["simulate", "--demo", "--config", config, "--log-dir", `${dir}/logs`],
      dir,
    );
    assertUserError(r, [config, "no such file"]);
  });
});

import assert from "node:assert/strict";
import { LogSetupError, memberLog, setupLogging, stopLogging } from "../src/log.ts";
import { LogProcess } from "./_log_process.ts";
import {
  assertUserError,
  finish,
  freePort,
  herdToml,
  runHerd,
  spawnHerd,
  tryExchange,
  withTempDir,
} from "./cli/_cli.ts";
import { waitFor } from "./_harness.ts";

async function withLogDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "herd-log-lock-" });
  try {
    await fn(dir);
  } finally {
    await stopLogging();
    await Deno.remove(dir, { recursive: true });
  }
}

/** `[pid, seq]` of every line of a log file. */
async function linesOf(path: string): Promise<Array<[number, number]>> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter((l) => l !== "").map((l) => {
    const e = JSON.parse(l);
    return [e.pid, e.seq];
  });
}

const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);

Deno.test("a second process for a running member fails at start with one line and writes nothing to its log", async () => {
  await withLogDir(async (dir) => {
    const first = new LogProcess(dir, "Hill");
    try {
      await first.waitFor("ready");
      await first.emit(1);
      const second = new LogProcess(dir, "Hill");
      const refused = await second.finish();
      assert.equal(refused.code, 2, refused.stderr);
      assert.equal(
        refused.stderr,
        `herd: cannot lock log file ${dir}/Hill.log: another herd process (pid ${first.pid}) ` +
          "is writing it (is Hill already running?)\n",
      );
      // Another member in the same folder is not held up.
      const smith = new LogProcess(dir, "Smith");
      await smith.waitFor("ready");
      assert.equal((await smith.finish()).code, 0);
      await first.emit(2);
    } finally {
      assert.equal((await first.finish()).code, 0);
    }
    assert.deepEqual(await linesOf(`${dir}/Hill.log`), [[first.pid, 1], [first.pid, 2]]);
    // A clean stop leaves only the logs, and the member can start again.
    assert.equal(await exists(`${dir}/Hill.log.lock`), false);
    const again = new LogProcess(dir, "Hill");
    await again.waitFor("ready");
    await again.emit(3);
    assert.equal((await again.finish()).code, 0);
    assert.deepEqual((await linesOf(`${dir}/Hill.log`)).map(([, seq]) => seq), [1, 2, 3]);
  });
});

Deno.test("a member whose process was killed can start again: the lock died with it", async () => {
  await withLogDir(async (dir) => {
    const killed = new LogProcess(dir, "Hill");
    await killed.waitFor("ready");
    killed.kill("SIGKILL");
    assert.notEqual((await killed.finish()).code, 0);
    assert.equal(await exists(`${dir}/Hill.log.lock`), true, "the file stays, its lock does not");
    const next = new LogProcess(dir, "Hill");
    await next.waitFor("ready");
    await next.emit(1);
    assert.equal((await next.finish()).code, 0);
    assert.deepEqual(await linesOf(`${dir}/Hill.log`), [[next.pid, 1]]);
  });
});

Deno.test("setupLogging() in a process whose member another process runs throws LogSetupError", async () => {
  await withLogDir(async (dir) => {
    const other = new LogProcess(dir, "Hill");
    try {
      await other.waitFor("ready");
      await assert.rejects(
        setupLogging({ logDir: dir, members: ["Campbell", "Hill"], console: null }),
        (e) => {
          assert.ok(e instanceof LogSetupError);
          assert.match(e.message, /^cannot lock log file .*\/Hill\.log: another herd process/);
          return true;
        },
      );
      // Campbell, locked before Hill failed, was let go again.
      assert.equal(await exists(`${dir}/Campbell.log.lock`), false);
    } finally {
      await other.finish();
    }
  });
});

Deno.test("setupLogging() twice in one process takes over its own files' locks", async () => {
  await withLogDir(async (dir) => {
    await setupLogging({ logDir: dir, members: ["Hill", "Hill"], console: null });
    memberLog("Hill").emit("info", "msg.in", { seq: 1 });
    await setupLogging({ logDir: dir, members: ["Hill"], console: null });
    memberLog("Hill").emit("info", "msg.in", { seq: 2 });
    await stopLogging();
    assert.deepEqual((await linesOf(`${dir}/Hill.log`)).map(([, seq]) => seq), [1, 2]);
    assert.equal(await exists(`${dir}/Hill.log.lock`), false);
  });
});

Deno.test("a second `herd serve Hill` exits 2 with one line about the lock, before listening", async () => {
  await withTempDir(async (dir) => {
    const port = freePort();
    const config = `${dir}/herd.toml`;
    await Deno.writeTextFile(config, herdToml([{ name: "Hill", port }]));
    const args = ["serve", "Hill", "--config", config, "--log-dir", `${dir}/logs`];
    const first = spawnHerd(args, dir);
    const output = first.output();
    try {
      await waitFor(async () => (await tryExchange(port, "WHATSAT x 1 1")) !== "", 20_000, "Hill");
      const second = await runHerd(args, dir);
      assertUserError(second, [
        `cannot lock log file ${dir}/logs/Hill.log: another herd process`,
        "(is Hill already running?)",
      ]);
      assert.doesNotMatch(second.stderr, /port in use/);
    } finally {
      first.kill("SIGTERM");
      await finish(first, 10_000, output);
    }
  });
});

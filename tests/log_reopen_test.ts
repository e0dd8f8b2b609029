import assert from "node:assert/strict";
import { memberLog, reopenLogs, setupLogging, stopLogging } from "../src/log.ts";
import { waitFor } from "./_harness.ts";
import { LogProcess } from "./_log_process.ts";

async function withLogDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "herd-log-reopen-" });
  try {
    await fn(dir);
  } finally {
    await stopLogging();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The `seq` of every line of a log file; every line must be whole JSON. */
async function seqsOf(path: string): Promise<number[]> {
  const text = await Deno.readTextFile(path);
  assert.ok(text === "" || text.endsWith("\n"), `${path} ends with a whole line`);
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l).seq);
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

function emit(name: string, from: number, to: number, pad = 0): void {
  const log = memberLog(name);
  for (let i = from; i < to; i++) log.emit("info", "msg.in", { seq: i, line: "x".repeat(pad) });
}

Deno.test("reopenLogs() writes what is buffered to the moved file and goes on in a fresh <Name>.log", async () => {
  await withLogDir(async (dir) => {
    await setupLogging({ logDir: dir, members: ["Hill", "Smith"], console: null });
    emit("Hill", 0, 10);
    emit("Smith", 0, 10);
    // Still buffered: the writer has not run yet.
    await Deno.rename(`${dir}/Hill.log`, `${dir}/Hill.log.moved`);
    await reopenLogs();
    emit("Hill", 10, 20);
    emit("Smith", 10, 20);
    await stopLogging();
    assert.deepEqual(await seqsOf(`${dir}/Hill.log.moved`), range(0, 10));
    assert.deepEqual(await seqsOf(`${dir}/Hill.log`), range(10, 20));
    // A file nobody moved is reopened in place and appended to.
    assert.deepEqual(await seqsOf(`${dir}/Smith.log`), range(0, 20));
  });
});

Deno.test("reopenLogs() during a burst loses nothing and keeps the order across the two files", async () => {
  await withLogDir(async (dir) => {
    await setupLogging({ logDir: dir, members: ["Hill"], console: null });
    // About 4 MB: writes are in flight and buffers queued when the reopen is asked for.
    emit("Hill", 0, 20_000, 100);
    await Deno.rename(`${dir}/Hill.log`, `${dir}/Hill.log.moved`);
    const reopened = reopenLogs();
    emit("Hill", 20_000, 40_000, 100);
    await reopened;
    emit("Hill", 40_000, 40_100, 100);
    await stopLogging();
    const moved = await seqsOf(`${dir}/Hill.log.moved`);
    const fresh = await seqsOf(`${dir}/Hill.log`);
    assert.deepEqual([...moved, ...fresh], range(0, 40_100));
    assert.ok(moved.length >= 20_000, "what was logged before the call is in the moved file");
    assert.ok(fresh.length >= 100, "what was logged after it finished is in the new file");
  });
});

Deno.test("reopenLogs() resumes a log whose writes had failed", async () => {
  await withLogDir(async (dir) => {
    const write = Deno.FsFile.prototype.write;
    const error = console.error;
    const errors: string[] = [];
    try {
      await setupLogging({ logDir: dir, members: ["Hill"], console: null });
      emit("Hill", 0, 5);
      Deno.FsFile.prototype.write = () => Promise.reject(new Error("No space left on device"));
      console.error = (...args: unknown[]) => errors.push(args.join(" "));
      await reopenLogs(); // the write before the reopen fails: lines 0..4 are lost
      Deno.FsFile.prototype.write = write;
      emit("Hill", 5, 10);
      await stopLogging();
    } finally {
      Deno.FsFile.prototype.write = write;
      console.error = error;
    }
    assert.deepEqual(errors, [
      `herd: cannot write log file ${dir}/Hill.log: No space left on device`,
    ]);
    assert.deepEqual(await seqsOf(`${dir}/Hill.log`), range(5, 10));
  });
});

Deno.test("reopenLogs() that cannot create <Name>.log says so once and writes on in the open file", async () => {
  await withLogDir(async (dir) => {
    const error = console.error;
    const errors: string[] = [];
    try {
      await setupLogging({ logDir: `${dir}/logs`, members: ["Hill"], console: null });
      emit("Hill", 0, 5);
      // The whole folder moved: <Name>.log cannot be created where it was.
      await Deno.rename(`${dir}/logs`, `${dir}/moved`);
      console.error = (...args: unknown[]) => errors.push(args.join(" "));
      await reopenLogs();
      emit("Hill", 5, 10);
      await reopenLogs();
      await stopLogging();
    } finally {
      console.error = error;
    }
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.match(errors[0], /^herd: cannot reopen log file .*\/logs\/Hill\.log: .*; still writing/);
    assert.deepEqual(await seqsOf(`${dir}/moved/Hill.log`), range(0, 10));
  });
});

Deno.test("SIGUSR1 makes a running process reopen its log after logrotate moved it", {
  ignore: Deno.build.os === "windows",
}, async () => {
  await withLogDir(async (dir) => {
    const child = new LogProcess(dir, "Hill");
    try {
      await child.waitFor("ready");
      await child.emit(1);
      await Deno.rename(`${dir}/Hill.log`, `${dir}/Hill.log.1`);
      child.kill("SIGUSR1");
      await waitFor(
        () => Deno.lstat(`${dir}/Hill.log`).then(() => true, () => false),
        20_000,
        "a new Hill.log",
      );
      await child.emit(2);
    } finally {
      const { code, stderr } = await child.finish();
      assert.equal(code, 0, stderr);
    }
    assert.deepEqual(await seqsOf(`${dir}/Hill.log.1`), [1]);
    assert.deepEqual(await seqsOf(`${dir}/Hill.log`), [2]);
  });
});

Deno.test("setupLogging() listens for SIGUSR1 only while it has files open, with one listener", {
  ignore: Deno.build.os === "windows",
}, async () => {
  const add = Deno.addSignalListener;
  const remove = Deno.removeSignalListener;
  const listening = new Set<() => void>();
  Deno.addSignalListener = (signal, handler) => {
    if (signal === "SIGUSR1") listening.add(handler);
    add(signal, handler);
  };
  Deno.removeSignalListener = (signal, handler) => {
    if (signal === "SIGUSR1") listening.delete(handler);
    remove(signal, handler);
  };
  try {
    await withLogDir(async (dir) => {
      await setupLogging({ logDir: dir, members: ["Hill"], console: null });
      assert.equal(listening.size, 1);
      await setupLogging({ logDir: dir, members: ["Hill"], console: null });
      assert.equal(listening.size, 1, "a second setup replaces the first's listener");
      await stopLogging();
      assert.equal(listening.size, 0);
      await setupLogging({ logDir: null, members: [], console: null });
      assert.equal(listening.size, 0, "no files, nothing to reopen");
      await stopLogging();
    });
  } finally {
    Deno.addSignalListener = add;
    Deno.removeSignalListener = remove;
  }
});

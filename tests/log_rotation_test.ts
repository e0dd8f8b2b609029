import assert from "node:assert/strict";
import { logFilesOldestFirst, memberLog, setupLogging, stopLogging } from "../src/log.ts";

/** A tiny cap, so a few dozen events rotate many times. */
const CAP = 1000;

/** The lines of each of `name`'s log files, oldest file first; every line must be JSON. */
async function filesOf(
  dir: string,
  name: string,
): Promise<Array<{ path: string; lines: string[] }>> {
  const out = [];
  for (const path of await logFilesOldestFirst(dir, name)) {
    const text = await Deno.readTextFile(path);
    assert.ok(text === "" || text.endsWith("\n"), `${path} ends with a whole line`);
    const lines = text === "" ? [] : text.slice(0, -1).split("\n");
    for (const line of lines) JSON.parse(line);
    out.push({ path, lines });
  }
  return out;
}

/** `n` events whose `seq` fields count from `from`; lines of 150-180 bytes. */
function emitMany(name: string, from: number, n: number): void {
  const log = memberLog(name);
  for (let i = from; i < from + n; i++) {
    log.emit("info", "msg.in", {
      conn: i,
      seq: i,
      line: `IAMAT c${i} +34-118 ${"x".repeat(i % 30)}`,
    });
  }
}

/** Asserts that no file passed the cap, and that each rotated file was rotated only when needed. */
function assertRotatedAtCap(files: Array<{ path: string; lines: string[] }>): void {
  const bytes = (line: string) => new TextEncoder().encode(line).length + 1;
  files.forEach(({ path, lines }, i) => {
    const size = lines.reduce((sum, l) => sum + bytes(l), 0);
    assert.ok(size <= CAP || lines.length === 1, `${path} has ${size} bytes`);
    const newer = files[i + 1];
    if (newer !== undefined && newer.lines.length > 0) {
      assert.ok(size + bytes(newer.lines[0]) > CAP, `${path} rotated with room left (${size} B)`);
    }
  });
}

async function withLogDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "herd-log-rotation-" });
  try {
    await fn(dir);
  } finally {
    await stopLogging();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("setupLogging() rotates a log before a write would pass maxFileBytes, every event once, in order", async () => {
  await withLogDir(async (dir) => {
    // Three bursts with a restart between: rotation inside one write, and the size of an
    // existing file at open counting towards the cap.
    let seq = 0;
    for (const n of [150, 1, 80]) {
      await setupLogging({
        logDir: dir,
        members: ["Hill"],
        console: null,
        maxFileBytes: CAP,
        maxFiles: 0,
      });
      emitMany("Hill", seq, n);
      seq += n;
      await stopLogging();
    }
    const files = await filesOf(dir, "Hill");
    const top = files.length - 1;
    assert.ok(top >= 30, `${files.length} files`);
    assert.deepEqual(
      files.map((f) => f.path),
      [...Array.from({ length: top }, (_, i) => `${dir}/Hill.log.${top - i}`), `${dir}/Hill.log`],
    );
    assertRotatedAtCap(files);
    const seqs = files.flatMap((f) => f.lines.map((l) => JSON.parse(l).seq));
    assert.deepEqual(seqs, Array.from({ length: seq }, (_, i) => i));
  });
});

Deno.test("setupLogging() keeps maxFiles rotated files and deletes older ones", async () => {
  await withLogDir(async (dir) => {
    await setupLogging({
      logDir: dir,
      members: ["Hill"],
      console: null,
      maxFileBytes: CAP,
      maxFiles: 3,
    });
    emitMany("Hill", 0, 200);
    await stopLogging();
    const files = await filesOf(dir, "Hill");
    assert.deepEqual(
      files.map((f) => f.path),
      [3, 2, 1].map((k) => `${dir}/Hill.log.${k}`).concat(`${dir}/Hill.log`),
    );
    assertRotatedAtCap(files);
    // The newest events, without a gap, up to the last one.
    const seqs = files.flatMap((f) => f.lines.map((l) => JSON.parse(l).seq));
    assert.ok(seqs.length > 10 && seqs.length < 200, `${seqs.length} kept`);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => 200 - seqs.length + i));
  });
});

Deno.test("setupLogging() with maxFiles 1 keeps one rotated file; a lower maxFiles deletes the surplus", async () => {
  await withLogDir(async (dir) => {
    await setupLogging({
      logDir: dir,
      members: ["Hill"],
      console: null,
      maxFileBytes: CAP,
      maxFiles: 0,
    });
    emitMany("Hill", 0, 60);
    await stopLogging();
    assert.ok((await logFilesOldestFirst(dir, "Hill")).length > 4);
    await setupLogging({
      logDir: dir,
      members: ["Hill"],
      console: null,
      maxFileBytes: CAP,
      maxFiles: 1,
    });
    emitMany("Hill", 60, 10);
    await stopLogging();
    const files = await filesOf(dir, "Hill");
    assert.deepEqual(files.map((f) => f.path), [`${dir}/Hill.log.1`, `${dir}/Hill.log`]);
    const seqs = files.flatMap((f) => f.lines.map((l) => JSON.parse(l).seq));
    assert.equal(seqs.at(-1), 69);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => 70 - seqs.length + i));
  });
});

Deno.test("setupLogging() counts an existing log's size: the first event after a restart can rotate", async () => {
  await withLogDir(async (dir) => {
    const old = `${JSON.stringify({ event: "old", pad: "p".repeat(CAP - 100) })}\n`;
    await Deno.writeTextFile(`${dir}/Hill.log`, old);
    await setupLogging({
      logDir: dir,
      members: ["Hill"],
      console: null,
      maxFileBytes: CAP,
      maxFiles: 5,
    });
    emitMany("Hill", 0, 1);
    await stopLogging();
    assert.equal(await Deno.readTextFile(`${dir}/Hill.log.1`), old);
    const files = await filesOf(dir, "Hill");
    assert.deepEqual(files.map((f) => f.lines.map((l) => JSON.parse(l).seq ?? "old")), [["old"], [
      0,
    ]]);
  });
});

Deno.test("setupLogging() gives a line longer than maxFileBytes a file of its own", async () => {
  await withLogDir(async (dir) => {
    await setupLogging({
      logDir: dir,
      members: ["Hill"],
      console: null,
      maxFileBytes: CAP,
      maxFiles: 0,
    });
    const log = memberLog("Hill");
    log.emit("info", "msg.in", { seq: 0, line: "short" });
    log.emit("info", "msg.in", { seq: 1, line: "y".repeat(3 * CAP) });
    log.emit("info", "msg.in", { seq: 2, line: "short" });
    log.emit("info", "msg.in", { seq: 3, line: "z".repeat(3 * CAP) });
    await stopLogging();
    const files = await filesOf(dir, "Hill");
    assert.deepEqual(files.map((f) => f.lines.map((l) => JSON.parse(l).seq)), [[0], [1], [2], [3]]);
    assert.equal(JSON.parse(files[1].lines[0]).line.length, 3 * CAP);
  });
});

Deno.test("setupLogging() with maxFileBytes 0 never rotates", async () => {
  await withLogDir(async (dir) => {
    await setupLogging({
      logDir: dir,
      members: ["Hill"],
      console: null,
      maxFileBytes: 0,
      maxFiles: 5,
    });
    emitMany("Hill", 0, 100);
    await stopLogging();
    const files = await filesOf(dir, "Hill");
    assert.deepEqual(files.map((f) => f.path), [`${dir}/Hill.log`]);
    assert.equal(files[0].lines.length, 100);
  });
});

Deno.test("a failed rotation is reported once and logging goes on in the current file", async () => {
  await withLogDir(async (dir) => {
    const rename = Deno.rename;
    const error = console.error;
    const errors: string[] = [];
    let attempts = 0;
    try {
      Deno.rename = (from: string | URL) => {
        attempts++;
        return Promise.reject(new Deno.errors.PermissionDenied(`rename ${from}: refused`));
      };
      console.error = (...args: unknown[]) => errors.push(args.join(" "));
      await setupLogging({
        logDir: dir,
        members: ["Hill"],
        console: null,
        maxFileBytes: CAP,
        maxFiles: 5,
      });
      emitMany("Hill", 0, 50);
      await stopLogging();
    } finally {
      Deno.rename = rename;
      console.error = error;
    }
    assert.ok(attempts >= 2, `${attempts} attempts`);
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.match(
      errors[0],
      /^herd: cannot rotate log file .*Hill\.log: rename .*: refused; still writing/,
    );
    const files = await filesOf(dir, "Hill");
    assert.deepEqual(files.map((f) => f.path), [`${dir}/Hill.log`]);
    assert.deepEqual(
      files[0].lines.map((l) => JSON.parse(l).seq),
      Array.from({ length: 50 }, (_, i) => i),
    );
  });
});

Deno.test("a log moved away by another rotator is not rotated again before the reopen", async () => {
  await withLogDir(async (dir) => {
    await setupLogging({
      logDir: dir,
      members: ["Hill"],
      console: null,
      maxFileBytes: CAP,
      maxFiles: 2,
    });
    await Deno.writeTextFile(`${dir}/Hill.log.1`, "older\n");
    // logrotate renamed the live file and will signal later: herd's rotation must keep out.
    await Deno.rename(`${dir}/Hill.log`, `${dir}/Hill.log.moved`);
    emitMany("Hill", 0, 50);
    await stopLogging();
    assert.deepEqual(await logFilesOldestFirst(dir, "Hill"), [`${dir}/Hill.log.1`]);
    assert.equal(await Deno.readTextFile(`${dir}/Hill.log.1`), "older\n");
    const moved = (await Deno.readTextFile(`${dir}/Hill.log.moved`)).trimEnd().split("\n");
    assert.deepEqual(moved.map((l) => JSON.parse(l).seq), Array.from({ length: 50 }, (_, i) => i));
  });
});

Deno.test("setupLogging() refuses a negative or fractional rotation option", async () => {
  for (const bad of [{ maxFileBytes: -1 }, { maxFiles: 1.5 }]) {
    await assert.rejects(
      setupLogging({ logDir: null, members: [], console: null, ...bad }),
      RangeError,
    );
  }
});

Deno.test("logFilesOldestFirst() lists rotated files from the highest number, then the live one", async () => {
  await withLogDir(async (dir) => {
    assert.deepEqual(await logFilesOldestFirst(`${dir}/absent`, "Hill"), []);
    assert.deepEqual(await logFilesOldestFirst(dir, "Hill"), []);
    const names = [
      "Hill.log.1",
      "Hill.log.3",
      "Hill.log.12",
      "Hill.log.lock",
      "Hill.log.x",
      "Hill.log.01",
      "Hill.logs",
      "Smith.log.2",
    ];
    for (const n of names) await Deno.writeTextFile(`${dir}/${n}`, "");
    // No live file: a rotated log is still listed.
    assert.deepEqual(
      await logFilesOldestFirst(dir, "Hill"),
      [12, 3, 1].map((k) => `${dir}/Hill.log.${k}`),
    );
    await Deno.writeTextFile(`${dir}/Hill.log`, "");
    assert.deepEqual(
      await logFilesOldestFirst(dir, "Hill"),
      [...[12, 3, 1].map((k) => `${dir}/Hill.log.${k}`), `${dir}/Hill.log`],
    );
    assert.deepEqual(await logFilesOldestFirst(dir, "Smith"), [`${dir}/Smith.log.2`]);
  });
});

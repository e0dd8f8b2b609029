// scripts/release.sh and the compile flags it shares with the `compile` task, checked without a
// denort (deno compile's runtime, which only dl.deno.land or DENORT_BIN provides): the --include
// list against the files src/ loads at run time, the script's failures (which must leave no
// output folder), and its success path with a stand-in for `deno compile`.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { VERSION } from "../src/version.ts";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const SCRIPT = "scripts/release.sh";
const ALL_TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bash <args>` in the repository with `env` added to this process's environment. */
async function bash(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const { code, stdout, stderr } = await new Deno.Command("bash", {
    args,
    cwd: REPO,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...env },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Every .ts file under `dir`, as paths relative to the repository. */
async function tsFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${REPO}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await tsFiles(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

// A module URL built from a literal and import.meta.url: a worker or a data file found at run
// time, which deno compile does not see unless --include names it.
const URL_FROM_LITERAL = /new\s+URL\(\s*(["'`])([^"'`$]+)\1\s*,\s*import\.meta\.url\s*\)/g;
// import.meta.resolve of a relative literal: the same, by another spelling.
const RESOLVE_LITERAL = /import\.meta\.resolve\(\s*(["'`])(\.{1,2}\/[^"'`$]+)\1\s*\)/g;
// new Worker of a literal relative path.
const WORKER_LITERAL = /new\s+Worker\(\s*(["'`])(\.{1,2}\/[^"'`$]+)\1/g;

/** Repository paths of the files the code under src/ (and main.ts) loads by URL at run time. */
async function runtimeLoadedFiles(): Promise<Map<string, string>> {
  const found = new Map<string, string>(); // path -> where it is loaded
  for (const file of ["main.ts", ...await tsFiles("src")]) {
    const text = await Deno.readTextFile(`${REPO}${file}`);
    assert.doesNotMatch(
      text,
      /import\.meta\.(dirname|filename)/,
      `${file} builds a path from import.meta.dirname/filename: extend this test to find it`,
    );
    for (const pattern of [URL_FROM_LITERAL, RESOLVE_LITERAL, WORKER_LITERAL]) {
      for (const match of text.matchAll(pattern)) {
        const url = new URL(match[2], new URL(file, `file://${REPO}`));
        if (url.protocol !== "file:") continue;
        found.set(fileURLToPath(url).slice(REPO.length), file);
      }
    }
  }
  return found;
}

/** The --include values among the flags release.sh prints (those of the compile task). */
async function includedFiles(): Promise<string[]> {
  const run = await bash([SCRIPT, "--print-flags"]);
  assert.equal(run.code, 0, run.stderr);
  const flags = run.stdout.trim().split("\n");
  const included: string[] = [];
  flags.forEach((flag, i) => {
    if (flag === "--include") included.push(flags[i + 1]);
    else if (flag.startsWith("--include=")) included.push(flag.slice("--include=".length));
  });
  return included;
}

Deno.test("release.sh --print-flags gives the compile task's permissions and --include, without --output", async () => {
  const run = await bash([SCRIPT, "--print-flags"]);
  assert.equal(run.code, 0, run.stderr);
  const flags = run.stdout.trim().split("\n");
  const task: string = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`)).tasks.compile;
  const words = task.split(/\s+/);
  for (const flag of flags) assert.ok(words.includes(flag), `${flag} is not in the compile task`);
  assert.ok(flags.includes("--allow-net") && flags.includes("--include"));
  assert.ok(!flags.some((flag) => flag.startsWith("--output") || flag === "main.ts"));
});

Deno.test("compile flags --include every file src/ loads by URL at run time, and only files that exist", async () => {
  const loaded = await runtimeLoadedFiles();
  // The scan must at least find the GeoNames table, or the patterns no longer match the code.
  assert.equal(loaded.get("src/places/geonames.bin"), "src/places/geonames.ts");
  const included = await includedFiles();
  for (const [path, where] of loaded) {
    assert.ok(
      included.includes(path),
      `${where} loads ${path} at run time: add "--include ${path}" to the compile task`,
    );
  }
  for (const path of included) {
    assert.ok(await exists(`${REPO}${path}`), `--include ${path}: no such file`);
  }
});

Deno.test("release.sh parses as bash (bash -n)", async () => {
  const run = await bash(["-n", SCRIPT]);
  assert.equal(run.code, 0, run.stderr);
});

Deno.test("release.sh refuses a DENORT_BIN that is not a file, says so, and creates no output folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herd-release-" });
  try {
    const run = await bash([SCRIPT], { DENORT_BIN: "/nonexistent", OUT_DIR: `${dir}/dist` });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^release: DENORT_BIN=\/nonexistent is not a file: /m);
    assert.equal(await exists(`${dir}/dist`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("release.sh rejects an unknown target and two targets for one DENORT_BIN", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herd-release-" });
  try {
    const unknown = await bash([SCRIPT, "riscv64-unknown-linux-gnu"], { OUT_DIR: `${dir}/dist` });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown target 'riscv64-unknown-linux-gnu'; valid: x86_64-/);
    await Deno.writeTextFile(`${dir}/denort`, "");
    const two = await bash([SCRIPT, ALL_TARGETS[0], ALL_TARGETS[1]], {
      DENORT_BIN: `${dir}/denort`,
      OUT_DIR: `${dir}/dist`,
    });
    assert.equal(two.code, 2);
    assert.match(two.stderr, /DENORT_BIN is the runtime of one target/);
    assert.equal(await exists(`${dir}/dist`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Whether this machine's Deno has the denort of `target` cached (then compile needs no download). */
async function denortCached(target: string): Promise<boolean> {
  const { stdout } = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  const { denoDir } = JSON.parse(new TextDecoder().decode(stdout));
  return await exists(`${denoDir}/dl/release/v${Deno.version.deno}/denort-${target}.zip`);
}

const OFFLINE_TARGET = "x86_64-pc-windows-msvc";

Deno.test({
  name: "release.sh says how to build offline when denort cannot be downloaded, and writes nothing",
  ignore: await denortCached(OFFLINE_TARGET),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "herd-release-" });
    try {
      await Deno.mkdir(`${dir}/tmp`);
      // A proxy that refuses at once stands for a machine that cannot reach dl.deno.land (and
      // keeps this test off the internet).
      const run = await bash([SCRIPT, OFFLINE_TARGET], {
        HTTPS_PROXY: "http://127.0.0.1:9",
        https_proxy: "http://127.0.0.1:9",
        NO_PROXY: "",
        no_proxy: "",
        OUT_DIR: `${dir}/dist`,
        TMPDIR: `${dir}/tmp`,
      });
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        /^release: cannot download denort: set DENORT_BIN=<path to denort> for an offline build, or build online$/m,
      );
      assert.equal(await exists(`${dir}/dist`), false, "an output folder was left");
      assert.deepEqual(await Array.fromAsync(Deno.readDir(`${dir}/tmp`)), [], "temporary files");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * A folder holding a `deno` that stands in for `deno compile` (it writes, as the executable, a
 * shell script that prints `herd <VERSION> (deno fake)`, and logs its arguments to `log`) and
 * runs the real Deno for anything else. With FAKE_COMPILE=fail it writes a partial file and fails.
 */
async function fakeDeno(dir: string): Promise<{ path: string; log: string }> {
  const log = `${dir}/compile.log`;
  await Deno.mkdir(`${dir}/bin`);
  await Deno.writeTextFile(
    `${dir}/bin/deno`,
    `#!/usr/bin/env bash
if [[ $1 != compile ]]; then exec ${JSON.stringify(Deno.execPath())} "$@"; fi
out=; prev=
for word in "$@"; do [[ $prev == --output ]] && out=$word; prev=$word; done
echo "$*" >>${JSON.stringify(log)}
if [[ \${FAKE_COMPILE:-} == fail ]]; then echo partial >"$out.tmp-1"; exit 1; fi
printf '#!/bin/sh\\necho "herd %s (deno fake)"\\n' ${JSON.stringify(VERSION)} >"$out"
chmod +x "$out"
`,
  );
  await Deno.chmod(`${dir}/bin/deno`, 0o755);
  return { path: `${dir}/bin:${Deno.env.get("PATH")}`, log };
}

async function sha256Hex(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("release.sh builds every target into OUT_DIR with a SHA256SUMS (deno compile stood in for)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herd-release-" });
  try {
    const fake = await fakeDeno(dir);
    await Deno.mkdir(`${dir}/tmp`);
    const run = await bash([SCRIPT], {
      PATH: fake.path,
      OUT_DIR: `${dir}/dist`,
      TMPDIR: `${dir}/tmp`,
    });
    assert.equal(run.code, 0, run.stderr);
    const names = ALL_TARGETS.map((target) =>
      `herd-${VERSION}-${target}${target.includes("windows") ? ".exe" : ""}`
    );
    const files = (await Array.fromAsync(Deno.readDir(`${dir}/dist`))).map((entry) => entry.name);
    assert.deepEqual(files.sort(), [...names, "SHA256SUMS"].sort());
    const sums = await Deno.readTextFile(`${dir}/dist/SHA256SUMS`);
    const expected = await Promise.all(
      names.map(async (name) => `${await sha256Hex(`${dir}/dist/${name}`)}  ${name}`),
    );
    assert.deepEqual(sums.trim().split("\n"), expected);
    for (const name of names) {
      assert.match(run.stdout, new RegExp(`^  ${name.replaceAll(".", "\\.")}  \\d+ bytes$`, "m"));
    }
    // Each compile got the task's flags, its target and the entry point.
    const flags = (await bash([SCRIPT, "--print-flags"])).stdout.trim().split("\n").join(" ");
    const compiles = (await Deno.readTextFile(fake.log)).trim().split("\n");
    assert.deepEqual(
      compiles.map((line) => line.replace(/--output \S+\/(herd-\S+)/, "--output $1")),
      ALL_TARGETS.map((target, i) =>
        `compile ${flags} --target ${target} --output ${names[i]} main.ts`
      ),
    );
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${dir}/tmp`)), [], "temporary files");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("release.sh with DENORT_BIN builds the host target only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herd-release-" });
  try {
    const fake = await fakeDeno(dir);
    await Deno.writeTextFile(`${dir}/denort`, "");
    const run = await bash([SCRIPT], {
      PATH: fake.path,
      DENORT_BIN: `${dir}/denort`,
      OUT_DIR: `${dir}/dist`,
    });
    assert.equal(run.code, 0, run.stderr);
    const host = Deno.build.target;
    const files = (await Array.fromAsync(Deno.readDir(`${dir}/dist`))).map((entry) => entry.name);
    const name = `herd-${VERSION}-${host}${host.includes("windows") ? ".exe" : ""}`;
    assert.deepEqual(files.sort(), [name, "SHA256SUMS"].sort());
    assert.match(run.stderr, new RegExp(`building ${host} only`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("release.sh leaves no output folder and no temporary files when a compile fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herd-release-" });
  try {
    const fake = await fakeDeno(dir);
    await Deno.mkdir(`${dir}/tmp`);
    const run = await bash([SCRIPT, ALL_TARGETS[0]], {
      PATH: fake.path,
      FAKE_COMPILE: "fail",
      OUT_DIR: `${dir}/dist`,
      TMPDIR: `${dir}/tmp`,
    });
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /deno compile failed for x86_64-unknown-linux-gnu; nothing was written/,
    );
    assert.equal(await exists(`${dir}/dist`), false, "an output folder was left");
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${dir}/tmp`)), [], "temporary files");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

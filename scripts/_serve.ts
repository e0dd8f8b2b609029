/**
 * What the measuring scripts share to run real members: the command line of a
 * `herd serve` process, starting one and waiting until it listens, and counting
 * the records a member's log says it stored.
 *
 * @module
 */

import { logFilesOldestFirst } from "../src/log.ts";

/** main.ts of this checkout. */
export const MAIN: string = new URL("../main.ts", import.meta.url).pathname;

/**
 * `deno` arguments that run `herd serve <name>` quietly, with the permissions
 * the `serve` task gives it.
 *
 * @param name The member.
 * @param config Path of its herd.toml.
 * @param logDir Folder of its log.
 * @param main main.ts to run. @default this checkout's
 * @returns The arguments, after `deno`.
 */
export function serveArgs(name: string, config: string, logDir: string, main = MAIN): string[] {
  return [
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    main,
    "serve",
    name,
    "--config",
    config,
    "--log-dir",
    logDir,
    "--quiet",
  ];
}

/**
 * Starts `herd serve <name>` and waits until 127.0.0.1:`port` accepts.
 *
 * @param name The member.
 * @param config Path of its herd.toml.
 * @param logDir Folder of its log.
 * @param port The port it listens on, per herd.toml.
 * @param timeoutMs Longest wait, ms.
 * @returns The process, listening.
 * @throws {Error} If it does not listen within `timeoutMs` (it is stopped first).
 */
export async function startServe(
  name: string,
  config: string,
  logDir: string,
  port: number,
  timeoutMs = 30_000,
): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: serveArgs(name, config, logDir),
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return child;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  child.kill("SIGTERM");
  await child.status;
  throw new Error(`${name} did not start listening on ${port}`);
}

/**
 * The client ids starting with `prefix` that member `name` logged as stored
 * (`record.stored` events name one client, or several for a read), in all
 * its log files, rotated ones first; and the last such event's line.
 *
 * @param logDir Folder of the logs.
 * @param name The member.
 * @param prefix Start of the client ids counted (no regular-expression characters).
 * @returns How many ids, and the last event naming one (`""` if none).
 */
export async function storedClients(
  logDir: string,
  name: string,
  prefix: string,
): Promise<{ count: number; last: string }> {
  const files = await logFilesOldestFirst(logDir, name);
  if (files.length === 0) return { count: 0, last: "" };
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      `cat "$@" | grep -F '"record.stored"' | grep -F '"${prefix}' | ` +
      `awk -v p='"${prefix}' '{ n += gsub(p, p) } END { print n + 0; print $0 }'`,
      "sh",
      ...files,
    ],
    stdout: "piped",
  }).output();
  const [count, last] = new TextDecoder().decode(out.stdout).split("\n");
  return { count: Number(count) || 0, last: last ?? "" };
}

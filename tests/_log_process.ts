/**
 * Runs tests/_log_child.ts as a separate process and talks to it: the second process of the
 * log lock and SIGUSR1 tests.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

const CHILD = fileURLToPath(new URL("./_log_child.ts", import.meta.url));

/** Longest a child may live before it is killed, ms. */
const CHILD_LIMIT_MS = 30_000;

/** A child process logging for one member (see tests/_log_child.ts). */
export class LogProcess {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stdout: string[] = [];
  readonly #stderr: Promise<string>;
  readonly #reading: Promise<void>;
  readonly #timer: ReturnType<typeof setTimeout>;

  /**
   * Starts the child.
   *
   * @param dir Its log folder.
   * @param name Its member.
   */
  constructor(dir: string, name: string) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", CHILD, dir, name],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#timer = setTimeout(() => this.kill("SIGKILL"), CHILD_LIMIT_MS);
    this.#stdin = this.#child.stdin.getWriter();
    this.#stderr = new Response(this.#child.stderr).text();
    this.#reading = (async () => {
      let pending = "";
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
        const lines = (pending + text).split("\n");
        pending = lines.pop()!;
        this.#stdout.push(...lines);
      }
    })();
  }

  /** The child's pid. */
  get pid(): number {
    return this.#child.pid;
  }

  /**
   * Waits until the child has printed `line` on stdout.
   *
   * @throws {Error} If it has not after `timeoutMs`, or it exited first.
   */
  async waitFor(line: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    this.#child.status.then(() => exited = true);
    while (!this.#stdout.includes(line)) {
      if (exited) await this.#reading;
      if (this.#stdout.includes(line)) return;
      if (exited || Date.now() > deadline) {
        throw new Error(`child ${this.pid} did not print ${JSON.stringify(line)}: ${this.#stdout}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Has the child log one event with `seq`, and waits until it says it did. */
  async emit(seq: number): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(`emit ${seq}\n`));
    await this.waitFor(`emitted ${seq}`);
  }

  /** Sends a signal (ignored if the child is gone). */
  kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // already exited
    }
  }

  /**
   * Closes the child's stdin (it flushes its logs and exits) and waits for it.
   *
   * @returns Its exit code and stderr.
   */
  async finish(): Promise<{ code: number; stderr: string }> {
    await this.#stdin.close().catch(() => {});
    const { code } = await this.#child.status;
    clearTimeout(this.#timer);
    await this.#reading;
    return { code, stderr: await this.#stderr };
  }
}

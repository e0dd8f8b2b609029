/**
 * A second process for the log lock and SIGUSR1 tests: it sets up logging for one member the
 * way `herd serve` does, then follows commands on stdin until it closes.
 *
 * Usage: `deno run --allow-read --allow-write tests/_log_child.ts <log-dir> <name>`
 *
 * Prints `ready` once logging is set up. Each stdin line `emit <seq>` logs one `msg.in` event
 * with that `seq` and prints `emitted <seq>`. At the end of stdin it flushes and closes the logs
 * and exits 0. If logging cannot be set up it prints `herd: <message>` on stderr and exits 2,
 * as the CLI does.
 *
 * @module
 */

import { LogSetupError, memberLog, setupLogging, stopLogging } from "../src/log.ts";

const [dir, name] = Deno.args;
try {
  await setupLogging({ logDir: dir, members: [name], console: null });
} catch (e) {
  if (!(e instanceof LogSetupError)) throw e;
  console.error(`herd: ${e.message}`);
  Deno.exit(2);
}
console.log("ready");
let pending = "";
for await (const text of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  const lines = (pending + text).split("\n");
  pending = lines.pop()!;
  for (const line of lines) {
    const [command, seq] = line.split(" ");
    if (command === "emit") {
      memberLog(name).emit("info", "msg.in", { seq: Number(seq), pid: Deno.pid });
      console.log(`emitted ${seq}`);
    }
  }
}
await stopLogging();

/**
 * What one `msg.in` log event costs (docs/PERFORMANCE.md): a LogTape logger
 * call with a sink that does nothing, the same with LogTape's JSON Lines
 * formatter, and herd's own file writer (`memberLog()` after `setupLogging()`,
 * formatting into its buffer and writing a temporary file in the background),
 * and that writer with `[log] locations = "redacted"`. Prints the median of 5
 * rounds of the time per event.
 *
 * Usage: deno run --allow-read --allow-write --allow-env scripts/log_cost.ts [events-per-round]
 *
 * @module
 */

import { configure, getJsonLinesFormatter, getLogger, reset } from "@logtape/logtape";
import { memberLog, setupLogging, stopLogging } from "../src/log.ts";

const EVENTS = Number(Deno.args[0] ?? 200_000);
const ROUNDS = 5;
const FIELDS = {
  conn: 7,
  remote: "127.0.0.1:45678",
  peer: undefined,
  line: "IAMAT bench-1234-0-99999 +34.068930-118.445127 1700000000.123456",
  overlong: undefined,
};

/** Median over `ROUNDS` rounds of the time per call of `emit`, ns. */
function measure(emit: () => void): number {
  const perEvent: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < EVENTS; i++) emit();
    perEvent.push((performance.now() - t0) * 1e6 / EVENTS);
  }
  return perEvent.sort((a, b) => a - b)[ROUNDS >> 1];
}

let bytes = 0;
const jsonLines = getJsonLinesFormatter({ message: "template", properties: "flatten" });
await configure({
  reset: true,
  sinks: { none: () => {}, json: (record) => void (bytes += jsonLines(record).length) },
  loggers: [
    { category: ["bench", "none"], sinks: ["none"], lowestLevel: "debug" },
    { category: ["bench", "json"], sinks: ["json"], lowestLevel: "debug" },
    { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
  ],
});
const none = getLogger(["bench", "none"]);
const json = getLogger(["bench", "json"]);
const logtapeNone = measure(() => none.info("msg.in", { event: "msg.in", ...FIELDS }));
const logtapeJson = measure(() => json.info("msg.in", { event: "msg.in", ...FIELDS }));
await reset();

const dir = await Deno.makeTempDir({ prefix: "herd-log-cost-" });
let herd: number;
let redacted: number;
try {
  await setupLogging({ logDir: dir, members: ["Bench"], console: null });
  const log = memberLog("Bench");
  herd = measure(() => log.emit("info", "msg.in", FIELDS));
  await stopLogging();
  await setupLogging({ logDir: dir, members: ["Bench"], console: null, locations: "redacted" });
  redacted = measure(() => log.emit("info", "msg.in", FIELDS));
  await stopLogging();
} finally {
  await Deno.remove(dir, { recursive: true });
}
console.log(`${EVENTS} msg.in events per round, median of ${ROUNDS} rounds (ns per event):`);
console.log(`  LogTape logger, no-op sink:                ${logtapeNone.toFixed(0)}`);
console.log(
  `  LogTape logger, JSON Lines formatter:      ${logtapeJson.toFixed(0)} (${bytes} chars)`,
);
console.log(`  herd memberLog(), file writer (to a file): ${herd.toFixed(0)}`);
console.log(`  the same, [log] locations = "redacted":    ${redacted.toFixed(0)}`);

/**
 * Micro-benchmarks of the pure protocol code on a member's hot path
 * (`deno task microbench`): framing a 64 KiB read, parsing IAMAT / WHATSAT / AT
 * lines, formatting an AT line, and the exact skew. See docs/PERFORMANCE.md.
 *
 * @module
 */

import {
  bytesToWire,
  formatAt,
  formatSkew,
  isExpired,
  LineSplitter,
  parseDecimal,
  parseMessage,
  skewNanos,
  wireToBytes,
} from "../src/protocol/mod.ts";

const IAMAT = "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";
const WHATSAT = "WHATSAT kiwi.cs.ucla.edu 10 5";
const AT = "AT Campbell +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";

/** About 64 KiB of pipelined IAMAT lines (one read's worth), each with its own client id. */
function chunkOfLines(terminator: string): { bytes: Uint8Array; lines: number } {
  let text = "";
  let lines = 0;
  while (text.length < 64 * 1024 - 100) {
    text += `IAMAT bench-${lines} +34.068930-118.445127 1621464827.${lines}${terminator}`;
    lines++;
  }
  return { bytes: new TextEncoder().encode(text), lines };
}

const LF_CHUNK = chunkOfLines("\n");
const CRLF_CHUNK = chunkOfLines("\r\n");
const splitter = new LineSplitter();

function frameAll(chunk: { bytes: Uint8Array; lines: number }): void {
  const frames = splitter.push(chunk.bytes);
  if (frames.length !== chunk.lines) throw new Error(`framed ${frames.length} lines`);
}

Deno.bench(`LineSplitter.push() 64 KiB, ${LF_CHUNK.lines} LF lines`, { group: "framing" }, () => {
  frameAll(LF_CHUNK);
});

Deno.bench(
  `LineSplitter.push() 64 KiB, ${CRLF_CHUNK.lines} CR-LF lines`,
  { group: "framing" },
  () => {
    frameAll(CRLF_CHUNK);
  },
);

const IAMAT_BYTES = new TextEncoder().encode(IAMAT);
Deno.bench("bytesToWire() one IAMAT line", { group: "framing" }, () => {
  bytesToWire(IAMAT_BYTES);
});

Deno.bench("parseMessage() IAMAT", { group: "parse" }, () => {
  if (parseMessage(IAMAT).kind !== "IAMAT") throw new Error("not IAMAT");
});

Deno.bench("parseMessage() WHATSAT", { group: "parse" }, () => {
  if (parseMessage(WHATSAT).kind !== "WHATSAT") throw new Error("not WHATSAT");
});

Deno.bench("parseMessage() AT (a flood)", { group: "parse" }, () => {
  if (parseMessage(AT).kind !== "AT") throw new Error("not AT");
});

Deno.bench("parseMessage() invalid line", { group: "parse" }, () => {
  if (parseMessage("HELLO proxy herd").kind !== "invalid") throw new Error("not invalid");
});

const AT_MESSAGE = parseMessage(AT);
if (AT_MESSAGE.kind !== "AT") throw new Error("AT fixture does not parse");
const RECORD = AT_MESSAGE.record;

Deno.bench("formatAt()", { group: "format" }, () => {
  formatAt(RECORD);
});

// V8 builds the template string lazily; turning it into bytes is where a reply pays for it.
Deno.bench("wireToBytes(formatAt() + LF) (one IAMAT reply's bytes)", { group: "format" }, () => {
  wireToBytes(formatAt(RECORD) + "\n");
});

const CLIENT_TIME = parseDecimal("1621464827.959498503");
const RECEIVED_NS = 1_621_464_828_223_372_036n;

Deno.bench("skewNanos()", { group: "skew" }, () => {
  skewNanos(RECEIVED_NS, CLIENT_TIME);
});

Deno.bench("formatSkew()", { group: "skew" }, () => {
  formatSkew(263_873_386n);
});

Deno.bench(
  "parseDecimal() + skewNanos() + formatSkew() (one IAMAT's skew)",
  { group: "skew" },
  () => {
    formatSkew(skewNanos(RECEIVED_NS, parseDecimal("1621464827.959498503")));
  },
);

// The expiry rule on an IAMAT's client time (what a member with record_ttl_s adds per record).
Deno.bench("isExpired() of an IAMAT's client time", { group: "skew" }, () => {
  if (isExpired("1621464827.959498503", RECEIVED_NS, 3600)) throw new Error("expired");
});

/**
 * TCP fuzz test: thousands of fuzzed lines pipelined on one connection to a real member on
 * 127.0.0.1 port 0, then a half-close. Every non-blank line must get exactly one reply, in order
 * (PROTOCOL.md sections 1-2): its AT line for a valid IAMAT, the stored AT line + Nearby Search
 * JSON + a blank line for a WHATSAT of a known client, and `? ` plus the line's exact bytes for
 * anything else; and the member must still serve a fresh connection afterwards.
 */

import assert from "node:assert/strict";
import { type HerdConfig, testConfig } from "../../src/config.ts";
import { Member } from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import {
  bytesToWire,
  type ClientRecord,
  formatAt,
  isNewer,
  parseMessage,
  unicodeToWire,
  type WireText,
  wireToBytes,
} from "../../src/protocol/mod.ts";
import { exchange, exchangeBytes } from "../_harness.ts";
import { cannedPlaces } from "../_no_places.ts";
import { fuzzLine, VALID_LINES } from "../protocol/_fuzz_lines.ts";
import { pick, type Random, randomInt, seeded } from "../protocol/_random.ts";

/** Fuzzed lines per connection. */
const LINES = 3000;
/** Bound on the whole exchange, ms (it takes well under a second). */
const EXCHANGE_LIMIT_MS = 20_000;
/** The first line: a valid IAMAT, so no fuzzed `HERD 1 ...` can be a connection's hello. */
const FIRST_LINE = "IAMAT fuzz-first +34.068930-118.445127 1700000000";

/** The shared corpus plus IAMAT/WHATSAT pairs on a few ids, so many WHATSATs find a client. */
const TCP_VALID: readonly WireText[] = [
  ...VALID_LINES,
  "IAMAT kiwi +34.068930-118.445127 1700000000.5",
  "WHATSAT kiwi 5 3",
  "WHATSAT fuzz-first 1 1",
  "WHATSAT y 50 20",
  unicodeToWire("WHATSAT 🦆-ü 20 2"),
  "IAMAT kiwi -33.8688+151.2093 1700000001",
];

/** One member alone (no links), on 127.0.0.1 port 0. */
function soloConfig(): HerdConfig {
  const base = testConfig();
  return { ...base, servers: [{ ...base.servers[0] }], links: [] };
}

/** A line as it is put on the wire: terminator chosen at random, some blank or overlong. */
interface SentLine {
  /** The line's bytes as wire text, terminator excluded. */
  line: WireText;
  /** `"\n"`, `"\r\n"`, or `""` for the last line ended by EOF. */
  terminator: string;
}

function generate(random: Random, maxLineBytes: number): SentLine[] {
  const sent: SentLine[] = [{ line: FIRST_LINE, terminator: "\n" }];
  for (let i = 0; i < LINES; i++) {
    const r = random();
    let line: WireText;
    if (r < 0.03) line = pick(random, ["", " ", "\t \r", "\v\f"]);
    else if (r < 0.035) {
      line = "IAMAT k +0+0 1 ".padEnd(maxLineBytes + 1 + randomInt(random, 5000), "x");
    } else line = fuzzLine(random, TCP_VALID);
    sent.push({ line, terminator: random() < 0.2 ? "\r\n" : "\n" });
  }
  sent[sent.length - 1].terminator = "";
  return sent;
}

/** The line a member frames (PROTOCOL.md section 1): a CR before the LF is the terminator's. */
function framed(s: SentLine, maxLineBytes: number): { line: WireText; overlong: boolean } {
  let line = s.line + (s.terminator === "\r\n" ? "\r" : "");
  if (s.terminator !== "" && line.endsWith("\r")) line = line.slice(0, -1);
  if (line.length > maxLineBytes) return { line: line.slice(0, maxLineBytes), overlong: true };
  return { line, overlong: false };
}

/** Reads a reply stream (wire text) front to back. */
class Replies {
  #text: WireText;
  #pos = 0;
  constructor(text: WireText) {
    this.#text = text;
  }
  get rest(): number {
    return this.#text.length - this.#pos;
  }
  /** The next line without its LF. */
  line(): WireText {
    const end = this.#text.indexOf("\n", this.#pos);
    assert.ok(end !== -1, `reply stream ends without LF: ${JSON.stringify(this.peek())}`);
    const out = this.#text.slice(this.#pos, end);
    this.#pos = end + 1;
    return out;
  }
  /** Everything up to the next blank line, which is consumed too. */
  block(): WireText {
    const end = this.#text.indexOf("\n\n", this.#pos);
    assert.ok(end !== -1, `no blank line after a WHATSAT reply: ${JSON.stringify(this.peek())}`);
    const out = this.#text.slice(this.#pos, end);
    this.#pos = end + 2;
    return out;
  }
  peek(): WireText {
    return this.#text.slice(this.#pos, this.#pos + 120);
  }
}

/**
 * Checks the replies to `sent` in order against a model of the member's store (fed by the AT
 * lines of its own IAMAT replies, ordered by `isNewer`).
 *
 * @returns How many replies of each kind were checked.
 */
function checkReplies(
  sent: SentLine[],
  replies: Replies,
  name: string,
  maxLineBytes: number,
): Record<string, number> {
  const store = new Map<WireText, ClientRecord>();
  const tally: Record<string, number> = { none: 0, at: 0, whatsat: 0, invalid: 0, overlong: 0 };
  sent.forEach((s, i) => {
    const where = () => `line ${i} ${JSON.stringify(s.line.slice(0, 200))}`;
    const { line, overlong } = framed(s, maxLineBytes);
    const m = overlong ? null : parseMessage(line);
    if (m?.kind === "empty") {
      tally.none++;
      return;
    }
    if (m?.kind === "IAMAT") {
      const reply = replies.line();
      const at = parseMessage(reply);
      assert.ok(at.kind === "AT", `${where()}: IAMAT answered ${JSON.stringify(reply)}`);
      const r = at.record;
      assert.equal(r.origin, name, where());
      assert.equal(r.clientId, m.clientId, where());
      assert.equal(r.location.text, m.location.text, where());
      assert.equal(r.clientTimeText, m.clientTimeText, where());
      if (isNewer(r, store.get(r.clientId))) store.set(r.clientId, r);
      tally.at++;
      return;
    }
    if (m?.kind === "WHATSAT" && store.has(m.clientId)) {
      const head = replies.line();
      assert.equal(head, formatAt(store.get(m.clientId)!), `${where()}: stored AT line`);
      const json = new TextDecoder().decode(wireToBytes(replies.block()));
      const doc = JSON.parse(json);
      assert.ok(["OK", "ZERO_RESULTS"].includes(doc.status), `${where()}: status ${doc.status}`);
      assert.ok(Array.isArray(doc.results) && doc.results.length <= m.bound, where());
      tally.whatsat++;
      return;
    }
    // Invalid, overlong, WHATSAT of an unknown client, peer-only verbs from a client.
    assert.equal(replies.line(), `? ${line}`, where());
    tally[overlong ? "overlong" : "invalid"]++;
  });
  assert.equal(replies.rest, 0, `bytes after the last reply: ${JSON.stringify(replies.peek())}`);
  return tally;
}

async function fuzzOverTcp(seed: number): Promise<void> {
  const config = soloConfig();
  const name = config.servers[0].name;
  const maxLineBytes = config.settings.maxLineBytes;
  const member = new Member({
    config,
    name,
    // Replies shaped like GeoNames' without its load: this tests framing and order, not places.
    places: cannedPlaces(),
    log: new MemoryLog(),
  });
  const addr = member.start({ port: 0 });
  try {
    const sent = generate(seeded(seed), maxLineBytes);
    const data = wireToBytes(sent.map((s) => s.line + s.terminator).join(""));
    const replies = new Replies(bytesToWire(await exchangeBytes(addr, data, EXCHANGE_LIMIT_MS)));
    let tally: Record<string, number>;
    try {
      tally = checkReplies(sent, replies, name, maxLineBytes);
    } catch (e) {
      assert.fail(`seed ${seed}: ${e instanceof Error ? e.message : e}`);
    }
    // Every kind of reply was exercised.
    for (const [kind, n] of Object.entries(tally)) assert.ok(n > 0, `seed ${seed}: no ${kind}`);

    // The member goes on serving.
    const reply = await exchange(addr, "WHATSAT fuzz-first 1 1\n");
    assert.match(reply, new RegExp(`^AT ${name} [+-][0-9]+\\.[0-9]{9} fuzz-first `));
    assert.ok(reply.endsWith("}\n\n"));
  } finally {
    await member.stop();
  }
}

Deno.test("member answers every line of a fuzzed pipeline exactly once, in order (seed 1)", async () => {
  await fuzzOverTcp(1);
});

Deno.test("member answers every line of a fuzzed pipeline exactly once, in order (seed 2)", async () => {
  await fuzzOverTcp(2);
});

/**
 * The client side of `scripts/netns-test.sh`: run inside one member's network namespace, it talks
 * to that member over plain TCP and reports in one line. It imports nothing of the herd, so it
 * judges the members only by what they say on the wire (PROTOCOL.md sections 1-2).
 *
 * Usage (every subcommand is bounded by `--timeout-ms`, default 5000):
 *
 * ```
 * netns_check.ts wait   <host:port>                 until the member accepts a connection
 * netns_check.ts send   <host:port> <line>...       one connection, every line, half-close;
 *                                                   prints one reply line per line
 * netns_check.ts expect <host:port> <file> [--absent]
 * ```
 *
 * `expect` reads a file of `AT` lines (the replies `send` printed; for each client the line with
 * the greatest client time is expected, PROTOCOL.md section 3), asks `WHATSAT <client-id> 1 1` for every client on one pipelined
 * connection and compares the stored AT line of each reply with the expected one, byte for byte.
 * With `--absent` it checks the opposite: no client's stored line equals the expected one (the
 * update has not arrived).
 *
 * Exit codes: 0 the check holds; 1 it does not (one line says which record); 2 a usage error or
 * the member could not be reached in time.
 *
 * @module
 */

/** Default bound on one subcommand, ms. */
const DEFAULT_TIMEOUT_MS = 5000;
/** Pause between connection attempts of `wait`, ms. */
const WAIT_RETRY_MS = 50;
/** Mismatches named in a failure line; the rest are counted. */
const SHOWN_MISMATCHES = 3;

/** A `host:port` pair. */
interface Target {
  /** IP address (inside the namespace). */
  hostname: string;
  /** TCP port. */
  port: number;
}

/** A check that did not hold, or a usage or connection problem. */
class CheckFailure extends Error {
  /**
   * @param message One line for the test log.
   * @param exitCode 1 for a failed check, 2 for usage or connection problems.
   */
  constructor(message: string, readonly exitCode: 1 | 2) {
    super(message);
  }
}

function parseTarget(text: string | undefined): Target {
  const m = /^(.+):([0-9]{1,5})$/.exec(text ?? "");
  if (m === null) throw new CheckFailure(`expected <host:port>, got ${JSON.stringify(text)}`, 2);
  return { hostname: m[1], port: Number(m[2]) };
}

/**
 * Connects, writes `text`, half-closes and reads to EOF, all before `deadline`.
 *
 * @param target The member.
 * @param text Lines to send, LF-terminated.
 * @param deadline `Date.now()` value past which the exchange is abandoned.
 * @returns Everything the member wrote back, as UTF-8 text.
 * @throws {CheckFailure} (exit 2) If the member cannot be reached or does not finish in time.
 */
async function exchange(target: Target, text: string, deadline: number): Promise<string> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: target.hostname, port: target.port });
  } catch (e) {
    throw new CheckFailure(`cannot connect to ${target.hostname}:${target.port}: ${e}`, 2);
  }
  const timer = setTimeout(() => conn.close(), Math.max(0, deadline - Date.now()));
  const chunks: Uint8Array[] = [];
  try {
    const data = new TextEncoder().encode(text);
    for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
    await conn.closeWrite();
    const buf = new Uint8Array(65536);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      chunks.push(buf.slice(0, n));
    }
  } catch (e) {
    throw new CheckFailure(
      `exchange with ${target.hostname}:${target.port} failed or timed out: ${e}`,
      2,
    );
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer
    }
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return new TextDecoder().decode(out);
}

// wait <host:port>
async function waitListening(target: Target, deadline: number): Promise<void> {
  while (true) {
    try {
      (await Deno.connect({ hostname: target.hostname, port: target.port })).close();
      return;
    } catch (e) {
      if (Date.now() + WAIT_RETRY_MS > deadline) {
        throw new CheckFailure(`${target.hostname}:${target.port} not listening: ${e}`, 2);
      }
      await new Promise((r) => setTimeout(r, WAIT_RETRY_MS));
    }
  }
}

// send <host:port> <line>...
async function sendLines(target: Target, lines: string[], deadline: number): Promise<void> {
  if (lines.length === 0) throw new CheckFailure("send: no lines given", 2);
  const reply = await exchange(target, lines.map((l) => l + "\n").join(""), deadline);
  const replies = reply.split("\n").filter((l) => l !== "");
  for (const r of replies) console.log(r);
  const refused = replies.find((r) => r.startsWith("? "));
  if (refused !== undefined) throw new CheckFailure(`send: refused: ${refused}`, 1);
  if (replies.length !== lines.length) {
    throw new CheckFailure(`send: ${lines.length} lines got ${replies.length} reply lines`, 1);
  }
}

/** The client-id field of an AT line (`AT <origin> <skew> <client-id> <location> <time>`). */
function clientOf(atLine: string): string {
  return atLine.split(/\s+/)[3];
}

/**
 * Compares the client times (`D+[.D+]`, last field) of two AT lines exactly, as decimals.
 *
 * @returns Negative, zero or positive as `a`'s time is below, equal to or above `b`'s.
 */
function compareTimes(a: string, b: string): number {
  const [aWhole, aFraction = ""] = a.split(/\s+/)[5].split(".");
  const [bWhole, bFraction = ""] = b.split(/\s+/)[5].split(".");
  const wholes = BigInt(aWhole) - BigInt(bWhole);
  if (wholes !== 0n) return wholes < 0n ? -1 : 1;
  const n = Math.max(aFraction.length, bFraction.length);
  const fa = aFraction.padEnd(n, "0");
  const fb = bFraction.padEnd(n, "0");
  return fa < fb ? -1 : fa > fb ? 1 : 0;
}

/**
 * Splits a pipelined stream of WHATSAT replies: each is `? <line>\n`, or an AT line, the JSON
 * document and a blank line (PROTOCOL.md section 2). Only the first line of each is returned.
 */
function firstLines(stream: string): string[] {
  const out: string[] = [];
  let pos = 0;
  while (pos < stream.length) {
    const eol = stream.indexOf("\n", pos);
    if (eol === -1) {
      out.push(stream.slice(pos));
      break;
    }
    const line = stream.slice(pos, eol);
    out.push(line);
    if (line.startsWith("AT ")) {
      const end = stream.indexOf("\n\n", eol);
      pos = end === -1 ? stream.length : end + 2;
    } else {
      pos = eol + 1;
    }
  }
  return out;
}

// expect <host:port> <file> [--absent]
async function expectRecords(
  target: Target,
  file: string,
  absent: boolean,
  deadline: number,
): Promise<void> {
  const expected = new Map<string, string>();
  for (const line of (await Deno.readTextFile(file)).split("\n")) {
    if (!line.startsWith("AT ")) continue;
    const earlier = expected.get(clientOf(line));
    if (earlier === undefined || compareTimes(line, earlier) > 0) {
      expected.set(clientOf(line), line);
    }
  }
  if (expected.size === 0) throw new CheckFailure(`expect: no AT lines in ${file}`, 2);
  const ids = [...expected.keys()];
  const stream = await exchange(target, ids.map((id) => `WHATSAT ${id} 1 1\n`).join(""), deadline);
  const got = firstLines(stream);
  const bad: string[] = [];
  ids.forEach((id, i) => {
    const want = expected.get(id)!;
    const have = got[i] ?? "(no reply)";
    if ((have === want) === absent) {
      bad.push(
        absent ? `${id} already has ${JSON.stringify(have)}` : `${id} wants ` +
          `${JSON.stringify(want)}, has ${JSON.stringify(have)}`,
      );
    }
  });
  if (bad.length > 0) {
    const more = bad.length > SHOWN_MISMATCHES ? `; ${bad.length - SHOWN_MISMATCHES} more` : "";
    throw new CheckFailure(
      `${bad.length} of ${ids.length} records ${absent ? "present too early" : "differ"}: ` +
        bad.slice(0, SHOWN_MISMATCHES).join("; ") + more,
      1,
    );
  }
  console.log(`${ids.length} records ${absent ? "absent as expected" : "match"}`);
}

/**
 * Runs one subcommand.
 *
 * @param args Command-line arguments.
 * @returns The exit code (0, 1 or 2, see the module doc).
 */
export async function main(args: string[]): Promise<number> {
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  const rest: string[] = [];
  let absent = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--timeout-ms") timeoutMs = Number(args[++i]);
    else if (args[i] === "--absent") absent = true;
    else rest.push(args[i]);
  }
  const deadline = Date.now() + timeoutMs;
  const [command, where, ...words] = rest;
  try {
    if (!(timeoutMs > 0)) throw new CheckFailure("--timeout-ms must be a positive number", 2);
    const target = parseTarget(where);
    if (command === "wait") await waitListening(target, deadline);
    else if (command === "send") await sendLines(target, words, deadline);
    else if (command === "expect" && words.length === 1) {
      await expectRecords(target, words[0], absent, deadline);
    } else throw new CheckFailure(`unknown or incomplete command: ${rest.join(" ")}`, 2);
    return 0;
  } catch (e) {
    if (!(e instanceof CheckFailure)) throw e;
    console.log(e.message);
    return e.exitCode;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

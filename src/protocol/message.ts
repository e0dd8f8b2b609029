/**
 * Parsing of every line a member can receive (PROTOCOL.md sections 2 and 4)
 * into a {@linkcode Message}. Pure: no I/O, no clock; the member executes.
 *
 * @module
 */

import { compareDecimal, type Decimal, decimalOf, isZero, parseDecimal } from "./decimal.ts";
import {
  DIGEST_DEPTH,
  DIGEST_FANOUT,
  MAX_WANT_PREFIXES,
  type NodeDigest,
  parseNodeDigest,
  parsePrefix,
} from "./digest.ts";
import { splitFields } from "./fields.ts";
import { type Location, parseIso6709 } from "./iso6709.ts";
import type { ClientRecord, Tombstone } from "./record.ts";
import { isSkew } from "./skew.ts";
import { ownCopy, type WireText } from "./wire_text.ts";

/** Protocol version carried in the hello line. */
export const HELLO_VERSION = "1";
/** Largest WHATSAT radius, km (PROTOCOL.md section 2). */
export const MAX_RADIUS_KM = 50;
/** Smallest WHATSAT bound (PROTOCOL.md section 2): asking for no places is not a question. */
export const MIN_BOUND = 1;
/** Largest WHATSAT bound (PROTOCOL.md section 2; Google's page size). */
export const MAX_BOUND = 20;

/** `IAMAT <client-id> <location> <client-time>` */
export interface IamatMessage {
  /** Discriminant: a client reporting its position. */
  kind: "IAMAT";
  /** Client id, raw bytes as wire text; stored and echoed byte for byte. */
  clientId: WireText;
  /** Reported position (ISO 6709), with the text to echo verbatim. */
  location: Location;
  /** Client time, POSIX seconds, exact (any number of fraction digits). */
  clientTime: Decimal;
  /** Client time exactly as received, echoed verbatim in the AT reply. */
  clientTimeText: WireText;
}

/** `WHATSAT <client-id> <radius-km> <bound>` */
export interface WhatsatMessage {
  /** Discriminant: a client asking what is near another client. */
  kind: "WHATSAT";
  /** Id of the client whose stored position is the search centre. */
  clientId: WireText;
  /** Radius in km, 0 < radiusKm <= {@linkcode MAX_RADIUS_KM}. */
  radiusKm: number;
  /** Most places to return, {@linkcode MIN_BOUND}..{@linkcode MAX_BOUND}. */
  bound: number;
}

/**
 * A flooded record: `AT <origin> <skew> <client-id> <location> <client-time>`,
 * or, between members that both disseminate by tree, the same line with a
 * seventh field {@linkcode TREE_MARK} when it is an eager push along the
 * broadcast tree (docs/PROTOCOL.md, "Epidemic broadcast trees").
 */
export interface AtMessage {
  /** Discriminant: a record flooded by a neighbour. */
  kind: "AT";
  /** The record the line carries, to store and flood on if newer. */
  record: ClientRecord;
  /** True if the line ends in {@linkcode TREE_MARK}: a duplicate of it may prune the link. */
  tree: boolean;
}

/**
 * **(herd)** A client's erasure, flooded and reconciled like a record:
 * `ERASE <origin> <client-id> <time>`. Valid only on a neighbour's connection.
 */
export interface EraseMessage {
  /** Discriminant: a tombstone from a neighbour. */
  kind: "ERASE";
  /** The tombstone the line carries, to store and flood on if newer. */
  tombstone: Tombstone;
}

/** Seventh field of an `AT` line pushed eagerly along a broadcast tree. */
export const TREE_MARK = "tree";

/** An update's identity in tree announcements and grafts: its client and client time. */
export interface UpdateId {
  /** Client id, wire text. */
  clientId: WireText;
  /** Client time exactly as in the record's AT line. */
  clientTimeText: WireText;
  /** The same, parsed. */
  clientTime: Decimal;
}

/**
 * `IHAVE <client-id> <client-time> ...` (a lazy announcement: the sender holds
 * these updates) or `GRAFT <client-id> <client-time> ...` (the sender misses
 * them: push them, and push eagerly to it from now on). Peers with trees only.
 */
export interface TreeIdsMessage {
  /** Discriminant. */
  kind: "IHAVE" | "GRAFT";
  /** One or more updates, in line order. */
  ids: UpdateId[];
}

/** `PRUNE`: the sender got a duplicate from us; send it announcements only from now on. */
export interface PruneMessage {
  /** Discriminant. */
  kind: "PRUNE";
}

/**
 * `PING <token>` (are you there? answer `PONG <token>`) or `PONG <token>` (the
 * answer): peer keepalive on a silent link. Peers only.
 */
export interface KeepaliveMessage {
  /** Discriminant: `PING` asks for a `PONG` with the same token. */
  kind: "PING" | "PONG";
  /** 1 to {@linkcode MAX_TOKEN_CHARS} of `0-9 A-Z a-z`, echoed by the answer. */
  token: WireText;
}

/** Longest `PING`/`PONG` token, characters: a counter or a timestamp fits with room to spare. */
export const MAX_TOKEN_CHARS = 32;
const TOKEN = new RegExp(`^[0-9A-Za-z]{1,${MAX_TOKEN_CHARS}}$`);

/**
 * A peer hello: `HERD 1 <server-name> [key=value ...]`. The key=value tail is
 * where authentication (mac, ts, nonce) and other extensions go; keys a member
 * does not know are ignored, so the line can grow without breaking old members.
 */
export interface HelloMessage {
  /** Discriminant: the first line of a neighbour's peer link. */
  kind: "HERD";
  /** Protocol version; always {@linkcode HELLO_VERSION} (others are invalid). */
  version: string;
  /** Name of the dialling server, as sent. */
  name: WireText;
  /** The `key=value` tail by key (a repeated key makes the line invalid). */
  params: Map<string, WireText>;
}

/**
 * An anti-entropy digest from a neighbour: `DIGEST <prefix> <d0> ... <d15>`
 * (see `digest.ts`). Valid only on an authenticated peer connection.
 */
export interface DigestMessage {
  /** Discriminant: the sender's digests of the children of `prefix`. */
  kind: "DIGEST";
  /** The parent node, hex nibbles (`""` for the root), shorter than DIGEST_DEPTH. */
  prefix: string;
  /** The 16 children's digests, in nibble order. */
  children: NodeDigest[];
}

/** `WANT <prefix> ...`: a neighbour asks for every record under some nodes. Peers only. */
export interface WantMessage {
  /** Discriminant: send the records under each prefix as AT lines. */
  kind: "WANT";
  /** The nodes, hex nibbles (`""` for the root), 1..MAX_WANT_PREFIXES of them. */
  prefixes: string[];
}

/** `ASK <prefix> ...`: a neighbour asks which records we hold under some nodes. Peers only. */
export interface AskMessage {
  /** Discriminant: answer with one HAVE (or WANT) line per prefix. */
  kind: "ASK";
  /** The nodes, hex nibbles (`""` for the root), 1..MAX_WANT_PREFIXES of them. */
  prefixes: string[];
}

/**
 * `HAVE <prefix> [<key>:<client-time> ...]`: what a neighbour holds under a
 * node, so we send only records that are not older. Peers only.
 */
export interface HaveMessage {
  /** Discriminant: send our records under `prefix` that are not older than theirs. */
  kind: "HAVE";
  /** The node, hex nibbles (`""` for the root). */
  prefix: string;
  /**
   * Their client time by client key hash; `null` where two of their clients share a
   * key hash (then we send ours whatever its time).
   */
  times: Map<number, Decimal | null>;
}

/**
 * Why a line does not parse, in a few words: one of a short fixed list, so
 * that logs can be grepped and counted by it (the detail, with the offending
 * field, is {@linkcode InvalidMessage.reason}).
 */
export const PARSE_PROBLEMS = [
  /** The first field is no command (commands are case-sensitive). */
  "unknown command",
  /** Too few or too many fields for the command. */
  "wrong field count",
  /** An IAMAT or AT location that is not ISO 6709 decimal degrees, or is off the globe. */
  "bad ISO 6709 location",
  /** An IAMAT, AT or ERASE time that is not an unsigned decimal (POSIX seconds). */
  "bad POSIX time",
  /** A WHATSAT radius that is not an unsigned decimal. */
  "radius not a decimal number",
  /** A WHATSAT radius of 0 or above {@linkcode MAX_RADIUS_KM}. */
  `radius out of range (0 < r <= ${MAX_RADIUS_KM} km)`,
  /** A WHATSAT bound that is not an integer. */
  "bound not an integer",
  /** A WHATSAT bound outside {@linkcode MIN_BOUND}..{@linkcode MAX_BOUND}. */
  `bound out of range (${MIN_BOUND}..${MAX_BOUND})`,
  /** An AT skew that is not `[+-]D.DDDDDDDDD`. */
  "bad skew",
  /** A HERD hello of another version, or with a bad or repeated `key=value`. */
  "bad hello",
  /** A DIGEST, WANT, ASK or HAVE line with a bad node prefix, digest or HAVE entry. */
  "bad anti-entropy field",
  /** An AT line's seventh field other than `tree`, or an IHAVE or GRAFT id without a time. */
  "bad tree field",
  /** A PING or PONG token that is not 1 to 32 letters and digits. */
  "bad keepalive token",
] as const;

/** One of {@linkcode PARSE_PROBLEMS}. */
export type ParseProblem = typeof PARSE_PROBLEMS[number];

/** A line that is none of the above; the reply is `? ` + the line. */
export interface InvalidMessage {
  /** Discriminant: answered with `? ` and the line. */
  kind: "invalid";
  /** What is wrong, in a few words from a fixed list: `wrong field count`. */
  problem: ParseProblem;
  /** Why, in detail, for logs: `Cannot parse IAMAT: expected 4 fields, got 3`. */
  reason: string;
}

/** A line of only white space: no reply. */
export interface EmptyMessage {
  /** Discriminant: ignored, nothing is written back. */
  kind: "empty";
}

/** Anything a line can be. */
export type Message =
  | IamatMessage
  | WhatsatMessage
  | AtMessage
  | EraseMessage
  | HelloMessage
  | DigestMessage
  | WantMessage
  | AskMessage
  | HaveMessage
  | TreeIdsMessage
  | PruneMessage
  | KeepaliveMessage
  | InvalidMessage
  | EmptyMessage;

function invalid(problem: ParseProblem, reason: string): InvalidMessage {
  return { kind: "invalid", problem, reason };
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const BOUND = /^[0-9]{1,9}$/;
const RADIUS_MAX = decimalOf(MAX_RADIUS_KM);

/**
 * Parses one line (terminator removed) into a message. Never throws: every
 * problem becomes an `invalid` message with a reason.
 *
 * @param line Wire text of the line.
 * @returns The message.
 * @example
 * ```ts
 * import { parseMessage } from "./message.ts";
 * const m = parseMessage("WHATSAT kiwi 10 5");
 * if (m.kind !== "WHATSAT" || m.radiusKm !== 10 || m.bound !== 5) throw new Error();
 * ```
 */
export function parseMessage(line: WireText): Message {
  const fields = splitFields(line);
  if (fields.length === 0) return { kind: "empty" };
  switch (fields[0]) {
    case "IAMAT":
      return parseIamat(fields);
    case "WHATSAT":
      return parseWhatsat(fields);
    case "AT":
      return parseAt(fields);
    case "ERASE":
      return parseErase(fields);
    case "HERD":
      return parseHello(fields);
    case "DIGEST":
      return parseDigest(fields);
    case "WANT":
    case "ASK":
      return parsePrefixList(fields);
    case "HAVE":
      return parseHave(fields);
    case "IHAVE":
    case "GRAFT":
      return parseTreeIds(fields);
    case "PRUNE":
      if (fields.length !== 1) {
        return invalid(
          "wrong field count",
          `Cannot parse PRUNE: expected 1 field, got ${fields.length}`,
        );
      }
      return PRUNE;
    case "PING":
    case "PONG":
      return parseKeepalive(fields);
    default:
      return invalid(
        "unknown command",
        `Cannot parse message: unknown command ${JSON.stringify(fields[0])}`,
      );
  }
}

// IAMAT <client-id> <location> <client-time>
function parseIamat(fields: WireText[]): Message {
  if (fields.length !== 4) {
    return invalid(
      "wrong field count",
      `Cannot parse IAMAT: expected 4 fields, got ${fields.length}`,
    );
  }
  let location: Location;
  let clientTime: Decimal;
  try {
    location = parseIso6709(fields[2]);
  } catch (e) {
    return invalid("bad ISO 6709 location", `Cannot parse IAMAT: ${describe(e)}`);
  }
  try {
    clientTime = parseDecimal(fields[3]);
  } catch (e) {
    return invalid("bad POSIX time", `Cannot parse IAMAT: ${describe(e)}`);
  }
  // The id outlives the read it came in (the store keeps it): a copy of its own.
  return {
    kind: "IAMAT",
    clientId: ownCopy(fields[1]),
    location,
    clientTime,
    clientTimeText: fields[3],
  };
}

// WHATSAT <client-id> <radius-km> <bound>
function parseWhatsat(fields: WireText[]): Message {
  if (fields.length !== 4) {
    return invalid(
      "wrong field count",
      `Cannot parse WHATSAT: expected 4 fields, got ${fields.length}`,
    );
  }
  let radius: Decimal;
  try {
    radius = parseDecimal(fields[2]);
  } catch (e) {
    return invalid("radius not a decimal number", `Cannot parse WHATSAT: radius: ${describe(e)}`);
  }
  // A radius so small that it is 0 as a float would reach providers as 0: refuse it too.
  if (isZero(radius) || compareDecimal(radius, RADIUS_MAX) > 0 || Number(fields[2]) === 0) {
    return invalid(
      `radius out of range (0 < r <= ${MAX_RADIUS_KM} km)`,
      `Cannot parse WHATSAT: radius must be > 0 and <= ${MAX_RADIUS_KM} km`,
    );
  }
  if (!BOUND.test(fields[3])) {
    return invalid(
      "bound not an integer",
      `Cannot parse WHATSAT: bound must be an integer, got ${JSON.stringify(fields[3])}`,
    );
  }
  const bound = Number(fields[3]);
  if (bound < MIN_BOUND || bound > MAX_BOUND) {
    return invalid(
      `bound out of range (${MIN_BOUND}..${MAX_BOUND})`,
      `Cannot parse WHATSAT: bound must be ${MIN_BOUND}..${MAX_BOUND}, got ${bound}`,
    );
  }
  return { kind: "WHATSAT", clientId: fields[1], radiusKm: Number(fields[2]), bound };
}

// AT <origin> <skew> <client-id> <location> <client-time>
function parseAt(fields: WireText[]): Message {
  if (fields.length !== 6 && fields.length !== 7) {
    return invalid("wrong field count", `Cannot parse AT: expected 6 fields, got ${fields.length}`);
  }
  if (fields.length === 7 && fields[6] !== TREE_MARK) {
    return invalid(
      "bad tree field",
      `Cannot parse AT: a seventh field must be ${TREE_MARK}, got ${JSON.stringify(fields[6])}`,
    );
  }
  if (!isSkew(fields[2])) {
    return invalid(
      "bad skew",
      `Cannot parse AT: skew must be [+-]D.DDDDDDDDD, got ${JSON.stringify(fields[2])}`,
    );
  }
  let location: Location;
  let clientTime: Decimal;
  try {
    location = parseIso6709(fields[4]);
  } catch (e) {
    return invalid("bad ISO 6709 location", `Cannot parse AT: ${describe(e)}`);
  }
  try {
    clientTime = parseDecimal(fields[5]);
  } catch (e) {
    return invalid("bad POSIX time", `Cannot parse AT: ${describe(e)}`);
  }
  return {
    kind: "AT",
    record: {
      origin: fields[1],
      skew: fields[2],
      clientId: ownCopy(fields[3]),
      location,
      clientTime,
      clientTimeText: fields[5],
    },
    tree: fields.length === 7,
  };
}

// ERASE <origin> <client-id> <time>
function parseErase(fields: WireText[]): Message {
  if (fields.length !== 4) {
    return invalid(
      "wrong field count",
      `Cannot parse ERASE: expected 4 fields, got ${fields.length}`,
    );
  }
  let clientTime: Decimal;
  try {
    clientTime = parseDecimal(fields[3]);
  } catch (e) {
    return invalid("bad POSIX time", `Cannot parse ERASE: ${describe(e)}`);
  }
  return {
    kind: "ERASE",
    tombstone: {
      erased: true,
      origin: fields[1],
      clientId: ownCopy(fields[2]),
      clientTime,
      clientTimeText: fields[3],
    },
  };
}

const PRUNE: PruneMessage = Object.freeze({ kind: "PRUNE" }) as PruneMessage;

// PING <token>   or   PONG <token>
function parseKeepalive(fields: WireText[]): Message {
  const verb = fields[0] as "PING" | "PONG";
  if (fields.length !== 2) {
    return invalid(
      "wrong field count",
      `Cannot parse ${verb}: expected 2 fields, got ${fields.length}`,
    );
  }
  if (!TOKEN.test(fields[1])) {
    return invalid(
      "bad keepalive token",
      `Cannot parse ${verb}: token must be 1 to ${MAX_TOKEN_CHARS} letters and digits`,
    );
  }
  return { kind: verb, token: fields[1] };
}

/**
 * Formats a keepalive line (no terminator).
 *
 * @param verb `PING` to ask, `PONG` to answer.
 * @param token 1 to {@linkcode MAX_TOKEN_CHARS} letters and digits; a `PONG` echoes its `PING`'s.
 * @returns e.g. `PING 7`.
 * @throws {RangeError} If `token` is not 1 to 32 letters and digits.
 * @example
 * ```ts
 * import { formatKeepalive } from "./message.ts";
 * if (formatKeepalive("PONG", "7") !== "PONG 7") throw new Error();
 * ```
 */
export function formatKeepalive(verb: "PING" | "PONG", token: string): WireText {
  if (!TOKEN.test(token)) {
    throw new RangeError(
      `Cannot format ${verb}: token must be 1 to ${MAX_TOKEN_CHARS} letters and digits`,
    );
  }
  return `${verb} ${token}`;
}

// IHAVE <client-id> <client-time> ...   or   GRAFT <client-id> <client-time> ...
function parseTreeIds(fields: WireText[]): Message {
  const verb = fields[0] as "IHAVE" | "GRAFT";
  if (fields.length < 3 || fields.length % 2 === 0) {
    return invalid(
      "wrong field count",
      `Cannot parse ${verb}: expected pairs of client id and client time, got ${
        fields.length - 1
      } fields`,
    );
  }
  const ids: UpdateId[] = [];
  for (let i = 1; i < fields.length; i += 2) {
    let clientTime: Decimal;
    try {
      clientTime = parseDecimal(fields[i + 1]);
    } catch (e) {
      return invalid("bad tree field", `Cannot parse ${verb}: ${describe(e)}`);
    }
    ids.push({ clientId: fields[i], clientTimeText: fields[i + 1], clientTime });
  }
  return { kind: verb, ids };
}

/**
 * Formats `IHAVE` or `GRAFT` lines (each with its LF) for update ids, as many
 * ids per line as fit in `maxLineBytes`.
 *
 * @param verb `IHAVE` or `GRAFT`.
 * @param ids Pairs of client id and client time text, wire text.
 * @param maxLineBytes Longest line, bytes, LF excluded (an id longer than it gets a line alone).
 * @returns Wire text: zero or more lines.
 */
export function formatTreeIds(
  verb: "IHAVE" | "GRAFT",
  ids: ReadonlyArray<readonly [WireText, WireText]>,
  maxLineBytes: number,
): WireText {
  let out = "";
  let line = "";
  for (const [clientId, time] of ids) {
    const part = ` ${clientId} ${time}`;
    if (line !== "" && line.length + part.length > maxLineBytes) {
      out += line + "\n";
      line = "";
    }
    line = (line === "" ? verb : line) + part;
  }
  return line === "" ? out : out + line + "\n";
}

// HERD <version> <server-name> [key=value ...]
function parseHello(fields: WireText[]): Message {
  if (fields.length < 3) {
    return invalid(
      "wrong field count",
      `Cannot parse HERD hello: expected at least 3 fields, got ${fields.length}`,
    );
  }
  if (fields[1] !== HELLO_VERSION) {
    return invalid(
      "bad hello",
      `Cannot parse HERD hello: unsupported version ${JSON.stringify(fields[1])}`,
    );
  }
  const params = new Map<string, WireText>();
  for (const field of fields.slice(3)) {
    const eq = field.indexOf("=");
    if (eq <= 0) {
      return invalid(
        "bad hello",
        `Cannot parse HERD hello: expected key=value, got ${JSON.stringify(field)}`,
      );
    }
    const key = field.slice(0, eq);
    if (params.has(key)) {
      return invalid("bad hello", `Cannot parse HERD hello: repeated key ${JSON.stringify(key)}`);
    }
    params.set(field.slice(0, eq), field.slice(eq + 1));
  }
  return { kind: "HERD", version: fields[1], name: fields[2], params };
}

/**
 * Formats a hello line (no terminator): `HERD 1 <name> [key=value ...]`.
 *
 * @param name The dialling server's name.
 * @param params Extension fields, in order (e.g. a future `mac=...`).
 * @returns The line.
 */
export function formatHello(name: string, params: Iterable<[string, string]> = []): string {
  let line = `HERD ${HELLO_VERSION} ${name}`;
  for (const [k, v] of params) line += ` ${k}=${v}`;
  return line;
}

// DIGEST <prefix> <d0> ... <d15>
function parseDigest(fields: WireText[]): Message {
  if (fields.length !== 2 + DIGEST_FANOUT) {
    return invalid(
      "wrong field count",
      `Cannot parse DIGEST: expected ${2 + DIGEST_FANOUT} fields, got ${fields.length}`,
    );
  }
  const prefix = parsePrefix(fields[1]);
  if (prefix === null || prefix.length >= DIGEST_DEPTH) {
    return invalid(
      "bad anti-entropy field",
      `Cannot parse DIGEST: bad node prefix ${JSON.stringify(fields[1])}`,
    );
  }
  const children: NodeDigest[] = [];
  for (const field of fields.slice(2)) {
    const d = parseNodeDigest(field);
    if (d === null) {
      return invalid(
        "bad anti-entropy field",
        `Cannot parse DIGEST: bad node digest ${JSON.stringify(field)}`,
      );
    }
    children.push(d);
  }
  return { kind: "DIGEST", prefix, children };
}

// WANT <prefix> ...   or   ASK <prefix> ...
function parsePrefixList(fields: WireText[]): Message {
  const verb = fields[0] as "WANT" | "ASK";
  if (fields.length < 2 || fields.length > 1 + MAX_WANT_PREFIXES) {
    return invalid(
      "wrong field count",
      `Cannot parse ${verb}: expected 2 to ${1 + MAX_WANT_PREFIXES} fields, got ${fields.length}`,
    );
  }
  const prefixes: string[] = [];
  for (const field of fields.slice(1)) {
    const prefix = parsePrefix(field);
    if (prefix === null) {
      return invalid(
        "bad anti-entropy field",
        `Cannot parse ${verb}: bad node prefix ${JSON.stringify(field)}`,
      );
    }
    prefixes.push(prefix);
  }
  return { kind: verb, prefixes };
}

const HAVE_ENTRY = /^([0-9a-f]{8}):([0-9]+(?:\.[0-9]+)?)$/;

// HAVE <prefix> [<key>:<client-time> ...]
function parseHave(fields: WireText[]): Message {
  if (fields.length < 2) {
    return invalid("wrong field count", `Cannot parse HAVE: expected a node prefix`);
  }
  const prefix = parsePrefix(fields[1]);
  if (prefix === null) {
    return invalid(
      "bad anti-entropy field",
      `Cannot parse HAVE: bad node prefix ${JSON.stringify(fields[1])}`,
    );
  }
  const times = new Map<number, Decimal | null>();
  for (const field of fields.slice(2)) {
    const m = HAVE_ENTRY.exec(field);
    if (m === null) {
      return invalid(
        "bad anti-entropy field",
        `Cannot parse HAVE: bad entry ${JSON.stringify(field)}`,
      );
    }
    const key = parseInt(m[1], 16);
    times.set(key, times.has(key) ? null : parseDecimal(m[2]));
  }
  return { kind: "HAVE", prefix, times };
}

/**
 * Message to effect, without doing it (PROTOCOL.md sections 2-4): the
 * dispatcher turns one line, the session it came on and a read-only view of
 * the member into an {@linkcode Outcome}: the reply to write back on that
 * connection, and the effects to apply (a record to accept, a session that
 * became a neighbour's, a welcome verified, a session to end, log events).
 * It never stores, persists, floods, logs or writes: the session applies the
 * outcome (session.ts), and record acceptance lives in accept.ts.
 *
 * Synchronous for every line but WHATSAT (it asks the places provider) and
 * hellos and welcomes (the HMAC check is asynchronous), so that a chunk of
 * IAMAT or AT lines costs no promise per line.
 *
 * @module
 */

import type { EventName } from "../events.ts";
import type { EventFields, EventLevel } from "../log.ts";
import { formatNearbySearch } from "../places/nearby_search_json.ts";
import type { NearbySearchResponse, PlacesProvider } from "../places/types.ts";
import {
  type AskMessage,
  type ClientRecord,
  type DigestMessage,
  type ExpiryCutoff,
  expiryCutoff,
  formatAt,
  formatErase,
  formatHello,
  formatKeepalive,
  formatSkew,
  type HaveMessage,
  type HelloMessage,
  type IamatMessage,
  isOlderThan,
  type KeepaliveMessage,
  type Message,
  PARSE_PROBLEMS,
  parseMessage,
  type PruneMessage,
  skewNanos,
  type StoreEntry,
  TREE_MARK,
  type TreeIdsMessage,
  unicodeToWire,
  type WantMessage,
  type WhatsatMessage,
  type WireText,
  wireToDisplay,
} from "../protocol/mod.ts";
import {
  answerAsk,
  answerDigest,
  answerHave,
  answerWant,
  type RecordAnswer,
  type RecordStream,
} from "./anti_entropy.ts";
import type { PeerAuth } from "./auth.ts";
import type { RecordStore } from "./store.ts";

/** What the dispatcher may read of the member. It changes nothing through it. */
export interface MemberView {
  /** This member's name. */
  readonly name: string;
  /** The member's records (read by WHATSAT and anti-entropy answers). */
  readonly store: RecordStore;
  /** Answers WHATSAT's Nearby Search questions. */
  readonly places: PlacesProvider;
  /** Checks hellos and welcomes, signs our welcomes. */
  readonly auth: PeerAuth;
  /** True if `name` is a neighbour allowed to open a peer link to us. */
  isNeighbour(name: string): boolean;
  /**
   * The `key=value` fields this member adds to its hellos and welcomes after the
   * authentication ones: `dissemination=tree` when it disseminates by tree.
   */
  readonly helloParams: ReadonlyArray<[string, string]>;
  /**
   * `[herd] record_ttl_s`, seconds: a record whose client time is older than the receive time
   * minus it is refused, however it comes (protocol/expiry.ts), and anti-entropy answers leave
   * it out. 0 keeps every record. @default 0
   */
  readonly recordTtlS?: number;
}

/** The end of an `AT` line pushed along a broadcast tree. */
const TREE_SUFFIX = ` ${TREE_MARK}`;

/** The hello field by which a member announces epidemic broadcast trees. */
export const TREE_HELLO_PARAM: readonly [string, string] = ["dissemination", "tree"];

/**
 * The hello and welcome key by which a member announces peer keepalive, `keepalive=<ms>`
 * (`peer_timeout_ms`): it answers `PING` with `PONG`, and as a dialler it sends a `PING` whenever
 * its link has been silent for half of that. So a dialler pings only a listener whose welcome
 * announced it (an older member would not answer), and a listener drops a connection for silence
 * only when its hello announced it.
 */
export const KEEPALIVE_HELLO_KEY = "keepalive";

/** Largest `keepalive=<ms>` honoured, ms: the range of `peer_timeout_ms`. */
const MAX_KEEPALIVE_MS = 2147483647;

/**
 * Which side of a connection we are: `listener` for a connection accepted
 * on our port (a client, or a neighbour once its hello is accepted),
 * `dialler` for our own link to a neighbour (we sent the hello).
 */
export type SessionRole = "listener" | "dialler";

/**
 * Which of the member's listeners accepted a listener session (PROTOCOL.md section 1):
 * `shared` for the one port of a member without a peer port (clients and neighbours' hellos),
 * `client` for the client port of a member with a peer port (no hello accepted: `? ` as for any
 * unknown line), `peer` for its peer port (the first line must be an accepted hello; anything
 * else is answered `? <line>` and the connection is closed).
 */
export type ListenerKind = "shared" | "client" | "peer";

/** Why a connection on a peer port is closed when its first line is not a hello. */
export const NOT_A_HELLO = "client line on the peer port";

/** What the dispatcher reads of a session. */
export interface SessionView {
  /** Connection id, unique per member, for logs. */
  readonly id: number;
  /** `host:port` of the other end. */
  readonly remote: string;
  /** IP address of the other end (what host-based peer checks compare). */
  readonly remoteHost: string;
  /** Which side we are. */
  readonly role: SessionRole;
  /** Non-blank lines before this one (a hello must be the first). */
  readonly lines: number;
  /**
   * The neighbour: on a listener session, set once its hello was accepted
   * (`null` for a client); on a dialler session, the neighbour dialled.
   */
  readonly peer: string | null;
  /** Dialler sessions: the neighbour's welcome was verified. */
  readonly welcomed: boolean;
  /** Listener sessions: the listener that accepted it. @default "shared" */
  readonly listener?: ListenerKind;
}

/** Why a dialler session ends when the neighbour answered our hello with `? `. */
export const HELLO_REFUSED = "hello refused";

/**
 * Why a member answered a line with `? ` (the `reason` of its `reply.out`
 * event), in a few words from this fixed list, so that the log can be
 * grepped and `? ` replies counted by reason. The wire says none of it.
 */
export const INVALID_REASONS = [
  /** The line does not parse: one of {@linkcode PARSE_PROBLEMS}. */
  ...PARSE_PROBLEMS,
  /** WHATSAT for a client id the member holds no record of. */
  "unknown client",
  /** A valid AT, ERASE, DIGEST, ASK, HAVE, WANT, PING or PONG line on a connection that is no neighbour's. */
  "peer message from a client",
  /** A valid hello refused: not the first line, not a neighbour, or failed authentication. */
  HELLO_REFUSED,
  /** A line over `max_line_bytes` (the reply carries its first `max_line_bytes` bytes). */
  "line too long",
  /** Anything but a hello as the first line on a peer port; the connection is then closed. */
  NOT_A_HELLO,
] as const;

/** One of {@linkcode INVALID_REASONS}. */
export type InvalidReason = typeof INVALID_REASONS[number];

/**
 * A reply: what to write, and its text for the log. It stays wire text until
 * the session writes it, so the replies to one read become bytes in one
 * conversion rather than one each.
 */
export interface Reply {
  /** Exact bytes to write in one write as wire text, terminator(s) included. */
  wire: WireText;
  /** Display text (UTF-8 decoded) for `reply.out` log events. */
  text: string;
  /** Why, for a `? ` reply (its `reply.out` event's `reason`); `undefined` for any other. */
  reason: InvalidReason | undefined;
  /**
   * Anti-entropy records to send after `wire`, built a chunk at a time as they are written
   * (anti_entropy.ts), so that a large answer never stalls the member; not in `text`.
   */
  rest?: RecordStream;
}

/** Something the session must do because of a line. */
export type Effect =
  /**
   * Accept a record (or a tombstone): store if newer, persist, disseminate, log (accept.ts).
   * `tree` is true for an eager push along a broadcast tree (an AT line with the `tree` mark).
   */
  | { kind: "accept"; record: StoreEntry; line: WireText; from: string | null; tree: boolean }
  /**
   * Listener: the hello of neighbour `name` was accepted; our own link to it may redial now.
   * `keepaliveMs`: the silence after which its connection may be dropped (its hello's
   * `keepalive=`), 0 when it announced none.
   */
  | { kind: "peer"; name: string; keepaliveMs: number }
  /**
   * Dialler: the neighbour's welcome was verified; the link may carry records. `tree`: the
   * welcome announced epidemic broadcast trees; `keepalive`: it answers `PING`.
   */
  | { kind: "welcomed"; tree: boolean; keepalive: boolean }
  /**
   * A neighbour's tree push (`AT ... tree`) of exactly the record held (`line`, unmarked, no
   * terminator), recognised without a parse: for the broadcast tree (broadcast_tree.ts).
   */
  | { kind: "copy"; from: string; line: WireText }
  /** A neighbour's broadcast-tree line: an announcement, a graft or a prune (tree.ts). */
  | { kind: "tree"; from: string; message: TreeIdsMessage | PruneMessage }
  /**
   * End the session once the reply is written: a dialler's whose welcome failed (`refused` when
   * the neighbour refused our hello), or a stranger's on a peer port.
   */
  | { kind: "end"; reason: string; refused: boolean }
  /**
   * A record refused on arrival, for the log (`record.refused`): `expired`, its client time older
   * than the receive time minus `record_ttl_s`. `from`: the neighbour, or `null` for a client.
   */
  | { kind: "refused"; clientId: WireText; from: string | null; reason: "expired" }
  /** Anti-entropy sent this much in the reply (counters). */
  | { kind: "synced"; digests: number; bytes: number; records: number }
  /** A log event. */
  | { kind: "event"; level: EventLevel; event: EventName; fields: EventFields };

/** What one line leads to. */
export interface Outcome {
  /** Written back on the same connection, or `null`. */
  reply: Reply | null;
  /** Applied in order, before the reply is written. */
  effects: Effect[];
}

/** The outcome of a blank line: no reply, no effect, and it does not count as a line. */
export const BLANK: Outcome = Object.freeze({ reply: null, effects: [] }) as Outcome;

/**
 * The `? ` reply for a line that is not a valid message: `? ` and the line's
 * bytes exactly as received (PROTOCOL.md section 2, "Anything else").
 *
 * @param line Wire text of the line (for overlong lines, its first bytes).
 * @param reason Why, for the log only.
 * @returns The reply.
 */
export function invalidReply(line: WireText, reason: InvalidReason): Reply {
  const wire = `? ${line}\n`;
  return { wire, text: wireToDisplay(wire), reason };
}

function wireReply(wire: WireText): Reply {
  return { wire, text: wireToDisplay(wire), reason: undefined };
}

function event(level: EventLevel, name: EventName, fields: EventFields): Effect {
  return { kind: "event", level, event: name, fields };
}

function only(reply: Reply | null, ...effects: Effect[]): Outcome {
  return { reply, effects };
}

/**
 * Dispatches one line.
 *
 * @param line Wire text of the line, terminator removed.
 * @param session The connection it came on.
 * @param member The member, read-only.
 * @param receivedNs When the line's bytes were read, POSIX ns (the IAMAT skew's clock).
 * @returns The outcome; a promise for WHATSAT, hellos and welcomes. Never rejects: a failing
 *   places provider or auth check still gives an outcome.
 */
export function dispatch(
  line: WireText,
  session: SessionView,
  member: MemberView,
  receivedNs: bigint,
): Outcome | Promise<Outcome> {
  // A neighbour's copy of the record we hold needs nothing: not even a parse.
  if (session.peer !== null && (session.role === "listener" || session.welcomed)) {
    const copy = heldCopy(line, member.store);
    if (copy === "plain") return HELD_COPY;
    // The tree's push of it: the tree may act (prune, or relay a held first-hop copy).
    if (copy !== null) return only(null, { kind: "copy", from: session.peer, line: copy });
  }

  const msg = parseMessage(line);
  // Blank lines do not count: the hello may follow them.
  if (msg.kind === "empty") return BLANK;
  if (session.role === "dialler") {
    return fromNeighbourWeDialled(msg, line, session, member, receivedNs);
  }
  // A peer port serves neighbours only: a stranger's first line must be its hello.
  if (session.listener === "peer" && session.peer === null && msg.kind !== "HERD") {
    return notAHello(line, session);
  }
  switch (msg.kind) {
    case "IAMAT":
      return iamat(msg, member, receivedNs);
    case "WHATSAT":
      return whatsat(msg, line, member);
    case "AT":
      if (session.peer === null) return only(invalidReply(line, "peer message from a client"));
      return neighbourEntry(
        msg.record,
        formatAt(msg.record),
        msg.tree,
        session.peer,
        member,
        receivedNs,
      );
    case "ERASE":
      if (session.peer === null) return only(invalidReply(line, "peer message from a client"));
      return neighbourEntry(
        msg.tombstone,
        formatErase(msg.tombstone),
        false,
        session.peer,
        member,
        receivedNs,
      );
    case "HERD":
      return hello(msg, line, session, member);
    case "DIGEST":
    case "WANT":
    case "ASK":
    case "HAVE":
      if (session.peer === null) return only(invalidReply(line, "peer message from a client"));
      return antiEntropy(msg, session.peer, member, session.role, receivedNs);
    case "IHAVE":
    case "GRAFT":
    case "PRUNE":
      if (session.peer === null) return only(invalidReply(line, "peer message from a client"));
      return only(null, { kind: "tree", from: session.peer, message: msg });
    case "PING":
    case "PONG":
      if (session.peer === null) return only(invalidReply(line, "peer message from a client"));
      return keepalive(msg);
    case "invalid":
      if (session.peer !== null) {
        return only(null, peerInvalid(session, msg.reason, line));
      }
      return only(
        invalidReply(line, msg.problem),
        event("debug", "msg.invalid", { conn: session.id, reason: msg.reason }),
      );
  }
}

/**
 * The outcome of a neighbour's unmarked `AT` line that is exactly the record held for its
 * client (a flood's duplicate): no reply, no effect, but a line.
 */
export const HELD_COPY: Outcome = Object.freeze({ reply: null, effects: [] }) as Outcome;

/**
 * Whether `line` is a neighbour's copy of exactly the record held for its client, recognised on
 * the stored bytes (`RecordStore.holds()`: nothing parsed or decoded): `"plain"` for an unmarked
 * `AT` line (a flood's duplicate), the line without its mark for an eager tree push, `null` for
 * anything else.
 */
function heldCopy(line: WireText, store: RecordStore): "plain" | WireText | null {
  if (store.holds(line)) return "plain";
  if (!line.endsWith(TREE_SUFFIX)) return null;
  const unmarked = line.slice(0, -TREE_SUFFIX.length);
  return store.holds(unmarked) ? unmarked : null;
}

/**
 * Dispatches a line over the line limit, of which only the first bytes were
 * kept (PROTOCOL.md section 1): a client gets `? ` and those bytes; a
 * neighbour's line is logged and dropped.
 *
 * @param head Wire text of the line's first `maxLineBytes` bytes.
 * @param session The connection it came on.
 * @param maxLineBytes The limit it went over, bytes (for the log).
 * @returns The outcome.
 */
export function dispatchOverlong(
  head: WireText,
  session: SessionView,
  maxLineBytes: number,
): Outcome {
  if (session.listener === "peer" && session.peer === null) return notAHello(head, session);
  if (session.peer === null) return only(invalidReply(head, "line too long"));
  return only(
    null,
    event("warning", "peer.invalid", {
      peer: session.peer,
      conn: session.id,
      remote: session.remote,
      reason: `line over ${maxLineBytes} bytes`,
    }),
  );
}

/** A stranger's line on a peer port: `? <line>`, then the connection ends. */
function notAHello(line: WireText, session: SessionView): Outcome {
  return only(
    invalidReply(line, NOT_A_HELLO),
    event("debug", "msg.invalid", { conn: session.id, reason: NOT_A_HELLO }),
    { kind: "end", reason: NOT_A_HELLO, refused: false },
  );
}

function peerInvalid(session: SessionView, why: string, line: WireText): Effect {
  return event("warning", "peer.invalid", {
    peer: session.peer ?? undefined,
    conn: session.id,
    remote: session.remote,
    reason: why,
    line: wireToDisplay(line),
  });
}

// IAMAT <client-id> <location> <client-time>
function iamat(msg: IamatMessage, member: MemberView, receivedNs: bigint): Outcome {
  const record: ClientRecord = {
    origin: member.name,
    skew: formatSkew(skewNanos(receivedNs, msg.clientTime)),
    clientId: msg.clientId,
    location: msg.location,
    clientTime: msg.clientTime,
    clientTimeText: msg.clientTimeText,
  };
  const line = formatAt(record);
  // The reply is the IAMAT's own AT line, whether or not it turns out newer, or expired.
  const reply = wireReply(line + "\n");
  if (expiredOnArrival(msg.clientTimeText, member, receivedNs)) {
    return only(reply, { kind: "refused", clientId: msg.clientId, from: null, reason: "expired" });
  }
  return only(reply, { kind: "accept", record, line, from: null, tree: false });
}

/**
 * The cutoff of the last receive time and TTL seen: the lines of one read share their receive
 * time, so a read of a thousand IAMAT or AT lines computes it (bigint arithmetic) once, not a
 * thousand times. A memo of a pure function: any member may use it.
 */
let memoNowNs = -1n;
let memoTtlS = -1;
let memoCutoff: ExpiryCutoff | null = null;

/** True if a record with this client time is expired when it arrives (`record_ttl_s`). */
function expiredOnArrival(clientTime: WireText, member: MemberView, receivedNs: bigint): boolean {
  const ttl = member.recordTtlS;
  if (ttl === undefined || ttl <= 0) return false;
  if (receivedNs !== memoNowNs || ttl !== memoTtlS) {
    memoCutoff = expiryCutoff(receivedNs, ttl);
    memoNowNs = receivedNs;
    memoTtlS = ttl;
  }
  return memoCutoff !== null && isOlderThan(clientTime, memoCutoff);
}

// AT <origin> <skew> <client-id> <location> <client-time> [tree]   (from a neighbour)
// ERASE <origin> <client-id> <time>   (a neighbour's tombstone, flooded or reconciled)
/**
 * A neighbour's record or tombstone (`line`, as formatted): refused if it has already expired (a
 * tombstone expires by its time like a record), else accepted.
 */
function neighbourEntry(
  entry: StoreEntry,
  line: WireText,
  tree: boolean,
  from: string,
  member: MemberView,
  receivedNs: bigint,
): Outcome {
  if (expiredOnArrival(entry.clientTimeText, member, receivedNs)) {
    return only(null, { kind: "refused", clientId: entry.clientId, from, reason: "expired" });
  }
  return only(null, { kind: "accept", record: entry, line, from, tree });
}

// WHATSAT <client-id> <radius-km> <bound>
async function whatsat(msg: WhatsatMessage, line: WireText, member: MemberView): Promise<Outcome> {
  const record = member.store.get(msg.clientId);
  if (record === undefined) return only(invalidReply(line, "unknown client"));
  const effects: Effect[] = [];
  const provider = member.places.name;
  let response: NearbySearchResponse;
  try {
    response = await member.places.nearby({
      latitude: record.location.latitude,
      longitude: record.location.longitude,
      radiusM: msg.radiusKm * 1000,
      maxResults: msg.bound,
    });
  } catch (e) {
    // Providers promise not to reject; if one does, the client still gets the shape.
    const message = e instanceof Error ? e.message : String(e);
    effects.push(event("error", "places.error", { provider, reason: message }));
    response = {
      html_attributions: [],
      results: [],
      status: "UNKNOWN_ERROR",
      error_message: message,
    };
  }
  if (response.status !== "OK" && response.status !== "ZERO_RESULTS") {
    effects.push(event("warning", "places.error", {
      provider,
      status: response.status,
      reason: response.error_message ?? "",
    }));
  }
  const at = formatAt(record);
  const json = formatNearbySearch(response) + "\n\n";
  return {
    reply: {
      wire: at + "\n" + unicodeToWire(json),
      text: wireToDisplay(at) + "\n" + json,
      reason: undefined,
    },
    effects,
  };
}

// HERD 1 <server-name> [key=value ...]   (first line of a neighbour's link to us)
async function hello(
  msg: HelloMessage,
  line: WireText,
  session: SessionView,
  member: MemberView,
): Promise<Outcome> {
  const fields = { conn: session.id, remote: session.remote, peer: wireToDisplay(msg.name) };
  let why: string | null;
  if (session.listener === "client") why = "hello on the client port (this member has a peer port)";
  else if (session.lines !== 0) why = "hello after first line";
  else if (!member.isNeighbour(msg.name)) why = "not a neighbour";
  else why = await checked(member.auth, "hello", msg, member.name, session.remoteHost);
  if (why !== null) {
    const refused = only(
      invalidReply(line, HELLO_REFUSED),
      event("warning", "peer.link.rejected", { ...fields, reason: why }),
    );
    // On a peer port the connection ends; elsewhere it stays a client's: its AT lines get `? `.
    if (session.listener === "peer") {
      refused.effects.push({ kind: "end", reason: `${HELLO_REFUSED}: ${why}`, refused: false });
    }
    return refused;
  }
  const auth = await member.auth.sign("welcome", member.name, msg.name);
  return only(
    wireReply(formatHello(member.name, [...auth, ...member.helloParams]) + "\n"),
    { kind: "peer", name: msg.name, keepaliveMs: keepaliveOf(msg) },
    event("info", "peer.link.accepted", fields),
  );
}

/** A hello's `keepalive=<ms>`, or 0 if absent or not a whole number of ms in range. */
function keepaliveOf(msg: HelloMessage): number {
  const text = msg.params.get(KEEPALIVE_HELLO_KEY);
  if (text === undefined || !/^[1-9][0-9]{0,9}$/.test(text)) return 0;
  const ms = Number(text);
  return ms <= MAX_KEEPALIVE_MS ? ms : 0;
}

// PING <token>   or   PONG <token>   (a neighbour's; any bytes already counted as a sign of life)
function keepalive(msg: KeepaliveMessage): Outcome {
  if (msg.kind === "PONG") return BLANK_LINE;
  return only(wireReply(formatKeepalive("PONG", msg.token) + "\n"));
}

/** The outcome of a line that needs nothing done: no reply, no effect, but it counts as a line. */
const BLANK_LINE: Outcome = Object.freeze({ reply: null, effects: [] }) as Outcome;

/** An auth check that cannot reject: a throwing check refuses, with its reason. */
async function checked(
  auth: PeerAuth,
  kind: "hello" | "welcome",
  msg: HelloMessage,
  to: string,
  remoteHost: string,
): Promise<string | null> {
  try {
    return await auth.check(kind, msg, to, remoteHost);
  } catch (e) {
    return `check failed: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/**
 * A line on our own link to a neighbour: first its welcome (or a `? ` for a
 * refused hello), then records and anti-entropy lines, which we answer as
 * the side that pushes.
 */
function fromNeighbourWeDialled(
  msg: Message,
  line: WireText,
  session: SessionView,
  member: MemberView,
  receivedNs: bigint,
): Outcome | Promise<Outcome> {
  const peer = session.peer ?? "";
  if (msg.kind === "HERD" && !session.welcomed) return welcome(msg, session, member);
  if (session.welcomed) {
    switch (msg.kind) {
      case "AT":
        return neighbourEntry(msg.record, formatAt(msg.record), msg.tree, peer, member, receivedNs);
      case "ERASE":
        return neighbourEntry(
          msg.tombstone,
          formatErase(msg.tombstone),
          false,
          peer,
          member,
          receivedNs,
        );
      case "DIGEST":
      case "WANT":
      case "ASK":
      case "HAVE":
        return antiEntropy(msg, peer, member, session.role, receivedNs);
      case "IHAVE":
      case "GRAFT":
      case "PRUNE":
        return only(null, { kind: "tree", from: peer, message: msg });
      case "PING":
      case "PONG":
        return keepalive(msg);
    }
  }
  const text = wireToDisplay(line);
  if (session.welcomed && (text.startsWith("? PING ") || text.startsWith("? PONG "))) {
    // An older neighbour that does not know keepalive: its answer is alive all the same.
    return only(
      null,
      event("debug", "peer.link.reply", { peer, remote: session.remote, line: text }),
    );
  }
  if (!text.startsWith("? ")) {
    if (session.welcomed) return only(null, peerInvalid(session, "not a peer message", line));
    return only(
      null,
      event("debug", "peer.link.reply", { peer, remote: session.remote, line: text }),
    );
  }
  const refused = event("warning", "peer.link.refused", {
    peer,
    remote: session.remote,
    line: text,
  });
  // Our hello was refused: everything we send would be refused too.
  if (text.startsWith("? HERD ")) {
    return only(null, refused, { kind: "end", reason: HELLO_REFUSED, refused: true });
  }
  return only(null, refused);
}

async function welcome(
  msg: HelloMessage,
  session: SessionView,
  member: MemberView,
): Promise<Outcome> {
  const peer = session.peer ?? "";
  const why = msg.name !== peer
    ? `welcome names ${wireToDisplay(msg.name)}`
    : await checked(member.auth, "welcome", msg, member.name, session.remoteHost);
  if (why !== null) {
    return only(null, { kind: "end", reason: `welcome rejected: ${why}`, refused: false });
  }
  return only(
    null,
    {
      kind: "welcomed",
      tree: msg.params.get(TREE_HELLO_PARAM[0]) === TREE_HELLO_PARAM[1],
      keepalive: keepaliveOf(msg) > 0,
    },
    event("debug", "peer.link.welcome", { peer, remote: session.remote }),
  );
}

/**
 * Answers a neighbour's anti-entropy line (see anti_entropy.ts): on our own
 * link we push records, on a link the neighbour dialled we ask for them.
 * With `record_ttl_s`, records we hold but would refuse now (expired, not yet
 * swept) are not sent.
 */
function antiEntropy(
  msg: DigestMessage | WantMessage | AskMessage | HaveMessage,
  peer: string,
  member: MemberView,
  role: SessionRole,
  receivedNs: bigint,
): Outcome {
  const store = member.store;
  if (msg.kind === "ASK") {
    const text = answerAsk(msg, store);
    return syncReply(text, 0, 0, null);
  }
  const cutoff = member.recordTtlS ? expiryCutoff(receivedNs, member.recordTtlS) : null;
  const fresh = cutoff === null ? undefined : (time: WireText) => !isOlderThan(time, cutoff);
  if (msg.kind === "WANT" || msg.kind === "HAVE") {
    // A HAVE names a node small enough to list, so its answer is never large.
    const sent: RecordAnswer = msg.kind === "WANT"
      ? answerWant(msg, store, fresh)
      : { ...answerHave(msg, store, fresh), rest: null };
    const rest = sent.rest;
    return syncReply(
      sent.text,
      0,
      sent.records,
      rest,
      event("debug", msg.kind === "WANT" ? "sync.want" : "sync.have", {
        peer,
        prefix: msg.kind === "WANT" ? msg.prefixes.join(",") : msg.prefix,
        records: sent.records + (rest?.expected ?? 0),
      }),
    );
  }
  const answer = answerDigest(msg, store, role, fresh);
  return syncReply(
    answer.text,
    1,
    answer.records,
    answer.rest,
    event(msg.prefix === "" ? "info" : "debug", "sync.digest", {
      peer,
      prefix: msg.prefix === "" ? "-" : msg.prefix,
      differing: answer.differing,
    }),
  );
}

/**
 * An anti-entropy reply: `text` now, and `rest` built as written. The `synced` effect counts
 * `text`; the session counts each chunk of `rest` as it is built.
 */
function syncReply(
  text: WireText,
  digests: number,
  records: number,
  rest: RecordStream | null,
  ...more: Effect[]
): Outcome {
  const effects: Effect[] = [{ kind: "synced", digests, bytes: text.length, records }, ...more];
  if (rest !== null) return { reply: { ...wireReply(text), rest }, effects };
  return {
    reply: text === "" ? null : wireReply(text),
    effects,
  };
}

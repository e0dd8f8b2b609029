/**
 * Message to effect: turns one parsed line and the member's state into a
 * reply (PROTOCOL.md sections 2-4). Handlers never touch sockets; the
 * connection loop writes what they return.
 *
 * @module
 */

import type { EventLog } from "../log.ts";
import type { NearbySearchResponse, PlacesProvider } from "../places/types.ts";
import { formatNearbySearch } from "../places/nearby_search_json.ts";
import {
  type AskMessage,
  type AtMessage,
  type ClientRecord,
  type DigestMessage,
  formatAt,
  formatHello,
  formatSkew,
  type HaveMessage,
  type HelloMessage,
  type IamatMessage,
  parseMessage,
  skewNanos,
  unicodeToWire,
  type WantMessage,
  type WhatsatMessage,
  type WireText,
  wireToDisplay,
} from "../protocol/mod.ts";
import { answerAsk, answerDigest, answerHave, answerWant } from "./anti_entropy.ts";
import type { PeerAuth } from "./auth.ts";
import type { Clock } from "./clock.ts";
import { flood, type FloodTarget } from "./flood.ts";
import type { RecordStore } from "./store.ts";

/** What a handler may read and change: the member, seen from one line. */
export interface MemberContext {
  /** This member's name. */
  readonly name: string;
  /** The member's records, one per client id (read by WHATSAT, written by IAMAT/AT). */
  readonly store: RecordStore;
  /** Outgoing neighbour links by name (where floods go). */
  readonly links: ReadonlyMap<string, FloodTarget>;
  /** Answers WHATSAT's Nearby Search questions. */
  readonly places: PlacesProvider;
  /** Wall clock, POSIX ns: when a line was received, for IAMAT skews. */
  readonly clock: Clock;
  /** Event sink (invalid lines, stored records, peer hellos, places errors). */
  readonly log: EventLog;
  /** True if `name` is a neighbour allowed to open a peer link to us. */
  isNeighbour(name: string): boolean;
  /**
   * Called when neighbour `name`'s hello is accepted: it is up, so our own
   * link to it, if waiting to redial, should dial now.
   */
  neighbourBack(name: string): void;
  /** Checks hellos and signs our welcomes. */
  readonly auth: PeerAuth;
  /** Anti-entropy counters, updated by the handlers. */
  readonly sync: SyncCounters;
}

/** What anti-entropy has cost a member so far. */
export interface SyncCounters {
  /** DIGEST lines answered. */
  digests: number;
  /** Bytes of anti-entropy traffic this member sent (DIGEST, WANT and AT lines it answered with). */
  bytesSent: number;
  /** Records sent in answers. */
  recordsSent: number;
}

/** Per-connection state the handlers need. */
export interface Session {
  /** Connection id, unique per member, for logs. */
  readonly id: number;
  /** `host:port` of the other end. */
  readonly remote: string;
  /** IP address of the other end (what host-based peer checks compare). */
  readonly remoteHost: string;
  /** Non-blank lines seen so far on this connection (the hello must be the first). */
  lines: number;
  /** Neighbour name once its hello was accepted, else `null` (a client). */
  peer: string | null;
}

/**
 * A reply: what to write, and its text for the log. It stays wire text until
 * the connection writes it, so the replies to one read become bytes in one
 * conversion rather than one each.
 */
export interface Reply {
  /** Exact bytes to write in one write as wire text, terminator(s) included. */
  wire: WireText;
  /** Display text (UTF-8 decoded) for `reply.out` log events. */
  text: string;
}

/** Builds a reply from wire text (AT lines, `? ` lines). */
function wireReply(wire: WireText): Reply {
  return { wire, text: wireToDisplay(wire) };
}

function wireOrNull(wire: WireText): Reply | null {
  return wire === "" ? null : wireReply(wire);
}

/**
 * The `? ` reply for a line that is not a valid message: `? ` and the line's
 * bytes exactly as received (PROTOCOL.md section 2, "Anything else").
 *
 * @param line Wire text of the line (for overlong lines, its first bytes).
 * @returns The reply.
 */
export function invalidReply(line: WireText): Reply {
  return wireReply(`? ${line}\n`);
}

/**
 * Handles one line. Synchronous for everything but WHATSAT, which asks the
 * places provider.
 *
 * @param line Wire text of the line, terminator removed.
 * @param session The connection it came on.
 * @param ctx The member.
 * @param receivedNs When the line's bytes were read, POSIX ns (the IAMAT skew's clock).
 * @returns The reply, or `null` when none is due (blank lines, flooded AT lines).
 */
export function handleLine(
  line: WireText,
  session: Session,
  ctx: MemberContext,
  receivedNs: bigint = ctx.clock(),
): Reply | null | Promise<Reply> {
  const msg = parseMessage(line);
  // Blank lines do not count: the hello may follow them.
  if (msg.kind === "empty") return null;
  const first = session.lines++ === 0;
  switch (msg.kind) {
    case "IAMAT":
      return handleIamat(msg, ctx, receivedNs);
    case "WHATSAT":
      return handleWhatsat(msg, line, ctx);
    case "AT":
      return handleAt(msg, line, session, ctx);
    case "HERD":
      return handleHello(msg, line, first, session, ctx);
    case "DIGEST":
    case "WANT":
    case "ASK":
    case "HAVE":
      if (session.peer === null) return invalidReply(line);
      // On a connection the neighbour dialled, we are the side that asks.
      return wireOrNull(handlePeerSync(msg, session.peer, ctx, false));
    case "invalid":
      if (session.peer !== null) {
        ctx.log.emit("warning", "peer.invalid", {
          peer: session.peer,
          conn: session.id,
          remote: session.remote,
          reason: msg.reason,
          line: wireToDisplay(line),
        });
        return null;
      }
      ctx.log.emit("debug", "msg.invalid", { conn: session.id, reason: msg.reason });
      return invalidReply(line);
  }
}

// IAMAT <client-id> <location> <client-time>
function handleIamat(msg: IamatMessage, ctx: MemberContext, receivedNs: bigint): Reply {
  const record: ClientRecord = {
    origin: ctx.name,
    skew: formatSkew(skewNanos(receivedNs, msg.clientTime)),
    clientId: msg.clientId,
    location: msg.location,
    clientTime: msg.clientTime,
    clientTimeText: msg.clientTimeText,
  };
  // Store and hand the flood to the links before the reply exists, so a
  // client that reads its AT line can find the update at a neighbour.
  const line = formatAt(record);
  if (ctx.store.apply(record, line)) flood(line, ctx.links);
  return wireReply(line + "\n");
}

// WHATSAT <client-id> <radius-km> <bound>
async function handleWhatsat(
  msg: WhatsatMessage,
  line: WireText,
  ctx: MemberContext,
): Promise<Reply> {
  const record = ctx.store.get(msg.clientId);
  if (record === undefined) return invalidReply(line);
  let response: NearbySearchResponse;
  try {
    response = await ctx.places.nearby({
      latitude: record.location.latitude,
      longitude: record.location.longitude,
      radiusM: msg.radiusKm * 1000,
      maxResults: msg.bound,
    });
  } catch (e) {
    // Providers promise not to reject; if one does, the client still gets the shape.
    const message = e instanceof Error ? e.message : String(e);
    ctx.log.emit("error", "places.error", { provider: ctx.places.name, reason: message });
    response = {
      html_attributions: [],
      results: [],
      status: "UNKNOWN_ERROR",
      error_message: message,
    };
  }
  if (response.status !== "OK" && response.status !== "ZERO_RESULTS") {
    ctx.log.emit("warning", "places.error", {
      provider: ctx.places.name,
      status: response.status,
      reason: response.error_message ?? "",
    });
  }
  const at = formatAt(record);
  const json = formatNearbySearch(response) + "\n\n";
  return { wire: at + "\n" + unicodeToWire(json), text: wireToDisplay(at) + "\n" + json };
}

// AT <origin> <skew> <client-id> <location> <client-time>   (peers only)
function handleAt(
  msg: AtMessage,
  line: WireText,
  session: Session,
  ctx: MemberContext,
): Reply | null {
  if (session.peer === null) return invalidReply(line);
  applyFromPeer(msg, session.peer, ctx);
  return null;
}

/**
 * Applies a record a neighbour sent (a flood or an anti-entropy answer): if it
 * is newer, stores it and floods it to every other neighbour.
 *
 * @param msg The AT line, parsed.
 * @param peer The neighbour's name.
 * @param ctx The member.
 * @returns True if it was newer (stored and flooded).
 */
export function applyFromPeer(msg: AtMessage, peer: string, ctx: MemberContext): boolean {
  const line = formatAt(msg.record);
  if (!ctx.store.apply(msg.record, line)) return false;
  const n = flood(line, ctx.links, peer);
  ctx.log.emit("debug", "record.stored", {
    peer,
    client: wireToDisplay(msg.record.clientId),
    forwardedTo: n,
  });
  return true;
}

/**
 * Answers a neighbour's anti-entropy line (see `anti_entropy.ts`).
 *
 * @param msg `DIGEST` or `WANT`.
 * @param peer The neighbour's name.
 * @param ctx The member.
 * @param pusher True on our own link to `peer` (we send records), false on its link to us.
 * @returns The lines to send back (wire text, each with `\n`), or `""`.
 */
export function handlePeerSync(
  msg: DigestMessage | WantMessage | AskMessage | HaveMessage,
  peer: string,
  ctx: MemberContext,
  pusher: boolean,
): WireText {
  if (msg.kind === "ASK") {
    const text = answerAsk(msg, ctx.store);
    ctx.sync.bytesSent += text.length;
    return text;
  }
  if (msg.kind === "WANT" || msg.kind === "HAVE") {
    const sent = msg.kind === "WANT" ? answerWant(msg, ctx.store) : answerHave(msg, ctx.store);
    ctx.sync.bytesSent += sent.text.length;
    ctx.sync.recordsSent += sent.records;
    ctx.log.emit("debug", msg.kind === "WANT" ? "sync.want" : "sync.have", {
      peer,
      prefix: msg.kind === "WANT" ? msg.prefixes.join(",") : msg.prefix,
      records: sent.records,
    });
    return sent.text;
  }
  const answer = answerDigest(msg, ctx.store, pusher);
  ctx.sync.digests++;
  ctx.sync.bytesSent += answer.text.length;
  ctx.log.emit(msg.prefix === "" ? "info" : "debug", "sync.digest", {
    peer,
    prefix: msg.prefix === "" ? "-" : msg.prefix,
    differing: answer.differing,
  });
  return answer.text;
}

// HERD 1 <server-name> [key=value ...]   (first line of a neighbour's link)
async function handleHello(
  msg: HelloMessage,
  line: WireText,
  first: boolean,
  session: Session,
  ctx: MemberContext,
): Promise<Reply> {
  const fields = { conn: session.id, remote: session.remote, peer: wireToDisplay(msg.name) };
  let why: string | null;
  if (!first) why = "hello after first line";
  else if (!ctx.isNeighbour(msg.name)) why = "not a neighbour";
  else why = await ctx.auth.check("hello", msg, ctx.name, session.remoteHost);
  if (why !== null) {
    // Stays a client: its AT lines get `? `.
    ctx.log.emit("warning", "peer.link.rejected", { ...fields, reason: why });
    return invalidReply(line);
  }
  session.peer = msg.name;
  ctx.log.emit("info", "peer.link.accepted", fields);
  ctx.neighbourBack(msg.name);
  const auth = await ctx.auth.sign("welcome", ctx.name, msg.name);
  return wireReply(formatHello(ctx.name, auth) + "\n");
}

/**
 * What the dashboard page concludes from what the members answer: the state
 * of each member and link (issue 12's rules), each link's rates, the newest of
 * several records of a client, and an update's journey through the herd.
 * Pure: no DOM, no fetch, no clock, so the rules are tested as tables
 * (tests/http/dashboard/model_test.ts) and the page only draws the results.
 *
 * Bundled into the page by scripts/build_dashboard.ts; the member never runs it.
 *
 * @module
 */

import { parseDecimal } from "../../protocol/decimal.ts";
import { parseIso6709 } from "../../protocol/iso6709.ts";
import { type ClientRecord, isNewer } from "../../protocol/record.ts";

/** One entry of `neighbours` in `GET /v1/herd`: a member's own (dialled) link to a neighbour. */
export interface NeighbourReport {
  /** The neighbour's name. */
  name: string;
  /** `up` once the link it dialled is welcomed, else `down`. */
  state: "up" | "down";
  /** When it entered that state, ISO 8601. */
  since: string;
  /** Lines waiting on the link. */
  queued: number;
  /** Flood lines handed to the link per second. */
  sent_per_s: number;
  /** Lines received from the neighbour per second. */
  received_per_s: number;
}

/** The body of `GET /v1/herd` (docs/HTTP.md). */
export interface HerdReport {
  /** The answering member's name. */
  member: string;
  /** herd's version. */
  version: string;
  /** Seconds since it started. */
  uptime_s: number;
  /** Records it holds. */
  records: number;
  /** Lines received per second. */
  lines_per_s: number;
  /** Every member of herd.toml, with the base URL of its HTTP API (`null` without one). */
  members: { name: string; http: string | null }[];
  /** Its own links. */
  neighbours: NeighbourReport[];
  /** herd.toml's links, each as written there. */
  links: [string, string][];
}

/** How the page shows a member (the `data-state` of `[data-member]`). */
export type MemberState = "up" | "down" | "unreachable";

/** How the page shows a link (the `data-state` of `[data-link]`). */
export type LinkState = "up" | "down";

/**
 * The last answer of each member's `GET /v1/herd`: the report, or `null`
 * when its HTTP failed (or it has no HTTP API). A name missing from the map
 * counts as `null`.
 */
export type Reports = ReadonlyMap<string, HerdReport | null>;

/** `member`'s report of its link to `peer`, if it answered and lists that link. */
function linkReport(reports: Reports, member: string, peer: string): NeighbourReport | undefined {
  return reports.get(member)?.neighbours.find((n) => n.name === peer);
}

/** The names linked to `name` by `links`. */
export function neighboursIn(
  links: readonly (readonly [string, string])[],
  name: string,
): string[] {
  const out: string[] = [];
  for (const [a, b] of links) {
    if (a === name && !out.includes(b)) out.push(b);
    else if (b === name && !out.includes(a)) out.push(a);
  }
  return out;
}

/**
 * The state of one member.
 *
 * `up` when its own HTTP answered. Otherwise it is `down` when every
 * neighbour that answers reports its link to it down, and `unreachable` when
 * no neighbour answers (or none that answers lists the link) or one still
 * reports the link up: the member may well be running, the page just cannot
 * reach it.
 *
 * @param name The member.
 * @param links herd.toml's links.
 * @param reports The last answers.
 * @returns Its state.
 */
export function memberState(
  name: string,
  links: readonly (readonly [string, string])[],
  reports: Reports,
): MemberState {
  if ((reports.get(name) ?? null) !== null) return "up";
  let answered = 0;
  for (const peer of neighboursIn(links, name)) {
    const seen = linkReport(reports, peer, name);
    if (seen === undefined) continue;
    if (seen.state === "up") return "unreachable";
    answered++;
  }
  return answered > 0 ? "down" : "unreachable";
}

/**
 * The state of one link: `up` when both ends answer and each reports the link
 * it dialled to the other welcomed (`state: "up"`), else `down`.
 *
 * @param link The two names, as herd.toml writes the link.
 * @param reports The last answers.
 * @returns Its state.
 */
export function linkState(link: readonly [string, string], reports: Reports): LinkState {
  const [a, b] = link;
  return linkReport(reports, a, b)?.state === "up" && linkReport(reports, b, a)?.state === "up"
    ? "up"
    : "down";
}

/** Messages per second on a link, each way; `null` where that end did not answer. */
export interface LinkRates {
  /** Lines the first member flooded to the second, per second. */
  ab: number | null;
  /** Lines the second member flooded to the first, per second. */
  ba: number | null;
}

/**
 * A link's message rates, as each end reports what it sent on the link it dialled.
 *
 * @param link The two names.
 * @param reports The last answers.
 * @returns Lines per second each way.
 */
export function linkRates(link: readonly [string, string], reports: Reports): LinkRates {
  const [a, b] = link;
  return {
    ab: linkReport(reports, a, b)?.sent_per_s ?? null,
    ba: linkReport(reports, b, a)?.sent_per_s ?? null,
  };
}

/** A record as the HTTP API shows it, with the store time the dashboard needs. */
export interface RecordView {
  /** Member that received the client's IAMAT. */
  server: string;
  /** Its skew, as printed. */
  skew: string;
  /** Client id. */
  client: string;
  /** ISO 6709 text. */
  location: string;
  /** Client time, POSIX seconds as sent. */
  time: string;
  /** The AT line. */
  at: string;
  /** When the answering member stored it, POSIX ms (`null`: before its HTTP face started). */
  stored_at?: number | null;
}

/** A record's position, degrees; `undefined` if its location does not parse. */
export function positionOf(record: RecordView): { lat: number; lng: number } | undefined {
  try {
    const p = parseIso6709(record.location);
    return { lat: p.latitude, lng: p.longitude };
  } catch {
    return undefined;
  }
}

/** The protocol's record of a view, for the last-writer-wins order; `undefined` if it does not parse. */
function clientRecordOf(r: RecordView): ClientRecord | undefined {
  try {
    return {
      origin: r.server,
      skew: r.skew,
      clientId: r.client,
      location: parseIso6709(r.location),
      clientTime: parseDecimal(r.time),
      clientTimeText: r.time,
    };
  } catch {
    return undefined;
  }
}

/**
 * Whether `candidate` replaces `current` in the protocol's last-writer-wins
 * order (PROTOCOL.md section 3: `isNewer()` itself). A record that does not
 * parse never replaces one that does.
 *
 * @param candidate The incoming record.
 * @param current The one held, if any.
 * @returns True if `candidate` is newer.
 */
export function newerRecord(candidate: RecordView, current: RecordView | undefined): boolean {
  if (current === undefined) return true;
  const c = clientRecordOf(candidate);
  const h = clientRecordOf(current);
  if (c === undefined) return false;
  if (h === undefined) return true;
  return isNewer(c, h);
}

/** What one member answered to `GET /v1/clients/{id}`. */
export type ClientAnswer =
  | { kind: "record"; record: RecordView }
  | { kind: "none" }
  | { kind: "failed" };

/** One member's part in an update's journey. */
export interface JourneyStep {
  /**
   * `stored`: it holds the update; `older`: it holds an older record of the
   * client; `newer`: a newer one; `none`: no record of the client; `unknown`:
   * its HTTP did not answer.
   */
  state: "stored" | "older" | "newer" | "none" | "unknown";
  /** Ms after the first member stored it (`stored` with a known store time only). */
  ms?: number;
  /** The neighbour that stored it first before this member: the likely sender. */
  from?: string;
}

/** An update's journey: who stored it when. */
export interface Journey {
  /** The update: the newest record any member answered with. */
  record: RecordView | undefined;
  /** The member that stored it first (lowest `stored_at`). */
  first: string | undefined;
  /** Each asked member's part, by name. */
  steps: Map<string, JourneyStep>;
}

/**
 * Follows a client's latest update through the herd from what each member
 * answered: the update is the newest record among the answers; members that
 * hold it are placed in time by `stored_at` (ms after the earliest), each
 * with the neighbour that stored it earliest before it as its likely sender.
 * Store times are each member's own clock, so across machines they are only
 * as good as the clocks' agreement.
 *
 * @param answers Each member's answer, by name.
 * @param links herd.toml's links (for the likely senders).
 * @returns The journey.
 */
export function journeyOf(
  answers: ReadonlyMap<string, ClientAnswer>,
  links: readonly (readonly [string, string])[],
): Journey {
  let record: RecordView | undefined;
  for (const a of answers.values()) {
    if (a.kind === "record" && newerRecord(a.record, record)) record = a.record;
  }
  const steps = new Map<string, JourneyStep>();
  const times = new Map<string, number>();
  for (const [name, a] of answers) {
    if (a.kind === "failed") steps.set(name, { state: "unknown" });
    else if (a.kind === "none") steps.set(name, { state: "none" });
    else if (a.record.at === record!.at) {
      steps.set(name, { state: "stored" });
      const t = a.record.stored_at;
      if (typeof t === "number" && Number.isFinite(t)) times.set(name, t);
    } else {
      steps.set(name, { state: newerRecord(a.record, record) ? "newer" : "older" });
    }
  }
  let first: string | undefined;
  for (const [name, t] of times) if (first === undefined || t < times.get(first)!) first = name;
  const t0 = first === undefined ? 0 : times.get(first)!;
  for (const [name, t] of times) {
    const step = steps.get(name)!;
    step.ms = t - t0;
    let from: string | undefined;
    for (const peer of neighboursIn(links, name)) {
      const tp = times.get(peer);
      if (tp !== undefined && tp < t && (from === undefined || tp < times.get(from)!)) from = peer;
    }
    if (from !== undefined) step.from = from;
  }
  return { record, first, steps };
}

/** A box of longitudes and latitudes, degrees. */
export interface GeoBox {
  /** Westmost longitude. */
  west: number;
  /** Southmost latitude. */
  south: number;
  /** Eastmost longitude. */
  east: number;
  /** Northmost latitude. */
  north: number;
}

/**
 * The box the map zooms to for some points: their bounding box, widened to
 * at least `minSpanDeg` each way and by a margin, kept within -85..85 north.
 * Longitudes are not wrapped: points on both sides of the antimeridian give a
 * box around the world.
 *
 * @param points The points, degrees.
 * @param minSpanDeg Smallest width and height, degrees: 0.05 (about 5 km) keeps clients a few
 *   hundred metres apart on separate dots. @default 0.05
 * @returns The box, or `undefined` when there are no points.
 */
export function boxAround(
  points: Iterable<{ lat: number; lng: number }>,
  minSpanDeg = 0.05,
): GeoBox | undefined {
  let west = Infinity, south = Infinity, east = -Infinity, north = -Infinity;
  for (const p of points) {
    west = Math.min(west, p.lng);
    east = Math.max(east, p.lng);
    south = Math.min(south, p.lat);
    north = Math.max(north, p.lat);
  }
  if (west > east) return undefined;
  const widen = (lo: number, hi: number, limit: number): [number, number] => {
    const span = Math.max(hi - lo, minSpanDeg) * 1.2;
    const mid = (lo + hi) / 2;
    return [Math.max(-limit, mid - span / 2), Math.min(limit, mid + span / 2)];
  };
  [west, east] = widen(west, east, 180);
  [south, north] = widen(south, north, 85);
  return { west, south, east, north };
}

/**
 * A number for a table cell or a label: at most one decimal, none for whole numbers.
 *
 * @param n The number, or `null`.
 * @returns `12`, `3.5`, or `-` for `null`.
 */
export function shortNumber(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "-";
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

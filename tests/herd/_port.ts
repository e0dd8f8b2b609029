/**
 * A member's side of a session without a member: a real store and
 * record acceptance, links you pass in, a fixed clock, and a log to read.
 * Shared by the session, peer link and dispatcher tests.
 *
 * @module
 */

import FakeTimers from "@sinonjs/fake-timers";
import { testConfig } from "../../src/config.ts";
import {
  acceptRecord,
  type FloodTarget,
  hostAuth,
  type MemberView,
  type PeerAuth,
  type RecordObserver,
  RecordStore,
  type SessionPort,
  systemTimers,
  type TimerClock,
} from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import type { PlacesProvider } from "../../src/places/types.ts";
import { type ClientRecord, parseMessage } from "../../src/protocol/mod.ts";

/** A places provider that answers every question with one fixed place. */
export const ONE_PLACE: PlacesProvider = {
  name: "one-place",
  nearby: () =>
    Promise.resolve({
      html_attributions: [],
      results: [{
        name: "Royce Hall",
        place_id: "royce",
        geometry: { location: { lat: 34.0729, lng: -118.4422 } },
        types: ["point_of_interest"],
        vicinity: "Los Angeles",
      }],
      status: "OK",
    }),
};

/** Options of {@linkcode testPort}. */
export interface TestPortOptions {
  /** The member's name. @default "Campbell" */
  name?: string;
  /** Neighbours allowed to say hello. @default Singleton and Smith */
  neighbours?: string[];
  /** Outgoing links. @default none */
  links?: Map<string, FloodTarget>;
  /** Auth. @default host checks against the test config */
  auth?: PeerAuth;
  /** Places. @default {@linkcode ONE_PLACE} */
  places?: PlacesProvider;
  /** Timers. @default systemTimers */
  timers?: TimerClock;
  /** Wall clock, POSIX ns. @default 1621464828.223372000 s */
  clockNs?: bigint;
}

/** A port, its store, its log, and the neighbours whose hellos asked for a redial. */
export interface TestPort {
  port: SessionPort;
  view: MemberView;
  store: RecordStore;
  log: MemoryLog;
  links: Map<string, FloodTarget>;
  redialed: string[];
}

/**
 * Builds a {@linkcode SessionPort} over a real store and record acceptance.
 *
 * @param opts See {@linkcode TestPortOptions}.
 * @returns The port and what it changes.
 */
export function testPort(opts: TestPortOptions = {}): TestPort {
  const store = new RecordStore();
  const log = new MemoryLog();
  const links = opts.links ?? new Map<string, FloodTarget>();
  const neighbours = new Set(opts.neighbours ?? ["Singleton", "Smith"]);
  const redialed: string[] = [];
  const view: MemberView = {
    name: opts.name ?? "Campbell",
    store,
    places: opts.places ?? ONE_PLACE,
    auth: opts.auth ?? hostAuth(testConfig()),
    isNeighbour: (n) => neighbours.has(n),
    helloParams: [],
  };
  const sink = { store, persist: null, links, log, observers: new Set<RecordObserver>() };
  const clockNs = opts.clockNs ?? 1621464828_223372000n;
  const port: SessionPort = {
    view,
    clock: () => clockNs,
    timers: opts.timers ?? systemTimers,
    log,
    accept: (record, line, from, marked) => acceptRecord(sink, record, line, from, marked),
    tree: () => {},
    treeCopy: () => {},
    neighbourBack: (n) => redialed.push(n),
    flushLinks: () => {
      for (const l of links.values()) l.flush();
    },
    synced: () => {},
  };
  return { port, view, store, log, links, redialed };
}

/**
 * A fake clock and the {@linkcode TimerClock} over it: only timers are fake,
 * real I/O keeps going, so a test ticks the clock where it would have slept.
 *
 * @returns The clock (tick it) and the timers (inject them).
 */
export function fakeTimers(): { clock: FakeTimers.Clock; timers: TimerClock } {
  const clock = FakeTimers.createClock();
  return {
    clock,
    timers: {
      nowMs: () => clock.now,
      setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
      clearTimeout: (id) => clock.clearTimeout(id as FakeTimers.TimerId),
      setInterval: (fn, ms) => clock.setInterval(fn, ms),
      clearInterval: (id) => clock.clearInterval(id as FakeTimers.TimerId),
    },
  };
}

/**
 * The record of an AT line.
 *
 * @param line e.g. `AT Hill +0.100000000 kiwi +34-118 200`.
 * @returns The parsed record.
 * @throws {Error} If the line is not a valid AT line.
 */
export function record(line: string): ClientRecord {
  const msg = parseMessage(line);
  if (msg.kind !== "AT") throw new Error(`not an AT line: ${line}`);
  return msg.record;
}

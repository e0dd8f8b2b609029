/**
 * Live record events for `GET /v1/stream` (issue 11), independent of the
 * transport: the member publishes every record it stores, and each
 * subscription pulls its events at its own pace. Server-Sent Events and
 * WebSocket are wired on top of a {@linkcode Subscription}; nothing here
 * touches a socket.
 *
 * Filters: none (every update), a list of client ids (their updates), or a
 * circle (Tile38's geofence events `enter`, `exit` and `inside`). An erased
 * client (herd's `DELETE /v1/clients/{id}`) gives an `erased` event to each
 * subscription that had it.
 *
 * A slow subscriber never slows the member: {@linkcode StreamHub.publish}
 * never waits, and each subscription holds at most `bufferEvents` events. Past
 * that the oldest are dropped and the next event the subscriber takes is one
 * `lagged` event counting them; a subscription whose buffer stays full for
 * `stuckMs` is closed with a reason.
 *
 * @module
 */

import { EARTH_RADIUS_M, greatCircleDistanceM } from "../geo/mod.ts";
import { systemTimers, type TimerClock, type TimerId } from "../herd/clock.ts";

export type { TimerClock, TimerId };

/**
 * Events held per subscription before the oldest are dropped: about 30 s of
 * a busy client's updates, and a bounded cost (one reference per event, the
 * events themselves are shared) for a thousand subscribers.
 */
export const DEFAULT_BUFFER_EVENTS = 1_000;

/**
 * How long a subscription's buffer may stay full before it is closed, ms: a
 * subscriber that has taken nothing for that long is gone or hopelessly
 * behind, and holding its buffer helps no one.
 */
export const DEFAULT_STUCK_MS = 30_000;

const DEG = Math.PI / 180;

/** Widens the latitude band a little so that rounding never excludes a point on the circle. */
const BAND_SLACK = 1 + 1e-9;

/** A position in decimal degrees. */
export interface LatLng {
  /** Degrees north, -90..90. */
  readonly lat: number;
  /** Degrees east, -180..180. */
  readonly lng: number;
}

/**
 * One stored record as the hub sees it: who and where, plus the payload that
 * events carry.
 *
 * @typeParam P The payload: whatever the transport writes as the event's
 *   `record` (a JSON-ready object, or its JSON text made once per record).
 */
export interface StreamRecord<P = unknown> extends LatLng {
  /** Client id, in the same form as the ids of client filters (compared as strings). */
  readonly client: string;
  /** Carried unchanged as the `record` of the events this record causes. */
  readonly json: P;
}

/**
 * A geofence: a circle on the sphere.
 */
export interface StreamCircle extends LatLng {
  /** Radius, km; finite and at least 0. A point exactly on the circle is inside. */
  readonly radiusKm: number;
}

/** Every update, of every client. */
export interface AllFilter {
  /** Absent. */
  readonly clients?: undefined;
  /** Absent. */
  readonly near?: undefined;
}

/** The updates of some clients. */
export interface ClientsFilter {
  /** Client ids, at least one; duplicates count once. */
  readonly clients: readonly string[];
  /** Absent. */
  readonly near?: undefined;
}

/** Geofence events of one circle. */
export interface NearFilter {
  /** Absent. */
  readonly clients?: undefined;
  /** The circle. */
  readonly near: StreamCircle;
}

/** What a subscription receives: `{}` for everything, client ids, or a circle. */
export type StreamFilter = AllFilter | ClientsFilter | NearFilter;

/**
 * Kinds of record events: `update` (no filter, or a watched client),
 * `enter` / `inside` / `exit` (a circle; see {@linkcode StreamHub.publish}),
 * `expired` (the member dropped the client's record: `record_ttl_s`; see
 * {@linkcode StreamHub.expire}).
 */
export type RecordEventType = "update" | "enter" | "inside" | "exit" | "expired";

/** A record event. Shared between subscriptions: do not mutate. */
export interface RecordEvent<P = unknown> {
  /** What happened. */
  readonly type: RecordEventType;
  /** The record's payload ({@linkcode StreamRecord.json}). */
  readonly record: P;
}

/** Events were dropped from a full buffer; delivered before the events that follow the gap. */
export interface LaggedEvent {
  /** `"lagged"`. */
  readonly type: "lagged";
  /** How many events were dropped since the previous lagged event (at least 1). */
  readonly dropped: number;
}

/**
 * A client was erased (its record replaced by a tombstone): sent to the subscriptions that had
 * it (see {@linkcode StreamHub.erase}). Shared between subscriptions: do not mutate.
 */
export interface ErasedEvent {
  /** `"erased"`. */
  readonly type: "erased";
  /** The client id, as the transport shows it. */
  readonly client: string;
  /** The member that erased it. */
  readonly server: string;
  /** The tombstone's time, POSIX seconds as text. */
  readonly time: string;
}

/** One event of a stream. */
export type StreamEvent<P = unknown> = RecordEvent<P> | LaggedEvent | ErasedEvent;

/** Options of {@linkcode StreamHub.subscribe}. */
export interface SubscribeOptions {
  /**
   * Closes the subscription when aborted (e.g. the request's signal, aborted
   * when the client goes away), with reason `"aborted"`.
   * @default none
   */
  readonly signal?: AbortSignal;
}

/** Options of {@linkcode StreamHub}. */
export interface StreamHubOptions {
  /** Monotonic time and timers (for the stuck check). @default systemTimers */
  readonly timers?: TimerClock;
  /** Events held per subscription, an integer of at least 1. @default {@linkcode DEFAULT_BUFFER_EVENTS} */
  readonly bufferEvents?: number;
  /** A full buffer older than this closes its subscription, ms, above 0. @default {@linkcode DEFAULT_STUCK_MS} */
  readonly stuckMs?: number;
  /**
   * Distance between two points (degrees), metres.
   * @default great-circle distance on the geo index's sphere (`greatCircleDistanceM`, src/geo)
   */
  readonly distanceM?: (aLat: number, aLng: number, bLat: number, bLng: number) => number;
}

/** Reason of a subscription closed by {@linkcode Subscription.close} without one. */
export const REASON_CLOSED = "closed";
/** Reason of a subscription whose {@linkcode SubscribeOptions.signal} was aborted. */
export const REASON_ABORTED = "aborted";
/** Reason of the subscriptions closed by {@linkcode StreamHub.close} without one. */
export const REASON_HUB_CLOSED = "server stopping";

/**
 * One subscriber's end of the hub: a bounded queue of events, read by pulling.
 *
 * Use either {@linkcode Subscription.next} (or `for await`) or
 * {@linkcode Subscription.poll}, from one reader. Taking an event is what
 * frees room in the buffer and resets the stuck clock.
 */
export interface Subscription<P = unknown> extends AsyncIterable<StreamEvent<P>> {
  /** The filter it was made with (a copy; client ids without duplicates). */
  readonly filter: StreamFilter;
  /**
   * The next event, waiting for one if none is buffered.
   *
   * @returns The event, or `null` once the subscription is closed (buffered
   *   events are discarded at close).
   */
  next(): Promise<StreamEvent<P> | null>;
  /**
   * The next buffered event without waiting, e.g. to batch what is already
   * there into one write after {@linkcode Subscription.next} returned.
   *
   * @returns The event, or `undefined` if none is buffered or it is closed.
   */
  poll(): StreamEvent<P> | undefined;
  /**
   * Unsubscribes: no more events, pending and later `next()` give `null`,
   * `closed` resolves. Later calls do nothing.
   *
   * @param reason Why, for the transport to pass on. @default {@linkcode REASON_CLOSED}
   */
  close(reason?: string): void;
  /** Resolves with the reason when the subscription closes, whoever closed it. */
  readonly closed: Promise<string>;
  /** The reason it closed, or `null` while open. */
  readonly closeReason: string | null;
  /** Events dropped from its full buffer since it subscribed. */
  readonly dropped: number;
  /** Events waiting to be taken, not counting a pending lagged event. */
  readonly buffered: number;
}

/**
 * Fan-out of stored records to live subscriptions.
 *
 * `publish()` costs O(number of unfiltered subscriptions + circles + the
 * subscriptions naming that client): client filters are indexed by client id,
 * and one event object per (record, event type) is shared by all receivers.
 * Stuck subscriptions are found with one hub-wide timeout, armed only while
 * some buffer is full.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StreamHub } from "./stream_hub.ts";
 * const hub = new StreamHub<{ id: string }>();
 * const sub = hub.subscribe({ clients: ["kiwi"] });
 * hub.publish({ client: "kiwi", lat: 34.07, lng: -118.44, json: { id: "kiwi" } });
 * const event = await sub.next();
 * assert.deepEqual(event, { type: "update", record: { id: "kiwi" } });
 * hub.close();
 * ```
 *
 * @typeParam P The payload of records and events.
 */
export class StreamHub<P = unknown> {
  readonly #timers: TimerClock;
  readonly #capacity: number;
  readonly #stuckMs: number;
  readonly #distanceM: (aLat: number, aLng: number, bLat: number, bLng: number) => number;
  /**
   * With the default distance, a point further from a circle's centre in
   * latitude alone than its radius is outside without any trigonometry (the
   * great-circle distance is at least the meridian arc), which spares most
   * circles most of the work.
   */
  readonly #latitudeBand: boolean;
  /** Subscriptions without a filter. */
  readonly #all = new Set<Sub<P>>();
  /** Client id -> subscriptions naming it. */
  readonly #byClient = new Map<string, Set<Sub<P>>>();
  /** Circle subscriptions. */
  readonly #fences = new Set<Sub<P>>();
  /**
   * Subscriptions whose buffer is full -> since when (ms). Entries are added
   * as buffers fill, so insertion order is deadline order.
   */
  readonly #full = new Map<Sub<P>, number>();
  /** What a subscription tells the hub. */
  readonly #host: SubHost<P> = {
    detach: (sub) => this.#detach(sub),
    filled: (sub) => {
      this.#full.set(sub, this.#timers.nowMs());
      if (this.#stuckTimer === undefined) this.#arm();
    },
    // The timer may now fire early; it then re-arms for the next deadline.
    drained: (sub) => this.#full.delete(sub),
    dropped: () => this.#droppedTotal++,
  };
  #stuckTimer: TimerId | undefined;
  #count = 0;
  #droppedTotal = 0;
  #stuckClosedTotal = 0;
  #isClosed = false;

  /**
   * Makes a hub with no subscriptions; no timer runs until a buffer fills.
   *
   * @param opts See {@linkcode StreamHubOptions}.
   * @throws {RangeError} If `bufferEvents` is not an integer of at least 1 or `stuckMs` is not
   *   a finite number above 0.
   */
  constructor(opts: StreamHubOptions = {}) {
    const capacity = opts.bufferEvents ?? DEFAULT_BUFFER_EVENTS;
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`Cannot create stream hub: bufferEvents must be >= 1, got ${capacity}`);
    }
    const stuckMs = opts.stuckMs ?? DEFAULT_STUCK_MS;
    if (!Number.isFinite(stuckMs) || stuckMs <= 0) {
      throw new RangeError(`Cannot create stream hub: stuckMs must be > 0, got ${stuckMs}`);
    }
    this.#timers = opts.timers ?? systemTimers;
    this.#capacity = capacity;
    this.#stuckMs = stuckMs;
    this.#distanceM = opts.distanceM ?? greatCircleDistanceM;
    this.#latitudeBand = opts.distanceM === undefined;
  }

  /** Open subscriptions. */
  get subscribers(): number {
    return this.#count;
  }

  /** Events dropped from full buffers since the hub was made, over all subscriptions. */
  get droppedTotal(): number {
    return this.#droppedTotal;
  }

  /** Subscriptions closed because their buffer stayed full for `stuckMs`. */
  get stuckClosedTotal(): number {
    return this.#stuckClosedTotal;
  }

  /**
   * Subscribes. After {@linkcode StreamHub.close} the subscription comes back
   * already closed (reason {@linkcode REASON_HUB_CLOSED}).
   *
   * @param given `{}` for every update, `{ clients }`, or `{ near }`; copied.
   * @param opts See {@linkcode SubscribeOptions}.
   * @returns The subscription; it receives records published from now on only.
   * @throws {TypeError} If the filter has both `clients` and `near`.
   * @throws {RangeError} If `clients` is empty, or the circle's latitude is outside -90..90,
   *   its longitude outside -180..180, or its radius negative or not finite.
   */
  subscribe(given: StreamFilter, opts: SubscribeOptions = {}): Subscription<P> {
    checkFilter(given);
    // A copy, so that the caller changing its arrays later cannot unhook the index.
    const filter: StreamFilter = given.clients !== undefined
      ? { clients: [...new Set(given.clients)] }
      : given.near !== undefined
      ? { near: { lat: given.near.lat, lng: given.near.lng, radiusKm: given.near.radiusKm } }
      : {};
    const sub = new Sub<P>(this.#host, filter, this.#capacity);
    if (this.#isClosed) {
      sub.close(REASON_HUB_CLOSED);
      return sub;
    }
    this.#count++;
    if (filter.clients !== undefined) {
      for (const id of filter.clients) {
        let set = this.#byClient.get(id);
        if (set === undefined) this.#byClient.set(id, set = new Set());
        set.add(sub);
      }
    } else if (filter.near !== undefined) {
      if (this.#latitudeBand) {
        sub.bandDeg = (filter.near.radiusKm * 1000 / EARTH_RADIUS_M / DEG) * BAND_SLACK;
      }
      this.#fences.add(sub);
    } else {
      this.#all.add(sub);
    }
    const signal = opts.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        sub.close(REASON_ABORTED);
      } else {
        const onAbort = () => sub.close(REASON_ABORTED);
        signal.addEventListener("abort", onAbort, { once: true });
        sub.onClose = () => signal.removeEventListener("abort", onAbort);
      }
    }
    return sub;
  }

  /**
   * Hands a stored record to every subscription it concerns. Never waits and
   * never throws for a subscriber; call it once per record the member
   * stores, in the order they are stored.
   *
   * - No filter, or a client filter naming `record.client`: `update`.
   * - A circle: the client was inside if `previous` is given and lies inside
   *   (distance <= radius); without `previous`, if the subscription's last
   *   event for that client left it inside (so a client never seen since
   *   subscribing counts as outside). Then outside -> inside is `enter`,
   *   inside -> inside is `inside`, inside -> outside is `exit`, and outside
   *   -> outside is nothing. So a client already inside when the subscription
   *   began gives `inside` on its next update, not `enter`, when the member
   *   passes its previous position; its first ever record inside gives `enter`.
   *   Likewise a client inside before the subscription began may `exit`
   *   without the subscriber having seen it `enter` (as in Tile38).
   *
   * @param record The stored record.
   * @param previous The position of the record it replaced at this member, or `undefined` if
   *   it is the client's first.
   */
  publish(record: StreamRecord<P>, previous?: LatLng): void {
    if (this.#isClosed) return;
    if (this.#all.size > 0 || this.#byClient.has(record.client)) {
      const update: RecordEvent<P> = { type: "update", record: record.json };
      for (const sub of this.#all) sub.push(update);
      const watchers = this.#byClient.get(record.client);
      if (watchers !== undefined) { for (const sub of watchers) sub.push(update); }
    }
    if (this.#fences.size === 0) return;
    let enter: RecordEvent<P> | undefined;
    let inside: RecordEvent<P> | undefined;
    let exit: RecordEvent<P> | undefined;
    for (const sub of this.#fences) {
      const nowIn = this.#contains(sub, record);
      const wasIn = previous !== undefined
        ? this.#contains(sub, previous)
        : sub.inside.has(record.client);
      if (nowIn) {
        sub.inside.add(record.client);
        if (wasIn) sub.push(inside ??= { type: "inside", record: record.json });
        else sub.push(enter ??= { type: "enter", record: record.json });
      } else {
        sub.inside.delete(record.client);
        if (wasIn) sub.push(exit ??= { type: "exit", record: record.json });
      }
    }
  }

  /**
   * Tells the subscriptions that had a client that it was erased: every
   * subscription without a filter, those naming the client, and each circle
   * the client was inside (by `previous` if given, else by the subscription's
   * last event for it), which then counts it outside. Never waits.
   *
   * @param client The client id, as in client filters and {@linkcode StreamRecord.client}.
   * @param event The event to deliver (one object, shared).
   * @param previous The position of the record the erasure replaced at this member, if any.
   */
  erase(client: string, event: ErasedEvent, previous?: LatLng): void {
    if (this.#isClosed) return;
    for (const sub of this.#all) sub.push(event);
    const watchers = this.#byClient.get(client);
    if (watchers !== undefined) { for (const sub of watchers) sub.push(event); }
    for (const sub of this.#fences) {
      const wasIn = previous !== undefined ? this.#contains(sub, previous) : sub.inside.has(client);
      sub.inside.delete(client);
      if (wasIn) sub.push(event);
    }
  }

  /**
   * Tells every subscription that had a client that its record expired (the
   * member dropped it: `record_ttl_s`), with an `expired` event carrying the
   * record dropped: subscriptions without a filter, those naming the client,
   * and circles the client was inside (its dropped position is, or the
   * subscription's last event for it left it inside). A circle then counts the
   * client as outside, so its next record inside gives `enter`. Never waits
   * and never throws for a subscriber.
   *
   * @param record The record dropped.
   */
  expire(record: StreamRecord<P>): void {
    if (this.#isClosed) return;
    const event: RecordEvent<P> = { type: "expired", record: record.json };
    for (const sub of this.#all) sub.push(event);
    const watchers = this.#byClient.get(record.client);
    if (watchers !== undefined) { for (const sub of watchers) sub.push(event); }
    for (const sub of this.#fences) {
      const wasIn = sub.inside.delete(record.client);
      if (wasIn || this.#contains(sub, record)) sub.push(event);
    }
  }

  /**
   * Closes every subscription and stops the stuck check; later `publish()`
   * does nothing and later `subscribe()` returns closed subscriptions.
   *
   * @param reason Given to each subscription. @default {@linkcode REASON_HUB_CLOSED}
   */
  close(reason: string = REASON_HUB_CLOSED): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    for (const sub of [...this.#all, ...this.#fences]) sub.close(reason);
    for (const set of [...this.#byClient.values()]) for (const sub of [...set]) sub.close(reason);
    this.#disarm();
  }

  /** Is `at` within the circle of `sub` (on the circle counts)? */
  #contains(sub: Sub<P>, at: LatLng): boolean {
    const circle = sub.filter.near!;
    if (Math.abs(at.lat - circle.lat) > sub.bandDeg) return false;
    return this.#distanceM(circle.lat, circle.lng, at.lat, at.lng) <= circle.radiusKm * 1000;
  }

  #detach(sub: Sub<P>): void {
    const filter = sub.filter;
    let found: boolean;
    if (filter.clients !== undefined) {
      found = false;
      for (const id of filter.clients) {
        const set = this.#byClient.get(id);
        if (set?.delete(sub)) {
          found = true;
          if (set.size === 0) this.#byClient.delete(id);
        }
      }
    } else if (filter.near !== undefined) {
      found = this.#fences.delete(sub);
    } else {
      found = this.#all.delete(sub);
    }
    if (found) this.#count--;
    this.#full.delete(sub);
  }

  #arm(): void {
    const first = this.#full.values().next();
    if (first.done) return;
    const wait = Math.max(0, first.value + this.#stuckMs - this.#timers.nowMs());
    this.#stuckTimer = this.#timers.setTimeout(() => this.#checkStuck(), wait);
  }

  #disarm(): void {
    if (this.#stuckTimer !== undefined) this.#timers.clearTimeout(this.#stuckTimer);
    this.#stuckTimer = undefined;
  }

  #checkStuck(): void {
    this.#stuckTimer = undefined;
    const now = this.#timers.nowMs();
    for (const [sub, since] of this.#full) {
      if (now - since < this.#stuckMs) break;
      this.#stuckClosedTotal++;
      sub.close(`too slow: buffer full for ${formatSeconds(this.#stuckMs)} s`);
    }
    this.#arm();
  }
}

/** `30000` -> `"30"`, `1500` -> `"1.5"`. */
function formatSeconds(ms: number): string {
  return String(ms / 1000);
}

function checkFilter(filter: StreamFilter): void {
  if (filter.clients !== undefined && filter.near !== undefined) {
    throw new TypeError("Cannot subscribe: a filter has either clients or near, not both");
  }
  if (filter.clients !== undefined && filter.clients.length === 0) {
    throw new RangeError("Cannot subscribe: clients is empty");
  }
  const near = filter.near;
  if (near === undefined) return;
  if (!(near.lat >= -90 && near.lat <= 90)) {
    throw new RangeError(`Cannot subscribe: latitude must be within -90..90, got ${near.lat}`);
  }
  if (!(near.lng >= -180 && near.lng <= 180)) {
    throw new RangeError(`Cannot subscribe: longitude must be within -180..180, got ${near.lng}`);
  }
  if (!(near.radiusKm >= 0 && Number.isFinite(near.radiusKm))) {
    throw new RangeError(`Cannot subscribe: radius must be a finite km >= 0, got ${near.radiusKm}`);
  }
}

/** The hub's side of a subscription. */
interface SubHost<P> {
  /** It closed: forget it. */
  detach(sub: Sub<P>): void;
  /** Its buffer just filled: start its stuck clock. */
  filled(sub: Sub<P>): void;
  /** Its buffer is no longer full: stop its stuck clock. */
  drained(sub: Sub<P>): void;
  /** It dropped one event. */
  dropped(): void;
}

/** A subscription: a ring buffer of events, waiting readers, and a lag count. */
class Sub<P> implements Subscription<P> {
  readonly filter: StreamFilter;
  /** Circle subscriptions: clients whose last update here was inside. */
  readonly inside = new Set<string>();
  /** Circle subscriptions: half-height of the latitude band outside which a point is outside, degrees. */
  bandDeg = Infinity;
  readonly closed: Promise<string>;
  /** Run once at close (removes the abort listener). */
  onClose: (() => void) | undefined;
  readonly #hub: SubHost<P>;
  readonly #capacity: number;
  /** Ring buffer, grown by doubling up to the capacity so idle subscriptions stay small. */
  #ring: (StreamEvent<P> | undefined)[] = [];
  #head = 0;
  #size = 0;
  /** Dropped since the last lagged event was taken. */
  #lag = 0;
  #dropped = 0;
  #waiters: ((e: StreamEvent<P> | null) => void)[] = [];
  #reason: string | null = null;
  #resolveClosed!: (reason: string) => void;

  constructor(hub: SubHost<P>, filter: StreamFilter, capacity: number) {
    this.#hub = hub;
    this.filter = filter;
    this.#capacity = capacity;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  get closeReason(): string | null {
    return this.#reason;
  }

  get dropped(): number {
    return this.#dropped;
  }

  get buffered(): number {
    return this.#size;
  }

  /** Queues an event, dropping the oldest if full. Never waits. */
  push(event: StreamEvent<P>): void {
    if (this.#reason !== null) return;
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter(event);
      return;
    }
    if (this.#size === this.#capacity) {
      this.#ring[this.#head] = event;
      this.#head = (this.#head + 1) % this.#ring.length;
      this.#lag++;
      this.#dropped++;
      this.#hub.dropped();
      return;
    }
    if (this.#size === this.#ring.length) this.#grow();
    this.#ring[(this.#head + this.#size) % this.#ring.length] = event;
    this.#size++;
    if (this.#size === this.#capacity) this.#hub.filled(this);
  }

  poll(): StreamEvent<P> | undefined {
    if (this.#reason !== null) return undefined;
    if (this.#lag > 0) {
      const dropped = this.#lag;
      this.#lag = 0;
      return { type: "lagged", dropped };
    }
    if (this.#size === 0) return undefined;
    const event = this.#ring[this.#head]!;
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#ring.length;
    if (this.#size-- === this.#capacity) this.#hub.drained(this);
    return event;
  }

  next(): Promise<StreamEvent<P> | null> {
    if (this.#reason !== null) return Promise.resolve(null);
    const event = this.poll();
    if (event !== undefined) return Promise.resolve(event);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  close(reason: string = REASON_CLOSED): void {
    if (this.#reason !== null) return;
    this.#reason = reason;
    this.#ring = [];
    this.#head = 0;
    this.#size = 0;
    this.#lag = 0;
    this.inside.clear();
    this.#hub.detach(this);
    for (const waiter of this.#waiters.splice(0)) waiter(null);
    this.onClose?.();
    this.onClose = undefined;
    this.#resolveClosed(reason);
  }

  /** Iterates until closed; leaving the loop early closes the subscription. */
  [Symbol.asyncIterator](): AsyncIterator<StreamEvent<P>> {
    return {
      next: async (): Promise<IteratorResult<StreamEvent<P>>> => {
        const event = await this.next();
        return event === null ? { done: true, value: undefined } : { done: false, value: event };
      },
      return: (): Promise<IteratorResult<StreamEvent<P>>> => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  #grow(): void {
    const size = Math.min(this.#capacity, Math.max(8, this.#ring.length * 2));
    const ring = new Array<StreamEvent<P> | undefined>(size);
    for (let i = 0; i < this.#size; i++) ring[i] = this.#ring[(this.#head + i) % this.#ring.length];
    this.#ring = ring;
    this.#head = 0;
  }
}

/**
 * A geo index of clients for "which clients are near this point" (the HTTP
 * API's `GET /v1/clients?near=...`, issue 11): one location per client id,
 * moved whenever the client's record is replaced, searched nearest first by
 * great-circle distance.
 *
 * Distance model: a sphere of radius {@linkcode EARTH_RADIUS_M}
 * (6,371,008.8 m, the IUGG mean Earth radius), haversine formula. Against the
 * WGS 84 ellipsoid this is off by up to about 0.5 %; half the circumference,
 * the largest distance between two points, is about 20,015 km here.
 *
 * Design. The points live in an R-tree (npm `rbush`, a dynamic R*-tree: an
 * insert, a move or a removal is O(log n)) in plain (longitude, latitude)
 * degrees. rbush's own queries are planar, so the nearest-first search is
 * ours: a best-first walk of rbush's nodes ordered by a lower bound of the
 * great-circle distance from the query point to each node's
 * longitude/latitude box (exact for the box on the sphere, so correct across
 * the antimeridian and at the poles), with a binary heap. The tree's items
 * are slot numbers (small integers V8 stores unboxed) into flat coordinate
 * arrays, not one object per client: about 3 times less memory and faster
 * inserts than rbush's `{minX, minY, maxX, maxY}` items (measured at
 * 1,000,000 clients). Static indexes (`kdbush` + `geokdbush`, `flatbush`)
 * answer such queries faster but must be rebuilt after every change (a
 * kdbush build of 1,000,000 points takes hundreds of milliseconds); a planar
 * k-NN (`rbush-knn`) returns points in planar, not great-circle, order.
 * Figures: scripts/geo_index_bench.ts.
 *
 * @module
 */

import RBush from "npm:rbush@4.0.1";

/** Radius of the sphere distances are measured on, metres (IUGG mean Earth radius). */
export const EARTH_RADIUS_M = 6_371_008.8;

const RAD = Math.PI / 180;

/**
 * Bounds are lowered by this fraction of their haversine term, so that
 * rounding never puts a node's bound above the computed distance of a point
 * inside it (that would lose points at exactly the radius or misorder ties);
 * the error of both is a few units in the last place, this is about 10^6 of them.
 */
const BOUND_SLACK = 1e-10;

/** A box, degrees: X is longitude, Y latitude (rbush's shape). */
interface Box {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

/**
 * An rbush tree node, as `toJSON()` returns the root (rbush 4's internal
 * shape). A leaf's children are the items: here slot numbers.
 */
interface TreeNode extends Box {
  readonly children: Array<TreeNode | number>;
  readonly leaf: boolean;
}

/**
 * The part of rbush's API this module uses (the package ships no types),
 * with the item hooks it lets a user replace. rbush calls the hooks unbound,
 * so they are closures set on the instance.
 */
interface SlotTree {
  insert(slot: number): SlotTree;
  remove(slot: number): SlotTree;
  clear(): SlotTree;
  toJSON(): TreeNode;
  toBBox: (slot: number) => Box;
  compareMinX: (a: number, b: number) => number;
  compareMinY: (a: number, b: number) => number;
}

/** One answer of {@linkcode ClientIndex.near}. */
export interface NearClient {
  /** Client id, as given to {@linkcode ClientIndex.set}. */
  readonly id: string;
  /** Great-circle distance from the query point, metres (see the module doc for the model). */
  readonly distanceM: number;
}

/** Options of {@linkcode ClientIndex}. */
export interface ClientIndexOptions {
  /**
   * Most children per R-tree node (rbush's `maxEntries`). Larger nodes mean a
   * shallower tree: cheaper inserts, more distance computations per query.
   *
   * @default 16
   */
  nodeSize?: number;
}

/**
 * Default node size: 9 (rbush's default) and 16 measured alike for inserts
 * and moves, 16 answered the 100-nearest queries a little faster at 1,000,000
 * clients; 32 was slower on both (scripts/geo_index_bench.ts).
 */
const DEFAULT_NODE_SIZE = 16;

/** A query point, in the forms the distance functions want. */
interface Origin {
  readonly lat: number;
  readonly lng: number;
  /** Latitude, radians. */
  readonly phi: number;
  readonly cosPhi: number;
  readonly sinPhi: number;
}

function originOf(lat: number, lng: number): Origin {
  const phi = lat * RAD;
  return { lat, lng, phi, cosPhi: cosLat(lat), sinPhi: Math.sin(phi) };
}

/**
 * Cosine of a latitude in degrees, exactly 0 at the poles (Math.cos(π/2) is
 * 6e-17), so that every longitude of a pole is the same point, at distance 0.
 */
function cosLat(lat: number): number {
  return lat === 90 || lat === -90 ? 0 : Math.cos(lat * RAD);
}

/** Metres for a haversine term `a` (sin² of half the central angle). */
function metresOf(a: number): number {
  return 2 * EARTH_RADIUS_M * Math.asin(Math.sqrt(Math.min(1, a)));
}

/** Haversine term from the origin to (lat, lng) in degrees. */
function haversineTo(o: Origin, lat: number, lng: number): number {
  const sinHalfDPhi = Math.sin((lat * RAD - o.phi) / 2);
  // Wrapped into -180..180 so that 180 and -180 are exactly the same meridian.
  let dLng = lng - o.lng;
  if (dLng > 180) dLng -= 360;
  else if (dLng < -180) dLng += 360;
  const sinHalfDLambda = Math.sin(dLng * RAD / 2);
  return sinHalfDPhi * sinHalfDPhi + o.cosPhi * cosLat(lat) * sinHalfDLambda * sinHalfDLambda;
}

/**
 * Great-circle distance between two points, metres, on a sphere of radius
 * {@linkcode EARTH_RADIUS_M} (haversine formula). The distances
 * {@linkcode ClientIndex.near} reports are this function's values exactly.
 *
 * @param lat1 Latitude of the first point, degrees north.
 * @param lng1 Longitude of the first point, degrees east.
 * @param lat2 Latitude of the second point, degrees north.
 * @param lng2 Longitude of the second point, degrees east.
 * @returns The distance in metres, 0 to about 20,015,087.
 * @example
 * ```ts
 * import { greatCircleDistanceM } from "./client_index.ts";
 * // A quarter of a great circle: pole to equator.
 * const m = greatCircleDistanceM(90, 0, 0, 0);
 * if (Math.abs(m - Math.PI / 2 * 6_371_008.8) > 1e-6) throw new Error(`${m}`);
 * ```
 */
export function greatCircleDistanceM(
  lat1: number,
  lng1: number,
  lat2: number,
  lng2: number,
): number {
  return metresOf(haversineTo(originOf(lat1, lng1), lat2, lng2));
}

/** Degrees east from `from` to `to` going east, 0 <= result < 360. */
function eastward(from: number, to: number): number {
  return (to - from + 360) % 360;
}

/**
 * A lower bound of the haversine term from the origin to any point of the
 * box [minX, maxX] x [minY, maxY] (longitude x latitude, degrees).
 *
 * If the origin's meridian crosses the box, the nearest point lies on it: a
 * distance is never less than its latitude difference. Otherwise, at every
 * latitude the nearer point is on the box's edge meridian with the smaller
 * longitude difference Δλ (going either way round, hence the antimeridian),
 * so the nearest point lies on that edge. Along a meridian, cos of the
 * distance is sinφ·sinθ + cosφ·cosθ·cosΔλ, largest at θ = atan2(sinφ,
 * cosφ·cosΔλ); inside [minY, maxY] that is the nearest point, else one of
 * the edge's ends is.
 */
function boxBound(o: Origin, box: Box): number {
  let a: number;
  if (o.lng >= box.minX && o.lng <= box.maxX) {
    const dLat = o.lat < box.minY ? box.minY - o.lat : o.lat > box.maxY ? o.lat - box.maxY : 0;
    const s = Math.sin(dLat * RAD / 2);
    a = s * s;
  } else {
    const dLng = Math.min(eastward(o.lng, box.minX), eastward(box.maxX, o.lng));
    const sinHalfDLambda = Math.sin(dLng * RAD / 2);
    const cosTerm = o.cosPhi * sinHalfDLambda * sinHalfDLambda;
    const best = Math.atan2(o.sinPhi, o.cosPhi * Math.cos(dLng * RAD));
    const lo = box.minY * RAD;
    const hi = box.maxY * RAD;
    a = best >= lo && best <= hi ? edgeTerm(o, cosTerm, best, Math.cos(best)) : Math.min(
      edgeTerm(o, cosTerm, lo, cosLat(box.minY)),
      edgeTerm(o, cosTerm, hi, cosLat(box.maxY)),
    );
  }
  return metresOf(a * (1 - BOUND_SLACK));
}

/**
 * The haversine term from the origin to the point at latitude `theta`
 * (radians, cosine `cosTheta`) of a meridian whose cosφ·sin²(Δλ/2) is `cosTerm`.
 */
function edgeTerm(o: Origin, cosTerm: number, theta: number, cosTheta: number): number {
  const s = Math.sin((theta - o.phi) / 2);
  return s * s + cosTerm * cosTheta;
}

/**
 * A min-heap of tree nodes and client slots keyed by distance (metres).
 * Equal keys: nodes first (a node may still hold an equally near client with
 * a smaller id), then clients by id, so equally distant clients come out in
 * id order.
 */
class SearchHeap {
  #keys: number[] = [];
  #items: Array<TreeNode | number> = [];
  /** Client id by slot, for ties. */
  #ids: ReadonlyArray<string | undefined>;

  constructor(ids: ReadonlyArray<string | undefined>) {
    this.#ids = ids;
  }

  get length(): number {
    return this.#keys.length;
  }

  /** The smallest item, if any. */
  peek(): TreeNode | number | undefined {
    return this.#items[0];
  }

  /** The smallest item's key (undefined when empty). */
  peekKey(): number {
    return this.#keys[0];
  }

  push(key: number, item: TreeNode | number): void {
    const keys = this.#keys;
    const items = this.#items;
    let i = keys.length;
    keys.push(key);
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(key, item, keys[parent], items[parent])) break;
      keys[i] = keys[parent];
      items[i] = items[parent];
      i = parent;
    }
    keys[i] = key;
    items[i] = item;
  }

  /** Removes and returns the smallest item; the heap must not be empty. */
  pop(): TreeNode | number {
    const keys = this.#keys;
    const items = this.#items;
    const top = items[0];
    const key = keys.pop()!;
    const item = items.pop()!;
    const n = keys.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && this.#before(keys[right], items[right], keys[child], items[child])) {
        child = right;
      }
      if (!this.#before(keys[child], items[child], key, item)) break;
      keys[i] = keys[child];
      items[i] = items[child];
      i = child;
    }
    keys[i] = key;
    items[i] = item;
    return top;
  }

  #before(ka: number, a: TreeNode | number, kb: number, b: TreeNode | number): boolean {
    if (ka !== kb) return ka < kb;
    if (typeof a !== "number") return typeof b === "number";
    return typeof b === "number" && this.#ids[a]! < this.#ids[b]!;
  }
}

function checkPoint(action: string, lat: number, lng: number): void {
  if (!(lat >= -90 && lat <= 90)) {
    throw new RangeError(`Cannot ${action}: latitude must be in -90..90 degrees, got ${lat}`);
  }
  if (!(lng >= -180 && lng <= 180)) {
    throw new RangeError(`Cannot ${action}: longitude must be in -180..180 degrees, got ${lng}`);
  }
}

/**
 * Client id -> location, searchable nearest first by great-circle distance.
 *
 * Each operation costs O(log n): {@linkcode ClientIndex.set} (insert or
 * move) and {@linkcode ClientIndex.delete} change one path of the R-tree; a
 * {@linkcode ClientIndex.near} query visits the nodes nearer than its
 * `limit`-th answer (or its radius). Memory: about 200 bytes per client
 * (scripts/geo_index_bench.ts), on top of the id string the caller holds.
 *
 * @example
 * ```ts
 * import { ClientIndex } from "./client_index.ts";
 *
 * const index = new ClientIndex();
 * index.set("kiwi.cs.ucla.edu", 34.068930, -118.445127);
 * index.set("lemon", 34.0522, -118.2437); // downtown Los Angeles
 * index.set("lime", 40.7128, -74.0060); // New York
 * const near = index.near(34.06, -118.44, 50, 100);
 * // [{ id: "kiwi.cs.ucla.edu", distanceM: ~1,000 }, { id: "lemon", distanceM: ~18,500 }]
 * if (near.map((c) => c.id).join() !== "kiwi.cs.ucla.edu,lemon") throw new Error();
 * ```
 */
export class ClientIndex {
  #tree: SlotTree;
  /** Slot by client id. */
  #slots = new Map<string, number>();
  /**
   * By slot: latitude, longitude (degrees) and client id (undefined: a free
   * slot). Slots start at 1: rbush ignores an item that is falsy.
   */
  #lat: number[] = [0];
  #lng: number[] = [0];
  #ids: Array<string | undefined> = [undefined];
  /** Slots freed by delete(), reused first. */
  #free: number[] = [];

  /**
   * An empty index.
   *
   * @param options Tree tuning; omit for the measured default.
   * @throws {RangeError} If `nodeSize` is not an integer in 4..256.
   */
  constructor(options: ClientIndexOptions = {}) {
    const nodeSize = options.nodeSize ?? DEFAULT_NODE_SIZE;
    if (!Number.isInteger(nodeSize) || nodeSize < 4 || nodeSize > 256) {
      throw new RangeError(
        `Cannot create a client index: nodeSize must be an integer in 4..256, got ${nodeSize}`,
      );
    }
    const tree: SlotTree = new RBush(nodeSize);
    const lat = this.#lat;
    const lng = this.#lng;
    tree.toBBox = (s) => ({ minX: lng[s], minY: lat[s], maxX: lng[s], maxY: lat[s] });
    tree.compareMinX = (a, b) => lng[a] - lng[b];
    tree.compareMinY = (a, b) => lat[a] - lat[b];
    this.#tree = tree;
  }

  /** Number of clients indexed. */
  get size(): number {
    return this.#slots.size;
  }

  /**
   * Whether a client is indexed.
   *
   * @param id Client id.
   * @returns True if `set` was called for it and it was not deleted since.
   */
  has(id: string): boolean {
    return this.#slots.has(id);
  }

  /**
   * Indexes a client at a location, or moves it there (a no-op if it is
   * there already).
   *
   * @param id Client id (any string; compared by UTF-16 code units, which for
   *   herd's wire text is byte order).
   * @param lat Latitude, degrees north, -90..90.
   * @param lng Longitude, degrees east, -180..180 (both ends allowed: the same meridian).
   * @throws {RangeError} If a coordinate is out of range or not a number;
   *   the index is then unchanged.
   */
  set(id: string, lat: number, lng: number): void {
    checkPoint("index a client", lat, lng);
    let slot = this.#slots.get(id);
    if (slot !== undefined) {
      if (this.#lat[slot] === lat && this.#lng[slot] === lng) return;
      // rbush finds a slot by the box of its current coordinates: remove first.
      this.#tree.remove(slot);
    } else {
      slot = this.#free.pop() ?? this.#ids.length;
      this.#ids[slot] = id;
      this.#slots.set(id, slot);
    }
    this.#lat[slot] = lat;
    this.#lng[slot] = lng;
    this.#tree.insert(slot);
  }

  /**
   * Removes a client.
   *
   * @param id Client id.
   * @returns True if it was indexed.
   */
  delete(id: string): boolean {
    const slot = this.#slots.get(id);
    if (slot === undefined) return false;
    this.#tree.remove(slot);
    this.#slots.delete(id);
    this.#ids[slot] = undefined;
    this.#free.push(slot);
    return true;
  }

  /** Removes every client. */
  clear(): void {
    this.#tree.clear();
    this.#slots.clear();
    this.#lat.length = 1;
    this.#lng.length = 1;
    this.#ids.length = 1;
    this.#free.length = 0;
  }

  /**
   * The clients within `radiusKm` of a point, nearest first, at most `limit`.
   *
   * Distances are great-circle, on the sphere of the module doc, computed by
   * {@linkcode greatCircleDistanceM}; a client exactly at the radius is
   * included. Equally distant clients come in id order (UTF-16 code units),
   * so an answer is a function of the index's contents alone. Radius 0
   * answers the clients whose distance is exactly 0: those at the very same
   * point (same latitude and longitude, longitude 180 being -180, and any
   * longitude at a pole). A radius of 20,016 km or more covers the whole
   * sphere.
   *
   * @param lat Latitude of the point, degrees north, -90..90.
   * @param lng Longitude of the point, degrees east, -180..180.
   * @param radiusKm Search radius, kilometres, >= 0 (`Infinity` allowed).
   * @param limit Most answers, an integer >= 0.
   * @returns Up to `limit` clients with their distance in metres, nearest
   *   first, ties by id.
   * @throws {RangeError} If a coordinate is out of range, `radiusKm` is
   *   negative or not a number, or `limit` is not a non-negative integer.
   */
  near(lat: number, lng: number, radiusKm: number, limit: number): NearClient[] {
    checkPoint("search clients", lat, lng);
    if (!(radiusKm >= 0)) {
      throw new RangeError(`Cannot search clients: radiusKm must be >= 0, got ${radiusKm}`);
    }
    if (!Number.isInteger(limit) || limit < 0) {
      throw new RangeError(
        `Cannot search clients: limit must be a non-negative integer, got ${limit}`,
      );
    }
    const found: NearClient[] = [];
    if (limit === 0 || this.#slots.size === 0) return found;
    const radiusM = radiusKm * 1000;
    const o = originOf(lat, lng);
    const lats = this.#lat;
    const lngs = this.#lng;
    const ids = this.#ids;
    const heap = new SearchHeap(ids);
    let node: TreeNode = this.#tree.toJSON();
    for (;;) {
      const children = node.children;
      if (node.leaf) {
        for (let i = 0; i < children.length; i++) {
          const slot = children[i] as number;
          const d = metresOf(haversineTo(o, lats[slot], lngs[slot]));
          if (d <= radiusM) heap.push(d, slot);
        }
      } else {
        for (let i = 0; i < children.length; i++) {
          const child = children[i] as TreeNode;
          const bound = boxBound(o, child);
          if (bound <= radiusM) heap.push(bound, child);
        }
      }
      // Clients on top are nearer than (or as near as and ordered before)
      // anything still inside a node: they are the next answers.
      let next = heap.peek();
      while (typeof next === "number") {
        found.push({ id: ids[next]!, distanceM: heap.peekKey() });
        heap.pop();
        if (found.length === limit) return found;
        next = heap.peek();
      }
      if (next === undefined) return found;
      node = heap.pop() as TreeNode;
    }
  }
}

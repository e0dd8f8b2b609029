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
 * Design. The points live in an R-tree (npm `rbush` 4.0.1, a dynamic
 * R*-tree) in plain (longitude, latitude) degrees; its items are slot numbers
 * (small integers V8 keeps unboxed) into flat coordinate arrays, not an
 * object per client (about half the memory, faster inserts). rbush's own queries
 * are planar, so the nearest-first search is ours: a best-first walk of the
 * tree's nodes, nearest first by a lower bound of the great-circle distance
 * from the query point to each node's longitude/latitude box (the exact
 * distance to that box on the sphere, so right across the antimeridian and
 * at the poles), keeping the best `limit` clients in a bounded heap and
 * stopping at the first node farther than the worst of them. The index also
 * knows each client's leaf and each node's parent, so a removal walks one
 * path (rbush's own removal searches every node whose box holds the point:
 * all of them when many clients share a location) and a short move inside
 * the leaf's box only writes the new coordinates.
 *
 * Alternatives, measured at 1,000,000 clients (scripts/geo_index_bench.ts):
 * static indexes (`kdbush` + `geokdbush`, `flatbush`) answer a query a few
 * times faster but must be rebuilt after a change (a kdbush build of a
 * million points takes hundreds of milliseconds), and every IAMAT of a
 * known client is a change; a planar k-NN (`rbush-knn`) returns points in
 * planar, not great-circle, order.
 *
 * @module
 */

import RBush from "rbush";

/** Radius of the sphere distances are measured on, metres (IUGG mean Earth radius). */
export const EARTH_RADIUS_M = 6_371_008.8;

/** Half the Earth's circumference on the index's sphere, km: a circle this big holds everything. */
export const MAX_NEAR_RADIUS_KM = 20_038;

const RAD = Math.PI / 180;

/**
 * Metres taken off every node's bound, so that rounding never puts a bound
 * above the computed distance of a point inside it (that would lose points
 * at exactly the radius or misorder ties). The two are computed along
 * different paths: latitude differences near ±90 cancel (errors of about
 * 1e-16 rad, 1e-9 m), and near the antipode a distance moves by about 0.13 m
 * per unit in the last place of the haversine term. 1 m covers both; it only
 * makes the search open a node a metre early.
 */
const BOUND_SLACK_M = 1;

/** A box, degrees: X is longitude, Y latitude (rbush's shape). */
interface Box {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

/**
 * An rbush tree node (rbush 4's internal shape, read by the search). A
 * leaf's children are the items: here slot numbers.
 */
interface TreeNode extends Box {
  readonly children: Array<TreeNode | number>;
  readonly leaf: boolean;
}

/**
 * The rbush 4.0.1 members this module uses (the package ships no types).
 * Besides the public ones, two internal methods (underscored) are
 * overridden, so that each client's leaf and each node's parent are known:
 * a removal then walks up from the leaf instead of rbush's search of every
 * node whose box holds the point (thousands of nodes when many clients
 * share a location). The version is pinned; the tests exercise every path
 * through them.
 */
interface RBushMembers {
  /** The root node. */
  data: TreeNode;
  insert(slot: number): unknown;
  /** Bulk-loads items (sort-tile-recursive packing): a few times faster than inserts. */
  load(slots: number[]): unknown;
  clear(): unknown;
  // rbush calls these three unbound: closures on the instance.
  toBBox: (slot: number) => Box;
  compareMinX: (a: number, b: number) => number;
  compareMinY: (a: number, b: number) => number;
  /** The node at `level` (root 0) an insert of `bbox` descends to, filling `path`. */
  _chooseSubtree(bbox: Box, node: TreeNode, level: number, path: TreeNode[]): TreeNode;
  /**
   * Splits the overfull `path[level]`, moving its last children to a new node
   * appended to `path[level - 1]` (level 0: a new root over both).
   */
  _split(path: TreeNode[], level: number): void;
}

const RBushBase = RBush as unknown as new (maxEntries: number) => RBushMembers;

/**
 * An rbush tree whose items are slot numbers into coordinate arrays, which
 * knows each slot's leaf and each node's parent.
 */
class SlotTree extends RBushBase {
  /** Leaf holding each slot (undefined: not in the tree). */
  #leafOf: Array<TreeNode | undefined> = [];
  /** Parent of each inner or leaf node but the root. */
  #parentOf = new WeakMap<TreeNode, TreeNode>();
  /** The leaf the running insert chose. */
  #target: TreeNode | undefined;
  /** Latitude and longitude by slot, degrees (the index's arrays). */
  #lat: readonly number[];
  #lng: readonly number[];

  constructor(maxEntries: number, lat: readonly number[], lng: readonly number[]) {
    super(maxEntries);
    this.#lat = lat;
    this.#lng = lng;
    this.toBBox = (s) => ({ minX: lng[s], minY: lat[s], maxX: lng[s], maxY: lat[s] });
    this.compareMinX = (a, b) => lng[a] - lng[b];
    this.compareMinY = (a, b) => lat[a] - lat[b];
  }

  /** Empties the tree. */
  reset(): void {
    this.clear();
    this.#leafOf.length = 0;
  }

  /** The leaf holding `slot`, if it is in the tree. */
  leafOf(slot: number): TreeNode | undefined {
    return this.#leafOf[slot];
  }

  /**
   * Bulk-loads slots into the empty tree, then records every leaf and
   * parent by walking it.
   */
  fill(slots: number[]): void {
    this.load(slots);
    const stack = [this.data];
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      for (const child of node.children) {
        if (typeof child === "number") {
          this.#leafOf[child] = node;
        } else {
          this.#parentOf.set(child, node);
          stack.push(child);
        }
      }
    }
  }

  /** Inserts a slot at the coordinates its arrays now hold. */
  add(slot: number): void {
    this.#leafOf[slot] = undefined;
    this.insert(slot);
    // A split during the insert may have moved the slot to a new leaf already.
    this.#leafOf[slot] ??= this.#target;
  }

  /**
   * Removes a slot. Its leaf's box is fitted again, and each ancestor's only
   * while the box below it changed (most removals stop at the leaf); an
   * emptied node is dropped from its parent, as rbush's own removal does.
   */
  delete(slot: number): void {
    let node = this.#leafOf[slot]!;
    node.children.splice(node.children.indexOf(slot), 1);
    this.#leafOf[slot] = undefined;
    for (;;) {
      const parent = this.#parentOf.get(node);
      if (parent === undefined) {
        if (node !== this.data) {
          throw new Error("Cannot remove a client: its leaf is not in the tree");
        }
        if (node.children.length === 0) this.clear();
        else this.#fit(node);
        return;
      }
      if (node.children.length === 0) {
        parent.children.splice(parent.children.indexOf(node), 1);
      } else if (!this.#fit(node)) {
        return;
      }
      node = parent;
    }
  }

  /** Fits a node's box to its children; true if it changed. */
  #fit(node: TreeNode): boolean {
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    const children = node.children;
    if (node.leaf) {
      const lat = this.#lat;
      const lng = this.#lng;
      for (let i = 0; i < children.length; i++) {
        const slot = children[i] as number;
        minX = Math.min(minX, lng[slot]);
        minY = Math.min(minY, lat[slot]);
        maxX = Math.max(maxX, lng[slot]);
        maxY = Math.max(maxY, lat[slot]);
      }
    } else {
      for (let i = 0; i < children.length; i++) {
        const child = children[i] as TreeNode;
        minX = Math.min(minX, child.minX);
        minY = Math.min(minY, child.minY);
        maxX = Math.max(maxX, child.maxX);
        maxY = Math.max(maxY, child.maxY);
      }
    }
    if (node.minX === minX && node.minY === minY && node.maxX === maxX && node.maxY === maxY) {
      return false;
    }
    node.minX = minX;
    node.minY = minY;
    node.maxX = maxX;
    node.maxY = maxY;
    return true;
  }

  override _chooseSubtree(bbox: Box, node: TreeNode, level: number, path: TreeNode[]): TreeNode {
    return (this.#target = super._chooseSubtree(bbox, node, level, path));
  }

  override _split(path: TreeNode[], level: number): void {
    const node = path[level];
    super._split(path, level);
    const parent = level > 0 ? path[level - 1] : this.data;
    const added = parent.children[parent.children.length - 1] as TreeNode;
    this.#parentOf.set(added, parent);
    if (level === 0) this.#parentOf.set(node, parent);
    for (const child of added.children) {
      if (typeof child === "number") this.#leafOf[child] = added;
      else this.#parentOf.set(child, added);
    }
  }
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
   * shallower tree with more distance computations per node opened.
   *
   * @default 16
   */
  nodeSize?: number;
}

/**
 * Default node size. At 1,000,000 uniformly spread clients, 9 (rbush's
 * default), 16, 24 and 32 inserted and moved alike within the noise of the
 * shared machine; 16 and 24 answered queries fastest (9 was 20-40 % slower
 * at 500 km and 20,038 km, 32 about 30 % slower at 5 km).
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
 * A lower bound, metres, of the great-circle distance from the origin to any
 * point of the box [minX, maxX] x [minY, maxY] (longitude x latitude,
 * degrees): the distance to the box itself, less {@linkcode BOUND_SLACK_M}.
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
  return Math.max(0, metresOf(a) - BOUND_SLACK_M);
}

/**
 * The haversine term from the origin to the point at latitude `theta`
 * (radians, cosine `cosTheta`) of a meridian whose cosφ·sin²(Δλ/2) is `cosTerm`.
 */
function edgeTerm(o: Origin, cosTerm: number, theta: number, cosTheta: number): number {
  const s = Math.sin((theta - o.phi) / 2);
  return s * s + cosTerm * cosTheta;
}

/** A min-heap of tree nodes keyed by their bound (metres). */
class NodeQueue {
  #keys: number[] = [];
  #nodes: TreeNode[] = [];

  get length(): number {
    return this.#keys.length;
  }

  /** The smallest bound (undefined when empty). */
  peekKey(): number {
    return this.#keys[0];
  }

  push(key: number, node: TreeNode): void {
    const keys = this.#keys;
    const nodes = this.#nodes;
    let i = keys.length;
    keys.push(key);
    nodes.push(node);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent] <= key) break;
      keys[i] = keys[parent];
      nodes[i] = nodes[parent];
      i = parent;
    }
    keys[i] = key;
    nodes[i] = node;
  }

  /** Removes and returns the node of the smallest bound; the queue must not be empty. */
  pop(): TreeNode {
    const keys = this.#keys;
    const nodes = this.#nodes;
    const top = nodes[0];
    const key = keys.pop()!;
    const node = nodes.pop()!;
    const n = keys.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && keys[child + 1] < keys[child]) child++;
      if (keys[child] >= key) break;
      keys[i] = keys[child];
      nodes[i] = nodes[child];
      i = child;
    }
    keys[i] = key;
    nodes[i] = node;
    return top;
  }
}

/**
 * The best `limit` clients seen so far: a max-heap by (distance, id), so the
 * worst is on top, ready to be replaced by a better one in O(log limit) or
 * turned down in O(1).
 */
class BestClients {
  #limit: number;
  #ids: ReadonlyArray<string | undefined>;
  #distances: number[] = [];
  #slots: number[] = [];

  /**
   * @param limit Most clients kept, >= 1.
   * @param ids Client id by slot.
   */
  constructor(limit: number, ids: ReadonlyArray<string | undefined>) {
    this.#limit = limit;
    this.#ids = ids;
  }

  /** True once `limit` clients are kept: from then on only better ones get in. */
  get full(): boolean {
    return this.#slots.length === this.#limit;
  }

  /** Distance of the worst client kept (undefined when empty). */
  get worst(): number {
    return this.#distances[0];
  }

  /** Keeps the client if fewer than `limit` are kept or it beats the worst. */
  offer(distance: number, slot: number): void {
    const distances = this.#distances;
    const slots = this.#slots;
    if (slots.length < this.#limit) {
      let i = slots.length;
      distances.push(distance);
      slots.push(slot);
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.#after(distance, slot, distances[parent], slots[parent])) break;
        distances[i] = distances[parent];
        slots[i] = slots[parent];
        i = parent;
      }
      distances[i] = distance;
      slots[i] = slot;
      return;
    }
    if (!this.#after(distances[0], slots[0], distance, slot)) return;
    const n = slots.length;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (
        right < n && this.#after(distances[right], slots[right], distances[child], slots[child])
      ) {
        child = right;
      }
      if (!this.#after(distances[child], slots[child], distance, slot)) break;
      distances[i] = distances[child];
      slots[i] = slots[child];
      i = child;
    }
    distances[i] = distance;
    slots[i] = slot;
  }

  /** The clients kept, nearest first, equally near ones by id. */
  sorted(): NearClient[] {
    const ids = this.#ids;
    const out = this.#slots.map((slot, i) => ({ id: ids[slot]!, distanceM: this.#distances[i] }));
    return out.sort((a, b) =>
      a.distanceM - b.distanceM || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    );
  }

  /** Whether (da, a) comes after (db, b): farther, or as far with a greater id. */
  #after(da: number, a: number, db: number, b: number): boolean {
    return da > db || (da === db && this.#ids[a]! > this.#ids[b]!);
  }
}

/** Offers every client below `node` to `best`, all at distance `d`. */
function offerAll(node: TreeNode, d: number, best: BestClients): void {
  const stack = [node];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const children = next.children;
    if (next.leaf) {
      for (let i = 0; i < children.length; i++) best.offer(d, children[i] as number);
    } else {
      for (let i = 0; i < children.length; i++) stack.push(children[i] as TreeNode);
    }
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
 * Costs: {@linkcode ClientIndex.set} (insert or move) and
 * {@linkcode ClientIndex.delete} are O(log n), a move within its leaf's box
 * O(1); {@linkcode ClientIndex.near} opens the nodes nearer than its radius
 * or its `limit`-th answer, about O(log n + limit) for spread-out clients.
 * A crowd of k clients at exactly one distance costs O(k) to a query that
 * reaches it, because equally distant clients are ordered by id (100,000
 * clients at one point, as `herd bench` places them: about 6 ms of CPU on
 * the shared 2-core machine, against about 0.1 ms for spread-out clients).
 * Memory: about 120 bytes per client at 1,000,000 clients, on top of the id
 * string the caller holds. Figures: scripts/geo_index_bench.ts.
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
 * // [{ id: "kiwi.cs.ucla.edu", distanceM: 1099.56... }, { id: "lemon", distanceM: 18104.71... }]
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
    this.#tree = new SlotTree(nodeSize, this.#lat, this.#lng);
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
      // Within its leaf's box (a short move, mostly) the tree's boxes stay
      // true: only the coordinates change. They fit again at the next removal.
      const leaf = this.#tree.leafOf(slot)!;
      if (lng >= leaf.minX && lng <= leaf.maxX && lat >= leaf.minY && lat <= leaf.maxY) {
        this.#lat[slot] = lat;
        this.#lng[slot] = lng;
        return;
      }
      // Removed at its current coordinates: the tree fits boxes to them.
      this.#tree.delete(slot);
    } else {
      slot = this.#free.pop() ?? this.#ids.length;
      this.#ids[slot] = id;
      this.#slots.set(id, slot);
    }
    this.#lat[slot] = lat;
    this.#lng[slot] = lng;
    this.#tree.add(slot);
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
    this.#tree.delete(slot);
    this.#slots.delete(id);
    this.#ids[slot] = undefined;
    this.#free.push(slot);
    return true;
  }

  /**
   * Indexes many clients at once: the same as calling
   * {@linkcode ClientIndex.set} for each in order (a repeated id ends at its
   * last location), but into an empty index they are bulk-loaded, about 3
   * times faster (for start-up from a stored set of records).
   *
   * @param clients `[id, lat, lng]` triples, degrees as for `set`.
   * @throws {RangeError} If a coordinate is out of range or not a number;
   *   the index is then unchanged.
   */
  load(clients: Iterable<readonly [id: string, lat: number, lng: number]>): void {
    const all = [...clients];
    for (const [, lat, lng] of all) checkPoint("index a client", lat, lng);
    if (this.#slots.size > 0) {
      for (const [id, lat, lng] of all) this.set(id, lat, lng);
      return;
    }
    this.clear();
    for (const [id, lat, lng] of all) {
      let slot = this.#slots.get(id);
      if (slot === undefined) {
        slot = this.#ids.length;
        this.#ids[slot] = id;
        this.#slots.set(id, slot);
      }
      this.#lat[slot] = lat;
      this.#lng[slot] = lng;
    }
    this.#tree.fill([...this.#slots.values()]);
  }

  /** Removes every client. */
  clear(): void {
    this.#tree.reset();
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
    if (limit === 0 || this.#slots.size === 0) return [];
    const radiusM = radiusKm * 1000;
    const o = originOf(lat, lng);
    const lats = this.#lat;
    const lngs = this.#lng;
    const best = new BestClients(limit, this.#ids);
    const queue = new NodeQueue();
    let node: TreeNode = this.#tree.data;
    // Best-first: open nodes by their bound until the nearest unopened one is
    // farther than the radius or, once `limit` clients are kept, than the
    // worst of them (a node only as far may hold an equally near client with
    // a smaller id, so it is opened).
    for (;;) {
      const children = node.children;
      if (node.minX === node.maxX && node.minY === node.maxY) {
        // A box that is a point: every client below shares one location (a
        // crowd), so one distance serves them all.
        const d = metresOf(haversineTo(o, node.minY, node.minX));
        if (d <= radiusM) offerAll(node, d, best);
      } else if (node.leaf) {
        for (let i = 0; i < children.length; i++) {
          const slot = children[i] as number;
          const d = metresOf(haversineTo(o, lats[slot], lngs[slot]));
          if (d <= radiusM) best.offer(d, slot);
        }
      } else {
        for (let i = 0; i < children.length; i++) {
          const child = children[i] as TreeNode;
          const bound = boxBound(o, child);
          if (bound <= radiusM && !(best.full && bound > best.worst)) queue.push(bound, child);
        }
      }
      if (queue.length === 0 || (best.full && queue.peekKey() > best.worst)) break;
      node = queue.pop();
    }
    return best.sorted();
  }
}

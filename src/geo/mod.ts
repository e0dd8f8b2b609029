/**
 * Geometry over the record store: {@linkcode ClientIndex}, the clients near a
 * point, nearest first by great-circle distance (issue 11's
 * `GET /v1/clients?near=...`), and {@linkcode greatCircleDistanceM}, the
 * distance it measures with.
 *
 * @example
 * ```ts
 * import { ClientIndex } from "./mod.ts";
 *
 * const index = new ClientIndex();
 * index.set("kiwi.cs.ucla.edu", 34.068930, -118.445127);
 * const [kiwi] = index.near(34.06, -118.44, 5, 100);
 * if (kiwi.id !== "kiwi.cs.ucla.edu" || !(kiwi.distanceM < 5000)) throw new Error();
 * ```
 *
 * @module
 */

export * from "./client_index.ts";

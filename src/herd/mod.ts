/**
 * The running member: listener and connection loop, record store, peer
 * links, flooding.
 *
 * @module
 */

export * from "./member.ts";
export * from "./store.ts";
export * from "./peer_link.ts";
export * from "./flood.ts";
export * from "./handler.ts";
export * from "./clock.ts";
export * from "./auth.ts";
export * from "./anti_entropy.ts";
export * from "./digest_tree.ts";
export * from "./persistence.ts";

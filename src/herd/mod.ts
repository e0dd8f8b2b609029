/**
 * The running member: sessions (one read loop per connection, either side),
 * the dispatcher, record acceptance, the store, peer links, flooding and
 * epidemic broadcast trees, anti-entropy, persistence, and the transport and clock it is built on.
 *
 * @module
 */

export * from "./member.ts";
export * from "./store.ts";
export * from "./peer_link.ts";
export * from "./flood.ts";
export * from "./broadcast_tree.ts";
export * from "./dispatch.ts";
export * from "./accept.ts";
export * from "./session.ts";
export * from "./transport.ts";
export * from "./tls.ts";
export * from "./clock.ts";
export * from "./auth.ts";
export * from "./anti_entropy.ts";
export * from "./digest_tree.ts";
export * from "./persistence.ts";
export * from "./limits.ts";
export * from "./time_index.ts";
export * from "./expiry.ts";

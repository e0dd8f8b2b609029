/**
 * A client of the herd protocol (PROTOCOL.md sections 1-2), for tools and
 * tests that talk to any server speaking it: one request the way test
 * harnesses make it ({@linkcode request}), a pipelining connection
 * ({@linkcode Pipeline}) over a byte-level reply framer
 * ({@linkcode ReplyFramer}), and the load generator behind `herd bench`
 * ({@linkcode runBench}).
 *
 * @module
 */

export * from "./address.ts";
export * from "./client_error.ts";
export * from "./reply_framer.ts";
export * from "./request.ts";
export * from "./pipeline.ts";
export * from "./bench_options.ts";
export * from "./bench.ts";

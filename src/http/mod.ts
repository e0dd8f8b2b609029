/**
 * The HTTP face of a member (docs/HTTP.md): the app and its routes
 * (app.ts), the server that runs it next to a member (server.ts), live
 * streams (stream.ts over stream_hub.ts), metrics (metrics.ts), and the JSON
 * shapes (records.ts, problem.ts).
 *
 * @module
 */

export * from "./app.ts";
export * from "./server.ts";
export * from "./stream.ts";
export * from "./stream_hub.ts";
export * from "./metrics.ts";
export * from "./records.ts";
export * from "./problem.ts";

/**
 * The HTTP API of one member (docs/HTTP.md): routes, request validation and
 * the OpenAPI 3.1 document from one set of zod schemas (@hono/zod-openapi),
 * bearer-token and cookie authentication, CORS, RFC 9457 errors, a log event
 * per request. Client lines go through the member's one message path
 * (`Member.submit`), so an HTTP location update is exactly an IAMAT.
 *
 * Live streams (`/v1/stream`) are served by stream.ts, the dashboard page (`GET /`) and its
 * assets (`/dashboard/<file>`) by dashboard.ts; this module routes to them.
 *
 * @module
 */

import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie, setCookie } from "hono/cookie";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { matchedRoutes } from "hono/route";
import { createHash, timingSafeEqual } from "node:crypto";
import type { HerdConfig } from "../config.ts";
import type { ClientIndex } from "../geo/mod.ts";
import {
  type EraseResult,
  type LineResult,
  type LineSource,
  type PeerLink,
  type RecordStore,
  wallClockNs,
} from "../herd/mod.ts";
import type { EventLog } from "../log.ts";
import {
  formatPosixTime,
  MAX_BOUND,
  MAX_RADIUS_KM,
  MIN_BOUND,
  unicodeToWire,
  type WireText,
  wireToDisplay,
} from "../protocol/mod.ts";
import {
  acceptsHtml,
  assetResponse,
  dashboardAssets,
  dashboardPage,
  dashboardPolicy,
  tokenNeededResponse,
  wantsJson,
} from "./dashboard.ts";
import { HttpProblem, problem, PROBLEM_JSON, problemResponse } from "./problem.ts";
import { ClientIdError, clientIdOf, iso6709Of, type RecordJson, recordJson } from "./records.ts";
import { serveStream, type StreamRequest } from "./stream.ts";
import type { StreamHub } from "./stream_hub.ts";

/** Largest request body accepted, bytes (16 KiB); larger gets 413. */
export const MAX_BODY_BYTES = 16 * 1024;

/** Most clients one `GET /v1/clients` page holds. */
export const MAX_PAGE = 1000;

/** Half the Earth's circumference on the index's sphere, km (src/geo, re-exported here). */
export { MAX_NEAR_RADIUS_KM } from "../geo/mod.ts";
import { MAX_NEAR_RADIUS_KM } from "../geo/mod.ts";

/** Name of the cookie `GET /?token=` sets, holding the token for the page's own requests. */
export const TOKEN_COOKIE = "herd_token";

/** What the API needs of the member it serves. */
export interface HttpMember {
  /** The member's name. */
  readonly name: string;
  /** Its records. */
  readonly store: RecordStore;
  /** Its own links to its neighbours, by name. */
  readonly links: ReadonlyMap<string, PeerLink>;
  /** True while it listens. */
  readonly running: boolean;
  /** Serves a client line exactly as a TCP client's (session.ts `serveLine`). */
  submit(source: LineSource, line: WireText): Promise<LineResult>;
  /** Erases a client from the herd: stores and floods its tombstone (`Member.erase`). */
  erase(source: LineSource, clientId: WireText): EraseResult;
}

/** Per-second rates the API reports in `/v1/herd`. */
export interface HerdRates {
  /** Lines received by the member per second (every connection, both faces). */
  linesPerS(): number;
  /** Flood lines handed to the link to `peer` per second. */
  sentPerS(peer: string): number;
  /** Lines received from `peer` per second. */
  receivedPerS(peer: string): number;
}

/** The built app: what `Deno.serve` calls (and tests, without a socket). */
export interface HttpApp {
  /**
   * Answers one request.
   *
   * @param request The request.
   * @param env `remoteAddr`: the client's address, for the log.
   * @returns The response; never rejects (errors become problem documents).
   */
  fetch(request: Request, env?: { remoteAddr?: Deno.NetAddr }): Response | Promise<Response>;
}

/** What `/metrics` renders and what the request log feeds. */
export interface HttpMetrics {
  /** Prometheus text exposition. */
  render(): Promise<string>;
  /** Its media type. */
  readonly contentType: string;
  /** Counts one request. */
  observeHttp(method: string, route: string, status: number, seconds: number): void;
}

/** Everything the app reads or calls. */
export interface AppDeps {
  /** The member. */
  member: HttpMember;
  /** The herd (members, links, `[http]`). */
  config: HerdConfig;
  /** Live record events for `/v1/stream`. */
  hub: StreamHub<RecordJson>;
  /** Geo index over the member's records, for `GET /v1/clients?near=`. */
  index: ClientIndex;
  /** The member's event log (`http.request`, errors). */
  log: EventLog;
  /** herd's version, for `/v1/herd`. */
  version: string;
  /** When the member started, POSIX ms. */
  startedMs: number;
  /** Rates for `/v1/herd`. */
  rates: HerdRates;
  /** True once the places provider has finished loading. */
  placesReady(): boolean;
  /** Prometheus metrics; `/metrics` answers 503 without. */
  metrics?: HttpMetrics;
  /** A fresh request id (the `conn` of its log events). */
  nextRequestId(): number;
  /** The token required, if any (`[http] token` or `HERD_HTTP_TOKEN`). */
  token?: string;
  /**
   * Base URL of each member's HTTP API, by name, read at every request (for `/v1/herd` and the
   * origins CORS allows): a map the faces of one process fill in as they listen, so members
   * on port 0 show their real ports. @default {@linkcode memberOrigins} of `config`
   */
  origins?: ReadonlyMap<string, string>;
  /**
   * When the member stored its current record of a client, POSIX ms (`stored_at` of
   * `GET /v1/clients/{id}`); `undefined` when unknown. @default always unknown
   */
  storedAt?(id: WireText): number | undefined;
}

/** Base URL of each member's HTTP API, by name (`http://127.0.0.1:11590`), for those that have one. */
export function memberOrigins(config: HerdConfig): Map<string, string> {
  const origins = new Map<string, string>();
  for (const s of config.servers) {
    if (s.httpPort === undefined) continue;
    const host = s.httpHost ?? s.host;
    const shown = host.includes(":") ? `[${host}]` : host;
    origins.set(s.name, `http://${shown}:${s.httpPort}`);
  }
  return origins;
}

// ---- schemas (one source for validation and the OpenAPI document) ----

const RecordSchema = z.object({
  server: z.string().openapi({ example: "Campbell" }),
  skew: z.string().openapi({ example: "+0.263873386" }),
  client: z.string().openapi({ example: "kiwi.cs.ucla.edu" }),
  location: z.string().openapi({ example: "+34.068930-118.445127" }),
  time: z.string().openapi({ example: "1621464827.959498503" }),
  at: z.string().openapi({
    example: "AT Campbell +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
  }),
}).openapi("Record");

const ProblemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
}).openapi("Problem");

const FIELD = /^\S+$/;

const LocationBody = z.object({
  location: z.string().regex(FIELD, "must be ISO 6709 text without white space").optional()
    .openapi({ example: "+34.068930-118.445127" }),
  lat: z.number().min(-90).max(90).optional().openapi({ example: 34.06893 }),
  lng: z.number().min(-180).max(180).optional().openapi({ example: -118.445127 }),
  time: z.string().regex(FIELD, "must be POSIX seconds as text, e.g. 1621464827.959498503")
    .optional().openapi({ example: "1621464827.959498503" }),
}).strict().superRefine((b, ctx) => {
  const point = b.lat !== undefined || b.lng !== undefined;
  if (b.location === undefined && !point) {
    ctx.addIssue({ code: "custom", path: ["location"], message: "give location, or lat and lng" });
  } else if (b.location !== undefined && point) {
    ctx.addIssue({
      code: "custom",
      path: ["location"],
      message: "give location or lat/lng, not both",
    });
  } else if (point && (b.lat === undefined || b.lng === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: [b.lat === undefined ? "lat" : "lng"],
      message: "lat and lng go together",
    });
  }
}).openapi("LocationUpdate");

/** The keys of a location update, for the 400 that names an unknown one. */
const LOCATION_KEYS = "location (or lat and lng) and optionally time";

/** What a validation failure of a whole part (not one field) names: the body, not "json". */
const WHOLE: Readonly<Record<string, string>> = { json: "body", query: "query", param: "id" };

const ClientPath = z.object({
  id: z.string().openapi({
    param: { name: "id", in: "path" },
    description: "Client id: one percent-encoded path segment, UTF-8, no white space",
    example: "kiwi.cs.ucla.edu",
  }),
});

const NearbyQuery = z.object({
  radius_km: z.string().regex(FIELD, "must be a number").openapi({
    description: `Radius, km: 0 < r <= ${MAX_RADIUS_KM}`,
    example: "10",
  }),
  bound: z.string().regex(FIELD, "must be an integer").openapi({
    description: `Most places: ${MIN_BOUND}..${MAX_BOUND}`,
    example: "5",
  }),
});

const POINT = /^\s*(-?[0-9]+(?:\.[0-9]+)?)\s*,\s*(-?[0-9]+(?:\.[0-9]+)?)\s*$/;

const ClientsQuery = z.object({
  near: z.string().regex(POINT, "must be lat,lng in degrees, e.g. 34.06,-118.44").optional()
    .openapi({ example: "34.06,-118.44" }),
  radius_km: z.coerce.number().gt(0).max(MAX_NEAR_RADIUS_KM).optional().openapi({
    description: `With near: km, 0 < r <= ${MAX_NEAR_RADIUS_KM}`,
    example: 5,
  }),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(100),
  cursor: z.string().optional().openapi({
    description: "Without near: the `next` of the previous page",
  }),
});

const ClientsPage = z.object({
  clients: z.array(RecordSchema.extend({ distance_m: z.number().optional() })),
  next: z.string().nullable(),
}).openapi("ClientsPage");

const HerdSchema = z.object({
  member: z.string(),
  version: z.string(),
  uptime_s: z.number(),
  records: z.number().int(),
  lines_per_s: z.number(),
  members: z.array(z.object({ name: z.string(), http: z.string().nullable() })),
  neighbours: z.array(z.object({
    name: z.string(),
    state: z.enum(["up", "down"]),
    since: z.string(),
    queued: z.number().int(),
    sent_per_s: z.number(),
    received_per_s: z.number(),
  })),
  links: z.array(z.tuple([z.string(), z.string()])),
}).openapi("Herd");

const StreamQuery = z.object({
  client: z.union([z.string(), z.array(z.string())]).optional().openapi({
    description: "Watch these clients (repeat the parameter)",
  }),
  near: z.string().regex(POINT, "must be lat,lng in degrees").optional(),
  radius_km: z.coerce.number().gt(0).max(MAX_NEAR_RADIUS_KM).optional(),
});

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});
const problems = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, {
    content: { [PROBLEM_JSON]: { schema: ProblemSchema } },
    description: problem(s, "").title,
  }]));

// ---- routes ----

const putLocation = createRoute({
  method: "put",
  path: "/v1/clients/{id}/location",
  summary: "Report a client's position: exactly what an IAMAT does",
  request: {
    params: ClientPath,
    body: { content: { "application/json": { schema: LocationBody } }, required: true },
  },
  responses: {
    200: json(
      RecordSchema.extend({
        stored: z.boolean(),
        expired: z.literal(true).optional().openapi({
          description: "Present when the update was refused as expired: its time is older than " +
            "now minus record_ttl_s, so it is answered but neither stored nor flooded",
        }),
      }),
      "The record, as the IAMAT's AT line",
    ),
    ...problems(400, 401, 413, 415),
  },
});

const getClient = createRoute({
  method: "get",
  path: "/v1/clients/{id}",
  summary: "A client's record",
  request: { params: ClientPath },
  responses: {
    200: json(
      RecordSchema.extend({
        stored_at: z.number().nullable().openapi({
          description: "When this member stored the record, POSIX ms; null if before its HTTP " +
            "face started",
          example: 1796099101934.25,
        }),
      }),
      "The record, and when this member stored it",
    ),
    ...problems(400, 401, 404),
  },
});

const ErasureSchema = z.object({
  client: z.string().openapi({ example: "kiwi.cs.ucla.edu" }),
  server: z.string().openapi({ description: "The member that erased it", example: "Hill" }),
  time: z.string().openapi({
    description: "The tombstone's time, POSIX seconds: this member's clock, or the erased " +
      "record's client time if later",
    example: "1796099101.934250000",
  }),
  erase: z.string().openapi({
    description: "The tombstone's peer line, flooded to every member",
    example: "ERASE Hill kiwi.cs.ucla.edu 1796099101.934250000",
  }),
  held: z.boolean().openapi({ description: "This member held a record of the client" }),
  stored: z.boolean().openapi({
    description: "The tombstone was stored and flooded (false: an equal or newer one was held)",
  }),
}).openapi("Erasure");

const deleteClient = createRoute({
  method: "delete",
  path: "/v1/clients/{id}",
  summary: "Erase a client from every member: a tombstone, flooded and reconciled like a " +
    "record; idempotent (a client this member does not know is erased too)",
  request: { params: ClientPath },
  responses: {
    200: json(ErasureSchema, "The client is erased here, and its tombstone is on its way"),
    ...problems(400, 401),
  },
});

const getNearby = createRoute({
  method: "get",
  path: "/v1/clients/{id}/nearby",
  summary: "What WHATSAT answers: the record and a Nearby Search document",
  request: { params: ClientPath, query: NearbyQuery },
  responses: {
    200: json(
      z.object({ record: RecordSchema, places: z.record(z.string(), z.unknown()) }),
      "The record and the places",
    ),
    ...problems(400, 401, 404),
  },
});

const listClients = createRoute({
  method: "get",
  path: "/v1/clients",
  summary: "Clients near a point (nearest first), or every client by id, a page at a time",
  request: { query: ClientsQuery },
  responses: { 200: json(ClientsPage, "A page of clients"), ...problems(400, 401) },
});

const getHerd = createRoute({
  method: "get",
  path: "/v1/herd",
  summary: "This member's view of the herd",
  responses: { 200: json(HerdSchema, "The herd"), ...problems(401) },
});

const getStream = createRoute({
  method: "get",
  path: "/v1/stream",
  summary: "Live record events: WebSocket upgrade, or Server-Sent Events",
  request: { query: StreamQuery },
  responses: {
    101: { description: "WebSocket: one JSON event per text message" },
    200: {
      content: { "text/event-stream": { schema: z.string() } },
      description: "Server-Sent Events: one JSON event per data line",
    },
    ...problems(400, 401),
  },
});

const Health = z.object({ status: z.string(), member: z.string() }).openapi("Health");

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  summary: "Liveness",
  responses: { 200: json(Health, "Alive") },
});

const readyz = createRoute({
  method: "get",
  path: "/readyz",
  summary: "Readiness: listening and places loaded",
  responses: { 200: json(Health, "Ready"), 503: json(Health, "Not ready") },
});

const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  summary: "Prometheus text exposition",
  responses: {
    200: {
      content: { "text/plain": { schema: z.string() } },
      description: "Metrics, Prometheus text format 0.0.4",
    },
    ...problems(401, 503),
  },
});

const index = createRoute({
  method: "get",
  path: "/",
  summary: "The dashboard page (or, to Accept: application/json, where the API is); with " +
    "?token=<token>, a cookie holding the token for the page",
  request: {
    query: z.object({
      token: z.string().optional().openapi({
        description: "The token: answered with 303 to / and an HttpOnly, SameSite=Strict cookie",
      }),
    }),
  },
  responses: {
    200: {
      content: {
        "text/html": { schema: z.string() },
        "application/json": {
          schema: z.object({
            member: z.string(),
            api: z.string(),
            openapi: z.string(),
            docs: z.string(),
          }),
        },
      },
      description: "The dashboard; JSON for a client that accepts JSON and not HTML",
    },
    303: { description: "Token accepted: the cookie is set, the token leaves the address bar" },
    ...problems(401),
  },
});

/** Every route's path pattern (hono syntax) and methods, for 405 answers. */
const ALLOWED: ReadonlyArray<[RegExp, string]> = [
  [/^\/v1\/clients\/[^/]+\/location$/, "PUT"],
  [/^\/v1\/clients\/[^/]+\/nearby$/, "GET"],
  [/^\/v1\/clients\/[^/]+$/, "GET, DELETE"],
  [/^\/v1\/clients$/, "GET"],
  [/^\/v1\/herd$/, "GET"],
  [/^\/v1\/stream$/, "GET"],
  [/^\/v1\/openapi\.json$/, "GET"],
  [/^\/(healthz|readyz|metrics)?$/, "GET"],
  [/^\/dashboard\/[^/]+$/, "GET"],
];

// ---- helpers ----

/** SHA-256 of a string: equal-length inputs for a constant-time comparison. */
function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** The raw (still percent-encoded) client id segment of a `/v1/clients/{id}...` URL. */
function rawIdSegment(c: Context): string {
  return new URL(c.req.url).pathname.split("/")[3] ?? "";
}

/** The client id of the request's path, or a 400. */
function pathClientId(c: Context): { text: string; wire: WireText } {
  try {
    return clientIdOf(rawIdSegment(c));
  } catch (e) {
    if (e instanceof ClientIdError) throw new HttpProblem(400, `id: ${e.message}`);
    throw e;
  }
}

/**
 * The route pattern of the handler the request matched (`/v1/clients/:id`), or `(none)` (a 404
 * or 405): the `route` of `http.request` and of the metrics. The last match that is not a
 * middleware (`app.use`, method `ALL`), so a request refused by a middleware (401, 413, 415)
 * still names its route, and one that matched only a middleware's pattern (`/v1/*`) names none.
 */
function routeOf(c: Context): string {
  return matchedRoutes(c).findLast((r) => r.method !== "ALL")?.path ?? "(none)";
}

/** Who sent the request, for the log. */
function sourceOf(c: Context, deps: AppDeps): LineSource {
  const info = (c.env as { remoteAddr?: Deno.NetAddr } | undefined)?.remoteAddr;
  const host = info?.hostname ?? "unknown";
  return {
    id: deps.nextRequestId(),
    remote: info === undefined ? "unknown" : `${host}:${info.port}`,
    remoteHost: host,
    via: "http",
  };
}

/** Which request field a `? ` reply's reason is about. */
function fieldOf(reason: string | undefined): string {
  if (reason === undefined) return "request";
  if (reason.includes("location")) return "location";
  if (reason.includes("time")) return "time";
  if (reason.includes("radius")) return "radius_km";
  if (reason.includes("bound")) return "bound";
  if (reason === "unknown client") return "id";
  return "request";
}

/** The `[lat, lng]` of a `near` parameter already matched by {@linkcode POINT}, range-checked. */
function pointOf(near: string): [number, number] {
  const m = POINT.exec(near)!;
  const lat = Number(m[1]);
  const lng = Number(m[2]);
  if (Math.abs(lat) > 90) throw new HttpProblem(400, "near: latitude must be -90..90");
  if (Math.abs(lng) > 180) throw new HttpProblem(400, "near: longitude must be -180..180");
  return [lat, lng];
}

/**
 * Builds the app. Serve it with `Deno.serve(..., app.fetch)`, passing the
 * connection info as the env (`app.fetch(req, { remoteAddr })`).
 *
 * @param deps The member and what the API reads.
 * @returns The hono app.
 */
export function buildApp(deps: AppDeps): HttpApp {
  const app = new OpenAPIHono({
    // A validation failure is a 400 problem naming the first field at fault.
    defaultHook: (result, c) => {
      if (result.success) return;
      const issue = result.error.issues[0];
      // An unknown key is named itself; a problem with the whole body or query names that.
      const field = issue.code === "unrecognized_keys"
        ? issue.keys[0]
        : issue.path.length > 0
        ? issue.path.join(".")
        : WHOLE[result.target] ?? result.target;
      const detail = issue.code === "unrecognized_keys"
        ? `unknown key; a location update has ${LOCATION_KEYS}`
        : issue.message;
      return c.body(JSON.stringify(problem(400, `${field}: ${detail}`)), 400, {
        "content-type": PROBLEM_JSON,
      });
    },
  });
  const { member, config } = deps;
  const origins = deps.origins ?? memberOrigins(config);
  const corsOrigins = new Set(config.http.corsOrigins);
  const allowed = (origin: string) =>
    corsOrigins.has(origin) || [...origins.values()].includes(origin);

  // Log and count every request, whatever happened to it.
  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = routeOf(c);
    deps.log.emit("info", "http.request", {
      method: c.req.method,
      route,
      status: c.res.status,
      ms: Math.round(seconds * 1e6) / 1e3,
    });
    deps.metrics?.observeHttp(c.req.method, route, c.res.status, seconds);
  });
  app.use(
    "*",
    cors({
      origin: (origin) => (allowed(origin) ? origin : null),
      credentials: true,
      allowMethods: ["GET", "PUT", "DELETE", "OPTIONS"],
      allowHeaders: ["Authorization", "Content-Type"],
      maxAge: 600,
    }),
  );
  app.use("*", authenticate(deps));
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => problemResponse(413, `body: larger than ${MAX_BODY_BYTES} bytes`),
    }),
  );
  app.use("/v1/clients/:id/location", async (c, next) => {
    if (c.req.method === "PUT") {
      const type = c.req.header("content-type") ?? "";
      if (!/^application\/(?:[a-z0-9.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
        return problemResponse(415, `content-type: must be application/json, got "${type}"`);
      }
    }
    return await next();
  });

  app.openapi(putLocation, async (c) => {
    const id = pathClientId(c);
    const body = c.req.valid("json");
    // Wire text, like every field of the line: a non-ASCII location is its UTF-8 bytes (and
    // then not ISO 6709: a 400), never a char above 255 that no socket or log can encode.
    const location = unicodeToWire(body.location ?? iso6709Of(body.lat!, body.lng!));
    const line = body.time === undefined
      ? `IAMAT ${id.wire} ${location} ${formatPosixTime(wallClockNs())}`
      : `IAMAT ${id.wire} ${location} ${unicodeToWire(body.time)}`;
    const result = await member.submit(sourceOf(c, deps), line);
    const reply = result.reply!;
    if (reply.reason !== undefined) {
      throw new HttpProblem(400, `${fieldOf(reply.reason)}: ${reply.reason}`);
    }
    const json = { ...recordJson(reply.wire.trimEnd()), stored: result.stored };
    return c.json(result.expired === true ? { ...json, expired: true as const } : json, 200);
  });

  app.openapi(getClient, (c) => {
    const id = pathClientId(c);
    const line = member.store.line(id.wire);
    if (line === undefined) throw new HttpProblem(404, `id: no record of client "${id.text}"`);
    const json = recordJson(line, deps.storedAt?.(id.wire) ?? null);
    return c.json(json as typeof json & { stored_at: number | null }, 200);
  });

  app.openapi(deleteClient, (c) => {
    const id = pathClientId(c);
    // No IAMAT can carry a longer id, and neighbours would drop a longer ERASE line unread.
    const max = config.settings.maxLineBytes;
    if (id.wire.length > max) throw new HttpProblem(400, `id: longer than ${max} bytes`);
    const result = member.erase(sourceOf(c, deps), id.wire);
    const f = result.line.split(" ");
    return c.json({
      client: id.text,
      server: wireToDisplay(f[1]),
      time: f[f.length - 1],
      erase: wireToDisplay(result.line),
      held: result.held,
      stored: result.stored,
    }, 200);
  });

  app.openapi(getNearby, async (c) => {
    const id = pathClientId(c);
    const q = c.req.valid("query");
    const line = `WHATSAT ${id.wire} ${unicodeToWire(q.radius_km)} ${unicodeToWire(q.bound)}`;
    const { reply } = await member.submit(sourceOf(c, deps), line);
    if (reply!.reason !== undefined) {
      const status = reply!.reason === "unknown client" ? 404 : 400;
      throw new HttpProblem(status, `${fieldOf(reply!.reason)}: ${reply!.reason}`);
    }
    const nl = reply!.wire.indexOf("\n");
    const places = JSON.parse(reply!.text.slice(reply!.text.indexOf("\n") + 1));
    return c.json({ record: recordJson(reply!.wire.slice(0, nl)), places }, 200);
  });

  app.openapi(listClients, (c) => {
    const q = c.req.valid("query");
    if (q.near !== undefined) {
      if (q.radius_km === undefined) throw new HttpProblem(400, "radius_km: required with near");
      const [lat, lng] = pointOf(q.near);
      const clients = deps.index.near(lat, lng, q.radius_km, q.limit).flatMap((hit) => {
        const line = member.store.line(hit.id);
        return line === undefined ? [] : [{ ...recordJson(line), distance_m: hit.distanceM }];
      });
      return c.json({ clients, next: null }, 200);
    }
    if (q.radius_km !== undefined) throw new HttpProblem(400, "radius_km: only with near");
    const after = q.cursor === undefined ? undefined : unicodeToWire(q.cursor);
    const ids = firstIdsAfter(member.store, after, q.limit + 1);
    const page = ids.slice(0, q.limit);
    const clients = page.map((id) => recordJson(member.store.line(id)!));
    const next = ids.length > q.limit ? clients[clients.length - 1].client : null;
    return c.json({ clients, next }, 200);
  });

  app.openapi(getHerd, (c) => {
    const neighbours = [...member.links.values()].map((l) => ({
      name: l.peer,
      state: l.state === "welcomed" ? "up" as const : "down" as const,
      since: new Date(l.sinceMs).toISOString(),
      queued: l.queued,
      sent_per_s: deps.rates.sentPerS(l.peer),
      received_per_s: deps.rates.receivedPerS(l.peer),
    }));
    return c.json({
      member: member.name,
      version: deps.version,
      uptime_s: Math.round((Date.now() - deps.startedMs) / 100) / 10,
      records: member.store.size,
      lines_per_s: deps.rates.linesPerS(),
      members: config.servers.map((s) => ({ name: s.name, http: origins.get(s.name) ?? null })),
      neighbours,
      links: config.links.map(([a, b]) => [a, b] as [string, string]),
    }, 200);
  });

  app.openapi(getStream, (c) => {
    const q = c.req.valid("query");
    const request: StreamRequest = { raw: c.req.raw };
    if (q.near !== undefined) {
      if (q.radius_km === undefined) throw new HttpProblem(400, "radius_km: required with near");
      const [lat, lng] = pointOf(q.near);
      request.filter = { near: { lat, lng, radiusKm: q.radius_km } };
    } else if (q.client !== undefined) {
      const ids = (Array.isArray(q.client) ? q.client : [q.client]).map((id) => {
        if (id === "" || /[\s\p{Cc}]/u.test(id)) {
          throw new HttpProblem(400, "client: must be a client id without white space");
        }
        return unicodeToWire(id);
      });
      request.filter = { clients: ids };
    } else if (q.radius_km !== undefined) {
      throw new HttpProblem(400, "radius_km: only with near");
    }
    return serveStream(deps.hub, request) as never;
  });

  app.openapi(healthz, (c) => c.json({ status: "ok", member: member.name }, 200));
  app.openapi(readyz, (c) => {
    const ready = member.running && deps.placesReady();
    return c.json(
      {
        status: ready ? "ready" : member.running ? "loading places" : "not listening",
        member: member.name,
      },
      ready ? 200 : 503,
    );
  });

  app.openapi(metricsRoute, async (c) => {
    if (deps.metrics === undefined) return problemResponse(503, "metrics: not enabled") as never;
    return c.text(await deps.metrics.render(), 200, { "content-type": deps.metrics.contentType });
  });

  app.doc31("/v1/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "herd HTTP API",
      version: deps.version,
      description: "Every member of a herd serves this API; see docs/HTTP.md.",
    },
  });

  app.openapi(index, (c) => {
    const token = c.req.query("token");
    if (token !== undefined && deps.token !== undefined) {
      // authenticate() let this request through for its token: it must be the right one.
      if (!sameToken(token, deps.token)) throw unauthorized("token: wrong token");
      setCookie(c, TOKEN_COOKIE, token, { httpOnly: true, sameSite: "Strict", path: "/" });
      // The token leaves the address bar.
      return c.redirect("/", 303) as never;
    }
    if (wantsJson(c.req.header("accept") ?? null)) {
      return c.json({
        member: member.name,
        api: "/v1",
        openapi: "/v1/openapi.json",
        docs: "docs/HTTP.md",
      }, 200);
    }
    return assetResponse(dashboardPage(), c.req.raw, {
      "content-security-policy": dashboardPolicy(origins.values()),
    }) as never;
  });

  // The page's script, style sheet, icon and world map (src/http/dashboard.ts); like every
  // path but the health checks, they need the token when there is one.
  app.get("/dashboard/:file", (c) => {
    const asset = dashboardAssets().get(c.req.param("file"));
    if (asset === undefined) {
      throw new HttpProblem(404, `path: no such resource ${new URL(c.req.url).pathname}`);
    }
    return assetResponse(asset, c.req.raw);
  });

  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    // `/v1/clients//location`: a route with an empty id segment, which no pattern matches.
    if (/^\/v1\/clients\/(?:\/(?:location|nearby))?$/.test(path)) {
      return problemResponse(400, "id: client id is empty");
    }
    const allowed = ALLOWED.find(([re]) => re.test(path));
    if (allowed !== undefined) {
      return problemResponse(405, `method: ${c.req.method} not allowed on ${path}`, {
        allow: allowed[1],
      });
    }
    return problemResponse(404, `path: no such resource ${path}`);
  });

  app.onError((e, c) => {
    if (e instanceof HttpProblem) {
      // A browser opening the dashboard without the cookie: a page saying how to give the token.
      if (
        e.status === 401 && new URL(c.req.url).pathname === "/" &&
        acceptsHtml(c.req.header("accept") ?? null)
      ) {
        return tokenNeededResponse(e.headers);
      }
      return problemResponse(e.status, e.message, e.headers);
    }
    if (e instanceof HTTPException) {
      // hono's own: malformed JSON and the like are the client's.
      const status = e.status >= 400 && e.status < 500 ? e.status : 500;
      return problemResponse(status, `body: ${e.message}`);
    }
    deps.log.emit("error", "error", {
      reason: `http ${c.req.method} ${new URL(c.req.url).pathname}: ${String(e)}`,
    });
    return problemResponse(500, "the member could not answer this request; it is logged");
  });

  return app;
}

/** The 401 problem, with the challenge RFC 6750 asks for. */
function unauthorized(detail: string): HttpProblem {
  return new HttpProblem(401, detail, { "www-authenticate": 'Bearer realm="herd"' });
}

/** Constant-time token comparison (both sides hashed to equal length first). */
function sameToken(given: string, token: string): boolean {
  return timingSafeEqual(digest(given), digest(token));
}

/** Requires the token (bearer header or cookie) on every path but health checks and the token page. */
function authenticate(deps: AppDeps): MiddlewareHandler {
  const open = new Set(["/healthz", "/readyz"]);
  return async (c, next) => {
    const token = deps.token;
    if (token === undefined || c.req.method === "OPTIONS") return await next();
    const path = new URL(c.req.url).pathname;
    if (open.has(path) || (path === "/" && c.req.query("token") !== undefined)) {
      return await next();
    }
    const header = c.req.header("authorization") ?? "";
    const bearer = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    const cookie = getCookie(c, TOKEN_COOKIE);
    if (
      (bearer !== undefined && sameToken(bearer, token)) ||
      (cookie !== undefined && sameToken(cookie, token))
    ) {
      return await next();
    }
    throw unauthorized(
      header === "" && cookie === undefined
        ? "authorization: this member needs a token: Authorization: Bearer <token>"
        : "authorization: wrong token",
    );
  };
}

/**
 * The `n` smallest client ids (byte order) greater than `after`, sorted: one
 * pass over the store keeping a sorted window of `n`, O(size x log n).
 */
function firstIdsAfter(store: RecordStore, after: WireText | undefined, n: number): WireText[] {
  const window: WireText[] = [];
  for (const [id] of store.lines()) {
    if (after !== undefined && id <= after) continue;
    if (window.length === n && id >= window[n - 1]) continue;
    let lo = 0;
    let hi = window.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (window[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    window.splice(lo, 0, id);
    if (window.length > n) window.pop();
  }
  return window;
}

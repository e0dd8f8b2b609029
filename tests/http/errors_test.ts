/**
 * The error table of the HTTP API (issue 11): every bad request answers an
 * RFC 9457 problem document with the right status, and its `detail` names the
 * field at fault.
 */

import assert from "node:assert/strict";
import { expectProblem, put, startHttpHerd } from "./_herd.ts";

const KIWI = "+34.068930-118.445127";

/** One bad request and what it must answer. */
interface BadRequest {
  /** What the row checks. */
  what: string;
  method?: string;
  /** Path and query. */
  path: string;
  /** A JSON value (serialised), a string (sent as is), or bytes. */
  body?: unknown;
  /** Content type of the body. @default application/json when there is a body */
  type?: string | null;
  status: number;
  /** The start of the detail: the field at fault, then a colon. */
  field: string;
  /** An `Allow` header the answer must carry. */
  allow?: string;
}

const LOC = "/v1/clients/kiwi/location";
const NEAR = "/v1/clients/kiwi/nearby";

const TABLE: BadRequest[] = [
  // Client ids in the path.
  { what: "an id that is not UTF-8", path: "/v1/clients/%FF", status: 400, field: "id" },
  { what: "an id that is a space", path: "/v1/clients/%20", status: 400, field: "id" },
  { what: "an id with a space", path: "/v1/clients/a%20b", status: 400, field: "id" },
  { what: "an id with a tab", path: "/v1/clients/a%09b", status: 400, field: "id" },
  { what: "an id with an em space", path: "/v1/clients/a%E2%80%83b", status: 400, field: "id" },
  { what: "an id with a NUL", path: "/v1/clients/a%00b", status: 400, field: "id" },
  { what: "an id with a bad escape", path: "/v1/clients/a%zzb", status: 400, field: "id" },
  { what: "an overlong UTF-8 id", path: "/v1/clients/%C0%AF", status: 400, field: "id" },
  {
    what: "a PUT to an id that is not UTF-8",
    method: "PUT",
    path: "/v1/clients/%FF/location",
    body: { location: KIWI },
    status: 400,
    field: "id",
  },
  {
    what: "an empty id",
    method: "PUT",
    path: "/v1/clients//location",
    body: { location: KIWI },
    status: 400,
    field: "id",
  },
  {
    what: "nearby of a bad id",
    path: "/v1/clients/a%20b/nearby?radius_km=1&bound=1",
    status: 400,
    field: "id",
  },
  // Bodies.
  {
    what: "JSON that does not parse",
    method: "PUT",
    path: LOC,
    body: "{",
    status: 400,
    field: "body",
  },
  { what: "a JSON null", method: "PUT", path: LOC, body: "null", status: 400, field: "body" },
  { what: "a JSON array", method: "PUT", path: LOC, body: "[1]", status: 400, field: "body" },
  { what: "an empty body", method: "PUT", path: LOC, body: "", status: 400, field: "body" },
  {
    what: "a text/plain body",
    method: "PUT",
    path: LOC,
    body: JSON.stringify({ location: KIWI }),
    type: "text/plain",
    status: 415,
    field: "content-type",
  },
  {
    what: "a body without a content type",
    method: "PUT",
    path: LOC,
    body: new TextEncoder().encode(JSON.stringify({ location: KIWI })),
    type: null,
    status: 415,
    field: "content-type",
  },
  {
    what: "a form body",
    method: "PUT",
    path: LOC,
    body: "location=x",
    type: "application/x-www-form-urlencoded",
    status: 415,
    field: "content-type",
  },
  {
    what: "a body over 16 KiB",
    method: "PUT",
    path: LOC,
    body: { location: KIWI, time: "1".repeat(16 * 1024) },
    status: 413,
    field: "body",
  },
  {
    what: "an unknown key",
    method: "PUT",
    path: LOC,
    body: { location: KIWI, foo: 1 },
    status: 400,
    field: "foo",
  },
  { what: "no position", method: "PUT", path: LOC, body: {}, status: 400, field: "location" },
  {
    what: "lat 91",
    method: "PUT",
    path: LOC,
    body: { lat: 91, lng: 0 },
    status: 400,
    field: "lat",
  },
  {
    what: "lat -90.0001",
    method: "PUT",
    path: LOC,
    body: { lat: -90.0001, lng: 0 },
    status: 400,
    field: "lat",
  },
  {
    what: "lng -181",
    method: "PUT",
    path: LOC,
    body: { lat: 0, lng: -181 },
    status: 400,
    field: "lng",
  },
  {
    what: "lat as a string",
    method: "PUT",
    path: LOC,
    body: { lat: "34", lng: 0 },
    status: 400,
    field: "lat",
  },
  {
    what: "lat too large for a double",
    method: "PUT",
    path: LOC,
    body: '{"lat": 1e999, "lng": 0}',
    status: 400,
    field: "lat",
  },
  {
    what: "location and lat together",
    method: "PUT",
    path: LOC,
    body: { location: KIWI, lat: 1, lng: 2 },
    status: 400,
    field: "location",
  },
  {
    what: "lat without lng",
    method: "PUT",
    path: LOC,
    body: { lat: 1 },
    status: 400,
    field: "lng",
  },
  {
    what: "lng without lat",
    method: "PUT",
    path: LOC,
    body: { lng: 1 },
    status: 400,
    field: "lat",
  },
  {
    what: "location not ISO 6709",
    method: "PUT",
    path: LOC,
    body: { location: "+34-118x" },
    status: 400,
    field: "location",
  },
  {
    what: "location without signs",
    method: "PUT",
    path: LOC,
    body: { location: "34.1 -118.2" },
    status: 400,
    field: "location",
  },
  {
    what: "location out of range",
    method: "PUT",
    path: LOC,
    body: { location: "+91.0-118.0" },
    status: 400,
    field: "location",
  },
  {
    what: "a non-ASCII location",
    method: "PUT",
    path: LOC,
    body: { location: "+34.1-118.2é" },
    status: 400,
    field: "location",
  },
  {
    what: "a location with invalid UTF-8",
    method: "PUT",
    path: LOC,
    body: Uint8Array.of(
      ...new TextEncoder().encode('{"location": "+34.1-118.2'),
      0xff,
      ...new TextEncoder().encode('"}'),
    ),
    status: 400,
    field: "location",
  },
  {
    what: "location as a number",
    method: "PUT",
    path: LOC,
    body: { location: 34 },
    status: 400,
    field: "location",
  },
  {
    what: "time not a number",
    method: "PUT",
    path: LOC,
    body: { location: KIWI, time: "abc" },
    status: 400,
    field: "time",
  },
  {
    what: "a negative time",
    method: "PUT",
    path: LOC,
    body: { location: KIWI, time: "-5" },
    status: 400,
    field: "time",
  },
  {
    what: "a time with an exponent",
    method: "PUT",
    path: LOC,
    body: { location: KIWI, time: "1e9" },
    status: 400,
    field: "time",
  },
  {
    what: "time as a number",
    method: "PUT",
    path: LOC,
    body: { location: KIWI, time: 1000 },
    status: 400,
    field: "time",
  },
  // WHATSAT's parameters.
  { what: "radius 0", path: `${NEAR}?radius_km=0&bound=5`, status: 400, field: "radius_km" },
  { what: "radius 51", path: `${NEAR}?radius_km=51&bound=5`, status: 400, field: "radius_km" },
  { what: "radius x", path: `${NEAR}?radius_km=x&bound=5`, status: 400, field: "radius_km" },
  { what: "radius -1", path: `${NEAR}?radius_km=-1&bound=5`, status: 400, field: "radius_km" },
  {
    what: "radius with an exponent",
    path: `${NEAR}?radius_km=1e1&bound=5`,
    status: 400,
    field: "radius_km",
  },
  { what: "radius missing", path: `${NEAR}?bound=5`, status: 400, field: "radius_km" },
  { what: "bound 0", path: `${NEAR}?radius_km=10&bound=0`, status: 400, field: "bound" },
  { what: "bound 21", path: `${NEAR}?radius_km=10&bound=21`, status: 400, field: "bound" },
  { what: "bound 1.5", path: `${NEAR}?radius_km=10&bound=1.5`, status: 400, field: "bound" },
  { what: "bound missing", path: `${NEAR}?radius_km=10`, status: 400, field: "bound" },
  {
    what: "radius with a space",
    path: `${NEAR}?radius_km=1%200&bound=5`,
    status: 400,
    field: "radius_km",
  },
  // Listing clients.
  { what: "near malformed", path: "/v1/clients?near=abc&radius_km=1", status: 400, field: "near" },
  {
    what: "near with one number",
    path: "/v1/clients?near=34&radius_km=1",
    status: 400,
    field: "near",
  },
  {
    what: "near with lat 91",
    path: "/v1/clients?near=91,0&radius_km=1",
    status: 400,
    field: "near",
  },
  {
    what: "near with lng 181",
    path: "/v1/clients?near=0,181&radius_km=1",
    status: 400,
    field: "near",
  },
  { what: "near without radius", path: "/v1/clients?near=0,0", status: 400, field: "radius_km" },
  {
    what: "near radius 0",
    path: "/v1/clients?near=0,0&radius_km=0",
    status: 400,
    field: "radius_km",
  },
  {
    what: "near radius over 20038",
    path: "/v1/clients?near=0,0&radius_km=20039",
    status: 400,
    field: "radius_km",
  },
  {
    what: "near radius x",
    path: "/v1/clients?near=0,0&radius_km=x",
    status: 400,
    field: "radius_km",
  },
  { what: "radius without near", path: "/v1/clients?radius_km=5", status: 400, field: "radius_km" },
  { what: "limit 0", path: "/v1/clients?limit=0", status: 400, field: "limit" },
  { what: "limit 1001", path: "/v1/clients?limit=1001", status: 400, field: "limit" },
  { what: "limit 1.5", path: "/v1/clients?limit=1.5", status: 400, field: "limit" },
  { what: "limit x", path: "/v1/clients?limit=x", status: 400, field: "limit" },
  // Streams.
  {
    what: "a stream radius without near",
    path: "/v1/stream?radius_km=5",
    status: 400,
    field: "radius_km",
  },
  {
    what: "a stream near without radius",
    path: "/v1/stream?near=1,2",
    status: 400,
    field: "radius_km",
  },
  {
    what: "a stream client with a space",
    path: "/v1/stream?client=a%20b",
    status: 400,
    field: "client",
  },
  // Routing.
  { what: "an unknown path", path: "/v1/nothing", status: 404, field: "path" },
  { what: "a path under a client", path: "/v1/clients/kiwi/friends", status: 404, field: "path" },
  {
    what: "POST on a GET route",
    method: "POST",
    path: "/v1/herd",
    body: "{}",
    status: 405,
    field: "method",
    allow: "GET",
  },
  {
    what: "PUT on /v1/herd",
    method: "PUT",
    path: "/v1/herd",
    body: "{}",
    status: 405,
    field: "method",
    allow: "GET",
  },
  {
    what: "PUT on a client",
    method: "PUT",
    path: "/v1/clients/kiwi",
    body: "{}",
    status: 405,
    field: "method",
    allow: "GET, DELETE",
  },
  {
    what: "DELETE a client with an empty id",
    method: "DELETE",
    path: "/v1/clients/",
    status: 400,
    field: "id",
  },
  {
    what: "DELETE a client id with white space",
    method: "DELETE",
    path: "/v1/clients/a%20b",
    status: 400,
    field: "id",
  },
  { what: "GET a location", path: LOC, status: 405, field: "method", allow: "PUT" },
  {
    what: "POST a location",
    method: "POST",
    path: LOC,
    body: { location: KIWI },
    status: 405,
    field: "method",
    allow: "PUT",
  },
  {
    what: "PUT on a stream",
    method: "PUT",
    path: "/v1/stream",
    body: "{}",
    status: 405,
    field: "method",
    allow: "GET",
  },
  {
    what: "DELETE /healthz",
    method: "DELETE",
    path: "/healthz",
    status: 405,
    field: "method",
    allow: "GET",
  },
];

Deno.test("error table: each bad request answers its status and a problem naming the field", async (t) => {
  assert.ok(TABLE.length >= 30);
  const herd = await startHttpHerd(1);
  const url = herd.url("Campbell");
  try {
    // kiwi exists, so a refusal is about the request, never "unknown client".
    const ok = await put(`${url}${LOC}`, { location: KIWI, time: "1000" });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    for (const row of TABLE) {
      await t.step(`${row.status} for ${row.what}`, async () => {
        const headers = new Headers();
        let body: BodyInit | undefined;
        if (row.body !== undefined) {
          body = typeof row.body === "string" || row.body instanceof Uint8Array
            ? row.body as BodyInit
            : JSON.stringify(row.body);
          const type = row.type === undefined ? "application/json" : row.type;
          if (type !== null) headers.set("content-type", type);
        }
        const res = await fetch(url + row.path, { method: row.method ?? "GET", headers, body });
        const p = await expectProblem(res, row.status);
        assert.ok(p.detail.startsWith(`${row.field}: `), `detail names ${row.field}: ${p.detail}`);
        if (row.allow !== undefined) assert.equal(res.headers.get("allow"), row.allow);
      });
    }
    // None of it changed kiwi.
    assert.equal(herd.get("Campbell").member.store.size, 1);
  } finally {
    await herd.stop();
  }
});

Deno.test("error table: a body over 16 KiB without a length (chunked) answers 413", async () => {
  const herd = await startHttpHerd(1);
  try {
    const chunk = new TextEncoder().encode(" ".repeat(4096));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode(`{"location": "${KIWI}"`));
        if (sent++ < 8) controller.enqueue(chunk);
        else {
          controller.enqueue(new TextEncoder().encode("}"));
          controller.close();
        }
      },
    });
    const res = await fetch(`${herd.url("Campbell")}${LOC}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body,
    });
    const p = await expectProblem(res, 413);
    assert.match(p.detail, /^body: /);
  } finally {
    await herd.stop();
  }
});

Deno.test("error table: a WebSocket upgrade without a valid handshake answers 400", async () => {
  const herd = await startHttpHerd(1);
  const face = herd.get("Campbell").face;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: face.address.port });
  try {
    const req =
      "GET /v1/stream HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
      "Connection: close\r\n\r\n";
    await conn.write(new TextEncoder().encode(req));
    let text = "";
    const buf = new Uint8Array(4096);
    const deadline = Date.now() + 5000;
    while (!text.includes("}") && Date.now() < deadline) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    assert.match(text, /^HTTP\/1\.1 400 /);
    assert.match(text, /content-type: application\/problem\+json/i);
    assert.match(text, /"detail":"upgrade: /);
    // No subscription was left behind.
    assert.equal(face.hub.subscribers, 0);
  } finally {
    conn.close();
    await herd.stop();
  }
});

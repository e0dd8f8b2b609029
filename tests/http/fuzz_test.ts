/**
 * HTTP fuzz test: seeded random requests (methods, paths built from route
 * pieces and junk, query strings, headers, bodies with invalid UTF-8 and huge
 * numbers) against one member with a token, over real HTTP on 127.0.0.1.
 * Never a 5xx, every error a problem document, nothing logged as an error,
 * and the member still serves normal requests afterwards.
 */

import assert from "node:assert/strict";
import { pick, type Random, randomInt, seeded } from "../protocol/_random.ts";
import { cannedPlaces } from "../_no_places.ts";
import { expectProblem, getJson, type HttpHerd, put, startHttpHerd } from "./_herd.ts";

const TOKEN = "fuzzy-token-of-sufficient-length";
/** Requests sent through fetch. */
const REQUESTS = 600;
/** Requests written as raw bytes on a TCP connection. */
const RAW_REQUESTS = 60;
/** Requests in flight at once. */
const PARALLEL = 6;

const METHODS = [
  "GET",
  "GET",
  "GET",
  "PUT",
  "PUT",
  "POST",
  "DELETE",
  "PATCH",
  "HEAD",
  "OPTIONS",
  "PROPFIND",
  "get",
];

const PIECES = [
  "v1",
  "v1",
  "v1",
  "clients",
  "clients",
  "clients",
  "kiwi",
  "kiwi",
  "location",
  "location",
  "nearby",
  "nearby",
  "herd",
  "stream",
  "healthz",
  "readyz",
  "metrics",
  "openapi.json",
  "",
  "%FF",
  "%20",
  "%2F",
  "%00",
  "%",
  "%%",
  "%E2%80%83",
  "%C0%AF",
  "..",
  ".",
  "a b",
  "é",
  "\u{1F98A}",
  ":id",
  "*",
  "{id}",
  "x".repeat(3000),
  "v2",
  "CLIENTS",
  "%ED%A0%80",
];

const QUERY_KEYS = ["radius_km", "bound", "near", "limit", "cursor", "client", "token", "x", ""];

const QUERY_VALUES = [
  "10",
  "5",
  "1",
  "0",
  "-1",
  "51",
  "20038",
  "20039",
  "1.5",
  "1e400",
  "-0",
  "NaN",
  "Infinity",
  "0x10",
  "",
  "1,2",
  "91,181",
  "34.06,-118.44",
  " 34 , -118 ",
  "%FF",
  "99999999999999999999",
  "1e-320",
  "kiwi",
  "a%20b",
  "%00",
  "💥",
  "1,2,3",
  ",",
  "-",
  ".",
  "1..2",
];

const TYPES: Array<string | null> = [
  "application/json",
  "application/json",
  "application/json",
  "application/json; charset=utf-8",
  "application/vnd.herd+json",
  "application/problem+json",
  "text/plain",
  "multipart/form-data",
  "application/json; charset=latin1",
  "application/jsonx",
  "",
  null,
];

/** A random JSON value, up to `depth` levels. */
function jsonValue(random: Random, depth: number): unknown {
  switch (randomInt(random, depth > 0 ? 9 : 6)) {
    case 0:
      return pick(random, [0, -0, 1, 90, 91, -181, 1e308, -1e308, 5e-324, 34.06893, 2 ** 53 + 1]);
    case 1:
      return pick(random, [
        "",
        "+34.068930-118.445127",
        "1621464827.959498503",
        "x",
        "\u0000",
        "+91-181",
      ]);
    case 2:
      return pick(random, [true, false, null]);
    case 3:
      return "é".repeat(randomInt(random, 40));
    case 4:
      return String(randomInt(random, 1e9)) + "." + String(randomInt(random, 1e9));
    case 5:
      return pick(random, ["-5", "1e9", "+34.1-118.2", "34.1,-118.2", " 1", "1 "]);
    case 6:
      return Array.from({ length: randomInt(random, 4) }, () => jsonValue(random, depth - 1));
    default: {
      const keys = ["location", "lat", "lng", "time", "__proto__", "constructor", "extra"];
      const out: Record<string, unknown> = {};
      for (let i = randomInt(random, 4); i > 0; i--) {
        // defineProperty: `__proto__` becomes an own key, as JSON.parse makes it.
        Object.defineProperty(out, pick(random, keys), {
          value: jsonValue(random, depth - 1),
          enumerable: true,
          configurable: true,
          writable: true,
        });
      }
      return out;
    }
  }
}

/** A random body: JSON, JSON text with huge numbers, deep nesting, invalid UTF-8, junk bytes. */
function body(random: Random): BodyInit | undefined {
  switch (randomInt(random, 10)) {
    case 0:
      return undefined;
    case 1:
      return JSON.stringify({
        location: "+34.068930-118.445127",
        time: String(randomInt(random, 1e6)),
      });
    case 2:
      return JSON.stringify({ lat: random() * 200 - 100, lng: random() * 400 - 200 });
    case 3:
      return `{"lat": ${
        pick(random, ["1e400", "-1e400", "123456789012345678901234567890", "0.1e-400"])
      }, "lng": 0}`;
    case 4: {
      const depth = 1 + randomInt(random, 6000);
      return "[".repeat(depth) + "]".repeat(depth);
    }
    case 5: {
      // Invalid UTF-8 inside a JSON string, and bare.
      const bytes = [...new TextEncoder().encode('{"location": "')];
      for (let i = randomInt(random, 20); i >= 0; i--) {
        bytes.push(pick(random, [0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0]));
      }
      bytes.push(...new TextEncoder().encode('", "time": "1"}'));
      return new Uint8Array(bytes);
    }
    case 6:
      return Uint8Array.from({ length: randomInt(random, 300) }, () => randomInt(random, 256));
    case 7:
      return JSON.stringify({
        location: "+34.068930-118.445127",
        time: "9".repeat(randomInt(random, 17_000)),
      });
    default:
      return JSON.stringify(jsonValue(random, 3));
  }
}

/** Headers, with the token most of the time. */
function headers(random: Random): Headers {
  const h = new Headers();
  const type = pick(random, TYPES);
  if (type !== null) h.set("content-type", type);
  switch (randomInt(random, 20)) {
    case 0:
      break;
    case 1:
      h.set("authorization", `Bearer ${TOKEN}x`);
      break;
    case 2:
      h.set(
        "cookie",
        pick(random, [
          `herd_token=${TOKEN}`,
          "herd_token=%E0%A4%A",
          "herd_token",
          "=;=;",
          `herd_token="${TOKEN}"`,
        ]),
      );
      break;
    case 3:
      h.set(
        "authorization",
        pick(
          random,
          ["Bearer", "Bearer  ", `bearer\t${TOKEN}`, "Basic x", "💥"].map((v) =>
            v.replace(/[^\x20-\x7e\t]/g, "?")
          ),
        ),
      );
      break;
    default:
      h.set("authorization", `Bearer ${TOKEN}`);
  }
  if (randomInt(random, 4) === 0) {
    h.set("accept", pick(random, ["text/event-stream", "*/*", "application/json"]));
  }
  if (randomInt(random, 5) === 0) {
    h.set("origin", pick(random, ["http://evil.example", "null", "http://127.0.0.1:1"]));
  }
  return h;
}

/** The routes, with their method and the query keys they read. */
const ROUTES: Array<[string, string, string[]]> = [
  ["PUT", "/v1/clients/{id}/location", []],
  ["GET", "/v1/clients/{id}", []],
  ["GET", "/v1/clients/{id}/nearby", ["radius_km", "bound"]],
  ["GET", "/v1/clients", ["near", "radius_km", "limit", "cursor"]],
  ["GET", "/v1/herd", []],
  ["GET", "/v1/stream", ["client", "near", "radius_km"]],
  ["GET", "/healthz", []],
  ["GET", "/readyz", []],
  ["GET", "/v1/openapi.json", []],
  ["GET", "/", ["token"]],
];

/** Client ids as path segments: valid ones, encoded junk and raw junk. */
const IDS = [
  "kiwi",
  "kiwi",
  "kiwi",
  "new",
  "caf%C3%A9",
  "%F0%9F%A6%8A",
  "a.b-c_d~e",
  "x".repeat(2000),
  "%FF",
  "%20",
  "%00",
  "%E2%80%83",
  "%C0%AF",
  "%ED%A0%80",
  "%",
  "%zz",
  "a%2Fb",
  "..",
  "é",
  "💥",
];

/**
 * A random method, path and query: most of the time a route of the API with its own method and
 * query keys (so the handlers and validators are reached), else pieces of routes and junk.
 */
function target(random: Random): [string, string] {
  const query = (keys: string[]) =>
    Array.from(
      { length: randomInt(random, keys.length + 2) },
      () =>
        `${randomInt(random, 5) === 0 ? pick(random, QUERY_KEYS) : pick(random, keys)}=${
          pick(random, QUERY_VALUES)
        }`,
    );
  if (randomInt(random, 10) < 7) {
    const [method, pattern, keys] = pick(random, ROUTES);
    const q = keys.length > 0 ? query(keys) : randomInt(random, 4) === 0 ? query(QUERY_KEYS) : [];
    return [
      randomInt(random, 4) === 0 ? pick(random, METHODS) : method,
      pattern.replace("{id}", pick(random, IDS)) + (q.length > 0 ? "?" + q.join("&") : ""),
    ];
  }
  const pieces = Array.from({ length: randomInt(random, 6) }, () => pick(random, PIECES));
  const q = query(QUERY_KEYS);
  return [pick(random, METHODS), "/" + pieces.join("/") + (q.length > 0 ? "?" + q.join("&") : "")];
}

/** One request; fails the test on a 5xx or an error that is not a problem document. */
async function fuzzOne(herd: HttpHerd, random: Random, n: number): Promise<number> {
  const [method, path] = target(random);
  const init: RequestInit = { method, headers: headers(random), redirect: "manual" };
  if (method !== "GET" && method !== "HEAD" && method !== "get") init.body = body(random);
  const res = await fetch(herd.url("Campbell") + path, init);
  const what = `request ${n}: ${method} ${path.slice(0, 200)}`;
  // 503 is the answer of /readyz before places load.
  const unavailable = res.status === 503 && /^\/readyz$/.test(new URL(res.url).pathname);
  if (res.status >= 500 && !unavailable) {
    const errors = herd.get("Campbell").log.named("error").map((e) => e.fields.reason);
    assert.fail(
      `${what} answered ${res.status}: ${await res.text()}; logged: ${errors.join("; ")}`,
    );
  }
  const type = res.headers.get("content-type") ?? "";
  if (type.startsWith("text/event-stream")) {
    await res.body?.cancel();
  } else if (res.status >= 400) {
    if (method === "HEAD") {
      await res.body?.cancel();
      assert.equal(type, "application/problem+json", what);
    } else {
      await expectProblem(res, res.status);
    }
  } else if (method !== "HEAD" && type.startsWith("application/json")) {
    JSON.parse(await res.text());
  } else {
    await res.body?.cancel();
  }
  return res.status;
}

/** Writes raw request bytes on a fresh connection and reads the answer's status line. */
async function raw(port: number, bytes: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 5000);
  try {
    await conn.write(bytes);
    let text = "";
    const buf = new Uint8Array(8192);
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer
    }
  }
}

Deno.test("fuzz: seeded random HTTP requests never get a 5xx or crash the member", async () => {
  const herd = await startHttpHerd(1, { token: TOKEN, places: cannedPlaces() });
  const campbell = herd.get("Campbell");
  const auth = { authorization: `Bearer ${TOKEN}` };
  try {
    await (await put(`${campbell.url}/v1/clients/kiwi/location`, {
      location: "+34.068930-118.445127",
      time: "1",
    }, auth)).body?.cancel();
    // HERD_FUZZ_SEED replays or explores another seed.
    const seed = Number(Deno.env.get("HERD_FUZZ_SEED") ?? 20261201);
    const random = seeded(seed);
    const statuses = new Map<number, number>();
    for (let n = 0; n < REQUESTS; n += PARALLEL) {
      const batch = await Promise.all(
        Array.from({ length: PARALLEL }, (_, i) => fuzzOne(herd, random, n + i)),
      );
      for (const s of batch) statuses.set(s, (statuses.get(s) ?? 0) + 1);
    }
    // The fuzz reached the handlers, not only the router and the token check.
    for (const s of [200, 400, 401, 404, 405]) {
      assert.ok((statuses.get(s) ?? 0) > 0, `some ${s}s (seed ${seed}): ${[...statuses]}`);
    }

    // Raw requests: bytes fetch would not send (non-ASCII and control bytes in the target).
    for (let n = 0; n < RAW_REQUESTS; n++) {
      const junk = Array.from({ length: 1 + randomInt(random, 12) }, () => randomInt(random, 256))
        .filter((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d);
      const head = new TextEncoder().encode(`${pick(random, ["GET", "PUT"])} /v1/clients/`);
      const tail = new TextEncoder().encode(
        `${
          pick(random, ["", "/location", "/nearby?radius_km=1&bound=1"])
        } HTTP/1.1\r\nHost: x\r\n` +
          `Authorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n` +
          "Connection: close\r\n\r\n{}",
      );
      const answer = await raw(
        campbell.face.address.port,
        new Uint8Array([...head, ...junk, ...tail]),
      );
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? "0");
      assert.ok(status === 0 || status < 500, `raw ${n}: ${answer.slice(0, 300)}`);
    }

    // Still serving, and nothing went wrong inside.
    if (Deno.env.get("HERD_FUZZ_SEED") !== undefined) console.log(`seed ${seed}: ${[...statuses]}`);
    assert.ok(campbell.member.running);
    const ok = await put(`${campbell.url}/v1/clients/after/location`, {
      location: "+34.068930-118.445127",
      time: "2",
    }, auth);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    assert.equal(
      (await getJson(`${campbell.url}/v1/clients/after`, { headers: auth })).client,
      "after",
    );
    await expectProblem(await fetch(`${campbell.url}/v1/clients/after`), 401);
    const errors = campbell.log.events.filter((e) => e.level === "error" || e.event === "error");
    assert.deepEqual(errors, [], "no error events");
    const logged = campbell.log.named("http.request");
    assert.ok(logged.length >= REQUESTS, `${logged.length} requests logged`);
    const failed = logged.filter((e) =>
      typeof e.fields.status !== "number" ||
      e.fields.status >= 500 && !(e.fields.status === 503 && e.fields.route === "/metrics")
    );
    assert.deepEqual(failed, [], "no 5xx logged");
    assert.ok(!JSON.stringify(campbell.log.events).includes(TOKEN), "the token is never logged");
  } finally {
    await herd.stop();
  }
});

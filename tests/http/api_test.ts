/**
 * Every row of the HTTP API table (issue 11) over real HTTP on 127.0.0.1,
 * and the HTTP and TCP faces giving identical records and places.
 */

import assert from "node:assert/strict";
import { request } from "../../src/client/mod.ts";
import { greatCircleDistanceM } from "../../src/geo/mod.ts";
import type { PlacesProvider } from "../../src/places/types.ts";
import { VERSION } from "../../src/version.ts";
import { waitFor } from "../_harness.ts";
import { cannedPlaces, noPlaces } from "../_no_places.ts";
import { expectProblem, getJson, put, type RecordBody, recordOf, startHttpHerd } from "./_herd.ts";

const KIWI = "+34.068930-118.445127";
const T = "1621464827.959498503";

/** A TCP exchange: one request, read to EOF. */
function tcp(addr: Deno.NetAddr | { hostname: string; port: number }, text: string) {
  return request(addr, text, { timeoutMs: 5000 });
}

/** The AT line a record's fields make, as the member formats it. */
function atOf(r: RecordBody): string {
  return `AT ${r.server} ${r.skew} ${r.client} ${r.location} ${r.time}`;
}

Deno.test("PUT location with location and time answers the IAMAT's record, stored true", async () => {
  const herd = await startHttpHerd(1);
  try {
    const url = herd.url("Campbell");
    const r = await getJson<RecordBody>(`${url}/v1/clients/kiwi.cs.ucla.edu/location`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ location: KIWI, time: T }),
    });
    assert.equal(r.server, "Campbell");
    assert.equal(r.client, "kiwi.cs.ucla.edu");
    assert.equal(r.location, KIWI);
    assert.equal(r.time, T);
    assert.match(r.skew, /^[+-]\d+\.\d{9}$/);
    assert.equal(r.at, atOf(r));
    assert.equal(r.stored, true);
    assert.deepEqual(Object.keys(r).sort(), [
      "at",
      "client",
      "location",
      "server",
      "skew",
      "stored",
      "time",
    ]);
    // The member holds exactly that AT line.
    assert.equal(herd.get("Campbell").member.store.line("kiwi.cs.ucla.edu"), r.at);
  } finally {
    await herd.stop();
  }
});

Deno.test("PUT location: stored says whether the update replaced the record held", async () => {
  const herd = await startHttpHerd(1);
  try {
    const base = herd.url("Campbell");
    const url = `${base}/v1/clients/kiwi/location`;
    const member = herd.get("Campbell").member;
    const first = await (await put(url, { location: KIWI, time: "1000.50" })).json() as RecordBody;
    assert.equal(first.stored, true);
    assert.equal(member.store.line("kiwi"), first.at);
    // The same update again is a new record (a new skew): stored exactly when the
    // last-writer-wins tie-break (the skew, byte-wise) puts it after the one held, as over TCP.
    const again = await (await put(url, { location: KIWI, time: "1000.50" })).json() as RecordBody;
    assert.equal(again.stored, again.skew > first.skew);
    const held = member.store.line("kiwi");
    assert.equal(held, again.stored ? again.at : first.at);
    // An equal time that loses the tie-break ("1000.5" < "1000.50" byte-wise): false.
    const equal = await (await put(url, { location: KIWI, time: "1000.5" })).json() as RecordBody;
    assert.equal(equal.stored, false);
    // An older update: false, and its reply is its own AT line, as an IAMAT's is ...
    const older = await (await put(url, { location: "+10.000000+010.000000", time: "100.5" }))
      .json() as RecordBody;
    assert.equal(older.stored, false);
    assert.equal(older.location, "+10.000000+010.000000");
    // ... while the member still holds the newest.
    assert.equal((await getJson<RecordBody>(`${base}/v1/clients/kiwi`)).at, held);
    const newer = await (await put(url, { location: KIWI, time: "1001" })).json() as RecordBody;
    assert.equal(newer.stored, true);
    assert.equal((await getJson<RecordBody>(`${base}/v1/clients/kiwi`)).at, newer.at);
  } finally {
    await herd.stop();
  }
});

Deno.test("PUT location with lat and lng: ISO 6709 with a sign and 6 fraction digits", async (t) => {
  const herd = await startHttpHerd(1);
  try {
    const cases: Array<[number, number, string]> = [
      [34.06893, -118.445127, "+34.068930-118.445127"],
      [0, 0, "+0.000000+0.000000"],
      [-0.0000001, 0.0000004, "+0.000000+0.000000"],
      [-90, 180, "-90.000000+180.000000"],
      [1e-7, -179.9999996, "+0.000000-180.000000"],
      [12.3456786, 7, "+12.345679+7.000000"],
    ];
    let n = 0;
    for (const [lat, lng, location] of cases) {
      await t.step(`${lat}, ${lng} -> ${location}`, async () => {
        const r = await getJson<RecordBody>(
          `${herd.url("Campbell")}/v1/clients/p${n++}/location`,
          {
            method: "PUT",
            headers: { "content-type": "application/json; charset=utf-8" },
            body: JSON.stringify({ lat, lng, time: "1000" }),
          },
        );
        assert.equal(r.location, location);
        assert.equal(r.stored, true);
      });
    }
  } finally {
    await herd.stop();
  }
});

Deno.test("PUT location without time uses the member's clock, 9 fraction digits", async () => {
  const herd = await startHttpHerd(1);
  try {
    const before = Date.now() / 1000;
    const r = await (await put(`${herd.url("Campbell")}/v1/clients/kiwi/location`, {
      lat: 34.06893,
      lng: -118.445127,
    })).json() as RecordBody;
    const after = Date.now() / 1000;
    assert.match(r.time, /^\d+\.\d{9}$/);
    const time = Number(r.time);
    assert.ok(time >= before - 1 && time <= after + 1, `${r.time} within [${before}, ${after}]`);
    // The member's own clock: its skew is small and non-negative.
    assert.match(r.skew, /^\+0\.\d{9}$/);
    assert.equal(r.stored, true);
  } finally {
    await herd.stop();
  }
});

Deno.test("GET /v1/clients/{id} answers the record, or 404 for an unknown client", async () => {
  const herd = await startHttpHerd(1);
  try {
    const url = herd.url("Campbell");
    const p = await expectProblem(await fetch(`${url}/v1/clients/kiwi`), 404);
    assert.match(p.detail, /^id: .*kiwi/);
    const put1 = await (await put(`${url}/v1/clients/kiwi/location`, { location: KIWI, time: T }))
      .json() as RecordBody;
    const got = await getJson<RecordBody>(`${url}/v1/clients/kiwi`);
    assert.deepEqual(recordOf(got), recordOf(put1));
    assert.equal(got.stored, undefined);
    // A percent-encoded UTF-8 id is one client, shown decoded.
    await put(`${url}/v1/clients/caf%C3%A9/location`, { location: KIWI, time: T }).then((r) =>
      r.body?.cancel()
    );
    const cafe = await getJson<RecordBody>(`${url}/v1/clients/caf%C3%A9`);
    assert.equal(cafe.client, "café");
    // Over TCP the same client is the id's UTF-8 bytes.
    const reply = await tcp(herd.get("Campbell").tcp, "WHATSAT café 10 1\n");
    assert.equal(reply.split("\n")[0], cafe.at);
  } finally {
    await herd.stop();
  }
});

Deno.test("GET nearby answers the record and the very places document TCP WHATSAT gives", async () => {
  const herd = await startHttpHerd(1, { places: cannedPlaces() });
  try {
    const url = herd.url("Campbell");
    await (await put(`${url}/v1/clients/kiwi/location`, { location: KIWI, time: T })).body
      ?.cancel();
    for (const [radius, bound] of [["10", "5"], ["50", "20"], ["0.5", "1"]]) {
      const http = await getJson<{ record: RecordBody; places: Record<string, unknown> }>(
        `${url}/v1/clients/kiwi/nearby?radius_km=${radius}&bound=${bound}`,
      );
      const reply = await tcp(herd.get("Campbell").tcp, `WHATSAT kiwi ${radius} ${bound}\n`);
      const nl = reply.indexOf("\n");
      assert.equal(http.record.at, reply.slice(0, nl));
      assert.ok(reply.endsWith("\n\n"));
      assert.deepEqual(http.places, JSON.parse(reply.slice(nl + 1)));
      assert.equal((http.places.results as unknown[]).length, Number(bound));
    }
    // Unknown client: 404, as WHATSAT's "?".
    await expectProblem(await fetch(`${url}/v1/clients/nobody/nearby?radius_km=10&bound=5`), 404);
  } finally {
    await herd.stop();
  }
});

Deno.test("GET nearby answers 200 whatever the places document's status", async () => {
  const failing: PlacesProvider = {
    name: "down",
    nearby: () =>
      Promise.resolve({
        html_attributions: [],
        results: [],
        status: "UNKNOWN_ERROR",
        error_message: "upstream down",
      }),
  };
  const herd = await startHttpHerd(1, { places: failing });
  try {
    const url = herd.url("Campbell");
    await (await put(`${url}/v1/clients/kiwi/location`, { location: KIWI, time: T })).body
      ?.cancel();
    const body = await getJson<{ places: { status: string } }>(
      `${url}/v1/clients/kiwi/nearby?radius_km=10&bound=5`,
    );
    assert.equal(body.places.status, "UNKNOWN_ERROR");
  } finally {
    await herd.stop();
  }
});

Deno.test("GET /v1/clients?near= answers clients within the radius, nearest first", async () => {
  const herd = await startHttpHerd(1);
  try {
    const url = herd.url("Campbell");
    const centre = { lat: 34, lng: -118 };
    const spots: Array<[string, number, number]> = [
      ["far", 35, -118], // about 111 km
      ["c5", 34.05, -118], // about 5.6 km
      ["c1", 34.01, -118], // about 1.1 km
      ["c2", 34, -118.02], // about 1.8 km
      ["south", -34, -118],
    ];
    for (const [id, lat, lng] of spots) {
      await (await put(`${url}/v1/clients/${id}/location`, { lat, lng, time: "1000" })).body
        ?.cancel();
    }
    type Page = { clients: RecordBody[]; next: string | null };
    const near = await getJson<Page>(`${url}/v1/clients?near=34,-118&radius_km=10`);
    assert.deepEqual(near.clients.map((c) => c.client), ["c1", "c2", "c5"]);
    assert.equal(near.next, null);
    for (const c of near.clients) {
      const [, lat, lng] = spots.find(([id]) => id === c.client)!;
      const want = greatCircleDistanceM(centre.lat, centre.lng, lat, lng);
      // The index's sphere is the hub's: the same metres, up to rounding.
      assert.ok(Math.abs(c.distance_m! - want) < 1, `${c.client}: ${c.distance_m} vs ${want}`);
      assert.equal(c.at, atOf(c));
    }
    // A radius that just excludes c5; limit cuts the nearest-first list.
    const inner = await getJson<Page>(`${url}/v1/clients?near=34,-118&radius_km=5`);
    assert.deepEqual(inner.clients.map((c) => c.client), ["c1", "c2"]);
    const one = await getJson<Page>(`${url}/v1/clients?near=34,-118&radius_km=10&limit=1`);
    assert.deepEqual(one.clients.map((c) => c.client), ["c1"]);
    // Half the circumference holds the whole planet.
    const all = await getJson<Page>(`${url}/v1/clients?near=34,-118&radius_km=20038`);
    assert.deepEqual(all.clients.map((c) => c.client), ["c1", "c2", "c5", "far", "south"]);
    // A moved client is found where it is now, not where it was.
    await (await put(`${url}/v1/clients/far/location`, { lat: 34, lng: -118, time: "2000" }))
      .body?.cancel();
    const moved = await getJson<Page>(`${url}/v1/clients?near=34,-118&radius_km=10`);
    assert.deepEqual(moved.clients.map((c) => c.client), ["far", "c1", "c2", "c5"]);
    assert.equal(moved.clients[0].distance_m, 0);
  } finally {
    await herd.stop();
  }
});

/** UTF-8 byte order, the order of client ids on the wire. */
function byteOrder(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

Deno.test("GET /v1/clients pages every client exactly once, in byte order, by cursor", async () => {
  const herd = await startHttpHerd(1);
  try {
    const url = herd.url("Campbell");
    const ids = Array.from({ length: 22 }, (_, i) => `c${(i * 7919) % 1000}`);
    ids.push("Zebra", "zé", "\u{1F98A}fox", "a%b");
    const member = herd.get("Campbell").member;
    for (const id of ids) {
      await (await put(
        `${url}/v1/clients/${encodeURIComponent(id)}/location`,
        { location: KIWI, time: "1000" },
      )).body?.cancel();
    }
    assert.equal(member.store.size, 26);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
      const page: { clients: RecordBody[]; next: string | null } = await getJson(
        `${url}/v1/clients?limit=10${q}`,
      );
      assert.ok(page.clients.length <= 10);
      for (const c of page.clients) assert.equal(c.distance_m, undefined);
      seen.push(...page.clients.map((c) => c.client));
      cursor = page.next;
      if (cursor !== null) assert.equal(cursor, page.clients[page.clients.length - 1].client);
      pages++;
    } while (cursor !== null && pages < 10);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...ids].sort(byteOrder));
    // The default page holds them all.
    const whole = await getJson<{ clients: RecordBody[]; next: null }>(`${url}/v1/clients`);
    assert.equal(whole.clients.length, 26);
    assert.equal(whole.next, null);
    // Exactly a page's worth: no next page promised.
    const ten = await getJson<{ next: string | null }>(`${url}/v1/clients?limit=26`);
    assert.equal(ten.next, null);
  } finally {
    await herd.stop();
  }
});

Deno.test("GET /v1/herd: every member with its URL, neighbours up once linked, the links", async () => {
  const herd = await startHttpHerd(5);
  try {
    type Herd = {
      member: string;
      version: string;
      uptime_s: number;
      records: number;
      lines_per_s: number;
      members: Array<{ name: string; http: string | null }>;
      neighbours: Array<{
        name: string;
        state: string;
        since: string;
        queued: number;
        sent_per_s: number;
        received_per_s: number;
      }>;
      links: Array<[string, string]>;
    };
    await (await put(`${herd.url("Campbell")}/v1/clients/kiwi/location`, {
      location: KIWI,
      time: T,
    })).body?.cancel();
    const h = await getJson<Herd>(`${herd.url("Campbell")}/v1/herd`);
    assert.equal(h.member, "Campbell");
    assert.equal(h.version, VERSION);
    assert.ok(h.uptime_s >= 0 && h.uptime_s < 60);
    assert.equal(h.records, 1);
    assert.ok(h.lines_per_s >= 0);
    assert.deepEqual(
      h.members,
      [...herd.members.keys()].map((name) => ({ name, http: herd.url(name) })),
    );
    // A page of one member can reach every other by the URLs it is given.
    for (const m of h.members) {
      const health = await getJson<{ member: string }>(`${m.http}/healthz`);
      assert.equal(health.member, m.name);
    }
    assert.deepEqual(h.neighbours.map((n) => [n.name, n.state]).sort(), [
      ["Singleton", "up"],
      ["Smith", "up"],
    ]);
    for (const n of h.neighbours) {
      assert.ok(!Number.isNaN(Date.parse(n.since)), n.since);
      // Usually 0; a line may wait behind a write in flight (anti-entropy right after linking).
      assert.ok(Number.isInteger(n.queued) && n.queued >= 0, `queued ${n.queued}`);
      assert.ok(n.sent_per_s >= 0 && n.received_per_s >= 0);
    }
    assert.deepEqual(h.links, herd.config.links);

    // Smith goes away: Campbell reports its link down.
    await herd.get("Smith").face.stop();
    await herd.get("Smith").member.stop(0);
    await waitFor(
      async () => {
        const now = await getJson<Herd>(`${herd.url("Campbell")}/v1/herd`);
        return now.neighbours.find((n) => n.name === "Smith")?.state === "down";
      },
      5000,
      "Smith down at Campbell",
    );
  } finally {
    await herd.stop();
  }
});

Deno.test("GET /healthz and /readyz: alive at once, ready once places have loaded", async () => {
  let loaded!: () => void;
  const loading = new Promise<void>((r) => loaded = r);
  const slow: PlacesProvider = { ...noPlaces(), name: "slow", settled: () => loading };
  const herd = await startHttpHerd(1, { places: slow });
  try {
    const url = herd.url("Campbell");
    assert.deepEqual(await getJson(`${url}/healthz`), { status: "ok", member: "Campbell" });
    assert.deepEqual(await getJson(`${url}/readyz`, {}, 503), {
      status: "loading places",
      member: "Campbell",
    });
    loaded();
    await waitFor(async () =>
      (await fetch(`${url}/readyz`).then((r) =>
        r.body?.cancel().then(
          () => r.status,
        )
      )) === 200
    );
    assert.deepEqual(await getJson(`${url}/readyz`), { status: "ready", member: "Campbell" });
  } finally {
    loaded();
    await herd.stop();
  }
});

Deno.test("GET /metrics answers Prometheus text with the member's counters", async () => {
  // That they move with the herd's work: metrics_e2e_test.ts.
  const herd = await startHttpHerd(1);
  try {
    const res = await fetch(`${herd.url("Campbell")}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^# TYPE herd_lines_in_total counter$/m);
    assert.match(text, /^herd_records 0$/m);
  } finally {
    await herd.stop();
  }
});

Deno.test("GET /v1/openapi.json is OpenAPI 3.1.0 describing every path of the API", async () => {
  const herd = await startHttpHerd(1);
  try {
    const doc = await getJson<{
      openapi: string;
      info: { version: string };
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    }>(`${herd.url("Campbell")}/v1/openapi.json`);
    assert.equal(doc.openapi, "3.1.0");
    assert.equal(doc.info.version, VERSION);
    const want: Array<[string, string]> = [
      ["/v1/clients/{id}/location", "put"],
      ["/v1/clients/{id}", "get"],
      ["/v1/clients/{id}/nearby", "get"],
      ["/v1/clients", "get"],
      ["/v1/herd", "get"],
      ["/v1/stream", "get"],
      ["/healthz", "get"],
      ["/readyz", "get"],
      ["/metrics", "get"],
    ];
    for (const [path, method] of want) {
      assert.ok(doc.paths[path]?.[method] !== undefined, `${method} ${path} documented`);
    }
    for (const schema of ["Record", "Problem", "LocationUpdate", "ClientsPage", "Herd"]) {
      assert.ok(doc.components.schemas[schema] !== undefined, `schema ${schema}`);
    }
  } finally {
    await herd.stop();
  }
});

Deno.test("HTTP and TCP faces: an IAMAT over TCP reads the same over HTTP at another member", async () => {
  const herd = await startHttpHerd(5, { places: cannedPlaces() });
  try {
    const iamat = `IAMAT kiwi.cs.ucla.edu ${KIWI} ${T}\n`;
    const at = (await tcp(herd.get("Campbell").tcp, iamat)).trimEnd();
    assert.match(at, /^AT Campbell /);
    // Hill is two hops away (Campbell - Smith - Hill).
    const url = `${herd.url("Hill")}/v1/clients/kiwi.cs.ucla.edu`;
    await waitFor(
      async () => {
        const r = await fetch(url);
        await r.body?.cancel();
        return r.status === 200;
      },
      5000,
      "the record at Hill",
    );
    const record = await getJson<RecordBody>(url);
    assert.equal(record.at, at);
    assert.equal(record.server, "Campbell");
    // WHATSAT over TCP at Hill, nearby over HTTP at Hill: one record, one places document.
    const reply = await tcp(herd.get("Hill").tcp, "WHATSAT kiwi.cs.ucla.edu 10 3\n");
    const nl = reply.indexOf("\n");
    assert.equal(reply.slice(0, nl), at);
    const nearby = await getJson<{ record: RecordBody; places: unknown }>(
      `${url}/nearby?radius_km=10&bound=3`,
    );
    assert.equal(nearby.record.at, at);
    assert.deepEqual(nearby.places, JSON.parse(reply.slice(nl + 1)));
  } finally {
    await herd.stop();
  }
});

Deno.test("HTTP and TCP faces: a PUT at one member is flooded; TCP WHATSAT elsewhere answers it", async () => {
  const herd = await startHttpHerd(5);
  try {
    const r = await (await put(`${herd.url("Campbell")}/v1/clients/kiwi/location`, {
      location: KIWI,
      time: T,
    })).json() as RecordBody;
    for (const name of ["Hill", "Jaquez", "Singleton", "Smith"]) {
      const addr = herd.get(name).tcp;
      let first = "";
      await waitFor(
        async () => {
          first = (await tcp(addr, "WHATSAT kiwi 10 1\n")).split("\n")[0];
          return first.startsWith("AT ");
        },
        5000,
        `kiwi at ${name}`,
      );
      assert.equal(first, r.at, name);
    }
  } finally {
    await herd.stop();
  }
});

Deno.test("every request is logged as http.request with method, route and status", async () => {
  const herd = await startHttpHerd(1);
  try {
    const url = herd.url("Campbell");
    const log = herd.get("Campbell").log;
    const before = log.named("http.request").length;
    const requests: Array<[string, string, string, number]> = [
      ["PUT", "/v1/clients/kiwi/location", "/v1/clients/:id/location", 200],
      ["GET", "/v1/clients/kiwi", "/v1/clients/:id", 200],
      ["GET", "/v1/clients/nobody", "/v1/clients/:id", 404],
      ["GET", "/v1/clients/kiwi/nearby?radius_km=1&bound=1", "/v1/clients/:id/nearby", 200],
      ["GET", "/v1/clients/kiwi/nearby?radius_km=0&bound=1", "/v1/clients/:id/nearby", 400],
      ["GET", "/v1/clients?limit=5", "/v1/clients", 200],
      ["GET", "/v1/herd", "/v1/herd", 200],
      ["GET", "/healthz", "/healthz", 200],
      ["GET", "/readyz", "/readyz", 200],
      ["GET", "/v1/openapi.json", "/v1/openapi.json", 200],
      ["DELETE", "/v1/herd", "(none)", 405],
      ["GET", "/nowhere", "(none)", 404],
    ];
    for (const [method, path, , status] of requests) {
      const res = await fetch(url + path, {
        method,
        headers: { "content-type": "application/json" },
        body: method === "PUT" ? JSON.stringify({ location: KIWI, time: T }) : undefined,
      });
      await res.body?.cancel();
      assert.equal(res.status, status, `${method} ${path}`);
    }
    const logged = log.named("http.request").slice(before);
    assert.equal(logged.length, requests.length);
    requests.forEach(([method, , route, status], i) => {
      const f = logged[i].fields;
      assert.equal(f.method, method);
      assert.equal(f.route, route, `${method} ${route}`);
      assert.equal(f.status, status);
      assert.equal(typeof f.ms, "number");
    });
    // The HTTP update went the one message path: logged as a line in and a reply out.
    const msgIn = log.named("msg.in").filter((e) => e.fields.via === "http");
    assert.ok(msgIn.some((e) => String(e.fields.line).startsWith("IAMAT kiwi ")));
    assert.ok(log.named("reply.out").some((e) => e.fields.via === "http"));
  } finally {
    await herd.stop();
  }
});

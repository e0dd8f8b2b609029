/**
 * `[http] token` over real HTTP: bearer header, the cookie `GET /?token=`
 * sets, the open health checks, CORS for the herd's own origins, and the
 * token never written to the member's log.
 */

import assert from "node:assert/strict";
import {
  expectProblem,
  type HttpHerd,
  put,
  SseReader,
  startHttpHerd,
  waitForSubscribers,
  WsReader,
} from "./_herd.ts";

const TOKEN = "correct-horse-battery-staple-42";
const WRONG = "correct-horse-battery-staple-43";
const KIWI = "+34.068930-118.445127";

/** Every protected endpoint: method, path, body. */
const PROTECTED: Array<[string, string, unknown?]> = [
  ["PUT", "/v1/clients/kiwi/location", { location: KIWI, time: "1000" }],
  ["GET", "/v1/clients/kiwi"],
  ["GET", "/v1/clients/kiwi/nearby?radius_km=10&bound=5"],
  ["GET", "/v1/clients?near=34,-118&radius_km=10"],
  ["GET", "/v1/clients"],
  ["DELETE", "/v1/clients/ghost"],
  ["GET", "/v1/herd"],
  ["GET", "/v1/stream"],
  ["GET", "/v1/openapi.json"],
  ["GET", "/metrics"],
  ["GET", "/"],
  // Even an unknown path: without the token nothing says what exists.
  ["GET", "/v1/nothing"],
];

/** Sends one of {@linkcode PROTECTED} with `headers`; the body is read or cancelled. */
async function send(
  herd: HttpHerd,
  [method, path, body]: [string, string, unknown?],
  headers: Record<string, string>,
): Promise<Response> {
  return await fetch(herd.url("Campbell") + path, {
    method,
    headers: { "content-type": "application/json", accept: "text/event-stream", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Fails unless the log holds no trace of `secret`. */
function assertNotLogged(herd: HttpHerd, secret: string): void {
  const text = JSON.stringify(herd.get("Campbell").log.events);
  assert.ok(!text.includes(secret), `"${secret}" in the log`);
}

Deno.test("token: every endpoint but the health checks answers 401 without it or with a wrong one", async (t) => {
  const herd = await startHttpHerd(1, { token: TOKEN });
  try {
    for (const request of PROTECTED) {
      await t.step(`${request[0]} ${request[1]}`, async () => {
        const variants: Array<Record<string, string>> = [
          {},
          { authorization: `Bearer ${WRONG}` },
          { authorization: `Basic ${btoa(`x:${TOKEN}`)}` },
          { authorization: TOKEN },
          { cookie: `herd_token=${WRONG}` },
        ];
        for (const headers of variants) {
          const res = await send(herd, request, headers);
          const p = await expectProblem(res, 401);
          assert.match(p.detail, /^authorization: /);
          assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="herd"');
        }
      });
    }
    for (const path of ["/healthz", "/readyz"]) {
      const res = await fetch(herd.url("Campbell") + path);
      assert.equal(res.status, 200, path);
      await res.body?.cancel();
    }
    // Nothing was stored without the token.
    assert.equal(herd.get("Campbell").member.store.size, 0);
    assert.equal(herd.get("Campbell").member.store.tombstones, 0);
    assert.equal(herd.get("Campbell").face.hub.subscribers, 0);
    assertNotLogged(herd, TOKEN);
    assertNotLogged(herd, WRONG);
  } finally {
    await herd.stop();
  }
});

Deno.test("token: Authorization: Bearer <token> opens every endpoint", async () => {
  const herd = await startHttpHerd(1, { token: TOKEN });
  try {
    for (const scheme of ["Bearer", "bearer"]) {
      for (const request of PROTECTED) {
        const res = await send(herd, request, { authorization: `${scheme} ${TOKEN}` });
        const want = request[1] === "/v1/nothing" ? 404 : 200;
        assert.equal(res.status, want, `${scheme}: ${request[0]} ${request[1]}`);
        await res.body?.cancel();
      }
    }
    assert.equal(herd.get("Campbell").member.store.size, 1);
    // A WebSocket can send the header too (Deno's client can; a browser uses the cookie).
    const ws = await WsReader.open(`${herd.url("Campbell")}/v1/stream`, {
      authorization: `Bearer ${TOKEN}`,
    });
    try {
      await waitForSubscribers(herd.get("Campbell"), 1);
      await (await put(`${herd.url("Campbell")}/v1/clients/kiwi/location`, {
        location: KIWI,
        time: "2000",
      }, { authorization: `Bearer ${TOKEN}` })).body?.cancel();
      assert.equal((await ws.json()).record?.time, "2000");
    } finally {
      await ws.close();
    }
    // Without it the upgrade is refused.
    await assert.rejects(WsReader.open(`${herd.url("Campbell")}/v1/stream`));
    assertNotLogged(herd, TOKEN);
  } finally {
    await herd.stop();
  }
});

Deno.test("token: GET /?token= answers 303 with an HttpOnly SameSite=Strict cookie that authorises the page", async () => {
  const herd = await startHttpHerd(1, { token: TOKEN });
  const url = herd.url("Campbell");
  try {
    const res = await fetch(`${url}/?token=${encodeURIComponent(TOKEN)}`, { redirect: "manual" });
    await res.body?.cancel();
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/");
    const setCookie = res.headers.get("set-cookie") ?? "";
    const [pair, ...attrs] = setCookie.split(/;\s*/);
    assert.equal(pair, `herd_token=${TOKEN}`);
    const lower = attrs.map((a) => a.toLowerCase());
    assert.ok(lower.includes("httponly"), setCookie);
    assert.ok(lower.includes("samesite=strict"), setCookie);
    assert.ok(lower.includes("path=/"), setCookie);
    const cookie = { cookie: pair };

    // The cookie alone: the herd view, an SSE stream and a WebSocket stream.
    const herdRes = await fetch(`${url}/v1/herd`, { headers: cookie });
    assert.equal(herdRes.status, 200);
    assert.equal((await herdRes.json()).member, "Campbell");
    const events = new SseReader(
      await fetch(`${url}/v1/stream`, { headers: { ...cookie, accept: "text/event-stream" } }),
    );
    const ws = await WsReader.open(`${url}/v1/stream`, cookie);
    try {
      await waitForSubscribers(herd.get("Campbell"), 2);
      const put1 = await put(
        `${url}/v1/clients/kiwi/location`,
        { location: KIWI, time: "1" },
        cookie,
      );
      assert.equal(put1.status, 200);
      await put1.body?.cancel();
      assert.equal((await events.json()).record?.client, "kiwi");
      assert.equal((await ws.json()).record?.client, "kiwi");
    } finally {
      await events.cancel();
      await ws.close();
    }

    // A wrong token gets no cookie.
    const wrong = await fetch(`${url}/?token=${WRONG}`, { redirect: "manual" });
    assert.equal(wrong.headers.get("set-cookie"), null);
    await expectProblem(wrong, 401);
    assertNotLogged(herd, TOKEN);
    assertNotLogged(herd, WRONG);
  } finally {
    await herd.stop();
  }
});

Deno.test("CORS: the herd's own origins may read the API, others may not", async () => {
  const herd = await startHttpHerd(2, { token: TOKEN });
  try {
    const campbell = herd.url("Campbell");
    const origin = herd.url("Hill");
    // A preflight needs no token (a browser sends none with it).
    const pre = await fetch(`${campbell}/v1/clients/kiwi/location`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "PUT",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    await pre.body?.cancel();
    assert.ok(pre.status === 204 || pre.status === 200, `preflight ${pre.status}`);
    assert.equal(pre.headers.get("access-control-allow-origin"), origin);
    assert.match(pre.headers.get("access-control-allow-methods") ?? "", /PUT/);
    assert.match(pre.headers.get("access-control-allow-methods") ?? "", /DELETE/);
    assert.equal(pre.headers.get("access-control-allow-credentials"), "true");
    const res = await fetch(`${campbell}/v1/herd`, {
      headers: { origin, authorization: `Bearer ${TOKEN}` },
    });
    await res.body?.cancel();
    assert.equal(res.headers.get("access-control-allow-origin"), origin);
    const other = await fetch(`${campbell}/v1/herd`, {
      headers: { origin: "http://evil.example", authorization: `Bearer ${TOKEN}` },
    });
    await other.body?.cancel();
    assert.equal(other.status, 200);
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  } finally {
    await herd.stop();
  }
});

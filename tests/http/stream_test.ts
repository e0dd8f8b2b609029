/**
 * `/v1/stream` over real WebSocket and Server-Sent Events on 127.0.0.1:
 * updates across members, client filters, geofence transitions, the state at
 * subscription, a slow subscriber, and streams ending when the member stops.
 */

import assert from "node:assert/strict";
import { request } from "../../src/client/mod.ts";
import { waitFor } from "../_harness.ts";
import {
  eventOf,
  expectProblem,
  type HttpHerd,
  put,
  type RecordBody,
  recordOf,
  SseReader,
  startHttpHerd,
  waitForSubscribers,
  WsReader,
} from "./_herd.ts";

/** PUTs a location at `member` and returns the record it answered with (without `stored`). */
async function update(
  herd: HttpHerd,
  member: string,
  client: string,
  lat: number,
  lng: number,
  time: string,
): Promise<RecordBody> {
  const res = await put(`${herd.url(member)}/v1/clients/${client}/location`, { lat, lng, time });
  const body = await res.json() as RecordBody;
  assert.equal(res.status, 200);
  assert.equal(body.stored, true, `${client} at ${time} stored`);
  return recordOf(body);
}

/** Opens an SSE stream at `url`. */
async function sse(url: string, headers: HeadersInit = {}): Promise<SseReader> {
  return new SseReader(await fetch(url, { headers: { accept: "text/event-stream", ...headers } }));
}

Deno.test("stream: WebSocket and SSE on one member see an update made at another", async () => {
  const herd = await startHttpHerd(5);
  const hill = herd.get("Hill");
  const ws = await WsReader.open(`${hill.url}/v1/stream`);
  const events = await sse(`${hill.url}/v1/stream`);
  try {
    await waitForSubscribers(hill, 2);
    // Campbell - Smith - Hill: the update crosses two links before Hill publishes it.
    const record = await update(herd, "Campbell", "kiwi", 34.06893, -118.445127, "1000");
    assert.deepEqual(eventOf(await ws.json()), { type: "update", record });
    assert.deepEqual(eventOf(await events.json()), { type: "update", record });
    // And one made over TCP at a third member.
    const at = (await request(herd.get("Jaquez").tcp, "IAMAT kiwi +34.1-118.4 1001\n", {
      timeoutMs: 5000,
    })).trimEnd();
    const viaWs = await ws.json();
    const viaSse = await events.json();
    assert.equal(viaWs.type, "update");
    assert.equal(viaWs.record?.at, at);
    assert.deepEqual(viaSse, viaWs);
  } finally {
    await ws.close();
    await events.cancel();
    await herd.stop();
  }
});

Deno.test("stream: a client filter sees only its clients' updates", async () => {
  const herd = await startHttpHerd(5);
  const smith = herd.get("Smith");
  const events = await sse(`${smith.url}/v1/stream?client=a&client=b%C3%A9`);
  const ws = await WsReader.open(`${smith.url}/v1/stream?client=a`);
  try {
    await waitForSubscribers(smith, 2);
    await update(herd, "Campbell", "x", 1, 1, "1");
    const a = await update(herd, "Hill", "a", 2, 2, "2");
    // x came first but is not watched: the first event is a's.
    assert.deepEqual(eventOf(await events.json()), { type: "update", record: a });
    assert.deepEqual(eventOf(await ws.json()), { type: "update", record: a });
    await update(herd, "Campbell", "y", 3, 3, "3");
    await update(herd, "Campbell", "b", 3, 3, "3");
    const be = await update(herd, "Jaquez", "b%C3%A9", 4, 4, "4");
    assert.equal(be.client, "bé");
    assert.deepEqual(eventOf(await events.json()), { type: "update", record: be });
    // The WebSocket watches a only: its next event is a's next update.
    const a2 = await update(herd, "Campbell", "a", 5, 5, "5");
    assert.deepEqual(eventOf(await ws.json()), { type: "update", record: a2 });
    assert.deepEqual(eventOf(await events.json()), { type: "update", record: a2 });
  } finally {
    await ws.close();
    await events.cancel();
    await herd.stop();
  }
});

Deno.test("stream: geofence enter, inside and exit over a real stream; nothing for the state at subscription", async () => {
  const herd = await startHttpHerd(5);
  const hill = herd.get("Hill");
  // UCLA; 34.068930,-118.445127 is the centre, 0.05 degrees of latitude is about 5.6 km.
  const near = "near=34.068930,-118.445127&radius_km=5";
  try {
    // g is inside before anyone watches.
    await update(herd, "Campbell", "g", 34.06893, -118.445127, "1");
    await waitFor(() => hill.member.store.line("g") !== undefined, 5000, "g at Hill");
    const ws = await WsReader.open(`${hill.url}/v1/stream?${near}`);
    const events = await sse(`${hill.url}/v1/stream?${near}`);
    try {
      await waitForSubscribers(hill, 2);
      const steps: Array<[string, number, number, string | null]> = [
        // Outside to outside: nothing.
        ["o", 35, -118, null],
        // First record, inside: enter (and nothing was said about g at subscription).
        ["n", 34.07, -118.44, "enter n"],
        // g was inside when the stream began: an update inside is `inside`, not `enter`.
        ["g", 34.07, -118.45, "inside g"],
        ["g", 34.2, -118.45, "exit g"],
        // Outside again: nothing; then n leaves.
        ["g", 34.3, -118.45, null],
        ["n", 36, -118.44, "exit n"],
        ["g", 34.06893, -118.445127, "enter g"],
        // The edge: 5 km due north is 0.044966 degrees; 4.993 km is in, 5.004 km is out.
        ["n", 34.06893 + 0.0449, -118.445127, "enter n"],
        ["n", 34.06893 + 0.0450, -118.445127, "exit n"],
      ];
      let time = 10;
      for (const [client, lat, lng, want] of steps) {
        const record = await update(herd, "Campbell", client, lat, lng, String(time++));
        if (want === null) continue;
        const [type] = want.split(" ");
        assert.deepEqual(eventOf(await ws.json()), { type, record }, want);
        assert.deepEqual(eventOf(await events.json()), { type, record }, want);
      }
    } finally {
      await ws.close();
      await events.cancel();
    }
  } finally {
    await herd.stop();
  }
});

Deno.test("stream: a subscriber that stops reading gets one lagged event, then the newest", async () => {
  // The member's whole path (an IAMAT stored, observed, published) runs in microtasks for a
  // single member, while the SSE body is taken by Deno's server between I/O operations: so
  // 3,000 updates submitted in one burst overflow the subscriber's 1,000-event buffer however
  // large the socket buffers are, and the count that survives is exact.
  const herd = await startHttpHerd(1);
  const campbell = herd.get("Campbell");
  const events = await sse(`${campbell.url}/v1/stream`);
  try {
    await waitForSubscribers(campbell, 1);
    const total = 3000;
    const source = { id: 1, remote: "test", remoteHost: "test", via: "test" };
    for (let i = 1; i <= total; i++) {
      await campbell.member.submit(source, `IAMAT c${i} +34.000000-118.000000 ${i}`);
    }
    assert.ok(campbell.face.hub.droppedTotal > 0, "the burst overflowed the buffer");
    const seen: number[] = [];
    let dropped = 0;
    let laggedAt = -1;
    while (seen.length === 0 || seen[seen.length - 1] !== total) {
      const e = await events.json();
      if (e.type === "lagged") {
        assert.equal(laggedAt, -1, "one lagged event");
        assert.ok(e.dropped! > 0);
        dropped = e.dropped!;
        laggedAt = seen.length;
      } else {
        assert.equal(e.type, "update");
        seen.push(Number(e.record!.client.slice(1)));
      }
    }
    assert.ok(laggedAt >= 0, "a lagged event came");
    // Every update is either delivered or counted as dropped, in order, none twice.
    assert.equal(seen.length + dropped, total);
    assert.equal(dropped, campbell.face.hub.droppedTotal);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i] > seen[i - 1], "in order");
    // After the gap come the newest: the last 1,000 at most, ending with the last one.
    const after = seen.slice(laggedAt);
    assert.ok(after.length <= 1000 && after.length > 0);
    assert.deepEqual(
      after,
      Array.from({ length: after.length }, (_, i) => total - after.length + 1 + i),
    );
    // The stream goes on normally after the gap.
    const record = await update(herd, "Campbell", "late", 1, 1, "9999");
    assert.deepEqual(eventOf(await events.json()), { type: "update", record });
  } finally {
    await events.cancel();
    await herd.stop();
  }
});

Deno.test("stream: a real SSE client that stops reading while updates pour in over HTTP lags, then catches up", async () => {
  // Over real HTTP the OS and the client's socket buffers absorb events before the member's
  // buffer fills, so updates are made large (a 4 KiB client id: ~8.5 KB per event) and sent
  // until the hub reports a drop (bounded).
  const herd = await startHttpHerd(1);
  const campbell = herd.get("Campbell");
  const events = await sse(`${campbell.url}/v1/stream`);
  try {
    await waitForSubscribers(campbell, 1);
    const pad = "p".repeat(4096);
    let sent = 0;
    const limit = 8000;
    while (campbell.face.hub.droppedTotal === 0 && sent < limit) {
      // Eight at a time, on keep-alive connections.
      await Promise.all(Array.from({ length: 8 }, () => {
        sent++;
        return put(`${campbell.url}/v1/clients/${pad}${sent}/location`, {
          location: "+34.000000-118.000000",
          time: String(sent),
        }).then((r) => r.body?.cancel());
      }));
    }
    assert.ok(campbell.face.hub.droppedTotal > 0, `a drop within ${limit} updates`);
    // 100 more, then read everything.
    for (let i = 0; i < 100; i++) {
      sent++;
      await (await put(`${campbell.url}/v1/clients/${pad}${sent}/location`, {
        location: "+34.000000-118.000000",
        time: String(sent),
      })).body?.cancel();
    }
    // The eight of a batch are stored in any order; the last 100 one after another.
    const seen = new Set<number>();
    let lagged = 0;
    while (!seen.has(sent)) {
      const e = await events.json();
      if (e.type === "lagged") {
        lagged += e.dropped!;
        continue;
      }
      const n = Number(e.record!.client.slice(pad.length));
      assert.ok(!seen.has(n), `${n} once`);
      seen.add(n);
    }
    assert.ok(lagged > 0, "a lagged event");
    assert.equal(lagged, campbell.face.hub.droppedTotal);
    assert.equal(seen.size + lagged, sent);
    // The newest came after the gap: the 100 sequential ones at least.
    for (let n = sent - 99; n <= sent; n++) assert.ok(seen.has(n), `newest ${n} delivered`);
  } finally {
    await events.cancel();
    await herd.stop();
  }
});

Deno.test("stream: WebSocket and SSE end with a reason when the member stops", async () => {
  const herd = await startHttpHerd(1);
  const campbell = herd.get("Campbell");
  const ws = await WsReader.open(`${campbell.url}/v1/stream`);
  const events = await sse(`${campbell.url}/v1/stream?client=kiwi`);
  try {
    await waitForSubscribers(campbell, 2);
    await campbell.face.stop();
    const closed = await ws.closed;
    assert.equal(closed.code, 1001);
    assert.equal(closed.reason, "server stopping");
    const last = await events.next();
    assert.deepEqual(last, {
      event: "close",
      data: JSON.stringify({ type: "closed", reason: "server stopping" }),
    });
    assert.equal(await events.next(), null);
  } finally {
    await ws.close();
    await events.cancel();
    await herd.stop();
  }
});

Deno.test("stream: a closed WebSocket or SSE client unsubscribes", async () => {
  const herd = await startHttpHerd(1);
  const campbell = herd.get("Campbell");
  try {
    const ws = await WsReader.open(`${campbell.url}/v1/stream`);
    const events = await sse(`${campbell.url}/v1/stream`);
    await waitForSubscribers(campbell, 2);
    await ws.close();
    await waitFor(() => campbell.face.hub.subscribers === 1, 5000, "the WebSocket unsubscribed");
    await events.cancel();
    await waitFor(() => campbell.face.hub.subscribers === 0, 5000, "the SSE stream unsubscribed");
  } finally {
    await herd.stop();
  }
});

Deno.test("stream: bad filters answer 400 before any stream opens", async () => {
  const herd = await startHttpHerd(1);
  const url = `${herd.url("Campbell")}/v1/stream`;
  try {
    for (
      const [query, field] of [
        ["radius_km=5", "radius_km"],
        ["near=34,-118", "radius_km"],
        ["near=91,0&radius_km=1", "near"],
        ["near=x&radius_km=1", "near"],
        ["near=0,0&radius_km=0", "radius_km"],
        ["near=0,0&radius_km=20039", "radius_km"],
        ["client=a%20b", "client"],
        ["client=", "client"],
      ]
    ) {
      const p = await expectProblem(
        await fetch(`${url}?${query}`, { headers: { accept: "text/event-stream" } }),
        400,
      );
      assert.ok(p.detail.startsWith(`${field}:`), `${query}: ${p.detail}`);
    }
    assert.equal(herd.get("Campbell").face.hub.subscribers, 0);
  } finally {
    await herd.stop();
  }
});

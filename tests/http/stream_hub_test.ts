import assert from "node:assert/strict";
import { EARTH_RADIUS_M, greatCircleDistanceM } from "../../src/geo/mod.ts";
import {
  type LatLng,
  type RecordEvent,
  type StreamEvent,
  type StreamFilter,
  StreamHub,
  type StreamRecord,
  type Subscription,
} from "../../src/http/stream_hub.ts";
import { fakeTimers } from "../herd/_port.ts";

/** The payload the tests publish: enough to tell records apart. */
interface Payload {
  client: string;
  n: number;
}

let serial = 0;

/** A record of `client` at a position; its payload carries a fresh serial number. */
function rec(client: string, at: LatLng): StreamRecord<Payload> {
  return { client, lat: at.lat, lng: at.lng, json: { client, n: ++serial } };
}

/** Everything buffered, without waiting. */
function drain<P>(sub: Subscription<P>): StreamEvent<P>[] {
  const out: StreamEvent<P>[] = [];
  for (let e = sub.poll(); e !== undefined; e = sub.poll()) out.push(e);
  return out;
}

/** Event types and clients, for compact comparisons. */
function summary(events: StreamEvent<Payload>[]): string[] {
  return events.map((e) =>
    e.type === "lagged"
      ? `lagged ${e.dropped}`
      : e.type === "erased"
      ? `erased ${e.client}`
      : `${e.type} ${e.record.client}`
  );
}

// A 10 km circle around UCLA; IN is its centre, NEAR 5.6 km north, FAR 111 km north.
const CENTRE = { lat: 34.07, lng: -118.44 };
const IN: LatLng = CENTRE;
const NEAR: LatLng = { lat: 34.12, lng: -118.44 };
const FAR: LatLng = { lat: 35.07, lng: -118.44 };
const CIRCLE: StreamFilter = { near: { ...CENTRE, radiusKm: 10 } };

Deno.test("greatCircleDistanceM() measures great-circle distances on the mean Earth sphere", async (t) => {
  const table: Array<[string, [number, number, number, number], number]> = [
    ["same point", [34.07, -118.44, 34.07, -118.44], 0],
    ["one degree of longitude on the equator", [0, 0, 0, 1], EARTH_RADIUS_M * Math.PI / 180],
    ["one degree of latitude", [10, 20, 11, 20], EARTH_RADIUS_M * Math.PI / 180],
    ["pole to pole", [90, 0, -90, 0], EARTH_RADIUS_M * Math.PI],
    ["antipodes on the equator", [0, 0, 0, 180], EARTH_RADIUS_M * Math.PI],
    ["across the antimeridian", [0, 179.5, 0, -179.5], EARTH_RADIUS_M * Math.PI / 180],
  ];
  for (const [name, [aLat, aLng, bLat, bLng], metres] of table) {
    await t.step(name, () => {
      const d = greatCircleDistanceM(aLat, aLng, bLat, bLng);
      assert.ok(Math.abs(d - metres) < 1e-6 * Math.max(1, metres), `${d} vs ${metres}`);
      assert.equal(greatCircleDistanceM(bLat, bLng, aLat, aLng), d);
    });
  }
  // The test points sit where the tests assume.
  assert.ok(greatCircleDistanceM(CENTRE.lat, CENTRE.lng, NEAR.lat, NEAR.lng) < 10_000);
  assert.ok(greatCircleDistanceM(CENTRE.lat, CENTRE.lng, FAR.lat, FAR.lng) > 10_000);
});

Deno.test("StreamHub.publish() gives Tile38 geofence events from the previous position", async (t) => {
  // [name, previous position at this member (undefined: the client's first record), new, events]
  const table: Array<[string, LatLng | undefined, LatLng, string[]]> = [
    ["outside -> inside is enter", FAR, NEAR, ["enter kiwi"]],
    ["inside -> inside is inside", IN, NEAR, ["inside kiwi"]],
    ["inside -> outside is exit", NEAR, FAR, ["exit kiwi"]],
    ["outside -> outside is nothing", FAR, { lat: 36, lng: -118 }, []],
    ["unknown (first record) -> inside is enter", undefined, IN, ["enter kiwi"]],
    ["unknown (first record) -> outside is nothing", undefined, FAR, []],
  ];
  for (const [name, previous, now, expected] of table) {
    await t.step(name, () => {
      const hub = new StreamHub<Payload>();
      const sub = hub.subscribe(CIRCLE);
      const r = rec("kiwi", now);
      hub.publish(r, previous);
      const events = drain(sub);
      assert.deepEqual(summary(events), expected);
      for (const e of events) assert.equal((e as RecordEvent<Payload>).record, r.json);
      hub.close();
    });
  }
});

Deno.test("StreamHub.publish() gives no event for the state at subscription", () => {
  const hub = new StreamHub<Payload>();
  hub.publish(rec("kiwi", IN));
  const sub = hub.subscribe(CIRCLE);
  assert.equal(sub.poll(), undefined);
  // Its next update, still inside, is `inside` (the member knows where it was), not `enter`.
  hub.publish(rec("kiwi", NEAR), IN);
  assert.deepEqual(summary(drain(sub)), ["inside kiwi"]);
  hub.close();
});

Deno.test("StreamHub.publish() without previous positions follows the circle's own history", () => {
  const hub = new StreamHub<Payload>();
  const sub = hub.subscribe(CIRCLE);
  // [position, events]; the fence starts knowing nothing, so its first sight inside is enter.
  const steps: Array<[LatLng, string[]]> = [
    [IN, ["enter kiwi"]],
    [NEAR, ["inside kiwi"]],
    [FAR, ["exit kiwi"]],
    [FAR, []],
    [NEAR, ["enter kiwi"]],
  ];
  for (const [at, expected] of steps) {
    hub.publish(rec("kiwi", at));
    assert.deepEqual(summary(drain(sub)), expected);
  }
  hub.close();
});

Deno.test("StreamHub.publish() counts a point exactly on the circle as inside", () => {
  // A fake distance: the latitude difference in km, so the boundary is exact.
  const distanceM = (aLat: number, _aLng: number, bLat: number, _bLng: number) =>
    Math.abs(aLat - bLat) * 1000;
  const hub = new StreamHub<Payload>({ distanceM });
  const sub = hub.subscribe({ near: { lat: 0, lng: 0, radiusKm: 2 } });
  hub.publish(rec("kiwi", { lat: 2, lng: 0 }), { lat: 2.000001, lng: 0 });
  hub.publish(rec("kiwi", { lat: 1, lng: 0 }), { lat: 2, lng: 0 });
  hub.publish(rec("kiwi", { lat: 2.000001, lng: 0 }), { lat: 1, lng: 0 });
  assert.deepEqual(summary(drain(sub)), ["enter kiwi", "inside kiwi", "exit kiwi"]);
  hub.close();
});

Deno.test("StreamHub.publish() with the default distance decides points near the circle's edge", () => {
  // A circle one degree of latitude (about 111.2 km) across its radius.
  const radiusKm = EARTH_RADIUS_M * Math.PI / 180 / 1000;
  const hub = new StreamHub<Payload>();
  const sub = hub.subscribe({ near: { lat: 10, lng: 20, radiusKm } });
  // [client, position, event for a first record there]
  const table: Array<[string, LatLng, string[]]> = [
    ["north-in", { lat: 10.999999, lng: 20 }, ["enter north-in"]],
    ["north-out", { lat: 11.000001, lng: 20 }, []],
    ["south-in", { lat: 9.000001, lng: 20 }, ["enter south-in"]],
    ["south-out", { lat: 8.999999, lng: 20 }, []],
    ["east-in", { lat: 10, lng: 21 }, ["enter east-in"]], // 109.5 km: a parallel converges
    ["east-out", { lat: 10, lng: 21.02 }, []],
  ];
  for (const [client, at, expected] of table) {
    hub.publish(rec(client, at));
    assert.deepEqual(summary(drain(sub)), expected, client);
  }
  hub.close();
});

Deno.test("StreamHub.publish() checks each circle on its own", () => {
  const hub = new StreamHub<Payload>();
  const small = hub.subscribe(CIRCLE);
  const large = hub.subscribe({ near: { ...CENTRE, radiusKm: 200 } });
  hub.publish(rec("kiwi", FAR), NEAR);
  assert.deepEqual(summary(drain(small)), ["exit kiwi"]);
  assert.deepEqual(summary(drain(large)), ["inside kiwi"]);
  hub.close();
});

Deno.test("StreamHub.publish() gives a client filter only its clients' updates", () => {
  const hub = new StreamHub<Payload>();
  const clients = ["kiwi", "emu", "kiwi"];
  const sub = hub.subscribe({ clients });
  assert.deepEqual(sub.filter, { clients: ["kiwi", "emu"] });
  clients.length = 0; // the hub kept its own copy
  for (const client of ["kiwi", "moa", "emu", "kiwi", "kiwi2"]) hub.publish(rec(client, FAR));
  assert.deepEqual(summary(drain(sub)), ["update kiwi", "update emu", "update kiwi"]);
  hub.close();
});

Deno.test("StreamHub.publish() gives a subscription without a filter every update", () => {
  const hub = new StreamHub<Payload>();
  const sub = hub.subscribe({});
  const records = ["kiwi", "moa", "emu", "kiwi"].map((c, i) => rec(c, i % 2 ? IN : FAR));
  for (const r of records) hub.publish(r);
  assert.deepEqual(drain(sub), records.map((r) => ({ type: "update", record: r.json })));
  hub.close();
});

Deno.test("StreamHub.publish() gives nothing for records stored before subscribing", () => {
  const hub = new StreamHub<Payload>();
  hub.publish(rec("kiwi", IN));
  const subs = [hub.subscribe({}), hub.subscribe({ clients: ["kiwi"] }), hub.subscribe(CIRCLE)];
  for (const sub of subs) assert.equal(sub.poll(), undefined);
  hub.close();
});

Deno.test("Subscription.next() waits for the next publish", async () => {
  const hub = new StreamHub<Payload>();
  const sub = hub.subscribe({ clients: ["kiwi"] });
  const pending = sub.next();
  const r = rec("kiwi", IN);
  hub.publish(r);
  assert.deepEqual(await pending, { type: "update", record: r.json });
  assert.equal(sub.buffered, 0);
  hub.close();
});

Deno.test("StreamHub drops the oldest events of a full buffer and says how many before the rest", () => {
  const hub = new StreamHub<Payload>({ bufferEvents: 5 });
  const sub = hub.subscribe({});
  const records = Array.from({ length: 12 }, () => rec("kiwi", IN));
  for (const r of records) hub.publish(r);
  assert.equal(sub.buffered, 5);
  assert.deepEqual(drain(sub), [
    { type: "lagged", dropped: 7 },
    ...records.slice(7).map((r) => ({ type: "update", record: r.json })),
  ]);
  assert.equal(sub.dropped, 7);
  assert.equal(hub.droppedTotal, 7);

  // Room again: no lagged event until the next overflow, which counts only its own drops.
  for (const r of records.slice(0, 5)) hub.publish(r);
  assert.equal(drain(sub).filter((e) => e.type === "lagged").length, 0);
  for (const r of records.slice(0, 8)) hub.publish(r);
  const events = drain(sub);
  assert.deepEqual(events[0], { type: "lagged", dropped: 3 });
  assert.deepEqual(
    events.slice(1),
    records.slice(3, 8).map((r) => ({ type: "update", record: r.json })),
  );
  assert.equal(sub.dropped, 10);
  hub.close();
});

Deno.test("StreamHub counts every drop since the last lagged event in one lagged event", () => {
  const hub = new StreamHub<Payload>({ bufferEvents: 3 });
  const sub = hub.subscribe({});
  const records = Array.from({ length: 10 }, () => rec("kiwi", IN));
  for (const r of records.slice(0, 6)) hub.publish(r); // 3 dropped
  // Taking the lagged event and one record makes room for one; 4 more drop 3 more.
  assert.deepEqual(sub.poll(), { type: "lagged", dropped: 3 });
  assert.deepEqual(sub.poll(), { type: "update", record: records[3].json });
  for (const r of records.slice(6, 10)) hub.publish(r);
  assert.deepEqual(summary(drain(sub)).slice(0, 1), ["lagged 3"]);
  sub.close();
  // Not taking anything in between: drops of two bursts add up.
  const other = hub.subscribe({});
  for (const r of records) hub.publish(r);
  for (const r of records) hub.publish(r);
  assert.deepEqual(other.poll(), { type: "lagged", dropped: 17 });
  assert.deepEqual(drain(other), records.slice(7).map((r) => ({ type: "update", record: r.json })));
  assert.equal(hub.droppedTotal, 6 + 17);
  hub.close();
});

Deno.test("StreamHub closes a subscription whose buffer stays full for stuckMs, not before", async () => {
  const { clock, timers } = fakeTimers();
  const hub = new StreamHub<Payload>({ timers, bufferEvents: 2 });
  const slow = hub.subscribe({});
  const reading = hub.subscribe({ clients: ["kiwi"] });
  const relieved = hub.subscribe({ clients: ["emu"] });
  hub.publish(rec("kiwi", IN));
  assert.equal(clock.countTimers(), 0, "no timer while no buffer is full");
  hub.publish(rec("kiwi", IN)); // `slow` and `reading` full from t = 0
  hub.publish(rec("emu", IN));
  hub.publish(rec("emu", IN)); // `relieved` full from t = 0
  clock.tick(20_000);
  assert.equal(reading.poll()?.type, "update"); // room again: its stuck clock stops
  assert.equal(relieved.poll()?.type, "update"); // and it is not refilled
  hub.publish(rec("kiwi", IN)); // `reading` full again from t = 20 s
  hub.publish(rec("kiwi", IN)); // drops keep `slow` full
  clock.tick(9_999);
  assert.equal(slow.closeReason, null);
  clock.tick(1);
  assert.equal(slow.closeReason, "too slow: buffer full for 30 s");
  assert.equal(await slow.closed, "too slow: buffer full for 30 s");
  assert.equal(await slow.next(), null);
  assert.equal(reading.closeReason, null);
  assert.equal(hub.subscribers, 2);
  clock.tick(19_999);
  assert.equal(reading.closeReason, null);
  clock.tick(1);
  assert.equal(reading.closeReason, "too slow: buffer full for 30 s");
  assert.equal(relieved.closeReason, null);
  assert.equal(hub.subscribers, 1);
  assert.equal(hub.stuckClosedTotal, 2);
  assert.equal(clock.countTimers(), 0, "the timer stops when no buffer is full");
  hub.close();
});

Deno.test("StreamHub names its stuckMs in the reason", () => {
  const { clock, timers } = fakeTimers();
  const hub = new StreamHub<Payload>({ timers, bufferEvents: 1, stuckMs: 1_500 });
  const sub = hub.subscribe({});
  hub.publish(rec("kiwi", IN));
  clock.tick(1_500);
  assert.equal(sub.closeReason, "too slow: buffer full for 1.5 s");
  hub.close();
});

Deno.test("Subscription.close() stops delivery and frees its place", async () => {
  const hub = new StreamHub<Payload>();
  const subs = [hub.subscribe({}), hub.subscribe({ clients: ["kiwi"] }), hub.subscribe(CIRCLE)];
  const keep = hub.subscribe({ clients: ["kiwi"] });
  assert.equal(hub.subscribers, 4);
  const pending = subs.map((s) => s.next());
  for (const s of subs) s.close();
  assert.deepEqual(await Promise.all(pending), [null, null, null]);
  hub.publish(rec("kiwi", IN));
  for (const s of subs) {
    assert.equal(s.poll(), undefined);
    assert.equal(await s.next(), null);
    assert.equal(await s.closed, "closed");
  }
  assert.equal(keep.poll()?.type, "update");
  assert.equal(hub.subscribers, 1);
  subs[0].close("again"); // a second close changes nothing
  assert.equal(subs[0].closeReason, "closed");
  assert.equal(hub.subscribers, 1);
  hub.close();
});

Deno.test("Subscription iterates with for await; leaving the loop closes it", async () => {
  const hub = new StreamHub<Payload>();
  const sub = hub.subscribe({});
  const records = [rec("kiwi", IN), rec("emu", FAR), rec("moa", IN)];
  for (const r of records) hub.publish(r);
  const seen: StreamEvent<Payload>[] = [];
  for await (const e of sub) {
    seen.push(e);
    if (seen.length === 2) break;
  }
  assert.deepEqual(seen, records.slice(0, 2).map((r) => ({ type: "update", record: r.json })));
  assert.equal(sub.closeReason, "closed");
  assert.equal(hub.subscribers, 0);

  // A loop ends when the subscription is closed elsewhere.
  const other = hub.subscribe({});
  const loop = (async () => {
    let n = 0;
    for await (const _ of other) n++;
    return n;
  })();
  hub.publish(records[0]);
  hub.close("bye");
  assert.equal(await loop, 1);
  assert.equal(await other.closed, "bye");
});

Deno.test("StreamHub.subscribe() closes the subscription when its signal aborts", async () => {
  const hub = new StreamHub<Payload>();
  const controller = new AbortController();
  const sub = hub.subscribe({}, { signal: controller.signal });
  controller.abort();
  assert.equal(await sub.closed, "aborted");
  assert.equal(hub.subscribers, 0);
  const late = hub.subscribe({}, { signal: controller.signal });
  assert.equal(late.closeReason, "aborted");
  assert.equal(hub.subscribers, 0);
  hub.close();
});

Deno.test("StreamHub.close() closes every subscription and refuses new ones", async () => {
  const { clock, timers } = fakeTimers();
  const hub = new StreamHub<Payload>({ timers, bufferEvents: 1 });
  const subs = [
    hub.subscribe({}),
    hub.subscribe({ clients: ["kiwi", "emu"] }),
    hub.subscribe(CIRCLE),
  ];
  hub.publish(rec("kiwi", IN));
  assert.equal(clock.countTimers(), 1);
  hub.close();
  assert.equal(clock.countTimers(), 0);
  for (const s of subs) assert.equal(await s.closed, "server stopping");
  assert.equal(hub.subscribers, 0);
  const late = hub.subscribe({});
  assert.equal(late.closeReason, "server stopping");
  hub.publish(rec("kiwi", IN));
  assert.equal(late.poll(), undefined);
  assert.equal(hub.subscribers, 0);
});

Deno.test("StreamHub.publish() reaches 1,000 subscribers with one update each", () => {
  const hub = new StreamHub<Payload>();
  const own = Array.from({ length: 1_000 }, (_, i) => hub.subscribe({ clients: [`c${i}`] }));
  const shared = Array.from({ length: 1_000 }, () => hub.subscribe({ clients: ["kiwi"] }));
  assert.equal(hub.subscribers, 2_000);
  const records = own.map((_, i) => rec(`c${i}`, IN));
  for (const r of records) hub.publish(r);
  own.forEach((sub, i) =>
    assert.deepEqual(drain(sub), [{ type: "update", record: records[i].json }])
  );
  const kiwi = rec("kiwi", IN);
  hub.publish(kiwi);
  const first = shared[0].poll();
  assert.deepEqual(first, { type: "update", record: kiwi.json });
  for (const sub of shared.slice(1)) {
    assert.equal(sub.poll(), first, "one event object shared by all");
    assert.equal(sub.poll(), undefined);
  }
  hub.close();
});

Deno.test("StreamHub.subscribe() rejects a malformed filter", async (t) => {
  const table: Array<[string, StreamFilter, typeof TypeError | typeof RangeError]> = [
    [
      "both clients and near",
      { clients: ["kiwi"], near: { lat: 0, lng: 0, radiusKm: 1 } } as unknown as StreamFilter,
      TypeError,
    ],
    ["no clients", { clients: [] }, RangeError],
    ["latitude above 90", { near: { lat: 90.5, lng: 0, radiusKm: 1 } }, RangeError],
    ["longitude below -180", { near: { lat: 0, lng: -181, radiusKm: 1 } }, RangeError],
    ["NaN latitude", { near: { lat: NaN, lng: 0, radiusKm: 1 } }, RangeError],
    ["negative radius", { near: { lat: 0, lng: 0, radiusKm: -1 } }, RangeError],
    ["infinite radius", { near: { lat: 0, lng: 0, radiusKm: Infinity } }, RangeError],
  ];
  const hub = new StreamHub();
  for (const [name, filter, error] of table) {
    await t.step(name, () => {
      assert.throws(() => hub.subscribe(filter), error);
      assert.equal(hub.subscribers, 0);
    });
  }
  hub.subscribe({ near: { lat: -90, lng: 180, radiusKm: 0 } });
  assert.equal(hub.subscribers, 1);
  hub.close();
});

Deno.test("new StreamHub() rejects a buffer below 1 event or a stuck time not above 0", () => {
  for (const bufferEvents of [0, -1, 1.5, NaN]) {
    assert.throws(() => new StreamHub({ bufferEvents }), RangeError);
  }
  for (const stuckMs of [0, -1, NaN, Infinity]) {
    assert.throws(() => new StreamHub({ stuckMs }), RangeError);
  }
});

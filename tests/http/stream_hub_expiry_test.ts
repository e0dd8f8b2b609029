/** StreamHub.expire(): who hears that a client's record expired (`record_ttl_s`). */

import assert from "node:assert/strict";
import {
  type LatLng,
  type StreamEvent,
  StreamHub,
  type StreamRecord,
  type Subscription,
} from "../../src/http/stream_hub.ts";

const rec = (client: string, at: LatLng): StreamRecord<string> => ({
  client,
  lat: at.lat,
  lng: at.lng,
  json: `${client}@${at.lat}`,
});

function drain(sub: Subscription<string>): string[] {
  const out: string[] = [];
  for (let e = sub.poll(); e !== undefined; e = sub.poll()) out.push(describe(e));
  return out;
}

const describe = (e: StreamEvent<string>) =>
  e.type === "lagged"
    ? `lagged ${e.dropped}`
    : e.type === "erased"
    ? `erased ${e.client}`
    : `${e.type} ${e.record}`;

const UCLA: LatLng = { lat: 34.07, lng: -118.44 };
const FAR: LatLng = { lat: 35.07, lng: -118.44 };

Deno.test("StreamHub.expire() tells the subscribers that had the client, with the dropped record", async (t) => {
  // [filter, what it hears of kiwi's record at UCLA expiring]
  const hub = new StreamHub<string>();
  const all = hub.subscribe({});
  const kiwi = hub.subscribe({ clients: ["kiwi"] });
  const other = hub.subscribe({ clients: ["pear"] });
  const around = hub.subscribe({ near: { ...UCLA, radiusKm: 10 } });
  const elsewhere = hub.subscribe({ near: { ...FAR, radiusKm: 10 } });
  hub.publish(rec("kiwi", UCLA));
  for (const sub of [all, kiwi, other, around, elsewhere]) drain(sub);
  hub.expire(rec("kiwi", UCLA));
  const table: Array<[string, Subscription<string>, string[]]> = [
    ["no filter", all, ["expired kiwi@34.07"]],
    ["a filter naming the client", kiwi, ["expired kiwi@34.07"]],
    ["a filter naming another client", other, []],
    ["a circle the client was inside", around, ["expired kiwi@34.07"]],
    ["a circle the client was outside", elsewhere, []],
  ];
  for (const [name, sub, heard] of table) {
    await t.step(name, () => assert.deepEqual(drain(sub), heard));
  }
  // Gone from the circle: its next record inside is an enter, not an inside.
  hub.publish(rec("kiwi", UCLA));
  assert.deepEqual(drain(around), ["enter kiwi@34.07"]);
  hub.close();
  hub.expire(rec("kiwi", UCLA));
  assert.equal(all.poll(), undefined, "nothing after close");
});

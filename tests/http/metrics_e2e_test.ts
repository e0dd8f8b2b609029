/**
 * `/metrics` of members started the way `serve` and `simulate` start them
 * (`startMember()`): the counters move when the herd works.
 */

import assert from "node:assert/strict";
import { startMember } from "../../src/cli/serve.ts";
import { testConfig } from "../../src/config.ts";
import type { AddressBook } from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { noPlaces } from "../_no_places.ts";
import { waitFor } from "../_harness.ts";

/** The value of one sample (`name{labels} value`) in an exposition text; 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = new Map(
      [...(m[2] ?? "").matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[3]);
  }
  return 0;
}

Deno.test("/metrics of a started member: lines, records, floods, link state and HTTP requests move with the herd's work", async () => {
  const base = testConfig();
  const config = {
    ...base,
    servers: base.servers.slice(0, 2).map((s) => ({ ...s, httpPort: 1 })),
    links: [[base.servers[0].name, base.servers[1].name]] as Array<[string, string]>,
  };
  const [a, b] = config.servers.map((s) => s.name);
  const addresses: AddressBook = new Map();
  const httpOrigins = new Map<string, string>();
  const opts = { addresses, portZero: true, httpOrigins };
  const places = noPlaces();
  const first = await startMember(config, a, places, { ...opts, log: new MemoryLog() });
  const second = await startMember(config, b, places, { ...opts, log: new MemoryLog() });
  try {
    const url = `http://127.0.0.1:${first.face!.address.port}`;
    await waitFor(() => first.member.links.get(b)?.state === "welcomed", 5000, "linked");
    const metrics = async () => {
      const res = await fetch(`${url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
      return await res.text();
    };
    const before = await metrics();
    assert.equal(sample(before, "herd_records"), 0);
    assert.equal(sample(before, "herd_link_up", { peer: b }), 1);

    const put = await fetch(`${url}/v1/clients/kiwi/location`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ location: "+34.068930-118.445127", time: "1621464827.959498503" }),
    });
    assert.equal(put.status, 200);
    await put.body?.cancel();
    const bad = await fetch(`${url}/v1/clients/nobody/nearby?radius_km=10&bound=1`);
    assert.equal(bad.status, 404);
    await bad.body?.cancel();
    await waitFor(() => second.member.store.size === 1, 5000, "flooded to the neighbour");

    const after = await metrics();
    assert.equal(sample(after, "herd_records"), 1);
    assert.equal(
      sample(after, "herd_lines_in_total", { kind: "IAMAT", source: "client", via: "http" }),
      1,
    );
    assert.equal(sample(after, "herd_records_stored_total", { source: "client" }), 1);
    assert.equal(sample(after, "herd_invalid_replies_total", { reason: "unknown client" }), 1);
    assert.equal(sample(after, "herd_flood_lines_sent_total", { peer: b }), 1);
    assert.equal(
      sample(after, "herd_http_requests_total", {
        method: "PUT",
        route: "/v1/clients/:id/location",
        status: "200",
      }),
      1,
    );

    // Stopping the neighbour takes the link down.
    await second.stop(0);
    await waitFor(() => first.member.links.get(b)?.state !== "welcomed", 5000, "link down");
    assert.equal(sample(await metrics(), "herd_link_up", { peer: b }), 0);
  } finally {
    await second.stop(0);
    await first.stop(0);
  }
});

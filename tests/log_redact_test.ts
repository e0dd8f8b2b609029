/**
 * `[log] locations = "redacted"`: no client location in any log file. The redaction rules by
 * table, then a herd of five members writing real log files while clients report over TCP and
 * HTTP, the records flood and reconcile, WHATSAT is answered and a client is erased: a grep
 * for the coordinates finds them with `"full"` and nowhere with `"redacted"`.
 */

import assert from "node:assert/strict";
import { memberLog, redactLocations, setupLogging, stopLogging } from "../src/log.ts";
import { exchange, waitFor } from "./_harness.ts";
import { cannedPlaces } from "./_no_places.ts";
import { getJson, put, startHttpHerd } from "./http/_herd.ts";

Deno.test("redactLocations() takes every client location out of a logged text", async (t) => {
  const table: Array<[string, string, string]> = [
    [
      "an IAMAT line",
      "IAMAT kiwi +34.068930-118.445127 1621464827.959498503",
      "IAMAT kiwi <location> 1621464827.959498503",
    ],
    [
      "an AT line (a reply, a flood)",
      "AT Hill +0.263873386 kiwi +34.068930-118.445127 1621464827.959498503",
      "AT Hill +0.263873386 kiwi <location> 1621464827.959498503",
    ],
    [
      "a tree push",
      "AT Hill -0.000100000 kiwi -33.8688+151.2093 1700000000 tree",
      "AT Hill -0.000100000 kiwi <location> 1700000000 tree",
    ],
    [
      "an invalid IAMAT echoed, its location not ISO 6709",
      "? IAMAT kiwi 34.06,-118.44 1",
      "? IAMAT kiwi <location> 1",
    ],
    ["an IAMAT with a field missing", "IAMAT kiwi +34-118", "IAMAT kiwi <location>"],
    ["white space kept", "  IAMAT\tkiwi  +34-118   5", "  IAMAT\tkiwi  <location>   5"],
    [
      "a WHATSAT reply: the AT line, and the places near the client",
      'AT Hill +0.1 kiwi +34-118 5\n{\n   "results" : [\n      {\n         "geometry" : {}\n      }\n   ],\n   "status" : "OK"\n}\n\n',
      "AT Hill +0.1 kiwi <location> 5\n<places>\n\n",
    ],
    [
      "an anti-entropy answer of several lines",
      "AT Hill +0.1 a +1+1 5\nERASE Hill b 6\nAT Hill +0.1 c +2.5-3 5\n",
      "AT Hill +0.1 a <location> 5\nERASE Hill b 6\nAT Hill +0.1 c <location> 5\n",
    ],
    [
      "an ISO 6709 parse error quoting the field",
      'Cannot parse IAMAT: Cannot parse ISO 6709 location: expected [+-]DD.D[+-]DDD.D, got "34.06,-118.44"',
      'Cannot parse IAMAT: Cannot parse ISO 6709 location: expected [+-]DD.D[+-]DDD.D, got "<location>"',
    ],
    [
      "a range error naming it",
      "Cannot parse IAMAT: Cannot parse ISO 6709 location: latitude above 90 degrees in +91-118",
      "Cannot parse IAMAT: Cannot parse ISO 6709 location: latitude above 90 degrees in <location>",
    ],
    [
      "a location parameter of a URL",
      "https://maps.example/nearbysearch/json?location=34.06%2C-118.44&radius=1000&key=REDACTED",
      "https://maps.example/nearbysearch/json?location=<location>&radius=1000&key=REDACTED",
    ],
    ["a location anywhere else", "client +34-118 moved", "client <location> moved"],
    ["WHATSAT (no location)", "WHATSAT kiwi 10 5", "WHATSAT kiwi 10 5"],
    ["an ERASE line (no location)", "ERASE Hill kiwi 1700000000", "ERASE Hill kiwi 1700000000"],
    ["a skew alone", "skew +0.263873386 ms 12", "skew +0.263873386 ms 12"],
  ];
  for (const [name, text, expected] of table) {
    await t.step(name, () => assert.equal(redactLocations(text), expected));
  }
});

/**
 * Coordinates this scenario reports, in every form a log could hold them, and those of the
 * places a WHATSAT about kiwi returns (near it, so as telling).
 */
const SECRETS = [
  "34.068930",
  "118.445127",
  "51.500700",
  "0.124600",
  "51.5007",
  "-0.1246",
  "34.05612",
  "118.43063",
];

/**
 * Runs the scenario against five members logging to files in a fresh folder, with `[log]
 * locations` as given, and returns the text of every log file.
 */
async function logsOf(locations: "full" | "redacted"): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    const names = ["Campbell", "Hill", "Jaquez", "Singleton", "Smith"];
    await setupLogging({ logDir: dir, members: names, console: null, locations });
    try {
      const herd = await startHttpHerd(names, { places: cannedPlaces(), logOf: memberLog });
      try {
        const campbell = herd.get("Campbell");
        await exchange(campbell.tcp, "IAMAT kiwi +34.068930-118.445127 1700000000.5\n");
        await exchange(campbell.tcp, "IAMAT kiwi +34.068930-118.445127\n");
        await exchange(campbell.tcp, "IAMAT kiwi +34.068930,-118.445127 1700000000.6\n");
        const res = await put(`${herd.url("Hill")}/v1/clients/pigeon/location`, {
          lat: 51.5007,
          lng: -0.1246,
        });
        assert.equal(res.status, 200, await res.text());
        await waitFor(
          () => [...herd.members.values()].every((m) => m.member.store.size === 2),
          5000,
          "both clients on every member",
        );
        const smith = herd.get("Smith");
        assert.match(await exchange(smith.tcp, "WHATSAT kiwi 10 5\n"), /^AT Campbell /);
        await getJson(`${smith.url}/v1/clients/pigeon/nearby?radius_km=5&bound=3`);
        await getJson(`${smith.url}/v1/clients?near=51.5007,-0.1246&radius_km=5`);
        await getJson(`${herd.url("Jaquez")}/v1/clients/kiwi`, { method: "DELETE" });
        await waitFor(
          () => [...herd.members.values()].every((m) => m.member.store.size === 1),
          5000,
          "kiwi erased everywhere",
        );
      } finally {
        await herd.stop();
      }
    } finally {
      await stopLogging();
    }
    let text = "";
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.includes(".log")) text += await Deno.readTextFile(`${dir}/${entry.name}`);
    }
    return text;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test('[log] locations = "redacted": no log file holds a coordinate; "full" holds them all', async () => {
  const full = await logsOf("full");
  for (const secret of SECRETS) assert.ok(full.includes(secret), `full has ${secret}`);
  const redacted = await logsOf("redacted");
  for (const secret of SECRETS) {
    const at = redacted.indexOf(secret);
    assert.equal(at, -1, `redacted log holds ${secret}: ${redacted.slice(at - 200, at + 50)}`);
  }
  // The same events were logged, with the locations replaced.
  for (const event of ['"msg.in"', '"reply.out"', '"record.erased"', '"sync.digest"']) {
    assert.ok(redacted.includes(event), `redacted log has ${event}`);
  }
  assert.ok(redacted.includes("IAMAT kiwi <location> 1700000000.5"));
  assert.ok(redacted.includes("<places>"));
  assert.match(redacted, /"lines?":"AT Campbell \S+ kiwi <location> 1700000000.5"/);
});

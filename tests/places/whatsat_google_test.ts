/**
 * WHATSAT over real TCP through five in-process members whose places come
 * from a fake Google (both APIs) behind the cache: the reply shape, bound
 * slicing, coalescing, failures, the timeout, TTL expiry, and that the API
 * key shows up in no reply and no log line.
 */

import assert from "node:assert/strict";
import { testConfig } from "../../src/config.ts";
import { MemoryLog } from "../../src/log.ts";
import {
  type CachedPlacesProvider,
  createProvider,
  type CreateProviderOptions,
  placeToResult,
  type ProviderConfig,
} from "../../src/places/mod.ts";
import { exchange, OpenClient, TestHerd, waitFor } from "../_harness.ts";
import { assertNoSecret, type Behaviour, FakeGoogle } from "./_fake_google.ts";

const KEY = "AIzaFAKE-whatsat-test-key-5555555555";
const NAMES = ["Campbell", "Hill", "Jaquez", "Singleton", "Smith"];
const LOC = "+34.068930-118.445127";

interface Rig {
  fake: FakeGoogle;
  herd: TestHerd;
  places: CachedPlacesProvider;
  placesLog: MemoryLog;
}

/**
 * Runs `fn` with a fake Google, a cached provider pointed at it (shared by the five members, as
 * in `herd simulate`) and a started herd where client `kiwi` is known everywhere; stops all.
 */
async function withRig(
  config: Omit<ProviderConfig, "endpoint">,
  fn: (rig: Rig) => Promise<void>,
  options: CreateProviderOptions = {},
): Promise<void> {
  const fake = FakeGoogle.start(KEY);
  const placesLog = new MemoryLog();
  const places = createProvider(
    { ...config, endpoint: fake.url },
    { apiKey: KEY, log: placesLog, random: () => 0, ...options },
  );
  const herd = new TestHerd(testConfig(), places);
  try {
    await herd.start();
    await exchange(herd.address("Campbell"), `IAMAT kiwi ${LOC} 1700000000.5\n`);
    await waitFor(
      () => NAMES.every((n) => herd.member(n).store.get("kiwi") !== undefined),
      5000,
      "kiwi known everywhere",
    );
    await fn({ fake, herd, places, placesLog });
    assert.deepEqual(fake.violations, [], "the fake saw no contract violation");
  } finally {
    fake.release(); // a failed test must not leave WHATSATs held
    await herd.stop();
    await places.close();
    await fake.close();
  }
}

/** Splits a WHATSAT reply into its AT line and parsed JSON, checking the framing. */
function parseReply(
  reply: string,
): { at: string; doc: Record<string, unknown> & { results: Array<Record<string, unknown>> } } {
  assert.ok(reply.endsWith("}\n\n"), `reply ends with a blank line: ${JSON.stringify(reply)}`);
  const nl = reply.indexOf("\n");
  const json = reply.slice(nl + 1, -2);
  assert.ok(!json.includes("\n\n"), "no blank line inside the JSON");
  assert.match(json, /^\{\n {3}"html_attributions"/);
  return { at: reply.slice(0, nl), doc: JSON.parse(json) };
}

/** Asserts the key is in no reply and no logged event (and that there were events). */
function assertKeyNowhere(rig: Rig, replies: string[]): void {
  const logs = [rig.placesLog, ...rig.herd.logs.values()];
  assert.ok(logs.some((log) => log.events.length > 0));
  assertNoSecret(KEY, replies, logs);
}

Deno.test("WHATSAT answers from Google (New) at every member: stored AT line + mapped places", async () => {
  await withRig({ provider: "google" }, async (rig) => {
    const at = rig.herd.member("Campbell").store.get("kiwi")!;
    for (const [i, name] of NAMES.entries()) {
      const bound = i + 1;
      const reply = await exchange(rig.herd.address(name), `WHATSAT kiwi 10 ${bound}\n`);
      const { at: line, doc } = parseReply(reply);
      assert.match(
        line,
        /^AT Campbell [+-]\d+\.\d{9} kiwi \+34\.068930-118\.445127 1700000000\.5$/,
      );
      assert.equal(at.origin, "Campbell");
      assert.equal(doc.status, "OK");
      assert.deepEqual(
        doc.results,
        JSON.parse(JSON.stringify(rig.fake.places.slice(0, bound).map(placeToResult))),
      );
    }
    // One upstream question (20 places, rounded centre, 10 km) served all five bounds.
    assert.equal(rig.fake.requests.length, 1);
    assert.deepEqual(rig.fake.requests[0].body, {
      locationRestriction: {
        circle: { center: { latitude: 34.0689, longitude: -118.4451 }, radius: 10_000 },
      },
      maxResultCount: 20,
    });
  });
});

Deno.test("WHATSAT answers from Google's legacy Nearby Search, cut to the bound", async () => {
  await withRig({ provider: "google-legacy" }, async (rig) => {
    const reply = await exchange(rig.herd.address("Jaquez"), "WHATSAT kiwi 2.5 3\n");
    const { doc } = parseReply(reply);
    assert.equal(doc.status, "OK");
    assert.deepEqual(doc.results, rig.fake.legacyResults.slice(0, 3));
    assert.deepEqual(doc.html_attributions, [
      'Listings by <a href="https://listings.test/">Listings</a>',
    ]);
    assert.equal(rig.fake.requests[0].query.radius, "2500");
    assert.equal(rig.fake.requests[0].query.location, "34.0689,-118.4451");
  });
});

Deno.test("N concurrent identical WHATSATs at different members send one upstream request", async () => {
  await withRig({ provider: "google" }, async (rig) => {
    rig.fake.otherwise = { kind: "hold" };
    const n = 15;
    const replies = Promise.all(
      Array.from(
        { length: n },
        (_, i) => exchange(rig.herd.address(NAMES[i % 5]), `WHATSAT kiwi 5 ${1 + (i % 20)}\n`),
      ),
    );
    await waitFor(
      () => rig.places.stats().misses === n && rig.fake.requests.length > 0,
      5000,
      `${n} WHATSATs waiting and Google asked`,
    );
    assert.equal(rig.fake.requests.length, 1, "while held, one request only");
    rig.fake.release();
    for (const [i, reply] of (await replies).entries()) {
      const { doc } = parseReply(reply);
      assert.equal(doc.status, "OK");
      assert.equal(doc.results.length, 1 + (i % 20));
    }
    assert.equal(rig.fake.requests.length, 1);
    assert.equal(rig.places.stats().coalesced, n - 1);
  });
});

Deno.test("WHATSAT still answers in the normal shape when Google fails, and the connection stays open", async () => {
  const cases: Array<[Behaviour, string]> = [
    [
      { kind: "rpc-error", httpStatus: 400, status: "INVALID_ARGUMENT", message: "Bad." },
      "INVALID_REQUEST",
    ],
    [
      { kind: "rpc-error", httpStatus: 403, status: "PERMISSION_DENIED", message: "No." },
      "REQUEST_DENIED",
    ],
    [
      { kind: "rpc-error", httpStatus: 429, status: "RESOURCE_EXHAUSTED", message: "Slow down." },
      "OVER_QUERY_LIMIT",
    ],
    [{ kind: "rpc-error", httpStatus: 500, status: "INTERNAL", message: "Oops." }, "UNKNOWN_ERROR"],
    [{ kind: "not-json", httpStatus: 502 }, "UNKNOWN_ERROR"],
  ];
  await withRig({ provider: "google" }, async (rig) => {
    const client = await OpenClient.connect(rig.herd.address("Hill"));
    try {
      for (const [behaviour, status] of cases) {
        rig.fake.otherwise = behaviour;
        await client.send("WHATSAT kiwi 10 5\n");
        const { at, doc } = parseReply(await client.readUntil("\n\n"));
        assert.match(at, /^AT Campbell /);
        assert.equal(doc.status, status, JSON.stringify(behaviour));
        assert.deepEqual(doc.results, []);
        assert.equal(typeof doc.error_message, "string");
      }
      // Failures were not cached: once Google recovers, the next WHATSAT is OK.
      rig.fake.otherwise = { kind: "ok" };
      await client.send("WHATSAT kiwi 10 5\n");
      assert.equal(parseReply(await client.readUntil("\n\n")).doc.status, "OK");
      await client.send(`IAMAT kiwi ${LOC} 1700000001\n`);
      assert.match(await client.line(), /^AT Hill /);
    } finally {
      client.close();
    }
  });
});

Deno.test("WHATSAT answers UNKNOWN_ERROR when Google is slower than timeout_ms", async () => {
  await withRig({ provider: "google", timeoutMs: 250 }, async (rig) => {
    rig.fake.otherwise = { kind: "slow", delayMs: 30_000, then: { kind: "ok" } };
    const reply = await exchange(rig.herd.address("Smith"), "WHATSAT kiwi 10 5\n", 10_000);
    const { doc } = parseReply(reply);
    assert.equal(doc.status, "UNKNOWN_ERROR");
    assert.equal(doc.error_message, "Google Places API (New): no answer within 250 ms");
    assert.equal(rig.fake.requests.length, 1);
  });
});

Deno.test("WHATSAT asks Google again once the cached answer's TTL has passed (fake clock)", async () => {
  const clock = { ms: 0 };
  await withRig({ provider: "google", cacheTtlS: 60 }, async (rig) => {
    const ask = async () =>
      parseReply(await exchange(rig.herd.address("Campbell"), "WHATSAT kiwi 10 2\n")).doc;
    await ask();
    clock.ms += 59_000;
    await ask();
    assert.equal(rig.fake.requests.length, 1, "fresh within the TTL");
    clock.ms += 1_000;
    assert.equal((await ask()).status, "OK");
    assert.equal(rig.fake.requests.length, 2, "asked again at the TTL");
  }, { now: () => clock.ms });
});

Deno.test("the API key appears in no reply and no log line, whatever Google does", async (t) => {
  for (const provider of ["google", "google-legacy"] as const) {
    await t.step(provider, async () => {
      await withRig({ provider, timeoutMs: 300 }, async (rig) => {
        const behaviours: Behaviour[] = [
          { kind: "ok" },
          {
            kind: "rpc-error",
            httpStatus: 403,
            status: "PERMISSION_DENIED",
            message: `Key ${KEY} revoked`,
          },
          { kind: "legacy-error", status: "REQUEST_DENIED", message: `The key ${KEY} is invalid.` },
          {
            kind: "rpc-error",
            httpStatus: 500,
            status: "INTERNAL",
            message: `upstream saw ${KEY}`,
          },
          { kind: "slow", delayMs: 30_000, then: { kind: "ok" } },
        ];
        const replies: string[] = [];
        for (const [i, behaviour] of behaviours.entries()) {
          rig.fake.otherwise = behaviour;
          // A new radius each time, so no answer comes from the cache.
          replies.push(
            await exchange(rig.herd.address(NAMES[i]), `WHATSAT kiwi ${i + 1} 5\n`, 10_000),
          );
        }
        // And a network error, whose message names the URL (with the legacy key in it).
        await rig.fake.close();
        replies.push(await exchange(rig.herd.address("Hill"), "WHATSAT kiwi 7 5\n", 10_000));
        const statuses = replies.map((r) => parseReply(r).doc.status);
        assert.equal(statuses[0], "OK");
        assert.ok(statuses.slice(1).every((s) => s !== "OK"), statuses.join());
        assert.ok(replies.some((r) => r.includes("<redacted>")), "a quoted key was redacted");
        assert.ok(rig.placesLog.named("places.upstream").length >= 6);
        assertKeyNowhere(rig, replies);
      });
    });
  }
});

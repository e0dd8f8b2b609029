/**
 * The `google-legacy` provider (legacy Nearby Search) against a fake Google on
 * 127.0.0.1 that enforces the request contract.
 */

import assert from "node:assert/strict";
import { MemoryLog } from "../../src/log.ts";
import {
  createGoogleLegacyProvider,
  type GoogleLegacyProviderOptions,
  legacyToResponse,
  type NearbyQuery,
  type NearbySearchResponse,
} from "../../src/places/mod.ts";
import { assertNoSecret, type Behaviour, FakeGoogle, withFakeGoogle } from "./_fake_google.ts";

const KEY = "AIzaFAKE-legacy-test-key-9876543210";
const UCLA: NearbyQuery = {
  latitude: 34.06893,
  longitude: -118.445127,
  radiusM: 1500,
  maxResults: 5,
};

/** Runs `fn` with a fake Google and a `google-legacy` provider pointed at it. */
function withLegacy(
  fn: (
    fake: FakeGoogle,
    places: ReturnType<typeof createGoogleLegacyProvider>,
    log: MemoryLog,
  ) => Promise<void>,
  options: Partial<GoogleLegacyProviderOptions> = {},
): Promise<void> {
  return withFakeGoogle(
    KEY,
    ({ endpoint, log }) =>
      createGoogleLegacyProvider({ apiKey: KEY, endpoint, log, random: () => 0, ...options }),
    fn,
  );
}

function assertNoKey(response: NearbySearchResponse, log: MemoryLog): void {
  assertNoSecret(KEY, [response], [log]);
}

Deno.test("google-legacy provider sends the documented request: GET, location, radius, key", async () => {
  await withLegacy(async (fake, places, log) => {
    await places.nearby(UCLA);
    assert.equal(fake.requests.length, 1);
    const [request] = fake.requests;
    assert.equal(request.method, "GET");
    assert.equal(request.path, "/maps/api/place/nearbysearch/json");
    assert.deepEqual(request.query, {
      location: "34.06893,-118.445127",
      radius: "1500",
      key: KEY,
    });
    const [attempt] = log.named("places.upstream");
    assert.equal(
      attempt.fields.url,
      `${fake.url}/maps/api/place/nearbysearch/json?location=34.06893%2C-118.445127&radius=1500&key=<redacted>`,
    );
  });
});

Deno.test("google-legacy provider relays Google's JSON with results cut to the bound", async () => {
  await withLegacy(async (fake, places, log) => {
    const answer = await places.nearby({ ...UCLA, maxResults: 4 });
    assert.deepEqual(answer, {
      html_attributions: ['Listings by <a href="https://listings.test/">Listings</a>'],
      results: fake.legacyResults.slice(0, 4),
      status: "OK",
    });
    assert.equal(answer.next_page_token, undefined, "the page token is dropped");
    assertNoKey(answer, log);
  });
});

Deno.test("google-legacy provider relays ZERO_RESULTS", async () => {
  await withLegacy(async (fake, places) => {
    fake.otherwise = { kind: "empty" };
    assert.deepEqual(await places.nearby(UCLA), {
      html_attributions: [],
      results: [],
      status: "ZERO_RESULTS",
    });
  });
});

Deno.test("google-legacy provider relays Google's error statuses and maps HTTP failures", async (t) => {
  const cases: Array<[Behaviour, string, number, string]> = [
    [
      { kind: "legacy-error", status: "REQUEST_DENIED", message: "This API is not activated." },
      "REQUEST_DENIED",
      1,
      "Google Places API (legacy): This API is not activated.",
    ],
    [
      {
        kind: "legacy-error",
        status: "OVER_QUERY_LIMIT",
        message: "You have exceeded your quota.",
      },
      "OVER_QUERY_LIMIT",
      1,
      "Google Places API (legacy): You have exceeded your quota.",
    ],
    [
      { kind: "legacy-error", status: "INVALID_REQUEST", message: "Invalid location." },
      "INVALID_REQUEST",
      1,
      "Google Places API (legacy): Invalid location.",
    ],
    [
      { kind: "legacy-error", status: "UNKNOWN_ERROR", message: "Try again." },
      "UNKNOWN_ERROR",
      1,
      "Google Places API (legacy): Try again.",
    ],
    [
      { kind: "legacy-error", status: "OVER_DAILY_LIMIT", message: "Billing." },
      "UNKNOWN_ERROR",
      1,
      "Google Places API (legacy) answered status OVER_DAILY_LIMIT: Billing.",
    ],
    [
      { kind: "rpc-error", httpStatus: 403, status: "PERMISSION_DENIED", message: "No." },
      "REQUEST_DENIED",
      1,
      "Google Places API (legacy) answered HTTP 403",
    ],
    [
      { kind: "not-json", httpStatus: 500 },
      "UNKNOWN_ERROR",
      2,
      "Google Places API (legacy) answered HTTP 500",
    ],
    [
      { kind: "not-json", httpStatus: 200 },
      "UNKNOWN_ERROR",
      1,
      "Google Places API (legacy): the answer is not a Nearby Search response",
    ],
  ];
  for (const [behaviour, status, requests, message] of cases) {
    await t.step(`${JSON.stringify(behaviour)} -> ${status}`, async () => {
      await withLegacy(async (fake, places, log) => {
        fake.otherwise = behaviour;
        const answer = await places.nearby(UCLA);
        assert.deepEqual(answer, {
          html_attributions: [],
          results: [],
          status,
          error_message: message,
        });
        assert.equal(fake.requests.length, requests, "requests sent");
        assertNoKey(answer, log);
      });
    });
  }
});

Deno.test("google-legacy provider answers REQUEST_DENIED for a key Google does not accept", async () => {
  await withLegacy(async (fake, places) => {
    const answer = await places.nearby(UCLA);
    assert.equal(answer.status, "REQUEST_DENIED");
    assert.equal(
      answer.error_message,
      "Google Places API (legacy): The provided API key is invalid.",
    );
    assert.equal(fake.requests[0].query.key, "not-the-key");
  }, { apiKey: "not-the-key" });
});

Deno.test("google-legacy provider keeps the key out of messages and logs on a network error", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  const log = new MemoryLog();
  const places = createGoogleLegacyProvider({
    apiKey: KEY,
    endpoint: `http://127.0.0.1:${port}/`,
    log,
    random: () => 0,
  });
  const answer = await places.nearby(UCLA);
  assert.equal(answer.status, "UNKNOWN_ERROR");
  assert.match(answer.error_message ?? "", /^Google Places API \(legacy\): request failed: /);
  // Deno names the URL (and so the key) in the error's cause: it must come out redacted.
  assert.match(answer.error_message ?? "", /key=<redacted>.*Connection refused/);
  assert.equal(log.named("places.upstream").length, 2, "one retry");
  for (const event of log.named("places.upstream")) {
    assert.match(String(event.fields.url), /key=<redacted>$/);
  }
  assertNoKey(answer, log);
});

Deno.test("google-legacy provider answers UNKNOWN_ERROR when Google is slower than timeoutMs", async () => {
  await withLegacy(async (fake, places) => {
    fake.otherwise = { kind: "slow", delayMs: 30_000, then: { kind: "ok" } };
    const answer = await places.nearby(UCLA);
    assert.equal(answer.status, "UNKNOWN_ERROR");
    assert.equal(answer.error_message, "Google Places API (legacy): no answer within 250 ms");
    assert.equal(fake.requests.length, 1);
  }, { timeoutMs: 250 });
});

Deno.test("legacyToResponse() cuts a key Google quotes out of error_message", () => {
  const answer = legacyToResponse(
    { status: "REQUEST_DENIED", error_message: `Key ${KEY} has been revoked.` },
    5,
    KEY,
  );
  assert.equal(
    answer.error_message,
    "Google Places API (legacy): Key <redacted> has been revoked.",
  );
});

Deno.test("legacyToResponse() answers UNKNOWN_ERROR for a body that is not a Nearby Search response", () => {
  for (const body of [undefined, null, [], { results: [] }, { status: 1 }]) {
    assert.equal(legacyToResponse(body, 5, KEY).status, "UNKNOWN_ERROR", JSON.stringify(body));
  }
});

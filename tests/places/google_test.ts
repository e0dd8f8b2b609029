/**
 * The `google` provider (Places API (New)) against a fake Google on
 * 127.0.0.1 that enforces the request contract.
 */

import assert from "node:assert/strict";
import { DEFAULT_PLACES } from "../../src/config.ts";
import { MemoryLog } from "../../src/log.ts";
import {
  attributionsOf,
  createGoogleProvider,
  type GooglePlace,
  type GoogleProviderOptions,
  type NearbyQuery,
  type NearbySearchResponse,
  placeToResult,
  searchNearbyToResponse,
} from "../../src/places/mod.ts";
import { assertNoSecret, type Behaviour, FakeGoogle, withFakeGoogle } from "./_fake_google.ts";
import { waitFor } from "../_harness.ts";

const KEY = "AIzaFAKE-google-test-key-0123456789";
const UCLA: NearbyQuery = {
  latitude: 34.06893,
  longitude: -118.445127,
  radiusM: 1500,
  maxResults: 5,
};

/** JSON round trip: drops `undefined` properties the way a reply's JSON does. */
function asJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

/** Runs `fn` with a fake Google and a `google` provider pointed at it. */
function withGoogle(
  fn: (
    fake: FakeGoogle,
    places: ReturnType<typeof createGoogleProvider>,
    log: MemoryLog,
  ) => Promise<void>,
  options: Partial<GoogleProviderOptions> = {},
): Promise<void> {
  return withFakeGoogle(
    KEY,
    ({ endpoint, log }) =>
      createGoogleProvider({ apiKey: KEY, endpoint, log, random: () => 0, ...options }),
    fn,
  );
}

function assertNoKey(response: NearbySearchResponse, log: MemoryLog): void {
  assertNoSecret(KEY, [response], [log]);
}

Deno.test("placeToResult() maps every field of a Place (New) to the legacy result", () => {
  const place: GooglePlace = {
    id: "ChIJ3S-JXmauEmsRUcIaWtf4MzE",
    displayName: { text: "Royce Hall", languageCode: "en" },
    location: { latitude: 34.0729, longitude: -118.4422 },
    viewport: {
      low: { latitude: 34.0715, longitude: -118.4436 },
      high: { latitude: 34.0742, longitude: -118.4409 },
    },
    types: ["performing_arts_theater", "point_of_interest", "establishment"],
    shortFormattedAddress: "340 Royce Dr, Los Angeles",
    formattedAddress: "340 Royce Dr, Los Angeles, CA 90095, USA",
    businessStatus: "OPERATIONAL",
    plusCode: { globalCode: "85632HFV+5W", compoundCode: "2HFV+5W Los Angeles, CA, USA" },
    iconMaskBaseUri: "https://maps.gstatic.com/mapfiles/place_api/icons/v2/generic_pinlet",
    iconBackgroundColor: "#7B9EB0",
    attributions: [{ provider: "UCLA", providerUri: "https://www.ucla.edu/" }],
    rating: 4.8,
    userRatingCount: 1234,
    priceLevel: "PRICE_LEVEL_MODERATE",
    currentOpeningHours: { openNow: true },
  };
  const result = placeToResult(place);
  assert.deepEqual(asJson(result), {
    business_status: "OPERATIONAL",
    formatted_address: "340 Royce Dr, Los Angeles, CA 90095, USA",
    geometry: {
      location: { lat: 34.0729, lng: -118.4422 },
      viewport: {
        northeast: { lat: 34.0742, lng: -118.4409 },
        southwest: { lat: 34.0715, lng: -118.4436 },
      },
    },
    icon_background_color: "#7B9EB0",
    icon_mask_base_uri: "https://maps.gstatic.com/mapfiles/place_api/icons/v2/generic_pinlet",
    name: "Royce Hall",
    opening_hours: { open_now: true },
    place_id: "ChIJ3S-JXmauEmsRUcIaWtf4MzE",
    plus_code: {
      compound_code: "2HFV+5W Los Angeles, CA, USA",
      global_code: "85632HFV+5W",
    },
    price_level: 2,
    rating: 4.8,
    reference: "ChIJ3S-JXmauEmsRUcIaWtf4MzE",
    types: ["performing_arts_theater", "point_of_interest", "establishment"],
    user_ratings_total: 1234,
    vicinity: "340 Royce Dr, Los Angeles",
  });
  // Keys in the alphabetical order of Google's legacy JSON.
  const keys = Object.keys(asJson(result) as object);
  assert.deepEqual(keys, [...keys].sort());
});

Deno.test("placeToResult() leaves out what a place lacks and defaults name, types and vicinity", () => {
  const bare = placeToResult({ id: "p1", location: { latitude: 1, longitude: 2 } });
  assert.deepEqual(asJson(bare), {
    geometry: { location: { lat: 1, lng: 2 } },
    name: "",
    place_id: "p1",
    reference: "p1",
    types: [],
    vicinity: "",
  });
  const fullAddressOnly = placeToResult({
    id: "p2",
    location: { latitude: 1, longitude: 2 },
    formattedAddress: "1 Long Rd, Town",
    viewport: { low: { latitude: 0, longitude: 1 } },
  });
  assert.equal(fullAddressOnly?.vicinity, "1 Long Rd, Town");
  assert.equal(fullAddressOnly?.geometry.viewport, undefined, "half a viewport is left out");
  assert.equal(placeToResult({ location: { latitude: 1, longitude: 2 } }), undefined);
  assert.equal(placeToResult({ id: "p3" }), undefined);
  assert.equal(placeToResult({ id: "p4", location: { latitude: 1 } }), undefined);
});

Deno.test("attributionsOf() credits each provider once, HTML-escaped, linked when it has a URI", () => {
  const credits = attributionsOf([
    { attributions: [{ provider: "A & B", providerUri: 'https://ab.test/?x=1&y="2"' }] },
    { attributions: [{ provider: "A & B", providerUri: 'https://ab.test/?x=1&y="2"' }] },
    { attributions: [{ provider: "<Plain>" }, { providerUri: "https://nameless.test/" }] },
    { attributions: [{ provider: "Scripted", providerUri: "javascript:alert(1)" }] },
    {},
  ]);
  assert.deepEqual(credits, [
    '<a href="https://ab.test/?x=1&#38;y=&#34;2&#34;">A &#38; B</a>',
    "&#60;Plain&#62;",
    "Scripted",
  ]);
});

Deno.test("searchNearbyToResponse() answers ZERO_RESULTS for {} and UNKNOWN_ERROR for other shapes", () => {
  assert.deepEqual(searchNearbyToResponse({}, 5), {
    html_attributions: [],
    results: [],
    status: "ZERO_RESULTS",
  });
  assert.equal(searchNearbyToResponse({ places: [] }, 5).status, "ZERO_RESULTS");
  for (const body of [null, [], "x", { places: {} }]) {
    const answer = searchNearbyToResponse(body, 5);
    assert.equal(answer.status, "UNKNOWN_ERROR", JSON.stringify(body));
    assert.match(answer.error_message ?? "", /not a SearchNearbyResponse/);
  }
});

Deno.test("google provider sends the documented request: POST, headers, field mask, circle, count", async () => {
  await withGoogle(async (fake, places) => {
    await places.nearby({ ...UCLA, maxResults: 20 });
    assert.equal(fake.requests.length, 1);
    const [request] = fake.requests;
    assert.equal(request.method, "POST");
    assert.equal(request.path, "/v1/places:searchNearby");
    assert.deepEqual(request.query, {});
    assert.equal(request.headers["content-type"], "application/json");
    assert.equal(request.headers["x-goog-api-key"], KEY);
    assert.equal(request.headers["x-goog-fieldmask"], DEFAULT_PLACES.fieldMask.join(","));
    assert.deepEqual(request.body, {
      locationRestriction: {
        circle: { center: { latitude: 34.06893, longitude: -118.445127 }, radius: 1500 },
      },
      maxResultCount: 20,
    });
  });
});

Deno.test("google provider sends a configured field mask as is", async () => {
  const fieldMask = ["places.id", "places.displayName", "places.location", "places.rating"];
  await withGoogle(async (fake, places) => {
    await places.nearby(UCLA);
    assert.equal(fake.requests[0].headers["x-goog-fieldmask"], fieldMask.join(","));
  }, { fieldMask });
});

Deno.test("google provider answers OK with Google's places, mapped, at most maxResults", async () => {
  await withGoogle(async (fake, places, log) => {
    const answer = await places.nearby({ ...UCLA, maxResults: 3 });
    assert.equal(answer.status, "OK");
    assert.deepEqual(answer.results.map((r) => r.place_id), [
      "fake-place-0",
      "fake-place-1",
      "fake-place-2",
    ]);
    assert.deepEqual(answer.results, fake.places.slice(0, 3).map(placeToResult));
    assert.equal((fake.requests[0].body as { maxResultCount: number }).maxResultCount, 3);
    assertNoKey(answer, log);
  });
});

Deno.test("google provider answers ZERO_RESULTS when Google finds nothing", async () => {
  await withGoogle(async (fake, places) => {
    fake.otherwise = { kind: "empty" };
    assert.deepEqual(await places.nearby(UCLA), {
      html_attributions: [],
      results: [],
      status: "ZERO_RESULTS",
    });
  });
});

Deno.test("google provider turns Google's errors into statuses, retrying 5xx once and 4xx never", async (t) => {
  const cases: Array<[Behaviour, string, number, RegExp]> = [
    [
      { kind: "rpc-error", httpStatus: 400, status: "INVALID_ARGUMENT", message: "Bad circle." },
      "INVALID_REQUEST",
      1,
      /HTTP 400 INVALID_ARGUMENT: Bad circle\./,
    ],
    [
      { kind: "rpc-error", httpStatus: 401, status: "UNAUTHENTICATED", message: "No auth." },
      "REQUEST_DENIED",
      1,
      /HTTP 401 UNAUTHENTICATED/,
    ],
    [
      { kind: "rpc-error", httpStatus: 403, status: "PERMISSION_DENIED", message: "Denied." },
      "REQUEST_DENIED",
      1,
      /HTTP 403 PERMISSION_DENIED: Denied\./,
    ],
    [
      { kind: "rpc-error", httpStatus: 429, status: "RESOURCE_EXHAUSTED", message: "Quota." },
      "OVER_QUERY_LIMIT",
      1,
      /HTTP 429 RESOURCE_EXHAUSTED: Quota\./,
    ],
    [
      { kind: "rpc-error", httpStatus: 500, status: "INTERNAL", message: "Oops." },
      "UNKNOWN_ERROR",
      2,
      /HTTP 500 INTERNAL: Oops\./,
    ],
    [
      { kind: "rpc-error", httpStatus: 503, status: "UNAVAILABLE", message: "Later." },
      "UNKNOWN_ERROR",
      2,
      /HTTP 503 UNAVAILABLE/,
    ],
    [{ kind: "not-json", httpStatus: 502 }, "UNKNOWN_ERROR", 2, /answered HTTP 502$/],
    [{ kind: "not-json", httpStatus: 429 }, "OVER_QUERY_LIMIT", 1, /answered HTTP 429$/],
    [{ kind: "not-json", httpStatus: 200 }, "UNKNOWN_ERROR", 1, /not JSON/],
  ];
  for (const [behaviour, status, requests, message] of cases) {
    await t.step(`${JSON.stringify(behaviour)} -> ${status}`, async () => {
      await withGoogle(async (fake, places, log) => {
        fake.otherwise = behaviour;
        const answer = await places.nearby(UCLA);
        assert.equal(answer.status, status);
        assert.deepEqual(answer.results, []);
        assert.match(answer.error_message ?? "", message);
        assert.equal(fake.requests.length, requests, "requests sent");
        assert.deepEqual(
          log.named("places.upstream").map((e) => e.fields.attempt),
          requests === 2 ? [1, 2] : [1],
        );
        assertNoKey(answer, log);
      });
    });
  }
});

Deno.test("google provider answers OK when the one retry after a 5xx succeeds", async () => {
  await withGoogle(async (fake, places) => {
    fake.script({ kind: "rpc-error", httpStatus: 500, status: "INTERNAL", message: "Oops." });
    const answer = await places.nearby(UCLA);
    assert.equal(answer.status, "OK");
    assert.equal(answer.results.length, 5);
    assert.equal(fake.requests.length, 2);
  });
});

Deno.test("google provider answers REQUEST_DENIED for a key Google does not accept", async () => {
  await withGoogle(async (fake, places) => {
    const answer = await places.nearby(UCLA);
    assert.equal(answer.status, "REQUEST_DENIED");
    assert.match(answer.error_message ?? "", /API key not valid/);
    assert.equal(fake.requests[0].headers["x-goog-api-key"], "wrong-key");
  }, { apiKey: "wrong-key" });
});

Deno.test("google provider cuts the key out of a Google message that quotes it", async () => {
  await withGoogle(async (fake, places, log) => {
    fake.otherwise = {
      kind: "rpc-error",
      httpStatus: 403,
      status: "PERMISSION_DENIED",
      message: `API key ${KEY} is expired.\nRenew it.`,
    };
    const answer = await places.nearby(UCLA);
    assert.equal(
      answer.error_message,
      "Google Places API (New) answered HTTP 403 PERMISSION_DENIED: API key <redacted> is expired.",
    );
    assertNoKey(answer, log);
  });
});

Deno.test("google provider reads at most 1 MiB of an answer", async () => {
  await withGoogle(async (fake, places) => {
    fake.otherwise = { kind: "huge" };
    const answer = await places.nearby(UCLA);
    assert.equal(answer.status, "UNKNOWN_ERROR");
    assert.equal(
      answer.error_message,
      "Google Places API (New): the answer (HTTP 200) is larger than 1048576 bytes",
    );
    assert.equal(fake.requests.length, 1);
  });
});

Deno.test("google provider answers UNKNOWN_ERROR when Google is slower than timeoutMs", async () => {
  await withGoogle(async (fake, places) => {
    fake.otherwise = { kind: "slow", delayMs: 30_000, then: { kind: "ok" } };
    const answer = await places.nearby(UCLA);
    assert.equal(answer.status, "UNKNOWN_ERROR");
    assert.equal(answer.error_message, "Google Places API (New): no answer within 250 ms");
    assert.equal(fake.requests.length, 1, "a timeout is not retried");
  }, { timeoutMs: 250 });
});

Deno.test("google provider answers UNKNOWN_ERROR on a network error, after one retry", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  const log = new MemoryLog();
  const places = createGoogleProvider({
    apiKey: KEY,
    endpoint: `http://127.0.0.1:${port}`,
    log,
    random: () => 0,
  });
  const answer = await places.nearby(UCLA);
  assert.equal(answer.status, "UNKNOWN_ERROR");
  assert.match(answer.error_message ?? "", /^Google Places API \(New\): request failed: .*refused/);
  const attempts = log.named("places.upstream");
  assert.deepEqual(attempts.map((e) => [e.fields.attempt, e.fields.status]), [[1, null], [
    2,
    null,
  ]]);
  assert.equal(attempts[0].fields.url, `http://127.0.0.1:${port}/v1/places:searchNearby`);
  assertNoKey(answer, log);
});

Deno.test("google provider answers UNKNOWN_ERROR when the caller aborts", async () => {
  await withGoogle(async (fake, places) => {
    fake.otherwise = { kind: "hold" };
    const controller = new AbortController();
    const pending = places.nearby({ ...UCLA, signal: controller.signal });
    await waitFor(() => fake.requests.length > 0, 5000, "the request reaches the fake Google");
    controller.abort(new Error("client went away"));
    const answer = await pending;
    assert.equal(answer.status, "UNKNOWN_ERROR");
    assert.equal(answer.error_message, "Google Places API (New): aborted: client went away");
  });
});

Deno.test("google provider answers INVALID_REQUEST without asking Google for an impossible query", async () => {
  await withGoogle(async (fake, places) => {
    for (
      const query of [
        { ...UCLA, radiusM: 50_001 },
        { ...UCLA, radiusM: 0 },
        { ...UCLA, latitude: 91 },
        { ...UCLA, longitude: Number.NaN },
        { ...UCLA, maxResults: 21 },
        { ...UCLA, maxResults: 1.5 },
      ]
    ) {
      const answer = await places.nearby(query);
      assert.equal(answer.status, "INVALID_REQUEST", JSON.stringify(query));
    }
    assert.equal(fake.requests.length, 0);
  });
});

Deno.test("createGoogleProvider() refuses an empty key and an endpoint that is not http(s)", () => {
  assert.throws(() => createGoogleProvider({ apiKey: "" }), {
    name: "TypeError",
    message: /API key/,
  });
  assert.throws(() => createGoogleProvider({ apiKey: KEY, endpoint: "ftp://127.0.0.1" }), {
    name: "TypeError",
    message: /not an http: or https: URL/,
  });
});

Deno.test("the fake Google enforces the contract: a request without a field mask is a violation", async () => {
  const fake = FakeGoogle.start(KEY);
  try {
    const response = await fetch(`${fake.url}/v1/places:searchNearby`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Goog-Api-Key": KEY },
      body: JSON.stringify({
        locationRestriction: { circle: { center: { latitude: 1, longitude: 2 }, radius: 10 } },
      }),
    });
    const body = await response.json();
    assert.equal(response.status, 400);
    assert.equal(body.error.status, "INVALID_ARGUMENT");
    assert.deepEqual(fake.violations, ["no X-Goog-FieldMask header"]);
    const tooFar = await fetch(`${fake.url}/v1/places:searchNearby`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "X-Goog-Api-Key": KEY,
        "X-Goog-FieldMask": "places.id,places.displayName,places.location",
      },
      body: JSON.stringify({
        locationRestriction: { circle: { center: { latitude: 1, longitude: 2 }, radius: 60_000 } },
      }),
    });
    await tooFar.body?.cancel();
    assert.equal(tooFar.status, 400);
    assert.equal(fake.violations[1], "radius 60000");
  } finally {
    await fake.close();
  }
});

import assert from "node:assert/strict";
import { formatNearbySearch } from "../../src/places/nearby_search_json.ts";
import { createGeonamesProvider } from "../../src/places/geonames.ts";
import type { NearbySearchResponse } from "../../src/places/types.ts";

const RESPONSE: NearbySearchResponse = {
  html_attributions: ["Place data &copy; GeoNames"],
  results: [{
    geometry: { location: { lat: 34.07362, lng: -118.40036 } },
    name: "Beverly Hills",
    place_id: "geonames:5328041",
    types: ["locality", "political"],
    vicinity: "CA, United States",
  }],
  status: "OK",
};

Deno.test("formatNearbySearch() indents with 3 spaces and ends without a newline", () => {
  const text = formatNearbySearch(RESPONSE);
  assert.ok(text.startsWith('{\n   "html_attributions": [\n      "Place data'));
  assert.ok(text.endsWith('\n   "status": "OK"\n}'));
  for (const line of text.split("\n")) {
    const indent = line.length - line.trimStart().length;
    assert.equal(indent % 3, 0, `indent of ${JSON.stringify(line)}`);
  }
  assert.deepEqual(JSON.parse(text), RESPONSE);
});

Deno.test("formatNearbySearch() puts the top-level keys in protocol order", () => {
  const text = formatNearbySearch({
    error_message: "quota",
    status: "OVER_QUERY_LIMIT",
    next_page_token: "next",
    results: [],
    html_attributions: [],
  });
  assert.deepEqual(Object.keys(JSON.parse(text)), [
    "html_attributions",
    "results",
    "status",
    "next_page_token",
    "error_message",
  ]);
});

Deno.test("formatNearbySearch() leaves out absent optional keys", () => {
  const text = formatNearbySearch({ ...RESPONSE, error_message: undefined });
  assert.deepEqual(Object.keys(JSON.parse(text)), ["html_attributions", "results", "status"]);
  assert.doesNotMatch(text, /error_message|next_page_token/);
});

Deno.test("formatNearbySearch() never writes two adjacent newlines", () => {
  const tricky: NearbySearchResponse = {
    html_attributions: ["line one\n\nline two\r\n\r\n"],
    results: [{
      ...RESPONSE.results[0],
      name: "\n\n",
      types: [],
      empty: {},
      nested: [[], [{}]],
    }],
    status: "OK",
    error_message: "\n",
  };
  const text = formatNearbySearch(tricky);
  assert.ok(!text.includes("\n\n"), text);
  assert.ok(!text.includes("\r"), "carriage returns are escaped too");
  assert.ok(!text.endsWith("\n"));
  assert.deepEqual(JSON.parse(text), tricky, "escaping loses nothing");
});

Deno.test("formatNearbySearch() formats a real GeoNames answer without blank lines", async () => {
  const places = createGeonamesProvider();
  const answer = await places.nearby({
    latitude: 34.06893,
    longitude: -118.445127,
    radiusM: 50_000,
    maxResults: 20,
  });
  const text = formatNearbySearch(answer);
  assert.ok(!text.includes("\n\n"));
  assert.match(text, /^\{\n {3}"html_attributions": \[\n {6}"/);
  assert.deepEqual(JSON.parse(text), answer);
  await places.settled();
});

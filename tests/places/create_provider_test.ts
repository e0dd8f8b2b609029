import assert from "node:assert/strict";
import { createProvider, PROVIDER_NAMES } from "../../src/places/mod.ts";

Deno.test("createProvider() creates the geonames provider", () => {
  const places = createProvider({ provider: "geonames" });
  assert.equal(places.name, "geonames");
  assert.equal(typeof places.nearby, "function");
  assert.deepEqual(PROVIDER_NAMES, ["geonames"]);
});

Deno.test("createProvider() rejects an unknown provider name", () => {
  for (const provider of ["google", "", "toString", "__proto__", "GeoNames"]) {
    assert.throws(() => createProvider({ provider }), {
      name: "RangeError",
      message: `Cannot create places provider: unknown provider ${provider}; valid: geonames`,
    });
  }
});

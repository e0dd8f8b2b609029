// One GeoNames question in a process of its own, for tests about what only a whole process
// shows: what Deno prints on stderr (npm downloads, say) and what it fetches from the npm registry.
// Run by tests/places/geonames_process_test.ts.
//
// Usage: deno run --allow-read --allow-env geonames_child.ts [table]
//   no argument: the provider `herd serve` builds (createProvider, the shared GeoNames load);
//   table: a table file path relative to this file, read instead of src/places/geonames.bin.
// Prints one JSON line {status, name, error_message} once the load has settled, then waits until
// its stdin closes (so a test decides how long the process lives), and exits 0.

import { createProvider } from "../../../src/places/create_provider.ts";
import { createGeonamesProvider } from "../../../src/places/geonames.ts";
import type { PlacesProvider } from "../../../src/places/types.ts";

const table = Deno.args[0];
const places: PlacesProvider = table === undefined
  ? createProvider({ provider: "geonames" })
  : createGeonamesProvider({ dataUrl: new URL(table, import.meta.url) });
places.warm?.();
const answer = await places.nearby({
  latitude: 34.06893,
  longitude: -118.445127,
  radiusM: 10_000,
  maxResults: 1,
});
await places.settled?.();
console.log(JSON.stringify({
  status: answer.status,
  name: answer.results[0]?.name,
  error_message: answer.error_message,
}));
for await (const _ of Deno.stdin.readable) {
  // Nothing to read: this only waits for the test to close stdin.
}
await places.close?.();

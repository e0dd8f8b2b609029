import assert from "node:assert/strict";
import { around } from "geokdbush";
import KDBush from "kdbush";
import {
  type CityRecord,
  CityTable,
  encodeCities,
  englishCountryName,
  type StoredCity,
} from "../../src/places/_city_table.ts";

const CITIES: CityRecord[] = [
  {
    cityId: 5368361,
    name: "Los Angeles",
    country: "US",
    adminCode: "CA",
    population: 3971883,
    lng: -118.24368,
    lat: 34.05223,
  },
  {
    cityId: 3039163,
    name: "Sant Julià de Lòria",
    country: "AD",
    adminCode: "06",
    population: 8022,
    lng: 1.49129,
    lat: 42.46372,
  },
  {
    cityId: 1,
    name: "東京 🗼",
    country: "JP",
    adminCode: "",
    population: 0,
    lng: 139.69,
    lat: 35.69,
  },
  {
    cityId: 2 ** 32 - 1,
    name: "",
    country: "FR",
    adminCode: "11",
    population: 2 ** 32 - 1,
    lng: 180,
    lat: -90,
  },
];

/** `CITIES` as a table gives them back. */
const STORED: StoredCity[] = CITIES.map((city) => ({
  ...city,
  countryName: englishCountryName(city.country),
}));

/** Every record of a table, in record order. */
function records(table: CityTable): StoredCity[] {
  return Array.from({ length: table.size }, (_, id) => table.city(id));
}

/** `cities` sorted by GeoNames id, to compare tables whatever their record order. */
function byId<T extends CityRecord>(cities: T[]): T[] {
  return [...cities].sort((a, b) => a.cityId - b.cityId);
}

Deno.test("CityTable reads back every encoded city, UTF-8 names and empty fields included", () => {
  const table = new CityTable(encodeCities(CITIES));
  assert.equal(table.size, CITIES.length);
  assert.deepEqual(byId(records(table)), byId(STORED));
});

Deno.test("CityTable gives each city its country's English name", () => {
  const table = new CityTable(encodeCities(CITIES));
  const names = byId(records(table)).map((city) => city.countryName);
  assert.deepEqual(names, ["Japan", "Andorra", "United States", "France"]);
});

Deno.test("englishCountryName() names a country in English, else returns the code", () => {
  const cases: [string, string][] = [
    ["US", "United States"],
    ["GB", "United Kingdom"],
    ["CI", "Côte d’Ivoire"],
    ["", ""],
    ["U$", "U$"],
  ];
  for (const [code, name] of cases) assert.equal(englishCountryName(code), name, code);
});

Deno.test("CityTable.index finds cities by position; its ids are record numbers", () => {
  const table = new CityTable(encodeCities(CITIES));
  const [nearest] = around(table.index, -118.3, 34.1, 1);
  assert.equal(table.city(nearest).name, "Los Angeles");
  for (let id = 0; id < table.size; id++) {
    const city = table.city(id);
    assert.deepEqual(around(table.index, city.lng, city.lat, 1), [id]);
  }
});

Deno.test("encodeCities() gives the same bytes for the same cities", () => {
  assert.deepEqual(encodeCities(CITIES), encodeCities(structuredClone(CITIES)));
});

Deno.test("encodeCities() keeps the tree of an index built in the given order", () => {
  // 300 points with duplicates (ties), more than one kdbush leaf of 64.
  let seed = 7;
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  const cities: CityRecord[] = Array.from({ length: 300 }, (_, i) => ({
    ...CITIES[0],
    cityId: 1000 + i,
    lng: Math.round((random() * 2 - 1) * 50) / 10,
    lat: Math.round((random() * 2 - 1) * 50) / 10,
  }));
  const built = new KDBush(cities.length);
  for (const city of cities) built.add(city.lng, city.lat);
  built.finish();
  const table = new CityTable(encodeCities(cities));
  assert.deepEqual(table.index.coords, built.coords, "the same tree");
  for (const [lng, lat, km] of [[0, 0, 200], [1, 1, 50], [-3, 2, 500], [4.9, -4.9, 30]]) {
    const expected = around(built, lng, lat, 40, km).map((id) => cities[id].cityId);
    const got = around(table.index, lng, lat, 40, km).map((id) => table.city(id).cityId);
    assert.deepEqual(got, expected, `around ${lng}, ${lat}, ${km} km`);
  }
});

Deno.test("encodeCities() rejects a city it cannot store", async (t) => {
  const bad: [string, Partial<CityRecord>][] = [
    ["fractional id", { cityId: 1.5 }],
    ["negative id", { cityId: -1 }],
    ["id above 2^32-1", { cityId: 2 ** 32 }],
    ["population NaN", { population: NaN }],
    ["longitude above 180", { lng: 180.5 }],
    ["latitude NaN", { lat: NaN }],
    ["tab in a country code", { country: "U\tS" }],
    ["newline in an admin1 code", { adminCode: "C\nA" }],
  ];
  for (const [label, change] of bad) {
    await t.step(label, () => {
      assert.throws(
        () => encodeCities([CITIES[1], { ...CITIES[0], ...change }]),
        (error: Error) =>
          error instanceof RangeError &&
          /^Cannot encode city \S+ \(Los Angeles\): /.test(error.message),
      );
    });
  }
  assert.throws(() => encodeCities([]), RangeError);
});

Deno.test("CityTable refuses bytes that are not a whole table file", async (t) => {
  const good = encodeCities(CITIES);
  const start = new KDBush(CITIES.length).data.byteLength; // where the HERDGEO header begins
  const changed = (at: number, byte: number) => {
    const bytes = good.slice();
    bytes[at] = byte;
    return bytes;
  };
  const bad: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["not kdbush data", changed(0, 0)],
    ["Float32 kdbush data", changed(1, 0x17)],
    ["truncated", good.subarray(0, good.length - 1).slice()],
    ["one byte too many", Uint8Array.from([...good, 0])],
    ["only the index", good.slice(0, start)],
    ["wrong magic", changed(start, "X".charCodeAt(0))],
    ["version 2", changed(start + 8, 2)],
    ["record count unlike the index's", changed(start + 12, CITIES.length + 1)],
  ];
  for (const [label, bytes] of bad) {
    await t.step(label, () => {
      assert.throws(
        () => new CityTable(bytes),
        (error: Error) =>
          error instanceof SyntaxError && error.message.startsWith("Cannot read city table: "),
      );
    });
  }
});

Deno.test("CityTable reads a file that does not start its buffer", () => {
  const good = encodeCities(CITIES);
  const padded = new Uint8Array(good.length + 3);
  padded.set(good, 3);
  const table = new CityTable(padded.subarray(3));
  assert.deepEqual(byId(records(table)), byId(STORED));
});

Deno.test("CityTable.city() rejects an id that is not a record number", () => {
  const table = new CityTable(encodeCities(CITIES));
  for (const id of [-1, 4, 1.5, NaN]) assert.throws(() => table.city(id), RangeError);
});

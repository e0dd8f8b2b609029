/**
 * The GeoNames city table in the compact form that crosses from the loading
 * worker to the main thread: a kdbush index over [lng, lat] plus every city's
 * attributes (numbers in a Float64Array, text as UTF-8 records), all in
 * transferable buffers.
 *
 * Why not an array of 135k objects: structured-cloning that many objects costs
 * the receiving thread tens of milliseconds, while transferring three
 * ArrayBuffers costs nothing; a city is decoded only when it is a result.
 *
 * @module
 */

import KDBush from "kdbush";

/** One populated place, as the table stores it. */
export interface CityRecord {
  /** GeoNames id (stable across data releases). */
  cityId: number;
  /** Place name, UTF-8. */
  name: string;
  /** ISO 3166-1 alpha-2 country code, e.g. `US`. */
  country: string;
  /** GeoNames admin1 code, e.g. `CA`, `ENG`, `07`; may be empty. */
  adminCode: string;
  /** Population, people (0 when unknown). */
  population: number;
  /** Longitude, decimal degrees. */
  lng: number;
  /** Latitude, decimal degrees. */
  lat: number;
}

/** The table as posted by the worker: four buffers, all transferable. */
export interface PackedCities {
  /** `KDBush#data` of an index over [lng, lat], ids = record numbers. */
  index: ArrayBuffer;
  /** Float64 quadruples `cityId, population, lng, lat`, one per record. */
  numbers: ArrayBuffer;
  /** Text records `name\tcountry\tadminCode\n`, UTF-8, one per record. */
  records: ArrayBuffer;
  /** Uint32 byte offset of each text record's start, plus a final one = byte length. */
  offsets: ArrayBuffer;
}

/** Text fields of a record, in order; a record ends with a newline. */
const TEXT_FIELDS = 3;
/** Float64 slots per record in `numbers`. */
const NUMBERS = 4;
const NEWLINE = 0x0a;

// Tabs and newlines delimit the records, so no field may contain one. GeoNames
// names have none today; replacing keeps a bad future release from shifting
// fields. The includes() tests skip the (slower) regex in the usual case.
function field(text: string): string {
  return text.includes("\t") || text.includes("\n") ? text.replace(/[\t\n]/g, " ") : text;
}

/**
 * Packs cities into the transferable table form.
 *
 * Numbers go to a Float64Array rather than into the text: formatting 400k
 * numbers as decimal strings made packing several times slower.
 *
 * @param cities The cities, in any order; record numbers follow this order.
 * @param count How many cities `cities` yields (kdbush sizes its buffer up front).
 * @returns The packed table; its buffers may be transferred.
 * @throws {RangeError} If `cities` yields a number other than `count`.
 */
export function packCities(cities: Iterable<CityRecord>, count: number): PackedCities {
  const index = new KDBush(count);
  const numbers = new Float64Array(count * NUMBERS);
  const lines: string[] = [];
  for (const city of cities) {
    const id = lines.length;
    if (id === count) {
      throw new RangeError(`Cannot pack cities: expected ${count}, got more`);
    }
    index.add(city.lng, city.lat);
    numbers[NUMBERS * id] = city.cityId;
    numbers[NUMBERS * id + 1] = city.population;
    numbers[NUMBERS * id + 2] = city.lng;
    numbers[NUMBERS * id + 3] = city.lat;
    lines.push(field(city.name) + "\t" + field(city.country) + "\t" + field(city.adminCode) + "\n");
  }
  if (lines.length !== count) {
    throw new RangeError(`Cannot pack cities: expected ${count}, got ${lines.length}`);
  }
  index.finish();

  // One encode of the whole text, then record starts found by scanning for
  // newlines (in UTF-8 the byte 0x0A is only ever a newline): far cheaper than
  // 135k small encodes.
  const records = new TextEncoder().encode(lines.join(""));
  const offsets = new Uint32Array(count + 1);
  let record = 1;
  for (let i = 0; i < records.length; i++) {
    if (records[i] === NEWLINE) offsets[record++] = i + 1;
  }

  return {
    index: index.data as ArrayBuffer,
    numbers: numbers.buffer,
    records: records.buffer as ArrayBuffer,
    offsets: offsets.buffer,
  };
}

/** The unpacked table on the main thread: an index to search, records to read. */
export class CityTable {
  /** kdbush index over [lng, lat]; its ids are record numbers. */
  readonly index: KDBush;
  readonly #numbers: Float64Array;
  readonly #records: Uint8Array;
  readonly #offsets: Uint32Array;
  readonly #decoder = new TextDecoder();

  /**
   * Wraps packed buffers without copying them.
   *
   * @param packed Buffers from {@linkcode packCities}.
   * @throws {Error} If `packed.index` is not kdbush v4 data.
   * @throws {RangeError} If the offsets do not match the index or the records.
   */
  constructor(packed: PackedCities) {
    this.index = KDBush.from(packed.index);
    this.#numbers = new Float64Array(packed.numbers);
    this.#records = new Uint8Array(packed.records);
    this.#offsets = new Uint32Array(packed.offsets);
    const count = this.#offsets.length - 1;
    if (
      count !== this.index.numItems || this.#offsets[count] !== this.#records.byteLength ||
      this.#numbers.length !== count * NUMBERS
    ) {
      throw new RangeError(
        `Cannot read city table: ${this.index.numItems} indexed points, ${count} records`,
      );
    }
  }

  /** Number of cities. */
  get size(): number {
    return this.index.numItems;
  }

  /**
   * Decodes one city.
   *
   * @param id Record number (an id returned by a search of {@linkcode CityTable.index}).
   * @returns The city.
   * @throws {RangeError} If `id` is not a record number of this table.
   */
  city(id: number): CityRecord {
    if (!Number.isInteger(id) || id < 0 || id >= this.size) {
      throw new RangeError(`Cannot read city: no record ${id} of ${this.size}`);
    }
    // The last byte of a record is its newline.
    const bytes = this.#records.subarray(this.#offsets[id], this.#offsets[id + 1] - 1);
    const fields = this.#decoder.decode(bytes).split("\t");
    if (fields.length !== TEXT_FIELDS) {
      throw new RangeError(`Cannot read city: record ${id} has ${fields.length} text fields`);
    }
    const [name, country, adminCode] = fields;
    const at = NUMBERS * id;
    return {
      cityId: this.#numbers[at],
      name,
      country,
      adminCode,
      population: this.#numbers[at + 1],
      lng: this.#numbers[at + 2],
      lat: this.#numbers[at + 3],
    };
  }
}

import assert from "node:assert/strict";
import {
  bytesToWire,
  ownCopy,
  unicodeToWire,
  wireToBytes,
  wireToDisplay,
} from "../../src/protocol/wire_text.ts";

/** Every byte value once, 0x00..0xFF. */
const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

Deno.test("bytesToWire() maps every byte value to the char code of the same value", () => {
  const text = bytesToWire(ALL_BYTES);
  assert.equal(text.length, 256);
  for (let i = 0; i < 256; i++) {
    assert.equal(text.charCodeAt(i), i, `byte 0x${i.toString(16)}`);
  }
});

Deno.test("bytesToWire() leaves bytes 0x80..0x9F unchanged instead of mapping them as windows-1252", () => {
  // TextDecoder("latin1") would turn 0x80 into U+20AC (euro sign) and 0x9F into U+0178.
  const text = bytesToWire(ALL_BYTES.subarray(0x80, 0xa0));
  assert.deepEqual(
    Array.from(text, (c) => c.charCodeAt(0)),
    Array.from({ length: 32 }, (_, i) => 0x80 + i),
  );
  assert.notEqual(text[0], "\u20ac");
});

Deno.test("bytesToWire() returns an empty string for no bytes", () => {
  assert.equal(bytesToWire(new Uint8Array(0)), "");
});

Deno.test("bytesToWire() converts only the bytes of a subarray view", () => {
  const view = new Uint8Array([0x61, 0x62, 0x63, 0x64]).subarray(1, 3);
  assert.equal(bytesToWire(view), "bc");
});

Deno.test("bytesToWire() converts short and long inputs (two decoders) exactly", async (t) => {
  for (const size of [63, 64, 65, 8191, 8192, 8193, 16384, 100_003]) {
    await t.step(`${size} bytes`, () => {
      const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 31 + 7) % 256);
      const text = bytesToWire(bytes);
      assert.equal(text.length, size);
      assert.equal(text.charCodeAt(size - 1), bytes[size - 1]);
      assert.deepEqual(wireToBytes(text), bytes);
    });
  }
});

Deno.test("wireToBytes() inverts bytesToWire() for all 256 byte values", () => {
  assert.deepEqual(wireToBytes(bytesToWire(ALL_BYTES)), ALL_BYTES);
});

Deno.test("wireToBytes() turns char codes 0..255 into the same byte values", () => {
  assert.deepEqual(
    wireToBytes("A\x00\x80\x9f\xa0\xff"),
    new Uint8Array([0x41, 0, 0x80, 0x9f, 0xa0, 0xff]),
  );
});

Deno.test("wireToBytes() rejects a char code above 255", async (t) => {
  for (const text of ["\u0100", "ok\u20ac", "kiwi🥝"]) {
    await t.step(JSON.stringify(text), () => {
      assert.throws(() => wireToBytes(text), RangeError);
    });
  }
});

Deno.test("wireToBytes() names the index of the first char that is not a byte", () => {
  assert.throws(() => wireToBytes("ab\u20ac"), {
    name: "RangeError",
    message: /char code 8364 at index 2/,
  });
});

Deno.test("unicodeToWire() encodes text as its UTF-8 bytes, one char per byte", () => {
  assert.equal(unicodeToWire("kiwi"), "kiwi");
  assert.equal(unicodeToWire("é"), "\xc3\xa9");
  assert.equal(unicodeToWire("🦆"), "\xf0\x9f\xa6\x86");
});

Deno.test("wireToDisplay() decodes UTF-8 wire text back to Unicode", () => {
  const original = "kiwi 🥝 café ünïcödé";
  assert.equal(wireToDisplay(unicodeToWire(original)), original);
});

Deno.test("wireToDisplay() returns ASCII text, control bytes included, unchanged", () => {
  const ascii = bytesToWire(ALL_BYTES.subarray(0, 0x80));
  assert.equal(wireToDisplay(ascii), ascii);
});

Deno.test("wireToDisplay() replaces invalid UTF-8 bytes with U+FFFD", async (t) => {
  const cases: [string, string][] = [
    ["a\xffb", "a\ufffdb"],
    ["\x80", "\ufffd"],
    ["id-\xc3", "id-\ufffd"],
    ["\xc3\xa9\xfe", "é\ufffd"],
  ];
  for (const [wire, display] of cases) {
    await t.step(JSON.stringify(wire), () => {
      assert.equal(wireToDisplay(wire), display);
    });
  }
});

Deno.test("wireToDisplay() rejects text that is not wire text", () => {
  assert.throws(() => wireToDisplay("caf\u00e9\u20ac"), RangeError);
});

Deno.test("ownCopy() returns equal text, sliced or not", () => {
  const read = bytesToWire(ALL_BYTES) + "AT Hill +0.1 a-long-client-identifier +1+1 1\n";
  for (const text of [read.slice(267, 293), read.slice(256, 258), "", read]) {
    assert.equal(ownCopy(text), text);
  }
});

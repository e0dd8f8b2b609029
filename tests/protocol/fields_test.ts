import assert from "node:assert/strict";
import { splitFields } from "../../src/protocol/fields.ts";

/** The six separator bytes of PROTOCOL.md section 1, by name. */
const WHITE_SPACE: [string, string][] = [
  ["space", " "],
  ["tab", "\t"],
  ["CR", "\r"],
  ["LF", "\n"],
  ["FF", "\f"],
  ["VT", "\v"],
];

Deno.test("splitFields() splits on each of the six white-space bytes", async (t) => {
  for (const [name, ws] of WHITE_SPACE) {
    await t.step(name, () => {
      assert.deepEqual(splitFields(`IAMAT${ws}kiwi${ws}+1+2${ws}3`), [
        "IAMAT",
        "kiwi",
        "+1+2",
        "3",
      ]);
    });
  }
});

Deno.test("splitFields() treats a run of mixed white space as one separator", () => {
  assert.deepEqual(splitFields("WHATSAT \t\r\n\f\v  kiwi\t\t10   5"), [
    "WHATSAT",
    "kiwi",
    "10",
    "5",
  ]);
});

Deno.test("splitFields() ignores leading and trailing white space", async (t) => {
  for (const [name, ws] of WHITE_SPACE) {
    await t.step(name, () => {
      assert.deepEqual(splitFields(`${ws}${ws}a b${ws}`), ["a", "b"]);
    });
  }
});

Deno.test("splitFields() returns no fields for a blank line", async (t) => {
  for (const line of ["", " ", "\t", " \t\r\n\f\v ", "\r"]) {
    await t.step(JSON.stringify(line), () => {
      assert.deepEqual(splitFields(line), []);
    });
  }
});

Deno.test("splitFields() does not split on bytes outside the six separators", async (t) => {
  const bytes: [string, string][] = [
    ["0xA0 (no-break space in Latin-1)", "\xa0"],
    ["0x85 (next line in Latin-1)", "\x85"],
    ["NUL", "\x00"],
    ["0x1C..0x1F (separators to some runtimes)", "\x1c\x1d\x1e\x1f"],
    ["DEL", "\x7f"],
    ["UTF-8 no-break space", "\xc2\xa0"],
  ];
  for (const [name, b] of bytes) {
    await t.step(name, () => {
      assert.deepEqual(splitFields(`a${b}b c`), [`a${b}b`, "c"]);
    });
  }
});

Deno.test("splitFields() returns a line without white space as one field", () => {
  assert.deepEqual(splitFields("kiwi.cs.ucla.edu"), ["kiwi.cs.ucla.edu"]);
});

Deno.test("splitFields() keeps non-ASCII bytes inside their field", () => {
  // "🥝" as UTF-8 bytes, and an invalid byte 0xFF, both as wire text.
  const id = "k\xf0\x9f\xa5\x9d\xff";
  assert.deepEqual(splitFields(`IAMAT ${id} x`), ["IAMAT", id, "x"]);
});

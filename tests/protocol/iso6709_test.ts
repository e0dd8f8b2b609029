import assert from "node:assert/strict";
import { parseIso6709 } from "../../src/protocol/iso6709.ts";

Deno.test("parseIso6709() parses the PROTOCOL.md example", () => {
  assert.deepEqual(parseIso6709("+34.068930-118.445127"), {
    text: "+34.068930-118.445127",
    latitude: 34.06893,
    longitude: -118.445127,
  });
});

Deno.test("parseIso6709() accepts every valid shape", async (t) => {
  const cases: [string, number, number][] = [
    ["+34-118", 34, -118],
    ["-90+180", -90, 180],
    ["+90.000-180.0", 90, -180],
    ["+0+0", 0, 0],
    ["-1.5+2.25", -1.5, 2.25],
    ["+9+9", 9, 9],
    ["+09.5-009.5", 9.5, -9.5],
    ["-00.000000001+000.1", -0.000000001, 0.1],
    ["+89.999999999999+179.999999999999", 89.999999999999, 179.999999999999],
  ];
  for (const [text, latitude, longitude] of cases) {
    await t.step(text, () => {
      const p = parseIso6709(text);
      assert.equal(p.latitude, latitude);
      assert.equal(p.longitude, longitude);
    });
  }
});

Deno.test("parseIso6709() keeps the text exactly as received", async (t) => {
  for (const text of ["+34.068930-118.445127", "+90.000-180.0", "+07.10-007.100", "-0+0"]) {
    await t.step(text, () => assert.equal(parseIso6709(text).text, text));
  }
});

Deno.test("parseIso6709() rejects text that is not [+-]D{1,2}[.D+][+-]D{1,3}[.D+]", async (t) => {
  const bad: [string, string][] = [
    ["missing latitude sign", "34.068930-118.445127"],
    ["missing longitude sign", "+34.068930118.445127"],
    ["3 latitude digits", "+034-118"],
    ["4 longitude digits", "+34-0118"],
    ["latitude point without digits", "+34.-118"],
    ["longitude point without digits", "+34-118."],
    ["leading point", "+.5-118"],
    ["two points", "+34.5.5-118"],
    ["comma as decimal point", "+34,5-118"],
    ["space inside", "+34 -118"],
    ["leading space", " +34-118"],
    ["trailing space", "+34-118 "],
    ["trailing newline", "+34-118\n"],
    ["double sign", "++34-118"],
    ["third coordinate", "+34-118+100"],
    ["latitude only", "+34"],
    ["empty", ""],
    ["exponent", "+3.4e1-118"],
    ["exponent without point", "+34E0-118"],
    ["Arabic-Indic digits", "+\u0663\u0664-118"],
    ["fullwidth digits", "+\uff13\uff14-118"],
    ["Unicode minus sign", "+34\u2212118"],
    ["fullwidth plus sign", "\uff0b34-118"],
    ["trailing solidus (ISO 6709 string form)", "+34-118/"],
    ["letters", "+N34-W118"],
  ];
  for (const [name, text] of bad) {
    await t.step(name, () => {
      assert.throws(() => parseIso6709(text), SyntaxError);
    });
  }
});

Deno.test("parseIso6709() rejects a latitude above 90", async (t) => {
  for (
    const text of [
      "+90.0000001+0",
      "-90.0000001+0",
      "+91+0",
      "-99.9+0",
      "+90.00000000000000000001+0",
    ]
  ) {
    await t.step(text, () => {
      assert.throws(() => parseIso6709(text), {
        name: "RangeError",
        message: /latitude above 90/,
      });
    });
  }
});

Deno.test("parseIso6709() rejects a longitude above 180", async (t) => {
  for (
    const text of ["+0+180.00001", "+0-180.00001", "+0+181", "+0-999", "+0+180.0000000000000000001"]
  ) {
    await t.step(text, () => {
      assert.throws(() => parseIso6709(text), {
        name: "RangeError",
        message: /longitude above 180/,
      });
    });
  }
});

Deno.test("parseIso6709() accepts exactly 90 and 180 written with trailing zeros", () => {
  const p = parseIso6709("-90.000000000000+180.0000000000");
  assert.equal(p.latitude, -90);
  assert.equal(p.longitude, 180);
});

import assert from "node:assert/strict";
import {
  formatDigest,
  formatNodeDigest,
  formatWant,
  keyHash,
  type NodeDigest,
  parseMessage,
  parseNodeDigest,
  recordHash,
  recordHashOfBytes,
} from "../../src/protocol/mod.ts";

const d = (count: number, hi: number, lo: number): NodeDigest => ({ count, hi, lo });

Deno.test("node digests round-trip through their text form", () => {
  for (const digest of [d(0, 0, 0), d(1, 0, 1), d(123456, 0xffffffff, 0x80000000)]) {
    assert.deepEqual(parseNodeDigest(formatNodeDigest(digest)), digest);
  }
  assert.equal(formatNodeDigest(d(0, 5, 5)), "0");
  assert.equal(formatNodeDigest(d(2, 1, 0xabcdef)), "2:0000000100abcdef");
});

Deno.test("malformed node digests are refused", () => {
  for (
    const text of [
      "",
      "00",
      "1",
      "1:",
      "1:00",
      "-1:0000000000000000",
      "1:000000000000000G",
      "01:0000000000000000",
    ]
  ) {
    assert.equal(parseNodeDigest(text), null, text);
  }
});

Deno.test("DIGEST and WANT lines parse back to what was formatted", () => {
  const children = Array.from({ length: 16 }, (_, i) => d(i, i * 7, i * 13));
  for (const prefix of ["", "a", "0f", "ffe"]) {
    const m = parseMessage(formatDigest(prefix, children));
    assert.equal(m.kind, "DIGEST");
    if (m.kind !== "DIGEST") continue;
    assert.equal(m.prefix, prefix);
    assert.deepEqual(m.children, children.map((c) => c.count === 0 ? d(0, 0, 0) : c));
  }
  for (const prefixes of [[""], ["a"], ["0f0f", "1", "fff"]]) {
    const m = parseMessage(formatWant(prefixes));
    assert.deepEqual(m, { kind: "WANT", prefixes });
  }
});

Deno.test("DIGEST and WANT with a bad prefix or field count are invalid", () => {
  const sixteen = " 0".repeat(16);
  for (
    const line of [
      `DIGEST${sixteen}`,
      `DIGEST -${" 0".repeat(15)}`,
      `DIGEST 0f0f${sixteen}`, // a leaf has no children
      `DIGEST A${sixteen}`,
      `DIGEST -${" 0".repeat(15)} x`,
      "WANT",
      "WANT 0f0f0",
      "WANT g",
      `WANT${" a".repeat(17)}`,
    ]
  ) {
    assert.equal(parseMessage(line).kind, "invalid", line);
  }
});

Deno.test("keyHash() spreads similar ids over the leaves and recordHash() sees every byte", () => {
  const leaves = new Set<number>();
  for (let i = 0; i < 1000; i++) leaves.add(keyHash(`client-${i}`) >>> 16);
  assert.ok(leaves.size > 950, `${leaves.size} distinct leaves of 1000 ids`);
  const a = recordHash("AT Hill +0.000000001 kiwi +34-118 1.5", d(0, 0, 0));
  const b = recordHash("AT Hill +0.000000001 kiwi +34-118 1.50", d(0, 0, 0));
  assert.notDeepEqual(a, b);
  assert.equal(a.count, 1);
});

Deno.test("recordHash() and recordHashOfBytes() give the hashes every member computes", () => {
  // [AT line, hi, lo]: fixed values, so a member of another version computes the same digests.
  const table: Array<[string, number, number]> = [
    ["", 0x0578ab1b, 0xab3e7c0b],
    ["AT Hill +0.000000001 kiwi +34-118 1.5", 0xcebedf65, 0x655c929e],
    ["AT Smith +0.100000000 \xf0\x9f\xa5\x9d +34-118 1", 0xf819d89d, 0xb42af16e],
  ];
  for (const [line, hi, lo] of table) {
    assert.deepEqual(recordHash(line, d(0, 0, 0)), d(1, hi, lo), line);
    const bytes = new Uint8Array(line.length + 4);
    for (let i = 0; i < line.length; i++) bytes[i + 2] = line.charCodeAt(i);
    assert.deepEqual(recordHashOfBytes(bytes, 2, 2 + line.length, d(0, 0, 0)), d(1, hi, lo), line);
  }
});

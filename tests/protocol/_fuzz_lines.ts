/**
 * Fuzzed protocol lines for the parser and TCP fuzz tests: random bytes, soups of protocol
 * tokens, and valid lines of every kind mutated (bit flips, inserted and deleted bytes, swapped
 * and repeated fields, huge numbers, signs, CR/tabs, invalid UTF-8, NUL). Lines are wire text
 * (one char per byte, see `src/protocol/wire_text.ts`) and never contain LF, so each is one
 * message on a socket. Deterministic for a given {@linkcode Random}.
 *
 * @module
 */

import { bytesToWire, unicodeToWire, type WireText } from "../../src/protocol/mod.ts";
import { pick, type Random, randomDigits, randomInt } from "./_random.ts";

const DIGEST_CHILDREN = ["0", "3:0123456789abcdef", "0", "1:ffffffff00000000"];

/** Valid lines of every kind a member parses (PROTOCOL.md sections 2 and 4), as wire text. */
export const VALID_LINES: readonly WireText[] = [
  "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
  unicodeToWire("IAMAT 🦆-ü -33.8688+151.2093 1700000000"),
  "IAMAT x +90-180 0.000000001",
  "IAMAT y -00.5+000.25 1700000000.10",
  "WHATSAT kiwi.cs.ucla.edu 10 5",
  "WHATSAT kiwi 50 20",
  "WHATSAT x 0.001 1",
  "AT Campbell +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
  "AT Hill -12.000001000 x -00-000 1",
  "HERD 1 Hill",
  "HERD 1 Campbell mac=abcdef0123 ts=1700000000 nonce=00ff",
  `DIGEST - ${Array.from({ length: 16 }, (_, i) => DIGEST_CHILDREN[i % 4]).join(" ")}`,
  `DIGEST 3a0 ${Array(16).fill("0").join(" ")}`,
  "WANT 3a0f",
  "WANT 3a0f 3a1 -",
  "WANT -",
  "ASK 3a0f 3a1 -",
  "HAVE 3a0f 0123abcd:1700000000.5 ffffffff:1",
  "HAVE -",
  "AT Smith +0.000100000 kiwi +34.068930-118.445127 1621464827.959498503 tree",
  "IHAVE kiwi 1621464827.959498503 x 1",
  "GRAFT kiwi 1621464827.959498503",
  "PRUNE",
  "PING 1",
  "PONG abcXYZ09",
  "ERASE Hill kiwi.cs.ucla.edu 1621464827.959498503",
];

/** Verbs and fields mixed into token soups. */
const TOKENS: readonly string[] = [
  "IAMAT",
  "WHATSAT",
  "AT",
  "HERD",
  "DIGEST",
  "WANT",
  "IHAVE",
  "GRAFT",
  "PRUNE",
  "PING",
  "PONG",
  "ERASE",
  "tree",
  "iamat",
  "1",
  "2",
  "Hill",
  "Campbell",
  "kiwi",
  "+34.068930-118.445127",
  "+91-181",
  "-90+180",
  "1621464827.959498503",
  "-1",
  "1e9",
  "0",
  "50",
  "50.0000000001",
  "20",
  "21",
  "+0.263873386",
  "-",
  "3a0f",
  "0",
  "3:0123456789abcdef",
  "mac=",
  "=x",
  "key=value",
];

/** Bytes that tend to matter to a parser: white space, NUL, signs, points, high bytes. */
const SPECIAL_BYTES = [
  0x00,
  0x09,
  0x0b,
  0x0c,
  0x0d,
  0x20,
  0x2b,
  0x2d,
  0x2e,
  0x3d,
  0x80,
  0x85,
  0xa0,
  0xc3,
  0xff,
];

/** Numbers that are too big, signed, in other notations, or otherwise odd. */
function oddNumber(random: Random): string {
  switch (randomInt(random, 10)) {
    case 0:
      return randomDigits(random, 1 + randomInt(random, 400));
    case 1:
      return `${pick(random, ["+", "-"])}${randomDigits(random, 1 + randomInt(random, 12))}`;
    case 2:
      return `${randomDigits(random, 1 + randomInt(random, 3))}e${randomInt(random, 400)}`;
    case 3:
      return pick(random, [".5", "5.", "-0", "+0", "0x10", "NaN", "Infinity", "1_000", "\xd9\xa3"]);
    case 4:
      return `${randomDigits(random, 1 + randomInt(random, 20))}.${
        randomDigits(random, 1 + randomInt(random, 300))
      }`;
    case 5:
      return "0".repeat(1 + randomInt(random, 30)) + randomDigits(random, 3);
    case 6:
      return `${pick(random, ["+", "-", ""])}${randomInt(random, 200)}.${randomDigits(random, 6)}${
        pick(random, ["+", "-", ""])
      }${randomInt(random, 400)}`;
    case 7:
      return String(Number.MAX_SAFE_INTEGER + randomInt(random, 1000));
    case 8:
      return `${randomInt(random, 100)}..${randomInt(random, 100)}`;
    default:
      return String(randomInt(random, 100));
  }
}

/** White space of one to three bytes from the protocol's six, LF excluded. */
function whiteSpace(random: Random): string {
  let out = "";
  for (let n = 1 + randomInt(random, 3); n > 0; n--) {
    out += pick(random, [" ", "\t", "\v", "\f", "\r"]);
  }
  return out;
}

/**
 * A line of uniformly random bytes (LF replaced), 0 to `maxLength` long.
 *
 * @param random The generator.
 * @param maxLength Longest line, bytes.
 * @returns Wire text.
 */
export function randomBytesLine(random: Random, maxLength = 80): WireText {
  const bytes = new Uint8Array(randomInt(random, maxLength + 1));
  for (let i = 0; i < bytes.length; i++) {
    const b = randomInt(random, 256);
    bytes[i] = b === 0x0a ? 0x20 : b;
  }
  return bytesToWire(bytes);
}

/**
 * Protocol tokens and odd numbers joined by random white space.
 *
 * @param random The generator.
 * @returns Wire text.
 */
export function tokenSoup(random: Random): WireText {
  const parts: string[] = [];
  for (let n = randomInt(random, 8); n >= 0; n--) {
    parts.push(randomInt(random, 4) === 0 ? oddNumber(random) : pick(random, TOKENS));
  }
  return parts.map((p) => p + whiteSpace(random)).join("").trimEnd();
}

function splitOnSpace(line: WireText): string[] {
  return line.split(" ");
}

/**
 * Applies one random mutation to a line.
 *
 * @param random The generator.
 * @param line Wire text without LF.
 * @returns The mutated line, still without LF.
 */
export function mutateOnce(random: Random, line: WireText): WireText {
  const at = randomInt(random, line.length + 1);
  const fields = splitOnSpace(line);
  const f = randomInt(random, fields.length);
  const withField = (value: string) => fields.map((x, i) => (i === f ? value : x)).join(" ");
  let out: string;
  switch (randomInt(random, 13)) {
    case 0: { // bit flip
      if (line.length === 0) return line;
      const i = Math.min(at, line.length - 1);
      out = line.slice(0, i) +
        String.fromCharCode(line.charCodeAt(i) ^ (1 << randomInt(random, 8))) +
        line.slice(i + 1);
      break;
    }
    case 1: // inserted random byte
      out = line.slice(0, at) + String.fromCharCode(randomInt(random, 256)) + line.slice(at);
      break;
    case 2: // deleted byte
      out = line.slice(0, at) + line.slice(at + 1);
      break;
    case 3: // a special byte replaces one
      out = line.slice(0, at) + String.fromCharCode(pick(random, SPECIAL_BYTES)) +
        line.slice(at + 1);
      break;
    case 4: { // swapped fields
      const g = randomInt(random, fields.length);
      [fields[f], fields[g]] = [fields[g], fields[f]];
      out = fields.join(" ");
      break;
    }
    case 5: // repeated field
      out = fields.slice(0, f + 1).concat(fields.slice(f)).join(" ");
      break;
    case 6: // dropped field
      out = fields.filter((_, i) => i !== f).join(" ");
      break;
    case 7: // odd number in place of a field
      out = withField(oddNumber(random));
      break;
    case 8: // sign added to or flipped in a field
      out = withField(pick(random, ["+", "-"]) + fields[f].replace(/^[+-]/, ""));
      break;
    case 9: // invalid UTF-8 or NUL inside a field
      out = line.slice(0, at) + pick(random, ["\xc3\x28", "\xff", "\x80\x80", "\xf0\x9f", "\0"]) +
        line.slice(at);
      break;
    case 10: // white space around or inside (CR, tabs, VT, FF)
      out = randomInt(random, 2) === 0
        ? whiteSpace(random) + line + whiteSpace(random)
        : line.slice(0, at) + whiteSpace(random) + line.slice(at);
      break;
    case 11: // ASCII case changed (String case mapping would leave the byte range: ÿ -> Ÿ)
      out = withField(
        randomInt(random, 2) === 0
          ? fields[f].replace(/[A-Z]/g, (c) => c.toLowerCase())
          : fields[f].replace(/[a-z]/g, (c) => c.toUpperCase()),
      );
      break;
    default: // truncated
      out = line.slice(0, at);
  }
  return out.replaceAll("\n", " ");
}

/**
 * A valid line with one to three mutations (or none, one time in eight).
 *
 * @param random The generator.
 * @param valid The lines to start from.
 * @returns Wire text without LF.
 */
export function mutatedLine(random: Random, valid: readonly WireText[] = VALID_LINES): WireText {
  let line = pick(random, valid);
  if (randomInt(random, 8) === 0) return line;
  for (let n = 1 + randomInt(random, 3); n > 0; n--) line = mutateOnce(random, line);
  return line;
}

/**
 * One fuzzed line: 20% random bytes, 15% token soup, 65% a mutated valid line.
 *
 * @param random The generator.
 * @param valid The valid lines to mutate.
 * @returns Wire text without LF.
 */
export function fuzzLine(random: Random, valid: readonly WireText[] = VALID_LINES): WireText {
  const r = random();
  if (r < 0.2) return randomBytesLine(random);
  if (r < 0.35) return tokenSoup(random);
  return mutatedLine(random, valid);
}

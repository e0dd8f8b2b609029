import assert from "node:assert/strict";
import { DEFAULT_MAX_LINE_BYTES, type Frame, LineSplitter } from "../../src/protocol/framing.ts";
import { bytesToWire, wireToBytes } from "../../src/protocol/wire_text.ts";
import { randomInt, seeded } from "./_random.ts";

/** A frame in a comparable form: its kind and its bytes as wire text. */
type Seen = ["line" | "overlong", string];

function seen(frames: Frame[]): Seen[] {
  return frames.map((f) => f.kind === "line" ? ["line", f.text] : ["overlong", f.head]);
}

/** Feeds the chunks (wire text) then EOF; returns every frame. */
function frame(chunks: string[], maxLineBytes?: number): Seen[] {
  const s = new LineSplitter(maxLineBytes);
  const frames: Frame[] = [];
  for (const chunk of chunks) frames.push(...s.push(wireToBytes(chunk)));
  frames.push(...s.end());
  return seen(frames);
}

const line = (text: string): Seen => ["line", text];
const overlong = (head: string): Seen => ["overlong", head];

Deno.test("LineSplitter splits lines at LF", () => {
  assert.deepEqual(frame(["a b\nc\n"]), [line("a b"), line("c")]);
});

Deno.test("LineSplitter removes a CR that comes right before the LF", () => {
  assert.deepEqual(frame(["IAMAT x\r\nWHATSAT y\r\n"]), [line("IAMAT x"), line("WHATSAT y")]);
});

Deno.test("LineSplitter removes only one CR before the LF", () => {
  assert.deepEqual(frame(["a\r\r\n"]), [line("a\r")]);
});

Deno.test("LineSplitter keeps a lone CR in the middle of a line", () => {
  assert.deepEqual(frame(["a\rb\r c\n"]), [line("a\rb\r c")]);
});

Deno.test("LineSplitter keeps a CR at EOF, where no LF follows it", () => {
  assert.deepEqual(frame(["a\r"]), [line("a\r")]);
});

Deno.test("LineSplitter removes a CR-LF split across two chunks", () => {
  assert.deepEqual(frame(["a\r", "\nb\n"]), [line("a"), line("b")]);
});

Deno.test("LineSplitter returns the last line at EOF without LF", () => {
  const s = new LineSplitter();
  assert.deepEqual(seen(s.push(wireToBytes("first\nWHATSAT kiwi 10 5"))), [line("first")]);
  assert.deepEqual(seen(s.end()), [line("WHATSAT kiwi 10 5")]);
});

Deno.test("LineSplitter produces an empty frame for each empty line", () => {
  assert.deepEqual(frame(["\n\r\n\na\n\n"]), [line(""), line(""), line(""), line("a"), line("")]);
});

Deno.test("LineSplitter returns nothing from end() when nothing was pushed", () => {
  assert.deepEqual(new LineSplitter().end(), []);
});

Deno.test("LineSplitter returns nothing from end() after a terminated last line", () => {
  const s = new LineSplitter();
  assert.equal(s.push(wireToBytes("a\n")).length, 1);
  assert.deepEqual(s.end(), []);
});

Deno.test("LineSplitter returns nothing for an empty chunk", () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push(new Uint8Array(0)), []);
  assert.deepEqual(s.end(), []);
});

Deno.test("LineSplitter joins a line pushed in several chunks", () => {
  assert.deepEqual(frame(["IA", "MAT ki", "wi", "\n"]), [line("IAMAT kiwi")]);
});

Deno.test("LineSplitter returns line frames that later input cannot change", () => {
  const s = new LineSplitter();
  const chunk = wireToBytes("abc\n");
  const [first] = s.push(chunk);
  chunk.fill(0x7a);
  s.push(wireToBytes("xyz\n"));
  s.push(chunk);
  assert.equal(first.kind, "line");
  assert.equal(first.kind === "line" ? first.text : undefined, "abc");
});

Deno.test("LineSplitter passes every byte value other than LF through", () => {
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 0x0a);
  const s = new LineSplitter();
  const frames = [...s.push(bytes), ...s.push(new Uint8Array([0x0a]))];
  assert.deepEqual(seen(frames), [line(bytesToWire(bytes))]);
});

Deno.test("LineSplitter uses a 16 KiB limit by default", () => {
  assert.equal(DEFAULT_MAX_LINE_BYTES, 16 * 1024);
  assert.equal(new LineSplitter().maxLineBytes, 16 * 1024);
});

Deno.test("LineSplitter rejects a limit that is not a positive integer", async (t) => {
  for (const limit of [0, -1, 1.5, NaN, Infinity]) {
    await t.step(String(limit), () => {
      assert.throws(() => new LineSplitter(limit), RangeError);
    });
  }
});

Deno.test("LineSplitter accepts a line of exactly the limit", async (t) => {
  const text = "x".repeat(8);
  const cases: [string, string[]][] = [
    ["LF", [`${text}\n`]],
    ["CR-LF", [`${text}\r\n`]],
    ["CR-LF split before LF", [`${text}\r`, "\n"]],
    ["EOF", [text]],
  ];
  for (const [name, chunks] of cases) {
    await t.step(name, () => assert.deepEqual(frame(chunks, 8), [line(text)]));
  }
});

Deno.test("LineSplitter accepts a line of exactly the default limit", () => {
  const text = "y".repeat(DEFAULT_MAX_LINE_BYTES);
  assert.deepEqual(frame([`${text}\r\n`]), [line(text)]);
});

Deno.test("LineSplitter reports a line of limit + 1 bytes as overlong with the first limit bytes", async (t) => {
  const cases: [string, string[]][] = [
    ["LF", ["abcdefghi\n"]],
    ["CR-LF", ["abcdefghi\r\n"]],
    ["EOF", ["abcdefghi"]],
    ["ninth byte a CR not before LF", ["abcdefgh\rX\n"]],
    ["ninth byte a CR at EOF", ["abcdefgh\r"]],
    ["one byte per chunk", [..."abcdefghi\n"]],
  ];
  for (const [name, chunks] of cases) {
    await t.step(name, () => assert.deepEqual(frame(chunks, 8), [overlong("abcdefgh")]));
  }
});

Deno.test("LineSplitter skips the rest of an overlong line and frames the next line intact", () => {
  assert.deepEqual(
    frame(["short\n", "0123456789abcdef\r\n", "next\r\n", "last"], 8),
    [line("short"), overlong("01234567"), line("next"), line("last")],
  );
});

Deno.test("LineSplitter reports an overlong line once however long it is", () => {
  const chunks = ["a".repeat(100), "b".repeat(100), "c\rc".repeat(50), "\nok\n"];
  assert.deepEqual(frame(chunks, 8), [overlong("aaaaaaaa"), line("ok")]);
});

Deno.test("LineSplitter reports an overlong line before the line ends", () => {
  const s = new LineSplitter(8);
  const first = s.push(wireToBytes("0123456789"));
  assert.deepEqual(seen(first), [overlong("01234567")]);
  assert.deepEqual(s.push(wireToBytes("x".repeat(1000))), []);
  assert.deepEqual(seen(s.push(wireToBytes("\nnext\n"))), [line("next")]);
});

Deno.test("LineSplitter reports an overlong last line at EOF without LF", async (t) => {
  const cases: [string, string[]][] = [
    ["limit + 1 bytes", ["abcdefghi"]],
    ["far over the limit", ["abcdefghijklmnopqrstuvwxyz"]],
    ["after a complete line", ["ok\n", "abcdefghijklmnop"]],
  ];
  for (const [name, chunks] of cases) {
    await t.step(name, () => {
      const frames = frame(chunks, 8);
      assert.deepEqual(frames[frames.length - 1], overlong("abcdefgh"));
      assert.equal(frames.filter(([kind]) => kind === "overlong").length, 1);
    });
  }
});

Deno.test("LineSplitter handles a limit of one byte", () => {
  assert.deepEqual(
    frame(["a\nab\n\r\na\r\nab\r\n\n"], 1),
    [line("a"), overlong("a"), line(""), line("a"), overlong("a"), line("")],
  );
});

Deno.test("LineSplitter holds a 1 MB line as only its first limit bytes", () => {
  const s = new LineSplitter();
  const megabyte = Uint8Array.from({ length: 1024 * 1024 }, (_, i) => 0x41 + (i % 26));
  const frames: Frame[] = [];
  const chunk = 64 * 1024;
  for (let i = 0; i < megabyte.length; i += chunk) {
    const got = s.push(megabyte.subarray(i, i + chunk));
    // The overlong frame comes out with the first chunk: the line is not held until its LF.
    assert.equal(got.length, i === 0 ? 1 : 0, `chunk at ${i}`);
    frames.push(...got);
  }
  frames.push(...s.push(wireToBytes("\nWHATSAT kiwi 10 5\n")), ...s.end());
  assert.equal(frames.length, 2);
  assert.equal(frames[0].kind, "overlong");
  assert.equal(
    frames[0].kind === "overlong" ? frames[0].head : undefined,
    bytesToWire(megabyte.subarray(0, DEFAULT_MAX_LINE_BYTES)),
  );
  assert.deepEqual(seen(frames.slice(1)), [line("WHATSAT kiwi 10 5")]);
});

Deno.test("LineSplitter memory does not grow with the length of a line", () => {
  // The buffer it holds is measured directly: resident memory is shared with
  // every other test in the process and too noisy to decide this.
  const s = new LineSplitter();
  const chunk = new Uint8Array(1024 * 1024).fill(0x78);
  for (let i = 0; i < 256; i++) {
    s.push(chunk.subarray(0, 1000 + i)); // A line of about 256 KiB, in small reads.
    assert.ok(s.heldBytes <= DEFAULT_MAX_LINE_BYTES + 1, `holds ${s.heldBytes} bytes`);
  }
  for (let i = 0; i < 256; i++) s.push(chunk); // Then 256 MiB more of it.
  assert.ok(s.heldBytes <= DEFAULT_MAX_LINE_BYTES + 1, `holds ${s.heldBytes} bytes`);
  assert.deepEqual(seen(s.push(wireToBytes("\nok"))), []);
  assert.deepEqual(seen(s.end()), [line("ok")]);
});

/**
 * A stream that exercises every rule: CR-LF, lone CRs, empty lines, lines of
 * exactly the limit (8), overlong lines with and without CR-LF, and a last
 * line without LF.
 */
const STREAM = [
  "IAMAT\n",
  "\r\n",
  "\n",
  "a\rb\r\n",
  "12345678\r\n",
  "12345678\n",
  "123456789\r\n",
  "123456789\n",
  "1234567\r\r\n",
  "1234567\rx\n",
  "overlong line that goes on and on\r\n",
  "\xff\x80\xa0\x85\r\n",
  "ok\r\n",
  "\r",
  "\r\n",
  "tail",
].join("");

const STREAM_FRAMES: Seen[] = [
  line("IAMAT"),
  line(""),
  line(""),
  line("a\rb"),
  line("12345678"),
  line("12345678"),
  overlong("12345678"),
  overlong("12345678"),
  line("1234567\r"),
  overlong("1234567\r"),
  overlong("overlong"),
  line("\xff\x80\xa0\x85"),
  line("ok"),
  line("\r"),
  line("tail"),
];

Deno.test("LineSplitter frames the test stream as expected in one chunk", () => {
  assert.deepEqual(model(STREAM, 8), STREAM_FRAMES);
  assert.deepEqual(frame([STREAM], 8), STREAM_FRAMES);
});

Deno.test("LineSplitter gives the same frames when fed byte by byte", () => {
  assert.deepEqual(frame([...STREAM], 8), STREAM_FRAMES);
});

Deno.test("LineSplitter gives the same frames for a split at every position", () => {
  for (let i = 0; i <= STREAM.length; i++) {
    assert.deepEqual(
      frame([STREAM.slice(0, i), STREAM.slice(i)], 8),
      STREAM_FRAMES,
      `split at ${i}`,
    );
  }
});

Deno.test("LineSplitter gives the same frames for random chunkings", () => {
  const seed = 1490;
  const random = seeded(seed);
  for (let round = 0; round < 500; round++) {
    const chunks: string[] = [];
    let i = 0;
    while (i < STREAM.length) {
      const n = randomInt(random, 20);
      chunks.push(STREAM.slice(i, i + n));
      i += n;
    }
    assert.deepEqual(frame(chunks, 8), STREAM_FRAMES, `round ${round} (seed ${seed})`);
  }
});

/** Section 1 framing stated directly on a whole stream, to check the splitter against. */
function model(stream: string, limit: number): Seen[] {
  const parts = stream.split("\n");
  const unterminated = parts.pop() ?? "";
  const lines = parts.map((p) => (p.endsWith("\r") ? p.slice(0, -1) : p));
  if (unterminated !== "") lines.push(unterminated);
  return lines.map((l) => (l.length > limit ? overlong(l.slice(0, limit)) : line(l)));
}

Deno.test("LineSplitter agrees with a whole-stream model for random streams and chunkings", () => {
  const seed = 11490;
  const random = seeded(seed);
  const alphabet = "ab \r\n\n\xff";
  for (let round = 0; round < 300; round++) {
    let stream = "";
    for (let n = randomInt(random, 80); n > 0; n--) {
      stream += alphabet[randomInt(random, alphabet.length)];
    }
    const limit = 1 + randomInt(random, 6);
    const whole = model(stream, limit);
    assert.deepEqual(
      frame([stream], limit),
      whole,
      `round ${round} (seed ${seed}) ${JSON.stringify(stream)}`,
    );
    assert.deepEqual(
      frame([...stream], limit),
      whole,
      `round ${round} (seed ${seed}) ${JSON.stringify(stream)}`,
    );
    const chunks: string[] = [];
    for (let i = 0; i < stream.length;) {
      const n = 1 + randomInt(random, 7);
      chunks.push(stream.slice(i, i + n));
      i += n;
    }
    assert.deepEqual(
      frame(chunks, limit),
      whole,
      `round ${round} (seed ${seed}) ${JSON.stringify(stream)}`,
    );
  }
});

Deno.test("LineSplitter.next() yields one frame at a time and setMaxLineBytes() applies from the next line", () => {
  const s = new LineSplitter(4);
  s.feed("HERD\n123456\n1234567890\n");
  const first = s.next();
  assert.equal(first?.kind, "line");
  assert.equal(first?.kind === "line" ? first.text : undefined, "HERD");
  s.setMaxLineBytes(8);
  const second = s.next();
  assert.equal(second?.kind, "line", "6 bytes fit the raised limit");
  const third = s.next();
  assert.equal(third?.kind, "overlong");
  assert.equal(third?.kind === "overlong" ? third.head : undefined, "12345678");
  assert.equal(s.next(), null);
  assert.equal(s.maxLineBytes, 8);
  assert.throws(() => s.setMaxLineBytes(0), RangeError);
});

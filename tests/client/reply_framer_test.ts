import assert from "node:assert/strict";
import {
  isAtReply,
  ReplyFramer,
  type ReplyShape,
  replyShapeOf,
  splitReplies,
} from "../../src/client/reply_framer.ts";

const AT = "AT Hill +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503\n";
const JSON_BODY =
  '{\n   "html_attributions": [],\n   "results": [],\n   "status": "ZERO_RESULTS"\n}\n\n';
const WHATSAT_REPLY = AT + JSON_BODY;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Feeds `chunks` to a framer expecting `shapes`; returns the replies and the framer. */
function frame(
  shapes: ReplyShape[],
  chunks: string[],
  maxReplyBytes?: number,
): { replies: string[]; framer: ReplyFramer } {
  const framer = new ReplyFramer({ maxReplyBytes });
  for (const shape of shapes) framer.expect(shape);
  const replies: string[] = [];
  for (const chunk of chunks) {
    framer.push(encoder.encode(chunk), (r) => replies.push(decoder.decode(r)));
  }
  return { replies, framer };
}

/** Every way of cutting `text` in two, and byte by byte. */
function splits(text: string): string[][] {
  const out: string[][] = [[text], [...text]];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  return out;
}

interface Case {
  name: string;
  shapes: ReplyShape[];
  chunks: string[];
  replies: string[];
  /** Replies still expected after the chunks. @default 0 */
  outstanding?: number;
  /** Bytes of an unfinished reply held after the chunks. @default 0 */
  buffered?: number;
}

const CASES: Case[] = [
  {
    name: "ReplyFramer frames the AT reply to an IAMAT as one line",
    shapes: ["line"],
    chunks: [AT],
    replies: [AT],
  },
  {
    name: "ReplyFramer splits a WHATSAT reply at its blank line",
    shapes: ["whatsat", "line"],
    chunks: [WHATSAT_REPLY + AT],
    replies: [WHATSAT_REPLY, AT],
  },
  {
    name: "ReplyFramer frames a '? ' reply to a WHATSAT as one line",
    shapes: ["whatsat", "whatsat"],
    chunks: ["? WHATSAT nobody 10 5\n" + WHATSAT_REPLY],
    replies: ["? WHATSAT nobody 10 5\n", WHATSAT_REPLY],
  },
  {
    name: "ReplyFramer frames many replies that arrive in one read",
    shapes: ["line", "line", "whatsat", "line"],
    chunks: [AT + "? HELLO\n" + WHATSAT_REPLY + AT],
    replies: [AT, "? HELLO\n", WHATSAT_REPLY, AT],
  },
  {
    name: "ReplyFramer joins a WHATSAT reply split across reads",
    shapes: ["whatsat"],
    chunks: [AT.slice(0, 10), AT.slice(10) + JSON_BODY.slice(0, 7), JSON_BODY.slice(7)],
    replies: [WHATSAT_REPLY],
  },
  {
    name: "ReplyFramer ends a WHATSAT reply at a blank line split between two reads",
    shapes: ["whatsat"],
    chunks: [WHATSAT_REPLY.slice(0, -1), "\n"],
    replies: [WHATSAT_REPLY],
  },
  {
    name: "ReplyFramer holds an unfinished reply until its end arrives",
    shapes: ["whatsat"],
    chunks: [AT + "{\n"],
    replies: [],
    outstanding: 1,
    buffered: AT.length + 2,
  },
  {
    name: "ReplyFramer holds a line until its LF arrives",
    shapes: ["line", "line"],
    chunks: [AT + "? HEL"],
    replies: [AT],
    outstanding: 1,
    buffered: 5,
  },
  {
    name: "ReplyFramer skips blank lines between replies",
    shapes: ["line", "whatsat"],
    chunks: ["\n" + AT + "\n\n", WHATSAT_REPLY + "\n"],
    replies: [AT, WHATSAT_REPLY],
  },
  {
    name: "ReplyFramer keeps a CR before the LF as part of a one-line reply",
    shapes: ["line"],
    chunks: ["? bad\r\n"],
    replies: ["? bad\r\n"],
  },
  {
    name: "ReplyFramer frames a reply that is not AT or '? ' as one line",
    shapes: ["whatsat"],
    chunks: ["HELLO there\n"],
    replies: ["HELLO there\n"],
  },
];

for (const c of CASES) {
  Deno.test(c.name, () => {
    const { replies, framer } = frame(c.shapes, c.chunks);
    assert.deepEqual(replies, c.replies);
    assert.equal(framer.outstanding, c.outstanding ?? 0, "outstanding");
    assert.equal(framer.bufferedBytes, c.buffered ?? 0, "bufferedBytes");
  });
}

Deno.test("ReplyFramer gives the same replies however the stream is cut into reads", () => {
  const shapes: ReplyShape[] = ["line", "whatsat", "whatsat", "line"];
  const stream = AT + WHATSAT_REPLY + "? WHATSAT x 1 1\n" + "? IAMAT\n";
  const expected = [AT, WHATSAT_REPLY, "? WHATSAT x 1 1\n", "? IAMAT\n"];
  for (const chunks of splits(stream)) {
    const { replies, framer } = frame(shapes, chunks);
    assert.deepEqual(replies, expected, `chunks ${JSON.stringify(chunks.map((c) => c.length))}`);
    assert.equal(framer.outstanding, 0);
  }
});

Deno.test("ReplyFramer.push() returns how many replies a read completed", () => {
  const framer = new ReplyFramer();
  framer.expect("line", 3);
  const noop = () => {};
  assert.equal(framer.push(encoder.encode(AT + AT.slice(0, 5)), noop), 1);
  assert.equal(framer.push(encoder.encode(AT.slice(5) + AT), noop), 2);
  assert.equal(framer.outstanding, 0);
});

Deno.test("ReplyFramer hands over a reply within one read as a view of it, not a copy", () => {
  const framer = new ReplyFramer();
  framer.expect("line");
  const chunk = encoder.encode(AT);
  let seen: Uint8Array | undefined;
  framer.push(chunk, (r) => (seen = r));
  assert.equal(seen?.buffer, chunk.buffer);
});

Deno.test("ReplyFramer accepts a reply of exactly maxReplyBytes", () => {
  const { replies } = frame(["whatsat"], [WHATSAT_REPLY], WHATSAT_REPLY.length);
  assert.deepEqual(replies, [WHATSAT_REPLY]);
});

Deno.test("ReplyFramer throws a RangeError when a reply grows past maxReplyBytes", async (t) => {
  const cases: Array<[string, ReplyShape, string[]]> = [
    ["a line without its LF", "line", ["? " + "x".repeat(200)]],
    ["a line in many reads", "line", ["? " + "x".repeat(60), "x".repeat(60)]],
    ["a WHATSAT body without its blank line", "whatsat", [AT, "{\n" + '"a": 1,\n'.repeat(20)]],
  ];
  for (const [name, shape, chunks] of cases) {
    await t.step(name, () => {
      assert.throws(() => frame([shape], chunks, 100), (e: unknown) => {
        assert.ok(e instanceof RangeError);
        assert.match(e.message, /^Cannot frame reply: no end within 100 bytes/);
        return true;
      });
    });
  }
});

Deno.test("ReplyFramer throws a SyntaxError when bytes arrive with no reply expected", () => {
  assert.throws(() => frame([], [AT]), SyntaxError);
  assert.throws(() => frame(["line"], [AT + AT]), SyntaxError);
  // Blank lines are not replies: they are allowed whatever is expected.
  assert.deepEqual(frame([], ["\n\n"]).replies, []);
});

Deno.test("ReplyFramer.expect() rejects a count below 1 and new() a cap below 1", () => {
  const framer = new ReplyFramer();
  assert.throws(() => framer.expect("line", 0), RangeError);
  assert.throws(() => framer.expect("line", 1.5), RangeError);
  assert.throws(() => new ReplyFramer({ maxReplyBytes: 0 }), RangeError);
});

Deno.test("ReplyFramer keeps request order over thousands of alternating shapes", () => {
  const framer = new ReplyFramer();
  const expected: string[] = [];
  let stream = "";
  for (let i = 0; i < 5000; i++) {
    const whatsat = i % 2 === 0;
    framer.expect(whatsat ? "whatsat" : "line");
    const reply = whatsat ? WHATSAT_REPLY : `AT Hill +0.000000001 c${i} +1+1 ${i}\n`;
    expected.push(reply);
    stream += reply;
  }
  const replies: string[] = [];
  const bytes = encoder.encode(stream);
  for (let off = 0; off < bytes.length; off += 1000) {
    framer.push(bytes.subarray(off, off + 1000), (r) => replies.push(decoder.decode(r)));
  }
  assert.equal(replies.length, expected.length);
  assert.deepEqual(replies, expected);
  assert.equal(framer.outstanding, 0);
});

Deno.test("replyShapeOf() tells the reply shape from the command name", async (t) => {
  const cases: Array<[string, ReplyShape | null]> = [
    ["WHATSAT kiwi 10 5", "whatsat"],
    ["  \tWHATSAT kiwi 10 5", "whatsat"],
    ["WHATSAT", "whatsat"],
    ["IAMAT kiwi +1+1 1", "line"],
    ["WHATSATX kiwi 10 5", "line"],
    ["whatsat kiwi 10 5", "line"],
    ["HELLO", "line"],
    ["", null],
    [" \t\r\v\f", null],
  ];
  for (const [line, shape] of cases) {
    await t.step(JSON.stringify(line), () => assert.equal(replyShapeOf(line), shape));
  }
});

Deno.test("isAtReply() is true only for a reply that starts with 'AT '", () => {
  assert.equal(isAtReply(encoder.encode(AT)), true);
  assert.equal(isAtReply(encoder.encode("? AT x\n")), false);
  assert.equal(isAtReply(encoder.encode("ATX\n")), false);
  assert.equal(isAtReply(encoder.encode("AT")), false);
});

Deno.test("splitReplies() frames a whole stream, and rejects one cut short or too long", () => {
  const bytes = encoder.encode(WHATSAT_REPLY + AT);
  const replies = splitReplies(bytes, ["whatsat", "line"]).map((r) => decoder.decode(r));
  assert.deepEqual(replies, [WHATSAT_REPLY, AT]);
  assert.throws(() => splitReplies(bytes.subarray(0, -1), ["whatsat", "line"]), SyntaxError);
  assert.throws(() => splitReplies(bytes, ["whatsat"]), SyntaxError);
});

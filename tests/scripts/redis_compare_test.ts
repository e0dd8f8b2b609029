// The pure parts of scripts/redis_compare.ts: the RESP it speaks to Redis, the reply counter of
// its pipelined load, and what it reads from /proc. The script as a whole needs redis-server and
// five members, so it is run by hand (docs/PERFORMANCE.md), not here.
import assert from "node:assert/strict";
import {
  cpuSecondsOfStat,
  encodeCommand,
  geoaddCommand,
  iamatLine,
  LineReplies,
  parseInfo,
  RespDecoder,
  RespErrorReply,
  type RespValue,
  shares,
  spread,
  utf8Length,
} from "../../scripts/redis_compare.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("utf8Length() counts the bytes TextEncoder writes", () => {
  for (const text of ["", "GEOADD", "é", "€", "😀", "a😀b€é", "\ud800", "\ud800x", "\udc00"]) {
    assert.equal(utf8Length(text), bytes(text).length, JSON.stringify(text));
  }
});

Deno.test("encodeCommand() writes an array of bulk strings with byte lengths", () => {
  const table: [string[], string][] = [
    [["PING"], "*1\r\n$4\r\nPING\r\n"],
    [["ZCARD", "herd"], "*2\r\n$5\r\nZCARD\r\n$4\r\nherd\r\n"],
    [["SET", "k", ""], "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"],
    [["SET", "é", "x"], "*3\r\n$3\r\nSET\r\n$2\r\né\r\n$1\r\nx\r\n"],
  ];
  for (const [args, wire] of table) assert.equal(encodeCommand(args), wire);
});

Deno.test("geoaddCommand() and iamatLine() put update i at the same place", () => {
  assert.equal(
    geoaddCommand(3, 1001),
    encodeCommand(["GEOADD", "herd", "-118.899000", "33.501000", "client-3-1001"]),
  );
  assert.equal(iamatLine(3, 1001, "1.5"), "IAMAT client-3-1001 +33.501000-118.899000 1.5\n");
});

Deno.test("RespDecoder.push() decodes every RESP2 type", () => {
  const table: [string, RespValue[]][] = [
    ["+OK\r\n", ["OK"]],
    ["-ERR no\r\n", [new RespErrorReply("ERR no")]],
    [":1\r\n:-42\r\n", [1, -42]],
    ["$5\r\nhello\r\n$0\r\n\r\n$-1\r\n", ["hello", "", null]],
    ["$4\r\na\r\nb\r\n", ["a\r\nb"]],
    ["*2\r\n:1\r\n*1\r\n$1\r\nx\r\n*-1\r\n*0\r\n", [[1, ["x"]], null, []]],
  ];
  for (const [wire, values] of table) assert.deepEqual(new RespDecoder().push(bytes(wire)), values);
});

Deno.test("RespDecoder.push() gives the same values however the stream is cut", () => {
  const wire = bytes("*3\r\n$5\r\nhello\r\n:7\r\n-ERR x\r\n+PONG\r\n$3\r\né1\r\n");
  const whole = new RespDecoder().push(wire);
  assert.equal(whole.length, 3);
  for (let cut = 0; cut <= wire.length; cut++) {
    const d = new RespDecoder();
    const got = [...d.push(wire.slice(0, cut)), ...d.push(wire.slice(cut))];
    assert.deepEqual(got, whole, `cut at ${cut}`);
    assert.equal(d.bufferedBytes, 0);
  }
});

Deno.test("RespDecoder.push() rejects bytes that are not RESP2", () => {
  for (const wire of ["!x\r\n", ":1x\r\n", "+OK\n", "$3\r\nabcd\r\n", "*-2\r\n"]) {
    assert.throws(() => new RespDecoder().push(bytes(wire)), SyntaxError, wire);
  }
});

Deno.test("RespDecoder.push() throws past its cap on an unfinished value", () => {
  const d = new RespDecoder(16);
  assert.deepEqual(d.push(bytes("$100\r\n0123456")), []);
  assert.throws(() => d.push(bytes("0123456789")), RangeError);
});

Deno.test("parseInfo() reads key:value fields and skips sections", () => {
  const info = parseInfo(
    "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n" +
      "slave0:ip=127.0.0.1,port=6380,state=online,offset=1,lag=0\r\n\r\n",
  );
  assert.deepEqual([...info.keys()], ["role", "connected_slaves", "slave0"]);
  assert.equal(info.get("slave0"), "ip=127.0.0.1,port=6380,state=online,offset=1,lag=0");
});

Deno.test("LineReplies.push() counts replies and bad ones across any cut", () => {
  const table: [string, string, number, number][] = [
    [":1\r", ":1\r\n:1\r\n", 2, 0],
    [":1\r", ":1\r\n:0\r\n-ERR x\r\n:12\r\n", 4, 3],
    ["AT ", "AT Hill +0.1 a +1+1 1\n? IAMAT\nAT\nA\nAT Hill x\n", 5, 3],
  ];
  for (const [prefix, text, lines, bad] of table) {
    const wire = bytes(text);
    for (let cut = 0; cut <= wire.length; cut++) {
      for (let cut2 = cut; cut2 <= wire.length; cut2 += 3) {
        const r = new LineReplies(prefix);
        const parts = [wire.slice(0, cut), wire.slice(cut, cut2), wire.slice(cut2)];
        const got = parts.map((p) => r.push(p));
        const sum = got.reduce((a, g) => ({ lines: a.lines + g.lines, bad: a.bad + g.bad }));
        assert.deepEqual(sum, { lines, bad }, `${JSON.stringify(text)} cut at ${cut}, ${cut2}`);
      }
    }
  }
});

Deno.test("cpuSecondsOfStat() adds user, system and reaped children's ticks", () => {
  // A comm with spaces and parentheses: fields are counted from the last ")".
  const stat = "4242 (redis (x) 1) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 50 7 3 20 0 5 0 " +
    "123 456 789";
  assert.equal(cpuSecondsOfStat(stat, 100), 2.1);
  assert.throws(() => cpuSecondsOfStat("garbage", 100), SyntaxError);
});

Deno.test("shares() splits the updates into consecutive ranges", () => {
  assert.deepEqual(shares(10, 4), [
    { first: 0, count: 3 },
    { first: 3, count: 3 },
    { first: 6, count: 2 },
    { first: 8, count: 2 },
  ]);
  assert.deepEqual(shares(100_000, 4).map((s) => s.count), [25_000, 25_000, 25_000, 25_000]);
});

Deno.test("spread() gives the median, min and max", () => {
  assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3 });
  assert.deepEqual(spread([4, 1, 2, 3]), { median: 2.5, min: 1, max: 4 });
  assert.throws(() => spread([]), RangeError);
});

import assert from "node:assert/strict";
import { testConfig } from "../src/config.ts";
import { type AddressBook, Member } from "../src/herd/mod.ts";
import {
  type EventLevel,
  type EventName,
  type LoggingOptions,
  memberLog,
  OPERATOR_EVENTS,
  setupLogging,
  stopLogging,
} from "../src/log.ts";
import { waitFor } from "./_harness.ts";
import { noPlaces } from "./_no_places.ts";

/** A console stream that keeps what it is given; `lines()` splits it. */
function captureConsole(): { stream: WritableStream<Uint8Array>; lines: () => string[] } {
  const chunks: Uint8Array[] = [];
  const stream = new WritableStream<Uint8Array>({
    write(chunk) {
      chunks.push(chunk.slice());
    },
  });
  const decoder = new TextDecoder();
  return {
    stream,
    lines: () => chunks.map((c) => decoder.decode(c)).join("").split("\n").filter((l) => l !== ""),
  };
}

/** The event name of a console line: `HH:MM:SS.mmm <who>[ LEVEL] <event> k=v...`. */
function eventOf(line: string): string {
  const m = /^\d\d:\d\d:\d\d\.\d{3} \S+(?: (?:DEBUG|WARNING|ERROR))? (\S+)/.exec(line);
  assert.ok(m !== null, `not a console line: ${line}`);
  return m[1];
}

type Row = [EventLevel, EventName, boolean];

/** Per console option: events emitted, and whether each one must reach the console. */
const TABLE: Array<[string, Partial<LoggingOptions>, Row[]]> = [
  ["quiet", { console: "quiet" }, [
    ["info", "msg.in", false],
    ["info", "member.listening", false],
    ["info", "peer.link.open", false],
    ["debug", "conn.open", false],
    ["warning", "peer.link.dropped", true],
    ["warning", "peer.link.rejected", true],
    ["error", "error", true],
    ["error", "msg.in", true],
  ]],
  ["normal", { console: "normal" }, [
    ["info", "msg.in", false],
    ["info", "reply.out", false],
    ["info", "sync.start", false],
    ["info", "conn.close", false],
    ["debug", "conn.open", false],
    ["debug", "member.listening", false],
    ["info", "member.listening", true],
    ["info", "member.loaded", true],
    ["info", "member.stopping", true],
    ["info", "member.stopped", true],
    ["info", "peer.link.open", true],
    ["info", "peer.link.dropped", true],
    ["warning", "peer.link.dropped", true],
    ["warning", "peer.queue.overflow", true],
    ["warning", "msg.in", true],
    ["error", "places.error", true],
  ]],
  ["no option (normal)", {}, [
    ["info", "msg.in", false],
    ["info", "member.listening", true],
    ["warning", "peer.link.rejected", true],
  ]],
  ["verbose", { console: "verbose" }, [
    ["debug", "conn.open", false],
    ["debug", "record.stored", false],
    ["info", "msg.in", true],
    ["info", "reply.out", true],
    ["info", "sync.start", true],
    ["info", "member.listening", true],
    ["warning", "peer.link.dropped", true],
    ["error", "error", true],
  ]],
  ["none", { console: null }, [
    ["info", "member.listening", false],
    ["warning", "peer.link.dropped", false],
    ["error", "error", false],
  ]],
];

Deno.test("setupLogging() console verbosity decides per level and event what the console shows", async (t) => {
  for (const [label, options, rows] of TABLE) {
    await t.step(label, async () => {
      const console = captureConsole();
      try {
        await setupLogging({
          logDir: null,
          members: [],
          ...options,
          consoleStream: console.stream,
        });
        const log = memberLog("Hill");
        rows.forEach(([level, event], row) => log.emit(level, event, { row }));
      } finally {
        await stopLogging();
      }
      const shown = console.lines().map((line) => {
        const m = / row=(\d+)/.exec(line);
        assert.ok(m !== null, line);
        const [level, event] = rows[Number(m[1])];
        assert.equal(eventOf(line), event, line);
        assert.match(line, level === "info" ? / Hill [a-z]/ : / Hill (WARNING|ERROR) /);
        return Number(m[1]);
      });
      const want = rows.flatMap(([, , show], row) => show ? [row] : []);
      assert.deepEqual(shown, want, rows.map((r, i) => `${i}: ${r.join(" ")}`).join("\n"));
    });
  }
});

Deno.test("OPERATOR_EVENTS are the member and link events a normal console shows", () => {
  assert.deepEqual([...OPERATOR_EVENTS].sort(), [
    "member.listening",
    "member.loaded",
    "member.stopped",
    "member.stopping",
    "peer.link.dropped",
    "peer.link.open",
  ]);
});

Deno.test("a process-wide warning reaches the console once per setupLogging(), every file each time", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herd-log-" });
  const names = ["A", "B", "C"];
  const first = captureConsole();
  const second = captureConsole();
  try {
    await setupLogging({ logDir: dir, members: names, consoleStream: first.stream });
    for (const n of names) memberLog(n).emit("warning", "member.unauthenticated", { reason: "x" });
    await stopLogging();
    // A new setup is a new process as far as the console knows.
    await setupLogging({ logDir: null, members: [], consoleStream: second.stream });
    memberLog("B").emit("warning", "member.unauthenticated", { reason: "y" });
    await stopLogging();
    assert.equal(first.lines().length, 1, first.lines().join("\n"));
    // Said of the herd, not of the member that happened to say it first.
    assert.match(first.lines()[0], / herd WARNING member\.unauthenticated reason=x$/);
    assert.deepEqual(second.lines().map(eventOf), ["member.unauthenticated"]);
    for (const n of names) {
      const events = (await Deno.readTextFile(`${dir}/${n}.log`)).trimEnd().split("\n");
      assert.equal(events.length, 1);
      assert.equal(JSON.parse(events[0]).event, "member.unauthenticated");
    }
  } finally {
    await stopLogging();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a five-member start shows an operator's lines on the default console, the files every event", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herd-log-" });
  const config = testConfig(); // five members, six links, no secret
  const names = config.servers.map((s) => s.name);
  const links = names.reduce(
    (n, name) => n + config.links.filter((l) => l.includes(name)).length,
    0,
  );
  const console = captureConsole();
  const addresses: AddressBook = new Map();
  const places = noPlaces();
  const members = names.map((name) =>
    new Member({ config, name, places, log: memberLog(name), addresses })
  );
  try {
    await setupLogging({ logDir: dir, members: names, consoleStream: console.stream });
    for (const m of members) m.start({ port: 0 });
    // Each member's links to its neighbours: 12 links up is the herd fully started.
    const count = (event: string) => console.lines().filter((l) => eventOf(l) === event).length;
    await waitFor(() => count("peer.link.open") === links, 10_000, `${links} links open`);
    const started = console.lines();
    assert.equal(links, 12);
    assert.equal(count("member.listening"), 5);
    assert.equal(count("member.unauthenticated"), 1, "a config warning once, not per member");
    assert.equal(started.length, 5 + 1 + 12, started.join("\n"));
    await Promise.all(members.map((m) => m.stop()));
    await stopLogging();
    const all = console.lines();
    assert.equal(count("member.stopped"), 5);
    for (const line of all) {
      assert.ok(
        OPERATOR_EVENTS.has(eventOf(line) as EventName) || / (WARNING|ERROR) /.test(line),
        `a normal console shows no ${line}`,
      );
    }
    let fileEvents = 0;
    for (const n of names) {
      const events = (await Deno.readTextFile(`${dir}/${n}.log`)).trimEnd().split("\n")
        .map((l) => JSON.parse(l).event);
      assert.equal(events.filter((e) => e === "member.unauthenticated").length, 1, n);
      assert.ok(events.includes("msg.in"), `${n}.log has the per-message events`);
      fileEvents += events.length;
    }
    assert.ok(fileEvents > all.length * 2, `${fileEvents} events in files, ${all.length} shown`);
  } finally {
    await Promise.all(members.map((m) => m.stop()));
    await stopLogging();
    await Deno.remove(dir, { recursive: true });
  }
});

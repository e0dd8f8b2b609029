import assert from "node:assert/strict";
import {
  acceptRecord,
  type FloodTarget,
  type RecordObserver,
  type RecordSink,
  RecordStore,
  type StoredRecord,
} from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { record } from "./_port.ts";

/** A sink whose every step writes to one trace, so the order can be asserted. */
function tracedSink(names: string[], persistThrows = false, observers = new Set<RecordObserver>()) {
  const trace: string[] = [];
  const store = new RecordStore();
  const links = new Map<string, FloodTarget>(
    names.map((n) => [n, { send: (line) => trace.push(`send ${n} ${line.trim()}`), flush() {} }]),
  );
  const log = new MemoryLog();
  const sink: RecordSink = {
    store,
    persist: (id, line) => {
      // The record is stored by the time it is persisted.
      trace.push(`persist ${id} stored=${store.line(id) === line}`);
      if (persistThrows) throw new Error("disk full");
    },
    links,
    log,
    observers,
  };
  return { trace, sink, store, log };
}

const OLD = "AT Hill +0.100000000 kiwi +34-118 100";
const NEW = "AT Hill +0.100000000 kiwi +34-118 200";

Deno.test("acceptRecord() stores, persists, then disseminates a newer record to every link", () => {
  const { trace, sink, store } = tracedSink(["Smith", "Jaquez"]);
  assert.equal(acceptRecord(sink, record(NEW), NEW, null), true);
  assert.deepEqual(trace, [
    "persist kiwi stored=true",
    `send Smith ${NEW}`,
    `send Jaquez ${NEW}`,
  ]);
  assert.equal(store.line("kiwi"), NEW);
});

Deno.test("acceptRecord() does not send a neighbour's record back to it, and leaves record.stored to the session", () => {
  const { trace, sink, log } = tracedSink(["Smith", "Jaquez"]);
  assert.equal(acceptRecord(sink, record(NEW), NEW, "Smith"), true);
  assert.deepEqual(trace.filter((t) => t.startsWith("send")), [`send Jaquez ${NEW}`]);
  // One event per read, not per record: runSession() logs it (session_test.ts).
  assert.deepEqual(log.named("record.stored"), []);
});

Deno.test("acceptRecord() stops an older or equal record at the store: no disk, no flood", async (t) => {
  for (const [name, line] of [["older", OLD], ["equal", NEW]]) {
    await t.step(name, () => {
      const { trace, sink, store } = tracedSink(["Smith"]);
      acceptRecord(sink, record(NEW), NEW, null);
      trace.length = 0;
      assert.equal(acceptRecord(sink, record(line), line, "Smith"), false);
      assert.deepEqual(trace, []);
      assert.equal(store.line("kiwi"), NEW);
    });
  }
});

Deno.test("acceptRecord() logs a failed persist and still disseminates", () => {
  const { trace, sink, log } = tracedSink(["Smith"], true);
  assert.equal(acceptRecord(sink, record(NEW), NEW, null), true);
  assert.deepEqual(trace.at(-1), `send Smith ${NEW}`);
  assert.match(
    String(log.named("error")[0].fields.reason),
    /cannot persist record: Error: disk full/,
  );
});

Deno.test("acceptRecord() tells observers last, with the line replaced; a throwing one is logged, not fatal", () => {
  const seen: StoredRecord[] = [];
  const observers = new Set<RecordObserver>([
    () => {
      throw new Error("observer bug");
    },
    (stored) => seen.push(stored),
  ]);
  const { trace, sink, log } = tracedSink(["Smith"], false, observers);
  observers.add(() => trace.push("observed"));
  assert.equal(acceptRecord(sink, record(OLD), OLD, null), true);
  assert.equal(acceptRecord(sink, record(NEW), NEW, "Smith"), true);
  assert.equal(acceptRecord(sink, record(OLD), OLD, null), false, "older: not stored");
  assert.deepEqual(
    seen.map((s) => [s.line, s.previous, s.from]),
    [[OLD, undefined, null], [NEW, OLD, "Smith"]],
  );
  assert.equal(trace[trace.length - 1], "observed", "observers come after persist and flood");
  assert.deepEqual(
    log.named("error").map((e) => e.fields.reason),
    ["record observer failed: Error: observer bug", "record observer failed: Error: observer bug"],
  );
});

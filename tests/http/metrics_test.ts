import assert from "node:assert/strict";
import { register as globalRegistry } from "prom-client";
import {
  HTTP_DURATION_BUCKETS_S,
  LINE_KINDS,
  lineKind,
  type LinkSample,
  MemberMetrics,
  type MetricsSource,
  type StreamSample,
  type SyncSample,
} from "../../src/http/metrics.ts";
import { INVALID_REASONS } from "../../src/herd/dispatch.ts";
import { splitFields } from "../../src/protocol/fields.ts";
import { pick, randomInt, seeded } from "../protocol/_random.ts";
import { type EventFields, type EventLevel, type EventName, MemoryLog } from "../../src/log.ts";

/**
 * The samples of an exposition text: `name{a="x",b="y"}` (labels sorted by name, no braces
 * without labels) -> value. Comment and blank lines are skipped; a sample line that does not
 * parse fails the test.
 */
function parseSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m !== null, `not a sample line: ${line}`);
    const labels = [...(m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, k, v]) => `${k}="${v}"`)
      .sort();
    const key = labels.length === 0 ? m[1] : `${m[1]}{${labels.join(",")}}`;
    assert.ok(!samples.has(key), `sample twice: ${key}`);
    samples.set(key, Number(m[3]));
  }
  return samples;
}

/** The `# TYPE` of every metric in an exposition text. */
function parseTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1], m[2]);
  return types;
}

/** The key {@linkcode parseSamples} gives a sample. */
function key(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort();
  return parts.length === 0 ? name : `${name}{${parts.join(",")}}`;
}

/** The samples of `metrics` now. */
async function scrape(metrics: MemberMetrics): Promise<Map<string, number>> {
  return parseSamples(await metrics.render());
}

/** The value of one sample; fails if it is not rendered. */
function value(
  samples: Map<string, number>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const k = key(name, labels);
  const v = samples.get(k);
  assert.ok(v !== undefined, `no sample ${k}; have ${[...samples.keys()].join(" ")}`);
  return v;
}

/** Samples of metric `name` (any labels). */
function series(samples: Map<string, number>, name: string): string[] {
  return [...samples.keys()].filter((k) => k === name || k.startsWith(`${name}{`));
}

/** A fresh MemberMetrics and a log through it (into a MemoryLog). */
function setup(): {
  metrics: MemberMetrics;
  inner: MemoryLog;
  log: ReturnType<MemberMetrics["wrap"]>;
} {
  const metrics = new MemberMetrics({ member: "Hill" });
  const inner = new MemoryLog();
  return { metrics, inner, log: metrics.wrap(inner) };
}

/** `msg.in` fields as a session logs them. */
function msgIn(line: string, extra: EventFields = {}): EventFields {
  return {
    conn: 1,
    remote: "127.0.0.1:5000",
    peer: undefined,
    line,
    overlong: undefined,
    ...extra,
  };
}

/** A source whose values the test changes. */
class FakeSource implements MetricsSource {
  linkList: LinkSample[] = [];
  conns = 0;
  recordCount = 0;
  syncCounts: SyncSample = { digests: 0, bytesSent: 0, recordsSent: 0 };
  streamCounts: StreamSample = { subscribers: 0, droppedTotal: 0, stuckClosedTotal: 0 };
  links(): Iterable<LinkSample> {
    return this.linkList;
  }
  connections(): number {
    return this.conns;
  }
  records(): number {
    return this.recordCount;
  }
  sync(): SyncSample {
    return this.syncCounts;
  }
  streams(): StreamSample {
    return this.streamCounts;
  }
}

Deno.test("wrap() passes every event on unchanged, in order, counted or not", () => {
  const { inner, log } = setup();
  const sent: Array<{ level: EventLevel; event: EventName; fields: EventFields }> = [
    { level: "info", event: "msg.in", fields: msgIn("IAMAT kiwi +1+1 1") },
    { level: "info", event: "reply.out", fields: { conn: 1, reply: "? x", reason: "bad skew" } },
    { level: "debug", event: "record.stored", fields: { peer: "Bailey", client: "kiwi" } },
    { level: "info", event: "member.listening", fields: { address: "127.0.0.1:1" } },
    { level: "warning", event: "peer.link.dropped", fields: { peer: "Bailey", reason: "x" } },
    { level: "info", event: "places.stats", fields: { provider: "geonames", hits: 1 } },
    { level: "error", event: "error", fields: { reason: "boom" } },
    { level: "debug", event: "conn.open", fields: { conn: 2, remote: "127.0.0.1:2" } },
  ];
  for (const e of sent) log.emit(e.level, e.event, e.fields);
  assert.equal(inner.events.length, sent.length);
  for (let i = 0; i < sent.length; i++) {
    assert.equal(inner.events[i].level, sent[i].level);
    assert.equal(inner.events[i].event, sent[i].event);
    // The very object: nothing copied or changed on the way.
    assert.strictEqual(inner.events[i].fields, sent[i].fields);
  }
  assert.deepEqual(sent[0].fields, msgIn("IAMAT kiwi +1+1 1"));
});

Deno.test("lineKind() names a line by its first word, case-sensitive", () => {
  const table: Array<[string, string]> = [
    ["IAMAT kiwi +34-118 1621464827.95", "IAMAT"],
    ["WHATSAT kiwi 10 5", "WHATSAT"],
    ["AT Hill +0.1 kiwi +1+1 1", "AT"],
    ["HERD 1 Bailey ts=1 nonce=2 mac=3", "HERD"],
    ["DIGEST - 0:0 0:0", "DIGEST"],
    ["ASK 0 1", "ASK"],
    ["HAVE 0 1:2", "HAVE"],
    ["WANT 0", "WANT"],
    ["IHAVE kiwi 1", "IHAVE"],
    ["GRAFT kiwi 1", "GRAFT"],
    ["PRUNE", "PRUNE"],
    ["IHAV kiwi 1", "other"],
    ["GRAFTS", "other"],
    ["P", "other"],
    [" \t\v\f\rIAMAT x", "IAMAT"],
    ["WHATSAT", "WHATSAT"],
    ["AT\tx", "AT"],
    ["iamat kiwi +1+1 1", "other"],
    ["IAMATX kiwi", "other"],
    ["WHATSATS kiwi 1 1", "other"],
    ["ATX", "other"],
    ["A", "other"],
    ["I", "other"],
    ["W", "other"],
    ["WHAT kiwi", "other"],
    ["WANTS 0", "other"],
    ["ASKS 0", "other"],
    ["AS 0", "other"],
    ["HAVEN 0", "other"],
    ["HERDS 1 x", "other"],
    ["HER", "other"],
    ["DIGESTS - x", "other"],
    ["D", "other"],
    ["IAMAT\nkiwi", "IAMAT"],
    ["WANT\r", "WANT"],
    ["", "other"],
    ["   ", "other"],
    ["x".repeat(20_000), "other"],
    ["\u00a0IAMAT kiwi", "other"],
    ["ÅT x", "other"],
  ];
  for (const [line, kind] of table) assert.equal(lineKind(line), kind, JSON.stringify(line));
});

Deno.test("lineKind() agrees with the protocol's field splitting on random lines", () => {
  const random = seeded(11);
  const pieces = [...LINE_KINDS, "I", "W", "A", "H", "D", "AS", "WH", "HE", "x", "kiwi", "+1-2"];
  const spaces = [" ", "\t", "\n", "\v", "\f", "\r", "\u00a0", "\u0085", ""];
  for (let n = 0; n < 5_000; n++) {
    let line = "";
    for (let k = randomInt(random, 5); k >= 0; k--) {
      line += pick(random, spaces) + pick(random, pieces) + pick(random, spaces);
    }
    const first = splitFields(line)[0];
    const expected = LINE_KINDS.includes(first as never) && first !== "other" ? first : "other";
    assert.equal(lineKind(line), expected, JSON.stringify(line));
  }
});

Deno.test("MemberMetrics counts msg.in by kind, source and via, and lines per neighbour", async () => {
  const { metrics, log } = setup();
  log.emit("info", "msg.in", msgIn("IAMAT kiwi +1+1 1"));
  log.emit("info", "msg.in", msgIn("IAMAT kiwi +1+1 2"));
  log.emit("info", "msg.in", msgIn("WHATSAT kiwi 10 5"));
  log.emit("info", "msg.in", msgIn("nonsense"));
  log.emit("info", "msg.in", msgIn(""));
  log.emit("info", "msg.in", msgIn("IAMAT y", { overlong: true }));
  log.emit("info", "msg.in", { conn: 9, remote: "127.0.0.1:1", via: "http", line: "IAMAT a b c" });
  log.emit("info", "msg.in", msgIn("AT Hill +0.1 kiwi +1+1 1", { peer: "Bailey" }));
  log.emit("info", "msg.in", msgIn("DIGEST - x", { peer: "Bailey" }));
  log.emit("info", "msg.in", msgIn("HERD 1 Hill", { peer: "Campbell" }));
  const s = await scrape(metrics);
  const lines = (kind: string, source: string, via = "tcp") =>
    value(s, "herd_lines_in_total", { kind, source, via });
  assert.equal(lines("IAMAT", "client"), 3);
  assert.equal(lines("WHATSAT", "client"), 1);
  assert.equal(lines("other", "client"), 2);
  assert.equal(lines("IAMAT", "client", "http"), 1);
  assert.equal(lines("AT", "peer"), 1);
  assert.equal(lines("DIGEST", "peer"), 1);
  assert.equal(lines("HERD", "peer"), 1);
  // Only combinations seen are rendered.
  assert.equal(series(s, "herd_lines_in_total").length, 7);
  assert.equal(value(s, "herd_received_lines_total", { peer: "Bailey" }), 2);
  assert.equal(value(s, "herd_received_lines_total", { peer: "Campbell" }), 1);
  assert.equal(series(s, "herd_received_lines_total").length, 2);
});

Deno.test("MemberMetrics counts every line of a read logged as one msg.in with lines", async () => {
  const { metrics, log } = setup();
  log.emit("info", "msg.in", {
    conn: 3,
    remote: "127.0.0.1:1",
    peer: "Bailey",
    lines: ["AT Hill +0.1 kiwi +1+1 1 tree", "AT Hill +0.1 emu +1+1 1", "IHAVE owl 2", "PRUNE"],
  });
  log.emit("info", "msg.in", { conn: 4, remote: "127.0.0.1:2", lines: ["IAMAT a b c", "x"] });
  const s = await scrape(metrics);
  const lines = (kind: string, source: string) =>
    value(s, "herd_lines_in_total", { kind, source, via: "tcp" });
  assert.deepEqual(
    [lines("AT", "peer"), lines("IHAVE", "peer"), lines("PRUNE", "peer")],
    [2, 1, 1],
  );
  assert.deepEqual([lines("IAMAT", "client"), lines("other", "client")], [1, 1]);
  assert.equal(value(s, "herd_received_lines_total", { peer: "Bailey" }), 4);
});

Deno.test("MemberMetrics counts reply.out as ok or invalid, invalid ones by a bounded reason", async () => {
  const { metrics, log } = setup();
  const reply = (reason?: string) =>
    log.emit("info", "reply.out", { conn: 1, remote: "r", reply: "x", reason });
  reply();
  reply();
  reply();
  reply("unknown command");
  reply("unknown command");
  reply("line too long");
  reply("something a newer member says"); // not one of INVALID_REASONS
  log.emit("info", "reply.out", { conn: 1, remote: "r", via: "http", reply: "AT ..." });
  // The replies of one write.
  log.emit("info", "reply.out", { conn: 1, remote: "r", replies: ["AT 1", "AT 2", "AT 3"] });
  const s = await scrape(metrics);
  assert.equal(value(s, "herd_replies_total", { result: "ok" }), 7);
  assert.equal(value(s, "herd_replies_total", { result: "invalid" }), 4);
  assert.equal(value(s, "herd_invalid_replies_total", { reason: "unknown command" }), 2);
  assert.equal(value(s, "herd_invalid_replies_total", { reason: "line too long" }), 1);
  assert.equal(value(s, "herd_invalid_replies_total", { reason: "other" }), 1);
  assert.equal(series(s, "herd_invalid_replies_total").length, 3);
});

Deno.test("MemberMetrics renders every INVALID_REASONS value as its own label", async () => {
  const { metrics, log } = setup();
  for (const reason of INVALID_REASONS) {
    log.emit("info", "reply.out", { conn: 1, remote: "r", reply: "? x", reason });
  }
  const s = await scrape(metrics);
  for (const reason of INVALID_REASONS) {
    assert.equal(value(s, "herd_invalid_replies_total", { reason }), 1, reason);
  }
  assert.equal(value(s, "herd_replies_total", { result: "invalid" }), INVALID_REASONS.length);
});

Deno.test("MemberMetrics counts stored records by recordStored() only, not record.stored", async () => {
  const { metrics, log } = setup();
  let s = await scrape(metrics);
  assert.equal(value(s, "herd_records_stored_total", { source: "client" }), 0);
  assert.equal(value(s, "herd_records_stored_total", { source: "peer" }), 0);
  metrics.recordStored(false);
  metrics.recordStored(false);
  metrics.recordStored(true);
  // The same neighbour's record, logged: it must not be counted a second time.
  log.emit("debug", "record.stored", { peer: "Bailey", client: "kiwi", forwardedTo: 2 });
  s = await scrape(metrics);
  assert.equal(value(s, "herd_records_stored_total", { source: "client" }), 2);
  assert.equal(value(s, "herd_records_stored_total", { source: "peer" }), 1);
});

Deno.test("MemberMetrics counts links, sync runs, errors and connections from their events", async () => {
  const { metrics, log } = setup();
  log.emit("warning", "peer.link.dropped", { peer: "Bailey", address: "a", reason: "x" });
  log.emit("warning", "peer.link.dropped", { peer: "Bailey", address: "a", reason: "y" });
  log.emit("warning", "peer.link.dropped", { peer: "Jaquez", address: "a", reason: "x" });
  log.emit("info", "sync.start", { peer: "Bailey", reason: "link up", records: 3 });
  log.emit("info", "sync.start", { peer: "Bailey", reason: "periodic", records: 3 });
  log.emit("info", "sync.start", { peer: "Jaquez", reason: "periodic", records: 3 });
  log.emit("info", "sync.start", { peer: "Jaquez", reason: "queue overflowed", records: 3 });
  log.emit("info", "sync.start", { peer: "Jaquez", reason: "a new reason", records: 3 });
  log.emit("error", "error", { reason: "accept failed" });
  log.emit("error", "error", { reason: "cannot persist record" });
  log.emit("warning", "peer.invalid", { peer: "Bailey", reason: "x" });
  log.emit("warning", "peer.invalid", { peer: undefined, reason: "x" });
  log.emit("debug", "conn.open", { conn: 1, remote: "r" });
  log.emit("debug", "conn.open", { conn: 2, remote: "r" });
  log.emit("debug", "conn.open", { conn: 3, remote: "r" });
  log.emit("warning", "conn.refused", { reason: "over", refused: 5 });
  log.emit("warning", "conn.refused", { reason: "over", refused: 2 });
  const s = await scrape(metrics);
  assert.equal(value(s, "herd_link_drops_total", { peer: "Bailey" }), 2);
  assert.equal(value(s, "herd_link_drops_total", { peer: "Jaquez" }), 1);
  assert.equal(value(s, "herd_sync_runs_total", { reason: "link up" }), 1);
  assert.equal(value(s, "herd_sync_runs_total", { reason: "periodic" }), 2);
  assert.equal(value(s, "herd_sync_runs_total", { reason: "queue overflowed" }), 1);
  assert.equal(value(s, "herd_sync_runs_total", { reason: "other" }), 1);
  assert.equal(value(s, "herd_errors_total"), 2);
  assert.equal(value(s, "herd_peer_invalid_lines_total", { peer: "Bailey" }), 1);
  assert.equal(value(s, "herd_peer_invalid_lines_total", { peer: "unknown" }), 1);
  assert.equal(value(s, "herd_connections_accepted_total"), 3);
  assert.equal(value(s, "herd_connections_refused_total"), 7);
});

Deno.test("MemberMetrics reads places events: upstream histogram, errors, latest cache stats", async () => {
  const { metrics, log } = setup();
  let s = await scrape(metrics);
  assert.equal(value(s, "herd_places_cache_hits_total"), 0);
  assert.equal(value(s, "herd_places_upstream_seconds_count"), 0);
  for (const ms of [3, 40.5, 40.5, 700, 12_000]) {
    log.emit("debug", "places.upstream", { provider: "google", status: 200, ms });
  }
  log.emit("debug", "places.upstream", { provider: "google", status: null, ms: undefined });
  log.emit("warning", "places.error", { provider: "google", status: "OVER_QUERY_LIMIT" });
  log.emit("error", "places.error", { provider: "google", reason: "rejected" });
  const stats = (hits: number, misses: number, entries: number): EventFields => ({
    provider: "google",
    final: false,
    hits,
    misses,
    coalesced: 1,
    upstreamCalls: misses - 1,
    errors: 1,
    entries,
    upstreamMsAvg: 10,
    upstreamMsMax: 20,
  });
  log.emit("info", "places.stats", stats(10, 4, 3));
  // Each event carries totals since the cache was made: the latest replaces, never adds.
  log.emit("info", "places.stats", stats(25, 6, 2));
  s = await scrape(metrics);
  const bucket = (le: string) => value(s, "herd_places_upstream_seconds_bucket", { le });
  assert.equal(bucket("0.005"), 1);
  assert.equal(bucket("0.025"), 1);
  assert.equal(bucket("0.05"), 3);
  assert.equal(bucket("0.5"), 3);
  assert.equal(bucket("1"), 4);
  assert.equal(bucket("10"), 4);
  assert.equal(bucket("30"), 5);
  assert.equal(bucket("+Inf"), 5);
  assert.equal(value(s, "herd_places_upstream_seconds_count"), 5);
  assert.ok(Math.abs(value(s, "herd_places_upstream_seconds_sum") - 12.784) < 1e-9);
  assert.equal(value(s, "herd_places_errors_total"), 2);
  assert.equal(value(s, "herd_places_cache_hits_total"), 25);
  assert.equal(value(s, "herd_places_cache_misses_total"), 6);
  assert.equal(value(s, "herd_places_cache_coalesced_total"), 1);
  assert.equal(value(s, "herd_places_upstream_calls_total"), 5);
  assert.equal(value(s, "herd_places_upstream_errors_total"), 1);
  assert.equal(value(s, "herd_places_cache_entries"), 2);
});

Deno.test("MemberMetrics.attach() values appear at render and follow the source", async () => {
  const { metrics } = setup();
  let s = await scrape(metrics);
  assert.equal(series(s, "herd_records").length, 0, "no source, no source metrics");
  assert.equal(series(s, "herd_link_up").length, 0);

  const src = new FakeSource();
  src.linkList = [
    { peer: "Bailey", state: "welcomed", sent: 10, droppedTotal: 0, queued: 2 },
    { peer: "Jaquez", state: "down", sent: 4, droppedTotal: 3, queued: 1 },
  ];
  src.conns = 5;
  src.recordCount = 100;
  src.syncCounts = { digests: 2, bytesSent: 800, recordsSent: 7 };
  src.streamCounts = { subscribers: 3, droppedTotal: 11, stuckClosedTotal: 1 };
  metrics.attach(src);
  s = await scrape(metrics);
  assert.equal(value(s, "herd_link_up", { peer: "Bailey" }), 1);
  assert.equal(value(s, "herd_link_up", { peer: "Jaquez" }), 0);
  assert.equal(value(s, "herd_flood_lines_sent_total", { peer: "Bailey" }), 10);
  assert.equal(value(s, "herd_flood_lines_sent_total", { peer: "Jaquez" }), 4);
  assert.equal(value(s, "herd_flood_lines_dropped_total", { peer: "Bailey" }), 0);
  assert.equal(value(s, "herd_flood_lines_dropped_total", { peer: "Jaquez" }), 3);
  assert.equal(value(s, "herd_link_queued_lines", { peer: "Bailey" }), 2);
  assert.equal(value(s, "herd_link_queued_lines", { peer: "Jaquez" }), 1);
  assert.equal(value(s, "herd_open_connections"), 5);
  assert.equal(value(s, "herd_records"), 100);
  assert.equal(value(s, "herd_sync_digests_total"), 2);
  assert.equal(value(s, "herd_sync_bytes_sent_total"), 800);
  assert.equal(value(s, "herd_sync_records_sent_total"), 7);
  assert.equal(value(s, "herd_stream_subscribers"), 3);
  assert.equal(value(s, "herd_stream_events_dropped_total"), 11);
  assert.equal(value(s, "herd_stream_subscribers_closed_slow_total"), 1);

  // The live objects move; so does the next scrape (set, not added to the last one).
  src.linkList = [
    { peer: "Bailey", state: "hello sent", sent: 12, droppedTotal: 1, queued: 0 },
    { peer: "Jaquez", state: "welcomed", sent: 9, droppedTotal: 3, queued: 0 },
  ];
  src.conns = 1;
  src.recordCount = 150;
  src.syncCounts = { digests: 5, bytesSent: 900, recordsSent: 7 };
  src.streamCounts = { subscribers: 0, droppedTotal: 12, stuckClosedTotal: 2 };
  s = await scrape(metrics);
  assert.equal(value(s, "herd_link_up", { peer: "Bailey" }), 0);
  assert.equal(value(s, "herd_link_up", { peer: "Jaquez" }), 1);
  assert.equal(value(s, "herd_flood_lines_sent_total", { peer: "Bailey" }), 12);
  assert.equal(value(s, "herd_flood_lines_sent_total", { peer: "Jaquez" }), 9);
  assert.equal(value(s, "herd_flood_lines_dropped_total", { peer: "Bailey" }), 1);
  assert.equal(value(s, "herd_link_queued_lines", { peer: "Bailey" }), 0);
  assert.equal(value(s, "herd_open_connections"), 1);
  assert.equal(value(s, "herd_records"), 150);
  assert.equal(value(s, "herd_sync_digests_total"), 5);
  assert.equal(value(s, "herd_sync_bytes_sent_total"), 900);
  assert.equal(value(s, "herd_stream_subscribers"), 0);
  assert.equal(value(s, "herd_stream_events_dropped_total"), 12);
  assert.equal(value(s, "herd_stream_subscribers_closed_slow_total"), 2);

  // A link that is gone (member stopped) leaves no stale series behind.
  src.linkList = [];
  s = await scrape(metrics);
  for (const name of ["herd_link_up", "herd_flood_lines_sent_total", "herd_link_queued_lines"]) {
    assert.deepEqual(series(s, name), [], name);
  }

  // A second attach() replaces the source without registering twice.
  const other = new FakeSource();
  other.recordCount = 1;
  metrics.attach(other);
  s = await scrape(metrics);
  assert.equal(value(s, "herd_records"), 1);
});

Deno.test("MemberMetrics.render() rejects when the source throws", async () => {
  const { metrics } = setup();
  const src = new FakeSource();
  src.records = () => {
    throw new Error("store gone");
  };
  metrics.attach(src);
  await assert.rejects(metrics.render(), /store gone/);
});

Deno.test("MemberMetrics.observeHttp() counts requests and fills duration buckets", async () => {
  const { metrics } = setup();
  metrics.observeHttp("GET", "/v1/clients/:id", 200, 0.0004);
  metrics.observeHttp("GET", "/v1/clients/:id", 200, 0.003);
  metrics.observeHttp("GET", "/v1/clients/:id", 404, 0.0005);
  metrics.observeHttp("POST", "/v1/iamat", 200, 7);
  metrics.observeHttp("GET", "/metrics", 200, 0);
  const s = await scrape(metrics);
  const requests = (method: string, route: string, status: string) =>
    value(s, "herd_http_requests_total", { method, route, status });
  assert.equal(requests("GET", "/v1/clients/:id", "200"), 2);
  assert.equal(requests("GET", "/v1/clients/:id", "404"), 1);
  assert.equal(requests("POST", "/v1/iamat", "200"), 1);
  assert.equal(requests("GET", "/metrics", "200"), 1);
  assert.equal(series(s, "herd_http_requests_total").length, 4);

  const bucket = (method: string, route: string, le: string) =>
    value(s, "herd_http_request_duration_seconds_bucket", { method, route, le });
  // Status is no label of the histogram: the 200s and the 404 share a series.
  assert.equal(bucket("GET", "/v1/clients/:id", "0.0005"), 2); // le is inclusive
  assert.equal(bucket("GET", "/v1/clients/:id", "0.001"), 2);
  assert.equal(bucket("GET", "/v1/clients/:id", "0.0025"), 2);
  assert.equal(bucket("GET", "/v1/clients/:id", "0.005"), 3);
  assert.equal(bucket("GET", "/v1/clients/:id", "+Inf"), 3);
  assert.equal(
    value(s, "herd_http_request_duration_seconds_count", {
      method: "GET",
      route: "/v1/clients/:id",
    }),
    3,
  );
  assert.equal(bucket("POST", "/v1/iamat", "5"), 0);
  assert.equal(bucket("POST", "/v1/iamat", "+Inf"), 1);
  assert.equal(bucket("GET", "/metrics", "0.0005"), 1);
  // Every configured bound, plus +Inf, for each (method, route).
  const les = series(s, "herd_http_request_duration_seconds_bucket")
    .filter((k) => k.includes('route="/metrics"'));
  assert.equal(les.length, HTTP_DURATION_BUCKETS_S.length + 1);
});

Deno.test("MemberMetrics.observeHttp() rejects a negative or non-finite duration", () => {
  const { metrics } = setup();
  for (const bad of [-0.001, NaN, Infinity]) {
    assert.throws(() => metrics.observeHttp("GET", "/", 200, bad), RangeError, String(bad));
  }
});

Deno.test("MemberMetrics instances share no counts and leave the global registry alone", async () => {
  const a = setup();
  const b = setup();
  a.log.emit("info", "msg.in", msgIn("IAMAT kiwi +1+1 1"));
  a.log.emit("info", "msg.in", msgIn("IAMAT kiwi +1+1 2"));
  b.log.emit("info", "msg.in", msgIn("IAMAT kiwi +1+1 3"));
  a.log.emit("error", "error", { reason: "x" });
  a.metrics.recordStored(true);
  b.metrics.observeHttp("GET", "/metrics", 200, 0.001);
  const src = new FakeSource();
  src.recordCount = 9;
  a.metrics.attach(src);
  const sa = await scrape(a.metrics);
  const sb = await scrape(b.metrics);
  const iamat = { kind: "IAMAT", source: "client", via: "tcp" };
  assert.equal(value(sa, "herd_lines_in_total", iamat), 2);
  assert.equal(value(sb, "herd_lines_in_total", iamat), 1);
  assert.equal(value(sa, "herd_errors_total"), 1);
  assert.equal(value(sb, "herd_errors_total"), 0);
  assert.equal(value(sa, "herd_records_stored_total", { source: "peer" }), 1);
  assert.equal(value(sb, "herd_records_stored_total", { source: "peer" }), 0);
  assert.equal(series(sa, "herd_http_requests_total").length, 0);
  assert.equal(series(sb, "herd_http_requests_total").length, 1);
  assert.equal(value(sa, "herd_records"), 9);
  assert.equal(series(sb, "herd_records").length, 0);
  assert.equal(
    globalRegistry.getMetricsAsArray().filter((m) => m.name.startsWith("herd_")).length,
    0,
  );
});

/** Every metric, in the order rendered once a source is attached, with its type. */
const METRIC_TYPES: Array<[string, string]> = [
  ["herd_lines_in_total", "counter"],
  ["herd_received_lines_total", "counter"],
  ["herd_replies_total", "counter"],
  ["herd_invalid_replies_total", "counter"],
  ["herd_records_stored_total", "counter"],
  ["herd_records_expired_total", "counter"],
  ["herd_records_refused_total", "counter"],
  ["herd_peer_invalid_lines_total", "counter"],
  ["herd_connections_accepted_total", "counter"],
  ["herd_connections_refused_total", "counter"],
  ["herd_link_drops_total", "counter"],
  ["herd_sync_runs_total", "counter"],
  ["herd_places_upstream_seconds", "histogram"],
  ["herd_places_errors_total", "counter"],
  ["herd_places_cache_hits_total", "counter"],
  ["herd_places_cache_misses_total", "counter"],
  ["herd_places_cache_coalesced_total", "counter"],
  ["herd_places_upstream_calls_total", "counter"],
  ["herd_places_upstream_errors_total", "counter"],
  ["herd_places_cache_entries", "gauge"],
  ["herd_errors_total", "counter"],
  ["herd_http_requests_total", "counter"],
  ["herd_http_request_duration_seconds", "histogram"],
  ["herd_link_up", "gauge"],
  ["herd_flood_lines_sent_total", "counter"],
  ["herd_flood_lines_dropped_total", "counter"],
  ["herd_link_queued_lines", "gauge"],
  ["herd_open_connections", "gauge"],
  ["herd_records", "gauge"],
  ["herd_sync_digests_total", "counter"],
  ["herd_sync_bytes_sent_total", "counter"],
  ["herd_sync_records_sent_total", "counter"],
  ["herd_stream_subscribers", "gauge"],
  ["herd_stream_events_dropped_total", "counter"],
  ["herd_stream_subscribers_closed_slow_total", "counter"],
];

Deno.test("MemberMetrics declares each metric's type, totals as counters", async () => {
  const { metrics } = setup();
  assert.deepEqual([...parseTypes(await metrics.render())], METRIC_TYPES.slice(0, 23));
  metrics.attach(new FakeSource());
  const text = await metrics.render();
  assert.deepEqual([...parseTypes(text)], METRIC_TYPES);
  for (const [name, type] of METRIC_TYPES) {
    // Totals end in _total, and only totals do.
    assert.equal(name.endsWith("_total"), type === "counter", name);
  }
  assert.equal(metrics.contentType, "text/plain; version=0.0.4; charset=utf-8");
  // The text ends with a newline, as the format wants.
  assert.ok(text.endsWith("\n"));
});

Deno.test("LINE_KINDS ends with other, which lineKind() returns for no command", () => {
  assert.equal(LINE_KINDS[LINE_KINDS.length - 1], "other");
  assert.equal(new Set(LINE_KINDS).size, LINE_KINDS.length);
});

Deno.test("MemberMetrics.linesIn and linesFrom() count every msg.in and each neighbour's, for /v1/herd's rates", () => {
  const { metrics, log } = setup();
  assert.equal(metrics.linesIn, 0);
  log.emit("info", "msg.in", msgIn("IAMAT kiwi +34-118 1"));
  log.emit("info", "msg.in", msgIn("", {}));
  log.emit("info", "msg.in", msgIn("AT Smith +0.1 kiwi +34-118 1", { peer: "Smith" }));
  log.emit("info", "msg.in", msgIn("WHATSAT kiwi 10 1", { via: "http" }));
  log.emit("info", "reply.out", { conn: 1, reply: "AT ..." });
  assert.equal(metrics.linesIn, 4);
  assert.equal(metrics.linesFrom("Smith"), 1);
  assert.equal(metrics.linesFrom("Hill"), 0);
});

Deno.test("MemberMetrics counts records expired by the sweep and refused as expired on arrival", async () => {
  const { metrics, log } = setup();
  let s = await scrape(metrics);
  assert.equal(value(s, "herd_records_expired_total", {}), 0);
  assert.equal(value(s, "herd_records_refused_total", { reason: "expired" }), 0);
  log.emit("info", "record.expired", { records: 1000, clients: [], oldest: "1", newest: "2" });
  log.emit("info", "record.expired", { records: 5, clients: [], oldest: "3", newest: "4" });
  log.emit("info", "record.refused", { conn: 1, reason: "expired", client: "kiwi" });
  log.emit("info", "record.refused", { conn: 2, reason: "expired", clients: ["a", "b", "c"] });
  s = await scrape(metrics);
  assert.equal(value(s, "herd_records_expired_total", {}), 1005);
  assert.equal(value(s, "herd_records_refused_total", { reason: "expired" }), 4);
});

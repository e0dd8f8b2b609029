import assert from "node:assert/strict";
import { buildProgram } from "../../src/cli/program.ts";
import { type RunningMember, startMember } from "../../src/cli/serve.ts";
import {
  formatEvent,
  parseNear,
  streamUrl,
  watch,
  type WatchOptions,
} from "../../src/cli/watch.ts";
import { UserError } from "../../src/cli/args.ts";
import { type HerdConfig, testConfig } from "../../src/config.ts";
import { waitFor } from "../_harness.ts";
import { noPlaces } from "../_no_places.ts";
import { assertUserError, freePort, runHerd, spawnHerd } from "./_cli.ts";

// ---- pure parts ----

Deno.test("parseNear() takes lat,lng,r_km and rejects anything else", async (t) => {
  const good: Array<[string, { lat: string; lng: string; radiusKm: string }]> = [
    ["34.06,-118.44,5", { lat: "34.06", lng: "-118.44", radiusKm: "5" }],
    ["+34.06, -118.44 , 0.5", { lat: "34.06", lng: "-118.44", radiusKm: "0.5" }],
    ["-90,180,20038", { lat: "-90", lng: "180", radiusKm: "20038" }],
    ["0,0,1e-3", { lat: "0", lng: "0", radiusKm: "1e-3" }],
  ];
  for (const [text, circle] of good) {
    await t.step(`accepts ${text}`, () => assert.deepEqual(parseNear(text), circle));
  }
  const bad: Array<[string, RegExp]> = [
    ["34.06,-118.44", /lat,lng,r_km/],
    ["34.06,-118.44,5,1", /lat,lng,r_km/],
    ["north,-118.44,5", /lat,lng,r_km/],
    ["1e1,0,5", /lat,lng,r_km/],
    ["90.5,0,5", /latitude must be -90\.\.90/],
    ["0,-180.1,5", /longitude must be -180\.\.180/],
    ["0,0,0", /0 < r <= 20038/],
    ["0,0,-1", /0 < r <= 20038/],
    ["0,0,20039", /0 < r <= 20038/],
    ["0,0,Infinity", /0 < r <= 20038/],
    ["0,0,", /0 < r <= 20038/],
  ];
  for (const [text, message] of bad) {
    await t.step(`rejects ${text}`, () => {
      assert.throws(
        () => parseNear(text),
        (e) => e instanceof UserError && message.test(e.message),
      );
    });
  }
});

Deno.test("streamUrl() builds the ws URL of /v1/stream with the filter as its query", async (t) => {
  const near = { lat: "34.06", lng: "-118.44", radiusKm: "5" };
  const table: Array<[string, Parameters<typeof streamUrl>[1], string]> = [
    ["localhost:11590", {}, "ws://localhost:11590/v1/stream"],
    ["11590", {}, "ws://127.0.0.1:11590/v1/stream"],
    ["[::1]:11590", {}, "ws://[::1]:11590/v1/stream"],
    ["http://127.0.0.1:11590", {}, "ws://127.0.0.1:11590/v1/stream"],
    ["https://herd.example:443/x?y=1", {}, "wss://herd.example/v1/stream"],
    [
      "h:1",
      { clients: ["kiwi", "a&b", "🥝"] },
      "ws://h:1/v1/stream?client=kiwi&client=a%26b&client=%F0%9F%A5%9D",
    ],
    ["h:1", { near }, "ws://h:1/v1/stream?near=34.06%2C-118.44&radius_km=5"],
  ];
  for (const [target, filter, url] of table) {
    await t.step(`${target} ${JSON.stringify(filter)}`, () => {
      assert.equal(streamUrl(target, filter), url);
    });
  }
  const bad: Array<[string, Parameters<typeof streamUrl>[1], RegExp]> = [
    ["localhost", {}, /invalid address/],
    ["h:70000", {}, /invalid address/],
    ["h:1", { clients: ["a b"] }, /invalid --client "a b"/],
    ["h:1", { clients: [""] }, /invalid --client ""/],
    ["h:1", { clients: ["kiwi"], near }, /--client or --near, not both/],
  ];
  for (const [target, filter, message] of bad) {
    await t.step(`rejects ${target} ${JSON.stringify(filter)}`, () => {
      assert.throws(
        () => streamUrl(target, filter),
        (e) => e instanceof UserError && message.test(e.message),
      );
    });
  }
});

Deno.test("formatEvent() prints a line per record event and a warning for the rest", async (t) => {
  const at = new Date(2026, 11, 1, 4, 1, 2, 45);
  const record = {
    server: "Campbell",
    skew: "+0.000049316",
    client: "kiwi",
    location: "+34.100000-118.200000",
    time: "1796098695.270574219",
    at: "AT Campbell +0.000049316 kiwi +34.100000-118.200000 1796098695.270574219",
  };
  const table: Array<[string, string, ReturnType<typeof formatEvent>]> = [
    [
      "update",
      JSON.stringify({ type: "update", record }),
      { out: "04:01:02.045 update kiwi +34.100000-118.200000 (Campbell)" },
    ],
    [
      "enter",
      JSON.stringify({ type: "enter", record }),
      { out: "04:01:02.045 enter kiwi +34.100000-118.200000 (Campbell)" },
    ],
    [
      "control characters in a field",
      JSON.stringify({ type: "update", record: { ...record, client: "k\x1b[2Ji\u0085" } }),
      { out: "04:01:02.045 update k\\x1b[2Ji\\x85 +34.100000-118.200000 (Campbell)" },
    ],
    [
      "erased",
      JSON.stringify({ type: "erased", client: "kiwi", server: "Hill", time: "1796098695.3" }),
      { out: "04:01:02.045 erased kiwi (Hill)" },
    ],
    [
      "lagged",
      JSON.stringify({ type: "lagged", dropped: 17 }),
      { warn: "this watcher fell behind: the member dropped 17 events" },
    ],
    [
      "an unknown type",
      JSON.stringify({ type: "hello", n: 1 }),
      { out: '04:01:02.045 hello {"n":1}' },
    ],
    ["not JSON", "{oops", { warn: 'not a stream event, skipped: "{oops"' }],
    ["no type", "[1,2]", { warn: 'not a stream event, skipped: "[1,2]"' }],
  ];
  for (const [name, text, line] of table) {
    await t.step(name, () => assert.deepEqual(formatEvent(text, at), line));
  }
});

Deno.test("herd watch flags become watch() options", async (t) => {
  const table: Array<[string[], string, Partial<WatchOptions>]> = [
    [["watch", "h:1"], "h:1", { clients: [], json: false }],
    [
      ["watch", "--client", "kiwi", "--client", "pear", "--json", "h:1"],
      "h:1",
      { clients: ["kiwi", "pear"], json: true },
    ],
    [
      ["watch", "--near", "34.06,-118.44,5", "--token", "t0k", "h:1"],
      "h:1",
      { clients: [], near: "34.06,-118.44,5", token: "t0k", json: false },
    ],
  ];
  for (const [args, target, opts] of table) {
    await t.step(args.join(" "), async () => {
      let got: { target: string; opts: WatchOptions } | undefined;
      const { program, result } = buildProgram({
        watch: (target, opts) => {
          got = { target, opts };
          return Promise.resolve(1);
        },
      });
      await program.parseAsync(args, { from: "user" });
      assert.equal(result.code, 1);
      assert.equal(got?.target, target);
      assert.deepEqual(got?.opts, { near: undefined, token: undefined, ...opts });
    });
  }
});

Deno.test("herd watch --help fits in 80 columns", async () => {
  const r = await runHerd(["watch", "--help"]);
  assert.equal(r.code, 0);
  for (const line of r.stdout.split("\n")) assert.ok(line.length <= 80, line);
  assert.match(r.stdout, /--near <lat,lng,r_km>/);
});

// ---- against a member ----

/** One member with an HTTP face on port 0, as `herd serve` runs it. */
async function startOne(token?: string): Promise<{ running: RunningMember; target: string }> {
  const base = testConfig();
  const config: HerdConfig = {
    ...base,
    servers: [{ ...base.servers[0], httpPort: 1 }],
    links: [],
    http: { corsOrigins: [], ...(token === undefined ? {} : { token }) },
  };
  const running = await startMember(config, config.servers[0].name, noPlaces(), {
    portZero: true,
  });
  return { running, target: `127.0.0.1:${running.face!.address.port}` };
}

/** PUTs a location for `client` at `target`; asserts 200. */
async function putLocation(
  target: string,
  client: string,
  location: string,
  token?: string,
): Promise<void> {
  const res = await fetch(`http://${target}/v1/clients/${client}/location`, {
    method: "PUT",
    headers: {
      "content-type": "application/json",
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ location }),
  });
  assert.equal(res.status, 200, await res.text());
}

/** watch() in this process, its lines collected, stopped by `stop()`. */
function watchHere(target: string, opts: Partial<WatchOptions> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  let stop!: () => void;
  const stopped = new Promise<void>((r) => stop = r);
  const code = watch(target, {
    clients: [],
    json: false,
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    stop: stopped,
    ...opts,
  });
  return { out, err, stop, code };
}

const LINE_TIME = /^\d\d:\d\d:\d\d\.\d{3} /;

Deno.test("watch() prints every update, then returns 0 when stopped", async () => {
  const { running, target } = await startOne();
  try {
    const w = watchHere(target);
    await waitFor(() => running.face!.hub.subscribers === 1, 5000, "a subscriber");
    await putLocation(target, "kiwi", "+34.100000-118.200000");
    await putLocation(target, "pear", "-33.860000+151.210000");
    await waitFor(() => w.out.length === 2, 5000, "two lines");
    assert.match(w.out[0], LINE_TIME);
    assert.deepEqual(w.out.map((l) => l.slice(13)), [
      `update kiwi +34.100000-118.200000 (${running.name})`,
      `update pear -33.860000+151.210000 (${running.name})`,
    ]);
    w.stop();
    assert.equal(await w.code, 0);
    assert.deepEqual(w.err, []);
    await waitFor(() => running.face!.hub.subscribers === 0, 5000, "unsubscribed");
  } finally {
    await running.stop(0);
  }
});

Deno.test("watch() --client sees only those clients; --near prints enter, inside, exit", async () => {
  const { running, target } = await startOne();
  try {
    const clients = watchHere(target, { clients: ["pear"] });
    const fence = watchHere(target, { near: "34.1,-118.2,5", json: true });
    await waitFor(() => running.face!.hub.subscribers === 2, 5000, "two subscribers");
    await putLocation(target, "kiwi", "+34.100000-118.200000"); // enter
    await putLocation(target, "kiwi", "+34.110000-118.200000"); // inside
    await putLocation(target, "pear", "+34.100000-118.200000"); // enter
    await putLocation(target, "kiwi", "+35.000000-118.200000"); // exit
    await waitFor(() => fence.out.length === 4 && clients.out.length === 1, 5000, "events");
    assert.match(clients.out[0], /^\S+ update pear \+34\.100000-118\.200000 \(/);
    const events = fence.out.map((l) => JSON.parse(l));
    assert.deepEqual(
      events.map((e) => [e.type, e.record.client, e.record.location]),
      [
        ["enter", "kiwi", "+34.100000-118.200000"],
        ["inside", "kiwi", "+34.110000-118.200000"],
        ["enter", "pear", "+34.100000-118.200000"],
        ["exit", "kiwi", "+35.000000-118.200000"],
      ],
    );
    clients.stop();
    fence.stop();
    assert.deepEqual([await clients.code, await fence.code], [0, 0]);
  } finally {
    await running.stop(0);
  }
});

Deno.test("watch() returns 1 with the reason when the member stops", async () => {
  const { running, target } = await startOne();
  let stopped = false;
  try {
    const w = watchHere(target);
    await waitFor(() => running.face!.hub.subscribers === 1, 5000, "a subscriber");
    await running.stop(0);
    stopped = true;
    assert.equal(await w.code, 1);
    assert.equal(w.err.length, 1, w.err.join("\n"));
    assert.match(w.err[0], /^herd: 127\.0\.0\.1:\d+ closed the stream: server stopping$/);
  } finally {
    if (!stopped) await running.stop(0);
  }
});

Deno.test("watch() sends the token as a bearer; without one a 401 says it needs a token", async () => {
  const token = "watch-test-token-0123";
  const { running, target } = await startOne(token);
  try {
    await assert.rejects(
      watch(target, { clients: [], json: false, token: undefined, stop: new Promise(() => {}) }),
      (e) => e instanceof UserError && e.exitCode === 2 && /needs a token/.test(e.message),
    );
    await assert.rejects(
      watch(target, { clients: [], json: false, token: "wrong", stop: new Promise(() => {}) }),
      (e) => e instanceof UserError && /refused the token \(401\)/.test(e.message),
    );
    const w = watchHere(target, { token });
    await waitFor(() => running.face!.hub.subscribers === 1, 5000, "a subscriber");
    await putLocation(target, "kiwi", "+34.100000-118.200000", token);
    await waitFor(() => w.out.length === 1, 5000, "a line");
    w.stop();
    assert.equal(await w.code, 0);
  } finally {
    await running.stop(0);
  }
});

// ---- against a scripted WebSocket server: what a member rarely does on cue ----

/** A server that upgrades `/v1/stream`, sends `messages`, then closes with `close`. */
function scriptedServer(
  messages: string[],
  close: { code: number; reason: string },
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const client = new URL(req.url).searchParams.get("client");
    if (client === "gone") return new Response("no such page", { status: 404 });
    if (client === "bad") {
      return Response.json({
        type: "urn:herd:problem:invalid-request",
        title: "Invalid request",
        status: 400,
        detail: "near: must be lat,lng",
      }, { status: 400, headers: { "content-type": "application/problem+json" } });
    }
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onopen = () => {
      for (const m of messages) socket.send(m);
      socket.close(close.code, close.reason);
    };
    return response;
  });
}

Deno.test("watch() warns on a lagged event and returns 1 with the member's close reason", async () => {
  const record = { server: "Hill", client: "kiwi", location: "+1.000000+2.000000" };
  const server = scriptedServer([
    JSON.stringify({ type: "update", record }),
    JSON.stringify({ type: "lagged", dropped: 3 }),
    "not json",
  ], { code: 1008, reason: "too slow: buffer full for 30 s" });
  try {
    const w = watchHere(`127.0.0.1:${server.addr.port}`);
    assert.equal(await w.code, 1);
    assert.equal(w.out.length, 1);
    assert.match(w.out[0], /^\S+ update kiwi \+1\.000000\+2\.000000 \(Hill\)$/);
    assert.deepEqual(w.err, [
      "herd: warning: this watcher fell behind: the member dropped 3 events",
      'herd: warning: not a stream event, skipped: "not json"',
      `herd: 127.0.0.1:${server.addr.port} closed the stream: too slow: buffer full for 30 s`,
    ]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("watch() --json prints every message as received, lagged too", async () => {
  const lagged = JSON.stringify({ type: "lagged", dropped: 2 });
  const server = scriptedServer([lagged], { code: 1001, reason: "server stopping" });
  try {
    const w = watchHere(`127.0.0.1:${server.addr.port}`, { json: true });
    assert.equal(await w.code, 1);
    assert.deepEqual(w.out, [lagged]);
    assert.equal(w.err.length, 2);
    assert.match(w.err[0], /fell behind: the member dropped 2 events/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("watch() names a refusal: a 400's problem detail, a 404 with a hint", async (t) => {
  const server = scriptedServer([], { code: 1000, reason: "" });
  const where = `127.0.0.1:${server.addr.port}`;
  const never = new Promise<void>(() => {});
  try {
    const table: Array<[string, RegExp]> = [
      ["bad", /^127\.0\.0\.1:\d+ refused the stream \(HTTP 400\): near: must be lat,lng$/],
      [
        "gone",
        /^127\.0\.0\.1:\d+ refused the stream \(HTTP 404\) \(is this a herd member's http_port\?\)$/,
      ],
    ];
    for (const [client, message] of table) {
      await t.step(client, async () => {
        await assert.rejects(
          watch(where, { clients: [client], json: false, stop: never }),
          (e) => e instanceof UserError && e.exitCode === 2 && message.test(e.message),
        );
      });
    }
  } finally {
    await server.shutdown();
  }
});

// ---- the command, as a process ----

/** Collects a stream's text as it arrives. */
function collect(stream: ReadableStream<Uint8Array>): { text: () => string; done: Promise<void> } {
  let text = "";
  const done = stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (text += chunk) }),
  );
  return { text: () => text, done };
}

Deno.test("herd watch prints an update PUT over HTTP and exits 0 on SIGINT", async () => {
  const token = "watch-env-token-4567";
  const { running, target } = await startOne(token);
  const child = spawnHerd(["watch", target], undefined, { HERD_HTTP_TOKEN: token });
  const out = collect(child.stdout);
  const err = collect(child.stderr);
  const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    await waitFor(() => running.face!.hub.subscribers === 1, 20_000, "herd watch subscribed");
    await putLocation(target, "kiwi.cs.ucla.edu", "+34.068930-118.445127", token);
    const line = new RegExp(
      `^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} update kiwi\\.cs\\.ucla\\.edu \\+34\\.068930-118\\.445127 \\(${running.name}\\)$`,
      "m",
    );
    await waitFor(() => line.test(out.text()), 10_000, "the update line");
    child.kill("SIGINT");
    const status = await child.status;
    await Promise.all([out.done, err.done]);
    assert.equal(status.code, 0, err.text());
    assert.equal(err.text(), "");
    assert.equal(out.text().split("\n").filter((l) => l !== "").length, 1, out.text());
  } finally {
    clearTimeout(killer);
    await running.stop(0);
  }
});

Deno.test("herd watch exits 2 with one line when the connection is refused", async () => {
  const r = await runHerd(["watch", `127.0.0.1:${freePort()}`]);
  assertUserError(r, ["cannot connect to 127.0.0.1:", "connection refused"]);
  assert.equal(r.stdout, "");
});

Deno.test("herd watch exits 2 with one line on a bad --near", async () => {
  const r = await runHerd(["watch", "--near", "34,-118", "127.0.0.1:1"]);
  assertUserError(r, ["invalid --near"]);
});

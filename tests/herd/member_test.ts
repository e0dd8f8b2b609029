/**
 * Integration tests: five real members on 127.0.0.1 port 0, real TCP clients.
 */

import assert from "node:assert/strict";
import { parseConfig, testConfig } from "../../src/config.ts";
import { Member, type PeerAuth } from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { createGeonamesProvider } from "../../src/places/mod.ts";
import { exchange, exchangeBytes, linesIn, OpenClient, TestHerd, waitFor } from "../_harness.ts";

const NAMES = ["Campbell", "Hill", "Jaquez", "Singleton", "Smith"];
const LOC = "+34.068930-118.445127";

/** Runs `fn` with a started five-member herd and always stops it. */
async function withHerd(fn: (herd: TestHerd) => Promise<void>): Promise<void> {
  const herd = await new TestHerd().start();
  try {
    await fn(herd);
  } finally {
    await herd.stop();
  }
}

function holders(herd: TestHerd, client: string, time: string): string[] {
  return NAMES.filter((n) => herd.member(n).store.get(client)?.clientTimeText === time);
}

Deno.test("member answers IAMAT with AT, its name, a 9-digit skew and the fields verbatim", async () => {
  await withHerd(async (herd) => {
    const reply = await exchange(
      herd.address("Campbell"),
      `IAMAT kiwi.cs.ucla.edu ${LOC} 1621464827.959498503\n`,
    );
    const m = /^AT Campbell ([+-][0-9]+\.[0-9]{9}) kiwi\.cs\.ucla\.edu (\S+) (\S+)\n$/.exec(reply);
    assert.ok(m, `unexpected reply ${JSON.stringify(reply)}`);
    assert.equal(m[2], LOC);
    assert.equal(m[3], "1621464827.959498503");
    // The client time is in 2021, so the skew is years, positive.
    assert.ok(Number(m[1]) > 100_000_000);
  });
});

Deno.test("member floods an IAMAT to every member of the herd", async () => {
  await withHerd(async (herd) => {
    await exchange(herd.address("Hill"), `IAMAT flood-me ${LOC} 1700000000.5\n`);
    await waitFor(() => holders(herd, "flood-me", "1700000000.5").length === 5, 5000, "flood");
    for (const n of NAMES) assert.equal(herd.member(n).store.get("flood-me")?.origin, "Hill");
  });
});

Deno.test("member hands the flood to neighbours before replying: an immediate WHATSAT at a neighbour finds it", async () => {
  await withHerd(async (herd) => {
    for (let i = 0; i < 20; i++) {
      const id = `quick-${i}`;
      const at = await exchange(
        herd.address("Campbell"),
        `IAMAT ${id} ${LOC} 1700000000.${i + 1}\n`,
      );
      const reply = await exchange(herd.address("Singleton"), `WHATSAT ${id} 5 1\n`);
      assert.equal(reply.split("\n")[0], at.trimEnd(), `round ${i}`);
    }
  });
});

Deno.test("member answers WHATSAT with the stored AT line, Nearby Search JSON and a blank line", async () => {
  await withHerd(async (herd) => {
    const at = await exchange(herd.address("Campbell"), `IAMAT kiwi ${LOC} 1700000000.25\n`);
    await waitFor(() => holders(herd, "kiwi", "1700000000.25").length === 5);
    const reply = await exchange(herd.address("Jaquez"), "WHATSAT kiwi 10 3\n");
    assert.ok(reply.startsWith(at), "first line is the stored AT line from Campbell");
    assert.ok(reply.endsWith("}\n\n"));
    const json = reply.slice(at.length, -2);
    assert.ok(!json.includes("\n\n"));
    assert.match(json, /^\{\n {3}"html_attributions"/);
    const doc = JSON.parse(json);
    assert.equal(doc.status, "OK");
    assert.ok(doc.results.length >= 1 && doc.results.length <= 3);
    for (const r of doc.results) {
      assert.equal(typeof r.name, "string");
      assert.equal(typeof r.place_id, "string");
      assert.equal(typeof r.geometry.location.lat, "number");
      assert.ok(Array.isArray(r.types));
      assert.equal(typeof r.vicinity, "string");
    }
  });
});

Deno.test("member answers WHATSAT in mid-ocean with ZERO_RESULTS", async () => {
  await withHerd(async (herd) => {
    await exchange(herd.address("Campbell"), "IAMAT boat -30.0-140.0 1700000000\n");
    const reply = await exchange(herd.address("Campbell"), "WHATSAT boat 1 5\n");
    const doc = JSON.parse(reply.slice(reply.indexOf("\n") + 1));
    assert.equal(doc.status, "ZERO_RESULTS");
    assert.deepEqual(doc.results, []);
  });
});

Deno.test("member replies '? ' plus the line to invalid lines and keeps the connection", async () => {
  await withHerd(async (herd) => {
    const cases = [
      "HELLO world",
      "iamat kiwi +34-118 1",
      "IAMAT kiwi +34-118",
      "IAMAT kiwi 34-118 1",
      "IAMAT kiwi +91-118 1",
      "IAMAT kiwi +34-181 1",
      "IAMAT kiwi +34-118 -1",
      "IAMAT kiwi +34-118 1e9",
      "WHATSAT never-seen 10 5",
      "WHATSAT kiwi 0 5",
      "WHATSAT kiwi 51 5",
      "WHATSAT kiwi 10 21",
      "WHATSAT kiwi 10 0",
      "AT Hill +0.000000001 kiwi +34-118 1",
      "HERD 1 Hill",
    ];
    await exchange(herd.address("Smith"), "IAMAT kiwi +34-118 1\n");
    const client = await OpenClient.connect(herd.address("Smith"));
    try {
      // Break the first-line rule so HERD is not taken as a hello.
      await client.send("IAMAT warmup +0+0 1\n");
      assert.match(await client.line(), /^AT Smith /);
      for (const line of cases) {
        await client.send(`${line}\n`);
        assert.equal(await client.line(), `? ${line}`, line);
      }
      await client.send("IAMAT still-open +1+1 2\n");
      assert.match(await client.line(), /^AT Smith \S+ still-open \+1\+1 2$/);
    } finally {
      client.close();
    }
    assert.equal(
      herd.member("Smith").store.get("kiwi")?.origin,
      "Smith",
      "the client's AT line changed nothing",
    );
  });
});

Deno.test("member echoes client ids byte for byte: emoji and invalid UTF-8", async () => {
  await withHerd(async (herd) => {
    const id = new Uint8Array([0xf0, 0x9f, 0xa5, 0x9d, 0xff, 0x80, 0x9f, 0xc3]);
    const enc = (s: string) => new TextEncoder().encode(s);
    const line = new Uint8Array([...enc("IAMAT "), ...id, ...enc(` ${LOC} 1700000000\n`)]);
    const reply = await exchangeBytes(herd.address("Hill"), line);
    const idAt = reply.indexOf(0x20, reply.indexOf(0x20, 3) + 1) + 1; // after "AT Hill <skew> "
    assert.deepEqual(reply.slice(idAt, idAt + id.length), id);
    const bad = new Uint8Array([...enc("WHATSAT "), ...id, 0xfe, ...enc(" 10 5\n")]);
    const echoed = await exchangeBytes(herd.address("Hill"), bad);
    assert.deepEqual(echoed, new Uint8Array([...enc("? "), ...bad.subarray(0, -1), 0x0a]));
  });
});

Deno.test("member answers pipelined lines in order, with CR-LF and a last line without LF", async () => {
  await withHerd(async (herd) => {
    const lines: string[] = [];
    for (let i = 0; i < 50; i++) lines.push(`IAMAT pipe-${i} ${LOC} 1700000000.${i + 1}`);
    lines.push("bogus line");
    const reply = await exchange(
      herd.address("Jaquez"),
      lines.slice(0, 25).join("\r\n") + "\r\n\n   \t\n" + lines.slice(25).join("\n"),
    );
    const got = reply.trimEnd().split("\n");
    assert.equal(got.length, 51);
    for (let i = 0; i < 50; i++) assert.match(got[i], new RegExp(`^AT Jaquez \\S+ pipe-${i} `));
    assert.equal(got[50], "? bogus line");
  });
});

Deno.test("member answers everything pending after the client half-closes, then closes", async () => {
  await withHerd(async (herd) => {
    await exchange(herd.address("Campbell"), `IAMAT hc ${LOC} 1700000000\n`);
    // Several slow-ish WHATSATs queued behind each other, then an immediate EOF.
    const reply = await exchange(
      herd.address("Campbell"),
      "WHATSAT hc 50 20\nWHATSAT hc 50 20\nIAMAT hc2 +0+0 1\n",
    );
    assert.equal(reply.split('"status": "OK"').length, 3);
    assert.match(reply, /\n\nAT Campbell \S+ hc2 \+0\+0 1\n$/);
  });
});

Deno.test("member serves a connection kept open (nc/telnet style)", async () => {
  await withHerd(async (herd) => {
    const client = await OpenClient.connect(herd.address("Hill"));
    try {
      await client.send(`IAMAT open ${LOC} 1700000000\n`);
      const at = await client.line();
      await client.send("WHATSAT open 10 1\n");
      const reply = await client.readUntil("}\n\n");
      assert.ok(reply.startsWith(at + "\n"));
      await client.send("   \n"); // blank: no reply
      await client.send("nonsense\n");
      assert.equal(await client.line(), "? nonsense");
    } finally {
      client.close();
    }
  });
});

Deno.test("member answers a line over 16 KiB with '? ' plus its first 16 KiB and keeps serving", async () => {
  await withHerd(async (herd) => {
    const limit = herd.config.settings.maxLineBytes;
    assert.equal(limit, 16384);
    const long = "IAMAT " + "x".repeat(1024 * 1024) + " +0+0 1";
    const reply = await exchange(herd.address("Smith"), `${long}\nIAMAT after +0+0 1\n`);
    const [first, second] = reply.split("\n");
    assert.equal(first, "? " + long.slice(0, limit));
    assert.match(second, /^AT Smith \S+ after \+0\+0 1$/);
  });
});

Deno.test("member stores an older IAMAT's reply but neither stores nor floods it", async () => {
  await withHerd(async (herd) => {
    await exchange(herd.address("Campbell"), `IAMAT lww ${LOC} 1700000000.9\n`);
    await waitFor(() => holders(herd, "lww", "1700000000.9").length === 5);
    const old = await exchange(herd.address("Hill"), "IAMAT lww +10+10 1700000000.1\n");
    assert.match(old, /^AT Hill \S+ lww \+10\+10 1700000000\.1\n$/);
    // A later record from Hill: had the older one been stored or flooded, it went out on every
    // link before this one, so it has reached a member once this one has.
    await exchange(herd.address("Hill"), `IAMAT lww-after ${LOC} 1700000001\n`);
    await waitFor(() => holders(herd, "lww-after", "1700000001").length === 5);
    for (const n of NAMES) {
      assert.equal(herd.member(n).store.get("lww")?.clientTimeText, "1700000000.9", n);
    }
    const w = await exchange(herd.address("Hill"), "WHATSAT lww 1 1\n");
    assert.ok(w.startsWith("AT Campbell "));
  });
});

Deno.test("member floods around a stopped member", async () => {
  await withHerd(async (herd) => {
    await herd.member("Singleton").stop();
    // Campbell's only other route to Jaquez is Smith -> Hill -> Jaquez.
    const t0 = performance.now();
    const reply = await exchange(herd.address("Campbell"), `IAMAT around ${LOC} 1700000001\n`);
    assert.ok(
      performance.now() - t0 < 4000,
      "a dead neighbour does not delay the reply (5 s connect timeout)",
    );
    assert.match(reply, /^AT Campbell /);
    await waitFor(
      () =>
        ["Campbell", "Hill", "Jaquez", "Smith"].every((n) =>
          herd.member(n).store.get("around") !== undefined
        ),
      5000,
      "flood around Singleton",
    );
    assert.equal(herd.member("Singleton").store.get("around"), undefined);
    assert.equal(herd.member("Campbell").links.get("Singleton")?.state === "welcomed", false);
  });
});

Deno.test("member relinks after a neighbour restarts on a new port and floods reach it", async () => {
  await withHerd(async (herd) => {
    const before = herd.address("Singleton").port;
    await herd.member("Singleton").stop();
    const fresh = new Member({
      config: herd.config,
      name: "Singleton",
      places: herd.places,
      log: new MemoryLog(),
      addresses: herd.addresses,
    });
    herd.members.set("Singleton", fresh);
    fresh.start({ port: 0 });
    assert.notEqual(fresh.address.port, before, "a new port: peers must look the address up again");
    await herd.linked(5000);
    for (const n of ["Campbell", "Jaquez", "Smith"]) {
      assert.equal(herd.member(n).links.get("Singleton")?.state, "welcomed", `${n} -> Singleton`);
      assert.ok((herd.member(n).links.get("Singleton")?.connections ?? 0) >= 2, `${n} redialled`);
    }
    await exchange(herd.address("Hill"), `IAMAT back ${LOC} 1700000002\n`);
    await waitFor(
      () => fresh.store.get("back") !== undefined,
      5000,
      "flood to the restarted member",
    );
  });
});

Deno.test("a neighbour's hello cuts our redial backoff short: links come back at once, not after it", async () => {
  // Every redial waits 30-60 s (equal jitter on 60 s): far past the test's bound.
  const base = testConfig();
  const config = {
    ...base,
    settings: { ...base.settings, redialMinMs: 60_000, redialMaxMs: 60_000 },
  };
  const herd = await new TestHerd(config).start();
  try {
    await herd.member("Singleton").stop();
    await waitFor(
      () =>
        ["Campbell", "Jaquez", "Smith"].every((n) =>
          herd.member(n).links.get("Singleton")?.state === "down"
        ),
      5000,
      "links to Singleton down",
    );
    const early = (n: string) => herd.logs.get(n)!.named("peer.link.redial.now").length;
    const before = new Map(["Campbell", "Jaquez", "Smith"].map((n) => [n, early(n)]));
    const log = new MemoryLog();
    const fresh = new Member({
      config,
      name: "Singleton",
      places: herd.places,
      log,
      addresses: herd.addresses,
    });
    herd.members.set("Singleton", fresh);
    fresh.start({ port: 0 });
    // Singleton dials its neighbours at start; each then redials Singleton at once.
    await herd.linked(5000);
    for (const n of ["Campbell", "Jaquez", "Smith"]) {
      assert.equal(herd.member(n).links.get("Singleton")?.connections, 2, `${n} -> Singleton`);
      assert.ok(early(n) > before.get(n)!, `${n} logged peer.link.redial.now`);
    }
  } finally {
    await herd.stop();
  }
});

Deno.test("members that accept each other's hello but reject the welcome do not redial in a loop", async () => {
  // Each accepted hello cuts the other side's backoff short; without a floor the two would
  // dial each other thousands of times a second. Floor: 100 ms after the last dial.
  const config = parseConfig(
    '[[servers]]\nname = "A"\nport = 1\n[[servers]]\nname = "B"\nport = 2\n[herd]\nlinks = [["A", "B"]]\nredial_min_ms = 200\nredial_max_ms = 200\n',
  );
  const test = { ...config, servers: config.servers.map((s) => ({ ...s, port: 0 })) };
  const auth: PeerAuth = {
    mode: "host",
    sign: () => Promise.resolve([]),
    check: (kind) => Promise.resolve(kind === "welcome" ? "welcome refused by the test" : null),
  };
  const addresses = new Map();
  const logs = [new MemoryLog(), new MemoryLog()];
  const members = ["A", "B"].map((name, i) =>
    new Member({
      config: test,
      name,
      places: createGeonamesProvider(),
      log: logs[i],
      addresses,
      auth,
    })
  );
  try {
    const started = performance.now();
    for (const m of members) m.start({ port: 0 });
    const dialsOf = (m: Member) => m.links.values().next().value!.dials;
    // Rounds of dial, accepted hello, refused welcome until each side has dialled 6 times.
    await waitFor(() => members.every((m) => dialsOf(m) >= 6), 10_000, "6 dials each");
    const ms = performance.now() - started;
    for (const [i, m] of members.entries()) {
      const dials = dialsOf(m);
      // One dial per 100 ms at the most: at most 1 + ms / 100 so far (16 in 1.5 s), +1 slack.
      assert.ok(dials <= 2 + ms / 100, `${m.name} came up ${dials} times in ${ms.toFixed(0)} ms`);
      assert.ok(logs[i].named("peer.link.redial.now").length >= 1, "the shortcut was taken");
    }
  } finally {
    await Promise.all(members.map((m) => m.stop(0)));
  }
});

Deno.test("member treats a hello from a non-neighbour as a client line", async () => {
  await withHerd(async (herd) => {
    // Hill and Campbell are not linked in the default herd.
    const reply = await exchange(
      herd.address("Campbell"),
      "HERD 1 Hill\nAT Hill +0.000000001 forged +34-118 9999999999\n",
    );
    assert.equal(reply, "? HERD 1 Hill\n? AT Hill +0.000000001 forged +34-118 9999999999\n");
    assert.equal(herd.member("Campbell").store.get("forged"), undefined);
    const rejected = herd.logs.get("Campbell")!.named("peer.link.rejected");
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0].fields.peer, "Hill");
  });
});

Deno.test("member accepts a neighbour's hello and applies its AT lines without replying", async () => {
  await withHerd(async (herd) => {
    const reply = await exchange(
      herd.address("Campbell"),
      "HERD 1 Smith\nAT Smith +0.000000001 via-peer +34-118 1700000003\nAT broken\n",
    );
    assert.equal(
      reply,
      "HERD 1 Campbell dissemination=tree keepalive=5000\n",
      "only the welcome comes back",
    );
    assert.equal(herd.member("Campbell").store.get("via-peer")?.origin, "Smith");
    // Relayed to every member but Smith, its origin, to which no member sends its own record
    // back (a broadcast tree; the real Smith never had it: only anti-entropy would tell it).
    await waitFor(
      () =>
        holders(herd, "via-peer", "1700000003").sort().join() === "Campbell,Hill,Jaquez,Singleton",
      5000,
    );
    const invalid = herd.logs.get("Campbell")!.named("peer.invalid");
    assert.equal(invalid.length, 1);
    assert.equal(invalid[0].fields.peer, "Smith");
  });
});

Deno.test("member logs every message in and reply out with connection id and remote address", async () => {
  await withHerd(async (herd) => {
    await exchange(herd.address("Hill"), `IAMAT logged ${LOC} 1700000004\nnope\n`);
    const log = herd.logs.get("Hill")!;
    // Neighbours' lines (hellos, anti-entropy digests) are logged too; keep the client's.
    const ins = linesIn(log.named("msg.in")).filter((e) =>
      e.fields.peer === undefined && !e.line.startsWith("HERD ")
    );
    const outs = log.named("reply.out").filter((e) => !String(e.fields.reply).startsWith("HERD "));
    assert.deepEqual(ins.map((e) => e.line), [`IAMAT logged ${LOC} 1700000004`, "nope"]);
    assert.equal(outs.length, 2);
    assert.match(String(outs[0].fields.reply), /^AT Hill \S+ logged /);
    assert.equal(outs[1].fields.reply, "? nope\n");
    assert.equal(ins[0].fields.conn, outs[0].fields.conn);
    assert.match(String(ins[0].fields.remote), /^127\.0\.0\.1:\d+$/);
    // The member that took the update from its client logs storing it too.
    const stored = log.named("record.stored").filter((e) => e.fields.peer === undefined);
    assert.deepEqual(stored.map((e) => e.fields.client), ["logged"]);
    // A link is open once the neighbour's welcome is verified, which follows its accept.
    for (const ev of ["peer.link.open", "peer.link.accepted"] as const) {
      await waitFor(() => log.named(ev).length >= 2, 5000, ev);
    }
  });
});

Deno.test("Member.stop() closes the listener of every member", async () => {
  const config = testConfig();
  const herd = new TestHerd(config);
  await herd.start();
  await herd.stop();
  for (const m of herd.members.values()) assert.equal(m.running, false);
  await assert.rejects(() =>
    Deno.connect({ hostname: "127.0.0.1", port: herd.addresses.get("Hill")!.port })
  );
});

Deno.test("member computes the skew from its clock exactly, in integer nanoseconds", async () => {
  const config = testConfig();
  const clock = () => 1621464828_223372000n; // receive time, POSIX ns
  const member = new Member({ config, name: "Hill", places: createGeonamesProvider(), clock });
  try {
    const addr = member.start({ port: 0 });
    const reply = await exchange(
      addr,
      "IAMAT k +34.068930-118.445127 1621464827.959498503\n" +
        "IAMAT k2 +0+0 1621464828.223372001999\n",
    );
    assert.equal(
      reply,
      "AT Hill +0.263873497 k +34.068930-118.445127 1621464827.959498503\n" +
        "AT Hill -0.000000001 k2 +0+0 1621464828.223372001999\n",
    );
  } finally {
    await member.stop();
  }
});

Deno.test("member floods an IAMAT of exactly 16 KiB although its AT line is longer", async () => {
  await withHerd(async (herd) => {
    const limit = herd.config.settings.maxLineBytes;
    const time = "1700000000." + "9".repeat(2000);
    const prefix = `IAMAT big-${"i".repeat(100)} ${LOC} `;
    // Pad the client id so the whole line is exactly the client limit.
    const id = `big-${"i".repeat(100)}${"x".repeat(limit - prefix.length - time.length)}`;
    const line = `IAMAT ${id} ${LOC} ${time}`;
    assert.equal(line.length, limit);
    const reply = await exchange(herd.address("Campbell"), line + "\n");
    assert.ok(reply.startsWith("AT Campbell "));
    assert.ok(reply.length - 1 > limit, "the AT line is over the client limit");
    await waitFor(() => holders(herd, id, time).length === 5, 5000, "flood of a 16 KiB update");
    for (const n of NAMES) {
      assert.equal(herd.logs.get(n)!.named("peer.invalid").length, 0, n);
    }
  });
});

Deno.test("member drops an overlong line from a neighbour without a '? ' reply", async () => {
  await withHerd(async (herd) => {
    const huge = "AT Smith +0.000000001 x +1+1 " + "1".repeat(100_000);
    const reply = await exchange(herd.address("Campbell"), `HERD 1 Smith\n${huge}\n`);
    assert.equal(reply, "HERD 1 Campbell dissemination=tree keepalive=5000\n");
    const invalid = herd.logs.get("Campbell")!.named("peer.invalid");
    assert.equal(invalid.length, 1);
    assert.match(String(invalid[0].fields.reason), /^line over \d+ bytes$/);
  });
});

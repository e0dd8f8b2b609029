import assert from "node:assert/strict";
import { survivePanics } from "../../src/cli/serve.ts";
import { type HerdConfig, type HerdSettings, testConfig } from "../../src/config.ts";
import { Member } from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import type { NearbySearchResponse, PlacesProvider } from "../../src/places/types.ts";
import { closedWithin, exchange, TestHerd, waitFor } from "../_harness.ts";
import { cannedPlaces } from "../_no_places.ts";

/**
 * Answers shaped and sized like GeoNames' (20 places near UCLA are ~8.7 KB of JSON) without
 * loading GeoNames, which costs about a second of CPU in every run of this file.
 */
const places = cannedPlaces();
const LOC = "+34.068930-118.445127";

function tuned(settings: Partial<HerdSettings>): HerdConfig {
  const base = testConfig();
  return { ...base, settings: { ...base.settings, ...settings } };
}

function solo(config: HerdConfig, log: MemoryLog, p: PlacesProvider = places): Member {
  return new Member({ config, name: "Hill", places: p, log });
}

Deno.test("over max_connections, a new connection is closed at once and logged", async () => {
  const log = new MemoryLog();
  // No reserve for neighbours: the limit alone (limits_test.ts tests the reserve).
  const hill = solo(tuned({ maxConnections: 2, reservedPeerConnections: 0 }), log);
  const address = hill.start({ port: 0 });
  const held: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 2; i++) held.push(await Deno.connect(address));
    await waitFor(() => hill.connections === 2, 5000);
    const extra = await Deno.connect(address);
    assert.equal(await closedWithin(extra, 5000), true);
    try {
      extra.close();
    } catch { /* closed */ }
    assert.equal(log.named("conn.refused").length, 1);
    held.pop()!.close();
    await waitFor(() => hill.connections === 1, 5000);
    assert.match(await exchange(address, "IAMAT again +34-118 1700000000\n"), /^AT Hill /);
  } finally {
    for (const c of held) c.close();
    await hill.stop(0);
  }
});

Deno.test("an idle client is disconnected after client_idle_ms; neighbours' links are not", async () => {
  const base = tuned({ clientIdleMs: 100 });
  // Hill and Smith alone: a record can only travel over the link between them.
  const pair: HerdConfig = {
    ...base,
    servers: base.servers.filter((s) => s.name === "Hill" || s.name === "Smith"),
    links: [["Hill", "Smith"]],
  };
  const herd = new TestHerd(pair, places);
  await herd.start();
  try {
    const [hill, smith] = [herd.member("Hill"), herd.member("Smith")];
    // Each side has answered the other's opening DIGEST: the links carry nothing more unless
    // asked, so from here on they are idle at least as long as the client below.
    await waitFor(
      () => ["Hill", "Smith"].every((n) => herd.logs.get(n)!.named("sync.digest").length >= 1),
      5000,
      "the opening reconciliation on both links",
    );
    const ups = [hill.links.get("Smith")!.connections, smith.links.get("Hill")!.connections];
    const conn = await Deno.connect(herd.address("Hill"));
    assert.equal(await closedWithin(conn, 3000), true);
    conn.close();
    const closes = herd.logs.get("Hill")!.named("conn.close").filter((e) =>
      e.fields.reason === "idle for 100 ms"
    );
    assert.equal(closes.length, 1);
    assert.equal(closes[0].level, "info");
    // The idle sweep that closed the client saw both links idle longer. A record sent over each
    // link now arrives only if that link's connection is still the one it was (a closed one
    // would lose it until a redial, which counts a new connection).
    assert.match(await exchange(hill.address, `IAMAT after-idle-h ${LOC} 1700000000\n`), /^AT /);
    assert.match(await exchange(smith.address, `IAMAT after-idle-s ${LOC} 1700000000\n`), /^AT /);
    await waitFor(
      () =>
        smith.store.get("after-idle-h") !== undefined &&
        hill.store.get("after-idle-s") !== undefined,
      5000,
      "a record over each link after the idle sweep",
    );
    assert.equal(hill.links.get("Smith")!.connections, ups[0]);
    assert.equal(hill.links.get("Smith")!.state, "welcomed");
    assert.equal(smith.links.get("Hill")!.connections, ups[1]);
    assert.equal(smith.links.get("Hill")!.state, "welcomed");
  } finally {
    await herd.stop();
  }
});

Deno.test("a client that does not read its replies is disconnected; the member keeps serving", async () => {
  const log = new MemoryLog();
  const hill = solo(tuned({ writeTimeoutMs: 200 }), log);
  const address = hill.start({ port: 0 });
  try {
    await exchange(address, "IAMAT hog +34.068930-118.445127 1700000000\n");
    const conn = await Deno.connect(address);
    // ~3,000 answers of several KiB each: far more than the socket buffers hold.
    const asks = new TextEncoder().encode("WHATSAT hog 50 20\n".repeat(3000));
    const writing = (async () => {
      try {
        let off = 0;
        while (off < asks.length) off += await conn.write(asks.subarray(off));
      } catch { /* the member hung up */ }
    })();
    await waitFor(
      () => log.named("conn.close").some((e) => String(e.fields.reason).startsWith("WriteTimeout")),
      10000,
      "the member closes the connection",
    );
    conn.close();
    await writing;
    assert.match(await exchange(address, "IAMAT fine +34-118 1700000000\n"), /^AT Hill /);
  } finally {
    await hill.stop(0);
  }
});

Deno.test("stop() drains: a reply in progress still reaches its client", async () => {
  let calls = 0;
  const release = Promise.withResolvers<void>();
  const slow: PlacesProvider = {
    name: "slow",
    async nearby(): Promise<NearbySearchResponse> {
      calls++;
      await release.promise; // answers only once stop() has begun
      return { html_attributions: [], results: [], status: "ZERO_RESULTS" };
    },
  };
  const log = new MemoryLog();
  const hill = solo(tuned({}), log, slow);
  const address = hill.start({ port: 0 });
  await exchange(address, "IAMAT slow +34-118 1700000000\n");
  const asking = exchange(address, "WHATSAT slow 10 1\n");
  await waitFor(() => calls === 1, 5000);
  const stopping = hill.stop(1000);
  // The stop is under way (the listener refuses new clients) while the reply is still pending.
  await waitFor(
    async () => {
      try {
        (await Deno.connect(address)).close();
        return false;
      } catch {
        return true;
      }
    },
    5000,
    "the listener closed",
  );
  release.resolve();
  await stopping;
  const reply = await asking;
  assert.match(reply, /^AT Hill .*\n\{\n[\s\S]*"ZERO_RESULTS"\n\}\n\n$/);
});

Deno.test("an unhandled rejection and an uncaught error are logged and the member keeps serving", async () => {
  const log = new MemoryLog();
  const hill = solo(tuned({}), log);
  const address = hill.start({ port: 0 });
  const unguard = survivePanics(log);
  try {
    Promise.reject(new Error("stray rejection"));
    setTimeout(() => {
      throw new Error("stray throw");
    }, 0);
    await waitFor(() => log.named("error").length === 2, 5000, "both errors logged");
    const reasons = log.named("error").map((e) => String(e.fields.reason));
    assert.ok(reasons.some((r) => r.includes("stray rejection")), reasons.join("; "));
    assert.ok(reasons.some((r) => r.includes("stray throw")), reasons.join("; "));
    assert.match(await exchange(address, "IAMAT alive +34-118 1700000000\n"), /^AT Hill /);
  } finally {
    unguard();
    await hill.stop(0);
  }
});

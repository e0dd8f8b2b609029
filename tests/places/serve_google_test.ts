/**
 * The "done" check: five separate `herd serve` processes with
 * `provider = "google"`, the key from `GOOGLE_PLACES_API_KEY` and `endpoint`
 * pointing at a fake Google on 127.0.0.1, driven by plain TCP clients. And a
 * google provider without a key refuses to start with one line.
 */

import assert from "node:assert/strict";
import { exchange, waitFor } from "../_harness.ts";
import {
  assertUserError,
  DEFAULT_NAMES as NAMES,
  defaultHerdToml,
  finish,
  freePorts,
  type HerdResult,
  readLog,
  spawnHerd,
  tryExchange,
  withTempDir,
} from "../cli/_cli.ts";
import { FakeGoogle } from "./_fake_google.ts";

const KEY = "AIzaFAKE-serve-test-key-7777777777";

function statusOf(reply: string): string {
  return JSON.parse(reply.slice(reply.indexOf("\n") + 1)).status;
}

Deno.test("herd serve with provider google and no GOOGLE_PLACES_API_KEY exits 2 naming the variable", async () => {
  await withTempDir(async (dir) => {
    const free = freePorts(NAMES.length);
    const ports = new Map(NAMES.map((n, i) => [n, free[i]]));
    for (const provider of ["google", "google-legacy"]) {
      await Deno.writeTextFile(
        `${dir}/herd.toml`,
        defaultHerdToml(ports, `provider = "${provider}"`),
      );
      // An empty key counts as none.
      const child = spawnHerd(
        ["serve", "Hill", "--config", `${dir}/herd.toml`, "--log-dir", `${dir}/logs`],
        dir,
        { GOOGLE_PLACES_API_KEY: "" },
      );
      assertUserError(await finish(child), ["GOOGLE_PLACES_API_KEY", provider]);
    }
  });
});

Deno.test("five herd serve processes answer WHATSAT from Google, within the timeout when it is slow, one request per question", async () => {
  const fake = FakeGoogle.start(KEY);
  try {
    await fiveServes(fake);
  } finally {
    await fake.close();
  }
});

async function fiveServes(fake: FakeGoogle): Promise<void> {
  await withTempDir(async (dir) => {
    const free = freePorts(NAMES.length);
    const ports = new Map(NAMES.map((n, i) => [n, free[i]]));
    await Deno.writeTextFile(
      `${dir}/herd.toml`,
      defaultHerdToml(ports, `provider = "google"\nendpoint = "${fake.url}"\ntimeout_ms = 1000`),
    );
    const procs = new Map<string, Deno.ChildProcess>();
    const port = (n: string) => ports.get(n)!;
    try {
      for (const n of NAMES) {
        procs.set(
          n,
          spawnHerd(
            ["serve", n, "--config", `${dir}/herd.toml`, "--log-dir", `${dir}/logs`, "--quiet"],
            dir,
            { GOOGLE_PLACES_API_KEY: KEY },
          ),
        );
      }
      // kiwi reports to Campbell; wait until every member can answer for it. Waiting on
      // one member is not enough: a member whose links are still coming up gets the
      // record later, through anti-entropy.
      await waitFor(
        async () =>
          (await tryExchange(port("Campbell"), "IAMAT kiwi +34.068930-118.445127 1\n")) !== "",
        20_000,
        "Campbell up",
      );
      await waitFor(
        async () => {
          await tryExchange(port("Campbell"), "IAMAT kiwi +34.068930-118.445127 2\n");
          for (const n of NAMES) {
            if (!(await tryExchange(port(n), "WHATSAT kiwi 10 1\n")).includes(" 2\n")) {
              return false;
            }
          }
          return true;
        },
        20_000,
        "the herd linked",
      );

      // Every member answers with Google's places in the legacy shape, cut to the bound.
      for (const n of NAMES) {
        const reply = await exchange(
          { hostname: "127.0.0.1", port: port(n) },
          "WHATSAT kiwi 10 3\n",
        );
        assert.match(reply, /^AT Campbell \S+ kiwi \+34\.068930-118\.445127 2\n\{\n/);
        const doc = JSON.parse(reply.slice(reply.indexOf("\n") + 1));
        assert.equal(doc.status, "OK");
        assert.deepEqual(doc.results.map((r: { place_id: string }) => r.place_id), [
          "fake-place-0",
          "fake-place-1",
          "fake-place-2",
        ]);
        assert.equal(doc.results[0].geometry.location.lat, 34.07);
      }

      // Many identical questions at one member: one upstream request.
      const before = fake.requests.length;
      const replies = await Promise.all(
        Array.from(
          { length: 12 },
          (_, i) =>
            exchange({ hostname: "127.0.0.1", port: port("Jaquez") }, `WHATSAT kiwi 20 ${i + 1}\n`),
        ),
      );
      assert.ok(replies.every((r) => statusOf(r) === "OK"));
      assert.equal(
        fake.requests.length - before,
        1,
        "one upstream request for 12 identical WHATSATs",
      );

      // Google slower than timeout_ms: the member still answers, with UNKNOWN_ERROR.
      fake.otherwise = { kind: "slow", delayMs: 30_000, then: { kind: "ok" } };
      const started = performance.now();
      const slow = await exchange(
        { hostname: "127.0.0.1", port: port("Smith") },
        "WHATSAT kiwi 30 5\n",
        10_000,
      );
      console.log(
        `WHATSAT with Google stalled, timeout_ms 1000: answered in ${
          (performance.now() - started).toFixed(0)
        } ms`,
      );
      assert.equal(statusOf(slow), "UNKNOWN_ERROR");
      assert.match(slow, /no answer within 1000 ms/);
    } finally {
      const results: HerdResult[] = [];
      for (const child of procs.values()) {
        child.kill("SIGTERM");
        results.push(await finish(child, 10_000));
      }
      await fake.close();
      for (const r of results) assert.equal(r.code, 0, r.stderr);
    }
    assert.deepEqual(fake.violations, []);
    for (const n of NAMES) {
      const text = await Deno.readTextFile(`${dir}/logs/${n}.log`);
      assert.ok(!text.includes(KEY), `${n}.log holds the key`);
      const events = await readLog(`${dir}/logs/${n}.log`);
      const final = events.filter((e) => e.event === "places.stats" && e.final === true);
      assert.equal(
        final.length,
        1,
        `${n} logged its final places.stats; its last events: ${JSON.stringify(events.slice(-5))}`,
      );
      assert.equal(final[0].provider, "google");
    }
  });
}

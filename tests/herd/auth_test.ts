import assert from "node:assert/strict";
import { type HerdConfig, testConfig } from "../../src/config.ts";
import { Member, secretAuth } from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { createGeonamesProvider } from "../../src/places/mod.ts";
import { formatHello, type HelloMessage, parseMessage } from "../../src/protocol/mod.ts";
import { exchange, TestHerd, waitFor } from "../_harness.ts";

const places = createGeonamesProvider();
const SECRET = "correct horse battery staple";

function withSecret(secret: string): HerdConfig {
  const base = testConfig();
  return { ...base, settings: { ...base.settings, secret } };
}

function hello(line: string): HelloMessage {
  const m = parseMessage(line);
  if (m.kind !== "HERD") throw new Error(`not a hello: ${line}`);
  return m;
}

Deno.test("secretAuth() accepts its own hello once and refuses tampering, replays and stale times", async () => {
  let now = 1_700_000_000_000;
  const auth = secretAuth(SECRET, { nowMs: () => now });
  const signed = formatHello("Hill", await auth.sign("hello", "Hill", "Smith"));
  assert.match(signed, /^HERD 1 Hill ts=\d+ nonce=[0-9a-f]{32} mac=[0-9a-f]{64}$/);
  const listener = secretAuth(SECRET, { nowMs: () => now });
  assert.equal(await listener.check("hello", hello(signed), "Smith", "127.0.0.1"), null);
  assert.equal(
    await listener.check("hello", hello(signed), "Smith", "127.0.0.1"),
    "replayed nonce",
  );
  // The MAC binds the sender, the receiver and the kind of line.
  const fresh = formatHello("Hill", await auth.sign("hello", "Hill", "Smith"));
  assert.equal(await listener.check("hello", hello(fresh), "Jaquez", "127.0.0.1"), "bad mac");
  assert.equal(await listener.check("welcome", hello(fresh), "Smith", "127.0.0.1"), "bad mac");
  const renamed = fresh.replace("HERD 1 Hill", "HERD 1 Campbell");
  assert.equal(await listener.check("hello", hello(renamed), "Smith", "127.0.0.1"), "bad mac");
  const other = secretAuth("another secret of enough length", { nowMs: () => now });
  const forged = formatHello("Hill", await other.sign("hello", "Hill", "Smith"));
  assert.equal(await listener.check("hello", hello(forged), "Smith", "127.0.0.1"), "bad mac");
  assert.match(
    (await listener.check("hello", hello("HERD 1 Hill"), "Smith", "127.0.0.1"))!,
    /no ts, nonce and mac/,
  );
  const old = formatHello("Hill", await auth.sign("hello", "Hill", "Smith"));
  now += 61_000;
  assert.match((await listener.check("hello", hello(old), "Smith", "127.0.0.1"))!, /^stale/);
});

Deno.test("a hello with a repeated mac= is not a hello", () => {
  assert.equal(parseMessage("HERD 1 Hill mac=aa mac=bb").kind, "invalid");
});

Deno.test("with a secret, members link up and flood, and an unauthenticated 'HERD 1 Hill' changes nothing", async () => {
  const herd = new TestHerd(withSecret(SECRET), places);
  await herd.start();
  try {
    const reply = await exchange(herd.address("Campbell"), "IAMAT legit +34-118 1700000000\n");
    assert.match(reply, /^AT Campbell /);
    await waitFor(() => herd.member("Hill").store.get("legit") !== undefined, 5000);
    const bad = "HERD 1 Hill";
    const at = "AT Hill +0.000000001 evil +34-118 1700000001";
    assert.equal(await exchange(herd.address("Smith"), `${bad}\n${at}\n`), `? ${bad}\n? ${at}\n`);
    // A MAC made with the wrong secret is refused just the same.
    const wrong = secretAuth("not the herd's secret at all");
    const forged = formatHello("Hill", await wrong.sign("hello", "Hill", "Smith"));
    assert.equal(
      await exchange(herd.address("Smith"), `${forged}\n${at}\n`),
      `? ${forged}\n? ${at}\n`,
    );
    assert.equal(herd.member("Smith").store.get("evil"), undefined);
    const rejected = herd.logs.get("Smith")!.named("peer.link.rejected");
    assert.deepEqual(rejected.map((e) => e.fields.reason), [
      "no ts, nonce and mac: the herd has a secret",
      "bad mac",
    ]);
    for (const log of herd.logs.values()) {
      assert.ok(!JSON.stringify(log.events).includes(SECRET), "the secret must never be logged");
    }
  } finally {
    await herd.stop();
  }
});

Deno.test("without a secret, a hello is refused from any host but the one herd.toml lists", async () => {
  const base = testConfig();
  const config: HerdConfig = {
    ...base,
    // Hill lives on 127.0.0.2 as far as Smith knows; our client connects from 127.0.0.1.
    servers: base.servers.map((s) => s.name === "Hill" ? { ...s, host: "127.0.0.2" } : s),
  };
  const log = new MemoryLog();
  const smith = new Member({ config, name: "Smith", places, log });
  const address = smith.start({ port: 0 });
  try {
    assert.equal(log.named("member.unauthenticated").length, 1);
    const at = "AT Hill +0.000000001 evil +34-118 1700000001";
    assert.equal(await exchange(address, `HERD 1 Hill\n${at}\n`), `? HERD 1 Hill\n? ${at}\n`);
    assert.equal(log.named("peer.link.rejected")[0].fields.reason, "not from 127.0.0.2");
    assert.equal(smith.store.size, 0);
    // Campbell is listed on 127.0.0.1, so the same hello naming it is accepted.
    assert.equal(await exchange(address, `HERD 1 Campbell\n${at}\n`), "HERD 1 Smith\n");
    assert.equal(smith.store.get("evil")?.origin, "Hill");
  } finally {
    await smith.stop(0);
  }
});

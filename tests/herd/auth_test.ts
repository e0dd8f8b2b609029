import assert from "node:assert/strict";
import { type HerdConfig, testConfig } from "../../src/config.ts";
import { Member, secretAuth } from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { formatHello, type HelloMessage, parseMessage } from "../../src/protocol/mod.ts";
import { exchange, TestHerd, waitFor } from "../_harness.ts";
import { noPlaces } from "../_no_places.ts";

// No test here asks WHATSAT: members need no GeoNames data.
const places = noPlaces();
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
    assert.equal(
      await exchange(address, `HERD 1 Campbell\n${at}\n`),
      "HERD 1 Smith dissemination=tree keepalive=5000\n",
    );
    assert.equal(smith.store.get("evil")?.origin, "Hill");
  } finally {
    await smith.stop(0);
  }
});

/**
 * Something else listening at a neighbour's address: it takes the hello, answers with
 * `answer` (nothing, or a welcome it cannot sign), and keeps every byte it is sent.
 */
function impostor(answer: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: string[] = [];
  const conns: Deno.Conn[] = [];
  const task = (async () => {
    const reads: Promise<void>[] = [];
    for await (const conn of listener) {
      conns.push(conn);
      reads.push((async () => {
        const buf = new Uint8Array(65536);
        let text = "";
        let answered = false;
        try {
          for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
            text += new TextDecoder().decode(buf.subarray(0, n));
            if (!answered && text.includes("\n") && answer !== "") {
              answered = true;
              await conn.write(new TextEncoder().encode(answer));
            }
          }
        } catch {
          // closed under the read
        }
        received.push(text);
      })());
    }
    await Promise.all(reads);
  })();
  return {
    port: listener.addr.port,
    received,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed by the member
        }
      }
      await task;
    },
  };
}

Deno.test("a member with a secret leaks no client location to an impostor at a neighbour's address", async (t) => {
  for (
    const [name, answer] of [
      ["silent", ""],
      ["forged welcome", "HERD 1 Smith ts=1 nonce=00000000000000000000000000000000 mac=00\n"],
      ["unsigned welcome", "HERD 1 Smith\n"],
    ]
  ) {
    await t.step(name, async () => {
      const fake = impostor(answer);
      const config = withSecret(SECRET);
      const log = new MemoryLog();
      const addresses = new Map([["Smith", { hostname: "127.0.0.1", port: fake.port }]]);
      const member = new Member({ config, name: "Campbell", places, log, addresses });
      try {
        member.start({ port: 0 });
        const link = member.links.get("Smith")!;
        await waitFor(() => link.dials >= 1 && log.named("peer.link.hello").length >= 1, 5000);
        const reply = await exchange(
          member.address,
          "IAMAT secret-client +34.068930-118.445127 1\n",
        );
        assert.match(reply, /^AT Campbell \S+ secret-client /);
        assert.notEqual(link.state, "welcomed");
      } finally {
        await member.stop(0);
        await fake.close();
      }
      // The member closed every connection, so the impostor has read all it was ever sent.
      const all = fake.received.join("");
      assert.doesNotMatch(all, /secret-client/);
      assert.doesNotMatch(all, /\+34\.068930-118\.445127/);
      for (const text of fake.received) assert.match(text, /^(HERD 1 Campbell [^\n]*\n)?$/);
    });
  }
});

import assert from "node:assert/strict";
import { ConfigError, type HerdConfig, testConfig } from "../../src/config.ts";
import { Member, PeerPortError, secretAuth } from "../../src/herd/mod.ts";
import { MemoryLog } from "../../src/log.ts";
import { formatHello } from "../../src/protocol/mod.ts";
import { exchange, OpenClient, TestHerd, waitFor } from "../_harness.ts";
import { cannedPlaces } from "../_no_places.ts";

const places = cannedPlaces();
const SECRET = "a-test-secret-of-32-characters!!";
const LOC = "+34.068930-118.445127";

/** The default herd on port 0, every member with a peer port (also 0) and the secret. */
function peerPorted(): HerdConfig {
  const base = testConfig();
  return {
    ...base,
    servers: base.servers.map((s) => ({ ...s, peerPort: 0 })),
    settings: { ...base.settings, secret: SECRET },
  };
}

/** A signed hello from `from` to `to`, as a neighbour's link writes it. */
async function helloLine(from: string, to: string): Promise<string> {
  return formatHello(from, await secretAuth(SECRET).sign("hello", from, to)) + "\n";
}

Deno.test("a herd with peer ports links over them, floods and reconciles", async () => {
  const herd = new TestHerd(peerPorted(), places);
  await herd.start();
  try {
    for (const [name, m] of herd.members) {
      const peer = m.peerAddress!;
      assert.notEqual(peer.port, m.address.port);
      // Neighbours dial what the address book holds: the peer listener.
      assert.deepEqual(herd.addresses.get(name), peer);
      const accepted = herd.logs.get(name)!.named("peer.link.accepted").length;
      assert.ok(accepted >= 1, `${name} accepted its neighbours' links`);
    }
    const hill = herd.member("Hill");
    assert.match(await exchange(hill.address, `IAMAT flooded ${LOC} 1700000000\n`), /^AT Hill /);
    await waitFor(
      () => [...herd.members.values()].every((m) => m.store.get("flooded") !== undefined),
      5000,
      "the flood on every member",
    );

    // Campbell misses a record while it is down; the link up reconciles it.
    const campbell = herd.member("Campbell");
    await campbell.stop(0);
    assert.match(await exchange(hill.address, `IAMAT missed ${LOC} 1700000001\n`), /^AT Hill /);
    await waitFor(() => herd.member("Smith").store.get("missed") !== undefined, 5000, "Smith");
    assert.equal(campbell.store.get("missed"), undefined);
    campbell.start({ port: 0 }, { port: 0 });
    await waitFor(() => campbell.store.get("missed") !== undefined, 5000, "the reconciliation");
    assert.ok(herd.logs.get("Campbell")!.named("sync.start").length >= 2);
  } finally {
    await herd.stop();
  }
});

Deno.test("a member with a peer port answers a hello on its client port with ? and welcomes it on its peer port", async () => {
  const log = new MemoryLog();
  const hill = new Member({ config: peerPorted(), name: "Hill", places, log });
  const address = hill.start();
  try {
    const hello = await helloLine("Smith", "Hill");
    // The client port: `? ` like any unknown line, and the connection stays a client's.
    const client = await OpenClient.connect(address);
    try {
      await client.send(hello);
      assert.equal(await client.line(), `? ${hello.trimEnd()}`);
      await client.send(`AT Smith +0.1 spoof ${LOC} 1700000000\n`);
      assert.equal(await client.line(), `? AT Smith +0.1 spoof ${LOC} 1700000000`);
      await client.send(`IAMAT still-a-client ${LOC} 1700000000\n`);
      assert.match(await client.line(), /^AT Hill /);
    } finally {
      client.close();
    }
    assert.equal(hill.store.get("spoof"), undefined);
    const rejected = log.named("peer.link.rejected");
    assert.equal(rejected.length, 1);
    assert.match(String(rejected[0].fields.reason), /client port/);

    // The same neighbour on the peer port is welcomed and may send records.
    const peer = await OpenClient.connect(hill.peerAddress!);
    try {
      await peer.send(await helloLine("Smith", "Hill"));
      assert.match(await peer.line(), /^HERD 1 Hill ts=/);
      await peer.send(`AT Smith +0.100000000 relayed ${LOC} 1700000000\n`);
      await waitFor(() => hill.store.get("relayed") !== undefined, 5000, "the relayed record");
    } finally {
      peer.close();
    }
    assert.equal(log.named("peer.link.accepted").length, 1);
  } finally {
    await hill.stop(0);
  }
});

Deno.test("a peer port answers a client's line with ? and closes; a bad hello there closes too", async () => {
  const log = new MemoryLog();
  const config = peerPorted();
  const hill = new Member({ config, name: "Hill", places, log });
  hill.start();
  try {
    const peerPort = hill.peerAddress!;
    const line = `IAMAT stranger ${LOC} 1700000000`;
    // Two lines: the first is answered, then the connection ends (the second gets nothing).
    assert.equal(await exchange(peerPort, `${line}\n${line}\n`), `? ${line}\n`);
    assert.equal(hill.store.get("stranger"), undefined);
    // A hello signed with another secret: refused, and the connection closed.
    const forged = formatHello(
      "Smith",
      await secretAuth("another-secret-of-32-characters!").sign("hello", "Smith", "Hill"),
    );
    assert.equal(await exchange(peerPort, `${forged}\n${line}\n`), `? ${forged}\n`);
    assert.equal(log.named("peer.link.rejected").length, 1);
    // An overlong first line is a stranger's too.
    const long = "x".repeat(config.settings.maxLineBytes + 100);
    const reply = await exchange(peerPort, `${long}\n${line}\n`);
    assert.match(reply, /^\? x+\n$/);
    // The member goes on serving both ports.
    assert.match(await exchange(hill.address, `${line}\n`), /^AT Hill /);
    await waitFor(() => hill.connections === 0, 5000, "every connection closed");
  } finally {
    await hill.stop(0);
  }
});

Deno.test("Member.start() throws PeerPortError when the peer port is taken, and frees its client port", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const clientPort = client.addr.port;
  client.close();
  const config = peerPorted();
  const hill = new Member({ config, name: "Hill", places });
  try {
    let caught: unknown;
    try {
      hill.start({ port: clientPort }, { port: taken.addr.port });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof PeerPortError);
    assert.ok(caught.cause instanceof Deno.errors.AddrInUse);
    assert.match(caught.message, new RegExp(`peer port 127\\.0\\.0\\.1:${taken.addr.port}`));
    assert.equal(hill.running, false);
    // The client listener it had opened is closed again.
    const again = Deno.listen({ hostname: "127.0.0.1", port: clientPort });
    again.close();
    // And the member starts once the peer port is free.
    hill.start({ port: clientPort }, { port: 0 });
    assert.equal(hill.running, true);
  } finally {
    taken.close();
    await hill.stop(0);
  }
});

Deno.test("the Member constructor refuses peer ports without a secret", () => {
  const config = peerPorted();
  const open: HerdConfig = { ...config, settings: { ...config.settings, secret: undefined } };
  assert.throws(
    () => new Member({ config: open, name: "Hill", places }),
    (e: unknown) => e instanceof ConfigError && /herd\.secret: required/.test(e.message),
  );
  // An injected secret auth is a secret.
  new Member({ config: open, name: "Hill", places, auth: secretAuth(SECRET) });
});

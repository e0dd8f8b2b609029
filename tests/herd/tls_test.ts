/**
 * TLS over real sockets on 127.0.0.1 port 0, with the committed fixtures of tests/fixtures/tls/
 * (scripts/gen_test_certs.sh): PEM checks, handshakes, the certificates a dialler refuses, a
 * plain-text client on a TLS port, reloads, and members flooding over TLS links.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { type HerdConfig, testConfig } from "../../src/config.ts";
import { request, runBench } from "../../src/client/mod.ts";
import type { AddressBook } from "../../src/herd/mod.ts";
import { type RunningMember, startMember } from "../../src/cli/serve.ts";
import {
  MemberTls,
  readPemFile,
  readTlsFiles,
  ReloadableTlsListener,
  tlsDial,
  TlsFileError,
} from "../../src/herd/tls.ts";
import { MemoryLog } from "../../src/log.ts";
import { noPlaces } from "../_no_places.ts";
import { waitFor } from "../_harness.ts";

const DIR = fileURLToPath(new URL("../fixtures/tls/", import.meta.url));
const path = (name: string) => DIR + name;
const pem = (name: string) => Deno.readTextFileSync(path(name));
const CA = pem("ca.pem");
const LOCAL = { hostname: "127.0.0.1", port: 0 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A listener with the fixture `name` (`member`, `expired`...) and the failures it reports. */
function listenWith(name: string): { listener: ReloadableTlsListener; failures: string[] } {
  const failures: string[] = [];
  const listener = new ReloadableTlsListener(LOCAL, {
    cert: pem(`${name}.pem`),
    key: pem(`${name}.key.pem`),
    onHandshakeFailed: (_remote, why) => failures.push(why),
  });
  return { listener, failures };
}

/** Accepts one connection and echoes what it reads until EOF or failure. */
async function echoOne(listener: ReloadableTlsListener): Promise<string> {
  const conn = await listener.accept();
  const buf = new Uint8Array(1024);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return "eof";
      await conn.write(buf.subarray(0, n));
    }
  } catch (e) {
    return (e as Error).message;
  } finally {
    conn.close();
  }
}

async function roundTrip(conn: Deno.Conn, text: string): Promise<string> {
  await conn.write(encoder.encode(text));
  const buf = new Uint8Array(1024);
  const n = await conn.read(buf);
  return n === null ? "" : decoder.decode(buf.subarray(0, n));
}

Deno.test("readPemFile() names the key and the file of a missing or non-PEM file", async () => {
  assert.throws(
    () => readPemFile("cert_file", "/nonexistent/c.pem"),
    (e: Error) =>
      e instanceof TlsFileError &&
      e.message === "tls.cert_file: cannot read /nonexistent/c.pem: no such file",
  );
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/k.pem`, "not a key\n");
    assert.throws(
      () => readPemFile("key_file", `${dir}/k.pem`),
      /^TlsFileError: tls\.key_file: .*k\.pem does not hold a PEM private key/,
    );
    // A key where the CA should be: not certificates.
    assert.throws(
      () => readTlsFiles({ caFile: path("ca.key.pem"), peers: false, clients: false }),
      /tls\.ca_file: .*ca\.key\.pem does not hold PEM certificates/,
    );
    assert.throws(
      () => readPemFile("ca_file", dir),
      /tls\.ca_file: cannot read .*: it is a directory/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(readPemFile("cert_file", path("member.pem")), pem("member.pem"));
});

Deno.test("MemberTls refuses a certificate and key that are not a pair, naming both files", () => {
  assert.throws(
    () =>
      new MemberTls({
        certFile: path("member.pem"),
        keyFile: path("rotated.key.pem"),
        peers: false,
        clients: true,
      }, new MemoryLog()),
    /tls\.cert_file and tls\.key_file: .*member\.pem and .*rotated\.key\.pem are not a usable pair/,
  );
});

Deno.test("a TLS dial verifies the CA and the host name, and the bytes pass both ways", async () => {
  // The fixtures name localhost too; the tests may only reach 127.0.0.1 (--allow-net=127.0.0.1).
  for (const hostname of ["127.0.0.1"]) {
    const { listener, failures } = listenWith("member");
    const served = echoOne(listener);
    const dial = tlsDial({ caCerts: () => [CA] });
    const conn = await dial({ hostname, port: listener.addr.port }, new AbortController().signal);
    assert.equal(await roundTrip(conn as Deno.Conn, "IAMAT x +1+1 1\n"), "IAMAT x +1+1 1\n");
    conn.close();
    assert.equal(await served, "eof");
    assert.deepEqual(failures, []);
    listener.close();
  }
});

Deno.test("a TLS dial refuses an expired certificate, another CA's, and one for another name", async () => {
  const cases: Array<[string, RegExp]> = [
    ["expired", /certificate expired/],
    ["other", /UnknownIssuer/],
    ["wrong-name", /not valid for name "127\.0\.0\.1"/],
  ];
  for (const [name, why] of cases) {
    const { listener, failures: serverSide } = listenWith(name);
    const served = echoOne(listener);
    const dialFailures: string[] = [];
    const dial = tlsDial({
      caCerts: () => [CA],
      onHandshakeFailed: (_, r) => dialFailures.push(r),
    });
    await assert.rejects(
      dial({ hostname: "127.0.0.1", port: listener.addr.port }, new AbortController().signal),
      (e: Error) =>
        /^TLS handshake failed: invalid peer certificate/.test(e.message) && why.test(e.message),
      name,
    );
    assert.equal(dialFailures.length, 1, name);
    assert.match(dialFailures[0], why);
    // The listener's side sees the alert the dialler sent.
    assert.match(await served, /TLS handshake failed: received fatal alert/);
    assert.equal(serverSide.length, 1);
    listener.close();
  }
});

Deno.test("a plain-text client on a TLS port fails its handshake; the listener goes on", async () => {
  const { listener, failures } = listenWith("member");
  const served = echoOne(listener);
  const plain = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  await plain.write(encoder.encode("IAMAT kiwi +34.068930-118.445127 1621464827.959\n"));
  assert.match(await served, /TLS handshake failed: received corrupt message/);
  // The client gets a TLS alert (not an answer), then the close.
  const buf = new Uint8Array(1024);
  let got = 0;
  for (let n = await plain.read(buf); n !== null; n = await plain.read(buf)) got += n;
  assert.ok(got < 64, `a short alert at most, got ${got} bytes`);
  plain.close();
  assert.equal(failures.length, 1);
  // A TLS client after it is served.
  const next = echoOne(listener);
  const conn = await tlsDial({ caCerts: () => [CA] })(
    { hostname: "127.0.0.1", port: listener.addr.port },
    new AbortController().signal,
  );
  assert.equal(await roundTrip(conn as Deno.Conn, "hello\n"), "hello\n");
  conn.close();
  assert.equal(await next, "eof");
  listener.close();
});

Deno.test("a connection the member closes mid-handshake is no handshake failure", async () => {
  const { listener, failures } = listenWith("member");
  // A client that connects and says nothing: its handshake waits, and the member closes it
  // (as a limit or an idle sweep would).
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const accepted = await listener.accept();
  accepted.close();
  // A read waits for the cut handshake to settle (it rejects), by then logged or not.
  await assert.rejects(accepted.read(new Uint8Array(1)));
  silent.close();
  assert.deepEqual(failures, []);
  listener.close();
});

Deno.test("a reload serves new connections with the new certificate; an established one stays", async () => {
  const { listener } = listenWith("member");
  const port = listener.addr.port;
  const dialCa = (ca: string) =>
    tlsDial({ caCerts: () => [ca] })({ hostname: "127.0.0.1", port }, new AbortController().signal);
  const first = echoOne(listener);
  const old = await dialCa(CA) as Deno.Conn;
  assert.equal(await roundTrip(old, "before\n"), "before\n");
  // Pending accept() across the reload, as a member's accept loop has.
  const second = echoOne(listener);
  const gapMs = await listener.reload(pem("other.pem"), pem("other.key.pem"));
  console.log(`reload: the port refused connections for ${gapMs.toFixed(3)} ms`);
  assert.equal(listener.addr.port, port);
  // The old connection still carries bytes, with the old certificate.
  assert.equal(await roundTrip(old, "after\n"), "after\n");
  // A new one gets the other CA's certificate: refused by the old CA, accepted by the new.
  await assert.rejects(dialCa(CA), /UnknownIssuer/);
  assert.match(await second, /TLS handshake failed/);
  const third = echoOne(listener);
  const fresh = await dialCa(pem("other-ca.pem")) as Deno.Conn;
  assert.equal(await roundTrip(fresh, "new\n"), "new\n");
  fresh.close();
  old.close();
  assert.equal(await first, "eof");
  assert.equal(await third, "eof");
  listener.close();
});

Deno.test("a reload that cannot listen again throws, and the listener recovers on its own", async () => {
  const { listener } = listenWith("member");
  const port = listener.addr.port;
  // A certificate and key that are not a pair: rustls refuses them once the old socket is closed.
  await assert.rejects(
    listener.reload(pem("member.pem"), pem("rotated.key.pem")),
    new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} again: .*KeyMismatch.*retrying every`),
  );
  // accept() waits for the recovery (old pair, same port), then serves.
  const served = echoOne(listener);
  let conn: Deno.Conn | undefined;
  await waitFor(
    async () => {
      try {
        conn = await tlsDial({ caCerts: () => [CA] })(
          { hostname: "127.0.0.1", port },
          new AbortController().signal,
        ) as Deno.Conn;
        return true;
      } catch {
        return false;
      }
    },
    10_000,
    "the listener back on its port",
  );
  assert.equal(await roundTrip(conn!, "back\n"), "back\n");
  conn!.close();
  assert.equal(await served, "eof");
  listener.close();
});

const SECRET = "a-test-secret-of-32-characters!!";
const IAMAT = "IAMAT kiwi +34.068930-118.445127 1621464827.959\n";

/**
 * The default herd on port 0 with peer ports (also 0) and the secret, TLS on the peer listeners
 * and links (`peers`) and, if `clients`, on the client ports and HTTPS, with certificate `cert`.
 */
function tlsConfig(clients: boolean, cert = "member", dir = DIR): HerdConfig {
  const base = testConfig();
  return {
    ...base,
    servers: base.servers.map((s) => ({ ...s, peerPort: 0 })),
    settings: { ...base.settings, secret: SECRET },
    tls: {
      certFile: `${dir}${cert}.pem`,
      keyFile: `${dir}${cert}.key.pem`,
      caFile: path("ca.pem"),
      peers: true,
      clients,
    },
  };
}

/** A herd started as `herd serve` starts its members (startMember), in this process. */
interface TlsHerd {
  running: Map<string, RunningMember>;
  logs: Map<string, MemoryLog>;
  stop(): Promise<void>;
}

async function startTlsHerd(configOf: (name: string) => HerdConfig): Promise<TlsHerd> {
  const names = testConfig().servers.map((s) => s.name);
  const addresses: AddressBook = new Map();
  const running = new Map<string, RunningMember>();
  const logs = new Map<string, MemoryLog>();
  try {
    for (const name of names) {
      const log = new MemoryLog();
      logs.set(name, log);
      running.set(
        name,
        await startMember(configOf(name), name, noPlaces(), { addresses, portZero: true, log }),
      );
    }
  } catch (e) {
    await Promise.all([...running.values()].map((r) => r.stop(0)));
    throw e;
  }
  return {
    running,
    logs,
    stop: async () => {
      await Promise.all([...running.values()].map((r) => r.stop(0)));
    },
  };
}

function allLinked(herd: TlsHerd): boolean {
  return [...herd.running.values()].every((r) =>
    [...r.member.links.values()].every((l) => l.state === "welcomed")
  );
}

Deno.test("a herd with tls.peers links over TLS peer ports and floods; its client ports stay plain", async () => {
  const herd = await startTlsHerd(() => tlsConfig(false));
  try {
    await waitFor(() => allLinked(herd), 10_000, "every TLS link welcomed");
    const [first, ...rest] = [...herd.running.values()].map((r) => r.member);
    assert.match(await request(first.address, IAMAT), /^AT \S+ [+-]\d+\.\d+ kiwi /);
    await waitFor(
      () => rest.every((m) => m.store.line("kiwi") !== undefined),
      10_000,
      "the flood on every member",
    );
    // The peer port speaks TLS: a plain-text line there fails the handshake, logged.
    const plain = await request(first.peerAddress!, IAMAT, { timeoutMs: 5000 });
    assert.doesNotMatch(plain, /^(AT|\? )/);
    const failed = herd.logs.get(first.name)!.named("tls.handshake.failed");
    assert.ok(failed.some((e) => /corrupt message/.test(String(e.fields.reason))));
    assert.ok(first.running);
  } finally {
    await herd.stop();
  }
});

Deno.test("tls.clients: the client port answers TLS clients, herd bench --tls works in both modes, and HTTPS", async () => {
  const config = tlsConfig(true);
  const names = config.servers.map((s) => s.name);
  const herd = await startTlsHerd(() => ({
    ...config,
    servers: config.servers.map((s) => s.name === names[0] ? { ...s, httpPort: 0 } : s),
  }));
  const http = Deno.createHttpClient({ caCerts: [CA] });
  try {
    await waitFor(() => allLinked(herd), 10_000, "every TLS link welcomed");
    const { member, face } = herd.running.get(names[0])!;
    const tls = { caCerts: [CA] };
    assert.match(await request({ ...member.address, tls }, IAMAT), /^AT \S+ [+-]\d+\.\d+ kiwi /);
    for (const mode of ["pipe", "conn"] as const) {
      const r = await runBench({
        mode,
        target: { ...member.address, tls },
        requests: 200,
        concurrency: 2,
      });
      assert.equal(r.errors, 0, mode);
      assert.equal(r.requests, 200, mode);
    }
    // The same port, asked in plain text, answers with a TLS alert and closes: no reply line.
    const plain = await request(member.address, "WHATSAT kiwi 10 1\n", { timeoutMs: 5000 });
    assert.doesNotMatch(plain, /^(AT|\? )/);
    const res = await fetch(`https://127.0.0.1:${face!.address.port}/v1/clients/kiwi`, {
      client: http,
    });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).client, "kiwi");
  } finally {
    http.close();
    await herd.stop();
  }
});

Deno.test("a member whose neighbour shows an expired or another CA's certificate keeps the link down and logs why", async () => {
  const names = testConfig().servers.map((s) => s.name);
  const bad: Record<string, string> = { [names[0]]: "expired", [names[1]]: "other" };
  const herd = await startTlsHerd((n) => tlsConfig(false, bad[n] ?? "member"));
  try {
    const members = [...herd.running.values()].map((r) => r.member);
    // Every neighbour of a bad member logs the reason it refused it; the links stay down.
    for (
      const [badName, why] of [[names[0], /certificate expired/], [
        names[1],
        /UnknownIssuer/,
      ]] as const
    ) {
      const dialers = members.filter((m) => m.links.has(badName));
      assert.ok(dialers.length > 0);
      await waitFor(
        () =>
          dialers.every((m) =>
            herd.logs.get(m.name)!.named("tls.handshake.failed").some((e) =>
              why.test(String(e.fields.reason))
            )
          ),
        10_000,
        `neighbours of ${badName} refusing its certificate`,
      );
      for (const m of dialers) assert.notEqual(m.links.get(badName)!.state, "welcomed");
    }
    // A link between two good members is up: the herd goes on around the bad ones.
    const good = members.find((m) =>
      !(m.name in bad) && [...m.links.keys()].some((p) => !(p in bad))
    )!;
    const peer = [...good.links.keys()].find((p) => !(p in bad))!;
    await waitFor(() => good.links.get(peer)!.state === "welcomed", 10_000, "a good link up");
  } finally {
    await herd.stop();
  }
});

Deno.test("a reload gives new connections to the peer port the new certificate; established links stay up", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(path("member.pem"), `${dir}/member.pem`);
    await Deno.copyFile(path("member.key.pem"), `${dir}/member.key.pem`);
    const herd = await startTlsHerd(() => tlsConfig(false, "member", `${dir}/`));
    try {
      await waitFor(() => allLinked(herd), 10_000, "every TLS link welcomed");
      const dials = () =>
        [...herd.running.values()].flatMap((r) => [...r.member.links.values()].map((l) => l.dials));
      const before = dials();
      // Rotate every member's files to the other CA's certificate, then reload each (SIGHUP).
      await Deno.copyFile(path("other.pem"), `${dir}/member.pem`);
      await Deno.copyFile(path("other.key.pem"), `${dir}/member.key.pem`);
      for (const r of herd.running.values()) {
        const done = await r.tls!.reload();
        assert.equal(done.listeners, 1, "the peer listener");
      }
      // A new connection to a peer port gets the new certificate.
      const member = herd.running.values().next().value!.member;
      const dial = (ca: string) =>
        tlsDial({ caCerts: () => [ca] })(member.peerAddress!, new AbortController().signal);
      await assert.rejects(dial(CA), /UnknownIssuer/);
      (await dial(pem("other-ca.pem"))).close();
      // The links made before carry a flood still, without a redial.
      assert.ok(allLinked(herd));
      assert.match(await request(member.address, IAMAT), /^AT /);
      await waitFor(
        () => [...herd.running.values()].every((r) => r.member.store.line("kiwi") !== undefined),
        10_000,
        "the flood over the old links",
      );
      assert.deepEqual(dials(), before, "no link redialled");
    } finally {
      await herd.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("MemberTls.reload() re-reads the files, keeps the old ones when a file is bad, and logs both", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(path("member.pem"), `${dir}/cert.pem`);
    await Deno.copyFile(path("member.key.pem"), `${dir}/key.pem`);
    const log = new MemoryLog();
    const t = new MemberTls({
      certFile: `${dir}/cert.pem`,
      keyFile: `${dir}/key.pem`,
      peers: false,
      clients: true,
    }, log);
    const listener = t.listen(LOCAL);
    // A half-done rotation (new certificate, old key) is refused; the old pair stays in use.
    await Deno.copyFile(path("rotated.pem"), `${dir}/cert.pem`);
    await assert.rejects(t.reload(), /not a usable pair/);
    assert.equal(log.named("tls.reload.failed").length, 1);
    assert.equal(t.certifiedKey!.cert, pem("member.pem"));
    await Deno.copyFile(path("rotated.key.pem"), `${dir}/key.pem`);
    const done = await t.reload();
    assert.equal(done.listeners, 1);
    assert.equal(t.certifiedKey!.cert, pem("rotated.pem"));
    assert.equal(log.named("tls.reloaded").length, 1);
    listener.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

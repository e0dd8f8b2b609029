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
import { type AddressBook, Member } from "../../src/herd/mod.ts";
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

/** A config of the default herd whose members listen and dial with TLS. */
function tlsConfig(): HerdConfig {
  return {
    ...testConfig(),
    tls: {
      certFile: path("member.pem"),
      keyFile: path("member.key.pem"),
      caFile: path("ca.pem"),
      peers: false,
      clients: true,
    },
  };
}

/** Members of `config` whose links dial TLS and whose listeners speak it (with `certOf`). */
function tlsHerd(
  config: HerdConfig,
  certOf: (name: string) => string = () => "member",
): { members: Map<string, Member>; logs: Map<string, MemoryLog>; tls: Map<string, MemberTls> } {
  const addresses: AddressBook = new Map();
  const members = new Map<string, Member>();
  const logs = new Map<string, MemoryLog>();
  const tls = new Map<string, MemberTls>();
  for (const s of config.servers) {
    const log = new MemoryLog();
    const cert = certOf(s.name);
    const t = new MemberTls(
      { ...config.tls, certFile: path(`${cert}.pem`), keyFile: path(`${cert}.key.pem`) },
      log,
    );
    logs.set(s.name, log);
    tls.set(s.name, t);
    members.set(
      s.name,
      new Member({
        config,
        name: s.name,
        places: noPlaces(),
        log,
        addresses,
        listen: t.listen,
        dial: t.dial,
      }),
    );
  }
  return { members, logs, tls };
}

Deno.test("a herd whose links are TLS floods an IAMAT to every member, and answers TLS clients", async () => {
  const config = tlsConfig();
  const { members } = tlsHerd(config);
  for (const m of members.values()) m.start({ port: 0 });
  try {
    await waitFor(
      () =>
        [...members.values()].every((m) =>
          [...m.links.values()].every((l) => l.state === "welcomed")
        ),
      10_000,
      "every TLS link welcomed",
    );
    const [first, ...rest] = [...members.values()];
    const tls = { caCerts: [CA] };
    const reply = await request(
      { ...first.address, tls },
      "IAMAT kiwi +34.068930-118.445127 1621464827.959\n",
    );
    assert.match(reply, /^AT \S+ [+-]\d+\.\d+ kiwi \+34\.068930-118\.445127 1621464827\.959\n$/);
    await waitFor(() => rest.every((m) => m.store.line("kiwi") !== undefined), 10_000, "flooded");
    // herd bench --tls, both modes, against the same member.
    for (const mode of ["pipe", "conn"] as const) {
      const r = await runBench({
        mode,
        target: { ...first.address, tls },
        requests: 200,
        concurrency: 2,
      });
      assert.equal(r.errors, 0, mode);
      assert.equal(r.requests, 200, mode);
    }
    // The same member, asked in plain text, answers with a TLS alert and closes: no reply line.
    const plain = await request(first.address, "WHATSAT kiwi 10 1\n", { timeoutMs: 5000 });
    assert.doesNotMatch(plain, /^(AT|\? )/);
  } finally {
    await Promise.all([...members.values()].map((m) => m.stop(0)));
  }
});

Deno.test("a member whose neighbour shows an expired or another CA's certificate keeps the link down and logs why", async () => {
  const config = tlsConfig();
  const names = config.servers.map((s) => s.name);
  const bad: Record<string, string> = { [names[0]]: "expired", [names[1]]: "other" };
  const { members, logs } = tlsHerd(config, (n) => bad[n] ?? "member");
  for (const m of members.values()) m.start({ port: 0 });
  try {
    // Every neighbour of a bad member logs the reason it refused it; the links stay down.
    for (
      const [badName, why] of [[names[0], /certificate expired/], [
        names[1],
        /UnknownIssuer/,
      ]] as const
    ) {
      const dialers = [...members.values()].filter((m) => m.links.has(badName));
      assert.ok(dialers.length > 0);
      await waitFor(
        () =>
          dialers.every((m) =>
            logs.get(m.name)!.named("tls.handshake.failed").some((e) =>
              why.test(String(e.fields.reason))
            )
          ),
        10_000,
        `neighbours of ${badName} refusing its certificate`,
      );
      for (const m of dialers) assert.notEqual(m.links.get(badName)!.state, "welcomed");
    }
    // A link between two good members is up: the herd goes on around the bad ones.
    const good = [...members.values()].find((m) =>
      !(m.name in bad) && [...m.links.keys()].some((p) => !(p in bad))
    )!;
    const peer = [...good.links.keys()].find((p) => !(p in bad))!;
    await waitFor(() => good.links.get(peer)!.state === "welcomed", 10_000, "a good link up");
  } finally {
    await Promise.all([...members.values()].map((m) => m.stop(0)));
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

/**
 * `[tls] clients = true` end to end: a `herd serve` process answering `herd send --tls --ca`,
 * HTTPS with the test CA, a plain-text client refused at the handshake, and SIGHUP replacing
 * the certificate for new connections while an established connection carries on.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ClientError, request } from "../../src/client/mod.ts";
import { waitFor } from "../_harness.ts";
import { finish, freePorts, readLog, runHerd, spawnHerd, withTempDir } from "./_cli.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/tls/", import.meta.url));
const IAMAT = "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";

/** How long a member may take from spawn to its first answer, ms. */
const READY_LIMIT_MS = 20_000;

/** A TLS reply to `line` on a new connection, or the failure's message. */
async function tryTls(port: number, ca: string, line: string): Promise<string> {
  try {
    return await request({ hostname: "127.0.0.1", port, tls: { caCerts: [ca] } }, line, {
      timeoutMs: 5000,
    });
  } catch (e) {
    if (e instanceof ClientError) return `failed: ${e.message}`;
    throw e;
  }
}

Deno.test("herd serve with [tls] clients = true: send --tls --ca, HTTPS, a refused plain client, and SIGHUP rotating the certificate", async () => {
  await withTempDir(async (dir) => {
    const [port, httpPort] = freePorts(2);
    for (const f of ["member.pem", "member.key.pem", "ca.pem"]) {
      await Deno.copyFile(FIXTURES + f, `${dir}/${f}`);
    }
    const ca = await Deno.readTextFile(`${dir}/ca.pem`);
    const otherCa = await Deno.readTextFile(FIXTURES + "other-ca.pem");
    await Deno.writeTextFile(
      `${dir}/herd.toml`,
      [
        "[tls]",
        'cert_file = "member.pem"',
        'key_file = "member.key.pem"',
        'ca_file = "ca.pem"',
        "clients = true",
        "[[servers]]",
        'name = "Solo"',
        'host = "127.0.0.1"',
        `port = ${port}`,
        `http_port = ${httpPort}`,
        "",
      ].join("\n"),
    );
    const child = spawnHerd(["serve", "Solo", "--config", "herd.toml", "--log-dir", "logs"], dir);
    const output = child.output();
    let exited = false;
    output.finally(() => exited = true);
    let established: Deno.TlsConn | undefined;
    const http = Deno.createHttpClient({ caCerts: [ca] });
    try {
      await waitFor(
        async () => !exited && /^AT Solo /.test(await tryTls(port, ca, `${IAMAT}\n`)),
        READY_LIMIT_MS,
        "Solo answering over TLS",
      );

      // The CLI, as a user runs it.
      const sent = await runHerd(
        ["send", "--tls", "--ca", `${dir}/ca.pem`, `127.0.0.1:${port}`, ...IAMAT.split(" ")],
        dir,
      );
      assert.equal(sent.code, 0, sent.stderr);
      assert.match(sent.stdout, /^AT Solo [+-]\d+\.\d+ kiwi\.cs\.ucla\.edu /);
      const plainSend = await runHerd(["send", `127.0.0.1:${port}`, IAMAT], dir);
      assert.equal(plainSend.code, 2, "plain text gets no reply line");
      assert.match(plainSend.stderr, /answered with a TLS alert: it speaks TLS.*add --tls/);
      const noCa = await runHerd(["send", "--tls", `127.0.0.1:${port}`, IAMAT], dir);
      assert.equal(noCa.code, 2);
      assert.match(noCa.stderr, /TLS handshake failed: invalid peer certificate: UnknownIssuer/);

      // HTTPS with the CA; the record is there.
      const res = await fetch(`https://127.0.0.1:${httpPort}/v1/clients/kiwi.cs.ucla.edu`, {
        client: http,
      });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).client, "kiwi.cs.ucla.edu");

      // An established TLS connection, kept across the reload.
      established = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] });
      const line = async (text: string) => {
        await established!.write(new TextEncoder().encode(text));
        const buf = new Uint8Array(4096);
        const n = await established!.read(buf);
        return n === null ? "" : new TextDecoder().decode(buf.subarray(0, n));
      };
      assert.match(await line(`${IAMAT}\n`), /^AT Solo /);

      // Rotate: new files in place, then SIGHUP.
      await Deno.copyFile(FIXTURES + "other.pem", `${dir}/member.pem`);
      await Deno.copyFile(FIXTURES + "other.key.pem", `${dir}/member.key.pem`);
      child.kill("SIGHUP");
      await waitFor(
        async () => (await readLog(`${dir}/logs/Solo.log`)).some((e) => e.event === "tls.reloaded"),
        10_000,
        "tls.reloaded in the log",
      );
      // New connections get the new certificate: the old CA no longer verifies it, the new does.
      assert.match(await tryTls(port, ca, `${IAMAT}\n`), /UnknownIssuer/);
      assert.match(await tryTls(port, otherCa, `${IAMAT}\n`), /^AT Solo /);
      const http2 = Deno.createHttpClient({ caCerts: [otherCa] });
      try {
        const res2 = await fetch(`https://127.0.0.1:${httpPort}/healthz`, { client: http2 });
        assert.equal(res2.status, 200);
        await res2.body?.cancel();
      } finally {
        http2.close();
      }
      // The connection made before the reload still answers.
      assert.match(await line(`${IAMAT}\n`), /^AT Solo /);
    } finally {
      established?.close();
      http.close();
      if (!exited) child.kill("SIGTERM");
      const result = await finish(child, 10_000, output);
      assert.equal(result.code, 0, result.stderr);
    }
    const events = await readLog(`${dir}/logs/Solo.log`);
    const failed = events.filter((e) => e.event === "tls.handshake.failed");
    assert.ok(failed.some((e) => /corrupt message/.test(String(e.reason))), "plain client logged");
    const reloaded = events.find((e) => e.event === "tls.reloaded")!;
    assert.equal(reloaded.listeners, 2, "the client listener and the HTTPS server");
    console.log(`SIGHUP reload: longest refusal ${reloaded.gapMs} ms`);
  });
});

Deno.test("two herd serve processes with [tls] peers = true flood over TLS peer ports, and SIGHUP keeps their link", async () => {
  await withTempDir(async (dir) => {
    const [portA, peerA, portB, peerB] = freePorts(4);
    for (const f of ["member.pem", "member.key.pem", "ca.pem"]) {
      await Deno.copyFile(FIXTURES + f, `${dir}/${f}`);
    }
    // Each member's own copy of the files, so that one can be rotated alone.
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/b`);
    const toml = [
      "[herd]",
      'links = [["A", "B"]]',
      'secret = "a-test-secret-of-32-characters!!"',
      "redial_min_ms = 20",
      "redial_max_ms = 200",
      "[tls]",
      'cert_file = "member.pem"',
      'key_file = "member.key.pem"',
      `ca_file = "${dir}/ca.pem"`,
      "peers = true",
      "[[servers]]",
      'name = "A"',
      'host = "127.0.0.1"',
      `port = ${portA}`,
      `peer_port = ${peerA}`,
      "[[servers]]",
      'name = "B"',
      'host = "127.0.0.1"',
      `port = ${portB}`,
      `peer_port = ${peerB}`,
      "",
    ].join("\n");
    for (const m of ["a", "b"]) {
      await Deno.writeTextFile(`${dir}/${m}/herd.toml`, toml);
      await Deno.copyFile(`${dir}/member.pem`, `${dir}/${m}/member.pem`);
      await Deno.copyFile(`${dir}/member.key.pem`, `${dir}/${m}/member.key.pem`);
    }
    const spawn = (name: string, sub: string) => {
      const child = spawnHerd(
        ["serve", name, "--config", "herd.toml", "--log-dir", `${dir}/logs`],
        `${dir}/${sub}`,
      );
      return { child, output: child.output() };
    };
    const a = spawn("A", "a");
    const b = spawn("B", "b");
    const events = async (name: string) => {
      try {
        return await readLog(`${dir}/logs/${name}.log`);
      } catch {
        return [];
      }
    };
    const stored = async (name: string, client: string) =>
      (await events(name)).some((e) =>
        e.event === "record.stored" &&
        (e.client === client || (Array.isArray(e.clients) && e.clients.includes(client)))
      );
    const linkOpens = async (name: string) =>
      (await events(name)).filter((e) => e.event === "peer.link.open").length;
    try {
      await waitFor(
        async () => (await linkOpens("A")) >= 1 && (await linkOpens("B")) >= 1,
        READY_LIMIT_MS,
        "both links up over TLS",
      );
      const iamat = (id: string) =>
        request({ hostname: "127.0.0.1", port: portA }, `IAMAT ${id} +34.068930-118.445127 1\n`);
      assert.match(await iamat("first"), /^AT A /);
      await waitFor(() => stored("B", "first"), 10_000, "the flood on B");

      // B rotates to the other CA's certificate: a redial by A would now fail, so a flood that
      // still arrives went over the link made before the reload.
      await Deno.copyFile(FIXTURES + "other.pem", `${dir}/b/member.pem`);
      await Deno.copyFile(FIXTURES + "other.key.pem", `${dir}/b/member.key.pem`);
      b.child.kill("SIGHUP");
      await waitFor(
        async () => (await events("B")).some((e) => e.event === "tls.reloaded"),
        10_000,
        "tls.reloaded on B",
      );
      const otherCa = await Deno.readTextFile(FIXTURES + "other-ca.pem");
      const fresh = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: peerB,
        caCerts: [otherCa],
      });
      await fresh.handshake();
      fresh.close();
      assert.match(await iamat("second"), /^AT A /);
      await waitFor(() => stored("B", "second"), 10_000, "a flood over the old link");
      assert.equal(await linkOpens("A"), 1, "A never redialled B");
    } finally {
      for (const m of [a, b]) {
        try {
          m.child.kill("SIGTERM");
        } catch { /* exited */ }
      }
      for (const m of [a, b]) {
        const r = await finish(m.child, 10_000, m.output);
        assert.equal(r.code, 0, r.stderr);
      }
    }
    const reloaded = (await events("B")).find((e) => e.event === "tls.reloaded")!;
    assert.equal(reloaded.listeners, 1, "the peer listener (the client port is plain)");
  });
});

Deno.test("herd serve without TLS survives SIGHUP: it logs that nothing was reloaded and serves on", async () => {
  await withTempDir(async (dir) => {
    const [port] = freePorts(1);
    await Deno.writeTextFile(
      `${dir}/herd.toml`,
      `[[servers]]\nname = "Solo"\nhost = "127.0.0.1"\nport = ${port}\n`,
    );
    const child = spawnHerd(["serve", "Solo", "--config", "herd.toml", "--log-dir", "logs"], dir);
    const output = child.output();
    let exited = false;
    output.finally(() => exited = true);
    const plain = () =>
      request({ hostname: "127.0.0.1", port }, `${IAMAT}\n`, { timeoutMs: 5000 }).catch((e) =>
        `failed: ${e.message}`
      );
    try {
      await waitFor(async () => !exited && /^AT Solo /.test(await plain()), READY_LIMIT_MS, "up");
      child.kill("SIGHUP");
      await waitFor(
        async () =>
          (await readLog(`${dir}/logs/Solo.log`)).some((e) => e.event === "tls.reload.failed"),
        10_000,
        "tls.reload.failed in the log",
      );
      assert.equal(exited, false, "SIGHUP did not end the member");
      assert.match(await plain(), /^AT Solo /);
    } finally {
      if (!exited) child.kill("SIGTERM");
      const result = await finish(child, 10_000, output);
      assert.equal(result.code, 0, result.stderr);
    }
  });
});

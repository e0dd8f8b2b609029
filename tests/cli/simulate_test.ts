import assert from "node:assert/strict";
import { parseConfig } from "../../src/config.ts";
import { addressRanges, LISTED_MEMBERS } from "../../src/cli/simulate.ts";
import { formatTopologyToml, generateTopology } from "../../src/topology.ts";
import {
  assertUserError,
  DEFAULT_HERD_TOML,
  DEFAULT_NAMES,
  defaultHerdToml,
  freePorts,
  readLog,
  runHerd,
  spawnHerd,
  tryExchange,
  withTempDir,
} from "./_cli.ts";

/** Reads `child`'s stdout until `marker` appears (bounded); returns everything read. */
async function readUntil(
  stdout: ReadableStream<Uint8Array>,
  marker: string,
  limitMs: number,
): Promise<{ text: string; rest: Promise<string> }> {
  const reader = stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + limitMs;
  while (!text.includes(marker)) {
    const timeout = new Promise<null>((r) => setTimeout(() => r(null), deadline - Date.now()));
    const next = await Promise.race([reader.read(), timeout]);
    if (next === null || next.done) throw new Error(`no "${marker}" in ${limitMs} ms: ${text}`);
    text += next.value;
  }
  const rest = (async () => {
    let more = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) more += r.value;
    return more;
  })();
  return { text, rest };
}

Deno.test("herd simulate --demo exits 0, says every step behaved and logs every member", async () => {
  const members = parseConfig(await Deno.readTextFile(DEFAULT_HERD_TOML)).servers.map((s) =>
    s.name
  );
  await withTempDir(async (dir) => {
    const logs = `${dir}/logs`;
    const r = await runHerd(
      ["simulate", "--demo", "--config", DEFAULT_HERD_TOML, "--log-dir", logs],
      dir,
    );
    assert.equal(r.code, 0, `exit code; stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.ok(r.stdout.includes("demo finished: every step behaved"), r.stdout);
    assert.doesNotMatch(r.stdout, /^!! /m);
    assert.equal(r.stderr, "");

    const files: string[] = [];
    for await (const entry of Deno.readDir(logs)) files.push(entry.name);
    assert.deepEqual(files.sort(), members.map((m) => `${m}.log`).sort());
    for (const m of members) {
      const events = await readLog(`${logs}/${m}.log`);
      assert.ok(events.some((e) => e.event === "member.listening"), `${m} logged listening`);
    }
    // The demo's first IAMAT goes to the first member of the file.
    const first = await readLog(`${logs}/${members[0]}.log`);
    assert.ok(
      first.some((e) =>
        e.event === "msg.in" && String(e.line).startsWith("IAMAT kiwi.cs.ucla.edu ")
      ),
      `${members[0]} logged the demo's IAMAT`,
    );
  });
});

Deno.test("herd simulate --demo runs a herd with peer ports (and refuses one without a secret)", async () => {
  await withTempDir(async (dir) => {
    const free = freePorts(2 * DEFAULT_NAMES.length);
    const ports = new Map(DEFAULT_NAMES.map((n, i) => [n, free[i]]));
    const withPeerPorts = defaultHerdToml(ports).replace(
      /^port = (\d+)$/gm,
      (line, port) =>
        `${line}\npeer_port = ${free[DEFAULT_NAMES.length + free.indexOf(Number(port))]}`,
    );
    const open = `${dir}/open.toml`;
    await Deno.writeTextFile(open, withPeerPorts);
    assertUserError(
      await runHerd(["simulate", "--demo", "--config", open, "--log-dir", `${dir}/logs`], dir),
      ["herd.secret: required"],
    );
    const config = `${dir}/herd.toml`;
    await Deno.writeTextFile(
      config,
      withPeerPorts.replace("[herd]\n", '[herd]\nsecret = "a-test-secret-of-32-characters!!"\n'),
    );
    const r = await runHerd(
      ["simulate", "--demo", "--config", config, "--log-dir", `${dir}/logs`],
      dir,
    );
    assert.equal(r.code, 0, `exit code; stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.ok(r.stdout.includes("demo finished: every step behaved"), r.stdout);
    const events = await readLog(`${dir}/logs/${DEFAULT_NAMES[0]}.log`);
    const listening = events.filter((e) => e.event === "member.listening");
    assert.ok(listening.length >= 1 && listening.every((e) => e.peerAddress !== undefined));
  });
});

Deno.test("herd simulate --demo runs over TLS peer links, restart included (and refuses TLS client ports)", async () => {
  await withTempDir(async (dir) => {
    const free = freePorts(2 * DEFAULT_NAMES.length);
    const ports = new Map(DEFAULT_NAMES.map((n, i) => [n, free[i]]));
    const fixtures = new URL("../fixtures/tls/", import.meta.url).pathname;
    const tls = (clients: boolean) =>
      `[tls]\ncert_file = "${fixtures}member.pem"\nkey_file = "${fixtures}member.key.pem"\n` +
      `ca_file = "${fixtures}ca.pem"\npeers = true\nclients = ${clients}\n`;
    const herd = defaultHerdToml(ports).replace(
      /^port = (\d+)$/gm,
      (line, port) =>
        `${line}\npeer_port = ${free[DEFAULT_NAMES.length + free.indexOf(Number(port))]}`,
    ).replace("[herd]\n", '[herd]\nsecret = "a-test-secret-of-32-characters!!"\n');
    const config = `${dir}/herd.toml`;
    await Deno.writeTextFile(config, tls(false) + herd);
    const r = await runHerd(
      ["simulate", "--demo", "--config", config, "--log-dir", `${dir}/logs`],
      dir,
    );
    assert.equal(r.code, 0, `exit code; stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.ok(r.stdout.includes("demo finished: every step behaved"), r.stdout);
    const events = (await Promise.all(
      DEFAULT_NAMES.map((n) => readLog(`${dir}/logs/${n}.log`)),
    )).flat();
    assert.deepEqual(events.filter((e) => e.event === "tls.handshake.failed"), []);
    await Deno.writeTextFile(config, tls(true) + herd);
    assertUserError(
      await runHerd(["simulate", "--demo", "--config", config, "--log-dir", `${dir}/logs`], dir),
      ["the demo speaks plain TCP"],
    );
  });
});

Deno.test("herd simulate exits 2 with one 'herd: ' line when the config file is missing", async () => {
  await withTempDir(async (dir) => {
    const config = `${dir}/absent.toml`;
    const r = await runHerd(
      ["simulate", "--demo", "--config", config, "--log-dir", `${dir}/logs`],
      dir,
    );
    assertUserError(r, [config, "no such file"]);
  });
});

Deno.test("herd simulate's default console is calm: start, links, one config warning, stop; no per-message lines", async () => {
  await withTempDir(async (dir) => {
    const free = freePorts(DEFAULT_NAMES.length);
    const ports = new Map(DEFAULT_NAMES.map((n, i) => [n, free[i]]));
    const config = `${dir}/herd.toml`;
    await Deno.writeTextFile(config, defaultHerdToml(ports));
    const child = spawnHerd(["simulate", "--config", config, "--log-dir", `${dir}/logs`], dir);
    const stderr = new Response(child.stderr).text();
    let startup: string;
    let rest: Promise<string>;
    try {
      ({ text: startup, rest } = await readUntil(child.stdout, "Ctrl-C stops the herd.", 20_000));
      const first = ports.get(DEFAULT_NAMES[0])!;
      assert.match(
        await tryExchange(first, "IAMAT kiwi +34.068930-118.445127 1621464827.9\n"),
        /^AT /,
      );
      assert.match(await tryExchange(first, "WHATSAT kiwi 10 1\n"), /^AT /);
      assert.match(await tryExchange(first, "HELLO there\n"), /^\? HELLO there/);
    } finally {
      child.kill("SIGINT");
    }
    const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const status = await child.status;
    clearTimeout(killer);
    const exit = { code: status.code, stderr: await stderr };
    assert.equal(exit.code, 0, exit.stderr);
    const console = startup + await rest;
    const shown = [...console.matchAll(/^\d\d:\d\d:\d\d\.\d{3} \S+( [A-Z]+)? (\S+)/gm)];
    const events = shown.map((m) => m[2]);
    const allowed = new Set([
      "member.listening",
      "member.unauthenticated",
      "peer.link.open",
      "member.stopping",
      "member.stopped",
    ]);
    // Warnings and errors always show (a busy machine may drop a link); info only if allowed.
    const info = shown.filter((m) => m[1] === undefined).map((m) => m[2]);
    assert.deepEqual(info.filter((e) => !allowed.has(e)), [], `only operator events:\n${console}`);
    assert.doesNotMatch(console, /msg\.in|reply\.out|sync\.|http\.request/);
    assert.equal(events.filter((e) => e === "member.unauthenticated").length, 1, "one warning");
    assert.equal(events.filter((e) => e === "member.listening").length, DEFAULT_NAMES.length);
    assert.equal(events.filter((e) => e === "member.stopped").length, DEFAULT_NAMES.length);
    const beforeBanner = startup.slice(0, startup.indexOf("herd simulate:")).split("\n");
    assert.ok(beforeBanner.length <= 5 + 1 + 12 + 1, `start-up lines:\n${startup}`);
    // The files still hold every message.
    const log = await readLog(`${dir}/logs/${DEFAULT_NAMES[0]}.log`);
    const lines = log.filter((e) => e.event === "msg.in").map((e) => String(e.line));
    assert.ok(lines.includes("HELLO there"), "the log file has the client's lines");
  });
});

/**
 * The first port of `n` consecutive ports that were free a moment ago on 127.0.0.1, all bound
 * before any is closed. Searched below Linux's ephemeral range (32768-60999), where the port 0
 * listeners of tests running alongside never land.
 */
function freeRange(n: number): number {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - n));
    const held: Deno.Listener[] = [];
    try {
      for (let p = base; p < base + n; p++) {
        held.push(Deno.listen({ hostname: "127.0.0.1", port: p }));
      }
      return base;
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse)) throw e;
    } finally {
      for (const l of held) l.close();
    }
  }
  throw new Error(`no ${n} consecutive free ports found`);
}

Deno.test("herd simulate runs 100 generated members in one process with a console of a few lines", async () => {
  await withTempDir(async (dir) => {
    const base = freeRange(100);
    const topology = generateTopology({ members: 100, degree: 4, seed: 1, port: base });
    // Short redials: a link that loses a race at start comes back in milliseconds.
    const text = formatTopologyToml(topology)
      .replace("[herd]\n", "[herd]\nredial_min_ms = 20\nredial_max_ms = 200\n");
    const config = `${dir}/herd-100.toml`;
    await Deno.writeTextFile(config, text);
    const child = spawnHerd(["simulate", "--config", config, "--log-dir", `${dir}/logs`], dir);
    const stderr = new Response(child.stderr).text();
    let startup: string;
    let rest: Promise<string>;
    const at = `AT m001 `;
    try {
      ({ text: startup, rest } = await readUntil(child.stdout, "Ctrl-C stops the herd.", 60_000));
      assert.match(
        startup,
        new RegExp(`100 members listening on 127\\.0\\.0\\.1:${base}-${base + 99}`),
      );
      assert.match(startup, /\d+ of 400 links up/);
      // An update at the first member, asked for at the last (6 hops away at most).
      const update = "IAMAT far.kiwi +34.068930-118.445127 1621464827.9\n";
      assert.ok((await tryExchange(base, update)).startsWith(at));
      const deadline = Date.now() + 30_000;
      let answer = "";
      while (!answer.startsWith(at) && Date.now() < deadline) {
        answer = await tryExchange(base + 99, "WHATSAT far.kiwi 10 1\n");
        if (!answer.startsWith(at)) await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(answer, /^AT m001 \S+ far\.kiwi \+34\.068930-118\.445127 1621464827\.9\n\{/);
    } finally {
      child.kill("SIGINT");
    }
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const status = await child.status;
    clearTimeout(killer);
    assert.equal(status.code, 0, await stderr);
    const console = startup + await rest;
    const lines = console.split("\n").filter((l) => l !== "");
    // The banner, a line per change in the links up, the stop: never a line per member.
    assert.ok(lines.length <= 30, `${lines.length} console lines:\n${console}`);
    assert.match(console, /herd stopping 100 members\n/);
    assert.match(console, /herd 100 members stopped\n/);
    assert.doesNotMatch(console, /member\.listening|peer\.link\.open|member\.stopped/);
    const files: string[] = [];
    for await (const entry of Deno.readDir(`${dir}/logs`)) {
      if (entry.name.endsWith(".log")) files.push(entry.name);
    }
    assert.equal(files.length, 100);
    const last = await readLog(`${dir}/logs/m100.log`);
    // One record per event, or a batch of them (`clients`).
    const names = (
      e: Record<string, unknown>,
    ) => [e.client, ...(Array.isArray(e.clients) ? e.clients : [])];
    assert.ok(last.some((e) => e.event === "record.stored" && names(e).includes("far.kiwi")));
  });
});

Deno.test("addressRanges() writes ports as ranges per host, counting past a few", () => {
  const a = (hostname: string, ...ports: number[]) => ports.map((port) => ({ hostname, port }));
  const cases: Array<[Array<{ hostname: string; port: number }>, string]> = [
    [a("127.0.0.1", 12000), "127.0.0.1:12000"],
    [a("127.0.0.1", 12002, 12000, 12001), "127.0.0.1:12000-12002"],
    [a("127.0.0.1", 1, 2, 4, 6, 7), "127.0.0.1:1-2,4,6-7"],
    [a("127.0.0.1", 1, 3, 5, 7, 9, 11), "127.0.0.1:1,3,5,... (6 ports, 1-11)"],
    [[...a("127.0.0.1", 5, 6), ...a("::1", 7, 8)], "127.0.0.1:5-6, [::1]:7-8"],
  ];
  for (const [addresses, text] of cases) assert.equal(addressRanges(addresses), text);
  assert.ok(LISTED_MEMBERS >= DEFAULT_NAMES.length, "the default herd is listed member by member");
});

import assert from "node:assert/strict";
import { parseConfig } from "../../src/config.ts";
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

import assert from "node:assert/strict";
import { exchange } from "../_harness.ts";
import {
  assertUserError,
  CHILD_PERMISSIONS,
  finish,
  freePort,
  freePorts,
  type HerdResult,
  herdToml,
  MAIN,
  readLog,
  runHerd,
  spawnHerd,
  tryExchange,
  withTempDir,
} from "./_cli.ts";

/** How long a member may take from spawn to its first answer, ms. */
const READY_LIMIT_MS = 20_000;

/** How long a member may take to exit after SIGTERM, ms. */
const STOP_LIMIT_MS = 10_000;

/** A `herd serve` child whose output is being collected. */
interface Served {
  name: string;
  port: number;
  child: Deno.ChildProcess;
  output: Promise<Deno.CommandOutput>;
  exited: () => boolean;
  spawnedAt: number;
}

/** Spawns `herd serve <name>` with `config`, logging to `<dir>/logs`. */
function startServe(dir: string, config: string, name: string, port: number): Served {
  const spawnedAt = performance.now();
  const child = spawnHerd(["serve", name, "--config", config, "--log-dir", `${dir}/logs`], dir);
  const output = child.output();
  let done = false;
  output.then(() => done = true, () => done = true);
  return { name, port, child, output, exited: () => done, spawnedAt };
}

/** Sends SIGTERM (if still running) and collects the output, bounded. */
async function stopServe(s: Served): Promise<HerdResult> {
  if (!s.exited()) {
    try {
      s.child.kill("SIGTERM");
    } catch {
      // exited meanwhile
    }
  }
  return await finish(s.child, STOP_LIMIT_MS, s.output);
}

/**
 * Runs `during` against started members, then stops every one of them whatever happened.
 *
 * @returns What `during` returned and each member's exit, in order.
 */
async function serving<T>(
  members: Served[],
  during: () => Promise<T>,
): Promise<{ value: T; results: HerdResult[] }> {
  let value: T | undefined;
  let failure: { error: unknown } | undefined;
  try {
    value = await during();
  } catch (error) {
    failure = { error };
  }
  const stopped = await Promise.allSettled(members.map(stopServe));
  if (failure !== undefined) throw failure.error;
  const results = stopped.map((s) => {
    if (s.status === "rejected") throw s.reason;
    return s.value;
  });
  return { value: value as T, results };
}

/**
 * Sends `line` to the member until the reply matches `want` (connection refused and other
 * replies are retried every 20 ms).
 *
 * @returns The reply and the time since spawn, ms.
 * @throws {Error} If the member exits or `limitMs` passes first.
 */
async function untilReply(
  s: Served,
  line: string,
  want: RegExp,
  limitMs = READY_LIMIT_MS,
): Promise<{ reply: string; ms: number }> {
  const deadline = performance.now() + limitMs;
  let last = "(no answer)";
  while (performance.now() < deadline) {
    if (s.exited()) {
      const r = await finish(s.child, STOP_LIMIT_MS, s.output);
      throw new Error(`${s.name} exited with ${r.code} before answering: ${r.stderr}`);
    }
    try {
      // A try that waits long enough not to resend a line the member did get.
      const reply = await exchange({ hostname: "127.0.0.1", port: s.port }, line, 5000);
      if (want.test(reply)) return { reply, ms: performance.now() - s.spawnedAt };
      last = reply;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${s.name} did not answer ${line.trim()} with ${want} in ${limitMs} ms: ${last}`);
}

const IAMAT = "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";

Deno.test("herd serve answers an IAMAT and exits 0 on SIGTERM, logging JSON Lines", async () => {
  await withTempDir(async (dir) => {
    const port = freePort();
    const config = `${dir}/herd.toml`;
    await Deno.writeTextFile(config, herdToml([{ name: "Solo", port }]));
    const solo = startServe(dir, config, "Solo", port);
    const { value: ready, results: [exit] } = await serving(
      [solo],
      () => untilReply(solo, `${IAMAT}\n`, /^AT /),
    );
    console.log(`herd serve (1-member herd): spawn to first IAMAT reply ${ready.ms.toFixed(0)} ms`);

    assert.match(
      ready.reply,
      /^AT Solo [+-][0-9]+\.[0-9]{9} kiwi\.cs\.ucla\.edu \+34\.068930-118\.445127 1621464827\.959498503\n$/,
    );
    assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
    assert.equal(exit.stderr, "");

    const events = await readLog(`${dir}/logs/Solo.log`);
    const named = (event: string) => events.filter((e) => e.event === event);
    assert.deepEqual(named("member.listening").map((e) => e.address), [`127.0.0.1:${port}`]);
    assert.equal(named("msg.in").filter((e) => e.line === IAMAT).length, 1);
    const replies = named("reply.out").map((e) => String(e.reply));
    assert.equal(replies.length, 1);
    assert.ok(replies[0].startsWith("AT Solo "), replies[0]);
    assert.ok(replies[0].includes(" kiwi.cs.ucla.edu +34.068930-118.445127 "), replies[0]);
    assert.equal(named("member.stopping")[0]?.signal, "SIGTERM");
    assert.equal(named("member.stopped").length, 1, "the log was flushed after the stop");
  });
});

Deno.test("herd serve absorbs a burst of SIGINTs (one Ctrl-C through deno task): exit 0, stopped logged, records saved", async () => {
  await withTempDir(async (dir) => {
    const port = freePort();
    const config = `${dir}/herd.toml`;
    const toml = herdToml([{ name: "Solo", port }]).replace(
      "[herd]\n",
      `[herd]\ndata_dir = "${dir}/data"\n`,
    );
    await Deno.writeTextFile(config, toml);
    const solo = startServe(dir, config, "Solo", port);
    try {
      await untilReply(solo, `${IAMAT}\n`, /^AT /);
    } catch (e) {
      await stopServe(solo);
      throw e;
    }
    // What a terminal plus `deno task` deliver for one key press.
    solo.child.kill("SIGINT");
    solo.child.kill("SIGINT");
    solo.child.kill("SIGINT");
    const exit = await finish(solo.child, STOP_LIMIT_MS, solo.output);
    assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
    assert.equal(exit.stderr, "");
    const events = await readLog(`${dir}/logs/Solo.log`);
    const named = (event: string) => events.filter((e) => e.event === event);
    assert.deepEqual(named("member.stopping").map((e) => e.signal), ["SIGINT"]);
    assert.equal(named("member.stopped").length, 1);
    assert.equal(named("member.stopped")[0].records, 1);

    // The record file is whole: a restart loads the record.
    const again = startServe(dir, config, "Solo", port);
    const { value: reply } = await serving(
      [again],
      () => untilReply(again, "WHATSAT kiwi.cs.ucla.edu 10 1\n", /^AT Solo /),
    );
    assert.match(
      reply.reply,
      /^AT Solo \S+ kiwi\.cs\.ucla\.edu \+34\.068930-118\.445127 1621464827\.959498503\n/,
    );
  });
});

Deno.test("herd serve keeps running after the shell that started it with nohup exits", async () => {
  await withTempDir(async (dir) => {
    const port = freePort();
    const config = `${dir}/herd.toml`;
    await Deno.writeTextFile(config, herdToml([{ name: "Solo", port }]));
    // The course graders' way: `nohup <server> &` from a shell that then exits.
    const script = `nohup "$0" run ${CHILD_PERMISSIONS.join(" ")} "$1" serve Solo --config "$2" ` +
      `--log-dir "$3" >"$3.out" 2>&1 & echo $!`;
    const shell = await new Deno.Command("bash", {
      args: ["-c", script, Deno.execPath(), MAIN, config, `${dir}/logs`],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).output();
    assert.equal(shell.code, 0, new TextDecoder().decode(shell.stderr));
    const pid = Number(new TextDecoder().decode(shell.stdout).trim());
    assert.ok(pid > 0, "the shell printed the member's pid");
    try {
      const deadline = performance.now() + READY_LIMIT_MS;
      let reply = "";
      while (!reply.startsWith("AT ") && performance.now() < deadline) {
        reply = await tryExchange(port, `${IAMAT}\n`);
        if (!reply.startsWith("AT ")) await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(reply, /^AT Solo /, "the member answers after its shell has exited");
    } finally {
      Deno.kill(pid, "SIGTERM");
    }
    // It stops cleanly on SIGTERM: the log ends with member.stopped.
    const deadline = performance.now() + STOP_LIMIT_MS;
    let stopped = false;
    while (!stopped && performance.now() < deadline) {
      const events = await readLog(`${dir}/logs/Solo.log`);
      stopped = events.some((e) => e.event === "member.stopped");
      if (!stopped) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(stopped, "member.stopped logged after SIGTERM");
  });
});

Deno.test("herd serve members in separate processes flood an IAMAT to each other", async () => {
  await withTempDir(async (dir) => {
    const ports = freePorts(2);
    const config = `${dir}/herd.toml`;
    await Deno.writeTextFile(
      config,
      herdToml([{ name: "Alpha", port: ports[0] }, { name: "Beta", port: ports[1] }]),
    );
    const alpha = startServe(dir, config, "Alpha", ports[0]);
    const beta = startServe(dir, config, "Beta", ports[1]);
    const { value, results } = await serving([alpha, beta], async () => {
      const [a, b] = await Promise.all([
        untilReply(alpha, `${IAMAT}\n`, /^AT /),
        untilReply(beta, "IAMAT warmup +00.0+000.0 1\n", /^AT /),
      ]);
      // Beta knows kiwi only through Alpha's flood; WHATSAT answers with the stored AT line.
      const w = await untilReply(beta, "WHATSAT kiwi.cs.ucla.edu 10 2\n", /^AT Alpha /);
      return { a, b, w };
    });
    console.log(
      `herd serve (2-member herd): spawn to first IAMAT reply Alpha ${value.a.ms.toFixed(0)} ms, ` +
        `Beta ${value.b.ms.toFixed(0)} ms`,
    );

    assert.match(value.a.reply, /^AT Alpha /);
    assert.match(value.w.reply, /^AT Alpha \S+ kiwi\.cs\.ucla\.edu \+34\.068930-118\.445127 /);
    assert.match(value.w.reply, /"status": "(OK|ZERO_RESULTS)"/);
    assert.deepEqual(results.map((r) => r.code), [0, 0], results.map((r) => r.stderr).join(""));
    const betaEvents = await readLog(`${dir}/logs/Beta.log`);
    assert.ok(
      betaEvents.some((e) => e.event === "peer.link.accepted" && e.peer === "Alpha"),
      "Beta accepted Alpha's link",
    );
  });
});

Deno.test("herd serve exits 2 naming the valid servers on an unknown name", async () => {
  await withTempDir(async (dir) => {
    const config = `${dir}/herd.toml`;
    const [alpha, beta] = freePorts(2);
    await Deno.writeTextFile(
      config,
      herdToml([{ name: "Alpha", port: alpha }, { name: "Beta", port: beta }]),
    );
    const r = await runHerd(
      ["serve", "Gamma", "--config", config, "--log-dir", `${dir}/logs`],
      dir,
    );
    assertUserError(r, ['"Gamma"', "Alpha", "Beta"]);
    assert.doesNotMatch(r.stderr, /did you mean/, "nothing is close to Gamma");
  });
});

Deno.test("herd serve suggests the server meant on a near miss", async () => {
  await withTempDir(async (dir) => {
    const config = `${dir}/herd.toml`;
    const [a, b] = freePorts(2);
    await Deno.writeTextFile(
      config,
      herdToml([{ name: "Campbell", port: a }, { name: "Hill", port: b }]),
    );
    for (const typed of ["campbell", "Campbel"]) {
      const r = await runHerd(
        ["serve", typed, "--config", config, "--log-dir", `${dir}/logs`],
        dir,
      );
      assertUserError(r, [`"${typed}"`, 'did you mean "Campbell"?', "Valid: Campbell, Hill"]);
    }
  });
});

Deno.test("herd serve exits 2 when its port is in use", async () => {
  await withTempDir(async (dir) => {
    const holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const port = holder.addr.port;
      const config = `${dir}/herd.toml`;
      await Deno.writeTextFile(config, herdToml([{ name: "Solo", port }]));
      const r = await runHerd(
        ["serve", "Solo", "--config", config, "--log-dir", `${dir}/logs`],
        dir,
      );
      assertUserError(r, [`127.0.0.1:${port}`, "port in use", "Solo"]);
    } finally {
      holder.close();
    }
  });
});

Deno.test("herd serve exits 2 on a herd.toml syntax error, naming line and column", async () => {
  await withTempDir(async (dir) => {
    const config = `${dir}/herd.toml`;
    await Deno.writeTextFile(config, '[[servers]\nname = "Solo"\nport = 12000\n');
    const r = await runHerd(["serve", "Solo", "--config", config, "--log-dir", `${dir}/logs`], dir);
    assertUserError(r, [config, /line \d+, column \d+: invalid TOML/]);
  });
});

Deno.test("herd serve exits 2 on an unknown key in herd.toml, naming the key", async () => {
  await withTempDir(async (dir) => {
    const config = `${dir}/herd.toml`;
    await Deno.writeTextFile(
      config,
      herdToml([{ name: "Solo", port: freePort() }]) + 'colour = "red"\n',
    );
    const r = await runHerd(["serve", "Solo", "--config", config, "--log-dir", `${dir}/logs`], dir);
    assertUserError(r, ["servers[0].colour", "unknown key"]);
  });
});

Deno.test("herd serve exits 2 when the config file is missing", async () => {
  await withTempDir(async (dir) => {
    const config = `${dir}/absent.toml`;
    const r = await runHerd(["serve", "Solo", "--config", config, "--log-dir", `${dir}/logs`], dir);
    assertUserError(r, [config, "no such file"]);
  });
});

Deno.test("herd serve exits 2 with one 'herd: ' line when the name is missing", async () => {
  const r = await runHerd(["serve"]);
  assertUserError(r, ["name"]);
});

Deno.test("herd serve exits 2 when --log-dir names a file", async () => {
  await withTempDir(async (dir) => {
    const config = `${dir}/herd.toml`;
    await Deno.writeTextFile(config, herdToml([{ name: "Solo", port: freePort() }]));
    await Deno.writeTextFile(`${dir}/not-a-dir`, "");
    const r = await runHerd(
      ["serve", "Solo", "--config", config, "--log-dir", `${dir}/not-a-dir`],
      dir,
    );
    assertUserError(r, ["cannot create log folder", "--log-dir"]);
  });
});

Deno.test("herd serve exits 2 when its host is not an address of this machine", async () => {
  await withTempDir(async (dir) => {
    const config = `${dir}/herd.toml`;
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never local, and bind() sends no traffic.
    await Deno.writeTextFile(
      config,
      `[herd]\nlinks = []\n[[servers]]\nname = "Solo"\nhost = "192.0.2.1"\nport = ${freePort()}\n`,
    );
    const r = await runHerd(["serve", "Solo", "--config", config, "--log-dir", `${dir}/logs`], dir);
    assertUserError(r, ["cannot listen on 192.0.2.1:", "Solo"]);
  });
});

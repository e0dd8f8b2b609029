import assert from "node:assert/strict";
import { type Actions, buildProgram } from "../../src/cli/program.ts";
import type { BenchFlags } from "../../src/cli/bench.ts";
import type { RunOptions } from "../../src/cli/serve.ts";
import type { SendOptions } from "../../src/cli/send.ts";
import type { SimulateOptions } from "../../src/cli/simulate.ts";
import type { TopologyFlags } from "../../src/cli/topology.ts";
import { VERSION } from "../../src/version.ts";
import { assertUserError, runHerd } from "./_cli.ts";

/** What the fake actions were called with. */
interface Calls {
  serve?: { name: string; opts: RunOptions };
  send?: { target: string; words: string[]; opts: SendOptions };
  simulate?: SimulateOptions;
  bench?: { target: string; target2: string | undefined; flags: BenchFlags };
  topology?: TopologyFlags;
}

/** Parses `args` in-process with actions that only record their arguments. */
async function parsed(args: string[]): Promise<{ calls: Calls; code: number }> {
  const calls: Calls = {};
  const actions: Actions = {
    serve: (name, opts) => {
      calls.serve = { name, opts };
      return Promise.resolve();
    },
    send: (target, words, opts) => {
      calls.send = { target, words, opts };
      return Promise.resolve(0);
    },
    simulate: (opts) => {
      calls.simulate = opts;
      return Promise.resolve(0);
    },
    bench: (target, target2, flags) => {
      calls.bench = { target, target2, flags };
      return Promise.resolve(0);
    },
    topology: (flags) => {
      calls.topology = flags;
      return Promise.resolve(0);
    },
  };
  const { program, result } = buildProgram(actions);
  await program.parseAsync(args, { from: "user" });
  return { calls, code: result.code };
}

Deno.test("herd --version and -V print herd's and Deno's versions on one line, exit 0", async (t) => {
  for (const flag of ["--version", "-V"]) {
    await t.step(flag, async () => {
      const r = await runHerd([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stderr, "");
      assert.equal(r.stdout, `herd ${VERSION} (deno ${Deno.version.deno})\n`);
    });
  }
});

Deno.test("VERSION is a semver MAJOR.MINOR.PATCH", () => {
  assert.match(VERSION, /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/);
});

Deno.test("herd --help lists every command on one line within 80 columns", async () => {
  const r = await runHerd(["--help"]);
  assert.equal(r.code, 0);
  const lines = r.stdout.split("\n");
  for (const line of lines) assert.ok(line.length <= 80, `${line.length} columns: ${line}`);
  const start = lines.indexOf("Commands:");
  assert.ok(start >= 0, r.stdout);
  const end = lines.indexOf("", start);
  const commands = lines.slice(start + 1, end);
  // A wrapped description would continue on a line indented past the command names.
  for (const line of commands) assert.match(line, /^ {2}[a-z]+\S*( \S+)* {2,}\S/, line);
  assert.deepEqual(
    commands.map((line) => line.trim().split(" ")[0]),
    ["serve", "send", "simulate", "topology", "bench", "watch", "help"],
  );
});

Deno.test("herd <command> --help fits in 80 columns", async (t) => {
  for (const command of ["serve", "send", "simulate", "topology", "bench", "watch"]) {
    await t.step(command, async () => {
      const r = await runHerd([command, "--help"]);
      assert.equal(r.code, 0);
      for (const line of r.stdout.split("\n")) {
        assert.ok(line.length <= 80, `${line.length} columns: ${line}`);
      }
    });
  }
});

Deno.test("herd bench --help says a bare --timeout or --duration number is seconds", async () => {
  const r = await runHerd(["bench", "--help"]);
  assert.equal(r.code, 0);
  // Help wraps at 80 columns: read it as one line of words.
  const text = r.stdout.replace(/\s+/g, " ");
  assert.match(text, /--timeout <duration> [^-]*; a bare number is seconds/);
  assert.match(text, /--duration <duration> [^-]*; a bare number is seconds/);
});

Deno.test("buildProgram() reads send --timeout 5 as 5 seconds", async () => {
  const { calls } = await parsed(["send", "--timeout", "5", "127.0.0.1:1", "HELLO"]);
  assert.equal(calls.send?.opts.timeoutMs, 5000);
  assert.deepEqual(calls.send?.words, ["HELLO"]);
});

Deno.test("buildProgram() passes -v/--verbose through to serve", async (t) => {
  const cases: [string[], boolean][] = [
    [["serve", "Hill"], false],
    [["serve", "Hill", "-v"], true],
    [["serve", "--verbose", "Hill"], true],
  ];
  for (const [args, verbose] of cases) {
    await t.step(args.join(" "), async () => {
      const { calls } = await parsed(args);
      assert.deepEqual(calls.serve, {
        name: "Hill",
        opts: { config: "herd.toml", logDir: "logs", quiet: false, verbose },
      });
    });
  }
});

Deno.test("buildProgram() passes -v/--verbose through to simulate", async (t) => {
  const cases: [string[], boolean][] = [
    [["simulate"], false],
    [["simulate", "-v"], true],
    [["simulate", "--verbose", "--demo"], true],
  ];
  for (const [args, verbose] of cases) {
    await t.step(args.join(" "), async () => {
      const { calls } = await parsed(args);
      assert.equal(calls.simulate?.verbose, verbose);
      assert.equal(calls.simulate?.quiet, false);
    });
  }
});

Deno.test("buildProgram() still passes -q/--quiet through alone", async () => {
  const { calls } = await parsed(["serve", "-q", "Hill"]);
  assert.equal(calls.serve?.opts.quiet, true);
  assert.equal(calls.serve?.opts.verbose, false);
});

Deno.test("herd serve and simulate refuse --quiet with --verbose as a usage error", async (t) => {
  const cases = [
    ["serve", "--quiet", "--verbose", "Hill"],
    ["serve", "-v", "-q", "Hill"],
    ["simulate", "-q", "-v"],
  ];
  for (const args of cases) {
    await t.step(args.join(" "), async () => {
      const r = await runHerd(args);
      assertUserError(r, ["--quiet", "--verbose", "--help"]);
      assert.equal(r.stdout, "");
    });
  }
});

Deno.test("buildProgram() hands topology its flags, with shape and port defaults and no degree or seed", async (t) => {
  const cases: Array<[string[], TopologyFlags]> = [
    [["topology", "-n", "100"], { members: "100", shape: "random", port: "12000" }],
    [
      ["topology", "--members", "100", "--degree", "4", "--seed", "7", "-o", "h.toml"],
      { members: "100", shape: "random", port: "12000", degree: "4", seed: "7", out: "h.toml" },
    ],
    [
      ["topology", "-n", "9", "-s", "grid", "-p", "20000", "--http-port", "21000"],
      { members: "9", shape: "grid", port: "20000", httpPort: "21000" },
    ],
  ];
  for (const [args, flags] of cases) {
    await t.step(args.join(" "), async () => {
      const { calls } = await parsed(args);
      assert.deepEqual({ ...calls.topology }, flags);
    });
  }
});

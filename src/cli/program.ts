/**
 * The `herd` command line: subcommands, flags, help, and exit codes.
 *
 * Exit codes: 0 success; 1 a `? ` reply (send), a misbehaving demo or a
 * failed bench request;
 * 2 a user error (bad flag, bad config, unknown server, port in use,
 * connection failure), printed as one `herd: ...` line without a stack.
 *
 * @module
 */

import { Command, CommanderError, Option } from "commander";
import { parseDurationMs, UserError } from "./args.ts";
import { BENCH_KINDS, BENCH_MODES, ClientError } from "../client/mod.ts";
import { MAX_BOUND, MAX_RADIUS_KM, MIN_BOUND } from "../protocol/mod.ts";
import { bench, type BenchFlags } from "./bench.ts";
import { send } from "./send.ts";
import { serve } from "./serve.ts";
import { simulate } from "./simulate.ts";

/** The part of the commander program that {@linkcode buildProgram} hands out. */
export interface Program {
  /**
   * Parses the arguments and runs the chosen subcommand's action to completion.
   *
   * @param argv Arguments without the executable, e.g. `Deno.args`.
   * @param options `from: "user"`: `argv` holds only the user's arguments.
   * @returns Resolves once the action has finished.
   * @throws {CommanderError} On help, version or a usage error (already printed).
   * @throws {UserError} If an action fails on the user's input.
   * @throws {ClientError} If `send`, `bench` or the demo cannot talk to a server.
   */
  parseAsync(argv: readonly string[], options: { from: "user" }): Promise<unknown>;
}

/**
 * Builds the program. Actions set `result.code`; nothing calls `Deno.exit`.
 *
 * @returns The commander program and where its exit code lands.
 */
export function buildProgram(): { program: Program; result: { code: number } } {
  const result = { code: 0 };
  const program = new Command("herd")
    .description('A proxy herd: servers that flood client locations and answer "what is near".')
    // Usage errors follow the exit-2 contract too: one `herd: ...` line, the hint on it.
    .configureOutput({
      outputError: (text, write) =>
        write(
          `herd: ${
            text.trim().replace(/^error: /, "").replace(/\s*\n\s*/g, " ")
          } (run with --help for usage)\n`,
        ),
    })
    // Options stop at the subcommand, so `send` can pass words like `-33.8+151.2` through.
    .enablePositionalOptions()
    .exitOverride();

  const configOption = () =>
    new Option("-c, --config <file>", "herd configuration file").default("herd.toml");
  const logDirOption = () =>
    new Option("-l, --log-dir <dir>", "folder for <Name>.log JSON Lines files").default("logs");

  program.command("serve")
    .description("run one herd member, as named in herd.toml, until Ctrl-C")
    .argument("<name>", "server name from herd.toml, e.g. Campbell")
    .addOption(configOption())
    .addOption(logDirOption())
    .option("-q, --quiet", "console shows warnings and errors only", false)
    .action(async (name: string, o: { config: string; logDir: string; quiet: boolean }) => {
      await serve(name, o);
    });

  program.command("send")
    .description(
      "send one message, half-close, print the reply; exit 0, 1 on a '? ' reply, 2 on error.\n" +
        "Options go before <host:port>: every word after it is part of the message.",
    )
    .argument("<host:port>", "server address, e.g. localhost:11490")
    .argument(
      "<message...>",
      "the message fields, e.g. WHATSAT kiwi 10 5 (all words after host:port, even -33.8+151.2)",
    )
    .option("-t, --timeout <duration>", "give up after this long (5s, 500ms, 1m)", "5s")
    // A southern latitude starts with "-": options go before <host:port>, words after it.
    .passThroughOptions()
    .action(async (target: string, words: string[], o: { timeout: string }) => {
      result.code = await send(target, words, { timeoutMs: parseDurationMs(o.timeout) });
    });

  program.command("simulate")
    .description("run every member of herd.toml in this process until Ctrl-C")
    .addOption(configOption())
    .addOption(logDirOption())
    .option("-q, --quiet", "console shows warnings and errors only", false)
    .option("--demo", "run a short scripted tour on free ports, then exit", false)
    .action(async (o: { config: string; logDir: string; quiet: boolean; demo: boolean }) => {
      result.code = await simulate(o);
    });

  program.command("bench")
    .description(
      "load-test any server speaking the protocol; stops at --requests or --duration,\n" +
        "whichever comes first. Exit 0, 1 if any request failed, 2 on error.",
    )
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  herd bench localhost:11490                               # pipe: 4 connections x 64",
        "  herd bench --mode conn --concurrency 50 localhost:11490  # a connection per request",
        "  herd bench --kind whatsat --json localhost:11493         # WHATSAT; one JSON object",
        "  herd bench --mode propagation --rate 100 --requests 1000 localhost:11490 localhost:11491",
      ].join("\n"),
    )
    .argument("<host:port>", "server under load (propagation: where the IAMATs go)")
    .argument("[host2:port2]", "propagation only: the member asked with WHATSAT until it has each")
    .addOption(
      new Option("-m, --mode <mode>", "conn, pipe or propagation").choices(BENCH_MODES)
        .default("pipe"),
    )
    .addOption(
      new Option("-k, --kind <kind>", "request to repeat").choices(BENCH_KINDS).default("iamat"),
    )
    .option(
      "-n, --requests <n>",
      "total requests (default 100000 pipe, 20000 conn, 1000 propagation)",
    )
    .option("-d, --duration <duration>", "start no request after this long (30s, 500ms, 1m)", "30s")
    .option("-c, --concurrency <n>", "connections (default 50 conn, 4 pipe)")
    .option("-w, --window <n>", "pipe: requests in flight per connection", "64")
    .option("-r, --rate <n>", "propagation: IAMATs per second", "100")
    .option("-t, --timeout <duration>", "a request unanswered this long is an error", "5s")
    .option("--radius <km>", `WHATSAT radius, km (0 < r <= ${MAX_RADIUS_KM})`, "10")
    .option("--bound <n>", `WHATSAT bound (${MIN_BOUND}..${MAX_BOUND})`, "5")
    .option("--json", "print one JSON object instead of the table", false)
    .option("--no-progress", "no progress line on stderr")
    .action(async (target: string, target2: string | undefined, o: BenchFlags) => {
      result.code = await bench(target, target2, o);
    });

  return { program, result };
}

/**
 * Runs the program on `args` and returns the exit code (never exits itself).
 *
 * @param args Command-line arguments without the executable, e.g. `Deno.args`.
 * @returns The process exit code.
 */
export async function run(args: string[]): Promise<number> {
  const { program, result } = buildProgram();
  try {
    await program.parseAsync(args, { from: "user" });
    return result.code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are "errors" to commander; they already printed.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UserError) {
      console.error(`herd: ${e.message}`);
      return e.exitCode;
    }
    // A server that cannot be reached or answers wrongly: the user's target, not our bug.
    if (e instanceof ClientError) {
      console.error(`herd: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

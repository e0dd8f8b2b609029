/**
 * The `herd` command line: subcommands, flags, help, and exit codes.
 *
 * Exit codes: 0 success; 1 a `? ` reply (send), a misbehaving demo, a
 * failed bench request or a stream the member closed (watch);
 * 2 a user error (bad flag, bad config, unknown server, port in use,
 * connection failure, no reply), printed as one `herd: ...` line without a stack.
 *
 * @module
 */

import { Command, CommanderError, Help, Option } from "commander";
import { clientTlsOf, parseDurationMs, UserError } from "./args.ts";
import { BENCH_KINDS, BENCH_MODES, ClientError } from "../client/mod.ts";
import { MAX_BOUND, MAX_RADIUS_KM, MIN_BOUND } from "../protocol/mod.ts";
import { bench, type BenchFlags } from "./bench.ts";
import { send, type SendOptions } from "./send.ts";
import { type RunOptions, serve } from "./serve.ts";
import { simulate, type SimulateOptions } from "./simulate.ts";
import { topology, type TopologyFlags } from "./topology.ts";
import { TOKEN_ENV, watch, type WatchOptions } from "./watch.ts";
import { DEFAULT_BASE_PORT, DEFAULT_DEGREE, MAX_MEMBERS, TOPOLOGY_SHAPES } from "../topology.ts";
// Actions names them, and doc lint wants the types of a public API public.
export type { TopologyFlags, WatchOptions };
import { versionText } from "../version.ts";

/**
 * What each subcommand runs once its flags are parsed. Tests replace them to
 * see what the flags became, without starting a server.
 */
export interface Actions {
  /** `herd serve`: runs until a signal. @default serve */
  serve(name: string, opts: RunOptions): Promise<void>;
  /** `herd send`: resolves to the exit code. @default send */
  send(target: string, words: string[], opts: SendOptions): Promise<number>;
  /** `herd simulate`: resolves to the exit code. @default simulate */
  simulate(opts: SimulateOptions): Promise<number>;
  /** `herd bench`: resolves to the exit code. @default bench */
  bench(target: string, target2: string | undefined, flags: BenchFlags): Promise<number>;
  /** `herd watch`: resolves to the exit code. @default watch */
  watch?(target: string, opts: WatchOptions): Promise<number>;
  /** `herd topology`: resolves to the exit code. @default topology */
  topology?(flags: TopologyFlags): Promise<number>;
}

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

/** Duration flags' help: `--timeout 5` is easily read as milliseconds. */
const DURATION_FORMS = "5s, 500ms, 1m; a bare number is seconds";

/**
 * Builds the program. Actions set `result.code`; nothing calls `Deno.exit`.
 *
 * @param actions Replacements for the subcommands' implementations (tests).
 * @returns The commander program and where its exit code lands.
 */
export function buildProgram(
  actions: Partial<Actions> = {},
): { program: Program; result: { code: number } } {
  const act: Required<Actions> = {
    serve,
    send,
    simulate,
    bench,
    watch,
    topology: (flags) => topology(flags),
    ...actions,
  };
  const result = { code: 0 };
  // The command list shows each command's summary beside its arguments; "[options]" is left
  // to each command's own usage line, so the list's descriptions keep room at 80 columns.
  const base = new Help();
  const program = new Command("herd")
    .description('A proxy herd: servers that flood client locations and answer "what is near".')
    .version(versionText(), "-V, --version", "print the versions of herd and Deno")
    .configureHelp({
      subcommandTerm: (cmd) => base.subcommandTerm(cmd).replace(" [options]", ""),
    })
    .addHelpText(
      "after",
      "\nRun 'herd <command> --help' for a command's options, examples and exit codes.",
    )
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
  const quietOption = () =>
    new Option("-q, --quiet", "console shows warnings and errors only").default(false)
      .conflicts("verbose");
  const verboseOption = () =>
    new Option(
      "-v, --verbose",
      "console shows every event, per message too; the log files always hold everything",
    ).default(false);

  program.command("serve")
    .summary("run one member of herd.toml until Ctrl-C")
    .description(
      "Run one herd member, as named in herd.toml, until Ctrl-C (or SIGTERM).\n" +
        "Exit 2 on a bad config, an unknown name or a port in use.",
    )
    .argument("<name>", "server name from herd.toml, e.g. Campbell")
    .addOption(configOption())
    .addOption(logDirOption())
    .addOption(quietOption())
    .addOption(verboseOption())
    .action(
      async (
        name: string,
        o: { config: string; logDir: string; quiet: boolean; verbose: boolean },
      ) => {
        await act.serve(name, o);
      },
    );

  program.command("send")
    .summary("send one message, print the reply")
    .description(
      "Send one message, half-close, print the reply as received.\n" +
        "Options go before <host:port>: every word after it is part of the message.\n" +
        "Exit 0 on a reply, 1 on a '? ' reply, 2 if there is no reply (connection\n" +
        "refused or closed, timeout) or the address is bad.",
    )
    .argument("<host:port>", "server address, e.g. localhost:11490")
    .argument(
      "<message...>",
      "the message fields, e.g. WHATSAT kiwi 10 5 (all words after host:port, even -33.8+151.2)",
    )
    .option("-t, --timeout <duration>", `give up after this long: ${DURATION_FORMS}`, "5s")
    .option("--tls", "speak TLS (a member with [tls] clients = true), verifying its certificate")
    .option("--ca <file>", "with --tls: PEM file of the CA that signed the server's certificate")
    // A southern latitude starts with "-": options go before <host:port>, words after it.
    .passThroughOptions()
    .action(
      async (
        target: string,
        words: string[],
        o: { timeout: string; tls?: boolean; ca?: string },
      ) => {
        result.code = await act.send(target, words, {
          timeoutMs: parseDurationMs(o.timeout),
          tls: clientTlsOf(o),
        });
      },
    );

  program.command("simulate")
    .summary("run the whole herd in one process")
    .description(
      "Run every member of herd.toml in this process until Ctrl-C.\n" +
        "With --demo, run a short scripted tour on free ports instead; exit 1 if a step\n" +
        "misbehaves.",
    )
    .addOption(configOption())
    .addOption(logDirOption())
    .addOption(quietOption())
    .addOption(verboseOption())
    .option("--demo", "run a short scripted tour on free ports, then exit", false)
    .action(
      async (
        o: { config: string; logDir: string; quiet: boolean; verbose: boolean; demo: boolean },
      ) => {
        result.code = await act.simulate(o);
      },
    );

  program.command("topology")
    .summary("write a generated herd.toml of N members")
    .description(
      "Write a herd.toml of N generated members (m001, m002...) on 127.0.0.1, on\n" +
        "consecutive ports from --port, linked in a connected graph of --shape.\n" +
        "Exit 2 if the herd cannot be made (a degree too large or too small for N).",
    )
    .addHelpText(
      "after",
      [
        "",
        "Shapes: random (a random spanning tree plus random links up to N*degree/2,",
        "the same for the same seed), ring, line, star (m001 the hub), grid (rows of",
        "ceil(sqrt(N)) members).",
        "",
        "Examples:",
        "  herd topology --members 100 --degree 4 --seed 1 --out herd-100.toml",
        "  herd simulate --config herd-100.toml",
        "  herd topology -n 16 --shape grid --http-port 13000 > grid.toml",
      ].join("\n"),
    )
    .requiredOption("-n, --members <n>", `members, 1..${MAX_MEMBERS}`)
    .addOption(
      new Option("-s, --shape <shape>", "the graph").choices(TOPOLOGY_SHAPES).default("random"),
    )
    .option("-d, --degree <d>", `random: average links per member (default ${DEFAULT_DEGREE})`)
    .option("--seed <n>", "random: seed of the graph (default 1)")
    .option("-p, --port <port>", "TCP port of m001; the others follow", String(DEFAULT_BASE_PORT))
    .option("--http-port <port>", "HTTP port of m001, the others follow (default: no HTTP)")
    .option("-o, --out <file>", "write the herd.toml here instead of stdout")
    .action(async (o: TopologyFlags) => {
      result.code = await act.topology(o);
    });

  program.command("bench")
    .summary("load-test a server speaking the protocol")
    .description(
      "Load-test any server speaking the protocol; stop at --requests or --duration,\n" +
        "whichever comes first. Exit 0, 1 if any request failed, 2 on error.",
    )
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  herd bench localhost:11490                    # pipe: 4 connections x 64",
        "  herd bench -m conn -c 50 localhost:11490      # a connection per request",
        "  herd bench -k whatsat --json localhost:11493  # WHATSAT; one JSON object",
        "  herd bench -m propagation -r 100 -n 1000 localhost:11490 localhost:11491",
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
    .option(
      "-d, --duration <duration>",
      `start no request after this long: ${DURATION_FORMS}`,
      "30s",
    )
    .option("-c, --concurrency <n>", "connections (default 50 conn, 4 pipe)")
    .option("-w, --window <n>", "pipe: requests in flight per connection", "64")
    .option("-r, --rate <n>", "propagation: IAMATs per second", "100")
    .option(
      "-t, --timeout <duration>",
      `a request unanswered this long is an error: ${DURATION_FORMS}`,
      "5s",
    )
    .option("--radius <km>", `WHATSAT radius, km (0 < r <= ${MAX_RADIUS_KM})`, "10")
    .option("--bound <n>", `WHATSAT bound (${MIN_BOUND}..${MAX_BOUND})`, "5")
    .option("--json", "print one JSON object instead of the table", false)
    .option("--no-progress", "no progress line on stderr")
    .option("--tls", "speak TLS (a member with [tls] clients = true), verifying its certificate")
    .option("--ca <file>", "with --tls: PEM file of the CA that signed the server's certificate")
    .action(async (target: string, target2: string | undefined, o: BenchFlags) => {
      result.code = await act.bench(target, target2, o);
    });

  program.command("watch")
    .summary("print a member's live stream of updates")
    .description(
      "Follow a member's live stream (/v1/stream, over a WebSocket) and print a line\n" +
        "per event until Ctrl-C: every update, some clients' updates, or the enter,\n" +
        "inside and exit events of a circle. Exit 0 on Ctrl-C, 1 if the member closes\n" +
        "the stream, 2 if it cannot be opened (refused, 401, bad flag).",
    )
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  herd watch localhost:11590                      # every update",
        "  herd watch --client kiwi --client pear localhost:11590",
        "  herd watch --near 34.06,-118.44,5 localhost:11594   # geofence events",
        "  herd watch --json localhost:11590 | jq .record.location",
        "",
        "A line: arrival time, event, client, location, member that got the update:",
        "  04:01:02.345 enter kiwi +34.100000-118.200000 (Campbell)",
      ].join("\n"),
    )
    .argument("<host:port>", "the member's HTTP API (http_port), e.g. localhost:11590")
    .option(
      "--client <id>",
      "watch this client's updates (repeat for more)",
      (id: string, ids: string[] | undefined) => [...ids ?? [], id],
    )
    .option("--near <lat,lng,r_km>", "geofence events of this circle (km)")
    .option("--token <token>", `the member's [http] token (default: $${TOKEN_ENV})`)
    .option("--json", "print each event's JSON as received", false)
    .action(
      async (
        target: string,
        o: { client?: string[]; near?: string; token?: string; json: boolean },
      ) => {
        result.code = await act.watch(target, {
          clients: o.client ?? [],
          near: o.near,
          token: o.token,
          json: o.json,
        });
      },
    );

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

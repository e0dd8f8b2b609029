/**
 * `herd topology`: writes a generated herd.toml (src/topology.ts) to stdout
 * or a file, for herds too big to write by hand (`simulate --config`, the
 * scale measurements of docs/SCALING.md).
 *
 * @module
 */

import {
  formatTopologyToml,
  generateTopology,
  graphStats,
  type TopologyOptions,
  type TopologyShape,
} from "../topology.ts";
import { UserError } from "./args.ts";

/** The `herd topology` flags, as commander hands them over (strings until parsed). */
export interface TopologyFlags {
  /** `--members`: how many members. */
  members: string;
  /** `--degree`: average links per member (random only). */
  degree?: string;
  /** `--seed`: the random graph's seed (random only). */
  seed?: string;
  /** `--shape`: random, ring, line, star or grid. */
  shape: string;
  /** `--port`: the first member's TCP port. */
  port: string;
  /** `--http-port`: the first member's HTTP port; absent: no HTTP API. */
  httpPort?: string;
  /** `--out`: the file to write; absent: stdout. */
  out?: string;
}

/** The flag of each generator option, to name it in errors. */
const FLAGS: Record<string, string> = {
  members: "--members",
  degree: "--degree",
  seed: "--seed",
  port: "--port",
  httpPort: "--http-port",
};

/** A whole number (sign allowed: the generator says what range it wants). */
function wholeNumber(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[+-]?[0-9]+$/.test(text.trim()) || !Number.isSafeInteger(Number(text))) {
    throw new UserError(`invalid ${flag} "${text}": use a whole number`);
  }
  return Number(text);
}

/**
 * `herd topology`: generates the herd the flags describe and writes its herd.toml.
 *
 * @param flags The command-line flags.
 * @param out Where the text goes without `--out`. @default stdout
 * @returns Exit code 0.
 * @throws {UserError} (exit 2) On a bad flag, a herd that cannot be generated (degree too
 *   large or too small, too many members for the ports), or a file that cannot be written.
 */
export async function topology(
  flags: TopologyFlags,
  out: (text: string) => Promise<void> = async (text) => {
    await Deno.stdout.write(new TextEncoder().encode(text));
  },
): Promise<number> {
  let degree: number | undefined;
  if (flags.degree !== undefined) {
    degree = Number(flags.degree);
    if (flags.degree.trim() === "" || !Number.isFinite(degree)) {
      throw new UserError(`invalid --degree "${flags.degree}": use a number, e.g. 4`);
    }
  }
  const opts: TopologyOptions = {
    members: wholeNumber(flags.members, "--members")!,
    shape: flags.shape as TopologyShape,
    degree,
    seed: wholeNumber(flags.seed, "--seed"),
    port: wholeNumber(flags.port, "--port"),
    httpPort: wholeNumber(flags.httpPort, "--http-port"),
  };
  let text: string;
  let summary: string;
  try {
    const t = generateTopology(opts);
    text = formatTopologyToml(t);
    const s = graphStats(t.servers.map((m) => m.name), t.links);
    summary = `${s.members} members, ${s.links} links, diameter ${s.diameter}`;
  } catch (e) {
    if (!(e instanceof RangeError || e instanceof TypeError)) throw e;
    const why = e.message.replace(/^Cannot generate topology: /, "")
      .replace(/^(members|degree|seed|port|httpPort)\b/, (key) => FLAGS[key]);
    throw new UserError(`cannot generate the herd: ${why}`);
  }
  if (flags.out === undefined) {
    await out(text);
    return 0;
  }
  try {
    await Deno.writeTextFile(flags.out, text);
  } catch (e) {
    throw new UserError(`cannot write ${flags.out}: ${(e as Error).message.split("\n")[0]}`);
  }
  console.log(`herd topology: wrote ${flags.out} (${summary})`);
  return 0;
}

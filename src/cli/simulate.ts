/**
 * `herd simulate`: every server of herd.toml in one process, sharing one
 * places provider, until Ctrl-C. `--demo` instead runs a short scripted tour
 * over real TCP and exits.
 *
 * A herd of more than {@linkcode LISTED_MEMBERS} members (`herd topology`
 * makes them) is summarised on the console instead of one line per member
 * and per link: the banner gives the address ranges and the links up, and
 * while it runs one line says when the number of links up changes.
 *
 * @module
 */

import { request } from "../client/mod.ts";
import { type HerdConfig, neighboursOf } from "../config.ts";
import { type AddressBook, Member, tcpListen, wallClockNs } from "../herd/mod.ts";
import { formatPosixTime } from "../protocol/mod.ts";
import { memberLog } from "../log.ts";
import type { PlacesProvider } from "../places/types.ts";
import { UserError } from "./args.ts";
import {
  loadConfigOrFail,
  placesOrFail,
  reloadTlsOnSighup,
  type RunningMember,
  type RunOptions,
  setupLoggingOrFail,
  startMember,
  stopOnSignals,
  survivePanics,
  tlsOrFail,
  verbosityOf,
} from "./serve.ts";
import { StopSignals } from "./stop_signals.ts";

/**
 * Most members the console and the banner show one by one; a bigger herd gets summary lines
 * (a line per member and per link would scroll 100 members' start off the screen).
 */
export const LISTED_MEMBERS = 12;

/** Options of {@linkcode simulate}. */
export interface SimulateOptions extends RunOptions {
  /** Run the scripted tour on free ports and exit. @default false */
  demo: boolean;
}

/** Starts every member of `config`; stops those already started if one fails. */
async function startAll(
  config: HerdConfig,
  places: PlacesProvider,
  portZero: boolean,
): Promise<{ running: RunningMember[]; members: Member[]; addresses: AddressBook }> {
  const addresses: AddressBook = new Map();
  const running: RunningMember[] = [];
  for (const s of config.servers) {
    try {
      running.push(await startMember(config, s.name, places, { addresses, portZero }));
    } catch (e) {
      await Promise.all(running.map((started) => started.stop(0)));
      throw e;
    }
  }
  return { running, members: running.map((r) => r.member), addresses };
}

/**
 * Runs the whole herd in this process.
 *
 * @param opts Config path, log folder, verbosity, demo.
 * @returns Exit code (0, or 1 if a demo step did not behave).
 * @throws {UserError} On a bad config or a port in use.
 */
export async function simulate(opts: SimulateOptions): Promise<number> {
  const config = await loadConfigOrFail(opts.config);
  const places = placesOrFail(config, memberLog(config.servers[0].name));
  const names = config.servers.map((s) => s.name);
  const verbosity = verbosityOf(opts);
  // A big herd's operator lines are summarised here; its warnings and errors still show.
  const summarised = names.length > LISTED_MEMBERS && verbosity === "normal";
  const stopLogging = await setupLoggingOrFail({
    logDir: opts.logDir,
    members: names,
    console: opts.demo ? null : summarised ? "quiet" : verbosity,
    ...config.log,
  });
  // The demo ends by itself; a herd until Ctrl-C absorbs repeated signals while it stops.
  const signals = opts.demo ? null : new StopSignals();
  let herd: { running: RunningMember[]; members: Member[]; addresses: AddressBook };
  try {
    herd = await startAll(config, places, opts.demo);
  } catch (e) {
    await places.close?.();
    await stopLogging();
    signals?.dispose();
    throw e;
  }
  let code = 0;
  const unguard = survivePanics(memberLog(names[0]));
  try {
    if (opts.demo) {
      code = await demo(config, herd.members, places, herd.addresses);
    } else {
      // The banner comes last, under the start-up lines, so its "try this" lines stay on screen.
      await eventually(() => herd.members.every((m) => linksUp(m)), BANNER_WAIT_MS);
      await new Promise((r) => setTimeout(r, CONSOLE_FLUSH_MS));
      console.log(banner(config, herd.running, opts));
      const watch = summarised ? watchLinks(herd.members) : null;
      if (summarised) {
        void signals!.requested.then(() =>
          console.log(consoleNote(`stopping ${names.length} members`))
        );
      }
      const unhup = reloadTlsOnSighup(herd.running);
      try {
        await stopOnSignals(stopFacesFirst(herd.running), signals!);
      } finally {
        unhup();
        watch?.stop();
      }
      if (summarised) console.log(consoleNote(`${names.length} members stopped`));
    }
  } finally {
    await Promise.all(herd.running.map((r) => r.stop()));
    await places.close?.();
    unguard();
    await stopLogging();
    signals?.dispose();
  }
  return code;
}

/**
 * Longest the banner waits for every link to come up, ms: five members link in a few tens of
 * ms, a hundred (400 links) in about a second on a 2-core VM; a banner that gives up says how
 * many are up.
 */
const BANNER_WAIT_MS = 10_000;

/** How often a summarised console checks whether the number of links up changed, ms. */
const LINK_WATCH_MS = 1000;

/** Most names of links down a summary line lists. */
const LISTED_LINKS_DOWN = 6;

/** A little more than the console sink's flush interval (100 ms, src/log.ts), ms. */
const CONSOLE_FLUSH_MS = 150;

/** True when every link of `m` is welcomed. */
function linksUp(m: Member): boolean {
  return [...m.links.values()].every((l) => l.state === "welcomed");
}

/**
 * The members as {@linkcode stopOnSignals} stops them, in two steps: every HTTP face, then
 * every member at once. Members stopped one after another (each behind its own face's shutdown)
 * would see their neighbours close on them, a warning per link: hundreds in a big herd.
 */
function stopFacesFirst(
  running: readonly RunningMember[],
): Array<{ name: string; stop(drainMs?: number): Promise<void> }> {
  let faces: Promise<unknown> | null = null;
  return running.map((r) => ({
    name: r.name,
    async stop(drainMs?: number) {
      faces ??= Promise.all(running.map((other) => other.face?.stop()));
      await faces;
      await r.member.stop(drainMs);
    },
  }));
}

/** Links of `members` that are welcomed, and all of them. */
function linkCount(members: readonly Member[]): { up: number; all: number; down: string[] } {
  let up = 0, all = 0;
  const down: string[] = [];
  for (const m of members) {
    for (const [peer, link] of m.links) {
      all++;
      if (link.state === "welcomed") up++;
      else down.push(`${m.name}->${peer}`);
    }
  }
  return { up, all, down };
}

/** A console line of simulate's own, in the shape of the event lines (UTC time, `herd`). */
function consoleNote(text: string): string {
  return `${new Date().toISOString().slice(11, 23)} herd ${text}`;
}

/**
 * A summarised console's link watch: every {@linkcode LINK_WATCH_MS}, a line when the number
 * of links up has changed, naming a few of those down.
 */
function watchLinks(members: readonly Member[]): { stop(): void } {
  let last = linkCount(members).up;
  const timer = setInterval(() => {
    const { up, all, down } = linkCount(members);
    if (up === last) return;
    last = up;
    const more = down.length > LISTED_LINKS_DOWN
      ? ` and ${down.length - LISTED_LINKS_DOWN} more`
      : "";
    const names = down.length === 0
      ? ""
      : ` (down: ${down.slice(0, LISTED_LINKS_DOWN).join(", ")}${more})`;
    console.log(consoleNote(`${up} of ${all} links up${names}`));
  }, LINK_WATCH_MS);
  return { stop: () => clearInterval(timer) };
}

/**
 * Addresses as ranges per host, e.g. `127.0.0.1:12000-12099`; past a few ranges, the first
 * ones and a count.
 *
 * @param addresses Host and port of each member.
 * @returns One line of text.
 */
export function addressRanges(
  addresses: ReadonlyArray<{ hostname: string; port: number }>,
): string {
  const byHost = new Map<string, number[]>();
  for (const a of addresses) {
    const ports = byHost.get(a.hostname) ?? [];
    ports.push(a.port);
    byHost.set(a.hostname, ports);
  }
  const parts: string[] = [];
  for (const [hostname, ports] of byHost) {
    ports.sort((x, y) => x - y);
    const runs: string[] = [];
    for (let i = 0; i < ports.length;) {
      let j = i;
      while (j + 1 < ports.length && ports[j + 1] === ports[j] + 1) j++;
      runs.push(i === j ? `${ports[i]}` : `${ports[i]}-${ports[j]}`);
      i = j + 1;
    }
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    parts.push(
      runs.length <= MAX_PORT_RUNS
        ? `${host}:${runs.join(",")}`
        : `${host}:${runs.slice(0, MAX_PORT_RUNS - 1).join(",")},... (${ports.length} ports, ` +
          `${ports[0]}-${ports[ports.length - 1]})`,
    );
  }
  return parts.join(", ");
}

/** Most port ranges {@linkcode addressRanges} lists per host before it counts instead. */
const MAX_PORT_RUNS = 4;

/** The banner's lines about who listens where: a line per member, or a summary of a big herd. */
function memberLines(
  config: HerdConfig,
  configPath: string,
  running: RunningMember[],
): string[] {
  if (running.length > LISTED_MEMBERS) {
    const { up, all } = linkCount(running.map((r) => r.member));
    const faces = running.flatMap((r) => r.face === null ? [] : [r.face.address]);
    const lines = [
      `  ${running.length} members listening on ${
        addressRanges(running.map((r) => r.member.address))
      }`,
      `  ${up} of ${all} links up (${all / 2} pairs of neighbours, each dialling the other)`,
    ];
    if (faces.length > 0) lines.push(`  HTTP on ${addressRanges(faces)}`);
    lines.push(
      `  members ${running[0].name} to ${running[running.length - 1].name}: ` +
        `ports and neighbours in ${configPath}`,
    );
    return lines;
  }
  return running.map(({ member: m, face }) => {
    const a = m.address;
    const http = face === null ? "" : `  http://${face.address.hostname}:${face.address.port}`;
    return `  ${m.name.padEnd(10)} ${a.hostname}:${a.port}${http}  neighbours: ${
      neighboursOf(config, m.name).join(", ")
    }`;
  });
}

/** The start-up banner: who listens where, and lines to paste. */
function banner(
  config: HerdConfig,
  running: RunningMember[],
  opts: Pick<SimulateOptions, "config" | "logDir">,
): string {
  const lines = ["herd simulate: every member of the herd in this process", ""];
  const members = running.map((r) => r.member);
  lines.push(...memberLines(config, opts.config, running));
  const first = members[0].address;
  const last = members[members.length - 1].address;
  // The page of the first member with an HTTP face: it shows the whole herd (issue 12).
  const page = running.find((r) => r.face !== null)?.face?.address;
  if (page !== undefined) {
    const host = page.hostname.includes(":") ? `[${page.hostname}]` : page.hostname;
    const token = config.http.token === undefined ? "" : "?token=<token>";
    lines.push("", `Dashboard: http://${host}:${page.port}/${token}`);
  }
  lines.push(
    "",
    "Try, in another terminal:",
    `  deno task herd send ${first.hostname}:${first.port} IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 ${
      formatPosixTime(wallClockNs())
    }`,
    `  deno task herd send ${last.hostname}:${last.port} WHATSAT kiwi.cs.ucla.edu 10 5`,
    "(Without Deno installed, write `npx -y deno@2.9.6` for `deno`.)",
    "",
    `Logs: ${opts.logDir}/<Name>.log (JSON Lines). Ctrl-C stops the herd.`,
  );
  return lines.join("\n");
}

/** Polls until `predicate` holds or `ms` pass; returns whether it held. */
async function eventually(predicate: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** Member names in breadth-first order from `from`; the last is the farthest. */
function byDistance(config: HerdConfig, from: string): string[] {
  const order = [from];
  for (let i = 0; i < order.length; i++) {
    for (const n of neighboursOf(config, order[i])) if (!order.includes(n)) order.push(n);
  }
  return order;
}

/** The scripted tour; prints each request and reply. */
async function demo(
  config: HerdConfig,
  members: Member[],
  places: PlacesProvider,
  addresses: AddressBook,
): Promise<number> {
  if (members.length < 3) throw new UserError("the demo needs a herd of at least 3 members");
  if (config.tls.clients) {
    throw new UserError(
      "the demo speaks plain TCP to client ports: use a herd.toml without [tls] clients = true",
    );
  }
  const byName = new Map(members.map((m) => [m.name, m]));
  const first = members[0].name;
  const order = byDistance(config, first);
  const far = order[order.length - 1];
  let failures = 0;
  const step = async (title: string, at: string, line: string, expect: RegExp) => {
    console.log(`\n# ${title}\n> ${at}: ${line}`);
    // The way test harnesses ask: write, half-close, read to EOF.
    const reply = await request(byName.get(at)!.address, line + "\n");
    console.log(reply.replace(/\n+$/, "").split("\n").map((l) => `< ${l}`).join("\n"));
    if (!expect.test(reply)) {
      failures++;
      console.log(`!! unexpected reply (wanted ${expect})`);
    }
  };
  const note = (ok: boolean, text: string) => {
    console.log(`${ok ? "ok" : "!! FAILED"}: ${text}`);
    if (!ok) failures++;
  };
  const everyone = (id: string, time: string) =>
    members.filter((m) => m.running).every((m) => m.store.get(id)?.clientTimeText === time);

  console.log(`herd demo: ${members.length} members on free ports of 127.0.0.1`);
  if (members.length > LISTED_MEMBERS) {
    console.log(`  ${addressRanges(members.map((m) => m.address))}`);
  } else {
    for (const m of members) {
      console.log(`  ${m.name.padEnd(10)} ${m.address.hostname}:${m.address.port}`);
    }
  }
  await eventually(() => members.every(linksUp), BANNER_WAIT_MS);

  const t1 = formatPosixTime(wallClockNs());
  await step(
    `A client reports its position to ${first}`,
    first,
    `IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 ${t1}`,
    /^AT /,
  );
  note(await eventually(() => everyone("kiwi.cs.ucla.edu", t1)), "the flood reached every member");
  await step(
    `Ask ${far}, a member farthest from ${first}, what is near it`,
    far,
    "WHATSAT kiwi.cs.ucla.edu 10 3",
    /"status": "OK"/,
  );
  await step("A line that is not the protocol", far, "HELLO herd", /^\? HELLO herd/);

  // Stop a member that is not the origin, and show updates route around it.
  const victim = order[1];
  await byName.get(victim)!.stop();
  console.log(`\n# ${victim} stopped`);
  const t2 = formatPosixTime(wallClockNs());
  await step(
    `kiwi moves; ${first} is told`,
    first,
    `IAMAT kiwi.cs.ucla.edu +34.052235-118.243683 ${t2}`,
    /^AT /,
  );
  note(
    await eventually(() => everyone("kiwi.cs.ucla.edu", t2)),
    `the update routed around ${victim} to every running member`,
  );

  // Restart it empty, as a new process would be.
  // As startMember() does: TLS on the peer listener and the dials when the herd has tls.peers.
  const log = memberLog(victim);
  const tls = tlsOrFail(config, log);
  const fresh = new Member({
    config,
    name: victim,
    places,
    log,
    addresses,
    peerListen: config.tls.peers ? tls?.listen : tcpListen,
    dial: config.tls.peers ? tls?.dial : undefined,
  });
  const idx = members.findIndex((m) => m.name === victim);
  members[idx] = fresh;
  byName.set(victim, fresh);
  fresh.start({ port: 0 }, { port: 0 });
  console.log(`\n# ${victim} restarted on ${fresh.address.hostname}:${fresh.address.port}`);
  note(
    await eventually(() =>
      linksUp(fresh) &&
      members.every((m) => m.links.get(victim)?.state !== "down")
    ),
    `${victim} relinked with its neighbours`,
  );
  const t3 = formatPosixTime(wallClockNs());
  await step(
    `kiwi reports to ${far}`,
    far,
    `IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 ${t3}`,
    /^AT /,
  );
  note(
    await eventually(() => everyone("kiwi.cs.ucla.edu", t3)),
    `${victim} has the newest record again`,
  );
  await step(
    `Ask ${victim} what is near kiwi`,
    victim,
    "WHATSAT kiwi.cs.ucla.edu 5 2",
    /"results"/,
  );

  console.log(
    failures === 0
      ? "\ndemo finished: every step behaved"
      : `\ndemo: ${failures} step(s) misbehaved`,
  );
  return failures === 0 ? 0 : 1;
}

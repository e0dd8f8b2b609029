/**
 * `herd simulate`: every server of herd.toml in one process, sharing one
 * places provider, until Ctrl-C. `--demo` instead runs a short scripted tour
 * over real TCP and exits.
 *
 * @module
 */

import { request } from "../client/mod.ts";
import { type HerdConfig, neighboursOf } from "../config.ts";
import { type AddressBook, Member, wallClockNs } from "../herd/mod.ts";
import { formatPosixTime } from "../protocol/mod.ts";
import { memberLog } from "../log.ts";
import type { PlacesProvider } from "../places/types.ts";
import { UserError } from "./args.ts";
import {
  loadConfigOrFail,
  placesOrFail,
  type RunningMember,
  type RunOptions,
  setupLoggingOrFail,
  startMember,
  stopOnSignals,
  survivePanics,
  verbosityOf,
} from "./serve.ts";
import { StopSignals } from "./stop_signals.ts";

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
  const stopLogging = await setupLoggingOrFail({
    logDir: opts.logDir,
    members: names,
    console: opts.demo ? null : verbosityOf(opts),
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
      console.log(banner(config, herd.running, opts.logDir));
      await stopOnSignals(herd.running, signals!);
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

/** Longest the banner waits for every link to come up, ms. */
const BANNER_WAIT_MS = 2000;

/** A little more than the console sink's flush interval (100 ms, src/log.ts), ms. */
const CONSOLE_FLUSH_MS = 150;

/** True when every link of `m` is welcomed. */
function linksUp(m: Member): boolean {
  return [...m.links.values()].every((l) => l.state === "welcomed");
}

/** The start-up banner: who listens where, and lines to paste. */
function banner(config: HerdConfig, running: RunningMember[], logDir: string): string {
  const lines = ["herd simulate: every member of the herd in this process", ""];
  const members = running.map((r) => r.member);
  for (const { member: m, face } of running) {
    const a = m.address;
    const http = face === null ? "" : `  http://${face.address.hostname}:${face.address.port}`;
    lines.push(
      `  ${m.name.padEnd(10)} ${a.hostname}:${a.port}${http}  neighbours: ${
        neighboursOf(config, m.name).join(", ")
      }`,
    );
  }
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
    `Logs: ${logDir}/<Name>.log (JSON Lines). Ctrl-C stops the herd.`,
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
  for (const m of members) {
    console.log(`  ${m.name.padEnd(10)} ${m.address.hostname}:${m.address.port}`);
  }
  await eventually(() => members.every(linksUp));

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
  const fresh = new Member({ config, name: victim, places, log: memberLog(victim), addresses });
  const idx = members.findIndex((m) => m.name === victim);
  members[idx] = fresh;
  byName.set(victim, fresh);
  fresh.start({ port: 0 });
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

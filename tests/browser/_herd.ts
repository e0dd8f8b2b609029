/**
 * The default herd (herd.toml's five members and six links, its settings) in
 * this process, as `herd simulate` runs it, but on ports that were free a
 * moment ago (TCP and HTTP fixed in the config, so a stopped member can start
 * again on the same ports and `/v1/herd` shows the real URLs) and with a
 * places provider that loads nothing.
 *
 * @module
 */

import { type RunningMember, startMember } from "../../src/cli/serve.ts";
import { defaultConfig, type HerdConfig } from "../../src/config.ts";
import { waitFor } from "../_harness.ts";
import { noPlaces } from "../_no_places.ts";
import { freePorts } from "../cli/_cli.ts";

/** A running default herd whose members can be stopped and started again. */
export interface DashboardHerd {
  /** The config every member runs with (fixed ports). */
  readonly config: HerdConfig;
  /** Running members by name (a stopped one is absent). */
  readonly running: Map<string, RunningMember>;
  /** Base URL of `name`'s HTTP face, `http://127.0.0.1:<http_port>`. */
  url(name: string): string;
  /** `name`'s TCP address. */
  tcp(name: string): { hostname: string; port: number };
  /** Stops `name` (no drain). */
  stop(name: string): Promise<void>;
  /** Starts `name` again on its ports. @throws {UserError} If they are taken. */
  start(name: string): Promise<void>;
  /** Waits until every running member's links to running members are welcomed. */
  linked(timeoutMs?: number): Promise<void>;
  /** Stops every running member. */
  stopAll(): Promise<void>;
}

/**
 * Starts the default herd on free ports and waits until its links are up.
 *
 * @returns The herd; call `stopAll()` in a `finally`.
 */
export async function startDashboardHerd(): Promise<DashboardHerd> {
  const base = defaultConfig();
  const ports = freePorts(base.servers.length * 2);
  const config: HerdConfig = {
    ...base,
    servers: base.servers.map((s, i) => ({
      ...s,
      port: ports[2 * i],
      httpPort: ports[2 * i + 1],
    })),
  };
  const places = noPlaces();
  const running = new Map<string, RunningMember>();
  const server = (name: string) => {
    const s = config.servers.find((s) => s.name === name);
    if (s === undefined) throw new Error(`no member ${name}`);
    return s;
  };
  const herd: DashboardHerd = {
    config,
    running,
    url: (name) => `http://127.0.0.1:${server(name).httpPort}`,
    tcp: (name) => ({ hostname: "127.0.0.1", port: server(name).port }),
    async stop(name) {
      const m = running.get(name);
      running.delete(name);
      await m?.stop(0);
    },
    async start(name) {
      if (running.has(name)) return;
      running.set(name, await startMember(config, name, places));
    },
    async linked(timeoutMs = 10_000) {
      await waitFor(
        () => {
          for (const { member } of running.values()) {
            for (const [peer, link] of member.links) {
              if (running.has(peer) && link.state !== "welcomed") return false;
            }
          }
          return true;
        },
        timeoutMs,
        "every link between running members up",
      );
    },
    async stopAll() {
      const all = [...running.values()];
      running.clear();
      await Promise.all(all.map((m) => m.stop(0)));
    },
  };
  try {
    for (const s of config.servers) await herd.start(s.name);
    await herd.linked();
  } catch (e) {
    await herd.stopAll();
    throw e;
  }
  return herd;
}

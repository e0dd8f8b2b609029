/**
 * Peer authentication (PROTOCOL.md section 4, **(herd)**): who may open a
 * peer link, and how a dialler knows it reached a herd member.
 *
 * With a shared secret (`[herd] secret` or `HERD_SECRET`), a hello and the
 * listener's welcome carry `ts=<POSIX s> nonce=<32 hex> mac=<64 hex>`, where
 * `mac` is HMAC-SHA256 (Web Crypto) keyed with the secret over
 * `herd <kind> 1 <from> <to> <ts> <nonce>` (`kind` is `hello` or `welcome`,
 * so neither can be replayed as the other, nor to another member). A check
 * rejects a missing or malformed field, a timestamp more than
 * {@linkcode MAX_CLOCK_OFFSET_S} off, a nonce already seen, or a bad MAC.
 *
 * Without a secret, a hello naming server X is accepted only from an address
 * of the host herd.toml lists for X (the member warns at start that the herd
 * is unauthenticated).
 *
 * @module
 */

import type { HerdConfig } from "../config.ts";
import type { HelloMessage } from "../protocol/mod.ts";

/** Largest accepted difference between a hello's timestamp and our clock, s. */
export const MAX_CLOCK_OFFSET_S = 60;

/** What a hello or welcome proves, and how we check it. */
export interface PeerAuth {
  /** `secret` (HMAC hellos) or `host` (addresses from herd.toml). */
  readonly mode: "secret" | "host";
  /**
   * The `key=value` fields to add to a hello (`kind` `hello`) or a welcome.
   *
   * @param kind Which line they go on.
   * @param from Our name.
   * @param to The neighbour's name.
   * @returns Fields in order; empty without a secret.
   */
  sign(kind: "hello" | "welcome", from: string, to: string): Promise<Array<[string, string]>>;
  /**
   * Why a hello or welcome must be refused, or `null` to accept it.
   *
   * @param kind Which line it is.
   * @param msg The parsed line (its `name` is the sender).
   * @param to Our name.
   * @param remoteHost The IP address the connection comes from.
   * @returns A reason for the log, or `null`.
   */
  check(
    kind: "hello" | "welcome",
    msg: HelloMessage,
    to: string,
    remoteHost: string,
  ): Promise<string | null>;
}

/** Options of {@linkcode secretAuth}, injectable for tests. */
export interface SecretAuthOptions {
  /** Wall clock, POSIX ms. @default Date.now */
  nowMs?: () => number;
  /** Fills a buffer with random bytes. @default crypto.getRandomValues */
  randomBytes?: (buf: Uint8Array) => void;
}

const encoder = new TextEncoder();

function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const TS = /^[0-9]{1,12}$/;
const NONCE = /^[0-9a-f]{32}$/;
const MAC = /^[0-9a-f]{64}$/;

/**
 * HMAC authentication with a shared secret.
 *
 * @param secret The herd's shared secret (never logged).
 * @param opts Clock and randomness, for tests.
 * @returns The authenticator; each member should have its own (it keeps the nonces it has seen).
 */
export function secretAuth(secret: string, opts: SecretAuthOptions = {}): PeerAuth {
  const nowMs = opts.nowMs ?? Date.now;
  const randomBytes = opts.randomBytes ?? ((b: Uint8Array) => crypto.getRandomValues(b));
  const key = crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
  /** Nonces accepted recently -> when they stop mattering (ms). */
  const seen = new Map<string, number>();
  const message = (kind: string, from: string, to: string, ts: string, nonce: string) =>
    encoder.encode(`herd ${kind} 1 ${from} ${to} ${ts} ${nonce}`);

  return {
    mode: "secret",
    async sign(kind, from, to) {
      const ts = String(Math.floor(nowMs() / 1000));
      const nonceBytes = new Uint8Array(16);
      randomBytes(nonceBytes);
      const nonce = toHex(nonceBytes);
      const mac = await crypto.subtle.sign("HMAC", await key, message(kind, from, to, ts, nonce));
      return [["ts", ts], ["nonce", nonce], ["mac", toHex(new Uint8Array(mac))]];
    },
    async check(kind, msg, to) {
      const ts = msg.params.get("ts");
      const nonce = msg.params.get("nonce");
      const mac = msg.params.get("mac");
      if (ts === undefined || nonce === undefined || mac === undefined) {
        return "no ts, nonce and mac: the herd has a secret";
      }
      if (!TS.test(ts) || !NONCE.test(nonce) || !MAC.test(mac)) return "malformed ts, nonce or mac";
      const now = nowMs();
      const offsetS = Math.abs(now / 1000 - Number(ts));
      if (offsetS > MAX_CLOCK_OFFSET_S) {
        return `stale timestamp: ${Math.round(offsetS)} s off (limit ${MAX_CLOCK_OFFSET_S} s)`;
      }
      const ok = await crypto.subtle.verify(
        "HMAC",
        await key,
        fromHex(mac),
        message(kind, msg.name, to, ts, nonce),
      );
      if (!ok) return "bad mac";
      for (const [n, expires] of seen) {
        if (expires > now) break; // insertion order is expiry order
        seen.delete(n);
      }
      if (seen.has(nonce)) return "replayed nonce";
      // A nonce can only be replayed while its timestamp is fresh: keep it that long.
      seen.set(nonce, now + 2 * MAX_CLOCK_OFFSET_S * 1000);
      return null;
    },
  };
}

/** Normalises `::ffff:1.2.3.4` to `1.2.3.4`. */
function plainAddress(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1";
}

const IPV4 = /^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$/;

/**
 * Authentication by source address: a hello naming server X must come from
 * the host herd.toml lists for X. An IP literal must match exactly;
 * `localhost` means any loopback address; any other host name is resolved
 * (A and AAAA) when a hello names it. Welcomes are always accepted (we dialled
 * the address herd.toml gives).
 *
 * @param config The herd.
 * @param resolve Resolves a host name to addresses. @default Deno.resolveDns, A and AAAA
 * @returns The authenticator.
 */
export function hostAuth(
  config: HerdConfig,
  resolve: (host: string) => Promise<string[]> = resolveHost,
): PeerAuth {
  const hosts = new Map(config.servers.map((s) => [s.name, s.host]));
  return {
    mode: "host",
    sign: () => Promise.resolve([]),
    async check(kind, msg, _to, remoteHost) {
      if (kind === "welcome") return null;
      const host = hosts.get(msg.name);
      if (host === undefined) return "not in herd.toml";
      const remote = plainAddress(remoteHost);
      if (host === remote) return null;
      if (host === "localhost") return isLoopback(remote) ? null : `not from localhost`;
      if (IPV4.test(host) || host.includes(":")) return `not from ${host}`;
      let addresses: string[];
      try {
        addresses = await resolve(host);
      } catch {
        return `cannot resolve ${host}`;
      }
      return addresses.map(plainAddress).includes(remote) ? null : `not from ${host}`;
    },
  };
}

async function resolveHost(host: string): Promise<string[]> {
  const results = await Promise.allSettled([
    Deno.resolveDns(host, "A"),
    Deno.resolveDns(host, "AAAA"),
  ]);
  return results.flatMap((r) => r.status === "fulfilled" ? r.value : []);
}

/**
 * Where a client connects: a host and a TCP port, and how to print them.
 *
 * @module
 */

/** A server's address, as `Deno.connect` takes it, and whether it speaks TLS. */
export interface ServerAddress {
  /** Host name or IP address, e.g. `127.0.0.1` or `::1`. */
  hostname: string;
  /** TCP port, 1..65535. */
  port: number;
  /**
   * Speak TLS (`[tls] clients = true` on the server; `herd send --tls`): the server's
   * certificate must chain to `caCerts` or to Deno's built-in roots, and name `hostname`.
   * @default plain TCP
   */
  tls?: ClientTls;
}

/** TLS settings of a client connection. */
export interface ClientTls {
  /** Extra CA certificates, PEM (`--ca <file>`); empty trusts Deno's built-in roots only. */
  caCerts: string[];
}

/**
 * Formats an address as `host:port`, with brackets around an IPv6 address so
 * the port stays readable (`[::1]:11490`).
 *
 * @param addr The address.
 * @returns `host:port`.
 * @example
 * ```ts
 * import { formatAddress } from "./address.ts";
 * if (formatAddress({ hostname: "::1", port: 11490 }) !== "[::1]:11490") throw new Error();
 * ```
 */
export function formatAddress(addr: ServerAddress): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

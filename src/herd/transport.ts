/**
 * The network behind an interface: what a member and its links need of a
 * connection, a listener and a dial. The member uses TCP
 * ({@linkcode tcpDial}, {@linkcode tcpListen}); tests inject their own to
 * drive links without sockets.
 *
 * @module
 */

/** Where a member listens. */
export interface PeerAddress {
  /** Host name or IP address, e.g. `127.0.0.1` or `::1`. */
  hostname: string;
  /** TCP port (0 in a listen override lets the OS choose a free one). */
  port: number;
}

/**
 * One byte-stream connection, the subset of `Deno.TcpConn` a session uses.
 * `read` resolves `null` at EOF; `write` may take fewer bytes than offered.
 */
export interface Conn {
  /** The other end's address. */
  readonly remoteAddr: PeerAddress;
  /**
   * Reads into `buf`.
   *
   * @returns Bytes read, or `null` at EOF.
   */
  read(buf: Uint8Array): Promise<number | null>;
  /**
   * Writes a prefix of `bytes`.
   *
   * @returns How many bytes were taken.
   */
  write(bytes: Uint8Array): Promise<number>;
  /** Half-closes: no more writes, reads go on. */
  closeWrite(): Promise<void>;
  /** Closes both directions; a pending read or write then rejects. */
  close(): void;
  /** Turns Nagle's algorithm off where the transport has one. */
  setNoDelay?(noDelay?: boolean): void;
}

/** A listening socket, the subset of `Deno.TcpListener` a member uses. */
export interface Listener {
  /** Where it listens (the real port when asked for port 0). */
  readonly addr: PeerAddress;
  /** Waits for the next connection; rejects once closed. */
  accept(): Promise<Conn>;
  /** Stops listening; a pending accept() rejects. */
  close(): void;
}

/**
 * Opens a connection to `addr`.
 *
 * @throws {Error} If it cannot connect, or when `signal` aborts first.
 */
export type Dial = (addr: PeerAddress, signal: AbortSignal) => Promise<Conn>;

/**
 * Starts listening at `addr`.
 *
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 */
export type Listen = (addr: PeerAddress) => Listener;

/**
 * TCP dial with `Deno.connect`.
 *
 * @param addr Where to connect.
 * @param signal Aborts the connect.
 * @returns The connection.
 * @throws {Deno.errors.ConnectionRefused | Error} If it cannot connect or is aborted.
 */
export function tcpDial(addr: PeerAddress, signal: AbortSignal): Promise<Conn> {
  return Deno.connect({ hostname: addr.hostname, port: addr.port, transport: "tcp", signal });
}

/**
 * TCP listen with `Deno.listen`.
 *
 * @param addr Where to listen (port 0: any free port).
 * @returns The listener.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 */
export function tcpListen(addr: PeerAddress): Listener {
  const listener = Deno.listen({ hostname: addr.hostname, port: addr.port, transport: "tcp" });
  return {
    get addr(): PeerAddress {
      const a = listener.addr;
      return { hostname: a.hostname, port: a.port };
    },
    accept: () => listener.accept(),
    close: () => listener.close(),
  };
}

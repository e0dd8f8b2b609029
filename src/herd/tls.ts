/**
 * TLS for a member's listeners and links, with Deno's built-in TLS (rustls): the PEM files of
 * `[tls]` read and checked ({@linkcode readTlsFiles}), a TLS {@linkcode Listen} whose
 * certificate can be replaced while it runs ({@linkcode ReloadableTlsListener}), and a TLS
 * {@linkcode Dial} that verifies the neighbour's certificate against `ca_file` and the host name
 * it dials ({@linkcode tlsDial}). {@linkcode MemberTls} holds the three for one member and
 * reloads them all on SIGHUP.
 *
 * TLS sits below the lines: the wire protocol (PROTOCOL.md) is the same on a TLS connection.
 * A handshake has a deadline on both sides, and a failed one (a plain-text client on a TLS port,
 * an expired certificate, one from another CA or for another name) is logged as
 * `tls.handshake.failed` with rustls's reason; the connection is closed and the member goes on.
 *
 * @module
 */

import type { TlsConfig } from "../config.ts";
import type { EventLog } from "../log.ts";
import { closeQuietly, reason } from "./socket.ts";
import type { Conn, Dial, Listen, Listener, PeerAddress } from "./transport.ts";

/**
 * Longest wait for a TLS handshake on an accepted connection, ms. A TLS 1.3 handshake is one
 * round trip for the client and a few milliseconds of CPU; 10 s is far past any real network,
 * yet bounds a client that connects to a TLS port and sends nothing (or a few plain bytes).
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Longest a reload waits for the port of a closed TLS listener to be free again, ms. Closing a
 * listener with an accept pending frees its port on the next turn of the event loop (measured:
 * one retry, under 1 ms); the bound only keeps a port another process took from looping forever.
 */
const REBIND_TIMEOUT_MS = 1000;

/** Pause between two tries to listen again on a port being freed, ms (one event-loop turn). */
const REBIND_RETRY_MS = 0;

/**
 * Pause between two tries to listen again after a reload could not, ms: the port was taken by
 * another process (an operator's mistake to fix), so a try a second is plenty and costs nothing.
 */
export const RECOVER_MS = 1000;

/** A file of `[tls]` that is missing, unreadable or not PEM. The message names the key and file. */
export class TlsFileError extends Error {
  /** Always `TlsFileError`. */
  override name = "TlsFileError";
}

/** The PEM text of a member's `[tls]` files. */
export interface TlsMaterial {
  /** Certificate chain (`cert_file`), if configured. */
  cert?: string;
  /** Private key (`key_file`), if configured. */
  key?: string;
  /** CA certificates neighbours' certificates must chain to (`ca_file`), if configured. */
  ca?: string;
}

/** The `[tls]` keys that name a PEM file. */
export type TlsFileKey = "cert_file" | "key_file" | "ca_file";

/** What each key's file must hold: a PEM block whose label matches. */
const PEM_LABELS: Record<TlsFileKey, RegExp> = {
  cert_file: /-----BEGIN CERTIFICATE-----/,
  key_file: /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/,
  ca_file: /-----BEGIN CERTIFICATE-----/,
};

/**
 * Reads one PEM file.
 *
 * @param key The TOML key that names it (`cert_file`, `key_file`, `ca_file`): what it must hold.
 * @param path The file.
 * @param label What the message names it by. @default `tls.<key>`
 * @returns Its text.
 * @throws {TlsFileError} If it is missing, unreadable, or holds no PEM block of the right kind.
 */
export function readPemFile(
  key: TlsFileKey,
  path: string,
  label = `tls.${key}`,
): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable
      ? "permission denied"
      : e instanceof Deno.errors.IsADirectory
      ? "it is a directory"
      : (e as Error).message;
    throw new TlsFileError(`${label}: cannot read ${path}: ${why}`);
  }
  if (!PEM_LABELS[key].test(text)) {
    const want = key === "key_file" ? "a PEM private key" : "PEM certificates";
    throw new TlsFileError(
      `${label}: ${path} does not hold ${want} (no "-----BEGIN ${
        key === "key_file" ? "PRIVATE KEY" : "CERTIFICATE"
      }-----" line)`,
    );
  }
  return text;
}

/**
 * Reads every file `[tls]` names.
 *
 * @param tls The `[tls]` table.
 * @returns Their PEM text; a key left out of `[tls]` is left out here.
 * @throws {TlsFileError} For the first file missing, unreadable or not PEM.
 */
export function readTlsFiles(tls: TlsConfig): TlsMaterial {
  return {
    cert: tls.certFile === undefined ? undefined : readPemFile("cert_file", tls.certFile),
    key: tls.keyFile === undefined ? undefined : readPemFile("key_file", tls.keyFile),
    ca: tls.caFile === undefined ? undefined : readPemFile("ca_file", tls.caFile),
  };
}

/**
 * Checks that a certificate and key make a usable pair (rustls parses both and checks that the
 * key is the certificate's), by listening on a free port of 127.0.0.1 for an instant.
 *
 * @param cert Certificate chain, PEM.
 * @param key Private key, PEM.
 * @param names The files, for the message: `[cert_file, key_file]`.
 * @throws {TlsFileError} Naming both files and rustls's reason.
 */
export function checkKeyPair(cert: string, key: string, names: [string, string]): void {
  try {
    Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key }).close();
  } catch (e) {
    throw new TlsFileError(
      `tls.cert_file and tls.key_file: ${names[0]} and ${names[1]} are not a usable pair: ${
        (e as Error).message
      }`,
    );
  }
}

/** Called with each failed handshake: where it came from or went to, and rustls's reason. */
export type HandshakeFailed = (remote: string, why: string) => void;

/**
 * Runs `conn`'s handshake, closing it if it does not finish within `timeoutMs` or `signal`
 * aborts.
 *
 * @param conn A TLS connection, client or server side.
 * @param timeoutMs Deadline, ms.
 * @param signal Aborts the wait (and closes `conn`).
 * @throws {Error} rustls's reason (e.g. `invalid peer certificate: UnknownIssuer`), or
 *   `no TLS handshake within <n> ms`, or the abort's.
 */
export async function handshakeWithin(
  conn: Deno.TlsConn,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      closeQuietly(conn);
      reject(new Error(`no TLS handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    if (signal !== undefined) {
      onAbort = () => {
        closeQuietly(conn);
        reject(signal.reason ?? new Error("aborted"));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    }
  });
  try {
    await Promise.race([conn.handshake(), deadline]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
  }
}

/** The message of a handshake error, without the `InvalidData: ` rustls errors carry. */
function handshakeReason(e: unknown): string {
  return e instanceof Error && e.name === "InvalidData" ? e.message : reason(e);
}

/**
 * An accepted TLS connection whose handshake starts at once, with a deadline: reads and writes
 * wait for it, and if it fails they reject with its reason (the session then ends and the
 * member closes the connection). Deno's own `TlsConn` handshakes lazily on the first read or
 * write, without a deadline.
 */
class AcceptedTlsConn implements Conn {
  readonly #conn: Deno.TlsConn;
  #ready: Promise<void> | null;
  /** The member closed it (a limit, an idle sweep, a stop): its cut handshake is no failure. */
  #closedByUs = false;

  constructor(conn: Deno.TlsConn, timeoutMs: number, failed: HandshakeFailed) {
    this.#conn = conn;
    const ready = handshakeWithin(conn, timeoutMs).then(() => {
      this.#ready = null;
    }, (e) => {
      const a = conn.remoteAddr;
      if (!this.#closedByUs) failed(`${a.hostname}:${a.port}`, handshakeReason(e));
      closeQuietly(conn);
      throw new Error(`TLS handshake failed: ${handshakeReason(e)}`);
    });
    // The session may not read before the handshake fails: the rejection is not unhandled.
    ready.catch(() => {});
    this.#ready = ready;
  }

  get remoteAddr(): PeerAddress {
    return this.#conn.remoteAddr;
  }

  async read(buf: Uint8Array): Promise<number | null> {
    if (this.#ready !== null) await this.#ready;
    return this.#conn.read(buf);
  }

  async write(bytes: Uint8Array): Promise<number> {
    if (this.#ready !== null) await this.#ready;
    return this.#conn.write(bytes);
  }

  async closeWrite(): Promise<void> {
    if (this.#ready !== null) await this.#ready;
    return this.#conn.closeWrite();
  }

  close(): void {
    this.#closedByUs = true;
    closeQuietly(this.#conn); // a failed handshake has closed it already
  }
}

/** Options of {@linkcode ReloadableTlsListener}. */
export interface TlsListenerOptions {
  /** Certificate chain, PEM. */
  cert: string;
  /** Private key, PEM. */
  key: string;
  /** Handshake deadline, ms. @default HANDSHAKE_TIMEOUT_MS */
  handshakeTimeoutMs?: number;
  /** Told of each failed handshake. @default nothing */
  onHandshakeFailed?: HandshakeFailed;
}

/**
 * A TLS {@linkcode Listener} whose certificate can be replaced while it runs
 * ({@linkcode ReloadableTlsListener.reload}). `Deno.listenTls` takes the certificate when it
 * opens the socket, so a reload closes the socket and opens it again on the same address: for
 * that instant (one turn of the event loop) a new connection is refused, and connections the
 * kernel had queued but the member had not accepted yet are reset. Accepted connections are
 * not touched. A pending {@linkcode accept} goes on with the new socket.
 */
export class ReloadableTlsListener implements Listener {
  #inner: Deno.TlsListener;
  #closed = false;
  /** The certificate and key the socket was opened with. */
  #pair: { cert: string; key: string };
  /** Resolves when the reload under way has the new socket (or gave up). */
  #reloading: Promise<void> | null = null;
  readonly #hostname: string;
  readonly #port: number;
  readonly #timeoutMs: number;
  readonly #failed: HandshakeFailed;

  /**
   * Listens.
   *
   * @param addr Where (port 0: any free port, kept across reloads).
   * @param opts Certificate, key, handshake deadline and failure report.
   * @throws {Deno.errors.AddrInUse} If the port is taken.
   * @throws {Error} If rustls refuses the certificate or key.
   */
  constructor(addr: PeerAddress, opts: TlsListenerOptions) {
    this.#pair = { cert: opts.cert, key: opts.key };
    this.#inner = Deno.listenTls({ hostname: addr.hostname, port: addr.port, ...this.#pair });
    this.#hostname = addr.hostname;
    this.#port = this.#inner.addr.port;
    this.#timeoutMs = opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    this.#failed = opts.onHandshakeFailed ?? (() => {});
  }

  /** Where it listens. */
  get addr(): PeerAddress {
    return { hostname: this.#inner.addr.hostname, port: this.#inner.addr.port };
  }

  /**
   * Waits for the next connection. Its handshake runs in the background with a deadline; the
   * returned connection's first read waits for it.
   *
   * @returns The connection.
   * @throws {Deno.errors.BadResource} Once closed.
   */
  async accept(): Promise<Conn> {
    for (;;) {
      const inner = this.#inner;
      try {
        const conn = await inner.accept();
        return new AcceptedTlsConn(conn, this.#timeoutMs, this.#failed);
      } catch (e) {
        if (this.#closed) throw e;
        if (this.#reloading !== null) await this.#reloading;
        if (this.#closed || inner === this.#inner) throw e; // closed, or not a reload's doing
      }
    }
  }

  /**
   * Replaces the certificate for new connections: closes the socket and listens again on the
   * same address with `cert` and `key` as soon as the port is free. Check the pair first
   * ({@linkcode checkKeyPair}).
   *
   * If the address cannot be listened on again within a second (another process took the port)
   * or rustls refuses the pair, this throws, and the listener goes on trying every
   * {@linkcode RECOVER_MS} ms in the background (with the new pair if only the port was in the
   * way, else the old one) until it listens again or is closed; accept() waits meanwhile.
   *
   * @param cert New certificate chain, PEM.
   * @param key New private key, PEM.
   * @returns How long the address refused connections, ms.
   * @throws {Error} If the listener is closed, or cannot listen again at once (see above).
   */
  async reload(cert: string, key: string): Promise<number> {
    if (this.#closed) throw new Error("Cannot reload a closed listener");
    while (this.#reloading !== null) await this.#reloading;
    let done!: () => void;
    this.#reloading = new Promise((resolve) => done = resolve);
    const started = performance.now();
    try {
      this.#inner.close();
      this.#inner = await this.#rebind({ cert, key });
      this.#pair = { cert, key };
    } catch (e) {
      const use = e instanceof Deno.errors.AddrInUse ? { cert, key } : this.#pair;
      void this.#recover(use, done);
      throw new Error(
        `cannot listen on ${this.#hostname}:${this.#port} again: ${
          reason(e)
        }; retrying every ${RECOVER_MS} ms`,
      );
    }
    this.#reloading = null;
    done();
    return performance.now() - started;
  }

  /** Listens again on the same address until the port is free (bounded). */
  async #rebind(use: { cert: string; key: string }): Promise<Deno.TlsListener> {
    const deadline = performance.now() + REBIND_TIMEOUT_MS;
    for (;;) {
      try {
        return Deno.listenTls({ hostname: this.#hostname, port: this.#port, ...use });
      } catch (e) {
        if (!(e instanceof Deno.errors.AddrInUse) || performance.now() > deadline) throw e;
        await new Promise((resolve) => setTimeout(resolve, REBIND_RETRY_MS));
      }
    }
  }

  /** After a failed reload: tries to listen again every RECOVER_MS until it does or is closed. */
  async #recover(use: { cert: string; key: string }, done: () => void): Promise<void> {
    while (!this.#closed) {
      await new Promise((resolve) => setTimeout(resolve, RECOVER_MS));
      if (this.#closed) break;
      try {
        this.#inner = Deno.listenTls({ hostname: this.#hostname, port: this.#port, ...use });
        this.#pair = use;
        break;
      } catch {
        // still taken: next round
      }
    }
    this.#reloading = null;
    done();
  }

  /** Stops listening; a pending accept() rejects. Accepted connections stay open. */
  close(): void {
    this.#closed = true;
    closeQuietly(this.#inner); // already closed while a failed reload retries
  }
}

/** Options of {@linkcode tlsDial}. */
export interface TlsDialOptions {
  /** CA certificates (PEM) the neighbour's certificate must chain to; read at each dial. */
  caCerts: () => string[];
  /** Told of each failed handshake. @default nothing */
  onHandshakeFailed?: HandshakeFailed;
}

/**
 * A TLS {@linkcode Dial}: TCP connect (aborted by `signal`), then the client handshake, which
 * verifies that the other end's certificate chains to one of `caCerts` (Deno also trusts its
 * built-in roots, see SECURITY.md) and names the host dialled (`addr.hostname`: an IP address
 * must be in the certificate's IP SANs, a name in its DNS SANs). The handshake is done before the
 * connection is returned, bounded by `signal` (the link's dial deadline).
 *
 * @param opts CA certificates and failure report.
 * @returns The dial.
 */
export function tlsDial(opts: TlsDialOptions): Dial {
  return async (addr: PeerAddress, signal: AbortSignal): Promise<Conn> => {
    const tcp = await Deno.connect({ hostname: addr.hostname, port: addr.port, signal });
    tcp.setNoDelay(true);
    let conn: Deno.TlsConn;
    try {
      conn = await Deno.startTls(tcp, { hostname: addr.hostname, caCerts: opts.caCerts() });
    } catch (e) {
      closeQuietly(tcp);
      throw e;
    }
    try {
      await handshakeWithin(conn, HANDSHAKE_TIMEOUT_MS, signal);
    } catch (e) {
      closeQuietly(conn);
      if (!signal.aborted) {
        opts.onHandshakeFailed?.(`${addr.hostname}:${addr.port}`, handshakeReason(e));
      }
      throw new Error(`TLS handshake failed: ${handshakeReason(e)}`);
    }
    return conn;
  };
}

/** Which listeners and dials of a member speak TLS. */
export interface MemberTlsUse {
  /** The client listener (and HTTPS). */
  clients: boolean;
  /** The peer listener and the links' dials. */
  peers: boolean;
}

/** What one reload did. */
export interface TlsReload {
  /** Listeners that reopened with the new certificate. */
  listeners: number;
  /** Longest time one of them refused connections, ms. */
  gapMs: number;
}

/**
 * The TLS of one member: its certificate, key and CA as read from `[tls]`, the listeners it
 * opened, and a {@linkcode MemberTls.reload} for SIGHUP that re-reads the files, reopens every
 * listener with the new certificate, and gives new dials the new CA. Established connections,
 * both ways, keep the certificate they were made with.
 */
export class MemberTls {
  readonly #config: TlsConfig;
  readonly #log: EventLog;
  #material: TlsMaterial;
  readonly #listeners = new Set<ReloadableTlsListener>();
  /** Extra listeners to tell of a reload (the HTTPS server), by a callback. */
  readonly #reloadHooks = new Set<(m: TlsMaterial) => Promise<number>>();

  /**
   * Reads and checks the files of `[tls]`.
   *
   * @param config The `[tls]` table.
   * @param log Where handshake failures and reloads are logged.
   * @throws {TlsFileError} If a file is missing, unreadable or not PEM, or the certificate and
   *   key do not make a pair.
   */
  constructor(config: TlsConfig, log: EventLog) {
    this.#config = config;
    this.#log = log;
    this.#material = MemberTls.#read(config);
  }

  static #read(config: TlsConfig): TlsMaterial {
    const material = readTlsFiles(config);
    if (material.cert !== undefined && material.key !== undefined) {
      checkKeyPair(material.cert, material.key, [config.certFile!, config.keyFile!]);
    }
    return material;
  }

  /** The certificate and key now in use (for `Deno.serve`), or `undefined` without them. */
  get certifiedKey(): { cert: string; key: string } | undefined {
    const { cert, key } = this.#material;
    return cert === undefined || key === undefined ? undefined : { cert, key };
  }

  /** The CA certificates now in use, PEM (empty without `ca_file`). */
  get caCerts(): string[] {
    return this.#material.ca === undefined ? [] : [this.#material.ca];
  }

  #failed = (remote: string, why: string): void => {
    this.#log.emit("warning", "tls.handshake.failed", { remote, reason: why });
  };

  /**
   * A TLS {@linkcode Listen} with this member's certificate; each listener it opens is reloaded
   * by {@linkcode MemberTls.reload} until closed.
   *
   * @throws {Error} If there is no `cert_file`/`key_file`, or listening fails.
   */
  readonly listen: Listen = (addr: PeerAddress): Listener => {
    const pem = this.certifiedKey;
    if (pem === undefined) throw new Error("TLS listener without tls.cert_file and tls.key_file");
    const inner = new ReloadableTlsListener(addr, { ...pem, onHandshakeFailed: this.#failed });
    this.#listeners.add(inner);
    return {
      get addr() {
        return inner.addr;
      },
      accept: () => inner.accept(),
      close: () => {
        this.#listeners.delete(inner);
        inner.close();
      },
    };
  };

  /** A TLS {@linkcode Dial} verifying neighbours against `ca_file` (as read at the last reload). */
  readonly dial: Dial = tlsDial({ caCerts: () => this.caCerts, onHandshakeFailed: this.#failed });

  /**
   * Registers something else to reload with the new files (the HTTPS server).
   *
   * @param hook Applies the new material; resolves to its gap in ms.
   * @returns The unregister function.
   */
  onReload(hook: (m: TlsMaterial) => Promise<number>): () => void {
    this.#reloadHooks.add(hook);
    return () => this.#reloadHooks.delete(hook);
  }

  /**
   * Reads the files again and, if they are good, reopens every listener with the new
   * certificate (new dials use the new CA). If a file is bad, nothing changes and the error is
   * logged as `tls.reload.failed` and thrown. Logs `tls.reloaded` on success.
   *
   * @returns The listeners reopened and the longest gap.
   * @throws {TlsFileError} If a file is missing, unreadable, not PEM, or the pair does not match.
   */
  async reload(): Promise<TlsReload> {
    let next: TlsMaterial;
    try {
      next = MemberTls.#read(this.#config);
    } catch (e) {
      this.#log.emit("error", "tls.reload.failed", { reason: (e as Error).message });
      throw e;
    }
    this.#material = next;
    let gapMs = 0;
    let listeners = 0;
    const failures: string[] = [];
    const pem = this.certifiedKey;
    if (pem !== undefined) {
      for (const l of this.#listeners) {
        try {
          gapMs = Math.max(gapMs, await l.reload(pem.cert, pem.key));
          listeners++;
        } catch (e) {
          failures.push(reason(e));
        }
      }
      for (const hook of this.#reloadHooks) {
        try {
          gapMs = Math.max(gapMs, await hook(next));
          listeners++;
        } catch (e) {
          failures.push(reason(e));
        }
      }
    }
    if (failures.length > 0) {
      const why = failures.join("; ");
      this.#log.emit("error", "tls.reload.failed", { reason: why });
      throw new Error(`TLS reload failed: ${why}`);
    }
    this.#log.emit("info", "tls.reloaded", {
      listeners,
      gapMs: Math.round(gapMs * 1000) / 1000,
    });
    return { listeners, gapMs };
  }
}

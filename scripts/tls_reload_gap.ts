/**
 * Measures what a TLS reload (SIGHUP) costs new connections: a TLS listener
 * ({@linkcode ReloadableTlsListener}, what a member's TLS ports use) echoes one line per
 * connection while `CLIENTS` loops connect, handshake, send a line and read it back, one
 * connection after another, and the listener is reloaded `RELOADS` times, alternating the two
 * test certificates. Prints how long each reload left the port closed (median, min-max, from
 * `reload()`'s own figure: close, then listen again as soon as the port is free) and how many
 * client connections failed in all (refused while the port was closed, or reset in the old
 * socket's queue), against how many succeeded.
 *
 * Loopback only, bounded (about RELOADS x PERIOD_MS). Uses the committed test certificates.
 *
 * Usage: deno run --allow-net=127.0.0.1 --allow-read scripts/tls_reload_gap.ts [reloads]
 *
 * @module
 */

import { ReloadableTlsListener } from "../src/herd/tls.ts";

const RELOADS = Number(Deno.args[0] ?? 40);
/** Time between two reloads, ms: several client round trips fit in between. */
const PERIOD_MS = 50;
/** Client loops connecting at the same time. */
const CLIENTS = 4;
/** A client connection not answered within this long is closed and counted as failed, ms. */
const CLIENT_TIMEOUT_MS = 5000;

const dir = new URL("../tests/fixtures/tls/", import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(name, dir));
const pairs = [
  { cert: read("member.pem"), key: read("member.key.pem") },
  { cert: read("rotated.pem"), key: read("rotated.key.pem") },
];
const ca = read("ca.pem");

const listener = new ReloadableTlsListener({ hostname: "127.0.0.1", port: 0 }, pairs[0]);
const port = listener.addr.port;
let running = true;

async function serveOne(conn: Awaited<ReturnType<typeof listener.accept>>): Promise<void> {
  const buf = new Uint8Array(256);
  try {
    const n = await conn.read(buf);
    if (n !== null) await conn.write(buf.subarray(0, n));
  } catch {
    // a client cut off by a reload
  } finally {
    conn.close();
  }
}

const accepting = (async () => {
  while (running) {
    try {
      void serveOne(await listener.accept());
    } catch {
      if (!running) break;
    }
  }
})();

let ok = 0;
let failed = 0;
async function client(): Promise<void> {
  const line = new TextEncoder().encode("ping\n");
  const buf = new Uint8Array(256);
  while (running) {
    let conn: Deno.TlsConn | undefined;
    let tcp: Deno.TcpConn | undefined;
    const timer = setTimeout(() => {
      try {
        (conn ?? tcp)?.close();
      } catch { /* closed */ }
    }, CLIENT_TIMEOUT_MS);
    try {
      tcp = await Deno.connect({ hostname: "127.0.0.1", port });
      tcp.setNoDelay(true);
      conn = await Deno.startTls(tcp, { hostname: "127.0.0.1", caCerts: [ca] });
      await conn.write(line);
      const n = await conn.read(buf);
      if (n === 5) ok++;
      else failed++;
    } catch {
      failed++;
    } finally {
      clearTimeout(timer);
      try {
        (conn ?? tcp)?.close();
      } catch { /* closed */ }
    }
  }
}

const clients = Array.from({ length: CLIENTS }, client);
const gaps: number[] = [];
for (let i = 0; i < RELOADS; i++) {
  await new Promise((r) => setTimeout(r, PERIOD_MS));
  const pair = pairs[(i + 1) % 2];
  gaps.push(await listener.reload(pair.cert, pair.key));
}
await new Promise((r) => setTimeout(r, PERIOD_MS));
running = false;
await Promise.all(clients);
listener.close();
await accepting;

gaps.sort((a, b) => a - b);
const median = gaps[Math.floor(gaps.length / 2)];
console.log(
  `${RELOADS} reloads: port closed ${median.toFixed(3)} ms median (${gaps[0].toFixed(3)} - ${
    gaps[gaps.length - 1].toFixed(3)
  }); client connections: ${ok} served, ${failed} failed (${
    (failed / RELOADS).toFixed(2)
  } per reload)`,
);

/**
 * Every event a member logs, in one list: the `event` field of each JSON
 * line (PROTOCOL.md section 5), typed so that emitting an unlisted name does
 * not compile, and the source of docs/EVENTS.md (a test checks that the
 * document lists exactly these, in this order).
 *
 * @module
 */

/** Event name -> what it means and its main fields. */
export const EVENTS = {
  "member.listening":
    "The member listens (`address`, `peerAddress` when it has a peer port, `neighbours`).",
  "member.loaded":
    "Records read from `data_dir` at start (`file`, `records`, `skipped`, `expired`: rows deleted as older than now minus `record_ttl_s`).",
  "member.unauthenticated":
    "No `[herd] secret`: neighbours are trusted by source address only (warning).",
  "member.stopping": "A signal asked the member to stop (`signal`).",
  "member.stopped": "The member stopped (`records` held).",
  "conn.open":
    "A connection was accepted (`conn`, `remote`, `listener`: `shared`, `client` or `peer`; debug).",
  "conn.close":
    "An accepted connection ended (`conn`, `remote`, `peer` for a neighbour's, `reason`; `timeout`: a neighbour that announced keepalive was silent for `peer_timeout_ms`, a warning).",
  "conn.refused":
    "Connections refused by a limit, at most one event a second per reason (`reason`: `over max_connections`, `per source`, `reserved for peers` or `peer port full`; `limit`, `refused` since the last event, `remote` of the last). A connection admitted on probation and closed without an accepted hello counts here too.",
  "conn.throttled":
    "A client connection went over `max_lines_per_s`: its lines wait, in order (`conn`, `remote`, `limit`; once per episode, until it keeps within the rate for a second).",
  "msg.in":
    "The lines of one read, on any connection, either side of a link, or a client line from the HTTP API (`conn`, `remote`, `peer`, `via`: `http`; `line` for one line, `lines` for several, in order; an overlong line alone, with `overlong`).",
  "msg.invalid":
    "A client line that does not parse, answered with a `?` line (`conn`, `reason`; debug).",
  "reply.out":
    "The replies of one write, or handed to our link's writer, or answered over HTTP (`conn`, `remote`, `via`; `reply` for one, `replies` for several, in order; a `?` reply alone, with its `reason`).",
  "record.stored":
    "Records stored by the lines of one read, whatever their source: a client's IAMAT, a neighbour's AT, an anti-entropy answer (`conn`, `peer`, `via`; `client` for one, `clients` for several; debug). Its `@timestamp` is when they were stored.",
  "record.erased":
    "A client was erased through this member's API (`DELETE /v1/clients/{id}`): its tombstone is stored and flooded (`conn`, `remote`, `via`, `client`, `time` of the tombstone, `held`: a record was held, `stored`: the tombstone was newer).",
  "record.refused":
    "Records refused by the lines of one read (`conn`, `peer`, `via`; `client` or `clients`; `reason`: `expired`, client time older than now minus `record_ttl_s`). A refused IAMAT still got its AT line.",
  "record.expired":
    "Records dropped by the expiry sweep, client time older than now minus `record_ttl_s` (`records`, `clients`, `tombstones`: erased clients' tombstones dropped, a count, never their ids; `oldest` and `newest` time; at most 1,000 entries an event).",
  "peer.invalid": "A neighbour sent a line that is not a peer message; dropped (`peer`, `reason`).",
  "peer.link.hello": "Our hello was written on a dialled link (`peer`, `address`; debug).",
  "peer.link.welcome": "The neighbour's welcome was verified (`peer`; debug).",
  "peer.link.open":
    "Our link to a neighbour is welcomed: it carries records now (`peer`, `address`).",
  "peer.link.accepted": "A neighbour's hello on our port was accepted (`conn`, `remote`, `peer`).",
  "peer.link.rejected":
    "A hello on our port was refused, or came on the client port of a member with a peer port (`peer`, `reason`; warning).",
  "peer.link.refused": "The neighbour answered our link with a `?` line (`peer`, `line`; warning).",
  "peer.link.reply":
    "The neighbour sent something else before its welcome, or a `? PING` after it (`peer`, `line`; debug).",
  "peer.link.dropped":
    "Our link to a neighbour ended (`peer`, `address`, `reason`; warning). Reason `timeout`: nothing heard for `peer_timeout_ms` (`silentMs`).",
  "peer.link.failed": "A dial failed (`peer`, `address`, `reason`; debug).",
  "peer.link.redial": "The link waits before it dials again (`peer`, `attempt`, `delayMs`; debug).",
  "peer.link.redial.now": "The neighbour dialled us, so our backoff was cut short (debug).",
  "peer.queue.overflow": "A link's queue is full: its oldest lines are being dropped (warning).",
  "peer.queue.dropped": "Lines dropped while the link was down, counted when it is back (`lines`).",
  "sync.start": "Anti-entropy started on a link (`peer`, `reason`, `records`).",
  "sync.digest": "A DIGEST was answered (`peer`, `prefix`, `differing`; root info, deeper debug).",
  "sync.want": "A WANT was answered with records (`peer`, `prefix`, `records`; debug).",
  "sync.have": "A HAVE was answered with records (`peer`, `prefix`, `records`; debug).",
  "tree.prune":
    "A broadcast-tree link became lazy: a duplicate made us send PRUNE, or the neighbour sent one (`peer`, `direction`, `client`; debug).",
  "tree.graft":
    "A GRAFT asked for announced records we missed, or a neighbour's was answered (`peer`, `direction`, `clients`, `sent`; debug).",
  "places.error":
    "The places service failed; the reply keeps its shape (`provider`, `status`, `reason`).",
  "places.upstream": "One HTTP attempt to Google (`status`, `ms`; debug, key redacted).",
  "places.stats": "Cache and upstream counters, while busy and at shutdown (`provider`, `final`).",
  "tls.handshake.failed":
    "A TLS handshake failed, on a connection we accepted or a link we dialled: a plain-text client on a TLS port, an expired certificate, one from another CA or for another name, or none within the deadline (`remote`, `reason`; warning). The connection is closed; the member goes on.",
  "tls.reloaded":
    "SIGHUP re-read the `[tls]` files: new connections get the new certificate, dials the new CA (`listeners` reopened, `gapMs` the longest time one refused connections).",
  "tls.reload.failed":
    "A reload found a `[tls]` file missing, unreadable, not PEM, or a certificate and key that do not match; the old ones stay in use; or SIGHUP came to a member without TLS, which goes on (`reason`; error, warning for the latter).",
  "http.listening": "The member's HTTP API listens (`address`).",
  "http.request":
    "One HTTP request answered (`method`, `route`, `status`, `ms`; never the token; info, console with --verbose).",
  "error": "Something failed that the member survived (`reason`).",
} as const satisfies Record<string, string>;

/** The name of an event a member logs. */
export type EventName = keyof typeof EVENTS;

/**
 * The text of docs/EVENTS.md: a table of every event, generated from
 * {@linkcode EVENTS} (`deno fmt` then pads the table's columns).
 *
 * @returns Markdown.
 */
export function eventsMarkdown(): string {
  const rows = Object.entries(EVENTS).map(([name, what]) => `| \`${name}\` | ${what} |`);
  return [
    "# Log events",
    "",
    "Each member appends one JSON object per event to `<log-dir>/<Name>.log`; the `event` field",
    "names it. This table is generated from `src/events.ts` (`deno task events`), and a test",
    "checks that it matches.",
    "",
    "```sh",
    `grep '"event":"peer.link' logs/Hill.log`,
    "```",
    "",
    "| event | meaning and fields |",
    "| --- | --- |",
    ...rows,
    "",
  ].join("\n");
}

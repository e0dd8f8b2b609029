import assert from "node:assert/strict";
import {
  BLANK,
  dispatch,
  dispatchOverlong,
  type Effect,
  HELD_COPY,
  HELLO_REFUSED,
  INVALID_REASONS,
  type InvalidReason,
  type ListenerKind,
  type MemberView,
  type Outcome,
  type PeerAuth,
  type SessionView,
} from "../../src/herd/mod.ts";
import { formatEntry, parseMessage } from "../../src/protocol/mod.ts";
import { testPort } from "./_port.ts";

/** 1621464828.223372000 s: the fixed receive time of testPort(). */
const RECEIVED_NS = 1621464828_223372000n;

/** The opening digest of an empty store. */
const EMPTY_DIGEST = "DIGEST - " + Array(16).fill("0").join(" ");

const KIWI_AT = "AT Hill +0.263873386 kiwi +34.068930-118.445127 1621464827.959498503";

function client(lines = 0): SessionView {
  return {
    id: 7,
    remote: "127.0.0.1:5000",
    remoteHost: "127.0.0.1",
    role: "listener",
    lines,
    peer: null,
    welcomed: false,
  };
}

function neighbour(name = "Smith"): SessionView {
  return { ...client(1), peer: name };
}

/** A stranger's session on one of a member's listeners (`shared`: the one port of a member). */
function on(listener: ListenerKind, lines = 0): SessionView {
  return { ...client(lines), listener };
}

function dialled(welcomed: boolean): SessionView {
  return { ...client(0), role: "dialler", peer: "Smith", welcomed };
}

/** A view whose store holds kiwi. */
function view(auth?: PeerAuth): MemberView {
  const { view, store } = testPort({ auth });
  const msg = parseMessage(KIWI_AT);
  if (msg.kind !== "AT") throw new Error("bad fixture");
  store.apply(msg.record);
  return view;
}

async function run(line: string, session: SessionView, member = view()): Promise<Outcome> {
  return await dispatch(line, session, member, RECEIVED_NS);
}

function kinds(effects: Effect[]): string[] {
  return effects.map((e) => e.kind === "event" ? `event:${e.event}` : e.kind);
}

Deno.test("dispatch() answers every client line with its byte-exact reply", async (t) => {
  const table: Array<[string, string | null, string[]]> = [
    [
      "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
      "AT Campbell +0.263873497 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503\n",
      ["accept"],
    ],
    [
      "IAMAT future +1-1 1621464829",
      "AT Campbell -0.776628000 future +1-1 1621464829\n",
      ["accept"],
    ],
    ["IAMAT kiwi +91+0 1", "? IAMAT kiwi +91+0 1\n", ["event:msg.invalid"]],
    ["IAMAT kiwi +34-118", "? IAMAT kiwi +34-118\n", ["event:msg.invalid"]],
    ["iamat kiwi +34-118 1", "? iamat kiwi +34-118 1\n", ["event:msg.invalid"]],
    ["WHATSAT unknown 10 5", "? WHATSAT unknown 10 5\n", []],
    ["WHATSAT kiwi 51 5", "? WHATSAT kiwi 51 5\n", ["event:msg.invalid"]],
    ["WHATSAT kiwi 10 21", "? WHATSAT kiwi 10 21\n", ["event:msg.invalid"]],
    [KIWI_AT, `? ${KIWI_AT}\n`, []],
    [EMPTY_DIGEST, `? ${EMPTY_DIGEST}\n`, []],
    ["ASK 0", "? ASK 0\n", []],
    ["HAVE 0", "? HAVE 0\n", []],
    ["WANT 0", "? WANT 0\n", []],
    ["hello there", "? hello there\n", ["event:msg.invalid"]],
    ["  \t ", null, []],
    ["", null, []],
  ];
  for (const [line, reply, effects] of table) {
    await t.step(JSON.stringify(line), async () => {
      const out = await run(line, client());
      if (line.trim() === "") {
        assert.equal(out, BLANK);
        return;
      }
      if (reply !== null) assert.equal(out.reply?.wire, reply);
      assert.deepEqual(kinds(out.effects), effects);
    });
  }
});

Deno.test("dispatch() gives every `? ` reply a reason for the log, and the wire only `? <line>`", async (t) => {
  const long = "IAMAT " + "x".repeat(10);
  const table: Array<[string, SessionView, InvalidReason]> = [
    ["hello there", client(), "unknown command"],
    ["iamat kiwi +34-118 1", client(), "unknown command"],
    ["IAMAT kiwi +34-118", client(), "wrong field count"],
    ["WHATSAT kiwi 10 5 5", client(), "wrong field count"],
    ["ASK", client(), "wrong field count"],
    ["IAMAT kiwi +91+0 1", client(), "bad ISO 6709 location"],
    ["IAMAT kiwi 34-118 1", client(), "bad ISO 6709 location"],
    ["IAMAT kiwi +34-118 -1621464827", client(), "bad POSIX time"],
    ["IAMAT kiwi +34-118 1.6e9", client(), "bad POSIX time"],
    ["WHATSAT kiwi ten 5", client(), "radius not a decimal number"],
    ["WHATSAT kiwi 51 5", client(), "radius out of range (0 < r <= 50 km)"],
    ["WHATSAT kiwi 50.000001 5", client(), "radius out of range (0 < r <= 50 km)"],
    ["WHATSAT kiwi 0 5", client(), "radius out of range (0 < r <= 50 km)"],
    ["WHATSAT kiwi 10 2.5", client(), "bound not an integer"],
    ["WHATSAT kiwi 10 0", client(), "bound out of range (1..20)"],
    ["WHATSAT kiwi 10 21", client(), "bound out of range (1..20)"],
    ["AT Hill 0.1 kiwi +34-118 1", client(), "bad skew"],
    ["HERD 2 Smith", client(), "bad hello"],
    ["HERD 1 Smith mac=a mac=b", client(), "bad hello"],
    ["ASK xyz", client(), "bad anti-entropy field"],
    ["HAVE 0 nonsense", client(), "bad anti-entropy field"],
    ["IHAVE kiwi soon", client(), "bad tree field"],
    [`${KIWI_AT} x`, client(), "bad tree field"],
    ["WHATSAT unknown 10 5", client(), "unknown client"],
    [KIWI_AT, client(), "peer message from a client"],
    [EMPTY_DIGEST, client(), "peer message from a client"],
    ["ASK 0", client(), "peer message from a client"],
    ["HAVE 0", client(), "peer message from a client"],
    ["WANT 0", client(), "peer message from a client"],
    ["IHAVE kiwi 1", client(), "peer message from a client"],
    ["GRAFT kiwi 1", client(), "peer message from a client"],
    ["PRUNE", client(), "peer message from a client"],
    ["PING 1", client(), "peer message from a client"],
    ["PONG 1", client(), "peer message from a client"],
    ["PING x-1", client(), "bad keepalive token"],
    [`${KIWI_AT} tree`, client(), "peer message from a client"],
    ["HERD 1 Hill", client(), HELLO_REFUSED],
    ["HERD 1 Smith", client(1), HELLO_REFUSED],
    ["HERD 1 Smith", on("client"), HELLO_REFUSED],
    [`IAMAT kiwi +34-118 1`, on("peer"), "client line on the peer port"],
    // A neighbour's link serves IAMAT and WHATSAT as from any client.
    ["WHATSAT unknown 10 5", neighbour(), "unknown client"],
  ];
  const seen = new Set<InvalidReason>();
  for (const [line, session, reason] of table) {
    await t.step(`${JSON.stringify(line)} -> ${reason}`, async () => {
      const out = await run(line, session);
      assert.deepEqual(out.reply, { wire: `? ${line}\n`, text: `? ${line}\n`, reason });
      seen.add(reason);
    });
  }
  await t.step(`an overlong line -> line too long`, () => {
    const out = dispatchOverlong(long, client(), 16);
    assert.deepEqual(out.reply, {
      wire: `? ${long}\n`,
      text: `? ${long}\n`,
      reason: "line too long",
    });
    seen.add("line too long");
  });
  await t.step("every reason has a row", () => {
    assert.deepEqual([...INVALID_REASONS].filter((r) => !seen.has(r)), []);
  });
});

Deno.test("dispatch() takes hellos only on a shared or peer listener, and only hellos on a peer one", async () => {
  // A hello, from a neighbour the member accepts on its shared or peer port.
  for (const listener of ["shared", "peer"] as const) {
    const out = await run("HERD 1 Smith", on(listener));
    assert.match(out.reply!.text, /^HERD 1 Campbell/);
    assert.deepEqual(kinds(out.effects), ["peer", "event:peer.link.accepted"]);
  }
  // On the client port of a member with a peer port: `? `, and the connection stays a client's.
  const refused = await run("HERD 1 Smith", on("client"));
  assert.equal(refused.reply!.wire, "? HERD 1 Smith\n");
  assert.deepEqual(kinds(refused.effects), ["event:peer.link.rejected"]);
  const why = refused.effects[0].kind === "event" ? refused.effects[0].fields.reason : "";
  assert.match(String(why), /client port/);
  assert.deepEqual(kinds((await run("IAMAT kiwi +34-118 1", on("client"))).effects), ["accept"]);
  // On a peer port: anything but a hello is answered `? ` and ends the session, unacted upon.
  for (const line of ["IAMAT kiwi +34-118 1", "WHATSAT kiwi 10 5", "hello there", KIWI_AT]) {
    const out = await run(line, on("peer"));
    assert.equal(out.reply!.wire, `? ${line}\n`);
    assert.deepEqual(kinds(out.effects), ["event:msg.invalid", "end"]);
  }
  // A refused hello there ends it too.
  const stranger = await run("HERD 1 Nobody", on("peer"));
  assert.equal(stranger.reply!.wire, "? HERD 1 Nobody\n");
  assert.deepEqual(kinds(stranger.effects), ["event:peer.link.rejected", "end"]);
  assert.deepEqual(kinds(dispatchOverlong("xxxx", on("peer"), 4).effects), [
    "event:msg.invalid",
    "end",
  ]);
});

Deno.test("dispatch() gives no reason to a reply that is not `? `", async () => {
  const replies = [
    await run("IAMAT kiwi +34-118 1621464827", client()),
    await run("WHATSAT kiwi 10 5", client()),
    await run("HERD 1 Smith", client()),
    await run(EMPTY_DIGEST, dialled(true)),
  ].map((out) => out.reply);
  assert.equal(replies.length, 4);
  for (const reply of replies) {
    assert.ok(reply !== null && !reply.wire.startsWith("? "), reply?.wire);
    assert.equal(reply.reason, undefined, reply.wire);
  }
});

Deno.test("dispatch() turns an IAMAT into one accept effect carrying the reply's own AT line", async () => {
  const out = await run("IAMAT kiwi +34.068930-118.445127 1621464827.959498503", client());
  const accept = out.effects[0];
  assert.equal(accept.kind, "accept");
  if (accept.kind !== "accept") return;
  assert.equal(accept.from, null);
  assert.equal(accept.line + "\n", out.reply?.wire);
  assert.equal(formatEntry(accept.record), accept.line);
});

Deno.test("dispatch() answers WHATSAT with the stored AT line, the Nearby Search JSON and a blank line", async () => {
  const out = await run("WHATSAT kiwi 10 5", client());
  const wire = out.reply!.wire;
  assert.ok(wire.startsWith(KIWI_AT + '\n{\n   "html_attributions"'), wire);
  assert.ok(wire.endsWith("}\n\n"));
  assert.ok(!wire.slice(0, -2).includes("\n\n"), "no blank line inside the JSON");
  assert.match(wire, /"name": "Royce Hall"/);
});

Deno.test("dispatch() gives the Nearby Search shape with UNKNOWN_ERROR when places rejects", async () => {
  const { view: member, store } = testPort({
    places: { name: "broken", nearby: () => Promise.reject(new Error("upstream down")) },
  });
  const kiwi = parseMessage(KIWI_AT);
  if (kiwi.kind === "AT") store.apply(kiwi.record);
  const out = await run("WHATSAT kiwi 10 5", client(), member);
  assert.match(out.reply!.wire, /"status": "UNKNOWN_ERROR"/);
  assert.match(out.reply!.wire, /"error_message": "upstream down"/);
  assert.deepEqual(kinds(out.effects), ["event:places.error", "event:places.error"]);
});

Deno.test("dispatch() accepts a neighbour's hello as the first line and answers with a welcome", async () => {
  const out = await run("HERD 1 Smith", client());
  assert.equal(out.reply?.wire, "HERD 1 Campbell\n");
  assert.deepEqual(kinds(out.effects), ["peer", "event:peer.link.accepted"]);
});

Deno.test("dispatch() refuses a hello that is not first, from a non-neighbour, or failing auth", async (t) => {
  const deny: PeerAuth = {
    mode: "secret",
    sign: () => Promise.resolve([]),
    check: () => Promise.resolve("bad mac"),
  };
  const cases: Array<[string, SessionView, MemberView, string]> = [
    ["not first", client(1), view(), "hello after first line"],
    ["not a neighbour", client(), view(), "not a neighbour"],
    ["bad auth", client(), view(deny), "bad mac"],
  ];
  for (const [name, session, member, why] of cases) {
    await t.step(name, async () => {
      const line = name === "not a neighbour" ? "HERD 1 Hill" : "HERD 1 Smith";
      const out = await run(line, session, member);
      assert.equal(out.reply?.wire, `? ${line}\n`);
      const ev = out.effects[0];
      assert.equal(ev.kind === "event" && ev.event, "peer.link.rejected");
      assert.equal(ev.kind === "event" && ev.fields.reason, why);
    });
  }
});

Deno.test("dispatch() accepts a neighbour's AT line without reply, naming the sender", async () => {
  const newer = KIWI_AT.replace("1621464827.959498503", "1621464828");
  for (const [line, tree] of [[newer, false], [`${newer} tree`, true]] as const) {
    const out = await run(line, neighbour());
    assert.equal(out.reply, null);
    assert.deepEqual(out.effects.map((e) => e.kind === "accept" && [e.from, e.tree]), [
      ["Smith", tree],
    ]);
  }
});

Deno.test("dispatch() does nothing with a neighbour's unmarked copy of the held record", async () => {
  // Exactly the held line: nothing to parse, store or relay.
  assert.equal(await run(KIWI_AT, neighbour()), HELD_COPY);
  assert.equal(await run(KIWI_AT, dialled(true)), HELD_COPY);
  // A marked copy goes to the tree unparsed (it may prune); an older record or a differently
  // spaced copy is judged by the store; a client's copy gets `? `.
  const marked = await run(`${KIWI_AT} tree`, neighbour());
  assert.deepEqual(marked.effects, [{ kind: "copy", from: "Smith", line: KIWI_AT }]);
  const older = await run(KIWI_AT.replace("1621464827.959498503", "1600000000"), neighbour());
  assert.deepEqual(kinds(older.effects), ["accept"]);
  const spaced = await run(KIWI_AT.replace(" kiwi ", "  kiwi "), neighbour());
  assert.deepEqual(kinds(spaced.effects), ["accept"]);
  assert.notEqual(await run(KIWI_AT, dialled(false)), HELD_COPY);
  assert.equal((await run(KIWI_AT, client(1))).reply?.reason, "peer message from a client");
});

Deno.test("dispatch() logs a neighbour's invalid line and sends nothing back", async () => {
  const out = await run("AT Hill nonsense", neighbour());
  assert.equal(out.reply, null);
  assert.deepEqual(kinds(out.effects), ["event:peer.invalid"]);
});

Deno.test("dispatch() answers anti-entropy on either side, as asker (listener) or pusher (dialler)", async () => {
  assert.equal(parseMessage(EMPTY_DIGEST).kind, "DIGEST");
  const listener = await run(EMPTY_DIGEST, neighbour());
  const pusher = await run(EMPTY_DIGEST, dialled(true));
  // We hold kiwi and the other side nothing: the listener has nothing to ask for; the pusher
  // sends kiwi at once, since the other side holds nothing under its node (anti_entropy.ts).
  assert.equal(listener.reply, null);
  assert.deepEqual(kinds(listener.effects), ["synced", "event:sync.digest"]);
  assert.equal(pusher.reply?.wire, KIWI_AT + "\n");
  assert.deepEqual(kinds(pusher.effects), ["synced", "event:sync.digest"]);
});

Deno.test("dispatch() on our own link: a welcome from the dialled neighbour is verified", async () => {
  const out = await run("HERD 1 Smith", dialled(false));
  assert.deepEqual(kinds(out.effects), ["welcomed", "event:peer.link.welcome"]);
  assert.equal(out.reply, null);
});

Deno.test("dispatch() on our own link: a wrong welcome or a refused hello ends the session", async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ["HERD 1 Hill", "welcome rejected: welcome names Hill", false],
    ["? HERD 1 Campbell", HELLO_REFUSED, true],
  ];
  for (const [line, why, refused] of cases) {
    await t.step(line, async () => {
      const out = await run(line, dialled(false));
      const end = out.effects.find((e) => e.kind === "end");
      assert.deepEqual(end, { kind: "end", reason: why, refused });
    });
  }
});

Deno.test("dispatch() on our own link ignores records before the welcome", async () => {
  const out = await run(KIWI_AT, dialled(false));
  assert.equal(out.reply, null);
  assert.deepEqual(kinds(out.effects), ["event:peer.link.reply"]);
  const newer = KIWI_AT.replace("1621464827.959498503", "1621464828");
  const after = await run(newer, dialled(true));
  assert.deepEqual(kinds(after.effects), ["accept"]);
});

Deno.test("dispatch() on our own link does not serve client messages", async () => {
  const out = await run("IAMAT kiwi +34-118 1", dialled(true));
  assert.equal(out.reply, null);
  assert.deepEqual(kinds(out.effects), ["event:peer.invalid"]);
});

Deno.test("dispatchOverlong() answers a client with `? ` and the kept bytes, and drops a neighbour's line", () => {
  const head = "IAMAT " + "x".repeat(10);
  assert.deepEqual(dispatchOverlong(head, client(), 16), {
    reply: { wire: `? ${head}\n`, text: `? ${head}\n`, reason: "line too long" },
    effects: [],
  });
  const fromPeer = dispatchOverlong(head, neighbour(), 16);
  assert.equal(fromPeer.reply, null);
  const ev = fromPeer.effects[0];
  assert.equal(ev.kind === "event" && ev.event, "peer.invalid");
  assert.equal(ev.kind === "event" && ev.fields.reason, "line over 16 bytes");
});

Deno.test("dispatch() answers a neighbour's PING with PONG and the same token, on either side", async (t) => {
  for (const [side, session] of [["listener", neighbour()], ["dialler", dialled(true)]] as const) {
    await t.step(side, async () => {
      const out = await run("PING 42", session);
      assert.equal(out.reply?.wire, "PONG 42\n");
      assert.deepEqual(out.effects, []);
      const pong = await run("PONG 42", session);
      assert.equal(pong.reply, null);
      assert.deepEqual(pong.effects, []);
    });
  }
});

Deno.test("dispatch() on our own link takes an older neighbour's `? PING` as harmless", async () => {
  const out = await run("? PING 3", dialled(true));
  assert.equal(out.reply, null);
  // Neither peer.link.refused (a warning per ping) nor the end of the session.
  assert.deepEqual(kinds(out.effects), ["event:peer.link.reply"]);
  const refused = await run("? HERD 1 Campbell", dialled(false));
  assert.ok(kinds(refused.effects).includes("end"), "a refused hello still ends it");
});

Deno.test("dispatch() reads the keepalive a hello or a welcome announces", async (t) => {
  const cases: Array<[string, number]> = [
    ["HERD 1 Smith keepalive=5000", 5000],
    ["HERD 1 Smith", 0],
    ["HERD 1 Smith keepalive=0", 0],
    ["HERD 1 Smith keepalive=soon", 0],
    ["HERD 1 Smith keepalive=99999999999", 0],
  ];
  for (const [line, ms] of cases) {
    await t.step(line, async () => {
      const hello = await run(line, client());
      assert.deepEqual(hello.effects.find((e) => e.kind === "peer"), {
        kind: "peer",
        name: "Smith",
        keepaliveMs: ms,
      });
      const welcome = await run(line, dialled(false));
      assert.deepEqual(welcome.effects.find((e) => e.kind === "welcomed"), {
        kind: "welcomed",
        tree: false,
        keepalive: ms > 0,
      });
    });
  }
});

Deno.test("dispatch() takes a neighbour's ERASE line as a tombstone to accept, and refuses it from a client", async () => {
  const line = "ERASE Smith kiwi 1621464828";
  for (const session of [neighbour(), dialled(true)]) {
    const out = await run(line, session);
    assert.equal(out.reply, null);
    const [accept] = out.effects;
    assert.equal(accept.kind, "accept");
    if (accept.kind !== "accept") return;
    assert.equal(accept.line, line);
    assert.equal(formatEntry(accept.record), line);
    assert.equal(accept.from, "Smith");
  }
  const fromClient = await run(line, client(1));
  assert.equal(fromClient.reply?.wire, `? ${line}\n`);
  assert.equal(fromClient.reply?.reason, "peer message from a client");
  // A copy of the tombstone held is recognised without a parse, like a record's.
  const member = view();
  const msg = parseMessage(line);
  if (msg.kind !== "ERASE") throw new Error("bad fixture");
  member.store.apply(msg.tombstone);
  assert.equal(await run(line, neighbour(), member), HELD_COPY);
  // And WHATSAT for the erased client is a `? ` like any unknown client's.
  const whatsat = await run("WHATSAT kiwi 10 5", client(1), member);
  assert.equal(whatsat.reply?.wire, "? WHATSAT kiwi 10 5\n");
  assert.equal(whatsat.reply?.reason, "unknown client");
});

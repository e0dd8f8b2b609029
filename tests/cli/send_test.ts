import assert from "node:assert/strict";
import { type HerdConfig, testConfig } from "../../src/config.ts";
import { TestHerd } from "../_harness.ts";
import { noPlaces } from "../_no_places.ts";
import { misplacedOption } from "../../src/cli/send.ts";
import { assertUserError, freePort, runHerd } from "./_cli.ts";

/** A herd of one: Campbell alone, port 0, no links. */
function soloConfig(): HerdConfig {
  const config = testConfig();
  return {
    ...config,
    servers: config.servers.filter((s) => s.name === "Campbell"),
    links: [],
  };
}

/** Runs `fn` against a started one-member herd, stopping it afterwards. */
async function withCampbell(fn: (target: string, herd: TestHerd) => Promise<void>): Promise<void> {
  // Only IAMATs are sent: Campbell needs no GeoNames data.
  const herd = await new TestHerd(soloConfig(), noPlaces()).start();
  try {
    const a = herd.address("Campbell");
    await fn(`${a.hostname}:${a.port}`, herd);
  } finally {
    await herd.stop();
  }
}

const LOCATION = "+34.068930-118.445127";
const CLIENT_TIME = "1621464827.959498503";

Deno.test("herd send prints the AT reply to an IAMAT exactly and exits 0", async () => {
  await withCampbell(async (target, herd) => {
    const r = await runHerd(["send", target, "IAMAT", "kiwi.cs.ucla.edu", LOCATION, CLIENT_TIME]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.match(
      r.stdout,
      /^AT Campbell [+-][0-9]+\.[0-9]{9} kiwi\.cs\.ucla\.edu \+34\.068930-118\.445127 1621464827\.959498503\n$/,
    );
    assert.equal(
      herd.member("Campbell").store.get("kiwi.cs.ucla.edu")?.clientTimeText,
      CLIENT_TIME,
    );
  });
});

Deno.test("herd send exits 1 on a '? ' reply and prints it", async () => {
  await withCampbell(async (target) => {
    const r = await runHerd(["send", target, "IAMAT", "kiwi", "not-a-location", "12"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "? IAMAT kiwi not-a-location 12\n");
    assert.equal(r.stderr, "");
  });
});

Deno.test("herd send joins the message words with single spaces", async () => {
  await withCampbell(async (target, herd) => {
    const r = await runHerd(["send", target, "HELLO", "proxy", "herd"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "? HELLO proxy herd\n");
    const lines = herd.logs.get("Campbell")!.named("msg.in").map((e) => e.fields.line);
    assert.deepEqual(lines, ["HELLO proxy herd"]);
  });
});

Deno.test("herd send passes a negative latitude through as a message word", async () => {
  await withCampbell(async (target) => {
    const r = await runHerd([
      "send",
      target,
      "IAMAT",
      "penguin",
      "-77.846323+166.668235",
      CLIENT_TIME,
    ]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.match(
      r.stdout,
      /^AT Campbell \S+ penguin -77\.846323\+166\.668235 1621464827\.959498503\n$/,
    );
  });
});

Deno.test("herd send exits 2 with one 'herd: ' line when the connection is refused", async () => {
  const port = freePort();
  const r = await runHerd(["send", `127.0.0.1:${port}`, "IAMAT", "kiwi", LOCATION, CLIENT_TIME]);
  assertUserError(r, [`127.0.0.1:${port}`]);
  assert.equal(r.stdout, "");
});

Deno.test("herd send exits 2 when a server accepts but never answers within --timeout", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) held.push(conn);
    } catch {
      // listener closed
    }
  })();
  try {
    const started = performance.now();
    const r = await runHerd(
      ["send", "--timeout", "300ms", `127.0.0.1:${listener.addr.port}`, "IAMAT", "kiwi", "x", "1"],
      undefined,
      15_000,
    );
    console.log(`send --timeout 300ms gave up after ${Math.round(performance.now() - started)} ms`);
    assertUserError(r, ["300 ms"]);
    assert.equal(r.stdout, "");
    assert.equal(held.length, 1, "the send connected once");
  } finally {
    listener.close();
    await accepting;
    for (const conn of held) conn.close();
  }
});

Deno.test("herd send exits 2 with 'no reply' when the server closes without answering", async () => {
  // A server that reads the whole request, then closes without writing a byte.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received = (async () => {
    let text = "";
    try {
      const conn = await listener.accept();
      try {
        const decoder = new TextDecoder();
        const buf = new Uint8Array(1024);
        for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
          text += decoder.decode(buf.subarray(0, n), { stream: true });
        }
      } finally {
        conn.close();
      }
    } catch {
      // listener closed before a connection came: the assertions below say so
    }
    return text;
  })();
  try {
    const target = `127.0.0.1:${listener.addr.port}`;
    const r = await runHerd(["send", target, "WHATSAT", "kiwi", "10", "5"]);
    assertUserError(r, [`no reply from ${target}`, "closed the connection"]);
    assert.equal(r.stdout, "");
    assert.equal(await received, "WHATSAT kiwi 10 5\n");
  } finally {
    listener.close();
  }
});

Deno.test("herd send warns when an option comes after host:port, and still sends it", async () => {
  await withCampbell(async (target, herd) => {
    const r = await runHerd(["send", target, "--timeout", "2", "WHATSAT", "kiwi", "10", "5"]);
    assert.equal(
      r.stderr,
      'herd: warning: "--timeout" is sent as message text; options go before host:port\n',
    );
    assert.equal(r.stdout, "? --timeout 2 WHATSAT kiwi 10 5\n");
    assert.equal(r.code, 1);
    const lines = herd.logs.get("Campbell")!.named("msg.in").map((e) => e.fields.line);
    assert.deepEqual(lines, ["--timeout 2 WHATSAT kiwi 10 5"]);
  });
});

Deno.test("misplacedOption() names a leading option word and nothing else", async (t) => {
  const cases: [string[], string | undefined][] = [
    [["--timeout", "2", "WHATSAT", "kiwi", "10", "5"], "--timeout"],
    [["-t", "2", "WHATSAT", "kiwi", "10", "5"], "-t"],
    [["--help"], "--help"],
    [["WHATSAT", "kiwi", "10", "5"], undefined],
    // A negative latitude is message text, wherever it comes.
    [["IAMAT", "penguin", "-77.846323+166.668235", CLIENT_TIME], undefined],
    [["-77.846323+166.668235"], undefined],
    [["WHATSAT", "--timeout", "2"], undefined],
    [["-"], undefined],
    [["--"], undefined],
    [[], undefined],
  ];
  for (const [words, option] of cases) {
    await t.step(words.join(" ") || "(no words)", () => {
      assert.equal(misplacedOption(words), option);
    });
  }
});

Deno.test("herd send exits 2 on a bad address", async () => {
  const r = await runHerd(["send", "nope", "IAMAT", "kiwi", LOCATION, CLIENT_TIME]);
  assertUserError(r, ['"nope"']);
  assert.equal(r.stdout, "");
});

Deno.test("herd send exits 2 on a bad --timeout", async () => {
  const r = await runHerd(["send", "--timeout", "soon", "127.0.0.1:1", "HELLO"]);
  assertUserError(r, ['"soon"']);
});

Deno.test("herd send --help exits 0 and documents --timeout", async () => {
  const r = await runHerd(["send", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--timeout/);
  assert.match(r.stdout, /<host:port>/);
});

Deno.test("herd send --help says a bare --timeout number is seconds", async () => {
  const r = await runHerd(["send", "--help"]);
  assert.equal(r.code, 0);
  // Help wraps at 80 columns: read it as one line of words.
  const text = r.stdout.replace(/\s+/g, " ");
  assert.match(
    text,
    /--timeout <duration> give up after this long: 5s, 500ms, 1m; a bare number is seconds/,
  );
});

Deno.test("herd send exits 2 with one 'herd: ' line on an unknown flag", async () => {
  const r = await runHerd(["send", "--timout", "1s", "127.0.0.1:1", "HELLO"]);
  assertUserError(r, ["--timout", "--help"]);
});

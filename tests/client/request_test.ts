import assert from "node:assert/strict";
import { ClientError, type ClientFailure, request, requestBytes } from "../../src/client/mod.ts";
import { withFakeServer } from "../_fake_server.ts";
import { freePort } from "../cli/_cli.ts";

/** Asserts a ClientError of the given failure whose message matches `pattern`. */
function isClientError(failure: ClientFailure, pattern: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof ClientError, `a ClientError, got ${e}`);
    assert.equal(e.failure, failure, e.message);
    assert.match(e.message, pattern);
    return true;
  };
}

Deno.test("request() writes, half-closes and reads the reply to EOF", async () => {
  // The fake server closes only at the client's EOF: without the half-close this would time out.
  await withFakeServer(
    (line) => `AT Fake +0.000000001 ${line.split(" ").slice(1).join(" ")}\n`,
    async (server) => {
      const reply = await request(server.address, "IAMAT kiwi +1+1 1\nIAMAT lime +2+2 2\n");
      assert.equal(reply, "AT Fake +0.000000001 kiwi +1+1 1\nAT Fake +0.000000001 lime +2+2 2\n");
      assert.deepEqual(server.lines, ["IAMAT kiwi +1+1 1", "IAMAT lime +2+2 2"]);
    },
  );
});

Deno.test("requestBytes() returns a reply longer than one read whole", async () => {
  const long = `? ${"é".repeat(100_000)}\n`;
  await withFakeServer(() => long, async (server) => {
    const reply = await requestBytes(server.address, new TextEncoder().encode("HELLO\n"));
    assert.equal(new TextDecoder().decode(reply), long);
  });
});

Deno.test("requestBytes() reads while it writes, so a long pipeline never deadlocks", async () => {
  // 8 MiB each way: far more than two socket buffers, so writing everything first would stall.
  const line = "x".repeat(1023);
  await withFakeServer((l) => `${l}\n`, async (server) => {
    const text = `${line}\n`.repeat(8192);
    const reply = await requestBytes(server.address, new TextEncoder().encode(text), {
      timeoutMs: 20_000,
    });
    assert.equal(reply.length, text.length);
  });
});

Deno.test("request() fails as 'connect' when nothing listens", async () => {
  const port = freePort();
  await assert.rejects(
    request({ hostname: "127.0.0.1", port }, "HELLO\n"),
    isClientError("connect", new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${port}: `)),
  );
});

Deno.test("request() fails as 'timeout' when the server never finishes its reply", async () => {
  await withFakeServer(() => "AT half a reply\n", async (server) => {
    await assert.rejects(
      request(server.address, "HELLO\n", { timeoutMs: 200 }),
      isClientError("timeout", /^no complete reply from 127\.0\.0\.1:\d+ within 200 ms$/),
    );
  }, { holdAfterEof: true });
});

Deno.test("requestBytes() fails as 'too-large' past maxReplyBytes", async () => {
  await withFakeServer(() => `${"x".repeat(1000)}\n`, async (server) => {
    await assert.rejects(
      requestBytes(server.address, new TextEncoder().encode("HELLO\n"), { maxReplyBytes: 100 }),
      isClientError("too-large", /is longer than 100 bytes$/),
    );
  });
});

Deno.test("requestBytes() fails as 'aborted' when its signal aborts", async () => {
  const abort = new AbortController();
  // The server aborts the request as soon as the line arrives, then never answers.
  await withFakeServer(() => {
    abort.abort();
    return null;
  }, async (server) => {
    await assert.rejects(
      request(server.address, "HELLO\n", { signal: abort.signal, timeoutMs: 10_000 }),
      isClientError("aborted", /^request to 127\.0\.0\.1:\d+ aborted$/),
    );
  }, { holdAfterEof: true });
});

import assert from "node:assert/strict";
import { ClientError, Pipeline, type PipelineOptions } from "../../src/client/mod.ts";
import { withFakeServer } from "../_fake_server.ts";

/** Runs `fn` with a pipeline to a fake server answering with `reply`; closes both afterwards. */
function withPipeline(
  reply: (line: string) => string | null,
  fn: (p: Pipeline) => Promise<void>,
  options?: PipelineOptions,
): Promise<void> {
  return withFakeServer(reply, async (server) => {
    const p = await Pipeline.connect(server.address, options);
    try {
      await fn(p);
    } finally {
      p.close();
    }
  });
}

const JSON_BODY = '{\n   "results": [],\n   "status": "ZERO_RESULTS"\n}\n\n';

/** Answers like a member: AT for IAMAT, AT + JSON for WHATSAT, `? ` for the rest. */
function memberLike(line: string): string {
  const f = line.split(" ");
  if (f[0] === "IAMAT" && f.length === 4) return `AT Fake +0.000000001 ${f.slice(1).join(" ")}\n`;
  if (f[0] === "WHATSAT" && f.length === 4) {
    return `AT Fake +0.000000001 ${f[1]} +1+1 1\n${JSON_BODY}`;
  }
  return `? ${line}\n`;
}

Deno.test("Pipeline.ask() returns every reply in request order, WHATSAT replies whole", async () => {
  await withPipeline(memberLike, async (p) => {
    const lines: string[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 300; i++) {
      const line = i % 3 === 0
        ? `WHATSAT c${i} 10 5`
        : i % 3 === 1
        ? `IAMAT c${i} +1+1 ${i}`
        : `NOPE ${i}`;
      lines.push(line);
      expected.push(memberLike(line));
    }
    assert.deepEqual(await p.ask(lines), expected);
    assert.equal(p.outstanding, 0);
    // The connection stays open for more.
    assert.deepEqual(await p.ask(["IAMAT again +1+1 1"]), [memberLike("IAMAT again +1+1 1")]);
  });
});

Deno.test("Pipeline.write() expects no reply for a line of only white space", async () => {
  await withPipeline((line) => (line.trim() === "" ? null : memberLike(line)), async (p) => {
    assert.deepEqual(await p.ask([" \t", "IAMAT kiwi +1+1 1"]), [memberLike("IAMAT kiwi +1+1 1")]);
  });
});

Deno.test("Pipeline.read() hands over replies as they complete, so a caller can refill", async () => {
  await withPipeline(memberLike, async (p) => {
    let sent = 0, answered = 0;
    const refill = () => {
      const lines = Array.from({ length: 8 - p.outstanding }, () => `IAMAT r${sent++} +1+1 1`);
      return p.write(lines);
    };
    await refill();
    while (answered < 200) {
      const n = await p.read((reply) => {
        assert.equal(new TextDecoder().decode(reply), memberLike(`IAMAT r${answered} +1+1 1`));
        answered++;
      });
      assert.notEqual(n, null);
      if (sent < 200) await refill();
    }
    assert.equal(answered, sent);
  });
});

Deno.test("Pipeline.read() returns null at EOF once every reply is in", async () => {
  await withPipeline(memberLike, async (p) => {
    await p.write(["IAMAT kiwi +1+1 1"]);
    await p.closeWrite();
    const replies: Uint8Array[] = [];
    let n: number | null;
    while ((n = await p.read((r) => replies.push(r.slice()))) !== null) assert.ok(n >= 0);
    assert.equal(replies.length, 1);
  });
});

Deno.test("Pipeline.read() fails when the server closes with replies outstanding", async () => {
  // Silent on every line: the server closes at our EOF with nothing answered.
  await withPipeline(() => null, async (p) => {
    await p.write(["IAMAT kiwi +1+1 1", "IAMAT lime +1+1 1"]);
    await p.closeWrite();
    await assert.rejects(p.read(() => {}), (e: unknown) => {
      assert.ok(e instanceof ClientError);
      assert.equal(e.failure, "connection");
      assert.match(e.message, /closed with 2 replies outstanding/);
      return true;
    });
  });
});

Deno.test("Pipeline.read() throws a RangeError for a reply past maxReplyBytes", async () => {
  await withPipeline((line) => `? ${line}${"x".repeat(500)}\n`, async (p) => {
    await p.write(["HELLO"]);
    await assert.rejects(p.read(() => {}), RangeError);
  }, { maxReplyBytes: 100 });
});

Deno.test("Pipeline.ask() fails as 'timeout' when a reply never comes", async () => {
  await withPipeline(() => null, async (p) => {
    await assert.rejects(p.ask(["IAMAT kiwi +1+1 1"], 200), (e: unknown) => {
      assert.ok(e instanceof ClientError);
      assert.equal(e.failure, "timeout");
      assert.match(e.message, /within 200 ms$/);
      return true;
    });
  });
});

Deno.test("Pipeline.write() rejects a line that holds a LF", async () => {
  await withPipeline(memberLike, async (p) => {
    await assert.rejects(p.write(["IAMAT a +1+1 1\nIAMAT b +1+1 1"]), TypeError);
    assert.equal(p.outstanding, 0);
  });
});

import assert from "node:assert/strict";
import { UserError } from "../../src/cli/args.ts";
import { bench, type BenchFlags } from "../../src/cli/bench.ts";

/** The flags as commander hands them over with every default in place. */
function flags(extra: Partial<BenchFlags> = {}): BenchFlags {
  return {
    mode: "pipe",
    kind: "iamat",
    duration: "30s",
    window: "64",
    rate: "100",
    timeout: "5s",
    radius: "10",
    bound: "5",
    json: false,
    progress: false,
    ...extra,
  };
}

/** Asserts that `herd bench` refuses the flags, before any connection, with exactly `message`. */
async function assertRefused(
  extra: Partial<BenchFlags>,
  message: string,
  target2?: string,
): Promise<void> {
  // Port 1 is never dialled: the options are refused first.
  await assert.rejects(bench("127.0.0.1:1", target2, flags(extra)), (e: unknown) => {
    assert.ok(e instanceof UserError, `a UserError, got ${e}`);
    assert.equal(e.message, message);
    return true;
  });
}

Deno.test("bench() names the flag and the protocol's limit for a WHATSAT radius or bound", async () => {
  await assertRefused({ radius: "60" }, 'invalid --radius "60": at most 50 km');
  await assertRefused({ bound: "21" }, 'invalid --bound "21": at most 20');
  await assertRefused({ radius: "0" }, 'invalid --radius "0": use a number > 0');
  await assertRefused({ bound: "0" }, 'invalid --bound "0": use a whole number >= 1');
});

Deno.test("bench() says which address or kind does not fit the mode", async () => {
  await assertRefused(
    { mode: "propagation" },
    "--mode propagation needs a second address: <host:port> <host2:port2>",
  );
  await assertRefused(
    {},
    "a second address is for --mode propagation only, not pipe",
    "127.0.0.1:2",
  );
  await assertRefused(
    { mode: "propagation", kind: "whatsat" },
    "--mode propagation sends IAMAT: drop --kind whatsat",
    "127.0.0.1:2",
  );
  await assertRefused({ mode: "flood" }, 'invalid --mode "flood": use conn, pipe, propagation');
});

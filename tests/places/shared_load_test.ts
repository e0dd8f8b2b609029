import assert from "node:assert/strict";
import { SharedLoad } from "../../src/places/_shared_load.ts";

Deno.test("SharedLoad.get() starts one load for concurrent callers", async () => {
  let calls = 0;
  const load = new SharedLoad(() => Promise.resolve(++calls));
  const values = await Promise.all([load.get(), load.get(), load.get()]);
  assert.deepEqual(values, [1, 1, 1]);
  assert.equal(await load.get(), 1, "a finished load is reused");
  assert.equal(load.starts, 1);
});

Deno.test("SharedLoad.get() starts nothing until asked", async () => {
  let calls = 0;
  const load = new SharedLoad(() => Promise.resolve(++calls));
  await load.settled(); // resolves at once when no load started
  assert.equal(calls, 0);
  assert.equal(load.starts, 0);
});

Deno.test("SharedLoad.get() retries after a failed load", async () => {
  let calls = 0;
  const load = new SharedLoad(() => {
    calls++;
    return calls === 1 ? Promise.reject(new Error("first fails")) : Promise.resolve("second");
  });
  await assert.rejects(load.get(), /first fails/);
  assert.equal(await load.get(), "second");
  assert.equal(load.starts, 2);
});

Deno.test("SharedLoad.get() turns a throwing loader into a rejection", async () => {
  const load = new SharedLoad((): Promise<number> => {
    throw new TypeError("bad loader");
  });
  await assert.rejects(load.get(), TypeError);
});

Deno.test("SharedLoad.settled() resolves after the load, failed or not, and never rejects", async () => {
  let fail: (error: Error) => void = () => {};
  const load = new SharedLoad(() => new Promise<never>((_, reject) => fail = reject));
  load.get().catch(() => {});
  let settled = false;
  const done = load.settled().then(() => settled = true);
  await Promise.resolve();
  assert.equal(settled, false, "still loading");
  fail(new Error("boom"));
  await done;
  assert.equal(settled, true);
});

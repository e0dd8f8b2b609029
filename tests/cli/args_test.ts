import assert from "node:assert/strict";
import { clientTlsOf, didYouMean, parseDurationMs, UserError } from "../../src/cli/args.ts";

/** The default herd's names (PROTOCOL.md section 6). */
const NAMES = ["Campbell", "Hill", "Jaquez", "Singleton", "Smith"] as const;

Deno.test("didYouMean() suggests the server a near miss meant", async (t) => {
  const cases: [string, string][] = [
    // Case alone.
    ["campbell", "Campbell"],
    ["HILL", "Hill"],
    ["sMiTh", "Smith"],
    // One edit: a deletion, an insertion, a substitution, a swap.
    ["Campbel", "Campbell"],
    ["Hil", "Hill"],
    ["Campbelll", "Campbell"],
    ["Smyth", "Smith"],
    ["Jaqeuz", "Jaquez"],
    ["singelton", "Singleton"],
    ["jacquez", "Jaquez"],
    // Two edits, in a name of 6 letters or more.
    ["Campel", "Campbell"],
    ["snigleon", "Singleton"],
  ];
  for (const [typed, meant] of cases) {
    await t.step(`${typed} -> ${meant}`, () => assert.equal(didYouMean(typed, NAMES), meant));
  }
});

Deno.test("didYouMean() suggests nothing when no server is close", async (t) => {
  const cases: string[] = [
    "Bailey", // another class's server name
    "", // nothing typed
    "H", // 3 edits from Hill
    "Hi", // 2 edits from Hill, but 2 letters allow 1
    "Jakez", // 2 edits from Jaquez, but 5 letters allow 1
    "Hilton", // 3 edits from Hill
    "Campbellton", // 3 edits from Campbell: never more than 2
  ];
  for (const typed of cases) {
    await t.step(JSON.stringify(typed), () => assert.equal(didYouMean(typed, NAMES), undefined));
  }
});

Deno.test("didYouMean() allows a third of the typed length in edits, 1 to 2", async (t) => {
  // [typed, candidate, suggested?]
  const cases: [string, string, boolean][] = [
    ["ab", "abc", true], // 1 edit, 2 letters: at least 1 is allowed
    ["ab", "ax", true], // 1 substitution
    ["abcde", "abcxy", false], // 2 edits, 5 letters allow 1
    ["abcdef", "abcdxy", true], // 2 edits, 6 letters allow 2
    ["abcdefghijkl", "abcdefghijxy", true], // 2 edits, 12 letters: 2 still
    ["abcdefghijkl", "abcdefghixyz", false], // 3 edits: never more than 2
  ];
  for (const [typed, candidate, suggested] of cases) {
    await t.step(`${typed} vs ${candidate}`, () => {
      assert.equal(didYouMean(typed, [candidate]), suggested ? candidate : undefined);
    });
  }
});

Deno.test("didYouMean() suggests nothing for a name that is already a candidate", () => {
  assert.equal(didYouMean("Hill", NAMES), undefined);
});

Deno.test("didYouMean() prefers the fewest edits, then the first candidate", () => {
  assert.equal(didYouMean("Smit", ["Smart", "Smith"]), "Smith");
  assert.equal(didYouMean("Smitt", ["Smith", "Smitty"]), "Smith");
  assert.equal(didYouMean("Smitt", ["Smitty", "Smith"]), "Smitty");
});

Deno.test("didYouMean() suggests nothing from no candidates", () => {
  assert.equal(didYouMean("Hill", []), undefined);
});

Deno.test("parseDurationMs() reads a bare number as seconds", async (t) => {
  const cases: [string, number][] = [
    ["5", 5000],
    ["0.5", 500],
    ["5s", 5000],
    ["1.5s", 1500],
    ["500ms", 500],
    ["1m", 60_000],
    [" 2s ", 2000],
  ];
  for (const [text, ms] of cases) {
    await t.step(`${JSON.stringify(text)} -> ${ms} ms`, () => {
      assert.equal(parseDurationMs(text), ms);
    });
  }
});

Deno.test("parseDurationMs() throws a UserError on text that is not a positive duration", async (t) => {
  for (const text of ["", "soon", "0", "0s", "-1s", "5h", "5 s", "1e3"]) {
    await t.step(JSON.stringify(text), () => {
      assert.throws(() => parseDurationMs(text), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.ok(e.message.includes(`"${text}"`), e.message);
        return true;
      });
    });
  }
});

Deno.test("clientTlsOf() reads --tls and --ca, and names the flag and file of a bad one", () => {
  const ca = new URL("../fixtures/tls/ca.pem", import.meta.url).pathname;
  assert.equal(clientTlsOf({}), undefined);
  assert.deepEqual(clientTlsOf({ tls: true }), { caCerts: [] });
  assert.deepEqual(clientTlsOf({ tls: true, ca }), { caCerts: [Deno.readTextFileSync(ca)] });
  assert.throws(
    () => clientTlsOf({ ca }),
    (e: Error) => e instanceof UserError && /--ca is for TLS: add --tls/.test(e.message),
  );
  assert.throws(
    () => clientTlsOf({ tls: true, ca: "/nonexistent/ca.pem" }),
    (e: Error) =>
      e instanceof UserError && e.message === "--ca: cannot read /nonexistent/ca.pem: no such file",
  );
  assert.throws(
    () => clientTlsOf({ tls: true, ca: ca.replace("ca.pem", "ca.key.pem") }),
    /--ca: .*ca\.key\.pem does not hold PEM certificates/,
  );
});

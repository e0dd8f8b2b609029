import assert from "node:assert/strict";
import { EVENTS, eventsMarkdown } from "../src/events.ts";

/** The rows of a Markdown table as trimmed cells, header and rule left out. */
function rows(markdown: string): string[][] {
  return markdown.split("\n")
    .filter((l) => l.startsWith("| `"))
    .map((l) => l.slice(1, -1).split(" | ").map((c) => c.trim()));
}

Deno.test("docs/EVENTS.md lists exactly the events of EVENTS, in order, with their meaning", async () => {
  const doc = await Deno.readTextFile(new URL("../docs/EVENTS.md", import.meta.url));
  const fix = "run `deno task events` to regenerate docs/EVENTS.md";
  assert.deepEqual(rows(doc), rows(eventsMarkdown()), fix);
  assert.equal(rows(doc).length, Object.keys(EVENTS).length, fix);
});

Deno.test("every event the source emits is listed in EVENTS", async () => {
  // The type already refuses unlisted names; this also catches one built at run time.
  const listed = new Set(Object.keys(EVENTS));
  const emitted = new Set<string>();
  for await (const path of walk(new URL("../src/", import.meta.url))) {
    const text = await Deno.readTextFile(path);
    for (const m of text.matchAll(/"(?:debug|info|warning|error)",\s*"([a-z.]+)"/g)) {
      emitted.add(m[1]);
    }
  }
  assert.ok(emitted.size >= 20, `found ${emitted.size} emitted names`);
  for (const name of emitted) assert.ok(listed.has(name), `${name} is emitted but not listed`);
});

async function* walk(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* walk(url);
    else if (entry.name.endsWith(".ts")) yield url;
  }
}

/**
 * The dashboard page (issue 12) as HTTP, without a browser: `GET /` serves
 * HTML that names only this member's own assets, each answering 200 with its
 * content type and cache headers; the world TopoJSON parses; the token guards
 * the page and its assets; `stored_at` is in `GET /v1/clients/{id}` and in
 * stream events; the committed bundle is what the sources give; every file
 * the page needs reaches the compiled binary through a static import.
 * (What a browser does with the page: tests/browser/.)
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { IMMUTABLE, REVALIDATE, wantsJson } from "../../src/http/dashboard.ts";
import { waitFor } from "../_harness.ts";
import {
  expectProblem,
  getJson,
  put,
  type RecordBody,
  SseReader,
  startHttpHerd,
  waitForSubscribers,
} from "./_herd.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const TOKEN = "dashboard-test-token-0123456789";
const KIWI = "+34.068930-118.445127";

/** What each kind of asset must be served as. */
const TYPES: Record<string, RegExp> = {
  ".js": /^text\/javascript; charset=utf-8$/,
  ".css": /^text\/css; charset=utf-8$/,
  ".svg": /^image\/svg\+xml$/,
  ".json": /^application\/json$/,
};

/** The URLs a page's HTML refers to (src, href, and the world map's data-world). */
function referenced(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href|data-world)="([^"]*)"/g)].map((m) => m[1]);
}

Deno.test("GET / serves the page; it names only same-origin assets, each 200 with its type", async () => {
  const herd = await startHttpHerd(1);
  try {
    const url = herd.url("Campbell");
    const res = await fetch(`${url}/`, { headers: { accept: "text/html,*/*;q=0.8" } });
    const html = await res.text();
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(res.headers.get("cache-control"), REVALIDATE);
    assert.match(res.headers.get("etag") ?? "", /^"[0-9a-f]{16}"$/);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(html, /^<!doctype html>/i);
    // No CDN, no other host: nothing in the page names a URL with a scheme or a host.
    assert.doesNotMatch(html, /https?:\/\/|["'(]\/\//);
    const urls = referenced(html);
    const assets = urls.filter((u) => !u.startsWith("#"));
    assert.ok(assets.length >= 4, `assets: ${assets}`);
    for (const ref of assets) {
      const abs = new URL(ref, `${url}/`);
      assert.equal(abs.origin, url, `${ref} is on this member`);
      assert.match(abs.pathname, /^\/dashboard\/[a-z0-9.-]+$/, ref);
      assert.match(abs.search, /^\?v=[0-9a-f]{16}$/, `${ref} is versioned`);
      const a = await fetch(abs);
      const body = new Uint8Array(await a.arrayBuffer());
      assert.equal(a.status, 200, ref);
      assert.ok(body.length > 0, ref);
      const ext = abs.pathname.slice(abs.pathname.lastIndexOf("."));
      assert.match(a.headers.get("content-type") ?? "", TYPES[ext], ref);
      assert.equal(a.headers.get("cache-control"), IMMUTABLE, ref);
      assert.equal(a.headers.get("x-content-type-options"), "nosniff", ref);
      // Revalidation: the ETag of the bytes, 304 without a body.
      const etag = a.headers.get("etag")!;
      assert.equal(etag, `"${abs.search.slice(3)}"`, ref);
      const again = await fetch(abs, { headers: { "if-none-match": etag } });
      assert.equal(again.status, 304, ref);
      assert.equal((await again.arrayBuffer()).byteLength, 0);
    }
    for (const ext of Object.keys(TYPES)) {
      assert.ok(assets.some((u) => u.split("?")[0].endsWith(ext)), `the page loads a ${ext}`);
    }
    // Without its version an asset is served too, but revalidated.
    const plain = await fetch(`${url}/dashboard/app.js`);
    await plain.body?.cancel();
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get("cache-control"), REVALIDATE);
    // The page revalidates to 304 as well.
    const page304 = await fetch(`${url}/`, {
      headers: { "if-none-match": res.headers.get("etag")! },
    });
    await page304.body?.cancel();
    assert.equal(page304.status, 304);
  } finally {
    await herd.stop();
  }
});

Deno.test("the page's script is the bundle and carries the test contract's attributes", async () => {
  const herd = await startHttpHerd(1);
  try {
    const js = await (await fetch(`${herd.url("Campbell")}/dashboard/app.js`)).text();
    assert.equal(js, await Deno.readTextFile(`${REPO}src/http/dashboard/_bundle.js`));
    for (const attr of ["data-member", "data-link", "data-client", "data-state"]) {
      assert.ok(js.includes(`"${attr}"`), attr);
    }
    // Libraries are in it, not fetched: no import of another file or module (comments aside).
    const code = js.split("\n").filter((line) => !/^\s*(\/\/|\/?\*)/.test(line)).join("\n");
    assert.doesNotMatch(code, /^\s*import\s/m);
    assert.doesNotMatch(code, /\bimport\(/);
  } finally {
    await herd.stop();
  }
});

Deno.test("the world map is world-atlas countries-110m TopoJSON, with countries and land", async () => {
  const herd = await startHttpHerd(1);
  try {
    const html = await (await fetch(`${herd.url("Campbell")}/`)).text();
    const ref = /data-world="([^"]+)"/.exec(html)?.[1];
    assert.ok(ref !== undefined, "the page names its world map");
    const world = await getJson<{
      type: string;
      objects: Record<string, { type: string; geometries: unknown[] }>;
      arcs: unknown[];
      transform?: unknown;
    }>(new URL(ref, `${herd.url("Campbell")}/`).href);
    assert.equal(world.type, "Topology");
    assert.equal(world.objects.countries.type, "GeometryCollection");
    assert.ok(world.objects.countries.geometries.length >= 170, "every country");
    assert.equal(world.objects.land.type, "GeometryCollection");
    assert.ok(world.arcs.length > 500, `${world.arcs.length} arcs`);
  } finally {
    await herd.stop();
  }
});

Deno.test("GET / answers the API's JSON index to a client that asks for JSON only", async () => {
  const herd = await startHttpHerd(1);
  try {
    const index = await getJson<{ member: string; api: string }>(`${herd.url("Campbell")}/`, {
      headers: { accept: "application/json" },
    });
    assert.equal(index.member, "Campbell");
    assert.equal(index.api, "/v1");
    const unknown = await fetch(`${herd.url("Campbell")}/dashboard/nothing.js`);
    await expectProblem(unknown, 404);
    const post = await fetch(`${herd.url("Campbell")}/dashboard/app.js`, { method: "PUT" });
    await expectProblem(post, 405);
  } finally {
    await herd.stop();
  }
});

Deno.test("wantsJson() is true only for a client that accepts JSON and not HTML", () => {
  const cases: Array<[string | null, boolean]> = [
    [null, false],
    ["*/*", false],
    ["application/json", true],
    ["application/json;q=0.9, */*;q=0.1", true],
    ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false],
    ["text/html, application/json", false],
  ];
  for (const [accept, want] of cases) assert.equal(wantsJson(accept), want, String(accept));
});

Deno.test("with a token, the page and its assets need the cookie that GET /?token= sets", async () => {
  const herd = await startHttpHerd(1, { token: TOKEN });
  try {
    const url = herd.url("Campbell");
    await expectProblem(await fetch(`${url}/`), 401);
    await expectProblem(await fetch(`${url}/dashboard/app.js`), 401);
    // A browser gets a page that says how to give the token, still a 401.
    const browser = await fetch(`${url}/`, { headers: { accept: "text/html,*/*;q=0.8" } });
    const text = await browser.text();
    assert.equal(browser.status, 401);
    assert.equal(browser.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(browser.headers.get("www-authenticate") ?? "", /^Bearer /);
    assert.match(text, /\/\?token=&lt;token&gt;/);
    // Only the page: an asset or the API answers a browser with the problem document.
    await expectProblem(
      await fetch(`${url}/dashboard/app.js`, { headers: { accept: "text/html" } }),
      401,
    );
    const login = await fetch(`${url}/?token=${TOKEN}`, { redirect: "manual" });
    await login.body?.cancel();
    assert.equal(login.status, 303);
    assert.equal(login.headers.get("location"), "/");
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0];
    const page = await fetch(`${url}/`, { headers: { cookie } });
    const html = await page.text();
    assert.equal(page.status, 200);
    for (const ref of referenced(html).filter((u) => !u.startsWith("#"))) {
      const a = await fetch(new URL(ref, `${url}/`), { headers: { cookie } });
      await a.body?.cancel();
      assert.equal(a.status, 200, ref);
    }
  } finally {
    await herd.stop();
  }
});

Deno.test("the page's policy lets it reach every member of the herd and nothing else", async () => {
  const herd = await startHttpHerd(3);
  try {
    const res = await fetch(`${herd.url("Campbell")}/`);
    await res.body?.cancel();
    const csp = res.headers.get("content-security-policy") ?? "";
    const connect = /connect-src ([^;]+)/.exec(csp)?.[1].split(" ") ?? [];
    assert.deepEqual(
      connect.sort(),
      ["'self'", herd.url("Campbell"), herd.url("Hill"), herd.url("Jaquez")].sort(),
    );
  } finally {
    await herd.stop();
  }
});

Deno.test("stored_at: GET /v1/clients/{id} and stream events say when each member stored the record", async () => {
  const herd = await startHttpHerd(5);
  const hill = herd.get("Hill");
  const events = new SseReader(
    await fetch(`${hill.url}/v1/stream`, { headers: { accept: "text/event-stream" } }),
  );
  try {
    await waitForSubscribers(hill, 1);
    const before = performance.timeOrigin + performance.now();
    const res = await put(`${herd.url("Campbell")}/v1/clients/kiwi/location`, {
      location: KIWI,
      time: "1000",
    });
    const { stored: _, ...record } = await res.json() as RecordBody;
    const event = await events.json() as {
      type: string;
      record: RecordBody & { stored_at: number };
    };
    assert.equal(event.type, "update");
    // Every existing field, and one more.
    const { stored_at: eventStoredAt, ...eventRecord } = event.record;
    assert.deepEqual(eventRecord, record);
    assert.equal(typeof eventStoredAt, "number");
    const times = new Map<string, number>();
    for (const name of herd.members.keys()) {
      let got: (RecordBody & { stored_at: number | null }) | undefined;
      await waitFor(
        async () => {
          const r = await fetch(`${herd.url(name)}/v1/clients/kiwi`);
          if (r.status === 404) {
            await r.body?.cancel();
            return false;
          }
          got = await r.json();
          return true;
        },
        5000,
        `${name} holds kiwi`,
      );
      const { stored_at, ...fields } = got!;
      assert.deepEqual(fields, record, name);
      assert.equal(typeof stored_at, "number", name);
      times.set(name, stored_at!);
    }
    // The event of Hill's stream is Hill's store.
    assert.equal(times.get("Hill"), eventStoredAt);
    // One process, one time origin: Campbell stored it first, every other member after.
    const after = performance.timeOrigin + performance.now();
    for (const [name, t] of times) {
      assert.ok(t >= before && t <= after, `${name}: ${t} within [${before}, ${after}]`);
      if (name !== "Campbell") assert.ok(t > times.get("Campbell")!, `${name} after Campbell`);
    }
  } finally {
    await events.cancel();
    await herd.stop();
  }
});

Deno.test("the committed bundle is what scripts/build_dashboard.ts makes of the sources", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      "scripts/build_dashboard.ts",
      "--check",
    ],
    cwd: REPO,
    stdin: "null",
  }).output();
  const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, out);
});

Deno.test("src/http/dashboard.ts reaches every file the page needs through static imports", async () => {
  // deno compile embeds what static imports reach (text and JSON imports included) and only
  // that; a file read at run time would need --include in the compile task
  // (tests/release_test.ts checks those that are loaded by URL).
  const source = await Deno.readTextFile(`${REPO}src/http/dashboard.ts`);
  assert.doesNotMatch(
    source,
    /Deno\.read|new URL\([^)]*import\.meta\.url|import\.meta\.(resolve|dirname|filename)/,
  );
  const imports = [...source.matchAll(/^import \w+ from "([^"]+)" with \{ type: "(\w+)" \};$/gm)];
  const local = imports.filter((m) => m[1].startsWith("./")).map((m) => m[1].slice(2));
  const html = await Deno.readTextFile(`${REPO}src/http/dashboard/index.html`);
  for (const ref of referenced(html).filter((u) => u.startsWith("dashboard/"))) {
    const name = ref.slice("dashboard/".length);
    if (name === "app.js") assert.ok(local.includes("dashboard/_bundle.js"), "the bundle");
    else if (name === "countries-110m.json") {
      assert.ok(imports.some((m) => m[1] === "world-atlas/countries-110m.json" && m[2] === "json"));
    } else assert.ok(local.includes(`dashboard/${name}`), `${name} is imported`);
  }
});

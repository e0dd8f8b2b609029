/**
 * The dashboard page (issue 12) as HTTP responses: `GET /` is the page,
 * `GET /dashboard/<file>` its script, style sheet, icon and world map. Every
 * byte comes from this module's static imports (the committed bundle of
 * scripts/build_dashboard.ts, the page's own files, world-atlas's TopoJSON
 * from its npm package), so `deno run` and the compiled binary serve the same
 * files without a build step, a network or a file read at run time.
 *
 * Caching: the page is revalidated on every load (`no-cache`, ETag); it
 * names each asset with `?v=<hash of its bytes>`, and an asset asked for with
 * its current hash may be kept for a year (`immutable`), any other request
 * revalidates. `private`: with a token, every response needs the cookie.
 *
 * @module
 */

import { createHash } from "node:crypto";
import WORLD from "world-atlas/countries-110m.json" with { type: "json" };
import APP_JS from "./dashboard/_bundle.js" with { type: "text" };
import ICON_SVG from "./dashboard/icon.svg" with { type: "text" };
import INDEX_HTML from "./dashboard/index.html" with { type: "text" };
import STYLE_CSS from "./dashboard/style.css" with { type: "text" };

/** One file the page loads. */
export interface DashboardAsset {
  /** Its name under `/dashboard/`. */
  readonly name: string;
  /** Its `content-type`. */
  readonly contentType: string;
  /** Its bytes. */
  readonly body: Uint8Array;
  /** First 16 hex digits of the SHA-256 of its bytes: its version and ETag. */
  readonly hash: string;
}

/** `cache-control` of an asset asked for by its current hash. */
export const IMMUTABLE = "private, max-age=31536000, immutable";

/** `cache-control` of the page and of assets asked for without their current hash. */
export const REVALIDATE = "no-cache";

/** An asset from its text. */
function asset(name: string, contentType: string, text: string): DashboardAsset {
  const body = new TextEncoder().encode(text);
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 16);
  return { name, contentType, body, hash };
}

let assets: Map<string, DashboardAsset> | undefined;
let page: DashboardAsset | undefined;

/**
 * The page's files by name (`app.js`, `style.css`, `icon.svg`,
 * `countries-110m.json`), made at the first call.
 *
 * @returns The assets.
 */
export function dashboardAssets(): ReadonlyMap<string, DashboardAsset> {
  if (assets === undefined) {
    assets = new Map(
      [
        asset("app.js", "text/javascript; charset=utf-8", APP_JS),
        asset("style.css", "text/css; charset=utf-8", STYLE_CSS),
        asset("icon.svg", "image/svg+xml", ICON_SVG),
        // world-atlas 2.0.2: Natural Earth 1:110m countries and land, as TopoJSON.
        asset("countries-110m.json", "application/json", JSON.stringify(WORLD)),
      ].map((a) => [a.name, a]),
    );
  }
  return assets;
}

/**
 * The page: index.html with every `dashboard/<name>` it names versioned by
 * the asset's hash (`dashboard/app.js?v=3f2a...`).
 *
 * @returns The page as an asset (name `index.html`).
 * @throws {Error} If index.html names a file that is not an asset (a bug caught by the tests).
 */
export function dashboardPage(): DashboardAsset {
  if (page === undefined) {
    const files = dashboardAssets();
    const html = INDEX_HTML.replace(/"dashboard\/([^"?]+)"/g, (_all, name: string) => {
      const a = files.get(name);
      if (a === undefined) {
        throw new Error(`index.html names dashboard/${name}, which is not served`);
      }
      return `"dashboard/${name}?v=${a.hash}"`;
    });
    page = asset("index.html", "text/html; charset=utf-8", html);
  }
  return page;
}

/**
 * The Content-Security-Policy of the page: scripts, styles, images only from
 * this member; requests to this member and to the herd's other members.
 *
 * @param origins The members' HTTP origins (`http://127.0.0.1:11591`).
 * @returns The header's value.
 */
export function dashboardPolicy(origins: Iterable<string>): string {
  const connect = ["'self'", ...new Set(origins)].join(" ");
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    `connect-src ${connect}`,
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Whether an `If-None-Match` header names this ETag. */
function matches(ifNoneMatch: string | null, etag: string): boolean {
  if (ifNoneMatch === null) return false;
  return ifNoneMatch.split(",").some((t) => {
    const tag = t.trim().replace(/^W\//, "");
    return tag === etag || tag === "*";
  });
}

/**
 * The response for an asset or the page: 200 with its bytes, or 304 when
 * the request's `If-None-Match` names its ETag.
 *
 * @param a The asset (or {@linkcode dashboardPage}).
 * @param request The request (its `If-None-Match` and `?v=`).
 * @param extra More headers (the page's Content-Security-Policy).
 * @returns The response.
 */
export function assetResponse(
  a: DashboardAsset,
  request: Request,
  extra: Record<string, string> = {},
): Response {
  const etag = `"${a.hash}"`;
  const versioned = a.name !== "index.html" &&
    new URL(request.url).searchParams.get("v") === a.hash;
  const headers: Record<string, string> = {
    "cache-control": versioned ? IMMUTABLE : REVALIDATE,
    etag,
    "x-content-type-options": "nosniff",
    ...extra,
  };
  if (matches(request.headers.get("if-none-match"), etag)) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(a.body.slice(), {
    status: 200,
    headers: { ...headers, "content-type": a.contentType },
  });
}

/**
 * Whether a request for `/` wants the API's JSON rather than the page: it
 * accepts `application/json` and not `text/html` (a browser asks for HTML,
 * `curl` for anything and gets the page).
 *
 * @param accept The `Accept` header.
 * @returns True for JSON.
 */
export function wantsJson(accept: string | null): boolean {
  if (accept === null) return false;
  const types = accept.toLowerCase().split(",").map((t) => t.split(";")[0].trim());
  return types.includes("application/json") && !types.includes("text/html");
}

/**
 * Whether a request's `Accept` names HTML (a browser loading a page).
 *
 * @param accept The `Accept` header.
 * @returns True if it lists `text/html`.
 */
export function acceptsHtml(accept: string | null): boolean {
  if (accept === null) return false;
  return accept.toLowerCase().split(",").some((t) => t.split(";")[0].trim() === "text/html");
}

/**
 * What a browser gets at `/` instead of the 401 problem document when the
 * member needs a token: a short page saying how to give it (no script, no style).
 *
 * @param headers The 401's headers (`www-authenticate`).
 * @returns The 401 response, `text/html`.
 */
export function tokenNeededResponse(headers: Record<string, string> = {}): Response {
  const html = [
    "<!doctype html>",
    '<html lang="en">',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    "<title>herd: token needed</title>",
    "<h1>This member needs a token</h1>",
    "<p>Open <code>/?token=&lt;token&gt;</code> on this member once (the herd's <code>[http] token</code>",
    "or <code>HERD_HTTP_TOKEN</code>): it sets a cookie holding the token and brings you back here.</p>",
    "",
  ].join("\n");
  return new Response(html, {
    status: 401,
    headers: {
      ...headers,
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
      "x-content-type-options": "nosniff",
    },
  });
}

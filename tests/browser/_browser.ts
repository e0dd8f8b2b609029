/**
 * Helpers for the browser tests: find the system's Chromium, check it starts,
 * launch it headless through puppeteer-core, collect a page's console errors
 * and read the dashboard's test contract (issue 12): `[data-member]`,
 * `[data-link]` and `[data-client]` elements with their `data-state`.
 *
 * puppeteer-core, not playwright-core: playwright-core reads
 * `/proc/sys/fs/binfmt_misc/WSLInterop` and the home folder while it loads,
 * which Deno allows only with `--allow-all`, so it cannot run under the test
 * task's permissions; puppeteer-core runs with them as they are.
 *
 * @module
 */

import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { fileURLToPath } from "node:url";

/**
 * Environment variable naming the Chromium (or Chrome) executable to use,
 * instead of the first `chromium` or `chromium-browser` on `PATH`.
 */
export const CHROMIUM_ENV = "HERD_CHROMIUM";

/** Longest the browser may take to start (the probe and each test), ms. */
export const LAUNCH_TIMEOUT_MS = 20_000;

/**
 * Chromium flags: headless comes from puppeteer (`headless: true`). No
 * sandbox, because the tests run as root in CI (Chromium refuses to start as
 * root with one) and containers often lack the namespaces it needs; the page
 * is the herd's own, on 127.0.0.1. The rest keep the browser off the network
 * and quiet: no GPU, QUIC, first-run, background, component or sync traffic.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Folder where the test run keeps its output (screenshots): `test-output/`, gitignored. */
export const OUTPUT_DIR = fileURLToPath(new URL("../../test-output/", import.meta.url));

/** The README's screenshot, written only when `HERD_SCREENSHOT_DOCS=1`. */
export const DOCS_SCREENSHOT = fileURLToPath(
  new URL("../../docs/img/dashboard.png", import.meta.url),
);

/** What {@linkcode probeBrowser} found: an executable that starts, or why there is none. */
export type BrowserProbe =
  | { readonly executable: string; readonly skip?: undefined }
  | { readonly executable?: undefined; readonly skip: string };

/**
 * The Chromium executable to use: `$HERD_CHROMIUM` if set, else the first
 * `chromium` or `chromium-browser` on `PATH` (as `command -v` finds it).
 *
 * @returns Its absolute path, or `undefined` if there is none.
 */
export function findChromium(): string | undefined {
  const named = Deno.env.get(CHROMIUM_ENV);
  if (named !== undefined && named !== "") return named;
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  for (const name of ["chromium", "chromium-browser"]) {
    for (const dir of dirs) {
      const path = `${dir}/${name}`;
      try {
        const info = Deno.statSync(path);
        if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return path;
      } catch {
        // not there
      }
    }
  }
  return undefined;
}

/**
 * Finds Chromium and checks that it starts and quits under puppeteer-core.
 * Never throws: whatever stops the browser tests is returned as the reason
 * to skip them.
 *
 * @returns The executable, or the reason the browser tests are skipped.
 */
export async function probeBrowser(): Promise<BrowserProbe> {
  if ((await Deno.permissions.query({ name: "run" })).state !== "granted") {
    return { skip: "no --allow-run: cannot start a browser" };
  }
  const executable = findChromium();
  if (executable === undefined) {
    return {
      skip: `no Chromium: none on PATH (chromium, chromium-browser) and ${CHROMIUM_ENV} unset; ` +
        "install it with apt-get install chromium",
    };
  }
  let launched: LaunchedBrowser | undefined;
  try {
    launched = await launchBrowser(executable);
    await launched.browser.version();
    return { executable };
  } catch (e) {
    const first = String((e as Error).message ?? e).split("\n")[0];
    return { skip: `Chromium at ${executable} cannot start: ${first}` };
  } finally {
    await launched?.close().catch(() => {});
  }
}

/** A running browser and the way to stop it. */
export interface LaunchedBrowser {
  /** The browser. */
  readonly browser: Browser;
  /** Closes the browser and removes its profile folder; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Launches Chromium headless with {@linkcode CHROMIUM_ARGS} and a fresh
 * profile folder, talking to it over a pipe (no debugging port opened).
 *
 * @param executable Path of the Chromium executable.
 * @returns The browser; call `close()` in a `finally`.
 * @throws {Error} If it does not start within {@linkcode LAUNCH_TIMEOUT_MS}.
 */
export async function launchBrowser(executable: string): Promise<LaunchedBrowser> {
  const profile = await Deno.makeTempDir({ prefix: "herd_browser_profile_" });
  let browser: Browser;
  try {
    browser = await puppeteer.launch({
      executablePath: executable,
      headless: true,
      pipe: true,
      userDataDir: profile,
      args: [...CHROMIUM_ARGS],
      timeout: LAUNCH_TIMEOUT_MS,
      // Chromium's own stderr noise stays out of the test output.
      dumpio: false,
    });
  } catch (e) {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
    throw e;
  }
  let closed: Promise<void> | undefined;
  return {
    browser,
    close() {
      closed ??= (async () => {
        try {
          await browser.close();
        } finally {
          await Deno.remove(profile, { recursive: true }).catch(() => {});
        }
      })();
      return closed;
    },
  };
}

/** What went wrong in a page: console `error` messages and uncaught exceptions. */
export interface PageProblems {
  /** Console messages of type `error`, with the URL they came from. */
  readonly consoleErrors: string[];
  /** Uncaught exceptions and unhandled rejections (`pageerror`). */
  readonly pageErrors: string[];
}

/**
 * Starts collecting `page`'s console errors and uncaught exceptions.
 *
 * @param page A page, before it loads anything.
 * @returns Lists that fill as the page runs.
 */
export function watchProblems(page: Page): PageProblems {
  const problems: PageProblems = { consoleErrors: [], pageErrors: [] };
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const where = msg.location().url;
    problems.consoleErrors.push(where ? `${msg.text()} (${where})` : msg.text());
  });
  page.on("pageerror", (err) => {
    problems.pageErrors.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
  });
  return problems;
}

/**
 * The dashboard as its test contract shows it: each name or id with the
 * `data-state` of every element that carries it (a member may appear in the
 * graph and in the table; all its elements are read).
 */
export interface DashboardView {
  /** `data-member` name to the `data-state` of each of its elements (`null`: no attribute). */
  members: Record<string, Array<string | null>>;
  /** `data-link` (`"<A> <B>"`) to the `data-state` of each of its elements. */
  links: Record<string, Array<string | null>>;
  /** Every `data-client` id on the page, each once, sorted. */
  clients: string[];
}

/** Reads `[attr]` elements: attribute value to the `data-state` of each. */
async function statesOf(page: Page, attr: string): Promise<Record<string, Array<string | null>>> {
  const pairs = await page.$$eval(
    `[${attr}]`,
    (els, a) => els.map((e) => [e.getAttribute(a) ?? "", e.getAttribute("data-state")] as const),
    attr,
  );
  const out: Record<string, Array<string | null>> = {};
  for (const [key, state] of pairs) (out[key] ??= []).push(state);
  return out;
}

/**
 * Reads the page's contract attributes once.
 *
 * @param page The dashboard.
 * @returns Members, links and clients as the page shows them now.
 */
export async function readView(page: Page): Promise<DashboardView> {
  const members = await statesOf(page, "data-member");
  const links = await statesOf(page, "data-link");
  const ids = await page.$$eval(
    "[data-client]",
    (els) => els.map((e) => e.getAttribute("data-client") ?? ""),
  );
  return { members, links, clients: [...new Set(ids)].sort() };
}

/** Whether every element of `key` in `states` exists and is in `state`. */
export function allIn(
  states: Record<string, Array<string | null>>,
  key: string,
  state: string,
): boolean {
  const list = states[key];
  return list !== undefined && list.length > 0 && list.every((s) => s === state);
}

/**
 * Polls the page's view until `done(view)` holds, every 50 ms, for at most
 * `timeoutMs` (a safety bound, not a timing assertion).
 *
 * @param page The dashboard.
 * @param done The condition.
 * @param timeoutMs Bound, ms.
 * @param what What is awaited, for the error.
 * @returns How long it took, ms, and the view that satisfied it.
 * @throws {Error} Past the bound, with the last view read.
 */
export async function waitForView(
  page: Page,
  done: (view: DashboardView) => boolean,
  timeoutMs: number,
  what: string,
): Promise<{ ms: number; view: DashboardView }> {
  const start = performance.now();
  let view = await readView(page);
  while (!done(view)) {
    if (performance.now() - start > timeoutMs) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for the dashboard to show ${what}; ` +
          `it shows ${JSON.stringify(view)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
    view = await readView(page);
  }
  return { ms: performance.now() - start, view };
}

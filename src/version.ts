/**
 * herd's version, for `herd --version`.
 *
 * @module
 */

/**
 * herd's version, semver (`MAJOR.MINOR.PATCH`). Bumped by hand at each
 * release, in the commit that makes it; 0.x because the command line and the
 * log events may still change.
 */
export const VERSION = "0.10.0";

/**
 * The line `herd --version` prints: herd's version and the Deno runtime's,
 * since a bug report needs both.
 *
 * @returns e.g. `herd 0.10.0 (deno 2.9.6)`, without a line feed.
 * @example
 * ```ts
 * import { VERSION, versionText } from "./version.ts";
 * if (versionText() !== `herd ${VERSION} (deno ${Deno.version.deno})`) throw new Error();
 * ```
 */
export function versionText(): string {
  return `herd ${VERSION} (deno ${Deno.version.deno})`;
}

/**
 * herd: a proxy herd of servers that flood client locations to each other
 * and answer "what is near this client" from a places service.
 *
 * `herd serve <name>`, `herd send <host:port> <message...>`, `herd simulate`;
 * `herd --help` for the rest. This file only dispatches to `src/cli/`.
 *
 * @module
 */

import { run } from "./src/cli/program.ts";

if (import.meta.main) {
  Deno.exit(await run(Deno.args));
}

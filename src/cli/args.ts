/**
 * Command-line values: user errors, durations, `host:port`.
 *
 * @module
 */

/** An error the user caused (bad flag, bad config, port in use): one line, no stack, exit 2. */
export class UserError extends Error {
  /** Always `UserError`, so the error is recognisable once printed or logged. */
  override name = "UserError";
  /** Process exit code. */
  readonly exitCode: number;

  /**
   * Creates a UserError.
   *
   * @param message One line naming the problem and the fix.
   * @param exitCode Process exit code to end with. @default 2
   */
  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

/**
 * Parses a duration: `5s`, `500ms`, `1.5s`, or a bare number of seconds.
 *
 * @param text The flag value.
 * @returns Milliseconds, > 0.
 * @throws {UserError} If it does not parse or is not positive.
 */
export function parseDurationMs(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$/.exec(text.trim());
  if (m === null || Number(m[1]) <= 0) {
    throw new UserError(`invalid duration "${text}": use e.g. 5s, 500ms or 1m`);
  }
  const unit = m[2] ?? "s";
  return Number(m[1]) * (unit === "ms" ? 1 : unit === "s" ? 1000 : 60_000);
}

/**
 * Parses `host:port` (`[::1]:11490` for IPv6; a bare port means 127.0.0.1).
 *
 * @param text The argument.
 * @returns Hostname and port.
 * @throws {UserError} If the port is missing or outside 1..65535.
 */
export function parseHostPort(text: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]*)):([0-9]+)$/.exec(text) ?? /^()()([0-9]+)$/.exec(text);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UserError(`invalid address "${text}": use host:port, e.g. localhost:11490`);
  }
  return { hostname: m[1] || m[2] || "127.0.0.1", port };
}

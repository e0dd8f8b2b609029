/**
 * The one error the client module throws for a failed exchange with a server.
 *
 * @module
 */

/**
 * What went wrong, for callers that react differently (a CLI prints them all
 * alike):
 * - `connect`: no connection could be made (refused, unreachable, timed out);
 * - `timeout`: connected, but the reply was not complete in time;
 * - `connection`: the connection failed or closed before every reply came;
 * - `too-large`: the reply grew past the caller's byte cap;
 * - `reply`: the server answered, but not with what was asked for;
 * - `aborted`: the caller's `AbortSignal` ended the exchange.
 */
export type ClientFailure =
  | "connect"
  | "timeout"
  | "connection"
  | "too-large"
  | "reply"
  | "aborted";

/**
 * A request to a server failed. The message is one line naming the server,
 * e.g. `cannot connect to 127.0.0.1:11490: Connection refused`, fit to print
 * as it is.
 */
export class ClientError extends Error {
  /** Always `ClientError`, so the error is recognisable once printed or logged. */
  override name = "ClientError";
  /** What went wrong; see {@linkcode ClientFailure}. */
  readonly failure: ClientFailure;

  /**
   * Creates a ClientError.
   *
   * @param message One line naming the server and the problem.
   * @param failure What went wrong.
   * @param options Standard error options; `cause` keeps the underlying error.
   */
  constructor(message: string, failure: ClientFailure, options?: ErrorOptions) {
    super(message, options);
    this.failure = failure;
  }
}

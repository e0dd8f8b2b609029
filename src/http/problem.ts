/**
 * Errors of the HTTP API as RFC 9457 problem details
 * (`application/problem+json`): `type`, `title`, `status`, `detail`.
 *
 * @module
 */

/** The media type of a problem document (RFC 9457 section 3). */
export const PROBLEM_JSON = "application/problem+json";

/**
 * Prefix of herd's problem type URIs (`urn:herd:problem:invalid-request`): stable names, listed
 * in docs/HTTP.md, not addresses to fetch.
 */
const TYPE_BASE = "urn:herd:problem:";

/** The problems the API answers with, by HTTP status. */
export const PROBLEMS: Readonly<Record<number, { slug: string; title: string }>> = {
  400: { slug: "invalid-request", title: "Invalid request" },
  401: { slug: "unauthorized", title: "Missing or wrong token" },
  404: { slug: "not-found", title: "Not found" },
  405: { slug: "method-not-allowed", title: "Method not allowed" },
  413: { slug: "body-too-large", title: "Request body too large" },
  415: { slug: "unsupported-media-type", title: "Body must be JSON" },
  500: { slug: "internal-error", title: "Internal error" },
  503: { slug: "unavailable", title: "Not ready" },
};

/** An RFC 9457 problem document. */
export interface Problem {
  /** URI naming the problem type. */
  type: string;
  /** Short summary of the type. */
  title: string;
  /** HTTP status code. */
  status: number;
  /** This occurrence, naming the field at fault where there is one. */
  detail: string;
}

/**
 * A problem document for `status`.
 *
 * @param status One of {@linkcode PROBLEMS}' statuses (others get the 500 type).
 * @param detail What was wrong, naming the field.
 * @returns The document.
 */
export function problem(status: number, detail: string): Problem {
  const kind = PROBLEMS[status] ?? PROBLEMS[500];
  return { type: TYPE_BASE + kind.slug, title: kind.title, status, detail };
}

/**
 * A `Response` carrying a problem document.
 *
 * @param status HTTP status.
 * @param detail What was wrong, naming the field.
 * @param headers Extra headers (e.g. `Allow` on a 405, `WWW-Authenticate` on a 401).
 * @returns The response.
 */
export function problemResponse(
  status: number,
  detail: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(problem(status, detail)), {
    status,
    headers: { "content-type": PROBLEM_JSON, ...headers },
  });
}

/** An error a handler throws to answer with a problem document. */
export class HttpProblem extends Error {
  /** Always `HttpProblem`. */
  override name = "HttpProblem";
  /** HTTP status. */
  readonly status: number;
  /** Extra response headers. */
  readonly headers: Record<string, string>;

  /**
   * Creates the error.
   *
   * @param status HTTP status.
   * @param detail What was wrong, naming the field (the problem's `detail`).
   * @param headers Extra response headers.
   */
  constructor(status: number, detail: string, headers: Record<string, string> = {}) {
    super(detail);
    this.status = status;
    this.headers = headers;
  }
}

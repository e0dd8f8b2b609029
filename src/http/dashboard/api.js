// The dashboard's requests to the members' HTTP APIs (docs/HTTP.md). Every request carries
// credentials, so the token cookie that `GET /?token=` set reaches this member and the others
// (the cookie is per host, not per port; CORS allows the herd's own origins with credentials),
// and every request has a deadline, so a member that hangs never holds up the page.

/** How long one request may take, ms: a member slower than this counts as not answering. */
export const REQUEST_TIMEOUT_MS = 2500;

/** Most clients the page loads and shows: the map and the table stay responsive. */
export const MAX_CLIENTS = 5000;

/** A failed request: its HTTP status (0 when there was no answer). */
export class RequestError extends Error {
  /**
   * @param {string} url
   * @param {number} status
   */
  constructor(url, status) {
    super(status === 0 ? `no answer from ${url}` : `${url} answered ${status}`);
    this.name = "RequestError";
    this.status = status;
  }
}

/**
 * GETs JSON from a member.
 *
 * @param {string} base The member's base URL (`""` for the member that served the page).
 * @param {string} path The path and query, starting with `/`... or `v1/...` for this member.
 * @returns {Promise<any>}
 */
export async function getJson(base, path) {
  const url = base === "" ? path.replace(/^\//, "") : base + path;
  let res;
  try {
    res = await fetch(url, {
      credentials: "include",
      cache: "no-store",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      headers: { accept: "application/json" },
    });
  } catch {
    throw new RequestError(url, 0);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new RequestError(url, res.status);
  }
  return await res.json();
}

/**
 * A member's `GET /v1/herd`.
 *
 * @param {string} base
 * @returns {Promise<import("./model.ts").HerdReport>}
 */
export function herdOf(base) {
  return getJson(base, "/v1/herd");
}

/**
 * Every client the member holds (paged by cursor), at most {@link MAX_CLIENTS}.
 *
 * @param {string} base
 * @returns {Promise<{records: import("./model.ts").RecordView[], truncated: boolean}>}
 */
export async function allClients(base) {
  const records = [];
  let cursor = null;
  for (;;) {
    const limit = Math.min(1000, MAX_CLIENTS - records.length);
    const query = `limit=${limit}` +
      (cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`);
    const page = await getJson(base, `/v1/clients?${query}`);
    records.push(...page.clients);
    cursor = page.next;
    if (cursor === null) return { records, truncated: false };
    if (records.length >= MAX_CLIENTS) return { records, truncated: true };
  }
}

/**
 * One client's record at a member, with its `stored_at`; `null` when the member has none (404).
 *
 * @param {string} base
 * @param {string} id
 * @returns {Promise<import("./model.ts").RecordView | null>}
 */
export async function clientAt(base, id) {
  try {
    return await getJson(base, `/v1/clients/${encodeURIComponent(id)}`);
  } catch (e) {
    if (e instanceof RequestError && e.status === 404) return null;
    throw e;
  }
}

/**
 * What WHATSAT answers for a client: `{record, places}`.
 *
 * @param {string} base
 * @param {string} id
 * @param {string} radiusKm
 * @param {string} bound
 * @returns {Promise<{record: import("./model.ts").RecordView, places: any}>}
 */
export function nearbyOf(base, id, radiusKm, bound) {
  const q = `radius_km=${encodeURIComponent(radiusKm)}&bound=${encodeURIComponent(bound)}`;
  return getJson(base, `/v1/clients/${encodeURIComponent(id)}/nearby?${q}`);
}

/**
 * The URL of a member's `/v1/stream`.
 *
 * @param {string} base
 * @returns {string}
 */
export function streamUrl(base) {
  return base === "" ? "v1/stream" : `${base}/v1/stream`;
}

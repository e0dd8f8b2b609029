/**
 * Members with their HTTP faces, in this process, on 127.0.0.1 port 0 (TCP and
 * HTTP), wired as `startMember()` (src/cli/serve.ts) wires them but logging to
 * a {@linkcode MemoryLog} per member, so tests can read every event. Plus small
 * readers for problem documents, Server-Sent Events and WebSocket messages.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type HerdConfig, type HerdSettings, testConfig } from "../../src/config.ts";
import { type AddressBook, Member, type PeerAddress } from "../../src/herd/mod.ts";
import type { HttpFace } from "../../src/http/server.ts";
import type { RecordJson } from "../../src/http/records.ts";
import { type RunningMember, startMember } from "../../src/cli/serve.ts";
import { type EventLog, MemoryLog } from "../../src/log.ts";
import type { PlacesProvider } from "../../src/places/types.ts";
import { noPlaces } from "../_no_places.ts";
import { waitFor } from "../_harness.ts";

/** One running member of an {@linkcode HttpHerd}. */
export interface HttpMemberHandle {
  /** The member. */
  readonly member: Member;
  /** Its HTTP face. */
  readonly face: HttpFace;
  /** The member and face as `startMember()` runs them (stop() stops both). */
  readonly running: RunningMember;
  /** Every event it logged (member and face). */
  readonly log: MemoryLog;
  /** Base URL of its HTTP API, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Its TCP address. */
  readonly tcp: PeerAddress;
}

/** Options of {@linkcode startHttpHerd}. */
export interface HttpHerdOptions {
  /** Places for WHATSAT and `/nearby`. @default {@linkcode noPlaces} */
  places?: PlacesProvider;
  /** `[http] token`. @default none */
  token?: string;
  /** Wait until every link between started members is up. @default true when more than one */
  linked?: boolean;
  /**
   * A log each member's events also go to (besides the handle's {@linkcode MemoryLog}), e.g.
   * `memberLog(name)` for real log files. @default none
   */
  logOf?: (name: string) => EventLog;
  /** `[herd]` settings over testConfig()'s. @default none */
  settings?: Partial<HerdSettings>;
}

/** A running herd with HTTP faces. */
export interface HttpHerd {
  /** The config every member runs with. */
  readonly config: HerdConfig;
  /** Members by name, in the order started. */
  readonly members: Map<string, HttpMemberHandle>;
  /** The member called `name`. */
  get(name: string): HttpMemberHandle;
  /** Base URL of `name`'s HTTP API. */
  url(name: string): string;
  /** Stops every face, then every member. */
  stop(): Promise<void>;
}

/**
 * Starts members of the test herd (testConfig(): the default five and their
 * links) with an HTTP face each, every port 0, through `startMember()`; `/v1/herd` shows the real URLs
 * (the faces share one origins map).
 *
 * @param names Which members, or how many of the default five (the first `n`). A single
 *   member runs in a herd of its own (no links).
 * @param opts See {@linkcode HttpHerdOptions}.
 * @returns The herd; call `stop()` in a `finally`.
 */
export async function startHttpHerd(
  names: number | string[] = 1,
  opts: HttpHerdOptions = {},
): Promise<HttpHerd> {
  const base = testConfig();
  const chosen = typeof names === "number"
    ? base.servers.slice(0, names).map((s) => s.name)
    : names;
  const config: HerdConfig = {
    ...base,
    // Any http_port: the faces listen on port 0 and publish their real URL.
    servers: base.servers.filter((s) => chosen.length > 1 || s.name === chosen[0])
      .map((s) => ({ ...s, httpPort: 1 })),
    links: chosen.length > 1 ? base.links : [],
    settings: { ...base.settings, ...opts.settings },
    http: { corsOrigins: [], ...(opts.token === undefined ? {} : { token: opts.token }) },
  };
  const places = opts.places ?? noPlaces();
  const addresses: AddressBook = new Map();
  const origins = new Map<string, string>();
  const members = new Map<string, HttpMemberHandle>();
  const stop = async () => {
    await Promise.all([...members.values()].map((m) => m.running.stop(0)));
  };
  try {
    for (const name of chosen) {
      // The wiring of `serve` and `simulate` itself, logging to memory.
      const memory = new MemoryLog();
      const also = opts.logOf?.(name);
      const log: EventLog = also === undefined ? memory : {
        emit(level, event, fields) {
          memory.emit(level, event, fields);
          also.emit(level, event, fields);
        },
      };
      const running = await startMember(config, name, places, {
        addresses,
        portZero: true,
        httpOrigins: origins,
        log,
      });
      const member = running.member;
      const face = running.face!;
      const url = `http://127.0.0.1:${face.address.port}`;
      members.set(name, { member, face, running, log: memory, url, tcp: member.address });
    }
    if (opts.linked ?? chosen.length > 1) {
      await waitFor(
        () => {
          for (const { member } of members.values()) {
            for (const [peer, link] of member.links) {
              if (members.has(peer) && link.state !== "welcomed") return false;
            }
          }
          return true;
        },
        5000,
        "every link up",
      );
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const get = (name: string) => {
    const m = members.get(name);
    if (m === undefined) throw new Error(`no member ${name}`);
    return m;
  };
  return { config, members, get, url: (name) => get(name).url, stop };
}

/** A problem document's fields, as RFC 9457 requires herd's to have them. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
}

/**
 * Reads a response that must be a problem document with `status`, and
 * returns it. Checks the media type and the four fields (status equal to
 * the response's); the body is always consumed.
 */
export async function expectProblem(res: Response, status: number): Promise<ProblemBody> {
  const text = await res.text();
  assert.equal(res.status, status, `status of ${text}`);
  assert.equal(res.headers.get("content-type"), "application/problem+json", text);
  const body = JSON.parse(text) as ProblemBody;
  assert.equal(typeof body.type, "string", text);
  assert.match(body.type, /^urn:herd:problem:[a-z-]+$/, text);
  assert.equal(typeof body.title, "string", text);
  assert.ok(body.title.length > 0, text);
  assert.equal(body.status, status, text);
  assert.equal(typeof body.detail, "string", text);
  assert.doesNotMatch(text, /\bat \S+ \(|file:\/\//, "no stack trace or file path");
  return body;
}

/** `fetch` that reads the body as JSON and checks the status (the body is always consumed). */
export async function getJson<T = Record<string, unknown>>(
  url: string,
  init: RequestInit = {},
  status = 200,
): Promise<T> {
  const res = await fetch(url, init);
  const text = await res.text();
  assert.equal(res.status, status, `${init.method ?? "GET"} ${url}: ${text}`);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/, text);
  return JSON.parse(text) as T;
}

/** PUT a JSON body (a string is sent as is) to `url`. */
export function put(url: string, body: unknown, headers: HeadersInit = {}): Promise<Response> {
  return fetch(url, {
    method: "PUT",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** A record as the API returns it: the record JSON, and what some routes add. */
export interface RecordBody extends RecordJson {
  stored?: boolean;
  distance_m?: number;
}

/**
 * The six fields a record has in the API table (issue 11), picked from an answer or an event's
 * record, for comparisons that do not depend on fields a member may add.
 */
export function recordOf(r: RecordBody | undefined): RecordBody {
  assert.ok(r !== undefined, "a record");
  const { server, skew, client, location, time, at } = r;
  return { server, skew, client, location, time, at };
}

/** A stream event with its record cut to {@linkcode recordOf}'s fields. */
export function eventOf(e: StreamEventBody): StreamEventBody {
  return e.record === undefined ? e : { type: e.type, record: recordOf(e.record) };
}

/** Reads Server-Sent Events from a response body: `data` of each event, `event` name if any. */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buf = "";

  /** Starts reading `res`'s body (which must be `text/event-stream`). */
  constructor(res: Response) {
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    this.#reader = res.body!.getReader();
  }

  /**
   * The next event (comment-only blocks skipped), or `null` at the end of the stream.
   *
   * @throws {Error} If none arrives within `timeoutMs`.
   */
  async next(timeoutMs = 5000): Promise<{ event?: string; data: string } | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.#buf.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#buf.slice(0, end);
        this.#buf = this.#buf.slice(end + 2);
        const data: string[] = [];
        let event: string | undefined;
        for (const line of block.split("\n")) {
          if (line.startsWith("data: ")) data.push(line.slice(6));
          else if (line.startsWith("event: ")) event = line.slice(7);
        }
        if (data.length > 0) return { event, data: data.join("\n") };
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event within ${timeoutMs} ms; have ${this.#buf}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), left));
      const read = await Promise.race([this.#reader.read(), timeout]);
      clearTimeout(timer);
      if (read === "timeout") continue;
      if (read.done) return null;
      this.#buf += this.#decoder.decode(read.value, { stream: true });
    }
  }

  /** The next event's data as JSON. */
  async json<T = StreamEventBody>(timeoutMs = 5000): Promise<T> {
    const e = await this.next(timeoutMs);
    assert.ok(e !== null, "stream ended");
    return JSON.parse(e.data) as T;
  }

  /** Stops reading and closes the stream. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/** A stream event as the API sends it. */
export interface StreamEventBody {
  type: string;
  record?: RecordBody;
  dropped?: number;
  /** `erased` events: the client, the member that erased it and the tombstone's time. */
  client?: string;
  server?: string;
  time?: string;
}

/** A WebSocket client that queues the messages it receives. */
export class WsReader {
  readonly socket: WebSocket;
  readonly #messages: string[] = [];
  readonly #waiters: Array<() => void> = [];
  /** Resolves when the socket has closed, with its code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
  #open: Promise<void>;

  private constructor(url: string, headers?: HeadersInit) {
    this.socket = new WebSocket(url, headers === undefined ? undefined : { headers });
    this.#open = new Promise((resolve, reject) => {
      this.socket.onopen = () => resolve();
      this.socket.onerror = (e) =>
        reject(new Error(`websocket error: ${(e as ErrorEvent).message}`));
    });
    this.closed = new Promise((resolve) => {
      this.socket.onclose = (e) => {
        resolve({ code: e.code, reason: e.reason });
        for (const w of this.#waiters.splice(0)) w();
      };
    });
    this.socket.onmessage = (e) => {
      this.#messages.push(String(e.data));
      for (const w of this.#waiters.splice(0)) w();
    };
  }

  /** Opens a WebSocket to `url` (`http:` becomes `ws:`) and waits until it is open. */
  static async open(url: string, headers?: HeadersInit): Promise<WsReader> {
    const ws = new WsReader(url.replace(/^http/, "ws"), headers);
    try {
      await ws.#open;
    } catch (e) {
      await ws.close();
      throw e;
    }
    return ws;
  }

  /** Messages received and not yet taken. */
  get pending(): number {
    return this.#messages.length;
  }

  /** The next message as JSON. @throws {Error} If none within `timeoutMs`. */
  async json<T = StreamEventBody>(timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (this.#messages.length === 0) {
      if (this.socket.readyState >= WebSocket.CLOSING) throw new Error("websocket closed");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
    }
    return JSON.parse(this.#messages.shift()!) as T;
  }

  /** Closes the socket and waits for the close. */
  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CONNECTING) {
      await this.#open.catch(() => {});
    }
    if (this.socket.readyState < WebSocket.CLOSING) this.socket.close();
    await this.closed;
  }
}

/**
 * Waits until member `m`'s stream hub has at least `n` subscribers: a stream
 * subscribes when its request is served, so from then on it sees every update.
 */
export async function waitForSubscribers(m: HttpMemberHandle, n: number): Promise<void> {
  await waitFor(() => m.face.hub.subscribers >= n, 5000, `${n} stream subscribers`);
}

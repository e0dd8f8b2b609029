/**
 * `/v1/stream` transports: a subscription of the {@linkcode StreamHub}
 * written to a WebSocket (one JSON event per text message) or as
 * Server-Sent Events (one JSON event per `data:` line). The hub buffers for
 * a slow reader; these loops only take an event when the transport can send
 * it, so a slow reader fills its own buffer and never the member's memory.
 *
 * @module
 */

import { HttpProblem } from "./problem.ts";
import type { RecordJson } from "./records.ts";
import type { StreamEvent, StreamFilter, StreamHub, Subscription } from "./stream_hub.ts";

/** A stream request: the raw request (for the upgrade) and its filter. */
export interface StreamRequest {
  /** The request as `Deno.serve` gave it. */
  raw: Request;
  /** What to watch; every update when absent. */
  filter?: StreamFilter;
}

/** A WebSocket's unsent bytes above which the writer waits before taking more events. */
const WS_HIGH_WATER_BYTES = 256 * 1024;

/** How often a waiting WebSocket writer looks at `bufferedAmount` again, ms. */
const WS_POLL_MS = 20;

/** Close code for a subscriber closed by the server (RFC 6455 1008: policy violation). */
const WS_CLOSE_POLICY = 1008;

/** Close code when the member stops (RFC 6455 1001: going away). */
const WS_CLOSE_GOING_AWAY = 1001;

/** Seconds between SSE comment lines that keep idle proxies from closing the stream. */
const SSE_KEEPALIVE_MS = 15_000;

const encoder = new TextEncoder();

/**
 * Answers a stream request: a WebSocket upgrade when it asks for one, else
 * Server-Sent Events.
 *
 * @param hub Where events come from.
 * @param request The request and its filter.
 * @returns The response (101 for a WebSocket).
 * @throws {HttpProblem} 400 if it asks for a WebSocket without a valid handshake.
 */
export function serveStream(hub: StreamHub<RecordJson>, request: StreamRequest): Response {
  // Not the request's signal: Deno.serve aborts it once the response is sent (its legacy
  // behaviour), which for a WebSocket is the 101, so every stream would close at once. A
  // client that goes away ends the subscription through the socket's close or the body's cancel.
  if (request.raw.headers.get("upgrade")?.toLowerCase() === "websocket") {
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(request.raw);
    } catch (e) {
      // Not a valid handshake (no Sec-WebSocket-Key, wrong version): the client's error.
      throw new HttpProblem(
        400,
        `upgrade: not a valid WebSocket handshake: ${(e as Error).message}`,
      );
    }
    const { socket, response } = upgraded;
    const sub = hub.subscribe(request.filter ?? {});
    socket.onopen = () => void pumpWebSocket(sub, socket);
    socket.onclose = () => sub.close();
    socket.onerror = () => sub.close();
    return response;
  }
  return sseResponse(hub.subscribe(request.filter ?? {}));
}

/** Each event's JSON text: the hub shares one event object among its subscribers, so one stringify. */
const texts = new WeakMap<object, string>();

/** The text of one event (made once per event, whatever the number of subscribers). */
function eventText(event: StreamEvent<RecordJson>): string {
  let text = texts.get(event);
  if (text === undefined) texts.set(event, text = JSON.stringify(event));
  return text;
}

/** Writes events to `socket` until the subscription or the socket closes. */
async function pumpWebSocket(sub: Subscription<RecordJson>, socket: WebSocket): Promise<void> {
  for (let e = await sub.next(); e !== null; e = await sub.next()) {
    if (socket.readyState !== WebSocket.OPEN) break;
    socket.send(eventText(e));
    while (socket.readyState === WebSocket.OPEN && socket.bufferedAmount > WS_HIGH_WATER_BYTES) {
      await new Promise((r) => setTimeout(r, WS_POLL_MS));
    }
  }
  const reason = sub.closeReason ?? "closed";
  if (socket.readyState === WebSocket.OPEN) {
    const code = reason === "server stopping" ? WS_CLOSE_GOING_AWAY : WS_CLOSE_POLICY;
    // A close reason is at most 123 bytes (RFC 6455 5.5).
    socket.close(code, reason.slice(0, 120));
  }
}

/** A Server-Sent Events response over `sub`; a final `close` event carries the reason. */
function sseResponse(sub: Subscription<RecordJson>): Response {
  let keepalive: ReturnType<typeof setInterval> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(": herd stream\n\n"));
      keepalive = setInterval(() => {
        try {
          controller.enqueue(encoder.encode(": keepalive\n\n"));
        } catch {
          clearInterval(keepalive);
        }
      }, SSE_KEEPALIVE_MS);
    },
    // Called when the reader wants more: a slow reader is not asked for events it cannot take.
    async pull(controller) {
      const e = await sub.next();
      if (e === null) {
        clearInterval(keepalive);
        const reason = JSON.stringify({ type: "closed", reason: sub.closeReason ?? "closed" });
        controller.enqueue(encoder.encode(`event: close\ndata: ${reason}\n\n`));
        controller.close();
        return;
      }
      let text = `data: ${eventText(e)}\n\n`;
      // What is already buffered goes in the same chunk.
      for (let more = sub.poll(); more !== undefined; more = sub.poll()) {
        text += `data: ${eventText(more)}\n\n`;
      }
      controller.enqueue(encoder.encode(text));
    },
    cancel() {
      clearInterval(keepalive);
      sub.close();
    },
  }, { highWaterMark: 0 });
  return new Response(body, {
    status: 200,
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    },
  });
}

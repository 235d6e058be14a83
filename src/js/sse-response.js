// sse-response.js — a stream of steps as a Server-Sent Events Response, for
// workers and any fetch-style server (README, "Node, browsers, workers"). No Node built-in here.
//
//   export default { fetch: (request, env, ctx) =>
//     toSSEResponse(agent.stream(query), { signal: request.signal, waitUntil: (p) => ctx.waitUntil(p) }) };
//
// Each step is one event named after step.type, `data:` the step as JSON; an
// error ends the body with `event: error`, `data: {"code","message"}`. When the
// body is cancelled (the client went away) or `signal` aborts, the stream is
// ended at once — an mcpstream stream is interrupted as its own signal would
// do, so a pending tool call does not hold it — and `stream.return()` is
// called, exactly once, whatever ended it. While the consumer waits for a step
// a comment line (`:`) is written about once a second: workerd notices a
// client that hung up only when a write fails, so a silent tool call must not
// keep the run going until its next step.

const encoder = new TextEncoder();

/** AgentStream's interrupt hook (src/js/agent.js): ends the stream as its signal would. */
const INTERRUPT = Symbol.for("mcpstream.interrupt");

/** The SSE event for one step. */
function stepEvent(step) {
  const name = String(step?.type ?? "message").replace(/[^\w.-]/g, "_") || "message";
  return encoder.encode(`event: ${name}\ndata: ${JSON.stringify(step)}\n\n`);
}

function errorEvent(e) {
  const code = typeof e?.code === "string" && e.code ? e.code : "INTERNAL";
  const message = typeof e?.message === "string" ? e.message : String(e);
  return encoder.encode(`event: error\ndata: ${JSON.stringify({ code, message })}\n\n`);
}

const HEARTBEAT = encoder.encode(":\n\n");

/**
 * @param {AsyncIterator<any>} stream an AgentStream (or any async iterator of steps)
 * @param {{ signal?: AbortSignal, waitUntil?: (p: Promise<void>) => void,
 *           headers?: HeadersInit, heartbeatMs?: number }} [options]
 *   signal      ends the stream (and the body) when it aborts, e.g. request.signal
 *   waitUntil   given a promise that settles when the stream's cleanup is done
 *               (workers: ctx.waitUntil, so a run whose client left can still close its sessions)
 *   headers     more response headers (CORS, ...); content-type stays text/event-stream
 *   heartbeatMs the comment heartbeat's period (default 1000)
 * @returns {Response}
 */
export function toSSEResponse(stream, options = {}) {
  if (!stream || typeof stream.next !== "function")
    throw Object.assign(new TypeError("toSSEResponse(stream): stream must be an async iterator, e.g. agent.stream(query)"), { code: "INVALID_ARGUMENT" });
  const { signal, waitUntil, headers, heartbeatMs = 1000 } = options ?? {};
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw Object.assign(new TypeError("toSSEResponse: signal must be an AbortSignal"), { code: "INVALID_ARGUMENT" });

  /** @type {ReadableStreamDefaultController<Uint8Array> | null} */
  let body = null; // null once the body is closed or cancelled
  let heartbeat = null;
  let endedResolve;
  const ended = new Promise((r) => { endedResolve = r; });
  let returning = null;

  const write = (bytes) => {
    if (!body) return;
    try { body.enqueue(bytes); } catch { body = null; }
  };
  const closeBody = () => {
    stopHeartbeat();
    const b = body;
    body = null;
    try { b?.close(); } catch { /* already closed */ }
  };
  const stopHeartbeat = () => { clearInterval(heartbeat); heartbeat = null; };

  /** Calls stream.return() once; settles `ended` when it has. Never rejects. */
  const finish = () => {
    returning ??= (async () => {
      try { await stream.return?.(); } catch { /* cleanup problems are lifecycle events, not ours */ }
      offAbort();
      endedResolve();
    })();
    return returning;
  };

  /** The consumer is gone or the signal aborted: stop the run now, then return(). */
  const interrupt = () => {
    try { /** @type {any} */ (stream)[INTERRUPT]?.(); } catch { /* it ends anyway through return() */ }
    return finish();
  };

  const onAbortSignal = () => {
    write(errorEvent({ code: "ABORTED", message: "the stream was aborted by its signal" }));
    closeBody();
    interrupt();
  };
  const offAbort = () => signal?.removeEventListener("abort", onAbortSignal);

  const readable = new ReadableStream({
    start(controller) {
      body = controller;
      if (signal?.aborted) onAbortSignal();
      else signal?.addEventListener("abort", onAbortSignal, { once: true });
    },
    async pull() {
      if (!body) return;
      heartbeat ??= setInterval(() => write(HEARTBEAT), heartbeatMs);
      let result;
      try {
        result = await stream.next();
      } catch (e) {
        write(errorEvent(e));
        closeBody();
        finish();
        return;
      }
      stopHeartbeat();
      if (result.done) {
        closeBody();
        finish();
        return;
      }
      write(stepEvent(result.value));
    },
    cancel() {
      body = null;
      stopHeartbeat();
      return interrupt();
    },
  }, { highWaterMark: 0 });

  waitUntil?.(ended);
  const h = new Headers(headers);
  h.set("content-type", "text/event-stream");
  if (!h.has("cache-control")) h.set("cache-control", "no-cache");
  return new Response(readable, { status: 200, headers: h });
}

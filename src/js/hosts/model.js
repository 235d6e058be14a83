// Host adapter for model calls. The core builds the Chat Completions request body and
// parses the response (SSE deltas or one JSON message); this file only moves bytes.
//
//   const req = startModelRequest(llm, bodyText, { onChunk(bytes) {}, onEnd(status, bytes) {} });
//   req.abort();
//
// Hook contract:
//   - no hook is called before startModelRequest returns (hooks never re-enter the caller);
//   - onChunk(bytes) only for a 2xx text/event-stream response, once per body chunk as it arrives;
//   - exactly one onEnd per request, unless abort() came first:
//       streamed 2xx                 onEnd(status, null, detail)   after the last onChunk
//       any other response           onEnd(status, whole body bytes, detail)  (JSON answer, HTTP error)
//       network or stream failure,
//       function-form failure,
//       a body over the limit        onEnd(0, UTF-8 message saying what failed and why, detail)
//                                    with detail.error the typed error (MCPStreamError: code,
//                                    message naming the endpoint, `endpoint`, `cause`)
//       function form                onEnd(200, UTF-8 JSON of the assistant message, detail)
//     detail is { endpoint } plus `error` as above, and for an HTTP error with a Retry-After
//     header `retryAfter` (its value, as sent);
//   - after abort(), no hook is called again; abort() is idempotent and never throws;
//   - no promise of this file ever rejects unhandled.
// If a hook throws, the request is stopped; a throwing onChunk is followed by
// onEnd(0, message), and the error is passed to hooks.onError(err) when given.
//
// Timeouts (HTTP endpoints): llm.firstByteTimeoutMs (default 60 s) bounds the wait from the
// request to the first byte of the response body, across redirects (an endpoint that never
// answers, or sends its headers and goes silent); llm.idleTimeoutMs (default 60 s) bounds every
// silence after it. Either ends the request with TIMEOUT. Their timers never keep a process
// alive by themselves (unref'd), as a stream suspended at a yield must not.
//
// Bounds: a body that is not streamed (a JSON answer, an error page) is read up to
// llm.maxResponseBytes (the runtime passes its limits.messageBytes; 16 MiB without either); past that the request is
// stopped while it is read and ends with LIMIT_EXCEEDED. Error bodies are read up to 64 KiB
// (enough for the message; the rest is dropped).

import { MCPStreamError } from "../errors.js";
import { redirectRequest } from "./redirect.js";

/** The largest JSON answer read whole (the core's default message limit). */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_FIRST_BYTE_TIMEOUT_MS = 60_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const MAX_ERROR_BODY_BYTES = 64 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const utf8 = (text) => encoder.encode(text);
const noop = () => {};

/**
 * Starts one model request.
 * llm   { baseURL, apiKey?, headers?, fetch?, model? } (model is used by the core, not here)
 *       or an async function (request, { signal }) => assistantMessage (a string is taken
 *       as { role: "assistant", content: string }).
 * body  the request JSON text (a string; a Uint8Array is accepted too). Not kept after the call.
 * hooks { onChunk(bytes: Uint8Array), onEnd(status: number, bytes: Uint8Array | null), onError? }
 * Returns { abort() }.
 */
export function startModelRequest(llm, body, hooks) {
  if (typeof hooks?.onChunk !== "function" || typeof hooks?.onEnd !== "function") {
    throw new TypeError("startModelRequest: hooks.onChunk and hooks.onEnd must be functions");
  }
  const controller = new AbortController();
  let settled = false; // onEnd called, or aborted: no hook from now on
  let reader = null;
  const endpoint = typeof llm === "function" ? "the llm function" : endpointOf(llm?.baseURL);

  const reportHookError = (err) => {
    try {
      hooks.onError?.(err);
    } catch {
      /* nothing left to report to */
    }
  };

  let timer = null;
  const end = (status, bytes, error, extra) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    try {
      hooks.onEnd(status, bytes, { endpoint, ...extra, ...(error && { error }) });
    } catch (err) {
      reportHookError(err);
    }
  };
  /** Ends the request with a typed error of the host's own (a limit, a timeout, a network failure). */
  const fail = (code, message, cause) => {
    if (settled) return;
    const error = new MCPStreamError(code, message, cause === undefined ? undefined : { cause });
    error.endpoint = endpoint;
    end(0, utf8(message), error);
  };

  // Returns false when the request must stop (aborted, ended, or the hook threw).
  const chunk = (bytes) => {
    if (settled) return false;
    try {
      hooks.onChunk(bytes);
    } catch (err) {
      if (settled) return false; // the hook aborted, then threw
      reader?.cancel().catch(noop);
      controller.abort();
      end(0, utf8(`the model response could not be consumed: onChunk threw: ${messageOf(err)}`));
      reportHookError(err);
      return false;
    }
    return !settled;
  };

  // The request's clock: started with the request, reset by every byte of the body.
  const timeout = (name, fallback) => (typeof llm?.[name] === "number" && llm[name] > 0 ? llm[name] : fallback);
  const firstByteMs = timeout("firstByteTimeoutMs", DEFAULT_FIRST_BYTE_TIMEOUT_MS);
  const idleMs = timeout("idleTimeoutMs", DEFAULT_IDLE_TIMEOUT_MS);
  const arm = (ms, message) => {
    clearTimeout(timer);
    if (settled || !Number.isFinite(ms)) return;
    timer = setTimeout(() => {
      if (settled) return;
      controller.abort();
      reader?.cancel().catch(noop);
      fail("TIMEOUT", message);
    }, Math.min(ms, 2 ** 31 - 1));
    timer?.unref?.();
  };
  const clock = {
    start: () => arm(firstByteMs, `the model endpoint ${endpoint} sent no response body within ${firstByteMs} ms ` +
      "(llm.firstByteTimeoutMs); the request was abandoned"),
    byte: () => arm(idleMs, `the model endpoint ${endpoint} went silent for ${idleMs} ms in the middle of its answer ` +
      "(llm.idleTimeoutMs); the request was abandoned"),
  };

  const run = typeof llm === "function"
    ? () => runFunction(llm, body, controller.signal, () => settled, end, fail)
    : () => runHttp(llm, body, controller.signal, () => settled, end, chunk, (r) => (reader = r), fail, clock);

  // Start after returning, so that no hook runs inside the caller's own call.
  Promise.resolve()
    .then(() => (settled ? undefined : run()))
    .catch((err) => end(0, utf8(`model request failed: ${messageOf(err)}`)));

  return {
    abort() {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      controller.abort();
      reader?.cancel().catch(noop);
    },
  };
}

async function runHttp(llm, body, signal, isSettled, end, chunk, setReader, fail, clock) {
  let url;
  try {
    url = chatCompletionsURL(llm?.baseURL);
  } catch (err) {
    end(0, utf8(err.message));
    return;
  }
  const fetchImpl = llm.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== "function") {
    fail("LLM_HTTP", `cannot call the model at ${url}: no fetch() in this runtime; pass llm.fetch`);
    return;
  }

  const headers = new Headers({ "content-type": "application/json", accept: "text/event-stream" });
  if (llm.apiKey) headers.set("authorization", `Bearer ${llm.apiKey}`);
  if (llm.headers) new Headers(llm.headers).forEach((value, name) => headers.set(name, value));

  // Redirects are followed here, by the rule of ./redirect.js, whatever fetch() is in use:
  // credentials never reach another origin, https never continues over http.
  let req = { url, method: "POST", headers, body };
  let res;
  clock.start();
  for (let redirects = 0; ; redirects++) {
    try {
      res = await fetchImpl(req.url, { method: req.method, headers: req.headers, body: req.body, signal, redirect: "manual" });
    } catch (err) {
      if (!isSettled()) {
        const where = req.url === url ? url : `${req.url} (redirected from ${url})`;
        fail("LLM_HTTP", `could not reach the model at ${req.method} ${where}: ${describeFetchError(err)}`, err);
      }
      return;
    }
    if (isSettled()) {
      // Aborted while the headers were on their way (a custom fetch may ignore the signal).
      res.body?.cancel().catch(noop);
      return;
    }
    if (res.type === "opaqueredirect") { // a browser's fetch hides where a redirect goes
      fail("LLM_HTTP", `the model endpoint ${req.url} redirected, and this runtime does not say where to; ` +
        "set llm.baseURL to the URL it redirects to");
      return;
    }
    let next;
    try {
      next = redirectRequest(req, res.status, res.headers.get("location"), { redirects });
    } catch (err) {
      res.body?.cancel().catch(noop);
      fail(err.code ?? "LLM_HTTP", `the model endpoint ${url}: ${err.message}`, err);
      return;
    }
    if (!next) break;
    res.body?.cancel().catch(noop);
    req = next;
  }

  const type = res.headers.get("content-type") ?? "";
  if (res.ok && /^\s*text\/event-stream\b/i.test(type) && res.body) {
    const reader = res.body.getReader();
    setReader(reader);
    let received = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (isSettled()) return;
        if (done) break;
        if (!value?.byteLength) continue;
        clock.byte();
        received += value.byteLength;
        if (!chunk(value)) return;
      }
    } catch (err) {
      // An aborted read rejects too; then nobody is listening any more.
      if (!isSettled()) {
        fail("LLM_HTTP", `the model stream from ${url} broke after ${received} bytes: ${describeFetchError(err)}`, err);
      }
      return;
    }
    end(200, null); // any 2xx: the core takes 200 as success
    return;
  }

  // A whole body: bounded while it is read, never buffered whole first.
  const max = res.ok ? maxResponseBytes(llm) : MAX_ERROR_BODY_BYTES;
  const tooLarge = () => `the model's answer from ${url} is larger than llm.maxResponseBytes (${max} bytes); ` +
    "it was not read further (raise llm.maxResponseBytes, or let the endpoint stream its answer)";
  const declared = Number(res.headers.get("content-length"));
  if (res.ok && declared > max) {
    res.body?.cancel().catch(noop);
    fail("LIMIT_EXCEEDED", tooLarge());
    return;
  }
  let bytes, over;
  try {
    ({ bytes, over } = await readBounded(res, max, setReader, clock.byte));
  } catch (err) {
    if (isSettled()) return;
    const why = `reading the response body from ${url} failed: ${describeFetchError(err)}`;
    end(res.ok ? 0 : res.status, utf8(res.ok ? why : `HTTP ${res.status} ${res.statusText}; ${why}`));
    return;
  }
  if (isSettled()) return;
  if (over && res.ok) return fail("LIMIT_EXCEEDED", tooLarge()); // an error body is just cut
  if (res.ok) return end(200, bytes);
  const retryAfter = res.headers.get("retry-after");
  end(res.status, bytes, undefined, retryAfter === null ? undefined : { retryAfter });
}

/** Reads the body up to `max` bytes: { bytes, over }; once more than `max` bytes come, the
 * read stops, the body is cancelled and `bytes` holds what came before. */
async function readBounded(res, max, setReader, onBytes) {
  if (!res.body) return { bytes: new Uint8Array(0), over: false };
  const reader = res.body.getReader();
  setReader(reader);
  const parts = [];
  let total = 0;
  let over = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!value?.byteLength) continue;
    onBytes();
    if (total + value.byteLength > max) {
      over = true;
      reader.cancel().catch(noop);
      break;
    }
    total += value.byteLength;
    parts.push(value);
  }
  return { bytes: concat(parts, total), over };
}

function concat(parts, total) {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function maxResponseBytes(llm) {
  const n = llm?.maxResponseBytes;
  return typeof n === "number" && n > 0 ? n : DEFAULT_MAX_RESPONSE_BYTES;
}

/** The URL a request goes to, for messages; the base URL as given when it is not valid. */
function endpointOf(baseURL) {
  try {
    return chatCompletionsURL(baseURL);
  } catch {
    return String(baseURL);
  }
}

async function runFunction(llm, body, signal, isSettled, end, fail) {
  let request;
  try {
    request = JSON.parse(typeof body === "string" ? body : decoder.decode(body));
  } catch (err) {
    end(0, utf8(`the model request body is not valid JSON: ${messageOf(err)}`));
    return;
  }
  let message;
  try {
    message = await llm(request, { signal });
  } catch (err) {
    if (!isSettled()) fail("LLM_HTTP", `the llm function threw: ${messageOf(err)}`, err);
    return;
  }
  if (isSettled()) return;
  if (typeof message === "string") message = { role: "assistant", content: message };
  let json;
  try {
    json = message !== null && typeof message === "object" ? JSON.stringify(message) : undefined;
  } catch (err) {
    fail("LLM_PROTOCOL", `the llm function's message is not JSON-serialisable: ${messageOf(err)}`, err);
    return;
  }
  if (json === undefined || Array.isArray(message)) {
    fail("LLM_PROTOCOL",
      "the llm function must resolve to an assistant message " +
      `({ role: "assistant", content, tool_calls? }), got ${describeValue(message)}`);
    return;
  }
  end(200, utf8(json));
}

/** `${baseURL}/chat/completions`, whatever slashes baseURL ends with; keeps a query string. */
export function chatCompletionsURL(baseURL) {
  if ((typeof baseURL !== "string" || baseURL.trim() === "") && !(baseURL instanceof URL)) {
    throw new TypeError(
      "llm.baseURL is missing: give an OpenAI-compatible endpoint such as " +
      '"http://127.0.0.1:8080/v1", or make llm an async function (request) => message');
  }
  let url;
  try {
    url = new URL(String(baseURL).trim(), globalThis.location?.href);
  } catch {
    throw new TypeError(`llm.baseURL is not a valid URL: ${JSON.stringify(String(baseURL))}`);
  }
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/chat/completions`;
  url.hash = "";
  return url.href;
}

// undici says only "fetch failed"; the reason is in err.cause (an AggregateError when
// several addresses were tried).
function describeFetchError(err) {
  const parts = [messageOf(err)];
  const cause = err?.cause;
  if (cause) {
    const inner = Array.isArray(cause.errors) && cause.errors.length
      ? cause.errors.map(messageOf).join("; ")
      : messageOf(cause);
    if (inner && !parts[0].includes(inner)) parts.push(inner);
    if (cause.code && !parts.join(" ").includes(cause.code)) parts.push(cause.code);
  }
  const text = parts.join(": ");
  if (/ECONNREFUSED/.test(text)) return `${text} (is the model server running? check llm.baseURL)`;
  return text;
}

function messageOf(err) {
  if (err instanceof Error) return err.message || err.name || String(err);
  if (typeof err === "string") return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

function describeValue(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}

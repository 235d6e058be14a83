// Host adapter: the Streamable HTTP transport for MCP servers (MCP 2025-11-25,
// basic/transports), built on fetch() alone — no Node built-ins — so the same module
// runs in Node, browsers and workers.
//
// It does no protocol work: message bodies go to the core as they are (a JSON body whole,
// an SSE body chunk by chunk: the SSE framing is the core's, src/core/sse.c). What it owns
// is HTTP:
//   - every message is a POST with Accept: application/json, text/event-stream; the session
//     id (Mcp-Session-Id) from initialize's response and, after initialize, the negotiated
//     MCP-Protocol-Version go on every later request, with the server's custom `headers`;
//   - a response to a request is JSON (one message) or SSE (read until the request is
//     answered); a notification or a response is answered with 202;
//   - a response stream that ends before its answer is resumed with GET + Last-Event-ID
//     after the server's `retry:` (when it sent an event id), else the request fails;
//   - after initialization, an optional GET stream for the server's own messages (405 =
//     none), reconnected with its Last-Event-ID;
//   - a 404 on a request that carried a session id (and server-everything's 400 "No valid
//     session ID") means the session ended: initialize again (the saved initialize and
//     initialized messages are replayed) and retry the message, once;
//   - close(): the notifications already sent are delivered, every fetch is aborted, then
//     DELETE ends the session; all of it within closeTimeoutMs (default 2 s);
//   - redirects follow the shared rule of ./redirect.js: your headers (a bearer token, say)
//     and the session id never go to another origin, nothing goes from https to http; a
//     redirect that would turn a POST into a GET is an error (configure the final URL).
//
// Hook contract (the runtime's): onOpen once, after open() returned; onClose exactly once,
// and no hook after it; hooks never run inside the transport's own methods.
//
// Errors: a failed initialize closes the transport with reason "open-failed" (the open
// fails with MCP_CONNECT_FAILED); an HTTP error on a later request fails that request with
// MCP_TRANSPORT_CLOSED (status and a body excerpt in the message); a network failure after
// initialize closes the transport ("exited"), as a stdio server's exit does.

const ACCEPT_POST = "application/json, text/event-stream";
const DEFAULT_CLOSE_TIMEOUT_MS = 2000;
const DEFAULT_RETRY_MS = 1000;
const MAX_RETRY_MS = 30000;
const MAX_RESUMES = 3; // consecutive resume attempts of one response that bring nothing
const MAX_REDIRECTS = 5;
const EXCERPT_CHARS = 300;
const DEFAULT_MAX_BODY = 16 << 20;

import { redirectRequest } from "./redirect.js";
import { SEND } from "../constants.js";

const { INITIALIZE: SEND_INITIALIZE, INITIALIZED: SEND_INITIALIZED, CANCEL: SEND_CANCEL } = SEND; // mcpstream.h MS_SEND_*

const decoder = new TextDecoder();

/** Why a fetch of ours ended: our own abort, not the network. */
class Aborted extends Error {}

/**
 * @typedef {{ url: string, headers?: Record<string, string> }} HttpConfig
 * @typedef {{ onOpen(): void, onMessage(bytes: Uint8Array): void,
 *             onSse(key: number, bytes: Uint8Array): boolean, onResponseEnd(key: number): boolean,
 *             onRequestFailed(key: number, code: string, message: string): void,
 *             onLog?(level: string, text: string): void,
 *             onClose(info: { reason: "closed" | "exited" | "open-failed", message: string, cleanupError?: string | null }): void }} HttpHooks
 * @typedef {{ fetch?: typeof fetch, closeTimeoutMs?: number, maxBodyBytes?: number }} HttpOptions
 */

export class StreamableHttpTransport {
  #url;
  #custom;
  #hooks;
  #fetch;
  #closeTimeoutMs;
  #maxBody;
  /** "new" → "open" → "closing" → "closed" */
  #state = "new";
  #sessionId = null;
  #protocol = null;
  #initMessage = null;
  #initializedMessage = null;
  #initialized = false; // initialize answered with 2xx (a session may exist)
  #ready = false; // notifications/initialized accepted
  /** every fetch in flight, so that close() can abort them */ #controllers = new Set();
  /** request id (0: the GET stream) → the controller of its fetch, so a cancel can stop it */ #byKey = new Map();
  /** response key → { id, retry } from the core (MS_FX_SSE_CURSOR) */ #cursors = new Map();
  #timers = new Set();
  #refed = true;
  /** notifications and responses POSTed, in order: later POSTs wait for their status */ #chain = Promise.resolve();
  #reinit = null;
  /** notifications queued or in flight */ #notes = 0;
  /** initialize's POST is waiting for its headers */ #initWaiting = false;
  /** settles once initialize's response headers came (or it failed): close() waits for them,
   * so that a session the server made while we were closing still gets its DELETE */
  #initHeaders = Promise.resolve();
  #getStream = false;
  #closePromise = null;

  /**
   * @param {HttpConfig} config
   * @param {HttpHooks} hooks
   * @param {HttpOptions} [options]
   */
  constructor(config, hooks, options = {}) {
    this.#url = new URL(config.url).href;
    this.#custom = new Headers(config.headers ?? {});
    this.#hooks = hooks;
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new TypeError("no fetch() in this runtime for Streamable HTTP");
    // never called as a method of this object: browsers and workerd want fetch's own `this`
    this.#fetch = options.fetch ? (url, init) => f(url, init) : (url, init) => globalThis.fetch(url, init);
    this.#closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.#maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  }

  /** The server's session id (null before initialize, or for a server without sessions). */
  get sessionId() { return this.#sessionId; }

  /** True once onClose has fired. */
  get closed() { return this.#state === "closed"; }

  /** There is no connection to make: the first POST (initialize) is the open. */
  open() {
    if (this.#state !== "new") return;
    this.#state = "open";
    queueMicrotask(() => this.#call("onOpen"));
  }

  /**
   * POSTs one message. `info.id` is the JSON-RPC id of the request it is (0: a notification
   * or a response), `info.flags` an MS_SEND_* value (mcpstream.h). Never throws; failures
   * come back through the hooks.
   * @param {Uint8Array} bytes @param {{id?: number, flags?: number}} [info]
   */
  send(bytes, info = {}) {
    if (this.#state !== "open") return;
    const id = info.id ?? 0, flags = info.flags ?? 0;
    if (flags === SEND_INITIALIZE) this.#initMessage = bytes;
    if (flags === SEND_INITIALIZED) this.#initializedMessage = bytes;
    if (flags === SEND_CANCEL) this.#byKey.get(id)?.abort(); // the core gave up on that request
    if (id > 0 && flags !== SEND_CANCEL) {
      // a request waits for the notifications before it (initialized comes first), not for
      // other requests: a long tool call must not hold up a cancel
      this.#chain.then(() => this.#postRequest(bytes, id, flags === SEND_INITIALIZE)).catch(() => {});
    } else {
      this.#notes++;
      this.#chain = this.#chain.then(() => this.#postNotification(bytes, flags)).catch(() => {})
        .finally(() => { this.#notes--; });
    }
  }

  /** The negotiated protocol version (MS_FX_PROTOCOL): sent on every request from now on. */
  setProtocolVersion(version) { this.#protocol = version; }

  /** The SSE cursor of response `key` (MS_FX_SSE_CURSOR), for resuming it. */
  sseCursor(key, lastEventId, retry) { this.#cursors.set(key, { id: lastEventId, retry }); }

  /**
   * Ends the session: delivers the notifications already sent, aborts every fetch, sends
   * DELETE when there is a session id, then onClose({ reason: "closed" }) — all within
   * closeTimeoutMs. Idempotent; never rejects.
   */
  close() {
    if (this.#closePromise) return this.#closePromise;
    this.#closePromise = this.#teardown();
    return this.#closePromise;
  }

  /** Aborts everything now (no DELETE: there is no time for one). */
  killSync() {
    if (this.#state === "closed") return;
    this.#abortAll();
    this.#finish({ reason: "closed", message: `the session with ${this.#url} was dropped without DELETE`,
                   cleanupError: this.#sessionId ? "the session was not ended with DELETE (no time left)" : null });
  }

  ref() { this.#refed = true; for (const t of this.#timers) t?.ref?.(); }
  unref() { this.#refed = false; for (const t of this.#timers) t?.unref?.(); }

  // ---- POST

  #headers(kind, { session = true } = {}) {
    const h = new Headers(this.#custom);
    h.set("accept", kind === "GET" ? "text/event-stream" : ACCEPT_POST);
    if (kind === "POST") h.set("content-type", "application/json");
    if (session && this.#sessionId) h.set("mcp-session-id", this.#sessionId);
    if (session && this.#protocol) h.set("mcp-protocol-version", this.#protocol);
    return h;
  }

  /** POSTs a request and reads its response into the core. */
  async #postRequest(bytes, id, isInit, retried = false) {
    if (this.#state !== "open") return;
    let res;
    const sentSession = !isInit && this.#sessionId !== null;
    try {
      const pending = this.#request("POST", this.#headers("POST", { session: !isInit }), bytes, id).then((r) => {
        if (isInit && r.ok) {
          const sid = r.headers.get("mcp-session-id");
          this.#sessionId = sid && /^[\x21-\x7e]+$/.test(sid) ? sid : null;
          this.#initialized = true;
        }
        return r;
      });
      if (isInit) {
        this.#initWaiting = true;
        this.#initHeaders = pending.then(() => {}, () => {}).finally(() => { this.#initWaiting = false; });
      }
      res = await pending;
      if (!res.ok) {
        const excerpt = await this.#excerpt(res);
        if (!retried && sentSession && this.#sessionGone(res.status, excerpt, res)) {
          if (await this.#reinitialize(res.status)) return this.#postRequest(bytes, id, isInit, true);
          return;
        }
        const what = `${this.#describe(res, excerpt)} to request ${id}`;
        if (isInit) return this.#fail("open-failed", `initialize failed: ${what}`);
        return this.#requestFailed(id, "MCP_TRANSPORT_CLOSED", what);
      }
      await this.#readResponse(res, id, isInit);
    } catch (e) {
      if (e instanceof Aborted || this.#state !== "open") return;
      const why = `could not reach ${this.#url}: ${describeError(e)}`;
      this.#fail(this.#initialized ? "exited" : "open-failed", why);
    }
  }

  /** Reads a 2xx response to request `id`: JSON (one message) or SSE. */
  async #readResponse(res, id, isInit) {
    const type = mediaType(res.headers.get("content-type"));
    if (type === "text/event-stream" && res.body) return this.#readSse(id, res.body, 0, isInit);
    if (type === "application/json") {
      const bytes = await this.#readAll(res);
      if (this.#state !== "open") return;
      if (bytes === null) {
        return this.#lost(id, isInit, "LIMIT_EXCEEDED", `the JSON response to request ${id} is over the ${this.#maxBody}-byte limit`);
      }
      this.#call("onMessage", bytes);
      if (this.#callBool("onResponseEnd", id))
        this.#lost(id, isInit, "MCP_PROTOCOL", `the server answered request ${id} with JSON that is not its response: ${excerptOf(decoder.decode(bytes.subarray(0, 600)))}`);
      return;
    }
    await res.body?.cancel().catch(() => {});
    this.#lost(id, isInit, "MCP_PROTOCOL", `the server answered request ${id} with HTTP ${res.status} and content type "${res.headers.get("content-type") ?? "(none)"}"; expected application/json or text/event-stream`);
  }

  /**
   * Reads an SSE body for response `key` (a request id; 0: the GET stream) into the core,
   * until the request is answered or the body ends; then resumes it or gives up.
   */
  async #readSse(key, body, resumes, isInit = false) {
    const reader = body.getReader();
    let answered = false, failure = null, got = false;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.#state !== "open") break;
        got = true;
        if (!this.#callBool("onSse", key, value) && key > 0) { answered = true; break; }
      }
    } catch (e) {
      failure = e;
    } finally {
      reader.cancel().catch(() => {});
    }
    if (this.#state !== "open") return;
    const waiting = this.#callBool("onResponseEnd", key);
    if (key === 0) return this.#reconnectGet(got ? 0 : resumes + 1);
    if (answered || !waiting) return;
    const cursor = this.#cursors.get(key);
    const ended = failure ? `its response stream broke (${describeError(failure)})` : "the server ended its response stream before answering";
    if (!cursor?.id || resumes >= MAX_RESUMES) {
      this.#cursors.delete(key);
      // a connection that broke with nothing to resume from: the server went away (as a
      // stdio server's exit); a clean end without the answer only loses that request
      if (failure && !cursor?.id) return this.#fail(this.#initialized ? "exited" : "open-failed", `request ${key}: ${ended}`);
      return this.#lost(key, isInit, "MCP_TRANSPORT_CLOSED", `request ${key}: ${ended}${cursor?.id ? ` and ${MAX_RESUMES} resumptions brought nothing` : " (no event id to resume it from)"}`);
    }
    await this.#sleep(retryDelay(cursor.retry));
    if (this.#state !== "open") return;
    const res = await this.#resumeGet(key, cursor.id).catch((e) => (e instanceof Aborted ? null : e));
    if (this.#state !== "open" || res === null) return;
    if (res instanceof Error) return this.#fail("exited", `request ${key}: ${ended} and resuming it failed: ${describeError(res)}`);
    if (!res.ok || mediaType(res.headers.get("content-type")) !== "text/event-stream" || !res.body) {
      const why = this.#describe(res, await this.#excerpt(res));
      this.#cursors.delete(key);
      return this.#lost(key, isInit, "MCP_TRANSPORT_CLOSED", `request ${key}: ${ended} and resuming it failed: ${why}`);
    }
    return this.#readSse(key, res.body, got ? 1 : resumes + 1, isInit);
  }

  /** POSTs a notification or a response; resolves when the server has answered it. */
  async #postNotification(bytes, flags, retried = false) {
    if (this.#state !== "open" && !this.#draining) return; // close() delivers those sent before it
    const sentSession = this.#sessionId !== null;
    try {
      const res = await this.#request("POST", this.#headers("POST"), bytes);
      if (res.ok) {
        await res.body?.cancel().catch(() => {});
        if (flags === SEND_INITIALIZED && !this.#ready) {
          this.#ready = true;
          this.#openGet();
        }
        return;
      }
      const excerpt = await this.#excerpt(res);
      if (!retried && sentSession && flags !== SEND_INITIALIZED && this.#state === "open" && this.#sessionGone(res.status, excerpt, res)) {
        if (await this.#reinitialize(res.status)) return this.#postNotification(bytes, flags, true);
        return;
      }
      this.#log("warning", `the server refused a notification: ${this.#describe(res, excerpt)}`);
    } catch (e) {
      if (e instanceof Aborted || this.#state !== "open") return;
      this.#fail(this.#initialized ? "exited" : "open-failed", `could not reach ${this.#url}: ${describeError(e)}`);
    }
  }

  // ---- the GET stream

  #openGet() {
    if (this.#getStream || this.#state !== "open") return;
    this.#getStream = true;
    this.#runGet(0);
  }

  async #runGet(failures) {
    if (this.#state !== "open") return;
    let res;
    try {
      const cursor = this.#cursors.get(0);
      const h = this.#headers("GET");
      if (cursor?.id) h.set("last-event-id", cursor.id);
      res = await this.#request("GET", h, undefined, 0);
    } catch (e) {
      if (e instanceof Aborted || this.#state !== "open") return;
      return this.#reconnectGet(failures + 1);
    }
    if (res.status === 405) { // the server offers no GET stream
      await res.body?.cancel().catch(() => {});
      this.#getStream = false;
      return;
    }
    if (!res.ok || mediaType(res.headers.get("content-type")) !== "text/event-stream" || !res.body) {
      const excerpt = await this.#excerpt(res);
      if (this.#sessionGone(res.status, excerpt, res) && this.#sessionId) {
        this.#getStream = false;
        await this.#reinitialize(res.status);
        return;
      }
      this.#log("warning", `the server's GET stream failed: ${this.#describe(res, excerpt)}`);
      return this.#reconnectGet(failures + 1);
    }
    return this.#readSse(0, res.body, failures);
  }

  async #reconnectGet(failures) {
    if (this.#state !== "open") return;
    if (failures >= MAX_RESUMES) {
      this.#getStream = false;
      return this.#log("warning", `gave up the server's GET stream after ${failures} attempts`);
    }
    await this.#sleep(retryDelay(this.#cursors.get(0)?.retry));
    if (this.#state === "open") return this.#runGet(failures);
  }

  #resumeGet(key, lastEventId) {
    const h = this.#headers("GET");
    h.set("last-event-id", lastEventId);
    return this.#request("GET", h, undefined, key);
  }

  // ---- session expiry

  /** 404 (spec) or server-everything's 400 "No valid session ID": the session is gone. */
  #sessionGone(status, excerpt, res) {
    if (res && this.#elsewhere.has(res)) return false;
    return status === 404 || (status === 400 && /session/i.test(excerpt));
  }

  /**
   * The server ended the session: initialize again with the saved messages (one at a time,
   * however many requests noticed). Resolves true when a new session is ready.
   */
  #reinitialize(status) {
    this.#reinit ??= (async () => {
      const old = this.#sessionId;
      if (!this.#initMessage || !this.#initializedMessage) return false;
      this.#sessionId = null;
      this.#log("warning", `the server ended session ${old} (HTTP ${status}); initializing a new one`);
      try {
        const res = await this.#request("POST", this.#headers("POST", { session: false }), this.#initMessage);
        const excerpt = res.ok ? "" : await this.#excerpt(res);
        if (!res.ok) throw new Error(this.#describe(res, excerpt));
        const sid = res.headers.get("mcp-session-id");
        this.#sessionId = sid && /^[\x21-\x7e]+$/.test(sid) ? sid : null;
        await this.#readAll(res, true); // the answer to a replayed initialize: the core has its own
        const done = await this.#request("POST", this.#headers("POST"), this.#initializedMessage);
        await done.body?.cancel().catch(() => {});
        if (!done.ok) throw new Error(`notifications/initialized: ${this.#describe(done, "")}`);
        this.#cursors.delete(0);
        this.#openGet();
        return true;
      } catch (e) {
        if (e instanceof Aborted || this.#state !== "open") return false;
        this.#fail("exited", `the server ended the session (HTTP ${status}) and initializing a new one failed: ${describeError(e)}`);
        return false;
      } finally {
        queueMicrotask(() => { this.#reinit = null; });
      }
    })();
    return this.#reinit;
  }

  // ---- HTTP plumbing

  /**
   * One fetch of ours: aborted by close(); redirects followed by hand (307/308 only, so the
   * method and body stay) without credentials on another origin or a downgrade to http.
   */
  async #request(method, headers, body, key = null) {
    const controller = new AbortController();
    this.#controllers.add(controller);
    if (key !== null) this.#byKey.set(key, controller);
    try {
      let req = { url: this.#url, method, headers, body: body ?? null };
      let crossOrigin = false;
      for (let hops = 0; ; hops++) {
        let res;
        try {
          res = await this.#fetch(req.url, { method: req.method, headers: req.headers, body: req.body ?? undefined,
                                              signal: controller.signal, redirect: "manual" });
        } catch (e) {
          if (controller.signal.aborted) throw new Aborted();
          throw e;
        }
        if (res.type === "opaqueredirect")
          throw new Error(`the server redirected ${method} ${req.url}; this runtime hides the target. Configure the final URL`);
        // the shared rule (./redirect.js): no credential and no session id to another origin
        const next = redirectRequest(req, res.status, res.headers.get("location"),
          { redirects: hops, maxRedirects: MAX_REDIRECTS, code: "MCP_CONNECT_FAILED" });
        if (!next) return this.#track(res, controller, key, crossOrigin);
        await res.body?.cancel().catch(() => {});
        if (next.method !== method)
          throw new Error(`the server redirected ${method} ${req.url} with HTTP ${res.status}, which would make it a ${next.method}; configure the final URL`);
        crossOrigin ||= next.crossOrigin;
        req = next;
      }
    } catch (e) {
      this.#forget(controller, key);
      throw e;
    }
  }

  #forget(controller, key) {
    this.#controllers.delete(controller);
    if (key !== null && this.#byKey.get(key) === controller) this.#byKey.delete(key);
  }

  /** Keeps the controller until the response body is consumed or cancelled. */
  #track(res, controller, key, crossOrigin) {
    const release = () => this.#forget(controller, key);
    if (crossOrigin) this.#elsewhere.add(res);
    if (!res.body) {
      release();
      return res;
    }
    const reader = res.body.getReader();
    const body = new ReadableStream({
      async pull(c) {
        try {
          const { done, value } = await reader.read();
          if (done) { release(); c.close(); } else c.enqueue(value);
        } catch (e) {
          release();
          c.error(controller.signal.aborted ? new Aborted() : e);
        }
      },
      cancel(reason) { release(); return reader.cancel(reason); },
    });
    const wrapped = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    if (crossOrigin) this.#elsewhere.add(wrapped);
    return wrapped;
  }

  /** Responses from another origin than the server's (after a redirect): they never saw our
   * session id, so their 404/400 does not mean the session ended. */
  #elsewhere = new WeakSet();

  /** A whole body as bytes, or null when over the limit (or, with `discard`, nothing). */
  async #readAll(res, discard = false) {
    if (!res.body) return new Uint8Array(0);
    const reader = res.body.getReader();
    const parts = [];
    let n = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        n += value.length;
        if (n > this.#maxBody) { reader.cancel().catch(() => {}); return null; }
        if (!discard) parts.push(value);
      }
    } catch (e) {
      if (e instanceof Aborted || this.#state !== "open") throw new Aborted();
      throw e;
    }
    const out = new Uint8Array(discard ? 0 : n);
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }

  /** The start of an error body, as one line. */
  async #excerpt(res) {
    if (!res.body) return "";
    const reader = res.body.getReader();
    let text = "";
    const timer = setTimeout(() => reader.cancel().catch(() => {}), this.#closeTimeoutMs);
    try {
      while (text.length < EXCERPT_CHARS * 4) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    } catch { /* a body that breaks: what came is the excerpt */ } finally {
      clearTimeout(timer);
      reader.cancel().catch(() => {});
    }
    return excerptOf(text);
  }

  #describe(res, excerpt) {
    return `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""} from ${this.#url}${excerpt ? `: ${excerpt}` : ""}`;
  }

  #sleep(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.#timers.delete(t); resolve(); }, ms);
      if (!this.#refed) t?.unref?.();
      this.#timers.add(t);
    });
  }

  // ---- failures and the end

  #lost(key, isInit, code, message) {
    if (isInit) return this.#fail("open-failed", `initialize failed: ${message}`);
    this.#requestFailed(key, code, message);
  }

  #requestFailed(key, code, message) {
    if (this.#state !== "open") return;
    this.#call("onRequestFailed", key, code, message);
  }

  /** The transport cannot go on: abort what runs, end a session the server made (bounded),
   * and report onClose(reason). */
  #fail(reason, message) {
    if (this.#state !== "open") return;
    this.#state = "closing";
    this.#abortAll();
    this.#closePromise = (async () => {
      const cleanupError = await this.#deleteSession(Date.now() + this.#closeTimeoutMs);
      this.#finish({ reason, message, cleanupError: reason === "exited" ? null : cleanupError });
    })();
  }

  /** DELETE of the session, if there is one, by `deadline`. Resolves with a cleanup error or null. */
  async #deleteSession(deadline) {
    if (!this.#sessionId) return null;
    const controller = new AbortController();
    this.#controllers.add(controller); // killSync() aborts it too
    const t = setTimeout(() => controller.abort(), Math.max(1, deadline - Date.now())); // ref'd: a close keeps the process alive
    try {
      const res = await this.#fetch(this.#url, { method: "DELETE", headers: this.#headers("DELETE"), signal: controller.signal,
                                                  redirect: "manual", keepalive: true }); // keepalive: it may outlive a page
      await res.body?.cancel().catch(() => {});
      if (!res.ok && res.status !== 405 && res.status !== 404) return `DELETE of session ${this.#sessionId} got HTTP ${res.status}`;
      return null;
    } catch (e) {
      return controller.signal.aborted
        ? `DELETE of session ${this.#sessionId} did not complete within ${this.#closeTimeoutMs} ms`
        : `DELETE of session ${this.#sessionId} failed: ${describeError(e)}`;
    } finally {
      clearTimeout(t);
      this.#controllers.delete(controller);
    }
  }

  #abortAll() {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const c of this.#controllers) c.abort();
    this.#controllers.clear();
    this.#byKey.clear();
  }

  async #teardown() {
    if (this.#state === "closed") return;
    if (this.#state === "new") {
      this.#state = "closing";
      return this.#finish({ reason: "closed", message: "the transport was closed before it was opened" });
    }
    this.#state = "closing";
    const deadline = Date.now() + this.#closeTimeoutMs;
    if (this.#notes === 0 && !this.#initWaiting && this.#sessionId) {
      // nothing to deliver first: the DELETE goes out now, synchronously (keepalive), so that
      // a page being left (pagehide disposes the runtime) still ends its session
      this.#abortAll();
      const cleanupError = await this.#deleteSession(deadline);
      if (this.#state === "closed") return;
      return this.#finish({ reason: "closed", message: `the session with ${this.#url} was closed`, cleanupError });
    }
    let timer;
    const bound = (p) => Promise.race([p, new Promise((r) => { timer = setTimeout(r, Math.max(0, deadline - Date.now())); })])
      .finally(() => clearTimeout(timer));
    // the notifications already sent (a cancel, say) reach the server before the session ends
    await bound(Promise.all([this.#drainChain(this.#chain), this.#initHeaders]));
    if (this.#state === "closed") return; // killSync() came meanwhile
    this.#abortAll();
    const cleanupError = await this.#deleteSession(deadline);
    if (this.#state === "closed") return;
    this.#finish({ reason: "closed", message: `the session with ${this.#url} was closed`, cleanupError });
  }

  /** Waits for the queued notification POSTs (they run while state is "closing"). */
  async #drainChain(chain) {
    this.#draining = true;
    try { await chain; } finally { this.#draining = false; }
  }

  #draining = false;

  #finish(info) {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#call("onClose", info);
  }

  #log(level, text) { this.#call("onLog", level, text); }

  #call(name, ...args) {
    if (this.#state === "closed" && name !== "onClose") return undefined;
    const hook = this.#hooks?.[name];
    if (typeof hook !== "function") return undefined;
    try {
      return hook.apply(this.#hooks, args);
    } catch (err) {
      queueMicrotask(() => { throw err; });
      return undefined;
    }
  }

  #callBool(name, ...args) { return this.#call(name, ...args) === true; }
}

function mediaType(value) { return (value ?? "").split(";")[0].trim().toLowerCase(); }

function excerptOf(text) {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > EXCERPT_CHARS ? `${one.slice(0, EXCERPT_CHARS)}…` : one;
}

function retryDelay(retry) {
  return retry >= 0 ? Math.min(retry, MAX_RETRY_MS) : DEFAULT_RETRY_MS;
}


function describeError(e) {
  const cause = e?.cause;
  const code = cause?.code ?? e?.code;
  const msg = e?.message ?? String(e);
  return code && !msg.includes(code) ? `${msg} (${code})` : msg;
}

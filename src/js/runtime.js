// runtime.js — one wasm instance of the core, its host adapters and its
// lifecycle events. All awaiting of I/O happens here and in the hosts; the
// core only reacts. After dispose() begins, the instance is never called again.
import { Core, FX, CLOSE_REASON, LIMITS, SERVER_LIMITS, now } from "./core.js";
import { coreError, CORE_CODES, MCPStreamError, RuntimeDisposedError, invalidArgument } from "./errors.js";
import { startModelRequest } from "./hosts/model.js";

/** Stable code → core status (the inverse of CORE_CODES). */
const CORE_STATUS = Object.fromEntries(Object.entries(CORE_CODES).map(([status, code]) => [code, Number(status)]));

/** How long dispose() waits for transports to go away: above the stdio host's
 * worst case (grace 1 s + SIGTERM wait 2 s + reaping after SIGKILL 2 s + pipes). */
const DISPOSE_BOUND_MS = 6000;
/** Runs fn after this turn of the event loop (setImmediate where there is one: Node; workerd and browsers have no handles to let go). */
const later = globalThis.setImmediate ?? ((fn) => setTimeout(fn, 0));

/**
 * @typedef {{kind:string, server:string|null, sessionId:number|null, owner:"stream"|"agent"|"client"|null,
 *            streamId:number|null, reason:string|null}} LifecycleDetail
 */

/**
 * A transport to one MCP server (src/js/hosts/stdio.js is the Node one).
 * @typedef {{ open(): void, send(bytes: Uint8Array): void, close(): Promise<void>,
 *             killSync?(): void, ref?(): void, unref?(): void }} Transport
 * @typedef {{ onOpen(): void, onData(bytes: Uint8Array): void, onStderr(text: string): void,
 *             onClose(info: {reason: string, message?: string, cleanupError?: string|null}): void }} TransportHooks
 * @typedef {{ transportFactory: (config: any, hooks: TransportHooks, server: string) => Transport,
 *             fetch?: typeof fetch, setRef?: (on: boolean) => void }} Hosts
 */

export class Runtime extends EventTarget {
  #core;
  /** @type {Hosts} */ #hosts;
  #disposed = false;
  /** @type {Promise<void>|null} */ #disposing = null;
  /** sid → transport */ #transports = new Map();
  /** sid → lifecycle detail of its session-open (mirror, for dispose) */ #sessions = new Map();
  /** sids the core has asked to close (it must ask once per session) */ #closeIssued = new Set();
  /** `${owner}:${id}` → (serverName) => config */ #owners = new Map();
  /** `${owner}:${id}` → OwnerHandlers (server requests and notifications of its sessions) */ #handlers = new Map();
  /** sid → `${owner}:${id}` of the session's owner */ #sidOwner = new Map();
  /** sid → its timeoutMs (server config, else limits.timeoutMs): bounds a callback's answer */ #sidTimeout = new Map();
  /** `${sid}:${id as JSON}` → a server request a callback is answering */ #serverRequests = new Map();
  /** op id → {resolve, reject, onProgress} */ #ops = new Map();
  /** stream id → driver */ #drivers = new Map();
  #opSeq = 1;
  #ownerSeq = 1;
  #holds = 0;
  /** whether the transports and the hosts are ref'd now (they follow #holds, see _release) */ #refOn = false;
  #unrefPending = false;
  #draining = false;
  /** limits.messageBytes, the default bound of a model answer read whole */
  #messageBytes;
  /** limits.timeoutMs: how long a callback may take to answer a server request */
  #timeoutMs;
  /** the one timer for request deadlines (mcpstream.h, Time), and when it fires */
  #timer = null;
  #timerAt = -1;

  /**
   * @param {WebAssembly.Instance} instance
   * @param {Hosts} hosts the platform's I/O: transports, and optionally a fetch
   *   whose connections follow setRef (so they never keep a process alive idly)
   * @param {{limits?: Record<string, number>}} [options] see CreateRuntimeOptions in index.d.ts
   */
  constructor(instance, hosts, options = {}) {
    super();
    const limits = checkLimits(options.limits, "createRuntime: limits");
    this.#core = new Core(instance);
    this.#hosts = hosts;
    for (const [name, value] of Object.entries(limits)) this.#core.setLimit(name, value);
    this.#messageBytes = limits.messageBytes;
    this.#timeoutMs = limits.timeoutMs ?? LIMITS.timeoutMs.default;
  }

  /** True once dispose() was called. */
  get disposed() { return this.#disposed; }

  /** Numbers for tests and dashboards. */
  stats() {
    return {
      streamsOpen: this.#core.streamsOpen(), // the core's counts (0 once disposed)
      sessionsOpen: this.#core.sessionsOpen(),
      liveAllocations: this.#core.liveAllocations(), // 0 once disposed
      heapBytes: this.#core.heapBytes(),
      allocatedBytes: this.#core.allocatedBytes(),
      peakAllocatedBytes: this.#core.peakAllocatedBytes(),
    };
  }

  /**
   * Tears down every transport directly (no call into the core), rejects what
   * is pending, and resolves when all is closed. Idempotent.
   * @returns {Promise<void>}
   */
  dispose() {
    if (this.#disposing) return this.#disposing;
    this.#disposed = true;
    this.#core.kill();
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#disposing = this.#teardown();
    return this.#disposing;
  }

  async #teardown() {
    const drivers = [...this.#drivers.values()];
    for (const driver of drivers) driver._disposing(); // no more model I/O, no core calls
    const closes = [...this.#transports].map(([sid, t]) => {
      const open = this.#sessions.get(sid);
      return t.close().catch((e) => this.#cleanupError(sid, `closing the transport failed: ${e?.message ?? e}`, open));
    });
    let timer;
    await Promise.race([
      Promise.all(closes),
      new Promise((r) => { timer = setTimeout(r, DISPOSE_BOUND_MS); }),
    ]);
    clearTimeout(timer);
    for (const [sid, t] of this.#transports) {
      try { t.killSync?.(); } catch (e) { this.#cleanupError(sid, `killing the transport failed: ${e?.message ?? e}`); }
    }
    this.#transports.clear();
    for (const detail of this.#sessions.values())
      this.#emit({ ...detail, kind: "session-close", reason: "disposed" });
    this.#sessions.clear();
    for (const driver of this.#drivers.values()) {
      if (!driver._coreEnded)
        this.#emit({ kind: "stream-end", server: null, sessionId: null, owner: null, streamId: driver.id, reason: "disposed" });
    }
    // only now, after cleanup: pending next()s reject, later ones resolve done
    const err = new RuntimeDisposedError();
    for (const op of this.#ops.values()) op.reject(err);
    this.#ops.clear();
    for (const driver of drivers) driver._disposed();
    this.#drivers.clear();
    this.#owners.clear();
    this.#handlers.clear();
    for (const r of this.#serverRequests.values()) r.cancel(new RuntimeDisposedError());
    this.#serverRequests.clear();
    this.#holds = 0;
    this.#setRef(false);
  }

  // ---- internal API for MCPClient / MCPAgent (not part of the public surface)

  get _core() { return this.#core; }

  _check() { if (this.#disposed) throw new RuntimeDisposedError(); }

  _newOwnerId() { return this.#ownerSeq++; }

  /**
   * Registers where the configs of an owner's servers come from, and optionally who answers
   * their server requests and hears their notifications:
   * `{ caps, serverRequest(server, method, params, signal) → Promise<result>, notification(server, method, params) }`
   * (caps: CAP bits declared in initialize; requests for them go to serverRequest).
   */
  _registerOwner(owner, id, configOf, handlers) {
    this.#owners.set(`${owner}:${id}`, configOf);
    if (handlers) this.#handlers.set(`${owner}:${id}`, handlers);
  }
  _unregisterOwner(owner, id) { this.#owners.delete(`${owner}:${id}`); this.#handlers.delete(`${owner}:${id}`); }

  /** A core stream was made (streamsOpen counts it until it ends: the core's count). */
  _registerDriver(driver) { this.#drivers.set(driver.id, driver); }
  _unregisterDriver(driver) { this.#drivers.delete(driver.id); }

  /**
   * Keeps the Node process alive while something awaits I/O. The handles are let go one turn
   * of the event loop after the last release, not at once: a caller that awaits one call after
   * another holds again before that turn, so nothing is ref'd and unref'd per call.
   */
  _hold() {
    if (this.#disposed) return;
    this.#holds++;
    if (!this.#refOn) this.#setRef(true);
  }
  _release() {
    if (this.#disposed || this.#holds === 0 || --this.#holds > 0 || this.#unrefPending) return;
    this.#unrefPending = true;
    later(() => {
      this.#unrefPending = false;
      if (this.#holds === 0 && this.#refOn && !this.#disposed) this.#setRef(false);
    });
  }

  #setRef(on) {
    this.#refOn = on;
    for (const t of this.#transports.values()) on ? t.ref?.() : t.unref?.();
    this.#hosts.setRef?.(on);
  }

  /**
   * Opens a session per server for (owner, id) and resolves once each is
   * initialized and its tools are listed (and cached). `sids` (name → session
   * id) is filled as sessions are created, so a caller can clean up after a
   * failure; cleanup is the caller's (it owns them).
   * @param {number} owner @param {number} id @param {string[]} names @param {Map<string, number>} sids
   */
  async _openSessions(owner, id, names, sids) {
    for (const name of names) {
      const sid = this.#core.sessionNew(owner, id, name);
      if (sid < 0) throw coreError(sid, this.#core.error());
      sids.set(name, sid);
    }
    this._drain();
    await Promise.all([...sids.values()].map((sid) => this._op((op) => this.#core.sessionListTools(sid, op))));
  }

  /**
   * Starts an operation the core completes with MS_FX_OP_DONE.
   * @param {(opId:number)=>number} start calls the core; a negative return is an error
   * @param {(progress:any)=>void} [onProgress]
   */
  _op(start, onProgress) {
    this._check();
    const opId = this.#opSeq++;
    return new Promise((resolve, reject) => {
      this._hold();
      let settled = false;
      const settle = (fn, v) => { if (!settled) { settled = true; this._release(); fn(v); } };
      const entry = { resolve: (v) => settle(resolve, v), reject: (e) => settle(reject, e), onProgress };
      this.#ops.set(opId, entry);
      let rc;
      try {
        rc = start(opId);
      } catch (e) {
        rc = -1;
        this.#ops.delete(opId);
        entry.reject(e);
      }
      if (rc < 0 && this.#ops.delete(opId)) entry.reject(coreError(rc, this.#core.error()));
      this._drain();
    });
  }

  /** Performs every effect the core queued, in order. */
  _drain() {
    if (this.#draining || this.#disposed) return;
    this.#draining = true;
    try {
      for (;;) {
        const effects = this.#core.takeEffects();
        if (effects.length === 0) break;
        for (const fx of effects) {
          if (this.#disposed) return; // a listener disposed the runtime: nothing more happens
          this.#dispatch(fx);
        }
      }
    } finally {
      this.#draining = false;
    }
    this.#schedule();
  }

  /**
   * Keeps the one timer at or before the core's next request deadline. A timer armed earlier
   * than needed stays (calls one after another each push the deadline later: re-arming per call
   * would cost a clearTimeout and a setTimeout each); when it fires, the core times out only what
   * is due and the timer is armed again for what is left.
   */
  #schedule() {
    if (this.#disposed) return;
    const at = this.#core.nextDeadline();
    if (at < 0 || (this.#timer !== null && this.#timerAt <= at)) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    // +1: never early (a timer may round down); capped: setTimeout's range
    const delay = Math.min(Math.max(0, Math.ceil(at - now()) + 1), 0x7fffffff);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timerAt = -1;
      if (this.#disposed) return;
      this.#core.tick();
      this._drain();
    }, delay);
    this.#timer.unref?.(); // a deadline alone never keeps a Node process alive
  }

  #dispatch(fx) {
    switch (fx.kind) {
      case FX.OPEN: return this.#open(fx.a, { server: fx.text, owner: fx.b, ownerId: fx.c });
      case FX.SEND: return this.#transports.get(fx.a)?.send(fx.payload, { id: fx.b, flags: fx.c, line: fx.line });
      case FX.PROTOCOL: return this.#transports.get(fx.a)?.setProtocolVersion?.(fx.text);
      case FX.SSE_CURSOR: return this.#transports.get(fx.a)?.sseCursor?.(fx.b, fx.text, fx.c);
      case FX.CLOSE: return this.#close(fx.a);
      case FX.MODEL_REQUEST: return this.#drivers.get(fx.a)?._startModel(fx.b, fx.payload);
      case FX.MODEL_ABORT: return this.#drivers.get(fx.a)?._abortModel(fx.b);
      case FX.WAKE: return this.#drivers.get(fx.a)?._wake();
      case FX.OP_DONE: {
        const op = this.#ops.get(fx.a);
        if (!op) return;
        this.#ops.delete(fx.a);
        if (fx.b < 0) op.reject(coreError(fx.b, fx.text));
        else op.resolve(fx.value !== undefined ? fx.value : JSON.parse(fx.text));
        return;
      }
      case FX.OP_PROGRESS: {
        const op = this.#ops.get(fx.a);
        if (op?.onProgress) {
          try { op.onProgress(JSON.parse(fx.text)); } catch (e) { queueMicrotask(() => { throw e; }); }
        }
        return;
      }
      case FX.EVENT: return this.#lifecycle(JSON.parse(fx.text));
      case FX.LOG:
        return this.#log(fx.a || null, ["debug", "info", "warning", "error"][fx.b] ?? "info", fx.text);
      case FX.SERVER_REQUEST: return this.#serverRequest(fx.a, fx.text);
      case FX.NOTIFICATION: return this.#notification(fx.a, fx.text);
    }
  }

  /**
   * A server request (sampling, elicitation, roots) the session's owner answers. Whatever the
   * handler does — resolves, throws, returns what cannot be sent, never settles — the server
   * gets exactly one answer (an error for all but the first), within the server's timeoutMs;
   * none after the server cancelled the request or the session closed.
   */
  #serverRequest(sid, json) {
    const msg = JSON.parse(json);
    const idJson = JSON.stringify(msg.id);
    const key = `${sid}:${idJson}`;
    const handlers = this.#handlers.get(this.#sidOwner.get(sid));
    const server = this.#sessions.get(sid)?.server ?? null;
    if (this.#serverRequests.has(key)) { // the same id again while the first is being answered
      this.#log(sid, "warning", `server '${server}' sent ${msg.method} with the id ${idJson} of a request still being answered; skipped`);
      return;
    }
    const ac = new AbortController();
    const timeoutMs = this.#sidTimeout.get(sid) ?? this.#timeoutMs;
    let timer = null;
    const entry = {
      /** ends the request without an answer (cancelled by the server, session gone, dispose) */
      cancel: (reason) => {
        if (!this.#serverRequests.delete(key)) return;
        clearTimeout(timer);
        ac.abort(reason);
      },
    };
    const answer = (code, body) => {
      if (this.#serverRequests.get(key) !== entry) return; // answered, cancelled or gone
      this.#serverRequests.delete(key);
      clearTimeout(timer);
      if (this.#disposed) return;
      if (code !== 0) ac.abort(new MCPStreamError("CANCELLED", body));
      const rc = this.#core.sessionRespond(sid, idJson, body, code);
      if (rc < 0 && code === 0) { // the core refused the result: the server still gets an answer
        this.#core.sessionRespond(sid, idJson, `the client could not send its answer to ${msg.method}: ${this.#core.error()}`, -32603);
      }
      this._drain();
    };
    this.#serverRequests.set(key, entry);
    timer = setTimeout(() => answer(-32603,
      `the client did not answer ${msg.method} within ${timeoutMs} ms (timeoutMs of server '${server}')`), timeoutMs);
    timer.unref?.(); // never keeps a Node process alive
    Promise.resolve()
      .then(() => {
        if (!handlers?.serverRequest) throw Object.assign(new Error(`Method not found: ${msg.method}`), { rpcCode: -32601 });
        return handlers.serverRequest(server, msg.method, msg.params ?? {}, ac.signal);
      })
      .then((result) => {
        let body;
        try { body = JSON.stringify(result); } catch (e) { throw new Error(`its answer is not JSON-serialisable: ${e.message}`); }
        if (!result || typeof result !== "object" || Array.isArray(result)) throw new Error(`its answer is not an object: ${body}`);
        answer(0, body);
      })
      .catch((e) => {
        const code = Number.isInteger(e?.rpcCode) ? e.rpcCode : -32603;
        answer(code, `${msg.method} failed in the client: ${e instanceof Error ? e.message : String(e)}`.slice(0, 1000));
      });
  }

  /** A notification for the host: logging as `log` events, cancels of server requests, the rest to the owner. */
  #notification(sid, json) {
    const msg = JSON.parse(json);
    const params = msg.params && typeof msg.params === "object" ? msg.params : {};
    if (msg.method === "notifications/message") {
      const data = params.data;
      let message;
      try { message = typeof data === "string" ? data : JSON.stringify(data) ?? ""; } catch { message = String(data); }
      const level = typeof params.level === "string" ? params.level : "info";
      return this.#log(sid, level, message, { logger: typeof params.logger === "string" ? params.logger : null, data: data ?? null });
    }
    if (msg.method === "notifications/cancelled") {
      const r = this.#serverRequests.get(`${sid}:${JSON.stringify(params.requestId)}`);
      r?.cancel(new MCPStreamError("CANCELLED", `the server cancelled its request${typeof params.reason === "string" ? `: ${params.reason}` : ""}`));
      return;
    }
    const handlers = this.#handlers.get(this.#sidOwner.get(sid));
    const server = this.#sessions.get(sid)?.server ?? null;
    try { handlers?.notification?.(server, msg.method, params); } catch (e) { queueMicrotask(() => { throw e; }); }
  }

  /** Server requests of a closed session are not answered: their callbacks' signals abort. */
  #endServerRequests(sid) {
    for (const [key, r] of this.#serverRequests)
      if (key.startsWith(`${sid}:`)) r.cancel(new MCPStreamError("MCP_TRANSPORT_CLOSED", "the session closed"));
  }

  #emit(detail) {
    this.dispatchEvent(new CustomEvent("lifecycle", { detail: Object.freeze(detail) }));
  }

  #log(sessionId, level, message, fromServer) {
    const server = this.#sessions.get(sessionId)?.server ?? null;
    this.dispatchEvent(new CustomEvent("log", { detail: Object.freeze({ sessionId, server, level, message, ...fromServer }) }));
  }

  #lifecycle(detail) {
    if (detail.kind === "session-open") this.#sessions.set(detail.sessionId, detail);
    if (detail.kind === "session-close") {
      this.#sessions.delete(detail.sessionId);
      this.#sidOwner.delete(detail.sessionId);
      this.#sidTimeout.delete(detail.sessionId);
      this.#endServerRequests(detail.sessionId);
    }
    this.#emit(detail);
    if (detail.kind === "stream-end") this.#drivers.get(detail.streamId)?._ended();
  }

  #open(sid, info) {
    const configOf = this.#owners.get(`${info.owner}:${info.ownerId}`);
    const config = configOf?.(info.server);
    const fail = (message) => this.#reportClosed(sid, CLOSE_REASON["open-failed"], message);
    if (!config) return fail(`no configuration for server '${info.server}'`);
    for (const name of SERVER_LIMITS) if (config[name] !== undefined) this.#core.sessionSetLimit(sid, name, config[name]);
    const ownerKey = `${info.owner}:${info.ownerId}`;
    this.#sidOwner.set(sid, ownerKey);
    if (config.timeoutMs !== undefined) this.#sidTimeout.set(sid, config.timeoutMs);
    const caps = this.#handlers.get(ownerKey)?.caps ?? 0;
    if (caps) this.#core.sessionSetCapabilities(sid, caps);
    let transport;
    try {
      transport = this.#hosts.transportFactory(config, {
        onOpen: () => { if (!this.#disposed) { this.#core.sessionOpened(sid); this._drain(); } },
        onData: (bytes) => { if (!this.#disposed) { this.#core.sessionFeed(sid, bytes); this._drain(); } },
        onStderr: (text) => this.#log(sid, "stderr", text),
        // Streamable HTTP: bodies framed per response (src/js/hosts/http.js)
        onMessage: (bytes) => { if (!this.#disposed) { this.#core.sessionFeedMessage(sid, bytes); this._drain(); } },
        onSse: (key, bytes) => {
          if (this.#disposed) return false;
          const waiting = this.#core.sessionSseFeed(sid, key, bytes);
          this._drain();
          return waiting;
        },
        onResponseEnd: (key) => {
          if (this.#disposed) return false;
          const waiting = this.#core.sessionResponseEnd(sid, key);
          this._drain();
          return waiting;
        },
        onRequestFailed: (key, code, message) => {
          if (this.#disposed) return;
          this.#core.sessionRequestFailed(sid, key, CORE_STATUS[code] ?? CORE_STATUS.MCP_TRANSPORT_CLOSED, message);
          this._drain();
        },
        onLog: (level, text) => this.#log(sid, level, text),
        onClose: (why) => {
          this.#transports.delete(sid);
          if (why.cleanupError) this.#cleanupError(sid, why.cleanupError);
          if (this.#disposed) return;
          this.#core.sessionClosed(sid, CLOSE_REASON[why.reason] ?? CLOSE_REASON.exited, why.message ?? "");
          this._drain();
        },
      }, info.server);
    } catch (e) {
      return fail(e instanceof Error ? e.message : String(e));
    }
    this.#transports.set(sid, transport);
    if (!this.#refOn) transport.unref?.();
    transport.open();
  }

  #close(sid) {
    // The core issues at most one CLOSE per session (rule 2). A second one is a
    // core defect: report it where tests and users see it, and do not act twice.
    if (this.#closeIssued.has(sid)) {
      this.#cleanupError(sid, `internal error: the core asked to close session ${sid} a second time`);
      return;
    }
    this.#closeIssued.add(sid);
    const t = this.#transports.get(sid);
    if (!t) return this.#reportClosed(sid, CLOSE_REASON.closed, ""); // never opened, or gone
    this._hold();
    const open = this.#sessions.get(sid); // the session-close may come before a rejection
    t.close().catch((e) => this.#cleanupError(sid, `closing the transport failed: ${e?.message ?? e}`, open))
      .finally(() => this._release());
  }

  /** Tells the core a session's transport is gone, from a fresh microtask. */
  #reportClosed(sid, reason, message) {
    queueMicrotask(() => {
      if (this.#disposed) return;
      this.#core.sessionClosed(sid, reason, message);
      this._drain();
    });
  }

  /** A cleanup problem is reported as an event; it never masks why a stream ended. */
  #cleanupError(sid, reason, open = this.#sessions.get(sid)) {
    this.#emit({ kind: "cleanup-error", server: open?.server ?? null, sessionId: sid, owner: open?.owner ?? null,
                 streamId: open?.streamId ?? null, reason });
  }

  /** Starts a model request for a stream; returns its abort handle. */
  _model(llm, body, hooks) {
    if (typeof llm === "function") return startModelRequest(llm, body, hooks);
    const options = { ...llm };
    if (!options.fetch && this.#hosts.fetch) options.fetch = this.#hosts.fetch;
    options.maxResponseBytes ??= this.#messageBytes; // the runtime's message limit, unless the llm has its own
    return startModelRequest(options, body, hooks);
  }
}

/** Validates a limits object (runtime-wide, or a server's overrides); returns it. */
export function checkLimits(limits, where, allowed = Object.keys(LIMITS)) {
  if (limits === undefined) return {};
  if (!limits || typeof limits !== "object" || Array.isArray(limits))
    throw invalidArgument(`${where} must be an object like { messageBytes: 1048576 }`);
  for (const [name, value] of Object.entries(limits)) {
    if (!allowed.includes(name)) throw invalidArgument(`${where}: unknown limit '${name}'; known: ${allowed.join(", ")}`);
    if (!Number.isInteger(value) || value < 1 || value > 0x7fffffff)
      throw invalidArgument(`${where}.${name} must be an integer from 1 to 2147483647`);
  }
  return limits;
}

// core.js — the thin binding over the wasm exports. It owns the context,
// moves bytes in (scratch input buffer) and out (borrowed pointer + length),
// and turns effect records into plain objects. After kill() no export of the
// instance is ever called again: every method becomes a no-op.

// The boundary's numbers come from mcpstream.h, through the generated constants.js.
import * as C from "./constants.js";

const renamed = (o, f) => Object.freeze(Object.fromEntries(Object.entries(o).map(([k, v]) => [f(k), v])));
const camel = (k) => k.toLowerCase().replace(/_(.)/g, (_, c) => c.toUpperCase());

export const FX = C.FX;
/** Client capabilities (mcpstream.h MS_CAP_*): server requests the host answers. { sampling, elicitation, roots } */
export const CAP = renamed(C.CAP, (k) => k.toLowerCase());
/** c of an FX.SEND (mcpstream.h MS_SEND_*). */
export const SEND = C.SEND;
export const STATUS = C.STATUS;
export const ERR = C.ERR;
/** { stream, agent, client } */
export const OWNER = renamed(C.OWNER, (k) => k.toLowerCase());
/** { return, throw, abort, agentClosed } */
export const END = renamed(C.END, camel);
/** { closed, exited, "open-failed" }: the reasons of a session-close event */
export const CLOSE_REASON = renamed(C.CLOSE, (k) => k.toLowerCase().replace(/_/g, "-"));
/** createRuntime({ limits }) names → MS_LIMIT_* (mcpstream.h), with the core's defaults. */
export const LIMITS = Object.freeze({
  messageBytes: { id: C.LIMIT.MESSAGE_BYTES, default: C.DEFAULT.MESSAGE_BYTES },
  pendingRequests: { id: C.LIMIT.PENDING_REQUESTS, default: C.DEFAULT.PENDING_REQUESTS },
  timeoutMs: { id: C.LIMIT.TIMEOUT_MS, default: C.DEFAULT.TIMEOUT_MS },
  maxTotalTimeoutMs: { id: C.LIMIT.MAX_TOTAL_TIMEOUT_MS, default: C.DEFAULT.MAX_TOTAL_TIMEOUT_MS },
  streamMemoryBytes: { id: C.LIMIT.STREAM_MEMORY_BYTES, default: C.DEFAULT.STREAM_MEMORY_BYTES },
});
/** Limits a server's config may override (ms_session_set_limit). */
export const SERVER_LIMITS = Object.freeze(["messageBytes", "timeoutMs", "maxTotalTimeoutMs"]);

/** The host's monotonic clock in ms (mcpstream.h, Time). */
export const now = () => performance.now();

import { MCPStreamError } from "./errors.js";

const encoder = new TextEncoder();
/** Text up to this many UTF-16 units is encoded straight into the core's input buffer. */
const PUT_DIRECT_CHARS = 16384;
/* Text out of wasm memory, decoded where it lies (no copy first). Bytes that are not all ASCII
 * are decoded by the core to UTF-16 (ms_ctx_utf16: the WHATWG utf-8 decoder, as TextDecoder
 * runs it) and the string is made from those units: Node's UTF-8 decoding of non-ASCII text is
 * ~10x slower than that. Below UTF16_MIN bytes the host's UTF-8 decoder does it directly. A BOM
 * is text like any other (never removed). */
const NodeBuffer = typeof globalThis.Buffer === "function" && typeof globalThis.Buffer.from === "function" ? globalThis.Buffer : null;
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const utf16 = new TextDecoder("utf-16le", { ignoreBOM: true });
const UTF16_MIN = 256;
/* An answer of CUT_MIN_ANSWER bytes or more has its strings of CUT_MIN_STRING bytes or more cut
 * out by the core (ms_ctx_cut, jcut.c) and made strings straight from what it decoded: JSON.parse
 * then reads the rest only (a long string with escapes is its slowest input). */
const CUT_MIN_ANSWER = 16384;
const CUT_MIN_STRING = 4096;

export class Core {
  /** @type {any} */ #x;
  #ctx = 0;
  #messageBytes = LIMITS.messageBytes.default;

  /** @param {WebAssembly.Instance} instance */
  constructor(instance) {
    this.#x = instance.exports;
    this.#ctx = this.#x.ms_ctx_new();
    if (!this.#ctx) throw new MCPStreamError("OUT_OF_MEMORY", "mcpstream core: out of memory creating its context");
  }

  /** Sets a limit (LIMITS) for the context and the objects made after the call. */
  setLimit(name, value) {
    const rc = this.#x ? this.#x.ms_ctx_set_limit(this.#ctx, LIMITS[name].id, value) : 0;
    if (rc < 0) throw new MCPStreamError("INVALID_ARGUMENT", `limits.${name}: ${this.error() || "refused"}`);
    if (name === "messageBytes") this.#messageBytes = value;
  }

  /** False once killed: then nothing calls into the instance. */
  get alive() { return this.#x !== null; }

  /** Stops every further call into the instance (runtime disposal). */
  kill() { this.#x = null; }

  #bytes() { return new Uint8Array(this.#x.memory.buffer); }

  /** A Node Buffer over the whole wasm memory (a view, made again when the memory grew). */
  #nodeView = null;
  #nodeBytes() {
    const buf = this.#x.memory.buffer;
    if (this.#nodeView?.buffer !== buf) this.#nodeView = NodeBuffer.from(buf);
    return this.#nodeView;
  }

  /** Copies a string or bytes into the core's input buffer; returns the length. */
  #put(data) {
    const x = this.#x;
    if (typeof data === "string") {
      const cap = data.length * 3;
      const ptr = x.ms_ctx_input(this.#ctx, cap);
      if (!ptr) throw new MCPStreamError("OUT_OF_MEMORY", "mcpstream core: out of memory for input");
      return encoder.encodeInto(data, this.#bytes().subarray(ptr, ptr + cap)).written;
    }
    const ptr = x.ms_ctx_input(this.#ctx, data.length);
    if (!ptr) throw new MCPStreamError("OUT_OF_MEMORY", "mcpstream core: out of memory for input");
    this.#bytes().set(data, ptr);
    return data.length;
  }

  /** The text of wasm bytes [ptr, ptr + len), as TextDecoder("utf-8", { ignoreBOM: true }) reads them. */
  #text(ptr, len) {
    if (!len) return "";
    const x = this.#x;
    if (len >= UTF16_MIN) {
      const units = x.ms_ctx_utf16(this.#ctx, ptr, len); // may grow the memory: views after it
      if (units === 0) return this.#ascii(ptr, len);
      if (units > 0) {
        const at = x.ms_ctx_utf16_ptr(this.#ctx);
        return NodeBuffer ? this.#nodeBytes().toString("utf16le", at, at + 2 * units) : utf16.decode(this.#bytes().subarray(at, at + 2 * units));
      }
      // out of memory for the units: the host's decoder does it
    }
    return NodeBuffer ? this.#nodeBytes().toString("utf8", ptr, ptr + len) : utf8.decode(this.#bytes().subarray(ptr, ptr + len));
  }

  /** For tests: the text of `bytes` as the binding decodes payloads (through wasm memory). */
  decodeForTest(bytes) {
    const x = this.#x;
    const len = this.#put(bytes);
    return this.#text(x.ms_ctx_input(this.#ctx, len), len);
  }

  /** The core's stable string code of an MS_ERR_* value (ms_strerror), or null. */
  strerror(code) {
    const x = this.#x; if (!x) return null;
    const ptr = x.ms_strerror(code);
    if (!ptr) return null;
    const bytes = this.#bytes();
    let end = ptr;
    while (bytes[end] !== 0) end++;
    return this.#text(ptr, end - ptr);
  }

  /** The message of the last failed context call. */
  error() {
    const x = this.#x;
    return x ? this.#text(x.ms_ctx_error_ptr(this.#ctx), x.ms_ctx_error_len(this.#ctx)) : "";
  }

  /**
   * The effects the core queued. SEND and MODEL_REQUEST carry their payload as bytes (a copy:
   * they outlive the next call into the core), a SEND also as `line`, the same bytes and a "\n"
   * (payload is a view of it); a big answer (OP_DONE) with big strings in it as `value`, parsed
   * here (#cutAnswer); every other kind as `text`, decoded straight from wasm memory.
   * @returns {{kind:number,a:number,b:number,c:number,payload?:Uint8Array,line?:Uint8Array,text?:string,value?:any}[]}
   */
  takeEffects() {
    const x = this.#x;
    if (!x) return [];
    const n = x.ms_ctx_take_effects(this.#ctx);
    if (n < 0) throw new MCPStreamError("OUT_OF_MEMORY", `mcpstream core: ${this.error() || "out of memory taking effects"}`);
    if (n === 0) return [];
    const base = x.ms_ctx_effects_ptr(this.#ctx);
    const rec = new Int32Array(x.memory.buffer, base, n * 6).slice(); // decoding may grow the memory
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      const o = i * 6;
      const kind = rec[o], ptr = rec[o + 4] >>> 0, len = rec[o + 5] >>> 0;
      const fx = { kind, a: rec[o + 1], b: rec[o + 2], c: rec[o + 3] };
      if (kind === FX.SEND) {
        // copied with a "\n" after it: a stdio transport writes the whole line in one piece
        fx.line = new Uint8Array(len + 1);
        fx.line.set(this.#bytes().subarray(ptr, ptr + len));
        fx.line[len] = 10;
        fx.payload = fx.line.subarray(0, len);
      } else if (kind === FX.MODEL_REQUEST) {
        fx.payload = len ? this.#bytes().slice(ptr, ptr + len) : new Uint8Array(0);
        if (fx.c === 1) fx.payload = this.#modelBody(fx.a, fx.b, fx.payload);
      } else if (kind === FX.OP_DONE && fx.b >= 0 && len >= CUT_MIN_ANSWER) {
        const value = this.#cutAnswer(i);
        if (value === undefined) fx.text = this.#text(ptr, len);
        else fx.value = value;
      } else fx.text = this.#text(ptr, len);
      out[i] = fx;
    }
    return out;
  }

  /**
   * The answer of effect `i`, parsed, when the core cut big strings out of it (ms_ctx_cut): the
   * rest is parsed (JSON.parse) and each string put back where it was, made straight from what
   * the core decoded. undefined when nothing was cut, or when anything does not fit (the caller
   * then parses the whole text: the core's answer is still in wasm memory).
   */
  #cutAnswer(i) {
    const x = this.#x, ctx = this.#ctx;
    if (x.ms_ctx_cut(ctx, i, CUT_MIN_STRING) <= 0) return undefined;
    let index, strings, value;
    try {
      index = JSON.parse(this.#text(x.ms_ctx_cut_ptr(ctx, 1), x.ms_ctx_cut_len(ctx, 1)));
      const data = x.ms_ctx_cut_ptr(ctx, 2) >>> 0;
      strings = index.map(([, wide, off, n]) => (wide ? this.#units(data + off, n) : this.#ascii(data + off, n)));
      value = JSON.parse(this.#text(x.ms_ctx_cut_ptr(ctx, 0), x.ms_ctx_cut_len(ctx, 0)));
    } catch {
      return undefined; // (never for what the core writes)
    }
    for (let k = 0; k < index.length; k++) {
      const path = index[k][0];
      let o = value;
      for (let d = 0; d < path.length - 1 && o !== null && typeof o === "object"; d++) o = o[path[d]];
      const last = path[path.length - 1];
      if (o === null || typeof o !== "object" || !Object.hasOwn(o, last) || o[last] !== null) return undefined;
      o[last] = strings[k];
    }
    return value;
  }

  /** The string of `n` ASCII bytes at wasm address ptr. */
  #ascii(ptr, n) {
    return NodeBuffer ? this.#nodeBytes().toString("latin1", ptr, ptr + n) : utf8.decode(this.#bytes().subarray(ptr, ptr + n));
  }

  /** The string of `n` UTF-16 units at wasm address ptr, lone surrogates kept (a TextDecoder would
   * make them U+FFFD). */
  #units(ptr, n) {
    if (NodeBuffer) return this.#nodeBytes().toString("utf16le", ptr, ptr + 2 * n);
    const units = new Uint16Array(this.#x.memory.buffer, ptr, n);
    let out = "";
    for (let at = 0; at < n; at += 8192) out += String.fromCharCode.apply(null, units.subarray(at, Math.min(n, at + 8192)));
    return out;
  }

  /**
   * A model request queued as its head (c = 1): the rest read part by part (ms_stream_model_body:
   * each part rendered in the core when asked for, so the whole body never exists in wasm
   * memory) and joined after the head here. Read at once, in takeEffects: nothing calls into the
   * stream between. A part the core cannot write gives the error instead of the bytes.
   * @returns {Uint8Array | MCPStreamError}
   */
  #modelBody(st, seq, head) {
    const x = this.#x, parts = [head];
    let total = head.length;
    for (;;) {
      const n = x.ms_stream_model_body(this.#ctx, st, seq);
      if (n === 0) break;
      if (n < 0) return new MCPStreamError(this.strerror(n) ?? "INTERNAL", `mcpstream core: ${this.error() || "the model request could not be written"}`);
      const ptr = x.ms_ctx_body_ptr(this.#ctx) >>> 0;
      parts.push(this.#bytes().slice(ptr, ptr + n));
      total += n;
    }
    const body = new Uint8Array(total);
    let at = 0;
    for (const p of parts) { body.set(p, at); at += p.length; }
    return body;
  }

  // ---- sessions
  sessionNew(owner, ownerId, name) {
    const x = this.#x; if (!x) return ERR.BAD_HANDLE;
    return x.ms_session_new(this.#ctx, owner, ownerId, this.#put(name));
  }
  sessionOpened(sid) {
    const x = this.#x; if (!x) return 0;
    x.ms_ctx_set_now(this.#ctx, now());
    return x.ms_session_opened(this.#ctx, sid);
  }
  sessionFeed(sid, bytes) {
    const x = this.#x; if (!x) return 0;
    x.ms_ctx_set_now(this.#ctx, now());
    return x.ms_session_feed(this.#ctx, sid, this.#put(bytes));
  }
  /** A server's own limits (SERVER_LIMITS names), before it is opened. */
  sessionSetLimit(sid, name, value) {
    return this.#x ? this.#x.ms_session_set_limit(this.#ctx, sid, LIMITS[name].id, value) : 0;
  }
  /** Streamable HTTP: SSE bytes of response `key`; true while request `key` waits for its answer. */
  sessionSseFeed(sid, key, bytes) {
    const x = this.#x; if (!x) return false;
    x.ms_ctx_set_now(this.#ctx, now()); // progress and answers in it reset deadlines
    return x.ms_session_sse_feed(this.#ctx, sid, key, this.#put(bytes)) === 1;
  }
  /** One whole JSON-RPC message (an application/json body). */
  sessionFeedMessage(sid, bytes) {
    const x = this.#x; if (!x) return 0;
    x.ms_ctx_set_now(this.#ctx, now());
    return x.ms_session_feed_message(this.#ctx, sid, this.#put(bytes));
  }
  /** The response for `key` ended; true when request `key` still waits for its answer. */
  sessionResponseEnd(sid, key) { return this.#x ? this.#x.ms_session_response_end(this.#ctx, sid, key) === 1 : false; }
  /** Request `key` gets no answer: it fails with core status `status` and `message`. */
  sessionRequestFailed(sid, key, status, message) {
    const x = this.#x; if (!x) return 0;
    return x.ms_session_request_failed(this.#ctx, sid, key, status, this.#put(message));
  }
  sessionClosed(sid, reason, message = "") {
    const x = this.#x; if (!x) return 0;
    return x.ms_session_closed(this.#ctx, sid, reason, this.#put(message));
  }
  sessionRequest(sid, opId, flags, method, params, timeoutMs = 0) {
    return this.sessionRequestJson(sid, opId, flags, method, params === undefined ? "" : JSON.stringify(params), timeoutMs);
  }
  /** sessionRequest with the params as JSON text ("" for none). */
  sessionRequestJson(sid, opId, flags, method, paramsJson, timeoutMs = 0) {
    const x = this.#x; if (!x) return ERR.BAD_HANDLE;
    x.ms_ctx_set_now(this.#ctx, now());
    let m, p;
    if (method.length + paramsJson.length <= PUT_DIRECT_CHARS) {
      // encoded straight into the input buffer (3 bytes per UTF-16 unit at most)
      const cap = 3 * (method.length + paramsJson.length);
      const ptr = x.ms_ctx_input(this.#ctx, cap);
      if (!ptr) throw new MCPStreamError("OUT_OF_MEMORY", "mcpstream core: out of memory for input");
      const into = this.#bytes().subarray(ptr, ptr + cap);
      m = encoder.encodeInto(method, into).written;
      p = encoder.encodeInto(paramsJson, into.subarray(m)).written;
    } else {
      // big params: encoded apart first, so the input buffer (wasm memory never shrinks) grows only to their size
      const mb = encoder.encode(method), pb = encoder.encode(paramsJson);
      const all = new Uint8Array(mb.length + pb.length);
      all.set(mb); all.set(pb, mb.length);
      this.#put(all);
      m = mb.length; p = pb.length;
    }
    return x.ms_session_request(this.#ctx, sid, opId, flags, m, p, timeoutMs);
  }
  sessionListTools(sid, opId) {
    const x = this.#x; if (!x) return ERR.BAD_HANDLE;
    x.ms_ctx_set_now(this.#ctx, now());
    return x.ms_session_list_tools(this.#ctx, sid, opId);
  }
  /** Declares client capabilities (CAP bits) in the session's initialize; before it is opened. */
  sessionSetCapabilities(sid, caps) { return this.#x ? this.#x.ms_session_set_capabilities(this.#ctx, sid, caps) : 0; }
  /**
   * Answers a server request (FX.SERVER_REQUEST): `idJson` its id as JSON; with errCode 0,
   * `body` is the result (JSON text of an object), else the error message.
   */
  sessionRespond(sid, idJson, body, errCode = 0) {
    const x = this.#x; if (!x) return 0;
    const i = encoder.encode(idJson), b = encoder.encode(body);
    const all = new Uint8Array(i.length + b.length);
    all.set(i); all.set(b, i.length);
    this.#put(all);
    return x.ms_session_respond(this.#ctx, sid, i.length, b.length, errCode);
  }
  sessionCancel(sid, opId, timeout) { return this.#x ? this.#x.ms_session_cancel(this.#ctx, sid, opId, timeout ? 1 : 0) : 0; }
  ownerClose(owner, ownerId, opId) { return this.#x ? this.#x.ms_owner_close(this.#ctx, owner, ownerId, opId) : ERR.BAD_HANDLE; }

  // ---- streams
  streamNew(config) {
    const x = this.#x; if (!x) return ERR.BAD_HANDLE;
    return x.ms_stream_new(this.#ctx, this.#put(JSON.stringify(config)));
  }
  /** Hands a NEW stream its sessions, once: { own: [server name], borrow: [session id] }. */
  streamSessions(st, sessions) {
    const x = this.#x; if (!x) return ERR.BAD_HANDLE;
    return x.ms_stream_sessions(this.#ctx, st, this.#put(JSON.stringify(sessions)));
  }
  streamNext(st) {
    const x = this.#x; if (!x) return STATUS.DONE;
    x.ms_ctx_set_now(this.#ctx, now());
    return x.ms_stream_next(this.#ctx, st);
  }
  streamReturn(st, why) { return this.#x ? this.#x.ms_stream_return(this.#ctx, st, why) : STATUS.DONE; }
  /** throw(e) into the stream: `message` (e's message) becomes its stream-end event's reason. */
  streamThrow(st, message) {
    const x = this.#x; if (!x) return STATUS.DONE;
    return x.ms_stream_throw(this.#ctx, st, this.#put(message));
  }
  /** The step of the last YIELD (its JSON text), or the last error's message. A step in parts
   * (the final step of a long answer, held in pieces of ~1 MiB by the core) is joined here,
   * part by part (ms_stream_output_next frees each part once read). */
  streamOutput(st) {
    const x = this.#x; if (!x) return "";
    let out = this.#text(x.ms_stream_output_ptr(this.#ctx, st), x.ms_stream_output_len(this.#ctx, st));
    while (x.ms_stream_output_next(this.#ctx, st) === 1) out += this.#text(x.ms_stream_output_ptr(this.#ctx, st), x.ms_stream_output_len(this.#ctx, st));
    return out;
  }
  streamModelFeed(st, seq, bytes) {
    const x = this.#x; if (!x) return 0;
    return x.ms_stream_model_feed(this.#ctx, st, seq, this.#put(bytes));
  }
  streamModelEnd(st, seq, status, bytes) {
    const x = this.#x; if (!x) return 0;
    // a whole response over the limit is refused by the core from its first
    // limit + 1 bytes: the rest is never copied into wasm memory (which never shrinks)
    const most = status === 200 ? this.#messageBytes + 1 : 65536;
    if (bytes && bytes.length > most) bytes = bytes.subarray(0, most);
    return x.ms_stream_model_end(this.#ctx, st, seq, status, bytes ? this.#put(bytes) : 0);
  }
  /** The error an ended stream ends with, without taking anything from it: its negative
   * code (message in error()), or 0 (not ended, or ended without an error). */
  streamEndError(st) { return this.#x ? this.#x.ms_stream_end_error(this.#ctx, st) : 0; }
  streamFree(st) { return this.#x ? this.#x.ms_stream_free(this.#ctx, st) : 0; }

  // ---- time (the runtime's one timer)
  /** Times out what is due; the caller drains the effects. */
  tick() { if (this.#x) this.#x.ms_ctx_tick(this.#ctx, now()); }
  /** When tick() is due next (the now() clock), or -1. */
  nextDeadline() { return this.#x ? this.#x.ms_ctx_next_deadline(this.#ctx) : -1; }

  // ---- numbers
  /** Streams not ended / sessions not closed (the core's counts; 0 once killed). */
  streamsOpen() { return this.#x ? this.#x.ms_ctx_streams_open(this.#ctx) : 0; }
  sessionsOpen() { return this.#x ? this.#x.ms_ctx_sessions_open(this.#ctx) : 0; }
  /** Allocations held by sessions and streams (not by the context's own buffers). */
  liveAllocations() { return this.#x ? this.#x.ms_live_allocations() - this.#x.ms_ctx_own_allocations(this.#ctx) : 0; }
  heapBytes() { return this.#x ? this.#x.memory.buffer.byteLength : 0; }
  /** Bytes the core's allocator hands out now (everything: the context's buffers too), and the most it ever did. */
  allocatedBytes() { return this.#x ? this.#x.ms_live_bytes() >>> 0 : 0; }
  peakAllocatedBytes() { return this.#x ? this.#x.ms_peak_bytes() >>> 0 : 0; }
}

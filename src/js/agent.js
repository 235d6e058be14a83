// agent.js — MCPAgent and its streams. A stream is an async iterator whose
// next / return / throw drive the core's generator of the same names; the
// lifecycle decisions (what to close, when the end is reached) are the core's.
import { OWNER, STATUS, END, ERR } from "./core.js";
import { coreError, coreStatus, invalidArgument, MCPStreamError, RuntimeDisposedError } from "./errors.js";
import { resolveRuntime, validateServers } from "./shared.js";
import { MCPClient, AGENT_OWNED } from "./client.js";
import { onAbort } from "./abort.js";
import { chatCompletionsURL } from "./hosts/model.js";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Abandoned streams (never returned) are cleaned up when collected: a safety net only. */
const abandoned = new FinalizationRegistry((driver) => driver._abandon());

export class MCPAgent {
  #runtimeOption;
  #llm;
  #servers;
  /** @type {MCPClient|null} */ #client;
  #options;
  /** @type {MCPClient|null} the sessions of the current connect(), owned by the agent */
  #own = null;
  /** @type {import("./runtime.js").Runtime|null} */ #runtime = null;
  /** streams created and not ended */ #drivers = new Set();
  /** close() calls still closing (settled copies, for later close() calls to wait on) */ #closing = new Set();
  #history = [];

  /**
   * @param {{runtime?:any, llm:any, mcpServers?:Record<string,any>, client?:MCPClient,
   *          maxSteps?:number, disallowedTools?:string[], systemPrompt?:string, memory?:boolean}} options
   */
  constructor(options) {
    if (!options || typeof options !== "object") throw invalidArgument("new MCPAgent(options): options must be an object with at least { llm }");
    const { runtime, llm, mcpServers, client, maxSteps = 10, disallowedTools = [], systemPrompt, memory = false, requestTimeoutMs } = options;
    if (client !== undefined && mcpServers !== undefined)
      throw invalidArgument("new MCPAgent: pass either mcpServers (sessions the agent's streams own) or client (a borrowed MCPClient), not both");
    if (client !== undefined && !(client instanceof MCPClient)) throw invalidArgument("new MCPAgent: client must be an MCPClient");
    if (typeof llm === "function") {
      this.#llm = llm;
    } else if (llm && typeof llm === "object" && typeof llm.baseURL === "string" && llm.baseURL) {
      for (const name of LLM_LIMITS) {
        const v = llm[name];
        if (v !== undefined && !(typeof v === "number" && v > 0))
          throw invalidArgument(`new MCPAgent: llm.${name} must be a positive number (Infinity for no limit)`);
      }
      this.#llm = { ...llm };
    } else {
      throw invalidArgument("new MCPAgent: llm must be { baseURL, apiKey?, model? } for an OpenAI-compatible endpoint, or an async function (request) => assistantMessage");
    }
    if (!Number.isInteger(maxSteps) || maxSteps < 1) throw invalidArgument("new MCPAgent: maxSteps must be a positive integer");
    if (!Array.isArray(disallowedTools) || !disallowedTools.every((t) => typeof t === "string"))
      throw invalidArgument("new MCPAgent: disallowedTools must be an array of tool names");
    if (systemPrompt !== undefined && typeof systemPrompt !== "string") throw invalidArgument("new MCPAgent: systemPrompt must be a string");
    if (requestTimeoutMs !== undefined && !(Number.isInteger(requestTimeoutMs) && requestTimeoutMs >= 1 && requestTimeoutMs <= 0x7fffffff))
      throw invalidArgument("new MCPAgent: requestTimeoutMs must be an integer from 1 to 2147483647");
    this.#servers = validateServers(mcpServers, "MCPAgent mcpServers");
    this.#client = client ?? null;
    this.#runtimeOption = runtime;
    this.#options = { maxSteps, disallowedTools: [...disallowedTools], systemPrompt, memory: !!memory, requestTimeoutMs };
  }

  /**
   * A stream of the agent's steps for one query. Nothing is opened until the
   * first next(); the core's stream is made now when the runtime is known.
   * @param {string} query
   * @param {{signal?: AbortSignal}} [options]
   */
  stream(query, options = {}) {
    if (typeof query !== "string") throw invalidArgument("agent.stream(query): query must be a string");
    const { signal } = options ?? {};
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgument("agent.stream: signal must be an AbortSignal");
    // the core stream is made now when the runtime is known (it counts in streamsOpen from now on)
    const rt = this.#runtime ?? (typeof this.#runtimeOption?._registerDriver === "function" ? this.#runtimeOption : null);
    const driver = new StreamDriver(this.#hooks, query, signal, rt);
    this.#drivers.add(driver); // from now on agent.close() aborts it
    return new AgentStream(driver);
  }

  /** Drains stream(query) and returns the final text. */
  async run(query, options) {
    let final = null;
    for await (const step of this.stream(query, options)) if (step.type === "final") final = step;
    return final ? final.text : "";
  }

  /** Opens the agent's sessions now; the agent owns them until close(). */
  connect() {
    if (this.#client) return this.#client.connect();
    // one connect() generation: an internal client with owner "agent" and its own owner id,
    // so closing it touches only its sessions
    this.#own ??= new MCPClient({ mcpServers: this.#servers }, { runtime: this.#rt(), [AGENT_OWNED]: true });
    const own = this.#own;
    const ready = own.connect();
    ready.catch(() => { if (this.#own === own) this.#own = null; }); // a failed generation is not kept
    return ready;
  }

  /**
   * Aborts every running stream of this agent (AbortError, code AGENT_CLOSED),
   * closes every session the agent owns, each once, and resolves when all is closed.
   */
  async close() {
    const own = this.#own;
    this.#own = null;
    const ends = [...this.#drivers].map((d) => d._abort("AGENT_CLOSED"));
    const mine = Promise.all([...ends, own?.close()]);
    // a close() still closing is part of "everything": every call waits for all of them
    const earlier = [...this.#closing];
    const tracked = mine.catch(() => {});
    this.#closing.add(tracked);
    try {
      await mine;
    } finally {
      await Promise.all(earlier);
      this.#closing.delete(tracked);
    }
  }

  async #rt() {
    this.#runtime ??= await resolveRuntime(this.#runtimeOption);
    return this.#runtime;
  }

  /** What a stream needs from its agent (kept off the public surface). */
  #hooks = {
    runtime: () => this.#rt(),
    llm: () => this.#llm,
    config: (query) => ({
      query,
      model: typeof this.#llm === "function" ? "" : (this.#llm.model ?? ""),
      endpoint: endpointName(this.#llm), // names it in the core's error messages
      systemPrompt: this.#options.systemPrompt ?? null,
      maxSteps: this.#options.maxSteps,
      requestTimeoutMs: this.#options.requestTimeoutMs ?? null,
      disallowedTools: this.#options.disallowedTools,
      history: this.#options.memory ? this.#history : [],
    }),
    /** Sessions to borrow and server names to open. */
    sessions: async (rt) => {
      if (this.#client) return { borrow: await this.#client._sessionIds(rt), own: [] };
      if (this.#own) return { borrow: await this.#own._sessionIds(rt), own: [] };
      return { borrow: [], own: Object.keys(this.#servers) };
    },
    serverConfig: (name) => this.#servers[name],
    ended: (d, query, final) => {
      this.#drivers.delete(d);
      if (final && this.#options.memory)
        this.#history.push({ role: "user", content: query }, { role: "assistant", content: final.text });
    },
  };
}

/** How error messages name the model endpoint: as the model host does (hosts/model.js). */
function endpointName(llm) {
  if (typeof llm === "function") return "the llm function";
  try {
    return chatCompletionsURL(llm.baseURL);
  } catch {
    return String(llm.baseURL);
  }
}

/** The public async iterator of an agent run. */
export class AgentStream {
  #d;
  constructor(driver) {
    this.#d = driver;
    abandoned.register(this, driver, driver);
  }
  /** @returns {Promise<IteratorResult<any, any>>} */
  next() { return this.#d.next(this); }
  /** @returns {Promise<IteratorResult<any, any>>} */
  return(value) { return this.#d.return(value, this); }
  /** @returns {Promise<IteratorResult<any, any>>} */
  throw(error) { return this.#d.throw(error, this); }
  [Symbol.asyncIterator]() { return this; }
  [Symbol.asyncDispose]() { return this.#d.return(undefined, this).then(() => undefined); }
  /** The stream id in the runtime's lifecycle events (0 until its runtime is known). */
  get id() { return this.#d.id; }
  /** toSSEResponse's hook (its client went away): ends the stream now, as its signal would. */
  [Symbol.for("mcpstream.interrupt")]() { return this.#d._abort("ABORTED"); }
}

/**
 * The state behind an AgentStream. It never references the AgentStream except
 * while calls are queued (so a stream with a call in flight cannot be
 * collected), which lets the FinalizationRegistry notice abandoned streams.
 *
 * The core stream is made as soon as the stream's runtime is known: in
 * agent.stream() when it is, else first thing when the stream is first used
 * (the default runtime still loading). It is NEW until its first next(); its
 * sessions are handed to it (ms_stream_sessions) once they are known. Every
 * end — return(), throw(), a signal, agent.close(), before or after the first
 * next() — is the core's (ms_stream_return / _throw), and so is its error and
 * its message (docs/architecture.md §3); this class maps codes to error
 * classes and does the waiting.
 */
class StreamDriver {
  id = 0;
  #hooks;
  #query;
  #signal;
  #offAbort = null;
  /** "new" | "starting" | "running" | "ended" (of the iterator; the core stream has its own) */
  #state = "new";
  /** its calls, in order (iterator protocol) */ #calls = new CallQueue();
  /** the runtime of the core stream, once it is made @type {any} */ #rt = null;
  /** the stream's runtime as far as known (given at creation, or resolved later) */ #home = null;
  /** making the core stream when the runtime was not known at creation (once) */ #making = null;
  /** why the core stream could not be made (reported by the first next()) */ #makeError = null;
  /** the effects the runtime hands it: model requests, wake-ups */ #fx;
  /** an error the pending (or next) next() reports after dispose() */
  #endError = null;
  /** a signal / agent.close() came before the core stream was made: it is ended so when made */
  #abortCode = null;
  /** next() / return() calls in progress */ #pending = 0;
  /** next() calls made and not yet settled (one rejects when the runtime is disposed) */ #nexts = 0;
  #final = null;
  #abandoned = false;
  /** the core reported stream-end: its cleanup is done */ #coreEnded = false;
  /** how a stream that ended while nobody awaited it ended (an error, or null), read when it
   * ended: reported by a next() after dispose(), when the core is gone (the first cause wins) */
  #unattendedEnd;
  #freed = false;
  #endResolve;
  #endPromise = new Promise((r) => { this.#endResolve = r; });
  #disposedResolve;
  #disposedPromise = new Promise((r) => { this.#disposedResolve = r; });

  constructor(hooks, query, signal, runtime) {
    this.#hooks = hooks;
    this.#query = query;
    this.#signal = signal;
    this.#fx = new StreamEffects(hooks.llm);
    if (runtime) this.#make(runtime);
    if (signal) {
      if (signal.aborted) this._abort("ABORTED");
      else this.#offAbort = onAbort(signal, () => this._abort("ABORTED"));
    }
  }

  get _coreEnded() { return this.#coreEnded; }

  /** Makes the core stream (NEW, no sessions yet) in rt. Synchronous: a handle allocation;
   * never throws (a failure is reported by the first next()). */
  #make(rt) {
    this.#home = rt;
    if (rt.disposed || this.#rt || this.#state === "ended") return;
    let id;
    try {
      id = rt._core.streamNew(this.#hooks.config(this.#query));
    } catch (e) {
      this.#makeError = e; // its config could not be copied into the core (out of memory)
      return;
    }
    if (id < 0) {
      this.#makeError = coreError(id, rt._core.error());
      return;
    }
    this.id = id;
    this.#rt = rt;
    this.#fx.attach(rt, id);
    rt._registerOwner(OWNER.stream, id, this.#hooks.serverConfig);
    rt._registerDriver(this);
    if (this.#abortCode) this.#endCore(this.#abortCode);
  }

  /** Resolves once the core stream is made, or cannot be (runtime disposed, or failed to load). */
  #ensure() {
    if (this.#rt || this.#makeError) return Promise.resolve();
    this.#making ??= this.#hooks.runtime().then((rt) => this.#make(rt), (e) => { this.#makeError = e; });
    return this.#making;
  }

  /** A signal or agent.close(): the core ends the stream, whatever state it is in. */
  #endCore(code) {
    const rt = this.#rt;
    if (!rt || rt.disposed || this.#coreEnded) return;
    rt._core.streamReturn(this.id, code === "AGENT_CLOSED" ? END.agentClosed : END.abort);
    rt._drain();
    this._wake();
  }

  next(holder) {
    this.#nexts++; // counted from the call: a next() called before dispose() is pending at it
    return this.#calls.run(() => this.#next(), holder);
  }
  return(value, holder) {
    return this.#calls.run(async () => {
      try {
        // as a native async generator does: a promise given to return() is awaited
        if (value !== null && (typeof value === "object" || typeof value === "function") && typeof value.then === "function") {
          try {
            value = await value;
          } catch (e) {
            await this.#return(undefined, END.throw, e).catch(() => {});
            throw e;
          }
        }
        return await this.#return(value, END.return);
      } finally {
        this.#endError = null; // the generator is finished: an end not yet reported is not reported
      }
    }, holder);
  }
  throw(error, holder) {
    return this.#calls.run(async () => {
      await this.#return(undefined, END.throw, error).catch(() => {}); // never masks `error`
      this.#endError = null;
      throw error;
    }, holder);
  }

  /** The error a negative core status ends the stream with; `out` is its message (the core's). */
  #endErrorOf(rc, out) {
    const model = this.#fx.modelError(rc, out);
    if (model) return model;
    const err = coreError(rc, out);
    if (rc === ABORTED && this.#signal?.aborted) err.cause = this.#signal.reason;
    return err;
  }

  /** Resolves with p, or with undefined as soon as the stream ended meanwhile. */
  #unlessEnded(p) {
    p.catch(() => {}); // once the stream ended nobody waits for it
    return Promise.race([p, this.#endPromise.then(() => undefined)]);
  }

  /** First next(): the core stream (made now if it was not), then its sessions, handed over once. */
  async #start() {
    this.#state = "starting";
    await this.#ensure();
    if (this.#makeError) throw this.#makeError;
    const rt = this.#rt;
    if (!rt) return this.#finish(); // its runtime was disposed: a next() pending at dispose() has its error
    if (!this.#coreEnded) {
      let sessions;
      try {
        sessions = await this.#unlessEnded(this.#hooks.sessions(rt));
      } catch (e) {
        // no sessions to run with (a client that failed to connect): the core ends it with e's message
        if (!rt.disposed && !this.#coreEnded) {
          rt._core.streamThrow(this.id, messageOf(e));
          rt._drain();
        }
        throw e;
      }
      if (!rt.disposed && !this.#coreEnded) {
        const rc = rt._core.streamSessions(this.id, sessions);
        if (rc < 0) throw coreError(rc, rt._core.error());
      }
    }
    if (this.#state === "starting") this.#state = "running";
  }

  /** The end as a later next() sees it: the pending error once, then done. */
  async #endResult() {
    const e = this.#endError;
    this.#endError = null;
    if (e instanceof RuntimeDisposedError) await this.#disposedPromise; // rule 4: after cleanup
    if (e) throw e;
    return { value: undefined, done: true };
  }

  async #next() {
    this.#pending++;
    try {
      if (this.#state === "new") {
        try {
          await this.#start();
        } catch (e) {
          this.#finish();
          throw e;
        }
      }
      if (this.#state !== "running") return await this.#endResult();
      return await this.#drive();
    } finally {
      this.#pending--;
      this.#nexts--;
    }
  }

  async #drive() {
    const rt = this.#rt, core = rt._core;
    rt._hold();
    try {
      for (;;) {
        if (this.#state !== "running") return await this.#endResult();
        if (rt.disposed) { // cleanup is the runtime's now; settle once it is done
          await this.#disposedPromise;
          return await this.#endResult();
        }
        this.#fx.arm();
        const rc = core.streamNext(this.id);
        // the output is borrowed until the next call into the core: read it first
        const out = rc === STATUS.YIELD || rc < 0 ? core.streamOutput(this.id) : "";
        rt._drain();
        if (rc === STATUS.YIELD) {
          const step = JSON.parse(out);
          if (step.type === "final") this.#final = step;
          return { value: step, done: false };
        }
        if (rc === STATUS.EFFECTS) continue;
        if (rc === STATUS.WAIT) {
          await this.#fx.sleep();
          continue;
        }
        if (rc === STATUS.DONE) {
          const final = this.#final;
          this.#finish();
          return { value: final ?? undefined, done: true };
        }
        const err = this.#endErrorOf(rc, out);
        this.#finish();
        throw err;
      }
    } finally {
      rt._release();
    }
  }

  /** `thrown`: the error given to throw() (why END.throw), whose message the stream-end event carries. */
  async #return(value, why, thrown) {
    if (this.#state === "ended") return { value, done: true };
    if (this.#state === "new") await this.#ensure(); // before its first next(): the core ends it too
    const rt = this.#rt;
    if (!rt) { // never made: nothing to end
      this.#finish();
      return { value, done: true };
    }
    const core = rt._core;
    rt._hold();
    this.#pending++; // the stream's end is awaited here
    try {
      if (!rt.disposed) {
        if (why === END.throw) core.streamThrow(this.id, messageOf(thrown));
        else core.streamReturn(this.id, why);
        rt._drain();
      }
      while (this.#state !== "ended") {
        if (rt.disposed) {
          await this.#disposedPromise;
          break;
        }
        this.#fx.arm();
        const rc = core.streamNext(this.id);
        rt._drain();
        if (rc === STATUS.WAIT) {
          await this.#fx.sleep();
          continue;
        }
        if (rc === STATUS.EFFECTS || rc === STATUS.YIELD) continue;
        this.#finish(); // DONE, or the end's error: the consumer is leaving, it is not reported
      }
    } finally {
      this.#pending--;
      rt._release();
    }
    this.#finish();
    return { value, done: true };
  }

  /** Ends the stream now (signal / agent.close()); resolves when its cleanup is done. */
  _abort(code) {
    if (this.#state === "ended") return this.#endPromise;
    // the first cause wins: after dispose() that is dispose (rule 5), not this abort
    if (this.#home?.disposed) {
      if (!this.#rt) this.#finish();
      return this.#endPromise;
    }
    this.#abortCode ??= code;
    if (this.#rt) {
      this.#endCore(code);
    } else {
      // its runtime is not known yet: the core stream is made for the end (at once when the
      // runtime is there), which the core reports at the next next()
      this.#ensure().then(() => { if (!this.#rt) this.#finish(); });
    }
    return this.#endPromise;
  }

  /** The core's stream-end event: cleanup has finished. */
  _ended() {
    this.#coreEnded = true;
    this.#endResolve();
    if (this.#abandoned) return this.#finish();
    if (this.#pending > 0 || this.#state === "ended") return;
    // Nobody waits on it (abort, agent.close(), a server exit while suspended). The core
    // keeps only its queued steps and its error (it released everything else) until the
    // consumer comes back for them; how it ended is noted here for a next() after dispose().
    const core = this.#rt._core;
    const rc = core.streamEndError(this.id);
    this.#unattendedEnd = rc < 0 ? this.#endErrorOf(rc, core.error()) : null;
  }

  // ---- effects the runtime dispatches to this stream (StreamEffects does them)
  _wake() { this.#fx.wake(); }
  _startModel(seq, payload) { this.#fx.start(seq, payload); }
  _abortModel(seq) { this.#fx.abort(seq); }

  /**
   * Disposal begins: no model I/O and no call into the core from now on. A
   * next() called before this moment and not settled rejects (after cleanup);
   * later ones resolve done. _disposed() always follows.
   */
  _disposing() {
    this.#fx.stop();
    if (this.#state === "ended") return;
    // the first cause wins: a stream that had ended before still reports that end
    if (this.#unattendedEnd !== undefined) this.#endError ??= this.#unattendedEnd;
    else if (this.#nexts > 0) this.#endError ??= new RuntimeDisposedError();
  }

  /** Disposal finished. */
  _disposed() {
    this.#finish();
    this.#disposedResolve();
  }

  /** The consumer dropped the stream without ending it (FinalizationRegistry). */
  _abandon() {
    const rt = this.#rt;
    if (this.#state === "ended") return;
    if (!rt || rt.disposed) return this.#finish();
    this.#abandoned = true;
    if (!this.#coreEnded) {
      rt._core.streamReturn(this.id, END.return);
      rt._drain();
    }
    if (this.#coreEnded) this.#finish(); // it had ended already, or ended at once
  }

  /** Frees the core stream (once, when it has ended) and leaves the runtime's tables. */
  #free() {
    const rt = this.#rt;
    if (this.#freed || !rt || rt.disposed || !this.#coreEnded) return;
    this.#freed = true;
    rt._core.streamFree(this.id);
    rt._unregisterOwner(OWNER.stream, this.id);
    rt._unregisterDriver(this);
  }

  #finish() {
    const was = this.#state;
    this.#state = "ended";
    this.#offAbort?.();
    this.#offAbort = null;
    abandoned.unregister(this);
    const rt = this.#rt;
    if ((was === "new" || was === "starting") && rt && !rt.disposed && !this.#coreEnded) {
      rt._core.streamReturn(this.id, END.return); // not started: it ends at once, nothing to close
      rt._drain();
    }
    this.#free();
    if (was !== "ended") this.#hooks.ended(this, this.#query, this.#final);
    this.#endResolve();
    this._wake(); // a loop waiting for the core sees the end
  }
}

/**
 * A stream's calls in the order they were made, as a native async generator
 * queues them: each runs once the one before it settled. While calls are
 * queued the AgentStream (`holder`) stays reachable, so a stream with a call
 * in flight cannot be collected by the FinalizationRegistry.
 */
class CallQueue {
  #chain = Promise.resolve();
  #queued = 0;
  #holder = null;

  /** Queues `fn`; resolves or rejects as it does. */
  run(fn, holder) {
    this.#queued++;
    this.#holder = holder;
    const p = this.#chain.then(fn);
    const unqueue = () => { if (--this.#queued === 0) this.#holder = null; };
    this.#chain = p.then(unqueue, unqueue);
    return p;
  }
}

/**
 * The effects the runtime hands to one core stream (docs/architecture.md §2):
 * MODEL_REQUEST / MODEL_ABORT (the model request in flight, and what the host
 * knows about how it ended) and WAKE (the stream can progress). No iterator
 * bookkeeping here: that is the StreamDriver's.
 */
class StreamEffects {
  /** () => the agent's llm option */ #llm;
  /** @type {any} */ #rt = null;
  #id = 0;
  /** the request in flight: { seq, handle } */ #model = null;
  /** the typed error the host ended the current model request with (a limit, a timeout, ...) */
  #failure = null;
  /** how the last model request ended: { endpoint, status, retryAfter } */
  #end = null;
  #wakeup = null;
  #woken = false;

  constructor(llm) { this.#llm = llm; }

  /** The core stream it serves. */
  attach(rt, id) {
    this.#rt = rt;
    this.#id = id;
  }

  /** Before a call into the core: a WAKE from now on is not missed. */
  arm() { this.#woken = false; }

  /** Resolves at the next wake(), at once if one came since arm(). */
  sleep() {
    if (this.#woken) return Promise.resolve();
    return new Promise((resolve) => { this.#wakeup = resolve; });
  }

  wake() {
    this.#woken = true;
    const w = this.#wakeup;
    this.#wakeup = null;
    w?.();
  }

  /** The typed error for a negative core status that came from the model path, or null. */
  modelError(rc, out) {
    const f = this.#failure;
    if (f && (rc === coreStatus(f.code) || (f.forced && rc === ABORTED))) return f;
    if (rc === LLM_HTTP || rc === LLM_PROTOCOL) return modelError(coreError(rc, out), this.#end);
    return null;
  }

  /** Disposal: no model I/O from now on. */
  stop() {
    this.#model?.handle.abort();
    this.#model = null;
  }

  /** MODEL_REQUEST: starts request `seq` of the stream. */
  start(seq, payload) {
    this.#model?.handle.abort();
    this.#failure = null;
    this.#end = null;
    const rt = this.#rt, id = this.#id;
    let endpoint = null;
    // Whatever goes wrong handing the model's bytes to the core (a copy into wasm memory
    // that fails for a huge answer, say) ends the stream with a typed error: it never
    // escapes from here, and the stream never waits for an end the core did not get.
    const guarded = (fn) => (...args) => {
      if (rt.disposed) return;
      try {
        fn(...args);
      } catch (e) {
        this.#broke(rt, seq, endpoint, e, args[1]);
      }
    };
    if (payload instanceof Error) { // the core could not write the request (out of memory)
      this.#failure = payload;
      this.#model = { seq, handle: { abort() {} } };
      queueMicrotask(() => {
        if (rt.disposed || this.#model?.seq !== seq) return;
        this.#model = null;
        rt._core.streamModelEnd(id, seq, coreStatus(payload.code), encoder.encode(payload.message.slice(0, 400)));
        rt._drain();
      });
      return;
    }
    const handle = rt._model(this.#llm(), decoder.decode(payload), {
      onChunk: guarded((bytes) => {
        rt._core.streamModelFeed(id, seq, bytes);
        rt._drain();
      }),
      onEnd: (status, bytes, detail) => {
        if (this.#model?.seq === seq) this.#model = null;
        endpoint = detail?.endpoint ?? null;
        this.#end = { endpoint, status, retryAfter: detail?.retryAfter };
        guarded(() => {
          if (detail?.error) {
            this.#failure = detail.error;
            rt._core.streamModelEnd(id, seq, coreStatus(detail.error.code), bytes);
          } else {
            rt._core.streamModelEnd(id, seq, status, bytes);
          }
          rt._drain();
        })(status, bytes);
      },
      onError: (e) => guarded(() => { throw e; })(),
    });
    this.#model = { seq, handle };
  }

  /** The model's answer could not be handed to the core: end the stream with a typed error. */
  #broke(rt, seq, endpoint, cause, bytes) {
    const code = cause?.code === "OUT_OF_MEMORY" || cause instanceof RangeError ? "OUT_OF_MEMORY" : "INTERNAL";
    const size = bytes?.byteLength ? ` (${bytes.byteLength} bytes)` : "";
    const err = new MCPStreamError(code,
      `the model's answer from ${endpoint ?? "the model endpoint"}${size} could not be passed to the core: ` +
      `${cause?.message ?? cause}`, { cause });
    err.endpoint = endpoint;
    this.#failure = err;
    if (this.#model?.seq === seq) {
      this.#model.handle.abort();
      this.#model = null;
    }
    try {
      // a short message: it fits in the input buffer the failed copy left behind
      rt._core.streamModelEnd(this.#id, seq, coreStatus(code), encoder.encode(err.message.slice(0, 400)));
    } catch {
      err.forced = true; // the core did not take even that: end the stream as aborted, reported as err
      rt._core.streamReturn(this.#id, END.abort);
    }
    try { rt._drain(); } catch { /* effects stay queued in the core; the next drain takes them */ }
    this.wake();
  }

  /** MODEL_ABORT: request `seq` is no longer wanted. */
  abort(seq) {
    if (this.#model?.seq !== seq) return;
    this.#model.handle.abort();
    this.#model = null;
  }
}

/** Numeric options of an llm object (see src/js/hosts/model.js). */
const LLM_LIMITS = ["maxResponseBytes", "firstByteTimeoutMs", "idleTimeoutMs"];

/** A model error from the core, with what the host knows: `endpoint`, and for an HTTP error
 * `status` and `retryAfter` (the Retry-After header, as sent); the message names the endpoint. */
function modelError(err, end) {
  if (!end?.endpoint) return err;
  err.endpoint = end.endpoint;
  const notes = [];
  if (!err.message.includes(end.endpoint)) notes.push(/^https?:/.test(end.endpoint) ? `POST ${end.endpoint}` : `from ${end.endpoint}`);
  if (end.status !== 200 && end.status > 0) err.status = end.status;
  if (end.retryAfter !== undefined && end.status !== 200) {
    err.retryAfter = end.retryAfter;
    notes.push(`Retry-After: ${end.retryAfter}`);
  }
  if (notes.length) err.message = `${err.message} (${notes.join("; ")})`;
  return err;
}

const { LLM_HTTP, LLM_PROTOCOL, ABORTED, AGENT_CLOSED } = ERR;

/** The message of a thrown value (an Error's message, else its string form; "" when it has none). */
function messageOf(thrown) {
  try {
    if (thrown instanceof Error) return String(thrown.message);
    return thrown === undefined ? "" : String(thrown);
  } catch {
    return "";
  }
}

// agent.js — MCPAgent and its streams. A stream is an async iterator whose
// next / return / throw drive the core's generator of the same names; the
// lifecycle decisions (what to close, when the end is reached) are the core's.
import { OWNER, STATUS, END } from "./core.js";
import { coreError, invalidArgument, AbortError, RuntimeDisposedError, MCPStreamError } from "./errors.js";
import { resolveRuntime, validateServers } from "./shared.js";
import { MCPClient } from "./client.js";

const decoder = new TextDecoder();

/** Abandoned streams (never returned) are cleaned up when collected: a safety net only. */
const abandoned = new FinalizationRegistry((driver) => driver._abandon());

export class MCPAgent {
  #runtimeOption;
  #llm;
  #servers;
  /** @type {MCPClient|null} */ #client;
  #options;
  /** agent-owned sessions (after connect()): name → sid */ #sids = new Map();
  /** @type {Promise<void>|null} */ #connecting = null;
  #id = 0;
  /** @type {any} */ #runtime = null;
  /** running streams */ #drivers = new Set();
  #history = [];
  /** how many times close() was called (a connect() that began before a close() opens nothing) */
  #closes = 0;

  /**
   * @param {{runtime?:any, llm:any, mcpServers?:Record<string,any>, client?:MCPClient,
   *          maxSteps?:number, disallowedTools?:string[], systemPrompt?:string, memory?:boolean}} options
   */
  constructor(options) {
    if (!options || typeof options !== "object") throw invalidArgument("new MCPAgent(options): options must be an object with at least { llm }");
    const { runtime, llm, mcpServers, client, maxSteps = 10, disallowedTools = [], systemPrompt, memory = false } = options;
    if (client !== undefined && mcpServers !== undefined)
      throw invalidArgument("new MCPAgent: pass either mcpServers (sessions the agent's streams own) or client (a borrowed MCPClient), not both");
    if (client !== undefined && !(client instanceof MCPClient)) throw invalidArgument("new MCPAgent: client must be an MCPClient");
    if (typeof llm === "function") {
      this.#llm = llm;
    } else if (llm && typeof llm === "object" && typeof llm.baseURL === "string" && llm.baseURL) {
      this.#llm = { ...llm };
    } else {
      throw invalidArgument("new MCPAgent: llm must be { baseURL, apiKey?, model? } for an OpenAI-compatible endpoint, or an async function (request) => assistantMessage");
    }
    if (!Number.isInteger(maxSteps) || maxSteps < 1) throw invalidArgument("new MCPAgent: maxSteps must be a positive integer");
    if (!Array.isArray(disallowedTools) || !disallowedTools.every((t) => typeof t === "string"))
      throw invalidArgument("new MCPAgent: disallowedTools must be an array of tool names");
    if (systemPrompt !== undefined && typeof systemPrompt !== "string") throw invalidArgument("new MCPAgent: systemPrompt must be a string");
    this.#servers = validateServers(mcpServers, "MCPAgent mcpServers");
    this.#client = client ?? null;
    this.#runtimeOption = runtime;
    this.#options = { maxSteps, disallowedTools: [...disallowedTools], systemPrompt, memory: !!memory };
  }

  /**
   * A stream of the agent's steps for one query. Nothing is opened until the
   * first next().
   * @param {string} query
   * @param {{signal?: AbortSignal}} [options]
   */
  stream(query, options = {}) {
    if (typeof query !== "string") throw invalidArgument("agent.stream(query): query must be a string");
    const { signal } = options ?? {};
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgument("agent.stream: signal must be an AbortSignal");
    // counted in streamsOpen from now on when the runtime is known already
    const rt = this.#runtime ?? (typeof this.#runtimeOption?._streamCreated === "function" ? this.#runtimeOption : null);
    const driver = new StreamDriver(this, this.#hooks, query, signal, rt);
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
    this.#connecting ??= this.#connect().catch((e) => { this.#connecting = null; throw e; });
    return this.#connecting;
  }

  async #connect() {
    if (this.#client) return void (await this.#client.connect());
    const closes = this.#closes;
    const rt = await this.#rt();
    // close() came while the runtime was being resolved: open nothing
    if (closes !== this.#closes) throw new AbortError("AGENT_CLOSED", "agent.close() was called while agent.connect() was starting");
    rt._registerOwner(OWNER.agent, this.#id, (name) => this.#servers[name]);
    const sids = [];
    for (const name of Object.keys(this.#servers)) {
      const sid = rt._core.sessionNew(OWNER.agent, this.#id, name);
      if (sid < 0) throw coreError(sid, rt._core.error());
      this.#sids.set(name, sid);
      sids.push(sid);
    }
    rt._drain();
    try {
      await Promise.all(sids.map((sid) => rt._op((op) => rt._core.sessionListTools(sid, op))));
    } catch (e) {
      await this.#closeOwned(rt);
      throw e;
    }
  }

  /**
   * Aborts every running stream of this agent (AbortError, code AGENT_CLOSED),
   * closes every session the agent owns, each once, and resolves when all is closed.
   */
  async close() {
    this.#closes++;
    const ends = [...this.#drivers].map((d) => d._abort("AGENT_CLOSED"));
    const rt = this.#runtime;
    this.#connecting = null;
    await Promise.all([...ends, rt ? this.#closeOwned(rt) : null]);
  }

  async #closeOwned(rt) {
    this.#sids.clear();
    if (!this.#id || rt.disposed) return;
    await rt._op((op) => rt._core.ownerClose(OWNER.agent, this.#id, op)).catch((e) => {
      if (!(e instanceof RuntimeDisposedError)) throw e;
    });
  }

  async #rt() {
    if (!this.#runtime) {
      const rt = await resolveRuntime(this.#runtimeOption);
      if (!this.#runtime) {
        this.#runtime = rt;
        this.#id = rt._newOwnerId();
      }
    }
    return this.#runtime;
  }

  /** What a stream needs from its agent (kept off the public surface). */
  #hooks = {
    runtime: () => this.#rt(),
    llm: () => this.#llm,
    config: (query) => ({
      query,
      model: typeof this.#llm === "function" ? "" : (this.#llm.model ?? ""),
      systemPrompt: this.#options.systemPrompt ?? null,
      maxSteps: this.#options.maxSteps,
      disallowedTools: this.#options.disallowedTools,
      history: this.#options.memory ? this.#history : [],
    }),
    /** Sessions to borrow and server names to open. */
    sessions: async (rt) => {
      if (this.#client) return { borrow: await this.#client._sessionIds(rt), own: [] };
      if (this.#connecting) {
        await this.#connecting;
        return { borrow: [...this.#sids.values()], own: [] };
      }
      return { borrow: [], own: Object.keys(this.#servers) };
    },
    serverConfig: (name) => this.#servers[name],
    started: (d) => this.#drivers.add(d),
    ended: (d, query, final) => {
      this.#drivers.delete(d);
      if (final && this.#options.memory)
        this.#history.push({ role: "user", content: query }, { role: "assistant", content: final.text });
    },
  };
}

/** The public async iterator of an agent run. */
export class AgentStream {
  #d;
  constructor(driver) {
    this.#d = driver;
    abandoned.register(this, driver, driver);
  }
  /** @returns {Promise<IteratorResult<any, any>>} */
  next() { return this.#d.next(); }
  /** @returns {Promise<IteratorResult<any, any>>} */
  return(value) { return this.#d.return(value); }
  /** @returns {Promise<IteratorResult<any, any>>} */
  throw(error) { return this.#d.throw(error); }
  [Symbol.asyncIterator]() { return this; }
  [Symbol.asyncDispose]() { return this.#d.return(undefined).then(() => undefined); }
  /** The stream id in the runtime's lifecycle events (0 until the first next()). */
  get id() { return this.#d.id; }
}

class StreamDriver {
  id = 0;
  #agent;
  #query;
  #signal;
  #onAbort = null;
  /** "new" | "starting" | "running" | "ended" */
  #state = "new";
  #chain = Promise.resolve();
  /** @type {any} */ #rt = null;
  #wakeup = null;
  #woken = false;
  /** an error the next pending next() reports (abort before start, dispose) */
  #endError = null;
  #abortCode = null;
  #pending = 0;
  #final = null;
  #model = null;
  #abandonedFlag = false;
  #endResolve;
  #endPromise = new Promise((r) => { this.#endResolve = r; });
  #freed = false;
  /** the runtime that counts this stream in streamsOpen until it starts or ends */
  #counted = null;

  constructor(agent, hooks, query, signal, runtime) {
    this.#agent = hooks;
    this.#query = query;
    this.#signal = signal;
    if (runtime && !runtime.disposed) {
      runtime._streamCreated(this);
      this.#counted = runtime;
    }
    if (signal) {
      if (signal.aborted) this._abort("ABORTED");
      else {
        this.#onAbort = () => this._abort("ABORTED");
        signal.addEventListener("abort", this.#onAbort, { once: true });
      }
    }
  }

  #enqueue(fn) {
    const p = this.#chain.then(fn);
    this.#chain = p.catch(() => {});
    return p;
  }

  next() { return this.#enqueue(() => this.#next()); }
  return(value) { return this.#enqueue(() => this.#return(value, END.return)); }
  throw(error) {
    return this.#enqueue(async () => {
      await this.#return(undefined, END.throw);
      throw error;
    });
  }

  #abortError(code) {
    return code === "AGENT_CLOSED"
      ? new AbortError("AGENT_CLOSED", "the agent was closed while the stream was running")
      : new AbortError("ABORTED", "the stream was aborted by its signal", { cause: this.#signal?.reason });
  }

  async #start() {
    this.#state = "starting";
    const rt = (this.#rt = await this.#agent.runtime());
    if (this.#state !== "starting") return; // aborted or disposed meanwhile
    rt._check();
    const { borrow, own } = await this.#agent.sessions(rt);
    if (this.#state !== "starting") return;
    rt._check();
    const id = rt._core.streamNew({ ...this.#agent.config(this.#query), borrow, own });
    if (id < 0) throw coreError(id, rt._core.error());
    this.id = id;
    rt._registerOwner(OWNER.stream, id, this.#agent.serverConfig);
    rt._registerDriver(this);
    this.#agent.started(this);
    this.#state = "running";
  }

  #takeEndError() {
    const e = this.#endError;
    this.#endError = null;
    return e;
  }

  async #next() {
    if (this.#state === "new") {
      try {
        await this.#start();
      } catch (e) {
        this.#finish();
        throw e;
      }
    }
    if (this.#state !== "running") {
      const e = this.#takeEndError();
      if (e) throw e;
      return { value: undefined, done: true };
    }
    const rt = this.#rt, core = rt._core;
    this.#pending++;
    rt._hold();
    try {
      for (;;) {
        if (this.#state !== "running") { // disposed while waiting
          const e = this.#takeEndError();
          if (e) throw e;
          return { value: undefined, done: true };
        }
        this.#woken = false;
        const rc = core.streamNext(this.id);
        rt._drain();
        if (rc === STATUS.YIELD) {
          const step = JSON.parse(core.streamOutput(this.id));
          if (step.type === "final") this.#final = step;
          return { value: step, done: false };
        }
        if (rc === STATUS.EFFECTS) continue;
        if (rc === STATUS.WAIT) {
          if (!this.#woken) await this.#sleep();
          continue;
        }
        if (rc === STATUS.DONE) {
          const final = this.#final;
          this.#finish();
          return { value: final ?? undefined, done: true };
        }
        const err = rc === -12 || rc === -13 ? this.#abortError(this.#abortCode ?? (rc === -13 ? "AGENT_CLOSED" : "ABORTED"))
                                             : coreError(rc, core.streamOutput(this.id));
        this.#finish();
        throw err;
      }
    } finally {
      this.#pending--;
      rt._release();
    }
  }

  async #return(value, why) {
    if (this.#state === "new") { this.#finish(); return { value, done: true }; }
    if (this.#state !== "running") return { value, done: true };
    const rt = this.#rt, core = rt._core;
    rt._hold();
    try {
      core.streamReturn(this.id, why);
      rt._drain();
      while (this.#state === "running") {
        this.#woken = false;
        const rc = core.streamNext(this.id);
        rt._drain();
        if (rc === STATUS.WAIT) { if (!this.#woken) await this.#sleep(); continue; }
        if (rc === STATUS.EFFECTS || rc === STATUS.YIELD) continue;
        this.#finish(); // DONE, or the end's error: the consumer is leaving, it is not reported
      }
    } finally {
      rt._release();
    }
    return { value, done: true };
  }

  #sleep() {
    return new Promise((resolve) => { this.#wakeup = resolve; });
  }

  /** Ends the stream now (signal / agent.close()); resolves when its cleanup is done. */
  _abort(code) {
    if (this.#state === "ended") return this.#endPromise;
    this.#abortCode ??= code;
    if (this.#state === "new" || this.#state === "starting") {
      this.#endError = this.#abortError(code);
      this.#finish();
      return this.#endPromise;
    }
    const rt = this.#rt;
    if (rt.disposed) return this.#endPromise;
    rt._core.streamReturn(this.id, code === "AGENT_CLOSED" ? END.agentClosed : END.abort);
    rt._drain();
    this._wake();
    return this.#endPromise;
  }

  /** The core's stream-end event: cleanup has finished. */
  _ended() {
    this.#endResolve();
    if (this.#abandonedFlag) this.#finish();
  }

  _wake() {
    this.#woken = true;
    const w = this.#wakeup;
    this.#wakeup = null;
    w?.();
  }

  /** The runtime is being disposed: never touch the core again. */
  _disposed() {
    if (this.#pending > 0) this.#endError = new RuntimeDisposedError();
    this.#model?.handle.abort();
    this.#model = null;
    this.#state = "ended";
    this.#cleanupListeners();
    this.#endResolve();
    this._wake();
  }

  /** The consumer dropped the stream without ending it (FinalizationRegistry). */
  _abandon() {
    if (this.#state !== "running" || !this.#rt || this.#rt.disposed) {
      if (this.#state !== "running") this.#finish();
      return;
    }
    this.#abandonedFlag = true;
    this.#rt._core.streamReturn(this.id, END.return);
    this.#rt._drain();
  }

  _startModel(seq, payload) {
    this.#model?.handle.abort();
    const rt = this.#rt, id = this.id;
    const handle = rt._model(this.#agent.llm(), decoder.decode(payload), {
      onChunk: (bytes) => {
        if (rt.disposed) return;
        rt._core.streamModelFeed(id, seq, bytes);
        rt._drain();
      },
      onEnd: (status, bytes) => {
        if (this.#model?.seq === seq) this.#model = null;
        if (rt.disposed) return;
        rt._core.streamModelEnd(id, seq, status, bytes);
        rt._drain();
      },
    });
    this.#model = { seq, handle };
  }

  _abortModel(seq) {
    if (this.#model?.seq !== seq) return;
    this.#model.handle.abort();
    this.#model = null;
  }

  #cleanupListeners() {
    if (this.#onAbort) this.#signal.removeEventListener("abort", this.#onAbort);
    this.#onAbort = null;
  }

  #finish() {
    const was = this.#state;
    this.#state = "ended";
    this.#cleanupListeners();
    abandoned.unregister(this);
    this.#counted?._streamEnded(this);
    this.#counted = null;
    const rt = this.#rt;
    if (was === "running" || this.#abandonedFlag) {
      if (!this.#freed && rt && !rt.disposed) {
        this.#freed = true;
        rt._core.streamFree(this.id);
        rt._unregisterOwner(OWNER.stream, this.id);
        rt._unregisterDriver(this);
      }
    }
    if (was !== "ended") this.#agent.ended(this, this.#query, this.#final);
    if (was === "new" || was === "starting") this.#endResolve();
  }
}

export { MCPStreamError };

// client.js — MCPClient: sessions the user owns, for direct tool calls and to
// lend to agents (a stream never closes a client's sessions).
import { OWNER, CAP } from "./core.js";
import { REQ } from "./constants.js";
import { invalidArgument, AbortError, MCPStreamError, RuntimeDisposedError } from "./errors.js";
import { onAbort as subscribeAbort, raceAbort } from "./abort.js";
import { resolveRuntime, validateServers } from "./shared.js";

/** A server paginating a list past this is broken (the same bound as tools/list in the core). */
const MAX_PAGES = 1000;

/** @internal An option key (not public API): the client holds an MCPAgent's own sessions
 * (owner "agent"): MCPAgent.connect() opens them through one such client per generation. */
export const AGENT_OWNED = Symbol("mcpstream.agentOwned");

/** Levels of logging/setLevel (RFC 5424 names, least severe first). */
const LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/** JSON-RPC "invalid params": what a server request asks for cannot be done as asked. */
const INVALID_PARAMS = -32602;
const rpcError = (code, message) => Object.assign(new Error(message), { rpcCode: code });
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** The client's side of the server requests it declared: validated answers of the callbacks. */
const SERVER_REQUESTS = {
  "sampling/createMessage": async (cb, server, params, signal) => {
    const r = await cb.onSampling(params, { server, signal });
    const content = r?.content;
    if (!isObject(r) || (r.role !== "assistant" && r.role !== "user") || typeof r.model !== "string" ||
        !(isObject(content) || (Array.isArray(content) && content.every(isObject))))
      throw new Error(`onSampling must resolve to a CreateMessageResult { role, content, model, stopReason? }; got ${brief(r)}`);
    return r;
  },
  "elicitation/create": async (cb, server, params, signal) => {
    if (params.mode !== undefined && params.mode !== "form")
      throw rpcError(INVALID_PARAMS, `elicitation mode '${params.mode}' is not supported by this client (form only)`);
    const r = await cb.onElicitation(params, { server, signal });
    if (!isObject(r) || !["accept", "decline", "cancel"].includes(r.action) || (r.content !== undefined && !isObject(r.content)))
      throw new Error(`onElicitation must resolve to { action: "accept" | "decline" | "cancel", content? }; got ${brief(r)}`);
    if (r.action !== "accept") return { ...r, content: undefined };
    return { ...r, content: withDefaults(params.requestedSchema, r.content ?? {}) };
  },
  "roots/list": async (cb, server, params, signal) => {
    const roots = typeof cb.roots === "function" ? await cb.roots({ server, signal }) : cb.roots;
    const bad = checkRoots(roots);
    if (bad) throw new Error(`roots ${bad}`);
    return { roots: roots.map((r) => ({ ...r })) };
  },
};

/** SEP-1034: a field the answer leaves out gets the default of its schema. */
function withDefaults(schema, content) {
  const out = { ...content };
  const props = isObject(schema) && isObject(schema.properties) ? schema.properties : {};
  for (const [name, prop] of Object.entries(props))
    if (!Object.hasOwn(out, name) && isObject(prop) && Object.hasOwn(prop, "default")) out[name] = prop.default;
  return out;
}

/** What is wrong with a list of roots, or null. */
function checkRoots(roots) {
  if (!Array.isArray(roots)) return `must be an array of { uri, name? }; got ${brief(roots)}`;
  for (const r of roots) {
    if (!isObject(r) || typeof r.uri !== "string" || !r.uri.startsWith("file://"))
      return `must each be { uri: "file://…", name? }; got ${brief(r)}`;
    if (r.name !== undefined && typeof r.name !== "string") return `names must be strings; got ${brief(r)}`;
  }
  return null;
}

function brief(v) {
  let t;
  try { t = JSON.stringify(v); } catch { t = undefined; }
  t ??= String(v);
  return t.length > 120 ? `${t.slice(0, 120)}…` : t;
}

export class MCPClient extends EventTarget {
  #servers;
  #runtimeOption;
  /** OWNER.client, or OWNER.agent for an agent's own sessions (AGENT_OWNED) */ #owner;
  /** @type {import("./runtime.js").Runtime|null} */ #runtime = null;
  #id = 0;
  /** name → session id */ #sids = new Map();
  /** @type {Promise<void>|null} */ #connecting = null;
  /** connect() resolved: calls need not wait for it */ #connected = false;
  #closed = false;
  /** Why connect() failed (the client then closed itself), for the calls that come after. */
  #connectError = null;
  /** { onSampling?, onElicitation?, roots? } as given */ #callbacks;
  #caps = 0;

  /**
   * @param {{mcpServers: Record<string, any>}} config Claude-Desktop style config
   * @param {{runtime?: import("./runtime.js").Runtime | Promise<import("./runtime.js").Runtime>,
   *          onSampling?: Function, onElicitation?: Function, roots?: any[] | Function}} [options]
   */
  constructor(config, options = {}) {
    super();
    if (!config || typeof config !== "object") throw invalidArgument("new MCPClient(config): config must be an object like { mcpServers: { name: { command, args } } }");
    if (!options || typeof options !== "object") throw invalidArgument("new MCPClient(config, options): options must be an object");
    this.#servers = validateServers(config.mcpServers, "MCPClient config.mcpServers");
    this.#runtimeOption = options.runtime;
    this.#owner = options[AGENT_OWNED] ? OWNER.agent : OWNER.client;
    const { onSampling, onElicitation, roots } = options;
    for (const [name, fn] of [["onSampling", onSampling], ["onElicitation", onElicitation]])
      if (fn !== undefined && typeof fn !== "function") throw invalidArgument(`new MCPClient(config, { ${name} }): ${name} must be a function`);
    if (roots !== undefined && typeof roots !== "function") {
      const bad = checkRoots(roots);
      if (bad) throw invalidArgument(`new MCPClient(config, { roots }): roots ${bad}`);
    }
    this.#callbacks = { onSampling, onElicitation, roots: Array.isArray(roots) ? roots.map((r) => ({ ...r })) : roots };
    this.#caps = (onSampling ? CAP.sampling : 0) | (onElicitation ? CAP.elicitation : 0) | (roots !== undefined ? CAP.roots : 0);
  }

  /** Server names, in config order. */
  get serverNames() { return Object.keys(this.#servers); }

  /** Opens (and initializes) a session for every server. Idempotent. */
  connect() {
    if (this.#closed) return Promise.reject(this.#closedError());
    this.#connecting ??= this.#connect();
    return this.#connecting;
  }

  async #connect() {
    const rt = (this.#runtime = await resolveRuntime(this.#runtimeOption));
    rt._check();
    // close() came while the runtime was being resolved: open nothing
    if (this.#closed) {
      if (this.#owner === OWNER.agent) throw new AbortError("AGENT_CLOSED", "agent.close() was called while agent.connect() was starting");
      throw new MCPStreamError("INVALID_STATE", "this MCPClient was closed while it was connecting; create a new one");
    }
    this.#id = rt._newOwnerId();
    rt._registerOwner(this.#owner, this.#id, (name) => this.#servers[name], {
      caps: this.#caps,
      serverRequest: (server, method, params, signal) => {
        const handle = SERVER_REQUESTS[method];
        if (!handle) throw rpcError(-32601, `Method not found: ${method}`);
        return handle(this.#callbacks, server, params, signal);
      },
      notification: (server, method, params) => this.#notification(server, method, params),
    });
    try {
      await rt._openSessions(this.#owner, this.#id, Object.keys(this.#servers), this.#sids);
      this.#connected = true;
    } catch (e) {
      this.#connectError ??= e;
      await this.close().catch(() => {});
      throw e;
    }
  }

  /** The error of a call on a closed client: after a failed connect(), that failure. */
  #closedError() {
    const e = this.#connectError;
    if (!e) return new MCPStreamError("INVALID_STATE", "this MCPClient was closed; create a new one");
    const why = e.code ? `${e.code}: ${e.message}` : String(e?.message ?? e);
    return new MCPStreamError("INVALID_STATE", `this MCPClient could not connect (${why}) and is closed; create a new one`, { cause: e });
  }

  /** A server's notification as a client event (README "Client events"). */
  #notification(server, method, params) {
    const list = /^notifications\/(tools|resources|prompts)\/list_changed$/.exec(method)?.[1];
    if (list) this.dispatchEvent(new CustomEvent("list-changed", { detail: Object.freeze({ server, list }) }));
    else if (method === "notifications/resources/updated" && typeof params.uri === "string")
      this.dispatchEvent(new CustomEvent("resource-updated", { detail: Object.freeze({ server, uri: params.uri }) }));
  }

  /** @internal session ids to lend to an agent's streams */
  async _sessionIds(runtime) {
    await this.connect();
    if (runtime && runtime !== this.#runtime)
      throw invalidArgument("the MCPClient and the MCPAgent must use the same runtime");
    return [...this.#sids.values()];
  }

  #sid(server) {
    const sid = this.#sids.get(server);
    if (sid === undefined) throw invalidArgument(`unknown server '${server}'; configured: ${this.serverNames.join(", ") || "(none)"}`);
    return sid;
  }

  /** Runs an op on a session; a session the core no longer knows is a closed one. */
  #op(server, start, onProgress) {
    const rt = this.#runtime;
    return rt._op(start, onProgress).catch((e) => {
      if (e?.code !== "INVALID_HANDLE") throw e;
      throw new MCPStreamError("MCP_TRANSPORT_CLOSED",
        `the session with server '${server}' is closed (its server exited or the client was closed); create a new MCPClient`);
    });
  }

  /** @returns {Promise<{server:string,name:string,description?:string,inputSchema:any}[]>} */
  async listTools() {
    await this.connect();
    const rt = this.#runtime;
    const out = [];
    for (const [server, sid] of this.#sids) {
      const tools = await this.#op(server, (op) => rt._core.sessionListTools(sid, op));
      for (const t of tools) out.push({ server, name: t.name, description: t.description, inputSchema: t.inputSchema });
    }
    return out;
  }

  /** Resources of every server (all pages): [{ server, uri, name, description?, mimeType?, … }]. */
  listResources() { return this.#listAll("resources/list", "resources"); }

  /** Resource templates of every server (all pages): [{ server, uriTemplate, name, … }]. */
  listResourceTemplates() { return this.#listAll("resources/templates/list", "resourceTemplates"); }

  /** Reads a resource: the MCP ReadResourceResult { contents: [{ uri, mimeType?, text | blob }] }. */
  async readResource(server, uri) {
    if (typeof uri !== "string" || !uri) throw invalidArgument("readResource(server, uri): uri must be a non-empty string");
    return this.#request(server, "resources/read", { uri });
  }

  /** Prompts of every server (all pages): [{ server, name, description?, arguments? }]. */
  listPrompts() { return this.#listAll("prompts/list", "prompts"); }

  /** Gets a prompt: the MCP GetPromptResult { description?, messages }. */
  async getPrompt(server, name, args = {}) {
    if (typeof name !== "string" || !name) throw invalidArgument("getPrompt(server, name, args): name must be a non-empty string");
    if (args === null || typeof args !== "object" || Array.isArray(args) || !Object.values(args).every((v) => typeof v === "string"))
      throw invalidArgument("getPrompt(server, name, args): args must be an object of strings");
    return this.#request(server, "prompts/get", { name, arguments: args });
  }

  /** Asks `server` for notifications/resources/updated of `uri`: 'resource-updated' events. */
  async subscribeResource(server, uri) {
    if (typeof uri !== "string" || !uri) throw invalidArgument("subscribeResource(server, uri): uri must be a non-empty string");
    await this.#request(server, "resources/subscribe", { uri });
  }

  /** Ends a subscribeResource. */
  async unsubscribeResource(server, uri) {
    if (typeof uri !== "string" || !uri) throw invalidArgument("unsubscribeResource(server, uri): uri must be a non-empty string");
    await this.#request(server, "resources/unsubscribe", { uri });
  }

  /** logging/setLevel: the least severe level of the notifications/message `server` sends ('log' events of the runtime). */
  async setLoggingLevel(server, level) {
    if (!LOG_LEVELS.includes(level)) throw invalidArgument(`setLoggingLevel(server, level): level must be one of ${LOG_LEVELS.join(", ")}`);
    await this.#request(server, "logging/setLevel", { level });
  }

  /**
   * completion/complete: values for an argument of a prompt or of a resource template.
   * @param {string} server
   * @param {{type: "ref/prompt", name: string} | {type: "ref/resource", uri: string}} ref
   * @param {{name: string, value: string}} argument
   * @param {{arguments?: Record<string, string>}} [context] arguments already chosen
   * @returns {Promise<{completion: {values: string[], total?: number, hasMore?: boolean}}>}
   */
  async complete(server, ref, argument, context) {
    const where = "complete(server, ref, argument, context)";
    const okRef = isObject(ref) && ((ref.type === "ref/prompt" && typeof ref.name === "string" && ref.name) ||
                                    (ref.type === "ref/resource" && typeof ref.uri === "string" && ref.uri));
    if (!okRef) throw invalidArgument(`${where}: ref must be { type: "ref/prompt", name } or { type: "ref/resource", uri }`);
    if (!isObject(argument) || typeof argument.name !== "string" || !argument.name || typeof argument.value !== "string")
      throw invalidArgument(`${where}: argument must be { name, value } (strings)`);
    if (context !== undefined && !(isObject(context) && (context.arguments === undefined ||
        (isObject(context.arguments) && Object.values(context.arguments).every((v) => typeof v === "string")))))
      throw invalidArgument(`${where}: context must be { arguments?: { name: value } } (strings)`);
    const params = { ref: { ...ref }, argument: { name: argument.name, value: argument.value } };
    if (context?.arguments) params.context = { arguments: { ...context.arguments } };
    const r = await this.#request(server, "completion/complete", params);
    if (!isObject(r?.completion) || !Array.isArray(r.completion.values))
      throw new MCPStreamError("MCP_PROTOCOL", `server '${server}' answered completion/complete without completion.values`);
    return r;
  }

  /** One request to one server; resolves with its result. */
  async #request(server, method, params) {
    await this.connect();
    const rt = this.#runtime;
    const sid = this.#sid(server);
    return this.#op(server, (op) => rt._core.sessionRequest(sid, op, 0, method, params));
  }

  /** Every page of a list method from every server; a server without it (-32601) has none. */
  async #listAll(method, key) {
    await this.connect();
    const out = [];
    for (const server of this.#sids.keys()) {
      let cursor;
      for (let page = 1; ; page++) {
        let r;
        try {
          r = await this.#request(server, method, cursor === undefined ? undefined : { cursor });
        } catch (e) {
          if (e?.code === "MCP_ERROR" && /error -32601/.test(e.message)) break; // not offered
          throw e;
        }
        for (const item of Array.isArray(r?.[key]) ? r[key] : []) out.push({ server, ...item });
        if (typeof r?.nextCursor !== "string" || !r.nextCursor) break;
        if (page >= MAX_PAGES)
          throw new MCPStreamError("MCP_PROTOCOL", `server '${server}' paginated ${method} past ${MAX_PAGES} pages`);
        cursor = r.nextCursor;
      }
    }
    return out;
  }

  /**
   * Calls a tool. Resolves with the MCP CallToolResult (isError always a
   * boolean, structuredContent null when absent).
   * @param {string} server @param {string} name @param {object} [args]
   * @param {{signal?:AbortSignal, onProgress?:(p:{progress:number,total?:number,message?:string})=>void, timeoutMs?:number}} [options]
   */
  async callTool(server, name, args = {}, options = {}) {
    if (typeof name !== "string" || !name) throw invalidArgument("callTool(server, name, args): name must be a non-empty string");
    if (args === null || typeof args !== "object" || Array.isArray(args)) throw invalidArgument("callTool(server, name, args): args must be an object");
    const { signal, onProgress, timeoutMs } = options;
    if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs >= 1 && timeoutMs <= 0x7fffffff))
      throw invalidArgument("callTool: timeoutMs must be an integer from 1 to 2147483647");
    let argsJson;
    try {
      argsJson = JSON.stringify(args);
    } catch (e) {
      throw invalidArgument(`callTool(server, name, args): args must be JSON-serialisable: ${e.message}`);
    }
    // as JSON.stringify({ name, arguments: args }) writes it, stringifying args once
    const params = argsJson === undefined ? `{"name":${JSON.stringify(name)}}` : `{"name":${JSON.stringify(name)},"arguments":${argsJson}}`;
    const aborted = () => new AbortError("ABORTED", `callTool ${server}/${name} was aborted`, { cause: signal.reason });
    if (signal?.aborted) throw aborted();
    if (!this.#connected || this.#closed) {
      // the signal also bounds an implicit connect; the connection attempt itself is the client's (close() ends it)
      await (signal ? raceAbort(this.connect(), signal, aborted) : this.connect());
      if (signal?.aborted) throw aborted(); // aborted just after connecting
    }
    const rt = this.#runtime;
    const sid = this.#sid(server);
    let opId = 0, offAbort;
    // the core times the call out (reset by progress, bounded by the server's maxTotalTimeoutMs)
    const result = this.#op(server, (op) => {
      opId = op;
      return rt._core.sessionRequestJson(sid, op, onProgress ? REQ.PROGRESS : 0, "tools/call", params, timeoutMs ?? 0);
    }, onProgress && ((p) => onProgress({ progress: p.progress, total: p.total, message: p.message })));
    if (signal) {
      offAbort = subscribeAbort(signal, () => { if (!rt.disposed) { rt._core.sessionCancel(sid, opId, false); rt._drain(); } });
    }
    try {
      const r = await result;
      return { ...r, content: r.content ?? [], isError: r.isError === true, structuredContent: r.structuredContent ?? null };
    } catch (e) {
      if (e?.code === "CANCELLED" && signal?.aborted) throw aborted();
      throw e;
    } finally {
      offAbort?.();
    }
  }

  /** Closes every session of this client, each once; resolves when all are closed. */
  async close() {
    this.#closed = true;
    const rt = this.#runtime;
    if (!rt) return;
    if (rt.disposed) return rt.dispose(); // resolves when the runtime closed everything
    if (!this.#id) return;
    try {
      await rt._op((op) => rt._core.ownerClose(this.#owner, this.#id, op));
    } catch (e) {
      if (!(e instanceof RuntimeDisposedError)) throw e;
      await rt.dispose(); // disposal took over while closing
    } finally {
      rt._unregisterOwner(this.#owner, this.#id);
    }
  }
}

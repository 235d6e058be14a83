// Types of the public API of mcpstream (docs/architecture.md §4).

// Symbol.asyncDispose is in TypeScript's lib only from "esnext.disposable" on; declared here
// (as @types/node does) so that these types compile with a project's default lib.
declare global {
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol;
  }
}

/** Per-server overrides of the runtime's limits (integers from 1 to 2147483647). */
export interface ServerLimits {
  /** Timeout of each request to this server in ms, reset by its progress notifications (default: limits.timeoutMs, 60000). */
  timeoutMs?: number;
  /** Longest a request to this server may take in all, progress or not, in ms (default: limits.maxTotalTimeoutMs, 600000). */
  maxTotalTimeoutMs?: number;
  /** Largest message accepted from this server, in bytes (default: limits.messageBytes). */
  messageBytes?: number;
}

/** A stdio server (Node) or a Streamable HTTP server, Claude-Desktop style. */
export type ServerConfig =
  | ({ command: string; args?: string[]; env?: Record<string, string>; cwd?: string } & ServerLimits)
  /** Streamable HTTP (MCP 2025-11-25). `headers` go on every request to the server's origin,
   * never to another origin a redirect points at. */
  | ({ url: string; headers?: Record<string, string> } & ServerLimits);

export type McpServers = Record<string, ServerConfig>;

export interface LifecycleDetail {
  kind: "session-open" | "session-close" | "request-cancel" | "stream-end" | "cleanup-error";
  server: string | null;
  /** opaque id, unique within the runtime */
  sessionId: number | null;
  owner: "stream" | "agent" | "client" | null;
  streamId: number | null;
  /** e.g. "closed" | "exited" | "open-failed" | "disposed" for session-close;
   *  "completed" | "return" | "abort" | "agent-closed" | "error" for stream-end, or for a stream
   *  ended by throw(e) e's message (its first 256 bytes; "throw" when it has none) */
  reason: string | null;
}

export interface LogDetail {
  sessionId: number | null;
  server: string | null;
  /** mcpstream's own notes: "debug" | "info" | "warning" | "error"; a stdio server's stderr:
   *  "stderr"; a server's notifications/message: its level (RFC 5424 names: "debug", "info",
   *  "notice", "warning", "error", "critical", "alert", "emergency") */
  level: "debug" | "info" | "notice" | "warning" | "error" | "critical" | "alert" | "emergency" | "stderr";
  /** the text: a server's `data` as it is when a string, else as JSON */
  message: string;
  /** notifications/message only: the server's `logger` (or null) */
  logger?: string | null;
  /** notifications/message only: the server's `data` as sent */
  data?: unknown;
}

export interface RuntimeStats {
  /** streams created and not yet ended (the core's count; with the shared default runtime not yet
   * loaded for the agent: from the stream's first next(), return(), throw() or abort) */
  streamsOpen: number;
  /** sessions opened and not yet closed */
  sessionsOpen: number;
  /** allocations the core holds for sessions and streams (0 when all ended) */
  liveAllocations: number;
  /** size of the wasm memory (it grows in steps, ahead of need, and never shrinks) */
  heapBytes: number;
  /** bytes the core's allocator holds now: sessions, streams and the runtime's own buffers (0 once disposed) */
  allocatedBytes: number;
  /** the most `allocatedBytes` has been since the runtime was created (0 once disposed) */
  peakAllocatedBytes: number;
}

export interface Runtime extends EventTarget {
  readonly disposed: boolean;
  stats(): RuntimeStats;
  /** Tears down every transport directly; never calls the wasm instance again. Idempotent. */
  dispose(): Promise<void>;
  addEventListener(type: "lifecycle", listener: (event: Event & { detail: LifecycleDetail }) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: "log", listener: (event: Event & { detail: LogDetail }) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
}

/** Limits of a runtime (integers from 1 to 2147483647). README "Limits and bad input". */
export interface RuntimeLimits {
  /** Largest message from a server (one NDJSON line), model SSE event or whole model response, in bytes. Default 16 MiB. */
  messageBytes?: number;
  /** Requests waiting for an answer, per session. Default 1024. */
  pendingRequests?: number;
  /** Default timeout of a request to a server in ms, reset by its progress notifications. Default 60000. */
  timeoutMs?: number;
  /** Default longest time of a request to a server in ms, progress or not. Default 600000 (10 min). */
  maxTotalTimeoutMs?: number;
  /** Memory budget of each stream, and of each session, in bytes: what goes over ends that stream
   *  (or session) with LIMIT_EXCEEDED instead of growing the runtime's memory. Default 256 MiB. */
  streamMemoryBytes?: number;
}

export interface CreateRuntimeOptions {
  /** The core: a precompiled module (workers: `import wasm from "mcpstream/mcpstream.wasm"`),
   *  bytes, a Response, or a URL to read. Without it, Node reads dist/mcpstream.wasm and a
   *  browser fetches the .wasm shipped next to the browser entry; a worker needs it. */
  wasm?: WebAssembly.Module | ArrayBuffer | Uint8Array | Response | Promise<Response> | URL | string;
  /** Limits for everything made by this runtime; a bad name or value is a TypeError (INVALID_ARGUMENT). */
  limits?: RuntimeLimits;
}
export function createRuntime(options?: CreateRuntimeOptions): Promise<Runtime>;

export interface Tool {
  server: string;
  name: string;
  description?: string;
  inputSchema: Record<string, unknown>;
}

export interface ContentItem { type: string; [key: string]: unknown }

export interface CallToolResult {
  content: ContentItem[];
  isError: boolean;
  structuredContent: unknown | null;
  [key: string]: unknown;
}

export interface Resource { server: string; uri: string; name: string; description?: string; mimeType?: string; [key: string]: unknown }
export interface ResourceTemplate { server: string; uriTemplate: string; name: string; description?: string; mimeType?: string; [key: string]: unknown }
export interface ResourceContents { uri: string; mimeType?: string; text?: string; blob?: string; [key: string]: unknown }
export interface ReadResourceResult { contents: ResourceContents[]; [key: string]: unknown }
export interface Prompt { server: string; name: string; description?: string;
  arguments?: { name: string; description?: string; required?: boolean }[]; [key: string]: unknown }
export interface GetPromptResult { description?: string; messages: { role: "user" | "assistant"; content: ContentItem }[]; [key: string]: unknown }

export interface CallToolOptions {
  signal?: AbortSignal;
  onProgress?: (progress: { progress: number; total?: number; message?: string }) => void;
  /** This call's timeout in ms (instead of the server's timeoutMs), reset by its progress; bounded by the server's maxTotalTimeoutMs. */
  timeoutMs?: number;
}

/** Levels of logging/setLevel (RFC 5424), least severe first. */
export type LoggingLevel = "debug" | "info" | "notice" | "warning" | "error" | "critical" | "alert" | "emergency";
export type CompletionRef = { type: "ref/prompt"; name: string } | { type: "ref/resource"; uri: string };
/** The MCP CompleteResult. */
export interface CompleteResult { completion: { values: string[]; total?: number; hasMore?: boolean }; [key: string]: unknown }
/** detail of a client's 'resource-updated' event: a subscribed resource changed (read it again). */
export interface ResourceUpdatedDetail { server: string; uri: string }
/** detail of a client's 'list-changed' event: the server's tools, resources or prompts changed
 *  (the next listTools/listResources/listPrompts, and the next agent stream, list them afresh). */
export interface ListChangedDetail { server: string; list: "tools" | "resources" | "prompts" }

/** What a callback gets beside the request's params. */
export interface ServerRequestContext {
  /** the server (key in mcpServers) that sent the request */
  server: string;
  /** aborts when the answer is no longer wanted: the server cancelled the request, the session
   *  closed, the runtime was disposed, or the server's timeoutMs passed (then the server was
   *  already answered with an error) */
  signal: AbortSignal;
}

/** A message of a sampling request or result (MCP SamplingMessage). */
export interface SamplingMessage { role: "user" | "assistant"; content: ContentItem | ContentItem[]; [key: string]: unknown }
/** params of sampling/createMessage (MCP CreateMessageRequestParams). */
export interface CreateMessageParams {
  messages: SamplingMessage[];
  maxTokens: number;
  systemPrompt?: string;
  temperature?: number;
  stopSequences?: string[];
  modelPreferences?: Record<string, unknown>;
  includeContext?: "none" | "thisServer" | "allServers";
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}
/** What onSampling resolves to (MCP CreateMessageResult); anything else answers the server with an error. */
export interface CreateMessageResult {
  role: "user" | "assistant";
  content: ContentItem | ContentItem[];
  model: string;
  stopReason?: "endTurn" | "stopSequence" | "maxTokens" | string;
  [key: string]: unknown;
}
/** params of elicitation/create in form mode (MCP ElicitRequestFormParams). */
export interface ElicitParams {
  mode?: "form";
  message: string;
  /** a flat object schema of primitive properties, each may have a `default` */
  requestedSchema: { type: "object"; properties: Record<string, Record<string, unknown>>; required?: string[] };
  [key: string]: unknown;
}
/** What onElicitation resolves to. On "accept", every property of requestedSchema that `content`
 *  leaves out and that has a `default` gets that default (SEP-1034) before it is sent;
 *  "decline" and "cancel" are sent without content. */
export interface ElicitResult {
  action: "accept" | "decline" | "cancel";
  content?: Record<string, string | number | boolean | string[]>;
  [key: string]: unknown;
}
/** A root the client offers (roots/list): `uri` must start with file://. */
export interface Root { uri: string; name?: string; [key: string]: unknown }

export interface MCPClientOptions {
  runtime?: Runtime | Promise<Runtime>;
  /** Answers sampling/createMessage; declares the `sampling` capability. A throw answers the
   *  server with JSON-RPC error -32603 (or the error's integer `rpcCode`), as does a result that
   *  is not a CreateMessageResult or no answer within the server's timeoutMs. */
  onSampling?: (params: CreateMessageParams, context: ServerRequestContext) => CreateMessageResult | Promise<CreateMessageResult>;
  /** Answers elicitation/create (form mode); declares the `elicitation` capability. Failures as for onSampling. */
  onElicitation?: (params: ElicitParams, context: ServerRequestContext) => ElicitResult | Promise<ElicitResult>;
  /** Answers roots/list; declares the `roots` capability. A list, or a function asked at each roots/list. */
  roots?: Root[] | ((context: ServerRequestContext) => Root[] | Promise<Root[]>);
}

export class MCPClient extends EventTarget {
  /** `options` with a callback that is not a function, or roots that are not file:// URIs: TypeError (INVALID_ARGUMENT). */
  constructor(config: { mcpServers: McpServers }, options?: MCPClientOptions);
  readonly serverNames: string[];
  /** Opens and initializes a session per server; the user owns them. Idempotent. When it fails, the
   * client closes what it opened and stays closed: later calls reject with INVALID_STATE (the failure as `cause`). */
  connect(): Promise<void>;
  listTools(): Promise<Tool[]>;
  callTool(server: string, name: string, args?: Record<string, unknown>, options?: CallToolOptions): Promise<CallToolResult>;
  /** Resources of every server, every page (a server that offers none is skipped). */
  listResources(): Promise<Resource[]>;
  listResourceTemplates(): Promise<ResourceTemplate[]>;
  readResource(server: string, uri: string): Promise<ReadResourceResult>;
  /** Prompts of every server, every page (a server that offers none is skipped). */
  listPrompts(): Promise<Prompt[]>;
  getPrompt(server: string, name: string, args?: Record<string, string>): Promise<GetPromptResult>;
  /** resources/subscribe: the server's notifications/resources/updated for `uri` become 'resource-updated' events. */
  subscribeResource(server: string, uri: string): Promise<void>;
  /** resources/unsubscribe. */
  unsubscribeResource(server: string, uri: string): Promise<void>;
  /** logging/setLevel: the least severe level of the server's notifications/message (runtime 'log' events). */
  setLoggingLevel(server: string, level: LoggingLevel): Promise<void>;
  /** completion/complete: values for an argument of a prompt or a resource template. */
  complete(server: string, ref: CompletionRef, argument: { name: string; value: string },
           context?: { arguments?: Record<string, string> }): Promise<CompleteResult>;
  addEventListener(type: "resource-updated", listener: (event: Event & { detail: ResourceUpdatedDetail }) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: "list-changed", listener: (event: Event & { detail: ListChangedDetail }) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  /** Closes each session once; resolves when all are closed. */
  close(): Promise<void>;
}

/** A tool call the model asked for, in a Chat Completions assistant message. */
export interface ChatToolCall { id: string; type: "function"; function: { name: string; arguments: string } }
export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string | null;
  /** assistant messages that call tools */
  tool_calls?: ChatToolCall[];
  /** tool messages: the id of the call they answer */
  tool_call_id?: string;
  [key: string]: unknown;
}
/** A tool offered to the model: its (unique) name, description and JSON Schema parameters. */
export interface ChatTool { type: "function"; function: { name: string; description?: string; parameters: Record<string, unknown> } }
/** What an `llm` function receives: a Chat Completions request body. */
export interface ChatRequest { model: string; messages: ChatMessage[]; tools?: ChatTool[]; stream: boolean;
  /** always { include_usage: true }: the endpoint is asked for token usage (final step `usage`) */
  stream_options?: { include_usage: boolean } }

export interface LLMEndpoint {
  /** an OpenAI-compatible endpoint: requests go to `${baseURL}/chat/completions` */
  baseURL: string;
  apiKey?: string;
  model?: string;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /** The largest answer read whole when the endpoint does not stream (default: the runtime's
   *  limits.messageBytes, 16 MiB unless set); a larger
   *  one is not read further and ends the stream with LIMIT_EXCEEDED. Infinity: no limit. */
  maxResponseBytes?: number;
  /** From the request to the first byte of the response body, across redirects (default
   *  60000 ms): an endpoint that never answers, or sends headers and goes silent, ends the
   *  stream with TIMEOUT. Infinity: no limit. */
  firstByteTimeoutMs?: number;
  /** The longest silence after the first byte of the body (default 60000 ms), then TIMEOUT.
   *  Infinity: no limit. */
  idleTimeoutMs?: number;
}

export type LLM =
  | LLMEndpoint
  /** what it throws ends the stream with LLM_HTTP, the thrown value as `cause`; no timeouts apply
   *  to it (use the signal it gets, or your own) */
  | ((request: ChatRequest, options: { signal: AbortSignal }) => Promise<ChatMessage | string>);

export interface MCPAgentOptions {
  runtime?: Runtime | Promise<Runtime>;
  llm: LLM;
  /** sessions the agent's streams open and close themselves */
  mcpServers?: McpServers;
  /** OR a borrowed client whose sessions are never closed by the agent */
  client?: MCPClient;
  maxSteps?: number;
  disallowedTools?: string[];
  systemPrompt?: string;
  memory?: boolean;
  /** Timeout of the agent's tool calls in ms, reset by their progress (default: each server's timeoutMs). A call that times out is cancelled and ends the stream with TIMEOUT. */
  requestTimeoutMs?: number;
}

export type Step =
  | { type: "text"; text: string }
  /** `server` is null when nothing is called (an unknown or disallowed tool, or arguments that
   *  are not exactly one JSON object); the tool_result that follows is the model's error. */
  | { type: "tool_call"; id: string; server: string | null; name: string; arguments: Record<string, unknown> }
  | { type: "progress"; id: string; progress: number; total: number | null; message: string | null }
  | { type: "tool_result"; id: string; server: string | null; name: string; content: ContentItem[]; isError: boolean; structuredContent: unknown | null }
  /** the last step. `reason`: the finish_reason of the model's last turn as the endpoint sent
   *  it ("stop", "length", "content_filter", …; "stop" when it sent none). `usage`: tokens summed
   *  over the stream's model turns, as the endpoint reported them (requested with
   *  stream_options.include_usage), or null when it reported none (e.g. an `llm` function).
   *  Reaching maxSteps yields no final step: the stream ends with LIMIT_EXCEEDED. */
  | { type: "final"; text: string; reason: string; usage: TokenUsage | null };

/** Token usage (OpenAI's prompt_tokens, completion_tokens, total_tokens, summed). */
export interface TokenUsage { promptTokens: number; completionTokens: number; totalTokens: number }

export type FinalStep = Extract<Step, { type: "final" }>;

export interface AgentStream extends AsyncIterableIterator<Step> {
  next(): Promise<IteratorResult<Step, FinalStep | undefined>>;
  return<T>(value?: T): Promise<IteratorResult<Step, T>>;
  throw(error?: unknown): Promise<IteratorResult<Step, undefined>>;
  [Symbol.asyncIterator](): AgentStream;
  [Symbol.asyncDispose](): Promise<void>;
  /** the stream id used in lifecycle events (0 until the stream's runtime is known: at once when
   * the agent's runtime is, else from its first next(), return(), throw() or abort) */
  readonly id: number;
}

export class MCPAgent {
  constructor(options: MCPAgentOptions);
  /** Nothing is opened until the first next(). */
  stream(query: string, options?: { signal?: AbortSignal }): AgentStream;
  /** Drains stream(query); resolves with the final text. */
  run(query: string, options?: { signal?: AbortSignal }): Promise<string>;
  /** Opens the agent's sessions now; the agent owns them until close(). */
  connect(): Promise<void>;
  /** Aborts running streams (code AGENT_CLOSED) and closes agent-owned sessions, each once. */
  close(): Promise<void>;
}

export type ErrorCode =
  | "OUT_OF_MEMORY" | "INVALID_ARGUMENT" | "INVALID_HANDLE" | "INVALID_STATE"
  | "MCP_PROTOCOL" | "MCP_TRANSPORT_CLOSED" | "MCP_CONNECT_FAILED" | "MCP_ERROR"
  | "LLM_HTTP" | "LLM_PROTOCOL" | "LIMIT_EXCEEDED" | "ABORTED" | "AGENT_CLOSED"
  | "TIMEOUT" | "CANCELLED" | "RUNTIME_DISPOSED" | "INTERNAL";

export class MCPStreamError extends Error {
  constructor(code: ErrorCode | string, message: string, options?: { cause?: unknown });
  readonly code: ErrorCode | string;
  /** errors of a model request: the URL it went to (or "the llm function") */
  readonly endpoint?: string;
  /** LLM_HTTP from an HTTP error answer of the model endpoint: its status (e.g. 429) */
  readonly status?: number;
  /** with `status`, when the endpoint sent a Retry-After header (typically with 429 or 503):
   *  its value as sent, seconds ("30") or an HTTP date */
  readonly retryAfter?: string;
  /** for an error thrown by an `llm` function: what it threw; for a network failure: the
   *  fetch() error; for a refused redirect: the refusal */
  readonly cause?: unknown;
}
export class RuntimeDisposedError extends MCPStreamError {
  readonly code: "RUNTIME_DISPOSED";
}
export class AbortError extends MCPStreamError {
  readonly name: "AbortError";
  readonly code: "ABORTED" | "AGENT_CLOSED";
}

export interface SSEResponseOptions {
  /** Ends the stream and the body when it aborts (e.g. `request.signal`). */
  signal?: AbortSignal;
  /** Given a promise that settles once the stream's cleanup is done (workers: `(p) => ctx.waitUntil(p)`). */
  waitUntil?: (promise: Promise<void>) => void;
  /** More response headers (CORS, ...); content-type is always text/event-stream. */
  headers?: HeadersInit;
  /** Period of the SSE comment heartbeat written while no step is due (default 1000 ms). */
  heartbeatMs?: number;
}
/**
 * A stream of steps as a Server-Sent Events Response: one event per step, named after
 * `step.type`, `data:` the step as JSON; an error as `event: error` with `data: {"code","message"}`.
 * Calls `stream.return()` (once) when the body is cancelled or `signal` aborts.
 */
export function toSSEResponse(stream: AsyncIterator<Step, unknown, undefined>, options?: SSEResponseOptions): Response;

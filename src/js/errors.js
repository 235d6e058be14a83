// errors.js — every failure is a typed error with a stable `code`.
// The core's negative status codes are turned into errors here, in one place.

/** Core status code → stable string code. */
export const CORE_CODES = Object.freeze({
  [-1]: "OUT_OF_MEMORY",
  [-2]: "INVALID_ARGUMENT",
  [-3]: "INVALID_HANDLE",
  [-4]: "INVALID_STATE",
  [-5]: "MCP_PROTOCOL",
  [-6]: "MCP_TRANSPORT_CLOSED",
  [-7]: "MCP_CONNECT_FAILED",
  [-8]: "MCP_ERROR",
  [-9]: "LLM_HTTP",
  [-10]: "LLM_PROTOCOL",
  [-11]: "LIMIT_EXCEEDED",
  [-12]: "ABORTED",
  [-13]: "AGENT_CLOSED",
  [-14]: "TIMEOUT",
  [-15]: "CANCELLED",
});

/** Stable string code → core status code (the inverse of CORE_CODES); -9 (LLM_HTTP) if unknown. */
export function coreStatus(code) {
  for (const [status, name] of Object.entries(CORE_CODES)) if (name === code) return Number(status);
  return -9;
}

/** The base class of every mcpstream error. */
export class MCPStreamError extends Error {
  /**
   * @param {string} code stable machine-readable code
   * @param {string} message what happened and what to do
   * @param {{cause?: unknown}} [options]
   */
  constructor(code, message, options) {
    super(message, options);
    this.name = "MCPStreamError";
    this.code = code;
  }
}

/** Thrown by a `next()` pending when its runtime was disposed. */
export class RuntimeDisposedError extends MCPStreamError {
  constructor(message = "the mcpstream runtime was disposed; create a new runtime to go on") {
    super("RUNTIME_DISPOSED", message);
    this.name = "RuntimeDisposedError";
  }
}

/** A stream ended by its AbortSignal (code ABORTED) or by agent.close() (AGENT_CLOSED). */
export class AbortError extends MCPStreamError {
  constructor(code = "ABORTED", message = "the stream was aborted", options) {
    super(code, message, options);
    this.name = "AbortError";
  }
}

/** Turns a negative core status and its message into a typed error. */
export function coreError(status, message) {
  const code = CORE_CODES[status] ?? "INTERNAL";
  if (code === "ABORTED" || code === "AGENT_CLOSED") return new AbortError(code, message);
  return new MCPStreamError(code, message || code);
}

/** A TypeError with code INVALID_ARGUMENT, for bad input to the public API. */
export function invalidArgument(message) {
  const e = new TypeError(message);
  e.code = "INVALID_ARGUMENT";
  return e;
}

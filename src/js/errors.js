// errors.js — every failure is a typed error with a stable `code`.
// The core's negative status codes are turned into errors here, in one place.

import { ERR, ERROR_CODES } from "./constants.js";

/** Core status code → stable string code (generated from mcpstream.h's MS_ERRORS). */
export const CORE_CODES = ERROR_CODES;

/** Stable string code → core status code (the inverse of CORE_CODES); LLM_HTTP if unknown. */
export function coreStatus(code) {
  for (const [status, name] of Object.entries(CORE_CODES)) if (name === code) return Number(status);
  return ERR.LLM_HTTP;
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

// worker.js — the workerd entry point of mcpstream (package.json "exports",
// condition "workerd": Cloudflare Workers and workerd). No Node built-in, so
// no nodejs_compat flag is needed. Compiling wasm bytes at run time is
// forbidden there, so the core comes in as a module:
//   import wasm from "mcpstream/mcpstream.wasm";        // a WebAssembly.Module
//   const runtime = await createRuntime({ wasm });
// (with a workerd config, declare that module: `(name = "mcpstream/mcpstream.wasm", wasm = embed "…")`).
// A runtime per request is the natural shape: a worker's I/O belongs to the
// request that started it; dispose it when the request's stream has ended.
import { invalidArgument } from "./errors.js";
import { makeRuntime, fetchURL } from "./common.js";
import { webTransport } from "./web-hosts.js";

export { MCPClient, MCPAgent, AgentStream, MCPStreamError, RuntimeDisposedError, AbortError, toSSEResponse } from "./common.js";

const HOW = `in a worker, pass the core as a module: import wasm from "mcpstream/mcpstream.wasm"; createRuntime({ wasm })`;

/**
 * Creates a runtime: one instance of the core with its own sessions and streams.
 * @param {{wasm?: WebAssembly.Module | Response | URL | string | ArrayBuffer | Uint8Array}} [options]
 */
export function createRuntime(options = {}) {
  return makeRuntime(options, {
    load: fetchURL,
    defaultModule: async () => { throw invalidArgument(`createRuntime(): ${HOW}`); },
    hosts: () => ({ transportFactory: webTransport }),
    hint: HOW,
  });
}

// index.js — the Node entry point of mcpstream.
import { readFile } from "node:fs/promises";
import { instantiate } from "./loader.js";
import { Runtime } from "./runtime.js";
import { StdioTransport } from "./hosts/stdio.js";
import { createNodeFetch } from "./hosts/http-node.js";
import { setDefaultRuntimeFactory } from "./shared.js";
import { MCPStreamError } from "./errors.js";

export { MCPClient } from "./client.js";
export { MCPAgent, AgentStream } from "./agent.js";
export { MCPStreamError, RuntimeDisposedError, AbortError } from "./errors.js";

const WASM_URL = new URL("../../dist/mcpstream.wasm", import.meta.url);
/** @type {Promise<WebAssembly.Module> | null} */
let compiled = null;

function nodeTransport(config, hooks) {
  if (config.command) return new StdioTransport(config, hooks);
  throw new MCPStreamError("MCP_CONNECT_FAILED",
    `server config with "url" (Streamable HTTP) is not supported in this version of mcpstream yet; use a stdio "command"`);
}

/**
 * Creates a runtime: one instance of the core with its own sessions and streams.
 * @param {{wasm?: WebAssembly.Module | ArrayBuffer | Uint8Array | Response}} [options]
 */
export async function createRuntime(options = {}) {
  let source = options.wasm;
  if (!source) {
    compiled ??= readFile(WASM_URL).then((bytes) => WebAssembly.compile(bytes)).catch((e) => {
      compiled = null;
      throw new MCPStreamError("INVALID_STATE", `cannot load ${WASM_URL.pathname}: ${e.message} (run \`bash build.sh wasm\` or \`npm run build\`)`);
    });
    source = await compiled;
  }
  let instance;
  try {
    instance = await instantiate(source);
  } catch (e) {
    throw new MCPStreamError("INVALID_ARGUMENT", `options.wasm is not a usable mcpstream module: ${e.message}`, { cause: e });
  }
  const http = createNodeFetch(); // model connections that follow the runtime's ref state
  const runtime = new Runtime(instance, { transportFactory: nodeTransport, fetch: http.fetch, setRef: http.setRef });
  for (const ref of live) if (!ref.deref()) live.delete(ref);
  live.add(new WeakRef(runtime));
  return runtime;
}

/** Every runtime made here, so that process exit disposes them. */
const live = new Set();

setDefaultRuntimeFactory(() => createRuntime());

// Node's exit is a disposal too. dispose() marks the runtime disposed and
// starts closing synchronously; the stdio host's own exit hook then kills
// every process tree that is still there, synchronously.
process.once("exit", () => {
  for (const ref of live) ref.deref()?.dispose().catch(() => {});
});

// index.js — the Node entry point of mcpstream (package.json "exports",
// condition "node"). Browsers get src/js/browser.js, workers src/js/worker.js;
// what they share is in common.js. Only this entry uses Node built-ins: the
// stdio host, node:http for the model, reading the .wasm from disk.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { StdioTransport } from "./hosts/stdio.js";
import { StreamableHttpTransport } from "./hosts/http.js";
import { createNodeFetch } from "./hosts/http-node.js";
import { setDefaultRuntimeFactory } from "./shared.js";
import { MCPStreamError } from "./errors.js";
import { makeRuntime, fetchURL } from "./common.js";

export { MCPClient, MCPAgent, AgentStream, MCPStreamError, RuntimeDisposedError, AbortError, toSSEResponse } from "./common.js";

const WASM_URL = new URL("../../dist/mcpstream.wasm", import.meta.url);
/** @type {Promise<WebAssembly.Module> | null} */
let compiled = null;

/** A transport per server config: stdio for "command", Streamable HTTP for "url" (on the
 * runtime's unref-able fetch: an idle GET stream never keeps the process alive). */
function nodeTransport(fetch) {
  return (config, hooks, server) => (config.command
    ? new StdioTransport(config, hooks, { name: server })
    : new StreamableHttpTransport(config, hooks, { fetch }));
}

/** The .wasm next to this file, compiled once per process. */
function defaultModule() {
  compiled ??= readFile(WASM_URL).then((bytes) => WebAssembly.compile(bytes)).catch((e) => {
    compiled = null;
    const bundled = e?.code === "ENOENT"
      ? `; if this code was bundled, pass the module: import wasm from "mcpstream/mcpstream.wasm" (esbuild: --loader:.wasm=binary) and createRuntime({ wasm })`
      : "";
    throw new MCPStreamError("INVALID_STATE", `cannot load ${fileURLToPath(WASM_URL)}: ${e.message} (in a checkout: \`bash build.sh wasm\`)${bundled}`);
  });
  return compiled;
}

/** options.wasm given as a URL: a file: URL is read from disk, others fetched. */
function load(url) {
  return url.protocol === "file:" ? readFile(url) : fetchURL(url);
}

/**
 * Creates a runtime: one instance of the core with its own sessions and streams.
 * @param {{wasm?: WebAssembly.Module | ArrayBuffer | Uint8Array | Response | URL | string, limits?: Record<string, number>}} [options]
 */
export async function createRuntime(options = {}) {
  const runtime = await makeRuntime(options, {
    load,
    defaultModule,
    hosts: () => {
      const http = createNodeFetch(); // model connections that follow the runtime's ref state
      return { transportFactory: nodeTransport(http.fetch), fetch: http.fetch, setRef: http.setRef };
    },
  });
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

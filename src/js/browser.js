// browser.js — the browser entry point of mcpstream (package.json "exports",
// condition "browser"). No Node built-in. createRuntime() with no argument
// fetches the .wasm shipped with the package (dist/mcpstream.wasm, found from
// this file's URL; streaming compilation when it is served as
// application/wasm). A bundler that does not copy that file writes one line:
//   import wasm from "mcpstream/mcpstream.wasm";  →  createRuntime({ wasm })
// Servers are Streamable HTTP (`url`); a page cannot start stdio processes.
import { setDefaultRuntimeFactory } from "./shared.js";
import { MCPStreamError } from "./errors.js";
import { makeRuntime, fetchURL } from "./common.js";
import { compileWasm } from "./loader.js";
import { webTransport } from "./web-hosts.js";

export { MCPClient, MCPAgent, AgentStream, MCPStreamError, RuntimeDisposedError, AbortError, toSSEResponse } from "./common.js";

/** @type {Promise<WebAssembly.Module> | null} */
let compiled = null;

/** The .wasm shipped next to this entry, compiled once per page. */
function defaultModule() {
  // a literal `new URL(…, import.meta.url)`: Vite and webpack 5 copy the file for it
  const url = new URL("../../dist/mcpstream.wasm", import.meta.url);
  compiled ??= compileWasm(url, fetchURL).catch((e) => {
    compiled = null;
    throw new MCPStreamError("INVALID_STATE", `cannot load ${url.href}: ${e?.message ?? e}; ` +
      `if your bundler did not copy it, pass the module: import wasm from "mcpstream/mcpstream.wasm" and createRuntime({ wasm })`, { cause: e });
  });
  return compiled;
}

/**
 * Creates a runtime: one instance of the core with its own sessions and streams.
 * @param {{wasm?: WebAssembly.Module | ArrayBuffer | Uint8Array | Response | URL | string}} [options]
 */
export async function createRuntime(options = {}) {
  const runtime = await makeRuntime(options, {
    load: fetchURL,
    defaultModule,
    hosts: () => ({ transportFactory: webTransport }),
  });
  for (const ref of live) if (!ref.deref()) live.delete(ref);
  live.add(new WeakRef(runtime));
  return runtime;
}

/** Every runtime made here, so that leaving the page disposes them. */
const live = new Set();

setDefaultRuntimeFactory(() => createRuntime());

// A page unload is a disposal too (docs/architecture.md §3 rule 5).
globalThis.addEventListener?.("pagehide", () => {
  for (const ref of live) ref.deref()?.dispose().catch(() => {});
});

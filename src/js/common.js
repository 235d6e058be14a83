// common.js — what the node, browser and workerd entry points share: the
// public classes and making a runtime from a wasm source and the platform's
// hosts. No Node built-in here.
import { compileWasm, instantiate } from "./loader.js";
import { Runtime } from "./runtime.js";
import { MCPStreamError } from "./errors.js";

export { MCPClient } from "./client.js";
export { MCPAgent, AgentStream } from "./agent.js";
export { MCPStreamError, RuntimeDisposedError, AbortError } from "./errors.js";
export { toSSEResponse } from "./sse-response.js";

/**
 * Makes a runtime from options.wasm, or from the platform's default when absent.
 * @param {{wasm?: unknown}} options what the user passed to createRuntime
 * @param {{ load: (url: URL) => Promise<unknown>,
 *           defaultModule: () => Promise<WebAssembly.Module>,
 *           hosts: () => import("./runtime.js").Hosts,
 *           hint?: string }} platform
 *   load           reads a URL given as options.wasm (fetch, or a file read in Node)
 *   defaultModule  the module createRuntime() uses with no wasm (cached by the caller)
 *   hosts          the platform's transports and fetch, one set per runtime
 *   hint           added to the message when options.wasm cannot be compiled
 */
export async function makeRuntime(options, platform) {
  if (options !== undefined && (options === null || typeof options !== "object"))
    throw Object.assign(new TypeError("createRuntime(options): options must be an object like { wasm }"), { code: "INVALID_ARGUMENT" });
  const source = options?.wasm;
  let mod;
  if (source === undefined || source === null) {
    mod = await platform.defaultModule();
  } else {
    try {
      mod = await compileWasm(source, platform.load);
    } catch (e) {
      throw new MCPStreamError("INVALID_ARGUMENT",
        `options.wasm is not a usable mcpstream module: ${e?.message ?? e}${platform.hint ? ` (${platform.hint})` : ""}`, { cause: e });
    }
  }
  let instance;
  try {
    instance = await instantiate(mod);
  } catch (e) {
    throw new MCPStreamError("INVALID_ARGUMENT", `options.wasm is not a usable mcpstream module: ${e?.message ?? e}`, { cause: e });
  }
  return new Runtime(instance, platform.hosts(), { limits: options.limits });
}

/** Reads a URL with fetch (browsers, workers; Node for http: and data: URLs). */
export function fetchURL(url) {
  return fetch(url);
}

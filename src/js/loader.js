// loader.js — instantiates the core's standalone .wasm without Emscripten glue.
// Accepts the module as a precompiled WebAssembly.Module (workers), bytes, a
// Response (browsers: fetch), or a URL to read (Node).

const imports = {
  // -sALLOW_MEMORY_GROWTH makes the module tell the host when memory grew;
  // views are re-created on every access (src/js/core.js), so nothing to do.
  env: { emscripten_notify_memory_growth() {} },
};

/**
 * @param {WebAssembly.Module | ArrayBuffer | Uint8Array | Response | Promise<Response>} source
 * @returns {Promise<WebAssembly.Instance>}
 */
export async function instantiate(source) {
  let mod = await source;
  if (typeof Response !== "undefined" && mod instanceof Response) {
    if (!mod.ok) throw new Error(`fetching mcpstream.wasm failed: HTTP ${mod.status}`);
    mod = await mod.arrayBuffer();
  }
  if (!(mod instanceof WebAssembly.Module)) mod = await WebAssembly.compile(mod);
  const instance = await WebAssembly.instantiate(mod, imports);
  instance.exports._initialize?.();
  return instance;
}

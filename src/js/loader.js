// loader.js — compiles and instantiates the core's standalone .wasm without
// Emscripten glue. No Node built-in here: every entry point (node, browser,
// workerd) uses it. Accepted sources: a precompiled WebAssembly.Module (what
// workerd and bundlers give for `import wasm from "mcpstream/mcpstream.wasm"`),
// bytes (ArrayBuffer or a typed array), a Response (or a promise of one), or a
// URL (a URL object or a string), read by the entry point's `load`.

const imports = {
  // -sALLOW_MEMORY_GROWTH makes the module tell the host when memory grew;
  // views are re-created on every access (src/js/core.js), so nothing to do.
  env: { emscripten_notify_memory_growth() {} },
};

/**
 * @param {unknown} source
 * @param {(url: URL) => Promise<unknown>} load reads a URL into bytes or a Response
 * @returns {Promise<WebAssembly.Module>}
 */
export async function compileWasm(source, load) {
  let src = await source;
  if (typeof src === "string" || src instanceof URL) src = await load(new URL(src, globalThis.location?.href));
  if (src instanceof WebAssembly.Module) return src;
  if (typeof Response !== "undefined" && src instanceof Response) return compileResponse(src);
  if (src instanceof ArrayBuffer || ArrayBuffer.isView(src)) return WebAssembly.compile(/** @type {BufferSource} */ (src));
  throw new TypeError("expected a WebAssembly.Module, bytes (ArrayBuffer or Uint8Array), a Response or a URL");
}

/** Streaming compilation when the server says application/wasm; bytes otherwise. */
async function compileResponse(res) {
  if (!res.ok) throw new Error(`fetching ${res.url || "the .wasm"} failed: HTTP ${res.status}`);
  const type = res.headers.get("content-type") ?? "";
  if (typeof WebAssembly.compileStreaming === "function" && /^application\/wasm\s*(;|$)/i.test(type)) {
    const spare = res.clone(); // if streaming is refused, the bytes are still there
    try {
      return await WebAssembly.compileStreaming(res);
    } catch {
      return WebAssembly.compile(await spare.arrayBuffer());
    }
  }
  return WebAssembly.compile(await res.arrayBuffer());
}

/**
 * Instantiates the core and calls its `_initialize` once.
 * @param {unknown} source a WebAssembly.Module, bytes or a Response (see compileWasm)
 * @returns {Promise<WebAssembly.Instance>}
 */
export async function instantiate(source) {
  const mod = await compileWasm(source, () => { throw new TypeError("instantiate() takes no URL: read it first"); });
  const instance = await WebAssembly.instantiate(mod, imports);
  /** @type {any} */ (instance.exports)._initialize?.();
  return instance;
}

// Types of `import wasm from "mcpstream/mcpstream.wasm"`: what a worker runtime or a
// bundler gives for a .wasm import (workerd and wrangler: a WebAssembly.Module;
// esbuild --loader:.wasm=binary: bytes; --loader:.wasm=file or Vite ?url: a URL string).
// Pass it to createRuntime({ wasm }).
declare const wasm: WebAssembly.Module | Uint8Array | string;
export default wasm;

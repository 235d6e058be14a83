# workerd config for examples/worker (see README.md): the bundled worker and the
# core's .wasm as a module, loopback outbound for the local model and MCP server.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .agentWorker),
    # fetch() from the worker: public addresses and this machine (127.0.0.1)
    (name = "outbound", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "main")],
);

const agentWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "dist/worker.js"),
    # `import wasm from "mcpstream/mcpstream.wasm"` gives this WebAssembly.Module
    (name = "mcpstream/mcpstream.wasm", wasm = embed "dist/mcpstream.wasm"),
  ],
  # >= 2025-05-05 for FinalizationRegistry; request.signal fires when the client hangs up
  compatibilityDate = "2025-05-05",
  compatibilityFlags = ["enable_request_signal"],
  globalOutbound = "outbound",
  bindings = [
    (name = "MODEL_BASE_URL", fromEnvironment = "MODEL_BASE_URL"),
    (name = "MODEL", fromEnvironment = "MODEL"),
    (name = "MODEL_API_KEY", fromEnvironment = "MODEL_API_KEY"),
    (name = "MCP_URL", fromEnvironment = "MCP_URL"),
  ],
);

// coldstart.js — one cold start in a fresh process: node coldstart.js <lib|bare>
// Prints { ms }: milliseconds from the process's start (performance.timeOrigin)
// until the library is imported and ready to connect (a client object exists;
// for mcpstream also its wasm compiled and instantiated). "bare" measures the
// same point in a script that imports nothing: the orchestrator subtracts it.
// No static imports here: they would count for every library.
const lib = process.argv[2];
const server = { command: process.execPath, args: ["server.js"] };
const root = new URL("../../", import.meta.url);

switch (lib) {
  case "bare":
    break;
  case "mcpstream": {
    const { createRuntime, MCPClient, MCPAgent } = await import(new URL("src/js/index.js", root).href);
    const runtime = await createRuntime();
    new MCPClient({ mcpServers: { s: server } }, { runtime });
    if (typeof MCPAgent !== "function") throw new Error("no MCPAgent");
    break;
  }
  case "sdk1": {
    const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
    const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
    new Client({ name: "bench", version: "1.0.0" });
    new StdioClientTransport(server);
    break;
  }
  case "sdk2": {
    const { Client } = await import("@modelcontextprotocol/client");
    const { StdioClientTransport } = await import("@modelcontextprotocol/client/stdio");
    new Client({ name: "bench", version: "1.0.0" });
    new StdioClientTransport(server);
    break;
  }
  case "ai": {
    const { streamText } = await import("ai");
    const { createMCPClient } = await import("@ai-sdk/mcp");
    const { StdioMCPTransport } = await import("@ai-sdk/mcp/mcp-stdio");
    new StdioMCPTransport(server);
    if (typeof streamText !== "function" || typeof createMCPClient !== "function") throw new Error("ai: missing exports");
    break;
  }
  default:
    throw new Error(`unknown library ${lib}`);
}
process.stdout.write(JSON.stringify({ lib, ms: performance.now() }) + "\n");

// clients.js — one small adapter per library, so every scenario drives each of
// them the same way: connect to one stdio server, call tools, close.
//
//   const c = await connect("sdk1", { command, args, env });
//   await c.call("r1k", {}, { onProgress });   // → the CallToolResult
//   await c.close();                           // resolves when the library says it is closed
//
// Only what a user of each library would write; nothing is tuned per library.
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const MCPSTREAM_ENTRY = fileURLToPath(new URL("../../src/js/index.js", import.meta.url));
export const RAW_SERVER = fileURLToPath(new URL("../raw-server.js", import.meta.url));
export const SERVER_EVERYTHING = fileURLToPath(
  new URL("../node_modules/@modelcontextprotocol/server-everything/dist/index.js", import.meta.url));

/** The libraries compared, mcpstream first. */
export const LIBS = ["mcpstream", "sdk1", "sdk2", "ai"];
export const LIB_LABEL = {
  mcpstream: "mcpstream",
  sdk1: "@modelcontextprotocol/sdk (v1)",
  sdk2: "@modelcontextprotocol/client (v2)",
  ai: "ai + @ai-sdk/mcp",
};

/** Libraries that report progress notifications to the caller (@ai-sdk/mcp does not). */
export const HAS_PROGRESS = new Set(["mcpstream", "sdk1", "sdk2"]);

const LONG = 10 * 60 * 1000; // no library's default request timeout should end a long flood

export const rawServer = () => ({ command: process.execPath, args: [RAW_SERVER] });

/**
 * Connects `lib` to one stdio server.
 * @param {string} lib @param {{command:string,args?:string[],env?:Record<string,string>}} server
 */
export async function connect(lib, server) {
  const env = { ...process.env, ...server.env };
  switch (lib) {
    case "mcpstream": {
      const { createRuntime, MCPClient } = await import(MCPSTREAM_ENTRY);
      const runtime = await createRuntime();
      const client = new MCPClient({ mcpServers: { s: { ...server, env } } }, { runtime });
      await client.connect();
      return {
        runtime,
        call: (name, args = {}, { onProgress } = {}) => client.callTool("s", name, args, { onProgress }),
        close: async () => { await client.close(); await runtime.dispose(); },
      };
    }
    case "sdk1": {
      const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
      const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
      const client = new Client({ name: "bench", version: "1.0.0" });
      const transport = new StdioClientTransport({ ...server, env, stderr: process.env.BENCH_STDERR ? "inherit" : "ignore" });
      await client.connect(transport);
      return {
        pid: () => transport.pid,
        call: (name, args = {}, { onProgress } = {}) =>
          client.callTool({ name, arguments: args }, undefined, { onprogress: onProgress, timeout: LONG }),
        close: () => client.close(),
      };
    }
    case "sdk2": {
      const { Client } = await import("@modelcontextprotocol/client");
      const { StdioClientTransport } = await import("@modelcontextprotocol/client/stdio");
      const client = new Client({ name: "bench", version: "1.0.0" });
      const transport = new StdioClientTransport({ ...server, env, stderr: process.env.BENCH_STDERR ? "inherit" : "ignore" });
      await client.connect(transport);
      return {
        pid: () => transport.pid,
        call: (name, args = {}, { onProgress } = {}) =>
          client.callTool({ name, arguments: args }, { onprogress: onProgress, timeout: LONG }),
        close: () => client.close(),
      };
    }
    case "ai": {
      const { createMCPClient } = await import("@ai-sdk/mcp");
      const { StdioMCPTransport } = await import("@ai-sdk/mcp/mcp-stdio");
      const client = await createMCPClient({ transport: new StdioMCPTransport({ ...server, env, stderr: process.env.BENCH_STDERR ? "inherit" : "ignore" }) });
      return {
        call: (name, args = {}) => client.callTool({ name, arguments: args, options: { timeout: LONG } }),
        close: () => client.close(),
      };
    }
    default:
      throw new Error(`unknown library ${lib}`);
  }
}

// size.js — what each library adds to an application: one esbuild bundle
// (esbuild pinned in bench/package.json; ESM, platform node, minified, Node
// built-ins external) of an entry that imports what a user needs to run an
// MCP client over stdio and (for mcpstream and ai) the agent loop; gzip -9 of
// the output. For mcpstream the .wasm (loaded at run time, not bundled) is
// added, raw and gzipped. Prints { libs: { lib: { jsMin, jsGzip, wasm, wasmGzip, total, totalGzip } } }.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { MCPSTREAM_ENTRY } from "../lib/clients.js";

const WASM = fileURLToPath(new URL("../../dist/mcpstream.wasm", import.meta.url));
const ENTRIES = {
  mcpstream: `export { createRuntime, MCPClient, MCPAgent } from ${JSON.stringify(MCPSTREAM_ENTRY)};`,
  sdk1: `export { Client } from "@modelcontextprotocol/sdk/client/index.js";
         export { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";`,
  sdk2: `export { Client } from "@modelcontextprotocol/client";
         export { StdioClientTransport } from "@modelcontextprotocol/client/stdio";`,
  ai: `export { streamText } from "ai";
       export { createMCPClient } from "@ai-sdk/mcp";
       export { StdioMCPTransport } from "@ai-sdk/mcp/mcp-stdio";`,
};

const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
const libs = {};
for (const [lib, contents] of Object.entries(ENTRIES)) {
  const out = await build({
    stdin: { contents, resolveDir: fileURLToPath(new URL("..", import.meta.url)), loader: "js" },
    bundle: true, minify: true, format: "esm", platform: "node", target: "node20",
    write: false, logLevel: "silent", legalComments: "none",
  });
  const js = out.outputFiles[0].contents;
  const wasm = lib === "mcpstream" ? readFileSync(WASM) : null;
  const r = { jsMin: js.length, jsGzip: gz(js), wasm: wasm?.length ?? 0, wasmGzip: wasm ? gz(wasm) : 0 };
  r.total = r.jsMin + r.wasm;
  r.totalGzip = r.jsGzip + r.wasmGzip;
  libs[lib] = r;
}
process.stdout.write(JSON.stringify({ libs }) + "\n");

#!/usr/bin/env node
// Browser bundle sizes: what a page downloads for mcpstream (its browser entry, minified
// by esbuild, plus the .wasm) beside the official TypeScript SDK's client (Client +
// StreamableHTTPClientTransport, minified the same way). Bytes and gzip -9.
//   node web/bundle-size.mjs
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

async function minified(contents) {
  const r = await build({ stdin: { contents, resolveDir: ROOT }, bundle: true, minify: true, format: "esm",
    platform: "browser", write: false, logLevel: "silent" });
  return r.outputFiles[0].contents;
}
const size = (bytes) => ({ bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });

const js = size(await minified(`export { createRuntime, MCPAgent, MCPClient, toSSEResponse } from "./src/js/browser.js";`));
const wasm = size(readFileSync(new URL("../dist/mcpstream.wasm", import.meta.url)));
const sdkPkg = JSON.parse(readFileSync(new URL("../node_modules/@modelcontextprotocol/sdk/package.json", import.meta.url), "utf8"));
const sdk = size(await minified(`export { Client } from "@modelcontextprotocol/sdk/client/index.js";
export { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";`));
const rows = [
  ["mcpstream browser entry (JS, minified)", js],
  ["mcpstream.wasm", wasm],
  ["mcpstream total", { bytes: js.bytes + wasm.bytes, gzip: js.gzip + wasm.gzip }],
  [`@modelcontextprotocol/sdk ${sdkPkg.version} client + Streamable HTTP transport (minified)`, sdk],
];
for (const [name, s] of rows) console.log(`${name.padEnd(78)} ${String(s.bytes).padStart(8)} B  ${String(s.gzip).padStart(7)} B gzip`);

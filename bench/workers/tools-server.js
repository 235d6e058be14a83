// tools-server.js — an MCP server over stdio (NDJSON) for peak.js: one tools/list
// result of <count> tools of about <size> bytes each, built once; it exits on stdin EOF.
//   node tools-server.js <count> <size>
import { readMessages } from "../raw-server.js";

const count = Number(process.argv[2]), size = Number(process.argv[3]);
const tools = Array.from({ length: count }, (_, i) => ({
  name: `tool_${i}`,
  description: "d".repeat(Math.max(1, size - 200)),
  inputSchema: { type: "object", properties: { a: { type: "string", description: "an argument" } } },
}));
const list = JSON.stringify({ tools });
const send = (id, body) => process.stdout.write(`{"jsonrpc":"2.0","id":${JSON.stringify(id)},${body}}\n`);
readMessages((m) => {
  if (m?.id === undefined) return;
  if (m.method === "initialize")
    send(m.id, `"result":${JSON.stringify({ protocolVersion: m.params?.protocolVersion ?? "2025-11-25", capabilities: { tools: {} }, serverInfo: { name: "bench-tools", version: "1.0.0" } })}`);
  else if (m.method === "tools/list") send(m.id, `"result":${list}`);
  else send(m.id, `"error":{"code":-32601,"message":"method not found"}`);
});

// peak.js — the core's peak memory for one large message, in a fresh process:
//   node peak.js <answer|tools> <bytes>
//   answer: a streamed model answer of <bytes> of text (64 KiB deltas) from a local
//           OpenAI-compatible endpoint, read through an agent stream to its final step;
//   tools:  one tools/list result of about <bytes> (tools of ~3.8 KB each) from a stdio
//           server, read by an agent stream (its catalogue and its model request).
// Prints { kind, bytes, peakAllocated, heapBytes }: runtime.stats().peakAllocatedBytes
// (the most the core's allocator held at once) and heapBytes (wasm memory, which never
// shrinks: its peak) at the end. The orchestrator divides both by the message size.
import http from "node:http";
import { fileURLToPath } from "node:url";
import { createRuntime, MCPAgent } from "../../src/js/index.js";

const [kind, bytesArg] = process.argv.slice(2);
const bytes = Number(bytesArg);
const TOOL = 3800;
const runtime = await createRuntime({ limits: { messageBytes: 256 << 20, streamMemoryBytes: 2 ** 31 - 1 } });
let server = null, agent;
try {
  if (kind === "answer") {
    const piece = "x".repeat(65536);
    server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        let sent = 0;
        const pump = () => {
          while (sent < bytes) {
            const n = Math.min(piece.length, bytes - sent);
            sent += n;
            if (!res.write(`data: {"choices":[{"index":0,"delta":{"content":"${piece.slice(0, n)}"}}]}\n\n`)) return void res.once("drain", pump);
          }
          res.end(`data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n`);
        };
        pump();
      });
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    agent = new MCPAgent({ runtime, llm: { baseURL: `http://127.0.0.1:${server.address().port}/v1`, model: "bench" } });
  } else if (kind === "tools") {
    const script = fileURLToPath(new URL("./tools-server.js", import.meta.url));
    const count = Math.max(1, Math.round(bytes / TOOL));
    agent = new MCPAgent({
      runtime,
      mcpServers: { big: { command: process.execPath, args: [script, String(count), String(TOOL)] } },
      llm: async () => ({ role: "assistant", content: "done" }),
    });
  } else {
    throw new Error(`unknown kind ${kind} (answer | tools)`);
  }
  let final = null;
  for await (const step of agent.stream("go")) if (step.type === "final") final = step;
  if (!final) throw new Error("no final step");
  if (kind === "answer" && final.text.length !== bytes) throw new Error(`the answer came back with ${final.text.length} of ${bytes} characters`);
  const st = runtime.stats();
  process.stdout.write(JSON.stringify({ kind, bytes, peakAllocated: st.peakAllocatedBytes, heapBytes: st.heapBytes }) + "\n");
} finally {
  await agent?.close();
  await runtime.dispose();
  server?.close();
}

// Leave a stream early: the servers the stream opened are closed, exactly once,
// before the loop exits. Run: OPENAI_BASE_URL=… OPENAI_API_KEY=… MCPSTREAM_MODEL=… node examples/node/break-early.js
import { createRuntime, MCPAgent } from "mcpstream";

const runtime = await createRuntime();
runtime.addEventListener("lifecycle", (e) => console.log("lifecycle:", e.detail.kind, e.detail.server ?? "", e.detail.reason ?? ""));

const agent = new MCPAgent({
  runtime,
  llm: { baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY, model: process.env.MCPSTREAM_MODEL },
  mcpServers: { everything: { command: "npx", args: ["-y", "@modelcontextprotocol/server-everything", "stdio"] } },
});

for await (const step of agent.stream("Run a long operation and show me its progress.")) {
  console.log(step.type, step.type === "progress" ? `${step.progress}/${step.total}` : "");
  if (step.type === "progress") break; // enough: the tool call is cancelled, the server closed
}
console.log("after the loop:", runtime.stats()); // sessionsOpen: 0 — the server process is gone
await runtime.dispose();

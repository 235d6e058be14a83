// Lend your own MCPClient to an agent: its streams use the sessions and never
// close them, whatever happens to the stream. You close them when you are done.
import { createRuntime, MCPAgent, MCPClient } from "mcpstream";

const runtime = await createRuntime();
const client = new MCPClient({
  mcpServers: { everything: { command: "npx", args: ["-y", "@modelcontextprotocol/server-everything", "stdio"] } },
}, { runtime });
await client.connect();

const agent = new MCPAgent({
  runtime,
  llm: { baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY, model: process.env.MCPSTREAM_MODEL },
  client,
});

const ac = new AbortController();
setTimeout(() => ac.abort(), 500); // give up after half a second
try {
  for await (const step of agent.stream("Run a long operation and show me its progress.", { signal: ac.signal })) console.log(step.type);
} catch (e) {
  console.log(`stream ended: ${e.name} (${e.code})`);
}

// The client's session survived the aborted stream:
const r = await client.callTool("everything", "echo", { message: "still here" });
console.log(r.content[0].text);
await client.close();
await runtime.dispose();

// agent.js — agent steps per second in a fresh process:
//   node agent.js <mcpstream|ai> <steps> <baseURL>
// One agent run of <steps> tool calls to server-everything's echo (over stdio,
// connected before timing: all 13 of its tools offered to the model), against
// the scripted model at <baseURL>. A warm-up run first. Prints
// { value: steps/s, seconds, cpuSeconds, steps }.
import { MCPSTREAM_ENTRY, SERVER_EVERYTHING } from "../lib/clients.js";

const [lib, stepsArg, baseURL] = process.argv.slice(2);
const steps = Number(stepsArg);
const server = { command: process.execPath, args: [SERVER_EVERYTHING, "stdio"] };

let run, close;
if (lib === "mcpstream") {
  const { createRuntime, MCPClient, MCPAgent } = await import(MCPSTREAM_ENTRY);
  const runtime = await createRuntime();
  const client = new MCPClient({ mcpServers: { everything: server } }, { runtime });
  await client.connect();
  run = async (n) => {
    const agent = new MCPAgent({ runtime, client, llm: { baseURL, apiKey: "bench", model: "bench" }, maxSteps: n + 1 });
    let results = 0;
    for await (const step of agent.stream(`steps=${n}`)) if (step.type === "tool_result" && !step.isError) results++;
    return results;
  };
  close = async () => { await client.close(); await runtime.dispose(); };
} else if (lib === "ai") {
  const { streamText, isStepCount } = await import("ai");
  const { createMCPClient } = await import("@ai-sdk/mcp");
  const { StdioMCPTransport } = await import("@ai-sdk/mcp/mcp-stdio");
  const { createOpenAICompatible } = await import("@ai-sdk/openai-compatible");
  const client = await createMCPClient({ transport: new StdioMCPTransport({ ...server, stderr: "ignore" }) });
  const tools = await client.tools();
  const model = createOpenAICompatible({ name: "bench", baseURL, apiKey: "bench" }).chatModel("bench");
  run = async (n) => {
    // ai's default retries stay on (as a user has them): they cost nothing unless a request fails
    const result = streamText({ model, tools, prompt: `steps=${n}`, stopWhen: isStepCount(n + 1) });
    let results = 0;
    for await (const part of result.fullStream) {
      if (part.type === "tool-result") results++;
      if (part.type === "error") throw part.error;
    }
    return results;
  };
  close = () => client.close();
} else {
  throw new Error(`unknown library ${lib}`);
}

try {
  const warm = Math.max(2, steps >> 2);
  const got = await run(warm);
  if (got !== warm) throw new Error(`${lib}: warm-up made ${got} tool calls, expected ${warm}`);
  const c0 = process.cpuUsage(), t0 = performance.now();
  const made = await run(steps);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  if (made !== steps) throw new Error(`${lib}: made ${made} tool calls, expected ${steps}`);
  process.stdout.write(JSON.stringify({ lib, steps, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, value: steps / seconds }) + "\n");
} finally {
  await close();
}

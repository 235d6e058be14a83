// model.js — the scripted, zero-latency model of the agent benchmark, as its own
// process (an OpenAI-compatible server; the fixture of the test suites):
//   node model.js   → prints { baseURL } once listening; serves until stdin ends.
// The user message says how many steps to take ("steps=N"): the model asks for
// server-everything's echo tool until the conversation holds N tool results,
// then answers with a short text. Whole answers in one SSE chunk each.
import { startModelServer } from "../../wasm-tests/fixtures/model-server.js";

const textOf = (c) => (typeof c === "string" ? c : Array.isArray(c) ? c.map((p) => p?.text ?? "").join("") : "");

function brain(body) {
  const messages = body.messages ?? [];
  const user = messages.find((m) => m.role === "user");
  const steps = Number(/steps=(\d+)/.exec(textOf(user?.content))?.[1] ?? 1);
  const done = messages.filter((m) => m.role === "tool").length;
  if (done >= steps) return { text: `done after ${done} steps`, chunkSize: 1000 };
  const echo = (body.tools ?? []).map((t) => t?.function?.name).find((n) => n === "echo" || n?.endsWith("echo"));
  if (!echo) return { text: "no echo tool", chunkSize: 1000 };
  return { toolCalls: [{ name: echo, arguments: { message: `step ${done + 1}` } }], chunkSize: 1000 };
}

const server = await startModelServer({ script: brain });
process.stdout.write(JSON.stringify({ baseURL: server.baseURL }) + "\n");
process.stdin.resume();
process.stdin.on("end", () => server.close().then(() => process.exit(0)));

// A worker that serves an agent run as Server-Sent Events:
//   POST /agent  {"query": "What is 2 + 40?"}  →  text/event-stream, one event per step
// The model is any OpenAI-compatible endpoint (MODEL_BASE_URL, MODEL, MODEL_API_KEY);
// the MCP server is reached over Streamable HTTP (MCP_URL). A client that hangs up
// ends the run: its MCP session gets its DELETE before the request's work is done.
import { createRuntime, MCPAgent, toSSEResponse } from "mcpstream";
import wasm from "mcpstream/mcpstream.wasm"; // a WebAssembly.Module in workerd

export default {
  async fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    if (pathname !== "/agent") return new Response("not found: POST /agent {\"query\": \"…\"}\n", { status: 404 });
    if (request.method !== "POST") return new Response("use POST\n", { status: 405, headers: { allow: "POST" } });
    let query;
    try {
      ({ query } = await request.json());
    } catch { /* answered below */ }
    if (typeof query !== "string" || !query) return Response.json({ error: 'the body must be JSON: {"query": "…"}' }, { status: 400 });

    // a runtime per request: a worker's I/O belongs to the request that made it
    const runtime = await createRuntime({ wasm });
    const agent = new MCPAgent({
      runtime,
      llm: { baseURL: env.MODEL_BASE_URL, apiKey: env.MODEL_API_KEY || undefined, model: env.MODEL || "stand-in" },
      mcpServers: env.MCP_URL ? { everything: { url: env.MCP_URL } } : {},
    });
    return toSSEResponse(agent.stream(query, { signal: request.signal }), {
      signal: request.signal,
      // the stream's cleanup (the session's DELETE) finishes even after the client left
      waitUntil: (ended) => ctx.waitUntil(ended.then(() => runtime.dispose())),
    });
  },
};

// A server that breaks the rules (fixtures/hostile-server.js) against the
// session side of the core: responses it can match but not accept, messages
// over the size limit, string fidelity, request timeouts, memory budgets.
// Each case settles with a typed error where it used to hang or lose data;
// bounds on waits only turn a hang into a failure, nothing asserts speed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRuntime, MCPClient, MCPAgent } from "../src/js/index.js";
import { recordLifecycle, guardUnhandled, killTagged, assertClean } from "./helpers.js";

const HOSTILE = fileURLToPath(new URL("./fixtures/hostile-server.js", import.meta.url));

/** A stdio config for the hostile server in `mode`, tagged for /proc. */
export function hostile(mode, extra = {}) {
  const tag = randomUUID();
  return { tag, config: { command: process.execPath, args: [HOSTILE, mode], env: { MCPSTREAM_TEST_TAG: tag, ...extra.env }, ...extra.config } };
}

/** The settlement of `p` as { value } or { error }, or a failure if it hangs. */
export function outcome(p, what, timeoutMs = 20000) {
  let timer;
  return Promise.race([
    p.then((value) => ({ value }), (error) => ({ error })),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: did not settle within ${timeoutMs} ms (hang)`)), timeoutMs); }),
  ]).finally(() => clearTimeout(timer));
}

/** A runtime of its own with a client of one hostile server. */
async function setup(t, mode, { limits, server, env } = {}) {
  const escaped = [];
  const onErr = (e) => escaped.push(e);
  process.on("unhandledRejection", onErr);
  const runtime = await createRuntime(limits ? { limits } : {});
  const life = recordLifecycle(runtime);
  const h = hostile(mode, { config: server, env });
  const client = new MCPClient({ mcpServers: { hostile: h.config } }, { runtime });
  t.after(async () => {
    process.off("unhandledRejection", onErr);
    await runtime.dispose();
    killTagged(h.tag);
  });
  return { runtime, life, client, escaped, tag: h.tag };
}

// ---- item 9: responses the core can match but not accept

test("a tools/call answered with both result and error fails with MCP_PROTOCOL naming the server", async (t) => {
  const { runtime, life, client, escaped } = await setup(t, "both");
  const r = await outcome(client.callTool("hostile", "probe", {}), "callTool");
  assert.equal(r.error?.code, "MCP_PROTOCOL", `got ${r.error?.code ?? "a result"}: ${r.error?.message}`);
  assert.match(r.error.message, /hostile/);
  assert.match(r.error.message, /both "result" and "error"/);
  // the session is still usable
  assert.equal((await client.listTools()).length, 1);
  await client.close();
  await assertClean(runtime, life, escaped);
});

test("responses inside a JSON array (a batch) are handled one by one", async (t) => {
  const { runtime, life, client, escaped } = await setup(t, "batch");
  const tools = await outcome(client.listTools(), "listTools");
  assert.deepEqual(tools.value?.map((x) => x.name), ["probe"], String(tools.error));
  const r = await outcome(client.callTool("hostile", "probe", {}), "callTool");
  assert.deepEqual(r.value?.content, [{ type: "text", text: "ok" }], String(r.error));
  await client.close();
  await assertClean(runtime, life, escaped);
});

test("a 38 MB tools/list line fails connect() with LIMIT_EXCEEDED instead of hanging", async (t) => {
  const { runtime, life, client, escaped } = await setup(t, "huge-list");
  const r = await outcome(client.connect(), "connect");
  assert.equal(r.error?.code, "LIMIT_EXCEEDED", `got ${r.error?.code ?? "success"}: ${r.error?.message}`);
  assert.match(r.error.message, /hostile/);
  assert.match(r.error.message, /16777216-byte limit/);
  await assertClean(runtime, life, escaped);
});

test("a tools/call answer over the size limit fails that call with LIMIT_EXCEEDED; the session goes on", async (t) => {
  const { runtime, life, client, escaped } = await setup(t, "huge-call", { limits: { messageBytes: 1 << 20 } });
  const r = await outcome(client.callTool("hostile", "probe", {}), "callTool");
  assert.equal(r.error?.code, "LIMIT_EXCEEDED", `got ${r.error?.code ?? "a result"}: ${r.error?.message}`);
  assert.match(r.error.message, /hostile/);
  assert.match(r.error.message, /1048576-byte limit/);
  assert.equal((await client.listTools()).length, 1);
  await client.close();
  await assertClean(runtime, life, escaped);
});

// ---- item 8: request timeouts (reset by progress, bounded in total)

/** A log file the hostile server appends every message it receives to. */
function serverLog(t) {
  const dir = mkdtempSync(join(tmpdir(), "mcpstream-hostile-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "received.ndjson");
  return { file, read: () => { try { return readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l)); } catch { return []; } } };
}

test("initialize that is never answered fails connect() with TIMEOUT after the server's timeoutMs", async (t) => {
  const { runtime, life, client, escaped } = await setup(t, "silent-init", { server: { timeoutMs: 300 } });
  const r = await outcome(client.connect(), "connect");
  assert.equal(r.error?.code, "TIMEOUT", `got ${r.error?.code ?? "success"}: ${r.error?.message}`);
  assert.match(r.error.message, /server 'hostile' did not answer initialize within 300 ms/);
  await assertClean(runtime, life, escaped);
});

test("a stream's tools/call that is never answered ends the stream with TIMEOUT (requestTimeoutMs) and is cancelled", async (t) => {
  const escaped = [];
  const onErr = (e) => escaped.push(e);
  process.on("unhandledRejection", onErr);
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  const log = serverLog(t);
  const h = hostile("silent-call", { env: { MCPSTREAM_HOSTILE_LOG: log.file } });
  t.after(async () => { process.off("unhandledRejection", onErr); await runtime.dispose(); killTagged(h.tag); });
  let turns = 0;
  const llm = async () => (turns++ === 0
    ? { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "probe", arguments: "{}" } }] }
    : { role: "assistant", content: "done" });
  const agent = new MCPAgent({ runtime, llm, mcpServers: { hostile: h.config }, requestTimeoutMs: 300 });
  const steps = [];
  const r = await outcome((async () => { for await (const s of agent.stream("go")) steps.push(s.type); })(), "stream");
  assert.equal(r.error?.code, "TIMEOUT", `got ${r.error?.code ?? "the end"}: ${r.error?.message}`);
  assert.match(r.error.message, /server 'hostile' did not answer tools\/call within 300 ms/);
  assert.deepEqual(steps, ["tool_call"]);
  const cancelled = log.read().filter((m) => m.method === "notifications/cancelled");
  const call = log.read().find((m) => m.method === "tools/call");
  assert.deepEqual(cancelled.map((m) => m.params.requestId), [call.id]);
  assert.equal(life.of("request-cancel").filter((e) => e.reason === "timeout").length, 1);
  await assertClean(runtime, life, escaped);
});

test("progress resets a request's timeout; maxTotalTimeoutMs still bounds it", async (t) => {
  const { runtime, life, client, escaped } = await setup(t, "progress-call", { server: { maxTotalTimeoutMs: 3000 } });
  let progress = 0;
  const r = await outcome(client.callTool("hostile", "probe", {}, { timeoutMs: 1000, onProgress: () => { progress++; } }), "callTool");
  assert.equal(r.error?.code, "TIMEOUT", `got ${r.error?.code ?? "a result"}: ${r.error?.message}`);
  assert.match(r.error.message, /server 'hostile' did not finish tools\/call within 3000 ms in total \(maxTotalTimeoutMs\)/);
  // notifications every ~30 ms: more than 1000 ms worth of them arrived, so progress did reset the timeout
  assert.ok(progress > 40, `only ${progress} progress notifications`);
  await client.close();
  await assertClean(runtime, life, escaped);
});

test("callTool's timeoutMs fails the call with TIMEOUT and sends notifications/cancelled; the session goes on", async (t) => {
  const log = serverLog(t);
  const { runtime, life, client, escaped } = await setup(t, "silent-call", { env: { MCPSTREAM_HOSTILE_LOG: log.file } });
  const r = await outcome(client.callTool("hostile", "probe", {}, { timeoutMs: 200 }), "callTool");
  assert.equal(r.error?.code, "TIMEOUT");
  assert.match(r.error.message, /server 'hostile' did not answer tools\/call within 200 ms/);
  const call = log.read().find((m) => m.method === "tools/call");
  // the server logs what it reads in its own time: wait (bounded) for the notification
  for (let i = 0; i < 500 && !log.read().some((m) => m.method === "notifications/cancelled"); i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(log.read().filter((m) => m.method === "notifications/cancelled").map((m) => m.params.requestId), [call.id]);
  assert.equal((await client.listTools()).length, 1);
  await client.close();
  await assertClean(runtime, life, escaped);
});

test("the one deadline timer: a short timeout is kept while a long one is pending; a timer left for a deadline that went away re-arms for the next", async (t) => {
  // The runtime keeps its timer armed at or before the earliest deadline and re-arms it only for
  // an earlier one (src/js/runtime.js #schedule): each of these calls hangs if that goes wrong.
  const { runtime, life, client, escaped } = await setup(t, "silent-call");
  await client.connect();
  // a deadline that goes away: the timer stays armed for it
  const ac = new AbortController();
  const gone = client.callTool("hostile", "probe", {}, { timeoutMs: 300, signal: ac.signal });
  ac.abort();
  assert.equal((await outcome(gone, "the aborted call")).error?.code, "ABORTED");
  const long = outcome(client.callTool("hostile", "probe", {}, { timeoutMs: 600_000 }), "the long call", 120_000);
  // a later deadline than the left timer's: that timer fires early and re-arms for it
  const later = await outcome(client.callTool("hostile", "probe", {}, { timeoutMs: 1000 }), "a call after the aborted one");
  assert.equal(later.error?.code, "TIMEOUT", `got ${later.error?.code ?? "a result"}: ${later.error?.message}`);
  assert.match(later.error.message, /within 1000 ms/);
  // an earlier deadline than the armed timer's (the long call's): re-armed for it
  const short = await outcome(client.callTool("hostile", "probe", {}, { timeoutMs: 200 }), "a short call while a long one is pending");
  assert.equal(short.error?.code, "TIMEOUT", `got ${short.error?.code ?? "a result"}: ${short.error?.message}`);
  assert.match(short.error.message, /within 200 ms/);
  await client.close();
  assert.ok((await long).error, "the long call ends with the client's close");
  await assertClean(runtime, life, escaped);
});

// ---- item 12: string fidelity

/** A model function that calls "probe" once, records what it was sent, then answers. */
function probingModel() {
  const sent = [];
  let turns = 0;
  const llm = async (request) => {
    sent.push(request);
    return turns++ === 0
      ? { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "probe", arguments: "{}" } }] }
      : { role: "assistant", content: "done" };
  };
  return { llm, sent };
}

test("a lone surrogate escape and a \\u0000 in a server's answer arrive intact (callTool, tool_result, the model)", async (t) => {
  const { runtime, life, client, escaped } = await setup(t, "strings");
  const r = await outcome(client.callTool("hostile", "probe", {}), "callTool");
  assert.deepEqual(r.value?.content, [{ type: "text", text: "cut \uFFFD here" }, { type: "text", text: "before\u0000after" }],
    String(r.error?.message));
  const { llm, sent } = probingModel();
  const agent = new MCPAgent({ runtime, llm, client });
  const steps = [];
  for await (const s of agent.stream("go")) steps.push(s);
  const result = steps.find((s) => s.type === "tool_result");
  assert.deepEqual(result.content, r.value.content);
  const toolMessage = sent[1].messages.find((m) => m.role === "tool");
  assert.equal(toolMessage.content, "cut \uFFFD here\nbefore\u0000after");
  await client.close();
  await assertClean(runtime, life, escaped);
});

// ---- item 13: memory budgets

test("a 100 MB model response ends the stream with LIMIT_EXCEEDED and leaves the heap small", async (t) => {
  const escaped = [];
  const onErr = (e) => escaped.push(e);
  process.on("unhandledRejection", onErr);
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  t.after(async () => { process.off("unhandledRejection", onErr); await runtime.dispose(); });
  const huge = "x".repeat(100e6);
  const agent = new MCPAgent({ runtime, llm: async () => ({ role: "assistant", content: huge }) });
  const r = await outcome(agent.run("go"), "run");
  assert.equal(r.error?.code, "LIMIT_EXCEEDED", `got ${r.error?.code ?? "the answer"}: ${r.error?.message}`);
  assert.match(r.error.message, /16777216-byte limit \(limits\.messageBytes\)/);
  assert.ok(runtime.stats().heapBytes < 64 * 2 ** 20, `heap ${runtime.stats().heapBytes} bytes`);
  await assertClean(runtime, life, escaped);
});

test("a streamed model answer bigger than limits.streamMemoryBytes ends that stream with LIMIT_EXCEEDED; the runtime goes on", async (t) => {
  const escaped = [];
  const onErr = (e) => escaped.push(e);
  process.on("unhandledRejection", onErr);
  const runtime = await createRuntime({ limits: { streamMemoryBytes: 8 * 2 ** 20 } });
  const life = recordLifecycle(runtime);
  t.after(async () => { process.off("unhandledRejection", onErr); await runtime.dispose(); });
  // an OpenAI-style SSE stream of 100 MB of text deltas (1 MB each), from a fetch of our own
  const delta = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "y".repeat(2 ** 20) } }] })}\n\n`;
  const chunk = new TextEncoder().encode(delta);
  let sent = 0;
  const fetch = async () => new Response(new ReadableStream({
    pull(c) {
      if (sent++ < 100) c.enqueue(chunk);
      else { c.enqueue(new TextEncoder().encode('data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')); c.close(); }
    },
  }), { status: 200, headers: { "content-type": "text/event-stream" } });
  const agent = new MCPAgent({ runtime, llm: { baseURL: "http://127.0.0.1:9/v1", model: "m", fetch } });
  const r = await outcome(agent.run("go"), "run");
  assert.equal(r.error?.code, "LIMIT_EXCEEDED", `got ${r.error?.code ?? "the answer"}: ${r.error?.message}`);
  assert.match(r.error.message, /memory budget of 8388608 bytes \(limits\.streamMemoryBytes\)/);
  assert.ok(sent < 100, "the model request was aborted");
  assert.ok(runtime.stats().heapBytes < 64 * 2 ** 20, `heap ${runtime.stats().heapBytes} bytes`);
  // the next stream of the same runtime works
  const ok = new MCPAgent({ runtime, llm: async () => ({ role: "assistant", content: "fine" }) });
  assert.equal(await ok.run("again"), "fine");
  await assertClean(runtime, life, escaped);
});

test("limits and per-server limits are checked: a bad name or value is a TypeError with code INVALID_ARGUMENT", async () => {
  await assert.rejects(createRuntime({ limits: { messageByte: 5 } }), (e) => e.code === "INVALID_ARGUMENT" && /messageByte/.test(e.message));
  await assert.rejects(createRuntime({ limits: { streamMemoryBytes: 0 } }), (e) => e.code === "INVALID_ARGUMENT");
  assert.throws(() => new MCPClient({ mcpServers: { a: { command: "x", timeoutMs: -1 } } }), (e) => e.code === "INVALID_ARGUMENT" && /timeoutMs/.test(e.message));
  assert.throws(() => new MCPAgent({ llm: async () => "x", requestTimeoutMs: 1.5 }), (e) => e.code === "INVALID_ARGUMENT");
});

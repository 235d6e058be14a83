// The public API of docs/architecture.md §4: MCPClient (connect, listTools, callTool with
// progress, timeout and abort, close) and MCPAgent (option checks, llm as a
// function, disallowed and unknown tools, maxSteps, memory, systemPrompt,
// connect/close ownership, concurrent streams, apiKey, model failures), and
// the shape of lifecycle events. Against the real server-everything over
// stdio and the local model stand-in; no part of mcpstream is mocked. The
// file ends with zero live allocations in the core.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import http from "node:http";
import net from "node:net";
import { randomUUID } from "node:crypto";
import { createRuntime, MCPAgent, MCPClient, MCPStreamError } from "../src/js/index.js";
import { startModelServer } from "./fixtures/model-server.js";
import { everything, SERVER_EVERYTHING, pidsWithTag, recordLifecycle, killTagged } from "./helpers.js";
import { assertClean as assertRuntimeClean } from "./helpers.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const SUM_CALL = { toolCalls: [{ name: "get-sum", arguments: { a: 2, b: 40 } }] };
const LONG_CALL = { toolCalls: [{ name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } }] };

// ---- file-wide: one runtime, its lifecycle events, unhandled rejections

const escaped = [];
const onEscape = (e) => escaped.push(e);
process.on("unhandledRejection", onEscape);
process.on("uncaughtException", onEscape);

const runtime = await createRuntime();
const life = recordLifecycle(runtime);
const tags = [];
const cleanups = [];
const scratch = mkdtempSync(join(tmpdir(), "mcpstream-api-"));

after(async () => {
  process.off("unhandledRejection", onEscape);
  process.off("uncaughtException", onEscape);
  await runtime.dispose();
  for (const c of cleanups) await c();
  for (const tag of tags) killTagged(tag);
  rmSync(scratch, { recursive: true, force: true });
});

async function model(script, options = {}) {
  const m = await startModelServer({ script, ...options });
  cleanups.push(() => m.close());
  return m;
}

function server(opts) {
  const s = everything(opts);
  tags.push(s.tag);
  return s;
}

/**
 * server-everything behind `tee`, which appends every line the server reads
 * on stdin (every JSON-RPC message mcpstream sends) to a log file, so a test
 * can prove a request was never sent.
 */
function loggedServer() {
  const tag = randomUUID();
  tags.push(tag);
  const log = join(scratch, `${tag}.ndjson`);
  const config = {
    command: "sh",
    args: ["-c", `tee -a "${log}" | "${process.execPath}" "${SERVER_EVERYTHING}" stdio`],
    env: { MCPSTREAM_TEST_TAG: tag },
  };
  const sent = () => existsSync(log)
    ? readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
  return { config, tag, sent, toolCalls: () => sent().filter((m) => m.method === "tools/call").map((m) => m.params.name) };
}

const mark = () => life.mark();

const assertClean = () => assertRuntimeClean(runtime, life, escaped);

/** A client over one server-everything, closed at the end of the test. */
function client(t, servers) {
  const c = new MCPClient({ mcpServers: servers }, { runtime });
  t.after(() => c.close().catch(() => {}));
  return c;
}

function invalidArgument(e) {
  assert.ok(e instanceof TypeError, `a TypeError, got ${e?.name}: ${e?.message}`);
  assert.equal(e.code, "INVALID_ARGUMENT");
  return true;
}

/** The tools server-everything lists to a plain JSON-RPC client (no mcpstream involved). */
async function toolsFromRawServer() {
  const s = server();
  const child = spawn(s.config.command, s.config.args, { env: { ...process.env, ...s.config.env }, stdio: ["pipe", "pipe", "ignore"] });
  const waiting = new Map();
  let buf = "";
  child.stdout.on("data", (d) => {
    buf += d;
    for (let i; (i = buf.indexOf("\n")) >= 0;) {
      const msg = JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      waiting.get(msg.id)?.(msg);
    }
  });
  let nextId = 1;
  const request = (method, params) => new Promise((resolve) => {
    const id = nextId++;
    waiting.set(id, resolve);
    child.stdin.write(JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n");
  });
  try {
    await request("initialize", { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "0" } });
    child.stdin.write(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) + "\n");
    await sleep(300); // conditional tools register after initialization
    const tools = [];
    let cursor;
    do {
      const { result } = await request("tools/list", cursor ? { cursor } : {});
      tools.push(...result.tools);
      cursor = result.nextCursor;
    } while (cursor);
    return tools;
  } finally {
    child.kill("SIGKILL");
  }
}

// =================================================================== MCPClient

test("client.connect() is idempotent: one session per server however often it is called", async (t) => {
  const s = server();
  const m = mark();
  const c = client(t, { everything: s.config });
  const results = await Promise.all([c.connect(), c.connect()]);
  assert.deepEqual(results, [undefined, undefined]);
  await c.connect();
  assert.equal(m.of("session-open").length, 1);
  assert.equal(m.of("session-open")[0].owner, "client");
  assert.equal(m.of("session-open")[0].server, "everything");
  assert.equal(pidsWithTag(s.tag).length, 1, "one server process");
  assert.equal(runtime.stats().sessionsOpen, 1);
  await c.close();
  assert.deepEqual(pidsWithTag(s.tag), []);
  await assertClean();
});

test("client.listTools() returns every tool of server-everything as { server, name, description, inputSchema }", async (t) => {
  const raw = await toolsFromRawServer();
  assert.ok(raw.length >= 10, `server-everything lists its tools (${raw.length})`);
  const s = server();
  const c = client(t, { everything: s.config });
  const tools = await c.listTools(); // connects on first use
  assert.ok(Array.isArray(tools));
  assert.deepEqual(tools.map((x) => x.name).sort(), raw.map((x) => x.name).sort());
  for (const tool of tools) {
    const r = raw.find((x) => x.name === tool.name);
    assert.deepEqual(Object.keys(tool), ["server", "name", "description", "inputSchema"]);
    assert.equal(tool.server, "everything");
    assert.equal(typeof tool.name, "string");
    assert.equal(tool.description, r.description, `description of ${tool.name}`);
    assert.deepEqual(tool.inputSchema, r.inputSchema, `inputSchema of ${tool.name}`);
    assert.equal(tool.inputSchema.type, "object");
  }
  assert.deepEqual(await c.listTools(), tools, "a second call lists the same");
  await c.close();
  await assertClean();
});

test("client.callTool(echo) resolves the CallToolResult; structuredContent null when absent", async (t) => {
  const s = server();
  const c = client(t, { everything: s.config });
  const r = await c.callTool("everything", "echo", { message: "hi" });
  assert.deepEqual(r, { content: [{ type: "text", text: "Echo: hi" }], isError: false, structuredContent: null });
  const sc = await c.callTool("everything", "get-structured-content", { location: "New York" });
  assert.equal(sc.isError, false);
  assert.deepEqual(sc.structuredContent, { temperature: 33, conditions: "Cloudy", humidity: 82 });
  assert.deepEqual(JSON.parse(sc.content[0].text), sc.structuredContent);
  // MCP convention: a tool that fails (here: invalid arguments) is a result with isError true
  const bad = await c.callTool("everything", "get-sum", { a: "x" });
  assert.equal(bad.isError, true);
  assert.match(bad.content[0].text, /get-sum/);
  await c.close();
  await assertClean();
});

test("client.callTool with onProgress: every progress callback, in order, before the result", async (t) => {
  const s = server();
  const c = client(t, { everything: s.config });
  const seen = [];
  const r = await c.callTool("everything", "trigger-long-running-operation", { duration: 0.5, steps: 5 },
    { onProgress: (p) => seen.push(p) }).then((res) => { seen.push("result"); return res; });
  assert.deepEqual(seen.map((p) => (p === "result" ? p : [p.progress, p.total])),
    [[1, 5], [2, 5], [3, 5], [4, 5], [5, 5], "result"]);
  for (const p of seen.slice(0, -1)) assert.deepEqual(Object.keys(p).sort(), ["message", "progress", "total"]);
  assert.equal(r.isError, false);
  assert.match(r.content[0].text, /Steps: 5/);
  await c.close();
  await assertClean();
});

// A 60 s call with a 200 ms timeout: without the timeout the test itself times out.
test("client.callTool with timeoutMs rejects TIMEOUT; the server process is still usable after", { timeout: 30000 }, async (t) => {
  const s = server();
  const c = client(t, { everything: s.config });
  await c.connect();
  const [pid] = pidsWithTag(s.tag);
  const m = mark();
  await assert.rejects(
    c.callTool("everything", "trigger-long-running-operation", { duration: 60, steps: 1 }, { timeoutMs: 200 }),
    (e) => {
      assert.ok(e instanceof MCPStreamError);
      assert.equal(e.code, "TIMEOUT");
      return true;
    });
  assert.equal(m.of("request-cancel").length, 1);
  assert.equal(m.of("request-cancel")[0].reason, "timeout");
  assert.equal(m.of("session-close").length, 0);
  assert.deepEqual(pidsWithTag(s.tag), [pid], "the same server process");
  const r = await c.callTool("everything", "echo", { message: "after the timeout" });
  assert.equal(r.content[0].text, "Echo: after the timeout");
  await c.close();
  await assertClean();
});

test("client.callTool aborted mid-call rejects AbortError/ABORTED, with a request-cancel event", async (t) => {
  const s = server();
  const c = client(t, { everything: s.config });
  await c.connect();
  const m = mark();
  const ac = new AbortController();
  const reason = new Error("user gave up");
  setTimeout(() => ac.abort(reason), 150);
  await assert.rejects(
    c.callTool("everything", "trigger-long-running-operation", { duration: 5, steps: 5 }, { signal: ac.signal }),
    (e) => {
      assert.equal(e.name, "AbortError");
      assert.equal(e.code, "ABORTED");
      assert.ok(e instanceof MCPStreamError);
      assert.equal(e.cause, reason);
      return true;
    });
  const cancels = m.of("request-cancel");
  assert.equal(cancels.length, 1);
  assert.equal(cancels[0].server, "everything");
  assert.equal(cancels[0].owner, "client");
  const r = await c.callTool("everything", "echo", { message: "still here" });
  assert.equal(r.content[0].text, "Echo: still here");
  await c.close();
  await assertClean();
});

test("client.callTool with an already aborted signal rejects AbortError/ABORTED and sends nothing", async (t) => {
  const s = loggedServer();
  const c = client(t, { everything: s.config });
  await c.connect();
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(c.callTool("everything", "echo", { message: "x" }, { signal: ac.signal }), (e) => {
    assert.equal(e.name, "AbortError");
    assert.equal(e.code, "ABORTED");
    return true;
  });
  // the server handles messages in order: once this call is answered, it has seen all before it
  assert.equal((await c.callTool("everything", "echo", { message: "next" })).content[0].text, "Echo: next");
  assert.deepEqual(s.toolCalls(), ["echo"], "only the second call reached the server");
  await c.close();
  await assertClean();
});

// Were the abort ignored, the call would resolve (after 3 s) instead of rejecting.
test("client.callTool aborted while the client is still connecting rejects AbortError/ABORTED, sends nothing", async (t) => {
  const s = loggedServer();
  const c = client(t, { everything: s.config });
  const ac = new AbortController();
  const call = c.callTool("everything", "trigger-long-running-operation", { duration: 3, steps: 3 }, { signal: ac.signal });
  setTimeout(() => ac.abort(), 20); // the server is still starting
  await assert.rejects(call, (e) => {
    assert.equal(e.name, "AbortError");
    assert.equal(e.code, "ABORTED");
    return true;
  });
  assert.equal((await c.callTool("everything", "echo", { message: "next" })).content[0].text, "Echo: next");
  assert.deepEqual(s.toolCalls(), ["echo"], "the aborted tools/call was never sent");
  await c.close();
  await assertClean();
});

test("client.callTool on an unknown server: TypeError with code INVALID_ARGUMENT", async (t) => {
  const s = server();
  const c = client(t, { everything: s.config });
  await assert.rejects(c.callTool("nowhere", "echo", { message: "x" }), (e) => {
    invalidArgument(e);
    assert.match(e.message, /nowhere/);
    return true;
  });
  await assert.rejects(c.callTool("everything", "", {}), invalidArgument);
  await assert.rejects(c.callTool("everything", "echo", [1]), invalidArgument);
  await c.close();
  await assertClean();
});

test("client.close() closes each session once; then callTool rejects with a typed error", async (t) => {
  const a = server(), b = server();
  const m = mark();
  const c = client(t, { a: a.config, b: b.config });
  await c.connect();
  assert.equal(pidsWithTag(a.tag).length + pidsWithTag(b.tag).length, 2);
  await Promise.all([c.close(), c.close()]);
  await c.close();
  assert.deepEqual([...pidsWithTag(a.tag), ...pidsWithTag(b.tag)], [], "close() resolved before the servers were gone");
  const closes = m.of("session-close");
  assert.deepEqual(closes.map((e) => e.server).sort(), ["a", "b"]);
  assert.ok(closes.every((e) => e.owner === "client" && e.reason === "closed"));
  for (const call of [() => c.callTool("a", "echo", { message: "x" }), () => c.listTools(), () => c.connect()]) {
    await assert.rejects(call(), (e) => {
      assert.ok(e instanceof MCPStreamError, `typed: ${e?.name}`);
      assert.equal(typeof e.code, "string");
      assert.notEqual(e.code, "INTERNAL");
      return true;
    });
  }
  assert.equal(m.of("session-open").length, 2, "nothing was reopened");
  await assertClean();
});

test("a client whose connect() failed says so in later calls: INVALID_STATE, the failure in the message and as cause", async (t) => {
  const missing = join(scratch, "no-such-server");
  const c = client(t, { gone: { command: missing } });
  const failed = await c.connect().then(() => null, (e) => e);
  assert.equal(failed?.code, "MCP_CONNECT_FAILED");
  for (const call of [() => c.callTool("gone", "echo", {}), () => c.listTools(), () => c.connect()]) {
    await assert.rejects(call(), (e) => {
      assert.ok(e instanceof MCPStreamError, `typed: ${e?.name}`);
      assert.equal(e.code, "INVALID_STATE");
      assert.match(e.message, /could not connect \(MCP_CONNECT_FAILED: .*no-such-server.*\) and is closed; create a new one/);
      assert.equal(e.cause, failed);
      return true;
    });
  }
  await c.close(); // and after an explicit close(), still the failure
  await assert.rejects(c.listTools(), (e) => e.cause === failed);
  await assertClean();
});

test("client.close() racing connect(): close() resolves with nothing open, connect() rejects typed", async (t) => {
  const s = server();
  const m = mark();
  const c = client(t, { everything: s.config });
  const connecting = c.connect().then(() => null, (e) => e);
  await c.close();
  assert.equal(runtime.stats().sessionsOpen, 0, "a session stayed open after close() resolved");
  assert.deepEqual(pidsWithTag(s.tag), []);
  const e = await connecting;
  assert.ok(e instanceof MCPStreamError, `connect() after close() must fail, got ${e}`);
  // connect() has settled: no work of this client is left that could open something later
  assert.equal(m.of("session-open").length - m.of("session-close").length, 0, "a session of a closed client is open");
  assert.deepEqual(pidsWithTag(s.tag), [], "a server of a closed client runs");
  await assertClean();
});

test("client.close() while a callTool is in flight: the call rejects typed, the session closes once", async (t) => {
  const s = server();
  const m = mark();
  const c = client(t, { everything: s.config });
  await c.connect();
  let inFlight;
  const started = new Promise((r) => { inFlight = r; });
  const call = c.callTool("everything", "trigger-long-running-operation", { duration: 10, steps: 10 }, { onProgress: () => inFlight() })
    .then(() => null, (e) => e);
  await started; // the server is running the call
  await c.close();
  assert.deepEqual(pidsWithTag(s.tag), []);
  const e = await call;
  assert.ok(e instanceof MCPStreamError, `the in-flight call settles with a typed error, got ${e}`);
  assert.equal(m.of("session-close").length, 1);
  await assertClean();
});

// =================================================================== MCPAgent: options

test("new MCPAgent with both client and mcpServers: TypeError, code INVALID_ARGUMENT", () => {
  const c = new MCPClient({ mcpServers: { everything: server().config } }, { runtime });
  assert.throws(() => new MCPAgent({ runtime, llm: { baseURL: "http://127.0.0.1:9/v1" }, client: c, mcpServers: {} }), invalidArgument);
  assert.throws(() => new MCPAgent({ runtime, llm: { baseURL: "http://127.0.0.1:9/v1" }, client: c, mcpServers: { everything: server().config } }), invalidArgument);
});

test("new MCPAgent with a bad llm, maxSteps or disallowedTools: TypeError, code INVALID_ARGUMENT", () => {
  const ok = { runtime, llm: { baseURL: "http://127.0.0.1:9/v1" } };
  assert.ok(new MCPAgent(ok));
  const bad = [
    { llm: undefined }, { llm: null }, { llm: "http://127.0.0.1:9/v1" }, { llm: {} }, { llm: { baseURL: "" } },
    { llm: { apiKey: "k" } }, { llm: 42 },
    { maxSteps: 0 }, { maxSteps: -1 }, { maxSteps: 1.5 }, { maxSteps: "3" }, { maxSteps: NaN }, { maxSteps: Infinity },
    { disallowedTools: "echo" }, { disallowedTools: [1] }, { disallowedTools: [null] }, { disallowedTools: {} },
  ];
  for (const b of bad) assert.throws(() => new MCPAgent({ ...ok, ...b }), invalidArgument, JSON.stringify(b));
  assert.throws(() => new MCPAgent(), invalidArgument);
});

// =================================================================== MCPAgent: the model

test("llm as an async function (request) => assistantMessage: gets messages and tools, drives tool calls", async () => {
  const s = server();
  const requests = [];
  const llm = async (request) => {
    requests.push(structuredClone(request));
    if (requests.length === 1) {
      return { role: "assistant", content: null, tool_calls: [
        { id: "fn_1", type: "function", function: { name: "echo", arguments: JSON.stringify({ message: "from a function" }) } }] };
    }
    return { role: "assistant", content: "The echo said: from a function" };
  };
  const agent = new MCPAgent({ runtime, llm, mcpServers: { everything: s.config } });
  const steps = [];
  for await (const step of agent.stream("Echo something")) steps.push(step);
  assert.equal(requests.length, 2);
  const [first, second] = requests;
  assert.ok(Array.isArray(first.messages));
  assert.deepEqual(first.messages.at(-1), { role: "user", content: "Echo something" });
  assert.ok(Array.isArray(first.tools));
  const echo = first.tools.find((x) => x.function?.name === "echo");
  assert.ok(echo, "the echo tool is offered");
  assert.equal(echo.type, "function");
  assert.equal(echo.function.parameters.type, "object");
  const toolMsg = second.messages.find((x) => x.role === "tool");
  assert.equal(toolMsg.tool_call_id, "fn_1");
  assert.match(toolMsg.content, /Echo: from a function/);
  assert.deepEqual(steps.find((x) => x.type === "tool_call"),
    { type: "tool_call", id: "fn_1", server: "everything", name: "echo", arguments: { message: "from a function" } });
  assert.equal(steps.at(-1).text, "The echo said: from a function");
  assert.equal(await new MCPAgent({ runtime, llm: async () => ({ role: "assistant", content: "plain" }) }).run("hi"), "plain");
  assert.deepEqual(pidsWithTag(s.tag), []);
  await assertClean();
});

test("runtime.stats(): allocatedBytes rises with a suspended stream and comes back; peakAllocatedBytes keeps the most", async () => {
  const rt = await createRuntime();
  try {
    const big = "z".repeat(300_000); // the answer passes through the core
    const agent = new MCPAgent({ runtime: rt, llm: async () => ({ role: "assistant", content: big }) });
    assert.equal(await agent.run("warm-up"), big); // the runtime's own buffers grow to their size here
    const s0 = rt.stats();
    for (const k of ["streamsOpen", "sessionsOpen", "liveAllocations", "heapBytes", "allocatedBytes", "peakAllocatedBytes"])
      assert.ok(Number.isInteger(s0[k]) && s0[k] >= 0, `${k}: ${s0[k]}`);
    assert.ok(s0.allocatedBytes > 0 && s0.allocatedBytes <= s0.peakAllocatedBytes && s0.peakAllocatedBytes <= s0.heapBytes);
    const it = agent.stream("hi");
    const first = await it.next();
    assert.equal(first.value.type, "text");
    const held = rt.stats();
    assert.ok(held.allocatedBytes > s0.allocatedBytes, `${held.allocatedBytes} > ${s0.allocatedBytes} while a stream is suspended`);
    assert.ok(held.peakAllocatedBytes >= held.allocatedBytes && held.peakAllocatedBytes >= s0.allocatedBytes + big.length,
      `peak ${held.peakAllocatedBytes} counts the ${big.length}-byte answer`);
    await it.return();
    const end = rt.stats();
    assert.equal(end.liveAllocations, 0);
    assert.equal(end.allocatedBytes, s0.allocatedBytes, "the stream's bytes were given back");
    assert.ok(end.peakAllocatedBytes >= held.peakAllocatedBytes, "the peak never goes down");
  } finally {
    await rt.dispose();
  }
  assert.equal(rt.stats().allocatedBytes, 0);
});

test("disallowedTools: absent from the model's tools; a call to one is an error result, never an MCP call", async () => {
  const s = loggedServer();
  const m = await model([
    { toolCalls: [{ id: "c1", name: "echo", arguments: { message: "forbidden" } }] },
    { toolCalls: [{ id: "c2", name: "get-sum", arguments: { a: 1, b: 2 } }] },
    { text: "ok" },
  ]);
  const agent = new MCPAgent({ runtime, llm: { baseURL: m.baseURL }, mcpServers: { everything: s.config }, disallowedTools: ["echo"] });
  const steps = [];
  for await (const step of agent.stream("try echo")) steps.push(step);
  const offered = m.requests[0].tools.map((x) => x.function.name);
  assert.ok(!offered.includes("echo"), "echo is not offered");
  assert.ok(offered.includes("get-sum"), "the other tools are");
  const r1 = steps.find((x) => x.type === "tool_result" && x.id === "c1");
  assert.equal(r1.isError, true);
  assert.equal(r1.name, "echo");
  assert.match(r1.content[0].text, /not allowed|disallowed/i);
  assert.equal(steps.find((x) => x.type === "tool_result" && x.id === "c2").isError, false);
  assert.deepEqual(s.toolCalls(), ["get-sum"], "only the allowed tool reached the server");
  assert.ok(m.requests[1].messages.some((x) => x.role === "tool" && x.tool_call_id === "c1" && /not allowed|disallowed/i.test(x.content)),
    "the model is told");
  assert.equal(steps.at(-1).text, "ok");
  assert.deepEqual(pidsWithTag(s.tag), []);
  await assertClean();
});

test("tool-call arguments that are not exactly one JSON object are an error result, never an MCP call (issue 5 item 7)", async () => {
  const s = loggedServer();
  const bad = ['{"a":2,"b":40} garbage', '{"a":2,"b":40}{"a":1,"b":1}', "[2,40]", "null"];
  const m = await model([
    { toolCalls: bad.map((args, i) => ({ id: `b${i}`, name: "get-sum", arguments: args })) },
    { toolCalls: [{ id: "ok", name: "get-sum", arguments: ' {"a":2,"b":40}\n' }] },
    { text: "fine" },
  ]);
  const agent = new MCPAgent({ runtime, llm: { baseURL: m.baseURL }, mcpServers: { everything: s.config } });
  const steps = [];
  for await (const step of agent.stream("add")) steps.push(step);
  for (let i = 0; i < bad.length; i++) {
    const call = steps.find((x) => x.type === "tool_call" && x.id === `b${i}`);
    assert.deepEqual(call, { type: "tool_call", id: `b${i}`, server: null, name: "get-sum", arguments: {} }, bad[i]);
    const result = steps.find((x) => x.type === "tool_result" && x.id === `b${i}`);
    assert.equal(result.isError, true);
    assert.equal(result.server, null);
    assert.match(result.content[0].text, /not a JSON object/);
    assert.ok(m.requests[1].messages.some((x) => x.role === "tool" && x.tool_call_id === `b${i}` && /not a JSON object/.test(x.content)),
      "the model is told");
  }
  assert.equal(steps.find((x) => x.type === "tool_call" && x.id === "ok").server, "everything");
  assert.deepEqual(s.toolCalls(), ["get-sum"], "only the well-formed call reached the server");
  assert.equal(steps.at(-1).text, "fine");
  assert.deepEqual(pidsWithTag(s.tag), []);
  await assertClean();
});

test("an unknown tool name from the model is an error result, never an MCP call", async () => {
  const s = loggedServer();
  const m = await model([
    { toolCalls: [{ id: "u1", name: "no-such-tool", arguments: {} }, { id: "u2", name: "get-sum", arguments: { a: 3, b: 4 } }] },
    { text: "fine" },
  ]);
  const agent = new MCPAgent({ runtime, llm: { baseURL: m.baseURL }, mcpServers: { everything: s.config } });
  const steps = [];
  for await (const step of agent.stream("call something")) steps.push(step);
  const r1 = steps.find((x) => x.type === "tool_result" && x.id === "u1");
  assert.equal(r1.isError, true);
  assert.equal(r1.name, "no-such-tool");
  assert.equal(r1.structuredContent, null);
  assert.match(steps.find((x) => x.type === "tool_result" && x.id === "u2").content[0].text, /7/);
  assert.deepEqual(s.toolCalls(), ["get-sum"]);
  assert.ok(m.requests[1].messages.some((x) => x.role === "tool" && x.tool_call_id === "u1"));
  assert.equal(steps.at(-1).text, "fine");
  await assertClean();
});

test("maxSteps exceeded: rejects LIMIT_EXCEEDED after cleanup", async () => {
  const s = server({ tree: true });
  const m = await model(() => SUM_CALL);
  const agent = new MCPAgent({ runtime, llm: { baseURL: m.baseURL }, mcpServers: { everything: s.config }, maxSteps: 2 });
  const mk = mark();
  const steps = [];
  await assert.rejects(async () => { for await (const step of agent.stream("add forever")) steps.push(step); }, (e) => {
    assert.ok(e instanceof MCPStreamError);
    assert.equal(e.code, "LIMIT_EXCEEDED");
    assert.match(e.message, /maxSteps/);
    assert.deepEqual(pidsWithTag(s.tag), [], "rejected before the owned server tree was gone");
    return true;
  });
  assert.equal(m.requests.length, 2, "two model calls, no third");
  assert.equal(steps.filter((x) => x.type === "tool_result").length, 2);
  assert.equal(mk.of("session-close").length, 1);
  assert.equal(mk.of("stream-end").at(-1).reason, "error");
  await assertClean();
});

test("memory: true carries the previous question and answer into the next request; memory: false does not", async () => {
  for (const memory of [true, false]) {
    const m = await model([{ text: "First answer." }, { text: "Second answer." }]);
    const agent = new MCPAgent({ runtime, llm: { baseURL: m.baseURL }, memory, systemPrompt: "Be brief." });
    assert.equal(await agent.run("First question?"), "First answer.");
    assert.equal(await agent.run("Second question?"), "Second answer.");
    const msgs = m.requests[1].messages.map(({ role, content }) => ({ role, content }));
    const expected = memory
      ? [{ role: "system", content: "Be brief." }, { role: "user", content: "First question?" },
         { role: "assistant", content: "First answer." }, { role: "user", content: "Second question?" }]
      : [{ role: "system", content: "Be brief." }, { role: "user", content: "Second question?" }];
    assert.deepEqual(msgs, expected, `memory: ${memory}`);
  }
  await assertClean();
});

test("systemPrompt is the first message of every model request", async () => {
  const s = server();
  const m = await model([SUM_CALL, { text: "42" }]);
  const agent = new MCPAgent({ runtime, llm: { baseURL: m.baseURL }, mcpServers: { everything: s.config }, systemPrompt: "You add numbers." });
  assert.equal(await agent.run("What is 2 + 40?"), "42");
  assert.equal(m.requests.length, 2);
  for (const r of m.requests) {
    assert.deepEqual(r.messages[0], { role: "system", content: "You add numbers." });
    assert.equal(r.messages.filter((x) => x.role === "system").length, 1);
  }
  const m2 = await model([{ text: "no prompt" }]);
  await new MCPAgent({ runtime, llm: { baseURL: m2.baseURL } }).run("hi");
  assert.deepEqual(m2.requests[0].messages, [{ role: "user", content: "hi" }], "no system message without systemPrompt");
  await assertClean();
});

// =================================================================== MCPAgent: ownership

test("agent.connect() opens agent-owned sessions that streams borrow; agent.close() closes them once", async () => {
  const s = server({ tree: true });
  const m = await model([SUM_CALL, { text: "42" }, SUM_CALL, { text: "42 again" }]);
  const agent = new MCPAgent({ runtime, llm: { baseURL: m.baseURL }, mcpServers: { everything: s.config } });
  const mk = mark();
  await agent.connect();
  await agent.connect();
  const opens = mk.of("session-open");
  assert.equal(opens.length, 1);
  assert.equal(opens[0].owner, "agent");
  assert.equal(opens[0].server, "everything");
  const pids = pidsWithTag(s.tag).sort();
  assert.ok(pids.length >= 2);
  assert.equal(await agent.run("What is 2 + 40?"), "42");
  assert.equal(await agent.run("What is 2 + 40 again?"), "42 again");
  assert.equal(mk.of("session-open").length, 1, "the streams opened nothing");
  assert.equal(mk.of("session-close").length, 0, "a stream ending closed an agent-owned session");
  assert.deepEqual(pidsWithTag(s.tag).sort(), pids, "the agent's server still runs");
  assert.equal(mk.of("stream-end").length, 2);
  await Promise.all([agent.close(), agent.close()]);
  assert.deepEqual(pidsWithTag(s.tag), [], "agent.close() resolved before the server was gone");
  const closes = mk.of("session-close");
  assert.equal(closes.length, 1);
  assert.equal(closes[0].sessionId, opens[0].sessionId);
  assert.equal(closes[0].owner, "agent");
  await agent.close();
  assert.equal(mk.of("session-close").length, 1);
  await assertClean();
});

test("agent.close() racing agent.connect(): nothing stays open, connect() rejects typed", async () => {
  for (const delay of [0, 100]) { // before the runtime is known / while the server starts
    const s = server();
    const m = mark();
    const agent = new MCPAgent({ runtime, llm: { baseURL: "http://127.0.0.1:9/v1" }, mcpServers: { everything: s.config } });
    const connecting = agent.connect().then(() => null, (e) => e);
    if (delay) await sleep(delay);
    await agent.close();
    assert.equal(runtime.stats().sessionsOpen, 0, `delay ${delay}: a session stayed open after agent.close() resolved`);
    assert.deepEqual(pidsWithTag(s.tag), []);
    const e = await connecting;
    assert.ok(e instanceof MCPStreamError, `delay ${delay}: connect() must fail, got ${e}`);
    // connect() has settled: nothing of this agent is left that could open a session later
    assert.equal(m.of("session-open").length - m.of("session-close").length, 0, `delay ${delay}: a session is open`);
    assert.deepEqual(pidsWithTag(s.tag), [], `delay ${delay}: a server runs`);
  }
  await assertClean();
});

test("two concurrent streams of one agent, each with owned sessions: each closes its own only", async () => {
  const s = server();
  const m = await model((body) => {
    const last = body.messages.at(-1);
    if (last.role === "tool") return { text: "B is done." };
    return /long/.test(last.content) ? LONG_CALL : SUM_CALL;
  });
  const agent = new MCPAgent({ runtime, llm: { baseURL: m.baseURL }, mcpServers: { everything: s.config } });
  const mk = mark();
  const a = agent.stream("run the long operation");
  const b = agent.stream("What is 2 + 40?");
  assert.equal((await a.next()).value.type, "tool_call");
  assert.equal((await b.next()).value.type, "tool_call");
  assert.equal(pidsWithTag(s.tag).length, 2, "one server per stream");
  const opens = mk.of("session-open");
  assert.equal(opens.length, 2);
  assert.ok(opens.every((e) => e.owner === "stream"));
  const openOf = (it) => opens.find((e) => e.streamId === it.id);
  assert.ok(openOf(a) && openOf(b) && openOf(a).sessionId !== openOf(b).sessionId);

  assert.deepEqual(await a.return(), { value: undefined, done: true });
  let closes = mk.of("session-close");
  assert.deepEqual(closes.map((e) => e.sessionId), [openOf(a).sessionId], "A closed its own session only");
  assert.equal(pidsWithTag(s.tag).length, 1, "B's server still runs");

  const rest = [];
  for (let r; !(r = await b.next()).done;) rest.push(r.value);
  assert.equal(rest.at(-1).text, "B is done.");
  assert.ok(rest.some((x) => x.type === "tool_result" && /42/.test(x.content[0].text)));
  closes = mk.of("session-close");
  assert.deepEqual(closes.map((e) => e.sessionId), [openOf(a).sessionId, openOf(b).sessionId]);
  assert.deepEqual(pidsWithTag(s.tag), []);
  await assertClean();
});

// =================================================================== MCPAgent: the model endpoint

test("llm.apiKey is sent as a Bearer token", async () => {
  const m = await model([{ text: "authorised" }], { apiKey: "required" });
  const agent = new MCPAgent({ runtime, llm: { baseURL: m.baseURL, apiKey: "sk-test-123", model: "m1" } });
  assert.equal(await agent.run("hi"), "authorised");
  assert.equal(m.requests[0].headers.authorization, "Bearer sk-test-123");
  assert.equal(m.requests[0].model, "m1");
  assert.equal(m.requests[0].stream, true);
  await assertClean();
});

test("the model answering HTTP 401: LLM_HTTP, the message mentions the apiKey; owned sessions closed", async () => {
  const s = server();
  const m = await model([{ text: "never" }], { apiKey: "required" });
  const agent = new MCPAgent({ runtime, llm: { baseURL: m.baseURL }, mcpServers: { everything: s.config } });
  await assert.rejects(agent.run("hi"), (e) => {
    assert.ok(e instanceof MCPStreamError);
    assert.equal(e.code, "LLM_HTTP");
    assert.match(e.message, /401/);
    assert.match(e.message, /apiKey/);
    // it names the endpoint (issue 5 item 14)
    assert.ok(e.message.startsWith(`${m.baseURL}/chat/completions: `), e.message);
    assert.equal(e.status, 401);
    assert.deepEqual(pidsWithTag(s.tag), []);
    return true;
  });
  await assertClean();
});

test("a model endpoint that is not listening: LLM_HTTP", async () => {
  const port = await new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });
  const s = server();
  const agent = new MCPAgent({ runtime, llm: { baseURL: `http://127.0.0.1:${port}/v1` }, mcpServers: { everything: s.config } });
  const it = agent.stream("hi");
  await assert.rejects(it.next(), (e) => {
    assert.ok(e instanceof MCPStreamError);
    assert.equal(e.code, "LLM_HTTP");
    assert.match(e.message, new RegExp(String(port)));
    assert.equal(e.status, undefined, "no HTTP status: the endpoint never answered");
    assert.deepEqual(pidsWithTag(s.tag), []);
    return true;
  });
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  await assertClean();
});

test("malformed JSON in the model's SSE stream: LLM_PROTOCOL", async () => {
  const srv = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const ok = { id: "x", object: "chat.completion.chunk", choices: [{ index: 0, delta: { role: "assistant", content: "Hel" }, finish_reason: null }] };
      res.write(`data: ${JSON.stringify(ok)}\n\n`);
      res.write('data: {"id":"x","choices":[{"index":0,"delta":{"content":"lo"}\n\n');
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }));
  const agent = new MCPAgent({ runtime, llm: { baseURL: `http://127.0.0.1:${srv.address().port}/v1` } });
  const steps = [];
  await assert.rejects(async () => { for await (const step of agent.stream("hi")) steps.push(step); }, (e) => {
    assert.ok(e instanceof MCPStreamError);
    assert.equal(e.code, "LLM_PROTOCOL");
    return true;
  });
  assert.ok(steps.every((x) => x.type === "text"), "no final step after a broken stream");
  await assertClean();
});

// =================================================================== lifecycle events

test("lifecycle events have exactly { kind, server, sessionId, owner, streamId, reason }", async () => {
  const KINDS = ["session-open", "session-close", "request-cancel", "stream-end", "cleanup-error"];
  // this test makes every kind itself (it does not rely on the tests before it):
  // a stream that opens a session, starts a tool call and is left early
  const m = await model([LONG_CALL, { text: "unreachable" }]);
  const s = server();
  const agent = new MCPAgent({ runtime, llm: { baseURL: m.baseURL }, mcpServers: { everything: s.config } });
  for await (const step of agent.stream("run the long operation")) if (step.type === "tool_call") break;
  for (const kind of ["session-open", "session-close", "request-cancel", "stream-end"])
    assert.ok(life.of(kind).length > 0, `a ${kind} event was seen`);
  for (const e of life.events) {
    assert.deepEqual(Object.keys(e).sort(), ["kind", "owner", "reason", "server", "sessionId", "streamId"], JSON.stringify(e));
    assert.ok(KINDS.includes(e.kind), e.kind);
    assert.ok([null, "stream", "agent", "client"].includes(e.owner), `owner ${e.owner}`);
    assert.ok(e.server === null || typeof e.server === "string");
    assert.ok(e.sessionId === null || (Number.isInteger(e.sessionId) && e.sessionId > 0));
    assert.ok(e.streamId === null || (Number.isInteger(e.streamId) && e.streamId > 0));
    assert.ok(e.reason === null || typeof e.reason === "string");
    if (e.kind.startsWith("session-")) {
      assert.equal(typeof e.server, "string");
      assert.equal(typeof e.sessionId, "number");
      assert.notEqual(e.owner, null);
    }
    if (e.kind === "stream-end") assert.equal(typeof e.streamId, "number");
  }
  const ids = life.of("session-open").map((e) => e.sessionId);
  assert.equal(new Set(ids).size, ids.length, "session ids are unique within the runtime");
  await assertClean();
});

test("the file ends with zero live allocations in the core and nothing escaped", async () => {
  await sleep(20);
  await assertClean();
});

test("the wasm exports the generator protocol: ms_stream_next, ms_stream_return, ms_stream_throw", () => {
  const wasm = new WebAssembly.Module(readFileSync(new URL("../dist/mcpstream.wasm", import.meta.url)));
  const names = WebAssembly.Module.exports(wasm).map((e) => e.name);
  for (const name of ["ms_stream_next", "ms_stream_return", "ms_stream_throw"]) assert.ok(names.includes(name), name);
});

test("ms_strerror and the generated JS table (src/js/constants.js) name every core error alike", async () => {
  const { ERROR_CODES } = await import("../src/js/constants.js");
  const { CORE_CODES } = await import("../src/js/errors.js");
  const runtime = await createRuntime();
  try {
    assert.ok(Object.keys(ERROR_CODES).length >= 15);
    for (const [status, code] of Object.entries(ERROR_CODES)) {
      assert.equal(runtime._core.strerror(Number(status)), code);
      assert.equal(CORE_CODES[status], code);
    }
    const lowest = Math.min(...Object.keys(ERROR_CODES).map(Number));
    for (const other of [0, 1, lowest - 1]) assert.equal(runtime._core.strerror(other), null);
  } finally {
    await runtime.dispose();
  }
});

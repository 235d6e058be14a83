// Edges of the contract found by acceptance testing from DESIGN alone: close()
// racing dispose(), return(promise), one signal shared by many streams, an
// application's own once("SIGINT") handler, and what an ended stream still holds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createRuntime, MCPAgent, MCPClient } from "../src/js/index.js";
import { startModelServer } from "./fixtures/model-server.js";
import { everything, pidsWithTag, recordLifecycle, guardUnhandled, killTagged, waitGone } from "./helpers.js";

const LONG_CALL = { toolCalls: [{ name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } }] };
const NO_MODEL = { baseURL: "http://127.0.0.1:9/v1" };

test("client.close() racing runtime.dispose() resolves, never rejects", async (t) => {
  const guard = guardUnhandled(t);
  const runtime = await createRuntime();
  const server = everything();
  t.after(async () => { await runtime.dispose(); killTagged(server.tag); });
  const client = new MCPClient({ mcpServers: { everything: server.config } }, { runtime });
  await client.connect();
  const closing = client.close();
  await runtime.dispose();
  await closing;
  assert.deepEqual(pidsWithTag(server.tag), []);
  await guard.assertNone();
});

for (const kind of ["agent", "client"]) {
  test(`${kind}.close() while dispose() runs resolves only when its sessions are closed`, async (t) => {
    const runtime = await createRuntime();
    const server = everything({ tree: true });
    t.after(async () => { await runtime.dispose(); killTagged(server.tag); });
    const owner = kind === "agent"
      ? new MCPAgent({ runtime, llm: NO_MODEL, mcpServers: { everything: server.config } })
      : new MCPClient({ mcpServers: { everything: server.config } }, { runtime });
    await owner.connect();
    runtime.dispose(); // not awaited: a shutdown path that then awaits close()
    await owner.close();
    assert.deepEqual(pidsWithTag(server.tag), []);
  });
}

test("return(promise) awaits it, as a native async generator does", async (t) => {
  const guard = guardUnhandled(t);
  const runtime = await createRuntime();
  t.after(() => runtime.dispose());
  const agent = new MCPAgent({ runtime, llm: NO_MODEL });
  async function* native() { yield 1; }
  assert.deepEqual(await native().return(Promise.resolve(5)), { value: 5, done: true });
  assert.deepEqual(await agent.stream("q").return(Promise.resolve(5)), { value: 5, done: true });
  const boom = new Error("rejected return value");
  await assert.rejects(agent.stream("q").return(Promise.reject(boom)), (e) => e === boom);
  assert.equal(runtime.stats().streamsOpen, 0);
  await guard.assertNone();
});

test("one AbortSignal shared by many streams and calls: no process warning, all abort", async (t) => {
  const warnings = [];
  const onWarning = (w) => warnings.push(`${w.name}: ${w.message}`);
  process.on("warning", onWarning);
  const runtime = await createRuntime();
  t.after(async () => { process.off("warning", onWarning); await runtime.dispose(); });
  const agent = new MCPAgent({ runtime, llm: NO_MODEL });
  const ac = new AbortController();
  const streams = Array.from({ length: 25 }, () => agent.stream("q", { signal: ac.signal }));
  ac.abort();
  for (const s of streams) await assert.rejects(s.next(), { name: "AbortError", code: "ABORTED" });
  // process.emitWarning emits on process.nextTick: one turn of the event loop has passed them all
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(warnings, []);
  assert.equal(runtime.stats().streamsOpen, 0);
});

test("an application's own process.once('SIGINT') handler keeps control", async (t) => {
  const model = await startModelServer({ script: [LONG_CALL] });
  const server = everything({ tree: true });
  t.after(async () => { await model.close(); killTagged(server.tag); });
  const child = spawn(process.execPath, [fileURLToPath(new URL("./fixtures/sigint-once-child.js", import.meta.url)),
    model.baseURL, JSON.stringify(server.config)], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { err += d; });
  const [code, signal] = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`the child hung; stderr: ${err}`)); }, 20000);
    child.on("exit", (c, s) => { clearTimeout(timer); resolve([c, s]); });
  });
  assert.deepEqual({ code, signal, out }, { code: 0, signal: null, out: "tool_call\ngraceful shutdown done\n" }, err);
  assert.deepEqual(await waitGone(server.tag), [], "server processes outlived the child");
});

test("a stream ended by agent.close() while suspended keeps only its end in the core; its next() reports the end", async (t) => {
  const model = await startModelServer({ script: [LONG_CALL] });
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  const server = everything();
  t.after(async () => { await runtime.dispose(); await model.close(); killTagged(server.tag); });
  const agent = new MCPAgent({ runtime, llm: { baseURL: model.baseURL }, mcpServers: { everything: server.config } });
  const it = agent.stream("run the long operation");
  assert.equal((await it.next()).value.type, "tool_call");
  const running = runtime.stats().liveAllocations;
  await agent.close();
  assert.deepEqual(life.of("stream-end").map((e) => e.reason), ["agent-closed"]);
  assert.equal(runtime.stats().streamsOpen, 0);
  // the core released the stream's conversation, tools and config when it ended; what is
  // left (the stream object and its end) goes once its next() reported the end
  const ended = runtime.stats().liveAllocations;
  assert.ok(ended <= 8 && ended < running / 4, `allocations: ${running} while suspended, ${ended} after the end`);
  await assert.rejects(it.next(), { name: "AbortError", code: "AGENT_CLOSED" });
  assert.equal(runtime.stats().liveAllocations, 0);
  assert.deepEqual(await it.next(), { value: undefined, done: true });
});

test("a stream ended before its first next() is ended by the core: its id, its stream-end event, streamsOpen from the core's count, the core's abort messages", async (t) => {
  const guard = guardUnhandled(t);
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  const server = everything();
  t.after(async () => { await runtime.dispose(); killTagged(server.tag); });
  const agent = new MCPAgent({ runtime, llm: NO_MODEL, mcpServers: { everything: server.config } });
  const endOf = (it) => life.of("stream-end").filter((e) => e.streamId === it.id);

  // return(): the core stream exists from agent.stream() on (NEW), and ends at once, opening nothing
  const r = agent.stream("q");
  assert.ok(r.id > 0, "the core stream is made by agent.stream() when the runtime is known");
  assert.equal(runtime.stats().streamsOpen, 1, "a created, not started stream counts");
  assert.deepEqual(await r.return(7), { value: 7, done: true });
  assert.equal(runtime.stats().streamsOpen, 0);
  assert.deepEqual(endOf(r).map((e) => e.reason), ["return"]);

  // a signal: the core's message, the signal's reason as the cause
  const ac = new AbortController();
  const a = agent.stream("q", { signal: ac.signal });
  const why = new Error("enough");
  ac.abort(why);
  assert.deepEqual(endOf(a).map((e) => e.reason), ["abort"], "ended by the core as the signal fired");
  await assert.rejects(a.next(), (e) => e.name === "AbortError" && e.code === "ABORTED" &&
    e.message === "the stream was aborted by its signal" && e.cause === why);
  assert.deepEqual(await a.next(), { value: undefined, done: true });

  // throw(e): the stream-end event carries e's message
  const th = agent.stream("q");
  const boom = new Error("thrown before start");
  await assert.rejects(th.throw(boom), (e) => e === boom);
  assert.deepEqual(endOf(th).map((e) => e.reason), ["thrown before start"]);

  // agent.close(): a created stream is ended by the core; its next() reports the core's message
  const c = agent.stream("q");
  assert.equal(runtime.stats().streamsOpen, 1);
  await agent.close();
  assert.equal(runtime.stats().streamsOpen, 0);
  assert.deepEqual(endOf(c).map((e) => e.reason), ["agent-closed"]);
  await assert.rejects(c.next(), (e) => e.name === "AbortError" && e.code === "AGENT_CLOSED" &&
    e.message === "the agent was closed while the stream was running");

  assert.equal(life.of("session-open").length, 0, "nothing was opened");
  assert.equal(runtime.stats().sessionsOpen, 0);
  assert.equal(runtime.stats().liveAllocations, 0);
  await guard.assertNone();
});

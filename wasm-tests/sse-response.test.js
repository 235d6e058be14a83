// toSSEResponse (DESIGN §4): a stream of steps as a Server-Sent Events Response.
// Read in Node as a worker's client would: through the body's ReadableStream.
// Real agent streams run against server-everything over stdio and the model
// stand-in; a scripted iterator checks the calls toSSEResponse makes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRuntime, MCPAgent, toSSEResponse } from "../src/js/index.js";
import * as browserEntry from "../src/js/browser.js";
import * as workerEntry from "../src/js/worker.js";
import { startModelServer } from "./fixtures/model-server.js";
import { everything, recordLifecycle, guardUnhandled, killTagged, assertClean } from "./helpers.js";

const decoder = new TextDecoder();

/** Reads a body into SSE records: { event, data } for events, { comment } for comments. */
function sseReader(response) {
  const reader = response.body.getReader();
  let buf = "";
  return {
    reader,
    /** The next record (event or comment); null at the end of the body. */
    async next() {
      for (;;) {
        const cut = buf.indexOf("\n\n");
        if (cut >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          if (block.startsWith(":")) return { comment: block.slice(1) };
          const rec = {};
          for (const line of block.split("\n")) {
            const i = line.indexOf(":");
            rec[line.slice(0, i)] = line.slice(i + 1).replace(/^ /, "");
          }
          return { event: rec.event, data: JSON.parse(rec.data) };
        }
        const { value, done } = await reader.read();
        if (done) return null;
        buf += decoder.decode(value, { stream: true });
      }
    },
    /** The next event, skipping heartbeat comments. */
    async event() {
      for (;;) {
        const r = await this.next();
        if (r === null || !("comment" in r)) return r;
      }
    },
  };
}

/** A scripted iterator of steps that records the calls made on it. */
function scripted(steps, { holdAt = -1 } = {}) {
  const calls = [];
  let i = 0;
  let release;
  const held = new Promise((r) => { release = r; });
  return {
    calls,
    release: () => release(),
    async next() {
      calls.push("next");
      if (i === holdAt) await held;
      if (i < steps.length) {
        const s = steps[i++];
        if (s instanceof Error) throw s;
        return { value: s, done: false };
      }
      return { value: undefined, done: true };
    },
    async return() { calls.push("return"); return { value: undefined, done: true }; },
  };
}

async function agentScenario(t, script) {
  const escaped = [];
  const guard = guardUnhandled(t);
  const model = await startModelServer(script ? { script } : {});
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  const server = everything();
  const agent = new MCPAgent({ runtime, llm: { baseURL: model.baseURL, model: "stand-in" }, mcpServers: { everything: server.config } });
  t.after(async () => {
    await runtime.dispose();
    await model.close();
    killTagged(server.tag);
  });
  return { runtime, life, agent, model, guard, escaped };
}

test("every entry point exports the same toSSEResponse", () => {
  assert.equal(typeof toSSEResponse, "function");
  assert.equal(browserEntry.toSSEResponse, toSSEResponse);
  assert.equal(workerEntry.toSSEResponse, toSSEResponse);
});

test("a full agent run: text/event-stream, one event per step named after its type, data the step, through final", async (t) => {
  const s = await agentScenario(t);
  const response = toSSEResponse(s.agent.stream("What is 2 + 40?"));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/event-stream");
  const sse = sseReader(response);
  const events = [];
  for (let e; (e = await sse.event()) !== null;) events.push(e);
  assert.ok(events.length >= 3, `events: ${events.map((e) => e.event)}`);
  for (const e of events) assert.equal(e.event, e.data.type);
  const names = events.map((e) => e.event);
  assert.equal(names.at(-1), "final");
  assert.ok(names.includes("tool_call") && names.includes("tool_result"), names.join(","));
  const call = events.find((e) => e.event === "tool_call").data;
  assert.equal(call.name, "get-sum");
  assert.deepEqual(call.arguments, { a: 2, b: 40 });
  assert.match(events.at(-1).data.text, /42/);
  const opens = s.life.assertEachClosedOnce();
  assert.equal(opens.length, 1);
  await assertClean(s.runtime, s.life, s.escaped);
  await s.guard.assertNone();
});

test("cancelling the body after two events ends the run: the owned session closed once before cancel() resolves", async (t) => {
  const s = await agentScenario(t, [
    { toolCalls: [{ name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } }] },
  ]);
  const response = toSSEResponse(s.agent.stream("long"));
  const sse = sseReader(response);
  const first = await sse.event();
  const second = await sse.event();
  assert.equal(first.event, "tool_call");
  assert.equal(second.event, "progress");
  await sse.reader.cancel();
  assert.equal(s.life.of("session-close").length, 1, "the owned session is closed when cancel() resolves");
  assert.equal(s.life.of("stream-end").length, 1);
  await assertClean(s.runtime, s.life, s.escaped);
  await s.guard.assertNone();
});

test("cancelling while next() is pending (the model stalls) interrupts it: the model request is aborted, the session closed", async (t) => {
  const s = await agentScenario(t, [{ text: "thinking", hangAfterChunks: 1 }]);
  const response = toSSEResponse(s.agent.stream("anything"), { heartbeatMs: 50 });
  const sse = sseReader(response);
  // the model stalls: no step comes; heartbeats do
  for (const end = Date.now() + 10000; s.model.requests.length === 0;) {
    assert.ok(Date.now() < end, "the model got no request");
    await sse.next();
  }
  const beat = await sse.next();
  assert.deepEqual(beat, { comment: "" });
  await sse.reader.cancel();
  assert.equal(s.life.of("session-close").length, 1);
  await s.model.whenAborted(1);
  await assertClean(s.runtime, s.life, s.escaped);
  await s.guard.assertNone();
});

test("an aborted signal ends the run: an error event ABORTED, then the end of the body; sessions closed once", async (t) => {
  const s = await agentScenario(t, [
    { toolCalls: [{ name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } }] },
  ]);
  const controller = new AbortController();
  let ended;
  const response = toSSEResponse(s.agent.stream("long"), { signal: controller.signal, waitUntil: (p) => { ended = p; } });
  const sse = sseReader(response);
  assert.equal((await sse.event()).event, "tool_call");
  controller.abort();
  const err = await sse.event();
  assert.equal(err.event, "error");
  assert.equal(err.data.code, "ABORTED");
  assert.equal(typeof err.data.message, "string");
  assert.equal(await sse.event(), null, "the body ends after the error");
  await ended;
  assert.equal(s.life.of("session-close").length, 1);
  await assertClean(s.runtime, s.life, s.escaped);
  await s.guard.assertNone();
});

test("a model error becomes event: error with its code and message", async (t) => {
  const s = await agentScenario(t, [{ status: 500, error: "the stand-in is down" }]);
  const sse = sseReader(toSSEResponse(s.agent.stream("anything")));
  const e = await sse.event();
  assert.equal(e.event, "error");
  assert.equal(e.data.code, "LLM_HTTP");
  assert.match(e.data.message, /500|down/);
  assert.deepEqual(Object.keys(e.data).sort(), ["code", "message"]);
  assert.equal(await sse.event(), null);
  await assertClean(s.runtime, s.life, s.escaped);
  await s.guard.assertNone();
});

test("a heartbeat comment is written while no step is due, and the stream goes on after it", async () => {
  const it = scripted([{ type: "text", text: "a" }, { type: "final", text: "a" }], { holdAt: 1 });
  const sse = sseReader(toSSEResponse(it, { heartbeatMs: 20 }));
  assert.equal((await sse.next()).event, "text");
  assert.deepEqual(await sse.next(), { comment: "" }, "a heartbeat while next() is pending");
  it.release();
  let r;
  do r = await sse.next(); while (r && "comment" in r);
  assert.equal(r.event, "final");
  assert.equal(await sse.next(), null);
  assert.deepEqual(it.calls.filter((c) => c === "return"), ["return"], "return() once after the end");
});

test("the default heartbeat comes about once a second", async () => {
  const it = scripted([{ type: "final", text: "" }], { holdAt: 0 });
  const sse = sseReader(toSSEResponse(it));
  assert.deepEqual(await sse.next(), { comment: "" });
  it.release();
  let r;
  do r = await sse.next(); while (r && "comment" in r);
  assert.equal(r.event, "final");
});

test("return() is called exactly once whatever ends the body: cancel, abort, both, completion, an error", async () => {
  // cancel
  let it = scripted([{ type: "text", text: "a" }, { type: "text", text: "b" }]);
  let sse = sseReader(toSSEResponse(it));
  await sse.next();
  await sse.reader.cancel();
  assert.deepEqual(it.calls.filter((c) => c === "return"), ["return"]);
  // abort, then cancel
  it = scripted([{ type: "text", text: "a" }, { type: "text", text: "b" }]);
  const c = new AbortController();
  sse = sseReader(toSSEResponse(it, { signal: c.signal }));
  await sse.next();
  c.abort();
  await sse.reader.cancel();
  assert.deepEqual(it.calls.filter((x) => x === "return"), ["return"]);
  // already aborted: nothing is pulled
  it = scripted([{ type: "text", text: "a" }]);
  const c2 = new AbortController();
  c2.abort();
  sse = sseReader(toSSEResponse(it, { signal: c2.signal }));
  assert.equal((await sse.next()).event, "error");
  assert.equal(await sse.next(), null);
  assert.deepEqual(it.calls, ["return"]);
  // an error thrown by next()
  it = scripted([{ type: "text", text: "a" }, Object.assign(new Error("boom"), { code: "MCP_ERROR" })]);
  sse = sseReader(toSSEResponse(it));
  await sse.next();
  assert.deepEqual(await sse.next(), { event: "error", data: { code: "MCP_ERROR", message: "boom" } });
  assert.equal(await sse.next(), null);
  assert.deepEqual(it.calls.filter((x) => x === "return"), ["return"]);
  // an error without a code
  it = scripted([new TypeError("bad")]);
  sse = sseReader(toSSEResponse(it));
  assert.deepEqual(await sse.next(), { event: "error", data: { code: "INTERNAL", message: "bad" } });
});

test("bad arguments are TypeErrors with code INVALID_ARGUMENT; extra headers are kept", () => {
  assert.throws(() => toSSEResponse(null), { name: "TypeError", code: "INVALID_ARGUMENT" });
  assert.throws(() => toSSEResponse({}), { code: "INVALID_ARGUMENT" });
  assert.throws(() => toSSEResponse(scripted([]), { signal: {} }), { code: "INVALID_ARGUMENT" });
  const r = toSSEResponse(scripted([]), { headers: { "access-control-allow-origin": "*", "content-type": "text/plain" } });
  assert.equal(r.headers.get("access-control-allow-origin"), "*");
  assert.equal(r.headers.get("content-type"), "text/event-stream");
  assert.equal(r.headers.get("cache-control"), "no-cache");
  r.body.cancel();
});

// The stream as an async iterator (docs/architecture.md §3 rule 6, §4): queued next()
// calls, return() queued behind a pending next(), return(v), the iterator
// and dispose symbols, the shape of every step, streamsOpen, the
// FinalizationRegistry safety net and the default runtime at script end.
// Everything runs against the real server-everything over stdio and the
// local model stand-in; the file ends with zero live allocations in the core.
import { test, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import { createRuntime, MCPAgent, MCPClient } from "../src/js/index.js";
import { startModelServer } from "./fixtures/model-server.js";
import { everything, pidsWithTag, waitForPids, waitGone, recordLifecycle, killTagged, runScript } from "./helpers.js";
import { assertClean as assertRuntimeClean } from "./helpers.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const SUM_CALL = { toolCalls: [{ id: "call_sum", name: "get-sum", arguments: { a: 2, b: 40 } }] };
const LONG_CALL = { toolCalls: [{ id: "call_long", name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } }] };
const SUM_ANSWER = { text: "The sum is 42." };

// ---- each test its own runtime (one failure cannot cascade into the next
// test); file-wide: unhandled rejections, model stand-ins, tagged processes

const escaped = [];
const onEscape = (e) => escaped.push(e);
process.on("unhandledRejection", onEscape);
process.on("uncaughtException", onEscape);

let runtime, life;
beforeEach(async () => {
  runtime = await createRuntime();
  life = recordLifecycle(runtime);
});
afterEach(() => runtime.dispose());
const tags = [];
const models = [];

after(async () => {
  process.off("unhandledRejection", onEscape);
  process.off("uncaughtException", onEscape);
  await Promise.all(models.map((m) => m.close()));
  for (const tag of tags) killTagged(tag);
});

/** A model stand-in with `script`, closed at the end of the file. */
async function model(script, options = {}) {
  const m = await startModelServer({ script, ...options });
  models.push(m);
  return m;
}

/** A server-everything config, tagged so its processes can be found. */
function server(opts) {
  const s = everything(opts);
  tags.push(s.tag);
  return s;
}

/** An agent whose streams own their server-everything session. */
async function ownedAgent(script, { tree = false, ...options } = {}) {
  const m = await model(script);
  const s = server({ tree });
  const agent = new MCPAgent({ runtime, llm: { baseURL: m.baseURL, model: "stand-in" }, mcpServers: { everything: s.config }, ...options });
  return { agent, model: m, tag: s.tag };
}

/** Events recorded from now on. */
const mark = () => life.mark();

/** After a test: nothing open, nothing held by the core, nothing escaped. */
const assertClean = () => assertRuntimeClean(runtime, life, escaped);

/** Drains an iterator with sequential next() calls; returns [steps, doneResult]. */
async function drain(it) {
  const steps = [];
  for (;;) {
    const r = await it.next();
    if (r.done) return [steps, r];
    steps.push(r.value);
  }
}

/** A next()/return() whose settlement is recorded in `order` under `label`. */
function track(order, label, promise) {
  return promise.then(
    (v) => { order.push(label); return v; },
    (e) => { order.push(label); throw e; });
}

// ---- queued calls

test("five next() calls fired without awaiting settle in order, like a sequential run", async () => {
  const script = [SUM_CALL, SUM_ANSWER, SUM_CALL, SUM_ANSWER];
  const { agent, tag } = await ownedAgent(script);

  const [sequential, seqDone] = await drain(agent.stream("What is 2 + 40?"));
  assert.ok(sequential.length >= 6, `a run of several steps (${sequential.length})`);
  assert.equal(seqDone.value, sequential.at(-1));

  const it = agent.stream("What is 2 + 40?");
  const order = [];
  const pending = [0, 1, 2, 3, 4].map((i) => track(order, i, it.next()));
  const results = await Promise.all(pending);
  assert.deepEqual(order, [0, 1, 2, 3, 4], "settlement order");
  assert.deepEqual(results, sequential.slice(0, 5).map((value) => ({ value, done: false })));
  const [rest, done] = await drain(it);
  assert.deepEqual([...results.map((r) => r.value), ...rest], sequential);
  assert.equal(done.value, rest.at(-1));
  assert.deepEqual(pidsWithTag(tag), []);
  await assertClean();
});

test("more next() calls than steps: every step in order, then the final as done value, then done", async () => {
  const { agent } = await ownedAgent([SUM_CALL, SUM_ANSWER, SUM_CALL, SUM_ANSWER]);
  const [sequential] = await drain(agent.stream("What is 2 + 40?"));
  const it = agent.stream("What is 2 + 40?");
  const order = [];
  const n = sequential.length + 3;
  const results = await Promise.all(Array.from({ length: n }, (_, i) => track(order, i, it.next())));
  assert.deepEqual(order, Array.from({ length: n }, (_, i) => i));
  assert.deepEqual(results.slice(0, sequential.length).map((r) => r.value), sequential);
  assert.ok(results.slice(0, sequential.length).every((r) => r.done === false));
  const final = results[sequential.length - 1].value;
  assert.equal(final.type, "final");
  assert.equal(results[sequential.length].done, true);
  assert.equal(results[sequential.length].value, final, "the done value is the final step object itself");
  for (const r of results.slice(sequential.length + 1)) assert.deepEqual(r, { value: undefined, done: true });
  await assertClean();
});

test("return() issued while a next() is pending queues behind it", async () => {
  const { agent, tag } = await ownedAgent([LONG_CALL, { text: "unreachable" }]);
  const m = mark();
  const it = agent.stream("run the long operation");
  const order = [];
  const next = track(order, "next", it.next());         // pending: the server is still starting
  const ret = track(order, "return", it.return("bye"));
  const [n, r] = await Promise.all([next, ret]);
  assert.deepEqual(order, ["next", "return"]);
  assert.equal(n.done, false, "the pending next() resolves with its step");
  assert.equal(n.value.type, "tool_call");
  assert.equal(n.value.name, "trigger-long-running-operation");
  assert.deepEqual(r, { value: "bye", done: true });
  assert.deepEqual(pidsWithTag(tag), [], "return() settled before the owned server was gone");
  assert.equal(m.of("request-cancel").length, 1, "the running tool call was cancelled");
  assert.equal(m.of("stream-end").at(-1).reason, "return");
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  await assertClean();
});

test("a next() issued after return() resolves done, after the return", async () => {
  const { agent } = await ownedAgent([LONG_CALL, { text: "unreachable" }]);
  const it = agent.stream("run the long operation");
  assert.equal((await it.next()).value.type, "tool_call");
  const order = [];
  const ret = track(order, "return", it.return(1));
  const next = track(order, "next", it.next());
  assert.deepEqual(await Promise.all([ret, next]), [{ value: 1, done: true }, { value: undefined, done: true }]);
  assert.deepEqual(order, ["return", "next"]);
  await assertClean();
});

test("return(v) resolves { value: v, done: true } with v itself", async () => {
  const { agent, tag } = await ownedAgent([LONG_CALL, { text: "unreachable" }]);
  const it = agent.stream("run the long operation");
  assert.equal((await it.next()).value.type, "tool_call");
  const v = { any: "value" };
  const r = await it.return(v);
  assert.equal(r.done, true);
  assert.equal(r.value, v);
  assert.deepEqual(Object.keys(r).sort(), ["done", "value"]);
  assert.deepEqual(pidsWithTag(tag), []);
  const again = await it.return(2);
  assert.deepEqual(again, { value: 2, done: true }, "a later return(v) resolves with its own v");
  await assertClean();
});

test("[Symbol.asyncIterator]() returns the stream itself", async () => {
  const { agent } = await ownedAgent([SUM_ANSWER]);
  const it = agent.stream("hello");
  assert.equal(it[Symbol.asyncIterator](), it);
  assert.equal(typeof it.next, "function");
  assert.equal(typeof it.return, "function");
  assert.equal(typeof it.throw, "function");
  assert.deepEqual(await it.return(), { value: undefined, done: true });
  await assertClean();
});

test("[Symbol.asyncDispose]() ends the stream like return(): the owned process tree is gone when it resolves", async () => {
  const { agent, tag } = await ownedAgent([LONG_CALL, { text: "unreachable" }], { tree: true });
  const m = mark();
  const it = agent.stream("run the long operation");
  assert.equal(typeof it[Symbol.asyncDispose], "function");
  assert.equal((await it.next()).value.type, "tool_call");
  assert.ok((await waitForPids(tag, 2)).length >= 2, "server and its child run");
  const disposed = it[Symbol.asyncDispose]();
  assert.ok(disposed instanceof Promise);
  assert.equal(await disposed, undefined);
  assert.deepEqual(pidsWithTag(tag), [], "asyncDispose resolved before the owned tree was gone");
  assert.equal(m.of("session-close").length, 1);
  assert.equal(m.of("request-cancel").length, 1);
  assert.equal(m.of("stream-end").at(-1).reason, "return");
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  await it[Symbol.asyncDispose](); // again: nothing more to do
  await assertClean();
});

// ---- completion

test("after completion next() resolves done; the done value after the final step is that step", async () => {
  const { agent, tag } = await ownedAgent([SUM_CALL, SUM_ANSWER]);
  const it = agent.stream("What is 2 + 40?");
  const [steps, done] = await drain(it);
  const final = steps.at(-1);
  assert.equal(final.type, "final");
  assert.equal(done.done, true);
  assert.equal(done.value, final, "the same object, not a copy");
  assert.deepEqual(pidsWithTag(tag), [], "the end settled before the owned server was gone");
  for (let i = 0; i < 3; i++) assert.deepEqual(await it.next(), { value: undefined, done: true });
  assert.deepEqual(await it.return("late"), { value: "late", done: true });
  await assertClean();
});

test("agent.run(query) returns the final text, after cleanup", async () => {
  const { agent, tag, model: m } = await ownedAgent([SUM_CALL, SUM_ANSWER]);
  const mk = mark();
  const text = await agent.run("What is 2 + 40?");
  assert.equal(text, "The sum is 42.");
  assert.deepEqual(pidsWithTag(tag), []);
  assert.equal(m.requests.length, 2);
  assert.equal(mk.of("stream-end").at(-1).reason, "completed");
  await assertClean();
});

test("steps are plain JSON-serialisable objects with exactly the fields of docs/architecture.md §4", async () => {
  const script = [
    { toolCalls: [{ id: "c1", name: "echo", arguments: { message: "hi" } }] },
    { toolCalls: [{ id: "c2", name: "get-structured-content", arguments: { location: "Chicago" } }] },
    { toolCalls: [{ id: "c3", name: "trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } }] },
    { toolCalls: [{ id: "c4", name: "get-sum", arguments: { a: "not a number" } }] },
    { text: "All done: ✓ größer 😀", chunkSize: 2, splitEvents: true },
  ];
  const { agent } = await ownedAgent(script, { maxSteps: 10 });
  const [steps, done] = await drain(agent.stream("use the tools"));
  const FIELDS = {
    text: ["text", "type"],
    tool_call: ["arguments", "id", "name", "server", "type"],
    progress: ["id", "message", "progress", "total", "type"],
    tool_result: ["content", "id", "isError", "name", "server", "structuredContent", "type"],
    final: ["reason", "text", "type", "usage"],
  };
  for (const step of steps) {
    assert.ok(FIELDS[step.type], `unknown step type ${step.type}`);
    assert.deepEqual(Object.keys(step).sort(), FIELDS[step.type], `fields of a ${step.type} step`);
    assert.equal(Object.getPrototypeOf(step), Object.prototype, "a plain object");
    assert.deepEqual(JSON.parse(JSON.stringify(step)), step, `a ${step.type} step survives JSON`);
    if (step.type === "tool_result") {
      assert.equal(typeof step.isError, "boolean");
      assert.ok(Array.isArray(step.content));
      assert.ok(step.structuredContent === null || typeof step.structuredContent === "object");
    }
    if (step.type === "tool_call") {
      assert.equal(step.server, "everything");
      assert.equal(typeof step.arguments, "object", "arguments are parsed");
    }
    if (step.type === "progress") {
      assert.equal(typeof step.progress, "number");
      assert.ok(step.total === null || typeof step.total === "number");
      assert.ok(step.message === null || typeof step.message === "string");
    }
  }
  const calls = steps.filter((s) => s.type === "tool_call");
  assert.deepEqual(calls.map((c) => [c.id, c.name, c.arguments]),
    script.slice(0, 4).map((t) => [t.toolCalls[0].id, t.toolCalls[0].name, t.toolCalls[0].arguments]));
  const results = Object.fromEntries(steps.filter((s) => s.type === "tool_result").map((s) => [s.id, s]));
  assert.deepEqual(results.c1, { type: "tool_result", id: "c1", server: "everything", name: "echo",
    content: [{ type: "text", text: "Echo: hi" }], isError: false, structuredContent: null });
  assert.deepEqual(results.c2.structuredContent, { temperature: 36, conditions: "Light rain / drizzle", humidity: 82 });
  assert.equal(results.c2.isError, false);
  assert.equal(results.c3.isError, false);
  assert.equal(results.c3.structuredContent, null);
  assert.equal(results.c4.isError, true, "invalid arguments give an error result");
  assert.equal(results.c4.structuredContent, null);
  const progress = steps.filter((s) => s.type === "progress");
  assert.deepEqual(progress.map((p) => [p.id, p.progress, p.total]), [["c3", 1, 3], ["c3", 2, 3], ["c3", 3, 3]]);
  // every progress step comes between its call and its result
  const at = (pred) => steps.findIndex(pred);
  const callAt = at((s) => s.type === "tool_call" && s.id === "c3");
  const resultAt = at((s) => s.type === "tool_result" && s.id === "c3");
  assert.ok(steps.every((s, i) => s.type !== "progress" || (i > callAt && i < resultAt)));
  assert.equal(done.value, steps.at(-1));
  assert.deepEqual(Object.keys(done).sort(), ["done", "value"]);
  await assertClean();
});

test("text steps concatenate to the final text (multi-byte characters split across events)", async () => {
  const answer = "Ünïcödé: ✓ — 2 + 40 = 42 😀, fin.";
  const { agent } = await ownedAgent([SUM_CALL, { text: answer, chunkSize: 1, splitEvents: true }]);
  const [steps] = await drain(agent.stream("What is 2 + 40?"));
  const texts = steps.filter((s) => s.type === "text");
  assert.ok(texts.length > 5, "the answer arrived as many deltas");
  assert.equal(texts.map((s) => s.text).join(""), answer);
  const final = steps.at(-1);
  assert.deepEqual({ type: final.type, text: final.text, reason: final.reason }, { type: "final", text: answer, reason: "stop" });
  assert.ok(steps.findIndex((s) => s.type === "text") > steps.findIndex((s) => s.type === "tool_result"),
    "text deltas of the answer follow the tool result");
  await assertClean();
});

// ---- streamsOpen

test("streamsOpen counts a started stream and drops to 0 when it ends", async () => {
  const { agent } = await ownedAgent([LONG_CALL, { text: "unreachable" }, SUM_ANSWER]);
  assert.equal(runtime.stats().streamsOpen, 0);
  const a = agent.stream("run the long operation");
  assert.equal((await a.next()).value.type, "tool_call");
  assert.equal(runtime.stats().streamsOpen, 1);
  const b = agent.stream("hello");
  await b.next();
  assert.equal(runtime.stats().streamsOpen, 2);
  await drain(b);
  assert.equal(runtime.stats().streamsOpen, 1, "a completed stream no longer counts");
  await a.return();
  assert.equal(runtime.stats().streamsOpen, 0);
  await assertClean();
});

test("streamsOpen counts a created stream; return() before the first next() ends it", async () => {
  const { agent } = await ownedAgent([SUM_ANSWER]);
  const it = agent.stream("hello");
  assert.equal(runtime.stats().streamsOpen, 1, "docs/architecture.md §4: streamsOpen counts streams created and not yet ended");
  assert.deepEqual(await it.return(), { value: undefined, done: true });
  assert.equal(runtime.stats().streamsOpen, 0);
  const it2 = agent.stream("hello");
  assert.equal(runtime.stats().streamsOpen, 1);
  await drain(it2);
  assert.equal(runtime.stats().streamsOpen, 0);
  await assertClean();
});

// ---- the FinalizationRegistry safety net

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc");

test("an abandoned stream suspended at a tool_call gets its owned session closed after GC", async () => {
  const { agent, tag } = await ownedAgent([LONG_CALL, { text: "unreachable" }], { tree: true });
  const m = mark();
  // start a stream, take one step, drop every reference to it
  const first = await (async () => {
    const it = agent.stream("run the long operation");
    return (await it.next()).value;
  })();
  assert.equal(first.type, "tool_call");
  assert.ok((await waitForPids(tag, 2)).length >= 2, "server and its child run");
  assert.equal(m.of("session-open").length, 1);
  assert.equal(runtime.stats().streamsOpen, 1);

  const deadline = Date.now() + 15000;
  while (m.of("stream-end").length === 0 || pidsWithTag(tag).length > 0) {
    if (Date.now() > deadline) assert.fail("the abandoned stream was not cleaned up after GC");
    gc();
    await sleep(50);
  }
  const [open] = m.of("session-open");
  assert.equal(open.owner, "stream");
  const closes = m.of("session-close");
  assert.equal(closes.length, 1);
  assert.equal(closes[0].sessionId, open.sessionId);
  assert.equal(closes[0].reason, "closed");
  assert.equal(m.of("request-cancel").length, 1, "the in-flight tool call was cancelled");
  assert.equal(runtime.stats().streamsOpen, 0);
  await assertClean();
});

test("an abandoned stream suspended at a text step while the model still streams: request aborted, session closed after GC", async () => {
  const { agent, tag, model: md } = await ownedAgent([{ text: "an answer that never ends", hangAfterChunks: 3 }]);
  const m = mark();
  const first = await (async () => {
    const it = agent.stream("talk");
    return (await it.next()).value;
  })();
  assert.equal(first.type, "text");
  assert.equal(pidsWithTag(tag).length, 1);
  const deadline = Date.now() + 15000;
  while (m.of("stream-end").length === 0 || pidsWithTag(tag).length > 0) {
    if (Date.now() > deadline) assert.fail("the abandoned stream was not cleaned up after GC");
    gc();
    await sleep(50);
  }
  await md.whenAborted(1);
  assert.equal(m.of("session-close").length, 1);
  assert.equal(m.of("stream-end")[0].reason, "return");
  await assertClean();
});

test("an abandoned stream that was never started is collected without opening anything", async () => {
  const { agent, model: md } = await ownedAgent([SUM_ANSWER]);
  const m = mark();
  // (a WeakRef's deref() would keep it alive: watch it with a registry of our own)
  let collected = false;
  const watch = new FinalizationRegistry(() => { collected = true; });
  (() => { watch.register(agent.stream("hello"), null); })();
  assert.equal(runtime.stats().streamsOpen, 1, "a created stream counts");
  const deadline = Date.now() + 10000;
  while (!collected) {
    if (Date.now() > deadline) assert.fail("the stream was never collected");
    gc();
    await sleep(20);
  }
  // the package's own registry ends the collected stream: wait for that (bounded poll), then
  // nothing of it can run any more (only a next() opens servers or asks the model)
  const ended = Date.now() + 10000;
  while (runtime.stats().streamsOpen !== 0) {
    if (Date.now() > ended) assert.fail("the collected stream was never ended");
    gc();
    await sleep(20);
  }
  assert.equal(m.of("session-open").length, 0);
  assert.equal(md.requests.length, 0);
  await assertClean();
});

// ---- the default runtime at script end

const FIXTURE = fileURLToPath(new URL("./fixtures/default-runtime-open-stream.js", import.meta.url));

for (const mode of ["owned", "borrowed"]) {
  test(`default runtime (no runtime option), ${mode} session: a script that ends with a suspended stream exits, leaving no processes`, async () => {
    const m = await model([LONG_CALL, { text: "unreachable" }]);
    const s = server({ tree: true });
    // the tool call runs 30 s: a script that waited for it fails here
    const { code, out, err } = await runScript(FIXTURE, [m.baseURL, mode, JSON.stringify(s.config)]);
    assert.equal(code, 0, err);
    assert.equal(err, "", "nothing on stderr (no warning, no unhandled rejection)");
    const lines = out.trim().split("\n");
    assert.equal(JSON.parse(lines[0]).type, "tool_call");
    assert.equal(lines[1], "pids>=2", "the server tree ran while the stream was suspended");
    assert.deepEqual(await waitGone(s.tag), [], "server processes survived the script's end");
  });
}

// ---- the end of the file

test("the file ends with zero live allocations in the core and nothing escaped", async () => {
  await sleep(20);
  await assertClean();
  assert.equal(runtime.disposed, false);
});

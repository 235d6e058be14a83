// Regression tests for the review findings H1-H9 and M1-M3 (fixed in src/js
// by f71017c). Each test fails against the src/js before that fix (7a3115d)
// and passes now; only M1's control (a script with its own SIGINT handler)
// passes on both, as a control should.
// Against the real server-everything over stdio and the local model stand-in;
// processes are checked through /proc tags, sessions through lifecycle events.
// Timeouts only turn a hang into a failure; nothing here asserts speed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import { createRuntime, MCPAgent, MCPClient, RuntimeDisposedError } from "../src/js/index.js";
import { Runtime } from "../src/js/runtime.js";
import { instantiate } from "../src/js/loader.js";
import { StdioTransport } from "../src/js/hosts/stdio.js";
import { startModelServer } from "./fixtures/model-server.js";
import { everything, pidsWithTag, waitForPids, recordLifecycle, guardUnhandled, killTagged } from "./helpers.js";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CHILD = fileURLToPath(new URL("./fixtures/regressions-child.js", import.meta.url));

const LONG_CALL = { toolCalls: [{ id: "call_long", name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } }] };
/** A tool call that reports progress after ~0.5 s (a step the pending next() can get). */
const PROGRESS_CALL = { toolCalls: [{ id: "call_prog", name: "trigger-long-running-operation", arguments: { duration: 2, steps: 4 } }] };
const HANGING_TEXT = { text: "a long answer that never ends", hangAfterChunks: 2 };

/** Polls `cond` (bounded): turns a hang into a failure with `what`. */
async function until(cond, what, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) assert.fail(`${what} (still not the case after ${timeoutMs} ms)`);
    await sleep(20);
  }
}

/** The settlement of `p` as { value } or { error }, or a failure if it hangs. */
function outcome(p, what, timeoutMs = 15000) {
  let timer;
  return Promise.race([
    p.then((value) => ({ value }), (error) => ({ error })),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: did not settle within ${timeoutMs} ms (hang)`)), timeoutMs); }),
  ]).finally(() => clearTimeout(timer));
}

/** A runtime of its own, the model stand-in, one tagged server-everything and an agent owning it. */
async function setup(t, script, { tree = false } = {}) {
  const guard = guardUnhandled(t);
  const model = await startModelServer({ script });
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  const server = everything({ tree });
  const llm = { baseURL: model.baseURL, model: "stand-in" };
  const agent = new MCPAgent({ runtime, llm, mcpServers: { everything: server.config } });
  t.after(async () => {
    await runtime.dispose();
    await model.close();
    killTagged(server.tag);
  });
  return { guard, model, runtime, life, server, tag: server.tag, agent, llm };
}

/** Spawns a child scenario of fixtures/regressions-child.js; collects its output. */
function child(t, args) {
  const proc = spawn(process.execPath, [CHILD, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const io = { out: "", err: "", proc };
  proc.stdout.on("data", (d) => { io.out += d; });
  proc.stderr.on("data", (d) => { io.err += d; });
  io.exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  t.after(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL"); });
  /** Waits (bounded) for the child to exit by itself. */
  io.exit = async (what, timeoutMs = 15000) => {
    let timer;
    const r = await Promise.race([io.exited, new Promise((r) => { timer = setTimeout(() => r(null), timeoutMs); })]);
    clearTimeout(timer);
    if (!r) {
      proc.kill("SIGKILL");
      assert.fail(`${what}: the child did not exit within ${timeoutMs} ms; stdout: ${io.out} stderr: ${io.err}`);
    }
    return r;
  };
  io.lines = () => io.out.trim().split("\n").filter(Boolean);
  return io;
}

// ---------------------------------------------------------------------- H1

test("H1a: `agent.stream(q).next()` with no reference to the stream, GC while the server starts: it settles with a step; the session is closed once collected", async (t) => {
  const s = await setup(t, [LONG_CALL, { text: "unreachable" }]);
  const p = s.agent.stream("run the long operation").next();
  let settled = null;
  p.then((value) => { settled = { value }; }, (error) => { settled = { error }; });
  gc(); // while the next() is queued / the server is starting
  await until(() => { gc(); return settled; }, "the pending next() of an unreferenced stream never settled under GC");
  assert.equal(settled.error, undefined, `next() rejected: ${settled.error?.stack}`);
  assert.equal(settled.value.done, false, "the pending next() resolves with a step, not done");
  assert.equal(settled.value.value.type, "tool_call");
  assert.equal(s.life.of("session-open").length, 1);
  // the stream is unreachable now that its queue is empty: GC ends it
  await until(() => { gc(); return s.life.of("stream-end").length === 1 && s.life.of("session-close").length === 1 && pidsWithTag(s.tag).length === 0; },
    "the collected stream's owned session was not closed");
  s.life.assertEachClosedOnce();
  await until(() => s.runtime.stats().streamsOpen === 0, "streamsOpen back to 0");
  assert.equal(s.runtime.stats().liveAllocations, 0);
  await s.guard.assertNone();
});

test("H1b: a next() pending while a tool call runs, with no reference to the stream, GC meanwhile: it settles with a step; the session is closed once collected", async (t) => {
  const s = await setup(t, [PROGRESS_CALL, { text: "unreachable" }]);
  const box = {};
  const first = await (async () => {
    box.it = s.agent.stream("run the long operation");
    return (await box.it.next()).value;
  })();
  assert.equal(first.type, "tool_call");
  const p = box.it.next(); // pending: the tool call runs
  box.it = null;
  let settled = null;
  p.then((value) => { settled = { value }; }, (error) => { settled = { error }; });
  gc();
  await until(() => { gc(); return settled; }, "the pending next() of an unreferenced stream never settled under GC");
  assert.equal(settled.error, undefined, `next() rejected: ${settled.error?.stack}`);
  assert.equal(settled.value.done, false, "the pending next() resolves with a step, not done");
  assert.ok(["progress", "tool_result"].includes(settled.value.value.type), `a step of the running call, got ${settled.value.value.type}`);
  assert.equal(s.life.of("stream-end").length, 0, "the stream was ended while a next() was pending");
  await until(() => { gc(); return s.life.of("stream-end").length === 1 && s.life.of("session-close").length === 1 && pidsWithTag(s.tag).length === 0; },
    "the collected stream's owned session was not closed");
  s.life.assertEachClosedOnce();
  await until(() => s.runtime.stats().streamsOpen === 0, "streamsOpen back to 0");
  assert.equal(s.runtime.stats().liveAllocations, 0);
  await s.guard.assertNone();
});

// ---------------------------------------------------------------------- H2

test("H2: callTool with a BigInt argument rejects TypeError/INVALID_ARGUMENT; a script doing this, then closing its client, exits by itself", async (t) => {
  const guard = guardUnhandled(t);
  const runtime = await createRuntime();
  const server = everything();
  t.after(async () => { await runtime.dispose(); killTagged(server.tag); });
  const client = new MCPClient({ mcpServers: { everything: server.config } }, { runtime });
  await assert.rejects(client.callTool("everything", "echo", { message: 1n }), (e) => {
    assert.ok(e instanceof TypeError, `a TypeError, got ${e?.name}: ${e?.message}`);
    assert.equal(e.code, "INVALID_ARGUMENT");
    return true;
  });
  // the client still works, and nothing was held
  assert.equal((await client.callTool("everything", "echo", { message: "after" })).content[0].text, "Echo: after");
  await client.close();
  assert.deepEqual(pidsWithTag(server.tag), []);
  assert.equal(runtime.stats().liveAllocations, 0);
  await guard.assertNone();

  // a script doing exactly this, then closing its client, exits by itself;
  // going on with a stream step afterwards shows that no hold leaked (a leaked
  // hold keeps every transport opened later ref'd, so the script never ends)
  for (const withStream of [false, true]) {
    const s2 = everything();
    t.after(() => { killTagged(s2.tag); killTagged(`${s2.tag}-stream`); });
    const model = withStream ? await startModelServer({ script: [LONG_CALL, { text: "unreachable" }] }) : null;
    if (model) t.after(() => model.close());
    const c = child(t, ["bigint", JSON.stringify(s2.config), ...(model ? [model.baseURL] : [])]);
    const { code, signal } = await c.exit(`the BigInt callTool script${withStream ? " (then a stream step)" : ""} did not exit by itself (a keep-alive hold leaked?)`);
    assert.equal(signal, null, c.err);
    assert.equal(code, 0, c.err);
    const [errLine, closed, step] = c.lines();
    const e = JSON.parse(errLine);
    assert.equal(e.typeError, true, errLine);
    assert.equal(e.code, "INVALID_ARGUMENT", errLine);
    assert.equal(closed, "closed");
    if (withStream) assert.equal(JSON.parse(step).type, "tool_call");
    await until(() => pidsWithTag(s2.tag).length + pidsWithTag(`${s2.tag}-stream`).length === 0, "server processes survived the script", 5000);
  }
});

// ---------------------------------------------------------------------- H3

test("H3: a script that takes one text step while the model still streams, then ends, exits by itself with no server processes left", async (t) => {
  const model = await startModelServer({ script: [HANGING_TEXT] });
  t.after(() => model.close());
  const server = everything({ tree: true });
  t.after(() => killTagged(server.tag));
  const c = child(t, ["text-step", JSON.stringify(server.config), model.baseURL]);
  const { code, signal } = await c.exit("the script kept running after its end (the model's connection kept Node alive?)");
  assert.equal(signal, null, c.err);
  assert.equal(code, 0, c.err);
  assert.equal(JSON.parse(c.lines()[0]).type, "text");
  assert.equal(model.requests.length, 1);
  await until(() => pidsWithTag(server.tag).length === 0, "server processes survived the script's end", 5000);
});

// ---------------------------------------------------------------------- H4

test("H4: a stream borrowing a client whose server never answers initialize: abort rejects the pending next() with AbortError/ABORTED", async (t) => {
  const guard = guardUnhandled(t);
  const model = await startModelServer({ script: [{ text: "never" }] });
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  const tag = `h4-${process.pid}-${Date.now()}`;
  const mute = { command: process.execPath, args: ["-e", "setInterval(()=>{},1e3)"], env: { MCPSTREAM_TEST_TAG: tag } };
  t.after(async () => { await runtime.dispose(); await model.close(); killTagged(tag); });
  const client = new MCPClient({ mcpServers: { mute } }, { runtime });
  const agent = new MCPAgent({ runtime, llm: { baseURL: model.baseURL }, client });
  const ac = new AbortController();
  const it = agent.stream("hello", { signal: ac.signal });
  const pending = outcome(it.next(), "next() after abort");
  await waitForPids(tag, 1);
  await sleep(100); // the client is waiting for initialize
  ac.abort();
  const r = await pending;
  assert.ok(r.error, `next() resolved: ${JSON.stringify(r.value)}`);
  assert.equal(r.error.name, "AbortError", String(r.error));
  assert.equal(r.error.code, "ABORTED", String(r.error));
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  assert.equal(model.requests.length, 0);
  // the borrowed session is the client's: still there, closed by client.close() only
  assert.equal(life.of("session-close").length, 0, "the stream closed a borrowed session");
  assert.ok(pidsWithTag(tag).length >= 1, "the client's server is gone");
  await client.close();
  assert.deepEqual(pidsWithTag(tag), []);
  life.assertEachClosedOnce();
  assert.equal(runtime.stats().streamsOpen, 0);
  assert.equal(runtime.stats().liveAllocations, 0);
  await guard.assertNone();
});

// ---------------------------------------------------------------------- H5

test("H5: a stream aborted at a tool_call and then dropped without another next(): after GC, streamsOpen and liveAllocations return to 0", async (t) => {
  const s = await setup(t, [LONG_CALL, { text: "unreachable" }]);
  const ac = new AbortController();
  const box = {};
  const first = await (async () => {
    box.it = s.agent.stream("run the long operation", { signal: ac.signal });
    return (await box.it.next()).value;
  })();
  assert.equal(first.type, "tool_call");
  ac.abort();
  await until(() => s.life.of("stream-end").length === 1, "no stream-end after the abort");
  assert.equal(s.life.of("stream-end")[0].reason, "abort");
  assert.deepEqual(pidsWithTag(s.tag), []);
  box.it = null; // dropped, never consumed again
  await until(() => { gc(); const st = s.runtime.stats(); return st.streamsOpen === 0 && st.liveAllocations === 0; },
    `the dropped aborted stream is still counted: ${JSON.stringify(s.runtime.stats())}`);
  assert.equal(s.runtime.stats().sessionsOpen, 0);
  s.life.assertEachClosedOnce();
  assert.equal(s.life.of("stream-end").length, 1);
  await s.guard.assertNone();
});

// ---------------------------------------------------------------------- H6

test("H6: runtime.dispose() after an aborted, unconsumed stream dispatches no second stream-end for it", async (t) => {
  const s = await setup(t, [LONG_CALL, { text: "unreachable" }]);
  const ac = new AbortController();
  const it = s.agent.stream("run the long operation", { signal: ac.signal });
  assert.equal((await it.next()).value.type, "tool_call");
  ac.abort();
  await until(() => s.life.of("stream-end").length === 1, "no stream-end after the abort");
  const [end] = s.life.of("stream-end");
  assert.equal(end.reason, "abort");
  assert.equal(end.streamId, it.id);
  await s.runtime.dispose();
  const ends = s.life.of("stream-end").filter((e) => e.streamId === it.id);
  assert.deepEqual(ends.map((e) => e.reason), ["abort"], "stream-end dispatched more than once for one stream");
  s.life.assertEachClosedOnce();
  assert.deepEqual(pidsWithTag(s.tag), []);
  await s.guard.assertNone();
});

// ---------------------------------------------------------------------- H7

test("H7: runtime.dispose() with a pending next(): when it rejects RuntimeDisposedError, the server tree is gone and session-close was dispatched", async (t) => {
  const s = await setup(t, [HANGING_TEXT], { tree: true });
  const it = s.agent.stream("talk");
  assert.equal((await it.next()).value.type, "text");
  assert.ok((await waitForPids(s.tag, 2)).length >= 2, "server and its child run");
  let seen = null;
  const pending = it.next().then(
    (value) => { seen = { value }; },
    (error) => { seen = { error, pids: pidsWithTag(s.tag), closes: s.life.of("session-close").length }; });
  await sleep(50); // lets the next() reach its wait for the model; how it settles is asserted below
  const disposed = s.runtime.dispose();
  await outcome(pending, "the pending next() after dispose()");
  assert.ok(seen.error instanceof RuntimeDisposedError, `rejects RuntimeDisposedError, got ${seen.error ?? JSON.stringify(seen.value)}`);
  assert.equal(seen.error.code, "RUNTIME_DISPOSED");
  assert.deepEqual(seen.pids, [], "the rejection came while server processes still ran");
  assert.equal(seen.closes, 1, "the rejection came before the session-close event");
  await disposed;
  s.life.assertEachClosedOnce();
  await s.guard.assertNone();
});

// ---------------------------------------------------------------------- H8

test("H8: connect(); close(); connect() without awaiting: the second connect resolves, streams borrow its session, which stays open until close()", async (t) => {
  const s = await setup(t, [{ text: "hello there" }]);
  const c1 = s.agent.connect().then(() => null, (e) => e);
  const closing = s.agent.close();
  const c2 = outcome(s.agent.connect(), "the second connect()");
  await outcome(closing, "agent.close()");
  const r2 = await c2;
  assert.equal(r2.error, undefined, `the second connect() rejected: ${r2.error?.stack}`);
  await outcome(c1, "the first connect()");
  const opens = s.life.of("session-open");
  assert.equal(opens.length, 1, "one agent session after the second connect()");
  assert.equal(opens[0].owner, "agent");
  assert.equal(s.life.of("session-close").length, 0);
  assert.equal(pidsWithTag(s.tag).length, 1);

  assert.equal(await s.agent.run("hi"), "hello there");
  const tools = s.model.requests[0].tools ?? [];
  assert.ok(tools.length > 0, "the model request offered no tools");
  assert.ok(tools.some((x) => (x.function?.name ?? x.name) === "echo"));
  assert.equal(s.life.of("session-open").length, 1, "the stream opened a session of its own instead of borrowing the agent's");
  assert.equal(s.life.of("session-close").length, 0, "the agent-owned session was closed before agent.close()");
  assert.equal(pidsWithTag(s.tag).length, 1, "the agent's server is gone");

  await s.agent.close();
  assert.deepEqual(pidsWithTag(s.tag), []);
  const closes = s.life.of("session-close");
  assert.equal(closes.length, 1);
  assert.equal(closes[0].sessionId, opens[0].sessionId);
  s.life.assertEachClosedOnce();
  assert.equal(s.runtime.stats().sessionsOpen, 0);
  assert.equal(s.runtime.stats().liveAllocations, 0);
  await s.guard.assertNone();
});

// ---------------------------------------------------------------------- H9

test("H9: `const p = stream.next(); await agent.close()`: p rejects AbortError/AGENT_CLOSED and nothing is ever opened", async (t) => {
  const s = await setup(t, [{ text: "never" }]);
  const it = s.agent.stream("hello");
  const p = outcome(it.next(), "the first next()");
  await outcome(s.agent.close(), "agent.close()");
  const r = await p;
  assert.ok(r.error, `next() resolved: ${JSON.stringify(r.value)}`);
  assert.equal(r.error.name, "AbortError", String(r.error));
  assert.equal(r.error.code, "AGENT_CLOSED", String(r.error));
  // Queued behind the first next(): it runs once everything that call did has finished, and
  // only a next() can open the stream's servers, so what is seen after it is final (no window).
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  assert.equal(s.life.of("session-open").length, 0, "the stream opened its server after agent.close()");
  assert.deepEqual(pidsWithTag(s.tag), []);
  assert.equal(s.model.requests.length, 0);
  assert.equal(s.runtime.stats().streamsOpen, 0);
  await s.guard.assertNone();
});

// ---------------------------------------------------------------------- M1

for (const handled of [false, true]) {
  test(`M1${handled ? " (control)" : ""}: SIGINT to a script with a stream at a tool_call${handled ? " and its own SIGINT handler: it exits 0" : ", no handler: it dies by SIGINT"}, no server process left`, async (t) => {
    const model = await startModelServer({ script: [LONG_CALL, { text: "unreachable" }] });
    t.after(() => model.close());
    const server = everything({ tree: true });
    t.after(() => killTagged(server.tag));
    const c = child(t, [handled ? "sigint-handled" : "sigint", JSON.stringify(server.config), model.baseURL]);
    await until(() => c.lines().includes("ready") || c.proc.exitCode !== null, "the script never got ready");
    assert.equal(JSON.parse(c.lines()[0]).type, "tool_call", c.err);
    assert.ok(pidsWithTag(server.tag).length >= 2);
    c.proc.kill("SIGINT");
    const { code, signal } = await c.exit("the script did not end on SIGINT");
    if (handled) {
      assert.equal(signal, null, c.err);
      assert.equal(code, 0, c.err);
      assert.ok(c.lines().includes("handled SIGINT"), "the script's own handler ran");
    } else {
      assert.equal(signal, "SIGINT", `exit code ${code}; ${c.err}`);
    }
    await until(() => pidsWithTag(server.tag).length === 0, "server processes survived SIGINT", 5000);
  });
}

// ---------------------------------------------------------------------- M2

test("M2: dispose() from a lifecycle listener on the first session-open of a stream with two owned servers: no second server is spawned, nothing escapes", async (t) => {
  const guard = guardUnhandled(t);
  const spawned = [];
  const wasm = await readFile(new URL("../dist/mcpstream.wasm", import.meta.url));
  // the real stdio host, counting the servers the runtime starts
  const runtime = new Runtime(await instantiate(wasm), {
    transportFactory: (config, hooks, server) => {
      spawned.push(server);
      return new StdioTransport(config, hooks);
    },
  });
  const a = everything(), b = everything();
  const model = await startModelServer({ script: [{ text: "never" }] });
  t.after(async () => { await runtime.dispose(); await model.close(); killTagged(a.tag); killTagged(b.tag); });
  const life = recordLifecycle(runtime);
  let disposing = null;
  runtime.addEventListener("lifecycle", (e) => {
    if (e.detail.kind === "session-open" && !disposing) disposing = runtime.dispose();
  });
  const agent = new MCPAgent({ runtime, llm: { baseURL: model.baseURL }, mcpServers: { a: a.config, b: b.config } });
  const it = agent.stream("hello");
  const r = await outcome(it.next(), "the first next()");
  assert.ok(disposing, "no session-open was seen");
  await outcome(disposing, "runtime.dispose()");
  // the next() was pending when dispose() came (docs/architecture.md §3 rule 5)
  assert.ok(r.error instanceof RuntimeDisposedError, `rejects RuntimeDisposedError, got ${r.error?.stack ?? JSON.stringify(r.value)}`);
  assert.equal(life.of("session-open").length, 1, "a second session-open after dispose()");
  assert.ok(spawned.length <= 1, `servers started: ${spawned.join(", ")}`);
  // dispose() killed the core: no effect (an OPEN) can be taken from it any more, so no
  // transport is created from now on and what is seen here is final (no window to wait)
  assert.equal(runtime._core.alive, false, "the core is dead after dispose()");
  assert.ok(!spawned.includes("b"), "the second server was started after dispose()");
  assert.deepEqual(pidsWithTag(b.tag), [], "a process of the second server runs");
  assert.deepEqual(pidsWithTag(a.tag), [], "a process of the first server runs after dispose()");
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  assert.equal(model.requests.length, 0);
  await guard.assertNone();
});

// ---------------------------------------------------------------------- M3

test("M3: after runtime.dispose(), a stream created before but never started resolves done; agent.connect() rejects RuntimeDisposedError", async (t) => {
  const guard = guardUnhandled(t);
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  const server = everything();
  t.after(async () => { await runtime.dispose(); killTagged(server.tag); });
  const agent = new MCPAgent({ runtime, llm: { baseURL: "http://127.0.0.1:9/v1" }, mcpServers: { everything: server.config } });
  const it = agent.stream("hello");
  await runtime.dispose();
  const r = await outcome(it.next(), "the first next() after dispose()");
  assert.equal(r.error, undefined, `the first next() rejected: ${r.error?.stack}`);
  assert.deepEqual(r.value, { value: undefined, done: true });
  const c = await outcome(agent.connect(), "agent.connect() after dispose()");
  assert.ok(c.error instanceof RuntimeDisposedError, `connect() must reject RuntimeDisposedError, got ${c.error?.stack ?? "a resolution"}`);
  assert.equal(c.error.code, "RUNTIME_DISPOSED");
  assert.equal(life.of("session-open").length, 0);
  assert.deepEqual(pidsWithTag(server.tag), []);
  await guard.assertNone();
});

// Races between a stream's end, dispose(), close() and the iterator calls
// (issue 5, items 1, 11, 16-19). Against the real server-everything over stdio
// and the local model stand-in. Every wait is bounded: a hang is a failure,
// nothing asserts speed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createRuntime, MCPAgent, MCPClient } from "../src/js/index.js";
import { startModelServer } from "./fixtures/model-server.js";
import { everything, pidsWithTag, waitForPids, recordLifecycle, guardUnhandled, killTagged } from "./helpers.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const LONG_CALL = { toolCalls: [{ id: "call_long", name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } }] };
const NO_MODEL = { baseURL: "http://127.0.0.1:9/v1" };

/** The settlement of `p` as { value } or { error }, or a failure if it hangs. */
function outcome(p, what, timeoutMs = 15000) {
  let timer;
  return Promise.race([
    p.then((value) => ({ value }), (error) => ({ error })),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: did not settle within ${timeoutMs} ms (hang)`)), timeoutMs); }),
  ]).finally(() => clearTimeout(timer));
}

/** Polls `cond` (bounded). */
async function until(cond, what, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`${what} (still not the case after ${timeoutMs} ms)`);
    await sleep(20);
  }
}

// ---- item 1: rule 5 after an unattended end

/** Ways a stream ends while nobody awaits it; each leaves it suspended first. */
const CAUSES = {
  "signal abort": {
    script: [LONG_CALL],
    first: "tool_call",
    end: ({ ac }) => ac.abort(),
    code: "ABORTED",
  },
  "owned server exits": {
    script: [LONG_CALL],
    first: "tool_call",
    end: ({ tag }) => { for (const pid of pidsWithTag(tag)) process.kill(pid, "SIGKILL"); },
    code: "MCP_TRANSPORT_CLOSED",
  },
  "model response cut": {
    script: [{ text: "an answer that is cut", cutAfterChunks: 2 }],
    first: "text",
    end: () => {}, // the model stand-in drops the connection after the first text chunk
    code: null, // an LLM_* error
  },
};

/** Orders of dispose(), next() and return() after the unattended end. */
const ORDERS = {
  "dispose, next, return": async ({ runtime, it }) => {
    await runtime.dispose();
    const n = it.next(), r = it.return("v");
    return [await outcome(n, "next() after dispose"), await outcome(r, "return() queued behind it")];
  },
  "next and return in the tick of dispose": async ({ runtime, it }) => {
    const d = runtime.dispose();
    const n = it.next(), r = it.return("v");
    const out = [await outcome(n, "next() in the tick of dispose"), await outcome(r, "return() queued behind it")];
    await outcome(d, "dispose()");
    return out;
  },
  "dispose, return, next": async ({ runtime, it }) => {
    await runtime.dispose();
    const r = it.return("v"), n = it.next();
    const out = [await outcome(n, "next() behind return()"), await outcome(r, "return() after dispose")];
    // return() came first: the generator is finished, the end it had is not reported
    assert.deepEqual(out[0], { value: { value: undefined, done: true } });
    return [{ error: { code: "REPORTED_BY_RETURN" } }, out[1]];
  },
  "dispose not awaited, next, return": async ({ runtime, it }) => {
    runtime.dispose();
    const n = it.next(), r = it.return("v");
    return [await outcome(n, "next() while dispose runs"), await outcome(r, "return() queued behind it")];
  },
};

for (const [cause, c] of Object.entries(CAUSES)) {
  for (const [order, run] of Object.entries(ORDERS)) {
    test(`item 1: ${cause} while suspended, then ${order}: everything settles`, async (t) => {
      const guard = guardUnhandled(t);
      const model = await startModelServer({ script: c.script });
      const runtime = await createRuntime();
      const life = recordLifecycle(runtime);
      const { config, tag } = everything();
      t.after(async () => { await runtime.dispose(); await model.close(); killTagged(tag); });
      const agent = new MCPAgent({ runtime, llm: { baseURL: model.baseURL }, mcpServers: { everything: config } });
      const ac = new AbortController();
      const it = agent.stream("go", { signal: ac.signal });
      const first = await outcome(it.next(), "first next()");
      assert.equal(first.value?.value?.type, c.first, `first step: ${first.error?.message}`);
      c.end({ ac, tag });
      await until(() => life.of("stream-end").length === 1, "the stream ended while nobody awaited it");
      const [n, r] = await run({ runtime, it });
      if (n.error?.code === "REPORTED_BY_RETURN") { /* checked by the order */ }
      else if (c.code) assert.equal(n.error?.code, c.code, `next(): ${JSON.stringify(n.value)} ${n.error?.stack}`);
      else assert.match(n.error?.code ?? "", /^LLM_/, `next(): ${JSON.stringify(n.value)} ${n.error?.stack}`);
      assert.deepEqual(r, { value: { value: "v", done: true } });
      assert.deepEqual(await outcome(it.next(), "a later next()"), { value: { value: undefined, done: true } });
      assert.deepEqual(pidsWithTag(tag), []);
      life.assertEachClosedOnce();
      await guard.assertNone();
    });
  }
}

// ---- item 16: return()/throw() finish a generator that was aborted before it started

const ENDERS = {
  "return(v)": async (it) => assert.deepEqual(await outcome(it.return("v"), "return(v)"), { value: { value: "v", done: true } }),
  "throw(e)": async (it) => {
    const e = new Error("thrown in");
    assert.deepEqual(await outcome(it.throw(e), "throw(e)"), { error: e });
  },
  "Symbol.asyncDispose": async (it) => assert.deepEqual(await outcome(it[Symbol.asyncDispose](), "asyncDispose"), { value: undefined }),
};

for (const cause of ["signal abort", "agent.close()"]) {
  for (const [ender, end] of Object.entries(ENDERS)) {
    test(`item 16: ${cause} before the first next(), then ${ender}: the generator is finished, next() resolves done`, async (t) => {
      const guard = guardUnhandled(t);
      const runtime = await createRuntime();
      t.after(() => runtime.dispose());
      const agent = new MCPAgent({ runtime, llm: NO_MODEL });
      const ac = new AbortController();
      const it = agent.stream("q", { signal: ac.signal });
      if (cause === "signal abort") ac.abort();
      else await agent.close();
      await end(it);
      assert.deepEqual(await outcome(it.next(), "next() after the end"), { value: { value: undefined, done: true } });
      assert.equal(runtime.stats().streamsOpen, 0);
      await guard.assertNone();
    });
  }
}

// ---- item 17: every agent.close() resolves only when everything is closed

test("item 17: a second agent.close() while the first is closing resolves only when the servers are gone", async (t) => {
  const guard = guardUnhandled(t);
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  const a = everything({ tree: true }), b = everything({ tree: true });
  t.after(async () => { await runtime.dispose(); killTagged(a.tag); killTagged(b.tag); });
  const agent = new MCPAgent({ runtime, llm: NO_MODEL, mcpServers: { a: a.config, b: b.config } });
  await agent.connect();
  await waitForPids(a.tag, 2);
  await waitForPids(b.tag, 2);
  const first = agent.close();
  const second = await outcome(agent.close(), "the second close()");
  assert.deepEqual(second, { value: undefined });
  assert.deepEqual([...pidsWithTag(a.tag), ...pidsWithTag(b.tag)], [], "servers still running when the second close() resolved");
  assert.equal(life.of("session-close").length, 2);
  assert.deepEqual(await outcome(first, "the first close()"), { value: undefined });
  assert.deepEqual(await outcome(agent.close(), "a third close()"), { value: undefined });
  life.assertEachClosedOnce();
  await guard.assertNone();
});

// ---- item 18: after dispose(), the first cause is dispose

for (const when of ["created before dispose()", "created after dispose()"]) {
  for (const cause of ["agent.close()", "signal abort"]) {
    test(`item 18: a never-started stream ${when}, then ${cause}: next() resolves done`, async (t) => {
      const guard = guardUnhandled(t);
      const runtime = await createRuntime();
      const { config, tag } = everything({ tree: true });
      t.after(async () => { await runtime.dispose(); killTagged(tag); });
      const client = new MCPClient({ mcpServers: { everything: config } }, { runtime });
      await client.connect(); // an open session: dispose() takes a while
      const agent = new MCPAgent({ runtime, llm: NO_MODEL });
      const ac = new AbortController();
      let it = when === "created before dispose()" ? agent.stream("q", { signal: ac.signal }) : null;
      const disposing = runtime.dispose();
      it ??= agent.stream("q", { signal: ac.signal });
      const closing = cause === "agent.close()" ? agent.close() : (ac.abort(), null);
      assert.deepEqual(await outcome(it.next(), "next()"), { value: { value: undefined, done: true } });
      assert.deepEqual(await outcome(it.next(), "a later next()"), { value: { value: undefined, done: true } });
      await outcome(disposing, "dispose()");
      if (closing) assert.deepEqual(await outcome(closing, "agent.close()"), { value: undefined });
      assert.deepEqual(pidsWithTag(tag), []);
      await guard.assertNone();
    });
  }
}

// ---- item 19: a first next() in the tick of dispose() rejects RUNTIME_DISPOSED

for (const session of [false, true]) {
  test(`item 19: a first next() called in the tick of dispose() rejects with RUNTIME_DISPOSED (${session ? "with" : "without"} an open session)`, async (t) => {
    const guard = guardUnhandled(t);
    const runtime = await createRuntime();
    const life = recordLifecycle(runtime);
    const { config, tag } = everything();
    t.after(async () => { await runtime.dispose(); killTagged(tag); });
    if (session) await new MCPClient({ mcpServers: { everything: config } }, { runtime }).connect();
    const agent = new MCPAgent({ runtime, llm: NO_MODEL });
    const it = agent.stream("q");
    const n = it.next();
    const disposing = runtime.dispose();
    const got = await outcome(n, "next()");
    assert.equal(got.error?.code, "RUNTIME_DISPOSED", `next() gave ${JSON.stringify(got.value)}`);
    assert.deepEqual(await outcome(it.next(), "a later next()"), { value: { value: undefined, done: true } });
    assert.deepEqual(await outcome(it.return("v"), "return(v)"), { value: { value: "v", done: true } });
    await outcome(disposing, "dispose()");
    assert.deepEqual(pidsWithTag(tag), []);
    life.assertEachClosedOnce();
    await guard.assertNone();
  });
}

// ---- item 11: callTool's signal while the client is still connecting

/** A stdio "server" that reads its stdin and never answers (it exits when stdin closes). */
function muteServer() {
  const tag = randomUUID();
  return { tag, config: { command: process.execPath, args: ["-e", "process.stdin.resume()"], env: { MCPSTREAM_TEST_TAG: tag } } };
}

for (const how of ["callTool connects", "connect() already pending"]) {
  test(`item 11: callTool(..., { signal }) on a client still connecting (${how}) rejects with ABORTED when the signal aborts; nothing leaks`, async (t) => {
    const guard = guardUnhandled(t);
    const runtime = await createRuntime();
    const life = recordLifecycle(runtime);
    const { tag, config } = muteServer();
    t.after(async () => { await runtime.dispose(); killTagged(tag); });
    const client = new MCPClient({ mcpServers: { mute: config } }, { runtime });
    const connecting = how === "connect() already pending" ? outcome(client.connect(), "connect()", 30000) : null;
    const ac = new AbortController();
    const call = client.callTool("mute", "echo", { message: "hi" }, { signal: ac.signal });
    await waitForPids(tag);
    ac.abort();
    const got = await outcome(call, "callTool after abort");
    assert.equal(got.error?.name, "AbortError", `callTool gave ${JSON.stringify(got.value)} ${got.error?.stack}`);
    assert.equal(got.error.code, "ABORTED");
    // the connection attempt is the client's: close() ends it
    assert.deepEqual(await outcome(client.close(), "client.close()"), { value: undefined });
    if (connecting) assert.ok((await connecting).error, "connect() rejects once the client is closed");
    assert.deepEqual(pidsWithTag(tag), []);
    life.assertEachClosedOnce();
    assert.equal(runtime.stats().sessionsOpen, 0);
    assert.equal(runtime.stats().liveAllocations, 0);
    await guard.assertNone();
  });
}

// The lifecycle contract (DESIGN §3) over Streamable HTTP: every test of
// lifecycle.test.js (stdio) again, against the real server-everything
// (`streamableHttp`) behind a recording proxy that shows what reached the server.
// Where stdio checks process trees in /proc, these check the server side:
// exactly one DELETE per owned session when the ending call settles (none for
// borrowed sessions), notifications/cancelled for a tool call in flight before
// that DELETE, and no HTTP exchange left open. A last test checks that no test
// of lifecycle.test.js is missing here.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { createRuntime, MCPAgent, MCPClient, RuntimeDisposedError } from "../src/js/index.js";
import { startModelServer } from "./fixtures/model-server.js";
import { startEverythingHttp, startRecordingProxy } from "./fixtures/http-everything.js";
import { recordLifecycle, guardUnhandled } from "./helpers.js";

const LONG_CALL = { toolCalls: [{ name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } }] };
const SUM_CALL = { toolCalls: [{ name: "get-sum", arguments: { a: 2, b: 40 } }] };

/** Polls `cond` (bounded); a generous bound, no timing assumption. */
async function waitFor(cond, what, ms = 10000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A URL where nothing listens. */
async function deadURL() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}/mcp`;
}

/** One server-everything per suite (sessions are per test); a test that kills it has its own. */
let shared = null;

async function scenario(t, mode, script, { extraServers, ownServer = false } = {}) {
  const guard = guardUnhandled(t);
  const model = await startModelServer(script ? { script } : {});
  const srv = ownServer ? await startEverythingHttp() : shared;
  const proxy = await startRecordingProxy(srv.url);
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  const mcpServers = { everything: { url: proxy.url }, ...extraServers };
  const llm = { baseURL: model.baseURL, model: "stand-in" };
  let client = null, agent;
  if (mode === "borrowed") {
    client = new MCPClient({ mcpServers }, { runtime });
    agent = new MCPAgent({ runtime, llm, client });
  } else {
    agent = new MCPAgent({ runtime, llm, mcpServers });
  }
  t.after(async () => {
    await runtime.dispose();
    await model.close();
    await proxy.close();
    if (ownServer) await srv.close();
  });
  return {
    runtime, model, life, agent, client, proxy, srv, guard,
    /** DELETEs that reached the server, by session id. */
    deletes() { return proxy.of("DELETE").map((r) => r.sessionId); },
    /** Everything the stream owned is closed: one DELETE per owned session, nothing open. */
    async assertOwnedClosed() {
      const failed = new Set(life.of("session-close").filter((e) => e.reason === "open-failed").map((e) => e.sessionId));
      const owned = life.of("session-open").filter((e) => e.owner === "stream" && !failed.has(e.sessionId)).length;
      const sessions = new Set(proxy.posted("initialize").map((r) => r.newSessionId).filter(Boolean));
      assert.equal(proxy.of("DELETE").length, owned, "one DELETE per owned session");
      assert.deepEqual(new Set(this.deletes()), sessions, "each session the stream used got its DELETE");
    },
    /** After the ending call settled: owned sessions DELETEd once, borrowed ones alive and usable. */
    async assertEnded({ borrowedAlive = true } = {}) {
      if (mode === "owned") {
        await this.assertOwnedClosed();
        assert.equal(life.of("session-open").filter((e) => e.owner !== "stream").length, 0);
      } else if (borrowedAlive) {
        assert.deepEqual(this.deletes(), [], "the stream DELETEd a borrowed session");
        assert.equal(life.of("session-close").filter((e) => e.owner === "client").length, 0, "the stream closed a borrowed session");
        const r = await client.callTool("everything", "echo", { message: "still here" });
        assert.equal(r.isError, false);
        assert.match(r.content[0].text, /still here/);
      }
      if (client) {
        const before = proxy.of("DELETE").length;
        await client.close();
        if (borrowedAlive) assert.equal(proxy.of("DELETE").length, before + 1, "client.close() sent one DELETE");
      }
      await waitFor(() => proxy.openExchanges === 0, "the proxy's open exchanges to end");
      life.assertEachClosedOnce();
      assert.equal(runtime.stats().liveAllocations, 0, "live allocations in the core");
      assert.equal(runtime.stats().sessionsOpen, 0);
      assert.equal(runtime.stats().streamsOpen, 0);
      await this.guard.assertNone();
    },
    /** The in-flight tools/call got notifications/cancelled, before any DELETE (a borrowed
     * session's cancel is delivered after the end settled: nothing waits for it there). */
    async assertCancelledBeforeDelete() {
      const call = proxy.posted("tools/call").at(-1);
      await waitFor(() => proxy.posted("notifications/cancelled").length > 0, "notifications/cancelled");
      const cancels = proxy.posted("notifications/cancelled");
      assert.equal(cancels.length, 1, "one notifications/cancelled");
      assert.equal(cancels[0].body.params.requestId, call.body.id);
      const del = proxy.records.findIndex((r) => r.method === "DELETE");
      if (del >= 0) assert.ok(proxy.records.indexOf(cancels[0]) < del, "cancelled reached the server before DELETE");
    },
  };
}

for (const mode of ["owned", "borrowed"]) {
  describe(`${mode} sessions over Streamable HTTP`, () => {
    before(async () => { shared = await startEverythingHttp(); });
    after(async () => { await shared?.close(); shared = null; });

    test("completion: the final step, then { done: true } after cleanup", async (t) => {
      const s = await scenario(t, mode, [SUM_CALL, { text: "The sum is 42." }]);
      const it = s.agent.stream("What is 2 + 40?");
      const steps = [];
      let r;
      while (!(r = await it.next()).done) steps.push(r.value);
      if (mode === "owned") await s.assertOwnedClosed(); // at the moment the end settled
      assert.deepEqual(steps.map((x) => x.type).filter((x) => x !== "text"), ["tool_call", "tool_result", "final"]);
      assert.match(steps[1].content[0].text, /42/);
      assert.equal(r.value, steps.at(-1));
      assert.equal(r.value.text, "The sum is 42.");
      assert.deepEqual(await it.next(), { value: undefined, done: true });
      assert.equal(s.life.of("stream-end").at(-1).reason, "completed");
      // every request after initialize carried the session id and the protocol version
      const posts = s.proxy.of("POST");
      assert.equal(posts[0].body.method, "initialize");
      assert.equal(posts[0].sessionId, null);
      for (const p of posts.slice(1)) {
        assert.ok(p.sessionId, `${p.body?.method} without Mcp-Session-Id`);
        assert.equal(p.protocolVersion, "2025-11-25");
        assert.match(p.headers.accept, /application\/json/);
        assert.match(p.headers.accept, /text\/event-stream/);
      }
      await s.assertEnded();
    });

    test("model error: next() rejects with LLM_HTTP after cleanup", async (t) => {
      const s = await scenario(t, mode, [SUM_CALL, { status: 500, error: "the model broke" }]);
      const it = s.agent.stream("What is 2 + 40?");
      let owned = null;
      await assert.rejects(async () => { for await (const _ of it); }, (e) => {
        assert.equal(e.code, "LLM_HTTP");
        if (mode === "owned") owned = s.assertOwnedClosed(); // the end settles after the DELETE
        return true;
      });
      await owned;
      assert.deepEqual(await it.next(), { value: undefined, done: true });
      await s.assertEnded();
    });

    test("server exits mid-call: MCP_TRANSPORT_CLOSED, its session closed once (exited)", async (t) => {
      const s = await scenario(t, mode, [LONG_CALL, { text: "unreachable" }], { ownServer: true });
      const it = s.agent.stream("run the long operation");
      assert.equal((await it.next()).value.type, "tool_call");
      // its response stream has begun (else the proxy would answer 502 for a server it lost)
      await waitFor(() => s.proxy.posted("tools/call")[0]?.status === 200, "the tools/call's response to begin");
      await s.srv.close(); // the server process is gone (SIGKILL)
      await s.proxy.close(); // and so is everything in front of it
      await assert.rejects(async () => { for (;;) if ((await it.next()).done) break; }, { code: "MCP_TRANSPORT_CLOSED" });
      const closes = s.life.of("session-close");
      assert.equal(closes.length, 1);
      assert.equal(closes[0].reason, "exited");
      s.life.assertEachClosedOnce();
      if (s.client) await s.client.close();
      assert.equal(s.runtime.stats().liveAllocations, 0);
      await s.guard.assertNone();
    });

    test("consumer break: return() resolves after the owned session's DELETE", async (t) => {
      const s = await scenario(t, mode, [LONG_CALL, { text: "unreachable" }]);
      let seen = null;
      for await (const step of s.agent.stream("run the long operation")) {
        seen = step;
        if (step.type === "tool_call") {
          await waitFor(() => s.proxy.posted("tools/call").length === 1, "the tools/call to reach the server");
          break;
        }
      }
      assert.equal(seen.type, "tool_call");
      if (mode === "owned") await s.assertOwnedClosed();
      assert.equal(s.life.of("request-cancel").length, 1, "the in-flight tools/call was cancelled");
      await s.assertCancelledBeforeDelete();
      assert.equal(s.life.of("stream-end").at(-1).reason, "return");
      await s.assertEnded();
    });

    test("consumer throws in the loop body: the error propagates, cleanup ran once", async (t) => {
      const s = await scenario(t, mode, [LONG_CALL, { text: "unreachable" }]);
      const boom = new Error("boom in the loop body");
      await assert.rejects(async () => {
        for await (const step of s.agent.stream("run the long operation")) if (step.type === "tool_call") throw boom;
      }, (e) => e === boom);
      if (mode === "owned") await s.assertOwnedClosed();
      await s.assertEnded();
    });

    test("throw() into the iterator rejects with that very error after cleanup", async (t) => {
      const s = await scenario(t, mode, [LONG_CALL, { text: "unreachable" }]);
      const it = s.agent.stream("run the long operation");
      assert.equal((await it.next()).value.type, "tool_call");
      const injected = new Error("injected");
      await assert.rejects(it.throw(injected), (e) => e === injected);
      if (mode === "owned") await s.assertOwnedClosed();
      assert.deepEqual(await it.next(), { value: undefined, done: true });
      // the stream-end event names what was thrown (issue 6 item 6)
      assert.equal(s.life.of("stream-end").at(-1).reason, "injected");
      await s.assertEnded();
    });

    test("AbortSignal during a tool call: the next next() rejects AbortError/ABORTED", async (t) => {
      const s = await scenario(t, mode, [LONG_CALL, { text: "unreachable" }]);
      const ac = new AbortController();
      const it = s.agent.stream("run the long operation", { signal: ac.signal });
      assert.equal((await it.next()).value.type, "tool_call");
      await waitFor(() => s.proxy.posted("tools/call").length === 1, "the tools/call to reach the server");
      ac.abort(new Error("user gave up"));
      await assert.rejects(it.next(), { name: "AbortError", code: "ABORTED" });
      if (mode === "owned") await s.assertOwnedClosed();
      assert.equal(s.life.of("request-cancel").length, 1);
      await s.assertCancelledBeforeDelete();
      assert.deepEqual(await it.next(), { value: undefined, done: true });
      assert.deepEqual(await it.return("x"), { value: "x", done: true });
      await s.assertEnded();
    });

    test("AbortSignal while a next() is pending on a streaming model response", async (t) => {
      const s = await scenario(t, mode, [{ text: "a long answer that never ends", hangAfterChunks: 2 }]);
      const ac = new AbortController();
      const it = s.agent.stream("talk", { signal: ac.signal });
      assert.equal((await it.next()).value.type, "text");
      const pending = it.next().then(() => it.next()).then(() => it.next());
      setTimeout(() => ac.abort(), 50);
      await assert.rejects(pending, { name: "AbortError", code: "ABORTED" });
      if (mode === "owned") await s.assertOwnedClosed();
      await s.model.whenAborted(1);
      await s.assertEnded();
    });

    test("return() before the first next() opens nothing", async (t) => {
      const s = await scenario(t, mode, [SUM_CALL]);
      const it = s.agent.stream("What is 2 + 40?");
      assert.deepEqual(await it.return(7), { value: 7, done: true });
      assert.deepEqual(await it.next(), { value: undefined, done: true });
      assert.equal(s.life.of("session-open").length, 0);
      assert.equal(s.model.requests.length, 0);
      assert.equal(s.proxy.records.length, 0, "nothing reached the server");
      await s.assertEnded({ borrowedAlive: false });
    });

    test("return() concurrent with agent.close(): each session closed exactly once", async (t) => {
      const s = await scenario(t, mode, [LONG_CALL, { text: "unreachable" }]);
      if (mode === "borrowed") await s.agent.connect();
      const it = s.agent.stream("run the long operation");
      assert.equal((await it.next()).value.type, "tool_call");
      const [r] = await Promise.all([it.return("bye"), s.agent.close()]);
      assert.deepEqual(r, { value: "bye", done: true });
      if (mode === "owned") await s.assertOwnedClosed();
      assert.equal(new Set(s.deletes()).size, s.deletes().length, "a session DELETEd twice");
      await s.assertEnded();
    });

    test("setup failing half-way: what was opened is closed, the error is typed", async (t) => {
      const s = await scenario(t, mode, [SUM_CALL], { extraServers: { broken: { url: await deadURL() } } });
      const it = s.agent.stream("What is 2 + 40?");
      await assert.rejects(it.next(), (e) => {
        assert.equal(e.code, "MCP_CONNECT_FAILED");
        assert.match(e.message, /broken/);
        assert.match(e.message, /ECONNREFUSED|could not reach/);
        return true;
      });
      // the session opened before the failure got its DELETE when the rejection settled
      const inits = s.proxy.posted("initialize").filter((r) => r.status === 200).length;
      assert.equal(s.proxy.of("DELETE").length, inits);
      const closes = s.life.of("session-close");
      assert.equal(closes.length, 2);
      assert.deepEqual(closes.map((e) => e.reason).sort(), ["closed", "open-failed"]);
      await s.assertEnded({ borrowedAlive: false });
    });

    test("runtime.dispose() with a suspended stream: later next()/return() resolve done", async (t) => {
      const s = await scenario(t, mode, [LONG_CALL, { text: "unreachable" }]);
      const it = s.agent.stream("run the long operation");
      assert.equal((await it.next()).value.type, "tool_call");
      await waitFor(() => s.proxy.posted("tools/call").length === 1, "the tools/call to reach the server");
      await s.runtime.dispose();
      assert.equal(s.runtime.disposed, true);
      assert.equal(s.proxy.of("DELETE").length, 1, "dispose() sent the DELETE");
      await waitFor(() => s.proxy.openExchanges === 0, "every exchange to end after dispose()");
      assert.deepEqual(await it.next(), { value: undefined, done: true });
      assert.deepEqual(await it.return(1), { value: 1, done: true });
      s.life.assertEachClosedOnce();
      assert.ok(s.life.of("session-close").every((e) => e.reason === "disposed"));
      await s.guard.assertNone();
    });

    test("runtime.dispose() with a pending next(): it rejects RuntimeDisposedError", async (t) => {
      const s = await scenario(t, mode, [{ text: "streaming forever", hangAfterChunks: 2 }]);
      const it = s.agent.stream("talk");
      assert.equal((await it.next()).value.type, "text");
      const pending = it.next();
      await new Promise((r) => setTimeout(r, 50));
      const disposed = s.runtime.dispose();
      await assert.rejects(pending, (e) => e instanceof RuntimeDisposedError && e.code === "RUNTIME_DISPOSED");
      await disposed;
      assert.equal(s.proxy.of("DELETE").length, 1);
      await waitFor(() => s.proxy.openExchanges === 0, "every exchange to end after dispose()");
      assert.deepEqual(await it.next(), { value: undefined, done: true });
      assert.deepEqual(await it.return(), { value: undefined, done: true });
      s.life.assertEachClosedOnce();
      await s.guard.assertNone();
    });

    test("a script that simply ends with a stream open exits, leaving no processes", async (t) => {
      const model = await startModelServer({ script: [LONG_CALL, { text: "unreachable" }] });
      t.after(() => model.close());
      const proxy = await startRecordingProxy(shared.url);
      t.after(() => proxy.close());
      const child = spawn(process.execPath, [
        fileURLToPath(new URL("./fixtures/ends-with-open-stream.js", import.meta.url)),
        model.baseURL, mode, JSON.stringify({ url: proxy.url }),
      ], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "", err = "";
      child.stdout.on("data", (d) => { out += d; });
      child.stderr.on("data", (d) => { err += d; });
      const code = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`the script did not exit by itself; stderr: ${err}`)); }, 15000);
        child.on("exit", (c) => { clearTimeout(timer); resolve(c); });
      });
      assert.equal(code, 0, err);
      assert.equal(JSON.parse(out).type, "tool_call");
      // the GET stream and the tool call's response stream did not keep it alive; at exit
      // nothing can be sent (no synchronous I/O), so the session is left to expire
      await waitFor(() => proxy.openExchanges === 0, "the exited script's connections to close");
    });
  });
}

test("every lifecycle test over stdio has its Streamable HTTP twin here", () => {
  const names = (file) => [...readFileSync(new URL(file, import.meta.url), "utf8").matchAll(/^\s*test\(`?"?([^"`]+)["`]/gm)].map((m) => m[1]);
  const stdio = names("./lifecycle.test.js").filter((n) => !n.includes("${fault}")); // the stdio fault injections
  const here = names("./lifecycle-http.test.js").map((n) => n.replace("the owned session's DELETE", "the owned process tree is gone"));
  const missing = stdio.filter((n) => !here.includes(n));
  assert.deepEqual(missing, []);
});

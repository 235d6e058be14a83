// The lifecycle contract (docs/architecture.md §3), one test per rule, written once and run
// over each transport by lifecycle.test.js (stdio) and lifecycle-http.test.js (Streamable
// HTTP), against the real server-everything and the local model stand-in. Every test runs
// twice: with sessions the stream owns (opened and closed by it) and with sessions it
// borrows from a user's MCPClient (never closed by it).
//
// Each checks what the server side saw when the ending call settled:
//  - stdio: the server runs behind a recording wrapper (fixtures/recording-stdio.js) and
//    under `sh` beside a child `sleep`; owned process trees are gone (/proc), the server's
//    stdin was closed once, it received notifications/cancelled for a tool call in flight;
//  - Streamable HTTP: the server sits behind a recording proxy (fixtures/http-everything.js);
//    one DELETE per owned session, none for borrowed ones, notifications/cancelled before
//    the DELETE, no HTTP exchange left open.
// And on the client side: each session closed once, no cleanup-error (the runtime reports a
// second CLOSE from the core as one), nothing escaped as an unhandled rejection, the core's
// live allocations back to zero, the borrowed session still usable.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { createRuntime, MCPAgent, MCPClient, RuntimeDisposedError } from "../src/js/index.js";
import { startModelServer } from "./fixtures/model-server.js";
import { startEverythingHttp, startRecordingProxy } from "./fixtures/http-everything.js";
import { everything, pidsWithTag, waitForPids, waitGone, recordLifecycle, guardUnhandled, killTagged, runScript } from "./helpers.js";

export const LONG_CALL = { toolCalls: [{ name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } }] };
export const SUM_CALL = { toolCalls: [{ name: "get-sum", arguments: { a: 2, b: 40 } }] };

/** Polls `cond` (bounded); a generous bound, no timing assumption. */
export async function waitFor(cond, what, ms = 10000) {
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

/**
 * The server side of one scenario, per transport: the server's config and what it saw.
 * `failInitialize`: the session fails during setup while its transport is still open
 * (stdio: an initialize answer over the session's messageBytes; HTTP: a JSON-RPC error
 * for initialize), so the core closes it itself before its owner ends.
 */
const transports = {
  stdio: {
    /** How the owned session's end is named in test names. */
    gone: "the owned process tree is gone",
    async server(t, { tree = true, failInitialize = false } = {}) {
      const server = everything({ tree, record: true });
      t.after(() => killTagged(server.tag));
      const config = failInitialize ? { ...server.config, messageBytes: 200 } : server.config;
      return {
        config, tag: server.tag, wire: server.wire,
        /** Owned: the process tree is gone, its stdin was closed at most once, at most one signal. */
        assertOwnedClosed(life) {
          assert.deepEqual(pidsWithTag(server.tag), [], "owned server processes (or their children) still running");
          if (life.of("session-open").length > 0) {
            assert.ok(server.wire().stdinEnds() <= 1, "the server's stdin was closed more than once");
            assert.ok(server.wire().signals().length <= 1, `signals: ${server.wire().signals()}`);
          }
        },
        /** Borrowed: the stream left the server alone. */
        assertAllClosed() { assert.deepEqual(pidsWithTag(server.tag), [], "the server opened before the failure still runs"); },
        assertUntouched() {
          assert.equal(server.wire().stdinEnds(), 0, "the stream closed the borrowed server's stdin");
          assert.ok(pidsWithTag(server.tag).length >= 1, "the borrowed server is gone");
        },
        afterClientClose() { assert.deepEqual(pidsWithTag(server.tag), [], "client.close() left server processes"); },
        /** The tool call runs on the server (its child `sleep` is up). */
        async callReached() { assert.ok((await waitForPids(server.tag, 2)).length >= 2, "server and its child sleep run"); },
        /** Exactly one notifications/cancelled, naming the one tools/call. An owned server has seen
         * everything once its close completed; a borrowed one (still running) may read the
         * notification a moment after the stream ended, so the wire is polled, with a bound. */
        async assertCancelled() {
          await waitFor(() => server.wire().cancelledIds().length > 0, "notifications/cancelled to reach the server");
          const wire = server.wire();
          const calls = wire.sent("tools/call");
          assert.equal(calls.length, 1, "one tools/call reached the server");
          assert.deepEqual(wire.cancelledIds(), [calls[0].id], "the server got notifications/cancelled for the in-flight tools/call");
        },
        assertNothingCancelled() { assert.deepEqual(server.wire().cancelledIds(), [], "nothing was cancelled"); },
        assertClosedOnce() { assert.equal(server.wire().stdinEnds(), 1, "the owned server saw its stdin closed once"); },
        assertNothingReached() { assert.deepEqual(pidsWithTag(server.tag), []); },
        async kill() { for (const pid of pidsWithTag(server.tag)) process.kill(pid, "SIGKILL"); },
        async assertDisposed() { assert.deepEqual(pidsWithTag(server.tag), [], "dispose() left server processes"); },
        /** After a script that ended with a stream open has exited. */
        async assertLeftBehindNothing() { assert.deepEqual(await waitGone(server.tag), [], "server processes survived the script's end"); },
      };
    },
  },
  http: {
    gone: "the owned session's DELETE",
    /** One server-everything per describe (sessions are per test); a test that kills it has its own. */
    shared: null,
    async server(t, { ownServer = false, failInitialize = false } = {}) {
      const srv = ownServer ? await startEverythingHttp() : this.shared;
      const intercept = failInitialize && ((info, res) => {
        if (info.body?.method !== "initialize") return false;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ jsonrpc: "2.0", id: info.body.id, error: { code: -32603, message: "initialize refused" } }));
        return true;
      });
      const proxy = await startRecordingProxy(srv.url, intercept ? { intercept } : {});
      t.after(async () => {
        await proxy.close();
        if (ownServer) await srv.close();
      });
      const deletes = () => proxy.of("DELETE").map((r) => r.sessionId);
      return {
        config: { url: proxy.url }, proxy, srv,
        /** Owned: one DELETE per owned session the server initialized (a session the server
         * never gave an id has nothing to DELETE). */
        assertOwnedClosed(life) {
          const failed = new Set(life.of("session-close").filter((e) => e.reason === "open-failed").map((e) => e.sessionId));
          const owned = life.of("session-open").filter((e) => e.owner === "stream" && !failed.has(e.sessionId)).length;
          const sessions = new Set(proxy.posted("initialize").map((r) => r.newSessionId).filter(Boolean));
          assert.equal(proxy.of("DELETE").length, sessions.size, "one DELETE per session");
          assert.ok(sessions.size <= owned, "a DELETE for a session the stream did not own");
          assert.deepEqual(new Set(deletes()), sessions, "each session the stream used got its DELETE");
        },
        /** Every session the server initialized got its DELETE, once. */
        assertAllClosed() {
          const sessions = new Set(proxy.posted("initialize").map((r) => r.newSessionId).filter(Boolean));
          assert.equal(proxy.of("DELETE").length, sessions.size, "one DELETE per session");
          assert.deepEqual(new Set(deletes()), sessions, "each session got its DELETE");
        },
        assertUntouched() { assert.deepEqual(deletes(), [], "the stream DELETEd a borrowed session"); },
        async afterClientClose(before, borrowedAlive) {
          if (borrowedAlive) assert.equal(proxy.of("DELETE").length, before + 1, "client.close() sent one DELETE");
        },
        deleteCount: () => proxy.of("DELETE").length,
        async callReached() { await waitFor(() => proxy.posted("tools/call").length === 1, "the tools/call to reach the server"); },
        /** The in-flight tools/call got notifications/cancelled, before any DELETE (a borrowed
         * session's cancel is delivered after the end settled: nothing waits for it there). */
        async assertCancelled() {
          const call = proxy.posted("tools/call").at(-1);
          await waitFor(() => proxy.posted("notifications/cancelled").length > 0, "notifications/cancelled");
          const cancels = proxy.posted("notifications/cancelled");
          assert.equal(cancels.length, 1, "one notifications/cancelled");
          assert.equal(cancels[0].body.params.requestId, call.body.id);
          const del = proxy.records.findIndex((r) => r.method === "DELETE");
          if (del >= 0) assert.ok(proxy.records.indexOf(cancels[0]) < del, "cancelled reached the server before DELETE");
        },
        assertNothingCancelled() { assert.deepEqual(proxy.posted("notifications/cancelled"), [], "nothing was cancelled"); },
        assertClosedOnce() { assert.equal(proxy.of("DELETE").length, 1, "the owned session got one DELETE"); },
        assertNothingReached() { assert.equal(proxy.records.length, 0, "nothing reached the server"); },
        async kill() {
          // its response stream has begun (else the proxy would answer 502 for a server it lost)
          await waitFor(() => proxy.posted("tools/call")[0]?.status === 200, "the tools/call's response to begin");
          await srv.close(); // the server process is gone (SIGKILL)
          await proxy.close(); // and so is everything in front of it
        },
        async assertDisposed() {
          assert.equal(proxy.of("DELETE").length, 1, "dispose() sent the DELETE");
          await waitFor(() => proxy.openExchanges === 0, "every exchange to end after dispose()");
        },
        // the GET stream and the tool call's response stream did not keep it alive; at exit
        // nothing can be sent (no synchronous I/O), so the session is left to expire
        async assertLeftBehindNothing() { await waitFor(() => proxy.openExchanges === 0, "the exited script's connections to close"); },
        async settled() { await waitFor(() => proxy.openExchanges === 0, "the proxy's open exchanges to end"); },
      };
    },
  },
};

/**
 * Sets up one scenario: a runtime, the model stand-in with `script`, the server and an
 * agent whose sessions are owned by its streams or borrowed from a client.
 */
async function scenario(t, T, mode, script, { extraServers = {}, ...serverOptions } = {}) {
  const guard = guardUnhandled(t);
  const model = await startModelServer(script ? { script } : {});
  const server = await T.server(t, serverOptions);
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  const mcpServers = { everything: server.config, ...extraServers };
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
  });
  return {
    runtime, model, life, agent, client, server, guard,
    /** Owned sessions are closed (at the moment the end settled, when called right then). */
    assertOwnedClosed() { if (mode === "owned") server.assertOwnedClosed(life); },
    /** After the ending call settled: owned sessions closed once, borrowed ones alive and usable. */
    async assertEnded({ borrowedAlive = true } = {}) {
      assert.deepEqual(life.of("cleanup-error"), [], "cleanup problems (a second CLOSE from the core is one)");
      if (mode === "owned") {
        server.assertOwnedClosed(life);
        assert.equal(life.of("session-open").filter((e) => e.owner !== "stream").length, 0);
      } else if (borrowedAlive) {
        server.assertUntouched();
        assert.equal(life.of("session-close").filter((e) => e.owner === "client").length, 0, "the stream closed a borrowed session");
        const r = await client.callTool("everything", "echo", { message: "still here" });
        assert.equal(r.isError, false);
        assert.match(r.content[0].text, /still here/);
      }
      if (client) {
        const before = server.deleteCount?.();
        await client.close();
        await server.afterClientClose(before, borrowedAlive);
      }
      await server.settled?.();
      life.assertEachClosedOnce();
      assert.deepEqual(life.of("cleanup-error"), [], "cleanup problems (a second CLOSE from the core is one)");
      assert.equal(runtime.stats().liveAllocations, 0, "live allocations in the core");
      assert.equal(runtime.stats().sessionsOpen, 0);
      assert.equal(runtime.stats().streamsOpen, 0);
      await guard.assertNone();
    },
  };
}

/** Every scenario of the contract over `transport` ("stdio" | "http"), owned and borrowed. */
export function lifecycleSuite(transport) {
  const T = transports[transport];
  const http = transport === "http";
  const over = http ? " over Streamable HTTP" : "";
  for (const mode of ["owned", "borrowed"]) {
    describe(`${mode} sessions${over}`, () => {
      if (http) {
        before(async () => { T.shared = await startEverythingHttp(); });
        after(async () => { await T.shared?.close(); T.shared = null; });
      }

      test("completion: the final step, then { done: true } after cleanup", async (t) => {
        const s = await scenario(t, T, mode, [SUM_CALL, { text: "The sum is 42." }]);
        const it = s.agent.stream("What is 2 + 40?");
        const steps = [];
        let r;
        while (!(r = await it.next()).done) steps.push(r.value);
        s.assertOwnedClosed(); // at the moment the end settled
        assert.deepEqual(steps.map((x) => x.type).filter((x) => x !== "text"), ["tool_call", "tool_result", "final"]);
        assert.deepEqual(steps[0], { type: "tool_call", id: steps[0].id, server: "everything", name: "get-sum", arguments: { a: 2, b: 40 } });
        assert.match(steps[1].content[0].text, /42/);
        assert.equal(r.value, steps.at(-1), "the done result carries the final step");
        assert.equal(r.value.text, "The sum is 42.");
        assert.deepEqual(await it.next(), { value: undefined, done: true });
        assert.equal(s.life.of("stream-end").at(-1).reason, "completed");
        s.server.assertNothingCancelled();
        if (mode === "owned") s.server.assertClosedOnce();
        if (http) {
          // every request after initialize carried the session id and the protocol version
          const posts = s.server.proxy.of("POST");
          assert.equal(posts[0].body.method, "initialize");
          assert.equal(posts[0].sessionId, null);
          for (const p of posts.slice(1)) {
            assert.ok(p.sessionId, `${p.body?.method} without Mcp-Session-Id`);
            assert.equal(p.protocolVersion, "2025-11-25");
            assert.match(p.headers.accept, /application\/json/);
            assert.match(p.headers.accept, /text\/event-stream/);
          }
        }
        await s.assertEnded();
      });

      test("model error: next() rejects with LLM_HTTP after cleanup", async (t) => {
        const s = await scenario(t, T, mode, [SUM_CALL, { status: 500, error: "the model broke" }]);
        const it = s.agent.stream("What is 2 + 40?");
        await assert.rejects(async () => { for await (const _ of it); }, (e) => {
          assert.equal(e.code, "LLM_HTTP");
          assert.match(e.message, /500.*the model broke/);
          s.assertOwnedClosed(); // the end settles after cleanup
          return true;
        });
        assert.deepEqual(await it.next(), { value: undefined, done: true });
        await s.assertEnded();
      });

      test("server exits mid-call: MCP_TRANSPORT_CLOSED, its session closed once (exited)", async (t) => {
        const s = await scenario(t, T, mode, [LONG_CALL, { text: "unreachable" }], { tree: false, ownServer: true });
        const it = s.agent.stream("run the long operation");
        assert.equal((await it.next()).value.type, "tool_call");
        await s.server.kill();
        await assert.rejects(async () => { for (;;) if ((await it.next()).done) break; }, { code: "MCP_TRANSPORT_CLOSED" });
        const closes = s.life.of("session-close");
        assert.equal(closes.length, 1);
        assert.equal(closes[0].reason, "exited");
        if (!http) return s.assertEnded({ borrowedAlive: false });
        // the server and its proxy are gone: nothing can reach them any more
        s.life.assertEachClosedOnce();
        if (s.client) await s.client.close();
        assert.equal(s.runtime.stats().liveAllocations, 0);
        await s.guard.assertNone();
      });

      test(`consumer break: return() resolves after ${http ? "the owned session's DELETE" : "the owned process tree is gone"}`, async (t) => {
        const s = await scenario(t, T, mode, [LONG_CALL, { text: "unreachable" }]);
        let seen = null;
        for await (const step of s.agent.stream("run the long operation")) {
          seen = step;
          if (step.type === "tool_call") {
            await s.server.callReached();
            break;
          }
        }
        assert.equal(seen.type, "tool_call");
        s.assertOwnedClosed();
        assert.equal(s.life.of("request-cancel").length, 1, "the in-flight tools/call was cancelled");
        await s.server.assertCancelled();
        if (mode === "owned") s.server.assertClosedOnce();
        assert.equal(s.life.of("stream-end").at(-1).reason, "return");
        await s.assertEnded();
      });

      test("consumer throws in the loop body: the error propagates, cleanup ran once", async (t) => {
        const s = await scenario(t, T, mode, [LONG_CALL, { text: "unreachable" }]);
        const boom = new Error("boom in the loop body");
        await assert.rejects(async () => {
          for await (const step of s.agent.stream("run the long operation")) if (step.type === "tool_call") throw boom;
        }, (e) => e === boom);
        s.assertOwnedClosed();
        await s.assertEnded();
      });

      test("throw() into the iterator rejects with that very error after cleanup", async (t) => {
        const s = await scenario(t, T, mode, [LONG_CALL, { text: "unreachable" }]);
        const it = s.agent.stream("run the long operation");
        assert.equal((await it.next()).value.type, "tool_call");
        await s.server.callReached();
        const injected = new Error("injected");
        await assert.rejects(it.throw(injected), (e) => {
          assert.equal(e, injected);
          s.assertOwnedClosed();
          return true;
        });
        assert.deepEqual(await it.next(), { value: undefined, done: true });
        // the stream-end event names what was thrown (issue 6 item 6)
        assert.equal(s.life.of("stream-end").at(-1).reason, "injected");
        await s.server.assertCancelled();
        await s.assertEnded();
      });

      test("AbortSignal during a tool call: the next next() rejects AbortError/ABORTED", async (t) => {
        const s = await scenario(t, T, mode, [LONG_CALL, { text: "unreachable" }]);
        const ac = new AbortController();
        const it = s.agent.stream("run the long operation", { signal: ac.signal });
        assert.equal((await it.next()).value.type, "tool_call");
        await s.server.callReached();
        ac.abort(new Error("user gave up"));
        await assert.rejects(it.next(), (e) => {
          assert.equal(e.name, "AbortError");
          assert.equal(e.code, "ABORTED");
          s.assertOwnedClosed();
          return true;
        });
        assert.equal(s.life.of("request-cancel").length, 1);
        await s.server.assertCancelled();
        assert.deepEqual(await it.next(), { value: undefined, done: true });
        assert.deepEqual(await it.return("x"), { value: "x", done: true });
        await s.assertEnded();
      });

      test("AbortSignal while a next() is pending on a streaming model response", async (t) => {
        const s = await scenario(t, T, mode, [{ text: "a long answer that never ends", hangAfterChunks: 2 }]);
        const ac = new AbortController();
        const it = s.agent.stream("talk", { signal: ac.signal });
        assert.equal((await it.next()).value.type, "text");
        const pending = it.next().then(() => it.next()).then(() => it.next());
        setTimeout(() => ac.abort(), 50);
        await assert.rejects(pending, { name: "AbortError", code: "ABORTED" });
        s.assertOwnedClosed();
        await s.model.whenAborted(1);
        await s.assertEnded();
      });

      test("return() before the first next() opens nothing", async (t) => {
        const s = await scenario(t, T, mode, [SUM_CALL]);
        const it = s.agent.stream("What is 2 + 40?");
        assert.deepEqual(await it.return(7), { value: 7, done: true });
        assert.deepEqual(await it.next(), { value: undefined, done: true });
        assert.equal(s.life.of("session-open").length, 0);
        assert.equal(s.model.requests.length, 0);
        s.server.assertNothingReached();
        await s.assertEnded({ borrowedAlive: false });
      });

      test("return() concurrent with agent.close(): each session closed exactly once", async (t) => {
        const s = await scenario(t, T, mode, [LONG_CALL, { text: "unreachable" }]);
        if (mode === "borrowed") await s.agent.connect(); // client sessions, still the client's
        const it = s.agent.stream("run the long operation");
        assert.equal((await it.next()).value.type, "tool_call");
        const [r] = await Promise.all([it.return("bye"), s.agent.close()]);
        assert.deepEqual(r, { value: "bye", done: true });
        s.assertOwnedClosed();
        await s.assertEnded();
      });

      test("two close() calls of the sessions' owner at once, racing the stream's end: each session closed exactly once", async (t) => {
        const s = await scenario(t, T, mode, [LONG_CALL, { text: "unreachable" }]);
        await s.agent.connect(); // owned: the agent's own sessions (owner "agent"); borrowed: the client's
        const it = s.agent.stream("run the long operation");
        assert.equal((await it.next()).value.type, "tool_call");
        await s.server.callReached();
        const owner = mode === "borrowed" ? s.client : s.agent;
        const [r] = await Promise.all([it.return("bye"), owner.close(), owner.close()]);
        assert.deepEqual(r, { value: "bye", done: true });
        assert.deepEqual(s.life.of("cleanup-error"), [], "the core asked to close a session twice");
        s.server.assertClosedOnce();
        s.life.assertEachClosedOnce();
        assert.equal(s.runtime.stats().liveAllocations, 0, "live allocations in the core");
        assert.equal(s.runtime.stats().sessionsOpen, 0);
        assert.equal(s.runtime.stats().streamsOpen, 0);
        await s.guard.assertNone();
      });

      test("a session that fails during setup is closed once: the stream's end does not close it again", async (t) => {
        const s = await scenario(t, T, mode, [SUM_CALL], { failInitialize: true });
        const it = s.agent.stream("What is 2 + 40?");
        await assert.rejects(it.next(), (e) => {
          assert.match(e.code, http ? /^MCP_/ : /^LIMIT_EXCEEDED$/);
          assert.match(e.message, /everything/);
          s.assertOwnedClosed();
          return true;
        });
        assert.deepEqual(await it.next(), { value: undefined, done: true });
        await s.assertEnded({ borrowedAlive: false });
      });

      test("setup failing half-way: what was opened is closed, the error is typed", async (t) => {
        const s = await scenario(t, T, mode, [SUM_CALL], { extraServers: { broken: http ? { url: await deadURL() } : { command: "/nonexistent/mcp-server-binary" } } });
        const it = s.agent.stream("What is 2 + 40?");
        await assert.rejects(it.next(), (e) => {
          assert.equal(e.code, "MCP_CONNECT_FAILED");
          assert.match(e.message, /broken/);
          if (http) assert.match(e.message, /ECONNREFUSED|could not reach/);
          // the session opened before the failure was closed when the rejection settled
          s.server.assertAllClosed();
          return true;
        });
        const closes = s.life.of("session-close");
        assert.equal(closes.length, 2);
        assert.deepEqual(closes.map((e) => e.reason).sort(), ["closed", "open-failed"]);
        await s.assertEnded({ borrowedAlive: false });
      });

      test("runtime.dispose() with a suspended stream: later next()/return() resolve done", async (t) => {
        const s = await scenario(t, T, mode, [LONG_CALL, { text: "unreachable" }]);
        const it = s.agent.stream("run the long operation");
        assert.equal((await it.next()).value.type, "tool_call");
        await s.server.callReached();
        await s.runtime.dispose();
        assert.equal(s.runtime.disposed, true);
        await s.server.assertDisposed();
        assert.deepEqual(await it.next(), { value: undefined, done: true });
        assert.deepEqual(await it.return(1), { value: 1, done: true });
        s.life.assertEachClosedOnce();
        assert.ok(s.life.of("session-close").every((e) => e.reason === "disposed"));
        await s.guard.assertNone();
      });

      test("runtime.dispose() with a pending next(): it rejects RuntimeDisposedError", async (t) => {
        const s = await scenario(t, T, mode, [{ text: "streaming forever", hangAfterChunks: 2 }]);
        const it = s.agent.stream("talk");
        assert.equal((await it.next()).value.type, "text");
        const pending = it.next();
        await new Promise((r) => setTimeout(r, 50));
        const disposed = s.runtime.dispose();
        await assert.rejects(pending, (e) => e instanceof RuntimeDisposedError && e.code === "RUNTIME_DISPOSED");
        await disposed;
        await s.server.assertDisposed();
        assert.deepEqual(await it.next(), { value: undefined, done: true });
        assert.deepEqual(await it.return(), { value: undefined, done: true });
        s.life.assertEachClosedOnce();
        await s.guard.assertNone();
      });

      test("a script that simply ends with a stream open exits, leaving no processes", async (t) => {
        const model = await startModelServer({ script: [LONG_CALL, { text: "unreachable" }] });
        t.after(() => model.close());
        const server = await T.server(t, {});
        const { code, out, err } = await runScript(fileURLToPath(new URL("./fixtures/ends-with-open-stream.js", import.meta.url)),
          [model.baseURL, mode, JSON.stringify(server.config)]);
        assert.equal(code, 0, err);
        assert.equal(JSON.parse(out).type, "tool_call");
        await server.assertLeftBehindNothing();
      });
    });
  }
}

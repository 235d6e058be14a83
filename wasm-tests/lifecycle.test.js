// The lifecycle contract (docs/architecture.md §3), one test per rule, against the real
// server-everything over stdio and the local model stand-in. Every test runs
// twice: with sessions the stream owns (opened and closed by it) and with
// sessions it borrows from a user's MCPClient (never closed by it).
// Each checks, through /proc, that owned server processes (and their
// children) are gone when the ending call settles, that borrowed ones are
// alive and usable, that each session closed once, that nothing escaped as an
// unhandled rejection, and that the core's live allocations return to zero.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createRuntime, MCPAgent, MCPClient, RuntimeDisposedError } from "../src/js/index.js";
import { startModelServer } from "./fixtures/model-server.js";
import { everything, pidsWithTag, waitForPids, waitGone, recordLifecycle, guardUnhandled, killTagged } from "./helpers.js";

const LONG_CALL = { toolCalls: [{ name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } }] };
const SUM_CALL = { toolCalls: [{ name: "get-sum", arguments: { a: 2, b: 40 } }] };

/**
 * Sets up one scenario: a runtime, the model stand-in with `script`, and an
 * agent whose sessions are owned by its streams or borrowed from a client.
 */
async function scenario(t, mode, script, { servers, tree = true } = {}) {
  const guard = guardUnhandled(t);
  const model = await startModelServer(script ? { script } : {});
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  const server = everything({ tree, record: true });
  const mcpServers = servers ?? { everything: server.config };
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
    killTagged(server.tag);
  });
  return {
    runtime, model, life, agent, client, tag: server.tag, guard, wire: server.wire,
    /** After the ending call settled: owned processes gone, borrowed ones alive and usable. */
    async assertEnded({ borrowedAlive = true } = {}) {
      assert.deepEqual(life.of("cleanup-error"), [], "cleanup problems");
      if (mode === "owned") {
        assert.deepEqual(pidsWithTag(server.tag), [], "owned server processes (or their children) still running");
        assert.equal(life.of("session-open").filter((e) => e.owner !== "stream").length, 0);
        // what the server saw: its stdin closed at most once, at most one SIGTERM
        if (life.of("session-open").length > 0) {
          assert.ok(server.wire().stdinEnds() <= 1, "the server's stdin was closed more than once");
          assert.ok(server.wire().signals().length <= 1, `signals: ${server.wire().signals()}`);
        }
      } else if (borrowedAlive) {
        assert.equal(server.wire().stdinEnds(), 0, "the stream closed the borrowed server's stdin");
        assert.ok(pidsWithTag(server.tag).length >= 1, "the borrowed server is gone");
        assert.equal(life.of("session-close").filter((e) => e.owner === "client").length, 0, "the stream closed a borrowed session");
        const r = await client.callTool("everything", "echo", { message: "still here" });
        assert.equal(r.isError, false);
        assert.match(r.content[0].text, /still here/);
      }
      if (client) {
        await client.close();
        assert.deepEqual(pidsWithTag(server.tag), [], "client.close() left server processes");
      }
      life.assertEachClosedOnce();
      assert.equal(runtime.stats().liveAllocations, 0, "live allocations in the core");
      assert.equal(runtime.stats().sessionsOpen, 0);
      assert.equal(runtime.stats().streamsOpen, 0);
      await this.guard.assertNone();
    },
  };
}

/**
 * The server received exactly one notifications/cancelled, naming its one
 * tools/call. An owned server has seen everything once its close completed; a
 * borrowed one (still running) may read the notification a moment after the
 * stream ended, so the wire is polled, with a bound.
 */
async function assertCancelledOnWire(read) {
  const end = Date.now() + 10000;
  let wire;
  while ((wire = read()).cancelledIds().length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  const calls = wire.sent("tools/call");
  assert.equal(calls.length, 1, "one tools/call reached the server");
  assert.deepEqual(wire.cancelledIds(), [calls[0].id], "the server got notifications/cancelled for the in-flight tools/call");
}

for (const mode of ["owned", "borrowed"]) {
  describe(`${mode} sessions`, () => {
    test("completion: the final step, then { done: true } after cleanup", async (t) => {
      const s = await scenario(t, mode, [SUM_CALL, { text: "The sum is 42." }]);
      const it = s.agent.stream("What is 2 + 40?");
      const steps = [];
      let r;
      while (!(r = await it.next()).done) steps.push(r.value);
      assert.deepEqual(steps.map((x) => x.type).filter((x) => x !== "text"), ["tool_call", "tool_result", "final"]);
      assert.deepEqual(steps[0], { type: "tool_call", id: steps[0].id, server: "everything", name: "get-sum", arguments: { a: 2, b: 40 } });
      assert.match(steps[1].content[0].text, /42/);
      assert.equal(r.value, steps.at(-1), "the done result carries the final step");
      assert.equal(r.value.text, "The sum is 42.");
      assert.deepEqual(await it.next(), { value: undefined, done: true });
      assert.equal(s.life.of("stream-end").at(-1).reason, "completed");
      assert.deepEqual(s.wire().cancelledIds(), [], "nothing was cancelled");
      if (mode === "owned") assert.equal(s.wire().stdinEnds(), 1, "the owned server saw its stdin closed once");
      await s.assertEnded();
    });

    test("model error: next() rejects with LLM_HTTP after cleanup", async (t) => {
      const s = await scenario(t, mode, [SUM_CALL, { status: 500, error: "the model broke" }]);
      const it = s.agent.stream("What is 2 + 40?");
      await assert.rejects(async () => { for await (const _ of it); }, (e) => {
        assert.equal(e.code, "LLM_HTTP");
        assert.match(e.message, /500.*the model broke/);
        // the end settles after cleanup: owned processes are already gone here
        if (mode === "owned") assert.deepEqual(pidsWithTag(s.tag), []);
        return true;
      });
      assert.deepEqual(await it.next(), { value: undefined, done: true });
      await s.assertEnded();
    });

    test("server exits mid-call: MCP_TRANSPORT_CLOSED, its session closed once (exited)", async (t) => {
      const s = await scenario(t, mode, [LONG_CALL, { text: "unreachable" }], { tree: false });
      const it = s.agent.stream("run the long operation");
      const first = await it.next();
      assert.equal(first.value.type, "tool_call");
      for (const pid of pidsWithTag(s.tag)) process.kill(pid, "SIGKILL");
      await assert.rejects(async () => { for (;;) if ((await it.next()).done) break; }, { code: "MCP_TRANSPORT_CLOSED" });
      const closes = s.life.of("session-close");
      assert.equal(closes.length, 1);
      assert.equal(closes[0].reason, "exited");
      await s.assertEnded({ borrowedAlive: false });
    });

    test("consumer break: return() resolves after the owned process tree is gone", async (t) => {
      const s = await scenario(t, mode, [LONG_CALL, { text: "unreachable" }]);
      if (mode === "owned") s.life.events.length = 0;
      let seen = null;
      for await (const step of s.agent.stream("run the long operation")) {
        seen = step;
        if (step.type === "tool_call") {
          assert.ok((await waitForPids(s.tag, 2)).length >= 2, "server and its child sleep run");
          break;
        }
      }
      assert.equal(seen.type, "tool_call");
      assert.equal(s.life.of("request-cancel").length, 1, "the in-flight tools/call was cancelled");
      await assertCancelledOnWire(s.wire);
      if (mode === "owned") assert.equal(s.wire().stdinEnds(), 1, "the owned server saw its stdin closed once");
      assert.equal(s.life.of("stream-end").at(-1).reason, "return");
      await s.assertEnded();
    });

    test("consumer throws in the loop body: the error propagates, cleanup ran once", async (t) => {
      const s = await scenario(t, mode, [LONG_CALL, { text: "unreachable" }]);
      const boom = new Error("boom in the loop body");
      await assert.rejects(async () => {
        for await (const step of s.agent.stream("run the long operation")) if (step.type === "tool_call") throw boom;
      }, (e) => e === boom);
      await s.assertEnded();
    });

    test("throw() into the iterator rejects with that very error after cleanup", async (t) => {
      const s = await scenario(t, mode, [LONG_CALL, { text: "unreachable" }]);
      const it = s.agent.stream("run the long operation");
      assert.equal((await it.next()).value.type, "tool_call");
      const injected = new Error("injected");
      await assert.rejects(it.throw(injected), (e) => {
        assert.equal(e, injected);
        if (mode === "owned") assert.deepEqual(pidsWithTag(s.tag), []);
        return true;
      });
      assert.deepEqual(await it.next(), { value: undefined, done: true });
      // the stream-end event names what was thrown (issue 6 item 6)
      assert.equal(s.life.of("stream-end").at(-1).reason, "injected");
      await assertCancelledOnWire(s.wire);
      await s.assertEnded();
    });

    test("AbortSignal during a tool call: the next next() rejects AbortError/ABORTED", async (t) => {
      const s = await scenario(t, mode, [LONG_CALL, { text: "unreachable" }]);
      const ac = new AbortController();
      const it = s.agent.stream("run the long operation", { signal: ac.signal });
      assert.equal((await it.next()).value.type, "tool_call");
      ac.abort(new Error("user gave up"));
      await assert.rejects(it.next(), (e) => {
        assert.equal(e.name, "AbortError");
        assert.equal(e.code, "ABORTED");
        if (mode === "owned") assert.deepEqual(pidsWithTag(s.tag), []);
        return true;
      });
      assert.equal(s.life.of("request-cancel").length, 1);
      await assertCancelledOnWire(s.wire);
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
      assert.deepEqual(pidsWithTag(s.tag), []);
      await s.assertEnded({ borrowedAlive: false });
    });

    test("return() concurrent with agent.close(): each session closed exactly once", async (t) => {
      const s = await scenario(t, mode, [LONG_CALL, { text: "unreachable" }]);
      if (mode === "borrowed") await s.agent.connect(); // client sessions, still the client's
      const it = s.agent.stream("run the long operation");
      assert.equal((await it.next()).value.type, "tool_call");
      const [r] = await Promise.all([it.return("bye"), s.agent.close()]);
      assert.deepEqual(r, { value: "bye", done: true });
      if (mode === "owned") assert.deepEqual(pidsWithTag(s.tag), []);
      await s.assertEnded();
    });

    test("setup failing half-way: what was opened is closed, the error is typed", async (t) => {
      const good = everything({ tree: true });
      const servers = { everything: good.config, broken: { command: "/nonexistent/mcp-server-binary" } };
      const s = await scenario(t, mode, [SUM_CALL], { servers });
      t.after(() => killTagged(good.tag));
      const it = s.agent.stream("What is 2 + 40?");
      await assert.rejects(it.next(), (e) => {
        assert.equal(e.code, "MCP_CONNECT_FAILED");
        assert.match(e.message, /broken/);
        assert.deepEqual(pidsWithTag(good.tag), [], "the server opened before the failure still runs");
        return true;
      });
      const closes = s.life.of("session-close");
      assert.equal(closes.length, 2);
      assert.deepEqual(closes.map((e) => e.reason).sort(), ["closed", "open-failed"]);
      await s.assertEnded({ borrowedAlive: false });
    });

    test("runtime.dispose() with a suspended stream: later next()/return() resolve done", async (t) => {
      const s = await scenario(t, mode, [LONG_CALL, { text: "unreachable" }]);
      const it = s.agent.stream("run the long operation");
      assert.equal((await it.next()).value.type, "tool_call");
      await s.runtime.dispose();
      assert.equal(s.runtime.disposed, true);
      assert.deepEqual(pidsWithTag(s.tag), [], "dispose() left server processes");
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
      assert.deepEqual(pidsWithTag(s.tag), []);
      assert.deepEqual(await it.next(), { value: undefined, done: true });
      assert.deepEqual(await it.return(), { value: undefined, done: true });
      s.life.assertEachClosedOnce();
      await s.guard.assertNone();
    });

    test("a script that simply ends with a stream open exits, leaving no processes", async (t) => {
      const model = await startModelServer({ script: [LONG_CALL, { text: "unreachable" }] });
      t.after(() => model.close());
      const server = everything({ tree: true });
      t.after(() => killTagged(server.tag));
      const child = spawn(process.execPath, [
        fileURLToPath(new URL("./fixtures/ends-with-open-stream.js", import.meta.url)),
        model.baseURL, mode, JSON.stringify(server.config),
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
      assert.deepEqual(await waitGone(server.tag), [], "server processes survived the script's end");
    });
  });
}

describe("cleanup problems", () => {
  // Fault injection on a real stdio transport: a real server, whose close
  // reports processes that could not be confirmed gone (as the stdio host does
  // when a process of the group outlives SIGKILL), or whose close() rejects.
  for (const fault of ["leftover processes", "close() rejects"]) {
    test(`${fault}: a cleanup-error event; the stream's own end is not masked`, async (t) => {
      const guard = guardUnhandled(t);
      const { readFile } = await import("node:fs/promises");
      const { Runtime } = await import("../src/js/runtime.js");
      const { instantiate } = await import("../src/js/loader.js");
      const { StdioTransport } = await import("../src/js/hosts/stdio.js");
      const wasm = await readFile(new URL("../dist/mcpstream.wasm", import.meta.url));
      const runtime = new Runtime(await instantiate(wasm), {
        transportFactory: (config, hooks) => {
          if (fault === "leftover processes")
            return new StdioTransport(config, { ...hooks, onClose: (info) => hooks.onClose({ ...info, cleanupError: "1 process of its group could not be confirmed gone" }) });
          const real = new StdioTransport(config, hooks);
          return { open: () => real.open(), send: (b) => real.send(b), ref: () => real.ref(), unref: () => real.unref(),
                   killSync: () => real.killSync(), close: () => real.close().then(() => { throw new Error("injected close failure"); }) };
        },
      });
      const model = await startModelServer({ script: [SUM_CALL, { text: "42" }] });
      const server = everything();
      t.after(async () => { await runtime.dispose(); await model.close(); killTagged(server.tag); });
      const life = recordLifecycle(runtime);
      const agent = new MCPAgent({ runtime, llm: { baseURL: model.baseURL }, mcpServers: { everything: server.config } });
      assert.equal(await agent.run("What is 2 + 40?"), "42");
      // a rejected close() is noticed after the transport reported itself closed
      if (fault === "close() rejects") await new Promise((r) => setImmediate(r));
      const errors = life.of("cleanup-error");
      assert.equal(errors.length, 1);
      assert.equal(errors[0].server, "everything");
      assert.equal(errors[0].owner, "stream");
      assert.match(errors[0].reason, fault === "leftover processes" ? /could not be confirmed gone/ : /injected close failure/);
      life.assertEachClosedOnce();
      assert.equal(runtime.stats().liveAllocations, 0);
      await guard.assertNone();
    });
  }
});

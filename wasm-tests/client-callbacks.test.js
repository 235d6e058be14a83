// Server-to-client requests (sampling/createMessage, elicitation/create, roots/list) routed to
// the callbacks given to MCPClient, against the real server-everything over stdio and over
// Streamable HTTP. server-everything registers its trigger tools only for a client that
// declared the capability, so the tool list shows what initialize declared.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRuntime, MCPClient } from "../src/js/index.js";
import { startEverythingHttp } from "./fixtures/http-everything.js";
import { everything, killTagged, recordLifecycle, guardUnhandled } from "./helpers.js";

let http;
before(async () => { http = await startEverythingHttp(); });
after(async () => { await http?.close(); });

const TRIGGERS = ["trigger-sampling-request", "trigger-elicitation-request", "get-roots-list"];
const text = (result) => result.content.map((c) => c.text ?? "").join("\n");

for (const transport of ["stdio", "http"]) {
  describe(`over ${transport}`, () => {
    async function setup(t, options = {}, serverExtra = {}) {
      const guard = guardUnhandled(t);
      const runtime = await createRuntime();
      const life = recordLifecycle(runtime);
      let config, wire = null;
      if (transport === "stdio") {
        const s = everything({ record: true });
        t.after(() => killTagged(s.tag));
        config = s.config;
        wire = s.wire;
      } else {
        config = { url: http.url };
      }
      const client = new MCPClient({ mcpServers: { everything: { ...config, ...serverExtra } } }, { runtime, ...options });
      t.after(() => runtime.dispose());
      return {
        client, runtime, wire,
        async done() {
          await client.close();
          life.assertEachClosedOnce();
          assert.equal(runtime.stats().liveAllocations, 0);
          await guard.assertNone();
        },
      };
    }

    test("sampling, elicitation (with the schema's defaults) and roots are answered by the callbacks", async (t) => {
      const seen = [];
      const s = await setup(t, {
        onSampling: async (params, ctx) => {
          seen.push(["sampling", params, ctx]);
          return { role: "assistant", content: { type: "text", text: "sampled by the test" }, model: "test-model", stopReason: "endTurn" };
        },
        onElicitation: async (params, ctx) => {
          seen.push(["elicitation", params, ctx]);
          return { action: "accept", content: { name: "Ada", integer: 7 } }; // the rest: defaults
        },
        roots: [{ uri: "file:///work/project", name: "project" }],
      });
      const names = (await s.client.listTools()).map((x) => x.name);
      for (const n of TRIGGERS) assert.ok(names.includes(n), `${n} is registered for a client that declared it: ${names.join(", ")}`);
      if (s.wire) {
        const init = s.wire().sent("initialize")[0];
        assert.deepEqual(init.params.capabilities, { sampling: {}, elicitation: {}, roots: {} });
      }

      const sampled = await s.client.callTool("everything", "trigger-sampling-request", { prompt: "the moon", maxTokens: 9 });
      assert.equal(sampled.isError, false, text(sampled));
      assert.match(text(sampled), /sampled by the test/);
      assert.match(text(sampled), /test-model/);
      const [, sp, sctx] = seen.find((x) => x[0] === "sampling");
      assert.match(JSON.stringify(sp.messages), /the moon/);
      assert.equal(sp.maxTokens, 9);
      assert.equal(sctx.server, "everything");
      assert.ok(sctx.signal instanceof AbortSignal && !sctx.signal.aborted);

      const elicited = await s.client.callTool("everything", "trigger-elicitation-request", {});
      assert.equal(elicited.isError, false, text(elicited));
      const raw = JSON.parse(text(elicited).split("Raw result: ")[1]);
      assert.equal(raw.action, "accept");
      assert.equal(raw.content.name, "Ada");
      assert.equal(raw.content.integer, 7, "a value the callback gave is kept");
      assert.equal(raw.content.firstLine, "It was a dark and stormy night.", "string default applied");
      assert.equal(raw.content.number, 3.14, "number default applied");
      assert.equal(raw.content.untitledSingleSelectEnum, "Monica", "enum default applied");
      assert.deepEqual(raw.content.untitledMultipleSelectEnum, ["Guitar"], "array default applied");
      assert.equal("check" in raw.content, false, "a field without a default stays absent");
      const [, ep] = seen.find((x) => x[0] === "elicitation");
      assert.equal(typeof ep.message, "string");
      assert.equal(ep.requestedSchema.type, "object");

      const roots = await s.client.callTool("everything", "get-roots-list", {});
      assert.match(text(roots), /file:\/\/\/work\/project/);
      assert.match(text(roots), /project/);
      await s.done();
    });

    test("without callbacks nothing is declared and the server's requests are refused as before", async (t) => {
      const s = await setup(t);
      const names = (await s.client.listTools()).map((x) => x.name);
      for (const n of TRIGGERS) assert.ok(!names.includes(n), `${n} is not offered to a client without it`);
      if (s.wire) assert.deepEqual(s.wire().sent("initialize")[0].params.capabilities, {});
      await s.done();
    });

    test("a callback that throws, answers garbage or declines: the server gets an error or the decline, the client goes on", async (t) => {
      let mode = "throw";
      const s = await setup(t, {
        onSampling: async () => {
          if (mode === "throw") throw new Error("the user said no");
          return 42;
        },
        onElicitation: () => ({ action: "decline", content: { name: "ignored" } }),
        roots: async () => [{ uri: "https://not-a-file" }],
      });
      const thrown = await s.client.callTool("everything", "trigger-sampling-request", { prompt: "x" });
      assert.equal(thrown.isError, true);
      assert.match(text(thrown), /sampling\/createMessage failed in the client: the user said no/);
      mode = "garbage";
      const garbage = await s.client.callTool("everything", "trigger-sampling-request", { prompt: "x" });
      assert.equal(garbage.isError, true);
      assert.match(text(garbage), /onSampling must resolve to a CreateMessageResult/);
      const declined = await s.client.callTool("everything", "trigger-elicitation-request", {});
      assert.equal(declined.isError, false);
      const raw = JSON.parse(text(declined).split("Raw result: ")[1]);
      assert.deepEqual(raw, { action: "decline" }, "a decline carries no content");
      const roots = await s.client.callTool("everything", "get-roots-list", {});
      assert.doesNotMatch(text(roots), /not-a-file/, "roots that are not file:// URIs are refused");
      assert.equal((await s.client.callTool("everything", "echo", { message: "still here" })).content[0].text, "Echo: still here");
      await s.done();
    });

    test("a callback that never settles is answered with an error after the server's timeoutMs; its signal aborts", async (t) => {
      let signal;
      const s = await setup(t, {
        onSampling: (params, ctx) => { signal = ctx.signal; return new Promise(() => {}); },
      }, { timeoutMs: 6000 }); // also the bound of initialize: generous for a loaded machine
      const r = await s.client.callTool("everything", "trigger-sampling-request", { prompt: "x" }, { timeoutMs: 60000 });
      assert.equal(r.isError, true);
      assert.match(text(r), /did not answer sampling\/createMessage within 6000 ms/);
      assert.equal(signal.aborted, true);
      await s.done();
    });

    test("a callback still running when the client closes: its signal aborts, nothing is sent after, nothing leaks", async (t) => {
      let signal, entered;
      const inCallback = new Promise((r) => { entered = r; });
      let release;
      const s = await setup(t, {
        onElicitation: (params, ctx) => {
          signal = ctx.signal;
          entered();
          return new Promise((r) => { release = r; });
        },
      });
      const call = s.client.callTool("everything", "trigger-elicitation-request", {});
      await inCallback;
      const closing = s.client.close();
      await assert.rejects(call, { code: "MCP_TRANSPORT_CLOSED" });
      await closing;
      assert.equal(signal.aborted, true);
      release({ action: "accept", content: {} }); // too late: dropped
      await new Promise((r) => setImmediate(r));
      await s.done();
    });
  });
}

test("callbacks that are not functions, and roots that are not file:// URIs, are INVALID_ARGUMENT", () => {
  const servers = { mcpServers: {} };
  for (const options of [{ onSampling: 5 }, { onElicitation: "yes" }, { roots: "file:///x" }, { roots: [{ uri: "http://x" }] },
    { roots: [{ uri: "file:///x", name: 3 }] }, { roots: [null] }]) {
    assert.throws(() => new MCPClient(servers, options), (e) => {
      assert.equal(e.code, "INVALID_ARGUMENT");
      assert.ok(e instanceof TypeError);
      return true;
    }, JSON.stringify(options));
  }
  assert.ok(new MCPClient(servers, { roots: [], onSampling: async () => ({}) }));
});

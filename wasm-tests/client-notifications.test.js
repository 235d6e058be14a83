// Resource subscriptions, list_changed, logging and completions through MCPClient, against the
// real server-everything over stdio and over Streamable HTTP; prompts/list_changed against a
// server built on the official TypeScript SDK (server-everything never changes its prompts).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createRuntime, MCPClient } from "../src/js/index.js";
import { startEverythingHttp } from "./fixtures/http-everything.js";
import { everything, killTagged, recordLifecycle, guardUnhandled } from "./helpers.js";

let http;
before(async () => { http = await startEverythingHttp(); });
after(async () => { await http?.close(); });

const SDK_SERVER = fileURLToPath(new URL("./fixtures/sdk-server.js", import.meta.url));
const DOC = "demo://resource/static/document/architecture.md";

/** Resolves with the detail of the first `type` event of `target` that `match` accepts (bounded). */
function nextEvent(target, type, match = () => true, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { target.removeEventListener(type, on); reject(new Error(`no matching '${type}' event within ${timeoutMs} ms`)); }, timeoutMs);
    function on(e) {
      if (!match(e.detail)) return;
      clearTimeout(timer);
      target.removeEventListener(type, on);
      resolve(e.detail);
    }
    target.addEventListener(type, on);
  });
}

function collect(target, type) {
  const seen = [];
  target.addEventListener(type, (e) => seen.push(e.detail));
  return seen;
}

async function setup(t, config, options = {}) {
  const guard = guardUnhandled(t);
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  const client = new MCPClient({ mcpServers: { everything: config } }, { runtime, ...options });
  t.after(() => runtime.dispose());
  return {
    client, runtime,
    async done() {
      await client.close();
      life.assertEachClosedOnce();
      assert.equal(runtime.stats().liveAllocations, 0);
      await guard.assertNone();
    },
  };
}

for (const transport of ["stdio", "http"]) {
  describe(`over ${transport}`, () => {
    const config = (t) => {
      if (transport === "http") return { url: http.url };
      const s = everything();
      t.after(() => killTagged(s.tag));
      return s.config;
    };

    test("subscribeResource: notifications/resources/updated arrive as 'resource-updated' events; unsubscribeResource", async (t) => {
      const s = await setup(t, config(t));
      const updates = collect(s.client, "resource-updated");
      await s.client.subscribeResource("everything", DOC);
      const updated = nextEvent(s.client, "resource-updated", (d) => d.uri === DOC);
      await s.client.callTool("everything", "toggle-subscriber-updates", {}); // sends one update at once, then every 5 s
      assert.deepEqual(await updated, { server: "everything", uri: DOC });
      await s.client.unsubscribeResource("everything", DOC);
      await s.client.callTool("everything", "toggle-subscriber-updates", {}); // off
      if (transport === "stdio") {
        // over stdio the server writes in order: an update sent at toggling would come before its result
        const before = updates.length;
        await s.client.callTool("everything", "toggle-subscriber-updates", {}); // on again: nothing subscribed
        assert.equal(updates.length, before, "no update after unsubscribing");
        await s.client.callTool("everything", "toggle-subscriber-updates", {}); // off
      }
      await assert.rejects(s.client.subscribeResource("nowhere", DOC), { code: "INVALID_ARGUMENT" });
      await assert.rejects(s.client.subscribeResource("everything", ""), { code: "INVALID_ARGUMENT" });
      await assert.rejects(s.client.unsubscribeResource("everything", 7), { code: "INVALID_ARGUMENT" });
      await s.done();
    });

    test("setLoggingLevel: the server's notifications/message become runtime 'log' events with its level; a higher level filters", async (t) => {
      const s = await setup(t, config(t));
      const logs = collect(s.runtime, "log");
      await s.client.setLoggingLevel("everything", "debug");
      const subscribed = nextEvent(s.runtime, "log", (d) => /Received Subscribe Resource request/.test(d.message));
      await s.client.subscribeResource("everything", DOC);
      const log = await subscribed;
      assert.equal(log.server, "everything");
      assert.equal(log.level, "info");
      assert.equal(typeof log.sessionId, "number");
      assert.equal(log.data, log.message, "string data is the message as sent");
      await s.client.setLoggingLevel("everything", "error");
      await s.client.unsubscribeResource("everything", DOC);
      if (transport === "stdio") // in order over stdio: an info log of the unsubscribe would precede its answer
        assert.ok(!logs.some((d) => /Received Unsubscribe/.test(d.message)), "info is below the level set");
      await assert.rejects(s.client.setLoggingLevel("everything", "loud"), { code: "INVALID_ARGUMENT" });
      await assert.rejects(s.client.setLoggingLevel("nowhere", "info"), { code: "INVALID_ARGUMENT" });
      await s.done();
    });

    test("complete: prompt argument and resource template completions (completion/complete)", async (t) => {
      const s = await setup(t, config(t));
      const r = await s.client.complete("everything", { type: "ref/prompt", name: "completable-prompt" }, { name: "department", value: "S" });
      assert.deepEqual(r.completion.values.sort(), ["Sales", "Support"]);
      const narrowed = await s.client.complete("everything", { type: "ref/prompt", name: "completable-prompt" },
        { name: "name", value: "" }, { arguments: { department: "Engineering" } });
      assert.deepEqual(narrowed.completion.values, ["Alice", "Bob", "Charlie"], "context.arguments reach the server");
      await assert.rejects(s.client.complete("everything", { type: "ref/other" }, { name: "x", value: "" }), { code: "INVALID_ARGUMENT" });
      await assert.rejects(s.client.complete("everything", { type: "ref/prompt", name: "p" }, { name: "x" }), { code: "INVALID_ARGUMENT" });
      await assert.rejects(s.client.complete("everything", { type: "ref/prompt", name: "p" }, { name: "x", value: "" }, { arguments: { a: 1 } }), { code: "INVALID_ARGUMENT" });
      await assert.rejects(s.client.complete("nowhere", { type: "ref/prompt", name: "p" }, { name: "x", value: "" }), { code: "INVALID_ARGUMENT" });
      await s.done();
    });

    test("resources/list_changed and tools/list_changed arrive as 'list-changed' events; the lists are read afresh", async (t) => {
      const s = await setup(t, config(t), { roots: [] }); // a declared capability: the server adds tools after initialize
      const changed = nextEvent(s.client, "list-changed", (d) => d.list === "resources");
      const r = await s.client.callTool("everything", "gzip-file-as-resource", { name: "hello.txt.gz", data: "data:text/plain,hello" });
      assert.equal(r.isError, false, JSON.stringify(r));
      assert.deepEqual(await changed, { server: "everything", list: "resources" });
      const uris = (await s.client.listResources()).map((x) => x.uri);
      assert.ok(uris.includes("demo://resource/session/hello.txt.gz"), "the new resource is listed");
      await s.done();
    });
  });
}

test("prompts/list_changed from a server built on the official SDK: a 'list-changed' event, and listPrompts sees the new prompt", async (t) => {
  const s = await setup(t, { command: process.execPath, args: [SDK_SERVER] });
  assert.ok(!(await s.client.listPrompts()).some((p) => p.name === "late-prompt"));
  const changed = nextEvent(s.client, "list-changed", (d) => d.list === "prompts");
  const added = await s.client.callTool("everything", "add-prompt", {});
  assert.equal(added.isError, false, JSON.stringify(added));
  assert.deepEqual(await changed, { server: "everything", list: "prompts" });
  assert.ok((await s.client.listPrompts()).some((p) => p.name === "late-prompt"));
  await s.done();
});

// Resources and prompts through MCPClient, against the real server-everything
// over stdio and over Streamable HTTP.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRuntime, MCPClient } from "../src/js/index.js";
import { startEverythingHttp } from "./fixtures/http-everything.js";
import { everything, killTagged, recordLifecycle, guardUnhandled } from "./helpers.js";

let http;
before(async () => { http = await startEverythingHttp(); });
after(async () => { await http?.close(); });

for (const transport of ["stdio", "http"]) {
  describe(`over ${transport}`, () => {
    async function setup(t) {
      const guard = guardUnhandled(t);
      const runtime = await createRuntime();
      const life = recordLifecycle(runtime);
      let config;
      if (transport === "stdio") {
        const s = everything();
        t.after(() => killTagged(s.tag));
        config = s.config;
      } else {
        config = { url: http.url };
      }
      const client = new MCPClient({ mcpServers: { everything: config } }, { runtime });
      t.after(() => runtime.dispose());
      return {
        client,
        async done() {
          await client.close();
          life.assertEachClosedOnce();
          assert.equal(runtime.stats().liveAllocations, 0);
          await guard.assertNone();
        },
      };
    }

    test("listResources, listResourceTemplates and readResource", async (t) => {
      const s = await setup(t);
      const resources = await s.client.listResources();
      assert.ok(resources.length >= 2, "server-everything lists its static documents");
      for (const r of resources) {
        assert.equal(r.server, "everything");
        assert.equal(typeof r.uri, "string");
        assert.equal(typeof r.name, "string");
      }
      const doc = resources.find((r) => r.uri.startsWith("demo://resource/static/document/"));
      assert.ok(doc, "a static document");
      const read = await s.client.readResource("everything", doc.uri);
      assert.ok(Array.isArray(read.contents) && read.contents.length >= 1);
      assert.equal(read.contents[0].uri, doc.uri);
      assert.ok(typeof read.contents[0].text === "string" || typeof read.contents[0].blob === "string");
      const templates = await s.client.listResourceTemplates();
      assert.ok(templates.every((x) => x.server === "everything" && typeof x.uriTemplate === "string"));
      await assert.rejects(s.client.readResource("everything", "demo://no/such/thing"), { code: "MCP_ERROR" });
      await assert.rejects(s.client.readResource("nowhere", doc.uri), { code: "INVALID_ARGUMENT" });
      await assert.rejects(s.client.readResource("everything", ""), { code: "INVALID_ARGUMENT" });
      await s.done();
    });

    test("listPrompts and getPrompt with arguments", async (t) => {
      const s = await setup(t);
      const prompts = await s.client.listPrompts();
      const names = prompts.map((p) => p.name);
      assert.ok(names.includes("simple-prompt") && names.includes("args-prompt"), names.join(", "));
      const args = prompts.find((p) => p.name === "args-prompt");
      assert.ok(args.arguments.some((a) => a.name === "city" && a.required === true));
      const simple = await s.client.getPrompt("everything", "simple-prompt");
      assert.ok(simple.messages.length >= 1);
      assert.equal(simple.messages[0].role, "user");
      const withArgs = await s.client.getPrompt("everything", "args-prompt", { city: "Lyon" });
      assert.match(JSON.stringify(withArgs.messages), /Lyon/);
      await assert.rejects(s.client.getPrompt("everything", "args-prompt", { city: 3 }), { code: "INVALID_ARGUMENT" });
      await assert.rejects(s.client.getPrompt("everything", "no-such-prompt"), { code: "MCP_ERROR" });
      await s.done();
    });
  });
}

// The lifecycle contract (docs/architecture.md §3) over stdio: every scenario of
// lifecycle-scenarios.js (shared with lifecycle-http.test.js), owned and borrowed, against
// the real server-everything behind a recording wrapper and the local model stand-in;
// owned process trees (the server under `sh`, beside a child `sleep`) are checked gone
// through /proc. Then fault injection on the stdio transport's own cleanup.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { MCPAgent } from "../src/js/index.js";
import { startModelServer } from "./fixtures/model-server.js";
import { everything, recordLifecycle, guardUnhandled, killTagged } from "./helpers.js";
import { lifecycleSuite, SUM_CALL } from "./lifecycle-scenarios.js";

lifecycleSuite("stdio");

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

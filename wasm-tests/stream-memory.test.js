// stream-memory.test.js — what a suspended stream costs in the core (issue 7
// item 3 and its memory goal): streams over the same sessions share one tool
// catalogue, so server-everything's 13 tools are not copied into each of
// them, and a stream holds no error buffers, config or conversation it no
// longer needs. Measured with runtime.stats(), not with time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRuntime, MCPAgent, MCPClient } from "../src/js/index.js";
import { everything, killTagged } from "./helpers.js";

const N = 200;

test("streams suspended over server-everything's tools hold under 4 KB of the core's heap each, and give it all back", async (t) => {
  const runtime = await createRuntime();
  const server = everything();
  t.after(async () => { await runtime.dispose(); killTagged(server.tag); });
  const client = new MCPClient({ mcpServers: { everything: server.config } }, { runtime });
  await client.connect();
  const tools = await client.listTools();
  assert.ok(tools.length >= 10, `server-everything lists ${tools.length} tools`);
  const agent = new MCPAgent({ runtime, client, llm: async () => ({ role: "assistant", content: "hello" }) });
  const open = async () => {
    const s = agent.stream("hi");
    const r = await s.next();
    assert.equal(r.value?.type, "text");
    return s;
  };
  await (await open()).return(); // the first stream built the client's tool list
  const before = runtime.stats();
  const held = [];
  for (let i = 0; i < N; i++) held.push(await open());
  const suspended = runtime.stats();
  const perStream = (suspended.allocatedBytes - before.allocatedBytes) / N;
  // before the shared catalogue: ~19 KB each (every stream had its own copy of the tools)
  assert.ok(perStream < 4096, `${perStream.toFixed(0)} bytes of the core's heap per suspended stream`);
  assert.equal(suspended.streamsOpen, before.streamsOpen + N);
  for (const s of held) assert.deepEqual(await s.return(), { value: undefined, done: true });
  assert.equal(runtime.stats().liveAllocations, before.liveAllocations);
  await client.close();
  assert.equal(runtime.stats().liveAllocations, 0);
});

// Token usage and the stop reason on the final step: every model request asks for usage
// (stream_options.include_usage), the stand-in model answers with a usage chunk as the real
// API does, and the final step carries the sum over the stream's turns; against the real
// server-everything over stdio.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRuntime, MCPAgent } from "../src/js/index.js";
import { startModelServer } from "./fixtures/model-server.js";
import { everything, killTagged, recordLifecycle, guardUnhandled } from "./helpers.js";

async function agentWith(t, llm, model) {
  const guard = guardUnhandled(t);
  const runtime = await createRuntime();
  t.after(() => runtime.dispose());
  const life = recordLifecycle(runtime);
  const s = everything();
  t.after(() => killTagged(s.tag));
  const agent = new MCPAgent({ runtime, llm, mcpServers: { everything: s.config } });
  return {
    agent,
    async done() {
      life.assertEachClosedOnce();
      assert.equal(runtime.stats().liveAllocations, 0);
      await guard.assertNone();
    },
  };
}

test("the final step sums the usage the endpoint reported for each turn and says why the loop stopped", async (t) => {
  const model = await startModelServer({ script: [
    { toolCalls: [{ name: "get-sum", arguments: { a: 2, b: 40 } }] },
    { text: "It is 42.", finishReason: "length" },
  ] });
  t.after(() => model.close());
  const a = await agentWith(t, { baseURL: model.baseURL, model: "m" });
  const steps = [];
  for await (const step of a.agent.stream("What is 2 + 40?")) steps.push(step);
  const final = steps.at(-1);
  assert.equal(final.type, "final");
  assert.equal(final.text, "It is 42.");
  assert.equal(final.reason, "length", "the finish_reason of the last turn");
  assert.equal(model.requests.length, 2);
  for (const r of model.requests) assert.deepEqual(r.stream_options, { include_usage: true });
  // the stand-in counts a request's prompt as its messages' JSON length / 4 (src/js/standin-model.js)
  const prompt = model.requests.reduce((n, r) => n + Math.ceil(JSON.stringify(r.messages).length / 4), 0);
  assert.equal(final.usage.promptTokens, prompt);
  assert.ok(final.usage.completionTokens >= 2 + Math.ceil("It is 42.".length / 4), "both turns' completions");
  assert.equal(final.usage.totalTokens, final.usage.promptTokens + final.usage.completionTokens);
  await a.done();
});

test("an llm function reports no usage: usage null, reason stop", async (t) => {
  const a = await agentWith(t, async () => ({ role: "assistant", content: "plain" }));
  let final;
  for await (const step of a.agent.stream("hi")) final = step;
  assert.deepEqual(final, { type: "final", text: "plain", reason: "stop", usage: null });
  await a.done();
});

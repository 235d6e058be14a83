// A server that breaks the rules (fixtures/hostile-server.js) against the
// session side of the core: responses it can match but not accept, messages
// over the size limit, string fidelity, request timeouts, memory budgets.
// Each case settles with a typed error where it used to hang or lose data;
// bounds on waits only turn a hang into a failure, nothing asserts speed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { createRuntime, MCPClient, MCPAgent } from "../src/js/index.js";
import { recordLifecycle, guardUnhandled, killTagged, assertClean } from "./helpers.js";

const HOSTILE = fileURLToPath(new URL("./fixtures/hostile-server.js", import.meta.url));

/** A stdio config for the hostile server in `mode`, tagged for /proc. */
export function hostile(mode, extra = {}) {
  const tag = randomUUID();
  return { tag, config: { command: process.execPath, args: [HOSTILE, mode], env: { MCPSTREAM_TEST_TAG: tag, ...extra.env }, ...extra.config } };
}

/** The settlement of `p` as { value } or { error }, or a failure if it hangs. */
export function outcome(p, what, timeoutMs = 20000) {
  let timer;
  return Promise.race([
    p.then((value) => ({ value }), (error) => ({ error })),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: did not settle within ${timeoutMs} ms (hang)`)), timeoutMs); }),
  ]).finally(() => clearTimeout(timer));
}

/** A runtime of its own with a client of one hostile server. */
async function setup(t, mode, { limits, server } = {}) {
  const escaped = [];
  const onErr = (e) => escaped.push(e);
  process.on("unhandledRejection", onErr);
  const runtime = await createRuntime(limits ? { limits } : {});
  const life = recordLifecycle(runtime);
  const h = hostile(mode, { config: server });
  const client = new MCPClient({ mcpServers: { hostile: h.config } }, { runtime });
  t.after(async () => {
    process.off("unhandledRejection", onErr);
    await runtime.dispose();
    killTagged(h.tag);
  });
  return { runtime, life, client, escaped, tag: h.tag };
}

// ---- item 9: responses the core can match but not accept

test("a tools/call answered with both result and error fails with MCP_PROTOCOL naming the server", async (t) => {
  const { runtime, life, client, escaped } = await setup(t, "both");
  const r = await outcome(client.callTool("hostile", "probe", {}), "callTool");
  assert.equal(r.error?.code, "MCP_PROTOCOL", `got ${r.error?.code ?? "a result"}: ${r.error?.message}`);
  assert.match(r.error.message, /hostile/);
  assert.match(r.error.message, /both "result" and "error"/);
  // the session is still usable
  assert.equal((await client.listTools()).length, 1);
  await client.close();
  await assertClean(runtime, life, escaped);
});

test("responses inside a JSON array (a batch) are handled one by one", async (t) => {
  const { runtime, life, client, escaped } = await setup(t, "batch");
  const tools = await outcome(client.listTools(), "listTools");
  assert.deepEqual(tools.value?.map((x) => x.name), ["probe"], String(tools.error));
  const r = await outcome(client.callTool("hostile", "probe", {}), "callTool");
  assert.deepEqual(r.value?.content, [{ type: "text", text: "ok" }], String(r.error));
  await client.close();
  await assertClean(runtime, life, escaped);
});

test("a 38 MB tools/list line fails connect() with LIMIT_EXCEEDED instead of hanging", async (t) => {
  const { runtime, life, client, escaped } = await setup(t, "huge-list");
  const r = await outcome(client.connect(), "connect");
  assert.equal(r.error?.code, "LIMIT_EXCEEDED", `got ${r.error?.code ?? "success"}: ${r.error?.message}`);
  assert.match(r.error.message, /hostile/);
  assert.match(r.error.message, /16777216-byte limit/);
  await assertClean(runtime, life, escaped);
});

test("a tools/call answer over the size limit fails that call with LIMIT_EXCEEDED; the session goes on", async (t) => {
  const { runtime, life, client, escaped } = await setup(t, "huge-call", { limits: { messageBytes: 1 << 20 } });
  const r = await outcome(client.callTool("hostile", "probe", {}), "callTool");
  assert.equal(r.error?.code, "LIMIT_EXCEEDED", `got ${r.error?.code ?? "a result"}: ${r.error?.message}`);
  assert.match(r.error.message, /hostile/);
  assert.match(r.error.message, /1048576-byte limit/);
  assert.equal((await client.listTools()).length, 1);
  await client.close();
  await assertClean(runtime, life, escaped);
});

// ---- item 12: string fidelity

/** A model function that calls "probe" once, records what it was sent, then answers. */
function probingModel() {
  const sent = [];
  let turns = 0;
  const llm = async (request) => {
    sent.push(request);
    return turns++ === 0
      ? { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "probe", arguments: "{}" } }] }
      : { role: "assistant", content: "done" };
  };
  return { llm, sent };
}

test("a lone surrogate escape and a \\u0000 in a server's answer arrive intact (callTool, tool_result, the model)", async (t) => {
  const { runtime, life, client, escaped } = await setup(t, "strings");
  const r = await outcome(client.callTool("hostile", "probe", {}), "callTool");
  assert.deepEqual(r.value?.content, [{ type: "text", text: "cut \uFFFD here" }, { type: "text", text: "before\u0000after" }],
    String(r.error?.message));
  const { llm, sent } = probingModel();
  const agent = new MCPAgent({ runtime, llm, client });
  const steps = [];
  for await (const s of agent.stream("go")) steps.push(s);
  const result = steps.find((s) => s.type === "tool_result");
  assert.deepEqual(result.content, r.value.content);
  const toolMessage = sent[1].messages.find((m) => m.role === "tool");
  assert.equal(toolMessage.content, "cut \uFFFD here\nbefore\u0000after");
  await client.close();
  await assertClean(runtime, life, escaped);
});

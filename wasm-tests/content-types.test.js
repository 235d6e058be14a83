// Every content type of a tool result (text, image, audio, resource_link, embedded resource)
// and structuredContent reach the agent's tool_result steps unchanged, and client.callTool's
// result: from the real server-everything (its image, resource-link, resource-reference and
// structured-content tools) and, for audio (server-everything has no audio tool), from a server
// built on the official SDK. The model is the local stand-in.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createRuntime, MCPAgent, MCPClient } from "../src/js/index.js";
import { startModelServer } from "./fixtures/model-server.js";
import { AUDIO, IMAGE } from "./fixtures/sdk-content.js";
import { everything, killTagged, recordLifecycle, guardUnhandled } from "./helpers.js";

const SDK_SERVER = fileURLToPath(new URL("./fixtures/sdk-server.js", import.meta.url));

/** Runs one agent stream whose model calls `calls` (one turn each), then answers "done". */
async function runAgent(t, serverConfig, calls) {
  const guard = guardUnhandled(t);
  const runtime = await createRuntime();
  t.after(() => runtime.dispose());
  const life = recordLifecycle(runtime);
  const model = await startModelServer({
    script: [...calls.map((c) => ({ toolCalls: [c] })), { text: "done" }],
  });
  t.after(() => model.close());
  const agent = new MCPAgent({ runtime, llm: { baseURL: model.baseURL, model: "m" }, mcpServers: { s: serverConfig } });
  const steps = [];
  for await (const step of agent.stream("go")) steps.push(step);
  life.assertEachClosedOnce();
  assert.equal(runtime.stats().liveAllocations, 0);
  await guard.assertNone();
  return { steps, results: steps.filter((s) => s.type === "tool_result"), model };
}

test("server-everything: image, resource_link, embedded resource and structuredContent pass through to tool_result steps", async (t) => {
  const s = everything();
  t.after(() => killTagged(s.tag));
  const { results, model } = await runAgent(t, s.config, [
    { name: "get-tiny-image", arguments: {} },
    { name: "get-resource-links", arguments: { count: 2 } },
    { name: "get-resource-reference", arguments: { resourceType: "Text", resourceId: 1 } },
    { name: "get-structured-content", arguments: { location: "Chicago" } },
  ]);
  assert.deepEqual(results.map((r) => [r.name, r.isError]), [
    ["get-tiny-image", false], ["get-resource-links", false], ["get-resource-reference", false], ["get-structured-content", false]]);
  const [image, links, reference, structured] = results;

  const img = image.content.find((c) => c.type === "image");
  assert.ok(img, JSON.stringify(image.content));
  assert.equal(img.mimeType, "image/png");
  assert.ok(Buffer.from(img.data, "base64").subarray(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47])), "the PNG bytes arrive intact");

  const linkItems = links.content.filter((c) => c.type === "resource_link");
  assert.equal(linkItems.length, 2);
  for (const l of linkItems) {
    assert.match(l.uri, /^demo:\/\/resource\/dynamic\//);
    assert.equal(typeof l.name, "string");
  }

  const embedded = reference.content.find((c) => c.type === "resource");
  assert.ok(embedded, JSON.stringify(reference.content));
  assert.match(embedded.resource.uri, /^demo:\/\/resource\/dynamic\/text\/1/);
  assert.equal(typeof embedded.resource.text, "string");

  assert.deepEqual(structured.structuredContent, { temperature: 36, conditions: "Light rain / drizzle", humidity: 82 });
  assert.equal(image.structuredContent, null, "no structuredContent: null");

  // what the model is told of non-text content (README "Steps")
  const told = model.requests.at(-1).messages.filter((m) => m.role === "tool").map((m) => m.content);
  assert.match(told[0], /\[image image\/png\]/);
  assert.match(told[1], /\[resource_link demo:\/\/resource\/dynamic\//);
});

test("every content type from an SDK server (audio too) and structuredContent: tool_result steps and callTool carry them unchanged", async (t) => {
  const config = { command: process.execPath, args: [SDK_SERVER] };
  const expected = [
    { type: "text", text: "every kind" },
    { type: "image", data: IMAGE, mimeType: "image/png" },
    { type: "audio", data: AUDIO, mimeType: "audio/wav" },
    { type: "resource_link", uri: "file:///tmp/report.txt", name: "report", mimeType: "text/plain" },
    { type: "resource", resource: { uri: "file:///tmp/inline.txt", mimeType: "text/plain", text: "inline text" } },
  ];
  const { results } = await runAgent(t, config, [{ name: "every-content", arguments: {} }, { name: "get-audio", arguments: {} }]);
  assert.deepEqual(results[0].content, expected);
  assert.deepEqual(results[0].structuredContent, { total: 42, unit: "apples" });
  assert.deepEqual(results[1].content, [{ type: "text", text: "here is a sound" }, { type: "audio", data: AUDIO, mimeType: "audio/wav" }]);

  const runtime = await createRuntime();
  t.after(() => runtime.dispose());
  const client = new MCPClient({ mcpServers: { s: config } }, { runtime });
  const r = await client.callTool("s", "every-content", {});
  assert.deepEqual(r.content, expected);
  assert.deepEqual(r.structuredContent, { total: 42, unit: "apples" });
  assert.equal(r.isError, false);
  await client.close();
  assert.equal(runtime.stats().liveAllocations, 0);
});

// A hostile model endpoint (wasm-tests/fixtures/hostile-model.js) against the whole stack:
// runtime, agent stream, model host. No answer of a model endpoint may crash the process or
// strand a stream: each ends the stream with a typed error, after cleanup, exactly once.
// Timeouts in this file only turn a hang into a failure; nothing here asserts speed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRuntime, MCPAgent } from "../src/js/index.js";
import { startHostileServer, writeHugeJSON } from "./fixtures/hostile-model.js";
import { everything, pidsWithTag, waitForPids, recordLifecycle, guardUnhandled, killTagged, assertClean } from "./helpers.js";

const MiB = 1 << 20;

/** The settlement of `p` as { value } or { error }, or a failure if it hangs. */
function outcome(p, what, timeoutMs = 20000) {
  let timer;
  return Promise.race([
    p.then((value) => ({ value }), (error) => ({ error })),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: did not settle within ${timeoutMs} ms (hang)`)), timeoutMs); }),
  ]).finally(() => clearTimeout(timer));
}

/** Every error seen by process-level handlers while the test runs (none may escape). */
function escapes(t) {
  const seen = [];
  const on = (e) => seen.push(e);
  process.on("unhandledRejection", on);
  process.on("uncaughtException", on);
  t.after(() => { process.off("unhandledRejection", on); process.off("uncaughtException", on); });
  return seen;
}

/** A runtime, its lifecycle record, and cleanup. */
async function setup(t) {
  const escaped = escapes(t);
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  t.after(() => runtime.dispose());
  return { runtime, life, escaped };
}

const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};
const answer = (content) => ({ choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content } }] });

// ---- item 3: a huge non-streamed answer; a copy into wasm that fails

test("a JSON answer over llm.maxResponseBytes ends the stream with LIMIT_EXCEEDED while it is read, after the owned server is closed once", async (t) => {
  const { runtime, life, escaped } = await setup(t);
  let sent;
  const evil = await startHostileServer((req, res) => { sent = writeHugeJSON(res, 64 * MiB); });
  t.after(() => evil.close());
  const server = everything();
  t.after(() => killTagged(server.tag));
  const agent = new MCPAgent({ runtime, llm: { baseURL: evil.baseURL, model: "m", maxResponseBytes: MiB },
                               mcpServers: { everything: server.config } });
  const it = agent.stream("hi");
  const { error } = await outcome(it.next(), "next()");
  assert.ok(error, "the stream ends with an error");
  assert.equal(error.code, "LIMIT_EXCEEDED");
  assert.match(error.message, /1048576/, "the message names the limit");
  assert.ok(error.message.includes(`${evil.baseURL}/chat/completions`), `the message names the endpoint: ${error.message}`);
  assert.equal(error.endpoint, `${evil.baseURL}/chat/completions`);
  const { value: { aborted, written } } = await outcome(sent, "the server sees the client hang up");
  assert.equal(aborted, true, `the client stopped reading (${written} bytes written)`);
  assert.ok(written < 64 * MiB);
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  assert.deepEqual(pidsWithTag(server.tag), [], "the server is gone");
  assert.equal(life.of("session-close").length, 1);
  await assertClean(runtime, life, escaped);
});

test("a copy of the model's answer into the core that throws ends the stream with a typed error; nothing escapes, cleanup runs once", async (t) => {
  const { runtime, life, escaped } = await setup(t);
  const evil = await startHostileServer((req, res) => json(res, 200, answer("x".repeat(4096))));
  t.after(() => evil.close());
  const server = everything();
  t.after(() => killTagged(server.tag));
  // fault injection: the copy of a whole answer into wasm memory fails (as a ~1.4 GiB one does)
  const core = runtime._core;
  const real = core.streamModelEnd.bind(core);
  let injected = 0;
  core.streamModelEnd = (st, seq, status, bytes) => {
    if (status === 200 && bytes?.length >= 4096) { injected++; throw new RangeError("Array buffer allocation failed"); }
    return real(st, seq, status, bytes);
  };
  const agent = new MCPAgent({ runtime, llm: { baseURL: evil.baseURL, model: "m" }, mcpServers: { everything: server.config } });
  const it = agent.stream("hi");
  const { error } = await outcome(it.next(), "next()");
  assert.equal(injected, 1);
  assert.ok(error, "the stream ends with an error");
  assert.equal(error.code, "OUT_OF_MEMORY");
  assert.match(error.message, /could not be passed to the core/);
  assert.ok(error.message.includes(evil.baseURL), error.message);
  assert.ok(error.cause instanceof RangeError, "the copy failure is the cause");
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  assert.deepEqual(pidsWithTag(server.tag), []);
  assert.equal(life.of("session-close").length, 1);
  assert.equal(life.of("stream-end").length, 1);
  await assertClean(runtime, life, escaped);
});

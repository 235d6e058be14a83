// The model host adapter (src/js/hosts/model.js) against the fixture model server
// (wasm-tests/fixtures/model-server.js), which speaks OpenAI's Chat Completions format.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { startModelRequest, chatCompletionsURL } from "../src/js/hosts/model.js";
import { startModelServer, demoBrain } from "./fixtures/model-server.js";

const decoder = new TextDecoder();

const unhandled = [];
const onUnhandled = (reason) => unhandled.push(reason);
process.on("unhandledRejection", onUnhandled);
after(() => process.off("unhandledRejection", onUnhandled));

/** Runs one request; resolves when onEnd is called. Records every hook call in order. */
function request(llm, body, { onChunk } = {}) {
  const calls = [];
  let handle;
  const ended = new Promise((resolve) => {
    handle = startModelRequest(llm, typeof body === "string" ? body : JSON.stringify(body), {
      onChunk(bytes) {
        assert.ok(bytes instanceof Uint8Array);
        calls.push({ hook: "chunk", bytes: new Uint8Array(bytes) });
        onChunk?.(bytes, handle);
      },
      onEnd(status, bytes) {
        calls.push({ hook: "end", status, bytes });
        resolve({ status, bytes, calls });
      },
    });
  });
  return { handle, ended, calls };
}

const chunksOf = (calls) => calls.filter((c) => c.hook === "chunk");
const textOfChunks = (calls) => decoder.decode(concat(chunksOf(calls).map((c) => c.bytes)));

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A small SSE parser: returns the `data` payload of every event, in order. */
function sseData(text) {
  const events = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""));
    if (data.length) events.push(data.join("\n"));
  }
  assert.ok(/\n\n$/.test(text), "the stream ends with a complete event");
  return events;
}

/** Parses the SSE into chunks, checks the framing, reassembles content and tool calls. */
function assemble(text) {
  const data = sseData(text);
  assert.equal(data.at(-1), "[DONE]");
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
  let content = "";
  const calls = [];
  let finish = null;
  chunks.forEach((c, i) => {
    assert.equal(c.object, "chat.completion.chunk");
    assert.equal(typeof c.id, "string");
    assert.equal(typeof c.created, "number");
    assert.equal(typeof c.model, "string");
    assert.equal(c.choices.length, 1);
    const [choice] = c.choices;
    assert.equal(choice.index, 0);
    if (i === 0) assert.equal(choice.delta.role, "assistant");
    else assert.equal(choice.delta.role, undefined);
    if (i < chunks.length - 1) assert.equal(choice.finish_reason, null);
    else finish = choice.finish_reason;
    if (typeof choice.delta.content === "string") content += choice.delta.content;
    for (const d of choice.delta.tool_calls ?? []) {
      if (d.id !== undefined) {
        assert.equal(calls[d.index], undefined, "a tool call's id comes once");
        assert.equal(d.type, "function");
        assert.equal(typeof d.function.name, "string");
        assert.equal(d.function.arguments, "");
        calls[d.index] = { id: d.id, name: d.function.name, arguments: "", deltas: 0 };
      } else {
        assert.deepEqual(Object.keys(d).sort(), ["function", "index"]);
        assert.deepEqual(Object.keys(d.function), ["arguments"]);
        calls[d.index].arguments += d.function.arguments;
        calls[d.index].deltas += 1;
      }
    }
  });
  return { chunks, content, calls, finish };
}

const userBody = (content, extra = {}) => ({
  model: "test-model",
  stream: true,
  messages: [{ role: "user", content }],
  ...extra,
});

async function closedPort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

async function assertNoHooksAfter(calls, count, ms = 150) {
  await sleep(ms);
  assert.equal(calls.length, count, "no hook is called after abort()");
}

test("streamed text arrives chunk by chunk, then onEnd(200, null)", async (t) => {
  const server = await startModelServer({ script: [{ text: "Hello, streaming world! ☀️ é", chunkSize: 3, delayMs: 15 }] });
  t.after(() => server.close());
  const { ended, calls } = request({ baseURL: server.baseURL, model: "test-model" }, userBody("hi"));
  const { status, bytes } = await ended;
  assert.equal(status, 200);
  assert.equal(bytes, null);
  assert.equal(calls.at(-1).hook, "end");
  assert.equal(calls.filter((c) => c.hook === "end").length, 1);
  assert.ok(chunksOf(calls).length >= 2, `body passed on as it arrives (${chunksOf(calls).length} chunks)`);
  const { content, finish, chunks } = assemble(textOfChunks(calls));
  assert.equal(content, "Hello, streaming world! ☀️ é");
  assert.equal(finish, "stop");
  assert.ok(chunks.filter((c) => c.choices[0].delta.content).length > 5, "text split into small deltas");
  assert.equal(chunks[0].model, "test-model");

  assert.equal(server.requests.length, 1);
  assert.deepEqual(server.requests[0], userBody("hi"));
  const h = server.requests[0].headers;
  assert.match(h["content-type"], /^application\/json/);
  assert.equal(h.accept, "text/event-stream");
  assert.equal(h.authorization, undefined);
});

test("tool-call deltas split across chunks reassemble to the scripted arguments", async (t) => {
  const args = { a: 2, b: 40, note: "ünïcode \"quotes\" and \\ backslash" };
  const raw = '{"message": "raw string, not re-encoded"}';
  for (const splitEvents of [false, true]) {
    const server = await startModelServer({
      script: [{
        text: "Let me check.",
        toolCalls: [
          { name: "everything__get-sum", arguments: args, id: "call_sum" },
          { name: "echo", arguments: raw },
        ],
        chunkSize: 4,
        splitEvents,
      }],
    });
    t.after(() => server.close());
    const { ended, calls } = request({ baseURL: server.baseURL }, userBody("What is 2 + 40?"));
    const { status, bytes } = await ended;
    assert.equal(status, 200);
    assert.equal(bytes, null);
    const out = assemble(textOfChunks(calls));
    assert.equal(out.finish, "tool_calls");
    assert.equal(out.content, "Let me check.");
    assert.equal(out.calls.length, 2);
    assert.equal(out.calls[0].id, "call_sum");
    assert.equal(out.calls[0].name, "everything__get-sum");
    assert.equal(out.calls[0].arguments, JSON.stringify(args));
    assert.deepEqual(JSON.parse(out.calls[0].arguments), args);
    assert.match(out.calls[1].id, /^call_/);
    assert.equal(out.calls[1].name, "echo");
    assert.equal(out.calls[1].arguments, raw);
    assert.ok(out.calls.every((c) => c.deltas > 3), "arguments really split across chunks");
  }
});

test("a tool call without text starts in the first chunk, like OpenAI", async (t) => {
  const server = await startModelServer({ script: [{ toolCalls: [{ name: "echo", arguments: { message: "x" } }] }] });
  t.after(() => server.close());
  const { ended, calls } = request({ baseURL: server.baseURL }, userBody("echo x"));
  await ended;
  const out = assemble(textOfChunks(calls));
  const first = out.chunks[0].choices[0].delta;
  assert.equal(first.role, "assistant");
  assert.equal(first.content, null);
  assert.equal(first.tool_calls[0].function.name, "echo");
  assert.equal(out.calls[0].arguments, '{"message":"x"}');
});

test("a non-streaming server's JSON answer is passed whole to onEnd", async (t) => {
  const server = await startModelServer({
    script: [{ text: "Plain answer.", toolCalls: [{ name: "get-sum", arguments: { a: 1, b: 2 }, id: "c1" }] }],
  });
  t.after(() => server.close());
  const { ended, calls } = request({ baseURL: server.baseURL }, { ...userBody("q"), stream: false });
  const { status, bytes } = await ended;
  assert.equal(status, 200);
  assert.equal(chunksOf(calls).length, 0);
  const json = JSON.parse(decoder.decode(bytes));
  assert.equal(json.object, "chat.completion");
  assert.equal(json.choices[0].finish_reason, "tool_calls");
  assert.deepEqual(json.choices[0].message.tool_calls, [
    { id: "c1", type: "function", function: { name: "get-sum", arguments: '{"a":1,"b":2}' } },
  ]);
  assert.equal(json.choices[0].message.content, "Plain answer.");
  assert.equal(json.choices[0].message.role, "assistant");
  assert.equal(typeof json.usage.total_tokens, "number");
});

test("an HTTP error status comes to onEnd with OpenAI's error body", async (t) => {
  const server = await startModelServer({
    script: [{ status: 429, error: "Rate limit reached" }, { error: "boom" }],
  });
  t.after(() => server.close());
  for (const [expected, message] of [[429, "Rate limit reached"], [500, "boom"]]) {
    const { ended, calls } = request({ baseURL: server.baseURL }, userBody("q"));
    const { status, bytes } = await ended;
    assert.equal(status, expected);
    assert.equal(chunksOf(calls).length, 0);
    const { error } = JSON.parse(decoder.decode(bytes));
    assert.equal(error.message, message);
    assert.equal(typeof error.type, "string");
    assert.ok("code" in error);
  }
  // a request past the end of the script is a clear 500, not a hang
  const { status, bytes } = await request({ baseURL: server.baseURL }, userBody("q")).ended;
  assert.equal(status, 500);
  assert.match(JSON.parse(decoder.decode(bytes)).error.message, /script has 2 turn\(s\), but request #2/);
});

test("a network failure is onEnd(0, message naming the URL and the reason)", async () => {
  const port = await closedPort();
  const baseURL = `http://127.0.0.1:${port}/v1`;
  const { ended, calls } = request({ baseURL }, userBody("q"));
  const { status, bytes } = await ended;
  assert.equal(status, 0);
  assert.equal(calls.length, 1);
  const message = decoder.decode(bytes);
  assert.ok(message.includes(`${baseURL}/chat/completions`), message);
  assert.match(message, /ECONNREFUSED/);
});

test("a missing or invalid baseURL is onEnd(0, message)", async () => {
  for (const llm of [{}, { baseURL: "not a url" }, null]) {
    const { status, bytes } = await request(llm, userBody("q")).ended;
    assert.equal(status, 0);
    assert.match(decoder.decode(bytes), /baseURL/);
  }
});

test("baseURL slashes and query strings are handled", async (t) => {
  assert.equal(chatCompletionsURL("http://h/v1"), "http://h/v1/chat/completions");
  assert.equal(chatCompletionsURL("http://h/v1/"), "http://h/v1/chat/completions");
  assert.equal(chatCompletionsURL("http://h/v1//"), "http://h/v1/chat/completions");
  assert.equal(chatCompletionsURL("http://h"), "http://h/chat/completions");
  assert.equal(chatCompletionsURL("http://h/openai/v1?api-version=1"), "http://h/openai/v1/chat/completions?api-version=1");
  const server = await startModelServer({ script: [{ text: "ok" }] });
  t.after(() => server.close());
  const { status } = await request({ baseURL: `${server.baseURL}/` }, userBody("q")).ended;
  assert.equal(status, 200);
});

test("abort mid-stream: the server sees the abort, no hook runs afterwards, nothing rejects", async (t) => {
  const server = await startModelServer({ script: [{ text: "a long answer that never finishes", hangAfterChunks: 3 }] });
  t.after(() => server.close());
  let firstChunk;
  const gotChunk = new Promise((resolve) => (firstChunk = resolve));
  const { handle, calls } = request({ baseURL: server.baseURL }, userBody("q"), { onChunk: () => firstChunk() });
  await gotChunk;
  assert.equal(server.aborted, 0);
  handle.abort();
  const count = calls.length;
  await server.whenAborted(1);
  assert.equal(server.aborted, 1);
  handle.abort(); // idempotent
  await assertNoHooksAfter(calls, count);
  assert.ok(calls.every((c) => c.hook === "chunk"));
  assert.deepEqual(unhandled, []);
});

test("abort from inside onChunk, during a slow stream, stops at once", async (t) => {
  const server = await startModelServer({ script: [{ text: "x".repeat(300), chunkSize: 1, delayMs: 5 }] });
  t.after(() => server.close());
  const { calls } = request({ baseURL: server.baseURL }, userBody("q"), {
    onChunk: (_bytes, handle) => handle.abort(),
  });
  await server.whenAborted(1);
  await assertNoHooksAfter(calls, 1);
  assert.equal(calls[0].hook, "chunk");
  assert.deepEqual(unhandled, []);
});

test("abort before the response headers arrive", async (t) => {
  let arrived;
  const requestArrived = new Promise((resolve) => (arrived = resolve));
  const server = await startModelServer({
    script: async () => {
      arrived();
      await sleep(100);
      return { text: "late" };
    },
  });
  t.after(() => server.close());
  const { handle, calls } = request({ baseURL: server.baseURL }, userBody("q"));
  await requestArrived;
  handle.abort();
  await server.whenAborted(1);
  await assertNoHooksAfter(calls, 0, 200);
  assert.deepEqual(unhandled, []);
});

test("abort right after start calls no hook and sends nothing further", async (t) => {
  const server = await startModelServer({ script: [{ text: "ok" }] });
  t.after(() => server.close());
  const { handle, calls } = request({ baseURL: server.baseURL }, userBody("q"));
  handle.abort();
  await assertNoHooksAfter(calls, 0);
  assert.deepEqual(unhandled, []);
});

test("no hook is called before startModelRequest returns", async () => {
  const calls = [];
  const done = new Promise((resolve) => {
    startModelRequest({}, "{}", { onChunk: () => calls.push("chunk"), onEnd: () => { calls.push("end"); resolve(); } });
    assert.deepEqual(calls, []);
  });
  await done;
  assert.deepEqual(calls, ["end"]);
});

test("a server dying mid-stream gives chunks, then one onEnd(0, message)", async (t) => {
  const server = await startModelServer({ script: [{ text: "partial", hangAfterChunks: 2 }] });
  let resolveChunk;
  const gotChunk = new Promise((resolve) => (resolveChunk = resolve));
  const { ended, calls } = request({ baseURL: server.baseURL }, userBody("q"), { onChunk: () => resolveChunk() });
  await gotChunk;
  await server.close();
  const { status, bytes } = await ended;
  assert.equal(status, 0);
  assert.match(decoder.decode(bytes), /model stream from .*\/v1\/chat\/completions broke/);
  assert.equal(calls.filter((c) => c.hook === "end").length, 1);
  await sleep(50);
  assert.equal(calls.at(-1).hook, "end");
  t.diagnostic(decoder.decode(bytes));
});

test("a throwing onChunk stops the request and ends it once", async (t) => {
  const server = await startModelServer({ script: [{ text: "x".repeat(100), chunkSize: 1, delayMs: 2 }] });
  t.after(() => server.close());
  const events = [];
  const errors = [];
  await new Promise((resolve) => {
    startModelRequest({ baseURL: server.baseURL }, JSON.stringify(userBody("q")), {
      onChunk() {
        events.push("chunk");
        throw new Error("core rejected the bytes");
      },
      onEnd(status, bytes) {
        events.push(["end", status, decoder.decode(bytes)]);
        resolve();
      },
      onError: (err) => errors.push(err.message),
    });
  });
  await server.whenAborted(1);
  await sleep(50);
  assert.deepEqual(events, ["chunk", ["end", 0, "the model response could not be consumed: onChunk threw: core rejected the bytes"]]);
  assert.deepEqual(errors, ["core rejected the bytes"]);
});

test("function form: called with the parsed body, its message goes to onEnd(200)", async () => {
  const body = userBody("What is 2 + 40?", { tools: [] });
  let seen;
  const message = { role: "assistant", content: null, tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "{}" } }] };
  const { ended, calls } = request(async (req, { signal }) => {
    seen = req;
    assert.ok(signal instanceof AbortSignal);
    return message;
  }, body);
  const { status, bytes } = await ended;
  assert.equal(status, 200);
  assert.deepEqual(seen, body);
  assert.deepEqual(JSON.parse(decoder.decode(bytes)), message);
  assert.equal(calls.length, 1);

  // a plain string is an assistant message with that content; a sync function works too
  const r2 = await request(() => "just text", body).ended;
  assert.deepEqual(JSON.parse(decoder.decode(r2.bytes)), { role: "assistant", content: "just text" });
});

test("function form: a throw or rejection is onEnd(0, its message)", async () => {
  for (const llm of [
    async () => { throw new Error("model offline"); },
    () => { throw new Error("model offline"); },
    () => Promise.reject(new Error("model offline")),
  ]) {
    const { status, bytes } = await request(llm, userBody("q")).ended;
    assert.equal(status, 0);
    assert.match(decoder.decode(bytes), /model offline/);
  }
  const bad = await request(async () => 42, userBody("q")).ended;
  assert.equal(bad.status, 0);
  assert.match(decoder.decode(bad.bytes), /assistant message/);
  const notJSON = await request(async () => ({}), "{not json").ended;
  assert.equal(notJSON.status, 0);
  assert.match(decoder.decode(notJSON.bytes), /not valid JSON/);
});

test("function form: abort() signals the function and silences its result", async () => {
  let signal;
  let rejectIt;
  const { handle, calls } = request((_req, opts) => {
    signal = opts.signal;
    return new Promise((_resolve, reject) => (rejectIt = reject));
  }, userBody("q"));
  await sleep(10);
  handle.abort();
  assert.equal(signal.aborted, true);
  rejectIt(new Error("aborted by caller"));
  await assertNoHooksAfter(calls, 0, 50);
  assert.deepEqual(unhandled, []);
});

test("apiKey: 401 in OpenAI's shape without a bearer token, 200 with one", async (t) => {
  const server = await startModelServer({ apiKey: "secret", script: [{ text: "welcome" }] });
  t.after(() => server.close());
  const denied = await request({ baseURL: server.baseURL }, userBody("q")).ended;
  assert.equal(denied.status, 401);
  const { error } = JSON.parse(decoder.decode(denied.bytes));
  assert.equal(error.type, "invalid_request_error");
  assert.equal(error.code, "invalid_api_key");
  assert.match(error.message, /API key/);

  const { ended, calls } = request({ baseURL: server.baseURL, apiKey: "sk-test", headers: { "X-Extra": "1" } }, userBody("q"));
  const ok = await ended;
  assert.equal(ok.status, 200);
  assert.equal(assemble(textOfChunks(calls)).content, "welcome");
  assert.equal(server.requests.length, 1, "the rejected request consumed no turn and is not recorded");
  assert.equal(server.requests[0].headers.authorization, "Bearer sk-test");
  assert.equal(server.requests[0].headers["x-extra"], "1");

  const models = await fetch(`${server.baseURL}/models`);
  assert.equal(models.status, 401);
});

test("GET /v1/models lists the model; unknown routes are OpenAI-style 404s", async (t) => {
  const server = await startModelServer({ model: "demo-model" });
  t.after(() => server.close());
  const list = await (await fetch(`${server.baseURL}/models`)).json();
  assert.equal(list.object, "list");
  assert.equal(list.data[0].id, "demo-model");
  assert.equal(list.data[0].object, "model");
  const missing = await fetch(`${server.baseURL}/nope`, { method: "POST" });
  assert.equal(missing.status, 404);
  assert.ok((await missing.json()).error.message);
  const bad = await fetch(`${server.baseURL}/chat/completions`, { method: "POST", body: "{oops" });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.type, "invalid_request_error");
});

test("stream_options.include_usage adds the usage chunk after the finish chunk", async (t) => {
  const server = await startModelServer({ script: [{ text: "hi" }] });
  t.after(() => server.close());
  const { ended, calls } = request({ baseURL: server.baseURL }, userBody("q", { stream_options: { include_usage: true } }));
  await ended;
  const data = sseData(textOfChunks(calls));
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.equal(typeof last.usage.total_tokens, "number");
  assert.equal(chunks.at(-2).choices[0].finish_reason, "stop");
  assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
});

test("script as a function and onRequest see every request", async (t) => {
  const seen = [];
  const server = await startModelServer({
    onRequest: (body, info) => seen.push([info.index, body.messages.length, info.path]),
    script: async (body, index) => ({ text: `turn ${index}: ${body.messages.at(-1).content}` }),
  });
  t.after(() => server.close());
  for (const q of ["a", "b"]) {
    const { ended, calls } = request({ baseURL: server.baseURL }, userBody(q));
    await ended;
    assert.match(assemble(textOfChunks(calls)).content, new RegExp(`: ${q}$`));
  }
  assert.deepEqual(seen, [[0, 1, "/v1/chat/completions"], [1, 1, "/v1/chat/completions"]]);
});

test("demo brain: 2 + 40 calls the prefixed get-sum tool, then answers from the result", async (t) => {
  const server = await startModelServer();
  t.after(() => server.close());
  const tools = ["everything__echo", "everything__get-sum", "everything__trigger-long-running-operation"].map(
    (name) => ({ type: "function", function: { name, description: "", parameters: { type: "object" } } }));
  const messages = [{ role: "user", content: "What is 2 + 40?" }];

  const first = request({ baseURL: server.baseURL }, { model: "m", stream: true, messages, tools });
  await first.ended;
  const call = assemble(textOfChunks(first.calls));
  assert.equal(call.finish, "tool_calls");
  assert.equal(call.calls[0].name, "everything__get-sum");
  assert.deepEqual(JSON.parse(call.calls[0].arguments), { a: 2, b: 40 });

  messages.push(
    { role: "assistant", content: null, tool_calls: [{ id: call.calls[0].id, type: "function", function: { name: call.calls[0].name, arguments: call.calls[0].arguments } }] },
    { role: "tool", tool_call_id: call.calls[0].id, content: "The sum of 2 and 40 is 42." },
  );
  const second = request({ baseURL: server.baseURL }, { model: "m", stream: true, messages, tools });
  await second.ended;
  const answer = assemble(textOfChunks(second.calls));
  assert.equal(answer.finish, "stop");
  assert.equal(answer.content, "The sum of 2 and 40 is 42.");
  assert.ok(answer.chunks.length > 5, "the answer is streamed in small deltas");
});

test("demo brain: echo, long-running operation, no tool", () => {
  const tools = (...names) => names.map((name) => ({ type: "function", function: { name } }));
  const ask = (content, t) => demoBrain({ messages: [{ role: "user", content }], tools: t });
  assert.deepEqual(ask('Please echo "hello there"', tools("everything__echo")),
    { toolCalls: [{ name: "everything__echo", arguments: { message: "hello there" } }] });
  assert.deepEqual(ask("echo hi", tools("echo")), { toolCalls: [{ name: "echo", arguments: { message: "hi" } }] });
  assert.deepEqual(ask("Run a long operation and show progress", tools("x__trigger-long-running-operation")),
    { toolCalls: [{ name: "x__trigger-long-running-operation", arguments: { duration: 2, steps: 4 } }] });
  assert.deepEqual(ask("What is 2 + 40?", []), { text: "2 + 40 = 42." });
  assert.equal(typeof ask("Hello?", tools("echo")).text, "string");
  assert.deepEqual(
    demoBrain({ messages: [{ role: "user", content: [{ type: "text", text: "add 5 and 7" }] }], tools: tools("get-sum") }),
    { toolCalls: [{ name: "get-sum", arguments: { a: 5, b: 7 } }] });
  const answered = (name, args, content) => demoBrain({ messages: [
    { role: "user", content: "q" },
    { role: "assistant", content: null, tool_calls: [{ id: "c", type: "function", function: { name, arguments: JSON.stringify(args) } }] },
    { role: "tool", tool_call_id: "c", content },
  ] });
  assert.deepEqual(answered("everything__echo", { message: "hi" }, JSON.stringify([{ type: "text", text: "Echo: hi" }])),
    { text: "The echo tool replied: Echo: hi" });
  assert.deepEqual(answered("get-sum", { a: 2, b: 40 }, "42"), { text: "The sum of 2 and 40 is 42." });
  assert.match(answered("x__trigger-long-running-operation", {}, "Long running operation completed.").text, /^Done\. Long/);
});

test("no unhandled rejections in this file", async () => {
  await sleep(50);
  assert.deepEqual(unhandled, []);
});

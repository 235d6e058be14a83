// A hostile model endpoint (wasm-tests/fixtures/hostile-model.js) against the whole stack:
// runtime, agent stream, model host. No answer of a model endpoint may crash the process or
// strand a stream: each ends the stream with a typed error, after cleanup, exactly once.
// Timeouts in this file only turn a hang into a failure; nothing here asserts speed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRuntime, MCPAgent } from "../src/js/index.js";
import { createNodeFetch } from "../src/js/hosts/http-node.js";
import { redirectRequest } from "../src/js/hosts/redirect.js";
import { startHostileServer, writeHugeJSON, hangAfterHeaders, redirect as redirectTo } from "./fixtures/hostile-model.js";
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

/** Polls `cond` (bounded): turns a hang into a failure. */
async function waitFor(cond, what, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`${what} (not after ${timeoutMs} ms)`);
    await new Promise((r) => setTimeout(r, 20));
  }
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

test("without llm.maxResponseBytes, the runtime's limits.messageBytes bounds a JSON answer read whole", async (t) => {
  const escaped = escapes(t);
  const runtime = await createRuntime({ limits: { messageBytes: MiB } });
  t.after(() => runtime.dispose());
  const life = recordLifecycle(runtime);
  let sent;
  const evil = await startHostileServer((req, res) => { sent = writeHugeJSON(res, 32 * MiB); });
  t.after(() => evil.close());
  const agent = new MCPAgent({ runtime, llm: { baseURL: evil.baseURL, model: "m" } });
  const { error } = await outcome(agent.run("hi"), "run");
  assert.equal(error?.code, "LIMIT_EXCEEDED");
  assert.match(error.message, /1048576/);
  const { value: { aborted } } = await outcome(sent, "the server sees the client hang up");
  assert.equal(aborted, true);
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

// ---- item 6: credentials never follow a redirect to another origin, nor to plain http

/** An endpoint that answers every request with `text` and records it. */
const answering = (text) => startHostileServer((req, res) => json(res, 200, answer(text)));

test("a 307 to another origin reaches it with the body but without Authorization or any header the caller set; a same-origin redirect keeps them", async (t) => {
  const { runtime, life, escaped } = await setup(t);
  const other = await answering("from the other origin");
  const first = await startHostileServer((req, res) => {
    if (req.url === "/v1/chat/completions") return redirectTo(res, 307, `${other.origin}/v1/chat/completions`);
    if (req.url === "/same/chat/completions") return redirectTo(res, 308, "/v1/here");
    if (req.url === "/v1/here") return json(res, 200, answer("same origin"));
    res.writeHead(404).end();
  });
  t.after(() => Promise.all([other.close(), first.close()]));
  const llm = { apiKey: "sk-secret-key", headers: { "x-api-key": "second-secret", "x-trace": "t1" }, model: "m" };

  const agent = new MCPAgent({ runtime, llm: { ...llm, baseURL: first.baseURL } });
  assert.equal(await outcome(agent.run("hi"), "run").then((o) => o.value ?? o.error), "from the other origin");
  assert.equal(other.requests.length, 1);
  const sent = other.requests[0];
  assert.equal(sent.method, "POST", "307 keeps the method");
  assert.equal(sent.body, first.requests[0].body, "307 keeps the body");
  assert.equal(sent.headers.authorization, undefined, "no Authorization to another origin");
  assert.equal(sent.headers["x-api-key"], undefined, "no caller-set header to another origin");
  assert.equal(sent.headers["x-trace"], undefined);
  assert.match(sent.headers["content-type"], /^application\/json/);
  assert.equal(first.requests[0].headers.authorization, "Bearer sk-secret-key", "the first origin had it");

  const same = new MCPAgent({ runtime, llm: { ...llm, baseURL: `${first.origin}/same` } });
  assert.equal(await outcome(same.run("hi"), "run").then((o) => o.value ?? o.error), "same origin");
  const here = first.requests.at(-1);
  assert.equal(here.path, "/v1/here");
  assert.equal(here.headers.authorization, "Bearer sk-secret-key", "same origin: Authorization kept");
  assert.equal(here.headers["x-api-key"], "second-secret");
  await assertClean(runtime, life, escaped);
});

test("a redirect from https to http is refused with a typed error naming both URLs; nothing reaches the http URL", async (t) => {
  const { runtime, life, escaped } = await setup(t);
  const plain = await answering("downgraded");
  const secure = await startHostileServer((req, res) => redirectTo(res, 302, `${plain.origin}/v1/chat/completions`));
  t.after(() => Promise.all([plain.close(), secure.close()]));
  // "https://secure.test" is served by `secure` (TLS itself is not what is tested here)
  const { fetch: nodeFetch } = createNodeFetch();
  const fetch = (url, init) => nodeFetch(String(url).replace("https://secure.test", secure.origin), init);
  const agent = new MCPAgent({ runtime, llm: { baseURL: "https://secure.test/v1", apiKey: "sk-secret-key", model: "m", fetch } });
  const { error } = await outcome(agent.run("hi"), "run");
  assert.ok(error, "the run fails");
  assert.equal(error.code, "LLM_HTTP");
  assert.match(error.message, /downgrade/);
  assert.ok(error.message.includes("https://secure.test/v1/chat/completions"), error.message);
  assert.ok(error.message.includes(`${plain.origin}/v1/chat/completions`), error.message);
  assert.equal(secure.requests.length, 1);
  assert.equal(plain.requests.length, 0, "nothing was sent over plain http");
  await assertClean(runtime, life, escaped);
});

test("a redirect loop ends the stream with a typed error after 20 redirects", async (t) => {
  const { runtime, life, escaped } = await setup(t);
  const loop = await startHostileServer((req, res) => redirectTo(res, 307, req.url));
  t.after(() => loop.close());
  const agent = new MCPAgent({ runtime, llm: { baseURL: loop.baseURL, model: "m" } });
  const { error } = await outcome(agent.run("hi"), "run");
  assert.equal(error?.code, "LLM_HTTP");
  assert.match(error.message, /redirected more than 20 times/);
  assert.equal(loop.requests.length, 21);
  await assertClean(runtime, life, escaped);
});

test("redirectRequest: methods, bodies and headers as in Fetch; credentials stay with their origin", () => {
  const post = { url: "http://a.test/v1/x", method: "POST", body: "{}",
                 headers: { authorization: "Bearer k", "content-type": "application/json", accept: "text/event-stream", cookie: "c=1", "mcp-session-id": "s" } };
  assert.equal(redirectRequest(post, 200, "http://b.test/"), null, "not a redirect");
  assert.equal(redirectRequest(post, 302, null), null, "no Location: the response is the answer");
  const same = redirectRequest(post, 307, "/v2/x");
  assert.equal(same.url, "http://a.test/v2/x");
  assert.equal(same.crossOrigin, false);
  assert.equal(same.headers.get("authorization"), "Bearer k");
  const cross = redirectRequest(post, 308, "http://a.test:8080/x");
  assert.equal(cross.crossOrigin, true, "another port is another origin");
  assert.deepEqual([...cross.headers.keys()].sort(), ["accept", "content-type"]);
  assert.equal(cross.method, "POST");
  assert.equal(cross.body, "{}");
  for (const status of [301, 302, 303]) {
    const r = redirectRequest(post, status, "/y");
    assert.equal(r.method, "GET");
    assert.equal(r.body, null);
    assert.equal(r.headers.get("content-type"), null);
    assert.equal(r.headers.get("authorization"), "Bearer k");
  }
  const back = redirectRequest({ ...cross, url: cross.url }, 307, "http://a.test/v1/x");
  assert.equal(back.headers.get("authorization"), null, "a dropped credential is not restored");
  const refused = (fn, reason) => assert.throws(fn, (e) => { assert.equal(e.reason, reason); assert.equal(e.code, "MCP_CONNECT_FAILED"); return true; });
  const opts = { code: "MCP_CONNECT_FAILED" };
  refused(() => redirectRequest({ url: "https://a.test/" }, 302, "http://a.test/", opts), "downgrade");
  refused(() => redirectRequest({ url: "http://a.test/" }, 302, "file:///etc/passwd", opts), "unsupported-scheme");
  refused(() => redirectRequest({ url: "http://a.test/" }, 302, "http://[bad", opts), "invalid-location");
  refused(() => redirectRequest({ url: "http://a.test/" }, 302, "/x", { ...opts, redirects: 20 }), "too-many-redirects");
  assert.equal(redirectRequest({ url: "http://a.test/" }, 302, "https://a.test/").url, "https://a.test/", "an upgrade is fine");
});

test("createNodeFetch follows redirects by the same rule, or hands them back with redirect: \"manual\"", async (t) => {
  const other = await answering("x");
  const first = await startHostileServer((req, res) => redirectTo(res, 307, `${other.origin}/there`));
  t.after(() => Promise.all([other.close(), first.close()]));
  const { fetch } = createNodeFetch();
  const init = { method: "POST", body: "{}", headers: { authorization: "Bearer k", "content-type": "application/json" } };
  const res = await fetch(`${first.origin}/here`, init);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  assert.equal(other.requests[0].headers.authorization, undefined);
  assert.equal(other.requests[0].body, "{}");
  const manual = await fetch(`${first.origin}/here`, { ...init, redirect: "manual" });
  assert.equal(manual.status, 307);
  assert.equal(manual.headers.get("location"), `${other.origin}/there`);
  await manual.body?.cancel();
  assert.equal(other.requests.length, 1);
});

// ---- item 8 (the model part): llm.firstByteTimeoutMs, llm.idleTimeoutMs

for (const [what, handle] of [
  ["sends its headers, then nothing", (req, res) => hangAfterHeaders(res)],
  ["never answers", () => {}],
]) {
  test(`a model endpoint that ${what}: the stream ends with TIMEOUT naming the endpoint (firstByteTimeoutMs), after the owned server is closed once`, async (t) => {
    const { runtime, life, escaped } = await setup(t);
    const evil = await startHostileServer(handle);
    t.after(() => evil.close());
    const server = everything();
    t.after(() => killTagged(server.tag));
    const agent = new MCPAgent({ runtime, llm: { baseURL: evil.baseURL, model: "m", firstByteTimeoutMs: 300 },
                                 mcpServers: { everything: server.config } });
    const it = agent.stream("hi");
    const { error } = await outcome(it.next(), "next()");
    assert.ok(error, "the stream ends with an error");
    assert.equal(error.code, "TIMEOUT");
    assert.ok(error.message.includes(`${evil.baseURL}/chat/completions`), error.message);
    assert.match(error.message, /firstByteTimeoutMs/);
    assert.equal(error.endpoint, `${evil.baseURL}/chat/completions`);
    await waitFor(() => evil.connections === 0, "the request is abandoned");
    assert.deepEqual(await it.next(), { value: undefined, done: true });
    assert.deepEqual(pidsWithTag(server.tag), []);
    assert.equal(life.of("session-close").length, 1);
    await assertClean(runtime, life, escaped);
  });
}

test("a model stream that goes silent after its first event ends with TIMEOUT (idleTimeoutMs); the text before it was yielded", async (t) => {
  const { runtime, life, escaped } = await setup(t);
  const evil = await startHostileServer((req, res) => {
    hangAfterHeaders(res);
    res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: "assistant", content: "partial" } }] })}\n\n`);
  });
  t.after(() => evil.close());
  const agent = new MCPAgent({ runtime, llm: { baseURL: evil.baseURL, model: "m", idleTimeoutMs: 300 } });
  const it = agent.stream("hi");
  const first = await outcome(it.next(), "first next()");
  assert.deepEqual(first.value, { value: { type: "text", text: "partial" }, done: false });
  const { error } = await outcome(it.next(), "second next()");
  assert.equal(error?.code, "TIMEOUT");
  assert.match(error.message, /idleTimeoutMs/);
  assert.ok(error.message.includes(evil.baseURL), error.message);
  await assertClean(runtime, life, escaped);
});

test("llm timeouts and limits must be positive numbers: INVALID_ARGUMENT", () => {
  for (const name of ["firstByteTimeoutMs", "idleTimeoutMs", "maxResponseBytes"]) {
    for (const bad of [0, -1, "60", NaN, null]) {
      assert.throws(() => new MCPAgent({ llm: { baseURL: "http://127.0.0.1:1/v1", [name]: bad } }),
        (e) => e.code === "INVALID_ARGUMENT" && e.message.includes(name), `${name}: ${String(bad)}`);
    }
    assert.doesNotThrow(() => new MCPAgent({ llm: { baseURL: "http://127.0.0.1:1/v1", [name]: Infinity } }));
  }
});

// ---- item 14: what a model error says and carries

test("HTTP errors from the model carry status and, for 429, retryAfter; the message names the endpoint", async (t) => {
  const { runtime, life, escaped } = await setup(t);
  const evil = await startHostileServer((req, res, { index }) => index === 0
    ? json(res, 429, { error: { message: "Rate limit reached", type: "requests" } }, { "retry-after": "30" })
    : json(res, 503, { error: { message: "overloaded" } }));
  t.after(() => evil.close());
  const agent = new MCPAgent({ runtime, llm: { baseURL: evil.baseURL, model: "m" } });
  const limited = (await outcome(agent.run("hi"), "run")).error;
  assert.equal(limited?.code, "LLM_HTTP");
  assert.equal(limited.status, 429);
  assert.equal(limited.retryAfter, "30");
  assert.match(limited.message, /Rate limit reached/);
  assert.match(limited.message, /Retry-After: 30/);
  assert.ok(limited.message.includes(`${evil.baseURL}/chat/completions`), limited.message);
  assert.equal(limited.endpoint, `${evil.baseURL}/chat/completions`);
  const down = (await outcome(agent.run("hi"), "run")).error;
  assert.equal(down?.status, 503);
  assert.equal(down.retryAfter, undefined);
  assert.ok(down.message.includes(evil.baseURL), down.message);
  await assertClean(runtime, life, escaped);
});

test("an error thrown by the llm function is the cause of the stream's error, whose message says so", async (t) => {
  const { runtime, life, escaped } = await setup(t);
  const thrown = new Error("quota exhausted");
  const agent = new MCPAgent({ runtime, llm: async () => { throw thrown; } });
  const { error } = await outcome(agent.run("hi"), "run");
  assert.equal(error?.code, "LLM_HTTP");
  assert.equal(error.cause, thrown);
  assert.match(error.message, /the llm function threw: quota exhausted/);
  await assertClean(runtime, life, escaped);
});

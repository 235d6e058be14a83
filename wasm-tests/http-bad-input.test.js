// Bad input over Streamable HTTP, against the real server-everything behind a
// proxy that breaks one exchange at a time: each case ends in a typed error or
// a logged and skipped message, the session is closed exactly once, and the
// core's live allocations go back to zero.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createRuntime, MCPClient } from "../src/js/index.js";
import { startEverythingHttp, startRecordingProxy } from "./fixtures/http-everything.js";
import { recordLifecycle, guardUnhandled } from "./helpers.js";

let srv;
before(async () => { srv = await startEverythingHttp(); });
after(async () => { await srv?.close(); });

async function waitFor(cond, what, ms = 10000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A client of server-everything through a proxy whose `intercept` may answer an exchange
 * itself. `t.after` disposes everything; `done()` closes the client and checks that nothing
 * is left (each session closed once, no live allocation, nothing escaped, nothing open).
 */
async function setup(t, intercept, serverOptions = {}) {
  const guard = guardUnhandled(t);
  const proxy = await startRecordingProxy(srv.url, { intercept });
  const runtime = await createRuntime();
  const life = recordLifecycle(runtime);
  const logs = [];
  runtime.addEventListener("log", (e) => logs.push(e.detail));
  const client = new MCPClient({ mcpServers: { remote: { url: proxy.url, ...serverOptions } } }, { runtime });
  t.after(async () => { await runtime.dispose(); await proxy.close(); });
  return {
    runtime, life, logs, client, proxy,
    async done() {
      await client.close();
      life.assertEachClosedOnce();
      assert.equal(life.of("session-close").length, 1);
      assert.equal(runtime.stats().liveAllocations, 0, "live allocations in the core");
      assert.equal(runtime.stats().sessionsOpen, 0);
      await waitFor(() => proxy.openExchanges === 0, "every exchange to end");
      await guard.assertNone();
    },
  };
}

const isCall = (info, name) => info.method === "POST" && info.body?.method === "tools/call" && (!name || info.body.params?.name === name);

/** Forwards an exchange to server-everything, handing each response chunk to `onChunk(chunk, res)`. */
function forward(info, res, onChunk) {
  const u = new URL(srv.url);
  const up = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: info.method,
                            headers: { ...info.headers, host: u.host }, agent: false }, (ur) => {
    res.writeHead(ur.statusCode, ur.headers);
    ur.on("data", (c) => onChunk(c, res, ur));
    ur.on("end", () => { if (!res.writableEnded) res.end(); });
  });
  res.once("close", () => up.destroy());
  up.end(info.raw);
}

test("an SSE response that ends before its answer, with no event id: MCP_TRANSPORT_CLOSED, the session goes on", async (t) => {
  const s = await setup(t, (info, res) => {
    if (!isCall(info, "echo") || info.body.params.arguments.message !== "cut") return false;
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.end('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}\n\n');
    return true;
  });
  await assert.rejects(s.client.callTool("remote", "echo", { message: "cut" }), (e) => {
    assert.equal(e.code, "MCP_TRANSPORT_CLOSED");
    assert.match(e.message, /ended its response stream before answering/);
    return true;
  });
  assert.equal((await s.client.callTool("remote", "echo", { message: "next" })).content[0].text, "Echo: next");
  await s.done();
});

test("an SSE response cut after an event id is resumed with GET + Last-Event-ID from the real server", async (t) => {
  let cut = false;
  const s = await setup(t, (info, res) => {
    if (!isCall(info, "trigger-long-running-operation") || cut) return false;
    cut = true;
    let seen = "";
    forward(info, res, (chunk, r, ur) => {
      if (r.writableEnded) return;
      seen += chunk;
      r.write(chunk);
      // the connection ends (cleanly) once an event with an id and a progress went through
      if (/id: ?\S+/.test(seen) && /notifications\/progress[\s\S]*\n\n/.test(seen)) { r.end(); ur.destroy(); }
    });
    return true;
  });
  const progress = [];
  const r = await s.client.callTool("remote", "trigger-long-running-operation", { duration: 1, steps: 4 },
    { onProgress: (p) => progress.push(p.progress) });
  assert.match(r.content[0].text, /Long running operation completed/);
  const resumes = s.proxy.of("GET").filter((g) => g.lastEventId);
  assert.equal(resumes.length, 1, "one resumption");
  assert.ok(progress.length >= 1);
  assert.deepEqual(progress, [...new Set(progress)].sort((a, b) => a - b), "no progress twice, in order");
  await s.done();
});

test("HTTP 500 on a request: MCP_TRANSPORT_CLOSED with the status and a body excerpt; the session goes on", async (t) => {
  const s = await setup(t, (info, res) => {
    if (!isCall(info, "get-sum")) return false;
    res.writeHead(500, { "content-type": "text/plain" });
    res.end("kaboom: the database is on fire\n".repeat(50));
    return true;
  });
  await assert.rejects(s.client.callTool("remote", "get-sum", { a: 1, b: 2 }), (e) => {
    assert.equal(e.code, "MCP_TRANSPORT_CLOSED");
    assert.match(e.message, /HTTP 500/);
    assert.match(e.message, /kaboom: the database is on fire/);
    assert.ok(e.message.length < 800, "an excerpt, not the whole body");
    return true;
  });
  assert.equal((await s.client.callTool("remote", "echo", { message: "after" })).content[0].text, "Echo: after");
  await s.done();
});

test("an initialize answer (an SSE event) over the server's messageBytes: connect fails LIMIT_EXCEEDED at once, the session is DELETEd", { timeout: 120_000 }, async (t) => {
  // Before, the over-limit event was skipped and the request kept waiting: resumed with
  // GET + Last-Event-ID, the same event over the limit again, until the 60 s timeout.
  const s = await setup(t, undefined, { messageBytes: 200, timeoutMs: 600_000 });
  await assert.rejects(s.client.listTools(), (e) => {
    assert.equal(e.code, "LIMIT_EXCEEDED");
    assert.match(e.message, /remote.*over the 200-byte message limit/);
    return true;
  });
  await waitFor(() => s.proxy.of("DELETE").length === 1, "the session the server made to be DELETEd");
  await s.done();
});

test("HTTP 503 on initialize: MCP_CONNECT_FAILED, nothing to DELETE", async (t) => {
  const s = await setup(t, (info, res) => {
    if (info.body?.method !== "initialize") return false;
    res.writeHead(503, { "content-type": "application/json" });
    res.end('{"error":"overloaded, try later"}');
    return true;
  });
  await assert.rejects(s.client.listTools(), (e) => {
    assert.equal(e.code, "MCP_CONNECT_FAILED");
    assert.match(e.message, /503.*overloaded/);
    return true;
  });
  assert.equal(s.life.of("session-close")[0].reason, "open-failed");
  assert.equal(s.proxy.of("DELETE").length, 0);
  await s.done();
});

test("404 mid-session: a new session is initialized and the call retried", async (t) => {
  let refused = false;
  const s = await setup(t, (info, res) => {
    if (!isCall(info, "echo") || refused) return false;
    refused = true;
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("Session not found");
    return true;
  });
  assert.equal((await s.client.callTool("remote", "echo", { message: "again" })).content[0].text, "Echo: again");
  const inits = s.proxy.posted("initialize");
  assert.equal(inits.length, 2, "initialized again");
  assert.notEqual(inits[0].newSessionId, inits[1].newSessionId);
  assert.equal(s.proxy.posted("notifications/initialized").length, 2);
  const last = s.proxy.posted("tools/call").at(-1);
  assert.equal(last.sessionId, inits[1].newSessionId, "the retry carries the new session id");
  assert.ok(s.logs.some((l) => /ended session/.test(l.message)), "the new session is logged");
  await s.done();
  assert.deepEqual(s.proxy.of("DELETE").map((d) => d.sessionId), [inits[1].newSessionId]);
});

test("server-everything's 400 for a session it no longer knows: a new session too", async (t) => {
  const s = await setup(t);
  await s.client.listTools();
  const first = s.proxy.posted("initialize")[0].newSessionId;
  // the session ends behind the client's back (the real server answers 400 from now on)
  const gone = await fetch(srv.url, { method: "DELETE", headers: { "mcp-session-id": first } });
  assert.equal(gone.status, 200);
  assert.equal((await s.client.callTool("remote", "echo", { message: "still" })).content[0].text, "Echo: still");
  assert.ok(s.proxy.records.some((r) => r.status === 400 && r.sessionId === first), "the real 400 was seen");
  assert.equal(s.proxy.posted("initialize").length, 2);
  await s.done();
});

test("a JSON body that is not JSON-RPC: logged and skipped, the request fails MCP_PROTOCOL", async (t) => {
  const s = await setup(t, (info, res) => {
    if (!isCall(info, "echo")) return false;
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"hello":"world"}');
    return true;
  });
  await assert.rejects(s.client.callTool("remote", "echo", { message: "x" }), { code: "MCP_PROTOCOL" });
  assert.ok(s.logs.some((l) => l.level === "warning" && /not JSON-RPC/.test(l.message)));
  await s.done();
});

test("a response with an unknown id: logged and skipped, the request fails MCP_PROTOCOL", async (t) => {
  const s = await setup(t, (info, res) => {
    if (!isCall(info, "echo")) return false;
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.end('data: {"jsonrpc":"2.0","id":99999,"result":{"content":[]}}\n\n');
    return true;
  });
  await assert.rejects(s.client.callTool("remote", "echo", { message: "x" }), { code: "MCP_TRANSPORT_CLOSED" });
  assert.ok(s.logs.some((l) => /unknown or duplicate id/.test(l.message)));
  await s.done();
});

test("an endless SSE stream: the call's timeout ends it, cancels it and closes the stream", async (t) => {
  let timer;
  t.after(() => clearInterval(timer));
  const s = await setup(t, (info, res) => {
    if (!isCall(info, "echo")) return false;
    res.writeHead(200, { "content-type": "text/event-stream" });
    timer = setInterval(() => res.write(": still here\n\nevent: noise\ndata: x\n\n"), 5);
    res.once("close", () => clearInterval(timer));
    return true;
  });
  await assert.rejects(s.client.callTool("remote", "echo", { message: "x" }, { timeoutMs: 300 }), { code: "TIMEOUT" });
  await waitFor(() => s.proxy.posted("notifications/cancelled").length === 1, "notifications/cancelled");
  await waitFor(() => s.proxy.openExchanges === 1, "the endless stream to be closed (only the GET stream is left)");
  await s.done();
});

test("a server that never answers a POST: aborting the call ends its fetch", async (t) => {
  const s = await setup(t, (info) => isCall(info, "echo")); // taken, never answered
  const ac = new AbortController();
  const call = s.client.callTool("remote", "echo", { message: "x" }, { signal: ac.signal });
  await waitFor(() => s.proxy.posted("tools/call").length === 1, "the call to reach the proxy");
  ac.abort();
  await assert.rejects(call, { name: "AbortError", code: "ABORTED" });
  await s.done();
});

test("a DELETE that hangs: close() resolves within its bound, with a cleanup-error event", async (t) => {
  const s = await setup(t, (info) => info.method === "DELETE"); // taken, never answered
  await s.client.listTools();
  await s.client.close();
  const errors = s.life.of("cleanup-error");
  assert.equal(errors.length, 1);
  assert.match(errors[0].reason, /DELETE of session .* did not complete within 2000 ms/);
  await s.done();
});

test("custom headers reach the server; a redirect keeps them on the same origin, never to another", async (t) => {
  const guard = guardUnhandled(t);
  const target = await startRecordingProxy(srv.url); // another port: another origin
  let front;
  front = await startRecordingProxy(srv.url, {
    intercept: (info, res) => {
      const message = info.body?.params?.arguments?.message;
      if (info.body?.method !== "tools/call" || info.url !== "/mcp" || (message !== "same" && message !== "elsewhere")) return false;
      // "same": to another path of this origin; "elsewhere": to the other origin
      res.writeHead(307, { location: message === "same" ? `${front.url}?moved=1` : target.url });
      res.end();
      return true;
    },
  });
  const runtime = await createRuntime();
  t.after(async () => { await runtime.dispose(); await front.close(); await target.close(); });
  const headers = { Authorization: "Bearer s3cret", "X-Api-Key": "k3y" };
  const client = new MCPClient({ mcpServers: { remote: { url: front.url, headers } } }, { runtime });
  await client.listTools();
  assert.equal((await client.callTool("remote", "echo", { message: "same" })).content[0].text, "Echo: same");
  for (const r of front.records) {
    assert.equal(r.headers.authorization, "Bearer s3cret", `${r.method} ${r.url} ${r.body?.method ?? ""} without the bearer token`);
    assert.equal(r.headers["x-api-key"], "k3y");
  }
  assert.equal(front.records.filter((r) => r.url.includes("moved")).length, 1, "the same-origin redirect was followed");
  // to another origin: no credential and no session id go there, so that server cannot
  // answer for the session: a typed error, and no new session is started for it
  await assert.rejects(client.callTool("remote", "echo", { message: "elsewhere" }), (e) => {
    assert.equal(e.code, "MCP_TRANSPORT_CLOSED");
    assert.match(e.message, /HTTP 400/);
    return true;
  });
  const moved = target.posted("tools/call");
  assert.equal(moved.length, 1, "the call followed the 307 with its body");
  for (const r of target.records) {
    assert.equal(r.headers.authorization, undefined, "the bearer token went to another origin");
    assert.equal(r.headers["x-api-key"], undefined, "a custom header went to another origin");
    assert.equal(r.sessionId, null, "the session id went to another origin");
  }
  assert.equal(front.posted("initialize").length, 1, "a 400 from another origin does not end the session");
  assert.equal((await client.callTool("remote", "get-sum", { a: 1, b: 2 })).isError, false);
  await client.close();
  assert.equal(runtime.stats().liveAllocations, 0);
  await guard.assertNone();
});

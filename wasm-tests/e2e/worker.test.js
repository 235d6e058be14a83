// Worker end to end: workerd (npm `workerd`, its binary started directly) runs
// examples/worker — bundled by examples/worker/build.mjs, the .wasm embedded as
// a module — against server-everything over Streamable HTTP (behind the
// recording gateway) and the model stand-in. A client that disconnects ends the
// run, and its session gets exactly one DELETE, counted at the MCP server's door.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startEverythingHTTP } from "../../web/everything-http.js";
import { startGateway } from "../../web/server.js";
import { startModelServer } from "../fixtures/model-server.js";
import { sessionsCreated, deletesBySession, until } from "./gateway.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WORKERD = path.join(ROOT, "node_modules/@cloudflare/workerd-linux-64/bin/workerd");

let dir, everything, gateway, model, workerd, origin;
let log = "";

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "mcpstream-worker-"));
  await promisify(execFile)(process.execPath, [path.join(ROOT, "examples/worker/build.mjs"), dir]);
  everything = await startEverythingHTTP();
  gateway = await startGateway(new URL(everything.url), null);
  model = await startModelServer(); // the demo brain: "… for N seconds" runs that long
  workerd = spawn(WORKERD, ["serve", path.join(dir, "config.capnp"), "--socket-addr", "http=127.0.0.1:0", "--control-fd", "3"], {
    stdio: ["ignore", "pipe", "pipe", "pipe"],
    env: { ...process.env, MODEL_BASE_URL: model.baseURL, MODEL: "stand-in", MODEL_API_KEY: "", MCP_URL: `${gateway.origin}/mcp` },
  });
  workerd.stdout.on("data", (d) => { log += d; });
  workerd.stderr.on("data", (d) => { log += d; });
  const port = await new Promise((resolve, reject) => {
    let control = "";
    workerd.stdio[3].on("data", (d) => {
      control += d;
      const m = control.match(/"port":(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    workerd.once("exit", (code) => reject(new Error(`workerd exited (${code}) before listening:\n${log}`)));
  });
  origin = `http://127.0.0.1:${port}`;
});

after(async () => {
  if (workerd && workerd.exitCode === null) {
    const exited = new Promise((r) => workerd.once("exit", r));
    workerd.kill("SIGTERM");
    await exited;
  }
  await model?.close();
  await gateway?.close();
  await everything?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** POSTs a query; returns a reader of SSE events (comments skipped) and an abort(). */
async function post(query) {
  const controller = new AbortController();
  const res = await fetch(`${origin}/agent`, {
    method: "POST", body: JSON.stringify({ query }), headers: { "content-type": "application/json" }, signal: controller.signal,
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  return {
    async event() {
      for (;;) {
        const cut = buf.indexOf("\n\n");
        if (cut >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          if (block.startsWith(":")) continue;
          const event = block.match(/^event: (.*)$/m)?.[1];
          const data = JSON.parse(block.match(/^data: (.*)$/m)?.[1]);
          return { event, data };
        }
        const { value, done } = await reader.read();
        if (done) return null;
        buf += decoder.decode(value, { stream: true });
      }
    },
    disconnect() { controller.abort(); },
  };
}

const assertQuietLog = () =>
  assert.doesNotMatch(log, /error|uncaught|exception/i, `workerd's log:\n${log}`);

test("a full run streams through final; its session got one DELETE", async () => {
  const before = gateway.requests.length;
  const sse = await post("What is 2 + 40?");
  const events = [];
  for (let e; (e = await sse.event()) !== null;) events.push(e);
  const names = events.map((e) => e.event);
  assert.equal(names.at(-1), "final", names.join(","));
  assert.ok(names.includes("tool_call") && names.includes("tool_result"), names.join(","));
  for (const e of events) assert.equal(e.event, e.data.type);
  assert.match(events.at(-1).data.text, /42/);
  const mine = gateway.requests.slice(before);
  const [sid] = sessionsCreated(mine);
  assert.ok(sid, "the worker opened a session");
  await until(() => deletesBySession(gateway.requests).get(sid) === 1, "the DELETE");
  assertQuietLog();
});

test("a client that reads two events and disconnects ends the run: exactly one DELETE, nothing in workerd's log", async () => {
  const before = gateway.requests.length;
  const sse = await post("Run a long operation for 60 seconds");
  assert.equal((await sse.event()).event, "tool_call");
  assert.equal((await sse.event()).event, "progress");
  sse.disconnect();
  const [sid] = sessionsCreated(gateway.requests.slice(before));
  assert.ok(sid);
  await until(() => deletesBySession(gateway.requests).get(sid) >= 1, "the DELETE after the disconnect");
  // a later full run is the barrier: by its end, a second DELETE would have come
  const next = await post("What is 2 + 40?");
  while (await next.event() !== null);
  assert.equal(deletesBySession(gateway.requests).get(sid), 1);
  assertQuietLog();
});

test("ten concurrent early disconnects: ten sessions, ten DELETEs, each once", async () => {
  const before = gateway.requests.length;
  const clients = await Promise.all(Array.from({ length: 10 }, () => post("Run a long operation for 60 seconds")));
  await Promise.all(clients.map(async (c) => {
    assert.equal((await c.event()).event, "tool_call");
    assert.equal((await c.event()).event, "progress");
    c.disconnect();
  }));
  const sids = await until(() => {
    const s = sessionsCreated(gateway.requests.slice(before));
    return s.length === 10 && s;
  }, "ten sessions");
  await until(() => sids.every((s) => deletesBySession(gateway.requests).get(s) >= 1), "ten DELETEs", 30000);
  const next = await post("What is 2 + 40?");
  while (await next.event() !== null);
  for (const s of sids) assert.equal(deletesBySession(gateway.requests).get(s), 1, `session ${s}`);
  assertQuietLog();
});

test("bad requests get clear answers: 404, 405, 400", async () => {
  assert.equal((await fetch(`${origin}/nope`)).status, 404);
  assert.equal((await fetch(`${origin}/agent`)).status, 405);
  const bad = await fetch(`${origin}/agent`, { method: "POST", body: "not json" });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /query/);
});

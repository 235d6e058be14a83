// Hostile stdio servers (wasm-tests/fixtures/hostile-stdio-server.js) against the stdio host
// and the whole stack: a server that closes its stdout but keeps running, servers that leave
// descendants behind, in their group and out of it (setsid, detached). Outcomes are checked
// through /proc, not through the transport's own word. Timeouts only turn a hang into a failure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { StdioTransport } from "../src/js/hosts/stdio.js";
import { createRuntime, MCPClient } from "../src/js/index.js";
import { recordLifecycle, assertClean } from "./helpers.js";

const NODE = process.execPath;
const HOSTILE = fileURLToPath(new URL("./fixtures/hostile-stdio-server.js", import.meta.url));
const hostile = (...modes) => ({ command: NODE, args: [HOSTILE, ...modes] });

const escaped = [];
process.on("unhandledRejection", (e) => escaped.push(e));
process.on("uncaughtException", (e) => escaped.push(e));

function isRunning(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}
const killIfRunning = (pid) => { if (pid && isRunning(pid)) try { process.kill(pid, "SIGKILL"); } catch {} };

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitUntil(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

function openTransport(t, config, options = {}) {
  const rec = { closes: [], stderr: "" };
  rec.closed = new Promise((resolve) => { rec.resolveClose = resolve; });
  rec.opened = new Promise((resolve) => { rec.resolveOpen = resolve; });
  const transport = new StdioTransport(config, {
    onOpen() { rec.resolveOpen(); },
    onData() {},
    onStderr(text) { rec.stderr += text; },
    onClose(info) { rec.closes.push(info); rec.resolveClose(info); },
    graceMs: 100, killTimeoutMs: 500, ...options,
  });
  t.after(() => { transport.killSync(); killIfRunning(transport.pid); });
  transport.open();
  return { transport, rec };
}

// ---- item 10: silent transport death

test("a server that closes its stdout but keeps running is noticed: onClose (exited) once, and its process is killed", async (t) => {
  const { transport, rec } = openTransport(t, { command: NODE, args: ["-e",
    "require('fs').closeSync(1); process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"] });
  await withTimeout(rec.opened, 5000, "onOpen");
  const info = await withTimeout(rec.closed, 10000, "onClose after the server closed its stdout");
  assert.equal(info.reason, "exited");
  assert.match(info.message, /closed its stdout/);
  assert.match(info.message, /SIGKILL/, "it ignored stdin EOF and SIGTERM: it was killed");
  assert.equal(isRunning(transport.pid), false, "the process is gone");
  assert.equal(rec.closes.length, 1);
  await withTimeout(transport.close(), 2000, "close() afterwards");
  assert.equal(rec.closes.length, 1);
});

test("a tool call pending when its server closes stdout fails with MCP_TRANSPORT_CLOSED; the session closes once (exited), the process is gone", async (t) => {
  const runtime = await createRuntime();
  t.after(() => runtime.dispose());
  const life = recordLifecycle(runtime);
  const client = new MCPClient({ mcpServers: { mute: hostile("close-stdout-on-call") } }, { runtime });
  await client.connect();
  const pid = await serverPid();
  assert.ok(pid, "the server runs");
  const err = await withTimeout(client.callTool("mute", "echo", { message: "hi" }).then(() => null, (e) => e), 15000, "the pending call");
  assert.ok(err, "the call fails");
  assert.equal(err.code, "MCP_TRANSPORT_CLOSED");
  assert.match(err.message, /stdout/);
  const closes = life.of("session-close");
  assert.equal(closes.length, 1);
  assert.equal(closes[0].reason, "exited");
  assert.equal(isRunning(pid), false, "the server process is gone");
  await client.close();
  await assertClean(runtime, life, escaped);
});

/** The pid of the one hostile server running (found in /proc by its command line). */
async function serverPid() {
  const { readdirSync } = await import("node:fs");
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, "latin1");
      if (cmd.includes(HOSTILE) && cmd.includes("close-stdout-on-call") && isRunning(Number(name))) return Number(name);
    } catch {}
  }
  return null;
}

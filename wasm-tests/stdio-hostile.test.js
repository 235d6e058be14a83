// Hostile stdio servers (wasm-tests/fixtures/hostile-stdio-server.js) against the stdio host
// and the whole stack: a server that closes its stdout but keeps running, servers that leave
// descendants behind: in a session or group of their own (setsid, detached), orphaned (a
// double fork, a parent that exited). Outcomes are checked through /proc, not through the
// transport's own word. Timeouts only turn a hang into a failure.
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
  const { graceMs = 100, killTimeoutMs = 500, ...hooks } = options; // the close's waits, then hooks
  const rec = { closes: [], stderr: "" };
  rec.closed = new Promise((resolve) => { rec.resolveClose = resolve; });
  rec.opened = new Promise((resolve) => { rec.resolveOpen = resolve; });
  const transport = new StdioTransport(config, {
    onOpen() { rec.resolveOpen(); },
    onData() {},
    onStderr(text) { rec.stderr += text; },
    onClose(info) { rec.closes.push(info); rec.resolveClose(info); },
    ...hooks,
  }, { graceMs, killTimeoutMs });
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
  assert.match(err.message, /MCP server "mute" \(/, "the message names the server as configured");
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

// ---- item 4: descendants in a group of their own, and orphans

/** The pid a hostile server printed on stderr as "<what> <pid>". */
async function printedPid(rec, what) {
  const re = new RegExp(`${what} (\\d+)`);
  await waitUntil(() => re.test(rec.stderr), 10000, `the server to print its ${what}`);
  return Number(re.exec(rec.stderr)[1]);
}

for (const what of ["setsid-child", "detached-child"]) {
  test(`close() also kills a descendant in a session or process group of its own (${what})`, async (t) => {
    const { transport, rec } = openTransport(t, hostile(what));
    await withTimeout(rec.opened, 5000, "onOpen");
    const pid = await printedPid(rec, what);
    t.after(() => killIfRunning(pid));
    const pgrp = () => { try { const st = readFileSync(`/proc/${pid}/stat`, "latin1"); return Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[2]); } catch { return null; } };
    await waitUntil(() => isRunning(pid) && pgrp() === pid, 5000, "the descendant to run in a group of its own");
    await withTimeout(transport.close(), 10000, "close()");
    assert.equal(isRunning(pid), false, `the ${what} (pid ${pid}) is gone`);
    assert.equal(isRunning(transport.pid), false);
    assert.equal(rec.closes.length, 1);
    assert.equal(rec.closes[0].cleanupError, null);
  });
}

test("close() kills a descendant orphaned while the server ran (a double fork: found among init's children by its tag)", async (t) => {
  const { transport, rec } = openTransport(t, hostile("orphan-child"));
  await withTimeout(rec.opened, 5000, "onOpen");
  const pid = await printedPid(rec, "orphan-child");
  t.after(() => killIfRunning(pid));
  const ppid = () => { try { const st = readFileSync(`/proc/${pid}/stat`, "latin1"); return Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[1]); } catch { return null; } };
  // its parent (sh) exited: it is no descendant of the server any more
  await waitUntil(() => isRunning(pid) && ppid() !== transport.pid, 5000, "the orphan to be reparented");
  assert.notEqual(ppid(), transport.pid);
  await withTimeout(transport.close(), 10000, "close()");
  assert.equal(isRunning(pid), false, `the orphan (pid ${pid}) is gone`);
  assert.equal(rec.closes.length, 1);
  assert.equal(rec.closes[0].reason, "closed");
  assert.equal(rec.closes[0].cleanupError, null);
});

test("a server that exits on its own, leaving a setsid child behind (reparented), has that child killed before onClose", async (t) => {
  // sh starts the setsid child, prints its pid and exits: the child's parent chain is broken
  const { transport, rec } = openTransport(t, { command: "sh", args: ["-c", "setsid sleep 300 & echo \"setsid-child $!\" >&2; sleep 0.3; exit 3"] });
  const pid = await printedPid(rec, "setsid-child");
  t.after(() => killIfRunning(pid));
  const info = await withTimeout(rec.closed, 10000, "onClose");
  assert.equal(info.reason, "exited");
  assert.equal(info.exitCode, 3);
  assert.equal(isRunning(pid), false, "the reparented setsid child is gone");
  assert.equal(isRunning(transport.pid), false);
});

for (const what of ["setsid-child", "orphan-child"]) test(`process exit kills a server's descendant (${what}: the exit hook's synchronous walk and orphan scan)`, async (t) => {
  const { spawn } = await import("node:child_process");
  const script = `
    import { StdioTransport } from ${JSON.stringify(new URL("../src/js/hosts/stdio.js", import.meta.url).href)};
    const t = new StdioTransport(${JSON.stringify(hostile(what))}, {
      onOpen() {}, onData() {}, onClose() {},
      onStderr(text) { const m = /${what} (\\d+)/.exec(text); if (m) { process.stdout.write(m[1] + "\\n"); process.exit(0); } },
    });
    t.open();`;
  const child = spawn(NODE, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => { out += d; });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  t.after(() => child.kill("SIGKILL"));
  await withTimeout(exited, 15000, "the script to exit");
  const pid = Number(out.trim());
  assert.ok(pid > 0, `the script printed the ${what}'s pid (${JSON.stringify(out)})`);
  t.after(() => killIfRunning(pid));
  await waitUntil(() => !isRunning(pid), 5000, `the ${what} ${pid} to be gone after the exit`);
});

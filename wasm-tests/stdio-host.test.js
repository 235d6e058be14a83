// The stdio host adapter (src/js/hosts/stdio.js) against real processes. Every outcome is
// checked through the OS (/proc, kill(pid, 0)), never only through the transport's own word.
// Linux: reads /proc. The transport runs in tree mode (servers in this process's group, their
// trees tracked in /proc) except where a test forces process groups (MCPSTREAM_PROCESS_GROUPS).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { StdioTransport } from "../src/js/hosts/stdio.js";

const NODE = process.execPath;
const EVERYTHING = fileURLToPath(
  new URL("../node_modules/@modelcontextprotocol/server-everything/dist/index.js", import.meta.url));
const UNREF_CHILD = fileURLToPath(new URL("./fixtures/stdio-unref-child.js", import.meta.url));
const GROUPS_CHILD = fileURLToPath(new URL("./fixtures/stdio-groups-child.js", import.meta.url));

// Anything escaping the transport (an 'error' event without a listener, a rejected promise
// nobody awaits) lands here; tests assert the list stays empty.
const processErrors = [];
process.on("unhandledRejection", (err) => processErrors.push(err));
process.on("uncaughtException", (err) => processErrors.push(err));

/* ---- the OS view ---- */

/** { state, ppid, pgrp, start } of a process, or null when it does not exist. */
function procStat(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0], ppid: Number(fields[1]), pgrp: Number(fields[2]), start: Number(fields[19]) };
}

/** A process exists and is not a zombie (dead, waiting to be reaped). */
function isRunning(pid) {
  const stat = procStat(pid);
  return stat !== null && stat.state !== "Z" && stat.state !== "X";
}

/** Pids of process `root` (when it runs) and of its running descendants, by parent pid
 * (a whole /proc scan: the test's own view, not the transport's children lists). */
function treeOf(root) {
  const children = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(name);
    if (!stat || stat.state === "Z" || stat.state === "X") continue;
    if (!children.has(stat.ppid)) children.set(stat.ppid, []);
    children.get(stat.ppid).push(Number(name));
  }
  const out = isRunning(root) ? [root] : [];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]) ?? []));
  return out;
}

/** kill(pid, 0): true when the pid is still taken (zombies included). */
function pidExists(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code !== "ESRCH";
  }
}

/** Cleanup for a test that failed half-way: SIGKILL `pid` and its descendants if they run
 * (and `pid` is still the process that started at `start`, when given: not a recycled pid). */
function killTreeIfRunning(pid, start = null) {
  if (!pid || (start !== null && procStat(pid)?.start !== start)) return;
  for (const member of treeOf(pid)) {
    try { process.kill(member, "SIGKILL"); } catch { /* gone meanwhile */ }
  }
}

/* ---- waiting, bounded ---- */

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition, ms, what) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/* ---- a transport with every hook recorded ---- */

function openTransport(t, config, options = {}) {
  const { graceMs, killTimeoutMs, ...hooks } = options; // the close's waits (defaults: 1 s, 2 s), then hooks
  const rec = { opens: 0, chunks: [], stderr: "", closes: [] };
  let resolveOpen;
  let resolveClose;
  rec.opened = new Promise((resolve) => { resolveOpen = resolve; });
  rec.closed = new Promise((resolve) => { resolveClose = resolve; });
  rec.text = () => Buffer.concat(rec.chunks).toString("utf8");
  const transport = new StdioTransport(config, {
    onOpen() { rec.opens++; resolveOpen(); },
    onData(bytes) { rec.chunks.push(bytes); },
    onStderr(text) { rec.stderr += text; },
    onClose(info) { rec.closes.push(info); resolveClose(info); },
    ...hooks,
  }, { graceMs, killTimeoutMs });
  t.after(() => {
    transport.killSync();
    killTreeIfRunning(transport.pid, transport.startTime);
  });
  transport.open();
  return { transport, rec };
}

const nodeServer = (code) => ({ command: NODE, args: ["-e", code] });

/* ---- tests ---- */

test("server-everything answers initialize over stdio, and close() leaves no process", async (t) => {
  const { transport, rec } = openTransport(t, { command: NODE, args: [EVERYTHING, "stdio"] });
  await withTimeout(rec.opened, 10_000, "onOpen");
  const pid = transport.pid;
  assert.ok(Number.isInteger(pid) && pid > 0);
  // not detached: a process group (or session) of its own changes how the scheduler treats it
  assert.equal(procStat(pid).pgrp, procStat(process.pid).pgrp, "the server runs in the client's process group");

  const initialize = {
    jsonrpc: "2.0", id: 1, method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "stdio-host-test", version: "0" } },
  };
  transport.send(new TextEncoder().encode(JSON.stringify(initialize)));
  const response = () => rec.text().split("\n").slice(0, -1).map((line) => JSON.parse(line)).find((m) => m.id === 1);
  await waitUntil(() => rec.text().includes("\n") && response(), 10_000, "the initialize response");

  const { result } = response();
  assert.equal(result.protocolVersion, "2025-11-25");
  assert.match(result.serverInfo.name, /everything/);
  assert.ok(rec.chunks.every((chunk) => chunk instanceof Uint8Array));
  assert.ok(isRunning(pid));

  let closesWhenResolved = -1;
  await withTimeout(transport.close().then(() => { closesWhenResolved = rec.closes.length; }), 5_000, "close()");
  assert.equal(closesWhenResolved, 1, "onClose fired before close() resolved");
  assert.equal(rec.closes[0].reason, "closed");
  assert.equal(rec.closes[0].exitCode, 0, "server-everything exits by itself once its stdin ends");
  assert.equal(rec.closes[0].signal, null, "no signal was needed within graceMs");
  assert.match(rec.closes[0].message, /stdin/);
  assert.ok(transport.closed);
  assert.equal(pidExists(pid), false, "the server has exited and was reaped");
});

test("close() kills the server's whole process tree", async (t) => {
  const { transport, rec } = openTransport(t, {
    command: "sh",
    args: ["-c", `"${NODE}" -e "setInterval(()=>{},1e3)" & "${NODE}" -e "setInterval(()=>{},1e3)" & wait`],
  }, { graceMs: 100, killTimeoutMs: 2000 });
  await withTimeout(rec.opened, 5_000, "onOpen");
  const server = transport.pid;
  await waitUntil(() => treeOf(server).length === 3, 5_000, "sh and its two node children");
  const observed = treeOf(server);
  assert.ok(observed.includes(server));
  t.after(() => observed.forEach((pid) => { if (isRunning(pid)) process.kill(pid, "SIGKILL"); }));

  await withTimeout(transport.close(), 5_000, "close()");
  for (const pid of observed) assert.equal(isRunning(pid), false, `pid ${pid} of the tree is gone`);
  assert.equal(pidExists(server), false);
  assert.equal(rec.closes.length, 1);
  assert.equal(rec.closes[0].reason, "closed");
  assert.equal(rec.closes[0].signal, "SIGTERM");
});

test("close() kills a descendant without the server's tag in its environment (env -i): found by the walk from the server", async (t) => {
  const { transport, rec } = openTransport(t, { command: "sh", args: ["-c", "env -i sleep 300 & wait"] });
  await withTimeout(rec.opened, 5_000, "onOpen");
  const server = transport.pid;
  await waitUntil(() => treeOf(server).length === 2, 5_000, "sh and its untagged child");
  const child = treeOf(server).find((pid) => pid !== server);
  t.after(() => { if (isRunning(child)) process.kill(child, "SIGKILL"); });
  assert.doesNotMatch(readFileSync(`/proc/${child}/environ`, "latin1"), /MCPSTREAM_SERVER_TAG/);

  await withTimeout(transport.close(), 10_000, "close()");
  assert.equal(isRunning(child), false, "the untagged child is gone");
  assert.equal(rec.closes[0].reason, "closed");
  assert.equal(rec.closes[0].cleanupError, null);
});

test("a server that ignores stdin EOF and SIGTERM is SIGKILLed after killTimeoutMs", async (t) => {
  const graceMs = 50;
  const killTimeoutMs = 300;
  const { transport, rec } = openTransport(t,
    nodeServer("process.on('SIGTERM',()=>{process.stdout.write('SIGTERM\\n')});process.stdout.write('ready\\n');setInterval(()=>{},1e3)"),
    { graceMs, killTimeoutMs });
  await waitUntil(() => rec.text() === "ready\n", 5_000, "the SIGTERM handler to be installed");
  const pid = transport.pid;

  await withTimeout(transport.close(), 5_000, "close()");
  // the order, not the time: stdin EOF, then SIGTERM (which it saw and ignored), then SIGKILL
  assert.equal(rec.text(), "ready\nSIGTERM\n", "the server saw SIGTERM before it was killed");
  assert.equal(rec.closes.length, 1);
  assert.equal(rec.closes[0].reason, "closed");
  assert.equal(rec.closes[0].signal, "SIGKILL");
  assert.match(rec.closes[0].message, /SIGKILL/);
  assert.equal(pidExists(pid), false);
});

test("a grandchild that ignores SIGTERM is SIGKILLed although the leader already exited", async (t) => {
  const { transport, rec } = openTransport(t, {
    command: "sh",
    args: ["-c", `"${NODE}" -e "process.on('SIGTERM',()=>{});console.log('ready');setInterval(()=>{},1e3)" & wait`],
  }, { graceMs: 50, killTimeoutMs: 300 });
  await waitUntil(() => rec.text() === "ready\n", 5_000, "the grandchild's SIGTERM handler");
  const server = transport.pid;
  const grandchild = treeOf(server).find((pid) => pid !== server);
  assert.ok(grandchild, "the grandchild runs under the server");
  t.after(() => { if (isRunning(grandchild)) process.kill(grandchild, "SIGKILL"); });

  await withTimeout(transport.close(), 5_000, "close()");
  assert.equal(isRunning(grandchild), false);
  assert.equal(pidExists(server), false);
  assert.equal(rec.closes.length, 1);
  assert.equal(rec.closes[0].signal, "SIGTERM", "the leader (sh) died of SIGTERM");
  assert.match(rec.closes[0].message, /SIGKILL/);
});

test("the close message tells what the server itself was sent from what only its leftovers got", async (t) => {
  // sh exits 0 on stdin EOF (read fails) and leaves its background sleep running: the
  // SIGTERM after the grace period reaches only the sleep.
  const { transport, rec } = openTransport(t, { command: "sh", args: ["-c", "sleep 300 & read line; exit 0"] },
    { graceMs: 2000, killTimeoutMs: 2000 });
  await withTimeout(rec.opened, 5_000, "onOpen");
  const server = transport.pid;
  await waitUntil(() => treeOf(server).length === 2, 5_000, "sh and its sleep");
  const sleeper = treeOf(server).find((pid) => pid !== server);
  t.after(() => { if (isRunning(sleeper)) process.kill(sleeper, "SIGKILL"); });

  await withTimeout(transport.close(), 10_000, "close()");
  assert.equal(isRunning(sleeper), false, "the sleep it left running is gone");
  const info = rec.closes[0];
  assert.equal(info.exitCode, 0);
  assert.equal(info.signal, null);
  assert.match(info.message, /exited with code 0 after its stdin was closed; processes it left running were stopped with SIGTERM\./);
  assert.doesNotMatch(info.message, /code 0 after SIGTERM/);
});

test("a command that cannot be spawned reports open-failed, clearly, and nothing escapes", async (t) => {
  const errorsBefore = processErrors.length;
  const command = "mcpstream-no-such-command-7f3a";
  const { transport, rec } = openTransport(t, { command, args: ["stdio"] });
  const info = await withTimeout(rec.closed, 3_000, "onClose");
  assert.equal(info.reason, "open-failed");
  assert.match(info.message, new RegExp(command));
  assert.match(info.message, /not found/);
  assert.match(info.message, /PATH/);
  assert.equal(info.exitCode, null);
  assert.equal(info.signal, null);
  assert.equal(rec.opens, 0);
  assert.equal(transport.pid, null);
  assert.ok(transport.closed);
  transport.send("{}"); // ignored, no throw
  await withTimeout(transport.close(), 1_000, "close() after open-failed");
  assert.equal(rec.closes.length, 1);

  // A missing working directory is named as such (Node itself reports "spawn node ENOENT").
  const cwd = "/nonexistent-mcpstream-cwd";
  const missingCwd = openTransport(t, { command: NODE, args: ["-e", "0"], cwd });
  const cwdInfo = await withTimeout(missingCwd.rec.closed, 3_000, "onClose (missing cwd)");
  assert.equal(cwdInfo.reason, "open-failed");
  assert.match(cwdInfo.message, /working directory/);
  assert.ok(cwdInfo.message.includes(cwd));

  // Invalid config makes spawn() throw synchronously: still an asynchronous open-failed.
  // close() right after open(), before the failure is known, resolves after that one onClose.
  const invalid = new StdioTransport({ command: 42 }, {
    onOpen() { assert.fail("onOpen"); }, onData() {}, onStderr() {},
    onClose(closeInfo) { invalid.closes.push(closeInfo); },
  });
  invalid.closes = [];
  assert.doesNotThrow(() => invalid.open());
  assert.equal(invalid.closes.length, 0, "open-failed is reported asynchronously");
  await withTimeout(invalid.close(), 1_000, "close() during a failing open");
  assert.equal(invalid.closes.length, 1);
  assert.equal(invalid.closes[0].reason, "open-failed");

  await sleep(50);
  assert.deepEqual(processErrors.slice(errorsBefore), []);
});

test("a server that exits on its own reports exited with its code, exactly once", async (t) => {
  const { transport, rec } = openTransport(t,
    nodeServer("console.error('boom: missing API key'); process.exit(3)"));
  const info = await withTimeout(rec.closed, 5_000, "onClose");
  assert.equal(info.reason, "exited");
  assert.equal(info.exitCode, 3);
  assert.equal(info.signal, null);
  assert.match(info.message, /code 3/);
  assert.match(info.message, /boom: missing API key/, "the message carries the server's last stderr");
  assert.match(rec.stderr, /boom: missing API key/);
  assert.ok(transport.closed);
  assert.equal(pidExists(transport.pid), false);

  await sleep(50);
  await withTimeout(transport.close(), 1_000, "close() after the exit");
  await withTimeout(transport.close(), 1_000, "close() again");
  assert.equal(rec.closes.length, 1);
});

test("when the server exits on its own, the rest of its tree is killed before onClose", async (t) => {
  const { transport, rec } = openTransport(t, { command: "sh", args: ["-c", "sleep 30 & echo $!; exit 3"] },
    { killTimeoutMs: 1000 });
  const info = await withTimeout(rec.closed, 5_000, "onClose");
  const sleepPid = Number(rec.text().trim());
  assert.ok(sleepPid > 0, "stdout written just before the exit is delivered before onClose");
  t.after(() => { if (isRunning(sleepPid)) process.kill(sleepPid, "SIGKILL"); });
  assert.equal(info.reason, "exited");
  assert.equal(info.exitCode, 3);
  assert.equal(isRunning(sleepPid), false, "the background sleep (orphaned when sh exited) was killed");
  assert.equal(rec.closes.length, 1);
});

test("every stdout byte written before the server exits is delivered before onClose", async (t) => {
  // head blocks on the full pipe, so at its exit up to a pipe buffer of data is still unread.
  const size = 2_000_000;
  const { rec } = openTransport(t, { command: "head", args: ["-c", String(size), "/dev/zero"] });
  const info = await withTimeout(rec.closed, 5_000, "onClose");
  assert.equal(info.reason, "exited");
  assert.equal(info.exitCode, 0);
  assert.equal(rec.chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0), size);
});

test("close() twice or concurrently returns one promise and fires one onClose", async (t) => {
  const { transport, rec } = openTransport(t, nodeServer("setInterval(()=>{},1e3)"), { graceMs: 50 });
  await withTimeout(rec.opened, 5_000, "onOpen");
  const pid = transport.pid;
  const first = transport.close();
  const second = transport.close();
  assert.equal(first, second);
  assert.equal(transport.closed, false, "closing, not closed yet");
  transport.send("{}"); // ignored once close started
  await withTimeout(Promise.all([first, second]), 5_000, "both close() calls");
  assert.equal(transport.close(), first);
  await sleep(20);
  assert.equal(rec.closes.length, 1);
  assert.equal(rec.closes[0].reason, "closed");
  assert.equal(pidExists(pid), false);

  // close() right after open(), before the 'spawn' event: no onOpen, one onClose, no process.
  const early = openTransport(t, nodeServer("setInterval(()=>{},1e3)"), { graceMs: 50 });
  const earlyPid = early.transport.pid;
  assert.ok(earlyPid > 0);
  await withTimeout(Promise.all([early.transport.close(), early.transport.close()]), 5_000, "early close()");
  await sleep(20);
  assert.equal(early.rec.opens, 0);
  assert.equal(early.rec.closes.length, 1);
  assert.equal(pidExists(earlyPid), false);
});

test("killSync() kills the tree at once; close() afterwards resolves with one onClose", async (t) => {
  const { transport, rec } = openTransport(t, {
    command: "sh", args: ["-c", `"${NODE}" -e "setInterval(()=>{},1e3)" & wait`],
  }, { graceMs: 120_000, killTimeoutMs: 120_000 });
  await withTimeout(rec.opened, 5_000, "onOpen");
  const server = transport.pid;
  await waitUntil(() => treeOf(server).length === 2, 5_000, "sh and its child");
  const observed = treeOf(server);

  // grace and kill timeout are 2 min each: a close() that waited for either times out here
  transport.killSync();
  await withTimeout(transport.close(), 30_000, "close() after killSync()");
  for (const pid of observed) assert.equal(isRunning(pid), false, `pid ${pid} of the tree is gone`);
  assert.equal(rec.closes.length, 1);
  assert.equal(rec.closes[0].reason, "closed");
  assert.equal(rec.closes[0].signal, "SIGKILL");
  transport.killSync(); // the tree is known gone: a no-op, never a signal to a recycled pid
});

test("an unref'd transport lets the script end, and the exit hook kills its server", async (t) => {
  const run = runFixture(t, "unref");
  const { code } = await withTimeout(run.exited, 30_000, "the fixture script to end by itself");
  assert.equal(code, 0, run.stderr());
  const serverPid = run.serverPid();
  assert.ok(serverPid > 0, `the fixture started a server: ${run.stdout()}`);
  await waitUntil(() => !isRunning(serverPid), 10_000, "the server to be gone");
});

test("a ref'd transport keeps the script alive; process.exit() still kills its server", async (t) => {
  const run = runFixture(t, "ref");
  await waitUntil(() => /^active /m.test(run.stdout()), 5_000, "the fixture's report of what keeps it alive");
  // what keeps the script's event loop alive, as Node reports it: the transport's child process
  // (a ref'd handle) — the script holds nothing else, so it cannot end by itself
  const active = JSON.parse(/^active (.*)$/m.exec(run.stdout())[1]);
  assert.ok(active.includes("ProcessWrap"), `the ref'd transport's process does not hold the loop: ${active}`);
  assert.equal(run.child.exitCode, null, "the script is still alive while the transport is ref'd");
  assert.ok(isRunning(run.serverPid()));
  run.child.kill("SIGUSR2"); // the fixture calls process.exit(0)
  const { code } = await withTimeout(run.exited, 5_000, "the fixture to exit");
  assert.equal(code, 0, run.stderr());
  await waitUntil(() => !isRunning(run.serverPid()), 10_000, "the server to be gone");
});

function runFixture(t, mode) {
  const child = spawn(NODE, [UNREF_CHILD, mode], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk) => { out += chunk; });
  child.stderr.on("data", (chunk) => { err += chunk; });
  const serverPid = () => Number(/pid (\d+)/.exec(out)?.[1] ?? 0);
  const exited = new Promise((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    killTreeIfRunning(serverPid());
  });
  return { child, exited, serverPid, stdout: () => out, stderr: () => err };
}

test("a tracked descendant whose pid is recycled by another process before the close looks again is never signalled", async (t) => {
  // Root only: the pid is recycled on purpose by writing /proc/sys/kernel/ns_last_pid.
  try {
    writeFileSync("/proc/sys/kernel/ns_last_pid", readFileSync("/proc/sys/kernel/ns_last_pid"));
  } catch {
    t.skip("needs root (writes /proc/sys/kernel/ns_last_pid)");
    return;
  }
  // The server starts a child; on stdin EOF it kills and reaps it (after the close walked its
  // tree: the child is tracked), says so, and waits for SIGUSR2 to exit.
  const { transport, rec } = openTransport(t, nodeServer([
    "const d = require('child_process').spawn('sleep', ['300'], { stdio: 'ignore' });",
    "process.stdout.write('child ' + d.pid + '\\n');",
    "process.stdin.resume();",
    "process.stdin.on('end', () => { d.on('exit', () => process.stderr.write('child-gone\\n')); d.kill('SIGKILL'); });",
    "process.on('SIGUSR2', () => process.exit(0));",
    "setInterval(() => {}, 1000);",
  ].join("")));
  await waitUntil(() => /child \d+/.test(rec.text()), 5_000, "the server's child");
  const child = Number(/child (\d+)/.exec(rec.text())[1]);
  const closing = transport.close();
  await waitUntil(() => rec.stderr.includes("child-gone"), 5_000, "the child to be killed and reaped");

  // another process takes the child's pid (other processes fork meanwhile: a few attempts)
  let other = null;
  for (let attempt = 0; attempt < 50 && !other; attempt++) {
    writeFileSync("/proc/sys/kernel/ns_last_pid", String(child - 1));
    const candidate = spawn("sleep", ["300"], { stdio: "ignore" });
    if (candidate.pid === child) other = candidate;
    else candidate.kill("SIGKILL");
  }
  if (other) t.after(() => other.kill("SIGKILL"));
  try { process.kill(transport.pid, "SIGUSR2"); } catch { /* the grace period ended first */ }
  await withTimeout(closing, 10_000, "close()");
  if (!other) return t.skip(`pid ${child} was taken by another process before this test could take it`);
  const info = rec.closes[0];
  if (info.signal !== null) return t.skip("inconclusive: the grace period ended before the pid was recycled");
  assert.equal(info.exitCode, 0, "the server exited on SIGUSR2, after the pid was recycled");
  assert.equal(info.cleanupError, null);
  assert.ok(isRunning(other.pid), `the process that took pid ${child} was signalled`);
});

test("without /proc children lists (MCPSTREAM_PROCESS_GROUPS=1), the server leads a process group of its own, and close() ends the group", async (t) => {
  const child = spawn(NODE, [GROUPS_CHILD], { stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, MCPSTREAM_PROCESS_GROUPS: "1" } });
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk) => { out += chunk; });
  child.stderr.on("data", (chunk) => { err += chunk; });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  let server = 0;
  t.after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
    killTreeIfRunning(server);
  });
  await waitUntil(() => /^pid \d+$/m.test(out), 10_000, `the fixture's server (${err})`);
  server = Number(/^pid (\d+)$/m.exec(out)[1]);
  await waitUntil(() => treeOf(server).length === 3, 5_000, "sh and its two node children");
  const observed = treeOf(server);
  assert.ok(observed.every((pid) => procStat(pid).pgrp === server), "sh and its children are in the server's own group");
  child.stdin.write("close\n");
  await withTimeout(exited, 10_000, "the fixture to close its transport and end");
  const info = JSON.parse(/^closed (.*)$/m.exec(out)?.[1] ?? "null");
  assert.equal(info?.reason, "closed", out + err);
  assert.equal(info.cleanupError, null);
  for (const pid of observed) assert.equal(isRunning(pid), false, `pid ${pid} of the group is gone`);
});

test("send() to a server that closed its stdin (EPIPE) does not crash", async (t) => {
  const errorsBefore = processErrors.length;
  const { transport, rec } = openTransport(t,
    { command: "sh", args: ["-c", "exec 0<&-; echo ready; exec sleep 30"] }, { graceMs: 20 });
  await waitUntil(() => rec.text() === "ready\n", 5_000, "the server to close its stdin");
  transport.send("x".repeat(1 << 20));
  for (let i = 0; i < 10; i++) transport.send(`{"jsonrpc":"2.0","id":${i},"method":"ping"}`);
  // libuv reports the failed write (EPIPE) at its next loop iteration and the stream emits
  // 'error' on the tick after: two full turns of the event loop carry both (order, not time)
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  assert.equal(transport.closed, false, "a write error alone does not close the transport");
  assert.ok(isRunning(transport.pid), "the server runs on");
  await withTimeout(transport.close(), 5_000, "close()");
  assert.equal(rec.closes.length, 1);
  assert.equal(rec.closes[0].reason, "closed");
  assert.deepEqual(processErrors.slice(errorsBefore), []);
});

test("send() racing a server's own exit, and after it, does not crash", async (t) => {
  const errorsBefore = processErrors.length;
  const { transport, rec } = openTransport(t,
    nodeServer("process.stdout.write('ready\\n'); setTimeout(() => process.exit(0), 30)"));
  await waitUntil(() => rec.text() === "ready\n", 5_000, "ready");
  while (!transport.closed) {
    transport.send(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"pad":"${"y".repeat(4096)}"}}`);
    await sleep(1);
  }
  assert.equal(rec.closes[0].reason, "exited");
  assert.equal(rec.closes[0].exitCode, 0);
  assert.doesNotThrow(() => transport.send("{}"));
  // close() of a transport that is gone resolves once its teardown is done: a second onClose
  // could only come from that teardown, so after it the count is final
  await withTimeout(transport.close(), 5_000, "close() of the exited transport");
  assert.equal(rec.closes.length, 1);
  assert.deepEqual(processErrors.slice(errorsBefore), []);
});

test("env is merged over process.env, cwd is used, stderr is decoded across chunk splits", async (t) => {
  const cwd = realpathSync(tmpdir());
  const { rec } = openTransport(t, {
    command: "node", // found through the inherited PATH
    args: ["-e", [
      "process.stderr.write(Buffer.from([0xc3]));",
      "setTimeout(() => {",
      "  process.stderr.write(Buffer.from([0xa9, 0x0a]));",
      "  process.stdout.write(process.env.MCPSTREAM_TEST_VAR + ' ' + process.cwd());",
      "}, 50);",
    ].join("")],
    env: { MCPSTREAM_TEST_VAR: "42" },
    cwd,
  });
  const info = await withTimeout(rec.closed, 5_000, "onClose");
  assert.equal(info.reason, "exited");
  assert.equal(info.exitCode, 0);
  assert.equal(rec.text(), `42 ${cwd}`);
  assert.equal(rec.stderr, "é\n");
});

test("messages sent in the same tick go to the server in one write, intact and in order", async (t) => {
  const { transport, rec } = openTransport(t, nodeServer(
    `process.stdout.write("ready\\n"); process.stdin.on("data", (d) => process.stdout.write(d));`));
  await waitUntil(() => rec.text() === "ready\n", 10_000, "the echo server");
  // Count the writes that reach the pipe's socket: stdin is a net.Socket, and a write of
  // buffered chunks goes through _writev (one writev system call), a lone one through _write.
  const proto = net.Socket.prototype;
  const { _write: write, _writev: writev } = proto;
  let writes = 0;
  proto._write = function (...args) { writes++; return write.apply(this, args); };
  proto._writev = function (...args) { writes++; return writev.apply(this, args); };
  try {
    for (let i = 0; i < 16; i++) transport.send(new TextEncoder().encode(`{"jsonrpc":"2.0","id":${i},"method":"ping"}`));
    await new Promise((r) => setImmediate(r));
  } finally {
    Object.assign(proto, { _write: write, _writev: writev });
  }
  assert.equal(writes, 1, "16 messages of one tick, one write");
  const ids = () => rec.text().split("\n").slice(1, -1).map((line) => JSON.parse(line).id);
  await waitUntil(() => ids().length === 16, 10_000, "16 messages echoed");
  assert.deepEqual(ids(), [...Array(16).keys()]);
});

test("no uncaught exception or unhandled rejection escaped during this file", () => {
  assert.deepEqual(processErrors, []);
});

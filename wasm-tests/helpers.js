// helpers.js — shared by the node:test suites: real server configs, process
// accounting through /proc, lifecycle event bookkeeping, and guards.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, mkdtempSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import assert from "node:assert/strict";

export const SERVER_EVERYTHING = fileURLToPath(
  new URL("../node_modules/@modelcontextprotocol/server-everything/dist/index.js", import.meta.url));

/**
 * A stdio config for server-everything, tagged through its environment so the
 * test can find the server and every child it starts in /proc. With `tree`,
 * the server runs under `sh`, beside a child `sleep`, to check that whole
 * process trees are closed.
 */
export function everything({ tree = false, record = false } = {}) {
  const tag = randomUUID();
  let config = tree
    ? { command: "sh", args: ["-c", `sleep 300 & exec "${process.execPath}" "${SERVER_EVERYTHING}" stdio`] }
    : { command: process.execPath, args: [SERVER_EVERYTHING, "stdio"] };
  let log = null;
  if (record) {
    log = join(mkdtempSync(join(tmpdir(), "mcpstream-wire-")), "wire.ndjson");
    config = { command: process.execPath, args: [RECORDER, log, "--", config.command, ...config.args] };
  }
  config.env = { MCPSTREAM_TEST_TAG: tag };
  return { config, tag, wire: () => readWire(log) };
}

const RECORDER = fileURLToPath(new URL("./fixtures/recording-stdio.js", import.meta.url));

/**
 * What a recorded server saw (fixtures/recording-stdio.js): every message the
 * client sent, stdin closes, signals, exits — and a few questions about them.
 */
export function readWire(log) {
  if (!log) throw new Error("this server was started without { record: true }");
  const records = existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
  const msgs = records.filter((r) => r.t === "in" && r.msg).map((r) => r.msg);
  return {
    records,
    messages: msgs,
    /** Requests (and notifications) the client sent with this method. */
    sent: (method) => msgs.filter((m) => m.method === method),
    /** notifications/cancelled the client sent, by request id. */
    cancelledIds: () => msgs.filter((m) => m.method === "notifications/cancelled").map((m) => m.params?.requestId),
    stdinEnds: () => records.filter((r) => r.t === "stdin-end").length,
    signals: () => records.filter((r) => r.t === "signal").map((r) => r.sig),
  };
}

/** Live (non-zombie) pids whose environment carries MCPSTREAM_TEST_TAG=tag. */
export function pidsWithTag(tag) {
  const needle = `MCPSTREAM_TEST_TAG=${tag}`;
  const out = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, "latin1");
      if (!env.split("\0").includes(needle)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, "latin1");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state !== "Z") out.push(Number(name));
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** Waits (bounded) until at least `min` tagged processes run; returns them. */
export async function waitForPids(tag, min = 1, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const pids = pidsWithTag(tag);
    if (pids.length >= min) return pids;
    if (Date.now() > end) throw new Error(`no process tagged ${tag} appeared`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Waits (bounded) until no tagged process is left and returns what is left
 * ([] when all are gone). For processes killed by *another* process (a child
 * script's exit hook): they may take a moment to be reaped.
 */
export async function waitGone(tag, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  let pids;
  while ((pids = pidsWithTag(tag)).length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return pids;
}

/** Collects the runtime's lifecycle events. */
export function recordLifecycle(runtime) {
  const events = [];
  runtime.addEventListener("lifecycle", (e) => events.push(e.detail));
  return {
    events,
    of(kind) { return events.filter((e) => e.kind === kind); },
    /** The events recorded from now on. */
    mark() {
      const from = events.length;
      return { events: () => events.slice(from), of: (kind) => events.slice(from).filter((e) => e.kind === kind) };
    },
    /** Asserts every opened session got exactly one close; returns opens. */
    assertEachClosedOnce() {
      const opens = events.filter((e) => e.kind === "session-open");
      for (const o of opens) {
        const closes = events.filter((e) => e.kind === "session-close" && e.sessionId === o.sessionId);
        assert.equal(closes.length, 1, `session ${o.sessionId} (${o.server}, owner ${o.owner}) closed ${closes.length} times`);
      }
      const strays = events.filter((e) => e.kind === "session-close" && !opens.some((o) => o.sessionId === e.sessionId));
      assert.deepEqual(strays, [], "a session-close without its session-open");
      return opens;
    },
  };
}

/** Records unhandled rejections and uncaught exceptions while a test runs. */
export function guardUnhandled(t) {
  const seen = [];
  const onRejection = (e) => seen.push(e);
  const onException = (e) => seen.push(e);
  process.on("unhandledRejection", onRejection);
  process.on("uncaughtException", onException);
  t.after(() => {
    process.off("unhandledRejection", onRejection);
    process.off("uncaughtException", onException);
  });
  return {
    /** Lets pending microtasks and a macrotask run, then asserts nothing escaped. */
    async assertNone() {
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(seen, [], "unhandled rejection or uncaught exception");
    },
  };
}

/** Kills tagged processes left behind by a failing test. */
export function killTagged(tag) {
  for (const pid of pidsWithTag(tag)) { try { process.kill(pid, "SIGKILL"); } catch {} }
}

/** After a test: nothing open, nothing held by the core, nothing escaped (`escaped`: errors seen). */
export async function assertClean(runtime, life, escaped) {
  life.assertEachClosedOnce();
  const stats = runtime.stats();
  assert.equal(stats.streamsOpen, 0, "streamsOpen");
  assert.equal(stats.sessionsOpen, 0, "sessionsOpen");
  assert.equal(stats.liveAllocations, 0, "live allocations in the core");
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(escaped, [], "unhandled rejection or uncaught exception");
}

/**
 * Runs `node <file> ...args` until it exits by itself: its exit code and what it printed.
 * A script still running after `timeoutMs` is killed and the call fails with its stderr
 * (a bound for a hang, not a speed check).
 */
export async function runScript(file, args, timeoutMs = 15000) {
  const child = spawn(process.execPath, [file, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { err += d; });
  const { code, signal } = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${basename(file)} did not exit by itself within ${timeoutMs} ms; stderr: ${err}`));
    }, timeoutMs);
    child.on("exit", (code, signal) => { clearTimeout(timer); resolve({ code, signal }); });
  });
  return { code, signal, out, err };
}

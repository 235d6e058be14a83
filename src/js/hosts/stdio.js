// Host adapter: the stdio transport for MCP servers (Node only).
//
// A server is a child process that speaks newline-delimited JSON-RPC on stdin/stdout. This
// adapter does no protocol work: send() writes one message plus "\n", stdout chunks go to
// onData() exactly as they arrive (the core does the framing), stderr goes to onStderr() as
// UTF-8 text.
//
// What it owns is the process lifecycle (docs/architecture.md §3 rules 4, 5, 7):
//   - the server runs in its own process group (detached: true), so the whole tree it starts
//     can be signalled at once with process.kill(-pgid, ...);
//   - close() ends stdin, waits GRACE_MS, SIGTERMs the group, waits KILL_TIMEOUT_MS, SIGKILLs the
//     group, and resolves only when the leader has exited and no process of the group remains
//     (polled, bounded);
//   - descendants that left the group (setsid, detached) are found in /proc before anything is
//     killed, and again before SIGTERM: by parent pid (descendants of the leader), and by the
//     variable MCPSTREAM_SERVER_TAG the server's environment carries and its descendants
//     inherit (so reparented ones too); they get the group's signals and are waited for;
//   - /proc is read through the thread pool (a read of an exiting process's files can block for
//     tens of ms), a few files at a time; one whole scan runs at a time, shared by every
//     transport polling meanwhile; a poll reads only the few processes it already knows; a
//     scan allocates next to nothing. So closing many servers never blocks the event loop;
//   - a server that exits on its own has the rest of its group killed (bounded) before
//     onClose({ reason: "exited" });
//   - a server that closes its stdout is as good as gone (nothing it says can arrive any more):
//     it is closed as by close() (stdin EOF, grace, SIGTERM, SIGKILL), then
//     onClose({ reason: "exited" }) says it closed its stdout;
//   - onClose fires exactly once per transport, and no hook is called after it;
//   - unref() stops the child and its pipes from keeping the event loop alive; a module-level
//     process "exit" listener SIGKILLs every live group synchronously, so a script that ends
//     while servers are open leaves no processes behind.
//
// POSIX only for the group semantics (Linux, macOS). Elsewhere signals fall back to the leader.

import { close, closeSync, existsSync, open, openSync, read, readdirSync, readFileSync, readSync } from "node:fs";
import { readdir } from "node:fs/promises";

const KILL_TIMEOUT_MS = 2000;
const GRACE_MS = 1000;
/* After SIGKILL the kernel tears the group down in milliseconds; this only bounds the wait
 * for a process stuck in uninterruptible sleep, so close() can never hang. */
const REAP_TIMEOUT_MS = 2000;
/* Once the group is gone, stdout/stderr reach EOF at once; wait this long for the last
 * bytes to be delivered (a process that escaped the group may hold the pipe open). */
const PIPE_DRAIN_MS = 250;
const POLL_MAX_MS = 20;
const STDERR_TAIL_CHARS = 1000;
const LABEL_MAX_CHARS = 120;

/* The process-exit safety net: every transport whose process group may still be alive.
 * Entries leave the set when their group is known to be gone (so a recycled pgid is never
 * signalled). One "exit" listener, installed lazily by the first open(). */
const liveTransports = new Set();
let exitHookInstalled = false;

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", killAllSync);
}

/* Synchronously (the process is going away; blocking does not matter now): a /proc scan to
 * find the descendants that left their groups, then SIGKILL every live tree — twice, because
 * a descendant can leave its group (setsid) between the scan and the group's SIGKILL; the
 * second scan finds it by its server's tag even when its parent is already gone. */
function killAllSync() {
  for (let pass = 0; pass < 2 && liveTransports.size > 0; pass++) {
    const procs = scanProcSync();
    for (const transport of [...liveTransports]) transport.killSync(procs);
  }
}

/* Servers run in their own process groups, so a Ctrl-C in the terminal does not reach
 * them, and a process killed by a signal runs no "exit" listeners. While servers are
 * alive, a listener for the usual termination signals stands in for the default action:
 * if nobody else listens for that signal, it kills every live group synchronously, steps
 * aside and re-raises the signal, so the process still dies by it. An application that
 * handles the signal itself keeps full control (and its exit still runs the exit hook). */
const TERMINATION_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"];
let signalHooksInstalled = false;

function onTerminationSignal(signal) {
  if (process.listenerCount(signal) > 1) return; // the application handles it
  killAllSync();
  setSignalHooks(false);
  process.kill(process.pid, signal);
}

function setSignalHooks(on) {
  if (on === signalHooksInstalled || process.platform === "win32") return;
  signalHooksInstalled = on;
  // prepended: it runs before the application's listeners, while a `once` listener of
  // theirs is still registered and counted
  for (const signal of TERMINATION_SIGNALS) on ? process.prependListener(signal, onTerminationSignal) : process.off(signal, onTerminationSignal);
}

function track(transport) {
  liveTransports.add(transport);
  installExitHook();
  setSignalHooks(true);
}

function untrack(transport) {
  liveTransports.delete(transport);
  if (liveTransports.size === 0) setSignalHooks(false);
}

/* ---- /proc: who is still running -------------------------------------------------------
 * kill(-pgid, 0) also succeeds for zombies (dead processes nobody reaped yet, e.g. under a
 * container init that does not reap); on Linux those are told apart by reading /proc; without
 * /proc (macOS) a group counts as alive as long as kill(-pgid, 0) succeeds, and descendants
 * outside the group are not found. */

const TAG_VAR = "MCPSTREAM_SERVER_TAG";
/* Reading /proc/<pid>/stat or /environ of a process that is exiting can block until the kernel
 * has torn down its memory (tens of ms for a large process): exactly the processes a close
 * looks at. So every read while the event loop runs goes through the thread pool (fs.open,
 * fs.read, fs.close), at most SCAN_SLICE at a time; only the exit hooks read synchronously. */
const SCAN_SLICE = 16;
const MAX_ENVIRON_BYTES = 4 * 1024 * 1024;

/* Parses "pid (comm) state ppid pgrp ... starttime(22) ..." (comm may hold spaces and
 * parentheses) from bytes, allocating only the result: { state, ppid, pgrp, start (clock ticks
 * after boot), tag: null }, or null when malformed. */
function parseStat(buf, n) {
  let i = buf.lastIndexOf(41 /* ) */, n - 1) + 2;
  if (i < 2 || i >= n) return null;
  const p = { state: String.fromCharCode(buf[i]), ppid: 0, pgrp: 0, start: 0, tag: null };
  let field = 0;
  let value = 0;
  for (i += 1; i < n; i++) {
    const c = buf[i];
    if (c === 32 || c === 10) { // field `field` ends (0: state, 1: ppid, 2: pgrp, ... 19: starttime)
      if (field === 1) p.ppid = value;
      else if (field === 2) p.pgrp = value;
      else if (field === 19) {
        p.start = value;
        return p;
      }
      field++;
      value = 0;
    } else if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
    }
  }
  return null;
}

const running = (p) => p.state !== "Z" && p.state !== "X";
const isPid = (name) => name.charCodeAt(0) >= 48 && name.charCodeAt(0) <= 57;
const TAG_KEY = Buffer.from(`\0${TAG_VAR}=`, "latin1");

/* The value of TAG_VAR in environment bytes buf[1..n) (buf[0] is a NUL put there), or null. */
function tagIn(buf, n) {
  const env = buf.subarray(0, n);
  const at = env.indexOf(TAG_KEY);
  if (at < 0) return null;
  const from = at + TAG_KEY.length;
  const end = env.indexOf(0, from);
  return env.toString("latin1", from, end < 0 ? n : end);
}

/* Reads a file into buf from offset `at` until EOF or buf is full: resolves the end offset.
 * Rejects when it cannot be opened (the process is gone, or not ours to read). */
function readInto(path, buf, at) {
  return new Promise((resolve, reject) => {
    open(path, "r", (err, fd) => {
      if (err) return reject(err);
      const next = (n) => {
        if (n === buf.length) return close(fd, () => resolve(n));
        read(fd, buf, n, buf.length - n, null, (e, got) => {
          if (e || got === 0) return close(fd, () => (e ? reject(e) : resolve(n)));
          next(n + got);
        });
      };
      next(at);
    });
  });
}

/* One process (asynchronously), or null when gone. `env`: a buffer to read its environment
 * into, for its tag, when it started at or after `since`. */
async function readProc(pid, env, since) {
  const stat = Buffer.allocUnsafe(1024);
  let p;
  try {
    p = parseStat(stat, await readInto(`/proc/${pid}/stat`, stat, 0));
  } catch {
    return null;
  }
  if (p && env && p.start >= since) {
    try {
      env.buf[0] = 0; // so that the first variable, too, follows a NUL
      let n = await readInto(`/proc/${pid}/environ`, env.buf, 1);
      while (n === env.buf.length && n < MAX_ENVIRON_BYTES) { // a large environment: again, bigger
        env.buf = Buffer.allocUnsafe(env.buf.length * 4);
        env.buf[0] = 0;
        n = await readInto(`/proc/${pid}/environ`, env.buf, 1);
      }
      p.tag = tagIn(env.buf, n);
    } catch {
      // not ours to read
    }
  }
  return p;
}

/* The same, synchronously (exit hooks, the start time of a process just spawned). */
const syncBuffer = Buffer.allocUnsafe(64 * 1024);
function readProcSync(pid, tags, since) {
  let p;
  try {
    const fd = openSync(`/proc/${pid}/stat`, "r");
    try {
      p = parseStat(syncBuffer, readSync(fd, syncBuffer, 0, syncBuffer.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
  if (p && tags && p.start >= since) {
    try {
      const env = readFileSync(`/proc/${pid}/environ`);
      syncBuffer[0] = 0;
      const n = 1 + env.copy(syncBuffer, 1);
      p.tag = tagIn(syncBuffer, n);
    } catch {
      // not ours to read
    }
  }
  return p;
}

/* Every process started since the oldest live server: pid → { state, ppid, pgrp, start, tag },
 * or null without /proc. `tags`: also read environments for TAG_VAR (snapshots before a kill).
 * Never rejects. */
const envBuffers = Array.from({ length: SCAN_SLICE }, () => ({ buf: null }));
async function scanProc(tags) {
  let names;
  try {
    names = (await readdir("/proc")).filter(isPid);
  } catch {
    return null;
  }
  const since = oldestServerStart();
  const procs = new Map();
  // SCAN_SLICE readers, each taking the next pid as soon as it is done with one (a slow read
  // holds up one reader, not a whole slice)
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(SCAN_SLICE, names.length) }, async (_, k) => {
    const env = tags ? envBuffers[k] : null;
    if (env) env.buf ??= Buffer.allocUnsafe(64 * 1024);
    while (next < names.length) {
      const pid = Number(names[next++]);
      const p = await readProc(pid, env, since);
      if (p && p.start >= since) procs.set(pid, p); // older ones cannot be of a server's tree
    }
  }));
  return procs;
}

function scanProcSync() {
  let names;
  try {
    names = readdirSync("/proc");
  } catch {
    return null;
  }
  const since = oldestServerStart();
  const procs = new Map();
  for (const name of names) {
    if (!isPid(name)) continue;
    const p = readProcSync(Number(name), true, since);
    if (p && p.start >= since) procs.set(Number(name), p);
  }
  return procs;
}

/* The start time (clock ticks after boot) of the oldest live server; 0 when unknown. */
function oldestServerStart() {
  let oldest = Infinity;
  for (const t of liveTransports) oldest = Math.min(oldest, t.startTime ?? 0);
  return Number.isFinite(oldest) ? oldest : 0;
}

/* A scan that started after the call (so it sees every signal sent before), shared by all
 * callers that come while one runs: at most one scan runs, and one waits. Only one tagged scan
 * runs at a time, so envBuffers are never shared. */
function sharedScan(tags) {
  let current = null;
  let next = null;
  const fresh = () => {
    if (!current) {
      current = scanProc(tags).finally(() => { current = null; });
      return current;
    }
    next ??= current.then(() => { next = null; return fresh(); });
    return next;
  };
  return fresh;
}
const freshScan = sharedScan(false);
const freshTaggedScan = sharedScan(true);

/* The running processes of a server's tree that are outside its group `pgid`: descendants of
 * its leader by parent pid, and processes carrying its tag. pid → start time. */
function escapedDescendants(procs, leader, pgid, tag) {
  const children = new Map();
  for (const [pid, p] of procs) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(pid);
  }
  const tree = new Set([leader]);
  const stack = [leader];
  while (stack.length) {
    for (const child of children.get(stack.pop()) ?? []) {
      if (!tree.has(child)) {
        tree.add(child);
        stack.push(child);
      }
    }
  }
  for (const [pid, p] of procs) if (p.tag === tag) tree.add(pid);
  const out = new Map();
  for (const pid of tree) {
    const p = procs.get(pid);
    if (p && p.pgrp !== pgid && running(p) && pid !== process.pid) out.set(pid, p.start);
  }
  return out;
}

/* Removes from `pids` (pid → start time, null: unknown) every process that is gone, a zombie,
 * or whose pid was recycled (another start time). kill(pid, 0) first; /proc only for those
 * that answer. */
async function dropGone(pids) {
  await Promise.all([...pids].map(async ([pid, start]) => {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if (err.code === "ESRCH") pids.delete(pid);
      return;
    }
    if (start === null) return;
    const p = await readProc(pid, null, 0);
    if (!p || p.start !== start || !running(p)) pids.delete(pid);
  }));
}

/* Start time of a running process, or null when gone or a zombie (synchronous: exit hooks). */
function startOfSync(pid) {
  const p = readProcSync(pid, false, 0);
  return p && running(p) ? p.start : null;
}

function describeCommand(config) {
  const words = [String(config?.command), ...(Array.isArray(config?.args) ? config.args.map(String) : [])];
  const label = words.join(" ");
  return label.length > LABEL_MAX_CHARS ? `${label.slice(0, LABEL_MAX_CHARS - 1)}…` : label;
}

/* How messages name a server: its name in the config and its command line. */
function nameServer(name, config) {
  const command = describeCommand(config);
  return name ? `"${name}" (${command})` : `"${command}"`;
}

function openFailedMessage(name, config, err) {
  const label = nameServer(name, config);
  const command = String(config?.command);
  const code = err?.code;
  if (code === "ENOENT" && config?.cwd != null && !existsSync(config.cwd)) {
    return `Could not start MCP server ${label}: its working directory "${config.cwd}" does not exist. ` +
      `Check the "cwd" in the server's config.`;
  }
  if (code === "ENOENT") {
    return `Could not start MCP server ${label}: command "${command}" was not found (spawn ENOENT). ` +
      `Check that it is installed and on PATH, or give its absolute path as "command".`;
  }
  if (code === "EACCES") {
    return `Could not start MCP server ${label}: "${command}" is not executable (spawn EACCES). ` +
      `Check the file's permissions, or run it through its interpreter (e.g. "node").`;
  }
  const detail = err?.message ?? String(err);
  return `Could not start MCP server ${label}: ${detail}. ` +
    `Check the server's "command", "args", "env" and "cwd".`;
}

/**
 * @typedef {{ command: string, args?: string[], env?: Record<string, string>, cwd?: string }} StdioConfig
 * @typedef {{ reason: "closed" | "exited" | "open-failed", message: string,
 *             exitCode: number | null, signal: string | null,
 *             cleanupError?: string | null }} CloseInfo  (cleanupError: processes of the group could not be confirmed gone)
 * @typedef {{ onOpen(): void, onData(bytes: Uint8Array): void, onStderr(text: string): void,
 *             onClose(info: CloseInfo): void }} StdioHooks
 */

export class StdioTransport {
  /** @type {StdioConfig} */ #config;
  /** @type {string | null} */ #name;
  /** @type {StdioHooks} */ #hooks;
  /** @type {import("node:child_process").ChildProcess | null} */ #child = null;
  /** @type {number | null} */ #pid = null;
  /** "new" → "opening" → "open" → "closing" → "closed"; "closing" is entered synchronously by
   * close(), killSync() or the leader's unexpected exit, before any await. */
  #state = "new";
  #refed = true;
  /** @type {{ code: number | null, signal: string | null } | null} */ #leaderExit = null;
  /** Set once the group is known to be empty: from then on it is never signalled again. */
  #groupGone = false;
  /** stdin is corked until the end of the tick (send). */
  #corked = false;
  /** Its tag in the environment of its processes (TAG_VAR). */
  #tag = globalThis.crypto.randomUUID();
  /** Descendants outside the group, still to be ended: pid → start time. */
  #escaped = new Map();
  /** Processes of the group last seen running (from /proc): pid → start time. */
  #members = new Map();
  /** The leader's start time (clock ticks after boot, from /proc), 0 when unknown. */
  #startTime = 0;
  #stdoutClosed = false;
  #stderrClosed = false;
  /** @type {Set<() => void>} pauses of #waitFor to end early (#poke) */
  #wakers = new Set();
  #stderrTail = "";
  #sentTerm = false;
  #sentKill = false;
  #killedSync = false;
  /** @type {Promise<void> | null} */ #teardown = null;
  /** @type {Promise<void> | null} */ #closePromise = null;
  /** Resolves right after onClose fired. */
  #done;
  #resolveDone;

  /**
   * @param {StdioConfig} config
   * @param {StdioHooks} hooks
   * @param {{ name?: string }} [options] name: the server's name in the config, for messages
   */
  constructor(config, hooks, options = {}) {
    this.#name = typeof options?.name === "string" ? options.name : null;
    this.#config = config;
    this.#hooks = hooks;
    this.#done = new Promise((resolve) => { this.#resolveDone = resolve; });
  }

  /** Leader pid (= process group id) once spawned, else null. Kept after close. */
  get pid() {
    return this.#pid;
  }

  /** When the server started, in clock ticks after boot (/proc), or 0 when unknown. */
  get startTime() {
    return this.#startTime;
  }

  /** True once onClose has fired. */
  get closed() {
    return this.#state === "closed";
  }

  /**
   * Spawn the server. onOpen() follows once it is running (not if close() began first); a
   * failure to start is reported as onClose({ reason: "open-failed" }), always asynchronously.
   * Calling open() again, or after close(), does nothing. Never throws.
   */
  open() {
    if (this.#state !== "new") return;
    this.#state = "opening";
    const config = this.#config;
    let child;
    try {
      // node:child_process is loaded at the first spawn, not at import (~9 ms of a cold start)
      child = process.getBuiltinModule("node:child_process").spawn(config.command, config.args ?? [], {
        cwd: config.cwd,
        env: { ...process.env, ...config.env, [TAG_VAR]: this.#tag },
        stdio: ["pipe", "pipe", "pipe"],
        detached: true,
        windowsHide: true,
      });
    } catch (err) {
      // Invalid arguments (not a string, a NUL byte, E2BIG, ...) throw synchronously in Node;
      // report them through the same asynchronous path as ENOENT.
      queueMicrotask(() => this.#openFailed(err));
      return;
    }
    this.#child = child;
    // Listeners on every stream before anything can emit: an 'error' without a listener
    // (EPIPE on stdin, a failed kill) would be an uncaught exception.
    child.on("error", (err) => {
      if (this.#pid === null) this.#openFailed(err);
    });
    child.stdin?.on("error", () => {});
    child.stdout?.on("error", () => {});
    child.stderr?.on("error", () => {});
    if (child.pid === undefined) return; // the 'error' event follows on the next tick

    this.#pid = child.pid;
    this.#startTime = startOfSync(child.pid) ?? 0;
    track(this);
    child.on("spawn", () => {
      if (this.#state !== "opening") return; // close() or killSync() came first
      this.#state = "open";
      this.#call("onOpen");
    });
    child.on("exit", (code, signal) => this.#onLeaderExit(code, signal));
    child.stdout.on("data", (chunk) => {
      if (this.#state === "closed") return;
      this.#call("onData", new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
    child.stdout.on("close", () => {
      this.#stdoutClosed = true;
      this.#poke();
      // End of stdout ends the session, whether or not the process goes on running.
      if (this.#state === "opening" || this.#state === "open") this.#startTeardown("stdout-closed");
    });
    child.stderr.setEncoding("utf8"); // a StringDecoder: characters split across chunks stay whole
    child.stderr.on("data", (text) => {
      this.#stderrTail = (this.#stderrTail + text).slice(-STDERR_TAIL_CHARS);
      if (this.#state === "closed") return;
      this.#call("onStderr", text);
    });
    child.stderr.on("close", () => { this.#stderrClosed = true; this.#poke(); });
    if (!this.#refed) this.#applyRef();
  }

  /**
   * Write one JSON-RPC message; "\n" is appended. Bytes are written as given, not copied: pass
   * a buffer nobody changes afterwards (the runtime passes its own copy of an effect's payload,
   * never a view of wasm memory). Ignored before open(), after close started, or once the server
   * exited; a write error (EPIPE) is swallowed: the exit is reported by onClose.
   * @param {Uint8Array | string} bytes
   */
  send(bytes) {
    if (this.#state !== "opening" && this.#state !== "open") return;
    if (this.#pid === null || this.#leaderExit !== null) return;
    const stdin = this.#child?.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded) return;
    try {
      // Corked until the end of this tick: the message and its "\n" (not copied to append it),
      // and every other message sent in the same tick (16 calls started together, or answered
      // by one read), go out in one writev — one wake-up of the server, not one per message.
      if (!this.#corked) {
        this.#corked = true;
        stdin.cork();
        process.nextTick(() => {
          this.#corked = false;
          stdin.uncork();
        });
      }
      stdin.write(bytes);
      stdin.write("\n");
    } catch {
      // Writing to a stream that was destroyed between the checks above; the 'error'
      // listener takes the asynchronous variant.
    }
  }

  /**
   * Close the server: end stdin → wait GRACE_MS → SIGTERM the group → wait KILL_TIMEOUT_MS →
   * SIGKILL the group → resolve when the leader has exited and the group is empty (bounded).
   * onClose fires exactly once before the promise resolves; if the server already exited,
   * failed to open or is being torn down, this resolves when that teardown is done, without
   * a second onClose. Idempotent: every call returns the same promise. Never rejects.
   * @returns {Promise<void>}
   */
  close() {
    if (this.#closePromise) return this.#closePromise;
    if (this.#state === "new") {
      // Nothing was spawned; the transport is closed for good (a later open() is a no-op).
      this.#finish({ reason: "closed", message: "The MCP server transport was closed before it was opened.",
        exitCode: null, signal: null });
    } else if (this.#state === "opening" || this.#state === "open") {
      if (this.#pid !== null) this.#startTeardown("closed");
      // else: the spawn failed and open-failed is on its way; wait for it.
    }
    this.#closePromise = this.#done;
    return this.#closePromise;
  }

  /**
   * SIGKILL the whole process group now, synchronously (process exit, runtime dispose). If the
   * transport was open, a teardown starts as for close() (reason "closed"); it completes as
   * soon as the group is reaped, and close() returns its promise.
   */
  killSync(procs = null) {
    if (this.#pid === null) return;
    if (procs) this.#addEscaped(procs);
    if (this.#groupGone && this.#escaped.size === 0) return;
    this.#killedSync = true;
    this.#signal("SIGKILL", true);
    if (this.#state === "opening" || this.#state === "open") this.#startTeardown("closed");
  }

  /** Let the child and its pipes keep the event loop alive (the default). */
  ref() {
    this.#refed = true;
    this.#applyRef();
  }

  /** Stop the child and its pipes from keeping the event loop alive. A running close() still
   * does: its timers are ref'd. */
  unref() {
    this.#refed = false;
    this.#applyRef();
  }

  #applyRef() {
    const child = this.#child;
    if (!child || this.#pid === null) return;
    const method = this.#refed ? "ref" : "unref";
    child[method]();
    for (const stream of [child.stdin, child.stdout, child.stderr]) {
      if (stream && typeof stream[method] === "function") stream[method]();
    }
  }

  #onLeaderExit(code, signal) {
    this.#leaderExit = { code, signal };
    this.#poke();
    if (this.#state === "opening" || this.#state === "open") this.#startTeardown("exited");
    // In "closing", the running teardown sees #leaderExit on its next poll.
  }

  /** Enter "closing" (synchronously) and run the one teardown. */
  #startTeardown(reason) {
    if (this.#teardown) return;
    this.#state = "closing";
    this.#teardown = this.#runTeardown(reason);
  }

  async #runTeardown(reason) {
    try {
      await this.#snapshot(); // the tree as it is before anything is stopped
      if (reason === "closed" || reason === "stdout-closed") {
        this.#endStdin();
        if (this.#leaderExit === null) await this.#waitFor(() => this.#leaderExit !== null, GRACE_MS);
      }
      // Leader exited or ignored stdin EOF: terminate what is left of the tree.
      if (!(await this.#isGone())) {
        await this.#snapshot(); // and what it started meanwhile
        this.#sentTerm = true;
        this.#signal("SIGTERM");
        await this.#waitFor(() => this.#isGone(), KILL_TIMEOUT_MS);
      }
      if (!(await this.#isGone())) {
        this.#sentKill = true;
        this.#signal("SIGKILL");
        await this.#waitFor(() => this.#isGone(), REAP_TIMEOUT_MS);
      }
      await this.#refresh(); // the group may be gone although the leader's exit never came
      await this.#waitFor(() => this.#stdoutClosed && this.#stderrClosed, PIPE_DRAIN_MS);
    } catch {
      // Nothing above is expected to throw; whatever happens, onClose still fires once.
    }
    this.#release();
    this.#finish(this.#closeInfo(reason));
  }

  /** Finds the descendants outside the group (asynchronously; shared with other transports). */
  async #snapshot() {
    if (this.#pid === null || this.#killedSync) return;
    const procs = await freshTaggedScan();
    if (procs) this.#addEscaped(procs);
  }

  #addEscaped(procs) {
    for (const [pid, p] of procs) if (p.pgrp === this.#pid && running(p)) this.#members.set(pid, p.start);
    for (const [pid, start] of escapedDescendants(procs, this.#pid, this.#pid, this.#tag)) {
      if (this.#escaped.has(pid)) continue;
      this.#escaped.set(pid, start);
      track(this); // until they are gone too
    }
  }

  /** Leader reaped (its 'exit' event arrived), no process of its group and none of the
   * descendants that left it remain. */
  async #isGone() {
    if (this.#groupGone && this.#escaped.size === 0) return true;
    if (this.#leaderExit === null) return false;
    await this.#refresh();
    return this.#groupGone && this.#escaped.size === 0;
  }

  /** Updates what is known to be gone. kill(pid, 0) first; only what answers is looked up in
   * /proc (it may be a zombie): the known processes one by one, and a whole scan (shared with
   * every transport polling meanwhile) only when the group still answers although none of its
   * known members runs (an unreaped zombie, or a process started after the last look). */
  async #refresh() {
    if (this.#pid === null) return;
    if (!this.#groupGone) {
      let answers = true;
      try {
        process.kill(-this.#pid, 0);
      } catch (err) {
        answers = err.code !== "ESRCH"; // EPERM: something is there
      }
      if (!answers) {
        this.#groupGone = true;
      } else {
        await dropGone(this.#members);
        if (this.#members.size === 0) {
          const procs = await freshScan();
          if (procs) {
            for (const [pid, p] of procs) if (p.pgrp === this.#pid && running(p)) this.#members.set(pid, p.start);
            if (this.#members.size === 0) this.#groupGone = true; // zombies only
          } else if (this.#leaderExit !== null) {
            this.#members.set(this.#pid, null); // no /proc: the group counts as alive while it answers
          }
        }
      }
    }
    await dropGone(this.#escaped);
    if (this.#groupGone && this.#escaped.size === 0) untrack(this);
  }

  /** Polls `condition` (2, 4, 8 … 20 ms apart) until it holds or `ms` have passed; the
   * events a teardown waits for (the leader's exit, a pipe's close) end a pause at once. */
  async #waitFor(condition, ms) {
    const deadline = Date.now() + ms;
    let step = 2;
    while (!(await condition())) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise((resolve) => {
        const wake = () => { clearTimeout(timer); this.#wakers.delete(wake); resolve(); };
        // a ref'd timer: while a close runs it keeps the event loop alive even when the
        // child and its pipes are unref'd
        const timer = setTimeout(wake, Math.min(step, left));
        this.#wakers.add(wake);
      });
      step = Math.min(step * 2, POLL_MAX_MS);
    }
    return true;
  }

  /** Ends the pauses of #waitFor: something it may be waiting for happened. */
  #poke() { for (const wake of [...this.#wakers]) wake(); }

  /** Signals the group and the escaped descendants. Their start times were checked by the
   * refresh just before (a pid recycled in between is not ours: then it is not signalled);
   * `verifySync` checks them again now, synchronously (exit hooks). */
  #signal(sig, verifySync = false) {
    if (this.#pid === null) return;
    for (const [pid, start] of this.#escaped) {
      if (verifySync && startOfSync(pid) !== start) {
        this.#escaped.delete(pid); // gone, or its pid was recycled: not ours any more
        continue;
      }
      try { process.kill(pid, sig); } catch { /* gone meanwhile */ }
    }
    if (this.#groupGone) return;
    try {
      process.kill(-this.#pid, sig);
    } catch (err) {
      if (err.code === "ESRCH") return;
      // No process groups here (Windows) or not permitted: signal at least the leader.
      try { this.#child?.kill(sig); } catch { /* already gone */ }
    }
  }

  #endStdin() {
    const stdin = this.#child?.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded) return;
    try { stdin.end(); } catch { /* the 'error' listener takes EPIPE */ }
  }

  /** Drop the pipes; their error listeners stay, so nothing late can go unhandled. */
  #release() {
    const child = this.#child;
    if (!child) return;
    for (const stream of [child.stdin, child.stdout, child.stderr]) {
      if (stream && !stream.destroyed) stream.destroy();
    }
    if (this.#groupGone && this.#escaped.size === 0) untrack(this);
  }

  #closeInfo(reason) {
    // Its stdout closed, then it ended before any signal: an ordinary exit (an exit closes
    // stdout first), whatever the order the two events came in.
    if (reason === "stdout-closed" && !this.#sentTerm && !this.#killedSync) reason = "exited";
    const label = nameServer(this.#name, this.#config);
    const exit = this.#leaderExit;
    const exitCode = exit?.code ?? null;
    const signal = exit?.signal ?? null;
    const how = exit === null ? "did not exit (it may still be running)"
      : signal !== null ? `was terminated by ${signal}` : `exited with code ${exitCode}`;
    const escaped = this.#escaped.size === 0 ? "" :
      ` Processes it started outside its group (pid ${[...this.#escaped.keys()].join(", ")}) could not be confirmed gone.`;
    const leftover = (this.#groupGone ? "" :
      " Some processes of its group could not be confirmed gone; check for leftover processes.") + escaped;
    const tail = this.#stderrTail.trim();
    const stderr = tail ? ` Its last stderr output: ${JSON.stringify(tail.slice(-300))}.` : "";
    if (reason === "exited") {
      return { reason, exitCode, signal, cleanupError: leftover ? leftover.trim() : null, message:
        `MCP server ${label} ${how} on its own, before the client closed it.${stderr} ` +
        `Check the server's command, arguments and environment.${leftover}` };
    }
    let steps = "after its stdin was closed";
    if (this.#killedSync) steps = "after SIGKILL";
    else if (this.#sentKill) steps = `after SIGKILL (it ignored stdin EOF and SIGTERM for ${KILL_TIMEOUT_MS} ms)`;
    else if (this.#sentTerm) steps = "after SIGTERM";
    if (reason === "stdout-closed") {
      return { reason: "exited", exitCode, signal, cleanupError: leftover ? leftover.trim() : null, message:
        `MCP server ${label} closed its stdout but kept running, so nothing it sends can arrive any more; ` +
        `it was stopped: it ${how} ${steps}.${stderr} Check the server's logs.${leftover}` };
    }
    return { reason, exitCode, signal, cleanupError: leftover ? leftover.trim() : null,
             message: `MCP server ${label} closed: it ${how} ${steps}.${leftover}` };
  }

  #openFailed(err) {
    if (this.#state === "closed") return;
    this.#release();
    this.#finish({ reason: "open-failed", message: openFailedMessage(this.#name, this.#config, err), exitCode: null, signal: null });
  }

  /** The one place onClose is called: exactly once, then no hook is called again. */
  #finish(info) {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#call("onClose", info);
    this.#resolveDone();
  }

  /** Call a hook; a throwing hook is the caller's bug and is reported like an event-listener
   * error (rethrown from a microtask), never allowed to break the transport's own state. */
  #call(name, ...args) {
    const hook = this.#hooks?.[name];
    if (typeof hook !== "function") return;
    try {
      hook.apply(this.#hooks, args);
    } catch (err) {
      queueMicrotask(() => { throw err; });
    }
  }
}

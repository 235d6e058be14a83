// Host adapter: the stdio transport for MCP servers (Node only).
//
// A server is a child process that speaks newline-delimited JSON-RPC on stdin/stdout. This
// adapter does no protocol work: send() writes one message plus "\n", stdout chunks go to
// onData() exactly as they arrive (the core does the framing), stderr goes to onStderr() as
// UTF-8 text.
//
// What it owns is the process lifecycle (docs/architecture.md §3 rules 4, 5, 7): the server's
// process tree. On Linux (/proc lists each thread's children) that tree is tracked in /proc:
//   - the server runs in the client's process group (not detached: a new group or session
//     changes how the scheduler treats the server, and a terminal's Ctrl-C reaches it);
//   - when a close begins, its descendants are found by walking /proc/<pid>/task/*/children
//     from the server (pid and start time of each, so that a recycled pid is never mistaken
//     for one of them), before anything is stopped, and again before every signal;
//   - a descendant whose parent exited was reparented to the namespace's init or to a
//     subreaper among this process's ancestors: it is found among their children by the
//     variable MCPSTREAM_SERVER_TAG that the server's environment carries and its descendants
//     inherit (an orphan scan: a few children lists, not a scan of every process);
//   - close() ends stdin, waits GRACE_MS, SIGTERMs the server and every tracked process, waits
//     KILL_TIMEOUT_MS, SIGKILLs them, and resolves only when the server was reaped, every
//     tracked process is gone (or a zombie) and an orphan scan made after that finds nothing
//     of it left (polled, bounded). A server that exits at once on stdin EOF and leaves nothing
//     behind costs one children walk before and one orphan scan after its exit;
//   - /proc/<pid>/stat and /environ are read through the thread pool (a read of an exiting
//     process's files can block for tens of ms: its memory is torn down by the last reader),
//     children lists synchronously (they come from the kernel's task list alone and never
//     wait); the start time and tag of a reaper's child are read once, for every transport
//     (only whether it still runs is read again). So closing many servers never blocks the
//     event loop;
//   - a server that exits on its own has the rest of its tree killed (bounded) before
//     onClose({ reason: "exited" });
//   - a server that closes its stdout is as good as gone (nothing it says can arrive any more):
//     it is closed as by close() (stdin EOF, grace, SIGTERM, SIGKILL), then
//     onClose({ reason: "exited" }) says it closed its stdout;
//   - onClose fires exactly once per transport, and no hook is called after it;
//   - unref() stops the child and its pipes from keeping the event loop alive; a module-level
//     process "exit" listener SIGKILLs every live tree synchronously, so a script that ends
//     while servers are open leaves no processes behind.
//
// Without that /proc (macOS, Windows, a Linux kernel built without CONFIG_PROC_CHILDREN, or
// MCPSTREAM_PROCESS_GROUPS=1 in the environment, for tests) the server runs in a process group
// of its own (detached) and the group is signalled and polled instead (kill(-pgid, ...)):
// descendants that leave the group are not covered. Where there are no process groups
// (Windows), signals go to the server alone.

import { close, closeSync, existsSync, open, openSync, read, readdirSync, readFileSync, readSync } from "node:fs";

const KILL_TIMEOUT_MS = 2000;
const GRACE_MS = 1000;
/* After SIGKILL the kernel tears the tree down in milliseconds; this only bounds the wait
 * for a process stuck in uninterruptible sleep, so close() can never hang. */
const REAP_TIMEOUT_MS = 2000;
/* Once the tree is gone, stdout/stderr reach EOF at once; wait this long for the last
 * bytes to be delivered (a process that escaped may hold the pipe open). */
const PIPE_DRAIN_MS = 250;
const POLL_MAX_MS = 20;
const STDERR_TAIL_CHARS = 1000;
const LABEL_MAX_CHARS = 120;

/* Whether the children of a thread can be read from /proc (tree mode, above), else process
 * groups. Decided once, at the first spawn (nothing is read at import). */
let treeModeKnown = null;
function treeMode() {
  if (treeModeKnown === null) {
    treeModeKnown = process.env.MCPSTREAM_PROCESS_GROUPS !== "1" && (() => {
      try {
        readFileSync(`/proc/${process.pid}/task/${process.pid}/children`);
        return true;
      } catch {
        return false;
      }
    })();
  }
  return treeModeKnown;
}

/* The process-exit safety net: every transport whose process tree may still be alive.
 * Entries leave the set when their tree is known to be gone (so a recycled pid is never
 * signalled). One "exit" listener, installed lazily by the first open(). */
const liveTransports = new Set();
let exitHookInstalled = false;

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", killAllSync);
}

/* Synchronously (the process is going away; blocking does not matter now): every live tree
 * walked and SIGKILLed, with the orphans an orphan scan finds — twice, because a process can
 * be orphaned (its parent killed by the first pass) before it is signalled; the second scan
 * finds it among init's children by its server's tag. */
function killAllSync() {
  for (let pass = 0; pass < 2 && liveTransports.size > 0; pass++) {
    const orphans = treeMode() ? scanOrphansSync() : null;
    for (const transport of [...liveTransports]) transport.killSync(orphans);
  }
}

/* A process killed by a signal runs no "exit" listeners, and a signal sent to this process
 * alone (kill <pid>, a service manager) does not reach the servers (a terminal's Ctrl-C
 * reaches the whole foreground process group: servers in tree mode too). While servers are
 * alive, a listener for the usual termination signals stands in for the default action:
 * if nobody else listens for that signal, it kills every live tree synchronously, steps
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
 * kill(pid, 0) also succeeds for zombies (dead processes nobody reaped yet, e.g. under a
 * container init that does not reap); those are told apart by reading /proc/<pid>/stat. */

const TAG_VAR = "MCPSTREAM_SERVER_TAG";
/* Reading /proc/<pid>/stat or /environ of a process that is exiting can block until the kernel
 * has torn down its memory (tens of ms for a large process: the last reader holding its memory
 * tears it down): exactly the processes a close looks at. So every such read while the event
 * loop runs goes through the thread pool (fs.open, fs.read, fs.close); only the exit hooks
 * read synchronously. */
const MAX_ENVIRON_BYTES = 4 * 1024 * 1024;

/* Parses "pid (comm) state ppid pgrp ... starttime(22) ..." (comm may hold spaces and
 * parentheses) from bytes, allocating only the result: { state, ppid, start (clock ticks
 * after boot), tag: null }, or null when malformed. */
function parseStat(buf, n) {
  let i = buf.lastIndexOf(41 /* ) */, n - 1) + 2;
  if (i < 2 || i >= n) return null;
  const p = { state: String.fromCharCode(buf[i]), ppid: 0, start: 0, tag: null };
  let field = 0;
  let value = 0;
  for (i += 1; i < n; i++) {
    const c = buf[i];
    if (c === 32 || c === 10) { // field `field` ends (0: state, 1: ppid, 2: pgrp, ... 19: starttime)
      if (field === 1) p.ppid = value;
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

/* Reads a /proc file into buf from offset `at` until its end or buf is full: resolves the end
 * offset. Such a file gives all it has (up to the size asked) in one read, so a short read is
 * its end: open, one read, close — each a trip through the thread pool, which on a busy machine
 * costs more than the read. Rejects when it cannot be opened (gone, or not ours to read). */
function readInto(path, buf, at) {
  return new Promise((resolve, reject) => {
    open(path, "r", (err, fd) => {
      if (err) return reject(err);
      const next = (n) => {
        if (n === buf.length) return close(fd, () => resolve(n));
        read(fd, buf, n, buf.length - n, null, (e, got) => {
          if (e || got < buf.length - n) return close(fd, () => (e ? reject(e) : resolve(n + got)));
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

/* The buffer of the synchronous /proc reads below (one at a time: each is done with it before
 * it returns). */
const syncBuffer = Buffer.allocUnsafe(64 * 1024);

/* A small /proc file as latin1 text, synchronously (throws when it is gone): open, read into
 * the shared buffer until the end, close. A quarter of readFileSync's cost (which also fstat()s
 * and allocates a buffer per call); these reads are on the close path. A file larger than the
 * buffer is read again whole by readFileSync. */
function readProcText(path) {
  const fd = openSync(path, "r");
  let n = 0;
  try {
    for (let got = 1; got > 0 && n < syncBuffer.length; n += got) {
      got = readSync(fd, syncBuffer, n, syncBuffer.length - n, null);
    }
  } finally {
    closeSync(fd);
  }
  return n < syncBuffer.length ? syncBuffer.latin1Slice(0, n) : readFileSync(path, "latin1");
}

/* The same, synchronously (exit hooks, the start time of a process just spawned). */
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

/* The children of every thread of process `pid` (a child belongs to the thread that forked
 * it), from /proc/<pid>/task/<tid>/children, or of its main thread only; [] when it is gone.
 * Synchronous on purpose: these lists come from the kernel's task list alone, never from the
 * process's memory, so a read does not wait for an exiting process (unlike stat and environ),
 * and costs microseconds. But the /proc entries it makes for each thread cost that process
 * about 5 ms more to exit (measured on Linux 6.18 with a Node server: stdin EOF → exit 10 → 16 ms
 * at the median): a server about to exit on stdin EOF is read by its main thread only. */
function childrenOf(pid, everyThread = true) {
  let tids;
  try {
    tids = everyThread ? readdirSync(`/proc/${pid}/task`) : [String(pid)];
  } catch {
    return [];
  }
  const out = [];
  for (const tid of tids) {
    let text;
    try {
      text = readProcText(`/proc/${pid}/task/${tid}/children`);
    } catch {
      continue; // the thread ended meanwhile
    }
    for (const word of text.split(" ")) if (word.length > 0 && word !== "\n") out.push(Number(word));
  }
  return out;
}

/* Where an orphan goes: when a process exits, Linux hands its children to another thread of
 * that process, else to the nearest ancestor marked as a subreaper, else to the init of the pid
 * namespace — to its first thread that is not exiting: its main thread. A server's tree has
 * this process and this process's ancestors above it, so its orphans become children of
 * pid 1 or of one of those ancestors (or of a subreaper inside the tree, which the walk
 * covers). The chain is read once: it can only lose members later (an ancestor that exits
 * hands this process to one further up, already listed). */
let reaperChain = null;
function reapers() {
  if (reaperChain) return reaperChain;
  reaperChain = [1];
  let pid = process.ppid;
  for (let depth = 0; depth < 64 && pid > 1; depth++) {
    reaperChain.push(pid);
    const p = readProcSync(pid, false, 0);
    if (!p) break;
    pid = p.ppid;
  }
  return reaperChain;
}

/* The children of the possible reapers (their main threads' lists: synchronous, as above). */
function reaperChildren() {
  const out = [];
  for (const reaper of reapers()) {
    let text;
    try {
      text = readProcText(`/proc/${reaper}/task/${reaper}/children`);
    } catch {
      continue; // gone
    }
    for (const word of text.split(" ")) if (word.length > 0 && Number(word) !== process.pid) out.push(Number(word));
  }
  return out;
}

/* Forks since boot (/proc/stat "processes": every pid handed out, threads too), or -1. A pid is
 * handed out again only after the allocator has gone round every pid (pid_max of them, 32768
 * on many systems): while fewer than half that many forks happened, a pid seen alive before
 * is still the same process if it is alive now (and the rest of the pids were never all in
 * use at once). */
let pidMaxKnown = 0;
function pidMax() {
  if (pidMaxKnown === 0) {
    try {
      pidMaxKnown = Number(readFileSync("/proc/sys/kernel/pid_max", "latin1")) || 32768;
    } catch {
      pidMaxKnown = 32768;
    }
  }
  return pidMaxKnown;
}
function forkCount() {
  try {
    const m = /\nprocesses (\d+)/.exec(readProcText("/proc/stat"));
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}

/* What was read of the reapers' children (stat and environ: start time and tag), shared by
 * every transport, each read once: pid → { forks (the fork count then), read (a promise of the
 * process, null when gone) }. Valid while fewer than pid_max/2 forks happened since (so the
 * pid is still that process if it is alive); entries of pids no longer among the reapers'
 * children are dropped. */
const orphanReads = new Map();
function readOrphan(pid, forks) {
  const known = orphanReads.get(pid);
  if (known && forks >= 0 && forks - known.forks < pidMax() / 2) return known.read;
  const entry = { forks, read: readProc(pid, { buf: Buffer.allocUnsafe(16 * 1024) }, 0) };
  orphanReads.set(pid, entry);
  return entry.read;
}
function forgetOrphanReads(current) {
  if (orphanReads.size <= current.length) return;
  const keep = new Set(current);
  for (const pid of orphanReads.keys()) if (!keep.has(pid)) orphanReads.delete(pid);
}

/* Synchronously (exit hooks): the reapers' children started since the oldest live server and
 * carrying a tag: pid → { state, ppid, start, tag }. */
function scanOrphansSync() {
  const since = oldestServerStart();
  const procs = new Map();
  for (const pid of reaperChildren()) {
    const p = readProcSync(pid, true, since);
    if (p && p.start >= since && p.tag !== null) procs.set(pid, p);
  }
  return procs;
}

/* The start time (clock ticks after boot) of the oldest live server; 0 when unknown. */
function oldestServerStart() {
  let oldest = Infinity;
  for (const t of liveTransports) oldest = Math.min(oldest, t.startTime ?? 0);
  return Number.isFinite(oldest) ? oldest : 0;
}

/* Removes from `pids` (pid → start time) every process that is gone, a zombie, or whose pid
 * was recycled (another start time). kill(pid, 0) first; /proc only for those that answer. */
async function dropGone(pids) {
  await Promise.all([...pids].map(async ([pid, start]) => {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if (err.code === "ESRCH") pids.delete(pid);
      return;
    }
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
 *             cleanupError?: string | null }} CloseInfo  (cleanupError: processes of its tree could not be confirmed gone)
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
  /** Set once the whole tree (group mode: the group) is known to be gone: from then on
   * nothing of it is signalled again. */
  #treeGone = false;
  /** stdin is corked until the end of the tick (send). */
  #corked = false;
  /** Its tag in the environment of its processes (TAG_VAR). */
  #tag = globalThis.crypto.randomUUID();
  /** Tree mode: its descendants (the server itself aside) last seen running, still to be
   * ended: pid → start time. */
  #tree = new Map();
  /** The signal the teardown sent last: a descendant found later gets it too. */
  #lastSignal = null;
  /** The last signal sent while the server's exit had not been seen (the server's own, for
   * the close message: one sent after it exited reached only what it left running). */
  #leaderSignal = null;
  /** Tree mode: the reapers' children just before the server was spawned (none of them is
   * its orphan) and the fork count then; pids looked at since and found not its own join
   * them. */
  #notOrphans = null;
  #forksAtSpawn = -1;
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
  /** How long close() waits after stdin EOF, then after SIGTERM (GRACE_MS, KILL_TIMEOUT_MS). */
  #graceMs;
  #killTimeoutMs;

  /**
   * @param {StdioConfig} config
   * @param {StdioHooks} hooks
   * @param {{ name?: string, graceMs?: number, killTimeoutMs?: number }} [options] name: the
   *   server's name in the config, for messages; graceMs, killTimeoutMs: the close's waits
   */
  constructor(config, hooks, options = {}) {
    this.#name = typeof options?.name === "string" ? options.name : null;
    // the close's waits (tests shorten or lengthen them; the runtime uses the defaults)
    this.#graceMs = options?.graceMs ?? GRACE_MS;
    this.#killTimeoutMs = options?.killTimeoutMs ?? KILL_TIMEOUT_MS;
    this.#config = config;
    this.#hooks = hooks;
    this.#done = new Promise((resolve) => { this.#resolveDone = resolve; });
  }

  /** The server's pid once spawned, else null. Kept after close. */
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
    if (treeMode()) {
      this.#forksAtSpawn = forkCount();
      this.#notOrphans = new Set(reaperChildren());
    }
    let child;
    try {
      // node:child_process is loaded at the first spawn, not at import (~9 ms of a cold start)
      child = process.getBuiltinModule("node:child_process").spawn(config.command, config.args ?? [], {
        cwd: config.cwd,
        env: { ...process.env, ...config.env, [TAG_VAR]: this.#tag },
        stdio: ["pipe", "pipe", "pipe"],
        // tree mode: in the client's process group (see the top of this file)
        detached: !treeMode(),
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
   * `line`, when given, is `bytes` and the "\n" in one buffer (the runtime copies each message
   * so): it is written instead, one piece per message.
   * @param {Uint8Array | string} bytes @param {{ line?: Uint8Array }} [info]
   */
  send(bytes, info) {
    if (this.#state !== "opening" && this.#state !== "open") return;
    if (this.#pid === null || this.#leaderExit !== null) return;
    const stdin = this.#child?.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded) return;
    try {
      // Corked until the end of this tick: the message and its "\n", and every other message
      // sent in the same tick (16 calls started together, or answered by one read), go out in
      // one write — one wake-up of the server, not one per message.
      if (!this.#corked) {
        this.#corked = true;
        stdin.cork();
        process.nextTick(() => {
          this.#corked = false;
          stdin.uncork();
        });
      }
      if (info?.line) {
        stdin.write(info.line);
      } else {
        stdin.write(bytes);
        stdin.write("\n");
      }
    } catch {
      // Writing to a stream that was destroyed between the checks above; the 'error'
      // listener takes the asynchronous variant.
    }
  }

  /**
   * Close the server: end stdin → wait GRACE_MS → SIGTERM its tree → wait KILL_TIMEOUT_MS →
   * SIGKILL its tree → resolve when the server was reaped and nothing of its tree is left
   * (bounded).
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
   * SIGKILL the server's whole tree now, synchronously (process exit, runtime dispose): what
   * a children walk finds, and the orphans in `orphans` (an orphan scan) that carry its tag.
   * If the transport was open, a teardown starts as for close() (reason "closed"); it
   * completes as soon as the tree is reaped, and close() returns its promise.
   * @param {Map<number, {start: number, tag: string | null, state: string}> | null} [orphans]
   */
  killSync(orphans = null) {
    if (this.#pid === null || this.#treeGone) return;
    if (treeMode()) {
      this.#collectSync(orphans);
      if (this.#leaderExit !== null && this.#tree.size === 0) return;
    }
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
      await this.#walk(false); // the tree as it is before anything is stopped
      if (reason === "closed" || reason === "stdout-closed") {
        this.#endStdin();
        if (this.#leaderExit === null) await this.#waitFor(() => this.#leaderExit !== null, this.#graceMs);
      }
      // The server exited, or ignored stdin EOF: terminate what is left of the tree.
      if (!(await this.#isGone())) {
        await this.#walk(); // and what it started meanwhile
        this.#sentTerm = true;
        this.#signal("SIGTERM");
        await this.#waitFor(() => this.#isGone(), this.#killTimeoutMs);
      }
      if (!(await this.#isGone())) {
        this.#sentKill = true;
        this.#signal("SIGKILL");
        await this.#waitFor(() => this.#isGone(), REAP_TIMEOUT_MS);
      }
      await this.#waitFor(() => this.#stdoutClosed && this.#stderrClosed, PIPE_DRAIN_MS);
    } catch {
      // Nothing above is expected to throw; whatever happens, onClose still fires once.
    }
    this.#release();
    this.#finish(this.#closeInfo(reason));
  }

  /** Tree mode: adds to #tree every process reachable through /proc children lists from the
   * server (while it is not reaped: until then its pid cannot be anyone else's) and from the
   * processes tracked already (checked first: gone, zombie or recycled ones are dropped, so
   * a recycled pid is never walked). Each comes with its start time. The server's own list
   * is its main thread's unless `everyThread` (see childrenOf: before stdin EOF, so that a
   * server that exits on it is not slowed down; its other threads' children are orphaned
   * when it exits and found by their tag, or walked once it outlived the grace period). */
  async #walk(everyThread = true) {
    if (!treeMode() || this.#pid === null || this.#killedSync) return;
    if (this.#tree.size > 0) await dropGone(this.#tree);
    const seen = new Set(this.#tree.keys());
    seen.add(this.#pid);
    let parents = [...this.#tree.keys()];
    if (this.#leaderExit === null) parents.push(this.#pid);
    while (parents.length > 0) {
      const found = [];
      for (const parent of parents) {
        if (parent === this.#pid && this.#leaderExit !== null) continue; // reaped meanwhile
        for (const pid of childrenOf(parent, everyThread || parent !== this.#pid)) {
          if (!seen.has(pid)) {
            seen.add(pid);
            found.push(pid);
          }
        }
      }
      const procs = await Promise.all(found.map((pid) => readProc(pid, null, 0)));
      parents = [];
      found.forEach((pid, k) => {
        const p = procs[k];
        // a child started after the server (anything else is a pid recycled between the two reads)
        if (p && running(p) && p.start >= this.#startTime) {
          this.#adopt(pid, p.start);
          parents.push(pid);
        }
      });
    }
  }

  /** Tree mode, synchronously (exit hooks): the same walk, and the tagged orphans in `orphans`. */
  #collectSync(orphans) {
    for (const [pid, start] of this.#tree) if (startOfSync(pid) !== start) this.#tree.delete(pid);
    if (orphans) for (const [pid, p] of orphans) if (p.tag === this.#tag && running(p)) this.#adopt(pid, p.start, false);
    let parents = [...this.#tree.keys()];
    if (this.#leaderExit === null) parents.push(this.#pid);
    while (parents.length > 0) {
      const found = [];
      for (const parent of parents) {
        for (const pid of childrenOf(parent)) {
          if (pid === this.#pid || this.#tree.has(pid)) continue;
          const start = startOfSync(pid);
          if (start !== null && start >= this.#startTime) {
            this.#adopt(pid, start, false);
            found.push(pid);
          }
        }
      }
      parents = found;
    }
  }

  /** Tracks one process of the tree; one found after a signal was sent gets it too. */
  #adopt(pid, start, signal = true) {
    if (this.#tree.has(pid)) return;
    this.#tree.set(pid, start);
    track(this); // until it is gone too
    if (signal && this.#lastSignal !== null) {
      try { process.kill(pid, this.#lastSignal); } catch { /* gone meanwhile */ }
    }
  }

  /** Tree mode: its orphans, among the reapers' children: the ones that were not there before
   * it was spawned (all of them once the pids may have gone round), read (stat, environ) for a
   * start after the server's and its tag. */
  async #adoptOrphans() {
    const forks = forkCount();
    const known = this.#forksAtSpawn >= 0 && forks - this.#forksAtSpawn < pidMax() / 2 ? this.#notOrphans : null;
    const children = reaperChildren();
    forgetOrphanReads(children);
    const candidates = children.filter((pid) => !known?.has(pid) && !this.#tree.has(pid) && pid !== this.#pid);
    await Promise.all(candidates.map(async (pid) => {
      const p = await readOrphan(pid, forks); // start time and tag: read once for every transport
      if (!p) return;
      if (p.start < this.#startTime || p.tag !== this.#tag) {
        known?.add(pid); // not its own: not looked at again
        return;
      }
      // its own: is it still running (not a zombie that init has not reaped yet)? read now
      const now = await readProc(pid, null, 0);
      if (now && now.start === p.start && running(now)) this.#adopt(pid, p.start);
    }));
  }

  /** The server was reaped (its 'exit' event arrived) and nothing of its tree remains:
   * tree mode: no tracked process runs, nor anything a walk from them finds, and an orphan
   * scan made after that finds none of its orphans; group mode: the group is empty. */
  async #isGone() {
    if (this.#treeGone) return true;
    if (this.#leaderExit === null || this.#pid === null) return false;
    if (treeMode()) {
      if (this.#killedSync) await dropGone(this.#tree);
      else await this.#walk();
      if (this.#tree.size > 0) return false;
      await this.#adoptOrphans();
      if (this.#tree.size > 0) return false;
    } else {
      try {
        process.kill(-this.#pid, 0);
        return false; // something answers (without /proc a zombie cannot be told apart)
      } catch (err) {
        if (err.code !== "ESRCH") return false; // EPERM: something is there
      }
    }
    this.#treeGone = true;
    untrack(this);
    return true;
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

  /** Signals the server (while it is not reaped: until then its pid is its own) and every
   * tracked process (tree mode), or the group. The tracked processes' start times were
   * checked by the walk or poll just before (a pid recycled in between is not ours: then it
   * is not signalled); `verifySync` checks them again now, synchronously (exit hooks). */
  #signal(sig, verifySync = false) {
    if (this.#pid === null || this.#treeGone) return;
    this.#lastSignal = sig;
    if (this.#leaderExit === null) this.#leaderSignal = sig;
    if (treeMode()) {
      if (this.#leaderExit === null) {
        try { process.kill(this.#pid, sig); } catch { /* exited, not yet reaped */ }
      }
      for (const [pid, start] of this.#tree) {
        if (verifySync && startOfSync(pid) !== start) {
          this.#tree.delete(pid); // gone, or its pid was recycled: not ours any more
          continue;
        }
        try { process.kill(pid, sig); } catch { /* gone meanwhile */ }
      }
      return;
    }
    try {
      process.kill(-this.#pid, sig);
    } catch (err) {
      if (err.code === "ESRCH") return;
      // No process groups here (Windows) or not permitted: signal at least the server.
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
    if (this.#treeGone) untrack(this);
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
    const pids = this.#tree.size > 0 ? ` (pid ${[...this.#tree.keys()].join(", ")})` : "";
    const leftover = this.#treeGone ? "" :
      ` Some processes of its ${treeMode() ? "tree" : "group"}${pids} could not be confirmed gone; check for leftover processes.`;
    const tail = this.#stderrTail.trim();
    const stderr = tail ? ` Its last stderr output: ${JSON.stringify(tail.slice(-300))}.` : "";
    if (reason === "exited") {
      return { reason, exitCode, signal, cleanupError: leftover ? leftover.trim() : null, message:
        `MCP server ${label} ${how} on its own, before the client closed it.${stderr} ` +
        `Check the server's command, arguments and environment.${leftover}` };
    }
    // What the server itself was sent (not what only its leftovers got after it exited).
    const parts = [];
    if (this.#leaderSignal === "SIGKILL") {
      parts.push(this.#killedSync ? "after SIGKILL" : `after SIGKILL (it ignored stdin EOF and SIGTERM for ${this.#killTimeoutMs} ms)`);
    } else if (this.#leaderSignal === "SIGTERM") parts.push("after SIGTERM");
    else if (!this.#killedSync) parts.push("after its stdin was closed");
    if (this.#lastSignal !== null && this.#lastSignal !== this.#leaderSignal) {
      parts.push(`processes it left running were stopped with ${this.#lastSignal}`);
    }
    const steps = parts.length > 0 ? ` ${parts.join("; ")}` : "";
    if (reason === "stdout-closed") {
      return { reason: "exited", exitCode, signal, cleanupError: leftover ? leftover.trim() : null, message:
        `MCP server ${label} closed its stdout but kept running, so nothing it sends can arrive any more; ` +
        `it was stopped: it ${how}${steps}.${stderr} Check the server's logs.${leftover}` };
    }
    return { reason, exitCode, signal, cleanupError: leftover ? leftover.trim() : null,
             message: `MCP server ${label} closed: it ${how}${steps}.${leftover}` };
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

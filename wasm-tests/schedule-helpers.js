// schedule-helpers.js — seeded random lifecycle schedules (issue 5 item 20).
//
// One schedule: a fresh runtime whose wasm exports are wrapped (a call after
// dispose() is recorded), a borrowed MCPClient, an agent owning its servers and
// an agent borrowing the client, one to three streams, then a random sequence
// of next / return / throw / asyncDispose, signal aborts, agent.close(),
// client.close(), callTool, runtime.dispose(), a server SIGKILLed from outside
// and dropped iterators, each after a random small delay, some awaited. Then
// everything still open is ended and the invariants are checked; a violation
// throws an Error naming the seed and the schedule, so `runSchedule(seed)`
// replays it.
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { createRuntime, MCPAgent, MCPClient } from "../src/js/index.js";
import { everything, pidsWithTag, recordLifecycle, killTagged } from "./helpers.js";

/** Codes an operation may end with in these schedules (anything else is a violation). */
export const ALLOWED_CODES = Object.freeze([
  "ABORTED", // a signal, the stream's or callTool's
  "AGENT_CLOSED", // agent.close() ended a running stream
  "RUNTIME_DISPOSED", // a next() pending at dispose(); a client call after dispose
  "MCP_TRANSPORT_CLOSED", // a server killed from outside; a borrowed client closed under a stream
  "MCP_CONNECT_FAILED", // a server killed before its initialize was answered
  "INVALID_STATE", // connecting a client that was closed
  "CANCELLED", // a client call whose session was closed while it ran
  "LLM_PROTOCOL", "LLM_HTTP", // the model stand-in cut a response
]);

/** forced GC: node --expose-gc, or the V8 flag set at run time; null when neither works. */
export const gc = (() => {
  if (typeof globalThis.gc === "function") return globalThis.gc;
  try {
    v8.setFlagsFromString("--expose-gc");
    return vm.runInNewContext("gc");
  } catch {
    return null;
  }
})();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** mulberry32: a small seeded PRNG. */
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    chance: (p) => next() < p,
    weighted(table) {
      const total = table.reduce((s, [, w]) => s + w, 0);
      let r = next() * total;
      for (const [v, w] of table) if ((r -= w) < 0) return v;
      return table[table.length - 1][0];
    },
  };
}

/** What the model stand-in answers for a query kind (first turn; a tool result gets a final text). */
const TURNS = {
  long: { toolCalls: [{ name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } }] },
  echo: { toolCalls: [{ name: "echo", arguments: { message: "hi" } }] },
  text: { text: "a few words, slowly", chunkSize: 4, delayMs: 15 },
  cut: { text: "an answer that is cut short", cutAfterChunks: 2 },
};

/** The model stand-in's script: the query names its turn ("long#3" → TURNS.long). */
export function modelScript(body) {
  const last = body.messages[body.messages.length - 1];
  if (last?.role === "tool") return { text: "done" };
  const kind = String(body.messages.find((m) => m.role === "user")?.content ?? "").split("#")[0];
  return TURNS[kind] ?? { text: "?" };
}

/** Creates a runtime whose wasm exports record every call made after dispose() began. */
async function wrappedRuntime() {
  const afterDispose = [];
  let runtime = null;
  const original = WebAssembly.instantiate;
  WebAssembly.instantiate = async (...args) => {
    const made = await original.apply(WebAssembly, args);
    const instance = made.instance ?? made;
    const exports = {};
    for (const [name, value] of Object.entries(instance.exports)) {
      exports[name] = typeof value !== "function" ? value : (...a) => {
        if (runtime?.disposed) afterDispose.push(name);
        return value(...a);
      };
    }
    const wrapped = { exports };
    return made.instance ? { ...made, instance: wrapped } : wrapped;
  };
  try {
    runtime = await createRuntime();
  } finally {
    WebAssembly.instantiate = original;
  }
  return { runtime, afterDispose };
}

/** The settlement of `p`, or `{ hang: true }` after `ms`. */
function settle(p, ms) {
  let timer;
  return Promise.race([
    p.then((value) => ({ value }), (error) => ({ error })),
    new Promise((r) => { timer = setTimeout(() => r({ hang: true }), ms); }),
  ]).finally(() => clearTimeout(timer));
}

/** Draws the schedule for a seed (pure: the same seed gives the same schedule). */
export function drawSchedule(seed) {
  const r = prng(seed);
  const streams = Array.from({ length: 1 + r.int(3) }, (_, i) => ({
    agent: r.chance(0.55) ? "owner" : "borrower",
    query: `${r.weighted([["long", 3], ["echo", 3], ["text", 2], ["cut", 1]])}#${i}`,
  }));
  const ops = [];
  const n = 4 + r.int(7);
  for (let i = 0; i < n; i++) {
    const kind = r.weighted([
      ["next", 6], ["return", 1], ["throw", 1], ["asyncDispose", 0.5], ["abort", 1],
      ["agentClose", 0.7], ["clientClose", 0.5], ["callTool", 0.6], ["dispose", 0.35],
      ["kill", 0.7], ["drop", 0.5], ["connect", 0.4],
    ]);
    const op = { kind, delayMs: r.chance(0.3) ? 0 : r.int(40), awaited: r.chance(kind === "next" ? 0.5 : 0.3) };
    if (["next", "return", "throw", "asyncDispose", "abort", "drop"].includes(kind)) op.stream = r.int(streams.length);
    if (kind === "agentClose") op.agent = r.pick(["owner", "borrower"]);
    if (kind === "callTool") op.signal = r.chance(0.5);
    if (kind === "kill") op.pick = r.next();
    ops.push(op);
  }
  return { seed, streams, ops };
}

/**
 * Runs one schedule against the real server-everything and the model stand-in
 * at `baseURL`; resolves with counters, throws on a violated invariant.
 */
export async function runSchedule(seed, baseURL) {
  const plan = drawSchedule(seed);
  const log = [];
  const fail = (what) => {
    throw new Error(`schedule seed ${seed} violated: ${what}\nplan: ${JSON.stringify(plan)}\nlog:\n  ${log.join("\n  ")}`);
  };
  const escaped = [];
  const onEscape = (e) => escaped.push(e);
  process.on("unhandledRejection", onEscape);
  process.on("uncaughtException", onEscape);
  const { runtime, afterDispose } = await wrappedRuntime();
  /** violations seen while the schedule runs, reported after it */
  const lateViolations = [];
  const life = recordLifecycle(runtime);
  const clientServer = everything(), ownedServer = everything();
  const tags = [clientServer.tag, ownedServer.tag];
  const llm = { baseURL };
  const client = new MCPClient({ mcpServers: { lent: clientServer.config } }, { runtime });
  const agents = {
    owner: new MCPAgent({ runtime, llm, mcpServers: { own: ownedServer.config } }),
    borrower: new MCPAgent({ runtime, llm, client }),
  };
  let disposed = false, clientClosed = false, killedClient = false, connects = 0;
  // rule 1: no stream closes the borrowed client's session; only the client, dispose() or its server's exit do
  runtime.addEventListener("lifecycle", ({ detail: e }) => {
    if (e.kind === "session-close" && e.owner === "client" && !clientClosed && !disposed && !["exited", "open-failed"].includes(e.reason))
      lateViolations.push(`the client's session was closed (${e.reason}) while the client was neither closed nor disposed`);
  });
  /** every promise an operation returned, with what it must settle to */
  const calls = [];
  const streams = plan.streams.map((s, i) => {
    const ac = new AbortController();
    return { i, ...s, ac, it: agents[s.agent].stream(s.query, { signal: ac.signal }), dropped: false, seq: [] };
  });
  /** rule 4 at the moment a close resolves: the processes it closed are gone */
  const goneWhenSettled = (p, which, what) => p.finally(() => {
    const live = which.flatMap((t) => pidsWithTag(t));
    if (live.length) lateViolations.push(`${what} resolved with server processes still running: ${live}`);
  });
  let settledOrder = 0;
  const track = (what, p, extra = {}) => {
    const call = { what, ...extra, settled: null, order: -1, afterDispose: disposed };
    call.promise = p.then(
      (value) => { call.settled = { value }; call.order = settledOrder++; },
      (error) => { call.settled = { error }; call.order = settledOrder++; });
    calls.push(call);
    return call;
  };
  const streamCall = (s, kind, arg) => {
    if (s.dropped) return null;
    const p = kind === "next" ? s.it.next()
      : kind === "return" ? s.it.return(arg)
      : kind === "throw" ? s.it.throw(arg)
      : s.it[Symbol.asyncDispose]();
    const call = track(`${kind}(s${s.i})`, p, { stream: s, kind, arg });
    s.seq.push(call);
    return call;
  };

  try {
    // ---- the schedule
    for (const [k, op] of plan.ops.entries()) {
      if (op.delayMs) await sleep(op.delayMs);
      log.push(`#${k} ${JSON.stringify(op)}`);
      let call = null;
      const s = op.stream !== undefined ? streams[op.stream] : null;
      switch (op.kind) {
        case "next": case "asyncDispose": call = streamCall(s, op.kind); break;
        case "return": call = streamCall(s, "return", `v${k}`); break;
        case "throw": call = streamCall(s, "throw", new Error(`thrown #${k}`)); break;
        case "abort": s.ac.abort(); break;
        case "agentClose": {
          // the owner agent's servers are gone when its close() resolves, unless a later connect() opened them again
          const connectsBefore = connects;
          const closing = agents[op.agent].close().finally(() => {
            if (op.agent === "owner" && connects === connectsBefore && pidsWithTag(ownedServer.tag).length)
              lateViolations.push(`agent owner close() resolved with server processes still running: ${pidsWithTag(ownedServer.tag)}`);
          });
          call = track(`agent ${op.agent} close()`, closing, { kind: "close" });
          break;
        }
        case "connect": connects++; call = track("agent owner connect()", agents.owner.connect(), { kind: "connect" }); break;
        case "clientClose": clientClosed = true; call = track("client.close()", goneWhenSettled(client.close(), [clientServer.tag], "client.close()"), { kind: "close" }); break;
        case "callTool": {
          const ac = new AbortController();
          call = track("client.callTool", client.callTool("lent", "echo", { message: "x" }, op.signal ? { signal: ac.signal } : {}), { kind: "callTool" });
          if (op.signal) setTimeout(() => ac.abort(), op.delayMs);
          break;
        }
        case "dispose": disposed = true; call = track("runtime.dispose()", goneWhenSettled(runtime.dispose(), tags, "runtime.dispose()"), { kind: "close" }); break;
        case "kill": {
          const live = tags.flatMap((tag) => pidsWithTag(tag).map((pid) => ({ tag, pid })));
          if (live.length) {
            const victim = live[Math.floor(op.pick * live.length)];
            if (victim.tag === clientServer.tag) killedClient = true;
            try { process.kill(victim.pid, "SIGKILL"); } catch { /* gone meanwhile */ }
            log.push(`   killed ${victim.pid} (${victim.tag === clientServer.tag ? "client's" : "owned"} server)`);
          }
          break;
        }
        case "drop": if (!s.dropped) { s.dropped = true; s.it = null; } break;
      }
      if (call && op.awaited) {
        const got = await settle(call.promise, 20000);
        if (got.hang) fail(`${call.what} (awaited) did not settle within 20 s`);
        log.push(`   → ${describe(call.settled)}`);
      }
    }

    // ---- end what is still open
    log.push("-- drain");
    const disposedInSchedule = disposed;
    const pending = await settle(Promise.all(calls.map((c) => c.promise)), 30000);
    if (pending.hang) fail(`calls never settled: ${calls.filter((c) => !c.settled).map((c) => c.what).join(", ")}`);
    for (const s of streams) {
      if (s.dropped) continue;
      const c = streamCall(s, "return", "drain");
      const got = await settle(c.promise, 20000);
      if (got.hang) fail(`the drain's return() of s${s.i} did not settle`);
      const after = streamCall(s, "next");
      if ((await settle(after.promise, 5000)).hang) fail(`next() after the drain's return() of s${s.i} did not settle`);
    }
    // dropped streams: the FinalizationRegistry is the safety net (forced GC), unless disposed
    if (!disposed && streams.some((s) => s.dropped)) {
      const end = Date.now() + 15000;
      while (runtime.stats().streamsOpen > 0) {
        if (!gc) { log.push("   (no gc: dropped streams ended with agent.close())"); break; }
        if (Date.now() > end) fail(`dropped streams were not collected and ended (streamsOpen ${runtime.stats().streamsOpen})`);
        gc();
        await sleep(30);
      }
    }
    for (const name of ["owner", "borrower"]) {
      const got = await settle(agents[name].close(), 20000);
      if (got.hang) fail(`drain: agent ${name} close() did not settle`);
      if (got.error) fail(`drain: agent ${name} close() rejected: ${got.error.stack}`);
    }
    // the borrowed client survives every stream: usable unless closed, disposed or its server killed
    if (!disposed && !clientClosed) {
      const got = await settle(client.callTool("lent", "echo", { message: "still here" }), 20000);
      if (got.hang) fail("drain: callTool on the borrowed client did not settle");
      if (!killedClient && got.error) fail(`the borrowed client is not usable after the streams: ${got.error.stack}`);
      // a killed server ends its session; killed while connecting, it fails the connect, which closes the client
      if (killedClient && got.error && !["MCP_TRANSPORT_CLOSED", "INVALID_STATE"].includes(got.error.code))
        fail(`the borrowed client's server was killed: expected MCP_TRANSPORT_CLOSED or INVALID_STATE, got ${got.error.stack}`);
      if (!got.error) assert.deepEqual(got.value.content, [{ type: "text", text: "Echo: still here" }]);
    }
    clientClosed = true;
    const closing = await settle(client.close(), 20000);
    if (closing.hang) fail("drain: client.close() did not settle");

    // ---- invariants
    if (!disposed) {
      const stats = runtime.stats();
      if (stats.streamsOpen || stats.sessionsOpen || stats.liveAllocations)
        fail(`not back to baseline after everything ended: ${JSON.stringify(stats)}`);
      const live = tags.flatMap((t) => pidsWithTag(t));
      if (live.length) fail(`server processes still running after every close resolved: ${live}`);
    }
    if (lateViolations.length) fail(lateViolations.join("; "));
    disposed = true;
    const disposing = await settle(runtime.dispose(), 20000);
    if (disposing.hang) fail("runtime.dispose() did not settle");
    const live = tags.flatMap((t) => pidsWithTag(t));
    if (live.length) fail(`server processes still running after dispose() resolved: ${live}`);
    try { life.assertEachClosedOnce(); } catch (e) { fail(e.message); }
    const ends = life.of("stream-end").map((e) => e.streamId);
    if (new Set(ends).size !== ends.length) fail(`a stream ended twice: ${ends}`);
    if (afterDispose.length) fail(`wasm called after dispose(): ${[...new Set(afterDispose)].join(", ")}`);
    for (const c of calls) checkTyped(c, fail);
    for (const s of streams) checkGenerator(s, fail);
    for (const s of streams) {
      const o = s.seq.map((c) => c.order);
      if (o.some((v, i) => i > 0 && v < o[i - 1])) fail(`calls of s${s.i} settled out of order: ${s.seq.map((c) => `${c.what}@${c.order}`)}`);
    }
    await sleep(10);
    if (escaped.length) fail(`unhandled rejection or uncaught exception: ${escaped.map((e) => e?.stack ?? e).join("\n")}`);
    return { calls: calls.length, sessions: life.of("session-open").length, disposed: disposedInSchedule };
  } finally {
    process.off("unhandledRejection", onEscape);
    process.off("uncaughtException", onEscape);
    await runtime.dispose().catch(() => {});
    for (const t of tags) killTagged(t);
  }
}

function describe(settled) {
  if (!settled) return "pending";
  if (settled.error) return `rejected ${settled.error.name}/${settled.error.code ?? "-"}: ${settled.error.message}`;
  return `resolved ${JSON.stringify(settled.value)?.slice(0, 120)}`;
}

/** Only typed errors: an allowed code (with the right class), or the error given to throw(e). */
function checkTyped(c, fail) {
  const e = c.settled?.error;
  if (!e) return;
  if (c.kind === "throw" && e === c.arg) return;
  if (!ALLOWED_CODES.includes(e?.code)) fail(`${c.what} rejected with an unexpected error: ${e?.stack ?? e}`);
  if ((e.code === "ABORTED" || e.code === "AGENT_CLOSED") && e.name !== "AbortError") fail(`${c.what}: ${e.code} is not an AbortError`);
  if (e.code === "RUNTIME_DISPOSED" && e.name !== "RuntimeDisposedError") fail(`${c.what}: RUNTIME_DISPOSED is not a RuntimeDisposedError`);
  if (c.kind === "close") fail(`${c.what} rejected: ${e.stack}`);
}

/** Async-generator rules, over the calls of one stream in call order. */
function checkGenerator(s, fail) {
  let finished = false;
  for (const c of s.seq) {
    const { value, error } = c.settled;
    const bad = (why) => fail(`s${s.i} ${c.what}: ${why} (got ${describe(c.settled)}; calls: ${s.seq.map((x) => `${x.what} ${describe(x.settled)}`).join(" | ")})`);
    switch (c.kind) {
      case "return":
        if (error || value?.done !== true || value.value !== c.arg) bad(`return(${c.arg}) must resolve { value: ${c.arg}, done: true }`);
        finished = true;
        break;
      case "throw":
        if (error !== c.arg) bad("throw(e) must reject with e itself");
        finished = true;
        break;
      case "asyncDispose":
        if (error || value !== undefined) bad("Symbol.asyncDispose must resolve undefined");
        finished = true;
        break;
      case "next":
        if (finished) {
          if (error || value?.done !== true || value.value !== undefined) bad("after the end, next() must resolve { value: undefined, done: true }");
        } else if (error || value?.done) {
          // rule 5: only a next() called before dispose() rejects with RUNTIME_DISPOSED
          if (error?.code === "RUNTIME_DISPOSED" && c.afterDispose) bad("a next() called after dispose() must not reject with RUNTIME_DISPOSED");
          finished = true;
        } else if (typeof value?.value?.type !== "string") {
          bad("a step must be an object with a type");
        }
        break;
    }
  }
}

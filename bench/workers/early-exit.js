// early-exit.js — how long leaving takes, in one process, every variant
// interleaved sample by sample:  node early-exit.js <samples>
//
// Each sample starts the raw server (which exits as soon as its stdin ends),
// gets to the point of leaving, then times leaving until the library says it
// is done, and checks whether the server process is gone at that moment:
//   mcpstream     an agent stream that owns its session: first next() (the
//                 session is open, a text step arrived), then `break` in a
//                 for await loop → return() resolved
//   sdk1, sdk2, ai  a connected client with one tool call done: close() resolved
//                 (these libraries have no stream that owns a server)
//   spawn/eof     baseline: a bare child_process.spawn of the same server,
//                 stdin.end() → 'exit'
//   spawn/kill    baseline: the same, child.kill() (SIGTERM) → 'exit'
// Prints { variants: { name: { ms: [...], goneAtResolve: k, samples: n } } }.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { connect, rawServer, MCPSTREAM_ENTRY } from "../lib/clients.js";

const samples = Number(process.argv[2] ?? 20);
const { createRuntime, MCPAgent } = await import(MCPSTREAM_ENTRY);
const runtime = await createRuntime();

/** Live (non-zombie) pids whose environment carries BENCH_TAG=tag. */
function pidsWithTag(tag) {
  const needle = `BENCH_TAG=${tag}`;
  const out = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!readFileSync(`/proc/${name}/environ`, "latin1").split("\0").includes(needle)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, "latin1");
      if (stat[stat.lastIndexOf(")") + 2] !== "Z") out.push(Number(name));
    } catch { /* gone meanwhile */ }
  }
  return out;
}
function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch { return false; }
}
async function waitFor(fn, what, ms = 10000) {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Each returns { ms, gone } for one sample. */
const VARIANTS = {
  async mcpstream() {
    const tag = randomUUID();
    const agent = new MCPAgent({ runtime, mcpServers: { raw: { ...rawServer(), env: { BENCH_TAG: tag } } },
      llm: async () => ({ role: "assistant", content: "hello" }) });
    let t0 = 0;
    for await (const step of agent.stream("hi")) {
      if (step.type !== "text") throw new Error(`unexpected step ${step.type}`);
      t0 = performance.now();
      break; // → return()
    }
    const ms = performance.now() - t0;
    return { ms, gone: pidsWithTag(tag).length === 0 };
  },
  ...Object.fromEntries(["sdk1", "sdk2", "ai"].map((lib) => [lib, async () => {
    const tag = randomUUID();
    const c = await connect(lib, { ...rawServer(), env: { BENCH_TAG: tag } });
    await c.call("r1k");
    const pids = pidsWithTag(tag);
    if (pids.length !== 1) throw new Error(`${lib}: found ${pids.length} server processes`);
    const t0 = performance.now();
    await c.close();
    const ms = performance.now() - t0;
    const gone = !alive(pids[0]);
    await waitFor(() => !alive(pids[0]), `${lib}'s server to exit`); // no leftovers between samples
    return { ms, gone };
  }])),
  "spawn/eof": () => bare((child) => child.stdin.end()),
  "spawn/kill": () => bare((child) => child.kill()),
};

async function bare(leave) {
  const { command, args } = rawServer();
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "ignore"] });
  const exited = new Promise((r) => child.once("exit", r));
  // ready: it answered a request
  await new Promise((resolve, reject) => {
    child.once("error", reject);
    child.stdout.once("data", resolve);
    child.stdin.write('{"jsonrpc":"2.0","id":1,"method":"ping"}\n');
  });
  child.stdout.resume();
  const t0 = performance.now();
  leave(child);
  await exited;
  return { ms: performance.now() - t0, gone: !alive(child.pid) };
}

const names = Object.keys(VARIANTS);
const results = Object.fromEntries(names.map((n) => [n, { ms: [], goneAtResolve: 0, samples: 0 }]));
for (const name of names) await VARIANTS[name](); // warm-up round, not recorded
for (let i = 0; i < samples; i++) {
  const order = names.map((_, k) => names[(k + i) % names.length]); // rotate: no variant always first
  for (const name of order) {
    const r = await VARIANTS[name]();
    results[name].ms.push(r.ms);
    results[name].samples++;
    if (r.gone) results[name].goneAtResolve++;
  }
}
await runtime.dispose();
process.stdout.write(JSON.stringify({ variants: results }) + "\n");

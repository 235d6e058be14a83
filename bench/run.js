#!/usr/bin/env node
// run.js — `npm run bench`: mcpstream against its peers, in the same run.
//
//   node bench/run.js [--quick] [--reps N] [--only group,group] [--out FILE]
//
// Every measurement runs in a fresh Node process (bench/workers/*), and the
// libraries take turns: each repetition measures every library once per
// scenario, in a rotated order, so a noisy neighbour hurts all of them alike.
// Reported: the median of the repetitions and their range; the ratio is
// mcpstream's median over the peer's. Writes bench/results.json (everything,
// with every sample) and bench/results.md (the tables), and prints the tables;
// a partial run writes them to the temp dir (or --out).
// --quick runs every scenario with tiny counts (that it works, not how fast).
import { spawn } from "node:child_process";
import { existsSync, writeFileSync, readFileSync, readdirSync, statSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import os from "node:os";
import { LIBS, LIB_LABEL, HAS_PROGRESS } from "./lib/clients.js";

const BENCH = fileURLToPath(new URL(".", import.meta.url));
const WASM = fileURLToPath(new URL("../dist/mcpstream.wasm", import.meta.url));

const { values: opts } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    reps: { type: "string" },
    only: { type: "string" },
    budget: { type: "string" },
    out: { type: "string" },
  },
});
const QUICK = opts.quick;
// bench/results.json (tracked: README's table comes from it) is written by full runs only; a
// partial run (--quick, --only, --reps, --budget) goes to the temp dir unless --out says where.
const PARTIAL = QUICK || opts.only !== undefined || opts.reps !== undefined || opts.budget !== undefined;
opts.out ??= PARTIAL ? `${os.tmpdir()}/mcpstream-bench-partial.json` : `${BENCH}results.json`;
const GROUPS = ["throughput", "coldstart", "agent", "streams", "peak", "earlyExit", "size"];
const only = new Set(opts.only ? opts.only.split(",") : GROUPS);
for (const g of only) if (!GROUPS.includes(g)) die(`unknown group ${g} (${GROUPS.join(", ")})`);

/** The amount of work: a full run must stay under 15 minutes on a shared 2-core machine. */
const PLAN = QUICK
  ? { reps: 1, throughputScale: 0.01, coldSamples: 1, agentSteps: 4, streams: [20, 50, 60], peak: [1e6, 4e5], exitSamples: 2, budget: Infinity }
  : { reps: 5, throughputScale: 1, coldSamples: 3, agentSteps: 50, streams: [10_000, 100_000, 60], peak: [100e6, 38e6], exitSamples: 20, budget: 840 };
// peak: [bytes of one streamed model answer, bytes of one tools/list result]
// streams: [suspended streams, cycles, seconds at most per library]; a library
// too slow for those counts stops at the time bound and says so (stoppedEarly).
// budget: seconds; a repetition starts only if it should end within it (full
// runs must stay under 15 minutes, however busy the machine).
if (opts.reps) PLAN.reps = Math.max(1, Number(opts.reps));
if (opts.budget) PLAN.budget = Number(opts.budget);

if (!existsSync(WASM)) die(`${WASM} is missing: build it first (bash build.sh wasm, or npm test)`);
{
  const core = fileURLToPath(new URL("../src/core/", import.meta.url));
  const built = statSync(WASM).mtimeMs;
  const newer = readdirSync(core).filter((f) => statSync(core + f).mtimeMs > built);
  if (newer.length) die(`dist/mcpstream.wasm is older than src/core/${newer[0]}: rebuild it (bash build.sh wasm) so that the current core is measured`);
}
if (!existsSync(`${BENCH}node_modules/@modelcontextprotocol/sdk`)) die("bench dependencies are missing: npm ci --prefix bench (npm run bench does it)");

const startedAt = new Date();
const samples = {}; // scenario id → lib → [values]
const extra = {};
const errors = [];
const record = (id, lib, v) => { ((samples[id] ??= {})[lib] ??= []).push(v); };

function die(msg) { process.stderr.write(`bench: ${msg}\n`); process.exit(1); }
const log = (msg) => process.stderr.write(`[bench ${((Date.now() - startedAt) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`);

/** Runs one worker in a fresh process; resolves with the JSON of its last stdout line, or null after an error. */
function worker(name, args, { nodeArgs = [], timeoutMs = 300_000 } = {}) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, `${BENCH}workers/${name}.js`, ...args.map(String)],
      { cwd: BENCH, stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; if (err.length > 20000) err = err.slice(-10000); });
    const timer = setTimeout(() => { err += `\n(killed after ${timeoutMs} ms)`; child.kill("SIGKILL"); }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (process.env.BENCH_VERBOSE) log(`${name} ${args.slice(0, 2).join(" ")}: ${Date.now() - t0} ms`);
      const line = out.trim().split("\n").at(-1);
      try {
        if (code !== 0) throw new Error(`exit code ${code}`);
        resolve(JSON.parse(line));
      } catch (e) {
        const lines = err.trim().split("\n");
        const first = lines.filter((l) => /error|cause|code/i.test(l)).slice(0, 6);
        const what = `${name} ${args.join(" ")}: ${e.message}; stderr: ${[...first, "…", ...lines.slice(-4)].join(" | ")}`;
        errors.push(what);
        log(`ERROR ${what}`);
        resolve(null);
      }
    });
  });
}

const rotate = (list, k) => list.map((_, i) => list[(i + k) % list.length]);

// ---- scenarios ---------------------------------------------------------------

const THROUGHPUT = [
  ["flood", "progress notifications (flood)", "msg/s"],
  ["r1k_seq", "1 KB results, sequential", "calls/s"],
  ["r1k_par16", "1 KB results, 16 in flight", "calls/s"],
  ["r100k_ascii", "100 KB ASCII results", "MB/s"],
  ["r100k_utf8", "100 KB non-ASCII results", "MB/s"],
  ["r10m", "one 10 MB result", "MB/s"],
];

async function throughput(rep) {
  const scenarios = THROUGHPUT.map(([s]) => s);
  // a fresh process per (library, half of the scenarios) in a full run (start-up
  // costs seconds on a loaded machine); one per library in a quick one
  const batches = QUICK ? [scenarios] : [scenarios.slice(0, 3), scenarios.slice(3)];
  for (const batch of batches) {
    for (const lib of rotate(LIBS, rep)) {
      const list = batch.filter((s) => s !== "flood" || HAS_PROGRESS.has(lib));
      if (list.length === 0) continue;
      const out = await worker("throughput", [lib, list.join(","), PLAN.throughputScale]);
      for (const r of out?.results ?? []) throughputResult(r);
    }
  }
}

function throughputResult(r) {
  const { lib, scenario } = r;
  record(`throughput.${scenario}`, lib, r.value);
  record(`throughputCpu.${scenario}`, lib, r.cpuSeconds / r.work);
  if (scenario === "flood") ((extra.floodDelivered ??= {})[lib] ??= []).push(`${r.delivered}/${r.work}`);
  // wasm memory never shrinks: its size after the 10 MB results is its peak
  if (scenario === "r10m" && r.wasmHeapBytes) record("memory.peakHeapPerMessage", lib, r.wasmHeapBytes / r.bytesPerCall);
  if (scenario === "r10m" && r.wasmPeakAllocatedBytes) record("memory.peakAllocatedPerMessage", lib, r.wasmPeakAllocatedBytes / r.bytesPerCall);
}

async function coldstart(rep) {
  const bare = [];
  for (let s = 0; s < PLAN.coldSamples; s++) {
    for (const lib of rotate(["bare", ...LIBS], rep + s)) {
      const r = await worker("coldstart", [lib]);
      if (!r) continue;
      if (lib === "bare") bare.push(r.ms);
      else record("coldstart.raw", lib, r.ms);
    }
  }
  for (const ms of bare) record("coldstart.raw", "bare node", ms);
}

let model = null;
async function startModel() {
  const child = spawn(process.execPath, [`${BENCH}workers/model.js`], { cwd: BENCH, stdio: ["pipe", "pipe", "inherit"] });
  const line = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => { out += d; if (out.includes("\n")) resolve(out.split("\n")[0]); });
    child.once("exit", (code) => reject(new Error(`the model server exited (${code})`)));
  });
  model = { child, baseURL: JSON.parse(line).baseURL };
}
async function stopModel() {
  if (!model) return;
  const exited = new Promise((r) => model.child.once("exit", r));
  model.child.stdin.end();
  const timer = setTimeout(() => model.child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
  model = null;
}

async function agent(rep) {
  if (!model) await startModel();
  for (const lib of rotate(["mcpstream", "ai"], rep)) {
    const r = await worker("agent", [lib, PLAN.agentSteps, model.baseURL]);
    if (!r) continue;
    record("agent.steps", lib, r.value);
    record("agentCpu.steps", lib, r.cpuSeconds / r.steps);
  }
}

async function streams(rep) {
  for (const lib of rotate(["mcpstream", "ai"], rep)) {
    const r = await worker("streams", [lib, ...PLAN.streams], { nodeArgs: ["--expose-gc"], timeoutMs: 600_000 });
    if (!r) continue;
    record("streams.rss", lib, r.perStream.rss);
    record("streams.jsHeap", lib, r.perStream.jsHeap);
    if (r.perStream.wasmHeap !== undefined) record("streams.wasmHeap", lib, r.perStream.wasmHeap);
    if (r.perStream.wasmAllocated !== undefined) record("streams.wasmAllocated", lib, r.perStream.wasmAllocated);
    record("streams.createFirst", lib, r.creationMsPerStream.firstBlock);
    record("streams.createLast", lib, r.creationMsPerStream.lastBlock);
    record("streams.cycles", lib, r.cyclesPerSecond);
    ((extra.streams ??= {})[lib] ??= []).push({ count: r.count, cycles: r.cycles, stoppedEarly: r.stoppedEarly,
      block: r.creationMsPerStream.block,
      ...(r.liveAllocations && { liveAllocations: r.liveAllocations, wasmHeapBytesAtEnd: r.wasmHeapBytesAtEnd }) });
    if (r.liveAllocations) record("streams.leakedAllocations", lib, r.liveAllocations.afterCycles - r.liveAllocations.before);
  }
}

/** The core's peak memory for one large message (mcpstream only: the peers' JS heaps are not comparable). */
async function peak() {
  const [answer, tools] = PLAN.peak;
  for (const [kind, bytes, id] of [["answer", answer, "memory.peakAnswer"], ["tools", tools, "memory.peakToolsList"]]) {
    const r = await worker("peak", [kind, bytes], { timeoutMs: 600_000 });
    if (!r) continue;
    record(id, "mcpstream", r.peakAllocated / r.bytes);
    record(`${id}Heap`, "mcpstream", r.heapBytes / r.bytes);
  }
}

async function earlyExit() {
  const r = await worker("early-exit", [PLAN.exitSamples], { timeoutMs: 600_000 });
  if (!r) return;
  const pct = (list, p) => { const s = [...list].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
  for (const [name, v] of Object.entries(r.variants)) {
    const lib = name.startsWith("spawn/") ? `bare ${name}` : name;
    record("earlyExit.p50", lib, pct(v.ms, 0.5));
    record("earlyExit.p95", lib, pct(v.ms, 0.95));
    record("earlyExit.goneAtResolve", lib, v.goneAtResolve / v.samples);
    (extra.earlyExitSamples ??= {})[lib] = v.ms;
  }
}

async function size() {
  const r = await worker("size", []);
  if (!r) return;
  for (const [lib, s] of Object.entries(r.libs)) {
    record("size.gzip", lib, s.totalGzip);
    record("size.min", lib, s.total);
  }
  extra.size = r.libs;
}

// ---- run -----------------------------------------------------------------------

log(`${QUICK ? "quick" : "full"} run, ${PLAN.reps} repetition(s); groups: ${[...only].join(", ")}`);
// Done once: size (deterministic), streams (bounded in time), early exit (many
// samples in one process). Then the repetitions, interleaved, until the budget.
let repsDone = 0;
try {
  if (only.has("size")) { log("size"); await size(); }
  if (only.has("streams")) { log("streams"); await streams(0); }
  if (only.has("peak")) { log("peak memory"); await peak(); }
  if (only.has("earlyExit")) { log("early exit"); await earlyExit(); }
  const repeated = ["throughput", "coldstart", "agent"].filter((g) => only.has(g));
  let repStart = Date.now(), longest = 0;
  for (let rep = 0; rep < PLAN.reps && repeated.length; rep++) {
    const elapsed = (Date.now() - startedAt) / 1000;
    if (rep >= 2 && elapsed + longest > PLAN.budget) {
      log(`stopping after ${rep} repetitions: the time budget (${PLAN.budget} s) would be exceeded`);
      break;
    }
    log(`repetition ${rep + 1}/${PLAN.reps}`);
    repStart = Date.now();
    if (only.has("throughput")) await throughput(rep);
    if (only.has("coldstart")) await coldstart(rep);
    if (only.has("agent")) await agent(rep);
    longest = Math.max(longest, (Date.now() - repStart) / 1000);
    repsDone = rep + 1;
  }
} finally {
  await stopModel();
}

// cold start: minus bare node (its median in this run)
if (samples["coldstart.raw"]) {
  const bare = median(samples["coldstart.raw"]["bare node"] ?? [NaN]);
  for (const [lib, list] of Object.entries(samples["coldstart.raw"]))
    if (lib !== "bare node") for (const ms of list) record("coldstart", lib, ms - bare);
  extra.coldstartBareNodeMs = bare;
}

function median(list) {
  const s = [...list].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** id → [title, unit, better]; the order of the tables. */
const META = {
  ...Object.fromEntries(THROUGHPUT.map(([k, t, u]) => [`throughput.${k}`, [`throughput: ${t}`, u, "higher"]])),
  ...Object.fromEntries(THROUGHPUT.map(([k, t]) => [`throughputCpu.${k}`, [`client CPU: ${t}`, "s", "lower"]])),
  "coldstart": ["cold start (import + ready to connect) minus bare node", "ms", "lower"],
  "coldstart.raw": ["cold start including node itself", "ms", "lower"],
  "agent.steps": ["agent steps (tool calls to echo) per second", "steps/s", "higher"],
  "agentCpu.steps": ["client CPU: agent step", "s", "lower"],
  "streams.wasmHeap": ["wasm memory per suspended stream", "bytes", "lower"],
  "streams.wasmAllocated": ["wasm heap allocated per suspended stream", "bytes", "lower"],
  "streams.rss": ["RSS per suspended stream", "bytes", "lower"],
  "streams.jsHeap": ["JS heap (+external) per suspended stream", "bytes", "lower"],
  "streams.createFirst": ["create + first next(), first 1,000 streams", "ms/stream", "lower"],
  "streams.createLast": ["create + first next(), last 1,000 streams", "ms/stream", "lower"],
  "streams.cycles": ["create → first next() → return() cycles", "cycles/s", "higher"],
  "streams.leakedAllocations": ["live allocations left after the cycles", "count", "lower"],
  "memory.peakHeapPerMessage": ["peak wasm memory / message size (one 10 MB result)", "×", "lower"],
  "memory.peakAllocatedPerMessage": ["peak wasm heap allocated / message size (one 10 MB result)", "×", "lower"],
  "memory.peakAnswer": [`peak wasm heap allocated / message size (one ${QUICK ? "1" : "100"} MB streamed model answer)`, "×", "lower"],
  "memory.peakAnswerHeap": [`peak wasm memory / message size (one ${QUICK ? "1" : "100"} MB streamed model answer)`, "×", "lower"],
  "memory.peakToolsList": [`peak wasm heap allocated / message size (one ${QUICK ? "0.4" : "38"} MB tools/list, read by a stream)`, "×", "lower"],
  "memory.peakToolsListHeap": [`peak wasm memory / message size (one ${QUICK ? "0.4" : "38"} MB tools/list, read by a stream)`, "×", "lower"],
  "earlyExit.p50": ["early exit: leave → resolved, p50", "ms", "lower"],
  "earlyExit.p95": ["early exit: leave → resolved, p95", "ms", "lower"],
  "earlyExit.goneAtResolve": ["early exit: server process gone when it resolved", "fraction", "higher"],
  "size.gzip": ["bundle size, minified + gzip (JS + .wasm)", "bytes", "lower"],
  "size.min": ["bundle size, minified (JS + .wasm)", "bytes", "lower"],
};

const scenarios = {};
for (const [id, [title, unit, better]] of Object.entries(META)) {
  if (!samples[id]) continue;
  const libs = {};
  for (const [lib, list] of Object.entries(samples[id]))
    libs[lib] = { median: median(list), min: Math.min(...list), max: Math.max(...list), samples: list };
  const ratios = {};
  if (libs.mcpstream) for (const [lib, v] of Object.entries(libs)) if (lib !== "mcpstream") ratios[lib] = v.median === 0 ? null : libs.mcpstream.median / v.median; // no ratio to a peer that measured 0
  scenarios[id] = { title, unit, better, libs, ratios };
}

const versions = {};
for (const p of ["@modelcontextprotocol/sdk", "@modelcontextprotocol/client", "ai", "@ai-sdk/mcp", "@ai-sdk/openai-compatible", "@modelcontextprotocol/server-everything", "esbuild"]) {
  try { versions[p] = JSON.parse(readFileSync(`${BENCH}node_modules/${p}/package.json`, "utf8")).version; } catch { versions[p] = null; }
}
versions.mcpstream = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;
const cpus = os.cpus();
const results = {
  meta: {
    date: startedAt.toISOString(), seconds: (Date.now() - startedAt) / 1000, quick: QUICK, plan: PLAN, repsDone,
    node: process.version, platform: `${os.type()} ${os.release()} ${os.arch()}`,
    machine: `${cpus.length} × ${cpus[0]?.model ?? "?"}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    loadavg: os.loadavg(), versions,
  },
  scenarios, extra, errors,
};
mkdirSync(dirname(opts.out), { recursive: true });
writeFileSync(opts.out, JSON.stringify(results, null, 2) + "\n");
const md = tables(results);
writeFileSync(opts.out.replace(/\.json$/, "") + ".md", md);
process.stdout.write(md);
log(`wrote ${opts.out}${errors.length ? `; ${errors.length} error(s)` : ""}`);
process.exitCode = errors.length ? 1 : 0;

// ---- tables --------------------------------------------------------------------

function fmt(v, unit) {
  if (!Number.isFinite(v)) return String(v);
  if (unit === "bytes") return v >= 1e6 ? `${(v / 2 ** 20).toFixed(1)} MiB` : v >= 1e4 ? `${(v / 1024).toFixed(1)} KiB` : `${Math.round(v)} B`;
  if (unit === "s") return v < 1e-3 ? `${(v * 1e6).toFixed(1)} µs` : `${(v * 1e3).toFixed(2)} ms`;
  if (unit === "fraction") return `${Math.round(v * 100)} %`;
  const a = Math.abs(v);
  return a >= 1e5 ? `${(v / 1e3).toFixed(0)}k` : a >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function tables(results) {
  const { meta, scenarios: sc } = results;
  const peers = ["sdk1", "sdk2", "ai"];
  const short = { sdk1: "SDK v1", sdk2: "SDK v2", ai: "ai" };
  const out = [];
  out.push(`mcpstream ${meta.versions.mcpstream} vs ${peers.map((p) => `${LIB_LABEL[p]} ${p === "ai" ? `${meta.versions.ai} + ${meta.versions["@ai-sdk/mcp"]}` : meta.versions[p === "sdk1" ? "@modelcontextprotocol/sdk" : "@modelcontextprotocol/client"]}`).join(", ")}`);
  out.push(`${meta.date.slice(0, 16).replace("T", " ")} UTC · Node ${meta.node} · ${meta.machine} · load ${meta.loadavg.map((l) => l.toFixed(1)).join(" ")}` +
    ` · ${meta.quick ? "QUICK (counts too small to mean anything)" : `${meta.repsDone} repetitions, medians`} · ${Math.round(meta.seconds)} s`);
  out.push("");
  out.push("Ratio = mcpstream / peer (medians of the same run). ✓ = mcpstream is better in the direction shown.");
  out.push("Throughput is wall-clock (client and server processes); \"client CPU\" is the client process's own CPU time per");
  out.push("message, call or MB, which a busy machine disturbs less.");
  const st = results.extra.streams;
  if (st) {
    const reach = (lib) => st[lib]?.map((r) => `${r.count.toLocaleString("en")} streams, ${r.cycles.toLocaleString("en")} cycles${r.stoppedEarly ? " (stopped by the time bound)" : ""}`).join("; ");
    out.push(`Streams: ${["mcpstream", "ai"].filter((l) => st[l]).map((l) => `${l} reached ${reach(l)}`).join("; ")}; wanted ${meta.plan.streams[0].toLocaleString("en")} and ${meta.plan.streams[1].toLocaleString("en")} within ${meta.plan.streams[2]} s each.`);
  }
  out.push("");
  out.push(`| scenario | better | ${peers.map((p) => `÷ ${short[p]}`).join(" | ")} |`);
  out.push(`|---|---|${peers.map(() => "---:").join("|")}|`);
  for (const [id, s] of Object.entries(sc)) {
    if (id === "coldstart.raw") continue;
    if (!peers.some((p) => s.ratios[p] !== undefined)) continue;
    const cells = peers.map((p) => {
      const r = s.ratios[p];
      if (r === undefined) return "–";
      if (r === null) return "n/a (peer 0)";
      if (Math.abs(r - 1) < 0.005) return "1.00× =";
      const good = s.better === "higher" ? r > 1 : r < 1;
      return `${r.toFixed(2)}× ${good ? "✓" : "✗"}`;
    });
    out.push(`| ${s.title} | ${s.better} |${cells.map((c) => ` ${c} `).join("|")}|`);
  }
  out.push("");
  out.push("Absolute figures: median [min – max] over the repetitions.");
  out.push("");
  const cols = ["mcpstream", ...peers];
  const others = [...new Set(Object.values(sc).flatMap((s) => Object.keys(s.libs)))].filter((l) => !cols.includes(l));
  out.push(`| scenario | unit | ${[...cols.map((c) => short[c] ?? c), ...others].join(" | ")} |`);
  out.push(`|---|---|${[...cols, ...others].map(() => "---:").join("|")}|`);
  for (const s of Object.values(sc)) {
    const cell = (lib) => {
      const v = s.libs[lib];
      if (!v) return "–";
      return v.samples.length > 1 ? `${fmt(v.median, s.unit)} [${fmt(v.min, s.unit)} – ${fmt(v.max, s.unit)}]` : fmt(v.median, s.unit);
    };
    out.push(`| ${s.title} | ${s.unit} | ${[...cols, ...others].map(cell).join(" | ")} |`);
  }
  out.push("");
  return out.join("\n");
}

// throughput.js — throughput measurements in a fresh process:
//   node throughput.js <lib> <scenario[,scenario…]> <scale>
// Connects <lib> to the raw server; per scenario, warms up, checks the payload
// once, then times a fixed amount of work. Prints one JSON line:
//   { results: [{ scenario, value, unit, seconds, cpuSeconds, work, ... }] }
// (a full run measures one scenario per process; --quick all in one)
// `value` is higher-is-better (messages/s, calls/s or MB/s of result text).
import { connect, rawServer } from "../lib/clients.js";
import { payloadText } from "../raw-server.js";

const [lib, scenarioList, scaleArg] = process.argv.slice(2);
const scale = Number(scaleArg ?? 1);
const MB = 1e6;

/** Work per scenario at scale 1 (a full run); --quick scales it down. */
const SCENARIOS = {
  flood: { unit: "msg/s", n: 50_000 },
  r1k_seq: { unit: "calls/s", n: 2000, tool: "r1k" },
  r1k_par16: { unit: "calls/s", n: 3000, tool: "r1k", inFlight: 16 },
  r100k_ascii: { unit: "MB/s", n: 400, tool: "r100k_ascii" },
  r100k_utf8: { unit: "MB/s", n: 400, tool: "r100k_utf8" },
  r10m: { unit: "MB/s", n: 2, tool: "r10m" },
};

const client = await connect(lib, rawServer());
const results = [];
let spec, n;
try {
  for (const scenario of scenarioList.split(",")) {
    spec = SCENARIOS[scenario];
    if (!spec) throw new Error(`unknown scenario ${scenario}`);
    n = Math.max(spec.tool === "r10m" ? 1 : 2, Math.round(spec.n * scale));
    const result = spec.tool ? await payloadRun(client, spec) : await floodRun(client);
    results.push({ lib, scenario, unit: spec.unit, ...result });
  }
  process.stdout.write(JSON.stringify({ results }) + "\n");
} finally {
  await client.close();
}

function timed(fn) {
  return async () => {
    const c0 = process.cpuUsage(), t0 = performance.now();
    const extra = await fn();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, ...extra };
  };
}

async function floodRun(c) {
  let seen = 0;
  const onProgress = () => { seen++; };
  await c.call("flood", { count: Math.max(100, n >> 3) }, { onProgress }); // warm-up
  seen = 0;
  const r = await timed(async () => {
    await c.call("flood", { count: n }, { onProgress });
    return { work: n, delivered: seen };
  })();
  return { ...r, value: n / r.seconds };
}

async function payloadRun(c, { tool, inFlight = 1 }) {
  const expected = payloadText(tool);
  const bytes = Buffer.byteLength(expected);
  const check = (res) => {
    const text = res?.content?.[0]?.text;
    if (text !== expected) throw new Error(`${lib}: ${tool} came back altered (${text?.length} chars, expected ${expected.length})`);
  };
  // warm-up (the 10 MB case warms up on 100 KB results: one more 10 MB call would cost more than it tells):
  // a tenth of the calls, and at least 50 (the JIT: a client's per-call code, and the server's, are
  // still being compiled over the first few dozen calls)
  const [warmTool, warm] = tool === "r10m" ? ["r100k_ascii", 5] : [tool, Math.max(2, Math.round(n / 10), Math.min(50, n))];
  for (let i = 0; i < warm; i++) await c.call(warmTool);
  let heapAfter = null, last;
  const r = await timed(async () => {
    if (inFlight === 1) {
      for (let i = 0; i < n; i++) last = await c.call(tool);
    } else {
      let next = 0;
      const lane = async () => { while (next < n) { next++; last = await c.call(tool); } };
      await Promise.all(Array.from({ length: inFlight }, lane));
    }
    return { work: n, bytesPerCall: bytes };
  })();
  check(last); // the whole payload arrived intact
  let allocatedPeak = null;
  if (c.runtime) {
    const st = c.runtime.stats();
    heapAfter = st.heapBytes; // wasm memory never shrinks: its peak
    allocatedPeak = st.peakAllocatedBytes; // the most the core's allocator held at once
  }
  const value = spec.unit === "MB/s" ? (n * bytes) / MB / r.seconds : n / r.seconds;
  return { ...r, value, ...(heapAfter !== null && { wasmHeapBytes: heapAfter, wasmPeakAllocatedBytes: allocatedPeak }) };
}

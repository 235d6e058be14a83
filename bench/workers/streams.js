// streams.js — memory per suspended stream and stream cycles per second, in a
// fresh process:  node --expose-gc streams.js <mcpstream|ai> <count> <cycles> [seconds]
//
// Both libraries get server-everything's 13 tools (one stdio session, connected
// first) and an in-process model that answers "hello" at once (mcpstream: an
// `llm` function; ai: MockLanguageModelV4 from ai/test), so nothing but the
// streams themselves is measured.
//  1. <count> streams are created and advanced to their first step (a text
//     step / the first text-delta part), and kept suspended there. Memory
//     after minus before (both after GC), divided by <count>: RSS, JS heap and,
//     for mcpstream, wasm memory (runtime.stats().heapBytes: the memory's size,
//     which grows in steps and never shrinks) and the bytes the core's
//     allocator holds (runtime.stats().allocatedBytes: what the streams use). Creation time of the first and
//     of the last 1,000 streams (flat is the goal). Then all are returned.
//  2. <cycles> times: create → first next() → return(). For mcpstream,
//     runtime.stats().liveAllocations must be back to where it was.
// [seconds] bounds the run (3/4 for step 1, 1/4 for step 2): a library that
// slows down stops early, and the counts reached are reported (count, cycles,
// and stoppedEarly).
import { MCPSTREAM_ENTRY, SERVER_EVERYTHING } from "../lib/clients.js";

const [lib, countArg, cyclesArg] = process.argv.slice(2);
const countWanted = Number(countArg), cyclesWanted = Number(cyclesArg);
const budgetMs = Number(process.argv[5] ?? Infinity) * 1000;
const server = { command: process.execPath, args: [SERVER_EVERYTHING, "stdio"] };
if (typeof globalThis.gc !== "function") throw new Error("run with --expose-gc");

let open, stats = () => ({}), close;
if (lib === "mcpstream") {
  const { createRuntime, MCPClient, MCPAgent } = await import(MCPSTREAM_ENTRY);
  const runtime = await createRuntime();
  const client = new MCPClient({ mcpServers: { everything: server } }, { runtime });
  await client.connect();
  const agent = new MCPAgent({ runtime, client, llm: async () => ({ role: "assistant", content: "hello" }) });
  open = async () => {
    const s = agent.stream("hi");
    const r = await s.next();
    if (r.value?.type !== "text") throw new Error(`mcpstream: first step is ${JSON.stringify(r.value)}`);
    return s;
  };
  stats = () => {
    const s = runtime.stats();
    return { wasmHeapBytes: s.heapBytes, wasmAllocatedBytes: s.allocatedBytes, liveAllocations: s.liveAllocations };
  };
  close = async () => { await client.close(); await runtime.dispose(); };
} else if (lib === "ai") {
  const { streamText, simulateReadableStream } = await import("ai");
  const { MockLanguageModelV4 } = await import("ai/test");
  const { createMCPClient } = await import("@ai-sdk/mcp");
  const { StdioMCPTransport } = await import("@ai-sdk/mcp/mcp-stdio");
  const client = await createMCPClient({ transport: new StdioMCPTransport({ ...server, stderr: "ignore" }) });
  const tools = await client.tools();
  const tokens = { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 };
  const model = new MockLanguageModelV4({
    doStream: async () => ({
      stream: simulateReadableStream({
        initialDelayInMs: null, chunkDelayInMs: null,
        chunks: [
          { type: "stream-start", warnings: [] },
          { type: "text-start", id: "t" },
          { type: "text-delta", id: "t", delta: "hello" },
          { type: "text-end", id: "t" },
          { type: "finish", finishReason: { unified: "stop", raw: "stop" },
            usage: { inputTokens: tokens, outputTokens: { total: 1, text: 1, reasoning: 0 } } },
        ],
      }),
    }),
  });
  open = async () => {
    const it = streamText({ model, tools, prompt: "hi", maxRetries: 0 }).fullStream[Symbol.asyncIterator]();
    for (;;) {
      const r = await it.next();
      if (r.done) throw new Error("ai: the stream ended before a text-delta");
      if (r.value.type === "error") throw r.value.error;
      if (r.value.type === "text-delta") return it;
    }
  };
  close = () => client.close();
} else {
  throw new Error(`unknown library ${lib}`);
}

async function settle() {
  for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
}
function snapshot() {
  const m = process.memoryUsage();
  return { rss: m.rss, jsHeap: m.heapUsed + m.external + m.arrayBuffers, ...stats() };
}

try {
  for (let i = 0; i < Math.min(200, cyclesWanted); i++) await (await open()).return(); // warm-up
  await settle();
  const before = snapshot();

  // 1. suspended streams
  const held = [];
  const BLOCK = Math.min(1000, Math.max(1, countWanted >> 2));
  const deadline = performance.now() + budgetMs * 0.75;
  const marks = [performance.now()]; // time at every BLOCK streams
  while (held.length < countWanted && (held.length < 2 * BLOCK || performance.now() < deadline)) {
    held.push(await open());
    if (held.length % BLOCK === 0) marks.push(performance.now());
  }
  const count = held.length;
  const firstBlockMs = marks[1] - marks[0];
  const lastBlockMs = marks.at(-1) - marks.at(-2);
  await settle();
  const suspended = snapshot();
  for (const s of held) await s.return();
  held.length = 0;
  await settle();
  const afterReturn = snapshot();

  // 2. cycles
  const t0 = performance.now();
  const cyclesDeadline = t0 + budgetMs * 0.25;
  let cycles = 0;
  while (cycles < cyclesWanted && (cycles < 100 || performance.now() < cyclesDeadline)) {
    await (await open()).return();
    cycles++;
  }
  const seconds = (performance.now() - t0) / 1000;
  await settle();
  const end = snapshot();

  const per = (k) => (suspended[k] - before[k]) / count;
  const out = {
    lib, count, cycles, stoppedEarly: count < countWanted || cycles < cyclesWanted,
    perStream: { rss: per("rss"), jsHeap: per("jsHeap"),
      ...(before.wasmHeapBytes !== undefined && { wasmHeap: per("wasmHeapBytes"), wasmAllocated: per("wasmAllocatedBytes") }) },
    creationMsPerStream: { firstBlock: firstBlockMs / BLOCK, lastBlock: lastBlockMs / BLOCK, block: BLOCK },
    cyclesPerSecond: cycles / seconds,
    ...(before.liveAllocations !== undefined && {
      liveAllocations: { before: before.liveAllocations, suspended: suspended.liveAllocations,
        afterReturn: afterReturn.liveAllocations, afterCycles: end.liveAllocations },
      wasmHeapBytesAtEnd: end.wasmHeapBytes,
    }),
  };
  process.stdout.write(JSON.stringify(out) + "\n");
} finally {
  await close();
}

// peak-memory.test.js — the wasm memory one large message takes (issue 7: peak
// wasm heap <= 2x the largest message in flight). Wasm memory never shrinks, so
// what a message grows it by stays for the runtime's life: growing the memory a
// quarter of its size ahead of a big block, without knowing whether a free
// region would take it, grew it for nothing. Measured with runtime.stats(), not
// with time; a fresh runtime (its memory starts at 16 MiB).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createRuntime, MCPClient } from "../src/js/index.js";

const TOOLS_SERVER = fileURLToPath(new URL("../bench/workers/tools-server.js", import.meta.url));

test("a 16 MB tools/list read by a client grows the wasm memory by under 2.6x its size", async (t) => {
  const bytes = 16e6, size = 3800, count = Math.round(bytes / size);
  const runtime = await createRuntime({ limits: { messageBytes: 64 << 20 } });
  t.after(() => runtime.dispose());
  const start = runtime.stats().heapBytes; // the memory a fresh instance starts with
  const client = new MCPClient({ mcpServers: { big: { command: process.execPath, args: [TOOLS_SERVER, String(count), String(size)] } } }, { runtime });
  await client.connect();
  const tools = await client.listTools();
  assert.equal(tools.length, count);
  assert.equal(tools[count - 1].name, `tool_${count - 1}`);
  const st = runtime.stats();
  // before: grown by 3.4x (71 MB from 17 MB: the memory grown a quarter of its size ahead
  // of each big block, the client's copy of the list included, which then went into a
  // hole), now by about 2x: the list and the client's copy of it
  const grown = (st.heapBytes - start) / bytes;
  assert.ok(grown < 2.6, `wasm memory grew by ${((st.heapBytes - start) / 1e6).toFixed(1)} MB (${grown.toFixed(2)}x) for a ${bytes / 1e6} MB list`);
  assert.ok(st.peakAllocatedBytes / bytes < 2.1, `peak allocated ${(st.peakAllocatedBytes / 1e6).toFixed(1)} MB`);
  await client.close();
  assert.equal(runtime.stats().liveAllocations, 0);
});

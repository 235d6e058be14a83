// bench-smoke.test.js — every benchmark of `npm run bench` runs (with tiny
// counts: that it works, not how fast it is) and reports a finite number for
// mcpstream and for each peer. Timing is judged in the benchmark, never here.
// The peers are installed in bench/node_modules by bench/setup.sh (npm test
// runs it first, from bench/package-lock.json).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const RUN = fileURLToPath(new URL("../bench/run.js", import.meta.url));

/** Every scenario and who must have a number in it. */
const EXPECTED = {
  "throughput.flood": ["mcpstream", "sdk1", "sdk2"],
  "throughput.r1k_seq": ["mcpstream", "sdk1", "sdk2", "ai"],
  "throughput.r1k_par16": ["mcpstream", "sdk1", "sdk2", "ai"],
  "throughput.r100k_ascii": ["mcpstream", "sdk1", "sdk2", "ai"],
  "throughput.r100k_utf8": ["mcpstream", "sdk1", "sdk2", "ai"],
  "throughput.r10m": ["mcpstream", "sdk1", "sdk2", "ai"],
  "coldstart": ["mcpstream", "sdk1", "sdk2", "ai"],
  "agent.steps": ["mcpstream", "ai"],
  "streams.wasmHeap": ["mcpstream"],
  "streams.wasmAllocated": ["mcpstream"],
  "streams.rss": ["mcpstream", "ai"],
  "streams.jsHeap": ["mcpstream", "ai"],
  "streams.createFirst": ["mcpstream", "ai"],
  "streams.createLast": ["mcpstream", "ai"],
  "streams.cycles": ["mcpstream", "ai"],
  "streams.leakedAllocations": ["mcpstream"],
  "memory.peakHeapPerMessage": ["mcpstream"],
  "memory.peakAllocatedPerMessage": ["mcpstream"],
  "memory.peakAnswer": ["mcpstream"],
  "memory.peakAnswerHeap": ["mcpstream"],
  "memory.peakToolsList": ["mcpstream"],
  "memory.peakToolsListHeap": ["mcpstream"],
  "earlyExit.p50": ["mcpstream", "sdk1", "sdk2", "ai", "bare spawn/eof", "bare spawn/kill"],
  "earlyExit.p95": ["mcpstream", "sdk1", "sdk2", "ai", "bare spawn/eof", "bare spawn/kill"],
  "earlyExit.goneAtResolve": ["mcpstream", "sdk1", "sdk2", "ai"],
  "size.gzip": ["mcpstream", "sdk1", "sdk2", "ai"],
  "size.min": ["mcpstream", "sdk1", "sdk2", "ai"],
};

test("npm run bench -- --quick: every scenario runs and reports finite numbers", { timeout: 15 * 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "mcpstream-bench-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, "results.json");
  const child = spawn(process.execPath, [RUN, "--quick", "--out", out], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "", stderr = "";
  child.stdout.on("data", (d) => { stdout += d; });
  child.stderr.on("data", (d) => { stderr += d; });
  const code = await new Promise((resolve) => child.on("close", resolve));
  assert.equal(code, 0, `bench/run.js --quick failed:\n${stderr.slice(-4000)}`);

  const results = JSON.parse(readFileSync(out, "utf8"));
  assert.deepEqual(results.errors, []);
  assert.equal(results.meta.quick, true);
  for (const [id, libs] of Object.entries(EXPECTED)) {
    const s = results.scenarios[id];
    assert.ok(s, `scenario ${id} is missing`);
    assert.ok(["higher", "lower"].includes(s.better), `${id}: direction`);
    for (const lib of libs) {
      const v = s.libs[lib];
      assert.ok(v, `${id}: no result for ${lib}`);
      for (const k of ["median", "min", "max"]) assert.ok(Number.isFinite(v[k]), `${id}/${lib}: ${k} is ${v[k]}`);
      // A ratio needs a peer figure other than 0: with --quick's few streams a peer's RSS
      // change can be exactly 0 (a page granularity), and mcpstream / 0 is no figure.
      if (lib !== "mcpstream" && v.median !== 0) assert.ok(Number.isFinite(s.ratios[lib]), `${id}: ratio to ${lib} is ${s.ratios[lib]}`);
    }
  }
  // What the benchmark checks on the way, beyond speed:
  // create → next() → return() cycles leave no allocation behind in the core,
  assert.equal(results.scenarios["streams.leakedAllocations"].libs.mcpstream.max, 0);
  // and a stream's return() resolves only once the server it owned is gone.
  assert.equal(results.scenarios["earlyExit.goneAtResolve"].libs.mcpstream.min, 1);
  // The tables are printed.
  assert.match(stdout, /\| scenario \| better \|/);
});

// How responsive the event loop stays while many stdio sessions close (issue 5, item 4).
//
//   node bench/event-loop-close.js [sessions=20] [descendants=3] [rounds=3]
//
// Opens `sessions` MCP sessions of one MCPClient; every server (wasm-tests/fixtures/
// hostile-stdio-server.js) leaves `descendants` `sleep` processes in its group and one
// `setsid sleep` out of it, so every close has a tree to reap. Then it closes the client
// while perf_hooks.monitorEventLoopDelay samples the loop (1 ms resolution), and prints the
// largest and the 99th-percentile delay during the close, the close's duration, and how many
// processes outlived it, beside the same figures for 2 s of doing nothing just before (the
// machine's noise floor). On a shared, loaded machine, BENCH_RT=1 (Linux, root) runs every
// thread of this process — not the servers, started before — at real-time priority while it
// measures (chrt -a -f -p 10), so the figures are this process's own blocking rather than the
// scheduler's. (chrt -R on the command line is not the same: V8's and libuv's helper threads
// then stay at normal priority and the main thread waits on them: priority inversion.)
import { monitorEventLoopDelay } from "node:perf_hooks";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import v8 from "node:v8";
import { execFileSync } from "node:child_process";
import vm from "node:vm";
import { createRuntime, MCPClient } from "../src/js/index.js";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc"); // the bench's own garbage (its /proc reads) is collected before a measurement

const [sessions = 20, descendants = 3, rounds = 3] = process.argv.slice(2).map(Number);
const SERVER = fileURLToPath(new URL("../wasm-tests/fixtures/hostile-stdio-server.js", import.meta.url));

/** Live pids whose environment carries the tag (the servers and everything they started). */
function tagged(tag) {
  const out = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!readFileSync(`/proc/${name}/environ`, "latin1").includes(`BENCH_TAG=${tag}`)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, "latin1");
      if (stat[stat.lastIndexOf(")") + 2] !== "Z") out.push(Number(name));
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** The loop's delay while nothing of ours runs, for `ms`: the machine's noise floor. */
async function idleDelay(ms) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((r) => setTimeout(r, ms));
  h.disable();
  return h;
}

const runtime = await createRuntime();
for (let round = 1; round <= rounds; round++) {
  const tag = randomUUID();
  const mcpServers = {};
  for (let i = 0; i < sessions; i++) {
    mcpServers[`s${i}`] = { command: process.execPath, args: [SERVER, `descendants=${descendants}`, "setsid-child"],
                            env: { BENCH_TAG: tag } };
  }
  const client = new MCPClient({ mcpServers }, { runtime });
  await client.connect();
  const before = tagged(tag).length;
  if (process.env.BENCH_RT) execFileSync("chrt", ["-a", "-f", "-p", "10", String(process.pid)]);
  gc();
  const idle = await idleDelay(2000);
  gc();
  const h = monitorEventLoopDelay({ resolution: 1 });
  const t0 = performance.now();
  h.enable();
  await client.close();
  h.disable();
  const ms = performance.now() - t0;
  if (process.env.BENCH_RT) execFileSync("chrt", ["-a", "-o", "-p", "0", String(process.pid)]);
  const left = tagged(tag);
  console.log(`round ${round}: ${sessions} sessions, ${before} processes; close took ${ms.toFixed(0)} ms; ` +
    `event-loop delay max ${(h.max / 1e6).toFixed(1)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms, ` +
    `mean ${(h.mean / 1e6).toFixed(1)} ms; processes left: ${left.length} ` +
    `(idle for 2 s just before: max ${(idle.max / 1e6).toFixed(1)} ms, p99 ${(idle.percentile(99) / 1e6).toFixed(1)} ms)`);
  for (const pid of left) { try { process.kill(pid, "SIGKILL"); } catch { /* gone */ } }
}
await runtime.dispose();

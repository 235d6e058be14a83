// The command line: `mcpstream demo` (what `npm start` runs) and
// `mcpstream run --config`, as a user runs them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { mkdtemp, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startModelServer } from "./fixtures/model-server.js";
import { everything, pidsWithTag, killTagged } from "./helpers.js";

const CLI = fileURLToPath(new URL("../src/js/cli.js", import.meta.url));
const run = promisify(execFile);
const env = (extra = {}) => {
  const e = { ...process.env, ...extra };
  for (const k of ["OPENAI_BASE_URL", "OPENAI_API_KEY", "MCPSTREAM_MODEL"]) if (!(k in extra)) delete e[k];
  return e;
};

test("demo: streams tool call, progress, result and final answer, then a lifecycle summary", async () => {
  const { stdout } = await run(process.execPath, [CLI, "demo"], { env: env(), timeout: 60000 });
  assert.match(stdout, /LOCAL STAND-IN/, "the stand-in is labelled as such");
  assert.match(stdout, /→ tool_call\s+everything\/get-sum \{"a":2,"b":40\}/);
  assert.match(stdout, /… progress\s+4\/4/);
  assert.match(stdout, /← tool_result everything\/trigger-long-running-operation/);
  assert.match(stdout, /✔ final\s+The sum of 2 and 40 is 42\./);
  assert.match(stdout, /summary: 2 session\(s\) opened \(2 by stream\), 2 closed; every session closed exactly once: yes; core live allocations at the end: 0/);
});

test("run --config: any mcpServers config with the model from the environment; leaves no process", async (t) => {
  const model = await startModelServer();
  const server = everything({ tree: true });
  const dir = await mkdtemp(join(tmpdir(), "mcpstream-cli-"));
  t.after(async () => { await model.close(); killTagged(server.tag); await rm(dir, { recursive: true, force: true }); });
  const config = join(dir, "mcp.json");
  await writeFile(config, JSON.stringify({ mcpServers: { tools: server.config } }));
  const { stdout } = await run(process.execPath, [CLI, "run", "--config", config, "--quiet", "Echo \"hello there\""], {
    env: env({ OPENAI_BASE_URL: model.baseURL, OPENAI_API_KEY: "k", MCPSTREAM_MODEL: "m" }), timeout: 60000,
  });
  assert.equal(stdout.trim(), "The echo tool replied: Echo: hello there");
  assert.equal(model.requests[0].model, "m");
  assert.equal(model.requests[0].headers.authorization, "Bearer k");
  assert.deepEqual(pidsWithTag(server.tag), []);
});

test("usage errors exit 2 with a message that says what to do", async () => {
  for (const [args, message] of [
    [["run", "q"], /run needs --config mcp\.json/],
    [["run", "--config", "/nonexistent/mcp.json", "q"], /cannot read \/nonexistent\/mcp\.json/],
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["run", "--config"], /--config needs a value/],
  ]) {
    await assert.rejects(run(process.execPath, [CLI, ...args], { env: env() }), (e) => {
      assert.equal(e.code, 2, `exit code of ${args.join(" ")}`);
      assert.match(e.stderr, message);
      return true;
    });
  }
});

test("run without a model configured refuses clearly (no stand-in outside the demo)", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "mcpstream-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, "mcp.json");
  await writeFile(config, JSON.stringify({ mcpServers: {} }));
  await assert.rejects(run(process.execPath, [CLI, "run", "--config", config, "hi"], { env: env() }), (e) => {
    assert.equal(e.code, 2);
    assert.match(e.stderr, /no model configured: set OPENAI_BASE_URL/);
    return true;
  });
});

test("--version prints the package's version", async () => {
  const pkg = JSON.parse(await (await import("node:fs/promises")).readFile(new URL("../package.json", import.meta.url), "utf8"));
  for (const flag of ["--version", "-v"]) {
    const { stdout } = await run(process.execPath, [CLI, flag], { env: env() });
    assert.equal(stdout.trim(), `mcpstream ${pkg.version}`);
  }
});

test("run accepts a VS Code style { servers } config, and --stand-in instead of a model", async (t) => {
  const server = everything();
  const dir = await mkdtemp(join(tmpdir(), "mcpstream-cli-"));
  t.after(async () => { killTagged(server.tag); await rm(dir, { recursive: true, force: true }); });
  const config = join(dir, "mcp.json");
  await writeFile(config, JSON.stringify({ servers: { tools: { type: "stdio", ...server.config } } }));
  const { stdout } = await run(process.execPath, [CLI, "run", "--config", config, "--stand-in", "--quiet", "What is 2 + 40?"],
    { env: env(), timeout: 60000 });
  assert.equal(stdout.trim(), "The sum of 2 and 40 is 42.");
  assert.deepEqual(pidsWithTag(server.tag), []);
});

test("silent mistakes are said: a config without servers, an endpoint without a model name", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "mcpstream-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, "mcp.json");
  await writeFile(config, JSON.stringify({ mcp: { servers: {} } }));
  await assert.rejects(run(process.execPath, [CLI, "run", "--config", config, "--stand-in", "hi"], { env: env() }), (e) => {
    assert.equal(e.code, 2);
    assert.match(e.stderr, /has no "mcpServers" \(Claude Desktop style\) or "servers" \(VS Code style\) object/);
    return true;
  });
  await writeFile(config, JSON.stringify({ mcpServers: {} }));
  await assert.rejects(run(process.execPath, [CLI, "run", "--config", config, "--base-url", "http://127.0.0.1:9/v1", "hi"], { env: env() }), (e) => {
    assert.equal(e.code, 2);
    assert.match(e.stderr, /which model at http:\/\/127\.0\.0\.1:9\/v1\? pass --model NAME or set MCPSTREAM_MODEL/);
    return true;
  });
});

test("Ctrl-C stops the run, closes what it opened and prints it; exit code 130", async () => {
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, [CLI, "demo", "Run a long operation for 60 seconds"], { env: env(), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "", stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const exited = new Promise((r) => child.once("exit", (code, signal) => r({ code, signal })));
  await new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => { stdout += d; if (/… progress/.test(stdout)) resolve(); });
    child.once("exit", () => reject(new Error(`exited before any progress:\n${stdout}\n${stderr}`)));
  });
  child.kill("SIGINT");
  const { code } = await exited;
  assert.equal(code, 130, stderr);
  assert.match(stderr, /\^C: stopping; closing what this run opened/);
  assert.match(stdout, /session-close\s+everything #\d+ owner stream \(stream \d+\), closed/);
  assert.match(stdout, /summary: 1 session\(s\) opened \(1 by stream\), 1 closed; every session closed exactly once: yes/);
});

test("run --config with a url entry: the server over Streamable HTTP, its session DELETEd at the end", async (t) => {
  const { startEverythingHttp, startRecordingProxy } = await import("./fixtures/http-everything.js");
  const model = await startModelServer();
  const srv = await startEverythingHttp();
  const proxy = await startRecordingProxy(srv.url);
  const dir = await mkdtemp(join(tmpdir(), "mcpstream-cli-"));
  t.after(async () => { await model.close(); await proxy.close(); await srv.close(); await rm(dir, { recursive: true, force: true }); });
  const config = join(dir, "mcp.json");
  await writeFile(config, JSON.stringify({ mcpServers: { tools: { url: proxy.url, headers: { "X-Team": "qa" } } } }));
  const { stdout } = await run(process.execPath, [CLI, "run", "--config", config, "Echo \"hello there\""], {
    env: env({ OPENAI_BASE_URL: model.baseURL, OPENAI_API_KEY: "k", MCPSTREAM_MODEL: "m" }), timeout: 60000,
  });
  assert.match(stdout, /server tools: http:\/\/127\.0\.0\.1:\d+\/mcp/);
  assert.match(stdout, /The echo tool replied: Echo: hello there/);
  assert.equal(proxy.of("DELETE").length, 1, "the session was ended with DELETE");
  assert.ok(proxy.records.every((r) => r.headers["x-team"] === "qa"), "the config's headers went with every request");
});

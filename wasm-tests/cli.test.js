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

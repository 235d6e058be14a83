// First contact: the packed tarball installed into an empty project, used as a
// new user would — imported under each exports condition, required from
// CommonJS, its CLI, and its types under TypeScript 5.x and 7.x with --strict.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { everything, pidsWithTag, killTagged } from "./helpers.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
let dir, project, packed;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "mcpstream-pack-"));
  const { stdout } = await run("npm", ["pack", "--pack-destination", dir, "--json", "--ignore-scripts"], { cwd: ROOT });
  packed = JSON.parse(stdout)[0];
  project = path.join(dir, "app");
  await run("mkdir", ["-p", project]);
  await writeFile(path.join(project, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true, type: "module" }));
  // mcpstream has no runtime dependencies: the install needs no registry
  await run("npm", ["install", path.join(dir, packed.filename), "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: project });
});
after(() => rm(dir, { recursive: true, force: true }));

/** Runs ESM code in the project under extra conditions; returns its stdout parsed as JSON. */
async function inProject(code, conditions = []) {
  const { stdout } = await run(process.execPath, [...conditions.map((c) => `--conditions=${c}`), "--input-type=module", "-e", code],
    { cwd: project, timeout: 60000 });
  return JSON.parse(stdout);
}

const USE = `
  const text = await new MCPAgent({ runtime, llm: async () => "hi from the package" }).run("hello");
  const stats = runtime.stats();
  await runtime.dispose();
  console.log(JSON.stringify({ entry: import.meta.resolve("mcpstream"), text, stats, sse: typeof toSSEResponse }));
`;

test("the tarball ships what users run: the JS, its types, the .wasm; no C sources, tests or demo", () => {
  const files = packed.files.map((f) => f.path);
  for (const f of ["dist/mcpstream.wasm", "src/js/index.js", "src/js/browser.js", "src/js/worker.js", "src/js/index.d.ts",
    "src/js/mcpstream.wasm.d.ts", "src/js/standin-model.js", "src/js/cli.js", "README.md", "package.json"])
    assert.ok(files.includes(f), `${f} is not in the tarball`);
  assert.deepEqual(files.filter((f) => /^(src\/core|wasm-tests|web|examples|deps|build)\/|\.[ch]$/.test(f)), []);
});

test("node condition: createRuntime() reads the shipped .wasm", async () => {
  const out = await inProject(`import { createRuntime, MCPAgent, toSSEResponse } from "mcpstream";
    const runtime = await createRuntime();${USE}`);
  assert.match(out.entry, /node_modules\/mcpstream\/src\/js\/index\.js$/);
  assert.equal(out.text, "hi from the package");
  assert.equal(out.stats.liveAllocations, 0);
  assert.equal(out.sse, "function");
});

test("browser condition: the browser entry, given the .wasm bytes", async () => {
  const out = await inProject(`import { createRuntime, MCPAgent, toSSEResponse } from "mcpstream";
    import { readFile } from "node:fs/promises";
    const runtime = await createRuntime({ wasm: await readFile(new URL(import.meta.resolve("mcpstream/mcpstream.wasm"))) });${USE}`, ["browser"]);
  assert.match(out.entry, /src\/js\/browser\.js$/);
  assert.equal(out.text, "hi from the package");
});

test("workerd condition: the worker entry, given a WebAssembly.Module; without one it says what to write", async () => {
  const out = await inProject(`import { createRuntime, MCPAgent, toSSEResponse } from "mcpstream";
    import { readFile } from "node:fs/promises";
    const missing = await createRuntime().then(() => null, (e) => e.code + ": " + e.message);
    const wasm = await WebAssembly.compile(await readFile(new URL(import.meta.resolve("mcpstream/mcpstream.wasm"))));
    const runtime = await createRuntime({ wasm });
    const text = await new MCPAgent({ runtime, llm: async () => "hi from the package" }).run("hello");
    await runtime.dispose();
    console.log(JSON.stringify({ entry: import.meta.resolve("mcpstream"), text, missing }));`, ["workerd"]);
  assert.match(out.entry, /src\/js\/worker\.js$/);
  assert.equal(out.text, "hi from the package");
  assert.match(out.missing, /^INVALID_ARGUMENT: .*import wasm from "mcpstream\/mcpstream\.wasm"/);
});

test("require() from CommonJS works on the Node versions engines names", async () => {
  const { stdout } = await run(process.execPath, ["-e", `const m = require("mcpstream"); console.log(JSON.stringify(Object.keys(m).sort()))`],
    { cwd: project });
  assert.ok(JSON.parse(stdout).includes("createRuntime"));
  const pkg = JSON.parse(await (await import("node:fs/promises")).readFile(path.join(ROOT, "package.json"), "utf8"));
  assert.equal(pkg.engines.node, "^20.19.0 || >=22.12.0");
});

test("the installed CLI: --version, and run --stand-in with a config (the stand-in ships)", async (t) => {
  const bin = path.join(project, "node_modules", ".bin", "mcpstream");
  const { stdout } = await run(bin, ["--version"], { cwd: project });
  assert.match(stdout, /^mcpstream \d+\.\d+\.\d+/);
  const server = everything();
  t.after(() => killTagged(server.tag));
  const config = path.join(project, "mcp.json");
  await writeFile(config, JSON.stringify({ mcpServers: { everything: server.config } }));
  const env = { ...process.env };
  for (const k of ["OPENAI_BASE_URL", "OPENAI_API_KEY", "MCPSTREAM_MODEL"]) delete env[k];
  const out = await run(bin, ["run", "--config", config, "--stand-in", "--quiet", "What is 2 + 40?"], { cwd: project, env, timeout: 60000 });
  assert.equal(out.stdout.trim(), "The sum of 2 and 40 is 42.");
  assert.deepEqual(pidsWithTag(server.tag), []);
});

test("types compile under TypeScript 5.x and 7.x with --strict and the default lib", async () => {
  await writeFile(path.join(project, "app.ts"), `
import { createRuntime, MCPAgent, MCPClient, toSSEResponse, type Step, type ChatRequest } from "mcpstream";
import wasm from "mcpstream/mcpstream.wasm";
const runtime = await createRuntime({ wasm });
const agent = new MCPAgent({ runtime, llm: async (request: ChatRequest) => {
  const names: string[] = (request.tools ?? []).map((t) => t.function.name);
  const last = request.messages.at(-1);
  const answered: string | undefined = last?.tool_call_id;
  return { role: "assistant" as const, content: \`\${names.length} \${answered ?? ""}\`, tool_calls: [] };
} });
const stream = agent.stream("hi");
for await (const step of stream) { const s: Step = step; if (s.type === "final") console.log(s.text); }
await stream[Symbol.asyncDispose]();
const response: Response = toSSEResponse(agent.stream("x"), { signal: AbortSignal.timeout(1000) });
const client = new MCPClient({ mcpServers: { remote: { url: "http://127.0.0.1:1/mcp" } } }, { runtime });
void client; void response;
`);
  for (const tsc of ["typescript-5", "typescript"]) {
    const bin = path.join(ROOT, "node_modules", tsc, "bin", "tsc");
    const { stdout: version } = await run(process.execPath, [bin, "--version"]);
    await run(process.execPath, [bin, "--strict", "--noEmit", "--module", "nodenext", "app.ts"], { cwd: project })
      .catch((e) => assert.fail(`${version.trim()}: ${e.stdout}${e.stderr}`));
  }
});

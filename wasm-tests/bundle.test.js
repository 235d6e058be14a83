// A bundled app must not break (issue: a bundle looked for the .wasm next to
// itself and failed with ENOENT). An app in a temporary project that depends
// on mcpstream is bundled with esbuild for Node and for browsers, moved away
// from the package, and run: with the one documented line
//   import wasm from "mcpstream/mcpstream.wasm";  createRuntime({ wasm })
// it works; without it, the error says what to write. The browser bundle has
// no Node built-in in it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, writeFile, symlink, readFile, rm } from "node:fs/promises";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
let dir;

const APP = (withWasm) => `
import { createRuntime, MCPAgent, toSSEResponse } from "mcpstream";
${withWasm ? 'import wasm from "mcpstream/mcpstream.wasm";' : "const wasm = undefined;"}
const runtime = await createRuntime({ wasm });
const agent = new MCPAgent({ runtime, llm: async () => ({ role: "assistant", content: "hello from a bundle" }) });
const text = await agent.run("hi");
const sse = await toSSEResponse(agent.stream("hi")).text();
console.log(JSON.stringify({ text, sse, stats: runtime.stats() }));
await runtime.dispose();
`;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "mcpstream-bundle-"));
  await mkdir(path.join(dir, "node_modules"), { recursive: true });
  await symlink(ROOT, path.join(dir, "node_modules", "mcpstream"), "dir");
  await writeFile(path.join(dir, "package.json"), JSON.stringify({ name: "app", type: "module", private: true }));
  await writeFile(path.join(dir, "app.js"), APP(true));
  await writeFile(path.join(dir, "app-no-wasm.js"), APP(false));
});
after(() => rm(dir, { recursive: true, force: true }));

/** Bundles entry into dir/out/<name>.mjs with the documented loader; returns its path. */
async function bundle(entry, name, platform) {
  const outfile = path.join(dir, "out", `${name}.mjs`);
  await build({
    entryPoints: [path.join(dir, entry)], outfile, bundle: true, format: "esm", platform,
    loader: { ".wasm": "binary" }, target: platform === "node" ? "node20" : "chrome120", logLevel: "silent", absWorkingDir: dir,
  });
  return outfile;
}

/** Runs a bundle from a folder that has no mcpstream anywhere near it. */
async function runBundle(file) {
  const away = await mkdtemp(path.join(tmpdir(), "mcpstream-away-"));
  const moved = path.join(away, "app.mjs");
  await writeFile(moved, await readFile(file));
  try {
    const { stdout } = await run(process.execPath, [moved], { cwd: away, timeout: 60000 });
    return JSON.parse(stdout);
  } finally {
    await rm(away, { recursive: true, force: true });
  }
}

function assertRan(out) {
  assert.equal(out.text, "hello from a bundle");
  assert.match(out.sse, /^event: text\n/);
  assert.match(out.sse, /\n\nevent: final\ndata: \{"type":"final","text":"hello from a bundle","reason":"stop","usage":null\}\n\n$/);
  assert.equal(out.stats.liveAllocations, 0);
  assert.equal(out.stats.streamsOpen, 0);
}

test("esbuild, platform node, with the documented line: the bundle runs away from the package", async () => {
  assertRan(await runBundle(await bundle("app.js", "node", "node")));
});

test("esbuild, platform browser: no Node built-in is bundled, and the bundle runs", async () => {
  const file = await bundle("app.js", "browser", "browser");
  const code = await readFile(file, "utf8");
  assert.doesNotMatch(code, /\bfrom\s*["']node:|require\(["']node:|import\(["']node:/, "a Node built-in in the browser bundle");
  assert.doesNotMatch(code, /child_process|node:http/);
  assertRan(await runBundle(file));
});

test("esbuild, platform node, without the line: the error names the line to write", async () => {
  const file = await bundle("app-no-wasm.js", "node-no-wasm", "node");
  await assert.rejects(runBundle(file), (e) => {
    assert.match(e.stderr, /INVALID_STATE|cannot load/);
    assert.match(e.stderr, /import wasm from "mcpstream\/mcpstream\.wasm"/);
    return true;
  });
});

test("the exports map: workerd before browser, node, default; the .wasm subpath", async () => {
  const pkg = JSON.parse(await readFile(path.join(ROOT, "package.json"), "utf8"));
  const keys = Object.keys(pkg.exports["."]);
  assert.deepEqual(keys, ["types", "workerd", "browser", "node", "default"]);
  assert.equal(pkg.exports["./mcpstream.wasm"].default, "./dist/mcpstream.wasm");
  // the browser and workerd entries import no Node built-in, directly or through their imports
  for (const condition of ["browser", "workerd"]) {
    const result = await build({
      stdin: { contents: 'export * from "mcpstream";', resolveDir: dir }, bundle: true, write: false,
      format: "esm", platform: "neutral", conditions: [condition], metafile: true, logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.some((f) => f.endsWith(condition === "browser" ? "src/js/browser.js" : "src/js/worker.js")), inputs.join("\n"));
    const imports = Object.values(result.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
    assert.deepEqual(imports.filter((p) => p.startsWith("node:") || /^(fs|http|https|stream|child_process|url)$/.test(p)), [], condition);
  }
});

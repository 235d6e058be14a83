// Cold start: importing the Node entry and getting ready to connect loads no Node built-in
// that only a connection needs (node:child_process, node:http, node:https and what they pull
// in: tls, net, crypto). They cost ~25 ms of a cold start together (bench/ `coldstart`); they
// are loaded at the first spawn and the first model request. Times are the benchmark's job:
// this checks which modules are loaded, which does not depend on the machine.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const run = promisify(execFile);
const ENTRY = new URL("../src/js/index.js", import.meta.url).href;
const LAZY = ["child_process", "http", "https", "tls", "net", "crypto"];

/** Runs `code` (ESM, `m` = the entry) in a fresh node; returns which LAZY modules it loaded. */
async function loadedAfter(code) {
  const script = `
    const before = new Set(process.moduleLoadList);
    const m = await import(${JSON.stringify(ENTRY)});
    ${code}
    const lazy = ${JSON.stringify(LAZY)};
    const loaded = process.moduleLoadList.filter((x) => !before.has(x))
      .map((x) => x.replace(/^NativeModule /, "")).filter((x) => lazy.includes(x));
    process.stdout.write(JSON.stringify(loaded));
    process.exit(0);`;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script],
    { cwd: fileURLToPath(new URL("..", import.meta.url)) });
  return JSON.parse(stdout);
}

test("import, createRuntime and a client ready to connect load no spawn or http module", async () => {
  const loaded = await loadedAfter(`
    const runtime = await m.createRuntime();
    new m.MCPClient({ mcpServers: { s: { command: "node", args: ["server.js"] } } }, { runtime });
    new m.MCPAgent({ client: new m.MCPClient({ mcpServers: {} }, { runtime }), llm: { baseURL: "https://example.invalid/v1", model: "m" } });`);
  assert.deepEqual(loaded, []);
});

test("the check sees a module that is loaded (control)", async () => {
  const loaded = await loadedAfter(`await import("node:https"); process.getBuiltinModule("node:child_process");`);
  for (const name of ["https", "tls", "child_process"]) assert.ok(loaded.includes(name), `${name} in ${loaded}`);
});

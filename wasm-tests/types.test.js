// index.d.ts and index.js must not drift: every value the types declare is
// exported at run time, and every run-time export is declared.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as api from "../src/js/index.js";

const dts = readFileSync(new URL("../src/js/index.d.ts", import.meta.url), "utf8");

test("every class and function declared in index.d.ts is exported by index.js, and back", () => {
  const declared = [...dts.matchAll(/^export (?:declare )?(?:class|function) (\w+)/gm)].map((m) => m[1]).sort();
  const typeOnly = new Set([...dts.matchAll(/^export (?:interface|type) (\w+)/gm)].map((m) => m[1]));
  const runtime = Object.keys(api).filter((k) => !typeOnly.has(k)).sort();
  assert.deepEqual(declared, runtime.filter((k) => declared.includes(k) || typeof api[k] === "function").sort());
  for (const name of declared) assert.equal(typeof api[name], "function", `${name} is declared but not exported`);
});

test("the package's exports map points at the entry point and its types", async () => {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  assert.equal(pkg.exports["."].types, "./src/js/index.d.ts");
  assert.equal(pkg.exports["."].node, "./src/js/index.js");
  const self = await import("mcpstream");
  assert.equal(self.MCPAgent, api.MCPAgent);
});

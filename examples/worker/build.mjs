#!/usr/bin/env node
// Bundles the worker for workerd: `node examples/worker/build.mjs [outDir]`
// writes outDir/dist/worker.js (worker.js and mcpstream, for the "workerd"
// condition) and outDir/dist/mcpstream.wasm, and copies config.capnp to
// outDir (default: this folder). Wrangler users need none of this: wrangler
// bundles with the same conditions and turns the .wasm import into a module.
import { build } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.argv[2] ?? here);
await mkdir(path.join(out, "dist"), { recursive: true });
await build({
  entryPoints: [path.join(here, "worker.js")],
  outfile: path.join(out, "dist", "worker.js"),
  bundle: true,
  format: "esm",
  platform: "neutral",
  conditions: ["workerd", "worker", "import"],
  external: ["mcpstream/mcpstream.wasm"], // a module of its own in config.capnp
  logLevel: "warning",
});
await copyFile(path.join(here, "../../dist/mcpstream.wasm"), path.join(out, "dist", "mcpstream.wasm"));
if (out !== here) await copyFile(path.join(here, "config.capnp"), path.join(out, "config.capnp"));

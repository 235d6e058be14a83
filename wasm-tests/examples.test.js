// The examples a user copies must keep working: run each against the model
// stand-in (through the OPENAI_* variables a real model would use).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { startModelServer } from "./fixtures/model-server.js";

const run = promisify(execFile);
const example = (name) => fileURLToPath(new URL(`../examples/node/${name}`, import.meta.url));

async function runExample(t, name) {
  const model = await startModelServer();
  t.after(() => model.close());
  const { stdout } = await run(process.execPath, [example(name)], {
    timeout: 60000,
    env: { ...process.env, OPENAI_BASE_URL: model.baseURL, OPENAI_API_KEY: "test", MCPSTREAM_MODEL: "stand-in" },
  });
  return stdout;
}

test("examples/node/break-early.js: leaving at the first progress closes the server once", async (t) => {
  const out = await runExample(t, "break-early.js");
  assert.match(out, /progress 1\/4/);
  assert.match(out, /request-cancel everything return/);
  assert.equal(out.match(/session-close everything closed/g)?.length, 1);
  assert.match(out, /sessionsOpen: 0/);
  assert.match(out, /liveAllocations: 0/);
});

test("examples/node/borrowed-client.js: an aborted stream leaves the client's session usable", async (t) => {
  const out = await runExample(t, "borrowed-client.js");
  assert.match(out, /stream ended: AbortError \(ABORTED\)/);
  assert.match(out, /Echo: still here/);
});

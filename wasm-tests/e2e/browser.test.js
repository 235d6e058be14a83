// Browser end to end: real Chromium (Debian's, installed by `build.sh setup`)
// loads the demo page (web/), which runs the package's browser entry and the
// .wasm against server-everything over Streamable HTTP (cross-origin, through
// the demo's recording gateway) and the model stand-in. Counted from the MCP
// server's side: each session the page's streams opened got exactly one DELETE.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startDemo } from "../../web/server.js";
import { sessionsCreated, deletesBySession, until } from "./gateway.js";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const ARTIFACTS = fileURLToPath(new URL("../../artifacts/", import.meta.url));

let demo, context, page, profile;
const pageErrors = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: \`bash build.sh setup\` installs Debian's chromium`);
  demo = await startDemo();
  profile = mkdtempSync(path.join(tmpdir(), "mcpstream-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, args: ARGS, headless: true, viewport: { width: 1440, height: 900 },
  });
  page = context.pages()[0] ?? await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(`console.error: ${m.text()}`); });
  page.on("requestfailed", (r) => { if (!/\/mcp$|\/v1\//.test(r.url())) pageErrors.push(`request failed: ${r.url()}`); });
  await page.goto(demo.url);
  await page.waitForFunction(() => window.__demo?.ready === true, null, { timeout: 30000 });
});

after(async () => {
  await context?.close().catch(() => {});
  await demo?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** Types a question and presses Ask; returns the run's index in window.__demo.runs. */
async function ask(question) {
  const index = await page.evaluate(() => window.__demo.runs.length);
  await page.fill("#question", question);
  await page.click("#ask");
  await page.waitForFunction((i) => window.__demo.runs.length > i, index, { timeout: 10000 });
  return index;
}
const runOf = (i) => page.evaluate((j) => window.__demo.runs[j], i);
const waitRun = (i, fn, arg, timeout = 30000) =>
  page.waitForFunction(([j, src, a]) => new Function("run", "arg", `return (${src})(run, arg)`)(window.__demo.runs[j], a), [i, fn.toString(), arg], { timeout });

test("the page loads the browser entry and compiles the .wasm: nothing failed", async () => {
  assert.equal(await page.evaluate(() => window.__demo.runtimeNo), 1);
  assert.deepEqual(pageErrors, []);
});

test("a question runs to the final answer; its session got exactly one DELETE", async () => {
  const i = await ask("What is 2 + 40?");
  await waitRun(i, (run) => run.status !== "running");
  const run = await runOf(i);
  assert.equal(run.status, "done", `run ended ${run.status} ${run.errorCode}`);
  assert.match(run.finalText, /42/);
  for (const type of ["tool_call", "tool_result", "final"]) assert.ok(run.steps.includes(type), `no ${type} step: ${run.steps}`);
  assert.equal(await page.textContent(".run:last-child [data-final]"), run.finalText);
  const sessions = sessionsCreated(demo.requests);
  assert.equal(sessions.length, 1);
  assert.equal(deletesBySession(demo.requests).get(sessions[0]), 1, "one DELETE for the finished run's session");
});

test("Stop mid-stream: the stream ends with ABORTED; its session got exactly one DELETE, before the page saw the end", async () => {
  const i = await ask("Run a long operation for 30 seconds");
  await waitRun(i, (run) => run.steps.includes("progress"));
  await page.click("#stop");
  await waitRun(i, (run) => run.status !== "running");
  const run = await runOf(i);
  assert.equal(run.status, "stopped");
  assert.equal(run.errorCode, "ABORTED");
  // the DELETE was answered before next() rejected (rule 4): no polling needed
  const sessions = sessionsCreated(demo.requests);
  assert.equal(sessions.length, 2);
  const stopped = sessions[1];
  assert.equal(deletesBySession(demo.requests).get(stopped), 1, "one DELETE for the stopped run's session");
  const del = demo.requests.findIndex((r) => r.method === "DELETE" && r.sessionId === stopped);
  assert.deepEqual(demo.requests.slice(del + 1).filter((r) => r.sessionId === stopped && r.method !== "DELETE"), [],
    "nothing sent on a session after its DELETE");
  assert.equal(await page.getAttribute(`.run:nth-child(${i + 1})`, "data-status"), "stopped");
});

test("dispose runtime with a next() pending: it rejects with RUNTIME_DISPOSED; the session's DELETE was attempted once", async () => {
  const i = await ask("Run a long operation for 30 seconds");
  await waitRun(i, (run) => run.steps.includes("progress"));
  await page.click("#dispose");
  await waitRun(i, (run) => run.status !== "running");
  const run = await runOf(i);
  assert.equal(run.errorCode, "RUNTIME_DISPOSED");
  assert.equal(await page.getAttribute(`.run:nth-child(${i + 1})`, "data-error-code"), "RUNTIME_DISPOSED");
  const sessions = sessionsCreated(demo.requests);
  assert.equal(sessions.length, 3);
  await until(() => deletesBySession(demo.requests).get(sessions[2]) === 1, "the disposed session's DELETE");
  // a next question gets a fresh runtime and works
  const j = await ask("What is 2 + 40?");
  await waitRun(j, (r) => r.status !== "running");
  assert.equal((await runOf(j)).status, "done");
  assert.equal(await page.evaluate(() => window.__demo.runtimeNo), 2);
  for (const [sid, n] of deletesBySession(demo.requests)) assert.equal(n, 1, `session ${sid} got ${n} DELETEs`);
  assert.equal(sessionsCreated(demo.requests).length, 4);
});

test("no page errors; a screenshot is saved as a test artifact", async () => {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))); // the timeline painted
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, "demo-page.png");
  await page.screenshot({ path: file });
  assert.ok(existsSync(file));
  assert.deepEqual(pageErrors, []);
});

test("leaving the page mid-run is a disposal too: the session gets its DELETE", async () => {
  const i = await ask("Run a long operation for 30 seconds");
  await waitRun(i, (run) => run.steps.includes("progress"));
  const before = sessionsCreated(demo.requests).length;
  await page.goto("about:blank"); // pagehide disposes the runtime; the DELETE goes out with keepalive
  const sessions = sessionsCreated(demo.requests);
  assert.equal(sessions.length, before);
  await until(() => deletesBySession(demo.requests).get(sessions.at(-1)) === 1, "the DELETE of the left page's session");
  assert.deepEqual(pageErrors, []);
});

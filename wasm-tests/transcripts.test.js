// The golden session transcripts the C tests replay natively
// (fixtures/transcripts/session-*, format in its README), replayed here
// through the wasm build and the JS binding: the module a user loads must
// give the very same effects, fed whole, byte by byte and split at every offset.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { instantiate } from "../src/js/loader.js";
import { Core, FX, OWNER } from "../src/js/core.js";

const dir = new URL("./fixtures/transcripts/", import.meta.url);
const wasm = readFileSync(new URL("../dist/mcpstream.wasm", import.meta.url));
const module = new WebAssembly.Module(wasm);
const decoder = new TextDecoder();

/** One effect as wasm-tests/c/host.h writes it (control bytes escaped). */
function line(fx) {
  const text = (fx.text ?? decoder.decode(fx.payload)).replace(/[\x00-\x1f]/g, (c) =>
    c === "\n" ? "\\n" : c === "\r" ? "\\r" : c === "\t" ? "\\t" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  switch (fx.kind) {
    case FX.OPEN: return `OPEN ${fx.a} ${text}`;
    case FX.SEND: return `SEND ${fx.a} ${text}`;
    case FX.CLOSE: return `CLOSE ${fx.a}`;
    case FX.OP_DONE: return `OP_DONE ${fx.a} ${fx.b} ${text}`;
    case FX.OP_PROGRESS: return `OP_PROGRESS ${fx.a} ${text}`;
    case FX.EVENT: return `EVENT ${text}`;
    case FX.LOG: return `LOG ${fx.a} ${fx.b} ${text}`;
    case FX.SERVER_REQUEST: return `SERVER_REQUEST ${fx.a} ${fx.b} ${text}`;
    case FX.NOTIFICATION: return `NOTIFICATION ${fx.a} ${text}`;
    default: return `FX${fx.kind} ${fx.a} ${fx.b}`;
  }
}

async function replay(input, actions, chunks) {
  const core = new Core(await instantiate(module));
  const sid = core.sessionNew(OWNER.client, 1, "everything");
  assert.equal(sid, 1);
  core.sessionOpened(sid);
  for (const a of actions) {
    const [verb, op, ...rest] = a.split(" ");
    if (verb === "request") {
      const [flags, method, ...params] = rest;
      core.sessionRequest(sid, Number(op), Number(flags), method, params.length ? JSON.parse(params.join(" ")) : undefined);
    } else if (verb === "list_tools") core.sessionListTools(sid, Number(op));
    else if (verb === "cancel") core.sessionCancel(sid, Number(op), false);
    else throw new Error(`unknown action ${a}`);
  }
  core.takeEffects(); // the setup's and the actions' effects are not part of the log
  const log = [];
  for (const chunk of chunks(input)) {
    core.sessionFeed(sid, chunk);
    // the Streamable HTTP effects are hidden, as wasm-tests/c/host.h hides them by default
    for (const fx of core.takeEffects()) if (fx.kind !== FX.PROTOCOL && fx.kind !== FX.SSE_CURSOR) log.push(line(fx));
  }
  return log;
}

const cases = readdirSync(dir).filter((f) => /^session-.*\.in$/.test(f)).map((f) => f.slice(0, -3));

test("there are session transcripts to replay", () => assert.ok(cases.length >= 5, cases.join(", ")));

for (const name of cases) {
  test(`transcript ${name}: whole, byte by byte, and split at every offset`, async () => {
    const input = new Uint8Array(readFileSync(new URL(`${name}.in`, dir)));
    const out = readFileSync(new URL(`${name}.out`, dir), "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
    const actions = out.filter((l) => l.startsWith("> ")).map((l) => l.slice(2));
    const expected = out.filter((l) => !l.startsWith("> "));
    assert.deepEqual(await replay(input, actions, (b) => [b]), expected, "fed whole");
    assert.deepEqual(await replay(input, actions, (b) => [...b].map((x) => Uint8Array.of(x))), expected, "byte by byte");
    for (let i = 1; i < input.length; i++)
      assert.deepEqual(await replay(input, actions, (b) => [b.subarray(0, i), b.subarray(i)]), expected, `split at ${i}`);
  });
}

#!/usr/bin/env node
// raw-server.js — an MCP server over stdio (NDJSON) written for the benchmark: it
// costs (almost) nothing, so what is measured is the client.
//
// It answers initialize (echoing the client's protocol version), tools/list and
// tools/call with payloads built once at start-up; ping with {}; any other
// request with "method not found"; notifications are ignored. It exits as soon
// as stdin ends (no grace, no cleanup), like a well-behaved stdio server.
//
// Tools (arguments in brackets):
//   flood   {count}   `count` notifications/progress for the call's progressToken
//                     (when it has none, token 0), then a tiny result
//   r1k               a result whose text is 1 KiB of ASCII
//   r100k_ascii       100 KiB of ASCII text (with a few JSON escapes: quotes, \n)
//   r100k_utf8        100 KiB (of UTF-8) of mostly non-ASCII text (accents, CJK, emoji)
//   r10m              a 10 MB ASCII text (10^7 bytes)
//
// The texts are exported (payloadText(name)) so that a client can check what it got.
import { fileURLToPath } from "node:url";

const KIB = 1024;

/** A deterministic text of about `bytes` UTF-8 bytes made of `alphabet` pieces. */
function makeText(bytes, alphabet) {
  let out = "";
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const piece = alphabet[(i * 7 + (i >> 3)) % alphabet.length];
    out += piece;
    size += Buffer.byteLength(piece);
  }
  return out;
}

const ASCII = ["lorem ", "ipsum ", "dolor ", "sit ", "amet, ", "consectetur ", "adipiscing ", "elit; ",
  "\"quoted\" ", "tab\t", "line\n", "0123456789 "];
const NON_ASCII = ["café ", "naïve ", "Größe ", "日本語の", "テキスト ", "中文字符 ", "Ελληνικά ", "русский ",
  "🙂🚀 ", "한국어 ", "ü", "ß"];

const PAYLOADS = {
  r1k: () => makeText(KIB, ASCII),
  r100k_ascii: () => makeText(100 * KIB, ASCII),
  r100k_utf8: () => makeText(100 * KIB, NON_ASCII),
  // 10 MB: under the 10 MiB line limit of SDK v1's ReadBuffer. ASCII, so chars = bytes.
  r10m: () => { const block = makeText(64 * KIB, ASCII); return block.repeat(Math.ceil(10_000_000 / block.length)).slice(0, 10_000_000); },
};
const made = new Map();
/** The text of a payload tool's result (built on first use). */
export function payloadText(name) {
  if (!made.has(name)) made.set(name, PAYLOADS[name]());
  return made.get(name);
}

const TOOLS = [
  { name: "flood", description: "Sends `count` progress notifications, then a tiny result.",
    inputSchema: { type: "object", properties: { count: { type: "integer" } } } },
  ...Object.keys(PAYLOADS).map((name) => ({
    name, description: `A prebuilt result (${name}).`, inputSchema: { type: "object", properties: {} } })),
];

function main() {
  // Each answer is head + id + tail; the tails are built once.
  const resultTail = (result) => Buffer.from(`,"result":${JSON.stringify(result)}}\n`);
  const tails = new Map(); // built on first use: start-up stays cheap
  const tailOf = (name) => {
    if (!tails.has(name)) tails.set(name, resultTail({ content: [{ type: "text", text: payloadText(name) }], isError: false }));
    return tails.get(name);
  };
  const toolsTail = resultTail({ tools: TOOLS });
  const doneTail = resultTail({ content: [{ type: "text", text: "done" }], isError: false });
  const emptyTail = resultTail({});
  const HEAD = '{"jsonrpc":"2.0","id":';

  const out = process.stdout;
  let queue = [];
  let queued = 0;
  let scheduled = false;
  // Writes are batched per turn of the event loop: one write (a writev) per batch. The
  // pieces are written as they are, not joined: an answer's prebuilt tail is never copied
  // (a 100 KB answer would cost the server an allocation and a copy per call).
  const flush = () => {
    scheduled = false;
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    queued = 0;
    if (batch.length === 1) return void out.write(batch[0]);
    out.cork();
    for (const buf of batch) out.write(buf);
    out.uncork();
  };
  const send = (buf) => {
    queue.push(buf);
    queued += buf.length;
    if (queued >= 1 << 20) flush();
    else if (!scheduled) { scheduled = true; setImmediate(flush); }
  };
  const answer = (id, tail) => {
    send(Buffer.from(HEAD + JSON.stringify(id)));
    send(tail);
  };

  /** Sends `count` progress notifications in 256 KiB writes, respecting backpressure. */
  async function flood(id, token, count) {
    flush();
    const pre = `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":${JSON.stringify(token)},"progress":`;
    const post = `,"total":${count}}}\n`;
    let chunk = "";
    for (let i = 1; i <= count; i++) {
      chunk += pre + i + post;
      if (chunk.length >= 256 * KIB || i === count) {
        if (!out.write(chunk)) await new Promise((r) => out.once("drain", r));
        chunk = "";
      }
    }
    answer(id, doneTail);
  }

  function handle(msg) {
    if (msg === null || typeof msg !== "object" || msg.id === undefined || typeof msg.method !== "string") return;
    const { id, method, params } = msg;
    switch (method) {
      case "initialize":
        return answer(id, resultTail({
          protocolVersion: params?.protocolVersion ?? "2025-11-25",
          capabilities: { tools: {} },
          serverInfo: { name: "mcpstream-bench-raw", version: "1.0.0" },
        }));
      case "ping": return answer(id, emptyTail);
      case "tools/list": return answer(id, toolsTail);
      case "tools/call": {
        const name = params?.name;
        if (name === "flood") return void flood(id, params?._meta?.progressToken ?? 0, Number(params?.arguments?.count ?? 1000));
        if (Object.hasOwn(PAYLOADS, name)) return answer(id, tailOf(name));
        return send(Buffer.from(JSON.stringify({ jsonrpc: "2.0", id, error: { code: -32602, message: `unknown tool ${name}` } }) + "\n"));
      }
      default:
        return send(Buffer.from(JSON.stringify({ jsonrpc: "2.0", id, error: { code: -32601, message: `method not found: ${method}` } }) + "\n"));
    }
  }

  readMessages(handle);
  out.on("error", () => process.exit(0));
}

/** Calls handle(message) for each JSON line on stdin (a line that is not JSON is skipped); exits on stdin EOF. */
export function readMessages(handle) {
  let pending = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (text) => {
    pending += text;
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!line.trim()) continue;
      let msg;
      try { msg = JSON.parse(line); } catch { continue; }
      handle(msg);
    }
  });
  process.stdin.on("end", () => process.exit(0));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();

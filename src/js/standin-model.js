// The model stand-in: a local OpenAI-compatible server for `mcpstream demo`, the demo page
// and the tests (wasm-tests/fixtures/model-server.js re-exports it). Not a language model.
//
// It speaks the real Chat Completions wire format (POST /v1/chat/completions,
// streamed as Server-Sent Events or answered as one JSON object; GET /v1/models;
// OpenAI's error shape) but its answers are scripted, so tests are deterministic.
//
//   const server = await startModelServer({ script: [{ text: "Hi!" }] });
//   server.baseURL      // "http://127.0.0.1:<port>/v1"
//   server.requests     // parsed request bodies; each also has a non-enumerable `headers`
//   server.aborted      // how many responses the client abandoned before they ended
//   await server.whenAborted(1);
//   await server.close();
//
// A turn (one per chat-completions request):
//   { text, toolCalls: [{ name, arguments /* object or raw string */, id }],
//     chunkSize /* chars per delta, default 3 */, delayMs /* between SSE events */,
//     status, error /* answer with an HTTP error instead (OpenAI error JSON) */,
//     hangAfterChunks /* send this many chunks, then stall without ending */,
//     cutAfterChunks /* send this many chunks, then drop the connection */,
//     splitEvents /* write every SSE event in several TCP writes, cut mid-line */,
//     finishReason /* override "stop" / "tool_calls" */ }
// Without options.script, demoBrain (below) answers.
import http from "node:http";

const encoder = new TextEncoder();
const MAX_BODY_BYTES = 32 * 1024 * 1024;

/**
 * Starts the server on 127.0.0.1 (options.port, default 0 = any free port).
 * options: { script, onRequest, apiKey, port, model, chunkSize, delayMs, onAbort }
 *   script     array of turns (consumed in order, one per request; an element may also be
 *              a function like the one below) or (requestBody, index) => turn (may be async)
 *   onRequest  (body, { index, method, path, headers }) => void, awaited before scripting
 *   apiKey     when set, every request needs `Authorization: Bearer <any token>` (401 otherwise)
 *   model      the model name reported when a request names none, and by GET /v1/models
 *   chunkSize, delayMs  defaults for turns that do not set them
 *   onAbort    () => void, called when a client abandons a response
 */
export async function startModelServer(options = {}) {
  const {
    script = demoBrain,
    onRequest,
    onAbort,
    apiKey,
    port = 0,
    model: defaultModel = "mcpstream-fixture",
    chunkSize: defaultChunkSize = 3,
    delayMs: defaultDelayMs = 0,
  } = options;

  const requests = [];
  const timers = new Set();
  const stalls = new Set();
  const abortWaiters = new Set();
  let aborted = 0;
  let turns = 0;
  let completions = 0;
  let closed = false;
  let closing = null;

  const sleep = (ms) =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  function countAbort() {
    aborted += 1;
    for (const w of abortWaiters) {
      if (aborted >= w.n) {
        abortWaiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(aborted);
      }
    }
    try {
      onAbort?.();
    } catch {
      /* a test hook must not break the server */
    }
  }

  // Resolves when the response closes (client gone) or the server closes.
  function stall(res) {
    return new Promise((resolve) => {
      if (res.destroyed || closed) return resolve();
      stalls.add(resolve);
      res.once("close", () => {
        stalls.delete(resolve);
        resolve();
      });
    });
  }

  async function handle(req, res) {
    res.on("error", () => {});
    res.on("close", () => {
      if (!res.writableFinished && !closed) countAbort();
    });
    // Browsers (the demo page) call this server from another origin.
    res.setHeader("Access-Control-Allow-Origin", "*");
    res.setHeader("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept");
    res.setHeader("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    if (req.method === "OPTIONS") {
      res.writeHead(204).end();
      return;
    }

    const path = new URL(req.url, "http://x").pathname.replace(/\/+$/, "");
    const route = `${req.method} ${path}`;
    const known = route === "POST /v1/chat/completions" || route === "GET /v1/models" ||
      (req.method === "GET" && path.startsWith("/v1/models/"));
    if (!known) {
      sendError(res, 404, `Invalid URL (${req.method} ${req.url})`);
      return;
    }
    if (apiKey && !/^Bearer\s+\S+/i.test(req.headers.authorization ?? "")) {
      sendError(res, 401,
        "You didn't provide an API key. You need to provide your API key in an Authorization " +
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        "invalid_request_error", "invalid_api_key");
      return;
    }

    if (req.method === "GET") {
      const created = 1700000000;
      const entry = (id) => ({ id, object: "model", created, owned_by: "mcpstream" });
      if (path === "/v1/models") sendJSON(res, 200, { object: "list", data: [entry(defaultModel)] });
      else sendJSON(res, 200, entry(decodeURIComponent(path.slice("/v1/models/".length))));
      return;
    }

    let raw;
    try {
      raw = await readBody(req);
    } catch (err) {
      if (!res.destroyed) sendError(res, err.status ?? 400, err.message);
      return;
    }
    let body;
    try {
      body = JSON.parse(raw);
    } catch {
      sendError(res, 400,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't " +
        "using your HTTP library correctly. The OpenAI API expects a JSON payload.)");
      return;
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      sendError(res, 400, "The request body must be a JSON object.");
      return;
    }
    const headers = { ...req.headers };
    Object.defineProperty(body, "headers", { value: headers, enumerable: false });
    requests.push(body);
    if (!Array.isArray(body.messages)) {
      sendError(res, 400, "Missing required parameter: 'messages'.", "invalid_request_error",
        body.messages === undefined ? "missing_required_parameter" : "invalid_type", "messages");
      return;
    }

    const index = turns++;
    await onRequest?.(body, { index, method: req.method, path, headers });
    let turn = Array.isArray(script) ? script[index] : script;
    if (typeof turn === "function") turn = await turn(body, index);
    if (res.destroyed || closed) return;
    if (turn === undefined || turn === null || typeof turn !== "object") {
      sendError(res, 500,
        Array.isArray(script)
          ? `model-server: the script has ${script.length} turn(s), but request #${index} arrived`
          : `model-server: the script returned ${String(turn)} for request #${index}`,
        "server_error");
      return;
    }

    if (turn.error !== undefined || (turn.status ?? 200) >= 400) {
      if (turn.delayMs) await sleep(turn.delayMs);
      if (res.destroyed || closed) return;
      const status = turn.status && turn.status >= 400 ? turn.status : 500;
      sendError(res, status, turn.error ?? `Scripted HTTP ${status}`);
      return;
    }

    const answer = buildAnswer(turn, body, index);
    if (body.stream === true) await streamAnswer(res, answer, turn, body);
    else await sendAnswer(res, answer, turn);
  }

  function buildAnswer(turn, body, index) {
    const chunkSize = Math.max(1, turn.chunkSize ?? defaultChunkSize);
    const toolCalls = (turn.toolCalls ?? []).map((call, i) => ({
      id: call.id ?? `call_${index}_${i}`,
      name: call.name,
      arguments:
        typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments ?? {}),
    }));
    const text = turn.text ?? (toolCalls.length ? null : "");
    const completionChars = (text ?? "").length + toolCalls.reduce((n, c) => n + c.arguments.length, 0);
    const usage = {
      prompt_tokens: Math.ceil(JSON.stringify(body.messages).length / 4),
      completion_tokens: Math.ceil(completionChars / 4),
    };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    completions += 1;
    return {
      id: `chatcmpl-fixture${completions}`,
      created: Math.floor(Date.now() / 1000),
      model: typeof body.model === "string" && body.model ? body.model : defaultModel,
      text,
      toolCalls,
      chunkSize,
      finishReason: turn.finishReason ?? (toolCalls.length ? "tool_calls" : "stop"),
      usage,
    };
  }

  async function sendAnswer(res, a, turn) {
    const delayMs = turn.delayMs ?? defaultDelayMs;
    if (turn.hangAfterChunks !== undefined) return stall(res);
    if (delayMs) await sleep(delayMs);
    if (res.destroyed || closed) return;
    const message = { role: "assistant", content: a.text, refusal: null };
    if (a.toolCalls.length) {
      message.tool_calls = a.toolCalls.map((c) => ({
        id: c.id,
        type: "function",
        function: { name: c.name, arguments: c.arguments },
      }));
    }
    sendJSON(res, 200, {
      id: a.id,
      object: "chat.completion",
      created: a.created,
      model: a.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: a.finishReason }],
      usage: a.usage,
    });
  }

  async function streamAnswer(res, a, turn, body) {
    const delayMs = turn.delayMs ?? defaultDelayMs;
    const includeUsage = body.stream_options?.include_usage === true;
    const chunk = (delta, finishReason = null) => {
      const c = {
        id: a.id,
        object: "chat.completion.chunk",
        created: a.created,
        model: a.model,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      };
      if (includeUsage) c.usage = null;
      return c;
    };

    // The deltas, exactly as OpenAI sends them.
    const chunks = [];
    const head = { role: "assistant", content: a.text === null ? null : "" };
    const callHead = (c, i) => ({
      index: i,
      id: c.id,
      type: "function",
      function: { name: c.name, arguments: "" },
    });
    if (a.text === null && a.toolCalls.length) head.tool_calls = [callHead(a.toolCalls[0], 0)];
    chunks.push(chunk(head));
    for (const piece of split(a.text ?? "", a.chunkSize)) chunks.push(chunk({ content: piece }));
    a.toolCalls.forEach((c, i) => {
      if (!(i === 0 && head.tool_calls)) chunks.push(chunk({ tool_calls: [callHead(c, i)] }));
      for (const piece of split(c.arguments, a.chunkSize)) {
        chunks.push(chunk({ tool_calls: [{ index: i, function: { arguments: piece } }] }));
      }
    });
    chunks.push(chunk({}, a.finishReason));
    if (includeUsage) {
      chunks.push({ id: a.id, object: "chat.completion.chunk", created: a.created, model: a.model,
        choices: [], usage: a.usage });
    }

    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache",
      Connection: "keep-alive",
    });
    res.flushHeaders();

    const events = chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`);
    events.push("data: [DONE]\n\n");
    for (let i = 0; i < events.length; i += 1) {
      if (turn.hangAfterChunks !== undefined && i >= turn.hangAfterChunks) return stall(res);
      if (turn.cutAfterChunks !== undefined && i >= turn.cutAfterChunks) {
        await new Promise((resolve) => res.write("", resolve)); // what was sent reaches the client first
        return void res.destroy();
      }
      if (i > 0 && delayMs) await sleep(delayMs);
      if (res.destroyed || closed) return;
      const bytes = encoder.encode(events[i]);
      if (!turn.splitEvents) {
        res.write(bytes);
        continue;
      }
      // Cut inside "data:", in the middle (possibly inside a UTF-8 sequence) and
      // between the two newlines; a short pause makes each piece its own TCP write.
      const cuts = [...new Set([3, bytes.length >> 1, bytes.length - 1])].filter(
        (c) => c > 0 && c < bytes.length);
      let from = 0;
      for (const to of [...cuts, bytes.length]) {
        if (res.destroyed || closed) return;
        res.write(bytes.subarray(from, to));
        from = to;
        if (to < bytes.length) await sleep(2);
      }
    }
    if (!res.destroyed && !closed) res.end();
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent && !res.destroyed) sendError(res, 500, `model-server: ${err?.message ?? err}`, "server_error");
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 1000;

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const origin = `http://127.0.0.1:${server.address().port}`;

  return {
    baseURL: `${origin}/v1`,
    origin,
    port: server.address().port,
    requests,
    get aborted() {
      return aborted;
    },
    /** Resolves once `aborted` reaches n; rejects after timeoutMs. */
    whenAborted(n = 1, timeoutMs = 5000) {
      if (aborted >= n) return Promise.resolve(aborted);
      return new Promise((resolve, reject) => {
        const w = { n, resolve };
        w.timer = setTimeout(() => {
          abortWaiters.delete(w);
          reject(new Error(`model-server: expected ${n} aborted response(s) within ${timeoutMs} ms, saw ${aborted}`));
        }, timeoutMs);
        abortWaiters.add(w);
      });
    },
    close() {
      if (closing) return closing;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const resolve of stalls) resolve();
      stalls.clear();
      closing = new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}

/** Splits a string into pieces of `size` code points (never inside a surrogate pair). */
function split(text, size) {
  const chars = Array.from(text);
  const out = [];
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(""));
  return out;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let length = 0;
    req.on("data", (part) => {
      length += part.length;
      if (length > MAX_BODY_BYTES) {
        parts.length = 0; // keep draining, answer 413 at once
        reject(Object.assign(new Error("Request body too large."), { status: 413 }));
        return;
      }
      parts.push(part);
    });
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
    req.on("aborted", () => reject(new Error("request aborted")));
  });
}

function sendJSON(res, status, value) {
  const bytes = encoder.encode(JSON.stringify(value));
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": bytes.length });
  res.end(bytes);
}

const ERROR_TYPES = { 400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
  404: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_exceeded" };

function sendError(res, status, message, type, code = null, param = null) {
  type ??= ERROR_TYPES[status] ?? (status >= 500 ? "server_error" : "invalid_request_error");
  if (code === null && status === 429) code = "rate_limit_exceeded";
  sendJSON(res, status, { error: { message, type, param, code } });
}

// ---------------------------------------------------------------------------
// The demo brain: a deterministic stand-in for a model, good enough for the
// demo against @modelcontextprotocol/server-everything.

const DEMO_HELP =
  'I am the mcpstream demo model. Ask me to add two numbers ("What is 2 + 40?"), ' +
  'to echo a message ("Echo hello"), or to run a long operation with progress.';

/** (requestBody) => turn. Exported so tests can wrap it. */
export function demoBrain(body) {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  const tools = (Array.isArray(body?.tools) ? body.tools : [])
    .map((t) => t?.function?.name ?? t?.name)
    .filter((n) => typeof n === "string");
  const findTool = (suffix) =>
    tools.find((n) => n === suffix) ?? tools.find((n) => n.endsWith(suffix));

  if (messages.at(-1)?.role === "tool") return { text: answerFromToolResults(messages) };

  const lastUser = [...messages].reverse().find((m) => m?.role === "user");
  const question = textOf(lastUser?.content).trim();

  const sum = question.match(/(-?\d+(?:\.\d+)?)\s*(?:\+|\bplus\b|\band\b)\s*(-?\d+(?:\.\d+)?)/i);
  if (sum && /\+|\badd\b|\bsum\b|\bplus\b/i.test(question)) {
    const a = Number(sum[1]);
    const b = Number(sum[2]);
    const tool = findTool("get-sum");
    if (tool) return { toolCalls: [{ name: tool, arguments: { a, b } }] };
    return { text: `${a} + ${b} = ${a + b}.` };
  }

  if (/\becho\b/i.test(question)) {
    const quoted = question.match(/"([^"]*)"|'([^']*)'|“([^”]*)”/);
    const message = quoted
      ? quoted[1] ?? quoted[2] ?? quoted[3]
      : question.replace(/^.*?\becho\b[\s:,]*/i, "").replace(/[.?!]+$/, "").trim() || question;
    const tool = findTool("echo");
    if (tool) return { toolCalls: [{ name: tool, arguments: { message } }] };
    return { text: message };
  }

  if (/\blong\b|\bprogress\b/i.test(question)) {
    const tool = findTool("trigger-long-running-operation");
    // "… for N seconds" sets how long it runs (something to stop with Ctrl-C or a Stop button)
    const seconds = Number(question.match(/\b(\d{1,3})\s*(?:s\b|sec|second)/i)?.[1] ?? 0);
    const args = seconds > 0 ? { duration: seconds, steps: Math.max(2, seconds * 2) } : { duration: 2, steps: 4 };
    if (tool) return { toolCalls: [{ name: tool, arguments: args }] };
    return { text: "I have no long-running operation tool to call." };
  }

  return { text: DEMO_HELP };
}

function answerFromToolResults(messages) {
  let first = messages.length;
  while (first > 0 && messages[first - 1]?.role === "tool") first -= 1;
  const calls = new Map();
  for (const call of messages[first - 1]?.tool_calls ?? []) calls.set(call.id, call);

  const answers = messages.slice(first).map((result) => {
    const text = textOf(result.content).trim();
    const call = calls.get(result.tool_call_id);
    const name = call?.function?.name ?? "";
    let args = {};
    try {
      args = JSON.parse(call?.function?.arguments ?? "{}") ?? {};
    } catch {
      /* keep {} */
    }
    if (name.endsWith("get-sum")) {
      const numbers = text.match(/-?\d+(?:\.\d+)?/g);
      if (numbers && args.a !== undefined && args.b !== undefined) {
        return `The sum of ${args.a} and ${args.b} is ${numbers.at(-1)}.`;
      }
    }
    if (name.endsWith("echo")) return `The echo tool replied: ${text}`;
    if (name.endsWith("trigger-long-running-operation")) return `Done. ${text}`;
    return `The tool returned: ${text}`;
  });
  return answers.join(" ") || "There was no tool result.";
}

function textOf(content) {
  if (typeof content === "string") {
    // A tool result may arrive as the JSON of MCP content blocks; read their text.
    if (/^\s*[[{]/.test(content)) {
      try {
        const parsed = JSON.parse(content);
        const blocks = Array.isArray(parsed) ? parsed : parsed?.content;
        if (Array.isArray(blocks) && blocks.some((b) => typeof b?.text === "string")) return textOf(blocks);
      } catch {
        /* plain text that happens to start with a bracket */
      }
    }
    return content;
  }
  if (Array.isArray(content)) {
    return content.map((p) => (typeof p === "string" ? p : p?.text ?? JSON.stringify(p))).join("\n");
  }
  if (content === undefined || content === null) return "";
  return JSON.stringify(content);
}

#!/usr/bin/env node
// The browser demo's server (`npm run web`). Everything on 127.0.0.1:
//   - the page: web/*, the package's browser entry (src/js/) and dist/mcpstream.wasm
//     (served as application/wasm, so the browser compiles it while it downloads);
//   - server-everything in Streamable HTTP mode, and the model stand-in (scripted,
//     not a language model), both behind a gateway on another port — so the page
//     reaches them cross-origin, with CORS headers, like a real remote server.
//     The gateway records every request (method, path, Mcp-Session-Id, status):
//     the e2e test counts DELETEs from the MCP server's side with it.
//
//   node web/server.js [--port N]      prints the page's URL; Ctrl-C stops everything
//   import { startDemo } from "./web/server.js"   (tests)
import http from "node:http";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { startEverythingHTTP } from "./everything-http.js";
import { startModelServer, demoBrain } from "../src/js/standin-model.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm", ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png",
};
/** What the page may load: the demo itself, the package's JS, the core. */
const SERVED = [/^\/web\/[\w.-]+\.(html|js|css|svg|png)$/, /^\/src\/js\/[\w./-]+\.js$/, /^\/dist\/mcpstream\.wasm$/];

/**
 * Starts the demo. Resolves with { url, mcpURL, modelBaseURL, requests, close() }.
 * `requests`: what reached the gateway, in order: { method, path, sessionId, status, at }.
 * @param {{ port?: number, modelDelayMs?: number }} [options]
 */
export async function startDemo({ port = 0, modelDelayMs = 25 } = {}) {
  const started = [];
  try {
    const everything = await startEverythingHTTP();
    started.push(() => everything.close());
    const model = await startModelServer({ script: demoBrain, delayMs: modelDelayMs, model: "stand-in" });
    started.push(() => model.close());
    const gateway = await startGateway(new URL(everything.url), new URL(model.baseURL));
    started.push(() => gateway.close());
    const page = await listen(http.createServer(servePage), port);
    started.push(() => closeServer(page));
    const config = {
      mcpURL: `${gateway.origin}/mcp`,
      modelBaseURL: `${gateway.origin}/v1`,
    };
    page.config = config;
    return {
      url: `http://127.0.0.1:${page.address().port}/`,
      ...config,
      requests: gateway.requests,
      everythingPid: everything.pid,
      async close() { for (const stop of started.reverse()) await stop().catch(() => {}); },
    };
  } catch (e) {
    for (const stop of started.reverse()) await stop().catch(() => {});
    throw e;
  }
}

async function servePage(req, res) {
  const url = new URL(req.url, "http://localhost");
  let p = url.pathname === "/" ? "/web/index.html" : url.pathname;
  if (p === "/config.json") {
    res.writeHead(200, { "content-type": TYPES[".json"], "cache-control": "no-store" });
    res.end(JSON.stringify(this.config));
    return;
  }
  if (p === "/favicon.ico") p = "/web/favicon.svg";
  if (req.method !== "GET" && req.method !== "HEAD" || !SERVED.some((r) => r.test(p)) || p.includes("..")) {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  try {
    const body = await readFile(path.join(ROOT, p));
    res.writeHead(200, { "content-type": TYPES[path.extname(p)] ?? "application/octet-stream", "cache-control": "no-cache" });
    res.end(req.method === "HEAD" ? undefined : body);
  } catch {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  }
}

/**
 * A recording reverse proxy with CORS: /mcp → server-everything, /v1/… → the model (if given).
 * Bodies stream both ways; a client that goes away aborts the upstream request.
 */
export async function startGateway(mcp, model) {
  const requests = [];
  const cors = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
    "access-control-allow-headers": "*, authorization",
    "access-control-expose-headers": "mcp-session-id, mcp-protocol-version, last-event-id",
    "access-control-max-age": "600",
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    if (req.method === "OPTIONS") {
      res.writeHead(204, cors).end();
      return;
    }
    const target = url.pathname === "/mcp" ? mcp : model && url.pathname.startsWith("/v1/") ? new URL(url.pathname + url.search, model) : null;
    if (!target) {
      res.writeHead(404, { ...cors, "content-type": "text/plain" }).end("not found\n");
      return;
    }
    const entry = { method: req.method, path: url.pathname, sessionId: req.headers["mcp-session-id"] ?? null, status: 0, at: Date.now() };
    requests.push(entry);
    const headers = { ...req.headers, host: target.host };
    delete headers.origin; // the upstream servers are ours; CORS is answered here
    const up = http.request(target, { method: req.method, headers });
    up.on("response", (ur) => {
      entry.status = ur.statusCode;
      entry.responseSessionId = ur.headers["mcp-session-id"] ?? null;
      const h = { ...ur.headers };
      for (const k of Object.keys(h)) if (k.startsWith("access-control-")) delete h[k];
      res.writeHead(ur.statusCode, { ...h, ...cors });
      ur.pipe(res);
      ur.on("error", () => res.destroy());
    });
    up.on("error", () => {
      if (!res.headersSent) res.writeHead(502, { ...cors, "content-type": "text/plain" }).end("upstream failed\n");
      else res.destroy();
    });
    res.on("close", () => { if (!res.writableFinished) up.destroy(); });
    req.pipe(up);
  });
  await listen(server, 0);
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => closeServer(server),
  };
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

function closeServer(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const i = process.argv.indexOf("--port");
  const port = i > 0 ? Number(process.argv[i + 1]) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write("usage: node web/server.js [--port N]\n");
    process.exit(2);
  }
  const demo = await startDemo({ port });
  process.stdout.write(`mcpstream demo: ${demo.url}\n` +
    `  MCP server (server-everything, Streamable HTTP): ${demo.mcpURL}\n` +
    `  model: LOCAL STAND-IN (scripted, not a language model) at ${demo.modelBaseURL}\n` +
    `  Ctrl-C to stop\n`);
  const stop = () => demo.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

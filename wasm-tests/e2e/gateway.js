// Shared by the e2e suites: what reached the MCP server, read from the
// recording gateway in front of it (web/server.js).

/** Session ids the server handed out (initialize answered with Mcp-Session-Id). */
export function sessionsCreated(requests) {
  return [...new Set(requests.filter((r) => r.method === "POST" && r.responseSessionId).map((r) => r.responseSessionId))];
}

/** DELETE count per session id. */
export function deletesBySession(requests) {
  const out = new Map();
  for (const r of requests) if (r.method === "DELETE") out.set(r.sessionId, (out.get(r.sessionId) ?? 0) + 1);
  return out;
}

/** Polls `fn` (bounded) until it returns a truthy value; returns it. */
export async function until(fn, what, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

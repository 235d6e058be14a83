// redirect.js — what a request may carry when it follows a redirect. No Node built-ins: the
// same rule runs in Node, browsers and workers, for the model endpoint and for MCP servers
// over HTTP.
//
// The rule (the Fetch standard's "HTTP-redirect fetch", stricter about credentials):
//   - only 301, 302, 303, 307 and 308 with a Location are redirects; at most `maxRedirects`
//     (default 20) are followed, then the request fails;
//   - only http: and https: targets; https → http (a downgrade) is refused;
//   - 303 (for any method but GET/HEAD), and 301/302 for POST, continue as GET without a body
//     and without the body's Content-* headers; 307 and 308 keep the method and the body;
//   - to another origin (scheme, host or port differ), every header the caller set is dropped
//     except those that only describe the request: Accept, Accept-Language, Content-Type,
//     Content-Language, User-Agent, MCP-Protocol-Version. So Authorization (where Fetch stops),
//     Proxy-Authorization, Cookie, API-key headers of any name, and Mcp-Session-Id never reach
//     another origin. A dropped header stays dropped for the rest of the chain, also when a
//     later redirect comes back to the first origin.

import { MCPStreamError } from "../errors.js";

export const MAX_REDIRECTS = 20;
export const REDIRECT_STATUSES = Object.freeze([301, 302, 303, 307, 308]);

/** Headers that may go to another origin: they describe the request, they are no credential. */
export const CROSS_ORIGIN_HEADERS = Object.freeze([
  "accept", "accept-language", "content-type", "content-language", "user-agent", "mcp-protocol-version",
]);

const BODY_HEADERS = ["content-type", "content-encoding", "content-language", "content-location", "content-length"];

/**
 * The request to send after a response with `status` and `location`.
 *
 * request  { url, method?, headers?, body? } — the request that got the response (headers:
 *          a Headers or a plain object; not changed, a new Headers is returned)
 * options  { redirects: how many redirects were followed before this one (default 0),
 *            maxRedirects (default 20), code: the error code to throw with (default "LLM_HTTP") }
 *
 * Returns null when the response is not a redirect to follow (not a redirect status, or no
 * Location): it is the answer. Otherwise { url, method, headers: Headers, body, crossOrigin }.
 * Throws an MCPStreamError (code `options.code`, `reason` one of "too-many-redirects",
 * "invalid-location", "unsupported-scheme", "downgrade"; `from`, `to`) when it must not be followed.
 */
export function redirectRequest(request, status, location, options = {}) {
  const { redirects = 0, maxRedirects = MAX_REDIRECTS, code = "LLM_HTTP" } = options;
  if (!REDIRECT_STATUSES.includes(status) || location == null || location === "") return null;
  const from = new URL(request.url);
  const refuse = (reason, to, message) => {
    const error = new MCPStreamError(code, message);
    error.reason = reason;
    error.from = from.href;
    error.to = to;
    return error;
  };
  if (redirects >= maxRedirects) {
    throw refuse("too-many-redirects", String(location),
      `${from.href} redirected more than ${maxRedirects} times; not following (a redirect loop?)`);
  }
  let to;
  try {
    to = new URL(location, from);
  } catch {
    throw refuse("invalid-location", String(location),
      `${from.href} redirected to ${JSON.stringify(String(location))}, which is not a valid URL`);
  }
  to.hash = "";
  if (to.protocol !== "http:" && to.protocol !== "https:") {
    throw refuse("unsupported-scheme", to.href,
      `${from.href} redirected to ${to.href}: only http: and https: redirects are followed`);
  }
  if (from.protocol === "https:" && to.protocol === "http:") {
    throw refuse("downgrade", to.href,
      `refusing to follow a redirect from ${from.href} to ${to.href}: it would send the request ` +
      "over plain http (a downgrade from https); give the https URL the endpoint really lives at");
  }

  const headers = new Headers(request.headers ?? {});
  let method = (request.method ?? "GET").toUpperCase();
  let body = request.body ?? null;
  if ((status === 303 && method !== "GET" && method !== "HEAD") ||
      ((status === 301 || status === 302) && method === "POST")) {
    method = "GET";
    body = null;
    for (const name of BODY_HEADERS) headers.delete(name);
  }
  const crossOrigin = from.origin !== to.origin;
  if (crossOrigin) {
    for (const name of [...headers.keys()]) {
      if (!CROSS_ORIGIN_HEADERS.includes(name)) headers.delete(name);
    }
  }
  return { url: to.href, method, headers, body, crossOrigin };
}

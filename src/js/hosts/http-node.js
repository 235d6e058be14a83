// http-node.js — a fetch() for Node whose sockets the runtime can unref, so
// that a model response still streaming while a stream is suspended at a
// yield never keeps the process alive (docs/architecture.md §3 rule 5). Global fetch has no
// way to unref its connection; this one is built on node:http / node:https.
// It covers what the model host needs: POST, headers, a body, an AbortSignal,
// and a Response whose body streams. Redirects follow the rule of ./redirect.js
// (no credential to another origin, no https → http, at most 20); with
// `redirect: "manual"` a redirect response is returned as it is, and with
// `redirect: "error"` it rejects.
import { Readable } from "node:stream";
import { redirectRequest, REDIRECT_STATUSES } from "./redirect.js";

const NULL_BODY = new Set([101, 204, 205, 304]);

/* node:http and node:https are loaded at the first request to each protocol: importing them
 * up front was ~15 ms of a cold start (https pulls in tls and crypto), and most runtimes never
 * call an https model from Node at all, or not in their first milliseconds. */
const modules = { "http:": null, "https:": null };
function protocolModule(protocol) {
  return (modules[protocol] ??= (protocol === "https:" ? import("node:https") : import("node:http")).then((m) => m.default));
}

/**
 * @returns {{ fetch: (url: string, init?: {method?:string, headers?:any, body?:any, signal?:AbortSignal}) => Promise<Response>,
 *             setRef: (on: boolean) => void }}
 */
export function createNodeFetch() {
  const sockets = new Set();
  let refd = false; // the runtime turns it on while something awaits I/O

  /** Follows redirects by the rule of ./redirect.js, which throws (typed, with a `reason`)
   * for a redirect it must not follow. */
  async function fetch(url, init = {}) {
    const mode = init.redirect ?? "follow";
    let req = { url: String(url), method: init.method ?? "GET", headers: new Headers(init.headers ?? {}), body: init.body ?? null };
    for (let redirects = 0; ; redirects++) {
      const res = await request(req.url, { ...init, method: req.method, headers: req.headers, body: req.body });
      if (mode === "manual") return res;
      const location = res.headers.get("location");
      if (mode === "error" && REDIRECT_STATUSES.includes(res.status) && location) {
        await res.body?.cancel().catch(() => {});
        throw new TypeError(`${req.url} redirected to ${location} and redirect is "error"`);
      }
      let next;
      try {
        next = redirectRequest(req, res.status, location, { redirects });
      } catch (e) {
        await res.body?.cancel().catch(() => {});
        throw e;
      }
      if (!next) return res;
      await res.body?.cancel().catch(() => {});
      req = next;
    }
  }

  async function request(url, init) {
    let u;
    try {
      u = new URL(url);
    } catch (e) {
      throw new TypeError(`invalid URL ${url}: ${e.message}`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new TypeError(`unsupported protocol ${u.protocol} in ${url}`);
    const mod = await protocolModule(u.protocol);
    return new Promise((resolve, reject) => {
      const headers = {};
      new Headers(init.headers ?? {}).forEach((value, name) => { headers[name] = value; });
      let req;
      try {
        // a connection per request: nothing idles in a pool holding the loop open
        req = mod.request(u, { method: init.method ?? "GET", headers, signal: init.signal, agent: false });
      } catch (e) {
        reject(e);
        return;
      }
      req.on("socket", (socket) => {
        sockets.add(socket);
        if (!refd) socket.unref();
        socket.once("close", () => sockets.delete(socket));
      });
      req.on("error", reject);
      req.on("response", (res) => {
        const h = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value === undefined) continue;
          h.set(name, Array.isArray(value) ? value.join(", ") : value);
        }
        if (NULL_BODY.has(res.statusCode) || res.statusCode < 200 || res.statusCode > 599) {
          res.resume();
          try {
            resolve(new Response(null, { status: res.statusCode >= 200 && res.statusCode <= 599 ? res.statusCode : 502, statusText: res.statusMessage, headers: h }));
          } catch (e) {
            reject(e);
          }
          return;
        }
        resolve(new Response(Readable.toWeb(res), { status: res.statusCode, statusText: res.statusMessage, headers: h }));
      });
      req.end(init.body ?? undefined);
    });
  }

  /** While off, open model connections do not keep the event loop alive. */
  function setRef(on) {
    refd = on;
    for (const s of sockets) on ? s.ref() : s.unref();
  }

  return { fetch, setRef };
}

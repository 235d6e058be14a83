// http-node.js — a fetch() for Node whose sockets the runtime can unref, so
// that a model response still streaming while a stream is suspended at a
// yield never keeps the process alive (docs/architecture.md §3 rule 5). Global fetch has no
// way to unref its connection; this one is built on node:http / node:https.
// It covers what the model host needs: POST, headers, a body, an AbortSignal,
// and a Response whose body streams.
import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";

const NULL_BODY = new Set([101, 204, 205, 304]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * @returns {{ fetch: (url: string, init?: {method?:string, headers?:any, body?:any, signal?:AbortSignal}) => Promise<Response>,
 *             setRef: (on: boolean) => void }}
 */
export function createNodeFetch() {
  const sockets = new Set();
  let refd = false; // the runtime turns it on while something awaits I/O

  /** Follows redirects as fetch() does (307/308 keep the method and body). */
  async function fetch(url, init = {}, redirects = 0) {
    const res = await request(url, init);
    const location = res.headers.get("location");
    if (!REDIRECTS.has(res.status) || !location) return res;
    await res.body?.cancel().catch(() => {});
    if (redirects >= 20) throw new TypeError(`too many redirects from ${url}`);
    const next = new URL(location, url).href;
    const keep = res.status === 307 || res.status === 308 || (init.method ?? "GET") === "GET";
    if (keep) return fetch(next, init, redirects + 1);
    const headers = new Headers(init.headers ?? {});
    headers.delete("content-type");
    return fetch(next, { ...init, method: "GET", body: undefined, headers }, redirects + 1);
  }

  function request(url, init) {
    return new Promise((resolve, reject) => {
      let u;
      try {
        u = new URL(url);
      } catch (e) {
        reject(new TypeError(`invalid URL ${url}: ${e.message}`));
        return;
      }
      if (u.protocol !== "http:" && u.protocol !== "https:") {
        reject(new TypeError(`unsupported protocol ${u.protocol} in ${url}`));
        return;
      }
      const headers = {};
      new Headers(init.headers ?? {}).forEach((value, name) => { headers[name] = value; });
      const mod = u.protocol === "https:" ? https : http;
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

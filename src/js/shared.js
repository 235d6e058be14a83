// shared.js — pieces every entry point (node, browser, worker) shares:
// the default runtime and config validation.
import { invalidArgument } from "./errors.js";

/** @type {(() => Promise<any>) | null} */
let defaultFactory = null;
/** @type {Promise<any> | null} */
let defaultRuntime = null;

/** The platform entry point says how to make the shared default runtime. */
export function setDefaultRuntimeFactory(factory) { defaultFactory = factory; }

/** The runtime given, or the shared default one (created on first use). */
export async function resolveRuntime(option) {
  if (option) return option;
  if (!defaultFactory) throw invalidArgument("no default runtime on this platform: pass { runtime } (createRuntime({ wasm }))");
  if (!defaultRuntime) {
    const made = defaultFactory();
    defaultRuntime = made;
    made.catch(() => { if (defaultRuntime === made) defaultRuntime = null; }); // a failure is not cached
  }
  const current = defaultRuntime;
  const rt = await current;
  if (!rt.disposed) return rt;
  if (defaultRuntime === current) defaultRuntime = null; // replaced once, however many callers saw it disposed
  return resolveRuntime(undefined);
}

/** Validates a Claude-Desktop style `mcpServers` object; returns it. */
export function validateServers(servers, where) {
  if (servers === undefined) return {};
  if (!servers || typeof servers !== "object" || Array.isArray(servers))
    throw invalidArgument(`${where} must be an object: { name: { command, args?, env? } | { url, headers? } }`);
  for (const [name, c] of Object.entries(servers)) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name))
      throw invalidArgument(`${where}: server name '${name}' must be 1-64 characters of letters, digits, '_', '.' or '-'`);
    if (!c || typeof c !== "object") throw invalidArgument(`${where}.${name} must be an object`);
    for (const k of ["timeoutMs", "maxTotalTimeoutMs", "messageBytes"]) {
      if (c[k] !== undefined && !(Number.isInteger(c[k]) && c[k] >= 1 && c[k] <= 0x7fffffff))
        throw invalidArgument(`${where}.${name}.${k} must be an integer from 1 to 2147483647`);
    }
    if (c.env !== undefined && (typeof c.env !== "object" || c.env === null || Object.values(c.env).some((v) => typeof v !== "string")))
      throw invalidArgument(`${where}.${name}.env must be an object of strings`);
    if (typeof c.command === "string" && c.command) {
      if (c.args !== undefined && !(Array.isArray(c.args) && c.args.every((a) => typeof a === "string")))
        throw invalidArgument(`${where}.${name}.args must be an array of strings`);
    } else if (typeof c.url === "string" && c.url) {
      try { new URL(c.url); } catch { throw invalidArgument(`${where}.${name}.url is not a valid URL: ${c.url}`); }
    } else {
      throw invalidArgument(`${where}.${name} needs a "command" (stdio) or a "url" (Streamable HTTP)`);
    }
  }
  // a copy: later changes to the caller's object do not reach running sessions
  return Object.fromEntries(Object.entries(servers).map(([name, c]) =>
    [name, { ...c, ...(c.args && { args: [...c.args] }), ...(c.env && { env: { ...c.env } }), ...(c.headers && { headers: { ...c.headers } }) }]));
}

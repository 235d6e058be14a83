// everything-http.js — starts @modelcontextprotocol/server-everything in
// Streamable HTTP mode on 127.0.0.1, on an ephemeral port.
//
//   const everything = await startEverythingHTTP();
//   everything.url       // "http://127.0.0.1:<port>/mcp"
//   await everything.close();
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const ENTRY = fileURLToPath(new URL("../node_modules/@modelcontextprotocol/server-everything/dist/index.js", import.meta.url));
const PRELOAD = new URL("./listen-local.js", import.meta.url).href;

/** @param {{ timeoutMs?: number, env?: Record<string,string> }} [options] */
export function startEverythingHTTP({ timeoutMs = 20000, env = {} } = {}) {
  const child = spawn(process.execPath, ["--import", PRELOAD, ENTRY, "streamableHttp"], {
    env: { ...process.env, ...env, PORT: "0" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`server-everything did not listen within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
    const fail = (e) => { clearTimeout(timer); child.kill("SIGKILL"); reject(e); };
    child.once("error", fail);
    child.once("exit", (code, signal) => fail(new Error(`server-everything exited (${code ?? signal}) before listening:\n${stderr}`)));
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d) => {
      if (stderr.length < 65536) stderr += d;
      const m = stderr.match(/mcpstream-listening (\d+)/);
      if (!m) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      const exited = new Promise((r) => child.once("exit", r));
      resolve({
        url: `http://127.0.0.1:${m[1]}/mcp`,
        pid: child.pid,
        get stderr() { return stderr; },
        async close() {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
          const t = setTimeout(() => child.kill("SIGKILL"), 3000);
          await exited;
          clearTimeout(t);
        },
      });
    });
  });
}

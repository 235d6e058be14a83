// web-hosts.js — transports for the browser and workerd entry points: MCP
// servers reached with fetch (Streamable HTTP). No Node built-in here.
import { MCPStreamError } from "./errors.js";
import { StreamableHttpTransport } from "./hosts/http.js";

/** @type {import("./runtime.js").Hosts["transportFactory"]} */
export function webTransport(config, hooks) {
  if (config.command)
    throw new MCPStreamError("MCP_CONNECT_FAILED", `a stdio server ("command": ${JSON.stringify(config.command)}) needs Node; in a browser or worker use a Streamable HTTP server ("url")`);
  return new StreamableHttpTransport(config, hooks); // the global fetch
}

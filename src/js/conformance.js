// conformance.js — `mcpstream conformance-client <serverUrl>`: the client side of the
// official MCP conformance runner (@modelcontextprotocol/conformance, spec 2025-11-25).
// The runner starts a mock server per scenario and runs this command with the server's
// URL as its argument and the scenario's name in MCP_CONFORMANCE_SCENARIO; its checks
// are made on the server side, from what mcpstream's own MCPClient sends over
// Streamable HTTP. Nothing here depends on the current directory.
import { createRuntime, MCPClient } from "./index.js";

const SERVER = "conformance";

/** A failure of the scenario itself (the server did not offer what the scenario needs). */
export class ScenarioError extends Error {}

/** A tool the scenario's server must offer; listing tools first is what a client does. */
async function findTool(client, name) {
  const tools = await client.listTools();
  const tool = tools.find((t) => t.name === name);
  if (!tool) throw new ScenarioError(`the server offers no tool '${name}' (tools: ${tools.map((t) => t.name).join(", ") || "none"})`);
  return tool;
}

function resultText(result) {
  return result.content.filter((c) => c.type === "text").map((c) => c.text).join("\n");
}

function expectSuccess(name, result) {
  if (result.isError) throw new ScenarioError(`tool '${name}' answered with an error: ${resultText(result)}`);
  return resultText(result);
}

/**
 * Each scenario: what the runner's mock server expects a client to do. `say` prints a line
 * of what happened (the runner keeps the client's stdout in its results).
 * @type {Record<string, { description: string, clientOptions?: () => object, run(client: MCPClient, say: (s: string) => void): Promise<void> }>}
 */
export const SCENARIOS = {
  initialize: {
    description: "initialize (protocol version, clientInfo), initialized, tools/list",
    async run(client, say) {
      const tools = await client.listTools();
      say(`initialized; ${tools.length} tool(s)`);
    },
  },
  tools_call: {
    description: "tools/list, then tools/call add_numbers { a: 5, b: 3 }",
    async run(client, say) {
      await findTool(client, "add_numbers");
      const text = expectSuccess("add_numbers", await client.callTool(SERVER, "add_numbers", { a: 5, b: 3 }));
      say(`add_numbers: ${text}`);
      if (!/\b8\b/.test(text)) throw new ScenarioError(`add_numbers(5, 3) answered '${text}', not 8`);
    },
  },
  "elicitation-sep1034-client-defaults": {
    description: "tools/call test_client_elicitation_defaults, whose server asks elicitation/create with schema defaults: " +
      "accepted with nothing filled in, so the client's defaults (SEP-1034) answer",
    // the user accepts without typing anything: every field the schema gives a default gets it from the client
    clientOptions: () => ({ onElicitation: async () => ({ action: "accept", content: {} }) }),
    async run(client, say) {
      await findTool(client, "test_client_elicitation_defaults");
      const text = expectSuccess("test_client_elicitation_defaults", await client.callTool(SERVER, "test_client_elicitation_defaults", {}));
      say(`test_client_elicitation_defaults: ${text}`);
    },
  },
  "sse-retry": {
    description: "tools/call test_reconnection, whose SSE stream the server closes: resumed with GET + Last-Event-ID after retry:",
    async run(client, say) {
      await findTool(client, "test_reconnection");
      const text = expectSuccess("test_reconnection", await client.callTool(SERVER, "test_reconnection", {}));
      say(`test_reconnection: ${text}`);
    },
  },
};

/**
 * Runs one scenario against `serverUrl`. Resolves when the client and its runtime are
 * closed; rejects with what went wrong.
 * @param {string} scenario @param {string} serverUrl
 * @param {{ say?: (s: string) => void, fetch?: typeof fetch }} [options]
 */
export async function runConformanceScenario(scenario, serverUrl, { say = (s) => console.log(s) } = {}) {
  const spec = Object.hasOwn(SCENARIOS, scenario) ? SCENARIOS[scenario] : null;
  if (!spec) throw new ScenarioError(`unknown conformance scenario '${scenario}'; known: ${Object.keys(SCENARIOS).join(", ")}`);
  let url;
  try {
    url = new URL(serverUrl);
  } catch {
    throw new ScenarioError(`the server URL '${serverUrl}' is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ScenarioError(`the server URL '${serverUrl}' is not http(s)`);
  const runtime = await createRuntime();
  runtime.addEventListener("log", (e) => say(`[${e.detail.level}] ${e.detail.message}`));
  const client = new MCPClient({ mcpServers: { [SERVER]: { url: url.href } } }, { runtime, ...spec.clientOptions?.() });
  say(`scenario ${scenario}: ${spec.description}`);
  try {
    await client.connect();
    await spec.run(client, say);
  } finally {
    try {
      await client.close();
    } finally {
      await runtime.dispose();
    }
  }
  say(`scenario ${scenario}: done`);
}

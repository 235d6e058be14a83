#!/usr/bin/env node
// cli.js — `mcpstream demo` (what `npm start` runs), `mcpstream run` and
// `mcpstream conformance-client` (driven by the official MCP conformance runner).
import { readFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import path from "node:path";
import { createRuntime, MCPAgent } from "./index.js";
import { SCENARIOS, runConformanceScenario } from "./conformance.js";

const CONFORMANCE_SCENARIOS = Object.keys(SCENARIOS).join(", ");

const USAGE = `usage:
  mcpstream demo [question]
      an agent stream against @modelcontextprotocol/server-everything over stdio
      (the model is a local stand-in unless OPENAI_BASE_URL is set)
  mcpstream run --config mcp.json [options] "question"
      a Claude-Desktop { "mcpServers": { ... } } or VS Code { "servers": { ... } } config
  mcpstream conformance-client <serverUrl>
      the client side of the official MCP conformance runner (@modelcontextprotocol/conformance):
      runs the scenario named by $MCP_CONFORMANCE_SCENARIO against serverUrl over Streamable HTTP
      (${CONFORMANCE_SCENARIOS})
  mcpstream --version
options:
  --base-url URL     OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)
  --api-key KEY      (default: $OPENAI_API_KEY)
  --model NAME       the model to ask for (default: $MCPSTREAM_MODEL; needed with --base-url)
  --stand-in         use the local scripted stand-in instead of a model (what demo does)
  --max-steps N      (default: 10)
  --system TEXT      system prompt
  --quiet            print only the final answer`;

const STAND_IN = new URL("./standin-model.js", import.meta.url);
const EVERYTHING_PKG = "@modelcontextprotocol/server-everything";

/** server-everything: installed beside mcpstream or in the current project; else fetched with npx. */
function everythingServer() {
  for (const from of [fileURLToPath(import.meta.url), path.join(process.cwd(), "package.json")]) {
    try {
      const pkg = createRequire(from).resolve(`${EVERYTHING_PKG}/package.json`);
      const entry = path.join(path.dirname(pkg), "dist", "index.js");
      if (existsSync(entry)) return { config: { command: process.execPath, args: [entry, "stdio"] }, note: null };
    } catch { /* not there */ }
  }
  return {
    config: { command: process.platform === "win32" ? "npx.cmd" : "npx", args: ["-y", EVERYTHING_PKG, "stdio"] },
    note: `${EVERYTHING_PKG} is not installed here: fetching it with npx (\`npm install ${EVERYTHING_PKG}\` makes the demo start faster)`,
  };
}

const VERSION = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;

function parseArgs(argv) {
  const opts = { positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--config") opts.config = value();
    else if (a === "--base-url") opts.baseURL = value();
    else if (a === "--api-key") opts.apiKey = value();
    else if (a === "--model") opts.model = value();
    else if (a === "--max-steps") opts.maxSteps = Number(value());
    else if (a === "--system") opts.systemPrompt = value();
    else if (a === "--quiet") opts.quiet = true;
    else if (a === "--stand-in") opts.standIn = true;
    else if (a === "-h" || a === "--help") opts.help = true;
    else if (a === "-v" || a === "--version") opts.version = true;
    else if (a.startsWith("--")) throw new UsageError(`unknown option ${a}`);
    else opts.positional.push(a);
  }
  return opts;
}

class UsageError extends Error {}

/** The model: --stand-in, flags, the environment, then (demo only) the local stand-in. */
async function chooseModel(opts, allowStandIn) {
  const baseURL = opts.standIn ? undefined : opts.baseURL ?? process.env.OPENAI_BASE_URL;
  if (baseURL) {
    const model = opts.model ?? process.env.MCPSTREAM_MODEL;
    if (!model) throw new UsageError(`which model at ${baseURL}? pass --model NAME or set MCPSTREAM_MODEL`);
    return {
      llm: { baseURL, apiKey: opts.apiKey ?? process.env.OPENAI_API_KEY, model },
      label: `${model} at ${baseURL}`,
      close: async () => {},
    };
  }
  if (!allowStandIn && !opts.standIn)
    throw new UsageError("no model configured: set OPENAI_BASE_URL and MCPSTREAM_MODEL (and OPENAI_API_KEY), " +
      "or pass --base-url URL --model NAME; --stand-in runs the local scripted stand-in instead");
  const { startModelServer } = await import(STAND_IN.href);
  const server = await startModelServer();
  return {
    llm: { baseURL: server.baseURL, model: "stand-in" },
    label: `LOCAL STAND-IN at ${server.baseURL} (scripted, not a language model; set OPENAI_BASE_URL for a real one)`,
    close: () => server.close(),
  };
}

const c = (code, s) => (process.stdout.isTTY ? `\x1b[${code}m${s}\x1b[0m` : s);

function printStep(step, state) {
  if (step.type === "text") {
    if (!state.inText) process.stdout.write(c(2, "  model: "));
    state.inText = true;
    process.stdout.write(step.text);
    return;
  }
  if (state.inText) process.stdout.write("\n");
  state.inText = false;
  switch (step.type) {
    case "tool_call":
      console.log(`  ${c(36, "→ tool_call")}  ${step.server ?? "?"}/${step.name} ${JSON.stringify(step.arguments)}`);
      break;
    case "progress":
      console.log(`  ${c(33, "… progress")}   ${step.progress}${step.total != null ? `/${step.total}` : ""}${step.message ? ` ${step.message}` : ""}`);
      break;
    case "tool_result": {
      const text = step.content.map((x) => (x.type === "text" ? x.text : `[${x.type}]`)).join(" ").replace(/\s+/g, " ");
      console.log(`  ${c(32, "← tool_result")} ${step.server ?? "?"}/${step.name}${step.isError ? c(31, " (error)") : ""}: ${text.slice(0, 160)}`);
      break;
    }
    case "final":
      console.log(`  ${c(1, "✔ final")}      ${step.text}`);
      break;
  }
}

async function runQueries({ mcpServers, questions, opts, label }) {
  const runtime = await createRuntime();
  // Ctrl-C: stop the running stream, let it close what it opened, print that; a second Ctrl-C quits at once
  const stop = new AbortController();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130); // the exit hook still kills the server trees
    interrupted = true;
    process.stderr.write("\n^C: stopping; closing what this run opened (Ctrl-C again to quit at once)\n");
    stop.abort();
  };
  process.on("SIGINT", onSigint);
  const events = [];
  runtime.addEventListener("lifecycle", (e) => events.push(e.detail));
  const agent = new MCPAgent({
    runtime, llm: opts.llm, mcpServers,
    maxSteps: opts.maxSteps ?? 10, systemPrompt: opts.systemPrompt,
  });
  let failed = false;
  try {
    if (!opts.quiet) {
      console.log(`mcpstream — model: ${label}`);
      for (const [name, cfg] of Object.entries(mcpServers))
        console.log(`  server ${name}: ${cfg.command ? `stdio \`${[cfg.command, ...(cfg.args ?? [])].join(" ")}\`` : cfg.url}`);
    }
    for (const q of questions) {
      if (interrupted) break;
      if (!opts.quiet) console.log(`\n> ${q}`);
      const state = { inText: false };
      try {
        for await (const step of agent.stream(q, { signal: stop.signal })) {
          if (opts.quiet) { if (step.type === "final") console.log(step.text); }
          else printStep(step, state);
        }
      } catch (e) {
        if (state.inText) process.stdout.write("\n");
        console.error(`  ✘ ${e.code ?? e.name}: ${e.message}`);
        failed = true;
      }
    }
  } finally {
    await agent.close();
    const stats = runtime.stats();
    await runtime.dispose();
    if (!opts.quiet || interrupted) printSummary(events, stats);
    process.off("SIGINT", onSigint);
  }
  return interrupted ? 130 : failed ? 1 : 0;
}

function printSummary(events, stats) {
  const opens = events.filter((e) => e.kind === "session-open");
  const closes = events.filter((e) => e.kind === "session-close");
  console.log("\nlifecycle:");
  for (const e of events) {
    const who = e.owner ? `owner ${e.owner}${e.streamId ? ` (stream ${e.streamId})` : ""}` : `stream ${e.streamId}`;
    console.log(`  ${e.kind.padEnd(14)} ${e.server ? `${e.server} #${e.sessionId}` : ""} ${who}${e.reason ? `, ${e.reason}` : ""}`.replace(/ +/g, " "));
  }
  const byOwner = {};
  for (const o of opens) byOwner[o.owner] = (byOwner[o.owner] ?? 0) + 1;
  const closedOnce = opens.every((o) => closes.filter((x) => x.sessionId === o.sessionId).length === 1);
  console.log(`summary: ${opens.length} session(s) opened (${Object.entries(byOwner).map(([k, v]) => `${v} by ${k}`).join(", ") || "none"}), ` +
    `${closes.length} closed; every session closed exactly once: ${closedOnce ? "yes" : "NO"}; ` +
    `core live allocations at the end: ${stats.liveAllocations}`);
}

async function main(argv) {
  const [command, ...rest] = argv;
  const opts = parseArgs(rest);
  if (command === "--version" || command === "-v" || opts.version) {
    console.log(`mcpstream ${VERSION}`);
    return 0;
  }
  if (!command || opts.help || command === "help" || command === "--help" || command === "-h") {
    console.log(USAGE);
    return 0;
  }
  if (command === "demo") {
    const everything = everythingServer();
    if (everything.note) console.error(`mcpstream: ${everything.note}`);
    const model = await chooseModel(opts, true);
    try {
      return await runQueries({
        mcpServers: { everything: everything.config },
        questions: opts.positional.length ? [opts.positional.join(" ")] : ["What is 2 + 40?", "Run a long operation and show me its progress."],
        opts: { ...opts, llm: model.llm }, label: model.label,
      });
    } finally {
      await model.close();
    }
  }
  if (command === "run") {
    if (!opts.config) throw new UsageError("run needs --config mcp.json");
    if (opts.positional.length === 0) throw new UsageError("run needs a question");
    let config;
    try {
      config = JSON.parse(await readFile(opts.config, "utf8"));
    } catch (e) {
      throw new UsageError(`cannot read ${opts.config}: ${e.message}`);
    }
    // Claude Desktop writes "mcpServers", VS Code "servers"; anything else is a mistake, not zero servers
    const servers = config?.mcpServers ?? config?.servers;
    if (!servers || typeof servers !== "object" || Array.isArray(servers))
      throw new UsageError(`${opts.config} has no "mcpServers" (Claude Desktop style) or "servers" (VS Code style) object`);
    const model = await chooseModel(opts, false);
    try {
      return await runQueries({ mcpServers: servers, questions: [opts.positional.join(" ")], opts: { ...opts, llm: model.llm }, label: model.label });
    } finally {
      await model.close();
    }
  }
  if (command === "conformance-client") {
    const scenario = process.env.MCP_CONFORMANCE_SCENARIO;
    if (!scenario) throw new UsageError("conformance-client needs the scenario's name in MCP_CONFORMANCE_SCENARIO");
    if (!Object.hasOwn(SCENARIOS, scenario))
      throw new UsageError(`unknown conformance scenario '${scenario}' (MCP_CONFORMANCE_SCENARIO); known: ${CONFORMANCE_SCENARIOS}`);
    if (opts.positional.length !== 1) throw new UsageError("conformance-client needs exactly one argument: the server's URL");
    await runConformanceScenario(scenario, opts.positional[0]); // a failure: exit code 1, the message on stderr
    return 0;
  }
  throw new UsageError(`unknown command '${command}'`);
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
  if (e instanceof UsageError) {
    console.error(`mcpstream: ${e.message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else {
    console.error(`mcpstream: ${e.code ? `${e.code}: ` : ""}${e.message}`);
    process.exitCode = 1;
  }
});

#!/usr/bin/env node
// cli.js — `mcpstream demo` (what `npm start` runs) and `mcpstream run`.
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createRuntime, MCPAgent } from "./index.js";

const USAGE = `usage:
  mcpstream demo [question]
      an agent stream against @modelcontextprotocol/server-everything over stdio
      (the model is a local stand-in unless OPENAI_BASE_URL is set)
  mcpstream run --config mcp.json [options] "question"
      any Claude-Desktop style { "mcpServers": { ... } } config
options:
  --base-url URL     OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)
  --api-key KEY      (default: $OPENAI_API_KEY)
  --model NAME       (default: $MCPSTREAM_MODEL)
  --max-steps N      (default: 10)
  --system TEXT      system prompt
  --quiet            print only the final answer`;

const STAND_IN = new URL("../../wasm-tests/fixtures/model-server.js", import.meta.url);
const EVERYTHING = new URL("../../node_modules/@modelcontextprotocol/server-everything/dist/index.js", import.meta.url);

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
    else if (a === "-h" || a === "--help") opts.help = true;
    else if (a.startsWith("--")) throw new UsageError(`unknown option ${a}`);
    else opts.positional.push(a);
  }
  return opts;
}

class UsageError extends Error {}

/** The model: flags, then the environment, then (demo only) the local stand-in. */
async function chooseModel(opts, allowStandIn) {
  const baseURL = opts.baseURL ?? process.env.OPENAI_BASE_URL;
  if (baseURL) {
    return {
      llm: { baseURL, apiKey: opts.apiKey ?? process.env.OPENAI_API_KEY, model: opts.model ?? process.env.MCPSTREAM_MODEL ?? "gpt-4o-mini" },
      label: `${opts.model ?? process.env.MCPSTREAM_MODEL ?? "gpt-4o-mini"} at ${baseURL}`,
      close: async () => {},
    };
  }
  if (!allowStandIn || !existsSync(fileURLToPath(STAND_IN)))
    throw new UsageError("no model configured: set OPENAI_BASE_URL (and OPENAI_API_KEY, MCPSTREAM_MODEL) or pass --base-url");
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
      if (!opts.quiet) console.log(`\n> ${q}`);
      const state = { inText: false };
      try {
        for await (const step of agent.stream(q)) {
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
    if (!opts.quiet) printSummary(events, stats);
  }
  return failed ? 1 : 0;
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
  if (!command || opts.help || command === "help" || command === "--help" || command === "-h") {
    console.log(USAGE);
    return 0;
  }
  if (command === "demo") {
    if (!existsSync(fileURLToPath(EVERYTHING)))
      throw new UsageError("the demo needs @modelcontextprotocol/server-everything: run `npm install` in the mcpstream checkout");
    const model = await chooseModel(opts, true);
    try {
      return await runQueries({
        mcpServers: { everything: { command: process.execPath, args: [fileURLToPath(EVERYTHING), "stdio"] } },
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
    const model = await chooseModel(opts, false);
    return runQueries({ mcpServers: config.mcpServers ?? {}, questions: [opts.positional.join(" ")], opts: { ...opts, llm: model.llm }, label: model.label });
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

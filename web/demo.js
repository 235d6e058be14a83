// The browser demo: an agent stream against a Streamable HTTP MCP server,
// the steps as they stream, and a live timeline of the runtime's lifecycle
// events. It uses the package exactly as an app would (see the import map).
import { createRuntime, MCPAgent } from "mcpstream";

const $ = (id) => document.getElementById(id);
const T0 = performance.now();
const now = () => (performance.now() - T0) / 1000; // seconds since the page loaded

const config = await (await fetch("/config.json")).json();

/** What the e2e test reads: every run, and the page's own errors. */
const demo = (window.__demo = { runs: [], ready: false, runtimeNo: 0 });

// ------------------------------------------------------------------ runtime
let runtime = null;
let runtimeNo = 0;
let runtimePromise = null;

function ensureRuntime() {
  if (runtime && !runtime.disposed) return Promise.resolve(runtime);
  runtimePromise ??= (async () => {
    const t = performance.now();
    const rt = await createRuntime(); // fetches /dist/mcpstream.wasm next to the browser entry
    const n = (runtimeNo += 1);
    demo.runtimeNo = n;
    rt.addEventListener("lifecycle", (e) => onLifecycle(e.detail, n));
    runtime = rt;
    runtimePromise = null;
    toast(`Runtime #${runtimeNo} ready: the core compiled and instantiated in ${Math.round(performance.now() - t)} ms`);
    return rt;
  })();
  runtimePromise.catch(() => { runtimePromise = null; });
  return runtimePromise;
}

// ------------------------------------------------------------------ stats
function updateStats() {
  const s = runtime && !runtime.disposed ? runtime.stats() : null;
  $("stat-runtime").textContent = runtime ? (runtime.disposed ? `#${runtimeNo} disposed` : `#${runtimeNo}`) : "—";
  $("stat-streams").textContent = s ? s.streamsOpen : 0;
  $("stat-sessions").textContent = s ? s.sessionsOpen : 0;
  $("stat-allocs").textContent = s ? s.liveAllocations : 0;
  $("stat-heap").textContent = s ? `${(s.heapBytes / 1048576).toFixed(0)} MiB` : "—";
  $("stat-streams").parentElement.classList.toggle("live", !!s?.streamsOpen);
  $("stat-sessions").parentElement.classList.toggle("live", !!s?.sessionsOpen);
}
setInterval(updateStats, 200);

// ------------------------------------------------------------------ runs
let current = null; // { controller, run } while a question runs

$("wiring").innerHTML =
  `MCP <b>everything</b> → ${escapeHTML(config.mcpURL)} <span title="another origin: CORS">(Streamable HTTP, cross-origin)</span>` +
  ` · model → <b>local stand-in</b> (scripted, not a language model)`;

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = $("question").value.trim();
  if (q && !current) ask(q);
});
$("chips").addEventListener("click", (e) => {
  const q = e.target.closest("button")?.dataset.q;
  if (!q || current) return;
  $("question").value = q;
  ask(q);
});
$("stop").addEventListener("click", () => current?.controller.abort());
$("dispose").addEventListener("click", disposeRuntime);

async function ask(question) {
  $("empty")?.remove();
  const controller = new AbortController();
  const run = newRunCard(question);
  current = { controller, run };
  setBusy(true);
  try {
    const rt = await ensureRuntime();
    run.setRuntime(runtimeNo);
    const agent = new MCPAgent({
      runtime: rt,
      llm: { baseURL: config.modelBaseURL, model: "stand-in" },
      mcpServers: { everything: { url: config.mcpURL } },
    });
    const stream = agent.stream(question, { signal: controller.signal });
    run.stream = stream;
    timeline.startStream(run);
    for await (const step of stream) run.step(step);
    run.finish("done");
  } catch (e) {
    run.fail(e);
  } finally {
    timeline.endRun(run);
    current = null;
    setBusy(false);
    updateStats();
  }
}

function setBusy(busy) {
  $("ask").disabled = busy;
  $("stop").disabled = !busy;
  for (const b of $("chips").querySelectorAll("button")) b.disabled = busy;
}

async function disposeRuntime() {
  if (!runtime || runtime.disposed) {
    toast("No live runtime to dispose: the next question creates one.");
    return;
  }
  const t = performance.now();
  const n = runtimeNo;
  const pending = current ? " A next() was pending: it rejects with RUNTIME_DISPOSED." : "";
  await runtime.dispose();
  timeline.mark("disposed", `runtime #${n} disposed`);
  toast(`Runtime #${n} disposed in ${Math.round(performance.now() - t)} ms: every transport torn down from the host, the wasm instance never called again.${pending}`);
  updateStats();
}

let runSeq = 0;
function newRunCard(question) {
  const el = document.createElement("article");
  el.className = "run";
  el.dataset.status = "running";
  el.innerHTML = `<div class="run-head"><div class="run-q"></div><span class="badge running">running</span></div>
    <div class="steps"></div><div class="run-foot"></div>`;
  el.querySelector(".run-q").textContent = question;
  $("runs").append(el);
  el.scrollIntoView({ block: "end", behavior: "smooth" });
  const steps = el.querySelector(".steps");
  const tools = new Map();
  const record = { id: ++runSeq, question, status: "running", errorCode: null, finalText: null, streamId: 0, steps: [] };
  demo.runs.push(record);
  let answer = null;
  const started = now();
  let runtimeLabel = "";

  const setStatus = (status, label = status) => {
    el.dataset.status = status;
    record.status = status;
    const b = el.querySelector(".badge");
    b.className = `badge ${status}`;
    b.textContent = label;
  };
  const foot = (extra = "") => {
    el.querySelector(".run-foot").textContent =
      `${runtimeLabel}stream ${record.streamId || "—"} · ${(now() - started).toFixed(2)} s${extra}`;
  };

  const run = {
    record, el, stream: null, tools,
    runtime: 0,
    setRuntime(n) { run.runtime = n; runtimeLabel = `runtime #${n} · `; foot(); },
    step(step) {
      record.streamId = run.stream?.id ?? 0;
      record.steps.push(step.type);
      if (step.type === "text") {
        if (!answer) {
          answer = document.createElement("div");
          answer.className = "answer streaming";
          steps.append(answer);
        }
        answer.textContent += step.text;
      } else if (step.type === "tool_call") {
        answer?.classList.remove("streaming");
        answer = null; // text after a tool call is a new turn
        const card = toolCard(step);
        tools.set(step.id, card);
        steps.append(card.el);
        timeline.toolCall(run, step);
      } else if (step.type === "progress") {
        tools.get(step.id)?.progress(step);
        timeline.progress(run, step);
      } else if (step.type === "tool_result") {
        tools.get(step.id)?.result(step);
        timeline.toolResult(run, step);
      } else if (step.type === "final") {
        record.finalText = step.text;
        if (!answer) {
          answer = document.createElement("div");
          answer.className = "answer";
          steps.append(answer);
        }
        answer.textContent = step.text;
        answer.classList.remove("streaming");
        answer.dataset.final = "";
      }
      foot();
      el.scrollIntoView({ block: "end" });
    },
    finish(status) {
      answer?.classList.remove("streaming");
      setStatus(status);
      foot(` · ${closesOf(record.streamId, run.runtime)}`);
    },
    fail(e) {
      answer?.classList.remove("streaming");
      record.streamId = run.stream?.id ?? record.streamId;
      record.errorCode = e?.code ?? "INTERNAL";
      for (const card of tools.values()) card.cancelled();
      const note = document.createElement("div");
      if (e?.name === "AbortError") {
        setStatus("stopped");
        note.className = "note stopped";
        note.innerHTML = `<b>Stopped.</b> The stream's <code>AbortSignal</code> fired: in-flight work was cancelled and ` +
          `its session closed before <code>next()</code> rejected with <code>${escapeHTML(record.errorCode)}</code>.`;
      } else if (e?.code === "RUNTIME_DISPOSED") {
        setStatus("error", "runtime disposed");
        note.className = "note error";
        note.innerHTML = `<b>Runtime disposed</b> while <code>next()</code> was pending: it rejected with ` +
          `<code>RuntimeDisposedError</code> (<code>RUNTIME_DISPOSED</code>) after every transport was torn down.`;
      } else {
        setStatus("error");
        note.className = "note error";
        note.innerHTML = `<b>${escapeHTML(e?.name ?? "Error")}</b> <code>${escapeHTML(record.errorCode)}</code>: ${escapeHTML(e?.message ?? String(e))}`;
      }
      note.dataset.errorCode = record.errorCode;
      el.dataset.errorCode = record.errorCode;
      steps.append(note);
      foot(` · ${closesOf(record.streamId, run.runtime)}`);
      el.scrollIntoView({ block: "end" });
    },
  };
  runs.set(record.id, run);
  return run;
}

/** "1 session opened, 1 closed" for a stream, from the lifecycle events seen. */
function closesOf(streamId, runtimeN) {
  const mine = (e) => e.streamId === streamId && e.owner === "stream" && e.runtime === runtimeN;
  const opened = events.filter((e) => e.kind === "session-open" && mine(e)).length;
  const closed = events.filter((e) => e.kind === "session-close" && mine(e)).length;
  return `${opened} session${opened === 1 ? "" : "s"} opened, ${closed} closed`;
}

function toolCard(step) {
  const el = document.createElement("div");
  el.className = "tool";
  el.innerHTML = `<div class="tool-head"><span class="name"></span><span class="server"></span><span class="state">running…</span></div>
    <pre class="args"></pre>`;
  el.querySelector(".name").textContent = step.name;
  el.querySelector(".server").textContent = step.server ? `on ${step.server}` : "unknown tool";
  el.querySelector(".args").textContent = JSON.stringify(step.arguments, null, 1).replace(/\n\s*/g, " ");
  let bar = null;
  return {
    el,
    progress(p) {
      if (!bar) {
        bar = document.createElement("div");
        bar.innerHTML = `<div class="bar"><i></i></div><div class="bar-label"></div>`;
        el.append(bar);
      }
      const pct = p.total ? Math.min(100, (100 * p.progress) / p.total) : null;
      bar.querySelector("i").style.width = pct === null ? "100%" : `${pct}%`;
      bar.querySelector(".bar-label").textContent =
        `${p.progress}${p.total ? ` / ${p.total}` : ""}${p.message ? ` — ${p.message}` : ""}`;
      el.querySelector(".state").textContent = pct === null ? "working…" : `${Math.round(pct)}%`;
    },
    result(r) {
      el.classList.add(r.isError ? "err" : "ok");
      el.querySelector(".state").textContent = r.isError ? "error" : "done";
      const out = document.createElement("div");
      out.className = "result";
      for (const c of r.content ?? []) {
        if (c.type === "text") out.append(document.createTextNode(c.text));
        else if (c.type === "image" && typeof c.data === "string") {
          const img = document.createElement("img");
          img.src = `data:${c.mimeType ?? "image/png"};base64,${c.data}`;
          out.append(img);
        } else out.append(document.createTextNode(JSON.stringify(c)));
      }
      if (r.structuredContent) out.append(document.createTextNode(`\n${JSON.stringify(r.structuredContent)}`));
      el.append(out);
    },
    cancelled() {
      if (el.classList.contains("ok") || el.classList.contains("err")) return;
      el.classList.add("cancelled");
      el.querySelector(".state").textContent = "cancelled";
    },
  };
}

// ------------------------------------------------------------------ lifecycle events
const events = [];
/** run record id → run object (the timeline finds runs by their stream id). */
const runs = new Map();

function onLifecycle(d, runtimeN) {
  const e = { ...d, t: now(), runtime: runtimeN };
  events.push(e);
  timeline.lifecycle(e);
  const li = document.createElement("li");
  const who = [
    d.server && `${d.server}`,
    d.sessionId != null && `session ${d.sessionId}`,
    d.owner && `owner ${d.owner}`,
    d.streamId != null && `stream ${d.streamId}`,
    d.reason && `· ${d.reason}`,
  ].filter(Boolean).join("  ");
  li.innerHTML = `<span class="t"></span><span class="kind ${d.kind}"></span><span class="d"></span>`;
  li.querySelector(".t").textContent = `${e.t.toFixed(3)}s`;
  li.querySelector(".kind").textContent = d.kind;
  li.querySelector(".d").textContent = who;
  li.title = JSON.stringify(d);
  const list = $("events");
  list.append(li);
  list.scrollTop = list.scrollHeight;
  updateStats();
}

// ------------------------------------------------------------------ timeline
const timeline = (() => {
  const svg = $("timeline-svg");
  /** lanes: { key, type: "stream"|"session", label, sub, start, end, color, reason, calls: [], ticks: [] } */
  const lanes = [];
  const marks = []; // { t, label }
  let raf = 0;
  const COLORS = { stream: "var(--owner-stream)", agent: "var(--owner-agent)", client: "var(--owner-client)" };

  const laneOfStream = (run) => lanes.find((l) => l.type === "stream" && l.run === run);
  const sessionLane = (sessionId, runtimeN) => lanes.find((l) => l.type === "session" && l.sessionId === sessionId && l.runtime === runtimeN);
  const openSessionOf = (run, server) =>
    lanes.findLast((l) => l.type === "session" && l.run === run && l.server === server && l.end === null);

  function startStream(run) {
    lanes.push({ key: `s${run.record.id}`, type: "stream", run, label: `stream · run ${run.record.id}`, sub: run.record.question,
                 start: now(), end: null, reason: null, calls: [], ticks: [] });
    schedule();
  }
  function endRun(run) {
    const lane = laneOfStream(run);
    if (lane && lane.end === null) { lane.end = now(); lane.reason ??= run.record.status; }
    schedule();
  }
  function lifecycle(e) {
    const run = [...demo.runs].reverse().map((r) => runs.get(r.id)).find((r) => r?.stream?.id === e.streamId && r.runtime === e.runtime);
    if (e.kind === "session-open") {
      lanes.push({ key: `x${e.runtime}-${e.sessionId}`, type: "session", run: run ?? null, sessionId: e.sessionId, runtime: e.runtime,
                   server: e.server, owner: e.owner, label: `${e.server} · session ${e.sessionId}`,
                   sub: `opened by ${e.owner}${e.streamId ? ` (stream ${e.streamId})` : ""}`,
                   start: e.t, end: null, reason: null, calls: [], ticks: [] });
    } else if (e.kind === "session-close") {
      const lane = sessionLane(e.sessionId, e.runtime);
      if (lane) {
        lane.end = e.t;
        lane.reason = e.reason;
        for (const c of lane.calls) if (c.end === null) { c.end = e.t; c.status = "cancelled"; }
      }
    } else if (e.kind === "request-cancel") {
      const lane = sessionLane(e.sessionId, e.runtime);
      if (lane) {
        lane.ticks.push({ t: e.t, kind: "cancel" });
        for (const c of lane.calls) if (c.end === null) { c.end = e.t; c.status = "cancelled"; }
      }
    } else if (e.kind === "stream-end") {
      const lane = run && laneOfStream(run);
      if (lane) { lane.end = e.t; lane.reason = e.reason; }
    } else if (e.kind === "cleanup-error") {
      marks.push({ t: e.t, label: "cleanup-error" });
    }
    schedule();
  }
  function toolCall(run, step) {
    const lane = openSessionOf(run, step.server) ?? laneOfStream(run);
    lane?.calls.push({ id: step.id, name: step.name, start: now(), end: null, status: "running", progress: [] });
    schedule();
  }
  function progress(run, step) {
    for (const l of lanes) for (const c of l.calls) if (l.run === run && c.id === step.id) c.progress.push(now());
    schedule();
  }
  function toolResult(run, step) {
    for (const l of lanes) for (const c of l.calls) if (l.run === run && c.id === step.id) { c.end = now(); c.status = step.isError ? "error" : "ok"; }
    schedule();
  }
  function mark(kind, label) { marks.push({ t: now(), label }); schedule(); }

  function schedule() { if (!raf) raf = requestAnimationFrame(draw); }

  function draw() {
    raf = 0;
    const W = svg.clientWidth || 600;
    const visible = lanes.slice(-9);
    const LABEL = 178, ROW = 30, TOP = 6, AXIS = 22;
    const H = Math.max(150, TOP + visible.length * ROW + AXIS + 6);
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("height", H);
    if (!visible.length) {
      svg.innerHTML = `<text class="placeholder" x="${W / 2}" y="${H / 2}" text-anchor="middle">sessions, tool calls and closes appear here as they happen</text>`;
      return;
    }
    const live = visible.some((l) => l.end === null);
    const t1 = Math.max(now(), ...visible.map((l) => l.end ?? 0)) + (live ? 0.4 : 0.2);
    const t0 = Math.max(0, Math.min(...visible.map((l) => l.start)) - 0.2);
    const span = Math.max(1, t1 - t0);
    const x = (t) => LABEL + ((t - t0) / span) * (W - LABEL - 84); // room on the right for the end labels
    const parts = [];
    // time axis
    const step = [0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120].find((s) => span / s <= 8) ?? 300;
    const yAxis = TOP + visible.length * ROW + 4;
    parts.push(`<line class="axis" x1="${LABEL}" x2="${W - 8}" y1="${yAxis}" y2="${yAxis}"/>`);
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      parts.push(`<line class="axis" x1="${x(t)}" x2="${x(t)}" y1="${TOP}" y2="${yAxis + 4}" stroke-dasharray="2 4"/>`);
      parts.push(`<text class="tick" x="${x(t)}" y="${yAxis + 16}" text-anchor="middle">${t.toFixed(step < 1 ? 2 : 0)}s</text>`);
    }
    visible.forEach((l, i) => {
      const y = TOP + i * ROW;
      const end = l.end ?? now();
      const stream = l.type === "stream";
      const color = stream ? "var(--stream)" : COLORS[l.owner] ?? "var(--accent)";
      const indent = stream ? 0 : 12;
      parts.push(`<text x="${4 + indent}" y="${y + 12}" class="${stream ? "" : "mono"}" fill="var(--text)" style="fill:var(--text);font-weight:${stream ? 600 : 500}">${escapeHTML(clip(l.label, 26))}</text>`);
      parts.push(`<text x="${4 + indent}" y="${y + 24}" style="font-size:10px;fill:var(--faint)">${escapeHTML(clip(l.sub, 30))}</text>`);
      const h = stream ? 6 : 12, yy = y + (ROW - h) / 2 - 2;
      parts.push(`<rect x="${x(l.start)}" y="${yy}" width="${Math.max(2, x(end) - x(l.start))}" height="${h}" rx="${h / 2}" fill="${color}" opacity="${l.end === null ? 0.9 : 0.55}"/>`);
      if (l.end === null) parts.push(`<circle cx="${x(end)}" cy="${yy + h / 2}" r="4" fill="${color}"><animate attributeName="r" values="3;6;3" dur="1s" repeatCount="indefinite"/></circle>`);
      else parts.push(`<text x="${x(end) + 6}" y="${yy + h - 1}" style="font-size:10px;fill:var(--dim)">${escapeHTML(l.reason ?? "")}</text>`);
      for (const c of l.calls) {
        const ce = c.end ?? now();
        const cc = c.status === "error" ? "var(--bad)" : "var(--call)";
        parts.push(`<rect x="${x(c.start)}" y="${yy + 2}" width="${Math.max(2, x(ce) - x(c.start))}" height="${h - 4}" rx="3" fill="${cc}"><title>${escapeHTML(`${c.name}: ${c.status}`)}</title></rect>`);
        if (c.status === "cancelled") parts.push(`<rect x="${x(ce) - 3}" y="${yy - 1}" width="6" height="${h + 2}" rx="2" fill="var(--warn)"><title>cancelled</title></rect>`);
        for (const p of c.progress) parts.push(`<line x1="${x(p)}" x2="${x(p)}" y1="${yy}" y2="${yy + h}" stroke="#fff" stroke-opacity=".55"/>`);
      }
      for (const k of l.ticks) parts.push(`<path d="M${x(k.t)} ${yy - 4} l4 -6 h-8 z" fill="var(--warn)"><title>request-cancel</title></path>`);
    });
    for (const m of marks) {
      if (m.t < t0) continue;
      parts.push(`<line x1="${x(m.t)}" x2="${x(m.t)}" y1="${TOP}" y2="${yAxis}" stroke="var(--bad)" stroke-dasharray="4 3"/>`);
      parts.push(`<text x="${x(m.t) - 4}" y="${TOP + 10}" text-anchor="end" style="font-size:10px;fill:var(--bad)">${escapeHTML(m.label)}</text>`);
    }
    svg.innerHTML = parts.join("");
    if (live) schedule();
  }

  new ResizeObserver(schedule).observe(svg);
  return { startStream, endRun, lifecycle, toolCall, progress, toolResult, mark, draw };
})();

// ------------------------------------------------------------------ bits
function clip(s, n) { s = String(s ?? ""); return s.length > n ? `${s.slice(0, n - 1)}…` : s; }
function escapeHTML(s) { return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]); }

let toastTimer = 0;
function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("show"), 4200);
}

timeline.draw();
updateStats();
await ensureRuntime();
demo.ready = true;
document.body.dataset.ready = "";

/* host.h — a small scripted host for the core's native tests and fuzz
 * targets. It owns one context, writes input through ms_ctx_input, takes the
 * effects and records each as one readable line in a log:
 *
 *   OPEN 2 1 1 everything                  (session 2, owner MS_OWNER_STREAM 1, server name)
 *   SEND 2 {"jsonrpc":"2.0","id":1,"method":"initialize",...}
 *   CLOSE 2
 *   MODEL_REQUEST 1 1 {"model":...}        stream, sequence, body
 *   MODEL_ABORT 1 1
 *   WAKE 1                                 (left out when hide_wake is set)
 *   OP_DONE 5 0 [...]                      op, status, payload
 *   OP_PROGRESS 5 {...}
 *   EVENT {"kind":"session-open",...}
 *   LOG 2 2 text                           session, level, text
 *
 * Stream driving adds "STEP <json>" for a yielded step and "WAIT", "DONE" or
 * "ERROR <code> <message>" for how a next()/return() ended. Control bytes
 * in payloads are written as \n, \r, \t or \xHH so that every entry is one
 * line.
 *
 * It also counts, per session id, the OPEN and CLOSE effects and the
 * ms_session_closed reports, so a test can check the lifecycle rule: every
 * session that got an OPEN got exactly one CLOSE or was reported closed.
 *
 * The auto-server (h_pump) plays MCP servers and the model from a script, for
 * the failmalloc test and the fuzz targets. All host memory is libc memory,
 * never the core's, so live-allocation counts are the core's alone; the host
 * never uses cJSON (its allocator is the core's seam). */
#ifndef MS_HOST_H
#define MS_HOST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mcpstream.h"

/* every helper is `static H_FN`: a test uses only some of them */
#define H_FN __attribute__((unused))

#define H_MAX_IDS 256 /* session / stream ids tracked by the counters */
#define H_STUCK 100   /* h_pump: WAIT with nothing left for the host to do */

typedef struct h_fx { /* an effect, copied out of core memory */
  int kind, a, b, c;
  char *p; /* NUL-terminated copy of the payload (libc memory) */
  size_t len;
} h_fx;

/* The auto-server's script for one MCP server (matched by name). */
typedef struct h_server {
  const char *name;
  const char *version;     /* protocolVersion answered; NULL: 2025-11-25 */
  const char *const *pages;/* tools/list result objects, page by page (a page
                              with "nextCursor":"<k>" leads to page k) */
  int npages;
  const char *call_result; /* tools/call result object; NULL: a text "ok" */
  int progress;            /* send a progress notification before a result */
  int open_fail;           /* report OPEN_FAILED instead of opening */
  int exit_on_call;        /* the server exits instead of answering tools/call */
  int slow;                /* leave tools/call unanswered */
} h_server;

typedef struct host {
  ms_ctx *ctx;
  int hide_wake;           /* leave WAKE effects out of the log */
  int show_http;           /* log SEND's b/c and the PROTOCOL / SSE_CURSOR effects
                              (Streamable HTTP hosts only; hidden by default) */
  int quiet;               /* log nothing (fuzz targets) */
  int nomem;               /* some host call got MS_ERR_NOMEM or NULL input */
  char *log;               /* since the last h_clear (NUL-terminated) */
  size_t loglen, logcap;
  h_fx *fx;                /* the last batch taken */
  size_t nfx, capfx;
  /* lifecycle counters by session id */
  int opens[H_MAX_IDS], closes[H_MAX_IDS], reported[H_MAX_IDS];
  int events_open[H_MAX_IDS], events_close[H_MAX_IDS];
  /* model requests by stream id: the sequence of the last one, aborts */
  int model_seq[H_MAX_IDS], model_aborts[H_MAX_IDS], model_open[H_MAX_IDS];
  int wakes, stream_ends;
  /* auto-server script */
  const h_server *servers;
  int nservers;
  const char *const *model; /* one response per model request, in order */
  int nmodel, model_next;
  int model_whole;          /* responses are whole JSON bodies, not SSE */
  int close_on_close;       /* answer CLOSE with ms_session_closed (default 1) */
  /* called for a MODEL_REQUEST before the script; returns 1 when it answered */
  int (*on_model)(struct host *h, int st, int seq);
  void *user;
  const char *return_at;    /* h_pump: ms_stream_return(return_why) once a step */
  int return_why;           /*   containing this text was yielded */
  int returned;
  char *step;               /* the last step yielded, all its parts joined (NUL-terminated) */
  int keep_body;            /* leave the parts of a MODEL_REQUEST (c = 1) unread: the test reads them */
  size_t steplen;
} host;

/* ---- the log ---------------------------------------------------------------- */

static H_FN void h_add(host *h, const char *s, size_t n) {
  if (h->quiet) return;
  if (h->loglen + n + 1 > h->logcap) {
    size_t cap = h->logcap ? h->logcap : 1024;
    while (cap < h->loglen + n + 1) cap *= 2;
    char *p = realloc(h->log, cap);
    if (!p) abort();
    h->log = p;
    h->logcap = cap;
  }
  memcpy(h->log + h->loglen, s, n);
  h->loglen += n;
  h->log[h->loglen] = '\0';
}

static H_FN void h_addf(host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static H_FN void h_addf(host *h, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  h_add(h, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Appends p[0..n) with control bytes escaped. */
static H_FN void h_add_text(host *h, const char *p, size_t n) {
  if (h->quiet) return;
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c >= 0x20 && c != 0x7f) continue;
    h_add(h, p + run, i - run);
    run = i + 1;
    if (c == '\n') h_add(h, "\\n", 2);
    else if (c == '\r') h_add(h, "\\r", 2);
    else if (c == '\t') h_add(h, "\\t", 2);
    else h_addf(h, "\\x%02x", c);
  }
  h_add(h, p + run, n - run);
}

static const char *h_log(const host *h) { return h->log ? h->log : ""; }
static H_FN void h_clear(host *h) {
  h->loglen = 0;
  if (h->log) h->log[0] = '\0';
}

/* How many times `needle` occurs in the log. */
static H_FN int h_count(const host *h, const char *needle) {
  int n = 0;
  size_t nl = strlen(needle);
  for (const char *p = h_log(h); (p = strstr(p, needle)) != NULL; p += nl ? nl : 1) n++;
  return n;
}
static H_FN int h_has(const host *h, const char *needle) { return strstr(h_log(h), needle) != NULL; }

/* ---- setup ------------------------------------------------------------------- */

static H_FN int h_init(host *h) {
  memset(h, 0, sizeof *h);
  h->close_on_close = 1;
  h->ctx = ms_ctx_new();
  return h->ctx ? 0 : -1;
}

static H_FN void h_fx_clear(host *h) {
  for (size_t i = 0; i < h->nfx; i++) free(h->fx[i].p);
  h->nfx = 0;
}

static H_FN void h_free(host *h) {
  ms_ctx_free(h->ctx);
  h->ctx = NULL;
  h_fx_clear(h);
  free(h->fx);
  free(h->log);
  free(h->step);
  h->step = NULL;
  h->fx = NULL;
  h->log = NULL;
  h->loglen = h->logcap = 0;
}

/* ---- effects ----------------------------------------------------------------- */

static H_FN int h_id_ok(int id) { return id > 0 && id < H_MAX_IDS; }

static H_FN void h_log_fx(host *h, const h_fx *f) {
  switch (f->kind) {
    case MS_FX_OPEN: h_addf(h, "OPEN %d %d %d ", f->a, f->b, f->c); break;
    case MS_FX_SEND:
      if (h->show_http) h_addf(h, "SEND %d %d %d ", f->a, f->b, f->c);
      else h_addf(h, "SEND %d ", f->a);
      break;
    case MS_FX_PROTOCOL:
      if (!h->show_http) return;
      h_addf(h, "PROTOCOL %d ", f->a);
      break;
    case MS_FX_SERVER_REQUEST: h_addf(h, "SERVER_REQUEST %d %d ", f->a, f->b); break;
    case MS_FX_NOTIFICATION: h_addf(h, "NOTIFICATION %d ", f->a); break;
    case MS_FX_SSE_CURSOR:
      if (!h->show_http) return;
      h_addf(h, "SSE_CURSOR %d %d %d ", f->a, f->b, f->c);
      break;
    case MS_FX_CLOSE: h_addf(h, "CLOSE %d", f->a); break;
    case MS_FX_MODEL_REQUEST: h_addf(h, "MODEL_REQUEST %d %d ", f->a, f->b); break;
    case MS_FX_MODEL_ABORT: h_addf(h, "MODEL_ABORT %d %d", f->a, f->b); break;
    case MS_FX_WAKE:
      if (h->hide_wake) return;
      h_addf(h, "WAKE %d", f->a);
      break;
    case MS_FX_OP_DONE: h_addf(h, "OP_DONE %d %d ", f->a, f->b); break;
    case MS_FX_OP_PROGRESS: h_addf(h, "OP_PROGRESS %d ", f->a); break;
    case MS_FX_EVENT: h_add(h, "EVENT ", 6); break;
    case MS_FX_LOG: h_addf(h, "LOG %d %d ", f->a, f->b); break;
    default: h_addf(h, "UNKNOWN(%d) %d %d %d ", f->kind, f->a, f->b, f->c);
  }
  h_add_text(h, f->p, f->len);
  h_add(h, "\n", 1);
}

/* Takes the queued effects into h->fx (replacing the last batch), logs and
 * counts them. Returns their number, or the negative error. */
static H_FN int h_take(host *h) {
  h_fx_clear(h);
  int n = ms_ctx_take_effects(h->ctx);
  if (n < 0) {
    if (n == MS_ERR_NOMEM) h->nomem = 1;
    return n;
  }
  const ms_effect *e = ms_ctx_effects_ptr(h->ctx);
  if (n > 0 && !e) abort();
  if ((size_t)n > h->capfx) {
    h_fx *p = realloc(h->fx, (size_t)n * sizeof *p);
    if (!p) abort();
    h->fx = p;
    h->capfx = (size_t)n;
  }
  for (int i = 0; i < n; i++) {
    h_fx *f = &h->fx[h->nfx++];
    f->kind = e[i].kind;
    f->a = e[i].a;
    f->b = e[i].b;
    f->c = e[i].c;
    f->len = e[i].len;
    f->p = malloc(f->len + 1);
    if (!f->p) abort();
    if (f->len) memcpy(f->p, (const void *)e[i].ptr, f->len);
    f->p[f->len] = '\0';
    if (f->kind == MS_FX_MODEL_REQUEST && f->c == 1 && !h->keep_body) { /* the head: the rest part by part */
      int32_t got;
      while ((got = ms_stream_model_body(h->ctx, f->a, f->b)) > 0) {
        char *grown = realloc(f->p, f->len + (size_t)got + 1);
        if (!grown) abort();
        f->p = grown;
        memcpy(f->p + f->len, ms_ctx_body_ptr(h->ctx), (size_t)got);
        f->len += (uint32_t)got;
        f->p[f->len] = '\0';
      }
      if (got == MS_ERR_NOMEM) h->nomem = 1;
      f->c = got; /* 0: read whole */
    }
    h_log_fx(h, f);
    int a = f->a;
    switch (f->kind) {
      case MS_FX_OPEN: if (h_id_ok(a)) h->opens[a]++; break;
      case MS_FX_CLOSE: if (h_id_ok(a)) h->closes[a]++; break;
      case MS_FX_MODEL_REQUEST:
        if (h_id_ok(a)) h->model_seq[a] = f->b, h->model_open[a] = 1;
        break;
      case MS_FX_MODEL_ABORT:
        if (h_id_ok(a)) h->model_aborts[a]++, h->model_open[a] = 0;
        break;
      case MS_FX_WAKE: h->wakes++; break;
      case MS_FX_EVENT:
        if (h_id_ok(a) && strstr(f->p, "\"kind\":\"session-open\"")) h->events_open[a]++;
        if (h_id_ok(a) && strstr(f->p, "\"kind\":\"session-close\"")) h->events_close[a]++;
        if (strstr(f->p, "\"kind\":\"stream-end\"")) h->stream_ends++;
        break;
    }
  }
  return n;
}

/* ---- input and feeds ----------------------------------------------------- */

/* Copies p[0..n) into the core's input buffer (asking twice when refused).
 * 0, or -1 when out of memory. */
static H_FN int h_in(host *h, const void *p, size_t n) {
  uint8_t *in = ms_ctx_input(h->ctx, (uint32_t)n);
  if (!in) in = ms_ctx_input(h->ctx, (uint32_t)n); /* a host retries once */
  if (!in) {
    h->nomem = 1;
    return -1;
  }
  if (n) memcpy(in, p, n);
  return 0;
}

static H_FN int h_rc(host *h, int rc) {
  if (rc == MS_ERR_NOMEM) h->nomem = 1;
  return rc;
}

static H_FN int h_session_new(host *h, int owner, int owner_id, const char *name) {
  if (h_in(h, name, strlen(name))) return MS_ERR_NOMEM;
  return h_rc(h, ms_session_new(h->ctx, owner, owner_id, (uint32_t)strlen(name)));
}

static H_FN int h_opened(host *h, int sid) { return h_rc(h, ms_session_opened(h->ctx, sid)); }

static H_FN int h_feed_n(host *h, int sid, const void *p, size_t n) {
  if (h_in(h, p, n)) return MS_ERR_NOMEM;
  return h_rc(h, ms_session_feed(h->ctx, sid, (uint32_t)n));
}
static H_FN int h_feed(host *h, int sid, const char *s) { return h_feed_n(h, sid, s, strlen(s)); }

/* One whole message through ms_session_feed_message. */
static H_FN int h_msg(host *h, int sid, const char *s) {
  if (h_in(h, s, strlen(s))) return MS_ERR_NOMEM;
  return h_rc(h, ms_session_feed_message(h->ctx, sid, (uint32_t)strlen(s)));
}

/* Streamable HTTP: SSE bytes of response `key`; the end of a response; a
 * request that gets no answer. */
static H_FN int h_sse_n(host *h, int sid, int key, const void *p, size_t n) {
  if (h_in(h, p, n)) return MS_ERR_NOMEM;
  return h_rc(h, ms_session_sse_feed(h->ctx, sid, key, (uint32_t)n));
}
static H_FN int h_sse(host *h, int sid, int key, const char *s) { return h_sse_n(h, sid, key, s, strlen(s)); }
static H_FN int h_resp_end(host *h, int sid, int key) { return h_rc(h, ms_session_response_end(h->ctx, sid, key)); }
static H_FN int h_req_failed(host *h, int sid, int key, int code, const char *msg) {
  if (h_in(h, msg, strlen(msg))) return MS_ERR_NOMEM;
  return h_rc(h, ms_session_request_failed(h->ctx, sid, key, code, (uint32_t)strlen(msg)));
}

/* A host must report every close, even when the core cannot take the
 * message: then it reports it without one (no input to copy). */
static H_FN int h_closed(host *h, int sid, int reason, const char *msg) {
  size_t n = msg ? strlen(msg) : 0;
  if (h_in(h, msg ? msg : "", n)) {
    n = 0;
    if (h_in(h, "", 0)) return MS_ERR_NOMEM;
  }
  int rc = ms_session_closed(h->ctx, sid, reason, (uint32_t)n);
  if (rc == 0 && h_id_ok(sid)) h->reported[sid]++;
  return h_rc(h, rc);
}

static H_FN int h_request(host *h, int sid, int op, int flags, const char *method, const char *params) {
  size_t ml = strlen(method), pl = params ? strlen(params) : 0;
  uint8_t *in = ms_ctx_input(h->ctx, (uint32_t)(ml + pl));
  if (!in) return h->nomem = 1, MS_ERR_NOMEM;
  memcpy(in, method, ml);
  if (pl) memcpy(in + ml, params, pl);
  return h_rc(h, ms_session_request(h->ctx, sid, op, flags, (uint32_t)ml, (uint32_t)pl, 0));
}

/* Answers a server request (MS_FX_SERVER_REQUEST) routed to the host: its
 * id (JSON text) and a result object, or with code != 0 an error message. */
static H_FN int h_respond(host *h, int sid, const char *id, const char *body, int code) {
  size_t il = strlen(id), bl = strlen(body);
  uint8_t *in = ms_ctx_input(h->ctx, (uint32_t)(il + bl));
  if (!in) return h->nomem = 1, MS_ERR_NOMEM;
  memcpy(in, id, il);
  memcpy(in + il, body, bl);
  return h_rc(h, ms_session_respond(h->ctx, sid, (uint32_t)il, (uint32_t)bl, code));
}

static H_FN int h_model_feed_n(host *h, int st, int seq, const void *p, size_t n) {
  if (h_in(h, p, n)) return MS_ERR_NOMEM;
  return h_rc(h, ms_stream_model_feed(h->ctx, st, seq, (uint32_t)n));
}
static H_FN int h_model_feed(host *h, int st, int seq, const char *sse) {
  return h_model_feed_n(h, st, seq, sse, strlen(sse));
}

/* Every model request gets its end, even when the core cannot take the body:
 * then it ends as a network failure would (status 0, no message). */
static H_FN int h_model_end(host *h, int st, int seq, int status, const char *body) {
  size_t n = body ? strlen(body) : 0;
  if (h_in(h, body ? body : "", n)) {
    n = 0;
    status = 0;
    if (h_in(h, "", 0)) return MS_ERR_NOMEM;
  }
  int rc = ms_stream_model_end(h->ctx, st, seq, status, (uint32_t)n);
  if (h_id_ok(st) && seq == h->model_seq[st]) h->model_open[st] = 0;
  return h_rc(h, rc);
}

/* A whole SSE model response: every event, then the end (status 200). */
static H_FN int h_model_sse(host *h, int st, int seq, const char *sse) {
  int rc = h_model_feed(h, st, seq, sse);
  if (rc == MS_ERR_NOMEM) return h_model_end(h, st, seq, 0, NULL); /* could not deliver it */
  return rc ? rc : h_model_end(h, st, seq, 200, NULL);
}

static H_FN int h_stream_new(host *h, const char *config) {
  if (h_in(h, config, strlen(config))) return MS_ERR_NOMEM;
  return h_rc(h, ms_stream_new(h->ctx, (uint32_t)strlen(config)));
}

/* Where the session fuzz targets start: a client session "everything"
 * (id 1) declaring `caps`, a progress-tracked tools/call queued before it
 * opens, a tools/list after, and a stream borrowing it (id 2, 4 steps).
 * Returns the stream id. */
static H_FN int h_client_and_stream(host *h, int caps) {
  int sid = h_session_new(h, MS_OWNER_CLIENT, 1, "everything");
  if (caps && ms_session_set_capabilities(h->ctx, sid, caps)) return -1;
  h_request(h, sid, 100, MS_REQ_PROGRESS, "tools/call", "{\"name\":\"slow\"}");
  h_opened(h, sid);
  ms_session_list_tools(h->ctx, sid, 101);
  return sid == 1 ? h_stream_new(h, "{\"query\":\"q\",\"maxSteps\":4,\"borrow\":[1]}") : -1;
}

/* ---- stream driving ------------------------------------------------------- */

/* Reads the step of a YIELD into h->step: the output, then each further part
 * (ms_stream_output_next), joined as the JS host does. */
static H_FN void h_read_step(host *h, int st) {
  h->steplen = 0;
  for (int more = 1; more == 1; more = ms_stream_output_next(h->ctx, st)) {
    const char *p = ms_stream_output_ptr(h->ctx, st);
    uint32_t n = ms_stream_output_len(h->ctx, st);
    char *s = realloc(h->step, h->steplen + n + 1);
    if (!s) abort();
    h->step = s;
    if (n) memcpy(s + h->steplen, p, n);
    h->steplen += n;
    s[h->steplen] = '\0';
  }
}

static H_FN void h_log_status(host *h, int st, int rc) {
  if (rc == MS_YIELD) {
    h_read_step(h, st);
    h_add(h, "STEP ", 5);
    h_add_text(h, h->step, h->steplen);
    h_add(h, "\n", 1);
  } else if (rc == MS_WAIT) {
    h_add(h, "WAIT\n", 5);
  } else if (rc == MS_DONE) {
    h_add(h, "DONE\n", 5);
  } else if (rc < 0) {
    h_addf(h, "ERROR %d ", rc);
    const char *p = ms_stream_output_ptr(h->ctx, st);
    uint32_t n = ms_stream_output_len(h->ctx, st);
    if (rc == MS_ERR_BAD_HANDLE || rc == MS_ERR_STATE || rc == MS_ERR_INVALID_ARGUMENT) {
      p = ms_ctx_error_ptr(h->ctx); /* a refused call: the message is on the context */
      n = ms_ctx_error_len(h->ctx);
    }
    h_add_text(h, p ? p : "", p ? n : 0);
    h_add(h, "\n", 1);
  }
}

/* Whether the last step yielded (h_log_status read it: h->step) contains `needle`. */
static H_FN int h_output_has(host *h, int st, const char *needle) {
  (void)st;
  return h->step && strstr(h->step, needle) != NULL;
}

/* One ms_stream_next: logs its step or status, then takes the effects. */
static H_FN int h_next(host *h, int st) {
  int rc = h_rc(h, ms_stream_next(h->ctx, st));
  h_log_status(h, st, rc);
  h_take(h);
  return rc;
}

/* Calls next until it returns WAIT, DONE or an error (YIELD and EFFECTS go
 * on). Returns that. */
static H_FN int h_run(host *h, int st) {
  for (int i = 0; i < 100000; i++) {
    int rc = h_next(h, st);
    if (rc != MS_YIELD && rc != MS_EFFECTS) return rc;
  }
  return H_STUCK;
}

static H_FN int h_return(host *h, int st, int why) {
  int rc = h_rc(h, ms_stream_return(h->ctx, st, why));
  h_add(h, "RETURN ", 7);
  if (rc == MS_EFFECTS) h_add(h, "EFFECTS\n", 8);
  else h_log_status(h, st, rc);
  h_take(h);
  return rc;
}

/* throw(e) with e's message `reason` (may be NULL: none). */
static H_FN int h_throw(host *h, int st, const char *reason) {
  size_t n = reason ? strlen(reason) : 0;
  if (h_in(h, reason ? reason : "", n)) return MS_ERR_NOMEM;
  int rc = h_rc(h, ms_stream_throw(h->ctx, st, (uint32_t)n));
  h_add(h, "THROW ", 6);
  if (rc == MS_EFFECTS) h_add(h, "EFFECTS\n", 8);
  else h_log_status(h, st, rc);
  h_take(h);
  return rc;
}

/* ---- lifecycle checks --------------------------------------------------------- */

/* Sessions that broke the rule "every OPEN gets exactly one CLOSE or a closed
 * report, never two CLOSEs, one session-close event per session-open event".
 * Writes their ids into `bad` (up to nbad) and returns how many. */
static H_FN int h_lifecycle_violations(const host *h, int *bad, int nbad) {
  int n = 0;
  for (int id = 1; id < H_MAX_IDS; id++) {
    int ok = h->closes[id] <= 1 && h->reported[id] <= 1 &&
             (h->opens[id] == 0 || h->closes[id] == 1 || h->reported[id] == 1) &&
             h->opens[id] <= 1 && h->events_close[id] <= 1 &&
             h->events_close[id] == h->events_open[id];
    if (!ok && n < nbad) bad[n] = id;
    if (!ok) n++;
  }
  return n;
}

/* ---- the auto-server ---------------------------------------------------- */

/* Reads a JSON integer after `key` in s; -1 when absent. */
static H_FN long h_json_int(const char *s, const char *key) {
  const char *p = strstr(s, key);
  if (!p) return -1;
  return strtol(p + strlen(key), NULL, 10);
}

/* Copies the JSON string value after `key` (no escapes expected). */
static H_FN int h_json_str(const char *s, const char *key, char *out, size_t cap) {
  const char *p = strstr(s, key);
  if (!p) return -1;
  p += strlen(key);
  size_t n = 0;
  while (p[n] && p[n] != '"' && n + 1 < cap) n++;
  memcpy(out, p, n);
  out[n] = '\0';
  return 0;
}

static const h_server *h_server_of(const host *h, const char *name) {
  for (int i = 0; i < h->nservers; i++)
    if (strcmp(h->servers[i].name, name) == 0) return &h->servers[i];
  return NULL;
}

typedef struct h_sess_name { /* session id → server name, learnt from OPEN */
  int sid;
  char name[64];
} h_sess_name;

static h_sess_name h_names[H_MAX_IDS];

static const h_server *h_server_for(const host *h, int sid) {
  if (!h_id_ok(sid)) return NULL;
  return h_server_of(h, h_names[sid].name);
}

/* The auto-server's feed: bytes the core cannot take (no memory for the
 * input) are lost, so the host drops that transport, as a real one must. */
static H_FN void h_serve_feed(host *h, int sid, const char *s) {
  if (h_feed(h, sid, s) == MS_ERR_NOMEM) h_closed(h, sid, MS_CLOSE_EXITED, NULL);
}

static H_FN void h_reply(host *h, int sid, long id, const char *result) {
  char head[64];
  snprintf(head, sizeof head, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"result\":", id);
  size_t n = strlen(head) + strlen(result) + 3;
  char *m = malloc(n);
  if (!m) abort();
  snprintf(m, n, "%s%s}\n", head, result);
  h_serve_feed(h, sid, m);
  free(m);
}

/* Answers one SEND as the scripted server would. */
static H_FN void h_serve(host *h, const h_fx *f) {
  const h_server *sv = h_server_for(h, f->a);
  if (!sv) return;
  long id = h_json_int(f->p, "{\"jsonrpc\":\"2.0\",\"id\":");
  char method[64];
  if (id < 0 || h_json_str(f->p, "\"method\":\"", method, sizeof method)) return;
  if (strcmp(method, "initialize") == 0) {
    char res[160];
    snprintf(res, sizeof res,
             "{\"protocolVersion\":\"%s\",\"capabilities\":{\"tools\":{}},"
             "\"serverInfo\":{\"name\":\"%s\",\"version\":\"1\"}}",
             sv->version ? sv->version : "2025-11-25", sv->name);
    h_reply(h, f->a, id, res);
  } else if (strcmp(method, "tools/list") == 0) {
    char cursor[16];
    long page = h_json_str(f->p, "\"cursor\":\"", cursor, sizeof cursor) ? 0 : atol(cursor);
    h_reply(h, f->a, id, page >= 0 && page < sv->npages ? sv->pages[page] : "{\"tools\":[]}");
  } else if (strcmp(method, "tools/call") == 0) {
    if (sv->slow) return;
    if (sv->exit_on_call) {
      h_closed(h, f->a, MS_CLOSE_EXITED, "the server crashed");
      return;
    }
    if (sv->progress) {
      char p[160];
      snprintf(p, sizeof p,
               "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
               "{\"progressToken\":%ld,\"progress\":1,\"total\":2,\"message\":\"half\"}}\n",
               id);
      h_serve_feed(h, f->a, p);
    }
    h_reply(h, f->a, id,
            sv->call_result ? sv->call_result
                            : "{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],\"isError\":false}");
  } else if (strcmp(method, "ping") == 0) {
    h_reply(h, f->a, id, "{}");
  }
}

/* Plays the host for every effect of the last batch. Returns how many
 * effects asked the host to act. */
static H_FN int h_act(host *h) {
  int acted = 0;
  /* copy the batch: acting takes no effects, but h_fx is reused by h_take */
  for (size_t i = 0; i < h->nfx; i++) {
    const h_fx *f = &h->fx[i];
    switch (f->kind) {
      case MS_FX_OPEN: {
        acted++;
        if (h_id_ok(f->a)) /* the payload is the server's name */
          snprintf(h_names[f->a].name, sizeof h_names[f->a].name, "%.*s", (int)f->len, f->p);
        const h_server *sv = h_server_for(h, f->a);
        if (!sv || sv->open_fail) h_closed(h, f->a, MS_CLOSE_OPEN_FAILED, "spawn failed");
        else h_opened(h, f->a);
        break;
      }
      case MS_FX_SEND: acted++; h_serve(h, f); break;
      case MS_FX_CLOSE:
        acted++;
        if (h->close_on_close) h_closed(h, f->a, MS_CLOSE_CLOSED, NULL);
        break;
      case MS_FX_MODEL_REQUEST:
        acted++;
        if (f->c < 0) { /* its body could not be read: the host fails the request */
          h_model_end(h, f->a, f->b, f->c, "the model request could not be written");
        } else if (h->on_model && h->on_model(h, f->a, f->b)) {
          /* answered by the hook */
        } else if (h->model_next < h->nmodel) {
          const char *r = h->model[h->model_next++];
          if (h->model_whole) h_model_end(h, f->a, f->b, 200, r);
          else h_model_sse(h, f->a, f->b, r);
        } else {
          h_model_end(h, f->a, f->b, 500, "{\"error\":{\"message\":\"no more scripted answers\"}}");
        }
        break;
      case MS_FX_WAKE: acted++; break;
      default: break;
    }
  }
  return acted;
}

/* Drives stream st to its end with the auto-server: next, act on the
 * effects, next again... Returns the end (MS_DONE or an error), or H_STUCK
 * when the stream waits and the host has nothing left to do. */
static H_FN int h_pump(host *h, int st) {
  for (int i = 0; i < 10000; i++) {
    int rc = h_next(h, st);
    int leave = rc == MS_YIELD && h->return_at && !h->returned && h_output_has(h, st, h->return_at);
    int acted = h_act(h);
    if (leave) { /* after acting on the batch: h_return takes the next one */
      h->returned = 1;
      h_return(h, st, h->return_why);
      acted += h_act(h);
    }
    while (h_take(h) > 0) acted += h_act(h);
    if (rc <= MS_DONE) return rc; /* next() never refuses: an error is the end */
    if (rc == MS_WAIT && !acted) return H_STUCK;
  }
  return H_STUCK;
}

#endif /* MS_HOST_H */

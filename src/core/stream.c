/* stream.c — the agent loop as a generator: next / return, the ownership
 * record and the cleanup plan (docs/architecture.md §3).
 *
 *  NEW --first next--> SETUP (open owned sessions, wait for every session to
 *  be ready and listed) --> MODEL_START --> MODEL (request in flight; text
 *  deltas become steps) --> TOOLS (one call at a time; its tool_call step is
 *  yielded while it runs) --> MODEL_START ... --> FINAL (final step queued)
 *  --next--> CLOSING (owned sessions closing) --> ENDED.
 *
 * Any failure, return() or abort goes to CLOSING from wherever the stream is:
 * the model request is aborted, the in-flight tool call is cancelled, every
 * owned session gets exactly one MS_FX_CLOSE. ENDED is reached only once
 * every owned session reported closed; the error (if any) is reported by the
 * next ms_stream_next, once. */
#include <stdio.h>
#include <string.h>

#include "core.h"

#define ST_NEW 0
#define ST_SETUP 1
#define ST_MODEL_START 2
#define ST_MODEL 3
#define ST_TOOLS 4
#define ST_FINAL 5
#define ST_CLOSING 6
#define ST_ENDED 7

typedef struct ms_tool_ref {
  char *model_name; /* the name the model sees (names.c) */
  int32_t sid;
  char *name;       /* the tool's name on its server (a copy: a list_changed
                       notification frees the session's list mid-run) */
} ms_tool_ref;

typedef struct ms_step {
  char *json;
  size_t len;
} ms_step;

struct ms_stream {
  int32_t id;
  int state;
  ms_account *acct;   /* its memory budget (limits.streamMemoryBytes) */
  ms_err err;         /* the failure to report once ENDED (code 0: none) */
  int reported;       /* the end was reported by ms_stream_next */
  int wake_queued;    /* an MS_FX_WAKE is queued and not yet answered */
  const char *end_reason;
  /* config */
  char *endpoint;     /* names the model endpoint in messages ("endpoint") */
  char *model;
  char *query;
  char *system_prompt;
  int max_steps;
  int32_t request_timeout; /* tools/call timeout in ms (0: each server's) */
  cJSON *disallowed;  /* array of names */
  cJSON *own;         /* array of server names to open */
  cJSON *borrow;      /* array of session ids */
  cJSON *history;     /* earlier messages (optional) */
  /* sessions used: owned ones were recorded before their OPEN */
  int32_t *sids;
  uint8_t *owned;
  size_t nsids;
  /* conversation */
  cJSON *messages;
  cJSON *tools_json;
  ms_tool_ref *tools;
  size_t ntools;
  int steps;
  /* model request */
  int32_t model_seq;
  int model_inflight;
  ms_sse sse;
  ms_llm_acc acc;
  /* tool calls of the last assistant message */
  cJSON *calls;       /* borrowed from the message in `messages` */
  int ncalls_done;
  int call_started;   /* a tools/call is in flight */
  int64_t call_rpc;
  int32_t call_sid;
  char *call_id;
  const ms_tool_ref *call_ref;
  /* steps ready for the consumer, and the one handed out */
  ms_step *q;
  size_t qhead, qlen, qcap;
  /* the output: the step handed out last (held, so handing it out cannot
   * fail), or the end's error message */
  ms_step held;
  char errout[MS_ERR_MSG_MAX];
  uint32_t errout_len;
  /* effect room reserved for its end (ctx.c): flags of what is still held */
  int rsv_abort, rsv_cancel, rsv_end, rsv_wake;
  size_t rsv_cancel_event; /* bytes of the request-cancel event */
  size_t rsv_end_event;    /* bytes of the stream-end event */
};

ms_stream *ms__stream_get(ms_ctx *ctx, int32_t id) {
  if (!ctx) return NULL;
  for (size_t i = 0; i < ctx->nstreams; i++)
    if (ctx->streams[i]->id == id) return ctx->streams[i];
  return NULL;
}

static void clear_steps(ms_stream *st) {
  for (size_t i = st->qhead; i < st->qlen; i++) ms_free(st->q[i].json);
  st->qhead = st->qlen = 0;
}

void ms__stream_free(ms_stream *st) {
  if (!st) return;
  clear_steps(st);
  ms_free(st->q);
  for (size_t i = 0; i < st->ntools; i++) {
    ms_free(st->tools[i].model_name);
    ms_free(st->tools[i].name);
  }
  ms_free(st->tools);
  cJSON_Delete(st->tools_json);
  cJSON_Delete(st->messages);
  cJSON_Delete(st->disallowed);
  cJSON_Delete(st->own);
  cJSON_Delete(st->borrow);
  cJSON_Delete(st->history);
  ms_free(st->sids);
  ms_free(st->owned);
  ms_free(st->model);
  ms_free(st->endpoint);
  ms_free(st->query);
  ms_free(st->system_prompt);
  ms_free(st->call_id);
  ms_sse_free(&st->sse);
  ms_llm_acc_free(&st->acc);
  ms_free(st->held.json);
  ms_account_release(st->acct);
  ms_free(st);
}

/* Reserves the effects of the stream's end: MODEL_ABORT, the cancel of a
 * call (notifications/cancelled + request-cancel event), the stream-end
 * event, and one WAKE (reserved again each time the host takes it). The
 * longest server name it may cancel a call on is `name_len`. */
static int reserve_end(ms_ctx *ctx, ms_stream *st, size_t name_len) {
  size_t cancel_event = ms__event_bound(name_len, "request-cancel", MS_REASON_MAX);
  size_t end_event = ms__event_bound(0, "stream-end", MS_REASON_MAX);
  if (ms__fx_reserve(ctx, 5, MS_CANCEL_BYTES + cancel_event + end_event)) return MS_ERR_NOMEM;
  st->rsv_abort = st->rsv_cancel = st->rsv_end = st->rsv_wake = 1;
  st->rsv_cancel_event = cancel_event;
  st->rsv_end_event = end_event;
  return 0;
}

/* Gives back what the stream reserved and did not use. */
static void unreserve_end(ms_ctx *ctx, ms_stream *st) {
  size_t recs = (size_t)(st->rsv_abort + 2 * st->rsv_cancel + st->rsv_end + st->rsv_wake);
  size_t bytes = (st->rsv_cancel ? MS_CANCEL_BYTES + st->rsv_cancel_event : 0) +
                 (st->rsv_end ? st->rsv_end_event : 0);
  ms__fx_unreserve(ctx, recs, bytes);
  st->rsv_abort = st->rsv_cancel = st->rsv_end = st->rsv_wake = 0;
}

static void wake(ms_ctx *ctx, ms_stream *st) {
  if (st->wake_queued) return;
  int rc = st->rsv_wake ? ms__fx_reserved(ctx, MS_FX_WAKE, st->id, 0, 0, NULL, 0, 0)
                        : ms__fx(ctx, MS_FX_WAKE, st->id, 0, 0, NULL, 0);
  if (rc == 0) st->wake_queued = 1;
  st->rsv_wake = 0;
}

void ms__stream_wake_taken(ms_ctx *ctx, int32_t st_id) {
  ms_stream *st = ms__stream_get(ctx, st_id);
  /* the room of the WAKE just taken is free: it is the reserve again (taken
   * without allocating: the payloads being handed out must not move) */
  if (st && !st->rsv_wake && ctx->capfx - ctx->nfx > ctx->rsv_recs) {
    ctx->rsv_recs++;
    st->rsv_wake = 1;
  }
}

/* The stream-end event, into its reserved room. */
static void end_event(ms_ctx *ctx, ms_stream *st, const char *reason) {
  if (st->rsv_end) ms__event_reserved(ctx, "stream-end", NULL, st->id, reason, st->rsv_end_event);
  else ms__event(ctx, "stream-end", NULL, st->id, reason);
  st->rsv_end = 0;
}

/* Queues a step (printed from obj, which is deleted). */
static int push_step(ms_stream *st, cJSON *obj) {
  char *json = obj ? ms__json_print(obj) : NULL;
  cJSON_Delete(obj);
  if (!json) return MS_ERR_NOMEM;
  if (st->qhead && st->qhead == st->qlen) st->qhead = st->qlen = 0;
  if (st->qlen == st->qcap) {
    size_t cap = st->qcap ? st->qcap * 2 : 16;
    ms_step *q = ms_realloc(st->q, cap * sizeof *q);
    if (!q) {
      ms_free(json);
      return MS_ERR_NOMEM;
    }
    st->q = q;
    st->qcap = cap;
  }
  st->q[st->qlen++] = (ms_step){json, strlen(json)};
  return 0;
}

static int pop_step(ms_stream *st) {
  if (st->qhead == st->qlen) return 0;
  ms_free(st->held.json);
  st->held = st->q[st->qhead++];
  return 1;
}

static int is_owned_open(ms_ctx *ctx, ms_stream *st) {
  for (size_t i = 0; i < st->nsids; i++) {
    if (!st->owned[i]) continue;
    ms_session *s = ms__session_get(ctx, st->sids[i]);
    if (s && s->state != MS_SESS_CLOSED) return 1;
  }
  return 0;
}

static void check_closed(ms_ctx *ctx, ms_stream *st) {
  if (st->state != ST_CLOSING || is_owned_open(ctx, st)) return;
  st->state = ST_ENDED;
  end_event(ctx, st, st->end_reason);
  wake(ctx, st);
}

/* The cleanup plan: from any state to CLOSING, each step at most once. */
static void begin_end(ms_ctx *ctx, ms_stream *st, const char *reason) {
  if (st->state >= ST_CLOSING) return;
  if (st->state == ST_NEW) { /* nothing was opened */
    st->state = ST_ENDED;
    st->end_reason = reason;
    end_event(ctx, st, reason);
    return;
  }
  /* nothing below allocates: the effects were reserved (reserve_end) */
  st->state = ST_CLOSING;
  st->end_reason = reason;
  if (st->model_inflight) {
    st->model_inflight = 0;
    if (st->rsv_abort) ms__fx_reserved(ctx, MS_FX_MODEL_ABORT, st->id, st->model_seq, 0, NULL, 0, 0);
    else ms__fx(ctx, MS_FX_MODEL_ABORT, st->id, st->model_seq, 0, NULL, 0);
    st->rsv_abort = 0;
  }
  if (st->call_started) {
    st->call_started = 0;
    ms_session *s = ms__session_get(ctx, st->call_sid);
    if (s) {
      ms__session_cancel_rpc(ctx, s, st->call_rpc, st->id, reason,
                             st->rsv_cancel ? st->rsv_cancel_event : 0);
      st->rsv_cancel = 0;
    }
  }
  for (size_t i = 0; i < st->nsids; i++) {
    ms_session *s = st->owned[i] ? ms__session_get(ctx, st->sids[i]) : NULL;
    if (s) ms__session_close(ctx, s);
  }
  check_closed(ctx, st);
}

static void fail(ms_ctx *ctx, ms_stream *st, int code, const char *msg) {
  if (!st->err.code) ms_err_set(&st->err, code, "%s", msg);
  if (st->err.code == MS_ERR_NOMEM && st->acct->exceeded) /* not the machine's memory: the budget */
    ms_err_set(&st->err, MS_ERR_LIMIT, "the stream needed more than its memory budget of %zu bytes "
               "(limits.streamMemoryBytes)", st->acct->limit);
  begin_end(ctx, st, "error");
  wake(ctx, st);
}

/* Fails the stream with an error of the model path, naming the endpoint:
 * "<endpoint>: <what>" (what comes from llm.c or the host). */
static void model_fail(ms_ctx *ctx, ms_stream *st, int code, const char *what) {
  ms_err e;
  const char *ep = st->endpoint ? st->endpoint : NULL;
  if (ep && !strstr(what, ep)) ms_err_set(&e, code, "%s: %s", ep, what);
  else if (ep || st->model[0] == 0) ms_err_set(&e, code, "%s", what);
  else ms_err_set(&e, code, "model '%s': %s", st->model, what);
  fail(ctx, st, e.code, e.msg);
}

/* ---- setup ------------------------------------------------------------- */

static const char oom[] = "out of memory";

static int config_error(ms_ctx *ctx, ms_stream *st, const char *msg) {
  ms__stream_free(st);
  if (msg == oom) return ms__fail(ctx, MS_ERR_NOMEM, "out of memory creating a stream");
  return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "stream config: %s", msg);
}

static size_t cut_len(const char *s, size_t max) {
  size_t n = 0;
  while (n < max && s[n]) n++;
  return n;
}

static char *dup_string(const cJSON *v) {
  return ms_strndup(v->valuestring, strlen(v->valuestring));
}

MS_EXPORT int32_t ms_stream_new(ms_ctx *ctx, uint32_t len) {
  if (!ctx) return MS_ERR_INVALID_ARGUMENT;
  if (len > ctx->input.cap) return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "config longer than the input");
  ms_stream *st = ms_malloc(sizeof *st);
  if (!st) return ms__fail(ctx, MS_ERR_NOMEM, "out of memory");
  memset(st, 0, sizeof *st);
  ms_sse_init(&st->sse, ctx->max_message);
  if (!(st->acct = ms_account_new(ctx->max_memory))) return config_error(ctx, st, oom);
  MS_ALLOC_SCOPE(st->acct);
  long failures = ms_alloc_failures();
  cJSON *cfg = ms__json_parse((const char *)ctx->input.data, len);
  if (!cJSON_IsObject(cfg)) {
    cJSON_Delete(cfg);
    return config_error(ctx, st, ms_alloc_failures() != failures ? oom : "not a JSON object");
  }
  const char *bad = NULL;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "query");
  if (!cJSON_IsString(v)) bad = "\"query\" must be a string";
  else if (!(st->query = dup_string(v))) bad = oom;
  v = cJSON_GetObjectItemCaseSensitive(cfg, "model");
  if (!bad && v && !cJSON_IsString(v)) bad = "\"model\" must be a string";
  if (!bad && !(st->model = v ? dup_string(v) : ms_strndup("", 0))) bad = oom;
  v = cJSON_GetObjectItemCaseSensitive(cfg, "endpoint");
  if (!bad && v && !cJSON_IsNull(v)) {
    if (!cJSON_IsString(v)) bad = "\"endpoint\" must be a string";
    /* cut: a message must still have room for what happened */
    else if (!(st->endpoint = ms_strndup(v->valuestring, cut_len(v->valuestring, 200)))) bad = oom;
  }
  v = cJSON_GetObjectItemCaseSensitive(cfg, "systemPrompt");
  if (!bad && v && !cJSON_IsNull(v)) {
    if (!cJSON_IsString(v)) bad = "\"systemPrompt\" must be a string";
    else if (!(st->system_prompt = dup_string(v))) bad = oom;
  }
  v = cJSON_GetObjectItemCaseSensitive(cfg, "maxSteps");
  st->max_steps = 10;
  if (!bad && v) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 100000) bad = "\"maxSteps\" must be a positive integer";
    else st->max_steps = (int)v->valuedouble;
  }
  v = cJSON_GetObjectItemCaseSensitive(cfg, "requestTimeoutMs");
  if (!bad && v && !cJSON_IsNull(v)) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 2147483647.0) bad = "\"requestTimeoutMs\" must be a positive integer";
    else st->request_timeout = (int32_t)v->valuedouble;
  }
  static const char *const arrays[] = {"disallowedTools", "own", "borrow", "history"};
  cJSON **dst[] = {&st->disallowed, &st->own, &st->borrow, &st->history};
  for (int i = 0; !bad && i < 4; i++) {
    cJSON *a = cJSON_DetachItemFromObjectCaseSensitive(cfg, arrays[i]);
    if (!a) a = cJSON_CreateArray();
    if (!cJSON_IsArray(a)) bad = "\"disallowedTools\", \"own\", \"borrow\" and \"history\" must be arrays";
    *dst[i] = a;
    if (!a) bad = oom;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
      /* session ids are int32: a double outside that range must not be cast */
      if (i == 2 ? !(cJSON_IsNumber(e) && e->valuedouble >= 1 && e->valuedouble <= 2147483647.0) : i == 3 ? !cJSON_IsObject(e) : !cJSON_IsString(e)) {
        bad = i == 2 ? "\"borrow\" holds session ids" : i == 3 ? "\"history\" holds message objects" : "tool and server names are strings";
        break;
      }
    }
  }
  cJSON_Delete(cfg);
  if (bad) return config_error(ctx, st, bad);
  size_t n = (size_t)cJSON_GetArraySize(st->own) + (size_t)cJSON_GetArraySize(st->borrow);
  st->sids = ms_malloc((n ? n : 1) * sizeof *st->sids);
  st->owned = ms_malloc(n ? n : 1);
  /* the longest name of a server it may cancel a call on */
  size_t name_len = 0;
  cJSON_ArrayForEach(v, st->own) if (strlen(v->valuestring) > name_len) name_len = strlen(v->valuestring);
  cJSON_ArrayForEach(v, st->borrow) {
    ms_session *s = ms__session_get(ctx, (int32_t)v->valuedouble);
    if (s && strlen(s->name) > name_len) name_len = strlen(s->name);
  }
  if (!st->sids || !st->owned || reserve_end(ctx, st, name_len)) return config_error(ctx, st, oom);
  if (ms__add_stream(ctx, st)) {
    unreserve_end(ctx, st);
    return config_error(ctx, st, oom);
  }
  st->id = ms__new_id(ctx);
  return st->id;
}

static int add_message(cJSON *messages, const char *role, const char *content) {
  cJSON *m = cJSON_CreateObject();
  if (!m || !cJSON_AddStringToObject(m, "role", role) ||
      !cJSON_AddStringToObject(m, "content", content) || !cJSON_AddItemToArray(messages, m)) {
    cJSON_Delete(m);
    return MS_ERR_NOMEM;
  }
  return 0;
}

/* First next(): record and open owned sessions, check borrowed ones. */
static void start(ms_ctx *ctx, ms_stream *st) {
  st->state = ST_SETUP;
  const cJSON *e;
  cJSON_ArrayForEach(e, st->borrow) {
    ms_session *s = ms__session_get(ctx, (int32_t)e->valuedouble);
    if (!s || ms__session_health(s) < 0) {
      ms_err er;
      ms_err_set(&er, MS_ERR_TRANSPORT_CLOSED,
                 "borrowed session %d is gone: its server exited or its owner closed it",
                 (int)e->valuedouble);
      fail(ctx, st, er.code, s && s->err.len ? s->err.msg : er.msg);
      return;
    }
    st->sids[st->nsids] = s->id;
    st->owned[st->nsids++] = 0;
    s->refs++;
  }
  cJSON_ArrayForEach(e, st->own) {
    ms_session *s;
    int rc = ms__session_create(ctx, e->valuestring, strlen(e->valuestring), MS_OWNER_STREAM,
                                st->id, &s);
    if (s) { /* recorded as ours before anything else can fail */
      st->sids[st->nsids] = s->id;
      st->owned[st->nsids++] = 1;
      s->refs++;
    }
    if (rc) {
      ms_err er;
      ms_err_set(&er, rc, "out of memory opening server '%s'", e->valuestring);
      fail(ctx, st, er.code, er.msg);
      return;
    }
  }
  st->messages = cJSON_CreateArray();
  int rc = st->messages ? 0 : MS_ERR_NOMEM;
  if (!rc && st->system_prompt) rc = add_message(st->messages, "system", st->system_prompt);
  cJSON_ArrayForEach(e, st->history) {
    cJSON *m = rc ? NULL : cJSON_Duplicate(e, 1);
    if (!m || !cJSON_AddItemToArray(st->messages, m)) {
      cJSON_Delete(m);
      rc = MS_ERR_NOMEM;
    }
  }
  if (!rc) rc = add_message(st->messages, "user", st->query);
  if (rc) fail(ctx, st, rc, "out of memory building the conversation");
}

static int in_list(const cJSON *arr, const char *a, const char *b) {
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    if (strcmp(e->valuestring, a) == 0 || (b && strcmp(e->valuestring, b) == 0)) return 1;
  }
  return 0;
}

/* The tools of every session, under the names the model sees (names.c:
 * unique by construction, each mapping back to one (server, tool)), minus
 * the disallowed ones. */
static int build_tools(ms_ctx *ctx, ms_stream *st) {
  size_t total = 0;
  for (size_t i = 0; i < st->nsids; i++)
    total += (size_t)cJSON_GetArraySize(ms__session_get(ctx, st->sids[i])->tools);
  size_t n = total ? total : 1;
  st->tools = ms_malloc(n * sizeof *st->tools);
  st->tools_json = cJSON_CreateArray();
  const char **servers = ms_malloc(n * sizeof *servers);
  const char **names = ms_malloc(n * sizeof *names);
  const cJSON **defs = ms_malloc(n * sizeof *defs);
  int32_t *sids = ms_malloc(n * sizeof *sids);
  char **mnames = ms_malloc(n * sizeof *mnames);
  int rc = st->tools && st->tools_json && servers && names && defs && sids && mnames ? 0 : MS_ERR_NOMEM;
  size_t k = 0;
  for (size_t i = 0; !rc && i < st->nsids; i++) {
    ms_session *s = ms__session_get(ctx, st->sids[i]);
    const cJSON *t;
    cJSON_ArrayForEach(t, s->tools) {
      servers[k] = s->name;
      names[k] = cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring;
      defs[k] = t;
      sids[k++] = s->id;
    }
  }
  if (!rc) rc = ms_model_names(servers, names, k, mnames);
  size_t used = 0; /* mnames[0..used) were taken over or freed */
  for (; !rc && used < k; used++) {
    char *mname = mnames[used];
    const char *name = names[used];
    const cJSON *t = defs[used];
    if (!mname || in_list(st->disallowed, name, mname)) {
      ms_free(mname);
      continue;
    }
    char *own_name = ms_strndup(name, strlen(name));
    if (!own_name) {
      rc = MS_ERR_NOMEM;
      break; /* mnames[used] is freed below */
    }
    st->tools[st->ntools++] = (ms_tool_ref){mname, sids[used], own_name};
    cJSON *fn = cJSON_CreateObject();
    cJSON *wrap = cJSON_CreateObject();
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(t, "description");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(t, "inputSchema");
    cJSON *params = cJSON_IsObject(schema) ? cJSON_Duplicate(schema, 1)
                                           : cJSON_Parse("{\"type\":\"object\",\"properties\":{}}");
    /* built whole before it joins the list: every step can fail */
    int ok = fn && wrap && params && cJSON_AddStringToObject(fn, "name", mname) &&
             (!cJSON_IsString(desc) || cJSON_AddStringToObject(fn, "description", desc->valuestring)) &&
             cJSON_AddItemToObject(fn, "parameters", params);
    if (ok) params = NULL; /* fn owns it */
    ok = ok && cJSON_AddStringToObject(wrap, "type", "function") &&
         cJSON_AddItemToObject(wrap, "function", fn);
    if (ok) fn = NULL; /* wrap owns it */
    if (!ok || !cJSON_AddItemToArray(st->tools_json, wrap)) {
      cJSON_Delete(fn);
      cJSON_Delete(wrap);
      cJSON_Delete(params);
      rc = MS_ERR_NOMEM;
      used++; /* this one belongs to st->tools already */
      break;
    }
  }
  if (rc)
    for (size_t i = used; i < k; i++) ms_free(mnames[i]);
  ms_free(servers);
  ms_free(names);
  ms_free(defs);
  ms_free(sids);
  ms_free(mnames);
  return rc;
}

/* ---- model ---------------------------------------------------------------- */

static int start_model(ms_ctx *ctx, ms_stream *st) {
  if (st->steps >= st->max_steps) {
    ms_err e;
    ms_err_set(&e, MS_ERR_LIMIT,
               "the agent reached maxSteps (%d) without a final answer; raise maxSteps or "
               "simplify the query", st->max_steps);
    fail(ctx, st, e.code, e.msg);
    return 0;
  }
  char *body = ms_llm_build_request(st->model, st->messages, st->tools_json);
  if (!body) return MS_ERR_NOMEM;
  ms_sse_free(&st->sse);
  ms_sse_init(&st->sse, ctx->max_message);
  ms_llm_acc_free(&st->acc);
  int rc = ms__fx(ctx, MS_FX_MODEL_REQUEST, st->id, st->model_seq + 1, 0, body, strlen(body));
  ms_free(body);
  if (rc) return rc;
  st->steps++;
  st->model_seq++;
  st->model_inflight = 1;
  st->state = ST_MODEL;
  return 0;
}

static cJSON *step_object(const char *type) {
  cJSON *o = cJSON_CreateObject();
  if (o && !cJSON_AddStringToObject(o, "type", type)) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static int push_text(ms_stream *st, const char *type, const uint8_t *text, size_t len) {
  cJSON *o = step_object(type);
  char *s = ms_strndup(len ? (const char *)text : "", len);
  if (!o || !s || !cJSON_AddStringToObject(o, "text", s)) {
    cJSON_Delete(o);
    o = NULL;
  }
  ms_free(s);
  return push_step(st, o);
}

/* The model's answer is complete: record it, then run tools or finish. */
static void finish_model(ms_ctx *ctx, ms_stream *st) {
  st->model_inflight = 0;
  cJSON *msg = ms_llm_acc_to_message(&st->acc);
  if (!msg || !cJSON_AddItemToArray(st->messages, msg)) {
    cJSON_Delete(msg);
    fail(ctx, st, MS_ERR_NOMEM, "out of memory recording the model's answer");
    return;
  }
  cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
  if (cJSON_GetArraySize(calls) > 0) {
    /* give every call an id the history can refer to */
    int n = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, calls) {
      cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
      n++;
      if (cJSON_IsString(id) && id->valuestring[0]) continue;
      char tmp[48];
      snprintf(tmp, sizeof tmp, "call_%d_%d_%d", (int)st->id, st->steps, n);
      cJSON *nid = cJSON_CreateString(tmp);
      if (!nid || !cJSON_ReplaceItemInObjectCaseSensitive(c, "id", nid)) {
        cJSON_Delete(nid);
        fail(ctx, st, MS_ERR_NOMEM, "out of memory recording the model's answer");
        return;
      }
    }
    st->calls = calls;
    st->ncalls_done = 0;
    st->state = ST_TOOLS;
  } else {
    if (push_text(st, "final", st->acc.content.data, st->acc.content.len)) {
      fail(ctx, st, MS_ERR_NOMEM, "out of memory recording the model's answer");
      return;
    }
    st->state = ST_FINAL;
  }
  ms_llm_acc_free(&st->acc);
}

typedef struct sse_user {
  ms_ctx *ctx;
  ms_stream *st;
  ms_err err; /* why an event stopped the feed */
} sse_user;

static int on_model_event(void *user, const ms_sse_event *ev) {
  sse_user *u = user;
  ms_buf delta = {0};
  int rc = ms_llm_acc_chunk(&u->st->acc, ev->data, ev->data_len, &delta, &u->err);
  if (!rc && delta.len) rc = push_text(u->st, "text", delta.data, delta.len);
  ms_buf_free(&delta);
  if (rc && !u->err.code) ms_err_set(&u->err, rc, "out of memory reading the model's response");
  return rc;
}

/* ---- tools ------------------------------------------------------------------ */

static const ms_tool_ref *find_tool(const ms_stream *st, const char *mname) {
  for (size_t i = 0; i < st->ntools; i++)
    if (strcmp(st->tools[i].model_name, mname) == 0) return &st->tools[i];
  return NULL;
}

static int add_tool_message(ms_stream *st, const char *call_id, const char *text) {
  cJSON *m = cJSON_CreateObject();
  if (!m || !cJSON_AddStringToObject(m, "role", "tool") ||
      !cJSON_AddStringToObject(m, "tool_call_id", call_id) ||
      !cJSON_AddStringToObject(m, "content", text) || !cJSON_AddItemToArray(st->messages, m)) {
    cJSON_Delete(m);
    return MS_ERR_NOMEM;
  }
  return 0;
}

/* The text a model sees for a CallToolResult. */
static char *result_text(const cJSON *content, const cJSON *structured, int is_error) {
  ms_buf b = {0};
  int rc = is_error ? ms_buf_append_str(&b, "Error: ") : 0;
  const cJSON *item;
  int first = 1;
  cJSON_ArrayForEach(item, content) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    if (!first) rc |= ms_buf_append_byte(&b, '\n');
    first = 0;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(item, "text");
    if (strcmp(t, "text") == 0 && cJSON_IsString(text)) {
      rc |= ms_buf_append_str(&b, text->valuestring);
    } else if (strcmp(t, "resource") == 0) {
      const cJSON *r = cJSON_GetObjectItemCaseSensitive(item, "resource");
      const cJSON *rt = cJSON_GetObjectItemCaseSensitive(r, "text");
      const cJSON *uri = cJSON_GetObjectItemCaseSensitive(r, "uri");
      if (cJSON_IsString(rt)) rc |= ms_buf_append_str(&b, rt->valuestring);
      else {
        rc |= ms_buf_append_str(&b, "[resource ");
        rc |= ms_buf_append_str(&b, cJSON_IsString(uri) ? uri->valuestring : "");
        rc |= ms_buf_append_byte(&b, ']');
      }
    } else {
      const cJSON *uri = cJSON_GetObjectItemCaseSensitive(item, "uri");
      const cJSON *mime = cJSON_GetObjectItemCaseSensitive(item, "mimeType");
      rc |= ms_buf_append_byte(&b, '[');
      rc |= ms_buf_append_str(&b, t[0] ? t : "content");
      if (cJSON_IsString(uri)) {
        rc |= ms_buf_append_byte(&b, ' ');
        rc |= ms_buf_append_str(&b, uri->valuestring);
      }
      if (cJSON_IsString(mime)) {
        rc |= ms_buf_append_byte(&b, ' ');
        rc |= ms_buf_append_str(&b, mime->valuestring);
      }
      rc |= ms_buf_append_byte(&b, ']');
    }
  }
  if (first && structured) {
    char *s = ms__json_print(structured);
    rc |= s ? ms_buf_append_str(&b, s) : MS_ERR_NOMEM;
    ms_free(s);
  }
  rc |= ms_buf_append_byte(&b, 0);
  if (rc) {
    ms_buf_free(&b);
    return NULL;
  }
  return (char *)b.data;
}

/* Queues the tool_result step and the tool message for the current call. */
static int record_result(ms_stream *st, const char *server, const char *name, const cJSON *content,
                         int is_error, const cJSON *structured) {
  cJSON *o = step_object("tool_result");
  cJSON *c = content ? cJSON_Duplicate(content, 1) : cJSON_CreateArray();
  cJSON *sc = structured ? cJSON_Duplicate(structured, 1) : cJSON_CreateNull();
  int ok = o && c && sc && cJSON_AddStringToObject(o, "id", st->call_id) &&
           (server ? cJSON_AddStringToObject(o, "server", server) : cJSON_AddNullToObject(o, "server")) &&
           cJSON_AddStringToObject(o, "name", name);
  if (ok && (ok = cJSON_AddItemToObject(o, "content", c) != 0)) c = NULL; /* o owns it */
  ok = ok && cJSON_AddBoolToObject(o, "isError", is_error) != NULL;
  if (ok && (ok = cJSON_AddItemToObject(o, "structuredContent", sc) != 0)) sc = NULL;
  cJSON_Delete(c);
  cJSON_Delete(sc);
  if (!ok) {
    cJSON_Delete(o);
    return MS_ERR_NOMEM;
  }
  char *text = result_text(content, structured, is_error);
  int rc = text ? add_tool_message(st, st->call_id, text) : MS_ERR_NOMEM;
  ms_free(text);
  return rc ? (cJSON_Delete(o), rc) : push_step(st, o);
}

static int record_error_result(ms_stream *st, const char *server, const char *name,
                               const char *msg) {
  cJSON *content = cJSON_CreateArray();
  cJSON *item = cJSON_CreateObject();
  int rc = MS_ERR_NOMEM;
  if (content && item && cJSON_AddStringToObject(item, "type", "text") &&
      cJSON_AddStringToObject(item, "text", msg) && cJSON_AddItemToArray(content, item)) {
    item = NULL;
    rc = record_result(st, server, name, content, 1, NULL);
  }
  cJSON_Delete(item);
  cJSON_Delete(content);
  return rc;
}

/* Starts the next tool call, or records why it cannot run. Returns 0 when
 * the stream should wait, 1 to go on, negative on failure. */
static int run_next_call(ms_ctx *ctx, ms_stream *st) {
  cJSON *c = cJSON_GetArrayItem(st->calls, st->ncalls_done);
  if (!c) {
    st->state = ST_MODEL_START;
    return 1;
  }
  const char *id = cJSON_GetObjectItemCaseSensitive(c, "id")->valuestring;
  const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
  const char *mname = cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring;
  const char *raw = cJSON_GetObjectItemCaseSensitive(fn, "arguments")->valuestring;
  ms_free(st->call_id);
  if (!(st->call_id = ms_strndup(id, strlen(id)))) return MS_ERR_NOMEM;
  /* strict, as every parse of the core: one JSON object, nothing after it
   * ("{...} garbage" or "{...}{...}" must not run the tool with the first) */
  long failures = ms_alloc_failures();
  size_t raw_len = strlen(raw), blank = 0;
  while (blank < raw_len && (raw[blank] == ' ' || raw[blank] == '\t' || raw[blank] == '\r' || raw[blank] == '\n')) blank++;
  cJSON *args = blank < raw_len ? ms__json_parse(raw, raw_len) : cJSON_CreateObject();
  if (!args && ms_alloc_failures() != failures) return MS_ERR_NOMEM; /* not the model's fault */
  const char *problem = NULL;
  if (!cJSON_IsObject(args)) {
    problem = "the arguments are not a JSON object; call the tool again with valid JSON arguments";
    cJSON_Delete(args);
    args = cJSON_CreateObject();
  }
  const ms_tool_ref *ref = find_tool(st, mname);
  ms_session *s = ref ? ms__session_get(ctx, ref->sid) : NULL;
  int disallowed = in_list(st->disallowed, mname, ref ? ref->name : NULL);
  if (disallowed) problem = "this tool is not allowed for this agent (disallowedTools)";
  else if (!ref) problem = "there is no tool of that name; use one of the tools offered";
  /* the tool_call step: a call that is not made names no server */
  const char *server = s && !problem ? s->name : NULL;
  cJSON *o = step_object("tool_call");
  int ok = o && args && cJSON_AddStringToObject(o, "id", id) &&
           (server ? cJSON_AddStringToObject(o, "server", server) : cJSON_AddNullToObject(o, "server")) &&
           cJSON_AddStringToObject(o, "name", ref && !disallowed ? ref->name : mname);
  cJSON *args_copy = ok ? cJSON_Duplicate(args, 1) : NULL;
  if (!args_copy || !cJSON_AddItemToObject(o, "arguments", args_copy)) ok = 0;
  int rc = ok ? push_step(st, o) : (cJSON_Delete(o), MS_ERR_NOMEM);
  if (!ok) cJSON_Delete(args_copy);
  if (!rc && problem) {
    rc = record_error_result(st, NULL, ref && !disallowed ? ref->name : mname, problem);
    st->ncalls_done++;
    cJSON_Delete(args);
    return rc ? rc : 1;
  }
  if (rc) {
    cJSON_Delete(args);
    return rc;
  }
  int64_t rpc = ms__session_call_tool(ctx, s, st->id, ref->name, args, st->request_timeout);
  cJSON_Delete(args);
  if (rpc < 0) {
    int code = (int)rpc;
    if (code == MS_ERR_NOMEM) return code;
    ms_err e;
    ms_err_set(&e, code, "cannot call tool '%s' on server '%s': %s", ref->name, s->name,
               s->err.len ? s->err.msg : code == MS_ERR_LIMIT ? "too many pending requests" : "session not ready");
    fail(ctx, st, e.code, e.msg);
    return 0;
  }
  st->call_started = 1;
  st->call_rpc = rpc;
  st->call_sid = s->id;
  st->call_ref = ref;
  return 0;
}

void ms__stream_tool_done(ms_ctx *ctx, int32_t st_id, int64_t rpc_id, const cJSON *result,
                          int code, const char *msg) {
  ms_stream *st = ms__stream_get(ctx, st_id);
  if (!st || !st->call_started || st->call_rpc != rpc_id) return;
  MS_ALLOC_SCOPE(st->acct);
  st->call_started = 0;
  ms_session *s = ms__session_get(ctx, st->call_sid);
  const ms_tool_ref *ref = st->call_ref;
  int rc;
  if (code < 0 && code != MS_ERR_MCP) { /* the server went away mid-call */
    ms_err e;
    ms_err_set(&e, code, "tool '%s' failed: %s", ref->name, msg);
    fail(ctx, st, e.code, e.msg);
    return;
  }
  if (code < 0) {
    rc = record_error_result(st, s->name, ref->name, msg);
  } else {
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(result, "content");
    const cJSON *is_error = cJSON_GetObjectItemCaseSensitive(result, "isError");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(result, "structuredContent");
    rc = record_result(st, s->name, ref->name, cJSON_IsArray(content) ? content : NULL,
                       cJSON_IsTrue(is_error), sc && !cJSON_IsNull(sc) ? sc : NULL);
  }
  if (rc) {
    ms_err e;
    ms_err_set(&e, rc, "out of memory recording the result of tool '%s' of server '%s'",
               ref->name, s->name);
    fail(ctx, st, e.code, e.msg);
    return;
  }
  st->ncalls_done++;
  wake(ctx, st);
}

void ms__stream_tool_progress(ms_ctx *ctx, int32_t st_id, int64_t rpc_id, const cJSON *params) {
  ms_stream *st = ms__stream_get(ctx, st_id);
  if (!st || !st->call_started || st->call_rpc != rpc_id) return;
  MS_ALLOC_SCOPE(st->acct);
  const cJSON *progress = cJSON_GetObjectItemCaseSensitive(params, "progress");
  const cJSON *total = cJSON_GetObjectItemCaseSensitive(params, "total");
  const cJSON *message = cJSON_GetObjectItemCaseSensitive(params, "message");
  cJSON *o = step_object("progress");
  int ok = o && cJSON_AddStringToObject(o, "id", st->call_id) &&
           cJSON_AddNumberToObject(o, "progress", cJSON_IsNumber(progress) ? progress->valuedouble : 0) &&
           (cJSON_IsNumber(total) ? cJSON_AddNumberToObject(o, "total", total->valuedouble) != NULL
                                  : cJSON_AddNullToObject(o, "total") != NULL) &&
           (cJSON_IsString(message) ? cJSON_AddStringToObject(o, "message", message->valuestring) != NULL
                                    : cJSON_AddNullToObject(o, "message") != NULL);
  if (!ok || push_step(st, o)) {
    if (!ok) cJSON_Delete(o);
    fail(ctx, st, MS_ERR_NOMEM, "out of memory recording the progress of a tool call");
    return;
  }
  wake(ctx, st);
}

void ms__streams_session_changed(ms_ctx *ctx, int32_t sid) {
  for (size_t i = 0; i < ctx->nstreams; i++) {
    ms_stream *st = ctx->streams[i];
    for (size_t j = 0; j < st->nsids; j++) {
      if (st->sids[j] != sid) continue;
      if (st->state == ST_CLOSING) check_closed(ctx, st);
      else wake(ctx, st);
      break;
    }
  }
}

/* ---- the generator protocol ---------------------------------------------------- */

/* Does what can be done without I/O. */
static void advance(ms_ctx *ctx, ms_stream *st) {
  for (;;) {
    int rc = 0;
    switch (st->state) {
      case ST_SETUP: {
        int ready = 1;
        for (size_t i = 0; i < st->nsids; i++) {
          ms_session *s = ms__session_get(ctx, st->sids[i]);
          int h = ms__session_health(s);
          if (h < 0) {
            ms_err er;
            ms_err_set(&er, h, "server '%s' closed while the stream was starting", s->name);
            fail(ctx, st, h, s->err.len ? s->err.msg : er.msg);
            return;
          }
          if (h == 0) {
            ready = 0;
            continue;
          }
          if ((rc = ms__session_want_tools(ctx, s))) break;
          if (!s->tools) ready = 0;
        }
        if (!rc && !ready) return;
        if (!rc) rc = build_tools(ctx, st);
        if (!rc) st->state = ST_MODEL_START;
        break;
      }
      case ST_MODEL_START:
        rc = start_model(ctx, st);
        if (!rc && st->state == ST_MODEL_START) return;
        break;
      case ST_TOOLS:
        if (st->call_started) return;
        rc = run_next_call(ctx, st);
        if (rc == 0) return;
        if (rc > 0) rc = 0;
        break;
      case ST_CLOSING:
        check_closed(ctx, st);
        return;
      default: /* NEW, MODEL (fed by the host), FINAL, ENDED */
        return;
    }
    if (rc) {
      fail(ctx, st, rc, st->state == ST_SETUP ? "out of memory listing the servers' tools"
                        : st->state == ST_TOOLS ? "out of memory calling a tool"
                                                : "out of memory building the model request");
      return;
    }
  }
}

/* Never refuses: a negative result of next() is the stream's end. */
static int32_t report(ms_ctx *ctx, ms_stream *st) {
  if (pop_step(st)) return MS_YIELD;
  if (st->state != ST_ENDED) return ctx->nfx ? MS_EFFECTS : MS_WAIT;
  if (!st->reported && st->err.code) {
    st->reported = 1;
    ms_free(st->held.json);
    st->held = (ms_step){NULL, 0};
    memcpy(st->errout, st->err.msg, st->err.len);
    st->errout_len = st->err.len;
    return st->err.code;
  }
  st->reported = 1;
  return MS_DONE;
}

static ms_stream *get_stream(ms_ctx *ctx, int32_t id, int32_t *rc) {
  ms_stream *st = ms__stream_get(ctx, id);
  if (!st) *rc = ctx ? ms__fail(ctx, MS_ERR_BAD_HANDLE, "no stream %d", (int)id) : MS_ERR_INVALID_ARGUMENT;
  return st;
}

MS_EXPORT int32_t ms_stream_next(ms_ctx *ctx, int32_t id) {
  int32_t rc = 0;
  ms_stream *st = get_stream(ctx, id, &rc);
  if (!st) return rc;
  MS_ALLOC_SCOPE(st->acct);
  st->wake_queued = 0;
  if (st->qhead < st->qlen) return report(ctx, st);
  if (st->state == ST_NEW) start(ctx, st);
  else if (st->state == ST_FINAL) begin_end(ctx, st, "completed");
  advance(ctx, st);
  st->wake_queued = 0; /* the caller is here: it needs no wake for what it sees now */
  return report(ctx, st);
}

MS_EXPORT int32_t ms_stream_return(ms_ctx *ctx, int32_t id, int32_t why) {
  int32_t rc = 0;
  ms_stream *st = get_stream(ctx, id, &rc);
  if (!st) return rc;
  MS_ALLOC_SCOPE(st->acct);
  static const char *const reasons[] = {"return", "throw", "abort", "agent-closed"};
  if (why < MS_END_RETURN || why > MS_END_AGENT_CLOSED)
    return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "unknown end reason %d", (int)why);
  clear_steps(st); /* the consumer is leaving: nothing more is yielded */
  if (st->state < ST_CLOSING && !st->err.code) {
    if (why == MS_END_ABORT)
      ms_err_set(&st->err, MS_ERR_ABORTED, "the stream was aborted by its signal");
    else if (why == MS_END_AGENT_CLOSED)
      ms_err_set(&st->err, MS_ERR_AGENT_CLOSED, "the agent was closed while the stream was running");
  }
  begin_end(ctx, st, reasons[why]);
  if (st->state == ST_ENDED) return MS_DONE;
  return ctx->nfx ? MS_EFFECTS : MS_WAIT;
}

MS_EXPORT const char *ms_stream_output_ptr(ms_ctx *ctx, int32_t id) {
  ms_stream *st = ms__stream_get(ctx, id);
  return st ? (st->held.json ? st->held.json : st->errout) : NULL;
}

MS_EXPORT uint32_t ms_stream_output_len(ms_ctx *ctx, int32_t id) {
  ms_stream *st = ms__stream_get(ctx, id);
  return st ? (uint32_t)(st->held.json ? st->held.len : st->errout_len) : 0;
}

static ms_stream *model_target(ms_ctx *ctx, int32_t id, int32_t seq, uint32_t len, int32_t *rc) {
  ms_stream *st = get_stream(ctx, id, rc);
  if (!st) return NULL;
  if (len > ctx->input.cap) {
    *rc = ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "feed longer than the input buffer");
    return NULL;
  }
  if (!st->model_inflight || seq != st->model_seq) return NULL; /* late: aborted or old */
  return st;
}

MS_EXPORT int32_t ms_stream_model_feed(ms_ctx *ctx, int32_t id, int32_t seq, uint32_t len) {
  int32_t rc = 0;
  ms_stream *st = model_target(ctx, id, seq, len, &rc);
  if (!st) return rc;
  MS_ALLOC_SCOPE(st->acct);
  sse_user u = {ctx, st, {0}};
  size_t before = st->qlen;
  int r = ms_sse_feed(&st->sse, ctx->input.data, len, on_model_event, &u);
  if (r) {
    if (!u.err.code && r == MS_ERR_LIMIT)
      ms_err_set(&u.err, r, "model stream: an event over the %zu-byte limit", ctx->max_message);
    else if (!u.err.code)
      ms_err_set(&u.err, r, "out of memory reading the model stream");
    model_fail(ctx, st, u.err.code, u.err.msg);
  } else if (st->qlen != before) {
    wake(ctx, st);
  }
  return 0;
}

MS_EXPORT int32_t ms_stream_model_end(ms_ctx *ctx, int32_t id, int32_t seq, int32_t status, uint32_t len) {
  int32_t rc = 0;
  ms_stream *st = model_target(ctx, id, seq, len, &rc);
  if (!st) return rc;
  MS_ALLOC_SCOPE(st->acct);
  st->model_inflight = 0;
  const char *body = (const char *)ctx->input.data;
  ms_err e = {0};
  if (status == 200 && len > ctx->max_message) { /* the host may pass only max + 1 bytes */
    ms_err_set(&e, MS_ERR_LIMIT, "the model's response is over the %zu-byte limit (limits.messageBytes)",
               ctx->max_message);
    fail(ctx, st, e.code, e.msg);
    return 0;
  }
  if (status < 0) { /* the host's own failure (timeout, limit, network): its code and message */
    int code = status == MS_ERR_TIMEOUT || status == MS_ERR_LIMIT || status == MS_ERR_NOMEM ||
                       status == MS_ERR_LLM_PROTOCOL
                   ? status
                   : MS_ERR_LLM_HTTP;
    ms_err_set(&e, code, "%.*s", (int)(len < MS_ERR_MSG_MAX ? len : MS_ERR_MSG_MAX), body);
    fail(ctx, st, e.code, e.msg);
    return 0;
  }
  if (status != 200) {
    ms_llm_http_error(&e, status, body, len);
    model_fail(ctx, st, e.code, e.msg);
    return 0;
  }
  if (len) {
    int r = ms_llm_acc_message(&st->acc, body, len, &e);
    if (!r && st->acc.content.len) r = push_text(st, "text", st->acc.content.data, st->acc.content.len);
    if (r) {
      if (!e.code) ms_err_set(&e, r, "out of memory reading the model's response");
      model_fail(ctx, st, e.code, e.msg);
      return 0;
    }
  } else if (!st->acc.finished) {
    /* a stream that stops without finish_reason or [DONE] was cut off: a
     * partial answer must not pass for a final one, nor half a tool call run */
    model_fail(ctx, st, MS_ERR_LLM_PROTOCOL,
               "the model's response stream ended before its finish_reason or [DONE] (connection cut?)");
    return 0;
  }
  finish_model(ctx, st);
  wake(ctx, st);
  return 0;
}

MS_EXPORT int32_t ms_stream_free(ms_ctx *ctx, int32_t id) {
  int32_t rc = 0;
  ms_stream *st = get_stream(ctx, id, &rc);
  if (!st) return rc;
  if (st->state != ST_ENDED)
    return ms__fail(ctx, MS_ERR_STATE, "stream %d has not ended: return() it first", (int)id);
  ms__remove_stream(ctx, st);
  unreserve_end(ctx, st);
  for (size_t i = 0; i < st->nsids; i++) {
    ms_session *s = ms__session_get(ctx, st->sids[i]);
    if (!s) continue;
    s->refs--;
    ms__session_collect(ctx, s);
  }
  ms__stream_free(st);
  return 0;
}

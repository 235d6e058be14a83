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
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "stream.h"

/* The table is sorted by id: a stream is appended when it is created, ids
 * only grow (ms__new_id), and removal keeps the order. Lookups are a binary
 * search: O(log n) for every export that names a stream. */
static size_t stream_index(const ms_ctx *ctx, int32_t id) { /* first index with id >= id */
  size_t lo = 0, hi = ctx->nstreams;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (ctx->streams[mid]->id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

ms_stream *ms__stream_get(ms_ctx *ctx, int32_t id) {
  if (!ctx || id <= 0) return NULL;
  size_t i = stream_index(ctx, id);
  return i < ctx->nstreams && ctx->streams[i]->id == id ? ctx->streams[i] : NULL;
}

/* Appends st; the caller gives it a new id at once (greater than any). */
int ms__add_stream(ms_ctx *ctx, ms_stream *st) {
  if (ms__ctx_grow((void **)&ctx->streams, &ctx->capstreams, ctx->nstreams, sizeof *ctx->streams))
    return MS_ERR_NOMEM;
  ctx->streams[ctx->nstreams++] = st;
  return 0;
}

void ms__remove_stream(ms_ctx *ctx, ms_stream *st) {
  size_t i = stream_index(ctx, st->id);
  if (i == ctx->nstreams || ctx->streams[i] != st) return;
  memmove(ctx->streams + i, ctx->streams + i + 1, (ctx->nstreams - i - 1) * sizeof *ctx->streams);
  ctx->nstreams--;
}

MS_EXPORT int32_t ms_ctx_streams_open(ms_ctx *ctx) {
  if (!ctx) return 0;
  int32_t n = 0;
  for (size_t i = 0; i < ctx->nstreams; i++) n += ctx->streams[i]->state != ST_ENDED;
  return n;
}

void ms__streams_free_all(ms_ctx *ctx) {
  for (size_t i = 0; i < ctx->nstreams; i++) ms__stream_free(ctx->streams[i]);
  ms_free(ctx->streams);
  ctx->streams = NULL;
  ctx->nstreams = ctx->capstreams = 0;
}

static void step_free(ms_step *s) {
  ms_free(s->json);
  ms_pieces_free(s->more);
  *s = (ms_step){NULL, 0, NULL};
}

static void clear_steps(ms_stream *st) {
  for (size_t i = st->qhead; i < st->qlen; i++) step_free(&st->q[i]);
  st->qhead = st->qlen = 0;
}

void ms__stream_free(ms_stream *st) {
  if (!st) return;
  clear_steps(st);
  ms_free(st->q);
  ms_catalog_unref(st->cat);
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
  ms_free(st->end_message);
  ms_free(st->err_msg);
  ms_sse_free(&st->sse);
  ms_llm_acc_free(&st->acc);
  step_free(&st->held);
  ms_account_release(st->acct);
  ms_free(st);
}

/* Reserves the effects of the stream's end: MODEL_ABORT, the stream-end
 * event, and one WAKE (reserved again each time the host takes it). The
 * cancel of a call (notifications/cancelled + request-cancel event) is
 * reserved only while a call is in flight (ms__st_reserve_cancel): a
 * suspended stream holds no room for it. */
int ms__st_reserve_end(ms_ctx *ctx, ms_stream *st) {
  size_t end_event = ms__event_bound(0, "stream-end", MS_REASON_MAX);
  if (ms__fx_reserve(ctx, 3, end_event)) return MS_ERR_NOMEM;
  st->rsv_abort = st->rsv_end = st->rsv_wake = 1;
  st->rsv_end_event = end_event;
  return 0;
}

int ms__st_reserve_cancel(ms_ctx *ctx, ms_stream *st, size_t name_len) {
  size_t cancel_event = ms__event_bound(name_len, "request-cancel", MS_REASON_MAX);
  if (st->rsv_cancel) return 0;
  if (ms__fx_reserve(ctx, 2, MS_CANCEL_BYTES + cancel_event)) return MS_ERR_NOMEM;
  st->rsv_cancel = 1;
  st->rsv_cancel_event = cancel_event;
  return 0;
}

void ms__st_unreserve_cancel(ms_ctx *ctx, ms_stream *st) {
  if (st->rsv_cancel) ms__fx_unreserve(ctx, 2, MS_CANCEL_BYTES + st->rsv_cancel_event);
  st->rsv_cancel = 0;
}

/* Gives back what the stream reserved and did not use. */
void ms__st_unreserve_end(ms_ctx *ctx, ms_stream *st) {
  ms__st_unreserve_cancel(ctx, st);
  size_t recs = (size_t)(st->rsv_abort + st->rsv_end + st->rsv_wake);
  ms__fx_unreserve(ctx, recs, st->rsv_end ? st->rsv_end_event : 0);
  st->rsv_abort = st->rsv_end = st->rsv_wake = 0;
}

void ms__st_wake(ms_ctx *ctx, ms_stream *st) {
  if (st->wake_queued) return;
  int rc = st->rsv_wake ? ms__fx_reserved(ctx, MS_FX_WAKE, st->id, 0, 0, NULL, 0, 0)
                        : ms__fx(ctx, MS_FX_WAKE, st->id, 0, 0, NULL, 0);
  if (rc == 0) st->wake_queued = 1;
  st->rsv_wake = 0;
}

/* The stream's reserved WAKE was handed to the host (effects.c calls it). */
static void wake_taken(ms_ctx *ctx, int32_t st_id) {
  ms_stream *st = ms__stream_get(ctx, st_id);
  /* the room of the WAKE just taken is free: it is the reserve again (taken
   * without allocating: the payloads being handed out must not move) */
  if (st && !st->rsv_wake && ms__fx_reserve_taken_rec(ctx)) st->rsv_wake = 1;
}

/* The stream-end event, into its reserved room; a thrown error's message, of
 * any length, when there is room for it (else the reserved short reason). */
static void end_event(ms_ctx *ctx, ms_stream *st, const char *reason) {
  if (st->end_message && ms__event(ctx, "stream-end", NULL, st->id, st->end_message) == 0) {
    if (st->rsv_end) ms__fx_unreserve(ctx, 1, st->rsv_end_event);
    st->rsv_end = 0;
    return;
  }
  if (st->rsv_end) ms__event_reserved(ctx, "stream-end", NULL, st->id, reason, st->rsv_end_event);
  else ms__event(ctx, "stream-end", NULL, st->id, reason);
  st->rsv_end = 0;
}

/* Queues a step (printed from obj, which is deleted). */
int ms__st_push_step(ms_stream *st, cJSON *obj) {
  char *json = obj ? ms__json_print(obj) : NULL;
  cJSON_Delete(obj);
  return ms__st_push_json(st, json, json ? strlen(json) : 0);
}

int ms__st_push_json(ms_stream *st, char *json, size_t len) { return ms__st_push_parts(st, json, len, NULL); }

int ms__st_push_parts(ms_stream *st, char *json, size_t len, ms_piece *more) {
  if (!json) {
    ms_pieces_free(more);
    return MS_ERR_NOMEM;
  }
  if (st->qhead && st->qhead == st->qlen) st->qhead = st->qlen = 0;
  if (st->qlen == st->qcap) {
    size_t cap = st->qcap ? st->qcap * 2 : 4;
    ms_step *q = ms_realloc(st->q, cap * sizeof *q);
    if (!q) {
      ms_free(json);
      ms_pieces_free(more);
      return MS_ERR_NOMEM;
    }
    st->q = q;
    st->qcap = cap;
  }
  st->q[st->qlen++] = (ms_step){json, len, more};
  return 0;
}

static int pop_step(ms_stream *st) {
  if (st->qhead == st->qlen) return 0;
  step_free(&st->held);
  st->held = st->q[st->qhead++];
  return 1;
}

static int is_owned_open(ms_ctx *ctx, ms_stream *st) {
  for (size_t i = 0; i < st->nsids; i++) {
    if (!st->owned[i]) continue;
    ms_session *s = ms__session_get(ctx, st->sids[i]);
    if (s && !ms__session_is_closed(s)) return 1;
  }
  return 0;
}

/* An ended stream keeps only what it still has to report (its queued steps,
 * the step handed out last, its error) and its session ids (given back by
 * ms_stream_free); everything else goes when it ends, whether or not anyone
 * comes back for the rest (docs/architecture.md §2, Memory). So does a stream
 * whose final step is queued (FINAL): it has nothing more to ask its model. */
void ms__st_release(ms_stream *st) {
  ms_catalog_unref(st->cat);
  st->cat = NULL;
  st->call_ref = NULL;
  cJSON *trees[] = {st->messages, st->disallowed, st->own, st->borrow, st->history};
  for (size_t i = 0; i < sizeof trees / sizeof *trees; i++) cJSON_Delete(trees[i]);
  st->messages = st->disallowed = st->own = st->borrow = st->history = NULL;
  st->calls = NULL; /* it was part of messages */
  char **strings[] = {&st->model, &st->endpoint, &st->query, &st->system_prompt, &st->call_id};
  for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
    ms_free(*strings[i]);
    *strings[i] = NULL;
  }
  ms_sse_free(&st->sse);
  ms_llm_acc_free(&st->acc);
  if (st->qhead == st->qlen) { /* nothing queued: the queue's room goes too */
    ms_free(st->q);
    st->q = NULL;
    st->qhead = st->qlen = st->qcap = 0;
  }
}

static void check_closed(ms_ctx *ctx, ms_stream *st) {
  if (st->state != ST_CLOSING || is_owned_open(ctx, st)) return;
  st->state = ST_ENDED;
  ms__st_release(st);
  end_event(ctx, st, st->end_reason);
  ms__st_wake(ctx, st);
}

/* The cleanup plan: from any state to CLOSING, each step at most once. */
static void begin_end(ms_ctx *ctx, ms_stream *st, const char *reason) {
  if (st->state >= ST_CLOSING) return;
  if (st->state == ST_NEW) { /* nothing was opened */
    st->state = ST_ENDED;
    ms__st_release(st);
    st->end_reason = reason;
    end_event(ctx, st, reason);
    return;
  }
  /* nothing below allocates: the effects were reserved (ms__st_reserve_end) */
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

/* Records the stream's error (the first one; code kept whatever happens, the
 * message when there is memory for it: a stream carries no error buffer
 * until it fails). */
static void set_error(ms_stream *st, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_error(ms_stream *st, int code, const char *fmt, ...) {
  ms_err e;
  va_list ap;
  va_start(ap, fmt);
  ms_err_vset(&e, code, fmt, ap);
  va_end(ap);
  MS_ALLOC_SCOPE(NULL); /* not the stream's budget: it may be what ran out */
  char *msg = ms_strndup(e.msg, e.len);
  ms_free(st->err_msg);
  st->err_code = code;
  st->err_msg = msg;
  st->err_len = msg ? e.len : 0;
}

/* The error's message, or a stand-in when it could not be kept. */
static const char *err_text(const ms_stream *st, uint32_t *len) {
  const char *t = st->err_msg ? st->err_msg
                  : st->err_code == MS_ERR_NOMEM ? "out of memory"
                                                  : "the stream failed (out of memory for its message)";
  *len = st->err_msg ? st->err_len : (uint32_t)strlen(t);
  return t;
}

void ms__st_fail(ms_ctx *ctx, ms_stream *st, int code, const char *msg) {
  if (!st->err_code) set_error(st, code, "%s", msg);
  if (st->err_code == MS_ERR_NOMEM && st->acct->exceeded) /* not the machine's memory: the budget */
    set_error(st, MS_ERR_LIMIT, "the stream needed more than its memory budget of %zu bytes "
              "(limits.streamMemoryBytes)", st->acct->limit);
  begin_end(ctx, st, "error");
  ms__st_wake(ctx, st);
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
      const ms_err *se = s ? ms__session_err(s) : NULL;
      ms__st_fail(ctx, st, er.code, se && se->len ? se->msg : er.msg);
      return;
    }
    st->sids[st->nsids] = ms__session_id(s);
    st->owned[st->nsids++] = 0;
    ms__session_ref(s);
  }
  cJSON_ArrayForEach(e, st->own) {
    ms_session *s;
    int rc = ms__session_create(ctx, e->valuestring, strlen(e->valuestring), MS_OWNER_STREAM,
                                st->id, &s);
    if (s) { /* recorded as ours before anything else can fail */
      st->sids[st->nsids] = ms__session_id(s);
      st->owned[st->nsids++] = 1;
      ms__session_ref(s);
    }
    if (rc) {
      ms_err er;
      ms_err_set(&er, rc, "out of memory opening server '%s'", e->valuestring);
      ms__st_fail(ctx, st, er.code, er.msg);
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
  /* what only this first step needed */
  cJSON *trees[] = {st->own, st->borrow, st->history};
  for (size_t i = 0; i < sizeof trees / sizeof *trees; i++) cJSON_Delete(trees[i]);
  st->own = st->borrow = st->history = NULL;
  ms_free(st->query);
  ms_free(st->system_prompt);
  st->query = st->system_prompt = NULL;
  if (rc) ms__st_fail(ctx, st, rc, "out of memory building the conversation");
}

/* Session sid changed (the session layer's one subscriber): the streams that
 * use it are woken, or see whether their cleanup is done. */
static void sessions_changed(ms_ctx *ctx, void *user, int32_t sid) {
  (void)user;
  for (size_t i = 0; i < ctx->nstreams; i++) {
    ms_stream *st = ctx->streams[i];
    for (size_t j = 0; j < st->nsids; j++) {
      if (st->sids[j] != sid) continue;
      if (st->state == ST_CLOSING) check_closed(ctx, st);
      else ms__st_wake(ctx, st);
      break;
    }
  }
}

void ms__streams_attach(ms_ctx *ctx) {
  ms__session_subscribe(ctx, sessions_changed, NULL);
  ms__fx_set_wake_hook(ctx, wake_taken);
}

/* ---- the generator protocol ---------------------------------------------------- */

/* A reference to the catalogue of the tools of every session the stream
 * uses, as they are listed now (catalog.c): shared with every stream of the
 * same sessions and disallowed list. */
static int build_catalog(ms_ctx *ctx, ms_stream *st) {
  ms_tool_source *src = ms_malloc((st->nsids ? st->nsids : 1) * sizeof *src);
  if (!src) return MS_ERR_NOMEM;
  for (size_t i = 0; i < st->nsids; i++) {
    const ms_session *s = ms__session_get(ctx, st->sids[i]);
    src[i] = (ms_tool_source){ms__session_name(s), st->sids[i], ms__session_tools_gen(s),
                              ms__session_tools(s)};
  }
  ms_catalog_unref(st->cat);
  st->cat = NULL;
  int rc = ms_catalog_get(&ctx->catalogs, src, st->nsids, st->disallowed, &st->cat);
  ms_free(src);
  return rc;
}

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
            const ms_err *se = ms__session_err(s);
            ms_err_set(&er, h, "server '%s' closed while the stream was starting", ms__session_name(s));
            ms__st_fail(ctx, st, h, se->len ? se->msg : er.msg);
            return;
          }
          if (h == 0) {
            ready = 0;
            continue;
          }
          if ((rc = ms__session_want_tools(ctx, s))) break;
          if (!ms__session_tools(s)) ready = 0;
        }
        if (!rc && !ready) return;
        if (!rc) rc = build_catalog(ctx, st);
        if (!rc) st->state = ST_MODEL_START;
        break;
      }
      case ST_MODEL_START:
        rc = ms__st_start_model(ctx, st);
        if (!rc && st->state == ST_MODEL_START) return;
        break;
      case ST_TOOLS:
        if (st->call_started) return;
        rc = ms__st_run_next_call(ctx, st);
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
      ms__st_fail(ctx, st, rc, st->state == ST_SETUP ? "out of memory listing the servers' tools"
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
  if (!st->reported && st->err_code) {
    st->reported = 1; /* the output is the error's message from now on */
    step_free(&st->held);
    return st->err_code;
  }
  st->reported = 1;
  return MS_DONE;
}

ms_stream *ms__st_get(ms_ctx *ctx, int32_t id, int32_t *rc) {
  ms_stream *st = ms__stream_get(ctx, id);
  if (!st) *rc = ctx ? ms__fail(ctx, MS_ERR_BAD_HANDLE, "no stream %d", (int)id) : MS_ERR_INVALID_ARGUMENT;
  return st;
}

MS_EXPORT int32_t ms_stream_next(ms_ctx *ctx, int32_t id) {
  int32_t rc = 0;
  ms_stream *st = ms__st_get(ctx, id, &rc);
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

/* return() and throw(): the consumer is leaving (or a signal or agent.close()
 * ends the stream). */
static int32_t end_early(ms_ctx *ctx, ms_stream *st, int32_t why) {
  static const char *const reasons[] = {"return", "throw", "abort", "agent-closed"};
  clear_steps(st); /* the consumer is leaving: nothing more is yielded */
  if (st->state < ST_CLOSING && !st->err_code) {
    if (why == MS_END_ABORT)
      set_error(st, MS_ERR_ABORTED, "the stream was aborted by its signal");
    else if (why == MS_END_AGENT_CLOSED)
      set_error(st, MS_ERR_AGENT_CLOSED, "the agent was closed while the stream was running");
  }
  begin_end(ctx, st, reasons[why]);
  if (st->state == ST_ENDED) return MS_DONE;
  return ctx->nfx ? MS_EFFECTS : MS_WAIT;
}

MS_EXPORT int32_t ms_stream_return(ms_ctx *ctx, int32_t id, int32_t why) {
  int32_t rc = 0;
  ms_stream *st = ms__st_get(ctx, id, &rc);
  if (!st) return rc;
  MS_ALLOC_SCOPE(st->acct);
  if (why < MS_END_RETURN || why > MS_END_AGENT_CLOSED)
    return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "unknown end reason %d", (int)why);
  return end_early(ctx, st, why);
}

MS_EXPORT int32_t ms_stream_throw(ms_ctx *ctx, int32_t id, uint32_t reason_len) {
  int32_t rc = 0;
  ms_stream *st = ms__st_get(ctx, id, &rc);
  if (!st) return rc;
  if (reason_len > ctx->input.cap)
    return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "reason longer than the input buffer");
  MS_ALLOC_SCOPE(st->acct);
  size_t n = reason_len < MS_THROW_REASON_MAX ? reason_len : MS_THROW_REASON_MAX;
  const uint8_t *p = ctx->input.data;
  if (n < reason_len) /* cut on a character boundary */
    while (n > 0 && (p[n] & 0xC0) == 0x80) n--;
  /* best effort: without the memory for it, the event says "throw" */
  if (n && st->state < ST_CLOSING && !st->end_message) st->end_message = ms_strndup((const char *)p, n);
  return end_early(ctx, st, MS_END_THROW);
}

/* The step handed out last; once the end's error was reported, its message;
 * else empty. */
static const char *output(const ms_stream *st, uint32_t *len) {
  if (st->held.json) {
    *len = (uint32_t)st->held.len;
    return st->held.json;
  }
  if (st->reported && st->err_code) return err_text(st, len);
  *len = 0;
  return "";
}

MS_EXPORT const char *ms_stream_output_ptr(ms_ctx *ctx, int32_t id) {
  ms_stream *st = ms__stream_get(ctx, id);
  uint32_t len;
  return st ? output(st, &len) : NULL;
}

MS_EXPORT uint32_t ms_stream_output_len(ms_ctx *ctx, int32_t id) {
  ms_stream *st = ms__stream_get(ctx, id);
  uint32_t len = 0;
  if (st) output(st, &len);
  return len;
}

MS_EXPORT int32_t ms_stream_output_next(ms_ctx *ctx, int32_t id) {
  int32_t rc = 0;
  ms_stream *st = ms__st_get(ctx, id, &rc);
  if (!st) return rc;
  ms_piece *p = st->held.more;
  if (!p) return 0;
  ms_free(st->held.json); /* the part read: gone now */
  st->held = (ms_step){(char *)p->data, p->len, p->next};
  ms_free(p);
  return 1;
}

MS_EXPORT int32_t ms_stream_end_error(ms_ctx *ctx, int32_t id) {
  int32_t rc = 0;
  ms_stream *st = ms__st_get(ctx, id, &rc);
  if (!st) return rc;
  if (st->state != ST_ENDED || st->reported || !st->err_code) return 0;
  uint32_t len;
  const char *msg = err_text(st, &len);
  return ms__fail(ctx, st->err_code, "%.*s", (int)len, msg);
}

MS_EXPORT int32_t ms_stream_free(ms_ctx *ctx, int32_t id) {
  int32_t rc = 0;
  ms_stream *st = ms__st_get(ctx, id, &rc);
  if (!st) return rc;
  if (st->state != ST_ENDED)
    return ms__fail(ctx, MS_ERR_STATE, "stream %d has not ended: return() it first", (int)id);
  ms__remove_stream(ctx, st);
  ms__st_unreserve_end(ctx, st);
  for (size_t i = 0; i < st->nsids; i++) {
    ms_session *s = ms__session_get(ctx, st->sids[i]);
    if (s) ms__session_unref(ctx, s);
  }
  ms__stream_free(st);
  return 0;
}

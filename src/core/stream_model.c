/* stream_model.c — a stream's model turns: the request, the streamed
 * deltas, the answer. */
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "stream.h"

/* Fails the stream with an error of the model path, naming the endpoint:
 * "<endpoint>: <what>" (what comes from llm.c or the host). */
void ms__st_model_fail(ms_ctx *ctx, ms_stream *st, int code, const char *what) {
  ms_err e;
  const char *ep = st->endpoint ? st->endpoint : NULL;
  if (ep && !strstr(what, ep)) ms_err_set(&e, code, "%s: %s", ep, what);
  else if (ep || !st->model || st->model[0] == 0) ms_err_set(&e, code, "%s", what);
  else ms_err_set(&e, code, "model '%s': %s", st->model, what);
  ms__st_fail(ctx, st, e.code, e.msg);
}

int ms__st_start_model(ms_ctx *ctx, ms_stream *st) {
  if (st->steps >= st->max_steps) {
    ms_err e;
    ms_err_set(&e, MS_ERR_LIMIT,
               "the agent reached maxSteps (%d) without a final answer; raise maxSteps or "
               "simplify the query", st->max_steps);
    ms__st_fail(ctx, st, e.code, e.msg);
    return 0;
  }
  size_t len = 0;
  /* with tools, only the head: the host reads the tools and the tail a part at
   * a time (ms_stream_model_body), so that the request never exists whole in
   * wasm memory beside the servers' lists it is written from */
  int parts = st->cat && st->cat->n;
  char *body = ms_llm_build_request(st->model, st->messages, parts ? st->cat->text_len : 0, NULL, st->cat, &len);
  if (!body) return MS_ERR_NOMEM;
  ms_sse_free(&st->sse);
  ms_sse_init(&st->sse, ctx->max_message);
  ms_llm_acc_free(&st->acc);
  /* the body is the effect's payload as it is (not copied into the queue) */
  int rc = ms__fx_adopt(ctx, MS_FX_MODEL_REQUEST, st->id, st->model_seq + 1, parts, body, len);
  if (rc) return rc;
  st->body_left = parts;
  st->body_next = 0;
  st->steps++;
  st->model_seq++;
  st->model_inflight = 1;
  st->state = ST_MODEL;
  return 0;
}

/* Queues a step printed straight from the text, not through a cJSON tree (a
 * tree and its print would hold the text three more times): `head` is the
 * JSON up to the text, `tail` after it (both plain ASCII). */
static int push_text_step(ms_stream *st, const char *head, const uint8_t *text, size_t len, const char *tail) {
  ms_buf b = {0};
  size_t hl = strlen(head), tl = strlen(tail);
  /* room for the text and a few escapes; more is grown when needed */
  int rc = ms_buf_reserve(&b, hl + len + len / 16 + tl + 8);
  if (!rc) rc = ms_buf_append(&b, head, hl);
  if (!rc) rc = ms__json_append_text(&b, len ? (const char *)text : "", len);
  if (!rc) rc = ms_buf_append(&b, tail, tl);
  if (!rc) rc = ms_buf_append_byte(&b, 0);
  if (rc) {
    ms_buf_free(&b);
    return rc;
  }
  return ms__st_push_json(st, (char *)b.data, b.len - 1);
}

int ms__st_push_text(ms_stream *st, const char *type, const uint8_t *text, size_t len) {
  char head[64];
  snprintf(head, sizeof head, "{\"type\":\"%s\",\"text\":", type);
  return push_text_step(st, head, text, len, "}");
}

/* The final step: {type:"final", text, reason, usage}. `reason` is the last
 * turn's finish_reason as sent ("stop" when it gave none); `usage` the
 * stream's token usage summed over its model turns, or null when the
 * endpoint reported none. */
static int push_final(ms_stream *st) {
  /* what follows the text is small: printed by cJSON as every other step */
  cJSON *o = cJSON_CreateObject();
  int ok = o && cJSON_AddStringToObject(o, "reason", st->acc.finish[0] ? st->acc.finish : "stop");
  if (ok && st->has_usage) {
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    ok = u && cJSON_AddNumberToObject(u, "promptTokens", st->usage[0]) &&
         cJSON_AddNumberToObject(u, "completionTokens", st->usage[1]) &&
         cJSON_AddNumberToObject(u, "totalTokens", st->usage[2]);
  } else if (ok) {
    ok = cJSON_AddNullToObject(o, "usage") != NULL;
  }
  char *rest = ok ? ms__json_print(o) : NULL; /* {"reason":...,"usage":...} */
  cJSON_Delete(o);
  if (!rest) return MS_ERR_NOMEM;
  rest[0] = ','; /* spliced after the text: ,"reason":...} */
  static const char head[] = "{\"type\":\"final\",\"text\":";
  ms_buf *text = &st->acc.content;
  int rc;
  if (!st->acc.pieces) {
    /* the answer becomes the step's JSON where it was accumulated (an answer of
     * 100 MB is not copied again); the step takes the buffer */
    rc = ms__json_wrap_text(text, head, rest);
    ms_free(rest);
    if (rc) return rc;
    char *json = (char *)text->data;
    size_t len = text->len;
    *text = (ms_buf){0};
    return ms__st_push_json(st, json, len);
  }
  /* a long answer, held in pieces: the step comes in parts (the head, then
   * each piece escaped where it is, the last one with the quote and the
   * rest), never joined into one block */
  static const char opening[] = "{\"type\":\"final\",\"text\":\"";
  char *json = ms_strndup(opening, sizeof opening - 1);
  ms_piece *lastp = ms_malloc(sizeof *lastp);
  ms_buf tail = {0};
  rc = json && lastp ? 0 : MS_ERR_NOMEM;
  if (!rc) rc = ms_buf_append_byte(&tail, '"');
  if (!rc) rc = ms_buf_append_str(&tail, rest);
  if (!rc) rc = ms_buf_append_byte(&tail, 0);
  ms_free(rest);
  for (ms_piece *p = st->acc.pieces; p && !rc; p = p->next) {
    ms_buf b = {p->data, p->len, p->cap};
    rc = ms__json_escape_in_place(&b, "", "");
    *p = (ms_piece){p->next, b.data, b.len, b.cap};
  }
  if (!rc) rc = ms__json_escape_in_place(text, "", (const char *)tail.data);
  ms_buf_free(&tail);
  if (rc) {
    ms_free(json);
    ms_free(lastp);
    return rc; /* (the pieces stay with acc, which frees them) */
  }
  /* the content's block becomes the last part */
  *lastp = (ms_piece){NULL, text->data, text->len, text->cap};
  *text = (ms_buf){0};
  st->acc.last->next = lastp;
  ms_piece *more = st->acc.pieces;
  st->acc.pieces = st->acc.last = NULL;
  st->acc.pieces_len = 0;
  return ms__st_push_parts(st, json, sizeof opening - 1, more);
}

/* The number of tool calls the model asked for (a call without a name is dropped). */
static size_t named_calls(const ms_llm_acc *acc) {
  size_t n = 0;
  for (size_t i = 0; i < acc->ncalls; i++) n += acc->calls[i].name.len > 0;
  return n;
}

/* The model's answer is complete: record it, then run tools or finish. */
static void finish_model(ms_ctx *ctx, ms_stream *st) {
  st->model_inflight = 0;
  if (st->acc.has_usage) {
    st->has_usage = 1;
    for (int i = 0; i < 3; i++) st->usage[i] += st->acc.usage[i];
  }
  if (!named_calls(&st->acc)) {
    /* the final answer: the stream ends, nothing reads its history any more,
     * so the answer goes into the final step only (not also into messages) */
    int rc = push_final(st);
    ms_llm_acc_free(&st->acc);
    if (rc) {
      ms__st_fail(ctx, st, MS_ERR_NOMEM, "out of memory recording the model's answer");
      return;
    }
    st->state = ST_FINAL;
    /* nothing more to ask the model: the conversation, the catalogue and
     * the config go now, not when the consumer comes back for the end */
    ms__st_release(st);
    return;
  }
  cJSON *msg = ms_llm_acc_to_message(&st->acc);
  if (!msg || !cJSON_AddItemToArray(st->messages, msg)) {
    cJSON_Delete(msg);
    ms__st_fail(ctx, st, MS_ERR_NOMEM, "out of memory recording the model's answer");
    return;
  }
  cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
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
      ms__st_fail(ctx, st, MS_ERR_NOMEM, "out of memory recording the model's answer");
      return;
    }
  }
  st->calls = calls;
  st->ncalls_done = 0;
  st->state = ST_TOOLS;
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
  if (!rc && delta.len) rc = ms__st_push_text(u->st, "text", delta.data, delta.len);
  ms_buf_free(&delta);
  if (rc && !u->err.code) ms_err_set(&u->err, rc, "out of memory reading the model's response");
  return rc;
}

/* The parts of a model request body after its head, at most this many bytes
 * each (one tool may make a part longer). */
#define MS_BODY_PART ((size_t)1 << 20)

MS_EXPORT int32_t ms_stream_model_body(ms_ctx *ctx, int32_t id, int32_t seq) {
  int32_t rc = 0;
  ms_stream *st = ms__st_get(ctx, id, &rc);
  if (!st) return rc;
  if (!st->model_inflight || seq != st->model_seq || !st->body_left || !st->cat)
    return ms__fail(ctx, MS_ERR_STATE,
                    "stream %d: no more of model request %d to read (read to its end, or the request ended)",
                    (int)id, (int)seq);
  MS_ALLOC_SCOPE(NULL); /* the context's buffer, reused part after part */
  ms_buf *b = &ctx->body;
  b->len = 0;
  if (st->body_next == SIZE_MAX) { /* all read: the buffer goes */
    st->body_left = 0;
    ms_buf_free(b);
    return 0;
  }
  /* (the buffer grows by doubling to what a part takes: a small body takes
   * little; the tail, after the last part, exactly) */
  int r = ms_catalog_write_some(st->cat, &st->body_next, b, MS_BODY_PART);
  if (!r && st->body_next == st->cat->n) {
    const char *tail = ms_llm_request_tail();
    r = ms_buf_reserve_exact(b, strlen(tail));
    if (!r) r = ms_buf_append_str(b, tail);
    st->body_next = SIZE_MAX;
  }
  if (r) { /* the body cannot be read whole: nothing more of it (the host fails the request) */
    st->body_left = 0;
    ms_buf_free(b);
    return ms__fail(ctx, MS_ERR_NOMEM, "out of memory writing the model request");
  }
  return (int32_t)b->len;
}

MS_EXPORT const char *ms_ctx_body_ptr(ms_ctx *ctx) { return ctx ? (const char *)ctx->body.data : NULL; }

static ms_stream *model_target(ms_ctx *ctx, int32_t id, int32_t seq, uint32_t len, int32_t *rc) {
  ms_stream *st = ms__st_get(ctx, id, rc);
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
    ms__st_model_fail(ctx, st, u.err.code, u.err.msg);
  } else if (st->qlen != before) {
    ms__st_wake(ctx, st);
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
    ms__st_fail(ctx, st, e.code, e.msg);
    return 0;
  }
  if (status < 0) { /* the host's own failure (timeout, limit, network): its code and message */
    int code = status == MS_ERR_TIMEOUT || status == MS_ERR_LIMIT || status == MS_ERR_NOMEM ||
                       status == MS_ERR_LLM_PROTOCOL
                   ? status
                   : MS_ERR_LLM_HTTP;
    ms_err_set(&e, code, "%.*s", (int)(len < MS_ERR_MSG_MAX ? len : MS_ERR_MSG_MAX), body);
    ms__st_fail(ctx, st, e.code, e.msg);
    return 0;
  }
  if (status != 200) {
    ms_llm_http_error(&e, status, body, len);
    ms__st_model_fail(ctx, st, e.code, e.msg);
    return 0;
  }
  if (len) {
    int r = ms_llm_acc_message(&st->acc, body, len, &e);
    if (!r) r = ms_llm_acc_flatten(&st->acc); /* (a whole response: its text step is one string) */
    if (!r && st->acc.content.len) r = ms__st_push_text(st, "text", st->acc.content.data, st->acc.content.len);
    if (r) {
      if (!e.code) ms_err_set(&e, r, "out of memory reading the model's response");
      ms__st_model_fail(ctx, st, e.code, e.msg);
      return 0;
    }
  } else if (!st->acc.finished) {
    /* a stream that stops without finish_reason or [DONE] was cut off: a
     * partial answer must not pass for a final one, nor half a tool call run */
    ms__st_model_fail(ctx, st, MS_ERR_LLM_PROTOCOL,
               "the model's response stream ended before its finish_reason or [DONE] (connection cut?)");
    return 0;
  }
  finish_model(ctx, st);
  ms__st_wake(ctx, st);
  return 0;
}


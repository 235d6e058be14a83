/* stream_config.c — a stream's JSON config: parsed and checked into a new
 * stream (ms_stream_new); the sessions it uses, in its config or handed over
 * once while it is NEW (ms_stream_sessions). */
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "stream.h"

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

/* Detaches obj's "own" (server names) or "borrow" (session ids) array into
 * *dst: NULL when absent or empty. NULL, or why it is refused (*dst NULL). */
static const char *take_sessions(cJSON *obj, int borrow, cJSON **dst) {
  cJSON *a = cJSON_DetachItemFromObjectCaseSensitive(obj, borrow ? "borrow" : "own");
  *dst = NULL;
  if (a && !cJSON_IsArray(a)) {
    cJSON_Delete(a);
    return "\"own\" and \"borrow\" must be arrays";
  }
  const cJSON *e;
  cJSON_ArrayForEach(e, a) {
    /* session ids are int32: a double outside that range must not be cast */
    if (borrow ? !(cJSON_IsNumber(e) && e->valuedouble >= 1 && e->valuedouble <= 2147483647.0) : !cJSON_IsString(e)) {
      cJSON_Delete(a);
      return borrow ? "\"borrow\" holds session ids" : "server names are strings";
    }
  }
  if (a && !a->child) {
    cJSON_Delete(a);
    a = NULL;
  }
  *dst = a;
  return NULL;
}

MS_EXPORT int32_t ms_stream_sessions(ms_ctx *ctx, int32_t id, uint32_t len) {
  int32_t rc = 0;
  ms_stream *st = ms__st_get(ctx, id, &rc);
  if (!st) return rc;
  if (len > ctx->input.cap) return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "sessions longer than the input");
  if (st->state != ST_NEW)
    return ms__fail(ctx, MS_ERR_STATE, "stream %d %s: its sessions are handed over before its first next()",
                    (int)id, st->state == ST_ENDED ? "has ended" : "has started");
  if (st->sessions_given)
    return ms__fail(ctx, MS_ERR_STATE, "stream %d has its sessions already: they are handed over once", (int)id);
  MS_ALLOC_SCOPE(st->acct);
  long failures = ms_alloc_failures();
  cJSON *obj = ms__json_parse((const char *)ctx->input.data, len);
  if (!cJSON_IsObject(obj)) {
    cJSON_Delete(obj);
    return ms_alloc_failures() != failures ? ms__fail(ctx, MS_ERR_NOMEM, "out of memory reading a stream's sessions")
                                           : ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "stream sessions: not a JSON object");
  }
  cJSON *own = NULL, *borrow = NULL;
  const char *bad = take_sessions(obj, 0, &own);
  if (!bad) bad = take_sessions(obj, 1, &borrow);
  cJSON_Delete(obj);
  size_t n = (size_t)cJSON_GetArraySize(own) + (size_t)cJSON_GetArraySize(borrow);
  int32_t *sids = bad ? NULL : ms_malloc((n ? n : 1) * sizeof *sids);
  uint8_t *owned = bad ? NULL : ms_malloc(n ? n : 1);
  if (bad || !sids || !owned) {
    cJSON_Delete(own);
    cJSON_Delete(borrow);
    ms_free(sids);
    ms_free(owned);
    return bad ? ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "stream sessions: %s", bad)
               : ms__fail(ctx, MS_ERR_NOMEM, "out of memory taking a stream's sessions");
  }
  ms_free(st->sids);
  ms_free(st->owned);
  cJSON_Delete(st->own);
  cJSON_Delete(st->borrow);
  st->sids = sids;
  st->owned = owned;
  st->own = own;
  st->borrow = borrow;
  st->sessions_given = 1;
  return 0;
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
  /* sessions in the config count as handed over (else ms_stream_sessions hands them) */
  int given = cJSON_HasObjectItem(cfg, "own") || cJSON_HasObjectItem(cfg, "borrow");
  static const char *const arrays[] = {"disallowedTools", "own", "borrow", "history"};
  cJSON **dst[] = {&st->disallowed, &st->own, &st->borrow, &st->history};
  for (int i = 0; !bad && i < 4; i++) {
    /* NULL when absent or empty (an empty array, kept by every suspended
     * stream, would be 4 allocations for nothing) */
    cJSON *a = cJSON_DetachItemFromObjectCaseSensitive(cfg, arrays[i]);
    if (a && !cJSON_IsArray(a)) bad = "\"disallowedTools\", \"own\", \"borrow\" and \"history\" must be arrays";
    if (!bad && a && !a->child) {
      cJSON_Delete(a);
      a = NULL;
    }
    *dst[i] = a;
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
  if (!st->sids || !st->owned || ms__st_reserve_end(ctx, st)) return config_error(ctx, st, oom);
  if (ms__add_stream(ctx, st)) {
    ms__st_unreserve_end(ctx, st);
    return config_error(ctx, st, oom);
  }
  st->sessions_given = given;
  /* the last entry, given the greatest id: the table stays sorted by id */
  st->id = ms__new_id(ctx);
  return st->id;
}

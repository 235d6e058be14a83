/* ctx.c — the context: object tables, the effect queue, the input buffer
 * and the exported context functions. */
#include <stdio.h>
#include <string.h>

#include "core.h"

MS_EXPORT ms_ctx *ms_ctx_new(void) {
  ms_alloc_init();
  ms_ctx *ctx = ms_malloc(sizeof *ctx);
  if (!ctx) return NULL;
  memset(ctx, 0, sizeof *ctx);
  ctx->next_id = 1;
  ctx->max_message = 16u << 20;
  ctx->max_pending = 1024;
  ctx->timeout_ms = 60000;
  ctx->max_total_ms = 600000;
  ctx->max_memory = 256u << 20;
  return ctx;
}

MS_EXPORT void ms_ctx_free(ms_ctx *ctx) {
  if (!ctx) return;
  for (size_t i = 0; i < ctx->nstreams; i++) ms__stream_free(ctx->streams[i]);
  for (size_t i = 0; i < ctx->nsessions; i++) ms__session_free(ctx->sessions[i]);
  ms_free(ctx->streams);
  ms_free(ctx->sessions);
  ms_free(ctx->owner_waits);
  ms_free(ctx->fx);
  ms_free(ctx->out);
  ms_buf_free(&ctx->fx_payload);
  ms_buf_free(&ctx->out_payload);
  ms_buf_free(&ctx->input);
  ms_free(ctx);
}

/* The context's own buffers and tables are charged to no stream or session
 * (MS_ALLOC_SCOPE(NULL)): they outlive them all, and a stream at its budget
 * must still be able to queue the effects of its cleanup. */

MS_EXPORT uint8_t *ms_ctx_input(ms_ctx *ctx, uint32_t len) {
  if (!ctx) return NULL;
  MS_ALLOC_SCOPE(NULL);
  ms_buf_reset(&ctx->input);
  if (ms_buf_reserve(&ctx->input, len ? len : 1)) return NULL;
  return ctx->input.data;
}

static int grow(void **arr, size_t *cap, size_t n, size_t size) {
  if (n < *cap) return 0;
  MS_ALLOC_SCOPE(NULL);
  size_t c = *cap ? *cap * 2 : 8;
  void *p = ms_realloc(*arr, c * size);
  if (!p) return MS_ERR_NOMEM;
  *arr = p;
  *cap = c;
  return 0;
}

int ms__add_session(ms_ctx *ctx, ms_session *s) {
  if (grow((void **)&ctx->sessions, &ctx->capsessions, ctx->nsessions, sizeof *ctx->sessions))
    return MS_ERR_NOMEM;
  ctx->sessions[ctx->nsessions++] = s;
  return 0;
}

int ms__add_stream(ms_ctx *ctx, ms_stream *st) {
  if (grow((void **)&ctx->streams, &ctx->capstreams, ctx->nstreams, sizeof *ctx->streams))
    return MS_ERR_NOMEM;
  ctx->streams[ctx->nstreams++] = st;
  return 0;
}

void ms__remove_stream(ms_ctx *ctx, ms_stream *st) {
  for (size_t i = 0; i < ctx->nstreams; i++) {
    if (ctx->streams[i] == st) {
      memmove(ctx->streams + i, ctx->streams + i + 1, (ctx->nstreams - i - 1) * sizeof *ctx->streams);
      ctx->nstreams--;
      return;
    }
  }
}

ms_session *ms__session_get(ms_ctx *ctx, int32_t id) {
  if (!ctx) return NULL;
  for (size_t i = 0; i < ctx->nsessions; i++)
    if (ctx->sessions[i]->id == id) return ctx->sessions[i];
  return NULL;
}

MS_EXPORT int32_t ms_ctx_sessions_open(ms_ctx *ctx) {
  if (!ctx) return 0;
  int32_t n = 0;
  for (size_t i = 0; i < ctx->nsessions; i++) n += ctx->sessions[i]->state != MS_SESS_CLOSED;
  return n;
}

MS_EXPORT int32_t ms_ctx_own_allocations(ms_ctx *ctx) {
  if (!ctx) return 0;
  const void *mine[] = {ctx->input.data, ctx->fx, ctx->fx_payload.data, ctx->out,
                        ctx->out_payload.data, ctx->sessions, ctx->streams, ctx->owner_waits};
  int32_t n = 1; /* the context itself */
  for (size_t i = 0; i < sizeof mine / sizeof *mine; i++) n += mine[i] != NULL;
  return n;
}

MS_EXPORT int32_t ms_ctx_streams_open(ms_ctx *ctx) { return ctx ? (int32_t)ctx->nstreams : 0; }

MS_EXPORT int32_t ms_ctx_set_limit(ms_ctx *ctx, int32_t which, int32_t value) {
  if (!ctx || value <= 0) return MS_ERR_INVALID_ARGUMENT;
  switch (which) {
    case MS_LIMIT_MESSAGE_BYTES: ctx->max_message = (size_t)value; return 0;
    case MS_LIMIT_PENDING_REQUESTS: ctx->max_pending = (size_t)value; return 0;
    case MS_LIMIT_TIMEOUT_MS: ctx->timeout_ms = value; return 0;
    case MS_LIMIT_MAX_TOTAL_TIMEOUT_MS: ctx->max_total_ms = value; return 0;
    case MS_LIMIT_STREAM_MEMORY_BYTES: ctx->max_memory = (size_t)value; return 0;
    default: return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "unknown limit %d", (int)which);
  }
}

/* ---- time ------------------------------------------------------------------ */

MS_EXPORT void ms_ctx_set_now(ms_ctx *ctx, double now_ms) {
  if (ctx && now_ms > ctx->now) ctx->now = now_ms;
}

MS_EXPORT int32_t ms_ctx_tick(ms_ctx *ctx, double now_ms) {
  if (!ctx) return MS_ERR_INVALID_ARGUMENT;
  ms_ctx_set_now(ctx, now_ms);
  int32_t n = 0;
  /* expiring may close sessions but never frees one (only the host's
   * ms_session_closed and ms_stream_free do), so the table stays put */
  for (size_t i = 0; i < ctx->nsessions; i++) {
    MS_ALLOC_SCOPE(ctx->sessions[i]->acct);
    n += ms__session_expire(ctx, ctx->sessions[i]);
  }
  return n;
}

MS_EXPORT double ms_ctx_next_deadline(ms_ctx *ctx) {
  double best = -1;
  for (size_t i = 0; ctx && i < ctx->nsessions; i++) {
    double d = ms__session_next_deadline(ctx->sessions[i]);
    if (d >= 0 && (best < 0 || d < best)) best = d;
  }
  return best;
}

/* ---- owner close ---------------------------------------------------------- */

static int owner_has_open(ms_ctx *ctx, int owner, int32_t owner_id) {
  for (size_t i = 0; i < ctx->nsessions; i++) {
    ms_session *s = ctx->sessions[i];
    if (s->owner == owner && s->owner_id == owner_id && s->state != MS_SESS_CLOSED) return 1;
  }
  return 0;
}

void ms__owner_check(ms_ctx *ctx) {
  size_t j = 0;
  for (size_t i = 0; i < ctx->nowner_waits; i++) {
    ms_owner_wait w = ctx->owner_waits[i];
    if (!owner_has_open(ctx, w.owner, w.owner_id)) {
      ms__fx_reserved(ctx, MS_FX_OP_DONE, w.op_id, 0, 0, "null", 4, 4);
      continue;
    }
    ctx->owner_waits[j++] = w;
  }
  ctx->nowner_waits = j;
}

MS_EXPORT int32_t ms_owner_close(ms_ctx *ctx, int32_t owner, int32_t owner_id, int32_t op_id) {
  if (!ctx) return MS_ERR_INVALID_ARGUMENT;
  if (owner < MS_OWNER_STREAM || owner > MS_OWNER_CLIENT)
    return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "unknown owner kind %d", (int)owner);
  /* the OP_DONE that ends the wait is reserved: it cannot be lost later */
  if (grow((void **)&ctx->owner_waits, &ctx->capowner_waits, ctx->nowner_waits,
           sizeof *ctx->owner_waits) || ms__fx_reserve(ctx, 1, 4))
    return ms__fail(ctx, MS_ERR_NOMEM, "out of memory closing sessions");
  ctx->owner_waits[ctx->nowner_waits++] = (ms_owner_wait){op_id, owner, owner_id};
  for (size_t i = 0; i < ctx->nsessions; i++) {
    ms_session *s = ctx->sessions[i];
    if (s->owner == owner && s->owner_id == owner_id) {
      int rc = ms__session_close(ctx, s);
      if (rc) return ms__fail(ctx, rc, "out of memory closing sessions");
    }
  }
  ms__owner_check(ctx);
  return 0;
}

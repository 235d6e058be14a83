/* ctx.c — the context as the host sees it: creation (wiring the layers'
 * upward calls), freeing, the input buffer, limits and the clock. The top of
 * the core: it may call every layer (docs/architecture.md §1, Layers). */
#include <stdio.h>
#include <string.h>

#include "core.h"

MS_EXPORT ms_ctx *ms_ctx_new(void) {
  ms_alloc_init();
  ms_ctx *ctx = ms_malloc(sizeof *ctx);
  if (!ctx) return NULL;
  memset(ctx, 0, sizeof *ctx);
  ctx->next_id = 1;
  ctx->max_message = MS_DEFAULT_MESSAGE_BYTES;
  ctx->max_pending = MS_DEFAULT_PENDING_REQUESTS;
  ctx->timeout_ms = MS_DEFAULT_TIMEOUT_MS;
  ctx->max_total_ms = MS_DEFAULT_MAX_TOTAL_TIMEOUT_MS;
  ctx->max_memory = MS_DEFAULT_STREAM_MEMORY_BYTES;
  ms__streams_attach(ctx); /* streams hear of session changes and of their WAKEs taken */
  return ctx;
}

MS_EXPORT void ms_ctx_free(ms_ctx *ctx) {
  if (!ctx) return;
  ms__streams_free_all(ctx);
  ms__sessions_free_all(ctx);
  ms__fx_free_all(ctx);
  ms_buf_free(&ctx->input);
  ms_buf_free(&ctx->body);
  ms_free(ctx);
}

/* The context's own buffers and tables are charged to no stream or session
 * (MS_ALLOC_SCOPE(NULL)): they outlive them all, and a stream at its budget
 * must still be able to queue the effects of its cleanup. */

MS_EXPORT uint8_t *ms_ctx_input(ms_ctx *ctx, uint32_t len) {
  if (!ctx) return NULL;
  MS_ALLOC_SCOPE(NULL);
  ms_buf_reset(&ctx->input);
  /* a buffer that once took a huge input (a whole model response, say) is not
   * kept at that size for the context's life: it goes when a small one comes */
  if (ctx->input.cap > (1u << 20) && len < ctx->input.cap / 4) ms_buf_free(&ctx->input);
  if (ms_buf_reserve(&ctx->input, len ? len : 1)) return NULL;
  return ctx->input.data;
}

MS_EXPORT int32_t ms_ctx_own_allocations(ms_ctx *ctx) {
  if (!ctx) return 0;
  const void *mine[] = {ctx->input.data, ctx->fx, ctx->fx_payload.data, ctx->out, ctx->out_ext,
                        ctx->out_payload.data, ctx->utf16.data, ctx->body.data,
                        ctx->cut_skel.data, ctx->cut_index.data, ctx->cut_data.data, ctx->sessions, ctx->streams, ctx->owner_waits};
  /* the context itself, and the own payloads of the effects handed out last */
  int32_t n = 1 + (int32_t)ctx->nout_ext;
  for (size_t i = 0; i < sizeof mine / sizeof *mine; i++) n += mine[i] != NULL;
  return n;
}

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
  return ms__sessions_expire(ctx);
}

MS_EXPORT double ms_ctx_next_deadline(ms_ctx *ctx) { return ctx ? ms__sessions_next_deadline(ctx) : -1; }

/* effects.c — the effect queue of a context (with room reserved for the
 * effects of an end), lifecycle events, and the context's error text. */
#include <stdio.h>
#include <string.h>

#include "core.h"

/* ---- the effect queue ------------------------------------------------------
 *
 * Effects that end things (a CLOSE, the lifecycle events of an end, a
 * notifications/cancelled, a MODEL_ABORT, a stream's WAKE, an owner close's
 * OP_DONE) must not depend on an allocation succeeding when they are due:
 * a session or stream reserves room for them when it is recorded
 * (ms__fx_reserve), and queues them into that room (ms__fx_reserved).
 *
 * Invariant: the queue has room for ctx->rsv_recs more records and
 * ctx->rsv_bytes more payload bytes; the output payload buffer (the queue's
 * next payload buffer, swapped at each take) holds at least rsv_bytes; the
 * output array holds as many records as the queue. Other effects keep that
 * room free (they grow the queue instead), so taking effects never
 * allocates, and a reserved effect is never lost. */

/* Units kept between takes; a bigger buffer (one huge text) is freed at the
 * next take, so it does not stay allocated for the context's lifetime. */
#define MS_UTF16_KEEP_BYTES (1u << 20)

/* Room kept ahead for other effects beyond the reserve (best effort), so that
 * one failed allocation (a huge tool result, say) does not drop a small one. */
#define MS_FX_SPARE_BYTES 1024

/* A payload buffer bigger than this (it held a huge batch: a 37 MB tools/list
 * answer, say) is cut back when it comes round again as the queue's buffer,
 * so that one big message does not keep its room for the context's life. */
#define MS_FX_KEEP_BYTES (1u << 20)

/* Makes room for `recs` more records (the output array grows with the queue). */
static int fx_grow_recs(ms_ctx *ctx, size_t recs) {
  MS_ALLOC_SCOPE(NULL); /* the context's own buffers: charged to no stream */
  if (ctx->capfx - ctx->nfx >= recs && ctx->out_cap >= ctx->capfx) return 0;
  size_t cap = ctx->capfx ? ctx->capfx : 16;
  while (cap - ctx->nfx < recs) cap *= 2;
  if (ctx->out_cap < cap) {
    void **ext = ms_realloc(ctx->out_ext, cap * sizeof *ext);
    if (!ext) return MS_ERR_NOMEM;
    ctx->out_ext = ext;
    ms_effect *out = ms_realloc(ctx->out, cap * sizeof *out);
    if (!out) return MS_ERR_NOMEM;
    ctx->out = out;
    ctx->out_cap = cap;
  }
  if (ctx->capfx < cap) {
    ms_fx_rec *fx = ms_realloc(ctx->fx, cap * sizeof *fx);
    if (!fx) return MS_ERR_NOMEM;
    ctx->fx = fx;
    ctx->capfx = cap;
  }
  return 0;
}

static void fx_make_room(ms_ctx *ctx) { /* best effort: failures are retried later */
  MS_ALLOC_SCOPE(NULL);
  fx_grow_recs(ctx, ctx->rsv_recs + 1);
  ms_buf_reserve(&ctx->fx_payload, ctx->rsv_bytes + MS_FX_SPARE_BYTES);
}

int ms__fx_reserve(ms_ctx *ctx, size_t recs, size_t bytes) {
  MS_ALLOC_SCOPE(NULL);
  size_t want = ctx->rsv_bytes + bytes;
  ms_buf *out = &ctx->out_payload;
  if (fx_grow_recs(ctx, ctx->rsv_recs + recs) || ms_buf_reserve(&ctx->fx_payload, want) ||
      ms_buf_reserve(out, want > out->len ? want - out->len : 0))
    return MS_ERR_NOMEM;
  ctx->rsv_recs += recs;
  ctx->rsv_bytes += bytes;
  return 0;
}

void ms__fx_unreserve(ms_ctx *ctx, size_t recs, size_t bytes) {
  ctx->rsv_recs -= recs <= ctx->rsv_recs ? recs : ctx->rsv_recs;
  ctx->rsv_bytes -= bytes <= ctx->rsv_bytes ? bytes : ctx->rsv_bytes;
}

/* Makes room for one effect with up to `len` payload bytes. reserved: uses up
 * one reserved record and `rbytes` reserved bytes (len <= rbytes); otherwise
 * the reserve stays free. 0 or MS_ERR_NOMEM (never when reserved). */
static int fx_room(ms_ctx *ctx, size_t len, int reserved, size_t rbytes) {
  MS_ALLOC_SCOPE(NULL);
  if (reserved) ms__fx_unreserve(ctx, 1, rbytes);
  /* a reserved effect finds its room (len <= rbytes); growing is for the rest */
  if (fx_grow_recs(ctx, ctx->rsv_recs + 1)) return MS_ERR_NOMEM;
  ms_buf *q = &ctx->fx_payload;
  size_t want = ctx->rsv_bytes + len;
  /* one big payload: room for exactly it (and the spare), not a doubling */
  if (len > MS_FX_KEEP_BYTES ? ms_buf_reserve_exact(q, want + MS_FX_SPARE_BYTES)
                             : ms_buf_reserve(q, want))
    return MS_ERR_NOMEM;
  return 0;
}

/* Queues the record of an effect whose payload fx_payload[off..off+len) is in place. */
static void fx_commit(ms_ctx *ctx, int kind, int32_t a, int32_t b, int32_t c, size_t off, size_t len,
                      int wake_rsv) {
  ctx->fx[ctx->nfx++] = (ms_fx_rec){kind, a, b, c, off, (uint32_t)len, wake_rsv, NULL};
  fx_make_room(ctx);
}

static int fx_push(ms_ctx *ctx, int kind, int32_t a, int32_t b, int32_t c, const void *payload,
                   size_t len, int reserved, size_t rbytes) {
  if (fx_room(ctx, len, reserved, rbytes)) return MS_ERR_NOMEM;
  size_t off = ctx->fx_payload.len;
  if (len) ms_buf_append(&ctx->fx_payload, payload, len); /* room was made: cannot fail */
  fx_commit(ctx, kind, a, b, c, off, len, reserved && kind == MS_FX_WAKE);
  return 0;
}

int ms__fx(ms_ctx *ctx, int kind, int32_t a, int32_t b, int32_t c, const void *payload,
           size_t len) {
  return fx_push(ctx, kind, a, b, c, payload, len, 0, 0);
}

int ms__fx_adopt_at(ms_ctx *ctx, int kind, int32_t a, int32_t b, int32_t c, void *owned, size_t off,
                    size_t len) {
  if (fx_room(ctx, 0, 0, 0)) {
    ms_free(owned);
    return MS_ERR_NOMEM;
  }
  fx_commit(ctx, kind, a, b, c, off, len, 0);
  ctx->fx[ctx->nfx - 1].ext = owned;
  return 0;
}

int ms__fx_adopt(ms_ctx *ctx, int kind, int32_t a, int32_t b, int32_t c, void *owned, size_t len) {
  return ms__fx_adopt_at(ctx, kind, a, b, c, owned, 0, len);
}

/* Frees the own payloads of the effects handed out last (they were valid
 * until this call). */
static void fx_free_out_ext(ms_ctx *ctx) {
  for (size_t i = 0; i < ctx->nout_ext; i++) ms_free(ctx->out_ext[i]);
  ctx->nout_ext = 0;
}

void ms__fx_free_all(ms_ctx *ctx) {
  fx_free_out_ext(ctx);
  for (size_t i = 0; i < ctx->nfx; i++) ms_free(ctx->fx[i].ext);
  ctx->nfx = 0;
  ms_free(ctx->fx);
  ms_free(ctx->out);
  ms_free(ctx->out_ext);
  ms_buf_free(&ctx->fx_payload);
  ms_buf_free(&ctx->out_payload);
  ms_buf_free(&ctx->utf16);
  ms_buf_free(&ctx->cut_skel);
  ms_buf_free(&ctx->cut_index);
  ms_buf_free(&ctx->cut_data);
}

int ms__fx_reserved(ms_ctx *ctx, int kind, int32_t a, int32_t b, int32_t c, const void *payload,
                    size_t len, size_t rbytes) {
  return fx_push(ctx, kind, a, b, c, payload, len, 1, rbytes);
}

MS_EXPORT int32_t ms_ctx_take_effects(ms_ctx *ctx) {
  if (!ctx) return MS_ERR_INVALID_ARGUMENT;
  MS_ALLOC_SCOPE(NULL);
  if (ctx->out_cap < ctx->nfx) { /* (the invariant makes this dead code) */
    void **ext = ms_realloc(ctx->out_ext, ctx->nfx * sizeof *ext);
    if (!ext) return ms__fail(ctx, MS_ERR_NOMEM, "out of memory taking effects");
    ctx->out_ext = ext;
    ms_effect *out = ms_realloc(ctx->out, ctx->nfx * sizeof *out);
    if (!out) return ms__fail(ctx, MS_ERR_NOMEM, "out of memory taking effects");
    ctx->out = out;
    ctx->out_cap = ctx->nfx;
  }
  fx_free_out_ext(ctx); /* the last batch's own payloads: no longer valid */
  /* swap payload buffers: the queued payloads become the output */
  ms_buf tmp = ctx->out_payload;
  ctx->out_payload = ctx->fx_payload;
  ctx->fx_payload = tmp;
  ms_buf_reset(&ctx->fx_payload);
  size_t keep = ctx->rsv_bytes + MS_FX_SPARE_BYTES; /* the invariant's room stays */
  if (ctx->fx_payload.cap > MS_FX_KEEP_BYTES && ctx->fx_payload.cap / 2 > keep) {
    uint8_t *d = ms_realloc(ctx->fx_payload.data, keep); /* smaller: may fail, then it stays */
    if (d) {
      ctx->fx_payload.data = d;
      ctx->fx_payload.cap = keep;
    }
  }
  if (ctx->utf16.cap > MS_UTF16_KEEP_BYTES) ms_buf_free(&ctx->utf16);
  ms__cut_reset(ctx, 1);
  size_t n = ctx->nfx;
  ctx->nfx = 0;
  ctx->nout = n;
  for (size_t i = 0; i < n; i++) {
    ms_fx_rec *r = &ctx->fx[i];
    /* integer arithmetic: the payload buffer is NULL when no effect of the
     * batch has a payload (NULL + 0 is undefined behaviour in C) */
    ctx->out[i] = (ms_effect){r->kind, r->a, r->b, r->c,
                              r->ext ? (uintptr_t)r->ext + r->off : (uintptr_t)ctx->out_payload.data + r->off, r->len};
    if (r->ext) ctx->out_ext[ctx->nout_ext++] = r->ext; /* out_cap slots: never more than that */
    /* a stream's reserved WAKE is handed out: its room is free again, reserve it anew */
    if (r->wake_rsv && ctx->wake_taken) ctx->wake_taken(ctx, r->a);
  }
  fx_make_room(ctx);
  return (int32_t)n;
}

MS_EXPORT const ms_effect *ms_ctx_effects_ptr(ms_ctx *ctx) { return ctx ? ctx->out : NULL; }

MS_EXPORT int32_t ms_ctx_utf16(ms_ctx *ctx, const uint8_t *src, uint32_t len) {
  if (!ctx || (!src && len)) return MS_ERR_INVALID_ARGUMENT;
  if (len > INT32_MAX / 2) return MS_ERR_INVALID_ARGUMENT;
  size_t ascii = ms_utf8_ascii_prefix(src, len);
  if (ascii == len) return 0;
  MS_ALLOC_SCOPE(NULL); /* the context's own buffer */
  ms_buf_reset(&ctx->utf16);
  if (ms_buf_reserve(&ctx->utf16, (size_t)len * 2)) return MS_ERR_NOMEM;
  /* ms_realloc's storage is aligned for any type */
  return (int32_t)ms_utf8_to_utf16(src, len, (uint16_t *)(void *)ctx->utf16.data);
}

MS_EXPORT const uint16_t *ms_ctx_utf16_ptr(ms_ctx *ctx) {
  return ctx ? (const uint16_t *)(void *)ctx->utf16.data : NULL;
}
MS_EXPORT const char *ms_ctx_error_ptr(ms_ctx *ctx) { return ctx ? ctx->err.msg : NULL; }
MS_EXPORT uint32_t ms_ctx_error_len(ms_ctx *ctx) { return ctx ? ctx->err.len : 0; }

int ms__fail(ms_ctx *ctx, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ms_err_vset(&ctx->err, code, fmt, ap);
  va_end(ap);
  return code;
}

const char *ms__owner_name(int owner) {
  switch (owner) {
    case MS_OWNER_STREAM: return "stream";
    case MS_OWNER_AGENT: return "agent";
    default: return "client";
  }
}

size_t ms__event_bound(size_t name_len, const char *kind, size_t reason_len) {
  return 192 + strlen(kind) + 6 * (name_len + reason_len);
}

static int event_push(ms_ctx *ctx, const char *kind, const ms_subject *subj, int32_t stream_id,
                      const char *reason, int reserved, size_t rbytes) {
  /* written in place, into room made first: nothing to allocate after that */
  const char *server = subj ? subj->server : NULL;
  size_t most = ms__event_bound(server ? strlen(server) : 0, kind, reason ? strlen(reason) : 0);
  if (fx_room(ctx, most, reserved, rbytes)) return MS_ERR_NOMEM;
  ms_buf *q = &ctx->fx_payload;
  ms_buf b = {q->data + q->len, 0, q->cap - q->len}; /* never grows: most fits */
  ms_buf_append_str(&b, "{\"kind\":\"");
  ms_buf_append_str(&b, kind);
  ms_buf_append_str(&b, "\",\"server\":");
  if (subj) ms_buf_append_json_string(&b, server, strlen(server));
  else ms_buf_append_str(&b, "null");
  ms_buf_append_str(&b, ",\"sessionId\":");
  if (subj) ms_buf_append_int(&b, subj->session_id);
  else ms_buf_append_str(&b, "null");
  ms_buf_append_str(&b, ",\"owner\":");
  if (subj) {
    ms_buf_append_byte(&b, '"');
    ms_buf_append_str(&b, ms__owner_name(subj->owner));
    ms_buf_append_byte(&b, '"');
  } else {
    ms_buf_append_str(&b, "null");
  }
  ms_buf_append_str(&b, ",\"streamId\":");
  if (stream_id > 0) ms_buf_append_int(&b, stream_id);
  else ms_buf_append_str(&b, "null");
  ms_buf_append_str(&b, ",\"reason\":");
  if (reason) ms_buf_append_json_string(&b, reason, strlen(reason));
  else ms_buf_append_str(&b, "null");
  ms_buf_append_byte(&b, '}');
  size_t off = q->len;
  q->len += b.len;
  fx_commit(ctx, MS_FX_EVENT, subj ? subj->session_id : 0, stream_id, 0, off, b.len, 0);
  return 0;
}

int ms__event(ms_ctx *ctx, const char *kind, const ms_subject *subj, int32_t stream_id,
              const char *reason) {
  return event_push(ctx, kind, subj, stream_id, reason, 0, 0);
}

int ms__event_reserved(ms_ctx *ctx, const char *kind, const ms_subject *subj, int32_t stream_id,
                       const char *reason, size_t rbytes) {
  return event_push(ctx, kind, subj, stream_id, reason, 1, rbytes);
}

int ms__op_fail(ms_ctx *ctx, int32_t op_id, int code, const char *msg, size_t len) {
  return ms__fx(ctx, MS_FX_OP_DONE, op_id, code, 0, msg, len);
}

int32_t ms__new_id(ms_ctx *ctx) { return ctx->next_id++; }

int ms__ctx_grow(void **arr, size_t *cap, size_t n, size_t size) {
  if (n < *cap) return 0;
  MS_ALLOC_SCOPE(NULL);
  size_t c = *cap ? *cap * 2 : 8;
  void *p = ms_realloc(*arr, c * size);
  if (!p) return MS_ERR_NOMEM;
  *arr = p;
  *cap = c;
  return 0;
}

void ms__fx_set_wake_hook(ms_ctx *ctx, void (*fn)(ms_ctx *ctx, int32_t stream_id)) {
  ctx->wake_taken = fn;
}

int ms__fx_reserve_taken_rec(ms_ctx *ctx) {
  if (ctx->capfx - ctx->nfx <= ctx->rsv_recs) return 0;
  ctx->rsv_recs++;
  return 1;
}

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

/* Room kept ahead for other effects beyond the reserve (best effort), so that
 * one failed allocation (a huge tool result, say) does not drop a small one. */
#define MS_FX_SPARE_BYTES 1024

/* Makes room for `recs` more records (the output array grows with the queue). */
static int fx_grow_recs(ms_ctx *ctx, size_t recs) {
  MS_ALLOC_SCOPE(NULL); /* the context's own buffers: charged to no stream */
  if (ctx->capfx - ctx->nfx >= recs && ctx->out_cap >= ctx->capfx) return 0;
  size_t cap = ctx->capfx ? ctx->capfx : 16;
  while (cap - ctx->nfx < recs) cap *= 2;
  if (ctx->out_cap < cap) {
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
  if (ms_buf_reserve(&ctx->fx_payload, ctx->rsv_bytes + len)) return MS_ERR_NOMEM;
  return 0;
}

/* Queues the record of an effect whose payload fx_payload[off..off+len) is in place. */
static void fx_commit(ms_ctx *ctx, int kind, int32_t a, int32_t b, int32_t c, size_t off, size_t len,
                      int wake_rsv) {
  ctx->fx[ctx->nfx++] = (ms_fx_rec){kind, a, b, c, off, (uint32_t)len, wake_rsv};
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

int ms__fx_reserved(ms_ctx *ctx, int kind, int32_t a, int32_t b, int32_t c, const void *payload,
                    size_t len, size_t rbytes) {
  return fx_push(ctx, kind, a, b, c, payload, len, 1, rbytes);
}

MS_EXPORT int32_t ms_ctx_take_effects(ms_ctx *ctx) {
  if (!ctx) return MS_ERR_INVALID_ARGUMENT;
  MS_ALLOC_SCOPE(NULL);
  if (ctx->out_cap < ctx->nfx) { /* (the invariant makes this dead code) */
    ms_effect *out = ms_realloc(ctx->out, ctx->nfx * sizeof *out);
    if (!out) return ms__fail(ctx, MS_ERR_NOMEM, "out of memory taking effects");
    ctx->out = out;
    ctx->out_cap = ctx->nfx;
  }
  /* swap payload buffers: the queued payloads become the output */
  ms_buf tmp = ctx->out_payload;
  ctx->out_payload = ctx->fx_payload;
  ctx->fx_payload = tmp;
  ms_buf_reset(&ctx->fx_payload);
  size_t n = ctx->nfx;
  ctx->nfx = 0;
  for (size_t i = 0; i < n; i++) {
    ms_fx_rec *r = &ctx->fx[i];
    /* integer arithmetic: the payload buffer is NULL when no effect of the
     * batch has a payload (NULL + 0 is undefined behaviour in C) */
    ctx->out[i] = (ms_effect){r->kind, r->a, r->b, r->c,
                              (uintptr_t)ctx->out_payload.data + r->off, r->len};
    /* a stream's reserved WAKE is handed out: its room is free again, reserve it anew */
    if (r->wake_rsv) ms__stream_wake_taken(ctx, r->a);
  }
  fx_make_room(ctx);
  return (int32_t)n;
}

MS_EXPORT const ms_effect *ms_ctx_effects_ptr(ms_ctx *ctx) { return ctx ? ctx->out : NULL; }
MS_EXPORT const char *ms_ctx_error_ptr(ms_ctx *ctx) { return ctx ? ctx->err.msg : NULL; }
MS_EXPORT uint32_t ms_ctx_error_len(ms_ctx *ctx) { return ctx ? ctx->err.len : 0; }

int ms__fail(ms_ctx *ctx, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(ctx->err.msg, sizeof ctx->err.msg, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof ctx->err.msg) n = (int)sizeof ctx->err.msg - 1;
  ctx->err.len = (uint32_t)n;
  ctx->err.code = code;
  return code;
}

const char *ms__owner_name(int owner) {
  switch (owner) {
    case MS_OWNER_STREAM: return "stream";
    case MS_OWNER_AGENT: return "agent";
    default: return "client";
  }
}

/* ---- string fidelity --------------------------------------------------------
 *
 * cJSON keeps strings NUL-terminated and refuses a lone surrogate escape, so
 * before it parses, the text is rewritten where needed (in a copy; text that
 * needs nothing, the common case, is parsed in place after one scan):
 *  - "\u0000" becomes the byte 0xFF (MS_NUL_MARK), which no UTF-8 text
 *    holds, inside the string; ms__json_print writes it back as "\u0000";
 *  - a lone surrogate escape ("\ud800" without its pair) becomes "\ufffd";
 *  - every invalid UTF-8 sequence becomes U+FFFD (EF BF BD), one per maximal
 *    invalid subpart as TextDecoder does, so the mark stays unambiguous.
 * An escape is recognised by its backslash, wherever it is: outside strings
 * a backslash is invalid JSON anyway, and stays so. */
#define MS_NUL_MARK 0xFF

static int hex4(const uint8_t *p, size_t n, size_t i, unsigned *v) {
  if (i + 4 > n) return 0;
  unsigned x = 0;
  for (size_t k = i; k < i + 4; k++) {
    uint8_t c = p[k];
    x <<= 4;
    if (c >= '0' && c <= '9') x |= c - '0';
    else if (c >= 'a' && c <= 'f') x |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') x |= c - 'A' + 10;
    else return 0;
  }
  *v = x;
  return 1;
}

/* Length of the valid UTF-8 sequence at p[i] (lead byte >= 0x80), or, when
 * invalid, -(length of its maximal invalid subpart), at least 1. */
static long utf8_seq(const uint8_t *p, size_t n, size_t i) {
  uint8_t c = p[i];
  int need;
  uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) need = 1;
  else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F; /* no encoded surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  size_t k = 1;
  for (; k <= (size_t)need; k++) {
    if (i + k >= n) return -(long)k;
    uint8_t b = p[i + k];
    if (b < lo || b > hi) return -(long)k;
    lo = 0x80;
    hi = 0xBF;
  }
  return (long)k;
}

/* Rewrites p[0..n) into out when it needs it (see above). Returns 1 when out
 * holds the rewritten text, 0 when p can be parsed as it is, or NOMEM. */
static int fix_text(const uint8_t *p, size_t n, ms_buf *out) {
  size_t run = 0, i = 0;
  int changed = 0;
#define FLUSH_THEN(bytes, len)                                                        \
  do {                                                                                \
    if (!changed && ms_buf_reserve(out, n + 16)) return MS_ERR_NOMEM;                 \
    changed = 1;                                                                      \
    if (ms_buf_append(out, p + run, i - run) || ms_buf_append(out, (bytes), (len)))   \
      return MS_ERR_NOMEM;                                                            \
  } while (0)
  while (i < n) {
    uint8_t c = p[i];
    if (c < 0x80 && c != '\\') {
      i++;
      continue;
    }
    if (c == '\\') {
      unsigned v, w;
      if (i + 1 >= n || p[i + 1] != 'u' || !hex4(p, n, i + 2, &v)) {
        i += 2; /* another escape (or the end): kept as it is */
        continue;
      }
      if (v == 0) {
        static const uint8_t mark = MS_NUL_MARK;
        FLUSH_THEN(&mark, 1);
        i += 6;
        run = i;
      } else if (v >= 0xD800 && v <= 0xDBFF && i + 7 < n && p[i + 6] == '\\' && p[i + 7] == 'u' &&
                 hex4(p, n, i + 8, &w) && w >= 0xDC00 && w <= 0xDFFF) {
        i += 12; /* a pair */
      } else if (v >= 0xD800 && v <= 0xDFFF) {
        FLUSH_THEN("\\ufffd", 6);
        i += 6;
        run = i;
      } else {
        i += 6;
      }
      continue;
    }
    long k = utf8_seq(p, n, i);
    if (k > 0) {
      i += (size_t)k;
      continue;
    }
    FLUSH_THEN("\xEF\xBF\xBD", 3);
    i += (size_t)-k;
    run = i;
  }
#undef FLUSH_THEN
  if (!changed) return 0;
  if (ms_buf_append(out, p + run, n - run)) return MS_ERR_NOMEM;
  return 1;
}

cJSON *ms__json_parse(const char *text, size_t len) {
  ms_buf fixed = {0};
  int f = fix_text((const uint8_t *)text, len, &fixed);
  if (f < 0) {
    ms_buf_free(&fixed);
    return NULL; /* an allocation failed: ms_alloc_failures() tells */
  }
  if (f) {
    text = (const char *)fixed.data;
    len = fixed.len;
  }
  const char *end = NULL;
  cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (v) {
    while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) end++;
    if (end != text + len) {
      cJSON_Delete(v);
      v = NULL;
    }
  }
  ms_buf_free(&fixed);
  return v;
}

char *ms__json_print(const cJSON *v) {
  char *s = cJSON_PrintUnformatted(v); /* allocated through the seam (cJSON hooks) */
  if (!s || !strchr(s, MS_NUL_MARK)) return s;
  /* a NUL that came in as "\u0000" goes out the same way */
  ms_buf b = {0};
  int rc = 0;
  for (const char *p = s; *p && !rc; p++)
    rc = (uint8_t)*p == MS_NUL_MARK ? ms_buf_append(&b, "\\u0000", 6) : ms_buf_append_byte(&b, (uint8_t)*p);
  if (!rc) rc = ms_buf_append_byte(&b, 0);
  ms_free(s);
  if (rc) {
    ms_buf_free(&b);
    return NULL;
  }
  return (char *)b.data;
}

size_t ms__event_bound(size_t name_len, const char *kind, size_t reason_len) {
  return 192 + strlen(kind) + 6 * (name_len + reason_len);
}

static int event_push(ms_ctx *ctx, const char *kind, const ms_session *s, int32_t stream_id,
                      const char *reason, int reserved, size_t rbytes) {
  /* written in place, into room made first: nothing to allocate after that */
  size_t most = ms__event_bound(s ? strlen(s->name) : 0, kind, reason ? strlen(reason) : 0);
  if (fx_room(ctx, most, reserved, rbytes)) return MS_ERR_NOMEM;
  ms_buf *q = &ctx->fx_payload;
  ms_buf b = {q->data + q->len, 0, q->cap - q->len}; /* never grows: most fits */
  ms_buf_append_str(&b, "{\"kind\":\"");
  ms_buf_append_str(&b, kind);
  ms_buf_append_str(&b, "\",\"server\":");
  if (s) ms_buf_append_json_string(&b, s->name, strlen(s->name));
  else ms_buf_append_str(&b, "null");
  ms_buf_append_str(&b, ",\"sessionId\":");
  if (s) ms_buf_append_int(&b, s->id);
  else ms_buf_append_str(&b, "null");
  ms_buf_append_str(&b, ",\"owner\":");
  if (s) {
    ms_buf_append_byte(&b, '"');
    ms_buf_append_str(&b, ms__owner_name(s->owner));
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
  fx_commit(ctx, MS_FX_EVENT, s ? s->id : 0, stream_id, 0, off, b.len, 0);
  return 0;
}

int ms__event(ms_ctx *ctx, const char *kind, const ms_session *s, int32_t stream_id,
              const char *reason) {
  return event_push(ctx, kind, s, stream_id, reason, 0, 0);
}

int ms__event_reserved(ms_ctx *ctx, const char *kind, const ms_session *s, int32_t stream_id,
                       const char *reason, size_t rbytes) {
  return event_push(ctx, kind, s, stream_id, reason, 1, rbytes);
}

int ms__op_fail(ms_ctx *ctx, int32_t op_id, int code, const char *msg, size_t len) {
  return ms__fx(ctx, MS_FX_OP_DONE, op_id, code, 0, msg, len);
}

int32_t ms__new_id(ms_ctx *ctx) { return ctx->next_id++; }

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

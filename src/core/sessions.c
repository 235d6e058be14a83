/* sessions.c — the sessions of a context as a set: the table, owner close
 * (the policy that closes everything an agent or a client owns), the clock's
 * walk over every session's requests, and the one subscription to session
 * changes (the stream layer's). */
#include <string.h>

#include "core.h"
#include "session.h"

int ms__add_session(ms_ctx *ctx, ms_session *s) {
  if (ms__ctx_grow((void **)&ctx->sessions, &ctx->capsessions, ctx->nsessions, sizeof *ctx->sessions))
    return MS_ERR_NOMEM;
  ctx->sessions[ctx->nsessions++] = s;
  return 0;
}

ms_session *ms__session_get(ms_ctx *ctx, int32_t id) {
  if (!ctx) return NULL;
  for (size_t i = 0; i < ctx->nsessions; i++)
    if (ctx->sessions[i]->id == id) return ctx->sessions[i];
  return NULL;
}

void ms__session_remove(ms_ctx *ctx, ms_session *s) {
  for (size_t i = 0; i < ctx->nsessions; i++) {
    if (ctx->sessions[i] != s) continue;
    memmove(ctx->sessions + i, ctx->sessions + i + 1, (ctx->nsessions - i - 1) * sizeof *ctx->sessions);
    ctx->nsessions--;
    break;
  }
}

void ms__sessions_free_all(ms_ctx *ctx) {
  for (size_t i = 0; i < ctx->nsessions; i++) ms__session_free(ctx->sessions[i]);
  ms_free(ctx->sessions);
  ms_free(ctx->owner_waits);
  ctx->sessions = NULL;
  ctx->owner_waits = NULL;
  ctx->nsessions = ctx->capsessions = ctx->nowner_waits = ctx->capowner_waits = 0;
}

void ms__session_subscribe(ms_ctx *ctx, ms_session_changed_fn fn, void *user) {
  ctx->session_changed = fn;
  ctx->session_changed_user = user;
}

void ms__session_changed(ms_ctx *ctx, const ms_session *s) {
  if (ctx->session_changed) ctx->session_changed(ctx, ctx->session_changed_user, s->id);
}

MS_EXPORT int32_t ms_ctx_sessions_open(ms_ctx *ctx) {
  if (!ctx) return 0;
  int32_t n = 0;
  for (size_t i = 0; i < ctx->nsessions; i++) n += ctx->sessions[i]->state != MS_SESS_CLOSED;
  return n;
}

int32_t ms__sessions_expire(ms_ctx *ctx) {
  int32_t n = 0;
  /* expiring may close sessions but never frees one (only the host's
   * ms_session_closed and ms_stream_free do), so the table stays put */
  for (size_t i = 0; i < ctx->nsessions; i++) {
    MS_ALLOC_SCOPE(ctx->sessions[i]->acct);
    n += ms__session_expire(ctx, ctx->sessions[i]);
  }
  return n;
}

double ms__sessions_next_deadline(ms_ctx *ctx) {
  double best = -1;
  for (size_t i = 0; i < ctx->nsessions; i++) {
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
  if (ms__ctx_grow((void **)&ctx->owner_waits, &ctx->capowner_waits, ctx->nowner_waits,
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

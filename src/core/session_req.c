/* session_req.c — a session's requests: the table of requests in flight,
 * sending, failing, cancelling and timing them out. */
#include <stdio.h>
#include <string.h>

#include "session.h"

ms_req *ms__req_add(ms_ctx *ctx, ms_session *s, int kind, int32_t op_id, const char *method,
                       int32_t timeout_ms) {
  if (s->nreqs >= ctx->max_pending) return NULL;
  if (s->next_rpc > INT32_MAX) return NULL; /* ids travel as int32 in SEND effects */
  if (s->nreqs == s->capreqs) {
    size_t cap = s->capreqs ? s->capreqs * 2 : 8;
    ms_req *r = ms_realloc(s->reqs, cap * sizeof *r);
    if (!r) return NULL;
    s->reqs = r;
    s->capreqs = cap;
  }
  ms_req *r = &s->reqs[s->nreqs++];
  memset(r, 0, sizeof *r);
  r->rpc_id = s->next_rpc++;
  r->kind = kind;
  r->op_id = op_id;
  /* cut to fit, as snprintf would; not snprintf itself: this runs for every
   * request, and libc's printf is big enough that V8 compiling it for the
   * hot path costs a fresh process ~10 ms */
  size_t k = strlen(method) < sizeof r->method ? strlen(method) : sizeof r->method - 1;
  memcpy(r->method, method, k);
  r->method[k] = '\0';
  r->timeout_ms = timeout_ms > 0 ? timeout_ms : s->timeout_ms;
  r->idle_deadline = ctx->now + r->timeout_ms;
  r->total_deadline = ctx->now + s->max_total_ms;
  return r;
}

ptrdiff_t ms__req_find(const ms_session *s, int64_t rpc_id) {
  for (size_t i = 0; i < s->nreqs; i++)
    if (s->reqs[i].rpc_id == rpc_id) return (ptrdiff_t)i;
  return -1;
}

/* Removes request i from the table and returns it (the caller frees pending). */
ms_req ms__req_take(ms_session *s, size_t i) {
  ms_req r = s->reqs[i];
  memmove(s->reqs + i, s->reqs + i + 1, (s->nreqs - i - 1) * sizeof *s->reqs);
  s->nreqs--;
  return r;
}

/* Sends request r built in b (rc: how building went; b is freed), or keeps
 * it until the session is ready. */
static int req_send_built(ms_ctx *ctx, ms_session *s, ms_req *r, ms_buf b, int rc) {
  if (!rc) {
    if (s->state == MS_SESS_READY || r->kind == MS_REQ_INIT) {
      rc = ms__session_send(ctx, s, b.data, b.len, r->rpc_id,
                       r->kind == MS_REQ_INIT ? MS_SEND_INITIALIZE : 0);
    } else {
      r->pending = ms_strndup((const char *)b.data, b.len);
      if (!r->pending) rc = MS_ERR_NOMEM;
    }
  }
  ms_buf_free(&b);
  return rc;
}

/* Builds and sends (or keeps until ready) a request for r. */
int ms__req_send(ms_ctx *ctx, ms_session *s, ms_req *r, const char *method,
                    const cJSON *params) {
  ms_buf b = {0};
  int rc = ms_rpc_build(&b, r->rpc_id, method, params);
  return req_send_built(ctx, s, r, b, rc);
}

int ms__req_send_text(ms_ctx *ctx, ms_session *s, ms_req *r, const char *method, const char *params,
                      size_t params_len) {
  ms_buf b = {0};
  int rc = ms_rpc_build_text(&b, r->rpc_id, method, params, params_len);
  return req_send_built(ctx, s, r, b, rc);
}

/* Request r (already taken from the table) failed, or the session went away:
 * tell whoever waits. The session's own requests (initialize, tools/list)
 * cannot fail alone: the session fails with them. */
void ms__req_fail(ms_ctx *ctx, ms_session *s, ms_req *r, const ms_err *err) {
  if (r->kind == MS_REQ_OP) ms__op_fail(ctx, r->op_id, err->code, err->msg, err->len);
  else if (r->kind == MS_REQ_CALL)
    r->cb.done(ctx, r->cb.user, r->rpc_id, NULL, err->code, err->msg);
  else if (r->kind == MS_REQ_LIST_TOOLS) {
    s->listing = 0;
    ms__session_fail(ctx, s, err->code, err->msg);
  } else if (r->kind == MS_REQ_INIT && s->state == MS_SESS_INIT) {
    ms__session_fail(ctx, s, err->code, err->msg);
  }
}

/* Queues notifications/cancelled for rpc_id. Built without allocating (on
 * the stack) for the short reasons of the core; reserved: into room reserved
 * for it (1 record, MS_CANCEL_BYTES). */
int ms__req_send_cancelled(ms_ctx *ctx, ms_session *s, int64_t rpc_id, const char *reason,
                          int reserved) {
  uint8_t stack[MS_CANCEL_BYTES];
  size_t rlen = strlen(reason);
  ms_buf b = {stack, 0, sizeof stack};
  if (104 + 6 * rlen > sizeof stack) b = (ms_buf){0}; /* might not fit: on the heap */
  int rc = ms_buf_append_str(&b, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                                 "\"params\":{\"requestId\":");
  rc |= ms_buf_append_int(&b, rpc_id);
  rc |= ms_buf_append_str(&b, ",\"reason\":");
  rc |= ms_buf_append_json_string(&b, reason, rlen);
  rc |= ms_buf_append_str(&b, "}}");
  if (rc) rc = MS_ERR_NOMEM;
  else if (reserved && b.len <= MS_CANCEL_BYTES)
    rc = ms__fx_reserved(ctx, MS_FX_SEND, s->id, (int32_t)rpc_id, MS_SEND_CANCEL, b.data, b.len,
                         MS_CANCEL_BYTES);
  else {
    if (reserved) ms__fx_unreserve(ctx, 1, MS_CANCEL_BYTES);
    rc = ms__session_send(ctx, s, b.data, b.len, rpc_id, MS_SEND_CANCEL);
  }
  if (b.data != stack) ms_buf_free(&b);
  return rc;
}

/* ---- used by streams ------------------------------------------------------------ */

int64_t ms__session_call_tool(ms_ctx *ctx, ms_session *s, const ms_req_cb *cb, int32_t stream_id,
                              const char *name, const cJSON *args, int32_t timeout_ms) {
  if (s->state != MS_SESS_READY) return ms__session_health(s) < 0 ? ms__session_health(s) : MS_ERR_STATE;
  ms_req *r = ms__req_add(ctx, s, MS_REQ_CALL, stream_id, "tools/call", timeout_ms);
  if (!r) return s->nreqs >= ctx->max_pending ? MS_ERR_LIMIT : MS_ERR_NOMEM;
  r->cb = *cb;
  r->progress = 1;
  int64_t id = r->rpc_id;
  cJSON *p = cJSON_CreateObject();
  cJSON *a = args ? cJSON_Duplicate(args, 1) : cJSON_CreateObject();
  cJSON *meta = NULL;
  int ok = p && a && cJSON_AddStringToObject(p, "name", name) && cJSON_AddItemToObject(p, "arguments", a);
  if (ok) {
    a = NULL; /* p owns it */
    meta = cJSON_AddObjectToObject(p, "_meta");
    ok = meta && cJSON_AddNumberToObject(meta, "progressToken", (double)id);
  }
  int rc = ok ? ms__req_send(ctx, s, r, "tools/call", p) : MS_ERR_NOMEM;
  cJSON_Delete(a);
  cJSON_Delete(p);
  if (rc) {
    ptrdiff_t i = ms__req_find(s, id);
    if (i >= 0) ms__req_take(s, (size_t)i);
    return rc;
  }
  return id;
}

int ms__session_cancel_rpc(ms_ctx *ctx, ms_session *s, int64_t rpc_id, int32_t st_id,
                           const char *reason, size_t rsv_event) {
  ptrdiff_t i = ms__req_find(s, rpc_id);
  int sent = 0;
  if (i >= 0) {
    ms_req r = ms__req_take(s, (size_t)i);
    int was_sent = r.pending == NULL;
    ms_free(r.pending);
    if (was_sent && s->state == MS_SESS_READY) {
      ms__req_send_cancelled(ctx, s, rpc_id, reason, rsv_event > 0);
      sent = 1;
    }
  }
  if (rsv_event && !sent) ms__fx_unreserve(ctx, 1, MS_CANCEL_BYTES);
  if (i < 0) {
    if (rsv_event) ms__fx_unreserve(ctx, 1, rsv_event);
    return 0;
  }
  return rsv_event ? ms__event_reserved(ctx, "request-cancel", MS_SUBJECT(s), st_id, reason, rsv_event)
                   : ms__event(ctx, "request-cancel", MS_SUBJECT(s), st_id, reason);
}

/* ---- timeouts ------------------------------------------------------------------ */

static double req_deadline(const ms_req *r) {
  return r->idle_deadline < r->total_deadline ? r->idle_deadline : r->total_deadline;
}

double ms__session_next_deadline(const ms_session *s) {
  double best = -1;
  if (s->state == MS_SESS_CLOSED) return best;
  for (size_t i = 0; i < s->nreqs; i++) {
    double d = req_deadline(&s->reqs[i]);
    if (best < 0 || d < best) best = d;
  }
  return best;
}

int ms__session_expire(ms_ctx *ctx, ms_session *s) {
  int n = 0;
  if (s->state == MS_SESS_CLOSED) return 0;
  for (size_t i = 0; i < s->nreqs;) {
    if (req_deadline(&s->reqs[i]) > ctx->now) {
      i++;
      continue;
    }
    ms_req r = ms__req_take(s, i); /* the table may change below: start over */
    i = 0;
    n++;
    /* initialize is never cancelled (spec); what was not sent needs no notice */
    int cancel = r.kind != MS_REQ_INIT && r.pending == NULL && s->state == MS_SESS_READY;
    ms_free(r.pending);
    const char *sent = cancel ? "; notifications/cancelled was sent" : "";
    ms_err e;
    if (r.total_deadline <= ctx->now)
      ms_err_set(&e, MS_ERR_TIMEOUT,
                 "server '%s' did not finish %s within %ld ms in total (maxTotalTimeoutMs)%s", s->name,
                 r.method, (long)s->max_total_ms, sent);
    else
      ms_err_set(&e, MS_ERR_TIMEOUT,
                 "server '%s' did not answer %s within %ld ms (timeoutMs; a progress notification "
                 "resets it)%s", s->name, r.method, (long)r.timeout_ms, sent);
    if (cancel) ms__req_send_cancelled(ctx, s, r.rpc_id, "timed out", 0);
    if (r.kind != MS_REQ_INIT)
      ms__event(ctx, "request-cancel", MS_SUBJECT(s), r.kind == MS_REQ_CALL ? r.op_id : 0, "timeout");
    ms__req_fail(ctx, s, &r, &e);
  }
  return n;
}

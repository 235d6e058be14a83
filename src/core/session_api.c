/* session_api.c — the exported session functions (mcpstream.h, Sessions). */
#include <stdio.h>
#include <string.h>

#include "bytescan.h"
#include "session.h"

ms_session *ms__session_enter(ms_ctx *ctx, int32_t sid, size_t len, int *rc) {
  *rc = 0;
  if (!ctx) {
    *rc = MS_ERR_INVALID_ARGUMENT;
    return NULL;
  }
  ms_session *s = ms__session_get(ctx, sid);
  if (!s) *rc = ms__fail(ctx, MS_ERR_BAD_HANDLE, "no session %d", (int)sid);
  else if (len > ctx->input.cap)
    *rc = ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "an input of %zu bytes is longer than the input buffer", len);
  return *rc ? NULL : s;
}

typedef struct feed_ctx {
  ms_ctx *ctx;
  ms_session *s;
} feed_ctx;

static int on_line(void *user, const char *line, size_t len) {
  feed_ctx *f = user;
  if (f->s->state == MS_SESS_CLOSED) return 0;
  if (!line) {
    ms__session_too_big(f->ctx, f->s, (const char *)f->s->framer.head, f->s->framer.head_len, len);
    return 0;
  }
  ms__session_handle(f->ctx, f->s, line, len);
  return 0;
}


MS_EXPORT int32_t ms_session_new(ms_ctx *ctx, int32_t owner, int32_t owner_id, uint32_t name_len) {
  if (!ctx || name_len == 0 || name_len > ctx->input.cap)
    return ctx ? ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "a server name is required")
               : MS_ERR_INVALID_ARGUMENT;
  if (owner != MS_OWNER_AGENT && owner != MS_OWNER_CLIENT)
    return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "sessions made by the host belong to an agent or a client");
  ms_session *s;
  int rc = ms__session_create(ctx, (const char *)ctx->input.data, name_len, owner, owner_id, &s);
  if (rc) return ms__fail(ctx, rc, "out of memory creating a session");
  return s->id;
}

MS_EXPORT int32_t ms_session_opened(ms_ctx *ctx, int32_t sid) {
  int rc = 0;
  ms_session *s = ms__session_enter(ctx, sid, 0, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  if (s->state != MS_SESS_OPENING) return 0; /* closing already, or late */
  rc = ms__session_send_initialize(ctx, s);
  if (rc) ms__session_fail(ctx, s, rc, "out of memory sending initialize");
  return 0;
}

MS_EXPORT int32_t ms_session_feed(ms_ctx *ctx, int32_t sid, uint32_t len) {
  int rc = 0;
  ms_session *s = ms__session_enter(ctx, sid, len, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  if (s->state == MS_SESS_CLOSED) return 0;
  feed_ctx f = {ctx, s};
  rc = ms_ndjson_feed(&s->framer, ctx->input.data, len, on_line, &f);
  if (rc) ms__session_fail(ctx, s, rc, "out of memory reading from the server");
  return 0;
}

MS_EXPORT int32_t ms_session_feed_message(ms_ctx *ctx, int32_t sid, uint32_t len) {
  int rc = 0;
  ms_session *s = ms__session_enter(ctx, sid, len, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  if (s->state == MS_SESS_CLOSED) return 0;
  if (len > s->framer.max) {
    ms__session_too_big(ctx, s, (const char *)ctx->input.data, len < MS_NDJSON_HEAD ? len : MS_NDJSON_HEAD,
               s->framer.max);
    return 0;
  }
  ms__session_handle(ctx, s, (const char *)ctx->input.data, len);
  return 0;
}

MS_EXPORT int32_t ms_session_closed(ms_ctx *ctx, int32_t sid, int32_t reason, uint32_t msg_len) {
  int rc = 0;
  /* a closed session nothing uses is released at once; ids are never
   * reused, so a known past id here is a repeated report: a no-op */
  if (ctx && sid > 0 && sid < ctx->next_id && !ms__session_get(ctx, sid)) return 0;
  ms_session *s = ms__session_enter(ctx, sid, 0, &rc);
  if (!s) return rc;
  if (s->state == MS_SESS_CLOSED) return 0;
  if (msg_len > ctx->input.cap) msg_len = 0;
  const char *msg = (const char *)ctx->input.data;
  int was_closing = s->state == MS_SESS_CLOSING;
  s->state = MS_SESS_CLOSED;
  const char *why = reason == MS_CLOSE_OPEN_FAILED ? "open-failed"
                    : reason == MS_CLOSE_EXITED && !was_closing ? "exited"
                                                                : "closed";
  if (!s->err.code) {
    if (reason == MS_CLOSE_OPEN_FAILED)
      ms_err_set(&s->err, MS_ERR_CONNECT, "could not start server '%s': %.*s", s->name,
                 (int)msg_len, msg);
    else if (!was_closing)
      ms_err_set(&s->err, MS_ERR_TRANSPORT_CLOSED, "server '%s' exited%s%.*s", s->name,
                 msg_len ? ": " : "", (int)msg_len, msg);
    else
      ms_err_set(&s->err, MS_ERR_TRANSPORT_CLOSED, "the session with server '%s' was closed",
                 s->name);
  }
  if (s->rsv_closed_event)
    ms__event_reserved(ctx, "session-close", MS_SUBJECT(s), s->owner == MS_OWNER_STREAM ? s->owner_id : 0, why,
                       s->rsv_event_bytes);
  else
    ms__event(ctx, "session-close", MS_SUBJECT(s), s->owner == MS_OWNER_STREAM ? s->owner_id : 0, why);
  s->rsv_closed_event = 0;
  /* everything in flight fails, in the order it was sent */
  while (s->nreqs) {
    ms_req r = ms__req_take(s, 0);
    ms_free(r.pending);
    ms__req_fail(ctx, s, &r, &s->err);
  }
  ms__session_finish_tool_waits(ctx, s, &s->err);
  ms__session_changed(ctx, s);
  ms__owner_check(ctx);
  ms__session_release_closed(s); /* nothing reads the rest any more */
  ms__session_collect(ctx, s);
  return 0;
}

MS_EXPORT int32_t ms_session_set_limit(ms_ctx *ctx, int32_t sid, int32_t which, int32_t value) {
  int rc = 0;
  ms_session *s = ms__session_enter(ctx, sid, 0, &rc);
  if (!s) return rc;
  if (value <= 0) return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "a limit must be positive");
  switch (which) {
    case MS_LIMIT_MESSAGE_BYTES: s->framer.max = (size_t)value; return 0;
    case MS_LIMIT_TIMEOUT_MS: s->timeout_ms = value; return 0;
    case MS_LIMIT_MAX_TOTAL_TIMEOUT_MS: s->max_total_ms = value; return 0;
    default: return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "limit %d cannot be set per session", (int)which);
  }
}

MS_EXPORT int32_t ms_session_state(ms_ctx *ctx, int32_t sid) {
  int rc = 0;
  ms_session *s = ms__session_enter(ctx, sid, 0, &rc);
  if (!s) return rc;
  int h = ms__session_health(s);
  if (h < 0) ms__fail(ctx, h, "%s", s->err.len ? s->err.msg : "the session is closed");
  return h;
}

MS_EXPORT int32_t ms_session_request(ms_ctx *ctx, int32_t sid, int32_t op_id, int32_t flags,
                                     uint32_t method_len, uint32_t params_len, int32_t timeout_ms) {
  int rc = 0;
  ms_session *s = ms__session_enter(ctx, sid, 0, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  if (method_len == 0 || (size_t)method_len + params_len > ctx->input.cap)
    return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "a method name is required");
  int h = ms__session_health(s); /* negative from CLOSING on */
  if (h < 0) {
    ms_err e;
    if (s->err.len) e = s->err;
    else ms_err_set(&e, 0, "the session with server '%s' is closing; %.*s was not sent", s->name,
                    (int)(method_len > 64 ? 64 : method_len), (const char *)ctx->input.data);
    return ms__op_fail(ctx, op_id, h, e.msg, e.len), 0;
  }
  char *method = ms_strndup((const char *)ctx->input.data, method_len);
  cJSON *params = NULL;
  if (!method) return ms__fail(ctx, MS_ERR_NOMEM, "out of memory");
  /* params that the scanner finds to be one object (the host's JSON.stringify
   * text) are sent as they are, without a tree and without printing one; with
   * a progress token to add, a lone surrogate escape or \u0000 (which the
   * parser's printing changes), or text the scanner refuses (cJSON is more
   * lenient), they are parsed and printed as before. So are params with a raw
   * CR or LF (whitespace between tokens: a string cannot hold one): sent as
   * written, a newline would end the NDJSON line inside the params and let
   * what follows it read as a message of its own */
  const char *ptext = (const char *)ctx->input.data + method_len;
  ms_jspan pv = {NULL, 0, MS_JT_NONE};
  unsigned pflags = 0;
  int as_text = params_len && !(flags & MS_REQ_PROGRESS) &&
                ms_json_scan(ptext, params_len, &pv, &pflags, NULL, NULL) && pv.type == MS_JT_OBJECT &&
                !(pflags & (MS_JSON_SURROGATE | MS_JSON_NUL)) &&
                ms_find_byte((const uint8_t *)pv.p, pv.n, '\n') == pv.n &&
                ms_find_byte((const uint8_t *)pv.p, pv.n, '\r') == pv.n;
  if (params_len && !as_text) {
    params = ms__json_parse((const char *)ctx->input.data + method_len, params_len);
    if (!cJSON_IsObject(params)) {
      cJSON_Delete(params);
      ms_free(method);
      return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "params of %.*s must be a JSON object",
                      (int)method_len, (const char *)ctx->input.data);
    }
  }
  ms_req *r = ms__req_add(ctx, s, MS_REQ_OP, op_id, method, timeout_ms);
  if (!r) {
    rc = s->nreqs >= ctx->max_pending
             ? ms__fail(ctx, MS_ERR_LIMIT, "server '%s' has %zu requests pending (the limit)", s->name, ctx->max_pending)
             : ms__fail(ctx, MS_ERR_NOMEM, "out of memory");
  } else {
    if (flags & MS_REQ_PROGRESS) {
      cJSON *meta;
      if (!params) params = cJSON_CreateObject();
      meta = params ? cJSON_GetObjectItemCaseSensitive(params, "_meta") : NULL;
      if (params && !meta) meta = cJSON_AddObjectToObject(params, "_meta");
      if (cJSON_IsObject(meta)) {
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "progressToken");
        if (cJSON_AddNumberToObject(meta, "progressToken", (double)r->rpc_id)) r->progress = 1;
      }
    }
    rc = as_text ? ms__req_send_text(ctx, s, r, method, pv.p, pv.n) : ms__req_send(ctx, s, r, method, params);
    if (rc) {
      s->nreqs--; /* r is the last one */
      rc = ms__fail(ctx, rc, "out of memory");
    }
  }
  cJSON_Delete(params);
  ms_free(method);
  return rc;
}

MS_EXPORT int32_t ms_session_list_tools(ms_ctx *ctx, int32_t sid, int32_t op_id) {
  int rc = 0;
  ms_session *s = ms__session_enter(ctx, sid, 0, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  int h = ms__session_health(s);
  if (h < 0) return ms__op_fail(ctx, op_id, h, s->err.msg, s->err.len), 0;
  if (s->has_tools) return ms__op_done_tools(ctx, s, op_id), 0;
  if (s->ntool_waits == s->captool_waits) {
    size_t cap = s->captool_waits ? s->captool_waits * 2 : 4;
    int32_t *w = ms_realloc(s->tool_waits, cap * sizeof *w);
    if (!w) return ms__fail(ctx, MS_ERR_NOMEM, "out of memory");
    s->tool_waits = w;
    s->captool_waits = cap;
  }
  s->tool_waits[s->ntool_waits++] = op_id;
  rc = ms__session_want_tools(ctx, s);
  return rc ? ms__fail(ctx, rc, "out of memory") : 0;
}

MS_EXPORT int32_t ms_session_cancel(ms_ctx *ctx, int32_t sid, int32_t op_id, int32_t timeout) {
  int rc = 0;
  ms_session *s = ms__session_enter(ctx, sid, 0, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  for (size_t i = 0; i < s->nreqs; i++) {
    if (s->reqs[i].kind != MS_REQ_OP || s->reqs[i].op_id != op_id) continue;
    ms_req r = ms__req_take(s, i);
    int was_sent = r.pending == NULL;
    ms_free(r.pending);
    const char *why = timeout ? "timed out" : "cancelled by the client";
    if (was_sent && s->state == MS_SESS_READY) ms__req_send_cancelled(ctx, s, r.rpc_id, why, 0);
    ms__event(ctx, "request-cancel", MS_SUBJECT(s), 0, timeout ? "timeout" : "cancel");
    ms_err e;
    ms_err_set(&e, timeout ? MS_ERR_TIMEOUT : MS_ERR_CANCELLED, "request to server '%s' %s",
               s->name, why);
    ms__op_fail(ctx, op_id, e.code, e.msg, e.len);
    return 0;
  }
  return 0; /* already finished */
}

/* ---- client capabilities: server requests the host answers ------------------- */

MS_EXPORT int32_t ms_session_set_capabilities(ms_ctx *ctx, int32_t sid, int32_t caps) {
  int rc = 0;
  ms_session *s = ms__session_enter(ctx, sid, 0, &rc);
  if (!s) return rc;
  if (caps & ~(MS_CAP_SAMPLING | MS_CAP_ELICITATION | MS_CAP_ROOTS))
    return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "unknown capability bits %d", (int)caps);
  if (s->state != MS_SESS_OPENING)
    return ms__fail(ctx, MS_ERR_STATE, "capabilities are declared before the session initializes");
  s->caps = caps;
  return 0;
}

MS_EXPORT int32_t ms_session_respond(ms_ctx *ctx, int32_t sid, uint32_t id_len, uint32_t body_len,
                                     int32_t err_code) {
  int rc = 0;
  ms_session *s = ms__session_enter(ctx, sid, 0, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  if ((size_t)id_len + body_len > ctx->input.cap || id_len == 0)
    return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "an id is required");
  if (s->state == MS_SESS_CLOSING || s->state == MS_SESS_CLOSED) return 0;
  const char *in = (const char *)ctx->input.data;
  cJSON *id = ms__json_parse(in, id_len);
  cJSON *result = NULL;
  char *msg = NULL;
  if (!id || !(cJSON_IsNumber(id) || cJSON_IsString(id))) {
    cJSON_Delete(id);
    return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "the id must be a JSON number or string");
  }
  if (err_code == 0) {
    result = ms__json_parse(in + id_len, body_len);
    if (!cJSON_IsObject(result)) {
      cJSON_Delete(id);
      cJSON_Delete(result);
      return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "the result must be a JSON object");
    }
  } else {
    msg = ms_strndup(in + id_len, body_len);
  }
  ms_buf b = {0};
  rc = (err_code != 0 && !msg) ? MS_ERR_NOMEM : ms_rpc_build_response(&b, id, result, err_code, msg);
  if (!rc) rc = ms__fx(ctx, MS_FX_SEND, s->id, 0, 0, b.data, b.len);
  ms_buf_free(&b);
  ms_free(msg);
  cJSON_Delete(result);
  cJSON_Delete(id);
  return rc ? ms__fail(ctx, rc, "out of memory") : 0;
}

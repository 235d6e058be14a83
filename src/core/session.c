/* session.c — the MCP client session state machine (one server connection).
 *
 * OPENING --opened--> INIT --initialize result--> READY --close--> CLOSING
 *    \_______________________________________________________________\--closed--> CLOSED
 *
 * Messages from the server are handled strictly in arrival order, one at a
 * time, as the framer reports them. */
#include <stdio.h>
#include <string.h>

#include "core.h"

#define MS_PROTOCOL_LATEST "2025-11-25"
static const char *const supported_protocols[] = {"2025-11-25", "2025-06-18", "2025-03-26"};

/* ---- helpers ------------------------------------------------------------ */

static int log_text(ms_ctx *ctx, const ms_session *s, int level, const char *msg, size_t len) {
  return ms__fx(ctx, MS_FX_LOG, s ? s->id : 0, level, 0, msg, len);
}

static int logf_(ms_ctx *ctx, const ms_session *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int logf_(ms_ctx *ctx, const ms_session *s, int level, const char *fmt, ...) {
  ms_err e;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(e.msg, sizeof e.msg, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof e.msg) n = (int)sizeof e.msg - 1;
  return log_text(ctx, s, level, e.msg, (size_t)n);
}

static int send_buf(ms_ctx *ctx, ms_session *s, const ms_buf *b) {
  return ms__fx(ctx, MS_FX_SEND, s->id, 0, 0, b->data, b->len);
}

/* A SEND that tells an HTTP host what it carries: b = the JSON-RPC id of the
 * request it is (or of the request it cancels), c = MS_SEND_* (mcpstream.h). */
static int send_tagged(ms_ctx *ctx, ms_session *s, const void *p, size_t len, int64_t id,
                       int flags) {
  return ms__fx(ctx, MS_FX_SEND, s->id, (int32_t)id, flags, p, len);
}

static ms_req *add_req(ms_ctx *ctx, ms_session *s, int kind, int32_t op_id, const char *method,
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
  snprintf(r->method, sizeof r->method, "%s", method);
  r->timeout_ms = timeout_ms > 0 ? timeout_ms : s->timeout_ms;
  r->idle_deadline = ctx->now + r->timeout_ms;
  r->total_deadline = ctx->now + s->max_total_ms;
  return r;
}

static ptrdiff_t find_req(const ms_session *s, int64_t rpc_id) {
  for (size_t i = 0; i < s->nreqs; i++)
    if (s->reqs[i].rpc_id == rpc_id) return (ptrdiff_t)i;
  return -1;
}

/* Removes request i from the table and returns it (the caller frees pending). */
static ms_req take_req(ms_session *s, size_t i) {
  ms_req r = s->reqs[i];
  memmove(s->reqs + i, s->reqs + i + 1, (s->nreqs - i - 1) * sizeof *s->reqs);
  s->nreqs--;
  return r;
}

/* Builds and sends (or keeps until ready) a request for r. */
static int send_req(ms_ctx *ctx, ms_session *s, ms_req *r, const char *method,
                    const cJSON *params) {
  ms_buf b = {0};
  int rc = ms_rpc_build(&b, r->rpc_id, method, params);
  if (!rc) {
    if (s->state == MS_SESS_READY || r->kind == MS_REQ_INIT) {
      rc = send_tagged(ctx, s, b.data, b.len, r->rpc_id,
                       r->kind == MS_REQ_INIT ? MS_SEND_INITIALIZE : 0);
    } else {
      r->pending = ms_strndup((const char *)b.data, b.len);
      if (!r->pending) rc = MS_ERR_NOMEM;
    }
  }
  ms_buf_free(&b);
  return rc;
}

static int op_done_json(ms_ctx *ctx, ms_session *ss, int32_t op_id, const cJSON *v) {
  char *s = ms__json_print(v);
  if (!s && ss->acct->exceeded) {
    ms_err e;
    ms_err_set(&e, MS_ERR_LIMIT, "the answer of server '%s' needs more than the session's memory "
               "budget of %zu bytes (limits.streamMemoryBytes)", ss->name, ss->acct->limit);
    return ms__op_fail(ctx, op_id, e.code, e.msg, e.len);
  }
  if (!s) {
    ms_err e;
    ms_err_set(&e, MS_ERR_NOMEM, "out of memory taking the answer of server '%s'", ss->name);
    return ms__op_fail(ctx, op_id, e.code, e.msg, e.len);
  }
  int rc = ms__fx(ctx, MS_FX_OP_DONE, op_id, 0, 0, s, strlen(s));
  ms_free(s);
  return rc;
}

/* Completes every waiter of the tool list with the list or with err. */
static void finish_tool_waits(ms_ctx *ctx, ms_session *s, const ms_err *err) {
  for (size_t i = 0; i < s->ntool_waits; i++) {
    if (err) ms__op_fail(ctx, s->tool_waits[i], err->code, err->msg, err->len);
    else op_done_json(ctx, s, s->tool_waits[i], s->tools);
  }
  s->ntool_waits = 0;
}

/* The session cannot go on: record why, close it (once). */
static void session_fail(ms_ctx *ctx, ms_session *s, int code, const char *msg) {
  if (!s->err.code && code == MS_ERR_NOMEM && s->acct->exceeded)
    ms_err_set(&s->err, MS_ERR_LIMIT,
               "server '%s' sent more than the session's memory budget of %zu bytes can hold "
               "(limits.streamMemoryBytes)", s->name, s->acct->limit);
  if (!s->err.code) /* every message names the server */
    ms_err_set(&s->err, code, strstr(msg, "server '") ? "%s%s" : "server '%s': %s",
               strstr(msg, "server '") ? "" : s->name, msg);
  ms__session_close(ctx, s);
  ms__streams_session_changed(ctx, s->id);
}

/* Request r (already taken from the table) failed, or the session went away:
 * tell whoever waits. The session's own requests (initialize, tools/list)
 * cannot fail alone: the session fails with them. */
static void fail_req(ms_ctx *ctx, ms_session *s, ms_req *r, const ms_err *err) {
  if (r->kind == MS_REQ_OP) ms__op_fail(ctx, r->op_id, err->code, err->msg, err->len);
  else if (r->kind == MS_REQ_STREAM_TOOL)
    ms__stream_tool_done(ctx, r->op_id, r->rpc_id, NULL, err->code, err->msg);
  else if (r->kind == MS_REQ_LIST_TOOLS) {
    s->listing = 0;
    session_fail(ctx, s, err->code, err->msg);
  } else if (r->kind == MS_REQ_INIT && s->state == MS_SESS_INIT) {
    session_fail(ctx, s, err->code, err->msg);
  }
}

int ms__session_health(const ms_session *s) {
  if (s->state == MS_SESS_READY) return 1;
  if (s->state == MS_SESS_OPENING || s->state == MS_SESS_INIT) return s->err.code ? s->err.code : 0;
  return s->err.code ? s->err.code : MS_ERR_TRANSPORT_CLOSED;
}

/* ---- creation, opening, closing ------------------------------------------ */

int ms__session_create(ms_ctx *ctx, const char *name, size_t name_len, int owner,
                       int32_t owner_id, ms_session **out) {
  *out = NULL;
  ms_session *s = ms_malloc(sizeof *s);
  if (!s) return MS_ERR_NOMEM;
  memset(s, 0, sizeof *s);
  s->name = ms_strndup(name, name_len);
  s->acct = ms_account_new(ctx->max_memory);
  if (!s->name || !s->acct || ms__add_session(ctx, s)) {
    ms_account_release(s->acct);
    ms_free(s->name);
    ms_free(s);
    return MS_ERR_NOMEM;
  }
  /* recorded: from here on the session is the owner's, whatever fails */
  s->id = ms__new_id(ctx);
  s->owner = owner;
  s->owner_id = owner_id;
  s->state = MS_SESS_OPENING;
  s->next_rpc = 1;
  s->timeout_ms = ctx->timeout_ms;
  s->max_total_ms = ctx->max_total_ms;
  ms_ndjson_init(&s->framer, ctx->max_message);
  *out = s;

  /* the effects of its end (CLOSE, session-close) are reserved first: they
   * must not depend on an allocation succeeding when they are due */
  size_t event_bytes = ms__event_bound(name_len, "session-close", MS_REASON_MAX);
  int rc = ms__fx_reserve(ctx, 2, event_bytes);
  if (!rc) {
    s->rsv_close = s->rsv_closed_event = 1;
    s->rsv_event_bytes = event_bytes;
  }
  /* the session-open event and the OPEN are queued together or not at all */
  size_t nfx = ctx->nfx, payload_len = ctx->fx_payload.len;
  ms_buf b = {0};
  if (!rc) rc = ms_buf_append_str(&b, "{\"server\":");
  rc |= ms_buf_append_json_string(&b, s->name, name_len);
  rc |= ms_buf_append_str(&b, ",\"owner\":\"");
  rc |= ms_buf_append_str(&b, ms__owner_name(owner));
  rc |= ms_buf_append_str(&b, "\",\"ownerId\":");
  rc |= ms_buf_append_int(&b, owner_id);
  rc |= ms_buf_append_byte(&b, '}');
  if (!rc) rc = ms__event(ctx, "session-open", s, owner == MS_OWNER_STREAM ? owner_id : 0, NULL);
  if (!rc) rc = ms__fx(ctx, MS_FX_OPEN, s->id, 0, 0, b.data, b.len);
  ms_buf_free(&b);
  if (rc) {
    /* nothing was asked of the host: the session never opened */
    ctx->nfx = nfx;
    ctx->fx_payload.len = payload_len;
    s->state = MS_SESS_CLOSED;
    ms_err_set(&s->err, MS_ERR_NOMEM, "out of memory opening server '%s'", s->name);
    return MS_ERR_NOMEM;
  }
  return 0;
}

int ms__session_close(ms_ctx *ctx, ms_session *s) {
  if (s->state == MS_SESS_CLOSING || s->state == MS_SESS_CLOSED) return 0;
  int rc = s->rsv_close ? ms__fx_reserved(ctx, MS_FX_CLOSE, s->id, 0, 0, NULL, 0, 0)
                        : ms__fx(ctx, MS_FX_CLOSE, s->id, 0, 0, NULL, 0);
  if (rc) return rc;
  s->rsv_close = 0;
  s->state = MS_SESS_CLOSING;
  return 0;
}

/* Gives back what the session reserved and did not use. */
static void session_unreserve(ms_ctx *ctx, ms_session *s) {
  ms__fx_unreserve(ctx, (size_t)(s->rsv_close + s->rsv_closed_event),
                   s->rsv_closed_event ? s->rsv_event_bytes : 0);
  s->rsv_close = s->rsv_closed_event = 0;
}

void ms__session_free(ms_session *s) {
  if (!s) return;
  for (size_t i = 0; i < s->nreqs; i++) ms_free(s->reqs[i].pending);
  ms_free(s->reqs);
  ms_free(s->tool_waits);
  cJSON_Delete(s->tools);
  cJSON_Delete(s->tools_partial);
  ms_ndjson_free(&s->framer);
  ms__session_http_free(s);
  ms_free(s->name);
  ms_account_release(s->acct);
  ms_free(s);
}

void ms__session_collect(ms_ctx *ctx, ms_session *s) {
  if (s->state != MS_SESS_CLOSED || s->refs > 0) return;
  session_unreserve(ctx, s);
  for (size_t i = 0; i < ctx->nsessions; i++) {
    if (ctx->sessions[i] != s) continue;
    memmove(ctx->sessions + i, ctx->sessions + i + 1, (ctx->nsessions - i - 1) * sizeof *ctx->sessions);
    ctx->nsessions--;
    break;
  }
  ms__session_free(s);
}

static int send_initialize(ms_ctx *ctx, ms_session *s) {
  cJSON *p = cJSON_CreateObject();
  cJSON *info = cJSON_CreateObject();
  int ok = p && info && cJSON_AddStringToObject(p, "protocolVersion", MS_PROTOCOL_LATEST) &&
           cJSON_AddObjectToObject(p, "capabilities") &&
           cJSON_AddStringToObject(info, "name", "mcpstream") &&
           cJSON_AddStringToObject(info, "version", "0.1.0");
  if (ok && cJSON_AddItemToObject(p, "clientInfo", info)) info = NULL; /* p owns it now */
  else ok = 0;
  int rc = MS_ERR_NOMEM;
  ms_req *r = ok ? add_req(ctx, s, MS_REQ_INIT, 0, "initialize", 0) : NULL;
  if (r) rc = send_req(ctx, s, r, "initialize", p);
  cJSON_Delete(info);
  cJSON_Delete(p);
  if (!rc) s->state = MS_SESS_INIT;
  return rc;
}

/* ---- incoming messages ----------------------------------------------------- */

static void on_initialized(ms_ctx *ctx, ms_session *s, const cJSON *result) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(result, "protocolVersion");
  const char *ver = cJSON_IsString(v) ? v->valuestring : NULL;
  int ok = 0;
  for (size_t i = 0; ver && i < sizeof supported_protocols / sizeof *supported_protocols; i++)
    if (strcmp(ver, supported_protocols[i]) == 0) ok = 1;
  if (!ok) {
    ms_err e;
    ms_err_set(&e, MS_ERR_PROTOCOL,
               "server '%s' answered initialize with protocol version %s%s%s; mcpstream speaks "
               "2025-11-25, 2025-06-18 and 2025-03-26",
               s->name, ver ? "\"" : "", ver ? ver : "(none)", ver ? "\"" : "");
    session_fail(ctx, s, e.code, e.msg);
    return;
  }
  snprintf(s->protocol, sizeof s->protocol, "%s", ver);
  ms_buf b = {0};
  int rc = ms__fx(ctx, MS_FX_PROTOCOL, s->id, 0, 0, s->protocol, strlen(s->protocol));
  if (!rc) rc = ms_rpc_build(&b, -1, "notifications/initialized", NULL);
  if (!rc) rc = send_tagged(ctx, s, b.data, b.len, 0, MS_SEND_INITIALIZED);
  ms_buf_free(&b);
  s->state = MS_SESS_READY;
  /* send what was asked for while opening, in order */
  for (size_t i = 0; !rc && i < s->nreqs; i++) {
    ms_req *r = &s->reqs[i];
    if (!r->pending) continue;
    rc = send_tagged(ctx, s, r->pending, strlen(r->pending), r->rpc_id, 0);
    ms_free(r->pending);
    r->pending = NULL;
  }
  if (!rc && s->ntool_waits) rc = ms__session_want_tools(ctx, s);
  if (rc) session_fail(ctx, s, MS_ERR_NOMEM, "out of memory");
  ms__streams_session_changed(ctx, s->id);
}

static int send_list_tools(ms_ctx *ctx, ms_session *s, const char *cursor) {
  ms_req *r = add_req(ctx, s, MS_REQ_LIST_TOOLS, 0, "tools/list", 0);
  if (!r) return MS_ERR_NOMEM;
  cJSON *p = NULL;
  if (cursor) {
    p = cJSON_CreateObject();
    if (!p || !cJSON_AddStringToObject(p, "cursor", cursor)) {
      cJSON_Delete(p);
      return MS_ERR_NOMEM;
    }
  }
  int rc = send_req(ctx, s, r, "tools/list", p);
  cJSON_Delete(p);
  if (!rc) s->listing = 1;
  return rc;
}

int ms__session_want_tools(ms_ctx *ctx, ms_session *s) {
  if (s->state != MS_SESS_READY || s->tools || s->listing) return 0;
  cJSON_Delete(s->tools_partial);
  s->tools_partial = cJSON_CreateArray();
  if (!s->tools_partial) return MS_ERR_NOMEM;
  s->pages = 0;
  return send_list_tools(ctx, s, NULL);
}

static void on_tools_page(ms_ctx *ctx, ms_session *s, const cJSON *result, const cJSON *error) {
  s->listing = 0;
  if (error) {
    /* a server without tools: an empty list, and a warning */
    logf_(ctx, s, 2, "server '%s' failed tools/list; using no tools from it", s->name);
  } else {
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(result, "tools");
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
      const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
      if (!cJSON_IsObject(t) || !cJSON_IsString(name)) continue;
      cJSON *copy = cJSON_Duplicate(t, 1);
      if (!copy || !cJSON_AddItemToArray(s->tools_partial, copy)) {
        cJSON_Delete(copy);
        session_fail(ctx, s, MS_ERR_NOMEM, "out of memory listing tools");
        return;
      }
    }
    const cJSON *cursor = cJSON_GetObjectItemCaseSensitive(result, "nextCursor");
    if (cJSON_IsString(cursor) && cursor->valuestring[0]) {
      if (++s->pages >= MS_MAX_TOOL_PAGES) {
        ms_err e;
        ms_err_set(&e, MS_ERR_PROTOCOL, "server '%s' paginated tools/list past %d pages",
                   s->name, MS_MAX_TOOL_PAGES);
        session_fail(ctx, s, e.code, e.msg);
        return;
      }
      if (send_list_tools(ctx, s, cursor->valuestring))
        session_fail(ctx, s, MS_ERR_NOMEM, "out of memory listing tools");
      return;
    }
  }
  cJSON_Delete(s->tools);
  s->tools = s->tools_partial;
  s->tools_partial = NULL;
  finish_tool_waits(ctx, s, NULL);
  ms__streams_session_changed(ctx, s->id);
}

static void on_response(ms_ctx *ctx, ms_session *s, const cJSON *msg, int type) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
  ptrdiff_t i = find_req(s, ms_rpc_int_id(id));
  if (i >= 0 && s->reqs[i].pending) i = -1; /* not sent yet: the server cannot answer it */
  if (i < 0) {
    logf_(ctx, s, 2, "skipped a response from server '%s' with an unknown or duplicate id",
          s->name);
    return;
  }
  ms_req r = take_req(s, (size_t)i);
  ms_free(r.pending);
  const cJSON *result = cJSON_GetObjectItemCaseSensitive(msg, "result");
  const cJSON *error = type == MS_RPC_ERROR ? cJSON_GetObjectItemCaseSensitive(msg, "error") : NULL;
  ms_err e = {0};
  if (type == MS_RPC_BAD_RESPONSE) { /* matched, not acceptable: it still settles */
    const cJSON *any_error = cJSON_GetObjectItemCaseSensitive(msg, "error");
    ms_err_set(&e, MS_ERR_PROTOCOL, "server '%s' answered %s with a response that has %s", s->name,
               r.method, result && any_error ? "both \"result\" and \"error\""
                         : any_error          ? "an \"error\" that is not an object"
                                              : "neither \"result\" nor \"error\"");
    fail_req(ctx, s, &r, &e);
    return;
  }
  if (error) {
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(error, "message");
    ms_err_set(&e, MS_ERR_MCP, "server '%s' answered with error %d: %s", s->name,
               cJSON_IsNumber(code) ? code->valueint : 0,
               cJSON_IsString(m) ? m->valuestring : "(no message)");
  }
  switch (r.kind) {
    case MS_REQ_INIT:
      /* closing already (closed by its owner, or failed): an answer that comes
       * late must not make the session ready again (it would be closed twice) */
      if (s->state != MS_SESS_INIT) break;
      if (error) session_fail(ctx, s, MS_ERR_PROTOCOL, e.msg);
      else if (!cJSON_IsObject(result)) {
        ms_err_set(&e, MS_ERR_PROTOCOL, "server '%s' answered initialize with a result that is not an object", s->name);
        session_fail(ctx, s, MS_ERR_PROTOCOL, e.msg);
      }
      else on_initialized(ctx, s, result);
      break;
    case MS_REQ_LIST_TOOLS: on_tools_page(ctx, s, result, error); break;
    case MS_REQ_OP:
      if (error) ms__op_fail(ctx, r.op_id, e.code, e.msg, e.len);
      else op_done_json(ctx, s, r.op_id, result);
      break;
    case MS_REQ_STREAM_TOOL:
      ms__stream_tool_done(ctx, r.op_id, r.rpc_id, error ? NULL : result, e.code, e.msg);
      break;
  }
}

static void on_progress(ms_ctx *ctx, ms_session *s, const cJSON *params) {
  const cJSON *tok = cJSON_GetObjectItemCaseSensitive(params, "progressToken");
  ptrdiff_t i = find_req(s, ms_rpc_int_id(tok));
  if (i < 0 || !s->reqs[i].progress) return; /* late progress of a finished request */
  ms_req *r = &s->reqs[i];
  r->idle_deadline = ctx->now + r->timeout_ms; /* progress resets the timeout */
  if (r->kind == MS_REQ_OP) {
    char *p = ms__json_print(params);
    if (p) ms__fx(ctx, MS_FX_OP_PROGRESS, r->op_id, 0, 0, p, strlen(p));
    ms_free(p);
  } else if (r->kind == MS_REQ_STREAM_TOOL) {
    ms__stream_tool_progress(ctx, r->op_id, r->rpc_id, params);
  }
}

static void on_server_request(ms_ctx *ctx, ms_session *s, const cJSON *msg) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
  const char *method = cJSON_GetObjectItemCaseSensitive(msg, "method")->valuestring;
  ms_buf b = {0};
  int rc;
  if (strcmp(method, "ping") == 0) {
    rc = ms_rpc_build_response(&b, id, NULL, 0, NULL);
  } else {
    ms_err e;
    ms_err_set(&e, 0, "Method not found: %s (mcpstream does not offer it yet)", method);
    rc = ms_rpc_build_response(&b, id, NULL, -32601, e.msg);
  }
  if (!rc) rc = send_buf(ctx, s, &b);
  ms_buf_free(&b);
}

static void on_notification(ms_ctx *ctx, ms_session *s, const cJSON *msg) {
  const char *method = cJSON_GetObjectItemCaseSensitive(msg, "method")->valuestring;
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
  if (strcmp(method, "notifications/progress") == 0) {
    on_progress(ctx, s, params);
  } else if (strcmp(method, "notifications/tools/list_changed") == 0) {
    cJSON_Delete(s->tools);
    s->tools = NULL; /* listed again on next use */
  } else if (strcmp(method, "notifications/message") == 0) {
    char *p = ms__json_print(params);
    if (p) log_text(ctx, s, 1, p, strlen(p));
    ms_free(p);
  }
}

/* Handles one parsed message (a batch element, or the whole message). */
static void dispatch(ms_ctx *ctx, ms_session *s, const cJSON *msg) {
  int type = ms_rpc_classify(msg);
  switch (type) {
    case MS_RPC_REQUEST: on_server_request(ctx, s, msg); break;
    case MS_RPC_NOTIFICATION: on_notification(ctx, s, msg); break;
    case MS_RPC_RESULT:
    case MS_RPC_ERROR:
    case MS_RPC_BAD_RESPONSE: on_response(ctx, s, msg, type); break;
    default:
      logf_(ctx, s, 2, "skipped a message from server '%s' that is not JSON-RPC 2.0", s->name);
  }
}

static void handle_message(ms_ctx *ctx, ms_session *s, const char *text, size_t len) {
  long failures = ms_alloc_failures();
  cJSON *msg = ms__json_parse(text, len);
  if (!msg && ms_alloc_failures() != failures) {
    /* a lost message (a response, say) would leave its request waiting forever */
    session_fail(ctx, s, MS_ERR_NOMEM, "out of memory reading a message from the server");
    return;
  }
  if (!msg) {
    logf_(ctx, s, 2, "skipped malformed JSON from server '%s': %.*s%s", s->name,
          (int)(len > 60 ? 60 : len), text, len > 60 ? "..." : "");
    return;
  }
  if (cJSON_IsArray(msg)) { /* a batch (2025-03-26): each element in order */
    if (!msg->child) logf_(ctx, s, 2, "skipped an empty batch from server '%s'", s->name);
    for (const cJSON *m = msg->child; m; m = m->next) dispatch(ctx, s, m);
  } else {
    dispatch(ctx, s, msg);
  }
  cJSON_Delete(msg);
}

/* A message over the size limit was dropped; head[0..n) are its first bytes.
 * A response whose id can be read there fails its request; a message that
 * starts with "method" (a notification, a server request) is skipped; when
 * nothing can be told (e.g. "result" comes before "id", as the TypeScript
 * SDK writes it), every request sent and not answered fails, as any of them
 * may have lost its answer. Failing is LIMIT_EXCEEDED. */
static void on_too_big(ms_ctx *ctx, ms_session *s, const char *head, size_t n, size_t limit) {
  int64_t id = -1;
  int what = ms_rpc_scan_head(head, n, &id);
  ptrdiff_t i = what == MS_HEAD_ID ? find_req(s, id) : -1;
  if (i >= 0 && s->reqs[i].pending) i = -1;
  ms_err e;
  if (i >= 0) {
    ms_req r = take_req(s, (size_t)i);
    ms_err_set(&e, MS_ERR_LIMIT,
               "server '%s' answered %s with a message over the %zu-byte limit (raise "
               "limits.messageBytes, or messageBytes in the server's config)",
               s->name, r.method, limit);
    fail_req(ctx, s, &r, &e);
    return;
  }
  int failed = 0;
  while (what == MS_HEAD_UNKNOWN) {
    size_t k = 0;
    while (k < s->nreqs && s->reqs[k].pending) k++;
    if (k == s->nreqs) break;
    ms_req r = take_req(s, k);
    ms_err_set(&e, MS_ERR_LIMIT,
               "server '%s' sent a message over the %zu-byte limit that may have been the answer "
               "to %s (its id could not be read, so every request waiting fails; raise "
               "limits.messageBytes, or messageBytes in the server's config)",
               s->name, limit, r.method);
    fail_req(ctx, s, &r, &e);
    failed++;
  }
  if (!failed)
    logf_(ctx, s, 2, "skipped a message from server '%s' over the %zu-byte limit", s->name, limit);
}

typedef struct feed_ctx {
  ms_ctx *ctx;
  ms_session *s;
} feed_ctx;

static int on_line(void *user, const char *line, size_t len) {
  feed_ctx *f = user;
  if (f->s->state == MS_SESS_CLOSED) return 0;
  if (!line) {
    on_too_big(f->ctx, f->s, (const char *)f->s->framer.head, f->s->framer.head_len, len);
    return 0;
  }
  handle_message(f->ctx, f->s, line, len);
  return 0;
}

/* ---- for transports that frame per response (session_http.c) ------------------ */

void ms__session_fail(ms_ctx *ctx, ms_session *s, int code, const char *msg) {
  session_fail(ctx, s, code, msg);
}

void ms__session_handle(ms_ctx *ctx, ms_session *s, const char *text, size_t len) {
  handle_message(ctx, s, text, len);
}

int ms__session_waiting(const ms_session *s, int64_t rpc_id) {
  ptrdiff_t i = rpc_id > 0 ? find_req(s, rpc_id) : -1;
  return i >= 0 && !s->reqs[i].pending;
}

void ms__session_lose(ms_ctx *ctx, ms_session *s, int64_t rpc_id, int code, const char *msg) {
  ptrdiff_t i = rpc_id > 0 ? find_req(s, rpc_id) : -1;
  if (i < 0 || s->reqs[i].pending) return;
  ms_req r = take_req(s, (size_t)i);
  ms_free(r.pending);
  ms_err e;
  ms_err_set(&e, code, "%s", msg);
  fail_req(ctx, s, &r, &e); /* initialize or tools/list: the session fails with them */
}

/* ---- exports ----------------------------------------------------------------- */

static ms_session *get_live(ms_ctx *ctx, int32_t sid, int *rc) {
  ms_session *s = ms__session_get(ctx, sid);
  if (!s) *rc = ctx ? ms__fail(ctx, MS_ERR_BAD_HANDLE, "no session %d", (int)sid)
                    : MS_ERR_INVALID_ARGUMENT;
  return s;
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
  ms_session *s = get_live(ctx, sid, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  if (s->state != MS_SESS_OPENING) return 0; /* closing already, or late */
  rc = send_initialize(ctx, s);
  if (rc) session_fail(ctx, s, rc, "out of memory sending initialize");
  return 0;
}

MS_EXPORT int32_t ms_session_feed(ms_ctx *ctx, int32_t sid, uint32_t len) {
  int rc = 0;
  ms_session *s = get_live(ctx, sid, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  if (len > ctx->input.cap) return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "feed longer than the input buffer");
  if (s->state == MS_SESS_CLOSED) return 0;
  feed_ctx f = {ctx, s};
  rc = ms_ndjson_feed(&s->framer, ctx->input.data, len, on_line, &f);
  if (rc) session_fail(ctx, s, rc, "out of memory reading from the server");
  return 0;
}

MS_EXPORT int32_t ms_session_feed_message(ms_ctx *ctx, int32_t sid, uint32_t len) {
  int rc = 0;
  ms_session *s = get_live(ctx, sid, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  if (len > ctx->input.cap) return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "feed longer than the input buffer");
  if (s->state == MS_SESS_CLOSED) return 0;
  if (len > s->framer.max) {
    on_too_big(ctx, s, (const char *)ctx->input.data, len < MS_NDJSON_HEAD ? len : MS_NDJSON_HEAD,
               s->framer.max);
    return 0;
  }
  handle_message(ctx, s, (const char *)ctx->input.data, len);
  return 0;
}

MS_EXPORT int32_t ms_session_closed(ms_ctx *ctx, int32_t sid, int32_t reason, uint32_t msg_len) {
  int rc = 0;
  /* a closed session nothing uses is released at once; ids are never
   * reused, so a known past id here is a repeated report: a no-op */
  if (ctx && sid > 0 && sid < ctx->next_id && !ms__session_get(ctx, sid)) return 0;
  ms_session *s = get_live(ctx, sid, &rc);
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
    ms__event_reserved(ctx, "session-close", s, s->owner == MS_OWNER_STREAM ? s->owner_id : 0, why,
                       s->rsv_event_bytes);
  else
    ms__event(ctx, "session-close", s, s->owner == MS_OWNER_STREAM ? s->owner_id : 0, why);
  s->rsv_closed_event = 0;
  /* everything in flight fails, in the order it was sent */
  while (s->nreqs) {
    ms_req r = take_req(s, 0);
    ms_free(r.pending);
    fail_req(ctx, s, &r, &s->err);
  }
  finish_tool_waits(ctx, s, &s->err);
  ms__streams_session_changed(ctx, s->id);
  ms__owner_check(ctx);
  ms__session_collect(ctx, s);
  return 0;
}

MS_EXPORT int32_t ms_session_set_limit(ms_ctx *ctx, int32_t sid, int32_t which, int32_t value) {
  int rc = 0;
  ms_session *s = get_live(ctx, sid, &rc);
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
  ms_session *s = get_live(ctx, sid, &rc);
  if (!s) return rc;
  int h = ms__session_health(s);
  if (h < 0) ms__fail(ctx, h, "%s", s->err.len ? s->err.msg : "the session is closed");
  return h;
}

MS_EXPORT int32_t ms_session_request(ms_ctx *ctx, int32_t sid, int32_t op_id, int32_t flags,
                                     uint32_t method_len, uint32_t params_len, int32_t timeout_ms) {
  int rc = 0;
  ms_session *s = get_live(ctx, sid, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  if (method_len == 0 || (size_t)method_len + params_len > ctx->input.cap)
    return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "a method name is required");
  int h = ms__session_health(s);
  if (h < 0 || s->state == MS_SESS_CLOSING) {
    ms_err e;
    if (s->err.len) e = s->err;
    else ms_err_set(&e, 0, "the session with server '%s' is closing; %.*s was not sent", s->name,
                    (int)(method_len > 64 ? 64 : method_len), (const char *)ctx->input.data);
    return ms__op_fail(ctx, op_id, h < 0 ? h : MS_ERR_TRANSPORT_CLOSED, e.msg, e.len), 0;
  }
  char *method = ms_strndup((const char *)ctx->input.data, method_len);
  cJSON *params = NULL;
  if (!method) return ms__fail(ctx, MS_ERR_NOMEM, "out of memory");
  if (params_len) {
    params = ms__json_parse((const char *)ctx->input.data + method_len, params_len);
    if (!cJSON_IsObject(params)) {
      cJSON_Delete(params);
      ms_free(method);
      return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "params of %.*s must be a JSON object",
                      (int)method_len, (const char *)ctx->input.data);
    }
  }
  ms_req *r = add_req(ctx, s, MS_REQ_OP, op_id, method, timeout_ms);
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
    rc = send_req(ctx, s, r, method, params);
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
  ms_session *s = get_live(ctx, sid, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  int h = ms__session_health(s);
  if (h < 0) return ms__op_fail(ctx, op_id, h, s->err.msg, s->err.len), 0;
  if (s->tools) return op_done_json(ctx, s, op_id, s->tools), 0;
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

/* Queues notifications/cancelled for rpc_id. Built without allocating (on
 * the stack) for the short reasons of the core; reserved: into room reserved
 * for it (1 record, MS_CANCEL_BYTES). */
static int send_cancelled(ms_ctx *ctx, ms_session *s, int64_t rpc_id, const char *reason,
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
    rc = send_tagged(ctx, s, b.data, b.len, rpc_id, MS_SEND_CANCEL);
  }
  if (b.data != stack) ms_buf_free(&b);
  return rc;
}

MS_EXPORT int32_t ms_session_cancel(ms_ctx *ctx, int32_t sid, int32_t op_id, int32_t timeout) {
  int rc = 0;
  ms_session *s = get_live(ctx, sid, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  for (size_t i = 0; i < s->nreqs; i++) {
    if (s->reqs[i].kind != MS_REQ_OP || s->reqs[i].op_id != op_id) continue;
    ms_req r = take_req(s, i);
    int was_sent = r.pending == NULL;
    ms_free(r.pending);
    const char *why = timeout ? "timed out" : "cancelled by the client";
    if (was_sent && s->state == MS_SESS_READY) send_cancelled(ctx, s, r.rpc_id, why, 0);
    ms__event(ctx, "request-cancel", s, 0, timeout ? "timeout" : "cancel");
    ms_err e;
    ms_err_set(&e, timeout ? MS_ERR_TIMEOUT : MS_ERR_CANCELLED, "request to server '%s' %s",
               s->name, why);
    ms__op_fail(ctx, op_id, e.code, e.msg, e.len);
    return 0;
  }
  return 0; /* already finished */
}

/* ---- used by streams ------------------------------------------------------------ */

int64_t ms__session_call_tool(ms_ctx *ctx, ms_session *s, int32_t st_id, const char *name,
                              const cJSON *args, int32_t timeout_ms) {
  if (s->state != MS_SESS_READY) return ms__session_health(s) < 0 ? ms__session_health(s) : MS_ERR_STATE;
  ms_req *r = add_req(ctx, s, MS_REQ_STREAM_TOOL, st_id, "tools/call", timeout_ms);
  if (!r) return s->nreqs >= ctx->max_pending ? MS_ERR_LIMIT : MS_ERR_NOMEM;
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
  int rc = ok ? send_req(ctx, s, r, "tools/call", p) : MS_ERR_NOMEM;
  cJSON_Delete(a);
  cJSON_Delete(p);
  if (rc) {
    ptrdiff_t i = find_req(s, id);
    if (i >= 0) take_req(s, (size_t)i);
    return rc;
  }
  return id;
}

int ms__session_cancel_rpc(ms_ctx *ctx, ms_session *s, int64_t rpc_id, int32_t st_id,
                           const char *reason, size_t rsv_event) {
  ptrdiff_t i = find_req(s, rpc_id);
  int sent = 0;
  if (i >= 0) {
    ms_req r = take_req(s, (size_t)i);
    int was_sent = r.pending == NULL;
    ms_free(r.pending);
    if (was_sent && s->state == MS_SESS_READY) {
      send_cancelled(ctx, s, rpc_id, reason, rsv_event > 0);
      sent = 1;
    }
  }
  if (rsv_event && !sent) ms__fx_unreserve(ctx, 1, MS_CANCEL_BYTES);
  if (i < 0) {
    if (rsv_event) ms__fx_unreserve(ctx, 1, rsv_event);
    return 0;
  }
  return rsv_event ? ms__event_reserved(ctx, "request-cancel", s, st_id, reason, rsv_event)
                   : ms__event(ctx, "request-cancel", s, st_id, reason);
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
    ms_req r = take_req(s, i); /* the table may change below: start over */
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
    if (cancel) send_cancelled(ctx, s, r.rpc_id, "timed out", 0);
    if (r.kind != MS_REQ_INIT)
      ms__event(ctx, "request-cancel", s, r.kind == MS_REQ_STREAM_TOOL ? r.op_id : 0, "timeout");
    fail_req(ctx, s, &r, &e);
  }
  return n;
}

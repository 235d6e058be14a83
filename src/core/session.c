/* session.c — the MCP client session state machine (one server connection).
 *
 * OPENING --opened--> INIT --initialize result--> READY --close--> CLOSING
 *    \_______________________________________________________________\--closed--> CLOSED
 *
 * Messages from the server are handled strictly in arrival order, one at a
 * time, as the framer reports them. */
#include <stdio.h>
#include <string.h>

#include "session.h"

#define MS_PROTOCOL_LATEST "2025-11-25"
static const char *const supported_protocols[] = {"2025-11-25", "2025-06-18", "2025-03-26"};

/* ---- helpers ------------------------------------------------------------ */

int ms__session_log(ms_ctx *ctx, const ms_session *s, int level, const char *msg, size_t len) {
  return ms__fx(ctx, MS_FX_LOG, s ? s->id : 0, level, 0, msg, len);
}

int ms__session_logf(ms_ctx *ctx, const ms_session *s, int level, const char *fmt, ...) {
  ms_err e;
  va_list ap;
  va_start(ap, fmt);
  ms_err_vset(&e, 0, fmt, ap);
  va_end(ap);
  return ms__session_log(ctx, s, level, e.msg, e.len);
}

static int send_buf(ms_ctx *ctx, ms_session *s, const ms_buf *b) {
  return ms__fx(ctx, MS_FX_SEND, s->id, 0, 0, b->data, b->len);
}

/* A SEND that tells an HTTP host what it carries: b = the JSON-RPC id of the
 * request it is (or of the request it cancels), c = MS_SEND_* (mcpstream.h). */
int ms__session_send(ms_ctx *ctx, ms_session *s, const void *p, size_t len, int64_t id,
                       int flags) {
  return ms__fx(ctx, MS_FX_SEND, s->id, (int32_t)id, flags, p, len);
}


/* Queues MS_FX_OP_DONE with text[0..len) (seam-allocated: the queue takes it
 * over), or, when text is NULL, the failure to make it. */
static int op_done_text(ms_ctx *ctx, ms_session *ss, int32_t op_id, char *text, size_t len) {
  ms_err e;
  if (!text && ss->acct->exceeded) {
    ms_err_set(&e, MS_ERR_LIMIT, "the answer of server '%s' needs more than the session's memory "
               "budget of %zu bytes (limits.streamMemoryBytes)", ss->name, ss->acct->limit);
    return ms__op_fail(ctx, op_id, e.code, e.msg, e.len);
  }
  /* the answer is the effect's payload as it is (not copied again) */
  if (text && ms__fx_adopt(ctx, MS_FX_OP_DONE, op_id, 0, 0, text, len) == 0) return 0;
  ms_err_set(&e, MS_ERR_NOMEM, "out of memory taking the answer of server '%s'", ss->name);
  return ms__op_fail(ctx, op_id, e.code, e.msg, e.len);
}

int ms__op_done_json(ms_ctx *ctx, ms_session *ss, int32_t op_id, const cJSON *v) {
  char *s = ms__json_print(v);
  return op_done_text(ctx, ss, op_id, s, s ? strlen(s) : 0);
}

int ms__op_done_tools(ms_ctx *ctx, ms_session *ss, int32_t op_id) {
  size_t len = 0;
  char *s = ms_tools_json(&ss->tools, &len);
  return op_done_text(ctx, ss, op_id, s, len);
}

/* Completes every waiter of the tool list with the list or with err. */
void ms__session_finish_tool_waits(ms_ctx *ctx, ms_session *s, const ms_err *err) {
  for (size_t i = 0; i < s->ntool_waits; i++) {
    if (err) ms__op_fail(ctx, s->tool_waits[i], err->code, err->msg, err->len);
    else ms__op_done_tools(ctx, s, s->tool_waits[i]);
  }
  s->ntool_waits = 0;
}

/* The session cannot go on: record why, close it (once). */
void ms__session_fail(ms_ctx *ctx, ms_session *s, int code, const char *msg) {
  if (!s->err.code && code == MS_ERR_NOMEM && s->acct->exceeded)
    ms_err_set(&s->err, MS_ERR_LIMIT,
               "server '%s' sent more than the session's memory budget of %zu bytes can hold "
               "(limits.streamMemoryBytes)", s->name, s->acct->limit);
  if (!s->err.code) /* every message names the server */
    ms_err_set(&s->err, code, strstr(msg, "server '") ? "%s%s" : "server '%s': %s",
               strstr(msg, "server '") ? "" : s->name, msg);
  ms__session_close(ctx, s);
  ms__session_changed(ctx, s);
}


/* Never 0 from CLOSING on: a closing or closed session is negative. */
int ms__session_health(const ms_session *s) {
  if (s->state == MS_SESS_READY) return 1;
  if (s->state == MS_SESS_OPENING || s->state == MS_SESS_INIT) return s->err.code ? s->err.code : 0;
  return s->err.code ? s->err.code : MS_ERR_TRANSPORT_CLOSED;
}

/* ---- what the layers above may read (core.h) ----------------------------- */

const char *ms__session_name(const ms_session *s) { return s->name; }
int32_t ms__session_id(const ms_session *s) { return s->id; }
const ms_err *ms__session_err(const ms_session *s) { return &s->err; }
const ms_tools *ms__session_tools(const ms_session *s) { return s->has_tools ? &s->tools : NULL; }
uint32_t ms__session_tools_gen(const ms_session *s) { return s->tools_gen; }
int ms__session_is_closed(const ms_session *s) { return s->state == MS_SESS_CLOSED; }
void ms__session_ref(ms_session *s) { s->refs++; }

void ms__session_unref(ms_ctx *ctx, ms_session *s) {
  s->refs--;
  ms__session_collect(ctx, s);
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
  if (!rc) rc = ms__event(ctx, "session-open", MS_SUBJECT(s), owner == MS_OWNER_STREAM ? owner_id : 0, NULL);
  if (!rc) rc = ms__fx(ctx, MS_FX_OPEN, s->id, owner, owner_id, s->name, name_len);
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
  ms_tools_clear(&s->tools);
  ms_tools_clear(&s->tools_partial);
  ms_ndjson_free(&s->framer);
  ms__session_http_free(s);
  ms_free(s->name);
  ms_account_release(s->acct);
  ms_free(s);
}

void ms__session_release_closed(ms_session *s) {
  ms_free(s->reqs);
  s->reqs = NULL;
  s->nreqs = s->capreqs = 0;
  ms_free(s->tool_waits);
  s->tool_waits = NULL;
  s->ntool_waits = s->captool_waits = 0;
  ms_tools_clear(&s->tools);
  ms_tools_clear(&s->tools_partial);
  s->has_tools = 0;
  ms_ndjson_free(&s->framer);
  ms__session_http_free(s);
}

void ms__session_collect(ms_ctx *ctx, ms_session *s) {
  if (s->state != MS_SESS_CLOSED || s->refs > 0) return;
  session_unreserve(ctx, s);
  ms__session_remove(ctx, s);
  ms__session_free(s);
}

int ms__session_send_initialize(ms_ctx *ctx, ms_session *s) {
  cJSON *p = cJSON_CreateObject();
  cJSON *info = cJSON_CreateObject();
  cJSON *caps = NULL;
  int ok = p && info && cJSON_AddStringToObject(p, "protocolVersion", MS_PROTOCOL_LATEST) &&
           (caps = cJSON_AddObjectToObject(p, "capabilities")) != NULL &&
           (!(s->caps & MS_CAP_SAMPLING) || cJSON_AddObjectToObject(caps, "sampling")) &&
           (!(s->caps & MS_CAP_ELICITATION) || cJSON_AddObjectToObject(caps, "elicitation")) &&
           (!(s->caps & MS_CAP_ROOTS) || cJSON_AddObjectToObject(caps, "roots")) &&
           cJSON_AddStringToObject(info, "name", "mcpstream") &&
           cJSON_AddStringToObject(info, "version", "0.1.0");
  if (ok && cJSON_AddItemToObject(p, "clientInfo", info)) info = NULL; /* p owns it now */
  else ok = 0;
  int rc = MS_ERR_NOMEM;
  ms_req *r = ok ? ms__req_add(ctx, s, MS_REQ_INIT, 0, "initialize", 0) : NULL;
  if (r) rc = ms__req_send(ctx, s, r, "initialize", p);
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
    ms__session_fail(ctx, s, e.code, e.msg);
    return;
  }
  snprintf(s->protocol, sizeof s->protocol, "%s", ver);
  ms_buf b = {0};
  int rc = ms__fx(ctx, MS_FX_PROTOCOL, s->id, 0, 0, s->protocol, strlen(s->protocol));
  if (!rc) rc = ms_rpc_build(&b, -1, "notifications/initialized", NULL);
  if (!rc) rc = ms__session_send(ctx, s, b.data, b.len, 0, MS_SEND_INITIALIZED);
  ms_buf_free(&b);
  s->state = MS_SESS_READY;
  /* send what was asked for while opening, in order */
  for (size_t i = 0; !rc && i < s->nreqs; i++) {
    ms_req *r = &s->reqs[i];
    if (!r->pending) continue;
    rc = ms__session_send(ctx, s, r->pending, strlen(r->pending), r->rpc_id, 0);
    ms_free(r->pending);
    r->pending = NULL;
  }
  if (!rc && s->ntool_waits) rc = ms__session_want_tools(ctx, s);
  if (rc) ms__session_fail(ctx, s, MS_ERR_NOMEM, "out of memory");
  ms__session_changed(ctx, s);
}

static int send_list_tools(ms_ctx *ctx, ms_session *s, const char *cursor) {
  ms_req *r = ms__req_add(ctx, s, MS_REQ_LIST_TOOLS, 0, "tools/list", 0);
  if (!r) return MS_ERR_NOMEM;
  cJSON *p = NULL;
  if (cursor) {
    p = cJSON_CreateObject();
    if (!p || !cJSON_AddStringToObject(p, "cursor", cursor)) {
      cJSON_Delete(p);
      return MS_ERR_NOMEM;
    }
  }
  int rc = ms__req_send(ctx, s, r, "tools/list", p);
  cJSON_Delete(p);
  if (!rc) s->listing = 1;
  return rc;
}

int ms__session_want_tools(ms_ctx *ctx, ms_session *s) {
  if (s->state != MS_SESS_READY || s->has_tools || s->listing) return 0;
  ms_tools_clear(&s->tools_partial);
  s->pages = 0;
  return send_list_tools(ctx, s, NULL);
}

/* The tool list is complete (every page read, or a failed tools/list: the
 * pages so far): it replaces the last one. */
static void tools_listed(ms_ctx *ctx, ms_session *s) {
  ms_tools_clear(&s->tools);
  s->tools = s->tools_partial;
  s->tools_partial = (ms_tools){0};
  s->has_tools = 1;
  s->tools_gen++;
  ms__session_finish_tool_waits(ctx, s, NULL);
  ms__session_changed(ctx, s);
}

/* One page of the tool list: `result` spans the "result" of the answer in
 * blob's text (blob: one reference, given up here; NULL when out of memory).
 * Its tools are kept as spans into that text, not as a tree. */
static void tools_page(ms_ctx *ctx, ms_session *s, ms_blob *blob, const ms_jspan *result) {
  char *cursor = NULL;
  int rc = blob ? ms_tools_add_page(&s->tools_partial, blob, result, &cursor) : MS_ERR_NOMEM;
  ms_blob_unref(blob); /* the tools kept hold theirs */
  if (rc) {
    ms_free(cursor);
    ms__session_fail(ctx, s, MS_ERR_NOMEM, "out of memory listing tools");
    return;
  }
  if (cursor) {
    if (++s->pages >= MS_MAX_TOOL_PAGES) {
      ms_err e;
      ms_err_set(&e, MS_ERR_PROTOCOL, "server '%s' paginated tools/list past %d pages",
                 s->name, MS_MAX_TOOL_PAGES);
      ms__session_fail(ctx, s, e.code, e.msg);
    } else if (send_list_tools(ctx, s, cursor)) {
      ms__session_fail(ctx, s, MS_ERR_NOMEM, "out of memory listing tools");
    }
    ms_free(cursor);
    return;
  }
  tools_listed(ctx, s);
}

/* A tools/list answer the scanner validated (text[0..len), its result at
 * *result): its text is kept as it is, taken over from the framer when it is
 * the line the framer carried (no copy: the framer's buffer becomes the
 * list's), else copied. */
static void tools_page_text(ms_ctx *ctx, ms_session *s, const char *text, size_t len,
                            const ms_jspan *result) {
  s->listing = 0;
  char *own = (char *)ms_ndjson_take_line(&s->framer, text);
  if (!own) own = ms_strndup(text, len);
  size_t off = (size_t)(result->p - text);
  ms_blob *b = own ? ms_blob_new(own, len) : NULL;
  ms_jspan r = *result;
  if (b) r.p = b->data + off; /* the same text where the blob keeps it */
  tools_page(ctx, s, b, &r);
}

/* A tools/list answer the parser read (an error answer, or text the scanned
 * path leaves to the parser: a lone surrogate escape or ill-formed UTF-8,
 * which it replaces): the result is printed as the parser made it, and kept
 * as that text. */
static void on_tools_page(ms_ctx *ctx, ms_session *s, const cJSON *result, const cJSON *error) {
  s->listing = 0;
  if (error) {
    /* a server without tools: an empty list, and a warning */
    ms__session_logf(ctx, s, 2, "server '%s' failed tools/list; using no tools from it", s->name);
    tools_listed(ctx, s);
    return;
  }
  char *text = ms__json_print(result);
  size_t len = text ? strlen(text) : 0;
  ms_blob *b = text ? ms_blob_new(text, len) : NULL;
  ms_jspan r = {NULL, 0, MS_JT_NONE};
  if (b && !ms_json_scan(b->data, b->len, &r, NULL, NULL, NULL)) r.type = MS_JT_NONE; /* no tools */
  tools_page(ctx, s, b, &r);
}

static void on_response(ms_ctx *ctx, ms_session *s, const cJSON *msg, int type) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
  ptrdiff_t i = ms__req_find(s, ms_rpc_int_id(id));
  if (i >= 0 && s->reqs[i].pending) i = -1; /* not sent yet: the server cannot answer it */
  if (i < 0) {
    ms__session_logf(ctx, s, 2, "skipped a response from server '%s' with an unknown or duplicate id",
          s->name);
    return;
  }
  ms_req r = ms__req_take(s, (size_t)i);
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
    ms__req_fail(ctx, s, &r, &e);
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
      if (error) ms__session_fail(ctx, s, MS_ERR_PROTOCOL, e.msg);
      else if (!cJSON_IsObject(result)) {
        ms_err_set(&e, MS_ERR_PROTOCOL, "server '%s' answered initialize with a result that is not an object", s->name);
        ms__session_fail(ctx, s, MS_ERR_PROTOCOL, e.msg);
      }
      else on_initialized(ctx, s, result);
      break;
    case MS_REQ_LIST_TOOLS: on_tools_page(ctx, s, result, error); break;
    case MS_REQ_OP:
      if (error) ms__op_fail(ctx, r.op_id, e.code, e.msg, e.len);
      else ms__op_done_json(ctx, s, r.op_id, result);
      break;
    case MS_REQ_CALL:
      r.cb.done(ctx, r.cb.user, r.rpc_id, error ? NULL : result, e.code, e.msg);
      break;
  }
}

static void on_progress(ms_ctx *ctx, ms_session *s, const cJSON *params) {
  const cJSON *tok = cJSON_GetObjectItemCaseSensitive(params, "progressToken");
  ptrdiff_t i = ms__req_find(s, ms_rpc_int_id(tok));
  if (i < 0 || !s->reqs[i].progress) return; /* late progress of a finished request */
  ms_req *r = &s->reqs[i];
  r->idle_deadline = ctx->now + r->timeout_ms; /* progress resets the timeout */
  if (r->kind == MS_REQ_OP) {
    char *p = ms__json_print(params);
    if (p) ms__fx(ctx, MS_FX_OP_PROGRESS, r->op_id, 0, 0, p, strlen(p));
    ms_free(p);
  } else if (r->kind == MS_REQ_CALL && r->cb.progress) {
    r->cb.progress(ctx, r->cb.user, r->rpc_id, params);
  }
}

static void on_server_request(ms_ctx *ctx, ms_session *s, const cJSON *msg) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
  const char *method = cJSON_GetObjectItemCaseSensitive(msg, "method")->valuestring;
  ms_buf b = {0};
  int rc;
  int cap = strcmp(method, "sampling/createMessage") == 0 ? MS_CAP_SAMPLING
            : strcmp(method, "elicitation/create") == 0   ? MS_CAP_ELICITATION
            : strcmp(method, "roots/list") == 0           ? MS_CAP_ROOTS
                                                          : 0;
  if (cap && (s->caps & cap)) { /* the host's callback answers (ms_session_respond) */
    char *text = ms__json_print(msg);
    if (!text || ms__fx(ctx, MS_FX_SERVER_REQUEST, s->id, cap, 0, text, strlen(text)))
      rc = ms_rpc_build_response(&b, id, NULL, -32603, "out of memory in the client");
    else
      rc = 0;
    ms_free(text);
    if (!rc && b.len == 0) return;
  } else if (strcmp(method, "ping") == 0) {
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
  if (strcmp(method, "notifications/progress") == 0) {
    on_progress(ctx, s, cJSON_GetObjectItemCaseSensitive(msg, "params"));
    return;
  }
  if (strcmp(method, "notifications/tools/list_changed") == 0) {
    ms_tools_clear(&s->tools);
    s->has_tools = 0; /* listed again on next use */
  } else if (strcmp(method, "notifications/message") != 0 &&
             strcmp(method, "notifications/resources/updated") != 0 &&
             strcmp(method, "notifications/resources/list_changed") != 0 &&
             strcmp(method, "notifications/prompts/list_changed") != 0 &&
             strcmp(method, "notifications/cancelled") != 0) {
    return; /* nothing for the host */
  }
  char *p = ms__json_print(msg); /* lost when out of memory, as a log would be */
  if (p) ms__fx(ctx, MS_FX_NOTIFICATION, s->id, 0, 0, p, strlen(p));
  ms_free(p);
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
      ms__session_logf(ctx, s, 2, "skipped a message from server '%s' that is not JSON-RPC 2.0", s->name);
  }
}

/* The scanned path. Most messages are answers to the host's requests
 * (MS_REQ_OP: tools/call, resources/read, ...) and their progress: their
 * result or params go to the host as the very bytes that came in, validated
 * by the scanner (jscan.h), and the host parses them once. No tree is built,
 * nothing is printed. Every other message takes the parsed path below (the
 * session's own requests, tools called by streams, server requests,
 * notifications that are not progress, batches, and text with a UTF-16
 * surrogate escape, which the parsed path makes U+FFFD when it is lone; text
 * the scanner refuses, too: cJSON tells, and logs it). Returns 1 when the
 * message was handled here. */
static int handle_scanned(ms_ctx *ctx, ms_session *s, const char *text, size_t len) {
  ms_jspan root;
  ms_rpc_env e;
  unsigned flags = 0;
  if (!ms_rpc_scan(text, len, &root, &e, &flags) || (flags & MS_JSON_SURROGATE)) return 0;
  if (e.type == MS_RPC_RESULT) {
    ptrdiff_t i = ms__req_find(s, ms_rpc_span_id(&e.id));
    if (i >= 0 && !s->reqs[i].pending && s->reqs[i].kind == MS_REQ_LIST_TOOLS &&
        ms__json_utf8_valid(text, len)) {
      ms__req_take(s, (size_t)i);
      tools_page_text(ctx, s, text, len, &e.result);
      return 1;
    }
    if (i < 0 || s->reqs[i].pending || s->reqs[i].kind != MS_REQ_OP) return 0;
    ms_req r = ms__req_take(s, (size_t)i);
    /* a line the framer carried (a big one) is taken over: the result goes to
     * the host from where it lies; else (a line inside the input) copied */
    uint8_t *own = ms_ndjson_take_line(&s->framer, text);
    if (own ? ms__fx_adopt_at(ctx, MS_FX_OP_DONE, r.op_id, 0, 0, own, (size_t)(e.result.p - text), e.result.n)
            : ms__fx(ctx, MS_FX_OP_DONE, r.op_id, 0, 0, e.result.p, e.result.n)) {
      ms_err err;
      ms_err_set(&err, MS_ERR_NOMEM, "out of memory taking the answer of server '%s'", s->name);
      ms__op_fail(ctx, r.op_id, err.code, err.msg, err.len);
    }
    return 1;
  }
  if (e.type == MS_RPC_NOTIFICATION && e.params.type == MS_JT_OBJECT &&
      ms_json_str_eq(&e.method, "notifications/progress")) {
    ms_jspan tok;
    ms_json_member(&e.params, "progressToken", &tok);
    ptrdiff_t i = ms__req_find(s, ms_rpc_span_id(&tok));
    if (i < 0 || !s->reqs[i].progress) return 1; /* late progress of a finished request */
    ms_req *r = &s->reqs[i];
    if (r->kind != MS_REQ_OP) return 0;
    r->idle_deadline = ctx->now + r->timeout_ms; /* progress resets the timeout */
    ms__fx(ctx, MS_FX_OP_PROGRESS, r->op_id, 0, 0, e.params.p, e.params.n);
    return 1;
  }
  return 0;
}

void ms__session_handle(ms_ctx *ctx, ms_session *s, const char *text, size_t len) {
  if (handle_scanned(ctx, s, text, len)) return;
  long failures = ms_alloc_failures();
  cJSON *msg = ms__json_parse(text, len);
  if (!msg && ms_alloc_failures() != failures) {
    /* a lost message (a response, say) would leave its request waiting forever */
    ms__session_fail(ctx, s, MS_ERR_NOMEM, "out of memory reading a message from the server");
    return;
  }
  if (!msg) {
    ms__session_logf(ctx, s, 2, "skipped malformed JSON from server '%s': %.*s%s", s->name,
          (int)(len > 60 ? 60 : len), text, len > 60 ? "..." : "");
    return;
  }
  if (cJSON_IsArray(msg)) { /* a batch (2025-03-26): each element in order */
    if (!msg->child) ms__session_logf(ctx, s, 2, "skipped an empty batch from server '%s'", s->name);
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
void ms__session_too_big(ms_ctx *ctx, ms_session *s, const char *head, size_t n, size_t limit) {
  int64_t id = -1;
  int what = ms_rpc_scan_head(head, n, &id);
  ptrdiff_t i = what == MS_HEAD_ID ? ms__req_find(s, id) : -1;
  if (i >= 0 && s->reqs[i].pending) i = -1;
  ms_err e;
  if (i >= 0) {
    ms_req r = ms__req_take(s, (size_t)i);
    ms_err_set(&e, MS_ERR_LIMIT,
               "server '%s' answered %s with a message over the %zu-byte limit (raise "
               "limits.messageBytes, or messageBytes in the server's config)",
               s->name, r.method, limit);
    ms__req_fail(ctx, s, &r, &e);
    return;
  }
  int failed = 0;
  while (what == MS_HEAD_UNKNOWN) {
    size_t k = 0;
    while (k < s->nreqs && s->reqs[k].pending) k++;
    if (k == s->nreqs) break;
    ms_req r = ms__req_take(s, k);
    ms_err_set(&e, MS_ERR_LIMIT,
               "server '%s' sent a message over the %zu-byte limit that may have been the answer "
               "to %s (its id could not be read, so every request waiting fails; raise "
               "limits.messageBytes, or messageBytes in the server's config)",
               s->name, limit, r.method);
    ms__req_fail(ctx, s, &r, &e);
    failed++;
  }
  if (!failed)
    ms__session_logf(ctx, s, 2, "skipped a message from server '%s' over the %zu-byte limit", s->name, limit);
}

/* ---- for transports that frame per response (session_http.c) ------------------ */

int ms__session_waiting(const ms_session *s, int64_t rpc_id) {
  ptrdiff_t i = rpc_id > 0 ? ms__req_find(s, rpc_id) : -1;
  return i >= 0 && !s->reqs[i].pending;
}

void ms__session_lose(ms_ctx *ctx, ms_session *s, int64_t rpc_id, int code, const char *msg) {
  ptrdiff_t i = rpc_id > 0 ? ms__req_find(s, rpc_id) : -1;
  if (i < 0 || s->reqs[i].pending) return;
  ms_req r = ms__req_take(s, (size_t)i);
  ms_free(r.pending);
  ms_err e;
  ms_err_set(&e, code, "%s", msg);
  ms__req_fail(ctx, s, &r, &e); /* initialize or tools/list: the session fails with them */
}

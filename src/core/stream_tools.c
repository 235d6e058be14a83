/* stream_tools.c — a stream's tool calls: one at a time, their results and
 * progress as steps and as messages for the model. */
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "stream.h"

static int add_tool_message(ms_stream *st, const char *call_id, const char *text) {
  cJSON *m = cJSON_CreateObject();
  if (!m || !cJSON_AddStringToObject(m, "role", "tool") ||
      !cJSON_AddStringToObject(m, "tool_call_id", call_id) ||
      !cJSON_AddStringToObject(m, "content", text) || !cJSON_AddItemToArray(st->messages, m)) {
    cJSON_Delete(m);
    return MS_ERR_NOMEM;
  }
  return 0;
}

/* Queues the tool_result step and the tool message for the current call. */
static int record_result(ms_stream *st, const char *server, const char *name, const cJSON *content,
                         int is_error, const cJSON *structured) {
  cJSON *o = ms__step_object("tool_result");
  cJSON *c = content ? cJSON_Duplicate(content, 1) : cJSON_CreateArray();
  cJSON *sc = structured ? cJSON_Duplicate(structured, 1) : cJSON_CreateNull();
  int ok = o && c && sc && cJSON_AddStringToObject(o, "id", st->call_id) &&
           (server ? cJSON_AddStringToObject(o, "server", server) : cJSON_AddNullToObject(o, "server")) &&
           cJSON_AddStringToObject(o, "name", name);
  if (ok && (ok = cJSON_AddItemToObject(o, "content", c) != 0)) c = NULL; /* o owns it */
  ok = ok && cJSON_AddBoolToObject(o, "isError", is_error) != NULL;
  if (ok && (ok = cJSON_AddItemToObject(o, "structuredContent", sc) != 0)) sc = NULL;
  cJSON_Delete(c);
  cJSON_Delete(sc);
  if (!ok) {
    cJSON_Delete(o);
    return MS_ERR_NOMEM;
  }
  char *text = ms__result_text(content, structured, is_error);
  int rc = text ? add_tool_message(st, st->call_id, text) : MS_ERR_NOMEM;
  ms_free(text);
  return rc ? (cJSON_Delete(o), rc) : ms__st_push_step(st, o);
}

static int record_error_result(ms_stream *st, const char *server, const char *name,
                               const char *msg) {
  cJSON *content = cJSON_CreateArray();
  cJSON *item = cJSON_CreateObject();
  int rc = MS_ERR_NOMEM;
  if (content && item && cJSON_AddStringToObject(item, "type", "text") &&
      cJSON_AddStringToObject(item, "text", msg) && cJSON_AddItemToArray(content, item)) {
    item = NULL;
    rc = record_result(st, server, name, content, 1, NULL);
  }
  cJSON_Delete(item);
  cJSON_Delete(content);
  return rc;
}

static void tool_done(ms_ctx *ctx, void *user, int64_t rpc_id, const cJSON *result, int code,
                      const char *msg);
static void tool_progress(ms_ctx *ctx, void *user, int64_t rpc_id, const cJSON *params);

/* Starts the next tool call, or records why it cannot run. Returns 0 when
 * the stream should wait, 1 to go on, negative on failure. */
int ms__st_run_next_call(ms_ctx *ctx, ms_stream *st) {
  cJSON *c = cJSON_GetArrayItem(st->calls, st->ncalls_done);
  if (!c) {
    st->state = ST_MODEL_START;
    return 1;
  }
  const char *id = cJSON_GetObjectItemCaseSensitive(c, "id")->valuestring;
  const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
  const char *mname = cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring;
  const char *raw = cJSON_GetObjectItemCaseSensitive(fn, "arguments")->valuestring;
  ms_free(st->call_id);
  if (!(st->call_id = ms_strndup(id, strlen(id)))) return MS_ERR_NOMEM;
  /* strict, as every parse of the core: one JSON object, nothing after it
   * ("{...} garbage" or "{...}{...}" must not run the tool with the first) */
  long failures = ms_alloc_failures();
  size_t raw_len = strlen(raw), blank = 0;
  while (blank < raw_len && (raw[blank] == ' ' || raw[blank] == '\t' || raw[blank] == '\r' || raw[blank] == '\n')) blank++;
  cJSON *args = blank < raw_len ? ms__json_parse(raw, raw_len) : cJSON_CreateObject();
  if (!args && ms_alloc_failures() != failures) return MS_ERR_NOMEM; /* not the model's fault */
  const char *problem = NULL;
  if (!cJSON_IsObject(args)) {
    problem = "the arguments are not a JSON object; call the tool again with valid JSON arguments";
    cJSON_Delete(args);
    args = cJSON_CreateObject();
  }
  const ms_tool_ref *ref = ms_catalog_find(st->cat, mname);
  ms_session *s = ref ? ms__session_get(ctx, ref->sid) : NULL;
  int disallowed = ms_name_listed(st->disallowed, mname, ref ? ref->name : NULL);
  if (disallowed) problem = "this tool is not allowed for this agent (disallowedTools)";
  else if (!ref) problem = "there is no tool of that name; use one of the tools offered";
  /* the tool_call step: a call that is not made names no server */
  const char *server = s && !problem ? ms__session_name(s) : NULL;
  cJSON *o = ms__step_object("tool_call");
  int ok = o && args && cJSON_AddStringToObject(o, "id", id) &&
           (server ? cJSON_AddStringToObject(o, "server", server) : cJSON_AddNullToObject(o, "server")) &&
           cJSON_AddStringToObject(o, "name", ref && !disallowed ? ref->name : mname);
  cJSON *args_copy = ok ? cJSON_Duplicate(args, 1) : NULL;
  if (!args_copy || !cJSON_AddItemToObject(o, "arguments", args_copy)) ok = 0;
  int rc = ok ? ms__st_push_step(st, o) : (cJSON_Delete(o), MS_ERR_NOMEM);
  if (!ok) cJSON_Delete(args_copy);
  if (!rc && problem) {
    rc = record_error_result(st, NULL, ref && !disallowed ? ref->name : mname, problem);
    st->ncalls_done++;
    cJSON_Delete(args);
    return rc ? rc : 1;
  }
  if (rc) {
    cJSON_Delete(args);
    return rc;
  }
  /* the completion names the stream by id: a late one finds no stream, or
   * another call, and is ignored */
  ms_req_cb cb = {tool_done, tool_progress, (void *)(intptr_t)st->id};
  /* room for its cancel, held while it is in flight */
  if (ms__st_reserve_cancel(ctx, st, strlen(ms__session_name(s)))) {
    cJSON_Delete(args);
    return MS_ERR_NOMEM;
  }
  int64_t rpc = ms__session_call_tool(ctx, s, &cb, st->id, ref->name, args, st->request_timeout);
  cJSON_Delete(args);
  if (rpc < 0) {
    ms__st_unreserve_cancel(ctx, st);
    int code = (int)rpc;
    if (code == MS_ERR_NOMEM) return code;
    ms_err e;
    const ms_err *se = ms__session_err(s);
    ms_err_set(&e, code, "cannot call tool '%s' on server '%s': %s", ref->name, ms__session_name(s),
               se->len ? se->msg : code == MS_ERR_LIMIT ? "too many pending requests" : "session not ready");
    ms__st_fail(ctx, st, e.code, e.msg);
    return 0;
  }
  st->call_started = 1;
  st->call_rpc = rpc;
  st->call_sid = ms__session_id(s);
  st->call_ref = ref;
  return 0;
}

/* The end of the stream's tools/call (ms_req_cb.done). */
static void tool_done(ms_ctx *ctx, void *user, int64_t rpc_id, const cJSON *result, int code,
                      const char *msg) {
  ms_stream *st = ms__stream_get(ctx, (int32_t)(intptr_t)user);
  if (!st || !st->call_started || st->call_rpc != rpc_id) return;
  MS_ALLOC_SCOPE(st->acct);
  st->call_started = 0;
  ms__st_unreserve_cancel(ctx, st);
  const char *server = ms__session_name(ms__session_get(ctx, st->call_sid));
  const ms_tool_ref *ref = st->call_ref;
  int rc;
  if (code < 0 && code != MS_ERR_MCP) { /* the server went away mid-call */
    ms_err e;
    ms_err_set(&e, code, "tool '%s' failed: %s", ref->name, msg);
    ms__st_fail(ctx, st, e.code, e.msg);
    return;
  }
  if (code < 0) {
    rc = record_error_result(st, server, ref->name, msg);
  } else {
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(result, "content");
    const cJSON *is_error = cJSON_GetObjectItemCaseSensitive(result, "isError");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(result, "structuredContent");
    rc = record_result(st, server, ref->name, cJSON_IsArray(content) ? content : NULL,
                       cJSON_IsTrue(is_error), sc && !cJSON_IsNull(sc) ? sc : NULL);
  }
  if (rc) {
    ms_err e;
    ms_err_set(&e, rc, "out of memory recording the result of tool '%s' of server '%s'",
               ref->name, server);
    ms__st_fail(ctx, st, e.code, e.msg);
    return;
  }
  st->ncalls_done++;
  ms__st_wake(ctx, st);
}

/* A progress notification for the stream's tools/call (ms_req_cb.progress). */
static void tool_progress(ms_ctx *ctx, void *user, int64_t rpc_id, const cJSON *params) {
  ms_stream *st = ms__stream_get(ctx, (int32_t)(intptr_t)user);
  if (!st || !st->call_started || st->call_rpc != rpc_id) return;
  MS_ALLOC_SCOPE(st->acct);
  const cJSON *progress = cJSON_GetObjectItemCaseSensitive(params, "progress");
  const cJSON *total = cJSON_GetObjectItemCaseSensitive(params, "total");
  const cJSON *message = cJSON_GetObjectItemCaseSensitive(params, "message");
  cJSON *o = ms__step_object("progress");
  int ok = o && cJSON_AddStringToObject(o, "id", st->call_id) &&
           cJSON_AddNumberToObject(o, "progress", cJSON_IsNumber(progress) ? progress->valuedouble : 0) &&
           (cJSON_IsNumber(total) ? cJSON_AddNumberToObject(o, "total", total->valuedouble) != NULL
                                  : cJSON_AddNullToObject(o, "total") != NULL) &&
           (cJSON_IsString(message) ? cJSON_AddStringToObject(o, "message", message->valuestring) != NULL
                                    : cJSON_AddNullToObject(o, "message") != NULL);
  if (!ok || ms__st_push_step(st, o)) {
    if (!ok) cJSON_Delete(o);
    ms__st_fail(ctx, st, MS_ERR_NOMEM, "out of memory recording the progress of a tool call");
    return;
  }
  ms__st_wake(ctx, st);
}


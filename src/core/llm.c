/* llm.c — OpenAI-compatible Chat Completions: the request body, and the
 * assistant message assembled from streamed deltas or a whole response.
 * Tool-call deltas are keyed by their `index`; a call's id and name arrive
 * in its first delta, its arguments in fragments across later ones. */
#include <stdio.h>
#include <string.h>

#include "core.h"

/* Parallel tool calls in one assistant message (README "Known limits"): a
 * model asking for more ends the stream with MS_ERR_LIMIT. */
#define MS_LLM_MAX_CALLS 128

static ms_llm_call *call_at(ms_llm_acc *acc, size_t index) {
  if (index >= MS_LLM_MAX_CALLS) return NULL;
  if (index >= acc->ncalls) {
    ms_llm_call *c = ms_realloc(acc->calls, (index + 1) * sizeof *c);
    if (!c) return NULL;
    memset(c + acc->ncalls, 0, (index + 1 - acc->ncalls) * sizeof *c);
    acc->calls = c;
    acc->ncalls = index + 1;
  }
  return &acc->calls[index];
}

/* Appends s[0..n) to the message's text: into content while it stays within
 * a piece; else content is filled to MS_LLM_PIECE bytes (cut on a character
 * boundary: every piece is decoded on its own by the host) and becomes a
 * piece, and the rest goes into a fresh content of that size. */
static int acc_text(ms_llm_acc *acc, const char *s, size_t n) {
  ms_buf *c = &acc->content;
  while (n) {
    if (n <= MS_LLM_PIECE - c->len) {
      if (!c->cap && acc->pieces && ms_buf_reserve_exact(c, MS_LLM_PIECE)) return MS_ERR_NOMEM;
      return ms_buf_append(c, s, n);
    }
    size_t k = MS_LLM_PIECE - c->len; /* < n */
    while (k > 0 && ((uint8_t)s[k] & 0xC0) == 0x80) k--;
    if (k == 0 && c->len == 0) k = MS_LLM_PIECE; /* (not UTF-8: cut anywhere) */
    ms_piece *p = ms_malloc(sizeof *p);
    if (!p || ms_buf_reserve_exact(c, k)) {
      ms_free(p);
      return MS_ERR_NOMEM;
    }
    if (k) memcpy(c->data + c->len, s, k);
    c->len += k;
    *p = (ms_piece){NULL, c->data, c->len, c->cap};
    if (acc->last) acc->last->next = p;
    else acc->pieces = p;
    acc->last = p;
    acc->pieces_len += c->len;
    *c = (ms_buf){0};
    s += k;
    n -= k;
  }
  return 0;
}

size_t ms_llm_acc_text_len(const ms_llm_acc *acc) { return acc->pieces_len + acc->content.len; }

/* Copies the message's whole text (its pieces, then content) to w, which has
 * room for ms_llm_acc_text_len(acc) bytes; returns the end of what it wrote. */
static char *copy_text(const ms_llm_acc *acc, char *w) {
  for (const ms_piece *p = acc->pieces; p; p = p->next) w = (char *)memcpy(w, p->data, p->len) + p->len;
  if (acc->content.len) w = (char *)memcpy(w, acc->content.data, acc->content.len) + acc->content.len;
  return w;
}

int ms_llm_acc_flatten(ms_llm_acc *acc) {
  if (!acc->pieces) return 0;
  ms_buf all = {0};
  if (ms_buf_reserve_exact(&all, ms_llm_acc_text_len(acc))) return MS_ERR_NOMEM;
  all.len = (size_t)(copy_text(acc, (char *)all.data) - (char *)all.data);
  ms_pieces_free(acc->pieces);
  ms_buf_free(&acc->content);
  acc->pieces = acc->last = NULL;
  acc->pieces_len = 0;
  acc->content = all;
  return 0;
}

static int set_buf(ms_buf *b, const char *s) {
  ms_buf_reset(b);
  return ms_buf_append_str(b, s);
}

/* Applies one tool_calls[] entry (a delta, or a whole call when `whole`). */
static int apply_call(ms_llm_acc *acc, const cJSON *tc, size_t pos, int whole, ms_err *err) {
  const cJSON *index = cJSON_GetObjectItemCaseSensitive(tc, "index");
  size_t i = pos;
  if (!whole && cJSON_IsNumber(index)) {
    double v = index->valuedouble;
    if (!(v >= 0) || (v < MS_LLM_MAX_CALLS && v != (double)(int)v))
      return ms_err_set(err, MS_ERR_LLM_PROTOCOL,
                        "the model sent a tool call whose index is not a non-negative integer");
    if (v >= MS_LLM_MAX_CALLS)
      return ms_err_set(err, MS_ERR_LIMIT,
                        "the model asked for more than %d tool calls in one turn (a tool call with "
                        "index %.15g); mcpstream runs at most %d parallel tool calls per model turn",
                        MS_LLM_MAX_CALLS, index->valuedouble, MS_LLM_MAX_CALLS);
    i = (size_t)index->valuedouble;
  }
  ms_llm_call *c = call_at(acc, i);
  if (!c) {
    if (i >= MS_LLM_MAX_CALLS)
      return ms_err_set(err, MS_ERR_LIMIT,
                        "the model asked for more than %d tool calls in one turn; mcpstream runs "
                        "at most %d parallel tool calls per model turn",
                        MS_LLM_MAX_CALLS, MS_LLM_MAX_CALLS);
    return ms_err_set(err, MS_ERR_NOMEM, "out of memory");
  }
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
  const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
  int rc = 0;
  if (cJSON_IsString(id) && id->valuestring[0]) rc = set_buf(&c->id, id->valuestring);
  if (!rc && cJSON_IsString(name)) {
    /* a name comes whole in the first delta; fragments are appended */
    size_t n = strlen(name->valuestring);
    if (n == 0 || (c->name.len == n && memcmp(c->name.data, name->valuestring, n) == 0)) {
      /* some servers repeat the whole name in every delta (an empty one adds nothing) */
    } else {
      rc = ms_buf_append_str(&c->name, name->valuestring);
    }
  }
  if (!rc && cJSON_IsString(args)) rc = ms_buf_append_str(&c->args, args->valuestring);
  else if (!rc && whole && args && !cJSON_IsNull(args)) {
    char *s = ms__json_print(args);
    rc = s ? ms_buf_append_str(&c->args, s) : MS_ERR_NOMEM;
    ms_free(s);
  }
  if (rc) return ms_err_set(err, MS_ERR_NOMEM, "out of memory");
  return 0;
}

static int error_object(const cJSON *root, ms_err *err) {
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
  if (!e || cJSON_IsNull(e)) return 0; /* some servers send "error":null in every chunk */
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
  return ms_err_set(err, MS_ERR_LLM_HTTP, "model endpoint reported an error: %s",
                    cJSON_IsString(m) ? m->valuestring
                    : cJSON_IsString(e) ? e->valuestring
                                        : "(no message)");
}

/* Token usage of a response or chunk ({"usage": {"prompt_tokens", "completion_tokens",
 * "total_tokens"}}), when it has one: the last one seen counts (with
 * stream_options.include_usage it comes once, in a chunk of its own before [DONE];
 * other chunks carry "usage": null). Counts that are not non-negative numbers are 0. */
static void read_usage(ms_llm_acc *acc, const cJSON *root) {
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "usage");
  if (!cJSON_IsObject(u)) return;
  static const char *const keys[3] = {"prompt_tokens", "completion_tokens", "total_tokens"};
  for (int i = 0; i < 3; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(u, keys[i]);
    acc->usage[i] = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15 ? v->valuedouble : 0;
  }
  if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(u, "total_tokens")))
    acc->usage[2] = acc->usage[0] + acc->usage[1];
  acc->has_usage = 1;
}

static void read_finish(ms_llm_acc *acc, const cJSON *fin) {
  if (cJSON_IsString(fin)) snprintf(acc->finish, sizeof acc->finish, "%s", fin->valuestring);
}

int ms_llm_acc_chunk(ms_llm_acc *acc, const char *data, size_t len, ms_buf *delta, ms_err *err) {
  if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
    acc->finished = 1;
    return 0;
  }
  size_t blank = 0; /* empty data (a keep-alive) is not a chunk */
  while (blank < len && (data[blank] == ' ' || data[blank] == '\t' || data[blank] == '\r' || data[blank] == '\n')) blank++;
  if (blank == len) return 0;
  long failures = ms_alloc_failures();
  cJSON *root = ms__json_parse(data, len);
  if (!root && ms_alloc_failures() != failures) return ms_err_set(err, MS_ERR_NOMEM, "out of memory");
  if (!root)
    return ms_err_set(err, MS_ERR_LLM_PROTOCOL, "model stream sent malformed JSON: %.*s",
                      (int)(len > 60 ? 60 : len), data);
  int rc = error_object(root, err);
  if (!rc) read_usage(acc, root);
  const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
  const cJSON *choice = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
  if (!rc && choice) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(choice, "delta");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(d, "content");
    if (cJSON_IsString(content) && content->valuestring[0]) {
      size_t n = strlen(content->valuestring);
      if (acc_text(acc, content->valuestring, n) ||
          ms_buf_append(delta, content->valuestring, n))
        rc = ms_err_set(err, MS_ERR_NOMEM, "out of memory");
    }
    const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(d, "tool_calls");
    const cJSON *tc;
    size_t pos = 0;
    cJSON_ArrayForEach(tc, tcs) {
      if (rc) break;
      rc = apply_call(acc, tc, pos++, 0, err);
    }
    const cJSON *fin = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
    if (cJSON_IsString(fin)) acc->finished = 1;
    read_finish(acc, fin);
  }
  cJSON_Delete(root);
  return rc;
}

int ms_llm_acc_message(ms_llm_acc *acc, const char *json, size_t len, ms_err *err) {
  long failures = ms_alloc_failures();
  cJSON *root = ms__json_parse(json, len);
  if (!root && ms_alloc_failures() != failures) return ms_err_set(err, MS_ERR_NOMEM, "out of memory");
  if (!root)
    return ms_err_set(err, MS_ERR_LLM_PROTOCOL, "model response is not JSON: %.*s",
                      (int)(len > 60 ? 60 : len), json);
  int rc = error_object(root, err);
  const cJSON *msg = root;
  const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
  if (!rc) read_usage(acc, root);
  if (!rc && choices) {
    read_finish(acc, cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(choices, 0), "finish_reason"));
    msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(choices, 0), "message");
    if (!cJSON_IsObject(msg))
      rc = ms_err_set(err, MS_ERR_LLM_PROTOCOL, "model response has no choices[0].message");
  }
  if (!rc && !cJSON_IsObject(msg))
    rc = ms_err_set(err, MS_ERR_LLM_PROTOCOL, "model response is not an assistant message");
  if (!rc) {
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (cJSON_IsString(content)) {
      if (acc_text(acc, content->valuestring, strlen(content->valuestring))) rc = MS_ERR_NOMEM;
    } else if (cJSON_IsArray(content)) { /* [{type:"text", text}] parts */
      const cJSON *part;
      cJSON_ArrayForEach(part, content) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(t) && acc_text(acc, t->valuestring, strlen(t->valuestring))) rc = MS_ERR_NOMEM;
      }
    }
    if (rc) ms_err_set(err, MS_ERR_NOMEM, "out of memory");
    const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    const cJSON *tc;
    size_t pos = 0;
    cJSON_ArrayForEach(tc, tcs) {
      if (rc) break;
      rc = apply_call(acc, tc, pos++, 1, err);
    }
    acc->finished = 1;
  }
  cJSON_Delete(root);
  return rc;
}

void ms_llm_acc_free(ms_llm_acc *acc) {
  for (size_t i = 0; i < acc->ncalls; i++) {
    ms_buf_free(&acc->calls[i].id);
    ms_buf_free(&acc->calls[i].name);
    ms_buf_free(&acc->calls[i].args);
  }
  ms_free(acc->calls);
  ms_pieces_free(acc->pieces);
  ms_buf_free(&acc->content);
  memset(acc, 0, sizeof *acc);
}

/* The message's whole text as a cJSON string (its pieces joined). */
static cJSON *text_string(const ms_llm_acc *acc) {
  size_t n = ms_llm_acc_text_len(acc);
  char *s = ms_malloc(n + 1);
  if (!s) return NULL;
  *copy_text(acc, s) = '\0';
  cJSON *v = cJSON_CreateString(s);
  ms_free(s);
  return v;
}

static cJSON *string_n(const ms_buf *b) {
  char *s = ms_strndup(b->len ? (const char *)b->data : "", b->len);
  cJSON *v = s ? cJSON_CreateString(s) : NULL;
  ms_free(s);
  return v;
}

/* Adds v to obj under key; deletes v when that fails. */
static int add_owned(cJSON *obj, const char *key, cJSON *v) {
  if (v && cJSON_AddItemToObject(obj, key, v)) return 1;
  cJSON_Delete(v);
  return 0;
}

cJSON *ms_llm_acc_to_message(const ms_llm_acc *acc) {
  cJSON *m = cJSON_CreateObject();
  if (!m || !cJSON_AddStringToObject(m, "role", "assistant")) goto fail;
  size_t ncalls = 0;
  for (size_t i = 0; i < acc->ncalls; i++) ncalls += acc->calls[i].name.len > 0;
  if (ms_llm_acc_text_len(acc) || !ncalls) {
    if (!add_owned(m, "content", text_string(acc))) goto fail;
  } else if (!cJSON_AddNullToObject(m, "content")) {
    goto fail;
  }
  if (ncalls) {
    cJSON *arr = cJSON_AddArrayToObject(m, "tool_calls");
    if (!arr) goto fail;
    for (size_t i = 0; i < acc->ncalls; i++) {
      const ms_llm_call *c = &acc->calls[i];
      if (!c->name.len) continue;
      cJSON *o = cJSON_CreateObject();
      if (!o || !cJSON_AddItemToArray(arr, o)) { /* arr owns o from here */
        cJSON_Delete(o);
        goto fail;
      }
      if (!add_owned(o, "id", string_n(&c->id)) || !cJSON_AddStringToObject(o, "type", "function"))
        goto fail;
      cJSON *fn = cJSON_CreateObject();
      if (!add_owned(o, "function", fn)) goto fail; /* (it deleted fn) */
      if (!add_owned(fn, "name", string_n(&c->name)) || !add_owned(fn, "arguments", string_n(&c->args)))
        goto fail;
    }
  }
  return m;
fail:
  cJSON_Delete(m);
  return NULL;
}

/* What follows the "tools" array in every request body (ms_llm_request_tail). */
static const char tail[] = ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}";

char *ms_llm_build_request(const char *model, const cJSON *messages, size_t tools_len,
                           ms_llm_tools_fn write_tools, const void *user, size_t *len) {
  /* written part by part into one block of the exact size: the tools (the
   * bulk of a big request) straight from the writer, never printed by cJSON
   * nor held twice; the same bytes as cJSON prints for the whole object */
  static const char tools_key[] = ",\"tools\":";
  char *msgs = messages ? ms__json_print(messages) : NULL;
  if (messages && !msgs) return NULL;
  const char *m = msgs ? msgs : "[]";
  size_t ml = strlen(m);
  ms_buf head = {0};
  int rc = ms_buf_append_str(&head, "{\"model\":");
  if (!rc) rc = ms__json_append_text(&head, model, strlen(model));
  if (!rc) rc = ms_buf_append_str(&head, ",\"messages\":");
  char *out = NULL;
  if (!rc && tools_len < SIZE_MAX / 4 && ml < SIZE_MAX / 4) {
    int head_only = tools_len && !write_tools; /* the host reads the rest (ms_stream_model_body) */
    size_t total = head.len + ml + (tools_len ? sizeof tools_key - 1 + tools_len : 0) + sizeof tail - 1;
    if (head_only) total = head.len + ml + sizeof tools_key - 1;
    out = ms_malloc(total + 1);
    if (out) {
      char *w = out;
      memcpy(w, head.data, head.len);
      w += head.len;
      memcpy(w, m, ml);
      w += ml;
      if (tools_len) {
        memcpy(w, tools_key, sizeof tools_key - 1);
        w += sizeof tools_key - 1;
        if (!head_only) write_tools(user, w);
        w += head_only ? 0 : tools_len;
      }
      if (head_only) *w = '\0';
      else memcpy(w, tail, sizeof tail); /* with its NUL */
      *len = total;
    }
  }
  ms_buf_free(&head);
  ms_free(msgs);
  return out;
}

const char *ms_llm_request_tail(void) { return tail; }

void ms_llm_http_error(ms_err *err, int status, const char *body, size_t len) {
  cJSON *root = len ? ms__json_parse(body, len) : NULL;
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
  const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
  if (!cJSON_IsString(m)) m = cJSON_GetObjectItemCaseSensitive(root, "message");
  const char *text = cJSON_IsString(m) ? m->valuestring : NULL;
  int tlen = text ? (int)strlen(text) : (int)(len > 200 ? 200 : len);
  if (!text) text = len ? body : "(empty body)";
  if (!len && !cJSON_IsString(m)) tlen = (int)strlen(text);
  /* the hint comes before the body text, which may be cut */
  const char *hint = status == 401 || status == 403 ? " (check llm.apiKey / OPENAI_API_KEY)"
                     : status == 404               ? " (check llm.baseURL and llm.model)"
                     : status == 429               ? " (rate limited: retry later)"
                                                   : "";
  if (status == 0)
    ms_err_set(err, MS_ERR_LLM_HTTP, "model request failed: %.*s", tlen, text);
  else
    ms_err_set(err, MS_ERR_LLM_HTTP, "model endpoint answered HTTP %d%s: %.*s", status, hint, tlen,
               text);
  cJSON_Delete(root);
}

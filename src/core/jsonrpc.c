/* jsonrpc.c — JSON-RPC 2.0 message classification and building. */
#include <string.h>

#include "core.h"

int ms_rpc_classify(const cJSON *msg) {
  if (!cJSON_IsObject(msg)) return MS_RPC_INVALID;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, "jsonrpc");
  if (!cJSON_IsString(v) || strcmp(v->valuestring, "2.0") != 0) return MS_RPC_INVALID;
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
  const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
  int id_ok = cJSON_IsNumber(id) || cJSON_IsString(id);
  if (method) {
    if (!cJSON_IsString(method)) return MS_RPC_INVALID;
    if (!id) return MS_RPC_NOTIFICATION;
    return id_ok ? MS_RPC_REQUEST : MS_RPC_INVALID;
  }
  const cJSON *result = cJSON_GetObjectItemCaseSensitive(msg, "result");
  const cJSON *error = cJSON_GetObjectItemCaseSensitive(msg, "error");
  if (result && !error && id_ok) return MS_RPC_RESULT;
  if (error && !result && cJSON_IsObject(error) && (id_ok || cJSON_IsNull(id))) return MS_RPC_ERROR;
  /* it names a request but cannot be accepted: the request must still settle */
  if (id_ok) return MS_RPC_BAD_RESPONSE;
  return MS_RPC_INVALID;
}

/* ---- the envelope, from the scanner ---------------------------------------- */

static void env_classify(ms_rpc_env *e) {
  e->type = MS_RPC_INVALID;
  if (!ms_json_str_eq(&e->jsonrpc, "2.0")) return;
  int id_ok = e->id.type == MS_JT_NUMBER || e->id.type == MS_JT_STRING;
  if (e->method.type != MS_JT_NONE) {
    if (e->method.type != MS_JT_STRING) return;
    if (e->id.type == MS_JT_NONE) e->type = MS_RPC_NOTIFICATION;
    else if (id_ok) e->type = MS_RPC_REQUEST;
    return;
  }
  int has_result = e->result.type != MS_JT_NONE, has_error = e->error.type != MS_JT_NONE;
  if (has_result && !has_error && id_ok) e->type = MS_RPC_RESULT;
  else if (has_error && !has_result && e->error.type == MS_JT_OBJECT && (id_ok || e->id.type == MS_JT_NULL))
    e->type = MS_RPC_ERROR;
  else if (id_ok) e->type = MS_RPC_BAD_RESPONSE;
}

/* Keeps the first member of each name of the envelope. */
static void env_member(void *user, const ms_jspan *k, const ms_jspan *v) {
  ms_rpc_env *e = user;
  ms_jspan *slot = NULL;
  /* the keys of the envelope have no escapes in practice: compared raw
   * first, decoded only when the key has a backslash */
  const char *kp = k->p + 1;
  size_t kn = k->n - 2;
  int esc = memchr(kp, '\\', kn) != NULL;
#define KEY(lit, field)                                                                \
  else if ((esc ? ms_json_str_eq(k, lit) : kn == sizeof lit - 1 && memcmp(kp, lit, kn) == 0)) \
    slot = &e->field;
  if (0) {
  }
  KEY("jsonrpc", jsonrpc)
  KEY("id", id)
  KEY("method", method)
  KEY("params", params)
  KEY("result", result)
  KEY("error", error)
#undef KEY
  if (slot && slot->type == MS_JT_NONE) *slot = *v;
}

static void env_clear(ms_rpc_env *e) { memset(e, 0, sizeof *e); }

int ms_rpc_scan(const char *text, size_t n, ms_jspan *root, ms_rpc_env *env, unsigned *flags) {
  env_clear(env);
  if (!ms_json_scan(text, n, root, flags, env_member, env)) {
    env_clear(env);
    return 0;
  }
  if (root->type == MS_JT_OBJECT) env_classify(env);
  else env_clear(env);
  return 1;
}

void ms_rpc_envelope(const ms_jspan *obj, ms_rpc_env *env) {
  env_clear(env);
  if (obj->type != MS_JT_OBJECT) return;
  ms_jiter it;
  ms_jspan k, v;
  ms_json_iter(obj, &it);
  while (ms_json_next(&it, &k, &v)) env_member(env, &k, &v);
  env_classify(env);
}

int64_t ms_rpc_span_id(const ms_jspan *id) {
  if (id->type != MS_JT_NUMBER) return -1;
  /* the plain case, digits only, without strtod */
  int64_t v = 0;
  size_t i = 0;
  while (i < id->n && i < 16 && id->p[i] >= '0' && id->p[i] <= '9') v = v * 10 + (id->p[i++] - '0');
  if (i == id->n && i > 0) return v <= 9007199254740991LL ? v : -1;
  double d = ms_json_number(id);
  if (!(d >= 0) || d > 9007199254740991.0 || d != (double)(int64_t)d) return -1;
  return (int64_t)d;
}

/* ---- the head of a message too big to parse ------------------------------- */

static size_t skip_ws(const char *p, size_t n, size_t i) {
  while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) i++;
  return i;
}

/* Skips a JSON string starting at p[i] == '"'. Returns the index after its
 * closing quote, or n when it does not end within p[0..n). */
static size_t skip_string(const char *p, size_t n, size_t i) {
  for (i++; i < n; i++) {
    if (p[i] == '\\') i++;
    else if (p[i] == '"') return i + 1;
  }
  return n;
}

int ms_rpc_scan_head(const char *p, size_t n, int64_t *id) {
  size_t i = skip_ws(p, n, 0);
  if (i >= n || p[i] != '{') return MS_HEAD_UNKNOWN;
  for (i++;;) {
    i = skip_ws(p, n, i);
    if (i >= n || p[i] != '"') return MS_HEAD_UNKNOWN;
    size_t k = i + 1, kend = skip_string(p, n, i);
    if (kend >= n) return MS_HEAD_UNKNOWN;
    size_t klen = kend - 1 - k; /* escapes in a key: compared as written */
    i = skip_ws(p, n, kend);
    if (i >= n || p[i] != ':') return MS_HEAD_UNKNOWN;
    if (klen == 6 && memcmp(p + k, "method", 6) == 0) return MS_HEAD_METHOD;
    i = skip_ws(p, n, i + 1);
    if (i >= n) return MS_HEAD_UNKNOWN;
    if (klen == 2 && memcmp(p + k, "id", 2) == 0) {
      int64_t v = 0;
      size_t d = i;
      while (d < n && p[d] >= '0' && p[d] <= '9' && d - i < 16) v = v * 10 + (p[d++] - '0');
      /* a whole integer: digits then a delimiter (not ".5", "e3", more digits) */
      if (d == i || d >= n || (p[d] != ',' && p[d] != '}' && p[d] != ' ' && p[d] != '\t' &&
                               p[d] != '\n' && p[d] != '\r'))
        return d < n || d == i ? MS_HEAD_OTHER : MS_HEAD_UNKNOWN;
      *id = v;
      return MS_HEAD_ID;
    }
    /* another member: skip a scalar value; a nested one ends the scan */
    if (p[i] == '{' || p[i] == '[') return MS_HEAD_UNKNOWN;
    if (p[i] == '"') i = skip_string(p, n, i);
    else
      while (i < n && p[i] != ',' && p[i] != '}' && p[i] != ' ' && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') i++;
    i = skip_ws(p, n, i);
    if (i >= n || p[i] != ',') return MS_HEAD_UNKNOWN;
    i++;
  }
}

int64_t ms_rpc_int_id(const cJSON *id) {
  if (!cJSON_IsNumber(id)) return -1;
  double d = id->valuedouble;
  if (d < 0 || d > 9007199254740991.0 || d != (double)(int64_t)d) return -1;
  return (int64_t)d;
}

static int append_json(ms_buf *out, const cJSON *v) {
  char *s = ms__json_print(v);
  if (!s) return MS_ERR_NOMEM;
  int rc = ms_buf_append_str(out, s);
  ms_free(s);
  return rc;
}

static int build_head(ms_buf *out, int64_t id, const char *method) {
  int rc = ms_buf_append_str(out, "{\"jsonrpc\":\"2.0\",");
  if (!rc && id >= 0) {
    rc = ms_buf_append_str(out, "\"id\":");
    if (!rc) rc = ms_buf_append_int(out, id);
    if (!rc) rc = ms_buf_append_byte(out, ',');
  }
  if (!rc) rc = ms_buf_append_str(out, "\"method\":");
  if (!rc) rc = ms_buf_append_json_string(out, method, strlen(method));
  return rc;
}

int ms_rpc_build_text(ms_buf *out, int64_t id, const char *method, const char *params,
                      size_t params_len) {
  int rc = build_head(out, id, method);
  if (!rc && params) {
    rc = ms_buf_append_str(out, ",\"params\":");
    if (!rc) rc = ms_buf_append(out, params, params_len);
  }
  if (!rc) rc = ms_buf_append_byte(out, '}');
  return rc;
}

int ms_rpc_build(ms_buf *out, int64_t id, const char *method, const cJSON *params) {
  int rc = build_head(out, id, method);
  if (!rc && params) {
    rc = ms_buf_append_str(out, ",\"params\":");
    if (!rc) rc = append_json(out, params);
  }
  if (!rc) rc = ms_buf_append_byte(out, '}');
  return rc;
}

int ms_rpc_build_response(ms_buf *out, const cJSON *id, const cJSON *result, int err_code,
                          const char *err_msg) {
  int rc = ms_buf_append_str(out, "{\"jsonrpc\":\"2.0\",\"id\":");
  if (!rc) rc = id ? append_json(out, id) : ms_buf_append_str(out, "null");
  if (!rc && err_code) {
    rc = ms_buf_append_str(out, ",\"error\":{\"code\":");
    if (!rc) rc = ms_buf_append_int(out, err_code);
    if (!rc) rc = ms_buf_append_str(out, ",\"message\":");
    if (!rc) rc = ms_buf_append_json_string(out, err_msg, strlen(err_msg));
    if (!rc) rc = ms_buf_append_byte(out, '}');
  } else if (!rc) {
    rc = ms_buf_append_str(out, ",\"result\":");
    if (!rc) rc = result ? append_json(out, result) : ms_buf_append_str(out, "{}");
  }
  if (!rc) rc = ms_buf_append_byte(out, '}');
  return rc;
}

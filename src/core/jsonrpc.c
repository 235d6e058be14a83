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

int ms_rpc_build(ms_buf *out, int64_t id, const char *method, const cJSON *params) {
  int rc = ms_buf_append_str(out, "{\"jsonrpc\":\"2.0\",");
  if (!rc && id >= 0) {
    rc = ms_buf_append_str(out, "\"id\":");
    if (!rc) rc = ms_buf_append_int(out, id);
    if (!rc) rc = ms_buf_append_byte(out, ',');
  }
  if (!rc) rc = ms_buf_append_str(out, "\"method\":");
  if (!rc) rc = ms_buf_append_json_string(out, method, strlen(method));
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

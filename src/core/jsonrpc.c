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
  return MS_RPC_INVALID;
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

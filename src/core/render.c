/* render.c — steps and the text a model sees for a CallToolResult. */
#include <stdio.h>
#include <string.h>

#include "core.h"

cJSON *ms__step_object(const char *type) {
  cJSON *o = cJSON_CreateObject();
  if (o && !cJSON_AddStringToObject(o, "type", type)) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}


/* The text a model sees for a CallToolResult. */
char *ms__result_text(const cJSON *content, const cJSON *structured, int is_error) {
  ms_buf b = {0};
  int rc = is_error ? ms_buf_append_str(&b, "Error: ") : 0;
  const cJSON *item;
  int first = 1;
  cJSON_ArrayForEach(item, content) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    if (!first) rc |= ms_buf_append_byte(&b, '\n');
    first = 0;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(item, "text");
    if (strcmp(t, "text") == 0 && cJSON_IsString(text)) {
      rc |= ms_buf_append_str(&b, text->valuestring);
    } else if (strcmp(t, "resource") == 0) {
      const cJSON *r = cJSON_GetObjectItemCaseSensitive(item, "resource");
      const cJSON *rt = cJSON_GetObjectItemCaseSensitive(r, "text");
      const cJSON *uri = cJSON_GetObjectItemCaseSensitive(r, "uri");
      if (cJSON_IsString(rt)) rc |= ms_buf_append_str(&b, rt->valuestring);
      else {
        rc |= ms_buf_append_str(&b, "[resource ");
        rc |= ms_buf_append_str(&b, cJSON_IsString(uri) ? uri->valuestring : "");
        rc |= ms_buf_append_byte(&b, ']');
      }
    } else {
      const cJSON *uri = cJSON_GetObjectItemCaseSensitive(item, "uri");
      const cJSON *mime = cJSON_GetObjectItemCaseSensitive(item, "mimeType");
      rc |= ms_buf_append_byte(&b, '[');
      rc |= ms_buf_append_str(&b, t[0] ? t : "content");
      if (cJSON_IsString(uri)) {
        rc |= ms_buf_append_byte(&b, ' ');
        rc |= ms_buf_append_str(&b, uri->valuestring);
      }
      if (cJSON_IsString(mime)) {
        rc |= ms_buf_append_byte(&b, ' ');
        rc |= ms_buf_append_str(&b, mime->valuestring);
      }
      rc |= ms_buf_append_byte(&b, ']');
    }
  }
  if (first && structured) {
    char *s = ms__json_print(structured);
    rc |= s ? ms_buf_append_str(&b, s) : MS_ERR_NOMEM;
    ms_free(s);
  }
  rc |= ms_buf_append_byte(&b, 0);
  if (rc) {
    ms_buf_free(&b);
    return NULL;
  }
  return (char *)b.data;
}

/* catalog.c — the tool catalogue of a stream: every session's tools under the
 * names the model sees (names.c), minus the disallowed ones. */
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "stream.h"

int ms__in_list(const cJSON *arr, const char *a, const char *b) {
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    if (strcmp(e->valuestring, a) == 0 || (b && strcmp(e->valuestring, b) == 0)) return 1;
  }
  return 0;
}

/* The tools of every session, under the names the model sees (names.c:
 * unique by construction, each mapping back to one (server, tool)), minus
 * the disallowed ones. */
int ms__st_build_tools(ms_ctx *ctx, ms_stream *st) {
  size_t total = 0;
  for (size_t i = 0; i < st->nsids; i++)
    total += (size_t)cJSON_GetArraySize(ms__session_get(ctx, st->sids[i])->tools);
  size_t n = total ? total : 1;
  st->tools = ms_malloc(n * sizeof *st->tools);
  st->tools_json = cJSON_CreateArray();
  const char **servers = ms_malloc(n * sizeof *servers);
  const char **names = ms_malloc(n * sizeof *names);
  const cJSON **defs = ms_malloc(n * sizeof *defs);
  int32_t *sids = ms_malloc(n * sizeof *sids);
  char **mnames = ms_malloc(n * sizeof *mnames);
  int rc = st->tools && st->tools_json && servers && names && defs && sids && mnames ? 0 : MS_ERR_NOMEM;
  size_t k = 0;
  for (size_t i = 0; !rc && i < st->nsids; i++) {
    ms_session *s = ms__session_get(ctx, st->sids[i]);
    const cJSON *t;
    cJSON_ArrayForEach(t, s->tools) {
      servers[k] = s->name;
      names[k] = cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring;
      defs[k] = t;
      sids[k++] = s->id;
    }
  }
  if (!rc) rc = ms_model_names(servers, names, k, mnames);
  size_t used = 0; /* mnames[0..used) were taken over or freed */
  for (; !rc && used < k; used++) {
    char *mname = mnames[used];
    const char *name = names[used];
    const cJSON *t = defs[used];
    if (!mname || ms__in_list(st->disallowed, name, mname)) {
      ms_free(mname);
      continue;
    }
    char *own_name = ms_strndup(name, strlen(name));
    if (!own_name) {
      rc = MS_ERR_NOMEM;
      break; /* mnames[used] is freed below */
    }
    st->tools[st->ntools++] = (ms_tool_ref){mname, sids[used], own_name};
    cJSON *fn = cJSON_CreateObject();
    cJSON *wrap = cJSON_CreateObject();
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(t, "description");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(t, "inputSchema");
    cJSON *params = cJSON_IsObject(schema) ? cJSON_Duplicate(schema, 1)
                                           : cJSON_Parse("{\"type\":\"object\",\"properties\":{}}");
    /* built whole before it joins the list: every step can ms__st_fail */
    int ok = fn && wrap && params && cJSON_AddStringToObject(fn, "name", mname) &&
             (!cJSON_IsString(desc) || cJSON_AddStringToObject(fn, "description", desc->valuestring)) &&
             cJSON_AddItemToObject(fn, "parameters", params);
    if (ok) params = NULL; /* fn owns it */
    ok = ok && cJSON_AddStringToObject(wrap, "type", "function") &&
         cJSON_AddItemToObject(wrap, "function", fn);
    if (ok) fn = NULL; /* wrap owns it */
    if (!ok || !cJSON_AddItemToArray(st->tools_json, wrap)) {
      cJSON_Delete(fn);
      cJSON_Delete(wrap);
      cJSON_Delete(params);
      rc = MS_ERR_NOMEM;
      used++; /* this one belongs to st->tools already */
      break;
    }
  }
  if (rc)
    for (size_t i = used; i < k; i++) ms_free(mnames[i]);
  ms_free(servers);
  ms_free(names);
  ms_free(defs);
  ms_free(sids);
  ms_free(mnames);
  return rc;
}

const ms_tool_ref *ms__st_find_tool(const ms_stream *st, const char *mname) {
  for (size_t i = 0; i < st->ntools; i++)
    if (strcmp(st->tools[i].model_name, mname) == 0) return &st->tools[i];
  return NULL;
}


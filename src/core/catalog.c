/* catalog.c — the tool catalogue of a stream: the tools of its servers under
 * the names the model sees (names.c), minus the disallowed ones, and the way
 * back from a model's name to (session, tool). Pure functions of their input
 * (no context, no session): tested with data. */
#include <string.h>

#include "core.h"

int ms_name_listed(const cJSON *arr, const char *a, const char *b) {
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    if (strcmp(e->valuestring, a) == 0 || (b && strcmp(e->valuestring, b) == 0)) return 1;
  }
  return 0;
}

/* The tools of every source, under the names the model sees (names.c:
 * unique by construction, each mapping back to one (server, tool)), minus
 * the disallowed ones. */
int ms_catalog_build(ms_catalog *cat, const ms_tool_source *src, size_t nsrc,
                     const cJSON *disallowed) {
  size_t total = 0;
  for (size_t i = 0; i < nsrc; i++) total += (size_t)cJSON_GetArraySize(src[i].tools);
  size_t n = total ? total : 1;
  cat->tools = ms_malloc(n * sizeof *cat->tools);
  cat->json = cJSON_CreateArray();
  const char **servers = ms_malloc(n * sizeof *servers);
  const char **names = ms_malloc(n * sizeof *names);
  const cJSON **defs = ms_malloc(n * sizeof *defs);
  int32_t *sids = ms_malloc(n * sizeof *sids);
  char **mnames = ms_malloc(n * sizeof *mnames);
  int rc = cat->tools && cat->json && servers && names && defs && sids && mnames ? 0 : MS_ERR_NOMEM;
  size_t k = 0;
  for (size_t i = 0; !rc && i < nsrc; i++) {
    const cJSON *t;
    cJSON_ArrayForEach(t, src[i].tools) {
      servers[k] = src[i].server;
      names[k] = cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring;
      defs[k] = t;
      sids[k++] = src[i].sid;
    }
  }
  if (!rc) rc = ms_model_names(servers, names, k, mnames);
  size_t used = 0; /* mnames[0..used) were taken over or freed */
  for (; !rc && used < k; used++) {
    char *mname = mnames[used];
    const char *name = names[used];
    const cJSON *t = defs[used];
    if (!mname || ms_name_listed(disallowed, name, mname)) {
      ms_free(mname);
      continue;
    }
    char *own_name = ms_strndup(name, strlen(name));
    if (!own_name) {
      rc = MS_ERR_NOMEM;
      break; /* mnames[used] is freed below */
    }
    cat->tools[cat->n++] = (ms_tool_ref){mname, sids[used], own_name};
    cJSON *fn = cJSON_CreateObject();
    cJSON *wrap = cJSON_CreateObject();
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(t, "description");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(t, "inputSchema");
    cJSON *params = cJSON_IsObject(schema) ? cJSON_Duplicate(schema, 1)
                                           : cJSON_Parse("{\"type\":\"object\",\"properties\":{}}");
    /* built whole before it joins the list: every step can fail */
    int ok = fn && wrap && params && cJSON_AddStringToObject(fn, "name", mname) &&
             (!cJSON_IsString(desc) || cJSON_AddStringToObject(fn, "description", desc->valuestring)) &&
             cJSON_AddItemToObject(fn, "parameters", params);
    if (ok) params = NULL; /* fn owns it */
    ok = ok && cJSON_AddStringToObject(wrap, "type", "function") &&
         cJSON_AddItemToObject(wrap, "function", fn);
    if (ok) fn = NULL; /* wrap owns it */
    if (!ok || !cJSON_AddItemToArray(cat->json, wrap)) {
      cJSON_Delete(fn);
      cJSON_Delete(wrap);
      cJSON_Delete(params);
      rc = MS_ERR_NOMEM;
      used++; /* this one belongs to cat->tools already */
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

const ms_tool_ref *ms_catalog_find(const ms_catalog *cat, const char *model_name) {
  for (size_t i = 0; i < cat->n; i++)
    if (strcmp(cat->tools[i].model_name, model_name) == 0) return &cat->tools[i];
  return NULL;
}

void ms_catalog_free(ms_catalog *cat) {
  for (size_t i = 0; i < cat->n; i++) {
    ms_free(cat->tools[i].model_name);
    ms_free(cat->tools[i].name);
  }
  ms_free(cat->tools);
  cJSON_Delete(cat->json);
  *cat = (ms_catalog){0};
}


/* catalog.c — tool catalogues: the tools of a set of servers under the names
 * the model sees (names.c), minus the disallowed ones, with the model
 * request's "tools" array rendered once, and the way back from a model's name
 * to (session, tool). A catalogue is immutable once built and shared,
 * refcounted, by every stream with the same key (the sessions, each at one
 * tools/list generation, and the disallowed list): a suspended stream holds a
 * reference, not a copy. Pure functions of their input (no context, no
 * session; the list of catalogues in use is the caller's): tested with data. */
#include <string.h>

#include "core.h"

int ms_name_listed(const cJSON *arr, const char *a, const char *b) {
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    if (strcmp(e->valuestring, a) == 0 || (b && strcmp(e->valuestring, b) == 0)) return 1;
  }
  return 0;
}

void ms_catalog_unref(ms_catalog *c) {
  if (!c || --c->refs > 0) return;
  if (c->pprev) {
    *c->pprev = c->next;
    if (c->next) c->next->pprev = c->pprev;
  }
  for (size_t i = 0; i < c->n; i++) {
    ms_free(c->tools[i].model_name);
    ms_free(c->tools[i].name);
  }
  ms_free(c->tools);
  ms_free(c->text);
  ms_free(c->key);
  ms_free(c->disallowed);
  ms_free(c);
}

/* The disallowed list as one block: every name followed by its NUL. */
static size_t disallowed_bytes(const cJSON *disallowed) {
  size_t n = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, disallowed) n += strlen(e->valuestring) + 1;
  return n;
}

/* 1 when c was built from exactly these sources and disallowed list. */
static int same_key(const ms_catalog *c, const ms_tool_source *src, size_t nsrc,
                    const cJSON *disallowed) {
  if (c->nkey != nsrc) return 0;
  for (size_t i = 0; i < nsrc; i++)
    if (c->key[i].sid != src[i].sid || c->key[i].gen != src[i].gen) return 0;
  const char *p = c->disallowed, *end = c->disallowed + c->disallowed_len;
  const cJSON *e;
  cJSON_ArrayForEach(e, disallowed) {
    size_t len = strlen(e->valuestring);
    if ((size_t)(end - p) < len + 1 || memcmp(p, e->valuestring, len + 1) != 0) return 0;
    p += len + 1;
  }
  return p == end;
}

/* Appends one tool as the model sees it: {"type":"function","function":
 * {name, description?, parameters}}, printed as the whole array was before
 * (ms__json_print, unformatted). */
static int render_tool(ms_buf *out, const char *mname, const cJSON *t) {
  cJSON *fn = cJSON_CreateObject();
  cJSON *wrap = cJSON_CreateObject();
  const cJSON *desc = cJSON_GetObjectItemCaseSensitive(t, "description");
  const cJSON *schema = cJSON_GetObjectItemCaseSensitive(t, "inputSchema");
  cJSON *params = cJSON_IsObject(schema) ? cJSON_Duplicate(schema, 1)
                                         : cJSON_Parse("{\"type\":\"object\",\"properties\":{}}");
  int ok = fn && wrap && params && cJSON_AddStringToObject(fn, "name", mname) &&
           (!cJSON_IsString(desc) || cJSON_AddStringToObject(fn, "description", desc->valuestring)) &&
           cJSON_AddItemToObject(fn, "parameters", params);
  if (ok) params = NULL; /* fn owns it */
  ok = ok && cJSON_AddStringToObject(wrap, "type", "function") && cJSON_AddItemToObject(wrap, "function", fn);
  if (ok) fn = NULL; /* wrap owns it */
  char *text = ok ? ms__json_print(wrap) : NULL;
  int rc = text && ms_buf_append_str(out, text) == 0 ? 0 : MS_ERR_NOMEM;
  ms_free(text);
  cJSON_Delete(fn);
  cJSON_Delete(wrap);
  cJSON_Delete(params);
  return rc;
}

/* Builds a catalogue (refs 1, in no list): the tools of every source, under
 * the names the model sees (names.c: unique by construction, each mapping
 * back to one (server, tool)), minus the disallowed ones. */
static int build(const ms_tool_source *src, size_t nsrc, const cJSON *disallowed, ms_catalog **out) {
  ms_catalog *c = ms_malloc(sizeof *c);
  if (!c) return MS_ERR_NOMEM;
  memset(c, 0, sizeof *c);
  c->refs = 1;
  size_t total = 0;
  for (size_t i = 0; i < nsrc; i++) total += (size_t)cJSON_GetArraySize(src[i].tools);
  size_t n = total ? total : 1;
  c->nkey = nsrc;
  c->key = ms_malloc((nsrc ? nsrc : 1) * sizeof *c->key);
  c->disallowed_len = disallowed_bytes(disallowed);
  c->disallowed = ms_malloc(c->disallowed_len ? c->disallowed_len : 1);
  c->tools = ms_malloc(n * sizeof *c->tools);
  const char **servers = ms_malloc(n * sizeof *servers);
  const char **names = ms_malloc(n * sizeof *names);
  const cJSON **defs = ms_malloc(n * sizeof *defs);
  int32_t *sids = ms_malloc(n * sizeof *sids);
  char **mnames = ms_malloc(n * sizeof *mnames);
  ms_buf text = {0};
  int rc = c->key && c->disallowed && c->tools && servers && names && defs && sids && mnames
               ? 0
               : MS_ERR_NOMEM;
  if (!rc) {
    char *p = c->disallowed;
    const cJSON *e;
    cJSON_ArrayForEach(e, disallowed) {
      size_t len = strlen(e->valuestring);
      memcpy(p, e->valuestring, len + 1);
      p += len + 1;
    }
  }
  size_t k = 0;
  for (size_t i = 0; !rc && i < nsrc; i++) {
    c->key[i].sid = src[i].sid;
    c->key[i].gen = src[i].gen;
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
    if (!mname || ms_name_listed(disallowed, name, mname)) {
      ms_free(mname);
      continue;
    }
    char *own_name = ms_strndup(name, strlen(name));
    if (!own_name) {
      rc = MS_ERR_NOMEM;
      break; /* mnames[used] is freed below */
    }
    c->tools[c->n++] = (ms_tool_ref){mname, sids[used], own_name};
    rc = ms_buf_append_byte(&text, c->n == 1 ? '[' : ',') ? MS_ERR_NOMEM : 0;
    if (!rc) rc = render_tool(&text, mname, defs[used]);
    if (rc) {
      used++; /* this one belongs to c->tools already */
      break;
    }
  }
  if (rc)
    for (size_t i = used; i < k; i++) ms_free(mnames[i]);
  if (!rc && c->n) rc = ms_buf_append(&text, "]", 2) ? MS_ERR_NOMEM : 0; /* with its NUL */
  ms_free(servers);
  ms_free(names);
  ms_free(defs);
  ms_free(sids);
  ms_free(mnames);
  if (!rc && c->n) {
    /* the slack of its growth given back: it is kept as long as the catalogue */
    uint8_t *d = text.len < text.cap ? ms_realloc(text.data, text.len) : NULL;
    if (d) text.data = d;
    c->text = (char *)text.data;
    c->text_len = text.len - 1;
  } else {
    ms_buf_free(&text);
  }
  if (rc) {
    ms_catalog_unref(c);
    return rc;
  }
  *out = c;
  return 0;
}

int ms_catalog_get(ms_catalog **list, const ms_tool_source *src, size_t nsrc,
                   const cJSON *disallowed, ms_catalog **out) {
  for (ms_catalog *c = *list; c; c = c->next) {
    if (same_key(c, src, nsrc, disallowed)) {
      c->refs++;
      *out = c;
      return 0;
    }
  }
  MS_ALLOC_SCOPE(NULL); /* shared: charged to no stream's budget */
  ms_catalog *c;
  int rc = build(src, nsrc, disallowed, &c);
  if (rc) return rc;
  /* listed: the next stream with the same key shares it */
  c->next = *list;
  c->pprev = list;
  if (c->next) c->next->pprev = &c->next;
  *list = c;
  *out = c;
  return 0;
}

void ms_catalog_write_tools(const void *cat, char *out) {
  const ms_catalog *c = cat;
  memcpy(out, c->text, c->text_len);
}

const ms_tool_ref *ms_catalog_find(const ms_catalog *cat, const char *model_name) {
  for (size_t i = 0; cat && i < cat->n; i++)
    if (strcmp(cat->tools[i].model_name, model_name) == 0) return &cat->tools[i];
  return NULL;
}

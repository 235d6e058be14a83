/* catalog.c — tool catalogues: the tools of a set of servers under the names
 * the model sees (names.c), minus the disallowed ones, with the length of the
 * model request's "tools" array known once (each request writes it from the
 * spans of the servers' own text, which the catalogue holds references to:
 * the tools are never held twice), and the way back from a model's name to
 * (session, tool). A catalogue is immutable once built and shared,
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
    ms_blob_unref(c->tools[i].blob);
  }
  ms_free(c->tools);
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

/* One tool as the model sees it: {"type":"function","function":{name,
 * description?, parameters}} (as cJSON printed it before: unformatted), the
 * description and the schema the JSON text the server sent. */
#define ENTRY_HEAD "{\"type\":\"function\",\"function\":{\"name\":\""
#define ENTRY_DESC "\",\"description\":"
#define ENTRY_NODESC "\""
#define ENTRY_PARAMS ",\"parameters\":"
#define ENTRY_NOSCHEMA "{\"type\":\"object\",\"properties\":{}}"
#define ENTRY_TAIL "}}"
#define LIT(s) (sizeof s - 1)

static size_t entry_len(const ms_tool_ref *t) {
  return LIT(ENTRY_HEAD) + strlen(t->model_name) +
         (t->desc.n ? LIT(ENTRY_DESC) + t->desc.n : LIT(ENTRY_NODESC)) + LIT(ENTRY_PARAMS) +
         (t->schema.n ? t->schema.n : LIT(ENTRY_NOSCHEMA)) + LIT(ENTRY_TAIL);
}

static char *put(char *w, const void *p, size_t n) {
  memcpy(w, p, n);
  return w + n;
}

static char *write_entry(char *w, const ms_tool_ref *t) {
  w = put(w, ENTRY_HEAD, LIT(ENTRY_HEAD));
  w = put(w, t->model_name, strlen(t->model_name)); /* [A-Za-z0-9_-]: nothing to escape */
  if (t->desc.n) {
    w = put(w, ENTRY_DESC, LIT(ENTRY_DESC));
    w = put(w, t->desc.p, t->desc.n);
  } else {
    w = put(w, ENTRY_NODESC, LIT(ENTRY_NODESC));
  }
  w = put(w, ENTRY_PARAMS, LIT(ENTRY_PARAMS));
  w = t->schema.n ? put(w, t->schema.p, t->schema.n) : put(w, ENTRY_NOSCHEMA, LIT(ENTRY_NOSCHEMA));
  return put(w, ENTRY_TAIL, LIT(ENTRY_TAIL));
}

int ms_catalog_write_some(const ms_catalog *c, size_t *next, ms_buf *out, size_t most) {
  size_t start = out->len;
  while (*next < c->n) {
    const ms_tool_ref *t = &c->tools[*next];
    size_t n = 1 + t->text_len + (*next + 1 == c->n); /* [ or , before it; ] after the last */
    if (out->len > start && out->len - start + n > most) break; /* (one at least) */
    if (ms_buf_reserve(out, n)) return MS_ERR_NOMEM;
    char *w = (char *)out->data + out->len;
    *w++ = *next ? ',' : '[';
    w = write_entry(w, t);
    if (*next + 1 == c->n) *w = ']';
    out->len += n;
    ++*next;
  }
  return 0;
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
  for (size_t i = 0; i < nsrc; i++) total += src[i].tools ? src[i].tools->n : 0;
  size_t n = total ? total : 1;
  c->nkey = nsrc;
  c->key = ms_malloc((nsrc ? nsrc : 1) * sizeof *c->key);
  c->disallowed_len = disallowed_bytes(disallowed);
  c->disallowed = ms_malloc(c->disallowed_len ? c->disallowed_len : 1);
  c->tools = ms_malloc(n * sizeof *c->tools);
  const char **servers = ms_malloc(n * sizeof *servers);
  const char **names = ms_malloc(n * sizeof *names);
  const ms_tool **defs = ms_malloc(n * sizeof *defs);
  int32_t *sids = ms_malloc(n * sizeof *sids);
  char **mnames = ms_malloc(n * sizeof *mnames);
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
    for (size_t j = 0; src[i].tools && j < src[i].tools->n; j++) {
      const ms_tool *t = &src[i].tools->v[j];
      servers[k] = src[i].server;
      names[k] = t->name;
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
    const ms_tool *d = defs[used];
    ms_tool_ref *ref = &c->tools[c->n++];
    *ref = (ms_tool_ref){mname, sids[used], own_name, d->blob, d->desc, d->schema, 0};
    ms_blob_ref(d->blob); /* the spans outlive the session's list (list_changed) */
    ref->text_len = entry_len(ref);
    c->text_len += 1 + ref->text_len; /* "[" or "," before it */
  }
  if (rc)
    for (size_t i = used; i < k; i++) ms_free(mnames[i]);
  if (c->n) c->text_len++; /* "]" */
  ms_free(servers);
  ms_free(names);
  ms_free(defs);
  ms_free(sids);
  ms_free(mnames);
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

const ms_tool_ref *ms_catalog_find(const ms_catalog *cat, const char *model_name) {
  for (size_t i = 0; cat && i < cat->n; i++)
    if (strcmp(cat->tools[i].model_name, model_name) == 0) return &cat->tools[i];
  return NULL;
}

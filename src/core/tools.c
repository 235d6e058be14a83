/* tools.c — a server's tools as its tools/list answers gave them (core.h, "a
 * server's tools"): each tool is its decoded name and spans into the
 * answer's text, kept once (a blob), never a tree. Pure functions of their
 * input (no context, no session). */
#include <string.h>

#include "core.h"

void ms_tools_clear(ms_tools *t) {
  for (size_t i = 0; i < t->n; i++) {
    ms_free(t->v[i].name);
    ms_blob_unref(t->v[i].blob);
  }
  ms_free(t->v);
  *t = (ms_tools){0};
}

/* A NUL-terminated decoded copy of a validated string span, a "\u0000" as
 * the parser marks it in cJSON strings (MS_NUL_MARK), or NULL. */
static char *decode(const ms_jspan *s) {
  size_t n = ms_json_str_decode(s, NULL, 0);
  char *d = ms_malloc(n + 1);
  if (!d) return NULL;
  ms_json_str_decode(s, d, n);
  for (size_t i = 0; i < n; i++)
    if (d[i] == 0) d[i] = (char)MS_NUL_MARK;
  d[n] = '\0';
  return d;
}

static const ms_jspan none = {NULL, 0, MS_JT_NONE};

int ms_tools_add_page(ms_tools *t, ms_blob *blob, const ms_jspan *result, char **cursor) {
  *cursor = NULL;
  ms_jspan tools, el, name, c;
  ms_json_member(result, "tools", &tools);
  if (tools.type == MS_JT_ARRAY) {
    ms_jiter it;
    size_t count = 0; /* the page's tools, to make their room at once: no doubling, no holes */
    ms_json_iter(&tools, &it);
    while (ms_json_next(&it, NULL, &el))
      count += el.type == MS_JT_OBJECT && ms_json_member(&el, "name", &name) && name.type == MS_JT_STRING;
    if (count > t->cap - t->n) {
      ms_tool *v = ms_realloc(t->v, (t->n + count) * sizeof *v);
      if (!v) return MS_ERR_NOMEM;
      t->v = v;
      t->cap = t->n + count;
    }
    ms_json_iter(&tools, &it);
    while (ms_json_next(&it, NULL, &el)) {
      if (el.type != MS_JT_OBJECT || !ms_json_member(&el, "name", &name) || name.type != MS_JT_STRING)
        continue;
      if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        ms_tool *v = ms_realloc(t->v, cap * sizeof *v);
        if (!v) return MS_ERR_NOMEM;
        t->v = v;
        t->cap = cap;
      }
      ms_tool *x = &t->v[t->n];
      x->name = decode(&name);
      if (!x->name) return MS_ERR_NOMEM;
      x->def = el;
      ms_json_member(&el, "description", &x->desc);
      if (x->desc.type != MS_JT_STRING) x->desc = none;
      ms_json_member(&el, "inputSchema", &x->schema);
      if (x->schema.type != MS_JT_OBJECT) x->schema = none;
      x->blob = blob;
      ms_blob_ref(blob);
      t->n++;
    }
  }
  if (ms_json_member(result, "nextCursor", &c) && c.type == MS_JT_STRING && c.n > 2) {
    *cursor = decode(&c);
    if (!*cursor) return MS_ERR_NOMEM;
  }
  return 0;
}

char *ms_tools_json(const ms_tools *t, size_t *len) {
  size_t total = 2 + (t->n ? t->n - 1 : 0);
  for (size_t i = 0; i < t->n; i++) total += t->v[i].def.n;
  char *out = ms_malloc(total + 1);
  if (!out) return NULL;
  char *w = out;
  *w++ = '[';
  for (size_t i = 0; i < t->n; i++) {
    if (i) *w++ = ',';
    memcpy(w, t->v[i].def.p, t->v[i].def.n);
    w += t->v[i].def.n;
  }
  *w++ = ']';
  *w = '\0';
  *len = total;
  return out;
}

/* names.c — the tool names a model sees, unique by construction.
 *
 * Chat Completions accepts function names of [A-Za-z0-9_-]{1,64}. Tools come
 * from several servers, with any names. The rules (README, "Tool names the
 * model sees"):
 *
 *  1. A tool's candidate is its own name, or "<server>__<name>" when another
 *     server has a tool of the same name.
 *  2. A candidate that is already a valid function name and that no other
 *     tool's valid candidate equals is sent as it is.
 *  3. Every other tool (its candidate needed changes: characters outside the
 *     set, or longer than 64; or it equals another tool's candidate) gets
 *     the candidate with each byte outside the set replaced by "_", cut to 55
 *     bytes, then "_" and 8 hex digits of a hash of its (server, name) pair.
 *     Should that be taken already (a tool may be named so), the hash is
 *     salted with 1, 2, ... until the name is free. These are assigned in
 *     (server, name) byte order, so the same tools give the same names
 *     whatever order the servers list them in.
 *  4. A (server, name) pair listed twice is named once (the repeat is left
 *     out).
 * So every name maps back to exactly one (server, tool) pair. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define NAME_MAX_LEN 64
#define PREFIX_LEN 55 /* + "_" + 8 hex digits = 64 */

static int name_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

static int valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > NAME_MAX_LEN) return 0;
  for (size_t i = 0; i < n; i++)
    if (!name_char((unsigned char)s[i])) return 0;
  return 1;
}

/* FNV-1a (32 bits) of server, a 0 byte, name, and the salt when it is not 0. */
static uint32_t pair_hash(const char *server, const char *name, uint32_t salt) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)server; *p; p++) h = (h ^ *p) * 16777619u;
  h = (h ^ 0u) * 16777619u;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 16777619u;
  for (int i = 0; salt && i < 4; i++) h = (h ^ ((salt >> (8 * i)) & 0xffu)) * 16777619u;
  return h;
}

typedef struct entry {
  const char *server, *name;
  char *cand;   /* the candidate (rule 1), seam memory */
  int dup;      /* rule 4: a repeat of an earlier pair */
  int plain;    /* rule 2: sent as it is */
} entry;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_pair(const void *a, const void *b) {
  const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
  int c = strcmp(x->server, y->server);
  return c ? c : strcmp(x->name, y->name);
}

static int cmp_cand(const void *a, const void *b) {
  const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
  return strcmp(x->cand, y->cand);
}

/* Whether `s` is a plain name (sorted) or one of the first `nassigned` names assigned by rule 3. */
static int taken(const char *s, char *const *plain, size_t nplain, char *const *assigned,
                 size_t nassigned) {
  if (nplain && bsearch(&s, plain, nplain, sizeof *plain, cmp_str)) return 1;
  for (size_t i = 0; i < nassigned; i++)
    if (strcmp(assigned[i], s) == 0) return 1;
  return 0;
}

int ms_model_names(const char *const *servers, const char *const *names, size_t n, char **out) {
  for (size_t i = 0; i < n; i++) out[i] = NULL;
  if (n == 0) return 0;
  entry *e = ms_malloc(n * sizeof *e);
  entry **order = ms_malloc(n * sizeof *order);
  char **plain = ms_malloc(n * sizeof *plain);
  char **assigned = ms_malloc(n * sizeof *assigned);
  int rc = e && order && plain && assigned ? 0 : MS_ERR_NOMEM;
  size_t nplain = 0, nassigned = 0;
  for (size_t i = 0; e && i < n; i++) e[i] = (entry){servers[i], names[i], NULL, 0, 0};
  if (rc) goto done;
  for (size_t i = 0; i < n; i++) order[i] = &e[i];
  /* rule 4, and the (server, name) order of rule 3 */
  qsort(order, n, sizeof *order, cmp_pair);
  for (size_t i = 1; i < n; i++)
    if (cmp_pair(&order[i - 1], &order[i]) == 0) order[i]->dup = 1;
  /* rule 1: a name another server also has is qualified by its server */
  entry **by_name = ms_malloc(n * sizeof *by_name);
  if (!by_name) {
    rc = MS_ERR_NOMEM;
    goto done;
  }
  memcpy(by_name, order, n * sizeof *by_name);
  for (size_t i = 0; i < n; i++) by_name[i]->cand = (char *)by_name[i]->name; /* for sorting */
  qsort(by_name, n, sizeof *by_name, cmp_cand);
  for (size_t i = 0; i < n && !rc; i++) {
    entry *x = by_name[i];
    int shared = 0;
    for (size_t j = i; j-- > 0 && strcmp(by_name[j]->name, x->name) == 0;)
      shared |= strcmp(by_name[j]->server, x->server) != 0;
    for (size_t j = i + 1; j < n && strcmp(by_name[j]->name, x->name) == 0; j++)
      shared |= strcmp(by_name[j]->server, x->server) != 0;
    size_t sl = strlen(x->server), nl = strlen(x->name);
    char *c = ms_malloc((shared ? sl + 2 : 0) + nl + 1);
    if (!c) {
      rc = MS_ERR_NOMEM;
      break;
    }
    if (shared) {
      memcpy(c, x->server, sl);
      memcpy(c + sl, "__", 2);
      memcpy(c + sl + 2, x->name, nl + 1);
    } else {
      memcpy(c, x->name, nl + 1);
    }
    x->cand = c;
  }
  if (rc) {
    /* the candidates not replaced yet still point at the names */
    for (size_t i = 0; i < n; i++)
      if (e[i].cand == e[i].name) e[i].cand = NULL;
    ms_free(by_name);
    goto done;
  }
  /* rule 2: valid candidates that no other (non-repeat) tool shares */
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (!order[i]->dup && valid_name(order[i]->cand)) by_name[m++] = order[i];
  qsort(by_name, m, sizeof *by_name, cmp_cand);
  for (size_t i = 0; i < m; i++) {
    int alone = (i == 0 || strcmp(by_name[i - 1]->cand, by_name[i]->cand) != 0) &&
                (i + 1 == m || strcmp(by_name[i + 1]->cand, by_name[i]->cand) != 0);
    if (!alone) continue;
    by_name[i]->plain = 1;
    plain[nplain++] = by_name[i]->cand; /* in candidate order: sorted */
  }
  ms_free(by_name);
  /* rule 3, in (server, name) order */
  for (size_t i = 0; i < n && !rc; i++) {
    entry *x = order[i];
    if (x->dup || x->plain) continue;
    char buf[NAME_MAX_LEN + 1];
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)x->cand; *p && len < PREFIX_LEN; p++)
      buf[len++] = name_char(*p) ? (char)*p : '_';
    static const char hex[] = "0123456789abcdef";
    for (uint32_t salt = 0;; salt++) {
      uint32_t h = pair_hash(x->server, x->name, salt);
      buf[len] = '_';
      for (int k = 0; k < 8; k++) buf[len + 1 + k] = hex[(h >> (28 - 4 * k)) & 0xfu];
      buf[len + 9] = '\0';
      if (!taken(buf, plain, nplain, assigned, nassigned)) break;
    }
    char *s = ms_strndup(buf, len + 9);
    if (!s) {
      rc = MS_ERR_NOMEM;
      break;
    }
    assigned[nassigned++] = s;
    out[x - e] = s;
  }
  /* the plain ones: their candidates are the names */
  for (size_t i = 0; i < n && !rc; i++) {
    if (!e[i].plain) continue;
    out[i] = e[i].cand;
    e[i].cand = NULL;
  }
done:
  if (e)
    for (size_t i = 0; i < n; i++) ms_free(e[i].cand);
  if (rc) { /* only names of rule 3 can be in out[] by now */
    for (size_t j = 0; j < nassigned; j++) ms_free(assigned[j]);
    for (size_t i = 0; i < n; i++) out[i] = NULL;
  }
  ms_free(e);
  ms_free(order);
  ms_free(plain);
  ms_free(assigned);
  return rc;
}

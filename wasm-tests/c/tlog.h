/* tlog.h — a growable text log for the C tests, in libc memory (so it never
 * touches the core's allocation counts), with JSON-style string escaping. */
#ifndef MS_TLOG_H
#define MS_TLOG_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tlog {
  char *p; /* NUL-terminated when non-NULL */
  size_t len, cap;
} tlog;

static inline void tlog_add(tlog *l, const void *s, size_t n) {
  if (l->len + n + 1 > l->cap) {
    size_t cap = l->cap ? l->cap : 256;
    while (cap < l->len + n + 1) cap *= 2;
    l->p = realloc(l->p, cap);
    if (!l->p) exit(2);
    l->cap = cap;
  }
  if (n) memcpy(l->p + l->len, s, n);
  l->len += n;
  l->p[l->len] = '\0';
}

static inline void tlog_str(tlog *l, const char *s) { tlog_add(l, s, strlen(s)); }

/* Appends s[0..n) as JSON.stringify would write it. */
static inline void tlog_json(tlog *l, const char *s, size_t n) {
  tlog_str(l, "\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    switch (c) {
      case '"': tlog_str(l, "\\\""); break;
      case '\\': tlog_str(l, "\\\\"); break;
      case '\b': tlog_str(l, "\\b"); break;
      case '\f': tlog_str(l, "\\f"); break;
      case '\n': tlog_str(l, "\\n"); break;
      case '\r': tlog_str(l, "\\r"); break;
      case '\t': tlog_str(l, "\\t"); break;
      default:
        if (c < 0x20) {
          snprintf(esc, sizeof esc, "\\u%04x", c);
          tlog_str(l, esc);
        } else {
          tlog_add(l, &s[i], 1);
        }
    }
  }
  tlog_str(l, "\"");
}

static inline void tlog_free(tlog *l) {
  free(l->p);
  l->p = NULL;
  l->len = l->cap = 0;
}

static inline const char *tlog_text(const tlog *l) { return l->p ? l->p : ""; }

#endif

/* json.c — cJSON with string fidelity: parsing exactly one value, printing
 * through the allocation seam. */
#include <string.h>

#include "core.h"

/* ---- string fidelity --------------------------------------------------------
 *
 * cJSON keeps strings NUL-terminated and refuses a lone surrogate escape, so
 * before it parses, the text is rewritten where needed (in a copy; text that
 * needs nothing, the common case, is parsed in place after one scan):
 *  - "\u0000" becomes the byte 0xFF (MS_NUL_MARK), which no UTF-8 text
 *    holds, inside the string; ms__json_print writes it back as "\u0000";
 *  - a lone surrogate escape ("\ud800" without its pair) becomes "\ufffd";
 *  - every invalid UTF-8 sequence becomes U+FFFD (EF BF BD), one per maximal
 *    invalid subpart as TextDecoder does, so the mark stays unambiguous.
 * An escape is recognised by its backslash, wherever it is: outside strings
 * a backslash is invalid JSON anyway, and stays so. */

static int hex4(const uint8_t *p, size_t n, size_t i, unsigned *v) {
  if (i + 4 > n) return 0;
  unsigned x = 0;
  for (size_t k = i; k < i + 4; k++) {
    uint8_t c = p[k];
    x <<= 4;
    if (c >= '0' && c <= '9') x |= c - '0';
    else if (c >= 'a' && c <= 'f') x |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') x |= c - 'A' + 10;
    else return 0;
  }
  *v = x;
  return 1;
}

/* Length of the valid UTF-8 sequence at p[i] (lead byte >= 0x80), or, when
 * invalid, -(length of its maximal invalid subpart), at least 1. */
static long utf8_seq(const uint8_t *p, size_t n, size_t i) {
  uint8_t c = p[i];
  int need;
  uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) need = 1;
  else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F; /* no encoded surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  size_t k = 1;
  for (; k <= (size_t)need; k++) {
    if (i + k >= n) return -(long)k;
    uint8_t b = p[i + k];
    if (b < lo || b > hi) return -(long)k;
    lo = 0x80;
    hi = 0xBF;
  }
  return (long)k;
}

/* Rewrites p[0..n) into out when it needs it (see above). Returns 1 when out
 * holds the rewritten text, 0 when p can be parsed as it is, or NOMEM. */
static int fix_text(const uint8_t *p, size_t n, ms_buf *out) {
  size_t run = 0, i = 0;
  int changed = 0;
#define FLUSH_THEN(bytes, len)                                                        \
  do {                                                                                \
    if (!changed && ms_buf_reserve(out, n + 16)) return MS_ERR_NOMEM;                 \
    changed = 1;                                                                      \
    if (ms_buf_append(out, p + run, i - run) || ms_buf_append(out, (bytes), (len)))   \
      return MS_ERR_NOMEM;                                                            \
  } while (0)
  while (i < n) {
    uint8_t c = p[i];
    if (c < 0x80 && c != '\\') {
      i++;
      continue;
    }
    if (c == '\\') {
      unsigned v, w;
      if (i + 1 >= n || p[i + 1] != 'u' || !hex4(p, n, i + 2, &v)) {
        i += 2; /* another escape (or the end): kept as it is */
        continue;
      }
      if (v == 0) {
        static const uint8_t mark = MS_NUL_MARK;
        FLUSH_THEN(&mark, 1);
        i += 6;
        run = i;
      } else if (v >= 0xD800 && v <= 0xDBFF && i + 7 < n && p[i + 6] == '\\' && p[i + 7] == 'u' &&
                 hex4(p, n, i + 8, &w) && w >= 0xDC00 && w <= 0xDFFF) {
        i += 12; /* a pair */
      } else if (v >= 0xD800 && v <= 0xDFFF) {
        FLUSH_THEN("\\ufffd", 6);
        i += 6;
        run = i;
      } else {
        i += 6;
      }
      continue;
    }
    long k = utf8_seq(p, n, i);
    if (k > 0) {
      i += (size_t)k;
      continue;
    }
    FLUSH_THEN("\xEF\xBF\xBD", 3);
    i += (size_t)-k;
    run = i;
  }
#undef FLUSH_THEN
  if (!changed) return 0;
  if (ms_buf_append(out, p + run, n - run)) return MS_ERR_NOMEM;
  return 1;
}

cJSON *ms__json_parse(const char *text, size_t len) {
  ms_buf fixed = {0};
  int f = fix_text((const uint8_t *)text, len, &fixed);
  if (f < 0) {
    ms_buf_free(&fixed);
    return NULL; /* an allocation failed: ms_alloc_failures() tells */
  }
  if (f) {
    text = (const char *)fixed.data;
    len = fixed.len;
  }
  const char *end = NULL;
  cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (v) {
    while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) end++;
    if (end != text + len) {
      cJSON_Delete(v);
      v = NULL;
    }
  }
  ms_buf_free(&fixed);
  return v;
}

int ms__json_append_text(ms_buf *b, const char *s, size_t n) {
  int rc = ms_buf_reserve(b, n + 2);
  if (!rc) rc = ms_buf_append_byte(b, '"');
  const char *end = s + n;
  while (!rc) {
    const char *mark = memchr(s, MS_NUL_MARK, (size_t)(end - s));
    rc = ms_buf_append_json_chars(b, s, (size_t)((mark ? mark : end) - s));
    if (rc || !mark) break;
    rc = ms_buf_append(b, "\\u0000", 6);
    s = mark + 1;
  }
  return rc ? rc : ms_buf_append_byte(b, '"');
}

/* The escape of byte c in a JSON string (as ms_buf_append_json_chars and
 * ms__json_print write it): its length, 1 when it is written as it is. */
static size_t escaped_len(uint8_t c, char out[6]) {
  static const char hex[] = "0123456789abcdef";
  char e = 0;
  switch (c) {
    case '"': e = '"'; break;
    case '\\': e = '\\'; break;
    case '\n': e = 'n'; break;
    case '\r': e = 'r'; break;
    case '\t': e = 't'; break;
    case '\b': e = 'b'; break;
    case '\f': e = 'f'; break;
    default:
      if (c >= 0x20 && c != MS_NUL_MARK) {
        out[0] = (char)c;
        return 1;
      }
      if (c == MS_NUL_MARK) c = 0;
      memcpy(out, "\\u00", 4);
      out[4] = hex[c >> 4];
      out[5] = hex[c & 15];
      return 6;
  }
  out[0] = '\\';
  out[1] = e;
  return 2;
}

/* b's bytes escaped in place between head and tail, each side with a quote
 * when `quotes`; with a NUL after it (not counted) when `nul`. */
static int escape_in_place(ms_buf *b, const char *head, const char *tail, int quotes, int nul) {
  size_t hl = strlen(head), tl = strlen(tail), n = b->len, esc = 0, q = quotes ? 1 : 0;
  char tmp[6];
  for (size_t i = 0; i < n; i++) esc += escaped_len(b->data[i], tmp) - 1;
  if (esc > SIZE_MAX / 2 - n - hl - tl) return MS_ERR_NOMEM;
  size_t total = hl + q + n + esc + q + tl + (nul ? 1 : 0); /* head " text " tail NUL */
  if (total != b->cap && total) { /* grown once to the size, or the slack of growth given back */
    uint8_t *d = ms_realloc(b->data, total);
    if (!d) return MS_ERR_NOMEM;
    b->data = d;
    b->cap = total;
  }
  uint8_t *d = b->data;
  /* from the end backwards: each byte lands at or after where it was read */
  size_t w = hl + q + n + esc;
  for (size_t r = n; r > 0;) {
    size_t k = escaped_len(d[--r], tmp);
    w -= k;
    memcpy(d + w, tmp, k);
  }
  if (hl) memcpy(d, head, hl);
  if (q) d[hl] = d[hl + 1 + n + esc] = '"';
  if (tl) memcpy(d + hl + 2 * q + n + esc, tail, tl);
  if (nul) d[total - 1] = 0;
  b->len = total - (nul ? 1 : 0);
  return 0;
}

int ms__json_wrap_text(ms_buf *b, const char *head, const char *tail) {
  return escape_in_place(b, head, tail, 1, 1);
}

int ms__json_escape_in_place(ms_buf *b, const char *head, const char *tail) {
  return escape_in_place(b, head, tail, 0, 0);
}

int ms__json_utf8_valid(const char *text, size_t n) {
  const uint8_t *p = (const uint8_t *)text;
  size_t i = 0;
  for (;;) {
    i += ms_utf8_ascii_prefix(p + i, n - i);
    if (i >= n) return 1;
    long k = utf8_seq(p, n, i);
    if (k < 0) return 0;
    i += (size_t)k;
  }
}

char *ms__json_print(const cJSON *v) {
  char *s = cJSON_PrintUnformatted(v); /* allocated through the seam (cJSON hooks) */
  if (!s || !strchr(s, MS_NUL_MARK)) return s;
  /* a NUL that came in as "\u0000" goes out the same way */
  ms_buf b = {0};
  int rc = 0;
  for (const char *p = s; *p && !rc; p++)
    rc = (uint8_t)*p == MS_NUL_MARK ? ms_buf_append(&b, "\\u0000", 6) : ms_buf_append_byte(&b, (uint8_t)*p);
  if (!rc) rc = ms_buf_append_byte(&b, 0);
  ms_free(s);
  if (rc) {
    ms_buf_free(&b);
    return NULL;
  }
  return (char *)b.data;
}

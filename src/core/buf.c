/* buf.c — a growable byte buffer. Storage comes from the allocation seam. */
#include <string.h>

#include "internal.h"

int ms_buf_reserve(ms_buf *b, size_t extra) {
  if (extra <= b->cap - b->len) return 0;
  if (extra > SIZE_MAX / 2 - b->len) return MS_ERR_NOMEM;
  size_t want = b->len + extra;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < want) cap *= 2;
  uint8_t *d = ms_realloc(b->data, cap);
  if (!d) return MS_ERR_NOMEM;
  b->data = d;
  b->cap = cap;
  return 0;
}

int ms_buf_reserve_exact(ms_buf *b, size_t extra) {
  if (extra <= b->cap - b->len) return 0;
  if (extra > SIZE_MAX / 2 - b->len) return MS_ERR_NOMEM;
  uint8_t *d = ms_realloc(b->data, b->len + extra);
  if (!d) return MS_ERR_NOMEM;
  b->data = d;
  b->cap = b->len + extra;
  return 0;
}

int ms_buf_append(ms_buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  int rc = ms_buf_reserve(b, n);
  if (rc) return rc;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int ms_buf_append_str(ms_buf *b, const char *s) { return ms_buf_append(b, s, strlen(s)); }

int ms_buf_append_byte(ms_buf *b, uint8_t c) { return ms_buf_append(b, &c, 1); }

int ms_buf_append_int(ms_buf *b, long long v) {
  char tmp[24];
  int i = (int)sizeof tmp;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do {
    tmp[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) tmp[--i] = '-';
  return ms_buf_append(b, tmp + i, sizeof tmp - (size_t)i);
}

int ms_buf_append_json_chars(ms_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  int rc = ms_buf_reserve(b, n);
  if (rc) return rc;
  size_t run = 0; /* start of the pending run of bytes that need no escape */
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    if ((rc = ms_buf_append(b, s + run, i - run))) return rc;
    run = i + 1;
    char esc[6] = {'\\', 0, 0, 0, 0, 0};
    size_t len = 2;
    switch (c) {
      case '"': esc[1] = '"'; break;
      case '\\': esc[1] = '\\'; break;
      case '\n': esc[1] = 'n'; break;
      case '\r': esc[1] = 'r'; break;
      case '\t': esc[1] = 't'; break;
      case '\b': esc[1] = 'b'; break;
      case '\f': esc[1] = 'f'; break;
      default:
        esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
        esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
        len = 6;
    }
    if ((rc = ms_buf_append(b, esc, len))) return rc;
  }
  return ms_buf_append(b, s + run, n - run);
}

int ms_buf_append_json_string(ms_buf *b, const char *s, size_t n) {
  int rc = ms_buf_reserve(b, n + 2);
  if (!rc) rc = ms_buf_append_byte(b, '"');
  if (!rc) rc = ms_buf_append_json_chars(b, s, n);
  return rc ? rc : ms_buf_append_byte(b, '"');
}

void ms_buf_reset(ms_buf *b) { b->len = 0; }

void ms_buf_free(ms_buf *b) {
  ms_free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void ms_pieces_free(ms_piece *p) {
  while (p) {
    ms_piece *next = p->next;
    ms_free(p->data);
    ms_free(p);
    p = next;
  }
}

ms_blob *ms_blob_new(char *data, size_t len) {
  ms_blob *b = ms_malloc(sizeof *b);
  if (!b) {
    ms_free(data);
    return NULL;
  }
  /* the slack of growth given back (shrinking does not move it in practice;
   * when it fails, the block stays as it is) */
  char *d = ms_realloc(data, len ? len : 1);
  b->refs = 1;
  b->len = len;
  b->data = d ? d : data;
  return b;
}

void ms_blob_ref(ms_blob *b) { b->refs++; }

void ms_blob_unref(ms_blob *b) {
  if (!b || --b->refs > 0) return;
  ms_free(b->data);
  ms_free(b);
}

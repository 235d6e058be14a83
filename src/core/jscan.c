/* jscan.c — a validating, allocation-free JSON scanner (see jscan.h).
 *
 * One pass, no recursion: the kinds of the open containers are kept in a
 * bit stack on the C stack (MS_JSON_MAX_DEPTH bits). Strings, where nearly
 * all the bytes of a large message are, are validated 16 bytes at a time
 * with their escapes (scan_string: the block's quotes, backslashes, escaped
 * bytes and control characters as bit masks), and long runs of plain
 * content 64 bytes at a time (bytescan.h). */
#include "jscan.h"

#include "bytescan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t skip_ws(const char *p, size_t n, size_t i) {
  while (i < n && is_ws((unsigned char)p[i])) i++;
  return i;
}

/* 0xFF where a byte of x ends a plain run of string content: a quote, a
 * backslash, a control character */
static inline __attribute__((always_inline)) ms_v16 str_special(ms_v16 x) {
  return ms_v16_eq(x, '"') | ms_v16_eq(x, '\\') | ms_v16_lt(x, 0x20);
}

static inline __attribute__((always_inline)) int is_str_special(unsigned char c) { return c == '"' || c == '\\' || c < 0x20; }

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* 4 hex digits at p[i..i+4) (the caller made sure they are there). */
static long hex4(const char *p, size_t i) {
  long v = 0;
  for (int k = 0; k < 4; k++) {
    int h = hexval((unsigned char)p[i + (size_t)k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/* The index of the first 64-byte run from p[i] that holds a quote, a
 * backslash or a control character (or of the last bytes, fewer than 64):
 * string content crossed 64 bytes at a time, the controls of four blocks in
 * one compare of their lowest bytes. */
static inline __attribute__((always_inline)) size_t skip_plain64(const char *p, size_t n, size_t i) {
  while (n - i >= 64) {
    ms_v16 a = ms_v16_load(p + i), b = ms_v16_load(p + i + 16), c = ms_v16_load(p + i + 32),
           d = ms_v16_load(p + i + 48);
    ms_v16 low = ms_v16_min(ms_v16_min(a, b), ms_v16_min(c, d));
    if (ms_v16_any(ms_v16_eq(a, '"') | ms_v16_eq(a, '\\') | ms_v16_eq(b, '"') | ms_v16_eq(b, '\\') |
                   ms_v16_eq(c, '"') | ms_v16_eq(c, '\\') | ms_v16_eq(d, '"') | ms_v16_eq(d, '\\') |
                   ms_v16_lt(low, 0x20)))
      break;
    i += 64;
  }
  return i;
}

/* Validates string content from p[i] (after the opening quote, or at a
 * backslash that starts an escape), one escape at a time. Returns the index
 * after the closing quote, or 0 when invalid. */
static size_t scan_string_from(const char *p, size_t n, size_t i, unsigned *flags) {
  for (;;) {
    /* to the first quote, backslash or control character: 16 bytes at a
     * time; after 64 bytes without one, 64 at a time while there is none
     * (the controls of four blocks in one compare of their lowest bytes).
     * Text with an escape every few words stays on the 16-byte steps: a
     * 64-byte step that finds something is paid for twice. */
    size_t run = i + 64; /* where 64-byte steps may start */
    for (;;) {
      if (n - i < 16) {
        while (i < n && !is_str_special((unsigned char)p[i])) i++;
        break;
      }
      ms_v16 m = str_special(ms_v16_load(p + i));
      if (ms_v16_any(m)) {
        i += ms_v16_first(m);
        break;
      }
      i += 16;
      if (i < run) continue;
      i = skip_plain64(p, n, i);
      run = SIZE_MAX; /* the rest is within the next 64 bytes (or the end is) */
    }
    if (i >= n) return 0;
    unsigned char c = (unsigned char)p[i];
    if (c == '"') return i + 1;
    if (c != '\\' || n - i < 2) return 0; /* a control character, or a backslash at the end */
    *flags |= MS_JSON_ESCAPES;
    unsigned char e = (unsigned char)p[i + 1];
    if (e == 'u') {
      if (n - i < 6) return 0;
      long v = hex4(p, i + 2);
      if (v < 0) return 0;
      if (v == 0) *flags |= MS_JSON_NUL;
      else if (v >= 0xD800 && v <= 0xDFFF) *flags |= MS_JSON_SURROGATE;
      i += 6;
    } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
               e == 't') {
      i += 2;
    } else {
      return 0;
    }
  }
}


/* The escaped positions of a 16-byte block whose backslashes are the bits of
 * b, bit 0 escaped already when cin is 1 (the last block ended with a
 * backslash that escapes it): bits 0..15, and bit 16 when the block's last
 * backslash escapes the next block's first byte. A run of backslashes
 * escapes the byte after it when its length is odd (each pair is one escaped
 * backslash): adding a run's first bit to the mask carries past its end, and
 * the run's length is odd when its start and that end differ in parity. */
static inline __attribute__((always_inline)) uint32_t escaped16(uint32_t b, uint32_t cin) {
  const uint32_t even = 0x55555555u, odd = 0xAAAAAAAAu;
  b &= ~cin; /* an escaped backslash at 0 escapes nothing */
  uint32_t starts = b & ~(b << 1);
  uint32_t after_even = (b + (starts & even)) & ~b, after_odd = (b + (starts & odd)) & ~b;
  return (after_even & odd) | (after_odd & even) | cin;
}

/* Validates the string whose opening quote is p[i]. Returns the index after
 * its closing quote, or 0 (a string never ends at index 0) when invalid.
 *
 * 16 bytes at a time, escapes included: a block's quotes, backslashes and
 * control characters as bit masks; the escaped bytes from the backslashes
 * (escaped16), carried across blocks; the string ends at the first quote
 * that is not escaped, is invalid with a control character before it or an
 * escaped byte that no escape starts with. Text with an escape every few
 * words (a JSON.stringify'd document) pays no branch per escape. A block
 * with a \u escape, and the last bytes, go the way of one escape at a time
 * (scan_string_from), which also sets the \u flags. Runs of 64 bytes with
 * nothing to look at are crossed 64 at a time (the controls of four blocks
 * in one compare of their lowest bytes), once 64 such bytes were seen: a
 * 64-byte step that finds something is paid for twice. */
/* The bytes scan_string compares with, splat, read from memory once per call:
 * in wasm, V8 would otherwise rebuild each constant vector in every pass of
 * the loop; an empty asm that "changes" the address hides them (as in
 * jcut.c and utf16.c). */
typedef struct {
  ms_v16 quote, backslash, space, u, slash, b, f, n, r, t;
} string_bytes;
#define SPLAT(c) {c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c}
static const string_bytes the_string_bytes = {SPLAT('"'), SPLAT('\\'), SPLAT(0x20), SPLAT('u'), SPLAT('/'),
                                              SPLAT('b'),  SPLAT('f'),   SPLAT('n'),  SPLAT('r'), SPLAT('t')};

static inline __attribute__((always_inline)) const string_bytes *load_string_bytes(void) {
  const string_bytes *t = &the_string_bytes;
#if defined(__wasm_simd128__)
  __asm__("" : "+r"(t));
#endif
  return t;
}

static size_t scan_string(const char *p, size_t n, size_t i, unsigned *flags) {
  const string_bytes k = *load_string_bytes();
  i++;
  uint32_t carry = 0;
  size_t run = i + 64; /* where 64-byte steps may start */
  while (n - i >= 16) {
    ms_v16 x = ms_v16_load(p + i);
    uint32_t q = ms_v16_bitmask((ms_v16)(x == k.quote)), b = ms_v16_bitmask((ms_v16)(x == k.backslash)),
             c = ms_v16_bitmask((ms_v16)(x < k.space));
    if (!(b | carry)) { /* no escape: the first quote or control character ends it */
      uint32_t s = q | c;
      if (s) {
        i += (unsigned)__builtin_ctz(s);
        return p[i] == '"' ? i + 1 : 0;
      }
      i += 16;
      if (i < run) continue;
      i = skip_plain64(p, n, i);
      run = SIZE_MAX; /* something is within the next 64 bytes (or the end is) */
      continue;
    }
    if (b) *flags |= MS_JSON_ESCAPES;
    uint32_t esc = escaped16(b, carry), in = esc & 0xFFFF;
    if (in & ms_v16_bitmask((ms_v16)(x == k.u))) /* \u: its digits and flags one at a time */
      return scan_string_from(p, n, i - carry, flags);
    uint32_t allowed = q | b |
                       ms_v16_bitmask((ms_v16)(x == k.slash) | (ms_v16)(x == k.b) | (ms_v16)(x == k.f) |
                                      (ms_v16)(x == k.n) | (ms_v16)(x == k.r) | (ms_v16)(x == k.t));
    uint32_t ends = q & ~in; /* quotes not escaped */
    uint32_t before = ends ? (1u << __builtin_ctz(ends)) - 1 : 0xFFFF;
    if ((c | (in & ~allowed)) & before) return 0;
    if (ends) return i + (unsigned)__builtin_ctz(ends) + 1;
    carry = esc >> 16;
    i += 16;
    run = i + 64;
  }
  /* the last bytes; an escape that crosses into them starts at its backslash */
  return scan_string_from(p, n, i - carry, flags);
}

/* Validates the number at p[i] (RFC 8259). Returns the index after it, or 0. */
static size_t scan_number(const char *p, size_t n, size_t i) {
  if (p[i] == '-') i++;
  if (i >= n) return 0;
  if (p[i] == '0') i++;
  else if (p[i] >= '1' && p[i] <= '9')
    while (i < n && p[i] >= '0' && p[i] <= '9') i++;
  else return 0;
  if (i < n && p[i] == '.') {
    size_t d = ++i;
    while (i < n && p[i] >= '0' && p[i] <= '9') i++;
    if (i == d) return 0;
  }
  if (i < n && (p[i] == 'e' || p[i] == 'E')) {
    i++;
    if (i < n && (p[i] == '+' || p[i] == '-')) i++;
    size_t d = i;
    while (i < n && p[i] >= '0' && p[i] <= '9') i++;
    if (i == d) return 0;
  }
  return i;
}

static int type_of(unsigned char c) {
  switch (c) {
    case '{': return MS_JT_OBJECT;
    case '[': return MS_JT_ARRAY;
    case '"': return MS_JT_STRING;
    case 't': return MS_JT_TRUE;
    case 'f': return MS_JT_FALSE;
    case 'n': return MS_JT_NULL;
    default: return MS_JT_NUMBER;
  }
}

static ms_jspan span(const char *p, size_t from, size_t to) {
  ms_jspan s = {p + from, to - from, type_of((unsigned char)p[from])};
  return s;
}

int ms_json_scan(const char *p, size_t n, ms_jspan *value, unsigned *flags,
                 ms_json_member_fn fn, void *user) {
  uint8_t objs[MS_JSON_MAX_DEPTH / 8 + 1]; /* bit d: container at depth d+1 is an object */
  size_t depth = 0, i, start, key_from = 0, key_to = 0, member_from = 0;
  unsigned fl = 0;
  int root_obj;
  if (!p) return 0;
  i = skip_ws(p, n, 0);
  if (i >= n) return 0;
  start = i;
  root_obj = p[i] == '{';
  if (!fn) root_obj = 0;

value:
  if (i >= n) return 0;
  if (depth == 1 && root_obj) member_from = i;
  switch (p[i]) {
    case '{':
    case '[': {
      int obj = p[i] == '{';
      if (depth >= MS_JSON_MAX_DEPTH) return 0;
      if (obj) objs[depth / 8] |= (uint8_t)(1u << (depth % 8));
      else objs[depth / 8] &= (uint8_t)~(1u << (depth % 8));
      depth++;
      i = skip_ws(p, n, i + 1);
      if (i >= n) return 0;
      if (p[i] == (obj ? '}' : ']')) {
        depth--;
        i++;
        goto after;
      }
      if (!obj) goto value;
      goto key;
    }
    case '"':
      i = scan_string(p, n, i, &fl);
      if (!i) return 0;
      goto after;
    case 't':
      if (n - i < 4 || memcmp(p + i, "true", 4) != 0) return 0;
      i += 4;
      goto after;
    case 'f':
      if (n - i < 5 || memcmp(p + i, "false", 5) != 0) return 0;
      i += 5;
      goto after;
    case 'n':
      if (n - i < 4 || memcmp(p + i, "null", 4) != 0) return 0;
      i += 4;
      goto after;
    default:
      i = scan_number(p, n, i);
      if (!i) return 0;
      goto after;
  }

key: /* p[i] should open a member's key */
  if (p[i] != '"') return 0;
  if (depth == 1) key_from = i; /* a member of the top-level object */
  i = scan_string(p, n, i, &fl);
  if (!i) return 0;
  if (depth == 1) key_to = i;
  i = skip_ws(p, n, i);
  if (i >= n || p[i] != ':') return 0;
  i = skip_ws(p, n, i + 1);
  goto value;

after: /* a value ended at i; depth containers are open */
  if (depth == 1 && root_obj) {
    ms_jspan k = span(p, key_from, key_to), v = span(p, member_from, i);
    fn(user, &k, &v);
  }
  if (depth == 0) {
    size_t end = i;
    if (skip_ws(p, n, i) != n) return 0;
    if (value) *value = span(p, start, end);
    if (flags) *flags |= fl;
    return 1;
  }
  i = skip_ws(p, n, i);
  if (i >= n) return 0;
  {
    int obj = (objs[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;
    if (p[i] == ',') {
      i = skip_ws(p, n, i + 1);
      if (i >= n) return 0;
      if (obj) goto key;
      goto value;
    }
    if (p[i] != (obj ? '}' : ']')) return 0;
    depth--;
    i++;
    goto after;
  }
}

/* ---- walking validated text -------------------------------------------------- */

/* The index after the validated string opening at p[i]. */
static size_t skip_string(const char *p, size_t n, size_t i) {
  i++;
  for (;;) {
    size_t run = i + 64; /* as in scan_string: 64 at a time after 64 clean bytes */
    for (;;) { /* to the first quote or backslash */
      if (n - i < 16) {
        while (i < n && p[i] != '"' && p[i] != '\\') i++;
        break;
      }
      ms_v16 x = ms_v16_load(p + i);
      ms_v16 m = ms_v16_eq(x, '"') | ms_v16_eq(x, '\\');
      if (ms_v16_any(m)) {
        i += ms_v16_first(m);
        break;
      }
      i += 16;
      if (i < run) continue;
      while (n - i >= 64 && !ms_v64_any_eq2(p + i, '"', '\\')) i += 64;
      run = SIZE_MAX;
    }
    if (i >= n) return n;
    if (p[i] == '"') return i + 1;
    i += p[i] == '\\' ? 2 : 1;
  }
}

size_t ms_json_skip_ws(const char *p, size_t n, size_t i) { return skip_ws(p, n, i); }

/* The index after the validated value starting at p[i]. */
static size_t skip_value(const char *p, size_t n, size_t i);
size_t ms_json_skip(const char *p, size_t n, size_t i) { return skip_value(p, n, i); }
static size_t skip_value(const char *p, size_t n, size_t i) {
  size_t depth = 0;
  do {
    unsigned char c = (unsigned char)p[i];
    if (c == '"') i = skip_string(p, n, i);
    else if (c == '{' || c == '[') depth++, i++;
    else if (c == '}' || c == ']') depth--, i++;
    else if (depth) i++;
    else
      while (i < n && p[i] != ',' && p[i] != '}' && p[i] != ']' && !is_ws((unsigned char)p[i])) i++;
  } while (depth && i < n);
  return i;
}

void ms_json_iter(const ms_jspan *c, ms_jiter *it) {
  it->p = c->p;
  it->n = c->n;
  it->i = c->n ? 1 : 0; /* after the bracket */
}

int ms_json_next(ms_jiter *it, ms_jspan *key, ms_jspan *value) {
  const char *p = it->p;
  size_t n = it->n, i = skip_ws(p, n, it->i);
  if (i >= n || p[i] == ']' || p[i] == '}') {
    it->i = n;
    return 0;
  }
  if (p[i] == ',') i = skip_ws(p, n, i + 1);
  if (p[i] == '"' && it->p[0] == '{') {
    size_t k = skip_string(p, n, i);
    if (key) *key = span(p, i, k);
    i = skip_ws(p, n, k);
    i = skip_ws(p, n, i + 1); /* the colon */
  } else if (key) {
    key->p = NULL, key->n = 0, key->type = MS_JT_NONE;
  }
  size_t e = skip_value(p, n, i);
  *value = span(p, i, e);
  it->i = e;
  return 1;
}

/* Decodes one unit of string content at p[*i] (a raw byte or an escape)
 * into out; returns the bytes written (1..4). */
static size_t decode_unit(const char *p, size_t end, size_t *i, unsigned char out[4]) {
  unsigned char c = (unsigned char)p[*i];
  if (c != '\\') {
    out[0] = c;
    (*i)++;
    return 1;
  }
  char e = p[*i + 1];
  *i += 2;
  switch (e) {
    case 'b': out[0] = '\b'; return 1;
    case 'f': out[0] = '\f'; return 1;
    case 'n': out[0] = '\n'; return 1;
    case 'r': out[0] = '\r'; return 1;
    case 't': out[0] = '\t'; return 1;
    case 'u': break;
    default: out[0] = (unsigned char)e; return 1;
  }
  unsigned long v = (unsigned long)hex4(p, *i);
  *i += 4;
  if (v >= 0xD800 && v <= 0xDBFF && end - *i >= 6 && p[*i] == '\\' && p[*i + 1] == 'u') {
    long w = hex4(p, *i + 2);
    if (w >= 0xDC00 && w <= 0xDFFF) {
      v = 0x10000 + ((v - 0xD800) << 10) + ((unsigned long)w - 0xDC00);
      *i += 6;
    }
  }
  if (v >= 0xD800 && v <= 0xDFFF) v = 0xFFFD; /* a lone surrogate */
  if (v < 0x80) {
    out[0] = (unsigned char)v;
    return 1;
  }
  if (v < 0x800) {
    out[0] = (unsigned char)(0xC0 | (v >> 6));
    out[1] = (unsigned char)(0x80 | (v & 0x3F));
    return 2;
  }
  if (v < 0x10000) {
    out[0] = (unsigned char)(0xE0 | (v >> 12));
    out[1] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
    out[2] = (unsigned char)(0x80 | (v & 0x3F));
    return 3;
  }
  out[0] = (unsigned char)(0xF0 | (v >> 18));
  out[1] = (unsigned char)(0x80 | ((v >> 12) & 0x3F));
  out[2] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
  out[3] = (unsigned char)(0x80 | (v & 0x3F));
  return 4;
}

size_t ms_json_str_decode(const ms_jspan *s, char *out, size_t cap) {
  size_t i = 1, end = s->n - 1, len = 0;
  while (i < end) {
    unsigned char u[4];
    size_t k = decode_unit(s->p, end, &i, u);
    for (size_t j = 0; j < k; j++, len++)
      if (len < cap) out[len] = (char)u[j];
  }
  return len;
}

int ms_json_str_eq(const ms_jspan *s, const char *lit) {
  if (s->type != MS_JT_STRING) return 0;
  size_t i = 1, end = s->n - 1, at = 0, litlen = strlen(lit);
  while (i < end) {
    unsigned char u[4];
    size_t k = decode_unit(s->p, end, &i, u);
    if (k > litlen - at || memcmp(lit + at, u, k) != 0) return 0;
    at += k;
  }
  return at == litlen;
}

int ms_json_member(const ms_jspan *o, const char *key, ms_jspan *value) {
  ms_jiter it;
  ms_jspan k, v;
  value->p = NULL, value->n = 0, value->type = MS_JT_NONE;
  if (o->type != MS_JT_OBJECT) return 0;
  ms_json_iter(o, &it);
  while (ms_json_next(&it, &k, &v)) {
    if (ms_json_str_eq(&k, key)) {
      *value = v;
      return 1;
    }
  }
  return 0;
}

double ms_json_number(const ms_jspan *num) {
  char buf[512];
  if (num->type != MS_JT_NUMBER || num->n >= sizeof buf) return NAN;
  memcpy(buf, num->p, num->n);
  buf[num->n] = '\0';
  return strtod(buf, NULL);
}

/* jcut.c — the big strings of an answer, cut out for the host.
 *
 * A host parses an answer (a tools/call result, say) with its own JSON parser.
 * A string of many kilobytes in it costs the host twice: the whole text is
 * first made a string (UTF-8 to UTF-16), then JSON.parse reads it again,
 * unescapes the string and copies it out — the slow part when the text has
 * escapes (a quote, a newline every few dozen bytes), as tool output often
 * has. Here each big string is unescaped and decoded once, straight from the
 * validated bytes, into what the host makes its string from: bytes when it
 * is all ASCII, else UTF-16 units (so an escaped lone surrogate stays one, as
 * JSON.parse keeps it). The host parses the rest, a skeleton with `null`
 * where each string was, and puts the strings back by their paths.
 *
 * Only strings whose path the host's parser resolves the same way are cut:
 * every key on the way is written without escapes, appears once in its
 * object (JSON.parse keeps the last of equal keys), and is not "__proto__";
 * at most MS_CUT_DEPTH levels deep, MS_CUT_MAX_KEYS keys per object, and
 * MS_CUT_MAX_STRINGS strings. Anything else stays in the skeleton.
 *
 * Output (ctx->cut, valid until the next take of effects):
 *   skel   the skeleton: the text with each cut string replaced by `null`;
 *   index  JSON text, an array of one entry per cut string in text order:
 *          [[key or index, ...], wide, offset, length] — wide 0: `length`
 *          ASCII bytes at data + offset; wide 1: `length` UTF-16 units;
 *   data   the strings; each starts at an even offset.
 * Runs of UTF-8 between escapes are decoded as TextDecoder decodes them
 * (utf16.c): the same units as decoding the whole text, then parsing it. */
#include <string.h>

#include "bytescan.h"
#include "core.h"

#define MS_CUT_DEPTH 8
#define MS_CUT_MAX_KEYS 32
#define MS_CUT_MAX_STRINGS 64
/* a big list of small things (a tools/list) has nothing to cut: walked through */
#define MS_CUT_MAX_VISITS 4096

typedef struct cut_step {
  const ms_jspan *key; /* NULL: an array index */
  size_t index;
} cut_step;

typedef struct cutter {
  ms_ctx *ctx;
  const char *text;
  size_t last;  /* text[last..) is not in the skeleton yet */
  size_t min;   /* the least span (quotes included) of a string cut */
  size_t count; /* strings cut */
  size_t n;
  size_t visits; /* containers walked: past MS_CUT_MAX_VISITS, nothing more is cut */
  int rc;        /* MS_ERR_NOMEM, or 1: cut nothing */
  cut_step path[MS_CUT_DEPTH];
  ms_jspan keys[MS_CUT_DEPTH][MS_CUT_MAX_KEYS];
} cutter;

static int hexdigit(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10; /* validated: A-F */
}

static unsigned hex4(const char *p) {
  return (unsigned)(hexdigit((unsigned char)p[0]) << 12 | hexdigit((unsigned char)p[1]) << 8 |
                    hexdigit((unsigned char)p[2]) << 4 | hexdigit((unsigned char)p[3]));
}

/* The unit of the escape at p[0] == '\\' (validated), and its length in *len. */
static inline __attribute__((always_inline)) unsigned escape_unit(const char *p, size_t *len) {
  *len = 2;
  switch (p[1]) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'u': *len = 6; return hex4(p + 2);
    default: return (unsigned char)p[1]; /* " \ / */
  }
}

/* The bytes the loops below look for, splat, read from memory once per call:
 * in wasm, V8 would otherwise rebuild each constant vector in every pass of
 * a loop (see utf16.c); an empty asm that "changes" the address hides them. */
typedef struct {
  ms_v16 quote, backslash, high;
} specials;
#define SPLAT(c) {c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c}
static const specials the_specials = {SPLAT('"'), SPLAT('\\'), SPLAT(0x80)};

static inline __attribute__((always_inline)) specials load_specials(void) {
  const specials *t = &the_specials;
#if defined(__wasm_simd128__)
  __asm__("" : "+r"(t));
#endif
  return *t;
}

/* Decodes the validated string whose content starts at p[i] (after the
 * opening quote) as ASCII bytes into out, which has room for what is left of
 * the text and 16 bytes more: each block of 16 is stored whole before it is
 * looked at. Returns the index of the closing quote and *o the bytes
 * written; or 0 when a byte or an escape is not ASCII (decode it wide). */
static size_t decode_narrow(const char *p, size_t n, size_t i, uint8_t *out, size_t *o) {
  const specials k16 = load_specials();
  size_t w = 0;
  for (;;) {
    if (n - i >= 16) {
      ms_v16 x = ms_v16_load(p + i);
      __builtin_memcpy(out + w, &x, 16);
      uint32_t bits = ms_v16_bitmask((ms_v16)(x == k16.quote) | (ms_v16)(x == k16.backslash) | (ms_v16)(x >= k16.high));
      if (!bits) {
        i += 16;
        w += 16;
        continue;
      }
      unsigned k = (unsigned)__builtin_ctz(bits);
      i += k;
      w += k;
    } else {
      while (i < n && p[i] != '"' && p[i] != '\\' && (unsigned char)p[i] < 0x80) out[w++] = (uint8_t)p[i++];
      if (i >= n) return 0; /* (validated text always has the closing quote) */
    }
    if (p[i] == '"') {
      *o = w;
      return i;
    }
    if (p[i] != '\\') return 0; /* not ASCII */
    size_t len;
    unsigned u = escape_unit(p + i, &len);
    if (u > 0x7F) return 0;
    out[w++] = (uint8_t)u;
    i += len;
    if (i > n) return 0; /* (never in validated text) */
  }
}

/* The same into UTF-16 units (room for what is left of the text): runs of
 * UTF-8 between escapes decoded as utf16.c decodes them, each escape one unit
 * (a lone surrogate stays one). Returns the index of the closing quote (n if
 * there is none). */
static size_t decode_wide(const char *p, size_t n, size_t i, uint16_t *out, size_t *o) {
  const specials k16 = load_specials();
  size_t w = 0;
  for (;;) {
    size_t j = i, run = i + 64; /* 64 at a time after 64 clean bytes (jscan.c's scan_string) */
    for (;;) { /* to the next quote or backslash */
      if (n - j < 16) {
        while (j < n && p[j] != '"' && p[j] != '\\') j++;
        break;
      }
      ms_v16 x = ms_v16_load(p + j);
      ms_v16 m = (ms_v16)(x == k16.quote) | (ms_v16)(x == k16.backslash);
      if (ms_v16_any(m)) {
        uint32_t bits = ms_v16_bitmask(m);
        j += (unsigned)__builtin_ctz(bits);
        break;
      }
      j += 16;
      if (j < run) continue;
      while (n - j >= 64 && !ms_v64_any_eq2(p + j, '"', '\\')) j += 64;
      run = SIZE_MAX;
    }
    w += ms_utf8_to_utf16((const uint8_t *)p + i, j - i, out + w);
    if (j >= n || p[j] == '"') {
      *o = w;
      return j;
    }
    size_t len;
    out[w++] = (uint16_t)escape_unit(p + j, &len);
    i = j + len;
    if (i > n) i = n;
  }
}

/* The string value at text[at] (its opening quote) at path[0..depth): cut
 * when it is `min` bytes or more. Returns the index after it. */
static size_t cut_string(cutter *c, size_t at, int depth) {
  ms_ctx *ctx = c->ctx;
  ms_buf *skel = &ctx->cut_skel, *index = &ctx->cut_index, *data = &ctx->cut_data;
  const char *p = c->text;
  size_t n = c->n;
  /* decoded as it is crossed (a short one is dropped after): room for the rest of the
   * text as units, and a block's slack; at an even offset */
  if ((data->len & 1 && ms_buf_append_byte(data, 0)) || ms_buf_reserve(data, (n - at) * 2 + 16)) {
    c->rc = MS_ERR_NOMEM;
    return n;
  }
  size_t off = data->len, units = 0;
  int wide = 0;
  size_t q = decode_narrow(p, n, at + 1, data->data + off, &units);
  if (!q) {
    wide = 1; /* ms_realloc's storage is aligned for any type, off is even */
    q = decode_wide(p, n, at + 1, (uint16_t *)(void *)(data->data + off), &units);
  }
  size_t end = q < n ? q + 1 : n;
  if (end - at < c->min) return end; /* short: stays in the skeleton */
  data->len = off + units * (wide ? 2 : 1);
  if (ms_buf_append(skel, p + c->last, at - c->last) || ms_buf_append(skel, "null", 4)) goto nomem;
  c->last = end;
  /* [[path], wide, offset, length] */
  if (ms_buf_append_str(index, c->count ? ",[[" : "[[[")) goto nomem;
  for (int d = 0; d < depth; d++) {
    if (d && ms_buf_append_byte(index, ',')) goto nomem;
    const cut_step *st = &c->path[d];
    if (st->key ? ms_buf_append(index, st->key->p, st->key->n) : ms_buf_append_int(index, (long long)st->index))
      goto nomem;
  }
  if (ms_buf_append_str(index, "],") || ms_buf_append_int(index, wide) || ms_buf_append_byte(index, ',') ||
      ms_buf_append_int(index, (long long)off) || ms_buf_append_byte(index, ',') ||
      ms_buf_append_int(index, (long long)units) || ms_buf_append_byte(index, ']'))
    goto nomem;
  c->count++;
  return end;
nomem:
  c->rc = MS_ERR_NOMEM;
  return n;
}

static int key_eq(const ms_jspan *a, const ms_jspan *b) { return a->n == b->n && memcmp(a->p, b->p, a->n) == 0; }

/* Walks the validated value at text[i], cutting its big strings (at
 * path[0..depth)) when `may` is set; returns the index after it. An error
 * (MS_ERR_NOMEM), or a reason to cut nothing at all (a key met twice in an
 * object something was cut from), ends the walk: c->rc. */
static size_t walk(cutter *c, size_t i, int depth, int may) {
  const char *p = c->text;
  size_t n = c->n;
  if (c->rc || i >= n) return n;
  if (p[i] == '"' && may && depth > 0 && c->count < MS_CUT_MAX_STRINGS) return cut_string(c, i, depth);
  /* a string not cut, a number or literal, or a container with nothing to cut inside (too
   * deep, past MS_CUT_MAX_VISITS, under a key that cannot be told apart): crossed without
   * recursion (jscan.h), its keys unchecked */
  if ((p[i] != '{' && p[i] != '[') || !may || depth >= MS_CUT_DEPTH || ++c->visits > MS_CUT_MAX_VISITS)
    return ms_json_skip(p, n, i);
  int object = p[i] == '{';
  size_t before = c->count; /* to tell whether something was cut inside */
  ms_jspan *keys = c->keys[depth];
  size_t nkeys = 0;
  int plain = 1; /* every key so far is without escapes, and they are few enough to compare */
  i = ms_json_skip_ws(p, n, i + 1);
  for (size_t k = 0; i < n && p[i] != '}' && p[i] != ']'; k++) { /* (i < n: validated text ends each) */
    int here = may;
    if (object) {
      size_t e = ms_json_skip(p, n, i);
      ms_jspan key = {p + i, e - i, MS_JT_STRING};
      if (plain && (nkeys == MS_CUT_MAX_KEYS || memchr(key.p, '\\', key.n))) plain = 0;
      if (plain) {
        for (size_t j = 0; j < nkeys; j++)
          if (key_eq(&keys[j], &key)) plain = 0; /* met twice: JSON.parse keeps the last */
        if (plain) keys[nkeys++] = key;
      }
      /* a key that cannot be told apart from the others: nothing cut in this object can stay */
      if (!plain && c->count > before) {
        c->rc = 1;
        return n;
      }
      here = here && plain && !(key.n == 11 && memcmp(key.p, "\"__proto__\"", 11) == 0);
      if (here) c->path[depth] = (cut_step){&keys[nkeys - 1], 0};
      i = ms_json_skip_ws(p, n, e);
      i = ms_json_skip_ws(p, n, i + 1); /* the colon */
    } else if (here) {
      c->path[depth] = (cut_step){NULL, k};
    }
    i = ms_json_skip_ws(p, n, walk(c, i, depth + 1, here));
    if (c->rc) return n;
    if (i < n && p[i] == ',') i = ms_json_skip_ws(p, n, i + 1);
  }
  return i < n ? i + 1 : n;
}

void ms__cut_reset(ms_ctx *ctx, int free_big) {
  ms_buf *bufs[] = {&ctx->cut_skel, &ctx->cut_index, &ctx->cut_data};
  for (size_t i = 0; i < 3; i++) {
    if (free_big && bufs[i]->cap > MS_CUT_KEEP_BYTES) ms_buf_free(bufs[i]);
    else ms_buf_reset(bufs[i]);
  }
}

MS_EXPORT int32_t ms_ctx_cut(ms_ctx *ctx, uint32_t index, uint32_t min) {
  if (!ctx || index >= ctx->nout) return MS_ERR_INVALID_ARGUMENT;
  const ms_effect *fx = &ctx->out[index];
  /* an answer: validated JSON text (session.c) */
  if (fx->kind != MS_FX_OP_DONE || fx->b < 0) return MS_ERR_INVALID_ARGUMENT;
  const char *text = (const char *)fx->ptr;
  size_t len = fx->len;
  ms__cut_reset(ctx, 0);
  if (len > MS_CUT_MAX_BYTES || !len || (text[0] != '{' && text[0] != '[')) return 0;
  MS_ALLOC_SCOPE(NULL); /* the context's own buffers */
  cutter *c = ms_malloc(sizeof *c);
  if (!c) return MS_ERR_NOMEM;
  c->ctx = ctx;
  c->text = text;
  c->n = len;
  c->last = 0;
  c->min = min < 2 ? 2 : min;
  c->count = 0;
  c->visits = 0;
  c->rc = 0;
  walk(c, 0, 0, 1);
  int rc = c->rc;
  if (!rc && c->count)
    rc = ms_buf_append(&ctx->cut_skel, text + c->last, len - c->last) || ms_buf_append_byte(&ctx->cut_index, ']')
             ? MS_ERR_NOMEM : 0;
  int32_t count = rc ? 0 : (int32_t)c->count;
  ms_free(c);
  if (rc < 0) {
    ms__cut_reset(ctx, 1);
    return MS_ERR_NOMEM;
  }
  if (!count) ms__cut_reset(ctx, 0);
  return count;
}

MS_EXPORT const uint8_t *ms_ctx_cut_ptr(ms_ctx *ctx, int32_t which) {
  if (!ctx) return NULL;
  switch (which) {
    case 0: return ctx->cut_skel.data;
    case 1: return ctx->cut_index.data;
    default: return ctx->cut_data.data;
  }
}

MS_EXPORT uint32_t ms_ctx_cut_len(ms_ctx *ctx, int32_t which) {
  if (!ctx) return 0;
  switch (which) {
    case 0: return (uint32_t)ctx->cut_skel.len;
    case 1: return (uint32_t)ctx->cut_index.len;
    default: return (uint32_t)ctx->cut_data.len;
  }
}

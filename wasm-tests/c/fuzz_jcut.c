/* fuzz_jcut.c — libFuzzer target for the big strings cut out of an answer
 * (src/core/jcut.c, ms_ctx_cut). The first byte picks the least size of a
 * string cut; the rest, when ms_json_scan takes it as one object or array, is
 * queued as an answer (MS_FX_OP_DONE) and cut. Then, for every string cut:
 * its path, resolved in the input as JSON.parse resolves it (the last of
 * equal keys), is a string whose decoding (escapes, and UTF-8 runs as
 * ms_utf8_to_utf16 decodes them — fuzz_utf16 checks that one — with lone
 * surrogates kept) is exactly the units or bytes the cut gave, narrow only
 * when all are ASCII; resolved in the skeleton it is `null`. The skeleton and
 * the index are valid JSON; the skeleton is the input with each string
 * replaced (its length tells). Nothing the context holds is left after free. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

#include "fuzz.h"

static int hexv(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

/* A validated string span, decoded to UTF-16 the slow way. */
static size_t ref_decode(const ms_jspan *s, uint16_t *out) {
  const char *p = s->p + 1;
  size_t n = s->n - 2, i = 0, o = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && p[j] != '\\') j++;
    o += ms_utf8_to_utf16((const uint8_t *)p + i, j - i, out + o);
    if (j == n) break;
    char e = p[j + 1];
    i = j + 2;
    switch (e) {
      case 'b': out[o++] = '\b'; break;
      case 'f': out[o++] = '\f'; break;
      case 'n': out[o++] = '\n'; break;
      case 'r': out[o++] = '\r'; break;
      case 't': out[o++] = '\t'; break;
      case 'u':
        out[o++] = (uint16_t)(hexv(p[i]) << 12 | hexv(p[i + 1]) << 8 | hexv(p[i + 2]) << 4 | hexv(p[i + 3]));
        i += 4;
        break;
      default: out[o++] = (uint16_t)(unsigned char)e;
    }
  }
  return o;
}

/* The value at the index entry's path in the validated value v, the last of
 * equal (decoded) keys winning; 0 when the path does not resolve. */
static int resolve(const ms_jspan *v, const ms_jspan *path, ms_jspan *out) {
  ms_jspan cur = *v, step;
  ms_jiter it;
  ms_json_iter(path, &it);
  while (ms_json_next(&it, NULL, &step)) {
    ms_jiter in;
    ms_jspan k, e, found = {0};
    ms_json_iter(&cur, &in);
    if (step.type == MS_JT_NUMBER) {
      if (cur.type != MS_JT_ARRAY) return 0;
      double want = ms_json_number(&step);
      for (double idx = 0; ms_json_next(&in, NULL, &e); idx++)
        if (idx == want) found = e;
    } else {
      if (cur.type != MS_JT_OBJECT) return 0;
      /* a decoded key is never longer than its span */
      char *key = malloc(step.n), *cand = NULL;
      CHECK(key);
      size_t kn = ms_json_str_decode(&step, key, step.n);
      while (ms_json_next(&in, &k, &e)) {
        cand = realloc(cand, k.n);
        CHECK(cand);
        size_t cn = ms_json_str_decode(&k, cand, k.n);
        if (cn == kn && memcmp(cand, key, kn) == 0) found = e;
      }
      free(key);
      free(cand);
    }
    if (found.type == MS_JT_NONE) return 0;
    cur = found;
  }
  *out = cur;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  uint32_t min = data[0] * 4u;
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  ms_jspan root;
  if (!ms_json_scan(text, len, &root, NULL, NULL, NULL) || (root.type != MS_JT_OBJECT && root.type != MS_JT_ARRAY))
    return 0;
  int before = ms_live_allocations();
  ms_ctx *ctx = ms_ctx_new();
  CHECK(ctx != NULL);
  /* the answer as the core queues one: the value without the whitespace around it */
  CHECK(ms__fx(ctx, MS_FX_OP_DONE, 1, 0, 0, root.p, root.n) == 0);
  CHECK(ms_ctx_take_effects(ctx) == 1);
  int32_t count = ms_ctx_cut(ctx, 0, min);
  CHECK(count >= 0 && count <= 64);
  if (count > 0) {
    const char *skel = (const char *)ms_ctx_cut_ptr(ctx, 0), *index = (const char *)ms_ctx_cut_ptr(ctx, 1);
    const uint8_t *units = ms_ctx_cut_ptr(ctx, 2);
    size_t nskel = ms_ctx_cut_len(ctx, 0), nindex = ms_ctx_cut_len(ctx, 1), ndata = ms_ctx_cut_len(ctx, 2);
    ms_jspan sroot, iroot, entry;
    CHECK(ms_json_scan(skel, nskel, &sroot, NULL, NULL, NULL));
    CHECK(ms_json_scan(index, nindex, &iroot, NULL, NULL, NULL) && iroot.type == MS_JT_ARRAY);
    uint16_t *want = malloc((root.n + 1) * sizeof *want);
    CHECK(want);
    size_t cut_bytes = 0;
    int32_t entries = 0;
    ms_jiter it;
    ms_json_iter(&iroot, &it);
    while (ms_json_next(&it, NULL, &entry)) {
      ms_jspan f[4], e;
      ms_jiter fi;
      int nf = 0;
      ms_json_iter(&entry, &fi);
      while (ms_json_next(&fi, NULL, &e)) {
        CHECK(nf < 4);
        f[nf++] = e;
      }
      CHECK(nf == 4 && f[0].type == MS_JT_ARRAY);
      int wide = (int)ms_json_number(&f[1]);
      size_t off = (size_t)ms_json_number(&f[2]), n = (size_t)ms_json_number(&f[3]);
      CHECK(off % 2 == 0 && off + n * (wide ? 2 : 1) <= ndata);
      ms_jspan orig, hole;
      CHECK(resolve(&root, &f[0], &orig) && orig.type == MS_JT_STRING);
      CHECK(orig.n >= min);
      CHECK(resolve(&sroot, &f[0], &hole) && hole.type == MS_JT_NULL);
      size_t nw = ref_decode(&orig, want);
      CHECK(nw == n);
      int ascii = 1;
      for (size_t k = 0; k < nw; k++) ascii &= want[k] < 0x80;
      CHECK(wide == !ascii);
      if (wide) {
        CHECK(memcmp(units + off, want, n * 2) == 0);
      } else {
        for (size_t k = 0; k < n; k++) CHECK(units[off + k] == want[k]);
      }
      cut_bytes += orig.n;
      entries++;
    }
    CHECK(entries == count);
    CHECK(nskel == root.n - cut_bytes + 4 * (size_t)count);
    free(want);
  }
  ms_ctx_free(ctx);
  CHECK(ms_live_allocations() == before);
  return 0;
}

/* fuzz_ndjson.c — libFuzzer target for the NDJSON framing (src/core/ndjson.c).
 *
 * Input: byte 0 picks the limit (high nibble) and the chunking (low nibble
 * seeds the chunk sizes); the rest is the stream. The stream is parsed
 *  1. by a small reference model (the whole input at once, plain loops),
 *  2. by the parser fed whole,
 *  3. by the parser fed in chunks (empty feeds included),
 *  4. by the parser fed in chunks while one allocation fails,
 *  5. by the parser fed in chunks while the reader takes every carried line
 *     it is given over (ms_ndjson_take_line) and frees it,
 * and the logs must agree (4 only when no feed reported MS_ERR_NOMEM). Every
 * report must respect the limit and hold no "\n", and live allocations must
 * be back where they were once the parser is freed. Any violation aborts. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#include "fuzz.h"

/* A log of reports in libc memory: per report, a tag byte ('L' line,
 * 'O' overflow), then for lines the length (size_t) and the bytes. */
static void flog_line(flog *l, const uint8_t *s, size_t n) {
  flog_add(l, "L", 1);
  flog_add(l, &n, sizeof n);
  flog_add(l, s, n);
}

typedef struct ctx {
  flog log;
  size_t max;
  ms_ndjson *take; /* pass 5: take carried lines from this parser */
} ctx;

static int on_line(void *user, const char *line, size_t len) {
  ctx *c = user;
  if (line == NULL) {
    CHECK(len == c->max);
    flog_add(&c->log, "O", 1);
  } else {
    CHECK(len > 0 && len <= c->max);
    CHECK(memchr(line, '\n', len) == NULL);
    flog_line(&c->log, (const uint8_t *)line, len);
    uint8_t *own = c->take ? ms_ndjson_take_line(c->take, line) : NULL;
    if (own) { /* the line itself, now the reader's */
      CHECK(own == (const uint8_t *)line);
      CHECK(ms_ndjson_take_line(c->take, line) == NULL); /* once */
      ms_free(own);
    }
  }
  return 0;
}

/* The reference: what the parser must report for p[0..n) with limit max. */
static void reference(const uint8_t *p, size_t n, size_t max, flog *out) {
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && p[j] != '\n') j++;
    size_t raw = j - i;
    if (j == n) { /* no LF: reported only when already certain to be too long */
      if (raw > max && !(raw == max + 1 && p[n - 1] == '\r')) flog_add(out, "O", 1);
      return;
    }
    size_t len = raw > 0 && p[j - 1] == '\r' ? raw - 1 : raw;
    if (len > max) flog_add(out, "O", 1);
    else if (len > 0) flog_line(out, p + i, len);
    i = j + 1;
  }
}

/* The size of the next chunk for schedule `mode` (0..15). */
static size_t chunk_size(int mode, uint32_t *rng) {
  if (mode == 0) return 1;
  if (mode == 1) return 2;
  if (mode < 8) return fz_rand(rng) % ((size_t)1 << mode); /* 0 = empty feed */
  return 1 + fz_rand(rng) % ((size_t)mode * 8);
}

/* Feeds p[0..n) in chunks (each copied to an exact-size buffer, so an
 * over-read trips ASan); counts MS_ERR_NOMEM returns in *nomem. */
static void feed_chunks(ms_ndjson *d, ctx *c, const uint8_t *p, size_t n, int mode,
                        uint32_t seed, int *nomem) {
  uint32_t rng = seed | 1;
  size_t off = 0;
  while (off < n) {
    size_t k = chunk_size(mode, &rng);
    if (k > n - off) k = n - off;
    uint8_t *copy = malloc(k ? k : 1);
    CHECK(copy != NULL);
    if (k) memcpy(copy, p + off, k);
    int rc = ms_ndjson_feed(d, copy, k, on_line, c);
    free(copy);
    if (rc == MS_ERR_NOMEM) (*nomem)++;
    else CHECK(rc == 0);
    off += k;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t maxes[16] = {0, 1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64, 100, 255, 1000, 1 << 20};
  if (size < 1) return 0;
  int mode = data[0] & 15;
  size_t max = maxes[data[0] >> 4];
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  int base = ms_live_allocations();

  flog want = {0};
  reference(p, n, max, &want);

  /* whole */
  ms_ndjson d;
  ctx c = {{0}, max, NULL};
  ms_ndjson_init(&d, max);
  CHECK(ms_ndjson_feed(&d, p, n, on_line, &c) == 0);
  ms_ndjson_free(&d);
  CHECK(ms_live_allocations() == base);
  CHECK(flog_eq(&c.log, &want));

  /* in chunks */
  int nomem = 0;
  c.log.len = 0;
  ms_ndjson_init(&d, max);
  feed_chunks(&d, &c, p, n, mode, (uint32_t)size * 2654435761u, &nomem);
  ms_ndjson_free(&d);
  CHECK(nomem == 0);
  CHECK(ms_live_allocations() == base);
  CHECK(flog_eq(&c.log, &want));

  /* in chunks, the carried lines taken over by the reader */
  c.log.len = 0;
  ms_ndjson_init(&d, max);
  c.take = &d;
  feed_chunks(&d, &c, p, n, mode, (uint32_t)size * 2654435761u, &nomem);
  c.take = NULL;
  ms_ndjson_free(&d);
  CHECK(nomem == 0);
  CHECK(ms_live_allocations() == base);
  CHECK(flog_eq(&c.log, &want));

  /* in chunks, with the k-th allocation failing */
  long k = 1 + (long)(size % 7);
  c.log.len = 0;
  nomem = 0;
  ms_alloc_fail_at(k);
  ms_ndjson_init(&d, max);
  feed_chunks(&d, &c, p, n, mode, (uint32_t)size * 2654435761u, &nomem);
  ms_ndjson_free(&d);
  long made = ms_alloc_fail_at(0);
  CHECK(ms_live_allocations() == base);
  CHECK((made >= k) == (nomem > 0));
  if (nomem == 0) CHECK(flog_eq(&c.log, &want));

  free(c.log.p);
  free(want.p);
  return 0;
}

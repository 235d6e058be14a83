/* fuzz_sse.c — libFuzzer target for the Server-Sent Events parser
 * (src/core/sse.c).
 *
 * Input: byte 0 picks the limit (high nibble) and the chunking (low nibble
 * seeds the chunk sizes); the rest is the stream. The stream is parsed
 *  1. fed byte by byte (this fixes how many limit incidents there are),
 *  2. fed whole,
 *  3. fed in chunks (empty feeds included),
 *  4. fed in chunks while one allocation fails,
 * and the events must be the same in 1-3 (and in 4 when no feed reported
 * MS_ERR_NOMEM). MS_ERR_LIMIT: the whole feed returns it iff some byte feed
 * did, and a chunked run returns it no more often than the byte run. Every
 * event must respect the limit (data, type, id), hold no CR in data or type,
 * no NUL in its id, and live allocations must be back where they were once
 * the parser is freed. Any violation aborts. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#include "fuzz.h"

/* A log of events in libc memory: per event, for each of type, id, data the
 * length (size_t) and the bytes, then retry (long). */
static void flog_str(flog *l, const char *s, size_t n) {
  flog_add(l, &n, sizeof n);
  flog_add(l, s, n);
}

typedef struct ctx {
  flog log;
  size_t max;
} ctx;

static int on_event(void *user, const ms_sse_event *ev) {
  ctx *c = user;
  CHECK(ev->type && ev->data && ev->id);
  CHECK(ev->type_len > 0);
  CHECK(ev->data_len <= c->max && ev->id_len <= c->max);
  CHECK(ev->type_len <= c->max ||
        (ev->type_len == 7 && memcmp(ev->type, "message", 7) == 0));
  CHECK(!memchr(ev->data, '\r', ev->data_len));
  CHECK(!memchr(ev->type, '\r', ev->type_len) && !memchr(ev->type, '\n', ev->type_len));
  CHECK(!memchr(ev->id, '\r', ev->id_len) && !memchr(ev->id, '\n', ev->id_len));
  CHECK(!memchr(ev->id, '\0', ev->id_len));
  CHECK(ev->retry >= -1 && ev->retry <= 2147483647L);
  flog_str(&c->log, ev->type, ev->type_len);
  flog_str(&c->log, ev->id, ev->id_len);
  flog_str(&c->log, ev->data, ev->data_len);
  flog_add(&c->log, &ev->retry, sizeof ev->retry);
  return 0;
}

/* The size of the next chunk for schedule `mode` (0..15). */
static size_t chunk_size(int mode, uint32_t *rng) {
  if (mode == 0) return 2;
  if (mode == 1) return 3;
  if (mode < 8) return fz_rand(rng) % ((size_t)1 << mode); /* 0 = empty feed */
  return 1 + fz_rand(rng) % ((size_t)mode * 8);
}

typedef struct counts {
  int limit, nomem;
} counts;

/* Feeds p[0..n) in chunks (mode < 0: byte by byte), each copied to an
 * exact-size buffer so that an over-read trips ASan. */
static counts feed_chunks(ms_sse *s, ctx *c, const uint8_t *p, size_t n,
                          int mode, uint32_t seed) {
  counts k = {0, 0};
  uint32_t rng = seed | 1;
  size_t off = 0;
  while (off < n) {
    size_t len = mode < 0 ? 1 : chunk_size(mode, &rng);
    if (len > n - off) len = n - off;
    uint8_t *copy = malloc(len ? len : 1);
    CHECK(copy != NULL);
    if (len) memcpy(copy, p + off, len);
    int rc = ms_sse_feed(s, copy, len, on_event, c);
    free(copy);
    if (rc == MS_ERR_LIMIT) k.limit++;
    else if (rc == MS_ERR_NOMEM) k.nomem++;
    else CHECK(rc == 0);
    off += len;
  }
  return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t maxes[16] = {0, 1, 2, 3, 4, 5, 6, 8, 11, 16, 24, 40, 64, 255, 1000, 1 << 20};
  if (size < 1) return 0;
  int mode = data[0] & 15;
  size_t max = maxes[data[0] >> 4];
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  uint32_t seed = (uint32_t)size * 2654435761u;
  int base = ms_live_allocations();
  ms_sse s;

  /* byte by byte: the reference */
  ctx bytes = {{0}, max};
  ms_sse_init(&s, max);
  counts kb = feed_chunks(&s, &bytes, p, n, -1, 0);
  ms_sse_free(&s);
  CHECK(kb.nomem == 0);
  CHECK(ms_live_allocations() == base);

  /* whole */
  ctx c = {{0}, max};
  ms_sse_init(&s, max);
  int rc = ms_sse_feed(&s, p, n, on_event, &c);
  ms_sse_free(&s);
  CHECK(rc == 0 || rc == MS_ERR_LIMIT);
  CHECK((rc == MS_ERR_LIMIT) == (kb.limit > 0));
  CHECK(ms_live_allocations() == base);
  CHECK(flog_eq(&c.log, &bytes.log));

  /* in chunks */
  c.log.len = 0;
  ms_sse_init(&s, max);
  counts kc = feed_chunks(&s, &c, p, n, mode, seed);
  ms_sse_free(&s);
  CHECK(kc.nomem == 0);
  CHECK((kc.limit > 0) == (kb.limit > 0) && kc.limit <= kb.limit);
  CHECK(ms_live_allocations() == base);
  CHECK(flog_eq(&c.log, &bytes.log));

  /* in chunks, with the k-th allocation failing */
  long k = 1 + (long)(size % 7);
  c.log.len = 0;
  ms_alloc_fail_at(k);
  ms_sse_init(&s, max);
  kc = feed_chunks(&s, &c, p, n, mode, seed);
  ms_sse_free(&s);
  long made = ms_alloc_fail_at(0);
  CHECK(ms_live_allocations() == base);
  CHECK((made >= k) == (kc.nomem > 0));
  if (kc.nomem == 0) CHECK(flog_eq(&c.log, &bytes.log));

  free(c.log.p);
  free(bytes.log.p);
  return 0;
}

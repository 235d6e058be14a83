/* fuzz.h — what every fuzz target shares: CHECK, an invariant that aborts
 * (so libFuzzer reports the input) with the failed condition and its line;
 * fz_rand, the xorshift32 that turns an input's seed byte into chunk sizes;
 * flog, a growable byte log in libc memory (never the core's allocator) that
 * two runs over the same input compare. */
#ifndef MS_FUZZ_H
#define MS_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
      abort();                                                          \
    }                                                                   \
  } while (0)

/* xorshift32 (a zero state starts from a fixed non-zero one) */
static inline uint32_t fz_rand(uint32_t *s) {
  uint32_t x = *s ? *s : 0x9e3779b9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

typedef struct flog {
  uint8_t *p;
  size_t len, cap;
} flog;

static inline void flog_add(flog *l, const void *s, size_t n) {
  if (l->len + n > l->cap) {
    size_t cap = l->cap ? l->cap : 256;
    while (cap < l->len + n) cap *= 2;
    uint8_t *p = realloc(l->p, cap);
    CHECK(p != NULL);
    l->p = p;
    l->cap = cap;
  }
  if (n) memcpy(l->p + l->len, s, n);
  l->len += n;
}

static inline int flog_eq(const flog *a, const flog *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

#endif

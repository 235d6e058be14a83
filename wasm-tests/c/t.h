/* t.h — the C tests' tiny harness. Each test is a function named as a
 * sentence; main() runs them with T_RUN and ends with T_END, which also
 * checks that the core's live allocations are back to zero.
 *
 *   static void ndjson_should_join_a_line_split_across_feeds(void) { T_EQ(...); }
 *   int main(void) { T_RUN(ndjson_should_join_a_line_split_across_feeds); T_END(); }
 */
#ifndef MS_T_H
#define MS_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcpstream.h"

static int t_failures, t_checks, t_tests;
static const char *t_current;

#define T_FAIL(...)                                                        \
  do {                                                                     \
    t_failures++;                                                          \
    fprintf(stderr, "  FAIL %s (%s:%d): ", t_current, __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                                          \
    fputc('\n', stderr);                                                   \
  } while (0)

#define T_OK(cond)                                   \
  do {                                               \
    t_checks++;                                      \
    if (!(cond)) T_FAIL("expected %s", #cond);       \
  } while (0)

#define T_EQ(a, b)                                                             \
  do {                                                                         \
    long long t_a = (long long)(a), t_b = (long long)(b);                      \
    t_checks++;                                                                \
    if (t_a != t_b) T_FAIL("%s == %s: got %lld, want %lld", #a, #b, t_a, t_b); \
  } while (0)

/* compares a (pointer, length) with a NUL-terminated expectation */
#define T_MEM(p, n, want)                                                          \
  do {                                                                             \
    const char *t_p = (const char *)(p);                                           \
    size_t t_n = (size_t)(n), t_wn = strlen(want);                                 \
    t_checks++;                                                                    \
    if (t_n != t_wn || (t_n && memcmp(t_p, want, t_n) != 0))                       \
      T_FAIL("%s: got \"%.*s\", want \"%s\"", #p, (int)t_n, t_p ? t_p : "", want); \
  } while (0)

#define T_RUN(fn)                                       \
  do {                                                  \
    int t_before = ms_live_allocations();               \
    t_current = #fn;                                    \
    t_tests++;                                          \
    fn();                                               \
    if (ms_live_allocations() != t_before)              \
      T_FAIL("live allocations %d after the test, %d before", \
             ms_live_allocations(), t_before);          \
  } while (0)

#define T_END()                                                                \
  do {                                                                         \
    if (ms_live_allocations() != 0)                                            \
      fprintf(stderr, "FAIL %s: %d live allocations at exit\n", __FILE__,      \
              ms_live_allocations()), t_failures++;                            \
    fprintf(stderr, "%s: %d tests, %d checks, %d failed\n", __FILE__, t_tests, \
            t_checks, t_failures);                                             \
    return t_failures ? 1 : 0;                                                 \
  } while (0)

/* Reads a whole file (relative to wasm-tests/, the tests' working folder).
 * Returns a malloc'd buffer (libc malloc, not the core's) and its length. */
static inline char *t_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)n + 1);
  if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) exit(2);
  p[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return p;
}

#endif

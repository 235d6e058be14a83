/* fuzz.h — what every fuzz target shares: CHECK, an invariant that aborts
 * (so libFuzzer reports the input) with the failed condition and its line. */
#ifndef MS_FUZZ_H
#define MS_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
      abort();                                                          \
    }                                                                   \
  } while (0)

#endif

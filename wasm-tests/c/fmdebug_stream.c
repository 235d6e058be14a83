/* fmdebug_stream.c — replays one failmalloc run of test_stream.c and prints
 * its log, to debug a failure that test reports. Not a test (build.sh builds
 * it beside the tests and never runs it):
 *
 *   FM_AT=i build/native/fmdebug_stream        allocation i fails (the whole run)
 *   FM_AT=i FM_ABORT=1 ...                     the run aborted mid-call
 *   FM_AT=i FM_SUSTAINED=1 ...                 allocation i and every later one fail
 *
 * Exits 2 without FM_AT, 1 when the run broke the lifecycle rule or got stuck. */
#include "fm_stream.h"

int main(void) {
  const char *at = getenv("FM_AT");
  if (!at || atol(at) < 1) {
    fprintf(stderr, "usage: FM_AT=<allocation, from 1> [FM_ABORT=1] [FM_SUSTAINED=1] %s\n",
            "fmdebug_stream");
    return 2;
  }
  fm_verbose = 1;
  host h;
  if (getenv("FM_SUSTAINED")) ms_alloc_fail_from(atol(at));
  else ms_alloc_fail_at(atol(at));
  if (h_init(&h)) {
    ms_alloc_fail_at(0);
    fprintf(stderr, "the context itself could not be made\n");
    return 0;
  }
  int rc = getenv("FM_ABORT") ? fm_abort_scenario(&h) : fm_scenario(&h);
  ms_alloc_fail_at(0);
  int bad[4];
  int nbad = h_lifecycle_violations(&h, bad, 4);
  fprintf(stderr, "%send %d; stream-end events %d; sessions breaking the lifecycle rule %d\n",
          h_log(&h), rc, h.stream_ends, nbad);
  h_free(&h);
  return nbad || rc == H_STUCK ? 1 : 0;
}

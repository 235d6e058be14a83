/* alloc.c — the core's one allocation seam.
 *
 * Every allocation of the core and of cJSON goes through here, so that
 *  - a test can assert that live allocations return to zero,
 *  - a failmalloc test can fail the i-th allocation for every i,
 *  - limits can be enforced in one place.
 * A small header in front of each block remembers its size. The counters are
 * process-wide: the core is single-threaded (one wasm instance, one thread). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "internal.h"

typedef union ms_hdr {
  struct {
    size_t size;
    ms_account *acct; /* charged to (NULL: none) */
  } h;
  max_align_t align; /* keeps the user block aligned for any type */
} ms_hdr;

/* Blocks this big are left to emmalloc's own growth (grow_ahead). */
#define MS_GROW_ALONE (1u << 20)
#define SMALL(n) ((n) < MS_GROW_ALONE ? (long)(n) : 0)

static ms_account *current; /* the account charged now (MS_ALLOC_SCOPE) */
static long live_allocs;
static long live_bytes;
static long peak_bytes;     /* the most live_bytes ever was */
static long small_bytes;    /* live bytes in blocks under MS_GROW_ALONE (grow_ahead) */
static long fail_countdown; /* 0: off; 1: the next allocation fails */
static int fail_sticky;     /* once one failed, every later one fails too */
static long made_since;     /* allocations made since ms_alloc_fail_at */
static long failures;       /* allocations refused, ever */

#ifdef __EMSCRIPTEN__
void *sbrk(intptr_t increment); /* libc's; <unistd.h> hides it under -std=c11 */
/* the host's hook (stubbed by src/js/loader.js), as emscripten's sbrk calls it */
extern void emscripten_notify_memory_growth(size_t memory_index);

/* Wasm memory grows in big steps, ahead of need. Left alone, emmalloc asks
 * sbrk for exactly what one allocation lacks, and sbrk grows the memory by
 * as few 64 KiB pages as that takes: thousands of small memory.grow calls
 * for a heap of a few hundred MB, each costing the host more as the memory
 * gets bigger (a new ArrayBuffer, external-memory accounting, GC). Here,
 * when an allocation of n bytes might not fit below the memory's end, the
 * memory grows by a quarter of what the small blocks hold (at least 1 MiB,
 * at most 64 MiB, and never less than n): sbrk then finds the room already
 * there, and what is reserved and not used stays under a quarter of them.
 * A block of MS_GROW_ALONE or more (one big message, a model request) is
 * left to emmalloc: it reuses a free region that fits (the room an earlier
 * big message left), and only when none does asks sbrk for what it lacks,
 * so the memory grows by exactly that. (Growing ahead for it from here,
 * where the free regions are not known, and by a quarter of the whole
 * memory, grew the memory for blocks that then went into a hole.) Wasm
 * memory never shrinks. */
#define MS_PAGE 65536u
static void grow_ahead(size_t n) {
  if (n >= MS_GROW_ALONE) return; /* one big block: emmalloc's own choice (see above) */
  size_t have = __builtin_wasm_memory_size(0) * MS_PAGE;
  uintptr_t brk = (uintptr_t)sbrk(0);
  size_t need = n + 4096; /* emmalloc's region headers, alignment */
  if (need < n || (brk <= have && need <= have - brk)) return;
  size_t step = (size_t)small_bytes / 4;
  if (step < (1u << 20)) step = 1u << 20;
  if (step > (64u << 20)) step = 64u << 20;
  if (step < need) step = need;
  size_t pages = step / MS_PAGE + 1;
  if (__builtin_wasm_memory_grow(0, pages) != (size_t)-1) emscripten_notify_memory_growth(0);
  /* refused (the maximum): emmalloc asks for exactly what it lacks */
}
#else
static void grow_ahead(size_t n) { (void)n; }
#endif

static int should_fail(void) {
  made_since++;
  if (fail_countdown > 0 && --fail_countdown == 0) {
    if (fail_sticky) fail_countdown = 1;
    return failures++, 1;
  }
  return 0;
}

long ms_alloc_failures(void) { return failures; }

void ms_alloc_peak_reset(void) { peak_bytes = live_bytes; }

/* 1 when `a` cannot take `grow` more bytes (and marks it exceeded). */
static int over_budget(ms_account *a, size_t grow) {
  if (!a || !a->limit || grow == 0) return 0;
  if (a->used <= a->limit && grow <= a->limit - a->used) return 0;
  a->exceeded = 1;
  failures++;
  return 1;
}

void *ms_malloc(size_t n) {
  if (should_fail() || n > SIZE_MAX - sizeof(ms_hdr) || over_budget(current, n)) return NULL;
  grow_ahead(sizeof(ms_hdr) + n);
  ms_hdr *h = malloc(sizeof(ms_hdr) + n);
  if (!h) return failures++, NULL;
  h->h.size = n;
  h->h.acct = current;
  if (current) {
    current->used += n;
    current->blocks++;
  }
  live_allocs++;
  small_bytes += SMALL(n);
  live_bytes += (long)n;
  if (live_bytes > peak_bytes) peak_bytes = live_bytes;
  return h + 1;
}

void *ms_realloc(void *p, size_t n) {
  if (!p) return ms_malloc(n);
  if (should_fail() || n > SIZE_MAX - sizeof(ms_hdr)) return NULL;
  ms_hdr *old = (ms_hdr *)p - 1;
  size_t old_size = old->h.size;
  ms_account *a = old->h.acct; /* a block stays with the account it was made under */
  if (n > old_size && over_budget(a, n - old_size)) return NULL;
  if (n > old_size) grow_ahead(sizeof(ms_hdr) + n); /* realloc may move it: room for all of it */
  ms_hdr *h = realloc(old, sizeof(ms_hdr) + n);
  if (!h) return failures++, NULL;
  h->h.size = n;
  if (a) a->used = a->used - old_size + n;
  small_bytes += SMALL(n) - SMALL(old_size);
  live_bytes += (long)n - (long)old_size;
  if (live_bytes > peak_bytes) peak_bytes = live_bytes;
  return h + 1;
}

void ms_free(void *p) {
  if (!p) return;
  ms_hdr *h = (ms_hdr *)p - 1;
  ms_account *a = h->h.acct;
  if (a) {
    a->used -= h->h.size;
    if (--a->blocks == 0 && a->dead) free(a);
  }
  live_allocs--;
  small_bytes -= SMALL(h->h.size);
  live_bytes -= (long)h->h.size;
  free(h);
}

ms_account *ms_account_new(size_t limit) {
  if (should_fail()) return NULL; /* failmalloc reaches it too */
  ms_account *a = calloc(1, sizeof *a);
  if (!a) return failures++, NULL;
  a->limit = limit;
  return a;
}

void ms_account_release(ms_account *a) {
  if (!a) return;
  if (current == a) current = NULL;
  a->dead = 1;
  if (a->blocks == 0) free(a);
}

ms_account *ms_alloc_use(ms_account *a) {
  ms_account *prev = current;
  current = a;
  return prev;
}

void ms_alloc_restore(ms_account **prev) { current = *prev; }

char *ms_strndup(const char *s, size_t n) {
  char *d = ms_malloc(n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

void ms_alloc_init(void) {
  cJSON_Hooks hooks = {ms_malloc, ms_free};
  cJSON_InitHooks(&hooks);
}

long ms_alloc_fail_at(long n) {
  long made = made_since;
  made_since = 0;
  fail_countdown = n > 0 ? n : 0;
  fail_sticky = 0;
  return made;
}

long ms_alloc_fail_from(long n) {
  long made = ms_alloc_fail_at(n);
  fail_sticky = n > 0;
  return made;
}

MS_EXPORT int32_t ms_live_allocations(void) { return (int32_t)live_allocs; }
MS_EXPORT int32_t ms_live_bytes(void) { return (int32_t)live_bytes; }
MS_EXPORT int32_t ms_peak_bytes(void) { return (int32_t)peak_bytes; }

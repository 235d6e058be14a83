/* test_ndjson.c — tests of the newline-delimited framing (src/core/ndjson.c).
 *
 * The golden transcripts in fixtures/transcripts/ndjson-*.{in,out} (format:
 * fixtures/transcripts/README.md) are replayed whole, byte by byte, split in
 * two at every offset, in chunks of every small size, and with the i-th
 * allocation failing for every i. Then targeted unit tests.
 * Run from wasm-tests/ (paths are relative to it). */
#define _POSIX_C_SOURCE 200809L /* opendir: the transcripts are discovered */

#include "internal.h"
#include "t.h"
#include "tlog.h"

#define DEFAULT_MAX 1048576
#include "transcript.h"


/* ---- the recording callback -------------------------------------------- */

typedef struct rec {
  tlog log;
  size_t max;           /* the parser's limit, to check reports against */
  int calls;
  int fail_at;          /* return fail_rc from this call (1-based; 0: never) */
  int fail_rc;
  const uint8_t *in;    /* the input of the current feed */
  size_t in_len;
  int from_input;       /* lines that pointed into the current input */
  int bad;              /* reports that broke an invariant */
} rec;

static int on_line(void *user, const char *line, size_t len) {
  rec *r = user;
  r->calls++;
  if (line == NULL) {
    if (len != r->max) r->bad++;
    tlog_str(&r->log, "overflow\n");
  } else {
    if (len == 0 || len > r->max || memchr(line, '\n', len)) r->bad++;
    if (r->in && (const uint8_t *)line >= r->in &&
        (const uint8_t *)line + len <= r->in + r->in_len)
      r->from_input++;
    tlog_str(&r->log, "line=");
    tlog_json(&r->log, line, len);
    tlog_str(&r->log, "\n");
  }
  if (r->fail_at && r->calls == r->fail_at) return r->fail_rc;
  return r->calls % 2; /* positive returns must be ignored */
}

static void rec_init(rec *r, size_t max) {
  memset(r, 0, sizeof *r);
  r->max = max;
}

/* Feeds p[0..n) through a copy of exactly n bytes (so an over-read trips
 * ASan) and returns the feed's result. */
static int feed_copy(ms_ndjson *d, rec *r, const void *p, size_t n) {
  uint8_t *copy = malloc(n ? n : 1);
  if (!copy) exit(2);
  if (n) memcpy(copy, p, n);
  r->in = copy;
  r->in_len = n;
  int rc = ms_ndjson_feed(d, copy, n, on_line, r);
  r->in = NULL;
  free(copy);
  return rc;
}

/* Feeds each NUL-terminated string of `chunks` (NULL-terminated list) in
 * turn. Returns the first nonzero feed result, or 0. */
static int feed_strs(ms_ndjson *d, rec *r, const char *const *chunks) {
  int first = 0;
  for (; *chunks; chunks++) {
    int rc = feed_copy(d, r, *chunks, strlen(*chunks));
    if (rc && !first) first = rc;
  }
  return first;
}

/* ---- transcripts (transcript.h) ------------------------------------------ */

typedef struct outcome {
  int nomem;  /* feeds that returned MS_ERR_NOMEM */
  int other;  /* feeds that returned anything else but 0 */
  int bad;    /* invariant violations seen by the callback */
} outcome;

/* Replays t: chunks of `chunk` bytes when chunk > 0, else two feeds split at
 * `split`. The log goes to *log (reset first). */
static outcome replay(const transcript *t, size_t chunk, size_t split, tlog *log) {
  ms_ndjson d;
  rec r;
  outcome o = {0, 0, 0};
  ms_ndjson_init(&d, t->max);
  rec_init(&r, t->max);
  int rcs[2] = {0, 0};
  if (chunk > 0) {
    for (size_t off = 0, n; off < t->in_len; off += n) {
      n = t->in_len - off < chunk ? t->in_len - off : chunk;
      int rc = feed_copy(&d, &r, t->in + off, n);
      if (rc == MS_ERR_NOMEM) o.nomem++;
      else if (rc != 0) o.other++;
    }
  } else { /* the second part may be empty */
    rcs[0] = feed_copy(&d, &r, t->in, split);
    rcs[1] = feed_copy(&d, &r, t->in + split, t->in_len - split);
    for (int k = 0; k < 2; k++) {
      if (rcs[k] == MS_ERR_NOMEM) o.nomem++;
      else if (rcs[k] != 0) o.other++;
    }
  }
  ms_ndjson_free(&d);
  o.bad = r.bad;
  tlog_free(log);
  *log = r.log;
  return o;
}

/* Checks one replay against the expected log; returns 1 when it matched. */
static int check_replay(const transcript *t, const char *mode, size_t arg,
                        outcome o, const tlog *got) {
  t_checks++;
  if (o.nomem || o.other || o.bad) {
    T_FAIL("%s %s(%zu): %d NOMEM, %d other errors, %d bad reports", t->name,
           mode, arg, o.nomem, o.other, o.bad);
    return 0;
  }
  if (strcmp(tlog_text(got), tlog_text(&t->want)) != 0) {
    T_FAIL("%s %s(%zu): log differs\n--- got\n%s--- want\n%s", t->name, mode,
           arg, tlog_text(got), tlog_text(&t->want));
    return 0;
  }
  return 1;
}

static char **ndjson_names;

static void ndjson_transcripts_should_exist(void) {
  int count = 0;
  for (char **n = ndjson_names; *n; n++) count++;
  T_OK(count >= 8);
}

static void ndjson_transcripts_should_match_when_fed_whole(void) {
  for (char **n = ndjson_names; *n; n++) {
    transcript t;
    tlog got = {0};
    transcript_load(&t, *n);
    check_replay(&t, "whole", t.in_len, replay(&t, 0, t.in_len, &got), &got);
    tlog_free(&got);
    transcript_free(&t);
  }
}

static void ndjson_transcripts_should_match_when_fed_byte_by_byte(void) {
  for (char **n = ndjson_names; *n; n++) {
    transcript t;
    tlog got = {0};
    transcript_load(&t, *n);
    check_replay(&t, "bytes", 1, replay(&t, 1, 0, &got), &got);
    tlog_free(&got);
    transcript_free(&t);
  }
}

static void ndjson_transcripts_should_match_when_split_at_every_offset(void) {
  for (char **n = ndjson_names; *n; n++) {
    transcript t;
    tlog got = {0};
    transcript_load(&t, *n);
    for (size_t k = 0; k <= t.in_len; k++)
      if (!check_replay(&t, "split", k, replay(&t, 0, k, &got), &got)) break;
    tlog_free(&got);
    transcript_free(&t);
  }
}

static void ndjson_transcripts_should_match_in_chunks_of_every_small_size(void) {
  for (char **n = ndjson_names; *n; n++) {
    transcript t;
    tlog got = {0};
    transcript_load(&t, *n);
    for (size_t c = 2; c <= 17; c++)
      if (!check_replay(&t, "chunks", c, replay(&t, c, 0, &got), &got)) break;
    tlog_free(&got);
    transcript_free(&t);
  }
}

/* For every i, the i-th allocation fails: the feeds must report
 * MS_ERR_NOMEM (and otherwise the log must be right), and nothing leaks. */
static void ndjson_should_survive_every_allocation_failure(void) {
  static const size_t chunks[] = {1, 5};
  for (char **n = ndjson_names; *n; n++) {
    transcript t;
    tlog got = {0};
    transcript_load(&t, *n);
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
      ms_alloc_fail_at(0);
      replay(&t, chunks[c], 0, &got);
      long total = ms_alloc_fail_at(0);
      for (long i = 1; i <= total + 1; i++) {
        int live = ms_live_allocations();
        ms_alloc_fail_at(i);
        outcome o = replay(&t, chunks[c], 0, &got);
        long made = ms_alloc_fail_at(0);
        T_EQ(ms_live_allocations(), live);
        T_EQ(o.other, 0);
        T_EQ(o.bad, 0);
        if (made >= i) { /* the i-th allocation was attempted and failed */
          T_OK(o.nomem > 0);
        } else {
          T_EQ(o.nomem, 0);
          T_OK(strcmp(tlog_text(&got), tlog_text(&t.want)) == 0);
        }
      }
    }
    tlog_free(&got);
    transcript_free(&t);
  }
}

/* ---- unit tests ---------------------------------------------------------- */

/* Feeds the chunks into a fresh parser with limit `max` and checks the log. */
#define EXPECT_LINES(max, want, ...)                                  \
  do {                                                                \
    static const char *const chunks_[] = {__VA_ARGS__, NULL};         \
    ms_ndjson d_;                                                     \
    rec r_;                                                           \
    ms_ndjson_init(&d_, (max));                                       \
    rec_init(&r_, (max));                                             \
    T_EQ(feed_strs(&d_, &r_, chunks_), 0);                            \
    T_MEM(tlog_text(&r_.log), r_.log.len, want);                      \
    T_EQ(r_.bad, 0);                                                  \
    ms_ndjson_free(&d_);                                              \
    tlog_free(&r_.log);                                               \
  } while (0)

static void ndjson_should_report_each_line_without_its_newline(void) {
  EXPECT_LINES(100, "line=\"{}\"\nline=\"[1]\"\n", "{}\n[1]\n");
}

static void ndjson_should_strip_one_trailing_cr(void) {
  EXPECT_LINES(100, "line=\"a\"\nline=\"b\\r\"\n", "a\r\nb\r\r\n");
}

static void ndjson_should_keep_a_cr_inside_a_line(void) {
  EXPECT_LINES(100, "line=\"a\\rb\"\nline=\"\\rc\"\n", "a\rb\n\rc\n");
}

static void ndjson_should_skip_blank_lines(void) {
  EXPECT_LINES(100, "line=\"x\"\nline=\"y\"\n", "\n\r\n\nx\n\n\r\ny\n\n");
}

static void ndjson_should_join_a_line_split_across_feeds(void) {
  EXPECT_LINES(100, "line=\"hello\"\nline=\"world\"\n", "hel", "lo\nwor", "ld", "\n");
}

static void ndjson_should_join_a_crlf_split_across_feeds(void) {
  EXPECT_LINES(100, "line=\"a\"\nline=\"b\"\n", "a\r", "\nb", "\r", "\n");
}

static void ndjson_should_accept_empty_feeds(void) {
  EXPECT_LINES(100, "line=\"ab\"\n", "", "a", "", "b", "", "\n", "");
}

static void ndjson_should_not_report_a_line_without_its_newline(void) {
  EXPECT_LINES(100, "line=\"one\"\n", "one\ntwo");
}

static void ndjson_should_accept_a_line_of_exactly_max_bytes(void) {
  EXPECT_LINES(4, "line=\"abcd\"\nline=\"efgh\"\n", "abcd\n", "ef", "gh\n");
}

static void ndjson_should_not_count_the_stripped_cr_against_the_limit(void) {
  /* 4 bytes + CR arrive before the LF: still undecided, then fine */
  EXPECT_LINES(4, "line=\"abcd\"\nline=\"efgh\"\n", "abcd\r", "\n", "efgh\r\n");
}

static void ndjson_should_report_an_over_long_line_once_and_discard_it(void) {
  EXPECT_LINES(4, "overflow\nline=\"ok\"\n", "abcde", "fghij", "klm", "no\r\nok\n");
  EXPECT_LINES(4, "overflow\nline=\"ok\"\n", "abcd\rx\nok\n");
  EXPECT_LINES(4, "overflow\nline=\"ok\"\n", "abcd\r", "x\nok\n");
  EXPECT_LINES(4, "overflow\nline=\"ok\"\n", "abcd\r\r\nok\n");
  EXPECT_LINES(4, "overflow\nline=\"ok\"\n", "ab", "cd", "\r", "\r\nok\n");
}

static void ndjson_should_report_an_over_long_line_before_it_ends(void) {
  ms_ndjson d;
  rec r;
  ms_ndjson_init(&d, 3);
  rec_init(&r, 3);
  T_EQ(feed_copy(&d, &r, "abcd", 4), 0);
  T_MEM(tlog_text(&r.log), r.log.len, "overflow\n");
  T_EQ(feed_copy(&d, &r, "efg", 3), 0);
  T_EQ(r.calls, 1);
  T_EQ(feed_copy(&d, &r, "\nxy\n", 4), 0);
  T_MEM(tlog_text(&r.log), r.log.len, "overflow\nline=\"xy\"\n");
  T_EQ(r.bad, 0);
  ms_ndjson_free(&d);
  tlog_free(&r.log);
}

static void ndjson_should_report_every_line_as_too_long_when_max_is_zero(void) {
  EXPECT_LINES(0, "overflow\noverflow\n", "\n\r\na\r\n\r", "\n", "b");
}

static void ndjson_should_report_whole_lines_straight_from_the_input(void) {
  ms_ndjson d;
  rec r;
  static const char in[] = "{\"a\":1}\n{\"b\":2}\r\n\n{\"c\":3}\n";
  ms_ndjson_init(&d, 100);
  rec_init(&r, 100);
  ms_alloc_fail_at(0);
  T_EQ(feed_copy(&d, &r, in, sizeof in - 1), 0);
  T_EQ(ms_alloc_fail_at(0), 0); /* no allocation */
  T_EQ(r.calls, 3);
  T_EQ(r.from_input, 3);
  /* a carried line is copied; the lines after it come from the input again */
  T_EQ(feed_copy(&d, &r, "[1", 2), 0);
  T_EQ(feed_copy(&d, &r, "]\n[2]\n[3]\n", 10), 0);
  T_EQ(r.calls, 6);
  T_EQ(r.from_input, 5);
  ms_ndjson_free(&d);
  tlog_free(&r.log);
}

static void ndjson_should_grow_its_buffer_geometrically_when_fed_byte_by_byte(void) {
  ms_ndjson d;
  rec r;
  enum { N = 100000 };
  ms_ndjson_init(&d, N);
  rec_init(&r, N);
  ms_alloc_fail_at(0);
  for (int i = 0; i < N; i++) T_EQ(ms_ndjson_feed(&d, (const uint8_t *)"x", 1, on_line, &r), 0);
  T_EQ(ms_ndjson_feed(&d, (const uint8_t *)"\n", 1, on_line, &r), 0);
  long made = ms_alloc_fail_at(0);
  T_OK(made <= 20);
  T_EQ(r.calls, 1);
  T_EQ(r.bad, 0);
  ms_ndjson_free(&d);
  T_EQ(ms_live_allocations(), 0);
  tlog_free(&r.log);
}

/* 100 KB messages arrive over a pipe in 64 KB chunks: every one is carried.
 * The buffer of the first is kept for the next ones (no allocation, no copy
 * to grow it again), and freed once a line fills less than a quarter of it. */
static void ndjson_should_keep_a_big_buffer_while_big_lines_come(void) {
  enum { LINE = 100000, CHUNK = 65536 };
  ms_ndjson d;
  rec r;
  ms_ndjson_init(&d, 1 << 20);
  rec_init(&r, 1 << 20);
  uint8_t *msg = malloc(LINE + 1);
  T_OK(msg != NULL);
  if (!msg) return;
  memset(msg, 'x', LINE);
  msg[LINE] = '\n';
  long made[3];
  for (int k = 0; k < 3; k++) {
    ms_alloc_fail_at(0);
    for (size_t at = 0; at <= LINE; at += CHUNK) {
      size_t n = LINE + 1 - at < CHUNK ? LINE + 1 - at : CHUNK;
      T_EQ(ms_ndjson_feed(&d, msg + at, n, on_line, &r), 0);
    }
    made[k] = ms_alloc_fail_at(0);
  }
  T_EQ(r.calls, 3);
  T_EQ(r.bad, 0);
  T_OK(made[0] >= 1);
  T_EQ(made[1], 0); /* fails without keeping the buffer: one malloc and one realloc per line */
  T_EQ(made[2], 0);
  T_EQ(ms_live_allocations(), 1);
  /* a small carried line after them: the big buffer goes */
  T_EQ(feed_copy(&d, &r, "ab", 2), 0);
  T_EQ(feed_copy(&d, &r, "c\n", 2), 0);
  T_EQ(r.calls, 4);
  T_EQ(ms_live_allocations(), 0);
  ms_ndjson_free(&d);
  free(msg);
  tlog_free(&r.log);
}

/* A huge line's buffer is not kept: small lines that come whole in one feed
 * (never carried) would never free it. */
static void ndjson_should_not_keep_the_buffer_of_a_huge_line(void) {
  enum { LINE = 3000000, CHUNK = 65536 };
  ms_ndjson d;
  rec r;
  ms_ndjson_init(&d, 4 << 20);
  rec_init(&r, 4 << 20);
  uint8_t *msg = malloc(LINE + 1);
  T_OK(msg != NULL);
  if (!msg) return;
  memset(msg, 'x', LINE);
  msg[LINE] = '\n';
  for (size_t at = 0; at <= LINE; at += CHUNK) {
    size_t n = LINE + 1 - at < CHUNK ? LINE + 1 - at : CHUNK;
    T_EQ(ms_ndjson_feed(&d, msg + at, n, on_line, &r), 0);
  }
  T_EQ(r.calls, 1);
  T_EQ(ms_live_allocations(), 0); /* fails when it is kept: a 4 MiB buffer for the rest of the session */
  T_EQ(feed_copy(&d, &r, "{}\n", 3), 0);
  T_EQ(r.calls, 2);
  T_EQ(ms_live_allocations(), 0);
  ms_ndjson_free(&d);
  free(msg);
  tlog_free(&r.log);
}

/* What a taking callback saw: the carried line handed over, its capacity. */
typedef struct taker {
  ms_ndjson *d;
  uint8_t *taken;
  size_t len, cap, calls;
} taker;

static int take_line(void *user, const char *line, size_t len) {
  taker *t = user;
  t->calls++;
  t->cap = t->d->line.cap; /* before it is taken */
  uint8_t *p = ms_ndjson_take_line(t->d, line);
  if (p) {
    ms_free(t->taken);
    t->taken = p;
    t->len = len;
  }
  return 0;
}

/* A long line that came over many feeds is handed over to the reader (who
 * keeps it, the server's tools/list say, without a copy), and the buffer it
 * grew in is at most a quarter bigger than it (plus one feed): by doubling, a
 * 5 MB line took an 8 MiB buffer. A line lying whole in the input is not
 * handed over (it is the caller's input). */
static void ndjson_should_hand_over_a_long_line_grown_by_a_quarter(void) {
  enum { LINE = 5000000, CHUNK = 65536 };
  ms_ndjson d;
  ms_ndjson_init(&d, 8 << 20);
  taker t = {&d, NULL, 0, 0, 0};
  uint8_t *msg = malloc(LINE + 1);
  T_OK(msg != NULL);
  if (!msg) return;
  for (size_t i = 0; i < LINE; i++) msg[i] = (uint8_t)('a' + i % 26);
  msg[LINE] = '\n';
  for (size_t at = 0; at <= LINE; at += CHUNK) {
    size_t n = LINE + 1 - at < CHUNK ? LINE + 1 - at : CHUNK;
    T_EQ(ms_ndjson_feed(&d, msg + at, n, take_line, &t), 0);
  }
  T_EQ(t.calls, 1);
  T_OK(t.taken != NULL);
  T_EQ(t.len, (size_t)LINE);
  T_OK(t.taken && memcmp(t.taken, msg, LINE) == 0);
  T_OK(t.cap <= LINE + LINE / 4 + CHUNK);
  T_EQ(ms_live_allocations(), 1); /* the line, now the reader's; the parser keeps nothing */
  ms_free(t.taken);
  t.taken = NULL;
  T_EQ(ms_ndjson_feed(&d, (const uint8_t *)"{}\n", 3, take_line, &t), 0);
  T_EQ(t.calls, 2);
  T_OK(t.taken == NULL); /* whole in the input: not the parser's to give */
  T_EQ(ms_live_allocations(), 0);
  ms_ndjson_free(&d);
  free(msg);
}

/* After a carried line of up to 1 MiB was taken over (an answer handed to
 * the host from where it lies), the next carried line gets the same room at
 * its first feed: a run of 100 KB answers does not grow a buffer from
 * nothing, by doubling and copying, for each. A line over 1 MiB leaves no
 * such room behind. */
static void ndjson_should_give_the_next_line_the_room_of_a_line_taken_over(void) {
  enum { LINE = 100000, CHUNK = 65536, BIG = 3000000 };
  ms_ndjson d;
  ms_ndjson_init(&d, 8 << 20);
  taker t = {&d, NULL, 0, 0, 0};
  uint8_t *msg = malloc(BIG + 1);
  T_OK(msg != NULL);
  if (!msg) return;
  memset(msg, 'x', BIG);
  msg[LINE] = '\n';
  T_EQ(ms_ndjson_feed(&d, msg, CHUNK, take_line, &t), 0);
  T_EQ(ms_ndjson_feed(&d, msg + CHUNK, LINE + 1 - CHUNK, take_line, &t), 0);
  T_OK(t.taken != NULL && t.len == LINE);
  size_t room = t.cap;
  T_OK(room >= LINE);
  T_EQ(ms_ndjson_feed(&d, msg, 10, take_line, &t), 0); /* the next line starts */
  T_EQ(d.line.cap, room);
  T_EQ(ms_ndjson_feed(&d, msg + 10, LINE + 1 - 10, take_line, &t), 0);
  T_EQ(t.calls, 2);
  T_EQ(t.cap, room); /* never grew */
  msg[LINE] = 'x';
  msg[BIG] = '\n';
  for (size_t at = 0; at <= BIG; at += CHUNK) /* a big one: taken over, no room left behind */
    T_EQ(ms_ndjson_feed(&d, msg + at, BIG + 1 - at < CHUNK ? BIG + 1 - at : CHUNK, take_line, &t), 0);
  T_EQ(t.calls, 3);
  T_EQ(t.len, (size_t)BIG);
  T_EQ(ms_ndjson_feed(&d, msg, 10, take_line, &t), 0);
  T_OK(d.line.cap < (size_t)CHUNK);
  ms_free(t.taken);
  ms_ndjson_free(&d);
  T_EQ(ms_live_allocations(), 0);
  free(msg);
}

static void ndjson_should_stop_the_feed_when_the_callback_fails(void) {
  ms_ndjson d;
  rec r;
  ms_ndjson_init(&d, 100);
  rec_init(&r, 100);
  r.fail_at = 2;
  r.fail_rc = -77;
  T_EQ(feed_copy(&d, &r, "a\nb\nc\n", 6), -77);
  T_MEM(tlog_text(&r.log), r.log.len, "line=\"a\"\nline=\"b\"\n");
  /* the parser stays usable: the next feed starts a new line */
  T_EQ(feed_copy(&d, &r, "d\n", 2), 0);
  T_MEM(tlog_text(&r.log), r.log.len, "line=\"a\"\nline=\"b\"\nline=\"d\"\n");
  /* also when the failing call was for a carried line or an overflow */
  r.fail_at = 4;
  r.fail_rc = -5;
  T_EQ(feed_copy(&d, &r, "e", 1), 0);
  T_EQ(feed_copy(&d, &r, "\nf\n", 3), -5);
  r.fail_at = 5;
  T_EQ(feed_copy(&d, &r, "x", 1), 0);
  T_EQ(feed_copy(&d, &r, "y", 1), 0);
  ms_ndjson_free(&d);
  ms_ndjson_init(&d, 2);
  r.max = 2;
  T_EQ(feed_copy(&d, &r, "xyz", 3), -5);
  T_EQ(feed_copy(&d, &r, "w\ng\n", 4), 0);
  T_MEM(tlog_text(&r.log), r.log.len,
        "line=\"a\"\nline=\"b\"\nline=\"d\"\nline=\"e\"\noverflow\nline=\"g\"\n");
  T_EQ(r.bad, 0);
  ms_ndjson_free(&d);
  tlog_free(&r.log);
}

static void ndjson_should_drop_only_the_line_it_could_not_store(void) {
  ms_ndjson d;
  rec r;
  char big[120];
  memset(big, 'c', sizeof big);
  memcpy(big + sizeof big - 3, "\nef", 3);
  ms_ndjson_init(&d, 1000);
  rec_init(&r, 1000);
  T_EQ(feed_copy(&d, &r, "a\nb", 3), 0);
  ms_alloc_fail_at(1); /* growing the carried "b" to "bccc..." fails */
  T_EQ(feed_copy(&d, &r, big, sizeof big), MS_ERR_NOMEM);
  ms_alloc_fail_at(0);
  T_EQ(feed_copy(&d, &r, "gh\nij\n", 6), 0);
  T_MEM(tlog_text(&r.log), r.log.len, "line=\"a\"\nline=\"efgh\"\nline=\"ij\"\n");
  ms_ndjson_free(&d);
  /* failing to start carrying a line drops it up to its LF */
  ms_ndjson_init(&d, 1000);
  ms_alloc_fail_at(1);
  T_EQ(feed_copy(&d, &r, "k", 1), MS_ERR_NOMEM);
  ms_alloc_fail_at(0);
  T_EQ(feed_copy(&d, &r, "l\nm\n", 4), 0);
  T_MEM(tlog_text(&r.log), r.log.len, "line=\"a\"\nline=\"efgh\"\nline=\"ij\"\nline=\"m\"\n");
  ms_ndjson_free(&d);
  tlog_free(&r.log);
}

static void ndjson_should_be_reusable_after_free(void) {
  ms_ndjson d;
  rec r;
  ms_ndjson_init(&d, 100);
  rec_init(&r, 100);
  T_EQ(feed_copy(&d, &r, "partial", 7), 0);
  ms_ndjson_free(&d);
  T_EQ(d.max, 100);
  T_EQ(feed_copy(&d, &r, "new\n", 4), 0);
  T_MEM(tlog_text(&r.log), r.log.len, "line=\"new\"\n");
  ms_ndjson_free(&d);
  ms_ndjson_free(&d); /* twice is harmless */
  tlog_free(&r.log);
}

static void ndjson_should_pass_nul_bytes_and_non_ascii_through(void) {
  ms_ndjson d;
  rec r;
  ms_ndjson_init(&d, 100);
  rec_init(&r, 100);
  T_EQ(feed_copy(&d, &r, "a\0b\n\xc3", 5), 0);
  T_EQ(feed_copy(&d, &r, "\xa9\xff\n", 3), 0);
  T_MEM(tlog_text(&r.log), r.log.len, "line=\"a\\u0000b\"\nline=\"\xc3\xa9\xff\"\n");
  ms_ndjson_free(&d);
  tlog_free(&r.log);
}

/* The callback of the head test: records the head of each overflow. */
typedef struct head_rec {
  ms_ndjson *d;
  char heads[4][MS_NDJSON_HEAD + 1];
  int n;
} head_rec;

static int record_head(void *user, const char *line, size_t len) {
  head_rec *r = user;
  (void)len;
  if (!line && r->n < 4) {
    memcpy(r->heads[r->n], r->d->head, r->d->head_len);
    r->heads[r->n++][r->d->head_len] = '\0';
  }
  return 0;
}

static void ndjson_should_show_the_first_bytes_of_an_over_long_line_while_reporting_it(void) {
  ms_ndjson d;
  head_rec r = {&d, {{0}}, 0};
  ms_ndjson_init(&d, 4);
  /* whole in one feed; carried then certain; carried then completed by its LF */
  T_EQ(ms_ndjson_feed(&d, (const uint8_t *)"abcdefg\n", 8, record_head, &r), 0);
  T_EQ(ms_ndjson_feed(&d, (const uint8_t *)"hij", 3, record_head, &r), 0);
  T_EQ(ms_ndjson_feed(&d, (const uint8_t *)"klmn\n", 5, record_head, &r), 0);
  T_EQ(ms_ndjson_feed(&d, (const uint8_t *)"opq", 3, record_head, &r), 0);
  T_EQ(ms_ndjson_feed(&d, (const uint8_t *)"r\r", 2, record_head, &r), 0);
  T_EQ(ms_ndjson_feed(&d, (const uint8_t *)"s\n", 2, record_head, &r), 0);
  T_EQ(r.n, 3);
  T_MEM(r.heads[0], strlen(r.heads[0]), "abcdefg");
  T_MEM(r.heads[1], strlen(r.heads[1]), "hijklmn");
  T_MEM(r.heads[2], strlen(r.heads[2]), "opqr\rs");
  T_EQ(d.head_len, 0); /* only during the call */
  ms_ndjson_free(&d);
  /* a long line: the head is cut at MS_NDJSON_HEAD */
  static char big[3 * MS_NDJSON_HEAD];
  memset(big, 'x', sizeof big);
  big[0] = '{';
  r.n = 0;
  ms_ndjson_init(&d, MS_NDJSON_HEAD);
  T_EQ(ms_ndjson_feed(&d, (const uint8_t *)big, 10, record_head, &r), 0);
  T_EQ(ms_ndjson_feed(&d, (const uint8_t *)big + 10, sizeof big - 10, record_head, &r), 0);
  T_EQ(r.n, 1);
  T_EQ(strlen(r.heads[0]), MS_NDJSON_HEAD);
  T_EQ(r.heads[0][0], '{');
  ms_ndjson_free(&d);
}

int main(void) {
  T_RUN(ndjson_should_show_the_first_bytes_of_an_over_long_line_while_reporting_it);
  ndjson_names = list_transcripts("ndjson-");
  T_RUN(ndjson_transcripts_should_exist);
  T_RUN(ndjson_transcripts_should_match_when_fed_whole);
  T_RUN(ndjson_transcripts_should_match_when_fed_byte_by_byte);
  T_RUN(ndjson_transcripts_should_match_when_split_at_every_offset);
  T_RUN(ndjson_transcripts_should_match_in_chunks_of_every_small_size);
  T_RUN(ndjson_should_survive_every_allocation_failure);
  T_RUN(ndjson_should_report_each_line_without_its_newline);
  T_RUN(ndjson_should_strip_one_trailing_cr);
  T_RUN(ndjson_should_keep_a_cr_inside_a_line);
  T_RUN(ndjson_should_skip_blank_lines);
  T_RUN(ndjson_should_join_a_line_split_across_feeds);
  T_RUN(ndjson_should_join_a_crlf_split_across_feeds);
  T_RUN(ndjson_should_accept_empty_feeds);
  T_RUN(ndjson_should_not_report_a_line_without_its_newline);
  T_RUN(ndjson_should_accept_a_line_of_exactly_max_bytes);
  T_RUN(ndjson_should_not_count_the_stripped_cr_against_the_limit);
  T_RUN(ndjson_should_report_an_over_long_line_once_and_discard_it);
  T_RUN(ndjson_should_report_an_over_long_line_before_it_ends);
  T_RUN(ndjson_should_report_every_line_as_too_long_when_max_is_zero);
  T_RUN(ndjson_should_report_whole_lines_straight_from_the_input);
  T_RUN(ndjson_should_grow_its_buffer_geometrically_when_fed_byte_by_byte);
  T_RUN(ndjson_should_keep_a_big_buffer_while_big_lines_come);
  T_RUN(ndjson_should_not_keep_the_buffer_of_a_huge_line);
  T_RUN(ndjson_should_hand_over_a_long_line_grown_by_a_quarter);
  T_RUN(ndjson_should_give_the_next_line_the_room_of_a_line_taken_over);
  T_RUN(ndjson_should_stop_the_feed_when_the_callback_fails);
  T_RUN(ndjson_should_drop_only_the_line_it_could_not_store);
  T_RUN(ndjson_should_be_reusable_after_free);
  T_RUN(ndjson_should_pass_nul_bytes_and_non_ascii_through);
  free_names(ndjson_names);
  T_END();
}

/* test_sse.c — tests of the Server-Sent Events parser (src/core/sse.c).
 *
 * The golden transcripts in fixtures/transcripts/sse-*.{in,out} (format:
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
  size_t max;     /* the parser's limit, to check events against */
  int calls;
  int fail_at;    /* return fail_rc from this call (1-based; 0: never) */
  int fail_rc;
  int bad;        /* events that broke an invariant */
} rec;

static int on_event(void *user, const ms_sse_event *ev) {
  rec *r = user;
  r->calls++;
  int is_message = ev->type && ev->type_len == 7 && memcmp(ev->type, "message", 7) == 0;
  if (!ev->type || !ev->data || !ev->id || ev->type_len == 0 ||
      ev->data_len > r->max || (ev->type_len > r->max && !is_message) ||
      ev->id_len > r->max ||
      memchr(ev->type, '\n', ev->type_len) || memchr(ev->type, '\r', ev->type_len) ||
      memchr(ev->data, '\r', ev->data_len) || memchr(ev->id, '\0', ev->id_len) ||
      memchr(ev->id, '\n', ev->id_len) || memchr(ev->id, '\r', ev->id_len) ||
      ev->retry < -1)
    r->bad++;
  char num[32];
  tlog_str(&r->log, "event=");
  tlog_json(&r->log, ev->type, ev->type_len);
  tlog_str(&r->log, " id=");
  tlog_json(&r->log, ev->id, ev->id_len);
  snprintf(num, sizeof num, " retry=%ld data=", ev->retry);
  tlog_str(&r->log, num);
  tlog_json(&r->log, ev->data, ev->data_len);
  tlog_str(&r->log, "\n");
  if (r->fail_at && r->calls == r->fail_at) return r->fail_rc;
  return r->calls % 2; /* positive returns must be ignored */
}

static void rec_init(rec *r, size_t max) {
  memset(r, 0, sizeof *r);
  r->max = max;
}

/* Feeds p[0..n) through a copy of exactly n bytes (so an over-read trips
 * ASan) and returns the feed's result. */
static int feed_copy(ms_sse *s, rec *r, const void *p, size_t n) {
  uint8_t *copy = malloc(n ? n : 1);
  if (!copy) exit(2);
  if (n) memcpy(copy, p, n);
  int rc = ms_sse_feed(s, copy, n, on_event, r);
  free(copy);
  return rc;
}

/* Feeds each NUL-terminated string of `chunks` (NULL-terminated list) in
 * turn; a feed returning MS_ERR_LIMIT adds "limit" to the log. Returns the
 * first result other than 0 and MS_ERR_LIMIT, or 0. */
static int feed_strs(ms_sse *s, rec *r, const char *const *chunks) {
  int first = 0;
  for (; *chunks; chunks++) {
    int rc = feed_copy(s, r, *chunks, strlen(*chunks));
    if (rc == MS_ERR_LIMIT) tlog_str(&r->log, "limit\n");
    else if (rc && !first) first = rc;
  }
  return first;
}

/* ---- transcripts --------------------------------------------------------- */

typedef struct outcome {
  int limit;  /* feeds that returned MS_ERR_LIMIT */
  int nomem;  /* feeds that returned MS_ERR_NOMEM */
  int other;  /* feeds that returned anything else but 0 */
  int bad;    /* invariant violations seen by the callback */
} outcome;

static void count_rc(outcome *o, int rc) {
  if (rc == MS_ERR_LIMIT) o->limit++;
  else if (rc == MS_ERR_NOMEM) o->nomem++;
  else if (rc != 0) o->other++;
}

/* Replays t: chunks of `chunk` bytes when chunk > 0, else two feeds split at
 * `split`. The log goes to *log (reset first); with chunk == 1 it also gets
 * a "limit" entry after every feed that returned MS_ERR_LIMIT. */
static outcome replay(const transcript *t, size_t chunk, size_t split, tlog *log) {
  ms_sse s;
  rec r;
  outcome o = {0, 0, 0, 0};
  ms_sse_init(&s, t->max);
  rec_init(&r, t->max);
  if (chunk > 0) {
    for (size_t off = 0, n; off < t->in_len; off += n) {
      n = t->in_len - off < chunk ? t->in_len - off : chunk;
      int rc = feed_copy(&s, &r, t->in + off, n);
      count_rc(&o, rc);
      if (chunk == 1 && rc == MS_ERR_LIMIT) tlog_str(&r.log, "limit\n");
    }
  } else { /* the second part may be empty */
    count_rc(&o, feed_copy(&s, &r, t->in, split));
    count_rc(&o, feed_copy(&s, &r, t->in + split, t->in_len - split));
  }
  ms_sse_free(&s);
  o.bad = r.bad;
  tlog_free(log);
  *log = r.log;
  return o;
}

/* Checks one replay against the expected log (the rules of the README);
 * returns 1 when it matched. */
static int check_replay(const transcript *t, const char *mode, size_t chunk,
                        size_t arg, outcome o, const tlog *got) {
  const tlog *want = chunk == 1 ? &t->want : &t->want_events;
  t_checks++;
  if (o.nomem || o.other || o.bad) {
    T_FAIL("%s %s(%zu): %d NOMEM, %d other errors, %d bad events", t->name,
           mode, arg, o.nomem, o.other, o.bad);
    return 0;
  }
  if (strcmp(tlog_text(got), tlog_text(want)) != 0) {
    T_FAIL("%s %s(%zu): log differs\n--- got\n%s--- want\n%s", t->name, mode,
           arg, tlog_text(got), tlog_text(want));
    return 0;
  }
  if ((t->limits > 0) != (o.limit > 0) || o.limit > t->limits) {
    T_FAIL("%s %s(%zu): %d feeds returned MS_ERR_LIMIT, %d limit entries",
           t->name, mode, arg, o.limit, t->limits);
    return 0;
  }
  return 1;
}

static char **sse_names;

static void sse_transcripts_should_exist(void) {
  int count = 0;
  for (char **n = sse_names; *n; n++) count++;
  T_OK(count >= 15);
}

static void sse_transcripts_should_match_when_fed_whole(void) {
  for (char **n = sse_names; *n; n++) {
    transcript t;
    tlog got = {0};
    transcript_load(&t, *n);
    check_replay(&t, "whole", 0, t.in_len, replay(&t, 0, t.in_len, &got), &got);
    tlog_free(&got);
    transcript_free(&t);
  }
}

static void sse_transcripts_should_match_when_fed_byte_by_byte(void) {
  for (char **n = sse_names; *n; n++) {
    transcript t;
    tlog got = {0};
    transcript_load(&t, *n);
    check_replay(&t, "bytes", 1, 1, replay(&t, 1, 0, &got), &got);
    tlog_free(&got);
    transcript_free(&t);
  }
}

static void sse_transcripts_should_match_when_split_at_every_offset(void) {
  for (char **n = sse_names; *n; n++) {
    transcript t;
    tlog got = {0};
    transcript_load(&t, *n);
    for (size_t k = 0; k <= t.in_len; k++)
      if (!check_replay(&t, "split", 0, k, replay(&t, 0, k, &got), &got)) break;
    tlog_free(&got);
    transcript_free(&t);
  }
}

static void sse_transcripts_should_match_in_chunks_of_every_small_size(void) {
  for (char **n = sse_names; *n; n++) {
    transcript t;
    tlog got = {0};
    transcript_load(&t, *n);
    for (size_t c = 2; c <= 17; c++)
      if (!check_replay(&t, "chunks", c, c, replay(&t, c, 0, &got), &got)) break;
    tlog_free(&got);
    transcript_free(&t);
  }
}

/* For every i, the i-th allocation fails: a feed must report MS_ERR_NOMEM
 * (and otherwise the log must be right), and nothing leaks. */
static void sse_should_survive_every_allocation_failure(void) {
  static const size_t chunks[] = {1, 5, 1 << 20};
  int failures = 0;
  for (char **n = sse_names; *n; n++) {
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
          failures++;
        } else {
          T_EQ(o.nomem, 0);
          T_OK(strcmp(tlog_text(&got),
                      tlog_text(chunks[c] == 1 ? &t.want : &t.want_events)) == 0);
        }
      }
    }
    tlog_free(&got);
    transcript_free(&t);
  }
  T_OK(failures > 50); /* the scenarios do allocate */
}

/* ---- unit tests ---------------------------------------------------------- */

/* Feeds the chunks into a fresh parser with limit `max` and checks the log
 * (entries as in the transcripts; "limit" after a feed returning it). */
#define EXPECT_EVENTS(max, want, ...)                          \
  do {                                                         \
    static const char *const chunks_[] = {__VA_ARGS__, NULL};  \
    ms_sse s_;                                                 \
    rec r_;                                                    \
    ms_sse_init(&s_, (max));                                   \
    rec_init(&r_, (max));                                      \
    T_EQ(feed_strs(&s_, &r_, chunks_), 0);                     \
    T_MEM(tlog_text(&r_.log), r_.log.len, want);               \
    T_EQ(r_.bad, 0);                                           \
    ms_sse_free(&s_);                                          \
    tlog_free(&r_.log);                                        \
  } while (0)

#define EV(type, id, retry, data) \
  "event=\"" type "\" id=\"" id "\" retry=" #retry " data=\"" data "\"\n"
#define MSG(data) EV("message", "", -1, data)

static void sse_should_dispatch_an_event_on_a_blank_line(void) {
  EXPECT_EVENTS(100, MSG("hi"), "data: hi\n\n");
  EXPECT_EVENTS(100, "", "data: hi\n");
}

static void sse_should_join_data_lines_with_newlines(void) {
  EXPECT_EVENTS(100, MSG("a\\nb\\n\\nc"), "data: a\ndata: b\ndata\ndata: c\n\n");
}

static void sse_should_remove_only_one_leading_space_from_a_value(void) {
  EXPECT_EVENTS(100, MSG("x") MSG(" y") MSG("z ") MSG("\\tw"),
                "data: x\n\ndata:  y\n\ndata:z \n\ndata:\tw\n\n");
}

static void sse_should_treat_cr_then_lf_across_feeds_as_one_line_end(void) {
  /* were the LF a second line end, "data: a" would be dispatched alone */
  EXPECT_EVENTS(100, MSG("a\\nb"), "data: a\r", "\ndata: b\r", "\n\r", "\n");
  EXPECT_EVENTS(100, MSG("a"), "data: a\r", "", "\n", "\r", "", "\n");
}

static void sse_should_treat_a_lone_cr_as_a_line_end(void) {
  EXPECT_EVENTS(100, MSG("a") MSG("b"), "data: a\r\rdata: b\r", "\r");
}

static void sse_should_treat_lf_then_cr_as_two_line_ends(void) {
  EXPECT_EVENTS(100, MSG("a") MSG("b"), "data: a\n\rdata: b\n", "\r");
}

static void sse_should_skip_a_bom_split_across_feeds(void) {
  EXPECT_EVENTS(100, MSG("x"), "\xef", "\xbb", "\xbf", "data: x\n\n");
  EXPECT_EVENTS(100, MSG("x"), "\xef\xbb", "\xbf" "data: x\n\n");
  EXPECT_EVENTS(100, MSG("x"), "\xef\xbb\xbf", "data: x\n\n");
}

static void sse_should_skip_only_a_leading_bom(void) {
  EXPECT_EVENTS(100, MSG("y"), "\xef\xbb\xbf\xef\xbb\xbf" "data: x\n\ndata: y\n\n");
  EXPECT_EVENTS(100, MSG("x"), "data: x\n\n\xef\xbb\xbf" "data: y\n\n");
  EXPECT_EVENTS(100, MSG("x"), "\n\xef\xbb\xbf" "data: y\n\ndata: x\n\n");
}

static void sse_should_keep_a_partial_bom_as_line_content(void) {
  EXPECT_EVENTS(100, MSG("y"), "\xef", "\xbb", "data: x\n\ndata: y\n\n");
  EXPECT_EVENTS(100, MSG("y"), "\xef", "\n", "data: y\n\n");
  /* "\xef:" is not a comment but a field named "\xef" */
  EXPECT_EVENTS(100, MSG("y"), "\xef", ": x\ndata: y\n\n");
}

static void sse_should_ignore_comment_lines_of_any_length(void) {
  EXPECT_EVENTS(6, MSG("a"), ": a very long comment\n", "data", ":a\n",
                ":", "another long one", "\r", "\n\n");
}

static void sse_should_use_message_as_the_default_event_type(void) {
  EXPECT_EVENTS(100, MSG("a") MSG("b"), "data: a\n\nevent:\ndata: b\n\n");
}

static void sse_should_reset_the_event_type_after_dispatch(void) {
  EXPECT_EVENTS(100, EV("t", "", -1, "a") MSG("b"), "event: t\ndata: a\n\ndata: b\n\n");
}

static void sse_should_reset_the_event_type_at_a_blank_line_without_data(void) {
  EXPECT_EVENTS(100, MSG("b"), "event: t\n\ndata: b\n\n");
}

static void sse_should_keep_the_last_event_id_across_events(void) {
  EXPECT_EVENTS(100, EV("message", "7", -1, "a") EV("message", "7", -1, "b")
                EV("message", "8", -1, "c"),
                "id: 7\ndata: a\n\ndata: b\n\nid: 8\n\ndata: c\n\n");
}

static void sse_should_ignore_an_id_containing_nul(void) {
  ms_sse s;
  rec r;
  static const char in[] = "id: 1\n\nid: 2\0x\ndata: a\n\n";
  ms_sse_init(&s, 100);
  rec_init(&r, 100);
  T_EQ(feed_copy(&s, &r, in, sizeof in - 1), 0);
  T_MEM(tlog_text(&r.log), r.log.len, EV("message", "1", -1, "a"));
  ms_sse_free(&s);
  tlog_free(&r.log);
}

static void sse_should_clear_the_id_with_an_empty_id_field(void) {
  EXPECT_EVENTS(100, EV("message", "1", -1, "a") MSG("b") MSG("c"),
                "id: 1\ndata: a\n\nid\ndata: b\n\nid:\ndata: c\n\n");
}

static void sse_should_set_retry_only_from_ascii_digits(void) {
  EXPECT_EVENTS(100, EV("message", "", 15, "a") EV("message", "", 15, "b"),
                "retry: 15\ndata: a\n\nretry: 1e3\nretry: +1\nretry: \nretry\n"
                "retry: 2 \nretry: \xd9\xa3\ndata: b\n\n");
}

static void sse_should_clamp_a_huge_retry(void) {
  EXPECT_EVENTS(100, EV("message", "", 2147483647, "a") EV("message", "", 2147483646, "b"),
                "retry: 99999999999999999999999\ndata: a\n\n",
                "retry: 2147483646\ndata: b\n\n");
  EXPECT_EVENTS(100, EV("message", "", 2147483647, "a"), "retry: 2147483648\ndata: a\n\n");
}

static void sse_should_ignore_unknown_fields_and_other_cases(void) {
  EXPECT_EVENTS(100, MSG("ok"), "DATA: x\nEvent: y\nfoo: z\nid : 1\ndata: ok\n\n");
}

static void sse_should_dispatch_empty_data_for_a_data_field_without_value(void) {
  EXPECT_EVENTS(100, MSG("") MSG(""), "data\n\ndata:\n\n");
}

static void sse_should_accept_empty_feeds(void) {
  EXPECT_EVENTS(100, MSG("ab"), "", "data: a", "", "b", "", "\n", "", "\n", "");
}

static void sse_should_report_an_over_long_line_and_skip_to_the_next_event(void) {
  /* max 8: "data: abc" is 9 bytes */
  EXPECT_EVENTS(8, MSG("ok") "limit\n", "data: abc\ndata: x\n\ndata: ok\n\n");
  EXPECT_EVENTS(8, "limit\n" MSG("ok"), "data:", " abc", "\ndata: x\n", "\ndata: ok\n\n");
  /* a line of exactly max bytes is fine */
  EXPECT_EVENTS(8, MSG("abc"), "data:abc\n\n");
}

static void sse_should_report_over_long_event_data_and_skip_to_the_next_event(void) {
  /* max 8: "abc\nabc\nx" is 9 bytes, "abc\nab\nx" is 8 */
  EXPECT_EVENTS(8, "limit\n" MSG("abc\\nab\\nx"), "data:abc\ndata:abc\ndata:x\ndata:y\n\n",
                "data:abc\ndata:ab\ndata:x\n\n");
  /* max 4: five empty data lines make 4 bytes, six make 5 */
  EXPECT_EVENTS(4, MSG("\\n\\n\\n\\n") "limit\n", "data\ndata\ndata\ndata\ndata\n\n",
                "data\ndata\ndata\ndata\ndata\ndata\n\n");
}

static void sse_should_keep_parsing_the_rest_of_the_feed_after_a_limit(void) {
  ms_sse s;
  rec r;
  static const char in[] = "data: ok1\n\ndata: toolong\n\ndata: ok2\n\n";
  ms_sse_init(&s, 9);
  rec_init(&r, 9);
  T_EQ(feed_copy(&s, &r, in, sizeof in - 1), MS_ERR_LIMIT);
  T_MEM(tlog_text(&r.log), r.log.len, MSG("ok1") MSG("ok2"));
  /* the next feed starts clean */
  T_EQ(feed_copy(&s, &r, "data: ok3\n\n", 11), 0);
  ms_sse_free(&s);
  tlog_free(&r.log);
}

static void sse_should_keep_the_id_and_retry_when_an_event_is_dropped(void) {
  EXPECT_EVENTS(12, EV("message", "1", 5, "b") "limit\n",
                "id: 1\nretry: 5\ndata: aaaaaaaaaaaaa\n\ndata: b\n\n");
}

static void sse_should_stop_the_feed_when_the_callback_fails(void) {
  ms_sse s;
  rec r;
  ms_sse_init(&s, 100);
  rec_init(&r, 100);
  r.fail_at = 1;
  r.fail_rc = -42;
  T_EQ(feed_copy(&s, &r, "event: t\ndata: a\r\rdata: b\n\n", 27), -42);
  T_MEM(tlog_text(&r.log), r.log.len, EV("t", "", -1, "a"));
  /* the parser is between events; the CR's possible LF is still skipped */
  T_EQ(feed_copy(&s, &r, "\ndata: c\n\n", 10), 0);
  T_MEM(tlog_text(&r.log), r.log.len, EV("t", "", -1, "a") MSG("c"));
  ms_sse_free(&s);
  tlog_free(&r.log);
}

static void sse_should_drop_only_the_event_it_could_not_store(void) {
  ms_sse s;
  rec r;
  ms_sse_init(&s, 1000);
  rec_init(&r, 1000);
  T_EQ(feed_copy(&s, &r, "id: 9\n", 6), 0);
  ms_alloc_fail_at(1); /* the data buffer */
  T_EQ(feed_copy(&s, &r, "data: a\ndata: b\n\ndata: c\n\n", 26), MS_ERR_NOMEM);
  ms_alloc_fail_at(0);
  T_MEM(tlog_text(&r.log), r.log.len, EV("message", "9", -1, "c"));
  ms_sse_free(&s);
  /* the old id stays when a new one cannot be stored */
  ms_sse_init(&s, 1000);
  T_EQ(feed_copy(&s, &r, "id: 1\n", 6), 0);
  ms_alloc_fail_at(1);
  T_EQ(feed_copy(&s, &r, "id: 0123456789012345678901234567890123456789012345678901234567890123456789\n"
                         "data: x\n\ndata: y\n\n", 93), MS_ERR_NOMEM);
  ms_alloc_fail_at(0);
  T_MEM(tlog_text(&r.log), r.log.len, EV("message", "9", -1, "c") EV("message", "1", -1, "y"));
  ms_sse_free(&s);
  tlog_free(&r.log);
}

static void sse_should_release_big_buffers_after_use(void) {
  ms_sse s;
  rec r;
  enum { N = 200000 };
  char *big = malloc(N);
  if (!big) exit(2);
  memcpy(big, "data: ", 6);
  memset(big + 6, 'x', N - 6);
  ms_sse_init(&s, N);
  rec_init(&r, N);
  ms_alloc_fail_at(0);
  for (size_t off = 0; off < N; off += 1000) T_EQ(feed_copy(&s, &r, big + off, 1000), 0);
  T_EQ(feed_copy(&s, &r, "\n\n", 2), 0);
  T_OK(ms_alloc_fail_at(0) <= 40); /* geometric growth */
  T_EQ(r.calls, 1);
  T_EQ(ms_live_allocations(), 0);
  ms_sse_free(&s);
  tlog_free(&r.log);
  free(big);
}

static void sse_should_be_reusable_after_free(void) {
  ms_sse s;
  rec r;
  ms_sse_init(&s, 100);
  rec_init(&r, 100);
  T_EQ(feed_copy(&s, &r, "id: 3\nretry: 9\nevent: e\ndata: partial\r", 38), 0);
  ms_sse_free(&s);
  T_EQ(s.max, 100);
  T_EQ(s.retry, -1);
  /* a fresh stream: its BOM is skipped, the CR above no longer pending */
  T_EQ(feed_copy(&s, &r, "\xef\xbb\xbf\ndata: new\n\n", 15), 0);
  T_MEM(tlog_text(&r.log), r.log.len, MSG("new"));
  ms_sse_free(&s);
  ms_sse_free(&s);
  tlog_free(&r.log);
}

int main(void) {
  sse_names = list_transcripts("sse-");
  T_RUN(sse_transcripts_should_exist);
  T_RUN(sse_transcripts_should_match_when_fed_whole);
  T_RUN(sse_transcripts_should_match_when_fed_byte_by_byte);
  T_RUN(sse_transcripts_should_match_when_split_at_every_offset);
  T_RUN(sse_transcripts_should_match_in_chunks_of_every_small_size);
  T_RUN(sse_should_survive_every_allocation_failure);
  T_RUN(sse_should_dispatch_an_event_on_a_blank_line);
  T_RUN(sse_should_join_data_lines_with_newlines);
  T_RUN(sse_should_remove_only_one_leading_space_from_a_value);
  T_RUN(sse_should_treat_cr_then_lf_across_feeds_as_one_line_end);
  T_RUN(sse_should_treat_a_lone_cr_as_a_line_end);
  T_RUN(sse_should_treat_lf_then_cr_as_two_line_ends);
  T_RUN(sse_should_skip_a_bom_split_across_feeds);
  T_RUN(sse_should_skip_only_a_leading_bom);
  T_RUN(sse_should_keep_a_partial_bom_as_line_content);
  T_RUN(sse_should_ignore_comment_lines_of_any_length);
  T_RUN(sse_should_use_message_as_the_default_event_type);
  T_RUN(sse_should_reset_the_event_type_after_dispatch);
  T_RUN(sse_should_reset_the_event_type_at_a_blank_line_without_data);
  T_RUN(sse_should_keep_the_last_event_id_across_events);
  T_RUN(sse_should_ignore_an_id_containing_nul);
  T_RUN(sse_should_clear_the_id_with_an_empty_id_field);
  T_RUN(sse_should_set_retry_only_from_ascii_digits);
  T_RUN(sse_should_clamp_a_huge_retry);
  T_RUN(sse_should_ignore_unknown_fields_and_other_cases);
  T_RUN(sse_should_dispatch_empty_data_for_a_data_field_without_value);
  T_RUN(sse_should_accept_empty_feeds);
  T_RUN(sse_should_report_an_over_long_line_and_skip_to_the_next_event);
  T_RUN(sse_should_report_over_long_event_data_and_skip_to_the_next_event);
  T_RUN(sse_should_keep_parsing_the_rest_of_the_feed_after_a_limit);
  T_RUN(sse_should_keep_the_id_and_retry_when_an_event_is_dropped);
  T_RUN(sse_should_stop_the_feed_when_the_callback_fails);
  T_RUN(sse_should_drop_only_the_event_it_could_not_store);
  T_RUN(sse_should_release_big_buffers_after_use);
  T_RUN(sse_should_be_reusable_after_free);
  free_names(sse_names);
  T_END();
}

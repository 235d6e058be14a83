/* ndjson.c — newline-delimited framing (the MCP stdio transport).
 *
 * Bytes go in by the chunk; complete lines come out through a callback, in
 * order, the same whatever the chunking:
 *  - a line ends at "\n"; one "\r" right before it is removed too;
 *  - a line that is empty after that is skipped;
 *  - a line whose content (without "\n" and the removed "\r") is longer than
 *    `max` is reported once as (NULL, max) as soon as that is certain, and
 *    the rest of it is discarded up to its "\n";
 *  - bytes after the last "\n" are carried to the next feed (a stream that
 *    ends without "\n" never reports its last partial line).
 *
 * Cost: every input byte is scanned once for "\n", 16 at a time (bytescan.h). Bytes carried in
 * d->line never contain "\n", so they are never scanned again. Lines that
 * lie whole inside one feed while nothing is carried are passed to the
 * callback straight from the input, without a copy or an allocation.
 *
 * The carried-line buffer grows geometrically and is kept between lines: a
 * big one (over NDJSON_KEEP_BYTES) only while the lines it carries fill at
 * least a quarter of it, so a run of big messages reuses one buffer (no
 * allocation or copy per message for growing it again), and never one over
 * NDJSON_KEEP_MAX: a huge message does not pin its memory, even when the
 * messages that follow come whole in one feed (never carried, they would
 * never free it).
 *
 * Running out of memory while carrying a partial line drops that one line
 * (the parser skips to its "\n"); the rest of the feed is still parsed and
 * the feed returns MS_ERR_NOMEM. */
#include <string.h>

#include "bytescan.h"
#include "internal.h"

/* A carried-line buffer bigger than this is freed once a line it carried
 * filled less than a quarter of it (or on an error). */
#define NDJSON_KEEP_BYTES 65536
/* ... and one bigger than this is freed after the line it carried. */
#define NDJSON_KEEP_MAX (1u << 20)
/* A carried line this big grows by a quarter (carry). */
#define NDJSON_GROW_SLOW (1u << 20)

/* Sets up an empty parser that accepts lines of up to max_line bytes.
 * Allocates nothing; `d` is owned by the caller. */
void ms_ndjson_init(ms_ndjson *d, size_t max_line) {
  memset(d, 0, sizeof *d);
  d->max = max_line;
}

/* Frees the carried bytes. `d` is back in its initial state (same limit), so
 * it can be fed again or dropped. */
void ms_ndjson_free(ms_ndjson *d) {
  ms_buf_free(&d->line);
  d->discarding = 0;
  d->room = 0;
}

/* 1 when a complete line of `len` raw bytes (without "\n") whose last byte
 * is `last` is too long: its content, once a final "\r" is removed, exceeds
 * max. */
static int complete_too_long(size_t max, size_t len, uint8_t last) {
  if (len > 0 && last == '\r') len--;
  return len > max;
}

/* 1 when a line whose first `len` raw bytes are known (last one `last`) and
 * whose "\n" has not come yet is certain to be too long. A line of max + 1
 * bytes ending in "\r" is still undecided: a "\n" next would remove it. */
static int partial_too_long(size_t max, size_t len, uint8_t last) {
  return len > max && !(len == max + 1 && last == '\r');
}

/* Reports the complete line s[0..len) (without its "\n"), after removing one
 * trailing "\r"; blank lines are not reported. `s` is only read. Returns 0
 * or the callback's negative return. */
static int emit(const uint8_t *s, size_t len, ms_line_cb cb, void *user) {
  if (len > 0 && s[len - 1] == '\r') len--;
  if (len == 0) return 0;
  int rc = cb(user, (const char *)s, len);
  return rc < 0 ? rc : 0;
}

/* Reports an over-long line as (NULL, max), with its first bytes in
 * d->head: the carried bytes d->line, then seg[0..n). Returns 0 or the
 * callback's negative return. */
static int emit_overflow(ms_ndjson *d, const uint8_t *seg, size_t n, ms_line_cb cb,
                         void *user) {
  size_t k = d->line.len < MS_NDJSON_HEAD ? d->line.len : MS_NDJSON_HEAD;
  if (k) memcpy(d->head, d->line.data, k);
  size_t more = n < MS_NDJSON_HEAD - k ? n : MS_NDJSON_HEAD - k;
  if (more) memcpy(d->head + k, seg, more);
  d->head_len = k + more;
  int rc = cb(user, NULL, d->max);
  d->head_len = 0;
  return rc < 0 ? rc : 0;
}

/* Carries p[0..n) in d->line. A big line grows by a quarter, not by
 * doubling (at most a quarter of it is unused, where doubling leaves up to
 * half); a pipe delivers 64 KiB at a time, and nothing else is allocated
 * between its feeds, so the buffer can usually grow where it is. */
static int carry(ms_ndjson *d, const uint8_t *p, size_t n) {
  ms_buf *b = &d->line;
  if (!b->data && d->room > n) /* the room of the line taken over last (failing is harmless) */
    (void)ms_buf_reserve_exact(b, d->room);
  d->room = 0;
  if (n > b->cap - b->len && b->cap >= NDJSON_GROW_SLOW) {
    size_t extra = b->cap / 4 > n ? b->cap / 4 : n;
    if (ms_buf_reserve_exact(b, extra)) return MS_ERR_NOMEM;
  }
  return ms_buf_append(b, p, n);
}

uint8_t *ms_ndjson_take_line(ms_ndjson *d, const char *line) {
  if (!line || !d->line.data || line != (const char *)d->line.data) return NULL;
  uint8_t *p = d->line.data;
  d->room = d->line.cap <= NDJSON_KEEP_MAX ? d->line.cap : 0;
  d->line = (ms_buf){0};
  return p;
}

/* Forgets the carried line, and frees its storage when it grew big. */
static void drop_line(ms_ndjson *d) {
  if (d->line.cap > NDJSON_KEEP_BYTES) ms_buf_free(&d->line);
  else ms_buf_reset(&d->line);
}

/* Parses p[0..n) (only read, never kept: whatever must outlive the call is
 * copied into d->line). Reports every line completed by these bytes through
 * cb(user, ...). Returns 0; MS_ERR_NOMEM when a partial line could not be
 * stored (that line is dropped, the rest of the input is parsed); or the
 * callback's negative return, which stops the feed at once (the parser stays
 * consistent: the line just reported has been consumed). */
int ms_ndjson_feed(ms_ndjson *d, const uint8_t *p, size_t n, ms_line_cb cb,
                   void *user) {
  int result = 0;
  size_t i = 0;
  while (i < n) {
    size_t k = ms_find_byte(p + i, n - i, '\n');
    const uint8_t *nl = k < n - i ? p + i + k : NULL;
    size_t start = i;
    size_t end = nl ? (size_t)(nl - p) : n; /* the segment is p[start..end) */
    size_t seg = end - start;

    if (d->discarding) { /* the rest of an over-long or dropped line */
      if (!nl) break;
      d->discarding = 0;
      i = end + 1;
      continue;
    }

    if (!nl) { /* the tail starts (or continues) a line: carry it */
      if (partial_too_long(d->max, d->line.len + seg, p[n - 1])) {
        int rc = emit_overflow(d, p + start, seg, cb, user);
        drop_line(d);
        d->discarding = 1;
        if (rc < 0) return rc;
      } else if (carry(d, p + start, seg) != 0) {
        drop_line(d);
        d->discarding = 1;
        result = MS_ERR_NOMEM;
      }
      break;
    }

    int rc;
    i = end + 1; /* consumed whatever happens below */
    if (d->line.len == 0) { /* a whole line inside the input: no copy */
      if (seg > 0 && complete_too_long(d->max, seg, p[end - 1]))
        rc = emit_overflow(d, p + start, seg, cb, user);
      else
        rc = emit(p + start, seg, cb, user);
    } else { /* completes the carried line */
      uint8_t last = seg > 0 ? p[end - 1] : d->line.data[d->line.len - 1];
      if (complete_too_long(d->max, d->line.len + seg, last)) {
        rc = emit_overflow(d, p + start, seg, cb, user);
        drop_line(d);
      } else if (carry(d, p + start, seg) != 0) {
        drop_line(d);
        result = MS_ERR_NOMEM;
        rc = 0;
      } else {
        /* reset first (storage stays valid) so that a failing callback
         * leaves no stale line behind */
        size_t len = d->line.len;
        ms_buf_reset(&d->line);
        rc = emit(d->line.data, len, cb, user);
        if (d->line.cap > NDJSON_KEEP_BYTES && (len < d->line.cap / 4 || d->line.cap > NDJSON_KEEP_MAX))
          ms_buf_free(&d->line);
      }
    }
    if (rc < 0) return rc;
  }
  return result;
}

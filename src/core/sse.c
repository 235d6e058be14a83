/* sse.c — Server-Sent Events parser: the WHATWG "event-stream"
 * interpretation (HTML Living Standard, "Server-sent events", §9.2.6).
 *
 * Bytes go in by the chunk; events come out through a callback, the same
 * whatever the chunking:
 *  - one UTF-8 BOM (EF BB BF) at the very start of the stream is skipped,
 *    even when it is split across feeds; a later one is ordinary content;
 *  - lines end with CRLF, LF or CR; a CR at the end of one feed and an LF at
 *    the start of the next are one line end;
 *  - a line starting with ":" is a comment and is ignored (at any length);
 *  - "name:value" sets a field (one space after the colon is removed); a line
 *    without ":" is a field with an empty value. Fields, case-sensitive:
 *      data   appends the value to the event's data (lines joined by "\n")
 *      event  sets the event type
 *      id     sets the last event id, unless the value contains a NUL
 *      retry  sets the reconnection time when the value is one or more ASCII
 *             digits (values above 2147483647 are clamped to it)
 *    any other field is ignored;
 *  - a blank line dispatches the event if a data field was seen since the
 *    last one, then the type goes back to "message" (also when nothing was
 *    dispatched); the id and retry persist;
 *  - an event not followed by a blank line when the stream ends is never
 *    dispatched (there is no "end of stream" call).
 * Bytes are passed through as they are: invalid UTF-8 is not replaced with
 * U+FFFD as a browser would (the consumer parses the data as JSON anyway).
 *
 * Limits: a line longer than `max` bytes (without its line end), or event
 * data that would grow beyond `max` bytes, is not kept: the feed goes on and
 * returns MS_ERR_LIMIT at its end, and the parser drops that event, skipping
 * every line up to the next blank line. Running out of memory drops the
 * event being parsed the same way and the feed returns MS_ERR_NOMEM.
 *
 * Cost: every input byte is scanned once. Bytes carried in s->line never
 * contain a line end, so they are never scanned again. A line that lies
 * whole inside one feed while nothing is carried is parsed straight from the
 * input; only field values are copied (into s->data, s->type, s->id). */
#include <string.h>

#include "internal.h"

/* Values of s->discarding. */
enum {
  SSE_KEEP = 0,       /* parsing normally */
  SSE_SKIP_LINE = 1,  /* inside a line of a dropped event: skip to its end */
  SSE_SKIP_EVENT = 2, /* at a line start in a dropped event: a blank line ends it */
  SSE_COMMENT = 3     /* inside a comment line: skip to its end */
};

/* Buffers bigger than this are freed once their content has been used, so
 * one huge event does not pin memory for the life of a stream. */
#define SSE_KEEP_BYTES 65536
/* The largest retry value kept (the same on 32- and 64-bit `long`). */
#define SSE_RETRY_MAX 2147483647L

/* Sets up an empty parser: type "message", no id, retry -1, lines and event
 * data limited to `max` bytes. Allocates nothing; `s` is owned by the
 * caller. */
void ms_sse_init(ms_sse *s, size_t max) {
  memset(s, 0, sizeof *s);
  s->retry = -1;
  s->max = max;
}

/* Frees every buffer. `s` is back in its initial state (same limit), so it
 * can be fed a new stream or dropped. */
void ms_sse_free(ms_sse *s) {
  ms_buf_free(&s->line);
  ms_buf_free(&s->data);
  ms_buf_free(&s->type);
  ms_buf_free(&s->id);
  ms_sse_init(s, s->max);
}

/* Empties `b`, and frees its storage when it grew big. */
static void shrink(ms_buf *b) {
  if (b->cap > SSE_KEEP_BYTES) ms_buf_free(b);
  else ms_buf_reset(b);
}

/* Records `code` as the feed's result. MS_ERR_NOMEM wins over
 * MS_ERR_LIMIT: running out of memory is the one the caller must hear of. */
static void keep_error(int *result, int code) {
  if (*result == 0 || code == MS_ERR_NOMEM) *result = code;
}

/* Drops the event being parsed (line, data, type; the id and retry stay)
 * and enters discarding state `how` (SSE_SKIP_LINE or SSE_SKIP_EVENT). */
static void drop_event(ms_sse *s, int how) {
  shrink(&s->line);
  shrink(&s->data);
  ms_buf_reset(&s->type);
  s->has_data = 0;
  s->discarding = how;
}

/* Makes `b` hold exactly v[0..n). Returns 0, or MS_ERR_NOMEM with `b`
 * unchanged. `v` is only read and must not point into `b`. */
static int buf_set(ms_buf *b, const uint8_t *v, size_t n) {
  if (n > b->cap && ms_buf_reserve(b, n - b->len) != 0) return MS_ERR_NOMEM;
  if (n > 0) memcpy(b->data, v, n);
  b->len = n;
  return 0;
}

/* Returns the index of the first CR or LF in p[i..n), or n. */
static size_t find_eol(const uint8_t *p, size_t i, size_t n) {
  while (i < n && p[i] != '\r' && p[i] != '\n') i++;
  return i;
}

/* Consumes the line end at p[j] (CR or LF; j < n) and returns the index
 * after it. A CR that is the last byte of the feed sets cr_pending, so that
 * an LF starting the next feed is taken as part of it. */
static size_t skip_eol(ms_sse *s, const uint8_t *p, size_t j, size_t n) {
  if (p[j] == '\r') {
    if (j + 1 == n) s->cr_pending = 1;
    else if (p[j + 1] == '\n') return j + 2;
  }
  return j + 1;
}

/* Skips the optional BOM at the start of the stream. The BOM bytes matched
 * so far are held in s->line (nothing else is there yet); on a mismatch they
 * stay there as the start of the first line. Returns how many bytes of
 * p[0..n) it consumed. May set *result to MS_ERR_NOMEM (the first line is
 * then dropped). */
static size_t skip_bom(ms_sse *s, const uint8_t *p, size_t n, int *result) {
  static const uint8_t bom[3] = {0xEF, 0xBB, 0xBF};
  size_t i = 0;
  while (i < n && !s->started) {
    if (p[i] != bom[s->line.len]) {
      s->started = 1;
      break;
    }
    if (ms_buf_append_byte(&s->line, p[i]) != 0) {
      s->started = 1;
      drop_event(s, SSE_SKIP_LINE);
      keep_error(result, MS_ERR_NOMEM);
    }
    i++;
    if (s->line.len == sizeof bom) {
      ms_buf_reset(&s->line);
      s->started = 1;
    }
  }
  return i;
}

/* Dispatches the event if data was seen, and resets the data and the type.
 * The event's pointers point into s's buffers (or at string literals) and
 * are valid during the callback. Returns 0 or the callback's negative
 * return. */
static int dispatch(ms_sse *s, ms_sse_cb cb, void *user) {
  if (!s->has_data) {
    ms_buf_reset(&s->type);
    return 0;
  }
  ms_sse_event ev;
  ev.type = s->type.len ? (const char *)s->type.data : "message";
  ev.type_len = s->type.len ? s->type.len : 7;
  ev.data = s->data.len ? (const char *)s->data.data : "";
  ev.data_len = s->data.len;
  ev.id = s->id.len ? (const char *)s->id.data : "";
  ev.id_len = s->id.len;
  ev.retry = s->retry;
  /* reset before the call (storage stays valid) so that a failing callback
   * leaves the parser between events */
  s->has_data = 0;
  ms_buf_reset(&s->data);
  ms_buf_reset(&s->type);
  int rc = cb(user, &ev);
  if (s->data.cap > SSE_KEEP_BYTES) ms_buf_free(&s->data);
  return rc < 0 ? rc : 0;
}

/* 1 when name[0..n) is the NUL-terminated field name `want`. */
static int field_is(const uint8_t *name, size_t n, const char *want) {
  return strlen(want) == n && memcmp(name, want, n) == 0;
}

/* Interprets one complete line (without its line end). `line` is only read;
 * it may point into the input or into s->line (which drop_event may free:
 * `line` is not read after a drop). Returns 0 or the callback's
 * negative return; a limit or allocation failure drops the event and is
 * kept in *result. */
static int process_line(ms_sse *s, const uint8_t *line, size_t len,
                        ms_sse_cb cb, void *user, int *result) {
  if (len == 0) return dispatch(s, cb, user);
  if (line[0] == ':') return 0; /* comment */

  const uint8_t *colon = memchr(line, ':', len);
  size_t name_len = colon ? (size_t)(colon - line) : len;
  const uint8_t *value = colon ? colon + 1 : line + len;
  size_t vlen = len - (size_t)(value - line);
  if (vlen > 0 && value[0] == ' ') value++, vlen--;

  if (field_is(line, name_len, "data")) {
    size_t need = vlen + (s->has_data ? 1 : 0); /* "\n" before a later line */
    if (need > s->max - s->data.len) {
      drop_event(s, SSE_SKIP_EVENT);
      keep_error(result, MS_ERR_LIMIT);
    } else if (ms_buf_reserve(&s->data, need) != 0) {
      drop_event(s, SSE_SKIP_EVENT);
      keep_error(result, MS_ERR_NOMEM);
    } else {
      if (s->has_data) s->data.data[s->data.len++] = '\n';
      if (vlen > 0) memcpy(s->data.data + s->data.len, value, vlen);
      s->data.len += vlen;
      s->has_data = 1;
    }
  } else if (field_is(line, name_len, "event")) {
    if (buf_set(&s->type, value, vlen) != 0) {
      drop_event(s, SSE_SKIP_EVENT);
      keep_error(result, MS_ERR_NOMEM);
    }
  } else if (field_is(line, name_len, "id")) {
    if (vlen > 0 && memchr(value, '\0', vlen)) return 0;
    if (buf_set(&s->id, value, vlen) != 0) { /* the old id stays */
      drop_event(s, SSE_SKIP_EVENT);
      keep_error(result, MS_ERR_NOMEM);
    }
  } else if (field_is(line, name_len, "retry")) {
    long v = 0;
    size_t k;
    for (k = 0; k < vlen && value[k] >= '0' && value[k] <= '9'; k++) {
      long digit = value[k] - '0';
      v = v > (SSE_RETRY_MAX - digit) / 10 ? SSE_RETRY_MAX : v * 10 + digit;
    }
    if (vlen > 0 && k == vlen) s->retry = v;
  }
  return 0;
}

/* Parses p[0..n) (only read, never kept: what must outlive the call is
 * copied into s's buffers) and dispatches every event completed by these
 * bytes through cb(user, ...). Returns 0; MS_ERR_NOMEM when an allocation
 * failed, else MS_ERR_LIMIT when something was over the limit — in both
 * cases the event concerned was dropped and the rest of the input was still
 * parsed; or the callback's negative return, which stops the feed at once
 * (the parser is then between events). */
int ms_sse_feed(ms_sse *s, const uint8_t *p, size_t n, ms_sse_cb cb, void *user) {
  int result = 0;
  size_t i = s->started ? 0 : skip_bom(s, p, n, &result);
  while (i < n) {
    if (s->cr_pending) {
      s->cr_pending = 0;
      if (p[i] == '\n') {
        i++;
        continue;
      }
    }
    size_t j = find_eol(p, i, n); /* the line's bytes here: p[i..j) */
    int eol = j < n;

    if (s->discarding == SSE_SKIP_EVENT) {
      if (eol && j == i) { /* a blank line: the dropped event is over */
        s->discarding = SSE_KEEP;
        i = skip_eol(s, p, j, n);
        continue;
      }
      s->discarding = SSE_SKIP_LINE;
    }
    if (s->discarding != SSE_KEEP) { /* SSE_SKIP_LINE or SSE_COMMENT */
      if (!eol) break;
      s->discarding = s->discarding == SSE_COMMENT ? SSE_KEEP : SSE_SKIP_EVENT;
      i = skip_eol(s, p, j, n);
      continue;
    }

    size_t seg = j - i;
    if (s->line.len == 0 && seg > 0 && p[i] == ':') { /* a comment starts */
      if (!eol) {
        s->discarding = SSE_COMMENT;
        break;
      }
      i = skip_eol(s, p, j, n);
      continue;
    }
    /* over-long line (s->line may exceed max only by held BOM bytes) */
    if (seg > s->max || s->line.len > s->max - seg) {
      drop_event(s, eol ? SSE_SKIP_EVENT : SSE_SKIP_LINE);
      keep_error(&result, MS_ERR_LIMIT);
      if (!eol) break;
      i = skip_eol(s, p, j, n);
      continue;
    }
    if (!eol) { /* carry the start of a line */
      if (ms_buf_append(&s->line, p + i, seg) != 0) {
        drop_event(s, SSE_SKIP_LINE);
        keep_error(&result, MS_ERR_NOMEM);
      }
      break;
    }

    const uint8_t *line = p + i;
    size_t len = seg;
    i = skip_eol(s, p, j, n);
    if (s->line.len > 0) { /* completes the carried line */
      if (ms_buf_append(&s->line, line, len) != 0) {
        drop_event(s, SSE_SKIP_EVENT);
        keep_error(&result, MS_ERR_NOMEM);
        continue;
      }
      line = s->line.data;
      len = s->line.len;
      ms_buf_reset(&s->line); /* storage stays valid for process_line */
    }
    int rc = process_line(s, line, len, cb, user, &result);
    if (s->line.cap > SSE_KEEP_BYTES) ms_buf_free(&s->line);
    if (rc < 0) return rc;
  }
  return result;
}

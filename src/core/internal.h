/* internal.h — declarations shared by the core's .c files. Not installed,
 * not exported. Every function follows the public return convention:
 * negative = MS_ERR_*, zero/positive = success. */
#ifndef MS_INTERNAL_H
#define MS_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mcpstream.h"

/* ---- alloc.c: the one allocation seam --------------------------------- */

/* malloc/realloc/free through the seam: counts live allocations and bytes.
 * ms_malloc(0) returns a valid unique pointer. ms_free(NULL) is a no-op.
 * On failure ms_malloc/ms_realloc return NULL and leave `p` untouched. */
void *ms_malloc(size_t n);
void *ms_realloc(void *p, size_t n);
void ms_free(void *p);
/* Copies s[0..n) into a new NUL-terminated string, or NULL. */
char *ms_strndup(const char *s, size_t n);
/* Points cJSON's allocation at the seam (idempotent). */
void ms_alloc_init(void);
/* Test hook (native builds): the `n`-th allocation from now fails (1 = the
 * next one); 0 disables. Returns how many allocations were made since the
 * last call (so a test can learn how many a scenario makes). */
long ms_alloc_fail_at(long n);
/* The same, but every allocation from the n-th on fails (sustained memory
 * pressure), until ms_alloc_fail_at(0). */
long ms_alloc_fail_from(long n);
/* How many allocations have been refused so far (all contexts), for lack of
 * memory or of budget. Comparing it before and after a call tells "out of
 * memory" from "malformed input" when the call (cJSON's parser, say) reports
 * both as NULL. */
long ms_alloc_failures(void);
/* Test hook: the peak (ms_peak_bytes) starts again from what is live now. */
void ms_alloc_peak_reset(void);

/* ---- memory budgets (docs/architecture.md §2, Memory) ---------------------
 *
 * An account charges the bytes of every block allocated while it is the
 * current account to one owner (a stream, a session), up to its limit: an
 * allocation that would go over fails like an out-of-memory one and marks the
 * account `exceeded`, so that the owner reports LIMIT_EXCEEDED instead of
 * OUT_OF_MEMORY. A block stays charged to the account it was made under,
 * through ms_realloc, until ms_free, even when another object ends up owning
 * it; so an account outlives its owner while blocks are charged to it (it is
 * freed with the last of them). Accounts are bookkeeping in libc memory: they
 * are not counted by ms_live_allocations. With no current account (NULL),
 * nothing is charged or limited. */
typedef struct ms_account {
  size_t used;   /* bytes charged */
  size_t limit;  /* 0: no limit */
  long blocks;   /* blocks charged */
  int exceeded;  /* an allocation was refused for the limit */
  int dead;      /* its owner released it */
} ms_account;

/* A new account with `limit` bytes (0: none), or NULL when out of memory. */
ms_account *ms_account_new(size_t limit);
/* The owner is done with `a` (NULL is ignored): freed now, or with its last
 * charged block. */
void ms_account_release(ms_account *a);
/* Makes `a` (may be NULL) the current account; returns the previous one. */
ms_account *ms_alloc_use(ms_account *a);
void ms_alloc_restore(ms_account **prev);
/* Charges what the rest of the enclosing block allocates to `a`, and puts the
 * previous account back when the block is left, whichever way. */
#define MS_ALLOC_SCOPE(a) \
  ms_account *ms__prev_account __attribute__((cleanup(ms_alloc_restore), unused)) = ms_alloc_use(a)

/* ---- err.c: an error code + message kept on a handle -------------------- */

#define MS_ERR_MSG_MAX 512
typedef struct ms_err {
  int code;                    /* 0 or MS_ERR_* */
  uint32_t len;                /* message length */
  char msg[MS_ERR_MSG_MAX];    /* fixed: setting an error never allocates */
} ms_err;

/* Sets code and a printf-style message (truncated to fit). Returns code.
 * err.c: the one writer of error text (ms__fail and session logs use it). */
int ms_err_set(ms_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ms_err_vset(ms_err *e, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* ---- buf.c: growable byte buffer ---------------------------------------- */

typedef struct ms_buf {
  uint8_t *data; /* owned; NULL when cap == 0 */
  size_t len;
  size_t cap;
} ms_buf;

/* Ensures room for `extra` more bytes (the capacity doubles: a buffer that
 * moves as it grows leaves holes that add up to its size, no more; growing
 * by less would leave more of them in wasm memory, which never shrinks).
 * 0 or MS_ERR_NOMEM (buffer unchanged). */
int ms_buf_reserve(ms_buf *b, size_t extra);
/* The same, but when it must grow, to exactly len + extra (for one big
 * payload whose size is known). */
int ms_buf_reserve_exact(ms_buf *b, size_t extra);
int ms_buf_append(ms_buf *b, const void *p, size_t n);
int ms_buf_append_str(ms_buf *b, const char *s);
int ms_buf_append_byte(ms_buf *b, uint8_t c);
int ms_buf_append_int(ms_buf *b, long long v);
/* Appends s[0..n) as a JSON string literal (quotes + escapes). */
int ms_buf_append_json_string(ms_buf *b, const char *s, size_t n);
/* The same without the quotes: the escaped characters only. */
int ms_buf_append_json_chars(ms_buf *b, const char *s, size_t n);
/* len = 0, keeps capacity. */
void ms_buf_reset(ms_buf *b);
/* Frees storage; the buffer is empty and reusable afterwards. */
void ms_buf_free(ms_buf *b);

/* A part of a long text held as a list of blocks rather than one (a long
 * model answer: one growing block would leave holes adding up to its size
 * in wasm memory, which never shrinks). A piece owns its header and data
 * (both seam-allocated); ms_pieces_free frees a whole list. */
typedef struct ms_piece {
  struct ms_piece *next;
  uint8_t *data;
  size_t len;
  size_t cap;
} ms_piece;
void ms_pieces_free(ms_piece *p);

/* ---- buf.c: shared immutable text ---------------------------------------- */

/* A text shared by whoever holds a reference (a server's tools/list answer,
 * held by the session's tool list and by the catalogues built from it, which
 * point into it). Freed with the last reference. */
typedef struct ms_blob {
  int refs;
  size_t len;
  char *data; /* owned */
} ms_blob;

/* A blob (refs 1) that takes over data[0..len) (seam-allocated, with room
 * for at least len bytes: the slack beyond len is given back), or NULL when
 * out of memory (then data is freed). */
ms_blob *ms_blob_new(char *data, size_t len);
void ms_blob_ref(ms_blob *b);
/* NULL is ignored; the last reference frees it. */
void ms_blob_unref(ms_blob *b);

/* ---- utf16.c: UTF-8 to UTF-16 for the host's strings --------------------- */

/* The length of the longest prefix of s[0..n) that is ASCII (bytes < 0x80). */
size_t ms_utf8_ascii_prefix(const uint8_t *s, size_t n);
/* Decodes s[0..n) as the WHATWG utf-8 decoder does (each maximal subpart of
 * an ill-formed sequence becomes one U+FFFD; no BOM is removed) into out,
 * which has room for n units (never more are written). Returns the number of
 * UTF-16 units written. Only reads s; allocates nothing. */
size_t ms_utf8_to_utf16(const uint8_t *s, size_t n, uint16_t *out);

/* ---- ndjson.c: newline-delimited framing (stdio transport) ----------- */

/* Called once per complete line, without its "\n" (a trailing "\r" is
 * removed too; blank lines are skipped). `line` is borrowed for the call.
 * When a line is longer than the limit, it is called once with line == NULL
 * and len = the limit, and the rest of that line is discarded; during that
 * call the parser's head[0..head_len) holds the first bytes of the line (up
 * to MS_NDJSON_HEAD), so that a reader can tell whose answer it was.
 * A negative return stops the feed and is returned by ms_ndjson_feed. */
typedef int (*ms_line_cb)(void *user, const char *line, size_t len);

#define MS_NDJSON_HEAD 256

typedef struct ms_ndjson {
  ms_buf line;     /* the partial line carried between feeds */
  size_t max;      /* longest accepted line in bytes */
  int discarding;  /* inside an over-long line: drop until "\n" */
  uint8_t head[MS_NDJSON_HEAD]; /* an over-long line's first bytes (see above) */
  size_t head_len;
  size_t room;     /* reserved at once for the next carried line: the room of
                      a line taken over (ms_ndjson_take_line), up to 1 MiB */
} ms_ndjson;

void ms_ndjson_init(ms_ndjson *d, size_t max_line);
void ms_ndjson_free(ms_ndjson *d);
/* Called from the line callback with the line it was given: when that line
 * is in the parser's carried-line buffer (it came over several feeds), the
 * buffer (seam-allocated, with room for at least the line) is handed over to
 * the caller, who owns it from then on, and the parser forgets it (the next
 * line it carries gets the same room at once, when that is at most 1 MiB, so
 * that a run of big messages taken over does not grow a buffer each time);
 * else NULL (the line lies in the caller's input: copy it). */
uint8_t *ms_ndjson_take_line(ms_ndjson *d, const char *line);
/* Feeds p[0..n). Lines are reported in order, whatever the chunking.
 * Returns 0, MS_ERR_NOMEM, or the callback's negative return. */
int ms_ndjson_feed(ms_ndjson *d, const uint8_t *p, size_t n, ms_line_cb cb,
                   void *user);

/* ---- sse.c: Server-Sent Events parser (WHATWG event-stream) ----------- */

typedef struct ms_sse_event {
  const char *type;   /* "message" when no event: field was given */
  size_t type_len;
  const char *data;   /* data lines joined by "\n" (no trailing "\n") */
  size_t data_len;
  const char *id;     /* the last event id (persists across events) */
  size_t id_len;
  long retry;         /* last retry: value in ms, -1 if none seen */
} ms_sse_event;

/* Called per dispatched event; pointers borrowed for the call. Negative
 * return stops the feed and is returned by ms_sse_feed. */
typedef int (*ms_sse_cb)(void *user, const ms_sse_event *ev);

typedef struct ms_sse {
  ms_buf line;
  ms_buf data;
  ms_buf type;
  ms_buf id;
  long retry;
  size_t max;       /* longest line / event data accepted */
  int has_data;     /* a data: field was seen since the last dispatch */
  int cr_pending;   /* last byte was "\r": a following "\n" is the same EOL */
  int started;      /* the optional leading BOM has been checked */
  int discarding;   /* inside an over-long line */
} ms_sse;

void ms_sse_init(ms_sse *s, size_t max);
void ms_sse_free(ms_sse *s);
/* Feeds p[0..n). Lines end with CRLF, LF or CR (also split across feeds).
 * An over-long line or event makes the feed return MS_ERR_LIMIT (the parser
 * then skips to the next event). Returns 0, MS_ERR_NOMEM, MS_ERR_LIMIT, or
 * the callback's negative return. */
int ms_sse_feed(ms_sse *s, const uint8_t *p, size_t n, ms_sse_cb cb, void *user);

#endif /* MS_INTERNAL_H */

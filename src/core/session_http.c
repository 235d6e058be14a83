/* session_http.c — session input for Streamable HTTP: Server-Sent Events read
 * per HTTP response (a POST's text/event-stream answer, or the GET stream),
 * and the host's word that a request will get no answer.
 *
 * Each response being read has its own SSE parser (sse.c), keyed by the
 * request id its POST carried (0: the GET stream). Events of type "message"
 * with data are JSON-RPC messages and go to the session in arrival order,
 * exactly as whole messages from ms_session_feed_message do. After a feed
 * that moved the stream's cursor (its last event id or retry), the host gets
 * MS_FX_SSE_CURSOR, which it needs to resume the response. */
#include <string.h>

#include "session.h"

void ms__session_http_free(ms_session *s) {
  for (size_t i = 0; i < s->nsse; i++) {
    ms_sse_free(&s->sse[i].parser);
    ms_buf_free(&s->sse[i].reported_id);
  }
  ms_free(s->sse);
  s->sse = NULL;
  s->nsse = s->capsse = 0;
}

static ms_sse_resp *find(ms_session *s, int32_t key) {
  for (size_t i = 0; i < s->nsse; i++)
    if (s->sse[i].key == key) return &s->sse[i];
  return NULL;
}

/* The parser for `key`, made on first use; NULL with *rc set on failure.
 * At most max_pending + 1 (the GET stream) responses are read at once: the
 * host reads one per request waiting for its answer. */
static ms_sse_resp *find_or_add(ms_ctx *ctx, ms_session *s, int32_t key, int *rc) {
  ms_sse_resp *r = find(s, key);
  if (r) return r;
  if (s->nsse > ctx->max_pending) {
    *rc = ms__fail(ctx, MS_ERR_LIMIT, "server '%s': more than %zu responses read at once",
                   s->name, ctx->max_pending + 1);
    return NULL;
  }
  if (s->nsse == s->capsse) {
    size_t cap = s->capsse ? s->capsse * 2 : 4;
    ms_sse_resp *p = ms_realloc(s->sse, cap * sizeof *p);
    if (!p) {
      *rc = ms__fail(ctx, MS_ERR_NOMEM, "out of memory");
      return NULL;
    }
    s->sse = p;
    s->capsse = cap;
  }
  r = &s->sse[s->nsse++];
  memset(r, 0, sizeof *r);
  r->key = key;
  r->reported_retry = -1;
  ms_sse_init(&r->parser, s->framer.max); /* the session's message size limit */
  return r;
}

typedef struct sse_feed {
  ms_ctx *ctx;
  ms_session *s;
} sse_feed;

static int on_event(void *user, const ms_sse_event *ev) {
  sse_feed *f = user;
  if (ev->data_len == 0) return 0; /* a priming event, or a keep-alive */
  if (ev->type_len != 7 || memcmp(ev->type, "message", 7) != 0) return 0;
  if (f->s->state == MS_SESS_CLOSED) return 0;
  ms__session_handle(f->ctx, f->s, ev->data, ev->data_len);
  return 0;
}

/* Queues MS_FX_SSE_CURSOR when the last event id or retry moved. */
static int report_cursor(ms_ctx *ctx, ms_session *s, ms_sse_resp *r) {
  const ms_buf *id = &r->parser.id;
  int same_id = id->len == r->reported_id.len &&
                (id->len == 0 || memcmp(id->data, r->reported_id.data, id->len) == 0);
  if (same_id && r->parser.retry == r->reported_retry) return 0;
  ms_buf_reset(&r->reported_id);
  if (ms_buf_append(&r->reported_id, id->data, id->len)) return MS_ERR_NOMEM;
  r->reported_retry = r->parser.retry;
  int32_t retry = r->parser.retry > INT32_MAX ? INT32_MAX : (int32_t)r->parser.retry;
  return ms__fx(ctx, MS_FX_SSE_CURSOR, s->id, r->key, retry, id->data, id->len);
}

MS_EXPORT int32_t ms_session_sse_feed(ms_ctx *ctx, int32_t sid, int32_t key, uint32_t len) {
  int rc = 0;
  ms_session *s = ms__session_enter(ctx, sid, len, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct); /* what the response makes is charged to the session's budget */
  if (key < 0) return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "a response key is >= 0");
  if (s->state == MS_SESS_CLOSED) return 0;
  ms_sse_resp *r = find_or_add(ctx, s, key, &rc);
  if (!r) return rc;
  sse_feed f = {ctx, s};
  rc = ms_sse_feed(&r->parser, ctx->input.data, len, on_event, &f);
  /* handling a message never adds or removes responses: r is still valid */
  if (rc == MS_ERR_LIMIT && key > 0 && s->state != MS_SESS_CLOSED && ms__session_waiting(s, key)) {
    /* an event over the limit on a request's own stream: the request fails with
     * LIMIT_EXCEEDED (as over stdio) rather than wait for an answer that was dropped */
    ms_err e;
    ms_err_set(&e, MS_ERR_LIMIT, "server '%s': an event of the response to request %d is over the %zu-byte message limit",
               s->name, (int)key, s->framer.max);
    ms__session_lose(ctx, s, key, MS_ERR_LIMIT, e.msg);
  } else if (rc == MS_ERR_LIMIT) {
    static const char over[] = "skipped a server-sent event over the message size limit";
    ms__fx(ctx, MS_FX_LOG, s->id, 2, 0, over, sizeof over - 1);
  }
  if (rc == MS_ERR_NOMEM || report_cursor(ctx, s, r))
    ms__session_fail(ctx, s, MS_ERR_NOMEM, "out of memory reading from the server");
  return key > 0 && ms__session_waiting(s, key);
}

MS_EXPORT int32_t ms_session_response_end(ms_ctx *ctx, int32_t sid, int32_t key) {
  int rc = 0;
  ms_session *s = ms__session_enter(ctx, sid, 0, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  ms_sse_resp *r = find(s, key);
  if (r) {
    ms_sse_free(&r->parser);
    ms_buf_free(&r->reported_id);
    size_t i = (size_t)(r - s->sse);
    memmove(s->sse + i, s->sse + i + 1, (s->nsse - i - 1) * sizeof *s->sse);
    s->nsse--;
  }
  return key > 0 && s->state != MS_SESS_CLOSED && ms__session_waiting(s, key);
}

MS_EXPORT int32_t ms_session_request_failed(ms_ctx *ctx, int32_t sid, int32_t key, int32_t code,
                                            uint32_t msg_len) {
  int rc = 0;
  ms_session *s = ms__session_enter(ctx, sid, 0, &rc);
  if (!s) return rc;
  MS_ALLOC_SCOPE(s->acct);
  if (!ms_strerror(code))
    return ms__fail(ctx, MS_ERR_INVALID_ARGUMENT, "code %d is not an MS_ERR_* code", (int)code);
  if (msg_len > ctx->input.cap) msg_len = 0;
  ms_err e;
  ms_err_set(&e, code, "%.*s", (int)msg_len, (const char *)ctx->input.data);
  if (s->state != MS_SESS_CLOSED) ms__session_lose(ctx, s, key, code, e.msg);
  return 0;
}

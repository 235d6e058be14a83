/* session.h — the session object and the functions shared by the session
 * layer's files (session.c, session_req.c, session_api.c, session_http.c,
 * sessions.c). The layers above (streams, ctx.c) do not include it: they use
 * sessions through the functions of core.h. */
#ifndef MS_SESSION_H
#define MS_SESSION_H

#include "core.h"

#define MS_SESS_OPENING 1 /* MS_FX_OPEN issued */
#define MS_SESS_INIT 2    /* initialize sent */
#define MS_SESS_READY 3
#define MS_SESS_CLOSING 4 /* MS_FX_CLOSE issued */
#define MS_SESS_CLOSED 5

#define MS_MAX_TOOL_PAGES 1000 /* a server paginating past this is broken */

#define MS_REQ_INIT 1
#define MS_REQ_LIST_TOOLS 2
#define MS_REQ_OP 3   /* a host op (client): MS_FX_OP_DONE */
#define MS_REQ_CALL 4 /* completed through its callbacks (a stream's tools/call) */

typedef struct ms_req {
  int64_t rpc_id;
  int kind;
  int32_t op_id;     /* MS_REQ_OP: the op id; MS_REQ_CALL: the stream id its events name */
  ms_req_cb cb;      /* MS_REQ_CALL: how it completes */
  int progress;      /* progressToken = rpc_id was sent */
  char *pending;     /* message built but not sent yet (session not ready) */
  char method[40];   /* for messages (cut to fit) */
  int32_t timeout_ms;/* its timeout (reset by progress) */
  double idle_deadline;  /* made/last progress + timeout_ms */
  double total_deadline; /* made + the session's max total */
} ms_req;

typedef struct ms_sse_resp { /* one SSE response being read (session_http.c) */
  int32_t key;           /* the request id it answers; 0: the GET stream */
  ms_sse parser;
  ms_buf reported_id;    /* the cursor last reported (MS_FX_SSE_CURSOR) */
  long reported_retry;
} ms_sse_resp;

struct ms_session {
  int32_t id;
  char *name;
  int owner;
  int32_t owner_id;
  int state;
  ms_err err; /* why it failed or closed; code 0 while healthy */
  ms_ndjson framer;
  int64_t next_rpc;
  ms_req *reqs;
  size_t nreqs, capreqs;
  char protocol[16];
  ms_tools tools;      /* every page, once listed (has_tools) */
  int has_tools;
  uint32_t tools_gen;  /* which list `tools` is: one more with every list installed */
  ms_tools tools_partial; /* pages so far while listing */
  int listing;         /* a tools/list request is in flight */
  int pages;           /* pages of the listing in progress */
  int refs;            /* streams that use the session (freed at 0 once closed) */
  int32_t *tool_waits; /* op ids waiting for the tool list */
  size_t ntool_waits, captool_waits;
  int32_t timeout_ms;   /* its requests' timeout (server config or ctx default) */
  int32_t max_total_ms; /* their total time */
  ms_account *acct;     /* its memory budget: what its messages make is charged here */
  int caps;            /* MS_CAP_*: server requests the host answers */
  ms_sse_resp *sse;    /* Streamable HTTP: responses being read */
  size_t nsse, capsse;
  /* effect room reserved for its end (effects.c): the CLOSE, the session-close */
  int rsv_close, rsv_closed_event;
  size_t rsv_event_bytes;
};

/* The event subject of session s (for ms__event / ms__event_reserved). */
#define MS_SUBJECT(s) (&(ms_subject){(s)->name, (s)->id, (s)->owner})

/* For session_http.c: fail the session (close it once, wake its streams);
 * handle one whole message; 1 when request rpc_id was sent and still waits
 * for its answer; fail request rpc_id with code/msg (no-op unless waiting). */
/* The prologue of every exported session call: the session `sid` names
 * (borrowed), with `len` bytes of the context's input checked to fit its
 * buffer. NULL when either fails, with *rc the status to return (the
 * context's error says why). The caller then charges its allocations to
 * the session: MS_ALLOC_SCOPE(s->acct). */
ms_session *ms__session_enter(ms_ctx *ctx, int32_t sid, size_t len, int *rc);
void ms__session_fail(ms_ctx *ctx, ms_session *s, int code, const char *msg);
void ms__session_handle(ms_ctx *ctx, ms_session *s, const char *text, size_t len);
int ms__session_waiting(const ms_session *s, int64_t rpc_id);
void ms__session_lose(ms_ctx *ctx, ms_session *s, int64_t rpc_id, int code, const char *msg);
/* session_http.c: frees the session's SSE parsers. */
void ms__session_http_free(ms_session *s);
/* Within the session layer (session.c, session_req.c, session_api.c). */
/* Queues MS_FX_LOG for s (may be NULL) with msg[0..len) (copied). */
int ms__session_log(ms_ctx *ctx, const ms_session *s, int level, const char *msg, size_t len);
int ms__session_logf(ms_ctx *ctx, const ms_session *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Queues a SEND of p[0..len) (copied), tagged with the JSON-RPC id and MS_SEND_* flags. */
int ms__session_send(ms_ctx *ctx, ms_session *s, const void *p, size_t len, int64_t id, int flags);
/* Queues MS_FX_OP_DONE for op_id with v printed as JSON (or the failure to print it). */
int ms__op_done_json(ms_ctx *ctx, ms_session *ss, int32_t op_id, const cJSON *v);
/* The same with the session's tool list (the tools' JSON text as it came). */
int ms__op_done_tools(ms_ctx *ctx, ms_session *ss, int32_t op_id);
/* Completes every waiter of the tool list with the list (err NULL) or err. */
void ms__session_finish_tool_waits(ms_ctx *ctx, ms_session *s, const ms_err *err);
/* Sends initialize (state INIT). 0 or MS_ERR_NOMEM. */
int ms__session_send_initialize(ms_ctx *ctx, ms_session *s);
/* A message over the size limit was dropped; head[0..n) are its first bytes (borrowed). */
void ms__session_too_big(ms_ctx *ctx, ms_session *s, const char *head, size_t n, size_t limit);
/* The request table (session_req.c). ms__req_add returns a pointer into
 * s->reqs (valid until the table changes) or NULL (full, or out of memory). */
ms_req *ms__req_add(ms_ctx *ctx, ms_session *s, int kind, int32_t op_id, const char *method,
                    int32_t timeout_ms);
/* Index of request rpc_id in s->reqs, or -1. */
ptrdiff_t ms__req_find(const ms_session *s, int64_t rpc_id);
/* Removes request i from the table and returns it (the caller owns and frees its `pending`). */
ms_req ms__req_take(ms_session *s, size_t i);
/* Builds and sends (or keeps in r->pending until ready) the request r. */
int ms__req_send(ms_ctx *ctx, ms_session *s, ms_req *r, const char *method, const cJSON *params);
/* The same with params as JSON text (params[0..params_len), written as it is). */
int ms__req_send_text(ms_ctx *ctx, ms_session *s, ms_req *r, const char *method, const char *params,
                      size_t params_len);
/* Request r (already taken from the table) failed: tell whoever waits. */
void ms__req_fail(ms_ctx *ctx, ms_session *s, ms_req *r, const ms_err *err);
/* Queues notifications/cancelled for rpc_id (reserved: into reserved room). */
int ms__req_send_cancelled(ms_ctx *ctx, ms_session *s, int64_t rpc_id, const char *reason,
                           int reserved);

/* Tells the subscriber (ms__session_subscribe) that s changed. */
void ms__session_changed(ms_ctx *ctx, const ms_session *s);
/* A closed session keeps only what its users may still read (its name, its
 * error, its id): its tool list, request table and framing buffers go. */
void ms__session_release_closed(ms_session *s);
/* Frees the session and removes it from ctx if it is closed and unused. */
void ms__session_collect(ms_ctx *ctx, ms_session *s);
/* Frees a session object (the table is the caller's business). */
void ms__session_free(ms_session *s);
/* Removes s from the context's table (sessions.c); does not free it. */
void ms__session_remove(ms_ctx *ctx, ms_session *s);
/* Times out the requests of s whose deadline passed (see mcpstream.h, Time).
 * Returns how many. */
int ms__session_expire(ms_ctx *ctx, ms_session *s);
/* The earliest deadline of s's requests, or -1. */
double ms__session_next_deadline(const ms_session *s);
/* Completes ms_owner_close waits whose sessions are all closed (sessions.c). */
void ms__owner_check(ms_ctx *ctx);

#endif /* MS_SESSION_H */

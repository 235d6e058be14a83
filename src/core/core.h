/* core.h — the context, session and stream objects, shared by ctx.c,
 * jsonrpc.c, session.c, llm.c and stream.c. Private to the core. */
#ifndef MS_CORE_H
#define MS_CORE_H

#include "cJSON.h"
#include "internal.h"
#include "jscan.h"

typedef struct ms_session ms_session;
typedef struct ms_stream ms_stream;

/* ---- ctx.c ------------------------------------------------------------- */

typedef struct ms_fx_rec {
  int32_t kind, a, b, c;
  size_t off; /* payload offset in ctx->fx_payload */
  uint32_t len;
  int wake_rsv; /* a stream's reserved WAKE (reserved again once taken) */
} ms_fx_rec;

typedef struct ms_owner_wait { /* an ms_owner_close waiting for its sessions */
  int32_t op_id, owner, owner_id;
} ms_owner_wait;

struct ms_ctx {
  ms_err err;
  ms_buf input;
  /* queued effects and their payloads */
  ms_fx_rec *fx;
  size_t nfx, capfx;
  ms_buf fx_payload;
  /* effects handed out by ms_ctx_take_effects */
  ms_effect *out;
  size_t out_cap;
  ms_buf out_payload;
  /* objects; ids are never reused */
  ms_session **sessions;
  size_t nsessions, capsessions;
  ms_stream **streams;
  size_t nstreams, capstreams;
  ms_owner_wait *owner_waits;
  size_t nowner_waits, capowner_waits;
  size_t rsv_recs, rsv_bytes; /* room reserved in the effect queue (ctx.c) */
  int32_t next_id;
  size_t max_message;
  size_t max_pending;
  int32_t timeout_ms;     /* default request timeout (reset by progress) */
  int32_t max_total_ms;   /* default total time of a request */
  size_t max_memory;      /* memory budget of each stream and session */
  double now;             /* the host's clock (ms_ctx_set_now / ms_ctx_tick) */
};

/* Queues an effect (payload copied). 0 or MS_ERR_NOMEM. */
int ms__fx(ms_ctx *ctx, int kind, int32_t a, int32_t b, int32_t c,
           const void *payload, size_t len);
/* Reserves room in the effect queue for `recs` effects with `bytes` payload
 * bytes in all, for effects that must never be lost to a failed allocation
 * (ctx.c explains). 0 or MS_ERR_NOMEM (nothing reserved). */
int ms__fx_reserve(ms_ctx *ctx, size_t recs, size_t bytes);
/* Gives back a reservation that will not be used (its owner is freed). */
void ms__fx_unreserve(ms_ctx *ctx, size_t recs, size_t bytes);
/* Queues an effect into reserved room: uses up one reserved record and
 * `rbytes` reserved bytes (len <= rbytes). Cannot fail when the reservation
 * was made; returns like ms__fx. */
int ms__fx_reserved(ms_ctx *ctx, int kind, int32_t a, int32_t b, int32_t c,
                    const void *payload, size_t len, size_t rbytes);
/* Queues a lifecycle event (MS_FX_EVENT). `s` may be NULL (stream events). */
int ms__event(ms_ctx *ctx, const char *kind, const ms_session *s,
              int32_t stream_id, const char *reason);
/* The same into reserved room: one record and rbytes bytes, where rbytes was
 * ms__event_bound(name length, kind, length of the longest possible reason). */
int ms__event_reserved(ms_ctx *ctx, const char *kind, const ms_session *s,
                       int32_t stream_id, const char *reason, size_t rbytes);
size_t ms__event_bound(size_t name_len, const char *kind, size_t reason_len);
#define MS_REASON_MAX 16 /* the longest reason of a reserved event */
/* Queues MS_FX_OP_DONE with an error message. */
int ms__op_fail(ms_ctx *ctx, int32_t op_id, int code, const char *msg, size_t len);
/* Records the error on the context for the host (ms_ctx_error_*). Returns code. */
int ms__fail(ms_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
ms_session *ms__session_get(ms_ctx *ctx, int32_t id);
ms_stream *ms__stream_get(ms_ctx *ctx, int32_t id);
int32_t ms__new_id(ms_ctx *ctx);
/* Adds/removes objects to/from the ctx tables. */
int ms__add_session(ms_ctx *ctx, ms_session *s);
int ms__add_stream(ms_ctx *ctx, ms_stream *st);
void ms__remove_stream(ms_ctx *ctx, ms_stream *st);
/* Called after a session closed: completes ms_owner_close waits. */
void ms__owner_check(ms_ctx *ctx);
/* Owner name for events: "stream" | "agent" | "client". */
const char *ms__owner_name(int owner);
/* Parses exactly text[0..len) as one JSON value (trailing white space
 * allowed); NULL when malformed, trailed by anything else, or out of memory. */
cJSON *ms__json_parse(const char *text, size_t len);
/* Prints a cJSON value into a fresh seam-allocated string (NULL on OOM). */
char *ms__json_print(const cJSON *v);

/* ---- jsonrpc.c --------------------------------------------------------- */

#define MS_RPC_INVALID 0
#define MS_RPC_REQUEST 1
#define MS_RPC_NOTIFICATION 2
#define MS_RPC_RESULT 3
#define MS_RPC_ERROR 4
#define MS_RPC_BAD_RESPONSE 5 /* a response by its id, but with both "result" and
                                 "error", neither, or an error that is no object */

/* Classifies a parsed JSON-RPC 2.0 message. */
int ms_rpc_classify(const cJSON *msg);
/* What the first bytes of a message that is too big to parse say about it
 * (ms_rpc_scan_head). Only top-level members before the first object or
 * array value are read, so the answer is exact, never a guess. */
#define MS_HEAD_UNKNOWN 0 /* nothing conclusive before the first nested value */
#define MS_HEAD_ID 1      /* a response or request with an integer id (*id) */
#define MS_HEAD_METHOD 2  /* a notification or a server request ("method" first) */
#define MS_HEAD_OTHER 3   /* an id that cannot be one of ours (string, null, ...) */
int ms_rpc_scan_head(const char *p, size_t n, int64_t *id);
/* Reads an id we generated (a non-negative integer). -1 when it is not one. */
int64_t ms_rpc_int_id(const cJSON *id);
/* The envelope of a JSON-RPC message, found by the scanner (jscan.h): the
 * first member of each name, as cJSON's lookups find it (type NONE when
 * absent), and the message's MS_RPC_* type as ms_rpc_classify gives it. */
typedef struct ms_rpc_env {
  int type;
  ms_jspan jsonrpc, id, method, params, result, error;
} ms_rpc_env;
/* Validates text[0..n) as one JSON value (ms_json_scan) in one pass and,
 * when it is an object, fills *env; *root spans the value, *flags gets the
 * MS_JSON_* bits. Returns 1 when valid JSON (env->type is MS_RPC_INVALID for
 * a non-object root, a batch included), 0 when not. */
int ms_rpc_scan(const char *text, size_t n, ms_jspan *root, ms_rpc_env *env, unsigned *flags);
/* The envelope of a validated object span (a batch element). */
void ms_rpc_envelope(const ms_jspan *obj, ms_rpc_env *env);
/* ms_rpc_int_id for a scanned id. */
int64_t ms_rpc_span_id(const ms_jspan *id);
/* Builds {"jsonrpc":"2.0","id":id,"method":method,"params":params} (params
 * may be NULL; an id < 0 builds a notification). Appends to out. */
int ms_rpc_build(ms_buf *out, int64_t id, const char *method, const cJSON *params);
/* Builds a response to a request whose id is `id` (copied as is), with
 * `result` (may be NULL: {}) or, when err_code != 0, an error object. */
int ms_rpc_build_response(ms_buf *out, const cJSON *id, const cJSON *result,
                          int err_code, const char *err_msg);

/* ---- session.c --------------------------------------------------------- */

#define MS_SESS_OPENING 1 /* MS_FX_OPEN issued */
#define MS_SESS_INIT 2    /* initialize sent */
#define MS_SESS_READY 3
#define MS_SESS_CLOSING 4 /* MS_FX_CLOSE issued */
#define MS_SESS_CLOSED 5

#define MS_MAX_TOOL_PAGES 1000 /* a server paginating past this is broken */

#define MS_REQ_INIT 1
#define MS_REQ_LIST_TOOLS 2
#define MS_REQ_OP 3          /* a host op (client): MS_FX_OP_DONE */
#define MS_REQ_STREAM_TOOL 4 /* a stream's tools/call */

typedef struct ms_req {
  int64_t rpc_id;
  int kind;
  int32_t op_id;     /* MS_REQ_OP: the op id; MS_REQ_STREAM_TOOL: stream id */
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
  cJSON *tools;        /* every page, once listed; NULL: not listed */
  cJSON *tools_partial;/* pages so far while listing */
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
  /* effect room reserved for its end (ctx.c): the CLOSE, the session-close */
  int rsv_close, rsv_closed_event;
  size_t rsv_event_bytes;
};

/* Creates a session and queues MS_FX_OPEN (ownership is recorded first). */
int ms__session_create(ms_ctx *ctx, const char *name, size_t name_len, int owner,
                       int32_t owner_id, ms_session **out);
/* Starts listing tools if the session is ready and has no list. */
int ms__session_want_tools(ms_ctx *ctx, ms_session *s);
/* Sends tools/call for stream `st_id`, with a progress token, timing out
 * after timeout_ms (0: the session's). Returns the JSON-RPC id (> 0) or an
 * error. */
int64_t ms__session_call_tool(ms_ctx *ctx, ms_session *s, int32_t st_id,
                              const char *name, const cJSON *args, int32_t timeout_ms);
/* Times out the requests of s whose deadline passed (see mcpstream.h, Time).
 * Returns how many. */
int ms__session_expire(ms_ctx *ctx, ms_session *s);
/* The earliest deadline of s's requests, or -1. */
double ms__session_next_deadline(const ms_session *s);
/* Cancels request rpc_id (notifications/cancelled, request-cancel event).
 * rsv_event > 0: both effects go into room the caller reserved (the SEND: 1
 * record and MS_CANCEL_BYTES; the event: 1 record and rsv_event bytes); what
 * is not used is given back. reason: at most MS_REASON_MAX bytes then. */
int ms__session_cancel_rpc(ms_ctx *ctx, ms_session *s, int64_t rpc_id,
                           int32_t st_id, const char *reason, size_t rsv_event);
#define MS_CANCEL_BYTES 256 /* a notifications/cancelled with a reason of MS_REASON_MAX */
/* Queues MS_FX_CLOSE once; no-op when closing/closed. */
int ms__session_close(ms_ctx *ctx, ms_session *s);
/* Frees a session object (tables are the caller's business). */
void ms__session_free(ms_session *s);
/* Frees the session and removes it from ctx if it is closed and unused. */
void ms__session_collect(ms_ctx *ctx, ms_session *s);
/* 1 ready, 0 opening, negative: failed/closed. */
int ms__session_health(const ms_session *s);
/* For session_http.c: fail the session (close it once, wake its streams);
 * handle one whole message; 1 when request rpc_id was sent and still waits
 * for its answer; fail request rpc_id with code/msg (no-op unless waiting). */
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
/* Request r (already taken from the table) failed: tell whoever waits. */
void ms__req_fail(ms_ctx *ctx, ms_session *s, ms_req *r, const ms_err *err);
/* Queues notifications/cancelled for rpc_id (reserved: into reserved room). */
int ms__req_send_cancelled(ms_ctx *ctx, ms_session *s, int64_t rpc_id, const char *reason,
                           int reserved);

/* ---- stream.c (called by session.c) ----------------------------------- */

/* A tools/call response (result) or failure (code < 0, msg) for stream st_id. */
void ms__stream_tool_done(ms_ctx *ctx, int32_t st_id, int64_t rpc_id,
                          const cJSON *result, int code, const char *msg);
/* A progress notification for the stream's in-flight call. */
void ms__stream_tool_progress(ms_ctx *ctx, int32_t st_id, int64_t rpc_id,
                              const cJSON *params);
/* Something changed on session sid: wake streams that use it. */
void ms__streams_session_changed(ms_ctx *ctx, int32_t sid);
/* The stream's reserved WAKE was handed to the host: reserve it again. */
void ms__stream_wake_taken(ms_ctx *ctx, int32_t st_id);
void ms__stream_free(ms_stream *st);

/* ---- llm.c: OpenAI-compatible Chat Completions ------------------------- */

typedef struct ms_llm_call {
  ms_buf id;
  ms_buf name;
  ms_buf args;
} ms_llm_call;

typedef struct ms_llm_acc {   /* one assistant message being assembled */
  ms_buf content;
  ms_llm_call *calls;
  size_t ncalls;
  int finished;               /* a finish_reason or [DONE] was seen */
} ms_llm_acc;

/* Applies one SSE data payload (a chat.completion.chunk, or "[DONE]").
 * The text delta of this chunk, if any, is appended to `delta` too.
 * Returns 0, MS_ERR_LLM_PROTOCOL / MS_ERR_LLM_HTTP (message in err) or
 * MS_ERR_NOMEM. */
int ms_llm_acc_chunk(ms_llm_acc *acc, const char *data, size_t len, ms_buf *delta,
                     ms_err *err);
/* Applies a whole response: a chat.completion object or a bare assistant
 * message {role, content, tool_calls}. */
int ms_llm_acc_message(ms_llm_acc *acc, const char *json, size_t len, ms_err *err);
void ms_llm_acc_free(ms_llm_acc *acc);
/* The assistant message for the history: {role, content, tool_calls?}. */
cJSON *ms_llm_acc_to_message(const ms_llm_acc *acc);
/* Builds the request body {model, messages, tools?, stream:true}. `tools` is
 * an array of {type:"function", function:{...}} (may be empty). */
char *ms_llm_build_request(const char *model, const cJSON *messages,
                           const cJSON *tools);
/* Turns an HTTP error body into a one-line message (error.message if JSON),
 * with a hint for the status before the body text (which may be cut). */
void ms_llm_http_error(ms_err *err, int status, const char *body, size_t len);

/* ---- names.c: tool names the model sees ------------------------------------ */

/* Names n tools (servers[i], names[i]: NUL-terminated, borrowed for the call)
 * for the model: out[i] is a fresh seam-allocated name of [A-Za-z0-9_-]{1,64}
 * (the caller frees it), or NULL for a repeat of an earlier (server, name)
 * pair. No two names are equal; the same pairs give the same names in any
 * order. The rules are in names.c and README. Returns 0, or MS_ERR_NOMEM with
 * every out[i] NULL and nothing allocated. */
int ms_model_names(const char *const *servers, const char *const *names, size_t n, char **out);

#endif /* MS_CORE_H */

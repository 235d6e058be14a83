/* core.h — the core's private declarations, layer by layer (each layer calls
 * only the ones above it in this file, docs/architecture.md §1):
 *
 *   internal.h   alloc.c err.c buf.c ndjson.c sse.c      memory, errors, framing
 *   json.c jsonrpc.c llm.c names.c tools.c                pure JSON work
 *   effects.c                                            the context's effect queue
 *   session*.c sessions.c (session.h)                    MCP sessions
 *   stream*.c catalog.c render.c (stream.h)              agent runs
 *   ctx.c                                                the context's exports
 *
 * Upward calls are function pointers registered from above: a request's
 * completion (ms_req_cb), the session-changed subscription, the hook for a
 * stream's reserved WAKE being handed out. Private to the core. */
#ifndef MS_CORE_H
#define MS_CORE_H

#include "cJSON.h"
#include "internal.h"
#include "jscan.h"

typedef struct ms_session ms_session;
typedef struct ms_stream ms_stream;

/* ---- json.c ------------------------------------------------------------- */

/* Parses exactly text[0..len) as one JSON value (trailing white space
 * allowed); NULL when malformed, trailed by anything else, or out of memory.
 * The caller owns the result (cJSON_Delete). */
cJSON *ms__json_parse(const char *text, size_t len);
/* The byte that stands for a "\u0000" inside the strings ms__json_parse
 * makes (no UTF-8 text holds it); ms__json_print writes it back. */
#define MS_NUL_MARK 0xFF
/* 1 when text[0..n) is well-formed UTF-8 (what ms__json_parse takes as it
 * is: it replaces ill-formed sequences). */
int ms__json_utf8_valid(const char *text, size_t n);
/* Prints a cJSON value into a fresh seam-allocated string (the caller frees
 * it with ms_free); NULL on OOM. */
char *ms__json_print(const cJSON *v);
/* Appends s[0..n), a string as the parser left it (a "\u0000" that came in
 * is a marker byte there), as a JSON string literal: what ms__json_print
 * would write for it, without building a tree. 0 or MS_ERR_NOMEM. */
int ms__json_append_text(ms_buf *b, const char *s, size_t n);
/* Rewrites b, a string as the parser left it, into head "text" tail (the
 * text as ms__json_append_text writes it) plus a NUL not counted in b->len,
 * in b's own storage, sized once to fit exactly: a large text is never held
 * twice. On MS_ERR_NOMEM b is unchanged. */
int ms__json_wrap_text(ms_buf *b, const char *head, const char *tail);
/* Rewrites b in place as ms__json_wrap_text does, without the quotes and
 * the NUL: head, the escaped bytes (a part of a JSON string's content: the
 * escapes are per byte, so the parts of a text can be escaped one by one),
 * tail. A b of no bytes with empty head and tail stays empty. 0 or
 * MS_ERR_NOMEM (b unchanged). */
int ms__json_escape_in_place(ms_buf *b, const char *head, const char *tail);

/* ---- effects.c: the context's base (effect queue, events, error, ids) ---- */

typedef struct ms_fx_rec {
  int32_t kind, a, b, c;
  size_t off; /* payload offset in ctx->fx_payload, or in ext */
  uint32_t len;
  int wake_rsv; /* a stream's reserved WAKE (reserved again once taken) */
  void *ext;    /* a payload of its own (ms__fx_adopt), owned by the queue; NULL: in fx_payload */
} ms_fx_rec;

typedef struct ms_owner_wait { /* an ms_owner_close waiting for its sessions */
  int32_t op_id, owner, owner_id;
} ms_owner_wait;

struct ms_ctx {
  ms_err err;
  ms_buf input;
  /* queued effects and their payloads (effects.c) */
  ms_fx_rec *fx;
  size_t nfx, capfx;
  ms_buf fx_payload;
  /* effects handed out by ms_ctx_take_effects */
  ms_effect *out;
  size_t out_cap;
  ms_buf out_payload;
  void **out_ext;   /* the handed-out effects' own payloads (out_cap slots), freed at the next take */
  size_t nout_ext;
  size_t nout;       /* effects handed out by the last take */
  ms_buf utf16; /* ms_ctx_utf16's units (effects.c); freed at the next take when big */
  ms_buf cut_skel, cut_index, cut_data; /* ms_ctx_cut's output (jcut.c); reset at the next take */
  ms_buf body;  /* the part of a model request body read last (ms_stream_model_body) */
  size_t rsv_recs, rsv_bytes; /* room reserved in the effect queue (effects.c) */
  /* objects; ids are never reused */
  ms_session **sessions;      /* sessions.c */
  size_t nsessions, capsessions;
  ms_owner_wait *owner_waits; /* sessions.c */
  size_t nowner_waits, capowner_waits;
  ms_stream **streams;        /* stream.c; sorted by id */
  size_t nstreams, capstreams;
  struct ms_catalog *catalogs; /* the tool catalogues in use (stream.c, catalog.c) */
  int32_t next_id;
  /* upward calls, registered by the layer above (ctx.c wires them) */
  void (*wake_taken)(ms_ctx *ctx, int32_t stream_id); /* a reserved WAKE was handed out */
  void (*session_changed)(ms_ctx *ctx, void *user, int32_t sid);
  void *session_changed_user;
  /* limits */
  size_t max_message;
  size_t max_pending;
  int32_t timeout_ms;     /* default request timeout (reset by progress) */
  int32_t max_total_ms;   /* default total time of a request */
  size_t max_memory;      /* memory budget of each stream and session */
  double now;             /* the host's clock (ms_ctx_set_now / ms_ctx_tick) */
};

/* jcut.c: an answer's big strings cut out for the host (ms_ctx_cut) */
#define MS_CUT_MAX_BYTES (1u << 20) /* bigger answers are parsed whole by the host */
#define MS_CUT_KEEP_BYTES (1u << 20) /* bigger output buffers are freed at the next take */
/* Empties ms_ctx_cut's output; with free_big, frees the buffers over MS_CUT_KEEP_BYTES. */
void ms__cut_reset(ms_ctx *ctx, int free_big);

/* Queues an effect (payload copied). 0 or MS_ERR_NOMEM. */
int ms__fx(ms_ctx *ctx, int kind, int32_t a, int32_t b, int32_t c,
           const void *payload, size_t len);
/* Queues an effect whose payload is `owned` (len bytes, seam-allocated): the
 * queue takes it over, whatever the result, and frees it once handed out
 * (at the next take), so a big payload made for the host (a model request,
 * an answer printed by cJSON) is never copied. 0 or MS_ERR_NOMEM (then it
 * was freed). */
int ms__fx_adopt(ms_ctx *ctx, int kind, int32_t a, int32_t b, int32_t c, void *owned, size_t len);
/* The same, with the payload owned[off..off+len) (a message's result inside
 * the line it came in, say): the whole block is taken over and freed. */
int ms__fx_adopt_at(ms_ctx *ctx, int kind, int32_t a, int32_t b, int32_t c, void *owned, size_t off,
                    size_t len);
/* Frees the queue, the effects handed out and their payloads (ms_ctx_free). */
void ms__fx_free_all(ms_ctx *ctx);
/* Reserves room in the effect queue for `recs` effects with `bytes` payload
 * bytes in all, for effects that must never be lost to a failed allocation
 * (effects.c explains). 0 or MS_ERR_NOMEM (nothing reserved). */
int ms__fx_reserve(ms_ctx *ctx, size_t recs, size_t bytes);
/* Gives back a reservation that will not be used (its owner is freed). */
void ms__fx_unreserve(ms_ctx *ctx, size_t recs, size_t bytes);
/* Queues an effect into reserved room: uses up one reserved record and
 * `rbytes` reserved bytes (len <= rbytes). Cannot fail when the reservation
 * was made; returns like ms__fx. */
int ms__fx_reserved(ms_ctx *ctx, int kind, int32_t a, int32_t b, int32_t c,
                    const void *payload, size_t len, size_t rbytes);
/* Whom a lifecycle event names (all borrowed for the call). */
typedef struct ms_subject {
  const char *server;
  int32_t session_id;
  int owner; /* MS_OWNER_* */
} ms_subject;
/* Queues a lifecycle event (MS_FX_EVENT). `subj` may be NULL (stream events). */
int ms__event(ms_ctx *ctx, const char *kind, const ms_subject *subj,
              int32_t stream_id, const char *reason);
/* The same into reserved room: one record and rbytes bytes, where rbytes was
 * ms__event_bound(name length, kind, length of the longest possible reason). */
int ms__event_reserved(ms_ctx *ctx, const char *kind, const ms_subject *subj,
                       int32_t stream_id, const char *reason, size_t rbytes);
size_t ms__event_bound(size_t name_len, const char *kind, size_t reason_len);
#define MS_REASON_MAX 16 /* the longest reason of a reserved event */
/* Queues MS_FX_OP_DONE with an error message (msg[0..len) copied). */
int ms__op_fail(ms_ctx *ctx, int32_t op_id, int code, const char *msg, size_t len);
/* Records the error on the context for the host (ms_ctx_error_*). Returns code. */
int ms__fail(ms_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int32_t ms__new_id(ms_ctx *ctx);
/* Owner name for events: "stream" | "agent" | "client" (a static string). */
const char *ms__owner_name(int owner);
/* Registers the function told when a WAKE queued into reserved room was handed
 * out (ms_ctx_take_effects), with its stream id, so that its owner can reserve
 * it again: ms__fx_reserve_taken_rec reserves one record of the queue's free
 * room without allocating and returns 1, or 0 when there is none. */
void ms__fx_set_wake_hook(ms_ctx *ctx, void (*fn)(ms_ctx *ctx, int32_t stream_id));
int ms__fx_reserve_taken_rec(ms_ctx *ctx);
/* Grows one of the context's tables (*arr, owned by the context, charged to
 * no account) to hold more than n elements of `size` bytes. 0 or MS_ERR_NOMEM. */
int ms__ctx_grow(void **arr, size_t *cap, size_t n, size_t size);

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
/* The same with params[0..params_len), JSON text written as it is (params
 * NULL: none). */
int ms_rpc_build_text(ms_buf *out, int64_t id, const char *method, const char *params,
                      size_t params_len);
/* Builds a response to a request whose id is `id` (copied as is), with
 * `result` (may be NULL: {}) or, when err_code != 0, an error object. */
int ms_rpc_build_response(ms_buf *out, const cJSON *id, const cJSON *result,
                          int err_code, const char *err_msg);

/* ---- a server's tools, as its tools/list answers gave them --------------------
 *
 * Not a tree: the answer's text is kept once (a blob, validated by the
 * scanner) and each tool is its name and spans into that text, which go to
 * the model request and to a client's listTools as the JSON text they
 * already are. */
typedef struct ms_tool {
  char *name;       /* decoded (a "\u0000" as the parser marks it); owned */
  ms_blob *blob;    /* the text the spans are in: one reference per tool */
  ms_jspan def;     /* the tool object */
  ms_jspan desc;    /* its "description" when a string, else type NONE */
  ms_jspan schema;  /* its "inputSchema" when an object, else type NONE */
} ms_tool;

typedef struct ms_tools {
  ms_tool *v;
  size_t n, cap;
} ms_tools;

/* Frees the tools (their names and blob references) and empties the list. */
void ms_tools_clear(ms_tools *t);
/* Appends the tools of one tools/list result (a validated span in blob's
 * text): every element of its "tools" array that is an object with a
 * string "name". *cursor gets its non-empty "nextCursor" string decoded
 * (seam-allocated, the caller frees it) or NULL. 0 or MS_ERR_NOMEM (the
 * tools appended so far stay). */
int ms_tools_add_page(ms_tools *t, ms_blob *blob, const ms_jspan *result, char **cursor);
/* The listTools answer: the JSON array of the tools' objects as they came,
 * in a seam-allocated block (NUL-terminated; *len its length), or NULL. */
char *ms_tools_json(const ms_tools *t, size_t *len);

/* ---- the session layer (session*.c, sessions.c; session.h is private) --------
 *
 * Sessions call down (effects, jsonrpc, framers) and never up: a request made
 * for a stream carries its completion (ms_req_cb), and "a session changed" is
 * one subscription (ms__session_subscribe), which the stream layer takes. */

/* How a request made for an upper layer completes. Both calls borrow what they
 * are given for the call only; `user` is the caller's, passed back as is. */
typedef struct ms_req_cb {
  /* the answer (result, code 0) or the failure (result NULL, code < 0 and msg:
   * MS_ERR_MCP for an error answer, anything else when the request was lost) */
  void (*done)(ms_ctx *ctx, void *user, int64_t rpc_id, const cJSON *result, int code,
               const char *msg);
  /* a notifications/progress for it (params of the notification) */
  void (*progress)(ms_ctx *ctx, void *user, int64_t rpc_id, const cJSON *params);
  void *user;
} ms_req_cb;

/* The one subscriber told that session sid changed (became ready, got its
 * tools, failed or closed). */
typedef void (*ms_session_changed_fn)(ms_ctx *ctx, void *user, int32_t sid);
void ms__session_subscribe(ms_ctx *ctx, ms_session_changed_fn fn, void *user);

/* The session with id, or NULL (borrowed: valid until it is collected). */
ms_session *ms__session_get(ms_ctx *ctx, int32_t id);
/* Adds s to the context's table. 0 or MS_ERR_NOMEM. */
int ms__add_session(ms_ctx *ctx, ms_session *s);
/* Creates a session and queues MS_FX_OPEN (ownership is recorded first).
 * *out is the session (owned by the context's table) whenever it was
 * recorded, even when the result is an error. */
int ms__session_create(ms_ctx *ctx, const char *name, size_t name_len, int owner,
                       int32_t owner_id, ms_session **out);
/* Starts listing tools if the session is ready and has no list. */
int ms__session_want_tools(ms_ctx *ctx, ms_session *s);
/* Sends tools/call with a progress token, timing out after timeout_ms (0:
 * the session's); cb (copied) reports its end, exactly once unless it is
 * cancelled with ms__session_cancel_rpc; its events name stream_id. Returns
 * the JSON-RPC id (> 0) or an error (then cb is never called). */
int64_t ms__session_call_tool(ms_ctx *ctx, ms_session *s, const ms_req_cb *cb, int32_t stream_id,
                              const char *name, const cJSON *args, int32_t timeout_ms);
/* Cancels request rpc_id (notifications/cancelled, request-cancel event naming
 * st_id); its callback is not called. rsv_event > 0: both effects go into room
 * the caller reserved (the SEND: 1 record and MS_CANCEL_BYTES; the event: 1
 * record and rsv_event bytes); what is not used is given back. reason: at
 * most MS_REASON_MAX bytes then. */
int ms__session_cancel_rpc(ms_ctx *ctx, ms_session *s, int64_t rpc_id,
                           int32_t st_id, const char *reason, size_t rsv_event);
#define MS_CANCEL_BYTES 256 /* a notifications/cancelled with a reason of MS_REASON_MAX */
/* Queues MS_FX_CLOSE once; no-op when closing/closed. */
int ms__session_close(ms_ctx *ctx, ms_session *s);
/* 1 ready, 0 opening, negative: failed/closed. */
int ms__session_health(const ms_session *s);
/* What the layers above may read of a session (all borrowed from s): its
 * server name (lives as long as s); its id; why it failed or closed (code 0
 * while healthy); its tools (every page; NULL while not listed; valid until
 * the next call into the session layer); whether it is closed. */
const char *ms__session_name(const ms_session *s);
int32_t ms__session_id(const ms_session *s);
const ms_err *ms__session_err(const ms_session *s);
const ms_tools *ms__session_tools(const ms_session *s);
/* The generation of its tools: a new list installed (after list_changed), a
 * new number; catalogues are keyed by it. */
uint32_t ms__session_tools_gen(const ms_session *s);
int ms__session_is_closed(const ms_session *s);
/* A stream uses s / stops using it: a closed session nothing uses is freed
 * (unref may free s). */
void ms__session_ref(ms_session *s);
void ms__session_unref(ms_ctx *ctx, ms_session *s);
/* Times out every request whose deadline is <= ctx->now (ms_ctx_tick); returns
 * how many. The earliest deadline of any request, or -1. */
int32_t ms__sessions_expire(ms_ctx *ctx);
double ms__sessions_next_deadline(ms_ctx *ctx);
/* Frees every session and the table (ms_ctx_free). */
void ms__sessions_free_all(ms_ctx *ctx);

/* ---- the stream layer (stream*.c, catalog.c, render.c; stream.h is private) ---- */

/* The stream with id, or NULL (borrowed). */
ms_stream *ms__stream_get(ms_ctx *ctx, int32_t id);
/* Subscribes the stream layer to session changes and to its reserved WAKEs
 * being handed out (ms_ctx_new). */
void ms__streams_attach(ms_ctx *ctx);
/* Frees every stream and the table (ms_ctx_free). */
void ms__streams_free_all(ms_ctx *ctx);

/* ---- llm.c: OpenAI-compatible Chat Completions ------------------------- */

typedef struct ms_llm_call {
  ms_buf id;
  ms_buf name;
  ms_buf args;
} ms_llm_call;

/* The text of a long answer is held in pieces of this many bytes (each one
 * block, filled to the byte, cut on a UTF-8 character boundary), not in one
 * block grown as it arrives: a growing block of 100 MB moves and leaves
 * holes that add up to about its size in wasm memory, which never shrinks. */
#define MS_LLM_PIECE ((size_t)1 << 20)

typedef struct ms_llm_acc {   /* one assistant message being assembled */
  ms_piece *pieces;           /* the text's full pieces, in order (NULL: it is all in content) */
  ms_piece *last;             /* the last of them */
  size_t pieces_len;          /* their bytes */
  ms_buf content;             /* the text after the pieces */
  ms_llm_call *calls;
  size_t ncalls;
  int finished;               /* a finish_reason or [DONE] was seen */
  char finish[32];            /* the finish_reason as sent (cut to fit), "" when none came */
  int has_usage;              /* the endpoint reported token usage for this message */
  double usage[3];            /* its prompt, completion and total tokens */
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
/* The bytes of the message's text (its pieces and content). */
size_t ms_llm_acc_text_len(const ms_llm_acc *acc);
/* Puts the whole text into acc->content (one block: for a text that must be
 * one string, the history's copy). 0, or MS_ERR_NOMEM (acc unchanged). */
int ms_llm_acc_flatten(ms_llm_acc *acc);
/* The assistant message for the history: {role, content, tool_calls?}. */
cJSON *ms_llm_acc_to_message(const ms_llm_acc *acc);
/* Writes the model request's "tools" array, exactly the length announced, at out. */
typedef void (*ms_llm_tools_fn)(const void *user, char *out);
/* Builds the request body {model, messages, tools?, stream:true,
 * stream_options:{include_usage:true}} in one seam-allocated block of the
 * exact size (NUL-terminated; *len its length without the NUL; the caller
 * owns it), or NULL when out of memory. The "tools" array, tools_len bytes
 * of JSON text (0: no tools), is written by write_tools(user, ...) where it
 * goes in the body (a catalogue's tools, never held twice). With tools_len
 * but no write_tools, only the head: the body up to and with ,"tools": (the
 * array and ms_llm_request_tail() are the host's to read next). */
char *ms_llm_build_request(const char *model, const cJSON *messages, size_t tools_len,
                           ms_llm_tools_fn write_tools, const void *user, size_t *len);
/* What follows the "tools" array in a request body (a static string). */
const char *ms_llm_request_tail(void);
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

/* ---- catalog.c: the tools a stream offers its model --------------------------- */

typedef struct ms_tool_ref {
  char *model_name; /* the name the model sees (names.c); owned */
  int32_t sid;      /* the session that has it */
  char *name;       /* the tool's name on its server (a copy: a list_changed
                       notification frees the session's list mid-run); owned */
  ms_blob *blob;    /* the tools/list text its spans are in (a reference) */
  ms_jspan desc, schema; /* as in ms_tool */
  size_t text_len;  /* the length of its entry in the "tools" array */
} ms_tool_ref;

typedef struct ms_catalog_key { /* one source of a catalogue */
  int32_t sid;
  uint32_t gen; /* which tools/list of that session (ms__session_tools_gen) */
} ms_catalog_key;

/* A tool catalogue: immutable once built, shared by the streams with the same
 * key (refcounted: freed with the last reference), charged to no stream's
 * memory budget. */
typedef struct ms_catalog {
  int refs;
  struct ms_catalog *next, **pprev; /* in the list of catalogues in use */
  /* the key */
  ms_catalog_key *key;  /* owned, nkey entries */
  size_t nkey;
  char *disallowed;     /* the disallowed names, each followed by its NUL; owned */
  size_t disallowed_len;
  /* the tools */
  ms_tool_ref *tools;   /* owned */
  size_t n;
  size_t text_len;      /* the length of the Chat Completions "tools" array
                           (ms_catalog_write_some), 0 when there are no tools */
} ms_catalog;

typedef struct ms_tool_source { /* one server's tools (all borrowed for the call) */
  const char *server;
  int32_t sid;
  uint32_t gen;          /* the generation of `tools` (a new tools/list: a new one) */
  const ms_tools *tools; /* its tools (NULL: none) */
} ms_tool_source;

/* A reference to the catalogue of these sources (in this order) minus the
 * tools named in `disallowed` (an array of strings: a server-side or a
 * model-side name; repeated (server, name) pairs are left out): one in *list
 * with the same key, or one built now (and put in *list). The caller owns the
 * reference (ms_catalog_unref). 0 or MS_ERR_NOMEM (nothing held). */
int ms_catalog_get(ms_catalog **list, const ms_tool_source *src, size_t nsrc,
                   const cJSON *disallowed, ms_catalog **out);
/* Drops a reference (NULL is ignored); the last one frees the catalogue and
 * takes it out of its list. */
void ms_catalog_unref(ms_catalog *c);
/* The catalogue's "tools" array (cat->text_len bytes in all) is
 * {"type":"function","function":{name, description?, parameters}} per tool,
 * the description and the schema copied as the JSON text the server sent.
 * Appends the "tools" array from tool *next on ("[" before the first, ","
 * between, "]" after the last), as many whole tools as fit in `most` bytes
 * of out (at least one), and advances *next past them: the array a part at a
 * time, never all of it at once. 0 or MS_ERR_NOMEM. */
int ms_catalog_write_some(const ms_catalog *c, size_t *next, ms_buf *out, size_t most);
/* The tool the model calls model_name (borrowed from cat), or NULL (cat may be NULL). */
const ms_tool_ref *ms_catalog_find(const ms_catalog *cat, const char *model_name);
/* 1 when arr (an array of strings) holds a or b (b may be NULL). */
int ms_name_listed(const cJSON *arr, const char *a, const char *b);

/* ---- render.c: what a stream yields and what its model reads ----------------- */

/* A new step object {"type": type} (the caller owns it), or NULL. */
cJSON *ms__step_object(const char *type);
/* The text a model sees for a CallToolResult (content: its array, may be
 * NULL; structured: its structuredContent, may be NULL): a fresh
 * seam-allocated string (the caller frees it), or NULL when out of memory. */
char *ms__result_text(const cJSON *content, const cJSON *structured, int is_error);

#endif /* MS_CORE_H */

/* mcpstream.h — the one public header of the mcpstream core.
 *
 * The core is sans-IO: it never reads, writes, sleeps or calls into the host.
 * Every function takes input, advances state machines and returns. The host
 * (the JS wrapper, or a native test) performs the I/O that the core asks for
 * as *effects* and feeds the results back through the feed functions.
 *
 * Objects live in one context (ms_ctx). Sessions (one MCP server connection
 * each) and streams (one agent run each) are named by positive int ids, never
 * by pointers, so a stale id from the host is detected instead of being
 * undefined behaviour. Ids are never reused within a context.
 *
 * Return convention, everywhere: a negative value is an MS_ERR_* code, and the
 * message that explains it is kept on the context (ms_ctx_error) until the
 * next call that fails. Zero or positive is success.
 *
 * Memory: all input is copied; the core never keeps a host pointer. Output is
 * borrowed: a pointer + length into core memory, valid until the next call on
 * the same context that is not a pure getter (the *_ptr / *_len getters).
 * The host writes input into the scratch buffer returned by ms_ctx_input()
 * and passes its length.
 */
#ifndef MCPSTREAM_H
#define MCPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __EMSCRIPTEN__
#include <emscripten/emscripten.h>
#define MS_EXPORT EMSCRIPTEN_KEEPALIVE
#else
#define MS_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status and error codes ------------------------------------------ */

/* Non-negative results of ms_stream_next / _return. */
#define MS_DONE 0     /* the stream ended; no step; cleanup has finished */
#define MS_YIELD 1    /* a step is ready: ms_stream_output_ptr/_len */
#define MS_EFFECTS 2  /* effects are queued: take them, perform them, call again */
#define MS_WAIT 3     /* nothing to do until the host feeds an I/O result */

/* Errors: X(NAME, value, CODE) makes MS_ERR_NAME = value; CODE is the stable
 * string code the host reports for it (ms_strerror). build.sh generates the
 * JS side (src/js/constants.js) from this list and from the MS_* defines of
 * this header: change them here, then run `bash build.sh constants`. */
#define MS_ERRORS(X)                                                              \
  X(NOMEM, -1, OUT_OF_MEMORY)                                                     \
  X(INVALID_ARGUMENT, -2, INVALID_ARGUMENT)                                       \
  X(BAD_HANDLE, -3, INVALID_HANDLE)            /* unknown or freed id */          \
  X(STATE, -4, INVALID_STATE)                  /* call not allowed now */         \
  X(PROTOCOL, -5, MCP_PROTOCOL)                /* server broke the protocol */    \
  X(TRANSPORT_CLOSED, -6, MCP_TRANSPORT_CLOSED) /* server went away */            \
  X(CONNECT, -7, MCP_CONNECT_FAILED)           /* could not open */               \
  X(MCP, -8, MCP_ERROR)                        /* server answered with an error */ \
  X(LLM_HTTP, -9, LLM_HTTP)                    /* model endpoint failed */        \
  X(LLM_PROTOCOL, -10, LLM_PROTOCOL)           /* malformed model response */     \
  X(LIMIT, -11, LIMIT_EXCEEDED)                /* a configured limit */           \
  X(ABORTED, -12, ABORTED)                     /* the stream's signal fired */    \
  X(AGENT_CLOSED, -13, AGENT_CLOSED)           /* agent.close() ended it */       \
  X(TIMEOUT, -14, TIMEOUT)                     /* a request took too long */      \
  X(CANCELLED, -15, CANCELLED)                 /* the request was cancelled */

enum {
#define MS__ERR_ENUM(name, value, code) MS_ERR_##name = value,
  MS_ERRORS(MS__ERR_ENUM)
#undef MS__ERR_ENUM
};

/* ---- Effects ------------------------------------------------------------ */

/* An effect record, as laid out in memory for the host (in wasm: 6 x int32,
 * 24 bytes). `ptr`/`len` describe a payload in core memory (len 0: none). */
typedef struct ms_effect {
  int32_t kind; /* MS_FX_* */
  int32_t a;    /* see each kind */
  int32_t b;
  int32_t c;
  uintptr_t ptr;
  uint32_t len;
} ms_effect;

/* a = session id, b = its owner (MS_OWNER_*), c = the owner's id. Payload:
 * the server's name (UTF-8). Open the transport configured for that server;
 * then call ms_session_opened, or ms_session_closed(MS_CLOSE_OPEN_FAILED). */
#define MS_FX_OPEN 1
/* a = session id. Payload: one JSON-RPC message (UTF-8, no framing).
 * For hosts that need it (Streamable HTTP): b = the JSON-RPC id of the request
 * the message is (0: a notification or a response), or, with MS_SEND_CANCEL,
 * the id of the request it cancels; c = MS_SEND_* (0: none of them). */
#define MS_FX_SEND 2
/* a = session id. Close the transport (stdio: end stdin, wait, SIGTERM,
 * SIGKILL). Then call ms_session_closed(MS_CLOSE_CLOSED). Issued at most
 * once per session. */
#define MS_FX_CLOSE 3
/* a = stream id, b = model request sequence. Payload: the Chat Completions
 * request body (JSON). Feed the response with ms_stream_model_*. c = 1: the
 * payload is the body's head only (a request with tools): read the rest with
 * ms_stream_model_body, part after part, right away (before any other call
 * into the stream), and send the head and the parts joined. */
#define MS_FX_MODEL_REQUEST 4
/* a = stream id, b = model request sequence. Abort that request; feed nothing
 * more for it. */
#define MS_FX_MODEL_ABORT 5
/* a = stream id. The stream can make progress: call ms_stream_next. */
#define MS_FX_WAKE 6
/* a = op id, b = status (0 or MS_ERR_*). Payload: result JSON, or the error
 * message (UTF-8) when b < 0. */
#define MS_FX_OP_DONE 7
/* a = op id. Payload: the params of a notifications/progress (JSON). */
#define MS_FX_OP_PROGRESS 8
/* Payload: a lifecycle event JSON {kind, server, sessionId, owner, streamId,
 * reason}; see docs/architecture.md §3 rule 9. */
#define MS_FX_EVENT 9
/* a = session id (0: none), b = level (0 debug .. 3 error). Payload: UTF-8
 * text (a server's log notification, or a skipped bad input). */
#define MS_FX_LOG 10

/* a = session id. Payload: the protocol version the session negotiated.
 * Queued once, right before the SEND of notifications/initialized (the HTTP
 * host puts it in the MCP-Protocol-Version header from then on). */
#define MS_FX_PROTOCOL 11
/* a = session id, b = response key (see ms_session_sse_feed), c = the last
 * `retry:` value in ms (-1: none seen). Payload: the last event id (may be
 * empty). Queued after a feed that changed either, so the host can resume the
 * response with GET + Last-Event-ID, waiting `retry` ms first. */
#define MS_FX_SSE_CURSOR 12

/* a = session id, b = MS_CAP_* of the method. Payload: a request from the
 * server (the whole JSON-RPC message) that the host answers with
 * ms_session_respond: sampling/createMessage, elicitation/create or
 * roots/list, for a session whose capabilities declared it. */
#define MS_FX_SERVER_REQUEST 13
/* a = session id. Payload: a notification from the server (the whole JSON-RPC
 * message) for the host: notifications/message (logging),
 * notifications/resources/updated, notifications/{tools,resources,prompts}/
 * list_changed (tools/list_changed also drops the core's cached tool list)
 * and notifications/cancelled (the server gave up a request of its own that
 * the host may be answering). Other notifications are ignored. */
#define MS_FX_NOTIFICATION 14

/* c of MS_FX_SEND. */
#define MS_SEND_INITIALIZE 1  /* initialize: sent without a session id; its answer brings one */
#define MS_SEND_INITIALIZED 2 /* notifications/initialized */
#define MS_SEND_CANCEL 3      /* notifications/cancelled; b = the cancelled request's id */

/* Why a transport closed (ms_session_closed). */
#define MS_CLOSE_CLOSED 0      /* closed after MS_FX_CLOSE */
#define MS_CLOSE_EXITED 1      /* the server exited / the transport dropped */
#define MS_CLOSE_OPEN_FAILED 2 /* the transport could not be opened */

/* Owners of sessions. */
#define MS_OWNER_STREAM 1
#define MS_OWNER_AGENT 2
#define MS_OWNER_CLIENT 3

/* Why a stream is being ended early (ms_stream_return). */
#define MS_END_RETURN 0       /* consumer return()/break: ends with MS_DONE */
#define MS_END_THROW 1        /* consumer throw(e) (ms_stream_throw): ends with MS_DONE */
#define MS_END_ABORT 2        /* signal: ends reporting MS_ERR_ABORTED once */
#define MS_END_AGENT_CLOSED 3 /* agent.close(): ends reporting MS_ERR_AGENT_CLOSED */

/* Flags of ms_session_request. */
#define MS_REQ_PROGRESS 1 /* add _meta.progressToken; progress → MS_FX_OP_PROGRESS */

typedef struct ms_ctx ms_ctx;

/* ---- Context --------------------------------------------------------- */

/* Creates a context. Returns NULL when out of memory. */
MS_EXPORT ms_ctx *ms_ctx_new(void);
/* Frees the context and everything in it (sessions, streams). No effects are
 * produced; the host tears its transports down itself. NULL is ignored. */
MS_EXPORT void ms_ctx_free(ms_ctx *ctx);
/* Returns a scratch buffer of at least `len` bytes for the host to write the
 * next input into, or NULL when out of memory. Valid until the next call
 * to ms_ctx_input; feeding functions read `len` bytes from it. */
MS_EXPORT uint8_t *ms_ctx_input(ms_ctx *ctx, uint32_t len);
/* Moves the queued effects into the output array and returns their count.
 * The array (ms_ctx_effects_ptr) and every payload stay valid until the next
 * call on ctx other than the getters below. */
MS_EXPORT int32_t ms_ctx_take_effects(ms_ctx *ctx);
MS_EXPORT const ms_effect *ms_ctx_effects_ptr(ms_ctx *ctx);
/* Decodes bytes the host is about to read as text — src[0..len), a payload
 * of the effects last taken or any bytes of its own in wasm memory — to
 * UTF-16, as TextDecoder("utf-8", { ignoreBOM: true }) decodes them (an
 * ill-formed sequence becomes U+FFFD; utf16.c), into a buffer of the
 * context's: returns the number of UTF-16 units (at ms_ctx_utf16_ptr), or 0
 * when the bytes are all ASCII (nothing is written: they are their own
 * decoding), or MS_ERR_NOMEM. The units stay valid until the next call on
 * ctx other than this one and the getters; the effects and their payloads
 * stay valid (this call does not count as one that ends them). */
MS_EXPORT int32_t ms_ctx_utf16(ms_ctx *ctx, const uint8_t *src, uint32_t len);
MS_EXPORT const uint16_t *ms_ctx_utf16_ptr(ms_ctx *ctx);
/* Cuts the big strings out of the answer of effect `index` of the last take
 * (an MS_FX_OP_DONE with b >= 0: validated JSON text), for a host that parses
 * answers itself (jcut.c): every string value whose JSON text (quotes
 * included) is `min` bytes or more, at most 8 levels deep, on a path of keys
 * written without escapes, each once in its object, none "__proto__" (at
 * most 64 strings, objects of at most 32 keys; answers of 1 MiB or less).
 * Returns how many were cut (0: parse the answer whole), or MS_ERR_NOMEM, or
 * MS_ERR_INVALID_ARGUMENT for an effect that is not such an answer. Output,
 * at ms_ctx_cut_ptr/len(ctx, which), valid until the next take of effects:
 *   which 0: the answer with `null` in place of each string cut (UTF-8);
 *   which 1: JSON text, an array of one entry per string in text order:
 *            [[key or array index, ...], wide, offset, length];
 *   which 2: the strings, from offset: `length` ASCII bytes (wide 0) or
 *            UTF-16 units (wide 1), the string as JSON.parse makes it of the
 *            answer decoded as ms_ctx_utf16 decodes it (lone surrogates kept). */
MS_EXPORT int32_t ms_ctx_cut(ms_ctx *ctx, uint32_t index, uint32_t min);
MS_EXPORT const uint8_t *ms_ctx_cut_ptr(ms_ctx *ctx, int32_t which);
MS_EXPORT uint32_t ms_ctx_cut_len(ms_ctx *ctx, int32_t which);
/* The stable string code of an MS_ERR_* value ("OUT_OF_MEMORY", ...; the
 * CODE of MS_ERRORS), a static NUL-terminated string; NULL for any other value. */
MS_EXPORT const char *ms_strerror(int32_t code);
/* The message of the last failed call (UTF-8, not NUL-terminated). */
MS_EXPORT const char *ms_ctx_error_ptr(ms_ctx *ctx);
MS_EXPORT uint32_t ms_ctx_error_len(ms_ctx *ctx);
/* Live allocations / bytes made through the core's allocator (all contexts;
 * bytes as asked for, without the allocator's own headers). */
MS_EXPORT int32_t ms_live_allocations(void);
MS_EXPORT int32_t ms_live_bytes(void);
/* The most ms_live_bytes() has been since the instance started. */
MS_EXPORT int32_t ms_peak_bytes(void);
/* Allocations held by the context itself (its buffers and tables), so that
 * ms_live_allocations() - this = what its sessions and streams hold. */
MS_EXPORT int32_t ms_ctx_own_allocations(ms_ctx *ctx);
/* Numbers of sessions not yet closed / streams not yet ended in ctx (a NEW
 * stream counts; an ended one whose steps were not all taken does not). */
MS_EXPORT int32_t ms_ctx_sessions_open(ms_ctx *ctx);
MS_EXPORT int32_t ms_ctx_streams_open(ms_ctx *ctx);
/* Sets a limit (MS_LIMIT_*) for objects created after the call. Returns 0 or
 * MS_ERR_INVALID_ARGUMENT. */
MS_EXPORT int32_t ms_ctx_set_limit(ms_ctx *ctx, int32_t which, int32_t value);
#define MS_LIMIT_MESSAGE_BYTES 1   /* one incoming message/frame (default 16 MiB) */
#define MS_LIMIT_PENDING_REQUESTS 2 /* per session (default 1024) */
#define MS_LIMIT_TIMEOUT_MS 3       /* a request's timeout, reset by its progress (default 60000) */
#define MS_LIMIT_MAX_TOTAL_TIMEOUT_MS 4 /* a request's total time, progress or not (default 600000) */
#define MS_LIMIT_STREAM_MEMORY_BYTES 5 /* what one stream, or one session, may hold (default 256 MiB) */
/* The defaults of the limits above, as a new context starts (the JS side's
 * LIMITS read them from the generated constants.js). */
#define MS_DEFAULT_MESSAGE_BYTES 16777216      /* 16 MiB */
#define MS_DEFAULT_PENDING_REQUESTS 1024
#define MS_DEFAULT_TIMEOUT_MS 60000
#define MS_DEFAULT_MAX_TOTAL_TIMEOUT_MS 600000
#define MS_DEFAULT_STREAM_MEMORY_BYTES 268435456 /* 256 MiB */

/* ---- Time ------------------------------------------------------------------
 *
 * The core never sleeps: time is input. Every request to a server has two
 * deadlines on the host's monotonic clock (milliseconds, any origin):
 *   idle  = when it was sent (made) + its timeout; a progress notification
 *           for it moves the idle deadline to now + timeout;
 *   total = when it was made + the session's max total timeout.
 * When either passes, the request is timed out: notifications/cancelled is
 * sent (never for initialize, as the spec says), a request-cancel event with
 * reason "timeout" is queued, and the request fails with MS_ERR_TIMEOUT and a
 * message naming the server, the method and the limit. A timed-out
 * initialize or tools/list ends its session (MS_ERR_TIMEOUT).
 *
 * The host tells the time with ms_ctx_set_now before calls that can start a
 * request or report progress (opened, feed, request, list_tools,
 * stream_next), keeps ONE timer per context for ms_ctx_next_deadline, and
 * calls ms_ctx_tick when it fires (then takes the effects and re-arms the
 * timer with the new next deadline). A host that never sets the time gets no
 * timeouts (the clock stays at 0, nothing expires without a tick). */

/* Sets the clock (it never goes backwards). No effects, no failures. */
MS_EXPORT void ms_ctx_set_now(ms_ctx *ctx, double now_ms);
/* Sets the clock and times out every request whose deadline is <= now.
 * Returns how many timed out. */
MS_EXPORT int32_t ms_ctx_tick(ms_ctx *ctx, double now_ms);
/* The earliest deadline of any request in ctx, or -1 when none. */
MS_EXPORT double ms_ctx_next_deadline(ms_ctx *ctx);

/* ---- Sessions (for clients and agents; streams open their own) -------- */

/* Creates a session for the server named by input[0..name_len) owned by
 * (owner, owner_id), records it, and queues MS_FX_OPEN. Returns the session
 * id (> 0) or an error. The session initializes itself once opened. */
MS_EXPORT int32_t ms_session_new(ms_ctx *ctx, int32_t owner, int32_t owner_id,
                                 uint32_t name_len);
/* The transport of session `sid` is open. */
MS_EXPORT int32_t ms_session_opened(ms_ctx *ctx, int32_t sid);
/* Bytes from the server: input[0..len). stdio framing (NDJSON). Messages are
 * handled strictly in arrival order. */
MS_EXPORT int32_t ms_session_feed(ms_ctx *ctx, int32_t sid, uint32_t len);
/* One whole JSON-RPC message from the server: input[0..len). For transports
 * that frame messages themselves. */
MS_EXPORT int32_t ms_session_feed_message(ms_ctx *ctx, int32_t sid, uint32_t len);
/* Client capabilities of session `sid` (MS_CAP_* bits), declared in its
 * initialize: the server's requests for them come to the host as
 * MS_FX_SERVER_REQUEST; others are answered "method not found" as before.
 * Call it before ms_session_opened (else MS_ERR_STATE). */
MS_EXPORT int32_t ms_session_set_capabilities(ms_ctx *ctx, int32_t sid, int32_t caps);
#define MS_CAP_SAMPLING 1
#define MS_CAP_ELICITATION 2
#define MS_CAP_ROOTS 4
/* Answers a server request: input[0..id_len) is its "id" as JSON (copied from
 * the MS_FX_SERVER_REQUEST payload), then body_len bytes: the result JSON
 * (err_code 0: it must be an object) or the error message (err_code: a
 * JSON-RPC error code). The response is sent as MS_FX_SEND (b = 0, c = 0).
 * Ignored (0) once the session is closing; MS_ERR_BAD_HANDLE once it is gone.
 * The core does not remember which requests it routed: answering each once,
 * and not at all after the server cancelled it, is the host's part. */
MS_EXPORT int32_t ms_session_respond(ms_ctx *ctx, int32_t sid, uint32_t id_len,
                                     uint32_t body_len, int32_t err_code);

/* ---- Streamable HTTP: messages framed per HTTP response --------------------
 * The host POSTs each MS_FX_SEND payload. A response body of type
 * application/json is one message: ms_session_feed_message. A body of type
 * text/event-stream is fed here, keyed by `key` = the request id the POST
 * carried (MS_FX_SEND b), or 0 for the GET stream; each key gets its own SSE
 * parser (src/core/sse.c), created by its first feed and freed by
 * ms_session_response_end. Every event of type "message" with data is one
 * JSON-RPC message, handled as by ms_session_feed_message, in arrival order;
 * events of other types and empty ones (priming events) are skipped; an event
 * over the message size limit is skipped with a log. A resumed response (GET
 * with Last-Event-ID) is fed under the same key after ending the first one.
 * Returns 1 while request `key` (> 0) is still waiting for its answer (the
 * host stops reading a response once it returns 0), 0 otherwise, or an
 * error. */
MS_EXPORT int32_t ms_session_sse_feed(ms_ctx *ctx, int32_t sid, int32_t key, uint32_t len);
/* The response body for `key` ended (or the host stopped reading it): frees
 * its SSE parser (an event not yet ended by a blank line is dropped). Returns
 * 1 when request `key` (> 0) is still waiting for its answer — the host then
 * resumes the response, or calls ms_session_request_failed — else 0. */
MS_EXPORT int32_t ms_session_response_end(ms_ctx *ctx, int32_t sid, int32_t key);
/* Request `key` will get no answer: the POST failed (an HTTP error status, a
 * network failure) or its response ended unanswered and cannot be resumed.
 * It fails with `code` (an MS_ERR_*) and the message input[0..msg_len): an op
 * gets MS_FX_OP_DONE, a stream's tool call ends its stream, a lost
 * initialize or tools/list fails the session (it closes, once).
 * A request that is not waiting (answered, cancelled, unknown) is ignored. */
MS_EXPORT int32_t ms_session_request_failed(ms_ctx *ctx, int32_t sid, int32_t key,
                                            int32_t code, uint32_t msg_len);
/* The transport is gone (MS_CLOSE_*). input[0..msg_len) says why (may be 0).
 * Pending requests fail; streams using the session are woken; exactly one
 * session-close event is queued. Calling it again is a no-op. */
MS_EXPORT int32_t ms_session_closed(ms_ctx *ctx, int32_t sid, int32_t reason,
                                    uint32_t msg_len);
/* Overrides a limit for one session (a server's config): MS_LIMIT_MESSAGE_BYTES,
 * MS_LIMIT_TIMEOUT_MS or MS_LIMIT_MAX_TOTAL_TIMEOUT_MS. Call it before
 * ms_session_opened so that initialize is covered too. 0 or an error. */
MS_EXPORT int32_t ms_session_set_limit(ms_ctx *ctx, int32_t sid, int32_t which, int32_t value);
/* 1 when the session is initialized and usable, 0 while opening, or an error
 * (MS_ERR_TRANSPORT_CLOSED and friends) when it failed or closed. */
MS_EXPORT int32_t ms_session_state(ms_ctx *ctx, int32_t sid);
/* Sends a request: method = input[0..method_len), params JSON =
 * input[method_len..method_len+params_len) (params_len 0: none). Completion
 * (after the session is ready) is reported as MS_FX_OP_DONE for op_id.
 * timeout_ms > 0 overrides the session's timeout for this request (see Time). */
MS_EXPORT int32_t ms_session_request(ms_ctx *ctx, int32_t sid, int32_t op_id,
                                     int32_t flags, uint32_t method_len,
                                     uint32_t params_len, int32_t timeout_ms);
/* All tools of the session (every page), as MS_FX_OP_DONE for op_id with a
 * JSON array of tool objects. Cached until a list_changed notification. */
MS_EXPORT int32_t ms_session_list_tools(ms_ctx *ctx, int32_t sid, int32_t op_id);
/* Cancels request op_id: sends notifications/cancelled if it was sent, and
 * completes it with MS_ERR_CANCELLED (or MS_ERR_TIMEOUT when `timeout`). */
MS_EXPORT int32_t ms_session_cancel(ms_ctx *ctx, int32_t sid, int32_t op_id,
                                    int32_t timeout);
/* Closes every session owned by (owner, owner_id) that is not closed yet,
 * each exactly once, and reports MS_FX_OP_DONE for op_id when all are
 * closed (at once when there is none). */
MS_EXPORT int32_t ms_owner_close(ms_ctx *ctx, int32_t owner, int32_t owner_id,
                                 int32_t op_id);

/* ---- Streams (one agent run each) ------------------------------------ */

/* Creates a stream from the JSON config in input[0..len):
 *   { "model": str, "endpoint": str?, "systemPrompt": str?, "maxSteps": int?,
 *     "disallowedTools": [str]?, "own": [server name],
 *     "borrow": [session id], "query": str, "history": [message]? }
 * "endpoint" names the model endpoint in error messages of the model path
 * ("<endpoint>: <what happened>"; cut to 200 bytes), e.g. the request URL;
 * without it they name the model ("model '<model>': ..."). Nothing is opened
 * until the first ms_stream_next. "own" and "borrow" may come later, through
 * ms_stream_sessions; given here (either one, even empty) they count as
 * handed over. Returns the stream id; the stream is NEW: ms_stream_return /
 * _throw end it at once (nothing to close) and ms_stream_free frees it. */
MS_EXPORT int32_t ms_stream_new(ms_ctx *ctx, uint32_t len);
/* Hands a NEW stream the sessions it uses, from the JSON in input[0..len):
 *   { "own": [server name]?, "borrow": [session id]? }
 * (the host learns them after it made the stream: a client connecting).
 * Once per stream, before its first ms_stream_next: a second hand-over, or one
 * after the stream started or ended, is MS_ERR_STATE and changes nothing.
 * Returns 0 or a negative MS_ERR_* (MS_ERR_INVALID_ARGUMENT for a bad shape). */
MS_EXPORT int32_t ms_stream_sessions(ms_ctx *ctx, int32_t st, uint32_t len);
/* Advances the stream. Returns MS_YIELD, MS_EFFECTS, MS_WAIT, MS_DONE, or an
 * error once (after cleanup finished); after MS_DONE or an error it keeps
 * returning MS_DONE. */
MS_EXPORT int32_t ms_stream_next(ms_ctx *ctx, int32_t st);
/* Starts ending the stream (MS_END_*): aborts the model request, cancels its
 * in-flight MCP requests, closes the sessions the stream owns (each once).
 * Idempotent. Returns like ms_stream_next (MS_DONE when nothing to wait for). */
MS_EXPORT int32_t ms_stream_return(ms_ctx *ctx, int32_t st, int32_t why);
/* The consumer throws an error into the stream (throw(e)): ends it as
 * ms_stream_return(MS_END_THROW) does, and its stream-end event carries
 * input[0..reason_len) (the error's message, UTF-8; cut to 256 bytes; empty:
 * "throw") as its reason. Idempotent; a stream already ending keeps its
 * reason. Returns like ms_stream_return. */
MS_EXPORT int32_t ms_stream_throw(ms_ctx *ctx, int32_t st, uint32_t reason_len);
/* The step of the last MS_YIELD (JSON), or the message of the last error.
 * The pointer is borrowed: valid until the next call into the stream. A step
 * may come in parts (the final step of a long answer: its text is held in
 * pieces of about 1 MiB, never in one block): the step's JSON is the text of
 * this output followed by that of each part ms_stream_output_next moves to. */
MS_EXPORT const char *ms_stream_output_ptr(ms_ctx *ctx, int32_t st);
MS_EXPORT uint32_t ms_stream_output_len(ms_ctx *ctx, int32_t st);
/* Moves the output to the next part of the step (freeing the part read):
 * 1, and ms_stream_output_ptr/_len give that part; 0 when the step has no
 * more parts (the output stays as it was: the host stops); MS_ERR_BAD_HANDLE
 * for a stream freed or never made. Each part ends on a UTF-8 character
 * boundary, so each can be decoded on its own. */
MS_EXPORT int32_t ms_stream_output_next(ms_ctx *ctx, int32_t st);
/* The next part of the body of model request `seq` whose MS_FX_MODEL_REQUEST
 * had c = 1: its length (> 0), the bytes at ms_ctx_body_ptr (borrowed: the
 * context's buffer, valid until the next call); 0 when the body was read to
 * its end (the buffer is freed). Each part is rendered when it is asked for,
 * from the tool catalogue's spans (at most ~1 MiB, or one tool): the whole
 * request never exists in wasm memory. MS_ERR_STATE once read to its end or
 * once the request ended (aborted, answered, the stream ended);
 * MS_ERR_BAD_HANDLE for a stream freed; MS_ERR_NOMEM (then no more parts:
 * fail the request). */
MS_EXPORT int32_t ms_stream_model_body(ms_ctx *ctx, int32_t st, int32_t seq);
/* The part ms_stream_model_body returned last (borrowed). The buffer is the
 * context's, one for all streams, reused part after part: freed when a body
 * is read to its end, on MS_ERR_NOMEM, or with the context (a body left
 * half-read keeps its last part, ~1 MiB at most, until the next body read). */
MS_EXPORT const char *ms_ctx_body_ptr(ms_ctx *ctx);
/* Model response bytes (Server-Sent Events of chat.completion.chunk). */
MS_EXPORT int32_t ms_stream_model_feed(ms_ctx *ctx, int32_t st, int32_t seq,
                                       uint32_t len);
/* End of the model response. status 200: success; otherwise the HTTP status
 * (or 0 for a network failure) and input[0..len) the body or message. When the
 * body was a whole JSON response (not SSE), pass it here with status 200.
 * A negative status is the host's own verdict: the stream fails with that code
 * (MS_ERR_TIMEOUT, MS_ERR_LIMIT, MS_ERR_NOMEM or MS_ERR_LLM_PROTOCOL; any other
 * negative value is MS_ERR_LLM_HTTP) and input[0..len) as its message, verbatim. */
MS_EXPORT int32_t ms_stream_model_end(ms_ctx *ctx, int32_t st, int32_t seq,
                                      int32_t status, uint32_t len);
/* The error stream `st` ended with, taking nothing from it: 0 while it has
 * not ended, when it ended without an error, or once it reported that error;
 * else the error's code, with its message in ms_ctx_error_ptr/_len (as for a
 * failed call). Its steps and the error stay for ms_stream_next to report.
 * An ended stream holds only those (and the step handed out last): the core
 * released everything else when it ended. */
MS_EXPORT int32_t ms_stream_end_error(ms_ctx *ctx, int32_t st);
/* Frees a stream. Only allowed after it ended (else MS_ERR_STATE). */
MS_EXPORT int32_t ms_stream_free(ms_ctx *ctx, int32_t st);

#ifdef __cplusplus
}
#endif
#endif /* MCPSTREAM_H */

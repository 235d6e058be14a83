/* stream.h — the stream object, shared by the stream layer's files
 * (stream.c, stream_config.c, stream_model.c, stream_tools.c). Streams use
 * sessions only through the session functions of core.h. */
#ifndef MS_STREAM_H
#define MS_STREAM_H

#include "core.h"

#define ST_NEW 0
#define ST_SETUP 1
#define ST_MODEL_START 2
#define ST_MODEL 3
#define ST_TOOLS 4
#define ST_FINAL 5
#define ST_CLOSING 6
#define ST_ENDED 7

#define MS_THROW_REASON_MAX 256 /* bytes of a throw()'s message kept for its event */

/* A step's JSON: json[0..len), then, for a step in parts (the final step of
 * a long answer), the text of each piece of `more` in order (the host joins
 * them: ms_stream_output_next). Owned by the queue, then by `held`. */
typedef struct ms_step {
  char *json;
  size_t len;
  ms_piece *more;
} ms_step;

struct ms_stream {
  int32_t id;
  int state;
  ms_account *acct;   /* its memory budget (limits.streamMemoryBytes) */
  int err_code;       /* the failure to report once ENDED (0: none) */
  char *err_msg;      /* its message (owned, charged to no budget; NULL: it could
                         not be kept, ms__st_err_text has a stand-in) */
  uint32_t err_len;
  int reported;       /* the end was reported by ms_stream_next */
  int wake_queued;    /* an MS_FX_WAKE is queued and not yet answered */
  int sessions_given; /* own/borrow were handed over (config or ms_stream_sessions): once */
  const char *end_reason;
  char *end_message;  /* a throw()'s message: the stream-end event's reason (owned; NULL: none) */
  /* config */
  char *endpoint;     /* names the model endpoint in messages ("endpoint") */
  char *model;
  char *query;
  char *system_prompt;
  int max_steps;
  int32_t request_timeout; /* tools/call timeout in ms (0: each server's) */
  cJSON *disallowed;  /* array of names (NULL: none) */
  /* used by the first next() only, then freed (NULL: none) */
  cJSON *own;         /* array of server names to open */
  cJSON *borrow;      /* array of session ids */
  cJSON *history;     /* earlier messages */
  /* sessions used: owned ones were recorded before their OPEN */
  int32_t *sids;
  uint8_t *owned;
  size_t nsids;
  /* conversation */
  cJSON *messages;
  ms_catalog *cat;     /* the tools offered to the model: a reference to a shared
                          catalogue (catalog.c); NULL until built */
  int steps;
  /* token usage summed over the model turns that reported it (has_usage: any did) */
  int has_usage;
  double usage[3];
  /* model request */
  int32_t model_seq;
  int model_inflight;
  /* the model request in flight was queued as its head: the host reads its
   * "tools" array and tail with ms_stream_model_body (stream_model.c) */
  int body_left;      /* 1 while there is more of it to read */
  size_t body_next;   /* the catalogue's next tool to write */
  ms_sse sse;
  ms_llm_acc acc;
  /* tool calls of the last assistant message */
  cJSON *calls;       /* borrowed from the message in `messages` */
  int ncalls_done;
  int call_started;   /* a tools/call is in flight */
  int64_t call_rpc;
  int32_t call_sid;
  char *call_id;
  const ms_tool_ref *call_ref;
  /* steps ready for the consumer, and the one handed out */
  ms_step *q;
  size_t qhead, qlen, qcap;
  /* the output: the step handed out last (held, so handing it out cannot
   * fail), or, once reported, the end's error message (err_msg) */
  ms_step held;
  /* effect room reserved for its end (effects.c): flags of what is still held */
  int rsv_abort, rsv_cancel, rsv_end, rsv_wake;
  size_t rsv_cancel_event; /* bytes of the request-cancel event */
  size_t rsv_end_event;    /* bytes of the stream-end event */
};


/* stream.c */
/* Adds st to / removes it from the context's table. 0 or MS_ERR_NOMEM. */
int ms__add_stream(ms_ctx *ctx, ms_stream *st);
void ms__remove_stream(ms_ctx *ctx, ms_stream *st);
/* Frees a stream object and everything it owns (not its table entry). */
void ms__stream_free(ms_stream *st);
/* Drops what only a running stream needs (conversation, catalogue, config,
 * model accumulators): at its end, or once its final step is queued. */
void ms__st_release(ms_stream *st);
/* The stream with id, or NULL with *rc set (MS_ERR_BAD_HANDLE recorded on ctx). */
ms_stream *ms__st_get(ms_ctx *ctx, int32_t id, int32_t *rc);
/* Reserves / gives back the effects of the stream's end (stream.c explains). */
int ms__st_reserve_end(ms_ctx *ctx, ms_stream *st);
void ms__st_unreserve_end(ms_ctx *ctx, ms_stream *st);
/* Reserves the cancel of a tools/call on a server named with name_len bytes
 * (while the call is in flight) / gives it back. 0 or MS_ERR_NOMEM. */
int ms__st_reserve_cancel(ms_ctx *ctx, ms_stream *st, size_t name_len);
void ms__st_unreserve_cancel(ms_ctx *ctx, ms_stream *st);
/* Queues the stream's WAKE unless one is queued. */
void ms__st_wake(ms_ctx *ctx, ms_stream *st);
/* Queues a step printed from obj (obj is deleted, whatever happens). 0 or MS_ERR_NOMEM. */
int ms__st_push_step(ms_stream *st, cJSON *obj);
/* Queues a step already printed: json[0..len), NUL-terminated, seam memory the
 * stream takes (freed by it, whatever happens; NULL is MS_ERR_NOMEM). */
int ms__st_push_json(ms_stream *st, char *json, size_t len);
/* The same for a step in parts: json[0..len) then each piece of `more` (the
 * queue takes all of them, and frees them on failure). */
int ms__st_push_parts(ms_stream *st, char *json, size_t len, ms_piece *more);
/* Fails the stream with code and msg (copied): it goes to CLOSING. */
void ms__st_fail(ms_ctx *ctx, ms_stream *st, int code, const char *msg);

/* stream_model.c */
/* Fails the stream with an error of the model path, naming the endpoint. */
void ms__st_model_fail(ms_ctx *ctx, ms_stream *st, int code, const char *what);
/* Starts the next model turn (or fails the stream at maxSteps). 0 or MS_ERR_NOMEM. */
int ms__st_start_model(ms_ctx *ctx, ms_stream *st);
/* Queues a {type, text} step with text[0..len) (copied). 0 or MS_ERR_NOMEM. */
int ms__st_push_text(ms_stream *st, const char *type, const uint8_t *text, size_t len);

/* stream_tools.c */
/* Starts the next tool call, or records why it cannot run. Returns 0 when
 * the stream should wait, 1 to go on, negative on failure. */
int ms__st_run_next_call(ms_ctx *ctx, ms_stream *st);

#endif /* MS_STREAM_H */

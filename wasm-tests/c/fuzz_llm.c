/* fuzz_llm.c — libFuzzer target for the model side of a stream
 * (src/core/llm.c, stream.c): fuzzed bytes are the Server-Sent Events of the
 * model's first response, fed in fuzzer-chosen chunk sizes, then the
 * response ends.
 *
 * The stream owns one scripted server "everything" (tools echo and add,
 * played by host.h's auto-server, which answers tools/call with a text
 * result) and has maxSteps 3; later model requests get a scripted final
 * answer. Byte 0 picks the options, the rest is the SSE body:
 *
 *   byte 0: bits 0-3 chunk-size seed; bit 4 the body is a whole JSON response
 *           (given to ms_stream_model_end, not fed as SSE); bit 5 the response
 *           ends with HTTP 500 instead of 200; bit 6 a 512-byte event limit;
 *           bit 7 the consumer leaves (return) at the first tool_call step.
 *
 * Invariants (abort on violation): no crash (ASan/UBSan); the stream ends
 * (DONE or an error, once); the owned session gets exactly one CLOSE and one
 * session-close event; one stream-end event; no allocation live after
 * ms_ctx_free. */
#include "host.h"

#include "fuzz.h"

static const h_server servers[] = {
    {"everything", NULL,
     (const char *const[]){"{\"tools\":[{\"name\":\"echo\",\"inputSchema\":{\"type\":\"object\"}},{\"name\":\"add\"}]}"},
     1, NULL, 1, 0, 0, 0},
};
static const char *const later[] = {
    "data: {\"choices\":[{\"delta\":{\"content\":\"final\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
    "data: {\"choices\":[{\"delta\":{\"content\":\"final\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
};

typedef struct fuzz_in {
  const uint8_t *data;
  size_t size;
  uint8_t opt;
  int used;
} fuzz_in;

/* The first model request gets the fuzzed response. */
static int first_response(host *h, int st, int seq) {
  fuzz_in *in = h->user;
  if (in->used) return 0;
  in->used = 1;
  int status = in->opt & 0x20 ? 500 : 200;
  if (in->opt & 0x10) {
    h_in(h, in->data, in->size);
    ms_stream_model_end(h->ctx, st, seq, status, (uint32_t)in->size);
    return 1;
  }
  uint32_t seed = (uint32_t)(in->opt & 15) * 0x01000193u + 7;
  for (size_t off = 0, n; off < in->size; off += n) {
    n = 1 + fz_rand(&seed) % 97;
    if (n > in->size - off) n = in->size - off;
    CHECK(h_model_feed_n(h, st, seq, in->data + off, n) == 0);
  }
  h_model_end(h, st, seq, status, status == 200 ? NULL : "{\"error\":{\"message\":\"boom\"}}");
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  fuzz_in in = {data + 1, size - 1, data[0], 0};
  host h;
  CHECK(h_init(&h) == 0);
  h.quiet = !getenv("FUZZ_LOG"); /* FUZZ_LOG=1: print the effect log (debugging) */
  h.servers = servers;
  h.nservers = 1;
  h.model = later;
  h.nmodel = 2;
  h.on_model = first_response;
  h.user = &in;
  if (in.opt & 0x80) {
    h.return_at = "\"type\":\"tool_call\"";
    h.return_why = MS_END_RETURN;
  }
  if (in.opt & 0x40) ms_ctx_set_limit(h.ctx, MS_LIMIT_MESSAGE_BYTES, 512);
  int st = h_stream_new(&h, "{\"model\":\"m\",\"query\":\"q\",\"maxSteps\":3,\"own\":[\"everything\"]}");
  CHECK(st == 1);
  int rc = h_pump(&h, st);
  CHECK(rc <= MS_DONE);             /* it ended (never stuck) */
  CHECK(h_next(&h, st) == MS_DONE); /* and reports the end once */
  CHECK(ms_stream_free(h.ctx, st) == 0);
  CHECK(h.opens[2] == 1 && h.closes[2] == 1 && h.reported[2] == 1);
  CHECK(h.events_open[2] == 1 && h.events_close[2] == 1);
  CHECK(h.stream_ends == 1);
  CHECK(ms_ctx_sessions_open(h.ctx) == 0 && ms_ctx_streams_open(h.ctx) == 0);
  if (!h.quiet) fprintf(stderr, "%s", h_log(&h));
  h_free(&h);
  CHECK(ms_live_allocations() == 0);
  return 0;
}

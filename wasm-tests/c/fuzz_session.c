/* fuzz_session.c — libFuzzer target for the MCP client session
 * (src/core/session.c, jsonrpc.c, ctx.c) and what a stream does with a
 * borrowed session's messages (stream.c).
 *
 * Setup, before any fuzzed byte: a client session "everything" (id 1) with a
 * request in flight while opening (op 100, progress, JSON-RPC id 1), opened
 * (initialize is id 2), a tool-list wait (op 101: tools/list is id 3 once
 * ready), and a stream (id 2) borrowing it; whenever the stream asks the model,
 * the model calls the tool "echo" (its tools/call is the next id, 4 at first).
 * The server's side is the fuzzer's: byte 0 picks the options, the rest is
 * what the server writes, fed in fuzzer-chosen chunk sizes (NDJSON framing),
 * or split at "\n" into whole messages (ms_session_feed_message).
 *
 *   byte 0: bits 0-3 chunk-size seed, bit 4 whole messages, bit 5 a 256-byte
 *           message limit and a 64 KiB memory budget per stream and session,
 *           bit 6 the server exits at the end (else the client closes), bit 7
 *           the consumer leaves (return) before the end.
 *
 * Time: the clock advances 1 ms per chunk, requests time out after 40 ms
 * (20 ms in total for chunk seeds >= 8), so timeouts land anywhere in the
 * exchange; at the end every request left times out.
 *
 * Then the host ends everything: the stream is returned, the session closed
 * by its owner (or it exits), the stream runs to its end and is freed.
 * Invariants (abort on violation): no crash (ASan/UBSan), at most one CLOSE
 * and exactly one session-close event for the session, the stream reports
 * its end once and never closes the borrowed session, and after ms_ctx_free
 * no allocation is live. */
#include "host.h"

#include "fuzz.h"

static const char model_call[] =
    "data: {\"choices\":[{\"delta\":{\"content\":\"calling\",\"tool_calls\":[{\"index\":0,\"id\":\"c\","
    "\"function\":{\"name\":\"echo\",\"arguments\":\"{\\\"message\\\":\\\"hi\\\"}\"}}]}}]}\n\n"
    "data: [DONE]\n\n";
static const char model_final[] = "data: {\"choices\":[{\"delta\":{\"content\":\"done\"}}]}\n\n";

static int answer_model(host *h, int st, int seq) {
  /* the first turns call a tool, later ones answer */
  h_model_sse(h, st, seq, seq <= 2 ? model_call : model_final);
  return 1;
}

/* Takes effects and acts on model requests (the servers are the fuzzer). */
static void settle(host *h, int st) {
  for (int i = 0; i < 64; i++) {
    if (h_take(h) <= 0) break;
    for (size_t k = 0; k < h->nfx; k++)
      if (h->fx[k].kind == MS_FX_MODEL_REQUEST) answer_model(h, h->fx[k].a, h->fx[k].b);
  }
  for (int i = 0; i < 64; i++) {
    int rc = h_next(h, st);
    for (size_t k = 0; k < h->nfx; k++)
      if (h->fx[k].kind == MS_FX_MODEL_REQUEST) answer_model(h, h->fx[k].a, h->fx[k].b);
    if (rc != MS_YIELD && rc != MS_EFFECTS) break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t opt = data[0];
  data++;
  size--;
  host h;
  CHECK(h_init(&h) == 0);
  h.quiet = !getenv("FUZZ_LOG"); /* FUZZ_LOG=1: print the effect log (debugging) */
  if (opt & 0x20) {
    ms_ctx_set_limit(h.ctx, MS_LIMIT_MESSAGE_BYTES, 256);
    ms_ctx_set_limit(h.ctx, MS_LIMIT_STREAM_MEMORY_BYTES, 65536);
  }
  ms_ctx_set_limit(h.ctx, MS_LIMIT_TIMEOUT_MS, 40);
  if ((opt & 15) >= 8) ms_ctx_set_limit(h.ctx, MS_LIMIT_MAX_TOTAL_TIMEOUT_MS, 20);
  double now = 0;
  const int sid = 1, st = h_client_and_stream(&h, 0);
  CHECK(st == 2);
  settle(&h, st);

  uint32_t seed = (uint32_t)(opt & 15) * 0x01000193u + 1;
  for (size_t off = 0; off < size;) {
    size_t n;
    if (opt & 0x10) { /* one whole message per "\n" */
      const uint8_t *nl = memchr(data + off, '\n', size - off);
      n = nl ? (size_t)(nl - (data + off)) + 1 : size - off;
      h_in(&h, data + off, n - (nl ? 1 : 0));
      ms_session_feed_message(h.ctx, sid, (uint32_t)(n - (nl ? 1 : 0)));
    } else {
      n = 1 + fz_rand(&seed) % 64;
      if (n > size - off) n = size - off;
      CHECK(h_feed_n(&h, sid, data + off, n) == 0);
    }
    off += n;
    ms_ctx_tick(h.ctx, ++now);
    settle(&h, st);
  }
  CHECK(ms_ctx_next_deadline(h.ctx) == -1 || ms_ctx_next_deadline(h.ctx) > now);
  ms_ctx_tick(h.ctx, now + 1e9);
  CHECK(ms_ctx_next_deadline(h.ctx) == -1);
  settle(&h, st);

  /* the end */
  if (opt & 0x80) h_return(&h, st, MS_END_RETURN);
  if (opt & 0x40) {
    h_closed(&h, sid, MS_CLOSE_EXITED, "exited");
  } else {
    CHECK(ms_owner_close(h.ctx, MS_OWNER_CLIENT, 1, 102) == 0);
    h_take(&h);
    CHECK(h.closes[sid] == 1);
    h_closed(&h, sid, MS_CLOSE_CLOSED, NULL);
  }
  h_take(&h);
  int rc = MS_WAIT;
  for (int i = 0; i < 1000 && (rc == MS_WAIT || rc == MS_YIELD || rc == MS_EFFECTS); i++) {
    if (rc == MS_WAIT && i > 0) h_return(&h, st, MS_END_RETURN); /* nothing to wait for now */
    rc = h_next(&h, st);
    for (size_t k = 0; k < h.nfx; k++)
      if (h.fx[k].kind == MS_FX_MODEL_REQUEST) answer_model(&h, h.fx[k].a, h.fx[k].b);
  }
  CHECK(rc <= MS_DONE);             /* it ended */
  CHECK(h_next(&h, st) == MS_DONE); /* and reports the end once */
  CHECK(ms_stream_free(h.ctx, st) == 0);
  h_take(&h);
  CHECK(h.closes[sid] <= 1);
  CHECK(h.events_open[sid] == 1 && h.events_close[sid] == 1);
  CHECK(h.stream_ends == 1);
  CHECK(ms_ctx_sessions_open(h.ctx) == 0 && ms_ctx_streams_open(h.ctx) == 0);
  if (!h.quiet) fprintf(stderr, "%s", h_log(&h));
  h_free(&h);
  CHECK(ms_live_allocations() == 0);
  return 0;
}

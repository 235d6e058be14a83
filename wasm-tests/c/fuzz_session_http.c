/* fuzz_session_http.c — libFuzzer target for Streamable HTTP session input
 * (src/core/session_http.c): SSE responses keyed by request id, their ends,
 * and requests the host reports lost, against a client session and a stream
 * that borrows it (as in fuzz_session.c; the model calls "echo"). The session
 * declares sampling, elicitation and roots: the server requests for them that
 * the input carries are answered with ms_session_respond.
 *
 * The input is a list of records. Record header byte: bits 0-1 the action
 * (0, 1: SSE bytes; 2: end of that response; 3: that request lost), bits 2-4
 * the key (0 = the GET stream, else a request id 1-7), bits 5-7 with the next
 * byte the length of the SSE bytes that follow. Invariants (abort on
 * violation): no crash (ASan/UBSan), at most one CLOSE and exactly one
 * session-close event, the stream reports its end once, and no allocation is
 * live after ms_ctx_free. */
#include "host.h"

#include "cJSON.h"
#include "fuzz.h"

static const char model_call[] =
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\","
    "\"function\":{\"name\":\"echo\",\"arguments\":\"{}\"}}]}}]}\n\ndata: [DONE]\n\n";
static const char model_final[] = "data: {\"choices\":[{\"delta\":{\"content\":\"done\"}}]}\n\n";

/* Answers a server request routed to the host (MS_FX_SERVER_REQUEST): with its
 * id and a result, or an error when the id cannot be read back. */
static void answer(host *h, const h_fx *f) {
  cJSON *msg = cJSON_ParseWithLength(f->p, f->len);
  char *id = msg ? cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(msg, "id")) : NULL;
  const char *body = f->b == MS_CAP_ROOTS ? "{\"roots\":[]}" : "{}";
  h_respond(h, f->a, id ? id : "0", body, f->b == MS_CAP_SAMPLING ? -1 : 0);
  cJSON_free(id);
  cJSON_Delete(msg);
}

static void settle(host *h, int st) {
  for (int i = 0; i < 64; i++) {
    if (h_take(h) <= 0) break;
    for (size_t k = 0; k < h->nfx; k++) {
      if (h->fx[k].kind == MS_FX_MODEL_REQUEST)
        h_model_sse(h, h->fx[k].a, h->fx[k].b, h->fx[k].b <= 2 ? model_call : model_final);
      if (h->fx[k].kind == MS_FX_SERVER_REQUEST) answer(h, &h->fx[k]);
    }
  }
  for (int i = 0; i < 64; i++) {
    int rc = h_next(h, st);
    for (size_t k = 0; k < h->nfx; k++)
      if (h->fx[k].kind == MS_FX_MODEL_REQUEST)
        h_model_sse(h, h->fx[k].a, h->fx[k].b, h->fx[k].b <= 2 ? model_call : model_final);
    if (rc != MS_YIELD && rc != MS_EFFECTS) break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  host h;
  CHECK(h_init(&h) == 0);
  h.quiet = !getenv("FUZZ_LOG");
  ms_ctx_set_limit(h.ctx, MS_LIMIT_MESSAGE_BYTES, 512);
  const int sid = 1, st = h_client_and_stream(&h, MS_CAP_SAMPLING | MS_CAP_ELICITATION | MS_CAP_ROOTS);
  CHECK(st == 2);
  settle(&h, st);
  size_t off = 0;
  while (off < size) {
    uint8_t hd = data[off++];
    int action = hd & 3, key = (hd >> 2) & 7;
    if (action == 2) {
      CHECK(h_resp_end(&h, sid, key) >= 0 || ms_ctx_sessions_open(h.ctx) == 0);
    } else if (action == 3) {
      h_req_failed(&h, sid, key, MS_ERR_TRANSPORT_CLOSED, "lost");
    } else {
      size_t n = (size_t)(hd >> 5) << 8;
      if (off < size) n |= data[off++];
      if (n > size - off) n = size - off;
      h_sse_n(&h, sid, key, data + off, n);
      off += n;
    }
    settle(&h, st);
  }
  h_return(&h, st, MS_END_RETURN);
  CHECK(ms_owner_close(h.ctx, MS_OWNER_CLIENT, 1, 102) == 0);
  h_take(&h);
  CHECK(h.closes[sid] <= 1);
  h_closed(&h, sid, MS_CLOSE_CLOSED, NULL);
  h_take(&h);
  int rc = MS_WAIT;
  for (int i = 0; i < 1000 && (rc == MS_WAIT || rc == MS_YIELD || rc == MS_EFFECTS); i++) {
    if (rc == MS_WAIT && i > 0) h_return(&h, st, MS_END_RETURN);
    rc = h_next(&h, st);
  }
  CHECK(rc <= MS_DONE);
  CHECK(h_next(&h, st) == MS_DONE);
  CHECK(ms_stream_free(h.ctx, st) == 0);
  h_take(&h);
  CHECK(h.events_open[sid] == 1 && h.events_close[sid] == 1);
  CHECK(h.stream_ends == 1);
  h_free(&h);
  CHECK(ms_live_allocations() == 0);
  return 0;
}

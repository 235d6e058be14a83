/* test_session_http.c — session input for Streamable HTTP (src/core/
 * session_http.c and the SEND tags of session.c): SSE responses keyed by
 * request id, fed whole, byte by byte, split in two at every offset and in
 * chunks of every small size (the same messages and the same final cursor
 * whatever the chunking); the end of a response with or without its answer;
 * requests that get no answer; bad input; every allocation failing in turn.
 * Run from wasm-tests/. */
#include "host.h"
#include "t.h"

#define T_LOG(h, want)                                                          \
  do {                                                                          \
    t_checks++;                                                                 \
    if (strcmp(h_log(h), want) != 0)                                            \
      T_FAIL("log differs\n--- got\n%s--- want\n%s", h_log(h), (const char *)(want)); \
    h_clear(h);                                                                 \
  } while (0)

#define INIT_RESULT                                                                     \
  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-06-18\","       \
  "\"capabilities\":{},\"serverInfo\":{\"name\":\"e\",\"version\":\"1\"}}}"

/* An HTTP-style host with a client session (id 1) opened; initialize sent. */
static int opened(host *h) {
  if (h_init(h)) abort();
  h->show_http = 1;
  int sid = h_session_new(h, MS_OWNER_CLIENT, 7, "remote");
  h_take(h);
  h_opened(h, sid);
  h_take(h);
  h_clear(h);
  return sid;
}

/* ... and initialized through an SSE response; the log is cleared. */
static int ready(host *h) {
  int sid = opened(h);
  h_sse(h, sid, 1, "id: a1\ndata: " INIT_RESULT "\n\n");
  h_resp_end(h, sid, 1);
  h_take(h);
  h_clear(h);
  return sid;
}

/* ---- SEND tags ----------------------------------------------------------------- */

static void sends_should_tell_the_host_the_request_id_and_what_they_are(void) {
  host h;
  int sid = opened(&h);
  h_clear(&h);
  /* (initialize was SEND 1 1 1: checked through a fresh session) */
  h_free(&h);
  h_init(&h);
  h.show_http = 1;
  sid = h_session_new(&h, MS_OWNER_CLIENT, 7, "remote");
  h_take(&h);
  h_clear(&h);
  h_opened(&h, sid);
  h_take(&h);
  T_OK(h_has(&h, "SEND 1 1 1 {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\""));
  h_clear(&h);
  /* a request made before ready goes out after initialized, with its id */
  h_request(&h, sid, 40, 0, "ping", NULL);
  h_msg(&h, sid, INIT_RESULT);
  h_take(&h);
  T_LOG(&h, "PROTOCOL 1 2025-06-18\n"
            "SEND 1 0 2 {\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
            "SEND 1 2 0 {\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n");
  h_request(&h, sid, 41, 0, "tools/call", "{\"name\":\"x\"}");
  h_take(&h);
  T_OK(h_has(&h, "SEND 1 3 0 {\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\""));
  h_clear(&h);
  ms_session_cancel(h.ctx, sid, 41, 0);
  h_take(&h);
  T_OK(h_has(&h, "SEND 1 3 3 {\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":3"));
  /* a reply to a server request is untagged */
  h_clear(&h);
  h_msg(&h, sid, "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":\"ping\"}");
  h_take(&h);
  T_LOG(&h, "SEND 1 0 0 {\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"result\":{}}\n");
  h_free(&h);
}

/* ---- SSE responses --------------------------------------------------------------- */

/* A tools/call answered over SSE: a priming event, a progress notification,
 * a comment, an event of another type, then the result; CRLF line ends. */
static const char CALL_SSE[] =
    "\xEF\xBB\xBFid: p0\r\nretry: 1500\r\ndata:\r\n\r\n"
    ": keep-alive\r\n\r\n"
    "id: p1\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\r\n"
    "data: \"params\":{\"progressToken\":2,\"progress\":1,\"total\":2}}\r\n\r\n"
    "event: other\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"bogus\":true}}\r\n\r\n"
    "id: p2\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[]}}\r\n\r\n";

/* The log of a ready session's call fed in pieces of `chunk` bytes after a
 * first piece of `split` bytes, with SSE_CURSOR lines left out and the last
 * cursor put in *cursor. Returns a malloc'd log. */
static char *call_log(size_t split, size_t chunk, char *cursor, size_t cursor_cap, int *waits) {
  host h;
  int sid = ready(&h);
  h_request(&h, sid, 50, MS_REQ_PROGRESS, "tools/call", "{\"name\":\"x\"}");
  h_take(&h);
  h_clear(&h);
  size_t n = sizeof CALL_SSE - 1, i = 0;
  *waits = 0;
  cursor[0] = '\0';
  char *out = NULL;
  size_t outlen = 0;
  while (i < n) {
    size_t step = i == 0 && split ? split : chunk;
    if (step > n - i) step = n - i;
    int rc = h_sse_n(&h, sid, 2, CALL_SSE + i, step);
    i += step;
    if (rc == 1) (*waits)++;
    T_OK(rc == 0 || rc == 1);
    T_OK(rc == 1 || i + 1 >= n); /* answered by the last bytes (a CR ends the blank line) */
    h_take(&h);
    for (size_t k = 0; k < h.nfx; k++)
      if (h.fx[k].kind == MS_FX_SSE_CURSOR)
        snprintf(cursor, cursor_cap, "%d %d %s", h.fx[k].b, h.fx[k].c, h.fx[k].p);
    /* keep the log without cursor lines */
    const char *line = h_log(&h);
    while (*line) {
      const char *eol = strchr(line, '\n');
      size_t len = eol ? (size_t)(eol - line) + 1 : strlen(line);
      if (strncmp(line, "SSE_CURSOR", 10) != 0) {
        out = realloc(out, outlen + len + 1);
        memcpy(out + outlen, line, len);
        outlen += len;
        out[outlen] = '\0';
      }
      line += len;
    }
    h_clear(&h);
  }
  T_EQ(h_resp_end(&h, sid, 2), 0);
  h_free(&h);
  return out ? out : calloc(1, 1);
}

static void sse_response_should_give_the_same_messages_however_it_is_split(void) {
  char want_cursor[128], cursor[128];
  int waits;
  char *want = call_log(0, sizeof CALL_SSE, want_cursor, sizeof want_cursor, &waits);
  T_OK(strstr(want, "OP_PROGRESS 50 {\"progressToken\":2,\"progress\":1,\"total\":2}\n") != NULL);
  T_OK(strstr(want, "OP_DONE 50 0 {\"content\":[]}\n") != NULL);
  T_OK(strstr(want, "bogus") == NULL);                  /* another event type: skipped */
  T_OK(strstr(want, "LOG") == NULL);                    /* nothing malformed */
  T_OK(strcmp(want_cursor, "2 1500 p2") == 0);
  size_t n = sizeof CALL_SSE - 1;
  for (size_t chunk = 1; chunk <= 8; chunk++) {
    char *got = call_log(0, chunk, cursor, sizeof cursor, &waits);
    if (strcmp(got, want) != 0 || strcmp(cursor, want_cursor) != 0)
      T_FAIL("chunks of %zu: log\n%s\ncursor %s", chunk, got, cursor);
    free(got);
  }
  for (size_t split = 1; split < n; split++) {
    char *got = call_log(split, n, cursor, sizeof cursor, &waits);
    if (strcmp(got, want) != 0 || strcmp(cursor, want_cursor) != 0)
      T_FAIL("split at %zu: log\n%s\ncursor %s", split, got, cursor);
    t_checks++;
    free(got);
  }
  free(want);
}

static void sse_feed_should_report_the_cursor_only_when_it_moves(void) {
  host h;
  int sid = ready(&h);
  h_request(&h, sid, 50, 0, "ping", NULL);
  h_take(&h);
  h_clear(&h);
  T_EQ(h_sse(&h, sid, 2, "id: e1\ndata:\n\n"), 1);
  h_take(&h);
  T_LOG(&h, "SSE_CURSOR 1 2 -1 e1\n");
  T_EQ(h_sse(&h, sid, 2, ": ping\n\n"), 1);
  h_take(&h);
  T_LOG(&h, "");
  T_EQ(h_sse(&h, sid, 2, "retry: 20\n\n"), 1);
  h_take(&h);
  T_LOG(&h, "SSE_CURSOR 1 2 20 e1\n");
  /* the stream ends unanswered: the host may resume it (1), then gives up */
  T_EQ(h_resp_end(&h, sid, 2), 1);
  T_EQ(h_sse(&h, sid, 2, "id: e2\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n\n"), 0);
  h_take(&h);
  T_LOG(&h, "OP_DONE 50 0 {}\nSSE_CURSOR 1 2 -1 e2\n");
  T_EQ(h_resp_end(&h, sid, 2), 0);
  h_free(&h);
}

static void get_stream_should_take_server_requests_and_notifications(void) {
  host h;
  int sid = ready(&h);
  T_EQ(h_sse(&h, sid, 0, "data: {\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}\n\n"
                         "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"hi\"}}\n\n"),
       0);
  h_take(&h);
  T_LOG(&h, "SEND 1 0 0 {\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}}\n"
            "NOTIFICATION 1 {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"hi\"}}\n");
  T_EQ(h_resp_end(&h, sid, 0), 0);
  h_free(&h);
}

/* ---- answers that never come -------------------------------------------------------- */

static void a_response_that_ends_unanswered_should_fail_its_op_with_the_hosts_error(void) {
  host h;
  int sid = ready(&h);
  h_request(&h, sid, 50, 0, "tools/call", "{\"name\":\"x\"}");
  h_take(&h);
  h_clear(&h);
  T_EQ(h_sse(&h, sid, 2, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"res"), 1);
  T_EQ(h_resp_end(&h, sid, 2), 1); /* the half event is dropped */
  h_req_failed(&h, sid, 2, MS_ERR_TRANSPORT_CLOSED, "the server ended the response stream before answering");
  h_take(&h);
  T_LOG(&h, "OP_DONE 50 -6 the server ended the response stream before answering\n");
  /* a second report, or one for an answered or unknown id, is ignored */
  T_EQ(h_req_failed(&h, sid, 2, MS_ERR_TRANSPORT_CLOSED, "again"), 0);
  T_EQ(h_req_failed(&h, sid, 77, MS_ERR_TRANSPORT_CLOSED, "unknown"), 0);
  T_EQ(h_req_failed(&h, sid, 2, 3, "not an error code"), MS_ERR_INVALID_ARGUMENT);
  h_take(&h);
  T_LOG(&h, "");
  T_EQ(ms_session_state(h.ctx, sid), 1); /* the session goes on */
  h_free(&h);
}

static void a_failed_initialize_should_close_the_session_once_with_the_hosts_error(void) {
  host h;
  int sid = opened(&h);
  h_req_failed(&h, sid, 1, MS_ERR_CONNECT, "HTTP 503 from http://x/mcp: down");
  h_take(&h);
  T_OK(h_has(&h, "CLOSE 1\n"));
  h_closed(&h, sid, MS_CLOSE_CLOSED, "");
  T_EQ(ms_session_state(h.ctx, sid), MS_ERR_BAD_HANDLE); /* collected */
  T_EQ(h.closes[1], 1);
  h_free(&h);
  /* through a client's list_tools: the error says why */
  sid = opened(&h);
  ms_session_list_tools(h.ctx, sid, 60);
  h_req_failed(&h, sid, 1, MS_ERR_CONNECT, "HTTP 503 from http://x/mcp: down");
  h_take(&h);
  h_closed(&h, sid, MS_CLOSE_CLOSED, "");
  h_take(&h);
  T_OK(h_has(&h, "OP_DONE 60 -7 server 'remote': HTTP 503 from http://x/mcp: down\n"));
  h_free(&h);
}

static void a_lost_tools_list_should_fail_the_session_once(void) {
  host h;
  int sid = ready(&h);
  ms_session_list_tools(h.ctx, sid, 60);
  h_take(&h);
  h_clear(&h);
  h_req_failed(&h, sid, 2, MS_ERR_TRANSPORT_CLOSED, "HTTP 500: boom");
  h_take(&h);
  T_OK(h_has(&h, "CLOSE 1\n"));
  h_closed(&h, sid, MS_CLOSE_CLOSED, "");
  h_take(&h);
  T_OK(h_has(&h, "OP_DONE 60 -6 server 'remote': HTTP 500: boom\n"));
  T_EQ(h.closes[1], 1);
  h_free(&h);
}

static void bad_input_in_a_response_should_be_logged_and_skipped(void) {
  host h;
  int sid = ready(&h);
  ms_ctx_set_limit(h.ctx, MS_LIMIT_MESSAGE_BYTES, 64); /* for sessions made later */
  h_free(&h);
  h_init(&h);
  h.show_http = 1;
  ms_ctx_set_limit(h.ctx, MS_LIMIT_MESSAGE_BYTES, 200);
  sid = h_session_new(&h, MS_OWNER_CLIENT, 7, "remote");
  h_take(&h);
  h_opened(&h, sid);
  h_msg(&h, sid, INIT_RESULT);
  h_request(&h, sid, 50, 0, "ping", NULL);
  h_take(&h);
  h_clear(&h);
  char big[400];
  memset(big, 'x', sizeof big);
  memcpy(big, "data: ", 6);
  big[sizeof big - 3] = '\n';
  big[sizeof big - 2] = '\n';
  big[sizeof big - 1] = '\0';
  T_EQ(h_sse(&h, sid, 2, "data: not json\n\n"
                         "data: {\"jsonrpc\":\"1.0\",\"id\":2,\"result\":{}}\n\n"
                         "data: {\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{}}\n\n"), 1);
  h_take(&h);
  T_LOG(&h, "LOG 1 2 skipped malformed JSON from server 'remote': not json\n"
            "LOG 1 2 skipped a message from server 'remote' that is not JSON-RPC 2.0\n"
            "LOG 1 2 skipped a response from server 'remote' with an unknown or duplicate id\n");
  /* still waiting; a JSON body that does not answer leaves it waiting too */
  h_msg(&h, sid, "{\"hello\":1}");
  T_EQ(h_resp_end(&h, sid, 2), 1);
  /* an event over the limit on the request's own stream fails the request (as over
   * stdio) instead of leaving it waiting for an answer that was dropped */
  h_clear(&h);
  T_EQ(h_sse(&h, sid, 2, big), 0);
  h_take(&h);
  T_LOG(&h, "LOG 1 2 skipped a message from server 'remote' that is not JSON-RPC 2.0\n"
            "OP_DONE 50 -11 server 'remote': an event of the response to request 2 is over the "
            "200-byte message limit\n");
  /* on the GET stream (no request of its own) it is skipped and logged */
  h_clear(&h);
  T_EQ(h_sse(&h, sid, 0, big), 0);
  h_take(&h);
  T_LOG(&h, "LOG 1 2 skipped a server-sent event over the message size limit\n");
  T_EQ(ms_session_sse_feed(h.ctx, sid, -1, 0), MS_ERR_INVALID_ARGUMENT);
  T_EQ(ms_session_sse_feed(h.ctx, 99, 1, 0), MS_ERR_BAD_HANDLE);
  h_free(&h);
}

static void a_closed_session_should_ignore_late_responses(void) {
  host h;
  int sid = ready(&h);
  h_request(&h, sid, 50, 0, "ping", NULL);
  T_EQ(h_sse(&h, sid, 2, "id: 1\ndata:\n\n"), 1); /* a parser is held */
  ms_session_list_tools(h.ctx, sid, 61);          /* keeps nothing alive */
  ms_owner_close(h.ctx, MS_OWNER_CLIENT, 7, 62);
  h_take(&h);
  /* responses still arriving while closing are read */
  T_EQ(h_sse(&h, sid, 2, "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n\n"), 0);
  h_closed(&h, sid, MS_CLOSE_CLOSED, ""); /* frees the session and its parsers */
  T_EQ(ms_session_response_end(h.ctx, sid, 2), MS_ERR_BAD_HANDLE);
  h_free(&h);
}

static void responses_read_at_once_should_be_bounded(void) {
  host h;
  h_init(&h);
  ms_ctx_set_limit(h.ctx, MS_LIMIT_PENDING_REQUESTS, 2);
  int sid = h_session_new(&h, MS_OWNER_CLIENT, 7, "remote");
  h_opened(&h, sid);
  h_msg(&h, sid, INIT_RESULT);
  T_EQ(h_sse(&h, sid, 0, ""), 0);
  T_EQ(h_sse(&h, sid, 5, ""), 0);
  T_EQ(h_sse(&h, sid, 6, ""), 0);
  T_EQ(h_sse(&h, sid, 7, ""), MS_ERR_LIMIT);
  T_EQ(h_resp_end(&h, sid, 5), 0);
  T_EQ(h_sse(&h, sid, 7, ""), 0);
  h_free(&h);
}

/* ---- server requests the host answers ----------------------------------------------- */

static void declared_capabilities_should_route_those_server_requests_to_the_host(void) {
  host h;
  h_init(&h);
  int sid = h_session_new(&h, MS_OWNER_CLIENT, 7, "remote");
  T_EQ(ms_session_set_capabilities(h.ctx, sid, 64), MS_ERR_INVALID_ARGUMENT);
  T_EQ(ms_session_set_capabilities(h.ctx, sid, MS_CAP_SAMPLING | MS_CAP_ROOTS), 0);
  h_take(&h);
  h_clear(&h);
  h_opened(&h, sid);
  h_take(&h);
  T_OK(h_has(&h, "\"capabilities\":{\"sampling\":{},\"roots\":{}}"));
  T_EQ(ms_session_set_capabilities(h.ctx, sid, MS_CAP_ROOTS), MS_ERR_STATE); /* too late */
  h_msg(&h, sid, INIT_RESULT);
  h_take(&h);
  h_clear(&h);
  h_msg(&h, sid, "{\"jsonrpc\":\"2.0\",\"id\":\"r1\",\"method\":\"roots/list\"}");
  h_msg(&h, sid, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"sampling/createMessage\",\"params\":{\"maxTokens\":9}}");
  h_msg(&h, sid, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"elicitation/create\",\"params\":{}}");
  h_take(&h);
  T_LOG(&h, "SERVER_REQUEST 1 4 {\"jsonrpc\":\"2.0\",\"id\":\"r1\",\"method\":\"roots/list\"}\n"
            "SERVER_REQUEST 1 1 {\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"sampling/createMessage\",\"params\":{\"maxTokens\":9}}\n"
            "SEND 1 {\"jsonrpc\":\"2.0\",\"id\":6,\"error\":{\"code\":-32601,\"message\":\"Method not found: elicitation/create (mcpstream does not offer it yet)\"}}\n");
  T_EQ(h_respond(&h, sid, "\"r1\"", "{\"roots\":[]}", 0), 0);
  T_EQ(h_respond(&h, sid, "5", "the user said no", -1), 0);
  T_EQ(h_respond(&h, sid, "5", "[1]", 0), MS_ERR_INVALID_ARGUMENT);
  T_EQ(h_respond(&h, sid, "{}", "{}", 0), MS_ERR_INVALID_ARGUMENT);
  h_take(&h);
  T_LOG(&h, "SEND 1 {\"jsonrpc\":\"2.0\",\"id\":\"r1\",\"result\":{\"roots\":[]}}\n"
            "SEND 1 {\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-1,\"message\":\"the user said no\"}}\n");
  /* once the session is closing, answers are dropped; once it is gone, the id is unknown */
  h_clear(&h);
  T_EQ(ms_owner_close(h.ctx, MS_OWNER_CLIENT, 7, 99), 0);
  T_EQ(h_respond(&h, sid, "5", "{}", 0), 0);
  h_take(&h);
  T_OK(!h_has(&h, "SEND"));
  ms_session_closed(h.ctx, sid, MS_CLOSE_CLOSED, 0);
  T_EQ(h_respond(&h, sid, "5", "{}", 0), MS_ERR_BAD_HANDLE);
  h_free(&h);
}

/* ---- allocation failures -------------------------------------------------------- */

static void http_scenario(host *h) {
  int sid = h_session_new(h, MS_OWNER_CLIENT, 7, "remote");
  if (sid < 0) return;
  h_take(h);
  h_opened(h, sid);
  h_take(h);
  h_sse(h, sid, 1, "id: a\nretry: 5\ndata:\n\ndata: " INIT_RESULT "\n\n");
  h_resp_end(h, sid, 1);
  h_take(h);
  ms_session_list_tools(h->ctx, sid, 60);
  h_take(h);
  h_sse(h, sid, 2, "id: b\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[{\"name\":\"t\"}]}}\n\n");
  h_resp_end(h, sid, 2);
  h_request(h, sid, 61, 0, "ping", NULL);
  h_take(h);
  h_sse(h, sid, 3, "id: c\ndata:\n\n");
  h_resp_end(h, sid, 3);
  h_req_failed(h, sid, 3, MS_ERR_TRANSPORT_CLOSED, "lost");
  h_sse(h, sid, 0, "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n\n");
  h_take(h);
  ms_owner_close(h->ctx, MS_OWNER_CLIENT, 7, 62);
  h_take(h);
  h_closed(h, sid, MS_CLOSE_CLOSED, "");
  h_take(h);
}

static void http_session_should_survive_every_allocation_failure(void) {
  host h;
  h_init(&h);
  h.quiet = 1;
  ms_alloc_fail_at(0);
  ms_alloc_fail_at(0);
  http_scenario(&h);
  long total = ms_alloc_fail_at(0);
  h_free(&h);
  for (long i = 1; i <= total + 2; i++) {
    h_init(&h);
    h.quiet = 1;
    ms_alloc_fail_at(i);
    http_scenario(&h);
    ms_alloc_fail_at(0);
    h_free(&h);
    t_checks++;
  }
}

int main(void) {
  T_RUN(sends_should_tell_the_host_the_request_id_and_what_they_are);
  T_RUN(sse_response_should_give_the_same_messages_however_it_is_split);
  T_RUN(sse_feed_should_report_the_cursor_only_when_it_moves);
  T_RUN(get_stream_should_take_server_requests_and_notifications);
  T_RUN(a_response_that_ends_unanswered_should_fail_its_op_with_the_hosts_error);
  T_RUN(a_failed_initialize_should_close_the_session_once_with_the_hosts_error);
  T_RUN(a_lost_tools_list_should_fail_the_session_once);
  T_RUN(bad_input_in_a_response_should_be_logged_and_skipped);
  T_RUN(a_closed_session_should_ignore_late_responses);
  T_RUN(responses_read_at_once_should_be_bounded);
  T_RUN(declared_capabilities_should_route_those_server_requests_to_the_host);
  T_RUN(http_session_should_survive_every_allocation_failure);
  T_END();
}

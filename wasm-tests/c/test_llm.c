/* test_llm.c — OpenAI-compatible Chat Completions (src/core/llm.c): the
 * request body, streamed deltas assembled into the assistant message (text,
 * tool calls split across chunks, parallel calls interleaved), [DONE], an
 * error inside the stream, whole responses, HTTP error messages; then the
 * same through a stream (ms_stream_model_feed / _end) with the scripted host. */
#include "core.h"
#include "host.h"
#include "t.h"

/* ---- helpers ----------------------------------------------------------------- */

static char printed[8192]; /* the last printed JSON (libc memory) */

static const char *print_json(const cJSON *v) {
  char *s = v ? ms__json_print(v) : NULL;
  snprintf(printed, sizeof printed, "%s", s ? s : "(null)");
  ms_free(s);
  return printed;
}

static const char *acc_message(const ms_llm_acc *acc) {
  cJSON *m = ms_llm_acc_to_message(acc);
  print_json(m);
  cJSON_Delete(m);
  return printed;
}

static int chunk(ms_llm_acc *acc, const char *data, ms_buf *delta, ms_err *err) {
  return ms_llm_acc_chunk(acc, data, strlen(data), delta, err);
}

/* Applies every chunk in the NULL-terminated list; returns the first failure. */
static int chunks(ms_llm_acc *acc, const char *const *list, ms_buf *delta, ms_err *err) {
  for (; *list; list++) {
    int rc = chunk(acc, *list, delta, err);
    if (rc) return rc;
  }
  return 0;
}

#define T_BUF(b, want) T_MEM((b).data ? (const char *)(b).data : "", (b).len, want)

/* ---- request body ------------------------------------------------------------------ */

static void write_text(const void *user, char *out) { memcpy(out, user, strlen(user)); }

/* The request body for a tools array given as text (NULL or "": none), its
 * length checked against strlen. */
static char *request(const char *model, const cJSON *messages, const char *tools) {
  size_t len = 0;
  char *body = ms_llm_build_request(model, messages, tools ? strlen(tools) : 0, write_text, tools, &len);
  T_OK(body != NULL);
  if (body) T_EQ(len, strlen(body));
  return body;
}

static void request_should_carry_model_messages_and_stream_and_omit_empty_tools(void) {
  cJSON *messages = cJSON_Parse("[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"hi\"}]");
  char *body = request("gpt-x", messages, "");
  T_MEM(body, strlen(body),
        "{\"model\":\"gpt-x\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
        "{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
  ms_free(body);
  body = request("gpt-x", messages, NULL);
  T_OK(strstr(body, "\"tools\"") == NULL);
  ms_free(body);
  cJSON_Delete(messages);
}

static void request_should_include_tools_when_there_are_some(void) {
  cJSON *messages = cJSON_Parse("[{\"role\":\"user\",\"content\":\"\\\"q\\\"\"}]");
  const char *tools = "[{\"type\":\"function\",\"function\":{\"name\":\"echo\",\"parameters\":{\"type\":\"object\"}}}]";
  char *body = request("m", messages, tools);
  T_MEM(body, strlen(body),
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\\\"q\\\"\"}],\"tools\":"
        "[{\"type\":\"function\",\"function\":{\"name\":\"echo\",\"parameters\":{\"type\":\"object\"}}}],"
        "\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
  ms_free(body);
  /* the references do not steal the caller's values */
  T_EQ(cJSON_GetArraySize(messages), 1);
  cJSON_Delete(messages);
}

/* ---- streamed deltas --------------------------------------------------------------- */

static void chunks_should_assemble_text_deltas(void) {
  ms_llm_acc acc = {0};
  ms_buf delta = {0};
  ms_err err = {0};
  T_EQ(chunk(&acc, "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}", &delta, &err), 0);
  T_EQ(delta.len, 0);
  T_EQ(chunk(&acc, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}", &delta, &err), 0);
  T_BUF(delta, "Hel");
  ms_buf_reset(&delta);
  T_EQ(chunk(&acc, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\u00e9\\n\"},\"finish_reason\":null}]}", &delta, &err), 0);
  T_BUF(delta, "lo \xc3\xa9\n");
  T_EQ(acc.finished, 0);
  T_EQ(chunk(&acc, "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}", &delta, &err), 0);
  T_EQ(acc.finished, 1);
  T_EQ(chunk(&acc, "[DONE]", &delta, &err), 0);
  T_BUF(acc.content, "Hello \xc3\xa9\n");
  T_MEM(acc_message(&acc), strlen(printed), "{\"role\":\"assistant\",\"content\":\"Hello \xc3\xa9\\n\"}");
  T_EQ(err.code, 0);
  ms_buf_free(&delta);
  ms_llm_acc_free(&acc);
}

/* A long answer is held in pieces of MS_LLM_PIECE bytes, not in one block
 * that doubles as it grows (a 100 MB answer left a 128 MiB block and about as
 * much in holes in wasm memory). Each piece ends on a UTF-8 character
 * boundary (the host decodes each on its own), the pieces joined are the
 * text, and the history message (tool-call turns) still gets it whole. */
static void a_long_text_should_be_held_in_pieces_cut_on_characters(void) {
  ms_llm_acc acc = {0};
  ms_buf delta = {0}, want = {0}, line = {0};
  ms_err err = {0};
  /* "x" then units of 2-, 3- and 4-byte characters, a quote and a newline:
   * 1 MiB falls inside the 4-byte character of a unit */
  static const char unit[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"\nab"; /* é€😀"\nab: 13 bytes */
  T_EQ(ms_buf_append(&want, "x", 1), 0);
  while (want.len < 4 * MS_LLM_PIECE + 5000) T_EQ(ms_buf_append(&want, unit, sizeof unit - 1), 0);
  size_t done = 0;
  ms_alloc_peak_reset();
  long base = ms_live_bytes();
  while (done < want.len) { /* deltas of about 60 KB, each whole characters */
    size_t n = want.len - done < 60000 ? want.len - done : 60000;
    while (done + n < want.len && (want.data[done + n] & 0xC0) == 0x80) n++;
    ms_buf_reset(&line);
    T_EQ(ms_buf_append_str(&line, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":"), 0);
    T_EQ(ms_buf_append_json_string(&line, (const char *)want.data + done, n), 0);
    T_EQ(ms_buf_append_str(&line, "}}]}"), 0);
    T_EQ(ms_llm_acc_chunk(&acc, (const char *)line.data, line.len, &delta, &err), 0);
    ms_buf_reset(&delta);
    done += n;
  }
  T_EQ(ms_llm_acc_text_len(&acc), want.len);
  size_t at = 0, npieces = 0, cut = 0;
  for (const ms_piece *p = acc.pieces; p; p = p->next, npieces++) {
    T_OK(p->len <= MS_LLM_PIECE && p->len + 3 >= MS_LLM_PIECE);
    cut += p->len < MS_LLM_PIECE;
    T_OK(ms__json_utf8_valid((const char *)p->data, p->len)); /* whole characters */
    T_OK(memcmp(p->data, want.data + at, p->len) == 0);
    at += p->len;
  }
  T_EQ(npieces, 4);
  T_OK(cut >= 1); /* a character was not split: the piece ends before it */
  T_OK(ms__json_utf8_valid((const char *)acc.content.data, acc.content.len));
  T_OK(memcmp(acc.content.data, want.data + at, acc.content.len) == 0);
  T_EQ(at + acc.content.len, want.len);
  /* the pieces hold the text once: the most held is its size, the room of
   * the piece being filled (under 1 MiB) and the test's own line and delta
   * (~ 2 x 60 KB); not a block grown by doubling (8 MiB: 4 MiB over) */
  double over = (double)(ms_peak_bytes() - base) - (double)want.len;
  if (over > MS_LLM_PIECE + 400000) fprintf(stderr, "  held %.0f bytes over the text\n", over);
  T_OK(over <= MS_LLM_PIECE + 400000);
  /* the history's message has the whole text */
  cJSON *m = ms_llm_acc_to_message(&acc);
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
  T_OK(cJSON_IsString(c) && strlen(c->valuestring) == want.len && memcmp(c->valuestring, want.data, want.len) == 0);
  cJSON_Delete(m);
  /* flattened: one block with the same text */
  T_EQ(ms_llm_acc_flatten(&acc), 0);
  T_OK(acc.pieces == NULL && acc.content.len == want.len && memcmp(acc.content.data, want.data, want.len) == 0);
  ms_buf_free(&delta);
  ms_buf_free(&line);
  ms_buf_free(&want);
  ms_llm_acc_free(&acc);
}

static void chunks_should_ignore_chunks_without_choices(void) {
  ms_llm_acc acc = {0};
  ms_buf delta = {0};
  ms_err err = {0};
  T_EQ(chunk(&acc, "{\"choices\":[],\"usage\":{\"total_tokens\":3}}", &delta, &err), 0);
  T_EQ(chunk(&acc, "{\"object\":\"chat.completion.chunk\"}", &delta, &err), 0);
  T_EQ(chunk(&acc, "{\"choices\":[{\"delta\":{\"content\":null}}]}", &delta, &err), 0);
  T_EQ(acc.content.len, 0);
  T_MEM(acc_message(&acc), strlen(printed), "{\"role\":\"assistant\",\"content\":\"\"}");
  ms_buf_free(&delta);
  ms_llm_acc_free(&acc);
}

static void chunks_should_assemble_a_tool_call_whose_arguments_arrive_in_many_chunks(void) {
  static const char *const list[] = {
      "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_abc\",\"type\":\"function\",\"function\":{\"name\":\"echo\",\"arguments\":\"\"}}]}}]}",
      "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"\"}}]}}]}",
      "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"message\"}}]}}]}",
      "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\":\\\"hi\"}}]}}]}",
      "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\" there\\\"}\"}}]}}]}",
      "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}",
      "[DONE]",
      NULL};
  ms_llm_acc acc = {0};
  ms_buf delta = {0};
  ms_err err = {0};
  T_EQ(chunks(&acc, list, &delta, &err), 0);
  T_EQ(delta.len, 0);
  T_EQ(acc.ncalls, 1);
  T_MEM(acc_message(&acc), strlen(printed),
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_abc\",\"type\":\"function\","
        "\"function\":{\"name\":\"echo\",\"arguments\":\"{\\\"message\\\":\\\"hi there\\\"}\"}}]}");
  ms_buf_free(&delta);
  ms_llm_acc_free(&acc);
}

static void chunks_should_keep_parallel_tool_calls_apart_by_index(void) {
  static const char *const list[] = {
      "{\"choices\":[{\"delta\":{\"content\":\"Let me check.\"}}]}",
      "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_0\",\"type\":\"function\",\"function\":{\"name\":\"add\",\"arguments\":\"{\\\"a\\\":\"}}]}}]}",
      "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"echo\",\"arguments\":\"\"}}]}}]}",
      "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{\\\"message\\\"\"}}]}}]}",
      "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"2,\\\"b\\\":40}\"}}]}}]}",
      /* both in one chunk */
      "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\":\\\"x\\\"}\"}},{\"index\":0,\"function\":{\"arguments\":\"\"}}]}}]}",
      "{\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}",
      NULL};
  ms_llm_acc acc = {0};
  ms_buf delta = {0};
  ms_err err = {0};
  T_EQ(chunks(&acc, list, &delta, &err), 0);
  T_BUF(delta, "Let me check.");
  T_MEM(acc_message(&acc), strlen(printed),
        "{\"role\":\"assistant\",\"content\":\"Let me check.\",\"tool_calls\":["
        "{\"id\":\"call_0\",\"type\":\"function\",\"function\":{\"name\":\"add\",\"arguments\":\"{\\\"a\\\":2,\\\"b\\\":40}\"}},"
        "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"echo\",\"arguments\":\"{\\\"message\\\":\\\"x\\\"}\"}}]}");
  ms_buf_free(&delta);
  ms_llm_acc_free(&acc);
}

static void chunks_should_not_repeat_a_name_sent_in_every_delta(void) {
  static const char *const list[] = {
      "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"echo\",\"arguments\":\"{\"}}]}}]}",
      "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"echo\",\"arguments\":\"}\"}}]}}]}",
      NULL};
  ms_llm_acc acc = {0};
  ms_buf delta = {0};
  ms_err err = {0};
  T_EQ(chunks(&acc, list, &delta, &err), 0);
  T_BUF(acc.calls[0].name, "echo");
  T_BUF(acc.calls[0].args, "{}");
  T_BUF(acc.calls[0].id, "c");
  ms_buf_free(&delta);
  ms_llm_acc_free(&acc);
}

static void chunks_should_take_a_name_after_an_empty_one(void) {
  static const char *const list[] = {
      "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"\",\"arguments\":\"\"}}]}}]}",
      "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"echo\"}}]}}]}",
      "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"\"}}]}}]}",
      NULL};
  ms_llm_acc acc = {0};
  ms_buf delta = {0};
  ms_err err = {0};
  T_EQ(chunks(&acc, list, &delta, &err), 0);
  T_BUF(acc.calls[0].name, "echo");
  ms_buf_free(&delta);
  ms_llm_acc_free(&acc);
}

static void chunks_should_drop_calls_that_never_got_a_name(void) {
  static const char *const list[] = {
      "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":2,\"id\":\"c2\",\"function\":{\"name\":\"b\"}}]}}]}",
      "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c0\",\"function\":{\"arguments\":\"{}\"}}]}}]}",
      NULL};
  ms_llm_acc acc = {0};
  ms_buf delta = {0};
  ms_err err = {0};
  T_EQ(chunks(&acc, list, &delta, &err), 0);
  T_EQ(acc.ncalls, 3);
  T_MEM(acc_message(&acc), strlen(printed),
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c2\",\"type\":\"function\","
        "\"function\":{\"name\":\"b\",\"arguments\":\"\"}}]}");
  ms_buf_free(&delta);
  ms_llm_acc_free(&acc);
}

static void chunks_should_refuse_a_tool_call_index_out_of_range(void) {
  ms_llm_acc acc = {0};
  ms_buf delta = {0};
  ms_err err = {0};
  /* past the cap of parallel calls: a limit, named in the message */
  T_EQ(chunk(&acc, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":128,\"function\":{\"name\":\"x\"}}]}}]}", &delta, &err),
       MS_ERR_LIMIT);
  T_MEM(err.msg, err.len,
        "the model asked for more than 128 tool calls in one turn (a tool call with index 128); "
        "mcpstream runs at most 128 parallel tool calls per model turn");
  /* not an index at all: a broken response */
  T_EQ(chunk(&acc, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":-1,\"function\":{\"name\":\"x\"}}]}}]}", &delta, &err),
       MS_ERR_LLM_PROTOCOL);
  T_EQ(chunk(&acc, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1.5,\"function\":{\"name\":\"x\"}}]}}]}", &delta, &err),
       MS_ERR_LLM_PROTOCOL);
  T_EQ(chunk(&acc, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1e300,\"function\":{\"name\":\"x\"}}]}}]}", &delta, &err),
       MS_ERR_LIMIT);
  T_EQ(chunk(&acc, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":127,\"function\":{\"name\":\"x\"}}]}}]}", &delta, &err), 0);
  T_EQ(acc.ncalls, 128);
  ms_buf_free(&delta);
  ms_llm_acc_free(&acc);
}

static void message_should_refuse_more_tool_calls_than_the_cap(void) {
  char *json = malloc(129 * 64 + 64);
  size_t n = (size_t)sprintf(json, "{\"role\":\"assistant\",\"tool_calls\":[");
  for (int i = 0; i < 129; i++)
    n += (size_t)sprintf(json + n, "%s{\"id\":\"c%d\",\"function\":{\"name\":\"t\",\"arguments\":\"{}\"}}", i ? "," : "", i);
  sprintf(json + n, "]}");
  ms_llm_acc acc = {0};
  ms_err err = {0};
  T_EQ(ms_llm_acc_message(&acc, json, strlen(json), &err), MS_ERR_LIMIT);
  T_MEM(err.msg, err.len,
        "the model asked for more than 128 tool calls in one turn; mcpstream runs at most 128 "
        "parallel tool calls per model turn");
  ms_llm_acc_free(&acc);
  /* 128 are fine */
  strcpy(strstr(json, ",{\"id\":\"c128\""), "]}");
  T_EQ(ms_llm_acc_message(&acc, json, strlen(json), &err), 0);
  T_EQ(acc.ncalls, 128);
  ms_llm_acc_free(&acc);
  free(json);
}

static void chunks_should_report_an_error_object_inside_the_stream(void) {
  ms_llm_acc acc = {0};
  ms_buf delta = {0};
  ms_err err = {0};
  T_EQ(chunk(&acc, "{\"error\":{\"message\":\"The server is overloaded\",\"type\":\"server_error\"}}", &delta, &err),
       MS_ERR_LLM_HTTP);
  T_MEM(err.msg, err.len, "model endpoint reported an error: The server is overloaded");
  T_EQ(chunk(&acc, "{\"error\":\"quota\"}", &delta, &err), MS_ERR_LLM_HTTP);
  T_MEM(err.msg, err.len, "model endpoint reported an error: quota");
  T_EQ(chunk(&acc, "{\"error\":{\"code\":500}}", &delta, &err), MS_ERR_LLM_HTTP);
  T_MEM(err.msg, err.len, "model endpoint reported an error: (no message)");
  ms_buf_free(&delta);
  ms_llm_acc_free(&acc);
}

static void chunks_should_accept_a_null_error_member(void) {
  ms_llm_acc acc = {0};
  ms_buf delta = {0};
  ms_err err = {0};
  T_EQ(chunk(&acc, "{\"error\":null,\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}", &delta, &err), 0);
  T_BUF(acc.content, "ok");
  ms_buf_free(&delta);
  ms_llm_acc_free(&acc);
}

static void chunks_should_refuse_malformed_json_but_skip_empty_data(void) {
  ms_llm_acc acc = {0};
  ms_buf delta = {0};
  ms_err err = {0};
  T_EQ(chunk(&acc, "", &delta, &err), 0); /* a keep-alive "data:" line */
  T_EQ(chunk(&acc, " \r\n", &delta, &err), 0);
  T_EQ(chunk(&acc, "{\"choices\":[", &delta, &err), MS_ERR_LLM_PROTOCOL);
  T_MEM(err.msg, err.len, "model stream sent malformed JSON: {\"choices\":[");
  T_EQ(chunk(&acc, "[DONE] ", &delta, &err), MS_ERR_LLM_PROTOCOL);
  ms_buf_free(&delta);
  ms_llm_acc_free(&acc);
}

/* ---- whole responses ------------------------------------------------------------------ */

static void message_should_take_a_whole_chat_completion(void) {
  ms_llm_acc acc = {0};
  ms_err err = {0};
  const char *body =
      "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
      "\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_9\",\"type\":\"function\","
      "\"function\":{\"name\":\"add\",\"arguments\":\"{\\\"a\\\":1}\"}},{\"id\":\"call_10\",\"type\":"
      "\"function\",\"function\":{\"name\":\"echo\",\"arguments\":{\"message\":\"obj\"}}}]},"
      "\"finish_reason\":\"tool_calls\"}]}";
  T_EQ(ms_llm_acc_message(&acc, body, strlen(body), &err), 0);
  T_EQ(acc.finished, 1);
  T_MEM(acc_message(&acc), strlen(printed),
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_9\",\"type\":\"function\","
        "\"function\":{\"name\":\"add\",\"arguments\":\"{\\\"a\\\":1}\"}},{\"id\":\"call_10\",\"type\":"
        "\"function\",\"function\":{\"name\":\"echo\",\"arguments\":\"{\\\"message\\\":\\\"obj\\\"}\"}}]}");
  ms_llm_acc_free(&acc);
}

static void message_should_take_a_bare_assistant_message_and_text_parts(void) {
  ms_llm_acc acc = {0};
  ms_err err = {0};
  const char *bare = "{\"role\":\"assistant\",\"content\":\"42\"}";
  T_EQ(ms_llm_acc_message(&acc, bare, strlen(bare), &err), 0);
  T_MEM(acc_message(&acc), strlen(printed), "{\"role\":\"assistant\",\"content\":\"42\"}");
  ms_llm_acc_free(&acc);
  const char *parts = "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"image\"},{\"type\":\"text\",\"text\":\"b\"}]}";
  T_EQ(ms_llm_acc_message(&acc, parts, strlen(parts), &err), 0);
  T_BUF(acc.content, "ab");
  ms_llm_acc_free(&acc);
}

static void message_should_refuse_what_is_not_an_assistant_message(void) {
  static const struct { const char *body; int rc; const char *msg; } cases[] = {
      {"not json", MS_ERR_LLM_PROTOCOL, "model response is not JSON: not json"},
      {"[1]", MS_ERR_LLM_PROTOCOL, "model response is not an assistant message"},
      {"{\"choices\":[]}", MS_ERR_LLM_PROTOCOL, "model response has no choices[0].message"},
      {"{\"choices\":[{\"message\":\"x\"}]}", MS_ERR_LLM_PROTOCOL, "model response has no choices[0].message"},
      {"{\"error\":{\"message\":\"bad key\"}}", MS_ERR_LLM_HTTP, "model endpoint reported an error: bad key"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ms_llm_acc acc = {0};
    ms_err err = {0};
    T_EQ(ms_llm_acc_message(&acc, cases[i].body, strlen(cases[i].body), &err), cases[i].rc);
    T_MEM(err.msg, err.len, cases[i].msg);
    ms_llm_acc_free(&acc);
  }
}

/* ---- HTTP errors ------------------------------------------------------------------------ */

static void http_error_should_give_the_message_and_a_hint(void) {
  static const struct { int status; const char *body; const char *msg; } cases[] = {
      {401, "{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":\"invalid_request_error\"}}",
       "model endpoint answered HTTP 401 (check llm.apiKey / OPENAI_API_KEY): Incorrect API key provided"},
      {403, "forbidden", "model endpoint answered HTTP 403 (check llm.apiKey / OPENAI_API_KEY): forbidden"},
      {404, "{\"error\":\"model not found\"}",
       "model endpoint answered HTTP 404 (check llm.baseURL and llm.model): model not found"},
      {429, "{\"message\":\"slow down\"}", "model endpoint answered HTTP 429 (rate limited: retry later): slow down"},
      {500, "", "model endpoint answered HTTP 500: (empty body)"},
      {502, "<html>Bad gateway</html>", "model endpoint answered HTTP 502: <html>Bad gateway</html>"},
      {0, "connect ECONNREFUSED 127.0.0.1:8080", "model request failed: connect ECONNREFUSED 127.0.0.1:8080"},
      {0, "", "model request failed: (empty body)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ms_err err = {0};
    ms_llm_http_error(&err, cases[i].status, cases[i].body, strlen(cases[i].body));
    T_EQ(err.code, MS_ERR_LLM_HTTP);
    T_MEM(err.msg, err.len, cases[i].msg);
  }
}

static void http_error_should_give_the_hint_before_a_body_that_may_be_cut(void) {
  char body[2000];
  memset(body, 'x', sizeof body);
  ms_err err = {0};
  ms_llm_http_error(&err, 401, body, sizeof body);
  T_OK(strncmp(err.msg, "model endpoint answered HTTP 401 (check llm.apiKey / OPENAI_API_KEY): xxx", 70) == 0);
}

static void http_error_should_cut_a_long_body(void) {
  char body[1000];
  memset(body, 'x', sizeof body);
  ms_err err = {0};
  ms_llm_http_error(&err, 500, body, sizeof body);
  T_EQ(err.len, strlen("model endpoint answered HTTP 500: ") + 200);
}

/* ---- through a stream ------------------------------------------------------------------ */

/* A stream without servers, its model request (seq 1) issued; log cleared. */
static int model_stream(host *h, const char *config) {
  if (h_init(h)) abort();
  h->hide_wake = 1;
  int st = h_stream_new(h, config ? config : "{\"model\":\"m\",\"query\":\"hi\"}");
  h_run(h, st);
  h_clear(h);
  return st;
}

static void stream_should_yield_text_steps_from_sse_chunks_and_a_final_step(void) {
  host h;
  int st = model_stream(&h, NULL);
  T_EQ(h.model_seq[st], 1);
  h_model_feed(&h, st, 1, "data: {\"choices\":[{\"delta\":{\"content\":\"4\"}}]}\n\ndata: {\"choices\":[{\"delta\":");
  h_model_feed(&h, st, 1, "{\"content\":\"2\"}}]}\r\n\r\n: keep-alive\n\ndata: [DONE]\n\n");
  h_take(&h);
  h_model_end(&h, st, 1, 200, NULL);
  h_take(&h);
  T_EQ(h_run(&h, st), MS_DONE);
  T_MEM(h_log(&h), strlen(h_log(&h)),
        "STEP {\"type\":\"text\",\"text\":\"4\"}\n"
        "STEP {\"type\":\"text\",\"text\":\"2\"}\n"
        "STEP {\"type\":\"final\",\"text\":\"42\",\"reason\":\"stop\",\"usage\":null}\n"
        "DONE\n" /* a status is logged before the effects of its call */
        "EVENT {\"kind\":\"stream-end\",\"server\":null,\"sessionId\":null,\"owner\":null,\"streamId\":1,\"reason\":\"completed\"}\n");
  T_EQ(ms_stream_free(h.ctx, st), 0);
  h_free(&h);
}

static void final_step_should_sum_usage_over_turns_and_carry_the_last_finish_reason(void) {
  host h;
  int st = model_stream(&h, NULL);
  /* turn 1: a tool nobody offers (an error observation, nothing called), usage in its own chunk */
  h_model_feed(&h, st, 1,
               "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":"
               "{\"name\":\"nope\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}],\"usage\":null}\n\n"
               "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2,\"total_tokens\":12}}\n\n"
               "data: [DONE]\n\n");
  h_model_end(&h, st, 1, 200, NULL);
  h_run(&h, st);
  T_EQ(h.model_seq[st], 2);
  /* turn 2: cut by the model's token limit; no total_tokens: prompt + completion */
  h_model_feed(&h, st, 2,
               "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"length\"}]}\n\n"
               "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n");
  h_model_end(&h, st, 2, 200, NULL);
  h_take(&h);
  T_EQ(h_run(&h, st), MS_DONE);
  T_OK(h_has(&h, "STEP {\"type\":\"final\",\"text\":\"ok\",\"reason\":\"length\",\"usage\":{\"promptTokens\":30,"
                 "\"completionTokens\":5,\"totalTokens\":35}}\n"));
  T_OK(h_has(&h, "\"stream_options\":{\"include_usage\":true}"));
  h_free(&h);
  /* a whole response: its usage and finish_reason */
  st = model_stream(&h, NULL);
  h_model_end(&h, st, 1, 200, "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"w\"},"
                               "\"finish_reason\":\"content_filter\"}],\"usage\":{\"prompt_tokens\":7,"
                               "\"completion_tokens\":1,\"total_tokens\":8}}");
  h_take(&h);
  h_run(&h, st);
  T_OK(h_has(&h, "STEP {\"type\":\"final\",\"text\":\"w\",\"reason\":\"content_filter\",\"usage\":{\"promptTokens\":7,"
                 "\"completionTokens\":1,\"totalTokens\":8}}\n"));
  h_free(&h);
}

/* A long answer is held about once: its final step is made where the answer
 * was accumulated, with no tree and no copy (before: the answer in the
 * history, a copy, the tree's string and the printed step besides it, ~6x). */
static void a_long_streamed_answer_should_fit_a_budget_of_twice_its_size(void) {
  enum { PIECES = 1000, PIECE = 1000 }; /* 1,000,000 bytes of text */
  static char piece[PIECE + 1], ev[PIECE + 128];
  memset(piece, 'x', PIECE);
  host h;
  if (h_init(&h)) abort();
  h.hide_wake = 1;
  T_EQ(ms_ctx_set_limit(h.ctx, MS_LIMIT_STREAM_MEMORY_BYTES, 2 * PIECES * PIECE), 0);
  int st = h_stream_new(&h, "{\"model\":\"m\",\"query\":\"hi\"}");
  h_run(&h, st);
  for (int i = 0; i < PIECES; i++) {
    snprintf(ev, sizeof ev, "data: {\"choices\":[{\"delta\":{\"content\":\"%s\"}}]}\n\n", piece);
    h_model_feed(&h, st, 1, ev);
    h_take(&h);
    h_run(&h, st);
    h_clear(&h); /* the text steps are taken as they come */
  }
  h_model_feed(&h, st, 1, "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
  h_model_end(&h, st, 1, 200, NULL);
  h_take(&h);
  T_EQ(h_run(&h, st), MS_DONE);
  const char *fin = strstr(h_log(&h), "STEP {\"type\":\"final\",\"text\":\"xxx");
  T_OK(fin != NULL);
  if (fin) {
    const char *tail = fin + strlen("STEP {\"type\":\"final\",\"text\":\"") + PIECES * PIECE;
    static const char want[] = "\",\"reason\":\"stop\",\"usage\":null}\n";
    T_OK(strncmp(tail, want, strlen(want)) == 0);
  }
  T_OK(!h_has(&h, "ERROR"));
  h_free(&h);
}

/* The final step writes the answer as a cJSON print of it would: every
 * escape, a "\u0000" that came in, UTF-8 and a surrogate pair. */
static void final_step_should_escape_its_text_as_the_text_steps_do(void) {
  host h;
  int st = model_stream(&h, NULL);
  h_model_feed(&h, st, 1, "data: {\"choices\":[{\"delta\":{\"content\":\"a\\\"b\\\\\\n\\r\\t\\b\\f\"}}]}\n\n");
  h_model_feed(&h, st, 1, "data: {\"choices\":[{\"delta\":{\"content\":\"\\u0000\\u0001\\u001f/\\u00e9\\ud83d\\ude00\"}}]}\n\n");
  h_model_feed(&h, st, 1, "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
  h_model_end(&h, st, 1, 200, NULL);
  h_take(&h);
  T_EQ(h_run(&h, st), MS_DONE);
  T_OK(h_has(&h, "STEP {\"type\":\"text\",\"text\":\"a\\\"b\\\\\\n\\r\\t\\b\\f\"}\n"));
  T_OK(h_has(&h, "STEP {\"type\":\"text\",\"text\":\"\\u0000\\u0001\\u001f/\xC3\xA9\xF0\x9F\x98\x80\"}\n"));
  T_OK(h_has(&h, "STEP {\"type\":\"final\",\"text\":\"a\\\"b\\\\\\n\\r\\t\\b\\f\\u0000\\u0001\\u001f/\xC3\xA9\xF0\x9F\x98\x80\","
                 "\"reason\":\"stop\",\"usage\":null}\n"));
  h_free(&h);
  /* an empty answer */
  st = model_stream(&h, NULL);
  h_model_feed(&h, st, 1, "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
  h_model_end(&h, st, 1, 200, NULL);
  h_take(&h);
  T_EQ(h_run(&h, st), MS_DONE);
  T_OK(h_has(&h, "STEP {\"type\":\"final\",\"text\":\"\",\"reason\":\"stop\",\"usage\":null}\n"));
  h_free(&h);
}

static void stream_should_take_a_whole_json_response_at_the_end(void) {
  host h;
  int st = model_stream(&h, NULL);
  h_model_end(&h, st, 1, 200, "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"whole\"}}]}");
  h_take(&h);
  h_run(&h, st);
  T_EQ(h_count(&h, "STEP {\"type\":\"text\",\"text\":\"whole\"}\nSTEP {\"type\":\"final\",\"text\":\"whole\",\"reason\":\"stop\",\"usage\":null}\n"), 1);
  T_EQ(h_count(&h, "DONE\n"), 1);
  h_free(&h);
}

static void stream_should_fail_with_the_http_error_of_the_model(void) {
  host h;
  int st = model_stream(&h, NULL);
  h_model_end(&h, st, 1, 401, "{\"error\":{\"message\":\"Invalid key\"}}");
  h_take(&h);
  T_EQ(h_run(&h, st), MS_ERR_LLM_HTTP);
  T_OK(h_has(&h, "ERROR -9 model 'm': model endpoint answered HTTP 401 (check llm.apiKey / OPENAI_API_KEY): Invalid key\n"));
  T_EQ(h.model_aborts[st], 0); /* the request had ended */
  T_EQ(h_run(&h, st), MS_DONE);
  h_free(&h);
}

static void stream_should_fail_with_the_hosts_own_code_for_a_negative_status(void) {
  static const int codes[][2] = {{MS_ERR_TIMEOUT, MS_ERR_TIMEOUT},
                                 {MS_ERR_LIMIT, MS_ERR_LIMIT},
                                 {MS_ERR_NOMEM, MS_ERR_NOMEM},
                                 {MS_ERR_LLM_PROTOCOL, MS_ERR_LLM_PROTOCOL},
                                 {MS_ERR_ABORTED, MS_ERR_LLM_HTTP}, /* not the host's to claim */
                                 {-999, MS_ERR_LLM_HTTP}};
  for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
    host h;
    int st = model_stream(&h, NULL);
    T_EQ(h_model_end(&h, st, 1, codes[i][0], "no first byte from http://m/v1 within 5 ms"), 0);
    h_take(&h);
    T_EQ(h_run(&h, st), codes[i][1]);
    T_OK(h_has(&h, " no first byte from http://m/v1 within 5 ms\n"));
    T_EQ(h.model_aborts[st], 0); /* the request had ended */
    T_EQ(h_run(&h, st), MS_DONE);
    h_free(&h);
  }
}

/* Every error of the model path names the endpoint (the stream's "endpoint",
 * the URL the host posts to) and what happened. */
static void stream_errors_should_name_the_endpoint(void) {
  static const char *const cfg = "{\"model\":\"m\",\"endpoint\":\"http://m.test/v1/chat/completions\",\"query\":\"hi\"}";
  host h;
  int st = model_stream(&h, cfg);
  h_model_end(&h, st, 1, 429, "{\"error\":{\"message\":\"Rate limit reached\"}}");
  h_take(&h);
  T_EQ(h_run(&h, st), MS_ERR_LLM_HTTP);
  T_OK(h_has(&h, "ERROR -9 http://m.test/v1/chat/completions: model endpoint answered HTTP 429 (rate limited: retry later): Rate limit reached\n"));
  h_free(&h);
  /* a stream error, a protocol error, a cut stream */
  static const struct { const char *feed; int code; const char *msg; } rows[] = {
      {"data: {\"error\":{\"message\":\"context length exceeded\"}}\n\n", MS_ERR_LLM_HTTP,
       "ERROR -9 http://m.test/v1/chat/completions: model endpoint reported an error: context length exceeded\n"},
      {"data: {oops}\n\n", MS_ERR_LLM_PROTOCOL, "ERROR -10 http://m.test/v1/chat/completions: model stream sent malformed JSON: {oops}\n"},
      {"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n", MS_ERR_LLM_PROTOCOL,
       "ERROR -10 http://m.test/v1/chat/completions: the model's response stream ended before its finish_reason or [DONE]"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    st = model_stream(&h, cfg);
    h_model_feed(&h, st, 1, rows[i].feed);
    h_model_end(&h, st, 1, 200, NULL);
    h_take(&h);
    T_EQ(h_run(&h, st), rows[i].code);
    if (!h_has(&h, rows[i].msg)) T_FAIL("want %s in\n%s", rows[i].msg, h_log(&h));
    t_checks++;
    h_free(&h);
  }
  /* a network failure: the host's message names the URL already */
  st = model_stream(&h, cfg);
  h_model_end(&h, st, 1, 0, "could not reach the model at POST http://m.test/v1/chat/completions: ECONNREFUSED");
  h_take(&h);
  T_EQ(h_run(&h, st), MS_ERR_LLM_HTTP);
  T_OK(h_has(&h, "ERROR -9 model request failed: could not reach the model at POST http://m.test/v1/chat/completions: ECONNREFUSED\n"));
  h_free(&h);
}

static void stream_should_fail_on_an_error_event_and_abort_the_request(void) {
  host h;
  int st = model_stream(&h, NULL);
  h_model_feed(&h, st, 1, "data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\n"
                          "data: {\"error\":{\"message\":\"context length exceeded\"}}\n\n"
                          "data: {\"choices\":[{\"delta\":{\"content\":\"never\"}}]}\n\n");
  h_take(&h);
  T_OK(h_has(&h, "MODEL_ABORT 1 1\n"));
  T_EQ(h_run(&h, st), MS_ERR_LLM_HTTP);
  T_OK(!h_has(&h, "never"));
  T_OK(h_has(&h, "ERROR -9 model 'm': model endpoint reported an error: context length exceeded\n"));
  /* late feeds of the aborted request are ignored */
  T_EQ(h_model_feed(&h, st, 1, "data: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n"), 0);
  T_EQ(h_model_end(&h, st, 1, 200, NULL), 0);
  T_EQ(h_run(&h, st), MS_DONE);
  T_OK(!h_has(&h, "late"));
  h_free(&h);
}

static void stream_should_fail_on_malformed_json_in_the_stream(void) {
  host h;
  int st = model_stream(&h, NULL);
  h_model_feed(&h, st, 1, "data: {oops}\n\n");
  h_take(&h);
  T_EQ(h_run(&h, st), MS_ERR_LLM_PROTOCOL);
  T_OK(h_has(&h, "ERROR -10 model 'm': model stream sent malformed JSON: {oops}\n"));
  h_free(&h);
}

static void stream_should_fail_on_a_model_event_over_the_limit(void) {
  host h;
  if (h_init(&h)) abort();
  ms_ctx_set_limit(h.ctx, MS_LIMIT_MESSAGE_BYTES, 64);
  int st = h_stream_new(&h, "{\"query\":\"q\"}");
  h_run(&h, st);
  h_clear(&h);
  h_model_feed(&h, st, 1, "data: {\"choices\":[{\"delta\":{\"content\":\"................................................\"}}]}\n\n");
  h_take(&h);
  T_EQ(h_run(&h, st), MS_ERR_LIMIT);
  T_OK(h_has(&h, "ERROR -11 model stream: an event over the 64-byte limit\n"));
  h_free(&h);
}

static void stream_should_ignore_feeds_for_another_sequence(void) {
  host h;
  int st = model_stream(&h, NULL);
  T_EQ(h_model_feed(&h, st, 2, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"), 0);
  T_EQ(h_model_end(&h, st, 0, 500, "no"), 0);
  T_EQ(h_model_feed(&h, 99, 1, "x"), MS_ERR_BAD_HANDLE);
  h_take(&h);
  T_EQ(h_run(&h, st), MS_WAIT);
  T_MEM(h_log(&h), strlen(h_log(&h)), "WAIT\n");
  h_model_end(&h, st, 1, 200, "{\"role\":\"assistant\",\"content\":\"ok\"}");
  T_EQ(h_run(&h, st), MS_DONE);
  h_free(&h);
}

static void stream_should_fail_when_the_model_stream_is_cut_before_it_finishes(void) {
  host h;
  int st = model_stream(&h, NULL);
  h_model_feed(&h, st, 1, "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\","
                          "\"function\":{\"name\":\"rm\",\"arguments\":\"{\\\"path\\\":\"}}]}}]}\n\n");
  h_take(&h);
  h_model_end(&h, st, 1, 200, NULL); /* the body ended cleanly, but mid-answer */
  h_take(&h);
  T_EQ(h_run(&h, st), MS_ERR_LLM_PROTOCOL);
  T_OK(h_has(&h, "ERROR -10 model 'm': the model's response stream ended before its finish_reason or [DONE]"));
  T_OK(!h_has(&h, "tool_call"));
  T_EQ(h_run(&h, st), MS_DONE);
  h_free(&h);
}

int main(void) {
  ms_alloc_init(); /* cJSON through the seam, as in the core */
  T_RUN(request_should_carry_model_messages_and_stream_and_omit_empty_tools);
  T_RUN(request_should_include_tools_when_there_are_some);
  T_RUN(a_long_text_should_be_held_in_pieces_cut_on_characters);
  T_RUN(chunks_should_assemble_text_deltas);
  T_RUN(chunks_should_ignore_chunks_without_choices);
  T_RUN(chunks_should_assemble_a_tool_call_whose_arguments_arrive_in_many_chunks);
  T_RUN(chunks_should_keep_parallel_tool_calls_apart_by_index);
  T_RUN(chunks_should_not_repeat_a_name_sent_in_every_delta);
  T_RUN(chunks_should_take_a_name_after_an_empty_one);
  T_RUN(chunks_should_drop_calls_that_never_got_a_name);
  T_RUN(chunks_should_refuse_a_tool_call_index_out_of_range);
  T_RUN(message_should_refuse_more_tool_calls_than_the_cap);
  T_RUN(chunks_should_report_an_error_object_inside_the_stream);
  T_RUN(chunks_should_accept_a_null_error_member);
  T_RUN(chunks_should_refuse_malformed_json_but_skip_empty_data);
  T_RUN(message_should_take_a_whole_chat_completion);
  T_RUN(message_should_take_a_bare_assistant_message_and_text_parts);
  T_RUN(message_should_refuse_what_is_not_an_assistant_message);
  T_RUN(http_error_should_give_the_message_and_a_hint);
  T_RUN(http_error_should_cut_a_long_body);
  T_RUN(http_error_should_give_the_hint_before_a_body_that_may_be_cut);
  T_RUN(stream_should_yield_text_steps_from_sse_chunks_and_a_final_step);
  T_RUN(final_step_should_sum_usage_over_turns_and_carry_the_last_finish_reason);
  T_RUN(stream_should_take_a_whole_json_response_at_the_end);
  T_RUN(a_long_streamed_answer_should_fit_a_budget_of_twice_its_size);
  T_RUN(final_step_should_escape_its_text_as_the_text_steps_do);
  T_RUN(stream_should_fail_with_the_http_error_of_the_model);
  T_RUN(stream_should_fail_with_the_hosts_own_code_for_a_negative_status);
  T_RUN(stream_errors_should_name_the_endpoint);
  T_RUN(stream_should_fail_on_an_error_event_and_abort_the_request);
  T_RUN(stream_should_fail_on_malformed_json_in_the_stream);
  T_RUN(stream_should_fail_on_a_model_event_over_the_limit);
  T_RUN(stream_should_ignore_feeds_for_another_sequence);
  T_RUN(stream_should_fail_when_the_model_stream_is_cut_before_it_finishes);
  T_END();
}

/* fm_stream.h — the whole-stream scenarios of the failmalloc tests, shared by
 * test_stream.c (which runs them with every allocation failing in turn) and
 * fmdebug_stream.c (which runs one failing allocation and prints its log). */
#ifndef MS_FM_STREAM_H
#define MS_FM_STREAM_H

#include "host.h"

static int fm_verbose; /* log the run (fmdebug_stream) */

static const h_server fm_servers[] = {
    {"everything", "2025-06-18",
     (const char *const[]){"{\"tools\":[{\"name\":\"echo\",\"inputSchema\":{\"type\":\"object\"}}],\"nextCursor\":\"1\"}",
                           "{\"tools\":[{\"name\":\"add\"}]}"},
     2, NULL, 1, 0, 0, 0},
    {"other", NULL, (const char *const[]){"{\"tools\":[{\"name\":\"echo\"}]}"}, 1,
     "{\"content\":[{\"type\":\"text\",\"text\":\"other\"}],\"structuredContent\":{\"x\":1}}", 0, 0, 0, 0},
};

static const char *const fm_model[] = {
    "data: {\"choices\":[{\"delta\":{\"content\":\"Let me\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\" see.\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"everything__echo\",\"arguments\":\"{\\\"message\\\"\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"c2\",\"function\":{\"name\":\"other__echo\",\"arguments\":\"{}\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":\\\"hi\\\"}\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n",
    "data: {\"choices\":[{\"delta\":{\"content\":\"Done: hi.\"}}]}\n\ndata: [DONE]\n\n",
};

#define H_REFUSED 101 /* ms_stream_new was refused */

/* One whole stream with two owned servers, pagination, two tool calls (one
 * with progress), two model turns. Returns how it ended. */
static H_FN int fm_scenario(host *h) {
  h->quiet = !fm_verbose;
  h->servers = fm_servers;
  h->nservers = 2;
  h->model = fm_model;
  h->nmodel = 2;
  int st = h_stream_new(h, "{\"model\":\"m\",\"systemPrompt\":\"s\",\"query\":\"q\",\"own\":[\"everything\",\"other\"]}");
  if (st == MS_ERR_NOMEM) st = h_stream_new(h, "{\"model\":\"m\",\"systemPrompt\":\"s\",\"query\":\"q\",\"own\":[\"everything\",\"other\"]}");
  if (st < 0) return st == MS_ERR_NOMEM ? H_REFUSED : st;
  int rc = h_pump(h, st);
  if (rc == MS_DONE || rc < 0) {
    int rc2 = ms_stream_free(h->ctx, st);
    if (rc2 == MS_ERR_NOMEM) ms_stream_free(h->ctx, st);
  }
  return rc;
}

static const h_server fm_slow_servers[] = {
    {"everything", NULL, (const char *const[]){"{\"tools\":[{\"name\":\"echo\"}]}"}, 1, NULL, 0, 0, 0, 1},
    {"other", NULL, (const char *const[]){"{\"tools\":[{\"name\":\"echo\"}]}"}, 1, NULL, 0, 0, 0, 1},
};

/* The same, but the servers never answer tools/call and the consumer leaves
 * (`why`) at the first tool_call step: cancel, abort, close. */
static H_FN int fm_return_scenario(host *h, int why) {
  h->quiet = !fm_verbose;
  h->servers = fm_slow_servers;
  h->nservers = 2;
  h->model = fm_model;
  h->nmodel = 2;
  h->return_at = "\"type\":\"tool_call\"";
  h->return_why = why;
  int st = h_stream_new(h, "{\"query\":\"q\",\"own\":[\"everything\",\"other\"]}");
  if (st == MS_ERR_NOMEM) st = h_stream_new(h, "{\"query\":\"q\",\"own\":[\"everything\",\"other\"]}");
  if (st < 0) return st == MS_ERR_NOMEM ? H_REFUSED : st;
  int rc = h_pump(h, st);
  if (rc <= 0) ms_stream_free(h->ctx, st);
  return rc;
}

static H_FN int fm_abort_scenario(host *h) { return fm_return_scenario(h, MS_END_ABORT); }

#endif /* MS_FM_STREAM_H */

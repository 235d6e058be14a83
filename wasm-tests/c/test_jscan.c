/* test_jscan.c — the JSON scanner (src/core/jscan.c) and the JSON-RPC
 * envelope it finds (ms_rpc_scan, src/core/jsonrpc.c): tables of valid and
 * invalid texts, spans, member lookup, string decoding, ids, and agreement
 * with cJSON's classification. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bytescan.h"
#include "core.h"
#include "t.h"

static int valid(const char *s) { return ms_json_scan(s, strlen(s), NULL, NULL, NULL, NULL); }

static void scan_should_accept_every_kind_of_valid_json(void) {
  static const char *const ok[] = {
      "{}", "[]", "0", "-0", "1", "-1.5e+10", "1E-2", "0.0", "123456789012345678901234567890",
      "true", "false", "null", "\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"",
      " \t\r\n{ \"a\" : [ 1 , { } , [ ] , \"x\" ] } \n", "[[[[]]]]", "{\"a\":{\"b\":{\"c\":null}}}",
      "\"\\u0000\"", "\"\\ud800 lone\"", "\"caf\xc3\xa9\"", "\"\xff raw high bytes pass\"",
      "[1,2,3,\"a very long string that crosses several eight-byte words \\\" with an escape\"]",
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    if (!valid(ok[i])) T_FAIL("rejected valid %s", ok[i]);
    t_checks++;
  }
}

static void scan_should_reject_what_is_not_exactly_one_json_value(void) {
  static const char *const bad[] = {
      "", " ", "{", "}", "[", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}", "{'a':1}",
      "01", "1.", ".5", "-", "+1", "1e", "1e+", "-.5", "0x10", "NaN", "Infinity", "tru", "nul", "True",
      "\"abc", "\"a\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"tab\there\"", "\"nl\nhere\"", "1 2", "{} {}",
      "[1]]", "[1}", "{\"a\":1]", "\xef\xbb\xbf{}", "\"\\", "[\"a\",", "{\"a\" 1}", "{\"a\":1 \"b\":2}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (valid(bad[i])) T_FAIL("accepted invalid %s", bad[i]);
    t_checks++;
  }
  T_EQ(ms_json_scan("{\"a\":1}\0", 8, NULL, NULL, NULL, NULL), 0); /* a NUL after it */
  T_EQ(ms_json_scan("\"a\0b\"", 5, NULL, NULL, NULL, NULL), 0);    /* a raw NUL in a string */
}

static void scan_should_bound_nesting_at_cjsons_limit(void) {
  size_t d = MS_JSON_MAX_DEPTH;
  char *s = malloc(2 * d + 2);
  memset(s, '[', d);
  memset(s + d, ']', d);
  T_EQ(ms_json_scan(s, 2 * d, NULL, NULL, NULL, NULL), 1);
  cJSON *c = cJSON_ParseWithLength(s, 2 * d);
  T_OK(c != NULL); /* cJSON takes the same depth */
  cJSON_Delete(c);
  memmove(s + 1, s, 2 * d);
  s[0] = '[';
  s[2 * d + 1] = ']';
  T_EQ(ms_json_scan(s, 2 * d + 2, NULL, NULL, NULL, NULL), 0);
  c = cJSON_ParseWithLength(s, 2 * d + 2);
  T_OK(c == NULL);
  free(s);
}

static void scan_should_span_the_value_and_flag_escapes(void) {
  ms_jspan v;
  unsigned f = 0;
  const char *s = "  [\"a\\u0000b\"]\n";
  T_EQ(ms_json_scan(s, strlen(s), &v, &f, NULL, NULL), 1);
  T_MEM(v.p, v.n, "[\"a\\u0000b\"]");
  T_EQ(v.type, MS_JT_ARRAY);
  T_EQ(f, MS_JSON_ESCAPES | MS_JSON_NUL);
  f = 0;
  s = "\"\\uDC00\"";
  T_EQ(ms_json_scan(s, strlen(s), &v, &f, NULL, NULL), 1);
  T_EQ(f, MS_JSON_ESCAPES | MS_JSON_SURROGATE);
  T_EQ(v.type, MS_JT_STRING);
  f = 0;
  s = "{\"plain\":\"text only\"}";
  T_EQ(ms_json_scan(s, strlen(s), &v, &f, NULL, NULL), 1);
  T_EQ(f, 0);
}

typedef struct members {
  char log[512];
  size_t len;
} members;

static void log_member(void *user, const ms_jspan *k, const ms_jspan *v) {
  members *m = user;
  m->len += (size_t)snprintf(m->log + m->len, sizeof m->log - m->len, "%.*s=%.*s(%d);", (int)k->n,
                             k->p, (int)v->n, v->p, v->type);
}

static void scan_should_report_each_top_level_member_with_its_value_span(void) {
  members m = {{0}, 0};
  const char *s = "{ \"a\" : 1 , \"b\":{\"x\":[1,2]}, \"c\" : \"s\\\"t\" ,\"d\":[] ,\"e\":null}";
  T_EQ(ms_json_scan(s, strlen(s), NULL, NULL, log_member, &m), 1);
  T_MEM(m.log, m.len, "\"a\"=1(4);\"b\"={\"x\":[1,2]}(1);\"c\"=\"s\\\"t\"(3);\"d\"=[](2);\"e\"=null(7);");
  m.len = 0;
  T_EQ(ms_json_scan("[{\"a\":1}]", 9, NULL, NULL, log_member, &m), 1);
  T_EQ(m.len, 0); /* members of the top-level object only */
}

static void member_and_iter_should_walk_validated_values(void) {
  const char *s = "{\"k\":[1, \"two\" ,{\"x\":3} ,[]],\"\\u006b2\":true,\"k\":\"dup\"}";
  ms_jspan root, v, k;
  T_EQ(ms_json_scan(s, strlen(s), &root, NULL, NULL, NULL), 1);
  T_EQ(ms_json_member(&root, "k", &v), 1);
  T_EQ(v.type, MS_JT_ARRAY); /* the first of two, as cJSON finds it */
  T_EQ(ms_json_member(&root, "k2", &k), 1); /* a key written with an escape */
  T_EQ(k.type, MS_JT_TRUE);
  T_EQ(ms_json_member(&root, "nope", &k), 0);
  T_EQ(k.type, MS_JT_NONE);
  ms_jiter it;
  char got[128];
  size_t len = 0;
  ms_json_iter(&v, &it);
  while (ms_json_next(&it, NULL, &k)) len += (size_t)snprintf(got + len, sizeof got - len, "%.*s|", (int)k.n, k.p);
  T_MEM(got, len, "1|\"two\"|{\"x\":3}|[]|");
  ms_json_iter(&(ms_jspan){"[]", 2, MS_JT_ARRAY}, &it);
  T_EQ(ms_json_next(&it, NULL, &k), 0);
}

static void strings_should_decode_as_the_core_parses_them(void) {
  const char *s = "\"a\\n\\u00e9\\ud83d\\ude00 lone:\\ud83d end \\udc00\\u0000/\\/\"";
  ms_jspan v;
  T_EQ(ms_json_scan(s, strlen(s), &v, NULL, NULL, NULL), 1);
  char out[64];
  size_t n = ms_json_str_decode(&v, out, sizeof out);
  static const char want[] = "a\n\xc3\xa9\xf0\x9f\x98\x80 lone:\xef\xbf\xbd end \xef\xbf\xbd\0//";
  T_EQ(n, sizeof want - 1);
  T_OK(memcmp(out, want, sizeof want - 1) == 0);
  T_EQ(ms_json_str_decode(&v, out, 3), sizeof want - 1); /* the whole length, whatever the room */
  ms_jspan two = {"\"2\\u002e0\"", 10, MS_JT_STRING};
  T_EQ(ms_json_str_eq(&two, "2.0"), 1);
  T_EQ(ms_json_str_eq(&two, "2.00"), 0);
  T_EQ(ms_json_str_eq(&two, "2."), 0);
}

static void rpc_scan_should_classify_as_cjson_does(void) {
  static const char *const msgs[] = {
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
      "{\"result\":{\"a\":[1]},\"id\":7,\"jsonrpc\":\"2.0\"}",
      "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"error\":{\"code\":-1,\"message\":\"m\"}}",
      "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-1}}",
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"not an object\"}",
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{}}",
      "{\"jsonrpc\":\"2.0\",\"id\":1}",
      "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":3}}",
      "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}",
      "{\"jsonrpc\":\"2.0\",\"id\":[4],\"method\":\"ping\"}",
      "{\"jsonrpc\":\"2.0\",\"method\":null}",
      "{\"jsonrpc\":\"1.0\",\"id\":1,\"result\":{}}",
      "{\"jsonrpc\":\"2\\u002e0\",\"id\":1,\"result\":{}}",
      "{\"id\":1,\"result\":{}}",
      "{\"jsonrpc\":\"2.0\",\"id\":true,\"result\":{}}",
      "{\"jsonrpc\":\"2.0\",\"\\u0069d\":2,\"result\":{}}",
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":\"x\",\"result\":{}}",
  };
  for (size_t i = 0; i < sizeof msgs / sizeof *msgs; i++) {
    ms_jspan root;
    ms_rpc_env e;
    T_EQ(ms_rpc_scan(msgs[i], strlen(msgs[i]), &root, &e, NULL), 1);
    cJSON *c = cJSON_Parse(msgs[i]);
    int want = ms_rpc_classify(c);
    if (e.type != want) T_FAIL("%s: type %d, cJSON's %d", msgs[i], e.type, want);
    t_checks++;
    int64_t want_id = ms_rpc_int_id(cJSON_GetObjectItemCaseSensitive(c, "id"));
    T_EQ(ms_rpc_span_id(&e.id), want_id);
    cJSON_Delete(c);
  }
  ms_jspan root;
  ms_rpc_env e;
  const char *batch = "[{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"x\":1}}]";
  T_EQ(ms_rpc_scan(batch, strlen(batch), &root, &e, NULL), 1);
  T_EQ(e.type, MS_RPC_INVALID);
  T_EQ(root.type, MS_JT_ARRAY);
  ms_jiter it;
  ms_jspan el;
  ms_json_iter(&root, &it);
  T_EQ(ms_json_next(&it, NULL, &el), 1);
  ms_rpc_envelope(&el, &e);
  T_EQ(e.type, MS_RPC_RESULT);
  T_MEM(e.result.p, e.result.n, "{\"x\":1}");
  T_EQ(ms_rpc_span_id(&e.id), 3);
  T_EQ(ms_rpc_scan("{\"jsonrpc\":\"2.0\",", 17, &root, &e, NULL), 0);
  T_EQ(e.type, MS_RPC_INVALID);
  T_EQ(e.id.type, MS_JT_NONE);
}

static void span_ids_should_read_as_cjson_reads_them(void) {
  static const struct {
    const char *num;
    int64_t want;
  } cases[] = {{"0", 0}, {"42", 42}, {"2.0", 2}, {"2e0", 2}, {"2.5", -1}, {"-1", -1}, {"-0", 0},
               {"9007199254740991", 9007199254740991LL}, {"9007199254740992", -1},
               {"12345678901234567", -1}, {"1e300", -1}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ms_jspan v = {cases[i].num, strlen(cases[i].num), MS_JT_NUMBER};
    if (ms_rpc_span_id(&v) != cases[i].want)
      T_FAIL("id %s: got %lld, want %lld", cases[i].num, (long long)ms_rpc_span_id(&v), (long long)cases[i].want);
    t_checks++;
  }
  ms_jspan s = {"\"1\"", 3, MS_JT_STRING};
  T_EQ(ms_rpc_span_id(&s), -1);
  T_OK(isnan(ms_json_number(&s)));
}

/* ---- the 16-byte string loops (bytescan.h) against a byte-by-byte reference ---- */

/* A JSON string's validity, one byte at a time (RFC 8259), with the flags
 * ms_json_scan gives: the reference the vector loops must agree with.
 * text[0] is the opening quote; returns the index after the closing one, or 0. */
static size_t ref_string(const unsigned char *t, size_t n, unsigned *flags) {
  for (size_t i = 1; i < n; i++) {
    unsigned char c = t[i];
    if (c == '"') return i + 1;
    if (c < 0x20) return 0;
    if (c != '\\') continue;
    if (i + 1 >= n) return 0;
    *flags |= MS_JSON_ESCAPES;
    unsigned char e = t[i + 1];
    if (e == 'u') {
      if (i + 6 > n) return 0;
      unsigned v = 0;
      for (size_t k = i + 2; k < i + 6; k++) {
        unsigned char h = t[k];
        int d = h >= '0' && h <= '9' ? h - '0' : (h | 0x20) >= 'a' && (h | 0x20) <= 'f' ? (h | 0x20) - 'a' + 10 : -1;
        if (d < 0) return 0;
        v = v * 16 + (unsigned)d;
      }
      if (v == 0) *flags |= MS_JSON_NUL;
      else if (v >= 0xD800 && v <= 0xDFFF) *flags |= MS_JSON_SURROGATE;
      i += 5;
    } else if (strchr("\"\\/bfnrt", e) && e) {
      i++;
    } else {
      return 0;
    }
  }
  return 0;
}

/* Every kind of byte or escape a string can hold, at every offset from a
 * 16-byte block's start and from a 64-byte run's start (and across two runs),
 * in strings of every length up to 140, closed or not, alone and as a member
 * before another: the scanner (64, then 16 bytes at a time) says exactly what
 * the byte-by-byte reference says, flags included, and skip_string
 * (ms_json_member, the iterator) finds the member after a valid one. A
 * difference between the vector paths and the byte path of either loop fails
 * here. */
static void strings_should_scan_as_byte_by_byte_at_every_block_offset(void) {
  static const char *const pieces[] = {
      "\"", "\\\"", "\\\\", "\\/", "\\n", "\\t", "\\u0041", "\\u0000", "\\uD800", "\\udfff",
      "\\x", "\\u12G4", "\\u12", "\\", "\x01", "\x1f", "\n", "\r", "\x7f", "\x80", "\xc3\xa9",
      "\xff", " ", "~", "\x20",
      /* runs of backslashes, even and odd, and escapes side by side (a block's escapes as masks) */
      "\\\\\\", "\\\\\\\\", "\\\\\\\"", "\\\\\"", "\\n\\t\\\"\\/", "\\\\\\u0041", "\\u0041\\\\",
      "\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"",
  };
  unsigned char text[300], obj[340];
  for (size_t pi = 0; pi < sizeof pieces / sizeof *pieces; pi++) {
    size_t pl = strlen(pieces[pi]);
    if (pieces[pi][0] == '\0') continue;
    for (size_t len = 0; len <= 140; len++) {
      for (size_t at = 0; at <= len; at++) {
        for (int closed = 0; closed < 2; closed++) {
          size_t n = 0;
          text[n++] = '"';
          for (size_t k = 0; k < at; k++) text[n++] = (unsigned char)('a' + k % 26);
          memcpy(text + n, pieces[pi], pl);
          n += pl;
          for (size_t k = at; k < len; k++) text[n++] = (unsigned char)('A' + k % 26);
          if (closed) text[n++] = '"';
          unsigned rf = 0, sf = 0;
          size_t end = ref_string(text, n, &rf);
          int want = end == n; /* exactly one string, nothing after it */
          ms_jspan v;
          int got = ms_json_scan((const char *)text, n, &v, &sf, NULL, NULL);
          if (got != want || (got && sf != rf)) {
            T_FAIL("piece %zu at %zu of %zu (closed %d): scan %d flags %u, reference %d flags %u", pi, at,
                   len, closed, got, sf, want, rf);
            return;
          }
          t_checks++;
          if (!want) continue;
          /* the same string as a member before another: the member is found after it */
          size_t m = 0;
          memcpy(obj, "{\"k\":", 5);
          m = 5;
          memcpy(obj + m, text, n);
          m += n;
          memcpy(obj + m, ",\"z\":7}", 7);
          m += 7;
          ms_jspan o, z;
          T_OK(ms_json_scan((const char *)obj, m, &o, NULL, NULL, NULL));
          T_OK(ms_json_member(&o, "z", &z) && z.n == 1 && z.p[0] == '7');
        }
      }
    }
  }
}

/* ms_find_byte (the framer's newline search) finds what memchr finds, for
 * every length up to 160 (two runs of 64 and more) and every position of the
 * byte, with the byte also repeated after it and bytes of every value around
 * it. */
static void find_byte_should_find_what_memchr_finds(void) {
  uint8_t buf[176];
  for (size_t n = 0; n <= 160; n++) {
    for (size_t at = 0; at <= n; at++) {
      for (size_t k = 0; k < n; k++) buf[k] = (uint8_t)(k * 37 + 11) == '\n' ? 0xFF : (uint8_t)(k * 37 + 11);
      if (at < n) buf[at] = '\n';
      if (at + 5 < n) buf[at + 5] = '\n';
      const uint8_t *m = memchr(buf, '\n', n);
      size_t want = m ? (size_t)(m - buf) : n;
      T_EQ(ms_find_byte(buf, n, '\n'), want);
    }
  }
}

int main(void) {
  ms_alloc_init();
  T_RUN(scan_should_accept_every_kind_of_valid_json);
  T_RUN(scan_should_reject_what_is_not_exactly_one_json_value);
  T_RUN(scan_should_bound_nesting_at_cjsons_limit);
  T_RUN(scan_should_span_the_value_and_flag_escapes);
  T_RUN(scan_should_report_each_top_level_member_with_its_value_span);
  T_RUN(member_and_iter_should_walk_validated_values);
  T_RUN(strings_should_decode_as_the_core_parses_them);
  T_RUN(rpc_scan_should_classify_as_cjson_does);
  T_RUN(span_ids_should_read_as_cjson_reads_them);
  T_RUN(strings_should_scan_as_byte_by_byte_at_every_block_offset);
  T_RUN(find_byte_should_find_what_memchr_finds);
  T_END();
}

/* fuzz_jscan.c — libFuzzer target for the JSON scanner (src/core/jscan.c)
 * and the JSON-RPC envelope it finds (ms_rpc_scan), fed whole, against
 * cJSON as the core runs it (ms__json_parse). The input is the text.
 *
 *  1. Valid for the scanner ⇒ valid for cJSON, unless the text has a
 *     number of more than 63 characters (cJSON reads at most 63).
 *  2. Valid for cJSON, not for the scanner ⇒ the text has what cJSON lets
 *     pass and RFC 8259 does not: a control character (raw in a string, or
 *     as "whitespace"), a leading byte-order mark, a number RFC 8259
 *     refuses (a leading zero, "1.", "-.5", …), or "\u" with digits that
 *     are not hex (cJSON reads them as 0).
 *  3. Valid for cJSON ⇒ cJSON's own printing of it is valid for the
 *     scanner, and the envelope found there matches cJSON's: the type
 *     (ms_rpc_classify), the id (ms_rpc_int_id), the method.
 *  4. Valid for both ⇒ the same envelope on the text itself; the top-level
 *     members reported during the scan are cJSON's, in order (keys compared
 *     decoded); every span is valid JSON on its own; member lookup and the
 *     iterator agree with the scan.
 * Live allocations are back where they were after each input. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

#include "fuzz.h"

#define MS_NUL_MARK 0xFF /* ctx.c: what "\\u0000" becomes in a cJSON string */

static int cjson_ok(const uint8_t *d, size_t n) {
  cJSON *c = ms__json_parse((const char *)d, n);
  cJSON_Delete(c);
  return c != NULL;
}

static int is_num_char(uint8_t c) {
  return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.';
}

static int has_long_number(const uint8_t *d, size_t n) {
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    run = is_num_char(d[i]) ? run + 1 : 0;
    if (run > 63) return 1;
  }
  return 0;
}

/* What cJSON accepts and RFC 8259 does not (a superset: it may also be in a string). */
static int has_cjson_leniency(const uint8_t *d, size_t n) {
  if (n >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF) return 1;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = d[i], next = i + 1 < n ? d[i + 1] : 0, prev = i ? d[i - 1] : 0;
    if (c < 0x20) return 1;
    int digit_next = next >= '0' && next <= '9', digit_prev = prev >= '0' && prev <= '9';
    if (c == '0' && digit_next && !digit_prev) return 1;          /* 01 */
    if (c == '.' && (!digit_next || !digit_prev)) return 1;       /* 1. .5 */
    if (c == '-' && !digit_next) return 1;                        /* -.5 */
    if (c == '\\' && next == 'u') { /* cJSON reads "\\u" and 4 non-hex digits as 0 */
      for (size_t k = i + 2; k < i + 6; k++)
        if (k >= n || !((d[k] >= '0' && d[k] <= '9') || ((d[k] | 0x20) >= 'a' && (d[k] | 0x20) <= 'f'))) return 1;
    }
  }
  return 0;
}

typedef struct seen {
  ms_jspan keys[64], values[64];
  size_t n, more;
} seen;

static void on_member(void *user, const ms_jspan *k, const ms_jspan *v) {
  seen *s = user;
  if (s->n < 64) {
    s->keys[s->n] = *k;
    s->values[s->n++] = *v;
  } else {
    s->more++;
  }
}

static void check_span_alone(const ms_jspan *v) {
  ms_jspan again;
  CHECK(ms_json_scan(v->p, v->n, &again, NULL, NULL, NULL) == 1);
  CHECK(again.p == v->p && again.n == v->n && again.type == v->type);
}

/* A decoded key equals cJSON's (its \u0000 is the core's NUL mark). */
static int key_is(const ms_jspan *k, const char *cj) {
  char buf[256];
  for (size_t i = 1; i + 1 < k->n; i++)
    if ((uint8_t)k->p[i] >= 0x80) return 1; /* invalid UTF-8 is replaced by cJSON's path: not compared */
  size_t len = ms_json_str_decode(k, buf, sizeof buf);
  if (len > sizeof buf) return 1;
  for (size_t i = 0; i < len; i++)
    if (buf[i] == 0) buf[i] = (char)MS_NUL_MARK;
  return strlen(cj) == len && memcmp(buf, cj, len) == 0;
}

static void check_envelope(const ms_rpc_env *e, const cJSON *c) {
  CHECK(e->type == ms_rpc_classify(c));
  if (!cJSON_IsObject(c)) return;
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
  CHECK((e->id.type != MS_JT_NONE) == (id != NULL));
  CHECK(ms_rpc_span_id(&e->id) == ms_rpc_int_id(id));
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "method");
  CHECK((e->method.type == MS_JT_STRING) == cJSON_IsString(m));
  if (cJSON_IsString(m)) {
    char buf[256];
    size_t len = ms_json_str_decode(&e->method, buf, sizeof buf);
    int high = 0;
    for (size_t i = 0; i < e->method.n; i++) high |= (uint8_t)e->method.p[i] >= 0x80;
    if (!high && len < sizeof buf) {
      for (size_t i = 0; i < len; i++)
        if (buf[i] == 0) buf[i] = (char)MS_NUL_MARK;
      CHECK(strlen(m->valuestring) == len && memcmp(m->valuestring, buf, len) == 0);
    }
  }
  CHECK((e->params.type != MS_JT_NONE) == (cJSON_GetObjectItemCaseSensitive(c, "params") != NULL));
  CHECK((e->result.type != MS_JT_NONE) == (cJSON_GetObjectItemCaseSensitive(c, "result") != NULL));
  CHECK((e->error.type != MS_JT_NONE) == (cJSON_GetObjectItemCaseSensitive(c, "error") != NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int inited;
  if (!inited) {
    ms_alloc_init();
    inited = 1;
  }
  int live = ms_live_allocations();
  /* a copy of exactly `size` bytes, so that ASan sees any read past the end */
  char *text = malloc(size ? size : 1);
  CHECK(text != NULL);
  if (size) memcpy(text, data, size);

  seen s = {0};
  ms_jspan root;
  unsigned flags = 0;
  int mine = ms_json_scan(text, size, &root, &flags, on_member, &s);
  int theirs = cjson_ok(data, size);
  if (mine && !theirs) CHECK(has_long_number(data, size));
  if (theirs && !mine) CHECK(has_cjson_leniency(data, size));

  cJSON *c = theirs ? ms__json_parse(text, size) : NULL;
  if (c) {
    /* 3. cJSON's printing is strict JSON, with the same envelope */
    char *printed = ms__json_print(c);
    if (printed) {
      ms_jspan proot;
      ms_rpc_env pe;
      CHECK(ms_rpc_scan(printed, strlen(printed), &proot, &pe, NULL) == 1);
      cJSON *pc = ms__json_parse(printed, strlen(printed));
      if (pc) check_envelope(&pe, pc);
      cJSON_Delete(pc);
      ms_free(printed);
    }
  }
  if (mine) {
    check_span_alone(&root);
    ms_rpc_env e;
    ms_jspan r2;
    CHECK(ms_rpc_scan(text, size, &r2, &e, NULL) == 1);
    CHECK(r2.p == root.p && r2.n == root.n);
    if (c) check_envelope(&e, c);
    if (root.type == MS_JT_OBJECT) {
      /* 4. the members reported, cJSON's, the iterator's, the lookup's */
      ms_jiter it;
      ms_jspan k, v;
      size_t i = 0;
      ms_json_iter(&root, &it);
      const cJSON *child = c ? c->child : NULL;
      while (ms_json_next(&it, &k, &v)) {
        if (i < s.n) {
          CHECK(k.p == s.keys[i].p && k.n == s.keys[i].n);
          CHECK(v.p == s.values[i].p && v.n == s.values[i].n && v.type == s.values[i].type);
          check_span_alone(&v);
        }
        if (c) {
          CHECK(child != NULL);
          CHECK(key_is(&k, child->string));
          child = child->next;
        }
        i++;
      }
      CHECK(i == s.n + s.more);
      if (c) CHECK(child == NULL);
      for (size_t j = 0; j < s.n; j++) {
        char key[64];
        int high = 0;
        for (size_t b = 1; b + 1 < s.keys[j].n; b++) high |= (uint8_t)s.keys[j].p[b] >= 0x80;
        size_t kl = ms_json_str_decode(&s.keys[j], key, sizeof key - 1);
        if (high || kl >= sizeof key || memchr(key, 0, kl)) continue;
        key[kl] = '\0';
        ms_jspan found;
        CHECK(ms_json_member(&root, key, &found) == 1);
        /* the first member with that key */
        size_t first = 0;
        while (first < j && !ms_json_str_eq(&s.keys[first], key)) first++;
        CHECK(found.p == s.values[first].p && found.n == s.values[first].n);
      }
    } else if (root.type == MS_JT_ARRAY) {
      ms_jiter it;
      ms_jspan v;
      size_t count = 0;
      ms_json_iter(&root, &it);
      while (ms_json_next(&it, NULL, &v)) {
        check_span_alone(&v);
        count++;
      }
      if (c) CHECK(count == (size_t)cJSON_GetArraySize(c));
    }
  }
  cJSON_Delete(c);
  free(text);
  CHECK(ms_live_allocations() == live);
  return 0;
}

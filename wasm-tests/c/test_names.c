/* test_names.c — the tool names the model sees (src/core/names.c): tables of
 * (server, tool) → expected name, each also named in reverse order; then
 * properties over generated tool sets (valid, unique, order-independent),
 * and every allocation failing in turn. Expected hashes were computed with
 * an independent implementation of the rules (FNV-1a 32 of server, 0, name). */
#include "core.h"
#include "t.h"

typedef struct row {
  int set;           /* rows of one set are named together */
  const char *server, *tool;
  const char *want;  /* NULL: left out (a repeat) */
} row;

#define X10 "xxxxxxxxxx"
#define X55 X10 X10 X10 X10 X10 "xxxxx"
#define X64 X10 X10 X10 X10 X10 X10 "xxxx"

static const row rows[] = {
    /* the same name on two servers: both qualified */
    {1, "s1", "echo", "s1__echo"},
    {1, "s2", "echo", "s2__echo"},
    /* "a.b" would become "a_b", which a tool has: the changed one gets a suffix */
    {2, "s", "a.b", "a_b_505e4fe9"},
    {2, "s", "a_b", "a_b"},
    /* two long names sharing their first 64 characters */
    {3, "s", X64 "xxxxxx", X55 "_e2c83426"},
    {3, "s", X64 "yyyyyy", X55 "_3255a0f8"},
    /* exactly 64 is valid; 65 is cut */
    {4, "s", X64, X64},
    {4, "s", X64 "z", X55 "_623f1b54"},
    /* a tool literally named "s2__delete" beside server s2's "delete" (which
     * s3 has too): neither gets the shared name */
    {5, "s1", "s2__delete", "s2__delete_c762969f"},
    {5, "s2", "delete", "s2__delete_e8899aab"},
    {5, "s3", "delete", "s3__delete"},
    /* without s3 nothing is shared or changed */
    {6, "s1", "s2__delete", "s2__delete"},
    {6, "s2", "delete", "delete"},
    /* empty and non-ASCII names */
    {7, "s", "", "_d7516ba6"},
    {7, "s", "h\xc3\xa9llo", "h__llo_b8f608bb"},
    /* a server listing a tool twice: named once */
    {8, "s", "t", "t"},
    {8, "s", "t", NULL},
    /* a server name that needs changing, in a qualified name */
    {9, "a", "echo", "a__echo"},
    {9, "b.2", "echo", "b_2__echo_866f56f2"},
    {9, "a", "only_a", "only_a"},
    /* a tool already named like the suffixed name: the hash is salted */
    {10, "s", "a.b", "a_b_c7cd6668"},
    {10, "t", "a_b_505e4fe9", "a_b_505e4fe9"},
};

static void check_set(int set, int reverse) {
  const char *servers[16], *tools[16], *want[16];
  char *out[16];
  size_t n = 0, count = sizeof rows / sizeof *rows;
  for (size_t k = 0; k < count; k++) {
    size_t i = reverse ? count - 1 - k : k;
    if (rows[i].set != set) continue;
    servers[n] = rows[i].server;
    tools[n] = rows[i].tool;
    want[n++] = rows[i].want;
  }
  T_EQ(ms_model_names(servers, tools, n, out), 0);
  for (size_t i = 0; i < n; i++) {
    /* a repeat is left out, whichever of the two comes first */
    int repeat = 0;
    for (size_t j = 0; j < n; j++) repeat |= j != i && !want[j] && !strcmp(servers[j], servers[i]) && !strcmp(tools[j], tools[i]);
    if (!want[i] || repeat) {
      int named = 0;
      for (size_t j = 0; j < n; j++) named += !strcmp(servers[j], servers[i]) && !strcmp(tools[j], tools[i]) && out[j];
      if (named != 1) T_FAIL("set %d: the pair (%s, %s) was named %d times", set, servers[i], tools[i], named);
      t_checks++;
      continue;
    }
    if (!out[i] || strcmp(out[i], want[i]) != 0)
      T_FAIL("set %d%s: (%s, %s) named %s, want %s", set, reverse ? " reversed" : "", servers[i], tools[i],
             out[i] ? out[i] : "(null)", want[i]);
    t_checks++;
  }
  for (size_t i = 0; i < n; i++) ms_free(out[i]);
}

static void names_should_follow_the_table_in_any_order(void) {
  for (int set = 1; set <= 10; set++) {
    check_set(set, 0);
    check_set(set, 1);
  }
}

/* ---- properties over generated sets ------------------------------------------- */

static unsigned long rng = 12345;
static unsigned rnd(unsigned n) {
  rng = rng * 6364136223846793005ul + 1442695040888963407ul;
  return (unsigned)((rng >> 33) % n);
}

static void random_name(char *buf) {
  static const char alphabet[] = "ab_.-x9\xc3\xa9 ";
  size_t len = rnd(5) == 0 ? 60 + rnd(10) : rnd(6);
  for (size_t i = 0; i < len; i++) buf[i] = alphabet[rnd(sizeof alphabet - 1)];
  buf[len] = '\0';
}

static int valid(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 64) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return 0;
  }
  return 1;
}

static void names_should_be_valid_unique_and_order_independent(void) {
  enum { N = 40 };
  static char sv[N][80], tl[N][80];
  const char *servers[N], *tools[N], *rs[N], *rt[N];
  char *out[N], *rout[N];
  for (int round = 0; round < 300; round++) {
    size_t n = 1 + rnd(N);
    for (size_t i = 0; i < n; i++) {
      if (i && rnd(3) == 0) { /* a server again, or a tool name again */
        memcpy(sv[i], sv[rnd((unsigned)i)], sizeof sv[i]);
        if (rnd(2)) memcpy(tl[i], tl[rnd((unsigned)i)], sizeof tl[i]);
        else random_name(tl[i]);
      } else {
        random_name(sv[i]);
        random_name(tl[i]);
      }
      if (rnd(8) == 0 && i) /* a tool named like another's qualified name */
        snprintf(tl[i], sizeof tl[i], "%.30s__%.30s", sv[rnd((unsigned)i)], tl[rnd((unsigned)i)]);
      servers[i] = sv[i];
      tools[i] = tl[i];
      rs[n - 1 - i] = sv[i];
      rt[n - 1 - i] = tl[i];
    }
    T_EQ(ms_model_names(servers, tools, n, out), 0);
    T_EQ(ms_model_names(rs, rt, n, rout), 0);
    for (size_t i = 0; i < n; i++) {
      /* named once per distinct pair */
      size_t first = i;
      for (size_t j = 0; j < i; j++)
        if (!strcmp(servers[j], servers[i]) && !strcmp(tools[j], tools[i])) { first = j; break; }
      if ((first == i) != (out[i] != NULL)) T_FAIL("round %d: pair %zu named %s", round, i, out[i] ? "again" : "never");
      if (!out[i]) continue;
      if (!valid(out[i])) T_FAIL("round %d: invalid name \"%s\"", round, out[i]);
      for (size_t j = 0; j < i; j++)
        if (out[j] && !strcmp(out[j], out[i])) T_FAIL("round %d: \"%s\" given twice", round, out[i]);
      /* the same pair has the same name in the reversed list */
      const char *r = NULL;
      for (size_t j = 0; j < n && !r; j++)
        if (rout[j] && !strcmp(rs[j], servers[i]) && !strcmp(rt[j], tools[i])) r = rout[j];
      if (!r || strcmp(r, out[i])) T_FAIL("round %d: \"%s\" reversed is \"%s\"", round, out[i], r ? r : "(none)");
      t_checks += 3;
    }
    for (size_t i = 0; i < n; i++) {
      ms_free(out[i]);
      ms_free(rout[i]);
    }
  }
}

static void names_should_survive_every_allocation_failure(void) {
  const char *servers[] = {"s1", "s2", "s", "s", "s1", "s"};
  const char *tools[] = {"echo", "echo", "a.b", "a_b", "s2__echo", "a_b"};
  char *out[6];
  ms_alloc_fail_at(0);
  T_EQ(ms_model_names(servers, tools, 6, out), 0);
  for (int i = 0; i < 6; i++) ms_free(out[i]);
  long total = ms_alloc_fail_at(0);
  T_OK(total > 5);
  for (long i = 1; i <= total + 1; i++) {
    ms_alloc_fail_at(i);
    int rc = ms_model_names(servers, tools, 6, out);
    ms_alloc_fail_at(0);
    if (rc != 0 && rc != MS_ERR_NOMEM) T_FAIL("allocation %ld: rc %d", i, rc);
    for (int k = 0; k < 6; k++) {
      if (rc && out[k]) T_FAIL("allocation %ld: a name left after a failure", i);
      ms_free(out[k]);
    }
    if (ms_live_allocations() != 0) {
      T_FAIL("allocation %ld: %d allocations leaked", i, ms_live_allocations());
      break;
    }
    t_checks++;
  }
}

int main(void) {
  ms_alloc_init();
  T_RUN(names_should_follow_the_table_in_any_order);
  T_RUN(names_should_be_valid_unique_and_order_independent);
  T_RUN(names_should_survive_every_allocation_failure);
  T_END();
}

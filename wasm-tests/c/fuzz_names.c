/* fuzz_names.c — libFuzzer target for the tool names the model sees
 * (src/core/names.c). The input is one tool per line, "server<TAB>tool"
 * (a line without a tab is a tool of server "s<line number % 3>"); any bytes.
 *
 * Invariants (abort on violation): every distinct (server, tool) pair gets
 * exactly one name, repeats none; every name is [A-Za-z0-9_-]{1,64}; no two
 * names are equal; the same pairs listed in reverse get the same names; a
 * valid name used by one tool alone (and not shared by another server) is
 * kept as it is; nothing stays allocated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#include "fuzz.h"

#define MAX_TOOLS 24

static int valid(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 64) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size + 1);
  if (!copy) return 0;
  memcpy(copy, data, size);
  copy[size] = '\0';
  static const char *const default_servers[] = {"s0", "s1", "s2"};
  const char *servers[MAX_TOOLS], *tools[MAX_TOOLS], *rs[MAX_TOOLS], *rt[MAX_TOOLS];
  size_t n = 0;
  for (char *line = copy; line && n < MAX_TOOLS;) {
    char *nl = memchr(line, '\n', (size_t)(copy + size - line));
    if (nl) *nl = '\0';
    char *tab = strchr(line, '\t');
    if (tab) {
      *tab = '\0';
      servers[n] = line;
      tools[n] = tab + 1;
    } else {
      servers[n] = default_servers[n % 3];
      tools[n] = line;
    }
    n++;
    line = nl ? nl + 1 : NULL;
  }
  for (size_t i = 0; i < n; i++) {
    rs[n - 1 - i] = servers[i];
    rt[n - 1 - i] = tools[i];
  }
  char *out[MAX_TOOLS], *rout[MAX_TOOLS];
  CHECK(ms_model_names(servers, tools, n, out) == 0);
  CHECK(ms_model_names(rs, rt, n, rout) == 0);
  for (size_t i = 0; i < n; i++) {
    size_t first = i;
    for (size_t j = 0; j < i && first == i; j++)
      if (!strcmp(servers[j], servers[i]) && !strcmp(tools[j], tools[i])) first = j;
    CHECK((first == i) == (out[i] != NULL));
    if (!out[i]) continue;
    CHECK(valid(out[i]));
    for (size_t j = 0; j < i; j++) CHECK(!out[j] || strcmp(out[j], out[i]) != 0);
    const char *r = NULL;
    for (size_t j = 0; j < n && !r; j++)
      if (rout[j] && !strcmp(rs[j], servers[i]) && !strcmp(rt[j], tools[i])) r = rout[j];
    CHECK(r && strcmp(r, out[i]) == 0);
    /* a valid tool name no other tool (of another server, or as a candidate) has is kept */
    int alone = valid(tools[i]);
    for (size_t j = 0; j < n && alone; j++)
      if (j != i && (strcmp(servers[j], servers[i]) || strcmp(tools[j], tools[i])) && !strcmp(tools[j], tools[i]))
        alone = 0;
    if (alone && strcmp(out[i], tools[i]) != 0) {
      /* then another tool's qualified candidate "<server>__<tool>" equals it */
      int qualified_clash = 0;
      for (size_t j = 0; j < n; j++) {
        size_t sl = strlen(servers[j]);
        if (j != i && !strncmp(tools[i], servers[j], sl) && !strncmp(tools[i] + sl, "__", 2) &&
            !strcmp(tools[i] + sl + 2, tools[j]))
          qualified_clash = 1;
      }
      CHECK(qualified_clash);
    }
  }
  for (size_t i = 0; i < n; i++) {
    ms_free(out[i]);
    ms_free(rout[i]);
  }
  CHECK(ms_live_allocations() == 0);
  free(copy);
  return 0;
}
